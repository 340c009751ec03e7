// TEST ONLY: the kernels/cuda API (device_info.h, device_memory.h, blas.h, gpu_kernels.h,
// pointwise.h) emulated on the CPU, built instead of the CUDA sources and the stubs with
// -DACTINFER_CUDA_EMULATION=ON. It lets the cuda backend's host side (its memory plan, offsets,
// transfers, batching, masks, the prefill GEMM path, conversions) and its tests run on a machine
// without a GPU. It is NOT a GPU: everything is synchronous, "device" pointers are host
// pointers, and the dots are exact (double) rather than the kernels' float sums, so it cannot
// find races, missing synchronisation or kernel bugs. The argument checks are the real kernels'
// own (kernels/cuda/kernel_args.h), so a call the real kernels would refuse is refused here too.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cuda/blas.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/gpu_kernels.h"
#include "kernels/cuda/kernel_args.h"
#include "kernels/cuda/pointwise.h"
#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "kernels/fp16.h"

namespace actinfer::cuda {
namespace {

size_t rounded(size_t bytes) { return (bytes + 255) / 256 * 256; }

// The emulated device: 2 GiB whose buffers it counts, so that device_memory() reports what is
// free and a full device refuses allocations (the free-memory refusal test fills it, and the
// backend must then see it full; leaked buffers show as memory that never comes back). The
// count is guarded: actors allocate and free on whichever scheduler thread runs them.
class EmulatedDevice {
 public:
  static constexpr size_t kBytes = size_t{2} << 30;

  // 256-byte aligned, rounded up to 256 bytes; throws CudaError when the device or the host is full.
  void* allocate(size_t bytes) {
    const size_t size = rounded(bytes);
    {
      const std::lock_guard lock(mutex_);
      if (allocated_ + size > kBytes) throw CudaError("CUDA: cudaMalloc: out of memory (emulated device)");
      allocated_ += size;
    }
    void* p = std::aligned_alloc(256, size);
    if (p == nullptr) {
      release(bytes);
      throw CudaError("CUDA: cudaMalloc: out of host memory (emulated device)");
    }
    return p;
  }
  void free(void* p, size_t bytes) noexcept {
    std::free(p);
    release(bytes);
  }
  DeviceMemory memory() const {
    const std::lock_guard lock(mutex_);
    return {kBytes - allocated_, kBytes};
  }

 private:
  void release(size_t bytes) noexcept {
    const std::lock_guard lock(mutex_);
    allocated_ -= rounded(bytes);
  }
  mutable std::mutex mutex_;
  size_t allocated_ = 0;
};

// The one emulated device. It stands for the GPU and the CUDA runtime's per-process context:
// the API it emulates takes no device handle (cudaMalloc and cudaMemGetInfo act on the process's
// current device), and a buffer the tests allocate must count against what the backend then
// reads from device_memory(). Stream and Blas handles point to it (never dereferenced).
EmulatedDevice& the_device() {
  static EmulatedDevice device;
  return device;
}

double dot_row(GgmlType type, const void* row, const float* x, int64_t n) {
  std::vector<float> w(static_cast<size_t>(n));
  dequantize_row(type, row, w.data(), n);
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += static_cast<double>(w[static_cast<size_t>(j)]) * x[j];
  return s;
}

}  // namespace

DeviceInfo query_devices() { return {true, 1, ""}; }
bool vector_add(const float* a, const float* b, float* out, int n, std::string&) {
  for (int i = 0; i < n; ++i) out[i] = a[i] + b[i];
  return true;
}
void select_device(int device) { args::check_device_number(device, 1); }
void synchronize_device() {}
DeviceMemory device_memory() { return the_device().memory(); }
std::string device_name(int device) { return "CPU emulation of a CUDA device (device " + std::to_string(device) + ")"; }
bool kernels_available(std::string&) { return true; }
bool blas_available(std::string& reason) {
  if (std::getenv("ACTINFER_EMULATE_NO_CUBLAS") == nullptr) return true;
  reason = "cuBLAS not found (emulated)";
  return false;
}

Stream::Stream() { handle_ = &the_device(); }
void Stream::release() noexcept { handle_ = nullptr; }
void Stream::synchronize() const {}

DeviceBuffer::DeviceBuffer(size_t bytes) {
  if (bytes == 0) return;
  ptr_ = the_device().allocate(bytes);
  if (bytes <= (size_t{64} << 20)) std::memset(ptr_, 0xCD, rounded(bytes));  // garbage, as cudaMalloc leaves it
  bytes_ = bytes;
}
void DeviceBuffer::release() noexcept {
  if (ptr_) the_device().free(ptr_, bytes_);
  ptr_ = nullptr;
  bytes_ = 0;
}
void DeviceBuffer::upload(const void* src, size_t bytes, size_t offset) {
  check_range(bytes, offset);
  if (bytes) std::memcpy(static_cast<char*>(ptr_) + offset, src, bytes);
}
void DeviceBuffer::download(void* dst, size_t bytes, size_t offset) const {
  check_range(bytes, offset);
  if (bytes) std::memcpy(dst, static_cast<const char*>(ptr_) + offset, bytes);
}
void DeviceBuffer::upload_async(const void* src, size_t bytes, const Stream&, size_t offset) { upload(src, bytes, offset); }
void DeviceBuffer::download_async(void* dst, size_t bytes, const Stream&, size_t offset) const { download(dst, bytes, offset); }
void DeviceBuffer::fill_zero() {
  if (bytes_) std::memset(ptr_, 0, bytes_);
}

PinnedBuffer::PinnedBuffer(size_t bytes) {
  if (bytes == 0) return;
  ptr_ = std::aligned_alloc(256, rounded(bytes));
  if (ptr_ == nullptr) throw CudaError("CUDA: cudaHostAlloc: out of memory (emulated)");
  bytes_ = bytes;
}
void PinnedBuffer::release() noexcept {
  std::free(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

Blas::Blas() { handle_ = &the_device(); }
void Blas::release() noexcept { handle_ = nullptr; }
void Blas::sgemm_xwt(const float* X, const float* W, float* Y, int B, int N, int K, const Stream&, float beta, int ldy) {
  ldy = args::check_sgemm_xwt(B, N, K, ldy);
  for (int t = 0; t < B; ++t)
    for (int r = 0; r < N; ++r) {
      float& y = Y[static_cast<size_t>(t) * static_cast<size_t>(ldy) + static_cast<size_t>(r)];
      double s = beta == 0.0f ? 0.0 : static_cast<double>(beta) * y;
      for (int k = 0; k < K; ++k)
        s += static_cast<double>(X[static_cast<size_t>(t) * static_cast<size_t>(K) + static_cast<size_t>(k)]) *
             W[static_cast<size_t>(r) * static_cast<size_t>(K) + static_cast<size_t>(k)];
      y = static_cast<float>(s);
    }
}

bool gemv_supports(GgmlType type) { return args::type_block(type) != 0; }

void gemv(GgmlType type, const void* w, size_t stride, int64_t n_rows, int64_t n, const float* x, float* y, int B, const Stream&) {
  args::check_gemv(type, w, stride, n_rows, n, x, B);
  for (int t = 0; t < B; ++t)
    for (int64_t r = 0; r < n_rows; ++r)
      y[static_cast<size_t>(t) * static_cast<size_t>(n_rows) + static_cast<size_t>(r)] =
          static_cast<float>(dot_row(type, static_cast<const char*>(w) + static_cast<size_t>(r) * stride, x + static_cast<size_t>(t) * static_cast<size_t>(n), n));
}

void dequantize_rows(GgmlType type, const void* w, size_t stride, int64_t n_rows, int64_t n, float* out, const Stream&) {
  args::check_dequantize_rows(type, w, stride, n_rows, n);
  for (int64_t r = 0; r < n_rows; ++r)
    dequantize_row(type, static_cast<const char*>(w) + static_cast<size_t>(r) * stride, out + static_cast<size_t>(r) * static_cast<size_t>(n), n);
}

void sparse_gate_up(GgmlType type, const void* gate, const void* up, size_t stride, int64_t n, const int32_t* active, int64_t n_active,
                    const float* x, Activation act, float* h, const Stream&) {
  args::check_sparse_gate_up(type, gate, up, stride, n, n_active, x);
  for (int64_t k = 0; k < n_active; ++k) {
    const size_t off = static_cast<size_t>(active[k]) * stride;
    const float u = static_cast<float>(dot_row(type, static_cast<const char*>(up) + off, x, n));
    if (gate == nullptr) {
      h[k] = activate(act, u);
    } else {
      const float a = activate(act, static_cast<float>(dot_row(type, static_cast<const char*>(gate) + off, x, n)));
      h[k] = a == 0.0f ? 0.0f : a * u;
    }
  }
}

size_t sparse_down_scratch_floats(int64_t d) { return static_cast<size_t>(args::kDownMaxChunks) * static_cast<size_t>(d); }

void sparse_down(GgmlType type, const void* down_t, size_t stride, int64_t d, const int32_t* active, int64_t n_active, const float* h,
                 float* y, bool accumulate, float*, const Stream&) {
  args::check_sparse_down(type, down_t, stride, d, n_active);
  std::vector<double> sum(static_cast<size_t>(d), 0.0);
  std::vector<float> col(static_cast<size_t>(d));
  for (int64_t k = 0; k < n_active; ++k) {
    if (h[k] == 0.0f) continue;
    dequantize_row(type, static_cast<const char*>(down_t) + static_cast<size_t>(active[k]) * stride, col.data(), d);
    for (int64_t j = 0; j < d; ++j) sum[static_cast<size_t>(j)] += static_cast<double>(h[k]) * col[static_cast<size_t>(j)];
  }
  for (int64_t j = 0; j < d; ++j) y[j] = static_cast<float>((accumulate ? y[j] : 0.0) + sum[static_cast<size_t>(j)]);
}

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps, int B, const Stream&) {
  args::check_rms_norm(n, B);
  std::vector<float> row(static_cast<size_t>(n));  // out may be x
  for (int t = 0; t < B; ++t) {
    actinfer::rms_norm(x + static_cast<size_t>(t) * static_cast<size_t>(n), weight, row.data(), n, eps);
    std::copy(row.begin(), row.end(), out + static_cast<size_t>(t) * static_cast<size_t>(n));
  }
}

void rope_inplace(float* x, int B, int n_heads, int head_dim, int rope_dims, int pos0, float base, bool neox, const Stream&) {
  args::check_rope(B, n_heads, head_dim, rope_dims, pos0);
  std::vector<float> cs(static_cast<size_t>(rope_dims));
  for (int t = 0; t < B; ++t) {
    float* xt = x + static_cast<size_t>(t) * static_cast<size_t>(n_heads * head_dim);
    rope_rotations(rope_dims, pos0 + t, base, cs.data());
    (neox ? rope_apply_neox : rope_apply)(xt, n_heads, head_dim, rope_dims, cs.data());
  }
}

void attention(const float* q, const float* k_cache, const float* v_cache, float* out, int B, int pos0, int n_heads, int n_kv_heads,
               int head_dim, float scale, int window, const Stream&) {
  args::check_attention(B, pos0, n_heads, n_kv_heads, head_dim, scale, window);
  const int group = n_heads / n_kv_heads, kv = n_kv_heads * head_dim, d = n_heads * head_dim;
  std::vector<float> scores;
  for (int t = 0; t < B; ++t)
    for (int h = 0; h < n_heads; ++h) {
      const int n_pos = pos0 + t + 1, kvh = h / group;
      const int first = window > 0 ? std::max(0, n_pos - window) : 0, n_seen = n_pos - first;
      scores.assign(static_cast<size_t>(n_seen), 0.0f);
      const float* qh = q + static_cast<size_t>(t) * d + static_cast<size_t>(h) * head_dim;
      for (int p = 0; p < n_seen; ++p)
        scores[static_cast<size_t>(p)] =
            dot_f32(qh, k_cache + static_cast<size_t>(first + p) * kv + static_cast<size_t>(kvh) * head_dim, head_dim) * scale;
      softmax_inplace(scores.data(), n_seen);
      float* o = out + static_cast<size_t>(t) * d + static_cast<size_t>(h) * head_dim;
      std::fill(o, o + head_dim, 0.0f);
      for (int p = 0; p < n_seen; ++p)
        axpy(scores[static_cast<size_t>(p)], v_cache + static_cast<size_t>(first + p) * kv + static_cast<size_t>(kvh) * head_dim, o, head_dim);
    }
}

// The F16 cache: widened exactly to float (kernels/fp16.h), then the same loop.
void attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, float* out, int B, int pos0, int n_heads, int n_kv_heads,
               int head_dim, float scale, int window, const Stream& stream) {
  args::check_attention(B, pos0, n_heads, n_kv_heads, head_dim, scale, window);
  const size_t n = static_cast<size_t>(pos0 + B) * static_cast<size_t>(n_kv_heads) * static_cast<size_t>(head_dim);
  std::vector<float> k(n), v(n);
  for (size_t i = 0; i < n; ++i) k[i] = fp16_to_f32(k_cache[i]), v[i] = fp16_to_f32(v_cache[i]);
  attention(q, k.data(), v.data(), out, B, pos0, n_heads, n_kv_heads, head_dim, scale, window, stream);
}

void to_f16(const float* x, uint16_t* out, int64_t n, const Stream&) {
  args::check_pointwise("cuda::to_f16", n, 1);
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_fp16(x[i]);
}

void add_inplace(float* y, const float* x, int64_t n, const Stream&) {
  args::check_pointwise("cuda::add_inplace", n, 1);
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void add_bias(float* y, const float* b, int64_t n, int B, const Stream&) {
  args::check_pointwise("cuda::add_bias", n, B);
  for (int t = 0; t < B; ++t)
    for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(t) * static_cast<size_t>(n) + static_cast<size_t>(i)] += b[i];
}

void ffn_hidden(const float* g, const float* u, const uint8_t* keep, Activation act, float* h, int64_t n, int B, const Stream&) {
  args::check_pointwise("cuda::ffn_hidden", n, B);
  for (int t = 0; t < B; ++t)
    for (int64_t i = 0; i < n; ++i) {
      const size_t j = static_cast<size_t>(t) * static_cast<size_t>(n) + static_cast<size_t>(i);
      h[j] = keep == nullptr || keep[i] != 0 ? (g != nullptr ? activate(act, g[j]) * u[j] : activate(act, u[j])) : 0.0f;
    }
}

void softcap_inplace(float* x, float cap, int64_t n, const Stream&) {
  args::check_pointwise("cuda::softcap_inplace", n, 1);
  if (!(cap > 0.0f)) throw std::invalid_argument("cuda::softcap_inplace: cap " + std::to_string(cap) + " must be positive");
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void relu_inplace(float* x, int64_t n, const Stream&) {
  args::check_pointwise("cuda::relu_inplace", n, 1);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void active_bits(const float* z, const float* bias, int64_t n, int B, uint32_t* bits, const Stream&) {
  args::check_active_bits(n, B);
  const int64_t words = bit_words(n);
  for (int t = 0; t < B; ++t)
    for (int64_t w = 0; w < words; ++w) {
      uint32_t word = 0;
      for (int k = 0; k < 32; ++k) {
        const int64_t i = w * 32 + k;
        if (i < n && z[static_cast<size_t>(t) * static_cast<size_t>(n) + static_cast<size_t>(i)] + bias[i] >= 0.0f) word |= 1u << k;
      }
      bits[static_cast<size_t>(t) * static_cast<size_t>(words) + static_cast<size_t>(w)] = word;
    }
}

}  // namespace actinfer::cuda
