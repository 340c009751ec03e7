#!/usr/bin/env python3
"""Independent reference for actinfer's byte-level BPE tokenizer.

Builds a Hugging Face `tokenizers` BPE model from the vocabulary and merges
stored in a GGUF file (read with the `gguf` package), with the pre-tokenizer
llama.cpp uses for tokenizer.ggml.pre = "smollm" (every \\p{N} code point
isolated, then the GPT-2 split regex, then the GPT-2 byte-to-unicode mapping),
encodes a list of tricky strings and writes them with their expected ids to
tests/data/tokenizer_smollm2.json, which tests/test_tokenizer.cpp checks the
C++ tokenizer against.

Nothing here shares code with the C++ implementation: the regexes run in
Oniguruma (inside `tokenizers`), the merges in the Rust BPE model.

Usage:  pip install tokenizers gguf
        python3 tests/reference/make_tokenizer_vectors.py \
            [models/SmolLM2-135M-Instruct.Q4_1.gguf] [tests/data/tokenizer_smollm2.json]
"""
import json
import os
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

GPT2_REGEX = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"
              r"|\s+(?!\S)|\s+")

CONTROL = 3
USER_DEFINED = 4

# Strings chosen to exercise the pre-tokenizer and the merges: whitespace
# runs, digits, contractions, scripts without spaces, combining marks,
# 4-byte characters, emoji ZWJ sequences, bytes missing from the vocabulary
# (U+0004, U+0006), control tokens and near-misses of them.
CASES = [
    "The capital of France is",
    "Hello world",
    "Hello, world! How are you today?",
    " leading space",
    "trailing space ",
    "multiple   spaces   between  words",
    "\t tabs\tand\nnewlines\n\n\nend\n",
    "\r\n windows line\r\nendings\r\n",
    "        indented with eight spaces",
    "   ",
    "",
    "1234567 and 3.14159 and 1,000,000 and 2024-01-31",
    "x\u00b2\u00b3 \u00bd \u2153 \u216b \u0663\u0664\u0665 \uff11\uff12",
    "I'm you're they've we'll she'd it's DON'T can't o'clock",
    "\u00dcn\u00efc\u00f6d\u00e9 \u00e0cc\u00e9nts: caf\u00e9, na\u00efve, r\u00e9sum\u00e9, Stra\u00dfe",
    "e\u0301 (e + combining acute) vs \u00e9",
    "\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5\uff1a\u4f60\u597d\uff0c\u4e16\u754c\uff01",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03ba\u03b1\u03b9 \u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u044f\u0437\u044b\u043a",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",
    "Emoji: \U0001F600\U0001F44D\U0001F3FD \U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 \U0001F3F3\ufe0f\u200d\U0001F308",
    "\U0001D518\U0001D52B\U0001D526\U0001D520\U0001D52C\U0001D521\U0001D522",
    "a\u00a0b\u3000c\u2003d",
    "def foo(x):\n    return x**2  # square\n",
    "int main() { printf(\"%d\\n\", 42); return 0; }",
    "https://example.com/path?query=1&b=2#frag",
    "!!!???...,,,;;; --- ___ ***",
    "mixedCASE camelCase snake_case kebab-case SCREAMING_CASE",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "$100.00 \u20ac50 \u00a330 \u00a51000",
    "\u2211_{i=1}^{n} x_i \u2264 \u221e",
    "ctrl\u0004\u0006 bell\u0007 esc\u001b[0m",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|><|endoftext|>",
    "The<|im_end|> and <|im_end and <|im_start|",
    "<reponame>actinfer<filename>main.cpp\n<gh_stars>10",
    # U+180E is no white space (PCRE2 counts it in \s); letters and digits
    # assigned in Unicode 15/16 (CJK Ext. I, Garay digits, ...).
    "\n\t\u180e\u2029 x \u180e y\u180e",
    "\U0002ebf0\U0002ed75're \U00031350's \u1c89\ua7cb digits \U0001e4f0\U00016130\U0001ccf0",
]


def load_vocab(path):
    reader = GGUFReader(path)

    def strings(key):
        field = reader.fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    def ints(key):
        field = reader.fields[key]
        return [int(field.parts[i][0]) for i in field.data]

    def scalar_str(key):
        field = reader.fields[key]
        return bytes(field.parts[field.data[0]]).decode("utf-8")

    assert scalar_str("tokenizer.ggml.model") == "gpt2"
    pre = scalar_str("tokenizer.ggml.pre")
    assert pre == "smollm", pre
    return strings("tokenizer.ggml.tokens"), ints("tokenizer.ggml.token_type"), \
        strings("tokenizer.ggml.merges"), pre


def build(tokens, merges, specials):
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
        pre_tokenizers.Split(Regex(GPT2_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    if specials:
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def main():
    gguf_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        ROOT, "tests", "data", "tokenizer_smollm2.json")
    tokens, types, merges, pre = load_vocab(gguf_path)
    specials = [t for t, ty in zip(tokens, types) if ty in (CONTROL, USER_DEFINED)]

    plain = build(tokens, merges, [])          # parse_special = false
    special = build(tokens, merges, specials)  # parse_special = true

    # Cross-check the Split(\p{N}) stage against HF's own Digits pre-tokenizer
    # (what SmolLM2's tokenizer.json uses) on every case.
    digits = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                                  merges=[tuple(m.split(" ", 1)) for m in merges]))
    digits.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])

    cases = []
    for text in CASES:
        ids = plain.encode(text, add_special_tokens=False).ids
        ids_special = special.encode(text, add_special_tokens=False).ids
        assert digits.encode(text, add_special_tokens=False).ids == ids, text
        case = {"text": text, "ids": ids}
        if ids_special != ids:
            case["ids_special"] = ids_special
        cases.append(case)

    known = plain.encode("The capital of France is").ids
    assert known == [504, 3575, 282, 4649, 314], known

    doc = {
        "generator": "tests/reference/make_tokenizer_vectors.py (HF tokenizers "
                     + __import__("tokenizers").__version__ + ")",
        "model_file": os.path.basename(gguf_path),
        "pre": pre,
        "n_vocab": len(tokens),
        "cases": cases,
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {out_path}")


if __name__ == "__main__":
    main()
