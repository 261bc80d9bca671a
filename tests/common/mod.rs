//! Shared helpers for the integration tests: a scripted in-memory stream, a
//! fake token server for `Client`, and builders for configurations and raw
//! HTTP responses.
//!
//! Every test binary uses a different subset of these helpers. With the
//! `async` feature the scripted stream also implements `embedded_io_async`
//! (by calling its blocking methods, so both drivers see the same bytes), and
//! [`AsyncConnector`] implements `asynch::Connect` over a [`FakeServer`].
#![allow(dead_code)]

pub mod table;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};

/// The endpoint every test talks to.
pub const ENDPOINT: &str = "http://127.0.0.1:8080/token";
/// The default client id and secret.
pub const CLIENT_ID: &str = "id";
pub const CLIENT_SECRET: &str = "s";
/// `Basic base64("id:s")`.
pub const BASIC_ID_S: &str = "Authorization: Basic aWQ6cw==\r\n";

/// A small transport error with a fixed `ErrorKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// `ConnectionReset`.
    Reset,
    /// `ConnectionRefused` (used by connectors).
    Refused,
    /// `Interrupted` (the driver must retry).
    Interrupted,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Reset => "connection reset by scripted peer",
            Self::Refused => "connection refused by scripted peer",
            Self::Interrupted => "interrupted",
        })
    }
}

impl core::error::Error for StreamError {}

impl embedded_io::Error for StreamError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Reset => ErrorKind::ConnectionReset,
            Self::Refused => ErrorKind::ConnectionRefused,
            Self::Interrupted => ErrorKind::Interrupted,
        }
    }
}

/// How a [`Scripted`] stream hands out the response and takes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The whole response in one read, then EOF.
    Whole,
    /// One byte per read, and one byte per write.
    Bytewise,
    /// At most `n` bytes per read.
    Chunks(usize),
    /// Reads of at most 3 bytes and writes of at most 5 bytes, each preceded
    /// by an `Interrupted` error that the driver must retry.
    Choppy,
}

impl Delivery {
    /// The deliveries every table case runs through.
    pub const ALL: [Delivery; 4] = [
        Delivery::Whole,
        Delivery::Bytewise,
        Delivery::Chunks(7),
        Delivery::Choppy,
    ];

    fn read_chunk(self) -> usize {
        match self {
            Delivery::Whole => usize::MAX,
            Delivery::Bytewise => 1,
            Delivery::Chunks(n) => n,
            Delivery::Choppy => 3,
        }
    }

    fn write_chunk(self) -> usize {
        match self {
            Delivery::Bytewise => 1,
            Delivery::Choppy => 5,
            Delivery::Whole | Delivery::Chunks(_) => usize::MAX,
        }
    }

    fn interrupts(self) -> bool {
        self == Delivery::Choppy
    }
}

/// What a scripted stream observed; shared so it can be inspected after the
/// stream was moved into (and dropped by) the code under test.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Log {
    /// Every byte the client wrote.
    pub written: Vec<u8>,
    /// How many bytes had been written when the client first read.
    pub written_at_first_read: Option<usize>,
    /// Calls to `flush`.
    pub flushes: usize,
    /// Calls to `read` that returned data or EOF.
    pub reads: usize,
    /// Response bytes handed to the client.
    pub delivered: usize,
    /// Async reads and writes that returned `Poll::Pending` once before
    /// doing anything (see [`Scripted::yielding`]).
    pub pending: usize,
}

/// What the stream does once the scripted response is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtEnd {
    /// Return `Ok(0)` (the peer closed).
    Eof,
    /// Return this error.
    Fail(StreamError),
}

/// An in-memory `Read + Write` stream that replays a recorded response.
pub struct Scripted {
    response: Vec<u8>,
    pos: usize,
    delivery: Delivery,
    at_end: AtEnd,
    /// Fail the write that would take the total written past this many bytes.
    fail_write_after: Option<usize>,
    read_interrupt_pending: bool,
    write_interrupt_pending: bool,
    /// Async reads and writes yield to the executor once first.
    yielding: bool,
    on_first_read: Option<Box<dyn FnOnce()>>,
    log: Rc<RefCell<Log>>,
}

impl Scripted {
    /// A stream that answers with `response`, delivered as `delivery`, then EOF.
    pub fn new(response: impl Into<Vec<u8>>, delivery: Delivery) -> Self {
        Self {
            response: response.into(),
            pos: 0,
            delivery,
            at_end: AtEnd::Eof,
            fail_write_after: None,
            read_interrupt_pending: delivery.interrupts(),
            write_interrupt_pending: delivery.interrupts(),
            yielding: false,
            on_first_read: None,
            log: Rc::new(RefCell::new(Log::default())),
        }
    }

    /// Ends with `at_end` instead of EOF once the response is exhausted.
    pub fn ending_with(mut self, at_end: AtEnd) -> Self {
        self.at_end = at_end;
        self
    }

    /// Accepts `n` request bytes, then fails writes with `ConnectionReset`.
    pub fn failing_write_after(mut self, n: usize) -> Self {
        self.fail_write_after = Some(n);
        self
    }

    /// Runs `f` right before the first read (e.g. advance a fake clock to
    /// model network latency).
    pub fn on_first_read(mut self, f: impl FnOnce() + 'static) -> Self {
        self.on_first_read = Some(Box::new(f));
        self
    }

    /// Makes every async read and write return `Poll::Pending` once before
    /// it does anything, as a network socket waiting for data would: other
    /// tasks run in between. The blocking impl is unaffected.
    pub fn yielding(mut self) -> Self {
        self.yielding = true;
        self
    }

    /// The shared log of what happened on this stream.
    pub fn log(&self) -> Rc<RefCell<Log>> {
        Rc::clone(&self.log)
    }
}

impl ErrorType for Scripted {
    type Error = StreamError;
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        assert!(
            !buf.is_empty(),
            "the driver must never read into an empty buffer"
        );
        if let Some(f) = self.on_first_read.take() {
            f();
        }
        if self.delivery.interrupts() {
            self.read_interrupt_pending = !self.read_interrupt_pending;
            if !self.read_interrupt_pending {
                return Err(StreamError::Interrupted);
            }
        }
        let mut log = self.log.borrow_mut();
        if log.written_at_first_read.is_none() {
            log.written_at_first_read = Some(log.written.len());
        }
        let rest = &self.response[self.pos..];
        if rest.is_empty() {
            return match self.at_end {
                AtEnd::Eof => {
                    log.reads += 1;
                    Ok(0)
                }
                AtEnd::Fail(e) => Err(e),
            };
        }
        let n = rest.len().min(buf.len()).min(self.delivery.read_chunk());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        log.reads += 1;
        log.delivered += n;
        Ok(n)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> Result<usize, StreamError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.delivery.interrupts() {
            self.write_interrupt_pending = !self.write_interrupt_pending;
            if !self.write_interrupt_pending {
                return Err(StreamError::Interrupted);
            }
        }
        let mut log = self.log.borrow_mut();
        let mut n = buf.len().min(self.delivery.write_chunk());
        if let Some(limit) = self.fail_write_after {
            let room = limit.saturating_sub(log.written.len());
            if room == 0 {
                return Err(StreamError::Reset);
            }
            n = n.min(room);
        }
        log.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        self.log.borrow_mut().flushes += 1;
        Ok(())
    }
}

/// The async side of [`Scripted`]: an optional yield, then exactly what the
/// blocking impl does (same chunking, interruptions, failures and log).
#[cfg(feature = "async")]
mod async_io {
    use super::{Scripted, StreamError};

    impl Scripted {
        /// Returns `Poll::Pending` once (waking itself) if the stream yields.
        async fn pend(&mut self) {
            if self.yielding {
                self.log.borrow_mut().pending += 1;
                embassy_futures::yield_now().await;
            }
        }
    }

    // `embedded_io_async::ErrorType` is `embedded_io::ErrorType` (re-exported),
    // so the blocking impl already provides it.
    impl embedded_io_async::Read for Scripted {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
            self.pend().await;
            embedded_io::Read::read(self, buf)
        }
    }

    impl embedded_io_async::Write for Scripted {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, StreamError> {
            self.pend().await;
            embedded_io::Write::write(self, buf)
        }

        async fn flush(&mut self) -> Result<(), StreamError> {
            embedded_io::Write::flush(self)
        }
    }
}

/// What the fake server does on one connection attempt.
pub enum Script {
    /// Accept the connection and answer with these bytes (whole, then EOF).
    Respond(Vec<u8>),
    /// Accept, and advance the shared clock by `latency_ms` before the
    /// response arrives.
    RespondAfter { response: Vec<u8>, latency_ms: u64 },
    /// Refuse the connection.
    Refuse(StreamError),
    /// Accept, take the request, then reset instead of answering.
    ResetAfterRequest,
}

/// A fake authorization server handing out scripted connections; counts
/// connection attempts and keeps what each connection received.
pub struct FakeServer {
    scripts: VecDeque<Script>,
    /// Connection attempts (successful or refused).
    pub connections: usize,
    /// `(host, port, path)` of every attempt.
    pub endpoints: Vec<(String, u16, String)>,
    /// The logs of the connections that were accepted, in order.
    pub logs: Vec<Rc<RefCell<Log>>>,
    clock: Rc<Cell<u64>>,
}

impl FakeServer {
    /// A server with no scripts; `clock` is advanced by `RespondAfter`.
    pub fn new(clock: Rc<Cell<u64>>) -> Self {
        Self {
            scripts: VecDeque::new(),
            connections: 0,
            endpoints: Vec::new(),
            logs: Vec::new(),
            clock,
        }
    }

    /// Queues what the next connection attempt gets.
    pub fn push(&mut self, script: Script) {
        self.scripts.push_back(script);
    }

    /// Forgets the scripts no connection took.
    #[allow(dead_code)]
    pub fn clear_scripts(&mut self) {
        self.scripts.clear();
    }

    /// Scripts not used yet.
    pub fn pending(&self) -> usize {
        self.scripts.len()
    }

    /// One connection attempt (what the connector closure calls).
    pub fn connect(&mut self, ep: &TokenEndpoint<'_>) -> Result<Scripted, StreamError> {
        self.connections += 1;
        self.endpoints
            .push((ep.host().to_owned(), ep.port(), ep.path().to_owned()));
        let script = self
            .scripts
            .pop_front()
            .expect("the client connected more often than the test scripted");
        let stream = match script {
            Script::Respond(r) => Scripted::new(r, Delivery::Whole),
            Script::RespondAfter {
                response,
                latency_ms,
            } => {
                let clock = Rc::clone(&self.clock);
                Scripted::new(response, Delivery::Whole)
                    .on_first_read(move || clock.set(clock.get() + latency_ms))
            }
            Script::Refuse(e) => return Err(e),
            Script::ResetAfterRequest => Scripted::new(Vec::new(), Delivery::Whole)
                .ending_with(AtEnd::Fail(StreamError::Reset)),
        };
        self.logs.push(stream.log());
        Ok(stream)
    }
}

/// The default test configuration: `http://127.0.0.1:8080/token`, client
/// `id`, `client_secret_basic` with secret `s`.
pub fn config() -> Config<'static, 64> {
    config_with(CLIENT_ID, ClientAuth::Basic(secret(CLIENT_SECRET)))
}

/// A configuration for the test endpoint with the given id and method.
pub fn config_with(id: &'static str, auth: ClientAuth<64>) -> Config<'static, 64> {
    Config::new(
        TokenEndpoint::parse_allow_http(ENDPOINT).expect("endpoint"),
        ClientId::new(id).expect("client id"),
        auth,
    )
}

/// A 64-byte-capacity secret.
pub fn secret(s: &str) -> ClientSecret<64> {
    ClientSecret::new(s).expect("secret")
}

/// Raw response bytes: `head` with every `{len}` replaced by the body's
/// length in bytes, followed by `body`.
pub fn wire(head: &str, body: &str) -> Vec<u8> {
    let mut w = head.replace("{len}", &body.len().to_string()).into_bytes();
    w.extend_from_slice(body.as_bytes());
    w
}

/// A JSON response with the given status line and a correct Content-Length.
pub fn json(status_line: &str, body: &str) -> Vec<u8> {
    wire(
        &format!(
            "{status_line}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {{len}}\r\n\r\n"
        ),
        body,
    )
}

/// A 200 token response for `token`, with `expires_in` when given.
pub fn token_response(token: &str, expires_in: Option<u64>) -> Vec<u8> {
    let body = match expires_in {
        Some(e) => {
            format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{e}}}"#)
        }
        None => format!(r#"{{"access_token":"{token}","token_type":"Bearer"}}"#),
    };
    json("HTTP/1.1 200 OK", &body)
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// An `asynch::Connect` over a shared [`FakeServer`]; clone it to give each
/// task its own connector to the same server. Connecting yields once (like a
/// TCP handshake) and the streams it hands out are [`Scripted::yielding`].
#[cfg(feature = "async")]
#[derive(Clone)]
pub struct AsyncConnector {
    pub server: Rc<RefCell<FakeServer>>,
}

#[cfg(feature = "async")]
impl AsyncConnector {
    /// A connector to a new server with no scripts; `clock` is advanced by
    /// `Script::RespondAfter`.
    pub fn new(clock: Rc<Cell<u64>>) -> Self {
        Self {
            server: Rc::new(RefCell::new(FakeServer::new(clock))),
        }
    }

    /// Queues what the next connection attempt gets.
    pub fn push(&self, script: Script) {
        self.server.borrow_mut().push(script);
    }

    /// Connection attempts so far (successful or refused).
    pub fn connections(&self) -> usize {
        self.server.borrow().connections
    }
}

#[cfg(feature = "async")]
impl embedded_oauth2::asynch::Connect for AsyncConnector {
    type Error = StreamError;
    type Connection<'c> = Scripted;

    async fn connect(&mut self, ep: &TokenEndpoint<'_>) -> Result<Scripted, StreamError> {
        embassy_futures::yield_now().await;
        self.server.borrow_mut().connect(ep).map(Scripted::yielding)
    }
}
