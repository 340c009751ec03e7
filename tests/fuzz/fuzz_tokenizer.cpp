// Fuzz target: encode and decode arbitrary bytes with each tokenizer kind, built from the
// small vocabularies in tests/fuzz/vocab/ (byte-level BPE with the smollm pre-tokenizer, and
// SentencePiece BPE with byte fallback). The first input byte picks the tokenizer and flags;
// the rest is the text, and (read as little-endian int32) the ids to decode.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace actinfer;

TokenizerData vocabulary(const char* file) {
  const std::string path = std::string(ACTINFER_SOURCE_DIR) + "/tests/fuzz/vocab/" + file;
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "fuzz_tokenizer: cannot read %s\n", path.c_str());
    std::abort();
  }
  const auto j = nlohmann::json::parse(in);
  TokenizerData d;
  d.model = j.at("model");
  d.pre = j.value("pre", "");
  d.tokens = j.at("tokens").get<std::vector<std::string>>();
  d.scores = j.value("scores", std::vector<float>{});
  d.token_types = j.value("token_types", std::vector<int32_t>{});
  d.merges = j.value("merges", std::vector<std::string>{});
  d.bos = j.value("bos", -1), d.eos = j.value("eos", -1), d.unk = j.value("unk", -1);
  d.add_bos = j.value("add_bos", false), d.add_space_prefix = j.value("add_space_prefix", false);
  return d;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

// Bytes the vocabulary has a token for: SmolLM2's byte-level vocabulary lacks 21 of the 256
// (control characters 4, 6, 19, 20, 22, 29 and bytes that never occur in UTF-8), which encode drops.
bool every_byte_has_a_token(const Tokenizer& tok, std::string_view text) {
  static const auto has_token = [&] {
    std::array<bool, 256> has{};
    for (int b = 0; b < 256; ++b)
      has[static_cast<size_t>(b)] = tok.token_to_id(byte_level_encode(std::string(1, static_cast<char>(b)))) >= 0;
    return has;
  }();
  for (char c : text)
    if (!has_token[static_cast<uint8_t>(c)]) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizer bpe(vocabulary("bpe_smollm2_small.json"));
  static const Tokenizer spm(vocabulary("spm_small.json"));
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const Tokenizer& tok = (flags & 1) ? spm : bpe;
  const bool add_special = flags & 2, parse_special = flags & 4;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  fuzz::expect_clean_rejection([&] {
    const auto ids = tok.encode(text, add_special, parse_special);
    for (int32_t id : ids) {
      if (id < 0 || id >= tok.n_vocab()) {
        std::fprintf(stderr, "fuzz finding: encode produced id %d outside the vocabulary of %d\n", id, tok.n_vocab());
        std::abort();
      }
    }
    const auto back = tok.decode(ids, false);
    // Byte-level BPE and SentencePiece with byte fallback lose nothing of valid UTF-8 text
    // (SentencePiece adds, then drops, the leading space).
    // SentencePiece writes spaces as U+2581, so a U+2581 in the text comes back as a space.
    const bool lossless = (flags & 1) ? text.find("\xE2\x96\x81") == std::string_view::npos : every_byte_has_a_token(tok, text);
    if (!add_special && !parse_special && valid_utf8(text) && lossless && back != text) {
      std::fprintf(stderr, "fuzz finding: decode(encode(text)) != text (%zu bytes in, %zu out)\n", text.size(), back.size());
      std::abort();
    }
  });

  fuzz::expect_clean_rejection([&] {
    std::vector<int32_t> ids((size - 1) / 4);
    if (!ids.empty()) std::memcpy(ids.data(), data + 1, ids.size() * 4);
    Utf8StreamDecoder stream;
    std::string out;
    for (int32_t id : ids) {
      fuzz::expect_clean_rejection([&] { out += stream.push(tok.token_piece(id)); });
      (void)tok.is_end_of_generation(id);
    }
    out += stream.flush();
    out += tok.decode(ids, flags & 8);
  });

  fuzz::expect_clean_rejection([&] {
    (void)byte_level_decode(text);
    if (byte_level_decode(byte_level_encode(text)) != text) {
      std::fprintf(stderr, "fuzz finding: byte_level_decode(byte_level_encode(bytes)) != bytes\n");
      std::abort();
    }
  });
  return 0;
}
