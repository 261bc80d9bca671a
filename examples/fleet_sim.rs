//! Fleet simulation: 10,000 devices booted within the same second, 1 h
//! tokens, simulated second by second with real `Client`s on one fake clock
//! and an in-memory authorization server that counts requests (see
//! `examples/support/fleet.rs`). Prints Markdown tables: the request peak
//! with and without renewal jitter, and a 60 s outage with and without
//! backoff. Deterministic (seeded); `tests/fleet.rs` asserts the same runs.
//!
//! ```text
//! cargo run --release --example fleet_sim
//! ```

#[path = "support/fleet.rs"]
mod fleet;

use std::time::Duration;

use embedded_oauth2::RefreshPolicy;
use fleet::{Report, Scenario, run};

fn main() {
    let t0 = std::time::Instant::now();
    let hours = 4;
    let horizon = hours * 3600;

    let jitter = run(&Scenario::new(
        "default: `Random` + 5 min jitter window",
        horizon,
    ));
    let mut s = Scenario::new("`with_jitter(0)`", horizon);
    s.policy = RefreshPolicy::new().with_jitter(Duration::ZERO);
    let zero = run(&s);
    let mut s = Scenario::new("no `Random`", horizon);
    s.random = false;
    let none = run(&s);

    println!(
        "## Renewal jitter: 10,000 devices booted in the same second, 1 h tokens, 60 s margin, {hours} h\n"
    );
    println!(
        "| renewal | boot second (req) | renewal peak (req/s) | busiest minute (req) | total requests |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in [&jitter, &zero, &none] {
        let (peak, at) = r.peak(60, horizon + 1);
        println!(
            "| {} | {} | {} (at {} s) | {} | {} |",
            r.name,
            r.requests[0],
            peak,
            at,
            busiest_minute(r, 60, horizon + 1),
            r.total()
        );
    }
    println!(
        "\nJitter cuts the renewal peak by {:.0}x (the boot second itself is the same: every device needs its first token).\n",
        f64::from(zero.peak(60, horizon + 1).0) / f64::from(jitter.peak(60, horizon + 1).0)
    );

    outage_table(
        "Server down (connection refused) for 60 s during the first renewal wave, 3300–3360 s",
        3300,
        4200,
        true,
    );
    outage_table(
        "Server down for 60 s at boot, 0–60 s (no device has a token yet)",
        0,
        900,
        true,
    );
    eprintln!("simulated in {:.1?}", t0.elapsed());
}

fn busiest_minute(r: &Report, from: u64, to: u64) -> u64 {
    (from..to.saturating_sub(60))
        .step_by(1)
        .map(|s| r.total_in(s, s + 60))
        .max()
        .unwrap_or(0)
}

fn outage_table(title: &str, start: u64, horizon: u64, both: bool) {
    let end = start + 60;
    let mut with = Scenario::new("default `Backoff` (2 s … 5 min, full jitter)", horizon);
    with.outage = Some((start, end));
    let mut without = Scenario::new("retry every second (no backoff)", horizon);
    without.outage = Some((start, end));
    without.backoff = Scenario::every_second();
    println!("## {title}\n");
    println!(
        "| retries | requests during the outage | peak req/s during | peak req/s in the 10 s after | requests in the 5 min after | last affected device served | tokens lapsed (longest) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let runs: Vec<&Scenario> = if both {
        vec![&with, &without]
    } else {
        vec![&with]
    };
    for s in runs {
        let r = run(s);
        let recovered = r.last_recovered_ms.map_or("—".to_owned(), |ms| {
            format!("{:+.0} s", ms as f64 / 1000.0 - end as f64)
        });
        let lapsed = if r.devices_with_gap == 0 {
            "0".to_owned()
        } else {
            format!(
                "{} ({:.0} s)",
                r.devices_with_gap,
                r.longest_gap_ms as f64 / 1000.0
            )
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            r.total_in(start, end),
            r.peak(start, end).0,
            r.peak(end, end + 10).0,
            r.total_in(end, end + 300),
            recovered,
            lapsed,
        );
    }
    println!();
}
