//! The access token, its lifetime, and presenting it
//! ([RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1)).

use core::fmt;
use core::time::Duration;

use crate::encode::Sink;
use crate::error::{Buffer, CapacityError, Error};
use crate::response::{TokenResponse, TokenType};
use crate::time::{Freshness, Instant, RefreshPolicy};

/// An access token in storage the caller sized: `T` bytes for the token,
/// `S` bytes for the granted scope.
///
/// `Debug` shows everything but the token; there is no `Display` and no
/// `defmt::Format`; the bytes are zeroized on drop and when replaced.
///
/// ```
/// use embedded_oauth2::{Instant, RefreshPolicy, Token};
/// use embedded_oauth2::http::parse_token_response;
/// let mut work = [0u8; 64];
/// let resp = parse_token_response(200, br#"{"access_token":"mF_9.B5f-4.1JqM","token_type":"Bearer","expires_in":3600}"#, &mut work)?;
/// let mut token = Token::<64, 16>::new();
/// token.set(&resp, Instant::from_secs(10), &RefreshPolicy::new())?;
/// let mut out = [0u8; 64];
/// assert_eq!(token.authorization_value(&mut out)?, "Bearer mF_9.B5f-4.1JqM");
/// assert!(!format!("{token:?}").contains("mF_9"));
/// assert_eq!(token.expires_at(), Instant::from_secs(3610));
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub struct Token<const T: usize = 2048, const S: usize = 128> {
    access: [u8; T],
    access_len: usize,
    scope: [u8; S],
    scope_len: Option<usize>,
    token_type: TokenType,
    expires_in: Option<u64>,
    obtained_at: Instant,
    lifetime: Duration,
    /// Renew this many milliseconds before the policy's margin.
    refresh_early_ms: u64,
}

impl<const T: usize, const S: usize> Token<T, S> {
    /// An empty token (no bytes; [`Token::is_empty`] is `true`).
    pub const fn new() -> Self {
        Self {
            access: [0; T],
            access_len: 0,
            scope: [0; S],
            scope_len: None,
            token_type: TokenType::Bearer,
            expires_in: None,
            obtained_at: Instant::ZERO,
            lifetime: Duration::ZERO,
            refresh_early_ms: 0,
        }
    }

    /// Replaces the contents with `resp`, obtained at `obtained_at` (the time
    /// the request was sent, so the lifetime is never overestimated).
    ///
    /// All-or-nothing: when a capacity is too small the token is unchanged
    /// and [`Error::Capacity`] names the size needed.
    pub fn set(
        &mut self,
        resp: &TokenResponse<'_>,
        obtained_at: Instant,
        policy: &RefreshPolicy,
    ) -> Result<(), Error> {
        let access = resp.access_token.as_bytes();
        if access.len() > T {
            return Err(CapacityError {
                buffer: Buffer::AccessToken,
                needed: access.len(),
                available: T,
                exact: true,
            }
            .into());
        }
        let scope = resp.scope.map(str::as_bytes);
        if let Some(s) = scope
            && s.len() > S
        {
            return Err(CapacityError {
                buffer: Buffer::Scope,
                needed: s.len(),
                available: S,
                exact: true,
            }
            .into());
        }
        self.clear();
        if let Some(dst) = self.access.get_mut(..access.len()) {
            dst.copy_from_slice(access);
            self.access_len = access.len();
        }
        if let Some(s) = scope
            && let Some(dst) = self.scope.get_mut(..s.len())
        {
            dst.copy_from_slice(s);
            self.scope_len = Some(s.len());
        }
        self.token_type = resp.token_type;
        self.expires_in = resp.expires_in;
        self.obtained_at = obtained_at;
        self.lifetime = policy.lifetime(resp.expires_in);
        self.refresh_early_ms = 0;
        Ok(())
    }

    /// Wipes the token.
    pub fn clear(&mut self) {
        // Bytes past the lengths are always zero (they start zero and only
        // a prefix is ever written), so wiping the prefixes wipes it all.
        self.access
            .get_mut(..self.access_len)
            .map(crate::bytes::wipe);
        self.access_len = 0;
        self.scope
            .get_mut(..self.scope_len.unwrap_or(0))
            .map(crate::bytes::wipe);
        self.scope_len = None;
        self.expires_in = None;
        self.lifetime = Duration::ZERO;
    }

    /// `true` when no token is held.
    pub fn is_empty(&self) -> bool {
        self.access_len == 0
    }

    /// The access token itself. Named so every use stands out in review.
    pub fn expose_secret(&self) -> &str {
        let b = self.access.get(..self.access_len).unwrap_or_default();
        core::str::from_utf8(b).unwrap_or_default()
    }

    /// The token type.
    pub fn token_type(&self) -> TokenType {
        self.token_type
    }

    /// The granted scope, when the server sent one.
    pub fn scope(&self) -> Option<&str> {
        let len = self.scope_len?;
        core::str::from_utf8(self.scope.get(..len)?).ok()
    }

    /// `expires_in` as the server sent it.
    pub fn expires_in(&self) -> Option<u64> {
        self.expires_in
    }

    /// When the request that obtained it was sent.
    pub fn obtained_at(&self) -> Instant {
        self.obtained_at
    }

    /// The lifetime assumed (`expires_in`, capped, or the policy's default).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// When it stops being valid.
    pub fn expires_at(&self) -> Instant {
        self.obtained_at
            .add_ms(crate::time::duration_millis(self.lifetime))
    }

    /// Where it stands at `now`. An empty token is [`Freshness::Expired`].
    pub fn freshness(&self, now: Instant, policy: &RefreshPolicy) -> Freshness {
        if self.is_empty() {
            return Freshness::Expired;
        }
        policy.freshness_ms(
            self.obtained_at,
            crate::time::duration_millis(self.lifetime),
            self.refresh_early_ms,
            now,
        )
    }

    /// Makes renewal due `early` before the policy's margin (the client's
    /// fleet jitter; see [`RefreshPolicy::jitter`]).
    pub fn set_refresh_early(&mut self, early: Duration) {
        self.refresh_early_ms = crate::time::duration_millis(early);
    }

    /// [`Token::set_refresh_early`] in milliseconds.
    pub(crate) fn set_refresh_early_ms(&mut self, early_ms: u64) {
        self.refresh_early_ms = early_ms;
    }

    /// Time left until expiry at `now` (zero once expired).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires_at().saturating_duration_since(now)
    }

    /// The `Authorization` scheme and the space after it: `Bearer `, or
    /// `DPoP ` for a DPoP-bound token (RFC 9449 §7.1; it goes with a
    /// `DPoP` proof header made with
    /// [`Proof::with_access_token`](crate::dpop::Proof::with_access_token)).
    fn scheme(&self) -> &'static [u8] {
        match self.token_type {
            TokenType::Dpop => b"DPoP ",
            TokenType::Bearer => b"Bearer ",
        }
    }

    fn write_value(&self, sink: &mut Sink<'_>) {
        sink.put(self.scheme());
        sink.put_str(self.expose_secret());
    }

    /// Writes the `Authorization` header value, `Bearer <token>` (or
    /// `DPoP <token>`), into `buf`.
    pub fn authorization_value<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, Error> {
        let mut sink = Sink::new(buf);
        self.write_value(&mut sink);
        let n = sink.finish(Buffer::Output)?;
        Ok(buf
            .get(..n)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default())
    }

    /// Writes the whole header line, `Authorization: Bearer <token>\r\n`, to
    /// a stream: for firmware composing its own request to a resource server
    /// (or let [`blocking::request`](crate::blocking::request) write and
    /// send all of it). Flush the stream once the request is written: over
    /// TLS nothing leaves before the record is flushed.
    ///
    /// ```
    /// # use embedded_oauth2::Token;
    /// let token = Token::<16, 0>::new();
    /// let mut out = [0u8; 64];
    /// let mut w: &mut [u8] = &mut out;
    /// token.write_authorization_header(&mut w).unwrap();
    /// assert!(out.starts_with(b"Authorization: Bearer \r\n"));
    /// ```
    pub fn write_authorization_header<W: embedded_io::Write>(
        &self,
        w: &mut W,
    ) -> Result<(), W::Error> {
        w.write_all(b"Authorization: ")?;
        w.write_all(self.scheme())?;
        w.write_all(self.expose_secret().as_bytes())?;
        w.write_all(b"\r\n")
    }
}

impl<const T: usize, const S: usize> Default for Token<T, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const T: usize, const S: usize> Token<T, S> {
    /// A copy of the `Authorization` header value (`Bearer <token>`) with
    /// the token's expiry, for tasks that present the token while another
    /// task owns the [`Client`](crate::Client): the copy is wiped when it is
    /// dropped or replaced, and reading it needs no lock held across I/O
    /// (see "One token task" in the [`asynch`](crate::asynch) docs).
    ///
    /// ```
    /// use embedded_oauth2::http::parse_token_response;
    /// use embedded_oauth2::{Instant, RefreshPolicy, Token};
    /// let mut work = [0u8; 96];
    /// let r = parse_token_response(200, br#"{"access_token":"abc","token_type":"Bearer","expires_in":60}"#, &mut work)?;
    /// let mut token = Token::<64, 0>::new();
    /// token.set(&r, Instant::from_secs(0), &RefreshPolicy::new())?;
    /// let header = token.bearer::<80>()?;
    /// assert_eq!(header.as_str(), "Bearer abc");
    /// assert!(header.is_valid(Instant::from_secs(59)) && !header.is_valid(Instant::from_secs(60)));
    /// assert!(!format!("{header:?}").contains("abc"));
    /// # Ok::<(), embedded_oauth2::Error>(())
    /// ```
    pub fn bearer<const N: usize>(&self) -> Result<BearerHeader<N>, Error> {
        let mut h = BearerHeader::<N> {
            value: [0; N],
            len: 0,
            expires_at: self.expires_at(),
        };
        let mut sink = Sink::new(&mut h.value);
        self.write_value(&mut sink);
        h.len = sink.finish(Buffer::Output)?;
        Ok(h)
    }
}

/// `Bearer <token>` with the token's expiry, in `N` bytes: what
/// [`Token::bearer`] hands to the tasks that present the token. Zeroized on
/// drop (so also when a newer one replaces it); `Debug` shows no token.
#[derive(Clone)]
pub struct BearerHeader<const N: usize> {
    value: [u8; N],
    len: usize,
    expires_at: Instant,
}

impl<const N: usize> BearerHeader<N> {
    /// The header value, `Bearer <token>`.
    pub fn as_str(&self) -> &str {
        let b = self.value.get(..self.len).unwrap_or_default();
        core::str::from_utf8(b).unwrap_or_default()
    }

    /// When the token stops being valid.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// Whether the token is still valid at `now` (on the client's clock).
    pub fn is_valid(&self, now: Instant) -> bool {
        // A header is only made from a token (never empty: at least
        // `Bearer `); an empty or cleared token's expiry is its start.
        now < self.expires_at
    }
}

impl<const N: usize> Drop for BearerHeader<N> {
    fn drop(&mut self) {
        crate::bytes::wipe(&mut self.value);
        self.len = 0;
    }
}

impl<const N: usize> fmt::Debug for BearerHeader<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerHeader")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl<const T: usize, const S: usize> Token<T, S> {
    /// The renewal jitter set by [`Token::set_refresh_early`], in
    /// milliseconds (for the token record, `persist`).
    pub(crate) fn refresh_early_ms(&self) -> u64 {
        self.refresh_early_ms
    }
}

impl<const T: usize, const S: usize> Drop for Token<T, S> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<const T: usize, const S: usize> fmt::Debug for Token<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field("len", &self.access_len)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope())
            .field("expires_in", &self.expires_in)
            .field("obtained_at", &self.obtained_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_token_response;

    #[test]
    fn set_is_all_or_nothing() {
        let mut work = [0u8; 128];
        let resp = parse_token_response(
            200,
            br#"{"access_token":"first","token_type":"bearer","scope":"a"}"#,
            &mut work,
        )
        .unwrap();
        let mut t = Token::<8, 4>::new();
        t.set(&resp, Instant::ZERO, &RefreshPolicy::new()).unwrap();
        let mut work2 = [0u8; 128];
        let long = parse_token_response(
            200,
            br#"{"access_token":"much-too-long","token_type":"bearer"}"#,
            &mut work2,
        )
        .unwrap();
        match t.set(&long, Instant::from_secs(5), &RefreshPolicy::new()) {
            Err(Error::Capacity(c)) => assert_eq!(
                (c.buffer, c.needed, c.available),
                (Buffer::AccessToken, 13, 8)
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            (t.expose_secret(), t.scope(), t.obtained_at()),
            ("first", Some("a"), Instant::ZERO)
        );
        let mut small = [0u8; 10];
        assert!(
            matches!(t.authorization_value(&mut small), Err(Error::Capacity(c)) if c.needed == 12)
        );
    }

    /// A token and a scope of exactly the capacity are stored.
    #[test]
    fn exact_capacities_are_enough() {
        let mut work = [0u8; 128];
        let resp = parse_token_response(
            200,
            br#"{"access_token":"12345678","token_type":"bearer","scope":"abcd"}"#,
            &mut work,
        )
        .unwrap();
        let mut t = Token::<8, 4>::new();
        t.set(&resp, Instant::ZERO, &RefreshPolicy::new()).unwrap();
        assert_eq!((t.expose_secret(), t.scope()), ("12345678", Some("abcd")));
    }

    fn hour_token() -> Token<32, 8> {
        let mut work = [0u8; 128];
        let resp = parse_token_response(
            200,
            br#"{"access_token":"abc","token_type":"bearer","expires_in":3600}"#,
            &mut work,
        )
        .unwrap();
        let mut t = Token::new();
        t.set(&resp, Instant::from_secs(100), &RefreshPolicy::new())
            .unwrap();
        t
    }

    /// Renewing early moves the due point by exactly that much.
    #[test]
    fn refresh_early_moves_the_due_point() {
        let p = RefreshPolicy::new().with_margin(Duration::from_secs(60));
        let mut t = hour_token();
        assert_eq!(t.freshness(Instant::from_secs(3_639), &p), Freshness::Fresh);
        t.set_refresh_early(Duration::from_secs(100));
        assert_eq!(
            t.freshness(Instant::from_millis(3_539_999), &p),
            Freshness::Fresh
        );
        assert_eq!(
            t.freshness(Instant::from_secs(3_540), &p),
            Freshness::RefreshDue
        );
        assert_eq!(
            t.freshness(Instant::from_secs(3_700), &p),
            Freshness::Expired
        );
    }

    /// The header copy carries the token's expiry and is valid strictly
    /// before it; its `Debug` shows the expiry, never the value.
    #[test]
    fn bearer_header_validity_and_debug() {
        let t = hour_token();
        let h = t.bearer::<16>().unwrap();
        assert_eq!(h.as_str(), "Bearer abc");
        assert_eq!(h.expires_at(), Instant::from_secs(3_700));
        assert_eq!(h.expires_at(), t.expires_at());
        assert!(h.is_valid(Instant::from_secs(100)));
        assert!(h.is_valid(Instant::from_millis(3_699_999)));
        assert!(!h.is_valid(Instant::from_secs(3_700)));
        let debug = std::format!("{h:?}");
        assert!(debug.starts_with("BearerHeader"), "{debug}");
        assert!(
            debug.contains("<redacted>") && debug.contains("3700"),
            "{debug}"
        );
        assert!(!debug.contains("abc"), "{debug}");
        let empty = Token::<8, 4>::new().bearer::<16>();
        if let Ok(h) = empty {
            assert!(!h.is_valid(Instant::ZERO));
        }
    }
}
