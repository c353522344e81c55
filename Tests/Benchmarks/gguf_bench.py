#!/usr/bin/env python3
"""GGUF benchmark (issue 6): open + dequantize every tensor of a >= 1 GB Q8_0/Q4_0 file, gguf-py vs mm1conv.

  make PATH          write PATH with gguf-py (GGUFWriter + gguf.quants.quantize): 10 Q8_0 and 10 Q4_0 tensors of
                     8192 x 8192 seeded Gaussian weights (1.34 G weights, 1.09 GB)
  read PATH RUNS     time GGUFReader(PATH) + gguf.quants.dequantize of every tensor (median of RUNS), one JSON line
"""
import json
import statistics
import sys
import time

import numpy as np
import gguf
from gguf.quants import dequantize, quantize


def make(path):
    rng = np.random.default_rng(20261129)
    writer = gguf.GGUFWriter(path, "llama")
    for i in range(20):
        kind = gguf.GGMLQuantizationType.Q8_0 if i < 10 else gguf.GGMLQuantizationType.Q4_0
        data = rng.standard_normal((8192, 8192), dtype=np.float32)
        q = quantize(data, kind)
        writer.add_tensor(f"t{i:02d}.{kind.name}", q, raw_shape=q.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def read(path, runs):
    def once():
        reader = gguf.GGUFReader(path)
        weights = 0
        for t in reader.tensors:
            values = dequantize(t.data, t.tensor_type)
            weights += values.size
        return weights
    once()  # warm the page cache
    times, weights = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        weights = once()
        times.append(time.perf_counter() - start)
    print(json.dumps({"impl": "gguf-py", "bench": "gguf", "median_s": statistics.median(times), "weights": weights,
                      "gguf": getattr(gguf, "__version__", "?")}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        read(sys.argv[2], int(sys.argv[3]))
