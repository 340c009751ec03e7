// Byte-level BPE tokenizer: a hand-built vocabulary with hand-worked merges,
// the pre-tokenizer regexes, the UTF-8 stream decoder, and the real SmolLM2
// vocabulary checked against ids from an independent reference (Hugging Face
// `tokenizers`, see tests/reference/make_tokenizer_vectors.py).
#include <doctest/doctest.h>
#include "tests/skip_report.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gguf_file.h"
#include "model/tokenizer.h"

using namespace actinfer;

namespace {

std::string model_path() { return std::string(ACTINFER_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"; }

// The SmolLM2 tokenizer, loaded once; null when the model file is absent.
const Tokenizer* smollm() {
  static std::unique_ptr<Tokenizer> tok = [] {
    std::unique_ptr<Tokenizer> t;
    if (std::filesystem::exists(model_path()))
      t = std::make_unique<Tokenizer>(tokenizer_data_from_gguf(GgufFile::open(model_path())));
    return t;
  }();
  return tok.get();
}

#define REQUIRE_SMOLLM()                                                       \
  const Tokenizer* tok = smollm();                                             \
  if (!tok) {                                                                  \
    ACTINFER_REPORT_SKIPPED("skipped: model file not found at " << model_path());              \
    return;                                                                    \
  }

std::vector<int32_t> ids(std::initializer_list<int32_t> v) { return v; }

// A tiny GPT-2 style vocabulary. Byte-level text: ' ' is written 'Ġ' (U+0120).
//   0 a  1 b  2 c  3 Ġ  4 ab  5 abc  6 Ġa  7 Ġabc  8 <|end|> (control)  9 <x> (user-defined)
//   10 1  11 2  12 12
// merges by rank: 0 "a b", 1 "ab c", 2 "Ġ a", 3 "Ġ abc", 4 "1 2"
TokenizerData tiny_bpe(std::string pre = "gpt2") {
  TokenizerData d;
  d.model = "gpt2";
  d.pre = std::move(pre);
  d.tokens = {"a", "b", "c", "\xC4\xA0", "ab", "abc", "\xC4\xA0" "a", "\xC4\xA0" "abc", "<|end|>", "<x>", "1", "2", "12"};
  d.token_types = {1, 1, 1, 1, 1, 1, 1, 1, kTokenControl, kTokenUserDefined, 1, 1, 1};
  d.merges = {"a b", "ab c", "\xC4\xA0 a", "\xC4\xA0 abc", "1 2"};
  d.eos = 8;
  return d;
}

}  // namespace

TEST_CASE("byte-level mapping round-trips every byte") {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string enc = byte_level_encode(all);
  CHECK(byte_level_decode(enc) == all);
  CHECK(byte_level_encode(" ") == "\xC4\xA0");     // Ġ
  CHECK(byte_level_encode("\n") == "\xC4\x8A");    // Ċ
  CHECK(byte_level_encode("A!~") == "A!~");
  CHECK(byte_level_encode("\xC3\xA9") == "\xC3\x83\xC2\xA9");  // é -> Ã©
}

TEST_CASE("pre-tokenizer splits") {
  using V = std::vector<std::string_view>;
  PreTokenizer gpt2("gpt2");
  CHECK(gpt2.known());
  CHECK(gpt2.split("Hello world's  end 123\n") == V{"Hello", " world", "'s", " ", " end", " 123", "\n"});
  CHECK(gpt2.split("a  b") == V{"a", " ", " b"});
  CHECK(gpt2.split("x\tb") == V{"x", "\t", "b"});
  CHECK(gpt2.split("").empty());

  PreTokenizer smol("smollm");  // every digit on its own, then GPT-2
  CHECK(smol.split("abc123 def") == V{"abc", "1", "2", "3", " def"});
  CHECK(smol.split("a 1") == V{"a", " ", "1"});

  PreTokenizer llama3("llama3");  // digits in threes, case-insensitive contractions
  CHECK(llama3.ignore_merges());
  CHECK(llama3.split("1234567 DON'T") == V{"123", "456", "7", " DON", "'T"});
  CHECK(llama3.split("hi!\n\nok") == V{"hi", "!\n\n", "ok"});

  PreTokenizer qwen("qwen2");
  CHECK(qwen.split("x=123") == V{"x", "=", "1", "2", "3"});

  PreTokenizer unknown("no-such-pre");  // warns, GPT-2 regex
  CHECK_FALSE(unknown.known());
  CHECK(unknown.split("a b") == V{"a", " b"});

  // Invalid UTF-8 is tolerated and kept.
  auto pieces = gpt2.split("ab\xFF\xFE cd");
  std::string joined;
  for (auto p : pieces) joined += p;
  CHECK(joined == "ab\xFF\xFE cd");
}

TEST_CASE("tiny byte-level BPE: hand-worked merges") {
  Tokenizer tok(tiny_bpe());
  // "abc": a b c -> (a b, rank 0) ab c -> (ab c, rank 1) abc
  CHECK(tok.encode("abc", false, false) == ids({5}));
  // " abc": Ġ a b c. Candidates "Ġ a" (2) and "a b" (0): a b first -> Ġ ab c;
  // then "ab c" (1) -> Ġ abc; then "Ġ abc" (3) -> Ġabc.
  CHECK(tok.encode(" abc", false, false) == ids({7}));
  // " ab": Ġ a b -> Ġ ab ("Ġ ab" is no merge), not Ġa b.
  CHECK(tok.encode(" ab", false, false) == ids({3, 4}));
  // " a": Ġ a -> Ġa
  CHECK(tok.encode(" a", false, false) == ids({6}));
  // "cab": c a b -> c ab
  CHECK(tok.encode("cab", false, false) == ids({2, 4}));
  // Pre-tokenizer words never merge across: "ab ab" -> "ab" | " ab" -> ab | Ġ ab
  CHECK(tok.encode("ab ab", false, false) == ids({4, 3, 4}));
  // Bytes missing from the vocabulary are dropped before merging (as Hugging
  // Face tokenizers does without an unk token): a [d] b -> a b -> ab.
  CHECK(tok.encode("adb", false, false) == ids({4}));
  CHECK(tok.encode("d\xC3\xA9", false, false).empty());
  // Special tokens: control only with parse_special, user-defined always.
  CHECK(tok.encode("a<|end|>", false, true) == ids({0, 8}));
  CHECK(tok.encode("a<x>b", false, false) == ids({0, 9, 1}));
  // "<|end|>" as plain text: '<', '|', ... are not in the vocabulary -> only "end"'s letters
  // would remain, and none of e/n/d are tokens either.
  CHECK(tok.encode("<|end|>", false, false).empty());
  CHECK(tok.encode("12", false, false) == ids({12}));
  CHECK(tok.decode(ids({7, 8, 6})) == " abc<|end|> a");
  CHECK(tok.decode(ids({7, 8, 6}), false) == " abc a");
  CHECK(tok.token_piece(3) == " ");
  CHECK(tok.token_piece(99).empty());
  CHECK(tok.is_end_of_generation(8));
  CHECK_FALSE(tok.is_end_of_generation(5));
  CHECK(tok.token_to_id("abc") == 5);
  CHECK(tok.token_to_id("zzz") == -1);

  // smollm splits digits first: "12" -> "1" | "2", so the "1 2" merge cannot apply.
  Tokenizer smol(tiny_bpe("smollm"));
  CHECK(smol.encode("12", false, false) == ids({10, 11}));
}

TEST_CASE("tokenizer validation errors") {
  {
    auto d = tiny_bpe();
    d.merges.push_back("a zz");
    CHECK_THROWS_AS(Tokenizer(std::move(d)), TokenizerError);
  }
  {
    auto d = tiny_bpe();
    d.merges.push_back("abc");
    CHECK_THROWS_AS(Tokenizer(std::move(d)), TokenizerError);
  }
  {
    auto d = tiny_bpe();
    d.bos = 1000;
    CHECK_THROWS_AS(Tokenizer(std::move(d)), TokenizerError);
  }
  {
    auto d = tiny_bpe();
    d.model = "wordpiece";
    CHECK_THROWS_AS(Tokenizer(std::move(d)), TokenizerError);
  }
  {
    auto d = tiny_bpe();
    d.token_types.pop_back();
    CHECK_THROWS_AS(Tokenizer(std::move(d)), TokenizerError);
  }
  {
    auto d = tiny_bpe();
    d.add_bos = true;  // but no bos id
    CHECK_THROWS_AS(Tokenizer(std::move(d)), TokenizerError);
  }
  {
    auto d = tiny_bpe();
    d.merges.clear();
    CHECK_THROWS_AS(Tokenizer(std::move(d)), TokenizerError);
  }
}

TEST_CASE("Utf8StreamDecoder holds back split characters") {
  Utf8StreamDecoder dec;
  CHECK(dec.push("a\xC3") == "a");
  CHECK(dec.push("\xA9z") == "\xC3\xA9z");
  const std::string emoji = "\xF0\x9F\x98\x80";  // U+1F600
  std::string got;
  for (char c : emoji) got += dec.push(std::string(1, c));
  CHECK(got == emoji);
  CHECK(dec.push("\xFF" "b") == "\xEF\xBF\xBD" "b");           // invalid byte -> U+FFFD
  CHECK(dec.push("\xE2\x82" "c") == "\xEF\xBF\xBD" "c");       // truncated sequence -> one U+FFFD
  CHECK(dec.push("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(dec.push("\xE2\x82") == "");
  CHECK(dec.flush() == "\xEF\xBF\xBD");
  CHECK(dec.flush() == "");
}

TEST_CASE("SmolLM2 tokenizer: metadata and known ids") {
  REQUIRE_SMOLLM();
  CHECK(tok->n_vocab() == 49152);
  CHECK(tok->data().model == "gpt2");
  CHECK(tok->data().pre == "smollm");
  CHECK(tok->data().merges.size() == 48900);
  CHECK_FALSE(tok->add_bos());
  CHECK(tok->eos() == 2);
  CHECK(tok->is_end_of_generation(2));   // <|im_end|>
  CHECK(tok->is_end_of_generation(0));   // <|endoftext|>
  CHECK_FALSE(tok->is_end_of_generation(1));
  CHECK_FALSE(tok->is_end_of_generation(504));
  CHECK(tok->data().chat_template.find("<|im_start|>") != std::string::npos);
  CHECK(tok->encode("The capital of France is", true, false) == ids({504, 3575, 282, 4649, 314}));
  CHECK(tok->decode(ids({504, 3575, 282, 4649, 314})) == "The capital of France is");
  CHECK(tok->token_piece(3575) == " capital");
  CHECK(tok->encode("<|im_start|>", false, true) == ids({1}));
  CHECK(tok->encode("<|im_start|>", false, false).size() > 1);
}

TEST_CASE("SmolLM2 tokenizer matches the Hugging Face reference") {
  REQUIRE_SMOLLM();
  const std::string path = std::string(ACTINFER_SOURCE_DIR) + "/tests/data/tokenizer_smollm2.json";
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "missing " << path);
  const auto doc = nlohmann::json::parse(f);
  REQUIRE(doc.at("cases").size() >= 30);
  for (const auto& c : doc.at("cases")) {
    const std::string text = c.at("text");
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    const auto expected_special = c.contains("ids_special") ? c.at("ids_special").get<std::vector<int32_t>>() : expected;
    CAPTURE(text);
    CHECK(tok->encode(text, true, false) == expected);
    CHECK(tok->encode(text, true, true) == expected_special);
  }
}

TEST_CASE("SmolLM2 tokenizer round-trips tricky text") {
  REQUIRE_SMOLLM();
  const std::vector<std::string> texts = {
      "",
      "Hello, world!",
      "  two leading spaces and trailing   ",
      "tabs\tand\nnewlines\r\n\n\n  \t end",
      "digits 1234567 0.5 -42 1e10",
      "Ünïcödé àccénts café naïve Straße",
      "中文：你好，世界！ 日本語 カタカナ 한국어",
      "Emoji 😀👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 family",
      "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math ∑ ≤ ∞",
      "int main() {\n    return 0; // done\n}\n",
      "<|im_start|>user\nHi<|im_end|>\n",
      "a\u00a0b\u3000c",
      "e\u0301 combining",
  };
  for (const auto& t : texts) {
    CAPTURE(t);
    CHECK(tok->decode(tok->encode(t, true, false)) == t);
    CHECK(tok->decode(tok->encode(t, true, true)) == t);
    // Streaming the pieces through the UTF-8 decoder gives the same text.
    Utf8StreamDecoder dec;
    std::string streamed;
    for (int32_t id : tok->encode(t, false, false)) streamed += dec.push(tok->token_piece(id));
    streamed += dec.flush();
    CHECK(streamed == t);
  }
  // Control tokens are dropped when not rendering specials.
  CHECK(tok->decode(tok->encode("<|im_start|>user\nHi<|im_end|>", false, true), false) == "user\nHi");
}

TEST_CASE("SmolLM2 tokenizer: arbitrary bytes (invalid UTF-8)") {
  REQUIRE_SMOLLM();
  // Bytes whose GPT-2 character is in the vocabulary round-trip in any order,
  // valid UTF-8 or not; the 21 missing ones (0x04, 0xC0, 0xF5.., ...) are dropped.
  std::vector<unsigned char> usable;
  for (int b = 0; b < 256; ++b)
    if (tok->token_to_id(byte_level_encode(std::string(1, static_cast<char>(b)))) >= 0) usable.push_back(b);
  CHECK(usable.size() == 256 - 21);
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (int iter = 0; iter < 200; ++iter) {
    std::string s;
    const size_t len = next() % 64;
    for (size_t i = 0; i < len; ++i) s += static_cast<char>(usable[(next() >> 8) % usable.size()]);
    CAPTURE(iter);
    CHECK(tok->decode(tok->encode(s, false, true)) == s);
  }
  CHECK(tok->decode(tok->encode("a\x04" "b\xC0\xFF" "c", false, false)) == "abc");
}

TEST_CASE("SmolLM2 tokenizer encode speed") {
  REQUIRE_SMOLLM();
  std::string text;
  const char* para =
      "The quick brown fox jumps over the lazy dog. In 2024, researchers measured 1,234,567 samples; "
      "results varied by ±3.5%. Ünïcödé, 中文, and emoji 😀 appear too.\n"
      "def f(x):\n    return x * 2  # double\n\n";
  while (text.size() < 4096) text += para;
  size_t n_tokens = 0;
  const int reps = 50;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) n_tokens += tok->encode(text, false, false).size();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("encode: " << text.size() << " bytes -> " << n_tokens / reps << " tokens in " << 1e3 * s / reps
                     << " ms (" << static_cast<long>(n_tokens / s) << " tokens/s)");
  CHECK(s / reps < 0.1);  // a few KB must take milliseconds, not a tenth of a second
}
