//! Fleet simulation: 10,000 real `Client<_, 0, 64, 0>`s booted within the
//! same second, on one fake clock, polling `token()` every second against
//! an in-memory authorization server that counts requests per second
//! (deterministic: seeded splitmix64, no wall clock; the simulator is
//! `examples/support/fleet.rs`, the printed tables `examples/fleet_sim.rs`).
//!
//! * Renewal jitter: over 4 h (four renewals each), the default 5 min window
//!   cuts the renewal peak from all 10,000 devices in one second to a few
//!   dozen per second.
//! * A 60 s outage during the renewal wave: the default backoff sends a
//!   fraction of the requests of a fleet retrying every second, with no
//!   thundering herd at recovery, every affected device is served within
//!   5 min, and no device's token lapses.
//! * A 60 s outage at boot: every device gets its first token within 5 min
//!   of recovery, without 10,000 requests in the recovery second.

#[path = "../examples/support/fleet.rs"]
mod fleet;

use std::time::Duration;

use embedded_oauth2::RefreshPolicy;
use fleet::{Scenario, run};

const DEVICES: u32 = 10_000;
const HORIZON: u64 = 4 * 3600;

#[test]
fn renewal_jitter_cuts_the_peak_by_far_more_than_10x() {
    let jitter = run(&Scenario::new("jitter", HORIZON));
    let mut s = Scenario::new("with_jitter(0)", HORIZON);
    s.policy = RefreshPolicy::new().with_jitter(Duration::ZERO);
    let lockstep = run(&s);
    for r in [&jitter, &lockstep] {
        assert_fleet_basics(r);
    }
    // Without jitter, the whole fleet renews in one second every hour.
    assert_lockstep(&lockstep);
    // With jitter, the first wave spreads over the window (3240, 3540] s
    // after each device's boot millisecond.
    assert_eq!(jitter.total_in(1, 3240), 0);
    assert_eq!(jitter.total_in(3240, 3541), u64::from(DEVICES));
    let (peak, _) = jitter.peak(60, HORIZON + 1);
    let (lock_peak, _) = lockstep.peak(60, HORIZON + 1);
    println!("renewal peak: {peak} req/s with jitter, {lock_peak} req/s without");
    assert!(peak * 10 <= lock_peak, "{peak} vs {lock_peak}");
    assert!(peak <= 100, "{peak} req/s");
}

/// Without a `Random` there is no renewal jitter either: lockstep.
#[test]
fn without_random_the_fleet_renews_in_lockstep() {
    let mut s = Scenario::new("no random", HORIZON);
    s.random = false;
    let r = run(&s);
    assert_fleet_basics(&r);
    assert_lockstep(&r);
}

fn assert_fleet_basics(r: &fleet::Report) {
    {
        // Everyone's first token in the boot second, then four renewals
        // each in 4 h (a renewal comes 54–59 min after the last).
        assert_eq!(r.requests[0], DEVICES, "{}", r.name);
        assert_eq!(r.total(), 5 * u64::from(DEVICES), "{}", r.name);
        assert_eq!(r.issued, 5 * u64::from(DEVICES), "{}", r.name);
        assert_eq!(r.devices_with_gap, 0, "{}: a token lapsed", r.name);
        assert_eq!(r.polls, r.total(), "{}: only network polls", r.name);
    }
}

/// The whole fleet renews in one second every hour: exactly at expiry -
/// margin (3540 s after boot; every device booted within second 0).
fn assert_lockstep(r: &fleet::Report) {
    assert_eq!(r.peak(60, HORIZON + 1), (DEVICES, 3540), "{}", r.name);
    for k in 1..=4u64 {
        assert_eq!(
            r.requests[(k * 3540) as usize],
            DEVICES,
            "{} wave {k}",
            r.name
        );
    }
}

#[test]
fn backoff_during_an_outage_in_the_renewal_wave() {
    let (start, end) = (3300, 3360);
    let mut s = Scenario::new("default backoff", 4200);
    s.outage = Some((start, end));
    let with = run(&s);
    s.name = "retry every second";
    s.backoff = Scenario::every_second();
    let without = run(&s);

    for r in [&with, &without] {
        // Refused only while down; afterwards every affected device is served.
        assert_eq!(
            r.total_in(start, end),
            r.refused.iter().map(|&n| u64::from(n)).sum::<u64>()
        );
        let last = r.last_recovered_ms.expect("devices were hit") / 1000;
        assert!(last < end + 300, "{}: last served at {last} s", r.name);
        // Every device renewed once in the wave (plus the failed attempts).
        assert_eq!(r.issued, 2 * u64::from(DEVICES), "{}", r.name);
    }
    let during = (with.total_in(start, end), without.total_in(start, end));
    let at_recovery = (with.peak(end, end + 10).0, without.peak(end, end + 10).0);
    let peak_during = (with.peak(start, end).0, without.peak(start, end).0);
    println!(
        "outage in the wave: requests during {during:?}, peak during {peak_during:?}, \
         peak in the 10 s after {at_recovery:?}, last served {:?} / {:?} ms, lapsed {} ({} ms) / {}",
        with.last_recovered_ms,
        without.last_recovered_ms,
        with.devices_with_gap,
        with.longest_gap_ms,
        without.devices_with_gap
    );
    // Backoff: at least 5x fewer requests while down, 5x lower peaks while
    // down and at recovery (no thundering herd when the server comes back).
    assert!(during.0 * 5 <= during.1, "{during:?}");
    assert!(peak_during.0 * 5 <= peak_during.1, "{peak_during:?}");
    assert!(at_recovery.0 * 5 <= at_recovery.1, "{at_recovery:?}");
    // Retrying every second: every waiting device hits the recovery second.
    assert!(
        without.requests[end as usize] > 1_900,
        "{}",
        without.requests[end as usize]
    );
    // No device's token lapses: a backoff never runs past the last second
    // of a still-valid token, so a device renews before its expiry once
    // the server is back (before that fix, one device of 10,000 slept past
    // it, for 11 s).
    for r in [&with, &without] {
        assert_eq!(
            (r.devices_with_gap, r.longest_gap_ms),
            (0, 0),
            "{}: a token lapsed",
            r.name
        );
    }
}

#[test]
fn backoff_during_an_outage_at_boot() {
    let (start, end) = (0, 60);
    let mut s = Scenario::new("default backoff", 900);
    s.outage = Some((start, end));
    let r = run(&s);
    // Retrying every second would be 10,000 requests in each of the 60 s
    // (600,000; `examples/fleet_sim.rs` simulates it) and 10,000 in the
    // recovery second.
    let during = r.total_in(start, end);
    println!(
        "outage at boot: {during} requests during, peak after {:?}, last token at {:?} ms",
        r.peak(end, end + 10),
        r.last_recovered_ms
    );
    assert!(during * 5 <= 600_000, "{during}");
    assert!(
        r.peak(end, end + 10).0 <= 1_000,
        "{:?}",
        r.peak(end, end + 10)
    );
    // Every device holds a token within 5 min of recovery.
    assert!(
        r.first_token_ms
            .iter()
            .all(|&t| (end * 1000..(end + 300) * 1000).contains(&t))
    );
    assert_eq!(r.issued, u64::from(DEVICES));
}
