#!/usr/bin/env python3
"""The Python peers of mm1bench, printing the same JSON lines.

  peer.py convert bf16|f16 GIB RUNS    numpy astype(float32) (ml_dtypes for bf16)
  peer.py open PATH RUNS               safetensors.safe_open on every shard, listing every tensor
"""
import json
import os
import resource
import sys
import time

import numpy as np


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def report(**fields):
    fields["impl"] = "python"
    fields["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(fields, sort_keys=True))


kind = sys.argv[1]
if kind == "convert":
    import ml_dtypes
    dtype = sys.argv[2]
    gib, runs = float(sys.argv[3]), int(sys.argv[4])
    n = int(gib * (1 << 30)) // 2
    rng = np.random.default_rng(0)
    bits = (rng.integers(0, 0x3FF, n, dtype=np.uint16) | (0x3800 if dtype == "f16" else 0x3F00)).astype(np.uint16)
    src = bits.view(np.float16 if dtype == "f16" else ml_dtypes.bfloat16)
    dst = np.empty(n, dtype=np.float32)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        dst[...] = src.astype(np.float32)
        times.append(time.perf_counter() - t)
    report(bench="convert", dtype=dtype.upper(), bytes=n * 2, median_s=median(times), gib_per_s=n * 2 / (1 << 30) / median(times))
elif kind == "open":
    from safetensors import safe_open
    path, runs = sys.argv[2], int(sys.argv[3])
    shards = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".safetensors"))
    times = []
    count = 0
    for _ in range(runs):
        t = time.perf_counter()
        count = 0
        for s in shards:
            with safe_open(s, framework="numpy") as f:
                for k in f.keys():
                    f.get_slice(k).get_shape()
                    count += 1
        times.append(time.perf_counter() - t)
    report(bench="open", tensors=count, median_s=median(times), min_s=min(times))
