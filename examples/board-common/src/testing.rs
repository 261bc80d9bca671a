//! What the host tests share: a logger that captures what this crate logs
//! (per test thread), a plain random source, and a scripted connector for
//! the client's async driver (no TLS, no network).

extern crate std;

use std::cell::RefCell;
use std::string::String;
use std::vec::Vec;

use embedded_io_async::{ErrorType, Read, Write};
use embedded_oauth2::TokenEndpoint;
use embedded_oauth2::asynch::Connect;

// ---- captured logs --------------------------------------------------------------

std::thread_local! {
    static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = std::format!("{} {}", record.level(), record.args());
        LINES.with(|l| l.borrow_mut().push(line));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

/// Starts capturing this thread's log lines (`LEVEL message`), dropping
/// what was captured before.
pub fn capture_logs() {
    // Only the first call installs it; the level is per process.
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Trace);
    LINES.with(|l| l.borrow_mut().clear());
}

/// This thread's log lines since [`capture_logs`].
pub fn logs() -> Vec<String> {
    LINES.with(|l| l.borrow().clone())
}

/// Whether a captured line contains `needle`.
pub fn logged(needle: &str) -> bool {
    logs().iter().any(|l| l.contains(needle))
}

// ---- randomness -----------------------------------------------------------------

/// xorshift64: jitter for the tests, not cryptographic.
pub struct TestRng(pub u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u32() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

// ---- a scripted connector -------------------------------------------------------

/// The connector's error (it has no real transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeError;

impl core::fmt::Display for FakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("fake transport error")
    }
}

impl core::error::Error for FakeError {}

impl embedded_io::Error for FakeError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

/// What the fake server does.
#[derive(Clone, Copy)]
pub enum Script {
    /// Connecting fails (the server is unreachable).
    Unreachable,
    /// Answers these bytes, then closes; closing our side returns at once.
    Answer(&'static [u8]),
    /// Answers these bytes, then closing our side never completes (a
    /// close_notify whose flush hangs).
    AnswerThenHang(&'static [u8]),
}

/// A connector that plays a [`Script`] for every connection.
pub struct FakeConnector {
    pub script: Script,
    pub connects: usize,
}

impl FakeConnector {
    pub fn new(script: Script) -> Self {
        Self {
            script,
            connects: 0,
        }
    }
}

/// One connection of a [`FakeConnector`].
pub struct FakeConnection {
    answer: &'static [u8],
    at: usize,
    hang: bool,
}

impl ErrorType for FakeConnection {
    type Error = FakeError;
}

impl Read for FakeConnection {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, FakeError> {
        let rest = &self.answer[self.at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for FakeConnection {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, FakeError> {
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), FakeError> {
        Ok(())
    }
}

impl Connect for FakeConnector {
    type Error = FakeError;
    type Connection<'c> = FakeConnection;

    async fn connect(&mut self, _: &TokenEndpoint<'_>) -> Result<FakeConnection, FakeError> {
        self.connects += 1;
        match self.script {
            Script::Unreachable => Err(FakeError),
            Script::Answer(answer) => Ok(FakeConnection {
                answer,
                at: 0,
                hang: false,
            }),
            Script::AnswerThenHang(answer) => Ok(FakeConnection {
                answer,
                at: 0,
                hang: true,
            }),
        }
    }

    async fn close<'c>(connection: FakeConnection) -> Result<(), FakeError> {
        if connection.hang {
            core::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// A reader over fixed bytes, handed out `chunk` bytes at a time, with
/// whatever error type the code under test reads with.
pub struct SliceStream<E> {
    bytes: Vec<u8>,
    at: usize,
    chunk: usize,
    _error: core::marker::PhantomData<E>,
}

impl<E> SliceStream<E> {
    pub fn new(bytes: &[u8], chunk: usize) -> Self {
        Self {
            bytes: bytes.to_vec(),
            at: 0,
            chunk,
            _error: core::marker::PhantomData,
        }
    }
}

impl<E: embedded_io::Error> ErrorType for SliceStream<E> {
    type Error = E;
}

impl<E: embedded_io::Error> Read for SliceStream<E> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, E> {
        let rest = &self.bytes[self.at..];
        let n = rest.len().min(buf.len()).min(self.chunk);
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

impl<E: embedded_io::Error> Write for SliceStream<E> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, E> {
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), E> {
        Ok(())
    }
}

/// A connector whose every connection answers `bytes`, `chunk` bytes per
/// read, with the error type of the TLS connector over embassy-net.
pub struct Scripted {
    bytes: Vec<u8>,
    chunk: usize,
}

impl Scripted {
    pub fn new(bytes: &[u8], chunk: usize) -> Self {
        Self {
            bytes: bytes.to_vec(),
            chunk,
        }
    }
}

type TlsNetError = embedded_oauth2::tls::TlsConnectError<
    embedded_oauth2::tls::nal::NalError<embassy_net::tcp::Error, embassy_net::dns::Error>,
>;

impl Connect for Scripted {
    type Error = TlsNetError;
    type Connection<'c> = SliceStream<TlsNetError>;

    async fn connect(&mut self, _: &TokenEndpoint<'_>) -> Result<Self::Connection<'_>, TlsNetError> {
        Ok(SliceStream::new(&self.bytes, self.chunk))
    }
}

/// An HTTP/1.1 response with `Content-Length`: `status`, then `body_len`
/// bytes of `x`.
pub fn http_response(status: u16, body_len: usize) -> Vec<u8> {
    let mut out = std::format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: text/html\r\nContent-Length: {body_len}\r\n\r\n"
    )
    .into_bytes();
    out.extend(core::iter::repeat_n(b'x', body_len));
    out
}

/// The same with a chunked body (chunks of 500 bytes).
pub fn http_chunked(status: u16, body_len: usize) -> Vec<u8> {
    let mut out = std::format!("HTTP/1.1 {status} Whatever\r\nTransfer-Encoding: chunked\r\n\r\n")
        .into_bytes();
    let mut left = body_len;
    while left > 0 {
        let n = left.min(500);
        out.extend(std::format!("{n:x}\r\n").into_bytes());
        out.extend(core::iter::repeat_n(b'x', n));
        out.extend(b"\r\n");
        left -= n;
    }
    out.extend(b"0\r\n\r\n");
    out
}

/// The same, delimited by the end of the connection (no length).
pub fn http_until_close(status: u16, body_len: usize) -> Vec<u8> {
    let mut out =
        std::format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n\r\n").into_bytes();
    out.extend(core::iter::repeat_n(b'x', body_len));
    out
}

/// A token response leaked for the `'static` scripts.
pub fn token_answer(token: &str, expires_in: u32) -> &'static [u8] {
    let body = std::format!(
        r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{expires_in}}}"#
    );
    let answer = std::format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    answer.leak().as_bytes()
}

// ---- a null network driver ------------------------------------------------------

/// The link state a [`NullDriver`] reports, settable from the test.
#[derive(Clone)]
pub struct Link(std::sync::Arc<std::sync::Mutex<(bool, Option<core::task::Waker>)>>);

impl Link {
    /// Sets the link up or down and wakes the stack.
    pub fn set(&self, up: bool) {
        let mut state = self.0.lock().unwrap();
        state.0 = up;
        if let Some(w) = state.1.take() {
            w.wake();
        }
    }
}

/// An embassy-net driver (IP medium) that never delivers a packet and
/// drops what it is given to send; its link state is the test's.
pub struct NullDriver {
    link: Link,
}

impl NullDriver {
    pub fn new(up: bool) -> Self {
        Self {
            link: Link(std::sync::Arc::new(std::sync::Mutex::new((up, None)))),
        }
    }

    /// A handle on its link state.
    pub fn link(&self) -> Link {
        self.link.clone()
    }
}

/// A received packet (never handed out).
pub struct NoPacket;

impl embassy_net_driver::RxToken for NoPacket {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(&mut [])
    }
}

/// Sending: the bytes go nowhere.
pub struct Drop_;

impl embassy_net_driver::TxToken for Drop_ {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = std::vec![0u8; len];
        f(&mut buf)
    }
}

impl embassy_net_driver::Driver for NullDriver {
    type RxToken<'a> = NoPacket;
    type TxToken<'a> = Drop_;

    fn receive(&mut self, _: &mut core::task::Context<'_>) -> Option<(NoPacket, Drop_)> {
        None
    }

    fn transmit(&mut self, _: &mut core::task::Context<'_>) -> Option<Drop_> {
        Some(Drop_)
    }

    fn link_state(&mut self, cx: &mut core::task::Context<'_>) -> embassy_net_driver::LinkState {
        let mut state = self.link.0.lock().unwrap();
        state.1 = Some(cx.waker().clone());
        if state.0 {
            embassy_net_driver::LinkState::Up
        } else {
            embassy_net_driver::LinkState::Down
        }
    }

    fn capabilities(&self) -> embassy_net_driver::Capabilities {
        let mut caps = embassy_net_driver::Capabilities::default();
        caps.max_transmission_unit = 1500;
        caps
    }

    fn hardware_address(&self) -> embassy_net_driver::HardwareAddress {
        embassy_net_driver::HardwareAddress::Ip
    }
}
