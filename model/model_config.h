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

  // Reads and validates the metadata. `activation_override` wins over the file.
  // Throws std::runtime_error naming the missing or inconsistent key.
  static ModelConfig from_gguf(const GgufFile& file, std::optional<Activation> activation_override = {});
};

// Metadata key where actinfer records the FFN activation (llama files lack one).
inline constexpr std::string_view kActivationKey = "actinfer.ffn_activation";

}  // namespace actinfer
