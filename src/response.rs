//! Token and error responses
//! ([RFC 6749 §5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1),
//! [§5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2)), parsed with
//! into caller-owned memory: one flat pass checks the whole body and finds the
//! members, then the strings the client keeps are decoded.

use core::fmt;

use crate::credentials::valid_scope;
use crate::error::{
    Buffer, CapacityError, Error, ErrorCode, ErrorDetails, HttpError, OAuthError, ResponseError,
};
use crate::json::{Lit, Value, scan, trim_ws, unescape, unescape_into, visible_ascii};

/// The token types this client can present
/// ([RFC 6749 §7.1](https://www.rfc-editor.org/rfc/rfc6749#section-7.1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TokenType {
    /// `Bearer` ([RFC 6750](https://www.rfc-editor.org/rfc/rfc6750)), matched
    /// case-insensitively.
    Bearer,
    /// `DPoP` ([RFC 9449](https://www.rfc-editor.org/rfc/rfc9449)): bound to
    /// the client's key, presented with a proof. Accepted only in answer to
    /// a request that carried a DPoP proof (feature `dpop`).
    Dpop,
}

/// A successful token response, borrowing the caller's work buffer.
///
/// `Debug` does not show the access token.
#[derive(Clone)]
#[non_exhaustive]
pub struct TokenResponse<'b> {
    /// The access token (validated: non-empty, visible ASCII only).
    pub access_token: &'b str,
    /// The token type (only `Bearer` is understood).
    pub token_type: TokenType,
    /// `expires_in` in seconds, when sent (as a number or a numeric string).
    pub expires_in: Option<u64>,
    /// `scope`, when sent and non-empty.
    pub scope: Option<&'b str>,
}

impl fmt::Debug for TokenResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// `expires_in`: a positive integer, as a number or a numeric string.
fn parse_expires_in(value: Value<'_>) -> Result<Option<u64>, ResponseError> {
    let digits = match value {
        Value::Other(b"null") => return Ok(None),
        Value::Other(t) => t,
        Value::Str(lit) => trim_ws(lit.raw),
    };
    let v = crate::bytes::parse_u64(digits).ok_or(ResponseError::InvalidExpiresIn)?;
    if v == 0 {
        return Err(ResponseError::InvalidExpiresIn);
    }
    Ok(Some(v))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    AccessToken,
    TokenType,
    ExpiresIn,
    Scope,
    Error,
    ErrorDescription,
    ErrorUri,
    Other,
}

impl Field {
    fn from_key(k: &[u8]) -> Self {
        // A table and slice equality (length first, then memcmp): smaller
        // code than a `match` on byte-string patterns.
        const NAMES: [(&[u8], Field); 7] = [
            (b"access_token", Field::AccessToken),
            (b"token_type", Field::TokenType),
            (b"expires_in", Field::ExpiresIn),
            (b"scope", Field::Scope),
            (b"error", Field::Error),
            (b"error_description", Field::ErrorDescription),
            (b"error_uri", Field::ErrorUri),
        ];
        NAMES
            .iter()
            .find(|(name, _)| *name == k)
            .map_or(Self::Other, |&(_, f)| f)
    }

    /// The member a (possibly escaped) name means.
    fn from_lit(k: Lit<'_>) -> Self {
        if !k.escaped {
            return Self::from_key(k.raw);
        }
        let mut name = [0u8; 20];
        match unescape_into(k, &mut name) {
            (n, total) if n == total => Self::from_key(name.get(..n).unwrap_or_default()),
            _ => Self::Other,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::AccessToken => 1,
            Self::TokenType => 2,
            Self::ExpiresIn => 4,
            Self::Scope => 8,
            Self::Error => 16,
            Self::ErrorDescription => 32,
            Self::ErrorUri => 64,
            Self::Other => 0,
        }
    }
}

/// Collects the members the client reads; the strings it keeps are
/// unescaped into the caller's work buffer.
struct Collector<'a, 'w, 'd> {
    staging: &'w mut [u8],
    details: Option<&'d mut ErrorDetails>,
    used: usize,
    needed: usize,
    seen: u8,
    access_token: Option<(usize, usize)>,
    token_type: Option<Option<TokenType>>,
    scope: Option<(usize, usize)>,
    expires_in: Option<Value<'a>>,
    error: Option<ErrorCode>,
    fail: Option<ResponseError>,
}

impl<'a> Collector<'a, '_, '_> {
    fn stage(&mut self, lit: Lit<'_>) -> (usize, usize) {
        let start = self.used;
        let (n, total) = unescape_into(lit, self.staging.get_mut(start..).unwrap_or_default());
        self.needed = self.needed.saturating_add(total);
        if n == total {
            self.used += n;
        }
        (start, total)
    }

    fn member(&mut self, key: Lit<'_>, value: Value<'a>) {
        if self.fail.is_some() {
            return;
        }
        let field = Field::from_lit(key);
        let bit = field.bit();
        if self.seen & bit != 0 {
            self.fail = Some(ResponseError::DuplicateMember);
            return;
        }
        self.seen |= bit;
        let lit = match (field, value) {
            (Field::Other, _) => return,
            (Field::ExpiresIn, v) => {
                self.expires_in = Some(v);
                return;
            }
            // `null` counts as absent.
            (_, Value::Other(b"null")) => return,
            (_, Value::Other(_)) => {
                self.fail = Some(ResponseError::WrongType);
                return;
            }
            (_, Value::Str(lit)) => lit,
        };
        let details = self.details.as_deref_mut();
        match field {
            Field::AccessToken => self.access_token = Some(self.stage(lit)),
            Field::Scope => self.scope = Some(self.stage(lit)),
            Field::TokenType => {
                // Token types are case-insensitive (RFC 6749 §5.1).
                let mut t = [0u8; 6];
                self.token_type = Some(match unescape_into(lit, &mut t) {
                    (6, 6) if t.eq_ignore_ascii_case(b"bearer") => Some(TokenType::Bearer),
                    // (Only a client with feature `dpop` sends proofs.)
                    (4, 4)
                        if cfg!(feature = "dpop")
                            && t.get(..4).is_some_and(|t| t.eq_ignore_ascii_case(b"dpop")) =>
                    {
                        Some(TokenType::Dpop)
                    }
                    _ => None,
                });
            }
            // Known codes are at most 23 bytes; a longer one is an
            // extension code, kept truncated.
            Field::Error => {
                let mut code = [0u8; 28];
                let (n, _) = unescape_into(lit, &mut code);
                self.error = Some(ErrorCode::parse_bytes(code.get(..n).unwrap_or_default()));
                if let Some(d) = details {
                    assign(d.code.get_or_insert_default(), lit);
                }
            }
            // The texts are written in place: no temporaries on the stack.
            Field::ErrorDescription => {
                if let Some(d) = details {
                    assign(d.description.get_or_insert_default(), lit);
                }
            }
            Field::ErrorUri => {
                if let Some(d) = details {
                    assign(d.uri.get_or_insert_default(), lit);
                }
            }
            Field::ExpiresIn | Field::Other => {}
        }
    }
}

fn assign<const N: usize>(t: &mut crate::text::Text<N>, lit: Lit<'_>) {
    t.clear();
    unescape(lit, &mut |s| t.push_lossy(s));
}

/// Parses a token endpoint response body.
///
/// * `status` is the HTTP status.
/// * `body` is the complete (de-chunked) body.
/// * `work` receives the unescaped access token and scope, which the result
///   borrows. It needs at most `body.len()` bytes (their unescaped length
///   exactly); a smaller one that does not suffice gives
///   [`Error::Capacity`] with the exact need.
///
/// The body must be one JSON object (RFC 8259, UTF-8), nested at most
/// [`MAX_JSON_DEPTH`](crate::http::MAX_JSON_DEPTH) deep; the members it does not know are checked and
/// skipped, not decoded.
///
/// An `error` member gives [`Error::OAuth`] whatever the status (some servers
/// answer 200 with an error object); its free text is read with
/// [`ErrorDetails::parse`]. A non-2xx status without one gives
/// [`HttpError::UnexpectedStatus`].
///
/// The work buffer holds the token afterwards: zeroize it when done.
///
/// ```
/// use embedded_oauth2::{Error, ErrorCode, TokenType};
/// use embedded_oauth2::http::parse_token_response;
/// let body = br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"bearer","expires_in":"3600"}"#;
/// let mut work = [0u8; 64];
/// let t = parse_token_response(200, body, &mut work)?;
/// assert_eq!(t.access_token, "2YotnFZFEjr1zCsicMWpAA");
/// assert_eq!((t.token_type, t.expires_in), (TokenType::Bearer, Some(3600)));
///
/// let err = parse_token_response(400, br#"{"error":"invalid_scope"}"#, &mut work);
/// assert!(matches!(err, Err(Error::OAuth(e)) if e.code == ErrorCode::InvalidScope));
/// # Ok::<(), Error>(())
/// ```
pub fn parse_token_response<'w>(
    status: u16,
    body: &[u8],
    work: &'w mut [u8],
) -> Result<TokenResponse<'w>, Error> {
    parse_response(status, body, work, None, false)
}

/// [`parse_token_response`] that also keeps, in the same pass, the free text
/// of an error response (description, URI, the full code) in `details`:
/// what firmware with its own HTTP client logs next to the error.
///
/// ```
/// use embedded_oauth2::error::ErrorDetails;
/// use embedded_oauth2::http::parse_token_response_with_details;
/// let body = br#"{"error":"invalid_scope","error_description":"no such scope"}"#;
/// let (mut work, mut details) = ([0u8; 64], ErrorDetails::default());
/// let r = parse_token_response_with_details(400, body, &mut work, &mut details);
/// assert!(r.is_err());
/// assert_eq!(details.description.unwrap().as_str(), "no such scope");
/// ```
pub fn parse_token_response_with_details<'w>(
    status: u16,
    body: &[u8],
    work: &'w mut [u8],
    details: &mut ErrorDetails,
) -> Result<TokenResponse<'w>, Error> {
    parse_response(status, body, work, Some(details), false)
}

/// [`parse_token_response`] (and, given `details`,
/// [`parse_token_response_with_details`]) for the request `config` makes:
/// when it asks for DPoP (RFC 9449), only a `DPoP` token is accepted (a
/// `Bearer` token would be a downgrade), otherwise only a `Bearer` one — the
/// policy of the crate's drivers, for firmware with its own HTTP client.
///
/// ```
/// use embedded_oauth2::{ClientAuth, ClientId, Config, TokenEndpoint, TokenType};
/// use embedded_oauth2::http::parse_token_response_for;
/// let config = Config::<0>::new(
///     TokenEndpoint::parse("https://as.example/token")?,
///     ClientId::new("dev")?,
///     ClientAuth::ClientIdOnly,
/// );
/// let body = br#"{"access_token":"abc","token_type":"Bearer"}"#;
/// let mut work = [0u8; 16];
/// let t = parse_token_response_for(&config, 200, body, &mut work, None)?;
/// assert_eq!(t.token_type, TokenType::Bearer);
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub fn parse_token_response_for<'w, const N: usize>(
    config: &crate::credentials::Config<'_, N>,
    status: u16,
    body: &[u8],
    work: &'w mut [u8],
    details: Option<&mut ErrorDetails>,
) -> Result<TokenResponse<'w>, Error> {
    parse_response(status, body, work, details, config.dpop_requested())
}

/// The token type a request may receive: a DPoP token only for a DPoP
/// request, and a DPoP request only a DPoP token (a `Bearer` token for it
/// is a downgrade).
pub(crate) fn token_type_for(
    token_type: TokenType,
    dpop: bool,
) -> Result<TokenType, ResponseError> {
    match (token_type, dpop) {
        (TokenType::Bearer, true) => Err(ResponseError::BearerForDpop),
        (TokenType::Dpop, false) => Err(ResponseError::UnsupportedTokenType),
        (t, _) => Ok(t),
    }
}

impl ErrorDetails {
    /// Reads the free text of an error response: `WWW-Authenticate` (the
    /// header's value, if any) and the body's `error`, `error_description`
    /// and `error_uri`. Best effort: what cannot be read is `None`.
    pub fn parse(www_authenticate: Option<&[u8]>, body: &[u8]) -> Self {
        let mut d = ErrorDetails {
            www_authenticate: www_authenticate.map(crate::reader::challenge_text),
            ..ErrorDetails::default()
        };
        let _ = parse_response(400, body, &mut [], Some(&mut d), false);
        d
    }
}

/// [`parse_token_response`], also filling `details` from an error response.
// Kept out of line: its locals are then on the stack only while the body is
// parsed, not during the I/O loop.
#[inline(never)]
pub(crate) fn parse_response<'w>(
    status: u16,
    body: &[u8],
    work: &'w mut [u8],
    details: Option<&mut ErrorDetails>,
    dpop: bool,
) -> Result<TokenResponse<'w>, Error> {
    let success = (200..300).contains(&status);
    let unexpected = |e: ResponseError| -> Error {
        if success {
            e.into()
        } else {
            HttpError::UnexpectedStatus {
                status,
                retry_after: None,
            }
            .into()
        }
    };
    let work_len = work.len();
    let mut c = Collector {
        staging: work,
        details,
        used: 0,
        needed: 0,
        seen: 0,
        access_token: None,
        token_type: None,
        scope: None,
        expires_in: None,
        error: None,
        fail: None,
    };
    scan(body, |k, v| c.member(k, v)).map_err(unexpected)?;
    if let Some(kind) = c.fail {
        return Err(unexpected(kind));
    }
    if let Some(code) = c.error {
        return Err(OAuthError {
            status,
            code,
            retry_after: None,
        }
        .into());
    }
    if !success {
        return Err(HttpError::UnexpectedStatus {
            status,
            retry_after: None,
        }
        .into());
    }
    if c.needed > work_len {
        return Err(CapacityError {
            buffer: Buffer::Parse,
            needed: c.needed,
            available: work_len,
            exact: true,
        }
        .into());
    }
    let expires_in = match c.expires_in {
        Some(v) => parse_expires_in(v)?,
        None => None,
    };
    let staging: &'w [u8] = c.staging;
    let get = |(start, len): (usize, usize)| -> &'w str {
        staging
            .get(start..start + len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    };
    let (start, len) = c.access_token.ok_or(ResponseError::MissingAccessToken)?;
    if len == 0 {
        return Err(ResponseError::EmptyAccessToken.into());
    }
    if !visible_ascii(staging.get(start..start + len).unwrap_or_default()) {
        return Err(ResponseError::InvalidAccessToken.into());
    }
    let access_token = get((start, len));
    let token_type = c
        .token_type
        .ok_or(ResponseError::MissingTokenType)?
        .ok_or(ResponseError::UnsupportedTokenType)?;
    let token_type = token_type_for(token_type, dpop)?;
    // (Not through `get`: an escaped non-ASCII character is a byte that
    // is not UTF-8, and must be refused, not read as no scope.)
    let scope = match c.scope.map(|(start, len)| {
        core::str::from_utf8(staging.get(start..start + len).unwrap_or_default())
    }) {
        Some(Ok("")) | None => None,
        Some(Ok(s)) if valid_scope(s) => Some(s),
        Some(_) => return Err(ResponseError::InvalidScope.into()),
    };
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::*;

    fn parse(
        status: u16,
        body: &str,
    ) -> Result<
        (
            std::string::String,
            Option<u64>,
            Option<std::string::String>,
        ),
        Error,
    > {
        let mut work = [0u8; 512];
        parse_token_response(status, body.as_bytes(), &mut work)
            .map(|t| (t.access_token.into(), t.expires_in, t.scope.map(Into::into)))
    }

    #[test]
    fn token_type_is_bearer_exactly() {
        let with = |tt: &str| {
            std::format!(r#"{{"access_token":"t","token_type":"{tt}","expires_in":60}}"#)
        };
        for ok in ["Bearer", "bearer", "BEARER", "Be\\u0061rer"] {
            let mut work = [0u8; 64];
            let r = parse_token_response(200, with(ok).as_bytes(), &mut work);
            assert!(r.is_ok(), "{ok}: {r:?}");
        }
        for bad in ["Foobar", "bearerx", "bearer ", "beare", "mac", "DPoP", ""] {
            let mut work = [0u8; 64];
            let r = parse_token_response(200, with(bad).as_bytes(), &mut work);
            assert_eq!(
                r.map(|_| ()),
                Err(Error::Response(ResponseError::UnsupportedTokenType)),
                "{bad}"
            );
        }
    }

    /// For a request that carried a DPoP proof: `DPoP` in any case, and
    /// nothing else of four letters; `Bearer` is refused as such.
    #[cfg(feature = "dpop")]
    #[test]
    fn token_type_for_a_dpop_request() {
        let with = |tt: &str| {
            std::format!(r#"{{"access_token":"t","token_type":"{tt}","expires_in":60}}"#)
        };
        let parse = |tt: &str| {
            let mut work = [0u8; 64];
            parse_response(200, with(tt).as_bytes(), &mut work, None, true).map(|r| r.token_type)
        };
        for ok in ["DPoP", "dpop", "DPOP", "\\u0044PoP"] {
            assert_eq!(parse(ok), Ok(TokenType::Dpop), "{ok}");
        }
        for bad in ["dpox", "xpop", "DPoPs", "DPo", "mac1", ""] {
            assert_eq!(
                parse(bad),
                Err(ResponseError::UnsupportedTokenType.into()),
                "{bad}"
            );
        }
        assert_eq!(parse("Bearer"), Err(ResponseError::BearerForDpop.into()));
    }

    #[test]
    fn an_escaped_name_is_matched_whole() {
        // Unescaped, the name is 21 bytes: more than a known name can be,
        // and it starts with one. It is some other member.
        let body = br#"{"error":"invalid_client","error_description\ud83c\udf21":"no","error_uri":"https://as/e"}"#;
        let d = ErrorDetails::parse(None, body);
        assert_eq!(d.description, None);
        assert_eq!(d.uri.unwrap().as_str(), "https://as/e");
        // Escaped but within the size of a name: matched.
        let body = br#"{"error":"invalid_client","error_descr\u0069ption":"yes"}"#;
        assert_eq!(
            ErrorDetails::parse(None, body)
                .description
                .unwrap()
                .as_str(),
            "yes"
        );
    }

    #[test]
    fn rfc6749_section_4_4_3_example() {
        let body = r#"{
            "access_token":"2YotnFZFEjr1zCsicMWpAA",
            "token_type":"example",
            "expires_in":3600,
            "example_parameter":"example_value"
        }"#;
        // RFC 6749's example uses token_type "example", which a bearer client must refuse.
        assert!(matches!(
            parse(200, body),
            Err(Error::Response(ResponseError::UnsupportedTokenType))
        ));
        let body = body.replace("\"example\"", "\"Bearer\"");
        assert_eq!(
            parse(200, &body).unwrap(),
            ("2YotnFZFEjr1zCsicMWpAA".into(), Some(3600), None)
        );
    }

    #[test]
    fn escapes_and_nested_unknowns() {
        let body = r#"{"x":{"a":[1,{"b":"c\"d"}]},"access_token":"a\/b\u002Bc","token_type":"BEARER","scope":"r w"}"#;
        assert_eq!(
            parse(200, body).unwrap(),
            ("a/b+c".into(), None, Some("r w".into()))
        );
    }

    /// Surrogate pairs are checked; what they stand for is not ASCII, so a
    /// kept text shows `?` and a token holding one is refused.
    #[test]
    fn surrogate_pairs_are_checked_and_never_kept() {
        let body = r#"{"access_token":"t","token_type":"bearer","name":"sensor \ud83c\udf21 \\ud83c","n":"\uD83D\uDE00"}"#;
        assert_eq!(parse(200, body).unwrap().0, "t");
        let mut work = [0u8; 128];
        let body = r#"{"error":"invalid_request","error_description":"\ud83d\ude00!\u00e9\u0041"}"#
            .as_bytes();
        let r = parse_token_response(400, body, &mut work);
        assert!(matches!(r, Err(Error::OAuth(e)) if e.code == ErrorCode::InvalidRequest));
        let d = ErrorDetails::parse(None, body);
        assert_eq!(d.description.unwrap().as_str(), "?!?A");
        // A lone surrogate stays invalid JSON.
        assert!(matches!(
            parse(
                200,
                r#"{"access_token":"t","token_type":"bearer","x":"\ud83c"}"#
            ),
            Err(Error::Response(ResponseError::Json))
        ));
        // Found by fuzzing (token_json): an escaped non-ASCII character in
        // the scope is an invalid scope, not a missing one.
        for scope in [r"read \ud83d\ude00", r"caf\u00e9", "caf\u{e9}"] {
            let body =
                std::format!(r#"{{"access_token":"t","token_type":"Bearer","scope":"{scope}"}}"#);
            assert!(
                matches!(
                    parse(200, &body),
                    Err(Error::Response(ResponseError::InvalidScope))
                ),
                "{scope}"
            );
        }
        for token in [r"a\ud83c\udf21", r"a\u00e9", r"a\u0080"] {
            let body = std::format!(r#"{{"access_token":"{token}","token_type":"bearer"}}"#);
            assert!(
                matches!(
                    parse(200, &body),
                    Err(Error::Response(ResponseError::InvalidAccessToken))
                ),
                "{token}"
            );
        }
    }

    #[test]
    fn the_scan_refuses_invalid_json_in_unknown_members() {
        for ok in ["1", "-0.5e+3", "0", "true", "null", "12E-1"] {
            assert!(valid_scalar(ok.as_bytes()), "{ok}");
        }
        for bad in ["tru", "01", "1.", "-", "1e", "+1", "nonsense", ".5"] {
            assert!(!valid_scalar(bad.as_bytes()), "{bad}");
        }
        let t = r#""access_token":"t","token_type":"bearer""#;
        for body in [
            r#"{"x":1:2,"#,
            r#"{"x":tru,"#,
            r#"{"x":1 2,"#,
            r#"{"x":[1 2],"#,
            r#"{"x":{"a"},"#,
            r#"{"x":{"a":},"#,
            r#"{"x":"a" "b","#,
            r#"{"x":[1,{]},"#,
            r#"{"x":1,,"#,
        ] {
            let full = std::format!("{body}{t}}}");
            assert!(
                matches!(parse(200, &full), Err(Error::Response(ResponseError::Json))),
                "{full}"
            );
        }
        let fine = std::format!(r#"{{"x":[1,-2.5e3,true,null,"s",{{"a":[]}}],"y":{{}},{t}}}"#);
        assert_eq!(parse(200, &fine).unwrap().0, "t");
    }

    #[test]
    fn skip_plain_matches_a_byte_loop() {
        let naive = |s: &[u8]| {
            s.iter()
                .position(|&b| b == b'\\' || !(0x23..0x80).contains(&b))
                .unwrap_or(s.len())
        };
        // Every byte value natively; under Miri a sample and the edges.
        let values: std::vec::Vec<u8> = (0..=255u8)
            .filter(|x| {
                !cfg!(miri)
                    || x % 29 == 0
                    || [0x1F, 0x20, 0x21, 0x22, 0x23, 0x5C, 0x7F, 0x80].contains(x)
            })
            .collect();
        for len in 0..24 {
            let mut v = std::vec![b'a'; len];
            assert_eq!(skip_plain(&v), len);
            for pos in 0..len {
                for &x in &values {
                    v[pos] = x;
                    assert_eq!(skip_plain(&v), naive(&v), "{len} {pos} {x:#x}");
                    // A stop before another: the first wins.
                    if pos + 1 < len {
                        v[pos + 1] = b'"';
                        assert_eq!(skip_plain(&v), naive(&v), "{len} {pos} {x:#x} then quote");
                        v[pos + 1] = b'a';
                    }
                }
                v[pos] = b'a';
            }
        }
    }

    #[test]
    fn visible_ascii_at_every_position() {
        for len in 0..40 {
            let mut v = std::vec![b'a'; len];
            assert!(visible_ascii(&v));
            for pos in 0..len {
                for bad in [0x00, 0x1F, b' ', 0x7F, 0x80, 0xC3, 0xFF] {
                    v[pos] = bad;
                    assert!(!visible_ascii(&v), "{len} {pos} {bad:#x}");
                }
                for good in [0x21, b'~', b'"', b'\\'] {
                    v[pos] = good;
                    assert!(visible_ascii(&v), "{len} {pos} {good:#x}");
                }
                v[pos] = b'a';
            }
        }
    }

    #[test]
    fn strings_must_be_utf8() {
        let t = br#""access_token":"t","token_type":"bearer""#;
        let with = |x: &[u8]| {
            let mut w = [0u8; 64];
            let body = [&b"{"[..], t, b",\"x\":", x, b"}"].concat();
            parse_token_response(200, &body, &mut w).map(|r| r.access_token.len())
        };
        assert_eq!(with("\"é🌡 ok\"".as_bytes()).unwrap(), 1);
        for bad in [
            &b"\"\xff\""[..],
            b"\"\xc3\"",
            b"\"\xc0\xaf\"",
            b"\"\xed\xa0\x80\"",
            b"\"a\xe2\x82\"",
            b"\xc3\xa9",
        ] {
            assert!(
                matches!(with(bad), Err(Error::Response(ResponseError::Json))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn member_values_are_whole() {
        let body = br#" { "a" : [1, {"b": null}] , "c":"d\"e" ,"f":-1.5e3,"g":{},"h" :true } "#;
        let mut seen = std::vec::Vec::new();
        scan(body, |k, v| {
            let v = match v {
                Value::Str(l) => {
                    std::format!("str {} {}", std::str::from_utf8(l.raw).unwrap(), l.escaped)
                }
                Value::Other(t) => std::format!("raw {}", std::str::from_utf8(t).unwrap()),
            };
            seen.push(std::format!("{}={v}", std::str::from_utf8(k.raw).unwrap()));
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                r#"a=raw [1, {"b": null}]"#,
                r#"c=str d\"e true"#,
                "f=raw -1.5e3",
                "g=raw {}",
                "h=raw true"
            ]
        );
        for bad in [
            &b""[..],
            b" ",
            b"[]",
            b"\"x\"",
            b"{} {}",
            b"{}x",
            b"{,}",
            b"{\"a\":1,}",
            b"[1,]",
            b"{\"a\"::1}",
            b"{\"a\":[1}",
            b"{\"a\":{]}",
        ] {
            assert_eq!(
                scan(bad, |_, _| {}),
                Err(ResponseError::Json),
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
    }

    #[test]
    fn depth_is_bounded_before_parsing() {
        let deep = std::format!("{{\"x\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(
            parse(200, &deep),
            Err(Error::Response(ResponseError::TooDeep))
        ));
    }

    #[test]
    fn expires_in_forms() {
        let p = |v: &str| {
            parse(
                200,
                &std::format!(r#"{{"access_token":"t","token_type":"bearer","expires_in":{v}}}"#),
            )
        };
        assert_eq!(p("3600").unwrap().1, Some(3600));
        assert_eq!(p(" \"3600\" ").unwrap().1, Some(3600));
        assert_eq!(p("null").unwrap().1, None);
        assert_eq!(p("60,\"x\":{\"expires_in\":1}").unwrap().1, Some(60));
        let escaped_name = r#"{"access_token":"t","token_type":"bearer","expires\u005fin":60}"#;
        assert_eq!(parse(200, escaped_name).unwrap().1, Some(60));
        let last = r#"{"access_token":"t","token_type":"bearer","expires_in" : "7" }"#;
        assert_eq!(parse(200, last).unwrap().1, Some(7));
        for bad in [
            "-1",
            "0",
            "1.5",
            "\"abc\"",
            "true",
            "99999999999999999999999",
        ] {
            assert!(
                matches!(
                    p(bad),
                    Err(Error::Response(ResponseError::InvalidExpiresIn))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn error_objects() {
        let mut work = [0u8; 64];
        let body = br#"{"error":"invalid_client","error_description":"bad\nsecret","error_uri":"https://e/x"}"#;
        let r = parse_token_response(401, body, &mut work);
        let Err(Error::OAuth(e)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(e.code, ErrorCode::InvalidClient);
        let d = ErrorDetails::parse(Some(b"Basic realm=\"x\""), body);
        assert_eq!(d.code.unwrap().as_str(), "invalid_client");
        assert_eq!(d.description.unwrap().as_str(), "bad?secret");
        assert_eq!(d.uri.unwrap().as_str(), "https://e/x");
        assert_eq!(d.www_authenticate.unwrap().as_str(), "Basic realm=\"x\"");
        assert!(
            matches!(parse(200, r#"{"error":"slow_down"}"#), Err(Error::OAuth(e)) if e.code.as_str() == "slow_down" && e.status == 200)
        );
        assert!(matches!(
            parse(500, "<html>oops</html>"),
            Err(Error::Http(HttpError::UnexpectedStatus {
                status: 500,
                retry_after: None
            }))
        ));
        assert!(matches!(
            parse(400, "{}"),
            Err(Error::Http(HttpError::UnexpectedStatus {
                status: 400,
                retry_after: None
            }))
        ));
    }

    #[test]
    fn work_buffer_need_is_exact() {
        let body = br#"{"access_token":"abcdefghij","token_type":"bearer","scope":"s\/t"}"#;
        let mut work = [0u8; 64];
        for size in 0..20 {
            match parse_token_response(200, body, &mut work[..size]) {
                Err(Error::Capacity(c)) => assert!(c.needed > size),
                Ok(_) => {
                    // 10 (token) + 3 (unescaped scope)
                    assert_eq!(size, 13);
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        match parse_token_response(200, body, &mut work[..10]) {
            Err(Error::Capacity(c)) => assert_eq!((c.needed, c.exact), (13, true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_tokens() {
        let p = |t: &str| {
            parse(
                200,
                &std::format!(r#"{{"access_token":"{t}","token_type":"bearer"}}"#),
            )
        };
        assert!(matches!(
            p(""),
            Err(Error::Response(ResponseError::EmptyAccessToken))
        ));
        assert!(matches!(
            p("a\\r\\nX-Evil: 1"),
            Err(Error::Response(ResponseError::InvalidAccessToken))
        ));
        assert!(matches!(
            p("a b"),
            Err(Error::Response(ResponseError::InvalidAccessToken))
        ));
        assert!(matches!(
            p("é"),
            Err(Error::Response(ResponseError::InvalidAccessToken))
        ));
        assert!(matches!(
            parse(200, r#"{"access_token":1,"token_type":"bearer"}"#),
            Err(Error::Response(ResponseError::WrongType))
        ));
        assert!(matches!(
            parse(200, r#"{"token_type":"bearer"}"#),
            Err(Error::Response(ResponseError::MissingAccessToken))
        ));
        assert!(matches!(
            parse(200, r#"{"access_token":"t"}"#),
            Err(Error::Response(ResponseError::MissingTokenType))
        ));
        assert!(matches!(
            parse(
                200,
                r#"{"access_token":"t","access_token":"u","token_type":"bearer"}"#
            ),
            Err(Error::Response(ResponseError::DuplicateMember))
        ));
        assert!(matches!(
            parse(200, r#"[1]"#),
            Err(Error::Response(ResponseError::Json))
        ));
        assert!(matches!(
            parse(200, r#"{"access_token":"t""#),
            Err(Error::Response(ResponseError::Json))
        ));
    }
}
