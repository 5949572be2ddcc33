#!/usr/bin/env bash
# Runs a command beside a fresh local DynamoDB-protocol server on a free loopback port, with its
# URL in VP_TEST_DYNAMODB_ENDPOINT. Fails (never skips) when the server does not come up; the
# server stops when the command ends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t local-dynamodb.XXXXXX.log)
pid=$("$here/local-dynamodb.sh" "$port" "$log")
trap 'kill "$pid" 2>/dev/null || true' EXIT
export VP_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
echo "local DynamoDB (moto) on $VP_TEST_DYNAMODB_ENDPOINT, log $log"
"$@"
