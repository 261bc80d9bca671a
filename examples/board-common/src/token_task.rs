//! The token task: the one owner of the [`Client`]. It fetches a token over
//! verified TLS 1.3, publishes it ([`TokenCell`]), sleeps until renewal is
//! due (or the backoff says when to try again), and renews early when a
//! service refuses the token.

use core::cell::RefCell;

use embassy_futures::select::{Either, select};
use embassy_net::Stack;
use embassy_time::{Duration, Timer, with_timeout};
use embedded_oauth2::asynch::Connect;
use embedded_oauth2::tls::{CryptoRngCore, TlsConnector};
use embedded_oauth2::{
    Backoff, Client, Clock, EmbassyClock, Error, Freshness, Instant, Random, RefreshPolicy, Token,
    WallClock,
};
use rand_core::RngCore;
use zeroize::Zeroize;

use crate::config::{CA_DER, CA_PLACEHOLDER, SECRET_CAP, SETTINGS};
use crate::fmt::Loggable;
use embassy_net::dns::DnsSocket;
use embassy_net::tcp::client::{TcpClient, TcpClientState};
use embedded_oauth2::tls::nal::{AddrType, NalOpener};
use crate::publish::TokenCell;
use crate::{
    HEADER_CAP, RECORD_CAP, SCOPE_CAP, TCP_RX, TCP_TX, TLS_READ, TLS_WRITE, TOKEN_CAP, WORK_CAP,
};

/// One whole token exchange (DNS, TCP, TLS handshake, request, response) at
/// most; past it the attempt is dropped and counts as a failure. The
/// client's own deadline (60 s) covers the exchange once connected.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(90);
/// A TCP connection idle this long is reset.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// After a permanent failure (e.g. `invalid_client`) the client stops
/// trying on its own; the device tries again this much later, in case the
/// server side was fixed.
const BLOCKED_RETRY: Duration = Duration::from_secs(3600);
/// Never loop faster than this.
const MIN_PAUSE: Duration = Duration::from_secs(1);

/// The client as the token task holds it.
pub type TokenClient<J, W> =
    Client<'static, EmbassyClock, SECRET_CAP, TOKEN_CAP, SCOPE_CAP, Jitter<J>, W>;

/// Where the token task keeps its token across a reset or deep sleep
/// (RTC RAM on the ESP32-C3, see `../esp32c3`), as an
/// `embedded_oauth2::persist` record: after a wake the token task hands the
/// token out again without a TLS handshake, while it is valid. The record
/// holds the token, never the client secret; see the crate's
/// `docs/persistence.md` ("Security") for what the platform must
/// protect.
pub trait TokenStore {
    /// The record kept (may be empty or garbage: it is checked).
    fn load(&self) -> &[u8];
    /// Keeps `record`, replacing what was kept; `&[]` clears it.
    fn save(&mut self, record: &[u8]);
    /// Whether it keeps anything. `false` (`()`): no token is exported for
    /// it, so a board without a store (and without the wall clock a record
    /// needs) has nothing to report at each renewal.
    fn keeps(&self) -> bool {
        true
    }
}

/// No store: every boot fetches.
impl TokenStore for () {
    fn load(&self) -> &[u8] {
        &[]
    }
    fn save(&mut self, _: &[u8]) {}
    fn keeps(&self) -> bool {
        false
    }
}

/// A TLS connection's record buffers (see `embedded_oauth2::tls`): the read
/// buffer holds one whole record, so [`TLS_READ`] bytes take any server.
pub struct TlsBuffers {
    read: [u8; TLS_READ],
    write: [u8; TLS_WRITE],
}

impl TlsBuffers {
    /// Zeroed (for a `static`).
    pub const fn new() -> Self {
        Self {
            read: [0; TLS_READ],
            write: [0; TLS_WRITE],
        }
    }

    /// The read and the write buffer, for `TlsConnector::new`.
    pub fn split(&mut self) -> (&mut [u8], &mut [u8]) {
        (&mut self.read[..], &mut self.write[..])
    }

    /// Zeroizes both: after an exchange the read buffer holds decrypted
    /// response records (the token response!), the write buffer request
    /// plaintext (the client's credentials, or a bearer token).
    pub fn wipe(&mut self) {
        self.read.zeroize();
        self.write.zeroize();
    }
}

impl Default for TlsBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything the token task needs in static memory (≈32 KiB with
/// `READ_BUFFER` TLS records).
pub struct TokenResources {
    /// The TCP socket's buffers, for embassy-net's `TcpClient`.
    tcp: TcpClientState<1, TCP_TX, TCP_RX>,
    tls: TlsBuffers,
    /// The client's work buffer: request, response, parsing.
    work: [u8; WORK_CAP],
    /// A token record on its way to or from the [`TokenStore`].
    record: [u8; RECORD_CAP],
}

impl TokenResources {
    /// Zeroed (for a `ConstStaticCell`: no stack copy).
    pub const fn new() -> Self {
        Self {
            tcp: TcpClientState::new(),
            tls: TlsBuffers::new(),
            work: [0; WORK_CAP],
            record: [0; RECORD_CAP],
        }
    }
}

impl Default for TokenResources {
    fn default() -> Self {
        Self::new()
    }
}

/// Randomness for the client's renewal and backoff jitter (the `Random`
/// trait takes `&self`).
pub struct Jitter<J>(RefCell<J>);

impl<J: RngCore> Jitter<J> {
    /// Wraps a random source.
    pub fn new(rng: J) -> Self {
        Self(RefCell::new(rng))
    }
}

impl<J: RngCore> Random for Jitter<J> {
    fn next_u32(&self) -> u32 {
        // Never re-entered; if it were, no jitter rather than a panic.
        self.0
            .try_borrow_mut()
            .map_or(u32::MAX, |mut rng| rng.next_u32())
    }
}

/// Runs the token task: waits for the network, then keeps a fresh token
/// in `cell` for ever. `tls_rng` keys the TLS handshakes (a CSPRNG);
/// `jitter` spreads renewals and backoff. A token kept in `store` by an
/// earlier boot is served first while valid; each new token is kept there
/// (`wall` dates it: a clock that survives the reset or sleep). Without a
/// store (`()`, and then `wall` may be `|| None`) nothing is kept.
pub async fn run<R: CryptoRngCore, J: RngCore, W: WallClock, S: TokenStore>(
    stack: Stack<'static>,
    resources: &'static mut TokenResources,
    cell: &'static TokenCell<HEADER_CAP>,
    mut tls_rng: R,
    jitter: J,
    wall: W,
    mut store: S,
) -> ! {
    if SETTINGS.placeholder {
        warn!("built with placeholder settings: set WIFI_*, OAUTH_* and SERVICE_URL (README.md)");
    }
    if CA_PLACEHOLDER {
        error!("no CA certificate was built in (OAUTH_CA_CERT): TLS cannot work");
    }
    let config = match SETTINGS.oauth() {
        Ok(c) => c,
        Err(e) => {
            error!("configuration: {}", e);
            park().await
        }
    };
    let mut client: TokenClient<J, W> = Client::new(config, EmbassyClock)
        .with_random(Jitter::new(jitter))
        .with_wall_clock(wall);
    let TokenResources {
        tcp,
        tls,
        work,
        record,
    } = resources;
    // A token from before the reset or sleep: no handshake while it is valid.
    match client.restore_token(store.load()) {
        Ok(()) => info!("token restored from the store"),
        Err(e) if !store.load().iter().all(|&b| b == 0) => info!("stored token not used: {}", e),
        Err(_) => {}
    }
    // The token in the cell: when it was obtained (to publish each token once).
    let mut published: Option<Instant> = None;
    // A restored token is handed out at once, before the network is up.
    publish_current(&client, cell, &mut published);
    // Connections through embassy-net's embedded-nal-async stack: the
    // crate's `NalOpener` over `TcpClient` and `DnsSocket`, no opener of
    // our own. (A dropped connection leaves the stack at once, after the
    // TLS close_notify, so its FIN may not be sent; the crate's
    // `tls::embassy_net::NetOpener` sends it, if your network minds.)
    let mut tcp_client = TcpClient::new(stack, tcp);
    tcp_client.set_timeout(Some(TCP_IDLE));
    let dns = DnsSocket::new(stack);

    stack.wait_config_up().await;
    info!("token task: network up, fetching a token");

    loop {
        // The exchange, on a connector built for it: its buffers are wiped
        // as soon as it is done, whatever happened.
        let (read, write) = tls.split();
        let opener = NalOpener::new(&tcp_client, &dns).with_addr_type(AddrType::IPv4);
        let outcome = match TlsConnector::new(opener, &mut tls_rng, CA_DER, read, write) {
            Err(e) => Err(e),
            Ok(mut connector) => Ok(attempt(
                &mut client,
                &mut connector,
                &mut work[..],
                EXCHANGE_TIMEOUT,
                cell,
                &mut published,
            )
            .await),
        };
        // A new token was published: keep it in the store afterwards.
        let to_keep = matches!(
            outcome,
            Ok(Step {
                published: true,
                ..
            })
        );
        tls.wipe();
        if to_keep {
            keep(&client, &mut store, record);
        }
        let step = match outcome {
            Ok(step) => step,
            Err(setup) => {
                error!("TLS connector: {} (check OAUTH_CA_CERT)", setup);
                park().await
            }
        };

        // Withdraw a token that can no longer be presented.
        if client.cached().is_none() && published.take().is_some() {
            cell.withdraw();
        }

        let planned = match step.until {
            Some(until) => Some(until),
            None => next_wake(&client),
        };
        let wake = match planned {
            Some(at) => at,
            None => {
                warn!(
                    "the server refused the client permanently; trying again in {} s",
                    BLOCKED_RETRY.as_secs()
                );
                Timer::after(BLOCKED_RETRY).await;
                client.reset_backoff();
                continue;
            }
        };
        let now = embassy_time::Instant::now();
        let wake = to_embassy(wake).max(now + MIN_PAUSE);

        match select(Timer::at(wake), cell.refused()).await {
            Either::First(()) => {}
            Either::Second(generation) if generation == cell.generation() => {
                let sample = tls_rng.next_u32();
                if let Some(pause) =
                    on_refusal(&mut client, cell, &mut store, &mut published, sample)
                {
                    Timer::after(pause).await;
                }
            }
            Either::Second(_) => {} // a token already replaced
        }
    }
}

/// What one [`attempt`] came to.
pub(crate) struct Step {
    /// The client said when to try again (backoff, or held back).
    pub until: Option<Instant>,
    /// A new token was published.
    pub published: bool,
}

/// One run of the client: `token()` over `connector` within `limit`, and
/// the token it gave published (once: `published` remembers which one the
/// cell holds, by `Token::obtained_at`).
pub(crate) async fn attempt<K, J, W>(
    client: &mut TokenClient<J, W>,
    connector: &mut K,
    work: &mut [u8],
    limit: Duration,
    cell: &TokenCell<HEADER_CAP>,
    published: &mut Option<Instant>,
) -> Step
where
    K: Connect,
    K::Error: Loggable,
    J: RngCore,
    W: WallClock,
{
    let mut step = Step {
        until: None,
        published: false,
    };
    match with_timeout(limit, client.asynch().token(connector, work)).await {
        // Published below, with whatever else the client holds.
        Ok(Ok(_)) => {}
        // No attempt was made: the backoff says until when.
        Ok(Err(Error::Backoff(until))) => {
            info!("backing off until t={} ms", until.as_millis());
            step.until = Some(until);
        }
        // Nothing failed: the last fetch was too recent.
        Ok(Err(Error::HeldBack(wait))) => {
            info!("next fetch {}", wait);
            step.until = Some(wait.until);
        }
        Ok(Err(e)) => warn!("token request failed: {}", e),
        Err(_) => warn!("token request timed out"),
    }
    // Whatever valid token the client holds is the one to hand out, however
    // the attempt ended: a timeout may have cut the close_notify of an
    // exchange whose token the client stored already; a failed renewal
    // leaves the token in hand valid (e.g. one restored from the store).
    step.published = publish_current(client, cell, published);
    step
}

/// Publishes the client's valid token unless the cell holds it already
/// (`published`: the `Token::obtained_at` of the one it holds). `true`: a
/// token was published.
pub(crate) fn publish_current<J: RngCore, W: WallClock>(
    client: &TokenClient<J, W>,
    cell: &TokenCell<HEADER_CAP>,
    published: &mut Option<Instant>,
) -> bool {
    let Some(token) = client.cached() else {
        return false;
    };
    if *published == Some(token.obtained_at()) {
        return false;
    }
    match cell.publish(token) {
        Ok(generation) => {
            *published = Some(token.obtained_at());
            info!(
                "token {} published, valid {} s more",
                generation,
                token.remaining(client.clock().now()).as_secs()
            );
            true
        }
        Err(e) => {
            error!("publishing the token: {}", e);
            false
        }
    }
}

/// The token in force was refused by a service: drops it (client, cell)
/// so the next attempt fetches a new one at once — unless the last ones
/// were refused too: then the pause to take first, a backoff as after
/// failed fetches (`Backoff::delay` on the refusals in a row; `sample`
/// jitters it). Every refusal costs one fetch; the backoff only spaces them.
/// The store forgets the token too, so a reset does not bring it back.
pub(crate) fn on_refusal<J: RngCore, W: WallClock, S: TokenStore>(
    client: &mut TokenClient<J, W>,
    cell: &TokenCell<HEADER_CAP>,
    store: &mut S,
    published: &mut Option<Instant>,
    sample: u32,
) -> Option<Duration> {
    client.invalidate();
    cell.withdraw();
    *published = None;
    // Nor may it come back from the store after a reset.
    if store.keeps() {
        store.save(&[]);
    }
    let refusals = cell.refusals();
    if refusals > 1 {
        let pause = Backoff::new().delay(refusals - 1, sample, None);
        warn!(
            "token refused {} times in a row; next one in {} s",
            refusals,
            pause.as_secs()
        );
        Some(Duration::from_millis(pause.as_millis() as u64))
    } else {
        info!(
            "token {} refused by the service: renewing",
            cell.generation()
        );
        None
    }
}

/// Keeps the client's token in `store` (through `record`, wiped after);
/// nothing without a store. A store whose record cannot be made (no wall
/// clock, say) is warned about.
fn keep<J: RngCore, W: WallClock, S: TokenStore>(
    client: &TokenClient<J, W>,
    store: &mut S,
    record: &mut [u8; RECORD_CAP],
) {
    if !store.keeps() {
        return;
    }
    match client.export_token(record) {
        Ok(n) => store.save(record.get(..n).unwrap_or_default()),
        Err(e) => warn!("token not kept: {}", e),
    }
    record.zeroize();
}

/// When to run the client again: at renewal time while the token is
/// fresh, when the client's backoff or `min_interval` allows otherwise,
/// never past the expiry of the token in hand (to withdraw it). `None`:
/// blocked by a permanent failure, with no token left.
fn next_wake<J: RngCore, W: WallClock>(client: &TokenClient<J, W>) -> Option<Instant> {
    let now = client.clock().now();
    let cached = client.cached();
    let wake = match cached {
        Some(token) if client.freshness() == Freshness::Fresh => {
            renewal_due_at(token, client.policy(), now)
        }
        _ => match client.next_attempt() {
            Some(at) => at,
            // Blocked: keep (and withdraw at expiry) a token still in
            // hand; without one, the caller waits and resets.
            None if client.blocked().is_some() => match cached {
                Some(token) => token.expires_at(),
                None => return None,
            },
            None => now,
        },
    };
    Some(match cached {
        Some(token) => wake.min(token.expires_at()),
        None => wake,
    })
}

/// The first instant at which `token` stops being fresh (renewal due,
/// including the client's random early renewal), found by bisection over
/// `Token::freshness`, which takes any instant.
pub fn renewal_due_at<const T: usize, const S: usize>(
    token: &Token<T, S>,
    policy: &RefreshPolicy,
    now: Instant,
) -> Instant {
    let fresh = |ms| token.freshness(Instant::from_millis(ms), policy) == Freshness::Fresh;
    let (mut lo, mut hi) = (now.as_millis(), token.expires_at().as_millis());
    if !fresh(lo) || hi <= lo {
        return now;
    }
    // fresh at lo, not fresh at hi (expired there)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fresh(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Instant::from_millis(hi)
}

fn to_embassy(t: Instant) -> embassy_time::Instant {
    embassy_time::Instant::from_millis(t.as_millis())
}

/// A configuration error: nothing to do until the image is rebuilt.
pub(crate) async fn park() -> ! {
    loop {
        Timer::after(Duration::from_secs(3600)).await;
    }
}

#[cfg(test)]
mod tests {
    use embassy_futures::block_on;
    use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};

    use super::*;
    use crate::publish::HeaderValue;
    use crate::testing::{FakeConnector, Script, TestRng, capture_logs, token_answer};

    const T0: u64 = 1_800_000_000;

    fn client<W: WallClock>(wall: W) -> TokenClient<TestRng, W> {
        let config = Config::new(
            TokenEndpoint::parse("https://as.example/token").unwrap(),
            ClientId::new("device").unwrap(),
            ClientAuth::Basic(ClientSecret::new("s3cret").unwrap()),
        );
        Client::new(config, EmbassyClock)
            .with_random(Jitter::new(TestRng(7)))
            .with_wall_clock(wall)
    }

    /// Runs [`attempt`] once against `script` (with a short time limit).
    fn attempt_with<W: WallClock>(
        client: &mut TokenClient<TestRng, W>,
        script: Script,
        cell: &TokenCell<HEADER_CAP>,
        published: &mut Option<Instant>,
    ) -> Step {
        let mut connector = FakeConnector::new(script);
        let mut work = [0u8; WORK_CAP];
        block_on(attempt(
            client,
            &mut connector,
            &mut work,
            Duration::from_millis(300),
            cell,
            published,
        ))
    }

    /// What the cell holds now (`None`: nothing valid).
    fn in_cell(cell: &TokenCell<HEADER_CAP>) -> Option<String> {
        let mut header = HeaderValue::new();
        cell.copy_into(&mut header, EmbassyClock.now())?;
        Some(header.expose_secret().into())
    }

    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    use crate::testing::{logged, logs};

    /// A store in memory.
    #[derive(Default)]
    struct MemoryStore(Vec<u8>);

    impl TokenStore for MemoryStore {
        fn load(&self) -> &[u8] {
            &self.0
        }
        fn save(&mut self, record: &[u8]) {
            self.0 = record.to_vec();
        }
    }

    /// A client holding a fresh token.
    fn client_with_token<W: WallClock>(wall: W) -> TokenClient<TestRng, W> {
        let mut client = client(wall);
        let cell = TokenCell::new();
        attempt_with(
            &mut client,
            Script::Answer(token_answer("t", 3600)),
            &cell,
            &mut None,
        );
        assert!(client.cached().is_some());
        client
    }

    /// The Pico W: no store (`()`) and no wall clock. Nothing to keep, so
    /// nothing to complain about at every renewal.
    #[test]
    fn without_a_store_nothing_is_kept_and_nothing_logged() {
        let client = client_with_token(|| None);
        capture_logs();
        let mut record = [0u8; RECORD_CAP];
        keep(&client, &mut (), &mut record);
        assert!(!logged("not kept"), "{:?}", logs());
    }

    /// The ESP32-C3: a store and a wall clock. The record is kept.
    #[test]
    fn with_a_store_and_a_wall_clock_the_token_is_kept() {
        let client = client_with_token(|| Some(T0));
        capture_logs();
        let mut store = MemoryStore::default();
        let mut record = [0u8; RECORD_CAP];
        keep(&client, &mut store, &mut record);
        assert!(store.0.starts_with(b"EO2T"), "{:?}", logs());
        assert!(record.iter().all(|&b| b == 0), "the record buffer is wiped");
    }

    /// A service refuses every token: each refusal drops the token (the
    /// next attempt fetches: one fetch per refused call), and from the
    /// second in a row the fetch waits a growing backoff, capped at 5 min.
    #[test]
    fn each_refusal_costs_one_fetch_spaced_by_a_backoff() {
        capture_logs();
        let mut client = client(|| Some(T0));
        let cell = TokenCell::new();
        let mut store = MemoryStore::default();
        let mut published = None;
        let mut pauses = Vec::new();
        for round in 0..12 {
            let step = attempt_with(
                &mut client,
                Script::Answer(token_answer("refused", 3600)),
                &cell,
                &mut published,
            );
            assert!(step.published, "round {round}: a fetch, a new token");
            cell.refuse(cell.generation());
            pauses.push(on_refusal(
                &mut client,
                &cell,
                &mut store,
                &mut published,
                u32::MAX,
            ));
            assert!(client.cached().is_none());
            assert!(in_cell(&cell).is_none(), "withdrawn");
        }
        assert_eq!(pauses[0], None, "the first refusal renews at once");
        let secs: Vec<u64> = pauses[1..].iter().map(|p| p.unwrap().as_secs()).collect();
        assert!(secs.windows(2).all(|w| w[0] <= w[1]), "{secs:?}");
        // (`u32::MAX` takes the top of each jittered range: just under it.)
        assert_eq!(secs.last(), Some(&299), "{secs:?}");
    }

    /// A refused token must not come back from the store after a reset.
    #[test]
    fn a_refused_token_is_forgotten_by_the_store() {
        capture_logs();
        let mut client = client(|| Some(T0));
        let cell = TokenCell::new();
        let mut store = MemoryStore::default();
        let mut published = None;
        attempt_with(
            &mut client,
            Script::Answer(token_answer("refused", 3600)),
            &cell,
            &mut published,
        );
        let mut record = [0u8; RECORD_CAP];
        keep(&client, &mut store, &mut record);
        assert!(!store.0.is_empty());
        cell.refuse(cell.generation());
        on_refusal(&mut client, &cell, &mut store, &mut published, 0);
        let mut after_reset = super::tests::client(|| Some(T0 + 60));
        assert!(
            after_reset.restore_token(store.load()).is_err(),
            "the store still holds the refused token"
        );
    }

    /// A store without a wall clock cannot date the record: that is worth
    /// a warning (the board is misconfigured).
    #[test]
    fn a_store_without_a_wall_clock_is_reported() {
        let client = client_with_token(|| None);
        capture_logs();
        let mut store = MemoryStore::default();
        let mut record = [0u8; RECORD_CAP];
        keep(&client, &mut store, &mut record);
        assert!(store.0.is_empty());
        assert!(logged("not kept"), "{:?}", logs());
    }

    #[test]
    fn a_fetched_token_is_published() {
        capture_logs();
        let mut client = client(|| None);
        let cell = TokenCell::new();
        let mut published = None;
        let step = attempt_with(
            &mut client,
            Script::Answer(token_answer("first", 3600)),
            &cell,
            &mut published,
        );
        assert!(step.published);
        assert_eq!(in_cell(&cell).as_deref(), Some("Bearer first"));
    }

    /// The driver stores the token before it closes the connection; a
    /// close_notify that hangs past the time limit must not keep the new
    /// token out of the cell.
    #[test]
    fn a_token_stored_before_a_hanging_close_is_published() {
        capture_logs();
        let mut client = client(|| None);
        let cell = TokenCell::new();
        let mut published = None;
        let step = attempt_with(
            &mut client,
            Script::AnswerThenHang(token_answer("stored", 3600)),
            &cell,
            &mut published,
        );
        assert!(client.cached().is_some(), "the client holds the token");
        assert_eq!(in_cell(&cell).as_deref(), Some("Bearer stored"));
        assert!(step.published, "so that it is kept in the store too");
    }

    /// A token restored from the store, valid but due for renewal, while
    /// the authorization server cannot be reached: it is what the cell
    /// must hold until it expires.
    #[test]
    fn a_restored_token_due_for_renewal_is_published_while_the_server_is_unreachable() {
        capture_logs();
        // An earlier boot fetched a one-hour token at T0 and kept it.
        let mut before = client(|| Some(T0));
        let cell = TokenCell::new();
        let mut published = None;
        attempt_with(
            &mut before,
            Script::Answer(token_answer("kept", 3600)),
            &cell,
            &mut published,
        );
        let mut record = [0u8; RECORD_CAP];
        let n = before.export_token(&mut record).unwrap();

        // This boot, 59 min 52 s later: valid for 8 s more. (A restored
        // token is fresh for a moment, a quarter of what is left here:
        // the boot waits that long for the network, say.)
        let mut client = client(|| Some(T0 + 3592));
        client.restore_token(&record[..n]).unwrap();
        let give_up = EmbassyClock.now().as_millis() + 6_000;
        while client.freshness() == Freshness::Fresh && EmbassyClock.now().as_millis() < give_up {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(client.freshness(), Freshness::RefreshDue);
        let cell = TokenCell::new();
        let mut published = None;
        attempt_with(&mut client, Script::Unreachable, &cell, &mut published);
        assert!(client.cached().is_some(), "the client still holds it");
        assert_eq!(in_cell(&cell).as_deref(), Some("Bearer kept"));
    }
}
