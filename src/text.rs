//! Small fixed-capacity text kept inside errors (server-supplied strings).

use core::fmt;

/// Fixed-capacity, printable-ASCII-safe copy of a server-supplied string.
///
/// Used for the parts of an OAuth error response that are worth keeping
/// (`error_description`, `error_uri`, an extension error code, the
/// `WWW-Authenticate` header). Longer input is cut at a character boundary and
/// [`Text::is_truncated`] says so; control characters are replaced by `?` so a
/// hostile server cannot inject into a log line.
///
/// ```
/// use embedded_oauth2::Text;
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
        for c in s.chars() {
            let c = if c.is_control() { '?' } else { c };
            let w = c.len_utf8();
            let Some(dst) = self.bytes.get_mut(len..len + w) else {
                self.truncated = true;
                break;
            };
            c.encode_utf8(dst);
            len += w;
        }
        self.len = u16::try_from(len).unwrap_or(u16::MAX);
    }

    /// Copies bytes that should be text (an HTTP header value); bytes that
    /// are not valid UTF-8 become `?`.
    pub fn from_bytes_lossy(b: &[u8]) -> Self {
        match core::str::from_utf8(b) {
            Ok(s) => Self::from_str_lossy(s),
            Err(e) => {
                let good = b.get(..e.valid_up_to()).unwrap_or_default();
                let mut t = Self::from_str_lossy(core::str::from_utf8(good).unwrap_or_default());
                t.push_replacement();
                t
            }
        }
    }

    fn push_replacement(&mut self) {
        let len = usize::from(self.len);
        match self.bytes.get_mut(len) {
            Some(b) => {
                *b = b'?';
                self.len += 1;
            }
            None => self.truncated = true,
        }
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
        assert_eq!(t.as_str(), "ab??cd?");
    }
}
