//! RSA signature verification (RFC 8017), verification only, no allocator:
//! RSASSA-PKCS1-v1_5 (§8.2.2) and RSASSA-PSS (§8.1.2) over crypto-bigint
//! 0.5's fixed-width integers, with Montgomery multiplication done on
//! their words (`super::mont`, shared with P-384; CIOS: one accumulator, no
//! double-width product) to keep the stack small.
//!
//! Keys are DER `RSAPublicKey`s (what a certificate's `rsaEncryption`
//! `subjectPublicKey` holds) with a modulus of 2048 to 4096 bits (odd, no
//! leading zero octets) and an odd public exponent in [3, 2^33), the
//! exponents ring accepts. The signature must be exactly as long as the
//! modulus and below it.
//!
//! PKCS#1 v1.5 builds the expected encoding EMSA-PKCS1-v1_5(H) (with the
//! DigestInfo's NULL parameters) and compares it to the whole recovered
//! block, octet by octet, without a second buffer. PSS runs
//! EMSA-PSS-VERIFY with MGF1 over the same hash and a salt of the hash's
//! length, the `rsaEncryption`-key PSS of TLS 1.3's `rsa_pss_rsae_*` and of
//! webpki's `RSA_PSS_*_LEGACY_KEY`.

use crypto_bigint::{U2048, U3072, U4096, Uint, Word};
use rustls_pki_types::alg_id;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::mont::{mont_mul, neg_inverse, r_squared, right_aligned, uint_from_be, uint_to_be};
use super::{
    Algorithm, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm,
    unsigned_integer, whole_sequence,
};

/// RSA PKCS#1 v1.5 signatures with SHA-256 (`sha256WithRSAEncryption`),
/// keys of 2048–4096 bits. Feature `tls-rsa`.
///
/// Stack: verification runs on integers of the key's size class (2048, 3072
/// or 4096 bits): a peak of ~4 KiB for a 2048-bit key, ~8 KiB for a
/// 4096-bit one (see the [module documentation](super#stack-and-flash)).
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PKCS1_2048_4096_SHA256, SignatureVerificationAlgorithm};
///
/// // sha256WithRSAEncryption with its NULL parameters, as webpki.
/// assert_eq!(
///     &*RSA_PKCS1_2048_4096_SHA256.signature_alg_id(),
///     b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b\x05\x00"
/// );
/// assert!(RSA_PKCS1_2048_4096_SHA256.verify_signature(&[0x30, 0], b"hello", &[0; 256]).is_err());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PKCS1_2048_4096_SHA256: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "RSA_PKCS1_2048_4096_SHA256",
    public_key_alg_id: alg_id::RSA_ENCRYPTION,
    signature_alg_id: alg_id::RSA_PKCS1_SHA256,
    verify: verify_pkcs1::<Sha256>,
};

/// RSA PKCS#1 v1.5 signatures with SHA-384 (`sha384WithRSAEncryption`),
/// keys of 2048–4096 bits. Feature `tls-rsa`.
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PKCS1_2048_4096_SHA384, SignatureVerificationAlgorithm};
///
/// assert!(RSA_PKCS1_2048_4096_SHA384.verify_signature(&[0x30, 0], b"hello", &[0; 256]).is_err());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PKCS1_2048_4096_SHA384: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "RSA_PKCS1_2048_4096_SHA384",
    public_key_alg_id: alg_id::RSA_ENCRYPTION,
    signature_alg_id: alg_id::RSA_PKCS1_SHA384,
    verify: verify_pkcs1::<Sha384>,
};

/// RSA PKCS#1 v1.5 signatures with SHA-512 (`sha512WithRSAEncryption`),
/// keys of 2048–4096 bits. Feature `tls-rsa`.
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PKCS1_2048_4096_SHA512, SignatureVerificationAlgorithm};
///
/// assert!(RSA_PKCS1_2048_4096_SHA512.verify_signature(&[0x30, 0], b"hello", &[0; 256]).is_err());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PKCS1_2048_4096_SHA512: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "RSA_PKCS1_2048_4096_SHA512",
    public_key_alg_id: alg_id::RSA_ENCRYPTION,
    signature_alg_id: alg_id::RSA_PKCS1_SHA512,
    verify: verify_pkcs1::<Sha512>,
};

/// [`RSA_PKCS1_2048_4096_SHA256`] for a certificate whose
/// `sha256WithRSAEncryption` AlgorithmIdentifier lacks its NULL parameters
/// (RFC 4055 §5: implementations must accept both; webpki lists both).
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS as ALG, SignatureVerificationAlgorithm};
///
/// assert_eq!(&*ALG.signature_alg_id(), b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b");
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS: &dyn SignatureVerificationAlgorithm =
    &Algorithm {
        name: "RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS",
        public_key_alg_id: alg_id::RSA_ENCRYPTION,
        signature_alg_id: AlgorithmIdentifier::from_slice(&oid_rsa_pkcs1(0x0b)),
        verify: verify_pkcs1::<Sha256>,
    };

/// [`RSA_PKCS1_2048_4096_SHA384`] without the AlgorithmIdentifier's NULL
/// parameters (see [`RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS`]).
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PKCS1_2048_4096_SHA384_ABSENT_PARAMS as ALG, SignatureVerificationAlgorithm};
///
/// assert_eq!(&*ALG.signature_alg_id(), b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c");
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PKCS1_2048_4096_SHA384_ABSENT_PARAMS: &dyn SignatureVerificationAlgorithm =
    &Algorithm {
        name: "RSA_PKCS1_2048_4096_SHA384_ABSENT_PARAMS",
        public_key_alg_id: alg_id::RSA_ENCRYPTION,
        signature_alg_id: AlgorithmIdentifier::from_slice(&oid_rsa_pkcs1(0x0c)),
        verify: verify_pkcs1::<Sha384>,
    };

/// [`RSA_PKCS1_2048_4096_SHA512`] without the AlgorithmIdentifier's NULL
/// parameters (see [`RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS`]).
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PKCS1_2048_4096_SHA512_ABSENT_PARAMS as ALG, SignatureVerificationAlgorithm};
///
/// assert_eq!(&*ALG.signature_alg_id(), b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d");
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PKCS1_2048_4096_SHA512_ABSENT_PARAMS: &dyn SignatureVerificationAlgorithm =
    &Algorithm {
        name: "RSA_PKCS1_2048_4096_SHA512_ABSENT_PARAMS",
        public_key_alg_id: alg_id::RSA_ENCRYPTION,
        signature_alg_id: AlgorithmIdentifier::from_slice(&oid_rsa_pkcs1(0x0d)),
        verify: verify_pkcs1::<Sha512>,
    };

/// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, for an
/// `rsaEncryption` key of 2048–4096 bits (`rsa_pss_rsae_sha256` in TLS 1.3;
/// in certificates the `RSASSA-PSS` AlgorithmIdentifier with those
/// parameters). Feature `tls-rsa`.
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PSS_2048_4096_SHA256_LEGACY_KEY as ALG, SignatureVerificationAlgorithm};
///
/// assert!(ALG.verify_signature(&[0x30, 0], b"hello", &[0; 256]).is_err());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PSS_2048_4096_SHA256_LEGACY_KEY: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "RSA_PSS_2048_4096_SHA256_LEGACY_KEY",
    public_key_alg_id: alg_id::RSA_ENCRYPTION,
    signature_alg_id: alg_id::RSA_PSS_SHA256,
    verify: verify_pss::<Sha256>,
};

/// RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt, for an
/// `rsaEncryption` key of 2048–4096 bits (`rsa_pss_rsae_sha384`). Feature
/// `tls-rsa`.
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PSS_2048_4096_SHA384_LEGACY_KEY as ALG, SignatureVerificationAlgorithm};
///
/// assert!(ALG.verify_signature(&[0x30, 0], b"hello", &[0; 256]).is_err());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PSS_2048_4096_SHA384_LEGACY_KEY: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "RSA_PSS_2048_4096_SHA384_LEGACY_KEY",
    public_key_alg_id: alg_id::RSA_ENCRYPTION,
    signature_alg_id: alg_id::RSA_PSS_SHA384,
    verify: verify_pss::<Sha384>,
};

/// RSASSA-PSS with SHA-512, MGF1-SHA-512 and a 64-byte salt, for an
/// `rsaEncryption` key of 2048–4096 bits (`rsa_pss_rsae_sha512`). Feature
/// `tls-rsa`.
///
/// ```
/// use embedded_oauth2::tls::sig::{RSA_PSS_2048_4096_SHA512_LEGACY_KEY as ALG, SignatureVerificationAlgorithm};
///
/// assert!(ALG.verify_signature(&[0x30, 0], b"hello", &[0; 256]).is_err());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tls-rsa")))]
pub static RSA_PSS_2048_4096_SHA512_LEGACY_KEY: &dyn SignatureVerificationAlgorithm = &Algorithm {
    name: "RSA_PSS_2048_4096_SHA512_LEGACY_KEY",
    public_key_alg_id: alg_id::RSA_ENCRYPTION,
    signature_alg_id: alg_id::RSA_PSS_SHA512,
    verify: verify_pss::<Sha512>,
};

/// The OBJECT IDENTIFIER 1.2.840.113549.1.1.`last` (DER), alone: a PKCS#1
/// AlgorithmIdentifier's contents without its parameters.
const fn oid_rsa_pkcs1(last: u8) -> [u8; 11] {
    [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, last,
    ]
}

/// The hashes, with what PKCS#1 v1.5 puts before the digest.
trait Hash: Digest {
    /// DER of `DigestInfo` up to the digest (RFC 8017 §9.2, note 1).
    const DIGEST_INFO_PREFIX: &'static [u8];
}

impl Hash for Sha256 {
    const DIGEST_INFO_PREFIX: &'static [u8] = &[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
}

impl Hash for Sha384 {
    const DIGEST_INFO_PREFIX: &'static [u8] = &[
        0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        0x05, 0x00, 0x04, 0x30,
    ];
}

impl Hash for Sha512 {
    const DIGEST_INFO_PREFIX: &'static [u8] = &[
        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        0x05, 0x00, 0x04, 0x40,
    ];
}

const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 4096;
/// The largest modulus, in octets.
const MAX_LEN: usize = 512;
const _: () = assert!(MAX_LEN * 8 == MAX_BITS);
/// Public exponents are below 2^33, as ring's.
const EXPONENT_BITS: u32 = 33;
/// The largest hash output (SHA-512): the longest salt.
const MAX_HASH_LEN: usize = 64;

/// A checked RSA public key.
struct PublicKey<'a> {
    /// The modulus, big-endian, its first octet non-zero.
    n: &'a [u8],
    /// The modulus's length in bits.
    bits: usize,
    e: u64,
}

/// Whether `der` is an `RSAPublicKey` this module verifies with.
pub(super) fn key_usable(der: &[u8]) -> bool {
    parse_public_key(der).is_some()
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`,
/// with the size and exponent rules of this module.
fn parse_public_key(der: &[u8]) -> Option<PublicKey<'_>> {
    let contents = whole_sequence(der)?;
    let (n, rest) = unsigned_integer(contents)?;
    let (e, rest) = unsigned_integer(rest)?;
    if !rest.is_empty() {
        return None;
    }
    // A minimal DER integer's magnitude never starts with a zero octet.
    let (&first, _) = n.split_first()?;
    let bits = n
        .len()
        .checked_mul(8)?
        .checked_sub(first.leading_zeros() as usize)?;
    let odd = n.last().is_some_and(|last| last & 1 == 1);
    if !(MIN_BITS..=MAX_BITS).contains(&bits) || !odd {
        return None;
    }
    let e = u64::from_be_bytes(right_aligned(e)?);
    if e < 3 || e & 1 == 0 || e >> EXPONENT_BITS != 0 {
        return None;
    }
    Some(PublicKey { n, bits, e })
}

fn verify_pkcs1<H: Hash>(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), InvalidSignature> {
    let key = parse_public_key(public_key).ok_or(InvalidSignature)?;
    let mut buffer = [0u8; MAX_LEN];
    let em = recover(&key, signature, &mut buffer).ok_or(InvalidSignature)?;
    let digest = H::digest(message);
    pkcs1_matches(em, H::DIGEST_INFO_PREFIX, &digest)
        .then_some(())
        .ok_or(InvalidSignature)
}

fn verify_pss<H: Hash>(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), InvalidSignature> {
    let key = parse_public_key(public_key).ok_or(InvalidSignature)?;
    let mut buffer = [0u8; MAX_LEN];
    let em = recover(&key, signature, &mut buffer).ok_or(InvalidSignature)?;
    let digest = H::digest(message);
    pss_matches::<H>(em, key.bits, &digest)
        .then_some(())
        .ok_or(InvalidSignature)
}

/// RSAVP1 (RFC 8017 §5.2.2) and I2OSP: `signature^e mod n` as big-endian
/// octets of the modulus's length, in `buffer`. `None` unless the signature
/// is as long as the modulus and below it.
fn recover<'b>(
    key: &PublicKey<'_>,
    signature: &[u8],
    buffer: &'b mut [u8; MAX_LEN],
) -> Option<&'b [u8]> {
    let k = key.n.len();
    if signature.len() != k {
        return None;
    }
    let em = buffer.get_mut(..k)?;
    match Width::for_len(k)? {
        Width::U2048 => pow_mod::<{ U2048::LIMBS }>(key, signature, em)?,
        Width::U3072 => pow_mod::<{ U3072::LIMBS }>(key, signature, em)?,
        Width::U4096 => pow_mod::<{ U4096::LIMBS }>(key, signature, em)?,
    }
    Some(em)
}

/// The integers a modulus is worked on with.
#[derive(Debug, PartialEq, Eq)]
enum Width {
    U2048,
    U3072,
    U4096,
}

impl Width {
    /// The narrowest that holds a modulus of `len` octets (less stack for
    /// smaller keys), `None` over 4096 bits.
    fn for_len(len: usize) -> Option<Self> {
        match len {
            0..=256 => Some(Self::U2048),
            257..=384 => Some(Self::U3072),
            385..=MAX_LEN => Some(Self::U4096),
            _ => None,
        }
    }
}

/// `s^e mod n` into `out` (big-endian, all of it), or `None` if a number
/// does not fit `LIMBS` or `s ≥ n`.
///
/// Montgomery arithmetic on crypto-bigint's integers with `mont`'s
/// own multiplication ([`mont_mul`]) and setup (R² mod n by doublings and
/// squarings), not `DynResidue`, whose setup (a long division), by-value
/// residues and double-width products took three times the stack in all.
#[inline(never)]
fn pow_mod<const LIMBS: usize>(key: &PublicKey<'_>, s: &[u8], out: &mut [u8]) -> Option<()> {
    let n = uint_from_be::<LIMBS>(key.n)?;
    let n_inv = neg_inverse(n.as_words().first().copied()?);
    // Two out-of-line steps, so that the stack holds the integers of one
    // at a time.
    let base = to_montgomery(s, &n, n_inv, key.bits)?;
    exponentiate(&base, key.e, &n, n_inv, out);
    Some(())
}

/// `base^e` (`base` in Montgomery form) out of Montgomery form, big-endian
/// into `out`. Left-to-right square-and-multiply: e has at most 33 bits, so
/// this is no slower than a windowed exponentiation and needs no table.
#[inline(never)]
fn exponentiate<const LIMBS: usize>(
    base: &Uint<LIMBS>,
    e: u64,
    n: &Uint<LIMBS>,
    n_inv: Word,
    out: &mut [u8],
) {
    let mut acc = *base;
    let bits = u64::BITS - e.leading_zeros();
    for i in (0..bits.saturating_sub(1)).rev() {
        acc = mont_mul(&acc, &acc, n, n_inv);
        if (e >> i) & 1 == 1 {
            acc = mont_mul(&acc, base, n, n_inv);
        }
    }
    uint_to_be(&mont_mul(&acc, &Uint::ONE, n, n_inv), out);
}

/// The signature `s` (big-endian) in Montgomery form, s·R mod n, or `None`
/// unless `s < n`. Out of line, so that `s` and R² mod n are off the stack
/// during the exponentiation.
#[inline(never)]
fn to_montgomery<const LIMBS: usize>(
    s: &[u8],
    n: &Uint<LIMBS>,
    n_inv: Word,
    n_bits: usize,
) -> Option<Uint<LIMBS>> {
    let s = uint_from_be::<LIMBS>(s)?;
    if s >= *n {
        return None;
    }
    let r2 = r_squared(n, n_inv, n_bits)?;
    Some(mont_mul(&s, &r2, n, n_inv))
}

/// EMSA-PKCS1-v1_5 encode-then-compare (RFC 8017 §8.2.2 steps 3–4): `em`
/// must equal `0x00 0x01 PS 0x00 DigestInfo(prefix, digest)` with `PS` all
/// `0xff` filling the rest (at least 8 octets).
fn pkcs1_matches(em: &[u8], digest_info_prefix: &[u8], digest: &[u8]) -> bool {
    let t_len = digest_info_prefix.len() + digest.len();
    let Some(ps_len) = em.len().checked_sub(t_len + 3) else {
        return false;
    };
    if ps_len < 8 {
        return false;
    }
    let expected = [0x00, 0x01]
        .iter()
        .chain(core::iter::repeat_n(&0xff, ps_len))
        .chain(&[0x00])
        .chain(digest_info_prefix)
        .chain(digest);
    em.iter().eq(expected)
}

/// EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with MGF1 over `H`, a salt of `H`'s
/// output length, `emBits = mod_bits - 1`. `em_k` is the recovered
/// representative as octets of the modulus's length; `m_hash` is `H(M)`.
/// The data block is unmasked one MGF1 block at a time, so no copy of it
/// is kept.
fn pss_matches<H: Digest>(em_k: &[u8], mod_bits: usize, m_hash: &[u8]) -> bool {
    let h_len = m_hash.len();
    let s_len = h_len;
    let Some(em_bits) = mod_bits.checked_sub(1) else {
        return false;
    };
    let em_len = em_bits.div_ceil(8);
    // I2OSP(m, emLen): an octet in front of EM (when emBits is a multiple
    // of 8) must be zero.
    let Some((lead, em)) = em_k.split_at_checked(em_k.len().saturating_sub(em_len)) else {
        return false;
    };
    if lead.iter().any(|&b| b != 0) || em.len() != em_len {
        return false;
    }
    // Step 3.
    if s_len > MAX_HASH_LEN || em_len < h_len + s_len + 2 {
        return false;
    }
    // Steps 4–5: EM = maskedDB || H || 0xbc.
    let Some((&0xbc, rest)) = em.split_last() else {
        return false;
    };
    let db_len = em_len - h_len - 1;
    let Some((masked_db, h)) = rest.split_at_checked(db_len) else {
        return false;
    };
    // Steps 6 and 9: the leftmost 8·emLen − emBits bits of the data block
    // (masked or not) are zero.
    let top_mask = 0xffu8 >> (8 * em_len - em_bits);
    if masked_db.first().is_some_and(|&b| b & !top_mask != 0) {
        return false;
    }
    // Steps 7–11: DB = maskedDB ⊕ MGF1(H) must be PS (zeros) || 0x01 ||
    // salt.
    let ps_len = db_len - s_len - 1;
    let mut salt = [0u8; MAX_HASH_LEN];
    let mut ok = true;
    let mut i = 0usize;
    for (counter, chunk) in (0u32..).zip(masked_db.chunks(h_len)) {
        let mask = H::new()
            .chain_update(h)
            .chain_update(counter.to_be_bytes())
            .finalize();
        for (&masked, &m) in chunk.iter().zip(mask.iter()) {
            let mut b = masked ^ m;
            if i == 0 {
                b &= top_mask;
            }
            if i < ps_len {
                ok &= b == 0;
            } else if i == ps_len {
                ok &= b == 0x01;
            } else if let Some(slot) = salt.get_mut(i - ps_len - 1) {
                *slot = b;
            }
            i += 1;
        }
    }
    let Some(salt) = salt.get(..s_len) else {
        return false;
    };
    // Steps 12–14: H' = Hash(0x00 × 8 || mHash || salt) must be H.
    let h2 = H::new()
        .chain_update([0u8; 8])
        .chain_update(m_hash)
        .chain_update(salt)
        .finalize();
    ok && h2[..] == *h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER `RSAPublicKey` for a modulus and exponent (big-endian).
    fn key_der(n: &[u8], e: &[u8]) -> std::vec::Vec<u8> {
        fn integer(out: &mut std::vec::Vec<u8>, v: &[u8]) {
            let mut body = std::vec::Vec::new();
            if v.first().is_some_and(|b| b & 0x80 != 0) {
                body.push(0);
            }
            body.extend(v);
            out.push(2);
            push_len(out, body.len());
            out.extend(body);
        }
        fn push_len(out: &mut std::vec::Vec<u8>, len: usize) {
            match len {
                0..=0x7f => out.push(len as u8),
                0x80..=0xff => out.extend([0x81, len as u8]),
                _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
            }
        }
        let mut body = std::vec::Vec::new();
        integer(&mut body, n);
        integer(&mut body, e);
        let mut out = std::vec![0x30];
        push_len(&mut out, body.len());
        out.extend(body);
        out
    }

    #[test]
    fn absent_params_ids_are_the_pkcs1_ids_without_their_null() {
        for (absent, with_null) in [
            (
                RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS,
                alg_id::RSA_PKCS1_SHA256,
            ),
            (
                RSA_PKCS1_2048_4096_SHA384_ABSENT_PARAMS,
                alg_id::RSA_PKCS1_SHA384,
            ),
            (
                RSA_PKCS1_2048_4096_SHA512_ABSENT_PARAMS,
                alg_id::RSA_PKCS1_SHA512,
            ),
        ] {
            assert_eq!(
                Some(&*absent.signature_alg_id()),
                with_null.strip_suffix(&[0x05, 0x00])
            );
            assert_eq!(absent.public_key_alg_id(), alg_id::RSA_ENCRYPTION);
        }
    }

    #[test]
    fn widths() {
        for (len, width) in [
            (1, Some(Width::U2048)),
            (256, Some(Width::U2048)),
            (257, Some(Width::U3072)),
            (384, Some(Width::U3072)),
            (385, Some(Width::U4096)),
            (512, Some(Width::U4096)),
            (513, None),
        ] {
            assert_eq!(Width::for_len(len), width, "{len}");
        }
        assert_eq!(right_aligned::<4>(&[1, 2]), Some([0, 0, 1, 2]));
        assert_eq!(right_aligned::<2>(&[1, 2]), Some([1, 2]));
        assert_eq!(right_aligned::<2>(&[1, 2, 3]), None);
        assert_eq!(MAX_LEN, 512);
    }

    /// `sig::usable_key` (the leaf-key check) takes rsaEncryption keys by
    /// this module's size rules.
    #[test]
    fn usable_rsa_keys_are_2048_to_4096_bits() {
        let rsa = rustls_pki_types::alg_id::RSA_ENCRYPTION;
        for (bytes, usable) in [(256, true), (512, true), (128, false)] {
            let mut n = std::vec![0xc5u8; bytes];
            n[bytes - 1] |= 1;
            let key = key_der(&n, &[1, 0, 1]);
            assert_eq!(
                super::super::usable_key(rsa.as_ref(), &key),
                usable,
                "{bytes}"
            );
        }
    }

    #[test]
    fn key_rules() {
        let mut n = std::vec![0xc5u8; 256];
        n[255] |= 1;
        assert!(parse_public_key(&key_der(&n, &[1, 0, 1])).is_some());
        assert_eq!(
            parse_public_key(&key_der(&n, &[3])).map(|k| (k.bits, k.e)),
            Some((2048, 3))
        );
        let e_max = [1, 0xff, 0xff, 0xff, 0xff];
        assert!(parse_public_key(&key_der(&n, &e_max)).is_some());
        for e in [
            &[1][..],
            &[2],
            &[0],
            &[],
            &[1, 0, 0],
            &[2, 0, 0, 0, 1],
            &[1, 0, 0, 0, 0, 1],
        ] {
            assert!(parse_public_key(&key_der(&n, e)).is_none(), "e = {e:?}");
        }
        // even modulus
        let mut even = n.clone();
        even[255] &= 0xfe;
        assert!(parse_public_key(&key_der(&even, &[3])).is_none());
        // 2047 and 4097 bits; 4096 bits is fine
        let mut short = n.clone();
        short[0] = 0x7f;
        assert!(parse_public_key(&key_der(&short, &[3])).is_none());
        let mut long = std::vec![0xc5u8; 513];
        long[0] = 1;
        assert!(parse_public_key(&key_der(&long, &[3])).is_none());
        assert_eq!(
            parse_public_key(&key_der(&long[1..], &[3])).map(|k| k.bits),
            Some(4096)
        );
        // trailing data
        let mut trailing = key_der(&n, &[3]);
        trailing.push(0);
        assert!(parse_public_key(&trailing).is_none());
    }

    /// `mont_mul` and `r_squared` against crypto-bigint's `DynResidue`
    /// (the reference, test-only) on pseudo-random moduli of every size
    /// class, including ones shorter than their class.
    #[test]
    fn montgomery_matches_crypto_bigint() {
        use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};

        fn check<const LIMBS: usize>(seed: &mut u64, n_bits: usize) {
            let mut next = || {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *seed
            };
            let mut words: [Word; LIMBS] = [0; LIMBS];
            words.iter_mut().for_each(|w| *w = next() as Word);
            let mut n = Uint::<LIMBS>::from_words(words);
            n = n.shr_vartime(Uint::<LIMBS>::BITS - n_bits)
                | Uint::ONE
                | Uint::ONE.shl_vartime(n_bits - 1);
            words.iter_mut().for_each(|w| *w = next() as Word);
            let a = Uint::<LIMBS>::from_words(words).wrapping_rem(&n);
            words.iter_mut().for_each(|w| *w = next() as Word);
            let b = Uint::<LIMBS>::from_words(words).wrapping_rem(&n);

            let n_inv = neg_inverse(n.as_words()[0]);
            let r2 = r_squared(&n, n_inv, n_bits).unwrap();
            let params = DynResidueParams::new(&n);
            let expected = DynResidue::new(&a, params)
                .mul(&DynResidue::new(&b, params))
                .retrieve();
            let a_m = mont_mul(&a, &r2, &n, n_inv);
            let b_m = mont_mul(&b, &r2, &n, n_inv);
            let product = mont_mul(&mont_mul(&a_m, &b_m, &n, n_inv), &Uint::ONE, &n, n_inv);
            assert_eq!(product, expected, "{n_bits} bits");
            // n - 1 squared is 1.
            let minus_one = mont_mul(&n.wrapping_sub(&Uint::ONE), &r2, &n, n_inv);
            let square = mont_mul(&minus_one, &minus_one, &n, n_inv);
            assert_eq!(mont_mul(&square, &Uint::ONE, &n, n_inv), Uint::ONE);
        }

        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20 {
            for bits in [2048, 2047, 1100] {
                check::<{ U2048::LIMBS }>(&mut seed, bits);
            }
            for bits in [3072, 2049, 3071] {
                check::<{ U3072::LIMBS }>(&mut seed, bits);
            }
            for bits in [4096, 3073, 4095] {
                check::<{ U4096::LIMBS }>(&mut seed, bits);
            }
        }
    }

    #[test]
    fn neg_inverse_is_minus_the_inverse() {
        for n in [
            1 as Word,
            3,
            0x10001,
            Word::MAX,
            Word::MAX - 2,
            0xdead_beef | 1,
        ] {
            assert_eq!(n.wrapping_mul(neg_inverse(n)), Word::MAX, "{n}");
        }
    }

    #[test]
    fn big_endian_round_trip() {
        let bytes: std::vec::Vec<u8> = (1..=255).collect();
        let v = uint_from_be::<{ U2048::LIMBS }>(&bytes).unwrap();
        let mut out = [0u8; 255];
        uint_to_be(&v, &mut out);
        assert_eq!(&out[..], &bytes[..]);
        assert!(uint_from_be::<{ U2048::LIMBS }>(&[1; 257]).is_none());
    }

    #[test]
    fn pkcs1_encoding_is_compared_whole() {
        let digest = [7u8; 32];
        let prefix = Sha256::DIGEST_INFO_PREFIX;
        let mut em = std::vec![0x00, 0x01];
        em.extend([0xff; 256 - 3 - 51]);
        em.push(0);
        em.extend(prefix);
        em.extend(digest);
        assert_eq!(em.len(), 256);
        assert!(pkcs1_matches(&em, prefix, &digest));
        for i in 0..em.len() {
            let mut bad = em.clone();
            bad[i] ^= 1;
            assert!(!pkcs1_matches(&bad, prefix, &digest), "octet {i}");
        }
        assert!(!pkcs1_matches(&em[1..], prefix, &digest));
        assert!(!pkcs1_matches(&[0, 1, 0xff, 0], prefix, &digest));
    }

    #[test]
    fn pss_refuses_garbage_without_panic() {
        for bits in [2048usize, 2049, 2050, 2055, 3072, 4095, 4096] {
            let k = bits.div_ceil(8);
            for fill in [0u8, 0xbc, 0xff] {
                let em = std::vec![fill; k];
                assert!(!pss_matches::<Sha512>(&em, bits, &[0; 64]));
            }
        }
        assert!(!pss_matches::<Sha256>(&[0xbc; 10], 80, &[0; 32]));
        assert!(!pss_matches::<Sha256>(&[], 0, &[0; 32]));
    }
}
