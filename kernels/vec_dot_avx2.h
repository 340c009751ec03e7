// Internal: the AVX2/FMA/F16C kernels behind kernels/vec_dot.h. Compiled only where the
// compiler targets those extensions (ACTINFER_HAVE_AVX2_KERNELS is then 1).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/ggml_type.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define ACTINFER_HAVE_AVX2_KERNELS 1
#else
#define ACTINFER_HAVE_AVX2_KERNELS 0
#endif

namespace actinfer::avx2 {

#if ACTINFER_HAVE_AVX2_KERNELS
// vec_dot_rows_multi of kernels/vec_dot.h (vec_dot_rows is the case n_acts = 1). Returns
// false (and does nothing) for a weight type without an AVX2 kernel. Arguments are already
// validated by the caller (n a whole number of blocks, n_rows >= 1, n_acts >= 1).
bool vec_dot_rows_multi(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                        const void* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride);

// Quantizes x[n] to act_type (Q8_0, Q8_1 or Q8_K) with the same bytes as quantize_row;
// returns false for other types.
bool quantize_activation(GgmlType act_type, const float* x, void* dst, int64_t n);
#endif

}  // namespace actinfer::avx2
