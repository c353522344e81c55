#!/usr/bin/env python3
"""Interop check: files written by mm1conv are read by the real `safetensors` package and numpy.

Usage: python Tests/Interop/check_safetensors.py DIR, where DIR is $MM1_INTEROP_DIR/safetensors as written by
InteropOutputTests during `MM1_INTEROP_DIR=... swift test`. Needs numpy, safetensors, ml_dtypes. Exits non-zero on
any mismatch.
"""
import hashlib
import json
import os
import sys

import ml_dtypes
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

DIR = sys.argv[1]
expected = json.load(open(os.path.join(DIR, "expected.json")))
check = Checks("interop")


# 1. Every tensor: dtype, shape and bytes as mm1conv meant them, read through safe_open (Rust reader).
numpy_names = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16", "F16": "float16",
               "U32": "uint32", "I32": "int32", "F32": "float32", "F64": "float64", "U64": "uint64", "I64": "int64"}
by_file = {}
for key, meta in expected.items():
    file, name = key.split(":", 1)
    by_file.setdefault(file, {})[name] = meta
for file, tensors in sorted(by_file.items()):
    with safe_open(os.path.join(DIR, file), framework="numpy") as f:
        check(sorted(f.keys()) == sorted(tensors), f"{file}: tensor names")
        md = f.metadata()
        check(md is not None and md.get("format") == "pt", f"{file}: metadata format=pt ({md})")
        for name, meta in tensors.items():
            sl = f.get_slice(name)
            check(sl.get_dtype() == meta["dtype"], f"{file}:{name} dtype {sl.get_dtype()} != {meta['dtype']}")
            check(list(sl.get_shape()) == meta["shape"], f"{file}:{name} shape {sl.get_shape()} != {meta['shape']}")
            if meta["dtype"] in numpy_names:
                arr = f.get_tensor(name)
                check(arr.dtype == np.dtype(numpy_names[meta["dtype"]]), f"{file}:{name} numpy dtype")
                check(hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest() == meta["sha256"], f"{file}:{name} bytes")

# 2. mm1conv's conversions of f32 values equal numpy's / ml_dtypes' (round to nearest even), value by value.
raw = open(os.path.join(DIR, "converted.safetensors"), "rb").read()
n = int.from_bytes(raw[:8], "little")
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]


def tensor(name, dtype):
    b, e = header[name]["data_offsets"]
    return np.frombuffer(data[b:e], dtype=dtype)


src = tensor("source", np.float32)
for st, dt in [("F16", np.float16), ("BF16", ml_dtypes.bfloat16), ("F8_E4M3", ml_dtypes.float8_e4m3fn),
               ("F8_E5M2", ml_dtypes.float8_e5m2), ("F64", np.float64), ("F32", np.float32)]:
    ours = tensor(f"as.{st}", dt)
    theirs = src.astype(dt)
    for i, (a, b) in enumerate(zip(ours.view(np.uint8 if dt(0).nbytes == 1 else f"u{dt(0).nbytes}"),
                                   theirs.view(np.uint8 if dt(0).nbytes == 1 else f"u{dt(0).nbytes}"))):
        check(a == b, f"as.{st}[{i}]: {src[i]} -> ours {a:#x}, numpy/ml_dtypes {b:#x}")

# 3. The sharded set: the index names every tensor, and load_file of each shard agrees.
index = json.load(open(os.path.join(DIR, "sharded.safetensors.index.json")))
check(sorted(index["weight_map"]) == sorted(k.split(":", 1)[1] for k in expected if k.startswith("sharded-")), "index weight_map")
total = sum(os.path.getsize(os.path.join(DIR, s)) for s in set(index["weight_map"].values()))
check(index["metadata"]["total_size"] == sum(v.nbytes for s in set(index["weight_map"].values())
                                                 for v in load_file(os.path.join(DIR, s)).values()), "index total_size")

check.finish()
