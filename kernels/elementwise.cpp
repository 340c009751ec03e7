#include "kernels/elementwise.h"

#include <algorithm>
#include <cmath>
#include <vector>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace actinfer {

namespace {

#if defined(__AVX2__) && defined(__FMA__)
// The sum of two registers of four double lanes.
inline double hsum_pd(__m256d a, __m256d b) {
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(a, b));
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}
#endif

// sum of x[i]^2 in double: one dependent chain of double adds costs ~2 us at n = 2048, so
// with AVX2 eight independent lanes (two registers of four doubles) share the work.
double sum_squares(const float* x, int64_t n) {
  int64_t i = 0;
  double ss = 0.0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    a0 = _mm256_fmadd_pd(lo, lo, a0);
    a1 = _mm256_fmadd_pd(hi, hi, a1);
  }
  ss = hsum_pd(a0, a1);
#endif
  for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  return ss;
}

#if defined(__AVX2__) && defined(__FMA__)
// e^x of 8 floats for x <= 0 (softmax's shifted scores), Cephes' expf: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-6 polynomial for e^r, 2^n through the exponent bits; within
// ~2 ulp of std::exp. x below -87.3 gives ~1e-38 instead of less (nothing, next to the
// maximum's 1); a NaN stays NaN.
inline __m256 exp_nonpositive(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.3f), x);  // max(a, NaN) returns the NaN
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#endif

}  // namespace

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  const double ss = sum_squares(x, n);
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void rms_norm_add(const float* x, const float* weight, float* acc, int64_t n, float eps) {
  const double ss = sum_squares(x, n);
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i] * scale * weight[i];
}

void rope_rotations(int rope_dims, int pos, float base, float* cs) {
  for (int i = 0; i < rope_dims / 2; ++i) {
    const double theta = pos * std::pow(static_cast<double>(base), -2.0 * i / rope_dims);
    cs[2 * i] = static_cast<float>(std::cos(theta));
    cs[2 * i + 1] = static_cast<float>(std::sin(theta));
  }
}

void rope_apply(float* x, int n_heads, int head_dim, int rope_dims, const float* cs) {
  for (int i = 0; i < rope_dims / 2; ++i) {
    const float c = cs[2 * i], s = cs[2 * i + 1];
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + static_cast<int64_t>(h) * head_dim + 2 * i;
      const float a = v[0], b = v[1];
      v[0] = a * c - b * s;
      v[1] = a * s + b * c;
    }
  }
}

void rope_apply_neox(float* x, int n_heads, int head_dim, int rope_dims, const float* cs) {
  const int half = rope_dims / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float a = v[i], b = v[i + half];
      v[i] = a * c - b * s;
      v[i + half] = a * s + b * c;
    }
  }
}

void rope_inplace(float* x, int n_heads, int head_dim, int rope_dims, int pos, float base) {
  std::vector<float> cs(static_cast<size_t>(rope_dims));
  rope_rotations(rope_dims, pos, base, cs.data());
  rope_apply(x, n_heads, head_dim, rope_dims, cs.data());
}

float exp_shifted(float* x, int64_t n, float m) {
  double sum = 0.0;
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  // std::exp one score at a time was most of attention's softmax; eight at a time, summed
  // in double lanes.
  const __m256 vm = _mm256_set1_ps(m);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  sum = hsum_pd(s0, s1);
#endif
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  return static_cast<float>(sum);
}

void softmax_inplace(float* x, int64_t n) {
  const float m = *std::max_element(x, x + n);
  const auto inv = static_cast<float>(1.0 / static_cast<double>(exp_shifted(x, n, m)));
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float activate(Activation a, float x) {
  switch (a) {
    case Activation::SiLU: return x / (1.0f + std::exp(-x));
    case Activation::ReLU: return x > 0.0f ? x : 0.0f;
    case Activation::GELU: {
      constexpr float kSqrt2OverPi = 0.7978845608028654f;
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
    }
  }
  return x;
}

void activate_inplace(Activation a, float* x, int64_t n) {
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    __m256 y;
    switch (a) {
      case Activation::SiLU: {
        // sigmoid from e = exp(-|v|) <= 1: 1 / (1 + e) for v >= 0, e / (1 + e) below.
        const __m256 e = exp_nonpositive(_mm256_or_ps(v, sign_bit));
        const __m256 inv = _mm256_div_ps(one, _mm256_add_ps(one, e));
        const __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        y = _mm256_mul_ps(v, _mm256_blendv_ps(inv, _mm256_mul_ps(e, inv), neg));
        break;
      }
      case Activation::GELU: {
        // tanh(u) = sign(u) (1 - e) / (1 + e) with e = exp(-2|u|) <= 1.
        const __m256 u = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), v),
                                       _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), v), v, one));
        const __m256 e = exp_nonpositive(_mm256_mul_ps(_mm256_set1_ps(2.0f), _mm256_or_ps(u, sign_bit)));
        const __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
        const __m256 th = _mm256_or_ps(t, _mm256_and_ps(u, sign_bit));
        y = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, th));
        break;
      }
      case Activation::ReLU: y = _mm256_max_ps(v, _mm256_setzero_ps()); break;
      default: y = v; break;
    }
    _mm256_storeu_ps(x + i, y);
  }
#endif
  for (; i < n; ++i) x[i] = activate(a, x[i]);
}

void axpy(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
#if defined(__AVX2__)
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#endif
  for (; i < n; ++i) y[i] += a * x[i];
}

float dot_f32(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float sum = 0.0f;
#if defined(__AVX2__)
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  sum = _mm_cvtss_f32(s);
#endif
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Both scan a vocabulary's logits per sampled token (49152 for SmolLM2, every sequence of a
// server step), eight at a time: a vector pass finds whether / what, a short scalar look finds where.
int64_t first_nan_or_inf(const float* x, int64_t n) {
  int64_t i = 0;
#if defined(__AVX2__)
  const __m256 inf = _mm256_set1_ps(INFINITY);
  for (; i + 8 <= n; i += 8) {
    // Not below +inf (unordered counts): NaN or +inf.
    const int bad = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), inf, _CMP_NLT_UQ));
    if (bad) return i + __builtin_ctz(static_cast<unsigned>(bad));
  }
#endif
  for (; i < n; ++i)
    if (std::isnan(x[i]) || x[i] == INFINITY) return i;
  return n;
}

int64_t first_max_index(const float* x, int64_t n) {
  float best = x[0];
  int64_t i = 0;
#if defined(__AVX2__)
  if (n >= 8) {
    __m256 m = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    best = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
  }
#endif
  for (; i < n; ++i) best = std::max(best, x[i]);
  for (int64_t j = 0;; ++j)  // the maximum is there: the first occurrence
    if (x[j] == best) return j;
}

}  // namespace actinfer
