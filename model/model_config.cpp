#include "model/model_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

#include "model/gguf_file.h"
#include "model/model_fingerprint.h"

namespace actinfer {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

[[noreturn]] void bad(const GgufFile& f, const std::string& why) {
  throw std::runtime_error(f.path().string() + ": " + why);
}

int required_int(const GgufFile& f, const std::string& key, int64_t min_value = 1) {
  const auto v = f.get_int(key);
  if (!v) bad(f, "missing metadata '" + key + "'");
  if (*v < min_value || *v > (1 << 30)) bad(f, "metadata '" + key + "' = " + std::to_string(*v) + " is out of range");
  return static_cast<int>(*v);
}

// A float hyper-parameter that must be finite and positive as a float (1e300 would become inf).
float finite_positive(const GgufFile& f, const std::string& key, double fallback) {
  const double v = f.get_float(key).value_or(fallback);
  const auto as_float = static_cast<float>(v);
  if (!std::isfinite(v) || !std::isfinite(as_float) || !(as_float > 0.0f))
    bad(f, "metadata '" + key + "' = " + std::to_string(v) + " must be a finite positive number");
  return as_float;
}

}  // namespace

std::string_view activation_name(Activation a) {
  switch (a) {
    case Activation::SiLU: return "silu";
    case Activation::ReLU: return "relu";
    case Activation::GELU: return "gelu";
  }
  return "?";
}

std::optional<Activation> parse_activation(std::string_view name) {
  const std::string n = lower(name);
  if (n == "silu" || n == "swiglu" || n == "swish") return Activation::SiLU;
  if (n == "relu" || n == "reglu") return Activation::ReLU;
  if (n == "gelu" || n == "geglu") return Activation::GELU;
  return std::nullopt;
}

ModelConfig ModelConfig::from_gguf(const GgufFile& f, std::optional<Activation> activation_override) {
  ModelConfig c;
  const auto arch = f.get_string("general.architecture");
  if (!arch) bad(f, "missing metadata 'general.architecture'");
  c.arch = std::string(*arch);
  c.name = std::string(f.get_string("general.name").value_or(""));
  if (c.arch != "llama" && c.arch != "gemma3")
    bad(f, "architecture '" + c.arch + "' is not supported yet (supported: llama, gemma3)");
  const bool gemma3 = c.arch == "gemma3";

  const std::string a = c.arch + ".";
  c.n_layers = required_int(f, a + "block_count");
  c.d_model = required_int(f, a + "embedding_length");
  c.d_ff = required_int(f, a + "feed_forward_length");
  c.n_heads = required_int(f, a + "attention.head_count");
  c.n_kv_heads = f.has(a + "attention.head_count_kv") ? required_int(f, a + "attention.head_count_kv") : c.n_heads;
  c.n_ctx_train = f.has(a + "context_length") ? required_int(f, a + "context_length") : 2048;
  if (c.n_heads % c.n_kv_heads != 0)
    bad(f, "head_count " + std::to_string(c.n_heads) + " is not a multiple of head_count_kv " + std::to_string(c.n_kv_heads));
  if (f.has(a + "attention.key_length")) {
    // Heads may be wider than embedding_length / head_count (gemma3 270M: 4 heads of 256 on 640).
    c.head_dim = required_int(f, a + "attention.key_length");
    if (c.head_dim > (1 << 16)) bad(f, "attention.key_length " + std::to_string(c.head_dim) + " is out of range");
    if (int64_t{c.n_heads} * c.head_dim > (1 << 24)) bad(f, "head_count x key_length is out of range");
  } else {
    if (c.d_model % c.n_heads != 0)
      bad(f, "embedding_length " + std::to_string(c.d_model) + " is not a multiple of head_count " + std::to_string(c.n_heads));
    c.head_dim = c.d_model / c.n_heads;
  }
  if (auto vl = f.get_int(a + "attention.value_length"); vl && *vl != c.head_dim)
    bad(f, "attention.value_length " + std::to_string(*vl) + " differs from key_length " + std::to_string(c.head_dim) +
               " (not supported)");
  if (auto scaling = f.get_string(a + "rope.scaling.type"); scaling && *scaling != "none")
    bad(f, "RoPE scaling '" + std::string(*scaling) + "' is not supported yet");
  if (f.find_tensor("rope_freqs.weight")) bad(f, "per-dimension RoPE frequencies (rope_freqs.weight) are not supported yet");
  if (auto experts = f.get_int(a + "expert_count"); experts && *experts > 0) bad(f, "mixture-of-experts models are not supported");
  c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (gemma3) {
    // As llama.cpp runs gemma3: embeddings scaled by sqrt(d), NEOX RoPE, queries scaled by
    // 1/sqrt(key_length), five local (sliding-window, RoPE base 10000) layers to each global one.
    // Gemma's (1 + w) norm weights need nothing here: the GGUF converter stored them as 1 + w.
    c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
    c.rope_neox = true;
    if (auto w = f.get_int(a + "attention.sliding_window"); w && *w > 0) {
      if (*w > (1 << 30)) bad(f, "metadata '" + a + "attention.sliding_window' is out of range");
      c.sliding_window = static_cast<int>(*w);
      c.global_layer_period = 6;
    }
    if (auto cap = f.get_float(a + "final_logit_softcapping"); cap && *cap > 0) c.final_softcap = static_cast<float>(*cap);
    if (auto cap = f.get_float(a + "attn_logit_softcapping"); cap && *cap > 0)
      bad(f, "attention logit soft-capping is not supported yet");
  }
  c.norm_eps = finite_positive(f, a + "attention.layer_norm_rms_epsilon", 1e-5);
  c.rope_base = finite_positive(f, a + "rope.freq_base", 10000.0);
  // Other epsilon and RoPE keys this engine does not use yet: a non-finite one still marks a broken file.
  for (const char* key : {"attention.layer_norm_epsilon", "rope.scaling.factor", "rope.freq_scale"})
    if (auto v = f.get_float(a + key); v && !std::isfinite(*v))
      bad(f, "metadata '" + a + key + "' = " + std::to_string(*v) + " is not a finite number");
  c.rope_dims = f.has(a + "rope.dimension_count") ? required_int(f, a + "rope.dimension_count") : c.head_dim;
  if (c.rope_dims > c.head_dim || c.rope_dims % 2 != 0)
    bad(f, "rope.dimension_count " + std::to_string(c.rope_dims) + " must be even and at most head_dim " + std::to_string(c.head_dim));

  if (const auto* embd = f.find_tensor("token_embd.weight"); embd && embd->shape.size() == 2)
    c.n_vocab = static_cast<int>(embd->shape[1]);
  else
    bad(f, "missing 2-D tensor 'token_embd.weight'");
  if (auto v = f.get_int(a + "vocab_size"); v && *v != c.n_vocab)
    bad(f, "vocab_size " + std::to_string(*v) + " disagrees with token_embd rows " + std::to_string(c.n_vocab));
  // Token ids index the embedding's rows: a vocabulary with more tokens than rows would read
  // past it (fewer is fine: some files pad the embedding).
  if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->array &&
                                                                  tokens->array->size() > static_cast<size_t>(c.n_vocab))
    bad(f, "the tokenizer has " + std::to_string(tokens->array->size()) + " tokens but token_embd has only " +
               std::to_string(c.n_vocab) + " rows");
  c.tied_output = f.find_tensor("output.weight") == nullptr;
  c.fingerprint = model_fingerprint(f);

  // The activation: explicit override, then our metadata key, then the model's
  // name (ReLU-LLaMA and ProSparse files say arch llama and record nothing).
  if (activation_override) {
    c.activation = *activation_override;
    c.activation_source = "command line";
  } else if (auto s = f.get_string(kActivationKey)) {
    auto act = parse_activation(*s);
    if (!act) bad(f, "metadata '" + std::string(kActivationKey) + "' = '" + std::string(*s) + "' is not silu, relu or gelu");
    c.activation = *act;
    c.activation_source = std::string(kActivationKey);
  } else {
    const std::string n = lower(c.name + " " + std::string(f.get_string("general.basename").value_or("")));
    if (n.find("relu") != std::string::npos || n.find("prosparse") != std::string::npos) {
      c.activation = Activation::ReLU;
      c.activation_source = "model name";
    } else if (f.powerinfer()) {
      // PowerInfer's files ("PWRI") hold ReLU-family models (ReLU-LLaMA, ProSparse) and say arch llama.
      c.activation = Activation::ReLU;
      c.activation_source = "PowerInfer file";
    } else if (gemma3) {
      c.activation = Activation::GELU;  // GeGLU, tanh-approximated GELU on the gate
      c.activation_source = "gemma3 default";
    } else {
      c.activation = Activation::SiLU;
      c.activation_source = "llama default";
    }
  }
  return c;
}

double attention_flops(const ModelConfig& c, int n_prompt, int depth) {
  double total = 0;
  for (int layer = 0; layer < c.n_layers; ++layer) {
    const int window = c.is_local_layer(layer) ? c.sliding_window : 0;
    double seen = 0;  // positions seen, summed over the prompt's queries
    for (int i = 0; i < n_prompt; ++i) {
      const int visible = depth + i + 1;
      seen += window > 0 ? std::min(visible, window) : visible;
    }
    total += 4.0 * c.head_dim * c.n_heads * seen;  // q.k and p.v: 2 multiply-adds per dim and position
  }
  return total;
}

}  // namespace actinfer
