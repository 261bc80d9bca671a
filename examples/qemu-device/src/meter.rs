//! Guest instruction counts per phase, for `scripts/device-report.sh`.
//!
//! Under `qemu-system-arm -icount shift=0` every instruction advances the
//! virtual clock by 1 ns, and SysTick counts that clock: a span of ticks
//! is a count of instructions ([`clock::INSNS_PER_TICK`] per tick). Waiting
//! for the UART is instructions too (a polling loop), so each span also
//! counts the idle polls in it and subtracts what a poll costs, measured at
//! boot by [`calibrate`] (under `-icount` QEMU 7.2 measures 0: 50,000 idle
//! polls leave the virtual clock where it was, so waiting does not inflate
//! the counts either way). Without `-icount` the figures mean nothing (the
//! clock then runs on host time); the report script runs with it.
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

use crate::bridge::{self, Bridge, Link};
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

    /// Instructions, less the waiting (`milli_per_poll` / 1000 each).
    pub fn insns(self, milli_per_poll: u64) -> u64 {
        (self.ticks * clock::INSNS_PER_TICK).saturating_sub(self.polls * milli_per_poll / 1000)
    }
}

/// Polls of the calibration run.
const CALIBRATION_POLLS: u32 = 50_000;

/// What one idle poll costs, in thousandths of an instruction.
pub fn calibrate<L: Link>(bridge: &Bridge<L>) -> u64 {
    let a = mark();
    bridge.calibrate(CALIBRATION_POLLS);
    let span = Span::between(a, mark());
    crate::console::report("calibration_ticks", span.ticks);
    crate::console::report("calibration_polls", span.polls);
    span.ticks * clock::INSNS_PER_TICK * 1000 / u64::from(CALIBRATION_POLLS)
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
