// Internal: the per-type kernels that the type table (kernels/ggml_type.cpp) points to.
// Callers use the table or the entry points of dequantize.h, quantize.h and vec_dot.h, which
// validate their arguments; these functions assume n is a whole number of blocks.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/ggml_type.h"
#include "kernels/vec_dot_avx2.h"

namespace actinfer::kernels {

// dequantize.cpp: portable, each element one exactly specified float expression.
void dequantize_f32(const void* src, float* dst, int64_t n);
void dequantize_f16(const void* src, float* dst, int64_t n);
void dequantize_bf16(const void* src, float* dst, int64_t n);
void dequantize_q4_0(const void* src, float* dst, int64_t n);
void dequantize_q4_1(const void* src, float* dst, int64_t n);
void dequantize_q5_0(const void* src, float* dst, int64_t n);
void dequantize_q5_1(const void* src, float* dst, int64_t n);
void dequantize_q8_0(const void* src, float* dst, int64_t n);
void dequantize_q8_1(const void* src, float* dst, int64_t n);
void dequantize_q2_K(const void* src, float* dst, int64_t n);
void dequantize_q3_K(const void* src, float* dst, int64_t n);
void dequantize_q4_K(const void* src, float* dst, int64_t n);
void dequantize_q5_K(const void* src, float* dst, int64_t n);
void dequantize_q6_K(const void* src, float* dst, int64_t n);
void dequantize_q8_K(const void* src, float* dst, int64_t n);
void dequantize_iq4_nl(const void* src, float* dst, int64_t n);
void dequantize_iq4_xs(const void* src, float* dst, int64_t n);

// quantize.cpp: reference quantizers (the file types' own are in kernels/ggml_quantizers.h).
void quantize_f32(const float* src, void* dst, int64_t n);
void quantize_f16(const float* src, void* dst, int64_t n);
void quantize_bf16(const float* src, void* dst, int64_t n);
void quantize_q4_0(const float* src, void* dst, int64_t n);
void quantize_q4_1(const float* src, void* dst, int64_t n);
void quantize_q8_0(const float* src, void* dst, int64_t n);
void quantize_q8_1(const float* src, void* dst, int64_t n);
void quantize_q8_K(const float* src, void* dst, int64_t n);

// vec_dot.cpp: portable row dots (weight row . activation of the type's vec_dot_type).
float vec_dot_f32(const void* w, const void* act, int64_t n);
float vec_dot_f16(const void* w, const void* act, int64_t n);
float vec_dot_bf16(const void* w, const void* act, int64_t n);
float vec_dot_q4_0(const void* w, const void* act, int64_t n);
float vec_dot_q4_1(const void* w, const void* act, int64_t n);
float vec_dot_q5_0(const void* w, const void* act, int64_t n);
float vec_dot_q5_1(const void* w, const void* act, int64_t n);
float vec_dot_q8_0(const void* w, const void* act, int64_t n);
float vec_dot_q2_K(const void* w, const void* act, int64_t n);
float vec_dot_q3_K(const void* w, const void* act, int64_t n);
float vec_dot_q4_K(const void* w, const void* act, int64_t n);
float vec_dot_q5_K(const void* w, const void* act, int64_t n);
float vec_dot_q6_K(const void* w, const void* act, int64_t n);
float vec_dot_iq4_nl(const void* w, const void* act, int64_t n);
float vec_dot_iq4_xs(const void* w, const void* act, int64_t n);

#if ACTINFER_HAVE_AVX2_KERNELS
// dequantize.cpp, AVX2 (bit-identical to the portable versions).
void dequantize_f16_avx2(const void* src, float* dst, int64_t n);
void dequantize_bf16_avx2(const void* src, float* dst, int64_t n);
void dequantize_q8_0_avx2(const void* src, float* dst, int64_t n);
void dequantize_q4_0_avx2(const void* src, float* dst, int64_t n);
void dequantize_q4_1_avx2(const void* src, float* dst, int64_t n);

// vec_dot_avx2.cpp: activation quantizers (same bytes as the reference) and row kernels.
void quantize_q8_0_avx2(const float* src, void* dst, int64_t n);
void quantize_q8_1_avx2(const float* src, void* dst, int64_t n);
void quantize_q8_K_avx2(const float* src, void* dst, int64_t n);

#define ACTINFER_ROWS_FN(name)                                                                          \
  void name(int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const void* acts, size_t act_stride, \
            int64_t n_acts, float* out, size_t out_stride)
ACTINFER_ROWS_FN(vec_dot_rows_f32_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_f16_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_bf16_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q4_0_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q4_1_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q5_0_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q5_1_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q8_0_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q2_K_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q3_K_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q4_K_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q5_K_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_q6_K_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_iq4_nl_avx2);
ACTINFER_ROWS_FN(vec_dot_rows_iq4_xs_avx2);

// gemm_quant_avx2.cpp: tiles of 8 tokens' activations and the tiled GEMM (kernels/gemm_quant.h).
void gemm_prepare_q8_0_avx2(const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile);
void gemm_prepare_q8_1_avx2(const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile);
void gemm_prepare_q8_K_avx2(const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile);
#define ACTINFER_GEMM_FN(name)                                                                                    \
  void name(int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const void* tiles, int64_t n_acts, \
            float* out, size_t out_stride)
ACTINFER_GEMM_FN(gemm_q4_0_avx2);
ACTINFER_GEMM_FN(gemm_q4_1_avx2);
ACTINFER_GEMM_FN(gemm_q5_0_avx2);
ACTINFER_GEMM_FN(gemm_q5_1_avx2);
ACTINFER_GEMM_FN(gemm_q8_0_avx2);
ACTINFER_GEMM_FN(gemm_iq4_nl_avx2);
ACTINFER_GEMM_FN(gemm_q4_K_avx2);
ACTINFER_GEMM_FN(gemm_q5_K_avx2);
ACTINFER_GEMM_FN(gemm_q6_K_avx2);
ACTINFER_GEMM_FN(gemm_q2_K_avx2);
ACTINFER_GEMM_FN(gemm_q3_K_avx2);
ACTINFER_GEMM_FN(gemm_iq4_xs_avx2);
// gemm_lane_rows_avx2.cpp: per-token rows bit-identical to a lane of the kernels above,
// gemm_lane_exact_rows of kernels/gemm_quant.h (AVX-512 builds use them for a few tokens).
ACTINFER_ROWS_FN(lane_rows_q4_0_avx2);
ACTINFER_ROWS_FN(lane_rows_q4_1_avx2);
ACTINFER_ROWS_FN(lane_rows_q5_0_avx2);
ACTINFER_ROWS_FN(lane_rows_q5_1_avx2);
ACTINFER_ROWS_FN(lane_rows_q8_0_avx2);
ACTINFER_ROWS_FN(lane_rows_iq4_nl_avx2);
ACTINFER_ROWS_FN(lane_rows_q4_K_avx2);
ACTINFER_ROWS_FN(lane_rows_q5_K_avx2);
ACTINFER_ROWS_FN(lane_rows_q2_K_avx2);
ACTINFER_ROWS_FN(lane_rows_q3_K_avx2);
ACTINFER_ROWS_FN(lane_rows_q6_K_avx2);
ACTINFER_ROWS_FN(lane_rows_iq4_xs_avx2);
#if ACTINFER_HAVE_AVX512_GEMM
// gemm_quant_avx512.cpp: the same results through AVX-512 VNNI, 16 tokens per register.
ACTINFER_GEMM_FN(gemm_q4_0_avx512);
ACTINFER_GEMM_FN(gemm_q4_1_avx512);
ACTINFER_GEMM_FN(gemm_q5_0_avx512);
ACTINFER_GEMM_FN(gemm_q5_1_avx512);
ACTINFER_GEMM_FN(gemm_q8_0_avx512);
ACTINFER_GEMM_FN(gemm_iq4_nl_avx512);
ACTINFER_GEMM_FN(gemm_q4_K_avx512);
ACTINFER_GEMM_FN(gemm_q5_K_avx512);
ACTINFER_GEMM_FN(gemm_q6_K_avx512);
ACTINFER_GEMM_FN(gemm_q2_K_avx512);
ACTINFER_GEMM_FN(gemm_q3_K_avx512);
ACTINFER_GEMM_FN(gemm_iq4_xs_avx512);
// gemm_lane_rows_avx512.cpp: per-token rows bit-identical to a lane of the kernels above
// (gemm_lane_exact_rows of kernels/gemm_quant.h).
ACTINFER_ROWS_FN(lane_rows_q4_0_avx512);
ACTINFER_ROWS_FN(lane_rows_q4_1_avx512);
ACTINFER_ROWS_FN(lane_rows_q5_0_avx512);
ACTINFER_ROWS_FN(lane_rows_q5_1_avx512);
ACTINFER_ROWS_FN(lane_rows_q8_0_avx512);
ACTINFER_ROWS_FN(lane_rows_iq4_nl_avx512);
ACTINFER_ROWS_FN(lane_rows_q4_K_avx512);
ACTINFER_ROWS_FN(lane_rows_q5_K_avx512);
ACTINFER_ROWS_FN(lane_rows_q2_K_avx512);
ACTINFER_ROWS_FN(lane_rows_q3_K_avx512);
ACTINFER_ROWS_FN(lane_rows_q6_K_avx512);
ACTINFER_ROWS_FN(lane_rows_iq4_xs_avx512);
#endif
#undef ACTINFER_GEMM_FN
#undef ACTINFER_ROWS_FN
#endif

}  // namespace actinfer::kernels
