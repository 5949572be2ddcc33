#!/usr/bin/env python3
"""What each Lambda function links, from `cargo tree` (normal dependencies, every target, the
function's own default features as `make package` and `sam build` build it): none of the crates
the docs say Lambda builds leave out, and exactly one rustls.

    python3 infra/check_deps.py create-key list-keys ...

Exits 1 naming each function and crate that breaks a rule.
"""
import re
import subprocess
import sys

# crate name (regular expression) -> why it must not be in a Lambda build
FORBIDDEN = {
    r"aws-config": "functions read region and credentials from their environment (common::aws_env)",
    r"rusqlite|libsqlite3-sys": "the embedded store is for local runs only",
    # The engine an EnvFilter brings. (regex-lite, a separate small crate, stays: the SDK's
    # endpoint resolver matches region names with it, and every SDK client depends on it.)
    r"regex|regex-automata|regex-syntax": "no regex engine: log filters are tracing_subscriber Targets, not EnvFilter",
    r"openssl(-sys)?|native-tls": "one TLS stack: rustls on aws-lc",
    r"ring": "one crypto library: aws-lc (rustls, tokens, sealing)",
}


def crates(function: str) -> set[tuple[str, str]]:
    out = subprocess.run(
        ["cargo", "tree", "-p", function, "-e", "normal", "--prefix", "none", "-f", "{p}", "--target", "all"],
        check=True, capture_output=True, text=True,
    ).stdout
    found = set()
    for line in out.splitlines():
        name, version = line.split()[:2]
        found.add((name, version))
    return found


def problems(function: str, found: set[tuple[str, str]]) -> list[str]:
    bad = []
    for name, version in sorted(found):
        for pattern, why in FORBIDDEN.items():
            if re.fullmatch(pattern, name):
                bad.append(f"{function} links {name} {version}: {why}")
    rustls = sorted(v for n, v in found if n == "rustls")
    if len(rustls) != 1:
        bad.append(f"{function} links {len(rustls)} rustls versions ({', '.join(rustls) or 'none'}); one TLS stack means one")
    return bad


def main(functions: list[str]) -> int:
    if not functions:
        print(__doc__, file=sys.stderr)
        return 2
    failures = []
    for function in functions:
        found = crates(function)
        if not any(name == function for name, _ in found):
            failures.append(f"cargo tree found no package {function}")
            continue
        failures += problems(function, found)
    for failure in failures:
        print(f"check_deps: {failure}", file=sys.stderr)
    if not failures:
        print(f"check_deps: {len(functions)} functions link no aws-config, SQLite, regex engine, OpenSSL or ring, and one rustls")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
