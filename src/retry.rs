//! Failing well: which failures are worth retrying, how long to wait
//! (exponential backoff with full jitter, `Retry-After`), and how a fleet
//! avoids renewing in lockstep.
//!
//! The client has no timer: it records when the next attempt is allowed and
//! tells the caller ([`Client::next_attempt`](crate::Client::next_attempt),
//! [`Error::Backoff`]).

use core::time::Duration;

use crate::error::{Error, ErrorCode, HttpError};

/// Whether a failure can go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Retry {
    /// Worth another attempt later: I/O, 5xx, 429, `temporarily_unavailable`,
    /// a garbled response (a captive portal, a broken proxy), a wall clock
    /// not yet set.
    Transient,
    /// Retrying the same request cannot help (`invalid_client`,
    /// `unauthorized_client`, `invalid_scope`, `unsupported_grant_type`, a
    /// configuration or capacity error): the client does not retry it on
    /// its own until [`Client::reset_backoff`](crate::Client::reset_backoff).
    /// (A capacity error is the exception: it depends on the buffer the
    /// caller passes, so the client backs off instead of blocking.)
    Permanent,
}

/// A server's `Retry-After`
/// ([RFC 9110 §10.2.3](https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Seconds(u32),
    /// `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`, as UNIX seconds; turned
    /// into a delay only when a [`WallClock`](crate::WallClock) is known.
    At(u64),
}

impl RetryAfter {
    /// The delay it asks for, given the wall-clock time (needed for dates).
    pub fn delay(&self, unix_now: Option<u64>) -> Option<Duration> {
        match *self {
            RetryAfter::Seconds(s) => Some(Duration::from_secs(u64::from(s))),
            RetryAfter::At(at) => unix_now.map(|now| Duration::from_secs(at.saturating_sub(now))),
        }
    }
}

impl<E> Error<E> {
    /// Whether retrying later can help.
    ///
    /// ```
    /// use embedded_oauth2::{Error, HttpError, Retry};
    /// let e: Error = HttpError::UnexpectedStatus { status: 503, retry_after: None }.into();
    /// assert_eq!(e.retry(), Retry::Transient);
    /// let e: Error = HttpError::UnexpectedStatus { status: 404, retry_after: None }.into();
    /// assert_eq!(e.retry(), Retry::Permanent);
    /// ```
    pub fn retry(&self) -> Retry {
        match self {
            Error::Transport(_)
            | Error::WriteZero
            | Error::NoWallClock
            | Error::Sign
            | Error::Backoff(_) => Retry::Transient,
            Error::Response(_) => Retry::Transient,
            Error::Http(h) => match h {
                HttpError::UnexpectedStatus { status, .. } => {
                    if *status >= 500 || *status == 429 || *status == 408 {
                        Retry::Transient
                    } else {
                        Retry::Permanent
                    }
                }
                // A redirect is how captive portals answer.
                _ => Retry::Transient,
            },
            Error::OAuth(o) => match o.code {
                ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError => Retry::Transient,
                _ if o.status >= 500 || o.status == 429 => Retry::Transient,
                _ => Retry::Permanent,
            },
            Error::Config(_) | Error::Capacity(_) => Retry::Permanent,
        }
    }

    /// The server's `Retry-After`, when the failure carried one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            Error::Http(HttpError::UnexpectedStatus { retry_after, .. }) => *retry_after,
            Error::OAuth(o) => o.retry_after,
            _ => None,
        }
    }
}

/// A caller-supplied random source (the hardware RNG, or a PRNG seeded from
/// it). Only used for timing jitter, never for secrets.
///
/// ```
/// use embedded_oauth2::Random;
/// use core::cell::Cell;
/// let state = Cell::new(0x2545F491u32);
/// let xorshift = || { let mut x = state.get(); x ^= x << 13; x ^= x >> 17; x ^= x << 5; state.set(x); x };
/// assert_ne!(xorshift.next_u32(), xorshift.next_u32());
/// ```
pub trait Random {
    /// A uniformly distributed `u32`.
    fn next_u32(&self) -> u32;
}

impl<F: Fn() -> u32> Random for F {
    fn next_u32(&self) -> u32 {
        self()
    }
}

/// `sample / 2^32` of `d`: a uniform point in `[0, d)`.
pub(crate) fn fraction(d: Duration, sample: u32) -> Duration {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(((u128::from(ms) * u128::from(sample)) >> 32) as u64)
}

/// Exponential backoff with full jitter
/// ([AWS Architecture Blog, "Exponential Backoff And Jitter"](https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/)):
/// after the `n`-th consecutive failure, wait a uniform random time in
/// `[0, min(max, initial × 2^(n-1)))`, but at least what the server asked for
/// with `Retry-After` (capped by `max_retry_after`).
///
/// ```
/// use embedded_oauth2::Backoff;
/// use core::time::Duration;
/// let b = Backoff::new();
/// // Without randomness (sample = u32::MAX) the ceiling shows: 2 s, 4 s, 8 s, …
/// assert_eq!(b.delay(3, u32::MAX, None).as_secs(), 7); // just under 8 s
/// assert_eq!(b.delay(30, u32::MAX, None), Duration::from_millis(299_999)); // capped at 5 min
/// assert_eq!(b.delay(1, 0, Some(Duration::from_secs(120))), Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    /// The ceiling after the first failure (default 2 s).
    pub initial: Duration,
    /// The largest ceiling (default 5 min).
    pub max: Duration,
    /// The longest `Retry-After` honoured (default 1 h): a server cannot
    /// silence a device for a day.
    pub max_retry_after: Duration,
}

impl Backoff {
    /// 2 s initial, 5 min max, `Retry-After` honoured up to 1 h.
    pub const fn new() -> Self {
        Self {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(3600),
        }
    }

    /// Sets [`Backoff::initial`].
    pub const fn with_initial(mut self, d: Duration) -> Self {
        self.initial = d;
        self
    }

    /// Sets [`Backoff::max`].
    pub const fn with_max(mut self, d: Duration) -> Self {
        self.max = d;
        self
    }

    /// Sets [`Backoff::max_retry_after`].
    pub const fn with_max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// The ceiling after `failures` consecutive failures.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << shift).min(self.max)
    }

    /// The wait after `failures` consecutive failures, given a random
    /// `sample` and the server's `Retry-After` as a delay.
    pub fn delay(&self, failures: u32, sample: u32, retry_after: Option<Duration>) -> Duration {
        let jittered = fraction(self.ceiling(failures), sample);
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.max_retry_after)),
            None => jittered,
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into UNIX seconds.
pub(crate) fn parse_http_date(b: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(b).ok()?;
    let mut it = s.split(' ').filter(|p| !p.is_empty());
    let _weekday = it.next()?.strip_suffix(',')?;
    let day: u64 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if it.next()? != "GMT" || it.next().is_some() || !(1970..=9999).contains(&year) {
        return None;
    }
    if day == 0 || day > 31 || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), for years >= 1970.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date(b"Thu, 26 Nov 2026 19:00:00 GMT"),
            Some(1_795_719_600)
        );
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date(b"Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date(b"120"), None);
    }

    #[test]
    fn full_jitter_stays_under_the_ceiling() {
        let b = Backoff::new();
        for n in 1..40 {
            let c = b.ceiling(n);
            assert!(c <= b.max);
            assert!(b.delay(n, u32::MAX, None) < c.max(Duration::from_millis(1)));
            assert_eq!(b.delay(n, 0, None), Duration::ZERO);
        }
        assert_eq!(b.ceiling(1), Duration::from_secs(2));
        assert_eq!(b.ceiling(2), Duration::from_secs(4));
        assert_eq!(b.ceiling(9), Duration::from_secs(300));
        assert_eq!(b.delay(1, 1 << 31, None), Duration::from_secs(1));
        // Retry-After wins when longer, and is capped.
        assert_eq!(
            b.delay(1, 0, Some(Duration::from_secs(10))),
            Duration::from_secs(10)
        );
        assert_eq!(
            b.delay(1, 0, Some(Duration::from_secs(86_400))),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn retry_after_dates_need_a_wall_clock() {
        assert_eq!(RetryAfter::At(1000).delay(None), None);
        assert_eq!(
            RetryAfter::At(1000).delay(Some(940)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(RetryAfter::At(1000).delay(Some(2000)), Some(Duration::ZERO));
        assert_eq!(
            RetryAfter::Seconds(5).delay(None),
            Some(Duration::from_secs(5))
        );
    }
}
