//! The crate's TLS connector ([`embedded_oauth2::tls`]) as the host tool
//! sets it up: the crate's `std` opener ([`StdTcp`], feature `std`, with
//! timeouts) and the system clock for certificate dates, the OS random
//! generator, and reading the roots from DER or a PEM bundle. Everything
//! that verifies the server lives in the crate and is the same code a
//! firmware image links.
//!
//! A module of `fetch_token` (the `cli/` package), shared through `#[path]`
//! by the demo and the integration tests; every user takes a subset, hence
//! the `dead_code` allowance.
#![allow(dead_code)]

use std::io;
use std::time::{Duration, SystemTime};

use base64ct::{Base64, Encoding};
use rand_core::OsRng;

#[allow(unused_imports)]
pub use embedded_oauth2::tls::host::{StdSocket, StdTcp};
#[allow(unused_imports)]
pub use embedded_oauth2::tls::{CertError, Pin, READ_BUFFER, Roots, spki};

/// Write record buffer: a whole HTTP request in one record.
pub const WRITE_BUFFER: usize = 4 * 1024;

/// Connect, read and write timeout unless [`HostTls::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The crate's connector over [`StdTcp`], checking certificate dates
/// against the system clock.
pub type TlsConnector =
    embedded_oauth2::tls::TlsConnector<'static, StdTcp, OsRng, Vec<u8>, SystemTime>;

/// A verified TLS 1.3 connection over a `std` TCP stream.
pub type TlsStream<'c> = embedded_oauth2::tls::blocking::TlsStream<'c, StdSocket>;

/// The connector's error: `Transport` keeps the original `std::io::Error`.
pub type TlsConnectError = embedded_oauth2::tls::TlsConnectError<io::Error>;

/// A connector trusting the root certificates in `roots` (one DER
/// certificate, or a PEM bundle of one or more, as curl's `--cacert`) and
/// checking `server_name` (None: the host connected to). The roots and the
/// name are leaked to get the `'static` the connector borrows them for (a
/// few hundred bytes per root: fine for a CLI and tests; firmware keeps
/// them in flash).
pub fn connector(roots: &[u8], server_name: Option<&str>) -> Result<TlsConnector, String> {
    let roots: Vec<&'static [u8]> = certificates_der(roots)?
        .into_iter()
        .map(|der| &*Box::leak(der.into_boxed_slice()))
        .collect();
    let roots: &'static [&'static [u8]] = Box::leak(roots.into_boxed_slice());
    let tls = embedded_oauth2::tls::TlsConnector::new(
        StdTcp::new(DEFAULT_TIMEOUT),
        OsRng,
        roots,
        vec![0; READ_BUFFER],
        vec![0; WRITE_BUFFER],
    )
    .map_err(|e| format!("CA certificate: {e}"))?
    .with_clock::<SystemTime>();
    let tls = match server_name {
        Some(name) => {
            let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
            tls.with_server_name(name)
                .map_err(|e| format!("server name: {e}"))?
        }
        None => tls,
    };
    Ok(tls)
}

/// Host-only settings of the connector.
pub trait HostTls {
    /// Connect, read and write timeout (default 30 s).
    fn with_timeout(self, timeout: Duration) -> Self;
}

impl HostTls for TlsConnector {
    fn with_timeout(mut self, timeout: Duration) -> Self {
        self.opener_mut().set_timeout(timeout);
        self
    }
}

// ---- Certificates ---------------------------------------------------------

/// The DER of a certificate given as PEM (exactly one `CERTIFICATE` block)
/// or as DER.
pub fn certificate_der(input: &[u8]) -> Result<Vec<u8>, String> {
    let mut all = certificates_der(input)?;
    match (all.pop(), all.len()) {
        (Some(der), 0) => Ok(der),
        (_, n) => Err(format!(
            "expected exactly one PEM \"CERTIFICATE\" block, found {}",
            n + 1
        )),
    }
}

/// The DER of each certificate in `input`: one DER certificate, or PEM
/// with one or more `CERTIFICATE` blocks (a bundle, as curl's `--cacert`
/// reads; text around the blocks is ignored).
pub fn certificates_der(input: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let ders = if input.first() == Some(&0x30) {
        vec![input.to_vec()]
    } else {
        let mut text = std::str::from_utf8(input)
            .map_err(|_| "neither DER nor PEM (not UTF-8 text)".to_owned())?;
        let mut ders = Vec::new();
        while let Some(i) = text.find(BEGIN) {
            let body = &text[i + BEGIN.len()..];
            let len = body
                .find(END)
                .ok_or_else(|| format!("PEM block without \"{END}\""))?;
            let b64: String = body[..len]
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            ders.push(
                Base64::decode_vec(&b64)
                    .map_err(|e| format!("PEM body is not valid base64: {e}"))?,
            );
            text = &body[len + END.len()..];
        }
        if ders.is_empty() {
            return Err("no PEM \"CERTIFICATE\" block found".to_owned());
        }
        ders
    };
    // The crate's own check (one DER certificate with a public key).
    for der in &ders {
        match embedded_oauth2::tls::spki(der) {
            Some(_) if der.len() > 2 && der.first() == Some(&0x30) => {}
            _ => return Err("not an X.509 certificate".to_owned()),
        }
    }
    Ok(ders)
}
