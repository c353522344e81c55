#!/usr/bin/env python3
"""Make Tests/Fixtures/forward/: golden fixtures for mm1conv's reference forward pass (CPU, f32), one folder per
case, each holding the weights under mm1conv's canonical names, the mm1conv config and PyTorch's activations,
stage by stage, computed by the REAL reference implementations:

  vision     transformers `CLIPVisionModel` (eager attention); apple/ml-aim AIM v1 (`models._aim` → `models.AIM`,
             loaded from outside the repository exactly as Tests/Fixtures/generate_aim.py does)
  connector  Honeybee `CAbstractor` (generate_dialects.py's restatement around the real timm `RegStage`);
             transformers `LlavaForConditionalGeneration` (`multi_modal_projector`, run through the whole model);
             average pooling = torch `nn.AdaptiveAvgPool2d` (torch_adaptive) or `nn.AvgPool2d(kernel, stride)`
             (stride_kernel) + `nn.Linear`; attention pooling = open_clip `AttentionalPooler` + `nn.Linear`
  decoder    transformers `LlamaForCausalLM` (eager attention); MoE = that Llama with the FFN of the sparse layers
             replaced by `MixtralSparseMoeBlock`s of a `MixtralForCausalLM` of the same dims (eager experts), as
             generate_dialects.hybrid_moe_lm does (HF Mixtral makes every layer sparse; MM1 interleaves)

Weights: generate_dialects' seeded initialisation (norm weights 1 + 0.2·N(0,1), biases 0.1·N(0,1), matrices
N(0,1)/√fan_in, position embeddings 0.5·N(0,1)), every value exactly representable in BF16 and F16. Case
`cabs-dense` IS generate_dialects' tiny-dense model (build_models(); its model.safetensors equals
dialects/canonical-tiny-dense.safetensors tensor for tensor); the other cases use their own, smaller dims.

Per case, Tests/Fixtures/forward/<case>/:
  model.safetensors      F32, canonical names, exactly the names and shapes `mm1conv inspect --graph config.json`
                         lists (checked here when the mm1conv binary is found: --mm1conv), metadata {"format": "pt"}
  config.json            the mm1conv config (Schemas/mm1-config.schema.json; validated with jsonschema if installed)
  reference.safetensors  keys as Samples/tiny-mm1/reference.safetensors (Samples/make_tiny_mm1.py):
      input.pixel_values [B,3,S,S] F32 (seeded uniform image, normalised with the OpenAI CLIP mean/std)
      input.input_ids    [B,T] I64: BOS, text, K × image_token_id (contiguous), text
      expect.vision.embeddings   input of vision block 0 (CLIP: after pre_layrnorm = HF hidden_states[0];
                                 AIM: LayerNorm(patch conv) + sin-cos positions = `preprocessor` output)
      expect.vision.layer.{i}    output of vision block i (HF hidden_states[i+1]; AIM extract_features()[i])
      expect.vision_features     hidden state `feature_layer` (CLS dropped when configured), NOT post-normed
      expect.connector.stage.0 / .pool / .stage.1   C-Abstractor: NCHW after RegStage s1, the pool, RegStage s2
      expect.connector.pool      average pool: the pooled tokens [B,K,C] row-major (before the Linear);
                                 attention pool: the AttentionalPooler output [B,K,hidden] (before the Linear)
      expect.image_embeds        [B,K,D] connector output
      expect.language.embeddings token embeddings with the image-token rows replaced, in order, by image_embeds
      expect.language.layer.{i}  output of decoder layer i (before the final RMSNorm)
      expect.logits              [B,T,V]
  all F32 except input.input_ids; __metadata__ = {"generator": JSON} (one key: deterministic bytes).

Every captured state is checked against the classes' own outputs (HF output_hidden_states, AIM
extract_features, the Llava model's own splice), and a from-scratch forward over the CANONICAL tensors and the
config (below; architecture.md §2, §3, §4.3, §11) must reproduce every stage — so the canonical file, the config
and the goldens are one model.

Computed in float32 on CPU, one thread, fixed seeds: rerunning rewrites identical bytes (MANIFEST.json holds
the SHA-256 of every file). The capture functions (reference, reference_llava, clip_states, language_states) are
also what Samples/dump_reference.py runs on a user's own LLaVA or Honeybee folder: keep their signatures.

Run:   /opt/mm1py/bin/python Tests/Fixtures/generate_forward.py [--aim-src /tmp/ml-aim/aim-v1] [--mm1conv .build/debug/mm1conv]
Needs: torch, transformers 5.x, timm, open_clip_torch, safetensors, huggingface_hub (what generate_dialects.py
needs) and the apple/ml-aim sources (see generate_aim.py's docstring:
  git clone https://github.com/apple/ml-aim /tmp/ml-aim && git -C /tmp/ml-aim checkout bd9e06893f3ad68bda56b34ac2158fda2680b7fc).
"""
import argparse
import copy
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import generate_dialects as g  # noqa: E402
import generate_aim as ga  # noqa: E402

from transformers import (CLIPVisionConfig, CLIPVisionModel, LlamaForCausalLM, LlavaConfig,  # noqa: E402
                          LlavaForConditionalGeneration, MixtralConfig, MixtralForCausalLM)

OUT = os.path.join(HERE, "forward")
GENERATOR = "Tests/Fixtures/generate_forward.py"
SEED = 20260320
ST_METADATA = g.ST_METADATA  # {"format": "pt"}: one key only


# ---------------------------------------------------------------------------------------------------------
# Seeded initialisation (generate_dialects' rules; nn.MultiheadAttention's `in_proj_bias` counts as a bias)

@torch.no_grad()
def randomize_(module, seed):
    gen = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        key = name[: -len("in_proj_bias")] + "bias" if name.endswith("in_proj_bias") else name
        p.copy_(g.exact(g.random_value(key, tuple(p.shape), gen)))


# ---------------------------------------------------------------------------------------------------------
# Model builders (real classes only)

def clip_fields(**kw):
    return dict(g.VISION_FIELDS, **kw)


def text_fields(**kw):
    return dict(g.TEXT_FIELDS, **kw)


@torch.no_grad()
def build_clip(fields, seed):
    v = CLIPVisionModel._from_config(CLIPVisionConfig(**fields), attn_implementation="eager").eval()
    randomize_(v, seed)
    return v


@torch.no_grad()
def build_llama(fields, seed):
    lm = LlamaForCausalLM._from_config(g.llama_config(**fields), attn_implementation="eager").eval()
    randomize_(lm, seed)
    if fields.get("tie_word_embeddings"):
        assert lm.lm_head.weight is lm.model.embed_tokens.weight
    return lm


@torch.no_grad()
def build_moe_llama(fields, moe, seed):
    """The interleaved MoE decoder (generate_dialects.hybrid_moe_lm, for any dims): a Llama whose sparse layers'
    MLPs are the `MixtralSparseMoeBlock`s of a Mixtral with the same attention/norm/embedding weights."""
    t = text_fields(**fields)
    llama = build_llama(fields, seed)
    mcfg = MixtralConfig(vocab_size=t["vocab_size"], hidden_size=t["hidden_size"], intermediate_size=moe["expert_ffn"],
                         num_hidden_layers=t["num_hidden_layers"], num_attention_heads=t["num_attention_heads"],
                         num_key_value_heads=t["num_key_value_heads"], max_position_embeddings=t["max_position_embeddings"],
                         rms_norm_eps=t["rms_norm_eps"], rope_theta=t["rope_theta"], tie_word_embeddings=False,
                         num_local_experts=moe["experts"], num_experts_per_tok=moe["top_k"])
    mixtral = MixtralForCausalLM._from_config(mcfg, attn_implementation="eager", experts_implementation="eager").eval()
    randomize_(mixtral, seed + 1)
    msd = mixtral.state_dict()
    for k, v in llama.state_dict().items():
        if ".mlp." not in k:
            msd[k].copy_(v)
    lm = copy.deepcopy(llama)
    for i in moe["sparse_layers"]:
        lm.model.layers[i].mlp = mixtral.model.layers[i].mlp
        assert type(lm.model.layers[i].mlp).__name__ == "MixtralSparseMoeBlock"
    assert mixtral.config._experts_implementation == "eager"
    return lm, mixtral


class AveragePoolConnector(nn.Module):
    """MM1 "average pooling" (architecture.md §3.4): patch tokens → (B, C, G, G) → pool → (B, q², C) row-major →
    Linear(C → D). `pooling` torch_adaptive = nn.AdaptiveAvgPool2d(q); stride_kernel = nn.AvgPool2d(kernel, stride)
    with stride = G // q, kernel = G − (q − 1)·stride."""

    def __init__(self, width, out, grid, q, pooling):
        super().__init__()
        if pooling == "torch_adaptive":
            self.pool = nn.AdaptiveAvgPool2d((q, q))
        else:
            stride = grid // q
            self.pool = nn.AvgPool2d(kernel_size=grid - (q - 1) * stride, stride=stride)
        self.proj = nn.Linear(width, out)

    def forward(self, x):
        b, n, c = x.shape
        side = math.isqrt(n)
        x = x.transpose(1, 2).reshape(b, c, side, side)
        x = self.pool(x).flatten(2).transpose(1, 2)
        return self.proj(x)


class AttentionPoolConnector(nn.Module):
    """open_clip `AttentionalPooler(d_model=hidden, context_dim=width, n_head, n_queries)` then nn.Linear(hidden → D)."""

    def __init__(self, width, hidden, heads, queries, out):
        super().__init__()
        from open_clip.transformer import AttentionalPooler
        self.pooler = AttentionalPooler(hidden, width, n_head=heads, n_queries=queries)
        self.proj = nn.Linear(hidden, out)

    def forward(self, x):
        return self.proj(self.pooler(x))


# ---------------------------------------------------------------------------------------------------------
# mm1conv configs

def mm1_clip(f, feature_layer, drop_cls):
    return {"activation": f["hidden_act"], "depth": f["num_hidden_layers"], "drop_class_token": drop_cls,
            "feature_layer": feature_layer, "heads": f["num_attention_heads"], "hidden_size": f["hidden_size"],
            "image_size": f["image_size"], "intermediate_size": f["intermediate_size"], "kind": "clip",
            "norm_eps": f["layer_norm_eps"], "patch_bias": False, "patch_size": f["patch_size"]}


def mm1_aim(a):
    return {"activation": "gelu", "depth": a["num_blocks"], "drop_class_token": False, "feature_layer": -1,
            "heads": a["num_heads"], "hidden_size": a["embed_dim"], "image_size": a["img_size"],
            "intermediate_size": 4 * a["embed_dim"], "kind": "aim", "norm_eps": 1e-06, "patch_bias": True,
            "patch_size": a["patch_size"]}


def mm1_cabs(p, pooling="torch_adaptive"):
    return {"depth": p["depth"], "hidden_size": p["hidden_size"], "image_tokens": p["num_query_tokens"],
            "kind": "c_abstractor", "mlp_depth": p["mlp_depth"], "norm_eps": 1e-05, "pooling": pooling,
            "position_embedding": True}


def mm1_language(t, moe=None):
    out = {"attention_bias": False, "head_dim": t["hidden_size"] // t["num_attention_heads"],
           "heads": t["num_attention_heads"], "hidden_size": t["hidden_size"], "image_token_id": t["vocab_size"] - 1,
           "intermediate_size": t["intermediate_size"], "kv_heads": t["num_key_value_heads"],
           "layers": t["num_hidden_layers"], "rms_norm_eps": t["rms_norm_eps"], "rope_theta": int(t["rope_theta"]),
           "tie_word_embeddings": t["tie_word_embeddings"], "vocab_size": t["vocab_size"]}
    assert out["rope_theta"] == t["rope_theta"]
    if moe:
        out["moe"] = {"expert_intermediate_size": moe["expert_ffn"], "experts": moe["experts"], "normalize_top_k": True,
                      "sparse_layers": moe["sparse_layers"], "top_k": moe["top_k"]}
    return out


# ---------------------------------------------------------------------------------------------------------
# Canonical names (generalisations of generate_dialects.canonical_* / generate_aim.canonical_aim to any dims;
# checked against those functions on their own models in check_mappings()).

def count(sd, prefix):
    idx = {int(k[len(prefix):].split(".", 1)[0]) for k in sd if k.startswith(prefix)}
    assert idx == set(range(len(idx))), (prefix, idx)
    return len(idx)


def canonical_clip(v):  # transformers 5 CLIPVisionModel state dict (flattened names)
    c = {"vision.patch_embed.weight": v["embeddings.patch_embedding.weight"],
         "vision.class_token": v["embeddings.class_embedding"],
         "vision.position_embedding": v["embeddings.position_embedding.weight"]}
    for s in ("weight", "bias"):
        c[f"vision.pre_norm.{s}"] = v[f"pre_layrnorm.{s}"]
        c[f"vision.post_norm.{s}"] = v[f"post_layernorm.{s}"]
    for i in range(count(v, "encoder.layers.")):
        src, dst = f"encoder.layers.{i}.", f"vision.layers.{i}."
        for s in ("weight", "bias"):
            c[dst + f"norm1.{s}"] = v[src + f"layer_norm1.{s}"]
            c[dst + f"norm2.{s}"] = v[src + f"layer_norm2.{s}"]
            for a, b in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "out_proj")):
                c[dst + f"attention.{a}.{s}"] = v[src + f"self_attn.{b}.{s}"]
            c[dst + f"mlp.fc1.{s}"] = v[src + f"mlp.fc1.{s}"]
            c[dst + f"mlp.fc2.{s}"] = v[src + f"mlp.fc2.{s}"]
    return c


def canonical_aim(sd):  # ml-aim AIM state dict
    width = sd["preprocessor.patchifier.proj.weight"].shape[0]
    c = {"vision.patch_embed.weight": sd["preprocessor.patchifier.proj.weight"],
         "vision.patch_embed.bias": sd["preprocessor.patchifier.proj.bias"]}
    for s in ("weight", "bias"):
        c[f"vision.patch_norm.{s}"] = sd[f"preprocessor.patchifier.norm.{s}"]
        c[f"vision.post_norm.{s}"] = sd[f"trunk.post_trunk_norm.{s}"]
    used = {"preprocessor.patchifier.proj.weight", "preprocessor.patchifier.proj.bias", "preprocessor.patchifier.norm.weight",
            "preprocessor.patchifier.norm.bias", "trunk.post_trunk_norm.weight", "trunk.post_trunk_norm.bias"}
    for i in range(count(sd, "trunk.blocks.")):
        src, dst = f"trunk.blocks.{i}.", f"vision.layers.{i}."
        for s in ("weight", "bias"):
            c[dst + f"norm1.{s}"] = sd[src + f"norm_1.{s}"]
            c[dst + f"norm2.{s}"] = sd[src + f"norm_2.{s}"]
        qkv = sd[src + "attn.qkv.weight"]  # (3D, D): rows q | k | v
        for j, a in enumerate("qkv"):
            c[dst + f"attention.{a}.weight"] = qkv[j * width:(j + 1) * width]
        c[dst + "attention.o.weight"] = sd[src + "attn.proj.weight"]
        c[dst + "mlp.fc1.weight"] = sd[src + "mlp.fc1.weight"]
        c[dst + "mlp.fc2.weight"] = sd[src + "mlp.fc2.weight"]
        used |= {src + n for n in ("norm_1.weight", "norm_1.bias", "norm_2.weight", "norm_2.bias", "attn.qkv.weight",
                                   "attn.proj.weight", "mlp.fc1.weight", "mlp.fc2.weight")}
    trunk = {k for k in sd if not k.startswith("head.")}
    assert trunk == used, f"unmapped {sorted(trunk - used)}, absent {sorted(used - trunk)}"
    return c


def canonical_cabs(a):  # Honeybee CAbstractor state dict
    c = {"connector.position_embedding": a["pos_emb"][0]}
    for stage, net in ((0, "net.0"), (1, "net.2")):
        blocks = sorted({k.split(".")[2] for k in a if k.startswith(net + ".")})
        assert blocks == [f"b{j + 1}" for j in range(len(blocks))], blocks
        for j in range(len(blocks)):
            src, dst = f"{net}.b{j + 1}.", f"connector.stages.{stage}.blocks.{j}."
            for k in (1, 2, 3):
                c[dst + f"conv{k}.weight"] = a[src + f"conv{k}.conv.weight"]
                c[dst + f"norm{k}.weight"] = a[src + f"conv{k}.bn.weight"]
                c[dst + f"norm{k}.bias"] = a[src + f"conv{k}.bn.bias"]
            for k in ("fc1", "fc2"):
                for s in ("weight", "bias"):
                    c[dst + f"se.{k}.{s}"] = a[src + f"se.{k}.{s}"]
            if src + "downsample.conv.weight" in a:
                c[dst + "downsample.conv.weight"] = a[src + "downsample.conv.weight"]
                c[dst + "downsample.norm.weight"] = a[src + "downsample.bn.weight"]
                c[dst + "downsample.norm.bias"] = a[src + "downsample.bn.bias"]
    linears = sorted({int(k.split(".")[1]) for k in a if k.startswith("readout.")})
    assert linears == list(range(0, 2 * len(linears), 2)), linears  # Sequential(Linear, SiLU, Linear, …)
    for k, idx in enumerate(linears):
        for s in ("weight", "bias"):
            c[f"connector.readout.{k}.{s}"] = a[f"readout.{idx}.{s}"]
    assert len(c) == len(a), "every C-Abstractor tensor is mapped once"
    return c


def canonical_language(l, moe_layers=(), tied=False):  # LlamaForCausalLM-style state dict (MoE: v5 in-memory names)
    c = {"language.embed_tokens.weight": l["model.embed_tokens.weight"], "language.norm.weight": l["model.norm.weight"]}
    if not tied:
        c["language.lm_head.weight"] = l["lm_head.weight"]
    for i in range(count(l, "model.layers.")):
        src, dst = f"model.layers.{i}.", f"language.layers.{i}."
        c[dst + "attention_norm.weight"] = l[src + "input_layernorm.weight"]
        c[dst + "mlp_norm.weight"] = l[src + "post_attention_layernorm.weight"]
        for a in "qkvo":
            c[dst + f"attention.{a}.weight"] = l[src + f"self_attn.{a}_proj.weight"]
        if i in moe_layers:
            gu = l[src + "mlp.experts.gate_up_proj"]  # [E, 2I, H] = cat(gate, up) per expert
            inter = gu.shape[1] // 2
            c[dst + "moe.router.weight"] = l[src + "mlp.gate.weight"]
            c[dst + "moe.experts.gate"] = gu[:, :inter, :]
            c[dst + "moe.experts.up"] = gu[:, inter:, :]
            c[dst + "moe.experts.down"] = l[src + "mlp.experts.down_proj"]
        else:
            for a in ("gate", "up", "down"):
                c[dst + f"mlp.{a}.weight"] = l[src + f"mlp.{a}_proj.weight"]
    return c


def canonical_avgpool(p):
    return {"connector.proj.weight": p["proj.weight"], "connector.proj.bias": p["proj.bias"]}


def canonical_attnpool(p):
    """open_clip AttentionalPooler with kdim = vdim = width ≠ d_model: separate q/k/v projection weights, ONE
    in_proj_bias (3·hidden) split as [0:h] q, [h:2h] k, [2h:3h] v (nn.MultiheadAttention's _in_projection)."""
    h = p["pooler.query"].shape[1]
    assert "pooler.attn.in_proj_weight" not in p, "kdim == d_model would fuse q;k;v into in_proj_weight"
    b = p["pooler.attn.in_proj_bias"]
    c = {"connector.queries": p["pooler.query"],
         "connector.norm_q.weight": p["pooler.ln_q.weight"], "connector.norm_q.bias": p["pooler.ln_q.bias"],
         "connector.norm_kv.weight": p["pooler.ln_k.weight"], "connector.norm_kv.bias": p["pooler.ln_k.bias"],
         "connector.attention.o.weight": p["pooler.attn.out_proj.weight"],
         "connector.attention.o.bias": p["pooler.attn.out_proj.bias"],
         "connector.proj.weight": p["proj.weight"], "connector.proj.bias": p["proj.bias"]}
    for j, a in enumerate("qkv"):
        c[f"connector.attention.{a}.weight"] = p[f"pooler.attn.{a}_proj_weight"]
        c[f"connector.attention.{a}.bias"] = b[j * h:(j + 1) * h]
    assert len(c) == len(p) + 2, sorted(p)  # in_proj_bias → 3 tensors
    return c


def sd_of(module, prefix=""):
    return {prefix + k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def finish(c):
    return {k: v.detach().clone().float().contiguous() for k, v in sorted(c.items())}


# ---------------------------------------------------------------------------------------------------------
# Inputs

def make_inputs(seed, batch, image_size, k, prefix, suffix, image_token_id):
    """Seeded uniform image(s), normalised with the OpenAI CLIP mean/std; per row BOS + (prefix−1) text ids,
    k image tokens, `suffix` text ids (text ids in 3 … image_token_id−1)."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, image_size, image_size, generator=gen)
    mean = torch.tensor(g.OPENAI_CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(g.OPENAI_CLIP_STD).view(1, 3, 1, 1)
    pixel_values = ((image - mean) / std).float().contiguous()
    rows = []
    for _ in range(batch):
        text = torch.randint(3, image_token_id, (prefix - 1 + suffix,), generator=gen)
        rows.append(torch.cat([torch.tensor([g.TEXT_FIELDS["bos_token_id"]]), text[: prefix - 1],
                               torch.full((k,), image_token_id), text[prefix - 1:]]))
    return pixel_values, torch.stack(rows).long()


# ---------------------------------------------------------------------------------------------------------
# Reference capture (the stage definitions of Samples/make_tiny_mm1.py::reference, generalised)

def _first(o):
    return o[0] if isinstance(o, tuple) else o


def _keep_input(store, key):
    """A forward pre-hook (with_kwargs) that keeps the first call's hidden_states input (a layer's input)."""
    def hook(_m, args, kwargs):
        if key not in store:
            store[key] = (args[0] if args else kwargs["hidden_states"]).clone()
    return hook


@torch.no_grad()
def clip_states(vision, pixel_values):
    """[hidden_states[0], layer 0 out, …] captured with hooks (the input of encoder layer 0, the output of every
    layer) and checked against HF output_hidden_states. Any HF ViT tower with `encoder.layers` (CLIP, SigLIP)."""
    inner = getattr(vision, "vision_model", vision)  # transformers 5 flattened CLIPVisionModel, or a wrapper
    seen, layer_out = {}, []
    hooks = [inner.encoder.layers[0].register_forward_pre_hook(
        _keep_input(seen, "emb"), with_kwargs=True)]
    hooks += [l.register_forward_hook(lambda _m, _i, o: layer_out.append(_first(o))) for l in inner.encoder.layers]
    vout = vision(pixel_values=pixel_values, output_hidden_states=True)
    for h in hooks:
        h.remove()
    hs = vout.hidden_states
    assert len(hs) == len(layer_out) + 1 and all(torch.equal(a, b) for a, b in zip(hs[1:], layer_out))
    assert torch.equal(hs[0], seen["emb"])
    if hasattr(inner, "pre_layrnorm"):  # CLIP: hidden_states[0] = pre_layrnorm(patch + CLS + positions)
        assert torch.equal(hs[-1], vout.last_hidden_state)
        assert torch.equal(hs[0], inner.pre_layrnorm(inner.embeddings(pixel_values)))
    return list(hs)


@torch.no_grad()
def aim_states(aim, pixel_values):
    """[input of block 0, block 0 out, …] captured by hooks during the real AIM.forward (head included), checked
    against AIMMixin.extract_features and the preprocessor's output."""
    seen, layer_out = {}, []
    hooks = [aim.trunk.blocks[0].register_forward_pre_hook(lambda _m, a: seen.__setitem__("emb", a[0].clone()))]
    hooks += [b.register_forward_hook(lambda _m, _i, o: layer_out.append(o.clone())) for b in aim.trunk.blocks]
    logits = aim(pixel_values)
    for h in hooks:
        h.remove()
    assert logits.ndim == 2 and len(layer_out) == len(aim.trunk.blocks)
    feats = aim.extract_features(pixel_values)
    assert len(feats) == len(layer_out) and all(torch.equal(a, b) for a, b in zip(feats, layer_out))
    assert torch.equal(seen["emb"], aim.preprocessor(pixel_values))
    return [seen["emb"]] + layer_out


@torch.no_grad()
def language_states(lm, image_token_id, input_ids, image_embeds, out):
    embeds = lm.model.embed_tokens(input_ids).clone()
    mask = input_ids == image_token_id
    assert int(mask.sum()) == image_embeds.shape[0] * image_embeds.shape[1]
    embeds[mask] = image_embeds.reshape(-1, image_embeds.shape[-1])  # row-major over (batch, position): image b → row b
    out["expect.language.embeddings"] = embeds.clone()
    layer_out = []
    hooks = [l.register_forward_hook(lambda _m, _i, o: layer_out.append(_first(o))) for l in lm.model.layers]
    lout = lm(inputs_embeds=embeds, output_hidden_states=True)
    for h in hooks:
        h.remove()
    check_language(lm, lout, layer_out, embeds)
    for i, h in enumerate(layer_out):
        out[f"expect.language.layer.{i}"] = h
    out["expect.logits"] = lout.logits


def check_language(lm, lout, layer_out, embeds):
    hs = lout.hidden_states  # transformers 5: hidden_states[-1] is AFTER the final norm
    assert len(hs) == len(layer_out) + 1 and torch.equal(hs[0], embeds)
    assert all(torch.equal(hs[i + 1], h) for i, h in enumerate(layer_out[:-1]))
    assert torch.equal(hs[-1], lm.model.norm(layer_out[-1]))
    head = lm.lm_head.weight
    assert torch.allclose(lout.logits, F.linear(hs[-1], head), atol=1e-5, rtol=1e-5)


@torch.no_grad()
def reference(case, pixel_values, input_ids):
    if case["kind"] == "llava":
        return reference_llava(case, pixel_values, input_ids)
    out = {"input.pixel_values": pixel_values, "input.input_ids": input_ids}
    vcfg = case["config"]["vision"]
    hs = clip_states(case["vision"], pixel_values) if vcfg["kind"] == "clip" else aim_states(case["vision"], pixel_values)
    out["expect.vision.embeddings"] = hs[0]
    for i, h in enumerate(hs[1:]):
        out[f"expect.vision.layer.{i}"] = h
    features = hs[vcfg["feature_layer"]]
    if vcfg["drop_class_token"]:
        features = features[:, 1:]
    out["expect.vision_features"] = features.clone()

    conn, kind = case["connector"], case["config"]["connector"]["kind"]
    if kind == "c_abstractor":
        stages = {}
        hooks = [conn.net[k].register_forward_hook(lambda _m, _i, o, k=k: stages.__setitem__(k, o)) for k in range(3)]
        image_embeds = conn(features.clone())  # Honeybee adds pos_emb IN PLACE: give it a clone
        for h in hooks:
            h.remove()
        out["expect.connector.stage.0"], out["expect.connector.pool"], out["expect.connector.stage.1"] = stages[0], stages[1], stages[2]
    elif kind == "average_pool":
        seen = {}
        hook = conn.pool.register_forward_hook(lambda _m, _i, o: seen.__setitem__("pool", o))
        image_embeds = conn(features.clone())
        hook.remove()
        out["expect.connector.pool"] = seen["pool"].flatten(2).transpose(1, 2)  # NCHW → [B, K, C] row-major
    elif kind == "attention_pool":
        seen = {}
        hook = conn.pooler.register_forward_hook(lambda _m, _i, o: seen.__setitem__("pool", o))
        image_embeds = conn(features.clone())
        hook.remove()
        out["expect.connector.pool"] = seen["pool"]  # batch-first [B, K, hidden]
    else:
        raise AssertionError(kind)
    assert torch.equal(out["expect.vision_features"], features), "the connector modified its input"
    out["expect.image_embeds"] = image_embeds
    language_states(case["language"], case["config"]["language"]["image_token_id"], input_ids, image_embeds, out)
    return {k: v.detach().contiguous() for k, v in out.items()}


@torch.no_grad()
def reference_llava(case, pixel_values, input_ids):
    """The whole LlavaForConditionalGeneration forward (its own vision_feature_layer / select strategy, its own
    masked_scatter splice), every stage captured with hooks."""
    llava = case["llava"]
    model = llava.model
    encoder = getattr(model.vision_tower, "vision_model", model.vision_tower).encoder
    seen, vis_out, lang_out = {}, [], []
    hooks = [l.register_forward_hook(lambda _m, _i, o: vis_out.append(_first(o))) for l in encoder.layers]
    hooks.append(encoder.layers[0].register_forward_pre_hook(
        _keep_input(seen, "emb"), with_kwargs=True))
    hooks.append(model.multi_modal_projector.register_forward_hook(
        lambda _m, i, o: seen.update(features=i[0].clone(), image_embeds=o)))
    hooks.append(model.language_model.register_forward_pre_hook(
        lambda _m, _a, kw: seen.__setitem__("inputs_embeds", kw["inputs_embeds"].clone()), with_kwargs=True))
    hooks += [l.register_forward_hook(lambda _m, _i, o: lang_out.append(_first(o))) for l in model.language_model.layers]
    lout = llava(input_ids=input_ids, pixel_values=pixel_values, output_hidden_states=True)
    for h in hooks:
        h.remove()

    # Vision: the hooks agree with the tower's own hidden_states, and the projector got
    # hidden_states[vision_feature_layer] (minus CLS for strategy "default").
    vref = clip_states(model.vision_tower, pixel_values)
    assert len(vis_out) == len(vref) - 1 and torch.equal(seen["emb"], vref[0])
    assert all(torch.equal(a, b) for a, b in zip(vis_out, vref[1:]))
    fl, strategy = llava.config.vision_feature_layer, llava.config.vision_feature_select_strategy
    assert fl == case["config"]["vision"]["feature_layer"] and strategy in ("default", "full")
    assert (strategy == "default") == case["config"]["vision"]["drop_class_token"]
    assert torch.equal(seen["features"], vref[fl][:, 1:] if strategy == "default" else vref[fl])
    # The splice: what the language model received == our §11 splice of the projector output.
    ids_embeds = model.language_model.embed_tokens(input_ids).clone()
    mask = input_ids == llava.config.image_token_id
    ids_embeds[mask] = seen["image_embeds"].reshape(-1, seen["image_embeds"].shape[-1])
    assert torch.equal(seen["inputs_embeds"], ids_embeds)
    # Language: hooks == hidden_states; logits == the model's own.
    lm_view = type("LM", (), {"model": model.language_model, "lm_head": llava.lm_head})
    check_language(lm_view, lout, lang_out, seen["inputs_embeds"])
    if case["config"]["language"]["tie_word_embeddings"]:
        assert llava.lm_head.weight is model.language_model.embed_tokens.weight

    out = {"input.pixel_values": pixel_values, "input.input_ids": input_ids, "expect.vision.embeddings": seen["emb"]}
    for i, h in enumerate(vis_out):
        out[f"expect.vision.layer.{i}"] = h
    out["expect.vision_features"] = seen["features"]
    out["expect.image_embeds"] = seen["image_embeds"]
    out["expect.language.embeddings"] = seen["inputs_embeds"]
    for i, h in enumerate(lang_out):
        out[f"expect.language.layer.{i}"] = h
    out["expect.logits"] = lout.logits
    return {k: v.detach().contiguous() for k, v in out.items()}


# ---------------------------------------------------------------------------------------------------------
# A from-scratch forward over the CANONICAL tensors and the mm1conv config (architecture.md §2.1, §2.3, §3.1,
# §3.3(a), §3.4, §3.5, §4.3, §11). Used only as a check that model.safetensors + config.json reproduce the goldens;
# every stage starts from the previous GOLDEN stage, so a mismatch names the stage.

def _ln(x, c, p, eps):
    return F.layer_norm(x, x.shape[-1:], c[p + ".weight"], c[p + ".bias"], eps)


def _lin(x, c, p):
    return F.linear(x, c[p + ".weight"], c.get(p + ".bias"))


def _act(name, x):
    return x * torch.sigmoid(1.702 * x) if name == "quick_gelu" else F.gelu(x)


def _attention(q, k, v, heads, kv_heads, causal):
    b, tq, n = q.shape
    tk, d = k.shape[1], n // heads
    q = q.reshape(b, tq, heads, d).transpose(1, 2)
    k, v = (z.reshape(b, tk, kv_heads, d).transpose(1, 2).repeat_interleave(heads // kv_heads, dim=1) for z in (k, v))
    s = q @ k.transpose(-1, -2) / math.sqrt(d)
    if causal:
        s = s.masked_fill(torch.ones(tq, tk, dtype=torch.bool).triu(1), float("-inf"))
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(b, tq, heads * d)


def _sincos(grid, d):  # token (i, j) row-major → [sin jω, cos jω, sin iω, cos iω], ω_k = 10000^(−k/(D/4))
    omega = 1.0 / 10000 ** (torch.arange(d // 4, dtype=torch.float32) / (d / 4))
    i, j = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    i, j = i.reshape(-1, 1) * omega, j.reshape(-1, 1) * omega
    return torch.cat([j.sin(), j.cos(), i.sin(), i.cos()], dim=1)


def _windows(g_in, q, pooling):
    if pooling == "torch_adaptive":
        return [(i * g_in // q, -(-(i + 1) * g_in // q)) for i in range(q)]
    stride = g_in // q
    kernel = g_in - (q - 1) * stride
    return [(i * stride, i * stride + kernel) for i in range(q)]


def _pool(x, q, pooling):  # NCHW, explicit windows
    w = _windows(x.shape[-1], q, pooling)
    return torch.stack([torch.stack([x[:, :, r0:r1, c0:c1].mean((2, 3)) for c0, c1 in w], -1) for r0, r1 in w], -2)


def _ln2d(x, c, p, eps):
    return _ln(x.permute(0, 2, 3, 1), c, p, eps).permute(0, 3, 1, 2)


def scratch_vision(cfg, c, x):
    V = cfg["vision"]
    eps, p, b = V["norm_eps"], V["patch_size"], x.shape[0]
    h = F.conv2d(x, c["vision.patch_embed.weight"], c.get("vision.patch_embed.bias"), stride=p).flatten(2).transpose(1, 2)
    if V["kind"] == "clip":
        h = torch.cat([c["vision.class_token"].expand(b, 1, -1), h], 1) + c["vision.position_embedding"]
        h = _ln(h, c, "vision.pre_norm", eps)
    else:
        h = _ln(h, c, "vision.patch_norm", eps) + _sincos(V["image_size"] // p, V["hidden_size"])
    return h


def scratch_vision_layer(cfg, c, i, h):
    V = cfg["vision"]
    L, eps = f"vision.layers.{i}.", V["norm_eps"]
    a = _ln(h, c, L + "norm1", eps)
    q, k, v = (_lin(a, c, L + f"attention.{z}") for z in "qkv")
    h = h + _lin(_attention(q, k, v, V["heads"], V["heads"], False), c, L + "attention.o")
    return h + _lin(_act(V["activation"], _lin(_ln(h, c, L + "norm2", eps), c, L + "mlp.fc1")), c, L + "mlp.fc2")


def scratch_connector(cfg, c, feats, ref):
    """Returns {stage key: tensor}; intermediate stages recomputed from the previous golden stage."""
    C = cfg["connector"]
    out = {}
    if C["kind"] == "mlp":
        out["expect.image_embeds"] = _lin(_act(C["activation"], _lin(feats, c, "connector.fc1")), c, "connector.fc2")
    elif C["kind"] == "average_pool":
        b, n, ch = feats.shape
        side, q = math.isqrt(n), math.isqrt(C["image_tokens"])
        pooled = _pool(feats.transpose(1, 2).reshape(b, ch, side, side), q, C["pooling"]).flatten(2).transpose(1, 2)
        out["expect.connector.pool"] = pooled
        out["expect.image_embeds"] = _lin(ref["expect.connector.pool"], c, "connector.proj")
    elif C["kind"] == "attention_pool":
        eps, heads = C["norm_eps"], C["heads"]
        kv = _ln(feats, c, "connector.norm_kv", eps)
        q = _ln(c["connector.queries"], c, "connector.norm_q", eps).expand(feats.shape[0], -1, -1)
        qq, kk, vv = _lin(q, c, "connector.attention.q"), _lin(kv, c, "connector.attention.k"), _lin(kv, c, "connector.attention.v")
        out["expect.connector.pool"] = _lin(_attention(qq, kk, vv, heads, heads, False), c, "connector.attention.o")
        out["expect.image_embeds"] = _lin(ref["expect.connector.pool"], c, "connector.proj")
    else:  # c_abstractor
        eps, q = C["norm_eps"], math.isqrt(C["image_tokens"])

        def stage(x, s):
            for j in range(C["depth"]):
                B = f"connector.stages.{s}.blocks.{j}."
                y = F.silu(_ln2d(F.conv2d(x, c[B + "conv1.weight"]), c, B + "norm1", eps))
                y = F.silu(_ln2d(F.conv2d(y, c[B + "conv2.weight"], padding=1, groups=y.shape[1]), c, B + "norm2", eps))
                se = F.conv2d(F.silu(F.conv2d(y.mean((2, 3), keepdim=True), c[B + "se.fc1.weight"], c[B + "se.fc1.bias"])),
                              c[B + "se.fc2.weight"], c[B + "se.fc2.bias"])
                y = _ln2d(F.conv2d(y * torch.sigmoid(se), c[B + "conv3.weight"]), c, B + "norm3", eps)
                sc = (_ln2d(F.conv2d(x, c[B + "downsample.conv.weight"]), c, B + "downsample.norm", eps)
                      if B + "downsample.conv.weight" in c else x)
                x = F.silu(y + sc)
            return x

        x = feats + c["connector.position_embedding"]
        b, n, ch = x.shape
        side = math.isqrt(n)
        out["expect.connector.stage.0"] = stage(x.transpose(1, 2).reshape(b, ch, side, side), 0)
        out["expect.connector.pool"] = _pool(ref["expect.connector.stage.0"], q, C["pooling"])
        out["expect.connector.stage.1"] = stage(ref["expect.connector.pool"], 1)
        x = ref["expect.connector.stage.1"].flatten(2).transpose(1, 2)
        for k in range(C["mlp_depth"]):
            x = _lin(F.silu(x) if k else x, c, f"connector.readout.{k}")
        out["expect.image_embeds"] = x
    return out


def _rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rope(x, d, theta):  # (b, t, heads·d), rotate-half per head, positions 0..t−1
    b, t, n = x.shape
    x = x.reshape(b, t, n // d, d)
    ang = torch.arange(t, dtype=torch.float32)[:, None] * (theta ** (-torch.arange(0, d, 2, dtype=torch.float32) / d))[None]
    ang = torch.cat([ang, ang], -1)
    rot = torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1)
    return (x * ang.cos()[None, :, None] + rot * ang.sin()[None, :, None]).reshape(b, t, n)


def scratch_language_layer(cfg, c, i, h):
    Lc = cfg["language"]
    L, eps, d = f"language.layers.{i}.", Lc["rms_norm_eps"], Lc["head_dim"]
    a = _rms(h, c[L + "attention_norm.weight"], eps)
    q, k, v = (F.linear(a, c[L + f"attention.{z}.weight"]) for z in "qkv")
    o = _attention(_rope(q, d, Lc["rope_theta"]), _rope(k, d, Lc["rope_theta"]), v, Lc["heads"], Lc["kv_heads"], True)
    h = h + F.linear(o, c[L + "attention.o.weight"])
    a = _rms(h, c[L + "mlp_norm.weight"], eps)
    if L + "moe.router.weight" in c:
        moe = Lc["moe"]
        p = F.linear(a, c[L + "moe.router.weight"]).softmax(-1)
        w, idx = p.topk(moe["top_k"], -1)
        if moe["top_k"] < moe["experts"]:  # no near-tie at the top-k boundary: f32 rounding must not flip an expert
            ranked = p.sort(-1, descending=True).values
            gap = (ranked[..., moe["top_k"] - 1] - ranked[..., moe["top_k"]]).min().item()
            assert gap > 1e-3, f"layer {i}: router probabilities {gap:.1e} apart at the top-k boundary"
        if moe["normalize_top_k"]:
            w = w / w.sum(-1, keepdim=True)
        y = torch.zeros_like(a)
        for e in range(moe["experts"]):
            ge, ue, de = (c[L + f"moe.experts.{z}"][e] for z in ("gate", "up", "down"))
            y = y + F.linear(F.silu(F.linear(a, ge)) * F.linear(a, ue), de) * (w * (idx == e)).sum(-1, keepdim=True)
        return h + y
    return h + F.linear(F.silu(F.linear(a, c[L + "mlp.gate.weight"])) * F.linear(a, c[L + "mlp.up.weight"]), c[L + "mlp.down.weight"])


@torch.no_grad()
def check_scratch(cfg, c, ref, tol=1e-4):
    """Every golden stage is reproduced by the from-scratch forward over the canonical tensors (relative to the
    stage's magnitude). Returns the worst relative error."""
    worst = {}

    def close(key, ours):
        theirs = ref[key]
        assert ours.shape == theirs.shape, (key, ours.shape, theirs.shape)
        err = (ours - theirs).abs().max().item() / max(1.0, theirs.abs().max().item())
        assert err < tol, f"{key}: the canonical forward differs by {err:.2e} (relative)"
        worst[key] = err

    V = cfg["vision"]
    close("expect.vision.embeddings", scratch_vision(cfg, c, ref["input.pixel_values"]))
    prev = ref["expect.vision.embeddings"]
    hs = [prev]
    for i in range(V["depth"]):
        close(f"expect.vision.layer.{i}", scratch_vision_layer(cfg, c, i, prev))
        prev = ref[f"expect.vision.layer.{i}"]
        hs.append(prev)
    feats = hs[V["feature_layer"]]
    if V["drop_class_token"]:
        feats = feats[:, 1:]
    close("expect.vision_features", feats)
    for k, v in scratch_connector(cfg, c, ref["expect.vision_features"], ref).items():
        close(k, v)
    Lc = cfg["language"]
    ids = ref["input.input_ids"]
    emb = c["language.embed_tokens.weight"][ids].clone()
    emb[ids == Lc["image_token_id"]] = ref["expect.image_embeds"].reshape(-1, Lc["hidden_size"])
    close("expect.language.embeddings", emb)
    prev = ref["expect.language.embeddings"]
    for i in range(Lc["layers"]):
        close(f"expect.language.layer.{i}", scratch_language_layer(cfg, c, i, prev))
        prev = ref[f"expect.language.layer.{i}"]
    head = c["language.embed_tokens.weight"] if Lc["tie_word_embeddings"] else c["language.lm_head.weight"]
    close("expect.logits", F.linear(_rms(prev, c["language.norm.weight"], Lc["rms_norm_eps"]), head))
    expected_keys = set(worst) | {"input.pixel_values", "input.input_ids"}
    assert set(ref) == expected_keys, f"unchecked stages {sorted(set(ref) - expected_keys)}"
    return max(worst.values())


# ---------------------------------------------------------------------------------------------------------
# The cases

# Small shared dims for the cases that do not reuse tiny-dense (keeps the folder small).
SMALL_CLIP = clip_fields(hidden_size=16, intermediate_size=64, num_attention_heads=2, projection_dim=16)
SMALL_TEXT = text_fields(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=128, max_position_embeddings=256)


def case_cabs_dense(m, seed):
    """generate_dialects' tiny-dense model, unchanged (build_models(); preset tiny-dense)."""
    canon = g.canonical_models(m)["tiny-dense"]
    mine = {**canonical_clip(sd_of(m["vision"])), **canonical_cabs(sd_of(m["abstractor"])),
            **canonical_language(sd_of(m["llama"]))}
    assert mine.keys() == canon.keys() and all(torch.equal(mine[k], canon[k]) for k in canon)
    cfg = json.loads(json.dumps(g.MM1_CONFIGS["tiny-dense"]))
    inputs = make_inputs(seed, 1, 84, 16, prefix=3, suffix=5, image_token_id=g.IMAGE_TOKEN_ID)
    return dict(kind="modular", config=cfg, canonical=canon, vision=m["vision"], connector=m["abstractor"],
                language=m["llama"], inputs=inputs,
                classes="transformers CLIPVisionModel; Honeybee CAbstractor (timm RegStage); transformers LlamaForCausalLM",
                covers="preset tiny-dense exactly (generate_dialects weights): CLIP quick_gelu, feature −1, CLS dropped, "
                       "C-Abstractor depth 2 with downsample (32→48), uneven 6×6→4×4, dense Llama GQA 4/2, untied head")


def case_cabs_moe(seed):
    vf = dict(SMALL_CLIP)
    vision = build_clip(vf, seed + 1)
    proj = dict(g.PROJECTOR_FIELDS, encoder_hidden_size=16, hidden_size=24, depth=2, mlp_depth=1, num_query_tokens=9,
                output_hidden_size=32)
    with torch.no_grad():
        torch.manual_seed(seed)
        abstractor = g.CAbstractor(proj, num_input_tokens=36).eval()
        randomize_(abstractor, seed + 2)
    tf = dict(SMALL_TEXT, num_hidden_layers=4)
    moe = {"experts": 4, "top_k": 2, "expert_ffn": 32, "sparse_layers": [1, 3]}
    lm, mixtral = build_moe_llama(tf, moe, seed + 3)
    # canonical: the Llama's names, sparse layers from the Mixtral's fused (v5 in-memory) expert tensors
    lsd = sd_of(lm)
    for i in moe["sparse_layers"]:
        assert torch.equal(lsd[f"model.layers.{i}.mlp.experts.gate_up_proj"], sd_of(mixtral)[f"model.layers.{i}.mlp.experts.gate_up_proj"])
    canon = {**canonical_clip(sd_of(vision)), **canonical_cabs(sd_of(abstractor)),
             **canonical_language(lsd, moe_layers=moe["sparse_layers"])}
    cfg = {"connector": mm1_cabs(proj), "language": mm1_language(tf, moe), "vision": mm1_clip(vf, -1, True)}
    inputs = make_inputs(seed, 1, 84, 9, prefix=2, suffix=3, image_token_id=tf["vocab_size"] - 1)
    return dict(kind="modular", config=cfg, canonical=canon, vision=vision, connector=abstractor, language=lm, inputs=inputs,
                classes="transformers CLIPVisionModel; Honeybee CAbstractor (timm RegStage); transformers LlamaForCausalLM "
                        "with MixtralSparseMoeBlock (MixtralForCausalLM, experts_implementation eager) in layers 1, 3",
                covers="interleaved MoE (layers 1, 3 sparse: 4 experts, top-2, renormalised; 0, 2 dense), GQA 4/2; "
                       "C-Abstractor depth 2, mlp_depth 1 (readout = one Linear), even 6×6→3×3")


def case_mlp_llava(seed):
    vf = dict(SMALL_CLIP, num_hidden_layers=3)
    tf = dict(SMALL_TEXT, tie_word_embeddings=True, rms_norm_eps=1e-6)
    image_token = tf["vocab_size"] - 1
    lcfg = LlavaConfig(vision_config=CLIPVisionConfig(**vf), text_config=g.llama_config(**tf), image_token_index=image_token,
                       vision_feature_layer=-2, vision_feature_select_strategy="default", image_seq_length=36,
                       projector_hidden_act="gelu", multimodal_projector_bias=True, tie_word_embeddings=True)
    with torch.no_grad():
        torch.manual_seed(seed)
        llava = LlavaForConditionalGeneration._from_config(lcfg, attn_implementation="eager").eval()
        randomize_(llava, seed + 1)
    assert llava.lm_head.weight is llava.model.language_model.embed_tokens.weight, "head not tied"
    ll = sd_of(llava)
    vis = {k[len("model.vision_tower."):]: v for k, v in ll.items() if k.startswith("model.vision_tower.")}
    lang = {("model." + k[len("model.language_model."):] if k.startswith("model.language_model.") else k): v for k, v in ll.items()}
    canon = {**canonical_clip(vis), **canonical_language(lang, tied=True),
             **{f"connector.fc{n}.{s}": ll[f"model.multi_modal_projector.linear_{n}.{s}"] for n in (1, 2) for s in ("weight", "bias")}}
    cfg = {"connector": {"activation": "gelu", "kind": "mlp"}, "language": mm1_language(tf), "vision": mm1_clip(vf, -2, True)}
    inputs = make_inputs(seed, 1, 84, 36, prefix=3, suffix=3, image_token_id=image_token)
    return dict(kind="llava", config=cfg, canonical=canon, llava=llava, inputs=inputs,
                classes="transformers LlavaForConditionalGeneration (CLIPVisionModel + multi_modal_projector + LlamaModel), whole-model forward",
                covers="LLaVA MLP projector (exact gelu), feature layer −2 of 3 (vision_feature_select_strategy default: CLS dropped), "
                       "TIED head (no language.lm_head.weight), RMS eps 1e-6, the model's own masked_scatter splice")


def case_avgpool_b2(seed):
    vf = dict(SMALL_CLIP, hidden_act="gelu", image_size=98)
    vision = build_clip(vf, seed + 1)
    with torch.no_grad():
        torch.manual_seed(seed)
        conn = AveragePoolConnector(16, 32, grid=7, q=3, pooling="torch_adaptive").eval()
        randomize_(conn, seed + 2)
    tf = dict(SMALL_TEXT, num_key_value_heads=4, rms_norm_eps=1e-6, rope_theta=500000.0)
    lm = build_llama(tf, seed + 3)
    canon = {**canonical_clip(sd_of(vision)), **canonical_avgpool(sd_of(conn)), **canonical_language(sd_of(lm))}
    cfg = {"connector": {"image_tokens": 9, "kind": "average_pool", "pooling": "torch_adaptive"},
           "language": mm1_language(tf), "vision": mm1_clip(vf, -1, True)}
    inputs = make_inputs(seed, 2, 98, 9, prefix=3, suffix=4, image_token_id=tf["vocab_size"] - 1)
    assert not torch.equal(inputs[0][0], inputs[0][1]) and not torch.equal(inputs[1][0], inputs[1][1])
    return dict(kind="modular", config=cfg, canonical=canon, vision=vision, connector=conn, language=lm, inputs=inputs,
                classes="transformers CLIPVisionModel (hidden_act gelu); torch nn.AdaptiveAvgPool2d((3, 3)) + nn.Linear; "
                        "transformers LlamaForCausalLM",
                covers="batch 2 (two images, two prompts), CLIP exact gelu at 98 px (7×7 grid), average pool torch_adaptive "
                       "7×7→3×3 (windows [0,3) [2,5) [4,7)), plain MHA (kv_heads = heads = 4), RoPE θ 5e5, RMS eps 1e-6")


def case_avgpool_stride_kernel(seed, models):
    a = {"img_size": 84, "patch_size": 14, "embed_dim": 16, "num_blocks": 2, "num_heads": 2, "probe_layers": 2}
    with torch.no_grad():
        torch.manual_seed(seed)
        aim = models.AIM(*models._aim(num_classes=ga.NUM_CLASSES, **a)).eval()
        ga.randomize_(aim, seed + 1)
        conn = AveragePoolConnector(16, 32, grid=6, q=4, pooling="stride_kernel").eval()
        randomize_(conn, seed + 2)
    assert isinstance(conn.pool, nn.AvgPool2d) and conn.pool.kernel_size == 3 and conn.pool.stride == 1
    tf = dict(SMALL_TEXT, vocab_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    lm = build_llama(tf, seed + 3)
    canon = {**canonical_aim(sd_of(aim)), **canonical_avgpool(sd_of(conn)), **canonical_language(sd_of(lm))}
    cfg = {"connector": {"image_tokens": 16, "kind": "average_pool", "pooling": "stride_kernel"},
           "language": mm1_language(tf), "vision": mm1_aim(a)}
    inputs = make_inputs(seed, 1, 84, 16, prefix=1, suffix=2, image_token_id=tf["vocab_size"] - 1)
    return dict(kind="modular", config=cfg, canonical=canon, vision=aim, connector=conn, language=lm, inputs=inputs,
                classes="apple/ml-aim AIM v1 (models._aim → models.AIM); torch nn.AvgPool2d(kernel 3, stride 1) + nn.Linear; "
                        "transformers LlamaForCausalLM",
                covers="average pool stride_kernel 6×6→4×4 (stride 1, kernel 3: windows [0,3) [1,4) [2,5) [3,6), which "
                       "DIFFER from torch_adaptive's [0,2) [1,3) [3,5) [4,6)); AIM v1 2 blocks at 84 px; MQA (2 heads, "
                       "1 KV head, head_dim 16), 1 decoder layer, short text (T = 19)")


def case_attnpool(seed):
    vf = dict(SMALL_CLIP)
    vision = build_clip(vf, seed + 1)
    with torch.no_grad():
        torch.manual_seed(seed)
        conn = AttentionPoolConnector(width=16, hidden=24, heads=3, queries=9, out=32).eval()
        randomize_(conn, seed + 2)
    assert conn.pooler.ln_q.eps == 1e-5 and conn.pooler.ln_k.eps == 1e-5 and conn.pooler.attn.batch_first
    tf = dict(SMALL_TEXT, num_key_value_heads=1)
    lm = build_llama(tf, seed + 3)
    canon = {**canonical_clip(sd_of(vision)), **canonical_attnpool(sd_of(conn)), **canonical_language(sd_of(lm))}
    cfg = {"connector": {"heads": 3, "hidden_size": 24, "image_tokens": 9, "kind": "attention_pool", "norm_eps": 1e-05},
           "language": mm1_language(tf), "vision": mm1_clip(vf, -1, False)}
    inputs = make_inputs(seed, 1, 84, 9, prefix=2, suffix=3, image_token_id=tf["vocab_size"] - 1)
    return dict(kind="modular", config=cfg, canonical=canon, vision=vision, connector=conn, language=lm, inputs=inputs,
                classes="transformers CLIPVisionModel; open_clip AttentionalPooler(d_model 24, context_dim 16, n_head 3, "
                        "n_queries 9) + nn.Linear(24→32); transformers LlamaForCausalLM",
                covers="attention pooling (9 learned queries, hidden 24 ≠ vision width 16 → separate q/k/v weights, "
                       "3 heads), CLS KEPT (drop_class_token false: 37 feature tokens), MQA 4/1")


def case_aim_cabs_27(seed, models):
    a = {"img_size": 378, "patch_size": 14, "embed_dim": 16, "num_blocks": 1, "num_heads": 2, "probe_layers": 1}
    proj = dict(g.PROJECTOR_FIELDS, encoder_hidden_size=16, hidden_size=16, depth=1, mlp_depth=2, num_query_tokens=144,
                output_hidden_size=32)
    with torch.no_grad():
        torch.manual_seed(seed)
        aim = models.AIM(*models._aim(num_classes=ga.NUM_CLASSES, **a)).eval()
        ga.randomize_(aim, seed + 1)
        abstractor = g.CAbstractor(proj, num_input_tokens=27 * 27).eval()
        randomize_(abstractor, seed + 2)
    assert not any("downsample" in k for k in abstractor.state_dict())
    tf = dict(SMALL_TEXT, vocab_size=64)
    lm = build_llama(tf, seed + 3)
    canon = {**canonical_aim(sd_of(aim)), **canonical_cabs(sd_of(abstractor)), **canonical_language(sd_of(lm))}
    cfg = {"connector": mm1_cabs(proj), "language": mm1_language(tf), "vision": mm1_aim(a)}
    inputs = make_inputs(seed, 1, 378, 144, prefix=2, suffix=2, image_token_id=tf["vocab_size"] - 1)
    return dict(kind="modular", config=cfg, canonical=canon, vision=aim, connector=abstractor, language=lm, inputs=inputs,
                classes="apple/ml-aim AIM v1 (models._aim → models.AIM); Honeybee CAbstractor (timm RegStage); "
                        "transformers LlamaForCausalLM",
                covers="MM1's geometry: 378 px / patch 14 = 27×27 AIM tokens (no CLS, sin-cos positions, patch conv bias + "
                       "LN, fused qkv, exact gelu, eps 1e-6) → C-Abstractor 27×27→12×12 = 144 tokens (overlapping windows "
                       "starting 0,2,4,6,9,11,13,15,18,20,22,24), depth 1, no downsample (16→16)")


# ---------------------------------------------------------------------------------------------------------
# Checks against mm1conv and the schema

def check_mappings(m, models):
    """The generalised canonical mappings equal generate_dialects' / generate_aim's on their own models."""
    canon = g.canonical_models(m)
    fused, _ = g.moe_decoder_state_dicts(m)
    mine = canonical_language(fused, moe_layers=g.MOE["sparse_layers"])
    assert all(torch.equal(mine[k], canon["tiny-moe"][k]) for k in mine) and set(mine) <= set(canon["tiny-moe"])
    aim = ga.build_model(models)
    theirs, ours = ga.canonical_aim(sd_of(aim)), canonical_aim(sd_of(aim))
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in ours)


def check_graph(mm1conv, case_dir, canon, image_tokens):
    """mm1conv's own view: the config parses, its graph lists exactly our names and shapes, and its strict reader
    reads model.safetensors with the same names, shapes and dtype F32."""
    run = lambda *a: json.loads(subprocess.run([mm1conv, *a], check=True, capture_output=True, text=True).stdout)
    graph = run("inspect", "--graph", os.path.join(case_dir, "config.json"), "--json")
    want = {p["name"]: p["shape"] for p in graph["parameters"]}
    got = {k: list(v.shape) for k, v in canon.items()}
    assert want == got, f"{case_dir}: graph vs canonical: missing {sorted(set(want) - set(got))}, extra " \
        f"{sorted(set(got) - set(want))}, shapes {[(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]]}"
    assert graph["imageTokens"] == image_tokens, (graph["imageTokens"], image_tokens)
    info = run("inspect", os.path.join(case_dir, "model.safetensors"), "--json")
    assert {t["name"]: t["shape"] for t in info["tensors"]} == got and {t["dtype"] for t in info["tensors"]} == {"F32"}
    return len(want)


def check_schema(cfg):
    try:
        import jsonschema
    except ImportError:
        return False
    schema = json.load(open(os.path.join(REPO, "Schemas", "mm1-config.schema.json")))
    jsonschema.validate(cfg, schema)
    return True


# ---------------------------------------------------------------------------------------------------------
# Files

def read_all(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def summary(cfg):
    V, C, L = cfg["vision"], cfg["connector"], cfg["language"]
    v = (f"{V['kind'].upper()} {V['image_size']}px/p{V['patch_size']} ({V['image_size'] // V['patch_size']}²), w{V['hidden_size']}, "
         f"{V['depth']}L, {V['heads']}h, {V['activation']}, feature {V['feature_layer']}"
         + (", CLS dropped" if V["drop_class_token"] else (", CLS kept" if V["kind"] == "clip" else "")))
    if C["kind"] == "c_abstractor":
        c = f"C-Abs h{C['hidden_size']} d{C['depth']} mlp{C['mlp_depth']} → {C['image_tokens']} ({C['pooling']})"
    elif C["kind"] == "average_pool":
        c = f"avg pool → {C['image_tokens']} ({C['pooling']})"
    elif C["kind"] == "attention_pool":
        c = f"attn pool h{C['hidden_size']} {C['heads']}h → {C['image_tokens']}"
    else:
        c = f"MLP ({C['activation']})"
    lang = (f"Llama V{L['vocab_size']} H{L['hidden_size']} {L['layers']}L {L['heads']}/{L['kv_heads']}h, "
            f"FFN {L['intermediate_size']}, {'tied' if L['tie_word_embeddings'] else 'untied'}")
    if "moe" in L:
        m = L["moe"]
        lang += f", MoE {m['experts']}e top-{m['top_k']} I{m['expert_intermediate_size']} at {m['sparse_layers']}"
    return v, c, lang


def write_readme(cases, versions, graph_checked):
    rows = []
    for name, case, ref in cases:
        v, c, lang = summary(case["config"])
        b, t = ref["input.input_ids"].shape
        k = ref["expect.image_embeds"].shape[1]
        rows.append(f"| `{name}` | {case['covers']} | {case['classes']} | {v}; {c}; {lang}; B={b}, T={t}, K={k} |")
    table = "\n".join(rows)
    text = f"""# Reference-forward fixtures

Made by `{GENERATOR}` (seed {SEED}; {", ".join(f"{k} {v}" for k, v in versions.items())}). Do not edit by hand:
rerun

    /opt/mm1py/bin/python {GENERATOR} --aim-src /tmp/ml-aim/aim-v1 --mm1conv .build/debug/mm1conv

(deterministic: the same bytes again; `MANIFEST.json` holds the SHA-256 of every file). The AIM cases need the
apple/ml-aim sources at the pinned revision, which are not part of this repository:
`git clone https://github.com/apple/ml-aim /tmp/ml-aim && git -C /tmp/ml-aim checkout {ga.ML_AIM_COMMIT}`.

Each folder is one model and one forward pass through the REAL reference classes (CPU, float32, eager attention,
one thread): `model.safetensors` (F32, mm1conv's canonical names — exactly what `mm1conv inspect --graph
config.json` lists{" (checked by the generator)" if graph_checked else ""}), `config.json` (mm1conv config,
`Schemas/mm1-config.schema.json`) and `reference.safetensors` (the stages, keys as in
`Samples/tiny-mm1/reference.safetensors`; see the generator's docstring). Weights are seeded and BF16/F16-exact
(generate_dialects.py's rules). The generator also checks every stage against the classes' own outputs
(output_hidden_states, AIM `extract_features`, LLaVA's own splice) and against a from-scratch forward over the
canonical tensors and the config (relative error < 1e-4; in practice ~1e-7).

| case | covers | reference classes | config (vision; connector; decoder; inputs) |
|---|---|---|---|
{table}

`cabs-dense/model.safetensors` is byte-identical to `../dialects/canonical-tiny-dense.safetensors` (the same
tiny-dense weights as `Samples/tiny-mm1`); its inputs differ from the sample's. To make the same kind of file
for your own LLaVA or Honeybee model, use `Samples/dump_reference.py` (it runs the capture code of this
generator).

## Stage keys

- `expect.vision.embeddings`: input of vision block 0 — CLIP: `pre_layrnorm(patch conv + CLS + positions)` (HF
  `hidden_states[0]`); AIM: `LayerNorm(patch conv + bias) + sin-cos positions` (the `preprocessor` output).
- `expect.vision.layer.{{i}}`: output of vision block i (never post-normed). `expect.vision_features` =
  `hidden_states[feature_layer]` (`hidden_states[0]` = the embeddings above), CLS dropped when `drop_class_token`.
- C-Abstractor: `expect.connector.stage.0` [B,C,G,G], `expect.connector.pool` [B,C,q,q], `expect.connector.stage.1`
  [B,C,q,q] (NCHW; stage 0's input is features + position embedding). Average pool: `expect.connector.pool` =
  pooled tokens [B,K,C_vision], row-major, before `connector.proj`. Attention pool: `expect.connector.pool` =
  `AttentionalPooler` output [B,K,hidden] (after its out-projection `connector.attention.o`), before `connector.proj`.
  MLP: no intermediate stage.
- `expect.language.embeddings`: token embeddings with the K·B image-token rows replaced, in order (row-major over
  batch then position), by `expect.image_embeds` (architecture.md §11); `expect.language.layer.{{i}}`: decoder layer
  outputs before the final RMSNorm (transformers 5's `hidden_states[-1]` is AFTER it, so it is not used);
  `expect.logits` = lm_head(RMSNorm(last layer)) (`language.embed_tokens.weight` when tied).

## Notes on the reference code

- **open_clip `AttentionalPooler`** (open_clip 3.3.0 `open_clip/transformer.py`): `forward(x)` computes
  `x = ln_k(x)` first (ONE LayerNorm over the vision tokens, used as both keys and values), `q = ln_q(query)`
  (the learned `query` [n_queries, d_model], expanded over the batch), then
  `nn.MultiheadAttention(d_model, n_head, kdim=vdim=context_dim, batch_first=True)(q, x, x, need_weights=False)[0]`:
  batch-first in and out ([B, n_queries, d_model]), includes `out_proj`, no residual, no MLP, no final norm.
  With context_dim ≠ d_model the attention keeps separate `q_proj_weight` [d, d], `k_proj_weight` / `v_proj_weight`
  [d, context_dim] and one `in_proj_bias` [3d] (split [0:d] q, [d:2d] k, [2d:3d] v); scale 1/√(d/n_head).
  `ln_q` / `ln_k` are open_clip's `LayerNorm` (nn.LayerNorm that casts back to the input dtype) with the default
  eps 1e-5 — the class has no eps argument (a different eps needs `norm_layer=partial(LayerNorm, eps=…)`).
  Canonical mapping: `query` → `connector.queries`, `ln_q` → `connector.norm_q`, `ln_k` → `connector.norm_kv`,
  `attn.{{q,k,v}}_proj_weight` + bias thirds → `connector.attention.{{q,k,v}}`, `attn.out_proj` →
  `connector.attention.o`; the Linear after it → `connector.proj`.
- **Average pooling, 7×7→3×3**: torch's adaptive windows (floor(i·7/3) … ceil((i+1)·7/3)) are [0,3) [2,5) [4,7),
  identical to stride/kernel pooling (stride 2, kernel 3); a 7→3 stride_kernel fixture would not tell the two
  modes apart, so `avgpool-stride-kernel` uses 6×6→4×4 (stride 1, kernel 3), where they differ (asserted).
- **Mixtral experts**: transformers 5.24 runs `MixtralExperts` through `experts_implementation` (default
  `grouped_mm` when available); the goldens use `"eager"` (the per-expert loop). The router softmax is in fp32,
  top-k, then divided by the top-k sum (normalize_top_k true).
- **AIM attention** uses `F.scaled_dot_product_attention` (ml-aim's own code; no eager switch exists).
- **LLaVA tie**: `LlavaConfig(tie_word_embeddings=True)` with `text_config.tie_word_embeddings=True`; then
  `lm_head.weight` IS `embed_tokens.weight` (asserted) and the canonical file has no `language.lm_head.weight`.
"""
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aim-src", default="/tmp/ml-aim/aim-v1", help="ml-aim's aim-v1 folder (see generate_aim.py)")
    ap.add_argument("--any-revision", action="store_true", help="accept ml-aim sources other than the pinned revision")
    ap.add_argument("--mm1conv", default=os.path.join(REPO, ".build", "debug", "mm1conv"),
                    help="an mm1conv binary for the graph check (skipped, with a warning, if it does not exist)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # a fixed reduction order, so the goldens are byte-stable

    _, models, digests = ga.load_aim(args.aim_src, args.any_revision)
    m = g.build_models()
    check_mappings(m, models)

    builders = [
        ("cabs-dense", lambda s: case_cabs_dense(m, s)),
        ("cabs-moe", case_cabs_moe),
        ("mlp-llava", case_mlp_llava),
        ("avgpool-gelu-b2", case_avgpool_b2),
        ("avgpool-stride-kernel", lambda s: case_avgpool_stride_kernel(s, models)),
        ("attnpool", case_attnpool),
        ("aim-cabs-27", lambda s: case_aim_cabs_27(s, models)),
    ]
    graph_ok = os.access(args.mm1conv, os.X_OK)
    if not graph_ok:
        print(f"warning: {args.mm1conv} not found: the mm1conv graph check is SKIPPED", file=sys.stderr)

    import huggingface_hub, open_clip, safetensors, timm, transformers
    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
                "timm": timm.__version__, "open_clip": open_clip.__version__, "safetensors": safetensors.__version__,
                "huggingface_hub": huggingface_hub.__version__}
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    done = []
    for n, (name, build) in enumerate(builders):
        seed = SEED + 100 * (n + 1)
        case = build(seed)
        cfg = case["config"]
        canon = finish(case["canonical"])
        for k, v in canon.items():
            assert torch.equal(v, g.exact(v)), f"{name}: {k} is not bf16/f16-exact"
        pixel_values, input_ids = case["inputs"]
        ref = reference(case, pixel_values, input_ids)
        k_img = ref["expect.image_embeds"].shape[1]
        V = cfg["vision"]
        features = (V["image_size"] // V["patch_size"]) ** 2 + (V["kind"] == "clip" and not V["drop_class_token"])
        assert ref["expect.vision_features"].shape[1] == features
        assert k_img == (features if cfg["connector"]["kind"] == "mlp" else cfg["connector"]["image_tokens"])
        assert all((input_ids == cfg["language"]["image_token_id"]).sum(1) == k_img)
        assert all(v.dtype == torch.float32 for k, v in ref.items() if k != "input.input_ids")
        assert ref["input.input_ids"].dtype == torch.int64
        err = check_scratch(cfg, canon, ref)
        if name == "avgpool-stride-kernel":  # the fixture must tell stride_kernel from torch_adaptive
            adaptive = scratch_connector(dict(cfg, connector=dict(cfg["connector"], pooling="torch_adaptive")), canon,
                                         ref["expect.vision_features"], ref)["expect.connector.pool"]
            assert (adaptive - ref["expect.connector.pool"]).abs().max() > 1e-2

        d = os.path.join(OUT, name)
        os.makedirs(d)
        save_file(canon, os.path.join(d, "model.safetensors"), metadata=ST_METADATA)
        g.write_json(os.path.join(d, "config.json"), cfg)
        meta = {"script": GENERATOR, "case": name, "seed": seed, "weights_seed": seed, "dtype": "float32",
                "attn_implementation": "eager", "threads": 1, "image_token_id": cfg["language"]["image_token_id"],
                "reference_classes": case["classes"], "versions": versions}
        if cfg["vision"]["kind"] == "aim":
            meta["ml_aim_commit"] = ga.ML_AIM_COMMIT
        if name == "cabs-dense":
            meta["weights"] = "Tests/Fixtures/generate_dialects.py build_models() (tiny-dense)"
            meta["weights_seed"] = g.SEED
        save_file(ref, os.path.join(d, "reference.safetensors"), metadata={"generator": json.dumps(meta, sort_keys=True)})
        back, _ = read_all(os.path.join(d, "reference.safetensors"))
        assert back.keys() == ref.keys() and all(torch.equal(back[k], ref[k]) for k in ref)
        schema = check_schema(cfg)
        checked = check_graph(args.mm1conv, d, canon, k_img) if graph_ok else 0
        print(f"  {name}: {len(canon)} tensors{f' == mm1conv graph ({checked})' if checked else ''}, schema "
              f"{'ok' if schema else 'not checked (no jsonschema)'}, {len(ref)} reference tensors, canonical forward "
              f"max rel. err {err:.1e}")
        done.append((name, case, ref))

    write_readme(done, versions, graph_ok)
    g.normalize_modes(OUT)
    files = {}
    for root, _, names in os.walk(OUT):
        for fn in names:
            p = os.path.join(root, fn)
            files[os.path.relpath(p, OUT)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    g.write_json(os.path.join(OUT, "MANIFEST.json"), {
        "generator": GENERATOR, "seed": SEED, "versions": versions, "ml_aim_commit": ga.ML_AIM_COMMIT,
        "ml_aim_sha256": digests, "cases": [n for n, _ in builders], "files": dict(sorted(files.items()))})
    os.chmod(os.path.join(OUT, "MANIFEST.json"), 0o644)
    total = sum(os.path.getsize(os.path.join(r, fn)) for r, _, ns in os.walk(OUT) for fn in ns)
    print(f"wrote {len(files) + 1} files under {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
