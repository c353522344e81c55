#!/usr/bin/env python3
"""Generate mm1conv's HDF5 input fixtures (design notes formats.md §4, §5.4, §7.4) under Tests/Fixtures/hdf5/.

Rerun from anywhere (deterministic: same bytes every run; every dataset is created with track_times=False, files
with a fixed libver whose upper bound is v110 so Debian's libhdf5 1.10.8 reads them, seeded values, no other
timestamps):

    /opt/mm1py/bin/python Tests/Fixtures/generate_hdf5.py                  # write the fixtures
    /opt/mm1py/bin/python Tests/Fixtures/generate_hdf5.py --compare-keras  # also check the Keras layouts against
                                                                           # files written by real Keras 3 (needs keras)

Needs numpy, safetensors and h5py (made with h5py 3.16.0 / HDF5 2.0.0). Keras is only needed for --compare-keras:
the Keras-layout files are written with h5py exactly as Keras writes them (same groups, dataset names, attribute
names and attribute HDF5 types), so the fixtures never depend on Keras being installed.
Plugin loading is disabled (HDF5_PLUGIN_PRELOAD="::") so an installed filter plugin cannot change any bytes.

Writes:
  flat.h5               every tensor of dialects/canonical-tiny-dense.safetensors as a root dataset named exactly like the
                        canonical tensor ("language.layers.0.attention.q.weight"), f32, contiguous, unfiltered
  nested.h5             the same tensors as nested groups (language/layers/0/attention/q/weight) with mixed storage:
                        contiguous, chunked + gzip 4 (+/- shuffle), fletcher32, compact layout; f32, f16 and one f64.
                        Every value is f16-exact, so all of them import to the canonical f32 bits
  bf16-attr.h5          three bf16 encodings of canonical tensors (uint16 + attr dtype="bfloat16", Keras 3's OPAQUE(2) +
                        attr dtype="bfloat16", and the float layout of HDF5 2.0's predefined H5T_FLOAT_BFLOAT16LE) + f32
  userblock.h5          two canonical tensors in a file with a 512-byte user block (HDF5 signature at offset 512)
  keras3.weights.h5     Keras 3 `model.save_weights("x.weights.h5")` layout of a small non-MM1 model
  keras2-weights.h5     Keras 2 `model.save_weights("x.h5")` (h5py 2.x era: fixed-length string attributes)
  keras2-model.h5       Keras 2 `model.save("x.h5")` (h5py 3.x era: variable-length strings, /model_weights,
                        model_config/training_config, /optimizer_weights with scalars)
  keras.expected.json   every Keras weight: path in each file, Keras shape, the shape mm1conv presents after import
  keras.expected.safetensors  those weights in mm1conv's layout (Dense kernel [out, in], Conv2D kernel OIHW)
  ../malformed/hdf5/*.h5 (+ helpers) and ../malformed/hdf5/MANIFEST.json: one defect per file, the expected error category, the
                        dataset concerned, and what h5py (HDF5 2.0.0, plugins disabled) does with the file
  MANIFEST.json, README.md   SHA-256 of every file + versions; the table of cases
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile

os.environ["HDF5_PLUGIN_PRELOAD"] = "::"  # before h5py loads libhdf5: no dynamically loaded filters, ever

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import safetensors  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hdf5")
BAD = os.path.join(HERE, "malformed", "hdf5")
SOURCE = os.path.join(HERE, "dialects", "canonical-tiny-dense.safetensors")
GENERATOR = "Tests/Fixtures/generate_hdf5.py"
SEED = 20260420
LIBVER = ("earliest", "v110")  # oldest object formats (as Keras/h5py default); never anything libhdf5 1.10 cannot read
LIBVER_NEW = ("v110", "v110")  # nested.h5: superblock v3, v2 object headers, link-message groups, v4 chunk indexes
ST_METADATA = {"format": "pt"}
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def new_file(path, libver=LIBVER, **kw):
    return h5py.File(path, "w", libver=libver, **kw)


def dataset(group, name, data=None, **kw):
    """h5py create_dataset without the object modification time (the only timestamp HDF5 writes by default)."""
    return group.create_dataset(name, data=data, track_times=False, **kw)


def canonical():
    return load_file(SOURCE)


# ---------------------------------------------------------------------------------------------------------------
# 1-3. MM1 canonical tensors in HDF5


def write_flat(tensors):
    with new_file(os.path.join(OUT, "flat.h5")) as f:
        for name in sorted(tensors):
            dataset(f, name, tensors[name])


def nested_storage(name, shape):
    """(dtype, h5py keyword arguments, description) for one tensor of nested.h5."""
    layer = name.split(".")[2] if name.startswith(("language.layers.", "vision.layers.")) else None
    if name == "vision.patch_embed.weight":
        return "f2", dict(chunks=(8,) + shape[1:], compression="gzip", compression_opts=4, shuffle=True)
    if name == "language.embed_tokens.weight":  # 256 rows in chunks of 100: a partial edge chunk
        return "f4", dict(chunks=(100, shape[1]), compression="gzip", compression_opts=4, shuffle=True)
    if name == "language.lm_head.weight":
        return "f2", dict(chunks=(64, shape[1]), compression="gzip", compression_opts=4)
    if name == "language.norm.weight":
        return "f4", dict(layout="compact")
    if name == "vision.class_token":
        return "f4", dict(chunks=shape, fletcher32=True)
    if name == "connector.position_embedding":
        return "f8", {}
    if ".mlp." in name and name.startswith("language."):
        if layer in ("0", "1"):
            return "f4", dict(chunks=(32, shape[1]), compression="gzip", compression_opts=4, shuffle=True)
        return "f2", dict(chunks=(32, shape[1]), compression="gzip", compression_opts=4, shuffle=True)
    if ".attention." in name and name.startswith("language."):
        return "f2", {}
    if name.startswith("vision.layers.") and name.endswith(".weight") and len(shape) == 2:
        return "f2", dict(chunks=shape, compression="gzip", compression_opts=4)
    if name.startswith("connector.") and len(shape) == 4:
        return "f4", dict(chunks=shape, compression="gzip", compression_opts=4, shuffle=True)
    if name.startswith("connector.") and len(shape) == 2:
        return "f4", dict(chunks=shape, compression="gzip", compression_opts=4)
    return "f4", {}


def storage_record(ds):
    """How a dataset is stored, as the MANIFEST reports it (read back from the file, not from the request)."""
    dcpl = ds.id.get_create_plist()
    layout = {h5py.h5d.COMPACT: "compact", h5py.h5d.CONTIGUOUS: "contiguous", h5py.h5d.CHUNKED: "chunked"}[dcpl.get_layout()]
    names = {1: "deflate", 2: "shuffle", 3: "fletcher32"}
    filters = []
    for i in range(dcpl.get_nfilters()):
        fid, _, opts, _ = dcpl.get_filter(i)
        filters.append(names.get(fid, str(fid)) + (f"({opts[0]})" if fid == 1 else ""))
    rec = {"dtype": {"<f2": "f16", "<f4": "f32", "<f8": "f64"}[ds.dtype.str], "layout": layout, "filters": filters}
    if layout == "chunked":
        rec["chunks"] = list(ds.chunks)
    return rec


def write_nested(tensors):
    storage = {}
    with new_file(os.path.join(OUT, "nested.h5"), libver=LIBVER_NEW) as f:
        for name in sorted(tensors):
            value = tensors[name]
            dtype, kw = nested_storage(name, value.shape)
            cast = value.astype(dtype)
            assert np.array_equal(cast.astype(np.float32), value), name  # f16 / f64 hold the exact values
            path = name.replace(".", "/")
            if kw.pop("layout", None) == "compact":
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_layout(h5py.h5d.COMPACT)
                dcpl.set_obj_track_times(False)
                grp = f.require_group(path.rsplit("/", 1)[0])
                space = h5py.h5s.create_simple(cast.shape)
                dsid = h5py.h5d.create(grp.id, path.rsplit("/", 1)[1].encode(), h5py.h5t.py_create(cast.dtype), space, dcpl=dcpl)
                dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, cast)
            else:
                dataset(f, path, cast, **kw)
            storage[path] = storage_record(f[path])
    return storage


def bf16_bits(values):
    bits = values.astype(np.float32).view(np.uint32)
    assert not np.any(bits & 0xFFFF), "value is not bf16-exact"
    return (bits >> 16).astype(np.uint16)


BF16_CASES = {
    # dataset name (canonical) -> encoding
    "vision.layers.0.attention.q.weight": "uint16-attr",
    "vision.layers.0.attention.k.weight": "opaque-attr",
    "vision.layers.0.attention.v.weight": "float-bf16-layout",
    "vision.layers.0.attention.o.weight": "f32",
}


def write_bf16(tensors):
    with new_file(os.path.join(OUT, "bf16-attr.h5")) as f:
        for name, encoding in BF16_CASES.items():
            value = tensors[name]
            if encoding == "uint16-attr":  # mm1conv's convention: raw bf16 bits in a uint16 dataset, tagged
                ds = dataset(f, name, bf16_bits(value))
                ds.attrs["dtype"] = "bfloat16"
            elif encoding == "opaque-attr":  # Keras 3 H5IOStore: ml_dtypes.bfloat16 -> H5T_OPAQUE size 2, tag ""
                ds = dataset(f, name, bf16_bits(value).view("V2"))
                ds.attrs["dtype"] = "bfloat16"
            elif encoding == "float-bf16-layout":  # H5T_FLOAT, 16 bits: sign 15, exponent 7..14 (bias 127), mantissa 0..6
                ftype = h5py.h5t.IEEE_F16LE.copy()
                ftype.set_fields(15, 7, 8, 0, 7)
                ftype.set_ebias(127)
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_obj_track_times(False)
                dsid = h5py.h5d.create(f.id, name.encode(), ftype, h5py.h5s.create_simple(value.shape), dcpl=dcpl)
                dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, bf16_bits(value), mtype=ftype)  # raw bits, no conversion
            else:
                dataset(f, name, value)
        # self-check: h5py (HDF5's own float conversion) reads the float layout back as the canonical values
        assert np.array_equal(f["vision.layers.0.attention.v.weight"][...].astype(np.float32),
                              tensors["vision.layers.0.attention.v.weight"])


USERBLOCK_TENSORS = ["language.norm.weight", "vision.class_token"]


def write_userblock(tensors):
    path = os.path.join(OUT, "userblock.h5")
    with new_file(path, userblock_size=512) as f:
        for name in USERBLOCK_TENSORS:
            dataset(f, name, tensors[name])
    text = b"mm1conv fixture: 512-byte HDF5 user block; the superblock starts at offset 512.\n"
    with open(path, "r+b") as fh:
        fh.write(text)
        fh.seek(512)
        assert fh.read(8) == HDF5_SIGNATURE


# ---------------------------------------------------------------------------------------------------------------
# 4. Keras layouts (a small model that is not MM1)
#
#   keras.Sequential([Input((4, 6, 3)), Conv2D(8, 3, name="stem"), Flatten(name="flat"), Dense(32, name="proj"),
#                     LayerNormalization(name="ln")], name="toy")      2,368 parameters

KERAS_MODEL = "toy"
KERAS_LAYERS = [  # (user name, class, Keras 3 group under /layers, [(variable, Keras shape, mm1conv shape, transform)])
    ("stem", "Conv2D", "conv2d", [("kernel", (3, 3, 3, 8), (8, 3, 3, 3), "HWIO -> OIHW: transpose(3, 2, 0, 1)"),
                                  ("bias", (8,), (8,), "none")]),
    ("flat", "Flatten", "flatten", []),
    ("proj", "Dense", "dense", [("kernel", (64, 32), (32, 64), "[in, out] -> [out, in]: transpose"),
                                ("bias", (32,), (32,), "none")]),
    ("ln", "LayerNormalization", "layer_normalization", [("gamma", (32,), (32,), "none"), ("beta", (32,), (32,), "none")]),
]
KERAS2_VERSION_WEIGHTS = "2.4.0"  # tf.keras of TF 2.3 (h5py 2.10: fixed-length string attributes)
KERAS2_VERSION_MODEL = "2.6.0"    # keras 2.6 (h5py 3.1: variable-length string attributes), optimizer_v2 Adam


def keras_values():
    rng = np.random.default_rng(SEED)
    values = {}
    for layer, _, _, variables in KERAS_LAYERS:
        for var, shape, _, _ in variables:
            if var == "gamma":
                v = 1.0 + 0.1 * rng.standard_normal(shape)
            elif var in ("bias", "beta"):
                v = 0.1 * rng.standard_normal(shape)
            else:
                v = rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
            values[f"{layer}.{var}"] = v.astype(np.float32)
    return values


def to_mm1conv(key, value):
    if key == "stem.kernel":
        return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
    if key == "proj.kernel":
        return np.ascontiguousarray(value.T)
    return value


def write_keras3(values):
    """keras/src/saving/saving_lib.py H5IOStore (keras 3.15.1): /vars for the model itself (attr name), then
    /layers/<snake_case class name>/vars/<index> per layer, in model.layers order, the user name as attr."""
    paths = {}
    with new_file(os.path.join(OUT, "keras3.weights.h5")) as f:
        f.create_group("vars").attrs["name"] = KERAS_MODEL
        for layer, _, group, variables in KERAS_LAYERS:
            g = f.create_group(f"layers/{group}").create_group("vars")
            g.attrs["name"] = layer
            for i, (var, _, _, _) in enumerate(variables):
                dataset(g, str(i), values[f"{layer}.{var}"])
                paths[f"{layer}.{var}"] = f"layers/{group}/vars/{i}"
    return paths


def write_keras2_weights(values):
    """Keras 2 hdf5_format.save_weights_to_hdf5_group as h5py 2.x stored it: layer_names / weight_names are
    fixed-length NUL-padded ASCII string arrays, backend / keras_version fixed-length scalars; a weightless layer's
    weight_names is np.asarray([]) = an empty float64 array; datasets at <layer>/<weight name>, e.g.
    /stem/stem/kernel:0 (the ':0' is part of the TF variable name)."""
    paths = {}
    with new_file(os.path.join(OUT, "keras2-weights.h5")) as f:
        f.attrs["layer_names"] = np.array([layer.encode() for layer, _, _, _ in KERAS_LAYERS])
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        f.attrs["keras_version"] = np.bytes_(KERAS2_VERSION_WEIGHTS.encode())
        for layer, _, _, variables in sorted(KERAS_LAYERS):  # groups created in name order, as Keras does
            g = f.create_group(layer)
            names = [f"{layer}/{var}:0".encode() for var, _, _, _ in variables]
            g.attrs["weight_names"] = np.array(names) if names else np.asarray([])
            for (var, _, _, _), name in zip(variables, names):
                dataset(g, name.decode(), values[f"{layer}.{var}"])
                paths[f"{layer}.{var}"] = f"{layer}/{name.decode()}"
    return paths


def keras2_model_config():
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4, 6, 3], "dtype": "float32",
                                                      "sparse": False, "ragged": False, "name": "input_1"}},
              {"class_name": "Conv2D", "config": {"name": "stem", "trainable": True, "dtype": "float32", "filters": 8,
                                                  "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
                                                  "data_format": "channels_last", "use_bias": True}},
              {"class_name": "Flatten", "config": {"name": "flat", "trainable": True, "dtype": "float32",
                                                   "data_format": "channels_last"}},
              {"class_name": "Dense", "config": {"name": "proj", "trainable": True, "dtype": "float32", "units": 32,
                                                 "activation": "linear", "use_bias": True}},
              {"class_name": "LayerNormalization", "config": {"name": "ln", "trainable": True, "dtype": "float32",
                                                              "axis": [1], "epsilon": 0.001, "center": True,
                                                              "scale": True}}]
    return {"class_name": "Sequential", "config": {"name": KERAS_MODEL, "layers": layers}}


def write_keras2_model(values):
    """Keras 2.6 hdf5_format.save_model_to_hdf5 under h5py 3.x: root attrs keras_version / backend (str ->
    variable-length UTF-8), model_config / training_config (JSON bytes -> variable-length ASCII); the weights as in
    save_weights but under /model_weights (list of bytes -> variable-length ASCII arrays); optimizer_v2 Adam state
    in /optimizer_weights: iter (int64 scalar), the hyper-parameters (float32 scalars, sorted), then m and v slots."""
    paths = {}
    rng = np.random.default_rng(SEED + 1)
    with new_file(os.path.join(OUT, "keras2-model.h5")) as f:
        f.attrs["keras_version"] = KERAS2_VERSION_MODEL
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(keras2_model_config()).encode()
        f.attrs["training_config"] = json.dumps({
            "loss": "mse", "metrics": None, "weighted_metrics": None, "loss_weights": None,
            "optimizer_config": {"class_name": "Adam", "config": {
                "name": "Adam", "learning_rate": 0.001, "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
                "amsgrad": False}}}).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [layer.encode() for layer, _, _, _ in KERAS_LAYERS]
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = KERAS2_VERSION_MODEL.encode()
        for layer, _, _, variables in sorted(KERAS_LAYERS):
            g = mw.create_group(layer)
            names = [f"{layer}/{var}:0".encode() for var, _, _, _ in variables]
            g.attrs["weight_names"] = names if names else np.asarray([])
            for (var, _, _, _), name in zip(variables, names):
                dataset(g, name.decode(), values[f"{layer}.{var}"])
                paths[f"{layer}.{var}"] = f"model_weights/{layer}/{name.decode()}"
        ow = f.create_group("optimizer_weights")
        trainable = [(f"{layer}/{var}", values[f"{layer}.{var}"]) for layer, _, _, vs in KERAS_LAYERS for var, _, _, _ in vs]
        opt = [("Adam/iter:0", np.int64(3))]
        opt += [(f"Adam/{h}:0", np.float32(v)) for h, v in
                sorted({"beta_1": 0.9, "beta_2": 0.999, "decay": 0.0, "learning_rate": 0.001}.items())]
        opt += [(f"Adam/{n}/m:0", (0.01 * rng.standard_normal(v.shape)).astype(np.float32)) for n, v in trainable]
        opt += [(f"Adam/{n}/v:0", (1e-4 * rng.random(v.shape)).astype(np.float32)) for n, v in trainable]
        ow.attrs["weight_names"] = [n.encode() for n, _ in opt]
        for n, v in opt:
            dataset(ow, n, v)
    return paths


def write_keras_expected(values, paths):
    weights = []
    for layer, cls, group, variables in KERAS_LAYERS:
        for var, kshape, mshape, transform in variables:
            key = f"{layer}.{var}"
            assert values[key].shape == kshape and to_mm1conv(key, values[key]).shape == mshape
            weights.append({"key": key, "layer": layer, "class": cls, "variable": var, "keras_shape": list(kshape),
                            "mm1conv_shape": list(mshape), "transform": transform,
                            "paths": {file: p[key] for file, p in paths.items()}})
    expected = {
        "model": "keras.Sequential([Input((4, 6, 3)), Conv2D(8, 3, name='stem'), Flatten(name='flat'), "
                 "Dense(32, name='proj'), LayerNormalization(name='ln')], name='toy'); 2,368 parameters, float32",
        "key": "key = '<Keras layer name>.<Keras variable name>': the tensor name in keras.expected.safetensors. "
               "Naming after import is mm1conv's decision; the layout (mm1conv_shape) is what this file fixes.",
        "files": {
            "keras3.weights.h5": {"writer": "Keras 3 model.save_weights (saving_lib.H5IOStore), keras 3.15.1",
                                  "layer_names": "group names under /layers are snake_case class names; the user "
                                                 "name is the 'name' attribute of each vars group",
                                  "order": "variables are datasets '0', '1', ... in save_own_variables order",
                                  "not_weights": []},
            "keras2-weights.h5": {"writer": f"Keras 2 model.save_weights('x.h5'), keras {KERAS2_VERSION_WEIGHTS}, h5py 2.x",
                                  "layer_names": "root attribute layer_names (fixed-length strings, all layers in "
                                                 "model order, including weightless 'flat'); each layer group has "
                                                 "weight_names (empty float64 array when the layer has no weights)",
                                  "not_weights": []},
            "keras2-model.h5": {"writer": f"Keras 2 model.save('x.h5'), keras {KERAS2_VERSION_MODEL}, h5py 3.x",
                                "layer_names": "attribute layer_names of /model_weights (variable-length strings)",
                                "not_weights": ["optimizer_weights (Adam state: iter int64 scalar, 4 float32 scalar "
                                                "hyper-parameters, m and v slots) and the root attributes "
                                                "model_config / training_config (never executed or needed)"]},
        },
        "weights": weights,
    }
    with open(os.path.join(OUT, "keras.expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file({w["key"]: to_mm1conv(w["key"], values[w["key"]]) for w in weights},
              os.path.join(OUT, "keras.expected.safetensors"), metadata=ST_METADATA)


# ---------------------------------------------------------------------------------------------------------------
# 5. Malformed HDF5 (each file: one defect; most also hold a valid 2x2 f32 dataset "ok", so the reader must name
#    the offending dataset rather than fail on an empty file)

MALFORMED = {}  # file -> {description, category, dataset, expect}
HELPERS = {}    # helper files the cases point at -> description


def case(file, category, dataset_path, description, expect="error"):
    assert file not in MALFORMED
    MALFORMED[file] = {"category": category, "dataset": dataset_path, "description": description, "expect": expect}


def bad(file):
    return os.path.join(BAD, file)


OK = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)


def with_ok(file):
    f = new_file(bad(file))
    dataset(f, "ok", OK)
    return f


def superblock_v0_size(content):
    """Bytes of a version-0 superblock, root symbol-table entry included (HDF5 file format spec §II.A)."""
    assert content[:8] == HDF5_SIGNATURE and content[8] == 0, "expected a version 0 superblock"
    sizeof_offsets, sizeof_lengths = content[13], content[14]
    assert sizeof_lengths == 8
    return 24 + 4 * sizeof_offsets + (2 * sizeof_offsets + 8 + 16)


def write_malformed():
    # truncated / not HDF5
    with open(os.path.join(OUT, "keras3.weights.h5"), "rb") as fh:
        whole = fh.read()
    with open(bad("truncated-half.h5"), "wb") as fh:
        fh.write(whole[: len(whole) // 2])
    case("truncated-half.h5", "truncated", None,
         f"keras3.weights.h5 cut to its first {len(whole) // 2} of {len(whole)} bytes (the superblock's end-of-file "
         "address points past the end)")
    with open(bad("superblock-only.h5"), "wb") as fh:
        fh.write(whole[: superblock_v0_size(whole)])
    case("superblock-only.h5", "truncated", None,
         f"the first {superblock_v0_size(whole)} bytes of keras3.weights.h5: a valid signature and version-0 "
         "superblock (root symbol-table entry included), nothing after it")
    noise = np.random.default_rng(SEED + 2).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert all(noise[o:o + 8] != HDF5_SIGNATURE for o in (0, 512, 1024, 2048))
    with open(bad("not-hdf5.h5"), "wb") as fh:
        fh.write(noise)
    case("not-hdf5.h5", "not_hdf5", None, "4096 seeded random bytes with an .h5 name; no signature at 0, 512, 1024 or 2048")

    # datatypes
    with with_ok("complex64.h5") as f:  # explicit compound, as h5py writes complex64 (never HDF5 2.0's H5T_COMPLEX)
        z = np.array([[1 + 2j, 3 - 4j], [0.5j, -1]], dtype=np.complex64)
        dataset(f, "w", z.view(np.dtype([("r", "<f4"), ("i", "<f4")])).reshape(2, 2))
    case("complex64.h5", "unsupported_dtype", "/w", "2x2 complex64 stored as h5py does: H5T_COMPOUND {r: f32, i: f32}")
    with with_ok("vlen-string.h5") as f:
        dataset(f, "w", ["kernel", "bias"], dtype=h5py.string_dtype())
    case("vlen-string.h5", "unsupported_dtype", "/w", "variable-length UTF-8 string dataset ['kernel', 'bias']")
    with with_ok("enum.h5") as f:
        dataset(f, "w", np.array([0, 1, 1, 0], dtype="i1"), dtype=h5py.enum_dtype({"off": 0, "on": 1}, basetype="i1"))
    case("enum.h5", "unsupported_dtype", "/w", "H5T_ENUM over int8 {off: 0, on: 1}, 4 elements")
    with with_ok("opaque-untagged.h5") as f:
        dataset(f, "w", bf16_bits(OK).view("V2"))
    case("opaque-untagged.h5", "unsupported_dtype", "/w",
         "H5T_OPAQUE size 2 without a dtype attribute (how Keras' legacy .h5 writer stores bf16): bf16 is only a "
         "guess, so refuse unless the user says so (formats.md §4.4)")

    # storage that reads other files
    payload = np.array([[10.0, 20.0], [30.0, 40.0]], dtype=np.float32).tobytes()
    with open(bad("payload.bin"), "wb") as fh:
        fh.write(payload)
    HELPERS["payload.bin"] = "16 bytes (2x2 f32 10, 20, 30, 40): the 'local file' external-storage.h5 points at"
    with with_ok("external-storage.h5") as f:
        dataset(f, "w", shape=(2, 2), dtype="f4", external=[("payload.bin", 0, len(payload))])
    case("external-storage.h5", "external_storage", "/w",
         "contiguous dataset whose raw data lives in the external file 'payload.bin' (H5Pset_external, relative name): "
         "libhdf5 reads another local file into the tensor (H5Pget_external_count = 1)")
    with new_file(bad("target.h5")) as f:
        dataset(f, "data", np.array([[5.0, 6.0], [7.0, 8.0]], dtype=np.float32))
    HELPERS["target.h5"] = "a valid file with /data (2x2 f32 5, 6, 7, 8): target of external-link.h5 and virtual.h5"
    with with_ok("external-link.h5") as f:
        f["w"] = h5py.ExternalLink("target.h5", "/data")
    case("external-link.h5", "external_link", "/w",
         "external link /w -> target.h5:/data (H5L_TYPE_EXTERNAL = 64); the target exists, so following it works",
         expect="warning")
    with with_ok("virtual.h5") as f:  # low-level: h5py's create_virtual_dataset has no track_times option
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_obj_track_times(False)
        space = h5py.h5s.create_simple((2, 2))
        dcpl.set_virtual(space, b"target.h5", b"/data", h5py.h5s.create_simple((2, 2)))
        h5py.h5d.create(f.id, b"w", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
    case("virtual.h5", "external_storage", "/w",
         "virtual dataset (layout H5D_VIRTUAL = 3) mapping target.h5:/data: reads another file (formats.md §7.4 H3)")

    # links inside the file
    with with_ok("soft-link.h5") as f:
        f["w"] = h5py.SoftLink("/ok")
    case("soft-link.h5", "soft_link", "/w",
         "soft link /w -> /ok (H5L_TYPE_SOFT = 1). Policy: never follow, skip with a warning; the file imports as its "
         "hard-linked datasets only (/ok), so an alias cannot duplicate or shadow a tensor", expect="warning")
    with with_ok("soft-link-dangling.h5") as f:
        f["w"] = h5py.SoftLink("/missing")
    case("soft-link-dangling.h5", "soft_link", "/w", "soft link /w -> /missing (target does not exist); skip with a warning",
         expect="warning")

    # filters
    with with_ok("plugin-filter-optional.h5") as f:
        dataset(f, "w", np.arange(16, dtype=np.float32).reshape(4, 4), chunks=(2, 4), compression=32008,
                compression_opts=(0, 0, 4, 0, 0), allow_unknown_filter=True)
    case("plugin-filter-optional.h5", "plugin_filter", "/w",
         "chunked 4x4 f32 whose pipeline names filter 32008 (bitshuffle, not built into libhdf5) as H5Z_FLAG_OPTIONAL; "
         "the filter was unavailable at write time, so every chunk is stored unfiltered with filter-mask bit 0 set and "
         "libhdf5 reads it without the plugin. Reject by filter id anyway (allow only deflate 1, shuffle 2, fletcher32 3)")
    with with_ok("plugin-filter-required.h5") as f:
        w = dataset(f, "w", shape=(4, 4), dtype="f4", chunks=(2, 4), compression=32008,
                    compression_opts=(0, 0, 4, 0, 0), allow_unknown_filter=True)
        for row in (0, 2):  # chunks written directly with filter mask 0: claimed to be bitshuffle output
            w.id.write_direct_chunk((row, 0), np.arange(8 * row, 8 * row + 8, dtype=np.float32).tobytes(), filter_mask=0)
    case("plugin-filter-required.h5", "plugin_filter", "/w",
         "as plugin-filter-optional.h5, but both chunks are written with H5Dwrite_chunk and filter mask 0, i.e. they "
         "claim to need filter 32008: reading makes libhdf5 look for a plugin in HDF5_PLUGIN_PATH (dlopen) unless "
         "plugin loading is disabled")

    # sizes and ranks
    with with_ok("too-large.h5") as f:
        dataset(f, "w", shape=(2 ** 20, 2 ** 20), dtype="f4", chunks=(256, 256), fillvalue=1.5)
    case("too-large.h5", "too_large", "/w",
         "chunked f32 dataset of 2^20 x 2^20 = 2^40 elements (4 TiB) with fill value 1.5 and no chunk written: "
         "the file is tiny, a reader that allocates the declared size is not (resource attack)")
    with with_ok("unallocated.h5") as f:
        dataset(f, "w", shape=(256, 256), dtype="f4")
    case("unallocated.h5", "unbacked_data", "/w",
         "contiguous 256x256 f32 dataset created and never written: the file stores no bytes for it "
         "(H5Dget_storage_size = 0) and h5py reads it back as 65,536 fill-value zeros. A weight that was never "
         "written is refused, not converted into zeros")
    with with_ok("deflate-one-chunk-of-4096.h5") as f:
        w = dataset(f, "w", shape=(4096, 4096), dtype="f4", chunks=(64, 64), compression="gzip")
        w[0:64, 0:64] = np.ones((64, 64), dtype=np.float32)
    case("deflate-one-chunk-of-4096.h5", "unbacked_data", "/w",
         "deflated 4096x4096 f32 (64 MiB declared) of which one 64x64 chunk is written: the few stored bytes could "
         "not hold the declared data even at deflate's largest ratio (1032:1); h5py reads the rest as fill values")
    with with_ok("scalar.h5") as f:
        dataset(f, "w", np.float32(0.5))
    case("scalar.h5", "unsupported_rank", "/w",
         "0-d dataset (H5S_SCALAR) holding 0.5f. MM1 has no rank-0 parameter (Keras writes scalars only for optimizer "
         "state). If the reader accepts rank 0, as the safetensors reader does, the import must then fail on it as an "
         "unmapped tensor")
    with with_ok("null-dataspace.h5") as f:
        dataset(f, "w", h5py.Empty("f4"))
    case("null-dataspace.h5", "unsupported_rank", "/w", "dataset with an H5S_NULL dataspace (h5py.Empty): no shape at all")
    with with_ok("rank5.h5") as f:
        dataset(f, "w", np.arange(8, dtype=np.float32).reshape(2, 1, 2, 1, 2))
    case("rank5.h5", "unsupported_rank", "/w", "5-d f32 dataset (2, 1, 2, 1, 2); MM1 tensors have rank <= 4")


def h5py_reference(file):
    """What h5py 3.16 / HDF5 2.0.0 (plugins disabled) does with a malformed file: opening, links, reads."""
    cwd = os.getcwd()
    os.chdir(BAD)  # relative external-storage names resolve against the working directory
    try:
        try:
            f = h5py.File(file, "r")
        except Exception as err:
            return "open fails: " + str(err)
        notes = []
        with f:
            for name in sorted(f.keys()):
                link = f.get(name, getlink=True)
                kind = type(link).__name__
                if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                    try:
                        obj = f[name]
                        notes.append(f"/{name}: {kind} is followed, reads {obj[()].tolist()}")
                    except Exception as err:
                        notes.append(f"/{name}: {kind} cannot be followed: {err}")
                    continue
                if name == "ok":
                    continue
                ds = f[name]
                if ds.size is not None and ds.size > 10 ** 7:
                    notes.append(f"/{name}: opens, shape {ds.shape} {ds.dtype} ({ds.size * ds.dtype.itemsize} bytes "
                                 f"declared, {ds.id.get_storage_size()} stored); not read here")
                    continue
                try:
                    v = ds[()]
                    shown = v.tolist() if isinstance(v, np.ndarray) and v.dtype.kind != "V" else repr(v)
                    if isinstance(v, np.ndarray) and v.dtype.kind == "V":
                        shown = f"raw {v.dtype} bytes {v.tobytes().hex()}"
                    if isinstance(v, np.ndarray) and v.size > 64:
                        shown = (f"{v.size} values, {int(np.count_nonzero(v))} non-zero "
                                 f"({ds.id.get_storage_size()} bytes stored)")
                    notes.append(f"/{name}: reads as {ds.dtype} shape {ds.shape}: {shown}")
                except Exception as err:
                    notes.append(f"/{name}: read fails: {err}")
        return "opens; " + "; ".join(notes)
    finally:
        os.chdir(cwd)


# ---------------------------------------------------------------------------------------------------------------
# Optional: compare the Keras layouts with files written by Keras itself


def describe_h5(path):
    """{path: description} of every group, dataset and attribute: shapes, dtypes, layout, attribute HDF5 types."""
    out = {}

    def attr_type(obj, key):
        aid = obj.attrs.get_id(key)
        t, space = aid.get_type(), aid.get_space()
        desc = {"class": t.get_class(), "shape": list(space.shape) if space.get_simple_extent_type() != h5py.h5s.NULL else None}
        if t.get_class() == h5py.h5t.STRING:
            desc.update(vlen=bool(t.is_variable_str()), cset=t.get_cset(),
                        strpad=None if t.is_variable_str() else t.get_strpad())
        else:
            desc["size"] = t.get_size()
        v = obj.attrs[key]
        desc["value"] = [x.decode() if isinstance(x, bytes) else str(x) for x in np.ravel(v)] if isinstance(v, np.ndarray) \
            else (v.decode() if isinstance(v, bytes) else str(v))
        if isinstance(desc["value"], str) and len(desc["value"]) > 60:  # model_config / training_config JSON
            desc["value"] = desc["value"][:40] + f"... ({len(desc['value'])} chars)"
        return desc

    def visit(name, obj):
        entry = {"attrs": {k: attr_type(obj, k) for k in sorted(obj.attrs)}}
        if isinstance(obj, h5py.Dataset):
            entry.update(shape=list(obj.shape), dtype=obj.dtype.str, h5class=obj.id.get_type().get_class(),
                         layout=obj.id.get_create_plist().get_layout(), nfilters=obj.id.get_create_plist().get_nfilters())
        out[name] = entry

    with h5py.File(path, "r") as f:
        out["/"] = {"attrs": {k: attr_type(f, k) for k in sorted(f.attrs)}}
        f.visititems(visit)
    return out


def diff_h5(mine, theirs, ignore_values=()):
    lines = []
    for p in sorted(set(mine) | set(theirs)):
        if p not in theirs:
            lines.append(f"  only in ours: {p}")
        elif p not in mine:
            lines.append(f"  only in Keras's: {p}")
        else:
            a, b = mine[p], theirs[p]
            for k in sorted(set(a) | set(b)):
                if k == "attrs":
                    for an in sorted(set(a["attrs"]) | set(b["attrs"])):
                        x, y = a["attrs"].get(an), b["attrs"].get(an)
                        if x is not None and y is not None and an in ignore_values:
                            x, y = dict(x, value=None), dict(y, value=None)
                        if x != y:
                            lines.append(f"  {p} attr {an}: ours {x} / Keras {y}")
                elif a.get(k) != b.get(k):
                    lines.append(f"  {p} {k}: ours {a.get(k)} / Keras {b.get(k)}")
    return lines


def compare_keras(values):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers
    from keras.src.legacy.saving import legacy_h5_format

    model = keras.Sequential([keras.Input((4, 6, 3)), layers.Conv2D(8, 3, name="stem"), layers.Flatten(name="flat"),
                              layers.Dense(32, name="proj"), layers.LayerNormalization(name="ln")], name=KERAS_MODEL)
    for layer, _, _, variables in KERAS_LAYERS:
        if variables:
            model.get_layer(layer).set_weights([values[f"{layer}.{var}"] for var, _, _, _ in variables])
    tmp = tempfile.mkdtemp()
    try:
        k3 = os.path.join(tmp, "k3.weights.h5")
        model.save_weights(k3)
        legacy = os.path.join(tmp, "legacy.h5")
        with h5py.File(legacy, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.zeros((2, 4, 6, 3), np.float32), np.zeros((2, 32), np.float32), verbose=0)
        saved = os.path.join(tmp, "model.h5")
        model.save(saved)
        print(f"Keras {keras.__version__} ({keras.backend.backend()} backend) vs the h5py-written files:")
        d = diff_h5(describe_h5(os.path.join(OUT, "keras3.weights.h5")), describe_h5(k3))
        with h5py.File(os.path.join(OUT, "keras3.weights.h5")) as a, h5py.File(k3) as b:
            same = all(np.array_equal(a[p][...], b[p][...])
                       for _, _, g, vs in KERAS_LAYERS for p in (f"layers/{g}/vars/{i}" for i in range(len(vs))))
        print(f"keras3.weights.h5 vs model.save_weights: {'identical structure' if not d else 'DIFFERENT'}, "
              f"values {'identical' if same else 'DIFFERENT'}")
        print("\n".join(d))
        for ours, theirs, what in (("keras2-weights.h5", legacy, "keras 3 legacy save_weights_to_hdf5_group"),
                                   ("keras2-model.h5", saved, "keras 3 model.save('x.h5')")):
            d = diff_h5(describe_h5(os.path.join(OUT, ours)), describe_h5(theirs))
            print(f"{ours} vs {what} (differences expected: Keras 3 names weights '<model>/<layer>/<var>' without "
                  f"':0', writes variable-length strings, a top_level_model_weights group, its own optimizer names):")
            print("\n".join(d) if d else "  identical structure")
    finally:
        shutil.rmtree(tmp)


# ---------------------------------------------------------------------------------------------------------------
# README, MANIFEST


def readme(versions, storage):
    counts = {}
    for rec in storage.values():
        key = f"{rec['dtype']} {rec['layout']}" + (" + " + "+".join(rec["filters"]) if rec["filters"] else "")
        counts[key] = counts.get(key, 0) + 1
    storage_lines = "\n".join(f"| {k} | {v} |" for k, v in sorted(counts.items()))
    cases = "\n".join(f"| `{k}` | {v['category']} | {v['expect']} | {v['dataset'] or '—'} | {v['description']} |"
                      for k, v in sorted(MALFORMED.items()))
    return f"""# HDF5 fixtures

Made by `{GENERATOR}` (seed {SEED}; {", ".join(f"{k} {v}" for k, v in versions.items())}). Do not edit by hand:
rerun `/opt/mm1py/bin/python {GENERATOR}` (deterministic; `MANIFEST.json` holds the SHA-256 of every file).
Every dataset is written with `track_times=False`; every file with `libver=("earliest", "v110")` (superblock v0,
v1 object headers, symbol-table groups: what h5py and Keras write by default) except `nested.h5`, written with
`libver=("v110", "v110")` (superblock v3, v2 object headers, link-message groups, single-chunk / fixed-array chunk
indexes) so both generations of the format are covered. All files were checked to read back bit for bit through
Debian's libhdf5 1.10.8 (the version mm1conv links on Linux).

## Canonical MM1 weights (source: `dialects/canonical-tiny-dense.safetensors`, preset `tiny-dense`)

| file | layout | must import to |
|---|---|---|
| `flat.h5` | 138 root datasets named exactly as the canonical tensors (`language.layers.0.attention.q.weight`), f32, contiguous, unfiltered (`H5Dget_offset` is valid for all) | `canonical-tiny-dense.safetensors`, bit for bit |
| `nested.h5` | the same tensors as nested groups (`language/layers/0/attention/q/weight`; name = path with `/` → `.`), mixed storage (below; per dataset in `MANIFEST.json` → `nested_storage`) | the same, bit for bit (f16/f64 values are exact) |
| `bf16-attr.h5` | `vision.layers.0.attention.q.weight`: uint16 + attr `dtype="bfloat16"` (mm1conv's convention); `…k.weight`: H5T_OPAQUE size 2, tag "", attr `dtype="bfloat16"` (Keras 3's); `…v.weight`: H5T_FLOAT size 2 with fields (sign 15, exp 7+8, mant 0+7), bias 127 (= HDF5 2.0's predefined `H5T_FLOAT_BFLOAT16LE`; libhdf5 1.10 converts it like any float); `…o.weight`: f32 | those 4 canonical tensors, bit for bit |
| `userblock.h5` | `language.norm.weight`, `vision.class_token` in a file with a 512-byte user block (text at 0, signature at 512) | those 2 tensors |

`nested.h5` storage:

| dtype / layout / filters | datasets |
|---|---|
{storage_lines}

bf16 conventions found: **Keras 3** (`H5IOStore.__setitem__`) stores bf16 as H5T_OPAQUE size 2 with attr
`dtype="bfloat16"`; the **legacy Keras .h5 writer** stores the same opaque type without the attribute
(`../malformed/hdf5/opaque-untagged.h5`); **HDF5 2.0** added predefined bf16 float types (HDFGroup/hdf5 PR #5402). No
writer was found that stores bf16 as **uint16 + attribute** (an h5py user, h5py issue #1822, stored plain
uint16 without any tag), so `uint16` + `dtype="bfloat16"` is mm1conv's own convention; a uint16 dataset without the
attribute is an integer tensor.

## Keras layouts (a small non-MM1 model)

`keras.Sequential([Input((4, 6, 3)), Conv2D(8, 3, name="stem"), Flatten(name="flat"), Dense(32, name="proj"),
LayerNormalization(name="ln")], name="toy")`, seeded float32 weights. Written with h5py as Keras writes them
(checked with `--compare-keras` against keras 3.15.1, see below).

| file | writer modelled | weights at |
|---|---|---|
| `keras3.weights.h5` | Keras 3 `save_weights("x.weights.h5")` | `/layers/conv2d/vars/0` (HWIO), `…/1`; `/layers/dense/vars/0` ([in, out]), `…/1`; `/layers/layer_normalization/vars/0` (gamma), `…/1` (beta); empty `/layers/flatten/vars`, `/vars` (attr `name="toy"`) |
| `keras2-weights.h5` | Keras 2 `save_weights("x.h5")`, keras {KERAS2_VERSION_WEIGHTS} + h5py 2.x: fixed-length NUL-padded string attrs | root attr `layer_names` = [stem, flat, proj, ln]; `/stem/stem/kernel:0`, `/stem/stem/bias:0`, `/proj/proj/kernel:0`, …, `/ln/ln/gamma:0`, `/ln/ln/beta:0`; `/flat` has `weight_names` = empty float64 array |
| `keras2-model.h5` | Keras 2 `model.save("x.h5")`, keras {KERAS2_VERSION_MODEL} + h5py 3.x: variable-length string attrs | the same under `/model_weights`; root attrs `keras_version`, `backend`, `model_config`, `training_config`; `/optimizer_weights/Adam/…` (iter int64 scalar, 4 scalars, m/v slots) must be ignored |

`keras.expected.json` lists every weight (path in each file, Keras shape, shape after import, transform);
`keras.expected.safetensors` holds the weights as mm1conv must present them: Dense kernel `[in, out]` → `[out, in]`,
Conv2D kernel HWIO `(3, 3, 3, 8)` → OIHW `(8, 3, 3, 3)` (`transpose(3, 2, 0, 1)`), biases and LayerNorm unchanged.

Comparison with real Keras (`--compare-keras`, keras 3.15.1, torch backend): `keras3.weights.h5` has the same
groups, datasets, shapes, dtypes, layouts and attributes (names, HDF5 string types, values) as `model.save_weights`,
and the same values. Keras 3's legacy `.h5` writer differs from the Keras 2 files only where Keras 2 differs: weight
names are `toy/stem/kernel` (variable paths) instead of `stem/kernel:0`, strings are variable-length (h5py 3), a
`top_level_model_weights` group is added, and the optimizer state is named `adam/…`. Keras 2 itself (TensorFlow) is
not installable here; the Keras 2 files follow keras 2.6's `keras/saving/hdf5_format.py` and h5py's string
conversions (h5py 2: list of bytes → fixed-length; h5py 3: list of bytes → variable-length ASCII, str →
variable-length UTF-8). Real Keras files also carry object modification times (h5py's default `track_times=True`),
which these fixtures leave out.

## Malformed files (`../malformed/hdf5/`, expected results in `../malformed/hdf5/MANIFEST.json`)

`expect`: `error` = the file is refused with that category; `warning` = the link is skipped (never followed) with a
warning and the rest of the file (`/ok`) imports. `MANIFEST.json` → `h5py` records what h5py 3.16 / HDF5 2.0.0 does
with each file (plugins disabled, working directory = `../malformed/hdf5/`): it happily reads external storage, follows
external and soft links and maps virtual datasets — the behaviours mm1conv must not inherit.
Helper files (`payload.bin`, `target.h5`) are the targets, not cases.

| file | category | expect | dataset | defect |
|---|---|---|---|---|
{cases}
"""


def sha256_of(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compare-keras", action="store_true", help="compare the Keras layouts with real Keras 3 output")
    args = ap.parse_args()

    for folder in (OUT, BAD):
        shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(OUT)
    os.makedirs(BAD)
    tensors = canonical()
    write_flat(tensors)
    storage = write_nested(tensors)
    write_bf16(tensors)
    write_userblock(tensors)

    values = keras_values()
    paths = {"keras3.weights.h5": write_keras3(values), "keras2-weights.h5": write_keras2_weights(values),
             "keras2-model.h5": write_keras2_model(values)}
    write_keras_expected(values, paths)

    write_malformed()
    for file, entry in MALFORMED.items():
        entry["h5py"] = h5py_reference(file)
    with open(os.path.join(BAD, "MANIFEST.json"), "w") as f:
        json.dump({"cases": MALFORMED, "helpers": HELPERS, "sha256": {n: sha256_of(bad(n)) for n in sorted(os.listdir(BAD))
                                                                        if n != "MANIFEST.json"}},
                  f, indent=2, sort_keys=True)
        f.write("\n")

    # self-checks: every canonical file reads back (through h5py) as the canonical values
    with h5py.File(os.path.join(OUT, "flat.h5")) as f:
        assert sorted(f.keys()) == sorted(tensors)
        assert all(np.array_equal(f[k][...], v) and f[k].id.get_offset() is not None for k, v in tensors.items())
    with h5py.File(os.path.join(OUT, "nested.h5")) as f:
        assert all(np.array_equal(f[k.replace(".", "/")][...].astype(np.float32), v) for k, v in tensors.items())

    versions = {"python": sys.version.split()[0], "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version,
                "numpy": np.__version__, "safetensors": safetensors.__version__}
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(readme(versions, storage))
    files = {}
    for root, dirs, names in os.walk(OUT):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(root, n)
            os.chmod(p, 0o644)
            files[os.path.relpath(p, OUT)] = sha256_of(p)
    files.pop("MANIFEST.json", None)
    manifest = {
        "generator": GENERATOR, "seed": SEED, "versions": versions, "libver": list(LIBVER),
        "source": "Tests/Fixtures/dialects/canonical-tiny-dense.safetensors",
        "canonical": {"flat.h5": "all", "nested.h5": "all", "bf16-attr.h5": BF16_CASES, "userblock.h5": USERBLOCK_TENSORS},
        "nested_storage": storage,
        "files": dict(sorted(files.items())),
    }
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print(f"wrote {len(files) + 1} files under {OUT} ({total / 1e6:.2f} MB)")

    if args.compare_keras:
        compare_keras(values)


if __name__ == "__main__":
    main()
