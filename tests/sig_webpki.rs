//! `tls::sig` in rustls-webpki 0.103 (no default features: no ring, no
//! aws-lc-rs, no allocator), as the TLS connector's verifier will use it:
//! OpenSSL-made chains (tests/data/sig/make_chains.sh) verify with
//! `sig::ALL` through webpki's own algorithm-identifier matching, and fail
//! without the algorithm they need.

#![cfg_attr(not(all(feature = "tls-rsa", feature = "tls-p384")), allow(dead_code))]

use core::time::Duration;

use embedded_oauth2::tls::sig::{self, SignatureVerificationAlgorithm};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sig/");

fn der(name: &str) -> CertificateDer<'static> {
    let bytes = std::fs::read(format!("{DIR}{name}.der")).unwrap_or_else(|e| panic!("{name}: {e}"));
    // pki-types without `alloc` (as the crate links it) borrows only.
    CertificateDer::from(&*Box::leak(bytes.into_boxed_slice()))
}

/// 2030-03-17: inside every certificate's validity (2026–2126).
fn now() -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(1_900_000_000))
}

/// Verifies `leaf` up to `root` through `intermediates` for server auth and
/// for `name`.
fn verify(
    algs: &[&dyn SignatureVerificationAlgorithm],
    root: &str,
    intermediates: &[&str],
    leaf: &str,
    name: &str,
) -> Result<(), webpki::Error> {
    let root = der(root);
    let anchors = [anchor_from_trusted_cert(&root)?];
    let intermediates: Vec<_> = intermediates.iter().map(|n| der(n)).collect();
    let leaf = der(leaf);
    let cert = EndEntityCert::try_from(&leaf)?;
    cert.verify_for_usage(
        algs,
        &anchors,
        &intermediates,
        now(),
        KeyUsage::server_auth(),
        None,
        None,
    )?;
    cert.verify_is_valid_for_subject_name(&ServerName::try_from(name).unwrap())
}

#[test]
fn p256_chain() {
    verify(sig::ALL, "root256", &[], "leaf_p256", "p256.example.test").unwrap();
    // The name is checked too (by webpki).
    assert!(verify(sig::ALL, "root256", &[], "leaf_p256", "other.example.test").is_err());
    // Without P-256/SHA-256 no path verifies.
    let err = verify(&[], "root256", &[], "leaf_p256", "p256.example.test").unwrap_err();
    assert!(
        matches!(err, webpki::Error::UnsupportedSignatureAlgorithmContext(_)),
        "{err:?}"
    );
}

/// A P-384 root, an RSA-3072 intermediate it signed with ECDSA/SHA-384, and
/// leaves the intermediate signed with RSA-PSS/SHA-256 and PKCS#1/SHA-384.
#[cfg(all(feature = "tls-rsa", feature = "tls-p384"))]
#[test]
fn p384_root_rsa_intermediate() {
    verify(
        sig::ALL,
        "root384",
        &["int_rsa"],
        "leaf_pss",
        "pss.example.test",
    )
    .unwrap();
    verify(
        sig::ALL,
        "root384",
        &["int_rsa"],
        "leaf_pkcs1",
        "pkcs1.example.test",
    )
    .unwrap();
    // Exactly the algorithms each link needs.
    verify(
        &[
            sig::ECDSA_P384_SHA384,
            sig::RSA_PSS_2048_4096_SHA256_LEGACY_KEY,
        ],
        "root384",
        &["int_rsa"],
        "leaf_pss",
        "pss.example.test",
    )
    .unwrap();
    verify(
        &[sig::ECDSA_P384_SHA384, sig::RSA_PKCS1_2048_4096_SHA384],
        "root384",
        &["int_rsa"],
        "leaf_pkcs1",
        "pkcs1.example.test",
    )
    .unwrap();
    // Without one of them, the chain does not verify.
    for algs in [
        &[sig::ECDSA_P384_SHA384][..],
        &[sig::RSA_PSS_2048_4096_SHA256_LEGACY_KEY],
        &[
            sig::ECDSA_P384_SHA256,
            sig::RSA_PSS_2048_4096_SHA384_LEGACY_KEY,
        ],
    ] {
        assert!(
            verify(
                algs,
                "root384",
                &["int_rsa"],
                "leaf_pss",
                "pss.example.test"
            )
            .is_err()
        );
    }
    // Without the intermediate, or against the other root.
    assert!(verify(sig::ALL, "root384", &[], "leaf_pss", "pss.example.test").is_err());
    assert!(
        verify(
            sig::ALL,
            "root256",
            &["int_rsa"],
            "leaf_pss",
            "pss.example.test"
        )
        .is_err()
    );
}

/// A P-256 root that signed with SHA-384.
#[cfg(feature = "tls-p384")]
#[test]
fn p256_sha384_link() {
    verify(
        sig::ALL,
        "root256",
        &[],
        "leaf_p256_sha384",
        "p384.example.test",
    )
    .unwrap();
    let only_sha256 = [sig::ECDSA_P256_SHA256];
    assert!(
        verify(
            &only_sha256,
            "root256",
            &[],
            "leaf_p256_sha384",
            "p384.example.test"
        )
        .is_err()
    );
}

/// What the TLS 1.3 CertificateVerify check does: the leaf's key verifies a
/// signature with the algorithm of the scheme the server chose.
#[test]
fn end_entity_signature() {
    let leaf = der("leaf_p256");
    let cert = EndEntityCert::try_from(&leaf).unwrap();
    // A signature by another key over another message is refused, not a
    // panic.
    let other = std::fs::read(format!("{DIR}ec256.sha256.sig")).unwrap();
    assert!(
        cert.verify_signature(sig::ECDSA_P256_SHA256, b"content", &other)
            .is_err()
    );
}
