//! Small fixed-capacity text kept inside errors (server-supplied strings).

use core::fmt;

/// Fixed-capacity, printable-ASCII copy of a server-supplied string.
///
/// Used for the parts of an OAuth error response that are worth keeping
/// (`error_description`, `error_uri`, an extension error code, the
/// `WWW-Authenticate` header). RFC 6749 §5.2 and RFC 6750 §3 allow only
/// printable ASCII in them, so that is all a `Text` keeps: every other
/// character (control characters, DEL, and every non-ASCII character, so
/// also the line separators U+2028/U+2029 and the bidi overrides such as
/// U+202E that could forge or reorder a log line) becomes one `?`, and so
/// does each byte that is not UTF-8. Longer input is cut at `N` bytes and
/// [`Text::is_truncated`] says so.
///
/// ```
/// use embedded_oauth2::error::Text;
/// let t = Text::<8>::from_str_lossy("client\nauth failed");
/// assert_eq!(t.as_str(), "client?a");
/// assert!(t.is_truncated());
/// assert_eq!(Text::<8>::from_str_lossy("café").as_str(), "caf?");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Text<const N: usize> {
    bytes: [u8; N],
    len: u16,
    truncated: bool,
}

impl<const N: usize> Text<N> {
    /// An empty text.
    pub const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// Copies `s`, each character that is not printable ASCII replaced by
    /// `?`, cut at `N` bytes.
    pub fn from_str_lossy(s: &str) -> Self {
        Self::from_bytes_lossy(s.as_bytes())
    }

    /// Replaces the text with `s`, as [`Text::from_str_lossy`] does, in
    /// place (no temporary copy on the stack).
    pub fn assign_lossy(&mut self, s: &str) {
        self.clear();
        self.push_lossy(s.as_bytes());
    }

    /// Empties the text.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Appends `s` as [`Text::from_bytes_lossy`] copies it; once truncated,
    /// nothing more is appended. `s` should not start inside a UTF-8
    /// sequence: such bytes are dropped.
    pub(crate) fn push_lossy(&mut self, s: &[u8]) {
        push_lossy(&mut self.bytes, &mut self.len, &mut self.truncated, s);
    }

    /// Copies bytes that should be text (an HTTP header value): printable
    /// ASCII as it is; each other character, and each sequence that is not
    /// UTF-8, becomes one `?`.
    pub fn from_bytes_lossy(b: &[u8]) -> Self {
        let mut t = Self::new();
        t.push_lossy(b);
        t
    }

    /// The kept text.
    pub fn as_str(&self) -> &str {
        let b = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        core::str::from_utf8(b).unwrap_or_default()
    }

    /// `true` when the original was longer than `N` bytes.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// `true` when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// [`Text::push_lossy`], once for every capacity.
#[inline(never)]
fn push_lossy(bytes: &mut [u8], kept: &mut u16, truncated: &mut bool, s: &[u8]) {
    let mut len = usize::from(*kept);
    // Inside a non-ASCII sequence, whose `?` is written already.
    let mut inside = false;
    for &b in s {
        let c = match b {
            0x20..=0x7E => b,
            0x80..=0xBF if inside => continue,
            _ => b'?',
        };
        inside = b >= 0x80;
        // (Once truncated the text is full: nothing more fits.)
        match bytes.get_mut(len) {
            Some(d) => *d = c,
            None => {
                *truncated = true;
                break;
            }
        }
        len += 1;
    }
    *kept = u16::try_from(len).unwrap_or(u16::MAX);
}

/// The kept text as a `&str`: `Text` reads like one (`len`, `starts_with`,
/// comparisons, `format!`), as heapless's `String` does.
impl<const N: usize> core::ops::Deref for Text<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<str> for Text<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> PartialEq<str> for Text<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for Text<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for Text<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
        if self.truncated {
            defmt::write!(f, "...");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_at_n_bytes() {
        let t = Text::<4>::from_str_lossy("abcde");
        assert_eq!(t.as_str(), "abcd");
        assert!(t.is_truncated());
        let t = Text::<5>::from_str_lossy("abcde");
        assert_eq!(t.as_str(), "abcde");
        assert!(!t.is_truncated());
        // A replaced character counts one byte.
        let t = Text::<3>::from_str_lossy("aéé");
        assert_eq!(t.as_str(), "a??");
        assert!(!t.is_truncated());
    }

    #[test]
    fn replaces_controls_and_invalid_utf8() {
        let t = Text::<16>::from_bytes_lossy(b"ab\r\ncd\xff\xfe");
        assert_eq!(t.as_str(), "ab??cd??");
        assert!(!t.is_truncated());
        // A continuation byte with no lead byte is not UTF-8 either.
        assert_eq!(Text::<8>::from_bytes_lossy(b"\x80a\x7f").as_str(), "?a?");
    }

    /// The text after an invalid byte is kept, not silently dropped.
    #[test]
    fn keeps_text_after_invalid_utf8() {
        let t = Text::<32>::from_bytes_lossy(b"invalid \xc3( client \xe2\x82 id");
        assert_eq!(t.as_str(), "invalid ?( client ? id");
        assert!(!t.is_truncated());
        let t = Text::<6>::from_bytes_lossy(b"ab\xffcdefgh");
        assert_eq!(t.as_str(), "ab?cde");
        assert!(t.is_truncated());
    }

    /// Line separators, bidi overrides and every other non-ASCII character
    /// would let a server forge or reorder a log line (and RFC 6749 §5.2
    /// allows none of them): each becomes one `?`.
    #[test]
    fn line_separators_bidi_controls_and_non_ascii_are_replaced() {
        let evil =
            "ok\u{2028}FAKE\u{2029}x\u{202E}gnp.exe\u{2066}\u{200B}\u{FEFF}\u{85}é\u{1F600}~";
        let t = Text::<64>::from_str_lossy(evil);
        assert_eq!(t.as_str(), "ok?FAKE?x?gnp.exe??????~");
        for c in 0u8..=0xFF {
            let s = [c];
            let t = Text::<1>::from_bytes_lossy(&s);
            let printable = (0x20..0x7F).contains(&c);
            assert_eq!(
                t.as_str().as_bytes(),
                if printable { &s } else { b"?" },
                "{c:#x}"
            );
        }
    }

    /// Reassigning starts afresh: the old text and its truncation mark go.
    #[test]
    fn assign_replaces_text_and_truncation() {
        let mut t = Text::<4>::from_str_lossy("too long");
        assert!(t.is_truncated());
        assert!(!t.is_empty());
        t.assign_lossy("ok");
        assert_eq!(t.as_str(), "ok");
        assert!(!t.is_truncated());
        t.assign_lossy("");
        assert!(t.is_empty());
        assert!(Text::<4>::new().is_empty());
    }

    /// `Text` reads as its kept `&str` everywhere a caller looks: deref,
    /// `AsRef`, comparisons, `Display` and `Debug` (which mark a cut).
    #[test]
    fn reads_as_its_str() {
        use std::format;
        let t = Text::<8>::from_str_lossy("invalid");
        assert_eq!(t.len(), 7);
        assert!(t.starts_with("inv"));
        assert_eq!(AsRef::<str>::as_ref(&t), "invalid");
        assert!(t == *"invalid");
        assert!(t == "invalid");
        assert!(t != *"other");
        assert!(t != "other");
        assert_eq!(format!("{t}"), "invalid");
        assert_eq!(format!("{t:?}"), "\"invalid\"");
        let cut = Text::<4>::from_str_lossy("invalid");
        assert_eq!(format!("{cut}"), "inva...");
        assert_eq!(format!("{cut:?}"), "\"inva\"…");
    }
}
