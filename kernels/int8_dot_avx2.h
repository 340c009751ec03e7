// Inline AVX2 helpers (loads, lane sums, bit spreads, byte dots) shared by the quantized kernels (vec_dot_avx2.cpp,
// gemm_quant_avx2.cpp, gemm_lane_rows_avx2.cpp, sparse_ffn.cpp, q8_0_short_rows.cpp). Include only where __AVX2__ is defined.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace actinfer::simd {

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// The sum of four / eight float lanes.
inline float hsum128(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float hsum(__m256 v) { return hsum128(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))); }

// Byte i = 0xFF where bit i of bits is set, else 0 (Q5_0/Q5_1's fifth bits; qh bit i is element i's).
inline __m256i bits_to_bytes(uint32_t bits) {
  const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), spread);
  const __m256i all_but_bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);  // byte i: every bit but bit i % 8
  return _mm256_cmpeq_epi8(_mm256_or_si256(v, all_but_bit), _mm256_set1_epi64x(-1));
}

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

// acc + dot(u1, s1) + dot(u2, s2) in groups of 4 bytes, for 4-bit weights u (<= 15): each
// int16 pair sum is at most 2*15*127, so the int16 sum of the two vpmaddubsw results cannot
// overflow. Two blocks of Q4_0/Q4_1 nibbles per register (vec_dot_avx2, sparse_ffn).
inline __m256i dot2_u8s8_add(__m256i acc, __m256i u1, __m256i s1, __m256i u2, __m256i s2) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, u1, s1), u2, s2);
#else
  const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u1, s1), _mm256_maddubs_epi16(u2, s2));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
}
// The same on 128 bits.
inline __m128i dot2_u8s8_add(__m128i acc, __m128i u1, __m128i s1, __m128i u2, __m128i s2) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm_dpbusd_epi32(_mm_dpbusd_epi32(acc, u1, s1), u2, s2);
#else
  const __m128i p = _mm_add_epi16(_mm_maddubs_epi16(u1, s1), _mm_maddubs_epi16(u2, s2));
  return _mm_add_epi32(acc, _mm_madd_epi16(p, _mm_set1_epi16(1)));
#endif
}

}  // namespace actinfer::simd
