#!/usr/bin/env python3
"""Make Samples/tiny-llama/: a tiny LLaMA-shaped checkpoint (bf16 and f32, Hugging Face names),
sharded in two with an index, written by the real `safetensors` and `huggingface_hub` packages.

Deterministic (fixed seed): `python Samples/make_sample.py` rewrites the same bytes.
Needs: torch, safetensors, huggingface_hub.
"""
import json
import os
import shutil

import torch
from huggingface_hub import save_torch_state_dict

SEED = 1
HIDDEN, HEADS, KV_HEADS, FFN, VOCAB, LAYERS = 64, 4, 2, 128, 256, 2
HEAD_DIM = HIDDEN // HEADS

g = torch.Generator().manual_seed(SEED)


def w(*shape):
    return (torch.randn(*shape, generator=g) * 0.02).bfloat16()


sd = {"model.embed_tokens.weight": w(VOCAB, HIDDEN), "model.norm.weight": torch.ones(HIDDEN), "lm_head.weight": w(VOCAB, HIDDEN)}
for i in range(LAYERS):
    p = f"model.layers.{i}."
    sd.update({
        p + "input_layernorm.weight": torch.ones(HIDDEN),
        p + "post_attention_layernorm.weight": torch.ones(HIDDEN),
        p + "self_attn.q_proj.weight": w(HEADS * HEAD_DIM, HIDDEN),
        p + "self_attn.k_proj.weight": w(KV_HEADS * HEAD_DIM, HIDDEN),
        p + "self_attn.v_proj.weight": w(KV_HEADS * HEAD_DIM, HIDDEN),
        p + "self_attn.o_proj.weight": w(HIDDEN, HEADS * HEAD_DIM),
        p + "mlp.gate_proj.weight": w(FFN, HIDDEN),
        p + "mlp.up_proj.weight": w(FFN, HIDDEN),
        p + "mlp.down_proj.weight": w(HIDDEN, FFN),
    })

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-llama")
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
save_torch_state_dict(sd, out, max_shard_size=100_000)
config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN, "intermediate_size": FFN,
          "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "num_hidden_layers": LAYERS,
          "vocab_size": VOCAB, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
          "torch_dtype": "bfloat16"}
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)
    f.write("\n")
print("wrote", out)
