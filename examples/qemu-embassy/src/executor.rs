//! The executor: embassy's raw executor, waiting with WFI.
//!
//! embassy-executor's Cortex-M thread executor waits with WFE, and its
//! pender wakes it with SEV. On silicon WFE sleeps; QEMU (7.2) treats it
//! as a hint and carries on, so under QEMU that loop spins between wakes:
//! it kept a host core busy, and the guest's instruction count grew with
//! the wall time spent waiting for the network (a 2.8 s wait for the
//! server: 121 M instructions to the first token where a 0.4 s one took
//! 39 M).
//!
//! This one waits with WFI, which QEMU does halt on. Every wake in this
//! board comes from an interrupt (SysTick, the UART) or from a task the
//! poll is running. The pender only raises a flag; the loop checks it with
//! interrupts masked and sleeps only if it is down. A masked interrupt
//! still ends WFI, then runs as soon as the mask is lifted, so a wake
//! between the check and the WFI is not lost.
//!
//! On a real Cortex-M, embassy-executor's own `Executor` (features
//! `platform-cortex-m`, `executor-thread`) is what to use, as the Pico W
//! example does.

use core::sync::atomic::{AtomicBool, Ordering};

use embassy_executor::{Spawner, raw};

/// Raised by the pender: a task was woken since the last poll.
static WOKEN: AtomicBool = AtomicBool::new(false);

/// embassy-executor's hook, called when a task is woken (from a task or an
/// interrupt handler).
#[unsafe(export_name = "__pender")]
fn pender(_context: *mut ()) {
    WOKEN.store(true, Ordering::Release);
}

/// A thread-mode executor that sleeps with WFI.
pub struct Executor {
    inner: raw::Executor,
}

impl Executor {
    /// A new executor (its pender takes no context).
    pub fn new() -> Self {
        Self {
            inner: raw::Executor::new(core::ptr::null_mut()),
        }
    }

    /// Spawns the first tasks with `init`, then polls for ever.
    pub fn run(&'static mut self, init: impl FnOnce(Spawner)) -> ! {
        init(self.inner.spawner());
        loop {
            // SAFETY: `poll` is only called here, never reentrantly (the
            // pender does not poll).
            unsafe { self.inner.poll() };
            cortex_m::interrupt::disable();
            if !WOKEN.swap(false, Ordering::Acquire) {
                cortex_m::asm::wfi();
            }
            // SAFETY: not inside a critical section (the loop holds none).
            unsafe { cortex_m::interrupt::enable() };
        }
    }
}
