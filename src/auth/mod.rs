//! Signed client assertions (RFC 7523) and the HMAC under `client_secret_jwt`:
//! a leaf, used by the configuration (`Assertion`) and by `authn`.

#[cfg(feature = "client-secret-jwt")]
mod hmac;
#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
pub(crate) mod jwt;
