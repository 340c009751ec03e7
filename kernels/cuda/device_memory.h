// Device memory and streams for the CUDA kernels (kernels/cuda/gpu_kernels.h), callable from
// plain C++: no CUDA header is included here. Compiled by nvcc (device_memory.cu) where it
// exists; in builds without CUDA, gpu_kernels_stub.cpp makes every constructor and call throw
// CudaError("built without CUDA ...") and kernels_available() answer false with that reason.
//
// Errors: every CUDA failure (no device, out of memory, a failed launch) throws CudaError with
// the runtime's message and the call that failed; bad arguments throw std::invalid_argument /
// std::out_of_range before anything reaches the device.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace actinfer::cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True when the kernels can run here (a CUDA build and a usable device); otherwise false with
// `reason` saying why (the same text query_devices() gives).
bool kernels_available(std::string& reason);

// An owned, non-blocking CUDA stream (cudaStreamNonBlocking). Move-only.
class Stream {
 public:
  Stream();  // throws CudaError when no device is usable
  ~Stream() { release(); }
  Stream(Stream&& o) noexcept : handle_(o.handle_) { o.handle_ = nullptr; }
  Stream& operator=(Stream&& o) noexcept {
    if (this != &o) {
      release();
      handle_ = o.handle_;
      o.handle_ = nullptr;
    }
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void* handle() const { return handle_; }  // the cudaStream_t
  void synchronize() const;                 // waits for the stream; throws CudaError for a failed kernel

 private:
  void release() noexcept;
  void* handle_ = nullptr;
};

// An owned device allocation (cudaMalloc / cudaFree). Move-only; a moved-from or default
// buffer is empty (null, 0 bytes). cudaMalloc aligns to at least 256 bytes.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);  // uninitialised; 0 bytes: empty, no allocation
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = o.ptr_, bytes_ = o.bytes_;
      o.ptr_ = nullptr, o.bytes_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // A buffer holding a copy of host memory (synchronous).
  static DeviceBuffer from_host(const void* src, size_t bytes) {
    DeviceBuffer b(bytes);
    b.upload(src, bytes);
    return b;
  }
  template <class T>
  static DeviceBuffer from_vector(const std::vector<T>& v) {
    return from_host(v.data(), v.size() * sizeof(T));
  }

  void* data() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }
  bool empty() const { return bytes_ == 0; }

  // Synchronous copies of `bytes` bytes at byte `offset` of the buffer (std::out_of_range past
  // its end). The synchronous ones return when the copy is complete on the device, so kernels on
  // any Stream see it (cudaMemcpy alone may return before a pageable copy has arrived).
  void upload(const void* src, size_t bytes, size_t offset = 0);
  void download(void* dst, size_t bytes, size_t offset = 0) const;
  // Asynchronous on `stream` (host memory must stay valid until the stream has passed the copy).
  void upload_async(const void* src, size_t bytes, const Stream& stream, size_t offset = 0);
  void download_async(void* dst, size_t bytes, const Stream& stream, size_t offset = 0) const;
  void fill_zero();  // synchronous memset 0 of the whole buffer

  template <class T>
  std::vector<T> to_vector() const {
    std::vector<T> v(bytes_ / sizeof(T));
    download(v.data(), v.size() * sizeof(T));
    return v;
  }

 private:
  void release() noexcept;
  void check_range(size_t bytes, size_t offset) const {
    if (offset > bytes_ || bytes > bytes_ - offset)
      throw std::out_of_range("DeviceBuffer: " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                              " exceed the buffer's " + std::to_string(bytes_));
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked ("pinned") host memory (cudaHostAlloc / cudaFreeHost). The GPU's copy engines
// read and write it directly, so copies from and to it run asynchronously on a stream and
// overlap with kernels; copies from pageable memory are staged by the driver and block the
// calling thread. Move-only; 0 bytes: empty, no allocation.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes);  // throws CudaError when no device is usable
  ~PinnedBuffer() { release(); }
  PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = o.ptr_, bytes_ = o.bytes_;
      o.ptr_ = nullptr, o.bytes_ = 0;
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void release() noexcept;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace actinfer::cuda
