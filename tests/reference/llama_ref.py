#!/usr/bin/env python3
"""Independent numpy reference for the llama and gemma3 forward passes over a GGUF file.

Shares no code with the actinfer engine: GGUF is read with the PyPI `gguf`
package, every tensor is dequantized once (to float32, which is exact for all
GGUF types) and all arithmetic is then done in float64.

Usage:
  llama_ref.py --model M.gguf --tokens "504,3575,282" [--greedy N] [--layers K]
               [--ffn-threshold T | --ffn-thresholds T0,T1,...] --out ref.bin

Output (little-endian): b"AIRF", uint32 n_positions, uint32 n_vocab,
int32 tokens[n_positions] (prompt, then the greedy ones),
float32 logits[n_positions][n_vocab] (row p predicts token p+1).
"""
import argparse
import struct
import sys
import time

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


class Model:
    def __init__(self, path):
        self.r = GGUFReader(path)
        self.tensors = {t.name: t for t in self.r.tensors}
        self.arch = self.meta("general.architecture")
        if self.arch not in ("llama", "gemma3"):
            sys.exit(f"llama_ref.py: unsupported architecture {self.arch!r} (only 'llama', 'gemma3')")
        a = self.arch
        self.gemma3 = self.arch == "gemma3"
        self.n_layer = int(self.meta(f"{a}.block_count"))
        self.n_embd = int(self.meta(f"{a}.embedding_length"))
        self.n_ff = int(self.meta(f"{a}.feed_forward_length"))
        self.n_head = int(self.meta(f"{a}.attention.head_count"))
        self.n_head_kv = int(self.meta(f"{a}.attention.head_count_kv", self.n_head))
        self.eps = float(self.meta(f"{a}.attention.layer_norm_rms_epsilon"))
        self.head_dim = int(self.meta(f"{a}.attention.key_length", self.n_embd // self.n_head))
        self.rope_base = float(self.meta(f"{a}.rope.freq_base", 10000.0))
        self.rot_dim = int(self.meta(f"{a}.rope.dimension_count", self.head_dim))
        self.act = self.meta("actinfer.ffn_activation", "gelu" if self.gemma3 else "silu")
        if self.act not in ACTIVATIONS:
            sys.exit(f"llama_ref.py: unknown actinfer.ffn_activation {self.act!r}")
        # Refuse features this reference does not implement rather than silently ignore them.
        if self.meta(f"{a}.rope.scaling.type", "none") != "none" or "rope_freqs.weight" in self.tensors:
            sys.exit("llama_ref.py: RoPE scaling / rope_freqs is not supported")
        if self.meta(f"{a}.expert_count", 0):
            sys.exit("llama_ref.py: MoE llama is not supported")
        self.out_name = "output.weight" if "output.weight" in self.tensors else "token_embd.weight"
        self.cache = {}
        # gemma3 as llama.cpp runs it (its converter already stored Gemma's norm weights as 1 + w):
        # every 6th layer global (RoPE base rope.freq_base), the other five local (sliding window,
        # base 10000); NEOX RoPE; q/k RMSNorm per head; post-attention and post-FFN norms;
        # embeddings scaled by sqrt(n_embd); queries scaled by 1/sqrt(key_length).
        self.window = int(self.meta(f"{a}.attention.sliding_window", 0)) if self.gemma3 else 0
        self.softcap = float(self.meta(f"{a}.final_logit_softcapping", 0.0)) if self.gemma3 else 0.0
        self.q_scale = 1.0 / np.sqrt(self.head_dim)

    def local_layer(self, l):
        return self.gemma3 and self.window > 0 and l % 6 != 5

    def layer_rope_base(self, l):
        return 10000.0 if self.local_layer(l) else self.rope_base

    def meta(self, key, default=None):
        f = self.r.get_field(key)
        if f is None:
            if default is None:
                sys.exit(f"llama_ref.py: missing metadata {key}")
            return default
        return f.contents()

    def w(self, name):
        """Tensor as float64; GGUF shape [ne0, ne1] -> numpy (ne1, ne0), so y = W @ x."""
        if name not in self.cache:
            t = self.tensors[name]
            a = dequantize(t.data, t.tensor_type).astype(np.float32)
            self.cache[name] = a.reshape(tuple(int(d) for d in reversed(t.shape))).astype(np.float64)
        return self.cache[name]

    def linear(self, x, name):
        """x: (T, in) -> (T, out) = x @ W^T (+ bias if the file has one)."""
        y = x @ self.w(name + ".weight").T
        if name + ".bias" in self.tensors:
            y = y + self.w(name + ".bias")
        return y


def rmsnorm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def silu(x):
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-x))


def gelu(x):  # tanh approximation, as ggml_gelu
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * x * (1.0 + 0.044715 * x * x)))


ACTIVATIONS = {"silu": silu, "relu": lambda x: np.maximum(x, 0.0), "gelu": gelu}


def rope_neox(x, positions, base, rot_dim):
    """x: (T, heads, head_dim). Rotates pairs (i, i + rot_dim/2), i < rot_dim/2, by angle
    pos * base^(-2i/rot_dim) (GPT-NeoX layout, as llama.cpp's gemma3)."""
    half = rot_dim // 2
    i = np.arange(half, dtype=np.float64)
    theta = positions[:, None].astype(np.float64) * base ** (-2.0 * i / rot_dim)
    cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    x = x.copy()
    x0, x1 = x[..., 0:half].copy(), x[..., half:rot_dim].copy()
    x[..., 0:half] = x0 * cos - x1 * sin
    x[..., half:rot_dim] = x0 * sin + x1 * cos
    return x


def rope(x, positions, base, rot_dim):
    """x: (T, heads, head_dim). Rotates adjacent pairs (2i, 2i+1), i < rot_dim/2,
    by angle pos * base^(-2i/rot_dim); dims >= rot_dim are left untouched."""
    i = np.arange(rot_dim // 2, dtype=np.float64)
    theta = positions[:, None].astype(np.float64) * base ** (-2.0 * i / rot_dim)  # (T, rot/2)
    cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    x = x.copy()
    x0, x1 = x[..., 0:rot_dim:2].copy(), x[..., 1:rot_dim:2].copy()
    x[..., 0:rot_dim:2] = x0 * cos - x1 * sin
    x[..., 1:rot_dim:2] = x0 * sin + x1 * cos
    return x


def forward(m, tokens, start, kv, n_layers, ffn_threshold=None):
    """Runs `tokens` at positions start.. with the KV cache `kv` (list of [K, V] per
    layer, each (positions, n_head_kv, head_dim)); returns logits (T, n_vocab).
    ffn_threshold: None (dense), one threshold for every layer, or a list with one
    per layer where None or a negative value leaves that layer dense."""
    T, hd = len(tokens), m.head_dim
    pos = np.arange(start, start + T)
    x = m.w("token_embd.weight")[np.asarray(tokens)]  # (T, n_embd)
    if m.gemma3:
        x = x * np.sqrt(m.n_embd)
    group = m.n_head // m.n_head_kv
    # causal mask: query at position start+t sees keys at positions 0..start+t
    causal = np.arange(start + T)[None, :] > pos[:, None]  # (T, start+T)
    # sliding window: keys more than window-1 positions back are hidden too
    windowed = causal | (pos[:, None] - np.arange(start + T)[None, :] >= max(m.window, 1))
    for l in range(n_layers):
        b = f"blk.{l}."
        mask = windowed if m.local_layer(l) else causal
        h = rmsnorm(x, m.w(b + "attn_norm.weight"), m.eps)
        q = m.linear(h, b + "attn_q").reshape(T, m.n_head, hd)
        k = m.linear(h, b + "attn_k").reshape(T, m.n_head_kv, hd)
        v = m.linear(h, b + "attn_v").reshape(T, m.n_head_kv, hd)
        if m.gemma3:
            q = rmsnorm(q, m.w(b + "attn_q_norm.weight"), m.eps)
            k = rmsnorm(k, m.w(b + "attn_k_norm.weight"), m.eps)
            q = rope_neox(q, pos, m.layer_rope_base(l), m.rot_dim)
            k = rope_neox(k, pos, m.layer_rope_base(l), m.rot_dim)
        else:
            q = rope(q, pos, m.rope_base, m.rot_dim)
            k = rope(k, pos, m.rope_base, m.rot_dim)
        kv[l][0] = np.concatenate([kv[l][0], k])
        kv[l][1] = np.concatenate([kv[l][1], v])
        K, V = kv[l]
        out = np.empty((T, m.n_head, hd))
        for hq in range(m.n_head):
            hk = hq // group
            s = q[:, hq, :] @ K[:, hk, :].T * m.q_scale  # (T, start+T)
            s[mask] = -np.inf
            p = np.exp(s - s.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            out[:, hq, :] = p @ V[:, hk, :]
        a = m.linear(out.reshape(T, m.n_head * hd), b + "attn_output")
        if m.gemma3:
            a = rmsnorm(a, m.w(b + "post_attention_norm.weight"), m.eps)
        x = x + a
        h = rmsnorm(x, m.w(b + "ffn_norm.weight"), m.eps)
        f = ACTIVATIONS[m.act](m.linear(h, b + "ffn_gate")) * m.linear(h, b + "ffn_up")
        t = ffn_threshold[l] if isinstance(ffn_threshold, (list, tuple)) else ffn_threshold
        if t is not None and t >= 0:  # (a negative global threshold dropped nothing before either)
            f = np.where(np.abs(f) > t, f, 0.0)  # magnitude sparsity: neurons with small outputs are dropped
        y = m.linear(f, b + "ffn_down")
        if m.gemma3:
            y = rmsnorm(y, m.w(b + "post_ffw_norm.weight"), m.eps)
        x = x + y
    h = rmsnorm(x, m.w("output_norm.weight"), m.eps)
    logits = h @ m.w(m.out_name).T
    if m.softcap > 0:
        logits = m.softcap * np.tanh(logits / m.softcap)
    return logits


def parse_thresholds(text):
    """"0.1,-1,0.2" -> [0.1, -1.0, 0.2] (argparse type for --ffn-thresholds; write
    --ffn-thresholds=-1,... when the first is negative, or argparse takes it for an option)."""
    return [float(t) for t in text.split(",")]


def layer_thresholds(one, per_layer, n_layer):
    """What forward() takes from --ffn-threshold / --ffn-thresholds (one of them)."""
    if one is not None and per_layer is not None:
        sys.exit("give --ffn-threshold or --ffn-thresholds, not both")
    if per_layer is not None and len(per_layer) != n_layer:
        sys.exit(f"--ffn-thresholds has {len(per_layer)} values for {n_layer} layers")
    return per_layer if per_layer is not None else one


def token_text(m, tid):
    """Readable token text (GPT-2 byte-level tokens: undo the byte->unicode map)."""
    f = m.r.get_field("tokenizer.ggml.tokens")
    if f is None:
        return f"<{tid}>"
    s = f.contents(tid) if tid < len(f.data) else f"<{tid}>"
    if m.meta("tokenizer.ggml.model", "") == "gpt2":
        bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        cs = bs + [256 + n for n in range(256) if n not in bs]
        bs = bs + [n for n in range(256) if n not in bs]
        inv = {chr(c): b for b, c in zip(bs, cs)}
        if all(ch in inv for ch in s):
            s = bytes(inv[ch] for ch in s).decode("utf-8", "replace")
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help='prompt token ids, e.g. "504,3575,282"')
    ap.add_argument("--greedy", type=int, default=0, help="append N greedy (argmax) tokens")
    ap.add_argument("--layers", type=int, default=None, help="run only the first K blocks")
    ap.add_argument("--ffn-threshold", type=float, default=None,
                    help="zero FFN neuron outputs with |act(gate) * up| <= this (thresholded sparsity)")
    ap.add_argument("--ffn-thresholds", type=parse_thresholds, default=None,
                    help="per-layer thresholds t0,t1,... (a negative one leaves its layer dense)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    t0 = time.time()
    m = Model(args.model)
    n_layers = m.n_layer if args.layers is None else args.layers
    if not 0 <= n_layers <= m.n_layer:
        sys.exit(f"llama_ref.py: --layers must be in [0, {m.n_layer}]")
    threshold = layer_thresholds(args.ffn_threshold, args.ffn_thresholds, m.n_layer)
    tokens = [int(t) for t in args.tokens.replace(",", " ").split()]
    n_vocab = m.w(m.out_name).shape[0]
    if not tokens or not all(0 <= t < n_vocab for t in tokens):
        sys.exit("llama_ref.py: need at least one token id, all < n_vocab")

    kv = [[np.zeros((0, m.n_head_kv, m.head_dim)), np.zeros((0, m.n_head_kv, m.head_dim))]
          for _ in range(n_layers)]
    logits = [forward(m, tokens, 0, kv, n_layers, threshold)]
    for step in range(args.greedy):
        last = logits[-1][-1]
        top2 = np.argsort(last)[::-1][:2]
        nxt = int(np.argmax(last))
        if not args.quiet:
            print(f"step {step:3d}: token {nxt:6d} {token_text(m, nxt)!r:20} "
                  f"margin {last[top2[0]] - last[top2[1]]:.5f} (runner-up {int(top2[1])})")
        logits.append(forward(m, [nxt], len(tokens), kv, n_layers, threshold))
        tokens.append(nxt)
    logits = np.concatenate(logits).astype("<f4")
    assert logits.shape == (len(tokens), n_vocab)

    with open(args.out, "wb") as f:
        f.write(b"AIRF" + struct.pack("<II", len(tokens), n_vocab))
        f.write(np.asarray(tokens, dtype="<i4").tobytes())
        f.write(logits.tobytes())
    if not args.quiet:
        print(f"text: {''.join(token_text(m, t) for t in tokens)!r}")
        print(f"wrote {args.out}: {len(tokens)} positions x {n_vocab} logits, "
              f"{n_layers}/{m.n_layer} layers, act={m.act}, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
