//! RAM that survives a system reset: the token record between boots.
//!
//! cortex-m-rt's `link.x` (0.7) places the input sections `.uninit.*` in
//! an output section `.uninit (NOLOAD)` after `.bss`, which its reset
//! handler neither loads nor zeroes: what the previous boot left there is
//! still there after `SCB::sys_reset` (AIRCR SYSRESETREQ), as on a chip
//! whose SRAM keeps its contents across a warm reset or a deep sleep. (On
//! a power-on it holds whatever the cells come up with.)
//!
//! The token exchange's work buffer lives here, so keeping the token costs
//! no RAM (this 64 KiB part has about 1 KiB to spare with 16 KiB TLS
//! records): the record is read (`Client::restore_token`) before the
//! buffer's first use and written (`Client::export_token`) after its last
//! use, right before the reset. The record checks itself (magic, version,
//! CRC-32, the configuration's fingerprint, the expiry): garbage of a
//! power-on, a damaged record or another configuration's token is refused
//! and the device fetches. Besides the buffer there is one word, set just
//! before a requested reset, so that the boot after it knows not to reset
//! again (it is not a check of the record).
//!
//! This is the only module of the firmware with `unsafe` for memory the
//! runtime does not initialise: a `MaybeUninit` static, handed out once.

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering, compiler_fence};

/// The value of [`Retained::reset_mark`] after a reset this firmware asked
/// for (any other value: a power-on, or another kind of reset).
const RESET_MARK: u32 = 0x5253_5452; // "RTSR"

#[repr(C)]
struct Retained<const N: usize> {
    reset_mark: u32,
    work: [u8; N],
}

const WORK_CAP: usize = crate::WORK_CAP;

#[unsafe(link_section = ".uninit.retained")]
static mut RETAINED: MaybeUninit<Retained<WORK_CAP>> = MaybeUninit::uninit();

static TAKEN: AtomicBool = AtomicBool::new(false);

/// The retained RAM of this boot.
pub struct Boot {
    /// The previous boot ended with [`reset`] (not a power-on).
    pub after_reset: bool,
    /// The work buffer, as the previous boot left it: the token record (or
    /// anything else). Zeroize it before other use.
    pub work: &'static mut [u8; WORK_CAP],
    reset_mark: &'static mut u32,
}

/// The retained RAM; `None` after the first call.
pub fn take() -> Option<Boot> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let p: *mut Retained<WORK_CAP> = (&raw mut RETAINED).cast();
    // SAFETY: `p` is valid and aligned for a `Retained` (a static). The
    // empty asm takes it without `nomem`: the compiler must assume the asm
    // wrote the memory, as the previous boot did; every bit pattern is a
    // valid `u32` and `[u8; N]`, so the bytes are initialised from here on
    // (and no value is assumed of them). `TAKEN` lets this run once, so
    // these are the only references ever made to the static.
    unsafe {
        core::arch::asm!("/* {0}: RAM kept across the reset */", in(reg) p, options(nostack, preserves_flags));
        let retained = &mut *p;
        let after_reset = retained.reset_mark == RESET_MARK;
        retained.reset_mark = 0;
        Some(Boot {
            after_reset,
            work: &mut retained.work,
            reset_mark: &mut retained.reset_mark,
        })
    }
}

/// A system reset (AIRCR SYSRESETREQ) that the next boot sees as
/// [`Boot::after_reset`]; the work buffer keeps what it holds now.
pub fn reset(boot: Boot) -> ! {
    let Boot {
        work, reset_mark, ..
    } = boot;
    *reset_mark = RESET_MARK;
    // The stores to the buffer and the mark must reach the RAM before the
    // reset: the asm may read them.
    let p: *const u8 = work.as_ptr();
    // SAFETY: an empty asm that reads nothing the compiler can see; taking
    // the pointers without `nomem` keeps the stores above from being
    // removed as dead.
    unsafe {
        core::arch::asm!("/* {0} {1} */", in(reg) p, in(reg) reset_mark as *const u32, options(nostack, preserves_flags));
    }
    compiler_fence(Ordering::SeqCst);
    cortex_m::peripheral::SCB::sys_reset()
}
