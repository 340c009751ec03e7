#include "kernels/q8_0_short_rows.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>

#include "kernels/int8_dot_avx2.h"
#define ACTINFER_SHORT_ROWS_AVX2 1
#else
#define ACTINFER_SHORT_ROWS_AVX2 0
#endif

namespace actinfer {
namespace {

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// One row: the reference order (block by block, scale product times integer dot).
float one_row(const uint8_t* w, int64_t nb, const block_q8_0* a) {
  float s = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + static_cast<size_t>(b) * sizeof(block_q8_0);
    // Copied out as int8_t: GCC 12 with AVX512-VNNI turns a dot of
    // static_cast<int8_t>(uint8_t) values into vpdpbusd, which reads them as unsigned.
    int8_t q[QK8_0];
    std::memcpy(q, blk + 2, sizeof q);
    int32_t dot = 0;
    for (int i = 0; i < QK8_0; ++i) dot += static_cast<int32_t>(q[i]) * a[b].qs[i];
    s += fp16_to_f32(load_u16(blk)) * fp16_to_f32(a[b].d) * static_cast<float>(dot);
  }
  return s;
}

#if ACTINFER_SHORT_ROWS_AVX2
// Sums of w * a over 32 bytes in 8 int32 lanes (|w| as unsigned, a with w's sign).
inline __m256i dot32(const uint8_t* w, __m256i a) {
  const __m256i wv = simd::load256(w);
  return simd::dot_u8s8_add(_mm256_setzero_si256(), _mm256_abs_epi8(wv), _mm256_sign_epi8(a, wv));
}

// The same sums when a >= 0 (the predictors' ReLU hidden layer): a is already a valid
// unsigned operand, so no sign juggling (one vpdpbusd with AVX512-VNNI).
inline __m256i dot32_nonneg(const uint8_t* w, __m256i a) { return simd::dot_u8s8_add(_mm256_setzero_si256(), a, simd::load256(w)); }

// Whether every quant of the activation is >= 0.
bool nonnegative(const block_q8_0* a, int64_t nb) {
  __m256i any = _mm256_setzero_si256();
  for (int64_t b = 0; b < nb; ++b) any = _mm256_or_si256(any, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs)));
  return _mm256_movemask_epi8(any) == 0;
}

// Lane i of the result = the sum of all lanes of p[i].
inline __m256i reduce8(const __m256i p[8]) {
  const __m256i s01 = _mm256_hadd_epi32(p[0], p[1]), s23 = _mm256_hadd_epi32(p[2], p[3]);
  const __m256i s45 = _mm256_hadd_epi32(p[4], p[5]), s67 = _mm256_hadd_epi32(p[6], p[7]);
  const __m256i s0123 = _mm256_hadd_epi32(s01, s23), s4567 = _mm256_hadd_epi32(s45, s67);
  // s0123 = [r0 r1 r2 r3 | r0 r1 r2 r3] (low and high 128-bit halves): add the halves.
  return _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20), _mm256_permute2x128_si256(s0123, s4567, 0x31));
}
#endif

}  // namespace

void vec_dot_q8_0_short_rows(int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const void* act, float* out) {
  if (n < QK8_0 || n % QK8_0 != 0)
    throw std::invalid_argument("vec_dot_q8_0_short_rows: n = " + std::to_string(n) + " is not a positive multiple of 32");
  const auto* w = static_cast<const uint8_t*>(w_rows);
  const auto* a = static_cast<const block_q8_0*>(act);
  const int64_t nb = n / QK8_0;
  int64_t r = 0;
#if ACTINFER_SHORT_ROWS_AVX2
  constexpr size_t kBlock = sizeof(block_q8_0);
  const bool nonneg = nonnegative(a, nb);
  for (; r + 8 <= n_rows; r += 8) {
    const uint8_t* w0 = w + static_cast<size_t>(r) * row_stride;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs));
      const uint8_t* blk = w0 + static_cast<size_t>(b) * kBlock;
      __m256i p[8];
      alignas(16) uint16_t d[8];
      for (int i = 0; i < 8; ++i) {
        const uint8_t* wb = blk + static_cast<size_t>(i) * row_stride;
        p[i] = nonneg ? dot32_nonneg(wb + 2, av) : dot32(wb + 2, av);
        d[i] = load_u16(wb);
      }
      const __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d))),
                                         _mm256_set1_ps(fp16_to_f32(a[b].d)));
      acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(reduce8(p)), acc);
    }
    _mm256_storeu_ps(out + r, acc);
  }
#endif
  for (; r < n_rows; ++r) out[r] = one_row(w + static_cast<size_t>(r) * row_stride, nb, a);
}

}  // namespace actinfer
