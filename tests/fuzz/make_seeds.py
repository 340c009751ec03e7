#!/usr/bin/env python3
"""Writes the fuzz targets' small vocabularies (tests/fuzz/vocab/) and text seeds
(tokenizer, chat template) from the default model, with the PyPI gguf reader:
  .venv/bin/python tests/fuzz/make_seeds.py [models/SmolLM2-135M-Instruct.Q4_1.gguf]
The GGUF and side-file seeds come from actinfer itself: tests/fuzz/make_seeds.sh."""
import json
import os
import sys

import gguf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
KEEP = 1500  # the first ids: specials, the 256 byte characters, the commonest merges


def strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def scalar(reader, key):
    f = reader.fields[key]
    v = f.parts[f.data[0]]
    return bytes(v).decode("utf-8") if f.types[0] == gguf.GGUFValueType.STRING else v.tolist()[0]


r = gguf.GGUFReader(MODEL)
tokens = strings(r, "tokenizer.ggml.tokens")[:KEEP]
kept = set(tokens)
merges = [m for m in strings(r, "tokenizer.ggml.merges")
          if all(p in kept for p in m.split(" ")) and m.replace(" ", "") in kept]
types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in r.fields["tokenizer.ggml.token_type"].data][:KEEP]
bpe = {"model": "gpt2", "pre": scalar(r, "tokenizer.ggml.pre"), "tokens": tokens, "token_types": types,
       "merges": merges, "bos": scalar(r, "tokenizer.ggml.bos_token_id"),
       "eos": scalar(r, "tokenizer.ggml.eos_token_id"), "unk": scalar(r, "tokenizer.ggml.unknown_token_id")}

# SentencePiece BPE: <unk> <s> </s>, the 256 byte-fallback tokens, then the BPE subset's
# word pieces with "Ġ" (space) as "▁", scored by rank (earlier = likelier).
spm_tokens, spm_scores, spm_types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [2, 3, 3]
for b in range(256):
    spm_tokens.append("<0x%02X>" % b), spm_scores.append(0.0), spm_types.append(6)
seen = set(spm_tokens)
for rank, t in enumerate(tokens[17:]):
    piece = t.replace("\u0120", "\u2581")
    if piece in seen or not all(c.isalnum() or c in "\u2581.,'-" for c in piece):
        continue
    seen.add(piece)
    spm_tokens.append(piece), spm_scores.append(-float(rank)), spm_types.append(1)
spm = {"model": "llama", "tokens": spm_tokens, "scores": spm_scores, "token_types": spm_types,
       "bos": 1, "eos": 2, "unk": 0, "add_bos": True, "add_space_prefix": True}

vocab = os.path.join(ROOT, "tests", "fuzz", "vocab")
os.makedirs(vocab, exist_ok=True)
for name, data in (("bpe_smollm2_small.json", bpe), ("spm_small.json", spm)):
    with open(os.path.join(vocab, name), "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
print(f"bpe: {len(tokens)} tokens, {len(merges)} merges; spm: {len(spm_tokens)} tokens")

# Tokenizer seeds: a flags byte (bit 0 SentencePiece, 1 add special, 2 parse special, 3 render special), then text.
seeds = os.path.join(ROOT, "tests", "fuzz", "seeds")
texts = [b"The capital of France is", "Grüße, 東京! \U0001F600 e\u0301".encode(), b"<|im_start|>user\nhi<|im_end|>\n",
         b"  multiple   spaces\tand\ttabs\r\n\n123456789 3.14 don't we'll", b"\xff\xfe invalid \xc3 utf-8 \xed\xa0\x80"]
os.makedirs(os.path.join(seeds, "tokenizer"), exist_ok=True)
for i, t in enumerate(texts):
    for flags in (0, 1, 6, 7):
        with open(os.path.join(seeds, "tokenizer", f"text{i}_flags{flags}"), "wb") as f:
            f.write(bytes([flags]) + t)

# Chat template seeds: a template, then NUL-separated messages (first byte: role 0 system, 1 user, 2 assistant).
templates = {
    "smollm2": scalar(r, "tokenizer.chat_template"),
    "llama2": "{% for message in messages %}[INST] {{ message['content'] }} [/INST]{% endfor %}",
    "llama3": "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}",
    "zephyr": "{% for message in messages %}<|user|>\n{{ message['content'] }}</s>\n<|assistant|>\n{% endfor %}",
    "phi3": "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}",
    "gemma": "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}",
}
messages = b"\x00\x00You are helpful.\x00\x01Hello <|im_end|> there\x00\x02Hi!\x00\x01Bye"
os.makedirs(os.path.join(seeds, "chat_template"), exist_ok=True)
for name, t in templates.items():
    with open(os.path.join(seeds, "chat_template", name), "wb") as f:
        f.write(t.encode() + messages)
