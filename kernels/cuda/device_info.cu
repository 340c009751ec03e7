#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/kernel_args.h"

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
  try {  // the buffers free themselves on every path
    const size_t bytes = static_cast<size_t>(n) * sizeof(float);
    const DeviceBuffer da = DeviceBuffer::from_host(a, bytes), db = DeviceBuffer::from_host(b, bytes);
    const DeviceBuffer dout(bytes);
    add_kernel<<<(n + 255) / 256, 256>>>(da.as<float>(), db.as<float>(), dout.as<float>(), n);
    check_launch("add_kernel");
    dout.download(out, bytes);
    return true;
  } catch (const CudaError& e) {
    reason = e.what();
    return false;
  }
}

void select_device(int device) {
  int count = 0;
  check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  args::check_device_number(device, count);
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
