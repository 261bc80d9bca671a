//! Token and error responses
//! ([RFC 6749 §5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1),
//! [§5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2)), parsed with
//! into caller-owned memory: one flat pass checks the whole body and finds the
//! members, then serde-json-core's unescaper decodes the strings the client
//! keeps.

use core::fmt;

use crate::credentials::valid_scope;
use crate::error::{
    Buffer, CapacityError, Error, ErrorCode, ErrorDetails, HttpError, OAuthError, ResponseError,
};
use crate::token::TokenType;

/// The deepest JSON nesting accepted. The scan does not recurse (its stack
/// is one bit per level); deeper bodies give [`ResponseError::TooDeep`].
pub const MAX_JSON_DEPTH: usize = 8;

/// A successful token response, borrowing the caller's work buffer.
///
/// `Debug` does not show the access token.
#[derive(Clone, Copy, PartialEq, Eq)]
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

/// A string literal of the body: the text between its quotes, and whether it
/// holds a backslash (an escape).
#[derive(Clone, Copy)]
struct Lit<'a> {
    raw: &'a [u8],
    escaped: bool,
}

/// The value of a top-level member.
#[derive(Clone, Copy)]
enum Value<'a> {
    Str(Lit<'a>),
    /// `null`, a number, `true`, `false`, an object or an array, as raw text.
    Other(&'a [u8]),
}

fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

// Word-at-a-time byte tests (SWAR): W bytes per machine word, LO has 0x01
// in every byte, HI has 0x80 in every byte.
const W: usize = core::mem::size_of::<usize>();
const LO: usize = usize::MAX / 255;
const HI: usize = LO << 7;

/// A chunk of exactly `W` bytes as a little-endian word.
fn word(chunk: &[u8]) -> usize {
    usize::from_le_bytes(chunk.try_into().unwrap_or([0; W]))
}

/// Index of the first byte of `s` below 0x23 (control characters, space,
/// `!` and `"`), `\\` or non-ASCII (or `s.len()`), a machine word at a time.
/// Space and `!` are stops that need nothing: one test catches both the
/// quote and the control characters.
fn skip_plain(s: &[u8]) -> usize {
    let mut i = 0;
    let mut chunks = s.chunks_exact(W);
    for chunk in &mut chunks {
        let w = word(chunk);
        let y = w ^ (LO * usize::from(b'\\'));
        // A byte of w is below 0x23 or non-ASCII, or a byte of y is zero. The
        // lowest flagged byte is always a real stop (borrows only move up).
        let t = ((w.wrapping_sub(LO * 0x23) & !w) | (y.wrapping_sub(LO) & !y) | w) & HI;
        if t != 0 {
            return i + (t.trailing_zeros() / 8) as usize;
        }
        i += W;
    }
    i + chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\\' || !(0x23..0x80).contains(&b))
        .unwrap_or(s.len() - i)
}

fn hex4(b: &[u8]) -> Option<u32> {
    b.get(..4)?
        .iter()
        .try_fold(0u32, |acc, &c| Some(acc << 4 | char::from(c).to_digit(16)?))
}

/// The character of the UTF-16 surrogate pair escaped at the start of `s`
/// (`\ud83c\udf21`), if that is what `s` starts with.
fn surrogate_pair(s: &[u8]) -> Option<char> {
    let hi = hex4(s.get(2..)?).filter(|h| (0xD800..0xDC00).contains(h))?;
    let lo = hex4(s.get(8..)?).filter(|l| (0xDC00..0xE000).contains(l))?;
    (s.get(..2)? == b"\\u" && s.get(6..8)? == b"\\u")
        .then(|| char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)))
        .flatten()
}

/// The length of the escape at the start of `s`: RFC 8259 §7's escapes,
/// `\u` with four hex digits, a surrogate only as a complete pair.
fn escape_len(s: &[u8]) -> Result<usize, ResponseError> {
    match s.get(1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(2),
        Some(b'u') => match hex4(s.get(2..).unwrap_or_default()) {
            Some(0xD800..=0xDFFF) if surrogate_pair(s).is_some() => Ok(12),
            Some(0xD800..=0xDFFF) | None => Err(ResponseError::Json),
            Some(_) => Ok(6),
        },
        _ => Err(ResponseError::Json),
    }
}

/// The string literal whose opening quote is at `open`: the index of its
/// closing quote, and whether it holds an escape.
fn string_at(b: &[u8], open: usize) -> Result<(usize, bool), ResponseError> {
    let mut j = open + 1;
    let mut escaped = false;
    loop {
        j += skip_plain(b.get(j..).unwrap_or_default());
        match b.get(j) {
            Some(b'"') => return Ok((j, escaped)),
            Some(b' ' | b'!') => j += 1,
            Some(b'\\') => {
                escaped = true;
                j += escape_len(b.get(j..).unwrap_or_default())?;
            }
            // RFC 8259 §8.1: UTF-8. ASCII bytes are whole characters, so
            // each run of non-ASCII bytes must be valid on its own.
            Some(0x80..) => {
                let rest = b.get(j..).unwrap_or_default();
                let run = rest.iter().position(|&c| c < 0x80).unwrap_or(rest.len());
                if core::str::from_utf8(rest.get(..run).unwrap_or_default()).is_err() {
                    return Err(ResponseError::Json);
                }
                j += run;
            }
            // A raw control character, or the end of the body.
            _ => return Err(ResponseError::Json),
        }
    }
}

/// A JSON scalar other than a string: `true`, `false`, `null` or a number
/// (RFC 8259 §6 grammar).
fn valid_scalar(t: &[u8]) -> bool {
    if matches!(t, b"true" | b"false" | b"null") {
        return true;
    }
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut rest = t.strip_prefix(b"-").unwrap_or(t);
    let int = digits(rest);
    if int == 0 || (int > 1 && rest.first() == Some(&b'0')) {
        return false;
    }
    rest = rest.get(int..).unwrap_or_default();
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = digits(frac);
        if n == 0 {
            return false;
        }
        rest = frac.get(n..).unwrap_or_default();
    }
    if let Some(exp) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exp = exp
            .strip_prefix(b"+")
            .or_else(|| exp.strip_prefix(b"-"))
            .unwrap_or(exp);
        let n = digits(exp);
        if n == 0 {
            return false;
        }
        rest = exp.get(n..).unwrap_or_default();
    }
    rest.is_empty()
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_json_ws(c)) {
        i += 1;
    }
    i
}

/// Walks the body once, without recursion: checks that it is one JSON
/// object (RFC 8259's grammar, nesting at most [`MAX_JSON_DEPTH`] deep) and
/// hands each top-level member to `member`, in order.
///
/// Strings are skipped a machine word at a time; only the members the
/// client reads are decoded afterwards, by serde-json-core's unescaper.
fn scan<'a>(
    body: &'a [u8],
    mut member: impl FnMut(Lit<'a>, Value<'a>),
) -> Result<(), ResponseError> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Expect {
        Value,
        ValueOrClose,
        Key,
        KeyOrClose,
        CommaOrClose,
        End,
    }
    use ResponseError::Json;
    let b = body;
    let text = |s: usize, e: usize| body.get(s..e).unwrap_or_default();
    let mut expect = Expect::Value;
    let mut depth = 0usize;
    // Bit `d`: the container at depth `d + 1` is an object.
    let mut objects = 0u32;
    let mut in_object = false;
    let mut key: Option<Lit<'a>> = None;
    let mut value_start = 0usize;
    let mut i = skip_ws(b, 0);
    // The whole body is one object.
    if b.get(i) != Some(&b'{') {
        return Err(Json);
    }
    while let Some(&c) = b.get(i) {
        // The index just past a value that ends here.
        let ended;
        match (expect, c) {
            (Expect::KeyOrClose | Expect::CommaOrClose, b'}') if in_object => {
                depth -= 1;
                i += 1;
                ended = i;
                in_object = depth > 0 && objects >> (depth - 1) & 1 == 1;
            }
            (Expect::ValueOrClose | Expect::CommaOrClose, b']') if depth > 0 && !in_object => {
                depth -= 1;
                i += 1;
                ended = i;
                in_object = depth > 0 && objects >> (depth - 1) & 1 == 1;
            }
            (Expect::CommaOrClose, b',') => {
                expect = if in_object {
                    Expect::Key
                } else {
                    Expect::Value
                };
                i = skip_ws(b, i + 1);
                continue;
            }
            // A member name and its colon.
            (Expect::Key | Expect::KeyOrClose, b'"') => {
                let (end, escaped) = string_at(b, i)?;
                if depth == 1 {
                    key = Some(Lit {
                        raw: text(i + 1, end),
                        escaped,
                    });
                }
                i = skip_ws(b, end + 1);
                if b.get(i) != Some(&b':') {
                    return Err(Json);
                }
                expect = Expect::Value;
                i = skip_ws(b, i + 1);
                continue;
            }
            (Expect::Value | Expect::ValueOrClose, b'{' | b'[') => {
                if depth == MAX_JSON_DEPTH {
                    return Err(ResponseError::TooDeep);
                }
                if depth == 1 {
                    value_start = i;
                }
                in_object = c == b'{';
                if in_object {
                    objects |= 1 << depth;
                    expect = Expect::KeyOrClose;
                } else {
                    objects &= !(1 << depth);
                    expect = Expect::ValueOrClose;
                }
                depth += 1;
                i = skip_ws(b, i + 1);
                continue;
            }
            (Expect::Value | Expect::ValueOrClose, b'"') if depth > 0 => {
                let (end, escaped) = string_at(b, i)?;
                if depth == 1
                    && let Some(k) = key.take()
                {
                    let raw = text(i + 1, end);
                    member(k, Value::Str(Lit { raw, escaped }));
                }
                expect = Expect::CommaOrClose;
                i = skip_ws(b, end + 1);
                continue;
            }
            (Expect::Value | Expect::ValueOrClose, _) if depth > 0 => {
                let len = b
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .position(|&t| {
                        matches!(t, b',' | b'}' | b']' | b':' | b'{' | b'[' | b'"') || is_json_ws(t)
                    })
                    .unwrap_or(b.len() - i);
                if !valid_scalar(b.get(i..i + len).unwrap_or_default()) {
                    return Err(Json);
                }
                if depth == 1 {
                    value_start = i;
                }
                i += len;
                ended = i;
            }
            _ => return Err(Json),
        }
        // A value ended (a scalar, or a container just closed).
        if depth == 1
            && let Some(k) = key.take()
        {
            member(k, Value::Other(text(value_start, ended)));
        }
        expect = if depth == 0 {
            Expect::End
        } else {
            Expect::CommaOrClose
        };
        i = skip_ws(b, i);
    }
    if expect == Expect::End {
        Ok(())
    } else {
        Err(Json)
    }
}

/// Hands `f` the unescaped text of `lit` in pieces (each valid UTF-8):
/// serde-json-core's unescaper, plus the UTF-16 surrogate pairs it refuses
/// (a pair decodes to one character; the scan has checked every escape and
/// the UTF-8).
fn unescape(lit: Lit<'_>, mut f: impl FnMut(&[u8])) {
    use serde_json_core::str::{EscapedStr, EscapedStringFragment};
    if !lit.escaped {
        f(lit.raw);
        return;
    }
    let Ok(mut rest) = core::str::from_utf8(lit.raw) else {
        return;
    };
    let mut utf8 = [0u8; 4];
    while !rest.is_empty() {
        let mut fragments = EscapedStr(rest).fragments();
        let (piece, skip) = match fragments.next() {
            Some(Ok(EscapedStringFragment::NotEscaped(s))) => (s, 0),
            Some(Ok(EscapedStringFragment::Escaped(c))) => (&*c.encode_utf8(&mut utf8), 0),
            _ => match surrogate_pair(rest.as_bytes()) {
                Some(c) => (&*c.encode_utf8(&mut utf8), 12),
                None => return,
            },
        };
        f(piece.as_bytes());
        rest = if skip == 0 {
            fragments.as_str().0
        } else {
            rest.get(skip..).unwrap_or_default()
        };
    }
}

/// Unescapes `lit` into `dst`, whole characters only, stopping at the first
/// that does not fit. Returns (bytes written, unescaped length).
fn unescape_into(lit: Lit<'_>, dst: &mut [u8]) -> (usize, usize) {
    let (mut written, mut total) = (0usize, 0usize);
    unescape(lit, |s| {
        let room = dst.len().saturating_sub(written);
        let mut n = if total == written {
            s.len().min(room)
        } else {
            0
        };
        // Back to a character boundary (never a UTF-8 continuation byte).
        while s.get(n).is_some_and(|&c| (0x80..0xC0).contains(&c)) {
            n -= 1;
        }
        if let (Some(d), Some(src)) = (dst.get_mut(written..written + n), s.get(..n)) {
            d.copy_from_slice(src);
            written += n;
        }
        total += s.len();
    });
    (written, total)
}

/// Whether every byte is visible ASCII (`%x21-7E`, RFC 6750's b64token and
/// more), a machine word at a time.
fn visible_ascii(s: &[u8]) -> bool {
    let mut chunks = s.chunks_exact(W);
    let mut bad = 0usize;
    for chunk in &mut chunks {
        let w = word(chunk);
        let del = w ^ (LO * 0x7F);
        // A byte >= 0x80, below 0x21, or 0x7F (exact as a yes/no answer).
        bad |= w | (w.wrapping_sub(LO * 0x21) & !w) | (del.wrapping_sub(LO) & !del);
    }
    bad & HI == 0
        && chunks
            .remainder()
            .iter()
            .all(|&b| (0x21..0x7F).contains(&b))
}

fn trim_ws(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| !is_json_ws(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_json_ws(c))
        .map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or_default()
}

/// `expires_in`: a positive integer, as a number or a numeric string.
fn parse_expires_in(value: Value<'_>) -> Result<Option<u64>, ResponseError> {
    let digits = match value {
        Value::Other(b"null") => return Ok(None),
        Value::Other(t) => t,
        Value::Str(lit) => trim_ws(lit.raw),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ResponseError::InvalidExpiresIn);
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(ResponseError::InvalidExpiresIn)?;
    }
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
                let mut t = [0u8; 6];
                let bearer =
                    unescape_into(lit, &mut t) == (6, 6) && t.eq_ignore_ascii_case(b"bearer");
                self.token_type = Some(bearer.then_some(TokenType::Bearer));
            }
            // Known codes are at most 23 bytes; a longer one is an
            // extension code, kept truncated.
            Field::Error => {
                let mut code = [0u8; 28];
                let (n, _) = unescape_into(lit, &mut code);
                let code =
                    core::str::from_utf8(code.get(..n).unwrap_or_default()).unwrap_or_default();
                self.error = Some(ErrorCode::parse(code));
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

fn assign<const N: usize>(t: &mut crate::Text<N>, lit: Lit<'_>) {
    t.clear();
    unescape(lit, |s| {
        t.push_lossy(core::str::from_utf8(s).unwrap_or_default())
    });
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
/// [`MAX_JSON_DEPTH`] deep; the members it does not know are checked and
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
/// use embedded_oauth2::{parse_token_response, Error, ErrorCode, TokenType};
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
    parse_response(status, body, work, None)
}

impl ErrorDetails {
    /// Reads the free text of an error response: `WWW-Authenticate` (the
    /// header's value, if any) and the body's `error`, `error_description`
    /// and `error_uri`. Best effort: what cannot be read is `None`.
    pub fn parse(www_authenticate: Option<&[u8]>, body: &[u8]) -> Self {
        let mut d = ErrorDetails {
            www_authenticate: www_authenticate.map(crate::http::challenge_text),
            ..ErrorDetails::default()
        };
        let _ = parse_response(400, body, &mut [], Some(&mut d));
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
    let scope = match c.scope.map(get) {
        Some("") | None => None,
        Some(s) if valid_scope(s) => Some(s),
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

    #[test]
    fn surrogate_pairs_are_decoded() {
        let body = r#"{"access_token":"t","token_type":"bearer","name":"sensor \ud83c\udf21 \\ud83c","n":"\uD83D\uDE00"}"#;
        assert_eq!(parse(200, body).unwrap().0, "t");
        let mut work = [0u8; 128];
        let body = r#"{"error":"invalid_request","error_description":"\ud83d\ude00!"}"#.as_bytes();
        let r = parse_token_response(400, body, &mut work);
        assert!(matches!(r, Err(Error::OAuth(e)) if e.code == ErrorCode::InvalidRequest));
        let d = ErrorDetails::parse(None, body);
        assert_eq!(d.description.unwrap().as_str(), "😀!");
        // A lone surrogate stays invalid JSON.
        assert!(matches!(
            parse(
                200,
                r#"{"access_token":"t","token_type":"bearer","x":"\ud83c"}"#
            ),
            Err(Error::Response(ResponseError::Json))
        ));
        let mut out = [0u8; 64];
        let lit = Lit {
            raw: br#"a\ud83c\udf21\\ud83c-\u00e9"#,
            escaped: true,
        };
        assert_eq!(unescape_into(lit, &mut out), (14, 14));
        assert_eq!(&out[..14], "a🌡\\ud83c-é".as_bytes());
        // Whole characters only: what does not fit is counted, not cut.
        assert_eq!(unescape_into(lit, &mut out[..3]), (1, 14));
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
