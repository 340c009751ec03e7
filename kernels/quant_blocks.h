// Block layouts of the quantized GGUF tensor types, byte for byte as GGUF files store them.
// fp16 fields are kept as raw uint16_t bits (see kernels/fp16.h). All multi-byte fields are
// little endian.
//
// Element order inside a block (i = element index within the block):
//   Q4_0 / Q4_1 (32 elements): element i < 16 is the low nibble of qs[i], element i >= 16 the
//     high nibble of qs[i - 16].  Q4_0: x = d * (q - 8).  Q4_1: x = d * q + m.
//   Q8_0 (32): x = d * qs[i].   Q8_1 (32): same, plus s = d * sum(qs) (stored as fp16).
//   Q4_K (256 = 8 sub-blocks of 32): each 64-element chunk c (0..3) uses 32 bytes
//     qs[32c .. 32c+31]; elements 64c+l (l < 32) are the low nibbles (sub-block 2c), elements
//     64c+32+l the high nibbles (sub-block 2c+1).  x = d * sc[j] * q - dmin * m[j] where the
//     6-bit sc/m come from the 12 packed bytes of `scales` (unpack_scale_min_k4 below).
//   Q5_K: as Q4_K plus a fifth bit: bit c*2 of qh[l] for element 64c+l and bit c*2+1 for
//     element 64c+32+l (l < 32); q = nibble | bit << 4.
//   Q6_K (256 = 16 sub-blocks of 16): each 128-element half h uses ql[64h .. 64h+63],
//     qh[32h .. 32h+31]; for l < 32 the 4 elements 128h + l + 32k (k = 0..3) take
//     low nibble of ql[64h+l] (k=0), low nibble of ql[64h+32+l] (k=1), high nibble of
//     ql[64h+l] (k=2), high nibble of ql[64h+32+l] (k=3), each with the 2 bits
//     (qh[32h+l] >> 2k) & 3 on top; x = d * scales[element / 16] * (q - 32).
//   Q8_K (256): x = d * qs[i]; bsums[j] = sum of qs[16j .. 16j+15].
//   Q5_0 / Q5_1 (32): as Q4_0 / Q4_1 with a fifth bit: bit i of the little-endian uint32 qh is
//     bit 4 of element i.  Q5_0: x = d * (q - 16).  Q5_1: x = d * q + m.
//   IQ4_NL (32): nibbles ordered as Q4_0; x = d * kIq4nlValues[nibble].
//   Q2_K (256 = 16 sub-blocks of 16): element 128h + 32k + l (h < 2, k < 4, l < 32) is bits
//     2k..2k+1 of qs[32h + l]; scales[e / 16]: low nibble scale, high nibble min;
//     x = d * sc * q - dmin * m.
//   Q3_K (256 = 16 sub-blocks of 16): the 2 low bits as Q2_K's, and bit e / 32 of hmask[e % 32]
//     set means +0, clear means -4: q = low - (bit ? 0 : 4) in -4..3. Sub-block scale i (6 bits)
//     = low nibble of scales[i] (i < 8) or high nibble of scales[i - 8], with bits 4..5 from
//     (scales[8 + i % 4] >> 2 * (i / 4)) & 3; x = d * (scale - 32) * q.
//   IQ4_XS (256 = 8 sub-blocks of 32): sub-block j's nibbles are qs[16j .. 16j+15] ordered as
//     IQ4_NL; its 6-bit scale is the nibble (scales_l[j / 2] >> 4 * (j % 2)) & 15 with bits
//     4..5 from (scales_h >> 2j) & 3; x = d * (scale - 32) * kIq4nlValues[nibble].
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/fp16.h"

namespace actinfer {

// Fields read from a block's bytes at any alignment (the blocks are packed).
inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float load_fp16(const void* p) { return fp16_to_f32(load_u16(p)); }

inline constexpr int QK4_0 = 32;
inline constexpr int QK4_1 = 32;
inline constexpr int QK8_0 = 32;
inline constexpr int QK8_1 = 32;
inline constexpr int QK_K = 256;
inline constexpr int K_SCALE_SIZE = 12;

struct block_q4_0 {
  uint16_t d;              // fp16 scale
  uint8_t qs[QK4_0 / 2];   // nibbles
};
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");

struct block_q4_1 {
  uint16_t d;              // fp16 scale
  uint16_t m;              // fp16 minimum
  uint8_t qs[QK4_1 / 2];
};
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");

struct block_q8_0 {
  uint16_t d;              // fp16 scale
  int8_t qs[QK8_0];
};
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");

struct block_q8_1 {
  uint16_t d;              // fp16 scale
  uint16_t s;              // fp16 of d * sum(qs)
  int8_t qs[QK8_1];
};
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 layout");

struct block_q4_K {
  uint16_t d;                    // fp16 super-block scale of the sub-block scales
  uint16_t dmin;                 // fp16 super-block scale of the sub-block mins
  uint8_t scales[K_SCALE_SIZE];  // 8 scales + 8 mins, 6 bits each
  uint8_t qs[QK_K / 2];          // nibbles
};
static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");

struct block_q5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];          // fifth bits
  uint8_t qs[QK_K / 2];          // low nibbles
};
static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");

struct block_q6_K {
  uint8_t ql[QK_K / 2];          // low 4 bits
  uint8_t qh[QK_K / 4];          // high 2 bits
  int8_t scales[QK_K / 16];      // 8-bit sub-block scales
  uint16_t d;                    // fp16 super-block scale
};
static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");

struct block_q8_K {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];      // sums of groups of 16 qs
};
static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

inline constexpr int QK5_0 = 32;
inline constexpr int QK5_1 = 32;
inline constexpr int QK4_NL = 32;

// The 16 values an IQ4_NL / IQ4_XS nibble stands for (non-uniform: denser near zero).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct block_q5_0 {
  uint16_t d;              // fp16 scale
  uint8_t qh[4];           // fifth bits (little-endian uint32)
  uint8_t qs[QK5_0 / 2];   // low nibbles
};
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");

struct block_q5_1 {
  uint16_t d;              // fp16 scale
  uint16_t m;              // fp16 minimum
  uint8_t qh[4];
  uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");

struct block_iq4_nl {
  uint16_t d;              // fp16 scale
  uint8_t qs[QK4_NL / 2];  // indices into kIq4nlValues
};
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl layout");

struct block_q2_K {
  uint8_t scales[QK_K / 16];     // 4-bit scale | 4-bit min << 4, per 16 elements
  uint8_t qs[QK_K / 4];          // 2-bit quants
  uint16_t d;                    // fp16 super-block scale of the scales
  uint16_t dmin;                 // fp16 super-block scale of the mins
};
static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");

struct block_q3_K {
  uint8_t hmask[QK_K / 8];       // high bits
  uint8_t qs[QK_K / 4];          // low 2 bits
  uint8_t scales[12];            // 16 six-bit scales
  uint16_t d;                    // fp16 super-block scale
};
static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");

struct block_iq4_xs {
  uint16_t d;                    // fp16 super-block scale
  uint16_t scales_h;             // bits 4..5 of the 8 sub-block scales
  uint8_t scales_l[QK_K / 64];   // bits 0..3 of the 8 sub-block scales
  uint8_t qs[QK_K / 2];          // indices into kIq4nlValues
};
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs layout");

// The 16 signed sub-block scales (scale - 32) of a Q3_K block.
inline void unpack_q3_K_scales(const uint8_t* s, int8_t out[16]) {
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? (s[i] & 0x0F) : (s[i - 8] >> 4);
    const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// The 8 signed sub-block scales (scale - 32) of an IQ4_XS block.
inline void unpack_iq4_xs_scales(const block_iq4_xs& b, int8_t out[8]) {
  for (int j = 0; j < 8; ++j) {
    const int low = (b.scales_l[j / 2] >> (4 * (j % 2))) & 0x0F;
    const int high = (b.scales_h >> (2 * j)) & 3;
    out[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// The 12 `scales` bytes of Q4_K / Q5_K hold 8 six-bit scales and 8 six-bit mins:
//   bytes 0..3 : low 6 bits = scale j (j = 0..3),  top 2 bits = bits 4..5 of scale j+4
//   bytes 4..7 : low 6 bits = min j   (j = 0..3),  top 2 bits = bits 4..5 of min j+4
//   bytes 8..11: low nibble = bits 0..3 of scale j+4, high nibble = bits 0..3 of min j+4
// Four bytes at a time (the tiled GEMM unpacks every row's scales per block).
inline void unpack_scale_min_k4(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  const uint32_t u0 = load_u32(s), u1 = load_u32(s + 4), u2 = load_u32(s + 8);
  const uint32_t v[4] = {u0 & 0x3F3F3F3Fu, (u2 & 0x0F0F0F0Fu) | ((u0 >> 2) & 0x30303030u), u1 & 0x3F3F3F3Fu,
                         ((u2 >> 4) & 0x0F0F0F0Fu) | ((u1 >> 2) & 0x30303030u)};
  std::memcpy(sc, v, 8);
  std::memcpy(mn, v + 2, 8);
}

// Inverse of unpack_scale_min_k4 (values must be < 64).
inline void pack_scale_min_k4(const uint8_t sc[8], const uint8_t mn[8], uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | ((mn[j + 4] & 0x0F) << 4));
  }
}

}  // namespace actinfer
