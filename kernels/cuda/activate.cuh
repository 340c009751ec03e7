// Internal to the .cu files: the FFN activation on the device, the same expressions as
// kernels/elementwise.cpp's activate (SiLU x / (1 + e^-x), ReLU, GELU's tanh form).
#pragma once
#include <cuda_runtime.h>

#include "model/model_config.h"

namespace actinfer::cuda {

__device__ __forceinline__ float activate(int act, float v) {
  if (act == static_cast<int>(Activation::ReLU)) return v > 0.0f ? v : 0.0f;
  if (act == static_cast<int>(Activation::GELU)) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * v * (1.0f + tanhf(kSqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
  }
  return v / (1.0f + expf(-v));  // SiLU
}

}  // namespace actinfer::cuda
