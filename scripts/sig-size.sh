#!/usr/bin/env bash
# Measures what `tls::sig`'s ECDSA verification costs a Cortex-M image:
# .text (llvm-size / arm-none-eabi-size -A) and the peak stack of one
# verification (stack painting under QEMU lm3s6965evb, Cortex-M3).
#
# Builds a throwaway no_std firmware (in a temporary directory, depending
# on this checkout by path) three times for thumbv7m-none-eabi with the
# release profile of examples/firmware (opt-level "z", LTO, 1 codegen
# unit):
#
#   none  the same runtime, no verification
#   p256  verifies tests/data/sig/ec256.sha256.sig (ECDSA_P256_SHA256; `tls`)
#   p384  the same, plus ec384.sha384.sig (ECDSA_P384_SHA384; `tls-p384`)
#
# and prints each image's .text and each verification's stack. "p384 −
# p256" is what `tls-p384` adds to firmware that verifies P-256 already
# (as every `tls` firmware does).
#
# With SHA2_COMPACT=1 the images select sha2's compact rounds
# (`sha2/force-soft-compact`, a firmware's choice): SHA-384's share shrinks.
#
# Usage: scripts/sig-size.sh [TARGET]   (default thumbv7m-none-eabi, run
# under qemu-system-arm; another Arm target, e.g. thumbv7em-none-eabihf or
# thumbv6m-none-eabi, is only built and sized). The images go to
# $CARGO_TARGET_DIR/sig-size (default ./target/sig-size).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${1:-thumbv7m-none-eabi}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/sig-size
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET CARGO_ENCODED_RUSTFLAGS
SIZE=$(command -v llvm-size || command -v arm-none-eabi-size)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/src" "$WORK/.cargo"
cp "$ROOT/examples/firmware/memory.x" "$ROOT/examples/firmware/build.rs" "$WORK/"
cp "$ROOT/examples/firmware/Cargo.lock" "$WORK/" 2>/dev/null || true
cat >"$WORK/.cargo/config.toml" <<TOML
[target.'cfg(all(target_arch = "arm", target_os = "none"))']
rustflags = ["-C", "link-arg=-Tlink.x"]
TOML
cat >"$WORK/Cargo.toml" <<TOML
[package]
name = "sig-size"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[features]
p256 = []
p384 = ["p256", "embedded-oauth2/tls-p384"]

[dependencies]
embedded-oauth2 = { path = "$ROOT", default-features = false, features = ["tls"] }
cortex-m = { version = "0.7", features = ["critical-section-single-core"] }
cortex-m-rt = "0.7"
cortex-m-semihosting = "0.5"
panic-halt = "1"
$([ "${SHA2_COMPACT:-}" = 1 ] && echo 'sha2 = { version = "0.10", default-features = false, features = ["force-soft-compact"] }')

[profile.release]
opt-level = "z"
lto = true
codegen-units = 1
TOML
cat >"$WORK/src/main.rs" <<RS
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_halt as _;

#[path = "$ROOT/examples/firmware/src/stack.rs"]
mod stack;

#[allow(unused_mut)]
#[entry]
fn main() -> ! {
    let mut ok = true;
    #[cfg(feature = "p256")]
    {
        use embedded_oauth2::tls::sig::{ECDSA_P256_SHA256 as ALG, SignatureVerificationAlgorithm};
        let key = black_box(include_bytes!("$ROOT/tests/data/sig/ec256.point"));
        let sig = black_box(include_bytes!("$ROOT/tests/data/sig/ec256.sha256.sig"));
        let msg = black_box(include_bytes!("$ROOT/tests/data/sig/msg"));
        let mut r = false;
        let used = stack::measure(&mut || r = ALG.verify_signature(key, msg, sig).is_ok());
        let mut bad = *sig;
        bad[10] ^= 1;
        let refused = ALG.verify_signature(key, msg, black_box(&bad)).is_err();
        hprintln!("p256 verified={} refused_bad={} stack={}", r, refused, used);
        ok &= r && refused;
    }
    #[cfg(feature = "p384")]
    {
        use embedded_oauth2::tls::sig::{ECDSA_P384_SHA384 as ALG, SignatureVerificationAlgorithm};
        let key = black_box(include_bytes!("$ROOT/tests/data/sig/ec384.point"));
        let sig = black_box(include_bytes!("$ROOT/tests/data/sig/ec384.sha384.sig"));
        let msg = black_box(include_bytes!("$ROOT/tests/data/sig/msg"));
        let mut r = false;
        let used = stack::measure(&mut || r = ALG.verify_signature(key, msg, sig).is_ok());
        let mut bad = *sig;
        bad[10] ^= 1;
        let refused = ALG.verify_signature(key, msg, black_box(&bad)).is_err();
        hprintln!("p384 verified={} refused_bad={} stack={}", r, refused, used);
        ok &= r && refused;
    }
    hprintln!("done");
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}
RS

printf '| image | .text | .rodata | stack of one verification |\n| --- | ---: | ---: | --- |\n'
rc=0
for feats in none p256 p384; do
  args=()
  [ "$feats" = none ] || args=(--features "$feats")
  (cd "$WORK" && cargo build -j1 --release --target "$TARGET" "${args[@]}" >&2)
  elf=$CARGO_TARGET_DIR/$TARGET/release/sig-size
  cp "$elf" "$WORK/$feats.elf"
  text=$("$SIZE" -A "$WORK/$feats.elf" | awk '$1 == ".text" { print $2 }')
  rodata=$("$SIZE" -A "$WORK/$feats.elf" | awk '$1 == ".rodata" { print $2 }')
  out=""
  if [ "$TARGET" = thumbv7m-none-eabi ]; then
    out=$(timeout 600 qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic \
          -semihosting-config enable=on,target=native -kernel "$WORK/$feats.elf" </dev/null 2>&1) || rc=1
  fi
  printf '| %s | %s | %s | %s |\n' "$feats" "$text" "$rodata" "$(echo "$out" | grep -E '^p(256|384) ' | tr '\n' ' ')"
done
exit $rc
