#!/usr/bin/env python3
"""Writes tests/data/quant_vectors.bin: reference quantization vectors made with the
independent numpy implementation in the PyPI `gguf` package (gguf.quants), read by
tests/test_kernels_reference.cpp to check actinfer's quantize_row / dequantize_row.

Usage:  python3 tests/reference/make_quant_vectors.py [output path]
        (default: tests/data/quant_vectors.bin next to this script's parent folder).
The output is deterministic for a given gguf/numpy version (fixed seed).

File format (all integers little-endian uint32, floats little-endian IEEE float32):
  header:  magic b"AIQV", version (=1), record_count
  record:  type      GGUF type id (F32=0, F16=1, Q4_0=2, Q4_1=3, Q5_0=6, Q5_1=7, Q8_0=8,
                     Q2_K=10, Q3_K=11, Q4_K=12, Q5_K=13, Q6_K=14, IQ4_NL=20, IQ4_XS=23, BF16=30)
           kind      0 = quantize record: `input` floats were quantized by
                         gguf.quants.quantize into `data`
                     1 = dequantize-only record: `data` are random valid blocks (gguf cannot
                         quantize this type); there is no `input`
           n         element count (a whole number of blocks)
           nbytes    byte count of `data`
           input     float32[n]   (kind 0 only)
           data      uint8[nbytes]
           expected  float32[n]   gguf.quants.dequantize(data)
Per record the C++ test checks dequantize_row(type, data) == expected (bit for bit), and for
kind 0 that quantize_row(type, input) == data (byte for byte) where actinfer has a quantizer
for the type (Q5_0 / Q5_1 records wait for one).
Records are only ever appended (after the existing ones, with the same random stream), so
regenerating leaves the earlier records' bytes unchanged.
"""

import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

MAGIC = b"AIQV"
VERSION = 1
rng = np.random.default_rng(20240611)


def quantize_inputs(block: int) -> np.ndarray:
    """Random rows with blocks at many magnitudes plus edge-case blocks."""
    parts = []
    # Gaussian blocks at magnitudes 1e-4 .. 1e3.
    for scale in [1e-4, 1e-2, 0.1, 1.0, 1.0, 3.0, 100.0, 1e3]:
        parts.append(rng.standard_normal(block).astype(np.float32) * np.float32(scale))
    # Uniform blocks, one with only positive values, one with only negative values.
    parts.append(rng.uniform(0.5, 2.0, block).astype(np.float32))
    parts.append(rng.uniform(-3.0, -1.0, block).astype(np.float32))
    # All zeros; one constant; a single non-zero value.
    parts.append(np.zeros(block, np.float32))
    parts.append(np.full(block, 0.75, np.float32))
    one_hot = np.zeros(block, np.float32)
    one_hot[block // 3] = -5.0
    parts.append(one_hot)
    # Small integers and half-integers, which hit rounding ties.
    parts.append((rng.integers(-16, 17, block) / np.float32(2.0)).astype(np.float32))
    # Equal-magnitude maxima of both signs (which one sets the Q4_0 sign?).
    tie = rng.standard_normal(block).astype(np.float32)
    tie[3], tie[9] = 4.0, -4.0
    parts.append(tie)
    # Heavy tails.
    parts.append((rng.standard_t(2.0, block)).astype(np.float32))
    return np.concatenate(parts)


def random_fp16(count: int, lo: float, hi: float) -> np.ndarray:
    mag = np.exp(rng.uniform(np.log(lo), np.log(hi), count))
    return mag.astype(np.float16)


def random_blocks(qtype: T, n_blocks: int, fp16_fields, signed_fields=()) -> np.ndarray:
    """Random bytes with finite fp16 scales at the given byte offsets (negative at the
    signed ones for every other block)."""
    block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    for off in fp16_fields:
        v = random_fp16(n_blocks, 1e-4, 1.0)
        if off in signed_fields:
            v[::2] = -v[::2]
        raw[:, off:off + 2] = v.reshape(-1, 1).view(np.uint8)
    return raw


def random_k_blocks(qtype: T, n_blocks: int) -> np.ndarray:
    """Random valid blocks of a K type: random bytes, with finite fp16 super-block scales."""
    block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    if qtype in (T.Q4_K, T.Q5_K):
        raw[:, 0:2] = random_fp16(n_blocks, 1e-4, 1.0).reshape(-1, 1).view(np.uint8)  # d
        raw[:, 2:4] = random_fp16(n_blocks, 1e-4, 1.0).reshape(-1, 1).view(np.uint8)  # dmin
    elif qtype == T.Q6_K:
        d = random_fp16(n_blocks, 1e-4, 1.0)
        d[::2] = -d[::2]  # a negative super-block scale is valid too
        raw[:, type_size - 2:] = d.reshape(-1, 1).view(np.uint8)
    else:
        raise ValueError(qtype)
    # One block with the extreme scale bytes (all 6-bit scales/mins 63, int8 scales -128).
    if qtype in (T.Q4_K, T.Q5_K):
        raw[0, 4:16] = 0xFF
    else:
        raw[0, 192:208] = 0x80
    return raw.reshape(-1)


def record(qtype: T, kind: int, inp, data: np.ndarray, expected: np.ndarray) -> bytes:
    data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    expected = np.ascontiguousarray(expected, dtype=np.float32).reshape(-1)
    n = expected.size
    out = struct.pack("<4I", int(qtype), kind, n, data.size)
    if kind == 0:
        inp = np.ascontiguousarray(inp, dtype=np.float32).reshape(-1)
        assert inp.size == n
        out += inp.astype("<f4").tobytes()
    out += data.tobytes()
    out += expected.astype("<f4").tobytes()
    return out


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "quant_vectors.bin")
    records = []

    # Types gguf can quantize: quantize + dequantize records.
    for qtype in (T.Q8_0, T.Q4_0, T.Q4_1):
        x = quantize_inputs(32)
        q = quants.quantize(x.reshape(1, -1), qtype)
        records.append(record(qtype, 0, x, q, quants.dequantize(q, qtype)))

    # Float types: gguf "quantizes" F16 with numpy's astype (round to nearest even) and
    # BF16 with its own rounding (ggml's); include ties, subnormals, inf and NaN.
    special = np.array([0.0, -0.0, 1.0, -2.0, 65504.0, 65519.0, 65520.0, 1e-8, 5.9604645e-08,
                        2.9802322e-08, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1.0 + 2.0**-8,
                        1.0 + 3 * 2.0**-8, 3.0e38, np.inf, -np.inf, 0.1], dtype=np.float32)
    x = np.concatenate([special, (rng.standard_normal(238) * 10.0).astype(np.float32)])
    for qtype in (T.F16, T.BF16):
        with np.errstate(over="ignore"):  # 65520 and 3e38 overflow to inf in F16, as intended
            q = quants.quantize(x.reshape(1, -1), qtype)
        records.append(record(qtype, 0, x, q, quants.dequantize(q, qtype)))
    # A NaN must stay a NaN (bit patterns may differ between implementations: not recorded).

    # K types: gguf only dequantizes; random valid blocks.
    for qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        data = random_k_blocks(qtype, 8)
        records.append(record(qtype, 1, None, data, quants.dequantize(data, qtype)))
    # Q4_0 / Q4_1 / Q8_0 random (not quantizer-made) blocks too, e.g. Q8_0 with -128.
    for qtype in (T.Q8_0, T.Q4_0, T.Q4_1):
        block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
        raw = rng.integers(0, 256, (16, type_size), dtype=np.uint8)
        raw[:, 0:2] = random_fp16(16, 1e-3, 10.0).reshape(-1, 1).view(np.uint8)
        if qtype == T.Q4_1:
            m = random_fp16(16, 1e-3, 10.0)
            m[::2] = -m[::2]
            raw[:, 2:4] = m.reshape(-1, 1).view(np.uint8)
        data = raw.reshape(-1)
        records.append(record(qtype, 1, None, data, quants.dequantize(data, qtype)))

    # Types added later (appended so that the records above keep their bytes).
    # Q5_0 / Q5_1: gguf quantizes them; quantizer-made records plus random blocks.
    for qtype in (T.Q5_0, T.Q5_1):
        x = quantize_inputs(32)
        q = quants.quantize(x.reshape(1, -1), qtype)
        records.append(record(qtype, 0, x, q, quants.dequantize(q, qtype)))
    layouts = {  # fp16 fields (byte offsets) of each type's block, and which may be negative
        T.Q5_0: ((0,), (0,)),
        T.Q5_1: ((0, 2), (0, 2)),
        T.IQ4_NL: ((0,), (0,)),
        T.Q2_K: ((80, 82), (80,)),
        T.Q3_K: ((108,), (108,)),
        T.IQ4_XS: ((0,), (0,)),
    }
    for qtype, (fields, signed) in layouts.items():
        block_size = quants.GGML_QUANT_SIZES[qtype][0]
        raw = random_blocks(qtype, 16 if block_size == 32 else 8, fields, signed)
        if qtype == T.Q2_K:
            raw[0, 0:16] = 0xFF  # largest scales and mins
        elif qtype == T.Q3_K:
            raw[0, 96:108] = 0xFF  # scale 63 - 32 = 31 everywhere
            raw[1, 96:108] = 0x00  # scale -32 everywhere
        elif qtype == T.IQ4_XS:
            raw[0, 2:8] = 0xFF
            raw[1, 2:8] = 0x00
        data = raw.reshape(-1)
        records.append(record(qtype, 1, None, data, quants.dequantize(data, qtype)))

    blob = MAGIC + struct.pack("<2I", VERSION, len(records)) + b"".join(records)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(blob)
    print(f"wrote {len(records)} records, {len(blob)} bytes to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
