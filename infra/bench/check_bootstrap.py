#!/usr/bin/env python3
"""Checks that release bootstraps are laid out as functions/bootstrap_link.rs says (`make test`
runs it on a release create-session; `make package` on every arm64 bootstrap):

- a fixed-address executable (ELF type EXEC), not a PIE with a relocation table to apply;
- no libm.so.6 to load (common::libm_pow answers the one call the SDK makes into it);
- a `.text.coldstart` section holding the code a cold start runs (functions/coldstart.ld).

Usage: check_bootstrap.py BOOTSTRAP...
"""

import re
import subprocess
import sys


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, capture_output=True, text=True).stdout


def problems(path):
    found = []
    elf_type = re.search(r"Type:\s+(\S+)", readelf("-h", path)).group(1)
    if elf_type != "EXEC":
        found.append(f"is {elf_type}, not a fixed-address executable (EXEC)")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-d", path))
    if any(lib.startswith("libm.so") for lib in needed):
        found.append(f"loads libm ({', '.join(needed)})")
    sizes = {
        name: int(size, 16)
        for name, size in re.findall(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", readelf("-S", path))
    }
    text, hot = sizes.get(".text", 0), sizes.get(".text.coldstart", 0)
    if hot == 0:
        found.append("has no .text.coldstart section (was it linked with functions/coldstart.ld?)")
    return found, text, hot


def main():
    failed = False
    for path in sys.argv[1:]:
        found, text, hot = problems(path)
        for problem in found:
            print(f"{path}: {problem}")
        failed |= bool(found)
        if not found:
            print(f"{path}: EXEC, no libm, cold-start code {hot:,} B ahead of {text:,} B of other code")
    sys.exit(1 if failed or len(sys.argv) < 2 else 0)


if __name__ == "__main__":
    main()
