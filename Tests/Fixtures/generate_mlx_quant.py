#!/usr/bin/env python3
"""Golden MLX quantizations for mm1conv's affine layout: seeded f32 and f16 weights quantized by
`mlx.core.quantize` (affine, bits 4 and 8, groups 32, 64, 128) and what `mlx.core.dequantize` makes of
them. mm1conv's dequantizer, reading MLX's uint32-packed codes as its own bytes (element 2i in the low
nibble), must give the same values bit for bit (f32), and the same values rounded once to f16 (f16).

Writes Tests/Fixtures/quant/mlx.safetensors: `weight.f32` F32 [rows, 256], `weight.f16` F16, and per
case `b{bits}.g{group}.{dtype}.codes` U32, `.scales`, `.biases` (the weight's dtype), `.dequantized`.
Deterministic: /opt/mm1py/bin/python Tests/Fixtures/generate_mlx_quant.py
"""
import os

import mlx.core as mx
import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261129)
w = rng.standard_normal((48, 256)).astype(np.float32) * 0.02
w[3, 17] = 0.9            # an outlier
w[5, :] = 0.0             # a zero row
w[6, :] = 0.125           # a constant row
w[7, 0:32] = np.linspace(-1, 1, 32, dtype=np.float32)
out = {"weight.f32": w, "weight.f16": w.astype(np.float16)}
mx.set_default_device(mx.cpu)
for dtype in ("f32", "f16"):
    x = mx.array(out[f"weight.{dtype}"])
    for bits in (4, 8):
        for group in (32, 64, 128):
            q, s, b = mx.quantize(x, group_size=group, bits=bits)
            d = mx.dequantize(q, s, b, group_size=group, bits=bits)
            key = f"b{bits}.g{group}.{dtype}"
            out[f"{key}.codes"] = np.array(q)
            out[f"{key}.scales"] = np.array(s)
            out[f"{key}.biases"] = np.array(b)
            out[f"{key}.dequantized"] = np.array(d)
save_file(out, os.path.join(HERE, "quant", "mlx.safetensors"),
          metadata={"generator": "Tests/Fixtures/generate_mlx_quant.py", "mlx": mx.__version__})
print(len(out), "tensors; mlx", mx.__version__)
