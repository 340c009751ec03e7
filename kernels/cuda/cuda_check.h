// Internal to the .cu files: turns a cudaError_t into a CudaError exception.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/device_memory.h"

namespace actinfer::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear a non-sticky error so later calls do not report it again
    throw CudaError(std::string("CUDA: ") + what + ": " + cudaGetErrorString(err));
  }
}

// After a kernel launch: a bad configuration shows here, a fault in the kernel at the next
// synchronising call.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace actinfer::cuda
