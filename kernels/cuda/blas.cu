#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <mutex>
#include <string>

#include "kernels/cuda/blas.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_args.h"

namespace actinfer::cuda {
namespace {

// The cuBLAS entry points used, resolved once per process. (decltype of the declarations in
// cublas_v2.h only: nothing here links against libcublas.)
struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  std::string error;  // why loading failed (empty: loaded)
};

const CublasApi& cublas_api() {
  static const CublasApi api = [] {
    CublasApi a;
    const std::string major = std::to_string(CUDART_VERSION / 1000);
    const std::string names[] = {"libcublas.so." + major, "libcublas.so", "/usr/local/cuda/lib64/libcublas.so." + major,
                                 "/usr/local/cuda/lib64/libcublas.so"};
    void* lib = nullptr;
    for (const std::string& name : names)
      if ((lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
    if (lib == nullptr) {
      const char* e = dlerror();
      a.error = "cuBLAS not found (dlopen libcublas.so." + major + "): " + (e ? e : "unknown error");
      return a;
    }
    a.create = reinterpret_cast<decltype(a.create)>(dlsym(lib, "cublasCreate_v2"));
    a.destroy = reinterpret_cast<decltype(a.destroy)>(dlsym(lib, "cublasDestroy_v2"));
    a.set_stream = reinterpret_cast<decltype(a.set_stream)>(dlsym(lib, "cublasSetStream_v2"));
    a.sgemm = reinterpret_cast<decltype(a.sgemm)>(dlsym(lib, "cublasSgemm_v2"));
    if (!a.create || !a.destroy || !a.set_stream || !a.sgemm) a.error = "cuBLAS library lacks cublasCreate_v2/cublasSgemm_v2";
    return a;  // the library stays loaded for the process's lifetime
  }();
  return api;
}

void check_blas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) throw CudaError(std::string("cuBLAS: ") + what + " failed with status " + std::to_string(static_cast<int>(st)));
}

}  // namespace

bool blas_available(std::string& reason) {
  if (!kernels_available(reason)) return false;
  const CublasApi& api = cublas_api();
  if (!api.error.empty()) {
    reason = api.error;
    return false;
  }
  return true;
}

Blas::Blas() {
  std::string reason;
  if (!kernels_available(reason)) throw CudaError("CUDA: " + reason);
  const CublasApi& api = cublas_api();
  if (!api.error.empty()) throw CudaError(api.error);
  cublasHandle_t h = nullptr;
  check_blas(api.create(&h), "cublasCreate");
  handle_ = h;
}

void Blas::release() noexcept {
  if (handle_) cublas_api().destroy(static_cast<cublasHandle_t>(handle_));
  handle_ = nullptr;
}

void Blas::sgemm_xwt(const float* X, const float* W, float* Y, int B, int N, int K, const Stream& stream, float beta, int ldy) {
  ldy = args::check_sgemm_xwt(B, N, K, ldy);
  if (B == 0 || N == 0) return;
  const CublasApi& api = cublas_api();
  const auto h = static_cast<cublasHandle_t>(handle_);
  check_blas(api.set_stream(h, static_cast<cudaStream_t>(stream.handle())), "cublasSetStream");
  // Column-major view: Y^T[N][B] (ld ldy) = op(W)[N][K] . X^T[K][B], where row-major W[N][K] is
  // column-major K x N (ld K, transposed by OP_T) and row-major X[B][K] is column-major K x B.
  const float alpha = 1.0f;
  check_blas(api.sgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, N, B, K, &alpha, W, K > 0 ? K : 1, X, K > 0 ? K : 1, &beta, Y, ldy), "cublasSgemm");
}

}  // namespace actinfer::cuda
