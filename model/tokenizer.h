// Tokenizers for GGUF models: byte-level BPE ("gpt2": GPT-2, Llama-3, Qwen2,
// SmolLM, StarCoder, ...) and SentencePiece BPE with scores ("llama").
//
//   TokenizerData data = tokenizer_data_from_gguf(gguf);
//   Tokenizer tok(std::move(data));
//   std::vector<int32_t> ids = tok.encode("Hello", /*add_special=*/true, /*parse_special=*/false);
//   std::string text = tok.decode(ids);
//
// A Tokenizer is immutable after construction; every const member is safe to
// call from several threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace actinfer {

class GgufFile;

// Bad or missing tokenizer metadata, or an inconsistent vocabulary.
class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// GGUF token types (tokenizer.ggml.token_type).
enum TokenType : int32_t {
  kTokenUndefined = 0,
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

// Everything the tokenizer needs, filled from GGUF metadata (or by hand in tests).
struct TokenizerData {
  std::string model;  // "gpt2" (byte-level BPE) or "llama" (SentencePiece BPE with scores)
  std::string pre;    // pre-tokenizer name (tokenizer.ggml.pre); "" or "default" = GPT-2 regex
  std::vector<std::string> tokens;
  std::vector<float> scores;          // empty, or one per token (required for "llama")
  std::vector<int32_t> token_types;   // empty (all normal), or one TokenType per token
  std::vector<std::string> merges;    // "left right", by rank (required for "gpt2")
  int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  std::string chat_template;
};

// Reads the tokenizer.* keys. Throws TokenizerError naming the missing or
// malformed key. Model-type defaults follow llama.cpp: "llama" adds BOS and a
// space prefix unless tokenizer.ggml.add_bos_token / add_space_prefix say
// otherwise, and defaults bos/eos/unk to 1/2/0; "gpt2" adds neither. A gemma* file
// without tokenizer.chat_template gets the template family name "gemma".
TokenizerData tokenizer_data_from_gguf(const GgufFile& gguf);

// Pre-tokenizer of byte-level BPE models: the sequence of regex splits that
// llama.cpp applies for a tokenizer.ggml.pre name. Each regex splits every
// current piece further; matches and the text between them both become pieces.
// Known names: default, gpt2, mpt, olmo, jais, llama3, llama-bpe, dbrx,
// smaug-bpe, chatglm-bpe, qwen2, stablelm2, deepseek-r1-qwen, smollm,
// starcoder, refact, command-r, codeshell, exaone, minerva-7b, falcon, poro,
// bloom, gpt3-finnish, viking, deepseek-llm, deepseek-coder. Any other name
// falls back to the GPT-2 regex with a warning on stderr. \s, \p{L} and \p{N}
// are pinned to Hugging Face tokenizers' classes (Unicode White_Space; letters
// and numbers of Unicode 16), whatever Unicode version PCRE2 was built with.
class PreTokenizer {
 public:
  explicit PreTokenizer(std::string_view pre_name);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Splits UTF-8 text (invalid sequences are tolerated and never match a
  // letter/number class); the pieces view into `text` and cover it in order.
  std::vector<std::string_view> split(std::string_view text) const;
  // Appends the pieces of `text` to `out` (allocation-free after warm-up).
  void split(std::string_view text, std::vector<std::string_view>& out) const;

  const std::string& name() const;
  bool known() const;          // false when the name fell back to GPT-2
  bool ignore_merges() const;  // a piece that is a whole token is emitted as is (llama3)
  const std::vector<std::string>& regexes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Tokenizer {
 public:
  // Validates (special ids in range, array sizes, merges referring to known
  // tokens, scores for "llama") and builds the lookup tables. Throws
  // TokenizerError. When data.eot is -1 it is detected from the token text
  // (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, ...).
  explicit Tokenizer(TokenizerData data);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // add_special: prepend BOS (and append EOS) when the model asks for it.
  // parse_special: recognise control tokens (e.g. <|im_start|>) written in
  // the text; user-defined tokens are always recognised. Matching is
  // leftmost-longest, as in Hugging Face tokenizers.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes a token stands for: byte-level decoded for "gpt2"; '▁' -> ' '
  // and <0xNN> -> the byte for "llama"; the literal text for control and
  // user-defined tokens. Empty for an out-of-range id.
  std::string token_piece(int32_t id) const;
  // The concatenated pieces. With render_special false, control/unknown
  // tokens (BOS, EOS, <|im_end|>, ...) produce nothing. For "llama" models
  // with add_space_prefix, the space the encoder added at the start is removed.
  std::string decode(std::span<const int32_t> ids, bool render_special = true) const;

  int32_t n_vocab() const;
  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;
  bool add_bos() const;
  bool is_end_of_generation(int32_t id) const;  // eos, eot, <|im_end|>, <|endoftext|>, <|eot_id|>, ...
  int32_t token_to_id(std::string_view token_text) const;  // exact vocabulary entry, or -1
  const TokenizerData& data() const;
  const PreTokenizer* pre_tokenizer() const;  // null for "llama"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Streaming decode helper: token pieces can split a UTF-8 character. push()
// returns the longest valid UTF-8 prefix of everything pushed so far and holds
// back an incomplete trailing sequence; invalid bytes become U+FFFD. flush()
// returns what is held back (as U+FFFD when incomplete) and resets.
class Utf8StreamDecoder {
 public:
  std::string push(std::string_view bytes);
  std::string flush();

 private:
  std::string pending_;
};

// The GPT-2 byte <-> unicode mapping used by byte-level BPE vocabularies.
std::string byte_level_encode(std::string_view bytes);   // raw bytes -> vocabulary text
std::string byte_level_decode(std::string_view text);    // vocabulary text -> raw bytes

}  // namespace actinfer
