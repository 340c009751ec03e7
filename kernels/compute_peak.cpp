#include "kernels/compute_peak.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace actinfer {
namespace {

// Twelve chains: enough to hide the FMA latency (4-5 cycles) on two pipes.
constexpr int kChains = 12;

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
Vec splat(float v) { return _mm512_set1_ps(v); }
Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
#else
using Vec = __m256;
constexpr int kLanes = 8;
Vec splat(float v) { return _mm256_set1_ps(v); }
Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
#endif
// a = a * x + y for every chain given.
template <class... Chains>
void fma_each(Vec x, Vec y, Chains&... a) {
  ((a = fma(a, x, y)), ...);
}

float fma_chains(long iterations) {
  // Named registers, not an array: an array of vectors stays in memory, its loop not unrolled.
  Vec a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
  a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = splat(0.5f);
  const Vec x = splat(0.9999999f), y = splat(1e-7f);
  for (long k = 0; k < iterations; ++k) {
    fma_each(x, y, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
    // Keeps the chains in registers and the loop from being folded away.
    asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  const Vec sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
  alignas(64) float lanes[kLanes];
  std::memcpy(lanes, &sum, sizeof lanes);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}
#else
constexpr int kLanes = 1;
float fma_chains(long iterations) {
  volatile float acc[kChains];
  for (auto& a : acc) a = 0.5f;
  for (long k = 0; k < iterations; ++k)
    for (auto& a : acc) a = a * 0.9999999f + 1e-7f;
  float total = 0;
  for (float a : acc) total += a;
  return total;
}
#endif

}  // namespace

ComputePeakResult measure_fma_peak(int threads, int repeats, long iterations) {
  if (threads < 1 || repeats < 1 || iterations < 1) throw std::invalid_argument("measure_fma_peak: bad arguments");
  ComputePeakResult best{0, threads, kLanes};
  std::vector<float> sink(static_cast<size_t>(threads));
  const double flops = 2.0 * kChains * kLanes * static_cast<double>(iterations) * threads;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> team;
      for (int t = 0; t < threads; ++t) team.emplace_back([&, t] { sink[static_cast<size_t>(t)] = fma_chains(iterations); });
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best.flops_per_second = std::max(best.flops_per_second, flops / s);
  }
  volatile float keep = sink[0];  // the chains must not be optimised away
  (void)keep;
  return best;
}

}  // namespace actinfer
