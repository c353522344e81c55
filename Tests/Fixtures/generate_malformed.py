#!/usr/bin/env python3
"""Generate the malformed-input corpus for mm1conv's strict safetensors and sharded-index readers.

Rerun from the repository root (deterministic: same bytes every run; no timestamps, no randomness):

    /opt/mm1py/bin/python Tests/Fixtures/generate_malformed.py

Needs numpy and safetensors (made with safetensors 0.8.0). Replaces, under Tests/Fixtures/malformed/:
  safetensors/<case>.bin        one crafted bad file per rule (design notes formats.md §7.1, S1-S20),
                                built byte by byte: struct.pack('<Q', N) + header bytes + data
  safetensors/expected.json     file -> {"reason": SafetensorsViolation case, "tensor": name or null,
                                "note": the rule, "json": JSONError.Reason case (headerNotJSON only),
                                "ref": what the Rust reference (safetensors.deserialize) does}
  safetensors-accept/*.safetensors + expected.json
                                odd but valid files, with the tensors ([name, dtype, shape], by name)
                                a reader must return; each is checked against the reference here
  index/<case>/                 small sharded checkpoints (index + shards written by
                                safetensors.numpy.save_file) that break an index rule (§7.1 I1-I4)
  index/expected.json           folder -> {"reason": IndexViolation case, "tensor", "note", and for
                                "mismatch" the sorted missingShards / listedButAbsent / presentButUnlisted}
An index over 10 MiB (I1) is not committed: MalformedCorpusTests makes a sparse one at run time.
Expected reasons follow the validation order of Sources/MM1Formats (SafetensorsHeader.swift,
JSON/StrictJSONParser.swift, SafetensorsCheckpoint.swift). Every file stays under 4 KB.
"""
import hashlib
import json
import os
import shutil
import struct

import numpy as np
import safetensors
from safetensors import deserialize, safe_open
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "malformed")
ST = os.path.join(ROOT, "safetensors")
ACCEPT = os.path.join(ROOT, "safetensors-accept")
IX = os.path.join(ROOT, "index")
MAX_FILE = 4096
U64_MAX = 2**64 - 1


# --------------------------------------------------------------------------------------------
# Byte builders


def hdr(obj):
    """Compact JSON header bytes (insertion order kept)."""
    return json.dumps(obj, separators=(",", ":")).encode()


def st(header, data=b"", length=None):
    """8-byte little-endian length N + header bytes + data. `length` overrides N."""
    h = header if isinstance(header, bytes) else hdr(header)
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def e(dtype="F32", shape=(2,), offs=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offs)}


def eb(dtype="F32", shape=(2,), offs=(0, 8)):
    """One entry as bytes, for headers written by hand (duplicate keys, raw numbers)."""
    return hdr(e(dtype, shape, offs))


D8 = bytes(range(8))
D16 = bytes(range(16))


def reference(content):
    """What the Rust reference (safetensors.deserialize) does with the bytes."""
    try:
        deserialize(content)
        return "accepts"
    except Exception as err:  # SafetensorError
        msg = str(err).splitlines()[0].replace("Error while deserializing", "").lstrip(": ")
        return "rejects: " + (msg if len(msg) <= 100 else msg[:97] + "...")


# --------------------------------------------------------------------------------------------
# Malformed safetensors files: name -> (bytes, expectation)

cases = {}


def case(name, content, reason, tensor=None, note="", json_reason=None):
    assert name not in cases, name
    entry = {"reason": reason, "tensor": tensor, "note": note}
    if json_reason is not None:
        assert reason == "headerNotJSON"
        entry["json"] = json_reason
    cases[name] = (content, entry)


# S1 length prefix
case("empty", b"", "truncatedHeaderLength", note="S1 empty file")
case("one_byte", b"\x02", "truncatedHeaderLength", note="S1 1-byte file")
case("seven_bytes", b"\x08\x00\x00\x00\x00\x00\x00", "truncatedHeaderLength", note="S1 7-byte file, shorter than the u64 prefix")
# S2-S4 header length
case("length_zero", st(b""), "headerNotJSON", note="S2 N = 0: empty header", json_reason="empty")
case("length_over_limit", struct.pack("<Q", 100_000_001) + b"{}", "headerTooLarge", note="S3 N = 100,000,001 > MAX_HEADER_SIZE")
case("length_max_u64", struct.pack("<Q", U64_MAX) + b"{}", "headerTooLarge", note="S3 N = 2^64-1 (8+N would overflow); nothing allocated")
case("length_at_limit_past_eof", struct.pack("<Q", 100_000_000) + b"{}", "headerTruncated",
     note="S4 N = 100,000,000 is allowed but runs past EOF")
case("length_past_eof", struct.pack("<Q", 64) + b"{}", "headerTruncated", note="S4 N = 64 in a 10-byte file")
case("length_one_past_eof", struct.pack("<Q", 3) + b"{}", "headerTruncated", note="S4 N one byte longer than the file")
# S5 encoding
case("not_utf8", st(b'{"\xff":1}'), "headerNotJSON", note="S5 byte 0xFF is not UTF-8", json_reason="invalidUTF8")
case("overlong_utf8", st(b'{"\xc0\xaf":1}'), "headerNotJSON", note="S5 overlong UTF-8 encoding of '/'", json_reason="invalidUTF8")
case("surrogate_utf8", st(b'{"\xed\xa0\x80":1}'), "headerNotJSON", note="S5 UTF-8-encoded surrogate (CESU-8)", json_reason="invalidUTF8")
case("truncated_utf8", st(b'{"a":1}\xe2\x82'), "headerNotJSON", note="S5 header ends inside a multi-byte sequence",
     json_reason="invalidUTF8")
case("utf8_bom", st(b"\xef\xbb\xbf{}"), "headerNotJSON", note="S5 UTF-8 BOM before '{' (not JSON whitespace)",
     json_reason="unexpectedByte")
# S6 JSON syntax / top level
case("open_brace_only", st(b"{"), "headerNotJSON", note="S6 '{' only", json_reason="unexpectedEnd")
case("only_whitespace", st(b"    "), "headerNotJSON", note="S6 header of spaces only", json_reason="unexpectedEnd")
case("top_level_array", st(b"[]"), "headerNotObject", note="S6 top level []")
case("top_level_string", st(b'"x"'), "headerNotObject", note='S6 top level "x"')
case("top_level_null", st(b"null"), "headerNotObject", note="S6 top level null")
case("garbage_after_json", st(b"{} x"), "headerNotJSON", note="S6 {} followed by garbage", json_reason="trailingCharacters")
case("nul_padding", st(b"{}\x00\x00\x00\x00\x00\x00"), "headerNotJSON", note="S6 {} padded with NUL instead of spaces",
     json_reason="trailingCharacters")
case("nul_padding_with_tensor", st(b'{"a":' + eb() + b"}" + b"\x00" * 3, D8), "headerNotJSON",
     note="S6 tensor header padded with NUL to a multiple of 8", json_reason="trailingCharacters")
case("trailing_comma", st(b'{"a":' + eb() + b",}", D8), "headerNotJSON", note="S6 trailing comma in the top object",
     json_reason="unexpectedByte")
case("single_quotes", st(b"{'a':1}"), "headerNotJSON", note="S6 single-quoted key", json_reason="unexpectedByte")
case("invalid_escape", st(b'{"a\\x":' + eb() + b"}", D8), "headerNotJSON", note="S6 \\x escape in a name", json_reason="invalidEscape")
case("lone_surrogate_escape", st(b'{"\\ud800":' + eb() + b"}", D8), "headerNotJSON", note="S6 \\ud800 without a low surrogate",
     json_reason="invalidEscape")
case("control_char_in_name", st(b'{"a\nb":' + eb() + b"}", D8), "headerNotJSON", note="S6 raw newline inside a string",
     json_reason="controlCharacterInString")
case("number_trailing_dot", st(b'{"a":{"dtype":"F32","shape":[2.],"data_offsets":[0,8]}}', D8), "headerNotJSON",
     note="S6 '2.' is not a JSON number", json_reason="invalidNumber")
case("number_leading_zero", st(b'{"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}', D8), "headerNotJSON",
     note="S6 '02': leading zero, parser stops after 0", json_reason="unexpectedByte")
case("number_plus_sign", st(b'{"a":{"dtype":"F32","shape":[+2],"data_offsets":[0,8]}}', D8), "headerNotJSON",
     note="S6 '+2' is not a JSON number", json_reason="unexpectedByte")
case("metadata_deep", st(b'{"__metadata__":{"k":' + b"[" * 100 + b"]" * 100 + b"}}"), "headerNotJSON",
     note="arrays nested 100 deep inside __metadata__ (limit 64)", json_reason="nestingTooDeep")
case("metadata_deep_objects", st(b'{"__metadata__":' + b'{"k":' * 100 + b'"v"' + b"}" * 100 + b"}"), "headerNotJSON",
     note="objects nested 101 deep (limit 64)", json_reason="nestingTooDeep")
# Depth counts the top object (1) and __metadata__ (2): 62 arrays reach depth 64, 63 arrays reach 65.
case("metadata_depth_65", st(b'{"__metadata__":{"k":' + b"[" * 63 + b"]" * 63 + b"}}"), "headerNotJSON",
     note="nesting depth 65, one past the limit", json_reason="nestingTooDeep")
case("metadata_depth_64", st(b'{"__metadata__":{"k":' + b"[" * 62 + b"]" * 62 + b"}}"), "invalidMetadata",
     note="nesting depth 64 parses; then the array value is not a string")
# S8 duplicates (caught by the JSON parser, before any entry is looked at)
case("duplicate_identical", st(b'{"a":' + eb() + b',"a":' + eb() + b"}", D8),
     "duplicateTensorName", "a", "S8 duplicate key, identical entries (ref accepts)")
case("duplicate_different", st(b'{"a":' + eb() + b',"a":' + eb(offs=(8, 16)) + b"}", D16),
     "duplicateTensorName", "a", "S8 duplicate key, different entries")
case("duplicate_via_escape", st(b'{"a":' + eb() + b',"\\u0061":' + eb(offs=(8, 16)) + b"}", D16),
     "duplicateTensorName", "a", 'S8 "a" and "\\u0061" are the same name')
many = b",".join(b'"t%d":' % i + eb(shape=(0,), offs=(0, 0)) for i in range(9))
case("duplicate_after_nine", st(b"{" + many + b',"t3":' + eb(shape=(0,), offs=(0, 0)) + b"}"),
     "duplicateTensorName", "t3", "S8 duplicate found through the hashed index (objects of >= 8 members)")
case("entry_duplicate_field", st(b'{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', D8),
     "invalidTensorEntry", "a", "duplicate field inside an entry names its tensor")
case("metadata_duplicate_key", st(b'{"__metadata__":{"k":"x","k":"y"}}'),
     "invalidMetadata", None, "duplicate key inside __metadata__ (ref accepts, keeping the last)")
# S9 __metadata__
case("metadata_string", st({"__metadata__": "x", "a": e()}, D8), "invalidMetadata", note="S9 __metadata__ is a string")
case("metadata_number", st({"__metadata__": 5, "a": e()}, D8), "invalidMetadata", note="S9 __metadata__ is a number")
case("metadata_number_value", st({"__metadata__": {"k": 1}, "a": e()}, D8), "invalidMetadata", note="S9 non-string value")
case("metadata_nested_object", st({"__metadata__": {"k": {"x": "y"}}, "a": e()}, D8), "invalidMetadata",
     note="S9 nested object value")
case("metadata_twice", st(b'{"__metadata__":{},"__metadata__":{}}'), "invalidMetadata", note="S9 __metadata__ twice")
# S10 entries
case("entry_not_object", st({"a": [1, 2]}), "invalidTensorEntry", "a", "S10 entry is an array")
case("entry_null", st({"a": None}), "invalidTensorEntry", "a", "S10 entry is null")
case("entry_missing_dtype", st({"a": {"shape": [2], "data_offsets": [0, 8]}}, D8), "invalidTensorEntry", "a", "S10 no dtype")
case("entry_missing_shape", st({"a": {"dtype": "F32", "data_offsets": [0, 8]}}, D8), "invalidTensorEntry", "a", "S10 no shape")
case("entry_missing_offsets", st({"a": {"dtype": "F32", "shape": [2]}}, D8), "invalidTensorEntry", "a", "S10 no data_offsets")
# S11 dtype
case("dtype_unknown", st({"a": e("Q4")}, D8), "unknownDType", "a", "S11 unknown dtype Q4")
case("dtype_lowercase", st({"a": e("f32")}, D8), "unknownDType", "a", "S11 dtype is case-sensitive (f32)")
case("dtype_number", st({"a": {"dtype": 7, "shape": [2], "data_offsets": [0, 8]}}, D8), "invalidTensorEntry", "a",
     "S11 dtype is a number, not a string")
# S12-S13 shape
case("shape_negative", st({"a": e(shape=(-1,))}, D8), "invalidShape", "a", "S12 dimension -1")
case("shape_float", st(b'{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', D8), "invalidShape", "a", "S12 dimension 2.0")
case("shape_exponent", st(b'{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}', D8), "invalidShape", "a", "S12 dimension 2e0")
case("shape_one_point_zero", st(b'{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', D8[:4]), "invalidShape", "a",
     "S12 dimension 1.0")
case("shape_over_u64", st(b'{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}', D8),
     "invalidShape", "a", "S12 dimension 2^64 does not fit u64")
case("shape_over_i64", st(b'{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}}', D8),
     "sizeOverflow", "a", "S12 dimension 2^63: fits u64, not Int")
case("shape_u64_max", st(b'{"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,8]}}', D8),
     "sizeOverflow", "a", "S12 dimension 2^64-1: fits u64, not Int")
case("shape_string_dim", st({"a": e(shape=("2",))}, D8), "invalidShape", "a", 'S12 dimension "2" is a string')
case("shape_not_array", st({"a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}}, D8), "invalidShape", "a",
     "S12 shape is a number")
case("shape_rank_100", st({"a": e(shape=(1,) * 100, offs=(0, 4))}, D8[:4]), "invalidShape", "a", "S13 rank 100 > maxRank 64")
case("shape_rank_65", st({"a": e(shape=(1,) * 65, offs=(0, 4))}, D8[:4]), "invalidShape", "a", "S13 rank 65, one past maxRank")
# S14 data_offsets
case("offsets_one", st({"a": e(offs=(0,))}, D8), "invalidOffsets", "a", "S14 one offset")
case("offsets_three", st({"a": e(offs=(0, 4, 8))}, D8), "invalidOffsets", "a", "S14 three offsets")
case("offsets_reversed", st({"a": e(offs=(8, 0))}, D8), "invalidOffsets", "a", "S14 begin > end")
case("offsets_negative", st({"a": e(offs=(-8, 0))}, D8), "invalidOffsets", "a", "S14 negative begin")
case("offsets_float", st(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}}', D8), "invalidOffsets", "a",
     "S14 end written 8.0")
case("offsets_over_i64", st({"a": e(offs=(0, 2**63))}, D8), "invalidOffsets", "a", "S14 end 2^63 does not fit Int")
case("offsets_not_array", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": "0,8"}}, D8), "invalidOffsets", "a",
     "S14 data_offsets is a string")
# S15 layout (after every entry passed)
case("gap_at_start", st({"a": e(offs=(4, 12))}, D8 + D8[:4]), "dataGap", "a", "S15 first begin != 0")
case("hole_between", st({"a": e(offs=(0, 8)), "b": e(offs=(12, 20))}, D8 * 3), "dataGap", "b", "S15 hole between tensors")
case("overlap", st({"a": e(offs=(0, 8)), "b": e(offs=(4, 12))}, D8 + D8[:4]), "dataOverlap", "b", "S15 overlapping ranges")
case("same_range", st({"a": e(offs=(0, 8)), "b": e(offs=(0, 8))}, D8), "dataOverlap", "b",
     "S15 two tensors on one range (later name blamed; ref blames a)")
case("zero_size_inside", st({"a": e(offs=(0, 8)), "z": e(shape=(0,), offs=(4, 4))}, D8), "dataOverlap", "z",
     "S15 empty tensor placed inside another")
case("zero_size_after_gap", st({"a": e(offs=(0, 8)), "z": e(shape=(0,), offs=(12, 12))}, D8), "dataGap", "z",
     "S15 empty tensor placed past the end")
# S16-S18 sizes
case("size_overflow", st({"a": e(shape=(2, 2**62), offs=(0, 8))}, D8), "sizeOverflow", "a", "S16 [2, 2^62]: element count overflows")
case("size_overflow_bits", st({"a": e(shape=(2**62,), offs=(0, 8))}, D8), "sizeOverflow", "a",
     "S16 [2^62] F32: element count fits, bits overflow")
case("byte_count_mismatch", st({"a": e(shape=(3,), offs=(0, 8))}, D8), "byteCountMismatch", "a", "S17 span 8 != 3 x 4")
case("byte_count_subbyte", st({"a": e("F4", shape=(4,), offs=(0, 3))}, D8[:3]), "byteCountMismatch", "a",
     "S17 F4 [4] needs 2 bytes, spans 3")
case("f4_odd", st({"a": e("F4", shape=(3,), offs=(0, 2))}, D8[:2]), "misalignedSubByte", "a", "S18 F4 with 3 elements")
case("f6_one", st({"a": e("F6_E2M3", shape=(1,), offs=(0, 1))}, D8[:1]), "misalignedSubByte", "a", "S18 F6_E2M3 with 1 element")
# S19-S20 coverage
case("trailing_bytes", st({"a": e()}, D8 + b"polyglot"), "trailingBytes", note="S19 bytes after the last tensor")
case("trailing_bytes_no_tensors", st(b"{}", b"\x00"), "trailingBytes", note="S19 empty header, one data byte")
case("data_truncated", st({"a": e(shape=(4,), offs=(0, 16))}, D8), "dataTruncated", note="S20 file shorter than last END")
case("data_truncated_by_one", st({"a": e()}, D8[:7]), "dataTruncated", note="S20 last tensor one byte short")
# Order of checks: JSON, then entries in file order (dtype, shape, offsets, sizes), then layout, then coverage.
case("order_duplicate_before_entries", st(b'{"a":' + eb("Q4") + b',"b":' + eb() + b',"b":' + eb() + b"}", D8),
     "duplicateTensorName", "b", "order: duplicates are found while parsing, before a's bad dtype")
case("order_dtype_before_shape", st(b'{"a":{"shape":[-1],"data_offsets":[8,0],"dtype":"Q4"}}', D8), "unknownDType", "a",
     "order: dtype checked before shape and offsets, whatever the field order")
case("order_entries_before_layout", st({"a": e(offs=(4, 12)), "b": e("Q4", offs=(12, 20))}, D16 + D8[:4]), "unknownDType", "b",
     "order: every entry is checked before contiguity (a has a gap)")
case("order_gap_before_trailing", st({"a": e(offs=(4, 12))}, D16), "dataGap", "a", "order: gap reported before trailing bytes")
case("order_count_overflow_before_offsets", st({"a": e(shape=(2, 2**62), offs=(8, 0))}, D8), "sizeOverflow", "a",
     "order: element-count overflow is found with the shape, before offsets (ref: invalid offset)")
case("order_offsets_before_bit_overflow", st({"a": e(shape=(2**62,), offs=(8, 0))}, D8), "invalidOffsets", "a",
     "order: offsets checked before dtype-width overflow")


# --------------------------------------------------------------------------------------------
# Odd but valid files: name -> (bytes, [[name, dtype, shape]] sorted by name, warnings, note)

accept = {}


def accepted(name, content, tensors, note, warnings=0):
    accept[name] = (content, sorted(tensors), warnings, note)


accepted("whitespace_around", st(b' \t\r\n{"a":' + eb() + b"}\r\n\t ", D8), [["a", "F32", [2]]],
         "S7 JSON whitespace (0x20 0x09 0x0D 0x0A) before '{' and after '}'")
accepted("zero_size", st({"a": e(shape=(2, 0), offs=(0, 0)), "b": e("F16", shape=(0, 0), offs=(0, 0)),
                          "c": e(shape=(1,), offs=(0, 4)), "d": e(shape=(0,), offs=(4, 4))}, struct.pack("<f", 0.5)),
         [["a", "F32", [2, 0]], ["b", "F16", [0, 0]], ["c", "F32", [1]], ["d", "F32", [0]]],
         "S21 zero-size tensors [2,0] and [0,0] at offset 0, [0] at the end of the buffer")
accepted("scalar", st({"s": e(shape=(), offs=(0, 4))}, struct.pack("<f", 2.5)), [["s", "F32", []]], "S21 0-rank shape [] = 1 element")
accepted("out_of_order", st({"b": e(offs=(8, 16)), "a": e(offs=(0, 8))}, D16), [["a", "F32", [2]], ["b", "F32", [2]]],
         "offsets listed out of order in the JSON")
accepted("unknown_field", st({"a": {**e(), "extra": 1}}, D8), [["a", "F32", [2]]], "unknown field in an entry: accepted, one warning",
         warnings=1)
MLX_HEADER = (b'{"__metadata__":{"format":"mlx"},"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},'
              b'"f":{"dtype":"F32","shape":[1],"data_offsets":[3,7]}}')
assert (8 + len(MLX_HEADER) + 3) % 4 != 0, "the F32 tensor must start at an unaligned file offset"
accepted("zero_size_huge_dims", st({"a": e(shape=(0, 2**62, 4), offs=(0, 0))}), [["a", "F32", [0, 2**62, 4]]],
         "S16 [0, 2^62, 4] holds 0 elements: the product is 0 before it could overflow, as the reference computes it")
accepted("mlx_unaligned", st(MLX_HEADER, b"\x01\x02\x03" + struct.pack("<f", 1.5)), [["f", "F32", [1]], ["u", "U8", [3]]],
         "S25 MLX-style: unpadded header, F32 after 3 U8 bytes, so unaligned")


# --------------------------------------------------------------------------------------------
# Sharded checkpoints: folder -> (shards, other files) and expectation

index_cases = {}
index_folders = {}
S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
T1, T2, T3 = ("model-0000%d-of-00003.safetensors" % i for i in (1, 2, 3))


def index_case(name, index, shards, reason, tensor=None, note="", extra_files=None, **extra):
    """Records one folder: `index` (dict, raw text, or None for no index), shard name -> tensors,
    other files, and the expectation."""
    assert name not in index_cases, name
    files = {}
    if index is not None:
        files["model.safetensors.index.json"] = (index if isinstance(index, str) else json.dumps(index, indent=2) + "\n").encode()
    files.update(extra_files or {})
    index_folders[name] = (shards, files)
    index_cases[name] = {"reason": reason, "tensor": tensor, "note": note, **extra}


def wm(**weight_map):
    return {"metadata": {"total_size": 16}, "weight_map": weight_map}


good = {S1: ["a"], S2: ["b"]}
# I1 not an index
index_case("not_json", "{weight_map", good, "invalidIndex", note="I1 index is not JSON")
index_case("index_top_level_array", "[]\n", good, "invalidIndex", note="I1 index is a JSON array")
index_case("index_duplicate_key", '{"weight_map": {"a": "%s", "b": "%s", "a": "%s"}}\n' % (S1, S2, S1), good, "invalidIndex",
           note="I1 tensor listed twice in weight_map (strict JSON: duplicate key)")
index_case("no_weight_map", {"metadata": {"total_size": 16}}, good, "invalidIndex", note="I1 no weight_map")
index_case("weight_map_not_object", {"weight_map": [S1, S2]}, good, "invalidIndex", note="I1 weight_map is an array")
index_case("weight_map_number", wm(a=S1, b=1), good, "invalidIndex", "b", "I1 weight_map value is a number")
index_case("weight_map_null_value", wm(a=S1, b=None), good, "invalidIndex", "b", "I1 weight_map value is null")
# I2 unsafe shard names (a good shard is listed first: every name is checked, not only the first)
index_case("absolute_shard", wm(a=S1, b="/etc/passwd.safetensors"), good, "unsafeShardPath", note="I2 absolute shard path")
index_case("dotdot_shard", wm(a=S1, b="../" + S2), good, "unsafeShardPath", note="I2 shard name starts with ..")
index_case("dotdot_inside_shard", wm(a=S1, b="sub/../" + S2), good, "unsafeShardPath", note="I2 .. in the middle")
index_case("backslash_shard", wm(a=S1, b="sub\\" + S2), good, "unsafeShardPath", note="I2 backslash in a shard name")
index_case("unc_shard", wm(a=S1, b="\\\\server\\share\\" + S2), good, "unsafeShardPath", note="I2 UNC path")
index_case("drive_letter_shard", wm(a=S1, b="C:x.safetensors"), good, "unsafeShardPath", note="I2 drive-relative C:x.safetensors")
index_case("empty_shard_name", wm(a=S1, b=""), good, "unsafeShardPath", note="I2 empty shard name")
index_case("nul_in_shard_name", wm(a=S1, b=S2 + "\u0000.safetensors"), good, "unsafeShardPath", note="I2 NUL in a shard name")
index_case("double_slash_shard", wm(a=S1, b="sub//" + S2), good, "unsafeShardPath", note="I2 empty path component")
# I3 other formats
index_case("bin_shard", wm(a=S1, b="pytorch_model-00002-of-00002.bin"), good, "unexpectedShardFormat",
           note="I3 .bin shard behind a safetensors index")
# I4 index and shards disagree: everything in one report
index_case("mismatch_everything", wm(a=T1, b=T1, c=T2, moved=T1, z=T3), {T1: ["a", "extra"], T2: ["c", "moved"]}, "mismatch",
           note="I4 shard 3 missing; b absent from shard 1; extra unlisted; moved listed in 1, found in 2",
           missingShards=[T3], listedButAbsent=[["b", T1], ["moved", T1]], presentButUnlisted=[["extra", T1], ["moved", T2]])
index_case("tensor_in_two_shards", wm(a=S1, b=S2), {S1: ["a", "b"], S2: ["b"]}, "mismatch",
           note="I4 tensor b present in two shards: the copy the index does not name is reported with the rest",
           missingShards=[], listedButAbsent=[], presentButUnlisted=[["b", S1]])
index_case("empty_weight_map", wm(), good, "invalidIndex", note="I1 weight_map is empty")
index_case("subfolder_shard", wm(a=S1, b="sub/" + S2), good, "unsafeShardPath", note="I2 shard in a subfolder")
index_case("symlink_escape", wm(a=S1, b=S2), {S1: ["a"]}, "unsafeShardPath",
           note="I2 shard is a symbolic link out of the checkpoint's folder",
           symlinks={S2: "../absolute_shard/" + S2})
index_case("tensor_in_two_files_no_index", None, {S1: ["a", "b"], S2: ["b"]}, "tensorInSeveralFiles", "b",
           "I4 unindexed folder, tensor b in two files", files=[S1, S2])
# Folder level
index_case("ambiguous_index", wm(a=S1, b=S2), good, "ambiguousIndex", note="two *.safetensors.index.json in one folder",
           extra_files={"model.fp16.safetensors.index.json": (json.dumps(wm(a=S1, b=S2), indent=2) + "\n").encode()},
           files=["model.fp16.safetensors.index.json", "model.safetensors.index.json"])
index_case("no_checkpoint", None, {}, "noCheckpointFound", note="folder without an index or a .safetensors file",
           extra_files={"config.json": b"{}\n"})


# --------------------------------------------------------------------------------------------
# Writing, with self-checks against the reference


def write_shard(folder, name, tensors):
    arrays = {k: np.full((2,), i + 1, dtype=np.float32) for i, k in enumerate(tensors)}
    save_file(arrays, os.path.join(folder, name), metadata={"format": "pt"})


def check_mismatch(folder, expected):
    """Recompute the mismatch report from what the shards contain, as SafetensorsCheckpoint does."""
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        index = json.load(f)["weight_map"]
    contents = {}
    for shard in sorted(set(index.values())):
        path = os.path.join(folder, shard)
        if os.path.exists(path):
            with safe_open(path, "np") as f:
                contents[shard] = set(f.keys())
    missing = sorted(s for s in set(index.values()) if s not in contents)
    absent = sorted([t, s] for t, s in index.items() if s in contents and t not in contents[s])
    unlisted = sorted([t, s] for s, ts in contents.items() for t in ts if index.get(t) != s)
    got = (missing, absent, unlisted)
    assert got == (expected["missingShards"], expected["listedButAbsent"], expected["presentButUnlisted"]), got


def build_index_folder(name):
    shards, files = index_folders[name]
    folder = os.path.join(IX, name)
    os.makedirs(folder)
    for shard_name, tensors in shards.items():
        write_shard(folder, shard_name, tensors)
    for file_name, content in files.items():
        with open(os.path.join(folder, file_name), "wb") as f:
            f.write(content)
    for link, target in index_cases[name].pop("symlinks", {}).items():
        os.symlink(target, os.path.join(folder, link))
    for file_name in os.listdir(folder):
        if os.path.islink(os.path.join(folder, file_name)):
            continue
        assert os.path.getsize(os.path.join(folder, file_name)) < MAX_FILE, (name, file_name)
    if index_cases[name]["reason"] == "mismatch":
        check_mismatch(folder, index_cases[name])


def dump(path, obj):
    with open(path, "wb") as f:
        f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def main():
    for folder in (ST, ACCEPT, IX):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)

    expected = {}
    for name, (content, entry) in cases.items():
        assert len(content) < MAX_FILE, name
        with open(os.path.join(ST, name + ".bin"), "wb") as f:
            f.write(content)
        expected[name + ".bin"] = {**entry, "ref": reference(content)}
    dump(os.path.join(ST, "expected.json"), expected)

    expected = {}
    for name, (content, tensors, warnings, note) in accept.items():
        assert len(content) < MAX_FILE, name
        ref = sorted([k, v["dtype"], v["shape"]] for k, v in deserialize(content))
        assert ref == tensors, (name, ref, tensors)
        with open(os.path.join(ACCEPT, name + ".safetensors"), "wb") as f:
            f.write(content)
        expected[name + ".safetensors"] = {"tensors": tensors, "warnings": warnings, "note": note}
    dump(os.path.join(ACCEPT, "expected.json"), expected)

    for name in index_cases:
        build_index_folder(name)
    dump(os.path.join(IX, "expected.json"), index_cases)

    digest = hashlib.sha256()
    count = 0
    for root, dirs, names in os.walk(ROOT):
        dirs.sort()
        for n in sorted(names):
            path = os.path.join(root, n)
            with open(path, "rb") as f:
                digest.update(os.path.relpath(path, ROOT).encode() + b"\0" + f.read() + b"\0")
            count += 1
    print(f"{len(cases)} malformed safetensors files, {len(accept)} accepted files, {len(index_cases)} index cases; "
          f"{count} files, corpus sha256 {digest.hexdigest()} (safetensors {safetensors.__version__})")


if __name__ == "__main__":
    main()
