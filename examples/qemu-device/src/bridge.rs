//! The firmware side of the UART bridge protocol: TCP connections to the
//! host's loopback, carried in frames over a byte link (UART0).
//!
//! A UART has no end-of-stream, so opening, closing and errors travel in
//! band. Every frame is `[type: u8][len: u16 big-endian][payload: len bytes]`:
//!
//! | direction | type | payload |
//! | --- | --- | --- |
//! | firmware → bridge | `O` open | `host:port` (IPv6 host in brackets) |
//! | firmware → bridge | `D` data | bytes for the server (1..=65535) |
//! | firmware → bridge | `C` close | empty; no reply |
//! | bridge → firmware | `K` opened | empty |
//! | bridge → firmware | `E` open failed | UTF-8 reason |
//! | bridge → firmware | `D` data | bytes from the server (1..=1024) |
//! | bridge → firmware | `C` closed by the server | empty = clean end of stream, else UTF-8 error text |
//!
//! One connection at a time. After `O` every frame is discarded until `K` or
//! `E` (stale `D`/`C` of an earlier connection may still arrive). An `O`
//! while a connection is open makes the bridge close the old one first.
//!
//! [`Bridge::opener`] hands out [`Opener`]s (cheap, `Copy`), whose
//! [`Opener::open`] returns a [`BridgeSocket`]: `embedded_io` `Read` +
//! `Write`, ready to be wrapped by TLS. Opening a new connection retires the
//! previous socket (its operations then fail with
//! [`BridgeError::Superseded`]), so two openers can share the one link — the
//! token connector and the resource call in `main.rs` do.
//!
//! Nothing here panics on any input: the parser state is byte-exact across
//! timeouts and errors, malformed frames end the connection with
//! [`BridgeError::Protocol`].

use core::cell::Cell;
use core::fmt;

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use embedded_oauth2::error::Text;

/// Polls of the link that found nothing to read (or no room to write):
/// waiting, which the instruction counts of `main.rs` subtract.
static IDLE_POLLS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Idle polls so far (see [`IDLE_POLLS`]).
pub fn idle_polls() -> u32 {
    IDLE_POLLS.load(core::sync::atomic::Ordering::Relaxed)
}

fn idle() {
    IDLE_POLLS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
}

/// A byte link (UART0 under QEMU), polled.
pub trait Link {
    /// Sends one byte if there is room; `false` when the transmitter is full.
    fn try_write(&self, byte: u8) -> bool;
    /// One received byte, if any is waiting.
    fn try_read(&self) -> Option<u8>;
}

/// Frame types.
pub mod frame {
    /// firmware → bridge: open `host:port`.
    pub const OPEN: u8 = b'O';
    /// both ways: data.
    pub const DATA: u8 = b'D';
    /// firmware → bridge: close; bridge → firmware: the server closed.
    pub const CLOSE: u8 = b'C';
    /// bridge → firmware: opened.
    pub const OPENED: u8 = b'K';
    /// bridge → firmware: open failed (payload: reason).
    pub const OPEN_FAILED: u8 = b'E';
}

/// Bytes a socket buffers before it sends a `D` frame (small writes are
/// gathered: each frame costs 3 bytes of header on a slow link).
pub const TX_FRAME: usize = 512;
/// Longest host name accepted (DNS limit).
pub const MAX_HOST: usize = 253;
/// Reason text kept from an `E` or `C` frame (longer text is cut).
pub const REASON_CAP: usize = 96;
/// `host:port` kept in an [`BridgeError::OpenFailed`].
pub const TARGET_CAP: usize = 80;

/// What went wrong on the bridge.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BridgeError {
    /// The host name cannot be sent (empty, too long, not printable ASCII).
    InvalidHost,
    /// The bridge could not connect (`E`): refused, not a loopback address,
    /// name not found, timeout, ...
    OpenFailed {
        /// `host:port` as sent.
        target: Text<TARGET_CAP>,
        /// The bridge's reason.
        reason: Text<REASON_CAP>,
    },
    /// The connection ended with an error (`C` with text), e.g. a reset.
    Reset {
        /// The bridge's text.
        reason: Text<REASON_CAP>,
    },
    /// Nothing arrived (or nothing could be sent) for this long.
    TimedOut {
        /// The timeout in seconds.
        secs: u32,
    },
    /// A frame that makes no sense here (unknown type, `K` while connected,
    /// empty `D`): the connection is given up.
    Protocol(&'static str),
    /// Writing after the server closed the connection.
    Closed,
    /// This socket was retired by a newer `open`.
    Superseded,
}

impl BridgeError {
    /// The bridge's own text (`E` reason or `C` error text), if any.
    #[allow(dead_code)] // for callers that log it apart (e.g. a TLS layer)
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::OpenFailed { reason, .. } | Self::Reset { reason } => Some(reason.as_str()),
            _ => None,
        }
    }
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidHost => f.write_str("host name not usable (empty, too long or not ASCII)"),
            Self::OpenFailed { target, reason } => write!(f, "connecting to {target}: {reason}"),
            Self::Reset { reason } => write!(f, "connection failed: {reason}"),
            Self::TimedOut { secs } => write!(f, "timed out after {secs} s waiting for the server"),
            Self::Protocol(what) => write!(f, "UART bridge protocol error: {what}"),
            Self::Closed => f.write_str("the server closed the connection"),
            Self::Superseded => f.write_str("the connection was replaced by a newer one"),
        }
    }
}

impl fmt::Debug for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl core::error::Error for BridgeError {}

impl embedded_io::Error for BridgeError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidHost => ErrorKind::InvalidInput,
            Self::OpenFailed { .. } => ErrorKind::ConnectionRefused,
            Self::Reset { .. } => ErrorKind::ConnectionReset,
            Self::TimedOut { .. } => ErrorKind::TimedOut,
            Self::Protocol(_) => ErrorKind::InvalidData,
            Self::Closed => ErrorKind::BrokenPipe,
            Self::Superseded => ErrorKind::NotConnected,
        }
    }
}

/// Where the incoming byte stream stands (exact to the byte, so that a
/// timeout or an abandoned socket never desynchronises the framing).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rx {
    /// Between frames: `have` bytes of the next 3-byte header are in `head`.
    Header { have: u8, head: [u8; 3] },
    /// Inside a frame's payload, `left` bytes to come.
    Payload { kind: u8, left: u16 },
}

const RX_IDLE: Rx = Rx::Header {
    have: 0,
    head: [0; 3],
};

/// The current connection, as the firmware sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Conn {
    /// None (never opened, closed by us, or open failed).
    Idle,
    /// Open: data may arrive.
    Open,
    /// The server closed cleanly (`C`, empty): reads return 0.
    Eof,
    /// The connection failed; reads and writes return this.
    Failed(BridgeError),
}

/// Counters for the measurement report.
#[derive(Clone, Copy, Default, Debug)]
pub struct Stats {
    /// Connections opened (`K` received).
    pub connections: u32,
    /// Payload bytes sent to servers.
    pub bytes_to_server: u32,
    /// Payload bytes received from servers.
    pub bytes_from_server: u32,
}

/// The bridge endpoint on the firmware's side of the link.
pub struct Bridge<L> {
    link: L,
    now_ms: fn() -> u64,
    timeout_ms: u64,
    /// Incremented by every `open`; a socket is current while its own
    /// generation equals this.
    generation: Cell<u32>,
    conn: Cell<Conn>,
    /// Whether the bridge holds the connection open (after `K`, until a `C`
    /// either way): dropping the socket must then send `C`.
    remote_open: Cell<bool>,
    rx: Cell<Rx>,
    stats: Cell<Stats>,
}

impl<L: Link> Bridge<L> {
    /// A bridge over `link`; `now_ms` is a monotonic millisecond clock for
    /// the timeout (how long to wait for the bridge or the server).
    pub fn new(link: L, now_ms: fn() -> u64, timeout_ms: u64) -> Self {
        Self {
            link,
            now_ms,
            timeout_ms,
            generation: Cell::new(0),
            conn: Cell::new(Conn::Idle),
            remote_open: Cell::new(false),
            rx: Cell::new(RX_IDLE),
            stats: Cell::new(Stats::default()),
        }
    }

    /// A handle that opens connections over this bridge.
    pub fn opener(&self) -> Opener<'_, L> {
        Opener { bridge: self }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats.get()
    }

    /// Reads and drops whatever the bridge still sends (the ends of
    /// closed connections) until the link has been quiet for `quiet_ms`
    /// between two frames, or the timeout: before a system reset, so that
    /// the next boot (whose UART starts empty) begins on a frame boundary.
    pub fn settle(&self, quiet_ms: u64) {
        let give_up = self.deadline();
        let mut quiet_since = (self.now_ms)();
        loop {
            let now = (self.now_ms)();
            let between = matches!(self.rx.get(), Rx::Header { have: 0, .. });
            if (between && now.saturating_sub(quiet_since) >= quiet_ms) || now >= give_up {
                return;
            }
            if let Some(b) = self.link.try_read() {
                quiet_since = now;
                self.drop_byte(b);
            }
        }
    }

    /// Moves the receive state past one byte, dropping it.
    fn drop_byte(&self, b: u8) {
        match self.rx.get() {
            Rx::Header { have, mut head } => {
                if let Some(slot) = head.get_mut(usize::from(have)) {
                    *slot = b;
                }
                let have = have.saturating_add(1);
                if usize::from(have) >= head.len() {
                    let [kind, hi, lo] = head;
                    self.enter_payload(kind, u16::from_be_bytes([hi, lo]));
                } else {
                    self.rx.set(Rx::Header { have, head });
                }
            }
            Rx::Payload { kind, left } => self.enter_payload(kind, left.saturating_sub(1)),
        }
    }

    fn timed_out(&self) -> BridgeError {
        BridgeError::TimedOut {
            secs: u32::try_from(self.timeout_ms / 1000).unwrap_or(u32::MAX),
        }
    }

    fn deadline(&self) -> u64 {
        (self.now_ms)().saturating_add(self.timeout_ms)
    }

    fn count(&self, f: impl FnOnce(&mut Stats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    // ---- bytes ------------------------------------------------------------

    /// One byte from the link, waiting until `deadline`.
    fn read_byte(&self, deadline: u64) -> Result<u8, BridgeError> {
        let mut polls = 0u32;
        loop {
            if let Some(b) = self.link.try_read() {
                return Ok(b);
            }
            idle();
            // The clock costs more than a poll: look at it now and then.
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(64) && (self.now_ms)() >= deadline {
                return Err(self.timed_out());
            }
        }
    }

    fn write_bytes(&self, bytes: &[u8], deadline: u64) -> Result<(), BridgeError> {
        for &b in bytes {
            let mut polls = 0u32;
            while !self.link.try_write(b) {
                idle();
                polls = polls.wrapping_add(1);
                if polls.is_multiple_of(64) && (self.now_ms)() >= deadline {
                    return Err(self.timed_out());
                }
            }
        }
        Ok(())
    }

    fn send_frame(&self, kind: u8, payload: &[u8]) -> Result<(), BridgeError> {
        let len =
            u16::try_from(payload.len()).map_err(|_| BridgeError::Protocol("frame too long"))?;
        let deadline = self.deadline();
        let [hi, lo] = len.to_be_bytes();
        self.write_bytes(&[kind, hi, lo], deadline)?;
        self.write_bytes(payload, deadline)
    }

    // ---- frames -----------------------------------------------------------

    /// Reads the next frame header. Precondition: between frames (callers
    /// skip any payload first). A timeout keeps the bytes read so far.
    fn next_header(&self, deadline: u64) -> Result<(u8, u16), BridgeError> {
        loop {
            let (mut have, mut head) = match self.rx.get() {
                Rx::Header { have, head } => (have, head),
                Rx::Payload { .. } => return Err(BridgeError::Protocol("payload not consumed")),
            };
            if usize::from(have) >= head.len() {
                let [kind, hi, lo] = head;
                self.rx.set(RX_IDLE);
                return Ok((kind, u16::from_be_bytes([hi, lo])));
            }
            let b = self.read_byte(deadline)?;
            if let Some(slot) = head.get_mut(usize::from(have)) {
                *slot = b;
            }
            have = have.saturating_add(1);
            self.rx.set(Rx::Header { have, head });
        }
    }

    /// Enters a frame's payload (or stays between frames if it is empty).
    fn enter_payload(&self, kind: u8, len: u16) {
        self.rx.set(if len == 0 {
            RX_IDLE
        } else {
            Rx::Payload { kind, left: len }
        });
    }

    /// Reads payload bytes of the current frame into `dst` (as many as fit
    /// and are left); returns how many. Stops early only on a timeout after
    /// at least one byte.
    fn read_payload(&self, dst: &mut [u8], deadline: u64) -> Result<usize, BridgeError> {
        let mut n = 0;
        for slot in dst.iter_mut() {
            let Rx::Payload { kind, left } = self.rx.get() else {
                break;
            };
            let b = match self.read_byte(deadline) {
                Ok(b) => b,
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            };
            *slot = b;
            n += 1;
            let left = left.saturating_sub(1);
            self.enter_payload(kind, left);
        }
        Ok(n)
    }

    /// Skips what is left of the current frame's payload.
    fn skip_payload(&self, deadline: u64) -> Result<(), BridgeError> {
        while let Rx::Payload { kind, left } = self.rx.get() {
            self.read_byte(deadline)?;
            self.enter_payload(kind, left.saturating_sub(1));
        }
        Ok(())
    }

    /// The payload of the frame just entered, as text (cut at
    /// [`REASON_CAP`] bytes; the rest is skipped).
    fn read_text(&self, deadline: u64) -> Result<Text<REASON_CAP>, BridgeError> {
        let mut buf = [0u8; REASON_CAP];
        let n = self.read_payload(&mut buf, deadline)?;
        self.skip_payload(deadline)?;
        Ok(Text::from_bytes_lossy(buf.get(..n).unwrap_or_default()))
    }

    fn fail(&self, e: BridgeError) -> BridgeError {
        self.conn.set(Conn::Failed(e));
        e
    }

    // ---- connections --------------------------------------------------------

    fn open(&self, host: &str, port: u16) -> Result<u32, BridgeError> {
        if host.is_empty() || host.len() > MAX_HOST || !host.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BridgeError::InvalidHost);
        }
        // "[host]:port" at most: 2 + 253 + 1 + 5 bytes.
        let mut target = [0u8; MAX_HOST + 8];
        let mut w = SliceWriter::new(&mut target);
        let written = if host.contains(':') {
            fmt::Write::write_fmt(&mut w, format_args!("[{host}]:{port}"))
        } else {
            fmt::Write::write_fmt(&mut w, format_args!("{host}:{port}"))
        };
        let len = w.len;
        let target = target.get(..len).unwrap_or_default();
        if written.is_err() || target.is_empty() {
            return Err(BridgeError::InvalidHost);
        }

        // Retire whatever was open: the bridge closes it when it sees `O`.
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        self.conn.set(Conn::Idle);
        self.remote_open.set(false);
        self.send_frame(frame::OPEN, target)?;

        // Discard everything (stale data of an earlier connection) until the
        // answer. The bridge answers within its own connect timeout (10 s).
        let deadline = self.deadline();
        loop {
            self.skip_payload(deadline)?;
            let (kind, len) = self.next_header(deadline)?;
            self.enter_payload(kind, len);
            match kind {
                frame::OPENED => {
                    self.skip_payload(deadline)?;
                    self.conn.set(Conn::Open);
                    self.remote_open.set(true);
                    self.count(|s| s.connections = s.connections.saturating_add(1));
                    return Ok(generation);
                }
                frame::OPEN_FAILED => {
                    let reason = self.read_text(deadline)?;
                    return Err(BridgeError::OpenFailed {
                        target: Text::from_bytes_lossy(target),
                        reason,
                    });
                }
                _ => {} // skipped at the top of the loop
            }
        }
    }

    fn check(&self, generation: u32) -> Result<(), BridgeError> {
        if generation == self.generation.get() {
            Ok(())
        } else {
            Err(BridgeError::Superseded)
        }
    }

    fn read(&self, generation: u32, buf: &mut [u8]) -> Result<usize, BridgeError> {
        self.check(generation)?;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.get() {
                Conn::Open => {}
                Conn::Eof => return Ok(0),
                Conn::Failed(e) => return Err(e),
                Conn::Idle => return Err(BridgeError::Superseded),
            }
            let deadline = self.deadline();
            match self.rx.get() {
                Rx::Payload {
                    kind: frame::DATA, ..
                } => {
                    let n = self.read_payload(buf, deadline)?;
                    self.count(|s| {
                        s.bytes_from_server = s
                            .bytes_from_server
                            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX))
                    });
                    return Ok(n);
                }
                // A frame of the wrong kind being skipped (after a protocol
                // error the connection is already failed; defensive).
                Rx::Payload { .. } => self.skip_payload(deadline)?,
                Rx::Header { .. } => {
                    let (kind, len) = self.next_header(deadline)?;
                    self.enter_payload(kind, len);
                    match (kind, len) {
                        (frame::DATA, 1..) => {} // read on the next turn
                        (frame::CLOSE, 0) => {
                            self.remote_open.set(false);
                            self.conn.set(Conn::Eof);
                            return Ok(0);
                        }
                        (frame::CLOSE, _) => {
                            self.remote_open.set(false);
                            let reason = self.read_text(deadline)?;
                            return Err(self.fail(BridgeError::Reset { reason }));
                        }
                        (frame::DATA, 0) => {
                            return Err(self.fail(BridgeError::Protocol("empty data frame")));
                        }
                        (frame::OPENED | frame::OPEN_FAILED, _) => {
                            return Err(
                                self.fail(BridgeError::Protocol("open reply while connected"))
                            );
                        }
                        _ => {
                            return Err(self.fail(BridgeError::Protocol("unknown frame type")));
                        }
                    }
                }
            }
        }
    }

    fn write_data(&self, generation: u32, data: &[u8]) -> Result<(), BridgeError> {
        self.check(generation)?;
        self.writable()?;
        self.send_frame(frame::DATA, data)?;
        self.count(|s| {
            s.bytes_to_server = s
                .bytes_to_server
                .saturating_add(u32::try_from(data.len()).unwrap_or(u32::MAX))
        });
        Ok(())
    }

    /// Whether data may be sent now.
    fn writable(&self) -> Result<(), BridgeError> {
        match self.conn.get() {
            Conn::Open => Ok(()),
            Conn::Eof => Err(BridgeError::Closed),
            Conn::Failed(e) => Err(e),
            Conn::Idle => Err(BridgeError::Superseded),
        }
    }

    fn close(&self, generation: u32) -> Result<(), BridgeError> {
        if generation != self.generation.get() {
            return Ok(()); // already retired by a newer open
        }
        self.conn.set(Conn::Idle);
        if self.remote_open.replace(false) {
            self.send_frame(frame::CLOSE, &[])?;
        }
        Ok(())
    }
}

/// Opens connections over a [`Bridge`]. `Copy`: the token connector and a
/// resource call can each hold one (one connection is open at a time;
/// opening retires the previous socket).
pub struct Opener<'b, L> {
    bridge: &'b Bridge<L>,
}

impl<L> Clone for Opener<'_, L> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<L> Copy for Opener<'_, L> {}

impl<L: Link> ErrorType for Opener<'_, L> {
    type Error = BridgeError;
}

/// The TCP opener under the crate's TLS connector.
impl<'b, L: Link> embedded_oauth2::tls::blocking::Open for Opener<'b, L> {
    type Socket<'s>
        = BridgeSocket<'b, L>
    where
        Self: 's;

    fn open(&mut self, host: &str, port: u16) -> Result<BridgeSocket<'b, L>, BridgeError> {
        Opener::open(self, host, port)
    }
}

impl<'b, L: Link> Opener<'b, L> {
    /// Opens a TCP connection to `host:port` through the bridge (which
    /// accepts loopback addresses only). An open socket of this bridge is
    /// retired first.
    pub fn open(&mut self, host: &str, port: u16) -> Result<BridgeSocket<'b, L>, BridgeError> {
        let generation = self.bridge.open(host, port)?;
        Ok(BridgeSocket {
            bridge: self.bridge,
            generation,
            tx: [0; TX_FRAME],
            tx_len: 0,
        })
    }
}

/// One TCP connection through the bridge: `embedded_io` `Read` + `Write`.
///
/// Writes are gathered into `D` frames of up to [`TX_FRAME`] bytes, sent
/// when full, on `flush` and before a read. `read` returns `Ok(0)` once the
/// server closed the connection cleanly. Dropping the socket (or
/// [`BridgeSocket::close`]) sends `C` while the connection is still open;
/// unflushed bytes are then discarded.
pub struct BridgeSocket<'b, L: Link> {
    bridge: &'b Bridge<L>,
    generation: u32,
    tx: [u8; TX_FRAME],
    tx_len: usize,
}

impl<L: Link> BridgeSocket<'_, L> {
    /// Sends the gathered bytes as one `D` frame.
    fn push(&mut self) -> Result<(), BridgeError> {
        if self.tx_len == 0 {
            return Ok(());
        }
        let data = self.tx.get(..self.tx_len).unwrap_or_default();
        let result = self.bridge.write_data(self.generation, data);
        self.tx_len = 0;
        result
    }
}

impl<L: Link> Drop for BridgeSocket<'_, L> {
    fn drop(&mut self) {
        let _ = self.bridge.close(self.generation);
    }
}

impl<L: Link> ErrorType for BridgeSocket<'_, L> {
    type Error = BridgeError;
}

impl<L: Link> Read for BridgeSocket<'_, L> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BridgeError> {
        // A request still in the buffer must reach the server before its
        // answer can be awaited.
        self.push()?;
        self.bridge.read(self.generation, buf)
    }
}

impl<L: Link> Write for BridgeSocket<'_, L> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, BridgeError> {
        self.bridge.check(self.generation)?;
        self.bridge.writable()?;
        if buf.is_empty() {
            return Ok(0);
        }
        if self.tx_len >= TX_FRAME {
            self.push()?;
        }
        let space = self.tx.get_mut(self.tx_len..).unwrap_or_default();
        let n = space.len().min(buf.len());
        if let (Some(dst), Some(src)) = (space.get_mut(..n), buf.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.tx_len = self.tx_len.saturating_add(n);
        if self.tx_len >= TX_FRAME {
            self.push()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), BridgeError> {
        self.push()
    }
}

/// `core::fmt` into a byte slice; fails (without panicking) when full.
pub struct SliceWriter<'s> {
    buf: &'s mut [u8],
    /// Bytes written.
    pub len: usize,
}

impl<'s> SliceWriter<'s> {
    /// Writes from the start of `buf`.
    pub fn new(buf: &'s mut [u8]) -> Self {
        Self { buf, len: 0 }
    }
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
