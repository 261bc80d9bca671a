//! Just enough DER to find a certificate's `SubjectPublicKeyInfo` (for
//! public-key pins) and to check that the trusted CA is a certificate.

/// One DER TLV split off the front of some input.
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    /// Tag, length and contents.
    pub(crate) whole: &'a [u8],
    pub(crate) contents: &'a [u8],
    /// The input after this TLV.
    pub(crate) rest: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Single-byte tags, definite lengths of up to 3 length bytes.
    pub(crate) fn parse(input: &'a [u8]) -> Option<Self> {
        let (&tag, after_tag) = input.split_first()?;
        let (&first, after_len) = after_tag.split_first()?;
        let (len, header) = match first {
            0..=0x7f => (usize::from(first), 2),
            0x81..=0x83 => {
                let n = usize::from(first & 0x7f);
                let bytes = after_len.get(..n)?;
                let len = bytes
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) + usize::from(b));
                (len, 2 + n)
            }
            _ => return None,
        };
        let end = header.checked_add(len)?;
        let whole = input.get(..end)?;
        Some(Self {
            tag,
            whole,
            contents: whole.get(header..)?,
            rest: input.get(end..)?,
        })
    }

    /// The TLV at the front of `input` if its tag is `tag`.
    pub(crate) fn expect(input: &'a [u8], tag: u8) -> Option<Self> {
        Self::parse(input).filter(|t| t.tag == tag)
    }
}

const SEQUENCE: u8 = 0x30;

/// The `SubjectPublicKeyInfo` (whole DER TLV) of an X.509 certificate (DER).
///
/// ```
/// # #[cfg(feature = "tls")] {
/// use embedded_oauth2::tls::spki;
/// assert!(spki(b"\x30\x00").is_none()); // not a certificate
/// # }
/// ```
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    let certificate = Tlv::expect(cert, SEQUENCE)?.contents;
    let mut tbs = Tlv::expect(certificate, SEQUENCE)?.contents;
    if let Some(version) = Tlv::expect(tbs, 0xa0) {
        tbs = version.rest; // [0] EXPLICIT version
    }
    // serialNumber, signature, issuer, validity, subject
    for tag in [0x02, SEQUENCE, SEQUENCE, SEQUENCE, SEQUENCE] {
        tbs = Tlv::expect(tbs, tag)?.rest;
    }
    Some(Tlv::expect(tbs, SEQUENCE)?.whole)
}

/// Whether `der` is exactly one X.509 certificate (one SEQUENCE, nothing
/// after it, with a `SubjectPublicKeyInfo` where one belongs).
pub(crate) fn is_certificate(der: &[u8]) -> bool {
    matches!(Tlv::parse(der), Some(t) if t.tag == SEQUENCE && t.rest.is_empty())
        && spki(der).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let t = Tlv::parse(&[0x04, 0x02, 1, 2, 9]).unwrap();
        assert_eq!((t.tag, t.contents, t.rest), (4, &[1u8, 2][..], &[9u8][..]));
        // Long forms with 1, 2 and 3 length bytes: the contents start right
        // after the length and end where it says.
        for (header, len) in [
            (&[0x04, 0x81, 0x80][..], 0x80usize),
            (&[0x04, 0x82, 0x01, 0x02], 0x102),
            (&[0x04, 0x83, 0x01, 0x00, 0x03], 0x1_0003),
        ] {
            let mut v = header.to_vec();
            v.extend((0..len).map(|i| (i % 251) as u8 + 1));
            v.push(0);
            let t = Tlv::parse(&v).unwrap();
            assert_eq!(t.contents.len(), len);
            assert_eq!(t.contents[0], 1);
            assert_eq!(t.contents[len - 1], ((len - 1) % 251) as u8 + 1);
            assert_eq!(t.rest, &[0]);
            assert_eq!(t.whole.len(), header.len() + len);
        }
        // truncated, indefinite, too many length bytes, empty
        for bad in [
            &[0x04, 0x03, 1, 2][..],
            &[0x30, 0x80],
            &[0x04, 0x84, 0, 0, 0, 1],
            &[],
            &[4],
        ] {
            assert!(Tlv::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Tlv::expect(&[0x04, 0x00], 0x30).is_none());
    }

    #[test]
    fn every_prefix_of_a_certificate_is_refused_without_panic() {
        // A minimal shape: SEQUENCE { SEQUENCE { [0]{INTEGER}, INTEGER, SEQ, SEQ, SEQ, SEQ, SEQ(spki) } }
        let spki_tlv = [0x30, 0x03, 0x06, 0x01, 0x2a];
        let mut tbs = std::vec![0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x01];
        for _ in 0..4 {
            tbs.extend([0x30, 0x00]);
        }
        tbs.extend(spki_tlv);
        let mut inner = std::vec![0x30, tbs.len() as u8];
        inner.extend(&tbs);
        let mut cert = std::vec![0x30, inner.len() as u8];
        cert.extend(&inner);
        assert_eq!(spki(&cert), Some(&spki_tlv[..]));
        assert!(is_certificate(&cert));
        for n in 0..cert.len() {
            assert!(!is_certificate(&cert[..n]));
        }
        let mut trailing = cert.clone();
        trailing.push(0);
        assert!(!is_certificate(&trailing));
    }
}
