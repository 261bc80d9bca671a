//! ECDSA over P-256 (p256 0.13) and P-384 (this crate's own verification
//! on crypto-bigint, `super::p384`, feature `tls-p384`), with SHA-256 or
//! SHA-384 (sha2 0.10).
//!
//! The key is an uncompressed SEC1 point (compressed points and the point
//! at infinity are refused, as ring does); the signature is a DER
//! `ECDSA-Sig-Value` (strict DER: minimal lengths and integers, r and s in
//! [1, n), nothing after the SEQUENCE). A digest longer than the curve's
//! order is truncated to its leftmost bits, a shorter one used as is
//! (FIPS 186-4 §6.4), so the mixed pairs verify as ring's do.

use rustls_pki_types::alg_id;
use sha2::Digest;

use super::{
    Algorithm, InvalidSignature, SignatureVerificationAlgorithm, unsigned_integer, whole_sequence,
};

/// ECDSA signatures with a P-256 key and SHA-256 (`ecdsa-with-SHA256`), the
/// algorithm of most ECDSA certificates and of TLS 1.3's
/// `ecdsa_secp256r1_sha256`. Always compiled with `tls`.
///
/// ```
/// use embedded_oauth2::tls::sig::{ECDSA_P256_SHA256, SignatureVerificationAlgorithm};
///
/// // webpki's identifiers: id-ecPublicKey + secp256r1, ecdsa-with-SHA256.
/// assert_eq!(&*ECDSA_P256_SHA256.signature_alg_id(), b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02");
/// assert!(ECDSA_P256_SHA256.verify_signature(&[4; 65], b"hello", &[0x30, 0]).is_err());
/// ```
pub static ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "ECDSA_P256_SHA256",
    public_key_alg_id: alg_id::ECDSA_P256,
    signature_alg_id: alg_id::ECDSA_SHA256,
    verify: verify_p256::<sha2::Sha256>,
};

/// ECDSA signatures with a P-256 key and SHA-384 (`ecdsa-with-SHA384`; the
/// digest is truncated to 256 bits). Feature `tls-p384`.
///
/// ```
/// use embedded_oauth2::tls::sig::{ECDSA_P256_SHA256, ECDSA_P256_SHA384, SignatureVerificationAlgorithm};
///
/// assert_eq!(ECDSA_P256_SHA384.public_key_alg_id(), ECDSA_P256_SHA256.public_key_alg_id());
/// assert!(ECDSA_P256_SHA384.verify_signature(&[4; 65], b"hello", &[0x30, 0]).is_err());
/// ```
#[cfg(feature = "tls-p384")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls-p384")))]
pub static ECDSA_P256_SHA384: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "ECDSA_P256_SHA384",
    public_key_alg_id: alg_id::ECDSA_P256,
    signature_alg_id: alg_id::ECDSA_SHA384,
    verify: verify_p256::<sha2::Sha384>,
};

/// ECDSA signatures with a P-384 key and SHA-256 (`ecdsa-with-SHA256`).
/// Feature `tls-p384`.
///
/// ```
/// use embedded_oauth2::tls::sig::{ECDSA_P256_SHA256, ECDSA_P384_SHA256, SignatureVerificationAlgorithm};
///
/// assert_eq!(ECDSA_P384_SHA256.signature_alg_id(), ECDSA_P256_SHA256.signature_alg_id());
/// assert!(ECDSA_P384_SHA256.verify_signature(&[4; 97], b"hello", &[0x30, 0]).is_err());
/// ```
#[cfg(feature = "tls-p384")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls-p384")))]
pub static ECDSA_P384_SHA256: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "ECDSA_P384_SHA256",
    public_key_alg_id: alg_id::ECDSA_P384,
    signature_alg_id: alg_id::ECDSA_SHA256,
    verify: verify_p384::<sha2::Sha256>,
};

/// ECDSA signatures with a P-384 key and SHA-384 (`ecdsa-with-SHA384`), as
/// many CAs sign with (and TLS 1.3's `ecdsa_secp384r1_sha384`). Feature
/// `tls-p384`.
///
/// ```
/// use embedded_oauth2::tls::sig::{ECDSA_P384_SHA384, SignatureVerificationAlgorithm};
///
/// // webpki's identifiers: id-ecPublicKey + secp384r1, ecdsa-with-SHA384.
/// assert_eq!(&*ECDSA_P384_SHA384.signature_alg_id(), b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x03");
/// assert!(ECDSA_P384_SHA384.verify_signature(&[4; 97], b"hello", &[0x30, 0]).is_err());
/// ```
#[cfg(feature = "tls-p384")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls-p384")))]
pub static ECDSA_P384_SHA384: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "ECDSA_P384_SHA384",
    public_key_alg_id: alg_id::ECDSA_P384,
    signature_alg_id: alg_id::ECDSA_SHA384,
    verify: verify_p384::<sha2::Sha384>,
};

/// Splits a DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`
/// into `r` and `s`, each written big-endian and left-padded into its
/// output (whose length is the curve's field size). Refuses negative or
/// non-minimal integers, integers longer than the field, trailing data.
/// Whether r and s are in [1, n) is the curve's check.
pub(super) fn der_signature(
    signature: &[u8],
    r: &mut [u8],
    s: &mut [u8],
) -> Result<(), InvalidSignature> {
    let contents = whole_sequence(signature).ok_or(InvalidSignature)?;
    let (r_bytes, rest) = unsigned_integer(contents).ok_or(InvalidSignature)?;
    let (s_bytes, rest) = unsigned_integer(rest).ok_or(InvalidSignature)?;
    if !rest.is_empty() {
        return Err(InvalidSignature);
    }
    left_pad(r_bytes, r)?;
    left_pad(s_bytes, s)
}

/// `value` (big-endian) into all of `out`, zeros in front.
fn left_pad(value: &[u8], out: &mut [u8]) -> Result<(), InvalidSignature> {
    if value.len() > out.len() {
        return Err(InvalidSignature);
    }
    out.fill(0);
    for (o, v) in out.iter_mut().rev().zip(value.iter().rev()) {
        *o = *v;
    }
    Ok(())
}

/// ECDSA on P-256 with the p256 crate, generic over the digest.
fn verify_p256<D: Digest>(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), InvalidSignature> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::ecdsa::{Signature, VerifyingKey};

    // Uncompressed points only (tag 4, both coordinates), as ring.
    if public_key.len() != 65 || public_key.first() != Some(&0x04) {
        return Err(InvalidSignature);
    }
    // Checks that the point is on the curve.
    let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
    let mut r = p256::FieldBytes::default();
    let mut s = p256::FieldBytes::default();
    der_signature(signature, &mut r, &mut s)?;
    // Refuses r or s of zero or not below the group order.
    let signature = Signature::from_scalars(r, s).map_err(|_| InvalidSignature)?;
    key.verify_prehash(&D::digest(message), &signature)
        .map_err(|_| InvalidSignature)
}

/// ECDSA on P-384 with [`super::p384`], generic over the digest. The key
/// must be an uncompressed point on the curve, r and s in [1, n).
#[cfg(feature = "tls-p384")]
fn verify_p384<D: Digest>(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), InvalidSignature> {
    use super::p384::{LEN, verify};

    let mut r = [0u8; LEN];
    let mut s = [0u8; LEN];
    der_signature(signature, &mut r, &mut s)?;
    verify(public_key, &D::digest(message), &r, &s)
        .then_some(())
        .ok_or(InvalidSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_shapes() {
        let mut r = [0xaa; 4];
        let mut s = [0xaa; 4];
        der_signature(&[0x30, 6, 2, 1, 1, 2, 1, 2], &mut r, &mut s).unwrap();
        assert_eq!((r, s), ([0, 0, 0, 1], [0, 0, 0, 2]));
        der_signature(&[0x30, 9, 2, 5, 0, 0xff, 1, 2, 3, 2, 0], &mut r, &mut s).unwrap_err();
        der_signature(&[0x30, 10, 2, 5, 0, 0xff, 1, 2, 3, 2, 1, 0], &mut r, &mut s).unwrap();
        assert_eq!(r, [0xff, 1, 2, 3]);
        // r one byte too long; trailing data inside and after the SEQUENCE
        der_signature(&[0x30, 10, 2, 5, 1, 2, 3, 4, 5, 2, 1, 1], &mut r, &mut s).unwrap_err();
        der_signature(&[0x30, 7, 2, 1, 1, 2, 1, 2, 0], &mut r, &mut s).unwrap_err();
        der_signature(&[0x30, 6, 2, 1, 1, 2, 1, 2, 0], &mut r, &mut s).unwrap_err();
    }

    #[test]
    fn compressed_and_infinity_keys_are_refused() {
        let sig = [0x30, 6, 2, 1, 1, 2, 1, 1];
        for key in [&[0u8][..], &[2; 33], &[3; 33], &[4; 64], &[4; 66], &[]] {
            assert!(ECDSA_P256_SHA256.verify_signature(key, b"m", &sig).is_err());
        }
        #[cfg(feature = "tls-p384")]
        for key in [
            &[0u8][..],
            &[2; 49],
            &[3; 49],
            &[4; 96],
            &[4; 97],
            &[4; 98],
            &[],
        ] {
            assert!(ECDSA_P384_SHA384.verify_signature(key, b"m", &sig).is_err());
        }
    }
}
