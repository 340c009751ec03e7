// The cuda backend: the gpu-worker's role (attention + KV cache, hot FFN neurons, the output
// head, trained predictors) on one CUDA device, behind the same Backend seam as the host
// backend (backends/backend.h).
//
// Memory: the weights it holds (backends/device_model.h) and an F32 KV cache are allocated
// once at construction with plain cudaMalloc, after checking their size against the VRAM
// budget (BackendOptions::vram_budget; the same rule as check_budget) and, with the working
// buffers, against the device's free memory (check_device_memory). Nothing is allocated later.
//
// Per call: the backend owns one CUDA stream. Only activations cross the bus: the caller's
// input rows (residual stream, normalised FFN input, active-neuron lists or flags) are copied
// into pinned host memory and uploaded asynchronously, the kernels are queued behind them,
// the results come back into pinned memory asynchronously, and the call synchronises once at
// its end and copies them out. The gpu-worker actor calls the backend synchronously; the
// cpu-workers compute the cold neurons on their own threads meanwhile, so hot and cold work
// overlap as with the host backend.
//
// Numerics: the GEMVs use the float activations as they are (the CPU kernels round them to
// Q8_0 first unless the engine runs with exact activations); see kernels/cuda/gpu_kernels.h.
// Prefill batches of 8 tokens or more dequantize the weights into a device scratch and multiply
// with cuBLAS SGEMM where cuBLAS loads; smaller batches and decode use the batched GEMV.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "backends/backend.h"

namespace actinfer {

// Whether the cuda backend can run here; false with the reason (CUDA not compiled in, the
// driver missing or too old, no device).
bool cuda_backend_available(std::string& reason);

// The cuda backend on device options.device. Throws std::invalid_argument when no device is
// usable ("backend 'cuda': no usable CUDA device (<reason>); use backend = \"host\""), for a
// device number that does not exist, for a model the kernels cannot run, and when the held
// weights exceed the budget or the device's free memory (with the numbers).
std::unique_ptr<Backend> make_cuda_backend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& options);

// Throws std::invalid_argument with the numbers when what the backend holds plus its working
// buffers exceeds the device's free memory.
void check_device_memory(const DeviceFootprint& held, uint64_t buffers, uint64_t free, uint64_t total, const std::string& device);

}  // namespace actinfer
