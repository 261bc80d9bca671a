//! Two marks for counting instructions: functions that do nothing, at
//! addresses the host looks up in the image (`arm-none-eabi-nm`) and gives
//! to `scripts/qemu-insn-count.c`, a QEMU plugin that counts the guest's
//! instructions and writes the count each time one of them runs.
//! `scripts/embassy-device-test.py` reports the counts at the first of
//! each: the instructions from reset to the first token, and to the first
//! service call answered 2xx.
//!
//! (QEMU's `-icount` cannot give these: the executor sleeps in WFI while
//! it waits, and the virtual clock is warped over each such stretch.)
//!
//! The logger calls them (`logger.rs`), from the lines board-common writes,
//! so that board-common runs unchanged. Their bodies differ so that the
//! compiler cannot merge them into one address.

/// Runs each time the token task publishes a token.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn qemu_embassy_mark_token() {
    cortex_m::asm::nop();
}

/// Runs each time a service call is answered 2xx.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn qemu_embassy_mark_service_ok() {
    cortex_m::asm::nop();
    cortex_m::asm::nop();
}
