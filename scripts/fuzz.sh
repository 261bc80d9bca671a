#!/usr/bin/env bash
# Builds the cargo-fuzz targets (fuzz/) and runs each one after the other
# for SECONDS_PER_TARGET seconds (default 15). Installs the nightly toolchain
# and cargo-fuzz when missing. Exits non-zero when any target crashes; the
# input is then in fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# libFuzzer's working corpus grows in fuzz/work/<target>/ (ignored by git);
# the committed seeds in fuzz/corpus/<target>/ are read, never written.
# Extra libFuzzer flags can be passed in FUZZ_FLAGS (e.g. "-runs=10000000").
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-15}"
shift || true
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=(http_reader json_scan token_json exchange request untrusted_bytes server_chain)
fi

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

echo "==> building the fuzz targets"
cargo +nightly fuzz build

failed=()
for t in "${TARGETS[@]}"; do
  dict=fuzz/dict/http.dict
  max_len=16384
  if [ "$t" = request ]; then
    # Configuration strings longer than this add nothing but time.
    dict=fuzz/dict/request.dict
    max_len=1024
  elif [ "$t" = server_chain ]; then
    # X.509 DER: the OIDs and tags webpki looks for.
    dict=fuzz/dict/der.dict
    max_len=8192
  fi
  mkdir -p "fuzz/work/$t"
  echo "==> fuzzing $t for ${SECONDS_PER_TARGET}s"
  # shellcheck disable=SC2086
  if ! cargo +nightly fuzz run "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$max_len" -dict="$dict" -print_final_stats=1 ${FUZZ_FLAGS:-}; then
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "==> crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "==> no crash in ${TARGETS[*]}"
