// Used only when the build has no CUDA: device memory, streams, kernels and cuBLAS all report
// "not available" (kernels/cuda/device_memory.h, gpu_kernels.h, blas.h).
#include "kernels/cuda/blas.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/gpu_kernels.h"
#include "kernels/cuda/kernel_args.h"

namespace actinfer::cuda {
namespace {
[[noreturn]] void unavailable() { throw CudaError("CUDA: " + query_devices().reason); }
}  // namespace

bool kernels_available(std::string& reason) {
  reason = query_devices().reason;
  return false;
}
bool blas_available(std::string& reason) { return kernels_available(reason); }

Stream::Stream() { unavailable(); }
void Stream::release() noexcept {}
void Stream::synchronize() const { unavailable(); }

DeviceBuffer::DeviceBuffer(size_t bytes) {
  if (bytes != 0) unavailable();
}
void DeviceBuffer::release() noexcept {}
void DeviceBuffer::upload(const void*, size_t bytes, size_t offset) { check_range(bytes, offset); }
void DeviceBuffer::download(void*, size_t bytes, size_t offset) const { check_range(bytes, offset); }
void DeviceBuffer::upload_async(const void*, size_t, const Stream&, size_t) { unavailable(); }
void DeviceBuffer::download_async(void*, size_t, const Stream&, size_t) const { unavailable(); }
void DeviceBuffer::fill_zero() {}

PinnedBuffer::PinnedBuffer(size_t bytes) {
  if (bytes != 0) unavailable();
}
void PinnedBuffer::release() noexcept {}

Blas::Blas() { unavailable(); }
void Blas::release() noexcept {}
void Blas::sgemm_xwt(const float*, const float*, float*, int, int, int, const Stream&, float, int) { unavailable(); }

bool gemv_supports(GgmlType type) { return args::type_block(type) != 0; }
void gemv(GgmlType, const void*, size_t, int64_t, int64_t, const float*, float*, int, const Stream&) { unavailable(); }
void dequantize_rows(GgmlType, const void*, size_t, int64_t, int64_t, float*, const Stream&) { unavailable(); }
void sparse_gate_up(GgmlType, const void*, const void*, size_t, int64_t, const int32_t*, int64_t, const float*, Activation,
                    float*, const Stream&) {
  unavailable();
}
size_t sparse_down_scratch_floats(int64_t d) { return static_cast<size_t>(args::kDownMaxChunks) * static_cast<size_t>(d); }
void sparse_down(GgmlType, const void*, size_t, int64_t, const int32_t*, int64_t, const float*, float*, bool, float*,
                 const Stream&) {
  unavailable();
}
void rms_norm(const float*, const float*, float*, int64_t, float, int, const Stream&) { unavailable(); }
void rope_inplace(float*, int, int, int, int, int, float, bool, const Stream&) { unavailable(); }
void attention(const float*, const float*, const float*, float*, int, int, int, int, int, float, int, const Stream&) { unavailable(); }
void attention(const float*, const uint16_t*, const uint16_t*, float*, int, int, int, int, int, float, int, const Stream&) { unavailable(); }

}  // namespace actinfer::cuda
