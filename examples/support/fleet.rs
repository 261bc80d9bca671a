//! A deterministic fleet simulation: thousands of real [`Client`]s on one
//! fake clock, polling `token()` as firmware would, against an in-memory
//! authorization server that counts the requests it receives per second
//! and can be down (connection refused) for a while.
//!
//! Shared through `#[path]` by `examples/fleet_sim.rs` and
//! `tests/fleet.rs`; every user takes a subset, hence the `dead_code`
//! allowance.
//!
//! The model:
//!
//! * every device boots within the same second (at a seeded random
//!   millisecond of second 0) and from then on wants a token once per
//!   second, at that same millisecond of every second: it calls
//!   `Client::token()`;
//! * every decision — whether the token is fresh, due, when to renew, how
//!   long to back off — is the device's own `Client` (`RefreshPolicy`,
//!   jitter window, `Backoff`), with its own seeded splitmix64 `Random`;
//! * to stay fast, a device whose `token()` call would certainly not touch
//!   the network is not polled: after each call the simulation asks the
//!   cached token when it becomes due (`Token::freshness`, the crate's own
//!   decision, searched to the millisecond) or reads `Client::next_attempt()`
//!   while backing off, and skips the polls before that. When a skipped-to
//!   poll comes, the client must indeed go to the network; the simulation
//!   asserts it. Skipped polls would have returned the cached token (or
//!   `Error::Backoff`) without a request, so the request counts are those of
//!   polling every second.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::time::Duration;

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use embedded_oauth2::{
    Backoff, Client, ClientAuth, ClientId, Clock, Config, Freshness, Instant, Random,
    RefreshPolicy, TokenEndpoint,
};

/// splitmix64: seeds and per-device streams.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A device's random source (its hardware RNG, here seeded splitmix64).
pub struct DeviceRng(Cell<u64>);

impl DeviceRng {
    pub fn new(seed: u64) -> Self {
        Self(Cell::new(seed))
    }
}

/// A device's random source, switched on or off for the whole simulation.
pub struct Jitter<'r> {
    rng: &'r DeviceRng,
    on: bool,
}

impl Random for Jitter<'_> {
    fn next_u32(&self) -> u32 {
        self.rng.next_u32()
    }

    fn enabled(&self) -> bool {
        self.on
    }
}

impl Random for DeviceRng {
    fn next_u32(&self) -> u32 {
        let mut s = SplitMix(self.0.get());
        let v = s.next_u64();
        self.0.set(s.0);
        (v >> 32) as u32
    }
}

/// The simulation's one clock, shared by every device.
#[derive(Clone, Copy)]
pub struct SimClock<'a>(&'a Cell<u64>);

impl Clock for SimClock<'_> {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.get())
    }
}

/// The in-memory connection's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("connection refused (server down)")
    }
}

impl core::error::Error for Refused {}

impl embedded_io::Error for Refused {
    fn kind(&self) -> ErrorKind {
        ErrorKind::ConnectionRefused
    }
}

/// One in-memory connection to the authorization server: takes the request,
/// answers with a token.
pub struct Conn {
    response: &'static [u8],
    pos: usize,
}

impl ErrorType for Conn {
    type Error = Refused;
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Refused> {
        let rest = &self.response[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Refused> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Refused> {
        Ok(())
    }
}

/// The server's answer: a 64-byte-capacity token living `expires_in`.
fn response(expires_in: u64) -> &'static [u8] {
    let body = format!(
        r#"{{"access_token":"fleet-0123456789abcdef","token_type":"Bearer","expires_in":{expires_in}}}"#
    );
    let r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Box::leak(r.into_bytes().into_boxed_slice())
}

/// One simulation run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub devices: usize,
    /// Simulated seconds.
    pub horizon_s: u64,
    /// `expires_in` of every token.
    pub lifetime_s: u64,
    /// The refresh policy (default: 60 s margin, 5 min jitter window).
    pub policy: RefreshPolicy,
    /// The backoff after failures.
    pub backoff: Backoff,
    /// Whether the devices have a random source (`Client::with_random`).
    pub random: bool,
    /// The server refuses connections in `[start, end)` seconds.
    pub outage: Option<(u64, u64)>,
    pub seed: u64,
}

impl Scenario {
    /// 10,000 devices, 1 h tokens, default policy and backoff, with random.
    pub fn new(name: &'static str, horizon_s: u64) -> Self {
        Self {
            name,
            devices: 10_000,
            horizon_s,
            lifetime_s: 3600,
            policy: RefreshPolicy::new(),
            backoff: Backoff::new(),
            random: true,
            outage: None,
            seed: 0x00F1_EE70_5EED,
        }
    }

    /// The backoff that is no backoff: retry at the next poll (every second).
    pub fn every_second() -> Backoff {
        Backoff::new()
            .with_initial(Duration::from_secs(1))
            .with_max(Duration::from_secs(1))
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: &'static str,
    /// Requests the server received, per second.
    pub requests: Vec<u32>,
    /// Of which refused (the server was down).
    pub refused: Vec<u32>,
    /// Tokens issued.
    pub issued: u64,
    /// Per device: seconds (ms precision) without a valid token after its
    /// first token (0 when it always held one), and the boot-time wait for
    /// the first one.
    pub longest_gap_ms: u64,
    pub devices_with_gap: usize,
    /// Per device, when it first held a token (ms).
    pub first_token_ms: Vec<u64>,
    /// The last time (ms) a device completed a token request that had been
    /// due (or needed) during the outage; `None` without an outage.
    pub last_recovered_ms: Option<u64>,
    /// Polls actually executed (the others were skipped as network-free).
    pub polls: u64,
}

impl Report {
    pub fn total(&self) -> u64 {
        self.requests.iter().map(|&n| u64::from(n)).sum()
    }

    /// Peak requests per second in `[from, to)` seconds, and when.
    pub fn peak(&self, from: u64, to: u64) -> (u32, u64) {
        let to = (to as usize).min(self.requests.len());
        (from as usize..to)
            .map(|s| (self.requests[s], s as u64))
            .max_by_key(|&(n, s)| (n, std::cmp::Reverse(s)))
            .unwrap_or((0, from))
    }

    /// Total requests in `[from, to)` seconds.
    pub fn total_in(&self, from: u64, to: u64) -> u64 {
        let to = (to as usize).min(self.requests.len());
        self.requests[from as usize..to]
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }
}

struct Device {
    /// Millisecond of every second at which the device polls.
    phase: u64,
    /// When the current token stops being valid (ms), 0 before the first.
    valid_until: u64,
    /// Whether a due renewal or a needed token failed during the outage and
    /// has not been completed yet.
    hit_by_outage: bool,
}

/// The first instant in `[lo, hi]` at which `due(t)` holds (it is monotonic
/// in `t`); `hi` when none before.
fn first_due(lo: u64, hi: u64, due: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if due(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The first poll second of a device with `phase` at or after `ms`.
fn poll_second_at_or_after(ms: u64, phase: u64) -> u64 {
    ms.saturating_sub(phase).div_ceil(1000)
}

/// Runs `s`.
pub fn run(s: &Scenario) -> Report {
    let horizon = s.horizon_s;
    let clock = Cell::new(0u64);
    let requests = RefCell::new(vec![0u32; horizon as usize + 1]);
    let refused = RefCell::new(vec![0u32; horizon as usize + 1]);
    let total = Cell::new(0u64);
    let down = |sec: u64| s.outage.is_some_and(|(a, b)| (a..b).contains(&sec));
    let reply = response(s.lifetime_s);
    let mut connect = |_: &TokenEndpoint<'_>| -> Result<Conn, Refused> {
        let sec = clock.get() / 1000;
        requests.borrow_mut()[sec as usize] += 1;
        total.set(total.get() + 1);
        if down(sec) {
            refused.borrow_mut()[sec as usize] += 1;
            return Err(Refused);
        }
        Ok(Conn {
            response: reply,
            pos: 0,
        })
    };

    let mut seeds = SplitMix::new(s.seed);
    let rngs: Vec<DeviceRng> = (0..s.devices)
        .map(|_| DeviceRng::new(seeds.next_u64()))
        .collect();
    let mut devices: Vec<Device> = (0..s.devices)
        .map(|_| Device {
            phase: seeds.next_u64() % 1000,
            valid_until: 0,
            hit_by_outage: false,
        })
        .collect();
    let mut clients: Vec<Client<'_, SimClock<'_>, 0, 64, 0, Jitter<'_>>> = rngs
        .iter()
        .map(|rng| {
            let config = Config::<0>::new(
                TokenEndpoint::parse("https://as.example/oauth2/token").expect("endpoint"),
                ClientId::new("device").expect("client id"),
                ClientAuth::ClientIdOnly,
            );
            Client::new(config, SimClock(&clock))
                .with_policy(s.policy)
                .with_backoff(s.backoff)
                .with_random(Jitter { rng, on: s.random })
        })
        .collect();

    // A calendar queue: the devices to poll in each second.
    let mut queue: Vec<Vec<u32>> = vec![Vec::new(); horizon as usize + 1];
    queue[0] = (0..s.devices as u32).collect();
    let mut first_token_ms = vec![u64::MAX; s.devices];
    let mut longest_gap_ms = 0;
    let mut with_gap = vec![false; s.devices];
    let mut last_recovered_ms = None;
    let mut polls = 0u64;
    let mut buf = [0u8; 512];

    for sec in 0..=horizon {
        let mut due = std::mem::take(&mut queue[sec as usize]);
        // In phase order, so the shared clock never goes backwards.
        due.sort_unstable_by_key(|&i| (devices[i as usize].phase, i));
        for i in due {
            let i = i as usize;
            let dev = &mut devices[i];
            let client = &mut clients[i];
            let now = sec * 1000 + dev.phase;
            clock.set(now);
            polls += 1;
            let expected_network = client.freshness() != Freshness::Fresh
                && client.next_attempt().is_none()
                && client.blocked().is_none();
            // Only polls that reach the network are scheduled.
            assert!(
                expected_network,
                "device {i} at {now} ms was woken for nothing"
            );
            let before = total.get();
            let result = client.token(&mut connect, &mut buf).map(|_| ());
            assert_eq!(
                total.get() - before,
                1,
                "device {i} at {now} ms: one request"
            );
            {
                match result {
                    Ok(()) => {
                        let t = client.cached().expect("a new token");
                        if dev.valid_until > 0 && now > dev.valid_until {
                            longest_gap_ms = longest_gap_ms.max(now - dev.valid_until);
                            with_gap[i] = true;
                        }
                        if first_token_ms[i] == u64::MAX {
                            first_token_ms[i] = now;
                        }
                        if dev.hit_by_outage {
                            dev.hit_by_outage = false;
                            last_recovered_ms = Some(last_recovered_ms.unwrap_or(0).max(now));
                        }
                        dev.valid_until = t.expires_at().as_millis();
                    }
                    Err(_) => dev.hit_by_outage = true,
                }
            }
            // When is the next poll that can reach the network?
            let next_ms = if let Some(at) = client.next_attempt() {
                at.as_millis()
            } else if client.blocked().is_some() {
                u64::MAX
            } else if let Some(t) = client
                .cached()
                .filter(|_| client.freshness() == Freshness::Fresh)
            {
                // The token's own decision, searched to the millisecond.
                let policy = client.policy();
                let (obtained, expires) = (t.obtained_at().as_millis(), t.expires_at().as_millis());
                first_due(obtained, expires, |ms| {
                    t.freshness(Instant::from_millis(ms), policy) != Freshness::Fresh
                })
            } else {
                now + 1
            };
            let next_sec = poll_second_at_or_after(next_ms, dev.phase).max(sec + 1);
            if next_sec <= horizon {
                queue[next_sec as usize].push(i as u32);
            }
        }
    }
    // Devices still without a valid token at the end.
    let end = horizon * 1000 + 999;
    for (i, d) in devices.iter().enumerate() {
        if d.valid_until > 0 && d.valid_until < end {
            longest_gap_ms = longest_gap_ms.max(end - d.valid_until);
            with_gap[i] = true;
        }
    }
    let requests = requests.into_inner();
    let refused = refused.into_inner();
    let total_ok: u64 = requests
        .iter()
        .zip(&refused)
        .map(|(&a, &b)| u64::from(a - b))
        .sum();
    Report {
        name: s.name,
        requests,
        refused,
        issued: total_ok,
        longest_gap_ms,
        devices_with_gap: with_gap.iter().filter(|&&g| g).count(),
        first_token_ms,
        last_recovered_ms,
        polls,
    }
}
