// The element-wise kernels of pointwise.h: one thread per element (grid-stride loops), one
// warp per 32 neurons for the decision bits.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cuda/activate.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_args.h"
#include "kernels/cuda/pointwise.h"

namespace actinfer::cuda {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxBlocks = 4096;  // grid-stride loops cover the rest

cudaStream_t raw(const Stream& s) { return static_cast<cudaStream_t>(s.handle()); }

unsigned blocks_for(size_t n) { return static_cast<unsigned>(std::min<size_t>(kMaxBlocks, (n + kThreads - 1) / kThreads)); }

__global__ void __launch_bounds__(kThreads) add_kernel(float* y, const float* __restrict__ x, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    y[i] += x[i];
}

// Block row y = token t.
__global__ void __launch_bounds__(kThreads) bias_kernel(float* y, const float* __restrict__ b, size_t n) {
  float* row = y + static_cast<size_t>(blockIdx.y) * n;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    row[i] += b[i];
}

__global__ void __launch_bounds__(kThreads) ffn_hidden_kernel(const float* __restrict__ g, const float* __restrict__ u,
                                                              const uint8_t* __restrict__ keep, int act, float* __restrict__ h,
                                                              size_t n) {
  const size_t row = static_cast<size_t>(blockIdx.y) * n;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    if (keep == nullptr || keep[i] != 0) v = g != nullptr ? activate(act, g[row + i]) * u[row + i] : activate(act, u[row + i]);
    h[row + i] = v;
  }
}

__global__ void __launch_bounds__(kThreads) to_f16_kernel(const float* __restrict__ x, uint16_t* __restrict__ out, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = __half_as_ushort(__float2half_rn(x[i]));
}

__global__ void __launch_bounds__(kThreads) relu_kernel(float* x, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void __launch_bounds__(kThreads) softcap_kernel(float* x, float cap, size_t n) {
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<size_t>(gridDim.x) * blockDim.x)
    x[i] = cap * tanhf(x[i] / cap);
}

// One warp per word (8 words per 256-thread block); block row y = token t.
__global__ void __launch_bounds__(kThreads) active_bits_kernel(const float* __restrict__ z, const float* __restrict__ bias, size_t n,
                                                               size_t words, uint32_t* __restrict__ bits) {
  const size_t w = static_cast<size_t>(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5);
  if (w >= words) return;  // whole warps only
  const unsigned lane = threadIdx.x & 31;
  const size_t i = w * 32 + lane;
  const float* zt = z + static_cast<size_t>(blockIdx.y) * n;
  const bool on = i < n && zt[i] + bias[i] >= 0.0f;
  const uint32_t word = __ballot_sync(0xffffffffu, on);
  if (lane == 0) bits[static_cast<size_t>(blockIdx.y) * words + w] = word;
}

}  // namespace

void add_inplace(float* y, const float* x, int64_t n, const Stream& stream) {
  args::check_pointwise("cuda::add_inplace", n, 1);
  if (n == 0) return;
  add_kernel<<<blocks_for(static_cast<size_t>(n)), kThreads, 0, raw(stream)>>>(y, x, static_cast<size_t>(n));
  check_launch("add_kernel");
}

void add_bias(float* y, const float* b, int64_t n, int B, const Stream& stream) {
  args::check_pointwise("cuda::add_bias", n, B);
  if (n == 0 || B == 0) return;
  bias_kernel<<<dim3(blocks_for(static_cast<size_t>(n)), static_cast<unsigned>(B)), kThreads, 0, raw(stream)>>>(y, b, static_cast<size_t>(n));
  check_launch("bias_kernel");
}

void ffn_hidden(const float* g, const float* u, const uint8_t* keep, Activation act, float* h, int64_t n, int B, const Stream& stream) {
  args::check_pointwise("cuda::ffn_hidden", n, B);
  if (n == 0 || B == 0) return;
  ffn_hidden_kernel<<<dim3(blocks_for(static_cast<size_t>(n)), static_cast<unsigned>(B)), kThreads, 0, raw(stream)>>>(
      g, u, keep, static_cast<int>(act), h, static_cast<size_t>(n));
  check_launch("ffn_hidden_kernel");
}

void to_f16(const float* x, uint16_t* out, int64_t n, const Stream& stream) {
  args::check_pointwise("cuda::to_f16", n, 1);
  if (n == 0) return;
  to_f16_kernel<<<blocks_for(static_cast<size_t>(n)), kThreads, 0, raw(stream)>>>(x, out, static_cast<size_t>(n));
  check_launch("to_f16_kernel");
}

void relu_inplace(float* x, int64_t n, const Stream& stream) {
  args::check_pointwise("cuda::relu_inplace", n, 1);
  if (n == 0) return;
  relu_kernel<<<blocks_for(static_cast<size_t>(n)), kThreads, 0, raw(stream)>>>(x, static_cast<size_t>(n));
  check_launch("relu_kernel");
}

void softcap_inplace(float* x, float cap, int64_t n, const Stream& stream) {
  args::check_pointwise("cuda::softcap_inplace", n, 1);
  if (!(cap > 0.0f)) throw std::invalid_argument("cuda::softcap_inplace: cap " + std::to_string(cap) + " must be positive");
  if (n == 0) return;
  softcap_kernel<<<blocks_for(static_cast<size_t>(n)), kThreads, 0, raw(stream)>>>(x, cap, static_cast<size_t>(n));
  check_launch("softcap_kernel");
}

void active_bits(const float* z, const float* bias, int64_t n, int B, uint32_t* bits, const Stream& stream) {
  args::check_active_bits(n, B);
  if (n == 0 || B == 0) return;
  const auto words = static_cast<size_t>(bit_words(n));
  const auto blocks = static_cast<unsigned>((words + kThreads / 32 - 1) / (kThreads / 32));
  active_bits_kernel<<<dim3(blocks, static_cast<unsigned>(B)), kThreads, 0, raw(stream)>>>(z, bias, static_cast<size_t>(n), words, bits);
  check_launch("active_bits_kernel");
}

}  // namespace actinfer::cuda
