//! Client authentication as sent: what each method adds to the header and
//! the body. (The signed assertions themselves are `auth::jwt`'s; this
//! module reads the configuration, `auth` does not, so neither depends on
//! the other's caller.)

use base64ct::Base64;

#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
use crate::auth::jwt;

use crate::credentials::{AuthStyle, ClientAuth, Config};
use crate::encode::base64::B64;
use crate::encode::{Out, Sink, form};
use crate::error::{Buffer, Error};

/// Writes the `Authorization` header *value* for the configured method
/// (`Basic …`), or nothing when the method sends no header.
pub(crate) fn write_authorization<const N: usize>(
    sink: &mut Sink<'_>,
    config: &Config<'_, N>,
    auto: AuthStyle,
) -> bool {
    let id = config.client_id.as_str();
    let (secret, encoded) = match config.auth.secret_style(auto) {
        Some((s, AuthStyle::Basic)) => (s.expose_secret(), true),
        Some((s, AuthStyle::BasicUnencoded)) => (s.expose_secret(), false),
        _ => return false,
    };
    sink.put(b"Basic ");
    // RFC 6749 §2.3.1: id and secret are form-urlencoded, joined by ':',
    // then base64-encoded, streamed so no temporary copy of the secret exists.
    let mut enc = B64::<_, Base64>::new(sink);
    if encoded {
        form::encode(&mut enc, id);
        enc.put(b":");
        form::encode(&mut enc, secret);
    } else {
        enc.put(id.as_bytes());
        enc.put(b":");
        enc.put(secret.as_bytes());
    }
    drop(enc);
    true
}

/// The `Authorization` header value (`Basic …`) for the configured method,
/// for firmware that sends the request with its own HTTP client.
///
/// Returns `Ok(None)` for methods that authenticate in the body.
///
/// ```
/// use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
/// use embedded_oauth2::http::authorization_header;
/// let config = Config::new(
///     TokenEndpoint::parse("https://server.example.com/token")?,
///     ClientId::new("s6BhdRkqt3")?,
///     ClientAuth::Basic(ClientSecret::<16>::new("gX1fBat3bV")?),
/// );
/// let mut buf = [0u8; 64];
/// let value = authorization_header(&config, &mut buf)?;
/// assert_eq!(value, Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"));
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub fn authorization_header<'b, const N: usize>(
    config: &Config<'_, N>,
    buf: &'b mut [u8],
) -> Result<Option<&'b str>, Error> {
    let mut sink = Sink::new(buf);
    if !write_authorization(&mut sink, config, AuthStyle::Basic) {
        return Ok(None);
    }
    let n = sink.finish(Buffer::Output)?;
    let value = buf
        .get(..n)
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or_default();
    Ok(Some(value))
}

/// Per-request values drawn once, before the counting and writing passes.
#[derive(Clone, Copy, Default)]
pub(crate) struct Draw {
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    pub(crate) claims: Option<jwt::Claims>,
    /// The assertion's signature, when an async signer made it beforehand.
    #[cfg(feature = "private-key-jwt")]
    pub(crate) signature: Option<[u8; 64]>,
    /// The DPoP proof's `iat` and `jti`.
    #[cfg(feature = "dpop")]
    pub(crate) dpop: Option<(u64, [u8; 16])>,
    /// The proof's signature, when an async signer made it beforehand.
    #[cfg(feature = "dpop")]
    pub(crate) dpop_signature: Option<[u8; 64]>,
}

impl Draw {
    pub(crate) fn new<const N: usize>(config: &Config<'_, N>) -> Result<Self, Error> {
        #[cfg_attr(not(feature = "dpop"), allow(unused_mut))]
        let mut draw = Self::assertion(config)?;
        #[cfg(feature = "dpop")]
        if let Some(d) = &config.dpop {
            draw.dpop = Some(d.draw()?);
        }
        Ok(draw)
    }

    /// The draw of a request without a DPoP proof: an assertion's claims.
    pub(crate) fn assertion<const N: usize>(config: &Config<'_, N>) -> Result<Self, Error> {
        #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
        {
            if config.auth.signs() {
                let a = config
                    .assertion
                    .as_ref()
                    .ok_or(crate::error::ConfigError::MissingAssertion)?;
                let mut draw = Self::default();
                draw.claims = Some(jwt::Claims::draw(a)?);
                return Ok(draw);
            }
        }
        let _ = config;
        Ok(Self::default())
    }
}

/// Appends the body parameters of the configured method.
pub(crate) fn write_body_params<const N: usize>(
    sink: &mut Sink<'_>,
    first: &mut bool,
    config: &Config<'_, N>,
    draw: &Draw,
    auto: AuthStyle,
) -> Result<(), Error> {
    let _ = draw;
    let id = config.client_id.as_str();
    if let Some((secret, style)) = config.auth.secret_style(auto) {
        if style == AuthStyle::Post {
            form::pair(sink, first, "client_id", id);
            form::pair(sink, first, "client_secret", secret.expose_secret());
        }
        return Ok(());
    }
    match &config.auth {
        // Handled above.
        ClientAuth::Basic(_)
        | ClientAuth::BasicUnencoded(_)
        | ClientAuth::Post(_)
        | ClientAuth::Auto(_) => {}
        ClientAuth::ClientIdOnly => form::pair(sink, first, "client_id", id),
        #[cfg(feature = "client-secret-jwt")]
        ClientAuth::SecretJwt(secret) => {
            write_assertion(
                sink,
                first,
                config,
                draw,
                &jwt::Key::Hs256(secret.expose_secret().as_bytes()),
            )?;
        }
        #[cfg(feature = "private-key-jwt")]
        ClientAuth::PrivateKeyJwt => {
            let key = match draw.signature {
                Some(sig) => jwt::Key::Presigned(sig),
                None => jwt::Key::Es256(
                    config
                        .assertion
                        .as_ref()
                        .and_then(|a| a.signer)
                        .ok_or(crate::error::ConfigError::MissingAssertion)?,
                ),
            };
            write_assertion(sink, first, config, draw, &key)?;
        }
    }
    Ok(())
}

/// Writes the JWS signing input of the `private_key_jwt` assertion `draw`
/// will carry into `buf` (for an async signer); its length.
#[cfg(feature = "private-key-jwt")]
pub(crate) fn signing_input<const N: usize>(
    config: &Config<'_, N>,
    draw: &Draw,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let (a, claims, aud) = assertion_parts(config, draw)?;
    let mut sink = Sink::new(buf);
    jwt::write_signing_input(
        &mut sink,
        "ES256",
        config.client_id.as_str(),
        aud,
        a,
        claims,
    );
    Ok(sink.finish(Buffer::Request)?)
}

/// The configured assertion, the claims drawn for this request and the
/// audience they are for: what both the signing input and the sent
/// assertion are made of.
#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
fn assertion_parts<'c, 'a, 'd, const N: usize>(
    config: &'c Config<'a, N>,
    draw: &'d Draw,
) -> Result<(&'c jwt::Assertion<'a>, &'d jwt::Claims, &'c str), Error> {
    use crate::error::ConfigError;
    let a = config
        .assertion
        .as_ref()
        .ok_or(ConfigError::MissingAssertion)?;
    let claims = draw.claims.as_ref().ok_or(ConfigError::MissingAssertion)?;
    let aud = match a.audience {
        jwt::Audience::TokenEndpoint => config.endpoint.url(),
        jwt::Audience::Other(s) => s,
    };
    Ok((a, claims, aud))
}

#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
fn write_assertion<const N: usize>(
    sink: &mut Sink<'_>,
    first: &mut bool,
    config: &Config<'_, N>,
    draw: &Draw,
    key: &jwt::Key<'_>,
) -> Result<(), Error> {
    let (a, claims, aud) = assertion_parts(config, draw)?;
    form::pair(
        sink,
        first,
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    );
    // The JWS alphabet (base64url and '.') needs no form-encoding.
    sink.put(b"&client_assertion=");
    jwt::write_jws(sink, key, config.client_id.as_str(), aud, a, claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientId, ClientSecret, TokenEndpoint};
    use base64ct::Encoding;

    fn header(id: &str, secret: &str, encoded: bool) -> std::string::String {
        let s = ClientSecret::<64>::new(secret).unwrap();
        let auth = if encoded {
            ClientAuth::Basic(s)
        } else {
            ClientAuth::BasicUnencoded(s)
        };
        let c = Config::new(
            TokenEndpoint::parse("https://h/t").unwrap(),
            ClientId::new(id).unwrap(),
            auth,
        );
        let mut buf = [0u8; 256];
        std::string::String::from(authorization_header(&c, &mut buf).unwrap().unwrap())
    }

    #[test]
    fn rfc6749_section_4_4_2_vector() {
        assert_eq!(
            header("s6BhdRkqt3", "gX1fBat3bV", true),
            "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"
        );
        assert_eq!(
            header("s6BhdRkqt3", "gX1fBat3bV", false),
            "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"
        );
    }

    #[test]
    fn rfc6749_section_2_3_1_reserved_characters() {
        // id "my client:1" and secret "p@ss+w%rd &=é" form-urlencode to
        // "my+client%3A1" and "p%40ss%2Bw%25rd+%26%3D%C3%A9".
        let expected = std::format!(
            "Basic {}",
            Base64::encode_string(b"my+client%3A1:p%40ss%2Bw%25rd+%26%3D%C3%A9")
        );
        assert_eq!(header("my client:1", "p@ss+w%rd &=é", true), expected);
        let raw = std::format!(
            "Basic {}",
            Base64::encode_string("my client:1:p@ss+w%rd &=é".as_bytes())
        );
        assert_eq!(header("my client:1", "p@ss+w%rd &=é", false), raw);
    }

    #[test]
    fn small_buffer_reports_exact_need() {
        let c = Config::new(
            TokenEndpoint::parse("https://h/t").unwrap(),
            ClientId::new("s6BhdRkqt3").unwrap(),
            ClientAuth::Basic(ClientSecret::<64>::new("gX1fBat3bV").unwrap()),
        );
        let mut buf = [0u8; 10];
        match authorization_header(&c, &mut buf) {
            Err(Error::Capacity(e)) => {
                assert_eq!(e.needed, "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW".len())
            }
            other => panic!("{other:?}"),
        }
    }
}
