//! DPoP proofs ([RFC 9449](https://www.rfc-editor.org/rfc/rfc9449)): a JWS
//! per request, signed by the key the token is bound to, written straight
//! into a caller buffer as the client assertions are (`jwt.rs`).

use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};

use super::hmac::{Scratch, sha256};
use super::jwt::{Es256Signer, JtiSource, Key, append_signature, json_str};
use crate::encode::base64::B64;
use crate::encode::{Out, Sink};
use crate::error::{Buffer, ConfigError, Error};
use crate::time::WallClock;

/// The key DPoP proofs are signed with: an ES256 signer (a secure element,
/// or [`P256Signer`](crate::assertion::P256Signer)) and its public key,
/// which every proof carries as a JWK (RFC 9449 §4.2).
///
/// ```
/// # #[cfg(feature = "p256")] {
/// use embedded_oauth2::assertion::P256Signer;
/// use embedded_oauth2::dpop::DpopKey;
/// let signer = P256Signer::from_bytes(&[7u8; 32])?;
/// let key = DpopKey::new(&signer, &signer.public_key_sec1())?;
/// let mut jkt = [0u8; 43];
/// assert_eq!(key.thumbprint_b64(&mut jkt).len(), 43);
/// # }
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
#[derive(Clone, Copy)]
pub struct DpopKey<'a> {
    pub(crate) signer: &'a (dyn Es256Signer + Sync),
    x: [u8; 32],
    y: [u8; 32],
}

impl<'a> DpopKey<'a> {
    /// `public` is the signer's public key as an uncompressed SEC1 point
    /// (`04 || x || y`, 65 bytes: what secure elements and
    /// [`P256Signer::public_key_sec1`](crate::assertion::P256Signer::public_key_sec1)
    /// give). Any other first byte is [`ConfigError::InvalidKey`].
    pub fn new(
        signer: &'a (dyn Es256Signer + Sync),
        public: &[u8; 65],
    ) -> Result<Self, ConfigError> {
        let [0x04, point @ ..] = public else {
            return Err(ConfigError::InvalidKey);
        };
        let (Some(x), Some(y)) = (point.first_chunk(), point.last_chunk()) else {
            return Err(ConfigError::InvalidKey);
        };
        Ok(Self {
            signer,
            x: *x,
            y: *y,
        })
    }

    /// A key held by an async signer (a secure element on an async bus):
    /// only its public half here, and the proofs of the token requests are
    /// signed by `client.asynch().dpop_signed_by(&signer)`. Anything else
    /// that needs a signature from this key (the blocking driver,
    /// [`Dpop::proof`]) fails with [`Error::Sign`].
    ///
    /// ```
    /// use embedded_oauth2::dpop::DpopKey;
    /// let mut public = [0u8; 65];
    /// public[0] = 4; // the chip's public key, 04 || x || y
    /// let key = DpopKey::from_public(&public)?;
    /// # let _ = key;
    /// # Ok::<(), embedded_oauth2::error::ConfigError>(())
    /// ```
    pub fn from_public(public: &[u8; 65]) -> Result<DpopKey<'static>, ConfigError> {
        DpopKey::new(&ElsewhereSigner, public)
    }

    /// The JWK SHA-256 thumbprint (RFC 7638) of the public key: what a
    /// server binds tokens to (`cnf.jkt`, RFC 9449 §6.1).
    pub fn thumbprint(&self) -> [u8; 32] {
        // The required members in lexicographic order, no whitespace.
        let mut jwk = [0u8; 128];
        let mut sink = Sink::new(&mut jwk);
        sink.put(b"{\"crv\":\"P-256\",\"kty\":\"EC\"");
        self.write_coordinates(&mut sink);
        sink.put(b"}");
        let n = sink.len();
        let mut digest = [0u8; 32];
        sha256(
            jwk.get(..n).unwrap_or_default(),
            &mut Scratch::default(),
            &mut digest,
        );
        digest
    }

    /// [`DpopKey::thumbprint`] base64url-encoded (43 characters), as
    /// `dpop_jkt` and `cnf.jkt` carry it.
    pub fn thumbprint_b64<'b>(&self, out: &'b mut [u8; 43]) -> &'b str {
        Base64UrlUnpadded::encode(&self.thumbprint(), out).unwrap_or_default()
    }

    /// `,"x":"…","y":"…"`
    fn write_coordinates(&self, out: &mut impl Out) {
        out.put(b",\"x\":\"");
        b64(out, &self.x);
        out.put(b"\",\"y\":\"");
        b64(out, &self.y);
        out.put(b"\"");
    }
}

impl fmt::Debug for DpopKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut jkt = [0u8; 43];
        f.debug_struct("DpopKey")
            .field("jkt", &self.thumbprint_b64(&mut jkt))
            .finish_non_exhaustive()
    }
}

/// What the client needs to send DPoP proofs with its token requests: the
/// key, a wall clock for `iat` and a `jti` source (the same kinds the
/// signed client assertions use). Give it to
/// [`Config::with_dpop`](crate::Config::with_dpop).
///
/// The server then binds the token to the key (`token_type` `DPoP`). A
/// server that answers a DPoP request with a `Bearer` token is refused
/// ([`ResponseError::BearerForDpop`](crate::error::ResponseError::BearerForDpop)):
/// a firmware that asked for sender-constrained tokens does not quietly
/// carry a bearer token instead.
///
/// ```
/// # #[cfg(feature = "p256")] {
/// use embedded_oauth2::assertion::{CounterJti, P256Signer};
/// use embedded_oauth2::dpop::{Dpop, DpopKey};
/// use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
/// let signer = P256Signer::from_bytes(&[7u8; 32])?;
/// let public = signer.public_key_sec1();
/// let wall = || Some(1_767_225_600u64);
/// let jti = CounterJti::new(*b"boot-001");
/// let config = Config::new(
///     TokenEndpoint::parse("https://as.example/token")?,
///     ClientId::new("device-7")?,
///     ClientAuth::Basic(ClientSecret::<16>::new("pw")?),
/// )
/// .with_dpop(Dpop::new(DpopKey::new(&signer, &public)?, &wall, &jti));
/// # let _ = config;
/// # }
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Dpop<'a> {
    pub(crate) key: DpopKey<'a>,
    pub(crate) wall_clock: &'a (dyn WallClock + Sync),
    pub(crate) jti: &'a (dyn JtiSource + Sync),
}

impl<'a> Dpop<'a> {
    /// Proofs signed with `key`, dated by `wall_clock`, numbered by `jti`.
    pub fn new(
        key: DpopKey<'a>,
        wall_clock: &'a (dyn WallClock + Sync),
        jti: &'a (dyn JtiSource + Sync),
    ) -> Self {
        Self {
            key,
            wall_clock,
            jti,
        }
    }

    /// The key proofs are signed with.
    pub fn key(&self) -> &DpopKey<'a> {
        &self.key
    }

    /// `iat` and `jti` for one proof.
    pub(crate) fn draw(&self) -> Result<(u64, [u8; 16]), Error> {
        let iat = self.wall_clock.unix_time().ok_or(Error::NoWallClock)?;
        Ok((iat, self.jti.next_jti()))
    }

    /// A proof for a request to a resource server: `method` and `url` of
    /// the request, the `token` it presents (its hash is `ath`), and the
    /// nonce that server gave last, if any. `iat` comes from the wall
    /// clock, `jti` from the source. Send it as the `DPoP` header next to
    /// `Authorization: DPoP <token>`
    /// ([`Token::authorization_value`](crate::Token::authorization_value)).
    ///
    /// ```
    /// # #[cfg(feature = "p256")] {
    /// use embedded_oauth2::assertion::{CounterJti, P256Signer};
    /// use embedded_oauth2::dpop::{Dpop, DpopKey};
    /// let signer = P256Signer::from_bytes(&[7u8; 32]).unwrap();
    /// let public = signer.public_key_sec1();
    /// let (wall, jti) = (|| Some(1_767_225_600u64), CounterJti::new(*b"boot-001"));
    /// let dpop = Dpop::new(DpopKey::new(&signer, &public).unwrap(), &wall, &jti);
    /// let mut buf = [0u8; 600];
    /// let proof = dpop.proof("GET", "https://rs.example/data", "the-token", None, &mut buf)?;
    /// assert_eq!(proof.split('.').count(), 3);
    /// # }
    /// # Ok::<(), embedded_oauth2::Error>(())
    /// ```
    pub fn proof<'b>(
        &self,
        method: &str,
        url: &str,
        token: &str,
        nonce: Option<&DpopNonce>,
        buf: &'b mut [u8],
    ) -> Result<&'b str, Error> {
        let mut proof = Proof::new(method, url).with_access_token(token);
        match nonce.map(DpopNonce::get) {
            Some(Ok(n)) => proof = proof.with_nonce(n),
            Some(Err(len)) => return Err(nonce_too_long(len)),
            None => {}
        }
        let (iat, jti) = self.draw()?;
        proof.write(&self.key, iat, jti, buf)
    }
}

/// The capacity error for a nonce of `len` bytes.
pub(crate) fn nonce_too_long(len: usize) -> Error {
    crate::error::CapacityError {
        buffer: Buffer::DpopNonce,
        needed: len,
        available: MAX_DPOP_NONCE,
        exact: true,
    }
    .into()
}

/// Whether a resource server's answer asks for its DPoP nonce (RFC 9449
/// §9): status 401 and `WWW-Authenticate: DPoP error="use_dpop_nonce"`.
/// Keep the `DPoP-Nonce` it sent ([`DpopNonce::from_header`]) and answer
/// [`Attempt::UseDpopNonce`](crate::Attempt::UseDpopNonce) from
/// [`Client::call`](crate::Client::call)'s attempt.
///
/// ```
/// use embedded_oauth2::dpop::asks_for_nonce;
/// assert!(asks_for_nonce(401, b"DPoP error=\"use_dpop_nonce\", algs=\"ES256\""));
/// assert!(!asks_for_nonce(401, b"DPoP error=\"invalid_token\""));
/// assert!(!asks_for_nonce(400, b"DPoP error=\"use_dpop_nonce\""));
/// ```
pub fn asks_for_nonce(status: u16, www_authenticate: &[u8]) -> bool {
    let dpop = www_authenticate
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"DPoP "));
    let error = crate::reader::challenge_error(www_authenticate)
        .and_then(|e| e.get(6..))
        .map(|v| {
            v.strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v)
        });
    status == 401 && dpop && error == Some(b"use_dpop_nonce")
}

impl fmt::Debug for Dpop<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

pub use crate::nonce::{DpopNonce, MAX_DPOP_NONCE};

/// The signer of a key only an async signer can use.
struct ElsewhereSigner;

impl Es256Signer for ElsewhereSigner {
    fn sign(&self, _: &[u8]) -> Result<[u8; 64], crate::auth::jwt::SignError> {
        Err(crate::auth::jwt::SignError)
    }
}

fn b64(out: &mut impl Out, bytes: &[u8]) {
    let mut e = B64::<_, Base64UrlUnpadded>::new(out);
    e.put(bytes);
}

/// One DPoP proof: the request it is for (`htm`, `htu`), the server's
/// latest nonce, and at a resource server the access token it goes with
/// (`ath`).
///
/// The values that change per proof, `iat` (from the wall clock) and `jti`
/// (never the same twice: a [`JtiSource`](crate::assertion::JtiSource)),
/// are passed to [`Proof::write`], so the writer stays deterministic.
///
/// ```
/// # #[cfg(feature = "p256")] {
/// use embedded_oauth2::assertion::P256Signer;
/// use embedded_oauth2::dpop::{DpopKey, Proof};
/// let signer = P256Signer::from_bytes(&[7u8; 32]).unwrap();
/// let key = DpopKey::new(&signer, &signer.public_key_sec1()).unwrap();
/// let mut buf = [0u8; 512];
/// let proof = Proof::new("GET", "https://rs.example/data?x=1")
///     .with_access_token("the-token")
///     .write(&key, 1_767_225_600, [1; 16], &mut buf)?;
/// assert_eq!(proof.split('.').count(), 3);
/// # }
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Proof<'r> {
    method: &'r str,
    url: &'r str,
    nonce: Option<&'r str>,
    access_token: Option<&'r str>,
}

impl<'r> Proof<'r> {
    /// A proof for a `method` request to `url`. The query and fragment are
    /// left out of `htu` (RFC 9449 §4.2).
    pub fn new(method: &'r str, url: &'r str) -> Self {
        Self {
            method,
            url,
            nonce: None,
            access_token: None,
        }
    }

    /// The nonce the server gave last (`DPoP-Nonce`), sent as `nonce`.
    pub fn with_nonce(mut self, nonce: &'r str) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// The access token presented with this proof: its hash is sent as
    /// `ath` (RFC 9449 §4.2), required at resource servers.
    pub fn with_access_token(mut self, token: &'r str) -> Self {
        self.access_token = Some(token);
        self
    }

    /// `htu`: the URL without its query and fragment.
    fn htu(&self) -> &'r str {
        let end = self.url.find(['?', '#']).unwrap_or(self.url.len());
        self.url.get(..end).unwrap_or(self.url)
    }

    /// Writes the compact JWS into `buf`. A buffer that is too small gives
    /// [`Error::Capacity`] with the exact size needed, and the signer is
    /// not asked.
    pub fn write<'b>(
        &self,
        key: &DpopKey<'_>,
        iat: u64,
        jti: [u8; 16],
        buf: &'b mut [u8],
    ) -> Result<&'b str, Error> {
        let mut sink = Sink::new(buf);
        self.write_into(&mut sink, key, iat, &jti)?;
        let n = sink.finish(Buffer::Output)?;
        Ok(buf
            .get(..n)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default())
    }

    pub(crate) fn write_into(
        &self,
        sink: &mut Sink<'_>,
        key: &DpopKey<'_>,
        iat: u64,
        jti: &[u8; 16],
    ) -> Result<(), Error> {
        self.write_signed(sink, key, iat, jti, &Key::Es256(key.signer))
    }

    /// The proof, signed with `signing`: the key's own signer, or a
    /// signature an async signer made beforehand over the same input.
    pub(crate) fn write_signed(
        &self,
        sink: &mut Sink<'_>,
        key: &DpopKey<'_>,
        iat: u64,
        jti: &[u8; 16],
        signing: &Key<'_>,
    ) -> Result<(), Error> {
        let start = sink.len();
        self.write_input(sink, key, iat, jti);
        append_signature(sink, signing, start)
    }

    /// The JWS signing input, `base64url(header) "." base64url(claims)`.
    pub(crate) fn write_input(
        &self,
        sink: &mut Sink<'_>,
        key: &DpopKey<'_>,
        iat: u64,
        jti: &[u8; 16],
    ) {
        {
            let mut h = B64::<_, Base64UrlUnpadded>::new(&mut *sink);
            h.put(b"{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\"");
            key.write_coordinates(&mut h);
            h.put(b"}}");
        }
        sink.put(b".");
        {
            let mut c = B64::<_, Base64UrlUnpadded>::new(&mut *sink);
            c.put(b"{\"jti\":\"");
            b64(&mut c, jti);
            c.put(b"\",\"htm\":");
            json_str(&mut c, self.method);
            c.put(b",\"htu\":");
            json_str(&mut c, self.htu());
            c.put(b",\"iat\":");
            c.put_decimal(iat);
            if let Some(nonce) = self.nonce {
                c.put(b",\"nonce\":");
                json_str(&mut c, nonce);
            }
            if let Some(token) = self.access_token {
                let mut ath = [0u8; 32];
                sha256(token.as_bytes(), &mut Scratch::default(), &mut ath);
                c.put(b",\"ath\":\"");
                b64(&mut c, &ath);
                c.put(b"\"");
            }
            c.put(b"}");
        }
    }
}

impl fmt::Debug for Proof<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The access token is a secret: only whether one is bound.
        f.debug_struct("Proof")
            .field("htm", &self.method)
            .field("htu", &self.htu())
            .field("nonce", &self.nonce)
            .field("ath", &self.access_token.is_some())
            .finish()
    }
}

#[cfg(all(test, feature = "p256"))]
mod tests {
    use super::*;
    use crate::assertion::{CounterJti, JtiSource, P256Signer, SignError};
    use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};
    use std::borrow::ToOwned;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap()
    }

    /// A signer that must not be reached (the RFC's example key has no
    /// private half here), counting the calls.
    struct Counting(AtomicU32);
    impl Es256Signer for Counting {
        fn sign(&self, _: &[u8]) -> Result<[u8; 64], SignError> {
            self.0.fetch_add(1, Relaxed);
            Ok([0; 64])
        }
    }

    fn sec1(x: &str, y: &str) -> [u8; 65] {
        let mut p = [0u8; 65];
        p[0] = 4;
        p[1..33].copy_from_slice(&Base64UrlUnpadded::decode_vec(x).unwrap());
        p[33..].copy_from_slice(&Base64UrlUnpadded::decode_vec(y).unwrap());
        p
    }

    /// RFC 9449 §4.2's example key and §6.1's `jkt` for it.
    #[test]
    fn thumbprint_of_the_rfc_example_key() {
        let signer = Counting(AtomicU32::new(0));
        let public = sec1(
            "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        );
        let key = DpopKey::new(&signer, &public).unwrap();
        let mut jkt = [0u8; 43];
        assert_eq!(
            key.thumbprint_b64(&mut jkt),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        assert_eq!(
            format!("{key:?}"),
            "DpopKey { jkt: \"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I\", .. }"
        );
        let mut compressed = public;
        compressed[0] = 2;
        assert_eq!(
            DpopKey::new(&signer, &compressed).err(),
            Some(ConfigError::InvalidKey)
        );
    }

    /// RFC 9449 §7.1's example access token and its `ath`.
    #[test]
    fn ath_of_the_rfc_example_token() {
        let signer = P256Signer::from_bytes(&[7; 32]).unwrap();
        let key = DpopKey::new(&signer, &signer.public_key_sec1()).unwrap();
        let mut buf = [0u8; 1024];
        let proof = Proof::new("GET", "https://resource.example.org/protectedresource")
            .with_access_token("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU")
            .write(&key, 1_562_262_618, [0; 16], &mut buf)
            .unwrap();
        let claims = decode(proof.split('.').nth(1).unwrap());
        assert_eq!(claims["ath"], "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
    }

    // ECDSA verification takes minutes under Miri; the proof writer it
    // checks runs under Miri in the other tests of this module.
    #[cfg_attr(miri, ignore)]
    #[test]
    fn proof_layout_claims_and_a_signature_the_public_key_verifies() {
        let signer = P256Signer::from_bytes(&[0x42; 32]).unwrap();
        let public = signer.public_key_sec1();
        let key = DpopKey::new(&signer, &public).unwrap();
        let jti = *b"0123456789abcdef";
        let mut buf = [0u8; 1024];
        let proof = Proof::new("POST", "https://as.example/token?x=1#frag")
            .with_nonce("n-\"1\"")
            .write(&key, 1_700_000_000, jti, &mut buf)
            .unwrap();
        let parts: Vec<&str> = proof.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        let (x, y) = (
            Base64UrlUnpadded::encode_string(&public[1..33]),
            Base64UrlUnpadded::encode_string(&public[33..]),
        );
        assert_eq!(
            header,
            serde_json::json!({"typ": "dpop+jwt", "alg": "ES256",
                "jwk": {"kty": "EC", "crv": "P-256", "x": x, "y": y}})
        );
        assert_eq!(
            decode(parts[1]),
            serde_json::json!({"jti": Base64UrlUnpadded::encode_string(&jti),
                "htm": "POST", "htu": "https://as.example/token",
                "iat": 1_700_000_000u64, "nonce": "n-\"1\""})
        );
        let sig = Signature::from_slice(&Base64UrlUnpadded::decode_vec(parts[2]).unwrap()).unwrap();
        let vk = VerifyingKey::from_sec1_bytes(&public).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        vk.verify(input.as_bytes(), &sig).unwrap();
        // Signed by another key: refused.
        let other = P256Signer::from_bytes(&[0x43; 32]).unwrap();
        let vk_other = VerifyingKey::from_sec1_bytes(&other.public_key_sec1()).unwrap();
        assert!(vk_other.verify(input.as_bytes(), &sig).is_err());
        // htu without a query, or with only a fragment (signed by a signer
        // that returns at once: no ECDSA needed here, and Miri stays quick).
        let fixed = Counting(AtomicU32::new(0));
        let key = DpopKey::new(&fixed, &public).unwrap();
        for (url, htu) in [
            ("https://rs/a", "https://rs/a"),
            ("https://rs/a#f?g", "https://rs/a"),
            ("https://rs/a?", "https://rs/a"),
        ] {
            let p = Proof::new("GET", url)
                .write(&key, 1, jti, &mut buf)
                .unwrap();
            assert_eq!(decode(p.split('.').nth(1).unwrap())["htu"], htu, "{url}");
        }
    }

    #[test]
    fn jti_from_a_source_never_repeats() {
        let signer = Counting(AtomicU32::new(0));
        let key = DpopKey::new(&signer, &[4; 65]).unwrap();
        let source = CounterJti::new(*b"boot-001");
        let mut seen = std::collections::BTreeSet::new();
        let proofs = if cfg!(miri) { 12 } else { 200 };
        for _ in 0..proofs {
            let mut buf = [0u8; 512];
            let p = Proof::new("GET", "https://rs/")
                .write(&key, 5, source.next_jti(), &mut buf)
                .unwrap();
            let jti = String::from(
                decode(p.split('.').nth(1).unwrap())["jti"]
                    .as_str()
                    .unwrap(),
            );
            assert!(seen.insert(jti));
        }
        assert_eq!(signer.0.load(Relaxed), proofs);
    }

    /// Every buffer size gives the proof or the exact size needed, and the
    /// signer (a secure element, maybe) is asked only when the proof fits.
    #[test]
    fn every_buffer_size_gives_the_proof_or_the_exact_need() {
        let signer = Counting(AtomicU32::new(0));
        let key = DpopKey::new(&signer, &[4; 65]).unwrap();
        let proof = Proof::new("GET", "https://rs/x")
            .with_nonce("abc")
            .with_access_token("tok");
        let mut big = [0u8; 1024];
        let n = proof.write(&key, 9, [3; 16], &mut big).unwrap().len();
        let want = big[..n].to_vec();
        signer.0.store(0, Relaxed);
        // Every size on the host; under Miri the boundaries only.
        let sizes: Vec<usize> = if cfg!(miri) {
            std::vec![0, 1, n / 2, n - 1, n, n + 1, n + 7]
        } else {
            (0..n + 8).collect()
        };
        for size in sizes {
            let mut buf = std::vec![0u8; size];
            match proof.write(&key, 9, [3; 16], &mut buf) {
                Ok(p) => {
                    assert!(size >= n);
                    assert_eq!(p.as_bytes(), &want[..]);
                }
                Err(Error::Capacity(e)) => {
                    assert!(size < n);
                    assert_eq!((e.needed, e.available, e.exact), (n, size, true));
                    assert_eq!(e.buffer, Buffer::Output);
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        let fit = if cfg!(miri) { 3 } else { 8 };
        assert_eq!(
            signer.0.load(Relaxed),
            fit,
            "signed only for the sizes that fit"
        );
    }

    #[test]
    fn debug_of_the_configuration_and_the_nonce() {
        let signer = Counting(AtomicU32::new(0));
        let public = sec1(
            "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        );
        let wall = || Some(1u64);
        let jti = CounterJti::new(*b"debug-01");
        let dpop = Dpop::new(DpopKey::new(&signer, &public).unwrap(), &wall, &jti);
        assert_eq!(
            format!("{dpop:?}"),
            "Dpop { key: DpopKey { jkt: \"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I\", .. }, .. }"
        );
        assert_eq!(
            dpop.key().thumbprint(),
            DpopKey::new(&signer, &public).unwrap().thumbprint()
        );
        let n = DpopNonce::from_header(b"abc").unwrap();
        assert_eq!(format!("{n:?}"), "DpopNonce(\"abc\")");
        let long = DpopNonce::from_header(&[b'x'; MAX_DPOP_NONCE + 1]).unwrap();
        assert_eq!(format!("{long:?}"), "DpopNonce(<129 bytes, too long>)");
        for bad in [&b""[..], b"a b", b"a\"b", b"a\\b", b"\x7f", b"\xc3\xa9"] {
            assert!(DpopNonce::from_header(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            DpopNonce::from_header(b"!#[]~").map(|n| n.get().map(str::to_owned)),
            Some(Ok("!#[]~".to_owned()))
        );
    }

    #[test]
    fn debug_hides_the_access_token() {
        let d = format!(
            "{:?}",
            Proof::new("GET", "https://rs/x?q").with_access_token("secret-token")
        );
        assert_eq!(
            d,
            "Proof { htm: \"GET\", htu: \"https://rs/x\", nonce: None, ath: true }"
        );
    }
}
