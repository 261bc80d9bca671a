//! UART0 of the TI Stellaris LM3S6965 (a PL011-style UART at 0x4000_C000),
//! polled: no interrupts, no DMA. The bridge protocol (`bridge.rs`) runs on
//! top of it as a byte stream.
//!
//! Under QEMU (`-serial tcp:127.0.0.1:PORT`) the bytes go to a host TCP
//! socket; QEMU applies back-pressure, so a guest that reads slowly loses
//! nothing. On the real chip the same code works at whatever baud rate the
//! divisors below set (here 115200 at the 12.5 MHz reset clock).

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::bridge::Link;

/// UART0's register block.
const BASE: usize = 0x4000_C000;
/// Data register: write = transmit, read = receive (bits 0–7; 8–11 errors).
const DR: usize = BASE;
/// Flag register.
const FR: usize = BASE + 0x018;
/// Integer and fractional baud-rate divisors.
const IBRD: usize = BASE + 0x024;
const FBRD: usize = BASE + 0x028;
/// Line control: word length, FIFO enable.
const LCRH: usize = BASE + 0x02C;
/// Control: UART, transmit and receive enable.
const CTL: usize = BASE + 0x030;

/// FR: receive FIFO empty.
const FR_RXFE: u32 = 1 << 4;
/// FR: transmit FIFO full.
const FR_TXFF: u32 = 1 << 5;
/// LCRH: 8 data bits, FIFOs on (16 bytes each way).
const LCRH_8BIT_FIFO: u32 = (0b11 << 5) | (1 << 4);
/// CTL: UARTEN | TXE | RXE.
const CTL_ENABLE: u32 = 1 | (1 << 8) | (1 << 9);

/// System control: run-mode clock gating for UART0 and GPIO port A.
const SYSCTL_RCGC1: usize = 0x400F_E104;
const SYSCTL_RCGC2: usize = 0x400F_E108;
/// GPIO port A: alternate function select and digital enable (PA0 = U0Rx,
/// PA1 = U0Tx).
const GPIOA_AFSEL: usize = 0x4000_4420;
const GPIOA_DEN: usize = 0x4000_451C;

fn read(addr: usize) -> u32 {
    // SAFETY: `addr` is one of the memory-mapped registers above: aligned,
    // always mapped on the LM3S6965, reads have no effect beyond the UART's.
    unsafe { read_volatile(addr as *const u32) }
}

fn write(addr: usize, value: u32) {
    // SAFETY: as in `read`; only this module touches these registers (UART0
    // is handed out once, see `Uart0::take`).
    unsafe { write_volatile(addr as *mut u32, value) }
}

/// UART0, configured 8N1 with FIFOs. There is one: [`Uart0::take`].
pub struct Uart0 {
    _private: (),
}

impl Uart0 {
    /// Configures UART0 and returns it the first time; `None` afterwards.
    pub fn take() -> Option<Self> {
        static TAKEN: AtomicBool = AtomicBool::new(false);
        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        write(SYSCTL_RCGC1, read(SYSCTL_RCGC1) | 1);
        write(SYSCTL_RCGC2, read(SYSCTL_RCGC2) | 1);
        write(GPIOA_AFSEL, read(GPIOA_AFSEL) | 0b11);
        write(GPIOA_DEN, read(GPIOA_DEN) | 0b11);
        write(CTL, 0);
        // 12.5 MHz / (16 × 115200) = 6.78: IBRD 6, FBRD round(0.78 × 64) = 50.
        // (QEMU ignores the rate; the TCP socket runs as fast as it can.)
        write(IBRD, 6);
        write(FBRD, 50);
        write(LCRH, LCRH_8BIT_FIFO);
        write(CTL, CTL_ENABLE);
        Some(Self { _private: () })
    }
}

impl Link for Uart0 {
    fn try_write(&self, byte: u8) -> bool {
        if read(FR) & FR_TXFF != 0 {
            return false;
        }
        write(DR, u32::from(byte));
        true
    }

    fn try_read(&self) -> Option<u8> {
        if read(FR) & FR_RXFE != 0 {
            return None;
        }
        // Bits 8–11 flag framing/parity/break/overrun errors, which a TCP
        // socket cannot produce; the bridge protocol would catch the damage.
        Some((read(DR) & 0xFF) as u8)
    }
}
