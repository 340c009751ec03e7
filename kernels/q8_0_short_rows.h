// Many short Q8_0 rows dotted with one Q8_0 activation: the predictors' second layer
// (d_ff rows of `rank` = 32..256 elements). vec_dot_rows pays a horizontal sum and its
// per-row set-up on every row, which dominates for rows of one to a few blocks; here 8
// rows share one activation load per block and one horizontal reduction.
//
// out[r] = sum over blocks b of (d_w[r][b] * d_a[b]) * (exact integer dot of block b), the
// same sum vec_dot(Q8_0, ...) computes (kernels/vec_dot.h), summed in block order. An
// activation without negative values (a ReLU output) takes a shorter path to the same integers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace actinfer {

// w_rows: n_rows rows of n elements (n a positive multiple of 32), row_stride bytes apart;
// act: quantize_activation(Q8_0, x, act, n). Throws std::invalid_argument for a bad n.
void vec_dot_q8_0_short_rows(int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const void* act, float* out);

}  // namespace actinfer
