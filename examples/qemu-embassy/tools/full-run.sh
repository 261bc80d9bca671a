#!/usr/bin/env bash
# A whole run of the emulated board against the real test servers, in a
# private network namespace (needs root: `unshare --net`, a TUN device):
#
#   QEMU (mps2-an385, this firmware) ── UART0 = unix socket ── scripts/ppp_peer.py
#        PPP: LCP, IPCP (10.77.0.2 for the device, DNS 10.77.0.1)        │ TUN ppp0 10.77.0.1
#   tests/authz-server/server.mjs (--host 10.77.0.1)  scripts/dns_responder.py (auth.test,
#   receipts.test → 10.77.0.1)
#
# It starts the servers, builds the firmware for their ports
# (OAUTH_TOKEN_URL=https://auth.test:P/token, SERVICE_URL=
# https://receipts.test:P/receipts/r-1, client basic-client, scope
# receipts:read, the run's CA, QEMU_EMBASSY_EXIT_AFTER=N), boots it, and
# exits with QEMU's status: 0 when N service calls were answered 200.
#
# Usage: sudo tools/full-run.sh [N]      (N: service calls, default 2)
# Env:   REPO (the checkout with scripts/ppp_peer.py, scripts/dns_responder.py
#        and tests/authz-server with node_modules; default: this one),
#        TIMEOUT (seconds, default 300), INTERVAL (SERVICE_INTERVAL_SECS,
#        default 5), PEER_ARGS (e.g. "--require-pap --pap-user device
#        --pap-password device").
# A stand-in until scripts/netns-harness.py does the same for the tests.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
REPO=${REPO:-$(cd "$HERE/../.." && pwd)}
N=${1:-2}
if [ -z "${IN_NETNS:-}" ]; then
  IN_NETNS=1 exec unshare --net "$0" "$@"
fi
D=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT

ip link set lo up
ip tuntap add dev ppp0 mode tun
ip addr add 10.77.0.1 peer 10.77.0.2 dev ppp0
ip link set ppp0 up

bash "$REPO/tests/authz-server/gen-certs.sh" --names auth.test,receipts.test "$D/certs" >/dev/null
node "$REPO/tests/authz-server/server.mjs" --host 10.77.0.1 --certs "$D/certs" \
  --ready-file "$D/ready.json" --quiet --no-watch-stdin >/dev/null </dev/null &
python3 "$REPO/scripts/dns_responder.py" --bind 10.77.0.1 \
  --name auth.test=10.77.0.1 --name receipts.test=10.77.0.1 >/dev/null 2>&1 &
for _ in $(seq 100); do [ -s "$D/ready.json" ] && break; sleep 0.1; done
port() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$D/ready.json" "$1"; }
AUTH=$(port https_port)
RECEIPTS=$(port receipts_https_port)

export OAUTH_TOKEN_URL="https://auth.test:$AUTH/token" OAUTH_CLIENT_ID=basic-client \
  OAUTH_CLIENT_SECRET=basic-secret OAUTH_SCOPE=receipts:read \
  SERVICE_URL="https://receipts.test:$RECEIPTS/receipts/r-1" \
  SERVICE_INTERVAL_SECS="${INTERVAL:-5}" OAUTH_CA_CERT="$D/certs/ca.der" \
  QEMU_EMBASSY_EXIT_AFTER="$N"
echo "full-run: token URL $OAUTH_TOKEN_URL, service URL $SERVICE_URL" >&2
(cd "$HERE" && cargo build --release --offline -j1 -q)

# ${PEER_ARGS} unquoted on purpose: several options.
# shellcheck disable=SC2086
python3 "$REPO/scripts/ppp_peer.py" --uart "unix:$D/uart.sock" --listen --tun ppp0 \
  --timeout "${TIMEOUT:-300}" ${PEER_ARGS:-} >"$D/peer.log" 2>&1 &
for _ in $(seq 100); do [ -S "$D/uart.sock" ] && break; sleep 0.1; done
set +e
timeout "${TIMEOUT:-300}" qemu-system-arm -machine mps2-an385 -cpu cortex-m3 \
  -display none -monitor none -serial "unix:$D/uart.sock,server=off" \
  -semihosting-config enable=on,target=native \
  -kernel "$HERE/target/thumbv7m-none-eabi/release/qemu-embassy"
rc=$?
echo "full-run: QEMU exit status $rc" >&2
exit $rc
