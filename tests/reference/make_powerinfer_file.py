#!/usr/bin/env python3
"""Rewrites a llama GGUF the way PowerInfer's convert-hf-to-powerinfer-gguf.py lays out
its model files (PyPI gguf only; no code shared with the engine):

* the down projection stored transposed as `blk.N.ffn_down_t.weight` (GGUF shape
  [n_embd, n_ff]: one row of n_embd per neuron, for PowerInfer's AXPY kernels);
* predictor tensors `blk.N.fc1.weight` [n_embd, rank] and `blk.N.fc2.weight` [rank, n_ff]
  (random here; a per-layer rank) and `powerinfer.sparse_threshold`;
* no activation key (ReLU-LLaMA files say arch llama and record no activation);
* the magic bytes overwritten with b"PWRI" after writing.

Usage: make_powerinfer_file.py IN.gguf OUT.gguf [--threshold 0.0]
"""
import argparse

import numpy as np
import gguf
from gguf import GGUFReader, GGUFWriter, GGMLQuantizationType as T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--threshold", type=float, default=0.0)
    args = ap.parse_args()

    r = GGUFReader(args.src)
    arch = r.get_field("general.architecture").contents()
    w = GGUFWriter(args.dst, arch)
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key.startswith("actinfer."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, field.contents(), vtype, sub_type=sub)
    w.add_float32("powerinfer.sparse_threshold", args.threshold)

    n_embd = int(r.get_field(f"{arch}.embedding_length").contents())
    rng = np.random.default_rng(3)
    for t in r.tensors:
        if t.name.endswith(".ffn_down.weight"):
            if t.tensor_type not in (T.F32, T.F16):
                raise SystemExit("make_powerinfer_file.py: ffn_down must be F32 or F16 (PowerInfer's converter writes those)")
            down = np.asarray(t.data).reshape(int(t.shape[1]), int(t.shape[0]))  # (n_embd, n_ff)
            down_t = np.ascontiguousarray(down.T)  # (n_ff, n_embd): GGUF shape [n_embd, n_ff]
            w.add_tensor(t.name.replace("ffn_down", "ffn_down_t"), down_t, raw_dtype=t.tensor_type)
            # PowerInfer's ReluMLP predictor of this layer: fc1 (rank, n_embd), fc2 (n_ff, rank), F16.
            layer = int(t.name.split(".")[1])
            rank = 24 + 20 * layer  # PowerInfer ranks need not be multiples of 32
            n_ff = int(t.shape[0])
            prefix = f"blk.{layer}."
            w.add_tensor(prefix + "fc1.weight", (rng.standard_normal((rank, n_embd)) * 0.1).astype(np.float16))
            w.add_tensor(prefix + "fc2.weight", (rng.standard_normal((n_ff, rank)) * 0.1).astype(np.float16))
        else:
            w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(args.dst, "r+b") as f:
        f.write(b"PWRI")


if __name__ == "__main__":
    main()
