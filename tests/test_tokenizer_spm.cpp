// SentencePiece BPE ("llama") tokenizer on a tiny hand-built vocabulary with
// scores and <0xNN> byte tokens; every expected encoding is worked out by hand
// below (the highest-scoring adjacent pair that is a vocabulary entry merges
// first, ties go to the leftmost pair).
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "model/tokenizer.h"

using namespace actinfer;

namespace {

#define SP "\xE2\x96\x81"  // '▁'

// ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then:
enum : int32_t {
  kSp = 259,     // ▁      -1.0
  kH,            // h      -2
  kE,            // e      -2
  kL,            // l      -2
  kO,            // o      -2
  kW,            // w      -2
  kR,            // r      -2
  kD,            // d      -2
  kSpH,          // ▁h     -5
  kEl,           // el     -4
  kLl,           // ll     -1.5
  kLo,           // lo     -1
  kLlo,          // llo    -0.5
  kEllo,         // ello   -0.8
  kHello,        // hello  -0.2
  kSpW,          // ▁w     -0.3
  kOr,           // or     -0.4
  kSpWor,        // ▁wor   -0.6
  kLd,           // ld     -0.7
  kSpWorld,      // ▁world -0.1
};
int32_t byte_id(unsigned char b) { return 3 + b; }

TokenizerData tiny_spm(bool with_bytes = true) {
  TokenizerData d;
  d.model = "llama";
  d.tokens = {"<unk>", "<s>", "</s>"};
  d.scores = {0, 0, 0};
  d.token_types = {kTokenUnknown, kTokenControl, kTokenControl};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    d.tokens.push_back(with_bytes ? buf : std::string("<unused") + std::to_string(b) + ">");
    d.scores.push_back(0);
    d.token_types.push_back(with_bytes ? kTokenByte : kTokenUnused);
  }
  const std::pair<const char*, float> normal[] = {
      {SP, -1.0f},  {"h", -2},     {"e", -2},      {"l", -2},       {"o", -2},
      {"w", -2},    {"r", -2},     {"d", -2},      {SP "h", -5},    {"el", -4},
      {"ll", -1.5}, {"lo", -1},    {"llo", -0.5},  {"ello", -0.8},  {"hello", -0.2},
      {SP "w", -0.3}, {"or", -0.4}, {SP "wor", -0.6}, {"ld", -0.7}, {SP "world", -0.1},
  };
  for (auto [t, s] : normal) {
    d.tokens.push_back(t);
    d.scores.push_back(s);
    d.token_types.push_back(kTokenNormal);
  }
  d.bos = 1, d.eos = 2, d.unk = 0;
  d.add_bos = true, d.add_space_prefix = true;
  return d;
}

std::vector<int32_t> spm_ids(std::initializer_list<int32_t> v) { return v; }

}  // namespace

TEST_CASE("SPM: vocabulary layout") {
  Tokenizer tok(tiny_spm());
  CHECK(tok.n_vocab() == kSpWorld + 1);
  CHECK(tok.token_to_id(SP "world") == kSpWorld);
  CHECK(tok.token_to_id("<0x41>") == byte_id('A'));
  CHECK(tok.token_piece(kSpWorld) == " world");
  CHECK(tok.token_piece(byte_id(0xC3)) == "\xC3");
  CHECK(tok.token_piece(1) == "<s>");
  CHECK(tok.pre_tokenizer() == nullptr);
  CHECK(tok.is_end_of_generation(2));
}

TEST_CASE("SPM: hand-worked encodings") {
  Tokenizer tok(tiny_spm());

  // "hello" -> "▁hello" = ▁ h e l l o. Pairs in the vocabulary: ▁h -5, el -4,
  // ll -1.5, lo -1.  lo (-1) -> ▁ h e l lo; new pair l+lo = llo (-0.5) ->
  // ▁ h e llo; e+llo = ello (-0.8) -> ▁ h ello; h+ello = hello (-0.2) ->
  // ▁ hello. "▁hello" is no token; the queued ▁h, el, ll are stale.
  CHECK(tok.encode("hello", false, false) == spm_ids({kSp, kHello}));
  CHECK(tok.encode("hello", true, false) == spm_ids({1, kSp, kHello}));

  // "hello world" -> ▁ h e l l o ▁ w o r l d. Best first: ▁w (-0.3); or (-0.4)
  // -> ▁w or; ▁w+or = ▁wor (-0.6) -> ▁wor; ld (-0.7) -> ▁wor ld; ▁wor+ld =
  // ▁world (-0.1) -> ▁world; then the "hello" chain as above: lo, llo, ello, hello.
  CHECK(tok.encode("hello world", false, false) == spm_ids({kSp, kHello, kSpWorld}));

  // "llo" -> ▁ l l o: ll (-1.5) at 1 and lo (-1) at 2; the higher score wins
  // over the leftmost: ▁ l lo; l+lo = llo (-0.5) -> ▁ llo.
  CHECK(tok.encode("llo", false, false) == spm_ids({kSp, kLlo}));

  // "lll" -> ▁ l l l: two ll (-1.5) pairs tie; the leftmost merges: ▁ ll l
  // ("lll" is no token).
  CHECK(tok.encode("lll", false, false) == spm_ids({kSp, kLl, kL}));

  // "hi" -> ▁ h i: ▁h (-5) -> ▁h i; 'i' is no token -> byte fallback <0x69>.
  CHECK(tok.encode("hi", false, false) == spm_ids({kSpH, byte_id('i')}));

  // "é" (C3 A9) -> ▁ é: no pair; é falls back to its two bytes.
  CHECK(tok.encode("\xC3\xA9", false, false) == spm_ids({kSp, byte_id(0xC3), byte_id(0xA9)}));

  // Inner spaces become ▁ and join the next word: "w d" -> ▁w ▁ d.
  //   ▁ w ▁ d: pairs ▁w (-0.3) at 0; "w▁", "▁d" are no tokens -> ▁w ▁ d.
  CHECK(tok.encode("w d", false, false) == spm_ids({kSpW, kSp, kD}));

  CHECK(tok.encode("", true, false) == spm_ids({1}));
  CHECK(tok.encode("", false, false).empty());
}

TEST_CASE("SPM: special tokens and the space prefix") {
  Tokenizer tok(tiny_spm());
  // With parse_special, </s> is a token and the text after it gets a space
  // prefix again (as llama.cpp does after every special token).
  CHECK(tok.encode("hello</s>hello", false, true) == spm_ids({kSp, kHello, 2, kSp, kHello}));
  // Without, its characters fall back to bytes: ▁ hello < / s >.
  CHECK(tok.encode("hello</s>", false, false) ==
        spm_ids({kSp, kHello, byte_id('<'), byte_id('/'), byte_id('s'), byte_id('>')}));

  auto d = tiny_spm();
  d.add_space_prefix = false;
  Tokenizer nopfx(std::move(d));
  // h e l l o -> (lo) h e l lo -> (llo) h e llo -> (ello) h ello -> (hello) hello
  CHECK(nopfx.encode("hello", false, false) == spm_ids({kHello}));
  CHECK(nopfx.decode(spm_ids({kSp, kHello})) == " hello");
}

TEST_CASE("SPM: decode") {
  Tokenizer tok(tiny_spm());
  // The space the encoder adds at the start is removed again.
  CHECK(tok.decode(spm_ids({1, kSp, kHello, kSpWorld})) == "<s>hello world");
  CHECK(tok.decode(spm_ids({1, kSp, kHello, kSpWorld}), false) == "hello world");
  CHECK(tok.decode(spm_ids({kSpH, byte_id('i')})) == "hi");
  CHECK(tok.decode(spm_ids({kSp, byte_id(0xC3), byte_id(0xA9)})) == "\xC3\xA9");
  for (std::string t : {"hello world", "hi there", "caf\xC3\xA9 \xE4\xB8\xAD", "  two spaces", "tab\there\n"}) {
    CAPTURE(t);
    CHECK(tok.decode(tok.encode(t, true, false), false) == t);
  }
}

TEST_CASE("SPM: unknown token without byte fallback") {
  Tokenizer tok(tiny_spm(/*with_bytes=*/false));
  // ▁ h i -> ▁h i; 'i' is no token and there are no byte tokens -> <unk>.
  CHECK(tok.encode("hi", false, false) == spm_ids({kSpH, 0}));
}

TEST_CASE("SPM: validation") {
  auto d = tiny_spm();
  d.scores.clear();
  CHECK_THROWS_AS(Tokenizer(std::move(d)), TokenizerError);
  auto e = tiny_spm();
  e.eos = -7;  // negative means none
  CHECK_NOTHROW(Tokenizer(std::move(e)));
  auto f = tiny_spm();
  f.unk = 100000;
  CHECK_THROWS_AS(Tokenizer(std::move(f)), TokenizerError);
}
