// float32 rows -> blocks of the GGUF types `actinfer quantize` writes, with the algorithms of
// ggml's reference quantizers (the ones llama-quantize runs without an importance matrix):
//   Q5_0, Q5_1: round to nearest against the block's extreme (d = max / -16) or range
//     ((max - min) / 31); byte for byte those of PyPI gguf's gguf.quants.quantize.
//   Q2_K, Q4_K, Q5_K: per sub-block scale and min fitted by weighted least squares over a
//     few trial scales (the error measure ggml uses: absolute error weighted by |x| for Q2_K,
//     squared error weighted by rms + |x| for Q4_K/Q5_K); scales and mins then quantized
//     against the block's largest (4-bit for Q2_K, 6-bit for Q4_K/Q5_K).
//   Q3_K: symmetric 3-bit values, each sub-block scale refined by coordinate descent on the
//     x^2-weighted squared error; 6-bit sub-block scales.
//   Q6_K: symmetric 6-bit values; the sub-block scale is the best of 19 trial scales
//     (x^2-weighted squared error); 8-bit sub-block scales.
//   IQ4_NL, IQ4_XS: the 16 non-linear IQ4 levels; each 32-element block's scale is the best of
//     15 trial scales (x^2-weighted); IQ4_XS then stores 6-bit block scales against a
//     super-block scale and re-picks the levels with them.
// n must be a multiple of the type's block (32 for Q5_0/Q5_1/IQ4_NL, 256 otherwise); dst
// receives n / block * block_bytes bytes. Plain functions over raw bytes, so that any
// type table can point at them.
#pragma once

#include <cstdint>

namespace actinfer::ggml_quant {

void quantize_q5_0(const float* x, void* dst, int64_t n);
void quantize_q5_1(const float* x, void* dst, int64_t n);
void quantize_q2_K(const float* x, void* dst, int64_t n);
void quantize_q3_K(const float* x, void* dst, int64_t n);
void quantize_q4_K(const float* x, void* dst, int64_t n);
void quantize_q5_K(const float* x, void* dst, int64_t n);
void quantize_q6_K(const float* x, void* dst, int64_t n);
void quantize_iq4_nl(const float* x, void* dst, int64_t n);
void quantize_iq4_xs(const float* x, void* dst, int64_t n);

// The 16 levels of IQ4_NL / IQ4_XS (value = d * level).
inline constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace actinfer::ggml_quant
