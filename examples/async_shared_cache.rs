//! Two tasks, one token cache: how embassy tasks share an
//! `embedded_oauth2::Client` without ever running two refreshes at once.
//!
//! ```text
//! cargo run --example async_shared_cache --features async
//! ```
//!
//! The pattern: put the `Client` behind an async `Mutex` and hold the lock
//! across `asynch().token`. The first task to find the token due fetches a new
//! one; the others wait on the lock and then get it from the cache.
//!
//! On a device the tasks are `#[embassy_executor::task]`s, the mutex is a
//! `static` (e.g. in a `StaticCell`) and the connector opens an `embassy-net`
//! TCP socket with `embedded-tls` on top. Here `block_on(join(..))` plays the
//! executor and the token endpoint is an in-memory stream replaying a canned
//! response, so the example runs on a host without a network.

use core::convert::Infallible;
use core::sync::atomic::{AtomicUsize, Ordering};

use embassy_futures::join::join;
use embassy_futures::{block_on, yield_now};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embedded_io_async::{ErrorType, Read, Write};
use embedded_oauth2::asynch::Connect;
use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};

/// The client every task shares: secret up to 32 bytes, access token up to
/// 1024, scope up to 64. `NoopRawMutex`: all tasks run on one executor.
type SharedClient = Mutex<NoopRawMutex, Client<'static, fn() -> Instant, 32, 1024, 64>>;

/// Connections opened to the token endpoint (to show who fetched).
static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// A task that needs a token to talk to a resource server.
async fn telemetry_task(name: &str, shared: &SharedClient, mut connector: Connector) {
    // Work space for one token request/response; wiped after every fetch.
    let mut work = [0u8; 2048];
    // Room for `Bearer <token>`, copied out so the lock can be released.
    let mut auth = [0u8; 1100];

    println!("[{name}] waiting for the token cache");
    let mut client = shared.lock().await;
    let before = CONNECTIONS.load(Ordering::Relaxed);
    // Holding `client` across this call is the whole point: while this task
    // fetches, the other one waits on `lock()` above.
    let token = match client.asynch().token(&mut connector, &mut work).await {
        Ok(token) => token,
        Err(e) => return println!("[{name}] no token: {e}"),
    };
    let auth = token.authorization_value(&mut auth).expect("fits");
    let fetched = CONNECTIONS.load(Ordering::Relaxed) != before;
    drop(client); // Release the cache before the (slow) resource request.

    println!(
        "[{name}] {}: Authorization: {}… ({} bytes)",
        if fetched {
            "fetched a new token"
        } else {
            "reused the cached token"
        },
        &auth[..13], // `Bearer ` + a few characters; never log whole tokens.
        auth.len(),
    );
    // ... send the telemetry with `auth` here ...
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::new(
        TokenEndpoint::parse("https://auth.example.com/oauth2/token")?,
        ClientId::new("sensor-17")?,
        ClientAuth::Basic(ClientSecret::new("gX1fBat3bV")?),
    )
    .with_scope("telemetry:write")?;
    // One client, one cache, for every task.
    let shared: SharedClient = Mutex::new(Client::new(config, now as fn() -> Instant));

    // Two tasks want a token at the same time; the cache is empty.
    block_on(join(
        telemetry_task("sensor", &shared, Connector),
        telemetry_task("uplink", &shared, Connector),
    ));

    let n = CONNECTIONS.load(Ordering::Relaxed);
    println!("{n} connection to the token endpoint for 2 tasks");
    assert_eq!(n, 1);
    Ok(())
}
