#!/usr/bin/env python3
"""Write a reference-activations file for YOUR OWN PyTorch model: the stage-by-stage forward pass that mm1conv's
reference forward (and `verify`) compares against, with the keys of Samples/tiny-mm1/reference.safetensors.

Supported model folders:
  (a) a Hugging Face LLaVA-family checkpoint (`config.json` with model_type "llava", as written by
      `LlavaForConditionalGeneration.save_pretrained`), loaded with transformers' `LlavaForConditionalGeneration`
      and run as a whole (its own `vision_feature_layer`, `vision_feature_select_strategy` and image-token splice);
  (b) a Honeybee-layout folder (`config.json` with vision_config / projector_config (c-abs) / text_config and
      `vision_model.vision_model.*`, `abstractor.*`, `language_model.*` tensors, like Samples/tiny-mm1), run with
      transformers `CLIPVisionModel`, Honeybee's `CAbstractor` (Tests/Fixtures/generate_dialects.py, around the real
      timm `RegStage`) and `LlamaForCausalLM`.
Weights are read in their stored dtype and run in float32, eager attention, on the CPU.

Inputs (one image, batch 1, unless --inputs):
  image   --image PATH: through the folder's AutoProcessor when it has one (preprocessor_config.json), else
          resized (bicubic) to the config's image size and normalised with the config's image_mean/std (CLIP's
          by default). Without --image: a seeded uniform image normalised with the OpenAI CLIP mean/std.
  tokens  --prompt TEXT: through the folder's tokenizer (required); "<image>" in TEXT marks where the K image
          tokens go (default: right after BOS). --input-ids 1,5,<image>,7: explicit ids ("<image>" expands to K
          image-token ids; without it they follow the first id). Neither: BOS, 3 seeded text ids, K image tokens,
          4 seeded text ids (text ids in 3 … image_token_id−1).
  --inputs REF.safetensors reuses input.pixel_values and input.input_ids from an existing reference file.
With the defaults (seed 20260302) the synthetic inputs are exactly those of Samples/make_tiny_mm1.py, so
`dump_reference.py Samples/tiny-mm1 --out X` reproduces Samples/tiny-mm1/reference.safetensors tensor for tensor.

Output (all F32 except input.input_ids, I64), __metadata__ {"generator": JSON}:
  input.pixel_values, input.input_ids, expect.vision.embeddings (input of vision layer 0 = HF hidden_states[0]),
  expect.vision.layer.{i}, expect.vision_features (hidden_states[feature layer], CLS dropped when the model drops
  it; not post-normed), expect.connector.stage.0 / .pool / .stage.1 (C-Abstractor, NCHW), expect.image_embeds,
  expect.language.embeddings (after the splice), expect.language.layer.{i} (before the final norm), expect.logits.

Examples:
  /opt/mm1py/bin/python Samples/dump_reference.py Samples/tiny-mm1 --out /tmp/tiny-ref.safetensors \\
      --compare Samples/tiny-mm1/reference.safetensors
  /opt/mm1py/bin/python Samples/dump_reference.py path/to/llava-1.5-7b-hf --image cat.png \\
      --prompt "USER: <image>\\nWhat is this? ASSISTANT:" --out llava-ref.safetensors --threads 8
Needs: torch, transformers 5.x, safetensors (+ timm for Honeybee folders, Pillow for --image).
"""
import argparse
import glob
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Fixtures"))

DEFAULT_SEED = 20260302  # Samples/make_tiny_mm1.py's input seed
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
IMAGE_MARK = "<image>"
T_PREFIX, T_SUFFIX = 4, 4  # synthetic prompt: BOS + 3 text ids, K image tokens, 4 text ids (as make_tiny_mm1)


def fail(msg):
    sys.exit(f"error: {msg}")


# ---------------------------------------------------------------------------------------------------------
# Loading


def read_tensors(folder):
    """Every tensor of the checkpoint (index.json, or model*.safetensors), as stored. Skips reference files."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.isfile(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.safetensors"))
                       if not os.path.basename(p).startswith("reference"))
    if not files:
        fail(f"no safetensors weights in {folder}")
    out = {}
    for f in files:
        with safe_open(os.path.join(folder, f), "pt") as h:
            for k in h.keys():
                if k in out:
                    fail(f"{k} is in two files")
                out[k] = h.get_tensor(k)
    return out


def load_state(module, sd, what):
    missing, unexpected = module.load_state_dict(sd, strict=False)
    if missing or unexpected:
        fail(f"{what}: missing {sorted(missing)[:8]}{' …' if len(missing) > 8 else ''}, "
             f"unexpected {sorted(unexpected)[:8]}{' …' if len(unexpected) > 8 else ''}")


@torch.no_grad()
def load_honeybee(folder, cfg, image_token_id):
    import generate_dialects as g
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    pc, vc, tc = cfg["projector_config"], cfg["vision_config"], cfg["text_config"]
    if pc.get("projector_type", "c-abs") != "c-abs":
        fail(f"projector_type {pc.get('projector_type')!r}: only the C-Abstractor (c-abs) is supported")
    if pc.get("prenorm") or pc.get("num_eos_tokens", 0) or not pc.get("pos_emb", True):
        fail("prenorm, num_eos_tokens > 0 and pos_emb false are not supported by this script")
    clip_keys = set(CLIPVisionConfig().to_dict())
    vcfg = CLIPVisionConfig(**{k: v for k, v in vc.items() if k in clip_keys and k not in ("model_type", "transformers_version")})
    tcfg = LlamaConfig(**{k: v for k, v in tc.items() if k not in ("architectures", "torch_dtype", "dtype", "model_type",
                                                                   "transformers_version")})
    sd = {k: v.float() for k, v in read_tensors(folder).items()}
    parts = {"vision": {}, "abstractor": {}, "language": {}}
    for k, v in sd.items():
        for prefix, part in (("vision_model.vision_model.", "vision"), ("vision_model.", "vision"),
                             ("abstractor.", "abstractor"), ("language_model.", "language")):
            if k.startswith(prefix):
                parts[part][k[len(prefix):]] = v
                break
        else:
            fail(f"unexpected tensor {k} (not vision_model.*, abstractor.* or language_model.*)")

    vision = CLIPVisionModel._from_config(vcfg, attn_implementation="eager").float().eval()
    load_state(vision, parts["vision"], "vision_model")
    grid = vcfg.image_size // vcfg.patch_size
    pos = parts["abstractor"].get("pos_emb")
    if pos is not None and pos.shape[1] == grid * grid + 1:  # old checkpoints: a CLS slot Honeybee's loader drops
        parts["abstractor"]["pos_emb"] = pos[:, 1:]
    abstractor = g.CAbstractor(pc, num_input_tokens=grid * grid).float().eval()
    load_state(abstractor, parts["abstractor"], "abstractor")
    llama = LlamaForCausalLM._from_config(tcfg, attn_implementation="eager").float().eval()
    lang = parts["language"]
    if tcfg.tie_word_embeddings and "lm_head.weight" not in lang:
        lang["lm_head.weight"] = lang["model.embed_tokens.weight"]
    load_state(llama, lang, "language_model")

    if image_token_id is None:
        image_token_id = tcfg.vocab_size - 1  # Honeybee has no image-token id; mm1conv's importer uses the last id
        print(f"image token id: {image_token_id} (the last vocabulary id; pass --image-token-id to choose)")
    config = {"vision": {"kind": "clip", "feature_layer": pc.get("feature_layer_index", -1), "drop_class_token": True},
              "connector": {"kind": "c_abstractor"},
              "language": {"image_token_id": image_token_id, "tie_word_embeddings": bool(tcfg.tie_word_embeddings)}}
    image = {"size": vcfg.image_size, "mean": vc.get("image_mean", OPENAI_CLIP_MEAN), "std": vc.get("image_std", OPENAI_CLIP_STD)}
    case = dict(kind="modular", config=config, vision=vision, connector=abstractor, language=llama)
    return case, image, pc["num_query_tokens"], tcfg


@torch.no_grad()
def load_llava(folder, cfg):
    from transformers import LlavaForConditionalGeneration

    kwargs = dict(dtype=torch.float32, attn_implementation="eager")
    if "num_local_experts" in cfg.get("text_config", {}):
        kwargs["experts_implementation"] = "eager"
    llava = LlavaForConditionalGeneration.from_pretrained(folder, **kwargs).float().eval()
    c = llava.config
    if not isinstance(c.vision_feature_layer, int):
        fail(f"vision_feature_layer {c.vision_feature_layer}: several concatenated layers are not supported")
    if c.vision_feature_select_strategy not in ("default", "full"):
        fail(f"vision_feature_select_strategy {c.vision_feature_select_strategy!r} is not supported")
    vc = c.vision_config
    grid = vc.image_size // vc.patch_size
    k = grid * grid + (1 if c.vision_feature_select_strategy == "full" else 0)
    tied = llava.lm_head.weight is llava.model.language_model.get_input_embeddings().weight
    config = {"vision": {"kind": "clip", "feature_layer": c.vision_feature_layer,
                         "drop_class_token": c.vision_feature_select_strategy == "default"},
              "connector": {"kind": "mlp"},
              "language": {"image_token_id": c.image_token_id, "tie_word_embeddings": tied}}
    image = {"size": vc.image_size, "mean": OPENAI_CLIP_MEAN, "std": OPENAI_CLIP_STD}
    return dict(kind="llava", config=config, llava=llava), image, k, c.get_text_config()


# ---------------------------------------------------------------------------------------------------------
# Inputs


def has_any(folder, names):
    return any(os.path.isfile(os.path.join(folder, n)) for n in names)


def make_pixel_values(args, folder, image, gen):
    size = image["size"]
    synthetic = torch.rand(1, 3, size, size, generator=gen)  # always drawn, so the seeded ids do not depend on --image
    mean = torch.tensor(image["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(image["std"]).view(1, 3, 1, 1)
    if not args.image:
        return ((synthetic - torch.tensor(OPENAI_CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(OPENAI_CLIP_STD).view(1, 3, 1, 1)).float(), "synthetic"
    from PIL import Image
    img = Image.open(args.image).convert("RGB")
    if has_any(folder, ("preprocessor_config.json", "processor_config.json")):
        from transformers import AutoImageProcessor
        proc = AutoImageProcessor.from_pretrained(folder)
        pv = proc(images=img, return_tensors="pt")["pixel_values"].float()
        if tuple(pv.shape[-2:]) != (size, size):
            fail(f"the processor made {tuple(pv.shape)}, the model wants {size}×{size}")
        return pv, f"{os.path.basename(args.image)} via {type(proc).__name__}"
    import numpy as np
    arr = np.asarray(img.resize((size, size), Image.BICUBIC), dtype=np.float32) / 255.0
    pv = torch.from_numpy(arr).permute(2, 0, 1)[None]
    return ((pv - mean) / std).float().contiguous(), f"{os.path.basename(args.image)} resized to {size} (bicubic), mean/std normalised"


def make_input_ids(args, folder, image_token_id, k, bos, gen):
    img = [image_token_id] * k
    if args.prompt is not None:
        if not has_any(folder, ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
            fail(f"--prompt needs a tokenizer in {folder}; pass --input-ids instead")
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(folder)
        before, after = args.prompt.split(IMAGE_MARK, 1) if IMAGE_MARK in args.prompt else ("", args.prompt)
        ids = tok(before, add_special_tokens=True)["input_ids"] + img + tok(after, add_special_tokens=False)["input_ids"]
        return torch.tensor([ids], dtype=torch.long), "prompt via tokenizer"
    if args.input_ids is not None:
        parts = [p.strip() for p in args.input_ids.split(",") if p.strip()]
        if IMAGE_MARK in parts:
            i = parts.index(IMAGE_MARK)
            ids = [int(p) for p in parts[:i]] + img + [int(p) for p in parts[i + 1:]]
        else:
            ids = [int(p) for p in parts]
            if ids.count(image_token_id) != k:
                ids = ids[:1] + img + ids[1:]
        return torch.tensor([ids], dtype=torch.long), "--input-ids"
    text = torch.randint(3, image_token_id, (T_PREFIX - 1 + T_SUFFIX,), generator=gen)
    head = [bos] if bos is not None else []
    ids = torch.cat([torch.tensor(head, dtype=torch.long), text[: T_PREFIX - 1], torch.tensor(img, dtype=torch.long),
                     text[T_PREFIX - 1:]]).long()[None]
    return ids, "seeded"


# ---------------------------------------------------------------------------------------------------------


def compare(out, path, atol):
    with safe_open(path, "pt") as f:
        ref = {k: f.get_tensor(k) for k in f.keys()}
    worst, bad = 0.0, []
    if set(ref) != set(out):
        print(f"  keys differ: only here {sorted(set(out) - set(ref))}, only in {path} {sorted(set(ref) - set(out))}")
        bad.append("keys")
    exact = 0
    for k in sorted(set(ref) & set(out)):
        a, b = out[k], ref[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            print(f"  {k}: {a.dtype} {list(a.shape)} vs {b.dtype} {list(b.shape)}")
            bad.append(k)
            continue
        if torch.equal(a, b):
            exact += 1
            continue
        err = (a.double() - b.double()).abs().max().item()
        worst = max(worst, err)
        print(f"  {k}: max |Δ| {err:.3e}")
        if err > atol:
            bad.append(k)
    print(f"compared with {path}: {exact}/{len(ref)} tensors bit-identical, worst max |Δ| {worst:.3e} (atol {atol:g})")
    return not bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("model", help="the model folder (LLaVA save_pretrained folder, or Honeybee layout)")
    ap.add_argument("--out", required=True, help="the reference file to write (.safetensors)")
    ap.add_argument("--image", help="an image file (default: a seeded synthetic image)")
    ap.add_argument("--prompt", help=f"prompt text (needs the folder's tokenizer); {IMAGE_MARK} marks the image position")
    ap.add_argument("--input-ids", help=f"comma-separated token ids; {IMAGE_MARK} marks the image position")
    ap.add_argument("--inputs", help="reuse input.pixel_values and input.input_ids from this reference file")
    ap.add_argument("--image-token-id", type=int, help="Honeybee only: the image placeholder id (default: last vocabulary id)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the synthetic inputs (default {DEFAULT_SEED})")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: a fixed reduction order)")
    ap.add_argument("--compare", help="compare the result with this reference file and exit 1 if they differ")
    ap.add_argument("--atol", type=float, default=1e-6, help="tolerance for --compare (default 1e-6)")
    args = ap.parse_args()
    if args.prompt is not None and args.input_ids is not None:
        fail("pass --prompt or --input-ids, not both")
    if args.inputs and (args.image or args.prompt is not None or args.input_ids is not None):
        fail("--inputs replaces --image, --prompt and --input-ids")
    torch.set_num_threads(args.threads)

    cfg_path = os.path.join(args.model, "config.json")
    if not os.path.isfile(cfg_path):
        fail(f"{cfg_path} not found")
    cfg = json.load(open(cfg_path))
    if "projector_config" in cfg and "vision_config" in cfg and "text_config" in cfg:
        layout = "honeybee"
        case, image, k, tcfg = load_honeybee(args.model, cfg, args.image_token_id)
    elif cfg.get("model_type") == "llava" or "LlavaForConditionalGeneration" in cfg.get("architectures", []):
        if args.image_token_id is not None:
            fail("--image-token-id is for Honeybee folders; LLaVA's comes from its config")
        layout = "llava"
        case, image, k, tcfg = load_llava(args.model, cfg)
    else:
        fail(f"{cfg_path}: neither a LLaVA config (model_type llava) nor a Honeybee one (projector_config)")
    image_token_id = case["config"]["language"]["image_token_id"]

    if args.inputs:
        with safe_open(args.inputs, "pt") as f:
            pixel_values, input_ids = f.get_tensor("input.pixel_values").float(), f.get_tensor("input.input_ids").long()
        sources = {"inputs": os.path.basename(args.inputs)}
    else:
        gen = torch.Generator().manual_seed(args.seed)
        pixel_values, image_src = make_pixel_values(args, args.model, image, gen)
        input_ids, ids_src = make_input_ids(args, args.model, image_token_id, k, getattr(tcfg, "bos_token_id", None), gen)
        sources = {"image": image_src, "input_ids": ids_src}
    b = pixel_values.shape[0]
    n_img = (input_ids == image_token_id).sum(1)
    if input_ids.shape[0] != b or not bool((n_img == k).all()):
        fail(f"input_ids must hold {k} image tokens ({image_token_id}) per image for {b} image(s), found {n_img.tolist()}")
    if pixel_values.shape[-1] != image["size"]:
        fail(f"pixel_values are {list(pixel_values.shape)}, the model wants {image['size']}×{image['size']}")

    import generate_forward as gf
    ref = gf.reference(case, pixel_values.contiguous(), input_ids.contiguous())
    import transformers
    meta = {"script": "Samples/dump_reference.py", "model": os.path.basename(os.path.normpath(args.model)), "layout": layout,
            "seed": args.seed, "threads": args.threads, "dtype": "float32", "attn_implementation": "eager",
            "image_token_id": image_token_id, "image_tokens_per_image": k, **sources,
            "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__}}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(ref, args.out, metadata={"generator": json.dumps(meta, sort_keys=True)})
    print(f"wrote {args.out}: {len(ref)} tensors ({layout}; B={b}, T={input_ids.shape[1]}, K={k}, image token {image_token_id})")
    for key, v in ref.items():
        print(f"  {key:28s} {str(v.dtype).replace('torch.', ''):8s} {list(v.shape)}")
    if args.compare and not compare(ref, args.compare, args.atol):
        sys.exit(1)


if __name__ == "__main__":
    main()
