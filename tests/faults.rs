//! Transport faults, scripted read by read and write by write: resets
//! mid-headers and mid-body, `Interrupted`, zero-length reads (EOF in
//! embedded-io: in the middle of a response that is an early close), short
//! writes, a stalled read whose own error (kind and payload) must come back
//! intact, a `100 Continue` before the answer, a close before the status
//! line, a transport that takes no bytes, a failing flush, a refused
//! connection.
//!
//! Every fault runs through the blocking and the async driver, twice: with a
//! cached token that is due for renewal and with no token at all. For each:
//! the exact typed error; the work buffer is wiped; a still-valid token is
//! kept and handed out (without a connection) while the client backs off,
//! and with no token the answer is `Error::Backoff`; past `next_attempt()`
//! the same client succeeds. Faults the driver absorbs (`Interrupted`, short
//! writes, `100 Continue`) give the token and the exact request bytes.

// `Error` carries the server's OAuth error by value (large by design).
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod common;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

#[cfg(feature = "async")]
use common::contains;
use common::token_response;
use embedded_io::ErrorKind;
use embedded_oauth2::error::HttpError;
use embedded_oauth2::http::encode_request;
use embedded_oauth2::{Client, Error, Freshness, Instant, TokenEndpoint, blocking};

// ---- a transport with its own error -----------------------------------------

/// A transport error as a network stack would report it: a kind, and a
/// payload of its own (an errno and a message) that must reach the caller
/// intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NetError {
    kind: ErrorKind,
    errno: i32,
    what: &'static str,
}

const RESET: NetError = NetError {
    kind: ErrorKind::ConnectionReset,
    errno: 104,
    what: "ECONNRESET from the modem",
};
const STALL: NetError = NetError {
    kind: ErrorKind::TimedOut,
    errno: 110,
    what: "no data for 30 s (socket read timeout)",
};
const REFUSED: NetError = NetError {
    kind: ErrorKind::ConnectionRefused,
    errno: 111,
    what: "ECONNREFUSED",
};
const FLUSH: NetError = NetError {
    kind: ErrorKind::BrokenPipe,
    errno: 32,
    what: "EPIPE on flush",
};
const INTERRUPTED: NetError = NetError {
    kind: ErrorKind::Interrupted,
    errno: 4,
    what: "EINTR",
};

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self.what, self.errno)
    }
}

impl core::error::Error for NetError {}

impl embedded_io::Error for NetError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// One scripted read outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// These bytes, over as many reads as `read_max` needs.
    Data(Vec<u8>),
    /// One read returns `Interrupted`.
    Interrupted,
    /// One read returns `Ok(0)`.
    Zero,
    /// One read returns this error.
    Fail(NetError),
    /// Async only: the read never completes (the caller's timeout drops the
    /// future).
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    Hang,
}

/// What one write does once `after` bytes were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteFault {
    /// `Ok(0)`.
    Zero,
    /// This error.
    Fail(NetError),
}

/// What happened on a stream, kept after the stream is gone.
#[derive(Debug, Default)]
struct Trace {
    written: Vec<u8>,
    writes: usize,
    reads: usize,
    /// Read steps never consumed.
    left: Vec<Step>,
}

/// A scripted stream.
struct Fault {
    steps: VecDeque<Step>,
    /// At most this many bytes per read.
    read_max: usize,
    /// At most this many bytes per write.
    write_max: usize,
    /// Every other write returns `Interrupted` first.
    write_interrupts: bool,
    write_interrupt_next: bool,
    write_fault: Option<(usize, WriteFault)>,
    flush_fails: bool,
    trace: Rc<RefCell<Trace>>,
}

impl Fault {
    fn new(steps: Vec<Step>) -> Self {
        let trace = Trace {
            left: steps.clone(),
            ..Trace::default()
        };
        Self {
            steps: steps.into(),
            read_max: usize::MAX,
            write_max: usize::MAX,
            write_interrupts: false,
            write_interrupt_next: false,
            write_fault: None,
            flush_fails: false,
            trace: Rc::new(RefCell::new(trace)),
        }
    }

    /// A healthy server answering `response` in one piece.
    fn answering(response: Vec<u8>) -> Self {
        Self::new(vec![Step::Data(response)])
    }

    fn reads_of(mut self, n: usize) -> Self {
        self.read_max = n;
        self
    }

    fn writes_of(mut self, n: usize) -> Self {
        self.write_max = n;
        self
    }

    fn interrupting_writes(mut self) -> Self {
        self.write_interrupts = true;
        self
    }

    fn write_fault_after(mut self, n: usize, f: WriteFault) -> Self {
        self.write_fault = Some((n, f));
        self
    }

    fn failing_flush(mut self) -> Self {
        self.flush_fails = true;
        self
    }

    /// The blocking read; `None` for [`Step::Hang`].
    fn read_step(&mut self, buf: &mut [u8]) -> Option<Result<usize, NetError>> {
        assert!(!buf.is_empty(), "the driver must not read into nothing");
        let mut trace = self.trace.borrow_mut();
        trace.reads += 1;
        let out = match self.steps.pop_front() {
            None => Ok(0),
            Some(Step::Data(mut d)) => {
                let n = d.len().min(buf.len()).min(self.read_max);
                buf[..n].copy_from_slice(&d[..n]);
                if n < d.len() {
                    self.steps.push_front(Step::Data(d.split_off(n)));
                }
                Ok(n)
            }
            Some(Step::Interrupted) => Err(INTERRUPTED),
            Some(Step::Zero) => Ok(0),
            Some(Step::Fail(e)) => Err(e),
            Some(Step::Hang) => {
                self.steps.push_front(Step::Hang);
                return None;
            }
        };
        trace.left = self.steps.iter().cloned().collect();
        Some(out)
    }

    fn write_step(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.write_interrupts {
            self.write_interrupt_next = !self.write_interrupt_next;
            if self.write_interrupt_next {
                return Err(INTERRUPTED);
            }
        }
        let mut trace = self.trace.borrow_mut();
        trace.writes += 1;
        let mut n = buf.len().min(self.write_max);
        if let Some((after, fault)) = self.write_fault {
            let room = after.saturating_sub(trace.written.len());
            if room == 0 {
                return match fault {
                    WriteFault::Zero => Ok(0),
                    WriteFault::Fail(e) => Err(e),
                };
            }
            n = n.min(room);
        }
        trace.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush_step(&mut self) -> Result<(), NetError> {
        if self.flush_fails { Err(FLUSH) } else { Ok(()) }
    }
}

impl embedded_io::ErrorType for Fault {
    type Error = NetError;
}

impl embedded_io::Read for Fault {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        self.read_step(buf)
            .expect("Step::Hang is for the async driver only")
    }
}

impl embedded_io::Write for Fault {
    fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        self.write_step(buf)
    }
    fn flush(&mut self) -> Result<(), NetError> {
        self.flush_step()
    }
}

#[cfg(feature = "async")]
impl embedded_io_async::Read for Fault {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        match self.read_step(buf) {
            Some(r) => r,
            None => core::future::pending().await,
        }
    }
}

#[cfg(feature = "async")]
impl embedded_io_async::Write for Fault {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        self.write_step(buf)
    }
    async fn flush(&mut self) -> Result<(), NetError> {
        self.flush_step()
    }
}

/// What the next connection attempt gets.
enum Conn {
    Open(Fault),
    Refuse(NetError),
}

/// Hands out scripted connections in order and counts the attempts.
#[derive(Default)]
struct Server {
    queue: VecDeque<Conn>,
    connections: usize,
    traces: Vec<Rc<RefCell<Trace>>>,
}

impl Server {
    fn push(&mut self, c: Conn) {
        self.queue.push_back(c);
    }

    fn connect(&mut self) -> Result<Fault, NetError> {
        self.connections += 1;
        match self
            .queue
            .pop_front()
            .expect("the client connected more often than scripted")
        {
            Conn::Open(f) => {
                self.traces.push(Rc::clone(&f.trace));
                Ok(f)
            }
            Conn::Refuse(e) => Err(e),
        }
    }
}

#[cfg(feature = "async")]
struct AsyncServer<'s>(&'s RefCell<Server>);

#[cfg(feature = "async")]
impl embedded_oauth2::asynch::Connect for AsyncServer<'_> {
    type Error = NetError;
    type Connection<'c>
        = Fault
    where
        Self: 'c;
    async fn connect(&mut self, _ep: &TokenEndpoint<'_>) -> Result<Fault, NetError> {
        self.0.borrow_mut().connect()
    }
}

// ---- the fault table -----------------------------------------------------------

const NEW: &str = "AT-new-7f3e9a1c-UNIQUE-after-the-fault";

fn ok_response() -> Vec<u8> {
    token_response(NEW, Some(3600))
}

/// The length of the response head (through the blank line) and of the body.
fn head_and_body() -> (usize, usize) {
    let r = ok_response();
    let h = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (h, r.len() - h)
}

fn split(at: usize) -> (Vec<u8>, Vec<u8>) {
    let mut a = ok_response();
    let b = a.split_off(at);
    (a, b)
}

/// The outcome a fault must give.
#[derive(Debug)]
enum Expect {
    /// The new token, and the request arrived byte for byte.
    Token,
    /// This exact error.
    Fails(Error<NetError>),
}

struct Case {
    name: &'static str,
    conn: fn() -> Conn,
    expect: Expect,
    /// Read steps the client must leave unread (it stopped at the fault).
    unread: fn() -> Vec<Step>,
}

fn none() -> Vec<Step> {
    Vec::new()
}

fn cases() -> Vec<Case> {
    use Expect::{Fails, Token};
    let eof = || Fails(Error::Http(HttpError::UnexpectedEof));
    vec![
        Case {
            name: "reset mid-headers",
            conn: || {
                let (h, _) = head_and_body();
                Conn::Open(Fault::new(vec![
                    Step::Data(split(h / 2).0),
                    Step::Fail(RESET),
                ]))
            },
            expect: Fails(Error::Transport(RESET)),
            unread: none,
        },
        Case {
            name: "reset mid-body",
            conn: || {
                let (h, b) = head_and_body();
                Conn::Open(Fault::new(vec![
                    Step::Data(split(h + b / 2).0),
                    Step::Fail(RESET),
                ]))
            },
            expect: Fails(Error::Transport(RESET)),
            unread: none,
        },
        Case {
            name: "reset mid-body, 5-byte reads",
            conn: || {
                let (h, b) = head_and_body();
                Conn::Open(
                    Fault::new(vec![Step::Data(split(h + b / 2).0), Step::Fail(RESET)]).reads_of(5),
                )
            },
            expect: Fails(Error::Transport(RESET)),
            unread: none,
        },
        Case {
            name: "reset before the status line",
            conn: || Conn::Open(Fault::new(vec![Step::Fail(RESET)])),
            expect: Fails(Error::Transport(RESET)),
            unread: none,
        },
        Case {
            name: "closed before the status line",
            conn: || Conn::Open(Fault::new(vec![Step::Zero, Step::Data(ok_response())])),
            expect: eof(),
            unread: || vec![Step::Data(ok_response())],
        },
        Case {
            name: "closed mid-status-line",
            conn: || Conn::Open(Fault::new(vec![Step::Data(b"HTTP/1.".to_vec())])),
            expect: eof(),
            unread: none,
        },
        Case {
            name: "zero-length read mid-headers",
            conn: || {
                let (h, _) = head_and_body();
                let (a, b) = split(h / 2);
                Conn::Open(Fault::new(vec![Step::Data(a), Step::Zero, Step::Data(b)]))
            },
            expect: eof(),
            unread: || {
                let (h, _) = head_and_body();
                vec![Step::Data(split(h / 2).1)]
            },
        },
        Case {
            name: "zero-length read mid-body",
            conn: || {
                let (h, b) = head_and_body();
                let (x, y) = split(h + b / 2);
                Conn::Open(Fault::new(vec![Step::Data(x), Step::Zero, Step::Data(y)]))
            },
            expect: eof(),
            unread: || {
                let (h, b) = head_and_body();
                vec![Step::Data(split(h + b / 2).1)]
            },
        },
        Case {
            name: "zero-length read one byte before the end",
            conn: || {
                let (x, y) = split(ok_response().len() - 1);
                Conn::Open(Fault::new(vec![Step::Data(x), Step::Zero, Step::Data(y)]))
            },
            expect: eof(),
            unread: || vec![Step::Data(b"}".to_vec())],
        },
        Case {
            name: "stall mid-body: the transport's timeout error",
            conn: || {
                let (h, b) = head_and_body();
                Conn::Open(Fault::new(vec![
                    Step::Data(split(h + b / 2).0),
                    Step::Fail(STALL),
                ]))
            },
            expect: Fails(Error::Transport(STALL)),
            unread: none,
        },
        Case {
            name: "stall before any byte",
            conn: || Conn::Open(Fault::new(vec![Step::Fail(STALL)])),
            expect: Fails(Error::Transport(STALL)),
            unread: none,
        },
        Case {
            name: "100 Continue, then closed",
            conn: || {
                Conn::Open(Fault::new(vec![Step::Data(
                    b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                )]))
            },
            expect: eof(),
            unread: none,
        },
        Case {
            name: "transport takes no bytes",
            conn: || {
                Conn::Open(Fault::answering(ok_response()).write_fault_after(0, WriteFault::Zero))
            },
            expect: Fails(Error::WriteZero),
            unread: || vec![Step::Data(ok_response())],
        },
        Case {
            name: "transport stops taking bytes after 40",
            conn: || {
                Conn::Open(
                    Fault::answering(ok_response())
                        .writes_of(1)
                        .write_fault_after(40, WriteFault::Zero),
                )
            },
            expect: Fails(Error::WriteZero),
            unread: || vec![Step::Data(ok_response())],
        },
        Case {
            name: "reset while writing",
            conn: || {
                Conn::Open(
                    Fault::answering(ok_response()).write_fault_after(25, WriteFault::Fail(RESET)),
                )
            },
            expect: Fails(Error::Transport(RESET)),
            unread: || vec![Step::Data(ok_response())],
        },
        Case {
            name: "flush fails",
            conn: || Conn::Open(Fault::answering(ok_response()).failing_flush()),
            expect: Fails(Error::Transport(FLUSH)),
            unread: || vec![Step::Data(ok_response())],
        },
        Case {
            name: "connection refused",
            conn: || Conn::Refuse(REFUSED),
            expect: Fails(Error::Transport(REFUSED)),
            unread: none,
        },
        // Absorbed by the driver.
        Case {
            name: "Interrupted before every 1-byte read",
            conn: || {
                let mut steps = Vec::new();
                for b in ok_response() {
                    steps.push(Step::Interrupted);
                    steps.push(Step::Data(vec![b]));
                }
                Conn::Open(Fault::new(steps))
            },
            expect: Token,
            unread: none,
        },
        Case {
            name: "short writes: 1 byte per write, every other one Interrupted",
            conn: || {
                Conn::Open(
                    Fault::answering(ok_response())
                        .writes_of(1)
                        .interrupting_writes(),
                )
            },
            expect: Token,
            unread: none,
        },
        Case {
            name: "100 Continue before the answer",
            conn: || {
                let mut r = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
                r.extend(ok_response());
                Conn::Open(Fault::answering(r))
            },
            expect: Token,
            unread: none,
        },
        Case {
            name: "100 Continue before the answer, 3-byte reads, Interrupted between",
            conn: || {
                let mut r = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
                r.extend(ok_response());
                let steps = r
                    .chunks(3)
                    .flat_map(|c| [Step::Data(c.to_vec()), Step::Interrupted])
                    .collect();
                Conn::Open(Fault::new(steps))
            },
            expect: Token,
            // The trailing Interrupted after the last chunk is never read.
            unread: || vec![Step::Interrupted],
        },
    ]
}

// ---- the scenario ------------------------------------------------------------------

const BUF: usize = 2048;
const OLD: &str = "AT-old-valid-token";
/// The cached token is due at 3540 s and expires at 3600 s.
const DUE_MS: u64 = 3_540_000;

/// How one attempt is made (blocking or async).
trait Driver {
    fn token(
        client: &mut Client<'_, Clk>,
        server: &RefCell<Server>,
        buf: &mut [u8],
    ) -> Result<String, Error<NetError>>;
}

type Clk = Box<dyn Fn() -> Instant>;

struct Blocking;

impl Driver for Blocking {
    fn token(
        client: &mut Client<'_, Clk>,
        server: &RefCell<Server>,
        buf: &mut [u8],
    ) -> Result<String, Error<NetError>> {
        let mut connect = |_: &TokenEndpoint<'_>| server.borrow_mut().connect();
        client
            .token(&mut connect, buf)
            .map(|t| t.expose_secret().to_owned())
    }
}

#[cfg(feature = "async")]
struct Async;

#[cfg(feature = "async")]
impl Driver for Async {
    fn token(
        client: &mut Client<'_, Clk>,
        server: &RefCell<Server>,
        buf: &mut [u8],
    ) -> Result<String, Error<NetError>> {
        let mut conn = AsyncServer(server);
        embassy_futures::block_on(client.asynch().token(&mut conn, buf))
            .map(|t| t.expose_secret().to_owned())
    }
}

fn new_client(now: &Rc<Cell<u64>>) -> Client<'static, Clk> {
    let now = Rc::clone(now);
    let clock: Clk = Box::new(move || Instant::from_millis(now.get()));
    Client::new(common::config(), clock)
}

fn expected_request() -> Vec<u8> {
    let mut b = [0u8; 512];
    let n = encode_request(&common::config(), &mut b).unwrap();
    b[..n].to_vec()
}

fn assert_wiped(buf: &[u8], ctx: &str) {
    let dirty = buf.iter().filter(|&&b| b != 0).count();
    assert_eq!(
        dirty, 0,
        "{ctx}: {dirty} bytes of the work buffer not wiped"
    );
}

/// One fault, with a due token (`with_token`) or none.
fn run_case<D: Driver>(case: &Case, with_token: bool) {
    let ctx = format!(
        "{} ({})",
        case.name,
        if with_token { "due token" } else { "no token" }
    );
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(Server::default());
    let mut client = new_client(&now);
    let mut base = 0;
    if with_token {
        server
            .borrow_mut()
            .push(Conn::Open(Fault::answering(token_response(
                OLD,
                Some(3600),
            ))));
        assert_eq!(
            D::token(&mut client, &server, &mut [0u8; BUF]).unwrap(),
            OLD
        );
        now.set(DUE_MS);
        assert_eq!(client.freshness(), Freshness::RefreshDue, "{ctx}");
        base = 1;
    } else {
        now.set(DUE_MS);
    }

    server.borrow_mut().push((case.conn)());
    let mut buf = vec![0xA5u8; BUF];
    let got = D::token(&mut client, &server, &mut buf);
    assert_wiped(&buf, &ctx);
    assert_eq!(server.borrow().connections, base + 1, "{ctx}");
    // This attempt's stream (none when the connection was refused).
    let trace = server.borrow().traces.get(base).map(|t| {
        let t = t.borrow();
        (t.written.clone(), t.left.clone())
    });
    if let Some((_, left)) = &trace {
        assert_eq!(
            left,
            &(case.unread)(),
            "{ctx}: where the client stopped reading"
        );
    }

    match &case.expect {
        Expect::Token => {
            assert_eq!(got.as_deref(), Ok(NEW), "{ctx}");
            let (written, _) = trace.expect("a connection");
            assert_eq!(
                written,
                expected_request(),
                "{ctx}: the request arrived intact"
            );
            assert_eq!(
                (client.failures(), client.next_attempt()),
                (0, None),
                "{ctx}"
            );
            assert_eq!(client.freshness(), Freshness::Fresh, "{ctx}");
        }
        Expect::Fails(e) => {
            // For a transport error: its own kind, errno and message.
            assert_eq!(got.as_ref(), Err(e), "{ctx}");
            assert_eq!(client.failures(), 1, "{ctx}");
            assert!(client.blocked().is_none(), "{ctx}: a transient fault");
            let next = DUE_MS + 1_999;
            assert_eq!(
                client.next_attempt(),
                Some(Instant::from_millis(next)),
                "{ctx}"
            );

            // While backing off: the old token, or Error::Backoff; no connection.
            for t in [DUE_MS, next - 1] {
                now.set(t);
                let mut buf = vec![0xA5u8; BUF];
                let r = D::token(&mut client, &server, &mut buf);
                if with_token {
                    assert_eq!(r.as_deref(), Ok(OLD), "{ctx} at {t}");
                    assert_eq!(client.freshness(), Freshness::RefreshDue, "{ctx}");
                } else {
                    assert_eq!(r, Err(Error::Backoff(Instant::from_millis(next))), "{ctx}");
                    assert!(client.cached().is_none(), "{ctx}");
                }
            }
            assert_eq!(server.borrow().connections, base + 1, "{ctx}");

            // Past the backoff, the same client renews.
            now.set(next);
            server
                .borrow_mut()
                .push(Conn::Open(Fault::answering(ok_response())));
            let mut buf = vec![0xA5u8; BUF];
            assert_eq!(
                D::token(&mut client, &server, &mut buf).as_deref(),
                Ok(NEW),
                "{ctx}"
            );
            assert_wiped(&buf, &ctx);
            assert_eq!(server.borrow().connections, base + 2, "{ctx}");
            assert_eq!(
                (client.failures(), client.next_attempt()),
                (0, None),
                "{ctx}"
            );
            let t = client.cached().expect("the new token");
            assert_eq!(t.obtained_at(), Instant::from_millis(next), "{ctx}");
        }
    }
    assert!(server.borrow().queue.is_empty(), "{ctx}");
}

#[test]
fn every_fault_through_the_blocking_driver() {
    let cases = cases();
    assert_eq!(cases.len(), 21);
    for case in &cases {
        for with_token in [true, false] {
            run_case::<Blocking>(case, with_token);
        }
    }
}

#[cfg(feature = "async")]
#[test]
fn every_fault_through_the_async_driver() {
    for case in &cases() {
        for with_token in [true, false] {
            run_case::<Async>(case, with_token);
        }
    }
}

/// The classification the backoff relies on: all of these are transient.
#[test]
fn every_fault_is_transient() {
    for case in cases() {
        if let Expect::Fails(e) = case.expect {
            assert_eq!(
                e.retry(),
                embedded_oauth2::error::Retry::Transient,
                "{}",
                case.name
            );
        }
    }
}

/// The request was sent whole before the stream stalled: `blocking::run`
/// itself hands back the transport's error intact.
#[test]
fn stalled_read_error_is_returned_by_run_intact() {
    let config = common::config();
    let mut buf = [0u8; BUF];
    let mut stream = Fault::new(vec![
        Step::Data(b"HTTP/1.1 200 OK\r\n".to_vec()),
        Step::Fail(STALL),
    ]);
    let trace = Rc::clone(&stream.trace);
    let ex =
        embedded_oauth2::http::Exchange::new(&config, &mut buf, embedded_oauth2::Limits::new())
            .unwrap();
    match blocking::run(&mut stream, ex) {
        Err(Error::Transport(e)) => {
            assert_eq!(e, STALL);
            assert_eq!(
                e.to_string(),
                "no data for 30 s (socket read timeout) (errno 110)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(trace.borrow().written, expected_request());
}

// ---- cancellation (async) -------------------------------------------------------------

/// A stall handled the embassy way: `with_timeout(…, client.asynch().token(…))`
/// drops the future while a read hangs. The client stays usable and keeps
/// its still-valid token.
#[cfg(feature = "async")]
#[test]
fn cancelled_attempt_leaves_the_client_usable() {
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(Server::default());
    let mut client = new_client(&now);
    server
        .borrow_mut()
        .push(Conn::Open(Fault::answering(token_response(
            OLD,
            Some(3600),
        ))));
    Async::token(&mut client, &server, &mut [0u8; BUF]).unwrap();
    now.set(DUE_MS);

    let (h, _) = head_and_body();
    server.borrow_mut().push(Conn::Open(Fault::new(vec![
        Step::Data(split(h).0),
        Step::Hang,
    ])));
    let mut buf = vec![0u8; BUF];
    {
        let mut conn = AsyncServer(&server);
        // The timeout fires: the future is polled, hangs, and is dropped.
        let poll = embassy_futures::poll_once(client.asynch().token(&mut conn, &mut buf));
        assert!(poll.is_pending());
    }
    assert_eq!(server.borrow().connections, 2);
    assert_eq!(
        client
            .cached()
            .map(|t| t.expose_secret().to_owned())
            .as_deref(),
        Some(OLD)
    );
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    assert_wiped(&buf, "cancelled attempt");
    // The cancelled attempt counts as a failure: the client backs off (no
    // random source: 1999 ms) and hands out the old token meanwhile.
    assert_eq!(client.failures(), 1);
    assert!(client.blocked().is_none());
    let next = DUE_MS + 1_999;
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(next)));
    now.set(next - 1);
    assert_eq!(
        Async::token(&mut client, &server, &mut buf).as_deref(),
        Ok(OLD)
    );
    assert_eq!(server.borrow().connections, 2);

    now.set(DUE_MS + 60_000 - 1);
    server
        .borrow_mut()
        .push(Conn::Open(Fault::answering(ok_response())));
    let mut buf = vec![0xA5u8; BUF];
    assert_eq!(
        Async::token(&mut client, &server, &mut buf).as_deref(),
        Ok(NEW)
    );
    assert_wiped(&buf, "after the cancelled attempt");
    assert_eq!(server.borrow().connections, 3);
    assert_eq!((client.failures(), client.next_attempt()), (0, None));
}

/// A cancelled attempt must not leave the response it had read — the
/// access token — in the caller's work buffer (docs/security.md: "the work buffer
/// is zeroized after every fetch").
#[cfg(feature = "async")]
#[test]
fn cancelled_attempt_leaves_no_token_in_the_buffer() {
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(Server::default());
    let mut client = new_client(&now);
    // Everything but the closing brace, then the read hangs.
    let (x, _) = split(ok_response().len() - 1);
    server
        .borrow_mut()
        .push(Conn::Open(Fault::new(vec![Step::Data(x), Step::Hang])));
    let mut buf = vec![0xA5u8; BUF];
    {
        let mut conn = AsyncServer(&server);
        let poll = embassy_futures::poll_once(client.asynch().token(&mut conn, &mut buf));
        assert!(poll.is_pending());
    }
    // The token had arrived in the buffer before the read hung.
    assert_eq!(server.borrow().traces[0].borrow().left, [Step::Hang]);
    assert!(
        !contains(&buf, NEW.as_bytes()),
        "the access token was left in the work buffer"
    );
    assert_wiped(&buf, "cancelled attempt");
    assert!(client.cached().is_none());
}

/// The same for `fetch_async` cancelled mid-body with a token cached: the
/// part of the new token that had arrived is wiped, the old one is kept.
#[cfg(feature = "async")]
#[test]
fn cancelled_fetch_leaves_no_token_in_the_buffer() {
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(Server::default());
    let mut client = new_client(&now);
    server
        .borrow_mut()
        .push(Conn::Open(Fault::answering(token_response(
            OLD,
            Some(3600),
        ))));
    Async::token(&mut client, &server, &mut [0u8; BUF]).unwrap();
    let (x, _) = split(ok_response().len() - 1);
    server
        .borrow_mut()
        .push(Conn::Open(Fault::new(vec![Step::Data(x), Step::Hang])));
    let mut buf = vec![0xA5u8; BUF];
    {
        let mut conn = AsyncServer(&server);
        let poll = embassy_futures::poll_once(client.asynch().fetch(&mut conn, &mut buf));
        assert!(poll.is_pending());
    }
    assert_eq!(server.borrow().traces[1].borrow().left, [Step::Hang]);
    assert!(!contains(&buf, NEW.as_bytes()));
    assert_wiped(&buf, "cancelled fetch");
    assert_eq!(
        client
            .cached()
            .map(|t| t.expose_secret().to_owned())
            .as_deref(),
        Some(OLD)
    );
}

/// A cancelled attempt (the caller's timeout) is the commonest failure on
/// embassy; unless it counts, a fleet whose server stalls retries at the
/// rate its callers time out, with no backoff at all. Each cancelled
/// attempt counts as a failure (no random source: backoff 1999 ms, then
/// 3999 ms), and in between `token_async` answers `Error::Backoff` at once.
#[cfg(feature = "async")]
#[test]
fn cancelled_attempt_counts_for_the_backoff() {
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(Server::default());
    let mut client = new_client(&now);
    for _ in 0..2 {
        server
            .borrow_mut()
            .push(Conn::Open(Fault::new(vec![Step::Hang])));
    }
    let mut buf = vec![0u8; BUF];
    let mut attempt = |client: &mut Client<'static, Clk>| {
        let mut conn = AsyncServer(&server);
        match embassy_futures::poll_once(client.asynch().token(&mut conn, &mut buf)) {
            core::task::Poll::Pending => None,
            core::task::Poll::Ready(r) => Some(r.map(|t| t.expose_secret().to_owned())),
        }
    };
    // Cancelled at 0, then three more tries within 200 ms: refused at once.
    assert_eq!(attempt(&mut client), None, "hangs, cancelled");
    assert_eq!(client.failures(), 1);
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(1_999)));
    for t in [100, 200, 1_998] {
        now.set(t);
        assert_eq!(
            attempt(&mut client),
            Some(Err(Error::Backoff(Instant::from_millis(1_999)))),
            "at {t}"
        );
    }
    assert_eq!(
        server.borrow().connections,
        1,
        "cancelled attempts within 2 s"
    );
    // Past the backoff: the next attempt, cancelled too, doubles it.
    now.set(1_999);
    assert_eq!(attempt(&mut client), None, "hangs, cancelled");
    assert_eq!(server.borrow().connections, 2);
    assert_eq!(client.failures(), 2);
    assert_eq!(
        client.next_attempt(),
        Some(Instant::from_millis(1_999 + 3_999))
    );
    assert!(server.borrow().queue.is_empty());
}
