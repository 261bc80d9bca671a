//! Signed client assertions (RFC 7523): what goes on the wire.
#![cfg(all(feature = "client-secret-jwt", feature = "p256"))]

use std::collections::HashSet;

use base64ct::{Base64UrlUnpadded, Encoding};
use embedded_oauth2::assertion::{Assertion, Audience, CounterJti, Es256Signer, P256Signer};
use embedded_oauth2::error::ConfigError;
use embedded_oauth2::http::{encode_request, form_body};
use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, Error, TokenEndpoint};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};

const URL: &str = "https://as.example/token";
const SECRET: &str = "jwt-client-hs256-secret-0123456789abcdefghij";

fn assertion_of(body: &str) -> (String, String, String) {
    let mut it = body.split('&');
    assert_eq!(it.next(), Some("grant_type=client_credentials"));
    assert_eq!(
        it.next(),
        Some(
            "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        )
    );
    let jws = it
        .next()
        .unwrap()
        .strip_prefix("client_assertion=")
        .unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "{jws}");
    (parts[0].into(), parts[1].into(), parts[2].into())
}

fn decode_json(part: &str) -> String {
    String::from_utf8(Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap()
}

#[test]
fn client_secret_jwt_body_claims_and_signature() {
    let wall = || Some(1_767_225_600u64);
    let jti = CounterJti::new(*b"boot-001");
    let config = Config::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("jwt-client").unwrap(),
        ClientAuth::SecretJwt(ClientSecret::<64>::new(SECRET).unwrap()),
    )
    .with_assertion(Assertion::new(&wall, &jti));
    let mut buf = [0u8; 1024];
    let body = form_body(&config, &mut buf).unwrap().to_owned();
    let (h, c, s) = assertion_of(&body);
    assert_eq!(decode_json(&h), r#"{"alg":"HS256","typ":"JWT"}"#);
    let jti0 = Base64UrlUnpadded::encode_string(b"boot-001\0\0\0\0\0\0\0\0");
    assert_eq!(
        decode_json(&c),
        format!(
            r#"{{"iss":"jwt-client","sub":"jwt-client","aud":"{URL}","iat":1767225600,"exp":1767225660,"jti":"{jti0}"}}"#
        )
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{h}.{c}").as_bytes());
    mac.verify_slice(&Base64UrlUnpadded::decode_vec(&s).unwrap())
        .expect("HS256 signature verifies with the secret");
    // The secret itself never appears in the body.
    assert!(!body.contains(SECRET));
}

#[test]
fn audience_lifetime_and_kid_are_configurable() {
    let wall = || Some(100u64);
    let jti = CounterJti::new([1; 8]);
    let config = Config::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("c").unwrap(),
        ClientAuth::SecretJwt(ClientSecret::<64>::new(SECRET).unwrap()),
    )
    .with_assertion(
        Assertion::new(&wall, &jti)
            .with_audience(Audience::Other("https://as.example"))
            .with_lifetime_secs(30)
            .with_key_id("k\"1"),
    );
    let mut buf = [0u8; 1024];
    let body = form_body(&config, &mut buf).unwrap().to_owned();
    let (h, c, _) = assertion_of(&body);
    assert_eq!(
        decode_json(&h),
        r#"{"alg":"HS256","typ":"JWT","kid":"k\"1"}"#
    );
    let claims = decode_json(&c);
    assert!(
        claims.contains(r#""aud":"https://as.example","iat":100,"exp":130,"#),
        "{claims}"
    );
}

#[test]
fn private_key_jwt_es256_verifies_with_the_public_key() {
    let signer = P256Signer::from_bytes(&[0x42; 32]).unwrap();
    let public = VerifyingKey::from_sec1_bytes(&signer.public_key_sec1()).unwrap();
    let wall = || Some(1_767_225_600u64);
    let jti = CounterJti::new(*b"boot-002");
    let config = Config::<0>::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("pkjwt-client").unwrap(),
        ClientAuth::PrivateKeyJwt,
    )
    .with_assertion(
        Assertion::new(&wall, &jti)
            .with_signer(&signer)
            .with_key_id("key-1"),
    );
    let mut buf = [0u8; 1024];
    let n = encode_request(&config, &mut buf).unwrap();
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    assert!(!text.contains("Authorization:"));
    let (h, c, s) = assertion_of(body);
    assert_eq!(
        decode_json(&h),
        r#"{"alg":"ES256","typ":"JWT","kid":"key-1"}"#
    );
    assert!(decode_json(&c).starts_with(
        r#"{"iss":"pkjwt-client","sub":"pkjwt-client","aud":"https://as.example/token","#
    ));
    let sig = Signature::from_slice(&Base64UrlUnpadded::decode_vec(&s).unwrap()).unwrap();
    public
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .expect("ES256 verifies");
    // A tampered claim set does not verify.
    let tampered = format!(
        "{h}.{}",
        Base64UrlUnpadded::encode_string(b"{\"iss\":\"other\"}")
    );
    assert!(public.verify(tampered.as_bytes(), &sig).is_err());
}

#[test]
fn jti_is_never_reused_within_a_run() {
    let wall = || Some(1_767_225_600u64);
    let jti = CounterJti::new(*b"boot-003");
    let config = Config::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("jwt-client").unwrap(),
        ClientAuth::SecretJwt(ClientSecret::<64>::new(SECRET).unwrap()),
    )
    .with_assertion(Assertion::new(&wall, &jti));
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let mut buf = [0u8; 1024];
        // encode_request draws once for its counting and writing passes.
        let n = encode_request(&config, &mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let (_, c, _) = assertion_of(text.split("\r\n\r\n").nth(1).unwrap());
        let claims = decode_json(&c);
        let jti = claims
            .split("\"jti\":\"")
            .nth(1)
            .unwrap()
            .trim_end_matches("\"}")
            .to_owned();
        assert!(seen.insert(jti), "jti repeated");
    }
}

#[test]
fn content_length_matches_the_signed_body() {
    let signer = P256Signer::from_bytes(&[9; 32]).unwrap();
    let wall = || Some(5u64);
    let jti = CounterJti::new([0; 8]);
    let config = Config::<0>::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("d").unwrap(),
        ClientAuth::PrivateKeyJwt,
    )
    .with_assertion(Assertion::new(&wall, &jti).with_signer(&signer));
    let mut buf = [0u8; 1024];
    let n = encode_request(&config, &mut buf).unwrap();
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.ends_with(&format!("\r\nContent-Length: {}", body.len())),
        "{head}"
    );
    // And a buffer one byte short reports exactly n.
    match encode_request(&config, &mut buf[..n - 1]) {
        Err(Error::Capacity(c)) => assert_eq!((c.needed, c.exact), (n, true)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_wall_clock_no_assertion() {
    let wall = || None::<u64>;
    let jti = CounterJti::new([0; 8]);
    let config = Config::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("d").unwrap(),
        ClientAuth::SecretJwt(ClientSecret::<64>::new(SECRET).unwrap()),
    )
    .with_assertion(Assertion::new(&wall, &jti));
    let mut buf = [0u8; 1024];
    assert!(matches!(
        encode_request(&config, &mut buf),
        Err(Error::NoWallClock)
    ));
}

#[test]
fn missing_assertion_or_signer_is_a_config_error() {
    let mut buf = [0u8; 1024];
    let config = Config::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("d").unwrap(),
        ClientAuth::SecretJwt(ClientSecret::<64>::new(SECRET).unwrap()),
    );
    assert!(matches!(
        encode_request(&config, &mut buf),
        Err(Error::Config(ConfigError::MissingAssertion))
    ));
    let wall = || Some(1u64);
    let jti = CounterJti::new([0; 8]);
    let config = Config::<0>::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("d").unwrap(),
        ClientAuth::PrivateKeyJwt,
    )
    .with_assertion(Assertion::new(&wall, &jti));
    assert!(matches!(
        encode_request(&config, &mut buf),
        Err(Error::Config(ConfigError::MissingAssertion))
    ));
}

#[test]
fn failing_signer_is_reported() {
    struct Broken;
    impl Es256Signer for Broken {
        fn sign(&self, _: &[u8]) -> Result<[u8; 64], embedded_oauth2::assertion::SignError> {
            Err(embedded_oauth2::assertion::SignError)
        }
    }
    let wall = || Some(1u64);
    let jti = CounterJti::new([0; 8]);
    let config = Config::<0>::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("d").unwrap(),
        ClientAuth::PrivateKeyJwt,
    )
    .with_assertion(Assertion::new(&wall, &jti).with_signer(&Broken));
    let mut buf = [0u8; 1024];
    assert!(matches!(
        encode_request(&config, &mut buf),
        Err(Error::Sign)
    ));
}

/// A counter resumed from a stored count carries on across the 32-bit
/// halves it is kept in, and wraps at the end of 64 bits.
#[test]
fn counter_jti_resumes_and_carries_across_32_bits() {
    use embedded_oauth2::assertion::JtiSource;
    let jti = CounterJti::starting_at(*b"device-7", u64::from(u32::MAX));
    assert_eq!(jti.next_count(), u64::from(u32::MAX));
    let first = jti.next_jti();
    assert_eq!(&first[..8], b"device-7");
    assert_eq!(&first[8..], &u64::from(u32::MAX).to_be_bytes());
    assert_eq!(jti.next_count(), 1 << 32);
    assert_eq!(&jti.next_jti()[8..], &(1u64 << 32).to_be_bytes());
    assert_eq!(&jti.next_jti()[8..], &((1u64 << 32) + 1).to_be_bytes());
    let last = CounterJti::starting_at(*b"device-7", u64::MAX);
    assert_eq!(&last.next_jti()[8..], &u64::MAX.to_be_bytes());
    assert_eq!(last.next_count(), 0);
}

#[test]
fn sign_error_and_assertion_say_what_they_are() {
    use embedded_oauth2::assertion::SignError;
    assert_eq!(SignError.to_string(), "the signer failed");
    let wall = || Some(1_795_719_600u64);
    let jti = CounterJti::new(*b"boot-001");
    let a = Assertion::new(&wall, &jti).with_key_id("se-1");
    let d = format!("{a:?}");
    assert!(d.starts_with("Assertion {"), "{d}");
    assert!(d.contains("se-1") && d.contains("lifetime_secs"), "{d}");
}

/// A secure element signs once per request, and only when the signature
/// fits where it is written: a buffer too small for the request never
/// reaches the signer.
#[test]
fn the_assertion_is_signed_once_when_the_buffer_has_room() {
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    struct Counting(P256Signer, AtomicU32);
    impl Es256Signer for Counting {
        fn sign(&self, m: &[u8]) -> Result<[u8; 64], embedded_oauth2::assertion::SignError> {
            self.1.fetch_add(1, Relaxed);
            self.0.sign(m)
        }
    }
    let signer = Counting(
        P256Signer::from_bytes(&[0x42; 32]).unwrap(),
        AtomicU32::new(0),
    );
    let wall = || Some(1_767_225_600u64);
    let jti = CounterJti::new(*b"boot-004");
    let config = Config::<0>::new(
        TokenEndpoint::parse(URL).unwrap(),
        ClientId::new("pkjwt-client").unwrap(),
        ClientAuth::PrivateKeyJwt,
    )
    .with_assertion(Assertion::new(&wall, &jti).with_signer(&signer));
    let mut big = [0u8; 2048];
    let n = encode_request(&config, &mut big).unwrap();
    assert_eq!(
        signer.1.load(Relaxed),
        1,
        "one signature with room to spare"
    );
    // Exactly the request's size: still correct. The body is written twice
    // (behind the gap, then in place), but the first pass has no room for
    // the signature (the assertion ends the body), so the signer is not
    // asked there.
    let mut exact = vec![0u8; n];
    assert_eq!(encode_request(&config, &mut exact).unwrap(), n);
    assert_eq!(signer.1.load(Relaxed), 2);
    // Too small by one: the signer is not asked at all.
    let mut short = vec![0u8; n - 1];
    assert!(encode_request(&config, &mut short).is_err());
    assert_eq!(signer.1.load(Relaxed), 2);
    let body = std::str::from_utf8(&exact)
        .unwrap()
        .split("\r\n\r\n")
        .nth(1)
        .unwrap();
    let (h, c, _) = assertion_of(body);
    assert!(decode_json(&h).starts_with(r#"{"alg":"ES256""#));
    assert!(decode_json(&c).contains(r#""iss":"pkjwt-client""#));
}
