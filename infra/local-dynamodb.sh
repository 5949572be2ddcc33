#!/usr/bin/env bash
# Starts the local DynamoDB-protocol server (moto behind infra/local_dynamodb.py) in the
# background on 127.0.0.1:PORT, installing moto first if needed, and waits until it accepts
# connections. Prints the server's PID; exits non-zero (with the server's log) if it never
# comes up.
#
#   infra/local-dynamodb.sh PORT LOGFILE
set -euo pipefail
MOTO_VERSION=5.2.1
port=${1:?usage: local-dynamodb.sh PORT LOGFILE}
log=${2:?usage: local-dynamodb.sh PORT LOGFILE}
here=$(cd "$(dirname "$0")" && pwd)

if ! python3 -c 'import moto.moto_server.werkzeug_app, flask' >/dev/null 2>&1; then
  echo "installing moto[server] $MOTO_VERSION from PyPI" >&2
  python3 -m pip install --disable-pip-version-check -q "moto[server]==$MOTO_VERSION" >&2 \
    || python3 -m pip install --disable-pip-version-check -q --user "moto[server]==$MOTO_VERSION" >&2
fi

mkdir -p "$(dirname "$log")"
nohup python3 "$here/local_dynamodb.py" -p "$port" >"$log" 2>&1 &
pid=$!

if ! python3 - "$port" "$pid" <<'PY'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 60
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)  # the server died
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
then
  echo "the local DynamoDB server did not start on port $port:" >&2
  cat "$log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
fi
echo "$pid"
