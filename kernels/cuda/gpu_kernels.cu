// The gpu-worker's kernels (see gpu_kernels.h). Kept to plain functions and one small template
// (the weight type) so that nvcc's two-architecture build stays quick.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "kernels/cuda/activate.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gpu_kernels.h"
#include "kernels/cuda/kernel_args.h"
#include "kernels/quant_blocks.h"

namespace actinfer::cuda {
namespace {

// Kernel variants by weight type (the GgmlType numbers, plus F16 rows not 4-byte aligned):
// kernel_args.h's RowKernel, which its checks return.
using args::RowKernel;
constexpr int kF32 = static_cast<int>(RowKernel::F32), kF16 = static_cast<int>(RowKernel::F16),
              kQ4_0 = static_cast<int>(RowKernel::Q4_0), kQ4_1 = static_cast<int>(RowKernel::Q4_1),
              kQ8_0 = static_cast<int>(RowKernel::Q8_0), kF16Unaligned = static_cast<int>(RowKernel::F16Unaligned);

using args::kAttMaxHeadDim;
using args::kDownMaxChunks;
using args::kWarpsPerBlock;        // gemv / sparse_gate_up: one warp per row, 256 threads
constexpr int kDownThreads = 256;  // sparse_down: output elements per block
constexpr int kDownMinChunk = 32;  // neurons per chunk at least
constexpr int kAttWarps = 4;

static_assert(sizeof(block_q8_0) == 34 && sizeof(block_q4_0) == 18 && sizeof(block_q4_1) == 20, "ggml block sizes");

cudaStream_t raw(const Stream& s) { return static_cast<cudaStream_t>(s.handle()); }

__device__ __forceinline__ float warp_sum(float v) {
  // Butterfly: every lane ends with the same bits (each step adds the same pair in either order).
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float f16(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint16_t ld16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
__device__ __forceinline__ float lo8(uint16_t v) { return static_cast<float>(static_cast<int8_t>(v & 0xFF)); }
__device__ __forceinline__ float hi8(uint16_t v) { return static_cast<float>(static_cast<int8_t>(v >> 8)); }
__device__ __forceinline__ float nib(uint32_t v, int shift) { return static_cast<float>((v >> shift) & 0xFu); }

// This lane's part of dot(row, x) over n elements; the warp's 32 parts sum to the dot.
// Quantized types: 4 lanes per 32-element block (8 elements each), 8 blocks per warp step, so
// a warp reads 8 consecutive blocks per step (coalesced); x is read as float4.
template <int T>
__device__ __forceinline__ float row_dot_lane(const uint8_t* __restrict__ row, const float* __restrict__ x, int n, int lane) {
  float s = 0.0f;
  if constexpr (T == kF32) {
    const float* r = reinterpret_cast<const float*>(row);
    for (int i = lane; i < n; i += 32) s += r[i] * x[i];
  } else if constexpr (T == kF16) {  // row 4-byte aligned, n even
    const __half2* r = reinterpret_cast<const __half2*>(row);
    for (int i = lane; i < n / 2; i += 32) {
      const float2 w = __half22float2(r[i]);
      s += w.x * x[2 * i] + w.y * x[2 * i + 1];
    }
  } else if constexpr (T == kF16Unaligned) {
    const uint16_t* r = reinterpret_cast<const uint16_t*>(row);
    for (int i = lane; i < n; i += 32) s += f16(r[i]) * x[i];
  } else {
    const int nb = n / 32, sub = lane & 3;
    for (int b = lane >> 2; b < nb; b += 8) {
      const float* xb = x + b * 32;
      if constexpr (T == kQ8_0) {
        const uint8_t* blk = row + b * 34;
        const uint16_t* q = reinterpret_cast<const uint16_t*>(blk + 2 + 8 * sub);
        const float4 x0 = reinterpret_cast<const float4*>(xb + 8 * sub)[0];
        const float4 x1 = reinterpret_cast<const float4*>(xb + 8 * sub)[1];
        const uint16_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
        const float acc = lo8(q0) * x0.x + hi8(q0) * x0.y + lo8(q1) * x0.z + hi8(q1) * x0.w + lo8(q2) * x1.x +
                          hi8(q2) * x1.y + lo8(q3) * x1.z + hi8(q3) * x1.w;
        s += f16(ld16(blk)) * acc;
      } else {
        // Q4: bytes qs[4 sub .. 4 sub + 3]: low nibbles are elements 4 sub + k, high nibbles
        // elements 16 + 4 sub + k (quant_blocks.h).
        const float4 xl = *reinterpret_cast<const float4*>(xb + 4 * sub);
        const float4 xh = *reinterpret_cast<const float4*>(xb + 16 + 4 * sub);
        if constexpr (T == kQ4_0) {
          const uint8_t* blk = row + b * 18;
          const uint16_t* q = reinterpret_cast<const uint16_t*>(blk + 2 + 4 * sub);
          const uint32_t v = static_cast<uint32_t>(q[0]) | (static_cast<uint32_t>(q[1]) << 16);
          const float acc = (nib(v, 0) - 8.0f) * xl.x + (nib(v, 8) - 8.0f) * xl.y + (nib(v, 16) - 8.0f) * xl.z +
                            (nib(v, 24) - 8.0f) * xl.w + (nib(v, 4) - 8.0f) * xh.x + (nib(v, 12) - 8.0f) * xh.y +
                            (nib(v, 20) - 8.0f) * xh.z + (nib(v, 28) - 8.0f) * xh.w;
          s += f16(ld16(blk)) * acc;
        } else {  // Q4_1: x = d q + m
          const uint8_t* blk = row + b * 20;
          const uint32_t v = *reinterpret_cast<const uint32_t*>(blk + 4 + 4 * sub);
          const float acc = nib(v, 0) * xl.x + nib(v, 8) * xl.y + nib(v, 16) * xl.z + nib(v, 24) * xl.w +
                            nib(v, 4) * xh.x + nib(v, 12) * xh.y + nib(v, 20) * xh.z + nib(v, 28) * xh.w;
          const float xs = (xl.x + xl.y) + (xl.z + xl.w) + (xh.x + xh.y) + (xh.z + xh.w);
          s += f16(ld16(blk)) * acc + f16(ld16(blk + 2)) * xs;
        }
      }
    }
  }
  return s;
}

// Element j of a row, as kernels/dequantize.h gives it (each one exactly rounded expression;
// d * q is exact for fp16 d and |q| < 256, so fused or not the result is the same).
template <int T>
__device__ __forceinline__ float row_elem(const uint8_t* __restrict__ row, int j) {
  if constexpr (T == kF32) {
    return reinterpret_cast<const float*>(row)[j];
  } else if constexpr (T == kF16 || T == kF16Unaligned) {
    return f16(reinterpret_cast<const uint16_t*>(row)[j]);
  } else if constexpr (T == kQ8_0) {
    const uint8_t* blk = row + (j >> 5) * 34;
    return f16(ld16(blk)) * static_cast<float>(static_cast<int8_t>(blk[2 + (j & 31)]));
  } else {
    const int e = j & 31;
    if constexpr (T == kQ4_0) {
      const uint8_t* blk = row + (j >> 5) * 18;
      const uint8_t byte = blk[2 + (e & 15)];
      const int q = e < 16 ? (byte & 0xF) : (byte >> 4);
      return f16(ld16(blk)) * static_cast<float>(q - 8);
    } else {
      const uint8_t* blk = row + (j >> 5) * 20;
      const uint8_t byte = blk[4 + (e & 15)];
      const int q = e < 16 ? (byte & 0xF) : (byte >> 4);
      return f16(ld16(blk)) * static_cast<float>(q) + f16(ld16(blk + 2));
    }
  }
}

template <int T>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_kernel(const uint8_t* __restrict__ w, size_t stride, int n_rows, int n, const float* __restrict__ x,
                float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  if (row >= n_rows) return;  // whole warps only
  const int t = blockIdx.y;
  const float s = warp_sum(row_dot_lane<T>(w + static_cast<size_t>(row) * stride, x + static_cast<size_t>(t) * n, n, lane));
  if (lane == 0) y[static_cast<size_t>(t) * n_rows + row] = s;
}

template <int T>
__global__ void __launch_bounds__(256) dequantize_kernel(const uint8_t* __restrict__ w, size_t stride, int n, float* __restrict__ out) {
  const uint8_t* row = w + static_cast<size_t>(blockIdx.x) * stride;
  float* o = out + static_cast<size_t>(blockIdx.x) * n;
  for (int j = threadIdx.x; j < n; j += blockDim.x) o[j] = row_elem<T>(row, j);
}

template <int T>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    sparse_gate_up_kernel(const uint8_t* __restrict__ gate, const uint8_t* __restrict__ up, size_t stride, int n,
                          const int32_t* __restrict__ active, int n_active, const float* __restrict__ x, int act,
                          float* __restrict__ h) {
  const int lane = threadIdx.x & 31;
  const int k = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  if (k >= n_active) return;
  const size_t off = static_cast<size_t>(active[k]) * stride;
  float out;
  if (gate != nullptr) {
    const float a = activate(act, warp_sum(row_dot_lane<T>(gate + off, x, n, lane)));
    // a is the same in every lane (warp_sum), so the branch is uniform.
    out = a == 0.0f ? 0.0f : a * warp_sum(row_dot_lane<T>(up + off, x, n, lane));
  } else {
    out = activate(act, warp_sum(row_dot_lane<T>(up + off, x, n, lane)));
  }
  if (lane == 0) h[k] = out;
}

// Block (x: 256 outputs j, y: chunk c of the active list). out[c * out_stride + j] (+)= the
// chunk's sum; consecutive threads read consecutive elements of each down^T row (coalesced).
template <int T>
__global__ void __launch_bounds__(kDownThreads)
    sparse_down_kernel(const uint8_t* __restrict__ down_t, size_t stride, int d, const int32_t* __restrict__ active,
                       int n_active, const float* __restrict__ h, int chunk, float* out, size_t out_stride, bool accumulate) {
  const int j = blockIdx.x * kDownThreads + threadIdx.x;
  if (j >= d) return;
  const int k0 = blockIdx.y * chunk;
  const int k1 = min(n_active, k0 + chunk);
  float acc = 0.0f;
#pragma unroll 4
  for (int k = k0; k < k1; ++k) {
    const float hk = h[k];
    if (hk == 0.0f) continue;  // same k in every thread: uniform
    acc += hk * row_elem<T>(down_t + static_cast<size_t>(active[k]) * stride, j);
  }
  float* o = out + blockIdx.y * out_stride + j;
  *o = accumulate ? *o + acc : acc;
}

__global__ void __launch_bounds__(256) sum_chunks_kernel(const float* __restrict__ partial, int n_chunks, int d, float* y, bool accumulate) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= d) return;
  float s = accumulate ? y[j] : 0.0f;
  for (int c = 0; c < n_chunks; ++c) s += partial[static_cast<size_t>(c) * d + j];
  y[j] = s;
}

__global__ void __launch_bounds__(256) rms_norm_kernel(const float* x, const float* __restrict__ w, float* out, int n, float eps) {
  __shared__ float warp_sums[32];
  const float* xr = x + static_cast<size_t>(blockIdx.x) * n;
  float* orow = out + static_cast<size_t>(blockIdx.x) * n;
  float ss = 0.0f;
  for (int j = threadIdx.x; j < n; j += blockDim.x) ss += xr[j] * xr[j];
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = ss;
  __syncthreads();
  float total = 0.0f;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) total += warp_sums[i];
  const float scale = static_cast<float>(1.0 / sqrt(static_cast<double>(total) / n + eps));
  // Thread j reads x[j] above and writes out[j] here only: out may alias x.
  for (int j = threadIdx.x; j < n; j += blockDim.x) orow[j] = xr[j] * scale * w[j];
}

__global__ void __launch_bounds__(256) rope_kernel(float* x, int B, int n_heads, int head_dim, int rope_dims, int pos0, float base,
                                                   bool neox) {
  const int half = rope_dims / 2;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(B) * n_heads * half) return;
  const int i = static_cast<int>(idx % half);
  const int h = static_cast<int>((idx / half) % n_heads);
  const int t = static_cast<int>(idx / (static_cast<int64_t>(half) * n_heads));
  const int pos = pos0 + t;
  // The same expression as kernels/elementwise.cpp's rope_inplace.
  const double theta = pos * pow(static_cast<double>(base), -2.0 * i / rope_dims);
  double sd, cd;
  sincos(theta, &sd, &cd);
  const float c = static_cast<float>(cd), s = static_cast<float>(sd);
  float* head = x + (static_cast<size_t>(t) * n_heads + h) * head_dim;
  // Adjacent pairs (2i, 2i+1), or NeoX's halves (i, i + half), as rope_apply / rope_apply_neox.
  float* v0 = neox ? head + i : head + 2 * i;
  float* v1 = neox ? head + i + half : head + 2 * i + 1;
  const float a = *v0, b = *v1;
  *v0 = a * c - b * s;
  *v1 = a * s + b * c;
}

// A KV-cache element as float: F32 as it is, F16 (IEEE half bits) widened exactly.
__device__ __forceinline__ float cache_value(float v) { return v; }
__device__ __forceinline__ float cache_value(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// Block (head h, token t): each warp walks positions warp, warp + 4, ... with a running max m,
// sum l and output acc (lane holds dims lane + 32 c); the 4 warps are merged at the end.
// Cache: float (F32 cache) or uint16_t (F16 cache, widened as it is read).
template <class Cache>
__global__ void __launch_bounds__(kAttWarps * 32)
    attention_kernel(const float* __restrict__ q, const Cache* __restrict__ kc, const Cache* __restrict__ vc,
                     float* __restrict__ out, int pos0, int n_heads, int n_kv_heads, int hd, float scale, int window) {
  constexpr int kPer = kAttMaxHeadDim / 32;
  __shared__ float s_m[kAttWarps], s_l[kAttWarps];
  __shared__ float s_acc[kAttWarps][kAttMaxHeadDim];
  const int h = blockIdx.x, t = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int kvh = h / (n_heads / n_kv_heads);
  const size_t kv = static_cast<size_t>(n_kv_heads) * hd;
  const int n_pos = pos0 + t + 1;
  const int first = window > 0 ? max(0, n_pos - window) : 0;  // a local layer's window
  const float* qh = q + (static_cast<size_t>(t) * n_heads + h) * hd;
  float qr[kPer], acc[kPer];
#pragma unroll
  for (int c = 0; c < kPer; ++c) {
    const int i = lane + 32 * c;
    qr[c] = i < hd ? qh[i] : 0.0f;
    acc[c] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int p = first + warp; p < n_pos; p += kAttWarps) {
    const Cache* kp = kc + static_cast<size_t>(p) * kv + static_cast<size_t>(kvh) * hd;
    const Cache* vp = vc + static_cast<size_t>(p) * kv + static_cast<size_t>(kvh) * hd;
    float s = 0.0f;
#pragma unroll
    for (int c = 0; c < kPer; ++c) {
      const int i = lane + 32 * c;
      if (i < hd) s += qr[c] * cache_value(kp[i]);
    }
    s = warp_sum(s) * scale;
    const float m_new = fmaxf(m, s);
    const float corr = expf(m - m_new);  // 0 on the first position (m = -inf)
    const float e = expf(s - m_new);
    l = l * corr + e;
#pragma unroll
    for (int c = 0; c < kPer; ++c) {
      const int i = lane + 32 * c;
      if (i < hd) acc[c] = acc[c] * corr + e * cache_value(vp[i]);
    }
    m = m_new;
  }
  if (lane == 0) s_m[warp] = m, s_l[warp] = l;
#pragma unroll
  for (int c = 0; c < kPer; ++c) {
    const int i = lane + 32 * c;
    if (i < hd) s_acc[warp][i] = acc[c];
  }
  __syncthreads();
  float M = -INFINITY;
  for (int w = 0; w < kAttWarps; ++w) M = fmaxf(M, s_m[w]);  // finite: every query sees >= 1 position
  float f[kAttWarps], L = 0.0f;
  for (int w = 0; w < kAttWarps; ++w) {
    f[w] = expf(s_m[w] - M);  // 0 for a warp that saw no position
    L += s_l[w] * f[w];
  }
  float* o = out + (static_cast<size_t>(t) * n_heads + h) * hd;
  for (int i = threadIdx.x; i < hd; i += blockDim.x) {
    float a = 0.0f;
    for (int w = 0; w < kAttWarps; ++w) a += s_acc[w][i] * f[w];
    o[i] = a / L;
  }
}

template <class Launch>
void dispatch(RowKernel variant, Launch&& launch) {
  switch (static_cast<int>(variant)) {
    case kF32: launch(std::integral_constant<int, kF32>{}); break;
    case kF16: launch(std::integral_constant<int, kF16>{}); break;
    case kF16Unaligned: launch(std::integral_constant<int, kF16Unaligned>{}); break;
    case kQ8_0: launch(std::integral_constant<int, kQ8_0>{}); break;
    case kQ4_0: launch(std::integral_constant<int, kQ4_0>{}); break;
    case kQ4_1: launch(std::integral_constant<int, kQ4_1>{}); break;
    default: throw std::invalid_argument("internal: unknown kernel variant");
  }
}

}  // namespace

bool gemv_supports(GgmlType type) { return args::type_block(type) != 0; }

void gemv(GgmlType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n, const float* x, float* y, int B,
          const Stream& stream) {
  const RowKernel variant = args::check_gemv(type, w, row_stride, n_rows, n, x, B);
  if (n_rows == 0 || B == 0) return;
  const dim3 grid(static_cast<unsigned>((n_rows + kWarpsPerBlock - 1) / kWarpsPerBlock), static_cast<unsigned>(B));
  dispatch(variant, [&](auto v) {
    gemv_kernel<decltype(v)::value><<<grid, kWarpsPerBlock * 32, 0, raw(stream)>>>(
        static_cast<const uint8_t*>(w), row_stride, static_cast<int>(n_rows), static_cast<int>(n), x, y);
  });
  check_launch("gemv_kernel");
}

void dequantize_rows(GgmlType type, const void* w, size_t row_stride, int64_t n_rows, int64_t n, float* out,
                     const Stream& stream) {
  const RowKernel variant = args::check_dequantize_rows(type, w, row_stride, n_rows, n);
  if (n_rows == 0) return;
  dispatch(variant, [&](auto v) {
    dequantize_kernel<decltype(v)::value><<<static_cast<unsigned>(n_rows), 256, 0, raw(stream)>>>(
        static_cast<const uint8_t*>(w), row_stride, static_cast<int>(n), out);
  });
  check_launch("dequantize_kernel");
}

void sparse_gate_up(GgmlType type, const void* gate, const void* up, size_t row_stride, int64_t n, const int32_t* active,
                    int64_t n_active, const float* x, Activation act, float* h, const Stream& stream) {
  const RowKernel variant = args::check_sparse_gate_up(type, gate, up, row_stride, n, n_active, x);
  if (n_active == 0) return;
  const unsigned blocks = static_cast<unsigned>((n_active + kWarpsPerBlock - 1) / kWarpsPerBlock);
  dispatch(variant, [&](auto v) {
    sparse_gate_up_kernel<decltype(v)::value><<<blocks, kWarpsPerBlock * 32, 0, raw(stream)>>>(
        static_cast<const uint8_t*>(gate), static_cast<const uint8_t*>(up), row_stride, static_cast<int>(n), active,
        static_cast<int>(n_active), x, static_cast<int>(act), h);
  });
  check_launch("sparse_gate_up_kernel");
}

size_t sparse_down_scratch_floats(int64_t d) { return static_cast<size_t>(kDownMaxChunks) * static_cast<size_t>(d); }

void sparse_down(GgmlType down_t_type, const void* down_t, size_t row_stride, int64_t d, const int32_t* active,
                 int64_t n_active, const float* h, float* y, bool accumulate, float* scratch, const Stream& stream) {
  const RowKernel variant = args::check_sparse_down(down_t_type, down_t, row_stride, d, n_active);
  if (n_active == 0) {
    if (!accumulate) check(cudaMemsetAsync(y, 0, static_cast<size_t>(d) * sizeof(float), raw(stream)), "cudaMemsetAsync");
    return;
  }
  int n_chunks = 1;
  if (scratch != nullptr) {
    n_chunks = static_cast<int>(std::min<int64_t>(kDownMaxChunks, (n_active + kDownMinChunk - 1) / kDownMinChunk));
  }
  const int chunk = static_cast<int>((n_active + n_chunks - 1) / n_chunks);
  n_chunks = static_cast<int>((n_active + chunk - 1) / chunk);
  const bool direct = n_chunks == 1;
  const dim3 grid(static_cast<unsigned>((d + kDownThreads - 1) / kDownThreads), static_cast<unsigned>(n_chunks));
  dispatch(variant, [&](auto v) {
    sparse_down_kernel<decltype(v)::value><<<grid, kDownThreads, 0, raw(stream)>>>(
        static_cast<const uint8_t*>(down_t), row_stride, static_cast<int>(d), active, static_cast<int>(n_active), h, chunk,
        direct ? y : scratch, static_cast<size_t>(d), direct && accumulate);
  });
  check_launch("sparse_down_kernel");
  if (!direct) {
    sum_chunks_kernel<<<static_cast<unsigned>((d + 255) / 256), 256, 0, raw(stream)>>>(scratch, n_chunks, static_cast<int>(d), y,
                                                                                       accumulate);
    check_launch("sum_chunks_kernel");
  }
}

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps, int B, const Stream& stream) {
  args::check_rms_norm(n, B);
  if (B == 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(B), 256, 0, raw(stream)>>>(x, weight, out, static_cast<int>(n), eps);
  check_launch("rms_norm_kernel");
}

void rope_inplace(float* x, int B, int n_heads, int head_dim, int rope_dims, int pos0, float base, bool neox, const Stream& stream) {
  args::check_rope(B, n_heads, head_dim, rope_dims, pos0);
  const int64_t total = static_cast<int64_t>(B) * n_heads * (rope_dims / 2);
  if (total == 0) return;
  rope_kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, raw(stream)>>>(x, B, n_heads, head_dim, rope_dims, pos0, base, neox);
  check_launch("rope_kernel");
}

namespace {
template <class Cache>
void launch_attention(const float* q, const Cache* k_cache, const Cache* v_cache, float* out, int B, int pos0, int n_heads,
                      int n_kv_heads, int head_dim, float scale, int window, const Stream& stream) {
  args::check_attention(B, pos0, n_heads, n_kv_heads, head_dim, scale, window);
  if (B == 0) return;
  attention_kernel<Cache><<<dim3(static_cast<unsigned>(n_heads), static_cast<unsigned>(B)), kAttWarps * 32, 0, raw(stream)>>>(
      q, k_cache, v_cache, out, pos0, n_heads, n_kv_heads, head_dim, scale, window);
  check_launch("attention_kernel");
}
}  // namespace

void attention(const float* q, const float* k_cache, const float* v_cache, float* out, int B, int pos0, int n_heads,
               int n_kv_heads, int head_dim, float scale, int window, const Stream& stream) {
  launch_attention(q, k_cache, v_cache, out, B, pos0, n_heads, n_kv_heads, head_dim, scale, window, stream);
}

void attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, float* out, int B, int pos0, int n_heads,
               int n_kv_heads, int head_dim, float scale, int window, const Stream& stream) {
  launch_attention(q, k_cache, v_cache, out, B, pos0, n_heads, n_kv_heads, head_dim, scale, window, stream);
}

}  // namespace actinfer::cuda
