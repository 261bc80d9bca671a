//! Randomness: QEMU's mps2-an385 has no random number generator, so the
//! seeds come from the host's `/dev/urandom` over semihosting (`SYS_OPEN`,
//! `SYS_READ`). A real board takes them from its TRNG (the Pico W from the
//! ring oscillator, the ESP32-C3 from its RNG). Without the host file the
//! firmware stops: TLS keys from a guessable seed would be no TLS.

use cortex_m_semihosting::{nr, syscall};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// 32 bytes from the host's `/dev/urandom`, or `None`.
fn host_entropy() -> Option<[u8; 32]> {
    let name = b"/dev/urandom\0";
    // SAFETY: SYS_OPEN reads the NUL-terminated name and its length.
    let fd = unsafe { syscall!(OPEN, name.as_ptr(), nr::open::R_BINARY, name.len() - 1) };
    if fd as isize == -1 {
        return None;
    }
    let mut seed = [0u8; 32];
    // SAFETY: SYS_READ writes at most 32 bytes into `seed`.
    let not_read = unsafe { syscall!(READ, fd, seed.as_mut_ptr(), seed.len()) };
    // SAFETY: SYS_CLOSE only takes the handle.
    unsafe { syscall!(CLOSE, fd) };
    (not_read == 0).then_some(seed)
}

/// A CSPRNG keyed from the host, or `None` (logged by the caller).
pub fn seeded() -> Option<ChaCha20Rng> {
    let mut seed = host_entropy()?;
    let rng = ChaCha20Rng::from_seed(seed);
    seed.fill(0);
    Some(rng)
}
