#!/usr/bin/env python3
"""Make Tests/Fixtures/gguf/: golden GGUF fixtures for mm1conv's strict GGUF reader (v2 and v3), its dequantizer and
the llama.cpp tensor-name dialect, written by the REAL writer and checked with the REAL reader.

Rerun from the repository root (deterministic: same bytes every run; no timestamps, seeded randomness):

    /opt/mm1py/bin/python Tests/Fixtures/generate_gguf.py

Needs numpy, safetensors and gguf-py (PyPI `gguf`, made with 0.19.0); torch only to check that the numpy q/k
permutation equals llama.cpp's `LlamaModel.permute` run on torch tensors. Replaces Tests/Fixtures/gguf/:

  types.gguf (+ types.expected.safetensors)    one tensor per ggml type F32 ... Q6_K (gguf.quants.quantize, or
                                               seeded random blocks for the K-quants, see README), and the f32
                                               values gguf.quants.dequantize returns for each (logical shape)
  metadata.gguf, metadata-nested.gguf, v2.gguf (+ metadata.expected.json)
                                               every metadata value type, arrays, empty array, nested arrays (in
                                               their own file: ggml rejects them), general.alignment 64; a version-2
                                               file from a minimal raw writer
  tiny-llama.gguf, tiny-llama-f16.gguf, tiny-moe.gguf, quantized-llama.gguf (+ quantized-llama.expected.safetensors)
                                               the tiny decoders of dialects/canonical-tiny-{dense,moe}.safetensors
                                               in llama.cpp names, q/k row-permuted as convert_hf_to_gguf does
  round-trips.json                             GGUF name -> canonical name (+ un-permutation) for every model file
  ../malformed/gguf/*.gguf, ../malformed/gguf/accept/*.gguf, ../malformed/gguf/MANIFEST.json
                                               crafted bad files and odd-but-valid ones, each with its error
                                               category, the verdict of gguf.GGUFReader (run here) and of ggml's
                                               gguf.cpp (from reading its source; not run)
  README.md, MANIFEST.json                     description; SHA-256 of every file

The GGUF files are written by gguf-py's GGUFWriter, except v2.gguf and the malformed/accept cases that need bytes
GGUFWriter cannot produce; the raw writer used for those is checked to be byte-identical to GGUFWriter on a valid
v3 file first. Every valid file is read back with gguf.GGUFReader and compared with what was written.
"""
import hashlib
import json
import math
import os
import shutil
import signal
import struct
import sys
import warnings

import numpy as np
import safetensors
from safetensors.numpy import load_file, save_file

import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader, GGUFValueType as VT, GGUFWriter
from gguf.quants import dequantize, quantize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gguf")
MAL = os.path.join(HERE, "malformed", "gguf")
ACC = os.path.join(MAL, "accept")
DIALECTS = os.path.join(HERE, "dialects")
SEED = 20260402
GENERATOR = "Tests/Fixtures/generate_gguf.py"
GGML_REF = ("mainline ggml src/gguf.cpp gguf_init_from_reader as described in formats.md §2.3 (@d99724f2), cross-read "
            "against ggml-org/ggml snapshots db7cfae and 1312dff, whose extra checks come from unmerged PRs (noted per "
            "case); not executed")
ST_METADATA = {"generator": GENERATOR}  # one key only (the Rust writer orders 2+ keys by hash)
MAX_MALFORMED = 16384
GGUF_PY_TIMEOUT = 2.0  # seconds before a GGUFReader run that loops (2^62-element arrays) is abandoned


def rng_for(offset):
    return np.random.default_rng(SEED + offset)


def d(*p):
    return os.path.join(OUT, *p)


# ---------------------------------------------------------------------------------------------------------
# Writing with gguf-py, reading back with gguf-py


class FixtureWriter(GGUFWriter):
    """gguf-py's GGUFWriter, able to write an EMPTY array (its _pack_val raises "Empty array"; add_array silently
    drops it). Everything else is GGUFWriter's own code."""

    def _pack_val(self, val, vtype, add_vtype, sub_type=None):
        if vtype == VT.ARRAY and len(val) == 0:
            assert sub_type is not None
            head = self._pack("I", vtype) if add_vtype else b""
            return head + self._pack("I", sub_type) + self._pack("Q", 0)
        return super()._pack_val(val, vtype, add_vtype, sub_type)


def finish(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def writer_bytes(build, arch="test", cls=GGUFWriter):
    """Run `build(writer)` on a GGUFWriter writing to a scratch file; return the bytes."""
    path = d(".scratch.gguf")
    w = cls(path, arch)
    build(w)
    finish(w)
    with open(path, "rb") as f:
        content = f.read()
    os.remove(path)
    return content


def add_quantized(w, name, values, qtype):
    """Quantize numpy `values` (logical shape) with gguf.quants.quantize and add it as GGUFWriter does in
    convert_hf_to_gguf (byte-shaped uint8 array + raw_dtype; F32/F16 as float arrays)."""
    data = quantize(values, qtype)
    w.add_tensor(name, data, raw_dtype=qtype)
    return data


def read_tensors(path):
    """{name: (ggml type name, ne as stored, f32 values in numpy (reversed) order)} via GGUFReader + dequantize."""
    r = GGUFReader(path)
    out = {}
    for t in r.tensors:
        vals = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32, copy=False)
        vals = vals.reshape(tuple(reversed([int(x) for x in t.shape])))
        out[t.name] = (t.tensor_type.name, [int(x) for x in t.shape], np.ascontiguousarray(vals))
    return r, out


def sha256_file(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
        f.write("\n")


def f32_bits(x):
    return "0x%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x):
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


# ---------------------------------------------------------------------------------------------------------
# 1. types.gguf: every ggml type mm1conv dequantizes

ROWS, COLS = 4, 512
FROM_QUANTIZE = [QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1]
K_QUANTS = [QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K]
# Types gguf-py dequantizes but cannot quantize: seeded random blocks with chosen f16 scales (K_D, K_DMIN).
RANDOM_BLOCKS = K_QUANTS + [QT.IQ4_NL]
# f16 super-block scales (d, dmin) written into the seeded random K-quant blocks, one pair per block (8 blocks):
# ordinary, zero, negative, f16-subnormal and large values, so every branch of the dequantizer is exercised.
K_D = [0.0123, 0.5, 0.0, -0.03, 6.0e-8, 1000.0, 1.5e-3, 0.07]
K_DMIN = [0.01, 0.0, 0.25, -0.002, 3.0, 1.0e-5, 0.1, 0.004]
K_SCALE_FIELDS = {  # byte offsets of the f16 d / dmin fields in each block (ggml-common.h, gguf-py quants.py)
    QT.Q2_K: (80, 82), QT.Q3_K: (108, None), QT.Q4_K: (0, 2), QT.Q5_K: (0, 2), QT.Q6_K: (208, None), QT.IQ4_NL: (0, None)}


def type_source_values():
    """4 x 512 f32: ordinary weights, a row with outliers, a row of zeros (whole 256-blocks and scattered), a
    constant row. Values are chosen to hit rounding, clipping and the d == 0 paths of every quantizer."""
    rng = rng_for(1)
    x = np.empty((ROWS, COLS), np.float32)
    x[0] = rng.standard_normal(COLS) * 0.02
    x[1] = rng.standard_normal(COLS)
    x[1, [0, 31, 32, 100, 255, 256, 300, 511]] = [12.0, -40.0, 7.5, 1000.0, -3000.0, 0.5, 250.0, -60000.0]
    x[2] = 0.0
    tail = rng.standard_normal(COLS - 288).astype(np.float32) * 0.1
    tail[::2] = 0.0
    x[2, 288:] = tail
    x[2, 289] = 3.0e-6   # f16 subnormal
    x[2, 291] = 1.0e-9   # below f16's smallest subnormal: rounds to 0 in f16, stays non-zero in bf16
    x[3] = 0.3           # constant row: max == min (Q4_1/Q5_1 d = 0), not exactly representable
    return x


def random_k_blocks(qtype, offset):
    rng = rng_for(100 + offset)
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = ROWS * COLS // block
    blocks = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    d_off, dmin_off = K_SCALE_FIELDS[qtype]
    order = rng.permutation(n_blocks)
    for i in range(n_blocks):
        blocks[i, d_off:d_off + 2] = np.frombuffer(np.float16(K_D[order[i] % len(K_D)]).tobytes(), np.uint8)
        if dmin_off is not None:
            blocks[i, dmin_off:dmin_off + 2] = np.frombuffer(np.float16(K_DMIN[order[i] % len(K_DMIN)]).tobytes(), np.uint8)
    return blocks.reshape(ROWS, COLS // block * size)


def make_types():
    src = type_source_values()
    rng3 = rng_for(2)
    src3 = (rng3.standard_normal((3, 2, 64)) * 0.5).astype(np.float32)
    src3[2, 1, :32] = -1.75  # a negative constant block
    written = {}

    def build(w):
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        for qt in FROM_QUANTIZE:
            written[qt.name.lower()] = (qt, add_quantized(w, qt.name.lower(), src, qt))
        written["q4_0.3d"] = (QT.Q4_0, add_quantized(w, "q4_0.3d", src3, QT.Q4_0))
        for i, qt in enumerate(RANDOM_BLOCKS):
            blocks = random_k_blocks(qt, i)
            w.add_tensor(qt.name.lower(), blocks, raw_dtype=qt)
            written[qt.name.lower()] = (qt, blocks)

    with open(d("types.gguf"), "wb") as f:
        f.write(writer_bytes(build))
    _, back = read_tensors(d("types.gguf"))
    expected = {}
    assert list(back) == list(written)
    for name, (qt, data) in written.items():
        tname, ne, vals = back[name]
        assert tname == qt.name
        direct = dequantize(data, qt).astype(np.float32)
        assert np.array_equal(direct.view(np.uint32), vals.view(np.uint32)), name
        logical = src3.shape if name == "q4_0.3d" else src.shape
        assert vals.shape == logical and ne == list(reversed(logical)), (name, vals.shape, ne)
        assert np.all(np.isfinite(vals)), name
        expected[name] = vals
    assert np.array_equal(expected["f32"], src)
    save_file(expected, d("types.expected.safetensors"), metadata=ST_METADATA)
    rows = []
    for name, (qt, data) in written.items():
        block, size = gguf.GGML_QUANT_SIZES[qt]
        made = "seeded random blocks" if qt in RANDOM_BLOCKS else "`gguf.quants.quantize`"
        err = float(np.max(np.abs(expected[name] - (src3 if name == "q4_0.3d" else src)))) if qt not in RANDOM_BLOCKS else None
        rows.append((name, qt.name, int(qt), list(reversed(expected[name].shape)), list(expected[name].shape),
                     block, size, data.nbytes, made, err))
    return rows


# ---------------------------------------------------------------------------------------------------------
# 2. metadata.gguf, metadata-nested.gguf, v2.gguf

U64_MAX = 2**64 - 1
I64_MIN = -2**63
STRINGS = ["", "a", "héllo wörld", "日本語", "🦙", "tab\tnew\nline", "nul\u0000inside", "▁piece"]

SCALARS = [  # (key, value type, value)
    ("test.uint8", VT.UINT8, 255),
    ("test.int8", VT.INT8, -128),
    ("test.uint16", VT.UINT16, 65535),
    ("test.int16", VT.INT16, -32768),
    ("test.uint32", VT.UINT32, 4294967295),
    ("test.int32", VT.INT32, -2147483648),
    ("test.float32", VT.FLOAT32, 0.1),
    ("test.float32.negative_zero", VT.FLOAT32, -0.0),
    ("test.float32.max", VT.FLOAT32, 3.4028234663852886e38),
    ("test.float32.subnormal", VT.FLOAT32, 1.401298464324817e-45),
    ("test.bool.true", VT.BOOL, True),
    ("test.bool.false", VT.BOOL, False),
    ("test.string", VT.STRING, "héllo wörld ✓ 🦙"),
    ("test.string.empty", VT.STRING, ""),
    ("test.uint64", VT.UINT64, U64_MAX),
    ("test.int64", VT.INT64, I64_MIN),
    ("test.float64", VT.FLOAT64, math.pi),
    ("test.float64.subnormal", VT.FLOAT64, 5e-324),
]
ARRAYS = [  # (key, element type, values)
    ("test.array.uint8", VT.UINT8, [0, 1, 127, 128, 255]),
    ("test.array.int8", VT.INT8, [-128, -1, 0, 127]),
    ("test.array.uint16", VT.UINT16, [0, 65535]),
    ("test.array.int16", VT.INT16, [-32768, 32767]),
    ("test.array.uint32", VT.UINT32, [0, 1, 4294967295]),
    ("test.array.int32", VT.INT32, [-2147483648, -1, 0, 1, 2147483647]),
    ("test.array.float32", VT.FLOAT32, [0.5, -1.25, 0.1, 3.0e38]),
    ("test.array.bool", VT.BOOL, [True, False, True]),
    ("test.array.string", VT.STRING, STRINGS),
    ("test.array.uint64", VT.UINT64, [0, U64_MAX]),
    ("test.array.int64", VT.INT64, [I64_MIN, -1, 2**63 - 1]),
    ("test.array.float64", VT.FLOAT64, [1.0 / 3.0, -2.5e-300]),
    ("test.array.empty_uint32", VT.UINT32, []),
    ("test.array.empty_string", VT.STRING, []),
]
NESTED = [  # (key, value) -- arrays of arrays; gguf-py infers element types from the first element
    ("test.nested.int32", [[1, 2, 3], [4, 5], [6]]),
    ("test.nested.string", [["a", "b"], ["日本語"]]),
    ("test.nested.depth3", [[[1, 2]], [[3], [4, 5]]]),
]


def json_value(field):
    """What GGUFReader reads back for one field, as JSON: type names, value, and exact float bits."""
    types = [t.name for t in field.types]
    main = field.types[0]
    entry = {"key": field.name, "type": types[0], "offset": int(field.offset)}
    if main == VT.ARRAY:
        entry["element_type"] = types[1] if len(types) > 1 else VT(int(field.parts[3][0])).name
        entry["value"] = field.contents()
        if len(types) > 2:
            entry["reader_types"] = types
        if types[-1] in ("FLOAT32", "FLOAT64"):
            fb = f32_bits if types[-1] == "FLOAT32" else f64_bits
            entry["bits"] = [fb(v) for v in entry["value"]]
    else:
        entry["value"] = field.contents()
        if main == VT.FLOAT32:
            entry["bits"] = f32_bits(entry["value"])
        elif main == VT.FLOAT64:
            entry["bits"] = f64_bits(entry["value"])
    return entry


def describe(path, extra_check=None):
    r = GGUFReader(path)
    kv = [json_value(f) for name, f in r.fields.items() if not name.startswith("GGUF.")]
    tensors = []
    for t in r.tensors:
        vals = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32).reshape(-1)
        tensors.append({"name": t.name, "ggml_type": t.tensor_type.name, "ne": [int(x) for x in t.shape],
                        "offset": int(t.data_offset - r.data_offset), "n_bytes": int(t.n_bytes),
                        "values": [float(v) for v in vals]})
    return {"version": int(r.fields["GGUF.version"].contents()), "tensor_count": len(r.tensors),
            "kv_count": len(kv), "alignment": int(r.alignment), "data_offset": int(r.data_offset),
            "file_size": os.path.getsize(path), "kv": kv, "tensors": tensors}


def make_metadata():
    def build(w):
        w.add_custom_alignment(64)
        for key, vt, val in SCALARS:
            w.add_key_value(key, val, vt)
        for key, et, vals in ARRAYS:
            w.add_key_value(key, vals, VT.ARRAY, sub_type=et)
        w.add_tensor("tensor", (np.arange(15, dtype=np.float32).reshape(3, 5) - 7.0) / 4.0)

    with open(d("metadata.gguf"), "wb") as f:
        f.write(writer_bytes(build, cls=FixtureWriter))
    meta = describe(d("metadata.gguf"))
    assert meta["alignment"] == 64 and meta["data_offset"] % 64 == 0
    got = {e["key"]: e for e in meta["kv"]}
    for key, vt, val in SCALARS:
        assert got[key]["type"] == vt.name, key
        if vt == VT.FLOAT32:
            assert got[key]["value"] == float(np.float32(val)) and got[key]["bits"] == f32_bits(val), key
        else:
            assert got[key]["value"] == val and (vt != VT.FLOAT64 or got[key]["bits"] == f64_bits(val)), key
    for key, et, vals in ARRAYS:
        assert got[key]["element_type"] == et.name, key
        want = [float(np.float32(v)) for v in vals] if et == VT.FLOAT32 else vals
        assert got[key]["value"] == want, (key, got[key]["value"])

    def build_nested(w):
        for key, val in NESTED:
            w.add_key_value(key, val, VT.ARRAY)

    with open(d("metadata-nested.gguf"), "wb") as f:
        f.write(writer_bytes(build_nested))
    nested = describe(d("metadata-nested.gguf"))
    for e in nested["kv"]:
        if e["key"].startswith("test.nested"):
            e["written"] = dict(NESTED)[e["key"]]
            e["note"] = "`value` is GGUFReader's contents(): it FLATTENS nested arrays; `written` is the nesting"
    return meta, nested


# ---------------------------------------------------------------------------------------------------------
# A minimal raw GGUF writer (for v2 and for the malformed corpus), following formats.md §2.1 / ggml docs/gguf.md

SCALAR_FMT = {VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I", VT.INT32: "<i",
              VT.FLOAT32: "<f", VT.UINT64: "<Q", VT.INT64: "<q", VT.FLOAT64: "<d", VT.BOOL: "<B"}


def u32(v):
    return struct.pack("<I", v % 2**32)


def u64(v):
    return struct.pack("<Q", v % 2**64)


def gstr(s, length=None):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return u64(len(b) if length is None else length) + b


def enc_value(vtype, value, elem=None):
    if vtype == VT.STRING:
        return gstr(value)
    if vtype == VT.ARRAY:
        return u32(elem) + u64(len(value)) + b"".join(enc_value(elem, v) for v in value)
    return struct.pack(SCALAR_FMT[vtype], value)


def kv(key, vtype, value=None, elem=None, raw_type=None, raw_value=None):
    """key string + u32 value type + value. raw_type / raw_value replace the encoded parts verbatim."""
    return gstr(key) + u32(vtype if raw_type is None else raw_type) + (
        enc_value(vtype, value, elem) if raw_value is None else raw_value)


def ti(name, ne, gtype, offset, n_dims=None):
    """tensor info: name, u32 n_dims, u64 ne[n_dims] (innermost first), u32 ggml type, u64 offset."""
    return gstr(name) + u32(len(ne) if n_dims is None else n_dims) + b"".join(u64(x) for x in ne) + u32(gtype) + u64(offset)


def gguf_raw(kvs, tis, data=b"", version=3, n_tensors=None, n_kv=None, alignment=32, pad=None, magic=b"GGUF"):
    head = magic + u32(version) + u64(len(tis) if n_tensors is None else n_tensors) + u64(len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tis)
    if pad if pad is not None else bool(tis):
        body += b"\0" * ((-len(body)) % alignment)
    return body + data


def padded(b, a=32):
    return b + b"\0" * ((-len(b)) % a)


# The base file every mutation starts from: 2 KVs, tensor `a` F32 [16] at 0, tensor `b` Q4_0 ne [32, 2] at 64.
BASE_A = (np.arange(16, dtype=np.float32) - 8.0) * 0.25
BASE_B = quantize(((np.arange(64, dtype=np.float32).reshape(2, 32) % 7) - 3.0) * 0.5, QT.Q4_0)
BASE_KVS = [kv("general.architecture", VT.STRING, "test"), kv("test.u32", VT.UINT32, 7)]
BASE_DATA = padded(BASE_A.tobytes()) + padded(BASE_B.tobytes())


def base_tis(a_off=0, b_off=64, b_name="b", a_name="a", b_ne=(32, 2), b_type=QT.Q4_0):
    return [ti(a_name, [16], QT.F32, a_off), ti(b_name, list(b_ne), b_type, b_off)]


def base(**kw):
    return gguf_raw(kw.pop("kvs", BASE_KVS), kw.pop("tis", base_tis()), kw.pop("data", BASE_DATA), **kw)


def check_raw_writer():
    """The raw writer must produce exactly GGUFWriter's bytes for the same content."""
    def build(w):
        w.add_uint32("test.u32", 7)
        w.add_tensor("a", BASE_A)
        w.add_tensor("b", BASE_B, raw_dtype=QT.Q4_0)
    ref = writer_bytes(build)
    assert base() == ref, "raw writer differs from GGUFWriter"
    return ref


def make_v2():
    a = np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3)
    q = quantize((np.arange(64, dtype=np.float32).reshape(2, 32) - 31.5) / 8.0, QT.Q8_0)
    kvs = [kv("general.architecture", VT.STRING, "test"), kv("test.uint32", VT.UINT32, 7),
           kv("test.array.string", VT.ARRAY, ["v2", "", "✓"], elem=VT.STRING)]
    tis = [ti("a", [3, 2], QT.F32, 0), ti("q", [32, 2], QT.Q8_0, 32)]
    content = gguf_raw(kvs, tis, padded(a.tobytes()) + padded(q.tobytes()), version=2)
    with open(d("v2.gguf"), "wb") as f:
        f.write(content)
    desc = describe(d("v2.gguf"))
    assert desc["version"] == 2
    assert desc["tensors"][0]["values"] == [float(v) for v in a.reshape(-1)]
    # the same content as v3 through GGUFWriter differs only in the version field
    def build(w):
        w.add_uint32("test.uint32", 7)
        w.add_array("test.array.string", ["v2", "", "✓"])
        w.add_tensor("a", a)
        w.add_tensor("q", q, raw_dtype=QT.Q8_0)
    v3 = writer_bytes(build)
    assert v3[:4] + u32(2) + v3[8:] == content
    return desc


# ---------------------------------------------------------------------------------------------------------
# 3-5. The tiny decoders in llama.cpp names

N_HEAD, N_KV_HEAD, HEAD_DIM = 4, 2, 16


def permute(w, n_head):
    """convert_hf_to_gguf.py `LlamaModel.permute` (numpy): HF rotate-half rows -> GGUF interleaved rows."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    """The inverse: GGUF rows -> HF rows, hf[h*d + j*(d/2) + i] = gguf[h*d + 2*i + j]."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def check_permute_against_torch(q, k):
    import torch

    def llama_permute(weights, n_head, n_head_kv):  # verbatim from llama.cpp conversion/llama.py @0274f0f
        if n_head_kv is not None and n_head != n_head_kv:
            n_head = n_head_kv
        return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
                .swapaxes(1, 2)
                .reshape(weights.shape))

    assert np.array_equal(llama_permute(torch.from_numpy(q), N_HEAD, N_HEAD).numpy(), permute(q, N_HEAD))
    assert np.array_equal(llama_permute(torch.from_numpy(k), N_HEAD, N_KV_HEAD).numpy(), permute(k, N_KV_HEAD))
    assert np.array_equal(unpermute(permute(q, N_HEAD), N_HEAD), q)
    assert np.array_equal(unpermute(permute(k, N_KV_HEAD), N_KV_HEAD), k)
    return torch.__version__


def gguf_names(canonical_keys):
    """[(gguf name, canonical name, heads to un-permute with or None)] in llama.cpp's per-block order."""
    keys = set(canonical_keys)
    out = [("token_embd.weight", "language.embed_tokens.weight", None)]
    for i in range(4):
        p = f"language.layers.{i}."
        out += [(f"blk.{i}.attn_norm.weight", p + "attention_norm.weight", None),
                (f"blk.{i}.attn_q.weight", p + "attention.q.weight", N_HEAD),
                (f"blk.{i}.attn_k.weight", p + "attention.k.weight", N_KV_HEAD),
                (f"blk.{i}.attn_v.weight", p + "attention.v.weight", None),
                (f"blk.{i}.attn_output.weight", p + "attention.o.weight", None),
                (f"blk.{i}.ffn_norm.weight", p + "mlp_norm.weight", None)]
        if p + "moe.router.weight" in keys:
            out += [(f"blk.{i}.ffn_gate_inp.weight", p + "moe.router.weight", None),
                    (f"blk.{i}.ffn_gate_exps.weight", p + "moe.experts.gate", None),
                    (f"blk.{i}.ffn_up_exps.weight", p + "moe.experts.up", None),
                    (f"blk.{i}.ffn_down_exps.weight", p + "moe.experts.down", None)]
        else:
            out += [(f"blk.{i}.ffn_gate.weight", p + "mlp.gate.weight", None),
                    (f"blk.{i}.ffn_up.weight", p + "mlp.up.weight", None),
                    (f"blk.{i}.ffn_down.weight", p + "mlp.down.weight", None)]
    out += [("output_norm.weight", "language.norm.weight", None), ("output.weight", "language.lm_head.weight", None)]
    lang = {k for k in keys if k.startswith("language.")}
    assert {c for _, c, _ in out} == lang, sorted(lang ^ {c for _, c, _ in out})
    return out


def tokenizer_vocab():
    """A small SentencePiece-style ("llama") vocabulary of 256 tokens; token 255 is the image token of the tiny
    config. Synthetic (no real tokenizer model): the fixture tests metadata plumbing, not tokenization."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = (["▁" + c for c in letters] + list(letters) + [c.upper() for c in letters] + ["▁" + c.upper() for c in letters]
              + list("0123456789") + ["▁" + c for c in "0123456789"])
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(128)] + pieces + ["<image>"]
    types = [2, 3, 3] + [6] * 128 + [1] * len(pieces) + [4]   # UNKNOWN, CONTROL, BYTE, NORMAL, USER_DEFINED
    scores = [0.0] * 131 + [-float(i + 1) for i in range(len(pieces))] + [0.0]
    assert len(tokens) == len(types) == len(scores) == 256
    return tokens, scores, types


def llama_metadata(w, name, ftype, moe):
    """The keys convert_hf_to_gguf.py (conversion/base.py TextModel + conversion/llama.py LlamaModel) writes for the
    tiny LlamaConfig / MixtralConfig, in its order: general.architecture (GGUFWriter), general.type, general.name,
    general.size_label, TextModel.set_gguf_parameters, LlamaModel.set_gguf_parameters, quantization version,
    SentencePiece vocab + special token ids."""
    w.add_type("model")
    w.add_name(name)
    total, shared, expert, count = w.get_total_parameter_count()
    w.add_size_label(gguf.size_label(total, shared, expert, count))
    w.add_block_count(4)
    w.add_context_length(128)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV_HEAD)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    if moe:
        w.add_expert_count(4)
        w.add_expert_used_count(2)
    w.add_key_length(HEAD_DIM)    # transformers >= 4.45 configs carry head_dim (16)
    w.add_value_length(HEAD_DIM)
    w.add_file_type(ftype)
    w.add_vocab_size(256)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tokens, scores, types = tokenizer_vocab()
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)


def convert_type(gname, arr, outtype):
    """convert_hf_to_gguf's choice: 1-D and *_norm.weight and ffn_gate_inp stay F32; the rest takes --outtype."""
    if arr.ndim <= 1 or gname.endswith("_norm.weight") or ".ffn_gate_inp." in gname:
        return QT.F32
    return outtype


def write_model(path, canon, names, name, ftype, type_of, moe=False):
    """Write one decoder with GGUFWriter. type_of(gguf name, array) -> ggml type. Returns {gguf name: (type, bytes)}."""
    written = {}

    def build(w):
        for gname, cname, heads in names:
            arr = canon[cname]
            if heads is not None:
                arr = permute(arr, heads)
            qt = type_of(gname, arr)
            written[gname] = (qt, add_quantized(w, gname, np.ascontiguousarray(arr), qt))
        llama_metadata(w, name, ftype, moe)

    with open(path, "wb") as f:
        f.write(writer_bytes(build, arch="llama"))
    return written


def check_round_trip(path, canon, names, exact=True):
    """Read back with GGUFReader + dequantize, un-permute q/k, compare with the canonical tensors."""
    r, back = read_tensors(path)
    assert [t.name for t in r.tensors] == [g for g, _, _ in names]
    worst = 0.0
    for gname, cname, heads in names:
        _, ne, vals = back[gname]
        if heads is not None:
            vals = unpermute(vals, heads)
        assert ne == list(reversed(canon[cname].shape)), (gname, ne)
        if exact:
            assert np.array_equal(vals.view(np.uint32), canon[cname].view(np.uint32)), gname
        else:
            worst = max(worst, float(np.max(np.abs(vals - canon[cname]))))
    return r, back, worst


def model_kv_summary(r):
    out = {}
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name.startswith("tokenizer.ggml.tokens") or name in (
                "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
            continue
        out[name] = f.contents()
    return out


def make_models():
    dense = load_file(os.path.join(DIALECTS, "canonical-tiny-dense.safetensors"))
    moe = load_file(os.path.join(DIALECTS, "canonical-tiny-moe.safetensors"))
    for sd in (dense, moe):
        for k, v in sd.items():
            if k.startswith("language."):
                assert v.dtype == np.float32 and np.array_equal(v.astype(np.float16).astype(np.float32), v), k
    dn, mn = gguf_names(dense), gguf_names(moe)
    torch_version = check_permute_against_torch(dense["language.layers.0.attention.q.weight"],
                                                dense["language.layers.0.attention.k.weight"])
    info = {}

    write_model(d("tiny-llama.gguf"), dense, dn, "tiny-llama", gguf.LlamaFileType.ALL_F32, lambda g, a: QT.F32)
    r, _, _ = check_round_trip(d("tiny-llama.gguf"), dense, dn)
    info["tiny-llama.gguf"] = model_kv_summary(r)

    write_model(d("tiny-llama-f16.gguf"), dense, dn, "tiny-llama", gguf.LlamaFileType.MOSTLY_F16,
                lambda g, a: convert_type(g, a, QT.F16))
    r, _, _ = check_round_trip(d("tiny-llama-f16.gguf"), dense, dn)
    info["tiny-llama-f16.gguf"] = model_kv_summary(r)

    write_model(d("tiny-moe.gguf"), moe, mn, "tiny-moe", gguf.LlamaFileType.MOSTLY_F16,
                lambda g, a: convert_type(g, a, QT.F16), moe=True)
    r, _, _ = check_round_trip(d("tiny-moe.gguf"), moe, mn)
    info["tiny-moe.gguf"] = model_kv_summary(r)

    def qtype(g, a):
        if a.ndim <= 1 or g.endswith("_norm.weight"):
            return QT.F32
        if g.split(".")[1] in ("1", "3") and g.split(".")[2] in ("ffn_gate", "ffn_up", "ffn_down"):
            return QT.Q4_0
        return QT.Q8_0

    written = write_model(d("quantized-llama.gguf"), dense, dn, "tiny-llama", gguf.LlamaFileType.MOSTLY_Q8_0, qtype)
    r, back, worst = check_round_trip(d("quantized-llama.gguf"), dense, dn, exact=False)
    info["quantized-llama.gguf"] = model_kv_summary(r)
    expected = {}
    for gname, (qt, data) in written.items():
        tname, ne, vals = back[gname]
        assert tname == qt.name
        assert np.array_equal(dequantize(data, qt).astype(np.float32).view(np.uint32), vals.view(np.uint32)), gname
        expected[gname] = vals
    save_file(expected, d("quantized-llama.expected.safetensors"), metadata=ST_METADATA)
    qtypes = {g: qt.name for g, (qt, _) in written.items()}

    trips = {}
    for fname, src, names in (("tiny-llama.gguf", "dense", dn), ("tiny-llama-f16.gguf", "dense", dn),
                              ("tiny-moe.gguf", "moe", mn), ("quantized-llama.gguf", "dense", dn)):
        r = GGUFReader(d(fname))
        types = {t.name: t.tensor_type.name for t in r.tensors}
        trips[fname] = {
            "canonical": f"../dialects/canonical-tiny-{src}.safetensors",
            "config": f"../dialects/canonical-tiny-{src}.config.json",
            "exact": fname != "quantized-llama.gguf",
            "expected": "quantized-llama.expected.safetensors" if fname == "quantized-llama.gguf" else None,
            "expected_layout": "GGUF names, numpy shapes, gguf-py dequantized f32, attn_q/attn_k still permuted"
                               if fname == "quantized-llama.gguf" else None,
            "tensors": {g: {"canonical": c, "ggml_type": types[g], "unpermute_heads": h} for g, c, h in names},
        }
    write_json(d("round-trips.json"), trips)
    return info, qtypes, worst, torch_version


# ---------------------------------------------------------------------------------------------------------
# 6. Malformed corpus

class _Timeout(Exception):
    pass


def gguf_py_verdict(path):
    """What gguf.GGUFReader (gguf-py) does with the file: 'accepts (...)' or 'raises Type: message'."""
    def on_alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, GGUF_PY_TIMEOUT)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            r = GGUFReader(path)
        tensors = ", ".join(f"{t.name}:{t.tensor_type.name}{[int(x) for x in t.shape]}@{int(t.data_offset)}"
                            for t in r.tensors)
        verdict = f"accepts ({len(r.fields) - 3} kv, tensors [name:type[ne]@file offset] [{tensors}])"
    except _Timeout:
        verdict = (f"no verdict after {GGUF_PY_TIMEOUT:g} s (abandoned): reads past EOF return empty arrays, so the "
                   "loop over the element count never advances and never fails")
    except RecursionError:
        verdict = "raises RecursionError: maximum recursion depth exceeded (_get_field_parts recurses per nesting level)"
    except Exception as err:  # noqa: BLE001 - recording whatever the reference does
        msg = str(err).splitlines()[0] if str(err) else ""
        if len(msg) > 160:
            msg = msg[:157] + "..."
        verdict = f"raises {type(err).__name__}: {msg}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return verdict


def accepted(verdict):
    return verdict.startswith("accepts")


ALIGN_TYPE_GGML = ("aborts (per source): gguf_get_val_u32 -> get_val<uint32_t> GGML_ASSERT(type) fails; formats.md "
                   "§2.3 reports a clean rejection from the libggml-base it ran (version difference, not re-run here)")


def build_malformed():
    """[(file name, bytes, category, field, subject, description, ggml verdict)]"""
    cases = []

    def add(name, content, category, field, subject, description, ggml):
        cases.append((name, content, category, field, subject, description, ggml))

    B = base()
    kv0_len_at = 24                                   # u64 length of the first key
    kv0_val_len_at = 24 + 8 + 20 + 4                  # u64 length of general.architecture's string value
    kv1_at = kv0_val_len_at + 8 + 4                   # second KV (test.u32)
    ti0_at = kv1_at + 8 + 8 + 4 + 4                   # first tensor info
    ti1_at = ti0_at + 8 + 1 + 4 + 8 + 4 + 8           # second tensor info
    data_at = ti1_at + 8 + 1 + 4 + 16 + 4 + 8
    assert B[kv1_at + 8:kv1_at + 16] == b"test.u32" and B[ti0_at + 8:ti0_at + 9] == b"a"
    assert B[ti1_at + 8:ti1_at + 9] == b"b"
    pad_at = data_at
    data_at += (-data_at) % 32
    assert len(B) == data_at + 128

    # --- truncation (G1, G22)
    add("empty.gguf", b"", "truncated", "magic", None, "0-byte file",
        "rejects: failed to read magic")
    add("truncated-magic.gguf", b"GGU", "truncated", "magic", None, "3 bytes: the magic is cut",
        "rejects: failed to read magic")
    add("truncated-version.gguf", B[:6], "truncated", "version", None, "magic + half of the version",
        "rejects: failed to read header")
    add("truncated-header.gguf", B[:20], "truncated", "kv_count", None,
        "header cut inside kv_count (20 of 24 bytes)", "rejects: failed to read header")
    add("truncated-in-key.gguf", B[:kv0_len_at + 8 + 10], "truncated", "kv[0].key", None,
        "file ends 10 bytes into the first key (length says 20)",
        "rejects: string length 20 exceeds remaining file size 10 bytes; failed to read key-value pairs")
    add("truncated-in-value.gguf", B[:kv0_val_len_at + 8 + 2], "truncated", "kv[0].value", "general.architecture",
        "file ends 2 bytes into the string value of general.architecture (length says 4)",
        "rejects: string length 4 exceeds remaining file size 2 bytes; failed to read key-value pairs")
    add("truncated-in-tensor-info.gguf", B[:ti1_at + 8 + 1 + 4 + 8], "truncated", "tensor_info[1].ne", "b",
        "file ends after ne[0] of tensor b (n_dims says 2)", "rejects: failed to read tensor info")
    add("truncated-before-data.gguf", B[:pad_at], "truncated", "data_section", None,
        f"file ends right after the tensor infos (offset {pad_at}, no padding, no data)",
        "rejects: failed to seek to beginning of data section")
    add("truncated-data.gguf", B[:data_at + 64 + 10], "truncated", "tensor_data", "b",
        "file ends 10 bytes into tensor b's 36 bytes of data (2 Q4_0 blocks)",
        "header parses (no_alloc); loading the data blob fails: failed to read tensor data binary blob; "
        "llama.cpp's loader: tensor 'b' data is not within the file bounds")

    # --- magic and version (G2, G3)
    add("bad-magic.gguf", b"GGML" + B[4:], "bad_magic", "magic", None, "magic 'GGML' instead of 'GGUF'",
        "rejects: invalid magic characters: 'GGML', expected 'GGUF'")
    add("version-0.gguf", base(version=0), "unsupported_version", "version", None, "version 0",
        "rejects: bad GGUF version: 0")
    add("version-1.gguf", base(version=1), "unsupported_version", "version", None,
        "version 1 (GGUFv1 used u32 counts; the rest of this file is v3-shaped)",
        "rejects: GGUFv1 is no longer supported")
    add("version-4.gguf", base(version=4), "unsupported_version", "version", None, "version 4",
        "rejects: this GGUF file is version 4 but this software only supports up to version 3")
    add("version-byteswapped.gguf", base(version=0x03000000), "unsupported_version", "version", None,
        "version bytes 00 00 00 03 (a big-endian v3 header; (version & 0xFFFF) == 0). gguf-py takes such a file "
        "as big-endian and byte-swaps every later field; the rest of this file is little-endian",
        "rejects: GGUF file version 50331648 is extremely large, is there a mismatch between the host and model endianness?")

    # --- counts (G4)
    add("tensor-count-2^40.gguf", padded(base(n_tensors=2**40), 1024), "count_too_large", "tensor_count", None,
        "tensor_count 2^40 in a 1 KB file (valid file zero-padded to 1024 bytes)",
        "rejects: the count passes the SIZE_MAX/sizeof(gguf_tensor_info) check; the bytes after the two real infos "
        "are parsed as further infos until one fails: failed to read tensor info")
    add("tensor-count-negative.gguf", base(n_tensors=2**63 + 5), "count_too_large", "tensor_count", None,
        "tensor_count 2^63+5 (negative as int64)",
        "rejects: number of tensors is -9223372036854775803 but must be in [0, SIZE_MAX/sizeof(gguf_tensor_info)]")
    add("kv-count-2^62.gguf", base(n_kv=2**62), "count_too_large", "kv_count", None, "kv_count 2^62",
        "rejects: number of key value pairs is 4611686018427387904 but must be in [0, SIZE_MAX/sizeof(gguf_kv)]")
    add("kv-count-past-eof.gguf", base(n_kv=1000), "count_too_large", "kv_count", None,
        f"kv_count 1000 in a {len(B)}-byte file (a KV takes at least 8+1+4+1 bytes)",
        "rejects: parses the following bytes as more KVs until one fails: failed to read key-value pairs (no "
        "up-front size check)")

    # --- strings (G5)
    remaining = len(B) - (kv1_at + 8)
    add("string-length-past-eof.gguf", B[:kv1_at] + u64(remaining + 1) + B[kv1_at + 8:], "string_too_long",
        "kv[1].key", None, f"second key's length = bytes left in the file + 1 ({remaining + 1})",
        f"rejects: string length {remaining + 1} exceeds remaining file size {remaining} bytes")
    add("string-length-2^63.gguf", B[:kv0_val_len_at] + u64(2**63) + B[kv0_val_len_at + 8:], "string_too_long",
        "kv[0].value", "general.architecture", "string value length 2^63",
        "rejects: string length 9223372036854775808 exceeds maximum 1073741824 (GGUF_MAX_STRING_LENGTH 1 GiB; "
        "64 MiB in the unmerged ggml PR #1516)")
    add("string-length-u64max.gguf", B[:kv0_val_len_at] + u64(U64_MAX) + B[kv0_val_len_at + 8:], "string_too_long",
        "kv[0].value", "general.architecture", "string value length 2^64-1 (len+1 wraps to 0: CVE-2024-25665)",
        "rejects: string length exceeds maximum")
    add("tensor-name-length-past-eof.gguf", B[:ti0_at] + u64(10_000) + B[ti0_at + 8:], "string_too_long",
        "tensor_info[0].name", None, f"first tensor name length 10000 in a {len(B)}-byte file",
        "rejects: string length 10000 exceeds remaining file size; failed to read tensor info")
    add("tensor-name-64-bytes.gguf", base(tis=base_tis(a_name="x" * 64)), "string_too_long",
        "tensor_info[0].name", "x" * 64,
        "tensor name of exactly 64 bytes: the spec allows 'at most 64 bytes', ggml needs < GGML_MAX_NAME (64, incl. NUL)",
        "rejects: tensor name 0 is too long: 64 >= 64")
    add("tensor-name-65-bytes.gguf", base(tis=base_tis(a_name="x" * 65)), "string_too_long",
        "tensor_info[0].name", "x" * 65, "tensor name of 65 bytes (over the spec's 64 and ggml's 63)",
        "rejects: tensor name 0 is too long: 65 >= 64")

    # --- arrays (G8, G9)
    arr_kvs = lambda raw: [BASE_KVS[0], kv("test.array", VT.ARRAY, raw_value=raw)]  # noqa: E731
    add("array-count-2^62.gguf", base(kvs=arr_kvs(u32(VT.UINT32) + u64(2**62) + u32(1) + u32(2))), "array_too_large",
        "kv[1].value.count", "test.array", "array of 2^62 uint32 (count x 4 overflows u64), 2 elements present",
        "rejects: count > GGUF_MAX_ARRAY_ELEMENTS (1 Gi) before allocating")
    add("array-count-2^62-at-eof.gguf", gguf_raw([BASE_KVS[0], kv("test.array", VT.ARRAY,
                                                              raw_value=u32(VT.UINT32) + u64(2**62))], []),
        "array_too_large", "kv[1].value.count", "test.array",
        "array of 2^62 uint32 and the file ends right after the count (no tensors): the shape that makes gguf-py "
        "0.19.0 loop (llama.cpp PR #27188)", "rejects: count > GGUF_MAX_ARRAY_ELEMENTS (1 Gi) before allocating")
    add("array-strings-2^40.gguf", base(kvs=arr_kvs(u32(VT.STRING) + u64(2**40) + gstr("a"))), "array_too_large",
        "kv[1].value.count", "test.array", "array of 2^40 strings, 1 present",
        "rejects: count > GGUF_MAX_ARRAY_ELEMENTS before allocating")
    add("array-count-past-eof.gguf", base(kvs=arr_kvs(u32(VT.UINT32) + u64(1000) + u32(1))), "array_too_large",
        "kv[1].value.count", "test.array", "array of 1000 uint32 (4000 bytes), 1 present, in a ~300-byte file",
        "rejects: nbytes_remain < n * sizeof(uint32_t), checked before dst.resize")
    deep = b"".join(u32(VT.ARRAY) + u64(1) for _ in range(1000)) + u32(VT.UINT8) + u64(1) + b"\x00"
    add("nested-array-depth-1000.gguf", base(kvs=[BASE_KVS[0], kv("test.deep", VT.ARRAY, raw_value=deep)]),
        "unknown_value_type", "kv[1].value.element_type", "test.deep",
        "array nested 1000 deep (each level: element type ARRAY, count 1). The spec allows nesting; ggml rejects "
        "ARRAY as an element type at the first level. A reader that supports nesting (metadata-nested.gguf) must "
        "cap the depth and report this category",
        "rejects: key 'test.deep' has invalid GGUF type 9")

    # --- value types (G7)
    add("value-type-99.gguf", base(kvs=[BASE_KVS[0], kv("test.u32", VT.UINT32, 7, raw_type=99)]), "unknown_value_type",
        "kv[1].type", "test.u32", "value type 99", "rejects: key 'test.u32' has invalid GGUF type 99")
    add("value-type-13.gguf", base(kvs=[BASE_KVS[0], kv("test.u32", VT.UINT32, 7, raw_type=13)]), "unknown_value_type",
        "kv[1].type", "test.u32", "value type 13 (= GGUF_TYPE_COUNT, first id past the enum)",
        "rejects: key 'test.u32' has invalid GGUF type 13")
    add("array-element-type-99.gguf", base(kvs=arr_kvs(u32(99) + u64(2) + u32(1) + u32(2))), "unknown_value_type",
        "kv[1].value.element_type", "test.array", "array whose element type is 99 (indexing GGUF_TYPE_SIZE[] with it "
        "was the unnumbered 2024 out-of-bounds read)", "rejects: key 'test.array' has invalid GGUF type 99")

    # --- duplicates (G6, G12)
    add("duplicate-key.gguf", base(kvs=BASE_KVS + [kv("test.u32", VT.UINT32, 8)]), "duplicate_key", "kv[2].key",
        "test.u32", "test.u32 twice (values 7 and 8)", "rejects: duplicate key 'test.u32'")
    add("duplicate-tensor.gguf", base(tis=base_tis(b_name="a", b_ne=(32, 2))), "duplicate_tensor",
        "tensor_info[1].name", "a", "two tensors named 'a' (offsets 0 and 64)",
        "rejects: duplicate tensor name 'a' for tensors 0 and 1")

    # --- dimensions (G13-G15)
    def one_tensor(ne, gtype=QT.F32, data=b"\0" * 64, n_dims=None, name="t"):
        return gguf_raw([BASE_KVS[0]], [ti(name, ne, gtype, 0, n_dims=n_dims)], padded(data))

    add("n-dims-5.gguf", one_tensor([2, 2, 2, 2, 1]), "bad_dimensions", "tensor_info[0].n_dims", "t",
        "n_dims 5 (GGML_MAX_DIMS is 4; Talos 2024 wrote past ne[4])",
        "rejects: tensor 't' has invalid number of dimensions: 5 > 4")
    add("n-dims-u32max.gguf", one_tensor([16], n_dims=2**32 - 1), "bad_dimensions", "tensor_info[0].n_dims", "t",
        "n_dims 2^32-1 followed by one real dim", "rejects: invalid number of dimensions: 4294967295 > 4")
    add("dim-zero-ne1.gguf", gguf_raw([BASE_KVS[0]], [ti("t", [4, 0], QT.F32, 0), ti("a", [16], QT.F32, 0)],
                                      BASE_A.tobytes()), "bad_dimensions", "tensor_info[0].ne[1]", "t",
        "tensor t F32 ne [4, 0] (numpy shape (0, 4), 0 bytes), then tensor a at offset 0. Not forbidden by the spec "
        "and accepted by gguf-py, but no ggml build accepts it (see ggml); ne[0] = 0 is in accept/zero-elements.gguf",
        "x86-64: crashes with SIGFPE (the element-count check computes INT64_MAX/ne[1] = INT64_MAX/0; llama.cpp "
        "issue #26366); arm64: rejects (SDIV by 0 yields 0, so the overflow check fires). Unmerged fixes (ggml PR "
        "#1517, llama.cpp PRs #18586, #20716, #24263; snapshot db7cfae) reject every ne <= 0")
    add("dim-negative.gguf", one_tensor([4, 2**64 - 32]), "bad_dimensions", "tensor_info[0].ne[1]", "t",
        "ne[1] = -32 as int64 (2^64-32 as u64)", "rejects: dimension 1 has invalid number of elements: -32 < 0")
    add("shape-overflow.gguf", one_tensor([2**32, 2**32]), "shape_overflow", "tensor_info[0].ne", "t",
        "ne [2^32, 2^32]: 2^64 elements (wraps to 0 in u64)",
        "rejects: total number of elements in tensor 't' with shape (4294967296, 4294967296, 1, 1) is >= INT64_MAX")
    add("shape-overflow-int64.gguf", one_tensor([2**21, 2**21, 2**21]), "shape_overflow", "tensor_info[0].ne", "t",
        "ne [2^21, 2^21, 2^21]: 2^63 elements (fits u64, not int64)",
        "rejects: total number of elements ... is >= INT64_MAX")
    add("byte-size-overflow.gguf", one_tensor([2**62]), "shape_overflow", "tensor_info[0].ne", "t",
        "F32 ne [2^62]: the element count fits int64, the byte size (2^64) does not (CVE-2026-33298 class)",
        "rejects: tensor 't' with shape (4611686018427387904, 1, 1, 1) has a size in bytes > SIZE_MAX")

    # --- ggml types (G16, G18)
    for tid, what in ((99, "type 99"), (4, "type 4 (Q4_2, removed)"), (5, "type 5 (Q4_3, removed)"),
                      (31, "type 31 (Q4_0_4_4, removed from files)")):
        add(f"ggml-type-{tid}.gguf", one_tensor([32], gtype=tid), "unknown_ggml_type", "tensor_info[0].type", "t",
            f"tensor of {what}",
            "rejects: tensor 't' has invalid ggml type 99. should be in [0, GGML_TYPE_COUNT)" if tid == 99 else
            f"rejects: blck_size == 0 for type {tid}: 32 elements per row, not a multiple of block size (0)")
    add("ggml-type-9-q8_1.gguf", one_tensor([32], gtype=QT.Q8_1, data=b"\0" * 36), "unknown_ggml_type",
        "tensor_info[0].type", "t",
        "Q8_1 tensor (a dot-product intermediate, formats.md §2.4: do not accept in files); 36-byte block as in ggml "
        "(gguf-py's table says 40)", "accepts (a valid ggml type id: block 32, 36 bytes)")
    add("ggml-type-15-q8_k.gguf", one_tensor([256], gtype=QT.Q8_K, data=b"\0" * 292), "unknown_ggml_type",
        "tensor_info[0].type", "t", "Q8_K tensor (dot-product intermediate; formats.md §2.4: do not accept in files)",
        "accepts (a valid ggml type id: block 256, 292 bytes)")
    add("q4_0-row-33.gguf", one_tensor([33, 2], gtype=QT.Q4_0), "row_not_block_multiple", "tensor_info[0].ne[0]",
        "t", "Q4_0 tensor with ne[0] = 33",
        "rejects: tensor 't' of type 2 (q4_0) has 33 elements per row, not a multiple of block size (32)")
    add("q4_k-row-128.gguf", one_tensor([128, 2], gtype=QT.Q4_K, data=b"\0" * 144), "row_not_block_multiple",
        "tensor_info[0].ne[0]", "t", "Q4_K tensor with ne[0] = 128 (K-quant blocks are 256)",
        "rejects: 128 elements per row, not a multiple of block size (256)")

    # --- offsets (G19-G21)
    add("misaligned-offset.gguf", base(tis=base_tis(b_off=72), data=BASE_DATA + b"\0" * 32), "misaligned_offset",
        "tensor_info[1].offset", "b", "tensor b at offset 72 (alignment 32); its bytes are present",
        "rejects: tensor 'b' has offset 72, expected 64")
    add("offset-past-end.gguf", base(tis=base_tis(b_off=4096)), "offset_out_of_bounds", "tensor_info[1].offset",
        "b", "tensor b at offset 4096, past the end of the 128-byte data section",
        "rejects: tensor 'b' has offset 4096, expected 64 (ggml's contiguity rule fires before any bounds check)")
    add("offset-wraps.gguf", base(tis=base_tis(b_off=2**64 - 32)), "offset_out_of_bounds", "tensor_info[1].offset",
        "b", "tensor b at offset 2^64-32 (aligned; offset + nbytes wraps u64: CVE-2025-53630 class)",
        "rejects: tensor 'b' has offset 18446744073709551584, expected 64")
    add("overlapping-tensors.gguf", base(tis=base_tis(b_off=32)), "overlapping_tensors", "tensor_info[1].offset",
        "b", "tensor b at offset 32 overlaps a = [0, 64) (aligned, in bounds)",
        "rejects: tensor 'b' has offset 32, expected 64")

    # --- alignment (G11)
    def with_alignment(raw_kv, alignment=32):
        return base(kvs=BASE_KVS + [raw_kv], alignment=alignment)

    add("alignment-0.gguf", with_alignment(kv("general.alignment", VT.UINT32, 0)), "bad_alignment",
        "general.alignment", "general.alignment", "general.alignment = 0 (u32)",
        "rejects: alignment 0 is not a power of 2")
    add("alignment-3.gguf", with_alignment(kv("general.alignment", VT.UINT32, 3)), "bad_alignment",
        "general.alignment", "general.alignment", "general.alignment = 3 (u32)",
        "rejects: alignment 3 is not a power of 2")
    add("alignment-string.gguf", with_alignment(kv("general.alignment", VT.STRING, "32")), "bad_alignment",
        "general.alignment", "general.alignment", "general.alignment = \"32\" (a string)",
        ALIGN_TYPE_GGML)
    add("alignment-u64.gguf", with_alignment(kv("general.alignment", VT.UINT64, 32)), "bad_alignment",
        "general.alignment", "general.alignment", "general.alignment = 32 as UINT64 (the spec requires u32)",
        ALIGN_TYPE_GGML)
    add("alignment-2^30.gguf", with_alignment(kv("general.alignment", VT.UINT32, 2**30)), "bad_alignment",
        "general.alignment", "general.alignment",
        "general.alignment = 2^30 (a power of two, but padding to it needs a GiB; formats.md G11: cap, e.g. 1 MiB)",
        "rejects: the power of two passes, then the seek to GGML_PAD(pos, 2^30) lies past EOF: failed to seek to "
        "beginning of data section (a 1 MiB cap exists only in unmerged PRs: ggml #1516, llama.cpp #24997)")

    # --- UTF-8
    bad = b"test.\xff\xfe"
    add("key-invalid-utf8.gguf", base(kvs=[BASE_KVS[0], gstr(bad) + u32(VT.UINT32) + u32(7)]), "invalid_utf8",
        "kv[1].key", None, "key bytes 'test.' + FF FE (not UTF-8)", "accepts (keys are not UTF-8-checked)")
    add("string-value-invalid-utf8.gguf", base(kvs=[BASE_KVS[0], kv("test.s", VT.STRING, raw_value=gstr(b"ab\xc3("))]),
        "invalid_utf8", "kv[1].value", "test.s", "string value 'ab' + C3 28 (truncated 2-byte sequence)",
        "accepts (strings are not UTF-8-checked)")
    add("tensor-name-invalid-utf8.gguf", base(tis=base_tis(a_name=b"\xe2\x82")), "invalid_utf8",
        "tensor_info[0].name", None, "tensor name E2 82 (truncated 3-byte sequence)",
        "accepts (names are not UTF-8-checked)")
    add("key-overlong-utf8.gguf", base(kvs=[BASE_KVS[0], gstr(b"test.\xc0\xaf") + u32(VT.UINT32) + u32(7)]),
        "invalid_utf8", "kv[1].key", None, "key 'test.' + C0 AF (overlong encoding of '/')",
        "accepts (keys are not UTF-8-checked)")
    return cases


def build_accept():
    """[(file name, bytes, description, ggml verdict)] -- odd but valid files."""
    out = []

    def w_bytes(build):
        return writer_bytes(build)

    out.append(("base.gguf", base(), "the valid file every malformed case is derived from: 2 KVs, tensor a F32 "
                "ne [16] at 0, tensor b Q4_0 ne [32, 2] at 64 (raw writer == GGUFWriter bytes)", "accepts"))
    out.append(("zero-tensors.gguf", gguf_raw(BASE_KVS, []),
                "tensor_count 0: the file ends right after the KVs (no padding, no data section)",
                "accepts (the data-section seek happens only when n_tensors > 0)"))
    out.append(("zero-tensors-padded.gguf", w_bytes(lambda w: w.add_uint32("test.u32", 7)),
                "tensor_count 0 written by GGUFWriter, which pads the file to the alignment even without tensors",
                "accepts (trailing zeros ignored)"))
    out.append(("zero-metadata.gguf", gguf_raw([], [ti("a", [16], QT.F32, 0)], BASE_A.tobytes()),
                "kv_count 0 (no general.architecture), one F32 tensor", "accepts"))
    out.append(("alignment-32-explicit.gguf",
                w_bytes(lambda w: (w.add_custom_alignment(32), w.add_tensor("a", BASE_A),
                                   w.add_tensor("b", BASE_B, raw_dtype=QT.Q4_0))),
                "general.alignment = 32 (u32) written explicitly", "accepts"))
    out.append(("alignment-8.gguf",
                w_bytes(lambda w: (w.add_custom_alignment(8), w.add_tensor("c", np.arange(3, dtype=np.float32)),
                                   w.add_tensor("a", BASE_A))),
                "general.alignment = 8: tensor a starts at offset 16, not a multiple of 32", "accepts"))
    out.append(("scalar-n-dims-0.gguf", w_bytes(lambda w: w.add_tensor("s", np.array(1.5, dtype=np.float32))),
                "a tensor with n_dims 0 (a scalar: ggml reads ne = [1, 1, 1, 1]; gguf-py: 1 element, numpy shape ())",
                "accepts (only n_dims > 4 is checked)"))
    out.append(("zero-elements.gguf",
                w_bytes(lambda w: (w.add_tensor("e", np.zeros((4, 0), np.float32)), w.add_tensor("a", BASE_A))),
                "tensor e F32 ne [0, 4] (0 bytes) at offset 0, then tensor a at offset 0 too: a 0-byte tensor "
                "shares its offset with the next one and must not count as an overlap",
                "accepts on every platform (mainline checks ne >= 0; with ne[1..3] = 1 the overflow divisions are "
                "safe; padded size 0 keeps the running offset). The unmerged zero-dimension fixes (ne <= 0 rejected) "
                "would reject it"))
    out.append(("trailing-bytes.gguf", base() + b"\0" * 40 + b"TRAILER",
                "the valid base file followed by 40 zero bytes and 'TRAILER' after the last tensor (formats.md G23: "
                "warn)", "accepts (bytes after the data section are never read)"))
    return out


def make_malformed():
    os.makedirs(ACC)
    reject = {}
    for name, content, category, field, subject, description, ggml in build_malformed():
        assert len(content) <= MAX_MALFORMED, name
        path = os.path.join(MAL, name)
        with open(path, "wb") as f:
            f.write(content)
        py = gguf_py_verdict(path)
        ggml_accepts = ggml.startswith("accepts")
        reject[name] = {"description": description, "field": field, "category": category, "subject": subject,
                        "gguf_py": py, "ggml": ggml, "size": len(content),
                        "references_disagree": accepted(py) != ggml_accepts}
    accept = {}
    for name, content, description, ggml in build_accept():
        assert len(content) <= MAX_MALFORMED, name
        path = os.path.join(ACC, name)
        with open(path, "wb") as f:
            f.write(content)
        py = gguf_py_verdict(path)
        assert accepted(py), (name, py)
        r = GGUFReader(path)
        accept["accept/" + name] = {
            "description": description, "gguf_py": py, "ggml": ggml, "size": len(content),
            "kv": [f.name for n, f in r.fields.items() if not n.startswith("GGUF.")],
            "alignment": int(r.alignment), "data_offset": int(r.data_offset),
            "tensors": [{"name": t.name, "ggml_type": t.tensor_type.name, "ne": [int(x) for x in t.shape],
                         "offset": int(t.data_offset - r.data_offset), "n_bytes": int(t.n_bytes)} for t in r.tensors]}
    write_json(os.path.join(MAL, "MANIFEST.json"), {
        "generator": GENERATOR, "ggml_reference": GGML_REF,
        "note": "gguf_py = what gguf.GGUFReader(path) did here (gguf-py %s); ggml = what gguf_init_from_file does per "
                "the source named in ggml_reference (not executed: no libggml on the generating machine); "
                "references_disagree = one of the two accepts and the other does not" % gguf_version(),
        "categories": sorted({v["category"] for v in reject.values()}),
        "reject": reject, "accept": accept})
    return reject, accept


# ---------------------------------------------------------------------------------------------------------
# README and MANIFEST


def gguf_version():
    from importlib.metadata import version
    return version("gguf")


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def readme(versions, type_rows, meta, nested, v2, models, qtypes, q_worst, reject, accept, sizes):
    type_table = md_table(
        ["tensor", "ggml type (id)", "ne (GGUF order)", "numpy shape", "block", "bytes/block", "data bytes", "made by",
         "max abs error vs source"],
        [(f"`{n}`", f"{t} ({i})", ne, sh, b, s, nb, m, "–" if e is None else f"{e:.4g}")
         for n, t, i, ne, sh, b, s, nb, m, e in type_rows])
    tl = models["tiny-llama.gguf"]
    key_rows = [(f"`{k}`", json.dumps(v, ensure_ascii=False)) for k, v in tl.items()]
    moe_keys = {k: v for k, v in models["tiny-moe.gguf"].items() if k not in tl or tl[k] != v}
    q4 = sorted(g for g, t in qtypes.items() if t == "Q4_0")
    mal_rows = [(f"`{n}`", f"`{e['category']}`", e["field"], e["description"].replace("|", "\\|"),
                 e["gguf_py"].replace("|", "\\|"), e["ggml"].replace("|", "\\|"))
                for n, e in sorted(reject.items())]
    acc_rows = [(f"`{n}`", e["description"].replace("|", "\\|"), e["ggml"]) for n, e in sorted(accept.items())]
    file_rows = [(f"`{n}`", s) for n, s in sorted(sizes.items())]
    disagree = sorted(n for n, e in reject.items() if e["references_disagree"])
    py_accepts = sorted(n for n, e in reject.items() if accepted(e["gguf_py"]))
    both_accept = sorted(n for n, e in reject.items() if accepted(e["gguf_py"]) and e["ggml"].startswith("accepts"))
    total = sum(sizes.values())
    return f"""# GGUF fixtures

Made by `{GENERATOR}` (seed {SEED}; {", ".join(f"{k} {v}" for k, v in versions.items())}). Do not edit by hand:
rerun `/opt/mm1py/bin/python {GENERATOR}` (deterministic; `MANIFEST.json` holds the SHA-256 of every file).

Every valid file here was written by gguf-py's `GGUFWriter` (tensor bytes from `gguf.quants.quantize`) and read back
with `gguf.GGUFReader` + `gguf.quants.dequantize`; every expected number was produced by those calls, none typed by
hand. Exceptions, each checked: `v2.gguf` and the `../malformed/gguf/` files come from a small raw writer in the generator
that reproduces GGUFWriter's bytes exactly for a valid v3 file (asserted) and that `GGUFReader` reads back; the
K-quant tensors of `types.gguf` are seeded random blocks because **gguf-py {versions["gguf"]} cannot quantize K-quants**
(`quants.py` defines only `dequantize_blocks` for Q2_K–Q6_K; `gguf.quants.quantize(x, Q4_K)` raises
`NotImplementedError`) and no ggml library is installed (formats.md §2.6 recipe: llama-cpp-python's
`quantize_row_q*_K_ref`).

## Conventions

* **Byte order**: little-endian everywhere (header, metadata, tensor data, f16 block scales).
* **Shapes**: GGUF stores `ne` innermost first (`ne[0]` = contiguous row length = the numpy/PyTorch **last** axis).
  gguf-py's **writer** takes numpy-ordered shapes (`add_tensor(name, array)`; for quantized data a uint8 array
  whose last axis is bytes per row plus `raw_dtype`, from which it derives the element shape) and writes them
  reversed: numpy `(256, 64)` → `ne [64, 256]`, stacked experts `(4, 128, 64)` → `ne [64, 128, 4]`. gguf-py's
  **reader** returns `ReaderTensor.shape` in **GGUF order** (`ne` as stored) but `ReaderTensor.data` in **numpy
  order** (reversed), and for quantized and BF16 types as raw uint8 with the last axis in bytes
  (`(rows, ne[0] / block × bytes_per_block)`); `dequantize(data, type)` gives float32 in numpy order. In this folder
  "shape" means numpy order, "ne" means GGUF order; the expected safetensors hold numpy-ordered f32 arrays.
* **Quant blocks** run along `ne[0]` (within a row); a row of `ne[0]` elements is `ne[0] / block` consecutive blocks.
* **Offsets**: tensor offsets are relative to the data section, which starts at the first multiple of the alignment
  after the tensor infos (default 32; `general.alignment` u32 overrides). GGUFWriter pads every tensor to the
  alignment, so offsets are the running sum of padded sizes — the only layout ggml accepts.

## Files

{md_table(["file", "bytes"], file_rows)}

Total {total} bytes, plus {sum(e["size"] for e in reject.values()) + sum(e["size"] for e in accept.values())} bytes of
crafted files (and their MANIFEST.json) in `../malformed/gguf/`.

### `types.gguf` + `types.expected.safetensors` (dequantizer goldens)

v3, `general.quantization_version` 2, alignment 32. Source rows (4 × 512 f32, seed {SEED}+1): row 0 N(0, 0.02²); row
1 N(0, 1) with outliers 12, −40, 7.5, 1000, −3000, 0.5, 250, −60000 at columns 0, 31, 32, 100, 255, 256, 300, 511
(block boundaries); row 2 zero for columns 0–287 (a whole 256-block and a 32-block), then alternating zero / N(0, 0.1²),
with an f16 subnormal (3e−6) and a value below f16's range (1e−9); row 3 constant 0.3 (max = min). `q4_0.3d` is
(3, 2, 64) N(0, 0.5²) with a constant −1.75 block. The K-quant tensors (4 × 512 = 8 super-blocks each) are uniform
random bytes (seed {SEED}+100+i) whose f16 `d` (and `dmin`) fields are set, one per block, from
{K_D} (and {K_DMIN}): ordinary, zero, negative, f16-subnormal and large scales. `types.expected.safetensors` holds,
under the same names, `gguf.quants.dequantize` of each tensor as read back by `GGUFReader` (bit-identical to
dequantizing the bytes before writing — checked), F32, numpy shape.

{type_table}

### `metadata.gguf`, `metadata-nested.gguf`, `v2.gguf` + `metadata.expected.json`

`metadata.gguf` (v3, `general.alignment` = 64 u32, one F32 tensor `tensor` (3, 5), data section at offset
{meta["data_offset"]}): one key per value type — `test.uint8` … `test.float64` with extreme values (255, −128, 65535,
−32768, 2³²−1, −2³¹, 2⁶⁴−1, −2⁶³; f32 0.1, −0.0, max, smallest subnormal; f64 π and 5e−324), both bools, strings
(non-ASCII, empty) — and one array per element type (`test.array.*`), including an array of strings with `""`,
non-ASCII, TAB/LF and an embedded NUL, and two **empty** arrays (u32 and string element type). gguf-py's
`GGUFWriter` refuses empty arrays (`add_array` drops them, `_pack_val` raises "Empty array"): the generator's
`FixtureWriter` subclass overrides `_pack_val` for exactly that case (element type + count 0); `GGUFReader` reads them
back as `[]`. `add_string` also silently drops `""`; `add_key_value(key, "", STRING)` writes it.

`metadata-nested.gguf` holds the nested arrays (arrays of arrays of int32 / string, depth 3) that GGUFWriter writes
without complaint. They are in their own file because **ggml rejects any ARRAY element type** (`key … has invalid GGUF
type 9`) while the spec allows nesting: a reader that follows ggml rejects that file (category `unknown_value_type`)
but must still read `metadata.gguf`. `GGUFReader.contents()` **flattens** nested arrays (`[[1,2,3],[4,5],[6]]` →
`[1,2,3,4,5,6]`); the JSON entry carries both `value` (what the reader returns) and `written` (the nesting).

`v2.gguf`: a version-2 file from the raw writer (same layout as v3: u64 counts and lengths; v1 had u32 ones). gguf-py
can only write v3, so the generator writes the same content with GGUFWriter and checks the v2 file differs in the
version field only. `GGUFReader` accepts it (its `READER_SUPPORTED_VERSIONS` is `[2, 3]`); ggml accepts 2 and 3.

`metadata.expected.json`: for each of the three files, in file order, every KV as read back by `GGUFReader` — `key`,
`type` (gguf-py `GGUFValueType` name), `element_type` for arrays, `value`, exact `bits` (hex) for floats, the file
offset of the KV — and every tensor (`ne`, type, offset, `n_bytes`, f32 values), plus alignment, data-section
offset and file size.

### `tiny-llama.gguf`, `tiny-llama-f16.gguf`, `tiny-moe.gguf`, `quantized-llama.gguf` + `round-trips.json`

The `language.*` tensors of `../dialects/canonical-tiny-dense.safetensors` (and `canonical-tiny-moe.safetensors`) in
llama.cpp names, written the way `convert_hf_to_gguf.py` (llama.cpp `conversion/base.py` + `conversion/llama.py`
@0274f0f) does: `general.architecture = llama`, q/k row-permuted, `--outtype f32` (`tiny-llama.gguf`, file type 0) or
`f16` (`tiny-llama-f16.gguf`, file type 1: 2-D weights F16, 1-D norms F32). Every canonical value is f16-exact, so all
three unquantized files import to the canonical f32 bits (checked here through GGUFReader and the un-permutation).

| canonical (mm1conv) | GGUF | numpy shape → ne |
|---|---|---|
| `language.embed_tokens.weight` | `token_embd.weight` | (256, 64) → [64, 256] |
| `language.layers.N.attention_norm.weight` | `blk.N.attn_norm.weight` | (64,) → [64] |
| `language.layers.N.attention.q.weight` | `blk.N.attn_q.weight` **(rows permuted, n_head 4)** | (64, 64) → [64, 64] |
| `language.layers.N.attention.k.weight` | `blk.N.attn_k.weight` **(rows permuted, n_kv_head 2)** | (32, 64) → [64, 32] |
| `language.layers.N.attention.v.weight` | `blk.N.attn_v.weight` | (32, 64) → [64, 32] |
| `language.layers.N.attention.o.weight` | `blk.N.attn_output.weight` | (64, 64) → [64, 64] |
| `language.layers.N.mlp_norm.weight` | `blk.N.ffn_norm.weight` | (64,) → [64] |
| `language.layers.N.mlp.{{gate,up,down}}.weight` | `blk.N.ffn_{{gate,up,down}}.weight` | (128, 64) → [64, 128]; down (64, 128) → [128, 64] |
| `language.layers.N.moe.router.weight` | `blk.N.ffn_gate_inp.weight` (always F32, as convert keeps it) | (4, 64) → [64, 4] |
| `language.layers.N.moe.experts.{{gate,up}}` | `blk.N.ffn_{{gate,up}}_exps.weight` | (4, 128, 64) → [64, 128, 4] |
| `language.layers.N.moe.experts.down` | `blk.N.ffn_down_exps.weight` | (4, 64, 128) → [128, 64, 4] |
| `language.norm.weight` | `output_norm.weight` | (64,) → [64] |
| `language.lm_head.weight` | `output.weight` | (256, 64) → [64, 256] |

**The q/k permutation.** convert_hf_to_gguf's `LlamaModel.permute(W, n_head, n_head_kv)` — applied to `q_proj` with
`n = n_head = 4` and to `k_proj` with `n = n_head_kv = 2` — is
`W.reshape(n, 2, d/2, in).swapaxes(1, 2).reshape(out, in)` with `d = out / n` (= head_dim 16 for both). The importer
undoes it with

    unpermute(G, n) = G.reshape(n, d/2, 2, in).swapaxes(1, 2).reshape(out, in)
    i.e. canonical[h·d + j·(d/2) + i, :] = gguf[h·d + 2·i + j, :]   for h < n, i < d/2, j ∈ {{0, 1}}

on numpy-ordered rows (rows are `ne[1]`, each row the `ne[0] = 64` contiguous elements). Per head, GGUF row order is
0, d/2, 1, d/2+1, …: the rotate-half pairs (i, i+d/2) become adjacent. Because it moves whole rows and quant blocks lie
within rows, it commutes with (de)quantization. The generator checks its numpy version against the verbatim
llama.cpp function on torch tensors (torch {versions["torch"]}).

Metadata, as convert_hf_to_gguf writes it for this LlamaConfig (transformers 5 `to_dict()` carries `head_dim` 16, hence
`key_length`/`value_length`; `rope_type` "default" adds no scaling keys; context length = `max_position_embeddings`):

{md_table(["key (tiny-llama.gguf)", "value"], key_rows)}

plus `tokenizer.ggml.tokens` / `scores` / `token_type` (256 each). The vocabulary is synthetic SentencePiece-style:
0 `<unk>` (type 2 UNKNOWN), 1 `<s>` and 2 `</s>` (3 CONTROL), 3–130 `<0x00>`–`<0x7F>` (6 BYTE), 131–254 `▁a`…, `a`…,
`A`…, `▁A`…, digits, `▁0`… (1 NORMAL, scores −1 … −124), 255 `<image>` (4 USER_DEFINED; the tiny config's image token).
`tiny-llama-f16.gguf` differs only in `general.file_type` 1 and tensor types. `quantized-llama.gguf` has
`general.file_type` 7 (MOSTLY_Q8_0): every 2-D tensor Q8_0 except {", ".join(f"`{g}`" for g in q4)} in Q4_0 (row
lengths 64 and 128 are multiples of 32); norms F32. `quantized-llama.expected.safetensors` holds gguf-py's
dequantized values per tensor under the **GGUF** names, numpy shape, **still permuted** (un-permute `attn_q`/`attn_k`
to compare with the canonical tensors; max |dequantized − canonical| = {q_worst:.4g}).

`tiny-moe.gguf` (F16, file type 1) is the interleaved tiny-moe decoder: dense `ffn_gate/up/down` in blocks 0 and 2,
`ffn_gate_inp` + `ffn_{{gate,up,down}}_exps` in blocks 1 and 3; extra keys {json.dumps(moe_keys, ensure_ascii=False)}.
**llama.cpp itself would not load it** (architecture.md §4.2): its `llama` loader creates either dense or expert
tensors for *every* layer depending on the global `expert_count`, so interleaved sparse/dense layers have no
llama.cpp-loadable form under arch `llama`. This is mm1conv's own layout for round trips; the FFN kind of each block
is given by which tensors it has.

`round-trips.json` lists, per model file, the canonical file and config and, for every GGUF tensor, its canonical
name, ggml type and `unpermute_heads` (4 for `attn_q`, 2 for `attn_k`, else null).

### `../malformed/gguf/` (reject) and `../malformed/gguf/accept/`

Crafted from the valid `../malformed/gguf/accept/base.gguf` (2 KVs; `a` F32 ne [16] at 0; `b` Q4_0 ne [32, 2] at 64) or written byte
by byte; each under {MAX_MALFORMED} bytes. `../malformed/gguf/MANIFEST.json` gives per file the description, the `field` at
fault, the expected error `category`, the `subject` (key or tensor name, or null), what `gguf.GGUFReader` did
(`gguf_py`, run here with a {GGUF_PY_TIMEOUT:g} s limit) and what ggml's `gguf_init_from_file` does (`ggml`: {GGML_REF};
no libggml was available to run it). ggml and gguf-py disagree (one accepts, the other does not) on:
{", ".join(f"`{n}`" for n in disagree)}. Both accept (the category comes from the spec or formats.md, not from a
reference): {", ".join(f"`{n}`" for n in both_accept)}. GGUFReader accepts {len(py_accepts)} of the {len(reject)}
reject cases: it explicitly checks only magic, version, duplicate keys and tensor names, value-type and ggml-type
ids, `general.alignment` (u32, non-zero power of two) and row/block divisibility, and decodes keys and tensor names
as UTF-8; everything else fails, if at all, as an incidental numpy `IndexError`/`ValueError` when a read runs past
EOF (`offset-wraps.gguf`: the offset sum wraps in uint64 and tensor b is read from inside the file).

{md_table(["file", "category", "field", "what", "gguf.GGUFReader", "ggml (source)"], mal_rows)}

Accepted (odd but valid) files, each read back by GGUFReader; `../malformed/gguf/MANIFEST.json` → `accept` lists their
tensors (name, type, ne, offset, bytes), keys, alignment and data offset:

{md_table(["file", "what", "ggml (source)"], acc_rows)}

Decisions a strict reader has to take where the references differ (recorded here, resolved only as the category
column says): a zero in `ne[0]` is accepted by mainline ggml and gguf-py (`accept/zero-elements.gguf`), a zero in
`ne[1..3]` crashes ggml on x86-64 and is rejected on arm64 (`dim-zero-ne1.gguf`, `bad_dimensions`), and the
unmerged ggml fixes would reject both — a reader that rejects every zero dimension should move
`accept/zero-elements.gguf` to the reject side; `n_dims` 0 is a scalar for ggml and gguf-py; ggml requires names
< 64 bytes (the spec ≤ 64); ggml aborts (GGML_ASSERT) on a non-u32 `general.alignment`; ggml checks UTF-8 nowhere
and gguf-py only in keys and tensor names; both accept Q8_1/Q8_K tensors, which formats.md §2.4 says not to accept.

The `gguf_py` column is gguf-py {versions["gguf"]} from PyPI. llama.cpp PR #27188 (merged 2026-08-16, not in that
release) adds string/array/count limits to `GGUFReader`, so later gguf-py versions raise `ValueError` early on the
count/length cases.
"""


def main():
    for folder in (OUT, MAL):
        shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(OUT)
    os.makedirs(MAL)
    check_raw_writer()
    type_rows = make_types()
    meta, nested = make_metadata()
    v2 = make_v2()
    write_json(d("metadata.expected.json"), {"metadata.gguf": meta, "metadata-nested.gguf": nested, "v2.gguf": v2})
    models, qtypes, q_worst, torch_version = make_models()
    reject, accept = make_malformed()

    versions = {"python": sys.version.split()[0], "gguf": gguf_version(), "numpy": np.__version__,
                "safetensors": safetensors.__version__, "torch": torch_version}
    sizes = {}
    for root, _, names in os.walk(OUT):
        for n in names:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, OUT)
            if not rel.startswith("malformed"):
                sizes[rel] = os.path.getsize(p)
    with open(d("README.md"), "w", encoding="utf-8") as f:
        f.write(readme(versions, type_rows, meta, nested, v2, models, qtypes, q_worst, reject, accept, sizes))
    files = {}
    for root, dirs, names in os.walk(OUT):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(root, n)
            os.chmod(p, 0o644)
            files[os.path.relpath(p, OUT)] = sha256_file(p)
    files.pop("MANIFEST.json", None)
    write_json(d("MANIFEST.json"), {"generator": GENERATOR, "seed": SEED, "versions": versions,
                                    "files": dict(sorted(files.items()))})
    os.chmod(d("MANIFEST.json"), 0o644)
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print(f"wrote {len(files) + 1} files under {OUT} ({total / 1e6:.2f} MB): {len(reject)} malformed, "
          f"{len(accept)} accepted odd files")


if __name__ == "__main__":
    main()
