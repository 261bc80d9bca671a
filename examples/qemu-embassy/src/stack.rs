//! Stack painting for the main stack (MSP): the embassy executor polls the
//! tasks on it and the interrupt handlers run on it. `paint` fills the
//! unused part with a pattern at boot, before the executor starts;
//! `report` finds the lowest word that no longer holds it.
//!
//! cortex-m-rt 0.7's linker script gives the bounds: `_stack_start` is the
//! initial stack pointer (the top of RAM here) and `_stack_end` the lowest
//! address the stack may grow to (the end of `.bss`/`.uninit`). RAM is
//! 4 MiB on this board, so only the top [`LIMIT`] bytes are painted (boot
//! stays fast); a peak that reaches the painted bottom is a lower bound.
//!
//! The tasks' own state (their futures) is in static RAM, not here.

use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

/// The paint. Not a value code is likely to store.
const PAINT: u32 = 0xC0FF_EE55;
/// At most this much below the top is painted.
pub const LIMIT: usize = 64 * 1024;

unsafe extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

/// The end (exclusive) of the painted area; 0 before `paint`.
static PAINTED_END: AtomicUsize = AtomicUsize::new(0);

/// The initial stack pointer (top of the stack).
fn top() -> usize {
    (&raw const _stack_start) as usize
}

/// The lowest address painted: `LIMIT` below the top, or the stack's
/// bottom if that is higher.
fn bottom() -> usize {
    let end = (&raw const _stack_end) as usize;
    top().saturating_sub(LIMIT).max(end)
}

#[inline(always)]
fn sp() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register; no memory access.
    unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// Paints from the bottom up to a little below the current stack pointer.
#[inline(never)]
pub fn paint() {
    // 16 bytes of slack below this function's own frame.
    let end = (sp() - 16) & !3;
    let mut p = bottom();
    while p < end {
        // SAFETY: [bottom, end) is unused stack below the live frames, word
        // aligned, inside RAM (cortex-m-rt's linker script guarantees both).
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    PAINTED_END.store(end, Ordering::Relaxed);
}

/// (peak bytes used below the top, bytes painted): the lowest word written
/// since `paint`, measured from the top of the stack.
#[inline(never)]
pub fn report() -> (usize, usize) {
    let end = PAINTED_END.load(Ordering::Relaxed);
    let bottom = bottom();
    let mut p = bottom;
    // SAFETY: reads the area `paint` wrote; word aligned, inside RAM.
    while p < end && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    (top() - p, end.saturating_sub(bottom))
}
