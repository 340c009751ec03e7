#include "kernels/sparse_ffn.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>

#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/vec_dot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "kernels/int8_dot_avx2.h"
#define ACTINFER_SPARSE_AVX2 1
#else
#define ACTINFER_SPARSE_AVX2 0
#endif

namespace actinfer {
namespace {

#if ACTINFER_SPARSE_AVX2
using simd::hsum;
using simd::dot2_u8s8_add;
using simd::dot_u8s8_add;
using simd::load128;
using simd::load256;

// Rows in the ScalesFirst layout (engine/neuron_bundles.h): nb fp16 scales, then the quants.
// Eight scales at a time become floats in one register; block j of the eight takes its lane.
inline __m256 lane(__m256 v, int j) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(j)); }
inline __m256 scales8(const uint16_t* sc) { return _mm256_cvtph_ps(load128(sc)); }

// Block k of a Q4_0 row (quants q in 0..15, 16 bytes per block) . the Q8_0 activation, as
// 8 int32 lanes: q multiplies as unsigned bytes, the lanes start from bias = -8 * (sums of
// 4 activation bytes), so they hold sum((q - 8) * a) in fewer instructions than the sign trick.
inline __m256i q4_0_block_dot(const uint8_t* qs, const block_q8_0* a, const int32_t* bias, int64_t k) {
  const __m128i t = load128(qs + 16 * k);
  const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
  return dot_u8s8_add(load256(bias + 8 * k), q, load256(a[k].qs));
}
// Block k of a Q8_0 row (32 signed bytes per block) . the Q8_0 activation (the sign trick).
inline __m256i q8_0_block_dot(const int8_t* qs, const block_q8_0* a, const int32_t*, int64_t k) {
  const __m256i w = load256(qs + 32 * k);
  return dot_u8s8_add(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(load256(a[k].qs), w));
}

// A ScalesFirst row . the token's Q8_0 activation (ad: its block scales as floats), one block
// at a time (Q8_0 rows; Q4_0 rows take dot_q4_0_pairs below).
template <typename Quant, typename BlockDot>
float dot_scales_first(const std::byte* row, int64_t nb, const block_q8_0* a, const float* ad, const int32_t* bias,
                       BlockDot block_dot) {
  const auto* sc = reinterpret_cast<const uint16_t*>(row);
  const auto* qs = reinterpret_cast<const Quant*>(row + 2 * nb);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t k0 = 0;
  for (; k0 + 8 <= nb; k0 += 8) {
    const __m256 s = _mm256_mul_ps(scales8(sc + k0), _mm256_loadu_ps(ad + k0));
    for (int j = 0; j < 8; j += 2) {
      acc0 = _mm256_fmadd_ps(lane(s, j), _mm256_cvtepi32_ps(block_dot(qs, a, bias, k0 + j)), acc0);
      acc1 = _mm256_fmadd_ps(lane(s, j + 1), _mm256_cvtepi32_ps(block_dot(qs, a, bias, k0 + j + 1)), acc1);
    }
  }
  for (; k0 < nb; ++k0)
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_f32(sc[k0]) * ad[k0]), _mm256_cvtepi32_ps(block_dot(qs, a, bias, k0)), acc0);
  return hsum(_mm256_add_ps(acc0, acc1));
}

// bias[8 * k + i] = -8 * (a_{4i} + .. + a_{4i+3}) of block k: q4_0_block_dot's starting lanes.
void q4_0_bias(const block_q8_0* a, int64_t nb, int32_t* bias) {
  const __m256i ones = _mm256_set1_epi8(1), minus8 = _mm256_set1_epi16(-8);
  for (int64_t k = 0; k < nb; ++k)  // pairs a_{2j} + a_{2j+1} as int16, then -8 * (two pairs) as int32
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bias + 8 * k), _mm256_madd_epi16(_mm256_maddubs_epi16(ones, load256(a[k].qs)), minus8));
}

// Two Q4_0 blocks at a time. The quants of blocks k, k+1 of a ScalesFirst row are 32
// contiguous bytes whose low nibbles are elements 0..15 of each block and whose high
// nibbles are elements 16..31. q4_0_pairs regroups the token's activation once to match:
// per pair p = k/2, lo = [a_k[0..15] | a_k+1[0..15]], hi = [a_k[16..31] | a_k+1[16..31]],
// and starting lanes -8 * (the 8 bytes each lane sums). Then a pair costs one load, two
// masks and two byte dots, and its int32 lanes 0-3 hold block k, lanes 4-7 block k+1.
// The integers are those of q4_0_block_dot; only the float sums are grouped differently.
void q4_0_pairs(const block_q8_0* a, int64_t nb, int8_t* pairs, int32_t* bias) {
  const __m256i ones = _mm256_set1_epi8(1), minus8 = _mm256_set1_epi16(-8);
  for (int64_t p = 0; p + 1 < nb; p += 2) {
    const __m256i x0 = load256(a[p].qs), x1 = load256(a[p + 1].qs);
    const __m256i lo = _mm256_permute2x128_si256(x0, x1, 0x20), hi = _mm256_permute2x128_si256(x0, x1, 0x31);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(pairs + 32 * p), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(pairs + 32 * p + 32), hi);
    const __m256i pair_sums = _mm256_add_epi16(_mm256_maddubs_epi16(ones, lo), _mm256_maddubs_epi16(ones, hi));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bias + 4 * p), _mm256_madd_epi16(pair_sums, minus8));
  }
}

// A ScalesFirst Q4_0 row . the token's activation, pairs of blocks from q4_0_pairs; an odd
// last block goes through q4_0_block_dot.
float dot_q4_0_pairs(const std::byte* row, int64_t nb, const block_q8_0* a, const float* ad, const int32_t* bias,
                     const int8_t* pairs, const int32_t* pair_bias) {
  const auto* sc = reinterpret_cast<const uint16_t*>(row);
  const auto* qs = reinterpret_cast<const uint8_t*>(row + 2 * nb);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  // Lane indices [j j j j j+1 j+1 j+1 j+1] pick a pair's two scales out of eight.
  const __m256i pick0 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1), pick2 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
  const __m256i pick4 = _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5), pick6 = _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7);
  auto pair = [&](int64_t k) {  // blocks k, k+1 (k even) as int32 lanes
    const __m256i v = load256(qs + 16 * k);
    const __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    return dot2_u8s8_add(load256(pair_bias + 4 * k), lo, load256(pairs + 32 * k), hi, load256(pairs + 32 * k + 32));
  };
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t k0 = 0;
  for (; k0 + 8 <= nb; k0 += 8) {
    const __m256 s = _mm256_mul_ps(scales8(sc + k0), _mm256_loadu_ps(ad + k0));
    acc0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, pick0), _mm256_cvtepi32_ps(pair(k0)), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, pick2), _mm256_cvtepi32_ps(pair(k0 + 2)), acc1);
    acc0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, pick4), _mm256_cvtepi32_ps(pair(k0 + 4)), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s, pick6), _mm256_cvtepi32_ps(pair(k0 + 6)), acc1);
  }
  for (; k0 + 2 <= nb; k0 += 2) {
    const float s0 = fp16_to_f32(sc[k0]) * ad[k0], s1 = fp16_to_f32(sc[k0 + 1]) * ad[k0 + 1];
    acc0 = _mm256_fmadd_ps(_mm256_setr_ps(s0, s0, s0, s0, s1, s1, s1, s1), _mm256_cvtepi32_ps(pair(k0)), acc0);
  }
  if (k0 < nb)
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_f32(sc[k0]) * ad[k0]), _mm256_cvtepi32_ps(q4_0_block_dot(qs, a, bias, k0)), acc1);
  return hsum(_mm256_add_ps(acc0, acc1));
}

// Values 8g..8g+7 of Q8_0 block b of a ScalesFirst row's quants, as floats.
inline __m256 q8_0_group(const int8_t* qs, int64_t b, int g) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + 32 * b + 8 * g))));
}

// y[d] += sum_k h[k] * down^T_k for K ScalesFirst Q8_0 rows (d = 32 nb): y is loaded and
// stored once per 8 values for all K neurons; each element adds the neurons in order
// k = 0..K-1 with the scale h[k] * d_k, so K = 4 is bit-identical to four calls with K = 1.
template <int K>
void axpy_q8_0_scales_first(const float* h, const std::byte* const* rows, int64_t nb, float* y) {
  const uint16_t* sc[K];
  const int8_t* qs[K];
  for (int k = 0; k < K; ++k) {
    sc[k] = reinterpret_cast<const uint16_t*>(rows[k]);
    qs[k] = reinterpret_cast<const int8_t*>(rows[k] + 2 * nb);
  }
  auto block = [&](int64_t b, const __m256* s) {
    float* yb = y + b * 32;
    for (int g = 0; g < 4; ++g) {
      __m256 acc = _mm256_loadu_ps(yb + 8 * g);
      for (int k = 0; k < K; ++k) acc = _mm256_fmadd_ps(s[k], q8_0_group(qs[k], b, g), acc);
      _mm256_storeu_ps(yb + 8 * g, acc);
    }
  };
  int64_t b0 = 0;
  for (; b0 + 8 <= nb; b0 += 8) {
    __m256 s8[K];
    for (int k = 0; k < K; ++k) s8[k] = _mm256_mul_ps(_mm256_set1_ps(h[k]), scales8(sc[k] + b0));
    for (int j = 0; j < 8; ++j) {
      __m256 s[K];
      for (int k = 0; k < K; ++k) s[k] = lane(s8[k], j);
      block(b0 + j, s);
    }
  }
  for (; b0 < nb; ++b0) {
    __m256 s[K];
    for (int k = 0; k < K; ++k) s[k] = _mm256_set1_ps(h[k] * fp16_to_f32(sc[k][b0]));
    block(b0, s);
  }
}
void axpy_f16(float h, const uint16_t* w, float* y, int64_t d) {
  const __m256 s = _mm256_set1_ps(h);
  for (int64_t i = 0; i < d; i += 8) {
    const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(s, v, _mm256_loadu_ps(y + i)));
  }
}
void axpy_f32(float h, const float* w, float* y, int64_t d) {
  const __m256 s = _mm256_set1_ps(h);
  for (int64_t i = 0; i < d; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(s, _mm256_loadu_ps(w + i), _mm256_loadu_ps(y + i)));
}
#endif

#if !ACTINFER_SPARSE_AVX2
// Portable versions of the ScalesFirst kernels (same sums, plain loops).
float dot_scales_first_portable(GgmlType t, const std::byte* row, int64_t nb, const block_q8_0* a) {
  const auto* sc = reinterpret_cast<const uint16_t*>(row);
  const auto* q4 = reinterpret_cast<const uint8_t*>(row + 2 * nb);
  const auto* q8 = reinterpret_cast<const int8_t*>(row + 2 * nb);
  float sum = 0.0f;
  for (int64_t k = 0; k < nb; ++k) {
    int32_t isum = 0;
    for (int j = 0; j < 32; ++j) {
      const int w = t == GgmlType::Q4_0 ? (j < 16 ? (q4[16 * k + j] & 0x0F) : (q4[16 * k + j - 16] >> 4)) - 8 : q8[32 * k + j];
      isum += w * a[k].qs[j];
    }
    sum += fp16_to_f32(sc[k]) * fp16_to_f32(a[k].d) * static_cast<float>(isum);
  }
  return sum;
}
void axpy_q8_0_scales_first_portable(float h, const std::byte* row, int64_t nb, float* y) {
  const auto* sc = reinterpret_cast<const uint16_t*>(row);
  const auto* q = reinterpret_cast<const int8_t*>(row + 2 * nb);
  for (int64_t b = 0; b < nb; ++b) {
    const float s = h * fp16_to_f32(sc[b]);
    for (int i = 0; i < 32; ++i) y[32 * b + i] += s * static_cast<float>(q[32 * b + i]);
  }
}
#endif

// How many neurons ahead a whole record is prefetched, into L2 (locality hint 1): on the
// TinyLlama-shape Q4_0 bench, 4 lines of the next record -> 412 us/layer, whole records
// into L1 -> 371 us, whole records into L2 two ahead -> 240 us (1 thread); 4..16 ahead: same.
constexpr int64_t kPrefetchAhead = 2;

// One token's input quantized for the gate/up rows: the row a, its Q8_0 block scales as
// floats, and for ScalesFirst Q4_0 rows the per-block starting lanes of q4_0_block_dot (q4_0_bias).
struct TokenInput {
  const std::byte* a;
  const float* scale;
  const int32_t* bias;
  const int8_t* pairs;  // q4_0_pairs' regrouped activation and starting lanes
  const int32_t* pair_bias;
};

TokenInput token_input(const SparseScratch& s, int t, int64_t nb) {
  const bool q4 = !s.act_bias.empty();
  return {s.act.data() + static_cast<size_t>(t) * s.act_stride, s.act_scale.data() + t * nb,
          q4 ? s.act_bias.data() + t * nb * 8 : nullptr, q4 ? s.act_pairs.data() + t * (nb / 2) * 64 : nullptr,
          q4 ? s.pair_bias.data() + t * (nb / 2) * 8 : nullptr};
}

// One gate or up row . the token's quantized input.
inline float dot_row(const NeuronBundles& b, const std::byte* row, const TokenInput& in) {
  const int64_t d = b.d_model();
  if (!b.gate_up_scales_first()) return vec_dot(b.gate_up_type(), d, row, in.a);
  const auto* a = reinterpret_cast<const block_q8_0*>(in.a);
#if ACTINFER_SPARSE_AVX2
  if (b.gate_up_type() == GgmlType::Q4_0) return dot_q4_0_pairs(row, d / 32, a, in.scale, in.bias, in.pairs, in.pair_bias);
  return dot_scales_first<int8_t>(row, d / 32, a, in.scale, in.bias, q8_0_block_dot);
#else
  return dot_scales_first_portable(b.gate_up_type(), row, d / 32, a);
#endif
}

// h of neuron n for one token's quantized input. Returns 0 without reading the up
// row when a ReLU gate does not fire.
inline float neuron_h(const NeuronBundles& b, int32_t n, const TokenInput& in) {
  const Activation act = b.activation();
  if (!b.gated()) return activate(act, dot_row(b, b.up(n), in));
  const float g = dot_row(b, b.gate(n), in);
  if (act == Activation::ReLU && !(g > 0.0f)) return 0.0f;
  return activate(act, g) * dot_row(b, b.up(n), in);
}

// part[d] += h * down^T of neuron n.
inline void add_down(const NeuronBundles& b, int32_t n, float h, float* part, float* tmp) {
  const int64_t d = b.d_model();
  const std::byte* dr = b.down_t(n);
  if (b.down_t_scales_first()) {
#if ACTINFER_SPARSE_AVX2
    axpy_q8_0_scales_first<1>(&h, &dr, d / 32, part);
#else
    axpy_q8_0_scales_first_portable(h, dr, d / 32, part);
#endif
    return;
  }
#if ACTINFER_SPARSE_AVX2
  switch (b.down_t_type()) {
    case GgmlType::F16: axpy_f16(h, reinterpret_cast<const uint16_t*>(dr), part, d); return;
    case GgmlType::F32: axpy_f32(h, reinterpret_cast<const float*>(dr), part, d); return;
    default: break;
  }
#endif
  dequantize_row(b.down_t_type(), dr, tmp, d);
  axpy(h, tmp, part, d);
}

inline void prefetch_record(const NeuronBundles& b, int32_t n) {
  const char* p = reinterpret_cast<const char*>(b.record(n));
  for (size_t l = 0; l < b.used_record_bytes(); l += 64) __builtin_prefetch(p + l, 0, 1);
}

inline void prefetch_bytes(const std::byte* p, size_t n) {
  for (size_t l = 0; l < n; l += 64) __builtin_prefetch(reinterpret_cast<const char*>(p) + l, 0, 1);
}

// One thread's share: the neurons active[i0, i1) added into part[d].
// ReLU-gated models run in two passes: first the gate rows of all the listed neurons
// (a neuron predicted active whose gate is <= 0 contributes nothing), then up and
// down of only those that fire, so a predictor's false positives cost a gate row
// instead of a whole record. `fired` is this thread's scratch (i1 - i0 entries).
// Returns the weight bytes it read.
uint64_t run_neurons(const NeuronBundles& b, const SparseScratch& s, std::span<const int32_t> active, int64_t i0, int64_t i1,
                     float* part, float* tmp, std::pair<int32_t, float>* fired) {
  std::fill(part, part + b.d_model(), 0.0f);
  const TokenInput in = token_input(s, 0, b.d_model() / 32);
  if (b.gated() && b.activation() == Activation::ReLU && fired) {
    const size_t g_bytes = b.gate_up_row_bytes(), rest = b.used_record_bytes() - g_bytes;
    int64_t n_fired = 0;
    for (int64_t k = i0; k < std::min(i1, i0 + 2 * kPrefetchAhead); ++k) prefetch_bytes(b.gate(active[static_cast<size_t>(k)]), g_bytes);
    for (int64_t k = i0; k < i1; ++k) {
      const int32_t n = active[static_cast<size_t>(k)];
      if (k + 2 * kPrefetchAhead < i1) prefetch_bytes(b.gate(active[static_cast<size_t>(k + 2 * kPrefetchAhead)]), g_bytes);
      const float g = dot_row(b, b.gate(n), in);
      fired[n_fired] = {n, g};  // branch-free: whether a predicted neuron fires is a coin flip
      n_fired += g > 0.0f ? 1 : 0;
    }
    for (int64_t j = 0; j < std::min(n_fired, kPrefetchAhead); ++j) prefetch_bytes(b.up(fired[j].first), rest);
    int64_t j = 0;
#if ACTINFER_SPARSE_AVX2
    // Four fired neurons at a time share one pass over the partial sum (ScalesFirst Q8_0 down^T).
    if (b.down_t_scales_first()) {
      for (; j + 4 <= n_fired; j += 4) {
        float h[4];
        const std::byte* cols[4];
        for (int k = 0; k < 4; ++k) {
          if (j + k + kPrefetchAhead < n_fired) prefetch_bytes(b.up(fired[j + k + kPrefetchAhead].first), rest);
          const auto [n, g] = fired[j + k];
          h[k] = g * dot_row(b, b.up(n), in);
          cols[k] = b.down_t(n);
        }
        axpy_q8_0_scales_first<4>(h, cols, b.d_model() / 32, part);
      }
    }
#endif
    for (; j < n_fired; ++j) {
      if (j + kPrefetchAhead < n_fired) prefetch_bytes(b.up(fired[j + kPrefetchAhead].first), rest);
      const auto [n, g] = fired[j];
      const float h = g * dot_row(b, b.up(n), in);
      if (h != 0.0f) add_down(b, n, h, part, tmp);
    }
    return static_cast<uint64_t>(i1 - i0) * g_bytes + static_cast<uint64_t>(n_fired) * rest;
  }
  for (int64_t k = i0; k < std::min(i1, i0 + kPrefetchAhead); ++k) prefetch_record(b, active[static_cast<size_t>(k)]);
  for (int64_t k = i0; k < i1; ++k) {
    const int32_t n = active[static_cast<size_t>(k)];
    // Records are scattered: fetch a later one whole while this one computes.
    if (k + kPrefetchAhead < i1) prefetch_record(b, active[static_cast<size_t>(k + kPrefetchAhead)]);
    const float h = neuron_h(b, n, in);
    if (h != 0.0f) add_down(b, n, h, part, tmp);
  }
  return static_cast<uint64_t>(i1 - i0) * b.used_record_bytes();  // prefetched whole
}

// Batched: the neurons of s.batch_union[i0, i1), each for the tokens of its mask
// (bit t: token t), added into part[t * stride ...]; each record is read once.
void run_neurons_batch(const NeuronBundles& b, const SparseScratch& s, int B, int64_t i0, int64_t i1, float* part, float* tmp) {
  const int64_t d = b.d_model();
  for (int t = 0; t < B; ++t) std::fill(part + t * s.stride, part + t * s.stride + d, 0.0f);
  const std::vector<int32_t>& u = s.batch_union;
  const int64_t nb = d / 32;
  for (int64_t k = i0; k < std::min(i1, i0 + kPrefetchAhead); ++k) prefetch_record(b, u[static_cast<size_t>(k)]);
  for (int64_t k = i0; k < i1; ++k) {
    const int32_t n = u[static_cast<size_t>(k)];
    if (k + kPrefetchAhead < i1) prefetch_record(b, u[static_cast<size_t>(k + kPrefetchAhead)]);
    for (uint64_t m = s.token_mask[static_cast<size_t>(n)]; m != 0; m &= m - 1) {
      const int t = std::countr_zero(m);
      const float h = neuron_h(b, n, token_input(s, t, nb));
      if (h != 0.0f) add_down(b, n, h, part + t * s.stride, tmp);
    }
  }
}

// Quantizes B rows of xn for the gate/up type into s.act (rows act_stride apart).
void quantize_inputs(const NeuronBundles& b, const float* xn, int B, SparseScratch& s) {
  const int64_t d = b.d_model();
  const GgmlType gt = b.gate_up_type();
  const GgmlType at = activation_type_for(gt);
  s.act_stride = static_cast<size_t>(row_bytes(at, d));
  if (s.act.size() < s.act_stride * static_cast<size_t>(B)) s.act.resize(s.act_stride * static_cast<size_t>(B));
  const int64_t nb = d / 32;
  if (s.act_scale.size() < static_cast<size_t>(nb * B)) s.act_scale.resize(static_cast<size_t>(nb * B));
  for (int t = 0; t < B; ++t) {
    std::byte* a = s.act.data() + static_cast<size_t>(t) * s.act_stride;
    quantize_activation(gt, xn + t * d, a, d);
    if (at == GgmlType::Q8_0) {
      const auto* blocks = reinterpret_cast<const block_q8_0*>(a);
      for (int64_t k = 0; k < nb; ++k) s.act_scale[static_cast<size_t>(t * nb + k)] = fp16_to_f32(blocks[k].d);
    }
  }
  s.act_bias.clear();
#if ACTINFER_SPARSE_AVX2
  if (gt == GgmlType::Q4_0 && b.gate_up_scales_first()) {
    s.act_bias.resize(static_cast<size_t>(nb * 8 * B));
    s.act_pairs.resize(static_cast<size_t>((nb / 2) * 64 * B));
    s.pair_bias.resize(static_cast<size_t>((nb / 2) * 8 * B));
    for (int t = 0; t < B; ++t) {
      const auto* a = reinterpret_cast<const block_q8_0*>(s.act.data() + static_cast<size_t>(t) * s.act_stride);
      if (nb % 2 == 1)  // only an odd last block is dotted alone (dot_q4_0_pairs)
        q4_0_bias(a + (nb - 1), 1, s.act_bias.data() + t * nb * 8 + (nb - 1) * 8);
      q4_0_pairs(a, nb, s.act_pairs.data() + t * (nb / 2) * 64, s.pair_bias.data() + t * (nb / 2) * 8);
    }
  }
#endif
}

// y[t][d] = sum over threads of their partials, in thread order. One token's partials are
// a few KiB: the calling thread sums them, cheaper than another fork-join; a batch's are
// summed by all threads, each a slice of d.
void reduce_partials(ThreadPool& pool, const SparseScratch& s, int B, int64_t d, float* y) {
  const int n = pool.size();
  const size_t thread_stride = static_cast<size_t>(s.stride) * static_cast<size_t>(B);
  auto slice = [&](int64_t c0, int64_t c1) {
    for (int t = 0; t < B; ++t) {
      const float* p = s.partial.data() + static_cast<size_t>(t) * static_cast<size_t>(s.stride);
      float* yt = y + t * d;
      for (int64_t c = c0; c < c1; ++c) yt[c] = p[c];
      for (int k = 1; k < n; ++k) {
        const float* pk = p + static_cast<size_t>(k) * thread_stride;
        for (int64_t c = c0; c < c1; ++c) yt[c] += pk[c];
      }
    }
  };
  if (B == 1) return slice(0, d);
  pool.run([&](int ti, int nt) {
    const auto [c0, c1] = ThreadPool::split(d, ti, nt, 16);
    slice(c0, c1);
  });
}

}  // namespace

uint64_t sparse_ffn(ThreadPool& pool, const NeuronBundles& b, const float* xn, std::span<const int32_t> active, float* y,
                    SparseScratch& s) {
  const int64_t d = b.d_model();
  const int nt = pool.size();
  s.stride = (d + 15) / 16 * 16;
  const size_t part_size = static_cast<size_t>(nt) * static_cast<size_t>(s.stride);
  if (s.partial.size() < part_size) s.partial.resize(part_size);
  if (s.tmp.size() < part_size) s.tmp.resize(part_size);
  for (int32_t n : active)
    if (n < 0 || n >= b.n_neurons()) throw std::out_of_range("sparse_ffn: neuron index out of range");
  quantize_inputs(b, xn, 1, s);

  const auto n_active = static_cast<int64_t>(active.size());
  if (s.fired.size() < active.size()) s.fired.resize(active.size());
  if (nt == 1 || n_active < 2) return run_neurons(b, s, active, 0, n_active, y, s.tmp.data(), s.fired.data());
  s.thread_bytes.assign(static_cast<size_t>(nt), 0);
  pool.run([&](int ti, int n) {
    const auto [i0, i1] = ThreadPool::split(n_active, ti, n);
    const size_t off = static_cast<size_t>(ti) * static_cast<size_t>(s.stride);
    s.thread_bytes[static_cast<size_t>(ti)] = run_neurons(b, s, active, i0, i1, s.partial.data() + off, s.tmp.data() + off, s.fired.data() + i0);
  });
  reduce_partials(pool, s, 1, d, y);
  uint64_t bytes = 0;
  for (uint64_t v : s.thread_bytes) bytes += v;
  return bytes;
}

uint64_t sparse_ffn_batch(ThreadPool& pool, const NeuronBundles& b, const float* xn, int B,
                          std::span<const std::vector<int32_t>> active, float* y, SparseScratch& s) {
  if (active.size() != static_cast<size_t>(B)) throw std::invalid_argument("sparse_ffn_batch: one active list per token");
  const int64_t d = b.d_model();
  if (B == 1) return sparse_ffn(pool, b, xn, active[0], y, s);
  constexpr int kMaxTokens = 64;  // one bit per token in a neuron's mask
  if (B > kMaxTokens) {
    uint64_t bytes = 0;
    for (int t0 = 0; t0 < B; t0 += kMaxTokens) {
      const int n = std::min(kMaxTokens, B - t0);
      bytes += sparse_ffn_batch(pool, b, xn + t0 * d, n, active.subspan(static_cast<size_t>(t0), static_cast<size_t>(n)), y + t0 * d, s);
    }
    return bytes;
  }
  // Which tokens each neuron is active for, and the union in index order.
  const auto n_neurons = static_cast<size_t>(b.n_neurons());
  s.token_mask.assign(n_neurons, 0);
  for (int t = 0; t < B; ++t)
    for (int32_t n : active[static_cast<size_t>(t)]) {
      if (n < 0 || static_cast<size_t>(n) >= n_neurons) throw std::out_of_range("sparse_ffn: neuron index out of range");
      s.token_mask[static_cast<size_t>(n)] |= uint64_t{1} << t;
    }
  s.batch_union.clear();
  for (size_t n = 0; n < n_neurons; ++n)
    if (s.token_mask[n]) s.batch_union.push_back(static_cast<int32_t>(n));

  const int nt = pool.size();
  s.stride = (d + 15) / 16 * 16;
  const size_t thread_stride = static_cast<size_t>(s.stride) * static_cast<size_t>(B);
  if (s.partial.size() < thread_stride * static_cast<size_t>(nt)) s.partial.resize(thread_stride * static_cast<size_t>(nt));
  if (s.tmp.size() < static_cast<size_t>(nt) * static_cast<size_t>(s.stride)) s.tmp.resize(static_cast<size_t>(nt) * static_cast<size_t>(s.stride));
  quantize_inputs(b, xn, B, s);
  const auto n_union = static_cast<int64_t>(s.batch_union.size());
  pool.run([&](int ti, int n) {
    const auto [i0, i1] = ThreadPool::split(n_union, ti, n);
    run_neurons_batch(b, s, B, i0, i1, s.partial.data() + static_cast<size_t>(ti) * thread_stride,
                      s.tmp.data() + static_cast<size_t>(ti) * static_cast<size_t>(s.stride));
  });
  reduce_partials(pool, s, B, d, y);
  return static_cast<uint64_t>(n_union) * b.used_record_bytes();  // every record of the union, prefetched whole
}

}  // namespace actinfer
