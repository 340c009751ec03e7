// AVX2 / FMA / F16C kernels for kernels/vec_dot.h.
//
// The quantized kernels multiply 8-bit integers with vpmaddubsw (unsigned x signed bytes ->
// pairs summed to int16; the operand ranges here never saturate) and vpmaddwd (pairs of int16
// -> int32), or with vpdpbusd where the compiler targets AVX512-VNNI (the same integer
// results), and apply the float scales once per 32-element block (once per 256-element
// super-block for the K types, whose 6/8-bit sub-block scales are the vpmaddwd multiplier).
//
// Every kernel works on one row at a time, front to back. Weight rows are read once per
// matrix-vector product, so they stream from DRAM, and a single sequential stream is what the
// hardware prefetchers follow best: on the development machine (Zen 4, 2 cores) kernels that
// read 4 rows side by side (sharing the activation loads) were slightly faster with the
// weights in cache but streamed from DRAM at 8-16 GB/s even with software prefetching, where
// one row at a time reaches 15-22 GB/s. The activation is small and stays in L1; whatever
// can be derived from it alone is prepared once per call (float scales, a Q4 layout).
// A row's result does not depend on n_rows or on how callers split rows (each row is computed
// the same way), so results are reproducible across thread counts.
#include "kernels/type_kernels.h"

#if ACTINFER_HAVE_AVX2_KERNELS

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>

#include "kernels/fp16.h"
#include "kernels/int8_dot_avx2.h"
#include "kernels/quant_blocks.h"

namespace actinfer::avx2 {

namespace {

// ---- helpers --------------------------------------------------------------------------------

using simd::hsum;
using simd::hsum128;
using simd::dot2_u8s8_add;
using simd::bits_to_bytes;
using simd::load128;
using simd::load256;

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

// Per-call scratch, 32-byte aligned, on the stack when small.
class Scratch {
 public:
  explicit Scratch(size_t bytes) {
    if (bytes <= sizeof stack_) {
      p_ = stack_;
    } else {
      heap_.reset(new Chunk[bytes / sizeof(Chunk) + 1]);
      p_ = heap_[0].bytes;
    }
  }
  uint8_t* get() { return p_; }

 private:
  struct alignas(32) Chunk {
    uint8_t bytes[32];
  };
  alignas(32) uint8_t stack_[16384];
  std::unique_ptr<Chunk[]> heap_;
  uint8_t* p_;
};

// ---- float weights ----------------------------------------------------------------------------

struct LoadF32 {
  static __m256 load(const uint8_t* row, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i); }
  static float one(const uint8_t* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; }
};
struct LoadF16 {
  static __m256 load(const uint8_t* row, int64_t i) { return _mm256_cvtph_ps(load128(row + 2 * i)); }
  static float one(const uint8_t* row, int64_t i) { return load_fp16(row + 2 * i); }
};
struct LoadBF16 {
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
float float_row(const uint8_t* w, int64_t n, const float* x) {
  __m256 acc[4];
  for (auto& v : acc) v = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(L::load(w, i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(L::load(w, i), _mm256_loadu_ps(x + i), acc[0]);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) s += L::one(w, i) * x[i];
  return s;
}

// ---- Q8_0 x Q8_0 ------------------------------------------------------------------------------
// Blocks 4 at a time: their fp16 scales are gathered into one vector, converted and multiplied
// by the activation scales together, then each block's scale is broadcast with one vpermps.
// Four accumulators keep the fma latency off the critical path.

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
  return simd::dot_u8s8_add(_mm256_setzero_si256(), _mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv));
}

float q8_0_row(const uint8_t* w, int64_t nb, const block_q8_0* a, const float* ad) {
  constexpr size_t kBlock = sizeof(block_q8_0);
  __m256 acc[4];
  for (auto& v : acc) v = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const __m256 s = _mm256_castps128_ps256(_mm_mul_ps(gather4_fp16(w + b * kBlock, kBlock), _mm_loadu_ps(ad + b)));
    for (int k = 0; k < 4; ++k) {
      const __m256i p = int_dot_q8_0(w + (b + k) * kBlock, load256(a[b + k].qs));
      acc[k] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, _mm256_set1_epi32(k)), _mm256_cvtepi32_ps(p), acc[k]);
    }
  }
  for (; b < nb; ++b) {
    const __m256 scale = _mm256_set1_ps(load_fp16(w + b * kBlock) * ad[b]);
    acc[0] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(int_dot_q8_0(w + b * kBlock, load256(a[b].qs))), acc[0]);
  }
  return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

// ---- Q4_0 x Q8_0, Q4_1 x Q8_1 -----------------------------------------------------------------
// Two consecutive blocks b, b+1 of a row share one register: bytes 0..15 = the 16 quant bytes
// of block b, bytes 16..31 those of block b+1. Their low nibbles (elements 0..15 of each block)
// dot with the activation bytes [a_b[0..15] | a_b+1[0..15]] and the high nibbles with
// [a_b[16..31] | a_b+1[16..31]] (this interleaved copy of the activation is made once per
// call), giving 4 partial sums per block from 2 vpdpbusd (or 2 vpmaddubsw + 1 vpmaddwd), and
// one convert and one fma apply both blocks' scales: fewer instructions per block than
// unpacking each block's nibbles to 32 bytes. Q4_0's "q - 8" is folded in by starting the
// integer sums at -8 * (the same partial sums of the activation), also prepared per call.

inline __m256i load2x128(const uint8_t* lo, const uint8_t* hi) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(load128(lo)), load128(hi), 1);
}

constexpr size_t kPrefetchDistance = 4096;

template <bool kQ4_1>
struct KQ4Row {
  static constexpr size_t kBlock = kQ4_1 ? sizeof(block_q4_1) : sizeof(block_q4_0);
  static constexpr size_t kQs = kQ4_1 ? 4 : 2;
  using ActBlock = std::conditional_t<kQ4_1, block_q8_1, block_q8_0>;

  struct Act {
    int64_t nb;
    const __m256i* lo;    // per block pair (2p, 2p+1): [a_2p[0..15] | a_2p+1[0..15]]
    const __m256i* hi;    //                            [a_2p[16..31] | a_2p+1[16..31]]
    const __m256i* negc;  // Q4_0: -8 * (the same partial sums of the activation)
    const float* scale;   // Q4_0: d_a per block; Q4_1: (d_a, s_a) per block
    const ActBlock* a;
  };

  static size_t scratch_bytes(int64_t nb) { return static_cast<size_t>(nb / 2) * 3 * 32 + static_cast<size_t>(nb) * 8; }

  static Act prepare(const ActBlock* a, int64_t nb, uint8_t* buf) {
    const int64_t np = nb / 2;
    auto* lo = reinterpret_cast<__m256i*>(buf);
    auto* hi = lo + np;
    auto* negc = hi + np;
    auto* scale = reinterpret_cast<float*>(negc + np);
    const __m256i eight = _mm256_set1_epi8(8);
    for (int64_t p = 0; p < np; ++p) {
      lo[p] = _mm256_set_m128i(load128(a[2 * p + 1].qs), load128(a[2 * p].qs));
      hi[p] = _mm256_set_m128i(load128(a[2 * p + 1].qs + 16), load128(a[2 * p].qs + 16));
      if constexpr (!kQ4_1)
        negc[p] = _mm256_sub_epi32(_mm256_setzero_si256(), dot2_u8s8_add(_mm256_setzero_si256(), eight, lo[p], eight, hi[p]));
    }
    for (int64_t b = 0; b < nb; ++b) {
      if constexpr (kQ4_1) {
        scale[2 * b] = fp16_to_f32(a[b].d);
        scale[2 * b + 1] = fp16_to_f32(a[b].s);
      } else {
        scale[b] = fp16_to_f32(a[b].d);
      }
    }
    return Act{nb, lo, hi, negc, scale, a};
  }

  static inline __m256i pair_dot(const uint8_t* blk, const Act& A, int64_t p) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i x = load2x128(blk + kQs, blk + kBlock + kQs);
    const __m256i lo = _mm256_and_si256(x, m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
    return dot2_u8s8_add(kQ4_1 ? _mm256_setzero_si256() : A.negc[p], lo, A.lo[p], hi, A.hi[p]);
  }

  static float row(const uint8_t* w, const Act& A) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    float tail_m = 0.0f;
    const int64_t nb = A.nb;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
      // Software prefetch 4 KB ahead in the weight stream (rows are usually contiguous, so
      // this runs on into the next rows; a prefetch never faults): measured to lift these two
      // kernels, the ones with the least compute headroom, from about 15 to 18-20 GB/s when
      // streaming from DRAM, while it slowed the other kernels down.
      const uintptr_t ahead = reinterpret_cast<uintptr_t>(w + b * kBlock) + kPrefetchDistance;  // may lie past the array
      _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64), _MM_HINT_T0);
      __m256 sc01, sc23;
      if constexpr (kQ4_1) {
        const __m256 s8 = _mm256_mul_ps(gather4_fp16_pairs(w + b * kBlock, kBlock), _mm256_loadu_ps(A.scale + 2 * b));
        accm = _mm256_add_ps(accm, s8);  // odd lanes: m_w * s_a
        sc01 = _mm256_permutevar8x32_ps(s8, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2));
        sc23 = _mm256_permutevar8x32_ps(s8, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6));
      } else {
        const __m256 s4 = _mm256_castps128_ps256(_mm_mul_ps(gather4_fp16(w + b * kBlock, kBlock), _mm_loadu_ps(A.scale + b)));
        sc01 = _mm256_permutevar8x32_ps(s4, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
        sc23 = _mm256_permutevar8x32_ps(s4, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3));
      }
      acc0 = _mm256_fmadd_ps(sc01, _mm256_cvtepi32_ps(pair_dot(w + b * kBlock, A, b / 2)), acc0);
      acc1 = _mm256_fmadd_ps(sc23, _mm256_cvtepi32_ps(pair_dot(w + (b + 2) * kBlock, A, b / 2 + 1)), acc1);
    }
    const float* sa = A.scale;
    auto d_times_da = [&](int64_t bb) { return load_fp16(w + bb * kBlock) * (kQ4_1 ? sa[2 * bb] : sa[bb]); };
    auto min_term = [&](int64_t bb) { return kQ4_1 ? load_fp16(w + bb * kBlock + 2) * sa[2 * bb + 1] : 0.0f; };
    if (b + 2 <= nb) {  // one more pair: the same with 2 blocks
      const __m128i x0 = _mm_cvtsi32_si128(static_cast<int>(load_u32(w + b * kBlock)));
      const __m128i x1 = _mm_cvtsi32_si128(static_cast<int>(load_u32(w + (b + 1) * kBlock)));
      __m256 sc;
      if constexpr (kQ4_1) {
        const __m128 s4 = _mm_mul_ps(_mm_cvtph_ps(_mm_unpacklo_epi32(x0, x1)), _mm_loadu_ps(A.scale + 2 * b));
        accm = _mm256_add_ps(accm, _mm256_insertf128_ps(_mm256_setzero_ps(), s4, 0));
        sc = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s4), _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2));
      } else {
        const __m128 da = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(A.scale + b)));
        const __m128 s2 = _mm_mul_ps(_mm_cvtph_ps(_mm_unpacklo_epi16(x0, x1)), da);
        sc = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s2), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
      }
      acc0 = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(pair_dot(w + b * kBlock, A, b / 2)), acc0);
      b += 2;
    }
    if (b < nb) {  // a last odd block: 128-bit
      const __m128i m4 = _mm_set1_epi8(0x0F);
      const __m128i x = load128(w + b * kBlock + kQs);
      const __m128i alo = load128(A.a[b].qs), ahi = load128(A.a[b].qs + 16);
      __m128i init = _mm_setzero_si128();
      if constexpr (!kQ4_1) {
        const __m128i eight = _mm_set1_epi8(8);
        init = _mm_sub_epi32(init, dot2_u8s8_add(_mm_setzero_si128(), eight, alo, eight, ahi));
      }
      const __m128i t = dot2_u8s8_add(init, _mm_and_si128(x, m4), alo, _mm_and_si128(_mm_srli_epi16(x, 4), m4), ahi);
      const __m256 sc = _mm256_insertf128_ps(_mm256_setzero_ps(), _mm_set1_ps(d_times_da(b)), 0);
      acc1 = _mm256_fmadd_ps(sc, _mm256_insertf128_ps(_mm256_setzero_ps(), _mm_cvtepi32_ps(t), 0), acc1);
      tail_m += min_term(b);
    }
    float r = hsum(_mm256_add_ps(acc0, acc1));
    if constexpr (kQ4_1) r += hsum(_mm256_blend_ps(_mm256_setzero_ps(), accm, 0xAA)) + tail_m;
    return r;
  }
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

// One super-block per iteration: 8 (Q4_K/Q5_K) or 16 (Q6_K) sub-blocks whose integer sums
// are scaled by their sub-block scales in vpmaddwd and summed in int32, then one convert and
// one fma with d_w * d_a. The mins term of Q4_K/Q5_K uses the activation's bsums.
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
};

// vpshufb masks for Q6_K: bytes 0..7 = scale 2k, bytes 8..15 = scale 2k+1 (k = 0..7).
alignas(16) const uint8_t kScalePair[8][16] = {
#define SP(k) {2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, \
                2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1}
    SP(0), SP(1), SP(2), SP(3), SP(4), SP(5), SP(6), SP(7)
#undef SP
};

float q6_K_row(const uint8_t* w, int64_t nb, const block_q8_K* a) {
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


// ---- dispatch ------------------------------------------------------------------------------
// Each kernel type KT gives: Act (what its row function needs of one activation),
// prep_bytes(n) and prepare(act, n, scratch) making an Act once per call, and row(w, Act).

template <class L>
struct FloatK {
  struct Act {
    const float* x;
    int64_t n;
  };
  static size_t prep_bytes(int64_t) { return 0; }
  static Act prepare(const uint8_t* act, int64_t n, uint8_t*) { return {reinterpret_cast<const float*>(act), n}; }
  static float row(const uint8_t* w, const Act& A) { return float_row<L>(w, A.n, A.x); }
};

struct Q8_0K {
  struct Act {
    int64_t nb;
    const block_q8_0* a;
    const float* ad;  // d_a per block as float
  };
  static size_t prep_bytes(int64_t n) { return static_cast<size_t>(n / QK8_0) * sizeof(float); }
  static Act prepare(const uint8_t* act, int64_t n, uint8_t* buf) {
    const auto* a = reinterpret_cast<const block_q8_0*>(act);
    auto* ad = reinterpret_cast<float*>(buf);
    for (int64_t b = 0; b < n / QK8_0; ++b) ad[b] = fp16_to_f32(a[b].d);
    return {n / QK8_0, a, ad};
  }
  static float row(const uint8_t* w, const Act& A) { return q8_0_row(w, A.nb, A.a, A.ad); }
};

template <bool kQ4_1>
struct Q4K {
  using Kernel = KQ4Row<kQ4_1>;
  using Act = typename Kernel::Act;
  static size_t prep_bytes(int64_t n) { return Kernel::scratch_bytes(n / 32); }
  static Act prepare(const uint8_t* act, int64_t n, uint8_t* buf) {
    return Kernel::prepare(reinterpret_cast<const typename Kernel::ActBlock*>(act), n / 32, buf);
  }
  static float row(const uint8_t* w, const Act& A) { return Kernel::row(w, A); }
};

template <GgmlType kType>
struct KQuantK {
  struct Act {
    int64_t nb;
    const block_q8_K* a;
  };
  static size_t prep_bytes(int64_t) { return 0; }
  static Act prepare(const uint8_t* act, int64_t n, uint8_t*) { return {n / QK_K, reinterpret_cast<const block_q8_K*>(act)}; }
  static float row(const uint8_t* w, const Act& A) {
    if constexpr (kType == GgmlType::Q4_K) return KQ45K<false>::row(w, A.nb, A.a);
    else if constexpr (kType == GgmlType::Q5_K) return KQ45K<true>::row(w, A.nb, A.a);
    else return q6_K_row(w, A.nb, A.a);
  }
};

// ---- Q5_0 / IQ4_NL x Q8_0, Q5_1 x Q8_1 --------------------------------------------------------
// One block at a time: its 32 values unpacked to bytes in element order (low nibbles are
// elements 0..15, high nibbles 16..31), then one byte dot with the activation block.

// The 32 nibbles of 16 bytes in element order.
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i x = load128(qs);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m4), _mm_and_si128(x, m4));
}

// The 5-bit values of a Q5_0 / Q5_1 block (qh: its 4 fifth-bit bytes).
inline __m256i q5_values(const uint8_t* qh, const uint8_t* qs) {
  return _mm256_or_si256(nibbles32(qs), _mm256_and_si256(bits_to_bytes(load_u32(qh)), _mm256_set1_epi8(0x10)));
}

// Signed weight bytes w (|w| <= 127) . activation bytes a, as 8 int32 lanes.
inline __m256i signed_dot(__m256i w, __m256i a) {
  return simd::dot_u8s8_add(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
}

template <GgmlType kType>
float q5_iq4nl_row(const uint8_t* w, int64_t nb, const block_q8_0* a, const float* ad) {
  constexpr size_t kBlock = kType == GgmlType::Q5_0 ? sizeof(block_q5_0) : sizeof(block_iq4_nl);
  const __m256i table = _mm256_broadcastsi128_si256(load128(kIq4nlValues));
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + b * kBlock;
    __m256i v;
    if constexpr (kType == GgmlType::Q5_0) v = _mm256_sub_epi8(q5_values(blk + 2, blk + 6), _mm256_set1_epi8(16));
    else v = _mm256_shuffle_epi8(table, nibbles32(blk + 2));
    const __m256 p = _mm256_cvtepi32_ps(signed_dot(v, load256(a[b].qs)));
    const __m256 scale = _mm256_set1_ps(load_fp16(blk) * ad[b]);
    if (b % 2) acc1 = _mm256_fmadd_ps(scale, p, acc1);
    else acc0 = _mm256_fmadd_ps(scale, p, acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

// ---- Q2_K, Q3_K, IQ4_XS x Q8_K ----------------------------------------------------------------

// [s0 x 8 | s1 x 8] as int16.
inline __m256i scale_pair(int s0, int s1) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(s1)), _mm_set1_epi16(static_cast<int16_t>(s0)));
}

float q2_K_row(const uint8_t* w, int64_t nb, const block_q8_K* a) {
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const block_q2_K*>(w + b * sizeof(block_q2_K));
    const block_q8_K& ab = a[b];
    const __m128i sc8 = load128(blk->scales);
    // sum_j m_j * bsum_j
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));
    const __m256i msum = _mm256_madd_epi16(mins16, load256(ab.bsums));
    alignas(16) uint8_t sc[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(sc), _mm_and_si128(sc8, _mm_set1_epi8(0x0F)));
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q = load256(blk->qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
        const __m256i p = _mm256_maddubs_epi16(q2, load256(ab.qs + 128 * h + 32 * k));
        const int j = 8 * h + 2 * k;
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair(sc[j], sc[j + 1])));
      }
    }
    const float dd = load_fp16(&blk->d) * ab.d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum), acc);
    const __m128i m4 = _mm_add_epi32(_mm256_castsi256_si128(msum), _mm256_extracti128_si256(msum, 1));
    mins += load_fp16(&blk->dmin) * ab.d * static_cast<float>(_mm_extract_epi32(m4, 0) + _mm_extract_epi32(m4, 1) +
                                                              _mm_extract_epi32(m4, 2) + _mm_extract_epi32(m4, 3));
  }
  return hsum(acc) - mins;
}

float q3_K_row(const uint8_t* w, int64_t nb, const block_q8_K* a) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const block_q3_K*>(w + b * sizeof(block_q3_K));
    const block_q8_K& ab = a[b];
    int8_t sc[16];
    unpack_q3_K_scales(blk->scales, sc);
    const __m256i hm = load256(blk->hmask);
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q = load256(blk->qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int bit = 4 * h + k;
        const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
        // 4 where the high bit is clear: q = q2 - that.
        const __m256i minus4 = _mm256_slli_epi16(_mm256_xor_si256(_mm256_and_si256(_mm256_srli_epi16(hm, bit), one), one), 2);
        const __m256i av = load256(ab.qs + 128 * h + 32 * k);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q2, av), _mm256_maddubs_epi16(minus4, av));
        const int j = 8 * h + 2 * k;
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair(sc[j], sc[j + 1])));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_fp16(&blk->d) * ab.d), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

float iq4_xs_row(const uint8_t* w, int64_t nb, const block_q8_K* a) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i table = _mm256_broadcastsi128_si256(load128(kIq4nlValues));
  for (int64_t b = 0; b < nb; ++b) {
    const auto* blk = reinterpret_cast<const block_iq4_xs*>(w + b * sizeof(block_iq4_xs));
    const block_q8_K& ab = a[b];
    int8_t sc[8];
    unpack_iq4_xs_scales(*blk, sc);
    __m256i isum = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i v = _mm256_shuffle_epi8(table, nibbles32(blk->qs + 16 * j));
      const __m256i av = load256(ab.qs + 32 * j);
      const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(av, v));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16(sc[j])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_fp16(&blk->d) * ab.d), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

template <GgmlType kType>
struct Q8_0ActK : Q8_0K {  // Q5_0, IQ4_NL: Q8_0 activations, as Q8_0 rows
  static float row(const uint8_t* w, const Act& A) { return q5_iq4nl_row<kType>(w, A.nb, A.a, A.ad); }
};

struct Q5_1K {
  struct Act {
    int64_t nb;
    const block_q8_1* a;
    const float* ds;  // (d_a, s_a) per block as floats
  };
  static size_t prep_bytes(int64_t n) { return static_cast<size_t>(n / QK8_1) * 2 * sizeof(float); }
  static Act prepare(const uint8_t* act, int64_t n, uint8_t* buf) {
    const auto* a = reinterpret_cast<const block_q8_1*>(act);
    auto* ds = reinterpret_cast<float*>(buf);
    for (int64_t b = 0; b < n / QK8_1; ++b) {
      ds[2 * b] = fp16_to_f32(a[b].d);
      ds[2 * b + 1] = fp16_to_f32(a[b].s);
    }
    return {n / QK8_1, a, ds};
  }
  static float row(const uint8_t* w, const Act& A) {
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t b = 0; b < A.nb; ++b) {
      const uint8_t* blk = w + b * sizeof(block_q5_1);
      const __m256i p = simd::dot_u8s8_add(_mm256_setzero_si256(), q5_values(blk + 4, blk + 8), load256(A.a[b].qs));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(load_fp16(blk) * A.ds[2 * b]), _mm256_cvtepi32_ps(p), acc);
      mins += load_fp16(blk + 2) * A.ds[2 * b + 1];
    }
    return hsum(acc) + mins;
  }
};

template <float (*kRow)(const uint8_t*, int64_t, const block_q8_K*)>
struct Q8_KActK {
  struct Act {
    int64_t nb;
    const block_q8_K* a;
  };
  static size_t prep_bytes(int64_t) { return 0; }
  static Act prepare(const uint8_t* act, int64_t n, uint8_t*) { return {n / QK_K, reinterpret_cast<const block_q8_K*>(act)}; }
  static float row(const uint8_t* w, const Act& A) { return kRow(w, A.nb, A.a); }
};

template <class KT>
void run(int64_t n, const uint8_t* w, size_t row_stride, int64_t n_rows, const uint8_t* acts, size_t act_stride,
         int64_t n_acts, float* out, size_t out_stride) {
  const size_t pb = (KT::prep_bytes(n) + 31) / 32 * 32;
  if (n_acts == 1) {
    Scratch s(pb);
    const auto A = KT::prepare(acts, n, s.get());
    for (int64_t r = 0; r < n_rows; ++r) out[r] = KT::row(w + static_cast<size_t>(r) * row_stride, A);
    return;
  }
  // Several activations: rows in blocks that stay in L1 while each activation of a chunk (whose
  // prepared data stays in L2) is dotted with them; the weights are read from memory once per
  // chunk of activations.
  const int64_t row_block = std::clamp<int64_t>(static_cast<int64_t>(16384 / std::max<size_t>(row_stride, 1)), 1, 64);
  const int64_t chunk = std::clamp<int64_t>(static_cast<int64_t>((256 << 10) / (pb + act_stride + 1)), 1, std::min<int64_t>(n_acts, 64));
  Scratch s(pb * static_cast<size_t>(chunk));
  std::unique_ptr<typename KT::Act[]> A(new typename KT::Act[static_cast<size_t>(chunk)]);
  for (int64_t t0 = 0; t0 < n_acts; t0 += chunk) {
    const int64_t nt = std::min(chunk, n_acts - t0);
    for (int64_t t = 0; t < nt; ++t)
      A[t] = KT::prepare(acts + static_cast<size_t>(t0 + t) * act_stride, n, s.get() + static_cast<size_t>(t) * pb);
    for (int64_t r0 = 0; r0 < n_rows; r0 += row_block) {
      const int64_t r1 = std::min(n_rows, r0 + row_block);
      for (int64_t t = 0; t < nt; ++t) {
        float* o = out + static_cast<size_t>(t0 + t) * out_stride;
        for (int64_t r = r0; r < r1; ++r) o[r] = KT::row(w + static_cast<size_t>(r) * row_stride, A[t]);
      }
    }
  }
}

}  // namespace

}  // namespace actinfer::avx2

// ---- the table's entry points (kernels/type_kernels.h) ----------------------------------------

namespace actinfer::kernels {

using namespace avx2;  // the kernels above

#define ACTINFER_ROWS(name, KT)                                                                          \
  void name(int64_t n, const void* w, size_t row_stride, int64_t n_rows, const void* acts, size_t act_stride, \
            int64_t n_acts, float* out, size_t out_stride) {                                              \
    run<KT>(n, static_cast<const uint8_t*>(w), row_stride, n_rows, static_cast<const uint8_t*>(acts), act_stride, \
            n_acts, out, out_stride);                                                                     \
  }
ACTINFER_ROWS(vec_dot_rows_f32_avx2, FloatK<LoadF32>)
ACTINFER_ROWS(vec_dot_rows_f16_avx2, FloatK<LoadF16>)
ACTINFER_ROWS(vec_dot_rows_bf16_avx2, FloatK<LoadBF16>)
ACTINFER_ROWS(vec_dot_rows_q8_0_avx2, Q8_0K)
ACTINFER_ROWS(vec_dot_rows_q4_0_avx2, Q4K<false>)
ACTINFER_ROWS(vec_dot_rows_q4_1_avx2, Q4K<true>)
ACTINFER_ROWS(vec_dot_rows_q4_K_avx2, KQuantK<GgmlType::Q4_K>)
ACTINFER_ROWS(vec_dot_rows_q5_K_avx2, KQuantK<GgmlType::Q5_K>)
ACTINFER_ROWS(vec_dot_rows_q6_K_avx2, KQuantK<GgmlType::Q6_K>)
ACTINFER_ROWS(vec_dot_rows_q5_0_avx2, Q8_0ActK<GgmlType::Q5_0>)
ACTINFER_ROWS(vec_dot_rows_iq4_nl_avx2, Q8_0ActK<GgmlType::IQ4_NL>)
ACTINFER_ROWS(vec_dot_rows_q5_1_avx2, Q5_1K)
ACTINFER_ROWS(vec_dot_rows_q2_K_avx2, Q8_KActK<q2_K_row>)
ACTINFER_ROWS(vec_dot_rows_q3_K_avx2, Q8_KActK<q3_K_row>)
ACTINFER_ROWS(vec_dot_rows_iq4_xs_avx2, Q8_KActK<iq4_xs_row>)
#undef ACTINFER_ROWS

void quantize_q8_0_avx2(const float* x, void* dst_, int64_t n) {
  auto* y = static_cast<block_q8_0*>(dst_);
  for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
    const float d = amax32(x) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    quant32(x, id, y[b].qs);
  }
}

void quantize_q8_1_avx2(const float* x, void* dst_, int64_t n) {
  auto* y = static_cast<block_q8_1*>(dst_);
  for (int64_t b = 0; b < n / QK8_1; ++b, x += QK8_1) {
    const float d = amax32(x) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const int sum = quant32(x, id, y[b].qs);
    y[b].d = f32_to_fp16(d);
    y[b].s = f32_to_fp16(d * static_cast<float>(sum));
  }
}

void quantize_q8_K_avx2(const float* x, void* dst_, int64_t n) {
  auto* y = static_cast<block_q8_K*>(dst_);
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
}

}  // namespace actinfer::kernels


#endif  // ACTINFER_HAVE_AVX2_KERNELS
