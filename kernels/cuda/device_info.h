// What CUDA sees on this machine. Compiled by nvcc where it exists; the stub
// (device_info_stub.cpp) answers "no CUDA" in builds without it.
#pragma once
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

}  // namespace actinfer::cuda
