//! Guest instruction counts per phase, for `scripts/device-report.sh`.
//!
//! Under `qemu-system-arm -icount shift=0` every instruction advances the
//! virtual clock by 1 ns, and SysTick counts that clock: a span of ticks
//! is a count of instructions ([`clock::INSNS_PER_TICK`] per tick). Waiting
//! for the UART is instructions too (a polling loop), so each span also
//! counts its idle polls; `scripts/device-report.py` learns what a poll
//! costs from two runs that differ only in how long the bridge holds the
//! server's answer, and subtracts it. Without `-icount` the figures mean
//! nothing (the clock then runs on host time).
//!
//! [`Metered`] wraps a connector: `connect` (TCP through the bridge plus the
//! TLS handshake) counts as handshake; the rest of a token fetch is the
//! record layer plus the crate's own work (request, response, parsing,
//! cache). The report script tells those two apart by running the same
//! fetch over plain HTTP, where the rest is the crate's work alone. (Only
//! `connect` is wrapped: wrapping the connection would put a second copy
//! of the TLS session state, 1.8 KiB, on the deepest stack path.)

use core::cell::Cell;

use embedded_oauth2::TokenEndpoint;
use embedded_oauth2::blocking::Connect;

use crate::bridge;
use crate::clock;

/// A point in time: ticks and idle polls so far.
#[derive(Clone, Copy, Default)]
pub struct Mark {
    ticks: u64,
    polls: u32,
}

pub fn mark() -> Mark {
    Mark {
        ticks: clock::now_ticks(),
        polls: bridge::idle_polls(),
    }
}

/// Ticks and idle polls between two marks, accumulated.
#[derive(Clone, Copy, Default)]
pub struct Span {
    ticks: u64,
    polls: u64,
}

impl Span {
    pub fn between(a: Mark, b: Mark) -> Self {
        Self {
            ticks: b.ticks.saturating_sub(a.ticks),
            polls: u64::from(b.polls.wrapping_sub(a.polls)),
        }
    }

    pub fn add(self, o: Span) -> Self {
        Self {
            ticks: self.ticks + o.ticks,
            polls: self.polls + o.polls,
        }
    }

    pub fn sub(self, o: Span) -> Self {
        Self {
            ticks: self.ticks.saturating_sub(o.ticks),
            polls: self.polls.saturating_sub(o.polls),
        }
    }

    /// Instructions (under `-icount shift=0`), waiting included.
    pub fn insns(self) -> u64 {
        self.ticks * clock::INSNS_PER_TICK
    }

    /// Idle polls of the link (waiting) in the span.
    pub fn polls(self) -> u64 {
        self.polls
    }
}

/// Time spent opening connections (TCP through the bridge, then the TLS
/// handshake) so far.
#[derive(Default)]
pub struct Meters {
    pub handshake: Cell<Span>,
}

impl Meters {
    fn charge(cell: &Cell<Span>, since: Mark) {
        cell.set(cell.get().add(Span::between(since, mark())));
    }
}

/// A connector whose connections are metered.
pub struct Metered<'m, K> {
    pub inner: K,
    pub meters: &'m Meters,
}

impl<K: Connect> Connect for Metered<'_, K> {
    type Error = K::Error;
    type Connection<'c>
        = K::Connection<'c>
    where
        Self: 'c;

    fn connect(&mut self, ep: &TokenEndpoint<'_>) -> Result<Self::Connection<'_>, K::Error> {
        let start = mark();
        let conn = self.inner.connect(ep);
        Meters::charge(&self.meters.handshake, start);
        conn
    }

    fn close<'c>(conn: Self::Connection<'c>) -> Result<(), K::Error>
    where
        Self: 'c,
    {
        K::close(conn)
    }
}
