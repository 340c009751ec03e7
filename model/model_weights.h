// Typed views of a model's tensors inside the mapped GGUF file: nothing is
// copied except small F32 vectors (norms, biases), converted once at load.
#pragma once
#include <array>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/ggml_type.h"
#include "kernels/weight_matrix.h"
#include "model/gguf_file.h"
#include "model/model_config.h"

namespace actinfer {

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  // gemma3 (empty otherwise): RMSNorm of each head's query and key (head_dim), and of the
  // attention and FFN outputs before they join the residual (d_model).
  std::vector<float> attn_q_norm, attn_k_norm, post_attn_norm, post_ffn_norm;
  std::vector<float> bq, bk, bv, bo;  // empty when the model has no biases
  WeightMatrix wq, wk, wv, wo;
  WeightMatrix gate, up, down;  // gate unused (rows = 0) for a plain FFN

  // The seven matrices a token multiplies in this layer (gate with rows = 0 in a plain FFN).
  std::array<const WeightMatrix*, 7> matrices() const { return {&wq, &wk, &wv, &wo, &gate, &up, &down}; }
};

class ModelWeights {
 public:
  // Opens, validates shapes and types against the config, and maps the file (or reads it
  // into huge pages: FileMemory).
  static std::shared_ptr<const ModelWeights> load(const std::filesystem::path& path,
                                                  std::optional<Activation> activation_override = {},
                                                  FileMemory memory = FileMemory::mapped);

  const GgufFile& file() const { return file_; }
  const ModelConfig& config() const { return config_; }
  const WeightMatrix& token_embedding() const { return token_embd_; }
  const WeightMatrix& output() const { return output_; }
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }

  // Weight bytes one decoded token reads: every layer matrix and the output head.
  size_t bytes_per_decoded_token() const;
  // FLOPs of a prompt of `n_prompt` tokens after `depth` cached ones: every layer matrix per
  // token, attention (attention_flops), and the output head for the last token only.
  double prompt_flops(int n_prompt, int depth) const;

 private:
  ModelWeights(GgufFile file, ModelConfig config) : file_(std::move(file)), config_(std::move(config)) {}
  // Matrices rebuilt at load (PowerInfer's ffn_down_t transposed back); WeightMatrix views point here.
  std::vector<std::unique_ptr<std::vector<std::byte>>> owned_;
  GgufFile file_;
  ModelConfig config_;
  WeightMatrix token_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<LayerWeights> layers_;
};

}  // namespace actinfer
