//! Failing well: which failures are worth retrying, how long to wait
//! (exponential backoff with full jitter, `Retry-After`), and how a fleet
//! avoids renewing in lockstep.
//!
//! The client has no timer: it records when the next attempt is allowed and
//! tells the caller ([`Client::next_attempt`](crate::Client::next_attempt),
//! [`Error::Backoff`](crate::Error::Backoff)). Which failures are transient
//! is the error's own knowledge ([`Error::retry`](crate::Error::retry)).

use core::time::Duration;

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

    /// Whether this source is to be used (default `true`): a source that
    /// answers `false` counts as none (backoff waits its full ceiling,
    /// renewals are not jittered), e.g. to switch jitter off at run time.
    fn enabled(&self) -> bool {
        true
    }
}

impl<F: Fn() -> u32> Random for F {
    fn next_u32(&self) -> u32 {
        self()
    }
}

/// A borrowed source, e.g. one the caller also inspects.
impl Random for &dyn Random {
    fn next_u32(&self) -> u32 {
        (**self).next_u32()
    }

    fn enabled(&self) -> bool {
        (**self).enabled()
    }
}

/// `sample / 2^32` of `ms`: a uniform point in `[0, ms)`, exactly, without a
/// 128-bit product:
/// `(hi·2^32 + lo)·s >> 32 = hi·s + (lo·s >> 32)`.
pub(crate) fn fraction_ms(ms: u64, sample: u32) -> u64 {
    let (hi, lo) = (ms >> 32, ms & 0xFFFF_FFFF);
    let s = u64::from(sample);
    hi.saturating_mul(s).saturating_add((lo * s) >> 32)
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
#[non_exhaustive]
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
        Duration::from_millis(self.delay_ms(
            failures,
            sample,
            retry_after.map(crate::time::duration_millis),
        ))
    }

    /// [`Backoff::delay`] in milliseconds (the client's own arithmetic).
    pub(crate) fn delay_ms(&self, failures: u32, sample: u32, retry_after_ms: Option<u64>) -> u64 {
        use crate::time::duration_millis as ms;
        let shift = failures.saturating_sub(1).min(31);
        let ceiling = ms(self.initial)
            .saturating_mul(1u64 << shift)
            .min(ms(self.max));
        let jittered = fraction_ms(ceiling, sample);
        match retry_after_ms {
            Some(ra) => jittered.max(ra.min(ms(self.max_retry_after))),
            None => jittered,
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Short month names, in order (HTTP dates are case-sensitive).
const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
/// Day names, Monday first; the short form is the first three letters.
const DAYS: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];

fn month(b: &[u8]) -> Option<u32> {
    let i = MONTHS.chunks_exact(3).position(|m| m == b)?;
    u32::try_from(i).ok().map(|i| i + 1)
}

/// Parses an HTTP-date (RFC 9110 §5.6.7) into UNIX seconds, in the three
/// formats a recipient must accept:
///
/// * IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
/// * obsolete RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT` (a two-digit year
///   is 19yy from 70 and 20yy below, the RFC's "no more than 50 years in
///   the future" for dates up to 2069)
/// * ANSI C `asctime()`: `Sun Nov  6 08:49:37 1994`
///
/// Fields have exactly their digits (no sign), the day must exist in its
/// month (leap years counted), hours < 24, minutes < 60, seconds ≤ 60, and
/// nothing may follow. Dates before 1970 are refused.
pub(crate) fn parse_http_date(b: &[u8]) -> Option<u64> {
    // What follows the day name, one template per format: `0` a digit, `_`
    // a digit or a space (asctime pads the day), `M` the month (checked
    // below), anything else itself. With where the day, month, year (and
    // its digits) and time start, and whether the day name is the long one.
    const FORMATS: [(&[u8], bool, [usize; 5]); 3] = [
        (b", 00 MMM 0000 00:00:00 GMT", false, [2, 5, 9, 4, 14]),
        (b", 00-MMM-00 00:00:00 GMT", true, [2, 5, 9, 2, 12]),
        (b" MMM _0 00:00:00 0000", false, [5, 1, 17, 4, 8]),
    ];
    let split = b.iter().position(|c| !c.is_ascii_alphabetic())?;
    let (wd, rest) = b.split_at_checked(split)?;
    let &(_, long, [d, mo, y, y_len, t]) = FORMATS.iter().find(|(tpl, ..)| {
        tpl.len() == rest.len()
            && tpl.iter().zip(rest).all(|(&t, &c)| match t {
                b'0' => c.is_ascii_digit(),
                b'_' => c == b' ' || c.is_ascii_digit(),
                b'M' => true,
                _ => t == c,
            })
    })?;
    if !DAYS
        .iter()
        .any(|name| name.get(..if long { name.len() } else { 3 }) == Some(wd))
    {
        return None;
    }
    // The template checked the digits (a space reads as 0).
    let num = |at: usize, n: usize| {
        rest.get(at..at + n)
            .unwrap_or_default()
            .iter()
            .fold(0u32, |v, &c| v * 10 + u32::from(c & 0x0F))
    };
    let (day, month) = (num(d, 2), month(rest.get(mo..mo + 3)?)?);
    let year = match num(y, y_len) {
        yy @ 70..100 if long => 1900 + yy,
        yy if long => 2000 + yy,
        year => year,
    };
    let (h, m, sec) = (num(t, 2), num(t + 3, 2), num(t + 6, 2));
    // A leap second, :60, is allowed.
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let seconds = h * 3600 + m * 60 + sec;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if year < 1970 || day == 0 || day > month_days {
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
    Some(u64::from(days) * 86_400 + u64::from(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RetryAfter;

    #[test]
    fn http_dates_in_the_three_formats() {
        for date in [
            &b"Sun, 06 Nov 1994 08:49:37 GMT"[..],
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(date), Some(784_111_777), "{date:?}");
        }
        assert_eq!(parse_http_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date(b"Thu, 26 Nov 2026 19:00:00 GMT"),
            Some(1_795_719_600)
        );
        assert_eq!(
            parse_http_date(b"Thursday, 26-Nov-26 19:00:00 GMT"),
            Some(1_795_719_600)
        );
        assert_eq!(
            parse_http_date(b"Thu Nov 26 19:00:00 2026"),
            Some(1_795_719_600)
        );
    }

    /// Every month is recognised (expected values from Python's
    /// `calendar.timegm`), including a leap day and a leap second.
    #[test]
    fn http_dates_every_month() {
        let cases: [(&[u8], u64); 14] = [
            (b"Mon, 31 Jan 2022 01:02:03 GMT", 1_643_590_923),
            (b"Tue, 15 Feb 2022 00:00:00 GMT", 1_644_883_200),
            (b"Thu, 29 Feb 2024 12:00:00 GMT", 1_709_208_000),
            (b"Wed, 01 Mar 2023 00:00:00 GMT", 1_677_628_800),
            (b"Sun, 30 Apr 2023 23:59:59 GMT", 1_682_899_199),
            (b"Fri, 05 May 2023 05:05:05 GMT", 1_683_263_105),
            (b"Fri, 30 Jun 2023 06:06:06 GMT", 1_688_105_166),
            (b"Tue, 04 Jul 2023 07:07:07 GMT", 1_688_454_427),
            (b"Thu, 31 Aug 2023 08:08:08 GMT", 1_693_469_288),
            (b"Sat, 30 Sep 2023 09:09:09 GMT", 1_696_064_949),
            (b"Tue, 31 Oct 2023 10:10:10 GMT", 1_698_747_010),
            (b"Thu, 30 Nov 2023 11:11:11 GMT", 1_701_342_671),
            (b"Sun, 31 Dec 2023 23:59:60 GMT", 1_704_067_200),
            // Divisible by 400: a leap year although divisible by 100.
            (b"Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400),
        ];
        for (date, unix) in cases {
            assert_eq!(parse_http_date(date), Some(unix), "{date:?}");
        }
    }

    #[test]
    fn http_dates_out_of_range_or_malformed_are_refused() {
        for bad in [
            &b"Sun, 00 Nov 1994 08:49:37 GMT"[..],
            b"Sun, 32 Jan 1994 08:49:37 GMT",
            b"Sun, 31 Apr 1994 08:49:37 GMT",
            b"Sun, 29 Feb 2023 08:49:37 GMT",
            b"Sun, 29 Feb 1900 08:49:37 GMT",
            // Divisible by 100 and not by 400: not a leap year.
            b"Mon, 29 Feb 2100 08:49:37 GMT",
            b"Xyz Nov  6 08:49:37 1994",
            b"Xyz Nov 16 08:49:37 1994",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            // A four-digit year is the year (only RFC 850's two digits
            // are 19yy/20yy).
            b"Sun, 06 Nov 0094 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 0094",
            b"Sun, 06 Nov 1994 08:60:37 GMT",
            b"Sun, 06 Nov 1994 08:49:61 GMT",
            b"Sun, +6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov +994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 +8:49:37 GMT",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 GMT ",
            b"Sun, 06 Nov 1994 08:49:37 GMT+1",
            b"Sun, 06 Nov 1994 08:49:37 GMTx",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 06 nov 1994 08:49:37 GMT",
            b"Sun, 06 Foo 1994 08:49:37 GMT",
            b"Sun 06 Nov 1994 08:49:37 GMT",
            b"Xyz, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1969 08:49:37 GMT",
            b"Sun,  06 Nov 1994 08:49:37 GMT",
            b"Sunday, 06-Nov-1994 08:49:37 GMT",
            b"Sun, 06-Nov-94 08:49:37 GMT",
            b"Sunday, 06-Nov-94 08:49:37",
            b"Sun Nov 6 08:49:37 1994",
            b"Sun Nov  06 08:49:37 1994",
            b"Sun Nov 31 08:49:37 1994",
            b"Sun Nov  6 08:49:37 1994 GMT",
            b"Sun Nov  6 08:49 1994",
            b"120",
            b"",
        ] {
            assert_eq!(
                parse_http_date(bad),
                None,
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
    }

    /// The 128-bit-free product equals the exact one.
    #[test]
    fn fraction_ms_is_exact() {
        let exact = |ms: u64, s: u32| ((u128::from(ms) * u128::from(s)) >> 32) as u64;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ms = x >> (x % 64);
            let s = (x >> 11) as u32;
            assert_eq!(fraction_ms(ms, s), exact(ms, s), "{ms} {s}");
        }
        for (ms, s) in [
            (0, 0),
            (u64::MAX, u32::MAX),
            (1 << 32, 1),
            ((1 << 32) - 1, u32::MAX),
        ] {
            assert_eq!(fraction_ms(ms, s), exact(ms, s), "{ms} {s}");
        }
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

    /// A closure is a source that yields what it returns; a borrowed source
    /// forwards both the samples and whether it is enabled (a source
    /// switched off at run time stays off behind `&dyn`).
    #[test]
    fn random_sources_forward() {
        struct Off;
        impl Random for Off {
            fn next_u32(&self) -> u32 {
                0xDEAD_BEEF
            }
            fn enabled(&self) -> bool {
                false
            }
        }
        let seven = || 7u32;
        assert_eq!(Random::next_u32(&seven), 7);
        assert!(Random::enabled(&seven));
        let off: &dyn Random = &Off;
        assert_eq!(Random::next_u32(&off), 0xDEAD_BEEF);
        assert!(!Random::enabled(&off));
        let on: &dyn Random = &seven;
        assert_eq!(Random::next_u32(&on), 7);
        assert!(Random::enabled(&on));
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
