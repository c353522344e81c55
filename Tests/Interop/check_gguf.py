#!/usr/bin/env python3
"""Read the GGUF files mm1conv exported during `swift test` with gguf-py (the reference Python reader) and check
every tensor against the package it came from: names and types as llama.cpp expects, q/k rows permuted exactly as
convert_hf_to_gguf.py's LlamaModel.permute does, F32/F16 values exact, IQ4_NL blocks checked against the format (gguf-py dequantizes them to d·grid[n], each code the nearest level), and Q8_0/Q4_0 blocks byte-identical to
gguf-py's own `gguf.quants.quantize` of the same (permuted) weights.

Usage: python Tests/Interop/check_gguf.py INTEROP_DIR   (needs gguf, numpy, safetensors)
"""
import glob
import json
import os
import sys

import numpy as np
import gguf
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
check = Checks("gguf")


def permute(w, n_head):  # convert_hf_to_gguf.py LlamaModel.permute, in numpy
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# The canonical tiny-dense tensors are exactly what the sample package holds (its weights are bf16-exact).
canonical = load_file(os.path.join(ROOT, "Tests", "Fixtures", "dialects", "canonical-tiny-dense.safetensors"))
config = json.load(open(os.path.join(ROOT, "Tests", "Fixtures", "dialects", "canonical-tiny-dense.config.json")))["language"]
names = {"language.embed_tokens.weight": "token_embd.weight", "language.norm.weight": "output_norm.weight",
         "language.lm_head.weight": "output.weight"}
for i in range(config["layers"]):
    for a, b in (("attention_norm.weight", "attn_norm.weight"), ("mlp_norm.weight", "ffn_norm.weight"),
                 ("attention.q.weight", "attn_q.weight"), ("attention.k.weight", "attn_k.weight"),
                 ("attention.v.weight", "attn_v.weight"), ("attention.o.weight", "attn_output.weight"),
                 ("mlp.gate.weight", "ffn_gate.weight"), ("mlp.up.weight", "ffn_up.weight"), ("mlp.down.weight", "ffn_down.weight")):
        names[f"language.layers.{i}.{a}"] = f"blk.{i}.{b}"

files = sorted(glob.glob(os.path.join(sys.argv[1], "gguf", "tiny-*.gguf")))
check(len(files) == 5, f"expected the 5 exported files, found {[os.path.basename(f) for f in files]}")
GRID = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], dtype=np.float32)  # kvalues_iq4nl
for path in files:
    reader = gguf.GGUFReader(path)
    label = os.path.basename(path)
    kv = {f.name: f for f in reader.fields.values()}
    check(bytes(kv["general.architecture"].parts[-1]).decode() == "llama", f"{label}: architecture")
    check(int(kv["llama.attention.head_count_kv"].parts[-1][0]) == config["kv_heads"], f"{label}: head_count_kv")
    tensors = {t.name: t for t in reader.tensors}
    check(sorted(tensors) == sorted(names.values()), f"{label}: tensor names")
    for canon, name in names.items():
        t = tensors.get(name)
        if t is None:
            continue
        want = canonical[canon].astype(np.float32)
        if name.endswith("attn_q.weight"):
            want = permute(want, config["heads"])
        elif name.endswith("attn_k.weight"):
            want = permute(want, config["kv_heads"])
        kind = t.tensor_type
        if kind in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0):
            ref = np.ascontiguousarray(quantize(want, kind)).view(np.uint8).reshape(-1)
            check(np.array_equal(np.asarray(t.data).view(np.uint8).reshape(-1), ref), f"{label}: {name} {kind.name} blocks differ from gguf-py's")
        elif kind == gguf.GGMLQuantizationType.IQ4_NL:
            # gguf-py cannot quantize IQ4_NL: check the blocks against the format's definition instead. gguf-py's
            # dequantize gives d·grid[n]; every code is the level nearest to x / d; the error is that of a 4-bit grid.
            blocks = np.asarray(t.data).view(np.uint8).reshape(-1, 18)
            d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
            codes = np.concatenate([blocks[:, 2:] & 15, blocks[:, 2:] >> 4], axis=1)
            deq = dequantize(np.asarray(t.data), kind).reshape(-1, 32)
            check(np.array_equal(deq, d * GRID[codes]), f"{label}: {name} gguf-py's IQ4_NL values are not d·grid[n]")
            x = want.reshape(-1, 32) / np.where(d == 0, 1, d)
            nearest = np.abs(x[:, :, None] - GRID[None, None, :]).min(-1)
            check(np.all(np.abs(x - GRID[codes]) <= nearest + 1e-4), f"{label}: {name} has codes that are not the nearest level")
            rel = float(np.sqrt(((deq - want.reshape(-1, 32)) ** 2).mean() / (want ** 2).mean()))
            check(rel < 0.12, f"{label}: {name} relative RMSE {rel:.3f}")
        else:
            got = np.asarray(t.data).astype(np.float32).reshape(want.shape)
            check(np.array_equal(got, want), f"{label}: {name} {kind.name} values")
check.finish()
