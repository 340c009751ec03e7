#!/usr/bin/env python3
"""Writes a GPU index file as PowerInfer's powerinfer-py export_split.py does (PyPI gguf
only; no code shared with the engine): arch "generic.gpu_index", per layer an I32 tensor
`blk.N.gpu_idx` of n_ff 0/1 flags and `blk.N.gpu_bucket` (the sorted hot indices),
`generic.gpu_index.block_count`, `split.vram_capacity`; then the header's magic and version
overwritten with b"PWRI", 3, and the tensors' type id written as PowerInfer's gguf-py
numbers I32 (18, where today's ggml says 26).

The hot neurons of layer l: every neuron i with (i * 7 + l) % 3 == 0.

Usage: make_powerinfer_gpu_index.py MODEL.gguf OUT.gguf
"""
import struct
import sys

import numpy as np
from gguf import GGUFReader, GGUFWriter, GGMLQuantizationType as T


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = GGUFReader(sys.argv[1])
    arch = model.get_field("general.architecture").contents()
    n_layer = int(model.get_field(f"{arch}.block_count").contents())
    n_ff = int(model.get_field(f"{arch}.feed_forward_length").contents())
    w = GGUFWriter(sys.argv[2], "generic.gpu_index")
    for l in range(n_layer):
        idx = np.array([1 if (i * 7 + l) % 3 == 0 else 0 for i in range(n_ff)], dtype=np.int32)
        w.add_tensor(f"blk.{l}.gpu_idx", idx, raw_shape=idx.shape[::-1], raw_dtype=T.I32)
        bucket = np.sort(np.nonzero(idx)[0]).astype(np.int32)
        w.add_tensor(f"blk.{l}.gpu_bucket", bucket, raw_shape=bucket.shape[::-1], raw_dtype=T.I32)
    w.add_block_count(n_layer)
    w.add_uint64("split.vram_capacity", 1 << 30)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    r = GGUFReader(sys.argv[2], "r+")
    for t in r.tensors:
        t.field.parts[4][0] = 18  # PowerInfer's I32
    r.data.flush()
    del r
    with open(sys.argv[2], "r+b") as f:
        f.write(struct.pack("<4sI", b"PWRI", 3))


if __name__ == "__main__":
    main()
