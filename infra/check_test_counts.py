#!/usr/bin/env python3
"""Reads `cargo test` output on stdin (passing it through) and fails unless each named test
binary ran, and ran at least one test. A binary that is not built (a feature flag dropped from
the Makefile, a `required-features` typo) or that filters everything out would otherwise pass
silently.

    cargo test ... 2>&1 | python3 infra/check_test_counts.py api dynamodb logs http stall
"""
import re
import sys

RUNNING = re.compile(r"^\s+Running (?:unittests )?\S+ \((?:.*/)?([^/]+?)-[0-9a-f]{16}\)$")
COUNT = re.compile(r"^running (\d+) tests?$")


def main(required: list[str]) -> int:
    counts: dict[str, int] = {}
    current = None
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        line = line.rstrip("\n")
        if m := RUNNING.match(line):
            current = m.group(1)
        elif (m := COUNT.match(line)) and current is not None:
            counts[current] = counts.get(current, 0) + int(m.group(1))
            current = None
    missing = [name for name in required if counts.get(name, 0) == 0]
    summary = ", ".join(f"{name} {counts.get(name, 0)}" for name in required)
    if missing:
        print(f"check_test_counts: ran no tests in {', '.join(missing)} (tests per binary: {summary})", file=sys.stderr)
        return 1
    print(f"check_test_counts: tests per binary: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
