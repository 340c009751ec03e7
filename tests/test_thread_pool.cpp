#include <doctest/doctest.h>

#include <atomic>
#include <numeric>
#include <vector>

#include "engine/thread_pool.h"

using namespace actinfer;

TEST_CASE("thread pool: every thread runs each task once, many times over") {
  for (int n : {1, 2, 3}) {
    ThreadPool pool(n);
    std::vector<int64_t> sums(static_cast<size_t>(n));
    for (int round = 0; round < 2000; ++round)
      pool.run([&](int ti, int nt) {
        CHECK(nt == n);
        auto [b, e] = ThreadPool::split(1000, ti, nt);
        for (int64_t i = b; i < e; ++i) sums[static_cast<size_t>(ti)] += i;
      });
    CHECK(std::accumulate(sums.begin(), sums.end(), int64_t{0}) == int64_t{2000} * 999 * 1000 / 2);
  }
  CHECK_THROWS(ThreadPool(0));
}

TEST_CASE("thread pool: split covers the range in aligned, ordered parts") {
  int64_t expect = 0;
  for (int part = 0; part < 3; ++part) {
    auto [b, e] = ThreadPool::split(100, part, 3, 16);
    CHECK(b == expect);
    CHECK(b % 16 == 0);
    expect = e;
  }
  CHECK(expect == 100);
}
