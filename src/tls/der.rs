//! Just enough DER to read what webpki does not hand out without an
//! allocator: a certificate's `SubjectPublicKeyInfo` (public-key pins, the
//! leaf's key for CertificateVerify), its notBefore (the verification time
//! without a clock) and its keyUsage (keyCertSign on CA certificates).

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

/// The fields of a `TBSCertificate` this module reads.
struct Tbs<'a> {
    /// `Validity` contents: notBefore, notAfter.
    validity: &'a [u8],
    /// `SubjectPublicKeyInfo`, the whole TLV.
    spki: &'a [u8],
    /// What follows the SPKI: optional unique IDs, then `[3] extensions`.
    rest: &'a [u8],
}

fn tbs(cert: &[u8]) -> Option<Tbs<'_>> {
    let certificate = Tlv::expect(cert, SEQUENCE)?.contents;
    let mut tbs = Tlv::expect(certificate, SEQUENCE)?.contents;
    if let Some(version) = Tlv::expect(tbs, 0xa0) {
        tbs = version.rest; // [0] EXPLICIT version
    }
    // serialNumber, signature, issuer
    for tag in [0x02, SEQUENCE, SEQUENCE] {
        tbs = Tlv::expect(tbs, tag)?.rest;
    }
    let validity = Tlv::expect(tbs, SEQUENCE)?;
    let subject = Tlv::expect(validity.rest, SEQUENCE)?;
    let spki = Tlv::expect(subject.rest, SEQUENCE)?;
    Some(Tbs {
        validity: validity.contents,
        spki: spki.whole,
        rest: spki.rest,
    })
}

/// The `SubjectPublicKeyInfo` (whole DER TLV) of an X.509 certificate (DER).
///
/// ```
/// # #[cfg(feature = "tls")] {
/// use embedded_oauth2::tls::spki;
/// assert!(spki(b"\x30\x00").is_none()); // not a certificate
/// # }
/// ```
pub fn spki(cert: &[u8]) -> Option<&[u8]> {
    tbs(cert).map(|t| t.spki)
}

/// A `SubjectPublicKeyInfo` split: the `AlgorithmIdentifier`'s contents
/// (what `SignatureVerificationAlgorithm::public_key_alg_id` compares) and
/// the `subjectPublicKey` bits (whole bytes only).
pub(crate) fn spki_parts(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let inner = Tlv::expect(spki, SEQUENCE)?;
    let alg = Tlv::expect(inner.contents, SEQUENCE)?;
    let key = Tlv::expect(alg.rest, 0x03)?;
    match key.contents.split_first() {
        Some((0, bits)) if key.rest.is_empty() => Some((alg.contents, bits)),
        _ => None,
    }
}

/// The certificate's notBefore in Unix seconds (UTCTime or
/// GeneralizedTime, `Z` only, as RFC 5280 requires).
pub(crate) fn not_before(cert: &[u8]) -> Option<u64> {
    let time = Tlv::parse(tbs(cert)?.validity)?;
    let (year, rest) = match (time.tag, time.contents.len()) {
        (0x17, 13) => {
            let yy = digits(time.contents.get(..2)?)?;
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                time.contents.get(2..)?,
            )
        }
        (0x18, 15) => (digits(time.contents.get(..4)?)?, time.contents.get(4..)?),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| rest.get(i..i + 2).and_then(digits);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
        || year < 1970
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// ASCII decimal digits as a number (none: not all digits).
fn digits(bytes: &[u8]) -> Option<u64> {
    bytes.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date from 1970 on
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// Whether the certificate's keyUsage, if it has one, allows signing
/// certificates (keyCertSign, bit 5). `None`: the extensions are malformed.
pub(crate) fn allows_cert_sign(cert: &[u8]) -> Option<bool> {
    const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f]; // 2.5.29.15
    let mut rest = tbs(cert)?.rest;
    // issuerUniqueID [1], subjectUniqueID [2]
    for tag in [0x81, 0x82] {
        if let Some(t) = Tlv::expect(rest, tag) {
            rest = t.rest;
        }
    }
    let Some(explicit) = Tlv::expect(rest, 0xa3) else {
        return Some(true); // no extensions, no keyUsage
    };
    let mut exts = Tlv::expect(explicit.contents, SEQUENCE)?.contents;
    while !exts.is_empty() {
        let ext = Tlv::expect(exts, SEQUENCE)?;
        exts = ext.rest;
        let oid = Tlv::expect(ext.contents, 0x06)?;
        if oid.contents != KEY_USAGE {
            continue;
        }
        let mut value = oid.rest;
        if let Some(critical) = Tlv::expect(value, 0x01) {
            value = critical.rest;
        }
        let octets = Tlv::expect(value, 0x04)?;
        let bits = Tlv::expect(octets.contents, 0x03)?;
        // BIT STRING: unused-bits byte, then the bits, most significant first.
        return Some(bits.contents.get(1).is_some_and(|b| b & 0x04 != 0));
    }
    Some(true)
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

    use std::vec::Vec;

    /// A TLV with a short or long (one byte) length.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut v = std::vec![tag];
        if contents.len() < 0x80 {
            v.push(contents.len() as u8);
        } else {
            v.extend([0x81, contents.len() as u8]);
        }
        v.extend_from_slice(contents);
        v
    }

    /// A certificate shape with the given validity contents, SPKI and
    /// extensions (the `[3]` contents: a SEQUENCE of extensions).
    fn cert(validity: &[u8], spki: &[u8], extensions: Option<&[u8]>) -> Vec<u8> {
        let mut tbs = tlv(0xa0, &[0x02, 0x01, 0x02]);
        tbs.extend([0x02, 0x01, 0x01]); // serial
        tbs.extend(tlv(SEQUENCE, &[0x06, 0x01, 0x2a])); // signature
        tbs.extend([0x30, 0x00]); // issuer
        tbs.extend(tlv(SEQUENCE, validity));
        tbs.extend([0x30, 0x00]); // subject
        tbs.extend_from_slice(spki);
        if let Some(e) = extensions {
            tbs.extend(tlv(0xa3, e));
        }
        tlv(SEQUENCE, &tlv(SEQUENCE, &tbs))
    }

    const SPKI: &[u8] = &[0x30, 0x07, 0x30, 0x03, 0x06, 0x01, 0x2a, 0x03, 0x00];

    fn utc(t: &str) -> Vec<u8> {
        let mut v = tlv(0x17, t.as_bytes());
        v.extend(tlv(0x17, b"491231235959Z"));
        v
    }

    fn generalized(t: &str) -> Vec<u8> {
        tlv(0x18, t.as_bytes())
    }

    #[test]
    fn not_before_reads_both_time_forms() {
        let at = |validity: Vec<u8>| not_before(&cert(&validity, SPKI, None));
        assert_eq!(at(utc("700101000000Z")), Some(0));
        assert_eq!(at(utc("000101000000Z")), Some(946_684_800)); // 2000
        assert_eq!(at(utc("491231235959Z")), Some(2_524_607_999)); // 2049
        assert_eq!(at(utc("500101000000Z")), None); // 1950: before 1970
        assert_eq!(at(utc("991231235959Z")), Some(946_684_799));
        assert_eq!(at(utc("240229123456Z")), Some(1_709_210_096));
        assert_eq!(at(generalized("20240229123456Z")), Some(1_709_210_096));
        assert_eq!(at(generalized("21000101000000Z")), Some(4_102_444_800));
        assert_eq!(at(generalized("19700101000001Z")), Some(1));
        for bad in [
            utc("240229123456"),
            utc("2402291234567"),
            utc("24022912345Z"),
            utc("240001000000Z"),
            utc("241301000000Z"),
            utc("240100000000Z"),
            utc("240132000000Z"),
            utc("240101240000Z"),
            utc("240101006000Z"),
            utc("240101000060Z"),
            utc("2401010000a0Z"),
            generalized("19691231235959Z"),
            generalized("2024022912345Z"),
            tlv(0x04, b"240229123456Z"),
            std::vec![],
        ] {
            assert_eq!(at(bad.clone()), None, "{bad:02x?}");
        }
        // The last valid second of each field.
        assert_eq!(
            at(utc("241231235959Z")),
            Some(days_from_civil(2024, 12, 31) * 86_400 + 86_399)
        );
        assert_eq!(not_before(b"\x30\x00"), None);
    }

    #[test]
    fn spki_parts_split_algorithm_and_key() {
        let key_info = tlv(
            SEQUENCE,
            &[
                &tlv(SEQUENCE, &[0x06, 0x01, 0x2a])[..],
                &tlv(0x03, &[0, 4, 1, 2]),
            ]
            .concat(),
        );
        assert_eq!(
            spki_parts(&key_info),
            Some((&[0x06, 0x01, 0x2a][..], &[4u8, 1, 2][..]))
        );
        // Unused bits, trailing data, no BIT STRING, no SEQUENCE.
        let unused = tlv(
            SEQUENCE,
            &[&tlv(SEQUENCE, &[0x06, 0x01, 0x2a])[..], &tlv(0x03, &[1, 4])].concat(),
        );
        let trailing = tlv(
            SEQUENCE,
            &[
                &tlv(SEQUENCE, &[0x06, 0x01, 0x2a])[..],
                &tlv(0x03, &[0, 4]),
                &[5, 0],
            ]
            .concat(),
        );
        let empty_bits = tlv(
            SEQUENCE,
            &[&tlv(SEQUENCE, &[0x06, 0x01, 0x2a])[..], &tlv(0x03, &[])].concat(),
        );
        for bad in [
            unused,
            trailing,
            empty_bits,
            tlv(SEQUENCE, &tlv(SEQUENCE, &[])),
            tlv(0x31, &[]),
        ] {
            assert_eq!(spki_parts(&bad), None, "{bad:02x?}");
        }
        // A certificate's SPKI, found by the walk.
        let c = cert(&utc("240101000000Z"), &key_info, None);
        assert_eq!(spki(&c), Some(&key_info[..]));
    }

    #[test]
    fn key_usage_cert_sign() {
        let ext = |critical: bool, bits: &[u8]| {
            let mut e = std::vec![0x06, 0x03, 0x55, 0x1d, 0x0f];
            if critical {
                e.extend([0x01, 0x01, 0xff]);
            }
            e.extend(tlv(0x04, &tlv(0x03, bits)));
            tlv(SEQUENCE, &e)
        };
        let other = tlv(
            SEQUENCE,
            &[
                &[0x06, 0x03, 0x55, 0x1d, 0x13][..],
                &tlv(0x04, &[0x30, 0x00]),
            ]
            .concat(),
        );
        let with = |exts: &[Vec<u8>]| {
            let all: Vec<u8> = exts.concat();
            allows_cert_sign(&cert(
                &utc("240101000000Z"),
                SPKI,
                Some(&tlv(SEQUENCE, &all)),
            ))
        };
        // keyCertSign is bit 5: 0x04 of the first byte.
        assert_eq!(with(&[ext(true, &[0x01, 0x06])]), Some(true));
        assert_eq!(with(&[ext(false, &[0x02, 0x04])]), Some(true));
        assert_eq!(with(&[other.clone(), ext(true, &[0x02, 0x04])]), Some(true));
        assert_eq!(with(&[ext(true, &[0x07, 0x80])]), Some(false));
        assert_eq!(with(&[ext(true, &[0x01, 0xfb])]), Some(false));
        assert_eq!(with(&[ext(true, &[0x00])]), Some(false));
        assert_eq!(
            with(core::slice::from_ref(&other)),
            Some(true),
            "no keyUsage"
        );
        assert_eq!(with(&[]), Some(true));
        assert_eq!(
            allows_cert_sign(&cert(&utc("240101000000Z"), SPKI, None)),
            Some(true),
            "no extensions"
        );
        // Malformed: an extension that is not a SEQUENCE, a keyUsage
        // without OCTET STRING, extensions that are not a SEQUENCE.
        assert_eq!(with(&[std::vec![0x04, 0x00]]), None);
        let no_octets = tlv(SEQUENCE, &[0x06, 0x03, 0x55, 0x1d, 0x0f, 0x05, 0x00]);
        assert_eq!(with(&[no_octets]), None);
        assert_eq!(
            allows_cert_sign(&cert(&utc("240101000000Z"), SPKI, Some(&[0x04, 0x00]))),
            None
        );
        assert_eq!(allows_cert_sign(b"\x30\x00"), None);
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(2024, 3, 1), 19_783);
        assert_eq!(days_from_civil(2100, 1, 1), 47_482);
        assert_eq!(days_from_civil(1999, 12, 31), 10_956);
        assert_eq!(digits(b"2a"), None);
        assert_eq!(digits(b"0042"), Some(42));
    }

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
