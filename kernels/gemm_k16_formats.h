// Internal to the tiled GEMM kernels (gemm_quant_avx2.cpp, gemm_quant_avx512.cpp): the K types
// whose 256-element blocks are 16 sub-blocks of 16 elements (Q2_K, Q3_K, Q6_K), described so
// that one kernel serves all three. Every block is read as
//   x_e = d * sc_j * (u_e - off) - dmin * mn_j        (j = e / 16)
// with u the stored value as an unsigned byte (Q2_K 0..3, Q3_K 0..7, Q6_K 0..63), off a power
// of two (Q3_K 4, Q6_K 32, Q2_K none), sc_j a small signed integer and the min term Q2_K's
// alone. A kernel then needs, per block: the 16 scales (and mins), and each 128-element half
// decoded into 4 chunks of 32 unsigned bytes (chunk c = elements 32c .. 32c + 31, sub-blocks
// 2c and 2c + 1), which is what these formats give.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/quant_blocks.h"

namespace actinfer::kernels::k16 {

inline __m256i load256u(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

struct Q2K {
  static constexpr size_t kBytes = sizeof(block_q2_K);
  static constexpr int kOffShift = -1;  // no offset
  static constexpr bool kMin = true;
  static constexpr int kInt16Groups = 4;  // AVX2: 4-byte groups summed in int16 (2-bit values)
  static constexpr bool kDotFitsInt16 = true;  // |dot of a sub-block| <= 16 * 3 * 127
  static const uint8_t* d(const uint8_t* blk) { return blk + offsetof(block_q2_K, d); }
  static const uint8_t* dmin(const uint8_t* blk) { return blk + offsetof(block_q2_K, dmin); }
  static void scales(const uint8_t* blk, int16_t sc[16], int16_t mn[16]) {
    const auto* b = reinterpret_cast<const block_q2_K*>(blk);
    for (int j = 0; j < 16; ++j) {
      sc[j] = static_cast<int16_t>(b->scales[j] & 0x0F);
      mn[j] = static_cast<int16_t>(b->scales[j] >> 4);
    }
  }
  static void decode_half(const uint8_t* blk, int h, __m256i out[4]) {
    const __m256i q = load256u(reinterpret_cast<const block_q2_K*>(blk)->qs + 32 * h);
    const __m256i m3 = _mm256_set1_epi8(3);
    out[0] = _mm256_and_si256(q, m3);
    out[1] = _mm256_and_si256(_mm256_srli_epi16(q, 2), m3);
    out[2] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m3);
    out[3] = _mm256_and_si256(_mm256_srli_epi16(q, 6), m3);
  }
};

struct Q3K {
  static constexpr size_t kBytes = sizeof(block_q3_K);
  static constexpr int kOffShift = 2;  // u - 4
  static constexpr bool kMin = false;
  static constexpr int kInt16Groups = 4;  // 3-bit values
  static constexpr bool kDotFitsInt16 = true;  // <= 16 * 7 * 127
  static const uint8_t* d(const uint8_t* blk) { return blk + offsetof(block_q3_K, d); }
  static const uint8_t* dmin(const uint8_t*) { return nullptr; }
  // unpack_q3_K_scales, vectorised: low nibbles of bytes 0..7 then their high nibbles, with
  // bits 4..5 of scale i from byte 8 + i % 4 shifted right by 2 * (i / 4).
  static void scales(const uint8_t* blk, int16_t sc[16], int16_t*) {
    const uint8_t* s = reinterpret_cast<const block_q3_K*>(blk)->scales;
    const __m128i x = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i low = _mm_unpacklo_epi64(_mm_and_si128(x, m4), _mm_and_si128(_mm_srli_epi16(x, 4), m4));
    const __m128i hv = _mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(load_u32(s + 8))), _mm_setr_epi32(0, 2, 4, 6));
    const __m128i high = _mm_slli_epi16(_mm_and_si128(hv, _mm_set1_epi8(3)), 4);
    const __m128i v = _mm_sub_epi8(_mm_or_si128(low, high), _mm_set1_epi8(32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sc), _mm256_cvtepi8_epi16(v));
  }
  // u = low 2 bits + 4 * (high bit): the stored value + 4.
  static void decode_half(const uint8_t* blk, int h, __m256i out[4]) {
    const auto* b = reinterpret_cast<const block_q3_K*>(blk);
    const __m256i q = load256u(b->qs + 32 * h);
    const __m256i hm = load256u(b->hmask);
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    // Chunk 4h + k: bit 4h + k of each hmask byte, moved to bit 2.
    const __m256i hb = h == 0 ? _mm256_slli_epi16(hm, 2) : _mm256_srli_epi16(hm, 2);
    out[0] = _mm256_or_si256(_mm256_and_si256(q, m3), _mm256_and_si256(hb, m4));
    out[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2), m3), _mm256_and_si256(_mm256_srli_epi16(hb, 1), m4));
    out[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m3), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m4));
    out[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 6), m3), _mm256_and_si256(_mm256_srli_epi16(hb, 3), m4));
  }
};

struct Q6K {
  static constexpr size_t kBytes = sizeof(block_q6_K);
  static constexpr int kOffShift = 5;  // u - 32
  static constexpr bool kMin = false;
  static constexpr int kInt16Groups = 2;  // 6-bit values
  static constexpr bool kDotFitsInt16 = false;  // up to 16 * 63 * 127
  static const uint8_t* d(const uint8_t* blk) { return blk + offsetof(block_q6_K, d); }
  static const uint8_t* dmin(const uint8_t*) { return nullptr; }
  static void scales(const uint8_t* blk, int16_t sc[16], int16_t*) {
    const auto* b = reinterpret_cast<const block_q6_K*>(blk);
    for (int j = 0; j < 16; ++j) sc[j] = b->scales[j];
  }
  static void decode_half(const uint8_t* blk, int h, __m256i out[4]) {
    const auto* b = reinterpret_cast<const block_q6_K*>(blk);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const __m256i ql0 = load256u(b->ql + 64 * h), ql1 = load256u(b->ql + 64 * h + 32);
    const __m256i qh = load256u(b->qh + 32 * h);
    out[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    out[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    out[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
    out[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
  }
};

// IQ4_XS (8 sub-blocks of 32): the sub-blocks' float scales d * (scale - 32), exact in float
// (11 + 6 significant bits), and sub-block j's 32 values, signed (kIq4nlValues, -127..113).
inline void iq4_xs_float_scales(const uint8_t* blk, float dls[8]) {
  int8_t s[8];
  const auto& b = *reinterpret_cast<const block_iq4_xs*>(blk);
  unpack_iq4_xs_scales(b, s);
  const float d = fp16_to_f32(b.d);
  for (int j = 0; j < 8; ++j) dls[j] = d * static_cast<float>(s[j]);
}
inline __m256i iq4_xs_values(const uint8_t* blk, int j) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const block_iq4_xs*>(blk)->qs + 16 * j));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m4), _mm_and_si128(x, m4));
  return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues))), nib);
}

}  // namespace actinfer::kernels::k16
