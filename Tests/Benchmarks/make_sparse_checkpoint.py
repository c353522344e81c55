#!/usr/bin/env python3
"""Create a 30B-shaped sharded safetensors checkpoint as sparse files (valid headers, zero data):
SHARDS shards of about SHARD_GB each, ~1,000 tensors in all, plus an HF index. Uses no disk for data.

  make_sparse_checkpoint.py DIR [SHARDS=7] [SHARD_GB=8]
"""
import json
import os
import struct
import sys

out = sys.argv[1]
shards = int(sys.argv[2]) if len(sys.argv) > 2 else 7
shard_bytes = int(float(sys.argv[3]) * 1e9) if len(sys.argv) > 3 else 8_000_000_000
os.makedirs(out, exist_ok=True)
H, I = 6656, 17920  # 30B-like widths (LLaMA-30B), bf16
shapes = {"self_attn.q_proj.weight": [H, H], "self_attn.k_proj.weight": [H, H], "self_attn.v_proj.weight": [H, H],
          "self_attn.o_proj.weight": [H, H], "mlp.gate_proj.weight": [I, H], "mlp.up_proj.weight": [I, H],
          "mlp.down_proj.weight": [H, I], "input_layernorm.weight": [H], "post_attention_layernorm.weight": [H]}
tensors = []
for layer in range(60):
    for k, s in shapes.items():
        tensors.append((f"model.layers.{layer}.{k}", s))
tensors += [("model.embed_tokens.weight", [32000, H]), ("lm_head.weight", [32000, H]), ("model.norm.weight", [H])]
per = -(-len(tensors) // shards)
weight_map, total = {}, 0
for i in range(shards):
    name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
    header, off = {"__metadata__": {"format": "pt"}}, 0
    part = tensors[i * per:(i + 1) * per]
    for t, s in part:
        n = 2
        for d in s:
            n *= d
        header[t] = {"dtype": "BF16", "shape": s, "data_offsets": [off, off + n]}
        off += n
        weight_map[t] = name
    total += off
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.truncate(8 + len(h) + off)
with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
print(f"{len(tensors)} tensors, {total / 1e9:.1f} GB in {shards} sparse shards under {out}")
