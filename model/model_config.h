// Hyper-parameters of a decoder-only transformer, read from GGUF metadata.
// The fields name the variations between families (norm kind, positions, FFN
// shape and activation) so OPT-style models (LayerNorm, learned positions,
// plain ReLU FFN with biases) fit without a rewrite.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace actinfer {

class GgufFile;

enum class Activation { SiLU, ReLU, GELU };
enum class NormKind { RMSNorm, LayerNorm };
enum class PositionKind { RoPE, Learned };

std::string_view activation_name(Activation a);
// "silu"/"swiglu", "relu", "gelu" (case-insensitive); nullopt otherwise.
std::optional<Activation> parse_activation(std::string_view name);

struct ModelConfig {
  std::string arch;  // general.architecture
  std::string name;  // general.name (informational)
  int n_layers = 0;
  int d_model = 0;
  int d_ff = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int n_vocab = 0;
  int n_ctx_train = 0;
  float norm_eps = 1e-5f;
  float rope_base = 10000.0f;
  int rope_dims = 0;  // leading dims of each head that RoPE rotates
  NormKind norm = NormKind::RMSNorm;
  PositionKind positions = PositionKind::RoPE;
  bool gated_ffn = true;  // down(act(gate x) * up x); false: down(act(up x))
  Activation activation = Activation::SiLU;
  std::string activation_source;  // where the activation came from (metadata key, name, default)
  bool tied_output = false;       // output head is the token embedding
  std::string fingerprint;        // of the file (model/model_fingerprint.h); empty when not from a file

  // Attention and residual variations (gemma3; llama keeps the defaults).
  float embed_scale = 1.0f;    // token embeddings are multiplied by this (gemma3: sqrt(d_model))
  float attn_scale = 0.0f;     // query scale (1/sqrt(head_dim) unless the family says otherwise)
  bool rope_neox = false;      // RoPE rotates (i, i + rope_dims/2) instead of adjacent pairs
  int sliding_window = 0;      // local layers see this many positions (the current one included); 0: none
  int global_layer_period = 0; // with a window: every period-th layer (index period-1, 2*period-1, ...) is global
  float rope_base_local = 10000.0f;  // RoPE base of the local layers
  float final_softcap = 0.0f;  // logits = cap * tanh(logits / cap) when > 0

  int q_dim() const { return n_heads * head_dim; }  // width of the queries and of attn_output's input
  bool is_local_layer(int layer) const {
    return sliding_window > 0 && global_layer_period > 0 && layer % global_layer_period != global_layer_period - 1;
  }
  float layer_rope_base(int layer) const { return is_local_layer(layer) ? rope_base_local : rope_base; }

  // Reads and validates the metadata. `activation_override` wins over the file.
  // Throws std::runtime_error naming the missing or inconsistent key.
  static ModelConfig from_gguf(const GgufFile& file, std::optional<Activation> activation_override = {});
};

// Multiply-adds (as 2 FLOPs each) of causal attention for `n_prompt` tokens after `depth`
// cached ones: every query head scores and mixes the positions it sees (a local layer sees
// its window). Softmax and norms are not counted: the FMA work is what bounds a prompt.
double attention_flops(const ModelConfig& c, int n_prompt, int depth);

// Metadata key where actinfer records the FFN activation (llama files lack one).
inline constexpr std::string_view kActivationKey = "actinfer.ffn_activation";

}  // namespace actinfer
