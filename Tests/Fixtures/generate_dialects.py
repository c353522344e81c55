#!/usr/bin/env python3
"""Make Tests/Fixtures/dialects/: ONE set of tiny MM1-family weights, written under every naming dialect
mm1conv must import, plus the same weights under mm1conv's canonical names (what each import must give).

The weights come from the real reference classes, randomly initialised with a fixed seed:
  - vision:    transformers `CLIPVisionModel` (CLIPVisionConfig: 84 px, patch 14, width 32, 2 layers, 4 heads,
               MLP 128, quick_gelu, LN eps 1e-5);
  - connector: Honeybee's `CAbstractor` (honeybee/projectors/projectors.py @68a8d84), re-stated below around the
               real timm `RegStage` / `LayerNorm2d` (same attribute names: `pos_emb`, `net` = Sequential(s1,
               pooler, s2), `readout`), hidden 48, depth 2, mlp_depth 2, 6×6 → 4×4;
  - decoder:   transformers `LlamaForCausalLM` (vocab 256, hidden 64, 4 layers, 4 heads, 2 KV heads, FFN 128,
               RMS eps 1e-5, RoPE θ 1e4, untied head);
  - MoE:       HF Mixtral makes EVERY layer sparse, but tiny-moe is sparse at layers 1 and 3 only (MM1
               interleaves). So the MoE decoder is the dense Llama above with the FFN of layers 1 and 3 replaced
               by the sparse blocks (router + 4 experts, top-2, expert FFN 128) of layers 1 and 3 of a
               `MixtralForCausalLM` of the same dims. Embeddings, attention, norms and head are the Llama's
               (they are copied into the Mixtral too, so its layers 1 and 3 are exactly the hybrid's).
               The per-expert on-disk names come from the real `MixtralForCausalLM.save_pretrained`
               (transformers 5 converts the fused in-memory experts back to w1/w2/w3), checked against a
               manual split.
  - llava-mlp: transformers `LlavaForConditionalGeneration` with the same CLIP and Llama weights and its own
               seeded `multi_modal_projector`, written by `save_pretrained`.

Every value is randomised (norm weights as 1 + 0.2·N(0,1), biases 0.1·N(0,1), so a swapped or dropped
norm shows up) and then made exactly representable in bf16 AND f16 (rounded to bf16; magnitudes below
2^-14 are set to ±2^-14). Hence the f32, bf16 and f16 files all import to the same canonical f32 values
bit for bit.

Deterministic: fixed seeds, no timestamps, single-key safetensors metadata ({"format": "pt"}).
Run:   /opt/mm1py/bin/python Tests/Fixtures/generate_dialects.py [--check-graph /tmp/mm1_tiny_graph.txt]
Needs: torch, transformers 5.x, timm, safetensors, huggingface_hub, open_clip_torch (pip install open_clip_torch).
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from functools import partial

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file

import huggingface_hub
import safetensors
import timm
import transformers
from huggingface_hub import save_torch_state_dict
from timm.layers import LayerNorm2d
from timm.models.regnet import RegStage
from transformers import (CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM, LlavaConfig,
                          LlavaForConditionalGeneration, MixtralConfig, MixtralForCausalLM)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dialects")
SEED = 20260301
GENERATOR = "Tests/Fixtures/generate_dialects.py"
ST_METADATA = {"format": "pt"}  # one key only: the Rust writer orders 2+ keys by hash (non-deterministic)

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# ---------------------------------------------------------------------------------------------------------
# Configurations. The HF field dicts below are what the models are built from AND what config.json carries.

VISION_FIELDS = {  # CLIPVisionConfig
    "attention_dropout": 0.0, "hidden_act": "quick_gelu", "hidden_size": 32, "image_size": 84,
    "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 128, "layer_norm_eps": 1e-05,
    "num_attention_heads": 4, "num_channels": 3, "num_hidden_layers": 2, "patch_size": 14, "projection_dim": 32,
}
TEXT_FIELDS = {  # LlamaConfig (written to config.json in the transformers 4.38 form Honeybee pins: top-level rope_theta)
    "attention_bias": False, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 64,
    "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 128,
    "num_attention_heads": 4, "num_hidden_layers": 4, "num_key_value_heads": 2, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": False, "vocab_size": 256,
}
PROJECTOR_FIELDS = {  # Honeybee projector_config (c-abs.yaml fields + the two inter-module sizes it adds)
    "depth": 2, "encoder_hidden_size": 32, "feature_layer_index": -1, "hidden_size": 48, "mlp_depth": 2,
    "num_eos_tokens": 0, "num_query_tokens": 16, "output_hidden_size": 64, "pos_emb": True, "prenorm": False,
    "projector_type": "c-abs",
}
MOE = {"experts": 4, "top_k": 2, "expert_ffn": 128, "sparse_layers": [1, 3]}
IMAGE_TOKEN_ID = 255
GRID = VISION_FIELDS["image_size"] // VISION_FIELDS["patch_size"]  # 6

# mm1conv's own config encoding (MM1Config as JSON), as the presets encode it.
_VISION_MM1 = {"activation": "quick_gelu", "depth": 2, "drop_class_token": True, "feature_layer": -1, "heads": 4,
               "hidden_size": 32, "image_size": 84, "intermediate_size": 128, "kind": "clip", "norm_eps": 1e-05,
               "patch_bias": False, "patch_size": 14}
_CABS_MM1 = {"depth": 2, "hidden_size": 48, "image_tokens": 16, "kind": "c_abstractor", "mlp_depth": 2,
             "norm_eps": 1e-05, "pooling": "torch_adaptive", "position_embedding": True}
_LANG_MM1 = {"attention_bias": False, "head_dim": 16, "heads": 4, "hidden_size": 64, "image_token_id": 255,
             "intermediate_size": 128, "kv_heads": 2, "layers": 4, "rms_norm_eps": 1e-05, "rope_theta": 10000,
             "tie_word_embeddings": False, "vocab_size": 256}
MM1_CONFIGS = {
    "tiny-dense": {"connector": _CABS_MM1, "language": _LANG_MM1, "vision": _VISION_MM1},
    "tiny-moe": {"connector": _CABS_MM1, "vision": _VISION_MM1,
                 "language": dict(_LANG_MM1, moe={"expert_intermediate_size": 128, "experts": 4, "normalize_top_k": True,
                                                  "sparse_layers": [1, 3], "top_k": 2})},
    "llava-mlp": {"connector": {"activation": "gelu", "kind": "mlp"}, "language": _LANG_MM1,
                  "vision": dict(_VISION_MM1, feature_layer=-2)},
}


def clip_vision_config():
    return CLIPVisionConfig(**VISION_FIELDS)


def llama_config(**overrides):
    return LlamaConfig(**dict(TEXT_FIELDS, **overrides))


def mixtral_config():
    t = TEXT_FIELDS
    return MixtralConfig(vocab_size=t["vocab_size"], hidden_size=t["hidden_size"], intermediate_size=MOE["expert_ffn"],
                         num_hidden_layers=t["num_hidden_layers"], num_attention_heads=t["num_attention_heads"],
                         num_key_value_heads=t["num_key_value_heads"], max_position_embeddings=t["max_position_embeddings"],
                         rms_norm_eps=t["rms_norm_eps"], rope_theta=t["rope_theta"], tie_word_embeddings=False,
                         num_local_experts=MOE["experts"], num_experts_per_tok=MOE["top_k"])


# ---------------------------------------------------------------------------------------------------------
# Honeybee's C-Abstractor, restated from honeybee/projectors/projectors.py @68a8d84 (Projector + ConvProjector +
# CAbstractor with prenorm=False, num_eos_tokens=0, pos_emb=True) around the real timm RegStage.

def build_mlp(depth, hidden_size, output_hidden_size):
    layers = [nn.Linear(hidden_size, output_hidden_size)]
    for _ in range(1, depth):
        layers.append(nn.SiLU())
        layers.append(nn.Linear(output_hidden_size, output_hidden_size))
    return nn.Sequential(*layers)


class CAbstractor(nn.Module):
    def __init__(self, cfg, num_input_tokens):
        super().__init__()
        self.pos_emb = nn.Parameter(torch.zeros(1, num_input_tokens, cfg["encoder_hidden_size"]))
        nn.init.trunc_normal_(self.pos_emb, mean=0.0, std=0.02)
        hw = int(cfg["num_query_tokens"] ** 0.5)
        assert hw * hw == cfg["num_query_tokens"]
        RegBlock = partial(RegStage, stride=1, dilation=1, act_layer=nn.SiLU, norm_layer=LayerNorm2d)
        s1 = RegBlock(cfg["depth"], cfg["encoder_hidden_size"], cfg["hidden_size"])
        sampler = nn.AdaptiveAvgPool2d((hw, hw))
        s2 = RegBlock(cfg["depth"], cfg["hidden_size"], cfg["hidden_size"])
        assert cfg["depth"] > 0
        self.net = nn.Sequential(s1, sampler, s2)
        self.readout = build_mlp(cfg["mlp_depth"], cfg["hidden_size"], cfg["output_hidden_size"])

    def forward(self, x):
        # Honeybee: `x += self.pos_emb` IN PLACE on the caller's tensor — callers pass a clone.
        x += self.pos_emb
        hw = int(x.size(1) ** 0.5)
        b, l, d = x.shape
        x = x.transpose(1, 2).reshape(b, d, hw, hw)  # rearrange "b (h w) d -> b d h w"
        x = self.net(x)
        x = x.flatten(2).transpose(1, 2)  # rearrange "b d h w -> b (h w) d"
        return self.readout(x)


# ---------------------------------------------------------------------------------------------------------
# Seeded initialisation

TINY = 2.0 ** -14  # smallest f16 normal


def exact(t):
    """Round to bf16 and keep magnitudes ≥ 2^-14, so the value is exact in bf16, f16 and f32."""
    t = t.to(torch.bfloat16).float()
    small = t.abs() < TINY
    t = torch.where(small, torch.where(t < 0, -TINY, TINY), t)
    assert torch.equal(t, t.to(torch.bfloat16).float()) and torch.equal(t, t.to(torch.float16).float())
    return t


def random_value(name, shape, g):
    z = torch.randn(shape, generator=g, dtype=torch.float32)
    leaf = name.rsplit(".", 1)[-1]
    if name.endswith(("class_embedding", "position_embedding.weight", "pos_emb")):
        return 0.5 * z
    if name.endswith("embed_tokens.weight"):
        return z
    if leaf == "bias":
        return 0.1 * z
    if len(shape) == 1:  # a 1-D weight is a norm scale (LayerNorm, LayerNorm2d "bn", RMSNorm)
        return 1.0 + 0.2 * z
    if leaf in ("gate_up_proj", "down_proj"):  # fused experts [E, out, in]
        fan_in = shape[-1]
    else:
        fan_in = math.prod(shape[1:])
    return z / math.sqrt(fan_in)


@torch.no_grad()
def randomize_(module, seed):
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        p.copy_(exact(random_value(name, tuple(p.shape), g)))


def seeded(seed, *shape, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return exact(scale * torch.randn(*shape, generator=g))


# ---------------------------------------------------------------------------------------------------------
# The models

@torch.no_grad()
def build_models():
    """Returns dict(vision, abstractor, llama, mixtral, llava), all eval(), f32, eager attention."""
    torch.manual_seed(SEED)
    vision = CLIPVisionModel._from_config(clip_vision_config(), attn_implementation="eager").eval()
    randomize_(vision, SEED + 1)
    abstractor = CAbstractor(PROJECTOR_FIELDS, num_input_tokens=GRID * GRID).eval()
    randomize_(abstractor, SEED + 2)
    llama = LlamaForCausalLM._from_config(llama_config(), attn_implementation="eager").eval()
    randomize_(llama, SEED + 3)
    mixtral = MixtralForCausalLM._from_config(mixtral_config(), attn_implementation="eager").eval()
    randomize_(mixtral, SEED + 4)
    # Shared (non-FFN) weights of the MoE decoder are the Llama's.
    msd = mixtral.state_dict()
    for k, v in llama.state_dict().items():
        if ".mlp." not in k:
            msd[k].copy_(v)
    llava_cfg = LlavaConfig(vision_config=clip_vision_config(), text_config=llama_config(), image_token_index=IMAGE_TOKEN_ID,
                            vision_feature_layer=-2, vision_feature_select_strategy="default", image_seq_length=GRID * GRID,
                            projector_hidden_act="gelu", multimodal_projector_bias=True)
    llava = LlavaForConditionalGeneration._from_config(llava_cfg, attn_implementation="eager").eval()
    randomize_(llava, SEED + 5)  # then overwrite vision and language with the shared weights
    lsd = llava.state_dict()
    for k, v in vision.state_dict().items():
        lsd["model.vision_tower." + k].copy_(v)
    for k, v in llama.state_dict().items():
        lsd[k.replace("model.", "model.language_model.", 1) if k.startswith("model.") else k].copy_(v)
    return {"vision": vision, "abstractor": abstractor, "llama": llama, "mixtral": mixtral, "llava": llava}


def sd_of(module, prefix=""):
    return {prefix + k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def honeybee_state_dict(m):
    """Honeybee keys: vision_model.vision_model.* (transformers 4.38 CLIPVisionModel inside the wrapper attribute
    `vision_model`), abstractor.*, language_model.model.*, language_model.lm_head.weight."""
    sd = sd_of(m["vision"], "vision_model.vision_model.")
    sd.update(sd_of(m["abstractor"], "abstractor."))
    sd.update(sd_of(m["llama"], "language_model."))
    return sd


def moe_decoder_state_dicts(m):
    """(v5 in-memory fused, legacy per-expert) state dicts of the interleaved MoE decoder."""
    dense = sd_of(m["llama"])
    mix = sd_of(m["mixtral"])
    sparse = [f"model.layers.{i}." for i in MOE["sparse_layers"]]
    fused = {k: v for k, v in dense.items() if not (k.startswith(tuple(sparse)) and ".mlp." in k)}
    for p in sparse:
        for leaf in ("mlp.gate.weight", "mlp.experts.gate_up_proj", "mlp.experts.down_proj"):
            fused[p + leaf] = mix[p + leaf]
    # The legacy names, as the real library writes them.
    with tempfile.TemporaryDirectory() as tmp:
        m["mixtral"].save_pretrained(tmp)
        files = sorted(f for f in os.listdir(tmp) if f.endswith(".safetensors"))
        saved = {}
        for f in files:
            with safe_open(os.path.join(tmp, f), "pt") as h:
                saved.update({k: h.get_tensor(k) for k in h.keys()})
    legacy = {k: v for k, v in fused.items() if ".mlp.gate.weight" not in k and ".mlp.experts." not in k}
    inter = MOE["expert_ffn"]
    for p in sparse:
        legacy[p + "block_sparse_moe.gate.weight"] = saved[p + "block_sparse_moe.gate.weight"]
        assert torch.equal(saved[p + "block_sparse_moe.gate.weight"], fused[p + "mlp.gate.weight"])
        for e in range(MOE["experts"]):
            for w in ("w1", "w2", "w3"):
                legacy[p + f"block_sparse_moe.experts.{e}.{w}.weight"] = saved[p + f"block_sparse_moe.experts.{e}.{w}.weight"]
            gu, dn = fused[p + "mlp.experts.gate_up_proj"][e], fused[p + "mlp.experts.down_proj"][e]
            assert torch.equal(legacy[p + f"block_sparse_moe.experts.{e}.w1.weight"], gu[:inter])
            assert torch.equal(legacy[p + f"block_sparse_moe.experts.{e}.w3.weight"], gu[inter:])
            assert torch.equal(legacy[p + f"block_sparse_moe.experts.{e}.w2.weight"], dn)
    return fused, legacy


# ---------------------------------------------------------------------------------------------------------
# Canonical (mm1conv) names, computed independently from the torch modules.

def canonical_vision(v):  # v: transformers 5 CLIPVisionModel state dict (flattened names)
    c = {"vision.patch_embed.weight": v["embeddings.patch_embedding.weight"],
         "vision.class_token": v["embeddings.class_embedding"],
         "vision.position_embedding": v["embeddings.position_embedding.weight"]}
    for s in ("weight", "bias"):
        c[f"vision.pre_norm.{s}"] = v[f"pre_layrnorm.{s}"]
        c[f"vision.post_norm.{s}"] = v[f"post_layernorm.{s}"]
    for i in range(VISION_FIELDS["num_hidden_layers"]):
        src, dst = f"encoder.layers.{i}.", f"vision.layers.{i}."
        for s in ("weight", "bias"):
            c[dst + f"norm1.{s}"] = v[src + f"layer_norm1.{s}"]
            c[dst + f"norm2.{s}"] = v[src + f"layer_norm2.{s}"]
            for a, b in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "out_proj")):
                c[dst + f"attention.{a}.{s}"] = v[src + f"self_attn.{b}.{s}"]
            c[dst + f"mlp.fc1.{s}"] = v[src + f"mlp.fc1.{s}"]
            c[dst + f"mlp.fc2.{s}"] = v[src + f"mlp.fc2.{s}"]
    return c


def canonical_cabstractor(a):  # a: Honeybee CAbstractor state dict
    c = {"connector.position_embedding": a["pos_emb"][0]}  # (1, 36, 32) → (36, 32)
    for stage, net in ((0, "net.0"), (1, "net.2")):
        for j in range(PROJECTOR_FIELDS["depth"]):
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
    for k in range(PROJECTOR_FIELDS["mlp_depth"]):  # Sequential(Linear, SiLU, Linear): indices 0, 2 → 0, 1
        for s in ("weight", "bias"):
            c[f"connector.readout.{k}.{s}"] = a[f"readout.{2 * k}.{s}"]
    return c


def canonical_language(l, moe=False):  # l: LlamaForCausalLM state dict, or the fused (v5 in-memory) MoE one
    c = {"language.embed_tokens.weight": l["model.embed_tokens.weight"], "language.norm.weight": l["model.norm.weight"],
         "language.lm_head.weight": l["lm_head.weight"]}
    inter = MOE["expert_ffn"]
    for i in range(TEXT_FIELDS["num_hidden_layers"]):
        src, dst = f"model.layers.{i}.", f"language.layers.{i}."
        c[dst + "attention_norm.weight"] = l[src + "input_layernorm.weight"]
        c[dst + "mlp_norm.weight"] = l[src + "post_attention_layernorm.weight"]
        for a in "qkvo":
            c[dst + f"attention.{a}.weight"] = l[src + f"self_attn.{a}_proj.weight"]
        if moe and i in MOE["sparse_layers"]:
            gu = l[src + "mlp.experts.gate_up_proj"]  # [E, 2I, H] = cat(gate, up) per expert
            c[dst + "moe.router.weight"] = l[src + "mlp.gate.weight"]
            c[dst + "moe.experts.gate"] = gu[:, :inter, :].contiguous()
            c[dst + "moe.experts.up"] = gu[:, inter:, :].contiguous()
            c[dst + "moe.experts.down"] = l[src + "mlp.experts.down_proj"]
        else:
            for a in ("gate", "up", "down"):
                c[dst + f"mlp.{a}.weight"] = l[src + f"mlp.{a}_proj.weight"]
    return c


def canonical_models(m):
    vision = canonical_vision(sd_of(m["vision"]))
    conn = canonical_cabstractor(sd_of(m["abstractor"]))
    fused, _ = moe_decoder_state_dicts(m)
    ll = sd_of(m["llava"])
    llava_vision = canonical_vision({k[len("model.vision_tower."):]: v for k, v in ll.items() if k.startswith("model.vision_tower.")})
    llava_lang = canonical_language({("model." + k[len("model.language_model."):] if k.startswith("model.language_model.") else k): v
                                     for k, v in ll.items()})
    llava_conn = {f"connector.fc{n}.{s}": ll[f"model.multi_modal_projector.linear_{n}.{s}"] for n in (1, 2) for s in ("weight", "bias")}
    return {
        "tiny-dense": {**vision, **conn, **canonical_language(sd_of(m["llama"]))},
        "tiny-moe": {**vision, **conn, **canonical_language(fused, moe=True)},
        "llava-mlp": {**llava_vision, **llava_conn, **llava_lang},
    }


def check_graph(canon, path):
    """Compare names and shapes with a dump of mm1conv's graph ('# preset NAME', JSON, then 'name [shape] role')."""
    presets, name = {}, None
    for line in open(path):
        if line.startswith("# preset "):
            name = line.split()[2]
            presets[name] = {}
        elif name and line[:1].isalpha() and "[" in line:
            n, rest = line.split(" ", 1)
            presets[name][n] = list(json.loads(rest[: rest.index("]") + 1]))
    for name, params in presets.items():
        got = {k: list(v.shape) for k, v in canon[name].items()}
        assert got == params, f"{name}: canonical names/shapes differ from {path}: " \
            f"missing {sorted(set(params) - set(got))}, extra {sorted(set(got) - set(params))}, " \
            f"shapes {[(k, got[k], params[k]) for k in params if k in got and got[k] != params[k]]}"
        print(f"  canonical {name}: {len(params)} parameters match {path}")


# ---------------------------------------------------------------------------------------------------------
# Config files

def honeybee_config(dtype="float32", text_overrides=None):
    """config.json in the shape HoneybeeConfig.to_dict() gives (configuration_honeybee.py @68a8d84, transformers 4.38):
    vision_config = CLIPVisionConfig fields + Honeybee's HoneybeeVisionConfig fields; projector_config = c-abs.yaml
    + encoder/output sizes; lm_config; text_config = the LLM's LlamaConfig (4.x form: rope_theta, torch_dtype)."""
    vision = dict(VISION_FIELDS, model_type="clip_vision_model", encoder_type="openai.clip",
                  pretrained_vision_name_or_path="tiny-clip-vit-p14-84", image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD)
    text = dict(TEXT_FIELDS, architectures=["LlamaForCausalLM"], model_type="llama", rope_scaling=None, torch_dtype=dtype,
                use_cache=True, **(text_overrides or {}))
    return {
        "architectures": ["HoneybeeForConditionalGeneration"],
        "lm_config": {"pretrained_lm_name_or_path": "tiny-llama", "pretrained_tokenizer_name_or_path": "tiny-llama"},
        "projector_config": dict(PROJECTOR_FIELDS),
        "text_config": text,
        "torch_dtype": dtype,
        "transformers_version": "4.38.1",
        "vision_config": vision,
    }


def open_clip_config():
    """open_clip_config.json as open_clip's save_config_for_hf writes it (model_cfg + preprocess_cfg); vision tower only."""
    return {"model_cfg": {"embed_dim": 32, "quick_gelu": True,
                          "vision_cfg": {"image_size": 84, "layers": 2, "width": 32, "head_width": 8, "mlp_ratio": 4.0,
                                         "patch_size": 14}},
            "preprocess_cfg": {"mean": OPENAI_CLIP_MEAN, "std": OPENAI_CLIP_STD}}


def normalize_modes(folder):
    """safetensors/huggingface_hub create files 0600 through a temp file; make every generated file 0644."""
    for root, _, names in os.walk(folder):
        for n in names:
            os.chmod(os.path.join(root, n), 0o644)


def write_json(path, obj, one_line=False):
    with open(path, "w") as f:
        if one_line:
            f.write(json.dumps(obj, sort_keys=True) + "\n")
        else:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")


def save_single(sd, folder, dtype=torch.float32, config=None):
    os.makedirs(folder, exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in sd.items()}, os.path.join(folder, "model.safetensors"), metadata=ST_METADATA)
    if config is not None:
        write_json(os.path.join(folder, "config.json"), config)


def save_sharded(sd, folder, max_shard_size, shards, dtype=torch.float32):
    os.makedirs(folder, exist_ok=True)
    save_torch_state_dict({k: v.to(dtype).contiguous() for k, v in sd.items()}, folder, max_shard_size=max_shard_size)
    made = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
    assert len(made) == shards, f"expected {shards} shards in {folder}, got {made}"


# ---------------------------------------------------------------------------------------------------------
# Checks that the dialects really are the same model (forward through the real classes)

@torch.no_grad()
def open_clip_visual(m):
    """A real open_clip VisionTransformer with the HF CLIP weights copied in by the documented mapping."""
    import open_clip
    from open_clip.model import _build_vision_tower
    cfg = open_clip_config()["model_cfg"]
    visual = _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"], quick_gelu=cfg["quick_gelu"]).eval()
    v = sd_of(m["vision"])
    oc = {"conv1.weight": v["embeddings.patch_embedding.weight"], "class_embedding": v["embeddings.class_embedding"],
          "positional_embedding": v["embeddings.position_embedding.weight"],
          "ln_pre.weight": v["pre_layrnorm.weight"], "ln_pre.bias": v["pre_layrnorm.bias"],
          "ln_post.weight": v["post_layernorm.weight"], "ln_post.bias": v["post_layernorm.bias"],
          # CLIPVisionModel has no projection; open_clip's visual always has `proj` (D, out), used as x @ proj.
          "proj": seeded(SEED + 6, 32, cfg["embed_dim"], scale=32 ** -0.5)}
    for i in range(VISION_FIELDS["num_hidden_layers"]):
        s, d = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for t in ("weight", "bias"):
            oc[d + f"ln_1.{t}"] = v[s + f"layer_norm1.{t}"]
            oc[d + f"ln_2.{t}"] = v[s + f"layer_norm2.{t}"]
            oc[d + f"attn.out_proj.{t}"] = v[s + f"self_attn.out_proj.{t}"]
            oc[d + f"mlp.c_fc.{t}"] = v[s + f"mlp.fc1.{t}"]
            oc[d + f"mlp.c_proj.{t}"] = v[s + f"mlp.fc2.{t}"]
        oc[d + "attn.in_proj_weight"] = torch.cat([v[s + f"self_attn.{x}_proj.weight"] for x in "qkv"], 0)
        oc[d + "attn.in_proj_bias"] = torch.cat([v[s + f"self_attn.{x}_proj.bias"] for x in "qkv"], 0)
    missing, unexpected = visual.load_state_dict(oc, strict=True)
    assert not missing and not unexpected
    # Same model? open_clip pools ln_post(x)[:, 0] @ proj; HF pooler_output = post_layernorm(CLS).
    x = torch.randn(2, 3, 84, 84, generator=torch.Generator().manual_seed(SEED + 7))
    ref = m["vision"](pixel_values=x).pooler_output @ oc["proj"]
    err = (visual(x) - ref).abs().max().item()
    assert err < 1e-5, f"open_clip visual differs from HF CLIP by {err}"
    print(f"  open_clip VisionTransformer == HF CLIPVisionModel (pooled @ proj), max |Δ| {err:.2e}")
    return sd_of(visual, "visual."), open_clip.__version__


# ---------------------------------------------------------------------------------------------------------

README_CASES = """\
| case | source naming | files | must import to |
|---|---|---|---|
| `honeybee/` | Honeybee: `vision_model.vision_model.*` (transformers 4.x CLIP names), `abstractor.*` (timm RegStage names: `net.0.b1.conv1.conv.weight`, `…conv1.bn.*` = LayerNorm2d, `net.2.*`, `readout.0/2`), `language_model.model.*`, `language_model.lm_head.weight` | 2 shards + `model.safetensors.index.json` (huggingface_hub `save_torch_state_dict`), Honeybee `config.json`, f32 | `canonical-tiny-dense.safetensors` |
| `honeybee-old-posemb/` | as `honeybee`, but `abstractor.pos_emb` is (1, 37, 32): an obsolete leading CLS row the loader drops (Honeybee `Projector._load_from_state_dict`) | `model.safetensors`, `config.json`, f32 | `canonical-tiny-dense.safetensors` |
| `hf-v5-composite/` | transformers 5 in-memory composite: `model.vision_tower.*` (flattened CLIP, no `vision_model`), `model.multi_modal_projector.*` + Honeybee's C-Abstractor names (`pos_emb`, `net.*`, `readout.*`), `model.language_model.*`, `lm_head.weight` | `model.safetensors`, f32, no config (no real class writes this combination) | `canonical-tiny-dense.safetensors` (config: preset `tiny-dense`) |
| `llava-mlp/` | transformers 5 `LlavaForConditionalGeneration.save_pretrained`: `vision_tower.*`, `multi_modal_projector.linear_{1,2}.*`, `language_model.model.*`, `language_model.lm_head.weight`; `vision_feature_layer` -2, strategy `default` | `model.safetensors`, `config.json`, `generation_config.json` (as written by the library), f32 | `canonical-llava-mlp.safetensors` (config: `canonical-llava-mlp.config.json`) |
| `open-clip-vision/` | open_clip `visual.*` (state_dict of a real open_clip `VisionTransformer`): `conv1.weight`, `class_embedding`, `positional_embedding`, `ln_pre`, `transformer.resblocks.{i}.{ln_1, attn.in_proj_weight/in_proj_bias (fused q;k;v), attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}`, `ln_post`, `proj` | `model.safetensors`, `open_clip_config.json` (vision tower only), f32 | the `vision.*` tensors of `canonical-tiny-dense.safetensors`; `visual.proj` (32, 32) is expected-but-unused (no canonical counterpart) |
| `mixtral-legacy/` | decoder only, HF on-disk Mixtral: sparse layers 1, 3 as `model.layers.{i}.block_sparse_moe.gate.weight`, `…experts.{e}.w1/w2/w3.weight` (w1 gate, w3 up, w2 down); dense layers 0, 2 as Llama `mlp.{gate,up,down}_proj`; `model.*`, `lm_head.weight` | `model.safetensors`, f32, no config (HF cannot express interleaved MoE) | the `language.*` tensors of `canonical-tiny-moe.safetensors` (config: preset `tiny-moe`) |
| `mixtral-v5-fused/` | same decoder, transformers 5 in-memory: `model.layers.{i}.mlp.gate.weight`, `mlp.experts.gate_up_proj` [E, 2I, H] = cat(w1, w3) per expert, `mlp.experts.down_proj` [E, H, I] | `model.safetensors`, f32, no config | the `language.*` tensors of `canonical-tiny-moe.safetensors` |
| `dtype-bf16/` | `honeybee`, stored in BF16 | `model.safetensors`, `config.json` | `canonical-tiny-dense.safetensors`, bit-identical after BF16→F32 (all values are BF16-exact) |
| `dtype-f16/` | `honeybee`, stored in F16 | `model.safetensors`, `config.json` | `canonical-tiny-dense.safetensors`, bit-identical after F16→F32 (all values are F16-exact) |
| `missing-tensor/` | `honeybee` without `language_model.model.layers.1.mlp.up_proj.weight` | `model.safetensors`, `config.json`, `expected.json` | an import report listing `language.layers.1.mlp.up.weight` as missing |
| `extra-tensor/` | `honeybee` plus `abstractor.extra_head.weight` (8, 48) | same | a report listing `abstractor.extra_head.weight` as unmapped |
| `wrong-shape/` | `honeybee` with `language_model.model.layers.0.self_attn.k_proj.weight` (48, 64) instead of (32, 64) | same | a report naming `language.layers.0.attention.k.weight`: expected [32, 64], found [48, 64] |
| `config-disagrees/` | `honeybee` weights, but `config.json` says `text_config.num_key_value_heads` 4 (weights have 2) | same | a report naming the k/v projections of every layer: expected [64, 64] (4 KV heads), found [32, 64] |
"""


def readme(versions):
    return f"""# Naming-dialect fixtures

Made by `{GENERATOR}` (seed {SEED}; {", ".join(f"{k} {v}" for k, v in versions.items())}). Do not edit by hand:
rerun `/opt/mm1py/bin/python {GENERATOR}` (deterministic; `MANIFEST.json` holds the SHA-256 of every file).

All cases carry ONE set of weights, built from the real reference classes (transformers `CLIPVisionModel`,
Honeybee's `CAbstractor` around timm `RegStage`, `LlamaForCausalLM`, `MixtralForCausalLM` sparse blocks,
`LlavaForConditionalGeneration`, open_clip `VisionTransformer`) with seeded random values, norms included.
Every value is exactly representable in BF16 and F16, so all dtypes import to the same F32 bits.

Tiny config (presets `tiny-dense` / `tiny-moe`): CLIP ViT 84 px, patch 14 (6×6), width 32, 2 layers, 4 heads,
MLP 128, quick_gelu, feature layer -1, CLS dropped; C-Abstractor hidden 48, depth 2, mlp_depth 2, 16 tokens
(6×6→4×4), position embedding; decoder vocab 256, hidden 64, 4 layers, 4 heads, 2 KV heads, FFN 128, RMS eps 1e-5,
RoPE θ 1e4, untied head, image token 255; tiny-moe: 4 experts, top-2, expert FFN 128, sparse layers [1, 3].
The MoE decoder is the dense Llama with layers 1 and 3's FFN replaced by Mixtral sparse blocks (HF Mixtral
makes every layer sparse; MM1 interleaves).

## Canonical files (what an import must produce, F32, mm1conv names and shapes)

| file | model | config |
|---|---|---|
| `canonical-tiny-dense.safetensors` | CLIP + C-Abstractor + dense Llama | preset `tiny-dense` = `canonical-tiny-dense.config.json` |
| `canonical-tiny-moe.safetensors` | CLIP + C-Abstractor + interleaved MoE decoder | preset `tiny-moe` = `canonical-tiny-moe.config.json` |
| `canonical-llava-mlp.safetensors` | CLIP (feature layer -2) + LLaVA MLP (`connector.fc1/fc2`) + dense Llama | `canonical-llava-mlp.config.json` |

Mapping notes: q/k/v/o stay separate (open_clip's fused `in_proj_*` splits as rows [0:32] q, [32:64] k,
[64:96] v); `abstractor.pos_emb` (1, 36, 32) → `connector.position_embedding` (36, 32); `net.0` → `stages.0`,
`net.2` → `stages.1`, `b{{j+1}}` → `blocks.{{j}}`, `convK.bn` → `normK`, `downsample.bn` → `downsample.norm`;
`readout.0/2` → `readout.0/1`; Mixtral experts stacked as `moe.experts.gate/up` [4, 128, 64] and `down`
[4, 64, 128], router `moe.router.weight` [4, 64].

## Cases

{README_CASES}
`expected.json` (broken cases) is one JSON line: `missing` / `unmapped` (source names) / `mismatched`
(canonical name, source name, expected and found shapes) entries the import report must contain.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-graph", help="dump of mm1conv's tiny graphs to compare canonical names/shapes with")
    args = ap.parse_args()

    m = build_models()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    d = lambda *p: os.path.join(OUT, *p)

    # --- canonical
    canon = canonical_models(m)
    if args.check_graph:
        check_graph(canon, args.check_graph)
    for name, sd in canon.items():
        save_file({k: v.float().contiguous() for k, v in sd.items()}, d(f"canonical-{name}.safetensors"), metadata=ST_METADATA)
        write_json(d(f"canonical-{name}.config.json"), MM1_CONFIGS[name])

    # --- Honeybee and derived
    hb = honeybee_state_dict(m)
    save_sharded(hb, d("honeybee"), max_shard_size=600_000, shards=2)
    write_json(d("honeybee", "config.json"), honeybee_config())

    old = dict(hb)
    old["abstractor.pos_emb"] = torch.cat([seeded(SEED + 8, 1, 1, 32, scale=0.5), hb["abstractor.pos_emb"]], dim=1)
    save_single(old, d("honeybee-old-posemb"), config=honeybee_config())

    save_single(hb, d("dtype-bf16"), torch.bfloat16, honeybee_config("bfloat16"))
    save_single(hb, d("dtype-f16"), torch.float16, honeybee_config("float16"))

    miss = {k: v for k, v in hb.items() if k != "language_model.model.layers.1.mlp.up_proj.weight"}
    save_single(miss, d("missing-tensor"), config=honeybee_config())
    write_json(d("missing-tensor", "expected.json"), {"missing": [
        {"canonical": "language.layers.1.mlp.up.weight", "source": "language_model.model.layers.1.mlp.up_proj.weight"}]}, True)

    extra = dict(hb, **{"abstractor.extra_head.weight": seeded(SEED + 9, 8, 48, scale=48 ** -0.5)})
    save_single(extra, d("extra-tensor"), config=honeybee_config())
    write_json(d("extra-tensor", "expected.json"), {"unmapped": ["abstractor.extra_head.weight"]}, True)

    k0 = "language_model.model.layers.0.self_attn.k_proj.weight"
    wrong = dict(hb, **{k0: torch.cat([hb[k0], seeded(SEED + 10, 16, 64, scale=0.125)], dim=0)})
    save_single(wrong, d("wrong-shape"), config=honeybee_config())
    write_json(d("wrong-shape", "expected.json"), {"mismatched": [
        {"canonical": "language.layers.0.attention.k.weight", "source": k0, "expected": [32, 64], "found": [48, 64]}]}, True)

    save_single(hb, d("config-disagrees"), config=honeybee_config(text_overrides={"num_key_value_heads": 4}))
    write_json(d("config-disagrees", "expected.json"), {
        "config": {"text_config.num_key_value_heads": 4},
        "mismatched": [{"canonical": f"language.layers.{i}.attention.{a}.weight",
                        "source": f"language_model.model.layers.{i}.self_attn.{a}_proj.weight",
                        "expected": [64, 64], "found": [32, 64]} for i in range(4) for a in "kv"]}, True)

    # --- transformers 5 in-memory composite with a C-Abstractor
    v5 = sd_of(m["vision"], "model.vision_tower.")
    v5.update(sd_of(m["abstractor"], "model.multi_modal_projector."))
    v5.update({(k.replace("model.", "model.language_model.", 1) if k.startswith("model.") else k): v
               for k, v in sd_of(m["llama"]).items()})
    save_single(v5, d("hf-v5-composite"))

    # --- LLaVA, written by the library itself
    m["llava"].save_pretrained(d("llava-mlp"))

    # --- open_clip
    oc, oc_version = open_clip_visual(m)
    save_single(oc, d("open-clip-vision"))
    with open(d("open-clip-vision", "open_clip_config.json"), "w") as f:
        json.dump(open_clip_config(), f, indent=2)  # as open_clip's save_config_for_hf
        f.write("\n")

    # --- MoE decoder
    fused, legacy = moe_decoder_state_dicts(m)
    save_single(legacy, d("mixtral-legacy"))
    save_single(fused, d("mixtral-v5-fused"))

    check_round_trips(m, canon)
    check_canonical_forward(m, canon)

    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
                "timm": timm.__version__, "open_clip": oc_version, "safetensors": safetensors.__version__,
                "huggingface_hub": huggingface_hub.__version__}
    with open(d("README.md"), "w") as f:
        f.write(readme(versions))
    normalize_modes(OUT)
    files = {}
    for root, _, names in os.walk(OUT):
        for n in names:
            p = os.path.join(root, n)
            files[os.path.relpath(p, OUT)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    files.pop("MANIFEST.json", None)
    write_json(d("MANIFEST.json"), {"generator": GENERATOR, "seed": SEED, "versions": versions, "files": dict(sorted(files.items()))})
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print(f"wrote {len(files) + 1} files under {OUT} ({total / 1e6:.2f} MB)")


def hybrid_moe_lm(m):
    """The interleaved MoE decoder as a runnable real-class model: the Llama with the Mixtral sparse blocks
    (`MixtralSparseMoeBlock`) of layers 1 and 3 put in place of its MLPs."""
    import copy
    lm = copy.deepcopy(m["llama"])
    for i in MOE["sparse_layers"]:
        lm.model.layers[i].mlp = m["mixtral"].model.layers[i].mlp
    return lm


# A from-scratch forward over the CANONICAL tensors (architecture.md §2.1, §3.1, §4.3), used only to check that the
# canonical files are the same model as the reference classes (catches e.g. gate/up or readout index swaps).
F = torch.nn.functional


def _ln(x, c, p, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], c[p + ".weight"], c[p + ".bias"], eps)


def _lin(x, c, p):
    return F.linear(x, c[p + ".weight"], c.get(p + ".bias"))


def _mha(q, k, v, heads, causal):
    b, t, n = q.shape
    d = n // heads
    q, k, v = (z.reshape(b, t, -1, d).transpose(1, 2) for z in (q, k, v))
    if k.shape[1] != heads:  # grouped-query attention
        k, v = (z.repeat_interleave(heads // z.shape[1], dim=1) for z in (k, v))
    s = q @ k.transpose(-1, -2) / math.sqrt(d)
    if causal:
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1)


def canonical_vision_forward(c, x, heads=4):
    b = x.shape[0]
    p = F.conv2d(x, c["vision.patch_embed.weight"], stride=14).flatten(2).transpose(1, 2)
    h = torch.cat([c["vision.class_token"].expand(b, 1, -1), p], 1) + c["vision.position_embedding"]
    hs = [_ln(h, c, "vision.pre_norm")]
    for i in range(VISION_FIELDS["num_hidden_layers"]):
        L, h = f"vision.layers.{i}.", hs[-1]
        a = _ln(h, c, L + "norm1")
        h = h + _lin(_mha(_lin(a, c, L + "attention.q"), _lin(a, c, L + "attention.k"), _lin(a, c, L + "attention.v"), heads, False),
                     c, L + "attention.o")
        f = _lin(_ln(h, c, L + "norm2"), c, L + "mlp.fc1")
        hs.append(h + _lin(f * torch.sigmoid(1.702 * f), c, L + "mlp.fc2"))
    return hs


def _ln2d(x, c, p):
    return _ln(x.permute(0, 2, 3, 1), c, p).permute(0, 3, 1, 2)


def canonical_connector_forward(c, feats):
    x = feats + c["connector.position_embedding"]
    b, l, d = x.shape
    g = int(math.isqrt(l))
    x = x.transpose(1, 2).reshape(b, d, g, g)
    for s in (0, 1):
        if s == 1:
            x = F.adaptive_avg_pool2d(x, 4)
        for j in range(PROJECTOR_FIELDS["depth"]):
            B = f"connector.stages.{s}.blocks.{j}."
            y = F.silu(_ln2d(F.conv2d(x, c[B + "conv1.weight"]), c, B + "norm1"))
            y = F.silu(_ln2d(F.conv2d(y, c[B + "conv2.weight"], padding=1, groups=y.shape[1]), c, B + "norm2"))
            se = F.conv2d(F.silu(F.conv2d(y.mean((2, 3), keepdim=True), c[B + "se.fc1.weight"], c[B + "se.fc1.bias"])),
                          c[B + "se.fc2.weight"], c[B + "se.fc2.bias"])
            y = _ln2d(F.conv2d(y * torch.sigmoid(se), c[B + "conv3.weight"]), c, B + "norm3")
            sc = _ln2d(F.conv2d(x, c[B + "downsample.conv.weight"]), c, B + "downsample.norm") if B + "downsample.conv.weight" in c else x
            x = F.silu(y + sc)
    x = x.flatten(2).transpose(1, 2)
    return _lin(F.silu(_lin(x, c, "connector.readout.0")), c, "connector.readout.1")


def _rms(x, w, eps=1e-5):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rope(x, theta=10000.0):  # x: (b, t, heads·d) → rotate-half over each head
    b, t, n = x.shape
    d = TEXT_FIELDS["hidden_size"] // TEXT_FIELDS["num_attention_heads"]
    x = x.reshape(b, t, n // d, d)
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    ang = torch.arange(t, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = torch.cat([ang, ang], -1).cos()[None, :, None], torch.cat([ang, ang], -1).sin()[None, :, None]
    rot = torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1)
    return (x * cos + rot * sin).reshape(b, t, n)


def canonical_language_forward(c, embeds):
    h, outs = embeds, []
    for i in range(TEXT_FIELDS["num_hidden_layers"]):
        L = f"language.layers.{i}."
        a = _rms(h, c[L + "attention_norm.weight"])
        q, k, v = (F.linear(a, c[L + f"attention.{z}.weight"]) for z in "qkv")
        h = h + F.linear(_mha(_rope(q), _rope(k), v, TEXT_FIELDS["num_attention_heads"], True), c[L + "attention.o.weight"])
        a = _rms(h, c[L + "mlp_norm.weight"])
        if L + "moe.router.weight" in c:
            p = F.linear(a, c[L + "moe.router.weight"]).softmax(-1)
            w, idx = p.topk(MOE["top_k"], -1)
            w = w / w.sum(-1, keepdim=True)
            out = torch.zeros_like(a)
            for e in range(MOE["experts"]):
                ge, ue, de = (c[L + f"moe.experts.{z}"][e] for z in ("gate", "up", "down"))
                y = F.linear(F.silu(F.linear(a, ge)) * F.linear(a, ue), de)
                out = out + y * (w * (idx == e)).sum(-1, keepdim=True)
            h = h + out
        else:
            h = h + F.linear(F.silu(F.linear(a, c[L + "mlp.gate.weight"])) * F.linear(a, c[L + "mlp.up.weight"]), c[L + "mlp.down.weight"])
        outs.append(h)
    return outs, F.linear(_rms(h, c["language.norm.weight"]), c["language.lm_head.weight"])


@torch.no_grad()
def check_canonical_forward(m, canon, tol=2e-4):
    """The canonical tensors, run by the from-scratch forward, reproduce the reference classes."""
    x = torch.randn(1, 3, 84, 84, generator=torch.Generator().manual_seed(SEED + 11))
    ids = torch.randint(0, 255, (1, 12), generator=torch.Generator().manual_seed(SEED + 12))

    def close(name, a, b):
        err = (a - b).abs().max().item()
        assert err < tol * max(1.0, b.abs().max().item()), f"{name}: canonical forward differs by {err}"
        return err

    errs = {}
    ref_hs = m["vision"](pixel_values=x, output_hidden_states=True).hidden_states
    for name in ("tiny-dense", "tiny-moe"):
        c = canon[name]
        hs = canonical_vision_forward(c, x)
        errs["vision"] = max(close(f"vision.{i}", a, b) for i, (a, b) in enumerate(zip(hs, ref_hs)))
        feats = ref_hs[-1][:, 1:]
        errs["connector"] = close("connector", canonical_connector_forward(c, feats), m["abstractor"](feats.clone()))
        lm = m["llama"] if name == "tiny-dense" else hybrid_moe_lm(m)
        _, logits = canonical_language_forward(c, lm.model.embed_tokens(ids))
        errs[name + " logits"] = close(name + " logits", logits, lm(input_ids=ids).logits)
    c = canon["llava-mlp"]
    ll = m["llava"]
    feats = ref_hs[-2][:, 1:]  # vision_feature_layer -2, strategy "default": CLS dropped
    proj = F.linear(F.gelu(_lin(feats, c, "connector.fc1")), c["connector.fc2.weight"], c["connector.fc2.bias"])
    errs["llava projector"] = close("llava projector", proj, torch.stack(ll.model.get_image_features(pixel_values=x).pooler_output))
    lids = torch.cat([ids[:, :3], torch.full((1, GRID * GRID), IMAGE_TOKEN_ID), ids[:, 3:]], 1)
    emb = canon["tiny-dense"]["language.embed_tokens.weight"][lids].clone()
    emb[lids == IMAGE_TOKEN_ID] = proj.reshape(-1, proj.shape[-1])
    _, logits = canonical_language_forward(c, emb)
    errs["llava logits"] = close("llava logits", logits, ll(input_ids=lids, pixel_values=x).logits)
    print("  canonical forward == reference classes: " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items()))


@torch.no_grad()
def check_round_trips(m, canon):
    """Reload what the libraries wrote and check it is the same model (guards against silent renames)."""
    # LLaVA: the library reloads its own files to identical weights.
    re = LlavaForConditionalGeneration.from_pretrained(os.path.join(OUT, "llava-mlp"), attn_implementation="eager")
    a, b = sd_of(m["llava"]), sd_of(re)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Honeybee shards hold exactly the Honeybee state dict.
    idx = json.load(open(os.path.join(OUT, "honeybee", "model.safetensors.index.json")))
    got = {}
    for f in sorted(set(idx["weight_map"].values())):
        with safe_open(os.path.join(OUT, "honeybee", f), "pt") as h:
            got.update({k: h.get_tensor(k) for k in h.keys()})
    hb = honeybee_state_dict(m)
    assert got.keys() == hb.keys() and all(torch.equal(got[k], hb[k]) for k in hb)
    # The MoE hybrid: canonical shared parts equal the dense ones.
    dense, moe = canon["tiny-dense"], canon["tiny-moe"]
    for k in moe:
        if ".moe." not in k:
            assert torch.equal(moe[k], dense[k]), k
    print("  reloads and cross-checks passed")


if __name__ == "__main__":
    main()
