//! The token cache: hands out the cached token while it is fresh.

use zeroize::Zeroize;

use crate::credentials::Config;
use crate::error::Error;
use crate::exchange::Exchange;
use crate::http::Limits;
use crate::response::TokenResponse;
use crate::retry::{Backoff, Random, Retry, fraction};
use crate::time::{Clock, Freshness, Instant, RefreshPolicy, WallClock};
use crate::token::Token;

/// A client-credentials client with its token cache.
///
/// * `C`: the caller's monotonic [`Clock`].
/// * `N`: client secret capacity; `T`/`S`: access token / scope capacity.
///
/// The cache logic lives here, transport-free; the drivers (e.g.
/// [`Client::token`] in [`blocking`](crate::blocking)) only move bytes.
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
pub struct Client<'a, C, const N: usize = 64, const T: usize = 2048, const S: usize = 128> {
    config: Config<'a, N>,
    clock: C,
    policy: RefreshPolicy,
    limits: Limits,
    token: Token<T, S>,
    backoff: Backoff,
    random: Option<&'a dyn Random>,
    wall_clock: Option<&'a dyn WallClock>,
    /// Consecutive transient failures.
    failures: u32,
    /// No automatic attempt before this instant.
    retry_at: Option<Instant>,
    /// A permanent failure: no automatic attempt until `reset_backoff`.
    blocked: Option<Error>,
    /// The free text of the last OAuth error response.
    details: crate::error::ErrorDetails,
}

/// What the cache decides before touching the network.
pub(crate) enum Gate<'c> {
    /// The cached token is fresh, or due but a retry is not allowed yet.
    UseCached,
    /// Fetch now.
    Fetch,
    /// No usable token; a permanent failure stopped automatic attempts.
    Blocked(&'c Error),
    /// No usable token; no attempt before this instant.
    Wait(Instant),
}

impl<'a, C: Clock, const N: usize, const T: usize, const S: usize> Client<'a, C, N, T, S> {
    /// A client with the default [`RefreshPolicy`] and [`Limits`].
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
            details: crate::error::ErrorDetails::default(),
        }
    }

    /// The free text (description, URI, `WWW-Authenticate`) of the last
    /// error response, when the last attempt got one: what to log next to
    /// an [`Error::OAuth`].
    pub fn error_details(&self) -> Option<&crate::error::ErrorDetails> {
        (!self.details.is_empty()).then_some(&self.details)
    }

    pub(crate) fn details_mut(&mut self) -> &mut crate::error::ErrorDetails {
        &mut self.details
    }

    /// Sets the backoff after failures (default [`Backoff::new`]).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Gives the client randomness for backoff jitter and for renewing at a
    /// random point of the [`RefreshPolicy::jitter`] window. Without it,
    /// backoff waits the full ceiling and there is no renewal jitter — a
    /// fleet would then renew in step.
    pub fn with_random(mut self, random: &'a dyn Random) -> Self {
        self.random = Some(random);
        self
    }

    /// Gives the client the wall-clock time, used to honour a
    /// `Retry-After` given as an HTTP-date.
    pub fn with_wall_clock(mut self, wall_clock: &'a dyn WallClock) -> Self {
        self.wall_clock = Some(wall_clock);
        self
    }

    /// Consecutive failed attempts so far (an attempt counts as failed from
    /// [`Client::begin`] until it completes).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the client will next go to the network on its own: `None` when it
    /// would now (unless [`Client::blocked`]: then it never will), `Some(t)`
    /// while backing off.
    pub fn next_attempt(&self) -> Option<Instant> {
        if self.blocked.is_some() {
            return None;
        }
        self.retry_at.filter(|&t| t > self.clock.now())
    }

    /// The permanent failure that stopped automatic attempts, if any.
    pub fn blocked(&self) -> Option<&Error> {
        self.blocked.as_ref()
    }

    /// Forgets failures: backoff and a permanent block (call it after
    /// re-provisioning credentials or changing the configuration).
    pub fn reset_backoff(&mut self) {
        self.failures = 0;
        self.retry_at = None;
        self.blocked = None;
    }

    /// Decides what [`Client::token`] does now.
    pub(crate) fn gate(&self) -> Gate<'_> {
        let now = self.clock.now();
        let fresh = self.token.freshness(now, &self.policy);
        if fresh == Freshness::Fresh {
            return Gate::UseCached;
        }
        let refuse = match (&self.blocked, self.retry_at) {
            (Some(e), _) => Gate::Blocked(e),
            (None, Some(t)) if t > now => Gate::Wait(t),
            _ => return Gate::Fetch,
        };
        if fresh == Freshness::RefreshDue {
            Gate::UseCached
        } else {
            refuse
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
        self.details = crate::error::ErrorDetails::default();
        self.failures = self.failures.saturating_add(1);
        self.schedule(None);
        Ok((Exchange::new(&self.config, buf, self.limits)?, started))
    }

    /// Stores the response of an attempt started at `started` and clears
    /// the backoff.
    ///
    /// On failure (a capacity too small) the previous token is kept: it is
    /// still handed out by [`Client::cached`] until it expires.
    pub fn complete(
        &mut self,
        response: &TokenResponse<'_>,
        started: Instant,
    ) -> Result<&Token<T, S>, Error> {
        self.token.set(response, started, &self.policy)?;
        self.reset_backoff();
        // Renew at a random point of the jitter window, so devices that
        // booted together do not renew together.
        let window = self.policy.jitter_window(self.token.lifetime());
        let early = match self.random {
            Some(r) => fraction(window, r.next_u32()),
            None => core::time::Duration::ZERO,
        };
        self.token.set_refresh_early(early);
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
                let unix = self.wall_clock.and_then(|w| w.unix_time());
                self.schedule(error.retry_after().and_then(|ra| ra.delay(unix)));
            }
            (_, Retry::Permanent) => {
                crate::fmt::debug!("permanent failure: no automatic retry");
                // (Transport errors are transient, so nothing is lost.)
                self.blocked = error.without_transport();
                self.retry_at = None;
            }
        }
    }

    /// Sets when the next automatic attempt may be made, after
    /// `self.failures` consecutive failures.
    fn schedule(&mut self, asked: Option<core::time::Duration>) {
        let now = self.clock.now();
        let sample = self.random.map_or(u32::MAX, |r| r.next_u32());
        let mut at = now.saturating_add(self.backoff.delay(self.failures, sample, asked));
        // Never sleep past the expiry of a token that is still valid: one
        // more attempt just before it expires.
        if !self.token.is_empty() {
            let last = self
                .token
                .expires_at()
                .saturating_sub(core::time::Duration::from_secs(1));
            if at > last && last > now {
                at = last;
            }
        }
        self.retry_at = Some(at);
    }

    /// The token, for drivers that just checked it is fresh.
    pub(crate) fn current(&self) -> &Token<T, S> {
        &self.token
    }
}

/// Zeroizes the whole work buffer (request, response and staging all held
/// secrets) whatever the outcome.
pub(crate) fn wipe(buf: &mut [u8]) {
    buf.zeroize();
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
pub enum Attempt<R> {
    /// The resource server answered; the token was not the problem.
    Done(R),
    /// The resource server refused the token (401, e.g. `invalid_token`,
    /// [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)):
    /// it was revoked or expired early. Worth one new token and one retry.
    TokenRejected,
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

/// The decision after an attempt: the one place the retry rule lives, shared
/// by every driver.
pub(crate) enum Next<R> {
    Return(R),
    RenewAndRetry,
    GiveUp,
}

pub(crate) fn after_attempt<R>(attempt: Attempt<R>, retried: bool) -> Next<R> {
    match attempt {
        Attempt::Done(r) => Next::Return(r),
        Attempt::TokenRejected if !retried => Next::RenewAndRetry,
        Attempt::TokenRejected => Next::GiveUp,
    }
}
