// Hostile model files (issue 17): every count, size, offset and number in a GGUF model is
// checked before it is used; a small malformed file is refused with a clear message and
// never allocates much more than its size.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <cmath>
#include <limits>
#include <string>

#include "engine/dense_engine.h"
#include "engine/generator.h"
#include "engine/kv_cache.h"
#include "engine/sampler.h"
#include "hostile_gguf.h"
#include "model/model_weights.h"
#include "model/tokenizer.h"

using namespace actinfer;
using namespace actinfer::testing;

namespace {

std::string load_error(const std::filesystem::path& p) {
  try {
    ModelWeights::load(p);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

KvEdit set_u32(const std::string& key, uint32_t v) {
  return [key, v](GgufWriter& w) { w.add_u32(key, v); };
}
KvEdit set_f32(const std::string& key, float v) {
  return [key, v](GgufWriter& w) { w.add_f32(key, v); };
}

}  // namespace

TEST_CASE("hostile model: the small model itself loads") {
  const auto p = small_model("hostile_base.gguf");
  const auto w = ModelWeights::load(p);
  CHECK(w->config().n_layers == 2);
  CHECK(w->config().fingerprint.size() == 16);
  // Rewriting without edits keeps a loadable model with the same fingerprint.
  rewrite_gguf(p, test_data_path("hostile_same.gguf"), {});
  CHECK(ModelWeights::load(test_data_path("hostile_same.gguf"))->config().fingerprint == w->config().fingerprint);
}

TEST_CASE("hostile model: block_count 2^24 in a small file is refused before allocating per layer") {
  const auto base = small_model("hostile_base_bc.gguf");
  const auto p = test_data_path("hostile_block_count_huge.gguf");
  rewrite_gguf(base, p, {{"llama.block_count", set_u32("llama.block_count", 1u << 24)}});
  const long before = peak_rss_kib();
  const std::string err = load_error(p);
  CHECK(err.find("block_count' = 16777216 but the file holds tensors for 2 layers") != std::string::npos);
  // Before the fix: 2^24 LayerWeights, 6.8 GB. The file is ~0.5 MB.
  CHECK(peak_rss_kib() - before < 64 * 1024);
}

TEST_CASE("hostile model: block_count smaller than the layers present is refused (no silently dropped layers)") {
  const auto base = small_model("hostile_base_bc1.gguf");
  const auto p = test_data_path("hostile_block_count_small.gguf");
  rewrite_gguf(base, p, {{"llama.block_count", set_u32("llama.block_count", 1)}});
  CHECK(load_error(p).find("block_count' = 1 but the file holds tensors for 2 layers") != std::string::npos);
}

TEST_CASE("hostile model: tensor data must lie at the running padded offset, as ggml requires") {
  const auto base = small_model("hostile_base_off.gguf");
  const auto good = read_bytes(base);
  const auto p = test_data_path("hostile_offsets.gguf");

  SUBCASE("aliased data: a tensor pointing at the first tensor's bytes") {
    auto b = good;
    patch<uint64_t>(b, tensor_fields(b, "blk.1.ffn_down.weight").offset, 0);
    write_bytes(p, b);
    CHECK(load_error(p).find("tensor 'blk.1.ffn_down.weight': data offset 0, expected") != std::string::npos);
  }
  SUBCASE("a flipped bit in an offset") {
    auto b = good;
    const size_t at = tensor_fields(b, "blk.0.attn_q.weight").offset;
    patch<uint64_t>(b, at, peek<uint64_t>(b, at) ^ (uint64_t{1} << 12));
    write_bytes(p, b);
    CHECK(load_error(p).find("tensor 'blk.0.attn_q.weight': data offset") != std::string::npos);
  }
  SUBCASE("a relabelled type whose size no longer tiles the data (F32 read as F16)") {
    auto b = good;
    patch<uint32_t>(b, tensor_fields(b, "token_embd.weight").type, static_cast<uint32_t>(GgmlType::F16));
    write_bytes(p, b);
    const std::string err = load_error(p);
    CHECK(err.find("expected") != std::string::npos);
    CHECK(err.find("overlapping, out-of-order or mislabelled") != std::string::npos);
  }
}

TEST_CASE("hostile model: a tensor whose byte count wraps modulo 2^64 is refused") {
  // F32 [2^32, 2^30]: 2^62 elements, 2^64 bytes, which wraps to 0.
  const auto base = small_model("hostile_base_wrap.gguf");
  auto b = read_bytes(base);
  const auto f = tensor_fields(b, "token_embd.weight");
  patch<uint64_t>(b, f.dims, uint64_t{1} << 32);
  patch<uint64_t>(b, f.dims + 8, uint64_t{1} << 30);
  const auto p = test_data_path("hostile_wrap.gguf");
  write_bytes(p, b);
  CHECK(load_error(p).find("byte size of 4611686018427387904 F32 elements overflows") != std::string::npos);
}

TEST_CASE("hostile model: non-finite hyper-parameters are refused at load") {
  const auto base = small_model("hostile_base_num.gguf");
  const auto p = test_data_path("hostile_numbers.gguf");
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (const char* key : {"llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base"}) {
    for (float v : {inf, nan, -1.0f, 0.0f}) {
      CAPTURE(key);
      CAPTURE(v);
      rewrite_gguf(base, p, {{key, set_f32(key, v)}});
      const std::string err = load_error(p);
      CHECK(err.find(std::string("metadata '") + key + "'") != std::string::npos);
      CHECK(err.find("must be a finite positive number") != std::string::npos);
    }
  }
  rewrite_gguf(base, p, {{"llama.rope.freq_scale", set_f32("llama.rope.freq_scale", nan)}});
  CHECK(load_error(p).find("'llama.rope.freq_scale' = nan is not a finite number") != std::string::npos);
}

TEST_CASE("hostile model: a vocabulary larger than the embedding is refused at load") {
  const auto base = small_model("hostile_base_vocab.gguf");
  const auto p = test_data_path("hostile_vocab.gguf");
  const GgufFile f = GgufFile::open(base);
  const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  std::vector<std::string> more(tokens->begin(), tokens->end());
  const auto types = f.get_int_array("tokenizer.ggml.token_type");
  std::vector<int32_t> more_types(types->begin(), types->end());
  for (int i = 0; i < 10; ++i) {
    more.push_back("extra" + std::to_string(i));
    more_types.push_back(1);
  }
  rewrite_gguf(base, p,
               {{"tokenizer.ggml.tokens", [&](GgufWriter& w) { w.add_string_array("tokenizer.ggml.tokens", more); }},
                {"tokenizer.ggml.token_type", [&](GgufWriter& w) { w.add_i32_array("tokenizer.ggml.token_type", more_types); }}});
  CHECK(load_error(p).find("the tokenizer has 310 tokens but token_embd has only 300 rows") != std::string::npos);
}

TEST_CASE("hostile model: special token ids and merges outside the vocabulary are refused") {
  const auto base = small_model("hostile_base_tok.gguf");
  const auto p = test_data_path("hostile_tokens.gguf");
  auto tokenizer_error = [&] {
    try {
      Tokenizer t(tokenizer_data_from_gguf(GgufFile::open(p)));
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  rewrite_gguf(base, p, {{"tokenizer.ggml.eos_token_id", set_u32("tokenizer.ggml.eos_token_id", 300)}});
  CHECK(tokenizer_error().find("out of range (n_vocab 300)") != std::string::npos);
  const std::vector<std::string> merges = {"zzq qzz"};
  rewrite_gguf(base, p, {{"tokenizer.ggml.merges", [&](GgufWriter& w) { w.add_string_array("tokenizer.ggml.merges", merges); }}});
  CHECK(tokenizer_error().find("refers to a token not in the vocabulary") != std::string::npos);
}

TEST_CASE("hostile model: head counts that do not divide the width are refused") {
  const auto base = small_model("hostile_base_heads.gguf");
  const auto p = test_data_path("hostile_heads.gguf");
  rewrite_gguf(base, p, {{"llama.attention.head_count", set_u32("llama.attention.head_count", 3)}});
  // The file records key_length (16), so three heads give queries 48 wide: attn_q's 64 x 64 no longer fits.
  const std::string e = load_error(p);
  INFO(e);
  CHECK((e.find("head_count 3") != std::string::npos || e.find("attn_q.weight") != std::string::npos));
  rewrite_gguf(base, p, {{"llama.attention.head_count_kv", set_u32("llama.attention.head_count_kv", 3)}});
  CHECK(load_error(p).find("head_count 4 is not a multiple of head_count_kv 3") != std::string::npos);
}

TEST_CASE("hostile model: a KV cache larger than the machine's memory is refused with the numbers") {
  CHECK_THROWS_WITH_AS(check_kv_cache_fits(32, 1 << 20, 1024, uint64_t{16} << 30),
                       doctest::Contains("the KV cache for context 1048576 needs 256.00 GiB (2 x 32 layers x 1048576 positions x 1024 floats), "
                                         "more than this machine's 16.00 GiB of memory: lower --ctx"),
                       std::runtime_error);
  CHECK_NOTHROW(check_kv_cache_fits(2, 256, 32, uint64_t{16} << 30));
  CHECK_THROWS_AS(KvCache(1 << 20, 1 << 30, 1 << 20), std::runtime_error);  // 2^63 bytes: refused, not allocated
  // From a file and flags: context_length 2^30 and --ctx 2^30 on the small model.
  const auto base = small_model("hostile_base_ctx.gguf");
  const auto p = test_data_path("hostile_ctx.gguf");
  rewrite_gguf(base, p, {{"llama.context_length", set_u32("llama.context_length", 1u << 30)}});
  EngineOptions o;
  o.n_threads = 1;
  o.n_ctx = 1 << 30;
  if (physical_memory_bytes() < (uint64_t{2} * 2 << 30) * 32 * 4) {  // 2 layers x 2^30 x 32 x 2 x 4 bytes = 512 GiB
    CHECK_THROWS_WITH_AS(DenseEngine(ModelWeights::load(p), o), doctest::Contains("lower --ctx"), std::runtime_error);
  }
}

TEST_CASE("hostile model: NaN weights stop generation with an error, not token 0 forever") {
  Sampler greedy(SamplerParams{});
  std::vector<float> logits = {0.5f, std::nanf(""), 1.0f};
  CHECK_THROWS_AS(greedy.sample(logits, {}), NonFiniteLogits);
  logits[1] = -std::numeric_limits<float>::infinity();  // a masked token is fine
  CHECK(greedy.sample(logits, {}) == 2);

  const auto base = small_model("hostile_base_nan.gguf");
  auto b = read_bytes(base);
  const GgufFile f = GgufFile::open(base);
  const TensorInfo* norm = f.find_tensor("output_norm.weight");
  REQUIRE(norm != nullptr);
  const size_t at = f.data_offset() + norm->offset;
  for (int i = 0; i < 64; ++i) patch<float>(b, at + 4 * static_cast<size_t>(i), std::nanf(""));
  const auto p = test_data_path("hostile_nan_weights.gguf");
  write_bytes(p, b);
  EngineOptions o;
  o.n_threads = 1;
  o.n_ctx = 64;
  DenseEngine engine(ModelWeights::load(p), o);
  Sampler s(SamplerParams{});
  const std::vector<int32_t> prompt = {1, 2, 3};
  CHECK_THROWS_WITH_AS(generate(engine, s, prompt, 8, {}), doctest::Contains("non-finite logit"), NonFiniteLogits);
}
