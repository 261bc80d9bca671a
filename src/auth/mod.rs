//! Signed client assertions (RFC 7523), the HMAC under `client_secret_jwt`
//! and DPoP proofs (RFC 9449): a leaf, used by the configuration
//! (`Assertion`) and by `authn`.

#[cfg(feature = "dpop")]
pub(crate) mod dpop;
#[cfg(any(feature = "client-secret-jwt", feature = "dpop"))]
mod hmac;
#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
pub(crate) mod jwt;
