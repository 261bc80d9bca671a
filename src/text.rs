//! Small fixed-capacity text kept inside errors (server-supplied strings).

use core::fmt;

/// Fixed-capacity, printable-ASCII-safe copy of a server-supplied string.
///
/// Used for the parts of an OAuth error response that are worth keeping
/// (`error_description`, `error_uri`, an extension error code, the
/// `WWW-Authenticate` header). Longer input is cut at a character boundary and
/// [`Text::is_truncated`] says so. Characters that could forge or reorder a
/// log line are replaced by `?`: control characters (C0, DEL, C1), the line
/// and paragraph separators U+2028/U+2029, and the invisible format
/// characters (bidi embeddings, overrides and isolates such as U+202E,
/// zero-width characters, U+FEFF, tags).
///
/// ```
/// use embedded_oauth2::error::Text;
/// let t = Text::<8>::from_str_lossy("client\nauth failed");
/// assert_eq!(t.as_str(), "client?a");
/// assert!(t.is_truncated());
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

    /// Copies `s`, replacing control characters by `?` and cutting at `N`
    /// bytes on a character boundary.
    pub fn from_str_lossy(s: &str) -> Self {
        let mut t = Self::new();
        t.assign_lossy(s);
        t
    }

    /// Replaces the text with `s`, as [`Text::from_str_lossy`] does, in
    /// place (no temporary copy on the stack).
    pub fn assign_lossy(&mut self, s: &str) {
        self.clear();
        self.push_lossy(s);
    }

    /// Empties the text.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Appends `s` as [`Text::assign_lossy`] copies it; once truncated,
    /// nothing more is appended.
    pub(crate) fn push_lossy(&mut self, s: &str) {
        if self.truncated {
            return;
        }
        let mut len = usize::from(self.len);
        let mut rest = s;
        while !rest.is_empty() {
            // Printable ASCII, the common case, is copied as it is.
            let plain = rest
                .bytes()
                .position(|b| !(0x20..0x7F).contains(&b))
                .unwrap_or(rest.len());
            let Some((run, tail)) = rest.split_at_checked(plain) else {
                break;
            };
            let Some(dst) = self.bytes.get_mut(len..len + run.len()) else {
                // Cut on a character boundary (ASCII: any byte).
                let room = N.saturating_sub(len);
                if let (Some(d), Some(src)) =
                    (self.bytes.get_mut(len..N), run.as_bytes().get(..room))
                {
                    d.copy_from_slice(src);
                    len = N;
                }
                self.truncated = true;
                break;
            };
            dst.copy_from_slice(run.as_bytes());
            len += run.len();
            let mut chars = tail.chars();
            let Some(c) = chars.next() else { break };
            let c = if unsafe_in_logs(c) { '?' } else { c };
            let w = c.len_utf8();
            let Some(dst) = self.bytes.get_mut(len..len + w) else {
                self.truncated = true;
                break;
            };
            c.encode_utf8(dst);
            len += w;
            rest = chars.as_str();
        }
        self.len = u16::try_from(len).unwrap_or(u16::MAX);
    }

    /// Copies bytes that should be text (an HTTP header value); each
    /// sequence that is not valid UTF-8 becomes one `?`, and the text after
    /// it is kept.
    pub fn from_bytes_lossy(b: &[u8]) -> Self {
        let mut t = Self::new();
        for chunk in b.utf8_chunks() {
            t.push_lossy(chunk.valid());
            if !chunk.invalid().is_empty() {
                t.push_lossy("?");
            }
        }
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

/// Whether `c` could forge, hide or reorder text in a log line: Unicode's
/// control (Cc), line and paragraph separator (Zl, Zp) and format (Cf)
/// characters.
pub(crate) fn unsafe_in_logs(c: char) -> bool {
    c.is_control()
        || matches!(
                u32::from(c),
                0x00AD
                    | 0x0600..=0x0605
                    | 0x061C
                    | 0x06DD
                    | 0x070F
                    | 0x0890..=0x0891
                    | 0x08E2
                    | 0x180E
                    | 0x200B..=0x200F
                    | 0x2028..=0x202E
                    | 0x2060..=0x2064
                    | 0x2066..=0x206F
                    | 0xFEFF
                    | 0xFFF9..=0xFFFB
                    | 0x110BD
                    | 0x110CD
                    | 0x13430..=0x1343F
                    | 0x1BCA0..=0x1BCA3
                    | 0x1D173..=0x1D17A
                    | 0xE0001
                    | 0xE0020..=0xE007F
        )
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
    fn truncates_on_char_boundary() {
        let t = Text::<4>::from_str_lossy("aéé");
        assert_eq!(t.as_str(), "aé");
        assert!(t.is_truncated());
        let t = Text::<5>::from_str_lossy("aéé");
        assert_eq!(t.as_str(), "aéé");
        assert!(!t.is_truncated());
    }

    #[test]
    fn replaces_controls_and_invalid_utf8() {
        let t = Text::<16>::from_bytes_lossy(b"ab\r\ncd\xff\xfe");
        assert_eq!(t.as_str(), "ab??cd??");
        assert!(!t.is_truncated());
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

    /// Line separators and bidi overrides would let a server forge or
    /// reorder a log line: each becomes `?`; ordinary non-ASCII stays.
    #[test]
    fn line_separators_and_bidi_controls_are_replaced() {
        let evil = "ok\u{2028}FAKE\u{2029}x\u{202E}gnp.exe\u{2066}\u{200B}\u{FEFF}\u{85}é";
        let t = Text::<64>::from_str_lossy(evil);
        assert_eq!(t.as_str(), "ok?FAKE?x?gnp.exe????é");
        for c in [
            '\u{2028}',
            '\u{2029}',
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200E}',
            '\u{061C}',
            '\u{E0041}',
        ] {
            assert!(unsafe_in_logs(c), "{c:?}");
        }
        for c in ['a', 'é', 'ß', '€', '日', ' ', '\u{A0}', '\u{1F600}'] {
            assert!(!unsafe_in_logs(c), "{c:?}");
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
