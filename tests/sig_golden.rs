//! `tls::sig` against signatures OpenSSL made (tests/data/sig/make.sh):
//! the parameters Wycheproof's sets leave out (PSS with SHA-384/512 on
//! 3072-bit keys, moduli of 2049 and 3071 bits where PSS's encoded message
//! is one octet shorter than the modulus, e = 3, ECDSA P-256 with SHA-384).
//! Each signature verifies with its algorithm and with no other one, and
//! fails once a bit of it, of the message or of the key changes.

#![cfg_attr(not(all(feature = "tls-rsa", feature = "tls-p384")), allow(dead_code))]

use embedded_oauth2::tls::sig::{self, SignatureVerificationAlgorithm};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sig/");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `alg` verifies exactly the `good` (key, signature) pair; flipping any
/// one of a sample of bits in signature, message or key breaks it; the
/// other algorithms refuse it.
fn verifies_only_with(
    alg: &'static dyn SignatureVerificationAlgorithm,
    others: &[&'static dyn SignatureVerificationAlgorithm],
    key: &[u8],
    signature: &[u8],
    what: &str,
) {
    let msg = read("msg");
    alg.verify_signature(key, &msg, signature)
        .unwrap_or_else(|_| panic!("{alg:?} refused {what}"));
    for other in others {
        if !std::ptr::addr_eq(*other, alg) {
            assert!(
                other.verify_signature(key, &msg, signature).is_err(),
                "{other:?} accepted {what}"
            );
        }
    }
    for i in (0..signature.len()).step_by(31) {
        let mut bad = signature.to_vec();
        bad[i] ^= 1 << (i % 8);
        assert!(
            alg.verify_signature(key, &msg, &bad).is_err(),
            "{what}: signature bit {i}"
        );
    }
    for i in 0..msg.len() {
        let mut bad = msg.clone();
        bad[i] ^= 0x20;
        assert!(
            alg.verify_signature(key, &bad, signature).is_err(),
            "{what}: message octet {i}"
        );
    }
    for i in (0..key.len()).step_by(37) {
        let mut bad = key.to_vec();
        bad[i] ^= 1 << (i % 8);
        assert!(
            alg.verify_signature(&bad, &msg, signature).is_err(),
            "{what}: key bit {i}"
        );
    }
    assert!(alg.verify_signature(key, &msg, &signature[1..]).is_err());
    let mut longer = vec![0];
    longer.extend(signature);
    assert!(alg.verify_signature(key, &msg, &longer).is_err());
}

#[cfg(feature = "tls-rsa")]
#[test]
fn rsa_openssl_signatures() {
    let algs = [
        ("pkcs1_sha256", sig::RSA_PKCS1_2048_4096_SHA256),
        ("pkcs1_sha384", sig::RSA_PKCS1_2048_4096_SHA384),
        ("pkcs1_sha512", sig::RSA_PKCS1_2048_4096_SHA512),
        ("pss_sha256", sig::RSA_PSS_2048_4096_SHA256_LEGACY_KEY),
        ("pss_sha384", sig::RSA_PSS_2048_4096_SHA384_LEGACY_KEY),
        ("pss_sha512", sig::RSA_PSS_2048_4096_SHA512_LEGACY_KEY),
    ];
    let all: Vec<_> = algs.iter().map(|(_, a)| *a).collect();
    let mut n = 0;
    for key_name in [
        "rsa2048_e65537",
        "rsa2049_e65537",
        "rsa3071_e65537",
        "rsa3072_e65537",
        "rsa4096_e65537",
        "rsa2048_e3",
    ] {
        let key = read(&format!("{key_name}.pub.der"));
        for (suffix, alg) in algs {
            let signature = read(&format!("{key_name}.{suffix}.sig"));
            verifies_only_with(alg, &all, &key, &signature, &format!("{key_name}.{suffix}"));
            n += 1;
        }
    }
    assert_eq!(n, 36);
}

#[cfg(feature = "tls-p384")]
#[test]
fn ecdsa_openssl_signatures() {
    let all = [
        sig::ECDSA_P256_SHA256,
        sig::ECDSA_P256_SHA384,
        sig::ECDSA_P384_SHA256,
        sig::ECDSA_P384_SHA384,
    ];
    for (name, alg) in [
        ("ec256.sha256", sig::ECDSA_P256_SHA256),
        ("ec256.sha384", sig::ECDSA_P256_SHA384),
        ("ec384.sha256", sig::ECDSA_P384_SHA256),
        ("ec384.sha384", sig::ECDSA_P384_SHA384),
    ] {
        let point = read(&format!("{}.point", &name[..5]));
        let signature = read(&format!("{name}.sig"));
        verifies_only_with(alg, &all, &point, &signature, name);
    }
}

#[test]
fn p256_openssl_signature() {
    let point = read("ec256.point");
    let signature = read("ec256.sha256.sig");
    verifies_only_with(
        sig::ECDSA_P256_SHA256,
        &[],
        &point,
        &signature,
        "ec256.sha256",
    );
}
