//! Time: a monotonic millisecond clock from SysTick (for the token cache and
//! the bridge timeouts) and the wall clock from semihosting `SYS_TIME` (for
//! the `iat`/`exp` of signed client assertions).

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;

/// The core clock after reset: QEMU's LM3S6965 derives it from RCC (reset
/// value: 200 MHz PLL / SYSDIV 16 = 12.5 MHz); SysTick counts it.
pub const CORE_HZ: u32 = 12_500_000;
const TICKS_PER_MS: u32 = CORE_HZ / 1000;
/// One SysTick period: 10 ms (the counter is 24 bits wide).
const PERIOD_MS: u64 = 10;
const RELOAD: u32 = TICKS_PER_MS * PERIOD_MS as u32 - 1;

/// SysTick periods elapsed (counted by the exception).
static PERIODS: AtomicU32 = AtomicU32::new(0);
/// The last value handed out, so the clock never goes backwards even if a
/// wrap is seen before its exception is pending.
static LAST_MS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts SysTick: core clock, 10 ms period, exception on wrap.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    PERIODS.fetch_add(1, Ordering::Relaxed);
}

/// Milliseconds since [`start`]; never decreases.
pub fn now_ms() -> u64 {
    interrupt::free(|cs| {
        let mut periods = PERIODS.load(Ordering::Relaxed);
        let mut current = SYST::get_current();
        // Interrupts are masked here: a wrap since the last exception leaves
        // SysTick pending. Count it, and re-read the counter after the wrap.
        if SCB::is_pendst_pending() {
            periods = periods.wrapping_add(1);
            current = SYST::get_current();
        }
        let elapsed = RELOAD.saturating_sub(current) / TICKS_PER_MS;
        let ms = u64::from(periods) * PERIOD_MS + u64::from(elapsed);
        let last = LAST_MS.borrow(cs);
        let ms = ms.max(last.get());
        last.set(ms);
        ms
    })
}

/// SysTick ticks (core clock cycles of QEMU's virtual clock) since
/// [`start`]. Under `qemu-system-arm -icount shift=0` one instruction takes
/// 1 ns of virtual time, so a tick is [`INSNS_PER_TICK`] instructions.
pub fn now_ticks() -> u64 {
    interrupt::free(|_| {
        let mut periods = PERIODS.load(Ordering::Relaxed);
        let mut current = SYST::get_current();
        if SCB::is_pendst_pending() {
            periods = periods.wrapping_add(1);
            current = SYST::get_current();
        }
        u64::from(periods) * u64::from(RELOAD + 1) + u64::from(RELOAD.saturating_sub(current))
    })
}

/// Instructions per SysTick tick under `-icount shift=0` (1 ns each).
pub const INSNS_PER_TICK: u64 = 1_000_000_000 / CORE_HZ as u64;

/// UNIX time in seconds from the host (semihosting `SYS_TIME`), `None` if
/// the host does not answer. On hardware: an RTC set by NTP/GNSS/cellular.
pub fn unix_time() -> Option<u64> {
    // SAFETY: SYS_TIME takes no arguments and touches no guest memory.
    let secs = unsafe { cortex_m_semihosting::syscall!(TIME) };
    match secs {
        0 | usize::MAX => None,
        s => Some(s as u64),
    }
}
