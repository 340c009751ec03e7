#include "engine/attention_kernels.h"

#include <algorithm>
#include <limits>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define ACTINFER_ATTENTION_AVX2 1
#include <immintrin.h>
#else
#define ACTINFER_ATTENTION_AVX2 0
#endif

#include "kernels/elementwise.h"

namespace actinfer {
namespace {

constexpr int kMaxRowFloats = 512;  // the largest head dimension (attention refuses larger ones)

#if ACTINFER_ATTENTION_AVX2
// Eight elements of a cached row as floats: F16 widened exactly, as fp16_row_to_f32 does.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// Lane j = the sum of acc[j], reduced as dot_f32 reduces its one accumulator: the two halves
// added lane by lane (s_l = a_l + a_(l+4)), then (s_0 + s_1) + (s_2 + s_3).
inline __m128 reduce4(const __m256* acc) {
  __m128 t[4];
  for (int j = 0; j < 4; ++j) t[j] = _mm_add_ps(_mm256_castps256_ps128(acc[j]), _mm256_extractf128_ps(acc[j], 1));
  return _mm_hadd_ps(_mm_hadd_ps(t[0], t[1]), _mm_hadd_ps(t[2], t[3]));
}

inline float hmax(__m128 m) {
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Q queries' scores over rows [0, len) in blocks of four rows: per eight dims, the queries'
// elements stay in Q registers while each row's are loaded (widened) once and multiplied into
// Q accumulator chains, one chain per (query, row) as in dot_f32 (4 Q chains, 16 registers at
// Q = 3). Rows past the last block of four go through dot_f32 on the widened row.
template <int Q, class T>
void scores_q(const float* const* qs, const T* k, size_t ks, const KvRows& rows, int len, int n, float scale, float* const* out,
              float* max_out) {
  const __m128 vs = _mm_set1_ps(scale);
  __m128 vmax[Q];
  for (__m128& m : vmax) m = _mm_set1_ps(-std::numeric_limits<float>::infinity());
  int i = 0;
  for (; i + 4 <= len; i += 4) {
    const T* k0 = k + static_cast<size_t>(i) * ks;
    __m256 acc[Q][4];
    for (auto& a : acc)
      for (__m256& x : a) x = _mm256_setzero_ps();
    for (int d = 0; d < n; d += 8) {
      __m256 qv[Q];
      for (int j = 0; j < Q; ++j) {
        qv[j] = _mm256_loadu_ps(qs[j] + d);
        asm("" : "+x"(qv[j]));  // kept in a register: GCC otherwise reloads it for every FMA
      }
      for (int r = 0; r < 4; ++r) {
        __m256 kv = load8(k0 + static_cast<size_t>(r) * ks + d);
        asm("" : "+x"(kv));
        for (int j = 0; j < Q; ++j) acc[j][r] = _mm256_fmadd_ps(qv[j], kv, acc[j][r]);
      }
    }
    for (int j = 0; j < Q; ++j) {
      const __m128 s = _mm_mul_ps(reduce4(acc[j]), vs);
      _mm_storeu_ps(out[j] + i, s);
      vmax[j] = _mm_max_ps(vmax[j], s);
    }
  }
  for (int j = 0; j < Q; ++j) max_out[j] = i > 0 ? hmax(vmax[j]) : -std::numeric_limits<float>::infinity();
  alignas(32) float buf[kMaxRowFloats];
  for (; i < len; ++i) {
    const float* row = rows.widened(i, n, buf);
    for (int j = 0; j < Q; ++j) max_out[j] = std::max(max_out[j], out[j][i] = dot_f32(qs[j], row, n) * scale);
  }
}

// Dims [d0, d0 + 8 R) of one output through every row: R accumulator chains, each step
// axpy's fma(p, v, o). One output at a time, its dims outermost in slices of 64: each pass
// reads whole 64-dim runs of the rows in order (slices across several outputs, or narrower
// slices, read each row's cache lines piecemeal per pass: 1.2-1.4x slower at depth 4096,
// where the rows come from memory).
template <int R, class T>
void values_r(float* o, int d0, float rescale, const float* p, const T* v, size_t vs, int len) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_loadu_ps(o + d0 + 8 * r);
  if (rescale != 1.0f) {
    const __m256 c = _mm256_set1_ps(rescale);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_mul_ps(acc[r], c);
  }
  for (int i = 0; i < len; ++i) {
    const T* vi = v + static_cast<size_t>(i) * vs + d0;
    const __m256 w = _mm256_set1_ps(p[i]);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(w, load8(vi + 8 * r), acc[r]);
  }
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(o + d0 + 8 * r, acc[r]);
}

// All n dims (a multiple of 8): slices of 8 registers, then the narrower rest. The rescale
// applies once per element: each dim lies in exactly one slice.
template <int R, class T>
void values_span(float* o, int d0, int n, float rescale, const float* p, const T* v, size_t vs, int len) {
  for (; d0 + 8 * R <= n; d0 += 8 * R) values_r<R>(o, d0, rescale, p, v, vs, len);
  if constexpr (R > 1) values_span<R - 1>(o, d0, n, rescale, p, v, vs, len);
}

// Q outputs at once over dims [d0, d0 + 8 R), R <= 2: each V row's vectors are loaded
// (widened) once for all Q instead of once per output. Per output and dim it is values_r's
// chain (the rescale, then fma(p, v, o) in row order): the same bits. For a prompt's passes,
// where many query rows share one tile of V rows already in cache.
template <int Q, int R, class T>
void values_q(float* const* o, int d0, const float* rescale, const float* const* p, const T* v, size_t vs, int len) {
  static_assert(R >= 1 && R <= 2 && Q * R + R + 1 <= 16, "accumulators, rows and a broadcast in 16 registers");
  __m256 acc[Q][R];
  for (int j = 0; j < Q; ++j)
    for (int r = 0; r < R; ++r) acc[j][r] = _mm256_mul_ps(_mm256_loadu_ps(o[j] + d0 + 8 * r), _mm256_set1_ps(rescale[j]));
  for (int i = 0; i < len; ++i) {
    const T* vi = v + static_cast<size_t>(i) * vs + d0;
    __m256 vr[R];
    for (int r = 0; r < R; ++r) {
      vr[r] = load8(vi + 8 * r);
      asm("" : "+x"(vr[r]));  // one load per row, not one per FMA
    }
    for (int j = 0; j < Q; ++j) {
      const __m256 w = _mm256_broadcast_ss(p[j] + i);
      for (int r = 0; r < R; ++r) acc[j][r] = _mm256_fmadd_ps(w, vr[r], acc[j][r]);
    }
  }
  for (int j = 0; j < Q; ++j)
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(o[j] + d0 + 8 * r, acc[j][r]);
}

// Outputs [0, n_outputs) in groups of kValueOutputs through values_q over all n dims, the
// rest one at a time.
constexpr int kValueOutputs = 6;
template <class T>
void values_grouped(float* const* o, int n_outputs, int n, const float* rescale, const float* const* p, const T* v, size_t vs, int len) {
  int j = 0;
  for (; j + kValueOutputs <= n_outputs; j += kValueOutputs) {
    int d0 = 0;
    for (; d0 + 16 <= n; d0 += 16) values_q<kValueOutputs, 2>(o + j, d0, rescale + j, p + j, v, vs, len);
    if (d0 < n) values_q<kValueOutputs, 1>(o + j, d0, rescale + j, p + j, v, vs, len);
  }
  for (; j < n_outputs; ++j) values_span<8>(o[j], 0, n, rescale[j], p[j], v, vs, len);
}

template <class T>
void scores_avx2(const float* const* qs, int n_queries, const T* k, const KvRows& rows, int len, int n, float scale, float* const* out,
                 float* max_out) {
  for (int j = 0; j < n_queries; j += 3) {
    switch (std::min(3, n_queries - j)) {
      case 3: scores_q<3>(qs + j, k, rows.stride, rows, len, n, scale, out + j, max_out + j); break;
      case 2: scores_q<2>(qs + j, k, rows.stride, rows, len, n, scale, out + j, max_out + j); break;
      default: scores_q<1>(qs + j, k, rows.stride, rows, len, n, scale, out + j, max_out + j); break;
    }
  }
}

// Decode's few outputs one at a time (whole 64-dim runs of rows that come from memory at
// depth); a prompt's many (query rows x heads) in groups that share each row's loads.
constexpr int kGroupedValuesFrom = 16;
template <class T>
void values_avx2(float* const* o, int n_outputs, int n, const float* rescale, const float* const* p, const T* v, size_t vs, int len) {
  if (n_outputs >= kGroupedValuesFrom) return values_grouped(o, n_outputs, n, rescale, p, v, vs, len);
  for (int j = 0; j < n_outputs; ++j) values_span<8>(o[j], 0, n, rescale[j], p[j], v, vs, len);
}
#endif

}  // namespace

void attention_scores(const float* const* qs, int n_queries, const KvRows& k, int len, int n, float scale, float* const* out,
                      float* max_out) {
#if ACTINFER_ATTENTION_AVX2
  if (n % 8 == 0) {
    if (k.type == KvCacheType::F16) return scores_avx2(qs, n_queries, k.f16(0), k, len, n, scale, out, max_out);
    return scores_avx2(qs, n_queries, k.f32(0), k, len, n, scale, out, max_out);
  }
#endif
  alignas(32) float buf[kMaxRowFloats];
  for (int j = 0; j < n_queries; ++j) max_out[j] = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < len; ++i) {
    const float* row = k.widened(i, n, buf);
    for (int j = 0; j < n_queries; ++j) out[j][i] = dot_f32(qs[j], row, n) * scale;
  }
  for (int j = 0; j < n_queries; ++j)
    if (len > 0) max_out[j] = *std::max_element(out[j], out[j] + len);
}

void attention_values(float* const* o, int n_outputs, int n, const float* rescale, const float* const* p, const KvRows& v, int len) {
#if ACTINFER_ATTENTION_AVX2
  if (n % 8 == 0) {
    if (v.type == KvCacheType::F16) return values_avx2(o, n_outputs, n, rescale, p, v.f16(0), v.stride, len);
    return values_avx2(o, n_outputs, n, rescale, p, v.f32(0), v.stride, len);
  }
#endif
  for (int j = 0; j < n_outputs; ++j)
    if (rescale[j] != 1.0f)
      for (int e = 0; e < n; ++e) o[j][e] *= rescale[j];
  alignas(32) float buf[kMaxRowFloats];
  for (int i = 0; i < len; ++i) {
    const float* row = v.widened(i, n, buf);
    for (int j = 0; j < n_outputs; ++j) axpy(p[j][i], row, o[j], n);
  }
}

}  // namespace actinfer
