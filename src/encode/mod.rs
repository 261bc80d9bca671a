//! Byte sinks and the encodings the request needs.

pub(crate) mod base64;
pub(crate) mod form;

/// Somewhere bytes can be written: a [`Sink`] or an encoder in front of one.
pub(crate) trait Out {
    fn put(&mut self, bytes: &[u8]);
    fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }
    /// Writes `n` in decimal.
    fn put_decimal(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        match u32::try_from(n) {
            // Every length and time the client writes: 32-bit arithmetic
            // (a division by the constant 10 is a multiplication).
            Ok(mut v) => loop {
                i -= 1;
                if let Some(d) = digits.get_mut(i) {
                    *d = b'0' + (v % 10) as u8;
                }
                v /= 10;
                if v == 0 || i == 0 {
                    break;
                }
            },
            // Beyond: digit by digit from the top, by subtraction (no
            // 64-bit division routine linked on 32-bit cores).
            Err(_) => {
                let mut n = n;
                let mut len = 0;
                for &p in &POWERS_OF_TEN {
                    let mut d = 0u8;
                    while n >= p {
                        n -= p;
                        d += 1;
                    }
                    if (d > 0 || len > 0)
                        && let Some(slot) = digits.get_mut(len)
                    {
                        *slot = b'0' + d;
                        len += 1;
                    }
                }
                self.put(digits.get(..len).unwrap_or_default());
                return;
            }
        }
        self.put(digits.get(i..).unwrap_or_default());
    }
}

/// 10^19 down to 1.
const POWERS_OF_TEN: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 19;
    while i > 0 {
        t[i - 1] = t[i] * 10;
        i -= 1;
    }
    t
};

impl Out for Sink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        Sink::put(self, bytes);
    }
}

use crate::error::{Buffer, CapacityError};

/// Writes into a caller's slice; past its end it keeps counting, so one pass
/// tells both the bytes written and the size that would have sufficed.
pub(crate) struct Sink<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Sink<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// A sink that stores nothing and only counts.
    pub(crate) fn counter() -> Sink<'static> {
        Sink {
            buf: &mut [],
            pos: 0,
        }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    pub(crate) fn put_str(&mut self, s: &str) {
        self.put(s.as_bytes());
    }

    /// Advances by `len` bytes without writing (counting passes).
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    pub(crate) fn skip(&mut self, len: usize) {
        self.pos = self.pos.saturating_add(len);
    }

    pub(crate) fn len(&self) -> usize {
        self.pos
    }

    /// Whether `more` bytes would still fit.
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    pub(crate) fn has_room(&self, more: usize) -> bool {
        self.pos.saturating_add(more) <= self.buf.len()
    }

    /// The bytes written since `start`, when all of them fit.
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    pub(crate) fn written_since(&self, start: usize) -> Option<&[u8]> {
        self.buf.get(start..self.pos)
    }

    /// The bytes written, or the size needed when they did not fit.
    pub(crate) fn finish(self, buffer: Buffer) -> Result<usize, CapacityError> {
        if self.pos <= self.buf.len() {
            Ok(self.pos)
        } else {
            Err(CapacityError {
                buffer,
                needed: self.pos,
                available: self.buf.len(),
                exact: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_format() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            4_294_967_295,
            4_294_967_296,
            1_795_719_600,
            u64::MAX,
        ]
        .into_iter()
        .chain((0..64).map(|s| 1u64 << s))
        .chain((0..64).map(|s| (1u64 << s) - 1))
        {
            let mut buf = [0u8; 24];
            let mut sink = Sink::new(&mut buf);
            sink.put_decimal(n);
            let len = sink.finish(crate::error::Buffer::Output).unwrap();
            assert_eq!(
                core::str::from_utf8(&buf[..len]).unwrap(),
                std::format!("{n}")
            );
        }
    }

    #[test]
    fn sink_counts_past_the_end() {
        let mut b = [0u8; 4];
        let mut s = Sink::new(&mut b);
        s.put(b"abc");
        s.put_decimal(1234);
        let e = s.finish(Buffer::Request).unwrap_err();
        assert_eq!((e.needed, e.available), (7, 4));
        assert_eq!(&b, b"abc\0");
    }

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 65535, u64::MAX] {
            let mut b = [0u8; 32];
            let mut s = Sink::new(&mut b);
            s.put_decimal(n);
            let len = s.finish(Buffer::Request).unwrap();
            assert_eq!(
                core::str::from_utf8(&b[..len]).unwrap(),
                std::format!("{n}")
            );
        }
    }
}
