#!/usr/bin/env python3
"""Writes Tests/Fixtures/SHA256SUMS: the SHA-256 of every generated file under Tests/Fixtures and Samples/tiny-*
(everything but the generator scripts, Markdown and this list), in `sha256sum` format, sorted by path.

Run last by `make fixtures`, after every generator; `FixtureIntegrityTests` fails when a file on disk and this
list disagree (a file changed, added or removed without regenerating), and `sha256sum -c Tests/Fixtures/SHA256SUMS`
checks the same from the repository root. Needs only the standard library.
"""
import hashlib
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FOLDERS = ["Tests/Fixtures", "Samples/tiny-mm1", "Samples/tiny-llama"]
OUT = os.path.join(ROOT, "Tests/Fixtures/SHA256SUMS")
SKIPPED_SUFFIXES = (".py", ".md", ".pyc")


def listed_files():
    for folder in FOLDERS:
        for base, dirs, names in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                path = os.path.join(base, name)
                rel = os.path.relpath(path, ROOT)
                if name.endswith(SKIPPED_SUFFIXES) or rel == os.path.relpath(OUT, ROOT) or os.path.islink(path):
                    continue
                yield rel


def main():
    lines = []
    for rel in sorted(listed_files()):
        digest = hashlib.sha256()
        with open(os.path.join(ROOT, rel), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        lines.append(f"{digest.hexdigest()}  {rel}\n")
    with open(OUT, "w") as f:
        f.writelines(lines)
    print(f"{len(lines)} files hashed into {os.path.relpath(OUT, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
