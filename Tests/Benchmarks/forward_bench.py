#!/usr/bin/env python3
"""Forward-pass benchmark (issue 4): PyTorch eager on the CPU vs mm1conv's reference forward, same model, same
inputs, same thread count, one run on one machine.

The "small" configuration: CLIP ViT-B/16 at 224 px (width 768, 12 layers, 12 heads, MLP 3072, quick_gelu, 196
patches + CLS, feature layer -1, CLS dropped) → Honeybee C-Abstractor (768 → 768, depth 3, mlp_depth 2, 14×14 → 12×12
= 144 tokens) → Llama decoder (12 layers, width 768, 12 heads, 12 KV heads, FFN 2048, vocab 32000, untied head), with
32 text tokens, the 144 image tokens, 32 text tokens (T = 208). Weights: the classes' own seeded initialisation, f32.

  prepare DIR      build the models (transformers CLIPVisionModel, Honeybee CAbstractor around timm RegStage,
                   LlamaForCausalLM), write DIR/model.safetensors (mm1conv canonical names, f32), DIR/config.json,
                   DIR/reference.safetensors (inputs + expect.vision_features / image_embeds / logits) and keep
                   nothing else
  torch RUNS       time PyTorch's forward (median of RUNS after one warm-up), print one JSON line; also times the
                   encoder + decoder alone (no connector: the issue's quoted figure)
"""
import json
import os
import statistics
import sys
import time

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Fixtures"))
import generate_dialects as g  # noqa: E402
import generate_forward as gf  # noqa: E402
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM  # noqa: E402

IMAGE_TOKEN = 31999
VISION = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224,
              patch_size=16, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=512)
PROJECTOR = dict(encoder_hidden_size=768, hidden_size=768, depth=3, mlp_depth=2, num_query_tokens=144, output_hidden_size=768)
TEXT = dict(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
            num_key_value_heads=12, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, max_position_embeddings=512)
MM1_CONFIG = {
    "vision": {"kind": "clip", "image_size": 224, "patch_size": 16, "hidden_size": 768, "depth": 12, "heads": 12,
               "intermediate_size": 3072, "norm_eps": 1e-05, "activation": "quick_gelu", "patch_bias": False,
               "feature_layer": -1, "drop_class_token": True},
    "connector": {"kind": "c_abstractor", "image_tokens": 144, "hidden_size": 768, "depth": 3, "mlp_depth": 2,
                  "position_embedding": True, "norm_eps": 1e-05, "pooling": "torch_adaptive"},
    "language": {"vocab_size": 32000, "hidden_size": 768, "layers": 12, "heads": 12, "kv_heads": 12, "head_dim": 64,
                 "intermediate_size": 2048, "rms_norm_eps": 1e-05, "rope_theta": 10000, "tie_word_embeddings": False,
                 "attention_bias": False, "image_token_id": IMAGE_TOKEN},
}


def build(attention="eager"):
    """The three models; `attention` is transformers' attn_implementation: "eager" (its own matmul-softmax
    attention, used for the goldens) or "sdpa" (torch's fused scaled_dot_product_attention, transformers' default)."""
    torch.manual_seed(20261129)
    vision = CLIPVisionModel(CLIPVisionConfig(**VISION, attn_implementation=attention)).eval()
    abstractor = g.CAbstractor(PROJECTOR, num_input_tokens=196).eval()
    llama = LlamaForCausalLM(LlamaConfig(**TEXT, attn_implementation=attention)).eval()
    vision.config._attn_implementation = attention
    llama.config._attn_implementation = attention
    return vision, abstractor, llama


def inputs():
    gen = torch.Generator().manual_seed(7)
    pixels = torch.randn(1, 3, 224, 224, generator=gen)
    text = torch.randint(3, 31000, (64,), generator=gen)
    ids = torch.cat([text[:32], torch.full((144,), IMAGE_TOKEN), text[32:]])[None].long()
    return pixels, ids


@torch.no_grad()
def forward(models, pixels, ids, connector=True):
    vision, abstractor, llama = models
    features = vision(pixel_values=pixels, output_hidden_states=True).hidden_states[-1][:, 1:]
    if connector:
        image = abstractor(features.clone())
    else:  # the figure: encoder + decoder only; the decoder still gets 144 image rows
        image = features[:, :144]
    embeds = llama.model.embed_tokens(ids).clone()
    embeds[ids == IMAGE_TOKEN] = image.reshape(-1, image.shape[-1])
    return features, image, llama(inputs_embeds=embeds).logits


def prepare(out):
    os.makedirs(out, exist_ok=True)
    models = build()
    vision, abstractor, llama = models
    # generate_forward's canonical mappings read the layer counts from the state dicts.
    canon = {**gf.canonical_clip(gf.sd_of(vision)), **gf.canonical_cabs(gf.sd_of(abstractor)),
             **gf.canonical_language(gf.sd_of(llama))}
    save_file({k: v.contiguous() for k, v in canon.items()}, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(MM1_CONFIG, f, indent=2, sort_keys=True)
    torch.set_num_threads(1)
    pixels, ids = inputs()
    features, image, logits = forward(models, pixels, ids)
    save_file({"input.pixel_values": pixels, "input.input_ids": ids, "expect.vision_features": features.contiguous(),
               "expect.image_embeds": image.contiguous(), "expect.logits": logits.contiguous()},
              os.path.join(out, "reference.safetensors"), metadata={"generator": "Tests/Benchmarks/forward_bench.py"})
    print(f"prepared {out}: {sum(v.numel() for v in canon.values()) / 1e6:.1f} M parameters")


def peak_rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def time_torch(runs):
    threads = int(os.environ.get("MM1CONV_THREADS", "2"))
    torch.set_num_threads(threads)
    pixels, ids = inputs()
    result = {"impl": "pytorch", "bench": "forward", "threads": threads, "torch": torch.__version__, "tokens": ids.shape[1]}

    def timed(models, connector):
        forward(models, pixels, ids, connector)  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            forward(models, pixels, ids, connector)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    eager = build("eager")
    result["median_s"] = timed(eager, True)
    result["no_connector_median_s"] = timed(eager, False)
    result["peak_rss"] = peak_rss()  # the sdpa models are built after these are freed
    del eager
    result["sdpa_median_s"] = timed(build("sdpa"), True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    elif sys.argv[1] == "torch":
        time_torch(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    else:
        sys.exit(__doc__)
