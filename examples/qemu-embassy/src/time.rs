//! embassy-time's driver: SysTick at 1 kHz (one tick = one millisecond,
//! embassy-time's `tick-hz-1_000`) and embassy-time-queue-utils' generic
//! timer queue behind a critical-section mutex.
//!
//! Each SysTick interrupt counts one tick and wakes the timers that are
//! due. No alarm to program: a timer is at most one tick late, and the
//! interrupt costs a few hundred cycles a millisecond (QEMU runs on the
//! host's clock, so the ticks are real milliseconds).

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// The mps2-an385's CPU clock (QEMU's `SYSCLK_FRQ`), which SysTick counts
/// with `SystClkSource::Core`.
pub const CPU_HZ: u32 = 25_000_000;
const TICK_HZ: u32 = 1_000;

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow(cs).borrow_mut();
            queue.schedule_wake(at, waker);
            // Already due: wake it now rather than at the next tick.
            let now = self.ticks.borrow(cs).get();
            if at <= now {
                queue.next_expiration(now);
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts SysTick: an interrupt every millisecond.
pub fn init(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CPU_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        // Wakes every timer due by `now` (what it returns, the next
        // expiration, needs no alarm: the next tick looks again).
        DRIVER.queue.borrow(cs).borrow_mut().next_expiration(now);
    });
}
