#!/usr/bin/env python3
"""Generate mm1conv's golden test fixtures with the real reference implementations.

Run from anywhere (deterministic: same bytes every run, fixed seeds, no timestamps):

    python Tests/Fixtures/generate_fixtures.py

Needs: torch, numpy, safetensors, huggingface_hub (`pip install torch numpy safetensors huggingface_hub`).
Writes, under Tests/Fixtures/:
  dtypes/*.safetensors     dtype conversion goldens: every f16/bf16/f8 bit pattern -> f32 as torch converts
                           them, f32 -> f16/bf16/f8 rounding goldens (ties, neighbours, random bits),
                           f64 -> f32 and integer -> f32 (numpy's C casts)
  safetensors/*            files written by safetensors.torch.save_file: every dtype, zero-size and
                           scalar tensors, metadata; a sharded set written by huggingface_hub
  MANIFEST.json            SHA-256 of every generated file, with the package versions used
Tests compare against these files; `swift test` never runs Python.
"""
import hashlib
import json
import os
import shutil
import sys

import numpy as np
import safetensors
import torch
from safetensors.numpy import save_file as np_save
from safetensors.torch import save_file as torch_save

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261129


def out(*parts):
    path = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def bits_f32(t):
    """int32 view of a float32 torch tensor, as numpy uint32."""
    return t.contiguous().view(torch.int32).numpy().view(np.uint32)


def dtype_goldens(rng):
    d = {}
    all16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    t16 = torch.from_numpy(all16.view(np.int16))
    # 1. every f16 and bf16 bit pattern -> f32
    d["f16_to_f32"] = {"input": all16, "expected": bits_f32(t16.view(torch.float16).to(torch.float32))}
    d["bf16_to_f32"] = {"input": all16, "expected": bits_f32(t16.view(torch.bfloat16).to(torch.float32))}
    # 2. every f8 bit pattern -> f32
    all8 = np.arange(256, dtype=np.uint8)
    t8 = torch.from_numpy(all8)
    d["f8e4m3_to_f32"] = {"input": all8, "expected": bits_f32(t8.view(torch.float8_e4m3fn).to(torch.float32))}
    d["f8e5m2_to_f32"] = {"input": all8, "expected": bits_f32(t8.view(torch.float8_e5m2).to(torch.float32))}

    # 3. f32 -> narrow floats: every representable value, exact ties between neighbours, one f32 ulp
    #    either side of each tie, and random bit patterns (NaNs, subnormals, huge values included).
    def probes(values_f32):
        v = np.unique(values_f32[np.isfinite(values_f32)].astype(np.float64))
        mids = ((v[:-1] + v[1:]) / 2).astype(np.float32)  # exact in f32 for these formats
        mb = mids.view(np.uint32)
        rand = rng.integers(0, 2**32, size=65536, dtype=np.uint64).astype(np.uint32)
        special = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
                            0x7FFFFFFF, 0xFFFFFFFF, 0x00000001, 0x807FFFFF, 0x477FF000, 0x477FEFFF,
                            0x47800000, 0x43E00000, 0x43F00000, 0x43EFFFFF, 0x47600000, 0x47700000], dtype=np.uint32)
        allb = np.concatenate([v.astype(np.float32).view(np.uint32), mb, mb + 1, mb - 1, rand, special])
        return allb
    f16vals = all16.view(np.float16).astype(np.float32)
    bf16vals = (all16.astype(np.uint32) << 16).view(np.float32)
    e4m3vals = t8.view(torch.float8_e4m3fn).to(torch.float32).numpy()
    e5m2vals = t8.view(torch.float8_e5m2).to(torch.float32).numpy()
    for name, vals, tdtype, view in [("f32_to_f16", f16vals, torch.float16, torch.int16),
                                     ("f32_to_bf16", bf16vals, torch.bfloat16, torch.int16),
                                     ("f32_to_f8e4m3", e4m3vals, torch.float8_e4m3fn, torch.uint8),
                                     ("f32_to_f8e5m2", e5m2vals, torch.float8_e5m2, torch.uint8)]:
        inp = probes(vals)
        res = torch.from_numpy(inp.view(np.float32)).to(tdtype).view(view).numpy()
        res = res.view(np.uint16) if view == torch.int16 else res
        d[name] = {"input": inp, "expected": res}

    # 4. f64 -> f32 (round to nearest even; torch) and integers -> f32 (numpy's C casts)
    f64 = np.concatenate([rng.standard_normal(4096) * 10.0 ** rng.integers(-45, 39, 4096),
                          np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 1e-300, 3.4028235677973366e38,
                                    1.0000000596046448, 1.0000001788139343])])
    d["f64_to_f32"] = {"input": f64, "expected": bits_f32(torch.from_numpy(f64).to(torch.float32))}
    for np_t in [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]:
        info = np.iinfo(np_t)
        vals = rng.integers(info.min, info.max, size=4096, dtype=np_t, endpoint=True)
        vals = np.concatenate([vals, np.array([info.min, info.max, 0, 1], dtype=np_t)])
        if np_t in (np.int32, np.uint32, np.int64, np.uint64):  # ties of the f32 rounding
            base = np.array([2**24 + 1, 2**24 + 3, 2**25 + 2, 2**31 - 1], dtype=np.uint64).astype(np_t)
            vals = np.concatenate([vals, base])
        d[f"{np.dtype(np_t).name}_to_f32"] = {"input": vals, "expected": vals.astype(np.float32).view(np.uint32)}
    for name, tensors in d.items():
        np_save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, out("dtypes", f"{name}.safetensors"),
                metadata={"generator": f"generate_fixtures.py torch={torch.__version__} numpy={np.__version__}"})


def sample_tensors():
    """One tensor per dtype, plus zero-size and scalar tensors, with deterministic values."""
    g = torch.Generator().manual_seed(SEED)
    base = torch.randn(3, 5, generator=g) * 4
    t = {
        "f32": base.clone(),
        "f64": base.double() / 3,
        "f16": base.half(),
        "bf16": base.bfloat16(),
        "f8_e4m3": base.to(torch.float8_e4m3fn),
        "f8_e5m2": base.to(torch.float8_e5m2),
        "i8": torch.arange(-7, 8, dtype=torch.int8).reshape(3, 5),
        "u8": torch.arange(240, 255, dtype=torch.uint8).reshape(3, 5),
        "i16": (torch.arange(15, dtype=torch.int16) * -2100).reshape(3, 5),
        "u16": (torch.arange(15, dtype=torch.int32) * 4000).to(torch.uint16).reshape(3, 5),
        "i32": (torch.arange(15, dtype=torch.int32) * -123456789).reshape(3, 5),
        "u32": (torch.arange(15, dtype=torch.int64) * 286331153).to(torch.uint32).reshape(3, 5),
        "i64": (torch.arange(15, dtype=torch.int64) * -614891469123651720).reshape(3, 5),
        "u64": torch.arange(15, dtype=torch.int64).to(torch.uint64).reshape(3, 5),
        "bool": (base > 0),
        "empty.rows": torch.zeros(2, 0),
        "empty.both": torch.zeros(0, 0, dtype=torch.float16),
        "scalar": torch.tensor(3.25),
        "vector": torch.arange(7, dtype=torch.float32),
        "model.layers.0.self_attn.q_proj.weight": torch.randn(8, 4, generator=g).bfloat16(),
    }
    return t


def safetensors_fixtures():
    t = sample_tensors()
    # One key only: the Rust writer emits __metadata__ in hash order, which differs between runs
    # as soon as there are two keys (mm1conv's writer sorts them).
    meta = {"generator": f"generate_fixtures.py seed={SEED}"}
    torch_save(t, out("safetensors", "all_dtypes.safetensors"), metadata=meta)
    # The same tensors with only {"format": "pt"}: mm1conv's writer must reproduce this file byte for byte.
    torch_save(t, out("safetensors", "all_dtypes_pt.safetensors"), metadata={"format": "pt"})
    # Expected f32 values of every convertible tensor, as torch converts them.
    expected = {k: v.to(torch.float32).contiguous() for k, v in t.items()}
    torch_save(expected, out("safetensors", "all_dtypes.expected_f32.safetensors"))
    torch_save({}, out("safetensors", "empty.safetensors"))

    # A sharded set, written by huggingface_hub's real sharding writer.
    from huggingface_hub import save_torch_state_dict
    g = torch.Generator().manual_seed(SEED + 1)
    sd = {f"model.layers.{i}.mlp.up_proj.weight": torch.randn(64, 32, generator=g).bfloat16() for i in range(4)}
    sd["model.embed_tokens.weight"] = torch.randn(100, 32, generator=g).bfloat16()
    sd["model.norm.weight"] = torch.ones(32)
    folder = out("safetensors", "sharded", "x")[:-2]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    save_torch_state_dict(sd, folder, max_shard_size=10_000)


def manifest():
    files = {}
    for root, _, names in os.walk(HERE):
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, HERE)
            if rel.startswith(("malformed", "MANIFEST")) or n.endswith((".py", ".md")) or "__pycache__" in rel:
                continue
            files[rel] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    import huggingface_hub
    doc = {"generator": "Tests/Fixtures/generate_fixtures.py", "seed": SEED,
           "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
                        "safetensors": safetensors.__version__, "huggingface_hub": huggingface_hub.__version__},
           "files": dict(sorted(files.items()))}
    with open(out("MANIFEST.json"), "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    torch.manual_seed(SEED)
    dtype_goldens(np.random.default_rng(SEED))
    safetensors_fixtures()
    manifest()
    print("fixtures written under", HERE)
