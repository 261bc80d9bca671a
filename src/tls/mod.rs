//! A TLS 1.3 connector that can only verify (feature `tls`): [embedded-tls]
//! 0.19 over a TCP connection you open, checking the server against your
//! roots with the crate's own verifier on [rustls-webpki].
//!
//! ```text
//!   your TCP opener ──▶ TlsConnector ──▶ Client::token / Client::call
//!   (embassy-net TcpSocket, a modem, std::net)   (blocking::Connect / asynch::Connect)
//! ```
//!
//! # What it checks, always
//!
//! Before the connection is used (so before any secret is sent), with
//! [rustls-webpki] 0.103 (no allocator) through one sans-IO function,
//! [`verify_server_chain`], that you can also call yourself:
//!
//! * **The path** from the server's certificate through the intermediates
//!   it sends (up to [`MAX_INTERMEDIATES`], any order) to one of your
//!   [`Roots`]: one or several root certificates (DER), or
//!   [`TrustAnchor`]s prepared once (a `static` in flash). Every signature
//!   on it verifies; basicConstraints (only CA:TRUE certificates issue, a
//!   CA is never the server's certificate), pathLenConstraint, name
//!   constraints, keyUsage keyCertSign on the CAs (which webpki itself does
//!   not check), and unknown critical extensions refuse a chain.
//! * **The purpose**: the server's certificate's extendedKeyUsage, when it
//!   has one, must include serverAuth.
//! * **The name**: the endpoint's host, or the name given to
//!   [`TlsConnector::with_server_name`], a DNS name or an IP address
//!   (v4 or v6), against the certificate's subjectAltName (the CN is never
//!   used). Only DNS names are sent as SNI.
//! * **Proof of possession**: the server's CertificateVerify signature,
//!   with the leaf's key, over the handshake transcript (RFC 8446 §4.4.3).
//!   The connection is used only after the server sent its Certificate
//!   *and* a CertificateVerify that verified: embedded-tls 0.19 calls its
//!   verifier only for the messages the server actually sends, so on its
//!   own it would accept a handshake that skips both.
//! * **Optionally a pin** ([`Pin`]): the SHA-256 of the leaf certificate or of
//!   its `SubjectPublicKeyInfo`, checked in addition to the path and the
//!   name, never instead.
//! * **Dates**, when you give a wall clock ([`TlsConnector::with_clock`]).
//!
//! A refusal says why: [`TlsConnectError::Certificate`] carries a
//! [`CertError`] (unknown issuer, name, expired, key usage, constraints,
//! pin, ...). There is no constructor that skips verification: the roots
//! are a required argument, and embedded-tls's `UnsecureProvider`/`NoVerify`
//! are never used.
//!
//! **Algorithms** ([`sig`]), in certificates and in CertificateVerify:
//! ECDSA P-256 with SHA-256 always; ECDSA P-384 and P-256 with SHA-384
//! with feature `tls-p384`; RSA PKCS#1 v1.5 and RSA-PSS, 2048–4096-bit
//! keys, with feature `tls-rsa` (the ClientHello then offers the RSA
//! schemes). Anything not compiled in, RSA keys under 2048 bits and SHA-1
//! whatever the features, is refused as [`CertError::UnsupportedAlgorithm`].
//!
//! ## What a device without a clock gives up
//!
//! With [`NoClock`] (or a clock that returns `None`, e.g. before it is
//! set), the chain is verified at the latest notBefore of the certificates
//! the server sent: the first moment they are all valid. So dates are as
//! good as unchecked: **an expired certificate is accepted**, and with it
//! one whose key leaked after it expired, or that was revoked and left to
//! expire. A certificate that was never valid at the same time as its
//! issuer is still refused, and everything else above is checked. Give the
//! connector a clock (RTC, SNTP, the token server's `Date`) as soon as the
//! device has one.
//!
//! # Buffers and record sizes
//!
//! A connection borrows the connector's two record buffers (so it opens one
//! connection at a time):
//!
//! * **read**: one whole TLS record as the server sends it. A server may send
//!   records of up to 16 KiB of plaintext: [`READ_BUFFER`] (16,645 bytes) is
//!   always enough. A smaller buffer makes the connector ask for the
//!   largest `max_fragment_length` (RFC 6066) whose records fit
//!   ([`read_buffer_len`]; [`TlsConnector::with_max_fragment_length`] asks
//!   for less). A server that honours it (OpenSSL, so Node.js, nginx, ...)
//!   then sends at most that much per record — but many servers ignore the
//!   extension, and then the handshake fails with
//!   [`TlsError::InsufficientSpace`] on the first large record.
//! * **The server's certificate must fit in one record**: embedded-tls 0.19
//!   does not reassemble a handshake message split across records, so with a
//!   1 KiB fragment length the whole Certificate message (the chain the
//!   server sends) must be under ~1 KiB; an ECDSA leaf alone usually is.
//! * **write**: at least [`MIN_WRITE_BUFFER`]; each record we send carries up
//!   to its size minus 128 bytes, so 1–2 KiB keeps an HTTP request in one or
//!   two records. The larger of the two buffers also holds the ClientHello.
//! * The verifier keeps no copy of the chain: between the Certificate and
//!   the CertificateVerify messages only the transcript hash and the leaf's
//!   public key (about 200 bytes).
//!
//! # End of a connection
//!
//! A `read` returns `Ok(0)` once the server sent close_notify, or ended the
//! TCP stream between two records (many HTTP servers close without
//! close_notify after `Connection: close`); a TCP end inside a record is
//! [`TlsConnectError::Truncated`]. The client's drivers send close_notify
//! when an exchange is done (`Connect::close`); the blocking stream also
//! sends it when dropped. After any failure the stream refuses further I/O.
//!
//! So a response whose body runs until the connection closes (no
//! `Content-Length`, not chunked: [`Framing::Close`](crate::http::Framing::Close))
//! can be cut short, undetected, by whoever can end the TCP connection
//! between two records. Token responses are JSON objects, which a cut does
//! not leave parseable; for your own calls, prefer length-delimited bodies.
//!
//! # Randomness and time
//!
//! The key exchange takes randomness from your `CryptoRng` (rand_core 0.6):
//! a hardware TRNG, or a CSPRNG such as ChaCha20 seeded from one. Never a
//! fixed or time-derived seed. Certificate dates are checked against
//! `D::now()` ([`TlsClock`], Unix seconds) when you choose a clock.
//!
//! [embedded-tls]: https://docs.rs/embedded-tls/0.19
//! [rustls-webpki]: https://docs.rs/rustls-webpki/0.103

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;

use embedded_io::ErrorType;
#[cfg(feature = "mtls")]
use embedded_tls::SignatureScheme;
use embedded_tls::blocking::{Aes128GcmSha256, CryptoProvider, TlsVerifier};

/// A random number generator for the key exchange: `rand_core` 0.6's
/// `RngCore + CryptoRng` (a TRNG, or a CSPRNG seeded from one). From
/// embedded-tls.
pub use embedded_tls::CryptoRngCore;
/// What embedded-tls reports when the handshake or a record fails (an
/// alert, a decode error, a short buffer); inside
/// [`TlsConnectError::Tls`], and [`TlsConnectError::describe`] puts it in
/// words. From embedded-tls.
pub use embedded_tls::TlsError;
/// TLS `max_fragment_length` (RFC 6066): ask the server for records of at
/// most 512–4096 bytes, so the read buffer can be that small
/// ([`TlsConnector::with_max_fragment_length`], [`read_buffer_len`]). From
/// embedded-tls.
pub use embedded_tls::blocking::MaxFragmentLength;
/// The clock of a connector that has none ([`TlsConnector`]'s default):
/// certificates are then checked at the latest notBefore of the chain
/// (dates as good as unchecked; see the module docs). From embedded-tls.
pub use embedded_tls::blocking::NoClock;
/// Where a connector gets the time to check certificate dates:
/// `fn now() -> Option<u64>`, Unix seconds (`None`: unknown, treated as
/// [`NoClock`]). Implement it on a type of yours over your RTC and pass it
/// with [`TlsConnector::with_clock`]; on a host, `std::time::SystemTime`
/// is one (feature `std`). From embedded-tls.
///
/// ```
/// use embedded_oauth2::tls::TlsClock;
/// struct Rtc;
/// impl TlsClock for Rtc {
///     fn now() -> Option<u64> {
///         Some(1_767_225_600) // read the RTC here
///     }
/// }
/// assert_eq!(Rtc::now(), Some(1_767_225_600));
/// ```
pub use embedded_tls::blocking::TlsClock;
/// DER bytes borrowed from somewhere (the parts of a [`TrustAnchor`]).
/// From rustls-pki-types.
pub use rustls_pki_types::Der;
/// A root prepared once (subject, public key, name constraints), e.g. kept
/// in flash: [`Roots::Anchors`]. From rustls-pki-types.
pub use rustls_pki_types::TrustAnchor;

mod der;
mod io;
mod verify;
pub use der::spki;
pub mod sig;
pub use verify::{CertError, MAX_INTERMEDIATES, Pin, Roots, verify_server_chain};
pub(crate) use verify::{RSA_SIGNATURES, Verifier};

/// The async connector: [`TlsConnector`] over an async [`asynch::Open`]
/// (feature `async`).
#[cfg(feature = "async")]
pub mod asynch;
/// The blocking connector: [`TlsConnector`] over a blocking [`blocking::Open`].
pub mod blocking;
#[cfg(feature = "embassy-net")]
#[cfg_attr(docsrs, doc(cfg(feature = "embassy-net")))]
pub mod embassy_net;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod host;
#[cfg(all(feature = "async", feature = "embedded-nal-async"))]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-nal-async")))]
pub mod nal;

/// A read buffer that holds any TLS record a server may send:
/// 2^14 bytes of plaintext + 256 bytes of expansion + the 5-byte header.
pub const READ_BUFFER: usize = read_buffer_len(None);

/// The smallest write buffer the connector accepts (embedded-tls adds up
/// to 128 bytes of overhead to each record it writes).
pub const MIN_WRITE_BUFFER: usize = 256;

/// The longest server name: a DNS name of 253 bytes.
pub const MAX_SERVER_NAME: usize = 253;

/// The read buffer that holds any record of a server that honours
/// `max_fragment_length` (`None`: the full 2^14 bytes).
///
/// ```
/// use embedded_oauth2::tls::{MaxFragmentLength, read_buffer_len};
/// assert_eq!(read_buffer_len(None), 16_645);
/// assert_eq!(read_buffer_len(Some(MaxFragmentLength::Bits10)), 1_285);
/// ```
pub const fn read_buffer_len(max_fragment_length: Option<MaxFragmentLength>) -> usize {
    let plaintext = match max_fragment_length {
        None => 1 << 14,
        Some(MaxFragmentLength::Bits9) => 512,
        Some(MaxFragmentLength::Bits10) => 1024,
        Some(MaxFragmentLength::Bits11) => 2048,
        Some(MaxFragmentLength::Bits12) => 4096,
    };
    plaintext + 256 + 5
}

/// The only cipher suite embedded-tls negotiates here: TLS_AES_128_GCM_SHA256.
pub type Suite = Aes128GcmSha256;

// ---- Errors -------------------------------------------------------------------

/// A connector that cannot be built: what is wrong with its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SetupError {
    /// No root, or a root certificate is not one DER X.509 certificate
    /// webpki takes as a trust anchor.
    CaCertificate,
    /// The server name is neither a DNS name nor an IP address.
    ServerName,
    /// The read buffer is smaller than `needed`: [`read_buffer_len`] of
    /// the configured fragment length.
    ReadBuffer {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// The write buffer is smaller than [`MIN_WRITE_BUFFER`].
    WriteBuffer {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// The client certificate is not one DER X.509 certificate.
    ClientCertificate,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CaCertificate => {
                f.write_str("the trusted roots must be one or more DER X.509 CA certificates")
            }
            Self::ClientCertificate => {
                f.write_str("the client certificate is not one DER X.509 certificate")
            }
            Self::ServerName => f.write_str("the server name must be a DNS name or an IP address"),
            Self::ReadBuffer { needed, available } => write!(
                f,
                "TLS read buffer too small: {needed} bytes needed, {available} given"
            ),
            Self::WriteBuffer { needed, available } => write!(
                f,
                "TLS write buffer too small: {needed} bytes needed, {available} given"
            ),
        }
    }
}

impl core::error::Error for SetupError {}

/// A connection that failed: the opener's (or its socket's) own error, or
/// the TLS layer's, kept apart and intact.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConnectError<E> {
    /// The TCP opener or the socket failed: its original error.
    Transport(E),
    /// The server's certificate (chain, name, dates, pin) or its
    /// CertificateVerify signature was refused: why.
    Certificate(CertError),
    /// The TLS layer failed: an alert from the server, a protocol
    /// violation, record protection. See [`TlsConnectError::describe`].
    Tls(TlsError),
    /// The server ended the TCP stream inside a TLS record.
    Truncated,
    /// The handshake finished without the server proving its identity (no
    /// verified Certificate + CertificateVerify).
    Unauthenticated,
    /// The host to verify is neither a DNS name nor an IP address.
    ServerName,
    /// The stream failed or was closed before: no more I/O on it.
    Closed,
}

impl<E> TlsConnectError<E> {
    /// A short explanation of the TLS errors a user is likely to meet.
    pub fn describe(e: &TlsError) -> &'static str {
        match e {
            TlsError::InvalidCertificate | TlsError::InvalidCertificateEntry => {
                "the server's Certificate message could not be read"
            }
            TlsError::InvalidSignature => "a handshake signature did not verify",
            TlsError::InvalidSignatureScheme => {
                "the server named a signature scheme this client does not know"
            }
            TlsError::InvalidHandshake | TlsError::MissingHandshake => {
                "the server broke the handshake protocol"
            }
            TlsError::HandshakeAborted(..) => "the server aborted the handshake with an alert",
            TlsError::AbortHandshake(..) => "the handshake was aborted",
            TlsError::IoError | TlsError::Io(_) => "the connection failed or closed",
            TlsError::ConnectionClosed => "the server closed the TLS connection",
            TlsError::Unimplemented => {
                "the server sent something embedded-tls 0.19 does not support (e.g. a KeyUpdate)"
            }
            TlsError::InsufficientSpace | TlsError::OutOfMemory => {
                "a record is larger than the buffers (see max_fragment_length), or the \
                 server sent more than 16 certificates"
            }
            TlsError::InvalidCipherSuite | TlsError::InvalidKeyShare => {
                "the server chose a cipher suite or group this client does not offer \
                 (TLS_AES_128_GCM_SHA256 with P-256)"
            }
            TlsError::CryptoError | TlsError::InvalidApplicationData => {
                "a record failed to decrypt or authenticate"
            }
            _ => "TLS protocol error",
        }
    }
}

impl<E: fmt::Display> fmt::Display for TlsConnectError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => e.fmt(f),
            Self::Certificate(e) => write!(f, "TLS: certificate refused: {e}"),
            Self::Tls(e) => write!(f, "TLS: {}", Self::describe(e)),
            Self::Truncated => f.write_str("the server closed the connection inside a TLS record"),
            Self::Unauthenticated => {
                f.write_str("TLS: the server did not prove its identity (no CertificateVerify)")
            }
            Self::ServerName => {
                f.write_str("TLS: the server name must be a DNS name or an IP address")
            }
            Self::Closed => f.write_str("TLS: the connection is closed"),
        }
    }
}

#[cfg(feature = "defmt")]
impl<E: defmt::Format> defmt::Format for TlsConnectError<E> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Self::Transport(e) => defmt::write!(f, "transport: {}", e),
            Self::Certificate(e) => defmt::write!(f, "certificate refused: {}", e),
            Self::Tls(e) => defmt::write!(f, "TLS: {=str}", Self::describe(e)),
            Self::Truncated => defmt::write!(f, "truncated TLS record"),
            Self::Unauthenticated => defmt::write!(f, "server not authenticated"),
            Self::ServerName => defmt::write!(f, "server name not a DNS name or IP address"),
            Self::Closed => defmt::write!(f, "TLS connection closed"),
        }
    }
}

impl<E: embedded_io::Error> embedded_io::Error for TlsConnectError<E> {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            Self::Transport(e) => e.kind(),
            Self::Tls(TlsError::Io(kind)) => *kind,
            Self::Truncated => embedded_io::ErrorKind::ConnectionReset,
            Self::ServerName => embedded_io::ErrorKind::InvalidInput,
            Self::Closed => embedded_io::ErrorKind::NotConnected,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

/// The transport's error stays reachable by matching
/// [`TlsConnectError::Transport`] (`source` would need `E: 'static`).
impl<E: fmt::Debug + fmt::Display> core::error::Error for TlsConnectError<E> {}

// ---- The provider and the outcome of a handshake ------------------------------

/// embedded-tls's crypto provider: the caller's RNG, our verifier, and the
/// client certificate, if any.
pub(crate) struct Provider<'r, 'c, R, V> {
    pub(crate) rng: &'r mut R,
    pub(crate) verifier: V,
    #[cfg(feature = "mtls")]
    pub(crate) client: Option<ClientCertificate<'c>>,
    #[cfg(not(feature = "mtls"))]
    pub(crate) client: PhantomData<&'c ()>,
}

/// The signature a client certificate's key gives (none without `mtls`).
#[cfg(feature = "mtls")]
type ClientSignature = DerSignature;
#[cfg(not(feature = "mtls"))]
type ClientSignature = &'static [u8];

impl<R: CryptoRngCore, V: TlsVerifier<Suite>> CryptoProvider for Provider<'_, '_, R, V> {
    type CipherSuite = Suite;
    type Signature = ClientSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    /// Always a verifier: embedded-tls skips verification silently when
    /// this fails; [`finish`] opens nothing a verifier did not authenticate.
    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Suite>, TlsError> {
        Ok(&mut self.verifier)
    }

    #[cfg(feature = "mtls")]
    fn signer(
        &mut self,
    ) -> Result<(impl signature::SignerMut<DerSignature>, SignatureScheme), TlsError> {
        let client = self.client.ok_or(TlsError::Unimplemented)?;
        Ok((
            CertificateSigner(client.signer),
            SignatureScheme::EcdsaSecp256r1Sha256,
        ))
    }

    #[cfg(feature = "mtls")]
    fn client_cert(&mut self) -> Option<embedded_tls::blocking::Certificate<impl AsRef<[u8]>>> {
        self.client
            .map(|c| embedded_tls::blocking::Certificate::X509(c.der))
    }
}

/// A client certificate (DER) for mutual TLS and the signer of its key.
#[cfg(feature = "mtls")]
#[derive(Clone, Copy)]
pub(crate) struct ClientCertificate<'c> {
    pub(crate) der: &'c [u8],
    pub(crate) signer: &'c (dyn crate::assertion::Es256Signer + Sync),
}

/// An ECDSA signature in the DER form TLS carries (RFC 8446 §4.2.3:
/// `Ecdsa-Sig-Value`), at most 72 bytes.
#[cfg(feature = "mtls")]
#[derive(Clone, Copy)]
pub(crate) struct DerSignature {
    bytes: [u8; 72],
    len: usize,
}

#[cfg(feature = "mtls")]
impl AsRef<[u8]> for DerSignature {
    fn as_ref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

#[cfg(feature = "mtls")]
impl DerSignature {
    /// Nothing: what a failed signer leaves (the server refuses it).
    const EMPTY: Self = Self {
        bytes: [0; 72],
        len: 0,
    };

    /// `SEQUENCE { INTEGER r, INTEGER s }` from the raw `r || s`.
    pub(crate) fn from_raw(rs: &[u8; 64]) -> Self {
        let mut out = Self::EMPTY;
        let (Some(r), Some(s)) = (rs.first_chunk::<32>(), rs.last_chunk::<32>()) else {
            return out;
        };
        fn int(v: &[u8]) -> (&[u8], bool) {
            // Minimal: no leading zero bytes, but a zero before a set top bit.
            let v = match v.iter().position(|&b| b != 0) {
                Some(i) => v.get(i..).unwrap_or_default(),
                None => &[0][..],
            };
            let pad = v.first().is_some_and(|&b| b >= 0x80);
            (v, pad)
        }
        let ((r, rpad), (s, spad)) = (int(r), int(s));
        let rlen = r.len() + usize::from(rpad);
        let slen = s.len() + usize::from(spad);
        let mut sink = crate::encode::Sink::new(&mut out.bytes);
        // Each INTEGER is at most 35 bytes, the content at most 70: short
        // form lengths.
        sink.put(&[0x30, (4 + rlen + slen) as u8, 0x02, rlen as u8]);
        if rpad {
            sink.put(&[0]);
        }
        sink.put(r);
        sink.put(&[0x02, slen as u8]);
        if spad {
            sink.put(&[0]);
        }
        sink.put(s);
        out.len = sink.len();
        out
    }
}

/// The client certificate's key, through the caller's signer.
#[cfg(feature = "mtls")]
struct CertificateSigner<'c>(&'c (dyn crate::assertion::Es256Signer + Sync));

#[cfg(feature = "mtls")]
impl signature::SignerMut<DerSignature> for CertificateSigner<'_> {
    fn try_sign(&mut self, msg: &[u8]) -> Result<DerSignature, signature::Error> {
        let rs = self.0.sign(msg).map_err(|_| signature::Error::new())?;
        Ok(DerSignature::from_raw(&rs))
    }

    /// What embedded-tls calls. The provided `sign` panics on an error; a
    /// failed signer (a busy secure element) gives an empty signature
    /// instead, which the server refuses: the handshake fails, nothing
    /// panics.
    fn sign(&mut self, msg: &[u8]) -> DerSignature {
        self.try_sign(msg).unwrap_or(DerSignature::EMPTY)
    }
}

/// A handshake's outcome as the connection's: open only when the verifier
/// authenticated the server (certificate and CertificateVerify verified,
/// nothing refused); a refusal comes back as its reason.
pub(crate) fn finish<E, D: TlsClock>(
    handshake: Result<(), TlsError>,
    verifier: &Verifier<'_, D>,
    wire: &Wire<E>,
) -> Result<(), TlsConnectError<E>> {
    match (handshake, verifier.refusal()) {
        (_, Some(why)) => Err(TlsConnectError::Certificate(why)),
        (Ok(()), None) if verifier.authenticated() => Ok(()),
        // Finished arrived without a verified Certificate +
        // CertificateVerify: never used.
        (Ok(()), None) => Err(TlsConnectError::Unauthenticated),
        (Err(e), None) => Err(wire.translate(e)),
    }
}

/// Whether `name` can be verified: a DNS name or an IP address.
pub(crate) fn valid_server_name(name: &str) -> bool {
    name.len() <= MAX_SERVER_NAME && rustls_pki_types::ServerName::try_from(name).is_ok()
}

/// Whether `name` is sent as SNI: DNS names only (RFC 6066 §3).
pub(crate) fn is_dns_name(name: &str) -> bool {
    matches!(
        rustls_pki_types::ServerName::try_from(name),
        Ok(rustls_pki_types::ServerName::DnsName(_))
    )
}

// ---- The transport under embedded-tls ----------------------------------------

/// How the peer ended the TCP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eof {
    /// Between two TLS records: a clean end (TCP FIN without close_notify).
    AtRecordBoundary,
    /// In the middle of a record: truncated.
    InsideRecord,
}

/// What the socket saw, kept for the stream to report: embedded-tls keeps
/// only the `ErrorKind` of an I/O error and says `IoError` for any end of
/// stream. Lives in the connector; the socket under embedded-tls holds a
/// shared reference.
pub(crate) struct Wire<E> {
    error: Cell<Option<E>>,
    eof: Cell<Option<Eof>>,
}

impl<E> Wire<E> {
    const fn new() -> Self {
        Self {
            error: Cell::new(None),
            eof: Cell::new(None),
        }
    }

    fn reset(&self) {
        self.error.set(None);
        self.eof.set(None);
    }

    fn eof(&self) -> Option<Eof> {
        self.eof.get()
    }

    /// Turns a TLS-layer error into ours: an I/O failure comes back as the
    /// socket's original error.
    pub(crate) fn translate(&self, e: TlsError) -> TlsConnectError<E> {
        match (e, self.error.take(), self.eof.get()) {
            (TlsError::Io(_), Some(io), _) => TlsConnectError::Transport(io),
            (TlsError::IoError, _, Some(Eof::InsideRecord)) => TlsConnectError::Truncated,
            (e, _, _) => TlsConnectError::Tls(e),
        }
    }
}

/// Follows the TLS record framing (5-byte header with the length in bytes
/// 3..5, then the body) of the bytes read, to tell a clean end of stream
/// from a truncated record.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Framing {
    /// Header bytes seen of the current header (0..5) and the first length byte.
    header_len: u8,
    len_hi: u8,
    body_left: usize,
}

impl Framing {
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = data.get(n..).unwrap_or_default();
            } else if let Some((&b, rest)) = data.split_first() {
                match self.header_len {
                    3 => self.len_hi = b,
                    4 => self.body_left = usize::from(u16::from_be_bytes([self.len_hi, b])),
                    _ => {}
                }
                self.header_len = if self.header_len == 4 {
                    0
                } else {
                    self.header_len + 1
                };
                data = rest;
            }
        }
    }

    pub(crate) fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.body_left == 0
    }
}

/// The caller's socket under embedded-tls, noting its errors and how the
/// stream ended in the connector's [`Wire`].
pub(crate) struct Socket<'w, S: ErrorType> {
    pub(crate) inner: S,
    pub(crate) wire: &'w Wire<S::Error>,
    pub(crate) framing: Framing,
}

impl<S: ErrorType> Socket<'_, S> {
    /// Keeps `e` and hands embedded-tls an error of the same kind.
    fn note(&self, e: S::Error) -> embedded_io::ErrorKind {
        use embedded_io::Error as _;
        let kind = e.kind();
        self.wire.error.set(Some(e));
        kind
    }

    fn after_read(&mut self, buf_len: usize, n: usize, data: &[u8]) {
        if n == 0 && buf_len > 0 {
            self.wire.eof.set(Some(if self.framing.at_boundary() {
                Eof::AtRecordBoundary
            } else {
                Eof::InsideRecord
            }));
        } else {
            self.framing.feed(data);
        }
    }
}

impl<S: ErrorType> ErrorType for Socket<'_, S> {
    type Error = embedded_io::ErrorKind;
}

impl<S: ErrorType + embedded_io::Read> embedded_io::Read for Socket<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.after_read(buf.len(), n, buf.get(..n).unwrap_or_default());
                Ok(n)
            }
            Err(e) => Err(self.note(e)),
        }
    }
}

impl<S: ErrorType + embedded_io::Write> embedded_io::Write for Socket<'_, S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.inner.write(buf).map_err(|e| self.note(e))
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().map_err(|e| self.note(e))
    }
}

#[cfg(feature = "async")]
impl<S: ErrorType + embedded_io_async::Read> embedded_io_async::Read for Socket<'_, S> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        match self.inner.read(buf).await {
            Ok(n) => {
                self.after_read(buf.len(), n, buf.get(..n).unwrap_or_default());
                Ok(n)
            }
            Err(e) => Err(self.note(e)),
        }
    }
}

#[cfg(feature = "async")]
impl<S: ErrorType + embedded_io_async::Write> embedded_io_async::Write for Socket<'_, S> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.inner.write(buf).await.map_err(|e| self.note(e))
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await.map_err(|e| self.note(e))
    }
}

// ---- The connector -------------------------------------------------------------

/// Opens verified TLS 1.3 connections over TCP connections from `opener`.
///
/// * `O`: your TCP opener ([`blocking::Open`] or [`asynch::Open`]).
/// * `R`: your `CryptoRng` (rand_core 0.6).
/// * `B`: the two record buffers (`&mut [u8]`, `[u8; N]`, `Vec<u8>`, ...).
/// * `D`: the wall clock for certificate dates ([`NoClock`]: see the module
///   docs for what a device without a clock gives up).
///
/// It implements the client's `Connect` traits, so it goes straight into
/// [`Client::token`](crate::Client::token); [`TlsConnector::open`]
/// (and `asynch().open` with feature `async`) opens connections to other hosts, e.g. the services
/// you call with the token.
///
/// ```no_run
/// # #[cfg(feature = "tls")] {
/// use embedded_oauth2::tls::{TlsConnector, READ_BUFFER, blocking::Open};
/// # struct Tcp;
/// # impl embedded_io::ErrorType for Tcp { type Error = core::convert::Infallible; }
/// # impl embedded_io::Read for Tcp { fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { Ok(0) } }
/// # impl embedded_io::Write for Tcp {
/// #     fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) }
/// #     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # struct Opener;
/// # impl embedded_io::ErrorType for Opener { type Error = core::convert::Infallible; }
/// # impl Open for Opener {
/// #     type Socket<'s> = Tcp;
/// #     fn open(&mut self, _: &str, _: u16) -> Result<Tcp, Self::Error> { Ok(Tcp) }
/// # }
/// # fn rng() -> impl embedded_oauth2::tls::CryptoRngCore { rand_core::OsRng }
/// static CA: &[u8] = &[/* your CA certificate, DER */];
/// let mut read = [0u8; READ_BUFFER];
/// let mut write = [0u8; 1024];
/// let mut tls = TlsConnector::new(Opener, rng(), CA, &mut read[..], &mut write[..])?;
/// let stream = tls.open("auth.example.com", 443)?; // verified TLS 1.3
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TlsConnector<'a, O: ErrorType, R, B, D = NoClock> {
    pub(crate) opener: O,
    pub(crate) rng: R,
    pub(crate) roots: Roots<'a>,
    pub(crate) server_name: Option<&'a str>,
    pub(crate) pin: Option<Pin>,
    pub(crate) max_fragment_length: Option<MaxFragmentLength>,
    pub(crate) read_buf: B,
    pub(crate) write_buf: B,
    pub(crate) wire: Wire<O::Error>,
    pub(crate) clock: PhantomData<fn() -> D>,
    #[cfg(feature = "mtls")]
    pub(crate) client: Option<ClientCertificate<'a>>,
}

impl<O: ErrorType, R, B, D> fmt::Debug for TlsConnector<'_, O, R, B, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("roots", &self.roots.len())
            .field("server_name", &self.server_name)
            .field("pin", &self.pin)
            .field(
                "max_fragment_length",
                &self.max_fragment_length.map(|m| m as u8),
            )
            .finish_non_exhaustive()
    }
}

impl<'a, O: ErrorType, R: CryptoRngCore, B: AsMut<[u8]>> TlsConnector<'a, O, R, B> {
    /// A connector that trusts `roots` (one CA certificate as DER bytes, a
    /// slice of them, or prepared [`TrustAnchor`]s: see [`Roots`]) and
    /// checks every server's name against the host it connects to.
    ///
    /// The read buffer decides the record size: with [`READ_BUFFER`] bytes
    /// or more any server works; a smaller one makes the connector ask for
    /// the largest `max_fragment_length` whose records it holds (4,357 bytes
    /// → 4 KiB records, 1,285 → 1 KiB, ...; at least 773 for 512-byte
    /// records), which only servers that honour the extension grant.
    /// `write_buf` needs at least [`MIN_WRITE_BUFFER`] bytes.
    ///
    /// ```
    /// # #[cfg(feature = "tls")] {
    /// use embedded_oauth2::tls::{SetupError, TlsConnector, read_buffer_len, MaxFragmentLength};
    /// # struct Opener;
    /// # impl embedded_io::ErrorType for Opener { type Error = core::convert::Infallible; }
    /// # let ca: &[u8] = &[];
    /// let (mut read, mut write) = ([0u8; 1285], [0u8; 1024]);
    /// let tls = TlsConnector::new(Opener, rand_core::OsRng, ca, &mut read[..], &mut write[..]);
    /// assert!(matches!(tls, Err(SetupError::CaCertificate))); // (no CA in this example)
    /// # }
    /// ```
    pub fn new(
        opener: O,
        rng: R,
        roots: impl Into<Roots<'a>>,
        mut read_buf: B,
        mut write_buf: B,
    ) -> Result<Self, SetupError> {
        let roots = roots.into();
        if !roots.are_valid() {
            return Err(SetupError::CaCertificate);
        }
        let write_len = write_buf.as_mut().len();
        if write_len < MIN_WRITE_BUFFER {
            return Err(SetupError::WriteBuffer {
                needed: MIN_WRITE_BUFFER,
                available: write_len,
            });
        }
        let read_len = read_buf.as_mut().len();
        let max_fragment_length = [
            None,
            Some(MaxFragmentLength::Bits12),
            Some(MaxFragmentLength::Bits11),
            Some(MaxFragmentLength::Bits10),
            Some(MaxFragmentLength::Bits9),
        ]
        .into_iter()
        .find(|&m| read_buffer_len(m) <= read_len)
        .ok_or(SetupError::ReadBuffer {
            needed: read_buffer_len(Some(MaxFragmentLength::Bits9)),
            available: read_len,
        })?;
        Ok(Self {
            opener,
            rng,
            roots,
            server_name: None,
            pin: None,
            max_fragment_length,
            read_buf,
            write_buf,
            wire: Wire::new(),
            clock: PhantomData,
            #[cfg(feature = "mtls")]
            client: None,
        })
    }

    /// The fragment length asked for (`None`: none, full 16 KiB records).
    pub fn max_fragment_length(&self) -> Option<MaxFragmentLength> {
        self.max_fragment_length
    }
}

impl<'a, O: ErrorType, R: CryptoRngCore, B: AsMut<[u8]>, D: TlsClock> TlsConnector<'a, O, R, B, D> {
    fn check_read_buffer(mut self) -> Result<Self, SetupError> {
        let needed = read_buffer_len(self.max_fragment_length);
        let available = self.read_buf.as_mut().len();
        if available < needed {
            return Err(SetupError::ReadBuffer { needed, available });
        }
        Ok(self)
    }

    /// Verifies every server against `name` instead of the host connected
    /// to (e.g. when connecting by IP address to a server whose certificate
    /// names `auth.example.com`).
    ///
    /// **Every** server this connector opens is then checked against
    /// `name` — the authorization server and the services you call with
    /// the token alike: a service whose certificate names another host is
    /// refused, and a service that holds a certificate for `name` is
    /// accepted wherever it is reached. Use one connector per server name
    /// (they can share nothing but the opener's sockets), and prefer
    /// connecting by name: an IP address is checked as itself now.
    pub fn with_server_name(mut self, name: &'a str) -> Result<Self, SetupError> {
        if !valid_server_name(name) {
            return Err(SetupError::ServerName);
        }
        self.server_name = Some(name);
        Ok(self)
    }

    /// Also requires the server's leaf certificate to match `pin` (the
    /// chain to the CA and the name are still checked).
    pub fn with_pin(mut self, pin: Pin) -> Self {
        self.pin = Some(pin);
        self
    }

    /// Asks servers for records of at most `length` bytes (RFC 6066), so a
    /// read buffer of [`read_buffer_len`]`(Some(length))` suffices when the
    /// server honours it (see the module docs). The read buffer must hold
    /// such records.
    pub fn with_max_fragment_length(
        mut self,
        length: MaxFragmentLength,
    ) -> Result<Self, SetupError> {
        self.max_fragment_length = Some(length);
        self.check_read_buffer()
    }

    /// Presents `certificate` (one DER X.509 certificate: the chain's
    /// leaf, whose key is an ECDSA P-256 key) when a server asks for one,
    /// and proves it holds the key by having `signer` sign the handshake
    /// (RFC 8446 §4.4.3) — a secure element keeps the key out of firmware
    /// memory. For mutual-TLS client authentication and certificate-bound
    /// tokens (RFC 8705): `ClientAuth::ClientIdOnly` at the token endpoint,
    /// the same connector (same certificate) to the services.
    ///
    /// A signer that fails makes the handshake fail (the server refuses
    /// the empty signature); nothing panics.
    ///
    /// The certificate goes to **every** server this connector opens that
    /// asks for one (after that server was verified), services included:
    /// it identifies the device to each of them. Where a host must not
    /// learn the device's identity, open it through a connector without a
    /// client certificate. Name the certificate in the client's
    /// configuration too
    /// ([`Config::with_tls_client_certificate`](crate::Config::with_tls_client_certificate)),
    /// so that a token bound to an older certificate is not restored.
    #[cfg(feature = "mtls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mtls")))]
    pub fn with_client_certificate(
        mut self,
        certificate: &'a [u8],
        signer: &'a (dyn crate::assertion::Es256Signer + Sync),
    ) -> Result<Self, SetupError> {
        if !der::is_certificate(certificate) {
            return Err(SetupError::ClientCertificate);
        }
        self.client = Some(ClientCertificate {
            der: certificate,
            signer,
        });
        Ok(self)
    }

    /// Checks certificate validity dates against `C::now()` (Unix seconds).
    pub fn with_clock<C: TlsClock>(self) -> TlsConnector<'a, O, R, B, C> {
        TlsConnector {
            opener: self.opener,
            rng: self.rng,
            roots: self.roots,
            server_name: self.server_name,
            pin: self.pin,
            max_fragment_length: self.max_fragment_length,
            read_buf: self.read_buf,
            write_buf: self.write_buf,
            wire: self.wire,
            clock: PhantomData,
            #[cfg(feature = "mtls")]
            client: self.client,
        }
    }

    /// Zeroizes both record buffers: after a connection, the read buffer
    /// holds the last decrypted records (a token response, a service's
    /// answer). The client does it after each exchange (`Connect::release`);
    /// call it after your own connections (`open`) too.
    pub fn wipe_buffers(&mut self) {
        use zeroize::Zeroize;
        self.read_buf.as_mut().zeroize();
        self.write_buf.as_mut().zeroize();
    }

    /// The TCP opener, e.g. to count or configure its connections.
    pub fn opener_mut(&mut self) -> &mut O {
        &mut self.opener
    }

    /// The trusted roots.
    pub fn roots(&self) -> Roots<'a> {
        self.roots
    }

    /// The name verified for `host`: the override, or `host` itself.
    pub(crate) fn name_for<'h>(&self, host: &'h str) -> Result<&'h str, TlsConnectError<O::Error>>
    where
        'a: 'h,
    {
        let name = self.server_name.unwrap_or(host);
        if valid_server_name(name) {
            Ok(name)
        } else {
            Err(TlsConnectError::ServerName)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory socket: reads `input`, records writes and flushes,
    /// fails with `fail` when set.
    #[derive(Default)]
    struct Mem {
        input: std::vec::Vec<u8>,
        written: std::vec::Vec<u8>,
        flushes: usize,
        fail: Option<embedded_io::ErrorKind>,
    }
    impl ErrorType for Mem {
        type Error = embedded_io::ErrorKind;
    }
    impl Mem {
        fn read_into(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
            if let Some(e) = self.fail {
                return Err(e);
            }
            let n = buf.len().min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            Ok(n)
        }
    }
    impl embedded_io::Read for Mem {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            self.read_into(buf)
        }
    }
    impl embedded_io::Write for Mem {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            self.flushes += 1;
            self.fail.map_or(Ok(()), Err)
        }
    }
    #[cfg(feature = "async")]
    impl embedded_io_async::Read for Mem {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            self.read_into(buf)
        }
    }
    #[cfg(feature = "async")]
    impl embedded_io_async::Write for Mem {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        async fn flush(&mut self) -> Result<(), Self::Error> {
            self.flushes += 1;
            self.fail.map_or(Ok(()), Err)
        }
    }

    /// A socket under embedded-tls over an in-memory stream of `input`.
    fn socket<'w>(wire: &'w Wire<embedded_io::ErrorKind>, input: &[u8]) -> Socket<'w, Mem> {
        Socket {
            inner: Mem {
                input: input.to_vec(),
                ..Mem::default()
            },
            wire,
            framing: Framing::default(),
        }
    }

    /// One record (3-byte body) and the first 2 bytes of a second header.
    const RECORDS: [u8; 10] = [23, 3, 3, 0, 3, 1, 2, 3, 23, 3];

    #[test]
    fn the_socket_passes_bytes_through_and_notes_how_the_stream_ended() {
        use embedded_io::{Read, Write};
        let wire: Wire<embedded_io::ErrorKind> = Wire::new();
        let mut s = socket(&wire, &RECORDS[..8]);
        // An empty read is not the end of the stream.
        assert_eq!(s.read(&mut []), Ok(0));
        assert_eq!(wire.eof(), None);
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf), Ok(8));
        assert_eq!(&buf[..8], &RECORDS[..8]);
        assert_eq!(s.read(&mut buf), Ok(0));
        assert_eq!(wire.eof(), Some(Eof::AtRecordBoundary));
        assert_eq!(s.write(b"hello"), Ok(5));
        assert_eq!(s.flush(), Ok(()));
        assert_eq!(
            (s.inner.written.as_slice(), s.inner.flushes),
            (&b"hello"[..], 1)
        );
        // Ending inside a record; then a failing socket keeps its error.
        wire.reset();
        let mut s = socket(&wire, &RECORDS);
        assert_eq!(s.read(&mut buf), Ok(10));
        assert_eq!(s.read(&mut buf), Ok(0));
        assert_eq!(wire.eof(), Some(Eof::InsideRecord));
        s.inner.fail = Some(embedded_io::ErrorKind::ConnectionReset);
        assert_eq!(s.flush(), Err(embedded_io::ErrorKind::ConnectionReset));
        assert!(matches!(
            wire.translate(TlsError::Io(embedded_io::ErrorKind::ConnectionReset)),
            TlsConnectError::Transport(embedded_io::ErrorKind::ConnectionReset)
        ));
    }

    #[cfg(feature = "async")]
    #[test]
    fn the_async_socket_does_the_same() {
        use embedded_io_async::{Read, Write};
        let wire: Wire<embedded_io::ErrorKind> = Wire::new();
        let mut s = socket(&wire, &RECORDS);
        embassy_futures::block_on(async {
            let mut buf = [0u8; 16];
            assert_eq!(s.read(&mut []).await, Ok(0));
            assert_eq!(wire.eof(), None);
            assert_eq!(s.read(&mut buf).await, Ok(10));
            assert_eq!(&buf[..10], &RECORDS);
            assert_eq!(s.read(&mut buf).await, Ok(0));
            assert_eq!(wire.eof(), Some(Eof::InsideRecord));
            assert_eq!(s.write(b"hi").await, Ok(2));
            assert_eq!(s.flush().await, Ok(()));
            s.inner.fail = Some(embedded_io::ErrorKind::TimedOut);
            assert_eq!(
                s.read(&mut buf).await,
                Err(embedded_io::ErrorKind::TimedOut)
            );
            assert_eq!(s.flush().await, Err(embedded_io::ErrorKind::TimedOut));
        });
        assert_eq!(
            (s.inner.written.as_slice(), s.inner.flushes),
            (&b"hi"[..], 2)
        );
        assert!(matches!(
            wire.translate(TlsError::Io(embedded_io::ErrorKind::TimedOut)),
            TlsConnectError::Transport(embedded_io::ErrorKind::TimedOut)
        ));
    }

    #[test]
    fn buffers_are_checked_against_exactly_what_is_needed() {
        let ca = fake_ca();
        let new = |read: usize, write: usize| {
            TlsConnector::new(
                Mem::default(),
                rand_core::OsRng,
                &ca[..],
                std::vec![0u8; read],
                std::vec![0u8; write],
            )
        };
        // The read buffer picks the largest fragment length it can hold.
        let mfl = |read| new(read, MIN_WRITE_BUFFER).map(|c| c.max_fragment_length());
        assert_eq!(mfl(READ_BUFFER).ok(), Some(None));
        assert_eq!(
            mfl(READ_BUFFER - 1).ok(),
            Some(Some(MaxFragmentLength::Bits12))
        );
        let bits11 = read_buffer_len(Some(MaxFragmentLength::Bits11));
        assert_eq!(mfl(bits11).ok(), Some(Some(MaxFragmentLength::Bits11)));
        assert_eq!(mfl(bits11 - 1).ok(), Some(Some(MaxFragmentLength::Bits10)));
        let bits9 = read_buffer_len(Some(MaxFragmentLength::Bits9));
        assert!(matches!(
            mfl(bits9 - 1),
            Err(SetupError::ReadBuffer { needed, available }) if needed == bits9 && available == bits9 - 1
        ));
        assert!(matches!(
            new(READ_BUFFER, MIN_WRITE_BUFFER - 1),
            Err(SetupError::WriteBuffer {
                needed: MIN_WRITE_BUFFER,
                ..
            })
        ));
        // Asking for a fragment length: the buffer must hold it, exactly.
        let c = new(bits11, MIN_WRITE_BUFFER).unwrap();
        assert!(
            c.with_max_fragment_length(MaxFragmentLength::Bits11)
                .is_ok()
        );
        let c = new(bits11, MIN_WRITE_BUFFER).unwrap();
        assert!(matches!(
            c.with_max_fragment_length(MaxFragmentLength::Bits12),
            Err(SetupError::ReadBuffer { available, .. }) if available == bits11
        ));
        let mut short = ca.clone();
        short.pop();
        assert!(matches!(
            TlsConnector::new(
                Mem::default(),
                rand_core::OsRng,
                &short[..],
                std::vec![0u8; READ_BUFFER],
                std::vec![0u8; MIN_WRITE_BUFFER],
            ),
            Err(SetupError::CaCertificate)
        ));
    }

    #[test]
    fn error_kinds_keep_the_transports() {
        use embedded_io::{Error as _, ErrorKind};
        type E = TlsConnectError<ErrorKind>;
        assert_eq!(
            E::Transport(ErrorKind::ConnectionRefused).kind(),
            ErrorKind::ConnectionRefused
        );
        assert_eq!(
            E::Tls(TlsError::Io(ErrorKind::TimedOut)).kind(),
            ErrorKind::TimedOut
        );
        assert_eq!(
            E::Tls(TlsError::InvalidCertificate).kind(),
            ErrorKind::Other
        );
        assert_eq!(E::Truncated.kind(), ErrorKind::ConnectionReset);
        assert_eq!(E::ServerName.kind(), ErrorKind::InvalidInput);
        assert_eq!(E::Closed.kind(), ErrorKind::NotConnected);
        assert_eq!(E::Unauthenticated.kind(), ErrorKind::Other);
    }

    #[test]
    fn errors_each_say_what_is_wrong() {
        use std::string::{String, ToString};
        use std::vec::Vec;
        let setup: Vec<String> = [
            SetupError::CaCertificate,
            SetupError::ServerName,
            SetupError::ReadBuffer {
                needed: 16_645,
                available: 4096,
            },
            SetupError::WriteBuffer {
                needed: 1024,
                available: 100,
            },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert!(
            setup[2].contains("16645") && setup[2].contains("4096"),
            "{setup:?}"
        );
        assert!(
            setup[3].contains("write") && setup[3].contains("100"),
            "{setup:?}"
        );
        let conn: Vec<String> = [
            TlsConnectError::Transport("socket reset"),
            TlsConnectError::Certificate(CertError::UnknownIssuer),
            TlsConnectError::Tls(TlsError::InvalidCertificate),
            TlsConnectError::Truncated,
            TlsConnectError::Unauthenticated,
            TlsConnectError::ServerName,
            TlsConnectError::Closed,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(conn[0], "socket reset", "the opener's error, as it is");
        assert!(
            conn[1].starts_with("TLS: certificate refused: ") && conn[1].contains("trusted root"),
            "{conn:?}"
        );
        let mut all: Vec<&String> = setup.iter().chain(&conn).collect();
        assert!(all.iter().all(|m| !m.is_empty()));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), setup.len() + conn.len(), "distinct messages");
        let described: Vec<&str> = [
            TlsError::InvalidCertificate,
            TlsError::InvalidSignature,
            TlsError::InvalidSignatureScheme,
            TlsError::InvalidHandshake,
            TlsError::IoError,
            TlsError::ConnectionClosed,
            TlsError::Unimplemented,
            TlsError::InsufficientSpace,
            TlsError::InvalidCipherSuite,
            TlsError::CryptoError,
            TlsError::EncodeError,
            TlsError::HandshakeAborted(
                embedded_tls::alert::AlertLevel::Fatal,
                embedded_tls::alert::AlertDescription::HandshakeFailure,
            ),
            TlsError::AbortHandshake(
                embedded_tls::alert::AlertLevel::Fatal,
                embedded_tls::alert::AlertDescription::BadCertificate,
            ),
        ]
        .iter()
        .map(TlsConnectError::<()>::describe)
        .collect();
        let mut distinct = described.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), described.len(), "{described:?}");
        for (same, as_) in [
            (TlsError::InvalidCertificateEntry, 0),
            (TlsError::MissingHandshake, 3),
            (TlsError::Io(embedded_io::ErrorKind::Other), 4),
            (TlsError::OutOfMemory, 7),
            (TlsError::InvalidKeyShare, 8),
            (TlsError::InvalidApplicationData, 9),
        ] {
            assert_eq!(TlsConnectError::<()>::describe(&same), described[as_]);
        }
        assert_eq!(described[10], "TLS protocol error");
    }

    #[test]
    fn framing_tracks_record_boundaries_in_any_split() {
        // two records: 3-byte body, then 0-byte body, then a partial header
        let bytes = [23, 3, 3, 0, 3, 1, 2, 3, 23, 3, 3, 0, 0, 23, 3];
        for split in 0..=bytes.len() {
            let mut f = Framing::default();
            f.feed(&bytes[..split]);
            f.feed(&bytes[split..]);
            assert!(!f.at_boundary(), "split {split}");
        }
        let mut f = Framing::default();
        f.feed(&bytes[..13]);
        assert!(f.at_boundary());
        for n in 1..13 {
            let mut f = Framing::default();
            f.feed(&bytes[..n]);
            assert_eq!(f.at_boundary(), n == 8, "prefix {n}");
        }
        let mut f = Framing::default();
        for b in &bytes[..13] {
            f.feed(core::slice::from_ref(b));
        }
        assert!(f.at_boundary());
    }

    /// DNS names and IP addresses (v4 and v6, without brackets) can be
    /// verified; only DNS names are sent as SNI.
    #[test]
    fn server_names() {
        let longest = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(longest.len(), MAX_SERVER_NAME);
        for ok in [
            "localhost",
            "auth.example.com",
            "a",
            "1.2.3.example",
            "host.example.co.uk",
            "a.b.c.d",
            longest.as_str(),
        ] {
            assert!(valid_server_name(ok) && is_dns_name(ok), "{ok}");
        }
        for ip in ["127.0.0.1", "10.0.0.255", "::1", "2001:db8::1"] {
            assert!(valid_server_name(ip) && !is_dns_name(ip), "{ip}");
        }
        let long = std::format!("{longest}e");
        let label = "a".repeat(64);
        for bad in ["", "[::1]", "a b", "a..b", long.as_str(), label.as_str()] {
            assert!(!valid_server_name(bad), "{bad}");
        }
    }

    /// A new connection forgets how the previous one ended.
    #[test]
    fn wire_reset_forgets_the_last_connection() {
        let w: Wire<&str> = Wire::new();
        w.eof.set(Some(Eof::InsideRecord));
        assert!(matches!(
            w.translate(TlsError::IoError),
            TlsConnectError::Truncated
        ));
        w.error.set(Some("reset by peer"));
        w.reset();
        assert_eq!(w.eof(), None);
        assert!(matches!(
            w.translate(TlsError::Io(embedded_io::ErrorKind::Other)),
            TlsConnectError::Tls(TlsError::Io(_))
        ));
        assert!(matches!(
            w.translate(TlsError::IoError),
            TlsConnectError::Tls(TlsError::IoError)
        ));
    }

    /// No stream opens unless the verifier authenticated the server: a
    /// handshake that finished without verifying (as embedded-tls does when
    /// a provider has no verifier, or the server skipped its certificate)
    /// is `Unauthenticated`; a refusal is the refusal, whatever the
    /// handshake says.
    #[test]
    fn only_an_authenticated_handshake_opens() {
        let wire: Wire<&str> = Wire::new();
        let root: &[u8] = &[0x30, 0x00];
        let v = Verifier::<NoClock>::new(Roots::Certificate(root), "a.example", None);
        assert!(matches!(
            finish(Ok(()), &v, &wire),
            Err(TlsConnectError::Unauthenticated)
        ));
        assert!(matches!(
            finish(Err(TlsError::InvalidHandshake), &v, &wire),
            Err(TlsConnectError::Tls(TlsError::InvalidHandshake))
        ));
        // A refused certificate: its reason, even on an Ok handshake.
        let mut v = Verifier::<NoClock>::new(Roots::Certificate(root), "a.example", None);
        let cert = embedded_tls::blocking::CertificateRef::with_context(&[]);
        assert!(
            TlsVerifier::<Suite>::verify_certificate(&mut v, &sha2::Sha256::default(), cert)
                .is_err()
        );
        for handshake in [Ok(()), Err(TlsError::InvalidCertificate)] {
            assert!(matches!(
                finish(handshake, &v, &wire),
                Err(TlsConnectError::Certificate(CertError::Malformed))
            ));
        }
        // The provider always hands embedded-tls the verifier (an `Err`
        // would make it skip verification silently).
        let mut rng = rand_core::OsRng;
        let mut provider = Provider {
            rng: &mut rng,
            verifier: Verifier::<NoClock>::new(Roots::Certificate(root), "a.example", None),
            #[cfg(feature = "mtls")]
            client: None,
            #[cfg(not(feature = "mtls"))]
            client: PhantomData,
        };
        assert!(CryptoProvider::verifier(&mut provider).is_ok());
    }

    /// A real self-signed P-256 root whose key was discarded: enough to
    /// build a connector that never connects.
    fn fake_ca() -> std::vec::Vec<u8> {
        include_bytes!("../../tests/data/tls/unit-root.der").to_vec()
    }

    struct NoTcp;
    impl ErrorType for NoTcp {
        type Error = core::convert::Infallible;
    }

    /// The read buffer decides the fragment length asked for; too small a
    /// buffer, a write buffer under the minimum, a bad CA or server name is
    /// a setup error naming the need.
    #[test]
    fn read_buffer_chooses_the_fragment_length() {
        let ca = fake_ca();
        let make = |read: usize, write: usize| {
            TlsConnector::new(
                NoTcp,
                rand_core::OsRng,
                &ca[..],
                std::vec![0u8; read],
                std::vec![0u8; write],
            )
        };
        let cases = [
            (READ_BUFFER, None),
            (READ_BUFFER + 100, None),
            (READ_BUFFER - 1, Some(MaxFragmentLength::Bits12)),
            (4096 + 261, Some(MaxFragmentLength::Bits12)),
            (4096 + 260, Some(MaxFragmentLength::Bits11)),
            (1024 + 261, Some(MaxFragmentLength::Bits10)),
            (512 + 261, Some(MaxFragmentLength::Bits9)),
        ];
        for (read, mfl) in cases {
            let tls = make(read, 1024).unwrap();
            assert_eq!(
                tls.max_fragment_length().map(|m| m as u8),
                mfl.map(|m| m as u8),
                "{read}"
            );
        }
        assert!(matches!(
            make(772, 1024),
            Err(SetupError::ReadBuffer {
                needed: 773,
                available: 772
            })
        ));
        assert!(matches!(
            make(READ_BUFFER, 255),
            Err(SetupError::WriteBuffer {
                needed: 256,
                available: 255
            })
        ));
        // Asking for more than the buffer holds is refused; less is fine.
        let small = make(1285, 1024).unwrap();
        assert!(matches!(
            small.with_max_fragment_length(MaxFragmentLength::Bits12),
            Err(SetupError::ReadBuffer {
                needed: 4357,
                available: 1285
            })
        ));
        let tls = make(1285, 1024)
            .unwrap()
            .with_max_fragment_length(MaxFragmentLength::Bits9)
            .unwrap();
        assert_eq!(tls.max_fragment_length().map(|m| m as u8), Some(1));
        assert!(matches!(
            TlsConnector::new(
                NoTcp,
                rand_core::OsRng,
                &ca[1..],
                std::vec![0u8; READ_BUFFER],
                std::vec![0u8; 1024]
            ),
            Err(SetupError::CaCertificate)
        ));
        for bad in ["", "[::1]", "a b"] {
            assert!(matches!(
                make(READ_BUFFER, 1024).unwrap().with_server_name(bad),
                Err(SetupError::ServerName)
            ));
        }
    }

    #[test]
    fn read_buffer_rule() {
        assert_eq!(READ_BUFFER, 16_645);
        assert_eq!(read_buffer_len(Some(MaxFragmentLength::Bits12)), 4096 + 261);
        assert_eq!(read_buffer_len(Some(MaxFragmentLength::Bits9)), 512 + 261);
    }

    /// The DER signature against p256's own encoding, for values with
    /// leading zero bytes, a set top bit, both, and zero.
    #[cfg(feature = "mtls")]
    #[test]
    fn der_signatures_match_p256() {
        let mut cases: std::vec::Vec<[u8; 64]> = std::vec::Vec::new();
        for (hi_r, hi_s) in [(0x01u8, 0x7f), (0x80, 0xff), (0x00, 0x80), (0x7f, 0x00)] {
            let mut rs = [0x5au8; 64];
            rs[0] = hi_r;
            rs[32] = hi_s;
            cases.push(rs);
            // Leading zero bytes.
            let mut z = rs;
            z[..3].fill(0);
            z[32..34].fill(0);
            z[34] = 0x90;
            cases.push(z);
        }
        for rs in cases {
            let ours = DerSignature::from_raw(&rs);
            let theirs = p256::ecdsa::Signature::from_slice(&rs).unwrap().to_der();
            assert_eq!(ours.as_ref(), theirs.as_bytes(), "{rs:02x?}");
        }
        // r = 0 is not a valid signature, but still a well-formed INTEGER.
        let mut zero = [0u8; 64];
        zero[63] = 1;
        assert_eq!(
            DerSignature::from_raw(&zero).as_ref(),
            &[0x30, 6, 0x02, 1, 0, 0x02, 1, 1]
        );
        assert_eq!(DerSignature::EMPTY.as_ref(), &[] as &[u8]);
    }
}
