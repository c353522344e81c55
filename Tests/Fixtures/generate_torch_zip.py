#!/usr/bin/env python3
"""Writes the zip-container fixtures of torch.save checkpoints, deterministically.

    python Tests/Fixtures/generate_torch_zip.py            # stdlib only (zipfile, zlib, pickle)
    /opt/torchpy/bin/python Tests/Fixtures/generate_torch_zip.py   # also writes the torch.save archives

Tests/Fixtures/torch-zip/         archives that must read (TorchZipArchiveTests), with expected.json:
                                  file -> {prefix, zipOffset, entries: {name: [start, end, crc32]}}
Tests/Fixtures/malformed/torch-zip/  one crafted archive per violation, with expected.json:
                                  file -> {reason, description, entry?, ref: what torch's own reader does}

Most archives come from `build` below, a small writer shaped like torch's (miniz with ZIP64 on): stored
entries, a data descriptor after each, an "FB" extra field of 'Z's padding every record to 64 bytes,
ZIP64 end records. Its keyword arguments override single fields, which is how the malformed files are made.
One archive is written by Python's zipfile, and, when torch is importable, two by torch.save itself.
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
GOOD = os.path.join(HERE, "torch-zip")
BAD = os.path.join(HERE, "malformed", "torch-zip")
M32, M16 = 0xFFFFFFFF, 0xFFFF

# The records of a small torch-shaped checkpoint, in the order torch 2.x writes them.
RECORDS = [
    ("data.pkl", pickle.dumps({"epoch": 3, "step": 1200}, protocol=2)),
    (".format_version", b"1"),
    (".storage_alignment", b"64"),
    ("byteorder", b"little"),
    ("data/0", struct.pack("<6f", 0.5, -1.0, 2.0, 3.25, -0.125, 8.0)),
    ("data/1", bytes(range(7))),
    ("version", b"3\n"),
    (".data/serialization_id", b"0123456789012345678901234567890123456789"),
]


class Hole:
    """`n` zero bytes of record data that are not stored: the archive becomes pieces of a sparse file."""
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def crc32(data):
    if not isinstance(data, Hole):
        return zlib.crc32(data)
    crc, chunk = 0, bytes(64 << 20)
    for at in range(0, data.n, len(chunk)):
        crc = zlib.crc32(chunk[:min(len(chunk), data.n - at)], crc)
    return crc


class Output:
    """Bytes written one after the other; a Hole skips bytes without storing them."""
    def __init__(self, initial=b""):
        self.pieces, self.start, self.buf = [], 0, bytearray(initial)

    def __len__(self):
        return self.start + len(self.buf)

    def __iadd__(self, data):
        if isinstance(data, Hole):
            self.pieces.append((self.start, bytes(self.buf)))
            self.start, self.buf = len(self) + data.n, bytearray()
        else:
            self.buf += data
        return self

    def result(self):
        """The bytes, or for a sparse archive [(offset, bytes)] pieces and the total size."""
        if not self.pieces:
            return bytes(self.buf)
        return self.pieces + [(self.start, bytes(self.buf))], len(self)


def build(records=RECORDS, prefix="archive", *, entry=None, cd_order=None, zip64=True, eocd=None, z64=None,
          locator=None, comment=b"", junk=b"", trailing=b"", align=64, force64=False):
    """A torch-shaped zip. `entry` maps a record index to field overrides: name (central and local), data,
    payload (stored bytes when compressed), method, flags, crc, csize, usize, lho, disk (central), extra
    (central extra field bytes), l_name, l_sig, l_method, l_flags, l_crc, l_csize, l_usize (local header).
    `force64` puts every central size and offset in a ZIP64 extra field, as a writer does past 4 GiB.
    `eocd`, `z64`, `locator` override fields of the end records by name."""
    entry = entry or {}
    out = Output(junk)
    base = len(junk)  # offsets are relative to the start of the zip, as a writer unaware of the junk writes them
    cent = []
    for i, (name, data) in enumerate(records):
        o = entry.get(i, {})
        full = o.get("name", (prefix + "/" + name).encode() if isinstance(name, str) else name)
        data = o.get("data", data)
        payload = o.get("payload", data)
        method, flags = o.get("method", 0), o.get("flags", 0x808)  # data descriptor + UTF-8 names, as torch
        crc = o.get("crc", crc32(data))
        lho = len(out) - base
        lname = o.get("l_name", full)
        start = lho + 30 + len(lname) + 4
        pad = (-start) % align
        lextra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", o.get("l_sig", 0x04034B50), 45, o.get("l_flags", flags), o.get("l_method", method),
                           0, 0x21, o.get("l_crc", 0), o.get("l_csize", 0), o.get("l_usize", 0), len(lname), len(lextra))
        out += lname + lextra
        out += payload
        out += struct.pack("<IIQQ", 0x08074B50, crc, len(payload), len(data))
        cent.append(dict(name=full, flags=flags, method=method, crc=crc, csize=o.get("csize", len(payload)),
                         usize=o.get("usize", len(data)), lho=o.get("lho", lho), disk=o.get("disk", 0), extra=o.get("extra")))
    cd_start = len(out) - base
    for i in (cd_order if cd_order is not None else range(len(cent))):
        c = cent[i]
        extra = c["extra"]
        fields = [c["usize"], c["csize"], c["lho"]]
        if extra is None:  # miniz: a ZIP64 field only for the values that need it
            big = [v for v in fields if v >= M32 or force64]
            extra = struct.pack("<HH", 1, 8 * len(big)) + b"".join(struct.pack("<Q", v) for v in big) if big else b""
        usize, csize, lho = (M32 if force64 else min(v, M32) for v in fields)
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, c["flags"], c["method"], 0, 0x21, c["crc"], csize, usize,
                           len(c["name"]), len(extra), 0, c["disk"], 0, 0, lho)
        out += c["name"] + extra
    cd_size = len(out) - base - cd_start
    n = len(cent)
    if zip64:
        z = dict(sig=0x06064B50, size=44, disk=0, cd_disk=0, disk_entries=n, entries=n, cd_size=cd_size, cd_offset=cd_start)
        z.update(z64 or {})
        z64_at = len(out) - base
        out += struct.pack("<IQHHIIQQQQ", z["sig"], z["size"], 45, 45, z["disk"], z["cd_disk"], z["disk_entries"], z["entries"],
                           z["cd_size"], z["cd_offset"])
        if z["size"] > 44:
            out += b"\0" * (z["size"] - 44)
        loc = dict(sig=0x07064B50, disk=0, offset=z64_at, disks=1)
        loc.update(locator or {})
        out += struct.pack("<IIQI", loc["sig"], loc["disk"], loc["offset"], loc["disks"])
    # The end record holds each value, or its marker when it does not fit (the ZIP64 record's values when there is one).
    if zip64:
        n, cd_size, cd_start = z["entries"], z["cd_size"], z["cd_offset"]
    e = dict(disk=0, cd_disk=0, disk_entries=min(n, M16), entries=min(n, M16), cd_size=min(cd_size, M32),
             cd_offset=min(cd_start, M32), comment_length=len(comment))
    e.update(eocd or {})
    out += struct.pack("<IHHHHIIH", 0x06054B50, e["disk"], e["cd_disk"], e["disk_entries"], e["entries"], e["cd_size"],
                       e["cd_offset"], e["comment_length"])
    out += comment + trailing
    return out.result()


def deflate(data_size):
    """Raw deflate (zip method 8) of `data_size` zero bytes, made a chunk at a time."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = [c.compress(chunk) for _ in range(data_size >> 20)]
    return b"".join(parts) + c.flush()


def python_zipfile(prefix):
    """The records written by Python's zipfile: stored, ZIP64 local headers, data aligned to 64 bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in RECORDS:
            info = zipfile.ZipInfo(f"{prefix}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            start = buf.tell() + 30 + len(info.filename.encode()) + 4 + 20  # + the ZIP64 extra force_zip64 adds
            pad = (-start) % 64
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            with z.open(info, "w", force_zip64=True) as f:
                f.write(data)
    return buf.getvalue()


def entries_of(blob):
    """name -> [start, end, crc32] of each record's bytes, found with Python's zipfile (offsets shifted as it shifts
    them). `blob` is the archive's bytes or a file open for reading."""
    f = io.BytesIO(blob) if isinstance(blob, bytes) else blob
    out = {}
    with zipfile.ZipFile(f) as z:
        prefix = z.infolist()[0].filename.split("/")[0]
        for info in z.infolist():
            f.seek(info.header_offset + 26)
            nlen, elen = struct.unpack("<HH", f.read(4))
            start = info.header_offset + 30 + nlen + elen
            if info.CRC and info.file_size < 1 << 20:  # CRC 0: written with CRC-32s off, which zipfile.read refuses
                f.seek(start)
                assert f.read(info.file_size) == z.read(info), info.filename
            out[info.filename[len(prefix) + 1:]] = [start, start + info.file_size, info.CRC]
    return prefix, out


def sparse_over_4gib():
    """An archive past 4 GiB as the pieces of a sparse file: data/0 holds 5 GiB of zeros, so its size, and the
    local header offsets of the records after it, are in ZIP64 extra fields (as torch writes big checkpoints)."""
    import base64
    import tempfile
    records = [("data/0", Hole(5 << 30)), ("data.pkl", RECORDS[0][1]), ("version", b"3\n")]
    pieces, size = build(records, prefix="big")
    with tempfile.TemporaryFile() as f:
        for offset, data in pieces:
            f.seek(offset)
            f.write(data)
        f.truncate(size)
        prefix, entries = entries_of(f)
    doc = {"size": size, "pieces": [[offset, base64.b64encode(data).decode()] for offset, data in pieces],
           "prefix": prefix, "entries": entries}
    with open(os.path.join(GOOD, "sparse_over_4gib.json"), "w") as out:
        json.dump(doc, out, indent=1, sort_keys=True)
        out.write("\n")


def torch_archives():
    """Two archives written by torch.save (a file, whose folder is its base name, and a buffer: 'archive')."""
    try:
        import torch
    except ImportError:
        print("torch not importable: torch.save archives not (re)written", file=sys.stderr)
        return {}
    state = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.ones(3, dtype=torch.float16),
             "t": torch.arange(6, dtype=torch.int64)}
    state["tied"] = state["w"]
    # .data/serialization_id is a hash of the record names and CRCs: the bytes are reproducible.
    path = os.path.join(GOOD, "torch_save_file.pt")
    torch.save(state, path)
    buf = io.BytesIO()
    torch.save(state, buf)
    with open(os.path.join(GOOD, "torch_save_buffer.pt"), "wb") as f:
        f.write(buf.getvalue())
    # Records aligned to 4096 bytes (what GPUDirect Storage wants), CRC-32s not computed.
    from torch.utils.serialization import config
    saved = (config.save.storage_alignment, config.save.compute_crc32)
    config.save.storage_alignment, config.save.compute_crc32 = 4096, False
    try:
        aligned = os.path.join(GOOD, "torch_save_align4096_nocrc.pt")
        torch.save(state, aligned)
    finally:
        config.save.storage_alignment, config.save.compute_crc32 = saved
    return {"torch_save_file.pt": open(path, "rb").read(), "torch_save_buffer.pt": buf.getvalue(),
            "torch_save_align4096_nocrc.pt": open(aligned, "rb").read(), "_torch_version": torch.__version__}


def good():
    os.makedirs(GOOD, exist_ok=True)
    junk = b"#!/bin/sh\necho not a checkpoint\n" + bytes(range(256)) * 4
    files = {  # name -> (bytes, bytes before the zip)
        "torch_shaped.pt": (build(), 0),
        "python_zipfile.pt": (python_zipfile("python_zipfile"), 0),
        "junk_prefix.pt": (build(junk=junk), len(junk)),
        "reversed_order.pt": (build(cd_order=list(reversed(range(len(RECORDS))))), 0),
        "eocd_markers.pt": (build(eocd=dict(disk_entries=M16, entries=M16, cd_size=M32, cd_offset=M32), comment=b"a comment"), 0),
        "zip64_extra_fields.pt": (build(force64=True), 0),
        "tiny_prefix.pt": (build(records=[("data.pkl", b"\x80\x02}q\x00.")], prefix="m"), 0),
    }
    for name, (blob, _) in files.items():
        with open(os.path.join(GOOD, name), "wb") as f:
            f.write(blob)
    torch_files = torch_archives()
    version = torch_files.pop("_torch_version", None)
    files.update({name: (blob, 0) for name, blob in torch_files.items()})
    expected_path = os.path.join(GOOD, "expected.json")
    expected = json.load(open(expected_path)) if os.path.exists(expected_path) else {}
    for name, (blob, offset) in files.items():
        prefix, entries = entries_of(blob)
        expected[name] = {"prefix": prefix, "zipOffset": offset, "entries": entries}
        if name.startswith("torch_save"):
            expected[name]["writer"] = f"torch {version}"
    with open(expected_path, "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


def torch_reference(path):
    """What torch's own zip reader (PyTorchStreamReader, miniz) does with the file: reads every record, or
    refuses it and says why. None when torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    try:
        reader = torch._C.PyTorchFileReader(path)
        for record in reader.get_all_records():
            reader.get_record(record)
        return f"torch {torch.__version__}: reads every record"
    except Exception as e:  # noqa: BLE001 - the message is the point
        first = str(e).splitlines()[0].split(". This is an internal miniz error")[0]
        return f"torch {torch.__version__}: refuses: {first[:160]}"


def bad():
    os.makedirs(BAD, exist_ok=True)
    shaped = build()
    n = len(RECORDS)
    eocd_at = len(shaped) - 22
    cases = {}

    def case(name, reason, description, blob, entry=None):
        cases[name] = (reason, description, blob, entry)

    A = lambda i: "archive/" + RECORDS[i][0]  # the stored name of record i
    # The container as a whole.
    case("empty.bin", "notZip", "an empty file", b"")
    case("text.bin", "notZip", "text, no zip structure at all", b"just some text, not a checkpoint\n" * 4)
    case("pytorch1_preview.bin", "notZip", "the PYTORCH1 magic of torch's preview release, no zip", b"PYTORCH1" + bytes(64))
    case("truncated_half.pt", "zipTruncated", "the first half of a valid archive (starts with a local header)", shaped[:len(shaped) // 2])
    case("truncated_comment.pt", "zipTruncated", "end record's comment length runs past the end of the file",
         build(eocd=dict(comment_length=40), comment=b"short"))
    case("zip64_record_cut.pt", "zipTruncated", "only the ZIP64 locator and end record remain", shaped[-42:])
    case("trailing_garbage.pt", "badEndRecord", "16 bytes after the end record (no comment declared)", shaped + b"G" * 16)
    case("zip64_locator_wrong.pt", "badEndRecord", "the ZIP64 locator points 8 bytes before the ZIP64 end record",
         build(locator=dict(offset=len(shaped) - 22 - 20 - 56 - 8)))
    case("zip64_count_disagrees.pt", "badEndRecord", "end record says 3 entries, the ZIP64 end record 8",
         build(eocd=dict(disk_entries=3, entries=3)))
    case("zip64_extensible.pt", "badEndRecord", "ZIP64 end record with an extensible data sector (52 bytes declared)",
         build(z64=dict(size=52)))
    case("zip64_marker_without_locator.bin", "badEndRecord", "end record defers the central directory offset to a ZIP64 record that is absent",
         build(zip64=False, eocd=dict(cd_offset=M32)))
    case("multi_disk.pt", "multiDisk", "end record on disk 1", build(eocd=dict(disk=1)))
    case("multi_disk_locator.pt", "multiDisk", "ZIP64 locator says 2 disks", build(locator=dict(disks=2)))
    case("multi_disk_entry.pt", "multiDisk", "an entry starting on disk 1", build(entry={4: dict(disk=1)}), A(4))
    case("cd_offset_past_end.pt", "centralDirectoryOutOfBounds", "ZIP64 central directory offset 2^40, past the end of the file",
         build(z64=dict(cd_offset=1 << 40)))
    case("cd_size_past_start.pt", "centralDirectoryOutOfBounds", "central directory size larger than the bytes before the end records",
         build(z64=dict(cd_size=len(shaped))))
    case("cd_too_large.pt", "centralDirectoryTooLarge", "ZIP64 central directory size 2^31, over the 128 MiB cap",
         build(z64=dict(cd_size=1 << 31)))
    case("too_many_entries.pt", "tooManyEntries", "ZIP64 entry count 2^40", build(z64=dict(entries=1 << 40, disk_entries=1 << 40)))
    case("count_exceeds_cd.pt", "badCentralEntry", "1000 entries declared in a central directory of 8",
         build(z64=dict(entries=1000, disk_entries=1000)))
    cd_at = build().find(b"PK\x01\x02")
    case("cd_bad_signature.pt", "badCentralEntry", "the first central entry's signature is broken",
         shaped[:cd_at] + b"PK\x01\x03" + shaped[cd_at + 4:])
    case("cd_trailing_bytes.pt", "badCentralEntry", "one more central entry than the end records declare",
         build(eocd=dict(disk_entries=n - 1, entries=n - 1), z64=dict(entries=n - 1, disk_entries=n - 1)))
    case("zip64_extra_missing.pt", "badCentralEntry", "a central size holds the ZIP64 marker without a ZIP64 extra field",
         build(entry={4: dict(csize=M32, usize=M32, extra=b"")}), A(4))
    case("extra_field_overrun.pt", "badCentralEntry", "a central extra field declares 200 bytes, 4 are there",
         build(entry={4: dict(extra=struct.pack("<HH", 0xCAFE, 200) + b"abcd")}), A(4))
    case("empty_archive.pt", "emptyArchive", "valid end records, no entries", build(records=[]))
    # Names.
    case("name_dotdot.pt", "badEntryName", "an entry named archive/../../etc/passwd",
         build(entry={4: dict(name=b"archive/../../etc/passwd")}), "archive/../../etc/passwd")
    case("name_absolute.pt", "badEntryName", "an entry named /archive/data.pkl (absolute)",
         build(entry={0: dict(name=b"/archive/data.pkl")}), "/archive/data.pkl")
    case("name_backslash.pt", "badEntryName", "an entry named archive\\data\\0", build(entry={4: dict(name=b"archive\\data\\0")}),
         "archive\\data\\0")
    case("name_nul.pt", "badEntryName", "a NUL inside an entry name", build(entry={4: dict(name=b"archive/data/0\x00.sh")}),
         "archive/data/0\\u{0}.sh")
    case("name_escape_sequence.pt", "badEntryName", "a terminal escape sequence in an entry name (shown escaped in messages)",
         build(entry={4: dict(name=b"archive/data/\x1b[2J0")}), "archive/data/\\u{1B}[2J0")
    case("name_drive_letter.pt", "badEntryName", "an entry named C:/archive/data/0", build(entry={4: dict(name=b"C:/archive/data/0")}),
         "C:/archive/data/0")
    case("name_folder_entry.pt", "badEntryName", "a folder entry archive/data/", build(entry={4: dict(name=b"archive/data/", data=b"")}),
         "archive/data/")
    case("name_non_ascii_no_flag.pt", "badEntryName", "a non-ASCII name without the UTF-8 flag (code page 437 would read it otherwise)",
         build(entry={5: dict(name="archive/data/é".encode(), flags=0x08)}), "archive/data/é")
    case("name_bad_utf8.pt", "badEntryName", "an entry name that is not UTF-8, UTF-8 flag set",
         build(entry={5: dict(name=b"archive/data/\xff\xfe", flags=0x808)}), "archive/data/\ufffd\ufffd")
    case("no_folder.pt", "entryOutsidePrefix", "the first entry, data.pkl, is in no folder", build(entry={0: dict(name=b"data.pkl")}),
         "data.pkl")
    case("mixed_prefix.pt", "entryOutsidePrefix", "one entry in other/ while the rest are in archive/",
         build(entry={4: dict(name=b"other/data/0")}), "other/data/0")
    case("duplicate_entry.pt", "duplicateEntry", "two entries named archive/data/0", build(entry={5: dict(name=b"archive/data/0")}),
         "archive/data/0")
    # Entries.
    case("encrypted.pt", "encryptedEntry", "an entry with the encryption flag", build(entry={4: dict(flags=0x809)}), A(4))
    case("aes_method.pt", "encryptedEntry", "an entry with method 99 (AES)", build(entry={4: dict(method=99)}), A(4))
    small = deflate(1 << 20)
    case("deflated.pt", "compressedEntry", "data/0 deflated (1 MiB of zeros)",
         build(entry={4: dict(method=8, data=bytes(1 << 20), payload=small, crc=zlib.crc32(bytes(1 << 20)))}), A(4))
    bomb = deflate(64 << 20)
    zeros_crc = 0
    for _ in range(64):
        zeros_crc = zlib.crc32(bytes(1 << 20), zeros_crc)
    case("deflate_bomb.pt", "compressedEntry", f"a deflate bomb: {len(bomb)} bytes inflating to 64 MiB, refused without inflating",
         build(entry={4: dict(method=8, data=b"", payload=bomb, usize=64 << 20, crc=zeros_crc)}), A(4))
    case("bzip2_method.pt", "compressedEntry", "an entry with method 12 (bzip2)", build(entry={4: dict(method=12)}), A(4))
    case("stored_size_mismatch.pt", "storedSizeMismatch", "stored entry with 24 compressed but 4096 uncompressed bytes",
         build(entry={4: dict(usize=4096)}), A(4))
    case("local_past_end.pt", "entryOutOfBounds", "a local header offset past the end of the file",
         build(entry={4: dict(lho=1 << 20)}), A(4))
    case("local_offset_huge.pt", "entryOutOfBounds", "a ZIP64 local header offset of 2^64-1",
         build(entry={4: dict(lho=(1 << 64) - 1)}), A(4))
    case("zip64_size_past_end.pt", "entryOutOfBounds", "ZIP64 sizes of 2^50 bytes for data/0, past the end of the file",
         build(entry={4: dict(csize=1 << 50, usize=1 << 50)}), A(4))
    case("zip64_size_max.pt", "entryOutOfBounds", "ZIP64 sizes of 2^64-1 (offset + size overflows)",
         build(entry={4: dict(csize=(1 << 64) - 1, usize=(1 << 64) - 1)}), A(4))
    case("local_bad_signature.pt", "localHeaderMismatch", "data/0's local header signature is broken",
         build(entry={4: dict(l_sig=0x04034B51)}), A(4))
    case("local_name_differs.pt", "localHeaderMismatch", "data/0's local header names archive/data/9",
         build(entry={4: dict(l_name=b"archive/data/9")}), A(4))
    case("local_method_differs.pt", "localHeaderMismatch", "data/0's local header says deflate, the central directory stored",
         build(entry={4: dict(l_method=8)}), A(4))
    case("local_sizes_differ.pt", "localHeaderMismatch", "no data descriptor, and local sizes 7 where the central directory says 24",
         build(entry={4: dict(flags=0x800, l_crc=zlib.crc32(RECORDS[4][1]), l_csize=7, l_usize=7)}), A(4))
    # Overlaps: data/0's declared size grown over data/1's local header, or over the central directory.
    grown = build(entry={4: dict(csize=24 + 200, usize=24 + 200)})
    case("overlapping_entries.pt", "overlappingEntries", "data/0's data covers data/1's local header and data", grown, A(5))
    last = len(RECORDS) - 1
    case("data_into_cd.pt", "overlappingEntries", "the last entry's size runs into the central directory",
         build(entry={last: dict(csize=len(RECORDS[last][1]) + 100, usize=len(RECORDS[last][1]) + 100)}), A(last))

    expected_path = os.path.join(BAD, "expected.json")
    previous = json.load(open(expected_path)) if os.path.exists(expected_path) else {}
    expected = {}
    for name, (reason, description, blob, entry) in sorted(cases.items()):
        path = os.path.join(BAD, name)
        with open(path, "wb") as f:
            f.write(blob)
        expected[name] = {"reason": reason, "description": description}
        if entry is not None:
            expected[name]["entry"] = entry
        ref = torch_reference(path)
        if ref is None and "ref" in previous.get(name, {}):
            ref = previous[name]["ref"]
        if ref is not None:
            expected[name]["ref"] = ref
    with open(expected_path, "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    good()
    sparse_over_4gib()
    bad()
