//! Semihosting output and exit (QEMU: `-semihosting-config enable=on`).
//!
//! Plain byte writes, no `core::fmt`: the size binaries use these too, so
//! the formatting machinery is only linked where the crate itself needs it.

use cortex_m_semihosting::{debug, hio};

/// Writes `s` to the host's stdout.
pub fn print(s: &str) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(s.as_bytes());
    }
}

/// Writes `n` in decimal to the host's stdout.
pub fn print_usize(n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if let Ok(s) = core::str::from_utf8(&digits[i..]) {
        print(s);
    }
}

/// Ends the QEMU run: exit status 0 when `ok`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not under a debugger/QEMU: nothing to return to.
    loop {
        cortex_m::asm::wfi();
    }
}
