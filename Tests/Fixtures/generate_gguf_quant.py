#!/usr/bin/env python3
"""Golden blocks for mm1conv's Q8_0 / Q4_0 quantizers: seeded f32 rows (Gaussian, outliers, zeros, a constant
row, ties for the largest magnitude with both signs, f16-overflowing and subnormal scales) and the exact bytes
gguf-py's `gguf.quants.quantize` makes of them (bit-exact with ggml's quantize_row_q8_0_ref / q4_0_ref).

Writes Tests/Fixtures/gguf/quantize.safetensors: `source` F32 [rows, 256]; `q8_0`, `q4_0` U8 [rows, bytes per row].
Deterministic: /opt/mm1py/bin/python Tests/Fixtures/generate_gguf_quant.py
"""
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261129)
rows = [rng.standard_normal(256).astype(np.float32) for _ in range(8)]
rows.append(np.zeros(256, np.float32))
rows.append(np.full(256, 0.3, np.float32))
r = rng.standard_normal(256).astype(np.float32); r[5] = 40.0; r[200] = -55.0; rows.append(r)
r = rng.standard_normal(256).astype(np.float32); r[3], r[9] = 2.5, -2.5; r[40], r[41] = -3.0, 3.0; rows.append(r)  # ties, both signs first
rows.append((rng.standard_normal(256) * 1e5).astype(np.float32))       # scales beyond f16's range
rows.append((rng.standard_normal(256) * 1e-6).astype(np.float32))      # subnormal f16 scales
rows.append(np.linspace(-1, 1, 256, dtype=np.float32))
source = np.stack(rows)
out = {"source": source}
for name, kind in (("q8_0", T.Q8_0), ("q4_0", T.Q4_0)):
    out[name] = np.ascontiguousarray(quantize(source, kind)).view(np.uint8)
save_file(out, os.path.join(HERE, "gguf", "quantize.safetensors"), metadata={"generator": "Tests/Fixtures/generate_gguf_quant.py"})
print({k: v.shape for k, v in out.items()})
