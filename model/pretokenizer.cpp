// Regex pre-tokenizers of byte-level BPE models, on PCRE2 (UTF + UCP, JIT when
// available). The regex lists follow llama.cpp's table for tokenizer.ggml.pre
// (src/llama-vocab.cpp), written in their original Hugging Face form where
// PCRE2 supports it (e.g. the case-insensitive group of the Llama-3 regex).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"
#include "model/utf8.h"

namespace actinfer {

// Named, not file-local: PreTokenizer::Impl holds one (GCC warns about a class with a member of a
// file-local type where this file is included, as in a unity build).
struct PreSpec {
  std::vector<std::string> regexes;
  bool ignore_merges = false;
  bool known = true;
};

namespace {

// GPT-2 (tiktoken r50k) split.
constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama-3 (tiktoken cl100k style): case-insensitive contractions, numbers in
// groups of up to three digits, newlines kept with the punctuation before them.
constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama-3 but every digit on its own.
constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kBloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";


PreSpec spec_for(std::string_view name) {
  auto is = [&](std::initializer_list<std::string_view> names) {
    for (auto n : names)
      if (name == n) return true;
    return false;
  };
  if (name.empty() || is({"default", "gpt2", "gpt-2", "mpt", "olmo", "jais"})) return {{kGpt2}};
  if (is({"llama3", "llama-v3", "llama-bpe", "falcon3"})) return {{kLlama3}, true};
  if (is({"dbrx", "smaug-bpe", "chatglm-bpe"})) return {{kLlama3}};
  if (is({"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez"})) return {{kQwen2}};
  if (is({"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"}))
    return {{R"(\p{N})", kGpt2}};
  if (is({"falcon"}))
    return {{R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}};
  if (is({"poro-chat", "poro", "bloom", "gpt3-finnish"})) return {{kBloom}};
  if (is({"viking"})) return {{kBloom, R"(\p{N})"}};
  if (is({"deepseek-coder"}))
    return {{R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N})"}};
  if (is({"deepseek-llm"}))
    return {{R"([\r\n])",
             "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
             "\\s?[!-/:-~！-／：-～‘-‟　-。]+", R"(\s+$)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N}+)"}};
  PreSpec s{{kGpt2}};
  s.known = false;
  return s;
}

// Character classes pinned to what Hugging Face `tokenizers` (Oniguruma,
// Unicode 16) matches, so splits agree for every code point whatever Unicode
// version the PCRE2 library was built with (10.42 has Unicode 14):
//  - \s is exactly the Unicode White_Space property (PCRE2 also counts U+180E,
//    MONGOLIAN VOWEL SEPARATOR, which is a format character since Unicode 6.3);
//  - \p{L} and \p{N} gain the letters/numbers assigned in Unicode 15 and 16.
constexpr std::string_view kWhiteSpace =
    R"(\t\n\x0B\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
constexpr std::string_view kLettersSince15 =
    R"(\x{1C89}-\x{1C8A}\x{A7CB}-\x{A7CD}\x{A7DA}-\x{A7DC}\x{105C0}-\x{105F3}\x{10D4A}-\x{10D65})"
    R"(\x{10D6F}-\x{10D85}\x{10EC2}-\x{10EC4}\x{1123F}-\x{11240}\x{11380}-\x{11389}\x{1138B}\x{1138E})"
    R"(\x{11390}-\x{113B5}\x{113B7}\x{113D1}\x{113D3}\x{11BC0}-\x{11BE0}\x{11F02}\x{11F04}-\x{11F10})"
    R"(\x{11F12}-\x{11F33}\x{1342F}\x{13441}-\x{13446}\x{13460}-\x{143FA}\x{16100}-\x{1611D})"
    R"(\x{16D40}-\x{16D6C}\x{18CFF}\x{1B132}\x{1B155}\x{1DF25}-\x{1DF2A}\x{1E030}-\x{1E06D})"
    R"(\x{1E4D0}-\x{1E4EB}\x{1E5D0}-\x{1E5ED}\x{1E5F0}\x{2B739}\x{2EBF0}-\x{2EE5D}\x{31350}-\x{323AF})";
constexpr std::string_view kNumbersSince15 =
    R"(\x{10D40}-\x{10D49}\x{116D0}-\x{116E3}\x{11BF0}-\x{11BF9}\x{11F50}-\x{11F59}\x{16130}-\x{16139})"
    R"(\x{16D70}-\x{16D79}\x{1CCF0}-\x{1CCF9}\x{1D2C0}-\x{1D2D3}\x{1E4F0}-\x{1E4F9}\x{1E5F1}-\x{1E5FA})";

// Rewrites \s, \S, \p{L} and \p{N} into the pinned classes above.
std::string pin_classes(std::string_view re) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < re.size(); ++i) {
    char c = re[i];
    if (c == '\\' && i + 1 < re.size()) {
      std::string_view rest = re.substr(i);
      auto emit = [&](std::string_view body, std::string_view extra, bool negate) {
        if (in_class) {
          out.append(body).append(extra);
        } else {
          out.append(negate ? "[^" : "[").append(body).append(extra).append("]");
        }
      };
      if (rest.starts_with("\\s")) {
        emit(kWhiteSpace, "", false);
        i += 1;
      } else if (rest.starts_with("\\S") && !in_class) {
        emit(kWhiteSpace, "", true);
        i += 1;
      } else if (rest.starts_with("\\p{L}")) {
        emit("\\p{L}", kLettersSince15, false);
        i += 4;
      } else if (rest.starts_with("\\p{N}")) {
        emit("\\p{N}", kNumbersSince15, false);
        i += 4;
      } else {
        out += c;
        out += re[++i];
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < re.size() && re[i + 1] == '^') out += re[++i];
      if (i + 1 < re.size() && re[i + 1] == ']') out += re[++i];  // leading ']' is literal
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}


}  // namespace

struct PreTokenizer::Impl {
  std::string name;
  PreSpec spec;
  std::vector<pcre2_code*> codes;

  ~Impl() {
    for (auto* c : codes) pcre2_code_free(c);
  }
};

PreTokenizer::PreTokenizer(std::string_view pre_name) : impl_(std::make_unique<Impl>()) {
  impl_->name = std::string(pre_name);
  impl_->spec = spec_for(pre_name);
  if (!impl_->spec.known)
    std::fprintf(stderr,
                 "actinfer: warning: unknown tokenizer pre-tokenizer '%s', using the GPT-2 regex\n",
                 impl_->name.c_str());
  for (const auto& re : impl_->spec.regexes) {
    const std::string pinned = pin_classes(re);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code* code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pinned.data()), pinned.size(),
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw TokenizerError("pre-tokenizer '" + impl_->name + "': regex " + re + " does not compile at " +
                           std::to_string(err_off) + ": " + reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is absent
    impl_->codes.push_back(code);
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

const std::string& PreTokenizer::name() const { return impl_->name; }
bool PreTokenizer::known() const { return impl_->spec.known; }
bool PreTokenizer::ignore_merges() const { return impl_->spec.ignore_merges; }
const std::vector<std::string>& PreTokenizer::regexes() const { return impl_->spec.regexes; }

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> out;
  split(text, out);
  return out;
}

namespace {

struct MatchData {
  pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
  ~MatchData() { pcre2_match_data_free(md); }
};

// Splits `piece` with one regex: matches and the gaps between them.
void split_one(pcre2_code* code, std::string_view piece, std::vector<std::string_view>& out,
               pcre2_match_data* md) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
  const size_t len = piece.size();
  size_t offset = 0, last = 0;
  while (offset < len) {
    int rc = pcre2_match(code, subject, len, offset, 0, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // very long runs: retry in the interpreter
      rc = pcre2_match(code, subject, len, offset, PCRE2_NO_JIT, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw TokenizerError(std::string("pre-tokenizer regex match failed: ") +
                           reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t ms = ov[0], me = ov[1];
    if (me <= ms) {  // empty match: step over one character
      offset = ms + utf8_len(static_cast<unsigned char>(piece[ms]));
      if (offset > len) offset = len;
      continue;
    }
    if (ms > last) out.push_back(piece.substr(last, ms - last));
    out.push_back(piece.substr(ms, me - ms));
    last = offset = me;
  }
  if (last < len) out.push_back(piece.substr(last));
}

}  // namespace

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  thread_local MatchData match_data;
  thread_local std::vector<std::string_view> cur, next;
  const auto& codes = impl_->codes;
  if (codes.size() == 1) {
    split_one(codes[0], text, out, match_data.md);
    return;
  }
  cur.clear();
  cur.push_back(text);
  for (size_t r = 0; r < codes.size(); ++r) {
    auto& dst = (r + 1 == codes.size()) ? out : next;
    if (&dst == &next) next.clear();
    for (auto piece : cur) split_one(codes[r], piece, dst, match_data.md);
    if (&dst == &next) cur.swap(next);
  }
}

}  // namespace actinfer
