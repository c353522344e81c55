#!/usr/bin/env python3
"""Import benchmark: a synthetic LLaVA-layout bf16 checkpoint of about 4 GB (largest tensor 131 MB),
imported to f16 by mm1conv and by the Python path the issue names (safetensors.torch.load_file, rename,
convert, save_file), on the same files.

  import_bench.py make DIR      write DIR/{config.json, model-*.safetensors, model.safetensors.index.json}
  import_bench.py peer DIR OUT  the Python path; prints one JSON line (seconds, peak RSS)
"""
import json
import os
import re
import resource
import sys
import time

import torch
from safetensors.torch import load_file, save_file

V = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224, patch_size=16,
         hidden_act="quick_gelu", layer_norm_eps=1e-5, model_type="clip_vision_model")
T = dict(vocab_size=32000, hidden_size=2048, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=16,
         num_key_value_heads=16, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, model_type="llama")


def shapes():
    d, m, g = V["hidden_size"], V["intermediate_size"], V["image_size"] // V["patch_size"]
    out = {"vision_tower.embeddings.class_embedding": [d], "vision_tower.embeddings.patch_embedding.weight": [d, 3, 16, 16],
           "vision_tower.embeddings.position_embedding.weight": [g * g + 1, d], "vision_tower.pre_layrnorm.weight": [d],
           "vision_tower.pre_layrnorm.bias": [d], "vision_tower.post_layernorm.weight": [d], "vision_tower.post_layernorm.bias": [d]}
    for i in range(V["num_hidden_layers"]):
        p = f"vision_tower.encoder.layers.{i}."
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
            out[p + f"self_attn.{n}.weight"], out[p + f"self_attn.{n}.bias"] = [d, d], [d]
        for n in ["layer_norm1", "layer_norm2"]:
            out[p + f"{n}.weight"], out[p + f"{n}.bias"] = [d], [d]
        out[p + "mlp.fc1.weight"], out[p + "mlp.fc1.bias"], out[p + "mlp.fc2.weight"], out[p + "mlp.fc2.bias"] = [m, d], [m], [d, m], [d]
    h, f, v = T["hidden_size"], T["intermediate_size"], T["vocab_size"]
    out.update({"multi_modal_projector.linear_1.weight": [h, d], "multi_modal_projector.linear_1.bias": [h],
                "multi_modal_projector.linear_2.weight": [h, h], "multi_modal_projector.linear_2.bias": [h],
                "language_model.model.embed_tokens.weight": [v, h], "language_model.model.norm.weight": [h], "language_model.lm_head.weight": [v, h]})
    for i in range(T["num_hidden_layers"]):
        p = f"language_model.model.layers.{i}."
        for n in "qkvo":
            out[p + f"self_attn.{n}_proj.weight"] = [h, h]
        out[p + "input_layernorm.weight"], out[p + "post_attention_layernorm.weight"] = [h], [h]
        out[p + "mlp.gate_proj.weight"], out[p + "mlp.up_proj.weight"], out[p + "mlp.down_proj.weight"] = [f, h], [f, h], [h, f]
    return out


def make(folder):
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    shard, size, index, n = {}, 0, {}, 0
    items = list(shapes().items())

    def flush():
        nonlocal shard, size, n
        n += 1
        name = f"model-{n:05d}.safetensors"
        save_file(shard, os.path.join(folder, name), metadata={"format": "pt"})
        index.update({k: name for k in shard})
        shard, size = {}, 0

    for k, s in items:
        t = (torch.randn(*s, generator=g) * 0.02).bfloat16()
        shard[k] = t
        size += t.numel() * 2
        if size > 1_000_000_000:
            flush()
    if shard:
        flush()
    json.dump({"metadata": {"total_size": sum(os.path.getsize(os.path.join(folder, f)) for f in set(index.values()))}, "weight_map": index},
              open(os.path.join(folder, "model.safetensors.index.json"), "w"), indent=2)
    json.dump({"vision_config": V, "text_config": T, "image_token_index": 31999, "vision_feature_layer": -2,
               "vision_feature_select_strategy": "default", "projector_hidden_act": "gelu", "model_type": "llava"},
              open(os.path.join(folder, "config.json"), "w"), indent=2)


RENAME = [(r"^vision_tower\.", "vision."), (r"^multi_modal_projector\.", "connector."), (r"^language_model\.model\.", "language."),
          (r"^language_model\.", "language."), (r"self_attn\.(\w)_proj", r"attention.\1"), (r"input_layernorm", "attention_norm"),
          (r"post_attention_layernorm", "mlp_norm")]


def peer(folder, out):
    start = time.perf_counter()
    index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))["weight_map"]
    result = {}
    for shard in sorted(set(index.values())):
        for k, v in load_file(os.path.join(folder, shard)).items():
            name = k
            for a, b in RENAME:
                name = re.sub(a, b, name)
            result[name] = v.to(torch.float16)
    os.makedirs(out, exist_ok=True)
    save_file(result, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    seconds = time.perf_counter() - start
    total = sum(v.numel() * 2 for v in result.values())
    print(json.dumps({"impl": "python", "seconds": seconds, "bytes_in": total, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    {"make": lambda: make(sys.argv[2]), "peer": lambda: peer(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
