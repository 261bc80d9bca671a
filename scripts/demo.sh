#!/usr/bin/env bash
# The main job, end to end: starts a real OAuth 2.0 authorization server
# (oidc-provider) and a "PDF receipt" service on loopback with a throwaway
# TLS CA, runs the device client against them, and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "node is needed (Debian: apt-get install nodejs npm)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 1; }
[ -d tests/authz-server/node_modules ] || npm ci --prefix tests/authz-server --no-audit --no-fund --loglevel=error

work=$(mktemp -d)
server_pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building the device client..."
cargo build --quiet --features std --example receipt_demo

bash tests/authz-server/gen-certs.sh "$work/certs" >/dev/null
# The server stops when its stdin closes: hold a FIFO open for its lifetime.
mkfifo "$work/stdin"
node tests/authz-server/server.mjs --certs "$work/certs" --ready-file "$work/ready.json" --quiet \
  <"$work/stdin" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
exec 3>"$work/stdin"
for _ in $(seq 1 300); do
  [ -s "$work/ready.json" ] && break
  sleep 0.1
done
[ -s "$work/ready.json" ] || { echo "the authorization server did not start:" >&2; cat "$work/server.err" >&2; exit 1; }
echo "authorization server and receipt service listening on 127.0.0.1 (ports chosen at start)"
echo
cargo run --quiet --features std --example receipt_demo -- "$work/ready.json"
