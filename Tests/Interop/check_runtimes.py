#!/usr/bin/env python3
"""The runtimes load mm1conv's exports and compute what mm1conv computes.

Reads what QuantizedExportTests left in INTEROP_DIR/runtimes during `swift test`: the sample quantized four
ways (int8 symmetric g32, int4 symmetric g32, int4 nonlinear g32, int4 affine g64 with searched scales), each
exported as GGUF (Q8_0 / Q4_0 / IQ4_NL blocks carried over; affine requantized to Q4_0) and in MLX's layout
(nonlinear requantized to affine), the unquantized sample as
F32 GGUF, mm1conv's text-only logits for one token sequence on each package, and mm1conv's dequantized
decoder weights.

- gguf-py: `gguf.quants.dequantize` of every block-quantized tensor of each GGUF (Q8_0, Q4_0, IQ4_NL) equals
  what mm1conv's GGUF reader gives for it, bit for bit.
- mlx: `mlx.core.dequantize` of every exported quantized weight (scales and biases in f32) equals mm1conv's
  dequantized weight exactly.
- mlx-lm: `mlx_lm.utils.load_model` loads each export; run in f32 on the token ids, its logits match ours
  within 1e-4 of the largest logit (same weights, f32 arithmetic in both). Also an all-MoE decoder (4 experts,
  top 2; synthetic weights) quantized to int4, loaded as mixtral.
- llama.cpp (llama-cpp-python): loads each GGUF and evaluates the token ids (f32 KV cache); F32 logits match ours
  within 1e-4 of the largest logit. For Q8_0 / Q4_0, llama.cpp quantizes the activations too (to Q8 blocks) in its dot
  products, so the logits differ by more: within 3e-2 (Q8_0) / 6e-2 (Q4_0) of the largest logit, with the same
  top-1 token at >= 90 % of positions — on the very Q8_0 / Q4_0 blocks the packages hold, so that gap is
  activation quantization alone. The all-MoE decoder loads in llama.cpp's expert-stacked layout (ffn_*_exps) in
  F32 (within 1e-4) and with its int4 experts carried as Q4_0 (within 6e-2). The nonlinear package's IQ4_NL
  blocks: within 6e-2, top-1 >= 90 % (llama.cpp quantizes activations to Q8 blocks for IQ4_NL as for Q4_0). The affine package's GGUF (requantized to Q4_0) must load and give finite
  logits; its drift is printed. A model whose package carries a byte-level BPE tokenizer (Tests/Fixtures/tokenizer)
  exports it as tokenizer.ggml.*: llama.cpp tokenizes every sample string exactly as `tokenizers` does and computes our
  logits for one of them; likewise a SentencePiece BPE tokenizer.model (Tests/Fixtures/tokenizer-spm), tokenized as
  the sentencepiece library does. Measured values are printed.

Usage: python Tests/Interop/check_runtimes.py INTEROP_DIR   (needs mlx, mlx-lm, llama-cpp-python, safetensors)
"""
import os
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

check = Checks("runtimes")
root = Path(sys.argv[1]) / "runtimes"


def compare(label, theirs, ours, tolerance, top1=None):
    scaled = float(np.abs(theirs - ours).max() / np.abs(ours).max())
    agree = float((theirs.argmax(-1) == ours.argmax(-1)).mean())
    print(f"{label}: max|Δ|/max|ours| {scaled:.2e}, top-1 agreement {agree * 100:.1f}%")
    check(scaled <= tolerance, f"{label}: scaled error {scaled:.2e} > {tolerance}")
    if top1 is not None:
        check(agree >= top1, f"{label}: top-1 agreement {agree:.3f} < {top1}")


names = ["int8", "int4", "int4-affine"]
logits = {n: load_file(str(root / f"logits-{n}.safetensors")) for n in names + ["int4-nonlinear", "f32", "moe-f32", "moe-int4", "tok-f32", "tok-spm-f32"]}
ids = [int(i) for i in logits["f32"]["ids"]]

# gguf-py reads our block-quantized tensors as our reader does.
import gguf  # noqa: E402
from gguf.quants import dequantize as gguf_dequantize  # noqa: E402

for name in names + ["int4-nonlinear"]:
    reader = gguf.GGUFReader(str(root / f"{name}.gguf"))
    ours = load_file(str(root / f"gguf-dequantized-{name}.safetensors"))
    types = {}
    for t in reader.tensors:
        if t.name not in ours:
            continue
        theirs = gguf_dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        same = np.array_equal(theirs.view(np.uint32), ours[t.name].view(np.uint32))
        check(same, f"{name}: gguf-py dequantizes {t.name} ({t.tensor_type.name}) differently")
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    print(f"{name}.gguf: gguf-py dequantizes {sum(types.values())} block tensors as mm1conv does: {types}")
    check(sum(types.values()) >= 28, f"{name}: only {sum(types.values())} block tensors compared")
check(any(t.tensor_type.name == "IQ4_NL" for t in gguf.GGUFReader(str(root / "int4-nonlinear.gguf")).tensors),
      "int4-nonlinear.gguf holds no IQ4_NL tensor")

# mlx and mlx-lm
import mlx.core as mx  # noqa: E402
from mlx.utils import tree_map  # noqa: E402
from mlx_lm.utils import load_model  # noqa: E402

mx.set_default_device(mx.cpu)
for name in names:
    folder = root / f"{name}-mlx"
    weights = mx.load(str(folder / "model.safetensors"))
    expected = load_file(str(root / f"dequantized-{name}.safetensors"))
    model, config = load_model(folder)
    q = config["quantization"]
    count = 0
    for key, want in expected.items():
        base = key[: -len(".weight")]
        spec = q.get(base, q)
        w = mx.dequantize(weights[key], weights[base + ".scales"].astype(mx.float32), weights[base + ".biases"].astype(mx.float32),
                          group_size=spec["group_size"], bits=spec["bits"])
        same = np.array_equal(np.array(w), want)
        check(same, f"{name}: mx.dequantize({key}) differs from mm1conv's dequantized weight")
        count += same
    print(f"{name}: {count} of {len(expected)} quantized weights dequantize identically in mlx")
    check(count >= 28, f"{name}: only {count} quantized weights checked")
    model.update(tree_map(lambda p: p.astype(mx.float32) if p.dtype in (mx.float16, mx.bfloat16) else p, model.parameters()))
    out = np.array(model(mx.array([ids]))[0])
    compare(f"mlx-lm {name}", out, logits[name]["logits"], 1e-4)

# The nonlinear package's MLX export was requantized (MLX has no nonlinear levels): it loads and computes finite
# logits; the drift from the package is printed.
model, config = load_model(root / "int4-nonlinear-mlx")
model.update(tree_map(lambda p: p.astype(mx.float32) if p.dtype in (mx.float16, mx.bfloat16) else p, model.parameters()))
out = np.array(model(mx.array([ids]))[0])
ours = logits["int4-nonlinear"]["logits"]
check(np.isfinite(out).all() and out.shape == ours.shape, "mlx-lm int4-nonlinear: no finite logits of the right shape")
print(f"mlx-lm int4-nonlinear (requantized to affine g32): max|Δ|/max|ours| {float(np.abs(out - ours).max() / np.abs(ours).max()):.2e}")

# The all-MoE decoder (4 experts, top 2) as mixtral: experts stacked under switch_mlp, int4 g32.
model, config = load_model(root / "moe-int4-mlx")
check(config["model_type"] == "mixtral", "moe export is not mixtral")
model.update(tree_map(lambda p: p.astype(mx.float32) if p.dtype in (mx.float16, mx.bfloat16) else p, model.parameters()))
compare("mlx-lm moe-int4 (mixtral)", np.array(model(mx.array([ids]))[0]), logits["moe-int4"]["logits"], 1e-4)

# llama.cpp
from llama_cpp import Llama  # noqa: E402

for name, tolerance in [("f32", 1e-4), ("moe-f32", 1e-4), ("int8", 3e-2), ("int4", 6e-2), ("int4-nonlinear", 6e-2), ("moe-int4", 6e-2),
                        ("int4-affine", None)]:
    # An f32 KV cache (GGML_TYPE_F32 = 0): llama.cpp's default f16 cache alone would cost ~5e-4.
    llm = Llama(model_path=str(root / f"{name}.gguf"), n_ctx=64, logits_all=True, verbose=False, n_threads=2, type_k=0, type_v=0)
    llm.eval(ids)
    out = np.array(llm.scores[: len(ids)], dtype=np.float32)
    ours = logits[name]["logits"]
    if tolerance is None:
        # Affine int4 has no GGUF equivalent: the export requantized it to Q4_0, so the drift from the package
        # includes that requantization. Checked: it loads and computes finite logits; the drift is printed.
        check(np.isfinite(out).all() and out.shape == ours.shape, f"llama.cpp {name}: no finite logits of the right shape")
        print(f"llama.cpp {name} (requantized to Q4_0): max|Δ|/max|ours| {float(np.abs(out - ours).max() / np.abs(ours).max()):.2e}")
    else:
        compare(f"llama.cpp {name}", out, ours, tolerance, top1=0.9)
    del llm

# The tokenizers carried from the source: a byte-level BPE tokenizer.json (Tests/Fixtures/tokenizer) and a SentencePiece
# BPE tokenizer.model (Tests/Fixtures/tokenizer-spm). llama.cpp tokenizes every sample string exactly as `tokenizers`
# (sentencepiece) does, and computes our logits for one of them.
import json  # noqa: E402
for fixture, name, reference in [("tokenizer", "tok-f32", "tokenizers"), ("tokenizer-spm", "tok-spm-f32", "sentencepiece")]:
    expected = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", fixture, "expected.json")))
    llm = Llama(model_path=str(root / f"{name}.gguf"), n_ctx=64, logits_all=True, verbose=False, n_threads=2, type_k=0, type_v=0)
    for text, ids in expected.items():
        got = llm.tokenize(text.encode(), add_bos=False, special=False)
        check(got == ids, f"llama.cpp tokenizes {text!r} as {got}, {reference} as {ids}")
    print(f"llama.cpp {fixture}: {len(expected)} strings tokenized as {reference} does")
    sample = [int(i) for i in logits[name]["ids"]]
    check(sample == llm.tokenize("MM1 converts vision and language weights".encode(), add_bos=False, special=False), f"{name}: sample ids")
    llm.eval(sample)
    compare(f"llama.cpp {name}", np.array(llm.scores[: len(sample)], dtype=np.float32), logits[name]["logits"], 1e-4, top1=0.9)
    del llm

check.finish()
