//! Finds the CA certificate the boards trust (`OAUTH_CA_CERT`, see
//! README.md) and hands its DER to `src/config.rs` as `BOARD_CA_DER` (a file
//! path for `include_bytes!`).
//!
//! * `OAUTH_CA_CERT` unset: `trust/ca.der` or `trust/ca.pem` here, if there.
//! * A PEM file (`-----BEGIN CERTIFICATE-----`) is decoded to DER here.
//! * Nothing found: an empty placeholder, so that CI builds the images. Such
//!   an image cannot connect (the TLS connector refuses an empty CA and the
//!   firmware logs so at boot); the build says it with a warning.
use std::{env, fs, path::PathBuf};

/// The settings' checks, shared with `src/config.rs`.
#[path = "src/check.rs"]
#[allow(dead_code)]
mod check;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/check.rs");
    check_settings();
    println!("cargo:rerun-if-env-changed=OAUTH_CA_CERT");
    let here = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    let chosen = match env::var_os("OAUTH_CA_CERT") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            let p = if p.is_absolute() { p } else { here.join(p) };
            if !p.is_file() {
                panic!(
                    "OAUTH_CA_CERT={} is not a file (a relative path is taken from {})",
                    p.display(),
                    here.display()
                );
            }
            Some(p)
        }
        _ => ["ca.der", "ca.pem"]
            .iter()
            .map(|name| here.join("trust").join(name))
            .find(|p| p.is_file()),
    };
    // Watch the default folder (which exists: it holds a README), so that
    // adding a certificate there rebuilds. (Watching a file that does not
    // exist would rebuild every time.)
    println!("cargo:rerun-if-changed={}", here.join("trust").display());

    let der = match &chosen {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let der = if bytes.starts_with(b"-----BEGIN") {
                pem_to_der(&bytes)
                    .unwrap_or_else(|| panic!("{}: not one PEM CERTIFICATE", path.display()))
            } else {
                bytes
            };
            // A DER certificate is one SEQUENCE; the connector checks the rest.
            if der.first() != Some(&0x30) {
                panic!("{}: not a DER (or PEM) X.509 certificate", path.display());
            }
            der
        }
        None => {
            println!(
                "cargo:warning=PLACEHOLDER CA: no OAUTH_CA_CERT and no ca.der/ca.pem in {}. \
                 The image builds but cannot open any TLS connection (it logs \
                 'no CA certificate' at boot).",
                here.join("trust").display()
            );
            Vec::new()
        }
    };
    let target = out.join("ca.der");
    fs::write(&target, &der).expect("write ca.der");
    println!("cargo:rustc-env=BOARD_CA_DER={}", target.display());
    println!(
        "cargo:rustc-env=BOARD_CA_PLACEHOLDER={}",
        if chosen.is_none() { "1" } else { "0" }
    );
}

/// Refuses the build when a setting that is set cannot work (see
/// `src/check.rs`): an empty `OAUTH_CLIENT_SECRET` (what an unset CI secret
/// expands to) would boot and send `Basic base64(id:)`; an SSID over 32
/// bytes or a passphrase over 64 would panic the Pico W's Wi-Fi driver.
/// Unset variables get placeholders (`src/config.rs`) and pass.
fn check_settings() {
    let mut refused = Vec::new();
    for (name, check) in check::CHECKS {
        println!("cargo:rerun-if-env-changed={name}");
        let Some(value) = env::var_os(name) else {
            continue;
        };
        match value.to_str() {
            None => refused.push(format!("{name}: not UTF-8")),
            Some(v) => {
                if let Err(e) = check(v) {
                    refused.push(format!("{name}: {e}"));
                }
            }
        }
    }
    if !refused.is_empty() {
        for r in &refused {
            eprintln!("error: {r}");
        }
        panic!(
            "unusable settings (see examples/board-common/README.md): {}",
            refused.join("; ")
        );
    }
}

/// The DER inside `-----BEGIN CERTIFICATE-----` … `-----END CERTIFICATE-----`
/// (the first such block).
fn pem_to_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let body = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}
