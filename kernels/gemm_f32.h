// A small float matrix product for training (predictor training's forward and backward
// passes): C += A . B on row-major matrices, over a block of C's rows and columns so that
// threads can share the work without locks.
//
// Every C element is updated by one fused multiply-add per k, in k order, whatever the
// block: the result does not depend on how the rows and columns are split (the AVX2 tile
// and the scalar edge compute the same chain), so training is the same for any thread count.
#pragma once
#include <cstddef>
#include <cstdint>

namespace actinfer {

// C[m][n] += sum_{k < K} A[m][k] * B[k][n] for m in [m0, m1), n in [n0, n1).
// lda, ldb, ldc: row strides in floats. C must not overlap A or B.
void gemm_f32_acc(const float* A, size_t lda, const float* B, size_t ldb, float* C, size_t ldc, int64_t m0, int64_t m1,
                  int64_t n0, int64_t n1, int64_t K);

// dst[c][r] = src[r][c] for r < rows, c in [c0, c1): ld_src / ld_dst row strides in floats.
void transpose_f32(const float* src, size_t ld_src, float* dst, size_t ld_dst, int64_t rows, int64_t c0, int64_t c1);

}  // namespace actinfer
