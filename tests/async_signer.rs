//! `private_key_jwt` with an async ES256 signer (a secure element on an
//! async bus): the signature is awaited while the executor runs other
//! tasks, it is made over exactly the signing input the request carries,
//! and it verifies with the public key.
#![cfg(all(feature = "async", feature = "p256"))]

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{AsyncConnector, Script, token_response};
use embassy_futures::join::join;
use embassy_futures::yield_now;
use embedded_oauth2::assertion::{Assertion, CounterJti, Es256SignerAsync, SignError};
use embedded_oauth2::{Client, ClientAuth, Instant};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

/// A "secure element": signs after 20 bus transactions, each an await.
struct SecureElement {
    key: SigningKey,
    busy: Cell<bool>,
    inputs: RefCell<Vec<Vec<u8>>>,
}

impl Es256SignerAsync for SecureElement {
    async fn sign(&self, input: &[u8]) -> Result<[u8; 64], SignError> {
        self.busy.set(true);
        for _ in 0..20 {
            yield_now().await; // the I2C transfer is in flight
        }
        self.busy.set(false);
        self.inputs.borrow_mut().push(input.to_vec());
        let sig: Signature = self.key.sign(input);
        Ok(sig.to_bytes().into())
    }
}

impl SecureElement {
    fn new() -> Self {
        Self {
            key: SigningKey::from_slice(&[7u8; 32]).unwrap(),
            busy: Cell::new(false),
            inputs: RefCell::new(Vec::new()),
        }
    }
}

/// The signing input and the signature of the assertion the first
/// request carried.
fn sent_assertion(conn: &AsyncConnector) -> (String, String) {
    let written = conn.server.borrow().logs[0].borrow().written.clone();
    let text = String::from_utf8(written).unwrap();
    let jws = text
        .split("client_assertion=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let (input, sig) = jws.rsplit_once('.').unwrap();
    (input.to_owned(), sig.to_owned())
}

/// A test clock the connector can move: the shared milliseconds and the
/// client's clock reading them.
fn shared_clock() -> (Rc<Cell<u64>>, impl Fn() -> Instant) {
    let now = Rc::new(Cell::new(0u64));
    let clock = {
        let now = Rc::clone(&now);
        move || Instant::from_millis(now.get())
    };
    (now, clock)
}

#[test]
fn an_async_signer_signs_while_other_tasks_run() {
    let (now, clock) = shared_clock();
    let se = SecureElement::new();
    let wall = || Some(1_795_719_600u64);
    let jti = CounterJti::new(*b"boot-001");
    // No signer in the configuration: the driver's async one signs.
    let config = common::config_with("pkjwt-device", ClientAuth::PrivateKeyJwt)
        .with_assertion(Assertion::new(&wall, &jti).with_key_id("se-1"));
    let mut client: Client<_> = Client::new(config, clock);
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    conn.push(Script::Respond(token_response("signed-ok", Some(3600))));

    let ticks_while_signing = Cell::new(0);
    let done = Cell::new(false);
    let fetch = async {
        let mut work = [0u8; 2048];
        let t = client
            .asynch()
            .signed_by(&se)
            .token(&mut conn, &mut work)
            .await
            .unwrap();
        assert_eq!(t.expose_secret(), "signed-ok");
        done.set(true);
    };
    let other = async {
        while !done.get() {
            if se.busy.get() {
                ticks_while_signing.set(ticks_while_signing.get() + 1);
            }
            yield_now().await;
        }
    };
    embassy_futures::block_on(join(fetch, other));
    assert!(
        ticks_while_signing.get() >= 19,
        "the other task ran {} times while the signer worked",
        ticks_while_signing.get()
    );

    // The request carries the assertion the secure element signed.
    let (input, sig) = sent_assertion(&conn);
    let (input, sig) = (input.as_str(), sig.as_str());
    assert_eq!(se.inputs.borrow().as_slice(), [input.as_bytes().to_vec()]);
    let sig = Signature::from_slice(&Base64UrlUnpadded::decode_vec(sig).unwrap()).unwrap();
    VerifyingKey::from(&se.key)
        .verify(input.as_bytes(), &sig)
        .expect("the signature verifies with the public key");
    let header = Base64UrlUnpadded::decode_vec(input.split('.').next().unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(header).unwrap(),
        r#"{"alg":"ES256","typ":"JWT","kid":"se-1"}"#
    );
}

/// Without an async signer, the async driver signs with the assertion's own
/// (blocking) signer: it neither asks the driver's placeholder to sign nor
/// fails for want of one.
#[test]
fn the_async_driver_uses_the_assertions_own_signer_when_given_none() {
    let (now, clock) = shared_clock();
    let key = embedded_oauth2::assertion::P256Signer::from_bytes(&[9u8; 32]).unwrap();
    let wall = || Some(1_795_719_600u64);
    let jti = CounterJti::new(*b"boot-002");
    let config = common::config_with("pkjwt-device", ClientAuth::PrivateKeyJwt)
        .with_assertion(Assertion::new(&wall, &jti).with_signer(&key));
    let mut client: Client<_> = Client::new(config, clock);
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    conn.push(Script::Respond(token_response(
        "blocking-signed",
        Some(3600),
    )));
    let mut work = [0u8; 2048];
    let t = embassy_futures::block_on(client.asynch().token(&mut conn, &mut work)).unwrap();
    assert_eq!(t.expose_secret(), "blocking-signed");

    let (input, sig) = sent_assertion(&conn);
    let (input, sig) = (input.as_str(), sig.as_str());
    let sig = Signature::from_slice(&Base64UrlUnpadded::decode_vec(sig).unwrap()).unwrap();
    VerifyingKey::from(&SigningKey::from_slice(&[9u8; 32]).unwrap())
        .verify(input.as_bytes(), &sig)
        .expect("signed by the assertion's own key");
}

/// An async signer handed to a client that does not use `private_key_jwt`
/// is not asked to sign (the request authenticates as configured).
#[test]
fn an_async_signer_is_not_used_without_private_key_jwt() {
    let (now, clock) = shared_clock();
    let se = SecureElement::new();
    let mut client: Client<_> = Client::new(common::config(), clock);
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    conn.push(Script::Respond(token_response("basic-ok", Some(3600))));
    let mut work = [0u8; 2048];
    let t = embassy_futures::block_on(client.asynch().signed_by(&se).token(&mut conn, &mut work))
        .unwrap();
    assert_eq!(t.expose_secret(), "basic-ok");
    assert!(se.inputs.borrow().is_empty());
    let written = conn.server.borrow().logs[0].borrow().written.clone();
    assert!(!common::contains(&written, b"client_assertion"));
}

/// The blocking driver signs `private_key_jwt` assertions with the
/// assertion's signer.
#[test]
fn the_blocking_driver_signs_with_the_assertions_signer() {
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(common::FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &embedded_oauth2::TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let clock = {
        let now = Rc::clone(&now);
        move || Instant::from_millis(now.get())
    };
    let key = embedded_oauth2::assertion::P256Signer::from_bytes(&[9u8; 32]).unwrap();
    let wall = || Some(1_795_719_600u64);
    let jti = CounterJti::new(*b"boot-003");
    let config = common::config_with("pkjwt-device", ClientAuth::PrivateKeyJwt)
        .with_assertion(Assertion::new(&wall, &jti).with_signer(&key));
    let mut client: Client<_> = Client::new(config, clock);
    server
        .borrow_mut()
        .push(Script::Respond(token_response("blocking-ok", Some(3600))));
    let t = client.token(&mut connect, &mut [0u8; 2048]).unwrap();
    assert_eq!(t.expose_secret(), "blocking-ok");
    let written = server.borrow().logs[0].borrow().written.clone();
    assert!(common::contains(&written, b"client_assertion="));
}
