//! A server's `DPoP-Nonce` (RFC 9449 §8) as the client keeps it: a value
//! type below everything that reads, reports or sends it (the response
//! reader, the error details, the DPoP proofs), so none of them depends on
//! another for it.

use core::fmt;

/// The longest `DPoP-Nonce` the client keeps, in bytes. A longer nonce is
/// never kept: the response that asked for it (`use_dpop_nonce`) is
/// reported as [`Error::Capacity`](crate::Error::Capacity) with
/// [`Buffer::DpopNonce`](crate::error::Buffer::DpopNonce) and its size, and
/// the next request goes without a nonce, so the server can ask again (one
/// reply cannot lock the device out).
pub const MAX_DPOP_NONCE: usize = 128;

/// A server's `DPoP-Nonce` (RFC 9449 §8): `1*NQCHAR`, at most
/// [`MAX_DPOP_NONCE`] bytes, or the length of one that was longer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DpopNonce {
    bytes: [u8; MAX_DPOP_NONCE],
    len: u16,
}

impl DpopNonce {
    /// A `DPoP-Nonce` header value as a nonce: `None` when it is not
    /// `1*NQCHAR` (visible ASCII but `"` and `\`). One longer than
    /// [`MAX_DPOP_NONCE`] is kept as its length ([`DpopNonce::get`]).
    ///
    /// ```
    /// use embedded_oauth2::dpop::DpopNonce;
    /// let n = DpopNonce::from_header(b"eyJ7S_zG.n-1").unwrap();
    /// assert_eq!(n.get(), Ok("eyJ7S_zG.n-1"));
    /// assert!(DpopNonce::from_header(b"a b").is_none());
    /// ```
    pub fn from_header(value: &[u8]) -> Option<Self> {
        let nqchar = |&b: &u8| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
        if value.is_empty() || !value.iter().all(nqchar) {
            return None;
        }
        let mut n = Self {
            bytes: [0; MAX_DPOP_NONCE],
            len: u16::try_from(value.len()).unwrap_or(u16::MAX),
        };
        if let (Some(dst), Some(src)) = (n.bytes.get_mut(..value.len()), value.get(..)) {
            dst.copy_from_slice(src);
        }
        Some(n)
    }

    /// The nonce, or the size it needs when it is longer than
    /// [`MAX_DPOP_NONCE`].
    pub fn get(&self) -> Result<&str, usize> {
        let len = usize::from(self.len);
        self.bytes
            .get(..len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .ok_or(len)
    }
}

impl fmt::Debug for DpopNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Ok(n) => f.debug_tuple("DpopNonce").field(&n).finish(),
            Err(len) => write!(f, "DpopNonce(<{len} bytes, too long>)"),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for DpopNonce {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self.get() {
            Ok(n) => defmt::write!(f, "DpopNonce({=str})", n),
            Err(len) => defmt::write!(f, "DpopNonce(<{=usize} bytes, too long>)", len),
        }
    }
}
