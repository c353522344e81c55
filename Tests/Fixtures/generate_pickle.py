#!/usr/bin/env python3
"""Generate mm1conv's PyTorch-checkpoint fixtures (issue 16): golden files written by real torch.save, each with a
safetensors twin, and the hostile corpus.

Rerun from anywhere (deterministic: fixed seeds, no timestamps; torch's serialization id is fixed, see below):

    /opt/torchpy/bin/python Tests/Fixtures/generate_pickle.py            # both parts
    /opt/torchpy/bin/python Tests/Fixtures/generate_pickle.py --valid    # Tests/Fixtures/pickle only
    /opt/torchpy/bin/python Tests/Fixtures/generate_pickle.py --malformed

Needs torch, numpy, safetensors (versions recorded in the manifests). Writes:

  pickle/<case>.pt + pickle/<case>.safetensors
        a checkpoint written by torch.save and its twin: safetensors.torch.save_file of the same tensors, each made
        contiguous (a fresh copy: tied tensors become separate), named by the name mm1conv must give it (the dotted
        key path, wrapper keys and `module.`/`_orig_mod.` prefixes removed; see NAMING below)
  pickle/llava-bin/      LLaVA-1.5-style release: pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json
                         (+ mm_projector.bin, which LLaVA ships beside them); twins pickle/llava-bin.safetensors (the
                         shards' tensors) and pickle/llava-mm_projector.safetensors
  pickle/tiny-mm1-bin/   Samples/tiny-mm1's tensors (its three safetensors shards) re-saved by torch.save as two .bin
                         shards + pytorch_model.bin.index.json + its config.json; the twin is Samples/tiny-mm1 itself
  pickle/MANIFEST.json   versions, SHA-256 of every file written, and per checkpoint: container, protocol, archive
                         prefix, records, the globals its pickle names, every tensor (name, key path, dtype, shape,
                         stride, storage offset, storage key, SHA-256 of its contiguous little-endian bytes), the
                         non-tensor values, and what torch.load(weights_only=True) and (weights_only=False) did
  malformed/pickle/<case>  one hostile or broken checkpoint per rule
  malformed/pickle/expected.json
        file -> {"reason": PickleViolation code, "description", "global" (the first forbidden global, when one is at
        fault), "tensor" (the key path at fault, when one is), "runs_code_under_torch_load" (what actually happened
        under torch.load(weights_only=False): the payload's marker file appeared), "marker" (the marker path, for
        files that carry a payload), "torch_load_weights_only_true" / "torch_load_weights_only_false" (what torch
        did: "loads: <type>" or "<Exception>: <message>")}
  malformed/pickle/MANIFEST.json   versions and SHA-256 of every file

HOW THE FILES ARE MADE
  * Valid checkpoints: torch.save(obj, path) to a real path (the archive prefix is the file's stem), default
    protocol 2, except protocol4.pt (pickle_protocol=4), legacy.pt (_use_new_zipfile_serialization=False),
    no_byteorder.pt (_disable_byteorder_record=True) and buffer_prefix.pt (saved to a BytesIO: prefix "archive").
  * torch.save's `.data/serialization_id` record is random per run; the generator overwrites it in place with a
    fixed 40-digit id of the same length (and fixes the record's CRC-32) so the files are byte-identical each run.
  * legacy.pt: torch's legacy writer names storages by their C pointers (random, and so is their order); the
    generator renames them "1000", "1001", ... in order of first use in the main pickle (rewriting its BINUNICODE
    strings), writes the sorted key list again and puts the raw storages in that order.
  * The generator re-runs itself with PYTHONHASHSEED=0 (TorchScript orders some generated code by string hash).
  * big_endian.pt: torch cannot write big-endian files. It is written by torch.save on this (little-endian) machine
    and rewritten: the `byteorder` record set to `big`, each storage record byte-swapped per its element size
    (found from the pickle: the storage type, or v3's dtype), every other record unchanged, the archive re-made by
    write_zip (stored, records 64-byte aligned with an `FB` extra field like torch's writer). torch.load reads it
    back to the same values (checked).
  * Crafted pickles (corpus): assembled opcode by opcode (the Asm helpers below), then wrapped in a real torch zip:
    torch.save with a pickle module whose Pickler dumps torch's real pickle (so torch writes the storage records it
    found) and then replaces it with the crafted bytes before torch writes data.pkl.
  * Zip-level attacks: a torch.save archive parsed and rebuilt by write_zip with one defect.

NAMING (the twin's names): tensors of nested dicts are named by their dotted key path; when every tensor lies under
one wrapper key (state_dict, model, module, model_state_dict, ema) that key is dropped, and then a `module.` or
`_orig_mod.` prefix carried by every name is dropped. The manifest keeps each tensor's raw key path too.

PAYLOADS: corpus files that run code under torch.load(weights_only=False) only `touch /tmp/mm1conv-pickle-marker-
<case stem>`. Each is loaded here in a subprocess (RLIMIT_AS 4 GiB after importing torch, 120 s timeout, cwd = the
corpus folder) with weights_only=False and then with weights_only=True; whether the marker appeared is recorded and
the marker deleted. Every corpus file is probed the same way.
"""
import argparse
import collections
import copy
import hashlib
import io
import json
import os
import pickle
import pickletools
import platform
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import types
import warnings
import zlib

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "pickle")
BAD = os.path.join(HERE, "malformed", "pickle")
SAMPLE = os.path.join(ROOT, "Samples", "tiny-mm1")
GENERATOR = "Tests/Fixtures/generate_pickle.py"
SEED = 20261202
SERIALIZATION_ID = "0" * 20 + "2026120216"  + "0" * 10   # replaces torch's random id (same length)
MARKER_PREFIX = "/tmp/mm1conv-pickle-marker-"
warnings.filterwarnings("ignore")

# safetensors dtype names (what the twin and the Swift reader call each dtype)
ST_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
            torch.int8: "I8", torch.int16: "I16", torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8",
            torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
            torch.uint16: "U16", torch.uint32: "U32", torch.uint64: "U64", torch.complex64: "C64"}
WRAPPERS = ("state_dict", "model", "module", "model_state_dict", "ema")


# ---------------------------------------------------------------------------------------------------------------
# Small helpers


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha(path):
    with open(path, "rb") as f:
        return sha256(f.read())


def tensor_bytes(t):
    """The contiguous little-endian bytes of t: what safetensors stores (this machine is little-endian)."""
    assert sys.byteorder == "little"
    c = t.detach().contiguous().reshape(-1)
    return bytes(c.view(torch.uint8).numpy()) if c.numel() else b""


def jsonable(v):
    """A non-tensor value as JSON: ints beyond 2^53 as {"int": "<decimal>"}, bytes as {"bytes": hex}, tuples as lists."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if abs(v) < 2**53 else {"int": str(v)}
    if isinstance(v, float):
        return v if v == v and abs(v) != float("inf") else {"float": repr(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, torch.Size):
        return {"torch.Size": list(v)}
    if isinstance(v, (list, tuple)):
        return [jsonable(i) for i in v]
    if isinstance(v, dict):
        return {str(k): jsonable(i) for k, i in v.items()}
    raise TypeError(type(v))


def clean_message(text, limit=400):
    """torch's error text without its boilerplate (the weights_only preamble, the pointer to the documentation, the
    miniz disclaimer), addresses and temporary paths, on one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    m = re.search(r"WeightsUnpickler error: .*", text, re.S)
    if m:
        text = m.group(0)
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    keep = [p for p in paras if not p.startswith(("Weights only load failed", "Check the documentation"))] or paras
    text = " ".join(keep)
    text = re.sub(r"\s*In PyTorch 2\.6, we changed the default.*?trusted source\.", "", text, flags=re.S)
    text = re.sub(r"\s*Check the documentation of torch\.load.*?torch\.load\.html\.?", "", text, flags=re.S)
    text = re.sub(r"\s*This is an internal miniz error.*", "", text, flags=re.S)
    text = re.sub(r"0x[0-9a-fA-F]{6,}", "0x?", text)
    text = re.sub(r"/tmp/[A-Za-z0-9_./-]+", "/tmp/…", text)
    text = text.replace(ROOT + "/", "")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit] + ("…" if len(text) > limit else "")


# ---------------------------------------------------------------------------------------------------------------
# A pickle assembler: values, globals, calls and persistent ids, emitted opcode by opcode.


class G:
    """A global (module, name): GLOBAL at protocol 2, STACK_GLOBAL at protocol 4."""
    def __init__(self, module, name):
        self.module, self.name = module, name


class Call:
    """fn(*args) through REDUCE."""
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args


class PID:
    """BINPERSID of a value (a storage tuple, in torch's files)."""
    def __init__(self, value):
        self.value = value


class Raw:
    """Opcodes copied as they are."""
    def __init__(self, data):
        self.data = data


def emit(x, proto=2):
    out = bytearray()

    def e(v):
        if isinstance(v, Raw):
            out.extend(v.data)
        elif v is None:
            out.extend(pickle.NONE)
        elif v is True:
            out.extend(pickle.NEWTRUE)
        elif v is False:
            out.extend(pickle.NEWFALSE)
        elif isinstance(v, int):
            if 0 <= v < 256:
                out.extend(pickle.BININT1 + bytes([v]))
            elif 0 <= v < 65536:
                out.extend(pickle.BININT2 + struct.pack("<H", v))
            elif -2**31 <= v < 2**31:
                out.extend(pickle.BININT + struct.pack("<i", v))
            else:
                b = pickle.encode_long(v)
                out.extend(pickle.LONG1 + bytes([len(b)]) + b)
        elif isinstance(v, float):
            out.extend(pickle.BINFLOAT + struct.pack(">d", v))
        elif isinstance(v, str):
            b = v.encode("utf-8")
            if proto >= 4 and len(b) < 256:
                out.extend(pickle.SHORT_BINUNICODE + bytes([len(b)]) + b)
            else:
                out.extend(pickle.BINUNICODE + struct.pack("<I", len(b)) + b)
        elif isinstance(v, bytes):   # protocol 2's way: _codecs.encode(latin-1 text, 'latin1')
            e(Call(G("_codecs", "encode"), v.decode("latin-1"), "latin1"))
        elif isinstance(v, G):
            if proto >= 4:
                e(v.module)
                e(v.name)
                out.extend(pickle.STACK_GLOBAL)
            else:
                out.extend(pickle.GLOBAL + v.module.encode() + b"\n" + v.name.encode() + b"\n")
        elif isinstance(v, Call):
            e(v.fn)
            e(tuple(v.args))
            out.extend(pickle.REDUCE)
        elif isinstance(v, PID):
            e(v.value)
            out.extend(pickle.BINPERSID)
        elif isinstance(v, tuple):
            if not v:
                out.extend(pickle.EMPTY_TUPLE)
            elif len(v) <= 3:
                for i in v:
                    e(i)
                out.extend([pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3][len(v) - 1])
            else:
                out.extend(pickle.MARK)
                for i in v:
                    e(i)
                out.extend(pickle.TUPLE)
        elif isinstance(v, list):
            out.extend(pickle.EMPTY_LIST)
            if v:
                out.extend(pickle.MARK)
                for i in v:
                    e(i)
                out.extend(pickle.APPENDS)
        elif isinstance(v, dict):
            out.extend(pickle.EMPTY_DICT)
            if v:
                out.extend(pickle.MARK)
                for k, i in v.items():
                    e(k)
                    e(i)
                out.extend(pickle.SETITEMS)
        else:
            raise TypeError(type(v))

    e(x)
    return bytes(out)


def program(x, proto=2):
    """A whole pickle: PROTO, the value, STOP."""
    return pickle.PROTO + bytes([proto]) + emit(x, proto) + pickle.STOP


def odict():
    return Call(G("collections", "OrderedDict"))


def storage(key, numel, stype="FloatStorage", location="cpu"):
    return PID(("storage", G("torch", stype), key, location, numel))


def rebuild_v2(stor, offset, size, stride, requires_grad=False):
    return Call(G("torch._utils", "_rebuild_tensor_v2"), stor, offset, tuple(size), tuple(stride), requires_grad, odict())


def f32_tensor(key="0", numel=16, offset=0, size=(4, 4), stride=(4, 1)):
    return rebuild_v2(storage(key, numel), offset, size, stride)


def touch(name):
    return MARKER_PREFIX + name


# ---------------------------------------------------------------------------------------------------------------
# Reading our own pickles back (never run: find_class returns stubs that only record their arguments)


class Stub:
    def __init__(self, qualname, args=(), kwargs=None):
        self.qualname, self.args, self.kwargs, self.state = qualname, args, kwargs, None

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<{self.qualname}>"


class StubUnpickler(pickle._Unpickler):
    """Python's pure unpickler with every global replaced by a recording stub: used only on our own valid files to
    list globals and storage tuples. Nothing is looked up or called."""

    def __init__(self, f):
        super().__init__(f)
        self.globals = []
        self.pids = []

    def find_class(self, module, name):
        q = f"{module}.{name}"
        if q not in self.globals:
            self.globals.append(q)
        if q == "collections.OrderedDict":
            return collections.OrderedDict
        if q == "_codecs.encode":
            return lambda text, encoding: text.encode(encoding)
        if q == "torch.Size":
            return lambda items: tuple(items)

        def make(*args, **kwargs):
            return Stub(q, args, kwargs)
        make.qualname = q
        return make

    def persistent_load(self, pid):
        self.pids.append(pid)
        return ("PID", pid)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(Stub(f"NEWOBJ {cls!r}", args))

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.NEWOBJ[0]] = load_newobj


def pickle_globals(data):
    """Every (module.name) a pickle names (GLOBAL, STACK_GLOBAL, INST), in order, without running it."""
    names, strings, memo = [], [], {}
    for op, arg, pos in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            names.append(arg.replace(" ", "."))
            strings.append(None)
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            names.append(f"{strings[-2]}.{strings[-1]}")
            strings.append(None)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = strings[-1] if strings else None
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = strings[-1] if strings else None
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            strings.append(memo.get(int(arg)))
        elif op.name == "STOP":
            break
        else:
            strings.append(None)
    seen = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen


def swap_units(data):
    """{storage key: byte-swap unit} from a torch pickle: the element size of the storage type, or of v3's dtype for
    an UntypedStorage; half of it for complex dtypes (torch swaps the real and imaginary parts separately)."""
    u = StubUnpickler(io.BytesIO(data))
    obj = u.load()
    units = {}

    def unit(dtype):
        size = torch.tensor([], dtype=dtype).element_size()
        return size // 2 if dtype.is_complex else size
    for pid in u.pids:
        _, stype, key, _, _ = pid[:5]
        name = stype.qualname.split(".")[-1]
        if name != "UntypedStorage":
            units[key] = unit(STORAGE_DTYPE[name])

    def walk(v):
        if isinstance(v, Stub):
            if v.qualname == "torch._utils._rebuild_tensor_v3":
                stor, dtype = v.args[0], v.args[6]
                units[stor[1][2]] = unit(getattr(torch, dtype.qualname.split(".")[-1]))
            for a in v.args:
                walk(a)
        elif isinstance(v, (list, tuple)):
            for a in v:
                walk(a)
        elif isinstance(v, dict):
            for a in v.values():
                walk(a)
    walk(obj)
    return units


STORAGE_DTYPE = {"DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
                 "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                 "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                 "BoolStorage": torch.bool, "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128}


# ---------------------------------------------------------------------------------------------------------------
# Zip archives: read torch's, write torch-like ones (stored, 64-byte aligned through an "FB" extra field)


def read_zip(data):
    """[(name, bytes, method)] in central-directory order (Python's zipfile; our own well-formed archives only)."""
    import zipfile
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i), i.compress_type) for i in z.infolist()]


def zip_layout(data):
    """Central-directory facts of a well-formed archive: name -> (header offset, data offset, size)."""
    import zipfile
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for i in z.infolist():
            n, x = struct.unpack_from("<HH", data, i.header_offset + 26)
            out[i.filename] = (i.header_offset, i.header_offset + 30 + n + x, i.compress_size)
    return out


def write_zip(entries, align=64, zip64=True, cd_hook=None, eocd_hook=None):
    """A zip laid out as torch's PyTorchStreamWriter (miniz) lays it out: per record a local header (version 0, flags
    0x808 = data descriptor + UTF-8 names, time/date 0, CRC and sizes 0) whose "FB" extra field of 'Z's aligns the
    data to `align` bytes, the data, a data descriptor (PK\\x07\\x08, CRC-32, sizes); then the central directory
    (the sizes live there), a ZIP64 end record + locator, and the classic end record.
    entries: dicts with name, data, and optionally method (8 = deflate), local_name (another name in the local header),
    zip64_sizes (the central record carries these (size, compressed size) in a ZIP64 extra field instead).
    cd_hook(central records) and eocd_hook(end fields) may alter what is written. Returns bytes."""
    out = bytearray()
    cds = []
    for en in entries:
        name = en["name"].encode()
        data = en["data"]
        method = en.get("method", 0)
        if method == 8:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            comp = c.compress(data) + c.flush()
        else:
            comp = data
        crc = zlib.crc32(data)
        local_name = en.get("local_name", en["name"]).encode()
        offset = len(out)
        pad = (-(offset + 30 + len(local_name) + 4)) % align if align else 0
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad if align else b""
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, 0x808, method, 0, 0, 0, 0, 0, len(local_name), len(extra))
        out += local_name + extra
        data_offset = len(out)
        out += comp
        out += struct.pack("<IIII", 0x08074B50, crc, len(comp), len(data))
        cds.append(dict(name=name, method=method, crc=crc, csize=len(comp), usize=len(data), offset=offset,
                        data_offset=data_offset, zip64_sizes=en.get("zip64_sizes")))
    if cd_hook:
        cd_hook(cds)
    cd_start = len(out)
    for c in cds:
        extra = b""
        csize, usize, off = c["csize"], c["usize"], c["offset"]
        if c.get("zip64_sizes"):
            usize64, csize64 = c["zip64_sizes"]
            extra = struct.pack("<HHQQ", 1, 16, usize64, csize64)
            csize = usize = 0xFFFFFFFF
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, 0x808, c["method"], 0, 0, c["crc"], csize, usize,
                           len(c["name"]), len(extra), 0, 0, 0, 0, off) + c["name"] + extra
    end = dict(count=len(cds), cd_size=len(out) - cd_start, cd_offset=cd_start)
    if eocd_hook:
        eocd_hook(end)
    if zip64:
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x31E, 45, 0, 0, end["count"], end["count"], end["cd_size"],
                           end["cd_offset"])
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(end["count"], 0xFFFF), min(end["count"], 0xFFFF),
                       min(end["cd_size"], 0xFFFFFFFF), min(end["cd_offset"], 0xFFFFFFFF), 0)
    return bytes(out)


def fix_serialization_id(path):
    """Overwrite torch's random `.data/serialization_id` record in place (same length) and its CRC-32 (data
    descriptor, central directory, and the local header if it carries one)."""
    data = bytearray(open(path, "rb").read())
    lay = zip_layout(bytes(data))
    for n in [n for n in lay if n.endswith(".data/serialization_id")]:
        hdr, start, size = lay[n]
        new = SERIALIZATION_ID.encode()[:size].ljust(size, b"0")
        data[start:start + size] = new
        crc = zlib.crc32(new)
        if struct.unpack_from("<I", data, hdr + 14)[0]:
            struct.pack_into("<I", data, hdr + 14, crc)
        if data[start + size:start + size + 4] == b"PK\x07\x08":
            struct.pack_into("<I", data, start + size + 4, crc)
        i = data.find(b"PK\x01\x02")
        while i != -1:
            nlen = struct.unpack_from("<H", data, i + 28)[0]
            if bytes(data[i + 46:i + 46 + nlen]) == n.encode():
                struct.pack_into("<I", data, i + 16, crc)
            i = data.find(b"PK\x01\x02", i + 4)
    open(path, "wb").write(bytes(data))


def torch_save(obj, path, **kw):
    torch.save(obj, path, **kw)
    if kw.get("_use_new_zipfile_serialization", True):
        fix_serialization_id(path)


class _CraftPickler(pickle.Pickler):
    """torch.save's pickler base for crafted files: pickles the real object (so torch collects and writes its storage
    records), then replaces what it wrote by the crafted bytes, which torch then stores as data.pkl."""
    crafted = None

    def __init__(self, file, protocol=None, **kw):
        super().__init__(file, protocol, **kw)
        self._out = file

    def dump(self, obj):
        super().dump(obj)
        self._out.seek(0)
        self._out.truncate()
        self._out.write(_CraftPickler.crafted)


def torch_zip_with_pickle(path, crafted, storages=None):
    """A real torch.save archive at `path` whose data.pkl is `crafted`; `storages` (a list of tensors) become the
    records data/0, data/1, ... in order (default: one float32 tensor arange(16), key "0")."""
    if storages is None:
        storages = [torch.arange(16, dtype=torch.float32)]
    _CraftPickler.crafted = crafted
    module = types.SimpleNamespace(__name__="mm1conv_craft", Pickler=_CraftPickler)
    torch_save(list(storages), path, pickle_module=module)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Legacy (stacked-pickle) helpers


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


def split_pickles(data, count):
    """The byte ranges of `count` pickles stacked at the start of data, and the offset after them."""
    spans, pos = [], 0
    for _ in range(count):
        end = None
        for op, arg, p in pickletools.genops(data[pos:]):
            if op.name == "STOP":
                end = pos + p + 1
                break
        spans.append((pos, end))
        pos = end
    return spans, pos


def rename_strings(pk, mapping):
    """A pickle with every BINUNICODE/SHORT_BINUNICODE string in `mapping` replaced (no FRAMEs: protocol 2)."""
    out = bytearray()
    ops = list(pickletools.genops(pk))
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(pk)
        if op.name == "BINUNICODE" and arg in mapping:
            b = mapping[arg].encode()
            out += pickle.BINUNICODE + struct.pack("<I", len(b)) + b
        elif op.name == "SHORT_BINUNICODE" and arg in mapping:
            b = mapping[arg].encode()
            out += pickle.SHORT_BINUNICODE + bytes([len(b)]) + b
        else:
            out += pk[pos:end]
    return bytes(out)


def legacy_save(obj, path):
    """torch.save(_use_new_zipfile_serialization=False) made deterministic: torch names storages by their C pointers
    (random, and so is their sort order), so the keys are renamed "1000", "1001", ... in order of first use by the
    main pickle, the key list re-sorted, and the raw storages (8-byte element count + data each) put in its order."""
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    spans, pos = split_pickles(data, 5)
    main = data[spans[3][0]:spans[3][1]]
    keys = pickle.loads(data[spans[4][0]:spans[4][1]])
    u = StubUnpickler(io.BytesIO(main))
    u.load()
    order, elsize = [], {}
    for pid in u.pids:
        if pid[0] == "storage" and pid[2] not in order:
            order.append(pid[2])
            name = pid[1].qualname.split(".")[-1]
            elsize[pid[2]] = 1 if name == "UntypedStorage" else torch.tensor([], dtype=STORAGE_DTYPE[name]).element_size()
    assert sorted(order) == sorted(keys) and len(order) < 9000
    blocks, at = {}, pos
    for k in keys:
        n = struct.unpack_from("<q", data, at)[0]
        blocks[k] = data[at:at + 8 + n * elsize[k]]
        at += 8 + n * elsize[k]
    assert at == len(data)
    mapping = {k: str(1000 + i) for i, k in enumerate(order)}
    new_keys = sorted(mapping.values())
    inverse = {v: k for k, v in mapping.items()}
    out = data[:spans[3][0]] + rename_strings(main, mapping) + program(new_keys)
    out += b"".join(blocks[inverse[k]] for k in new_keys)
    open(path, "wb").write(out)
    return path


def legacy_bytes(pickles, raw=b""):
    """Stacked pickles (each a bytes object) followed by raw storage bytes."""
    return b"".join(pickles) + raw


def legacy_header(magic=LEGACY_MAGIC, protocol=LEGACY_PROTOCOL, sys_info=None):
    if sys_info is None:
        sys_info = dict(protocol_version=LEGACY_PROTOCOL, little_endian=True,
                        type_sizes=dict(short=2, int=4, long=8))
    return [program(magic), program(protocol), program(sys_info) if not isinstance(sys_info, bytes) else sys_info]


def legacy_storage(key, numel, stype="FloatStorage"):
    return PID(("storage", G("torch", stype), key, "cpu", numel, None))


# ---------------------------------------------------------------------------------------------------------------
# Tensors, names and the manifest entry of one checkpoint


def seeded(seed):
    return torch.Generator().manual_seed(SEED + seed)


def rand(shape, dtype, seed):
    """Deterministic values of a dtype (floats with a few special values, integers over their whole range)."""
    g = seeded(seed)
    rng = np.random.default_rng(SEED + seed)
    n = int(np.prod(shape)) if len(shape) else 1
    if dtype.is_floating_point:
        t = torch.randn(n, generator=g, dtype=torch.float64) * 3
        special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40, 65504.0, -1.5],
                               dtype=torch.float64)
        if dtype not in (torch.float8_e4m3fn, torch.float8_e5m2):
            t[: min(n, len(special))] = special[: min(n, len(special))]
        return t.to(dtype).reshape(shape)
    if dtype == torch.bool:
        return torch.from_numpy(rng.integers(0, 2, n).astype(np.bool_)).reshape(shape)
    if dtype == torch.complex64:
        return torch.complex(torch.randn(n, generator=g), torch.randn(n, generator=g)).reshape(shape)
    npt = {torch.int8: np.int8, torch.int16: np.int16, torch.int32: np.int32, torch.int64: np.int64,
           torch.uint8: np.uint8, torch.uint16: np.uint16, torch.uint32: np.uint32, torch.uint64: np.uint64}[dtype]
    info = np.iinfo(npt)
    a = rng.integers(info.min, info.max, n, dtype=npt, endpoint=True)
    a[:2] = [info.min, info.max][: min(n, 2)] if n >= 2 else a[:2]
    return torch.from_numpy(a.copy()).reshape(shape)


def flatten(obj, path=()):
    """(key path, tensor) and (key path, value) leaves of nested dicts; lists/tuples are values (tensors inside them
    are not expected in these fixtures)."""
    tensors, values = [], []
    if isinstance(obj, dict) and not obj and path:
        values.append((path, {}))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            t, vals = flatten(v, path + (str(k),))
            tensors += t
            values += vals
    elif isinstance(obj, torch.Tensor):
        tensors.append((path, obj))
    else:
        values.append((path, obj))
    return tensors, values


def expected_names(paths):
    """The names mm1conv must give: dotted paths; one wrapper key holding every tensor dropped; then a `module.` or
    `_orig_mod.` prefix carried by every name dropped. Returns (names, what was unwrapped)."""
    names = [".".join(p) for p in paths]
    unwrapped = []
    while paths and all(len(p) > 1 and p[0] == paths[0][0] for p in paths) and paths[0][0] in WRAPPERS:
        unwrapped.append(paths[0][0])
        paths = [p[1:] for p in paths]
        names = [".".join(p) for p in paths]
    for prefix in ("module.", "_orig_mod."):
        if names and all(n.startswith(prefix) for n in names):
            unwrapped.append(prefix)
            names = [n[len(prefix):] for n in names]
    return names, unwrapped


def probe_inprocess(path, weights_only):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, weights_only=weights_only, map_location="cpu")
        return obj, "loads: " + type(obj).__name__
    except Exception as e:  # noqa: BLE001
        return None, f"{type(e).__name__}: {clean_message(str(e))}"


def storage_info(data):
    """Per tensor in key-path order: storage key, offset, stride, from the pickle (stub unpickler)."""
    u = StubUnpickler(io.BytesIO(data))
    obj = u.load()
    found = []

    def tensor_of(v):
        if isinstance(v, Stub):
            q = v.qualname
            if q in ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_tensor"):
                st, off, size, stride = v.args[:4]
                return dict(storage_key=st[1][2], storage_offset=off, stride=list(stride), rebuild=q.split(".")[-1],
                            storage_type=st[1][1].qualname)
            if q in ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"):
                d = tensor_of(v.args[0])
                return d and dict(d, parameter=q.split(".")[-1])
            if q == "torch._tensor._rebuild_from_type_v2":
                d = tensor_of(Stub(v.args[0].qualname, v.args[2]))
                return d and dict(d, from_type=v.args[1].qualname)
        return None

    def walk(v, path):
        t = tensor_of(v)
        if t:
            found.append((path, t))
            return
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, path + (str(k),))
    walk(obj, ())
    return dict(found)


def describe(path, obj, twin=None, folder_root=OUT, torch_check=True, pickle_bytes=None, extra=None):
    """The manifest entry of a valid checkpoint we wrote: read it back with torch (both ways) and compare every
    tensor to `obj`'s, bit for bit; write the twin."""
    data = open(path, "rb").read()
    entry = {}
    if data[:4] == b"PK\x03\x04":
        entries = read_zip(data)
        prefix = entries[0][0].split("/")[0]
        pk = next(d for n, d, _ in entries if n.endswith("/data.pkl"))
        entry.update(container="zip", archive_prefix=prefix, records=[n for n, _, _ in entries])
        bo = [d.decode() for n, d, _ in entries if n == f"{prefix}/byteorder"]
        entry["byteorder"] = bo[0] if bo else None
    else:
        spans, pos = split_pickles(data, 5)
        pk = data[spans[3][0]:spans[3][1]]
        entry.update(container="legacy", storage_keys=pickle.loads(data[spans[4][0]:spans[4][1]]))
    if pickle_bytes is not None:
        pk = pickle_bytes
    entry["protocol"] = pk[1] if pk[:1] == pickle.PROTO else 0
    entry["globals"] = pickle_globals(pk)
    info = storage_info(pk)
    tensors, values = flatten(obj)
    names, unwrapped = expected_names([p for p, _ in tensors])
    entry["unwrapped"] = unwrapped
    loaded, msg_true = probe_inprocess(path, True)
    loaded_false, msg_false = probe_inprocess(path, False)
    entry["torch_load_weights_only_true"] = msg_true
    entry["torch_load_weights_only_false"] = msg_false
    back = loaded if loaded is not None else loaded_false
    assert back is not None, (path, msg_false)
    back_tensors = dict(flatten(back)[0])
    out = collections.OrderedDict()
    twin_tensors = {}
    same = True
    for (p, t), name in zip(tensors, names):
        b = back_tensors[p]
        assert b.dtype == t.dtype and b.shape == t.shape and b.stride() == t.stride(), (path, p)
        same = same and tensor_bytes(b) == tensor_bytes(t)
        assert same or not torch_check, (path, p)
        raw = tensor_bytes(t)
        rec = dict(path=list(p), dtype=ST_DTYPE[t.dtype], shape=list(t.shape), stride=list(t.stride()),
                   storage_offset=t.storage_offset(), sha256=sha256(raw), bytes=len(raw))
        if p in info:
            rec.update(info[p])
        if isinstance(t, torch.nn.Parameter):
            rec["requires_grad"] = t.requires_grad
        out[name] = rec
        twin_tensors[name] = t.detach().clone(memory_format=torch.contiguous_format)
    entry["torch_reads_same_bytes"] = same
    entry["tensors"] = out
    entry["values"] = {".".join(p): jsonable(v) for p, v in values}
    if extra:
        entry.update(extra)
    if twin:
        save_file(twin_tensors, twin, metadata={"format": "pt"})
        again = load_file(twin)
        assert all(tensor_bytes(again[k]) == tensor_bytes(v) for k, v in twin_tensors.items())
        entry["twin"] = os.path.relpath(twin, folder_root)
    return entry


# ---------------------------------------------------------------------------------------------------------------
# Valid checkpoints


def v3_dtypes():
    return [torch.float8_e4m3fn, torch.float8_e5m2, torch.uint16, torch.uint32, torch.uint64]


def all_dtypes():
    base = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.int16, torch.int32,
            torch.int64, torch.uint8, torch.bool]
    extra = v3_dtypes()
    if "C64" in getattr(safetensors.torch, "_TYPES", {}) or any(str(v) == "C64" for v in getattr(safetensors.torch, "_TYPES", {}).values()):
        extra.append(torch.complex64)
    return base + extra


def dtype_tensors(seed=0, shape=(3, 5)):
    return {ST_DTYPE[d].lower(): rand(shape, d, seed + i) for i, d in enumerate(all_dtypes())}


def views_obj():
    w = rand((6, 8), torch.float32, 100)
    h = rand((4, 6), torch.float16, 101)
    cube = rand((2, 3, 4), torch.bfloat16, 102)
    row = rand((1, 8), torch.float32, 103)
    flat = rand((40,), torch.int32, 104)
    return {
        "w": w,                                  # the base: storage 0, contiguous
        "w_t": w.t(),                            # stride (1, 8)
        "w_rows_2_5": w[2:5],                    # storage offset 16
        "w_cols_step_2": w[:, ::2],              # stride (8, 2)
        "w_col_3": w[:, 3],                      # offset 3, stride (8,)
        "w_t_block": w.t()[1:4, ::3],            # offset 8 + 1? strided both ways
        "h_t": h.t(),                            # f16 transposed (its own storage)
        "cube_permuted": cube.permute(2, 0, 1),  # 3-D permutation
        "row_expanded": row.expand(4, 8),        # stride 0
        "flat_window": flat[5:17].view(3, 4),    # offset 5 into an int32 storage
        "flat_every_third": flat[1::3],          # offset 1, stride 3
        "scalar": torch.tensor(2.5),             # 0-d
        "scalar_view": w[1, 2],                  # 0-d view with an offset
        "empty": torch.zeros(0, 3),              # no elements
    }


def tied_obj():
    emb = rand((10, 4), torch.float16, 200)
    base = rand((16,), torch.float32, 201)
    return {
        "model.embed_tokens.weight": emb,
        "lm_head.weight": emb,                   # the same tensor under two names
        "first_half": base[:8],                  # two views of one storage, no base saved
        "second_half": base[8:],
        "second_half_2d": base[8:].view(2, 4),
    }


def parameters_obj():
    g = rand((3, 4), torch.float32, 300)
    p1 = torch.nn.Parameter(g.clone())                        # _rebuild_parameter, requires_grad True
    p2 = torch.nn.Parameter(rand((4,), torch.float16, 301), requires_grad=False)
    p3 = torch.nn.Parameter(rand((2, 2), torch.bfloat16, 302))
    p3.note = "parameter with state"                          # _rebuild_parameter_with_state
    t = rand((3,), torch.float32, 303)
    t.note = "tensor with a Python attribute"                 # _rebuild_from_type_v2(_rebuild_tensor_v2, Tensor, ...)
    r = rand((2, 3), torch.float32, 304).requires_grad_()     # _rebuild_tensor_v2(..., requires_grad=True, ...)
    return {"p_trainable": p1, "p_frozen": p2, "p_with_state": p3, "tensor_with_attr": t, "requires_grad": r}


def small_model(seed):
    torch.manual_seed(SEED + seed)
    return torch.nn.Sequential(collections.OrderedDict([
        ("proj", torch.nn.Linear(4, 3)), ("norm", torch.nn.LayerNorm(3)), ("bn", torch.nn.BatchNorm1d(3)),
        ("embed", torch.nn.Embedding(5, 3))]))


LLAVA = dict(hidden=16, vocab=32, layers=2, mlp=32, mm_hidden=24)


def llava_tensors():
    H, V, F, M = LLAVA["hidden"], LLAVA["vocab"], LLAVA["mlp"], LLAVA["mm_hidden"]
    out, seed = collections.OrderedDict(), 400
    def add(name, shape, dtype=torch.float16):
        nonlocal seed
        seed += 1
        out[name] = (rand(shape, torch.float32, seed) * 0.02).to(dtype) if dtype.is_floating_point else rand(shape, dtype, seed)
    add("model.embed_tokens.weight", (V, H))
    for i in range(LLAVA["layers"]):
        p = f"model.layers.{i}."
        for n in "qkvo":
            add(p + f"self_attn.{n}_proj.weight", (H, H))
        out[p + "self_attn.rotary_emb.inv_freq"] = 1.0 / (10000 ** (torch.arange(0, 4, 2, dtype=torch.float32) / 4))
        add(p + "mlp.gate_proj.weight", (F, H))
        add(p + "mlp.up_proj.weight", (F, H))
        add(p + "mlp.down_proj.weight", (H, F))
        add(p + "input_layernorm.weight", (H,))
        add(p + "post_attention_layernorm.weight", (H,))
    add("model.norm.weight", (H,))
    add("model.mm_projector.0.weight", (H, M))
    add("model.mm_projector.0.bias", (H,))
    add("model.mm_projector.2.weight", (H, H))
    add("model.mm_projector.2.bias", (H,))
    add("lm_head.weight", (V, H))
    return out


def save_sharded(tensors, folder, shards, stem="pytorch_model"):
    """HF-style .bin shards (a plain dict each, in order, split by size) + pytorch_model.bin.index.json."""
    names = list(tensors)
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    groups, acc, cur = [], 0, []
    for n in names:
        cur.append(n)
        acc += tensors[n].numel() * tensors[n].element_size()
        if acc >= total * (len(groups) + 1) / shards and len(groups) < shards - 1:
            groups.append(cur)
            cur = []
    groups.append(cur)
    assert len(groups) == shards and all(groups)
    weight_map, files = {}, []
    for i, group in enumerate(groups):
        fname = f"{stem}-{i + 1:05d}-of-{shards:05d}.bin"
        torch_save({n: tensors[n] for n in group}, os.path.join(folder, fname))
        weight_map.update({n: fname for n in group})
        files.append(fname)
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(folder, f"{stem}.bin.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    return files, groups


def rewrite_big_endian(src, dst):
    """src (a torch.save archive) with byteorder 'big' and each storage record byte-swapped per element size."""
    data = open(src, "rb").read()
    entries = read_zip(data)
    prefix = entries[0][0].split("/")[0]
    pk = next(d for n, d, _ in entries if n == f"{prefix}/data.pkl")
    units = swap_units(pk)
    out = []
    for name, d, method in entries:
        if name == f"{prefix}/byteorder":
            d = b"big"
        elif name.startswith(f"{prefix}/data/"):
            size = units[name.split("/")[-1]]
            if size > 1:
                d = np.frombuffer(d, dtype=f"u{size}").byteswap().tobytes()
        out.append(dict(name=name, data=d))
    open(dst, "wb").write(write_zip(out))


def make_valid():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    fixtures = collections.OrderedDict()

    def add(name, obj, save=None, twin=True, extra=None, **kw):
        path = os.path.join(OUT, name)
        (save or torch_save)(obj, path, **kw)
        twin_path = os.path.join(OUT, os.path.splitext(name)[0] + ".safetensors") if twin else None
        fixtures[name] = describe(path, obj, twin=twin_path, extra=extra)
        return path

    add("dtypes.pt", dtype_tensors())
    add("views.pt", views_obj())
    add("tied.pt", tied_obj(), extra={"note": "model.embed_tokens.weight and lm_head.weight are one tensor; "
                                              "first_half/second_half(_2d) are views of one storage"})
    add("parameters.pt", parameters_obj())
    sd = small_model(1).state_dict()
    add("state_dict.pt", sd, extra={"metadata": jsonable({k: dict(v) for k, v in sd._metadata.items()}),
                                    "note": "a module's state_dict(): OrderedDict with a _metadata attribute (BUILD)"})
    lin = small_model(2).proj
    add("training_checkpoint.pt", {
        "epoch": 3, "step": 1000, "best_metric": 0.5,
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08,
                                                     "weight_decay": 0.0, "amsgrad": False, "params": [0, 1]}]},
        "model_state_dict": lin.state_dict(),
        "config": {"name": "tiny", "layers": 2, "dropout": None, "tags": ["a", "b"], "big": 2**70, "negative": -7,
                   "blob": b"\x00\xffbytes", "unicode": "gr\u00f6\u00dfe \u2713", "ratio": -1.25},
        "input_shape": torch.Size([1, 3, 224, 224]),
    })
    m = small_model(3).proj
    add("ddp_checkpoint.pt", {"epoch": 7, "global_step": 70,
                              "state_dict": collections.OrderedDict((f"module.encoder.{k}", v) for k, v in m.state_dict().items())})
    m = small_model(4)
    try:
        compiled = torch.compile(m).state_dict()
        assert all(k.startswith("_orig_mod.") for k in compiled)
    except Exception:  # noqa: BLE001
        compiled = collections.OrderedDict((f"_orig_mod.{k}", v) for k, v in m.state_dict().items())
    add("compiled_orig_mod.pt", compiled, extra={"note": "state_dict() of torch.compile(module): every key has _orig_mod."})
    add("model_wrapper.pt", {"model": small_model(5).state_dict(), "args": {"arch": "tiny", "lr": 0.1}})
    mixed = dict(dtype_tensors(10, (2, 3)))
    mixed.update({"w_t": views_obj()["w_t"], "tied_a": tied_obj()["lm_head.weight"]})
    mixed["tied_b"] = mixed["tied_a"]
    add("protocol4.pt", collections.OrderedDict(mixed), pickle_protocol=4)
    # the legacy writer accepts the v3 dtypes but torch.load cannot read them back (UntypedStorage has no dtype):
    # legacy.pt holds the typed-storage dtypes only
    legacy = {k: v for k, v in dtype_tensors(20, (2, 3)).items() if not k.startswith(("f8", "u16", "u32", "u64"))}
    legacy.update({"w_t": rand((3, 5), torch.float32, 21).t(), "p": torch.nn.Parameter(rand((2,), torch.float32, 22))})
    legacy["tied"] = legacy["f32"]
    add("legacy.pt", legacy, save=legacy_save, extra={"note": "storage keys renamed from C pointers to 1000, 1001, ..."})
    add("no_byteorder.pt", {"a": rand((2, 3), torch.float32, 30), "b": rand((3,), torch.bfloat16, 31)},
        _disable_byteorder_record=True)

    def to_buffer(obj, path):
        buf = io.BytesIO()
        torch.save(obj, buf)
        open(path, "wb").write(buf.getvalue())
        fix_serialization_id(path)
    add("buffer_prefix.pt", {"a": rand((2, 2), torch.float16, 40)}, save=to_buffer,
        extra={"note": "saved to a BytesIO: archive prefix 'archive'"})
    cfg = getattr(getattr(torch.utils, "serialization", None), "config", None)
    if cfg is not None and hasattr(cfg.save, "storage_alignment"):
        old = cfg.save.storage_alignment
        cfg.save.storage_alignment = 4096
        try:
            add("aligned_4096.pt", {"a": rand((3,), torch.float32, 50), "b": rand((5,), torch.int64, 51)},
                extra={"note": "config.save.storage_alignment = 4096 (records 4096-aligned; .storage_alignment record)"})
        finally:
            cfg.save.storage_alignment = old

    # big-endian: written little-endian by torch, rewritten (see the docstring)
    def big_endian(name, obj, note, torch_check=True):
        path = os.path.join(OUT, name)
        torch_save(obj, path)
        rewrite_big_endian(path, path + ".new")
        os.replace(path + ".new", path)
        fixtures[name] = describe(path, obj, twin=os.path.join(OUT, os.path.splitext(name)[0] + ".safetensors"),
                                  torch_check=torch_check, extra={"note": note})
    be_obj = {k: v for k, v in dtype_tensors(60, (2, 3)).items() if not k.startswith(("f8", "u16", "u32", "u64"))}
    be_obj.update({"w_t": rand((3, 4), torch.float32, 61).t()})
    be_obj["tied"] = be_obj["f16"]
    big_endian("big_endian.pt", be_obj, "torch.save output rewritten: byteorder 'big', each storage record "
                                        "byte-swapped per element size (complex: per real/imaginary part); torch.load "
                                        "reads every tensor back to the twin's values")
    be_v3 = {k: v for k, v in dtype_tensors(70, (2, 3)).items() if k.startswith(("f8", "u16", "u32", "u64"))}
    big_endian("big_endian_v3.pt", be_v3, "the v3 dtypes (UntypedStorage records) big-endian, swapped per the dtype's "
                                          "element size; torch.load does NOT swap UntypedStorage records (it swaps by "
                                          "uint8), so its u16/u32/u64 values come out byte-swapped: the twin holds "
                                          "the true values", torch_check=False)

    # LLaVA-1.5-style sharded release
    folder = os.path.join(OUT, "llava-bin")
    os.makedirs(folder)
    lt = llava_tensors()
    files, groups = save_sharded(lt, folder, 2)
    for f in files:
        fixtures[f"llava-bin/{f}"] = describe(os.path.join(folder, f), torch.load(os.path.join(folder, f), weights_only=True))
    save_file({k: v.clone() for k, v in lt.items()}, os.path.join(OUT, "llava-bin.safetensors"), metadata={"format": "pt"})
    proj = collections.OrderedDict((k, (rand(tuple(v.shape), torch.float32, 500 + i) * 0.02).half())
                                   for i, (k, v) in enumerate(lt.items()) if ".mm_projector." in k)
    path = os.path.join(folder, "mm_projector.bin")
    torch_save(proj, path)
    fixtures["llava-bin/mm_projector.bin"] = describe(path, proj, twin=os.path.join(OUT, "llava-mm_projector.safetensors"))
    fixtures["llava-bin/pytorch_model.bin.index.json"] = {"twin": "llava-bin.safetensors", "shards": files,
                                                           "tensors": len(lt)}

    # the tiny sample as .bin shards
    folder = os.path.join(OUT, "tiny-mm1-bin")
    os.makedirs(folder)
    from safetensors import safe_open
    index = json.load(open(os.path.join(SAMPLE, "model.safetensors.index.json")))
    tiny = collections.OrderedDict()
    for shard in sorted(set(index["weight_map"].values())):
        with safe_open(os.path.join(SAMPLE, shard), "pt") as f:
            for k in f.keys():
                tiny[k] = f.get_tensor(k)
    assert sorted(tiny) == sorted(index["weight_map"])
    files, groups = save_sharded(tiny, folder, 2)
    shutil.copy(os.path.join(SAMPLE, "config.json"), os.path.join(folder, "config.json"))
    for f in files:
        fixtures[f"tiny-mm1-bin/{f}"] = describe(os.path.join(folder, f), torch.load(os.path.join(folder, f), weights_only=True))
    fixtures["tiny-mm1-bin/pytorch_model.bin.index.json"] = {
        "twin": "../../../Samples/tiny-mm1 (model.safetensors.index.json and its shards)", "shards": files,
        "tensors": len(tiny)}
    return fixtures


# ---------------------------------------------------------------------------------------------------------------
# The hostile corpus


# The allowlist the reader applies (issue 16; Sources/MM1Formats/Torch/TorchGlobals.swift): used here only to find
# which global of a crafted pickle is the first one at fault.
def allowed(q):
    module, _, name = q.rpartition(".")
    if module == "torch._utils":
        return name in ("_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_tensor", "_rebuild_parameter",
                        "_rebuild_parameter_with_state")
    if module == "torch._tensor":
        return name == "_rebuild_from_type_v2"
    if module == "torch":
        return (name in ("Size", "Tensor", "UntypedStorage") or name.endswith("Storage")
                or isinstance(getattr(torch, name, None), torch.dtype))
    return q in ("torch.nn.parameter.Parameter", "collections.OrderedDict", "_codecs.encode", "builtins.set",
                 "builtins.frozenset")


def first_forbidden(pickles):
    for pk in pickles:
        try:
            names = pickle_globals(pk)
        except Exception:  # noqa: BLE001  a broken pickle: the globals before the break
            names = []
            try:
                for op, arg, pos in pickletools.genops(pk):
                    if op.name in ("GLOBAL", "INST"):
                        names.append(arg.replace(" ", "."))
            except Exception:  # noqa: BLE001
                pass
        for n in names:
            if not allowed(n):
                return n
    return None


def payload(kind, marker):
    """A value that, when unpickled by Python, creates `marker` (and does nothing else)."""
    cmd = f"touch {marker}"
    return {
        "posix.system": Call(G("posix", "system"), cmd),
        "os.system": Call(G("os", "system"), cmd),
        "builtins.exec": Call(G("builtins", "exec"), f"open({marker!r}, 'w').close()"),
        "builtins.eval": Call(G("builtins", "eval"), f"__import__('os').system({cmd!r})"),
        "subprocess.Popen": Call(G("subprocess", "Popen"), ("touch", marker)),
        "subprocess.run": Call(G("subprocess", "run"), ("touch", marker)),
        "builtins.getattr": Call(Call(G("builtins", "getattr"), Call(G("builtins", "__import__"), "os"), "system"), cmd),
    }[kind]


def frame4(body):
    """protocol 4 framing: PROTO 4, FRAME <len>, body."""
    return pickle.PROTO + b"\x04" + pickle.FRAME + struct.pack("<Q", len(body)) + body


def tar_checkpoint(storages_member, tensors_member, pickle_member, sys_info=None):
    """torch's pre-0.1.10 tar format: members sys_info, pickle, storages, tensors (deterministic headers)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("sys_info", sys_info or program(dict(protocol_version=1000, little_endian=True,
                                                                  type_sizes=dict(short=2, int=4, long=8)))),
                           ("pickle", pickle_member), ("storages", storages_member), ("tensors", tensors_member)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_tensor_storages(values, stype="FloatStorage"):
    raw = np.asarray(values, dtype=np.float32).tobytes()
    return (program(1) + program((0, "cpu", G("torch", stype))) + struct.pack("<q", len(values)) + raw + program([]))


def tar_tensor_entry(n):
    return (program(1) + program((1, 0, G("torch", "FloatTensor"))) + struct.pack("<i", 1) + b"\0" * 4
            + struct.pack("<q", n) + struct.pack("<q", 1) + struct.pack("<q", 0))


def make_corpus():
    shutil.rmtree(BAD, ignore_errors=True)
    os.makedirs(BAD)
    cases = collections.OrderedDict()
    tmpdir = os.path.join(BAD, ".tmp")
    os.makedirs(tmpdir)

    def case(name, reason, description, tensor=None, payload_kind=None, pickles=None, expect_runs=None, glob=None):
        """Record a file written at BAD/name. pickles: the pickles to search for the first forbidden global."""
        entry = {"reason": reason, "description": description}
        if reason == "forbiddenGlobal":
            g = glob or first_forbidden(pickles or [])
            assert g, name
            entry["global"] = g
        elif glob:
            entry["global"] = glob
        entry["tensor"] = tensor
        if payload_kind is not None:
            entry["marker"] = touch(stem(name))
            entry["_expect_runs"] = expect_runs if expect_runs is not None else True
        cases[name] = entry

    def stem(name):
        return os.path.splitext(name)[0]

    def path(name):
        return os.path.join(BAD, name)

    def zip_case(name, crafted, storages=None, **kw):
        torch_zip_with_pickle(path(name), crafted, storages)
        case(name, pickles=[crafted], **kw)

    t16 = [torch.arange(16, dtype=torch.float32)]
    good = lambda extra=None: dict({"w": f32_tensor()}, **(extra or {}))  # noqa: E731

    # --- payloads: code that torch.load(weights_only=False) runs --------------------------------------------------
    for kind, name in [("posix.system", "payload_posix_system.pt"), ("os.system", "payload_os_system.pt"),
                       ("builtins.exec", "payload_builtins_exec.pt"), ("builtins.eval", "payload_builtins_eval.pt"),
                       ("subprocess.Popen", "payload_subprocess_popen.pt"),
                       ("subprocess.run", "payload_subprocess_run.pt"),
                       ("builtins.getattr", "payload_getattr_import_os.pt")]:
        zip_case(name, program(good({"x": payload(kind, touch(stem(name)))})), t16, reason="forbiddenGlobal",
                 tensor="x", payload_kind=kind,
                 description=f"a valid checkpoint whose entry 'x' calls {kind}(...) (REDUCE): touches the marker")
    name = "payload_rebuild_from_type_v2_posix_system.pt"
    zip_case(name, program({"w": Call(G("torch._tensor", "_rebuild_from_type_v2"), G("posix", "system"),
                                      G("torch", "Tensor"), (f"touch {touch(stem(name))}",), {})}), t16,
             reason="forbiddenGlobal", tensor="w", payload_kind="posix.system",
             description="_rebuild_from_type_v2(func=posix.system, Tensor, ('touch …',), {}): torch calls func(*args)")
    name = "payload_rebuild_tensor_v2_storage_is_payload.pt"
    zip_case(name, program({"w": rebuild_v2(payload("posix.system", touch(stem(name))), 0, (1,), (1,))}), t16,
             reason="forbiddenGlobal", tensor="w", payload_kind="posix.system",
             description="_rebuild_tensor_v2 whose storage argument is posix.system('touch …') instead of a BINPERSID")
    name = "payload_rebuild_parameter_state.pt"
    zip_case(name, program({"p": Call(G("torch._utils", "_rebuild_parameter_with_state"), f32_tensor(), True, odict(),
                                      {"hook": payload("posix.system", touch(stem(name)))})}), t16,
             reason="forbiddenGlobal", tensor="p", payload_kind="posix.system",
             description="_rebuild_parameter_with_state whose state dict holds a posix.system call")
    name = "payload_nested_key_path.pt"
    zip_case(name, program({"checkpoint": {"encoder": {"layers.0.weight": f32_tensor(),
                                                       "layers.0.bias": payload("posix.system", touch(stem(name)))}}}),
             t16, reason="forbiddenGlobal", tensor="checkpoint.encoder.layers.0.bias", payload_kind="posix.system",
             description="the payload sits three dicts deep: the error must name its key path")
    name = "payload_stack_global_protocol4.pt"
    body = emit(good({"x": payload("posix.system", touch(stem(name)))}), 4) + pickle.STOP
    zip_case(name, frame4(body), t16, reason="forbiddenGlobal", tensor="x", payload_kind="posix.system",
             description="protocol 4 (FRAME, SHORT_BINUNICODE, STACK_GLOBAL) naming posix.system")
    name = "payload_inst_opcode.pt"
    cmd = f"touch {touch(stem(name))}".encode()
    inst = pickle.MARK + pickle.BINUNICODE + struct.pack("<I", len(cmd)) + cmd + pickle.INST + b"os\nsystem\n"
    zip_case(name, program(good({"x": Raw(inst)})), t16, reason="forbiddenGlobal", tensor="x", payload_kind="os.system",
             description="protocol 0's INST opcode (class and call in one) naming os.system")
    name = "payload_obj_opcode.pt"
    cmd = f"touch {touch(stem(name))}".encode()
    obj = (pickle.MARK + pickle.GLOBAL + b"posix\nsystem\n" + pickle.BINUNICODE + struct.pack("<I", len(cmd)) + cmd
           + pickle.OBJ)
    zip_case(name, program(good({"x": Raw(obj)})), t16, reason="forbiddenGlobal", tensor="x", payload_kind="posix.system",
             description="protocol 1's OBJ opcode calling posix.system")
    name = "payload_pickle_loads.pt"
    inner = program(payload("posix.system", touch(stem(name))))
    zip_case(name, program(good({"x": Call(G("pickle", "loads"), inner)})), t16, reason="forbiddenGlobal", tensor="x",
             payload_kind="pickle.loads", description="pickle.loads(bytes of an inner pickle that calls posix.system)")
    name = "payload_load_from_bytes.pt"
    inner_path = os.path.join(tmpdir, "inner.pt")
    torch_zip_with_pickle(inner_path, program({"x": payload("posix.system", touch(stem(name)))}))
    inner = open(inner_path, "rb").read()
    zip_case(name, program(good({"x": Call(G("torch.storage", "_load_from_bytes"), inner)})), t16,
             reason="forbiddenGlobal", tensor="x", payload_kind="torch.storage._load_from_bytes",
             description="torch.storage._load_from_bytes(b): a torch archive inside the pickle, loaded by torch.load("
                         "weights_only=False); the inner one calls posix.system")
    name = "payload_after_real_weights.pt"
    real = {"model.layers.0.weight": rand((4, 4), torch.float16, 900), "model.layers.0.bias": rand((4,), torch.float16, 901)}
    buf = io.BytesIO()
    torch.save(real, buf)
    real_pk = next(d for n, d, _ in read_zip(buf.getvalue()) if n.endswith("/data.pkl"))
    # the real pickle ends "... SETITEMS STOP": put one more SETITEM before STOP (the real dict is on the stack)
    hook = emit("zz_hook") + emit(payload("posix.system", touch(stem(name)))) + pickle.SETITEM
    crafted = real_pk[:-1] + hook + pickle.STOP
    zip_case(name, crafted, list(real.values()), reason="forbiddenGlobal", tensor="zz_hook", payload_kind="posix.system",
             description="real torch.save weights, then one more entry 'zz_hook' set to posix.system(...)")

    # legacy format carrying payloads
    def legacy_main():
        return program({"w": rebuild_v2(legacy_storage("0", 16), 0, (4, 4), (4, 1))})
    raw16 = struct.pack("<q", 16) + np.arange(16, dtype=np.float32).tobytes()
    name = "payload_legacy_sys_info.pt"
    hdr = legacy_header(sys_info=program(payload("posix.system", touch(stem(name)))))
    pks = hdr + [legacy_main(), program(["0"])]
    open(path(name), "wb").write(legacy_bytes(pks, raw16))
    case(name, "forbiddenGlobal", "legacy format whose sys_info pickle (the third) calls posix.system",
         payload_kind="posix.system", pickles=pks)
    name = "payload_legacy_storage_keys.pt"
    pks = legacy_header() + [legacy_main(), program(payload("posix.system", touch(stem(name))))]
    open(path(name), "wb").write(legacy_bytes(pks, raw16))
    case(name, "forbiddenGlobal", "legacy format whose storage-key list (the fifth pickle) calls posix.system",
         payload_kind="posix.system", pickles=pks)
    name = "payload_tar_format.pt"
    storages_member = program(payload("posix.system", touch(stem(name)))) + program([])
    open(path(name), "wb").write(tar_checkpoint(storages_member, program(0), program({"epoch": 1})))
    case(name, "tarFormat", "torch's old tar format; its 'storages' member's first pickle calls posix.system",
         payload_kind="posix.system")
    name = "payload_torchscript_data_pkl.pt"
    ts = torchscript_bytes("script")
    ents = [dict(name=n, data=(program({"x": payload("posix.system", touch(stem(name)))}) if n.endswith("/data.pkl") else d))
            for n, d, _ in read_zip(ts)]
    open(path(name), "wb").write(write_zip(ents))
    case(name, "torchScript", "a TorchScript archive (torch.jit.save) whose data.pkl names posix.system; "
                              "torch.load hands TorchScript to torch.jit.load, whose C++ unpickler cannot call it",
         payload_kind="posix.system", expect_runs=False)

    # --- opcodes ----------------------------------------------------------------------------------------------
    for op, arg, label in [(pickle.EXT1, b"\x01", "EXT1"), (pickle.EXT2, b"\x01\x00", "EXT2"),
                           (pickle.EXT4, b"\x01\x00\x00\x00", "EXT4")]:
        zip_case(f"opcode_{label.lower()}.pt", program(good({"x": Raw(op + arg)})), t16, reason="forbiddenOpcode",
                 tensor="x", description=f"{label}: a global from copyreg's extension registry (code 1)")
    zip_case("opcode_text_persid.pt", program({"w": rebuild_v2(Raw(pickle.PERSID + b"0\n"), 0, (4, 4), (4, 1))}), t16,
             reason="forbiddenOpcode", tensor="w", description="text PERSID ('P0\\n') instead of BINPERSID")
    zip_case("opcode_next_buffer.pt", pickle.PROTO + b"\x05" + emit(good({"x": Raw(pickle.NEXT_BUFFER)}), 5) + pickle.STOP,
             t16, reason="forbiddenOpcode", tensor="x", description="protocol 5 NEXT_BUFFER (an out-of-band buffer)")
    zip_case("opcode_unknown.pt", program(good({"x": Raw(b"\xff")})), t16, reason="unknownOpcode", tensor="x",
             description="byte 0xFF where an opcode belongs")
    zip_case("opcode_protocol_6.pt", pickle.PROTO + b"\x06" + emit(good()) + pickle.STOP, t16, reason="badStructure",
             description="PROTO 6 (protocols are 0-5)")

    # --- persistent ids and storages ----------------------------------------------------------------------------
    zip_case("storage_key_dotdot.pt", program({"w": rebuild_v2(storage("../../etc/passwd", 16), 0, (4, 4), (4, 1))}),
             t16, reason="badStorageKey", tensor="w", description="storage key '../../etc/passwd' (path traversal)")
    zip_case("storage_key_absolute.pt", program({"w": rebuild_v2(storage("/etc/passwd", 16), 0, (4, 4), (4, 1))}), t16,
             reason="badStorageKey", tensor="w", description="storage key '/etc/passwd' (an absolute path)")
    zip_case("storage_key_backslash.pt", program({"w": rebuild_v2(storage("..\\..\\x", 16), 0, (4, 4), (4, 1))}), t16,
             reason="badStorageKey", tensor="w", description="storage key '..\\\\..\\\\x' (Windows path traversal)")
    zip_case("missing_record.pt", program({"w": f32_tensor(), "v": rebuild_v2(storage("7", 16), 0, (16,), (1,))}), t16,
             reason="missingRecord", tensor="v", description="storage key '7': no data/7 record in the archive")
    zip_case("record_smaller_than_numel.pt", program({"w": rebuild_v2(storage("0", 1000), 0, (1000,), (1,))}), t16,
             reason="recordSizeMismatch", tensor="w",
             description="pid numel 1000 float32 (4000 bytes), record data/0 holds 64 bytes (CVE-2026-24747's case)")
    zip_case("record_larger_than_numel.pt", program({"w": rebuild_v2(storage("0", 4), 0, (4,), (1,))}), t16,
             reason="recordSizeMismatch", tensor="w", description="pid numel 4 float32 (16 bytes), record holds 64")
    zip_case("untyped_storage_size_mismatch.pt",
             program({"w": Call(G("torch._utils", "_rebuild_tensor_v3"), storage("0", 100, "UntypedStorage"), 0, (8,),
                                (1,), False, odict(), G("torch", "uint16"))}), t16, reason="recordSizeMismatch", tensor="w",
             description="_rebuild_tensor_v3 on an UntypedStorage of 100 bytes; the record holds 64")
    zip_case("pid_short_tuple.pt", program({"w": rebuild_v2(PID(("storage", G("torch", "FloatStorage"), "0", "cpu")), 0,
                                                            (4, 4), (4, 1))}), t16,
             reason="badPersistentID", tensor="w", description="persistent id ('storage', FloatStorage, '0', 'cpu'): numel missing")
    zip_case("pid_not_storage.pt", program({"w": rebuild_v2(PID(("tensor", G("torch", "FloatStorage"), "0", "cpu", 16)), 0,
                                                            (4, 4), (4, 1))}), t16,
             reason="badPersistentID", tensor="w", description="persistent id tagged 'tensor', not 'storage'")
    zip_case("pid_int.pt", program({"w": rebuild_v2(PID(0), 0, (4, 4), (4, 1))}), t16, reason="badPersistentID",
             tensor="w", description="persistent id is the int 0, not a tuple")
    zip_case("pid_numel_negative.pt", program({"w": rebuild_v2(storage("0", -16), 0, (4, 4), (4, 1))}), t16,
             reason="badPersistentID", tensor="w", description="persistent id numel -16")
    zip_case("pid_storage_type_string.pt", program({"w": rebuild_v2(PID(("storage", "FloatStorage", "0", "cpu", 16)), 0,
                                                                    (4, 4), (4, 1))}), t16,
             reason="badPersistentID", tensor="w", description="storage type given as the string 'FloatStorage', not a global")
    zip_case("storage_qint8.pt", program({"w": rebuild_v2(storage("0", 64, "QInt8Storage"), 0, (64,), (1,))}), t16,
             reason="unsupportedStorage", tensor="w", description="a QInt8Storage (quantized) under _rebuild_tensor_v2")
    name = "complex128.pt"
    torch_save({"z": torch.complex(torch.arange(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))}, path(name))
    case(name, "unsupportedStorage", "real torch.save of a complex128 tensor (ComplexDoubleStorage)", tensor="z")
    name = "quantized_tensor.pt"
    torch_save({"q": torch.quantize_per_tensor(torch.arange(8, dtype=torch.float32), 0.5, 0, torch.qint8)}, path(name))
    case(name, "forbiddenGlobal", "real torch.save of a quantized tensor: _rebuild_qtensor (torch allows it; mm1conv "
                                  "does not read quantized tensors)", tensor="q", pickles=[zip_pickle(path(name))])
    name = "whole_module.pt"
    torch.manual_seed(SEED)
    torch_save(torch.nn.Linear(2, 2), path(name))
    case(name, "forbiddenGlobal", "real torch.save of a whole nn.Linear (not its state_dict)",
         pickles=[zip_pickle(path(name))])

    # --- views and rebuild arguments -----------------------------------------------------------------------------
    zip_case("view_offset_out_of_bounds.pt", program({"w": f32_tensor(offset=100, size=(4,), stride=(1,))}), t16,
             reason="viewOutOfBounds", tensor="w", description="storage of 16 elements, offset 100")
    zip_case("view_stride_out_of_bounds.pt", program({"w": f32_tensor(size=(4, 4), stride=(8, 1))}), t16,
             reason="viewOutOfBounds", tensor="w", description="size (4, 4), stride (8, 1): reaches element 27 of 16")
    zip_case("view_offset_plus_size.pt", program({"w": f32_tensor(offset=1, size=(16,), stride=(1,))}), t16,
             reason="viewOutOfBounds", tensor="w", description="offset 1 + 16 elements in a storage of 16 (off by one)")
    zip_case("view_size_overflow.pt", program({"w": f32_tensor(size=(2**62, 2**62), stride=(2**62, 1))}), t16,
             reason="viewOutOfBounds", tensor="w", description="size (2^62, 2^62), stride (2^62, 1): the extent overflows 64 bits")
    zip_case("view_negative_offset.pt", program({"w": f32_tensor(offset=-4, size=(4,), stride=(1,))}), t16,
             reason="viewOutOfBounds", tensor="w", description="storage offset -4")
    zip_case("view_negative_stride.pt", program({"w": f32_tensor(offset=15, size=(4,), stride=(-1,))}), t16,
             reason="badRebuildArguments", tensor="w", description="stride -1 (torch has no negative strides)")
    zip_case("rebuild_wrong_arity.pt", program({"w": Call(G("torch._utils", "_rebuild_tensor_v2"), storage("0", 16), 0,
                                                          (16,))}), t16,
             reason="badRebuildArguments", tensor="w", description="_rebuild_tensor_v2 with 3 arguments")
    zip_case("rebuild_size_not_tuple.pt", program({"w": rebuild_v2(storage("0", 16), 0, ("four",), (1,))}), t16,
             reason="badRebuildArguments", tensor="w", description="size ('four',)")
    zip_case("rebuild_size_stride_rank.pt", program({"w": rebuild_v2(storage("0", 16), 0, (4, 4), (1,))}), t16,
             reason="badRebuildArguments", tensor="w", description="size of rank 2, stride of rank 1")
    zip_case("rebuild_from_type_bad_func.pt",
             program({"w": Call(G("torch._tensor", "_rebuild_from_type_v2"), G("collections", "OrderedDict"),
                                 G("torch", "Tensor"), (), {})}), t16,
             reason="badRebuildArguments", tensor="w",
             description="_rebuild_from_type_v2 whose function is collections.OrderedDict (allowed global, not a rebuild)")
    zip_case("rebuild_from_type_bad_type.pt",
             program({"w": Call(G("torch._tensor", "_rebuild_from_type_v2"), G("torch._utils", "_rebuild_tensor_v2"),
                                 G("collections", "OrderedDict"), (storage("0", 16), 0, (16,), (1,), False, odict()), {})}),
             t16, reason="badRebuildArguments", tensor="w",
             description="_rebuild_from_type_v2 making a collections.OrderedDict, not a Tensor or Parameter")
    name = "neg_bit_view.pt"
    torch_save({"w": torch.arange(4, dtype=torch.float32)._neg_view()}, path(name))
    case(name, "badRebuildArguments", "real torch.save of a negative-bit view (_neg_view): the metadata dict says the "
                                      "values are negated; reading the bytes as they are would be wrong", tensor="w")

    # --- pickle machine: memo, sizes, depth, truncation, structure ---------------------------------------------------
    zip_case("memo_missing.pt", program(good({"x": Raw(pickle.BINGET + b"\x07")})), t16, reason="memoMissing", tensor="x",
             description="BINGET 7 with nothing memoized")
    zip_case("memo_huge_index.pt", program(good({"x": Raw(pickle.NONE + pickle.LONG_BINPUT + b"\xff\xff\xff\xff")})), t16,
             reason="memoLimit", tensor="x", description="LONG_BINPUT 4294967295 (a reader with an array memo allocates 32 GB)")
    zip_case("memo_huge_text_index.pt", program(good({"x": Raw(pickle.NONE + pickle.PUT + b"9999999999\n")})),
             t16, reason="memoLimit", tensor="x", description="text PUT 9999999999 (above the cap, within 64 bits)")
    # 64 dict keys at each of 8 levels, all the same dict (memo aliasing): 64^8 = 2.8e14 tensor key paths
    bomb = bytearray(pickle.EMPTY_DICT + pickle.MARK + emit("w") + emit(f32_tensor()) + pickle.SETITEMS
                     + pickle.BINPUT + b"\x00")
    for level in range(1, 9):
        bomb += pickle.EMPTY_DICT + pickle.MARK
        for k in range(64):
            bomb += emit(f"k{k}") + pickle.BINGET + bytes([level - 1])
        bomb += pickle.SETITEMS + pickle.BINPUT + bytes([level])
    zip_case("memo_alias_bomb.pt", pickle.PROTO + b"\x02" + bytes(bomb) + pickle.STOP, t16, reason="containerLimit",
             description="8 levels of dicts of 64 keys, each level's values all the same memoized dict: 64^8 = 2.8e14 "
                         "tensor names if key paths are expanded")
    zip_case("depth_marks.pt", program(good({"x": Raw(pickle.MARK * 100000)})), t16, reason="depthLimit", tensor="x",
             description="100000 MARKs left open")
    zip_case("depth_lists.pt", program(good({"x": Raw(pickle.EMPTY_LIST * 100000 + pickle.APPEND * 99999)})), t16,
             reason="depthLimit", tensor="x", description="lists nested 100000 deep")
    zip_case("depth_tuples.pt", program(good({"x": Raw(pickle.NONE + pickle.TUPLE1 * 5000)})), t16, reason="depthLimit",
             tensor="x", description="tuples nested 5000 deep")
    deep = pickle.EMPTY_DICT + b"".join([emit(f"d{i}") + pickle.EMPTY_DICT for i in range(999)]) + emit("w") + \
        emit(f32_tensor()) + pickle.SETITEM * 1000
    zip_case("depth_dicts.pt", pickle.PROTO + b"\x02" + deep + pickle.STOP, t16, reason="depthLimit",
             description="a tensor under dicts nested 1000 deep (key path d0.d1.…)")
    zip_case("length_binunicode_4g.pt", program(good({"x": Raw(pickle.BINUNICODE + b"\xff\xff\xff\xff" + b"abc")})), t16,
             reason="lengthLimit", tensor="x", description="BINUNICODE declaring 4294967295 bytes, 3 present")
    zip_case("length_binbytes8_huge.pt", pickle.PROTO + b"\x04" + emit(good({"x": Raw(
        pickle.BINBYTES8 + struct.pack("<Q", 2**62) + b"abc")}), 4) + pickle.STOP, t16, reason="lengthLimit", tensor="x",
             description="BINBYTES8 declaring 2^62 bytes")
    zip_case("length_long4_huge.pt", program(good({"x": Raw(pickle.LONG4 + struct.pack("<i", 2**31 - 1) + b"\x01")})), t16,
             reason="lengthLimit", tensor="x", description="LONG4 declaring a 2 GiB integer")
    base = program(good({"name": "a string long enough to be cut in the middle", "n": 70000}))
    s_at = base.index(b"a string")
    zip_case("truncated_in_string.pt", base[:s_at + 10], t16, reason="truncated",
             description="data.pkl cut inside a BINUNICODE's text")
    i_at = base.index(pickle.BININT2 + struct.pack("<H", 70000 & 0xFFFF)) if False else base.index(struct.pack("<i", 70000))
    zip_case("truncated_in_int.pt", base[:i_at + 2], t16, reason="truncated",
             description="data.pkl cut inside a BININT's 4 bytes")
    zip_case("truncated_before_stop.pt", base[:-1], t16, reason="truncated", description="data.pkl without its STOP")
    zip_case("truncated_empty_pickle.pt", b"", t16, reason="truncated", description="data.pkl of 0 bytes")
    zip_case("truncated_in_global.pt", program(good({"x": Raw(pickle.GLOBAL + b"collections\nOrdered")})).split(b"Ordered")[0]
             + b"Ordered", t16, reason="truncated", description="data.pkl ends inside a GLOBAL's name line")
    zip_case("trailing_bytes.pt", program(good()) + b"\x00trailing", t16, reason="trailingBytes",
             description="9 bytes after STOP in data.pkl")
    zip_case("setitems_on_list.pt", program(good({"x": Raw(pickle.EMPTY_LIST + pickle.MARK + emit(0) + emit(1)
                                                           + pickle.SETITEMS)})), t16, reason="badStructure", tensor="x",
             description="SETITEMS on a list (CVE-2026-24747's memory corruption in torch < 2.10)")
    zip_case("append_on_dict.pt", program(good({"x": Raw(pickle.EMPTY_DICT + emit(1) + pickle.APPEND)})), t16,
             reason="badStructure", tensor="x", description="APPEND on a dict")
    zip_case("build_on_int.pt", program(good({"x": Raw(emit(5) + pickle.EMPTY_DICT + pickle.BUILD)})), t16,
             reason="badStructure", tensor="x", description="BUILD (set state) on an int")
    zip_case("stack_underflow.pt", pickle.PROTO + b"\x02" + pickle.REDUCE + pickle.STOP, t16, reason="badStructure",
             description="REDUCE on an empty stack")
    zip_case("tuple_without_mark.pt", program(good({"x": Raw(emit(1) + pickle.TUPLE)})), t16, reason="badStructure",
             tensor="x", description="TUPLE with no MARK open")
    zip_case("reduce_on_string.pt", program(good({"x": Raw(emit("posix") + emit(()) + pickle.REDUCE)})), t16,
             reason="badStructure", tensor="x", description="REDUCE whose callable is a string")
    zip_case("top_level_list.pt", program([1, 2, 3]), t16, reason="notACheckpoint",
             description="the pickle holds the list [1, 2, 3], no dict of tensors")
    zip_case("top_level_int.pt", program(42), t16, reason="notACheckpoint", description="the pickle holds the int 42")
    open(path("not_a_checkpoint.pt"), "wb").write(b"# just some text, not a torch file\n" * 4)
    case("not_a_checkpoint.pt", "notACheckpoint", "a text file named .pt: neither a zip nor a legacy pickle stack")

    # --- legacy format ---------------------------------------------------------------------------------------------
    def legacy(name, pks, raw, reason, description, tensor=None):
        open(path(name), "wb").write(legacy_bytes(pks, raw))
        case(name, reason, description, tensor=tensor, pickles=pks)
    legacy("legacy_bad_magic.pt", legacy_header(magic=LEGACY_MAGIC + 1) + [legacy_main(), program(["0"])], raw16,
           "badLegacyHeader", "legacy magic number off by one")
    legacy("legacy_bad_protocol.pt", legacy_header(protocol=1000) + [legacy_main(), program(["0"])], raw16,
           "badLegacyHeader", "legacy protocol version 1000 (torch writes 1001)")
    legacy("legacy_sys_info_not_dict.pt", legacy_header(sys_info=program([1, 2])) + [legacy_main(), program(["0"])],
           raw16, "badLegacyHeader", "legacy sys_info is a list")
    legacy("legacy_numel_mismatch.pt", legacy_header() + [legacy_main(), program(["0"])],
           struct.pack("<q", 15) + np.arange(16, dtype=np.float32).tobytes(), "recordSizeMismatch",
           "legacy raw storage count says 15 elements, the persistent id 16", tensor="w")
    legacy("legacy_truncated_data.pt", legacy_header() + [legacy_main(), program(["0"])], raw16[:40], "truncated",
           "legacy raw storage data cut short (32 of 64 bytes)")
    legacy("legacy_missing_key.pt", legacy_header() + [program({"w": rebuild_v2(legacy_storage("1", 16), 0, (16,), (1,))}),
                                                        program(["0"])], raw16, "missingRecord",
           "legacy main pickle names storage '1'; the key list holds only '0'", tensor="w")
    mod = PID(("module", "Linear", "linear.py", "class Linear: pass"))
    legacy("legacy_module_pid.pt", legacy_header() + [program({"m": mod}), program([])], b"", "legacyModule",
           "legacy ('module', 'Linear', source file, source) persistent id (whole nn.Modules pickled)")
    name = "legacy_whole_module.pt"
    torch.manual_seed(SEED)
    legacy_save(torch.nn.Linear(2, 2), path(name))
    data = open(path(name), "rb").read()
    spans, _ = split_pickles(data, 5)
    case(name, "forbiddenGlobal", "real legacy torch.save of a whole nn.Linear: ('module', <class>, …) persistent ids",
         pickles=[data[a:b] for a, b in spans])
    legacy("legacy_truncated_main_pickle.pt", legacy_header() + [legacy_main()[:20]], b"", "truncated",
           "legacy file cut inside the main pickle")

    # --- containers: TorchScript, tar, zip ------------------------------------------------------------------------
    open(path("torchscript_scripted.pt"), "wb").write(torchscript_bytes("script"))
    case("torchscript_scripted.pt", "torchScript", "torch.jit.save(torch.jit.script(nn.Linear)): constants.pkl + code/ "
                                                   "(CVE-2025-32434's path through torch.jit.load)")
    open(path("torchscript_traced.pt"), "wb").write(torchscript_bytes("trace"))
    case("torchscript_traced.pt", "torchScript", "torch.jit.save(torch.jit.trace(nn.Linear))")
    ents = [dict(name=n, data=d) for n, d, _ in read_zip(open(zip_base(tmpdir), "rb").read())]
    prefix = ents[0]["name"].split("/")[0]
    open(path("constants_pkl_added.pt"), "wb").write(write_zip(ents + [dict(name=f"{prefix}/constants.pkl",
                                                                            data=program(()))]))
    case("constants_pkl_added.pt", "torchScript", "a torch.save archive with a constants.pkl record added "
                                                  "(what marks TorchScript)")
    open(path("tar_format.pt"), "wb").write(tar_checkpoint(tar_tensor_storages(range(4)), tar_tensor_entry(4),
                                                           program({"w": PID("1")})))
    case("tar_format.pt", "tarFormat", "torch's pre-0.1.10 tar format (sys_info, pickle, storages, tensors members)")

    # zip-level: a valid base archive (two tensors) rebuilt with one defect each
    base_ents = [dict(name=n, data=d) for n, d, _ in read_zip(open(zip_base(tmpdir), "rb").read())]
    prefix = base_ents[0]["name"].split("/")[0]
    by = {e["name"]: e for e in base_ents}
    d0, d1 = f"{prefix}/data/0", f"{prefix}/data/1"

    def zipped(name, reason, description, entries=None, **kw):
        open(path(name), "wb").write(write_zip(copy.deepcopy(entries or base_ents), **kw))
        case(name, reason, description)

    open(path("zip_overlapping_entries.pt"), "wb").write(overlapping_archive(prefix, base_ents))
    case("zip_overlapping_entries.pt", "overlappingEntries",
         f"{d1}'s whole local record (header, data, descriptor) lies inside {d0}'s data; every header, size and "
         f"descriptor is consistent, only the two entries share bytes")

    def cd_past_end(end):
        end["cd_offset"] = 1 << 40
    zipped("zip_cd_offset_past_end.pt", "centralDirectoryOutOfBounds",
           "ZIP64 end record puts the central directory at 2^40", eocd_hook=cd_past_end)

    def cd_size_past_end(end):
        end["cd_size"] = end["cd_size"] + 100000
    zipped("zip_cd_size_past_end.pt", "centralDirectoryOutOfBounds",
           "central directory size 100000 bytes past the end of the file", eocd_hook=cd_size_past_end)
    big = copy.deepcopy(base_ents)
    next(e for e in big if e["name"] == d0)["zip64_sizes"] = (2**40, 2**40)
    zipped("zip64_size_past_end.pt", "entryOutOfBounds", f"ZIP64 extra field gives {d0} a size of 2^40 bytes",
           entries=big)

    def offset_past_end(cds):
        next(c for c in cds if c["name"].decode() == d1)["offset"] = 0x7FFFFFF0
    zipped("zip_entry_offset_past_end.pt", "entryOutOfBounds", f"{d1}'s local header offset is past the end",
           cd_hook=offset_past_end)
    dup = copy.deepcopy(base_ents)
    dup.insert(len(dup) - 1, dict(name=d0, data=np.full(16, 7, np.float32).tobytes()))
    zipped("zip_duplicate_entry.pt", "duplicateEntry", f"{d0} twice (second copy different bytes)", entries=dup)
    two = copy.deepcopy(base_ents)
    two.insert(1, dict(name=f"{prefix}/extra.pkl", data=program({"x": 1})))
    zipped("zip_two_pickles.pt", "multiplePickles", f"a second pickle record, {prefix}/extra.pkl, beside data.pkl",
           entries=two)
    zipped("zip_missing_data_pkl.pt", "missingDataPickle", "the archive without its data.pkl",
           entries=[e for e in base_ents if not e["name"].endswith("/data.pkl")])
    local = copy.deepcopy(base_ents)
    next(e for e in local if e["name"] == d1)["local_name"] = f"{prefix}/data/9"
    zipped("zip_local_header_mismatch.pt", "localHeaderMismatch", f"{d1}'s local header names {prefix}/data/9",
           entries=local)
    defl = [dict(e, method=8) for e in base_ents]
    zipped("zip_deflated.pt", "compressedEntry", "every record deflated (torch reads it; mm1conv reads stored records only)",
           entries=defl)
    bomb_pk = program({"w": rebuild_v2(storage("0", 16 << 20), 0, (16 << 20,), (1,))})
    bomb_ents = [dict(name=f"{prefix}/data.pkl", data=bomb_pk), dict(name=f"{prefix}/byteorder", data=b"little"),
                 dict(name=f"{prefix}/data/0", data=bytes(64 << 20), method=8), dict(name=f"{prefix}/version", data=b"3\n")]
    zipped("zip_deflate_bomb.pt", "compressedEntry", f"{prefix}/data/0 deflated: 64 MiB of zeros in about 64 KB",
           entries=bomb_ents)
    whole = write_zip(copy.deepcopy(base_ents))
    open(path("zip_cut_in_half.pt"), "wb").write(whole[:len(whole) // 2])
    case("zip_cut_in_half.pt", "zipTruncated", "a torch archive cut in half: local headers, no end record")
    open(path("zip_eocd_cut.pt"), "wb").write(whole[:-10])
    case("zip_eocd_cut.pt", "zipTruncated", "a torch archive whose last 10 bytes (inside the end record) are gone")
    open(path("zip_magic_then_junk.pt"), "wb").write(b"PK\x03\x04" + bytes(range(256)) * 2)
    case("zip_magic_then_junk.pt", "zipTruncated", "PK\\x03\\x04 then 512 bytes of junk")
    shutil.rmtree(tmpdir)
    return cases


def overlapping_archive(prefix, base_ents):
    """data/0's data holds data/1's whole local record (header, 64-byte-aligned data, descriptor); the central
    directory lists both, each consistent with its own local header and descriptor. data.pkl names data/0 as a
    float32 storage of its real length, data/1 as 16 floats."""
    name1 = f"{prefix}/data/1".encode()
    b_data = np.arange(16, dtype=np.float32).tobytes()
    b_crc = zlib.crc32(b_data)
    numel = 64
    for _ in range(4):   # data.pkl's length depends on numel's encoding: iterate until the layout is stable
        pk = program({"a": rebuild_v2(storage("0", numel), 0, (numel,), (1,)), "b": rebuild_v2(storage("1", 16), 0, (16,), (1,))})
        ents = [dict(name=f"{prefix}/data.pkl", data=pk)] + [e for e in base_ents if not e["name"].endswith(("/data.pkl", "/data/0", "/data/1"))]
        ents.insert(2, dict(name=f"{prefix}/data/0", data=b"\0" * numel * 4))
        seen = {}
        write_zip(ents, cd_hook=lambda cds: seen.update({c["name"].decode(): c for c in cds}))
        a_data = seen[f"{prefix}/data/0"]["data_offset"]
        pad = (-(a_data + 30 + len(name1) + 4)) % 64
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        record = (struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, 0x808, 0, 0, 0, 0, 0, 0, len(name1), len(extra)) + name1
                  + extra + b_data + struct.pack("<IIII", 0x08074B50, b_crc, len(b_data), len(b_data)))
        record += b"\0" * (-len(record) % 4)
        if len(record) // 4 == numel:
            break
        numel = len(record) // 4
    ents[2]["data"] = record

    def add_b(cds):
        a = next(c for c in cds if c["name"].decode() == f"{prefix}/data/0")
        cds.insert(cds.index(a) + 1, dict(name=name1, method=0, crc=b_crc, csize=len(b_data), usize=len(b_data),
                                          offset=a["data_offset"], data_offset=None, zip64_sizes=None))
    data = write_zip(ents, cd_hook=add_b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = torch.load(io.BytesIO(data), weights_only=True)   # torch reads it: miniz does not look for overlaps
    assert back["b"].equal(torch.arange(16, dtype=torch.float32)), back
    return data


def zip_pickle(path):
    return next(d for n, d, _ in read_zip(open(path, "rb").read()) if n.endswith("/data.pkl"))


def zip_base(tmpdir):
    """A small valid archive (two float32 tensors, keys 0 and 1) to rebuild with defects."""
    p = os.path.join(tmpdir, "base.pt")
    if not os.path.exists(p):
        torch_save({"a": torch.arange(16, dtype=torch.float32), "b": torch.arange(8, dtype=torch.float32) * 2}, p)
    return p


def torchscript_bytes(how):
    """torch.jit.save of a scripted or traced nn.Linear(2, 2), with a fixed serialization id; the `.debug_pkl`
    records (source paths of this machine) dropped so the file does not depend on where torch is installed."""
    torch.manual_seed(SEED)
    m = torch.nn.Linear(2, 2)
    sm = torch.jit.script(m) if how == "script" else torch.jit.trace(m, torch.ones(1, 2))
    buf = io.BytesIO()
    torch.jit.save(sm, buf)
    ents = []
    for n, d, _ in read_zip(buf.getvalue()):
        if n.endswith(".debug_pkl"):
            continue
        if n.endswith(".data/serialization_id"):
            d = SERIALIZATION_ID.encode()[:len(d)].ljust(len(d), b"0")
        ents.append(dict(name=n, data=d))
    return write_zip(ents)


# ---------------------------------------------------------------------------------------------------------------
# Probing with torch.load: one worker process imports torch once and forks a child per load


PROBE_WORKER = r'''
import json, os, resource, signal, sys, time, warnings
warnings.simplefilter("ignore")
import torch
jobs = json.loads(sys.argv[1])
folder = sys.argv[2]
os.chdir(folder)
def vsize():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
results = []
for file, weights_only, marker in jobs:
    if marker and os.path.exists(marker):
        os.remove(marker)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            limit = vsize() + (4 << 30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            signal.alarm(120)
            try:
                obj = torch.load(file, weights_only=weights_only, map_location="cpu")
                out = {"ok": True, "type": type(obj).__name__}
            except BaseException as e:
                out = {"ok": False, "error": type(e).__name__, "message": str(e)[:4000]}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    out = json.loads(b"".join(chunks)) if chunks else {"ok": False, "error": "killed", "message": f"wait status {status}"}
    ran = False
    if marker:
        deadline = time.time() + 3
        while time.time() < deadline and not os.path.exists(marker):
            time.sleep(0.05)
        ran = os.path.exists(marker)
        if ran:
            os.remove(marker)
    out["marker_appeared"] = ran
    results.append(out)
print(json.dumps(results))
'''


def probe(folder, jobs):
    """jobs: [(file name in folder, weights_only, marker path or None)] -> results, in order."""
    p = subprocess.run([sys.executable, "-c", PROBE_WORKER, json.dumps(jobs), folder], capture_output=True, text=True,
                       timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def summary(r):
    if r["ok"]:
        return "loads: " + r["type"]
    return f"{r['error']}: {clean_message(r['message'])}"


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def versions():
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "safetensors": safetensors.__version__}


def all_files(folder):
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            os.chmod(p, 0o644)   # safetensors writes 0600
            rel = os.path.relpath(p, folder)
            if rel != "MANIFEST.json":
                out[rel] = file_sha(p)
    return dict(sorted(out.items()))


def run_valid():
    fixtures = make_valid()
    manifest = {"generator": GENERATOR, "versions": versions(), "seed": SEED, "serialization_id": SERIALIZATION_ID,
                "naming": "dotted key path; one wrapper key (" + ", ".join(WRAPPERS) + ") holding every tensor dropped, "
                          "then a module. or _orig_mod. prefix carried by every name dropped",
                "fixtures": fixtures, "files": all_files(OUT)}
    write_json(os.path.join(OUT, "MANIFEST.json"), manifest)
    print(f"{len(fixtures)} checkpoints, {len(manifest['files'])} files in {os.path.relpath(OUT, ROOT)}")


def run_malformed():
    cases = make_corpus()
    names = list(cases)
    jobs = []
    for n in names:
        marker = cases[n].get("marker")
        jobs.append((n, False, marker))
        jobs.append((n, True, marker))
    results = probe(BAD, jobs)
    mismatched = []
    for i, n in enumerate(names):
        rf, rt = results[2 * i], results[2 * i + 1]
        c = cases[n]
        expect = c.pop("_expect_runs", None)
        c["runs_code_under_torch_load"] = rf["marker_appeared"]
        c["torch_load_weights_only_false"] = summary(rf)
        c["torch_load_weights_only_true"] = summary(rt)
        if rt["marker_appeared"]:
            c["runs_code_under_torch_load_weights_only_true"] = True
        if expect is not None and expect != rf["marker_appeared"]:
            mismatched.append(n)
    expected = {n: {k: cases[n][k] for k in ("reason", "description", "global", "tensor", "runs_code_under_torch_load",
                                             "marker", "torch_load_weights_only_true", "torch_load_weights_only_false",
                                             "runs_code_under_torch_load_weights_only_true") if k in cases[n]}
                for n in sorted(names)}
    write_json(os.path.join(BAD, "expected.json"), expected)
    write_json(os.path.join(BAD, "MANIFEST.json"), {"generator": GENERATOR, "versions": versions(), "seed": SEED,
                                                    "files": all_files(BAD)})
    runs = [n for n in names if cases[n]["runs_code_under_torch_load"]]
    print(f"{len(names)} corpus files in {os.path.relpath(BAD, ROOT)}; {len(runs)} ran their payload under "
          f"torch.load(weights_only=False)")
    if mismatched:
        print("payload files whose payload did not behave as intended:", ", ".join(mismatched))
    return mismatched


def main():
    if os.environ.get("PYTHONHASHSEED") != "0":
        # TorchScript's generated code orders some attributes by string hash: fix the hash seed
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, PYTHONHASHSEED="0"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--valid", action="store_true")
    ap.add_argument("--malformed", action="store_true")
    a = ap.parse_args()
    both = not a.valid and not a.malformed
    if a.valid or both:
        run_valid()
    if a.malformed or both:
        if run_malformed():
            sys.exit(1)


if __name__ == "__main__":
    main()
