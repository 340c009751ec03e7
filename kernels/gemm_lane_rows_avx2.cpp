// Per-token kernels bit-identical to a lane of the AVX2 tiled GEMM (kernels/gemm_quant_avx2.cpp,
// gemm_lane_exact_rows of kernels/gemm_quant.h) for every type it tiles, on builds without AVX-512
// VNNI, and for calls of a few tokens on builds with it (gemm_lane_rows_avx512.cpp serves the
// rest). For each (row, token): the same exact integer block dot, then acc = fma(float(isum),
// dw * da, acc) and Q4_1/Q5_1's fma(m, s, acc), the float sequence of the tile kernel (the K
// types: their min and offset terms where the tile kernel puts them). So a server step may send some tokens
// through tiles and the rest through these with identical bits.
//
// The lanes here are 8 rows. Per block the 8 rows' quants are transposed into registers w[g]
// holding each row's elements 4g .. 4g + 3 in its dword lane and decoded there; a token's 32
// elements are then 8 vpmaddubsw with its 4-byte groups broadcast, summed in int16 as far as
// the tile kernel's headroom allows (4-bit weights: 8 groups, 5-bit: 4, signed 8-bit through
// the abs/sign trick: 1), giving the 8 rows' integer dots in lanes with no horizontal sums. A
// decoded block serves up to 8 tokens.
#include "kernels/type_kernels.h"

#if ACTINFER_HAVE_AVX2_KERNELS

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/count_dispatch.h"
#include "kernels/lane_acts.h"
#include "kernels/int8_dot_avx2.h"
#include "kernels/quant_blocks.h"

namespace actinfer::kernels {
namespace {

#define LANE_INLINE [[gnu::always_inline]] inline

constexpr int kLanes = 8;    // rows per register
constexpr int kMaxTok = 8;   // tokens sharing one decode of the weights
constexpr size_t kPrefetchBytes = 8192;  // how far ahead the weights are fetched (may lie past them: a prefetch never faults)

using simd::load128;
using simd::load256;

// A group's 8 rows are contiguous, and so are the groups: the weights are fetched linearly,
// kPrefetchBytes ahead of the group's read front (8 short row streams defeat the hardware
// prefetchers; fetching each row of the next group instead was 1.5-2x slower from memory).
struct Prefetch {
  uintptr_t base;    // the group's first byte
  size_t fetched = 0;
  LANE_INLINE void upto(size_t bytes) {  // each row read up to `bytes`
    for (; fetched < kLanes * bytes; fetched += 64) _mm_prefetch(reinterpret_cast<const char*>(base + kPrefetchBytes + fetched), _MM_HINT_T0);
  }
};

// Lane e of q[j] = row e's dword j of the 16 bytes at rows[e] + off.
LANE_INLINE void transpose8x4(const uint8_t* const* rows, size_t off, __m256i q[4]) {
  __m256i z[4];  // row k dwords 0..3 | row k + 4 dwords 0..3
  for (int k = 0; k < 4; ++k)
    z[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(rows[k] + off)), load128(rows[k + 4] + off), 1);
  const __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]), t1 = _mm256_unpackhi_epi32(z[0], z[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]), t3 = _mm256_unpackhi_epi32(z[2], z[3]);
  q[0] = _mm256_unpacklo_epi64(t0, t2);
  q[1] = _mm256_unpackhi_epi64(t0, t2);
  q[2] = _mm256_unpacklo_epi64(t1, t3);
  q[3] = _mm256_unpackhi_epi64(t1, t3);
}

// The 8 rows' dwords at rows[e] + off. Scalar loads: vpgatherdd is slow on Zen.
LANE_INLINE __m256i gather(const uint8_t* const* rows, size_t off) {
  auto at = [&](int e) { return static_cast<int>(load_u32(rows[e] + off)); };
  return _mm256_setr_epi32(at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7));
}

// The low fp16 of each dword as floats (kHigh: the high one).
template <bool kHigh>
LANE_INLINE __m256 fp16_of(__m256i x) {
  const __m256i pick = kHigh ? _mm256_setr_epi8(2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, 2, 3, 6, 7, 10, 11, 14,
                                                15, -1, -1, -1, -1, -1, -1, -1, -1)
                             : _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8, 9, 12, 13,
                                                -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(x, pick), 0x08);  // qwords 0, 2
  return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

// Q5_0 / Q5_1: byte j of w[g] gets 0x10 where bit 4g + j of its row's qh is set.
LANE_INLINE void add_fifth_bits(__m256i qh, __m256i w[8]) {
  for (int g = 0; g < 8; ++g) {
    const char b = static_cast<char>(g / 2);  // the qh byte holding bits 4g .. 4g + 3
    const __m256i spread = _mm256_setr_epi8(b, b, b, b, b + 4, b + 4, b + 4, b + 4, b + 8, b + 8, b + 8, b + 8, b + 12, b + 12, b + 12,
                                            b + 12, b, b, b, b, b + 4, b + 4, b + 4, b + 4, b + 8, b + 8, b + 8, b + 8, b + 12, b + 12,
                                            b + 12, b + 12);
    const __m256i bit = _mm256_set1_epi32(g % 2 == 0 ? 0x08040201 : static_cast<int>(0x80402010u));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(qh, spread), bit), bit);
    w[g] = _mm256_or_si256(w[g], _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
  }
}

// The sum of 32 int8 quants.
LANE_INLINE int32_t sum32(const uint8_t* q) {
  const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load256(q)),
                                      _mm256_set1_epi16(1));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

template <GgmlType kT>
struct Block32 {
  static constexpr GgmlType kType = kT;
  static constexpr int64_t kElems = 32;
  static constexpr bool kOneToken = true;  // one_token_group below
  static constexpr bool kMin = kType == GgmlType::Q4_1 || kType == GgmlType::Q5_1;
  static constexpr bool kQ5 = kType == GgmlType::Q5_0 || kType == GgmlType::Q5_1;
  static constexpr bool kSigned = kType == GgmlType::Q8_0 || kType == GgmlType::IQ4_NL;
  static constexpr int kShift = kType == GgmlType::Q4_0 ? 3 : kType == GgmlType::Q5_0 ? 4 : 0;  // -8, -16
  // Groups summed in int16 (|a| <= 127): 4-bit weights 8, 5-bit 4, signed 8-bit 1.
  static constexpr int kPerSum = kSigned ? 1 : kQ5 ? 4 : 8;
  static constexpr size_t kBytes = kType == GgmlType::Q4_0   ? sizeof(block_q4_0)
                                   : kType == GgmlType::Q4_1 ? sizeof(block_q4_1)
                                   : kType == GgmlType::Q5_0 ? sizeof(block_q5_0)
                                   : kType == GgmlType::Q5_1 ? sizeof(block_q5_1)
                                   : kType == GgmlType::Q8_0 ? sizeof(block_q8_0)
                                                             : sizeof(block_iq4_nl);
  static constexpr bool kQ8_1 = kMin;  // the activation type: Q8_1, else Q8_0
  static constexpr size_t kActBytes = kQ8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
  static constexpr size_t kActQs = kQ8_1 ? 4 : 2;

  // Per token and block: the scale d, Q8_1's s, and sum(a) << kShift.
  struct Act {
    float d, s;
    int32_t off;
  };
  LANE_INLINE static Act prepare(const uint8_t* blk) {
    return Act{load_fp16(blk), kQ8_1 ? load_fp16(blk + 2) : 0.0f, kShift > 0 ? sum32(blk + kActQs) * (1 << kShift) : 0};
  }

  // w[g]: the 8 rows' elements 4g .. 4g + 3 (unsigned, or signed for kSigned); dw, mw: d and m.
  LANE_INLINE static void decode(const uint8_t* const* rows, size_t off, __m256i w[8], __m256& dw, __m256& mw) {
    const __m256i head = gather(rows, off);  // d, then m or the first bytes after d
    dw = fp16_of<false>(head);
    if constexpr (kMin) mw = fp16_of<true>(head);
    if constexpr (kType == GgmlType::Q8_0) {
      transpose8x4(rows, off + 2, w);
      transpose8x4(rows, off + 18, w + 4);
    } else {
      __m256i q[4];
      transpose8x4(rows, off + kBytes - 16, q);  // the nibbles end the block
      const __m256i m4 = _mm256_set1_epi8(0x0F);
      for (int g = 0; g < 4; ++g) {  // dword g: low nibbles are elements 4g.., high ones 16 + 4g..
        w[g] = _mm256_and_si256(q[g], m4);
        w[g + 4] = _mm256_and_si256(_mm256_srli_epi16(q[g], 4), m4);
      }
      if constexpr (kType == GgmlType::IQ4_NL) {
        const __m256i table = _mm256_broadcastsi128_si256(load128(kIq4nlValues));
        for (int g = 0; g < 8; ++g) w[g] = _mm256_shuffle_epi8(table, w[g]);
      }
      if constexpr (kQ5) add_fifth_bits(gather(rows, off + kBytes - 20), w);
    }
  }

  template <int NT>
  LANE_INLINE static void block(const uint8_t* const* rows, size_t off, const uint8_t* const* ablk,
                                const Act* const* x, __m256 (&acc)[NT], Prefetch& pf) {
    pf.upto(off + kBytes);
    __m256i w[8];
    __m256 dw, mw;
    decode(rows, off, w, dw, mw);
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = ablk[t] + kActQs;
      auto group = [&](int g) { return _mm256_set1_epi32(static_cast<int>(load_u32(a + 4 * g))); };
      __m256i isum = _mm256_setzero_si256();
      for (int g0 = 0; g0 < 8; g0 += kPerSum) {
        __m256i s = _mm256_setzero_si256();
        for (int g = g0; g < g0 + kPerSum; ++g) {
          const __m256i p = kSigned ? _mm256_maddubs_epi16(_mm256_abs_epi8(w[g]), _mm256_sign_epi8(group(g), w[g]))
                                    : _mm256_maddubs_epi16(w[g], group(g));
          s = g == g0 ? p : _mm256_add_epi16(s, p);
        }
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(s, ones16));
      }
      if constexpr (kShift > 0) isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(x[t]->off));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_set1_ps(x[t]->d)), acc[t]);
      if constexpr (kMin) acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(x[t]->s), acc[t]);
    }
  }
};

// ---- Q4_K, Q5_K x Q8_K -------------------------------------------------------------------------

// Byte k (0..3) of each dword.
LANE_INLINE __m256i byte_of(__m256i v, int k) { return _mm256_and_si256(_mm256_srli_epi32(v, 8 * k), _mm256_set1_epi32(0xFF)); }
// An int32 in -32768..32767 as the int16 pair (x, x).
LANE_INLINE __m256i twice16(__m256i x) { return _mm256_or_si256(_mm256_and_si256(x, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(x, 16)); }
LANE_INLINE __m256i pair_of(__m256i v, int k) {  // (byte 2k, byte 2k + 1) as int16s
  return _mm256_or_si256(byte_of(v, 2 * k), _mm256_slli_epi32(byte_of(v, 2 * k + 1), 16));
}

// isum = sum_j sc_j * dot_j (dot_j summed in int16 over 8 groups, Q5_K 4, then vpmaddwd with
// sc_j), msum = sum_c madd((asum_2c, asum_2c+1), (mn_2c, mn_2c+1)); acc = fma(float(isum),
// d * da, acc), then fnma(float(msum), dmin * da, acc): the tile kernel's integers and steps.
template <bool kQ5>
struct KQ45 {
  static constexpr GgmlType kType = kQ5 ? GgmlType::Q5_K : GgmlType::Q4_K;
  static constexpr int64_t kElems = QK_K;
  static constexpr bool kOneToken = false;
  static constexpr size_t kBytes = kQ5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
  static constexpr size_t kActBytes = sizeof(block_q8_K);
  static constexpr int kPerSum = kQ5 ? 4 : 8;

  struct Act {  // per token and block: the scale, and the int16 pairs (sum of sub-block 2c, of 2c + 1)
    float d;
    int32_t pair[4];
  };
  LANE_INLINE static Act prepare(const uint8_t* blk) {
    Act x;
    std::memcpy(&x.d, blk, 4);
    for (int c = 0; c < 4; ++c)
      x.pair[c] = static_cast<int32_t>((static_cast<uint32_t>(sum32(blk + 4 + 64 * c)) & 0xFFFF) |
                                       (static_cast<uint32_t>(sum32(blk + 36 + 64 * c)) << 16));
    return x;
  }

  template <int NT>
  LANE_INLINE static void block(const uint8_t* const* rows, size_t off, const uint8_t* const* ablk, const Act* const* x,
                                __m256 (&acc)[NT], Prefetch& pf) {
    __m256i h[4];  // d | dmin, then the 12 scale bytes (unpack_scale_min_k4's u0, u1, u2)
    transpose8x4(rows, off, h);
    const __m256i m3f = _mm256_set1_epi8(0x3F), m0f = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    // Bytes of v[0], v[1]: the scales 0..3, 4..7; of v[2], v[3]: the mins.
    const __m256i v[4] = {
        _mm256_and_si256(h[1], m3f),
        _mm256_or_si256(_mm256_and_si256(h[3], m0f), _mm256_and_si256(_mm256_srli_epi32(h[1], 2), m30)),
        _mm256_and_si256(h[2], m3f),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(h[3], 4), m0f), _mm256_and_si256(_mm256_srli_epi32(h[2], 2), m30))};
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    __m256i qh[8];  // Q5_K: bit j of each byte is its element's fifth bit in sub-block j
    if constexpr (kQ5) {
      transpose8x4(rows, off + 16, qh);
      transpose8x4(rows, off + 32, qh + 4);
    }
    for (int c = 0; c < 4; ++c) {  // 32 bytes: sub-blocks 2c (low nibbles) and 2c + 1
      pf.upto(off + kBytes * static_cast<size_t>(c + 1) / 4);
      __m256i q[8];
      const size_t qs = off + (kQ5 ? 48 : 16) + 32 * static_cast<size_t>(c);
      transpose8x4(rows, qs, q);
      transpose8x4(rows, qs + 16, q + 4);
      for (int half = 0; half < 2; ++half) {
        const int j = 2 * c + half;
        __m256i w[8];
        for (int g = 0; g < 8; ++g) {
          w[g] = _mm256_and_si256(half ? _mm256_srli_epi16(q[g], 4) : q[g], m4);
          if constexpr (kQ5) w[g] = _mm256_or_si256(w[g], _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh[g], j), 4), b4));
        }
        const __m256i sc = twice16(byte_of(v[j / 4], j % 4));
        for (int t = 0; t < NT; ++t) {
          const uint8_t* a = ablk[t] + 4 + 32 * j;
          for (int g0 = 0; g0 < 8; g0 += kPerSum) {
            __m256i s16 = _mm256_setzero_si256();
            for (int g = g0; g < g0 + kPerSum; ++g) {
              const __m256i p = _mm256_maddubs_epi16(w[g], _mm256_set1_epi32(static_cast<int>(load_u32(a + 4 * g))));
              s16 = g == g0 ? p : _mm256_add_epi16(s16, p);
            }
            isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16, sc));
          }
        }
      }
    }
    const __m256i mp[4] = {pair_of(v[2], 0), pair_of(v[2], 1), pair_of(v[3], 0), pair_of(v[3], 1)};
    const __m256 d = fp16_of<false>(h[0]), dmin = fp16_of<true>(h[0]);
    for (int t = 0; t < NT; ++t) {
      __m256i msum = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mp[c], _mm256_set1_epi32(x[t]->pair[c])));
      const __m256 da = _mm256_set1_ps(x[t]->d);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, da), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, da), acc[t]);
    }
  }
};

// ---- Q2_K, Q3_K, Q6_K, IQ4_XS x Q8_K ------------------------------------------------------------

// The sum of 16 int8 quants.
LANE_INLINE int32_t sum16(const uint8_t* q) {
  __m128i s = _mm_madd_epi16(_mm_maddubs_epi16(_mm_set1_epi8(1), load128(q)), _mm_set1_epi16(1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}
// Two int32 in -32768..32767 as one int16 pair (lo, hi).
LANE_INLINE __m256i pack_pairs(__m256i lo, __m256i hi) {
  return _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(hi, 16));
}

// Q2_K, Q3_K, Q6_K (16 sub-blocks of 16, kernels/gemm_k16_formats.h), as the tile kernel applies
// them (gemm_lane_rows_avx512.cpp's K16 does the same with 16 rows): Q2_K's
// acc = fnma(float(msum), dmin * da, acc) with msum = sum_j mn_j * asum_j first, then
// acc = fma(float(isum), d * da, acc) with isum = sum_j sc_j * dot_j - (sum_j sc_j * asum_j) << off.
// F gives the 8 rows' scales as int16 pairs (sc_2c, sc_2c+1) and (mn_2c, mn_2c+1) for the sums of
// a, as (sc_j, sc_j) for vpmaddwd, and hands each 128-element half to `use` as 4 chunks of 8
// dword registers, decoded after the transpose (the formats' byte operations do not depend on
// where a byte is). A sub-block's dot is summed in int16 over kPerSum 4-byte groups (Q6_K's
// 6-bit values: 2; |a| <= 127), then multiplied by its scale in vpmaddwd: the same integers.
struct LaneQ2K {
  static constexpr GgmlType kType = GgmlType::Q2_K;
  static constexpr size_t kBytes = sizeof(block_q2_K);
  static constexpr int kOffShift = -1;
  static constexpr bool kMin = true;
  static constexpr int kPerSum = 4;
  LANE_INLINE static void header(const uint8_t* const* rows, size_t off, __m256& d, __m256& dmin, __m256i scp[8],
                                 __m256i mnp[8], __m256i sc2[16]) {
    const __m256i dd = gather(rows, off + offsetof(block_q2_K, d));
    d = fp16_of<false>(dd);
    dmin = fp16_of<true>(dd);
    __m256i s[4];  // scale | min << 4, bytes 0..15
    transpose8x4(rows, off + offsetof(block_q2_K, scales), s);
    for (int i = 0; i < 4; ++i) {
      const __m256i lo = _mm256_and_si256(s[i], _mm256_set1_epi8(0x0F));
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(s[i], 4), _mm256_set1_epi8(0x0F));
      for (int k = 0; k < 2; ++k) {
        scp[2 * i + k] = pair_of(lo, k);
        mnp[2 * i + k] = pair_of(hi, k);
      }
      for (int k = 0; k < 4; ++k) sc2[4 * i + k] = twice16(byte_of(lo, k));
    }
  }
  template <class Use>
  LANE_INLINE static void half(const uint8_t* const* rows, size_t off, int h, Use&& use) {
    __m256i q[8];
    const size_t qs = off + offsetof(block_q2_K, qs) + 32 * static_cast<size_t>(h);
    transpose8x4(rows, qs, q);
    transpose8x4(rows, qs + 16, q + 4);
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int k = 0; k < 4; ++k) {
      __m256i w[8];
      for (int g = 0; g < 8; ++g) w[g] = _mm256_and_si256(_mm256_srli_epi16(q[g], 2 * k), m3);
      use(k, w);
    }
  }
};

struct LaneQ3K {
  static constexpr GgmlType kType = GgmlType::Q3_K;
  static constexpr size_t kBytes = sizeof(block_q3_K);
  static constexpr int kOffShift = 2;
  static constexpr bool kMin = false;
  static constexpr int kPerSum = 4;
  LANE_INLINE static void header(const uint8_t* const* rows, size_t off, __m256& d, __m256&, __m256i scp[8], __m256i*,
                                 __m256i sc2[16]) {
    // The 16 bytes ending at the block end: 2 bytes of qs, the 12 scale bytes, d.
    constexpr size_t kAt = offsetof(block_q3_K, d) + 2 - 16;
    static_assert(offsetof(block_q3_K, scales) == kAt + 2);
    __m256i v[4];
    transpose8x4(rows, off + kAt, v);
    d = fp16_of<true>(v[3]);
    auto sbyte = [&](int i) { return byte_of(v[(i + 2) / 4], (i + 2) % 4); };  // scale byte i
    // unpack_q3_K_scales: low 4 bits from the nibbles of bytes 0..7, bits 4..5 from bytes 8..11.
    __m256i sc[16];
    for (int i = 0; i < 16; ++i) {
      const __m256i low = i < 8 ? _mm256_and_si256(sbyte(i), _mm256_set1_epi32(0x0F)) : _mm256_srli_epi32(sbyte(i - 8), 4);
      const __m256i high = _mm256_and_si256(_mm256_srli_epi32(sbyte(8 + i % 4), 2 * (i / 4)), _mm256_set1_epi32(3));
      sc[i] = _mm256_sub_epi32(_mm256_or_si256(low, _mm256_slli_epi32(high, 4)), _mm256_set1_epi32(32));
      sc2[i] = twice16(sc[i]);
    }
    for (int c = 0; c < 8; ++c) scp[c] = pack_pairs(sc[2 * c], sc[2 * c + 1]);
  }
  // u = low 2 bits + 4 * (high bit): the stored value + 4.
  template <class Use>
  LANE_INLINE static void half(const uint8_t* const* rows, size_t off, int h, Use&& use) {
    __m256i q[8], hb[8];
    const size_t qs = off + offsetof(block_q3_K, qs) + 32 * static_cast<size_t>(h);
    transpose8x4(rows, qs, q);
    transpose8x4(rows, qs + 16, q + 4);
    transpose8x4(rows, off + offsetof(block_q3_K, hmask), hb);
    transpose8x4(rows, off + offsetof(block_q3_K, hmask) + 16, hb + 4);
    // Chunk 4h + k: bit 4h + k of each hmask byte, moved to bit 2.
    for (int g = 0; g < 8; ++g) hb[g] = h == 0 ? _mm256_slli_epi16(hb[g], 2) : _mm256_srli_epi16(hb[g], 2);
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    for (int k = 0; k < 4; ++k) {
      __m256i w[8];
      for (int g = 0; g < 8; ++g)
        w[g] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q[g], 2 * k), m3), _mm256_and_si256(_mm256_srli_epi16(hb[g], k), m4));
      use(k, w);
    }
  }
};

struct LaneQ6K {
  static constexpr GgmlType kType = GgmlType::Q6_K;
  static constexpr size_t kBytes = sizeof(block_q6_K);
  static constexpr int kOffShift = 5;
  static constexpr bool kMin = false;
  static constexpr int kPerSum = 2;
  LANE_INLINE static void header(const uint8_t* const* rows, size_t off, __m256& d, __m256&, __m256i scp[8], __m256i*,
                                 __m256i sc2[16]) {
    d = fp16_of<true>(gather(rows, off + offsetof(block_q6_K, d) - 2));  // the dword ending at d
    __m256i s[4];  // int8 scales 0..15
    transpose8x4(rows, off + offsetof(block_q6_K, scales), s);
    for (int i = 0; i < 4; ++i) {
      const __m256i even = _mm256_srai_epi16(_mm256_slli_epi16(s[i], 8), 8);  // bytes 0, 2 as int16
      const __m256i odd = _mm256_srai_epi16(s[i], 8);                         // bytes 1, 3
      scp[2 * i] = _mm256_or_si256(_mm256_and_si256(even, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(odd, 16));
      scp[2 * i + 1] = _mm256_or_si256(_mm256_srli_epi32(even, 16), _mm256_andnot_si256(_mm256_set1_epi32(0xFFFF), odd));
      for (int k = 0; k < 4; ++k) sc2[4 * i + k] = twice16(_mm256_srai_epi32(_mm256_slli_epi32(s[i], 24 - 8 * k), 24));
    }
  }
  template <class Use>
  LANE_INLINE static void half(const uint8_t* const* rows, size_t off, int h, Use&& use) {
    __m256i qh[8], ql[8], w[8];
    const size_t qhs = off + offsetof(block_q6_K, qh) + 32 * static_cast<size_t>(h);
    transpose8x4(rows, qhs, qh);
    transpose8x4(rows, qhs + 16, qh + 4);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    for (int l = 0; l < 2; ++l) {  // ql bytes 64h + 32l..: chunks l (low nibbles) and l + 2 (high)
      const size_t qls = off + 64 * static_cast<size_t>(h) + 32 * static_cast<size_t>(l);
      transpose8x4(rows, qls, ql);
      transpose8x4(rows, qls + 16, ql + 4);
      for (int g = 0; g < 8; ++g)  // qh bits 2l, 2l + 1 to bits 4, 5
        w[g] = _mm256_or_si256(_mm256_and_si256(ql[g], m4), _mm256_and_si256(_mm256_slli_epi16(qh[g], 4 - 2 * l), m30));
      use(l, w);
      for (int g = 0; g < 8; ++g)  // qh bits 4 + 2l, 5 + 2l
        w[g] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql[g], 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh[g], 2 * l), m30));
      use(l + 2, w);
    }
  }
};

template <class F>
struct K16 {
  static constexpr GgmlType kType = F::kType;
  static constexpr int64_t kElems = QK_K;
  static constexpr bool kOneToken = false;
  static constexpr size_t kBytes = F::kBytes;
  static constexpr size_t kActBytes = sizeof(block_q8_K);

  struct Act {  // per token and block: the scale, and the int16 pairs (sum of sub-block 2c, of 2c + 1)
    float d;
    int32_t pair[8];
  };
  LANE_INLINE static Act prepare(const uint8_t* blk) {
    Act x;
    std::memcpy(&x.d, blk, 4);
    for (int c = 0; c < 8; ++c)
      x.pair[c] = static_cast<int32_t>((static_cast<uint32_t>(sum16(blk + 4 + 32 * c)) & 0xFFFF) |
                                       (static_cast<uint32_t>(sum16(blk + 20 + 32 * c)) << 16));
    return x;
  }
  // sum_j x_j * asum_j, from the pairs of x.
  LANE_INLINE static __m256i scaled_sums(const __m256i p[8], const Act& x) {
    __m256i s = _mm256_setzero_si256();
    for (int c = 0; c < 8; ++c) s = _mm256_add_epi32(s, _mm256_madd_epi16(p[c], _mm256_set1_epi32(x.pair[c])));
    return s;
  }

  template <int NT>
  LANE_INLINE static void block(const uint8_t* const* rows, size_t off, const uint8_t* const* ablk, const Act* const* x,
                                __m256 (&acc)[NT], Prefetch& pf) {
    __m256 d, dmin;
    __m256i scp[8], mnp[8], sc2[16];
    F::header(rows, off, d, dmin, scp, mnp, sc2);
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) {
      if constexpr (F::kMin)
        acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(scaled_sums(mnp, *x[t])), _mm256_mul_ps(dmin, _mm256_set1_ps(x[t]->d)), acc[t]);
      isum[t] = F::kOffShift >= 0 ? _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(scaled_sums(scp, *x[t]), F::kOffShift))
                                  : _mm256_setzero_si256();
    }
    for (int h = 0; h < 2; ++h)
      F::half(rows, off, h, [&](int k, const __m256i w[8]) {
        const int c = 4 * h + k;  // chunk: sub-blocks 2c (groups 0..3) and 2c + 1 (groups 4..7)
        pf.upto(off + kBytes * static_cast<size_t>(c + 1) / 8);
        for (int sub = 0; sub < 2; ++sub)
          for (int t = 0; t < NT; ++t) {
            const uint8_t* a = ablk[t] + 4 + 32 * c + 16 * sub;
            for (int g0 = 0; g0 < 4; g0 += F::kPerSum) {
              __m256i s16 = _mm256_setzero_si256();
              for (int g = g0; g < g0 + F::kPerSum; ++g) {
                const __m256i p = _mm256_maddubs_epi16(w[4 * sub + g], _mm256_set1_epi32(static_cast<int>(load_u32(a + 4 * g))));
                s16 = g == g0 ? p : _mm256_add_epi16(s16, p);
              }
              isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16, sc2[2 * c + sub]));
            }
          }
      });
    for (int t = 0; t < NT; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(x[t]->d)), acc[t]);
  }
};

// IQ4_XS: each sub-block of 32 applied as IQ4_NL's blocks are, with the float scale d * ls_c:
// dot_c = the exact sum of value * a (signed values: vpmaddubsw of |w| and sign(a, w), one group
// per int16 sum), acc = fma(float(dot_c), (d * ls_c) * da, acc).
struct IQ4XS {
  static constexpr GgmlType kType = GgmlType::IQ4_XS;
  static constexpr int64_t kElems = QK_K;
  static constexpr bool kOneToken = false;
  static constexpr size_t kBytes = sizeof(block_iq4_xs);
  static constexpr size_t kActBytes = sizeof(block_q8_K);

  struct Act {
    float d;
  };
  LANE_INLINE static Act prepare(const uint8_t* blk) {
    Act x;
    std::memcpy(&x.d, blk, 4);
    return x;
  }

  template <int NT>
  LANE_INLINE static void block(const uint8_t* const* rows, size_t off, const uint8_t* const* ablk, const Act* const* x,
                                __m256 (&acc)[NT], Prefetch& pf) {
    __m256i h[4];  // d | scales_h << 16, scales_l, then nibbles
    transpose8x4(rows, off, h);
    const __m256 d = fp16_of<false>(h[0]);
    const __m256i sh = _mm256_srli_epi32(h[0], 16);
    const __m256i table = _mm256_broadcastsi128_si256(load128(kIq4nlValues));
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones16 = _mm256_set1_epi16(1);
    for (int p = 0; p < 4; ++p) {  // 32 bytes: sub-blocks 2p (dwords 0..3) and 2p + 1
      pf.upto(off + kBytes * static_cast<size_t>(p + 1) / 4);
      __m256i q[8];
      const size_t qs = off + offsetof(block_iq4_xs, qs) + 32 * static_cast<size_t>(p);
      transpose8x4(rows, qs, q);
      transpose8x4(rows, qs + 16, q + 4);
      for (int sub = 0; sub < 2; ++sub) {
        const int c = 2 * p + sub;
        __m256i w[8];
        for (int g = 0; g < 4; ++g) {
          w[g] = _mm256_shuffle_epi8(table, _mm256_and_si256(q[4 * sub + g], m4));
          w[g + 4] = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(q[4 * sub + g], 4), m4));
        }
        const __m256i ls = _mm256_sub_epi32(
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(h[1], 4 * c), _mm256_set1_epi32(0x0F)),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(sh, 2 * c), _mm256_set1_epi32(3)), 4)),
            _mm256_set1_epi32(32));
        const __m256 dls = _mm256_mul_ps(d, _mm256_cvtepi32_ps(ls));
        for (int t = 0; t < NT; ++t) {
          const uint8_t* a = ablk[t] + 4 + 32 * c;
          __m256i dot = _mm256_setzero_si256();
          for (int g = 0; g < 8; ++g) {
            const __m256i av = _mm256_set1_epi32(static_cast<int>(load_u32(a + 4 * g)));
            dot = _mm256_add_epi32(dot, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w[g]), _mm256_sign_epi8(av, w[g])), ones16));
          }
          acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(dls, _mm256_set1_ps(x[t]->d)), acc[t]);
        }
      }
    }
  }
};

// ---- one token: the rows' block dots summed horizontally, no transpose --------------------
// The transposes above pay off once a decoded block serves several tokens; for one token (every
// decode step of `run`) each row's block dot is made in its own register, as the per-token
// kernels do, and 8 rows' partial sums are reduced into one register of 8 lanes (row order)
// with vphaddd. The integers are the same exact block dots, the float steps the same.

// v[r]: row r's int32 partial sums, 4 per 128-bit half. Returns each half's total per row:
// lo[r] = sum of v[r]'s low half, hi[r] = of its high half.
LANE_INLINE void reduce_halves(const __m256i v[8], __m256i& lo, __m256i& hi) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);  // rows 0..3 | the same, high halves
  lo = _mm256_permute2x128_si256(h0123, h4567, 0x20);
  hi = _mm256_permute2x128_si256(h0123, h4567, 0x31);
}

// The token's quants of blocks 2p and 2p + 1 as [a_2p[0..15] | a_2p+1[0..15]] and [16..31 | 16..31].
struct PairAct {
  __m256i lo, hi;
};

// Blocks b and b + 1 of a row (kTwo false: b alone, the high halves zero): the nibble bytes
// [b elements 0..15 | b + 1 elements 0..15] in lo, [16..31 | 16..31] in hi, decoded.
template <class B, bool kTwo>
LANE_INLINE void pair_values(const uint8_t* blk, __m256i& lo, __m256i& hi) {
  constexpr size_t kQs = B::kBytes - 16;
  const __m128i x0 = load128(blk + kQs);
  const __m256i x = kTwo ? _mm256_inserti128_si256(_mm256_castsi128_si256(x0), load128(blk + B::kBytes + kQs), 1)
                         : _mm256_zextsi128_si256(x0);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  lo = _mm256_and_si256(x, m4);
  hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
  if constexpr (B::kQ5) {  // bit i of qh is element i's fifth bit
    const uint32_t q0 = load_u32(blk + kQs - 4), q1 = kTwo ? load_u32(blk + B::kBytes + kQs - 4) : 0;
    auto spread = [](uint32_t bits) { return _mm256_and_si256(simd::bits_to_bytes(bits), _mm256_set1_epi8(0x10)); };
    lo = _mm256_or_si256(lo, spread((q0 & 0xFFFF) | (q1 << 16)));
    hi = _mm256_or_si256(hi, spread((q0 >> 16) | (q1 & 0xFFFF0000u)));
  }
  if constexpr (B::kSigned) {
    const __m256i table = _mm256_broadcastsi128_si256(load128(kIq4nlValues));
    lo = _mm256_shuffle_epi8(table, lo);
    hi = _mm256_shuffle_epi8(table, hi);
  }
}

// Row-block partial sums (4 per half) of blocks b, b + 1 with the token's pair p.
template <class B, bool kTwo>
LANE_INLINE __m256i pair_dot(const uint8_t* blk, const PairAct& a) {
  __m256i lo, hi;
  pair_values<B, kTwo>(blk, lo, hi);
  const __m256i ones16 = _mm256_set1_epi16(1);
  if constexpr (B::kSigned)  // |w| * |a| <= 127 * 127: one vpmaddubsw per int16 sum
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(lo), _mm256_sign_epi8(a.lo, lo)), ones16),
                            _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(hi), _mm256_sign_epi8(a.hi, hi)), ones16));
  else
    return _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, a.lo), _mm256_maddubs_epi16(hi, a.hi)), ones16);
}

// acc = fma(float(isum - off), dw * da, acc), then Q4_1/Q5_1's fma(m, s, acc).
template <class B>
LANE_INLINE void apply_block(__m256i isum, __m256 dw, __m256 mw, const typename B::Act& x, __m256& acc) {
  if constexpr (B::kShift > 0) isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(x.off));
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, _mm256_set1_ps(x.d)), acc);
  if constexpr (B::kMin) acc = _mm256_fmadd_ps(mw, _mm256_set1_ps(x.s), acc);
}

// Q8_0's rows' fp16 d of blocks [b0, b0 + kStageBlocks), copied a row at a time into lanes ahead
// of use: plain loads and stores (building each block's vector from 8 scattered loads, or
// vpgatherdd, cost as much as its dots; Q8_0's one-token head ran 0.6x of the per-token kernel,
// now 0.8-0.9x). For the 4- and 5-bit types, whose d and m share a dword, the 8 dword loads per
// block were faster.
constexpr int64_t kStageBlocks = 64;
struct StagedScales {
  alignas(16) uint16_t d[kStageBlocks][kLanes];
  int64_t b0 = 0;
  LANE_INLINE void stage(const uint8_t* const* rows, int64_t first, int64_t end) {
    b0 = first;
    for (int e = 0; e < kLanes; ++e)
      for (int64_t b = first; b < end; ++b) d[b - first][e] = load_u16(rows[e] + static_cast<size_t>(b) * sizeof(block_q8_0));
  }
  LANE_INLINE __m256 dw(int64_t b) const { return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d[b - b0]))); }
};

template <class B>
void one_token_group(const uint8_t* const* rows, int64_t nb, const uint8_t* a, const typename B::Act* x, const PairAct* pa,
                     __m256& acc) {
  acc = _mm256_setzero_ps();
  Prefetch pf{reinterpret_cast<uintptr_t>(rows[0])};
  if constexpr (B::kType == GgmlType::Q8_0) {
    const __m256i ones16 = _mm256_set1_epi16(1);
    StagedScales sc;
    for (int64_t b = 0; b < nb; ++b) {
      if (b % kStageBlocks == 0) sc.stage(rows, b, std::min(nb, b + kStageBlocks));
      const size_t off = static_cast<size_t>(b) * B::kBytes;
      pf.upto(off + B::kBytes);
      const __m256i av = load256(a + static_cast<size_t>(b) * B::kActBytes + B::kActQs);
      __m256i v[8];
      for (int r = 0; r < kLanes; ++r) {
        const __m256i w = load256(rows[r] + off + 2);
        v[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(av, w)), ones16);
      }
      __m256i lo, hi;
      reduce_halves(v, lo, hi);
      apply_block<B>(_mm256_add_epi32(lo, hi), sc.dw(b), _mm256_setzero_ps(), x[b], acc);
    }
  } else {
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      const size_t off = static_cast<size_t>(b) * B::kBytes;
      pf.upto(off + 2 * B::kBytes);
      __m256i v[8];
      for (int r = 0; r < kLanes; ++r) v[r] = pair_dot<B, true>(rows[r] + off, pa[b / 2]);
      __m256i i0, i1;
      reduce_halves(v, i0, i1);
      const __m256i h0 = gather(rows, off), h1 = gather(rows, off + B::kBytes);
      apply_block<B>(i0, fp16_of<false>(h0), fp16_of<true>(h0), x[b], acc);
      apply_block<B>(i1, fp16_of<false>(h1), fp16_of<true>(h1), x[b + 1], acc);
    }
    if (b < nb) {  // an odd last block
      const size_t off = static_cast<size_t>(b) * B::kBytes;
      __m256i v[8];
      for (int r = 0; r < kLanes; ++r) v[r] = pair_dot<B, false>(rows[r] + off, pa[b / 2]);
      __m256i i0, i1;
      reduce_halves(v, i0, i1);
      const __m256i h0 = gather(rows, off);
      apply_block<B>(i0, fp16_of<false>(h0), fp16_of<true>(h0), x[b], acc);
    }
  }
}

// The NT tokens' activation blocks interleaved, [block][token] (q: W::kActBytes each, x: one
// Act each): a block's tokens lie at fixed offsets from one pointer, so the token loop keeps
// one address register instead of 2 NT, which spilled (Q4_1 1536 x 576 at 7 and 8 tokens cost
// 1.3x the trend of 2..6 tokens; interleaved, 8 tokens 133 -> 124 us, Q5_0 146 -> 125, Q8_0 and
// IQ4_NL equal, Q5_1 143 -> 151 at 8 tokens but 124 -> 110 at 6).
template <class W, int NT>
void row_group(const uint8_t* const* rows, int64_t nb, const uint8_t* q, const typename W::Act* xs, __m256 (&acc)[NT]) {
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  Prefetch pf{reinterpret_cast<uintptr_t>(rows[0])};
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* ablk[NT];
    const typename W::Act* x[NT];
    const uint8_t* qb = q + static_cast<size_t>(b) * NT * W::kActBytes;
    for (int t = 0; t < NT; ++t) {
      ablk[t] = qb + static_cast<size_t>(t) * W::kActBytes;
      x[t] = xs + b * NT + t;
    }
    W::template block<NT>(rows, static_cast<size_t>(b) * W::kBytes, ablk, x, acc, pf);
  }
}

template <class W>
void lane_rows(int64_t n, const uint8_t* w, size_t row_stride, int64_t n_rows, const uint8_t* acts, size_t act_stride,
               int64_t n_acts, float* out, size_t out_stride) {
  using Act = typename W::Act;
  constexpr bool kPairs = W::kOneToken && W::kType != GgmlType::Q8_0;  // one_token_group's block pairs
  const int64_t nb = n / W::kElems;
  LaneActs<W, 1> prepared(nb);  // a token alone (one_token_group)
  thread_local std::vector<uint8_t> packed_q;
  thread_local std::vector<Act> packed_x;
  // One token alone: its quants re-laid in block pairs for one_token_group.
  const int64_t n_pairs = (nb + 1) / 2;
  constexpr int64_t kStackPairs = 32;  // on the stack for rows of up to 64 blocks
  std::array<PairAct, kStackPairs> stack_pa;
  std::unique_ptr<PairAct[]> heap_pa;
  PairAct* pa = stack_pa.data();
  if (n_acts % kMaxTok == 1 && n_pairs > kStackPairs) {
    heap_pa = std::make_unique_for_overwrite<PairAct[]>(static_cast<size_t>(n_pairs));
    pa = heap_pa.get();
  }
  // The first kPrefetchBytes, which no group fetches ahead (a thread's share of a small matrix
  // may be little more).
  for (size_t i = 0; i < std::min(kPrefetchBytes, static_cast<size_t>(n_rows) * row_stride); i += 64)
    _mm_prefetch(reinterpret_cast<const char*>(w + i), _MM_HINT_T0);
  for (int64_t t0 = 0; t0 < n_acts; t0 += kMaxTok) {
    const int nt = static_cast<int>(std::min<int64_t>(kMaxTok, n_acts - t0));
    if constexpr (kPairs) if (nt == 1) {
      const uint8_t* a0 = acts + static_cast<size_t>(t0) * act_stride + W::kActQs;
      for (int64_t p = 0; p < n_pairs; ++p) {
        const uint8_t* q0 = a0 + static_cast<size_t>(2 * p) * W::kActBytes;
        const bool two = 2 * p + 1 < nb;
        const __m128i z = _mm_setzero_si128();
        pa[p].lo = _mm256_setr_m128i(load128(q0), two ? load128(q0 + W::kActBytes) : z);
        pa[p].hi = _mm256_setr_m128i(load128(q0 + 16), two ? load128(q0 + W::kActBytes + 16) : z);
      }
    }
    const uint8_t* a[kMaxTok];
    for (int t = 0; t < nt; ++t) a[t] = acts + static_cast<size_t>(t0 + t) * act_stride;
    const bool alone = W::kOneToken && nt == 1;
    const Act* a0_prepared = alone ? prepared.prepare(0, a[0]) : nullptr;
    if (!alone) {  // interleaved for row_group, each block's Act prepared in its place
      packed_q.resize(static_cast<size_t>(nb * nt) * W::kActBytes);
      packed_x.resize(static_cast<size_t>(nb * nt));
      for (int64_t b = 0; b < nb; ++b)
        for (int t = 0; t < nt; ++t) {
          const uint8_t* blk = a[t] + static_cast<size_t>(b) * W::kActBytes;
          std::memcpy(&packed_q[static_cast<size_t>(b * nt + t) * W::kActBytes], blk, W::kActBytes);
          packed_x[static_cast<size_t>(b * nt + t)] = W::prepare(blk);
        }
    }
    for (int64_t r0 = 0; r0 < n_rows; r0 += kLanes) {
      const int nr = static_cast<int>(std::min<int64_t>(kLanes, n_rows - r0));
      // A short last group repeats its last row in the spare lanes, which are not stored.
      const uint8_t* rows[kLanes];
      for (int e = 0; e < kLanes; ++e) rows[e] = w + static_cast<size_t>(r0 + std::min(e, nr - 1)) * row_stride;
      auto store = [&](int t, __m256 v) {
        float* dst = out + static_cast<size_t>(t0 + t) * out_stride + static_cast<size_t>(r0);
        if (nr == kLanes) {
          _mm256_storeu_ps(dst, v);
        } else {
          alignas(32) float res[kLanes];
          _mm256_store_ps(res, v);
          std::memcpy(dst, res, static_cast<size_t>(nr) * sizeof(float));
        }
      };
      if constexpr (W::kOneToken) if (nt == 1) {
        __m256 acc;
        one_token_group<W>(rows, nb, a[0], a0_prepared, pa, acc);
        store(0, acc);
        continue;
      }
      auto run = [&]<int NT>() {
        __m256 acc[NT];
        row_group<W, NT>(rows, nb, packed_q.data(), packed_x.data(), acc);
        for (int t = 0; t < NT; ++t) store(t, acc[t]);
      };
      dispatch_count<kMaxTok>(nt, run);
    }
  }
}

}  // namespace

#define ACTINFER_LANE_ROWS(name, W)                                                                             \
  void name(int64_t n, const void* w, size_t row_stride, int64_t n_rows, const void* acts, size_t act_stride,  \
            int64_t n_acts, float* out, size_t out_stride) {                                                   \
    lane_rows<W>(n, static_cast<const uint8_t*>(w), row_stride, n_rows, static_cast<const uint8_t*>(acts),     \
                 act_stride, n_acts, out, out_stride);                                                         \
  }
ACTINFER_LANE_ROWS(lane_rows_q4_0_avx2, Block32<GgmlType::Q4_0>)
ACTINFER_LANE_ROWS(lane_rows_q4_1_avx2, Block32<GgmlType::Q4_1>)
ACTINFER_LANE_ROWS(lane_rows_q5_0_avx2, Block32<GgmlType::Q5_0>)
ACTINFER_LANE_ROWS(lane_rows_q5_1_avx2, Block32<GgmlType::Q5_1>)
ACTINFER_LANE_ROWS(lane_rows_q8_0_avx2, Block32<GgmlType::Q8_0>)
ACTINFER_LANE_ROWS(lane_rows_iq4_nl_avx2, Block32<GgmlType::IQ4_NL>)
ACTINFER_LANE_ROWS(lane_rows_q4_K_avx2, KQ45<false>)
ACTINFER_LANE_ROWS(lane_rows_q5_K_avx2, KQ45<true>)
ACTINFER_LANE_ROWS(lane_rows_q2_K_avx2, K16<LaneQ2K>)
ACTINFER_LANE_ROWS(lane_rows_q3_K_avx2, K16<LaneQ3K>)
ACTINFER_LANE_ROWS(lane_rows_q6_K_avx2, K16<LaneQ6K>)
ACTINFER_LANE_ROWS(lane_rows_iq4_xs_avx2, IQ4XS)
#undef ACTINFER_LANE_ROWS

}  // namespace actinfer::kernels

#undef LANE_INLINE

#endif  // ACTINFER_HAVE_AVX2_KERNELS
