#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"

namespace actinfer::cuda {

bool kernels_available(std::string& reason) {
  const DeviceInfo info = query_devices();
  if (!info.available) reason = info.reason;
  return info.available;
}

Stream::Stream() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  handle_ = s;
}

void Stream::release() noexcept {
  if (handle_) cudaStreamDestroy(static_cast<cudaStream_t>(handle_));
  handle_ = nullptr;
}

void Stream::synchronize() const { check(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_)), "cudaStreamSynchronize"); }

DeviceBuffer::DeviceBuffer(size_t bytes) {
  if (bytes == 0) return;
  check(cudaMalloc(&ptr_, bytes), "cudaMalloc");
  bytes_ = bytes;
}

void DeviceBuffer::release() noexcept {
  if (ptr_) cudaFree(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

void DeviceBuffer::upload(const void* src, size_t bytes, size_t offset) {
  check_range(bytes, offset);
  if (bytes == 0) return;
  check(cudaMemcpy(static_cast<char*>(ptr_) + offset, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to device");
  // From pageable memory cudaMemcpy may return before the copy has reached the device, and a
  // kernel on a non-blocking Stream does not wait for it: finish it here, as promised.
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize after cudaMemcpy");
}

void DeviceBuffer::download(void* dst, size_t bytes, size_t offset) const {
  check_range(bytes, offset);
  if (bytes == 0) return;
  check(cudaMemcpy(dst, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
}

void DeviceBuffer::upload_async(const void* src, size_t bytes, const Stream& stream, size_t offset) {
  check_range(bytes, offset);
  if (bytes == 0) return;
  check(cudaMemcpyAsync(static_cast<char*>(ptr_) + offset, src, bytes, cudaMemcpyHostToDevice,
                        static_cast<cudaStream_t>(stream.handle())),
        "cudaMemcpyAsync to device");
}

void DeviceBuffer::download_async(void* dst, size_t bytes, const Stream& stream, size_t offset) const {
  check_range(bytes, offset);
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost,
                        static_cast<cudaStream_t>(stream.handle())),
        "cudaMemcpyAsync to host");
}

void DeviceBuffer::fill_zero() {
  if (bytes_ == 0) return;
  check(cudaMemset(ptr_, 0, bytes_), "cudaMemset");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize after cudaMemset");  // cudaMemset is asynchronous
}

PinnedBuffer::PinnedBuffer(size_t bytes) {
  if (bytes == 0) return;
  check(cudaHostAlloc(&ptr_, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  bytes_ = bytes;
}

void PinnedBuffer::release() noexcept {
  if (ptr_) cudaFreeHost(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

}  // namespace actinfer::cuda
