// Blocked GEMM of float weight rows (F32, F16, BF16) with a batch of F32 activations (prompt
// tokens, or the sequences of a batched decode step): out[t][r] = sum_k w[r][k] * x[t][k].
//
// A panel of weight rows x a chunk of K is converted to F32 once into a small buffer laid out
// so that one vector load holds the same element of 16 (AVX-512) or 8 (AVX2) rows; a
// register-blocked FMA kernel then sweeps the tokens over it (rows x tokens of accumulators,
// one token element broadcast per FMA column), so each weight element is converted once per
// call and each token element is read once per panel.
//
// Every out[t][r] is one fused multiply-add per k, in k order, starting from 0 (partial sums
// between K chunks go through `out` and back, exactly): the result does not depend on the
// row or token blocking, on how threads split the rows, or on which of the AVX2 and AVX-512
// kernels ran (both compute the same chain; they are bit-identical). It differs from the
// per-token kernels (vec_dot_rows_multi: 8 partial sums per row) by float rounding only.
//
// Except BF16 weights where the compiler targets AVX512_BF16 (gemm_float_bf16_activations):
// there the tokens are rounded to BF16 (nearest even) and each lane adds a pair of products
// per vdpbf16ps (twice the float rate, as llama.cpp's BF16 path does): the same chain rule
// holds over pairs of k, but the results carry the tokens' BF16 rounding (relative 2^-9 per
// element) and differ from the AVX2 kernel's.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/ggml_type.h"

namespace actinfer {

// Batches of at least this many tokens go through gemm_float (kernels/matmul.cpp); smaller
// ones through the per-token kernels.
inline constexpr int kFloatGemmMinTokens = 4;

// Whether rows of `weight` have a blocked float GEMM in this build (F32, F16 and BF16 where
// the AVX2/FMA/F16C kernels are compiled).
bool has_float_gemm(GgmlType weight);

// Rows per register block of this build's kernel (AVX2 24, AVX-512 32): a row range that is a
// multiple of it runs no masked tail tile.
int64_t gemm_float_row_block();

// Whether gemm_float rounds the tokens to BF16 for rows of `weight` (BF16 on AVX512_BF16
// builds, rows of an even number of elements).
bool gemm_float_bf16_activations(GgmlType weight);

// The tokens in the layout the kernel sweeps for rows of `weight`: floats of scratch for n_acts
// tokens of n elements, 0 where gemm_float reads no such copy (builds without the AVX2 kernels,
// where gemm_float_pack_tokens does nothing; BF16 rows through vdpbf16ps, which round and lay
// out their own).
size_t gemm_float_packed_floats(GgmlType weight, int64_t n, int64_t n_acts);
// Writes tokens [t0, t1) of the n_acts tokens into `packed` (gemm_float_packed_floats floats):
// each token's place depends on n and n_acts alone, so threads may pack disjoint ranges.
void gemm_float_pack_tokens(const float* acts, size_t act_stride, int64_t n_acts, int64_t n, int64_t t0, int64_t t1,
                            float* packed);
// out[t * out_stride + r] for r < n_rows, t < n_acts: rows of n elements of `weight`,
// row_stride bytes apart; activations n floats each, act_stride bytes apart. Throws
// std::invalid_argument when the type has no float GEMM or the arguments do not fit.
// packed: the tokens already packed by gemm_float_pack_tokens (acts still name the rows),
// the same bits; one copy of a batch serves every thread and every matrix it multiplies.
void gemm_float(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const float* acts,
                size_t act_stride, int64_t n_acts, float* out, size_t out_stride, const float* packed = nullptr);

namespace kernels {
// The two kernels behind gemm_float, arguments validated (for tests: they are bit-identical).
// avx512 exists only where ACTINFER_HAVE_AVX512_GEMM is set.
// packed: tokens packed by gemm_float_pack_tokens (null: the kernel packs them itself).
void gemm_float_avx2(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                     const float* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride,
                     const float* packed = nullptr);
void gemm_float_avx512(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                       const float* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride,
                       const float* packed = nullptr);
// BF16 rows (n even) through vdpbf16ps, tokens rounded to BF16 (AVX512_BF16 builds only).
void gemm_bf16_dot_avx512(int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const float* acts,
                          size_t act_stride, int64_t n_acts, float* out, size_t out_stride);
}  // namespace kernels

}  // namespace actinfer
