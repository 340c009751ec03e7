#include "kernels/gemm_f32.h"

#include <algorithm>
#include <cmath>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ACTINFER_GEMM_AVX2 1
#else
#define ACTINFER_GEMM_AVX2 0
#endif

namespace actinfer {
namespace {

// Rows [m, m + MR) of C, columns [n0, n1), k in [k0, k1): a register tile of MR x 16
// while columns last, then 8 wide, then one by one (std::fma: the same rounding).
template <int MR>
void tile_rows(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int64_t m, int64_t n0,
               int64_t n1, int64_t k0, int64_t k1) {
  const float* a[MR];
  float* c[MR];
  for (int i = 0; i < MR; ++i) {
    a[i] = A + static_cast<size_t>(m + i) * lda;
    c[i] = C + static_cast<size_t>(m + i) * ldc;
  }
  int64_t n = n0;
#if ACTINFER_GEMM_AVX2
  for (; n + 16 <= n1; n += 16) {
    __m256 acc[MR][2];
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = _mm256_loadu_ps(c[i] + n);
      acc[i][1] = _mm256_loadu_ps(c[i] + n + 8);
    }
    for (int64_t k = k0; k < k1; ++k) {
      const float* b = B + static_cast<size_t>(k) * ldb + n;
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
      for (int i = 0; i < MR; ++i) {
        const __m256 av = _mm256_broadcast_ss(a[i] + k);
        acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
      }
    }
    for (int i = 0; i < MR; ++i) {
      _mm256_storeu_ps(c[i] + n, acc[i][0]);
      _mm256_storeu_ps(c[i] + n + 8, acc[i][1]);
    }
  }
  for (; n + 8 <= n1; n += 8) {
    __m256 acc[MR];
    for (int i = 0; i < MR; ++i) acc[i] = _mm256_loadu_ps(c[i] + n);
    for (int64_t k = k0; k < k1; ++k) {
      const __m256 b0 = _mm256_loadu_ps(B + static_cast<size_t>(k) * ldb + n);
      for (int i = 0; i < MR; ++i) acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(a[i] + k), b0, acc[i]);
    }
    for (int i = 0; i < MR; ++i) _mm256_storeu_ps(c[i] + n, acc[i]);
  }
#endif
  for (; n < n1; ++n)
    for (int i = 0; i < MR; ++i) {
      float s = c[i][n];
      for (int64_t k = k0; k < k1; ++k) s = std::fma(a[i][k], B[static_cast<size_t>(k) * ldb + static_cast<size_t>(n)], s);
      c[i][n] = s;
    }
}

}  // namespace

void gemm_f32_acc(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int64_t m0, int64_t m1,
                  int64_t n0, int64_t n1, int64_t K) {
  if (m0 >= m1 || n0 >= n1 || K <= 0) return;
  // Panels of B (kc x nc, 128 KiB) stay in L2 while every row block of C passes over them;
  // k panels go in increasing order, so each element's chain of fmas stays in k order.
  const int64_t kc = std::min<int64_t>(K, 256);
  const int64_t nc = std::max<int64_t>(16, 32768 / kc / 16 * 16);
  for (int64_t nb = n0; nb < n1; nb += nc) {
    const int64_t ne = std::min(n1, nb + nc);
    for (int64_t kb = 0; kb < K; kb += kc) {
      const int64_t ke = std::min(K, kb + kc);
      int64_t m = m0;
      for (; m + 4 <= m1; m += 4) tile_rows<4>(A, lda, B, ldb, C, ldc, m, nb, ne, kb, ke);
      for (; m < m1; ++m) tile_rows<1>(A, lda, B, ldb, C, ldc, m, nb, ne, kb, ke);
    }
  }
}

void transpose_f32(const float* src, size_t ld_src, float* dst, size_t ld_dst, int64_t rows, int64_t c0, int64_t c1) {
  constexpr int64_t kBlock = 32;  // square blocks keep both sides' cache lines in use
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t cb = c0; cb < c1; cb += kBlock) {
      const int64_t re = std::min(rows, r0 + kBlock), ce = std::min(c1, cb + kBlock);
      for (int64_t r = r0; r < re; ++r)
        for (int64_t c = cb; c < ce; ++c) dst[static_cast<size_t>(c) * ld_dst + static_cast<size_t>(r)] = src[static_cast<size_t>(r) * ld_src + static_cast<size_t>(c)];
    }
}

}  // namespace actinfer
