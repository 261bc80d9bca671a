//! An in-memory `embedded_io::{Read, Write}` transport: a "connection"
//! replays a recorded HTTP response in small reads of varying size (as a
//! TCP/TLS stack hands out segments and records) and captures the request
//! it is sent, a few bytes per write.
//!
//! Nothing here can panic (no indexing, no `RefCell`): the size binaries use
//! it too, and must not link panic machinery the crate does not need.

use core::cell::Cell;

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use embedded_oauth2::TokenEndpoint;

/// Read sizes, cycled: single bytes, a TLS-record-ish 200, odd sizes.
pub const READ_SIZES: [usize; 8] = [1, 7, 64, 3, 29, 200, 13, 5];
/// The most a write accepts at once (a partial write every time).
pub const WRITE_MAX: usize = 61;

/// A transport error, like a TCP/TLS stack's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemError {
    /// The connector could not connect.
    Refused,
    /// The peer reset the connection mid-response.
    Reset,
    /// A read was interrupted (the driver must retry it).
    Interrupted,
}

impl core::fmt::Display for MemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            MemError::Refused => "connection refused",
            MemError::Reset => "connection reset",
            MemError::Interrupted => "interrupted",
        })
    }
}

impl core::error::Error for MemError {}

impl embedded_io::Error for MemError {
    fn kind(&self) -> ErrorKind {
        match self {
            MemError::Refused => ErrorKind::ConnectionRefused,
            MemError::Reset => ErrorKind::ConnectionReset,
            MemError::Interrupted => ErrorKind::Interrupted,
        }
    }
}

/// The "network": what the next connection replays, what the last request
/// was, and how many connections were opened.
pub struct Wire<'a> {
    response: Cell<&'a [u8]>,
    request: &'a [Cell<u8>],
    request_len: Cell<usize>,
    connects: Cell<u32>,
    refuse: Cell<bool>,
    reset_at: Cell<Option<usize>>,
    write_zero: Cell<bool>,
    interrupt_first_read: Cell<bool>,
    last_host: Cell<&'a str>,
}

impl<'a> Wire<'a> {
    /// A wire that captures requests into `request_buf`.
    pub fn new(request_buf: &'a mut [u8]) -> Self {
        Self {
            response: Cell::new(&[]),
            request: Cell::from_mut(request_buf).as_slice_of_cells(),
            request_len: Cell::new(0),
            connects: Cell::new(0),
            refuse: Cell::new(false),
            reset_at: Cell::new(None),
            write_zero: Cell::new(false),
            interrupt_first_read: Cell::new(true),
            last_host: Cell::new(""),
        }
    }

    /// The next connections replay `response` (and nothing goes wrong).
    pub fn serve(&self, response: &'a [u8]) {
        self.response.set(response);
        self.refuse.set(false);
        self.reset_at.set(None);
        self.write_zero.set(false);
    }

    /// The next connections are refused.
    pub fn refuse(&self) {
        self.refuse.set(true);
    }

    /// The next connections are reset after `n` response bytes.
    pub fn reset_at(&self, n: usize) {
        self.reset_at.set(Some(n));
    }

    /// The next connections accept no request bytes (`Ok(0)`).
    pub fn write_zero(&self) {
        self.write_zero.set(true);
    }

    /// Connections opened so far.
    pub fn connects(&self) -> u32 {
        self.connects.get()
    }

    /// Copies the last request into `out`; returns its length.
    pub fn last_request(&self, out: &mut [u8]) -> usize {
        let mut n = 0;
        for (d, s) in out
            .iter_mut()
            .zip(self.request.iter().take(self.request_len.get()))
        {
            *d = s.get();
            n += 1;
        }
        n
    }

    /// The host the last connection was opened to.
    pub fn last_host(&self) -> &'a str {
        self.last_host.get()
    }

    /// Opens a connection (what a connector does).
    pub fn connect(&'a self, host: &'a str) -> Result<MemStream<'a>, MemError> {
        self.connects.set(self.connects.get() + 1);
        self.last_host.set(host);
        if self.refuse.get() {
            return Err(MemError::Refused);
        }
        self.request_len.set(0);
        Ok(MemStream {
            wire: self,
            pos: 0,
            reads: 0,
            interrupted: !self.interrupt_first_read.get(),
        })
    }
}

/// A connector closure over a [`Wire`], as `Client::token` takes it.
pub fn connector<'a>(
    wire: &'a Wire<'a>,
) -> impl FnMut(&TokenEndpoint<'_>) -> Result<MemStream<'a>, MemError> + 'a {
    move |ep: &TokenEndpoint<'_>| {
        // The host is only compared, never kept past the call.
        let host = if ep.host() == "auth.example.com" {
            "auth.example.com"
        } else {
            "?"
        };
        wire.connect(host)
    }
}

/// One connection.
pub struct MemStream<'a> {
    wire: &'a Wire<'a>,
    pos: usize,
    reads: usize,
    interrupted: bool,
}

impl MemStream<'_> {
    /// The shared logic of the blocking and async reads.
    pub fn read_now(&mut self, buf: &mut [u8]) -> Result<usize, MemError> {
        if !self.interrupted {
            self.interrupted = true;
            return Err(MemError::Interrupted);
        }
        let resp = self.wire.response.get();
        let mut end = resp.len();
        if let Some(r) = self.wire.reset_at.get() {
            if self.pos >= r {
                return Err(MemError::Reset);
            }
            end = end.min(r);
        }
        let want = READ_SIZES
            .get(self.reads % READ_SIZES.len())
            .copied()
            .unwrap_or(1);
        self.reads += 1;
        let src = resp.get(self.pos..end).unwrap_or_default();
        let n = want.min(buf.len()).min(src.len());
        for (d, s) in buf.iter_mut().zip(src.iter()).take(n) {
            *d = *s;
        }
        self.pos += n;
        Ok(n)
    }

    /// The shared logic of the blocking and async writes.
    pub fn write_now(&mut self, buf: &[u8]) -> Result<usize, MemError> {
        if self.wire.write_zero.get() {
            return Ok(0);
        }
        let n = buf.len().min(WRITE_MAX);
        let start = self.wire.request_len.get();
        let mut stored = 0;
        for (d, s) in self.wire.request.iter().skip(start).zip(buf.iter().take(n)) {
            d.set(*s);
            stored += 1;
        }
        self.wire.request_len.set(start + stored);
        Ok(n)
    }
}

impl ErrorType for MemStream<'_> {
    type Error = MemError;
}

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, MemError> {
        self.read_now(buf)
    }
}

impl Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, MemError> {
        self.write_now(buf)
    }

    fn flush(&mut self) -> Result<(), MemError> {
        Ok(())
    }
}
