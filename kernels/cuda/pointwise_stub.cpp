// Used only when the build has no CUDA: every element-wise kernel reports "not available"
// (kernels/cuda/pointwise.h).
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/pointwise.h"

namespace actinfer::cuda {
namespace {
[[noreturn]] void unavailable() { throw CudaError("CUDA: " + query_devices().reason); }
}  // namespace

void add_inplace(float*, const float*, int64_t, const Stream&) { unavailable(); }
void add_bias(float*, const float*, int64_t, int, const Stream&) { unavailable(); }
void ffn_hidden(const float*, const float*, const uint8_t*, Activation, float*, int64_t, int, const Stream&) { unavailable(); }
void to_f16(const float*, uint16_t*, int64_t, const Stream&) { unavailable(); }
void relu_inplace(float*, int64_t, const Stream&) { unavailable(); }
void softcap_inplace(float*, float, int64_t, const Stream&) { unavailable(); }
void active_bits(const float*, const float*, int64_t, int, uint32_t*, const Stream&) { unavailable(); }

}  // namespace actinfer::cuda
