#!/usr/bin/env python3
"""Validate Schemas/examples and mm1conv's own outputs against the JSON Schemas, and read a package
mm1conv wrote with the real `safetensors`, comparing it with the canonical tensors made in Python.

Usage: python Tests/Interop/check_schemas.py INTEROP_DIR   (needs jsonschema, safetensors, numpy)
"""
import copy
import glob
import hashlib
import json
import os
import sys

import jsonschema
import numpy as np
from referencing import Registry, Resource
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCHEMAS = os.path.join(ROOT, "Schemas")
check = Checks("schemas")


schemas = {n: json.load(open(os.path.join(SCHEMAS, n))) for n in ["mm1-config.schema.json", "mapping.schema.json", "package.schema.json",
                                                                  "reference-activations.schema.json"]}
registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in schemas.values()] +
                                     [(n, Resource.from_contents(s)) for n, s in schemas.items()])


def validator(name):
    cls = jsonschema.validators.validator_for(schemas[name])
    cls.check_schema(schemas[name])
    return cls(schemas[name], registry=registry)


def valid(name, doc):
    return not list(validator(name).iter_errors(doc))


kinds = {"config-": "mm1-config.schema.json", "mapping-": "mapping.schema.json", "package-": "package.schema.json"}
for path in sorted(glob.glob(os.path.join(SCHEMAS, "examples", "*.json"))):
    base = os.path.basename(path)
    schema = next(s for p, s in kinds.items() if base.startswith(p))
    doc = json.load(open(path))
    errors = list(validator(schema).iter_errors(doc))
    check(not errors, f"{base}: {[e.message for e in errors][:3]}")

# Mutations the schemas must reject.
config = json.load(open(os.path.join(SCHEMAS, "examples", "config-tiny-moe.json")))
for label, mutate in [("missing vision", lambda c: c.pop("vision")),
                      ("unknown connector kind", lambda c: c["connector"].update(kind="perceiver")),
                      ("string kv_heads", lambda c: c["language"].update(kv_heads="2")),
                      ("unknown field", lambda c: c["language"].update(n_heads=4)),
                      ("duplicate sparse layer", lambda c: c["language"]["moe"].update(sparse_layers=[1, 1]))]:
    bad = copy.deepcopy(config)
    mutate(bad)
    check(not valid("mm1-config.schema.json", bad), f"schema accepted a config with {label}")

# Every committed reference-activations file (written by the real PyTorch scripts) fits its schema, and the
# schema refuses the mistakes the Swift reader refuses.
def safetensors_header(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))


references = sorted(glob.glob(os.path.join(ROOT, "Samples", "*", "reference.safetensors")) +
                    glob.glob(os.path.join(ROOT, "Tests", "Fixtures", "forward", "*", "reference.safetensors")))
check(len(references) >= 8, f"found {len(references)} reference files")
for path in references:
    errors = list(validator("reference-activations.schema.json").iter_errors(safetensors_header(path)))
    check(not errors, f"{os.path.relpath(path, ROOT)}: {[e.message for e in errors][:3]}")
header = safetensors_header(os.path.join(ROOT, "Samples", "tiny-mm1", "reference.safetensors"))
for label, mutate in [("an unknown tensor", lambda h: h.update(logits=h["expect.logits"])),
                      ("float token ids", lambda h: h["input.input_ids"].update(dtype="F32")),
                      ("integer expectations", lambda h: h["expect.logits"].update(dtype="I32")),
                      ("no inputs", lambda h: (h.pop("input.input_ids"), h.pop("input.pixel_values")))]:
    bad = copy.deepcopy(header)
    mutate(bad)
    check(not valid("reference-activations.schema.json", bad), f"schema accepted a reference file with {label}")

# The package mm1conv wrote during `swift test`: manifest valid, shards readable, values equal the canonical ones.
pkg = os.path.join(sys.argv[1], "tiny-dense.mm1")
manifest = json.load(open(os.path.join(pkg, "mm1.json")))
errors = list(validator("package.schema.json").iter_errors(manifest))
check(not errors, f"mm1.json: {[e.message for e in errors][:3]}")
canonical = load_file(os.path.join(ROOT, "Tests", "Fixtures", "dialects", "canonical-tiny-dense.safetensors"))
tensors = {}
for shard, meta in manifest["shards"].items():
    data = open(os.path.join(pkg, shard), "rb").read()
    check(hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["bytes"], f"{shard}: hash/size")
    tensors.update(load_file(os.path.join(pkg, shard)))
check(sorted(tensors) == sorted(canonical) == sorted(manifest["tensors"]), "package tensor names")
for name, value in canonical.items():
    ours = tensors.get(name)
    entry = manifest["tensors"].get(name, {})
    check(ours is not None and ours.shape == value.shape and np.array_equal(ours.astype(np.float32), value), f"{name}: values")
    check(ours is not None and hashlib.sha256(np.ascontiguousarray(ours).tobytes()).hexdigest() == entry.get("sha256"), f"{name}: sha256")

# Manifests of quantized packages and of one carrying a tokenizer (QuantizedExportTests): valid, and the schema
# refuses a quantization entry without its scales and a file outside tokenizer/.
manifests = sorted(glob.glob(os.path.join(sys.argv[1], "manifests", "*.json")))
check(len(manifests) >= 4, f"found {len(manifests)} quantized/tokenizer manifests")
for path in manifests:
    doc = json.load(open(path))
    errors = list(validator("package.schema.json").iter_errors(doc))
    check(not errors, f"{os.path.basename(path)}: {[e.message for e in errors][:3]}")
    quantized = [t for t in doc["tensors"].values() if "quantization" in t]
    if quantized:
        bad = copy.deepcopy(doc)
        next(t for t in bad["tensors"].values() if "quantization" in t)["quantization"].pop("scales")
        check(not valid("package.schema.json", bad), f"{os.path.basename(path)}: schema accepted a quantization without scales")
    if "files" in doc:
        bad = copy.deepcopy(doc)
        bad["files"]["../escape.json"] = next(iter(doc["files"].values()))
        check(not valid("package.schema.json", bad), f"{os.path.basename(path)}: schema accepted a file outside tokenizer/")

check.finish()
