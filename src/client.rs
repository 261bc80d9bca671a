//! The token cache: hands out the cached token while it is fresh.

use crate::credentials::Config;
use crate::error::Error;
use crate::error::Retry;
use crate::exchange::Exchange;
use crate::reader::Limits;
use crate::response::TokenResponse;
use crate::retry::{Backoff, Random, fraction_ms};
use crate::time::duration_millis;
use crate::time::{Clock, Freshness, Instant, RefreshPolicy, WallClock};
use crate::token::Token;
use core::time::Duration;

/// A client-credentials client with its token cache.
///
/// * `C`: the caller's monotonic [`Clock`].
/// * `N`: client secret capacity; `T`/`S`: access token / scope capacity.
/// * `R`: randomness for backoff and renewal jitter ([`Client::with_random`];
///   none by default); `W`: the wall clock for `Retry-After` dates
///   ([`Client::with_wall_clock`]; none by default). Both are owned, like
///   the clock: a `Client` is `Send` when they are, so it can live in a
///   `static` behind an embassy-sync mutex.
///
/// Every decision lives here, transport-free and deterministic for a given
/// clock: when to use the cached token, when to fetch, backoff, what a
/// failed renewal or a refused token means. The drivers
/// ([`Client::token`] in [`blocking`](crate::blocking), `client.asynch().token`) only
/// move bytes.
///
/// ```
/// use embedded_oauth2::{Client, ClientAuth, ClientId, Config, Instant, TokenEndpoint};
/// let config = Config::<0>::new(
///     TokenEndpoint::parse("https://as.example/token")?,
///     ClientId::new("dev")?,
///     ClientAuth::ClientIdOnly,
/// );
/// let client: Client<_, 0, 1024, 64> = Client::new(config, || Instant::from_millis(0));
/// assert!(client.cached().is_none());
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub struct Client<
    'a,
    C,
    const N: usize = 64,
    const T: usize = 2048,
    const S: usize = 128,
    R = NoRandom,
    W = NoWallClock,
> {
    config: Config<'a, N>,
    clock: C,
    policy: RefreshPolicy,
    limits: Limits,
    token: Token<T, S>,
    backoff: Backoff,
    random: Option<R>,
    wall_clock: Option<W>,
    /// Consecutive transient failures.
    failures: u32,
    /// No automatic attempt before this instant.
    retry_at: Option<Instant>,
    /// A permanent failure: no automatic attempt until `reset_backoff`.
    blocked: Option<Error>,
    /// When that failure may have come from a wrong wall clock (a signed
    /// request's `iat`): the wall clock's offset from the monotonic clock
    /// then, in milliseconds. A wall clock corrected since lifts the block.
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    blocked_clock: Option<i64>,
    /// Tokens refused by resource servers since one was last accepted.
    rejections: u32,
    /// No automatic fetch before this instant: the last one was too
    /// recent ([`RefreshPolicy::min_interval`]); lifted by `invalidate`.
    min_until: Option<Instant>,
    /// The longest one exchange may take once connected.
    fetch_timeout: Duration,
    /// The next request's assertion, drawn and signed beforehand by an
    /// async signer.
    presigned: Option<crate::authn::Draw>,
    /// The free text of the last OAuth error response.
    details: crate::error::ErrorDetails,
    /// The style [`ClientAuth::Auto`](crate::ClientAuth::Auto) sends, and
    /// whether a token was obtained with it (then it is kept).
    auth_style: crate::AuthStyle,
    auth_style_known: bool,
}

/// No randomness: backoff waits its full ceiling and renewals are not
/// jittered. (It has no values: `Option<NoRandom>` is always `None`.)
#[derive(Debug, Clone, Copy)]
pub enum NoRandom {}

impl Random for NoRandom {
    fn next_u32(&self) -> u32 {
        match *self {}
    }
}

/// No wall clock: a `Retry-After` given as an HTTP-date is not honoured
/// (delta-seconds are). (It has no values.)
#[derive(Debug, Clone, Copy)]
pub enum NoWallClock {}

impl WallClock for NoWallClock {
    fn unix_time(&self) -> Option<u64> {
        match *self {}
    }
}

/// What one fetch has already retried (see `Client::again`); a driver
/// makes a new one per fetch, so a cancelled fetch leaves nothing behind.
#[derive(Default)]
pub(crate) struct Tries {
    #[cfg(feature = "dpop")]
    nonce: bool,
}

/// What the cache decides before touching the network.
pub(crate) enum Gate<'c> {
    /// The cached token is fresh, or due but a retry is not allowed yet.
    UseCached,
    /// Fetch now.
    Fetch,
    /// No usable token; a permanent failure stopped automatic attempts.
    Blocked(&'c Error),
    /// No usable token; no attempt before this instant: backing off after
    /// failures, or (`true`) held back after a fetch by `min_interval`.
    Wait(crate::error::Wait, bool),
}

/// How `call` renews before its next attempt.
pub(crate) enum Renewal {
    /// As [`Client::token`]: the cache, and the backoff, decide.
    IfDue,
    /// A new token now: the last one was just refused.
    Now,
}

/// Where one `call` stands.
#[derive(Default)]
pub(crate) struct CallPlan {
    /// A refused token was renewed once already.
    retried: bool,
    /// The next attempt needs a new token (the last one was refused).
    renew_now: bool,
    /// The resource server's nonce was asked for once already.
    nonce_retried: bool,
}

/// The fetch deadline, checked by the drivers between reads and writes.
pub(crate) struct Deadline<'c, C> {
    clock: &'c C,
    at: Instant,
}

impl<C: Clock> Deadline<'_, C> {
    /// Whether the exchange must stop.
    pub(crate) fn passed(&self) -> bool {
        self.clock.now() >= self.at
    }
}

impl<'a, C: Clock, const N: usize, const T: usize, const S: usize> Client<'a, C, N, T, S> {
    /// A client with the default [`RefreshPolicy`], [`Limits`] and
    /// [`Backoff`], no randomness and no wall clock.
    pub fn new(config: Config<'a, N>, clock: C) -> Self {
        Self {
            config,
            clock,
            policy: RefreshPolicy::new(),
            limits: Limits::new(),
            token: Token::new(),
            backoff: Backoff::new(),
            random: None,
            wall_clock: None,
            failures: 0,
            retry_at: None,
            blocked: None,
            #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
            blocked_clock: None,
            rejections: 0,
            min_until: None,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            presigned: None,
            details: crate::error::ErrorDetails::default(),
            auth_style: crate::AuthStyle::Basic,
            auth_style_known: false,
        }
    }
}

/// How far a wall clock must have moved (against the monotonic clock)
/// since a refusal of a signed request's `iat` for the client to try again
/// on its own ([`Client::blocked`]): 30 s, less than the minute or so
/// servers allow.
pub const CLOCK_CORRECTED: Duration = Duration::from_secs(30);

/// [`Client::with_fetch_timeout`]'s default.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(60);

impl<'a, C: Clock, const N: usize, const T: usize, const S: usize, R: Random, W: WallClock>
    Client<'a, C, N, T, S, R, W>
{
    /// The free text (description, URI, `WWW-Authenticate`) of the last
    /// error response, when the last attempt got one: what to log next to
    /// an [`Error::OAuth`].
    pub fn error_details(&self) -> Option<&crate::error::ErrorDetails> {
        (!self.details.is_empty()).then_some(&self.details)
    }

    /// Sets the backoff after failures (default [`Backoff::new`]).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Gives the client randomness (owned: a TRNG handle, or a small PRNG
    /// seeded from one) for backoff jitter and for renewing at a random
    /// point of the [`RefreshPolicy::jitter`] window. Without it, backoff
    /// waits the full ceiling and there is no renewal jitter — a fleet
    /// would then renew in step.
    pub fn with_random<R2: Random>(self, random: R2) -> Client<'a, C, N, T, S, R2, W> {
        Client {
            config: self.config,
            clock: self.clock,
            policy: self.policy,
            limits: self.limits,
            token: self.token,
            backoff: self.backoff,
            random: Some(random),
            wall_clock: self.wall_clock,
            failures: self.failures,
            retry_at: self.retry_at,
            blocked: self.blocked,
            #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
            blocked_clock: self.blocked_clock,
            rejections: self.rejections,
            min_until: self.min_until,
            fetch_timeout: self.fetch_timeout,
            presigned: self.presigned,
            details: self.details,
            auth_style: self.auth_style,
            auth_style_known: self.auth_style_known,
        }
    }

    /// Gives the client the wall-clock time (owned), used to honour a
    /// `Retry-After` given as an HTTP-date.
    pub fn with_wall_clock<W2: WallClock>(self, wall_clock: W2) -> Client<'a, C, N, T, S, R, W2> {
        Client {
            config: self.config,
            clock: self.clock,
            policy: self.policy,
            limits: self.limits,
            token: self.token,
            backoff: self.backoff,
            random: self.random,
            wall_clock: Some(wall_clock),
            failures: self.failures,
            retry_at: self.retry_at,
            blocked: self.blocked,
            #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
            blocked_clock: self.blocked_clock,
            rejections: self.rejections,
            min_until: self.min_until,
            fetch_timeout: self.fetch_timeout,
            presigned: self.presigned,
            details: self.details,
            auth_style: self.auth_style,
            auth_style_known: self.auth_style_known,
        }
    }

    /// The longest one exchange may take once its connection is open
    /// (default 60 s): the drivers check it between reads and writes, so a
    /// server that drips a byte per read timeout fails with
    /// [`Error::Timeout`] instead of holding the device. (A read that never
    /// returns is the transport's to time out; with the async driver,
    /// `embassy_time::with_timeout` around the call cancels it cleanly.)
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Consecutive failed attempts so far (an attempt counts as failed from
    /// [`Client::begin`] until it completes).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the client will next go to the network on its own: `None` when it
    /// would now (unless [`Client::blocked`]: then it never will), `Some(t)`
    /// while backing off, or while a due renewal waits for
    /// [`RefreshPolicy::min_interval`] since the last fetch.
    pub fn next_attempt(&self) -> Option<Instant> {
        if self.blocked().is_some() {
            return None;
        }
        let now = self.clock.now();
        // `min_interval` holds back only the renewal of a token that is
        // due: with a fresh one, the next attempt is the backoff's.
        let due = self.token.freshness(now, &self.policy) != Freshness::Fresh;
        self.waiting_until(now, due)
    }

    /// `retry_at` while it lies ahead of `now` — and no further than any
    /// wait this client schedules: a later one means the clock went
    /// backwards or wrapped (a 32-bit millisecond tick after 49.7 days),
    /// and waiting for it could lock the client out for weeks.
    fn waiting_until(&self, now: Instant, with_min_interval: bool) -> Option<Instant> {
        self.waiting(now, with_min_interval).map(|(t, _)| t)
    }

    /// [`Client::waiting_until`], and whether it is the hold-back after a
    /// fetch (`true`) rather than the backoff after failures.
    fn waiting(&self, now: Instant, with_min_interval: bool) -> Option<(Instant, bool)> {
        let longest = duration_millis(
            self.backoff
                .max
                .max(self.backoff.max_retry_after)
                .max(self.policy.min_interval),
        )
        .saturating_add(1_000);
        let ahead = |t: &Instant| *t > now && t.ms_since(now) <= longest;
        let backoff = self.retry_at.filter(ahead);
        let min = self.min_until.filter(ahead).filter(|_| with_min_interval);
        match (backoff, min) {
            (Some(b), Some(m)) if m > b => Some((m, true)),
            (Some(b), _) => Some((b, false)),
            (None, m) => m.map(|m| (m, true)),
        }
    }

    /// The permanent failure that stopped automatic attempts, if any.
    ///
    /// A refusal that a wrong wall clock can cause — `invalid_dpop_proof`,
    /// or `invalid_client` for a signed assertion, both judged by the
    /// request's `iat` — stops attempts only while the wall clock keeps the
    /// offset from the monotonic clock it had then: once it is corrected
    /// (by more than [`CLOCK_CORRECTED`]), the client tries again by itself.
    pub fn blocked(&self) -> Option<&Error> {
        #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
        if let Some(then) = self.blocked_clock
            && self
                .signing_clock_offset()
                .is_some_and(|now| now.abs_diff(then) > duration_millis(CLOCK_CORRECTED))
        {
            return None;
        }
        self.blocked.as_ref()
    }

    /// The offset (milliseconds; no 64-bit division on a 32-bit MCU) of
    /// the wall clock that dates this client's signed requests from its
    /// monotonic clock; `None` without one.
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    fn signing_clock_offset(&self) -> Option<i64> {
        let unix_ms = self.config.signing_unix_time()?.checked_mul(1000)?;
        let mono_ms = self.clock.now().as_millis();
        Some(i64::try_from(unix_ms).ok()? - i64::try_from(mono_ms).ok()?)
    }

    /// Forgets failures: backoff, refused tokens and a permanent block (call
    /// it after re-provisioning credentials or changing the configuration).
    pub fn reset_backoff(&mut self) {
        self.failures = 0;
        self.retry_at = None;
        self.unblock();
        self.rejections = 0;
        self.forget_unconfirmed_style();
    }

    /// Lifts a permanent failure.
    fn unblock(&mut self) {
        self.blocked = None;
        #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
        {
            self.blocked_clock = None;
        }
    }

    /// [`ClientAuth::Auto`](crate::ClientAuth::Auto): a style that has not
    /// yet given a token is not kept; the next fetch starts over at Basic.
    fn forget_unconfirmed_style(&mut self) {
        if !self.auth_style_known {
            self.auth_style = crate::AuthStyle::Basic;
        }
    }

    /// Starts one fetch (the drivers' sequence of attempts): what it may
    /// retry, and the style [`ClientAuth::Auto`](crate::ClientAuth::Auto)
    /// starts with (Basic, unless one is known to work) — also after a
    /// fetch that was cancelled in the middle of its sequence.
    pub(crate) fn start_fetch(&mut self) -> Tries {
        self.forget_unconfirmed_style();
        Tries::default()
    }

    /// Decides what [`Client::token`] does now.
    pub(crate) fn gate(&self) -> Gate<'_> {
        let now = self.clock.now();
        let fresh = self.token.freshness(now, &self.policy);
        if fresh == Freshness::Fresh {
            return Gate::UseCached;
        }
        let refuse = match (self.blocked(), self.waiting(now, true)) {
            (Some(e), _) => Gate::Blocked(e),
            (None, Some((t, held))) => Gate::Wait(crate::error::Wait::new(t, now), held),
            (None, None) => return Gate::Fetch,
        };
        if fresh == Freshness::RefreshDue {
            Gate::UseCached
        } else {
            refuse
        }
    }

    /// [`Client::token`]'s decision: `Ok(true)` hand out the cached token,
    /// `Ok(false)` fetch, `Err` neither (a permanent failure, or backing
    /// off with no valid token).
    pub(crate) fn use_cached(&self) -> Result<bool, Error> {
        match self.gate() {
            Gate::UseCached => Ok(true),
            Gate::Fetch => Ok(false),
            Gate::Blocked(e) => Err(e.clone()),
            Gate::Wait(w, false) => Err(Error::Backoff(w.until)),
            Gate::Wait(w, true) => Err(Error::HeldBack(w)),
        }
    }

    /// Ends a fetch the driver ran: a failure counts for the backoff, and
    /// a success hands out the new token. (The work buffer is wiped by the
    /// driver's `WipeOnDrop`, however the fetch ends.)
    pub(crate) fn settle<E>(
        &mut self,
        result: Result<(), Error<E>>,
    ) -> Result<&Token<T, S>, Error<E>> {
        if let Err(e) = &result {
            self.fail(e);
            self.forget_unconfirmed_style();
        }
        result?;
        Ok(&self.token)
    }

    /// The client's clock now.
    #[cfg(feature = "revocation")]
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The error details to fill and the deadline of the exchange begun at
    /// `started`.
    pub(crate) fn exchange_parts(
        &mut self,
        started: Instant,
    ) -> (&mut crate::error::ErrorDetails, Deadline<'_, C>) {
        let at = started.saturating_add(self.fetch_timeout);
        (
            &mut self.details,
            Deadline {
                clock: &self.clock,
                at,
            },
        )
    }

    /// How `call` gets its token before the next attempt.
    pub(crate) fn call_renewal(&self, plan: &CallPlan) -> Renewal {
        if plan.renew_now {
            Renewal::Now
        } else {
            Renewal::IfDue
        }
    }

    /// Whether `call` goes ahead after its renewal: yes when it worked, and
    /// when a due renewal failed while the cached token is still valid (the
    /// first time round); otherwise the renewal's error.
    pub(crate) fn call_proceeds<E>(
        &self,
        plan: &CallPlan,
        renewed: Result<(), Error<E>>,
    ) -> Result<(), Error<E>> {
        match renewed {
            Err(_) if !plan.retried && self.cached().is_some() => Ok(()),
            other => other,
        }
    }

    /// What `call` does after an attempt at the resource server. A refused
    /// token is dropped. The first refusal after a token was accepted (or
    /// ever) is worth one new token and one retry, at once; a second one
    /// gives up and backs off like a failed fetch, and so does every
    /// refusal until a token is accepted again — a resource server that
    /// refuses everything costs a few fetches, not two per call.
    pub(crate) fn call_after<X>(&mut self, plan: &mut CallPlan, attempt: Attempt<X>) -> Next<X> {
        match attempt {
            Attempt::Done(r) => {
                self.rejections = 0;
                Next::Return(r)
            }
            // The token is fine: the same one again, with the nonce.
            Attempt::UseDpopNonce if !plan.nonce_retried => {
                plan.nonce_retried = true;
                plan.renew_now = false;
                Next::RenewAndRetry
            }
            Attempt::UseDpopNonce => Next::GiveUp,
            Attempt::TokenRejected => {
                self.invalidate();
                self.rejections = self.rejections.saturating_add(1);
                if !plan.retried && self.rejections == 1 {
                    plan.retried = true;
                    plan.renew_now = true;
                    return Next::RenewAndRetry;
                }
                let now = self.clock.now();
                let sample = self.random().map_or(u32::MAX, |r| r.next_u32());
                let wait = self.backoff.delay_ms(self.rejections - 1, sample, None);
                self.retry_at = Some(now.add_ms(wait));
                Next::GiveUp
            }
        }
    }

    /// Sets the refresh policy.
    pub fn with_policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the response limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config<'a, N> {
        &self.config
    }

    /// The refresh policy.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Where the cached token stands now (`Expired` when there is none).
    pub fn freshness(&self) -> Freshness {
        self.token.freshness(self.clock.now(), &self.policy)
    }

    /// The cached token while it is still valid (fresh or due for refresh).
    pub fn cached(&self) -> Option<&Token<T, S>> {
        match self.freshness() {
            Freshness::Fresh | Freshness::RefreshDue => Some(&self.token),
            Freshness::Expired => None,
        }
    }

    /// Drops the cached token, e.g. after a resource server answered 401
    /// `invalid_token` ([RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)).
    /// The next call fetches a new one.
    pub fn invalidate(&mut self) {
        self.token.clear();
        // The caller says the token is no good: the next fetch is not held
        // back by `min_interval` (backoff after failures still applies).
        self.min_until = None;
    }

    /// Starts an attempt: encodes the request into `buf` and returns the
    /// [`Exchange`] with the time the request was started (the token's
    /// lifetime counts from there).
    ///
    /// The attempt counts as a failure for the backoff until
    /// [`Client::complete`] says otherwise, so an attempt that is abandoned
    /// (a dropped future, a timeout around it) still backs off. For firmware
    /// that drives the [`Exchange`] itself: after `begin`, call either
    /// `complete` with the response or [`Client::fail`] with the error.
    pub fn begin<'w>(&mut self, buf: &'w mut [u8]) -> Result<(Exchange<'w>, Instant), Error> {
        let started = self.clock.now();
        // The token endpoint's latest DPoP nonce (in the details, where the
        // exchange puts it) goes into this request's proof.
        #[cfg(feature = "dpop")]
        let nonce = self.details.dpop_nonce;
        self.details = crate::error::ErrorDetails::default();
        #[cfg(feature = "dpop")]
        {
            self.details.dpop_nonce = nonce;
        }
        self.failures = self.failures.saturating_add(1);
        self.schedule(None);
        let draw = self.presigned.take();
        let extras = crate::request::Extras {
            auth_style: self.auth_style,
            #[cfg(feature = "dpop")]
            nonce: self.details.dpop_nonce.as_ref(),
            #[cfg(not(feature = "dpop"))]
            nonce: core::marker::PhantomData,
            #[cfg(feature = "revocation")]
            revoke: None,
        };
        Ok((
            Exchange::with_draw(&self.config, buf, self.limits, draw, extras)?,
            started,
        ))
    }

    /// After an attempt of a fetch (begun with [`Client::begin`], then
    /// completed or failed): whether to send the request again at once.
    /// Two reasons, each bounded per fetch by `tries`:
    ///
    /// * the server answered `use_dpop_nonce` with a new nonce (RFC 9449
    ///   §8): once per fetch;
    /// * [`ClientAuth::Auto`](crate::ClientAuth::Auto) got `invalid_client`
    ///   with a style not yet known to work: the next style, each style at
    ///   most once per fetch. When the last one fails too, the next fetch
    ///   starts over from the first.
    ///
    /// Any other outcome: `false`.
    #[cfg_attr(not(feature = "dpop"), allow(unused_variables))]
    pub(crate) fn again<E>(&mut self, outcome: &Result<(), Error<E>>, tries: &mut Tries) -> bool {
        let code = match outcome {
            Err(Error::OAuth(o)) => Some(o.code),
            _ => None,
        };
        #[cfg(feature = "dpop")]
        if self.details.dpop_nonce_new
            && code == Some(crate::ErrorCode::UseDpopNonce)
            && !tries.nonce
            && self.config.dpop_requested()
        {
            tries.nonce = true;
            // The retry is the same fetch: `begin` counts it again.
            self.failures = self.failures.saturating_sub(1);
            return true;
        }
        if matches!(self.config.auth, crate::ClientAuth::Auto(_))
            && !self.auth_style_known
            && code == Some(crate::ErrorCode::InvalidClient)
        {
            // Styles only move forward (`AuthStyle::next`), so none is
            // tried twice in a fetch.
            match self.auth_style.next() {
                Some(next) => {
                    crate::fmt::debug!(
                        "invalid_client: trying the next client authentication style"
                    );
                    self.auth_style = next;
                    self.failures = self.failures.saturating_sub(1);
                    return true;
                }
                None => self.forget_unconfirmed_style(),
            }
        }
        false
    }

    /// The style the client sends its secret in: for
    /// [`ClientAuth::Auto`](crate::ClientAuth::Auto) the one found to work
    /// (or being tried), for the other secret methods theirs; `None` for
    /// methods without a shared secret sent as is.
    ///
    /// ```
    /// use embedded_oauth2::{AuthStyle, Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};
    /// let config = Config::new(
    ///     TokenEndpoint::parse("https://as.example/token")?,
    ///     ClientId::new("device-7")?,
    ///     ClientAuth::Auto(ClientSecret::<16>::new("s3cr3t")?),
    /// );
    /// let mut client: Client<_, 16, 256, 32> = Client::new(config, || Instant::from_millis(0));
    /// assert_eq!(client.auth_style(), Some(AuthStyle::Basic));
    /// // Restored from a record kept across a reset:
    /// client.assume_auth_style(AuthStyle::Post);
    /// assert_eq!(client.auth_style(), Some(AuthStyle::Post));
    /// # Ok::<(), embedded_oauth2::Error>(())
    /// ```
    pub fn auth_style(&self) -> Option<crate::AuthStyle> {
        self.config
            .auth
            .secret_style(self.auth_style)
            .map(|(_, style)| style)
    }

    /// Tells a [`ClientAuth::Auto`](crate::ClientAuth::Auto) client which
    /// style works (known from before a reset): it is sent from now on,
    /// without falling back. No effect with the other methods.
    pub fn assume_auth_style(&mut self, style: crate::AuthStyle) {
        self.auth_style = style;
        self.auth_style_known = true;
    }

    /// Starts the revocation (RFC 7009) of the cached token: encodes the
    /// request to the revocation endpoint into `buf`, with the client's
    /// authentication (no DPoP proof). `None` when no token is cached
    /// (nothing to revoke). After the exchange, [`Client::revoked`] on
    /// success. For firmware that drives the [`Exchange`] itself; the
    /// drivers' [`Client::revoke`] does all of it.
    #[cfg(feature = "revocation")]
    pub fn begin_revocation<'w>(
        &mut self,
        buf: &'w mut [u8],
    ) -> Result<Option<Exchange<'w>>, Error> {
        if self.token.is_empty() {
            return Ok(None);
        }
        // No DPoP proof: only an assertion's claims are drawn (a proof's
        // `iat` would need the wall clock for nothing).
        #[cfg_attr(not(feature = "dpop"), allow(unused_mut))]
        let mut draw = match self.presigned.take() {
            Some(d) => d,
            None => crate::authn::Draw::assertion(&self.config)?,
        };
        #[cfg(feature = "dpop")]
        {
            draw.dpop = None;
        }
        let extras = crate::request::Extras {
            auth_style: self.auth_style,
            #[cfg(feature = "dpop")]
            nonce: None,
            #[cfg(not(feature = "dpop"))]
            nonce: core::marker::PhantomData,
            revoke: Some(self.token.expose_secret()),
        };
        Exchange::with_draw(&self.config, buf, self.limits, Some(draw), extras).map(Some)
    }

    /// The server confirmed the revocation (RFC 7009 §2.2: any 2xx): the
    /// cached token is dropped as [`Client::invalidate`] drops it (wiped,
    /// and the next [`Client::token`] fetches at once).
    #[cfg(feature = "revocation")]
    pub fn revoked(&mut self) {
        crate::fmt::debug!("token revoked");
        self.invalidate();
    }

    /// Stores the response of an attempt started at `started` and clears
    /// the backoff.
    ///
    /// The token type must be the one this configuration's request asks
    /// for ([`ResponseError::BearerForDpop`](crate::error::ResponseError::BearerForDpop)
    /// for a `Bearer` token when DPoP was asked for: a downgrade), as the
    /// drivers check it.
    ///
    /// On failure (a capacity too small, the wrong token type) the previous
    /// token is kept: it is still handed out by [`Client::cached`] until it
    /// expires. Report the error with [`Client::fail`].
    pub fn complete(
        &mut self,
        response: &TokenResponse<'_>,
        started: Instant,
    ) -> Result<&Token<T, S>, Error> {
        crate::response::token_type_for(response.token_type, self.config.dpop_requested())?;
        self.token.set(response, started, &self.policy)?;
        // A token: the style it was asked with works.
        self.auth_style_known = true;
        self.failures = 0;
        self.unblock();
        self.retry_at = None;
        // At most one automatic fetch per `min_interval`, but never past
        // the renewal of a short-lived token (`RefreshPolicy::hold_back`).
        let hold = self.policy.hold_back(self.token.lifetime());
        self.min_until = (hold > Duration::ZERO).then(|| started.saturating_add(hold));
        // Renew at a random point of the jitter window, so devices that
        // booted together do not renew together.
        let window = self
            .policy
            .jitter_window_ms(duration_millis(self.token.lifetime()));
        let early = match self.random() {
            Some(r) => fraction_ms(window, r.next_u32()),
            None => 0,
        };
        self.token.set_refresh_early_ms(early);
        crate::fmt::debug!("token stored, expires_in={:?}", response.expires_in);
        Ok(&self.token)
    }

    /// Records that the attempt begun with [`Client::begin`] failed with
    /// `error`: a transient failure schedules the next attempt (backoff,
    /// `Retry-After` counted from now, i.e. from the response); a permanent
    /// one stops automatic attempts until [`Client::reset_backoff`].
    pub fn fail<E>(&mut self, error: &Error<E>) {
        match (error, error.retry()) {
            // A capacity error depends on the buffer the caller passes,
            // which can change: back off rather than block.
            (Error::Capacity(_), _) | (_, Retry::Transient) => {
                let unix = self.wall_clock.as_ref().and_then(|w| w.unix_time());
                self.schedule(
                    error
                        .retry_after()
                        .and_then(|ra| ra.delay(unix))
                        .map(duration_millis),
                );
            }
            (_, Retry::Permanent) => {
                crate::fmt::debug!("permanent failure: no automatic retry");
                // (Transport errors are transient, so nothing is lost.)
                self.blocked = error.without_transport();
                // Refusals of the request's `iat` (a wall clock off by
                // more than the server allows) end with the clock's error.
                #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
                {
                    let dated = matches!(
                        error.oauth().map(|o| o.code),
                        Some(crate::ErrorCode::InvalidDpopProof | crate::ErrorCode::InvalidClient)
                    );
                    self.blocked_clock = self.signing_clock_offset().filter(|_| dated);
                }
                self.retry_at = None;
            }
        }
    }

    /// Sets when the next automatic attempt may be made, after
    /// `self.failures` consecutive failures.
    fn schedule(&mut self, asked_ms: Option<u64>) {
        let now = self.clock.now();
        let sample = self.random().map_or(u32::MAX, |r| r.next_u32());
        let mut at = now.add_ms(self.backoff.delay_ms(self.failures, sample, asked_ms));
        // Never sleep past the expiry of a token that is still valid: one
        // more attempt just before it expires.
        if !self.token.is_empty() {
            let last =
                Instant::from_millis(self.token.expires_at().as_millis().saturating_sub(1_000));
            if last > now {
                at = at.min(last);
            }
        }
        self.retry_at = Some(at);
    }

    /// Draws the next request's assertion claims and writes their JWS
    /// signing input into `buf` for an async signer; its length. The
    /// signature goes to [`Client::attach_signature`], and the next
    /// [`Client::begin`] sends that assertion.
    #[cfg(feature = "private-key-jwt")]
    pub(crate) fn prepare_signature(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let draw = crate::authn::Draw::new(&self.config)?;
        let n = crate::authn::signing_input(&self.config, &draw, buf)?;
        self.presigned = Some(draw);
        Ok(n)
    }

    /// Writes the DPoP proof's signing input for an async signer into
    /// `buf` (the draw of this request is kept, shared with an assertion
    /// prepared before); its length.
    #[cfg(feature = "dpop")]
    pub(crate) fn prepare_dpop_signature(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let draw = match self.presigned {
            Some(d) => d,
            None => crate::authn::Draw::new(&self.config)?,
        };
        let extras = crate::request::Extras {
            auth_style: self.auth_style,
            nonce: self.details.dpop_nonce.as_ref(),
            #[cfg(feature = "revocation")]
            revoke: None,
        };
        let n = crate::request::dpop_signing_input(&self.config, &draw, extras, buf)?;
        self.presigned = Some(draw);
        Ok(n)
    }

    /// The async signer's signature for the prepared DPoP proof.
    #[cfg(feature = "dpop")]
    pub(crate) fn attach_dpop_signature(&mut self, signature: [u8; 64]) {
        if let Some(d) = &mut self.presigned {
            d.dpop_signature = Some(signature);
        }
    }

    /// The async signer's signature for the prepared assertion.
    #[cfg(feature = "private-key-jwt")]
    pub(crate) fn attach_signature(&mut self, signature: [u8; 64]) {
        if let Some(d) = &mut self.presigned {
            d.signature = Some(signature);
        }
    }

    /// Whether this configuration signs its assertions (`private_key_jwt`).
    #[cfg(feature = "private-key-jwt")]
    pub(crate) fn signs_assertions(&self) -> bool {
        matches!(
            self.config.auth,
            crate::credentials::ClientAuth::PrivateKeyJwt
        )
    }

    /// The random source, when there is one and it is enabled.
    fn random(&self) -> Option<&R> {
        self.random.as_ref().filter(|r| r.enabled())
    }

    /// The token, for drivers that just checked it is fresh.
    pub(crate) fn current(&self) -> &Token<T, S> {
        &self.token
    }
}

/// No signer passed to the driver: the configuration's own (if any) signs
/// the assertion. (The default of [`Asynch`](crate::asynch::Asynch).)
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSigner;

/// An assertion signer the blocking driver calls (none today: blocking
/// signers live in the configuration).
#[cfg_attr(not(feature = "private-key-jwt"), allow(dead_code))]
pub(crate) trait Presign {
    fn wanted(&self) -> bool;
    fn sign(&self, input: &[u8]) -> Result<[u8; 64], ()>;
    /// Whether it signs DPoP proofs (none in the blocking driver).
    #[cfg_attr(not(feature = "dpop"), allow(dead_code))]
    fn wanted_dpop(&self) -> bool {
        false
    }
    #[cfg_attr(not(feature = "dpop"), allow(dead_code))]
    fn sign_dpop(&self, _: &[u8]) -> Result<[u8; 64], ()> {
        Err(())
    }
}

impl Presign for NoSigner {
    fn wanted(&self) -> bool {
        false
    }
    fn sign(&self, _: &[u8]) -> Result<[u8; 64], ()> {
        Err(())
    }
}

/// The work buffer of one fetch, zeroized when dropped: also when an async
/// fetch is cancelled at an await point (a dropped future runs no code
/// after its await, but it drops this).
pub(crate) struct WipeOnDrop<'b>(pub(crate) &'b mut [u8]);

impl Drop for WipeOnDrop<'_> {
    fn drop(&mut self) {
        wipe(self.0);
    }
}

/// Zeroizes the whole work buffer (request, response and staging all held
/// secrets) whatever the outcome.
pub(crate) fn wipe(buf: &mut [u8]) {
    crate::bytes::wipe(buf);
}

/// The outcome of one attempt to use a token at a resource server.
///
/// ```
/// use embedded_oauth2::Attempt;
/// fn classify(status: u16, body: &str) -> Attempt<String> {
///     if Attempt::<()>::rejects_token(status) { Attempt::TokenRejected } else { Attempt::Done(body.into()) }
/// }
/// assert!(matches!(classify(401, ""), Attempt::TokenRejected));
/// assert!(matches!(classify(200, "ok"), Attempt::Done(_)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attempt<R> {
    /// The resource server answered; the token was not the problem.
    Done(R),
    /// The resource server refused the token (401, e.g. `invalid_token`,
    /// [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)):
    /// it was revoked or expired early. Worth one new token and one retry.
    TokenRejected,
    /// The resource server wants its DPoP nonce in the proof (401,
    /// `WWW-Authenticate: DPoP error="use_dpop_nonce"`,
    /// `dpop::asks_for_nonce`; RFC 9449 §9): the attempt keeps the
    /// `DPoP-Nonce` it was sent and is made again at once with the same
    /// token, once per call. A second such answer ends the call with
    /// [`CallError::Rejected`].
    UseDpopNonce,
}

impl<R> Attempt<R> {
    /// Whether a resource server's status means "this token is no good":
    /// 401. A 403 (`insufficient_scope`) is not: a new token with the same
    /// scope would not help.
    pub fn rejects_token(status: u16) -> bool {
        status == 401
    }
}

/// Failure of [`Client::call`](crate::Client::call).
#[derive(Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CallError<E, X> {
    /// Obtaining a token failed.
    Token(Error<E>),
    /// The caller's request to the resource server failed.
    Resource(X),
    /// The resource server refused a token that had just been fetched anew;
    /// retrying again would only hammer both servers.
    Rejected,
}

impl<E: core::fmt::Display, X: core::fmt::Display> core::fmt::Display for CallError<E, X> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Token(e) => write!(f, "obtaining a token failed: {e}"),
            Self::Resource(e) => write!(f, "resource request failed: {e}"),
            Self::Rejected => f.write_str("the resource server rejected a freshly issued token"),
        }
    }
}

impl<E: core::fmt::Debug + core::fmt::Display, X: core::fmt::Debug + core::fmt::Display>
    core::error::Error for CallError<E, X>
{
}

/// The decision after an attempt at a resource server.
pub(crate) enum Next<R> {
    Return(R),
    RenewAndRetry,
    GiveUp,
}

/// Tokens that survive sleep and reset: see [`persist`](crate::persist)
/// for the record's format and the clock rules.
impl<'a, C: Clock, const N: usize, const T: usize, const S: usize, R: Random, W: WallClock>
    Client<'a, C, N, T, S, R, W>
{
    /// Writes the cached token, with what is needed to judge it after a
    /// reset (its wall-clock expiry, lifetime, renewal jitter, type, scope
    /// and this configuration's fingerprint), into `buf`: the record's
    /// length. Never the client secret.
    ///
    /// Needs the wall clock ([`Client::with_wall_clock`]). `buf` of
    /// [`record_len(T, S)`](crate::persist::record_len) bytes always
    /// suffices; a smaller one that is too small is
    /// [`PersistError::Capacity`](crate::persist::PersistError::Capacity)
    /// with the exact size needed, and `buf` is untouched. The record
    /// holds the token: store it where the platform protects it, and wipe
    /// `buf` afterwards.
    ///
    /// ```
    /// use embedded_oauth2::persist::{PersistError, record_len};
    /// use embedded_oauth2::{Client, ClientAuth, ClientId, Config, Instant, TokenEndpoint};
    /// use embedded_oauth2::http::parse_token_response;
    /// let config = Config::<0>::new(
    ///     TokenEndpoint::parse("https://as.example/token")?,
    ///     ClientId::new("dev")?,
    ///     ClientAuth::ClientIdOnly,
    /// );
    /// let mut client: Client<_, 0, 64, 16, _, _> =
    ///     Client::new(config, || Instant::from_secs(5)).with_wall_clock(|| Some(1_767_225_600));
    /// let mut buf = [0u8; record_len(64, 16)];
    /// assert_eq!(client.export_token(&mut buf), Err(PersistError::NoToken));
    /// let mut work = [0u8; 96];
    /// let r = parse_token_response(200, br#"{"access_token":"abc","token_type":"Bearer"}"#, &mut work)?;
    /// client.complete(&r, Instant::from_secs(5))?;
    /// let n = client.export_token(&mut buf)?;
    /// assert_eq!(&buf[..4], b"EO2T");
    /// assert!(matches!(client.export_token(&mut buf[..n - 1]), Err(PersistError::Capacity(c)) if c.needed == n));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn export_token(&self, buf: &mut [u8]) -> Result<usize, crate::persist::PersistError> {
        let exporting = crate::persist::Exporting {
            token: &self.token,
            now: self.clock.now(),
            unix: self.wall_clock.as_ref().and_then(WallClock::unix_time),
            fingerprint: self.config_fingerprint(),
            // The style `ClientAuth::Auto` found to work, so a restored
            // client does not detect it again.
            auth_style: match (&self.config.auth, self.auth_style_known) {
                (crate::ClientAuth::Auto(_), true) => self.auth_style.as_u8(),
                _ => 0,
            },
        };
        crate::persist::export(&exporting, &self.policy, buf)
    }

    /// Restores a token from a record made by [`Client::export_token`]:
    /// checks it (magic, version, length, checksum, this configuration's
    /// fingerprint, the wall clock) and maps its wall-clock expiry onto this
    /// client's monotonic clock. [`Client::token`] then hands the token out
    /// without any I/O while it is fresh, and fetches once it is due.
    ///
    /// Bytes after the record are ignored. On any error the client is
    /// unchanged (a token it held is kept). The record's bytes stay in the
    /// caller's buffer: wipe it once restored.
    ///
    /// ```
    /// use embedded_oauth2::persist::PersistError;
    /// use embedded_oauth2::{Client, ClientAuth, ClientId, Config, Instant, TokenEndpoint};
    /// let config = Config::<0>::new(
    ///     TokenEndpoint::parse("https://as.example/token")?,
    ///     ClientId::new("dev")?,
    ///     ClientAuth::ClientIdOnly,
    /// );
    /// let mut client: Client<_, 0, 64, 16, _, _> =
    ///     Client::new(config, || Instant::from_secs(1)).with_wall_clock(|| Some(1_767_225_600));
    /// assert_eq!(client.restore_token(b"not a record"), Err(PersistError::BadMagic));
    /// assert!(client.cached().is_none());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn restore_token(&mut self, record: &[u8]) -> Result<(), crate::persist::PersistError> {
        let restoring = crate::persist::Restoring {
            now: self.clock.now(),
            dpop: self.config.dpop_requested(),
            unix: self.wall_clock.as_ref().and_then(WallClock::unix_time),
            fingerprint: self.config_fingerprint(),
        };
        let style = crate::persist::restore(&restoring, &self.policy, record, &mut self.token)?;
        // The same configuration (fingerprint checked), so the same method.
        if let (crate::ClientAuth::Auto(_), Some(style)) = (&self.config.auth, style) {
            self.assume_auth_style(style);
        }
        Ok(())
    }

    /// The fingerprint of this configuration, as the records it exports
    /// carry it ([`TokenRecord::fingerprint`](crate::persist::TokenRecord::fingerprint)).
    ///
    /// ```
    /// use embedded_oauth2::{Client, ClientAuth, ClientId, Config, Instant, TokenEndpoint};
    /// fn config(id: &'static str) -> Config<'static, 0> {
    ///     Config::new(
    ///         TokenEndpoint::parse("https://as.example/token").unwrap(),
    ///         ClientId::new(id).unwrap(),
    ///         ClientAuth::ClientIdOnly,
    ///     )
    /// }
    /// let a: Client<_, 0> = Client::new(config("a"), || Instant::ZERO);
    /// let b: Client<_, 0> = Client::new(config("b"), || Instant::ZERO);
    /// assert_ne!(a.config_fingerprint(), b.config_fingerprint());
    /// ```
    pub fn config_fingerprint(&self) -> u64 {
        crate::persist::fingerprint(&self.config)
    }
}
