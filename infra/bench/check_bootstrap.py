#!/usr/bin/env python3
"""Checks every Lambda bootstrap for what protects it and for its deployment size (`make package`
runs it on every arm64 bootstrap):

- a position-independent executable (ELF type DYN with a PIE flag): the binary's own code and
  data are placed at a random address, like the stack, heap and libraries;
- full RELRO: a GNU_RELRO segment and BIND_NOW, so every relocated pointer (the GOT included)
  is read-only before the first instruction of ours runs;
- a non-executable stack (GNU_STACK without E);
- a zip (deflate -9, what Lambda stores) of at most 3,000,000 bytes.

Prints one line per bootstrap with its raw and zipped size. Exits 1 naming every problem.

Usage: check_bootstrap.py BOOTSTRAP...
"""

import io
import os
import re
import subprocess
import sys
import zipfile

ZIP_LIMIT = 3_000_000


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, capture_output=True, text=True).stdout


def zipped_size(path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(path, "bootstrap")
    return len(buffer.getvalue())


def problems(path, zipped):
    found = []
    elf_type = re.search(r"Type:\s+(\S+)", readelf("-h", path)).group(1)
    dynamic = readelf("-d", path)
    flags = " ".join(re.findall(r"\((?:FLAGS|FLAGS_1)\)\s+(?:Flags:)?\s*(.*)", dynamic))
    if elf_type != "DYN" or "PIE" not in flags.split():
        found.append(f"is not a position-independent executable (type {elf_type}, flags: {flags or 'none'})")
    segments = readelf("-l", path)
    if "GNU_RELRO" not in segments:
        found.append("has no GNU_RELRO segment (linked without -z relro)")
    if "BIND_NOW" not in flags.split() and "NOW" not in flags.split():
        found.append("binds lazily (no BIND_NOW: RELRO is partial, the GOT stays writable)")
    stack = re.search(r"GNU_STACK(?:\s+\S+){5}\s+(\S+)", segments)
    if stack is None or "E" in stack.group(1):
        found.append(f"has an executable stack (GNU_STACK flags: {stack.group(1) if stack else 'missing'})")
    if zipped > ZIP_LIMIT:
        found.append(f"zips to {zipped:,} bytes, over the {ZIP_LIMIT:,}-byte budget")
    return found


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    failed = False
    for path in sys.argv[1:]:
        raw, zipped = os.path.getsize(path), zipped_size(path)
        found = problems(path, zipped)
        name = os.path.basename(os.path.dirname(path)) or path
        verdict = "; ".join(found) if found else "PIE, full RELRO, NX stack"
        print(f"{name:<16} {raw:>10,} bytes {zipped:>10,} zipped  {verdict}")
        failed |= bool(found)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
