#!/usr/bin/env python3
"""Compares `actinfer quantize --pure` with llama.cpp's own quantizers, byte for byte.

Usage:  compare_ggml_quantize.py --lib path/to/libggml-base.so --run path/to/actinfer
                                 --model F32.gguf --workdir DIR [--types Q2_K,Q3_K_S,...]

For each mix, runs `actinfer quantize -q --pure MODEL DIR/ggml_cmp_MIX.gguf MIX` and quantizes
every F32 source tensor with ggml_quantize_chunk (no importance matrix: what llama-quantize
does) from the given libggml-base.so, through ctypes; every tensor's bytes must be equal.
Exits 77 (skipped) when the library is absent: llama.cpp is not part of CI.
"""

import argparse
import ctypes
import os
import subprocess
import sys

import numpy as np
from gguf import GGUFReader

MIXES = "Q2_K,Q3_K_S,Q4_K_S,Q5_K_S,Q6_K,IQ4_NL,IQ4_XS,Q4_0,Q4_1,Q5_0,Q5_1,Q8_0"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--types", default=MIXES)
    a = ap.parse_args()
    if not os.path.exists(a.lib):
        print(f"SKIPPED: {a.lib} not found")
        return 77
    lib = ctypes.CDLL(a.lib)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_quantize_init.argtypes = [ctypes.c_int]

    src = {t.name: t for t in GGUFReader(a.model).tensors}
    failed = False
    for mix in a.types.split(","):
        out = os.path.join(a.workdir, f"ggml_cmp_{mix}.gguf")
        proc = subprocess.run([a.run, "quantize", "-q", "-t", "2", "--pure", a.model, out, mix], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAIL {mix}: actinfer quantize exited with {proc.returncode}: {proc.stderr.strip()}")
            failed = True
            continue
        same = total = 0
        for t in GGUFReader(out).tensors:
            s = src[t.name]
            if t.tensor_type == s.tensor_type:
                continue
            x = np.ascontiguousarray(np.asarray(s.data, np.float32).reshape(-1, int(s.shape[0])))
            lib.ggml_quantize_init(int(t.tensor_type))
            buf = np.zeros(x.size * 4, np.uint8)
            n = lib.ggml_quantize_chunk(int(t.tensor_type), x.ctypes.data, buf.ctypes.data, 0, x.shape[0], x.shape[1], None)
            got = np.asarray(t.data).view(np.uint8).reshape(-1)
            total += 1
            if n == got.size and np.array_equal(buf[:n], got):
                same += 1
            else:
                diff = int(np.count_nonzero(buf[:n] != got)) if n == got.size else -1
                print(f"FAIL {mix}: {t.name} ({t.tensor_type.name}) differs from ggml_quantize_chunk in {diff} bytes")
                failed = True
        print(f"{mix}: {same}/{total} tensors byte-identical to llama.cpp's ggml_quantize_chunk")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
