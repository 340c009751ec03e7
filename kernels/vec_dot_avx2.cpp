// AVX2 / FMA / F16C kernels for kernels/vec_dot.h.
//
// The quantized kernels multiply 8-bit integers with vpmaddubsw (unsigned x signed bytes ->
// pairs summed to int16; the operand ranges here never saturate) and vpmaddwd (pairs of int16
// -> int32), or with vpdpbusd where the compiler targets AVX512-VNNI (same integer results),
// and apply the float scales once per 32-element block (once per 256-element super-block for
// the K types, whose 6/8-bit sub-block scales are applied as the vpmaddwd multiplier).
//   Q8_0:        4 rows at a time sharing the activation loads and scale conversions.
//   Q4_0, Q4_1:  rows in pairs, the same block of two rows in one register (KQ4Pairs).
//   Q4_K/Q5_K/Q6_K: one row at a time (a super-block is enough work on its own).
//   F32/F16/BF16: 4 rows at a time, 16 floats per step.
// Every row is computed with the same operations in the same order whatever the row grouping
// (n_rows, the caller's split of rows between threads), so results are reproducible.
#include "kernels/vec_dot_avx2.h"

#if ACTINFER_HAVE_AVX2_KERNELS

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace actinfer::avx2 {

namespace {

// ---- helpers --------------------------------------------------------------------------------

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hsum128(__m128 s) {
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline float load_fp16(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}

// Sums of products of unsigned bytes u with signed bytes s, in groups of 4 -> 8 x int32.
// (|u| <= 255 only where |s| * u * 2 < 32768, so vpmaddubsw never saturates here.)
inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// roundf (halves away from zero) of 8 floats, as int32; same results as the scalar quantizer.
inline __m256i round_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_sub_ps(v, t);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 up = _mm256_and_ps(_mm256_cmp_ps(r, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one);
  const __m256 down = _mm256_and_ps(_mm256_cmp_ps(r, _mm256_set1_ps(-0.5f), _CMP_LE_OQ), one);
  return _mm256_cvtps_epi32(_mm256_sub_ps(_mm256_add_ps(t, up), down));
}

// Max |x| over 32 floats.
inline float amax32(const float* x) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256 m = _mm256_and_ps(_mm256_loadu_ps(x), abs_mask);
  m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 8), abs_mask));
  m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 16), abs_mask));
  m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 24), abs_mask));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Quantizes 32 floats with the multiplier id into 32 int8 at q; returns their sum.
inline int quant32(const float* x, float id, int8_t* q) {
  const __m256 vid = _mm256_set1_ps(id);
  const __m256i i0 = round_away(_mm256_mul_ps(_mm256_loadu_ps(x), vid));
  const __m256i i1 = round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8), vid));
  const __m256i i2 = round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 16), vid));
  const __m256i i3 = round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 24), vid));
  // packs work within 128-bit lanes; the final permute restores element order.
  const __m256i p01 = _mm256_packs_epi32(i0, i1);
  const __m256i p23 = _mm256_packs_epi32(i2, i3);
  const __m256i p = _mm256_packs_epi16(p01, p23);
  const __m256i ordered = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), ordered);
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
  __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(t);
}

// Software prefetch. The kernels read R rows side by side. With rows of a few hundred bytes
// the hardware prefetchers see many short interleaved streams and fall far behind (on the
// development machine, 4 interleaved Q8_0 rows of 576 elements streamed from DRAM at 7 GB/s,
// one row at a time at 24 GB/s). So while reading bytes [off, off + len) of row r, a kernel
// prefetches into L2 (prefetcht1; prefetcht0 measured worse) the same bytes of row r + R, in
// the next row group, which is read next, plus kPrefetchAhead bytes. The targets stay within
// the rows of the call (pf_end = start of its last row), so a call never pulls in memory it
// will not read: near the end of a call the distance drops to just the next group, and the
// last group prefetches nothing.
#ifndef ACTINFER_PREFETCH_AHEAD
#define ACTINFER_PREFETCH_AHEAD 8192
#endif
constexpr size_t kPrefetchAhead = ACTINFER_PREFETCH_AHEAD;

// Where the group of R rows at w prefetches: the address matching w (to which the kernels
// add the offset they read, r * stride + bytes), or 0 for no prefetching. Addresses are
// integers: the arithmetic may point past the weight array.
template <int R>
inline uintptr_t prefetch_base(const uint8_t* w, size_t stride, const uint8_t* pf_end) {
  const uintptr_t next = reinterpret_cast<uintptr_t>(w) + R * stride;  // the next group
  const uintptr_t last = next + (R - 1) * stride;                       // its last row
  const uintptr_t end = reinterpret_cast<uintptr_t>(pf_end);
  if (last + kPrefetchAhead <= end) return next + kPrefetchAhead;
  if (last <= end) return next;
  return 0;
}

template <size_t kLen>
inline void prefetch_at(uintptr_t base, size_t offset) {
  for (size_t i = 0; i < kLen; i += 64) _mm_prefetch(reinterpret_cast<const char*>(base + offset + i), _MM_HINT_T1);
}

// Float scratch: on the stack when small.
class Scratch {
 public:
  explicit Scratch(size_t n) : p_(n <= kStack ? stack_ : (heap_ = std::make_unique<float[]>(n)).get()) {}
  float* get() { return p_; }

 private:
  static constexpr size_t kStack = 1024;
  alignas(32) float stack_[kStack];
  std::unique_ptr<float[]> heap_;
  float* p_;
};

// Runs kernel<R> over n_rows rows, 4 at a time, then the remainder.
template <template <int> class K, class... Args>
void for_row_groups(int64_t n_rows, const uint8_t* w, size_t stride, float* out, Args... args) {
  const uint8_t* pf_end = w + static_cast<size_t>(n_rows - 1) * stride;  // start of the last row
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) K<4>::run(w + static_cast<size_t>(r) * stride, stride, out + r, pf_end, args...);
  switch (n_rows - r) {
    case 3: K<3>::run(w + static_cast<size_t>(r) * stride, stride, out + r, pf_end, args...); break;
    case 2: K<2>::run(w + static_cast<size_t>(r) * stride, stride, out + r, pf_end, args...); break;
    case 1: K<1>::run(w + static_cast<size_t>(r) * stride, stride, out + r, pf_end, args...); break;
    default: break;
  }
}

// ---- float weights ----------------------------------------------------------------------------

struct LoadF32 {
  static constexpr size_t kBytes = 4;
  static __m256 load(const uint8_t* row, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i); }
  static float one(const uint8_t* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; }
};
struct LoadF16 {
  static constexpr size_t kBytes = 2;
  static __m256 load(const uint8_t* row, int64_t i) { return _mm256_cvtph_ps(load128(row + 2 * i)); }
  static float one(const uint8_t* row, int64_t i) { return load_fp16(row + 2 * i); }
};
struct LoadBF16 {
  static constexpr size_t kBytes = 2;
  static __m256 load(const uint8_t* row, int64_t i) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(row + 2 * i)), 16));
  }
  static float one(const uint8_t* row, int64_t i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    return bf16_to_f32(h);
  }
};

template <class L>
struct FloatRows {
  template <int R>
  struct K {
    static void run(const uint8_t* w, size_t stride, float* out, const uint8_t* pf_end, int64_t n, const float* x) {
      const uintptr_t pf = prefetch_base<R>(w, stride, pf_end);
      __m256 acc0[R], acc1[R];
      for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
      int64_t i = 0;
      for (; i + 16 <= n; i += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
        for (int r = 0; r < R; ++r) {
          if (pf) prefetch_at<16 * L::kBytes>(pf, r * stride + static_cast<size_t>(i) * L::kBytes);
          acc0[r] = _mm256_fmadd_ps(L::load(w + r * stride, i), x0, acc0[r]);
          acc1[r] = _mm256_fmadd_ps(L::load(w + r * stride, i + 8), x1, acc1[r]);
        }
      }
      for (; i + 8 <= n; i += 8) {
        const __m256 x0 = _mm256_loadu_ps(x + i);
        for (int r = 0; r < R; ++r) acc0[r] = _mm256_fmadd_ps(L::load(w + r * stride, i), x0, acc0[r]);
      }
      for (int r = 0; r < R; ++r) {
        float s = hsum(_mm256_add_ps(acc0[r], acc1[r]));
        for (int64_t j = i; j < n; ++j) s += L::one(w + r * stride, j) * x[j];
        out[r] = s;
      }
    }
  };
};

// ---- Q8_0 x Q8_0 ------------------------------------------------------------------------------
// Blocks are taken 4 at a time per row: their fp16 scales are gathered into one vector and
// converted and multiplied by the activation scales together, then each block's scale is
// broadcast with one vpermps. The tail (fewer than 4 blocks) goes one block at a time. Each
// row's arithmetic is the same whatever R is, so results do not depend on the row grouping.

// The fp16 at p, p + step, p + 2*step, p + 3*step as 4 floats. (Reads 4 bytes at each.)
inline __m128 gather4_fp16(const uint8_t* p, size_t step) {
  const __m128i x0 = _mm_cvtsi32_si128(static_cast<int>(load_u32(p)));
  const __m128i x1 = _mm_cvtsi32_si128(static_cast<int>(load_u32(p + step)));
  const __m128i x2 = _mm_cvtsi32_si128(static_cast<int>(load_u32(p + 2 * step)));
  const __m128i x3 = _mm_cvtsi32_si128(static_cast<int>(load_u32(p + 3 * step)));
  const __m128i x01 = _mm_unpacklo_epi16(x0, x1);  // d0 d1 . .
  const __m128i x23 = _mm_unpacklo_epi16(x2, x3);  // d2 d3 . .
  return _mm_cvtph_ps(_mm_unpacklo_epi32(x01, x23));
}

// The fp16 pairs (d, m) at p + k*step (k < 4) as 8 floats d0 m0 d1 m1 d2 m2 d3 m3.
inline __m256 gather4_fp16_pairs(const uint8_t* p, size_t step) {
  const __m128i x0 = _mm_cvtsi32_si128(static_cast<int>(load_u32(p)));
  const __m128i x1 = _mm_cvtsi32_si128(static_cast<int>(load_u32(p + step)));
  const __m128i x2 = _mm_cvtsi32_si128(static_cast<int>(load_u32(p + 2 * step)));
  const __m128i x3 = _mm_cvtsi32_si128(static_cast<int>(load_u32(p + 3 * step)));
  return _mm256_cvtph_ps(_mm_unpacklo_epi64(_mm_unpacklo_epi32(x0, x1), _mm_unpacklo_epi32(x2, x3)));
}

// Integer dot of the Q8_0 weight block at blk with activation bytes av.
inline __m256i int_dot_q8_0(const uint8_t* blk, __m256i av) {
  const __m256i wv = load256(blk + 2);
  // |w| * (a with w's sign) == w * a, with the unsigned operand first as vpmaddubsw wants
  // (|-128| = 128 read as unsigned is right too).
  return dot_u8s8(_mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv));
}

template <int R>
struct KQ8_0 {
  static void run(const uint8_t* w, size_t stride, float* out, const uint8_t* pf_end, int64_t nb, const block_q8_0* a,
                  const float* ad) {
    constexpr size_t kBlock = sizeof(block_q8_0);
    const uintptr_t pf = prefetch_base<R>(w, stride, pf_end);
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
      __m256 sc[R];
      const __m128 da = _mm_loadu_ps(ad + b);
      for (int r = 0; r < R; ++r) {
        if (pf) prefetch_at<4 * kBlock>(pf, r * stride + static_cast<size_t>(b) * kBlock);
        sc[r] = _mm256_castps128_ps256(_mm_mul_ps(gather4_fp16(w + r * stride + b * kBlock, kBlock), da));
      }
      for (int k = 0; k < 4; ++k) {
        const __m256i av = load256(a[b + k].qs);
        const __m256i idx = _mm256_set1_epi32(k);
        for (int r = 0; r < R; ++r) {
          const __m256i p = int_dot_q8_0(w + r * stride + (b + k) * kBlock, av);
          acc[r] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(sc[r], idx), _mm256_cvtepi32_ps(p), acc[r]);
        }
      }
    }
    for (; b < nb; ++b) {
      const __m256i av = load256(a[b].qs);
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = w + r * stride + b * kBlock;
        const __m256 scale = _mm256_set1_ps(load_fp16(blk) * ad[b]);
        acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(int_dot_q8_0(blk, av)), acc[r]);
      }
    }
    for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]);
  }
};

// ---- Q4_0 / Q4_1: rows in pairs ------------------------------------------------------------
// For 2 and 4 rows the 4-bit kernels put the same block of two rows side by side in one ymm:
// bytes 0..15 = the 16 quant bytes of row r, bytes 16..31 those of row r+1. The low nibbles
// (elements 0..15) then dot with the activation's bytes 0..15 repeated in both halves, the
// high nibbles (elements 16..31) with bytes 16..31 repeated: one vpdpbusd pair (or
// vpmaddubsw pair + vpmaddwd) yields 4 partial sums for each of the two rows, and one convert
// and one fma per two row-blocks apply the scales. This needs noticeably fewer instructions
// per block than unpacking a block to 32 bytes per row (the kernels above, used for 1 row).

// acc + dot(u1, s1) + dot(u2, s2) in groups of 4 bytes (|each pair sum| <= 2*15*127 for the
// 4-bit weights here, so the int16 sum of the two vpmaddubsw results cannot overflow).
inline __m256i dot2_u8s8_acc(__m256i acc, __m256i u1, __m256i s1, __m256i u2, __m256i s2) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, u1, s1), u2, s2);
#else
  const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u1, s1), _mm256_maddubs_epi16(u2, s2));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
}

inline __m256i load2x128(const uint8_t* lo, const uint8_t* hi) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(load128(lo)), load128(hi), 1);
}

// 128-bit version of dot2_u8s8_acc (the same integer sums).
inline __m128i dot2_u8s8_acc(__m128i acc, __m128i u1, __m128i s1, __m128i u2, __m128i s2) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm_dpbusd_epi32(_mm_dpbusd_epi32(acc, u1, s1), u2, s2);
#else
  const __m128i p = _mm_add_epi16(_mm_maddubs_epi16(u1, s1), _mm_maddubs_epi16(u2, s2));
  return _mm_add_epi32(acc, _mm_madd_epi16(p, _mm_set1_epi16(1)));
#endif
}

// R rows: R/2 pairs as above and, for odd R, the last row alone in 128-bit registers with the
// same lane layout and the same operations, so every row's result is bit-identical whichever
// way the rows are grouped (it does not depend on n_rows or on how callers split rows).
template <bool kQ4_1>
struct KQ4Pairs {
  static constexpr size_t kBlock = kQ4_1 ? sizeof(block_q4_1) : sizeof(block_q4_0);
  static constexpr size_t kQs = kQ4_1 ? 4 : 2;  // offset of qs in the block
  using ActBlock = std::conditional_t<kQ4_1, block_q8_1, block_q8_0>;

  template <int R>
  struct K {
    static constexpr int P = R / 2;
    static constexpr bool kOdd = R % 2 != 0;

    // ascale: Q4_0: d_a per block; Q4_1: (d_a, s_a) per block.
    static void run(const uint8_t* w, size_t stride, float* out, const uint8_t* pf_end, int64_t nb, const ActBlock* a,
                    const float* ascale) {
      const uintptr_t pf = prefetch_base<R>(w, stride, pf_end);
      __m256 acc[P + 1];  // acc[P]: the odd row (low 4 lanes)
      __m256 accm[R];     // Q4_1: odd lanes accumulate m_w * s_a
      for (int p = 0; p <= P; ++p) acc[p] = _mm256_setzero_ps();
      for (int r = 0; r < R; ++r) accm[r] = _mm256_setzero_ps();
      int64_t b = 0;
      for (; b + 4 <= nb; b += 4) {
        // Scales of blocks b..b+3, arranged so that vpermps with idx(k) gives
        // [row 2p block b+k x4 | row 2p+1 block b+k x4] (and the odd row's in the low half).
        __m256 sp[P + 1];
        if constexpr (kQ4_1) {
          const __m256 ds = _mm256_loadu_ps(ascale + 2 * b);  // da0 sa0 da1 sa1 ...
          __m256 s8[R];
          for (int r = 0; r < R; ++r) {
            if (pf) prefetch_at<4 * kBlock>(pf, r * stride + static_cast<size_t>(b) * kBlock);
            s8[r] = _mm256_mul_ps(gather4_fp16_pairs(w + r * stride + b * kBlock, kBlock), ds);  // dw*da mw*sa ...
            accm[r] = _mm256_add_ps(accm[r], s8[r]);
          }
          // shuffle (2,0,2,0): [r: s0 s1, r+1: s0 s1 | r: s2 s3, r+1: s2 s3]
          for (int p = 0; p < P; ++p) sp[p] = _mm256_shuffle_ps(s8[2 * p], s8[2 * p + 1], 0x88);
          if constexpr (kOdd) sp[P] = _mm256_shuffle_ps(s8[R - 1], s8[R - 1], 0x88);
        } else {
          const __m128 da = _mm_loadu_ps(ascale + b);
          __m128 s4[R];
          for (int r = 0; r < R; ++r) {
            if (pf) prefetch_at<4 * kBlock>(pf, r * stride + static_cast<size_t>(b) * kBlock);
            s4[r] = _mm_mul_ps(gather4_fp16(w + r * stride + b * kBlock, kBlock), da);
          }
          for (int p = 0; p < P; ++p) sp[p] = _mm256_set_m128(s4[2 * p + 1], s4[2 * p]);  // [r: s0..s3 | r+1: s0..s3]
          if constexpr (kOdd) sp[P] = _mm256_set_m128(s4[R - 1], s4[R - 1]);
        }
        for (int k = 0; k < 4; ++k) {
          const int i = kQ4_1 ? k / 2 * 4 + k % 2 : k;  // lane of row 2p's scale of block b+k
          const int j = kQ4_1 ? i + 2 : i + 4;           // lane of row 2p+1's
          const __m256i idx = _mm256_setr_epi32(i, i, i, i, j, j, j, j);
          step(w, stride, b + k, a, [&](int p) { return _mm256_permutevar8x32_ps(sp[p], idx); }, acc);
        }
      }
      for (; b < nb; ++b) {  // the last nb % 4 blocks
        __m256 sp[P + 1];
        const float da = kQ4_1 ? ascale[2 * b] : ascale[b];
        for (int p = 0; p <= P; ++p) {
          if (p == P && !kOdd) break;
          const uint8_t* b0 = w + 2 * p * stride + b * kBlock;
          const float s0 = load_fp16(b0) * da;
          const float s1 = p < P ? load_fp16(b0 + stride) * da : s0;
          sp[p] = _mm256_set_m128(_mm_set1_ps(s1), _mm_set1_ps(s0));
        }
        if constexpr (kQ4_1) {
          const __m128 ds = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(ascale + 2 * b)));
          for (int r = 0; r < R; ++r) {
            const uint8_t* blk = w + r * stride + b * kBlock;
            const __m128 prod = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(blk)))), ds);
            accm[r] = _mm256_add_ps(accm[r], _mm256_insertf128_ps(_mm256_setzero_ps(), prod, 0));
          }
        }
        step(w, stride, b, a, [&](int p) { return sp[p]; }, acc);
      }
      for (int p = 0; p < P; ++p) {
        out[2 * p] = hsum128(_mm256_castps256_ps128(acc[p]));
        out[2 * p + 1] = hsum128(_mm256_extractf128_ps(acc[p], 1));
      }
      if constexpr (kOdd) out[R - 1] = hsum128(_mm256_castps256_ps128(acc[P]));
      if constexpr (kQ4_1)
        for (int r = 0; r < R; ++r) out[r] += hsum(_mm256_blend_ps(_mm256_setzero_ps(), accm[r], 0xAA));
    }

    // Block b of all rows; scale(p) = [row 2p scale x4 | row 2p+1 scale x4] (odd row: low half).
    template <class Scale>
    static inline void step(const uint8_t* w, size_t stride, int64_t b, const ActBlock* a, Scale scale,
                            __m256 (&acc)[P + 1]) {
      const __m256i m4 = _mm256_set1_epi8(0x0F);
      const __m128i alo128 = load128(a[b].qs);       // elements 0..15
      const __m128i ahi128 = load128(a[b].qs + 16);  // elements 16..31
      const __m256i alo = _mm256_broadcastsi128_si256(alo128);
      const __m256i ahi = _mm256_broadcastsi128_si256(ahi128);
      __m256i init = _mm256_setzero_si256();
      if constexpr (!kQ4_1) {  // sum (q - 8) a = sum q a - 8 sum a: start from -8 sum a (same layout)
        const __m256i eight = _mm256_set1_epi8(8);
        init = _mm256_sub_epi32(init, dot2_u8s8_acc(_mm256_setzero_si256(), eight, alo, eight, ahi));
      }
      for (int p = 0; p < P; ++p) {
        const uint8_t* q = w + 2 * p * stride + b * kBlock + kQs;
        const __m256i x = load2x128(q, q + stride);
        const __m256i lo = _mm256_and_si256(x, m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
        const __m256i t = dot2_u8s8_acc(init, lo, alo, hi, ahi);
        acc[p] = _mm256_fmadd_ps(scale(p), _mm256_cvtepi32_ps(t), acc[p]);
      }
      if constexpr (kOdd) {
        const __m128i x = load128(w + (R - 1) * stride + b * kBlock + kQs);
        const __m128i m4x = _mm256_castsi256_si128(m4);
        const __m128i lo = _mm_and_si128(x, m4x);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), m4x);
        const __m128i t = dot2_u8s8_acc(_mm256_castsi256_si128(init), lo, alo128, hi, ahi128);
        const __m128 s = _mm256_castps256_ps128(scale(P));
        acc[P] = _mm256_castps128_ps256(_mm_fmadd_ps(s, _mm_cvtepi32_ps(t), _mm256_castps256_ps128(acc[P])));
      }
    }
  };
};

// ---- K quants x Q8_K --------------------------------------------------------------------------

// The 8 six-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K block.
inline __m128i k4_scales_mins(const uint8_t* s) {
  const uint32_t u0 = load_u32(s), u1 = load_u32(s + 4), u2 = load_u32(s + 8);
  const uint32_t sc_lo = u0 & 0x3F3F3F3Fu;
  const uint32_t mn_lo = u1 & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (u2 & 0x0F0F0F0Fu) | ((u0 >> 2) & 0x30303030u);
  const uint32_t mn_hi = ((u2 >> 4) & 0x0F0F0F0Fu) | ((u1 >> 2) & 0x30303030u);
  return _mm_set_epi32(static_cast<int>(mn_hi), static_cast<int>(mn_lo), static_cast<int>(sc_hi),
                       static_cast<int>(sc_lo));
}

// vpshufb masks broadcasting int16 lane j (of the 8 in each 128-bit half) to all 8 lanes.
alignas(32) const uint8_t kBroadcast16[8][32] = {
#define B16(j) {2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1,   \
                 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1,   \
                 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1,   \
                 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1}
    B16(0), B16(1), B16(2), B16(3), B16(4), B16(5), B16(6), B16(7)
#undef B16
};

inline __m256i bcast16(__m256i v, int j) {
  return _mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(kBroadcast16[j])));
}

// Per Q8_K block: the 8 sums of 32 activations (bsums pairs) as int16.
inline __m128i q8k_pair_sums(const block_q8_K& a) {
  const __m256i p = _mm256_madd_epi16(load256(a.bsums), _mm256_set1_epi16(1));
  return _mm_packs_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

// The K-quant kernels work one row at a time: a super-block has enough work to hide the
// per-row costs, and a single row is one sequential stream that the hardware prefetchers
// follow (so no software prefetch).
template <bool kQ5>
struct KQ45K {
  static constexpr size_t kBlock = kQ5 ? sizeof(block_q5_K) : sizeof(block_q4_K);

  static float row(const uint8_t* w, int64_t nb, const block_q8_K* a) {
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
      const block_q8_K& ab = a[b];
      const uint8_t* blk = w + b * kBlock;
      const __m256i scmn = _mm256_cvtepu8_epi16(k4_scales_mins(blk + 4));  // sc0..7 | mn0..7 as int16
      // sum_j mn_j * (sum of the 32 activations of sub-block j)
      const __m128i msum = _mm_madd_epi16(_mm256_extracti128_si256(scmn, 1), q8k_pair_sums(ab));
      const __m256i sc = _mm256_permute2x128_si256(scmn, scmn, 0x00);  // sc0..7 | sc0..7
      const uint8_t* qs = blk + (kQ5 ? 48 : 16);
      __m256i qh = kQ5 ? load256(blk + 16) : _mm256_setzero_si256();
      __m256i isum = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {
        const __m256i q = load256(qs + 32 * c);
        __m256i lo = _mm256_and_si256(q, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if constexpr (kQ5) {
          // bit 2c (then 2c+1) of each qh byte becomes bit 4 of the value.
          const __m256i b4 = _mm256_set1_epi8(0x10);
          lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(qh, 4), b4));
          hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(qh, 3), b4));
          qh = _mm256_srli_epi16(qh, 2);
        }
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(ab.qs + 64 * c)), bcast16(sc, 2 * c));
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(ab.qs + 64 * c + 32)), bcast16(sc, 2 * c + 1));
        isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
      }
      const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u32(blk)))),
                                   _mm_set1_ps(ab.d));  // [d*da, dmin*da, 0, 0]
      acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(isum), acc);
      accm = _mm_fmadd_ps(_mm_shuffle_ps(dd, dd, 0x55), _mm_cvtepi32_ps(msum), accm);
    }
    return hsum(acc) - hsum128(accm);
  }

  template <int R>
  struct K {
    static void run(const uint8_t* w, size_t stride, float* out, const uint8_t*, int64_t nb, const block_q8_K* a) {
      for (int r = 0; r < R; ++r) out[r] = row(w + r * stride, nb, a);
    }
  };
};

// vpshufb masks for Q6_K: bytes 0..7 = scale 2k, bytes 8..15 = scale 2k+1 (k = 0..7).
alignas(16) const uint8_t kScalePair[8][16] = {
#define SP(k) {2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, \
                2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1}
    SP(0), SP(1), SP(2), SP(3), SP(4), SP(5), SP(6), SP(7)
#undef SP
};

struct KQ6K {
  static float row(const uint8_t* w, int64_t nb, const block_q8_K* a) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; ++b) {
      const block_q8_K& ab = a[b];
      const auto* blk = reinterpret_cast<const block_q6_K*>(w + b * sizeof(block_q6_K));
      const __m128i sc8 = load128(blk->scales);
      // sum_j sc_j * sum_{16} (q - 32) a = sum_j sc_j dot_j - 32 * sum_j sc_j bsum_j
      __m256i isum = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), load256(ab.bsums)), 5);
      isum = _mm256_sub_epi32(_mm256_setzero_si256(), isum);
      for (int h = 0; h < 2; ++h) {
        const __m256i ql0 = load256(blk->ql + 64 * h);
        const __m256i ql1 = load256(blk->ql + 64 * h + 32);
        const __m256i qh = load256(blk->qh + 32 * h);
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)),
            _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)),
        };
        for (int k = 0; k < 4; ++k) {
          const __m128i sp = _mm_shuffle_epi8(sc8, _mm_load_si128(reinterpret_cast<const __m128i*>(kScalePair[4 * h + k])));
          const __m256i p = _mm256_maddubs_epi16(q[k], load256(ab.qs + 128 * h + 32 * k));
          isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_cvtepi8_epi16(sp)));
        }
      }
      const float scale = load_fp16(&blk->d) * ab.d;
      acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum(acc);
  }

  template <int R>
  struct K {
    static void run(const uint8_t* w, size_t stride, float* out, const uint8_t*, int64_t nb, const block_q8_K* a) {
      for (int r = 0; r < R; ++r) out[r] = row(w + r * stride, nb, a);
    }
  };
};

}  // namespace

bool vec_dot_rows(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                  const void* act, float* out) {
  const auto* w = static_cast<const uint8_t*>(w_rows);
  switch (weight) {
    case GgmlType::F32:
      for_row_groups<FloatRows<LoadF32>::K>(n_rows, w, row_stride, out, n, static_cast<const float*>(act));
      return true;
    case GgmlType::F16:
      for_row_groups<FloatRows<LoadF16>::K>(n_rows, w, row_stride, out, n, static_cast<const float*>(act));
      return true;
    case GgmlType::BF16:
      for_row_groups<FloatRows<LoadBF16>::K>(n_rows, w, row_stride, out, n, static_cast<const float*>(act));
      return true;
    case GgmlType::Q8_0:
    case GgmlType::Q4_0: {
      const int64_t nb = n / QK8_0;
      const auto* a = static_cast<const block_q8_0*>(act);
      Scratch s(static_cast<size_t>(nb));
      for (int64_t b = 0; b < nb; ++b) s.get()[b] = fp16_to_f32(a[b].d);
      if (weight == GgmlType::Q8_0)
        for_row_groups<KQ8_0>(n_rows, w, row_stride, out, nb, a, static_cast<const float*>(s.get()));
      else
        for_row_groups<KQ4Pairs<false>::K>(n_rows, w, row_stride, out, nb, a, static_cast<const float*>(s.get()));
      return true;
    }
    case GgmlType::Q4_1: {
      const int64_t nb = n / QK4_1;
      const auto* a = static_cast<const block_q8_1*>(act);
      Scratch s(static_cast<size_t>(2 * nb));
      for (int64_t b = 0; b < nb; ++b) {
        s.get()[2 * b] = fp16_to_f32(a[b].d);
        s.get()[2 * b + 1] = fp16_to_f32(a[b].s);
      }
      for_row_groups<KQ4Pairs<true>::K>(n_rows, w, row_stride, out, nb, a, static_cast<const float*>(s.get()));
      return true;
    }
    case GgmlType::Q4_K:
      for_row_groups<KQ45K<false>::K>(n_rows, w, row_stride, out, n / QK_K, static_cast<const block_q8_K*>(act));
      return true;
    case GgmlType::Q5_K:
      for_row_groups<KQ45K<true>::K>(n_rows, w, row_stride, out, n / QK_K, static_cast<const block_q8_K*>(act));
      return true;
    case GgmlType::Q6_K:
      for_row_groups<KQ6K::K>(n_rows, w, row_stride, out, n / QK_K, static_cast<const block_q8_K*>(act));
      return true;
    default: return false;
  }
}

bool quantize_activation(GgmlType act_type, const float* x, void* dst, int64_t n) {
  switch (act_type) {
    case GgmlType::Q8_0: {
      auto* y = static_cast<block_q8_0*>(dst);
      for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        const float d = amax32(x) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        quant32(x, id, y[b].qs);
      }
      return true;
    }
    case GgmlType::Q8_1: {
      auto* y = static_cast<block_q8_1*>(dst);
      for (int64_t b = 0; b < n / QK8_1; ++b, x += QK8_1) {
        const float d = amax32(x) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const int sum = quant32(x, id, y[b].qs);
        y[b].d = f32_to_fp16(d);
        y[b].s = f32_to_fp16(d * static_cast<float>(sum));
      }
      return true;
    }
    case GgmlType::Q8_K: {
      auto* y = static_cast<block_q8_K*>(dst);
      for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        float amax = 0.0f;
        for (int k = 0; k < QK_K; k += 32) amax = std::max(amax, amax32(x + k));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = d;
        for (int k = 0; k < QK_K; k += 32) quant32(x + k, id, y[b].qs + k);
        // bsums: bytes summed in 4s by vpmaddubsw/vpmaddwd, then pairs of those 16-byte halves.
        for (int k = 0; k < QK_K; k += 32) {
          const __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load256(y[b].qs + k)),
                                               _mm256_set1_epi16(1));
          alignas(32) int32_t t[8];
          _mm256_store_si256(reinterpret_cast<__m256i*>(t), s4);
          y[b].bsums[k / 16] = static_cast<int16_t>(t[0] + t[1] + t[2] + t[3]);
          y[b].bsums[k / 16 + 1] = static_cast<int16_t>(t[4] + t[5] + t[6] + t[7]);
        }
      }
      return true;
    }
    default: return false;
  }
}

}  // namespace actinfer::avx2

#endif  // ACTINFER_HAVE_AVX2_KERNELS
