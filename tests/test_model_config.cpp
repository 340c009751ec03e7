// Model config and weights: values from metadata, the activation's source, and
// clear errors for missing or inconsistent keys and tensors.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/model_config.h"
#include "model/model_weights.h"

using namespace actinfer;

namespace {

// A complete tiny llama file (2 layers, width 8, ffn 32, 2 heads / 1 kv head, vocab 4); `edit` adjusts it.
std::filesystem::path tiny_llama(const std::string& name, const std::function<void(GgufWriter&)>& edit = {},
                                 const std::vector<std::string>& skip_tensors = {}, int64_t q_rows = 8) {
  GgufWriter w;
  if (edit) edit(w);  // first, so the defaults below leave its keys alone
  auto u32 = [&](const std::string& k, uint32_t v) { if (!w.has_key(k)) w.add_u32(k, v); };
  if (!w.has_key("general.architecture")) w.add_string("general.architecture", "llama");
  if (!w.has_key("general.name")) w.add_string("general.name", "tiny test");
  u32("llama.block_count", 2);
  u32("llama.embedding_length", 8);
  u32("llama.feed_forward_length", 32);
  u32("llama.attention.head_count", 2);
  u32("llama.attention.head_count_kv", 1);
  u32("llama.context_length", 64);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  auto add = [&](const std::string& n, std::vector<int64_t> shape) {
    for (const auto& s : skip_tensors)
      if (s == n) return;
    int64_t count = 1;
    for (auto d : shape) count *= d;
    w.add_tensor_f32(n, shape, std::vector<float>(static_cast<size_t>(count), 0.5f));
  };
  add("token_embd.weight", {8, 4});
  add("output_norm.weight", {8});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {8});
    add(p + "ffn_norm.weight", {8});
    add(p + "attn_q.weight", {8, q_rows});
    add(p + "attn_k.weight", {8, 4});
    add(p + "attn_v.weight", {8, 4});
    add(p + "attn_output.weight", {8, 8});
    add(p + "ffn_gate.weight", {8, 32});
    add(p + "ffn_up.weight", {8, 32});
    add(p + "ffn_down.weight", {32, 8});
  }
  const auto path = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / name;
  std::filesystem::create_directories(path.parent_path());
  w.write(path);
  return path;
}

}  // namespace

TEST_CASE("model config: values from metadata, tied output, SiLU by default") {
  const auto w = ModelWeights::load(tiny_llama("cfg_ok.gguf"));
  const ModelConfig& c = w->config();
  CHECK(c.n_layers == 2);
  CHECK(c.d_model == 8);
  CHECK(c.head_dim == 4);
  CHECK(c.n_kv_heads == 1);
  CHECK(c.rope_dims == 4);
  CHECK(c.rope_base == 10000.0f);
  CHECK(c.n_vocab == 4);
  CHECK(c.tied_output);
  CHECK(c.activation == Activation::SiLU);
  CHECK(w->layers().size() == 2);
  CHECK(w->layers()[1].down.rows == 8);
  CHECK(w->layers()[1].down.cols == 32);
  // 2 layers x (64+32+32+64 + 3*256) floats + the 4x8 head, 4 bytes each.
  CHECK(w->bytes_per_decoded_token() == (2 * (64 + 32 + 32 + 64 + 3 * 256) + 32) * 4);
}

TEST_CASE("model weights: a prompt's FLOPs, counted by hand") {
  const auto w = ModelWeights::load(tiny_llama("cfg_flops.gguf"));
  // Per token, 2 layers x (q 64 + k 32 + v 32 + o 64 + gate, up, down 3 x 256) = 1920 multiply-adds; the
  // tied 4 x 8 head once. 3 tokens after 2 cached see 3, 4 and 5 positions: per layer 2 heads x 4 dims
  // x 12 positions x (q.k + p.v) = 192 multiply-adds.
  CHECK(w->prompt_flops(3, 2) == 2.0 * (1920 * 3 + 32 + 2 * 192));
  CHECK(w->prompt_flops(0, 5) == 0.0);
}

TEST_CASE("model config: attention FLOPs of a local layer stop at its window") {
  ModelConfig c;
  c.n_layers = 2;
  c.n_heads = 3;
  c.head_dim = 5;
  c.sliding_window = 2;
  c.global_layer_period = 2;  // layer 0 local, layer 1 global
  // 4 tokens from an empty cache: the local layer sees 1, 2, 2, 2 positions, the global 1, 2, 3, 4.
  CHECK(attention_flops(c, 4, 0) == 4.0 * 3 * 5 * (7 + 10));
  // After 10 cached tokens the local layer sees 2 each, the global 11 to 14.
  CHECK(attention_flops(c, 4, 10) == 4.0 * 3 * 5 * (8 + 50));
}

TEST_CASE("model config: the activation comes from our key, the model name, or the override") {
  auto relu_key = tiny_llama("cfg_relu_key.gguf", [](GgufWriter& w) { w.add_string("actinfer.ffn_activation", "relu"); });
  CHECK(ModelWeights::load(relu_key)->config().activation == Activation::ReLU);
  auto by_name = tiny_llama("cfg_relu_name.gguf", [](GgufWriter& w) { w.add_string("general.basename", "ReluLLaMA-7B"); });
  CHECK(ModelWeights::load(by_name)->config().activation == Activation::ReLU);
  CHECK(ModelWeights::load(by_name, Activation::GELU)->config().activation == Activation::GELU);
  auto bad = tiny_llama("cfg_bad_act.gguf", [](GgufWriter& w) { w.add_string("actinfer.ffn_activation", "tanh"); });
  CHECK_THROWS_WITH(ModelWeights::load(bad), doctest::Contains("is not silu, relu or gelu"));
}

TEST_CASE("model config: inconsistent or missing metadata and tensors are named") {
  CHECK_THROWS_WITH(ModelWeights::load(tiny_llama("cfg_arch.gguf", [](GgufWriter& w) { w.add_string("general.architecture", "opt"); })),
                    doctest::Contains("architecture 'opt' is not supported"));
  auto heads = tiny_llama("cfg_heads.gguf", [](GgufWriter& w) { w.add_u32("llama.attention.head_count_kv", 3); });
  CHECK_THROWS_WITH(ModelWeights::load(heads), doctest::Contains("head_count_kv"));
  auto missing = tiny_llama("cfg_missing.gguf", {}, {"blk.1.ffn_up.weight"});
  CHECK_THROWS_WITH(ModelWeights::load(missing), doctest::Contains("missing tensor 'blk.1.ffn_up.weight'"));
  auto shape = tiny_llama("cfg_shape.gguf", {}, {}, 6);
  CHECK_THROWS_WITH(ModelWeights::load(shape), doctest::Contains("'blk.0.attn_q.weight' has shape [8, 6], expected [8, 8]"));
  auto scaled = tiny_llama("cfg_rope.gguf", [](GgufWriter& w) { w.add_string("llama.rope.scaling.type", "yarn"); });
  CHECK_THROWS_WITH(ModelWeights::load(scaled), doctest::Contains("RoPE scaling 'yarn'"));
}

TEST_CASE("model config: heads of attention.key_length, value_length must match it") {
  // key_length 4 on width 8 with 2 heads: q is 2 x 4 = 8 rows, as the tiny file has.
  auto ok = ModelWeights::load(tiny_llama("cfg_key_length.gguf", [](GgufWriter& w) { w.add_u32("llama.attention.key_length", 4); }));
  CHECK(ok->config().head_dim == 4);
  CHECK(ok->config().q_dim() == 8);
  CHECK_FALSE(ok->config().is_local_layer(0));
  auto wide = tiny_llama("cfg_key_wide.gguf", [](GgufWriter& w) { w.add_u32("llama.attention.key_length", 8); });
  CHECK_THROWS_WITH(ModelWeights::load(wide), doctest::Contains("'blk.0.attn_q.weight' has shape [8, 8], expected [8, 16]"));
  auto value = tiny_llama("cfg_value_length.gguf", [](GgufWriter& w) {
    w.add_u32("llama.attention.key_length", 4);
    w.add_u32("llama.attention.value_length", 2);
  });
  CHECK_THROWS_WITH(ModelWeights::load(value), doctest::Contains("value_length 2 differs from key_length 4"));
}
