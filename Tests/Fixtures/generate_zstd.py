#!/usr/bin/env python3
"""Generate mm1conv's zstd input fixtures (design notes formats.md §5.4, §6, §7.5) under Tests/Fixtures/zstd/.

Rerun from anywhere (deterministic: same bytes every run for a given zstandard/libzstd version; no timestamps,
no randomness except seeded):

    /opt/mm1py/bin/python Tests/Fixtures/generate_zstd.py

Needs zstandard (made with python-zstandard 0.25.0 = libzstd 1.5.7: `/opt/mm1py/bin/pip install zstandard==0.25.0`),
safetensors (0.8: its serializer merges the bf16 shards of Samples/tiny-mm1 and Samples/tiny-llama into one file, the
bytes safetensors.torch.save writes) and numpy. Another libzstd version
may compress to different (equally valid) bytes; the decompressed SHA-256 in MANIFEST.json does not change.

Writes:
  tiny-mm1/tiny-mm1.safetensors.zst   the 138 bf16 tensors of Samples/tiny-mm1's 3 shards as ONE safetensors file
                                      (safetensors' serializer), zstd level 10, checksum, content size in the header;
  tiny-mm1/config.json                Samples/tiny-mm1/config.json, copied
  tiny-llama/                         Samples/tiny-llama's tensors as one safetensors file (smaller, to keep the folder
                                      small), in four framings: model.bin (zstd, no .zst name), a two-frame file, a
                                      streamed frame without content size, a skippable frame before the frame;
                                      + its config.json
  ../malformed/zstd/*.zst + MANIFEST.json     one defect per file, the expected error category, and what python-zstandard says
  MANIFEST.json, README.md            SHA-256 of every file, frame layouts, decompressed sizes and hashes; the tables
Frames that no compressor writes (huge windows, lying content sizes, reserved bits) are built byte by byte
following RFC 8878 §3.1.1.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys

import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "zstd")
BAD = os.path.join(HERE, "malformed", "zstd")
GENERATOR = "Tests/Fixtures/generate_zstd.py"
SEED = 20260421
MAGIC = b"\x28\xb5\x2f\xfd"            # 0xFD2FB528 little-endian
SKIPPABLE_MAGIC = 0x184D2A50          # ..0x184D2A5F
PROBE_CAP = 64 << 20                  # the probe stops reading after 64 MiB of output
PROBE_MEMORY = 4 << 30                # and runs with RLIMIT_AS = 4 GiB (a 1 TB allocation fails the same way everywhere)


# ---------------------------------------------------------------------------------------------------------------
# Payloads


SAFETENSORS_DTYPE_NAMES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "I64": "int64",
                           "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def read_safetensors(data):
    """{name: (dtype, shape, bytes)} and the metadata of a safetensors file, read byte by byte."""
    n = struct.unpack_from("<Q", data)[0]
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items()}, metadata


def merged_safetensors(folder):
    """All tensors of a sharded checkpoint as one safetensors file (bytes), written by safetensors' own serializer
    from the shards' raw bytes (the bytes safetensors.torch.save writes for the same tensors, without torch)."""
    import numpy as np
    from safetensors import TensorSpec, serialize

    index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
    tensors = {}
    for shard in sorted(set(index["weight_map"].values())):
        tensors.update(read_safetensors(open(os.path.join(folder, shard), "rb").read())[0])
    assert sorted(tensors) == sorted(index["weight_map"])
    buffers = {k: np.frombuffer(raw, dtype=np.uint8).copy() for k, (_, _, raw) in tensors.items()}  # alive while serialized
    specs = {k: TensorSpec(dtype=SAFETENSORS_DTYPE_NAMES[dtype], shape=tuple(shape), data_ptr=buffers[k].ctypes.data,
                           data_len=buffers[k].nbytes) for k, (dtype, shape, _) in tensors.items()}
    data = bytes(serialize(specs, metadata={"format": "pt"}))
    again, metadata = read_safetensors(data)  # self-check: exactly the shards' tensors, bit for bit
    assert again == tensors and metadata == {"format": "pt"}
    return data, len(tensors)


def small_safetensors():
    """A 2-tensor safetensors file (928 bytes): 'a' F32 arange(128) (compressible), 'b' F32 seeded noise (64)."""
    import numpy as np
    from safetensors.numpy import save
    rng = np.random.default_rng(SEED)
    return save({"a": np.arange(128, dtype=np.float32), "b": rng.standard_normal(64).astype(np.float32)},
                metadata={"format": "pt"})


# ---------------------------------------------------------------------------------------------------------------
# Frame building and parsing (RFC 8878 §3.1.1)


def compress(data, level=10, checksum=True, content_size=True):
    return zstandard.ZstdCompressor(level=level, write_checksum=checksum, write_content_size=content_size).compress(data)


def compress_streamed(data, level=10, checksum=True, piece=65536):
    """stream_writer with no size given: the frame header has no Frame_Content_Size (a pipe / `zstd -` writes this)."""
    sink = io.BytesIO()
    with zstandard.ZstdCompressor(level=level, write_checksum=checksum).stream_writer(sink, closefd=False) as w:
        for i in range(0, len(data), piece):
            w.write(data[i:i + piece])
    return sink.getvalue()


def xxh64_low32(content):
    """Content_Checksum of `content` (low 32 bits of XXH64, seed 0), taken from a frame libzstd writes."""
    return compress(content, level=1, checksum=True)[-4:]


def skippable(payload, nibble=0):
    return struct.pack("<II", SKIPPABLE_MAGIC + nibble, len(payload)) + payload


def block_header(last, btype, size):
    value = (size << 3) | (btype << 1) | int(last)
    return struct.pack("<I", value)[:3]


def frame(content, window_byte=None, fcs=None, fcs_field=None, checksum=True, dict_id=None, reserved_bit=False,
          blocks=None):
    """A frame made by hand. window_byte None => Single_Segment (no Window_Descriptor, window = content size).
    fcs: the Frame_Content_Size to declare (default len(content)); fcs_field: its width 0/1/2/4/8 bytes (default: the
    smallest that fits; 0 = absent, only without Single_Segment). blocks: block bytes, headers included (default:
    content in raw blocks of <= 128 KiB). The checksum, if any, is that of `content`."""
    fcs = len(content) if fcs is None else fcs
    single = window_byte is None
    if fcs_field is None:
        fcs_field = 1 if fcs < 256 and single else 2 if 256 <= fcs < 65536 + 256 else 4 if fcs < 2 ** 32 else 8
    assert fcs_field != 1 or single, "a 1-byte Frame_Content_Size exists only with Single_Segment"
    assert fcs_field != 0 or not single, "Single_Segment needs a Frame_Content_Size"
    fcs_flag = {0: 0, 1: 0, 2: 1, 4: 2, 8: 3}[fcs_field]
    if dict_id is None:
        did_flag, did = 0, b""
    elif dict_id < 256:
        did_flag, did = 1, struct.pack("<B", dict_id)
    else:
        did_flag, did = 3, struct.pack("<I", dict_id)
    fhd = (fcs_flag << 6) | (int(single) << 5) | (int(reserved_bit) << 3) | (int(checksum) << 2) | did_flag
    out = MAGIC + bytes([fhd]) + (b"" if single else bytes([window_byte])) + did
    if fcs_field == 2:
        out += struct.pack("<H", fcs - 256)
    elif fcs_field:
        out += struct.pack({1: "<B", 4: "<I", 8: "<Q"}[fcs_field], fcs)
    if blocks is None:
        pieces = [content[i:i + 131072] for i in range(0, len(content), 131072)] or [b""]
        blocks = [block_header(i == len(pieces) - 1, 0, len(p)) + p for i, p in enumerate(pieces)]
    out += b"".join(blocks)
    if checksum:
        out += xxh64_low32(content)
    return out


def window_size(window_byte):
    exponent, mantissa = window_byte >> 3, window_byte & 7
    base = 1 << (10 + exponent)
    return base + (base // 8) * mantissa


def layout(data):
    """Describe the frames of a (valid) stream: offsets, header fields, blocks."""
    frames, pos = [], 0
    while pos < len(data):
        magic = struct.unpack_from("<I", data, pos)[0]
        if SKIPPABLE_MAGIC <= magic <= SKIPPABLE_MAGIC + 15:
            size = struct.unpack_from("<I", data, pos + 4)[0]
            frames.append({"offset": pos, "kind": "skippable", "magic": f"0x{magic:08X}", "user_data_bytes": size})
            pos += 8 + size
            continue
        assert data[pos:pos + 4] == MAGIC
        fhd = data[pos + 4]
        single, checksum, did_flag, fcs_flag = (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3, fhd >> 6
        p = pos + 5
        window = None
        if not single:
            window = window_size(data[p])
            p += 1
        p += [0, 1, 2, 4][did_flag]
        fcs_bytes = [1 if single else 0, 2, 4, 8][fcs_flag]
        fcs = None
        if fcs_bytes:
            fcs = int.from_bytes(data[p:p + fcs_bytes], "little") + (256 if fcs_bytes == 2 else 0)
        p += fcs_bytes
        entry = {"offset": pos, "kind": "zstd", "header_bytes": p - pos, "single_segment": bool(single),
                 "window_size": window if window is not None else fcs, "content_size": fcs,
                 "checksum": bool(checksum), "blocks": []}
        while True:
            bh = int.from_bytes(data[p:p + 3], "little")
            last, btype, size = bh & 1, (bh >> 1) & 3, bh >> 3
            stored = 1 if btype == 1 else size
            entry["blocks"].append({"offset": p, "type": ["raw", "rle", "compressed", "reserved"][btype],
                                    "size": size, "stored_bytes": stored})
            p += 3 + stored
            if last:
                break
        if checksum:
            entry["checksum_offset"] = p
            p += 4
        entry["end"] = p
        frames.append(entry)
        pos = p
    return frames


# ---------------------------------------------------------------------------------------------------------------
# What python-zstandard does with a file (run in a child process with a memory limit)


def _short(err):
    return f"{type(err).__name__}: {err}".strip().rstrip(":")


def probe(path):
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (PROBE_MEMORY, PROBE_MEMORY))
    data = open(path, "rb").read()
    result = {}
    try:
        p = zstandard.get_frame_parameters(data)
        cs = "unknown" if p.content_size == zstandard.CONTENTSIZE_UNKNOWN else p.content_size
        result["get_frame_parameters"] = (f"content_size {cs}, window_size {p.window_size}, dict_id {p.dict_id}, "
                                          f"has_checksum {p.has_checksum}")
    except Exception as err:
        result["get_frame_parameters"] = _short(err)
    try:
        out = zstandard.ZstdDecompressor().decompress(data)
        result["decompress"] = f"ok, {len(out)} bytes (first frame only), sha256 {hashlib.sha256(out).hexdigest()[:16]}…"
    except BaseException as err:  # MemoryError included
        result["decompress"] = _short(err)
    for across in (False, True):
        key = "stream_reader" + ("(read_across_frames=True)" if across else "")
        n, h = 0, hashlib.sha256()
        try:
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=across) as r:
                while True:
                    chunk = r.read(1 << 20)
                    if not chunk:
                        result[key] = f"ok, {n} bytes, sha256 {h.hexdigest()[:16]}…"
                        break
                    n += len(chunk)
                    h.update(chunk)
                    if n >= PROBE_CAP:
                        result[key] = f"still producing output after {n} bytes (probe stopped)"
                        break
        except BaseException as err:
            result[key] = f"{_short(err)} (after {n} bytes of output)"
    print(json.dumps(result))


def python_zstandard_says(path):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--probe", path], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


# ---------------------------------------------------------------------------------------------------------------
# Malformed corpus

CASES = {}


def case(name, content, category, description, **extra):
    assert name not in CASES
    CASES[name] = (content, dict({"category": category, "description": description}, **extra))


def first_flip_caught_by_decoder(data, start, end):
    """First offset in [start, end) whose inverted byte makes libzstd report corruption (not a checksum mismatch)."""
    for off in range(start, end):
        try:
            zstandard.ZstdDecompressor().decompress(data[:off] + bytes([data[off] ^ 0xFF]) + data[off + 1:])
        except zstandard.ZstdError as err:
            if "corruption" in str(err).lower():
                return off
    raise AssertionError("no single-byte inversion is caught by the decoder")


def build_malformed():
    inner = small_safetensors()
    good = compress(inner, level=19, checksum=True)
    lay = layout(good)[0]
    assert lay["blocks"][0]["type"] == "compressed" and len(lay["blocks"]) == 1, lay
    hdr, blk = lay["header_bytes"], lay["blocks"][0]
    blk_end = blk["offset"] + 3 + blk["stored_bytes"]
    base = (f"a level-19 frame of a {len(inner)}-byte safetensors file ({len(good)} bytes: {hdr}-byte header, one "
            f"compressed block of {blk['stored_bytes']} bytes at {blk['offset']}, checksum at {lay['checksum_offset']})")
    extras = {"inner_bytes": len(inner), "inner_sha256": hashlib.sha256(inner).hexdigest()}

    # truncated
    case("truncated-mid-header.zst", good[:5], "truncated",
         f"{base}, cut after 5 bytes: magic + Frame_Header_Descriptor, the Frame_Content_Size field missing", **extras)
    case("truncated-after-header.zst", good[:hdr], "truncated",
         f"{base}, cut after the {hdr}-byte frame header: no block", **extras)
    case("truncated-mid-block.zst", good[:blk["offset"] + 3 + blk["stored_bytes"] // 2], "truncated",
         f"{base}, cut in the middle of the compressed block", **extras)
    case("truncated-before-checksum.zst", good[:blk_end], "truncated",
         f"{base}, cut after the last block: the 4-byte Content_Checksum missing", **extras)
    case("truncated-mid-checksum.zst", good[:blk_end + 2], "truncated", f"{base}, cut 2 bytes into the checksum", **extras)
    # corrupt / checksum
    flip = first_flip_caught_by_decoder(good, blk["offset"] + 3, blk["offset"] + 3 + blk["stored_bytes"])
    case("corrupt-compressed-block.zst", good[:flip] + bytes([good[flip] ^ 0xFF]) + good[flip + 1:], "corrupt",
         f"{base}, byte {flip} (inside the compressed block) inverted: the first byte of the block whose inversion the "
         "decoder itself rejects (most single-byte changes in this block are caught only by the checksum)",
         flipped_offset=flip, **extras)
    raw = frame(inner, window_byte=None)
    rlay = layout(raw)[0]
    rflip = rlay["blocks"][0]["offset"] + 3 + 100
    case("corrupt-raw-block.zst", raw[:rflip] + bytes([raw[rflip] ^ 0x01]) + raw[rflip + 1:], "checksum",
         f"a hand-made single-segment frame holding the same file in one raw block, bit 0 of byte {rflip} flipped: "
         "the block decodes, only Content_Checksum can tell", flipped_offset=rflip, **extras)
    case("bad-checksum.zst", good[:-4] + bytes(b ^ 0xFF for b in good[-4:]), "checksum",
         f"{base}, the 4 checksum bytes inverted", **extras)
    case("reserved-bit.zst", good[:4] + bytes([good[4] | 0x08]) + good[5:], "corrupt",
         f"{base}, Frame_Header_Descriptor reserved bit 3 set (0x{good[4]:02X} -> 0x{good[4] | 0x08:02X})", **extras)
    rb = bytearray(raw)
    off = rlay["blocks"][0]["offset"]
    rb[off] |= 0x06  # Block_Type = 3 (reserved)
    case("reserved-block-type.zst", bytes(rb), "corrupt",
         "the raw-block frame with Block_Type 3 (reserved) in its only block header", **extras)
    # window / content size
    case("window-2gib.zst", frame(inner, window_byte=0xA8, fcs_field=0), "window_too_large",
         "hand-made frame: Window_Descriptor 0xA8 = exponent 21, mantissa 0 -> windowLog 31, Window_Size 2^31 = "
         "2,147,483,648 bytes (what `zstd --long=31` declares; libzstd's default limit is windowLog 27 = 128 MiB); "
         "no content size, the file in one raw block, checksum", declared_window=window_size(0xA8), **extras)
    case("window-max.zst", frame(inner, window_byte=0xFF, fcs_field=0), "window_too_large",
         "hand-made frame: Window_Descriptor 0xFF = exponent 31, mantissa 7 -> Window_Size 2^41 + 7 * 2^38 = "
         "4,123,168,604,160 bytes (3.75 TiB, the format's maximum)", declared_window=window_size(0xFF), **extras)
    tb = 10 ** 12
    case("content-size-1tb.zst", frame(inner, window_byte=0x50, fcs=tb, fcs_field=8), "content_too_large",
         f"hand-made frame: 8-byte Frame_Content_Size = {tb:,} (1 TB) but only the {len(inner)}-byte file follows "
         "(window 1 MiB, one raw block, valid checksum of the real content). A reader that trusts the header "
         "allocates 1 TB; one that streams gets the real bytes and then libzstd's size mismatch at the frame end. "
         "Refuse the declared size up front", declared_content_size=tb, **extras)
    gib = 1 << 30
    bomb_blocks = [block_header(False, 0, len(inner)) + inner]
    n_rle = gib // 131072
    bomb_blocks += [block_header(i == n_rle - 1, 1, 131072) + b"\x00" for i in range(n_rle)]
    bomb = frame(b"", window_byte=0x38, blocks=bomb_blocks, checksum=False, fcs_field=0)
    case("bomb-1gib.zst", bomb, "content_too_large",
         f"a valid frame (window 128 KiB, no content size, no checksum): the {len(inner)}-byte safetensors file in a raw "
         f"block, then {n_rle} RLE blocks of 128 KiB of zeros: 1 GiB of trailing zeros from a {len(bomb)}-byte file. "
         "Only the inner-format size (8 + N + last END) stops it (formats.md §6.4)",
         decompressed_bytes=len(inner) + gib, **extras)
    # the file inside: its first bytes decide (issue 20). Each is a valid frame with no content size: a prefix in a raw
    # block, then RLE blocks of zeros; only a check of the header inside stops it before the zeros are all written.
    def zeros_after(prefix, zeros=gib):
        blocks = [block_header(False, 0, len(prefix)) + prefix] if prefix else []
        n = zeros // 131072
        blocks += [block_header(i == n - 1, 1, 131072) + b"\x00" for i in range(n)]
        return frame(b"", window_byte=0x38, blocks=blocks, checksum=False, fcs_field=0)

    refused = "issue 20: refused from the first bytes out, having written nothing"
    case("inner-zeros-1gib.zst", zeros_after(b""), "not_checkpoint",
         "1 GiB of zeros in 8192 RLE blocks (as `zstd --no-content-size` makes of `head -c 1G /dev/zero`): "
         f"safetensors header length 0, no GGUF magic; {refused}", decompressed_bytes=gib)
    case("inner-header-length-2pow40.zst", zeros_after(struct.pack("<Q", 1 << 40)), "not_checkpoint",
         f"a safetensors header length of 2^40 (past the 100 MB limit), then 1 GiB of zeros; {refused}",
         decompressed_bytes=8 + gib)
    case("inner-header-not-json.zst", zeros_after(struct.pack("<Q", 4096) + b'{"a": '), "inner_header",
         "a safetensors header length of 4096, then `{\"a\": ` and zeros: the header is not JSON (a NUL where a value "
         f"starts); {refused} (the header's 4096 bytes are held, then refused)", decompressed_bytes=14 + gib)
    gguf_v7 = b"GGUF" + struct.pack("<IQQ", 7, 0, 0)
    case("inner-gguf-version-7.zst", zeros_after(gguf_v7), "inner_header",
         f"a GGUF header of version 7 (2 and 3 are read), then 1 GiB of zeros; {refused}",
         decompressed_bytes=len(gguf_v7) + gib)
    gguf_one = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    case("inner-gguf-empty-key.zst", zeros_after(gguf_one), "inner_header",
         "a GGUF v3 header with 1 tensor and 1 key/value, then 1 GiB of zeros: the key's length is 0 (an empty key); "
         f"{refused}", decompressed_bytes=len(gguf_one) + gib)
    pb = 10 ** 15
    big = json.dumps({"t": {"dtype": "U8", "shape": [pb], "data_offsets": [0, pb]}}, separators=(",", ":")).encode()
    big += b" " * (-len(big) % 8)
    case("inner-declares-1pb.zst", zeros_after(struct.pack("<Q", len(big)) + big), "content_too_large",
         f"a valid safetensors header declaring one U8 tensor of {pb:,} bytes (1 PB: more than any temporary folder "
         f"has free), then 1 GiB of zeros, no content size; refused before anything is written, naming both sizes",
         declared_bytes=8 + len(big) + pb, decompressed_bytes=8 + len(big) + gib)
    tensor_name = b"t"
    tensor_info = struct.pack("<Q", len(tensor_name)) + tensor_name + struct.pack("<IQIQ", 1, pb, 24, 0)  # I8 (type 24), ne [1e15]
    gguf_pb = b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + tensor_info
    gguf_pb += b"\x00" * (-len(gguf_pb) % 32)
    case("inner-gguf-declares-1pb.zst", zeros_after(gguf_pb), "content_too_large",
         f"a valid GGUF v3 header with one I8 tensor of {pb:,} elements (1 PB), then 1 GiB of zeros; refused before "
         "anything is written", declared_bytes=len(gguf_pb) + pb, decompressed_bytes=len(gguf_pb) + gib)
    # no data / trailing garbage / others
    case("skippable-only.zst", skippable(b"mm1conv fixture: no zstd frame here\n"), "no_data",
         "one skippable frame (magic 0x184D2A50, 37 bytes of user data) and nothing else: zero bytes of output")
    case("empty.zst", b"", "no_data", "an empty file")
    case("trailing-garbage.zst", good + b"trailing bytes that are not a frame\n", "trailing_garbage",
         f"{base}, followed by 36 bytes of text", **extras)
    case("trailing-zeros.zst", good + bytes(8), "trailing_garbage", f"{base}, followed by 8 zero bytes (padding)",
         **extras)
    # beyond the brief's categories (formats.md §7.5 Z1, Z8)
    case("dictionary-id.zst", frame(inner, window_byte=None, dict_id=7), "dictionary",
         "hand-made single-segment frame declaring Dictionary_ID 7 (1 byte): needs a dictionary mm1conv never has")
    case("legacy-v07-magic.zst", b"\x27\xb5\x2f\xfd" + good[4:], "not_zstd",
         "the frame with the zstd v0.7 magic 0xFD2FB527 (legacy format; decoded only by libzstd built with "
         "ZSTD_LEGACY_SUPPORT)")
    case("not-zstd.zst", bytes((i * 73 + 41) % 256 for i in range(64)), "not_zstd",
         "64 bytes that start neither with the zstd magic nor a skippable magic")


# ---------------------------------------------------------------------------------------------------------------


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, 0o644)


def decompress_all(data):
    """Every frame's output concatenated, skippable frames skipped (what a conforming reader returns)."""
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as r:
        return r.read()


def readme(versions, valid, manifest_cases, n_mm1, n_llama):
    rows = "\n".join(f"| `{name}` | {v['description']} | {v['decompressed_bytes']:,} |" for name, v in valid.items())
    cases = "\n".join(f"| `{k}` | {v['category']} | {v['description']} |" for k, v in sorted(manifest_cases.items()))
    return f"""# zstd fixtures

Made by `{GENERATOR}` (seed {SEED}; {", ".join(f"{k} {v}" for k, v in versions.items())}). Do not edit by hand:
rerun `/opt/mm1py/bin/python {GENERATOR}` (deterministic; `MANIFEST.json` holds the SHA-256 of every file, the frame
layout of every valid file and the SHA-256 of what it decompresses to).

No ecosystem convention for zstd-compressed checkpoints exists (formats.md §6.3): these are users' compressed
downloads. `tiny-mm1/` decompresses to one safetensors file holding the {n_mm1} bf16 tensors of `Samples/tiny-mm1`
(3 shards merged as `safetensors.torch.save` writes them), so importing it (config.json beside it) must give the same package
as importing `Samples/tiny-mm1`; `tiny-llama/` holds the 2-layer `Samples/tiny-llama` ({n_llama} bf16 tensors,
merged the same way) in every other framing, so the folder stays under 1.5 MB. All files of `tiny-llama/`
decompress to the same bytes (`MANIFEST.json` → `valid` → `decompressed_sha256`).

| file | framing | decompressed bytes |
|---|---|---|
{rows}

## Malformed (`../malformed/zstd/`, expected results in `../malformed/zstd/MANIFEST.json`)

`MANIFEST.json` → `python_zstandard` records what python-zstandard {zstandard.__version__} (libzstd
{".".join(map(str, zstandard.ZSTD_VERSION))}) does with each file: `get_frame_parameters`, one-shot `decompress`
(first frame only, allocates the declared content size), `stream_reader` (first frame only) and
`stream_reader(read_across_frames=True)`, run with a 4 GiB address-space limit and stopped after 64 MiB of output.
`dictionary` and `not_zstd` go beyond the requested categories (formats.md §7.5 Z1, Z8).

| file | category | defect |
|---|---|---|
{cases}

Observations (python-zstandard 0.25.0; the stream loop of formats.md §6.2 was also run once against Debian's
libzstd 1.5.4 through ctypes, with the same error names unless noted):
* `stream_reader` returns truncated input without any error (0 or 928 bytes; even `truncated-before-checksum.zst`
  yields all 928 bytes, unverified). Only the §6.2 rule "last `ZSTD_decompressStream` return ≠ 0 at EOF ⇒
  truncated" catches these (libzstd 1.5.4 returns 3, 4, 267, 2 and 5 for the five files).
* A flipped byte inside a compressed block is mostly caught only by the checksum (475 of the 533 single-byte
  inversions of this block); `corrupt-compressed-block.zst` uses the first one the decoder rejects itself.
* `content-size-1tb.zst`: one-shot `decompress` tries to allocate the declared 1 TB (`MemoryError` under the
  4 GiB limit); streaming produces nothing and fails at the frame end with "Data corruption detected".
* `bomb-1gib.zst` is a valid frame: python-zstandard's `stream_reader`, libzstd 1.5.4 and `zstd -t` all accept it.
  So are the `inner-*.zst` files (issue 20): what stops them is the header inside, which mm1conv checks as soon as
  it is out and before writing anything (no safetensors or GGUF header; a broken one; one declaring more than the
  free space).
* Skippable frames: `get_frame_parameters` reports a skippable frame's user-data size as `content_size` and its
  magic nibble as `dict_id`, and one-shot `decompress` fails on a leading skippable frame ("decompressed 0 bytes;
  expected 40") although the file is valid; `stream_reader` skips it.
* Trailing bytes after the last frame: the stream decoder reports "Unknown frame descriptor" after the frame's
  output (928 bytes); one-shot `decompress` ignores them.
* `legacy-v07-magic.zst`: python-zstandard says "Unknown frame descriptor", Debian's libzstd 1.5.4 "Error
  (generic)" (it appears to recognise the v0.7 magic and then fail on the body): check the magic before libzstd.
* `window-2gib.zst`: "Frame requires too much memory for decoding" (default windowLog limit 27);
  `window-max.zst` fails already in `get_frame_parameters`.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        probe(args.probe)
        return

    import safetensors

    for folder in (OUT, BAD):
        shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(OUT)
    os.makedirs(BAD)
    valid = {}

    def add(rel, content, description, inner):
        write(os.path.join(OUT, rel), content)
        out = decompress_all(content)
        assert out == inner, rel
        valid[rel] = {"description": description, "decompressed_bytes": len(out), "decompressed_sha256": sha256(out),
                      "frames": layout(content)}

    mm1, n_mm1 = merged_safetensors(os.path.join(ROOT, "Samples", "tiny-mm1"))
    add("tiny-mm1/tiny-mm1.safetensors.zst", compress(mm1, level=10), f"one frame, level 10, checksum, content size "
        f"in the header; {n_mm1} tensors of Samples/tiny-mm1", mm1)
    shutil.copyfile(os.path.join(ROOT, "Samples", "tiny-mm1", "config.json"), os.path.join(OUT, "tiny-mm1", "config.json"))

    llama, n_llama = merged_safetensors(os.path.join(ROOT, "Samples", "tiny-llama"))
    add("tiny-llama/model.bin", compress(llama, level=3, checksum=False),
        f"zstd content under a name without .zst (detect by magic 28 B5 2F FD): one frame, level 3, no checksum, "
        f"content size in the header; {n_llama} tensors of Samples/tiny-llama", llama)
    header_end = 8 + struct.unpack_from("<Q", llama)[0]
    split = 8 + (header_end - 8) // 2
    add("tiny-llama/model.multiframe.safetensors.zst", compress(llama[:split]) + compress(llama[split:]),
        f"two frames (level 10, checksum, content size each) split at byte {split}, in the middle of the JSON header: "
        "the output is their concatenation", llama)
    add("tiny-llama/model.streamed.safetensors.zst", compress_streamed(llama),
        "one frame from stream_writer without a size: no Frame_Content_Size, Window_Descriptor present, level 10, "
        "checksum", llama)
    add("tiny-llama/model.skippable.safetensors.zst", skippable(b"mm1conv fixture: skip these 40 bytes please\n"[:40], 0xE)
        + compress(llama), "a skippable frame (magic 0x184D2A5E, 40 bytes) and then the level-10 frame", llama)
    shutil.copyfile(os.path.join(ROOT, "Samples", "tiny-llama", "config.json"),
                    os.path.join(OUT, "tiny-llama", "config.json"))

    build_malformed()
    manifest_cases = {}
    for name, (content, entry) in CASES.items():
        write(os.path.join(BAD, name), content)
        manifest_cases[name] = dict(entry, bytes=len(content),
                                    python_zstandard=python_zstandard_says(os.path.join(BAD, name)))
    for rel in valid:
        valid[rel]["python_zstandard"] = python_zstandard_says(os.path.join(OUT, rel))
    with open(os.path.join(BAD, "MANIFEST.json"), "w") as f:
        json.dump({"cases": manifest_cases, "sha256": {n: sha256(c) for n, (c, _) in sorted(CASES.items())}},
                  f, indent=2, sort_keys=True)
        f.write("\n")

    versions = {"python": sys.version.split()[0], "zstandard": zstandard.__version__,
                "libzstd": ".".join(map(str, zstandard.ZSTD_VERSION)), "safetensors": safetensors.__version__}
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(readme(versions, valid, manifest_cases, n_mm1, n_llama))
    files = {}
    for root, dirs, names in os.walk(OUT):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(root, n)
            os.chmod(p, 0o644)
            files[os.path.relpath(p, OUT)] = sha256(open(p, "rb").read())
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        json.dump({"generator": GENERATOR, "seed": SEED, "versions": versions, "valid": valid,
                   "files": dict(sorted(files.items()))}, f, indent=2, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print(f"wrote {len(files) + 1} files under {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
