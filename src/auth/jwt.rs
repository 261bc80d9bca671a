//! Signed client assertions
//! ([RFC 7523 §2.2](https://www.rfc-editor.org/rfc/rfc7523#section-2.2),
//! [OpenID Connect Core §9](https://openid.net/specs/openid-connect-core-1_0.html#ClientAuthentication)):
//! `client_secret_jwt` (HS256) and `private_key_jwt` (ES256).
//!
//! The JWS is written straight into the request buffer: header and claims
//! are base64url-encoded as they are produced, the signature is computed over
//! the bytes just written, so no second copy of anything exists.

use core::fmt;

use base64ct::Base64UrlUnpadded;

use crate::encode::base64::B64;
use crate::encode::{Out, Sink};
use crate::error::Error;
use crate::time::WallClock;

/// A source of unique `jti` values (16 bytes, sent base64url-encoded).
///
/// Servers refuse an assertion whose `jti` they have seen before. Use a
/// random source, or [`CounterJti`] with a prefix that differs per boot.
pub trait JtiSource {
    /// The next identifier; never the same twice.
    fn next_jti(&self) -> [u8; 16];
}

impl<F: Fn() -> [u8; 16]> JtiSource for F {
    fn next_jti(&self) -> [u8; 16] {
        self()
    }
}

/// `jti` = an 8-byte prefix followed by a 64-bit big-endian counter.
///
/// Make the prefix unique per boot (a random value from the hardware RNG,
/// or the device serial plus a boot counter kept in flash): after a reboot
/// the counter starts again.
///
/// ```
/// use embedded_oauth2::assertion::{CounterJti, JtiSource};
/// let jti = CounterJti::new(*b"boot-042");
/// let (a, b) = (jti.next_jti(), jti.next_jti());
/// assert_ne!(a, b);
/// assert_eq!(&a[..8], b"boot-042");
/// ```
///
/// It is `Sync` and draws with one atomic increment, so token requests and
/// DPoP proofs for resource requests (`Dpop::proof(&self)`) may draw from
/// it at the same time, from threads, tasks or interrupts: no value is
/// handed out twice. On targets without 64-bit atomic instructions (all
/// 32-bit MCUs: Cortex-M, RISC-V `imc`/`imac`, Xtensa) the increment runs
/// in a [critical section](https://docs.rs/critical-section): the firmware
/// links an implementation, as every HAL provides one (`cortex-m`'s
/// `critical-section-single-core`, embassy-rp, esp-hal).
#[derive(Debug)]
pub struct CounterJti {
    prefix: [u8; 8],
    count: Counter,
}

/// A `u64` counter that hands out each value once, whoever draws.
#[cfg(target_has_atomic = "64")]
#[derive(Debug)]
struct Counter(core::sync::atomic::AtomicU64);

#[cfg(target_has_atomic = "64")]
impl Counter {
    const fn new(next: u64) -> Self {
        Self(core::sync::atomic::AtomicU64::new(next))
    }
    fn peek(&self) -> u64 {
        self.0.load(core::sync::atomic::Ordering::Relaxed)
    }
    /// The count drawn; the counter moves on by one, in one atomic step.
    fn draw(&self) -> u64 {
        self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(not(target_has_atomic = "64"))]
use critical::Counter;

/// The counter of targets without 64-bit atomics; also built for the
/// host's tests (critical-section's `std` implementation), so that what
/// firmware runs is tested too.
#[cfg(any(
    not(target_has_atomic = "64"),
    all(test, feature = "client-secret-jwt")
))]
mod critical {
    use core::cell::Cell;
    use core::fmt;

    /// A `u64` counter that hands out each value once, whoever draws.
    pub(super) struct Counter(critical_section::Mutex<Cell<u64>>);

    impl Counter {
        pub(super) const fn new(next: u64) -> Self {
            Self(critical_section::Mutex::new(Cell::new(next)))
        }
        pub(super) fn peek(&self) -> u64 {
            critical_section::with(|cs| self.0.borrow(cs).get())
        }
        /// The count drawn; the counter moves on by one (in one critical
        /// section).
        pub(super) fn draw(&self) -> u64 {
            critical_section::with(|cs| {
                let c = self.0.borrow(cs);
                let n = c.get();
                c.set(n.wrapping_add(1));
                n
            })
        }
    }

    impl fmt::Debug for Counter {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Counter({})", self.peek())
        }
    }
}

impl CounterJti {
    /// Starts counting at 0 behind `prefix`.
    pub const fn new(prefix: [u8; 8]) -> Self {
        Self::starting_at(prefix, 0)
    }

    /// Starts counting at `next` behind `prefix`: a firmware that keeps
    /// one prefix across resets resumes from a count it stored (ahead of
    /// any it used), so that no `jti` repeats.
    ///
    /// ```
    /// use embedded_oauth2::assertion::{CounterJti, JtiSource};
    /// let jti = CounterJti::starting_at(*b"device-7", 0x1_0000_0000);
    /// assert_eq!(&jti.next_jti()[8..], &[0, 0, 0, 1, 0, 0, 0, 0]);
    /// assert_eq!(jti.next_count(), 0x1_0000_0001);
    /// ```
    pub const fn starting_at(prefix: [u8; 8], next: u64) -> Self {
        Self {
            prefix,
            count: Counter::new(next),
        }
    }

    /// The count the next `jti` carries (what to store before a reset).
    pub fn next_count(&self) -> u64 {
        self.count.peek()
    }
}

impl JtiSource for CounterJti {
    fn next_jti(&self) -> [u8; 16] {
        // One read-modify-write: concurrent draws get different counts.
        let n = self.count.draw();
        let mut out = [0u8; 16];
        let (p, c) = out.split_at_mut(8);
        p.copy_from_slice(&self.prefix);
        c.copy_from_slice(&n.to_be_bytes());
        out
    }
}

/// A signer could not sign (secure element busy, bus error, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SignError;

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the signer failed")
    }
}

impl core::error::Error for SignError {}

/// An ES256 signer the async driver awaits: a secure element on an async
/// bus (I2C, SPI) signs while the executor runs other tasks (feature
/// `async`). Give it to `client.asynch().signed_by(&signer)`; the
/// signature is made over exactly the signing input the request then
/// carries.
///
/// ```
/// use embedded_oauth2::assertion::{Es256SignerAsync, SignError};
/// struct SecureElement; // e.g. an ATECC608 driver over embassy's async I2C
/// impl Es256SignerAsync for SecureElement {
///     async fn sign(&self, input: &[u8]) -> Result<[u8; 64], SignError> {
///         let _ = input; // the SHA-256 digest of `input`, signed on the chip
///         Ok([0; 64])
///     }
/// }
/// ```
#[cfg(all(feature = "private-key-jwt", feature = "async"))]
#[allow(async_fn_in_trait)]
pub trait Es256SignerAsync {
    /// The raw `r || s` signature (64 bytes) of SHA-256(`input`).
    async fn sign(&self, input: &[u8]) -> Result<[u8; 64], SignError>;
}

/// Signs `private_key_jwt` assertions with ES256 (ECDSA P-256, SHA-256)
/// where the key lives: a secure element (ATECC608, SE050), a TPM, or
/// [`P256Signer`](crate::assertion::P256Signer) in software (feature `p256`).
///
/// `message` is the JWS signing input; hash it with SHA-256 (a secure
/// element usually takes the 32-byte digest) and return the signature as
/// 64 bytes `r || s`, each big-endian and zero-padded to 32 bytes
/// ([RFC 7518 §3.4](https://www.rfc-editor.org/rfc/rfc7518#section-3.4)).
#[cfg(feature = "private-key-jwt")]
pub trait Es256Signer {
    /// Signs the JWS signing input.
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError>;
}

/// Which `aud` the assertion names. Servers disagree: RFC 7523 says the
/// token endpoint URL, some servers want their issuer identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Audience<'a> {
    /// The token endpoint URL as configured (the default).
    TokenEndpoint,
    /// Another value, e.g. the issuer identifier.
    Other(&'a str),
}

/// What signed client authentication needs besides the key: a wall clock,
/// a `jti` source, the audience and the assertion's lifetime.
///
/// ```
/// # #[cfg(feature = "client-secret-jwt")] {
/// use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
/// use embedded_oauth2::assertion::{Assertion, Audience, CounterJti};
/// let wall = || Some(1_767_225_600u64);
/// let jti = CounterJti::new(*b"boot-001");
/// let config = Config::new(
///     TokenEndpoint::parse("https://as.example/token")?,
///     ClientId::new("device-7")?,
///     ClientAuth::SecretJwt(ClientSecret::<64>::new("a-secret-of-at-least-32-bytes-long!")?),
/// )
/// .with_assertion(Assertion::new(&wall, &jti).with_audience(Audience::Other("https://as.example")));
/// # let _ = config;
/// # }
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Assertion<'a> {
    pub(crate) wall_clock: &'a (dyn WallClock + Sync),
    pub(crate) jti: &'a (dyn JtiSource + Sync),
    pub(crate) audience: Audience<'a>,
    pub(crate) lifetime_secs: u32,
    pub(crate) key_id: Option<&'a str>,
    #[cfg(feature = "private-key-jwt")]
    pub(crate) signer: Option<&'a (dyn Es256Signer + Sync)>,
}

impl<'a> Assertion<'a> {
    /// Audience = token endpoint, lifetime 60 s, no `kid`.
    pub fn new(wall_clock: &'a (dyn WallClock + Sync), jti: &'a (dyn JtiSource + Sync)) -> Self {
        Self {
            wall_clock,
            jti,
            audience: Audience::TokenEndpoint,
            lifetime_secs: 60,
            key_id: None,
            #[cfg(feature = "private-key-jwt")]
            signer: None,
        }
    }

    /// Sets the `aud` claim.
    pub fn with_audience(mut self, audience: Audience<'a>) -> Self {
        self.audience = audience;
        self
    }

    /// Sets how long the assertion is valid (`exp - iat`, default 60 s).
    pub fn with_lifetime_secs(mut self, secs: u32) -> Self {
        self.lifetime_secs = secs;
        self
    }

    /// Sets the `kid` header (which registered key signed).
    pub fn with_key_id(mut self, kid: &'a str) -> Self {
        self.key_id = Some(kid);
        self
    }

    /// Sets the ES256 signer for `private_key_jwt`.
    #[cfg(feature = "private-key-jwt")]
    pub fn with_signer(mut self, signer: &'a (dyn Es256Signer + Sync)) -> Self {
        self.signer = Some(signer);
        self
    }
}

impl fmt::Debug for Assertion<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assertion")
            .field("audience", &self.audience)
            .field("lifetime_secs", &self.lifetime_secs)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The per-request values, drawn once so that the counting pass and the
/// writing pass of the encoder produce the same bytes.
#[derive(Clone, Copy)]
pub(crate) struct Claims {
    pub(crate) iat: u64,
    pub(crate) jti: [u8; 16],
}

impl Claims {
    pub(crate) fn draw(a: &Assertion<'_>) -> Result<Self, Error> {
        let iat = a.wall_clock.unix_time().ok_or(Error::NoWallClock)?;
        Ok(Self {
            iat,
            jti: a.jti.next_jti(),
        })
    }
}

/// The signing algorithm and key of one assertion.
pub(crate) enum Key<'k> {
    #[cfg(feature = "client-secret-jwt")]
    Hs256(&'k [u8]),
    #[cfg(feature = "private-key-jwt")]
    Es256(&'k (dyn Es256Signer + Sync)),
    /// An ES256 signature made beforehand (by an async signer) over the
    /// very signing input this assertion writes.
    #[cfg(feature = "private-key-jwt")]
    Presigned([u8; 64]),
}

impl Key<'_> {
    fn alg(&self) -> &'static str {
        match self {
            #[cfg(feature = "client-secret-jwt")]
            Key::Hs256(_) => "HS256",
            #[cfg(feature = "private-key-jwt")]
            Key::Es256(_) | Key::Presigned(_) => "ES256",
        }
    }

    fn sig_len(&self) -> usize {
        match self {
            #[cfg(feature = "client-secret-jwt")]
            Key::Hs256(_) => 32,
            #[cfg(feature = "private-key-jwt")]
            Key::Es256(_) | Key::Presigned(_) => 64,
        }
    }

    fn sign(&self, input: &[u8], out: &mut [u8; 64]) -> Result<(), Error> {
        match self {
            #[cfg(feature = "client-secret-jwt")]
            Key::Hs256(secret) => {
                // The HMAC state is as good as the secret: it lives in
                // `scratch` and is wiped (see auth/hmac.rs).
                let mut scratch = super::hmac::Scratch::default();
                let mut tag = [0u8; 32];
                super::hmac::hmac_sha256(secret, input, &mut scratch, &mut tag);
                for (dst, src) in out.iter_mut().zip(tag) {
                    *dst = src;
                }
                zeroize::Zeroize::zeroize(&mut tag);
                Ok(())
            }
            #[cfg(feature = "private-key-jwt")]
            Key::Es256(signer) => {
                *out = signer.sign(input).map_err(|_| Error::Sign)?;
                Ok(())
            }
            #[cfg(feature = "private-key-jwt")]
            Key::Presigned(sig) => {
                let _ = input;
                *out = *sig;
                Ok(())
            }
        }
    }
}

/// The JWS signing input, `base64url(header) "." base64url(claims)`, as
/// [`write_jws`] writes it before the signature.
pub(crate) fn write_signing_input(
    sink: &mut Sink<'_>,
    alg: &str,
    client_id: &str,
    audience: &str,
    assertion: &Assertion<'_>,
    claims: &Claims,
) {
    {
        let mut h = B64::<_, Base64UrlUnpadded>::new(&mut *sink);
        h.put(b"{\"alg\":\"");
        h.put_str(alg);
        h.put(b"\",\"typ\":\"JWT\"");
        if let Some(kid) = assertion.key_id {
            h.put(b",\"kid\":");
            json_str(&mut h, kid);
        }
        h.put(b"}");
        drop(h);
    }
    sink.put(b".");
    {
        let mut c = B64::<_, Base64UrlUnpadded>::new(&mut *sink);
        c.put(b"{\"iss\":");
        json_str(&mut c, client_id);
        c.put(b",\"sub\":");
        json_str(&mut c, client_id);
        c.put(b",\"aud\":");
        json_str(&mut c, audience);
        c.put(b",\"iat\":");
        c.put_decimal(claims.iat);
        c.put(b",\"exp\":");
        c.put_decimal(
            claims
                .iat
                .saturating_add(u64::from(assertion.lifetime_secs)),
        );
        c.put(b",\"jti\":\"");
        {
            let mut j = B64::<_, Base64UrlUnpadded>::new(&mut c);
            j.put(&claims.jti);
            drop(j);
        }
        c.put(b"\"}");
        drop(c);
    }
}

/// Writes a JSON string literal: quotes, backslashes and control characters
/// escaped (RFC 8259 §7), everything else as is.
pub(crate) fn json_str(out: &mut impl Out, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put(b"\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: Option<[u8; 6]> = match b {
            b'"' | b'\\' => Some([b'\\', b, 0, 0, 0, 0]),
            0..=0x1f | 0x7f => Some([
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
                HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'),
            ]),
            _ => None,
        };
        if let Some(e) = escaped {
            out.put(bytes.get(start..i).unwrap_or_default());
            let len = if e.get(2) == Some(&0) { 2 } else { 6 };
            out.put(e.get(..len).unwrap_or_default());
            start = i + 1;
        }
    }
    out.put(bytes.get(start..).unwrap_or_default());
    out.put(b"\"");
}

/// Writes the compact JWS `header.claims.signature` into `sink`.
pub(crate) fn write_jws(
    sink: &mut Sink<'_>,
    key: &Key<'_>,
    client_id: &str,
    audience: &str,
    assertion: &Assertion<'_>,
    claims: &Claims,
) -> Result<(), Error> {
    let start = sink.len();
    write_signing_input(sink, key.alg(), client_id, audience, assertion, claims);
    append_signature(sink, key, start)
}

/// Appends `.` and the base64url signature of what `sink` holds from
/// `start` on (the signing input just written). When the signature would
/// not fit (or `sink` only counts), the signer is not asked: only the
/// length is counted.
pub(crate) fn append_signature(
    sink: &mut Sink<'_>,
    key: &Key<'_>,
    start: usize,
) -> Result<(), Error> {
    let mut sig = [0u8; 64];
    let sig_len = key.sig_len();
    let b64_len = (sig_len * 4).div_ceil(3);
    let signed = match sink.written_since(start) {
        Some(input) if sink.has_room(1 + b64_len) => {
            key.sign(input, &mut sig)?;
            true
        }
        _ => false,
    };
    sink.put(b".");
    if signed {
        let mut s = B64::<_, Base64UrlUnpadded>::new(&mut *sink);
        s.put(sig.get(..sig_len).unwrap_or_default());
        drop(s);
    } else {
        // Counting pass, or the buffer is already too small: only the length matters.
        sink.skip(b64_len);
    }
    zeroize::Zeroize::zeroize(&mut sig);
    Ok(())
}

#[cfg(all(test, feature = "client-secret-jwt"))]
mod tests {
    use super::*;
    use base64ct::Encoding;
    use hmac::{Hmac, Mac};
    use std::vec;

    fn hmac(key: &[u8], data: &[u8]) -> std::vec::Vec<u8> {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }

    fn hex(s: &str) -> std::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc4231_hmac_sha256_vectors() {
        // Test cases 1, 2, 3, 4, 6 and 7 of RFC 4231 §4 (HMAC-SHA-256).
        let cases: [(std::vec::Vec<u8>, std::vec::Vec<u8>, &str); 6] = [
            (vec![0x0b; 20], b"Hi There".to_vec(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (vec![0xaa; 20], vec![0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), vec![0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
            (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (vec![0xaa; 131], b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ];
        for (key, data, mac) in cases {
            assert_eq!(hmac(&key, &data), hex(mac));
            // And through the crate's signing path.
            let mut out = [0u8; 64];
            Key::Hs256(&key).sign(&data, &mut out).unwrap();
            assert_eq!(&out[..32], &hex(mac)[..]);
        }
    }

    #[test]
    fn rfc7515_appendix_a1_hs256() {
        // The JWS Signing Input and key of RFC 7515 Appendix A.1.
        let input = b"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let k = Base64UrlUnpadded::decode_vec(
            "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
        )
        .unwrap();
        let mut out = [0u8; 64];
        Key::Hs256(&k).sign(input, &mut out).unwrap();
        assert_eq!(
            Base64UrlUnpadded::encode_string(&out[..32]),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut b = [0u8; 64];
        let mut s = Sink::new(&mut b);
        json_str(&mut s, "a\"b\\c\n\u{7}\u{7f}é");
        let n = s.len();
        assert_eq!(
            core::str::from_utf8(&b[..n]).unwrap(),
            r#""a\"b\\c\u000a\u0007\u007fé""#
        );
    }

    #[test]
    fn jws_layout_and_signature() {
        let wall = || Some(1_700_000_000u64);
        let jti = CounterJti::new(*b"prefix01");
        let a = Assertion::new(&wall, &jti).with_lifetime_secs(60);
        let claims = Claims::draw(&a).unwrap();
        let secret = b"0123456789abcdef0123456789abcdef";
        let mut buf = [0u8; 512];
        let mut sink = Sink::new(&mut buf);
        write_jws(
            &mut sink,
            &Key::Hs256(secret),
            "dev\"1",
            "https://as/token",
            &a,
            &claims,
        )
        .unwrap();
        let n = sink.len();
        // Counting gives the same length.
        let mut counter = Sink::counter();
        write_jws(
            &mut counter,
            &Key::Hs256(secret),
            "dev\"1",
            "https://as/token",
            &a,
            &claims,
        )
        .unwrap();
        assert_eq!(counter.len(), n);
        let jws = core::str::from_utf8(&buf[..n]).unwrap();
        let parts: std::vec::Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            Base64UrlUnpadded::decode_vec(parts[0]).unwrap(),
            br#"{"alg":"HS256","typ":"JWT"}"#
        );
        let jti_b64 = Base64UrlUnpadded::encode_string(b"prefix01\0\0\0\0\0\0\0\0");
        let expected = std::format!(
            r#"{{"iss":"dev\"1","sub":"dev\"1","aud":"https://as/token","iat":1700000000,"exp":1700000060,"jti":"{jti_b64}"}}"#
        );
        assert_eq!(
            std::string::String::from_utf8(Base64UrlUnpadded::decode_vec(parts[1]).unwrap())
                .unwrap(),
            expected
        );
        let input = std::format!("{}.{}", parts[0], parts[1]);
        assert_eq!(
            Base64UrlUnpadded::decode_vec(parts[2]).unwrap(),
            hmac(secret, input.as_bytes())
        );
    }

    #[test]
    fn no_wall_clock_is_an_error() {
        let wall = || None::<u64>;
        let jti = CounterJti::new([0; 8]);
        assert!(matches!(
            Claims::draw(&Assertion::new(&wall, &jti)),
            Err(Error::NoWallClock)
        ));
    }

    /// Draws from several threads at once never repeat a `jti`. (Before: a
    /// load and a store in two steps; 400,000 draws on two threads gave
    /// 233,370 distinct values, and a repeated `jti` is refused by the
    /// server as `invalid_dpop_proof` or a replayed assertion.)
    #[test]
    fn counter_jti_never_repeats_across_threads() {
        use std::collections::HashSet;
        use std::vec::Vec;
        const THREADS: u64 = 4;
        let per: u64 = if cfg!(miri) { 50 } else { 100_000 };
        let jti = CounterJti::starting_at(*b"threads!", u64::from(u32::MAX) - 1_000);
        let drawn: Vec<Vec<[u8; 16]>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| s.spawn(|| (0..per).map(|_| jti.next_jti()).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let all: HashSet<[u8; 16]> = drawn.iter().flatten().copied().collect();
        assert_eq!(
            all.len() as u64,
            THREADS * per,
            "a jti was handed out twice"
        );
        assert_eq!(
            jti.next_count(),
            u64::from(u32::MAX) - 1_000 + THREADS * per
        );
        assert!(all.iter().all(|j| &j[..8] == b"threads!"));
    }

    /// The critical-section counter (what 32-bit MCUs run) hands out each
    /// value once across threads, starting where it was told.
    #[test]
    fn the_critical_section_counter_never_repeats_across_threads() {
        use std::collections::HashSet;
        use std::vec::Vec;
        let per: u64 = if cfg!(miri) { 50 } else { 20_000 };
        let c = super::critical::Counter::new(7);
        assert_eq!((c.peek(), std::format!("{c:?}")), (7, "Counter(7)".into()));
        let drawn: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..per).map(|_| c.draw()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let distinct: HashSet<u64> = drawn.iter().copied().collect();
        assert_eq!(distinct.len() as u64, 4 * per);
        assert_eq!(distinct.iter().min(), Some(&7));
        assert_eq!(c.peek(), 7 + 4 * per);
    }
}
