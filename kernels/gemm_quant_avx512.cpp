// AVX-512 VNNI tiled GEMM (kernels/gemm_quant.h) of every type gemm_quant_avx2.cpp covers
// (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS) with prompt batches, used where the
// compiler targets AVX-512 F, BW, VL and VNNI. The results are bit-identical to the AVX2
// kernel's: both compute the same exact integer dot per (row, token, block) and apply it with
// the same float operations in the same order (acc = fma(float(isum), dw * da, acc), then
// Q4_1/Q5_1's acc = fma(m, s, acc), Q4_K/Q5_K's acc = fnma(float(msum), dmin * da, acc)).
//
// What differs is how the integers are made:
// - vpdpbusd sums 4 unsigned-weight x signed-activation products straight into int32, where
//   AVX2 needs vpmaddubsw + int16 adds + vpmaddwd. Signed weights (Q8_0, IQ4_NL) are made
//   unsigned by adding 128 and the offset folded in with the activation sums, as Q4_0's -8 is:
//   isum = dot(w + 128, a) - 128 * sum(a), the same integer.
// - K types: one vpdpbusd chain per sub-block, scaled by its integer scale with vpmulld.
// - The lanes are 16 tokens: pairs of the caller's 8-token tiles are merged once per call into
//   a 64-byte-per-group layout (the cost is one pass over the activations, shared by all rows).
// - A register tile is kR rows x kT pairs (32 tokens), with 32 zmm registers to hold it; the
//   merged pairs are processed in chunks that stay in L2 while every row meets them.
// - At most 8 tokens (a server's decode step): the lanes are 2 rows x 8 tokens instead
//   (run_rows2), so half of each register is not wasted on absent tokens.
#include "kernels/type_kernels.h"

#if ACTINFER_HAVE_AVX512_GEMM

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

#include "kernels/gemm_k16_formats.h"
#include "kernels/gemm_quant.h"
#include "kernels/quant_blocks.h"

// GCC 12 warns that the _mm512_undefined_* inside its own intrinsics (inserti64x4, cvtph_ps,
// ...) may be used uninitialized once inlined: a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace actinfer::kernels {
namespace {

constexpr int kTok = kGemmTileTokens;  // tokens per caller tile
constexpr int kPairTok = 2 * kTok;     // tokens per merged pair: one int32 lane each
constexpr int kR = 4;                  // weight rows per register tile
constexpr int kT = 2;                  // merged pairs per register tile
constexpr int64_t kChunk = 32;         // elements per block

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// ---- the merged activations of 16 tokens ----------------------------------------------------
// For C = n / 32 blocks, in 64-byte units:
//   groups[8c + g]  token t's elements 32c + 4g .. 32c + 4g + 3 in bytes 4t .. 4t + 3
//   off[c]          32-element blocks: int32 per token, -(sum of its 32 quants of block c) << shift;
//                   Q4_K, Q5_K: int16 pairs per token, (sum of chunk 2c, of chunk 2c + 1) (c < C / 2);
//                   Q6_K: int16 pairs per token, (sum of elements 32c..32c+15, of 32c+16..32c+31)
//   d[c], s[c]      float per token: the activation's scale and Q8_1's s of block c (Q8_K:
//                   256-element blocks, c < C / 8)
struct Pair {
  const __m512i* groups;
  const __m512i* off;
  const __m512* d;
  const __m512* s;
};

size_t pair_bytes(int64_t n) { return static_cast<size_t>(n / kChunk) * (8 + 3) * 64; }

Pair pair_view(const uint8_t* base, int64_t n) {
  const int64_t c = n / kChunk;
  const auto* g = reinterpret_cast<const __m512i*>(base);
  const __m512i* off = g + 8 * c;
  const auto* d = reinterpret_cast<const __m512*>(off + c);
  return Pair{g, off, d, d + c};
}

// The caller's tile layout (gemm_quant_avx2.cpp's prepare_tile), in 32-byte units: groups
// [8C], sum [C], pair16 [C], pair32 [C], d [C], s [C].
enum class OffKind { kShiftedSums, kPair16, kPair32 };

void merge_pair(const uint8_t* t0, const uint8_t* t1, int64_t n, int shift, OffKind kind, uint8_t* out) {
  const int64_t C = n / kChunk;
  auto* groups = reinterpret_cast<__m512i*>(out);
  __m512i* off = groups + 8 * C;
  auto* d = reinterpret_cast<__m512*>(off + C);
  __m512* s = d + C;
  auto half = [](const uint8_t* t, int64_t unit) {
    return t == nullptr ? _mm256_setzero_si256() : _mm256_load_si256(reinterpret_cast<const __m256i*>(t) + unit);
  };
  auto both = [&](int64_t unit) { return _mm512_inserti64x4(_mm512_castsi256_si512(half(t0, unit)), half(t1, unit), 1); };
  for (int64_t u = 0; u < 8 * C; ++u) _mm512_store_si512(groups + u, both(u));
  for (int64_t c = 0; c < C; ++c) {
    if (kind == OffKind::kPair16) _mm512_store_si512(off + c, both(9 * C + c));
    else if (kind == OffKind::kPair32) _mm512_store_si512(off + c, both(10 * C + c));
    else _mm512_store_si512(off + c, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(both(8 * C + c), shift)));
    _mm512_store_si512(d + c, both(11 * C + c));
    _mm512_store_si512(s + c, both(12 * C + c));
  }
}

// One tile of at most 8 tokens for the two-row kernels: each token's lane is doubled (lanes 2t
// and 2t + 1 hold token t), so a 16-lane register carries 8 tokens of 2 weight rows, the even
// lanes meeting one row and the odd lanes the next. Same layout as merge_pair otherwise.
void merge_dup(const uint8_t* t0, int64_t n, int shift, OffKind kind, uint8_t* out) {
  const int64_t C = n / kChunk;
  auto* groups = reinterpret_cast<__m512i*>(out);
  __m512i* off = groups + 8 * C;
  auto* d = reinterpret_cast<__m512*>(off + C);
  __m512* s = d + C;
  const __m512i twice = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  auto dup = [&](int64_t unit) {
    return _mm512_permutexvar_epi32(twice, _mm512_castsi256_si512(_mm256_load_si256(reinterpret_cast<const __m256i*>(t0) + unit)));
  };
  for (int64_t u = 0; u < 8 * C; ++u) _mm512_store_si512(groups + u, dup(u));
  for (int64_t c = 0; c < C; ++c) {
    if (kind == OffKind::kPair16) _mm512_store_si512(off + c, dup(9 * C + c));
    else if (kind == OffKind::kPair32) _mm512_store_si512(off + c, dup(10 * C + c));
    else _mm512_store_si512(off + c, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(dup(8 * C + c), shift)));
    _mm512_store_ps(d + c, _mm512_castsi512_ps(dup(11 * C + c)));
    _mm512_store_ps(s + c, _mm512_castsi512_ps(dup(12 * C + c)));
  }
}

// Two-row kernels: per-row values in the lanes of their row (even: row 2v, odd: row 2v + 1).
inline __m512i rows2_epi32(uint32_t even, uint32_t odd) {
  return _mm512_set1_epi64(static_cast<long long>(static_cast<uint64_t>(even) | (static_cast<uint64_t>(odd) << 32)));
}
inline __m512 rows2_fp16(const uint8_t* even, const uint8_t* odd) {
  return _mm512_cvtph_ps(_mm256_set1_epi32(static_cast<int>(load_u16(even) | (static_cast<uint32_t>(load_u16(odd)) << 16))));
}
// Two rows' decoded 32 values interleaved by dword (row a's group g, row b's group g, ...), so
// that one 64-bit broadcast puts group g of both rows in their lanes.
inline void interleave_rows(__m256i a, __m256i b, uint8_t* out) {
  const __m256i lo = _mm256_unpacklo_epi32(a, b), hi = _mm256_unpackhi_epi32(a, b);
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), _mm256_permute2x128_si256(lo, hi, 0x20));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out) + 1, _mm256_permute2x128_si256(lo, hi, 0x31));
}
// Stops the compiler from keeping interleaved rows in registers and broadcasting them with
// shuffles (2-3 per group, on the shuffle ports the kernel is bound by): after it, each
// broadcast is a load (vpbroadcastq zmm, m64), which the load ports absorb.
inline void keep_in_memory() { asm volatile("" ::: "memory"); }
inline __m512i bcast_rows2(const uint8_t* interleaved, int g) {
  uint64_t v;
  std::memcpy(&v, interleaved + 8 * g, 8);
  return _mm512_set1_epi64(static_cast<long long>(v));
}

// The 32 nibbles of 16 bytes in element order (low nibbles are elements 0..15).
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i x = load128(qs);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m4), _mm_and_si128(x, m4));
}

inline __m256i q5_values(const uint8_t* qh, const uint8_t* qs) {
  // Byte i gets 0x10 where bit i of qh is set.
  const __m256i low = nibbles32(qs);
  return _mm256_mask_blend_epi8(static_cast<__mmask32>(load_u32(qh)), low, _mm256_or_si256(low, _mm256_set1_epi8(0x10)));
}

template <GgmlType kType>
struct Block32 {
  static constexpr int64_t kElems = 32;
  static constexpr OffKind kOff = OffKind::kShiftedSums;
  static constexpr bool kMin = kType == GgmlType::Q4_1 || kType == GgmlType::Q5_1;
  static constexpr bool kSigned = kType == GgmlType::Q8_0 || kType == GgmlType::IQ4_NL;
  // isum = dot(stored unsigned value, a) - (sum(a) << kShift): Q4_0's -8, Q5_0's -16, and the
  // +128 that makes signed weights unsigned.
  static constexpr int kShift = kType == GgmlType::Q4_0 ? 3 : kType == GgmlType::Q5_0 ? 4 : kSigned ? 7 : 0;
  static constexpr size_t kBytes = kType == GgmlType::Q4_0   ? sizeof(block_q4_0)
                                   : kType == GgmlType::Q4_1 ? sizeof(block_q4_1)
                                   : kType == GgmlType::Q5_0 ? sizeof(block_q5_0)
                                   : kType == GgmlType::Q5_1 ? sizeof(block_q5_1)
                                   : kType == GgmlType::Q8_0 ? sizeof(block_q8_0)
                                                             : sizeof(block_iq4_nl);

  // The block's 32 values as unsigned bytes (signed ones + 128).
  static __m256i decode(const uint8_t* blk) {
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    if constexpr (kType == GgmlType::Q4_0) return nibbles32(blk + 2);
    else if constexpr (kType == GgmlType::Q4_1) return nibbles32(blk + 4);
    else if constexpr (kType == GgmlType::Q5_0) return q5_values(blk + 2, blk + 6);
    else if constexpr (kType == GgmlType::Q5_1) return q5_values(blk + 4, blk + 8);
    else if constexpr (kType == GgmlType::Q8_0) return _mm256_xor_si256(load256(blk + 2), bias);
    else
      return _mm256_xor_si256(_mm256_shuffle_epi8(_mm256_broadcastsi128_si256(load128(kIq4nlValues)), nibbles32(blk + 2)),
                              bias);
  }

  // R rows x T pairs (16 T tokens) of accumulators: acc[r][j].
  template <int R, int T>
  static void run(const uint8_t* const* rows, int64_t nb, const Pair* P, __m512 (&acc)[R][T]) {
    alignas(32) uint8_t w[R][kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      for (int r = 0; r < R; ++r) _mm256_store_si256(reinterpret_cast<__m256i*>(w[r]), decode(rows[r] + b * kBytes));
      __m512i isum[R][T];
      for (int j = 0; j < T; ++j) {
        const __m512i start = kShift > 0 ? _mm512_load_si512(P[j].off + b) : _mm512_setzero_si512();
        for (int r = 0; r < R; ++r) isum[r][j] = start;
      }
      for (int g = 0; g < 8; ++g) {
        __m512i a[T];
        for (int j = 0; j < T; ++j) a[j] = _mm512_load_si512(P[j].groups + 8 * b + g);
        for (int r = 0; r < R; ++r) {
          const __m512i wv = _mm512_set1_epi32(static_cast<int>(load_u32(w[r] + 4 * g)));
          for (int j = 0; j < T; ++j) isum[r][j] = _mm512_dpbusd_epi32(isum[r][j], wv, a[j]);
        }
      }
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = rows[r] + b * kBytes;
        const __m512 dw = _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<int16_t>(load_u16(blk))));
        for (int j = 0; j < T; ++j)
          acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][j]), _mm512_mul_ps(dw, _mm512_load_ps(P[j].d + b)), acc[r][j]);
        if constexpr (kMin) {
          const __m512 mw = _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<int16_t>(load_u16(blk + 2))));
          for (int j = 0; j < T; ++j) acc[r][j] = _mm512_fmadd_ps(mw, _mm512_load_ps(P[j].s + b), acc[r][j]);
        }
      }
    }
  }

  // Two blocks' values interleaved by dword (interleave_rows). Nibble types interleave the
  // packed bytes first: low nibbles are groups 0..3, high ones 4..7, so one unpack per half
  // does it before the nibbles are split (and looked up: IQ4_NL's table is per byte).
  static constexpr bool kNibbles = kType == GgmlType::Q4_0 || kType == GgmlType::Q4_1 || kType == GgmlType::IQ4_NL;
  static void decode_rows2(const uint8_t* a, const uint8_t* b, uint8_t* out) {
    if constexpr (kNibbles) {
      constexpr int kQs = kType == GgmlType::Q4_1 ? 4 : 2;
      const __m128i qa = load128(a + kQs), qb = load128(b + kQs);
      const __m256i q = _mm256_set_m128i(_mm_unpackhi_epi32(qa, qb), _mm_unpacklo_epi32(qa, qb));
      const __m256i m4 = _mm256_set1_epi8(0x0F);
      __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if constexpr (kType == GgmlType::IQ4_NL) {
        const __m256i table = _mm256_broadcastsi128_si256(load128(kIq4nlValues));
        const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
        lo = _mm256_xor_si256(_mm256_shuffle_epi8(table, lo), bias);
        hi = _mm256_xor_si256(_mm256_shuffle_epi8(table, hi), bias);
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(out) + 1, hi);
    } else {
      interleave_rows(decode(a), decode(b), out);
    }
  }

  // V pairs of rows x the 8 tokens of a doubled tile (merge_dup): acc[v] lanes 2t, 2t + 1 =
  // (rows 2v, 2v + 1) x token t, each lane the same operations as run's.
  static constexpr bool kTwoRows = true;
  template <int V>
  static void run_rows2(const uint8_t* const* rows, int64_t nb, const Pair& P, __m512 (&acc)[V]) {
    alignas(64) uint8_t w[V][2 * kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      for (int v = 0; v < V; ++v) decode_rows2(rows[2 * v] + b * kBytes, rows[2 * v + 1] + b * kBytes, w[v]);
      if constexpr (kNibbles) keep_in_memory();  // measured: faster for these, slower for Q8_0
      const __m512i start = kShift > 0 ? _mm512_load_si512(P.off + b) : _mm512_setzero_si512();
      __m512i isum[V];
      for (int v = 0; v < V; ++v) isum[v] = start;
      for (int g = 0; g < 8; ++g) {
        const __m512i a = _mm512_load_si512(P.groups + 8 * b + g);
        for (int v = 0; v < V; ++v) isum[v] = _mm512_dpbusd_epi32(isum[v], bcast_rows2(w[v], g), a);
      }
      for (int v = 0; v < V; ++v) {
        const uint8_t* b0 = rows[2 * v] + b * kBytes;
        const uint8_t* b1 = rows[2 * v + 1] + b * kBytes;
        acc[v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[v]), _mm512_mul_ps(rows2_fp16(b0, b1), _mm512_load_ps(P.d + b)), acc[v]);
        if constexpr (kMin) acc[v] = _mm512_fmadd_ps(rows2_fp16(b0 + 2, b1 + 2), _mm512_load_ps(P.s + b), acc[v]);
      }
    }
  }
};

// ---- K quants x Q8_K ----------------------------------------------------------------------


// isum = sum over the 8 sub-blocks j of sc_j * dot_j (each dot_j one vpdpbusd chain, then
// scaled with vpmulld), msum = sum_j mn_j * (sum of the activation's sub-block j): the same
// integers as the AVX2 kernel's int16 route.
template <bool kQ5>
struct KQ45 {
  static constexpr int64_t kElems = QK_K;
  static constexpr OffKind kOff = OffKind::kPair32;
  static constexpr int kShift = 0;
  static constexpr size_t kBytes = kQ5 ? sizeof(block_q5_K) : sizeof(block_q4_K);

  template <int R, int T>
  static void run(const uint8_t* const* rows, int64_t nb, const Pair* P, __m512 (&acc)[R][T]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    alignas(32) uint8_t lo[R][kChunk], hi[R][kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t sc[R][8], mn[R][8];
      __m512i isum[R][T], msum[R][T];
      for (int r = 0; r < R; ++r) {
        unpack_scale_min_k4(rows[r] + b * kBytes + 4, sc[r], mn[r]);
        for (int j = 0; j < T; ++j) isum[r][j] = msum[r][j] = _mm512_setzero_si512();
      }
      for (int c = 0; c < 4; ++c) {  // chunks 2c (low nibbles) and 2c + 1 (high nibbles)
        for (int r = 0; r < R; ++r) {
          const uint8_t* blk = rows[r] + b * kBytes;
          const __m256i q = load256(blk + (kQ5 ? 48 : 16) + 32 * c);
          __m256i l = _mm256_and_si256(q, m4), h = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
          if constexpr (kQ5) {
            const __m256i qh = load256(blk + 16);
            l = _mm256_or_si256(l, _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), b4));
            h = _mm256_or_si256(h, _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), b4));
          }
          _mm256_store_si256(reinterpret_cast<__m256i*>(lo[r]), l);
          _mm256_store_si256(reinterpret_cast<__m256i*>(hi[r]), h);
        }
        for (int half = 0; half < 2; ++half) {
          const int ch = 2 * c + half;
          const uint8_t (*w)[kChunk] = half ? hi : lo;
          __m512i dot[R][T];
          for (int r = 0; r < R; ++r)
            for (int j = 0; j < T; ++j) dot[r][j] = _mm512_setzero_si512();
          for (int g = 0; g < 8; ++g) {
            __m512i a[T];
            for (int j = 0; j < T; ++j) a[j] = _mm512_load_si512(P[j].groups + 8 * (8 * b + ch) + g);
            for (int r = 0; r < R; ++r) {
              const __m512i wv = _mm512_set1_epi32(static_cast<int>(load_u32(w[r] + 4 * g)));
              for (int j = 0; j < T; ++j) dot[r][j] = _mm512_dpbusd_epi32(dot[r][j], wv, a[j]);
            }
          }
          for (int r = 0; r < R; ++r) {
            const __m512i m = _mm512_set1_epi32(sc[r][ch]);
            for (int j = 0; j < T; ++j) isum[r][j] = _mm512_add_epi32(isum[r][j], _mm512_mullo_epi32(dot[r][j], m));
          }
        }
        // mins of sub-blocks 2c, 2c + 1 with the activation's 32-element sums
        for (int r = 0; r < R; ++r) {
          const __m512i m = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(mn[r][2 * c]) |
                                                               (static_cast<uint32_t>(mn[r][2 * c + 1]) << 16)));
          for (int j = 0; j < T; ++j)
            msum[r][j] = _mm512_add_epi32(msum[r][j], _mm512_madd_epi16(_mm512_load_si512(P[j].off + 4 * b + c), m));
        }
      }
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = rows[r] + b * kBytes;
        const __m512 d = _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<int16_t>(load_u16(blk))));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<int16_t>(load_u16(blk + 2))));
        for (int j = 0; j < T; ++j) {
          const __m512 da = _mm512_load_ps(P[j].d + b);
          acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][j]), _mm512_mul_ps(d, da), acc[r][j]);
          acc[r][j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[r][j]), _mm512_mul_ps(dmin, da), acc[r][j]);
        }
      }
    }
  }

  // Two rows per register (Block32::run_rows2): the same operations per (row, token) as run.
  static constexpr bool kTwoRows = true;
  template <int V>
  static void run_rows2(const uint8_t* const* rows, int64_t nb, const Pair& P, __m512 (&acc)[V]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    alignas(64) uint8_t lo[V][2 * kChunk], hi[V][2 * kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t sc[2 * V][8], mn[2 * V][8];
      __m512i isum[V], msum[V];
      for (int r = 0; r < 2 * V; ++r) unpack_scale_min_k4(rows[r] + b * kBytes + 4, sc[r], mn[r]);
      for (int v = 0; v < V; ++v) isum[v] = msum[v] = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {  // chunks 2c (low nibbles) and 2c + 1 (high nibbles)
        for (int v = 0; v < V; ++v) {
          __m256i l[2], h[2];
          for (int i = 0; i < 2; ++i) {
            const uint8_t* blk = rows[2 * v + i] + b * kBytes;
            const __m256i q = load256(blk + (kQ5 ? 48 : 16) + 32 * c);
            l[i] = _mm256_and_si256(q, m4);
            h[i] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if constexpr (kQ5) {
              const __m256i qh = load256(blk + 16);
              l[i] = _mm256_or_si256(l[i], _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), b4));
              h[i] = _mm256_or_si256(h[i], _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), b4));
            }
          }
          interleave_rows(l[0], l[1], lo[v]);
          interleave_rows(h[0], h[1], hi[v]);
        }
        keep_in_memory();
        for (int half = 0; half < 2; ++half) {
          const int ch = 2 * c + half;
          const uint8_t (*w)[2 * kChunk] = half ? hi : lo;
          __m512i dot[V];
          for (int v = 0; v < V; ++v) dot[v] = _mm512_setzero_si512();
          for (int g = 0; g < 8; ++g) {
            const __m512i a = _mm512_load_si512(P.groups + 8 * (8 * b + ch) + g);
            for (int v = 0; v < V; ++v) dot[v] = _mm512_dpbusd_epi32(dot[v], bcast_rows2(w[v], g), a);
          }
          for (int v = 0; v < V; ++v)
            isum[v] = _mm512_add_epi32(isum[v], _mm512_mullo_epi32(dot[v], rows2_epi32(sc[2 * v][ch], sc[2 * v + 1][ch])));
        }
        auto mins = [&](int r) { return static_cast<uint32_t>(mn[r][2 * c]) | (static_cast<uint32_t>(mn[r][2 * c + 1]) << 16); };
        for (int v = 0; v < V; ++v)
          msum[v] = _mm512_add_epi32(msum[v], _mm512_madd_epi16(_mm512_load_si512(P.off + 4 * b + c), rows2_epi32(mins(2 * v), mins(2 * v + 1))));
      }
      const __m512 da = _mm512_load_ps(P.d + b);
      for (int v = 0; v < V; ++v) {
        const uint8_t* b0 = rows[2 * v] + b * kBytes;
        const uint8_t* b1 = rows[2 * v + 1] + b * kBytes;
        acc[v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[v]), _mm512_mul_ps(rows2_fp16(b0, b1), da), acc[v]);
        acc[v] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[v]), _mm512_mul_ps(rows2_fp16(b0 + 2, b1 + 2), da), acc[v]);
      }
    }
  }
};

// Q2_K, Q3_K, Q6_K (kernels/gemm_k16_formats.h): isum = sum over the 16 sub-blocks j of
// sc_j * dot_j - (sum_j sc_j * asum_j) << off, Q2_K's msum = sum_j mn_j * asum_j applied first,
// as the AVX2 kernel does.
template <class F>
struct K16 {
  static constexpr int64_t kElems = QK_K;
  static constexpr OffKind kOff = OffKind::kPair16;
  static constexpr int kShift = 0;
  static constexpr size_t kBytes = F::kBytes;

  // sum_j x_j * asum_j: x[2c], x[2c + 1] are the int16 pair that meets pair c of the sums.
  static __m512i scaled_sums(const Pair& P, int64_t b, const int16_t x[16]) {
    auto pair = [&](int c) { return _mm512_set1_epi32(static_cast<int>(load_u32(x + 2 * c))); };
    __m512i s = _mm512_madd_epi16(_mm512_load_si512(P.off + 8 * b), pair(0));
    for (int c = 1; c < 8; ++c) s = _mm512_dpwssd_epi32(s, _mm512_load_si512(P.off + 8 * b + c), pair(c));
    return s;
  }

  template <int R, int T>
  static void run(const uint8_t* const* rows, int64_t nb, const Pair* P, __m512 (&acc)[R][T]) {
    alignas(32) uint8_t w[4][R][kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      int16_t sc[R][16], mn[R][16];
      __m512i isum[R][T];
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = rows[r] + b * kBytes;
        F::scales(blk, sc[r], mn[r]);
        for (int j = 0; j < T; ++j) {
          if constexpr (F::kMin) {
            const __m512 dmin = _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<int16_t>(load_u16(F::dmin(blk)))));
            acc[r][j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(scaled_sums(P[j], b, mn[r])), _mm512_mul_ps(dmin, _mm512_load_ps(P[j].d + b)),
                                         acc[r][j]);
          }
          if constexpr (F::kOffShift >= 0)
            isum[r][j] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(scaled_sums(P[j], b, sc[r]), F::kOffShift));
          else
            isum[r][j] = _mm512_setzero_si512();
        }
      }
      for (int h = 0; h < 2; ++h) {
        for (int r = 0; r < R; ++r) {
          __m256i v[4];
          F::decode_half(rows[r] + b * kBytes, h, v);
          for (int k = 0; k < 4; ++k) _mm256_store_si256(reinterpret_cast<__m256i*>(w[k][r]), v[k]);
        }
        for (int k = 0; k < 4; ++k) {
          const int c = 4 * h + k;  // chunk: sub-blocks 2c (groups 0..3) and 2c + 1 (groups 4..7)
          for (int sub = 0; sub < 2; ++sub) {
            __m512i dot[R][T];
            for (int r = 0; r < R; ++r)
              for (int j = 0; j < T; ++j) dot[r][j] = _mm512_setzero_si512();
            for (int g = 4 * sub; g < 4 * sub + 4; ++g) {
              __m512i a[T];
              for (int j = 0; j < T; ++j) a[j] = _mm512_load_si512(P[j].groups + 8 * (8 * b + c) + g);
              for (int r = 0; r < R; ++r) {
                const __m512i wv = _mm512_set1_epi32(static_cast<int>(load_u32(w[k][r] + 4 * g)));
                for (int j = 0; j < T; ++j) dot[r][j] = _mm512_dpbusd_epi32(dot[r][j], wv, a[j]);
              }
            }
            for (int r = 0; r < R; ++r) {
              // A dot that fits int16 is scaled and added by vpdpwssd (its high half, the sign,
              // meets a 0).
              const __m512i m = F::kDotFitsInt16 ? _mm512_set1_epi32(static_cast<uint16_t>(sc[r][2 * c + sub]))
                                                 : _mm512_set1_epi32(sc[r][2 * c + sub]);
              for (int j = 0; j < T; ++j)
                isum[r][j] = F::kDotFitsInt16 ? _mm512_dpwssd_epi32(isum[r][j], dot[r][j], m)
                                              : _mm512_add_epi32(isum[r][j], _mm512_mullo_epi32(dot[r][j], m));
            }
          }
        }
      }
      for (int r = 0; r < R; ++r) {
        const __m512 d = _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<int16_t>(load_u16(F::d(rows[r] + b * kBytes)))));
        for (int j = 0; j < T; ++j)
          acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][j]), _mm512_mul_ps(d, _mm512_load_ps(P[j].d + b)), acc[r][j]);
      }
    }
  }

  // Two rows per register (Block32::run_rows2): the same operations per (row, token) as run.
  static __m512i scaled_sums2(const Pair& P, int64_t b, const int16_t x0[16], const int16_t x1[16]) {
    auto pair = [&](int c) { return rows2_epi32(load_u32(x0 + 2 * c), load_u32(x1 + 2 * c)); };
    __m512i s = _mm512_madd_epi16(_mm512_load_si512(P.off + 8 * b), pair(0));
    for (int c = 1; c < 8; ++c) s = _mm512_dpwssd_epi32(s, _mm512_load_si512(P.off + 8 * b + c), pair(c));
    return s;
  }

  static constexpr bool kTwoRows = true;
  template <int V>
  static void run_rows2(const uint8_t* const* rows, int64_t nb, const Pair& P, __m512 (&acc)[V]) {
    alignas(64) uint8_t w[4][V][2 * kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      int16_t sc[2 * V][16], mn[2 * V][16];
      __m512i isum[V];
      const __m512 da = _mm512_load_ps(P.d + b);
      for (int r = 0; r < 2 * V; ++r) F::scales(rows[r] + b * kBytes, sc[r], mn[r]);
      for (int v = 0; v < V; ++v) {
        const uint8_t* b0 = rows[2 * v] + b * kBytes;
        const uint8_t* b1 = rows[2 * v + 1] + b * kBytes;
        if constexpr (F::kMin)
          acc[v] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(scaled_sums2(P, b, mn[2 * v], mn[2 * v + 1])),
                                    _mm512_mul_ps(rows2_fp16(F::dmin(b0), F::dmin(b1)), da), acc[v]);
        if constexpr (F::kOffShift >= 0)
          isum[v] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(scaled_sums2(P, b, sc[2 * v], sc[2 * v + 1]), F::kOffShift));
        else
          isum[v] = _mm512_setzero_si512();
      }
      for (int h = 0; h < 2; ++h) {
        for (int v = 0; v < V; ++v) {
          __m256i x0[4], x1[4];
          F::decode_half(rows[2 * v] + b * kBytes, h, x0);
          F::decode_half(rows[2 * v + 1] + b * kBytes, h, x1);
          for (int k = 0; k < 4; ++k) interleave_rows(x0[k], x1[k], w[k][v]);
        }
        for (int k = 0; k < 4; ++k) {
          const int c = 4 * h + k;  // chunk: sub-blocks 2c (groups 0..3) and 2c + 1 (groups 4..7)
          for (int sub = 0; sub < 2; ++sub) {
            __m512i dot[V];
            for (int v = 0; v < V; ++v) dot[v] = _mm512_setzero_si512();
            for (int g = 4 * sub; g < 4 * sub + 4; ++g) {
              const __m512i a = _mm512_load_si512(P.groups + 8 * (8 * b + c) + g);
              for (int v = 0; v < V; ++v) dot[v] = _mm512_dpbusd_epi32(dot[v], bcast_rows2(w[k][v], g), a);
            }
            for (int v = 0; v < V; ++v) {
              const int16_t s0 = sc[2 * v][2 * c + sub], s1 = sc[2 * v + 1][2 * c + sub];
              if constexpr (F::kDotFitsInt16)
                isum[v] = _mm512_dpwssd_epi32(isum[v], dot[v], rows2_epi32(static_cast<uint16_t>(s0), static_cast<uint16_t>(s1)));
              else
                isum[v] = _mm512_add_epi32(isum[v], _mm512_mullo_epi32(dot[v], rows2_epi32(static_cast<uint32_t>(s0), static_cast<uint32_t>(s1))));
            }
          }
        }
      }
      for (int v = 0; v < V; ++v)
        acc[v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[v]),
                                 _mm512_mul_ps(rows2_fp16(F::d(rows[2 * v] + b * kBytes), F::d(rows[2 * v + 1] + b * kBytes)), da), acc[v]);
    }
  }
};

// IQ4_XS: each sub-block of 32 is applied as IQ4_NL's blocks are, with the float scale d * ls_j
// (exact in float): dot_j = dot(v_j + 128, a) - (sum_j(a) << 7) starts from the tile's shifted
// sums, then acc = fma(float(dot_j), (d * ls_j) * da, acc), as the AVX2 kernel does. No integer
// scale multiply and no block-long integer sums to keep in registers.
struct IQ4XS {
  static constexpr int64_t kElems = QK_K;
  static constexpr OffKind kOff = OffKind::kShiftedSums;
  static constexpr int kShift = 7;
  static constexpr size_t kBytes = sizeof(block_iq4_xs);

  template <int R, int T>
  static void run(const uint8_t* const* rows, int64_t nb, const Pair* P, __m512 (&acc)[R][T]) {
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    alignas(32) uint8_t w[R][kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      float dls[R][8];
      for (int r = 0; r < R; ++r) k16::iq4_xs_float_scales(rows[r] + b * kBytes, dls[r]);
      for (int c = 0; c < 8; ++c) {
        for (int r = 0; r < R; ++r)
          _mm256_store_si256(reinterpret_cast<__m256i*>(w[r]), _mm256_xor_si256(k16::iq4_xs_values(rows[r] + b * kBytes, c), bias));
        __m512i dot[R][T];
        for (int j = 0; j < T; ++j) {
          const __m512i start = _mm512_load_si512(P[j].off + 8 * b + c);
          for (int r = 0; r < R; ++r) dot[r][j] = start;
        }
        for (int g = 0; g < 8; ++g) {
          __m512i a[T];
          for (int j = 0; j < T; ++j) a[j] = _mm512_load_si512(P[j].groups + 8 * (8 * b + c) + g);
          for (int r = 0; r < R; ++r) {
            const __m512i wv = _mm512_set1_epi32(static_cast<int>(load_u32(w[r] + 4 * g)));
            for (int j = 0; j < T; ++j) dot[r][j] = _mm512_dpbusd_epi32(dot[r][j], wv, a[j]);
          }
        }
        for (int r = 0; r < R; ++r) {
          const __m512 s = _mm512_set1_ps(dls[r][c]);
          for (int j = 0; j < T; ++j)
            acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r][j]), _mm512_mul_ps(s, _mm512_load_ps(P[j].d + b)), acc[r][j]);
        }
      }
    }
  }

  // Two rows per register (Block32::run_rows2): the same operations per (row, token) as run.
  static constexpr bool kTwoRows = true;
  template <int V>
  static void run_rows2(const uint8_t* const* rows, int64_t nb, const Pair& P, __m512 (&acc)[V]) {
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    alignas(64) uint8_t w[V][2 * kChunk];
    auto bits = [](float f) { return std::bit_cast<uint32_t>(f); };
    for (int64_t b = 0; b < nb; ++b) {
      float dls[2 * V][8];
      for (int r = 0; r < 2 * V; ++r) k16::iq4_xs_float_scales(rows[r] + b * kBytes, dls[r]);
      const __m512 da = _mm512_load_ps(P.d + b);
      for (int c = 0; c < 8; ++c) {
        for (int v = 0; v < V; ++v)
          interleave_rows(_mm256_xor_si256(k16::iq4_xs_values(rows[2 * v] + b * kBytes, c), bias),
                          _mm256_xor_si256(k16::iq4_xs_values(rows[2 * v + 1] + b * kBytes, c), bias), w[v]);
        keep_in_memory();
        const __m512i start = _mm512_load_si512(P.off + 8 * b + c);
        __m512i dot[V];
        for (int v = 0; v < V; ++v) dot[v] = start;
        for (int g = 0; g < 8; ++g) {
          const __m512i a = _mm512_load_si512(P.groups + 8 * (8 * b + c) + g);
          for (int v = 0; v < V; ++v) dot[v] = _mm512_dpbusd_epi32(dot[v], bcast_rows2(w[v], g), a);
        }
        for (int v = 0; v < V; ++v) {
          const __m512 s = _mm512_castsi512_ps(rows2_epi32(bits(dls[2 * v][c]), bits(dls[2 * v + 1][c])));
          acc[v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[v]), _mm512_mul_ps(s, da), acc[v]);
        }
      }
    }
  }
};

// ---- the driver ---------------------------------------------------------------------------

// Results go through a staging block of kStageRows rows x the chunk's tokens, then to `out` a
// token at a time: stored straight, each register tile's 16 tokens land out_stride floats apart,
// and strides that are multiples of 1-2 KiB (every model width) put them all in one or two L1
// sets, where they evict each other.
constexpr int64_t kStageRows = 64;
// Rows of the next register tiles are fetched ahead of use (DRAM latency, then L2 hits for the
// chunk's other pairs).
constexpr int kPrefetchTiles = 2;

// At most 8 tokens (one tile, a decode step of up to 8 sequences): 16-token lanes would run half
// empty, so the tile's tokens are doubled and each register holds 2 rows x 8 tokens
// (run_rows2), the same operations per (row, token) in half the instructions.
constexpr int kV = 4;  // row pairs per register tile

template <class W>
void gemm_rows2(int64_t n, const uint8_t* w, size_t row_stride, int64_t n_rows, const uint8_t* tile, int64_t n_acts,
                float* out, size_t out_stride) {
  const size_t pb = pair_bytes(n);
  const auto merged = std::make_unique_for_overwrite<uint8_t[]>(pb + 64);
  uint8_t* const buf = merged.get() + (64 - reinterpret_cast<uintptr_t>(merged.get()) % 64) % 64;
  merge_dup(tile, n, W::kShift, W::kOff, buf);
  const Pair P = pair_view(buf, n);
  const int64_t nb = n / W::kElems;
  const size_t row_bytes_used = static_cast<size_t>(nb) * W::kBytes;
  for (int64_t r0 = 0; r0 < n_rows; r0 += 2 * kV) {
    const int nr = static_cast<int>(std::min<int64_t>(2 * kV, n_rows - r0));
    const uint8_t* rows[2 * kV];
    for (int r = 0; r < 2 * kV; ++r) rows[r] = w + static_cast<size_t>(r0 + std::min(r, nr - 1)) * row_stride;
    for (int64_t r = r0 + kPrefetchTiles * 2 * kV; r < std::min(n_rows, r0 + (kPrefetchTiles + 1) * 2 * kV); ++r)
      for (size_t off = 0; off < row_bytes_used; off += 64)
        _mm_prefetch(reinterpret_cast<const char*>(w + static_cast<size_t>(r) * row_stride + off), _MM_HINT_T0);
    __m512 acc[kV];
    for (auto& a : acc) a = _mm512_setzero_ps();
    W::template run_rows2<kV>(rows, nb, P, acc);
    for (int v = 0; v < kV && 2 * v < nr; ++v) {
      alignas(64) float res[kPairTok];
      _mm512_store_ps(res, acc[v]);
      for (int64_t t = 0; t < n_acts; ++t) {
        float* dst = out + static_cast<size_t>(t) * out_stride + static_cast<size_t>(r0 + 2 * v);
        dst[0] = res[2 * t];
        if (2 * v + 1 < nr) dst[1] = res[2 * t + 1];
      }
    }
  }
}

template <class W>
void gemm(int64_t n, const uint8_t* w, size_t row_stride, int64_t n_rows, const uint8_t* tiles, int64_t n_acts,
          float* out, size_t out_stride) {
  if constexpr (requires { W::kTwoRows; })
    if (n_acts <= kTok) return gemm_rows2<W>(n, w, row_stride, n_rows, tiles, n_acts, out, out_stride);
  const size_t tb = gemm_tile_bytes(n), pb = pair_bytes(n);
  const int64_t n_tiles = (n_acts + kTok - 1) / kTok;
  const int64_t n_pairs = (n_tiles + 1) / 2;
  // Pairs in chunks that stay in L2 (about 1 MiB) while the rows of a register tile meet each.
  const int64_t per_chunk = std::min(n_pairs, std::max<int64_t>(1, static_cast<int64_t>((1u << 20) / pb)));
  const size_t stage_floats = static_cast<size_t>(per_chunk * kPairTok * kStageRows);
  const auto merged = std::make_unique_for_overwrite<uint8_t[]>(pb * static_cast<size_t>(per_chunk) + stage_floats * sizeof(float) + 64);
  uint8_t* const buf = merged.get() + (64 - reinterpret_cast<uintptr_t>(merged.get()) % 64) % 64;
  float* const stage = reinterpret_cast<float*>(buf + pb * static_cast<size_t>(per_chunk));
  const int64_t nb = n / W::kElems;
  const size_t row_bytes_used = static_cast<size_t>(nb) * W::kBytes;
  for (int64_t p0 = 0; p0 < n_pairs; p0 += per_chunk) {
    const int64_t p1 = std::min(n_pairs, p0 + per_chunk);
    for (int64_t p = p0; p < p1; ++p) {
      const uint8_t* t0 = tiles + static_cast<size_t>(2 * p) * tb;
      const uint8_t* t1 = 2 * p + 1 < n_tiles ? t0 + tb : nullptr;
      merge_pair(t0, t1, n, W::kShift, W::kOff, buf + static_cast<size_t>(p - p0) * pb);
    }
    const int64_t tok0 = p0 * kPairTok, tok1 = std::min(n_acts, p1 * kPairTok);
    for (int64_t g0 = 0; g0 < n_rows; g0 += kStageRows) {
      const int64_t g1 = std::min(n_rows, g0 + kStageRows);
      for (int64_t r0 = g0; r0 < g1; r0 += kR) {
        const int nr = static_cast<int>(std::min<int64_t>(kR, n_rows - r0));
        const uint8_t* rows[kR];
        for (int r = 0; r < kR; ++r) rows[r] = w + static_cast<size_t>(r0 + std::min(r, nr - 1)) * row_stride;
        for (int64_t r = r0 + kPrefetchTiles * kR; r < std::min(n_rows, r0 + (kPrefetchTiles + 1) * kR); ++r)
          for (size_t off = 0; off < row_bytes_used; off += 64)
            _mm_prefetch(reinterpret_cast<const char*>(w + static_cast<size_t>(r) * row_stride + off), _MM_HINT_T0);
        // Accumulator lanes are tokens: stage[token - tok0][row - g0] for the valid rows and tokens.
        auto store = [&](const __m512& acc, int r, int64_t p) {
          alignas(64) float res[kPairTok];
          _mm512_store_ps(res, acc);
          const int nt = static_cast<int>(std::min<int64_t>(kPairTok, n_acts - p * kPairTok));
          float* dst = stage + static_cast<size_t>((p - p0) * kPairTok) * kStageRows + static_cast<size_t>(r0 - g0 + r);
          for (int t = 0; t < nt; ++t) dst[static_cast<size_t>(t) * kStageRows] = res[t];
        };
        auto tile = [&]<int T>(int64_t p) {
          Pair P[T];
          for (int j = 0; j < T; ++j) P[j] = pair_view(buf + static_cast<size_t>(p - p0 + j) * pb, n);
          __m512 acc[kR][T];
          for (auto& row : acc)
            for (auto& a : row) a = _mm512_setzero_ps();
          W::template run<kR, T>(rows, nb, P, acc);
          for (int r = 0; r < nr; ++r)
            for (int j = 0; j < T; ++j) store(acc[r][j], r, p + j);
        };
        int64_t p = p0;
        for (; p + kT <= p1; p += kT) tile.template operator()<kT>(p);
        for (; p < p1; ++p) tile.template operator()<1>(p);
      }
      for (int64_t t = tok0; t < tok1; ++t)
        std::memcpy(out + static_cast<size_t>(t) * out_stride + static_cast<size_t>(g0),
                    stage + static_cast<size_t>(t - tok0) * kStageRows, static_cast<size_t>(g1 - g0) * sizeof(float));
    }
  }
}

}  // namespace

#define ACTINFER_GEMM(name, W)                                                                                  \
  void name(int64_t n, const void* w, size_t row_stride, int64_t n_rows, const void* tiles, int64_t n_acts,    \
            float* out, size_t out_stride) {                                                                   \
    gemm<W>(n, static_cast<const uint8_t*>(w), row_stride, n_rows, static_cast<const uint8_t*>(tiles), n_acts, \
            out, out_stride);                                                                                  \
  }
ACTINFER_GEMM(gemm_q4_0_avx512, Block32<GgmlType::Q4_0>)
ACTINFER_GEMM(gemm_q4_1_avx512, Block32<GgmlType::Q4_1>)
ACTINFER_GEMM(gemm_q5_0_avx512, Block32<GgmlType::Q5_0>)
ACTINFER_GEMM(gemm_q5_1_avx512, Block32<GgmlType::Q5_1>)
ACTINFER_GEMM(gemm_q8_0_avx512, Block32<GgmlType::Q8_0>)
ACTINFER_GEMM(gemm_iq4_nl_avx512, Block32<GgmlType::IQ4_NL>)
ACTINFER_GEMM(gemm_q4_K_avx512, KQ45<false>)
ACTINFER_GEMM(gemm_q5_K_avx512, KQ45<true>)
ACTINFER_GEMM(gemm_q2_K_avx512, K16<k16::Q2K>)
ACTINFER_GEMM(gemm_q3_K_avx512, K16<k16::Q3K>)
ACTINFER_GEMM(gemm_q6_K_avx512, K16<k16::Q6K>)
ACTINFER_GEMM(gemm_iq4_xs_avx512, IQ4XS)
#undef ACTINFER_GEMM

}  // namespace actinfer::kernels

#endif  // ACTINFER_HAVE_AVX512_GEMM
