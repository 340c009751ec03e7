// Synthetic llama-architecture GGUF models with a designed, power-law FFN activation
// pattern (for PowerInfer-style sparsity work without downloading real weights).
//
// Design (see write_synthetic_model):
//  * Hidden dimension 0 is a constant "bias channel": every token embedding holds
//    bias_channel_value(dim) there, and the rows of attn_output and ffn_down that write
//    dimension 0 are zero, so the residual stream keeps it constant in every layer. Weights
//    that read the residual (attn_q/k/v, ffn_up, output) have a zero column 0.
//  * Column 0 of ffn_gate is then a per-neuron bias. Neuron i of a layer is given a firing
//    probability p_i (neuron_fire_probabilities, assigned to neurons by a per-layer random
//    permutation) and its bias is set so that gate_i > 0 for a fraction p_i of tokens,
//    given the designed spread of the token-dependent part of the gate. With the default
//    relu activation a token activates about (1 - sparsity) of each layer's neurons, a few
//    hot neurons fire for most tokens and most neurons rarely fire.
//  * Other weights are random (per-row seeded xoshiro256**, sums of uniforms for the
//    normal-like draws: the same bytes on every platform for a seed), scaled so that each
//    attention block adds 0.5/layers and each FFN block 2/layers to the per-dimension
//    variance of the residual stream (embeddings have variance 1), attention scores have a
//    spread of about 2, and the logits a standard deviation of about 2.5.
//  * gate_rank R > 0 makes the token part of every ffn_gate row a random combination of
//    R shared random directions (same element variance): firing is then a linear rule in
//    R + 1 directions of xn (the bias channel and the R), which a neuron predictor of rank
//    >= 2R + 1 can represent exactly (a known truth for predictor training).
//  * Norm weights are random in [0.9, 1.1] (1 at dimension 0 of the block norms).
// The tensors are generated and quantized row by row while the file is written: memory use
// does not grow with the model.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/ggml_type.h"
#include "model/gguf_writer.h"
#include "model/synthetic_vocab.h"

namespace actinfer {

struct SyntheticModelConfig {
  int n_layers = 4;
  int dim = 256;
  int ffn = 1024;
  int n_heads = 8;
  int n_kv_heads = 4;
  int vocab = 512;
  int ctx = 2048;
  GgmlType type = GgmlType::F32;         // the 2-D weights
  GgmlType output_type = GgmlType::F32;  // output (and token_embd when tied)
  std::string activation = "relu";       // relu | silu | gelu (written to actinfer.ffn_activation)
  double hot_fraction = 0.05;            // fraction of neurons that fire for >= half the tokens
  double sparsity = 0.9;                 // mean fraction of inactive FFN neurons per token
  uint64_t seed = 1;
  int gate_rank = 0;  // 0: full-rank random gate rows; R: rows in a shared R-dimensional span
  bool tied = false;  // no output tensor: the output head is token_embd
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  std::string name;  // general.name; empty: derived from the shape
  // "gemma3": gemma3 metadata and tensors (per-head q/k norms, post-attention and post-FFN
  // norms, attention.key_length = head_dim, sliding_window) on the same designed weights.
  std::string arch = "llama";
  int head_dim = 0;        // 0: dim / heads; gemma3 may set any even width (queries are heads x head_dim)
  int sliding_window = 0;  // gemma3: gemma3.attention.sliding_window (0: not written, every layer global)
};

// Throws std::invalid_argument with a message naming the flag for an unusable config.
void validate(const SyntheticModelConfig& cfg);

// Sets n_layers/dim/ffn/n_heads/n_kv_heads from a preset ("tinyllama-1.1b", "llama-7b");
// throws std::invalid_argument for another name.
void apply_shape_preset(SyntheticModelConfig& cfg, std::string_view shape);
std::vector<std::string> shape_preset_names();

// A type name of the table (kernels/ggml_type.h, any case) -> the type, for every weight type
// that has a quantizer (F32, F16, BF16, Q4_0 ... IQ4_XS); throws std::invalid_argument naming
// the type for other names and for types that cannot be written.
GgmlType parse_weight_type(std::string_view name);
// Whether make-model can write weights of the type (a weight type with a quantizer).
bool is_writable_weight_type(GgmlType type);
// "f32, f16, ...": the writable weight types, lower case, for messages and help.
std::string writable_weight_type_names();
// llama.cpp's general.file_type value for a model whose weights are `type`.
uint32_t llama_file_type(GgmlType type);

// The constant value of the bias channel (hidden dimension 0) in every token embedding:
// 127/16 * 2^k (>= 7.9375, about sqrt(dim) / 2), exact in F32/F16/BF16/Q8_0/Q4_0 (Q4_1 and
// the other quantized types hold it to within their rounding).
float bias_channel_value(int dim);

// Target firing probability of each FFN neuron by popularity rank (rank 0 = hottest):
// p(r) = p_max * (1 + (r / hot_fraction)^2)^(-alpha / 2) at r = (rank + 0.5) / n, with
// p_max = 0.98 and alpha solved so that the mean is 1 - sparsity: the hottest hot_fraction
// of the neurons sit on a plateau near p_max (they fire for most tokens), past the knee
// the probability falls as a power law (r / hot_fraction)^-alpha. With the defaults (0.05,
// 0.9) alpha is about 1.6, about 6% of the neurons fire for at least half of the tokens,
// the hottest 10% take 60% of all activations and the hottest 20% take 77%.
// Where no alpha reaches the mean, the curve is lowered (very sparse) or raised by a floor
// (dense); `note`, when given, then receives a sentence saying so.
std::vector<double> neuron_fire_probabilities(int64_t n, double hot_fraction, double sparsity,
                                              std::string* note = nullptr);

struct SyntheticModelReport {
  uint64_t file_bytes = 0;
  size_t n_tensors = 0;
  uint64_t n_params = 0;
  double seconds = 0;
  std::string note;  // from neuron_fire_probabilities, if any
};
// Called after each written chunk: bytes done of total, and the tensor being written.
using SyntheticModelProgress = std::function<void(uint64_t done, uint64_t total, const std::string& tensor)>;
// Writes the model to `path` (atomically), reporting progress when `progress` is given.
SyntheticModelReport write_synthetic_model(const SyntheticModelConfig& cfg, const std::filesystem::path& path,
                                           const SyntheticModelProgress& progress = {});

}  // namespace actinfer
