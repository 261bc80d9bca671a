//! The crate's client-authentication styles against two real authorization
//! servers that read `client_secret_basic` differently (what
//! `ClientAuth::Auto` is for):
//!
//! * oidc-provider 8.8.1 (`tests/authz-server/`) form-urldecodes the Basic
//!   id and secret, as RFC 6749 §2.3.1 says, and enforces each client's
//!   registered method;
//! * @node-oauth/oauth2-server 5.3.0 (`tests/authz-server-node/`) takes
//!   them as they come out of base64 (no decoding), and lets every client
//!   use Basic or the body.
//!
//! Each test walks one server's truth table: client (ids and secrets with
//! characters §2.3.1 changes, and a plain one) × style
//! ([`ClientAuth::Basic`], [`ClientAuth::BasicUnencoded`],
//! [`ClientAuth::Post`], [`ClientAuth::ClientIdOnly`]) → a token, or the
//! exact [`OAuthError`]. The blocking [`Client`] over plain TCP on loopback,
//! device-sized memory as in `tests/interop.rs`; one server of each kind for
//! the whole binary.

mod support {
    pub mod authz;
    pub mod node_authz;
}

use std::net::TcpStream;
use std::time::Duration;

use embedded_io_adapters::std::FromStd;
use embedded_oauth2::error::OAuthError;
use embedded_oauth2::{
    AuthStyle, Client, ClientAuth, ClientId, ClientSecret, Config, Error, ErrorCode, Instant,
    TokenEndpoint, TokenType,
};
use support::authz::AuthzServer;
use support::node_authz::NodeAuthzServer;

/// Client secret capacity.
const N: usize = 64;
/// Access token capacity.
const T: usize = 2048;
/// Scope capacity.
const S: usize = 128;
/// The work buffer (request, response, parsing).
const WORK: usize = 4096;
/// I/O timeout on every loopback socket.
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// A scope both servers grant to every client used here (a plain scope,
/// no resource, on oidc-provider).
const SCOPE: &str = "telemetry:write";

/// The client-authentication styles that carry a client secret, and
/// `ClientIdOnly` (what the assertion and mTLS styles send besides their
/// proof; those are covered against oidc-provider in `tests/interop.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `ClientAuth::Basic`: id and secret form-urlencoded, then base64.
    Basic,
    /// `ClientAuth::BasicUnencoded`: id and secret as they are, base64.
    BasicUnencoded,
    /// `ClientAuth::Post`: `client_id` and `client_secret` in the body.
    Post,
    /// `ClientAuth::ClientIdOnly`: only `client_id` in the body.
    ClientIdOnly,
    /// `ClientAuth::Auto`: `Basic`, then on `invalid_client` only
    /// `BasicUnencoded`, then `Post`.
    Auto,
}

impl Style {
    fn auth(self, secret: &str) -> ClientAuth<N> {
        let secret = || ClientSecret::new(secret).expect("secret fits");
        match self {
            Style::Basic => ClientAuth::Basic(secret()),
            Style::BasicUnencoded => ClientAuth::BasicUnencoded(secret()),
            Style::Post => ClientAuth::Post(secret()),
            Style::ClientIdOnly => ClientAuth::ClientIdOnly,
            Style::Auto => ClientAuth::Auto(secret()),
        }
    }
}

/// What a row of the truth table expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A bearer token.
    Token,
    /// This error response.
    Refused(u16, ErrorCode),
}

use Expect::{Refused, Token};

/// What happened, owned, for the table in a failure message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Token {
        expires_in: Option<u64>,
        scope: Option<String>,
    },
    Refused {
        error: OAuthError,
        description: Option<String>,
        www_authenticate: Option<String>,
    },
    Other(String),
}

/// A TCP connection with timeouts, as an embedded-io stream.
fn tcp(ep: &TokenEndpoint<'_>) -> Result<FromStd<TcpStream>, std::io::Error> {
    let tcp = TcpStream::connect((ep.host(), ep.port()))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(FromStd::new(tcp))
}

/// One token request (scope [`SCOPE`]) by a fresh device-sized client.
fn fetch(url: &str, id: &str, secret: &str, style: Style) -> Outcome {
    let endpoint = TokenEndpoint::parse_allow_http(url).expect("token endpoint");
    let config = Config::new(
        endpoint,
        ClientId::new(id).expect("client id"),
        style.auth(secret),
    )
    .with_scope(SCOPE)
    .expect("scope");
    let boot = std::time::Instant::now();
    let clock =
        move || Instant::from_millis(u64::try_from(boot.elapsed().as_millis()).unwrap_or(0));
    let mut client: Client<'_, _, N, T, S> = Client::new(config, clock);
    let mut connector = tcp as fn(&TokenEndpoint<'_>) -> Result<FromStd<TcpStream>, std::io::Error>;
    let mut work = [0u8; WORK];
    let result = client.token(&mut connector, &mut work).map(|t| {
        assert_eq!(t.token_type(), TokenType::Bearer);
        assert!(!t.expose_secret().is_empty());
        (t.expires_in(), t.scope().map(str::to_owned))
    });
    assert!(work.iter().all(|&b| b == 0), "work buffer not wiped");
    match result {
        Ok((expires_in, scope)) => Outcome::Token { expires_in, scope },
        Err(Error::OAuth(error)) => {
            let details = client.error_details().copied().unwrap_or_default();
            Outcome::Refused {
                error,
                description: details.description.map(|d| d.as_str().to_owned()),
                www_authenticate: details.www_authenticate.map(|w| w.as_str().to_owned()),
            }
        }
        Err(other) => Outcome::Other(format!("{other:?}")),
    }
}

/// One row: which client, which style, what the server must answer.
struct Row {
    client: &'static str,
    style: Style,
    expect: Expect,
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.client, self.style)
    }
}

const fn row(client: &'static str, style: Style, expect: Expect) -> Row {
    Row {
        client,
        style,
        expect,
    }
}

/// Runs every row against one server and fails with the whole observed
/// table when any row differs. `check` adds server-specific assertions on
/// an outcome that matched its row.
fn run_table(
    server: &str,
    url: &str,
    client: impl Fn(&str) -> (&'static str, &'static str),
    rows: &[Row],
    check: impl Fn(&Row, &Outcome),
) {
    let mut table = String::new();
    let mut mismatches = 0;
    for r in rows {
        let (id, secret) = client(r.client);
        let outcome = fetch(url, id, secret, r.style);
        let matched = match (&r.expect, &outcome) {
            (Token, Outcome::Token { .. }) => true,
            (Refused(status, code), Outcome::Refused { error, .. }) => {
                *error == OAuthError::new(*status, *code, None)
            }
            _ => false,
        };
        if matched {
            check(r, &outcome);
        } else {
            mismatches += 1;
        }
        table += &format!(
            "{} {:>14} {:<15} expected {:<32} got {outcome:?}\n",
            if matched { "  " } else { "!!" },
            r.client,
            format!("{:?}", r.style),
            format!("{:?}", r.expect),
        );
    }
    eprintln!("{server}:\n{table}");
    assert_eq!(mismatches, 0, "{server}: truth table differs\n{table}");
}

/// oidc-provider decodes Basic credentials (§2.3.1): the encoded header
/// works for `dev:1 +%&=x` / `s3:cr+t %&=y`; the raw one has a second `:`
/// and `%&=` that do not decode, so it is refused before any client lookup
/// with `400 invalid_request`. The body carries the same characters fine
/// (`dev:2 +%&=x`, a `client_secret_post` client). The registered method is
/// enforced, so the wrong place is `401 invalid_client` whatever the
/// encoding.
#[test]
fn oidc_provider_decodes_basic_credentials() {
    use Style::*;
    let srv = AuthzServer::shared();
    let url = srv.http_url(srv.get("token_path"));
    let invalid_client = Refused(401, ErrorCode::InvalidClient);
    let invalid_request = Refused(400, ErrorCode::InvalidRequest);
    let rows = [
        row("reserved", Basic, Token),
        row("reserved", BasicUnencoded, invalid_request),
        row("reserved", Post, invalid_client),
        row("reserved", ClientIdOnly, invalid_client),
        row("reserved_post", Post, Token),
        row("reserved_post", Basic, invalid_client),
        row("reserved_post", BasicUnencoded, invalid_request),
        row("reserved_post", ClientIdOnly, invalid_client),
        // Auto: the encoded header works at once; for the post client the
        // raw header's `invalid_request` ends the detection (no fallback on
        // any error but `invalid_client`).
        row("reserved", Auto, Token),
        row("reserved_post", Auto, invalid_request),
        row("post", Auto, Token),
        // Plain characters: both Basic variants send the same header.
        row("basic", Basic, Token),
        row("basic", BasicUnencoded, Token),
        row("post", Post, Token),
    ];
    run_table(
        "oidc-provider",
        &url,
        |name| srv.client(name),
        &rows,
        |r, outcome| match outcome {
            Outcome::Token { expires_in, scope } => {
                assert_eq!(*expires_in, Some(300), "{r:?}");
                assert_eq!(scope.as_deref(), Some(SCOPE));
            }
            Outcome::Refused {
                error,
                description,
                www_authenticate,
            } => {
                if r.style == BasicUnencoded || r.style == Auto {
                    let d = description.as_deref().unwrap_or("");
                    assert!(d.contains("not properly encoded"), "{d:?}");
                }
                // RFC 6749 §5.2: the challenge only when the client tried
                // the Authorization header.
                if error.code == ErrorCode::InvalidClient {
                    assert_eq!(
                        www_authenticate.is_some(),
                        r.style == Basic || r.style == Auto,
                        "{r:?}: {www_authenticate:?}"
                    );
                }
            }
            Outcome::Other(_) => unreachable!("only matched outcomes are checked"),
        },
    );
}

/// @node-oauth/oauth2-server does not decode Basic credentials: for
/// `device 7+x%` / `s3cr%t+/=:?` the §2.3.1 header names the client
/// `device+7%2Bx%25`, which does not exist (`401 invalid_client` with
/// `WWW-Authenticate: Basic realm="Service"`), while the raw header works.
/// The body is form-decoded as always, so `Post` works. No secret at all is
/// `400 invalid_client`.
#[test]
fn node_oauth_takes_basic_credentials_as_is() {
    use Style::*;
    let srv = NodeAuthzServer::shared();
    let reserved = &srv.ready["clients"]["reserved"];
    assert_ne!(
        reserved["basic_authorization"], reserved["basic_authorization_rfc6749"],
        "the reserved client must hold characters §2.3.1 changes"
    );
    let rows = [
        row("reserved", Basic, Refused(401, ErrorCode::InvalidClient)),
        row("reserved", BasicUnencoded, Token),
        row("reserved", Post, Token),
        row(
            "reserved",
            ClientIdOnly,
            Refused(400, ErrorCode::InvalidClient),
        ),
        row("reserved", Auto, Token),
        row("plain", Basic, Token),
        row("plain", BasicUnencoded, Token),
        row("plain", Post, Token),
        row(
            "plain",
            ClientIdOnly,
            Refused(400, ErrorCode::InvalidClient),
        ),
    ];
    run_table(
        "@node-oauth/oauth2-server",
        srv.token_url(),
        |name| srv.client(name),
        &rows,
        |r, outcome| match outcome {
            Outcome::Token { expires_in, scope } => {
                // floor((expiresAt - now) / 1000) of a 3600 s lifetime
                assert!(
                    matches!(expires_in, Some(3599..=3600)),
                    "{r:?}: {expires_in:?}"
                );
                assert_eq!(scope.as_deref(), Some(SCOPE));
            }
            Outcome::Refused {
                www_authenticate, ..
            } => {
                let expected = (r.style == Basic).then_some(r#"Basic realm="Service""#);
                assert_eq!(www_authenticate.as_deref(), expected, "{r:?}");
            }
            Outcome::Other(_) => unreachable!("only matched outcomes are checked"),
        },
    );
}

/// `ClientAuth::Auto` with a counting connector, twice: connections of the
/// first fetch, the style then kept, connections of a second fetch.
fn auto_twice(url: &str, id: &str, secret: &str) -> (usize, Option<AuthStyle>, usize) {
    let endpoint = TokenEndpoint::parse_allow_http(url).expect("token endpoint");
    let config = Config::new(
        endpoint,
        ClientId::new(id).expect("client id"),
        Style::Auto.auth(secret),
    )
    .with_scope(SCOPE)
    .expect("scope");
    let boot = std::time::Instant::now();
    let clock =
        move || Instant::from_millis(u64::try_from(boot.elapsed().as_millis()).unwrap_or(0));
    let mut client: Client<'_, _, N, T, S> = Client::new(config, clock);
    let count = std::cell::Cell::new(0);
    let mut connector = |ep: &TokenEndpoint<'_>| {
        count.set(count.get() + 1);
        tcp(ep)
    };
    let mut work = [0u8; WORK];
    client
        .fetch(&mut connector, &mut work)
        .expect("first fetch");
    let first = count.replace(0);
    let style = client.auth_style();
    client
        .fetch(&mut connector, &mut work)
        .expect("second fetch");
    (first, style, count.get())
}

/// Auto finds each server's style for the reserved-character client and
/// keeps it: oidc-provider at once (it decodes §2.3.1), node-oauth after
/// one `invalid_client`; the next fetch is one connection either way.
#[test]
fn auto_detects_each_servers_style_and_keeps_it() {
    let oidc = AuthzServer::shared();
    let (id, secret) = oidc.client("reserved");
    assert_eq!(
        auto_twice(&oidc.http_url(oidc.get("token_path")), id, secret),
        (1, Some(AuthStyle::Basic), 1)
    );
    let (id, secret) = oidc.client("post");
    assert_eq!(
        auto_twice(&oidc.http_url(oidc.get("token_path")), id, secret),
        (3, Some(AuthStyle::Post), 1)
    );
    let node = NodeAuthzServer::shared();
    let (id, secret) = node.client("reserved");
    assert_eq!(
        auto_twice(node.token_url(), id, secret),
        (2, Some(AuthStyle::BasicUnencoded), 1)
    );
}
