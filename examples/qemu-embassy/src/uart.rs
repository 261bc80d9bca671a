//! UART0 of the mps2-an385, a CMSDK APB UART (QEMU's
//! `hw/char/cmsdk-apb-uart.c`), as `embedded_io_async::BufRead + Write`
//! for embassy-net-ppp.
//!
//! Receive is interrupt driven: the RX interrupt (IRQ 0) moves each byte
//! into a ring buffer and wakes the reader; `fill_buf` waits until the
//! ring holds data (an empty slice would end PPP's `run` with `Eof`).
//! When the ring is full the interrupt leaves the byte in the UART's
//! one-byte holding register and masks itself: QEMU then stops reading
//! the chardev (its `can_receive` is false while RXFULL is set), so the
//! host is held back, and no byte is lost. `consume` drains the register
//! and unmasks.
//!
//! Transmit writes while the holding register is free; when it is full
//! (QEMU could not write to the chardev yet) the writer enables the TX
//! interrupt (IRQ 1), which fires when the byte has gone, and waits.
//!
//! Registers (offsets from 0x4000_4000): DATA 0x0, STATE 0x4 (bit 0 TX
//! full, bit 1 RX full), CTRL 0x8 (bit 0 TX enable, 1 RX enable, 2 TX
//! interrupt enable, 3 RX interrupt enable), INTSTATUS/INTCLEAR 0xC (bit 0
//! TX, bit 1 RX; write 1 to clear), BAUDDIV 0x10 (at least 16).

use core::cell::UnsafeCell;
use core::convert::Infallible;
use core::future::poll_fn;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::Poll;

use cortex_m::peripheral::NVIC;
use embassy_sync::waitqueue::AtomicWaker;
use embedded_io_async::{BufRead, ErrorType, Read, Write};

const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x4;
const CTRL: usize = BASE + 0x8;
const INTCLEAR: usize = BASE + 0xC;
const BAUDDIV: usize = BASE + 0x10;

const STATE_TXFULL: u32 = 1 << 0;
const STATE_RXFULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_TX_INTEN: u32 = 1 << 2;
const CTRL_RX_INTEN: u32 = 1 << 3;
const INT_TX: u32 = 1 << 0;
const INT_RX: u32 = 1 << 1;

/// UART0's interrupts on the AN385 (QEMU's `hw/arm/mps2.c`: RX is IRQ 0,
/// TX is RX + 1).
#[derive(Clone, Copy)]
#[repr(u16)]
pub enum Irq {
    Uart0Rx = 0,
    Uart0Tx = 1,
}

// SAFETY: the numbers are the machine's interrupt lines.
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

/// Receive ring: a power of two, so that the free-running counters wrap.
const RING: usize = 4096;

/// A single-producer (the RX interrupt), single-consumer (the PPP task)
/// byte ring. `head` and `tail` count bytes written and read, modulo
/// 2^32; only the producer moves `head`, only the consumer `tail`.
struct Ring {
    buf: UnsafeCell<[u8; RING]>,
    head: AtomicUsize,
    tail: AtomicUsize,
}

// SAFETY: the producer writes only the free part, the consumer reads only
// the filled part; the atomics order the hand-over (single core).
unsafe impl Sync for Ring {}

static RX: Ring = Ring {
    buf: UnsafeCell::new([0; RING]),
    head: AtomicUsize::new(0),
    tail: AtomicUsize::new(0),
};
static RX_WAKER: AtomicWaker = AtomicWaker::new();
static TX_WAKER: AtomicWaker = AtomicWaker::new();

fn read(reg: usize) -> u32 {
    // SAFETY: a UART register (MMIO) on this machine.
    unsafe { read_volatile(reg as *const u32) }
}

fn write(reg: usize, value: u32) {
    // SAFETY: a UART register (MMIO) on this machine.
    unsafe { write_volatile(reg as *mut u32, value) }
}

fn modify_ctrl(f: impl FnOnce(u32) -> u32) {
    critical_section::with(|_| write(CTRL, f(read(CTRL))));
}

impl Ring {
    fn len(&self) -> usize {
        self.head
            .load(Ordering::Acquire)
            .wrapping_sub(self.tail.load(Ordering::Acquire))
    }

    /// Producer: moves bytes from the holding register while there is
    /// room; whether the ring is full (a byte may still wait there).
    fn drain_uart(&self) -> bool {
        loop {
            let head = self.head.load(Ordering::Relaxed);
            if head.wrapping_sub(self.tail.load(Ordering::Acquire)) == RING {
                return true;
            }
            if read(STATE) & STATE_RXFULL == 0 {
                return false;
            }
            let byte = read(DATA) as u8;
            // SAFETY: slot `head` is free (checked above) and only the
            // producer writes; the consumer sees it after the Release.
            unsafe { (*self.buf.get())[head % RING] = byte };
            self.head.store(head.wrapping_add(1), Ordering::Release);
        }
    }

    /// Consumer: the filled bytes up to the end of the buffer.
    fn readable(&self) -> &[u8] {
        let tail = self.tail.load(Ordering::Relaxed);
        let len = self.len();
        let start = tail % RING;
        let n = len.min(RING - start);
        // SAFETY: bytes `tail..tail+len` are filled and the producer does
        // not write them until `tail` moves past them.
        unsafe { &(&*self.buf.get())[start..start + n] }
    }
}

/// UART0, owned by the PPP task.
pub struct Uart0 {
    _private: (),
}

impl Uart0 {
    /// Sets the baud divider (QEMU ignores the rate but wants a valid
    /// divider), enables both directions and the RX interrupt, and unmasks
    /// both interrupts in the NVIC. Call once.
    pub fn init() -> Self {
        write(CTRL, 0);
        write(INTCLEAR, INT_TX | INT_RX);
        // 25 MHz / 115200.
        write(BAUDDIV, crate::time::CPU_HZ / 115_200);
        write(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INTEN);
        // SAFETY: the handlers below are ready; no mask-based critical
        // section is in progress.
        unsafe {
            NVIC::unmask(Irq::Uart0Rx);
            NVIC::unmask(Irq::Uart0Tx);
        }
        Self { _private: () }
    }
}

impl ErrorType for Uart0 {
    type Error = Infallible;
}

impl BufRead for Uart0 {
    async fn fill_buf(&mut self) -> Result<&[u8], Infallible> {
        poll_fn(|cx| {
            RX_WAKER.register(cx.waker());
            if RX.len() > 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        Ok(RX.readable())
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(RX.len());
        RX.tail.fetch_add(amt, Ordering::AcqRel);
        // Room again: take what waits in the holding register (the
        // interrupt may have masked itself on a full ring) and unmask.
        critical_section::with(|_| {
            if !RX.drain_uart() {
                write(CTRL, read(CTRL) | CTRL_RX_INTEN);
            }
        });
    }
}

impl Read for Uart0 {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let data = self.fill_buf().await?;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Waits until the TX holding register is free.
async fn tx_free() {
    poll_fn(|cx| {
        if read(STATE) & STATE_TXFULL == 0 {
            return Poll::Ready(());
        }
        TX_WAKER.register(cx.waker());
        // Interrupt first, then look again: a byte that went in between
        // would otherwise raise no interrupt (QEMU raises TX only when the
        // register drains with the interrupt enabled).
        modify_ctrl(|c| c | CTRL_TX_INTEN);
        if read(STATE) & STATE_TXFULL == 0 {
            modify_ctrl(|c| c & !CTRL_TX_INTEN);
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

impl Write for Uart0 {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        tx_free().await;
        let mut n = 0;
        while n < buf.len() && read(STATE) & STATE_TXFULL == 0 {
            write(DATA, u32::from(buf[n]));
            n += 1;
        }
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        tx_free().await;
        Ok(())
    }
}

/// UART0's RX interrupt (IRQ 0), dispatched by `DefaultHandler`.
pub fn on_rx_interrupt() {
    write(INTCLEAR, INT_RX);
    if RX.drain_uart() {
        // Full: leave the byte in the register (QEMU holds the host back)
        // until `consume` makes room.
        write(CTRL, read(CTRL) & !CTRL_RX_INTEN);
    }
    RX_WAKER.wake();
}

/// UART0's TX interrupt (IRQ 1), dispatched by `DefaultHandler`.
pub fn on_tx_interrupt() {
    write(INTCLEAR, INT_TX);
    write(CTRL, read(CTRL) & !CTRL_TX_INTEN);
    TX_WAKER.wake();
}
