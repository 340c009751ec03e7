// Dot products of weight rows with an activation vector: the inner loop of matrix-vector
// products.
//
// Usage for y = W x with W of n_rows rows of n elements stored as `weight` type:
//   std::vector<uint8_t> act(row_bytes(activation_type_for(weight), n));
//   quantize_activation(weight, x, act.data(), n);
//   vec_dot_rows(weight, n, W_data, row_bytes(weight, n), n_rows, act.data(), y);
// Threads can split the rows between them and share `act`. Each row's result is the same
// whatever the split (the kernels compute each row on its own, front to back, the same way
// for any n_rows), so results do not depend on the thread count. Pass many rows per call:
// each call has a small fixed cost (argument checks; for Q8_0/Q4_0/Q4_1 weights, preparing
// the activation's float scales and, for Q4, an interleaved copy: ~0.1 us for n = 1536).
//
// Activation types (activation_type_for, the vec_dot_type of the type table, as ggml's):
//   F32 -> F32, F16 -> F32 (weights converted on the fly; keeps the activation exact),
//   BF16 -> F32, Q8_0 / Q4_0 / Q5_0 / IQ4_NL -> Q8_0, Q4_1 / Q5_1 -> Q8_1,
//   Q2_K / Q3_K / Q4_K / Q5_K / Q6_K / IQ4_XS -> Q8_K.
//
// Accuracy: the quantized paths compute sum_b (d_w*d_a) * (exact integer dot of block b) (+ the
// Q4_1 min term m_w * s_a, where s_a = fp16(d_a * sum(q_a)) with the unrounded d_a); the
// rounding is in the per-block scale products and the float accumulation, which the AVX2 and
// scalar paths do in different orders (they differ by ~1e-6 of sum |terms|). So
// vec_dot(w, act) equals dot(dequantize(w), dequantize(act)) to that precision (for Q4_1 up to
// the fp16 rounding of s; Q5_1 likewise). Against the float activation x, add the activation's quantization
// error: at most d_a/2 + 127*|fp16(d_a) - d_a| per element for Q8_0/Q8_1, d_a/2 for Q8_K
// (d_a = max|x| / 127 of its block), times |w|; tests/test_kernels_quant.cpp checks both.
//
// n must be a multiple of the weight's block size (32, or 256 for the K types) and of the
// activation type's; otherwise std::invalid_argument is thrown. Unsupported weight types
// (Q8_1, Q8_K, unknown ids) also throw std::invalid_argument.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/ggml_type.h"

namespace actinfer {

// The type a float activation is quantized to before dotting with rows of `weight`.
GgmlType activation_type_for(GgmlType weight);

// Quantizes the float activation x[n] for dotting with `weight` rows; writes
// row_bytes(activation_type_for(weight), n) bytes to dst. Gives the same bytes as
// quantize_row(activation_type_for(weight), x, dst, n), but vectorised.
void quantize_activation(GgmlType weight, const float* x, void* dst, int64_t n);

// Dot of one weight row (n elements of `weight`) with an activation from quantize_activation.
float vec_dot(GgmlType weight, int64_t n, const void* w_row, const void* act);

// out[r] = vec_dot(weight, n, w_rows + r * row_stride, act) for r in [0, n_rows).
// row_stride is in bytes (row_bytes(weight, n) for a contiguous matrix). Processes several
// rows at a time sharing the activation loads.
void vec_dot_rows(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                  const void* act, float* out);

// Several activations (e.g. the tokens of a prompt) at once:
//   out[t * out_stride + r] = vec_dot(weight, n, w_rows + r * row_stride, acts + t * act_stride)
// for r < n_rows, t < n_acts (act_stride in bytes, at least row_bytes(activation_type_for(
// weight), n); out_stride in floats). Bit-identical to calling vec_dot_rows once per
// activation, but the weights are walked in blocks of rows that stay in L1 while the
// activations are dotted with them, and the per-activation preparation is done once.
void vec_dot_rows_multi(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                        const void* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride);

// Portable scalar implementations (always compiled), for tests and for builds without AVX2.
// vec_dot / vec_dot_rows here compute the same sums as the top-level functions, in a
// different floating-point summation order.
namespace scalar {
void quantize_activation(GgmlType weight, const float* x, void* dst, int64_t n);
float vec_dot(GgmlType weight, int64_t n, const void* w_row, const void* act);
void vec_dot_rows(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                  const void* act, float* out);
void vec_dot_rows_multi(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                        const void* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride);
}  // namespace scalar

}  // namespace actinfer
