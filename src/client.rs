//! The token cache: hands out the cached token while it is fresh.

use zeroize::Zeroize;

use crate::credentials::Config;
use crate::error::Error;
use crate::exchange::Exchange;
use crate::http::Limits;
use crate::response::TokenResponse;
use crate::time::{Clock, Freshness, Instant, RefreshPolicy};
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

    /// Whether a driver must fetch before handing out a token.
    pub(crate) fn needs_fetch(&self) -> bool {
        self.freshness() != Freshness::Fresh
    }

    /// Starts an exchange in `buf`; returns it with the time the request
    /// was started (the token's lifetime counts from there).
    pub fn begin<'w>(&self, buf: &'w mut [u8]) -> Result<(Exchange<'w>, Instant), Error> {
        let started = self.clock.now();
        Ok((Exchange::new(&self.config, buf, self.limits)?, started))
    }

    /// Stores the result of an exchange started at `started`.
    ///
    /// On failure the previous token is kept: it is still handed out by
    /// [`Client::cached`] until it expires.
    pub fn complete(
        &mut self,
        response: &TokenResponse<'_>,
        started: Instant,
    ) -> Result<&Token<T, S>, Error> {
        self.token.set(response, started, &self.policy)?;
        crate::fmt::debug!("token stored, expires_in={:?}", response.expires_in);
        Ok(&self.token)
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
