// The training matrix product (kernels/gemm_f32.h): C += A . B against a double
// computation, and the same bits whatever block of C a call covers (the claim that
// makes predictor training independent of the thread count).
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/rng.h"
#include "kernels/gemm_f32.h"

using namespace actinfer;

TEST_CASE("gemm_f32_acc: C += A B, any block, the same bits for any split") {
  // K over 256 crosses a k panel; N over the column panel; M and N with ragged edges.
  for (auto [M, N, K] : {std::array<int, 3>{7, 45, 300}, std::array<int, 3>{13, 2100, 33}, std::array<int, 3>{4, 16, 1}}) {
    Rng rng(static_cast<uint64_t>(M * 1000 + N));
    const size_t lda = static_cast<size_t>(K) + 3, ldb = static_cast<size_t>(N) + 1, ldc = static_cast<size_t>(N) + 5;
    std::vector<float> A(static_cast<size_t>(M) * lda), B(static_cast<size_t>(K) * ldb), C0(static_cast<size_t>(M) * ldc);
    for (float& v : A) v = static_cast<float>(rng.normal());
    for (float& v : B) v = static_cast<float>(rng.normal());
    for (float& v : C0) v = static_cast<float>(rng.normal());
    std::vector<float> whole = C0;
    gemm_f32_acc(A.data(), lda, B.data(), ldb, whole.data(), ldc, 0, M, 0, N, K);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double ref = C0[m * ldc + n], mag = std::fabs(ref);
        for (int k = 0; k < K; ++k) {
          ref += static_cast<double>(A[m * lda + k]) * B[k * ldb + n];
          mag += std::fabs(static_cast<double>(A[m * lda + k]) * B[k * ldb + n]);
        }
        REQUIRE(std::fabs(whole[m * ldc + n] - ref) <= 1e-6 * mag * std::sqrt(static_cast<double>(K) + 1));
      }
    // Four blocks of C with split points off the 4-row and 16/8-column tiles.
    std::vector<float> parts = C0;
    const int ms = M / 2 + 1, ns = N / 3 + 5 < N ? N / 3 + 5 : N;
    gemm_f32_acc(A.data(), lda, B.data(), ldb, parts.data(), ldc, 0, ms, 0, ns, K);
    gemm_f32_acc(A.data(), lda, B.data(), ldb, parts.data(), ldc, ms, M, 0, ns, K);
    gemm_f32_acc(A.data(), lda, B.data(), ldb, parts.data(), ldc, 0, ms, ns, N, K);
    gemm_f32_acc(A.data(), lda, B.data(), ldb, parts.data(), ldc, ms, M, ns, N, K);
    CHECK(parts == whole);
  }
}

TEST_CASE("transpose_f32: a column range of the source becomes rows of the destination") {
  const int rows = 37, cols = 70;
  std::vector<float> src(static_cast<size_t>(rows * cols)), dst(static_cast<size_t>(cols * (rows + 2)), -1.0f);
  for (int i = 0; i < rows * cols; ++i) src[static_cast<size_t>(i)] = static_cast<float>(i);
  transpose_f32(src.data(), cols, dst.data(), rows + 2, rows, 5, 40);
  for (int c = 0; c < cols; ++c)
    for (int r = 0; r < rows + 2; ++r) {
      const float got = dst[static_cast<size_t>(c * (rows + 2) + r)];
      CHECK(got == (c >= 5 && c < 40 && r < rows ? static_cast<float>(r * cols + c) : -1.0f));
    }
}
