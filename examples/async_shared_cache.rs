//! Several tasks, one token: the token-task pattern for embassy firmware.
//!
//! ```text
//! cargo run --example async_shared_cache --features async
//! ```
//!
//! One task owns the `Client` and renews the token before it expires; it
//! publishes a copy of the `Authorization` value (`BearerHeader`, wiped when
//! dropped or replaced) in a blocking mutex that is locked only to copy —
//! never across I/O. The other tasks read that copy: they never wait for a
//! TLS handshake, and they never refresh, so two refreshes can never run
//! at once. (Holding an async mutex across `token()` instead, as this
//! example once did, makes every task wait for a still-valid token while
//! one of them renews.)
//!
//! On a device the tasks are `#[embassy_executor::task]`s, the snapshot is
//! a `static` (`CriticalSectionRawMutex`), the clock is `EmbassyClock`
//! (feature `embassy-time`) and the connector is the crate's TLS connector
//! over embassy-net. Here `block_on(join(..))` plays the executor and the
//! token endpoint is an in-memory stream replaying a canned response.

use core::cell::RefCell;
use core::convert::Infallible;
use core::sync::atomic::{AtomicUsize, Ordering};

use embassy_futures::join::join3;
use embassy_futures::{block_on, yield_now};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embedded_io_async::{ErrorType, Read, Write};
use embedded_oauth2::asynch::Connect;
use embedded_oauth2::{
    BearerHeader, Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint,
};

/// Room for `Bearer <token>`.
const HEADER: usize = 1100;

/// What the token task publishes. `NoopRawMutex`: one executor; on a
/// multi-core chip or with interrupts, `CriticalSectionRawMutex`.
type Snapshot = Mutex<NoopRawMutex, RefCell<Option<BearerHeader<HEADER>>>>;

/// Connections opened to the token endpoint (to show who fetched).
static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// The token task: the only owner of the client, the only one to fetch.
async fn token_task(snapshot: &Snapshot, rounds: usize) {
    let config = Config::new(
        TokenEndpoint::parse("https://auth.example.com/oauth2/token").expect("URL"),
        ClientId::new("sensor-17").expect("id"),
        ClientAuth::Basic(ClientSecret::<32>::new("gX1fBat3bV").expect("secret")),
    )
    .with_scope("telemetry:write")
    .expect("scope");
    let mut client: Client<_, 32, 1024, 64> = Client::new(config, now as fn() -> Instant);
    let mut connector = Connector;
    // Work space for one token request/response; wiped after every fetch.
    let mut work = [0u8; 2048];
    for _ in 0..rounds {
        match client.asynch().token(&mut connector, &mut work).await {
            Ok(token) => {
                let header = token.bearer::<HEADER>().expect("fits");
                // Replaced inside the lock, without an await: the old copy
                // is wiped as it is dropped.
                snapshot.lock(|s| s.replace(Some(header)));
                println!("[token] published a token");
            }
            // On a device: `Timer::at(t).await` for `Error::Backoff(t)` (and
            // `Error::HeldBack(w)`: `w.until`).
            Err(e) => println!("[token] no token yet: {e}"),
        }
        // On a device: sleep until the renewal is due (`client.freshness()`,
        // `Token::expires_at`, `client.next_attempt()`); here, yield.
        yield_now().await;
    }
}

/// A task that presents the token: copies the snapshot, uses it, drops
/// (wipes) its copy. It never fetches and never waits for a handshake.
async fn telemetry_task(name: &str, snapshot: &Snapshot) {
    for _ in 0..20 {
        let copy = snapshot.lock(|s| s.borrow().clone());
        match copy {
            Some(h) if h.is_valid(now()) => {
                // ... send the telemetry with `Authorization: {h.as_str()}` ...
                println!(
                    "[{name}] Authorization: {}… ({} bytes)",
                    &h.as_str()[..13], // never log whole tokens
                    h.as_str().len()
                );
                return;
            }
            _ => yield_now().await, // not published yet
        }
    }
    println!("[{name}] no token");
}

/// Opens connections to the token endpoint.
struct Connector;

impl Connect for Connector {
    type Error = Infallible;
    type Connection<'c> = CannedStream;

    async fn connect(&mut self, ep: &TokenEndpoint<'_>) -> Result<CannedStream, Infallible> {
        let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
        println!("  (connection #{n} to {}:{})", ep.host(), ep.port());
        // On a device: DNS, `TcpSocket::connect`, TLS handshake with
        // certificate verification. All of that awaits, like this:
        yield_now().await;
        Ok(CannedStream { pos: 0 })
    }
}

/// The token endpoint's answer: a 200 with a token valid for an hour.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Content-Type: application/json\r\n\
Cache-Control: no-store\r\n\
Content-Length: 137\r\n\
\r\n\
{\"access_token\":\"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZW5zb3ItMTcifQ.c2ln\",\
\"token_type\":\"Bearer\",\"expires_in\":3600,\"scope\":\"telemetry:write\"}";

/// An in-memory connection: swallows the request, then replays `RESPONSE`
/// in 32-byte segments, each one "arriving later" (the read yields first, so
/// the other task runs meanwhile).
struct CannedStream {
    pos: usize,
}

impl ErrorType for CannedStream {
    type Error = Infallible;
}

impl Write for CannedStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        Ok(buf.len()) // the request "goes out" whole
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl Read for CannedStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        yield_now().await; // waiting for the network
        let rest = &RESPONSE[self.pos..];
        let n = rest.len().min(buf.len()).min(32);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Milliseconds since start. On embassy:
/// `Instant::from_millis(embassy_time::Instant::now().as_millis())`.
fn now() -> Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    Instant::from_millis(start.elapsed().as_millis() as u64)
}

fn main() {
    let snapshot: Snapshot = Mutex::new(RefCell::new(None));
    block_on(join3(
        token_task(&snapshot, 1),
        telemetry_task("sensor", &snapshot),
        telemetry_task("uplink", &snapshot),
    ));
    let n = CONNECTIONS.load(Ordering::Relaxed);
    println!("{n} connection to the token endpoint for 3 tasks");
    assert_eq!(n, 1);
}
