//! # embedded-oauth2
//!
//! An allocation-free OAuth 2.0 **Client Credentials Grant** client
//! ([RFC 6749 §4.4](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)) for
//! microcontrollers: a device proves it is a confidential client, obtains an
//! access token, keeps it until it must be renewed (judged by a clock the
//! caller supplies) and presents it as `Authorization: Bearer` to the services
//! it calls.
//!
//! ## Design goals
//!
//! * `#![no_std]`, no `alloc`, `#![forbid(unsafe_code)]`.
//! * **Every capacity is the caller's**: buffers are `&mut [u8]` or const
//!   generics. Running out is a typed [`Error::Capacity`] that says how many
//!   bytes were needed, never a panic and never a silently truncated token.
//! * **No panic reachable from input**: server bytes, transport behaviour and
//!   caller arguments all end in a [`Result`].
//! * **Secrets stay secret**: [`ClientSecret`] and [`Token`] have redacted
//!   `Debug`, no `Display`, no `defmt::Format`, are zeroized on drop, and the
//!   request and response bytes are wiped from the caller's buffer once used.
//! * **One sans-IO core**: request encoding ([`encode_request`](http::encode_request)), response
//!   framing ([`ResponseReader`](http::ResponseReader)), token parsing ([`parse_token_response`](http::parse_token_response)),
//!   expiry ([`RefreshPolicy`]) and the exchange state machine ([`Exchange`](http::Exchange))
//!   do no I/O. The [`blocking`] driver is a thin loop over
//!   [`embedded_io::Read`]/[`embedded_io::Write`]; firmware that already has
//!   an HTTP client uses the core directly (see [`form_body`](http::form_body),
//!   [`authorization_header`](http::authorization_header) and [`parse_token_response`](http::parse_token_response)).
//!
//! ## Guides
//!
//! The guides live in the repository's `docs/` directory (shipped with the
//! crate; their examples are compiled as doc tests):
//! [what the client does](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/behaviour.md),
//! [sizing the buffers](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/sizing.md) (also in [`Client::token`]),
//! [when things go wrong](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/errors.md),
//! [authentication styles and `ClientAuth::Auto`](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/auth-styles.md),
//! [DPoP](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/dpop.md), [mutual TLS](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/mtls.md),
//! [tokens that survive sleep and reset](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/persistence.md),
//! [discovery](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/discovery.md), [revocation](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/revocation.md),
//! [TLS: checks and choosing roots](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/tls.md),
//! [security notes](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/security.md),
//! [the complete device and board examples](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/device.md), and
//! [measurements](https://github.com/embedded-oauth2/embedded-oauth2/blob/main/docs/measurements.md).
//!
//! ## Example
//!
//! ```
//! use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
//!
//! let endpoint = TokenEndpoint::parse("https://auth.example.com/oauth2/token")?;
//! let config = Config::new(
//!     endpoint,
//!     ClientId::new("s6BhdRkqt3")?,
//!     ClientAuth::Basic(ClientSecret::<64>::new("gX1fBat3bV")?),
//! )
//! .with_scope("telemetry:write")?;
//!
//! // The whole HTTP request, written into a buffer the caller sized.
//! let mut buf = [0u8; 512];
//! let n = embedded_oauth2::http::encode_request(&config, &mut buf)?;
//! let request = core::str::from_utf8(&buf[..n]).unwrap();
//! assert!(request.starts_with("POST /oauth2/token HTTP/1.1\r\nHost: auth.example.com\r\n"));
//! assert!(request.contains("Authorization: Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW\r\n"));
//! assert!(request.ends_with("\r\n\r\ngrant_type=client_credentials&scope=telemetry%3Awrite"));
//! # Ok::<(), embedded_oauth2::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Tests, and the host openers of `tls::host` (feature `std`, for hosts
// only: the rest of the crate never touches std or an allocator).
#[cfg(any(test, feature = "std"))]
extern crate std;

mod driver;
mod fmt;

mod auth;
mod authn;
mod bytes;
mod client;
mod credentials;
#[cfg(feature = "discovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "discovery")))]
pub mod discovery;
mod encode;
pub mod error;
mod exchange;
mod json;
#[cfg(feature = "dpop")]
mod nonce;
#[cfg(feature = "p256")]
mod p256_signer;
pub mod persist;
mod reader;
mod request;
mod resource;
mod response;
mod retry;
mod text;
mod time;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
mod token;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynch;
pub mod blocking;

// ---- Public API -----------------------------------------------------------
// The common path: configure, fetch, cache, present.
pub use crate::client::{
    Attempt, CLOCK_CORRECTED, CallError, Client, DEFAULT_FETCH_TIMEOUT, NoRandom, NoWallClock,
};
pub use crate::credentials::{
    AuthStyle, ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint,
};
pub use crate::error::{Error, ErrorCode};
pub use crate::reader::Limits;
pub use crate::response::TokenType;
pub use crate::retry::{Backoff, Random};
#[cfg(feature = "embassy-time")]
pub use crate::time::EmbassyClock;
pub use crate::time::{Clock, Freshness, Instant, RefreshPolicy, WallClock};
pub use crate::token::{BearerHeader, Token};

/// Bring your own HTTP client: the sans-IO pieces the drivers are made of,
/// for firmware that already has an HTTP stack (or drives the exchange
/// itself).
///
/// * the request: [`encode_request`](http::encode_request) (whole), or [`form_body`](http::form_body) and
///   [`authorization_header`](http::authorization_header) for your client to send;
/// * the response: [`ResponseReader`](http::ResponseReader) (incremental HTTP/1.1) and
///   [`parse_token_response`](http::parse_token_response) (status and body → [`TokenResponse`](http::TokenResponse)), or
///   [`Exchange`](http::Exchange), the request/response state machine;
/// * then [`Client::complete`](crate::Client::complete) or
///   [`Token::set`](crate::Token::set) stores the token.
///
/// ```
/// use embedded_oauth2::http::parse_token_response;
/// let mut work = [0u8; 128];
/// let t = parse_token_response(200, br#"{"access_token":"a","token_type":"bearer"}"#, &mut work)?;
/// assert_eq!(t.access_token, "a");
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub mod http {
    pub use crate::authn::authorization_header;
    pub use crate::exchange::Exchange;
    pub use crate::json::MAX_JSON_DEPTH;
    pub use crate::reader::{Framing, Limits, MAX_HEADERS, ResponseHead, ResponseReader};
    pub use crate::request::{encode_request, form_body};
    pub use crate::resource::{
        Authorization, Method, ResourceExchange, ResourceRequest, ResourceResponse, ResourceUrl,
        encode_resource_request,
    };
    pub use crate::response::{
        TokenResponse, parse_token_response, parse_token_response_for,
        parse_token_response_with_details,
    };
}

/// DPoP (RFC 9449): proofs of possession of the key a token is bound to
/// (feature `dpop`).
#[cfg(feature = "dpop")]
#[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
pub mod dpop {
    pub use crate::auth::dpop::{Dpop, DpopKey, DpopNonce, MAX_DPOP_NONCE, Proof, asks_for_nonce};
}

/// Signed client assertions (RFC 7523): `client_secret_jwt` (feature
/// `client-secret-jwt`) and `private_key_jwt` (feature `private-key-jwt`,
/// with the software signer `P256Signer` under `p256`).
#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt")))
)]
pub mod assertion {
    #[cfg(feature = "private-key-jwt")]
    pub use crate::auth::jwt::Es256Signer;
    #[cfg(all(feature = "private-key-jwt", feature = "async"))]
    pub use crate::auth::jwt::Es256SignerAsync;
    pub use crate::auth::jwt::{Assertion, Audience, CounterJti, JtiSource, SignError};
    #[cfg(feature = "p256")]
    pub use crate::p256_signer::P256Signer;
}

/// Not public API: the JSON scan alone, for the fuzz target `json_scan`
/// (a differential check against serde_json).
#[doc(hidden)]
pub fn __fuzz_json_object(body: &[u8]) -> bool {
    crate::json::scan(body, |_, _| {}).is_ok()
}

/// The version of `embedded-io` this crate's traits come from.
pub use embedded_io;

// The README's and the docs/ pages' examples are compiled as doc tests.
// `cfg(doctest)`: a normal build (and the packaged crate) never reads
// these files.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[doc = include_str!("../docs/auth-styles.md")]
#[cfg(doctest)]
pub struct DocsAuthStylesDoctests;

#[doc = include_str!("../docs/behaviour.md")]
#[cfg(doctest)]
pub struct DocsBehaviourDoctests;

#[doc = include_str!("../docs/device.md")]
#[cfg(doctest)]
pub struct DocsDeviceDoctests;

#[doc = include_str!("../docs/discovery.md")]
#[cfg(doctest)]
pub struct DocsDiscoveryDoctests;

#[doc = include_str!("../docs/dpop.md")]
#[cfg(doctest)]
pub struct DocsDpopDoctests;

#[doc = include_str!("../docs/errors.md")]
#[cfg(doctest)]
pub struct DocsErrorsDoctests;

#[doc = include_str!("../docs/fetch-token.md")]
#[cfg(doctest)]
pub struct DocsFetchTokenDoctests;

#[doc = include_str!("../docs/measurements.md")]
#[cfg(doctest)]
pub struct DocsMeasurementsDoctests;

#[doc = include_str!("../docs/mtls.md")]
#[cfg(doctest)]
pub struct DocsMtlsDoctests;

#[doc = include_str!("../docs/persistence.md")]
#[cfg(doctest)]
pub struct DocsPersistenceDoctests;

#[doc = include_str!("../docs/revocation.md")]
#[cfg(doctest)]
pub struct DocsRevocationDoctests;

#[doc = include_str!("../docs/security.md")]
#[cfg(doctest)]
pub struct DocsSecurityDoctests;

#[doc = include_str!("../docs/sizing.md")]
#[cfg(doctest)]
pub struct DocsSizingDoctests;

#[doc = include_str!("../docs/tls.md")]
#[cfg(doctest)]
pub struct DocsTlsDoctests;
