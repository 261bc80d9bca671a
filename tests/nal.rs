//! The connector over an embedded-nal-async stack (`tls::nal::NalOpener`,
//! the `TcpConnect` + `Dns` pair embassy-net's `TcpClient` and `DnsSocket`
//! implement), here the std stack of `tls::host::StdTcp`, against the real
//! authorization server and receipt service (tests/authz-server): the
//! story a board runs, with no opener written for it. The host clocks and
//! the resource request come from the crate too.
#![cfg(all(feature = "std", feature = "embedded-nal-async"))]

mod support {
    pub mod authz;
}

use std::time::{Duration, SystemTime};

use embassy_futures::block_on;
use embedded_oauth2::http::{ResourceRequest, ResourceResponse, ResourceUrl};
use embedded_oauth2::tls::host::{StdTcp, monotonic_now, unix_time};
use embedded_oauth2::tls::nal::{NalError, NalOpener};
use embedded_oauth2::tls::{READ_BUFFER, TlsConnectError, TlsConnector};
use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Error, TokenEndpoint};
use support::authz::AuthzServer;

#[test]
fn a_token_then_the_receipt_over_an_embedded_nal_async_stack() {
    let srv = AuthzServer::shared();
    let (id, secret) = srv.client("basic");
    let root = std::fs::read(srv.ca_der()).expect("ca.der");
    let stack = StdTcp::new(Duration::from_secs(20));
    let mut tls = TlsConnector::new(
        NalOpener::new(&stack, &stack),
        rand_core::OsRng,
        &root[..],
        vec![0u8; READ_BUFFER],
        vec![0u8; 4096],
    )
    .expect("connector")
    .with_clock::<SystemTime>();
    let token_url = format!("{}{}", srv.get("https"), srv.get("token_path"));
    let config = Config::new(
        TokenEndpoint::parse(&token_url).unwrap(),
        ClientId::new(id).unwrap(),
        ClientAuth::Basic(ClientSecret::<64>::new(secret).unwrap()),
    )
    .with_scope(srv.get("receipts_scope"))
    .unwrap();
    let resources = [srv.get("receipts_resource")];
    let config = config.with_resources(&resources).unwrap();
    let mut client =
        Client::<_, 64, 2048, 128>::new(config, monotonic_now).with_wall_clock(unix_time);
    let receipt = format!(
        "{}{}2026-0042",
        srv.get("receipts_https"),
        srv.get("receipts_path_prefix")
    );
    let url = ResourceUrl::parse(&receipt).unwrap();
    let mut work = vec![0u8; 4096];
    let mut body = vec![0u8; 4096];
    let answer = block_on(client.asynch().call(&mut tls, &mut work, async |k, token| {
        embedded_oauth2::asynch::request(k, &ResourceRequest::get(&url), token, &mut body)
            .await
            .map(ResourceResponse::attempt)
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(answer.body(&body)).into_owned();
    assert_eq!(answer.status, 200, "{text}");
    assert!(text.contains(r#""receipt":"2026-0042""#), "{text}");
    assert!(text.contains(&format!(r#""client_id":"{id}""#)), "{text}");
    // The record buffers were wiped after each exchange.
    let cached = client
        .cached()
        .expect("token kept")
        .expose_secret()
        .to_owned();
    assert!(!String::from_utf8_lossy(&body).contains(&cached));
}

/// A refused connection is the stack's own error, kept whole, under
/// `NalError::Connect`.
#[test]
fn a_refused_connection_keeps_the_stacks_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let stack = StdTcp::new(Duration::from_secs(5));
    let root = std::fs::read(AuthzServer::shared().ca_der()).expect("ca.der");
    let mut tls = TlsConnector::new(
        NalOpener::new(&stack, &stack),
        rand_core::OsRng,
        &root[..],
        vec![0u8; READ_BUFFER],
        vec![0u8; 4096],
    )
    .expect("connector");
    let url = format!("https://127.0.0.1:{port}/token");
    let config = Config::new(
        TokenEndpoint::parse(&url).unwrap(),
        ClientId::new("c").unwrap(),
        ClientAuth::Basic(ClientSecret::<64>::new("s").unwrap()),
    );
    let mut client: Client<_> = Client::new(config, monotonic_now);
    let mut work = vec![0u8; 2048];
    let r = block_on(client.asynch().token(&mut tls, &mut work)).map(|_| ());
    match r {
        Err(Error::Transport(TlsConnectError::Transport(NalError::Connect(e)))) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        }
        other => panic!("{other:?}"),
    }
}
