#!/usr/bin/env python3
"""PyTorch-checkpoint benchmark (issue 16): a LLaVA-shaped sharded `.bin` checkpoint of about 2.8 GB, and the
Python peers of `mm1conv inspect` and `mm1conv import` on it.

  make_bin_checkpoint.py make DIR [--dtype f16|bf16] [--layers 4]
        DIR/{config.json, pytorch_model-0000N-of-0000M.bin, pytorch_model.bin.index.json}: llava-hf names (the
        llava dialects mm1conv already imports), a Vicuna-7B-shaped decoder (hidden 4096, MLP 11008, vocab 32000)
        cut to --layers layers, a full CLIP ViT-L/14-336 vision tower (24 layers) and the two-layer projector;
        seeded values, one plain dict per shard written by torch.save (zip format, protocol 2), shards of about
        1 GB as transformers writes them; largest tensor 262 MB (the f16 embedding / lm_head)
  make_bin_checkpoint.py open DIR RUNS
        torch.load(shard, mmap=True, weights_only=True) on every shard, listing every tensor (name, dtype, shape);
        prints one JSON line: median and min seconds of RUNS opens, in this process (import torch not counted)
  make_bin_checkpoint.py peer DIR OUT
        the Python import: torch.load every shard (weights_only=True; mmap=True with PEER_MMAP=1), rename to MM1
        names, safetensors.torch.save_file one file; prints seconds (in-process), bytes in and peak RSS
"""
import json
import os
import re
import resource
import sys
import time

import torch

T = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=4, num_attention_heads=32,
         num_key_value_heads=32, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, model_type="llama")
V = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, image_size=336,
         patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768, model_type="clip_vision_model")
SHARD_BYTES = 1_000_000_000


def shapes():
    d, m, g, p = V["hidden_size"], V["intermediate_size"], V["image_size"] // V["patch_size"], V["patch_size"]
    out = {"vision_tower.vision_model.embeddings.class_embedding": [d],
           "vision_tower.vision_model.embeddings.patch_embedding.weight": [d, 3, p, p],
           "vision_tower.vision_model.embeddings.position_embedding.weight": [g * g + 1, d],
           "vision_tower.vision_model.pre_layrnorm.weight": [d], "vision_tower.vision_model.pre_layrnorm.bias": [d],
           "vision_tower.vision_model.post_layernorm.weight": [d], "vision_tower.vision_model.post_layernorm.bias": [d]}
    for i in range(V["num_hidden_layers"]):
        q = f"vision_tower.vision_model.encoder.layers.{i}."
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            out[q + f"self_attn.{n}.weight"], out[q + f"self_attn.{n}.bias"] = [d, d], [d]
        for n in ["layer_norm1", "layer_norm2"]:
            out[q + f"{n}.weight"], out[q + f"{n}.bias"] = [d], [d]
        out[q + "mlp.fc1.weight"], out[q + "mlp.fc1.bias"], out[q + "mlp.fc2.weight"], out[q + "mlp.fc2.bias"] = [m, d], [m], [d, m], [d]
    h, f, v = T["hidden_size"], T["intermediate_size"], T["vocab_size"]
    out.update({"multi_modal_projector.linear_1.weight": [h, d], "multi_modal_projector.linear_1.bias": [h],
                "multi_modal_projector.linear_2.weight": [h, h], "multi_modal_projector.linear_2.bias": [h],
                "language_model.model.embed_tokens.weight": [v, h]})
    for i in range(T["num_hidden_layers"]):
        q = f"language_model.model.layers.{i}."
        for n in "qkvo":
            out[q + f"self_attn.{n}_proj.weight"] = [h, h]
        out[q + "mlp.gate_proj.weight"], out[q + "mlp.up_proj.weight"], out[q + "mlp.down_proj.weight"] = [f, h], [f, h], [h, f]
        out[q + "input_layernorm.weight"], out[q + "post_attention_layernorm.weight"] = [h], [h]
    out["language_model.model.norm.weight"] = [h]
    out["language_model.lm_head.weight"] = [v, h]
    return out


def make(folder, dtype, layers):
    T["num_hidden_layers"] = layers
    dt = {"f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    items = list(shapes().items())
    groups, cur, size = [], [], 0
    for k, s in items:
        n = 1
        for x in s:
            n *= x
        if cur and size + n * 2 > SHARD_BYTES:
            groups.append(cur)
            cur, size = [], 0
        cur.append((k, s))
        size += n * 2
    groups.append(cur)
    index, total = {}, 0
    for i, group in enumerate(groups):
        name = f"pytorch_model-{i + 1:05d}-of-{len(groups):05d}.bin"
        shard = {}
        for k, s in group:
            t = torch.empty(s, dtype=torch.float32)
            t.normal_(0, 0.02, generator=g)
            shard[k] = t.to(dt)
            total += shard[k].numel() * 2
        torch.save(shard, os.path.join(folder, name))
        index.update({k: name for k, _ in group})
        del shard
        print(f"wrote {name}", file=sys.stderr)
    with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(index.items()))}, f, indent=2)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"vision_config": V, "text_config": T, "image_token_index": 31999, "vision_feature_layer": -2,
                   "vision_feature_select_strategy": "default", "projector_hidden_act": "gelu", "model_type": "llava",
                   "torch_dtype": "float16" if dtype == "f16" else "bfloat16"}, f, indent=2)


def shards(folder):
    index = json.load(open(os.path.join(folder, "pytorch_model.bin.index.json")))["weight_map"]
    return [os.path.join(folder, s) for s in sorted(set(index.values()))]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def open_list(folder, runs):
    times, count = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        listing = []
        for s in shards(folder):
            sd = torch.load(s, mmap=True, weights_only=True, map_location="cpu")
            listing += [(k, str(v.dtype), tuple(v.shape)) for k, v in sd.items()]
            del sd
        count = len(listing)
        times.append(time.perf_counter() - t)
    print(json.dumps({"impl": "python", "bench": "open", "tensors": count, "median_s": median(times), "min_s": min(times),
                      "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


RENAME = [(r"^vision_tower\.vision_model\.", "vision."), (r"^multi_modal_projector\.", "connector."),
          (r"^language_model\.model\.", "language."), (r"^language_model\.", "language."),
          (r"self_attn\.(\w)_proj", r"attention.\1"), (r"input_layernorm", "attention_norm"),
          (r"post_attention_layernorm", "mlp_norm")]


def peer(folder, out):
    from safetensors.torch import save_file
    mmap = os.environ.get("PEER_MMAP", "0") == "1"
    start = time.perf_counter()
    result, total = {}, 0
    for s in shards(folder):
        for k, v in torch.load(s, weights_only=True, mmap=mmap, map_location="cpu").items():
            name = k
            for a, b in RENAME:
                name = re.sub(a, b, name)
            result[name] = v
            total += v.numel() * v.element_size()
    os.makedirs(out, exist_ok=True)
    save_file(result, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    seconds = time.perf_counter() - start
    print(json.dumps({"impl": "python", "bench": "import", "seconds": seconds, "bytes_in": total, "mmap": mmap,
                      "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        args = sys.argv[3:]
        dtype = args[args.index("--dtype") + 1] if "--dtype" in args else "f16"
        layers = int(args[args.index("--layers") + 1]) if "--layers" in args else 4
        make(sys.argv[2], dtype, layers)
    elif cmd == "open":
        open_list(sys.argv[2], int(sys.argv[3]))
    elif cmd == "peer":
        peer(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
