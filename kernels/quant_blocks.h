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
#pragma once

#include <cstdint>

namespace actinfer {

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

// The 12 `scales` bytes of Q4_K / Q5_K hold 8 six-bit scales and 8 six-bit mins:
//   bytes 0..3 : low 6 bits = scale j (j = 0..3),  top 2 bits = bits 4..5 of scale j+4
//   bytes 4..7 : low 6 bits = min j   (j = 0..3),  top 2 bits = bits 4..5 of min j+4
//   bytes 8..11: low nibble = bits 0..3 of scale j+4, high nibble = bits 0..3 of min j+4
inline void unpack_scale_min_k4(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = static_cast<uint8_t>((s[j + 8] & 0x0F) | ((s[j] >> 6) << 4));
    mn[j + 4] = static_cast<uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
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
