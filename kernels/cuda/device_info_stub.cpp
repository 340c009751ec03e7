// Used only when the build has no CUDA (-DACTINFER_CUDA=OFF or no nvcc).
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"

namespace actinfer::cuda {

DeviceInfo query_devices() { return {false, 0, "built without CUDA (-DACTINFER_CUDA=OFF or no nvcc)"}; }

bool vector_add(const float*, const float*, float*, int, std::string& reason) {
  reason = query_devices().reason;
  return false;
}

void select_device(int) { throw CudaError("CUDA: " + query_devices().reason); }
void synchronize_device() { throw CudaError("CUDA: " + query_devices().reason); }
DeviceMemory device_memory() { throw CudaError("CUDA: " + query_devices().reason); }
std::string device_name(int) { throw CudaError("CUDA: " + query_devices().reason); }

}  // namespace actinfer::cuda
