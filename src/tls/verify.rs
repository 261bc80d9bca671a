//! The server check: rustls-webpki 0.103 (no allocator) over the chain the
//! server sends, plus the pin and the CertificateVerify signature.
//!
//! One sans-IO core, [`verify_server_chain`], decides whether a chain is
//! trusted for a name at a time; [`Verifier`] is embedded-tls's
//! `TlsVerifier` around it and adds what a handshake needs (the pin, the
//! order of the messages, the CertificateVerify signature with the leaf's
//! key over the transcript hash).

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

use embedded_tls::SignatureScheme;
use embedded_tls::blocking::{
    Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef, TlsClock, TlsError,
    TlsVerifier,
};
use rustls_pki_types::{
    CertificateDer, ServerName, SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use sha2::{Digest, Sha256};

use super::der;

/// Intermediate certificates of a server's chain that are considered (the
/// chain's later entries are refused: [`CertError::TooComplex`]). webpki
/// builds paths of at most 6 intermediates.
pub const MAX_INTERMEDIATES: usize = 8;

// ---- Trust anchors -------------------------------------------------------------

/// The roots a server's chain must lead to.
///
/// * [`Roots::Certificate`] / [`Roots::Certificates`] /
///   [`Roots::Concatenated`]: DER certificates, one, a slice of them, or a
///   bundle in one buffer (webpki reads each as a trust anchor at every
///   handshake; cheap).
/// * [`Roots::Anchors`]: anchors prepared once, e.g. a `static` slice of
///   [`TrustAnchor`]s in flash (`TrustAnchor { subject, subject_public_key_info,
///   name_constraints }`, each a `Der::from_slice`), as `webpki-roots` does.
///
/// A root's name constraints apply (webpki reads them from a DER root
/// too); its validity dates and other extensions do not (it is trusted as
/// given).
///
/// A prepared anchor holds the contents (without tag and length) of the
/// root's `subject` and `subjectPublicKeyInfo`, as
/// `webpki::anchor_from_trusted_cert` gives them: prepare them at build
/// time and keep them in flash.
///
/// ```
/// # #[cfg(feature = "tls")] {
/// use embedded_oauth2::tls::{Der, Roots, TrustAnchor};
/// static ANCHORS: &[TrustAnchor<'static>] = &[TrustAnchor {
///     subject: Der::from_slice(&[/* the root's subject, contents */]),
///     subject_public_key_info: Der::from_slice(&[/* its SPKI, contents */]),
///     name_constraints: None,
/// }];
/// let roots = Roots::Anchors(ANCHORS);
/// assert_eq!(roots.len(), 1);
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Roots<'a> {
    /// One root certificate (DER).
    Certificate(&'a [u8]),
    /// Several root certificates (DER); a chain to any of them is trusted.
    Certificates(&'a [&'a [u8]]),
    /// Several root certificates (DER) one after another in one buffer, as
    /// `cat root-a.der root-b.der > roots.der` writes them: one
    /// `include_bytes!` (or one file read) for a whole bundle. A chain to
    /// any of them is trusted.
    ///
    /// ```
    /// # #[cfg(feature = "tls")] {
    /// use embedded_oauth2::tls::Roots;
    /// # let (a, b): (&[u8], &[u8]) = (&[0x30, 0x00], &[0x30, 0x00]);
    /// // static ROOTS: &[u8] = include_bytes!("roots.der");
    /// let mut bundle = Vec::new();
    /// bundle.extend_from_slice(a);
    /// bundle.extend_from_slice(b);
    /// assert_eq!(Roots::Concatenated(&bundle).len(), 2);
    /// # }
    /// ```
    Concatenated(&'a [u8]),
    /// Prepared trust anchors; a chain to any of them is trusted.
    Anchors(&'a [TrustAnchor<'a>]),
}

impl<'a> From<&'a [u8]> for Roots<'a> {
    fn from(der: &'a [u8]) -> Self {
        Self::Certificate(der)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Roots<'a> {
    fn from(der: &'a [u8; N]) -> Self {
        Self::Certificate(der)
    }
}

impl<'a> From<&'a [&'a [u8]]> for Roots<'a> {
    fn from(ders: &'a [&'a [u8]]) -> Self {
        Self::Certificates(ders)
    }
}

impl<'a> From<&'a [TrustAnchor<'a>]> for Roots<'a> {
    fn from(anchors: &'a [TrustAnchor<'a>]) -> Self {
        Self::Anchors(anchors)
    }
}

impl Roots<'_> {
    /// How many roots.
    pub fn len(&self) -> usize {
        match self {
            Self::Certificate(_) => 1,
            Self::Certificates(c) => c.len(),
            Self::Concatenated(blob) => concatenated(blob).count(),
            Self::Anchors(a) => a.len(),
        }
    }

    /// Whether there is no root (a connector refuses that).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether there is at least one root and every certificate is one
    /// DER X.509 certificate webpki takes as a trust anchor.
    pub(crate) fn are_valid(&self) -> bool {
        let ok = |der: &[u8]| der::is_certificate(der) && anchor(der).is_some();
        !self.is_empty()
            && match self {
                Self::Certificate(der) => ok(der),
                Self::Certificates(ders) => ders.iter().all(|d| ok(d)),
                Self::Concatenated(blob) => concatenated(blob).all(|d| d.is_some_and(ok)),
                Self::Anchors(_) => true,
            }
    }

    /// Runs `verify` with the anchors: all at once when prepared, one
    /// certificate at a time otherwise (nothing to allocate). The first
    /// success wins; of the failures, the most telling one is kept (any
    /// over "unknown issuer", which every unrelated root gives).
    fn verify(
        &self,
        mut verify: impl FnMut(&[TrustAnchor<'_>]) -> Result<(), webpki::Error>,
    ) -> Result<(), webpki::Error> {
        let mut best = webpki::Error::UnknownIssuer;
        let mut try_root = |der: &[u8]| {
            let cert = CertificateDer::from_slice(der);
            let Ok(anchor) = webpki::anchor_from_trusted_cert(&cert) else {
                return false;
            };
            match verify(core::slice::from_ref(&anchor)) {
                Ok(()) => return true,
                Err(webpki::Error::UnknownIssuer) => {}
                Err(e) => {
                    if matches!(best, webpki::Error::UnknownIssuer) {
                        best = e;
                    }
                }
            }
            false
        };
        let trusted = match self {
            Self::Anchors(anchors) => return verify(anchors),
            Self::Certificate(der) => try_root(der),
            Self::Certificates(ders) => ders.iter().any(|d| try_root(d)),
            // A malformed tail ends the bundle (`are_valid` refuses it up
            // front).
            Self::Concatenated(blob) => concatenated(blob).map_while(|d| d).any(try_root),
        };
        if trusted {
            return Ok(());
        }
        Err(best)
    }
}

/// The DER TLVs of a concatenated bundle, in order; `None` (then the end)
/// where the rest is not one whole TLV.
fn concatenated(mut blob: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    core::iter::from_fn(move || {
        if blob.is_empty() {
            return None;
        }
        match der::Tlv::parse(blob) {
            Some(t) => {
                blob = t.rest;
                Some(Some(t.whole))
            }
            None => {
                blob = &[];
                Some(None)
            }
        }
    })
}

fn anchor(der: &[u8]) -> Option<()> {
    webpki::anchor_from_trusted_cert(&CertificateDer::from_slice(der))
        .ok()
        .map(drop)
}

// ---- Why a server was refused ----------------------------------------------------

/// Why the server's certificate (or its handshake signature) was refused.
///
/// Its `Display` is one plain sentence; `TlsConnectError::Certificate`
/// carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CertError {
    /// No path from the server's certificate to a trusted root (an
    /// unrelated CA, a missing intermediate, a self-signed certificate).
    UnknownIssuer,
    /// The certificate is not valid for the server name (webpki matches
    /// subjectAltName DNS names and IP addresses; never the CN).
    Name,
    /// A certificate of the chain has expired.
    Expired,
    /// A certificate of the chain is not valid yet (or the clock is behind).
    NotYetValid,
    /// The server's certificate's extendedKeyUsage does not allow TLS
    /// server authentication (serverAuth).
    KeyUsage,
    /// A certificate is used beyond its constraints: a CA:false
    /// certificate (or one without basicConstraints) as an issuer, a
    /// path longer than a pathLenConstraint, a CA whose keyUsage lacks
    /// keyCertSign, a name outside a name constraint, or a CA certificate
    /// as the server's.
    Constraints,
    /// A certificate has a critical extension webpki does not understand.
    CriticalExtension,
    /// A signature algorithm or key type this build does not verify.
    UnsupportedAlgorithm,
    /// A signature of the chain, or the server's CertificateVerify, does
    /// not verify.
    BadSignature,
    /// The server's certificate does not match the pin.
    Pin,
    /// The chain is empty, not X.509 certificates, or malformed DER.
    Malformed,
    /// The chain is longer than [`MAX_INTERMEDIATES`], or too long or
    /// costly to build a path through.
    TooComplex,
    /// The name to verify is neither a DNS name nor an IP address.
    ServerName,
    /// Refused by a check that has no variant of its own (webpki's
    /// revocation errors, which the connector does not ask for).
    Other,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownIssuer => {
                "the server's certificate does not lead to a trusted root certificate"
            }
            Self::Name => "the server's certificate is not valid for the server name",
            Self::Expired => "a certificate of the server's chain has expired",
            Self::NotYetValid => {
                "a certificate of the server's chain is not valid yet (or the clock is behind)"
            }
            Self::KeyUsage => {
                "the server's certificate is not for TLS servers (its extended key usage lacks \
                 serverAuth)"
            }
            Self::Constraints => {
                "a certificate of the server's chain is used beyond its constraints (a non-CA as \
                 an issuer, a path length, key usage, a name constraint, or a CA as the server)"
            }
            Self::CriticalExtension => {
                "a certificate of the server's chain has a critical extension this client does \
                 not know"
            }
            Self::UnsupportedAlgorithm => {
                "the server uses a signature algorithm or key this client is built without"
            }
            Self::BadSignature => "a signature of the server's chain or handshake is invalid",
            Self::Pin => "the server's certificate does not match the pin",
            Self::Malformed => "the server's certificate chain is empty or malformed",
            Self::TooComplex => "the server's certificate chain is too long to verify",
            Self::ServerName => "the name to verify is neither a DNS name nor an IP address",
            Self::Other => "the server's certificate was refused",
        })
    }
}

impl core::error::Error for CertError {}

impl CertError {
    /// The refusal a webpki error stands for.
    fn from_webpki(e: &webpki::Error) -> Self {
        use webpki::Error as W;
        #[allow(deprecated)]
        match e {
            W::UnknownIssuer | W::CertDistrusted => Self::UnknownIssuer,
            W::CertNotValidForName(_) => Self::Name,
            W::CertExpired { .. } => Self::Expired,
            W::CertNotValidYet { .. } => Self::NotYetValid,
            W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => {
                Self::KeyUsage
            }
            W::CaUsedAsEndEntity
            | W::EndEntityUsedAsCa
            | W::PathLenConstraintViolated
            | W::NameConstraintViolation
            | W::InvalidNetworkMaskConstraint
            | W::MalformedNameConstraint
            | W::UnsupportedNameType => Self::Constraints,
            W::UnsupportedCriticalExtension => Self::CriticalExtension,
            W::UnsupportedSignatureAlgorithm
            | W::UnsupportedSignatureAlgorithmContext(_)
            | W::UnsupportedSignatureAlgorithmForPublicKey
            | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
            | W::SignatureAlgorithmMismatch => Self::UnsupportedAlgorithm,
            W::InvalidSignatureForPublicKey => Self::BadSignature,
            W::BadDer
            | W::BadDerTime
            | W::TrailingData(_)
            | W::MalformedExtensions
            | W::ExtensionValueInvalid
            | W::InvalidCertValidity
            | W::InvalidSerialNumber
            | W::UnsupportedCertVersion
            | W::MalformedDnsIdentifier => Self::Malformed,
            W::MaximumPathDepthExceeded
            | W::MaximumPathBuildCallsExceeded
            | W::MaximumSignatureChecksExceeded
            | W::MaximumNameConstraintComparisonsExceeded => Self::TooComplex,
            _ => Self::Other,
        }
    }
}

// ---- The sans-IO check -------------------------------------------------------------

/// Whether `chain` (DER certificates, the server's leaf first, then the
/// intermediates it sent, in any order) leads to one of `roots`, is valid
/// for `server_name` (a DNS name or an IP address) and for TLS server
/// authentication, at `now` (Unix seconds).
///
/// `now: None` (a device without a clock) verifies at the latest notBefore
/// of the chain's certificates, the first moment they are all valid:
/// certificate dates are then as good as unchecked (see the module docs). The pin and the CertificateVerify signature are the
/// connector's (they need the handshake); everything else is here, and the
/// connector verifies through this function.
///
/// ```
/// # #[cfg(feature = "tls")] {
/// use embedded_oauth2::tls::{CertError, Roots, verify_server_chain};
/// let root: &[u8] = &[0x30, 0x00]; // (not a real root)
/// let r = verify_server_chain(&[b"not DER"], Roots::Certificate(root), "auth.example.com", None);
/// assert_eq!(r, Err(CertError::Malformed));
/// # }
/// ```
pub fn verify_server_chain(
    chain: &[&[u8]],
    roots: Roots<'_>,
    server_name: &str,
    now: Option<u64>,
) -> Result<(), CertError> {
    let (leaf, rest) = chain.split_first().ok_or(CertError::Malformed)?;
    check(leaf, rest.iter().map(|c| Some(*c)), roots, server_name, now)
}

/// The check itself: the leaf and the other entries (`None`: an entry that
/// is no X.509 certificate).
fn check<'c>(
    leaf: &'c [u8],
    others: impl Iterator<Item = Option<&'c [u8]>>,
    roots: Roots<'_>,
    server_name: &str,
    now: Option<u64>,
) -> Result<(), CertError> {
    let name = ServerName::try_from(server_name).map_err(|_| CertError::ServerName)?;
    let mut intermediates: [CertificateDer<'c>; MAX_INTERMEDIATES] =
        core::array::from_fn(|_| CertificateDer::from_slice(&[]));
    let mut count = 0;
    // Without a clock: the latest notBefore of the chain, the earliest
    // moment at which all its certificates are valid (if any is).
    let mut latest_start = der::not_before(leaf).ok_or(CertError::Malformed)?;
    for other in others {
        let slot = intermediates.get_mut(count).ok_or(CertError::TooComplex)?;
        let other = other.ok_or(CertError::Malformed)?;
        latest_start = latest_start.max(der::not_before(other).unwrap_or(0));
        *slot = CertificateDer::from_slice(other);
        count += 1;
    }
    let intermediates = intermediates.get(..count).unwrap_or_default();
    let time = UnixTime::since_unix_epoch(Duration::from_secs(now.unwrap_or(latest_start)));
    let leaf_der = CertificateDer::from_slice(leaf);
    let leaf =
        webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| CertError::from_webpki(&e))?;
    // webpki ignores keyUsage; a CA certificate whose keyUsage does not
    // allow keyCertSign must not issue. Checked on every path webpki finds.
    let no_cert_sign = Cell::new(false);
    let key_usage = |path: &webpki::VerifiedPath<'_>| {
        for ca in path.intermediate_certificates() {
            if der::allows_cert_sign(ca.der().as_ref()) != Some(true) {
                no_cert_sign.set(true);
                return Err(webpki::Error::EndEntityUsedAsCa);
            }
        }
        Ok(())
    };
    let path = roots.verify(|anchors| {
        leaf.verify_for_usage(
            algorithms(),
            anchors,
            intermediates,
            time,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&key_usage),
        )
        .map(drop)
    });
    match path {
        Ok(()) => {}
        // A complete path to a root whose CA lacks keyCertSign beats the
        // other paths' failures.
        Err(_) if no_cert_sign.get() => return Err(CertError::Constraints),
        Err(e) => return Err(CertError::from_webpki(&e)),
    }
    leaf.verify_is_valid_for_subject_name(&name)
        .map_err(|e| CertError::from_webpki(&e))?;
    // The leaf's own key signs only the CertificateVerify: one no
    // compiled-in algorithm accepts (an RSA key under 2048 bits) is refused
    // here, with the chain.
    let (alg, key) = der::spki(leaf_der.as_ref())
        .and_then(der::spki_parts)
        .ok_or(CertError::Malformed)?;
    if super::sig::usable_key(alg, key) {
        Ok(())
    } else {
        Err(CertError::UnsupportedAlgorithm)
    }
}

// ---- Signature algorithms (`tls::sig`) -----------------------------------------

/// The signature algorithms compiled in (features `tls`, `tls-p384`,
/// `tls-rsa`): the only list the verifier gives webpki.
fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    super::sig::ALL
}

/// The algorithm of a TLS 1.3 CertificateVerify scheme, if compiled in
/// (TLS 1.3 allows no PKCS#1 v1.5 there: RSA is PSS, rsaEncryption keys).
fn for_scheme(scheme: SignatureScheme) -> Option<&'static dyn SignatureVerificationAlgorithm> {
    use super::sig;
    match scheme {
        SignatureScheme::EcdsaSecp256r1Sha256 => Some(sig::ECDSA_P256_SHA256),
        #[cfg(feature = "tls-p384")]
        SignatureScheme::EcdsaSecp384r1Sha384 => Some(sig::ECDSA_P384_SHA384),
        #[cfg(feature = "tls-rsa")]
        SignatureScheme::RsaPssRsaeSha256 => Some(sig::RSA_PSS_2048_4096_SHA256_LEGACY_KEY),
        #[cfg(feature = "tls-rsa")]
        SignatureScheme::RsaPssRsaeSha384 => Some(sig::RSA_PSS_2048_4096_SHA384_LEGACY_KEY),
        #[cfg(feature = "tls-rsa")]
        SignatureScheme::RsaPssRsaeSha512 => Some(sig::RSA_PSS_2048_4096_SHA512_LEGACY_KEY),
        _ => None,
    }
}

/// Whether RSA signatures are compiled in, so the ClientHello offers the
/// RSA PKCS#1/PSS schemes (`TlsConfig::enable_rsa_signatures`).
pub(crate) const RSA_SIGNATURES: bool = cfg!(feature = "tls-rsa");

// ---- Pins --------------------------------------------------------------------------

/// What a pin compares: the SHA-256 of the server's leaf certificate (DER),
/// or of its `SubjectPublicKeyInfo` (DER; survives re-issuing the
/// certificate with the same key; HPKP's `pin-sha256`). Checked in
/// addition to the chain, never instead.
///
/// ```
/// use embedded_oauth2::tls::Pin;
/// let pin = Pin::PublicKey([0u8; 32]);
/// assert!(!pin.matches(b"not a certificate"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Pin {
    /// SHA-256 of the leaf certificate's DER.
    Certificate([u8; 32]),
    /// SHA-256 of the leaf certificate's SubjectPublicKeyInfo DER.
    PublicKey([u8; 32]),
}

impl Pin {
    /// Whether `leaf` (DER) matches.
    pub fn matches(&self, leaf: &[u8]) -> bool {
        match self {
            Self::Certificate(hash) => <[u8; 32]>::from(Sha256::digest(leaf)) == *hash,
            Self::PublicKey(hash) => {
                der::spki(leaf).is_some_and(|k| <[u8; 32]>::from(Sha256::digest(k)) == *hash)
            }
        }
    }
}

// ---- The handshake's verifier ------------------------------------------------------

/// The longest `AlgorithmIdentifier` (contents) of a leaf key kept.
const MAX_KEY_ALG: usize = 32;
/// The longest leaf public key kept: an uncompressed P-384 point; with
/// RSA, a 4096-bit `RSAPublicKey` (526 bytes with a 4-byte exponent).
#[cfg(not(feature = "tls-rsa"))]
const MAX_KEY: usize = 97;
#[cfg(feature = "tls-rsa")]
const MAX_KEY: usize = 540;

/// Bytes copied out of the chain (which does not outlive the Certificate
/// message).
#[derive(Clone, Copy)]
struct Kept<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Kept<N> {
    const EMPTY: Self = Self {
        bytes: [0; N],
        len: 0,
    };

    fn copy(from: &[u8]) -> Option<Self> {
        let mut kept = Self::EMPTY;
        kept.bytes.get_mut(..from.len())?.copy_from_slice(from);
        kept.len = from.len();
        Some(kept)
    }

    fn get(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// embedded-tls's verifier for one handshake: the chain through
/// [`verify_server_chain`] and the pin on the Certificate message, then the
/// CertificateVerify signature with the leaf's key over the transcript hash.
/// It records whether exactly one Certificate and then exactly one
/// CertificateVerify verified, in that order, and why it refused.
///
/// Keeps the transcript hash (32 bytes) and the leaf's key between the two
/// messages, never the chain.
pub(crate) struct Verifier<'a, D> {
    roots: Roots<'a>,
    name: &'a str,
    pin: Option<Pin>,
    transcript: [u8; 32],
    key_alg: Kept<MAX_KEY_ALG>,
    key: Kept<MAX_KEY>,
    certificate: bool,
    signature: bool,
    refused: Option<CertError>,
    clock: PhantomData<fn() -> D>,
}

impl<'a, D: TlsClock> Verifier<'a, D> {
    pub(crate) fn new(roots: Roots<'a>, name: &'a str, pin: Option<Pin>) -> Self {
        Self {
            roots,
            name,
            pin,
            transcript: [0; 32],
            key_alg: Kept::EMPTY,
            key: Kept::EMPTY,
            certificate: false,
            signature: false,
            refused: None,
            clock: PhantomData,
        }
    }

    /// Whether the server's certificate and its CertificateVerify signature
    /// were both verified (and nothing was refused).
    pub(crate) fn authenticated(&self) -> bool {
        self.certificate && self.signature && self.refused.is_none()
    }

    /// Why the server was refused, if it was.
    pub(crate) fn refusal(&self) -> Option<CertError> {
        self.refused
    }

    fn refuse(&mut self, why: CertError, error: TlsError) -> Result<(), TlsError> {
        self.refused = Some(why);
        Err(error)
    }

    fn certificate(&mut self, cert: &CertificateRef) -> Result<(), CertError> {
        fn x509<'c>(e: &CertificateEntryRef<'c>) -> Option<&'c [u8]> {
            match e {
                CertificateEntryRef::X509(der) => Some(der),
                CertificateEntryRef::RawPublicKey(_) => None,
            }
        }
        let (leaf, rest) = cert.entries.split_first().ok_or(CertError::Malformed)?;
        let leaf = x509(leaf).ok_or(CertError::Malformed)?;
        check(leaf, rest.iter().map(x509), self.roots, self.name, D::now())?;
        if self.pin.is_some_and(|pin| !pin.matches(leaf)) {
            return Err(CertError::Pin);
        }
        let (alg, key) = der::spki(leaf)
            .and_then(der::spki_parts)
            .ok_or(CertError::Malformed)?;
        self.key_alg = Kept::copy(alg).ok_or(CertError::UnsupportedAlgorithm)?;
        self.key = Kept::copy(key).ok_or(CertError::UnsupportedAlgorithm)?;
        Ok(())
    }

    fn signature(&self, verify: &CertificateVerifyRef) -> Result<(), CertError> {
        let alg = for_scheme(verify.signature_scheme).ok_or(CertError::UnsupportedAlgorithm)?;
        if alg.public_key_alg_id().as_ref() != self.key_alg.get() {
            // The scheme does not fit the leaf's key (RFC 8446 §4.4.3).
            return Err(CertError::BadSignature);
        }
        // RFC 8446 §4.4.3: 64 spaces, the context string, a zero byte, the
        // transcript hash up to and including the Certificate message.
        const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
        let mut message = [0x20u8; 64 + CONTEXT.len() + 32];
        let (_, rest) = message.split_at_mut(64);
        let (context, hash) = rest.split_at_mut(CONTEXT.len());
        context.copy_from_slice(CONTEXT);
        hash.copy_from_slice(&self.transcript);
        alg.verify_signature(self.key.get(), &message, verify.signature)
            .map_err(|_| CertError::BadSignature)
    }
}

impl<D: TlsClock> TlsVerifier<Aes128GcmSha256> for Verifier<'_, D> {
    /// The name was given at construction (it may be an IP address, which
    /// is not sent as SNI): nothing to do.
    fn set_hostname_verification(&mut self, _: &str) -> Result<(), TlsError> {
        Ok(())
    }

    fn verify_certificate(
        &mut self,
        transcript: &Sha256,
        cert: CertificateRef,
    ) -> Result<(), TlsError> {
        if self.certificate || self.refused.is_some() {
            return Err(TlsError::InvalidHandshake);
        }
        match self.certificate(&cert) {
            Ok(()) => {
                self.transcript = transcript.clone().finalize().into();
                self.certificate = true;
                Ok(())
            }
            Err(why) => self.refuse(why, TlsError::InvalidCertificate),
        }
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef) -> Result<(), TlsError> {
        if !self.certificate || self.signature || self.refused.is_some() {
            return Err(TlsError::InvalidHandshake);
        }
        match self.signature(&verify) {
            Ok(()) => {
                self.signature = true;
                Ok(())
            }
            Err(why) => self.refuse(why, TlsError::InvalidSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::alg_id;

    #[test]
    fn errors_are_distinct_sentences() {
        use std::string::ToString;
        let all = [
            CertError::UnknownIssuer,
            CertError::Name,
            CertError::Expired,
            CertError::NotYetValid,
            CertError::KeyUsage,
            CertError::Constraints,
            CertError::CriticalExtension,
            CertError::UnsupportedAlgorithm,
            CertError::BadSignature,
            CertError::Pin,
            CertError::Malformed,
            CertError::TooComplex,
            CertError::ServerName,
            CertError::Other,
        ];
        let mut text: std::vec::Vec<_> = all.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .all(|t| !t.is_empty() && !t.contains("CertError"))
        );
        text.sort();
        text.dedup();
        assert_eq!(text.len(), all.len());
    }

    #[test]
    fn webpki_errors_map() {
        use webpki::Error as W;
        for (e, want) in [
            (W::UnknownIssuer, CertError::UnknownIssuer),
            (W::CaUsedAsEndEntity, CertError::Constraints),
            (W::EndEntityUsedAsCa, CertError::Constraints),
            (W::PathLenConstraintViolated, CertError::Constraints),
            (W::NameConstraintViolation, CertError::Constraints),
            (
                W::UnsupportedCriticalExtension,
                CertError::CriticalExtension,
            ),
            (W::InvalidSignatureForPublicKey, CertError::BadSignature),
            (W::BadDer, CertError::Malformed),
            (W::MaximumPathDepthExceeded, CertError::TooComplex),
            (W::CertRevoked, CertError::Other),
            (
                W::SignatureAlgorithmMismatch,
                CertError::UnsupportedAlgorithm,
            ),
            #[allow(deprecated)]
            (
                W::UnsupportedSignatureAlgorithm,
                CertError::UnsupportedAlgorithm,
            ),
            #[allow(deprecated)]
            (W::RequiredEkuNotFound, CertError::KeyUsage),
            (
                W::CertExpired {
                    time: UnixTime::since_unix_epoch(Duration::from_secs(2)),
                    not_after: UnixTime::since_unix_epoch(Duration::from_secs(1)),
                },
                CertError::Expired,
            ),
            (
                W::CertNotValidYet {
                    time: UnixTime::since_unix_epoch(Duration::from_secs(1)),
                    not_before: UnixTime::since_unix_epoch(Duration::from_secs(2)),
                },
                CertError::NotYetValid,
            ),
        ] {
            assert_eq!(CertError::from_webpki(&e), want, "{e:?}");
        }
        // A name webpki refuses (the unit root has no subjectAltName).
        let root = CertificateDer::from_slice(include_bytes!("../../tests/data/tls/unit-root.der"));
        let cert = webpki::EndEntityCert::try_from(&root).unwrap();
        let name = ServerName::try_from("a.example").unwrap();
        let e = cert.verify_is_valid_for_subject_name(&name).unwrap_err();
        assert_eq!(CertError::from_webpki(&e), CertError::Name);
    }

    /// The roots count as given; none is no root at all.
    #[test]
    fn roots_count_and_validity() {
        let cert: &[u8] = include_bytes!("../../tests/data/tls/unit-root.der");
        let two = [cert, cert];
        assert_eq!(Roots::Certificates(&two).len(), 2);
        assert!(Roots::Certificates(&two).are_valid());
        assert!(Roots::Certificates(&[]).is_empty());
        assert!(!Roots::Certificates(&[]).are_valid());
        assert!(!Roots::Anchors(&[]).are_valid());
        assert!(Roots::from(cert).are_valid());
        assert!(!Roots::Certificates(&[cert, &cert[1..]]).are_valid());
        assert!(!Roots::Certificate(&[0x30, 0x00]).are_valid());
        let bundle = [cert, cert].concat();
        assert_eq!(Roots::Concatenated(&bundle).len(), 2);
        assert!(Roots::Concatenated(&bundle).are_valid());
        assert!(Roots::Concatenated(cert).are_valid());
        assert!(!Roots::Concatenated(&[]).are_valid());
        // A cut or padded bundle is refused whole.
        assert!(!Roots::Concatenated(&bundle[..bundle.len() - 1]).are_valid());
        let padded = [cert, &[0]].concat();
        assert!(!Roots::Concatenated(&padded).are_valid());
        assert!(!Roots::Concatenated(&[cert, &[0x30, 0x00]].concat()).are_valid());
    }

    #[test]
    fn empty_and_junk_chains_are_malformed() {
        let root: &[u8] = &[0x30, 0x00];
        assert_eq!(
            verify_server_chain(&[], Roots::Certificate(root), "a.example", Some(0)),
            Err(CertError::Malformed)
        );
        assert_eq!(
            verify_server_chain(&[b"x"], Roots::Certificate(root), "a.example", None),
            Err(CertError::Malformed)
        );
        assert_eq!(
            verify_server_chain(&[b"x"], Roots::Certificate(root), "not a name", Some(0)),
            Err(CertError::ServerName)
        );
        let cert: &[u8] = include_bytes!("../../tests/data/tls/unit-root.der");
        let mut many: std::vec::Vec<&[u8]> = std::vec![cert; MAX_INTERMEDIATES + 1];
        assert_eq!(
            verify_server_chain(&many, Roots::Certificate(cert), "a.example", Some(0)),
            Err(CertError::NotYetValid),
            "as many intermediates as are kept"
        );
        many.push(cert);
        assert_eq!(
            verify_server_chain(&many, Roots::Certificate(cert), "a.example", Some(0)),
            Err(CertError::TooComplex)
        );
        // The root as the server's certificate: a CA as an end entity.
        assert_eq!(
            verify_server_chain(&[cert], Roots::Certificate(cert), "a.example", None),
            Err(CertError::Constraints)
        );
    }

    /// Messages out of order never verify, and nothing is authenticated.
    #[test]
    fn certificate_verify_without_certificate_is_refused() {
        let root: &[u8] = &[0x30, 0x00];
        let mut v = Verifier::<embedded_tls::blocking::NoClock>::new(
            Roots::Certificate(root),
            "a.example",
            None,
        );
        let verify = CertificateVerifyRef {
            signature_scheme: SignatureScheme::EcdsaSecp256r1Sha256,
            signature: &[0x30, 0x00],
        };
        let r = TlsVerifier::<Aes128GcmSha256>::verify_signature(&mut v, verify);
        assert!(matches!(r, Err(TlsError::InvalidHandshake)), "{r:?}");
        assert!(!v.authenticated());
    }

    #[test]
    fn authenticated_needs_certificate_and_signature() {
        let root: &[u8] = &[0x30, 0x00];
        let mut v = Verifier::<embedded_tls::blocking::NoClock>::new(
            Roots::Certificate(root),
            "a.example",
            None,
        );
        assert!(!v.authenticated());
        v.certificate = true;
        assert!(!v.authenticated());
        v.certificate = false;
        v.signature = true;
        assert!(!v.authenticated());
        v.certificate = true;
        assert!(v.authenticated());
        v.refused = Some(CertError::Pin);
        assert!(!v.authenticated());
    }

    /// CertificateVerify: the TLS 1.3 message (64 spaces, the context,
    /// the transcript hash) signed by the leaf's key verifies; another
    /// transcript, a flipped signature, a scheme not compiled in or one
    /// that does not fit the key do not.
    #[test]
    fn certificate_verify_checks_the_leaf_key_over_the_transcript() {
        use p256::ecdsa::signature::Signer as _;
        use p256::ecdsa::{DerSignature, SigningKey};
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let root: &[u8] = &[0x30, 0x00];
        let mut v = Verifier::<embedded_tls::blocking::NoClock>::new(
            Roots::Certificate(root),
            "a.example",
            None,
        );
        v.key_alg = Kept::copy(alg_id::ECDSA_P256.as_ref()).unwrap();
        v.key = Kept::copy(point.as_bytes()).unwrap();
        v.transcript = [0x42; 32];
        let mut message = std::vec![0x20u8; 64];
        message.extend_from_slice(b"TLS 1.3, server CertificateVerify\x00");
        message.extend_from_slice(&[0x42; 32]);
        let good: DerSignature = key.sign(&message);
        let verify = |scheme, signature: &[u8]| {
            v.signature(&CertificateVerifyRef {
                signature_scheme: scheme,
                signature,
            })
        };
        let p256 = SignatureScheme::EcdsaSecp256r1Sha256;
        assert_eq!(verify(p256, good.as_bytes()), Ok(()));
        message[100] ^= 1;
        let other: DerSignature = key.sign(&message);
        assert_eq!(verify(p256, other.as_bytes()), Err(CertError::BadSignature));
        let mut flipped = good.as_bytes().to_vec();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(verify(p256, &flipped), Err(CertError::BadSignature));
        assert_eq!(
            verify(SignatureScheme::Ed25519, good.as_bytes()),
            Err(CertError::UnsupportedAlgorithm)
        );
        // The right scheme for another kind of key.
        v.key_alg = Kept::copy(alg_id::ECDSA_P384.as_ref()).unwrap();
        assert_eq!(
            v.signature(&CertificateVerifyRef {
                signature_scheme: p256,
                signature: good.as_bytes(),
            }),
            Err(CertError::BadSignature)
        );
    }

    /// Each TLS 1.3 CertificateVerify scheme maps to its algorithm when
    /// compiled in; PKCS#1 v1.5 (not allowed there) and others to none.
    #[test]
    fn schemes_map_to_their_algorithms() {
        use super::super::sig;
        let ids = |a: &dyn SignatureVerificationAlgorithm| {
            (
                a.public_key_alg_id().as_ref().to_vec(),
                a.signature_alg_id().as_ref().to_vec(),
            )
        };
        let maps = |scheme, alg: &dyn SignatureVerificationAlgorithm| {
            for_scheme(scheme).map(ids) == Some(ids(alg))
        };
        assert!(maps(
            SignatureScheme::EcdsaSecp256r1Sha256,
            sig::ECDSA_P256_SHA256
        ));
        #[cfg(feature = "tls-p384")]
        assert!(maps(
            SignatureScheme::EcdsaSecp384r1Sha384,
            sig::ECDSA_P384_SHA384
        ));
        #[cfg(not(feature = "tls-p384"))]
        assert!(for_scheme(SignatureScheme::EcdsaSecp384r1Sha384).is_none());
        #[cfg(feature = "tls-rsa")]
        for (scheme, alg) in [
            (
                SignatureScheme::RsaPssRsaeSha256,
                sig::RSA_PSS_2048_4096_SHA256_LEGACY_KEY,
            ),
            (
                SignatureScheme::RsaPssRsaeSha384,
                sig::RSA_PSS_2048_4096_SHA384_LEGACY_KEY,
            ),
            (
                SignatureScheme::RsaPssRsaeSha512,
                sig::RSA_PSS_2048_4096_SHA512_LEGACY_KEY,
            ),
        ] {
            assert!(maps(scheme, alg), "{scheme:?}");
        }
        assert_eq!(RSA_SIGNATURES, cfg!(feature = "tls-rsa"));
        for none in [
            SignatureScheme::RsaPkcs1Sha256,
            SignatureScheme::Ed25519,
            SignatureScheme::EcdsaSecp521r1Sha512,
        ] {
            assert!(for_scheme(none).is_none(), "{none:?}");
        }
        assert_eq!(algorithms().len(), sig::ALL.len());
    }

    #[test]
    fn kept_bytes_refuse_what_does_not_fit() {
        assert!(Kept::<4>::copy(&[1, 2, 3, 4, 5]).is_none());
        assert_eq!(Kept::<4>::copy(&[1, 2]).map(|k| k.get().len()), Some(2));
    }
}
