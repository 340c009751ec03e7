#!/usr/bin/env python3
"""Checks `actinfer quantize` against PyPI gguf (independent of actinfer's code).

Usage:  check_quantize.py --model IN.gguf --quantized OUT.gguf --mix Q4_K_M [--pure]
                          [--expect-count TYPE=N ...] [--run path/to/actinfer]
With --run, first runs `actinfer quantize -q [--pure] -t 2 IN OUT MIX` and requires exit status 0.

IN is the F32 (or other) source, OUT what `actinfer quantize IN OUT MIX` wrote. Checks:
  * metadata: every key of IN is in OUT with the same value, except general.file_type (the
    mix's llama_ftype number) and general.quantization_version (2);
  * tensors: the same names and shapes, in llama.cpp's order (tensors outside the blocks,
    then block by block, by name within a block);
  * per-tensor types: those of llama.cpp's mix rules (src/llama-quant.cpp, restated below
    from its description, not from actinfer's code);
  * data: tensors in a type gguf.quants can quantize (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1)
    hold exactly gguf.quants.quantize's bytes of IN's values; every other quantized tensor,
    dequantized by gguf.quants.dequantize, is within the type's error bound: RMSE relative to
    the tensor's RMS below MAX_REL_RMSE (bounds with ~1.5x headroom over what llama.cpp's
    reference quantizers reach on Gaussian data, and each type's bound below the next
    coarser one's typical error, so a wrong bit layout or a lost scale fails);
  * --expect-count TYPE=N: OUT holds N tensors of TYPE (e.g. Q5_0=166 for SmolLM2 Q4_K_M).
Prints one line per failure and exits 1 on any; prints a summary line and exits 0 otherwise.
"""

import argparse
import re
import subprocess
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, quants

# llama_ftype numbers and base types of the mixes.
MIXES = {
    "F32": (0, T.F32), "F16": (1, T.F16), "Q4_0": (2, T.Q4_0), "Q4_1": (3, T.Q4_1), "Q8_0": (7, T.Q8_0),
    "Q5_0": (8, T.Q5_0), "Q5_1": (9, T.Q5_1), "Q2_K": (10, T.Q2_K), "Q3_K_S": (11, T.Q3_K),
    "Q3_K_M": (12, T.Q3_K), "Q3_K_L": (13, T.Q3_K), "Q4_K_S": (14, T.Q4_K), "Q4_K_M": (15, T.Q4_K),
    "Q5_K_S": (16, T.Q5_K), "Q5_K_M": (17, T.Q5_K), "Q6_K": (18, T.Q6_K), "IQ4_NL": (25, T.IQ4_NL),
    "IQ4_XS": (30, T.IQ4_XS), "BF16": (32, T.BF16),
}

BYTE_EXACT = {T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1}
# Measured worst on the test models: Q2_K 0.32, Q3_K 0.18, Q4_K 0.080, Q5_K 0.041, Q6_K 0.022,
# IQ4_NL 0.091, IQ4_XS 0.093; for scale, gguf's own Q4_1 / Q5_1 reach 0.076 / 0.037 there.
MAX_REL_RMSE = {
    T.Q2_K: 0.40, T.Q3_K: 0.22, T.Q4_K: 0.10, T.Q5_K: 0.05, T.Q6_K: 0.027,
    T.IQ4_NL: 0.115, T.IQ4_XS: 0.115,
}


def layer_of(name):
    m = re.match(r"blk\.(\d+)\.", name)
    return int(m.group(1)) if m else -1


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def expected_types(mix, names, shapes, types, meta, pure):
    """llama.cpp's choice per tensor (dict name -> type), tensors visited in its order."""
    arch = meta["general.architecture"]
    n_layer = int(meta[f"{arch}.block_count"])
    n_head = int(meta.get(f"{arch}.attention.head_count", 1))
    n_head_kv = int(meta.get(f"{arch}.attention.head_count_kv", n_head))
    gqa = n_head // n_head_kv
    base = MIXES[mix][1]
    quantized_base = base not in (T.F32, T.F16, T.BF16)
    tied = "output.weight" not in names
    attn_v_like = lambda n: any(k in n for k in ("attn_v.weight", "attn_qkv.weight", "attn_kv_b.weight"))
    n_attn_v = sum(1 for n in names if attn_v_like(n))
    i_v = i_down = 0
    out = {}
    for name in names:
        shape, cur = shapes[name], types[name]
        dims = len(shape)
        while dims > 1 and shape[dims - 1] == 1:
            dims -= 1
        quantize = dims >= 2 and name.endswith("weight") and "_norm.weight" not in name and "ffn_gate_inp" not in name
        if not quantize:
            out[name] = cur
            continue
        t = base
        if quantized_base and not pure:
            if name == "output.weight" or (tied and name == "token_embd.weight"):
                t = T.Q8_0 if shape[0] % quants.GGML_QUANT_SIZES[t][0] else (T.Q6_K if t != T.Q8_0 else t)
            elif name == "token_embd.weight":
                pass
            elif attn_v_like(name):
                if mix == "Q2_K":
                    t = T.Q4_K if gqa >= 4 else T.Q3_K
                elif mix == "Q3_K_M":
                    t = T.Q5_K if i_v < 2 else T.Q4_K
                elif mix == "Q3_K_L":
                    t = T.Q5_K
                elif mix in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
                    t = T.Q5_K
                elif mix in ("Q4_K_M", "Q5_K_M") and use_more_bits(i_v, n_attn_v):
                    t = T.Q6_K
                elif mix == "Q4_K_S" and i_v < 4:
                    t = T.Q5_K
                i_v += 1
            elif "ffn_down" in name:
                i = i_down
                if mix == "Q2_K":
                    t = T.Q3_K
                elif mix == "Q3_K_M":
                    t = T.Q5_K if i < n_layer // 16 else T.Q4_K
                elif mix == "Q3_K_L":
                    t = T.Q5_K
                elif mix == "Q4_K_M":
                    if use_more_bits(i, n_layer):
                        t = T.Q6_K
                elif i < n_layer // 8 and mix in ("IQ4_NL", "IQ4_XS"):
                    t = T.Q5_K
                elif mix == "Q5_K_M" and use_more_bits(i, n_layer):
                    t = T.Q6_K
                elif mix == "Q4_K_S" and i < n_layer // 8:
                    t = T.Q5_K
                i_down += 1
            elif "attn_output.weight" in name:
                t = {"Q2_K": T.Q3_K, "Q3_K_M": T.Q4_K, "Q3_K_L": T.Q5_K}.get(mix, t)
        if quantized_base and shape[0] % quants.GGML_QUANT_SIZES[t][0]:
            fb = {T.Q2_K: T.Q4_0, T.Q3_K: T.Q4_0, T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0,
                  T.IQ4_XS: T.IQ4_NL}[t]
            t = fb if shape[0] % quants.GGML_QUANT_SIZES[fb][0] == 0 else T.F16
        out[name] = t
    return out


def field_value(f):
    if not f.types:
        return None
    if f.types[0] == 9:  # array
        return [f.contents(i) for i in range(len(f.data))] if f.types[1:] == [8] else list(f.contents())
    return f.contents()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--quantized", required=True)
    ap.add_argument("--mix", required=True, choices=sorted(MIXES))
    ap.add_argument("--pure", action="store_true")
    ap.add_argument("--expect-count", action="append", default=[])
    ap.add_argument("--run", help="actinfer binary: quantize IN into OUT first")
    a = ap.parse_args()
    if a.run:
        cmd = [a.run, "quantize", "-q", "-t", "2"] + (["--pure"] if a.pure else []) + [a.model, a.quantized, a.mix]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAILED: {' '.join(cmd)} exited with {proc.returncode}: {proc.stderr.strip()}")
            return 1

    src, dst = GGUFReader(a.model), GGUFReader(a.quantized)
    failures = []
    fail = failures.append

    # Metadata.
    src_meta = {k: field_value(f) for k, f in src.fields.items() if not k.startswith("GGUF.")}
    dst_meta = {k: field_value(f) for k, f in dst.fields.items() if not k.startswith("GGUF.")}
    for k, v in src_meta.items():
        if k in ("general.file_type", "general.quantization_version"):
            continue
        if k not in dst_meta:
            fail(f"metadata {k} missing")
        elif dst_meta[k] != v:
            fail(f"metadata {k} differs")
    if dst_meta.get("general.file_type") != MIXES[a.mix][0]:
        fail(f"general.file_type {dst_meta.get('general.file_type')}, expected {MIXES[a.mix][0]}")
    if dst_meta.get("general.quantization_version") != 2:
        fail("general.quantization_version is not 2")

    # Tensor list and order.
    s_t = {t.name: t for t in src.tensors}
    names = sorted(s_t, key=lambda n: (layer_of(n), n))
    got_names = [t.name for t in dst.tensors]
    if got_names != names:
        fail(f"tensor order {got_names[:6]}... differs from llama.cpp's {names[:6]}...")
    shapes = {n: [int(x) for x in s_t[n].shape] for n in names}
    types = {n: s_t[n].tensor_type for n in names}
    want = expected_types(a.mix, names, shapes, types, src_meta, a.pure)

    counts = {}
    worst = {}
    for t in dst.tensors:
        name = t.name
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
        if name not in s_t:
            fail(f"{name}: not in the input")
            continue
        if [int(x) for x in t.shape] != shapes[name]:
            fail(f"{name}: shape {list(t.shape)} != {shapes[name]}")
        if t.tensor_type != want[name]:
            fail(f"{name}: type {t.tensor_type.name}, llama.cpp's rules give {want[name].name}")
            continue
        s = s_t[name]
        x = quants.dequantize(s.data, s.tensor_type).astype(np.float32).reshape(-1)
        if t.tensor_type == s.tensor_type:
            if not np.array_equal(np.asarray(t.data).view(np.uint8).reshape(-1), np.asarray(s.data).view(np.uint8).reshape(-1)):
                fail(f"{name}: kept type {t.tensor_type.name} but its bytes changed")
            continue
        got_bytes = np.asarray(t.data).view(np.uint8).reshape(-1)
        if t.tensor_type in BYTE_EXACT:
            ref = quants.quantize(x.reshape(-1, shapes[name][0]), t.tensor_type).view(np.uint8).reshape(-1)
            if not np.array_equal(ref, got_bytes):
                bad = int(np.count_nonzero(ref != got_bytes))
                fail(f"{name}: {t.tensor_type.name} bytes differ from gguf.quants.quantize in {bad} of {ref.size}")
            continue
        y = quants.dequantize(got_bytes, t.tensor_type).astype(np.float32).reshape(-1)
        if not np.all(np.isfinite(y)):
            fail(f"{name}: non-finite values after dequantizing")
            continue
        rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        rel = float(np.sqrt(np.mean((y.astype(np.float64) - x) ** 2))) / rms if rms > 0 else 0.0
        bound = MAX_REL_RMSE[t.tensor_type]
        worst[t.tensor_type.name] = max(worst.get(t.tensor_type.name, 0.0), rel)
        if rel > bound:
            fail(f"{name}: {t.tensor_type.name} relative RMSE {rel:.4f} above {bound}")

    for spec in a.expect_count:
        tname, n = spec.split("=")
        if counts.get(tname, 0) != int(n):
            fail(f"{counts.get(tname, 0)} tensors of {tname}, expected {n}")

    for f in failures:
        print("FAIL", f)
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    errs = ", ".join(f"{k} {v:.4f}" for k, v in sorted(worst.items()))
    print(f"{'FAILED' if failures else 'OK'} {a.mix}{' pure' if a.pure else ''}: {len(dst.tensors)} tensors ({summary}); "
          f"worst relative RMSE: {errs or '-'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
