//! The token request ([RFC 6749 §4.4.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.4.2)).

use crate::authn as auth;
use crate::bytes::shift_left;
use crate::credentials::{AuthStyle, Config};
use crate::encode::{Out, Sink, form};
use crate::error::{Buffer, CapacityError, Error};

pub(crate) const USER_AGENT: &str = concat!("embedded-oauth2/", env!("CARGO_PKG_VERSION"));

fn write_body<const N: usize>(
    sink: &mut Sink<'_>,
    config: &Config<'_, N>,
    draw: &auth::Draw,
    extras: Extras<'_>,
) -> Result<(), Error> {
    // RFC 7009 §2.1: the token and its type, then the client's
    // authentication; nothing of the grant.
    #[cfg(feature = "revocation")]
    if let Some(token) = extras.revoke {
        let mut first = true;
        form::pair(sink, &mut first, "token", token);
        sink.put(b"&token_type_hint=access_token");
        return auth::write_body_params(sink, &mut first, config, draw, extras.auth_style);
    }
    // The grant type is a constant that needs no encoding.
    sink.put(b"grant_type=client_credentials");
    let mut first = false;
    auth::write_body_params(sink, &mut first, config, draw, extras.auth_style)?;
    if let Some(scope) = config.scope {
        form::pair(sink, &mut first, "scope", scope);
    }
    if let Some(aud) = config.audience {
        form::pair(sink, &mut first, "audience", aud);
    }
    for r in config.resources {
        form::pair(sink, &mut first, "resource", r);
    }
    for (k, v) in config.extra {
        form::pair_encoded(sink, &mut first, k, v);
    }
    Ok(())
}

/// Writes the form body (`grant_type=client_credentials&…`) into `buf`, for
/// firmware that sends the request with its own HTTP client. Send it with
/// `Content-Type: application/x-www-form-urlencoded` and the header from
/// [`authorization_header`](crate::http::authorization_header).
///
/// With `client_secret_post` the body holds the secret: zeroize `buf` when
/// the request has been sent.
///
/// ```
/// use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
/// use embedded_oauth2::http::form_body;
/// let config = Config::new(
///     TokenEndpoint::parse("https://as.example/token")?,
///     ClientId::new("dev 1")?,
///     ClientAuth::Post(ClientSecret::<16>::new("a&b")?),
/// )
/// .with_scope("read")?;
/// let mut buf = [0u8; 128];
/// let body = form_body(&config, &mut buf)?;
/// assert_eq!(body, "grant_type=client_credentials&client_id=dev+1&client_secret=a%26b&scope=read");
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub fn form_body<'b, const N: usize>(
    config: &Config<'_, N>,
    buf: &'b mut [u8],
) -> Result<&'b str, Error> {
    let draw = auth::Draw::new(config)?;
    let mut sink = Sink::new(buf);
    write_body(&mut sink, config, &draw, Extras::default())?;
    let n = sink.finish(Buffer::Output)?;
    Ok(buf
        .get(..n)
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or_default())
}

/// Writes the complete HTTP/1.1 token request (head and body) into `buf` and
/// returns its length.
///
/// The request asks the server to close the connection after answering
/// (`Connection: close`): a device fetches a token rarely, and this keeps the
/// response framing simple and the socket count at one.
///
/// A buffer that is too small gives [`Error::Capacity`] with the exact size
/// needed (and the buffer is wiped: nothing of the credentials is left in
/// it). The buffer holds the client's credentials afterwards; the drivers
/// zeroize it once the request is sent.
///
/// ```
/// use embedded_oauth2::{ClientAuth, ClientId, Config, TokenEndpoint};
/// use embedded_oauth2::http::encode_request;
/// let config = Config::<0>::new(
///     TokenEndpoint::parse("https://as.example:8443/token")?,
///     ClientId::new("dev")?,
///     ClientAuth::ClientIdOnly,
/// );
/// let mut buf = [0u8; 512];
/// let n = encode_request(&config, &mut buf)?;
/// let text = core::str::from_utf8(&buf[..n]).unwrap();
/// assert!(text.contains("Host: as.example:8443\r\n"));
/// assert!(text.ends_with("\r\n\r\ngrant_type=client_credentials&client_id=dev"));
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub fn encode_request<const N: usize>(
    config: &Config<'_, N>,
    buf: &mut [u8],
) -> Result<usize, Error> {
    encode_request_with(config, buf, None, Extras::default())
}

/// The token request's DPoP proof signing input (for an async signer) into
/// `buf`: the very bytes the request then signs; its length.
#[cfg(feature = "dpop")]
pub(crate) fn dpop_signing_input<const N: usize>(
    config: &Config<'_, N>,
    draw: &auth::Draw,
    extras: Extras<'_>,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let (Some(d), Some((iat, jti))) = (&config.dpop, draw.dpop) else {
        return Ok(0);
    };
    let proof = token_proof(config, extras)?;
    let mut sink = Sink::new(buf);
    proof.write_input(&mut sink, &d.key, iat, &jti);
    Ok(sink.finish(Buffer::Request)?)
}

/// The proof a token request carries: `POST` to the endpoint, with the
/// server's latest nonce.
#[cfg(feature = "dpop")]
fn token_proof<'c, const N: usize>(
    config: &'c Config<'_, N>,
    extras: Extras<'c>,
) -> Result<crate::auth::dpop::Proof<'c>, Error> {
    let proof = crate::auth::dpop::Proof::new("POST", config.endpoint.url());
    match extras.nonce.map(|n| n.get()) {
        Some(Ok(n)) => Ok(proof.with_nonce(n)),
        Some(Err(len)) => Err(crate::auth::dpop::nonce_too_long(len)),
        None => Ok(proof),
    }
}

/// What a request carries besides the configuration and the drawn values:
/// the token endpoint's latest DPoP nonce and the style
/// [`ClientAuth::Auto`](crate::ClientAuth::Auto) tries (kept by the client).
#[derive(Clone, Copy, Default)]
pub(crate) struct Extras<'n> {
    pub(crate) auth_style: AuthStyle,
    /// A revocation request (RFC 7009) of this token instead of a token
    /// request.
    #[cfg(feature = "revocation")]
    pub(crate) revoke: Option<&'n str>,
    #[cfg(feature = "dpop")]
    pub(crate) nonce: Option<&'n crate::nonce::DpopNonce>,
    #[cfg(not(feature = "dpop"))]
    pub(crate) nonce: core::marker::PhantomData<&'n ()>,
}

/// [`encode_request`] with the per-request values drawn beforehand (an
/// assertion signed by an async signer); `None`: drawn now.
pub(crate) fn encode_request_with<const N: usize>(
    config: &Config<'_, N>,
    buf: &mut [u8],
    draw: Option<auth::Draw>,
    extras: Extras<'_>,
) -> Result<usize, Error> {
    let r = write_request(config, buf, draw, extras);
    if r.is_err() {
        crate::bytes::wipe(buf);
    }
    r
}

fn write_request<const N: usize>(
    config: &Config<'_, N>,
    buf: &mut [u8],
    draw: Option<auth::Draw>,
    extras: Extras<'_>,
) -> Result<usize, Error> {
    let draw = match draw {
        Some(d) => d,
        None => auth::Draw::new(config)?,
    };
    #[cfg(feature = "revocation")]
    let ep = match (extras.revoke, &config.revocation) {
        (Some(_), Some(r)) => r,
        (Some(_), None) => return Err(crate::error::ConfigError::NoRevocationEndpoint.into()),
        (None, _) => &config.endpoint,
    };
    #[cfg(not(feature = "revocation"))]
    let ep = &config.endpoint;
    let mut s = Sink::new(buf);
    s.put(b"POST ");
    s.put_str(ep.path());
    s.put(b" HTTP/1.1\r\nHost: ");
    ep.write_host(&mut s);
    s.put(b"\r\n");
    #[cfg(feature = "dpop")]
    if let (Some(d), Some((iat, jti))) = (&config.dpop, draw.dpop) {
        let proof = token_proof(config, extras)?;
        s.put(b"DPoP: ");
        let signing = match draw.dpop_signature {
            Some(sig) => crate::auth::jwt::Key::Presigned(sig),
            None => crate::auth::jwt::Key::Es256(d.key.signer),
        };
        proof.write_signed(&mut s, &d.key, iat, &jti, &signing)?;
        s.put(b"\r\n");
    }
    if config
        .auth
        .secret_style(extras.auth_style)
        .is_some_and(|(_, style)| style != AuthStyle::Post)
    {
        s.put(b"Authorization: ");
        auth::write_authorization(&mut s, config, extras.auth_style);
        s.put(b"\r\n");
    }
    s.put(b"Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\nUser-Agent: ");
    s.put_str(USER_AGENT);
    s.put(b"\r\nConnection: close\r\nContent-Length: ");
    let at = s.len();
    // The body is written once, GAP bytes further on (room for the longest
    // length, 20 digits, and the blank line, 4 bytes), then moved behind the
    // real length.
    const GAP: usize = 24;
    let body_len = match buf.get_mut(at.saturating_add(GAP)..) {
        Some(rest) => {
            let mut b = Sink::new(rest);
            write_body(&mut b, config, &draw, extras)?;
            b.len()
        }
        None => {
            let mut c = Sink::counter();
            write_body(&mut c, config, &draw, extras)?;
            c.len()
        }
    };
    let mut len = [0u8; GAP];
    let mut l = Sink::new(&mut len);
    l.put_decimal(body_len as u64);
    l.put(b"\r\n\r\n");
    let l = l.len();
    let total = at.saturating_add(l).saturating_add(body_len);
    if total > buf.len() {
        return Err(CapacityError {
            buffer: Buffer::Request,
            needed: total,
            available: buf.len(),
            exact: true,
        }
        .into());
    }
    let gap_end = at + GAP + body_len;
    if gap_end <= buf.len() {
        shift_left(buf.get_mut(at + l..gap_end).unwrap_or_default(), GAP - l);
        // What was left behind may hold a secret (client_secret_post).
        crate::bytes::wipe(buf.get_mut(total..gap_end).unwrap_or_default());
    } else {
        // It fits only without the gap: write the body again, in place.
        let mut b = Sink::new(buf.get_mut(at + l..).unwrap_or_default());
        write_body(&mut b, config, &draw, extras)?;
        crate::bytes::wipe(buf.get_mut(total..).unwrap_or_default());
    }
    if let (Some(dst), Some(src)) = (buf.get_mut(at..at + l), len.get(..l)) {
        dst.copy_from_slice(src);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientAuth, ClientId, ClientSecret, TokenEndpoint};

    #[test]
    fn golden_request_basic() {
        let config = Config::new(
            TokenEndpoint::parse("https://server.example.com/token").unwrap(),
            ClientId::new("s6BhdRkqt3").unwrap(),
            ClientAuth::Basic(ClientSecret::<16>::new("gX1fBat3bV").unwrap()),
        )
        .with_scope("a b")
        .unwrap()
        .with_audience("https://api")
        .unwrap()
        .with_resources(&["https://r1/", "urn:r2"])
        .unwrap()
        .with_extra_params(&[("k y", "v&1")])
        .unwrap();
        let mut buf = [0u8; 512];
        let n = encode_request(&config, &mut buf).unwrap();
        let body = "grant_type=client_credentials&scope=a+b&audience=https%3A%2F%2Fapi\
                    &resource=https%3A%2F%2Fr1%2F&resource=urn%3Ar2&k+y=v%261";
        let expected = std::format!(
            "POST /token HTTP/1.1\r\nHost: server.example.com\r\n\
             Authorization: Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n\
             User-Agent: {USER_AGENT}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(core::str::from_utf8(&buf[..n]).unwrap(), expected);
        // Every size below the exact one fails with the exact need.
        for small in [0, 1, n / 2, n - 1] {
            match encode_request(&config, &mut buf[..small]) {
                Err(Error::Capacity(e)) => {
                    assert_eq!((e.needed, e.available, e.exact), (n, small, true))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn every_buffer_size_gives_the_request_or_the_exact_need_and_no_secret() {
        let config = Config::new(
            TokenEndpoint::parse("https://server.example.com/token").unwrap(),
            ClientId::new("s6BhdRkqt3").unwrap(),
            ClientAuth::Post(ClientSecret::<16>::new("gX1fBat3bV").unwrap()),
        )
        .with_scope("a b")
        .unwrap();
        let mut big = [0u8; 512];
        let n = encode_request(&config, &mut big).unwrap();
        let expected = big[..n].to_vec();
        let has_secret = |b: &[u8]| b.windows(10).any(|w| w == b"gX1fBat3bV");
        assert!(has_secret(&expected));
        for size in 0..n + 40 {
            let mut buf = std::vec![0xA5u8; size];
            match encode_request(&config, &mut buf) {
                Ok(len) => {
                    assert!(size >= n, "{size}");
                    assert_eq!((len, &buf[..len]), (n, &expected[..]), "{size}");
                    assert!(!has_secret(&buf[n..]), "{size}");
                    assert!(buf[n..].iter().all(|&b| b == 0 || b == 0xA5), "{size}");
                }
                Err(Error::Capacity(e)) => {
                    assert!(size < n, "{size}");
                    assert_eq!((e.needed, e.available, e.exact), (n, size, true));
                    assert!(buf.iter().all(|&b| b == 0), "{size}: not wiped");
                }
                Err(e) => panic!("{size}: {e:?}"),
            }
        }
    }

    #[test]
    fn ipv6_host_and_post_auth() {
        let config = Config::new(
            TokenEndpoint::parse_allow_http("http://[::1]:8080/t").unwrap(),
            ClientId::new("c").unwrap(),
            ClientAuth::Post(ClientSecret::<16>::new("s").unwrap()),
        );
        let mut buf = [0u8; 512];
        let n = encode_request(&config, &mut buf).unwrap();
        let t = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(t.contains("Host: [::1]:8080\r\n"), "{t}");
        assert!(!t.contains("Authorization"));
        assert!(t.ends_with("grant_type=client_credentials&client_id=c&client_secret=s"));
    }
}
