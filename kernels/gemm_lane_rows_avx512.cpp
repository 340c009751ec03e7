// Per-token kernels bit-identical to a lane of the tiled GEMM (kernels/gemm_quant.h,
// gemm_lane_exact_rows), for every type it tiles: for each (row, token) the same exact integer
// block dots, applied with the same float operations in the same order as gemm_quant_avx512.cpp
// applies them (acc = fma(float(isum), dw * da, acc) per block, Q4_1/Q5_1's fma(m, s, acc) after
// it, the K types' min and offset terms where the tile kernel puts them). So a serve step may send
// some tokens through tiles and the rest through these with identical bits.
//
// The lanes here are rows, not tokens: 16 rows per zmm. Per block, the 16 rows' weights are
// transposed (vpunpck, as the tiles' activations are) into registers that hold each row's
// elements 4g .. 4g + 3 in its lane, and decoded there (the formats' byte operations do not
// depend on where a byte is); a token's 32 elements are then 8 vpdpbusd with its 4-byte groups
// broadcast, giving the 16 rows' integer dots in lanes with no horizontal sums. A decoded block
// serves every token of the call (up to 8 at a time), so a token costs 8 vpdpbusd and a few
// float operations per 16 rows and 32 elements. The rows' scales come out of the same
// transposes where the block's bytes allow it, else from a dword gather (Q8_0, Q2_K, Q6_K).
#include "kernels/type_kernels.h"

#if ACTINFER_HAVE_AVX512_GEMM

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>

#include "kernels/count_dispatch.h"
#include "kernels/lane_acts.h"
#include "kernels/quant_blocks.h"

// GCC 12 warns that the _mm512_undefined_* inside its own intrinsics (inserti64x4, cvtph_ps,
// ...) are (or may be) used uninitialized once inlined: a false positive (as in
// gemm_quant_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace actinfer::kernels {
namespace {

// Everything below is inlined into the row loop: GCC otherwise keeps some large helpers out of
// line and passes the zmm registers through memory (a third slower).
#define LANE_INLINE [[gnu::always_inline]] inline

constexpr int kLanes = 16;   // rows per register
constexpr int kMaxTok = 8;   // tokens sharing one decode of the weights
constexpr int64_t kPrefetchRows = 16;  // how far ahead rows are fetched

LANE_INLINE __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// The rows of the next group, fetched a line of each at a time ahead of use (the hardware
// prefetchers do not follow 16 short row streams: without this, 4 times slower from memory).
// The blocks of the K types call upto() at each of their steps, so that few lines are in
// flight at once.
struct Prefetch {
  const uint8_t* const* next;
  size_t fetched = 0;  // bytes of each next row fetched so far
  LANE_INLINE void upto(size_t bytes) {
    for (; fetched < bytes; fetched += 64)
      for (int e = 0; e < kLanes; ++e) _mm_prefetch(reinterpret_cast<const char*>(next[e] + fetched), _MM_HINT_T0);
  }
};

// Lane e of the result = row e: the 32 bytes at rows[e] + off (off may be negative), as 8
// registers q[j] holding each row's dword j. The first kSkip bytes are not read but taken as 0
// (masked loads do not fault): they may lie before the first row.
template <unsigned kSkip = 0>
LANE_INLINE void transpose16x8(const uint8_t* const* rows, ptrdiff_t off, __m512i q[8]) {
  auto load = [&](int e) {
    const auto p = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(rows[e]) + static_cast<uintptr_t>(off));
    if constexpr (kSkip > 0) return _mm256_maskz_loadu_epi8(~0u << kSkip, p);
    else return load256(p);
  };
  __m512i u[2][4];
  for (int h = 0; h < 2; ++h) {  // h = 0: rows 0..3 and 8..11; h = 1: rows 4..7 and 12..15
    __m512i z[4];
    for (int k = 0; k < 4; ++k)  // lanes of z[k]: row r dwords 0..3, 4..7, row r + 8 dwords 0..3, 4..7
      z[k] = _mm512_inserti64x4(_mm512_castsi256_si512(load(4 * h + k)), load(8 + 4 * h + k), 1);
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    // lanes of u[h][j]: rows (4h..4h+3) dword j, the same rows' dword j + 4, rows 8 + (4h..4h+3) dword j, j + 4
    u[h][0] = _mm512_unpacklo_epi64(t0, t2);
    u[h][1] = _mm512_unpackhi_epi64(t0, t2);
    u[h][2] = _mm512_unpacklo_epi64(t1, t3);
    u[h][3] = _mm512_unpackhi_epi64(t1, t3);
  }
  const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int j = 0; j < 4; ++j) {
    q[j] = _mm512_permutex2var_epi64(u[0][j], lo, u[1][j]);
    q[j + 4] = _mm512_permutex2var_epi64(u[0][j], hi, u[1][j]);
  }
}

// The 16 bytes at rows[e] + off, as 4 registers q[j] holding each row's dword j.
LANE_INLINE void transpose16x4(const uint8_t* const* rows, size_t off, __m512i q[4]) {
  auto load = [&](int e) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[e] + off)); };
  __m512i z[4];
  for (int k = 0; k < 4; ++k) {  // lane L of z[k]: row 4L + k
    __m512i v = _mm512_castsi128_si512(load(k));
    v = _mm512_inserti32x4(v, load(4 + k), 1);
    v = _mm512_inserti32x4(v, load(8 + k), 2);
    z[k] = _mm512_inserti32x4(v, load(12 + k), 3);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  q[0] = _mm512_unpacklo_epi64(t0, t2);
  q[1] = _mm512_unpackhi_epi64(t0, t2);
  q[2] = _mm512_unpacklo_epi64(t1, t3);
  q[3] = _mm512_unpackhi_epi64(t1, t3);
}

// The low fp16 of each gathered dword as floats, and the high one.
LANE_INLINE __m512 low_fp16(__m512i x) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(x)); }
LANE_INLINE __m512 high_fp16(__m512i x) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(x, 16))); }

// Q5_0 / Q5_1: each byte of w[g] gets 0x10 where its element's bit of qh is set (qh: one row's
// 32 bits per dword). With VBMI, vpmultishiftqb moves bit 4g + j of each row's dword to bit 4
// of byte j; without it (Cascade Lake has VNNI but not VBMI) a multiply by 2^0 + 2^7 + 2^14 +
// 2^21 spreads the 4 bits to the 4 bytes.
LANE_INLINE void add_fifth_bits(__m512i qh, __m512i w[8]) {
  for (int g = 0; g < 8; ++g) {
#if defined(__AVX512VBMI__)
    uint64_t ctrl = 0;
    for (int j = 0; j < 8; ++j) ctrl |= static_cast<uint64_t>((32 * (j / 4) + 4 * g + j % 4 - 4) & 63) << (8 * j);
    const __m512i bits = _mm512_multishift_epi64_epi8(_mm512_set1_epi64(static_cast<int64_t>(ctrl)), qh);
#else
    const __m512i nib = _mm512_and_si512(_mm512_srli_epi32(qh, 4 * g), _mm512_set1_epi32(0x0F));
    const __m512i bits = _mm512_slli_epi32(_mm512_mullo_epi32(nib, _mm512_set1_epi32(0x00204081)), 4);
#endif
    w[g] = _mm512_or_si512(w[g], _mm512_and_si512(bits, _mm512_set1_epi8(0x10)));
  }
}

// The sum of 32 int8 quants.
LANE_INLINE int32_t sum32(const uint8_t* q) {
  const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), load256(q));
  const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
  return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
}

// start + the 16 rows' dots of w[0..7] with the 32 activation bytes at a (kSplit: in two
// chains, when few tokens are there to overlap their latency; the integer is the same).
template <bool kSplit>
LANE_INLINE __m512i dot8(__m512i start, const __m512i w[8], const uint8_t* a) {
  auto group = [&](int g) { return _mm512_set1_epi32(static_cast<int>(load_u32(a + 4 * g))); };
  if constexpr (kSplit) {
    __m512i s0 = _mm512_dpbusd_epi32(start, w[0], group(0));
    __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[1], group(1));
    for (int g = 2; g < 8; g += 2) {
      s0 = _mm512_dpbusd_epi32(s0, w[g], group(g));
      s1 = _mm512_dpbusd_epi32(s1, w[g + 1], group(g + 1));
    }
    return _mm512_add_epi32(s0, s1);
  } else {
    for (int g = 0; g < 8; ++g) start = _mm512_dpbusd_epi32(start, w[g], group(g));
    return start;
  }
}

// A 32-element block type: decode() gives the 16 rows' values as unsigned bytes (w[g]: elements
// 4g..4g+3 of each row) and their scales (and Q4_1/Q5_1's m). isum = dot(stored unsigned value,
// a) - (sum(a) << kShift), as the tile kernel makes it.
template <GgmlType kType>
struct Block32 {
  static constexpr bool kMin = kType == GgmlType::Q4_1 || kType == GgmlType::Q5_1;
  static constexpr bool kSigned = kType == GgmlType::Q8_0 || kType == GgmlType::IQ4_NL;
  static constexpr int kShift = kType == GgmlType::Q4_0 ? 3 : kType == GgmlType::Q5_0 ? 4 : kSigned ? 7 : 0;
  static constexpr size_t kBytes = kType == GgmlType::Q4_0   ? sizeof(block_q4_0)
                                   : kType == GgmlType::Q4_1 ? sizeof(block_q4_1)
                                   : kType == GgmlType::Q5_0 ? sizeof(block_q5_0)
                                   : kType == GgmlType::Q5_1 ? sizeof(block_q5_1)
                                   : kType == GgmlType::Q8_0 ? sizeof(block_q8_0)
                                                             : sizeof(block_iq4_nl);
  static constexpr int64_t kElems = 32;
  static constexpr bool kQ8_1 = kMin;  // the activation type: Q8_1, else Q8_0
  static constexpr size_t kActBytes = kQ8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
  static constexpr size_t kActQs = kQ8_1 ? 4 : 2;

  // Per token and block: the scale d, Q8_1's s, and -(sum(a) << kShift).
  struct Act {
    float d, s;
    int32_t off;
  };
  LANE_INLINE static Act prepare(const uint8_t* blk) {
    return Act{load_fp16(blk), kQ8_1 ? load_fp16(blk + 2) : 0.0f, -(sum32(blk + kActQs) * (1 << kShift))};
  }

  // rows[e] + off: row e's block; vindex: the rows' offsets from rows[0] (for the gather).
  // kFirst: the row's first block, where the 32 bytes that end at the block end start before the row.
  template <bool kFirst>
  LANE_INLINE static void decode(const uint8_t* const* rows, size_t off, __m512i vindex, __m512i w[8], __m512& dw, __m512& mw) {
    if constexpr (kType == GgmlType::Q8_0) {
      // 34 bytes: the scales through a gather (a slow one, but Q8_0 rows stream from memory).
      dw = low_fp16(_mm512_i32gather_epi32(vindex, rows[0] + off, 1));
      transpose16x8(rows, static_cast<ptrdiff_t>(off) + 2, w);
      for (int g = 0; g < 8; ++g) w[g] = _mm512_xor_si512(w[g], _mm512_set1_epi8(static_cast<char>(0x80)));
    } else {
      // The 32 bytes that end where the block ends: the nibbles are dwords 4..7, the header
      // (d, m, qh) ends at dword 3. No gather: it costs as much as the rest of the decode.
      __m512i q[8];
      transpose16x8<kFirst ? 32 - kBytes : 0>(rows, static_cast<ptrdiff_t>(off + kBytes) - 32, q);
      constexpr int kHead = 32 - static_cast<int>(kBytes);  // where the block starts in the window
      const __m512i h = q[kHead / 4];
      dw = kHead % 4 == 0 ? low_fp16(h) : high_fp16(h);
      if constexpr (kMin) mw = high_fp16(h);
      const __m512i m4 = _mm512_set1_epi8(0x0F);
      for (int g = 0; g < 4; ++g) {  // dword g: low nibbles are elements 4g.., high ones 16 + 4g..
        w[g] = _mm512_and_si512(q[4 + g], m4);
        w[g + 4] = _mm512_and_si512(_mm512_srli_epi16(q[4 + g], 4), m4);
      }
      if constexpr (kType == GgmlType::IQ4_NL) {  // the codebook value + 128
        alignas(16) int8_t lut[16];
        for (int i = 0; i < 16; ++i) lut[i] = static_cast<int8_t>(kIq4nlValues[i] ^ 0x80);
        const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(lut)));
        for (int g = 0; g < 8; ++g) w[g] = _mm512_shuffle_epi8(table, w[g]);
      }
      if constexpr (kType == GgmlType::Q5_0 || kType == GgmlType::Q5_1) add_fifth_bits(q[3], w);
    }
  }

  template <bool kFirst, int NT>
  LANE_INLINE static void block(const uint8_t* const* rows, size_t off, __m512i vindex, const uint8_t* const* ablk,
                    const Act* const* x, __m512 (&acc)[NT], Prefetch& pf) {
    pf.upto(off + kBytes);
    __m512i w[8];
    __m512 dw, mw;
    decode<kFirst>(rows, off, vindex, w, dw, mw);
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = ablk[t] + kActQs;
      const __m512i start = kShift > 0 ? _mm512_set1_epi32(x[t]->off) : _mm512_setzero_si512();
      const __m512i isum = dot8<NT <= 2>(start, w, a);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_set1_ps(x[t]->d)), acc[t]);
      if constexpr (kMin) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(x[t]->s), acc[t]);
    }
  }
};

// ---- K types x Q8_K ---------------------------------------------------------------------------

// The sum of 16 int8 quants.
LANE_INLINE int32_t sum16(const uint8_t* q) {
  __m128i s = _mm_dpbusd_epi32(_mm_setzero_si128(), _mm_set1_epi8(1), _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

LANE_INLINE int32_t pack_pair(int32_t lo, int32_t hi) {
  return static_cast<int32_t>((static_cast<uint32_t>(lo) & 0xFFFF) | (static_cast<uint32_t>(hi) << 16));
}

// Byte k (0..3) of each dword, unsigned, and the int16 pairs (byte 0, byte 1), (byte 2, byte 3).
LANE_INLINE __m512i byte_of(__m512i v, int k) { return _mm512_and_si512(_mm512_srli_epi32(v, 8 * k), _mm512_set1_epi32(0xFF)); }
LANE_INLINE __m512i pair_of(__m512i v, int k) {
  return _mm512_or_si512(byte_of(v, 2 * k), _mm512_slli_epi32(byte_of(v, 2 * k + 1), 16));
}

// Q4_K, Q5_K: isum = sum over the 8 sub-blocks j of sc_j * dot_j, msum = sum_j mn_j * (sum of the
// activation's sub-block j); acc = fma(float(isum), d * da, acc), then fnma(float(msum), dmin * da).
template <bool kQ5>
struct KQ45 {
  static constexpr int64_t kElems = QK_K;
  static constexpr size_t kBytes = kQ5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
  static constexpr size_t kActBytes = sizeof(block_q8_K);

  // Per token and block: the scale, and the int16 pairs (sum of sub-block 2c, of 2c + 1).
  struct Act {
    float d;
    int32_t pair[4];
  };
  LANE_INLINE static Act prepare(const uint8_t* blk) {
    Act x;
    std::memcpy(&x.d, blk, 4);
    for (int c = 0; c < 4; ++c) x.pair[c] = pack_pair(sum32(blk + 4 + 64 * c), sum32(blk + 36 + 64 * c));
    return x;
  }

  template <bool kFirst, int NT>
  LANE_INLINE static void block(const uint8_t* const* rows, size_t off, __m512i, const uint8_t* const* ablk, const Act* const* x,
                    __m512 (&acc)[NT], Prefetch& pf) {
    __m512i h[4];  // d | dmin, then the 12 scale bytes (unpack_scale_min_k4's u0, u1, u2)
    transpose16x4(rows, off, h);
    const __m512i m3f = _mm512_set1_epi8(0x3F), m0f = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    // Bytes of v[0], v[1]: the scales 0..3, 4..7; of v[2], v[3]: the mins.
    const __m512i v[4] = {
        _mm512_and_si512(h[1], m3f),
        _mm512_or_si512(_mm512_and_si512(h[3], m0f), _mm512_and_si512(_mm512_srli_epi32(h[1], 2), m30)),
        _mm512_and_si512(h[2], m3f),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(h[3], 4), m0f), _mm512_and_si512(_mm512_srli_epi32(h[2], 2), m30))};
    __m512i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
    __m512i qh[8];
    if constexpr (kQ5) transpose16x8(rows, static_cast<ptrdiff_t>(off) + 16, qh);
    const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
    for (int c = 0; c < 4; ++c) {  // 32 bytes: sub-blocks 2c (low nibbles) and 2c + 1
      pf.upto(off + kBytes * (c + 1) / 4);
      __m512i q[8];
      transpose16x8(rows, static_cast<ptrdiff_t>(off + (kQ5 ? 48 : 16) + 32 * c), q);
      for (int half = 0; half < 2; ++half) {
        const int j = 2 * c + half;
        __m512i w[8];
        for (int g = 0; g < 8; ++g) {
          w[g] = _mm512_and_si512(half ? _mm512_srli_epi16(q[g], 4) : q[g], m4);
          if constexpr (kQ5) w[g] = _mm512_or_si512(w[g], _mm512_and_si512(_mm512_slli_epi16(_mm512_srli_epi16(qh[g], j), 4), b4));
        }
        const __m512i sc = byte_of(v[j / 4], j % 4);
        for (int t = 0; t < NT; ++t)
          isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot8<NT <= 2>(_mm512_setzero_si512(), w, ablk[t] + 4 + 32 * j), sc));
      }
    }
    const __m512i mp[4] = {pair_of(v[2], 0), pair_of(v[2], 1), pair_of(v[3], 0), pair_of(v[3], 1)};
    const __m512 d = low_fp16(h[0]), dmin = high_fp16(h[0]);
    for (int t = 0; t < NT; ++t) {
      __m512i msum = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) msum = _mm512_dpwssd_epi32(msum, mp[c], _mm512_set1_epi32(x[t]->pair[c]));
      const __m512 da = _mm512_set1_ps(x[t]->d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, da), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, da), acc[t]);
    }
  }
};

// start + the 16 rows' dots of w[0..3] with the 16 activation bytes at a.
LANE_INLINE __m512i dot4(__m512i start, const __m512i* w, const uint8_t* a) {
  for (int g = 0; g < 4; ++g) start = _mm512_dpbusd_epi32(start, w[g], _mm512_set1_epi32(static_cast<int>(load_u32(a + 4 * g))));
  return start;
}

// Q2_K, Q3_K, Q6_K (16 sub-blocks of 16, kernels/gemm_k16_formats.h), as the tile kernel applies them:
// Q2_K's acc = fnma(float(msum), dmin * da, acc) with msum = sum_j mn_j * asum_j first, then
// acc = fma(float(isum), d * da, acc) with isum = sum_j sc_j * dot_j - (sum_j sc_j * asum_j) << off.
// F gives the 16 rows' scales as int16 pairs (sub-blocks 2c, 2c + 1) and as int32, and hands
// each 128-element half to `use` as 4 chunks of 8 dword registers, decoded after the transpose
// (the formats' byte operations do not depend on where a byte is), one chunk live at a time.
struct LaneQ2K {
  static constexpr size_t kBytes = sizeof(block_q2_K);
  static constexpr int kOffShift = -1;
  static constexpr bool kMin = true;
  LANE_INLINE static void header(const uint8_t* const* rows, size_t off, __m512i vindex, __m512& d, __m512& dmin, __m512i scp[8],
                     __m512i mnp[8], __m512i sc[16]) {
    const __m512i dd = _mm512_i32gather_epi32(vindex, rows[0] + off + offsetof(block_q2_K, d), 1);
    d = low_fp16(dd);
    dmin = high_fp16(dd);
    __m512i s[4];  // scale | min << 4, bytes 0..15
    transpose16x4(rows, off, s);
    for (int i = 0; i < 4; ++i) {
      const __m512i lo = _mm512_and_si512(s[i], _mm512_set1_epi8(0x0F));
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(s[i], 4), _mm512_set1_epi8(0x0F));
      for (int k = 0; k < 2; ++k) {
        scp[2 * i + k] = pair_of(lo, k);
        mnp[2 * i + k] = pair_of(hi, k);
      }
      for (int k = 0; k < 4; ++k) sc[4 * i + k] = byte_of(lo, k);
    }
  }
  template <class Use>
  LANE_INLINE static void half(const uint8_t* const* rows, size_t off, int h, Use&& use) {
    __m512i q[8];
    transpose16x8(rows, static_cast<ptrdiff_t>(off + offsetof(block_q2_K, qs) + 32 * h), q);
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int k = 0; k < 4; ++k) {
      __m512i w[8];
      for (int g = 0; g < 8; ++g) w[g] = _mm512_and_si512(_mm512_srli_epi16(q[g], 2 * k), m3);
      use(k, w);
    }
  }
};

struct LaneQ3K {
  static constexpr size_t kBytes = sizeof(block_q3_K);
  static constexpr int kOffShift = 2;
  static constexpr bool kMin = false;
  LANE_INLINE static void header(const uint8_t* const* rows, size_t off, __m512i, __m512& d, __m512&, __m512i scp[8], __m512i*,
                     __m512i sc[16]) {
    // The 16 bytes ending at the block end: 2 bytes of qs, the 12 scale bytes, d.
    constexpr size_t kAt = offsetof(block_q3_K, d) + 2 - 16;
    static_assert(offsetof(block_q3_K, scales) == kAt + 2);
    __m512i v[4];
    transpose16x4(rows, off + kAt, v);
    d = high_fp16(v[3]);
    auto sbyte = [&](int i) { return byte_of(v[(i + 2) / 4], (i + 2) % 4); };  // scale byte i
    // unpack_q3_K_scales: low 4 bits from the nibbles of bytes 0..7, bits 4..5 from bytes 8..11.
    for (int i = 0; i < 16; ++i) {
      const __m512i low = i < 8 ? _mm512_and_si512(sbyte(i), _mm512_set1_epi32(0x0F)) : _mm512_srli_epi32(sbyte(i - 8), 4);
      const __m512i high = _mm512_and_si512(_mm512_srli_epi32(sbyte(8 + i % 4), 2 * (i / 4)), _mm512_set1_epi32(3));
      sc[i] = _mm512_sub_epi32(_mm512_or_si512(low, _mm512_slli_epi32(high, 4)), _mm512_set1_epi32(32));
    }
    for (int c = 0; c < 8; ++c)
      scp[c] = _mm512_or_si512(_mm512_and_si512(sc[2 * c], _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(sc[2 * c + 1], 16));
  }
  // u = low 2 bits + 4 * (high bit): the stored value + 4.
  template <class Use>
  LANE_INLINE static void half(const uint8_t* const* rows, size_t off, int h, Use&& use) {
    __m512i q[8], hb[8];
    transpose16x8(rows, static_cast<ptrdiff_t>(off + offsetof(block_q3_K, qs) + 32 * h), q);
    transpose16x8(rows, static_cast<ptrdiff_t>(off + offsetof(block_q3_K, hmask)), hb);
    // Chunk 4h + k: bit 4h + k of each hmask byte, moved to bit 2.
    for (int g = 0; g < 8; ++g) hb[g] = h == 0 ? _mm512_slli_epi16(hb[g], 2) : _mm512_srli_epi16(hb[g], 2);
    const __m512i m3 = _mm512_set1_epi8(3), m4 = _mm512_set1_epi8(4);
    for (int k = 0; k < 4; ++k) {
      __m512i w[8];
      for (int g = 0; g < 8; ++g)
        w[g] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q[g], 2 * k), m3), _mm512_and_si512(_mm512_srli_epi16(hb[g], k), m4));
      use(k, w);
    }
  }
};

struct LaneQ6K {
  static constexpr size_t kBytes = sizeof(block_q6_K);
  static constexpr int kOffShift = 5;
  static constexpr bool kMin = false;
  LANE_INLINE static void header(const uint8_t* const* rows, size_t off, __m512i vindex, __m512& d, __m512&, __m512i scp[8], __m512i*,
                     __m512i sc[16]) {
    // The dword ending at d (the block's last bytes).
    d = high_fp16(_mm512_i32gather_epi32(vindex, rows[0] + off + offsetof(block_q6_K, d) - 2, 1));
    __m512i s[4];  // int8 scales 0..15
    transpose16x4(rows, off + offsetof(block_q6_K, scales), s);
    for (int i = 0; i < 4; ++i) {
      const __m512i even = _mm512_srai_epi16(_mm512_slli_epi16(s[i], 8), 8);  // bytes 0, 2 as int16
      const __m512i odd = _mm512_srai_epi16(s[i], 8);                         // bytes 1, 3
      scp[2 * i] = _mm512_or_si512(_mm512_and_si512(even, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(odd, 16));
      scp[2 * i + 1] = _mm512_or_si512(_mm512_srli_epi32(even, 16), _mm512_andnot_si512(_mm512_set1_epi32(0xFFFF), odd));
      for (int k = 0; k < 4; ++k) sc[4 * i + k] = _mm512_srai_epi32(_mm512_slli_epi32(s[i], 24 - 8 * k), 24);
    }
  }
  template <class Use>
  LANE_INLINE static void half(const uint8_t* const* rows, size_t off, int h, Use&& use) {
    __m512i qh[8], ql[8], w[8];
    transpose16x8(rows, static_cast<ptrdiff_t>(off + offsetof(block_q6_K, qh) + 32 * h), qh);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int l = 0; l < 2; ++l) {  // ql bytes 64h + 32l..: chunks l (low nibbles) and l + 2 (high)
      transpose16x8(rows, static_cast<ptrdiff_t>(off + 64 * h + 32 * l), ql);
      for (int g = 0; g < 8; ++g)  // qh bits 2l, 2l + 1 to bits 4, 5
        w[g] = _mm512_or_si512(_mm512_and_si512(ql[g], m4), _mm512_and_si512(_mm512_slli_epi16(qh[g], 4 - 2 * l), m30));
      use(l, w);
      for (int g = 0; g < 8; ++g)  // qh bits 4 + 2l, 5 + 2l
        w[g] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql[g], 4), m4),
                               _mm512_and_si512(_mm512_srli_epi16(qh[g], 2 * l), m30));
      use(l + 2, w);
    }
  }
};

template <class F>
struct K16 {
  static constexpr int64_t kElems = QK_K;
  static constexpr size_t kBytes = F::kBytes;
  static constexpr size_t kActBytes = sizeof(block_q8_K);

  // Per token and block: the scale, and the int16 pairs (sum of sub-block 2c, of 2c + 1) of
  // its 16-element sub-blocks.
  struct Act {
    float d;
    int32_t pair[8];
  };
  LANE_INLINE static Act prepare(const uint8_t* blk) {
    Act x;
    std::memcpy(&x.d, blk, 4);
    for (int c = 0; c < 8; ++c) x.pair[c] = pack_pair(sum16(blk + 4 + 32 * c), sum16(blk + 20 + 32 * c));
    return x;
  }
  // sum_j x_j * asum_j, from the pairs of x.
  LANE_INLINE static __m512i scaled_sums(const __m512i p[8], const Act& x) {
    __m512i s = _mm512_setzero_si512();
    for (int c = 0; c < 8; ++c) s = _mm512_dpwssd_epi32(s, p[c], _mm512_set1_epi32(x.pair[c]));
    return s;
  }

  template <bool kFirst, int NT>
  LANE_INLINE static void block(const uint8_t* const* rows, size_t off, __m512i vindex, const uint8_t* const* ablk, const Act* const* x,
                    __m512 (&acc)[NT], Prefetch& pf) {
    __m512 d, dmin;
    __m512i scp[8], mnp[8], sc[16];
    F::header(rows, off, vindex, d, dmin, scp, mnp, sc);
    __m512i isum[NT];
    for (int t = 0; t < NT; ++t) {
      if constexpr (F::kMin)
        acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(scaled_sums(mnp, *x[t])), _mm512_mul_ps(dmin, _mm512_set1_ps(x[t]->d)), acc[t]);
      isum[t] = F::kOffShift >= 0 ? _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(scaled_sums(scp, *x[t]), F::kOffShift))
                                  : _mm512_setzero_si512();
    }
    for (int h = 0; h < 2; ++h)
      F::half(rows, off, h, [&](int k, const __m512i w[8]) {
        const int c = 4 * h + k;  // chunk: sub-blocks 2c (groups 0..3) and 2c + 1 (groups 4..7)
        pf.upto(off + kBytes * (c + 1) / 8);
        for (int sub = 0; sub < 2; ++sub)
          for (int t = 0; t < NT; ++t)
            isum[t] = _mm512_add_epi32(
                isum[t], _mm512_mullo_epi32(dot4(_mm512_setzero_si512(), w + 4 * sub, ablk[t] + 4 + 32 * c + 16 * sub), sc[2 * c + sub]));
      });
    for (int t = 0; t < NT; ++t)
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(x[t]->d)), acc[t]);
  }
};

// IQ4_XS: each sub-block of 32 applied as IQ4_NL's blocks are, with the float scale d * ls_c:
// dot_c = dot(v + 128, a) - (sum_c(a) << 7), acc = fma(float(dot_c), (d * ls_c) * da, acc).
struct IQ4XS {
  static constexpr int64_t kElems = QK_K;
  static constexpr size_t kBytes = sizeof(block_iq4_xs);
  static constexpr size_t kActBytes = sizeof(block_q8_K);

  struct Act {
    float d;
    int32_t off[8];  // -(sum of sub-block c) << 7
  };
  LANE_INLINE static Act prepare(const uint8_t* blk) {
    Act x;
    std::memcpy(&x.d, blk, 4);
    for (int c = 0; c < 8; ++c) x.off[c] = -(sum32(blk + 4 + 32 * c) * 128);
    return x;
  }

  template <bool kFirst, int NT>
  LANE_INLINE static void block(const uint8_t* const* rows, size_t off, __m512i, const uint8_t* const* ablk, const Act* const* x,
                    __m512 (&acc)[NT], Prefetch& pf) {
    __m512i h[4];  // d | scales_h << 16, scales_l, then nibbles
    transpose16x4(rows, off, h);
    const __m512 d = low_fp16(h[0]);
    const __m512i sh = _mm512_srli_epi32(h[0], 16);
    alignas(16) int8_t lut[16];
    for (int i = 0; i < 16; ++i) lut[i] = static_cast<int8_t>(kIq4nlValues[i] ^ 0x80);
    const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(lut)));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int p = 0; p < 4; ++p) {  // 32 bytes: sub-blocks 2p (dwords 0..3) and 2p + 1
      pf.upto(off + kBytes * (p + 1) / 4);
      __m512i q[8];
      transpose16x8(rows, static_cast<ptrdiff_t>(off + offsetof(block_iq4_xs, qs) + 32 * p), q);
      for (int sub = 0; sub < 2; ++sub) {
        const int c = 2 * p + sub;
        __m512i w[8];
        for (int g = 0; g < 4; ++g) {
          w[g] = _mm512_shuffle_epi8(table, _mm512_and_si512(q[4 * sub + g], m4));
          w[g + 4] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q[4 * sub + g], 4), m4));
        }
        const __m512i ls = _mm512_sub_epi32(
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(h[1], 4 * c), _mm512_set1_epi32(0x0F)),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(sh, 2 * c), _mm512_set1_epi32(3)), 4)),
            _mm512_set1_epi32(32));
        const __m512 dls = _mm512_mul_ps(d, _mm512_cvtepi32_ps(ls));
        for (int t = 0; t < NT; ++t) {
          const __m512i dot = dot8<NT <= 2>(_mm512_set1_epi32(x[t]->off[c]), w, ablk[t] + 4 + 32 * c);
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dls, _mm512_set1_ps(x[t]->d)), acc[t]);
        }
      }
    }
  }
};

// next: the rows of the group after this one (Prefetch). a[t]: token t's activation row.
template <class W, int NT>
void row_group(const uint8_t* const* rows, const uint8_t* const* next, __m512i vindex, int64_t nb, const uint8_t* const* a,
               const typename W::Act* const* ab, __m512 (&acc)[NT]) {
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  Prefetch pf{next};
  for (int64_t b = 0; b < nb; ++b) {
    const size_t off = static_cast<size_t>(b) * W::kBytes;
    const uint8_t* ablk[NT];
    const typename W::Act* x[NT];
    for (int t = 0; t < NT; ++t) {
      ablk[t] = a[t] + static_cast<size_t>(b) * W::kActBytes;
      x[t] = ab[t] + b;
    }
    if (b == 0) W::template block<true, NT>(rows, off, vindex, ablk, x, acc, pf);
    else W::template block<false, NT>(rows, off, vindex, ablk, x, acc, pf);
  }
}

template <class W>
void lane_rows(int64_t n, const uint8_t* w, size_t row_stride, int64_t n_rows, const uint8_t* acts, size_t act_stride,
               int64_t n_acts, float* out, size_t out_stride) {
  using Act = typename W::Act;
  const int64_t nb = n / W::kElems;
  LaneActs<W, kMaxTok> prepared(nb);
  for (int64_t t0 = 0; t0 < n_acts; t0 += kMaxTok) {
    const int nt = static_cast<int>(std::min<int64_t>(kMaxTok, n_acts - t0));
    const uint8_t* a[kMaxTok];
    const Act* ab[kMaxTok];
    for (int t = 0; t < nt; ++t) {
      a[t] = acts + static_cast<size_t>(t0 + t) * act_stride;
      ab[t] = prepared.prepare(t, a[t]);
    }
    for (int64_t r0 = 0; r0 < n_rows; r0 += kLanes) {
      const int nr = static_cast<int>(std::min<int64_t>(kLanes, n_rows - r0));
      // A short last group repeats its last row in the spare lanes, which are not stored.
      const uint8_t* rows[kLanes];
      const uint8_t* next[kLanes];
      alignas(64) int32_t offs[kLanes];
      const int64_t last = n_rows - 1;
      for (int e = 0; e < kLanes; ++e) {
        offs[e] = static_cast<int32_t>(static_cast<size_t>(std::min(e, nr - 1)) * row_stride);
        rows[e] = w + static_cast<size_t>(r0) * row_stride + static_cast<size_t>(offs[e]);
        next[e] = w + static_cast<size_t>(std::min(last, r0 + kPrefetchRows + e)) * row_stride;
      }
      const __m512i vindex = _mm512_load_si512(offs);
      const auto mask = static_cast<__mmask16>((1u << nr) - 1);
      auto run = [&]<int NT>() {
        __m512 acc[NT];
        row_group<W, NT>(rows, next, vindex, nb, a, ab, acc);
        for (int t = 0; t < NT; ++t)
          _mm512_mask_storeu_ps(out + static_cast<size_t>(t0 + t) * out_stride + static_cast<size_t>(r0), mask, acc[t]);
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
ACTINFER_LANE_ROWS(lane_rows_q4_0_avx512, Block32<GgmlType::Q4_0>)
ACTINFER_LANE_ROWS(lane_rows_q4_1_avx512, Block32<GgmlType::Q4_1>)
ACTINFER_LANE_ROWS(lane_rows_q5_0_avx512, Block32<GgmlType::Q5_0>)
ACTINFER_LANE_ROWS(lane_rows_q5_1_avx512, Block32<GgmlType::Q5_1>)
ACTINFER_LANE_ROWS(lane_rows_q8_0_avx512, Block32<GgmlType::Q8_0>)
ACTINFER_LANE_ROWS(lane_rows_iq4_nl_avx512, Block32<GgmlType::IQ4_NL>)
ACTINFER_LANE_ROWS(lane_rows_q4_K_avx512, KQ45<false>)
ACTINFER_LANE_ROWS(lane_rows_q5_K_avx512, KQ45<true>)
ACTINFER_LANE_ROWS(lane_rows_q2_K_avx512, K16<LaneQ2K>)
ACTINFER_LANE_ROWS(lane_rows_q3_K_avx512, K16<LaneQ3K>)
ACTINFER_LANE_ROWS(lane_rows_q6_K_avx512, K16<LaneQ6K>)
ACTINFER_LANE_ROWS(lane_rows_iq4_xs_avx512, IQ4XS)
#undef ACTINFER_LANE_ROWS

}  // namespace actinfer::kernels

#undef LANE_INLINE

#endif  // ACTINFER_HAVE_AVX512_GEMM
