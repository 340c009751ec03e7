// Used only when the build has no CUDA (-DACTINFER_CUDA=OFF or no nvcc).
#include "kernels/cuda/device_info.h"

namespace actinfer::cuda {

DeviceInfo query_devices() { return {false, 0, "built without CUDA (-DACTINFER_CUDA=OFF or no nvcc)"}; }

bool vector_add(const float*, const float*, float*, int, std::string& reason) {
  reason = query_devices().reason;
  return false;
}

}  // namespace actinfer::cuda
