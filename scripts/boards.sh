#!/usr/bin/env bash
# Builds the two embassy board firmwares in release mode and reports, as
# Markdown, how long each build took and how much flash and RAM each image
# takes:
#
#   examples/pico-w   Raspberry Pi Pico W (RP2040 + CYW43439), thumbv6m-none-eabi
#   examples/esp32c3  ESP32-C3, riscv32imc-unknown-none-elf (needs Rust >= 1.95)
#   examples/qemu-embassy  QEMU mps2-an385 (Cortex-M3, PPP on UART0),
#                     thumbv7m-none-eabi
#
# Each is its own Cargo project (own workspace, Cargo.lock and target/); both
# use examples/board-common. They are built, not run: no board is attached
# (the emulated board runs with examples/qemu-embassy/tools/).
#
# For each board: a first build (`cargo build --release --locked`; "cold"
# when its target dir held no build yet, "incremental" otherwise), then a warm
# rebuild after touching src/main.rs (the board crate recompiled and the image
# relinked, with LTO). With --cold the first build goes to a fresh, empty
# target dir (removed afterwards), so it is always a cold build; sources are
# fetched before the clock starts, so no build time is download time.
#
# The images are built with whatever configuration the environment gives
# (WIFI_*, OAUTH_*, SERVICE_URL, OAUTH_CA_CERT, CYW43_NVRAM: see
# examples/board-common/README.md); without it, with placeholders, and the
# report says which.
#
# Usage: scripts/boards.sh [--cold] [--no-install] [pico-w] [esp32c3] [qemu-embassy]
# Exit status: 0 when every build succeeded, 1 when one failed, 2 when a tool
# is missing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD

COLD=0
INSTALL=1
BOARDS=()
for arg in "$@"; do
  case "$arg" in
    --cold) COLD=1 ;;
    --no-install) INSTALL=0 ;;
    pico-w | esp32c3 | qemu-embassy) BOARDS+=("$arg") ;;
    -h | --help)
      sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "boards.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done
[ "${#BOARDS[@]}" -gt 0 ] || BOARDS=(pico-w esp32c3 qemu-embassy)

say() { printf '%s\n' "$*" >&2; }
die() {
  say "boards.sh: $*"
  exit 2
}

target_of() {
  case "$1" in
    pico-w) echo thumbv6m-none-eabi ;;
    esp32c3) echo riscv32imc-unknown-none-elf ;;
    qemu-embassy) echo thumbv7m-none-eabi ;;
  esac
}
bin_of() {
  case "$1" in
    pico-w) echo pico-w ;;
    esp32c3) echo esp32c3 ;;
    qemu-embassy) echo qemu-embassy ;;
  esac
}

# The projects' .cargo/config.toml carry the target and the linker scripts;
# nothing from the environment may override them.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET CARGO_TARGET_DIR

# ---- tools ----------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found"
if [ "$INSTALL" = 1 ]; then
  command -v rustup >/dev/null 2>&1 || die "rustup not found (needed to add the targets)"
  rustup target add thumbv6m-none-eabi thumbv7m-none-eabi riscv32imc-unknown-none-elf >&2 || die "rustup target add failed"
  rustup component add llvm-tools >&2 || say "boards.sh: llvm-tools not installed; looking for llvm-size elsewhere"
fi
LLVM_BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
if [ -x "$LLVM_BIN/llvm-size" ]; then
  SIZE=$LLVM_BIN/llvm-size
elif command -v llvm-size >/dev/null 2>&1; then
  SIZE=llvm-size
else
  die "llvm-size not found (rustup component add llvm-tools)"
fi
rust_minor=$(rustc --version | sed -n 's/^rustc 1\.\([0-9]*\)\..*/\1/p')
if [[ " ${BOARDS[*]} " == *" esp32c3 "* ]] && [ "${rust_minor:-0}" -lt 95 ]; then
  die "the ESP32-C3 build needs Rust >= 1.95 (esp-hal 1.2.2); this is $(rustc --version)"
fi

# ---- builds ---------------------------------------------------------------------
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

failed=0
declare -A FIRST_S FIRST_KIND WARM_S ELF

seconds_since() { # start (date +%s.%N) -> elapsed seconds, one decimal
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

for board in "${BOARDS[@]}"; do
  dir=$ROOT/examples/$board
  triple=$(target_of "$board")
  say ""
  say "==> $board ($triple)"
  (cd "$dir" && cargo fetch --locked --target "$triple" >&2) || {
    say "boards.sh: $board: cargo fetch failed"
    failed=1
    continue
  }

  if [ "$COLD" = 1 ]; then
    tdir=$WORK/target-$board
    mkdir -p "$tdir"
  else
    tdir=$dir/target
  fi
  if [ -d "$tdir/$triple/release" ]; then
    FIRST_KIND[$board]=incremental
  else
    FIRST_KIND[$board]=cold
  fi

  start=$(date +%s.%N)
  if ! (cd "$dir" && CARGO_TARGET_DIR=$tdir cargo build --release --locked >&2); then
    say "boards.sh: $board: the build FAILED"
    failed=1
    continue
  fi
  FIRST_S[$board]=$(seconds_since "$start")
  say "    first build (${FIRST_KIND[$board]}): ${FIRST_S[$board]} s"

  touch "$dir/src/main.rs"
  start=$(date +%s.%N)
  if ! (cd "$dir" && CARGO_TARGET_DIR=$tdir cargo build --release --locked >&2); then
    say "boards.sh: $board: the warm rebuild FAILED"
    failed=1
    continue
  fi
  WARM_S[$board]=$(seconds_since "$start")
  say "    warm rebuild: ${WARM_S[$board]} s"

  elf=$tdir/$triple/release/$(bin_of "$board")
  [ -f "$elf" ] || {
    say "boards.sh: $board: no image at $elf"
    failed=1
    continue
  }
  # Keep the image for the size report (the --cold target dir goes away).
  cp "$elf" "$WORK/$board.elf"
  ELF[$board]=$WORK/$board.elf
done

# ---- report ---------------------------------------------------------------------
# Sections from `llvm-size -A` (decimal sizes and addresses), by name:
#   .text   code: .text*, .rwtext* and .trap (ESP32-C3, run from IRAM), .boot2
#   .rodata .rodata*, .vector_table, .flash.appdesc
#   .data   initialised RAM (its initial image is in flash too)
#   .bss    zeroed/uninitialised RAM: .bss*, .uninit, .noinit, rtc persistent
# Not counted: sections at address 0 (debug info, .defmt, .eh_frame, ...;
# but qemu-embassy's .vector_table is at 0 and counts),
# esp-hal's *_dummy address-space placeholders, .stack and .dram2_uninit
# (the ESP32-C3 stack and the bootloader RAM reclaimed for the heap).
# flash = .text + .rodata + .data; static RAM = .data + .bss + code that runs
# from RAM (address outside the flash windows 0x10000000-0x1fffffff RP2040
# XIP, 0x3c000000-0x3cffffff / 0x42000000-0x42ffffff ESP32-C3 DROM/IROM,
# 0x00000000-0x003fffff the mps2-an385's SSRAM1 that holds the QEMU image).
size_row() { # board elf
  "$SIZE" -A "$2" | awk -v board="$1" -v triple="$(target_of "$1")" '
    function kib(n) { return sprintf("%.1f", n / 1024) }
    function in_flash(a) {
      if (triple == "thumbv7m-none-eabi") return a < 4194304
      return (a >= 268435456 && a < 536870912) || (a >= 1006632960 && a < 1023410176) ||
             (a >= 1107296256 && a < 1124073472)
    }
    NF == 3 && $1 ~ /^\./ && ($3 + 0 > 0 || $1 == ".vector_table") {
      name = $1; size = $2 + 0; addr = $3 + 0
      if (name ~ /_dummy$/ || name == ".stack" || name == ".dram2_uninit") next
      if (name ~ /^\.(text|rwtext|trap|boot2)/ || name == ".rtc_fast.text") {
        text += size; if (!in_flash(addr)) ramcode += size
      } else if (name ~ /^\.rodata/ || name == ".vector_table" || name == ".flash.appdesc") {
        rodata += size
      } else if (name ~ /^\.data/ || name == ".rtc_fast.data") {
        data += size
      } else if (name ~ /^\.(bss|uninit|noinit)/ || name ~ /^\.rtc_fast\.(bss|persistent)/) {
        bss += size
      }
    }
    END {
      printf "| %s | `%s` | %d | %d | %d | %d | %d (%s KiB) | %d (%s KiB) |\n", board, triple,
        text, rodata, data, bss, text + rodata + data, kib(text + rodata + data),
        data + bss + ramcode, kib(data + bss + ramcode)
    }'
}

echo
echo "### Embassy board images (release)"
echo
echo "| board | target | first build | warm rebuild |"
echo "| --- | --- | --- | --- |"
for board in "${BOARDS[@]}"; do
  if [ -n "${FIRST_S[$board]:-}" ]; then
    echo "| $board | \`$(target_of "$board")\` | ${FIRST_S[$board]} s (${FIRST_KIND[$board]}) | ${WARM_S[$board]:-failed} s |"
  else
    echo "| $board | \`$(target_of "$board")\` | FAILED | - |"
  fi
done
echo
echo "| board | target | .text | .rodata | .data | .bss | flash | static RAM |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for board in "${BOARDS[@]}"; do
  [ -n "${ELF[$board]:-}" ] && size_row "$board" "${ELF[$board]}"
done
echo
echo "Bytes, from \`llvm-size -A\`. flash = .text + .rodata + .data; static RAM ="
echo ".data + .bss (+ on the ESP32-C3 the code that runs from IRAM). Not counted:"
echo "the stack, and on the ESP32-C3 the 64 KiB of bootloader RAM reclaimed for the"
echo "Wi-Fi driver's heap (the other 32 KiB of heap are in .bss). The Pico W's"
echo ".rodata includes the 231 KB CYW43439 firmware. qemu-embassy's \"flash\" is"
echo "the emulated board's 4 MiB SSRAM1 that QEMU loads the image into."

# What the images were built with.
echo
placeholder=()
if [ -z "${OAUTH_CA_CERT:-}" ] && [ ! -f examples/board-common/trust/ca.der ] &&
  [ ! -f examples/board-common/trust/ca.pem ]; then
  placeholder+=("no CA certificate (OAUTH_CA_CERT): TLS cannot connect")
fi
if [ -z "${WIFI_SSID:-}" ] || [ -z "${WIFI_PASSWORD+set}" ] || [ -z "${OAUTH_TOKEN_URL:-}" ] || [ -z "${OAUTH_CLIENT_ID:-}" ] ||
  [ -z "${OAUTH_CLIENT_SECRET:-}" ] || [ -z "${SERVICE_URL:-}" ]; then
  placeholder+=("placeholder settings (WIFI_SSID, OAUTH_*, SERVICE_URL)")
fi
if [[ " ${BOARDS[*]} " == *" pico-w "* ]] && [ -z "${CYW43_NVRAM:-}" ]; then
  placeholder+=("Pico W: empty CYW43439 NVRAM (CYW43_NVRAM): the image stops at boot")
fi
if [ "${#placeholder[@]}" -gt 0 ]; then
  echo "Built with PLACEHOLDERS, so these images build and measure like real ones but"
  echo "cannot work on a board:"
  for p in "${placeholder[@]}"; do echo "- $p"; done
else
  echo "Built with a full configuration."
fi

if [ "$failed" != 0 ]; then
  say "boards.sh: at least one build failed"
  exit 1
fi
