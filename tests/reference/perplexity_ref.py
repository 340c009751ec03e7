#!/usr/bin/env python3
"""Independent numpy perplexity, as llama.cpp's llama-perplexity computes it,
with llama_ref.py's forward pass (numpy + PyPI gguf, float64; no code shared
with the engine).

Rule: cut the tokens into floor(len / ctx) chunks of ctx tokens; evaluate each
chunk from an empty cache, its first token replaced by BOS when --bos is given;
the logits at positions ctx//2 .. ctx-2 score the next token; NLL is
-log_softmax; PPL = exp(mean NLL over every scored token).

Usage:
  perplexity_ref.py --model M.gguf (--tokens "1,2,3" | --random N --seed S)
                    --ctx 32 [--bos ID] [--ffn-thresholds T0,T1,...] --out ppl.txt

--ffn-thresholds: per-layer thresholded FFN sparsity as llama_ref.py's (a
neuron's output is dropped when |act(gate) * up| <= its layer's threshold; a
negative threshold leaves the layer dense); the dense model then runs too, and
kl_mean is the mean KL(dense || thresholded) of the next-token distributions
over the scored positions.

Output (text, one "key value..." per line):
  ctx 32
  bos -1                  (-1: no BOS replacement)
  tokens 17 200 33 ...    (the evaluated token list, all of it)
  ppl 123.456...          (%.17g)
  nll_mean ...
  n_scored ...
  chunk_ppl p0 p1 ...
  kl_mean ...             (only with --ffn-thresholds)
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import Model, forward, layer_thresholds, parse_thresholds  # noqa: E402


def log_softmax_at(logits, tok):
    m = logits.max()
    return logits[tok] - m - np.log(np.exp(logits - m).sum())


def log_softmax(logits):
    m = logits.max()
    return logits - m - np.log(np.exp(logits - m).sum())


def perplexity(m, tokens, ctx, bos, ffn_threshold=None):
    n_chunks = len(tokens) // ctx
    if ctx < 3 or n_chunks == 0:
        sys.exit("perplexity_ref.py: need ctx >= 3 and at least one chunk of ctx tokens")
    first = ctx // 2
    nll_all, chunk_ppl, kl_all = [], [], []
    for c in range(n_chunks):
        chunk = list(tokens[c * ctx:(c + 1) * ctx])
        if bos >= 0:
            chunk[0] = bos
        kv = [[np.zeros((0, m.n_head_kv, m.head_dim)), np.zeros((0, m.n_head_kv, m.head_dim))]
              for _ in range(m.n_layer)]
        logits = forward(m, chunk, 0, kv, m.n_layer, ffn_threshold)  # (ctx, n_vocab), row p predicts p+1
        nll = [-log_softmax_at(logits[p], chunk[p + 1]) for p in range(first, ctx - 1)]
        if ffn_threshold is not None:
            kv = [[np.zeros((0, m.n_head_kv, m.head_dim)), np.zeros((0, m.n_head_kv, m.head_dim))]
                  for _ in range(m.n_layer)]
            dense = forward(m, chunk, 0, kv, m.n_layer)
            for p in range(first, ctx - 1):
                lp, lq = log_softmax(dense[p]), log_softmax(logits[p])
                kl_all.append(float(np.sum(np.exp(lp) * (lp - lq))))
        nll_all += nll
        chunk_ppl.append(float(np.exp(np.mean(nll))))
    nll_mean = float(np.mean(nll_all))
    kl_mean = float(np.mean(kl_all)) if kl_all else None
    return float(np.exp(nll_mean)), nll_mean, len(nll_all), chunk_ppl, kl_mean


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", help='token ids, e.g. "17,200,33"')
    ap.add_argument("--random", type=int, help="instead of --tokens: N token ids drawn uniformly (numpy, --seed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ctx", type=int, required=True)
    ap.add_argument("--bos", type=int, default=-1, help="BOS id replacing each chunk's first token (-1: none)")
    ap.add_argument("--ffn-thresholds", type=parse_thresholds, default=None,
                    help="per-layer FFN thresholds t0,t1,... (negative: dense layer)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    m = Model(args.model)
    n_vocab = m.w(m.out_name).shape[0]
    if (args.tokens is None) == (args.random is None):
        sys.exit("perplexity_ref.py: give exactly one of --tokens and --random")
    if args.tokens is not None:
        tokens = [int(t) for t in args.tokens.replace(",", " ").split()]
    else:
        tokens = [int(t) for t in np.random.default_rng(args.seed).integers(0, n_vocab, args.random)]
    if not all(0 <= t < n_vocab for t in tokens) or args.bos >= n_vocab:
        sys.exit("perplexity_ref.py: token ids must be < n_vocab")

    thresholds = layer_thresholds(None, args.ffn_thresholds, m.n_layer)
    ppl, nll_mean, n_scored, chunk_ppl, kl_mean = perplexity(m, tokens, args.ctx, args.bos, thresholds)
    with open(args.out, "w") as f:
        f.write(f"ctx {args.ctx}\nbos {args.bos}\n")
        f.write("tokens " + " ".join(str(t) for t in tokens) + "\n")
        f.write(f"ppl {ppl:.17g}\nnll_mean {nll_mean:.17g}\nn_scored {n_scored}\n")
        f.write("chunk_ppl " + " ".join(f"{p:.17g}" for p in chunk_ppl) + "\n")
        if kl_mean is not None:
            f.write(f"kl_mean {kl_mean:.17g}\n")


if __name__ == "__main__":
    main()
