#!/usr/bin/env bash
# Mutation testing (cargo-mutants 27.1) of src/.
#
# Two runs, because the TLS connector cannot be exercised without a TLS
# server:
#   * the crate without src/tls/ (features async,client-secret-jwt,p256,dpop),
#     with the host tests that need no server: the unit tests and the
#     in-memory integration tests;
#   * --tls: src/tls/ (features tls and std added: tests/tls.rs opens TCP
#     with the crate's std opener), with the unit tests and tests/tls.rs,
#     which starts the test authorization server
#     (tests/authz-server, node; `npm ci` done by scripts/test.sh).
#
#   scripts/mutants.sh [ARGS]                the crate without src/tls/
#   scripts/mutants.sh --tls [ARGS]          src/tls/ against the TLS server
#   scripts/mutants.sh -f src/retry.rs       one file
#   scripts/mutants.sh --changed [BASE [ARGS]]   what a change touches (CI):
#       every mutant of each src/ file changed since BASE (default HEAD~1),
#       and of the src/ files a changed test file covers (`covers` below),
#       so that a weakened test fails too; only the changed lines
#       (--in-diff) when that would be more than 120 mutants (20 in
#       src/tls/, whose mutants each cost TLS handshakes), to keep CI short
#
# ARGS go to cargo-mutants (e.g. -j2, -f FILE, -o DIR, --iterate). Exit status as
# cargo-mutants': 0 every viable mutant caught (a test that hangs on a
# mutant, a timeout, counts as caught: exit 3 is turned into 0), 2 a mutant
# was missed, 4 the tests fail without any mutation. Exclusions, each with
# its reason, are in .cargo/mutants.toml. Output: mutants.out/ (with
# --changed: the TLS run, when there is one, comes second; the first run's
# outcome is then in mutants.out.old/).
set -euo pipefail
cd "$(dirname "$0")/.."
# Installed when first needed (a change that touches no src/ needs none).
need_mutants() {
  if ! command -v cargo-mutants >/dev/null 2>&1; then
    cargo install cargo-mutants --locked --version 27.1.0
  fi
}
# Every feature whose code the tests exercise on the host, so that no
# feature-gated code is mutated with its feature off (a mutant of code that
# is not compiled would be "missed"). (tls, mtls: the --tls run.)
FEATURES=async,client-secret-jwt,p256,dpop,revocation,discovery,embassy-time
TESTS=(--lib --test cache --test responses --test retry --test faults --test async_driver
       --test fleet --test secrets --test jwt --test fuzz_replay --test policy --test cancel
       --test token_task --test async_signer --test wipe --test dpop --test auth_auto
       --test revoke --test persist --test resource --test discovery)
# tls::sig (src/tls/sig/) is tested by its Wycheproof and golden vectors,
# with its algorithms' features on.
TLS_TESTS=(--lib --test tls --test sig_wycheproof --test sig_golden --test sig_webpki)

# run MODE ARGS...: one cargo-mutants run; exit 3 (timeouts only) is 0.
run() {
  local mode=$1 rc
  shift
  need_mutants
  set +e
  if [ "$mode" = tls ]; then
    # All of src/tls/ unless the arguments name files or a diff.
    local scope=(-f 'src/tls/**')
    case " $* " in *" -f "*|*" --in-diff "*) scope=() ;; esac
    cargo mutants --features "$FEATURES,tls,tls-p384,tls-rsa,mtls,std" --timeout 60 "${scope[@]}" \
      "$@" -- "${TLS_TESTS[@]}"
  else
    cargo mutants --features "$FEATURES" --timeout 30 --exclude 'src/tls/**' \
      "$@" -- "${TESTS[@]}"
  fi
  rc=$?
  set -e
  # Exit 3 (timeouts) also when some were missed: read the outcome.
  local out=. prev=
  for a in "$@"; do
    case "$prev" in -o|--output) out=$a ;; esac
    prev=$a
  done
  if [ "$rc" = 3 ]; then
    if [ -s "$out/mutants.out/missed.txt" ]; then
      rc=2
    else
      echo "mutants: only timeouts besides caught mutants (a hang is a catch)" >&2
      rc=0
    fi
  fi
  return "$rc"
}

# Which src/ files a changed file's tests exercise (for --changed): a test
# that is weakened lets mutants of these files live. A src/ file covers
# itself (its unit tests), and more where its tests reach further.
covers() {
  case "$1" in
    tests/wipe.rs|tests/secrets.rs) echo src/token.rs src/credentials.rs src/text.rs ;;
    tests/policy.rs|tests/cache.rs|tests/cancel.rs|tests/token_task.rs|tests/fleet.rs)
      echo src/client.rs src/token.rs src/time.rs src/retry.rs ;;
    tests/retry.rs) echo src/retry.rs ;;
    tests/responses.rs|tests/fuzz_replay.rs|tests/common/*|fuzz/src/*)
      echo src/response.rs src/reader.rs src/json.rs ;;
    tests/faults.rs) echo src/reader.rs src/exchange.rs src/blocking.rs ;;
    tests/async_driver.rs) echo src/asynch.rs src/driver.rs ;;
    tests/jwt.rs|tests/async_signer.rs) echo src/auth/jwt.rs src/auth/hmac.rs src/authn.rs ;;
    tests/dpop.rs) echo src/auth/dpop.rs src/client.rs src/request.rs src/response.rs ;;
    tests/auth_auto.rs) echo src/client.rs src/authn.rs src/request.rs src/credentials.rs ;;
    tests/revoke.rs) echo src/client.rs src/request.rs src/exchange.rs src/driver.rs ;;
    tests/resource.rs) echo src/resource.rs src/exchange.rs src/driver.rs ;;
    tests/discovery.rs) echo src/discovery.rs src/exchange.rs src/driver.rs ;;
    tests/tls.rs|cli/src/tls.rs) echo src/tls/mod.rs src/tls/io.rs src/tls/der.rs ;;
    tests/sig_wycheproof.rs|tests/sig_golden.rs|tests/sig_webpki.rs)
      echo src/tls/sig/mod.rs src/tls/sig/ecdsa.rs src/tls/sig/p384.rs src/tls/sig/mont.rs src/tls/sig/rsa.rs ;;
    # Unit tests that also exercise another file's code.
    src/auth/jwt.rs) echo src/auth/jwt.rs src/auth/hmac.rs src/encode/base64.rs ;;
    src/auth/dpop.rs) echo src/auth/dpop.rs src/auth/hmac.rs ;;
    src/response.rs) echo src/response.rs src/json.rs ;;
    src/*.rs) echo "$1" ;;
  esac
}

case "${1:-}" in
  --tls)
    shift
    run tls "$@"
    exit
    ;;
  --changed) ;;
  *)
    run crate "$@"
    exit
    ;;
esac

base=${2:-HEAD~1}
shift $(($# < 2 ? $# : 2))
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  # A shallow clone: the secret-handling files, rather than hours of all.
  echo "mutants: no commit $base (shallow clone?): src/token.rs and src/credentials.rs" >&2
  base=HEAD
  files=(src/token.rs src/credentials.rs)
else
  files=()
fi
while read -r f; do
  for c in $(covers "$f"); do files+=("$c"); done
done < <(git diff --name-only --diff-filter=d "$base" -- src tests fuzz/src cli/src/tls.rs)
mapfile -t files < <(printf '%s\n' "${files[@]}" | sed '/^$/d' | sort -u)
crate=() tls=()
for f in "${files[@]}"; do
  case "$f" in
    src/tls/*) tls+=(-f "$f") ;;
    *) crate+=(-f "$f") ;;
  esac
done
short=$(git rev-parse --short "$base")
if [ "${#crate[@]}" -eq 0 ] && [ "${#tls[@]}" -eq 0 ]; then
  echo "mutants: nothing in src/ or its tests changed since $short" >&2
  exit 0
fi
rc=0
if [ "${#crate[@]}" -gt 0 ]; then
  need_mutants
  n=$(cargo mutants --features "$FEATURES" --exclude 'src/tls/**' --list "${crate[@]}" | wc -l)
  echo "mutants: $n mutants in ${crate[*]} (changed since $short)" >&2
  if [ "$n" -gt 120 ]; then
    git diff "$base" -- src >"${TMPDIR:-/tmp}/mutants-change.diff"
    crate=(--in-diff "${TMPDIR:-/tmp}/mutants-change.diff")
    echo "mutants: more than 120, so only the changed lines" >&2
  fi
  run crate "${crate[@]}" "$@" || rc=$?
fi
if [ "${#tls[@]}" -gt 0 ]; then
  need_mutants
  n=$(cargo mutants --features "$FEATURES,tls,tls-p384,tls-rsa,mtls" --list "${tls[@]}" | wc -l)
  echo "mutants: $n mutants in ${tls[*]} (changed since $short) against the TLS server" >&2
  # Each costs handshakes with the server (~13 s): beyond 20, the lines.
  if [ "$n" -gt 20 ]; then
    git diff "$base" -- src/tls >"${TMPDIR:-/tmp}/mutants-tls-change.diff"
    tls=(--in-diff "${TMPDIR:-/tmp}/mutants-tls-change.diff")
    echo "mutants: more than 20, so only the changed lines" >&2
  fi
  run tls "${tls[@]}" "$@" || rc=$?
fi
exit "$rc"
