//! Signature verification algorithms for certificate chains and TLS 1.3
//! CertificateVerify, as rustls-pki-types [`SignatureVerificationAlgorithm`]s
//! (the objects rustls-webpki 0.103 takes), on RustCrypto (P-256, the
//! hashes) and crypto-bigint (P-384 and RSA, with this module's own
//! arithmetic), without an allocator.
//!
//! | static | key | signature | feature |
//! | --- | --- | --- | --- |
//! | [`ECDSA_P256_SHA256`] | P-256 | ECDSA, SHA-256 | `tls` |
//! | `ECDSA_P256_SHA384` | P-256 | ECDSA, SHA-384 | `tls-p384` |
//! | `ECDSA_P384_SHA256` | P-384 | ECDSA, SHA-256 | `tls-p384` |
//! | `ECDSA_P384_SHA384` | P-384 | ECDSA, SHA-384 | `tls-p384` |
//! | `RSA_PKCS1_2048_4096_SHA256` (and `_SHA384`, `_SHA512`) | RSA 2048–4096 bits | PKCS#1 v1.5 | `tls-rsa` |
//! | `RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS` (and `_SHA384`, `_SHA512`) | RSA 2048–4096 bits | PKCS#1 v1.5, AlgorithmIdentifier without its NULL | `tls-rsa` |
//! | `RSA_PSS_2048_4096_SHA256_LEGACY_KEY` (and `_SHA384`, `_SHA512`) | RSA 2048–4096 bits (`rsaEncryption`) | RSASSA-PSS, MGF1 with the same hash, salt of the hash's length | `tls-rsa` |
//!
//! [`ALL`] lists every algorithm compiled in. The identifiers
//! ([`public_key_alg_id`](SignatureVerificationAlgorithm::public_key_alg_id),
//! [`signature_alg_id`](SignatureVerificationAlgorithm::signature_alg_id))
//! are rustls-webpki 0.103's, so a chain that verifies with webpki's `ring`
//! algorithms verifies with these (RSA keys over 4096 bits excepted).
//!
//! What each algorithm is given is untrusted: `public_key` is the
//! `subjectPublicKey` BIT STRING's contents (an uncompressed SEC1 point for
//! ECDSA, a DER `RSAPublicKey` for RSA), `signature` a DER `ECDSA-Sig-Value`
//! or the RSA signature of exactly the modulus's length. Every malformed
//! input is [`InvalidSignature`]; nothing panics. Verification is not
//! constant-time (all of it is public data).
//!
//! ```
//! use embedded_oauth2::tls::sig::{self, SignatureVerificationAlgorithm};
//!
//! // What to hand the certificate verifier.
//! let algorithms: &[&dyn SignatureVerificationAlgorithm] = sig::ALL;
//! assert!(algorithms.iter().any(|a| a.signature_alg_id() == sig::ECDSA_P256_SHA256.signature_alg_id()));
//! // Garbage is refused, never a panic.
//! for alg in algorithms {
//!     assert!(alg.verify_signature(&[4; 65], b"message", &[0x30, 0x00]).is_err());
//! }
//! ```
//!
//! # Stack and flash
//!
//! Peak stack of one verification, measured on x86-64 at opt-level "z"
//! (the integers are the same size in bytes on 32-bit MCUs): ECDSA P-256
//! ~4.5 KiB; RSA ~4 KiB for a 2048-bit key, ~6 KiB for 3072 bits, ~8 KiB
//! for 4096 bits (RSA works on integers of the key's size class, plus a
//! buffer of the modulus's length). On a Cortex-M3 (QEMU lm3s6965evb,
//! stack painting, `scripts/sig-size.sh`): ECDSA P-256 4,888 B, P-384
//! 3,060 B (SHA-384 of the message included).
//!
//! Flash (.text, thumbv7em, opt-level "z", LTO): P-256 ~18 KB (which
//! embedded-tls links anyway), RSA ~11 KB, SHA-384/512 ~10 KB more where an
//! algorithm needs them. P-384 adds 15,184 B to an image that verifies
//! P-256: ~4 KB of curve arithmetic (this crate's, `p384.rs`, on the
//! Montgomery multiplication RSA uses) and ~11 KB of SHA-384 (sha2's
//! unrolled rounds; with `sha2/force-soft-compact` selected by the
//! firmware, P-384 adds 4,792 B, thumbv7m). It was 112,564 B with the
//! p384 crate (its fiat-crypto 32-bit field and scalar code), which a
//! 256 KiB part already holding a TLS client could not fit; that is why
//! P-384 is verified here and not with p384. Measured with
//! `scripts/sig-size.sh [TARGET]`: the same firmware verifying nothing,
//! P-256 / SHA-256, and P-256 plus P-384 / SHA-384, `llvm-size -A`:
//!
//! | target | P-256 image .text | + P-384 (p384 0.13) | + P-384 (here) |
//! | --- | ---: | ---: | ---: |
//! | thumbv7em-none-eabihf | 18,976 | +112,564 | +15,184 |
//! | thumbv7m-none-eabi | 19,276 | +112,756 | +15,204 |
//! | thumbv6m-none-eabi | 23,252 | +164,720 | +15,504 |
//!
//! Verification on P-384 is not constant-time and favours size over
//! speed (Jacobian coordinates, Shamir's trick without windows, inverses
//! by exponentiation): all of its inputs are public. On x86-64 (release,
//! opt-level "z") one takes 2–3 times as long as a P-256 verification,
//! and no longer than p384 0.13's did (not measured on an MCU).

use core::fmt;

/// The DER identifier of a public key or signature algorithm, as webpki
/// compares them. From rustls-pki-types.
pub use rustls_pki_types::AlgorithmIdentifier;
/// A signature that does not verify (or input that is not one: every
/// malformed key or signature). From rustls-pki-types.
pub use rustls_pki_types::InvalidSignature;
/// A signature algorithm as rustls-webpki takes it: its identifiers and
/// `verify_signature(public_key, message, signature)`. Every static here is
/// one. From rustls-pki-types.
pub use rustls_pki_types::SignatureVerificationAlgorithm;

use super::der::Tlv;

mod ecdsa;
#[cfg(any(feature = "tls-rsa", feature = "tls-p384"))]
mod mont;
#[cfg(feature = "tls-p384")]
mod p384;
#[cfg(feature = "tls-rsa")]
mod rsa;

pub use ecdsa::ECDSA_P256_SHA256;
#[cfg(feature = "tls-p384")]
pub use ecdsa::{ECDSA_P256_SHA384, ECDSA_P384_SHA256, ECDSA_P384_SHA384};
#[cfg(feature = "tls-rsa")]
pub use rsa::{
    RSA_PKCS1_2048_4096_SHA256, RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS,
    RSA_PKCS1_2048_4096_SHA384, RSA_PKCS1_2048_4096_SHA384_ABSENT_PARAMS,
    RSA_PKCS1_2048_4096_SHA512, RSA_PKCS1_2048_4096_SHA512_ABSENT_PARAMS,
    RSA_PSS_2048_4096_SHA256_LEGACY_KEY, RSA_PSS_2048_4096_SHA384_LEGACY_KEY,
    RSA_PSS_2048_4096_SHA512_LEGACY_KEY,
};

/// Every algorithm compiled in (by the `tls`, `tls-p384` and `tls-rsa`
/// features), for the certificate verifier. Referencing it links them all;
/// list the statics you want instead to link fewer.
///
/// ```
/// use embedded_oauth2::tls::sig;
///
/// // P-256 / SHA-256 is always there with `tls`.
/// assert!(!sig::ALL.is_empty());
/// # #[cfg(all(feature = "tls-p384", feature = "tls-rsa"))]
/// # assert_eq!(sig::ALL.len(), 13);
/// ```
pub static ALL: &[&dyn SignatureVerificationAlgorithm] = &[
    ECDSA_P256_SHA256,
    #[cfg(feature = "tls-p384")]
    ECDSA_P256_SHA384,
    #[cfg(feature = "tls-p384")]
    ECDSA_P384_SHA256,
    #[cfg(feature = "tls-p384")]
    ECDSA_P384_SHA384,
    #[cfg(feature = "tls-rsa")]
    RSA_PKCS1_2048_4096_SHA256,
    #[cfg(feature = "tls-rsa")]
    RSA_PKCS1_2048_4096_SHA384,
    #[cfg(feature = "tls-rsa")]
    RSA_PKCS1_2048_4096_SHA512,
    #[cfg(feature = "tls-rsa")]
    RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS,
    #[cfg(feature = "tls-rsa")]
    RSA_PKCS1_2048_4096_SHA384_ABSENT_PARAMS,
    #[cfg(feature = "tls-rsa")]
    RSA_PKCS1_2048_4096_SHA512_ABSENT_PARAMS,
    #[cfg(feature = "tls-rsa")]
    RSA_PSS_2048_4096_SHA256_LEGACY_KEY,
    #[cfg(feature = "tls-rsa")]
    RSA_PSS_2048_4096_SHA384_LEGACY_KEY,
    #[cfg(feature = "tls-rsa")]
    RSA_PSS_2048_4096_SHA512_LEGACY_KEY,
];

/// Whether a certificate's key (its `AlgorithmIdentifier` contents and
/// `subjectPublicKey` bits) is one a compiled-in algorithm verifies with —
/// for RSA, 2048 to 4096 bits with an acceptable exponent — so that a
/// server's leaf whose key could never sign an acceptable CertificateVerify
/// (an RSA-1024 key) is refused with the chain, not only in the handshake.
pub(crate) fn usable_key(alg: &[u8], key: &[u8]) -> bool {
    let known = ALL.iter().any(|a| a.public_key_alg_id().as_ref() == alg);
    #[cfg(feature = "tls-rsa")]
    if known && alg == rustls_pki_types::alg_id::RSA_ENCRYPTION.as_ref() {
        return rsa::key_usable(key);
    }
    let _ = key;
    known
}

/// `verify_signature(public_key, message, signature)`.
type VerifyFn = fn(&[u8], &[u8], &[u8]) -> Result<(), InvalidSignature>;

/// One algorithm: its identifiers and the function that verifies.
struct Algorithm {
    /// For `Debug`.
    name: &'static str,
    public_key_alg_id: AlgorithmIdentifier,
    signature_alg_id: AlgorithmIdentifier,
    verify: VerifyFn,
}

impl fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "embedded_oauth2::tls::sig::{} (RustCrypto)", self.name)
    }
}

impl SignatureVerificationAlgorithm for Algorithm {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        (self.verify)(public_key, message, signature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key_alg_id
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;

/// The TLV with tag `tag` at the front of `input`, in DER: [`Tlv`] plus the
/// shortest length encoding (BER's longer ones are refused).
fn der_expect(input: &[u8], tag: u8) -> Option<Tlv<'_>> {
    let tlv = Tlv::expect(input, tag)?;
    let len = tlv.contents.len();
    let minimal_header = match len {
        0..=0x7f => 2,
        0x80..=0xff => 3,
        0x100..=0xffff => 4,
        _ => 5,
    };
    (tlv.whole.len().checked_sub(len) == Some(minimal_header)).then_some(tlv)
}

/// A non-negative DER INTEGER at the front of `input`: its magnitude
/// (big-endian, without the sign octet, empty for zero) and what follows.
/// Negative and non-minimally encoded integers are refused.
fn unsigned_integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let tlv = der_expect(input, INTEGER)?;
    let magnitude = match tlv.contents {
        [] => return None,
        [first, ..] if first & 0x80 != 0 => return None,
        [0, second, ..] if second & 0x80 == 0 => return None,
        [0, rest @ ..] => rest,
        contents => contents,
    };
    Some((magnitude, tlv.rest))
}

/// The contents of the one SEQUENCE that is all of `input`.
fn whole_sequence(input: &[u8]) -> Option<&[u8]> {
    let seq = der_expect(input, SEQUENCE)?;
    seq.rest.is_empty().then_some(seq.contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leaf key is usable when a compiled-in algorithm takes its kind
    /// (and, for RSA, its size); an unknown kind never is.
    #[test]
    fn usable_keys() {
        use rustls_pki_types::alg_id;
        // Ed25519's AlgorithmIdentifier contents: no algorithm here.
        assert!(!usable_key(&[0x06, 0x03, 0x2b, 0x65, 0x70], &[0; 32]));
        assert!(usable_key(alg_id::ECDSA_P256.as_ref(), &[4; 65]));
        // RSA keys: `rsa::tests::usable_rsa_keys_are_2048_to_4096_bits`.
    }

    #[test]
    fn integers() {
        assert_eq!(unsigned_integer(&[2, 1, 0]), Some((&[][..], &[][..])));
        assert_eq!(
            unsigned_integer(&[2, 1, 0x7f, 9]),
            Some((&[0x7f][..], &[9][..]))
        );
        assert_eq!(
            unsigned_integer(&[2, 2, 0, 0x80]),
            Some((&[0x80][..], &[][..]))
        );
        for bad in [
            &[2, 0][..],         // empty
            &[2, 1, 0x80],       // negative
            &[2, 2, 0, 0x7f],    // redundant leading zero
            &[2, 2, 0xff, 0x80], // negative
            &[2, 0x81, 1, 5],    // long-form length for a short integer
            &[3, 1, 1],          // not an INTEGER
            &[2, 2, 1],          // truncated
        ] {
            assert!(unsigned_integer(bad).is_none(), "{bad:?}");
        }
        let mut long = std::vec![2, 0x82, 0x00, 0x81];
        long.extend([1; 0x81]);
        assert!(
            unsigned_integer(&long).is_none(),
            "two length bytes for 0x81"
        );
        long.splice(1..4, [0x81, 0x81]);
        assert_eq!(unsigned_integer(&long).map(|(m, _)| m.len()), Some(0x81));
    }

    #[test]
    fn sequences() {
        assert_eq!(whole_sequence(&[0x30, 0]), Some(&[][..]));
        assert!(whole_sequence(&[0x30, 0, 0]).is_none());
        assert!(whole_sequence(&[0x31, 0]).is_none());
    }

    #[test]
    fn debug_names_the_algorithm() {
        let s = std::format!("{:?}", ECDSA_P256_SHA256);
        assert!(s.contains("ECDSA_P256_SHA256"), "{s}");
    }
}
