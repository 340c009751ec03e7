#include "kernels/compute_peak.h"

#include <algorithm>
#include <chrono>
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

#if defined(__AVX512F__)
constexpr int kLanes = 16;
float fma_chains(long iterations) {
  // Named registers, not an array: an array of vectors stays in memory, its loop not unrolled.
  __m512 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
  a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm512_set1_ps(0.5f);
  const __m512 x = _mm512_set1_ps(0.9999999f), y = _mm512_set1_ps(1e-7f);
  for (long k = 0; k < iterations; ++k) {
    a0 = _mm512_fmadd_ps(a0, x, y);
    a1 = _mm512_fmadd_ps(a1, x, y);
    a2 = _mm512_fmadd_ps(a2, x, y);
    a3 = _mm512_fmadd_ps(a3, x, y);
    a4 = _mm512_fmadd_ps(a4, x, y);
    a5 = _mm512_fmadd_ps(a5, x, y);
    a6 = _mm512_fmadd_ps(a6, x, y);
    a7 = _mm512_fmadd_ps(a7, x, y);
    a8 = _mm512_fmadd_ps(a8, x, y);
    a9 = _mm512_fmadd_ps(a9, x, y);
    a10 = _mm512_fmadd_ps(a10, x, y);
    a11 = _mm512_fmadd_ps(a11, x, y);
    // Keeps the chains in registers and the loop from being folded away.
    asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  const __m512 sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
  return _mm512_reduce_add_ps(sum);
}
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kLanes = 8;
float fma_chains(long iterations) {
  // Named registers, not an array: an array of vectors stays in memory, its loop not unrolled.
  __m256 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
  a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm256_set1_ps(0.5f);
  const __m256 x = _mm256_set1_ps(0.9999999f), y = _mm256_set1_ps(1e-7f);
  for (long k = 0; k < iterations; ++k) {
    a0 = _mm256_fmadd_ps(a0, x, y);
    a1 = _mm256_fmadd_ps(a1, x, y);
    a2 = _mm256_fmadd_ps(a2, x, y);
    a3 = _mm256_fmadd_ps(a3, x, y);
    a4 = _mm256_fmadd_ps(a4, x, y);
    a5 = _mm256_fmadd_ps(a5, x, y);
    a6 = _mm256_fmadd_ps(a6, x, y);
    a7 = _mm256_fmadd_ps(a7, x, y);
    a8 = _mm256_fmadd_ps(a8, x, y);
    a9 = _mm256_fmadd_ps(a9, x, y);
    a10 = _mm256_fmadd_ps(a10, x, y);
    a11 = _mm256_fmadd_ps(a11, x, y);
    // Keeps the chains in registers and the loop from being folded away.
    asm volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
  }
  const __m256 sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
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
