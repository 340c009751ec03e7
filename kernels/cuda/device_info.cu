#include <cuda_runtime.h>

#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"

namespace actinfer::cuda {
namespace {

__global__ void add_kernel(const float* a, const float* b, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

}  // namespace

DeviceInfo query_devices() {
  DeviceInfo info;
  const cudaError_t err = cudaGetDeviceCount(&info.device_count);
  if (err != cudaSuccess) {
    info.device_count = 0;
    info.reason = std::string("CUDA runtime: ") + cudaGetErrorString(err);
    return info;
  }
  info.available = info.device_count > 0;
  if (!info.available) info.reason = "no CUDA device found";
  return info;
}

bool vector_add(const float* a, const float* b, float* out, int n, std::string& reason) {
  const DeviceInfo info = query_devices();
  if (!info.available) {
    reason = info.reason;
    return false;
  }
  float *da = nullptr, *db = nullptr, *dout = nullptr;
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  cudaError_t err = cudaMalloc(&da, bytes);
  if (err == cudaSuccess) err = cudaMalloc(&db, bytes);
  if (err == cudaSuccess) err = cudaMalloc(&dout, bytes);
  if (err == cudaSuccess) err = cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice);
  if (err == cudaSuccess) err = cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice);
  if (err == cudaSuccess) {
    add_kernel<<<(n + 255) / 256, 256>>>(da, db, dout, n);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) err = cudaMemcpy(out, dout, bytes, cudaMemcpyDeviceToHost);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dout);
  if (err != cudaSuccess) reason = std::string("CUDA: ") + cudaGetErrorString(err);
  return err == cudaSuccess;
}

void select_device(int device) {
  int count = 0;
  check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (device < 0 || device >= count)
    throw std::invalid_argument("CUDA device " + std::to_string(device) + " does not exist (this machine has " + std::to_string(count) +
                                (count == 1 ? " device)" : " devices)"));
  check(cudaSetDevice(device), "cudaSetDevice");
}

void synchronize_device() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

DeviceMemory device_memory() {
  DeviceMemory m;
  check(cudaMemGetInfo(&m.free, &m.total), "cudaMemGetInfo");
  return m;
}

std::string device_name(int device) {
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
  return std::string(p.name) + " (device " + std::to_string(device) + ", compute " + std::to_string(p.major) + "." + std::to_string(p.minor) + ")";
}

}  // namespace actinfer::cuda
