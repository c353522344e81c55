#!/usr/bin/env python3
"""Generate the malformed-input corpus for mm1conv's safetensors and sharded-index readers.

Deterministic; rerun with `python Tests/Fixtures/generate_malformed.py` (needs numpy, safetensors).
Writes malformed/safetensors/<case>.bin and malformed/index/<case>/ folders, each with an
expected.json mapping the case to the rule it breaks ("reason", as the Swift enum case is spelled),
the tensor the error must name, and for JSON syntax errors the JSON reason. Bad files are built
byte by byte (8-byte little-endian length + header + data); valid shards by safetensors.numpy.
"""
import json
import os
import shutil
import struct

import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ST = os.path.join(HERE, "malformed", "safetensors")
IX = os.path.join(HERE, "malformed", "index")


def st(header, data=b"", length=None):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def e(dtype="F32", shape=(2,), offs=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offs)}


D8 = bytes(range(8))
cases = {}


def case(name, content, reason, tensor=None, note="", json_reason=None):
    cases[name] = (content, {"reason": reason, "tensor": tensor, "note": note, **({"json": json_reason} if json_reason else {})})


case("empty", b"", "truncatedHeaderLength", note="S1 empty file")
case("seven_bytes", b"\x08\x00\x00\x00\x00\x00\x00", "truncatedHeaderLength", note="S1 shorter than the length prefix")
case("length_zero", st(b""), "headerNotJSON", note="S2 N = 0", json_reason="empty")
case("length_over_limit", struct.pack("<Q", 100_000_001) + b"{}", "headerTooLarge", note="S3 N = 100,000,001")
case("length_max_u64", struct.pack("<Q", 2**64 - 1) + b"{}", "headerTooLarge", note="S3 N = 2^64-1, nothing allocated")
case("length_past_eof", struct.pack("<Q", 64) + b"{}", "headerTruncated", note="S4 header runs past EOF")
case("not_utf8", st(b'{"\xff":1}'), "headerNotJSON", note="S5 invalid UTF-8", json_reason="invalidUTF8")
case("utf8_bom", st(b"\xef\xbb\xbf{}"), "headerNotJSON", note="S5 BOM", json_reason="unexpectedByte")
case("open_brace_only", st(b"{"), "headerNotJSON", note="S6 '{' only", json_reason="unexpectedEnd")
case("top_level_array", st(b"[]"), "headerNotObject", note="S6 top level []")
case("top_level_string", st(b'"x"'), "headerNotObject", note="S6 top level string")
case("garbage_after_json", st(b"{} x"), "headerNotJSON", note="S6 trailing garbage", json_reason="trailingCharacters")
case("nul_padding", st(b"{}\x00\x00"), "headerNotJSON", note="S6 NUL padding", json_reason="trailingCharacters")
case("duplicate_identical", st(b'{"a":' + json.dumps(e()).encode() + b',"a":' + json.dumps(e()).encode() + b"}", D8),
     "duplicateTensorName", "a", "S8 duplicate key, identical entries")
case("duplicate_different", st(b'{"a":' + json.dumps(e()).encode() + b',"a":' + json.dumps(e(offs=(8, 16))).encode() + b"}", D8 * 2),
     "duplicateTensorName", "a", "S8 duplicate key, different entries")
case("metadata_string", st({"__metadata__": "x", "a": e()}, D8), "invalidMetadata", note="S9 __metadata__ is a string")
case("metadata_number_value", st({"__metadata__": {"k": 1}, "a": e()}, D8), "invalidMetadata", note="S9 non-string value")
case("metadata_twice", st(b'{"__metadata__":{},"__metadata__":{}}'), "invalidMetadata", note="S9 __metadata__ twice")
case("metadata_deep", st(b'{"__metadata__":{"k":' + b"[" * 100 + b"]" * 100 + b"}}"), "headerNotJSON",
     note="nesting 100 deep", json_reason="nestingTooDeep")
case("entry_not_object", st({"a": [1, 2]}), "invalidTensorEntry", "a", "S10 entry is an array")
case("entry_missing_dtype", st({"a": {"shape": [2], "data_offsets": [0, 8]}}, D8), "invalidTensorEntry", "a", "S10 no dtype")
case("entry_missing_shape", st({"a": {"dtype": "F32", "data_offsets": [0, 8]}}, D8), "invalidTensorEntry", "a", "S10 no shape")
case("entry_missing_offsets", st({"a": {"dtype": "F32", "shape": [2]}}, D8), "invalidTensorEntry", "a", "S10 no data_offsets")
case("entry_duplicate_field", st(b'{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', D8),
     "invalidTensorEntry", note="duplicate field inside an entry")
case("dtype_unknown", st({"a": e("Q4")}, D8), "unknownDType", "a", "S11 unknown dtype")
case("dtype_lowercase", st({"a": e("f32")}, D8), "unknownDType", "a", "S11 lowercase dtype")
case("dtype_number", st({"a": {"dtype": 7, "shape": [2], "data_offsets": [0, 8]}}, D8), "unknownDType", "a", "S11 dtype not a string")
case("shape_negative", st({"a": e(shape=(-1,))}, D8), "invalidShape", "a", "S12 shape -1")
case("shape_float", st(b'{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', D8), "invalidShape", "a", "S12 shape 2.0")
case("shape_exponent", st(b'{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}', D8), "invalidShape", "a", "S12 shape 2e0")
case("shape_over_u64", st(b'{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}', D8),
     "invalidShape", "a", "S12 dimension > u64")
case("shape_over_i64", st(b'{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}}', D8),
     "sizeOverflow", "a", "S12 dimension > i64 max")
case("shape_rank_100", st({"a": e(shape=(1,) * 100, offs=(0, 4))}, D8[:4]), "invalidShape", "a", "S13 rank 100")
case("offsets_one", st({"a": e(offs=(0,))}, D8), "invalidOffsets", "a", "S14 one offset")
case("offsets_three", st({"a": e(offs=(0, 4, 8))}, D8), "invalidOffsets", "a", "S14 three offsets")
case("offsets_reversed", st({"a": e(offs=(8, 0))}, D8), "invalidOffsets", "a", "S14 begin > end")
case("offsets_negative", st({"a": e(offs=(-8, 0))}, D8), "invalidOffsets", "a", "S14 negative offset")
case("gap_at_start", st({"a": e(offs=(4, 12))}, D8 + D8[:4]), "dataGap", "a", "S15 first begin != 0")
case("hole_between", st({"a": e(offs=(0, 8)), "b": e(offs=(12, 20))}, D8 * 3), "dataGap", "b", "S15 hole")
case("overlap", st({"a": e(offs=(0, 8)), "b": e(offs=(4, 12))}, D8 + D8[:4]), "dataOverlap", "b", "S15 overlap")
case("same_range", st({"a": e(offs=(0, 8)), "b": e(offs=(0, 8))}, D8), "dataOverlap", "b", "S15 two tensors, one range")
case("size_overflow", st({"a": e(shape=(2, 2**62), offs=(0, 8))}, D8), "sizeOverflow", "a", "S16 product overflows")
case("byte_count_mismatch", st({"a": e(shape=(3,), offs=(0, 8))}, D8), "byteCountMismatch", "a", "S17 span != shape x size")
case("f4_odd", st({"a": e("F4", shape=(3,), offs=(0, 2))}, D8[:2]), "misalignedSubByte", "a", "S18 F4 odd count")
case("trailing_bytes", st({"a": e()}, D8 + b"polyglot"), "trailingBytes", note="S19 bytes after the last tensor")
case("data_truncated", st({"a": e(shape=(4,), offs=(0, 16))}, D8), "dataTruncated", note="S20 file shorter than last end")

accept = {
    "whitespace_around": (st(b' \t\n{"a":' + json.dumps(e()).encode() + b"}\r\n ", D8), [["a", "F32", [2]]]),
    "zero_size": (st({"a": e(shape=(2, 0), offs=(0, 0)), "b": e("F16", shape=(0, 0), offs=(0, 0))}), [["a", "F32", [2, 0]], ["b", "F16", [0, 0]]]),
    "scalar": (st({"s": e(shape=(), offs=(0, 4))}, D8[:4]), [["s", "F32", []]]),
    "out_of_order": (st({"b": e(offs=(8, 16)), "a": e(offs=(0, 8))}, D8 * 2), [["a", "F32", [2]], ["b", "F32", [2]]]),
    "unknown_field": (st({"a": {**e(), "extra": 1}}, D8), [["a", "F32", [2]]]),
    "mlx_unaligned": (st(b'{"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"f":{"dtype":"F32","shape":[1],"data_offsets":[3,7]}}',
                         b"\x01\x02\x03" + struct.pack("<f", 1.5)), [["f", "F32", [1]], ["u", "U8", [3]]]),
}

for folder in (ST, IX, os.path.join(HERE, "malformed", "safetensors-accept")):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
for name, (content, meta) in cases.items():
    open(os.path.join(ST, name + ".bin"), "wb").write(content)
json.dump({k + ".bin": v[1] for k, v in cases.items()}, open(os.path.join(ST, "expected.json"), "w"), indent=2, sort_keys=True)
A = os.path.join(HERE, "malformed", "safetensors-accept")
for name, (content, tensors) in accept.items():
    open(os.path.join(A, name + ".safetensors"), "wb").write(content)
json.dump({k + ".safetensors": {"tensors": v[1]} for k, v in accept.items()}, open(os.path.join(A, "expected.json"), "w"), indent=2, sort_keys=True)

# Sharded checkpoints whose index is wrong.
index_cases = {}


def shard(folder, name, tensors):
    save_file({k: np.full((2,), i, dtype=np.float32) for i, k in enumerate(tensors)}, os.path.join(folder, name), metadata={"format": "pt"})


def index_case(name, index, shards, reason, **extra):
    folder = os.path.join(IX, name)
    os.makedirs(folder)
    for shard_name, tensors in shards.items():
        shard(folder, shard_name, tensors)
    text = index if isinstance(index, str) else json.dumps(index, indent=2, sort_keys=True)
    open(os.path.join(folder, "model.safetensors.index.json"), "w").write(text)
    index_cases[name] = {"reason": reason, **extra}


S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
good = {S1: ["a"], S2: ["b"]}
index_case("no_weight_map", {"metadata": {}}, good, "invalidIndex")
index_case("weight_map_not_object", {"weight_map": [S1]}, good, "invalidIndex")
index_case("weight_map_number", {"weight_map": {"a": 1}}, good, "invalidIndex")
index_case("not_json", "{weight_map", good, "invalidIndex")
index_case("absolute_shard", {"weight_map": {"a": "/etc/passwd.safetensors"}}, good, "unsafeShardPath")
index_case("dotdot_shard", {"weight_map": {"a": "../model.safetensors"}}, good, "unsafeShardPath")
index_case("backslash_shard", {"weight_map": {"a": "sub\\model.safetensors"}}, good, "unsafeShardPath")
index_case("drive_letter_shard", {"weight_map": {"a": "C:model.safetensors"}}, good, "unsafeShardPath")
index_case("bin_shard", {"weight_map": {"a": "pytorch_model.bin"}}, good, "unexpectedShardFormat")
index_case("mismatch_everything",
           {"weight_map": {"a": S1, "b": S1, "c": S2, "z": "model-00003-of-00003.safetensors"}},
           {S1: ["a", "extra"], S2: ["c"]}, "mismatch",
           missingShards=["model-00003-of-00003.safetensors"], listedButAbsent=[["b", S1]], presentButUnlisted=[["extra", S1]])
index_case("tensor_in_two_shards", {"weight_map": {"a": S1, "b": S2}}, {S1: ["a", "b"], S2: ["b"]}, "tensorInSeveralFiles")
json.dump(index_cases, open(os.path.join(IX, "expected.json"), "w"), indent=2, sort_keys=True)
print(f"{len(cases)} malformed safetensors files, {len(accept)} accepted, {len(index_cases)} index cases")
