#!/usr/bin/env python3
"""Make Samples/tiny-mm1/: the tiny-dense MM1 model (CLIP ViT → Honeybee C-Abstractor → Llama) in Honeybee's
checkpoint layout, BF16, sharded in 3 with a `model.safetensors.index.json` (huggingface_hub), a Honeybee-shaped
config.json, and `reference.safetensors`: PyTorch's forward for a fixed image and prompt, stage by stage.

The weights are those of Tests/Fixtures/generate_dialects.py (same seeds, same real classes); every value is
exactly representable in BF16, so the BF16 files hold the very weights the F32 reference ran with.

reference.safetensors (all F32 except input.input_ids, I64), computed in float32 with attn_implementation="eager",
one CPU thread:
  input.pixel_values        [1, 3, 84, 84]  seeded uniform image, normalised with the OpenAI CLIP mean/std
  input.input_ids           [1, 24]         BOS, 3 text ids, 16 × image token 255, 4 text ids
  expect.vision.embeddings  [1, 37, 32]     HF hidden_states[0]: patch + CLS + positions, after pre_layrnorm
  expect.vision.layer.{i}   [1, 37, 32]     output of encoder layer i (HF hidden_states[i+1]; not post-layernormed)
  expect.vision_features    [1, 36, 32]     hidden_states[-1] with CLS dropped (Honeybee feature_layer_index -1)
  expect.connector.stage.0  [1, 48, 6, 6]   NCHW, after RegStage s1 (net.0), input = features + pos_emb
  expect.connector.pool     [1, 48, 4, 4]   NCHW, after AdaptiveAvgPool2d (net.1)
  expect.connector.stage.1  [1, 48, 4, 4]   NCHW, after RegStage s2 (net.2)
  expect.image_embeds       [1, 16, 64]     C-Abstractor output (after readout)
  expect.language.embeddings [1, 24, 64]    token embeddings with the 16 image-token rows replaced, in order, by image_embeds
  expect.language.layer.{i} [1, 24, 64]     output of decoder layer i (before the final RMSNorm)
  expect.logits             [1, 24, 256]    LlamaForCausalLM(inputs_embeds=…) logits
__metadata__ has ONE key, "generator" (a JSON string: script, seed, versions, settings); the safetensors writer
orders two or more keys by hash, which would make the file non-deterministic.

Deterministic: `/opt/mm1py/bin/python Samples/make_tiny_mm1.py` rewrites the same bytes.
Needs what generate_dialects.py needs (torch, transformers 5, timm, safetensors, huggingface_hub).
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Fixtures"))
import generate_dialects as g  # noqa: E402

OUT = os.path.join(HERE, "tiny-mm1")
SEED = 20260302
T_PREFIX, T_SUFFIX, N_IMAGE = 4, 4, 16  # BOS + 3 text ids, 16 image tokens, 4 text ids → T = 24


def inputs():
    gen = torch.Generator().manual_seed(SEED)
    image = torch.rand(1, 3, 84, 84, generator=gen)
    mean = torch.tensor(g.OPENAI_CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(g.OPENAI_CLIP_STD).view(1, 3, 1, 1)
    pixel_values = ((image - mean) / std).float()
    text = torch.randint(3, g.IMAGE_TOKEN_ID, (T_PREFIX - 1 + T_SUFFIX,), generator=gen)
    ids = torch.cat([torch.tensor([g.TEXT_FIELDS["bos_token_id"]]), text[: T_PREFIX - 1],
                     torch.full((N_IMAGE,), g.IMAGE_TOKEN_ID), text[T_PREFIX - 1:]]).long()[None]
    return pixel_values, ids


@torch.no_grad()
def reference(m, pixel_values, input_ids):
    vision, abstractor, llama = m["vision"], m["abstractor"], m["llama"]
    out = {"input.pixel_values": pixel_values, "input.input_ids": input_ids}

    # Vision: capture each encoder layer's output with hooks and check them against HF hidden_states.
    layer_out = []
    encoder = getattr(vision, "vision_model", vision).encoder  # transformers 5 flattened CLIPVisionModel
    hooks = [l.register_forward_hook(lambda _m, _i, o: layer_out.append(o[0] if isinstance(o, tuple) else o))
             for l in encoder.layers]
    vout = vision(pixel_values=pixel_values, output_hidden_states=True)
    for h in hooks:
        h.remove()
    hs = vout.hidden_states
    assert len(hs) == len(layer_out) + 1 and all(torch.equal(a, b) for a, b in zip(hs[1:], layer_out))
    assert torch.equal(hs[-1], vout.last_hidden_state)
    out["expect.vision.embeddings"] = hs[0]
    for i, h in enumerate(layer_out):
        out[f"expect.vision.layer.{i}"] = h
    features = hs[g.PROJECTOR_FIELDS["feature_layer_index"]][:, 1:]  # Honeybee postprocess_for_projector drops CLS
    out["expect.vision_features"] = features.clone()

    # Connector: Honeybee adds pos_emb IN PLACE, so it gets a clone.
    stages = {}
    hooks = [abstractor.net[k].register_forward_hook(lambda _m, _i, o, k=k: stages.__setitem__(k, o)) for k in range(3)]
    image_embeds = abstractor(features.clone())
    for h in hooks:
        h.remove()
    out["expect.connector.stage.0"], out["expect.connector.pool"], out["expect.connector.stage.1"] = stages[0], stages[1], stages[2]
    out["expect.image_embeds"] = image_embeds

    # Splice (architecture.md §11; what Honeybee does with its -1 media tokens and LLaVA with masked_scatter).
    embeds = llama.model.embed_tokens(input_ids).clone()
    mask = input_ids == g.IMAGE_TOKEN_ID
    assert int(mask.sum()) == image_embeds.shape[1]
    embeds[mask] = image_embeds.reshape(-1, image_embeds.shape[-1])
    out["expect.language.embeddings"] = embeds.clone()
    layer_out = []
    hooks = [l.register_forward_hook(lambda _m, _i, o: layer_out.append(o[0] if isinstance(o, tuple) else o))
             for l in llama.model.layers]
    lout = llama(inputs_embeds=embeds, output_hidden_states=True)
    for h in hooks:
        h.remove()
    for i, h in enumerate(layer_out):
        assert i == len(layer_out) - 1 or torch.equal(h, lout.hidden_states[i + 1])
        out[f"expect.language.layer.{i}"] = h
    out["expect.logits"] = lout.logits
    return {k: v.detach().contiguous() for k, v in out.items()}


def main():
    torch.set_num_threads(1)  # a fixed reduction order, so the goldens are byte-stable
    m = g.build_models()
    shutil.rmtree(OUT, ignore_errors=True)
    hb = g.honeybee_state_dict(m)
    g.save_sharded(hb, OUT, max_shard_size=200_000, shards=3, dtype=torch.bfloat16)
    g.write_json(os.path.join(OUT, "config.json"), g.honeybee_config("bfloat16"))

    # The reference runs in float32 on the BF16 values (identical: every weight is BF16-exact).
    for k, v in hb.items():
        assert torch.equal(v, v.to(torch.bfloat16).float()), k
    pixel_values, input_ids = inputs()
    ref = reference(m, pixel_values, input_ids)
    import huggingface_hub, safetensors, timm, transformers
    meta = {"script": "Samples/make_tiny_mm1.py", "weights": "Tests/Fixtures/generate_dialects.py build_models()",
            "seed": SEED, "weights_seed": g.SEED, "dtype": "float32", "attn_implementation": "eager", "threads": 1,
            "model": "tiny-dense (Samples/tiny-mm1, honeybee layout)", "image_token_id": g.IMAGE_TOKEN_ID,
            "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
                         "timm": timm.__version__, "safetensors": safetensors.__version__,
                         "huggingface_hub": huggingface_hub.__version__}}
    save_file(ref, os.path.join(OUT, "reference.safetensors"), metadata={"generator": json.dumps(meta, sort_keys=True)})
    g.normalize_modes(OUT)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT} ({total / 1e3:.0f} KB): " + ", ".join(sorted(os.listdir(OUT))))


if __name__ == "__main__":
    main()
