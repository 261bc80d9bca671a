//! One flat pass over a JSON body (RFC 8259): checks that it is one object
//! (grammar, UTF-8, escapes and surrogate pairs, nesting at most
//! [`MAX_JSON_DEPTH`] deep) and hands each top-level member over, without
//! recursion and without copying; and the decoding of the strings that are
//! kept (`unescape`). No OAuth here: the rules of token
//! and error responses are `response.rs`'s.

use crate::error::ResponseError;

/// The deepest JSON nesting accepted. The scan does not recurse (its stack
/// is one bit per level); deeper bodies give [`ResponseError::TooDeep`].
pub const MAX_JSON_DEPTH: usize = 8;

/// A string literal of the body: the text between its quotes, and whether it
/// holds a backslash (an escape).
#[derive(Clone, Copy)]
pub(crate) struct Lit<'a> {
    pub(crate) raw: &'a [u8],
    pub(crate) escaped: bool,
}

/// The value of a top-level member.
#[derive(Clone, Copy)]
pub(crate) enum Value<'a> {
    Str(Lit<'a>),
    /// `null`, a number, `true`, `false`, an object or an array, as raw text.
    Other(&'a [u8]),
}

pub(crate) fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

// Word-at-a-time byte tests (SWAR): W bytes per machine word, LO has 0x01
// in every byte, HI has 0x80 in every byte.
pub(crate) const W: usize = core::mem::size_of::<usize>();
pub(crate) const LO: usize = usize::MAX / 255;
pub(crate) const HI: usize = LO << 7;

/// A chunk of exactly `W` bytes as a little-endian word.
pub(crate) fn word(chunk: &[u8]) -> usize {
    usize::from_le_bytes(chunk.try_into().unwrap_or([0; W]))
}

/// Index of the first byte of `s` below 0x23 (control characters, space,
/// `!` and `"`), `\\` or non-ASCII (or `s.len()`), a machine word at a time.
/// Space and `!` are stops that need nothing: one test catches both the
/// quote and the control characters.
pub(crate) fn skip_plain(s: &[u8]) -> usize {
    let mut i = 0;
    let mut chunks = s.chunks_exact(W);
    for chunk in &mut chunks {
        let w = word(chunk);
        let y = w ^ (LO * usize::from(b'\\'));
        // Flags (high bits) every byte below 0x23 (w - 0x23 borrows), every
        // non-ASCII byte (w), every backslash (y - 1 borrows), and more
        // non-ASCII bytes twice over (w - 0x23 and y - 1 of a byte above
        // 0xA2, most of them): the lowest flag is always a real stop
        // (borrows only move up). In this order each `|` matters: 0xDC is
        // flagged by the first two terms only, 0x80..=0xA2 by the last two.
        let t = (w.wrapping_sub(LO * 0x23) | w | y.wrapping_sub(LO)) & HI;
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

pub(crate) fn hex4(b: &[u8]) -> Option<u32> {
    b.get(..4)?.iter().try_fold(0u32, |acc, &c| {
        Some((acc << 4) + char::from(c).to_digit(16)?)
    })
}

/// Whether `s` starts with an escaped UTF-16 surrogate pair
/// (`\ud83c\udf21`).
pub(crate) fn surrogate_pair(s: &[u8]) -> bool {
    let half = |at: usize, lo: u32| {
        s.get(at..at + 2) == Some(b"\\u")
            && hex4(s.get(at + 2..).unwrap_or_default()).is_some_and(|h| h & 0xFC00 == lo)
    };
    half(0, 0xD800) && half(6, 0xDC00)
}

/// The length of the escape at the start of `s`: RFC 8259 §7's escapes,
/// `\u` with four hex digits, a surrogate only as a complete pair.
pub(crate) fn escape_len(s: &[u8]) -> Result<usize, ResponseError> {
    match s.get(1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(2),
        Some(b'u') => match hex4(s.get(2..).unwrap_or_default()) {
            Some(0xD800..=0xDFFF) if surrogate_pair(s) => Ok(12),
            Some(0xD800..=0xDFFF) | None => Err(ResponseError::Json),
            Some(_) => Ok(6),
        },
        _ => Err(ResponseError::Json),
    }
}

/// The string literal whose opening quote is at `open`: the index of its
/// closing quote, and whether it holds an escape.
pub(crate) fn string_at(b: &[u8], open: usize) -> Result<(usize, bool), ResponseError> {
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
#[inline(never)]
pub(crate) fn valid_scalar(t: &[u8]) -> bool {
    if matches!(t, b"true" | b"false" | b"null") {
        return true;
    }
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    let mut i = usize::from(t.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while t.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let lead = t.get(i) == Some(&b'0');
    let n = digits(&mut i);
    if n == 0 || (n > 1 && lead) {
        return false;
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == t.len()
}

pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
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
/// client reads are decoded afterwards, by [`unescape`].
pub(crate) fn scan<'a>(
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
            // (A close, a value or a comma is only expected inside the
            // top-level object: depth >= 1.)
            (Expect::KeyOrClose | Expect::CommaOrClose, b'}') if in_object => {
                depth = depth.saturating_sub(1);
                i += 1;
                ended = i;
                in_object = is_object(objects, depth);
            }
            (Expect::ValueOrClose | Expect::CommaOrClose, b']') if !in_object => {
                depth = depth.saturating_sub(1);
                i += 1;
                ended = i;
                in_object = is_object(objects, depth);
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
            (Expect::Value | Expect::ValueOrClose, b'"') => {
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
            (Expect::Value | Expect::ValueOrClose, _) => {
                let len = b
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .position(|&t| {
                        matches!(t, b',' | b'}' | b']' | b':' | b'{' | b'[' | b'"') || is_json_ws(t)
                    })
                    // (No end: the body is cut short, an empty scalar.)
                    .unwrap_or(0);
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

/// Whether the container at `depth` (1 = the top-level object) is an
/// object, from the bit set `objects` (bit `d`: depth `d + 1`).
fn is_object(objects: u32, depth: usize) -> bool {
    depth
        .checked_sub(1)
        .and_then(|d| objects.checked_shr(u32::try_from(d).ok()?))
        .is_some_and(|o| o & 1 == 1)
}

/// Hands `f` the unescaped text of `lit` in pieces: the runs between
/// escapes as they are, each escape of an ASCII character as that byte, and
/// each escape of any other character (a UTF-16 surrogate pair as one) as
/// the single byte [`NOT_ASCII`]. Every string the client keeps is ASCII
/// (RFC 6749 §5.1, §5.2): a token, scope or token type with that byte is
/// refused, and [`Text`](crate::text::Text) shows it as `?`. The scan has
/// checked every escape; on anything else it stops.
pub(crate) fn unescape(lit: Lit<'_>, f: &mut dyn FnMut(&[u8])) {
    let mut rest = lit.raw;
    if !lit.escaped {
        f(rest);
        return;
    }
    loop {
        let run = rest.iter().position(|&b| b == b'\\').unwrap_or(rest.len());
        f(rest.get(..run).unwrap_or_default());
        let esc = rest.get(run..).unwrap_or_default();
        let (c, len) = match esc.get(1) {
            Some(b'u') if surrogate_pair(esc) => (NOT_ASCII, 12),
            Some(b'u') => match hex4(esc.get(2..).unwrap_or_default()) {
                Some(0xD800..=0xDFFF) | None => return,
                Some(c) => (
                    u8::try_from(c)
                        .ok()
                        .filter(u8::is_ascii)
                        .unwrap_or(NOT_ASCII),
                    6,
                ),
            },
            Some(b'b') => (0x08, 2),
            Some(b'f') => (0x0C, 2),
            Some(b'n') => (b'\n', 2),
            Some(b'r') => (b'\r', 2),
            Some(b't') => (b'\t', 2),
            Some(&c @ (b'"' | b'\\' | b'/')) => (c, 2),
            _ => return,
        };
        f(&[c]);
        rest = esc.get(len..).unwrap_or_default();
    }
}

/// What [`unescape`] gives for an escaped character that is not ASCII:
/// never valid in UTF-8, never visible ASCII.
pub(crate) const NOT_ASCII: u8 = 0xFF;

/// Unescapes `lit` into `dst`, as much as fits. Returns (bytes written,
/// unescaped length).
pub(crate) fn unescape_into(lit: Lit<'_>, dst: &mut [u8]) -> (usize, usize) {
    let (mut written, mut total) = (0usize, 0usize);
    unescape(lit, &mut |s| {
        let room = dst.len().saturating_sub(written);
        let n = if total == written {
            s.len().min(room)
        } else {
            0
        };
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
pub(crate) fn visible_ascii(s: &[u8]) -> bool {
    let mut chunks = s.chunks_exact(W);
    let mut bad = 0usize;
    for chunk in &mut chunks {
        let w = word(chunk);
        let del = w ^ (LO * 0x7F);
        // Flags every byte below 0x21 (w - 0x21 borrows), >= 0x80 (w) or
        // 0x7F (del - 1 borrows), and most non-ASCII bytes two or three
        // times over: a flag only ever follows a bad byte, so the yes/no is
        // exact. (In this order each `|` matters: 0xFF is flagged by the
        // first two terms only, 0x80..=0xA0 by the last two only.)
        bad |= w.wrapping_sub(LO * 0x21) | w | del.wrapping_sub(LO);
    }
    bad & HI == 0
        && chunks
            .remainder()
            .iter()
            .all(|&b| (0x21..0x7F).contains(&b))
}

pub(crate) fn trim_ws(b: &[u8]) -> &[u8] {
    crate::bytes::trim(b, is_json_ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    /// The stop rule one byte at a time: what the word-at-a-time scan must
    /// agree with.
    fn reference(s: &[u8]) -> usize {
        s.iter()
            .position(|&b| b == b'\\' || !(0x23..0x80).contains(&b))
            .unwrap_or(s.len())
    }

    #[test]
    fn skip_plain_stops_where_the_byte_rule_stops() {
        // Every byte value at every offset of the first words, behind plain
        // text and followed by plain text and then by a second stop.
        // (Under Miri, every 7th byte value.)
        for b in (0..=255u8).step_by(if cfg!(miri) { 7 } else { 1 }) {
            for at in 0..3 * W {
                let mut s: Vec<u8> = (0..at).map(|i| b'#' + (i % 90) as u8).collect();
                s.push(b);
                s.extend(core::iter::repeat_n(b'a', 2 * W));
                s.push(b'"');
                assert_eq!(skip_plain(&s), reference(&s), "byte {b:#04x} at {at}");
                assert_eq!(skip_plain(&s[..at]), at, "plain prefix of {at}");
            }
        }
    }

    #[test]
    fn hex4_reads_four_hex_digits() {
        assert_eq!(hex4(b"0000"), Some(0));
        assert_eq!(hex4(b"00e9"), Some(0xE9));
        assert_eq!(hex4(b"D83C"), Some(0xD83C));
        assert_eq!(hex4(b"ffff"), Some(0xFFFF));
        assert_eq!(hex4(b"1234rest"), Some(0x1234));
        assert_eq!(hex4(b"12g4"), None);
        assert_eq!(hex4(b"123"), None);
    }

    #[test]
    fn surrogates_only_as_complete_pairs() {
        assert!(surrogate_pair(br"\ud83c\udf21"));
        assert!(surrogate_pair(br"\uD800\uDC00"));
        assert!(surrogate_pair(br"\udbff\udfff"));
        // The second half must be a `\u` escape of a low surrogate.
        assert!(!surrogate_pair(br"\ud83cxxdf21"));
        assert!(!surrogate_pair(br"\ud83c\u0041"));
        assert!(!surrogate_pair(br"\udf21\ud83c"));
        assert!(!surrogate_pair(br"xxd83c\udf21"));
        assert_eq!(escape_len(br"\ud83c\udf21"), Ok(12));
        assert_eq!(escape_len(br"\ud83cxxdf21"), Err(ResponseError::Json));
        assert_eq!(escape_len(br"\ud83c\u0041"), Err(ResponseError::Json));
        assert_eq!(escape_len(br"\udc00"), Err(ResponseError::Json));
        assert_eq!(escape_len(br"\u00e9"), Ok(6));
        assert_eq!(escape_len(br"\n"), Ok(2));
        assert_eq!(escape_len(br"\x"), Err(ResponseError::Json));
    }

    fn object(body: &[u8]) -> bool {
        scan(body, |_, _| {}).is_ok()
    }

    #[test]
    fn brackets_close_only_what_they_opened() {
        for ok in [
            &br#"{"a":[1,{"b":[]}],"c":{}}"#[..],
            br#"{"a":[[],[{}]]}"#,
            br#"{}"#,
        ] {
            assert!(object(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &br#"{"a":[1}}"#[..],
            br#"{"a":[1}]}"#,
            br#"{"a":1]"#,
            br#"{"a":{"b":1]}"#,
            br#"{"a":[{]}]}"#,
            br#"{"a":[}"#,
            br#"{]"#,
            br#"{"a":1}}"#,
        ] {
            assert!(!object(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn non_ascii_runs_are_checked_as_utf8() {
        assert!(object(
            "{\"a\":\"\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\"}".as_bytes()
        ));
        assert!(object("{\"\u{80}\":\"x\u{80}y\"}".as_bytes()));
        assert!(!object(b"{\"a\":\"\xC2\"}"));
        assert!(!object(b"{\"a\":\"\x80\"}"));
        assert!(!object(b"{\"a\":\"\xC2\xC2\x80\"}"));
    }

    #[test]
    fn unescape_into_keeps_what_fits_and_counts_the_rest() {
        let lit = |raw: &'static str, escaped| Lit {
            raw: raw.as_bytes(),
            escaped,
        };
        let mut dst = [0u8; 3];
        assert_eq!(unescape_into(lit("abcdef", false), &mut dst), (3, 6));
        assert_eq!(&dst, b"abc");
        let mut dst = [0u8; 5];
        assert_eq!(unescape_into(lit(r"ab\nxyz", true), &mut dst), (5, 6));
        assert_eq!(&dst, b"ab\nxy");
        // Nothing after a piece that did not fit.
        let mut dst = [0u8; 3];
        assert_eq!(unescape_into(lit(r"abcd\n!", true), &mut dst), (3, 6));
        // An escaped non-ASCII character is one byte, a surrogate pair too.
        let mut dst = [0u8; 8];
        assert_eq!(
            unescape_into(lit(r"\ud83c\udf21!\u00e9", true), &mut dst),
            (3, 3)
        );
        assert_eq!(&dst[..3], &[NOT_ASCII, b'!', NOT_ASCII]);
    }

    #[test]
    fn unescape_agrees_with_serde_json_on_ascii() {
        let all = |raw: &str| {
            let mut out = Vec::new();
            let lit = Lit {
                raw: raw.as_bytes(),
                escaped: true,
            };
            unescape(lit, &mut |s| out.extend_from_slice(s));
            out
        };
        for raw in [
            r#"plain"#,
            r#"\"\\\/\b\f\n\r\t"#,
            r#"a\u0041b\u007e\u007F"#,
            r#"\u0000"#,
            r#"\\u0041"#,
            r#"end\\"#,
        ] {
            let want: String = serde_json::from_str(&format!("\"{raw}\"")).unwrap();
            assert_eq!(all(raw), want.as_bytes(), "{raw}");
        }
        // Escaped non-ASCII characters: one byte each that is neither UTF-8
        // nor visible ASCII; raw UTF-8 passes as it is.
        let n = NOT_ASCII;
        assert_eq!(
            all(r#"a\u0080b\u00e9\u20AC\uffff"#),
            [b'a', n, b'b', n, n, n]
        );
        assert_eq!(all(r#"\ud83c\udf21\ud83c\udf21x"#), [n, n, b'x']);
        assert_eq!(all(r#"é\n€"#), "é\n€".as_bytes());
        assert!(core::str::from_utf8(&[NOT_ASCII]).is_err());
        assert!(!visible_ascii(&[NOT_ASCII]));
        // Input the scan refuses: decoding stops there.
        assert_eq!(all(r#"ab\x"#), b"ab");
        assert_eq!(all(r#"ab\ud800"#), b"ab");
        assert_eq!(all(r#"ab\u00"#), b"ab");
        assert_eq!(all("ab\\"), b"ab");
    }

    #[test]
    fn visible_ascii_is_exact_at_every_offset() {
        let rule = |s: &[u8]| s.iter().all(|&b| (0x21..0x7F).contains(&b));
        for b in (0..=255u8).step_by(if cfg!(miri) { 7 } else { 1 }) {
            for at in 0..3 * W {
                let mut s: Vec<u8> = (0..3 * W).map(|i| b'!' + (i % 94) as u8).collect();
                s[at] = b;
                assert_eq!(visible_ascii(&s), rule(&s), "byte {b:#04x} at {at}");
                // The same bad byte in two words must not cancel out.
                s[(at + W) % (3 * W)] = b;
                assert_eq!(visible_ascii(&s), rule(&s), "byte {b:#04x} twice");
            }
        }
    }
}
