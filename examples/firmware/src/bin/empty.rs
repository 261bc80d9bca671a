//! The size baseline: the same runtime, panic handler and in-memory
//! transport as the `size_*` binaries, moving the same bytes, with no
//! embedded-oauth2 code. `scripts/firmware-report.sh` subtracts its
//! sections from theirs.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use embedded_io::{Read, Write};
use oauth2_firmware::{mem, rt};
use panic_halt as _;

static RESPONSE: &[u8] = include_bytes!("../../responses/opaque.http");

#[entry]
fn main() -> ! {
    let mut request = [0u8; 1024];
    let wire = mem::Wire::new(&mut request);
    wire.serve(black_box(RESPONSE));
    let mut work = [0u8; 2048];
    let mut total = 0;
    if let Ok(mut s) = wire.connect("auth.example.com") {
        let _ = s.write(black_box(b"POST /token HTTP/1.1\r\n"));
        let _ = s.flush();
        while let Some(dst) = work.get_mut(total..) {
            match s.read(dst) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(_) if total == 0 => {}
                Err(_) => break,
            }
        }
    }
    black_box(&mut work);
    rt::print("read ");
    rt::print_usize(total);
    rt::print("\n");
    rt::exit(total > 0)
}
