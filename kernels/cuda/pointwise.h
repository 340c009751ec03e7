// Small element-wise CUDA kernels the cuda backend needs between the matrix kernels of
// gpu_kernels.h: the residual add, projection biases, the FFN hidden state, and the trained
// predictors' ReLU and decision bits. Same conventions as gpu_kernels.h (device pointers,
// queued on `stream`, bad arguments -> std::invalid_argument before any launch, launch
// failures -> CudaError). In builds without CUDA pointwise_stub.cpp makes every call throw
// CudaError.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/cuda/device_memory.h"
#include "model/model_config.h"

namespace actinfer::cuda {

// y[i] += x[i] for i < n (the residual stream after a block).
void add_inplace(float* y, const float* x, int64_t n, const Stream& stream);

// y[t][i] += b[i] for t < B, i < n (a projection's bias on B tokens, rows n apart).
void add_bias(float* y, const float* b, int64_t n, int B, const Stream& stream);

// The FFN hidden state of B tokens over n neurons (rows n floats apart):
//   h[t][i] = keep[i] ? act(g[t][i]) * u[t][i] : 0     (gated FFN)
//   h[t][i] = keep[i] ? act(u[t][i]) : 0               (g == nullptr: plain FFN)
// keep: n bytes (nonzero keeps the neuron; nullptr keeps all). The expressions are those of
// engine/layer_ops.cpp's ffn_block (activate(g) * u, in float).
void ffn_hidden(const float* g, const float* u, const uint8_t* keep, Activation act, float* h, int64_t n, int B,
                const Stream& stream);

// out[i] = x[i] as IEEE half bits, rounded to nearest even (kernels/fp16.h's f32_to_fp16), for
// i < n: the keys and values of new positions into an F16 KV cache.
void to_f16(const float* x, uint16_t* out, int64_t n, const Stream& stream);

// x[i] = max(x[i], 0) for i < n.
void relu_inplace(float* x, int64_t n, const Stream& stream);

// x[i] = cap * tanh(x[i] / cap) for i < n (the output head's final logit soft-cap; cap > 0).
void softcap_inplace(float* x, float cap, int64_t n, const Stream& stream);

// uint32 words per token of active_bits' output for n neurons.
inline int64_t bit_words(int64_t n) { return (n + 31) / 32; }

// A trained predictor's decision as bits, so only n / 8 bytes per token cross the bus: bit k
// of word w of token t (bits[t * bit_words(n) + w]) is set when z[t][32 w + k] + bias[32 w + k]
// >= 0 (the float sum and comparison NeuronPredictors::predict makes); bits past n are 0.
void active_bits(const float* z, const float* bias, int64_t n, int B, uint32_t* bits, const Stream& stream);

}  // namespace actinfer::cuda
