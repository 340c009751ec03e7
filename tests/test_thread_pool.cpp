#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <numeric>
#include <vector>

#include "engine/spin_wait.h"
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

TEST_CASE("thread pool: the caller takes the parts a stalled thread has not claimed") {
  // A worker that claims a part stalls in it (as if preempted) until the caller has run
  // every other part. With parts fixed to threads this would wait forever; here the
  // caller claims them. The stall is bounded so a regression fails instead of hanging.
  ThreadPool pool(2);
  const auto caller = std::this_thread::get_id();
  constexpr int kParts = 16;
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> by_caller{0}, stalled{0}, runs{0};
    std::atomic<bool> timed_out{false};
    pool.run_parts(kParts, [&](int, int n) {
      CHECK(n == kParts);
      runs.fetch_add(1);
      if (std::this_thread::get_id() == caller) {
        by_caller.fetch_add(1);
        return;
      }
      if (stalled.fetch_add(1) > 0) return;  // only the worker's first part stalls
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (by_caller.load() < kParts - 1 && !timed_out.load())
        if (std::chrono::steady_clock::now() > deadline) timed_out.store(true);
    });
    CHECK(runs.load() == kParts);
    CHECK_FALSE(timed_out.load());
  }
}

TEST_CASE("wake counter: sleeping and spinning waiters see every advance; no wake-up is lost") {
  // Two threads hand a turn back and forth through two counters, 20000 times: a lost
  // wake-up leaves both asleep (the test then ends at ctest's timeout).
  for (int pauses : {0, 64}) {
    CAPTURE(pauses);
    WakeCounter ping, pong;
    constexpr uint32_t kRounds = 20000;
    std::atomic<bool> done{false};
    std::jthread partner([&] {
      uint32_t seen = 0;
      while (seen < kRounds) {
        seen = ping.wait_for_change(seen, pauses);
        pong.advance();
      }
      done.store(true);
    });
    uint32_t seen = 0;
    for (uint32_t round = 0; round < kRounds; ++round) {
      ping.advance();
      seen = pong.wait_for_change(seen, pauses);
    }
    CHECK(seen == kRounds);
    CHECK(ping.load() == kRounds);
    partner.join();
    CHECK(done.load());
  }
}

TEST_CASE("wake counter: a waiter asleep in the kernel wakes on advance") {
  WakeCounter counter;
  std::atomic<uint32_t> got{0};
  std::jthread waiter([&] { got.store(counter.wait_for_change(0, 0)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // long enough to be asleep
  CHECK(got.load() == 0);
  CHECK(counter.advance() == 1);
  waiter.join();
  CHECK(got.load() == 1);
}
