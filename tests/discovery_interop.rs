//! Discovery against the real authorization server (oidc-provider 8.8.1,
//! `tests/authz-server/`): discover the token endpoint from the issuer
//! alone, then fetch a token there; and RFC 9728 from the receipt
//! service's 401 to a receipt.
//!
//! oidc-provider serves its metadata only at
//! `/.well-known/openid-configuration` (the RFC 8414 path is a 404), and
//! builds its endpoint URLs from the scheme a request reached and its `Host`
//! header: over TLS they are `https://localhost:<port>/…` under the issuer
//! `https://localhost:<port>`; the same request sent to the plain-HTTP
//! listener gets the same issuer but `http://` endpoints.
#![cfg(all(feature = "discovery", feature = "tls"))]

mod support {
    pub mod authz;
}

#[path = "../cli/src/tls.rs"]
mod tls;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use embedded_oauth2::discovery::{DiscoveryError, Issuer, WellKnown, resource_metadata_url};
use embedded_oauth2::error::HttpError;
use embedded_oauth2::http::{ResourceRequest, ResourceUrl};
use embedded_oauth2::tls::blocking::Open;
use embedded_oauth2::{
    Client, ClientAuth, ClientId, ClientSecret, Config, Error, Instant, TokenEndpoint, blocking,
};
use support::authz::AuthzServer;
use tls::{HostTls, StdSocket, StdTcp};

const IO_TIMEOUT: Duration = Duration::from_secs(15);

fn server() -> &'static AuthzServer {
    AuthzServer::shared()
}

fn tls_connector() -> tls::TlsConnector {
    let ca = std::fs::read(server().ca_pem()).unwrap();
    tls::connector(&ca, None).unwrap().with_timeout(IO_TIMEOUT)
}

fn tcp(host: &str, port: u16) -> std::io::Result<StdSocket> {
    StdTcp::new(IO_TIMEOUT).open(host, port)
}

fn clock() -> impl Fn() -> Instant {
    let start = std::time::Instant::now();
    move || Instant::from_millis(start.elapsed().as_millis() as u64)
}

#[test]
fn discover_over_tls_then_fetch_a_token_there() {
    let srv = server();
    let issuer_url = srv.get("issuer");
    assert_eq!(
        issuer_url,
        format!("https://localhost:{}", srv.https_port())
    );
    let issuer = Issuer::parse(issuer_url).unwrap();
    let mut tls = tls_connector();
    let mut buf = [0u8; 2048];
    let m = blocking::discover(&mut tls, &issuer, WellKnown::OpenIdConfiguration, &mut buf)
        .unwrap_or_else(|e| panic!("{e}\n{}", srv.stderr_log()));
    assert_eq!(m.issuer, issuer_url);
    assert_eq!(m.token_endpoint.url(), srv.get("token_endpoint"));
    assert_eq!(
        m.revocation_endpoint.map(|e| e.path()),
        Some(srv.get("revocation_path"))
    );
    assert!(m.auth_methods.supports("client_secret_basic"));
    assert!(m.auth_methods.supports("self_signed_tls_client_auth"));
    assert!(m.dpop_es256);

    // The discovered endpoint, owned (the metadata borrows `buf`).
    let token_url = m.token_endpoint.url().to_owned();
    let (id, secret) = srv.client("basic");
    let config = Config::new(
        TokenEndpoint::parse(&token_url).unwrap(),
        ClientId::new(id).unwrap(),
        ClientAuth::Basic(ClientSecret::<64>::new(secret).unwrap()),
    );
    let mut client: Client<_, 64, 2048, 128> = Client::new(config, clock());
    let mut work = [0u8; 4096];
    let token = client
        .token(&mut tls, &mut work)
        .unwrap_or_else(|e| panic!("{e}\n{}", srv.stderr_log()));
    assert!(!token.expose_secret().is_empty());
}

#[test]
fn the_rfc8414_path_is_a_404_on_oidc_provider() {
    let issuer = Issuer::parse(server().get("issuer")).unwrap();
    let mut tls = tls_connector();
    let mut buf = [0u8; 2048];
    let r = blocking::discover(
        &mut tls,
        &issuer,
        WellKnown::OAuthAuthorizationServer,
        &mut buf,
    );
    assert!(
        matches!(
            r,
            Err(Error::Http(HttpError::UnexpectedStatus { status: 404, .. }))
        ),
        "{r:?}"
    );
}

/// The plain-HTTP listener, reached for the issuer's host and port.
fn http_connector(
    srv: &'static AuthzServer,
) -> impl FnMut(&TokenEndpoint<'_>) -> std::io::Result<StdSocket> {
    move |ep: &TokenEndpoint<'_>| {
        if ep.host() == "localhost" && ep.port() == srv.https_port() {
            tcp("127.0.0.1", srv.http_port())
        } else {
            tcp(ep.host(), ep.port())
        }
    }
}

#[test]
fn plain_http_endpoints_only_when_allowed() {
    let srv = server();
    let mut connect = http_connector(srv);
    let mut buf = [0u8; 2048];
    let strict = Issuer::parse(srv.get("issuer")).unwrap();
    let r = blocking::discover(
        &mut connect,
        &strict,
        WellKnown::OpenIdConfiguration,
        &mut buf,
    );
    assert!(
        matches!(
            r,
            Err(Error::Discovery(DiscoveryError::Endpoint(
                embedded_oauth2::error::ConfigError::InsecureScheme
            )))
        ),
        "{r:?}"
    );
    let lax = Issuer::parse_allow_http(srv.get("issuer")).unwrap();
    let m =
        blocking::discover(&mut connect, &lax, WellKnown::OpenIdConfiguration, &mut buf).unwrap();
    // Built from the scheme reached and the Host sent (the issuer's).
    assert_eq!(
        m.token_endpoint.url(),
        format!("http://localhost:{}/token", srv.https_port())
    );
    let token_url = m.token_endpoint.url().to_owned();
    let (id, secret) = srv.client("post");
    let config = Config::new(
        TokenEndpoint::parse_allow_http(&token_url).unwrap(),
        ClientId::new(id).unwrap(),
        ClientAuth::Post(ClientSecret::<64>::new(secret).unwrap()),
    );
    let mut client: Client<_, 64, 2048, 128> = Client::new(config, clock());
    let mut work = [0u8; 4096];
    client.token(&mut connect, &mut work).unwrap();
}

/// A raw `GET` without a token to the receipt service's plain-HTTP
/// listener: its status and `WWW-Authenticate`.
fn get_without_token(path: &str) -> (u16, String) {
    let srv = server();
    let mut s = TcpStream::connect(("127.0.0.1", srv.receipts_http_port())).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
        srv.receipts_http_port()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let challenge = text
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, challenge)
}

#[test]
fn rfc9728_from_a_401_to_a_receipt() {
    let srv = server();
    let called = format!("{}/receipts/prm-1", srv.get("receipts_http"));
    // 1. The resource server refuses, naming its metadata.
    let (status, challenge) = get_without_token("/receipts/prm-1");
    assert_eq!(status, 401);
    let url = resource_metadata_url(challenge.as_bytes())
        .unwrap_or_else(|| panic!("no resource_metadata in {challenge:?}"));
    assert_eq!(
        url,
        format!(
            "{}/.well-known/oauth-protected-resource/receipts/prm-1",
            srv.get("receipts_http")
        )
    );
    // 2. Its metadata names the authorization server.
    let url = TokenEndpoint::parse_allow_http(url).unwrap();
    let mut connect = http_connector(srv);
    let mut buf = [0u8; 1024];
    let rm = blocking::fetch_resource_metadata(&mut connect, &url, &called, &mut buf).unwrap();
    assert_eq!(rm.resource, called);
    // Used only because it is the issuer this device trusts.
    assert_eq!(
        rm.trusted_authorization_server(&["https://other.example"]),
        None
    );
    let issuer_url = rm
        .trusted_authorization_server(&[srv.get("issuer")])
        .expect("the trusted issuer")
        .to_owned();
    assert_eq!(issuer_url, srv.get("issuer"));
    // A resource other than the one called is refused.
    let mut buf2 = [0u8; 1024];
    let other = format!("{}/receipts/prm-2", srv.get("receipts_http"));
    let r = blocking::fetch_resource_metadata(&mut connect, &url, &other, &mut buf2);
    assert!(
        matches!(r, Err(Error::Discovery(DiscoveryError::ResourceMismatch))),
        "{r:?}"
    );
    // 3. Discover it, 4. fetch a token for the receipts, 5. get the receipt.
    let issuer = Issuer::parse(&issuer_url).unwrap();
    let mut tls = tls_connector();
    let mut mbuf = [0u8; 2048];
    let m =
        blocking::discover(&mut tls, &issuer, WellKnown::OpenIdConfiguration, &mut mbuf).unwrap();
    let token_url = m.token_endpoint.url().to_owned();
    let (id, secret) = srv.client("basic");
    let config = Config::new(
        TokenEndpoint::parse(&token_url).unwrap(),
        ClientId::new(id).unwrap(),
        ClientAuth::Basic(ClientSecret::<64>::new(secret).unwrap()),
    )
    .with_resources(&["https://receipts.example/"])
    .unwrap()
    .with_scope("receipts:read")
    .unwrap();
    let mut client: Client<_, 64, 2048, 128> = Client::new(config, clock());
    let mut work = [0u8; 4096];
    let token = client.token(&mut tls, &mut work).unwrap();
    let receipt = ResourceUrl::parse_allow_http(&called).unwrap();
    let mut body = [0u8; 2048];
    let r = blocking::request(
        &mut connect,
        &ResourceRequest::get(&receipt),
        token,
        &mut body,
    )
    .unwrap();
    let text = String::from_utf8_lossy(r.body(&body));
    assert_eq!(r.status, 200, "{text}");
}
