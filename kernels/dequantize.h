// Rows of GGUF tensor data -> float32.
#pragma once

#include <cstdint>

#include "kernels/ggml_type.h"

namespace actinfer {

// Dequantizes n elements (a multiple of the type's block size) of `type` at src into dst.
// Handles every type whose row in the type table (kernels/ggml_type.h) has a dequantize: the
// weight types F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// IQ4_NL, IQ4_XS and the activation types Q8_1, Q8_K; throws std::invalid_argument for any other
// type or for an n that is not a multiple of the block size. Uses AVX2 where compiled for it; every
// path gives bit-identical results (each element is one exactly rounded float expression).
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

namespace scalar {
// Portable reference of the above, always compiled.
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);
}  // namespace scalar

}  // namespace actinfer
