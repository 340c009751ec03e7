// cuBLAS SGEMM for prefill, callable from plain C++ (no CUDA header here).
//
// cuBLAS is loaded at run time (dlopen of libcublas.so.<CUDA major>, then libcublas.so, then
// /usr/local/cuda/lib64/...) rather than linked: the build links only the static CUDA runtime
// and needs no CMake change, and a machine without cuBLAS still runs everything else
// (blas_available() says why not). Device pointers and streams of this process's CUDA runtime
// are valid in cuBLAS (one primary context per device). Without CUDA, gpu_kernels_stub.cpp
// makes Blas() throw CudaError.
#pragma once
#include <string>

#include "kernels/cuda/device_memory.h"

namespace actinfer::cuda {

// True when a device is usable and cuBLAS could be loaded; otherwise false with the reason.
bool blas_available(std::string& reason);

// A cuBLAS handle (created on the current device). Move-only; not for concurrent use from
// several threads (one per thread / stream owner).
class Blas {
 public:
  Blas();  // throws CudaError when no device is usable or cuBLAS cannot be loaded
  ~Blas() { release(); }
  Blas(Blas&& o) noexcept : handle_(o.handle_) { o.handle_ = nullptr; }
  Blas& operator=(Blas&& o) noexcept {
    if (this != &o) {
      release();
      handle_ = o.handle_;
      o.handle_ = nullptr;
    }
    return *this;
  }
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  // Y[B][N] = X[B][K] . W[N][K]^T + beta * Y[B][N] (row-major floats, device pointers): the
  // prefill projection of B tokens through a weight matrix of N rows of K floats (dequantize
  // quantized weights first with dequantize_rows). Queued on `stream`; full FP32 math (no
  // TF32: cuBLAS's default math mode). ldy: floats from one row of Y to the next (0: N), so
  // that a block of N columns of a wider Y is written in place (weights dequantized a block
  // of rows at a time). Throws CudaError when cuBLAS reports an error.
  void sgemm_xwt(const float* X, const float* W, float* Y, int B, int N, int K, const Stream& stream, float beta = 0.0f,
                 int ldy = 0);

 private:
  void release() noexcept;
  void* handle_ = nullptr;  // cublasHandle_t
};

}  // namespace actinfer::cuda
