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
//! * **One sans-IO core**: request encoding ([`encode_request`]), response
//!   framing ([`ResponseReader`]), token parsing ([`parse_token_response`]),
//!   expiry ([`RefreshPolicy`]) and the exchange state machine ([`Exchange`])
//!   do no I/O. The [`blocking`] driver is a thin loop over
//!   [`embedded_io::Read`]/[`embedded_io::Write`]; firmware that already has
//!   an HTTP client uses the core directly (see [`form_body`],
//!   [`authorization_header`] and [`parse_token_response`]).
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
//! let n = embedded_oauth2::encode_request(&config, &mut buf)?;
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

#[cfg(test)]
extern crate std;

mod driver;
mod fmt;

mod auth;
mod authn;
mod bytes;
mod client;
mod credentials;
mod encode;
mod error;
mod exchange;
mod http;
mod json;
#[cfg(feature = "p256")]
mod p256_signer;
mod request;
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
#[cfg(feature = "private-key-jwt")]
pub use crate::auth::jwt::Es256Signer;
#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
pub use crate::auth::jwt::{Assertion, Audience, CounterJti, JtiSource, SignError};
pub use crate::authn::authorization_header;
pub use crate::client::{Attempt, CallError, Client};
pub use crate::credentials::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
pub use crate::error::{
    Buffer, CapacityError, ConfigError, Error, ErrorCode, ErrorDetails, HttpError, OAuthError,
    ResponseError, Retry, RetryAfter,
};
pub use crate::exchange::Exchange;
pub use crate::http::{Framing, Limits, MAX_HEADERS, ResponseHead, ResponseReader};
pub use crate::json::MAX_JSON_DEPTH;
#[cfg(feature = "p256")]
pub use crate::p256_signer::P256Signer;
pub use crate::request::{encode_request, form_body};
pub use crate::response::{TokenResponse, TokenType, parse_token_response};
pub use crate::retry::{Backoff, Random};
pub use crate::text::Text;
pub use crate::time::{Clock, Freshness, Instant, RefreshPolicy, WallClock};
pub use crate::token::Token;

/// Not public API: the JSON scan alone, for the fuzz target `json_scan`
/// (a differential check against serde_json).
#[doc(hidden)]
pub fn __fuzz_json_object(body: &[u8]) -> bool {
    crate::json::scan(body, |_, _| {}).is_ok()
}

/// The version of `embedded-io` this crate's traits come from.
pub use embedded_io;

// The README's examples are compiled as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
