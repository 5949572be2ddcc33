#!/usr/bin/env python3
"""Writes functions/coldstart.ld: the code a Lambda function runs from spawn to its first
answers, placed together at the start of its text (`make coldstart-order`; the why is in
functions/bootstrap_link.rs, which links every release bootstrap with it).

1. builds create-session unstripped (profile `coldstart-order`) with a linker map;
2. runs it under valgrind's callgrind behind a minimal Lambda Runtime API that hands out the
   events below, then stops it when it asks for one more, as Lambda freezes an idle instance;
3. looks up, in the map, the input section of every function that ran, and writes one
   linker-script line per section: phase by phase (a run with the first event, then one with
   both), within a phase in their order in the binary.

Names are written with their hashes as wildcards (legacy `17h<hash>E`, v0 `Cs<hash>_`, the
hash prefix cc-rs gives C objects): those change with the target (arm64 Lambda builds) and
dependency versions, what a function is does not. A line that matches nothing costs nothing, so
a stale script only loses some of its effect; rerun this after upgrading dependencies.

Needs valgrind and openssl (Debian's `valgrind`, `openssl`); run it as `make coldstart-order`.
Not part of `make test`: the script is committed.
"""

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "create-session"
PROFILE = "coldstart-order"
# What a cold instance does, in the order it is placed: init and the bench's event (a key of the
# wrong format, answered without a store call); then a well-formed key whose lookup goes to a
# local TLS endpoint with a self-signed certificate (infra/bench/with_tls_endpoint.sh): the SDK's
# request path, the connection and the TLS handshake up to the certificate check, which fails
# (the functions trust Amazon's roots only), so the session ends in a 503. Each phase's code follows the one before it, so a cold
# start that stops earlier maps less.
# Each with the status it must end in, or the profile would be of some other path.
PHASES = [("events/create-session-invalid-format.json", 401), ("events/create-session.json", 503)]
ENV = {
    "VP_ENV": "local",
    "VP_TABLE_NAME": "visionpipe-bench",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "VP_REQUEST_DEADLINE_MS": "60000",
    "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart-order",
    "AWS_LAMBDA_LOG_GROUP_NAME": "coldstart-order",
}


def target_dir() -> Path:
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return Path(json.loads(meta)["target_directory"])


def build(map_path: Path) -> Path:
    subprocess.run(
        ["cargo", "rustc", "--profile", PROFILE, "-p", FUNCTION, "--bin", FUNCTION, "--",
         "-C", f"link-arg=-Wl,-Map,{map_path}", "-C", "link-arg=-Wl,--no-demangle"],
        cwd=ROOT, check=True,
    )
    return target_dir() / PROFILE / FUNCTION


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Lambda's Runtime API, as far as one instance's first few invocations need it."""

    phases: list = []
    served = 0
    done = threading.Event()
    released = threading.Event()
    error = None

    def do_GET(self):
        cls = type(self)
        if cls.served == len(cls.phases):
            # Asks for more: Lambda would freeze the instance here. Hold the request until the
            # profile is written, so that nothing after this point (a closed connection) is in it.
            cls.done.set()
            cls.released.wait(timeout=60)
            return
        body = (ROOT / cls.phases[cls.served][0]).read_bytes()
        cls.served += 1
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", f"order-{cls.served}")
        self.send_header("Lambda-Runtime-Deadline-Ms", "4102444800000")
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:coldstart-order",
        )
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        cls = type(self)
        answer = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        event, expected = cls.phases[cls.served - 1]
        status = None if "/error" in self.path else json.loads(answer).get("statusCode")
        if status != expected:
            cls.error = f"{event}: expected {expected}, got {status or 'an error'}: {answer[:300]!r}"
            cls.done.set()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def executed_functions(binary: Path, out_dir: Path, endpoint: str, phases: list) -> set:
    RuntimeApi.phases, RuntimeApi.served, RuntimeApi.error = phases, 0, None
    RuntimeApi.done, RuntimeApi.released = threading.Event(), threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = out_dir / f"callgrind.out.{len(phases)}"
    env = dict(os.environ, **ENV, VP_DATA_DIR=str(out_dir),
               AWS_ENDPOINT_URL_DYNAMODB=endpoint,
               AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    child = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no",
         "--demangle=no", "--compress-strings=no", "--compress-pos=no", str(binary)],
        env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    if not RuntimeApi.done.wait(timeout=600) or RuntimeApi.error:
        child.kill()
        sys.exit(RuntimeApi.error or "the function did not answer every event within 10 minutes")
    child.send_signal(signal.SIGTERM)  # callgrind writes its profile on the way out
    child.wait()
    RuntimeApi.released.set()
    server.shutdown()
    names = set()
    for line in out.read_text().splitlines():
        if line.startswith(("fn=", "cfn=")):
            name = re.sub(r"^c?fn=(\(\d+\) )?", "", line)
            names.add(re.sub(r"'\d+$", "", name))  # callgrind's recursion-depth suffix
    return names


# lld's map has columns VMA, LMA, size, alignment, then a name indented by what it is: an output
# section (1 space), an input section "file:(section)" (9), a symbol in it (17).
ROW = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+( +)(\S.*)$")
INPUT = re.compile(r"^(.*):\((\.text[^)]*)\)$")


def hot_sections(map_path: Path, executed: set) -> list:
    sections, current = set(), None
    for line in map_path.read_text(errors="replace").splitlines():
        row = ROW.match(line)
        if not row:
            continue
        address, indent, name = int(row.group(1), 16), len(row.group(2)), row.group(3)
        if indent == 9:
            section = INPUT.match(name)
            current = (address, section.group(1), section.group(2)) if section else None
        elif indent == 17:
            if current and name in executed:
                sections.add(current)
        else:
            current = None
    return sorted(sections)


def pattern(file: str, section: str) -> str:
    def wild(name):
        name = re.sub(r"17h[0-9a-f]{16}E", "17h*E", name)
        name = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", name)
        return re.sub(r"\.\d+$", "*", name)  # LLVM's suffix for same-named local copies
    if section != ".text":
        return f"*({wild(section)})"  # a function section, found by its function's name
    # A whole object's code (hand-written assembly has no function sections): by the object's
    # name inside its archive, without the hash prefix cc-rs adds.
    member = re.search(r"\(([^()]*)\)$", file)
    name = member.group(1) if member else os.path.basename(file)
    return f"*{re.sub(r'^[0-9a-f]{16}-', '', name)}({section})"


def main():
    endpoint = os.environ.get("TLS_ENDPOINT") or sys.exit(
        "TLS_ENDPOINT is not set: run this through infra/bench/with_tls_endpoint.sh"
    )
    script = ROOT / "functions" / "coldstart.ld"
    if not script.exists():  # release builds link with it: start from an empty one
        script.write_text("SECTIONS { .text.coldstart : { } } INSERT BEFORE .text;\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        binary = build(tmp / "bootstrap.map")
        lines, placed, executed = [], set(), set()
        for phase in range(1, len(PHASES) + 1):
            executed = executed_functions(binary, tmp, endpoint, PHASES[:phase])
            print(f"phase {phase}: {len(executed)} functions run", file=sys.stderr)
            for section in hot_sections(tmp / "bootstrap.map", executed):
                line = pattern(section[1], section[2])
                if section not in placed and line not in lines:
                    lines.append(line)
                placed.add(section)
    with script.open("w") as out:
        out.write(
            "/* Generated by `make coldstart-order` (infra/bench/coldstart_order.py): the code a\n"
            "   function runs from spawn to its first answers, placed together ahead of the rest\n"
            "   of .text, in the order a cold start needs it, so that it maps few pages.\n"
            "   Why and how: in functions/bootstrap_link.rs. */\n"
            "SECTIONS {\n  .text.coldstart : {\n"
        )
        out.writelines(f"    {line}\n" for line in lines)
        out.write("  }\n} INSERT BEFORE .text;\n")
    print(f"{script.relative_to(ROOT)}: {len(lines)} input sections from {len(executed)} functions run")


if __name__ == "__main__":
    main()
