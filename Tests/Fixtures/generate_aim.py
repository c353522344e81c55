#!/usr/bin/env python3
"""Make the `aim-vision` naming-dialect fixture: a tiny AIM v1 image encoder built from Apple's REAL reference
classes (apple/ml-aim `aim-v1/aim/v1/torch/{layers,models}.py`), its weights under mm1conv's canonical names, the
canonical config, and a forward golden.

Getting the reference code (it is NOT vendored into this repository; the script imports it from outside):

    git clone https://github.com/apple/ml-aim /tmp/ml-aim
    git -C /tmp/ml-aim checkout bd9e06893f3ad68bda56b34ac2158fda2680b7fc     # the revision these fixtures used

`--aim-src DIR` (default /tmp/ml-aim/aim-v1) is either the `aim-v1` folder of such a checkout (the files are
read from DIR/aim/v1/torch/layers.py, DIR/aim/v1/torch/models.py, DIR/aim/v1/mixins.py) or a folder holding
copies of just those three files side by side (layers.py, models.py, mixins.py). They are loaded as a private
package, so ml-aim's `aim.v1.torch.data` (torchvision) is never imported. Their SHA-256 must match the pinned
revision (pass --any-revision to build from other sources; the output then differs from the committed files).

Model: `models._aim(img_size=84, patch_size=14, embed_dim=32, num_blocks=2, num_heads=4, probe_layers=2)` wrapped
in `models.AIM`, i.e. exactly what `aim_600M` & co. build, only smaller: PatchEmbed (Conv2d with bias + LayerNorm
eps 1e-6), fixed 2-D sin-cos positions (no parameter), no class token, 2 pre-norm blocks with fused `attn.qkv`
and `attn.proj`/`mlp.fc1`/`mlp.fc2` all without bias (the trunk's `use_bias=False`), MLP ratio 4, exact GELU,
`trunk.post_trunk_norm`, and the probe head `AttentionPoolingClassifier` (1 query, 1000 classes, BatchNorm1d
affine=False). `probe_layers=2` because the default 6 ("last 6 blocks") fails `_aim`'s assertion for 2 blocks.
`models.AIMForImageClassification` (the HF hub class) is built too and must have the same names and shapes.

Every parameter and float buffer is seeded (norm weights 1 + 0.2·N(0,1), biases 0.1·N(0,1), matrices
N(0,1)/√fan_in, BatchNorm running_var exp(0.2·N(0,1))) and made exactly representable in bf16 AND f16 (rounded
to bf16; magnitudes below 2^-14 set to ±2^-14), like generate_dialects.py. `head.bn.num_batches_tracked` stays
the int64 scalar 0 the real module has.

Writes under Tests/Fixtures/dialects/:
  aim-vision/model.safetensors        the real `AIM.state_dict()` (f32 + one int64 scalar), safetensors.torch.save_file
  aim-vision/reference.safetensors    input.pixel_values [1,3,84,84] (seeded, bf16-exact),
                                      expect.vision_features [1,36,32] = last block's output (before post_trunk_norm),
                                      expect.vision.post_norm [1,36,32] = post_trunk_norm of it; both captured by
                                      hooks during the real `AIM.forward` and checked against `extract_features`
  canonical-aim.safetensors           the vision tensors under mm1conv names (f32)
  canonical-aim.config.json           canonical-tiny-dense.config.json with "vision" replaced by the AIM encoder
and updates the `aim-vision` section of dialects/README.md and the entries of these files (and README.md) in
dialects/MANIFEST.json. NOTE: generate_dialects.py deletes and rewrites dialects/ (README and MANIFEST included),
so run this script AFTER it.

Deterministic (fixed seeds, one thread, no timestamps, single-key safetensors metadata {"format": "pt"}).
Run:   /opt/mm1py/bin/python Tests/Fixtures/generate_aim.py [--aim-src /tmp/ml-aim/aim-v1]
Needs: torch, safetensors, huggingface_hub (models.py imports PyTorchModelHubMixin).
"""
import argparse
import hashlib
import importlib.util
import json
import math
import os
import sys
import types

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

import huggingface_hub
import safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dialects")
CASE = "aim-vision"
SEED = 20260315
GENERATOR = "Tests/Fixtures/generate_aim.py"
ST_METADATA = {"format": "pt"}  # one key only (the Rust writer orders 2+ keys by hash)
ML_AIM_COMMIT = "bd9e06893f3ad68bda56b34ac2158fda2680b7fc"
ML_AIM_SHA256 = {
    "layers.py": "377ff76e17caadf0b06f82e3e8b188a3c1ad9de05aa613a627d489b78400fdcf",
    "models.py": "aacdde6f16bec6cba459d4e11f6e8989e24c989d54e797c0b96f6695fd70e6e0",
    "mixins.py": "4d436b9fe93b094e13db08ad4771282ec6243e82055681e8c8fd4bf48e942029",
}

AIM_ARGS = {"img_size": 84, "patch_size": 14, "embed_dim": 32, "num_blocks": 2, "num_heads": 4, "probe_layers": 2}
NUM_CLASSES = 1000  # _aim's default; the head is ignored by mm1conv
DEPTH, WIDTH, HEADS, PATCH, IMAGE = 2, 32, 4, 14, 84
GRID = IMAGE // PATCH  # 6
EPS = 1e-6

VISION_MM1 = {"kind": "aim", "image_size": 84, "patch_size": 14, "hidden_size": 32, "depth": 2, "heads": 4,
              "intermediate_size": 128, "norm_eps": 1e-06, "activation": "gelu", "patch_bias": True,
              "feature_layer": -1, "drop_class_token": False}

# ---------------------------------------------------------------------------------------------------------
# Loading the reference code as a private package (_mlaim.v1 / _mlaim.v1.torch)


def locate_sources(src):
    nested = {"layers.py": os.path.join(src, "aim", "v1", "torch", "layers.py"),
              "models.py": os.path.join(src, "aim", "v1", "torch", "models.py"),
              "mixins.py": os.path.join(src, "aim", "v1", "mixins.py")}
    flat = {n: os.path.join(src, n) for n in nested}
    for paths in (nested, flat):
        if all(os.path.isfile(p) for p in paths.values()):
            return paths
    sys.exit(f"error: no ml-aim v1 sources under {src} (expected aim/v1/torch/{{layers,models}}.py + aim/v1/mixins.py, "
             f"or layers.py, models.py, mixins.py side by side). Get them with:\n"
             f"  git clone https://github.com/apple/ml-aim /tmp/ml-aim && git -C /tmp/ml-aim checkout {ML_AIM_COMMIT}")


def load_aim(src, any_revision):
    paths = locate_sources(src)
    digests = {n: hashlib.sha256(open(p, "rb").read()).hexdigest() for n, p in paths.items()}
    wrong = [n for n in paths if digests[n] != ML_AIM_SHA256[n]]
    if wrong and not any_revision:
        sys.exit(f"error: {', '.join(paths[n] for n in wrong)} differ from ml-aim {ML_AIM_COMMIT} (use --any-revision to go on)")

    def package(name):
        m = types.ModuleType(name)
        m.__path__ = []
        sys.modules[name] = m
        return m

    def module(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        m = importlib.util.module_from_spec(spec)
        sys.modules[name] = m
        spec.loader.exec_module(m)
        return m

    v1 = package("_mlaim.v1")
    package("_mlaim").v1 = v1
    v1.mixins = module("_mlaim.v1.mixins", paths["mixins.py"])  # models.py: `from .. import mixins`
    v1.torch = package("_mlaim.v1.torch")
    v1.torch.layers = module("_mlaim.v1.torch.layers", paths["layers.py"])  # models.py: `from . import layers`
    v1.torch.models = module("_mlaim.v1.torch.models", paths["models.py"])
    return v1.torch.layers, v1.torch.models, digests


# ---------------------------------------------------------------------------------------------------------
# Seeded initialisation (same rules as generate_dialects.py)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_dialects import TINY, exact  # noqa: E402  (one definition of "exact in bf16, f16 and f32")


def random_value(name, shape, g):
    z = torch.randn(shape, generator=g, dtype=torch.float32)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return torch.exp(0.2 * z)
    if leaf in ("bias", "running_mean"):
        return 0.1 * z
    if len(shape) == 1:  # a 1-D weight is a LayerNorm scale
        return 1.0 + 0.2 * z
    return z / math.sqrt(math.prod(shape[1:]))


@torch.no_grad()
def randomize_(module, seed):
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        p.copy_(exact(random_value(name, tuple(p.shape), g)))
    for name, b in module.named_buffers():
        if b.is_floating_point():
            b.copy_(exact(random_value(name, tuple(b.shape), g)))


# ---------------------------------------------------------------------------------------------------------
# The model, the canonical names, the golden


@torch.no_grad()
def build_model(models):
    torch.manual_seed(SEED)
    pre, trunk, head = models._aim(num_classes=NUM_CLASSES, **AIM_ARGS)
    aim = models.AIM(pre, trunk, head).eval()
    randomize_(aim, SEED + 1)
    hub = models.AIMForImageClassification(dict(AIM_ARGS, num_classes=NUM_CLASSES))  # the HF hub class
    a, b = aim.state_dict(), hub.state_dict()
    assert list(a) == list(b) and all(a[k].shape == b[k].shape for k in a), "AIM and AIMForImageClassification differ"
    return aim


def canonical_aim(sd):
    """mm1conv names (architecture.md §2.3 → canonical vision.*), computed from the real state dict."""
    c = {"vision.patch_embed.weight": sd["preprocessor.patchifier.proj.weight"],
         "vision.patch_embed.bias": sd["preprocessor.patchifier.proj.bias"]}
    for s in ("weight", "bias"):
        c[f"vision.patch_norm.{s}"] = sd[f"preprocessor.patchifier.norm.{s}"]
        c[f"vision.post_norm.{s}"] = sd[f"trunk.post_trunk_norm.{s}"]
    for i in range(DEPTH):
        src, dst = f"trunk.blocks.{i}.", f"vision.layers.{i}."
        for s in ("weight", "bias"):
            c[dst + f"norm1.{s}"] = sd[src + f"norm_1.{s}"]
            c[dst + f"norm2.{s}"] = sd[src + f"norm_2.{s}"]
        qkv = sd[src + "attn.qkv.weight"]  # (3D, D): rows q | k | v
        assert qkv.shape == (3 * WIDTH, WIDTH)
        for j, a in enumerate("qkv"):
            c[dst + f"attention.{a}.weight"] = qkv[j * WIDTH:(j + 1) * WIDTH]
        c[dst + "attention.o.weight"] = sd[src + "attn.proj.weight"]
        c[dst + "mlp.fc1.weight"] = sd[src + "mlp.fc1.weight"]
        c[dst + "mlp.fc2.weight"] = sd[src + "mlp.fc2.weight"]
    consumed = {"preprocessor.patchifier.proj.weight", "preprocessor.patchifier.proj.bias",
                "preprocessor.patchifier.norm.weight", "preprocessor.patchifier.norm.bias",
                "trunk.post_trunk_norm.weight", "trunk.post_trunk_norm.bias"}
    consumed |= {f"trunk.blocks.{i}.{n}" for i in range(DEPTH) for n in (
        "norm_1.weight", "norm_1.bias", "norm_2.weight", "norm_2.bias", "attn.qkv.weight", "attn.proj.weight",
        "mlp.fc1.weight", "mlp.fc2.weight")}
    trunk = {k for k in sd if not k.startswith("head.")}
    assert trunk == consumed, f"unmapped {sorted(trunk - consumed)}, absent {sorted(consumed - trunk)}"
    return {k: v.detach().clone().float().contiguous() for k, v in c.items()}


@torch.no_grad()
def golden(aim):
    x = exact(torch.randn(1, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(SEED + 2)))
    seen = {}
    hooks = [aim.trunk.blocks[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("last_block", o.clone())),
             aim.trunk.post_trunk_norm.register_forward_hook(
                 lambda m, i, o: seen.update(post_norm_in=i[0].clone(), post_norm=o.clone()))]
    logits = aim(x)  # the real path: preprocessor → trunk (→ post_trunk_norm, AverageLayers) → head
    for h in hooks:
        h.remove()
    assert logits.shape == (1, NUM_CLASSES)
    assert torch.equal(seen["post_norm_in"], seen["last_block"])
    feats = aim.extract_features(x)  # AIMMixin.extract_features: the un-normed output of every block
    assert len(feats) == DEPTH and torch.equal(feats[-1], seen["last_block"])
    ref = {"input.pixel_values": x, "expect.vision_features": seen["last_block"], "expect.vision.post_norm": seen["post_norm"]}
    for k in ("expect.vision_features", "expect.vision.post_norm"):
        assert ref[k].shape == (1, GRID * GRID, WIDTH), (k, ref[k].shape)
    return {k: v.float().contiguous() for k, v in ref.items()}


def sincos_positions(g, d):
    """architecture.md §2.3: token (i, j) (row-major) → [sin(jω), cos(jω), sin(iω), cos(iω)], ω_k = 10000^(−k/(D/4))."""
    k = torch.arange(d // 4, dtype=torch.float32)
    omega = 1.0 / 10000 ** (k / (d / 4))
    i, j = torch.meshgrid(torch.arange(g, dtype=torch.float32), torch.arange(g, dtype=torch.float32), indexing="ij")
    i, j = i.reshape(-1, 1) * omega, j.reshape(-1, 1) * omega
    return torch.cat([j.sin(), j.cos(), i.sin(), i.cos()], dim=1)


@torch.no_grad()
def canonical_forward(c, x):
    """A from-scratch forward over the CANONICAL tensors; returns (last block output, post_norm)."""
    ln = lambda t, p: F.layer_norm(t, (WIDTH,), c[p + ".weight"], c[p + ".bias"], EPS)
    h = F.conv2d(x, c["vision.patch_embed.weight"], c["vision.patch_embed.bias"], stride=PATCH).flatten(2).transpose(1, 2)
    h = ln(h, "vision.patch_norm") + sincos_positions(GRID, WIDTH)
    b, n, _ = h.shape
    for i in range(DEPTH):
        L = f"vision.layers.{i}."
        a = ln(h, L + "norm1")
        q, k, v = (F.linear(a, c[L + f"attention.{z}.weight"]).reshape(b, n, HEADS, -1).transpose(1, 2) for z in "qkv")
        s = (q @ k.transpose(-1, -2) / math.sqrt(WIDTH // HEADS)).softmax(-1)
        h = h + F.linear((s @ v).transpose(1, 2).reshape(b, n, WIDTH), c[L + "attention.o.weight"])
        h = h + F.linear(F.gelu(F.linear(ln(h, L + "norm2"), c[L + "mlp.fc1.weight"])), c[L + "mlp.fc2.weight"])
    return h, ln(h, "vision.post_norm")


# ---------------------------------------------------------------------------------------------------------
# Files


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def read_all(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


BEGIN, END = "<!-- BEGIN aim-vision: written by generate_aim.py -->", "<!-- END aim-vision -->"


def readme_section(sd, versions):
    names = "\n".join(f"| `{k}` | {list(v.shape)} | {str(v.dtype).replace('torch.', '')} |" for k, v in sd.items())
    return f"""{BEGIN}
## AIM v1 vision encoder (`aim-vision/`)

Made by `{GENERATOR}` (seed {SEED}; apple/ml-aim @{ML_AIM_COMMIT[:7]} `aim-v1/aim/v1/torch/{{layers,models}}.py`,
{", ".join(f"{k} {v}" for k, v in versions.items())}), NOT by generate_dialects.py, which deletes this folder and
this section: rerun `/opt/mm1py/bin/python {GENERATOR} --aim-src /tmp/ml-aim/aim-v1` after it (its docstring says
how to get the ml-aim sources; they are not part of this repository).

The real `AIM(preprocessor, trunk, head)` that `models._aim` builds (the same names as the HF hub class
`AIMForImageClassification`), tiny: 84 px, patch 14 (6×6 = 36 tokens, no class token), width 32, 2 blocks, 4 heads,
MLP 128 (exact GELU), LayerNorm eps 1e-6, patch conv with bias + LayerNorm after it, fixed 2-D sin-cos positions
(no tensor), no biases in `attn.qkv`, `attn.proj`, `mlp.fc1/fc2`; probe head `AttentionPoolingClassifier`
(1000 classes; `probe_layers=2` since the default "last 6 blocks" does not exist in a 2-block trunk).
Seeded values, bf16- and f16-exact (the BatchNorm buffers too).

| case | source naming | files | must import to |
|---|---|---|---|
| `aim-vision/` | ml-aim v1 `AIM.state_dict()`: `preprocessor.patchifier.{{proj,norm}}.*`, `trunk.blocks.{{i}}.{{norm_1, attn.qkv (fused q;k;v, no bias), attn.proj, norm_2, mlp.fc1, mlp.fc2}}`, `trunk.post_trunk_norm.*`, `head.*` (ignored; includes the **int64 scalar** `head.bn.num_batches_tracked`) | `model.safetensors` (f32 + one I64 []), `reference.safetensors`, no config | `canonical-aim.safetensors` (config: `canonical-aim.config.json` = `canonical-tiny-dense.config.json` with an AIM `vision`); only `vision.*` |

Mapping: `attn.qkv.weight` (96, 32) splits as rows [0:32] q, [32:64] k, [64:96] v; `attn.proj` → `attention.o`;
`norm_1/2` → `norm1/2`; `patchifier.proj` → `patch_embed` (weight + bias); `patchifier.norm` → `patch_norm`;
`post_trunk_norm` → `post_norm`. There is no class token, position embedding or pre-norm tensor.

`aim-vision/reference.safetensors` (f32, metadata {{"format": "pt"}}): `input.pixel_values` [1, 3, 84, 84] (seeded,
bf16-exact, fed as is: no mean/std normalisation); `expect.vision_features` [1, 36, 32] = output of the LAST block,
before `post_trunk_norm` (the un-normed features `AIM.extract_features` returns; AIM's own probe averages these);
`expect.vision.post_norm` [1, 36, 32] = `post_trunk_norm` of it. Both were captured by hooks during the real
`AIM.forward` (CPU, f32, one thread) and are reproduced by a from-scratch forward over the canonical tensors with
positions [sin(jω), cos(jω), sin(iω), cos(iω)] for token (i, j), ω_k = 10000^(−k/8), k < 8.

`aim-vision/model.safetensors` tensors:

| name | shape | dtype |
|---|---|---|
{names}
{END}
"""


def update_readme(section):
    path = os.path.join(OUT, "README.md")
    text = open(path).read()
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head.rstrip("\n") + "\n\n" + section + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aim-src", default="/tmp/ml-aim/aim-v1", help="ml-aim's aim-v1 folder, or a folder with layers.py, models.py, mixins.py")
    ap.add_argument("--any-revision", action="store_true", help="accept ml-aim sources whose SHA-256 differs from the pinned revision")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not os.path.isfile(os.path.join(OUT, "canonical-tiny-dense.config.json")):
        sys.exit(f"error: {OUT} has no canonical-tiny-dense.config.json; run generate_dialects.py first")

    _, models, digests = load_aim(args.aim_src, args.any_revision)
    aim = build_model(models)
    sd = {k: v.detach().clone().contiguous() for k, v in aim.state_dict().items()}
    for k, v in sd.items():
        if v.is_floating_point():
            assert v.dtype == torch.float32 and torch.equal(v, exact(v)), k
        else:
            assert k == "head.bn.num_batches_tracked" and v.dtype == torch.int64 and v.dim() == 0, k
    canon = canonical_aim(sd)
    ref = golden(aim)

    # the canonical tensors ARE the model: a from-scratch forward reproduces the reference hooks
    feats, post = canonical_forward(canon, ref["input.pixel_values"])
    for name, ours, theirs in (("vision_features", feats, ref["expect.vision_features"]), ("post_norm", post, ref["expect.vision.post_norm"])):
        err = (ours - theirs).abs().max().item()
        assert err < 2e-4 * max(1.0, theirs.abs().max().item()), f"canonical forward differs from ml-aim on {name} by {err}"
        print(f"  canonical forward == ml-aim AIM ({name}): max |Δ| {err:.1e}")

    case = os.path.join(OUT, CASE)
    os.makedirs(case, exist_ok=True)
    files = {f"{CASE}/model.safetensors": sd, f"{CASE}/reference.safetensors": ref, "canonical-aim.safetensors": canon}
    for rel, tensors in files.items():
        save_file(tensors, os.path.join(OUT, rel), metadata=ST_METADATA)
        back, meta = read_all(os.path.join(OUT, rel))
        assert meta == ST_METADATA and back.keys() == tensors.keys() and all(
            back[k].dtype == tensors[k].dtype and torch.equal(back[k], tensors[k]) for k in tensors), rel
    # the real model reloads the file strictly
    models_again = build_model(models)
    models_again.load_state_dict(read_all(os.path.join(OUT, CASE, "model.safetensors"))[0], strict=True)

    config = json.load(open(os.path.join(OUT, "canonical-tiny-dense.config.json")))
    config["vision"] = dict(VISION_MM1)
    write_json(os.path.join(OUT, "canonical-aim.config.json"), config)

    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "safetensors": safetensors.__version__,
                "huggingface_hub": huggingface_hub.__version__}
    update_readme(readme_section(sd, versions))

    made = [f"{CASE}/model.safetensors", f"{CASE}/reference.safetensors", "canonical-aim.safetensors", "canonical-aim.config.json"]
    for rel in made + ["README.md"]:
        os.chmod(os.path.join(OUT, rel), 0o644)
    mpath = os.path.join(OUT, "MANIFEST.json")
    manifest = json.load(open(mpath))
    for rel in made + ["README.md"]:
        manifest["files"][rel] = sha256(os.path.join(OUT, rel))
    manifest["files"] = dict(sorted(manifest["files"].items()))
    manifest["aim_vision"] = {"generator": GENERATOR, "seed": SEED, "files": made, "ml_aim_commit": ML_AIM_COMMIT,
                              "ml_aim_sha256": digests, "versions": versions}
    write_json(mpath, manifest)
    for rel in made:
        print(f"  {rel}  {manifest['files'][rel]}")


if __name__ == "__main__":
    main()
