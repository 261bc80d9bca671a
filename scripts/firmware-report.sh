#!/usr/bin/env bash
# Builds examples/firmware (a separate Cargo project: its own workspace, its
# own target dir) as microcontroller images, runs the whole client under QEMU
# (Cortex-M3, lm3s6965evb) and reports, as Markdown:
#
#   * flash/RAM the crate adds over an empty firmware with the same runtime,
#     per configuration, for thumbv7em-none-eabihf and thumbv6m-none-eabi
#     (release profile of the firmware: opt-level "z", LTO, 1 codegen unit);
#   * the library built for riscv32imc-unknown-none-elf;
#   * the stack a full fetch uses (stack painting under QEMU);
#   * the RAM a caller gives for a 1 KiB JWT access token;
#   * zero heap (no allocator symbol linked);
#   * every panic call site in the images, by containing function and by the
#     source it was inlined from.
#
# Budgets it enforces (exit status 1 when one is exceeded or a check of the
# test firmware fails under QEMU; 2 when something
# could not be built or run):
#   core blocking client .text <= 18.5 KiB (thumbv7em); client_secret_jwt adds
#   <= 6 KiB .text; a full fetch <= 2 KiB of stack; zero heap; zero panic
#   call sites from embedded_oauth2 code.
#
# Usage: scripts/firmware-report.sh [--no-install]
# Installs what it needs when missing (as root: qemu-system-arm,
# binutils-arm-none-eabi, python3; rustup targets and llvm-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FW=$ROOT/examples/firmware
# The firmware's own target dir, whatever the environment says: never the
# main package's (cargo test may be running there).
export CARGO_TARGET_DIR=$FW/target
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET CARGO_ENCODED_RUSTFLAGS

# The core's budget: 18 KiB was met at 18,388 B (kept server text
# printable ASCII, error codes a table lookup, URLs parsed on bytes,
# Duration → ms and buffer wipes out of line, HTTP-dates read by
# templates). Later robustness fixes then cost 432 B measured
# (18,820 B): a short-lived token renewed before it expires and its own
# `Error::HeldBack` with the wait from now, `ClientAuth::Auto` restarting
# at Basic, the token type checked in `Client::complete`, the connector
# released by a guard however an exchange ends. 18.5 KiB, no more headroom
# than that: code added to the core path must be paid for there.
# client_secret_jwt's 6 KiB: docs/measurements.md ("Flash budgets") and the breakdown
# this report prints.
BUDGET_CORE_TEXT=$((18 * 1024 + 512))
BUDGET_JWT_TEXT=$((6 * 1024))
BUDGET_FETCH_STACK=2048
# Revocation over (a): the request variant, the driver's exchange loop
# instantiated for its answer. Measured 1,780 B when added.
BUDGET_REVOKE_TEXT=2048
# Discovery over (a): the metadata request and parser (≈4 KiB of its own),
# four endpoint URLs parsed, the exchange loop for its answer. Measured
# 7,340 B when added.
BUDGET_DISCOVERY_TEXT=$((8 * 1024))
# DPoP over private_key_jwt (same signer, SHA-256 already linked by p256):
# the proof writer, the JWK, ath, nonces. Measured 2,380 B when added.
BUDGET_DPOP_TEXT=$((3 * 1024))

SIZE_TARGETS=(thumbv7em-none-eabihf thumbv6m-none-eabi)
QEMU_TARGET=thumbv7m-none-eabi
LIB_TARGET=riscv32imc-unknown-none-elf
# configuration | firmware features | binary
CONFIGS=(
  "a|core: blocking client, client_secret_basic/post||size_core"
  "b|(a) + client_secret_jwt (HS256)|secret-jwt|size_secret_jwt"
  "c|(a) + private_key_jwt with P256Signer (p256)|pkjwt|size_p256"
  "d|(a) through the async driver (embassy-futures block_on)|async|size_async"
  "e|(c) + DPoP proofs on token requests, DPoP token (dpop)|dpop|size_dpop"
  "f|(a) + token persistence: export, then restore in a second client, both with a wall clock||size_persist"
  "g|(a) + revocation (RFC 7009), fetch then revoke (revocation)|revocation|size_revoke"
  "h|(a) + discovery (RFC 8414): the token endpoint from the issuer's metadata (discovery)|discovery|size_discovery"
)

say() { printf '%s\n' "$*" >&2; }
step() { printf '\n==> %s\n' "$*" >&2; }
die() { say "firmware-report: $*"; exit 2; }

# ---- tools ---------------------------------------------------------------------
if [ "${1:-}" != "--no-install" ]; then
  step "installing what the report needs"
  rustup target add "${SIZE_TARGETS[@]}" "$QEMU_TARGET" "$LIB_TARGET" >&2
  rustup component add llvm-tools >&2 || true
  need=()
  command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)
  command -v arm-none-eabi-addr2line >/dev/null 2>&1 || need+=(binutils-arm-none-eabi)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  [ "${#need[@]}" -eq 0 ] || "$ROOT/scripts/apt-install.sh" "${need[@]}" || die "could not install ${need[*]}"
fi
LLVM_BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
for t in qemu-system-arm arm-none-eabi-objdump arm-none-eabi-addr2line python3 timeout; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found"
done
# rustup's llvm-tools when present, binutils otherwise (same -A output).
if [ -x "$LLVM_BIN/llvm-size" ] && [ -x "$LLVM_BIN/llvm-nm" ]; then
  SIZE=$LLVM_BIN/llvm-size NM=$LLVM_BIN/llvm-nm
else
  SIZE=arm-none-eabi-size NM=arm-none-eabi-nm
fi
OBJDUMP=arm-none-eabi-objdump # demangles Rust symbols fully (-C)
ADDR2LINE=arm-none-eabi-addr2line
ELFCHECK=$FW/tools/elfcheck.py
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fwcargo() { (cd "$FW" && cargo "$@"); }
# section SIZE-OUTPUT NAME -> bytes (0 when absent)
section() { awk -v s="$2" '$1 == s { print $2; f = 1 } END { if (!f) print 0 }' "$1"; }

# ---- build the size images -------------------------------------------------------
# Each image is copied out of the target dir as soon as it is built (an
# image built again with other features would overwrite it).
mkdir -p "$WORK/img"
build_img() { # TARGET BIN NAME [FEATURES]
  fwcargo build --release --target "$1" --no-default-features ${4:+--features "$4"} --bin "$2" >&2
  mkdir -p "$WORK/img/$1"
  cp "$CARGO_TARGET_DIR/$1/release/$2" "$WORK/img/$1/$3"
}
img() { echo "$WORK/img/$1/$2"; }
for t in "${SIZE_TARGETS[@]}"; do
  step "building the size images for $t (opt-level z, LTO, codegen-units 1)"
  build_img "$t" empty empty
  for c in "${CONFIGS[@]}"; do
    IFS='|' read -r _ _ feat bin <<<"$c"
    build_img "$t" "$bin" "$bin" "$feat"
  done
done
# Informational: (b) with sha2's compact SHA-256 (a firmware-level choice).
build_img thumbv7em-none-eabihf size_secret_jwt size_secret_jwt_compact "secret-jwt,sha2-compact"

step "building the library for $LIB_TARGET"
# Through the firmware project (its lock file, its target dir): the main
# package's Cargo.lock is never touched. Its library part is the portable
# transport; the runtime is Arm-only.
LIB_OK=()
for feats in "" "secret-jwt,pkjwt,async"; do
  if fwcargo build --release --lib --target "$LIB_TARGET" --no-default-features \
       ${feats:+--features "$feats"} >&2; then
    LIB_OK+=("${feats:+with firmware features $feats}")
    [ -n "$feats" ] || LIB_OK[-1]="without features,"
  else
    die "embedded-oauth2 does not build for $LIB_TARGET (firmware features '${feats}')"
  fi
done

# ---- run under QEMU --------------------------------------------------------------
QEMU=(qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic
      -semihosting-config enable=on,target=native -kernel)
QEMU_FAIL=()
run_qemu() { # LABEL FEATURE-ARGS...
  local label=$1; shift
  step "running the firmware under QEMU ($label)"
  fwcargo build --release --bin firmware "$@" >&2
  local out=$WORK/qemu-$label.txt rc=0
  cp "$CARGO_TARGET_DIR/$QEMU_TARGET/release/firmware" "$WORK/firmware-$label.elf"
  timeout 300 "${QEMU[@]}" "$WORK/firmware-$label.elf" >"$out" 2>&1 </dev/null || rc=$?
  cat "$out" >&2
  if ! grep -q '^[0-9]* passed, 0 failed$' "$out" || [ "$rc" != 0 ]; then
    QEMU_FAIL+=("$label: $(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" || echo "no result"), exit $rc")
  fi
  grep -q '^REPORT stack_fetch_basic=' "$out" ||
    die "the firmware ($label) did not get to its report under QEMU (exit $rc): see the output above"
}
run_qemu core --no-default-features
run_qemu all
report() { # LABEL KEY
  sed -n "s/^REPORT $2=//p" "$WORK/qemu-$1.txt" | head -1
}

# ---- measure ---------------------------------------------------------------------
FAIL=()
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

declare -A TEXT
{
  echo
  echo "### Flash and RAM the crate adds (over \`empty\`: same runtime, panic handler and transport)"
  echo
  echo "Firmware release profile: \`opt-level = \"z\"\`, \`lto = true\`, \`codegen-units = 1\`;"
  echo "\`panic-halt\`; no \`core::fmt\` in the runtime. Bytes: \`llvm-size -A\` of the image minus that of \`empty\`."
  echo
  echo "| target | configuration | .text | .rodata | .data | .bss | flash (.text+.rodata+.data) | .text over (a) |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
} >"$WORK/table.md"
for t in "${SIZE_TARGETS[@]}"; do
  "$SIZE" -A "$(img "$t" empty)" >"$WORK/empty.size"
  for c in "${CONFIGS[@]}"; do
    IFS='|' read -r key desc _ bin <<<"$c"
    "$SIZE" -A "$(img "$t" "$bin")" >"$WORK/$bin.size"
    d=()
    for s in .text .rodata .data .bss; do
      d+=($(($(section "$WORK/$bin.size" $s) - $(section "$WORK/empty.size" $s))))
    done
    TEXT[$t/$key]=${d[0]}
    over=$((d[0] - ${TEXT[$t/a]}))
    [ "$key" = a ] && over="–"
    printf '| %s | (%s) %s | %d | %d | %d | %d | %d | %s |\n' "$t" "$key" "$desc" \
      "${d[0]}" "${d[1]}" "${d[2]}" "${d[3]}" $((d[0] + d[1] + d[2])) "$over" >>"$WORK/table.md"
    if [ "$t/$key" = thumbv7em-none-eabihf/b ]; then
      "$SIZE" -A "$(img "$t" size_secret_jwt_compact)" >"$WORK/compact.size"
      ct=$(($(section "$WORK/compact.size" .text) - $(section "$WORK/empty.size" .text)))
      cr=$(($(section "$WORK/compact.size" .rodata) - $(section "$WORK/empty.size" .rodata)))
      printf '| %s | (b) with `sha2/force-soft-compact` (informational: a firmware choice, not a budget) | %d | %d | 0 | 0 | %d | %d |\n' \
        "$t" "$ct" "$cr" $((ct + cr)) $((ct - TEXT[$t/a])) >>"$WORK/table.md"
    fi
  done
done
{
  echo
  printf 'Baseline `empty`: '
  for t in "${SIZE_TARGETS[@]}"; do
    "$SIZE" -A "$(img "$t" empty)" >"$WORK/e.size"
    printf '%s .text %d, .rodata %d; ' "$t" "$(section "$WORK/e.size" .text)" "$(section "$WORK/e.size" .rodata)"
  done
  echo
  echo
  echo "embedded-oauth2 builds for \`$LIB_TARGET\` (release): ${LIB_OK[*]}."
} >>"$WORK/table.md"

# Stack and RAM, from the QEMU runs.
{
  echo
  echo "### Stack and RAM (QEMU lm3s6965evb, Cortex-M3, \`$QEMU_TARGET\`, same release profile)"
  echo
  echo "Stack painted between \`_stack_end\` and the stack pointer, one fetch run, lowest"
  echo "overwritten word found (\`Client::token\` on an empty cache: encode, connect, write, read"
  echo "in small pieces, parse, store). Whole run: every check of the firmware, from reset."
  echo
  echo "| what | firmware features | bytes |"
  echo "| --- | --- | ---: |"
  echo "| stack of a full fetch, client_secret_basic, opaque token | core | $(report core stack_fetch_basic) |"
  echo "| stack of a full fetch, Keycloak-style 1 KiB JWT | core | $(report core stack_fetch_keycloak_1k) |"
  echo "| stack of a full fetch, client_secret_basic | all | $(report all stack_fetch_basic) |"
  echo "| stack of a full fetch, client_secret_jwt | all | $(report all stack_fetch_secret_jwt) |"
  echo "| stack of a full fetch, private_key_jwt (P256Signer) | all | $(report all stack_fetch_private_key_jwt) |"
  echo "| stack of a full fetch, DPoP proof (P256Signer) with client_secret_basic | all | $(report all stack_fetch_dpop) |"
  echo "| stack of a full fetch, async driver (incl. block_on) | all | $(report all stack_fetch_async) |"
  echo "| peak stack of the whole test firmware (incl. its 4 KiB work buffer and clients) | all | $(report all stack_peak_whole_run) |"
  echo "| \`Token<1024, 64>\` | core | $(report core token_1024_64_bytes) |"
  echo "| \`Client<_, 32, 1024, 64>\` (config, token, policy, backoff state) | core | $(report core client_32_1024_64_bytes) |"
  echo "| smallest work buffer for a Keycloak-style response with a 1 KiB JWT (found by search; \`Capacity.needed\` from one byte less agrees) | core | $(report core keycloak_1k_min_work) |"
  tok=$(report core token_1024_64_bytes)
  cli=$(report core client_32_1024_64_bytes)
  wk=$(report core keycloak_1k_min_work)
  echo "| **RAM a caller gives for a 1 KiB JWT**: \`Token<1024, 64>\` + that work buffer | core | **$((tok + wk))** |"
  echo "| same with the whole \`Client<_, 32, 1024, 64>\` + work buffer | core | $((cli + wk)) |"
  echo
  echo "Sizes of the values a fetch moves (bytes, \`$QEMU_TARGET\`):"
  sed -n 's/^REPORT size_\(.*\)=\(.*\)$/`\1` \2;/p' "$WORK/qemu-core.txt" | tr '\n' ' '
  echo
} >>"$WORK/table.md"

# Zero heap.
step "checking that no allocator is linked"
HEAP_SYMS='__rust_alloc|__rust_alloc_zeroed|__rust_realloc|__rust_dealloc|__rg_alloc|__rdl_alloc|__rust_alloc_error_handler|__rust_no_alloc_shim_is_unstable|GlobalAlloc|alloc::alloc::'
heap_hits=""
for t in "${SIZE_TARGETS[@]}" "$QEMU_TARGET"; do
  for bin in size_core size_secret_jwt size_p256 size_async size_dpop size_persist size_revoke size_discovery firmware; do
    f=$(img "$t" "$bin")
    [ -f "$f" ] || continue
    h=$("$NM" --demangle "$f" | grep -E "$HEAP_SYMS" || true)
    [ -z "$h" ] || heap_hits+="$t/$bin: $h"$'\n'
  done
done

# Panic call sites.
step "finding panic call sites (disassembly + DWARF inline info)"
: >"$WORK/panics.tsv"
for c in "${CONFIGS[@]}"; do
  IFS='|' read -r key _ _ bin <<<"$c"
  f=$(img thumbv7em-none-eabihf "$bin")
  "$OBJDUMP" -dC --no-show-raw-insn "$f" >"$WORK/$bin.dis"
  python3 "$ELFCHECK" panics "$WORK/$bin.dis" "$f" "$ADDR2LINE" |
    sed "s/^/($key)\t/" >>"$WORK/panics.tsv"
done
python3 - "$WORK/panics.tsv" >"$WORK/panics.md" <<'PY'
import re, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
# image, site, panic function, containing symbol, origin crate, origin fn, location, chain
clean = lambda p: re.sub(r"^.*?/(registry/src/[^/]+/|library/|work/main/)", "", p)
direct = [r for r in rows if not r[2].startswith("via ")]
via = [r for r in rows if r[2].startswith("via ")]
def key(r):  # the same source site in several images counts once
    return (r[2], r[4], r[5])
def uniq(rs):
    seen = {}
    for r in rs:
        seen.setdefault(key(r), []).append(r)
    return seen
def where(rs):  # a location with a line number, if any image has one
    locs = [clean(r[6]) for r in rs]
    return next((l for l in locs if not l.endswith(":?")), locs[0])
def async_guard(k):
    # Every async fn's state machine panics when polled after completion;
    # with panic-halt every panic function has the same body, so LLVM merges
    # them (the symbol then reads e.g. `expect_failed`).
    return k[2].endswith("{{closure}}") and re.search(r"_async::\{\{closure\}\}|::(read|write|flush|connect|close)::\{\{closure\}\}", k[2])
d = uniq(direct)
ours = {k: v for k, v in d.items() if k[1] == "embedded_oauth2" and not async_guard(k)}
guards = {k: v for k, v in d.items() if async_guard(k)}
in_sym = {k: v for k, v in d.items() if any(re.match(r"^<?embedded_oauth2::", r[3]) for r in v)}
literal = {k: v for k, v in ours.items() if k[0].startswith("core::panicking::")}
print()
print("### Panic call sites in the images (a)–(e), thumbv7em-none-eabihf")
print()
print("Calls to `core::panicking::*` and to the other panic entry points (`*_fail`,")
print("`unwrap_failed`, `expect_failed`, …) found in the disassembly, each attributed to the")
print("function symbol that contains it and, through the DWARF inline chain of the branches")
print("into its cold block, to the source it was inlined from (LTO inlines most of the crate")
print("into `main`, so the symbol alone says little).")
print()
print(f"* from `embedded_oauth2` source: **{len(ours)}** "
      f"(direct `core::panicking::*` calls among them: {len(literal)})")
print(f"* inside `embedded_oauth2::` function symbols: **{len(in_sym)}**")
print(f"* async state-machine resume guards (compiler-generated in every `async fn`, image (d)): {len(guards)}")
print(f"* from dependencies and `core` itself: {len(d) - len(ours) - len(guards)}")
print()
# Why each remaining site cannot fire, by where it comes from (the first
# pattern that matches the site's origin and location). A site with no
# entry prints "UNEXPLAINED" and fails the report: a new panic site needs a
# reason here, or a code change.
WHY = [
    (r"async resume guard", "a finished future is never polled again: the drivers and `block_on` stop at `Ready`"),
    (r"percent-encoding.*lib\.rs", "`split_at(1 + i)` where `i` indexes `remaining`, one byte shorter than the slice split: always in range"),
    (r"httparse.*swar\.rs", "`offsetnz`'s loop over a non-zero word always returns; the panic after it is unreachable"),
    (r"httparse.*lib\.rs", "`value_slice[0..last_visible+1]` where `last_visible` is an index `rposition` found in `value_slice`"),
    (r"hmac.*simple\.rs", "`new_from_slice(..).unwrap()`: HMAC takes keys of any length, it never returns `Err`"),
    (r"subtle.*lib\.rs", "p256 ECDSA: `CtOption::unwrap` of the inverse of the RFC 6979 nonce, never zero"),
    (r"Result<T,E>::expect", "rfc6979's HMAC-DRBG inlined into `P256Signer::sign` (image (c)): `SimpleHmac::new_from_slice(..).expect(..)`, and HMAC takes keys of any length"),
    (r"index\.rs:456", "core slicing `[..n]` behind base64ct's encoder (n is the encoded length it checked against the output buffer) and sha2's fixed-size finalization"),
    (r"index\.rs:581", "core slicing `[n..]` in sha2/digest finalization: `n` is the block buffer position, always below the block size"),
    (r"CharSearcher|uint_macros", "core's `str::split` searcher (URL host:port and HTTP-date parsing): index arithmetic inside the haystack it owns"),
    (r"encode_utf8_raw|char/methods", "`char::encode_utf8` into a `[u8; 4]` or into exactly `len_utf8()` bytes: always large enough"),
    (r"Duration>::new|intrinsics", "`Duration::new` overflows only when nanoseconds carry past `u64::MAX` seconds; `Duration / u32` and the backoff cap never get there"),
    (r"copy_from_slice|slice/mod\.rs", "`copy_from_slice` length check: callers pass `get_mut(a..a + n)` and `get(..n)`, equal lengths"),
]
def why(k, rs, note):
    text = f"{k[0]} {k[1]} {k[2]}{note} {where(rs)} {rs[0][6]}"
    for pat, reason in WHY:
        if re.search(pat, text):
            return reason
    return "UNEXPLAINED"
unexplained = 0
print("| images | panic function | containing symbol | source (innermost non-core frame) | location | why it cannot fire |")
print("| --- | --- | --- | --- | --- | --- |")
order = lambda kv: (kv[0][1] != "embedded_oauth2", bool(async_guard(kv[0])), kv[0][1], kv[0][2])
for k, rs in sorted(d.items(), key=order):
    imgs = "".join(sorted({r[0] for r in rs}))
    sym = rs[0][3]
    note = " (async resume guard)" if async_guard(k) else ""
    reason = why(k, rs, note) if k[1] != "embedded_oauth2" or note else "— (counted above: fix the code)"
    unexplained += reason == "UNEXPLAINED"
    print(f"| {imgs} | `{k[0]}` | `{sym[:90]}` | [{k[1]}] `{k[2][:100]}`{note} | `{where(rs)}` | {reason} |")
v = uniq(via)
vo = {k: c for k, c in v.items() if k[1] == "embedded_oauth2"}
print()
print("Calls into `core` functions that contain a panic site (the `copy_from_slice` length check,")
print(f"`char::encode_utf8`, `Duration::new`, `copy_within`, str searchers, …): {len(v)} sites, "
      f"{len(vo)} from `embedded_oauth2` source (not counted above):")
print()
for k, rs in sorted(vo.items(), key=lambda kv: kv[0][2]):
    imgs = "".join(sorted({r[0] for r in rs}))
    print(f"* {imgs} `{k[2][:100]}` → `{k[0][4:]}` at `{where(rs)}`")
print()
print(f"PANIC_SITES_UNEXPLAINED={unexplained}")
print(f"PANIC_SITES_OURS={len(ours)}")
print(f"PANIC_SITES_IN_SYMBOLS={len(in_sym)}")
PY
PANIC_OURS=$(sed -n 's/^PANIC_SITES_OURS=//p' "$WORK/panics.md")
PANIC_SYMS=$(sed -n 's/^PANIC_SITES_IN_SYMBOLS=//p' "$WORK/panics.md")
PANIC_UNEXPLAINED=$(sed -n 's/^PANIC_SITES_UNEXPLAINED=//p' "$WORK/panics.md")
grep -v '^PANIC_SITES_' "$WORK/panics.md" >>"$WORK/table.md"

# Where the bytes go (for the budgets that fail and for the reader).
step "attributing code bytes to source (DWARF inline info)"
for c in "${CONFIGS[@]}"; do
  IFS='|' read -r key _ _ bin <<<"$c"
  python3 "$ELFCHECK" attribute "$WORK/$bin.dis" "$(img thumbv7em-none-eabihf "$bin")" "$ADDR2LINE" \
    >"$WORK/$bin.attr"
done
for label in core all; do
  "$OBJDUMP" -dC --no-show-raw-insn "$WORK/firmware-$label.elf" >"$WORK/firmware-$label.dis"
  python3 "$ELFCHECK" frames "$WORK/firmware-$label.dis" 'fetch_case::\{\{closure' >"$WORK/frames-$label.txt"
done

# ---- budgets ---------------------------------------------------------------------
core_text=${TEXT[thumbv7em-none-eabihf/a]}
jwt_text=$((TEXT[thumbv7em-none-eabihf/b] - core_text))
dpop_text=$((TEXT[thumbv7em-none-eabihf/e] - TEXT[thumbv7em-none-eabihf/c]))
revoke_text=$((TEXT[thumbv7em-none-eabihf/g] - TEXT[thumbv7em-none-eabihf/a]))
discovery_text=$((TEXT[thumbv7em-none-eabihf/h] - TEXT[thumbv7em-none-eabihf/a]))
fetch_stack=$(report core stack_fetch_basic)
check() { # NAME OK(0/1) DETAIL
  if [ "$2" = 1 ]; then echo "| $1 | pass | $3 |"; else echo "| $1 | **FAIL** | $3 |"; FAIL+=("$1"); fi
}
{
  echo
  echo "### Budgets"
  echo
  echo "| budget | result | measured |"
  echo "| --- | --- | --- |"
  check "test firmware: every check passes under QEMU (core, all features)" $((${#QEMU_FAIL[@]} == 0)) \
    "${QEMU_FAIL[*]:-$(grep -h -E '^[0-9]+ passed, 0 failed$' "$WORK"/qemu-*.txt | tr '\n' ' ')}"
  check "core blocking client ≤ 18.5 KiB .text (thumbv7em)" $((core_text <= BUDGET_CORE_TEXT)) \
    "$core_text bytes ($(kib "$core_text"))"
  check "client_secret_jwt adds ≤ 6 KiB .text (thumbv7em)" $((jwt_text <= BUDGET_JWT_TEXT)) \
    "$jwt_text bytes ($(kib "$jwt_text"))"
  check "DPoP adds ≤ 3 KiB .text over private_key_jwt, (e) − (c) (thumbv7em)" $((dpop_text <= BUDGET_DPOP_TEXT)) \
    "$dpop_text bytes ($(kib "$dpop_text"))"
  check "revocation adds ≤ 2 KiB .text over (a), (g) − (a) (thumbv7em)" $((revoke_text <= BUDGET_REVOKE_TEXT)) \
    "$revoke_text bytes ($(kib "$revoke_text"))"
  check "discovery adds ≤ 8 KiB .text over (a), (h) − (a) (thumbv7em)" $((discovery_text <= BUDGET_DISCOVERY_TEXT)) \
    "$discovery_text bytes ($(kib "$discovery_text"))"
  check "stack of a full fetch ≤ 2 KiB (core, QEMU)" $((fetch_stack <= BUDGET_FETCH_STACK)) \
    "$fetch_stack bytes"
  check "zero heap (no allocator symbol linked)" $([ -z "$heap_hits" ] && echo 1 || echo 0) \
    "${heap_hits:-none of __rust_alloc, __rg_alloc, __rdl_alloc, GlobalAlloc, alloc::alloc in any image}"
  check "every panic site left in dependencies has a reason it cannot fire" $((PANIC_UNEXPLAINED == 0)) \
    "$PANIC_UNEXPLAINED without one"
  check "zero panic call sites from embedded_oauth2 code" $((PANIC_OURS == 0)) \
    "$PANIC_OURS from its own source ($PANIC_SYMS sites sit in \`embedded_oauth2::\` symbols, dependency code inlined there included)"
} >>"$WORK/table.md"

cat "$WORK/table.md"

{
    echo
    echo "### Where the bytes and the stack go"
    echo
    echo '```text'
    echo "(a) core, thumbv7em: code bytes by the source they were inlined from"
    sed -n '1,/^by embedded_oauth2/p' "$WORK/size_core.attr" | head -45
    sed -n '/^by embedded_oauth2/,$p' "$WORK/size_core.attr" | head -25
    echo
    echo "(b) − (a): code bytes by crate"
    python3 - "$WORK/size_core.attr" "$WORK/size_secret_jwt.attr" <<'PY'
import sys
def crates(f):
    d, on = {}, False
    for l in open(f):
        if l.startswith("by crate"): on = True; continue
        if l.startswith("largest"): break
        if on:
            s, c = l.split(); d[c] = int(s)
    return d
a, b = crates(sys.argv[1]), crates(sys.argv[2])
for k in sorted(set(a) | set(b), key=lambda k: -(b.get(k, 0) - a.get(k, 0))):
    if b.get(k, 0) != a.get(k, 0):
        print(f"  {b.get(k, 0) - a.get(k, 0):+7d}  {k}")
PY
    echo
    echo "stack frames of the core firmware ($QEMU_TARGET; frame = pushes + sub sp in the prologue;"
    echo "the fetch_case closures are the measured fetches, Client::token inlined into them)"
    cat "$WORK/frames-core.txt"
    echo '```'
}
if [ "${#FAIL[@]}" -gt 0 ]; then
  say ""
  say "firmware-report: budget(s) exceeded: ${FAIL[*]}"
  exit 1
fi
say ""
say "firmware-report: all budgets met"
