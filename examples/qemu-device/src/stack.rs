//! Stack painting (as in `examples/firmware/src/stack.rs`): fill the unused stack with a pattern, run, then find the
//! lowest word that no longer holds it.
//!
//! cortex-m-rt's linker script gives the stack's bounds: `_stack_start` is
//! the initial stack pointer (top of RAM) and `_stack_end` the lowest
//! address the stack may grow to (the end of `.bss`/`.uninit`, where a heap
//! would start: this firmware has none).

use core::arch::asm;

/// The paint. Not a value code is likely to store.
const PAINT: u32 = 0xC0FF_EE55;

unsafe extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

/// The initial stack pointer (top of the stack).
pub fn top() -> usize {
    (&raw const _stack_start) as usize
}

/// The lowest address the stack may use.
pub fn bottom() -> usize {
    (&raw const _stack_end) as usize
}

#[inline(always)]
fn sp() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register; no memory access.
    unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// Paints from the bottom of the stack up to a little below the current
/// stack pointer; returns the end of the painted area.
#[inline(never)]
pub fn paint() -> usize {
    // 16 bytes of slack below this function's own frame.
    let end = (sp() - 16) & !3;
    let mut p = bottom();
    while p < end {
        // SAFETY: [bottom, end) is unused stack below the live frames, word
        // aligned, inside RAM (cortex-m-rt's linker script guarantees both).
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    end
}

/// The lowest address below `painted_end` that was written since [`paint`].
#[inline(never)]
pub fn lowest_written(painted_end: usize) -> usize {
    let mut p = bottom();
    // SAFETY: reads the area `paint` wrote; word aligned, inside RAM.
    while p < painted_end && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    p
}
