#!/usr/bin/env python3
"""Rewrites an F32 llama GGUF (e.g. one from `actinfer make-model --type f32`) with its 2-D
weights in a mix of the types Q5_0, Q5_1, Q2_K, Q3_K, IQ4_NL and IQ4_XS, rotating the type
per layer and per matrix (ffn_gate and ffn_up share one), so that a small model holds every
one of them. Norm vectors stay F32. For tests of actinfer against the numpy reference
(llama_ref.py reads the result with PyPI gguf's own dequantize).

Quantizers: PyPI gguf's (gguf.quants.quantize) for Q5_0 / Q5_1; gguf has none for the others,
so this script quantizes them with simple round-to-nearest schemes of its own (any valid
blocks do: both engines read the same bytes). Each quantized tensor is checked on the way:
gguf's dequantize of the bytes must stay close to the float weights.

Usage:  python3 tests/reference/retype_model.py IN.gguf OUT.gguf [--zeros TENSOR TYPE] [--arch NAME]
Rows must be whole 256-element blocks (d_model and d_ff multiples of 256).
  --zeros TENSOR TYPE  write TENSOR as zero bytes of TYPE (any ggml type, e.g. one that
                       actinfer does not read: IQ2_XS), for tests of the load errors.
  --arch NAME          write NAME as general.architecture (the other keys keep their names).
"""

import argparse

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants

IQ4NL_VALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], np.float32)
ROTATION = [T.Q5_0, T.Q5_1, T.Q2_K, T.Q3_K, T.IQ4_NL, T.IQ4_XS]
KINDS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down"]  # ffn_up as ffn_gate


def f16_bytes(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float16).reshape(-1, 1).view(np.uint8)


def nearest_iq4(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Index of the IQ4_NL value nearest to x / scale (scale broadcast along the last axis)."""
    safe = np.where(scale == 0, 1, scale)
    return np.abs(x[..., None] / safe[..., None] - IQ4NL_VALUES).argmin(axis=-1).astype(np.uint8)


def signed_max(x: np.ndarray) -> np.ndarray:
    """The element of largest magnitude along the last axis, with its sign."""
    return np.take_along_axis(x, np.abs(x).argmax(axis=-1)[..., None], axis=-1)[..., 0]


def pack_nibbles(idx: np.ndarray) -> np.ndarray:
    """32 indices per row -> 16 bytes: element i low nibble of byte i, element i+16 high."""
    return (idx[..., :16] | (idx[..., 16:] << 4)).astype(np.uint8)


def quant_iq4_nl(x: np.ndarray) -> np.ndarray:
    b = x.reshape(-1, 32)
    d = (signed_max(b) / -127).astype(np.float16).astype(np.float32)
    return np.concatenate([f16_bytes(d), pack_nibbles(nearest_iq4(b, d[:, None] * np.ones_like(b)))], axis=1)


def quant_iq4_xs(x: np.ndarray) -> np.ndarray:
    b = x.reshape(-1, 8, 32)
    s = signed_max(b) / -127  # wanted scale per sub-block
    d = (np.abs(s).max(axis=1) / 32).astype(np.float16).astype(np.float32)
    safe_d = np.where(d == 0, 1, d)
    ls = np.clip(np.round(s / safe_d[:, None]), -32, 31).astype(np.int32)
    dl = d[:, None] * ls
    idx = nearest_iq4(b, np.repeat(dl[:, :, None], 32, axis=2))
    u = (ls + 32).astype(np.uint32)
    scales_h = np.zeros(len(b), np.uint16)
    scales_l = np.zeros((len(b), 4), np.uint8)
    for j in range(8):
        scales_h |= (((u[:, j] >> 4) & 3) << (2 * j)).astype(np.uint16)
        scales_l[:, j // 2] |= ((u[:, j] & 15) << (4 * (j % 2))).astype(np.uint8)
    qs = pack_nibbles(idx).reshape(len(b), 128)
    return np.concatenate([f16_bytes(d), scales_h.reshape(-1, 1).view(np.uint8), scales_l, qs], axis=1)


def pack_2bit(q: np.ndarray) -> np.ndarray:
    """256 values 0..3 per row: element 128h + 32k + l -> bits 2k of byte 32h + l."""
    q = q.reshape(-1, 2, 4, 32).astype(np.uint8)
    return (q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)).reshape(-1, 64)


def quant_q2_k(x: np.ndarray) -> np.ndarray:
    b = x.reshape(-1, 16, 16)
    mn = np.maximum(0, -b.min(axis=2))
    sc = (b.max(axis=2) + mn) / 3
    d = (sc.max(axis=1) / 15).astype(np.float16).astype(np.float32)
    dmin = (mn.max(axis=1) / 15).astype(np.float16).astype(np.float32)
    isc = np.clip(np.round(sc / np.where(d == 0, 1, d)[:, None]), 0, 15)
    imn = np.clip(np.round(mn / np.where(dmin == 0, 1, dmin)[:, None]), 0, 15)
    step = (d[:, None] * isc)[:, :, None]
    q = np.clip(np.round((b + (dmin[:, None] * imn)[:, :, None]) / np.where(step == 0, 1, step)), 0, 3)
    q = np.where(step == 0, 0, q)
    scales = (isc.astype(np.uint8) | (imn.astype(np.uint8) << 4))
    return np.concatenate([scales, pack_2bit(q), f16_bytes(d), f16_bytes(dmin)], axis=1)


def quant_q3_k(x: np.ndarray) -> np.ndarray:
    b = x.reshape(-1, 16, 16)
    s = signed_max(b) / -4  # the largest value lands on q = -4
    d = (np.abs(s).max(axis=1) / 32).astype(np.float16).astype(np.float32)
    ls = np.clip(np.round(s / np.where(d == 0, 1, d)[:, None]), -32, 31)
    step = (d[:, None] * ls)[:, :, None]
    q = np.where(step == 0, 0, np.clip(np.round(b / np.where(step == 0, 1, step)), -4, 3))
    u = (q + 4).astype(np.uint8).reshape(-1, 256)
    hmask = np.zeros((len(u), 32), np.uint8)
    for j in range(8):
        hmask |= ((u[:, 32 * j:32 * j + 32] >> 2) << j).astype(np.uint8)
    v = (ls + 32).astype(np.uint8)
    scales = np.zeros((len(u), 12), np.uint8)
    for i in range(16):
        scales[:, i % 8] |= (v[:, i] & 15) << (4 * (i // 8))
        scales[:, 8 + i % 4] |= ((v[:, i] >> 4) & 3) << (2 * (i // 4))
    return np.concatenate([hmask, pack_2bit(u & 3), scales, f16_bytes(d)], axis=1)


OWN = {T.IQ4_NL: quant_iq4_nl, T.IQ4_XS: quant_iq4_xs, T.Q2_K: quant_q2_k, T.Q3_K: quant_q3_k}
# Largest RMS error of dequantize(quantize(w)) relative to the RMS of w that the check accepts.
MAX_REL_RMS = {T.Q5_0: 0.06, T.Q5_1: 0.06, T.IQ4_NL: 0.12, T.IQ4_XS: 0.12, T.Q3_K: 0.3, T.Q2_K: 0.5}


def quantize(w: np.ndarray, qtype: T) -> np.ndarray:
    rows, cols = w.shape
    q = OWN[qtype](w).reshape(rows, -1) if qtype in OWN else quants.quantize(w, qtype)
    back = quants.dequantize(q, qtype).reshape(rows, cols)
    rel = np.sqrt(np.mean((back - w) ** 2) / max(np.mean(w ** 2), 1e-30))
    assert rel < MAX_REL_RMS[qtype], f"{qtype.name}: relative RMS error {rel:.3f}"
    return q


def type_for(name: str) -> T | None:
    parts = name.split(".")
    if name == "token_embd.weight":
        return T.Q5_1
    if len(parts) != 4 or parts[0] != "blk":
        return None
    kind = "ffn_gate" if parts[2] == "ffn_up" else parts[2]
    if kind not in KINDS:
        return None
    return ROTATION[(int(parts[1]) + KINDS.index(kind)) % len(ROTATION)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--zeros", nargs=2, metavar=("TENSOR", "TYPE"))
    parser.add_argument("--arch")
    args = parser.parse_args()
    reader = gguf.GGUFReader(args.src)
    arch = args.arch or reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(args.dst, arch)
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    for t in reader.tensors:
        assert t.tensor_type == T.F32, f"{t.name}: expected F32, got {t.tensor_type.name}"
        w = np.asarray(t.data, dtype=np.float32)
        qtype = type_for(t.name) if w.ndim == 2 else None
        if args.zeros and t.name == args.zeros[0]:
            ztype = T[args.zeros[1]]
            block, size = quants.GGML_QUANT_SIZES[ztype]
            z = np.zeros((w.shape[0], w.shape[1] // block * size), np.uint8)
            writer.add_tensor(t.name, z, raw_shape=z.shape, raw_dtype=ztype)
        elif qtype is None:
            writer.add_tensor(t.name, w)
        else:
            q = quantize(w, qtype)
            writer.add_tensor(t.name, q, raw_shape=q.shape, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
