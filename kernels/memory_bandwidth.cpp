#include "kernels/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace actinfer {
namespace {

float sum_floats(const float* p, size_t n) {
  size_t i = 0;
  float total = 0.0f;
#if defined(__AVX2__)
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (float v : lanes) total += v;
#endif
  for (; i < n; ++i) total += p[i];
  return total;
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

}  // namespace

BandwidthResult measure_read_bandwidth(size_t bytes, int threads, int repeats) {
  if (threads < 1 || repeats < 1 || bytes < 4096) throw std::invalid_argument("measure_read_bandwidth: bad arguments");
  const size_t n = bytes / sizeof(float) / 64 * 64;
  std::unique_ptr<float, AlignedFree> data(static_cast<float*>(std::aligned_alloc(64, n * sizeof(float))));
  if (!data) throw std::bad_alloc();
  std::fill(data.get(), data.get() + n, 1.0f);  // touch every page before timing

  BandwidthResult best{0, n * sizeof(float), threads};
  std::vector<float> sink(static_cast<size_t>(threads));
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> team;
      for (int t = 0; t < threads; ++t)
        team.emplace_back([&, t] {
          const size_t chunk = n / static_cast<size_t>(threads) / 64 * 64;
          const size_t begin = chunk * static_cast<size_t>(t);
          const size_t end = t + 1 == threads ? n : begin + chunk;
          sink[static_cast<size_t>(t)] = sum_floats(data.get() + begin, end - begin);
        });
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best.bytes_per_second = std::max(best.bytes_per_second, static_cast<double>(best.bytes) / s);
  }
  volatile float keep = sink[0];  // the sums must not be optimised away
  (void)keep;
  return best;
}

}  // namespace actinfer
