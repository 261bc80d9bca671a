//! The caller's monotonic clock and the refresh policy.

use core::time::Duration;

/// A point on the caller's **monotonic** clock, in milliseconds since an
/// arbitrary origin (typically boot).
///
/// Wall-clock time is deliberately not used for expiry: an NTP step after boot
/// must not make a token look expired or eternal.
///
/// ```
/// use embedded_oauth2::Instant;
/// use core::time::Duration;
/// let t = Instant::from_secs(10) + Duration::from_millis(1500);
/// assert_eq!(t.as_millis(), 11_500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The origin.
    pub const ZERO: Self = Self { millis: 0 };

    /// From milliseconds since the clock's origin.
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// From seconds since the clock's origin.
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            millis: secs.saturating_mul(1000),
        }
    }

    /// Milliseconds since the clock's origin.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// `self + d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self {
            millis: self.millis.saturating_add(duration_millis(d)),
        }
    }

    /// `self + ms` milliseconds, saturating.
    pub(crate) const fn add_ms(self, ms: u64) -> Self {
        Self {
            millis: self.millis.saturating_add(ms),
        }
    }

    /// Milliseconds from `earlier` to `self`, zero when `earlier` is later.
    pub(crate) const fn ms_since(self, earlier: Instant) -> u64 {
        self.millis.saturating_sub(earlier.millis)
    }

    /// `self - d`, saturating at the origin.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self {
            millis: self.millis.saturating_sub(duration_millis(d)),
        }
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

/// `d` in whole milliseconds, saturating. (The client's own arithmetic is
/// in `u64` milliseconds: on a 32-bit core, building `Duration`s from
/// milliseconds or dividing them links a 64-bit division.)
#[inline(never)]
pub(crate) fn duration_millis(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()))
}

/// A monotonic clock supplied by the caller.
///
/// ```
/// use embedded_oauth2::{Clock, Instant};
/// struct Ticks; // e.g. embassy_time::Instant::now().as_millis()
/// impl Clock for Ticks {
///     fn now(&self) -> Instant { Instant::from_millis(42) }
/// }
/// assert_eq!(Ticks.now(), Instant::from_millis(42));
/// ```
pub trait Clock {
    /// The current time. Must never go backwards.
    fn now(&self) -> Instant;
}

impl<F: Fn() -> Instant> Clock for F {
    fn now(&self) -> Instant {
        self()
    }
}

/// The embassy time driver as the client's clock (feature `embassy-time`):
/// `Client::new(config, EmbassyClock)`.
///
/// The firmware's HAL provides the time driver. For tests on the host,
/// give embassy-time its std driver and a timer queue in your
/// dev-dependencies, or `Timer` does not link:
/// `embassy-time = { version = "0.5", features = ["std", "generic-queue-8"] }`.
///
/// ```
/// # #[cfg(feature = "embassy-time")] {
/// use embedded_oauth2::{Clock, EmbassyClock, Instant};
/// let now: Instant = EmbassyClock.now();
/// assert_eq!(Instant::from(embassy_time::Instant::from_millis(1500)), Instant::from_millis(1500));
/// # let _ = now; }
/// ```
#[cfg(feature = "embassy-time")]
#[cfg_attr(docsrs, doc(cfg(feature = "embassy-time")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyClock;

#[cfg(feature = "embassy-time")]
impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        embassy_time::Instant::now().into()
    }
}

#[cfg(feature = "embassy-time")]
impl From<embassy_time::Instant> for Instant {
    fn from(t: embassy_time::Instant) -> Self {
        Instant::from_millis(t.as_millis())
    }
}

/// A wall clock: UNIX time in seconds, once the device knows it (after NTP,
/// GNSS, a cellular network time or an RTC with a backup battery).
///
/// Assertions carry `iat` and `exp` in wall-clock time, which servers check
/// against theirs; token expiry uses the monotonic [`Clock`](crate::Clock)
/// instead. Return `None` until the time is known: the request then fails
/// with [`Error::NoWallClock`](crate::Error::NoWallClock) instead of sending an assertion from 1970.
///
/// ```
/// use embedded_oauth2::WallClock;
/// let synced = || Some(1_767_225_600u64);
/// assert_eq!(synced.unix_time(), Some(1_767_225_600));
/// let booting = || None::<u64>;
/// assert_eq!(booting.unix_time(), None);
/// ```
pub trait WallClock {
    /// Seconds since 1970-01-01T00:00:00Z, or `None` when not known yet.
    fn unix_time(&self) -> Option<u64>;
}

impl<F: Fn() -> Option<u64>> WallClock for F {
    fn unix_time(&self) -> Option<u64> {
        self()
    }
}

/// A borrowed wall clock.
impl WallClock for &dyn WallClock {
    fn unix_time(&self) -> Option<u64> {
        (**self).unix_time()
    }
}

/// Where a token stands on the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Freshness {
    /// Valid and not yet within the refresh margin: use it.
    Fresh,
    /// Still valid but within the refresh margin: renew it, and keep using
    /// it if renewal fails.
    RefreshDue,
    /// Past its lifetime: do not present it.
    Expired,
}

/// When to renew a token, and how long a token lives when the server does not
/// say (`expires_in` is only RECOMMENDED in RFC 6749 §5.1).
///
/// ```
/// use embedded_oauth2::RefreshPolicy;
/// use core::time::Duration;
/// let p = RefreshPolicy::new()
///     .with_margin(Duration::from_secs(30))
///     .with_default_lifetime(Duration::from_secs(300));
/// assert_eq!(p.margin, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// Renew this long before expiry (default 60 s). When the token lives
    /// shorter than twice the margin, half its lifetime is used instead, so a
    /// short-lived token is not refreshed on every call.
    pub margin: Duration,
    /// Lifetime assumed when the response has no `expires_in` (default 300 s).
    pub default_lifetime: Duration,
    /// Upper bound on any lifetime the server announces (default 1 day),
    /// so a hostile or broken `expires_in` cannot pin a token forever.
    pub max_lifetime: Duration,
    /// Width of the window before the margin in which a client with a
    /// [`Random`](crate::Random) source renews, at a random point (default
    /// 5 min; at most a quarter of the token's lifetime is used). Ten
    /// thousand devices booted together then spread their renewals over the
    /// window instead of hitting the server in the same second.
    pub jitter: Duration,
    /// The longest time automatic fetches are held apart (default 10 s).
    /// The hold-back after a fetch is this, but never more than half the
    /// token's lifetime, so a short-lived token is always renewed before it
    /// expires, and never less than 1 s: `expires_in: 0` or `1` (broken or
    /// hostile) costs one fetch a second, not one per call
    /// ([`RefreshPolicy::hold_back`]). Meanwhile
    /// [`Client::token`](crate::Client::token) hands out a token that is due
    /// but valid, or [`Error::HeldBack`](crate::Error::HeldBack) when none
    /// is. An explicit `fetch`, and the one renewal after a refused token,
    /// are not held back. `Duration::ZERO` turns it off.
    pub min_interval: Duration,
}

impl RefreshPolicy {
    /// The defaults: 60 s margin, 300 s default lifetime, 1 day maximum, 5 min
    /// jitter window, at least 10 s between automatic fetches.
    pub const fn new() -> Self {
        Self {
            margin: Duration::from_secs(60),
            default_lifetime: Duration::from_secs(300),
            max_lifetime: Duration::from_secs(86_400),
            jitter: Duration::from_secs(300),
            min_interval: Duration::from_secs(10),
        }
    }

    /// Sets [`RefreshPolicy::min_interval`].
    pub const fn with_min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    /// How long automatic fetches are held back after one that gave a
    /// token of `lifetime`: [`RefreshPolicy::min_interval`], at most half
    /// the lifetime (when a short-lived token is due for renewal) and at
    /// least 1 s (or `min_interval`, if that is shorter).
    ///
    /// ```
    /// use core::time::Duration;
    /// use embedded_oauth2::RefreshPolicy;
    /// let p = RefreshPolicy::new(); // min_interval 10 s
    /// assert_eq!(p.hold_back(Duration::from_secs(3600)), Duration::from_secs(10));
    /// assert_eq!(p.hold_back(Duration::from_secs(4)), Duration::from_secs(2));
    /// assert_eq!(p.hold_back(Duration::ZERO), Duration::from_secs(1));
    /// let off = p.with_min_interval(Duration::ZERO);
    /// assert_eq!(off.hold_back(Duration::ZERO), Duration::ZERO);
    /// ```
    pub fn hold_back(&self, lifetime: Duration) -> Duration {
        (lifetime / 2)
            .max(Duration::from_secs(1))
            .min(self.min_interval)
    }

    /// Sets [`RefreshPolicy::jitter`].
    pub const fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The jitter window used for a token of `lifetime`.
    pub fn jitter_window(&self, lifetime: Duration) -> Duration {
        Duration::from_millis(self.jitter_window_ms(duration_millis(lifetime)))
    }

    /// [`RefreshPolicy::jitter_window`] in milliseconds.
    pub(crate) fn jitter_window_ms(&self, lifetime_ms: u64) -> u64 {
        duration_millis(self.jitter).min(lifetime_ms >> 2)
    }

    /// [`RefreshPolicy::effective_margin`] in milliseconds.
    pub(crate) fn effective_margin_ms(&self, lifetime_ms: u64) -> u64 {
        duration_millis(self.margin).min(lifetime_ms >> 1)
    }

    /// Sets [`RefreshPolicy::margin`].
    pub const fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Sets [`RefreshPolicy::default_lifetime`].
    pub const fn with_default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// Sets [`RefreshPolicy::max_lifetime`].
    pub const fn with_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// The lifetime to assume for a token with the given `expires_in`.
    pub fn lifetime(&self, expires_in: Option<u64>) -> Duration {
        match expires_in {
            Some(s) => Duration::from_secs(s).min(self.max_lifetime),
            None => self.default_lifetime.min(self.max_lifetime),
        }
    }

    /// The margin to use for a token of the given lifetime.
    pub fn effective_margin(&self, lifetime: Duration) -> Duration {
        Duration::from_millis(self.effective_margin_ms(duration_millis(lifetime)))
    }

    /// Classifies a token obtained at `obtained` with `lifetime` at `now`.
    pub fn freshness(&self, obtained: Instant, lifetime: Duration, now: Instant) -> Freshness {
        self.freshness_jittered(obtained, lifetime, Duration::ZERO, now)
    }

    /// As [`RefreshPolicy::freshness`], renewing `early` sooner (clamped to
    /// the jitter window).
    pub fn freshness_jittered(
        &self,
        obtained: Instant,
        lifetime: Duration,
        early: Duration,
        now: Instant,
    ) -> Freshness {
        self.freshness_ms(
            obtained,
            duration_millis(lifetime),
            duration_millis(early),
            now,
        )
    }

    /// [`RefreshPolicy::freshness_jittered`] in milliseconds.
    pub(crate) fn freshness_ms(
        &self,
        obtained: Instant,
        lifetime_ms: u64,
        early_ms: u64,
        now: Instant,
    ) -> Freshness {
        // A token from "the future": the clock went backwards or wrapped
        // (a 32-bit millisecond tick does after 49.7 days). Its age is
        // unknown, so it is not presented.
        if now < obtained {
            return Freshness::Expired;
        }
        let expires = obtained.add_ms(lifetime_ms);
        let early = early_ms.min(self.jitter_window_ms(lifetime_ms));
        let refresh_at = Instant::from_millis(
            expires
                .as_millis()
                .saturating_sub(self.effective_margin_ms(lifetime_ms))
                .saturating_sub(early),
        );
        if now >= expires {
            Freshness::Expired
        } else if now >= refresh_at {
            Freshness::RefreshDue
        } else {
            Freshness::Fresh
        }
    }
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_boundaries() {
        let p = RefreshPolicy::new().with_margin(Duration::from_secs(60));
        let t0 = Instant::from_secs(100);
        let life = Duration::from_secs(3600);
        assert_eq!(
            p.freshness(t0, life, Instant::from_secs(100)),
            Freshness::Fresh
        );
        assert_eq!(
            p.freshness(t0, life, Instant::from_millis(3_639_999)),
            Freshness::Fresh
        );
        assert_eq!(
            p.freshness(t0, life, Instant::from_secs(3640)),
            Freshness::RefreshDue
        );
        assert_eq!(
            p.freshness(t0, life, Instant::from_millis(3_699_999)),
            Freshness::RefreshDue
        );
        assert_eq!(
            p.freshness(t0, life, Instant::from_secs(3700)),
            Freshness::Expired
        );
    }

    #[test]
    fn short_lifetime_uses_half_as_margin() {
        let p = RefreshPolicy::new().with_margin(Duration::from_secs(60));
        let t0 = Instant::ZERO;
        let life = Duration::from_secs(10);
        assert_eq!(
            p.freshness(t0, life, Instant::from_secs(4)),
            Freshness::Fresh
        );
        assert_eq!(
            p.freshness(t0, life, Instant::from_secs(5)),
            Freshness::RefreshDue
        );
    }

    #[test]
    fn lifetime_is_capped_and_defaulted() {
        let p = RefreshPolicy::new();
        assert_eq!(p.lifetime(None), Duration::from_secs(300));
        assert_eq!(p.lifetime(Some(u64::MAX)), Duration::from_secs(86_400));
        assert_eq!(p.lifetime(Some(3600)), Duration::from_secs(3600));
    }

    #[test]
    fn saturating_time() {
        assert_eq!(
            Instant::from_millis(u64::MAX) + Duration::from_secs(1),
            Instant::from_millis(u64::MAX)
        );
        assert_eq!(
            Instant::ZERO.saturating_sub(Duration::from_secs(1)),
            Instant::ZERO
        );
        assert_eq!(
            Instant::from_secs(5).saturating_sub(Duration::from_millis(1_500)),
            Instant::from_millis(3_500)
        );
    }

    /// The margin a caller reads is the one freshness uses: the configured
    /// one for long lifetimes, half the lifetime for short ones.
    #[test]
    fn effective_margin_is_the_one_applied() {
        let p = RefreshPolicy::new().with_margin(Duration::from_secs(60));
        assert_eq!(
            p.effective_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            p.effective_margin(Duration::from_secs(10)),
            Duration::from_secs(5)
        );
    }

    /// A borrowed wall clock answers what the clock it borrows answers.
    #[test]
    fn borrowed_wall_clock_forwards() {
        let synced = || Some(1_767_225_600u64);
        let booting = || None::<u64>;
        let a: &dyn WallClock = &synced;
        let b: &dyn WallClock = &booting;
        assert_eq!(WallClock::unix_time(&a), Some(1_767_225_600));
        assert_eq!(WallClock::unix_time(&b), None);
    }

    #[cfg(feature = "embassy-time")]
    #[test]
    fn embassy_instants_convert_in_milliseconds() {
        assert_eq!(
            Instant::from(embassy_time::Instant::from_millis(1_500)),
            Instant::from_millis(1_500)
        );
    }
}
