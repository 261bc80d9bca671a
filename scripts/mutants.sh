#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of src/ with the host tests that need no
# server: the unit tests and the in-memory integration tests.
#
#   scripts/mutants.sh                       the whole crate (hours on 2 cores)
#   scripts/mutants.sh -f src/retry.rs       one file
#   scripts/mutants.sh --in-diff FILE.diff   only what a diff touches (CI)
#
# Exit status as cargo-mutants': 0 every viable mutant caught (a test that
# hangs on a mutant, a timeout, counts as caught: exit 3 is turned into 0),
# 2 a mutant was missed, 4 the tests fail without any mutation. Exclusions,
# each with its reason, are in .cargo/mutants.toml. Output: mutants.out/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-mutants >/dev/null 2>&1; then
  cargo install cargo-mutants --locked --version 27.1.0
fi
TESTS=(--lib --test cache --test responses --test retry --test faults --test async_driver
       --test fleet --test secrets --test jwt --test fuzz_replay --test policy --test cancel
       --test token_task --test async_signer --test wipe)
set +e
cargo mutants --features async,client-secret-jwt,p256 --timeout 120 "$@" -- "${TESTS[@]}"
rc=$?
set -e
if [ "$rc" = 3 ]; then
  echo "mutants: only timeouts besides caught mutants (a hang is a catch)" >&2
  rc=0
fi
exit "$rc"
