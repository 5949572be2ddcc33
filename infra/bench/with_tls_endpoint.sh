#!/usr/bin/env bash
# Runs a command with TLS_ENDPOINT=https://127.0.0.1:<port> set: a local TLS server with a
# throw-away self-signed certificate, which a function refuses (it trusts Amazon's roots only)
# after the whole handshake has run. `make bench` points the DynamoDB
# endpoint there to see a first request go through the SDK, the connection and TLS.
set -euo pipefail
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
openssl s_server -quiet -accept "127.0.0.1:$port" -cert "$dir/cert.pem" -key "$dir/key.pem" \
  </dev/null >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.1).close()" 2>/dev/null && break
  sleep 0.1
done
TLS_ENDPOINT="https://127.0.0.1:$port" "$@"
