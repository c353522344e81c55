#!/usr/bin/env python3
"""Create an MM1-30B-shaped sharded safetensors checkpoint as sparse files (valid headers, zero data):
shards of at most MAX_SHARD_GB (split in model order, as save_pretrained's max_shard_size does; 7 shards at the
default), 1,151 tensors (66.5 GB of bf16) in all, plus an HF index. Uses no disk for data.

  make_sparse_checkpoint.py DIR [MAX_SHARD_GB=10] [--sorted]

By default headers and index list tensors in model order (torch's state_dict order), which a reader that
wants name order must sort: the hard case. With --sorted they are laid out as save_pretrained writes them:
each header by name (the safetensors writer's order for one dtype, offsets in that order) and the index
with sorted keys.
"""
import json
import os
import struct
import sys

args = [a for a in sys.argv[1:] if a != "--sorted"]
as_written = "--sorted" in sys.argv
out = args[0]
limit = int(float(args[1]) * 1e9) if len(args) > 1 else 10_000_000_000
os.makedirs(out, exist_ok=True)
# MM1-30B's shape in Honeybee's names: a ViT-H/14 image encoder at 378 px (32 layers, width 1280), a C-Abstractor
# (two RegNet stages of 3 blocks, 144 tokens) and a LLaMA-30B-sized decoder (60 layers, width 6656): 1,151 tensors.
# Tensors are listed in model order (not sorted), as torch's state_dict gives them.
V, VI, VL, P = 1280, 5120, 32, 27 * 27 + 1
tensors = [("vision_model.vision_model.embeddings.class_embedding", [V]),
           ("vision_model.vision_model.embeddings.patch_embedding.weight", [V, 3, 14, 14]),
           ("vision_model.vision_model.embeddings.position_embedding.weight", [P, V]),
           ("vision_model.vision_model.pre_layrnorm.weight", [V]), ("vision_model.vision_model.pre_layrnorm.bias", [V])]
for layer in range(VL):
    for k, s in [("self_attn.k_proj", [V, V]), ("self_attn.v_proj", [V, V]), ("self_attn.q_proj", [V, V]),
                 ("self_attn.out_proj", [V, V]), ("layer_norm1", None), ("mlp.fc1", [VI, V]), ("mlp.fc2", [V, VI]),
                 ("layer_norm2", None)]:
        tensors.append((f"vision_model.vision_model.encoder.layers.{layer}.{k}.weight", s or [V]))
        tensors.append((f"vision_model.vision_model.encoder.layers.{layer}.{k}.bias", [s[0]] if s else [V]))
tensors += [("vision_model.vision_model.post_layernorm.weight", [V]), ("vision_model.vision_model.post_layernorm.bias", [V])]
H, I = 6656, 17920  # LLaMA-30B widths, bf16
tensors.append(("abstractor.pos_emb", [1, P, V]))
for net in (0, 2):
    for b in (1, 2, 3):
        block = f"abstractor.net.{net}.b{b}."
        if b == 1:
            tensors += [(block + "downsample.conv.weight", [V, V, 1, 1]), (block + "downsample.bn.weight", [V]),
                        (block + "downsample.bn.bias", [V])]
        for conv, shape in [("conv1", [V, V, 1, 1]), ("conv2", [V, 1, 3, 3]), ("conv3", [V, V, 1, 1])]:
            tensors += [(block + conv + ".conv.weight", shape), (block + conv + ".bn.weight", [V]), (block + conv + ".bn.bias", [V])]
        tensors += [(block + "se.fc1.weight", [V // 4, V, 1, 1]), (block + "se.fc1.bias", [V // 4]),
                    (block + "se.fc2.weight", [V, V // 4, 1, 1]), (block + "se.fc2.bias", [V])]
tensors += [("abstractor.readout.0.weight", [H, V]), ("abstractor.readout.0.bias", [H]),
            ("abstractor.readout.2.weight", [H, H]), ("abstractor.readout.2.bias", [H])]
tensors.append(("language_model.model.embed_tokens.weight", [32000, H]))
for layer in range(60):
    for k, s in [("self_attn.q_proj.weight", [H, H]), ("self_attn.k_proj.weight", [H, H]), ("self_attn.v_proj.weight", [H, H]),
                 ("self_attn.o_proj.weight", [H, H]), ("mlp.gate_proj.weight", [I, H]), ("mlp.up_proj.weight", [I, H]),
                 ("mlp.down_proj.weight", [H, I]), ("input_layernorm.weight", [H]), ("post_attention_layernorm.weight", [H])]:
        tensors.append((f"language_model.model.layers.{layer}.{k}", s))
tensors += [("language_model.model.norm.weight", [H]), ("language_model.lm_head.weight", [32000, H])]
def nbytes(shape):
    n = 2
    for d in shape:
        n *= d
    return n
parts, filled = [[]], 0
for t in tensors:
    if parts[-1] and filled + nbytes(t[1]) > limit:
        parts, filled = parts + [[]], 0
    parts[-1].append(t)
    filled += nbytes(t[1])
shards = len(parts)
weight_map, total = {}, 0
for i in range(shards):
    name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for t, s in sorted(parts[i]) if as_written else parts[i]:
        n = nbytes(s)
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
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=as_written)
print(f"{len(tensors)} tensors, {total / 1e9:.1f} GB in {shards} sparse shards under {out}")
