// CUDA kernels of the gpu-worker's role (attention, hot FFN neurons, lm_head), callable from
// plain C++ (no CUDA header here). Compiled by nvcc in gpu_kernels.cu; in builds without CUDA
// gpu_kernels_stub.cpp makes every call throw CudaError (kernels_available() says why).
//
// Conventions, for every function below:
//   * Pointers are device pointers (DeviceBuffer::as<T>()); weight rows are the bytes of the
//     GGUF tensor exactly as kernels/quant_blocks.h lays them out, row_stride bytes apart
//     (row_bytes(type, n) for a contiguous matrix, record_bytes() for neuron bundles).
//   * The work is queued on `stream` and the call returns at once; results are ready after
//     stream.synchronize() (or any later synchronous copy). A launch failure throws CudaError;
//     a kernel fault shows at the next synchronising call.
//   * Arguments are checked on the host first (kernel_args.h; std::invalid_argument): types, n a multiple of
//     the block size, alignment (quantized rows: 2 bytes, Q4_1: 4, F32: 4; float vectors x of
//     the quantized GEMV: 16 bytes, which any x + t * n with n % 32 == 0 from cudaMalloc has).
//   * Sums are in float32 in a fixed order: results do not depend on timing (no atomics), so
//     the same inputs give bit-identical outputs run after run.
//
// Numerics against the CPU kernels: the GEMVs use the float activation x as it is (the CPU
// vec_dot rounds x to Q8_0/Q8_1 first), so they equal dot(dequantize_row(w), x) up to float
// summation error; see tests/test_cuda_kernels.cpp for the bounds checked.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/device_memory.h"
#include "kernels/ggml_type.h"
#include "model/model_config.h"

namespace actinfer::cuda {

// Whether gemv / sparse_gate_up / dequantize_rows take weight rows of this type:
// F32, F16, Q8_0, Q4_0, Q4_1.
bool gemv_supports(GgmlType type);

// y[t][r] = sum_j W[r][j] * x[t][j] for r < n_rows, t < B; x is [B][n], y is [B][n_rows].
// One warp per row (8 rows per 256-thread block), B tokens along the grid's y axis (the
// weights are read once per token: for prefill prefer dequantize_rows + Blas::sgemm_xwt).
void gemv(GgmlType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n, const float* x, float* y, int B,
          const Stream& stream);

// out[r][j] = the float value of W[r][j] (bit-identical to kernels/dequantize.h).
void dequantize_rows(GgmlType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n, float* out,
                     const Stream& stream);

// The hot gate/up half of the sparse FFN for one token: for k < n_active, i = active[k],
//   gated (gate != nullptr): h[k] = act(gate_i . x) * (up_i . x)  (up skipped when act(..) == 0)
//   ungated (gate == nullptr): h[k] = act(up_i . x)
// gate_i / up_i are rows i of `gate` / `up` (row_stride apart; both of `type`, n elements).
// For neuron-bundle records pass gate = record base, up = base + gate_up_row_bytes() and
// row_stride = record_bytes(). One warp per listed neuron. active: device int32[n_active].
void sparse_gate_up(GgmlType type, const void* gate, const void* up, size_t row_stride, int64_t n, const int32_t* active,
                    int64_t n_active, const float* x, Activation act, float* h, const Stream& stream);

// Floats of scratch sparse_down needs for a d-wide output (64 partial sums per element).
size_t sparse_down_scratch_floats(int64_t d);

// The down half: y[j] (+)= sum_k h[k] * downT_{active[k]}[j] for j < d, where downT_i is row
// i (row_stride apart) of the transposed down matrix in `down_t_type` (F32, F16 or Q8_0, as
// NeuronBundles::down_t_type_for stores it; for bundles: base + (gated ? 2 : 1) *
// gate_up_row_bytes(), stride record_bytes()). accumulate false overwrites y. Entries with
// h[k] == 0 are skipped. The active list is cut into up to 64 chunks whose partial sums go to
// `scratch` (sparse_down_scratch_floats(d) floats) and are added in chunk order by a second
// kernel; scratch == nullptr uses one chunk (no second kernel; less parallel for long lists).
void sparse_down(GgmlType down_t_type, const void* down_t, size_t row_stride, int64_t d, const int32_t* active,
                 int64_t n_active, const float* h, float* y, bool accumulate, float* scratch, const Stream& stream);

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight for B rows of n (kernels/elementwise.h's
// rms_norm, sum of squares in float instead of double). out may equal x.
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps, int B, const Stream& stream);

// kernels/elementwise.h's rope_inplace for B tokens at positions pos0 + t: x is [B][n_heads *
// head_dim]; in each head the adjacent pairs (2i, 2i+1), i < rope_dims / 2, are rotated by
// pos * base^(-2i / rope_dims) (angle and its cos/sin in double, as the CPU computes them).
// neox (GPT-NeoX / gemma3, rope_apply_neox): the pairs (i, i + rope_dims / 2) instead.
void rope_inplace(float* x, int B, int n_heads, int head_dim, int rope_dims, int pos0, float base, bool neox,
                  const Stream& stream);

// Causal grouped-query attention of B tokens at positions pos0 + t over an F32 KV cache:
//   out[t][h] = sum_{first <= p <= pos0 + t} softmax_p(q[t][h] . k[p][h / g] * scale) v[p][h / g]
// with g = n_heads / n_kv_heads, scale the model's query scale (1 / sqrt(head_dim) for llama)
// and first = 0, or with a sliding window (window > 0, gemma3's local layers) the last `window`
// positions: first = max(0, pos0 + t + 1 - window). q, out: [B][n_heads * head_dim]; k_cache, v_cache:
// [positions][n_kv_heads * head_dim] (engine/kv_cache.h's layout for one layer), holding
// positions 0 .. pos0 + B - 1 (the tokens' own keys and values written already). One block of
// 4 warps per (head, token), online softmax (one pass over the cache); head_dim <= 256.
void attention(const float* q, const float* k_cache, const float* v_cache, float* out, int B, int pos0, int n_heads,
               int n_kv_heads, int head_dim, float scale, int window, const Stream& stream);
// The same over an F16 KV cache (--cache-type f16): k_cache and v_cache hold IEEE half bits
// (engine/kv_cache.h's F16 layout), each widened exactly to float as it is read; the sums and
// the softmax stay in float.
void attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, float* out, int B, int pos0, int n_heads,
               int n_kv_heads, int head_dim, float scale, int window, const Stream& stream);

}  // namespace actinfer::cuda
