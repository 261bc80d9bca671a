//! Token and error responses
//! ([RFC 6749 §5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1),
//! [§5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2)), parsed with
//! serde-json-core into caller-owned memory.

use core::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::credentials::valid_scope;
use crate::error::{
    Buffer, CapacityError, Error, ErrorCode, ErrorDetails, HttpError, OAuthError, ResponseError,
};
use crate::token::TokenType;

/// The deepest JSON nesting accepted. serde-json-core recurses once per
/// level; the bound is checked by a flat scan before parsing starts.
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

/// What a flat scan learns before serde-json-core runs.
struct Scan {
    /// Longest string literal containing a backslash (its unescaped form is
    /// never longer, so this sizes the unescape buffer).
    max_escaped: usize,
    /// Whether a `\uD8xx`-`\uDBxx` escape occurs (a UTF-16 surrogate pair,
    /// which serde-json-core 0.7 cannot decode).
    surrogates: bool,
    /// Raw value spans of the first top-level members.
    spans: [(usize, usize); 16],
}

fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Walks the body's structure without recursion, calling `at(i, b, depth)`
/// for every byte outside string literals and `on_str(start, end, escaped)`
/// for every string literal. Fails on unbalanced nesting, an unterminated
/// string, or nesting deeper than [`MAX_JSON_DEPTH`].
/// Index of the first `"` or `\\` in `s` (or `s.len()`), eight bytes at a time.
fn skip_plain(s: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let q = LO * u64::from(b'"');
    let bs = LO * u64::from(b'\\');
    let mut i = 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let x = w ^ q;
        let y = w ^ bs;
        let t = ((x.wrapping_sub(LO) & !x) | (y.wrapping_sub(LO) & !y)) & HI;
        if t != 0 {
            return i + (t.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .unwrap_or(s.len() - i)
}

fn walk(
    body: &[u8],
    mut at: impl FnMut(usize, u8, usize),
    mut on_str: impl FnMut(usize, usize, bool),
) -> Result<(), ResponseError> {
    let mut depth = 0usize;
    let mut i = 0usize;
    while let Some(&b) = body.get(i) {
        if b == b'"' {
            let start = i + 1;
            let mut j = start;
            let mut has_escape = false;
            loop {
                j += skip_plain(body.get(j..).unwrap_or_default());
                match body.get(j) {
                    Some(b'\\') => {
                        has_escape = true;
                        j += 2;
                    }
                    Some(_) => break,
                    None => return Err(ResponseError::Json),
                }
            }
            on_str(start, j, has_escape);
            i = j + 1;
            continue;
        }
        match b {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(ResponseError::TooDeep);
                }
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1).ok_or(ResponseError::Json)?;
            }
            _ => {}
        }
        let d = if matches!(b, b'}' | b']') {
            depth + 1
        } else {
            depth
        };
        at(i, b, d);
        i += 1;
    }
    if depth != 0 {
        return Err(ResponseError::Json);
    }
    Ok(())
}

/// Every backslash in a string literal starts one of RFC 8259's escapes.
fn valid_escapes(lit: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = lit.get(i) {
        if b != b'\\' {
            i += 1;
            continue;
        }
        match lit.get(i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
            Some(b'u') => {
                let hex = lit.get(i + 2..i + 6).unwrap_or_default();
                if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                    return false;
                }
                i += 6;
            }
            _ => return false,
        }
    }
    true
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

/// The structure check the flat scan makes, so that what serde-json-core
/// skips without looking (the values of unknown members) is JSON too: one
/// value per member or element, one `:` per member, valid scalars.
struct Grammar {
    /// Per depth: `{` or `[`.
    kind: [u8; MAX_JSON_DEPTH + 1],
    /// Per depth: a value (or, in an object before `:`, a key) was seen.
    value: [bool; MAX_JSON_DEPTH + 1],
    /// Per depth: the member's `:` was seen.
    colon: [bool; MAX_JSON_DEPTH + 1],
    depth: usize,
    token: Option<usize>,
    bad: bool,
}

impl Grammar {
    fn new() -> Self {
        Self {
            kind: [0; MAX_JSON_DEPTH + 1],
            value: [false; MAX_JSON_DEPTH + 1],
            colon: [false; MAX_JSON_DEPTH + 1],
            depth: 0,
            token: None,
            bad: false,
        }
    }

    /// A value starts at the current depth.
    fn value(&mut self) {
        match self.value.get_mut(self.depth) {
            Some(v) if !*v => *v = true,
            _ => self.bad = true,
        }
    }

    fn byte(&mut self, body: &[u8], i: usize, b: u8, depth: usize) {
        let structural = matches!(b, b'{' | b'}' | b'[' | b']' | b',' | b':') || is_json_ws(b);
        if !structural {
            if self.token.is_none() {
                self.value();
                self.token = Some(i);
            }
            return;
        }
        if let Some(start) = self.token.take() {
            self.bad |= !valid_scalar(body.get(start..i).unwrap_or_default());
        }
        match b {
            b'{' | b'[' => {
                self.value();
                self.depth = depth;
                if let (Some(k), Some(v), Some(c)) = (
                    self.kind.get_mut(depth),
                    self.value.get_mut(depth),
                    self.colon.get_mut(depth),
                ) {
                    (*k, *v, *c) = (b, false, false);
                }
            }
            b'}' | b']' => {
                let open = if b == b'}' { b'{' } else { b'[' };
                let kind = self.kind.get(depth).copied();
                let colon = self.colon.get(depth).copied().unwrap_or(false);
                let value = self.value.get(depth).copied().unwrap_or(false);
                // `{"a":}` and `{"a"}` are not JSON.
                self.bad |= kind != Some(open) || (b == b'}' && colon != value);
                self.depth = depth.saturating_sub(1);
            }
            b':' => {
                let ok = self.kind.get(depth) == Some(&b'{')
                    && self.value.get(depth) == Some(&true)
                    && self.colon.get(depth) == Some(&false);
                self.bad |= !ok;
                if let (Some(v), Some(c)) = (self.value.get_mut(depth), self.colon.get_mut(depth)) {
                    (*v, *c) = (false, true);
                }
            }
            b',' => {
                let in_object = self.kind.get(depth) == Some(&b'{');
                let ok = self.value.get(depth) == Some(&true)
                    && (!in_object || self.colon.get(depth) == Some(&true));
                self.bad |= !ok;
                if let (Some(v), Some(c)) = (self.value.get_mut(depth), self.colon.get_mut(depth)) {
                    (*v, *c) = (false, false);
                }
            }
            _ => {}
        }
    }
}

fn scan(body: &[u8]) -> Result<Scan, ResponseError> {
    let first = body.iter().position(|&b| !is_json_ws(b));
    if first.and_then(|i| body.get(i)) != Some(&b'{') {
        return Err(ResponseError::Json);
    }
    let mut max_escaped = 0usize;
    let mut surrogates = false;
    let mut spans = [(0usize, 0usize); 16];
    let mut members = 0usize;
    let mut pending: Option<usize> = None;
    let grammar = core::cell::RefCell::new(Grammar::new());
    walk(
        body,
        |i, b, depth| {
            grammar.borrow_mut().byte(body, i, b, depth);
            if depth != 1 {
                return;
            }
            match b {
                b':' => {
                    pending = Some(i + 1);
                    members += 1;
                }
                b',' | b'}' => {
                    if let Some(st) = pending.take()
                        && let Some(slot) = spans.get_mut(members.wrapping_sub(1))
                    {
                        *slot = (st, i);
                    }
                }
                _ => {}
            }
        },
        |start, end, esc| {
            let mut g = grammar.borrow_mut();
            g.value();
            let lit = body.get(start..end).unwrap_or_default();
            // RFC 8259 §7: no raw control characters, and only the defined
            // escapes (serde-json-core would take `\u+041` as `A`).
            g.bad |= lit.iter().any(|&b| b < 0x20) || (esc && !valid_escapes(lit));
            drop(g);
            if esc {
                max_escaped = max_escaped.max(end - start);
                let lit = body.get(start..end).unwrap_or_default();
                surrogates |= lit.windows(4).any(|w| {
                    matches!(
                        w,
                        [
                            b'\\',
                            b'u',
                            b'd' | b'D',
                            b'8' | b'9' | b'a' | b'b' | b'A' | b'B'
                        ]
                    )
                });
            }
        },
    )?;
    let mut g = grammar.into_inner();
    if let Some(start) = g.token.take() {
        g.bad |= !valid_scalar(body.get(start..).unwrap_or_default());
    }
    if g.bad {
        return Err(ResponseError::Json);
    }
    Ok(Scan {
        max_escaped,
        surrogates,
        spans,
    })
}

fn hex4(b: &[u8]) -> Option<u32> {
    let s = core::str::from_utf8(b.get(..4)?).ok()?;
    u32::from_str_radix(s, 16)
        .ok()
        .filter(|_| s.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// Copies `src` into `dst`, replacing each escaped UTF-16 surrogate pair
/// (`\ud83c\udf21`) by the character's raw UTF-8 (always shorter). Returns
/// the length of the result, which is written only when it fits.
fn decode_surrogate_pairs(src: &[u8], dst: &mut [u8]) -> usize {
    let mut out = crate::encode::Sink::new(dst);
    let mut i = 0;
    while let Some(&b) = src.get(i) {
        if b != b'\\' {
            out.put(&[b]);
            i += 1;
            continue;
        }
        let pair = (src.get(i + 1) == Some(&b'u'))
            .then(|| hex4(src.get(i + 2..).unwrap_or_default()))
            .flatten()
            .filter(|hi| (0xD800..0xDC00).contains(hi))
            .and_then(|hi| {
                let rest = src.get(i + 6..).unwrap_or_default();
                let lo = rest
                    .starts_with(b"\\u")
                    .then(|| hex4(rest.get(2..).unwrap_or_default()))
                    .flatten()?;
                (0xDC00..0xE000)
                    .contains(&lo)
                    .then(|| 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
            })
            .and_then(char::from_u32);
        match pair {
            Some(c) => {
                let mut utf8 = [0u8; 4];
                out.put(c.encode_utf8(&mut utf8).as_bytes());
                i += 12;
            }
            None => {
                // Any other escape (including `\\`) is copied as a unit.
                out.put(src.get(i..i + 2).unwrap_or_default());
                i += 2;
            }
        }
    }
    out.len()
}

/// The raw text of the value of the `index`-th member (0-based) of the
/// top-level object.
fn member_value(body: &[u8], index: usize) -> Option<&[u8]> {
    let mut members = 0usize;
    let mut start: Option<usize> = None;
    let mut span = None;
    let _ = walk(
        body,
        |i, b, depth| {
            if depth != 1 || span.is_some() {
                return;
            }
            match b {
                b':' => {
                    if members == index {
                        start = Some(i + 1);
                    }
                    members += 1;
                }
                b',' | b'}' => {
                    if let Some(s) = start.take() {
                        span = Some((s, i));
                    }
                }
                _ => {}
            }
        },
        |_, _, _| {},
    );
    let (s, e) = span?;
    body.get(s..e)
}

fn trim_ws(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| !is_json_ws(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_json_ws(c))
        .map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or_default()
}

fn parse_expires_in(raw: &[u8]) -> Result<Option<u64>, ResponseError> {
    let t = trim_ws(raw);
    if t == b"null" {
        return Ok(None);
    }
    let digits = match t {
        [b'"', inner @ .., b'"'] => trim_ws(inner),
        _ => t,
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
    fn from_key(k: &str) -> Self {
        match k {
            "access_token" => Self::AccessToken,
            "token_type" => Self::TokenType,
            "expires_in" => Self::ExpiresIn,
            "scope" => Self::Scope,
            "error" => Self::Error,
            "error_description" => Self::ErrorDescription,
            "error_uri" => Self::ErrorUri,
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

/// Collects the members the client reads; strings it keeps are copied into
/// the staging part of the work buffer.
struct Collector<'w, 'd> {
    staging: &'w mut [u8],
    details: Option<&'d mut ErrorDetails>,
    used: usize,
    needed: usize,
    seen: u8,
    access_token: Option<(usize, usize)>,
    token_type: Option<Option<TokenType>>,
    scope: Option<(usize, usize)>,
    error: Option<ErrorCode>,
    fail: Option<ResponseError>,
    members: usize,
    expires_in_member: Option<usize>,
}

impl Collector<'_, '_> {
    fn stage(&mut self, s: &str) -> (usize, usize) {
        let start = self.used;
        self.needed = self.needed.saturating_add(s.len());
        if let Some(dst) = self.staging.get_mut(start..start + s.len()) {
            dst.copy_from_slice(s.as_bytes());
            self.used += s.len();
        }
        (start, s.len())
    }

    fn take_str(&mut self, field: Field, s: &str) {
        match field {
            Field::AccessToken => self.access_token = Some(self.stage(s)),
            Field::Scope => self.scope = Some(self.stage(s)),
            Field::TokenType => {
                self.token_type = Some(if s.eq_ignore_ascii_case("bearer") {
                    Some(TokenType::Bearer)
                } else {
                    None
                });
            }
            // The texts are written in place: no Text-sized temporaries.
            Field::Error => {
                self.error = Some(ErrorCode::parse(s));
                if let Some(d) = self.details.as_deref_mut() {
                    d.code.get_or_insert_default().assign_lossy(s);
                }
            }
            Field::ErrorDescription => {
                if let Some(d) = self.details.as_deref_mut() {
                    d.description.get_or_insert_default().assign_lossy(s);
                }
            }
            Field::ErrorUri => {
                if let Some(d) = self.details.as_deref_mut() {
                    d.uri.get_or_insert_default().assign_lossy(s);
                }
            }
            Field::ExpiresIn | Field::Other => {}
        }
    }
}

struct Top<'c, 'w, 'd>(&'c mut Collector<'w, 'd>);

impl<'de> DeserializeSeed<'de> for Top<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key_seed(KeySeed)? {
            let index = self.0.members;
            self.0.members += 1;
            let bit = field.bit();
            if bit != 0 {
                if self.0.seen & bit != 0 {
                    self.0.fail = Some(ResponseError::DuplicateMember);
                    return Err(de::Error::custom("duplicate"));
                }
                self.0.seen |= bit;
            }
            match field {
                // expires_in may be a number or a string, which
                // serde-json-core cannot tell apart: it is skipped here and
                // its raw text read afterwards by position.
                Field::ExpiresIn => {
                    self.0.expires_in_member = Some(index);
                    map.next_value::<IgnoredAny>()?;
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => map.next_value_seed(StrSeed { c: self.0, field })?,
            }
        }
        Ok(())
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Field;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(Field::from_key(v))
    }
}

struct StrSeed<'c, 'w, 'd> {
    c: &'c mut Collector<'w, 'd>,
    field: Field,
}

impl<'de> DeserializeSeed<'de> for StrSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // `null` counts as absent.
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for StrSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.c.take_str(self.field, v);
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

/// Parses a token endpoint response body.
///
/// * `status` is the HTTP status.
/// * `body` is the complete (de-chunked) body.
/// * `work` receives the unescaped access token and scope, which the result
///   borrows. It needs at most `body.len() * 2` bytes (`* 3` when the body
///   holds escaped UTF-16 surrogate pairs, which are first rewritten); a
///   smaller one that does not suffice gives [`Error::Capacity`] with the
///   exact need.
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
        let mut work = [0u8; 160];
        let _ = parse_response(400, body, &mut work, Some(&mut d));
        d
    }
}

/// [`parse_token_response`], also filling `details` from an error response.
// Kept out of line: its locals (serde-json-core's state, the collector) are
// then on the stack only while the body is parsed, not during the I/O loop.
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
    let scan = scan(body).map_err(unexpected)?;
    let work_len = work.len();
    // serde-json-core decodes each `\uXXXX` on its own and refuses
    // surrogates: rewrite the pairs as UTF-8 into the work buffer first.
    let (body, work): (&[u8], &'w mut [u8]) = if scan.surrogates {
        let len = decode_surrogate_pairs(body, work);
        if len > work_len {
            return Err(CapacityError {
                buffer: Buffer::Parse,
                needed: len.saturating_add(scan.max_escaped),
                available: work_len,
                exact: false,
            }
            .into());
        }
        let (copy, rest) = work.split_at_mut(len);
        (copy, rest)
    } else {
        (body, work)
    };
    let prefix = work_len - work.len();
    if scan.max_escaped > work.len() {
        return Err(CapacityError {
            buffer: Buffer::Parse,
            needed: prefix + scan.max_escaped,
            available: work_len,
            exact: false,
        }
        .into());
    }
    let (scratch, staging) = work.split_at_mut(scan.max_escaped);
    let mut c = Collector {
        staging,
        details,
        used: 0,
        needed: 0,
        seen: 0,
        access_token: None,
        token_type: None,
        scope: None,
        error: None,
        fail: None,
        members: 0,
        expires_in_member: None,
    };
    let mut de = serde_json_core::de::Deserializer::new(body, Some(scratch));
    let parsed = Top(&mut c).deserialize(&mut de).and_then(|()| de.end());
    if let Err(e) = parsed {
        let kind = match (c.fail, e) {
            (Some(f), _) => f,
            (None, serde_json_core::de::Error::InvalidType) => ResponseError::WrongType,
            _ => ResponseError::Json,
        };
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
    if c.needed > c.staging.len() {
        return Err(CapacityError {
            buffer: Buffer::Parse,
            needed: (prefix + scan.max_escaped).saturating_add(c.needed),
            available: work_len,
            exact: true,
        }
        .into());
    }
    let expires_in = match c.expires_in_member {
        Some(index) => {
            let raw = match scan.spans.get(index) {
                Some(&(st, en)) if !scan.surrogates && en > st => body.get(st..en),
                _ => member_value(body, index),
            };
            parse_expires_in(raw.ok_or(ResponseError::Json)?)?
        }
        None => None,
    };
    let staging: &'w [u8] = c.staging;
    let get = |(start, len): (usize, usize)| -> &'w str {
        staging
            .get(start..start + len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    };
    let access_token = get(c.access_token.ok_or(ResponseError::MissingAccessToken)?);
    if access_token.is_empty() {
        return Err(ResponseError::EmptyAccessToken.into());
    }
    if !access_token
        .bytes()
        .fold(true, |ok, b| ok & b.is_ascii_graphic())
    {
        return Err(ResponseError::InvalidAccessToken.into());
    }
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
        let n = decode_surrogate_pairs(br#"a\ud83c\udf21\\ud83c\udf21"#, &mut out);
        assert_eq!(&out[..n], "a🌡\\\\ud83c\\udf21".as_bytes());
    }

    #[test]
    fn the_scan_refuses_what_serde_json_core_would_skip() {
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
                    // 5 (escaped "s\/t") + 10 (token) + 3 (scope)
                    assert_eq!(size, 17);
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        match parse_token_response(200, body, &mut work[..10]) {
            Err(Error::Capacity(c)) => assert_eq!((c.needed, c.exact), (17, true)),
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
