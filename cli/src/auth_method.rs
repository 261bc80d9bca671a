//! The `--auth` methods of the two `fetch_token` programs (the host's
//! `cli/`, and the emulated device's `examples/qemu-device`, which includes
//! this file with `#[path]`), named once. `no_std`.

/// A client authentication method as `--auth` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`, credentials form-encoded (RFC 6749 §2.3.1).
    Basic,
    /// `client_secret_basic` without the form-encoding, for servers that
    /// do not decode.
    BasicUnencoded,
    /// `client_secret_post`.
    Post,
    /// The secret sent as the server turns out to accept
    /// (`ClientAuth::Auto`).
    Auto,
    /// A public client: `client_id` only.
    None,
    /// `client_secret_jwt` (HS256).
    Jwt,
    /// `private_key_jwt` (ES256).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The method `--auth` names, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "basic" => Some(Self::Basic),
            "basic-unencoded" => Some(Self::BasicUnencoded),
            "post" => Some(Self::Post),
            "auto" => Some(Self::Auto),
            "none" => Some(Self::None),
            "jwt" => Some(Self::Jwt),
            "private-key-jwt" => Some(Self::PrivateKeyJwt),
            _ => None,
        }
    }

    /// Whether the method sends a signed assertion.
    pub fn signed(self) -> bool {
        matches!(self, Self::Jwt | Self::PrivateKeyJwt)
    }
}
