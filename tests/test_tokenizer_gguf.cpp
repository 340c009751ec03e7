// tokenizer_data_from_gguf: keys read from small GGUF files written with
// GgufWriter, model-type defaults, and errors that name the offending key.
// Also checks the synthetic-model vocabulary loads and round-trips.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/synthetic_model.h"
#include "model/tokenizer.h"

using namespace actinfer;

namespace {

std::filesystem::path temp_gguf(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("actinfer_tok_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / (name + ".gguf");
}

const std::vector<std::string> kVocabTokens = {"a", "b", "ab", "\xC4\xA0", "\xC4\xA0" "ab", "<|im_start|>", "<|im_end|>"};
const std::vector<int32_t> kVocabTypes = {1, 1, 1, 1, 1, 3, 3};
const std::vector<std::string> kMerges = {"a b", "\xC4\xA0 ab"};

void add_gpt2(GgufWriter& w) {
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "smollm");
  w.add_string_array("tokenizer.ggml.tokens", kVocabTokens);
  w.add_i32_array("tokenizer.ggml.token_type", kVocabTypes);
  w.add_string_array("tokenizer.ggml.merges", kMerges);
}

// Writes a GGUF built by `fill` and returns the tokenizer data read back.
TokenizerData load(const std::string& name, const std::function<void(GgufWriter&)>& fill) {
  GgufWriter w;
  fill(w);
  const auto path = temp_gguf(name);
  w.write(path);
  struct Cleanup {
    std::filesystem::path p;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
      std::filesystem::remove(p.parent_path(), ec);  // only once empty
    }
  } cleanup{path};
  return tokenizer_data_from_gguf(GgufFile::open(path));
}

std::string load_error(const std::string& name, const std::function<void(GgufWriter&)>& fill) {
  try {
    load(name, fill);
  } catch (const TokenizerError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("tokenizer_data_from_gguf: gpt2 keys") {
  auto d = load("gpt2", [](GgufWriter& w) {
    add_gpt2(w);
    w.add_u32("tokenizer.ggml.eos_token_id", 6);
    w.add_u32("tokenizer.ggml.bos_token_id", 5);
    w.add_bool("tokenizer.ggml.add_bos_token", false);
    w.add_string("tokenizer.chat_template", "{{ '<|im_start|>' }}");
  });
  CHECK(d.model == "gpt2");
  CHECK(d.pre == "smollm");
  CHECK(d.tokens == kVocabTokens);
  CHECK(d.token_types == kVocabTypes);
  CHECK(d.merges == kMerges);
  CHECK(d.scores.empty());
  CHECK(d.bos == 5);
  CHECK(d.eos == 6);
  CHECK(d.unk == -1);
  CHECK_FALSE(d.add_bos);
  CHECK_FALSE(d.add_space_prefix);
  CHECK(d.chat_template == "{{ '<|im_start|>' }}");

  Tokenizer tok(std::move(d));
  CHECK(tok.encode(" ab<|im_end|>", true, true) == std::vector<int32_t>{4, 6});
  CHECK(tok.eot() == 6);  // detected from the text <|im_end|>
  CHECK(tok.is_end_of_generation(6));
}

TEST_CASE("tokenizer_data_from_gguf: llama defaults") {
  auto d = load("llama", [](GgufWriter& w) {
    w.add_string("tokenizer.ggml.model", "llama");
    const std::vector<std::string> toks = {"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a"};
    w.add_string_array("tokenizer.ggml.tokens", toks);
    const std::vector<float> scores = {0, 0, 0, -1};
    w.add_f32_array("tokenizer.ggml.scores", scores);
  });
  CHECK(d.model == "llama");
  CHECK(d.bos == 1);
  CHECK(d.eos == 2);
  CHECK(d.unk == 0);
  CHECK(d.add_bos);
  CHECK(d.add_space_prefix);
  Tokenizer tok(std::move(d));
  CHECK(tok.encode("a", true, false) == std::vector<int32_t>{1, 3});
}

TEST_CASE("tokenizer_data_from_gguf: errors name the key") {
  CHECK(load_error("no_model", [](GgufWriter& w) { w.add_string("general.name", "x"); })
            .find("tokenizer.ggml.model") != std::string::npos);
  CHECK(load_error("bad_model", [](GgufWriter& w) { w.add_string("tokenizer.ggml.model", "bert"); })
            .find("bert") != std::string::npos);
  CHECK(load_error("no_tokens", [](GgufWriter& w) { w.add_string("tokenizer.ggml.model", "gpt2"); })
            .find("tokenizer.ggml.tokens") != std::string::npos);
  CHECK(load_error("no_merges",
                   [](GgufWriter& w) {
                     w.add_string("tokenizer.ggml.model", "gpt2");
                     w.add_string_array("tokenizer.ggml.tokens", kVocabTokens);
                   })
            .find("tokenizer.ggml.merges") != std::string::npos);
  CHECK(load_error("tokens_wrong_type",
                   [](GgufWriter& w) {
                     w.add_string("tokenizer.ggml.model", "gpt2");
                     const std::vector<int32_t> v = {1, 2};
                     w.add_i32_array("tokenizer.ggml.tokens", v);
                   })
            .find("tokenizer.ggml.tokens") != std::string::npos);
  CHECK(load_error("bos_range",
                   [](GgufWriter& w) {
                     add_gpt2(w);
                     w.add_u32("tokenizer.ggml.bos_token_id", 99);
                   })
            .find("tokenizer.ggml.bos_token_id") != std::string::npos);
  CHECK(load_error("types_size",
                   [](GgufWriter& w) {
                     w.add_string("tokenizer.ggml.model", "gpt2");
                     w.add_string_array("tokenizer.ggml.tokens", kVocabTokens);
                     const std::vector<int32_t> t = {1};
                     w.add_i32_array("tokenizer.ggml.token_type", t);
                   })
            .find("tokenizer.ggml.token_type") != std::string::npos);
  CHECK(load_error("llama_no_scores",
                   [](GgufWriter& w) {
                     w.add_string("tokenizer.ggml.model", "llama");
                     w.add_string_array("tokenizer.ggml.tokens", kVocabTokens);
                   })
            .find("tokenizer.ggml.scores") != std::string::npos);
}

TEST_CASE("synthetic-model vocabulary loads and round-trips") {
  const SyntheticVocab v = make_synthetic_vocab(1024);
  TokenizerData d;
  d.model = "gpt2";
  d.pre = "default";
  d.tokens = v.tokens;
  d.token_types = v.token_types;
  d.merges = v.merges;
  d.bos = v.bos_id;
  d.eos = v.eos_id;
  Tokenizer tok(std::move(d));
  const std::string text = "The quick brown fox jumps over the lazy dog.\n\tcaf\xC3\xA9 123 <|im_end|>";
  const auto ids = tok.encode(text, true, true);
  CHECK(ids.size() < text.size());  // merges apply
  CHECK(ids.back() == v.im_end_id);
  CHECK(tok.decode(ids) == text);
  CHECK(tok.is_end_of_generation(v.im_end_id));
  CHECK(tok.is_end_of_generation(v.eos_id));
}
