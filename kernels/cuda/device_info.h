// What CUDA sees on this machine, and which device the calling thread uses. Compiled by nvcc
// where it exists; the stub (device_info_stub.cpp) answers "no CUDA" in builds without it.
#pragma once
#include <cstddef>
#include <string>

namespace actinfer::cuda {

struct DeviceInfo {
  bool available = false;
  int device_count = 0;
  std::string reason;  // why no device is usable, when none is
};

DeviceInfo query_devices();

// Adds two float vectors on the GPU (a smoke test of the toolchain and device).
// Returns false with `reason` set when no device is usable.
bool vector_add(const float* a, const float* b, float* out, int n, std::string& reason);

// Makes `device` the calling thread's current device (cudaSetDevice). The CUDA runtime keeps
// the current device per thread, and the actors run on whichever scheduler thread is free, so
// code that owns device memory selects its device at the start of every call. Throws
// std::invalid_argument for a device number that does not exist, CudaError otherwise.
void select_device(int device);

// The current device's memory as cudaMemGetInfo reports it (free counts what other
// processes and this one already hold). Throws CudaError when no device is usable.
struct DeviceMemory {
  size_t free = 0;
  size_t total = 0;
};
DeviceMemory device_memory();

// Waits until everything queued on the current device has finished (cudaDeviceSynchronize).
// Synchronous cudaMemcpy from pageable memory and cudaMemset may return before the device has
// finished them, and work on a non-blocking Stream does not wait for them: call this between
// such setup and the first kernel on a Stream. Throws CudaError.
void synchronize_device();

// "NVIDIA H100 80GB HBM3 (device 0, compute 9.0)"; throws CudaError when no device is usable.
std::string device_name(int device);

}  // namespace actinfer::cuda
