// float32 rows -> GGUF tensor data (reference quantizers).
#pragma once

#include <cstdint>

#include "kernels/ggml_type.h"

namespace actinfer {

// Quantizes n floats (a multiple of the type's block size) into row_bytes(type, n) bytes at
// dst. Supported: F32, F16, BF16 (round to nearest even), and round-to-nearest quantizers:
//   Q8_0, Q4_0, Q4_1: the ggml reference quantizers; the bytes equal those of the Python gguf
//     package's gguf.quants.quantize (checked by tests/test_kernels_reference.cpp).
//   Q8_1: as Q8_0 plus s = fp16(d * sum(qs)).
//   Q8_K: d = amax / 127 (float), qs = round(x / d), bsums = sums of 16 qs.
//   Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS: kernels/ggml_quantizers.h,
//     ggml's reference algorithms (the bytes llama-quantize writes without an imatrix).
// Throws std::invalid_argument for other types or an n that is not a multiple of the block.
void quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace actinfer
