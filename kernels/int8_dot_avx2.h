// Inline AVX2 helpers shared by the quantized kernels (vec_dot_avx2.cpp, sparse_ffn.cpp,
// q8_0_short_rows.cpp). Include only where __AVX2__ is defined.
#pragma once
#include <immintrin.h>

namespace actinfer::simd {

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// acc + sums of unsigned bytes u times signed bytes s in groups of 4, as 8 int32 lanes: one
// vpdpbusd where the compiler targets AVX512-VNNI, else vpmaddubsw + vpmaddwd (the same
// integers as long as the int16 pair sums cannot saturate: callers keep |s| * u * 2 < 32768,
// e.g. u <= 15, or u = |w| <= 127 with w's sign moved onto s).
inline __m256i dot_u8s8_add(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

}  // namespace actinfer::simd
