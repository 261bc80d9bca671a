#!/usr/bin/env bash
# Runs every test of embedded-oauth2. On a fresh machine it first installs
# what it needs (rustup components and targets; later steps add npm and
# Debian packages). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says how long the previous one took (CI has 90 minutes).
T0=$(date +%s); TPREV=$T0
step() {
  local now; now=$(date +%s)
  printf '\n==> %s   [previous step %d s, total %d s]\n' "$*" $((now - TPREV)) $((now - T0))
  TPREV=$now
}

NO_STD_TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf)

step "installing toolchain parts"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add "${NO_STD_TARGETS[@]}"

step "installing the test authorization server (oidc-provider, from the lockfile)"
need_pkgs=()
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs npm)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
scripts/apt-install.sh "${need_pkgs[@]}"
npm ci --prefix tests/authz-server --no-audit --no-fund --loglevel=error
npm ci --prefix tests/authz-server-node --no-audit --no-fund --loglevel=error

step "cargo fmt --check"
cargo fmt --all -- --check

step "docs: links resolve, no tracker references, README at most 15 KiB (scripts/check-docs.py)"
# Every relative link and #anchor in README.md, CHANGELOG.md, docs/ and the
# examples' READMEs; no references to the project's tracker (issue numbers,
# review findings) in shipped text: it says what a thing is.
python3 scripts/check-docs.py

step "layering: no cycle among src/ modules, every crate:: path counted (scripts/check-modules.py)"
python3 scripts/check-modules.py

step "PPP peer unit tests (scripts/test_ppp_peer.py: framing, LCP, IPCP, PAP, delivery, garbage; scripts/test_dns_responder.py)"
# The host side of the emulated device's PPP link and the DNS responder of
# its network namespace; no root, no QEMU.
python3 scripts/test_ppp_peer.py
python3 scripts/test_dns_responder.py

step "PPP over a private network namespace, without the firmware (scripts/netns-harness.py --self-test)"
# As root (CI): a scripted PPP device on a socketpair <-> ppp_peer.py <-> a
# TUN device in a new network namespace <-> its DNS responder and the
# kernel's ICMP; then SIGINT/SIGTERM/SIGKILL of a running harness must leave
# no process and no namespace. Not root or no /dev/net/tun: SKIPPED.
python3 scripts/netns-harness.py --self-test

step "cargo clippy over the feature combinations (warnings denied)"
# (`embassy-net/medium-ip`: smoltcp wants a medium, which a board's own
# embassy-net dependency chooses; the host builds pick one.)
ALL_HOST="async,client-secret-jwt,p256,dpop,tls,tls-p384,tls-rsa,mtls,embassy-time,revocation,discovery,embedded-nal-async,embassy-net,embassy-net/medium-ip,std"
# Everything but the host openers (`std`): what an MCU target builds.
ALL_NO_STD="${ALL_HOST%,std}"
# Tests, examples and benches under the default and the full feature sets;
# the library alone under each single feature (what its cfgs change).
for features in "" "--features $ALL_HOST,log" "--features $ALL_HOST,defmt"; do
  echo "-- clippy --all-targets ${features:-(default features)}"
  # shellcheck disable=SC2086
  cargo clippy --all-targets $features -- -D warnings
done
for feature in async client-secret-jwt private-key-jwt p256 dpop tls tls-p384 tls-rsa mtls embassy-time revocation discovery embedded-nal-async embassy-net,embassy-net/medium-ip std; do
  echo "-- clippy --lib --features $feature"
  cargo clippy --lib --features "$feature" -- -D warnings
done
cargo clippy --lib --no-default-features --features "$ALL_NO_STD" --target thumbv7em-none-eabihf -- -D warnings
# The fetch_token tool (workspace member cli/): all its features (the
# default) and none.
echo "-- clippy -p embedded-oauth2-cli --all-targets (default features; none)"
cargo clippy -p embedded-oauth2-cli --all-targets -- -D warnings
cargo clippy -p embedded-oauth2-cli --all-targets --no-default-features -- -D warnings

step "cargo test (all features that link on the host)"
cargo test --features "$ALL_HOST"
# fetch_token's own unit tests (its end-to-end tests are tests/cli.rs above).
cargo test -p embedded-oauth2-cli

step "fetch_token installs: cargo install --path cli, then fetch_token --help"
cli_root=$(mktemp -d)
# --debug, in the workspace's target dir: the tests above built the same
# binary (what is checked is that it installs, not the release profile).
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" cargo install --debug --quiet --locked --path cli --root "$cli_root"
"$cli_root/bin/fetch_token" --help >/dev/null
rm -rf "$cli_root"

step "board-common host tests (examples/board-common: token task, service call, configuration)"
# The embassy boards' shared code on the host: embassy-time's std driver,
# scripted connectors and a null network driver (its own workspace; its
# own target dir, so the main build's is not disturbed).
(cd examples/board-common && CARGO_TARGET_DIR="$PWD/../../target/board-common" cargo test)

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features "$ALL_HOST"

step "docs.rs: cargo +nightly doc as docs.rs builds it (--cfg docsrs, its feature list, warnings denied)"
# The features and rustdoc args from [package.metadata.docs.rs]; nightly as
# scripts/miri.sh installs it.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
DOCSRS_FEATURES=$(python3 -c 'import tomllib; m = tomllib.load(open("Cargo.toml", "rb"))["package"]["metadata"]["docs"]["rs"]; print(",".join(m["features"]))')
DOCSRS_ARGS=$(python3 -c 'import tomllib; m = tomllib.load(open("Cargo.toml", "rb"))["package"]["metadata"]["docs"]["rs"]; print(" ".join(m["rustdoc-args"]))')
RUSTDOCFLAGS="$DOCSRS_ARGS -D warnings" cargo +nightly doc --no-deps --features "$DOCSRS_FEATURES"

step "Miri: started in the background (scripts/miri.sh; it interprets on one core, the steps below use the other; its output comes at the end)"
# After the docs.rs step, which installed nightly (miri.sh adds its
# component); its own target dir (target/miri), so no build lock is shared.
MIRI_LOG=$(mktemp)
MIRI_T0=$(date +%s)
scripts/miri.sh >"$MIRI_LOG" 2>&1 &
MIRI_PID=$!
# Whatever ends this script ends Miri too.
trap 'kill "$MIRI_PID" 2>/dev/null || true' EXIT

step "package: cargo package (builds the packaged crate)"
# The include list in Cargo.toml: src/, docs/, README, CHANGELOG, licences.
# --allow-dirty: CI may run on a tree with generated files.
cargo package --allow-dirty
echo "-- $(cargo package --list --allow-dirty | wc -l) files in the package"

step "no_std builds (prove: no std, no alloc)"
for t in "${NO_STD_TARGETS[@]}"; do
  echo "-- $t"
  cargo build --no-default-features --target "$t"
  cargo build --release --no-default-features --target "$t"
  cargo build --release --no-default-features --features "$ALL_NO_STD,defmt" --target "$t"
done

step "firmware under QEMU, flash/stack/heap/panic budgets (scripts/firmware-report.sh)"
scripts/firmware-report.sh

step "the emulated device over a network path: verified TLS 1.3 from QEMU (scripts/device-test.py)"
# firmware-report.sh installed qemu-system-arm, binutils and the target.
python3 scripts/device-test.py --records=16384 --records=1024

step "the complete device, measured (scripts/device-report.py: flash by crate, RAM, stack, instructions)"
python3 scripts/device-report.py --runs=1

step "the emulated embassy device over PPP (scripts/embassy-device-test.py)"
# examples/qemu-embassy under QEMU mps2-an385 in a private network namespace
# (root: CI runs as root): the story by name, token renewal, and faults
# (authorization server down, DNS failure, PPP link dropped, TCP reset).
python3 scripts/embassy-device-test.py

step "embassy board firmware: Pico W, ESP32-C3 and the emulated mps2-an385 built in release mode, sizes (scripts/boards.sh)"
scripts/boards.sh

step "fuzzing smoke: each cargo-fuzz target for 15 s (scripts/fuzz.sh)"
scripts/fuzz.sh 15

step "mutation testing of what the last commit changed (scripts/mutants.sh --changed)"
# Every mutant of the src/ files the last commit touched, and of those its
# changed tests cover; fails on a missed mutant. The whole crate:
# scripts/mutants.sh and scripts/mutants.sh --tls (docs/measurements.md).
scripts/mutants.sh --changed HEAD~1 -j2

step "Miri: unit tests and the pure integration tests (scripts/miri.sh), waiting for the background run"
miri_status=0
wait "$MIRI_PID" || miri_status=$?
trap - EXIT
cat "$MIRI_LOG"
echo "-- Miri ran $(( $(date +%s) - MIRI_T0 )) s in the background, exit status $miri_status"
rm -f "$MIRI_LOG"
[ "$miri_status" -eq 0 ] || { echo "Miri failed" >&2; exit 1; }

step "all tests passed"
