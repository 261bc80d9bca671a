//! The byte helpers the parsers and the request writer share: one copy
//! each.

/// Moves `w[by..]` to the front of `w`, a chunk of `by` bytes at a time
/// (a `copy_within` that cannot panic).
pub(crate) fn shift_left(w: &mut [u8], by: usize) {
    if by == 0 {
        return;
    }
    let mut k = 0;
    while let Some((front, back)) = w.split_at_mut_checked(k + by) {
        let n = back.len().min(by);
        if n == 0 {
            break;
        }
        if let (Some(dst), Some(src)) = (front.get_mut(k..k + n), back.get(..n)) {
            dst.copy_from_slice(src);
        }
        k += n;
    }
}

/// Moves `buf[src]` down to `dst` (`dst <= src.start`): the moves the
/// response reader needs, in chunks (no general `memmove`, 1.5 KiB on
/// Cortex-M, is linked for them).
pub(crate) fn move_down(buf: &mut [u8], src: core::ops::Range<usize>, dst: usize) {
    if let Some(w) = buf.get_mut(dst..src.end) {
        shift_left(w, src.start.saturating_sub(dst));
    }
}

/// `b` without the bytes `ws` matches at either end.
pub(crate) fn trim(b: &[u8], ws: impl Fn(u8) -> bool) -> &[u8] {
    let start = b.iter().position(|&c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !ws(c)).map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or_default()
}

/// Wipes `b` with zeroize's volatile writes, out of line: one copy in the
/// image for all the crate's byte buffers instead of one per buffer.
#[inline(never)]
pub(crate) fn wipe(b: &mut [u8]) {
    zeroize::Zeroize::zeroize(b);
}

/// A non-empty run of at most 19 ASCII digits (no sign, no space): what
/// HTTP's `Content-Length`, chunk sizes and `Retry-After` and JSON's
/// `expires_in` allow.
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    b.iter().try_fold(0u64, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + u64::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_left_is_copy_within() {
        for len in 0..30 {
            for by in 0..=len {
                let mut a: std::vec::Vec<u8> = (0..len as u8).collect();
                let mut b = a.clone();
                shift_left(&mut a, by);
                b.copy_within(by.., 0);
                assert_eq!(a[..len - by], b[..len - by], "{len} {by}");
            }
        }
    }

    #[test]
    fn move_down_is_copy_within() {
        for len in 0..24 {
            for dst in 0..len {
                for start in dst..=len {
                    let mut a: std::vec::Vec<u8> = (0..len as u8).collect();
                    let mut b = a.clone();
                    move_down(&mut a, start..len, dst);
                    b.copy_within(start..len, dst);
                    assert_eq!(a, b, "{len} {start} {dst}");
                }
            }
        }
    }

    #[test]
    fn trims_and_decimals() {
        assert_eq!(trim(b" \t a b \t", |c| c == b' ' || c == b'\t'), b"a b");
        assert_eq!(trim(b"   ", |c| c == b' '), b"");
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(
            parse_u64(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"+1",
            b"1 ",
            b"-1",
            b"12345678901234567890",
            b"1a",
        ] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
    }
}
