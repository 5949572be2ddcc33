#!/usr/bin/env bash
# Runs a command beside a local DynamoDB-protocol server (moto, through infra/local_dynamodb.py)
# on a free loopback port, and exports its URL as VP_TEST_DYNAMODB_ENDPOINT. Installs moto when
# missing; fails (never skips) when the server does not come up. The server stops with the command.
set -euo pipefail
MOTO_VERSION=5.2.1

here=$(cd "$(dirname "$0")" && pwd)
if ! python3 -c 'import moto.moto_server.werkzeug_app, flask' >/dev/null 2>&1; then
  echo "installing moto[server] $MOTO_VERSION from PyPI"
  python3 -m pip install --disable-pip-version-check -q "moto[server]==$MOTO_VERSION" \
    || python3 -m pip install --disable-pip-version-check -q --user "moto[server]==$MOTO_VERSION"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t moto.XXXXXX.log)
python3 "$here/local_dynamodb.py" -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

if ! python3 - "$port" <<'PY'
import socket, sys, time
deadline = time.time() + 30
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
then
  echo "the local DynamoDB server did not start on port $port:" >&2
  cat "$log" >&2
  exit 1
fi

export VP_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
echo "local DynamoDB (moto) on $VP_TEST_DYNAMODB_ENDPOINT (log: $log)"
"$@"
