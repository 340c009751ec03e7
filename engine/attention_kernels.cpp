#include "engine/attention_kernels.h"

#include <algorithm>
#include <limits>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "kernels/elementwise.h"

namespace actinfer {
namespace {

#if defined(__AVX2__) && defined(__FMA__)
// The sums of eight accumulators, lane j = sum of acc[j], each reduced as dot_f32 reduces
// its one: the two halves added lane by lane (s_l = a_l + a_(l+4)), then
// (s_0 + s_1) + (s_2 + s_3).
inline __m256 reduce8(const __m256* acc) {
  __m256 t[4];
  for (int j = 0; j < 4; ++j)
    t[j] = _mm256_add_ps(_mm256_permute2f128_ps(acc[j], acc[j + 4], 0x20), _mm256_permute2f128_ps(acc[j], acc[j + 4], 0x31));
  // t[j] = (s of acc[j] | s of acc[j + 4]); two horizontal adds give lane j = acc[j]'s sum.
  return _mm256_hadd_ps(_mm256_hadd_ps(t[0], t[1]), _mm256_hadd_ps(t[2], t[3]));
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Eight positions' scores for one query: one accumulator chain each, as in dot_f32.
inline __m256 scores8(const float* q, const float* const* k, int n, __m256 scale) {
  __m256 acc[8];
  for (__m256& a : acc) a = _mm256_setzero_ps();
  for (int d = 0; d < n; d += 8) {
    const __m256 qv = _mm256_loadu_ps(q + d);
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[i] + d), acc[i]);
  }
  return _mm256_mul_ps(reduce8(acc), scale);
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's _mm512_broadcast_f32x8 starts from an undefined register and warns about it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Eight positions' scores for two queries at once: the low half of each register is
// query a's chain, the high half query b's, each exactly dot_f32's eight lanes.
inline void scores8x2(const float* qa, const float* qb, const float* const* k, int n, __m256 scale, __m256& out_a, __m256& out_b) {
  __m512 acc[8];
  for (__m512& a : acc) a = _mm512_setzero_ps();
  for (int d = 0; d < n; d += 8) {
    const __m512 qv = _mm512_insertf32x8(_mm512_zextps256_ps512(_mm256_loadu_ps(qa + d)), _mm256_loadu_ps(qb + d), 1);
    for (int i = 0; i < 8; ++i) acc[i] = _mm512_fmadd_ps(qv, _mm512_broadcast_f32x8(_mm256_loadu_ps(k[i] + d)), acc[i]);
  }
  __m256 lo[8], hi[8];
  for (int i = 0; i < 8; ++i) lo[i] = _mm512_castps512_ps256(acc[i]), hi[i] = _mm512_extractf32x8_ps(acc[i], 1);
  out_a = _mm256_mul_ps(reduce8(lo), scale);
  out_b = _mm256_mul_ps(reduce8(hi), scale);
}

// R 16-float registers of each of Q outputs (dims d0..) through the whole tile of positions.
template <int Q, int R>
inline void values16(float* const* o, int d0, const float* rescale, const float* const* p, const float* const* v, int len) {
  __m512 acc[Q][R];
  for (int j = 0; j < Q; ++j) {
    for (int r = 0; r < R; ++r) acc[j][r] = _mm512_loadu_ps(o[j] + d0 + 16 * r);
    if (rescale[j] != 1.0f) {
      const __m512 c = _mm512_set1_ps(rescale[j]);
      for (int r = 0; r < R; ++r) acc[j][r] = _mm512_mul_ps(acc[j][r], c);
    }
  }
  for (int i = 0; i < len; ++i) {
    __m512 vv[R];
    for (int r = 0; r < R; ++r) vv[r] = _mm512_loadu_ps(v[i] + d0 + 16 * r);
    for (int j = 0; j < Q; ++j) {
      const __m512 w = _mm512_set1_ps(p[j][i]);
      for (int r = 0; r < R; ++r) acc[j][r] = _mm512_fmadd_ps(w, vv[r], acc[j][r]);
    }
  }
  for (int j = 0; j < Q; ++j)
    for (int r = 0; r < R; ++r) _mm512_storeu_ps(o[j] + d0 + 16 * r, acc[j][r]);
}

// Dims [d0, d0 + 16 R) for any R: the widest register blocks first.
template <int Q, int R>
inline void values16_span(float* const* o, int d0, int d1, const float* rescale, const float* const* p, const float* const* v, int len) {
  for (; d0 + 16 * R <= d1; d0 += 16 * R) values16<Q, R>(o, d0, rescale, p, v, len);
  if constexpr (R > 1) values16_span<Q, R - 1>(o, d0, d1, rescale, p, v, len);
}
#endif

// R 8-float registers of o (dims d0..) through the whole tile of positions.
template <int R>
inline void values_slice8(float* o, int d0, float rescale, const float* p, const float* const* v, int len) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_loadu_ps(o + d0 + 8 * r);
  if (rescale != 1.0f) {
    const __m256 c = _mm256_set1_ps(rescale);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_mul_ps(acc[r], c);
  }
  for (int i = 0; i < len; ++i) {
    const __m256 w = _mm256_set1_ps(p[i]);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v[i] + d0 + 8 * r), acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(o + d0 + 8 * r, acc[r]);
}
#endif

}  // namespace

void attention_scores(const float* const* qs, int n_queries, const float* const* k, int len, int n, float scale, float* const* out,
                      float* max_out) {
  int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  if (n % 8 == 0 && len >= 8) {
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vmax[2] = {_mm256_set1_ps(-std::numeric_limits<float>::infinity()), _mm256_set1_ps(-std::numeric_limits<float>::infinity())};
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    if (n_queries == 2) {
      for (; i + 8 <= len; i += 8) {
        __m256 a, b;
        scores8x2(qs[0], qs[1], k + i, n, vs, a, b);
        _mm256_storeu_ps(out[0] + i, a);
        _mm256_storeu_ps(out[1] + i, b);
        vmax[0] = _mm256_max_ps(vmax[0], a);
        vmax[1] = _mm256_max_ps(vmax[1], b);
      }
    }
#endif
    if (i == 0)
      for (int j = 0; j < n_queries; ++j)
        for (i = 0; i + 8 <= len; i += 8) {
          const __m256 s = scores8(qs[j], k + i, n, vs);
          _mm256_storeu_ps(out[j] + i, s);
          vmax[j] = _mm256_max_ps(vmax[j], s);
        }
    for (int j = 0; j < n_queries; ++j) {
      max_out[j] = hmax(vmax[j]);
      for (int r = i; r < len; ++r) max_out[j] = std::max(max_out[j], out[j][r] = dot_f32(qs[j], k[r], n) * scale);
    }
    return;
  }
#endif
  for (int j = 0; j < n_queries; ++j) {
    for (int r = 0; r < len; ++r) out[j][r] = dot_f32(qs[j], k[r], n) * scale;
    max_out[j] = *std::max_element(out[j], out[j] + len);
  }
}

void attention_values(float* const* o, int n_outputs, int n, const float* rescale, const float* const* p, const float* const* v, int len) {
#if defined(__AVX2__) && defined(__FMA__)
  if (n % 8 == 0) {
    int d0 = 0;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    // Eight chains of 16 lanes keep both FMA units busy: 4 registers x 2 outputs, or 8 of one.
    const int d16 = n / 16 * 16;
    if (n_outputs == 2) values16_span<2, 4>(o, 0, d16, rescale, p, v, len);
    else values16_span<1, 8>(o, 0, d16, rescale, p, v, len);
    d0 = d16;
#endif
    for (int j = 0; j < n_outputs; ++j) {
      int d = d0;
      for (; d + 64 <= n; d += 64) values_slice8<8>(o[j], d, rescale[j], p[j], v, len);
      switch ((n - d) / 8) {
        case 1: values_slice8<1>(o[j], d, rescale[j], p[j], v, len); break;
        case 2: values_slice8<2>(o[j], d, rescale[j], p[j], v, len); break;
        case 3: values_slice8<3>(o[j], d, rescale[j], p[j], v, len); break;
        case 4: values_slice8<4>(o[j], d, rescale[j], p[j], v, len); break;
        case 5: values_slice8<5>(o[j], d, rescale[j], p[j], v, len); break;
        case 6: values_slice8<6>(o[j], d, rescale[j], p[j], v, len); break;
        case 7: values_slice8<7>(o[j], d, rescale[j], p[j], v, len); break;
        default: break;
      }
    }
    return;
  }
#endif
  for (int j = 0; j < n_outputs; ++j) {
    if (rescale[j] != 1.0f)
      for (int e = 0; e < n; ++e) o[j][e] *= rescale[j];
    for (int i = 0; i < len; ++i) axpy(p[j][i], v[i], o[j], n);
  }
}

}  // namespace actinfer
