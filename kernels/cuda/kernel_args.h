// The host-side argument checks of the kernels/cuda API (gpu_kernels.h, pointwise.h, blas.h,
// device_info.h's select_device), in one place and in plain C++ (no CUDA header): the .cu files
// call them before anything reaches the device, and the CPU emulation of the API
// (tests/cuda_emulation/) calls the same functions, so both refuse exactly the same calls.
//
// Every check throws std::invalid_argument whose message names the API function, the argument
// and its value, e.g. "cuda::gemv: row length 48 must be a positive multiple of 32 (type 8)".
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/ggml_type.h"

namespace actinfer::cuda::args {

// Launch shapes the limits below depend on (gpu_kernels.cu launches with these).
inline constexpr int kWarpsPerBlock = 8;     // gemv / sparse_gate_up: one warp per row
inline constexpr int kAttMaxHeadDim = 256;   // attention: head_dim at most
inline constexpr int kDownMaxChunks = 64;    // sparse_down: partial sums per output element
inline constexpr int kMaxGridY = 65535;      // B (tokens) along a grid's y axis

// The row-kernel variant for a weight type: the GgmlType number, or F16Unaligned for F16 rows
// whose pointer, stride or length do not allow reading them as 4-byte half pairs.
enum class RowKernel : int { F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, F16Unaligned = 100 };

// Elements per block of a row type the row kernels take (F32, F16: 1; Q8_0, Q4_0, Q4_1: 32);
// 0 for any other type.
int type_block(GgmlType type);
bool aligned(const void* p, size_t alignment);

// Rows of `type` and n elements at w, row_stride bytes apart, for the row kernels (x: the float
// vector dotted with them, nullptr when there is none): a supported type, n a positive multiple
// of its block (and at most INT_MAX / 2), w and row_stride aligned to 4 bytes (F32, Q4_1) or 2
// (F16, Q8_0, Q4_0), x 16-byte aligned for quantized rows. Returns the variant to launch.
RowKernel check_rows(const char* fn, GgmlType type, const void* w, size_t row_stride, int64_t n, const float* x);

// The whole argument checks of each kernel entry point (fn names it in the messages).
RowKernel check_gemv(GgmlType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n, const float* x, int B);
RowKernel check_dequantize_rows(GgmlType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n);
// Both row sets (gate may be nullptr); F16Unaligned when either needs it.
RowKernel check_sparse_gate_up(GgmlType type, const void* gate, const void* up, size_t row_stride, int64_t n,
                               int64_t n_active, const float* x);
// down^T rows: F32, F16 or Q8_0 only.
RowKernel check_sparse_down(GgmlType down_t_type, const void* down_t, size_t row_stride, int64_t d, int64_t n_active);
void check_rms_norm(int64_t n, int B);
void check_rope(int B, int n_heads, int head_dim, int rope_dims, int pos0);
void check_attention(int B, int pos0, int n_heads, int n_kv_heads, int head_dim, float scale = 1.0f, int window = 0);

// pointwise.h: n >= 0 elements for each of B tokens, B in 0..kMaxGridY.
void check_pointwise(const char* fn, int64_t n, int B);
// active_bits: check_pointwise, and (when there is work) at most INT_MAX words of bits per token.
void check_active_bits(int64_t n, int B);

// Blas::sgemm_xwt: sizes not negative, ldy (0: N) at least N. Returns the ldy to use.
int check_sgemm_xwt(int B, int N, int K, int ldy);

// select_device: device in 0..count-1 ("CUDA device 3 does not exist (this machine has 1 device)").
void check_device_number(int device, int count);

}  // namespace actinfer::cuda::args
