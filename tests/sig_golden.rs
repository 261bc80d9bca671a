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

/// Every (key, signature) fixture with its algorithm.
fn fixtures() -> Vec<(
    &'static dyn SignatureVerificationAlgorithm,
    Vec<u8>,
    Vec<u8>,
)> {
    // Pushed to only with `tls-p384` or `tls-rsa`.
    #[allow(unused_mut)]
    let mut out = vec![(
        sig::ECDSA_P256_SHA256,
        read("ec256.point"),
        read("ec256.sha256.sig"),
    )];
    #[cfg(feature = "tls-p384")]
    out.push((
        sig::ECDSA_P384_SHA384,
        read("ec384.point"),
        read("ec384.sha384.sig"),
    ));
    #[cfg(feature = "tls-rsa")]
    for key_name in ["rsa2049_e65537", "rsa3071_e65537", "rsa4096_e65537"] {
        let key = read(&format!("{key_name}.pub.der"));
        out.push((
            sig::RSA_PKCS1_2048_4096_SHA256,
            key.clone(),
            read(&format!("{key_name}.pkcs1_sha256.sig")),
        ));
        out.push((
            sig::RSA_PSS_2048_4096_SHA512_LEGACY_KEY,
            key,
            read(&format!("{key_name}.pss_sha512.sig")),
        ));
    }
    out
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// An edit of some bytes: flip one bit, cut, or splice bytes in.
    #[derive(Debug, Clone)]
    enum Edit {
        Flip(usize),
        Truncate(usize),
        Splice(usize, Vec<u8>),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            any::<usize>().prop_map(Edit::Flip),
            any::<usize>().prop_map(Edit::Truncate),
            (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
                .prop_map(|(at, bytes)| Edit::Splice(at, bytes)),
        ]
    }

    fn apply(bytes: &[u8], edit: &Edit) -> Vec<u8> {
        let mut out = bytes.to_vec();
        match edit {
            Edit::Flip(i) => {
                let bit = i % (out.len() * 8);
                out[bit / 8] ^= 1 << (bit % 8);
            }
            Edit::Truncate(n) => out.truncate(n % out.len()),
            Edit::Splice(at, b) => {
                let at = at % (out.len() + 1);
                out.splice(at..at, b.iter().copied());
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Arbitrary bytes: every algorithm refuses them, none panics.
        #[test]
        fn arbitrary_inputs_are_refused(
            key in proptest::collection::vec(any::<u8>(), 0..600),
            msg in proptest::collection::vec(any::<u8>(), 0..64),
            signature in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            for alg in sig::ALL {
                prop_assert!(alg.verify_signature(&key, &msg, &signature).is_err());
            }
        }

        /// A well-formed RSA key with an arbitrary odd modulus and an
        /// arbitrary signature of its length: the Montgomery arithmetic
        /// runs on it; the result is a refusal, never a panic.
        #[cfg(feature = "tls-rsa")]
        #[test]
        fn arbitrary_rsa_moduli_are_handled(
            bits in 2040usize..=4104,
            fill in proptest::collection::vec(any::<u8>(), 513),
            e in prop_oneof![Just(3u64), Just(65537), 3u64..(1 << 33)],
            signature in proptest::collection::vec(any::<u8>(), 513),
        ) {
            let len = bits.div_ceil(8);
            let mut n = fill[..len].to_vec();
            n[0] |= 1 << ((bits - 1) % 8);
            n[0] &= 0xff >> (7 - (bits - 1) % 8);
            n[len - 1] |= 1;
            let key = rsa_public_key(&n, e | 1);
            for alg in sig::ALL {
                prop_assert!(alg.verify_signature(&key, b"m", &signature[..len]).is_err());
            }
        }

        /// Each fixture with one edit of its key or signature is refused.
        #[test]
        fn edited_fixtures_are_refused(which in any::<usize>(), in_key in any::<bool>(), e in edit()) {
            let fixtures = fixtures();
            let (alg, key, signature) = &fixtures[which % fixtures.len()];
            let msg = read("msg");
            let (key, signature) = if in_key {
                (apply(key, &e), signature.clone())
            } else {
                (key.clone(), apply(signature, &e))
            };
            prop_assert!(alg.verify_signature(&key, &msg, &signature).is_err());
        }
    }

    /// DER `RSAPublicKey` (lengths up to 0xffff).
    fn rsa_public_key(n: &[u8], e: u64) -> Vec<u8> {
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            match body.len() {
                l @ 0..=0x7f => out.push(l as u8),
                l @ 0x80..=0xff => out.extend([0x81, l as u8]),
                l => out.extend([0x82, (l >> 8) as u8, l as u8]),
            }
            out.extend(body);
            out
        }
        fn integer(v: &[u8]) -> Vec<u8> {
            let v = &v[v.iter().take_while(|&&b| b == 0).count()..];
            let mut body = Vec::new();
            if v.first().is_none_or(|b| b & 0x80 != 0) {
                body.push(0);
            }
            body.extend(v);
            tlv(2, &body)
        }
        let mut body = integer(n);
        body.extend(integer(&e.to_be_bytes()));
        tlv(0x30, &body)
    }
}
