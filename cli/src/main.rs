//! `fetch_token`: fetches one access token with the Client Credentials Grant
//! and prints it, to try an authorization server from the host before
//! flashing a device.
//!
//! ```text
//! cargo install --path cli        # or: cargo run -p embedded-oauth2-cli -- …
//! fetch_token (--token-url URL | --issuer URL) --client-id ID \
//!     --client-secret SECRET \
//!     [--auth basic|basic-unencoded|post|auto|none|jwt|private-key-jwt] [--key FILE] \
//!     [--key-id KID] [--assertion-aud URL] [--scope "a b"] [--audience A] \
//!     [--resource URI]... [--ca-cert FILE] [--server-name NAME] [--allow-http] \
//!     [--client-cert FILE --client-key FILE] [--dpop-key FILE] [--call URL] \
//!     [--cache FILE] [--revoke [URL]]
//! ```
//!
//! `fetch_token --help` describes every flag (`args.rs`).
//!
//! `--issuer URL` (feature `discovery`) instead of `--token-url`: the token
//! endpoint is discovered from the issuer's metadata (RFC 8414's
//! `/.well-known/oauth-authorization-server`, and on a 404 OpenID Connect's
//! `/.well-known/openid-configuration`), whose `issuer` must be the URL
//! given; the first output line is then `token_endpoint=…`.
//!
//! The secret may come from the environment variable `CLIENT_SECRET` instead
//! (the flag wins when both are given); `--auth none` and
//! `--auth private-key-jwt` need no secret.
//!
//! Signed client assertions (RFC 7523), each needing a crate feature:
//!
//! * `--auth jwt`: `client_secret_jwt`, an HS256 assertion keyed with the
//!   client secret (`--features client-secret-jwt`);
//! * `--auth private-key-jwt --key FILE [--key-id KID]`: `private_key_jwt`,
//!   an ES256 assertion signed with the P-256 private key in `FILE`
//!   (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`) (`--features p256`).
//!
//! The assertion's `aud` is the token URL unless `--assertion-aud URL` says
//! otherwise (some servers want their issuer identifier); `iat`/`exp` come
//! from the system clock, the `jti` from a counter behind a random per-run
//! prefix. Built without the feature (of this crate, forwarded to the
//! library's), these options exit 1 naming it.
//!
//! Output and exit status:
//!
//! * `0`: one `key=value` per line on stdout: `access_token=…`,
//!   `token_type=Bearer`, then `expires_in=…` and `scope=…` when the server
//!   sent them.
//! * `2`: the server answered with an OAuth error: `error=CODE` and, when
//!   sent, `error_description=…` on stderr.
//! * `1`: anything else, with one `error: …` line on stderr (a usage error
//!   adds the usage line).
//!
//! With `--call URL` the token is then used: `GET URL` with
//! `Authorization: Bearer …` (through `Client::call`, so a 401 renews the
//! token once and retries once), printing `call_status=CODE` and
//! `call_body=…` (the body on one line: `\\`, `\n`, `\r`, `\t` and `\xNN` for
//! any other byte outside printable ASCII). An `https://` URL is verified
//! against the same `--ca-cert` (and `--server-name`, when given); an
//! `http://` one needs `--allow-http`. A service that refuses the renewed
//! token too is exit 1, after the `call_status=`/`call_body=` lines of its
//! last answer (also when the renewal itself fails after a refusal).
//!
//! With `--dpop-key FILE` (a PKCS#8 PEM P-256 key; features `dpop` and
//! `p256`) every token request carries a DPoP proof signed with that key
//! (RFC 9449) and the token is bound to it (`token_type=DPoP`); `--call`
//! then sends `Authorization: DPoP …` with a proof for its request, and
//! answers a service's `use_dpop_nonce` once with the nonce it sent.
//!
//! With `--client-cert FILE --client-key FILE` (features `mtls` and `p256`)
//! the TLS connections present that client certificate (RFC 8705): with
//! `--auth none` it authenticates the client (`tls_client_auth`,
//! `self_signed_tls_client_auth`), and `--call` uses the same certificate,
//! as a certificate-bound token needs.
//!
//! With `--cache FILE` a token that is still fresh is kept across runs, as
//! a device keeps it across sleep and reset: the run first restores the
//! token record in `FILE` (`Client::restore_token`, checked against this
//! configuration and the system clock) and uses that token without
//! contacting the server; otherwise it fetches one and writes its record
//! to `FILE` (`Client::export_token`; mode 0600 on Unix: the record holds
//! the token, never the secret). A last line says which:
//! `source=cache` or `source=server`. An unusable record (expired, other
//! configuration, damaged) gets one `note: …` line on stderr and a fetch.
//!
//! With `--revoke [URL]` (feature `revocation`) the token of the run
//! (fetched, or from `--cache`) is revoked last (RFC 7009) at `URL`, or
//! without it at the `revocation_endpoint` of `--issuer`'s metadata;
//! `revoked=1` is printed and the `--cache` file, which held that token,
//! is removed.
//!
//! The client secret is never printed; the access token only as
//! `access_token=` on success.
//!
//! `https://` needs `--ca-cert FILE`: the root certificate(s) the server's
//! chain must lead to (one DER certificate, or a PEM bundle of one or more,
//! as curl's `--cacert`). The connection is TLS 1.3 through embedded-tls
//! (`tls.rs`) with the crate's verifier (rustls-webpki): the chain
//! through the server's intermediates, the validity dates, the server's
//! name (DNS name or IP address); there is no way to skip that.
//! `--server-name` verifies another name than the URL's host. `http://`
//! works only with `--allow-http` (loopback tests).

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

mod args;
mod auth_method;
mod tls;

use args::{Args, Command, USAGE};
use auth_method::AuthMethod;
use embedded_oauth2::blocking::Connect;
use embedded_oauth2::http::{ResourceRequest, ResourceResponse, ResourceUrl, ResponseHead};
use embedded_oauth2::persist::record_len;
use embedded_oauth2::tls::blocking::Open;
use embedded_oauth2::{Attempt, CallError, Freshness, NoRandom, WallClock};
use embedded_oauth2::{
    Client, ClientAuth, ClientId, ClientSecret, Config, Error, Instant, Limits, Token,
    TokenEndpoint, TokenType,
};
use tls::{HostTls, StdSocket, StdTcp};
use zeroize::Zeroize;

/// Connect, read and write timeout for the token endpoint.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Client secret capacity.
const SECRET_CAP: usize = 256;
/// Access token capacity.
const TOKEN_CAP: usize = 8192;
/// Granted scope capacity.
const SCOPE_CAP: usize = 1024;
/// Work buffer for request, response and parsing: room for the largest
/// response the default [`Limits`] accept (head and body) plus the staged
/// access token and scope, so that a token near `TOKEN_CAP` fails (if at
/// all) on the token capacity, not on the work buffer. About 29 KiB.
const WORK_BUF: usize = {
    let limits = Limits::new();
    limits.max_head + limits.max_body + TOKEN_CAP + SCOPE_CAP
};

/// The client as this tool holds it (its clock and wall clock vary).
type Tool<'a, C, W> = Client<'a, C, SECRET_CAP, TOKEN_CAP, SCOPE_CAP, NoRandom, W>;

/// Exit status for an OAuth error response.
const EXIT_OAUTH: u8 = 2;

// ---- Outcome --------------------------------------------------------------

/// How the run ended, printed by [`report`].
enum Failure {
    /// Bad arguments: the message and the usage line, exit 1.
    Usage(String),
    /// Any other failure: one `error: …` line, exit 1.
    Other(String),
    /// The server's OAuth error: `error=…` (and `error_description=…`), exit 2.
    OAuth {
        code: String,
        description: Option<String>,
    },
}

impl<E: embedded_io::Error + 'static> From<Error<E>> for Failure {
    fn from(e: Error<E>) -> Self {
        match e {
            Error::OAuth(o) => Failure::OAuth {
                code: o.code.as_str().to_owned(),
                description: None,
            },
            other => Failure::Other(message(other)),
        }
    }
}

/// The text of an error, a timeout said as one.
fn message<E: embedded_io::Error + 'static>(e: Error<E>) -> String {
    match e {
        Error::Transport(t) if timed_out(&t) => format!(
            "transport error: timed out after {} s waiting for the server",
            TIMEOUT.as_secs()
        ),
        other => other.to_string(),
    }
}

/// A read or write timeout on Unix: `WouldBlock` (which embedded-io maps to
/// `Other`, and whose message, "Resource temporarily unavailable", misleads),
/// over plain TCP or under TLS.
fn timed_out<E: embedded_io::Error + 'static>(e: &E) -> bool {
    let e = e as &dyn std::error::Error;
    let io = match e.downcast_ref::<tls::TlsConnectError>() {
        Some(tls::TlsConnectError::Transport(io)) => Some(io),
        Some(_) => None,
        None => e.downcast_ref::<io::Error>(),
    };
    io.is_some_and(|io| io.kind() == io::ErrorKind::WouldBlock)
}

/// Writes to stderr; a failing stderr is ignored (there is nowhere to report it).
fn eprint_lines(lines: &[&str]) {
    let mut err = io::stderr().lock();
    for l in lines {
        let _ = writeln!(err, "{l}");
    }
}

fn report(failure: Failure) -> ExitCode {
    match failure {
        Failure::Usage(msg) => {
            eprint_lines(&[&format!("error: {msg}"), USAGE]);
            ExitCode::FAILURE
        }
        Failure::Other(msg) => {
            eprint_lines(&[&format!("error: {msg}")]);
            ExitCode::FAILURE
        }
        Failure::OAuth { code, description } => {
            let code = format!("error={code}");
            match description {
                Some(d) => eprint_lines(&[&code, &format!("error_description={d}")]),
                None => eprint_lines(&[&code]),
            }
            ExitCode::from(EXIT_OAUTH)
        }
    }
}

// ---- Configuration --------------------------------------------------------

/// The secret from `--client-secret`, else from `CLIENT_SECRET` (empty
/// counts as unset).
fn secret_from(args: &Args) -> Result<String, Failure> {
    if let Some(s) = &args.client_secret {
        return Ok(s.clone());
    }
    match std::env::var("CLIENT_SECRET") {
        Ok(s) if !s.is_empty() => Ok(s),
        Ok(_) | Err(std::env::VarError::NotPresent) => Err(Failure::Usage(
            "--client-secret (or CLIENT_SECRET) is required unless --auth none".into(),
        )),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::Other(
            "CLIENT_SECRET is not valid UTF-8".to_owned(),
        )),
    }
}

fn client_auth(args: &Args) -> Result<ClientAuth<SECRET_CAP>, Failure> {
    let method = args.auth.unwrap_or(AuthMethod::Basic);
    require_feature(method)?;
    check_assertion_flags(args, method)?;
    let secret = || -> Result<ClientSecret<SECRET_CAP>, Failure> {
        ClientSecret::new(&secret_from(args)?)
            .map_err(|e| Failure::Other(format!("client secret: {e}")))
    };
    Ok(match method {
        AuthMethod::Basic => ClientAuth::Basic(secret()?),
        AuthMethod::BasicUnencoded => ClientAuth::BasicUnencoded(secret()?),
        AuthMethod::Post => ClientAuth::Post(secret()?),
        AuthMethod::Auto => ClientAuth::Auto(secret()?),
        AuthMethod::None => ClientAuth::ClientIdOnly,
        #[cfg(feature = "client-secret-jwt")]
        AuthMethod::Jwt => ClientAuth::SecretJwt(secret()?),
        #[cfg(not(feature = "client-secret-jwt"))]
        AuthMethod::Jwt => return Err(missing_feature(method)),
        #[cfg(feature = "p256")]
        AuthMethod::PrivateKeyJwt => ClientAuth::PrivateKeyJwt,
        #[cfg(not(feature = "p256"))]
        AuthMethod::PrivateKeyJwt => return Err(missing_feature(method)),
    })
}

/// Refuses, before anything else is checked, a method whose crate feature
/// this build lacks.
fn require_feature(method: AuthMethod) -> Result<(), Failure> {
    let missing = (method == AuthMethod::Jwt && !cfg!(feature = "client-secret-jwt"))
        || (method == AuthMethod::PrivateKeyJwt && !cfg!(feature = "p256"));
    if missing {
        Err(missing_feature(method))
    } else {
        Ok(())
    }
}

/// Exit 1 naming the crate feature `method` needs.
fn missing_feature(method: AuthMethod) -> Failure {
    let (name, feature, what) = match method {
        AuthMethod::PrivateKeyJwt => ("private-key-jwt", "p256", " (the software ES256 signer)"),
        _ => ("jwt", "client-secret-jwt", ""),
    };
    Failure::Other(format!(
        "--auth {name} needs the crate feature \"{feature}\"{what}: \
         cargo run -p embedded-oauth2-cli --features {feature} -- ..."
    ))
}

/// `--key`, `--key-id` and `--assertion-aud` only where they mean
/// something; `--key` where it is needed; no control characters in what
/// goes into the assertion's JSON.
fn check_assertion_flags(args: &Args, method: AuthMethod) -> Result<(), Failure> {
    if method != AuthMethod::PrivateKeyJwt && (args.key.is_some() || args.key_id.is_some()) {
        return Err(Failure::Usage(
            "--key and --key-id apply to --auth private-key-jwt only".into(),
        ));
    }
    if !method.signed() && args.assertion_aud.is_some() {
        return Err(Failure::Usage(
            "--assertion-aud applies to --auth jwt and private-key-jwt only".into(),
        ));
    }
    if method == AuthMethod::PrivateKeyJwt && args.key.is_none() {
        return Err(Failure::Usage(
            "--auth private-key-jwt needs --key FILE (a PKCS#8 PEM P-256 private key)".into(),
        ));
    }
    for (flag, value) in [
        ("--key-id", &args.key_id),
        ("--assertion-aud", &args.assertion_aud),
    ] {
        if value
            .as_deref()
            .is_some_and(|v| v.is_empty() || v.chars().any(char::is_control))
        {
            return Err(Failure::Other(format!(
                "{flag}: must be non-empty and free of control characters"
            )));
        }
    }
    Ok(())
}

// ---- Signed client assertions (RFC 7523) ----------------------------------

/// The assertion's wall clock: UNIX seconds from the system clock (`None`,
/// refused by the library, if the clock is before 1970).
#[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
fn wall_clock() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// `jti` = 8 random bytes for this run, then a counter: unique across runs
/// without keeping state.
#[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
fn random_jti() -> Result<embedded_oauth2::assertion::CounterJti, Failure> {
    use rand_core::{OsRng, RngCore};
    let mut prefix = [0u8; 8];
    OsRng
        .try_fill_bytes(&mut prefix)
        .map_err(|e| Failure::Other(format!("no random numbers for the jti: {e}")))?;
    Ok(embedded_oauth2::assertion::CounterJti::new(prefix))
}

/// The ES256 signer from `FLAG FILE` (`--key`, `--dpop-key`): a PKCS#8 PEM
/// P-256 private key.
#[cfg(feature = "p256")]
fn load_signer(flag: &str, path: &str) -> Result<embedded_oauth2::assertion::P256Signer, Failure> {
    use p256::pkcs8::DecodePrivateKey;
    use zeroize::Zeroize;
    let shown = path.escape_debug();
    let mut pem = std::fs::read_to_string(path)
        .map_err(|e| Failure::Other(format!("{flag} {shown}: {e}")))?;
    let key = p256::SecretKey::from_pkcs8_pem(&pem);
    pem.zeroize();
    let key = key.map_err(|e| {
        Failure::Other(format!(
            "{flag} {shown}: not a PKCS#8 PEM P-256 private key ({e})"
        ))
    })?;
    let mut scalar: [u8; 32] = key.to_bytes().into();
    let signer = embedded_oauth2::assertion::P256Signer::from_bytes(&scalar);
    scalar.zeroize();
    signer.map_err(|e| Failure::Other(format!("{flag} {shown}: {e}")))
}

// ---- Transport ------------------------------------------------------------

/// Plain TCP to the endpoint's host and port, with timeouts (the crate's
/// `std` opener; errors name the address).
fn connect_tcp(ep: &TokenEndpoint<'_>) -> Result<StdSocket, io::Error> {
    StdTcp::new(TIMEOUT).open(ep.host(), ep.port())
}

/// The verified TLS connector from `--ca-cert` and `--server-name`.
fn tls_connector(args: &Args) -> Result<tls::TlsConnector, Failure> {
    let path = args.ca_cert.as_deref().ok_or_else(|| {
        Failure::Usage(
            "--ca-cert FILE is required for an https:// token URL: the root \
             certificate(s) (DER, or a PEM bundle) the server's chain leads to"
                .into(),
        )
    })?;
    let shown = path.escape_debug();
    let ca = std::fs::read(path).map_err(|e| Failure::Other(format!("--ca-cert {shown}: {e}")))?;
    // Parsed here too so that the message names the flag at fault.
    tls::certificates_der(&ca).map_err(|e| Failure::Other(format!("--ca-cert {shown}: {e}")))?;
    let tls = tls::connector(&ca, args.server_name.as_deref())
        .map(|c| c.with_timeout(TIMEOUT))
        .map_err(|e| match e.strip_prefix("server name: ") {
            Some(e) => Failure::Other(format!("--server-name: {e}")),
            None => Failure::Other(format!("--ca-cert {shown}: {e}")),
        })?;
    with_client_certificate(tls, args)
}

/// `--client-cert FILE --client-key FILE`: mutual TLS (feature `mtls`).
#[cfg(all(feature = "mtls", feature = "p256"))]
fn with_client_certificate(
    tls: tls::TlsConnector,
    args: &Args,
) -> Result<tls::TlsConnector, Failure> {
    let (cert, key) = match (&args.client_cert, &args.client_key) {
        (None, None) => return Ok(tls),
        (Some(c), Some(k)) => (c, k),
        _ => {
            return Err(Failure::Usage(
                "--client-cert and --client-key go together".into(),
            ));
        }
    };
    let shown = cert.escape_debug();
    let raw =
        std::fs::read(cert).map_err(|e| Failure::Other(format!("--client-cert {shown}: {e}")))?;
    let der = tls::certificate_der(&raw)
        .map_err(|e| Failure::Other(format!("--client-cert {shown}: {e}")))?;
    // The connector borrows both for its lifetime: a CLI runs once.
    let der: &'static [u8] = Box::leak(der.into_boxed_slice());
    let signer: &'static embedded_oauth2::assertion::P256Signer =
        Box::leak(Box::new(load_signer("--client-key", key)?));
    tls.with_client_certificate(der, signer)
        .map_err(|e| Failure::Other(format!("--client-cert {shown}: {e}")))
}

#[cfg(not(all(feature = "mtls", feature = "p256")))]
fn with_client_certificate(
    tls: tls::TlsConnector,
    args: &Args,
) -> Result<tls::TlsConnector, Failure> {
    if args.client_cert.is_some() || args.client_key.is_some() {
        return Err(Failure::Other(
            "--client-cert needs the crate features \"mtls\" and \"p256\": \
             cargo run -p embedded-oauth2-cli --features mtls,p256 -- ..."
                .into(),
        ));
    }
    Ok(tls)
}

/// Runs the exchange over any connector (plain TCP or verified TLS) and
/// prints the token.
fn fetch_with<K: Connect>(
    client: &mut Tool<'_, impl embedded_oauth2::Clock, impl WallClock>,
    connector: &mut K,
) -> Result<(), Failure>
where
    K::Error: 'static,
{
    let mut buf = vec![0u8; WORK_BUF];
    let result = client.fetch(connector, &mut buf).map(|_| ());
    if let Err(e) = result {
        let mut failure = Failure::from(e);
        // The server's own words, kept by the client next to the error.
        if let (Failure::OAuth { code, description }, Some(d)) =
            (&mut failure, client.error_details())
        {
            if let Some(full) = d.code {
                *code = full.to_string();
            }
            *description = d.description.map(|t| t.to_string());
        }
        return Err(failure);
    }
    match client.cached() {
        Some(token) => print_token(token),
        None => Err(Failure::Other("the token expired at once".into())),
    }
}

fn print_token(token: &Token<TOKEN_CAP, SCOPE_CAP>) -> Result<(), Failure> {
    let token_type = match token.token_type() {
        TokenType::Bearer => "Bearer",
        TokenType::Dpop => "DPoP",
        _ => "unknown",
    };
    let mut out = format!(
        "access_token={}\ntoken_type={token_type}\n",
        token.expose_secret()
    );
    if let Some(e) = token.expires_in() {
        out.push_str(&format!("expires_in={e}\n"));
    }
    if let Some(s) = token.scope() {
        out.push_str(&format!("scope={s}\n"));
    }
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Other(format!("writing to stdout: {e}")))
}

// ---- Discovery ------------------------------------------------------------

/// `--issuer URL`: the token endpoint from the issuer's metadata, over the
/// same TLS (or, with `--allow-http`, plain TCP) as the token request.
#[cfg(feature = "discovery")]
fn discover(issuer: &str, args: &Args) -> Result<Discovered, Failure> {
    use embedded_oauth2::discovery::{Issuer, WellKnown};
    let issuer = if args.allow_http {
        Issuer::parse_allow_http(issuer)
    } else {
        Issuer::parse(issuer)
    }
    .map_err(|e| Failure::Other(format!("--issuer: {e}")))?;
    let mut buf = vec![0u8; WORK_BUF];
    let fail = |e: &dyn std::fmt::Display| Failure::Other(format!("--issuer: {e}"));
    fn not_found<E>(e: &Error<E>) -> bool {
        matches!(
            e,
            Error::Http(embedded_oauth2::error::HttpError::UnexpectedStatus { status: 404, .. })
        )
    }
    if issuer.endpoint().is_https() {
        let mut connector = tls_connector(args)?;
        let mut d = |kind, buf: &mut [u8]| {
            embedded_oauth2::blocking::discover(&mut connector, &issuer, kind, buf)
                .map(|m| Discovered::of(&m))
        };
        match d(WellKnown::OAuthAuthorizationServer, &mut buf) {
            Err(e) if not_found(&e) => d(WellKnown::OpenIdConfiguration, &mut buf),
            r => r,
        }
        .map_err(|e| fail(&e))
    } else {
        let d = |kind, buf: &mut [u8]| {
            embedded_oauth2::blocking::discover(&mut connect_tcp, &issuer, kind, buf)
                .map(|m| Discovered::of(&m))
        };
        match d(WellKnown::OAuthAuthorizationServer, &mut buf) {
            Err(e) if not_found(&e) => d(WellKnown::OpenIdConfiguration, &mut buf),
            r => r,
        }
        .map_err(|e| fail(&e))
    }
}

/// What `--issuer` uses of the metadata.
struct Discovered {
    token_endpoint: String,
    /// RFC 8705 §5: the token endpoint for mutual-TLS clients, if distinct.
    mtls_token_endpoint: Option<String>,
    /// Whether `dpop_signing_alg_values_supported` lists ES256.
    dpop_es256: bool,
    /// Where `--auth auto` starts, from `token_endpoint_auth_methods_supported`.
    auto_style: Option<embedded_oauth2::AuthStyle>,
    /// For `--revoke` without a URL (RFC 8414 `revocation_endpoint`).
    revocation_endpoint: Option<String>,
    /// RFC 8705 §5: the revocation endpoint for mutual-TLS clients.
    mtls_revocation_endpoint: Option<String>,
}

#[cfg(feature = "discovery")]
impl Discovered {
    fn of(m: &embedded_oauth2::discovery::Metadata<'_>) -> Self {
        Self {
            token_endpoint: m.token_endpoint.url().to_owned(),
            mtls_token_endpoint: m.mtls_token_endpoint.map(|e| e.url().to_owned()),
            dpop_es256: m.dpop_es256,
            auto_style: m.auth_methods.auto_style(),
            revocation_endpoint: m.revocation_endpoint.map(|e| e.url().to_owned()),
            mtls_revocation_endpoint: m.mtls_revocation_endpoint.map(|e| e.url().to_owned()),
        }
    }
}

#[cfg(not(feature = "discovery"))]
fn discover(_: &str, _: &Args) -> Result<Discovered, Failure> {
    Err(Failure::Other(
        "--issuer needs the crate feature \"discovery\": \
         cargo run -p embedded-oauth2-cli --features discovery -- ..."
            .into(),
    ))
}

// ---- Main -----------------------------------------------------------------

fn run() -> Result<(), Failure> {
    let args = match args::parse(std::env::args_os().skip(1)).map_err(Failure::Usage)? {
        Command::Print(text) => {
            return text
                .print()
                .map_err(|e| Failure::Other(format!("writing to stdout: {e}")));
        }
        Command::Fetch(args) => *args,
    };
    #[cfg(not(feature = "revocation"))]
    if args.revoke.is_some() {
        return Err(Failure::Other(
            "--revoke needs the crate feature \"revocation\": \
             cargo run -p embedded-oauth2-cli --features revocation -- ..."
                .into(),
        ));
    }
    // `--revoke` without a URL: the revocation endpoint of the metadata.
    if matches!(args.revoke, Some(None)) && args.issuer.is_none() {
        return Err(Failure::Usage(
            "--revoke without a URL needs --issuer (its metadata names the revocation \
             endpoint): give --revoke URL or --issuer URL"
                .into(),
        ));
    }
    let discovered;
    let mut auto_style = None;
    // The metadata's revocation endpoint (the mTLS alias with a client
    // certificate), for `--revoke` without a URL.
    let mut discovered_revocation = None;
    let token_url = match (&args.token_url, &args.issuer) {
        (Some(url), None) => url.as_str(),
        (None, Some(issuer)) => {
            discovered = discover(issuer, &args)?;
            // A client certificate goes to the mTLS alias when there is one.
            let endpoint = match (&args.client_cert, &discovered.mtls_token_endpoint) {
                (Some(_), Some(alias)) => alias,
                _ => &discovered.token_endpoint,
            };
            discovered_revocation = match (&args.client_cert, &discovered.mtls_revocation_endpoint)
            {
                (Some(_), Some(alias)) => Some(alias.as_str()),
                _ => discovered.revocation_endpoint.as_deref(),
            };
            println!("token_endpoint={endpoint}");
            if args.dpop_key.is_some() && !discovered.dpop_es256 {
                eprint_lines(&[
                    "note: the server's metadata does not list ES256 for DPoP; trying anyway",
                ]);
            }
            auto_style = discovered.auto_style;
            endpoint.as_str()
        }
        (Some(_), Some(_)) => {
            return Err(Failure::Usage(
                "--token-url and --issuer exclude each other".into(),
            ));
        }
        (None, None) => {
            return Err(Failure::Usage(
                "--token-url (or --issuer) is required".into(),
            ));
        }
    };
    let client_id = args
        .client_id
        .as_deref()
        .ok_or_else(|| Failure::Usage("--client-id is required".into()))?;

    let endpoint = if args.allow_http {
        TokenEndpoint::parse_allow_http(token_url)
    } else {
        TokenEndpoint::parse(token_url)
    }
    .map_err(|e| {
        let hint = if e == embedded_oauth2::error::ConfigError::InsecureScheme {
            " (pass --allow-http for a loopback test server)"
        } else {
            ""
        };
        Failure::Other(format!("--token-url: {e}{hint}"))
    })?;
    let client_id =
        ClientId::new(client_id).map_err(|e| Failure::Other(format!("--client-id: {e}")))?;
    let auth = client_auth(&args)?;
    let method = args.auth.unwrap_or(AuthMethod::Basic);
    // What the assertion borrows lives here, as long as the configuration.
    #[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
    let jti = if method.signed() {
        Some(random_jti()?)
    } else {
        None
    };
    #[cfg(feature = "p256")]
    let signer = match (method, &args.key) {
        (AuthMethod::PrivateKeyJwt, Some(path)) => Some(load_signer("--key", path)?),
        _ => None,
    };

    // The DPoP key, its public half and the proofs' jti source.
    #[cfg(all(feature = "dpop", feature = "p256"))]
    let dpop_parts = match &args.dpop_key {
        Some(path) => {
            let signer = load_signer("--dpop-key", path)?;
            let public = signer.public_key_sec1();
            Some((signer, public, random_jti()?))
        }
        None => None,
    };
    #[cfg(all(feature = "dpop", feature = "p256"))]
    let dpop = match &dpop_parts {
        Some((signer, public, jti)) => Some(embedded_oauth2::dpop::Dpop::new(
            embedded_oauth2::dpop::DpopKey::new(signer, public)
                .map_err(|e| Failure::Other(format!("--dpop-key: {e}")))?,
            &wall_clock,
            jti,
        )),
        None => None,
    };
    #[cfg(not(all(feature = "dpop", feature = "p256")))]
    let dpop: Option<Dpop<'_>> = match &args.dpop_key {
        Some(_) => {
            return Err(Failure::Other(
                "--dpop-key needs the crate features \"dpop\" and \"p256\": \
                 cargo run -p embedded-oauth2-cli --features dpop,p256 -- ..."
                    .into(),
            ));
        }
        None => None,
    };

    let mut config = Config::new(endpoint, client_id, auth);
    #[cfg(all(feature = "dpop", feature = "p256"))]
    if let Some(d) = dpop {
        config = config.with_dpop(d);
    }
    #[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
    if let Some(jti) = &jti {
        use embedded_oauth2::assertion::{Assertion, Audience};
        let mut assertion = Assertion::new(&wall_clock, jti);
        if let Some(aud) = &args.assertion_aud {
            assertion = assertion.with_audience(Audience::Other(aud));
        }
        if let Some(kid) = &args.key_id {
            assertion = assertion.with_key_id(kid);
        }
        #[cfg(feature = "p256")]
        if let Some(signer) = &signer {
            assertion = assertion.with_signer(signer);
        }
        config = config.with_assertion(assertion);
    }
    let _ = method;
    if let Some(scope) = &args.scope {
        config = config
            .with_scope(scope)
            .map_err(|e| Failure::Other(format!("--scope: {e}")))?;
    }
    if let Some(audience) = &args.audience {
        config = config
            .with_audience(audience)
            .map_err(|e| Failure::Other(format!("--audience: {e}")))?;
    }
    #[cfg(feature = "revocation")]
    if let Some(url) = &args.revoke {
        let url = match url {
            Some(url) => url.as_str(),
            None => discovered_revocation.ok_or_else(|| {
                Failure::Other(
                    "--revoke: the issuer's metadata names no revocation_endpoint \
                     (give --revoke URL)"
                        .into(),
                )
            })?,
        };
        let ep = if args.allow_http {
            TokenEndpoint::parse_allow_http(url)
        } else {
            TokenEndpoint::parse(url)
        }
        .map_err(|e| Failure::Other(format!("--revoke: {e}")))?;
        config = config.with_revocation_endpoint(ep);
    }
    #[cfg(not(feature = "revocation"))]
    let _ = discovered_revocation;
    let resources: Vec<&str> = args.resources.iter().map(String::as_str).collect();
    if !resources.is_empty() {
        config = config
            .with_resources(&resources)
            .map_err(|e| Failure::Other(format!("--resource: {e}")))?;
    }

    let origin = std::time::Instant::now();
    let clock = move || {
        Instant::from_millis(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    };
    // The wall clock anchors a cached token's expiry (`--cache`) and
    // dates a `Retry-After` given as an HTTP-date.
    let client: Client<_, SECRET_CAP, TOKEN_CAP, SCOPE_CAP> = Client::new(config, clock);
    let mut client = client_with_wall_clock(client);
    // A server whose metadata lists only client_secret_post: `--auth auto`
    // starts there.
    if let Some(style) = auto_style {
        client.assume_auth_style(style);
    }

    let call = match &args.call {
        Some(url) => Some(call_target(url, &args)?),
        None => None,
    };
    let https_anywhere = endpoint.is_https() || call.as_ref().is_some_and(|c| c.is_https());
    if !https_anywhere
        && (args.ca_cert.is_some()
            || args.server_name.is_some()
            || args.client_cert.is_some()
            || args.client_key.is_some())
    {
        return Err(Failure::Usage(
            "--ca-cert, --server-name and --client-cert apply to an https:// token URL only".into(),
        ));
    }
    let cached = match &args.cache {
        Some(path) => restore_cache(&mut client, path)?,
        None => false,
    };
    if endpoint.is_https() {
        let mut connector = tls_connector(&args)?;
        if !cached {
            fetch_with(&mut client, &mut connector)?;
            save_cache(&client, args.cache.as_deref())?;
        }
        if let Some(target) = call {
            call_with(&mut client, &mut connector, &target, &args, dpop)?;
        }
        return revoke_with(&mut client, &mut connector, &args);
    }
    if !cached {
        fetch_with(&mut client, &mut connect_tcp)?;
        save_cache(&client, args.cache.as_deref())?;
    }
    if let Some(target) = call {
        call_with(&mut client, &mut connect_tcp, &target, &args, dpop)?;
    }
    revoke_with(&mut client, &mut connect_tcp, &args)
}

/// `--revoke [URL]`: revokes the token the client holds (fetched or from the
/// cache) and prints `revoked=1`; the `--cache` file, now useless, goes.
fn revoke_with<K: Connect>(
    client: &mut Tool<'_, impl embedded_oauth2::Clock, impl WallClock>,
    connector: &mut K,
    args: &Args,
) -> Result<(), Failure>
where
    K::Error: 'static,
{
    if args.revoke.is_none() {
        return Ok(());
    }
    #[cfg(feature = "revocation")]
    {
        let mut buf = vec![0u8; WORK_BUF];
        client.revoke(connector, &mut buf).map_err(Failure::from)?;
        println!("revoked=1");
        if let Some(path) = &args.cache {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Failure::Other(format!("--cache {path}: {e}")));
                }
                _ => {}
            }
        }
        Ok(())
    }
    #[cfg(not(feature = "revocation"))]
    {
        let _ = (client, connector);
        Ok(())
    }
}

// ---- --cache ----------------------------------------------------------------

/// UNIX seconds from the system clock (`None` before 1970).
fn system_unix_time() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The client with the system clock as its wall clock.
fn client_with_wall_clock<'a, C: embedded_oauth2::Clock>(
    client: Client<'a, C, SECRET_CAP, TOKEN_CAP, SCOPE_CAP>,
) -> Client<'a, C, SECRET_CAP, TOKEN_CAP, SCOPE_CAP, NoRandom, fn() -> Option<u64>> {
    client.with_wall_clock(system_unix_time as fn() -> Option<u64>)
}

/// `--cache FILE`: restores the token record in `FILE`. `true` when the
/// client now holds a fresh token, which is then printed (with
/// `source=cache`); `false` (no file, or a record that cannot be used,
/// noted on stderr, or a token due for renewal) means fetch.
fn restore_cache(
    client: &mut Tool<'_, impl embedded_oauth2::Clock, impl WallClock>,
    path: &str,
) -> Result<bool, Failure> {
    let mut record = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            eprint_lines(&[&format!("note: --cache {path}: {e}; fetching a new token")]);
            return Ok(false);
        }
    };
    let restored = client.restore_token(&record);
    record.zeroize();
    if let Err(e) = restored {
        eprint_lines(&[&format!("note: --cache {path}: {e}; fetching a new token")]);
        return Ok(false);
    }
    if client.freshness() != Freshness::Fresh {
        return Ok(false);
    }
    match client.cached() {
        Some(token) => print_token(token)?,
        None => return Ok(false),
    }
    print_source("cache")?;
    Ok(true)
}

/// After a fetch: with `--cache FILE`, writes the token record to `FILE`
/// (a temporary file renamed over it; mode 0600 on Unix) and prints
/// `source=server`.
fn save_cache(
    client: &Client<
        '_,
        impl embedded_oauth2::Clock,
        SECRET_CAP,
        TOKEN_CAP,
        SCOPE_CAP,
        NoRandom,
        impl WallClock,
    >,
    path: Option<&str>,
) -> Result<(), Failure> {
    let Some(path) = path else { return Ok(()) };
    let mut record = vec![0u8; record_len(TOKEN_CAP, SCOPE_CAP)];
    let written = client
        .export_token(&mut record)
        .map_err(|e| e.to_string())
        .and_then(|n| write_private(path, &record[..n]).map_err(|e| e.to_string()));
    record.zeroize();
    written.map_err(|e| Failure::Other(format!("--cache {path}: {e}")))?;
    print_source("server")
}

/// Writes `bytes` to `path` through a temporary file only the user can read.
fn write_private(path: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = format!("{path}.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

fn print_source(source: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "source={source}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Other(format!("writing to stdout: {e}")))
}

// ---- --call ---------------------------------------------------------------

/// `--call URL`, checked like the token URL (https, or http with
/// `--allow-http`).
fn call_target<'u>(url: &'u str, args: &Args) -> Result<ResourceUrl<'u>, Failure> {
    if args.allow_http {
        ResourceUrl::parse_allow_http(url)
    } else {
        ResourceUrl::parse(url)
    }
    .map_err(|e| Failure::Other(format!("--call: {e}")))
}

/// Uses the token at `target` through `Client::call` (`GET`, the crate's
/// resource request) and prints the outcome. The service's connection
/// comes from a connector of its own (plain TCP, or TLS verified against
/// `--ca-cert`): `call` holds the token endpoint's.
fn call_with<K: Connect>(
    client: &mut Tool<'_, impl embedded_oauth2::Clock, impl WallClock>,
    connector: &mut K,
    target: &ResourceUrl<'_>,
    args: &Args,
    dpop: Option<Dpop<'_>>,
) -> Result<(), Failure>
where
    K::Error: 'static,
{
    let mut tls = if target.is_https() {
        Some(tls_connector(args)?)
    } else {
        None
    };
    let mut buf = vec![0u8; WORK_BUF];
    // The request, then the service's answer.
    let mut answer = vec![0u8; WORK_BUF];
    // The service's latest DPoP nonce (RFC 9449 §9).
    let mut nonce = None;
    // The service's last refusal (status and body), shown if the call fails.
    let mut refused: Option<(u16, Vec<u8>)> = None;
    let result = client.call(connector, &mut buf, |_, token| {
        let mut proof_buf = vec![0u8; 1024];
        let mut request = ResourceRequest::get(target);
        if let Some(d) = &dpop {
            let proof = dpop_proof(
                d,
                target.url(),
                token.expose_secret(),
                nonce.as_ref(),
                &mut proof_buf,
            )
            .map_err(|e| format!("DPoP proof: {e}"))?;
            request = request
                .with_dpop_proof(proof)
                .map_err(|e| format!("DPoP proof: {e}"))?;
        }
        let response = match &mut tls {
            Some(tls) => embedded_oauth2::blocking::request(tls, &request, token, &mut answer)
                .map_err(message),
            None => {
                embedded_oauth2::blocking::request(&mut connect_tcp, &request, token, &mut answer)
                    .map_err(message)
            }
        }?;
        if Attempt::<()>::rejects_token(response.status) {
            refused = Some((response.status, response.body(&answer).to_vec()));
        }
        let sent_nonce = head_nonce(response.head());
        Ok::<_, String>(match response.attempt() {
            Attempt::UseDpopNonce if dpop.is_some() => {
                nonce = sent_nonce;
                Attempt::UseDpopNonce
            }
            // A Bearer token refused as a DPoP one would be: a 401 as any.
            Attempt::UseDpopNonce => Attempt::TokenRejected,
            other => other,
        })
    });
    let response: ResourceResponse = match result {
        Ok(response) => response,
        Err(e) => {
            // The service's last answer first (a refusal, then the renewal
            // failed or was refused too), then why the call failed.
            if let (Some((status, body)), false) = (&refused, matches!(e, CallError::Resource(_))) {
                print_call(*status, body)?;
            }
            return Err(match e {
                CallError::Token(e) => Failure::from(e),
                CallError::Resource(e) => Failure::Other(format!("--call: {e}")),
                CallError::Rejected => {
                    Failure::Other("--call: the service refused the renewed token too (401)".into())
                }
                other => Failure::Other(format!("--call: {other}")),
            });
        }
    };
    print_call(response.status, response.body(&answer))
}

/// `call_status=` and `call_body=` (on one line, [`escape_body`]).
fn print_call(status: u16, body: &[u8]) -> Result<(), Failure> {
    let line = format!("call_status={status}\ncall_body={}\n", escape_body(body));
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Other(format!("writing to stdout: {e}")))
}

// ---- DPoP at the service (--dpop-key with --call) ---------------------------

#[cfg(all(feature = "dpop", feature = "p256"))]
use embedded_oauth2::dpop::{Dpop, DpopNonce};

/// Without the features: never built (`--dpop-key` is refused first).
#[cfg(not(all(feature = "dpop", feature = "p256")))]
#[derive(Clone, Copy)]
enum NoDpop {}
#[cfg(not(all(feature = "dpop", feature = "p256")))]
type Dpop<'a> = core::marker::PhantomData<&'a NoDpop>;
#[cfg(not(all(feature = "dpop", feature = "p256")))]
type DpopNonce = NoDpop;

/// The proof for `GET url` presenting `token`.
#[cfg(all(feature = "dpop", feature = "p256"))]
fn dpop_proof<'b>(
    d: &Dpop<'_>,
    url: &str,
    token: &str,
    nonce: Option<&DpopNonce>,
    buf: &'b mut [u8],
) -> Result<&'b str, Error> {
    d.proof("GET", url, token, nonce, buf)
}
#[cfg(not(all(feature = "dpop", feature = "p256")))]
fn dpop_proof<'b>(
    _: &Dpop<'_>,
    _: &str,
    _: &str,
    _: Option<&DpopNonce>,
    _: &'b mut [u8],
) -> Result<&'b str, Error> {
    Ok("")
}

/// The `DPoP-Nonce` the service sent.
fn head_nonce(head: &ResponseHead) -> Option<DpopNonce> {
    #[cfg(all(feature = "dpop", feature = "p256"))]
    return head.dpop_nonce;
    #[cfg(not(all(feature = "dpop", feature = "p256")))]
    {
        let _ = head;
        None
    }
}

/// The body on one line: printable ASCII as is, `\\`, `\n`, `\r`, `\t`,
/// and `\xNN` for every other byte (so the device prints the same).
fn escape_body(body: &[u8]) -> String {
    let mut out = String::with_capacity(body.len());
    for &b in body {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f),
    }
}
