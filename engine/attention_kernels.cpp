#include "engine/attention_kernels.h"

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

// Eight positions' scores: one accumulator chain each, as in dot_f32 (n a multiple of 8).
inline void scores8(const float* q, const float* const* k, int n, __m256 scale, float* out) {
  __m256 acc[8];
  for (__m256& a : acc) a = _mm256_setzero_ps();
  for (int d = 0; d < n; d += 8) {
    const __m256 qv = _mm256_loadu_ps(q + d);
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[i] + d), acc[i]);
  }
  _mm256_storeu_ps(out, _mm256_mul_ps(reduce8(acc), scale));
}

// R registers (8 R floats from dims d0 on) of o through the whole tile of positions.
template <int R>
inline void values_slice(float* o, int d0, float rescale, const float* p, const float* const* v, int len) {
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

void attention_scores(const float* q, const float* const* k, int len, int n, float scale, float* out) {
  int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  if (n % 8 == 0) {
    const __m256 vs = _mm256_set1_ps(scale);
    for (; i + 8 <= len; i += 8) scores8(q, k + i, n, vs, out + i);
  }
#endif
  for (; i < len; ++i) out[i] = dot_f32(q, k[i], n) * scale;
}

void attention_values(float* o, int n, float rescale, const float* p, const float* const* v, int len) {
#if defined(__AVX2__) && defined(__FMA__)
  if (n % 8 == 0) {
    int d0 = 0;
    for (; d0 + 64 <= n; d0 += 64) values_slice<8>(o, d0, rescale, p, v, len);
    switch ((n - d0) / 8) {
      case 1: values_slice<1>(o, d0, rescale, p, v, len); break;
      case 2: values_slice<2>(o, d0, rescale, p, v, len); break;
      case 3: values_slice<3>(o, d0, rescale, p, v, len); break;
      case 4: values_slice<4>(o, d0, rescale, p, v, len); break;
      case 5: values_slice<5>(o, d0, rescale, p, v, len); break;
      case 6: values_slice<6>(o, d0, rescale, p, v, len); break;
      case 7: values_slice<7>(o, d0, rescale, p, v, len); break;
      default: break;
    }
    return;
  }
#endif
  if (rescale != 1.0f)
    for (int e = 0; e < n; ++e) o[e] *= rescale;
  for (int i = 0; i < len; ++i) axpy(p[i], v[i], o, n);
}

}  // namespace actinfer
