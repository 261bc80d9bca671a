//! The command line: a clap derive struct, and clap's errors mapped to the
//! tool's own one-line messages (exit 1 with the usage line; exit 2 means
//! an OAuth error here, never a usage error). No message echoes a value
//! that could be the secret.

use std::ffi::OsString;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser};

use crate::auth_method::AuthMethod;

/// The usage line without its `usage: ` prefix (also `--help`'s).
macro_rules! usage_body {
    () => {
        "fetch_token (--token-url URL | --issuer URL) --client-id ID --client-secret SECRET \
[--auth basic|basic-unencoded|post|auto|none|jwt|private-key-jwt] [--key FILE] [--key-id KID] \
[--assertion-aud URL] [--scope \"a b\"] [--audience A] [--resource URI]... \
[--ca-cert FILE] [--server-name NAME] [--client-cert FILE --client-key FILE] [--allow-http] \
[--dpop-key FILE] [--call URL] [--cache FILE] [--revoke [URL]]"
    };
}

/// The line a usage error ends with.
pub const USAGE: &str = concat!("usage: ", usage_body!());

const ABOUT: &str =
    "Fetches an OAuth 2.0 access token with the Client Credentials Grant (RFC 6749 §4.4).";

const LONG_ABOUT: &str = "\
Fetches an OAuth 2.0 access token with the Client Credentials Grant (RFC 6749 §4.4),
through embedded-oauth2: the same client, HTTP reader and TLS verifier a device
links, to try an authorization server from the host before flashing a device.

The secret may come from the environment variable CLIENT_SECRET instead of
--client-secret (the flag wins when both are given); --auth none and
--auth private-key-jwt need no secret. The client secret is never printed; the
access token only as access_token= on success.

https:// needs --ca-cert FILE: the root certificate(s) the server's chain must
lead to. The connection is TLS 1.3 with the crate's verifier (rustls-webpki):
the chain through the server's intermediates, the validity dates, the server's
name (DNS name or IP address); there is no way to skip that. http:// works
only with --allow-http (loopback tests).";

const AFTER_LONG_HELP: &str = "\
Output (stdout), one key=value per line:
  token_endpoint=URL     first, with --issuer: the discovered token endpoint
  access_token=TOKEN     the token
  token_type=Bearer      or DPoP
  expires_in=SECONDS     when the server sent it
  scope=SCOPES           when the server sent it
  call_status=CODE       with --call: the service's status (also when it
                         refuses the token: printed before the error)
  call_body=BODY         with --call: its body on one line (\\\\, \\n, \\r, \\t, and
                         \\xNN for any other byte outside printable ASCII)
  source=cache|server    with --cache: where the token came from
  revoked=1              with --revoke: the token is revoked (and the --cache
                         file removed)

A --cache record that cannot be used (expired, another configuration,
damaged) gets one `note: …` line on stderr and a fetch.

Exit status:
  0  the token was printed on stdout as key=value lines
  2  the server answered with an OAuth error: error=CODE and, when sent,
     error_description=… on stderr
  1  anything else, with one `error: …` line on stderr (a usage error adds
     the usage line)

Optional parts are cargo features of embedded-oauth2-cli, all on by default:
client-secret-jwt (--auth jwt), p256 (--auth private-key-jwt and the keys of
--dpop-key and --client-key), dpop, mtls, discovery (--issuer), revocation
(--revoke), tls-rsa and tls-p384 (servers with RSA or P-384 chains). Built
without one, the flags needing it exit 1 naming it.";

/// The parsed command line. No `Debug`: it holds the secret.
#[derive(Parser)]
#[command(
    name = "fetch_token",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    override_usage = usage_body!(),
    help_template = "usage: {usage}\n\n{about-with-newline}\n{all-args}{after-help}",
    max_term_width = 100,
)]
pub struct Args {
    /// Token endpoint (https://…; http:// only with --allow-http).
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub token_url: Option<String>,

    /// Instead of --token-url: discover the token endpoint from the
    /// issuer's metadata (RFC 8414's /.well-known/oauth-authorization-server,
    /// on a 404 OpenID Connect's /.well-known/openid-configuration), whose
    /// issuer must be the URL given; prints token_endpoint= first
    /// (feature discovery).
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub issuer: Option<String>,

    /// Client identifier.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub client_id: Option<String>,

    /// Client secret (or set CLIENT_SECRET; the flag wins).
    #[arg(long, value_name = "SECRET", allow_hyphen_values = true)]
    pub client_secret: Option<String>,

    /// Client authentication (default: basic).
    #[arg(long, value_name = "METHOD", value_parser = auth_methods(), allow_hyphen_values = true)]
    pub auth: Option<AuthMethod>,

    /// P-256 private key, PKCS#8 PEM (--auth private-key-jwt).
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    pub key: Option<String>,

    /// The kid header of the assertion (--auth private-key-jwt).
    #[arg(long, value_name = "KID", allow_hyphen_values = true)]
    pub key_id: Option<String>,

    /// The aud claim of the assertion (default: the token URL), e.g. the
    /// server's issuer identifier (--auth jwt and private-key-jwt).
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub assertion_aud: Option<String>,

    /// Requested scopes, space-delimited ("a b").
    #[arg(long, value_name = "SCOPES", allow_hyphen_values = true)]
    pub scope: Option<String>,

    /// Audience parameter.
    #[arg(long, value_name = "A", allow_hyphen_values = true)]
    pub audience: Option<String>,

    /// Resource indicator (RFC 8707); may be repeated.
    #[arg(long = "resource", value_name = "URI", allow_hyphen_values = true)]
    pub resources: Vec<String>,

    /// Root certificate(s) the server's chain must lead to: one DER
    /// certificate, or a PEM bundle of one or more (as curl's --cacert);
    /// required for https:// (always verified).
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    pub ca_cert: Option<String>,

    /// Name (DNS or IP address) to verify instead of the URL's host.
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub server_name: Option<String>,

    /// Client certificate (PEM or DER) for mutual TLS (RFC 8705), presented
    /// to the token endpoint and to --call; with --auth none it is the
    /// client authentication (tls_client_auth, self_signed_tls_client_auth)
    /// (features mtls and p256).
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    pub client_cert: Option<String>,

    /// Its P-256 private key, PKCS#8 PEM.
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    pub client_key: Option<String>,

    /// Accept http:// URLs (loopback tests only).
    #[arg(long)]
    pub allow_http: bool,

    /// P-256 private key, PKCS#8 PEM: every token request carries a DPoP
    /// proof signed with it (RFC 9449), the token is bound to it
    /// (token_type=DPoP), and --call presents it with a proof, answering a
    /// service's use_dpop_nonce once (features dpop and p256).
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    pub dpop_key: Option<String>,

    /// Then GET URL with the token (Authorization: Bearer, or DPoP); a 401
    /// renews the token once and retries once. Prints call_status= and
    /// call_body=; a service that refuses the renewed token too is exit 1
    /// (after those lines). https:// is verified as the token endpoint is.
    #[arg(long, value_name = "URL", allow_hyphen_values = true)]
    pub call: Option<String>,

    /// Reuse a fresh token stored in FILE (no request then), else fetch one
    /// and store its record there (mode 0600; the token, never the secret);
    /// prints source=cache|server.
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    pub cache: Option<String>,

    /// Last, revoke the token (RFC 7009) with the client's authentication at
    /// URL, or without URL at the revocation_endpoint of --issuer's
    /// metadata; prints revoked=1 and removes the --cache file (feature
    /// revocation).
    #[arg(long, value_name = "URL", num_args = 0..=1)]
    pub revoke: Option<Option<String>>,
}

/// `--auth`'s values, each described in `--help`.
fn auth_methods() -> impl TypedValueParser<Value = AuthMethod> {
    PossibleValuesParser::new([
        PossibleValue::new("basic").help("client_secret_basic, RFC 6749 §2.3.1 encoding"),
        PossibleValue::new("basic-unencoded")
            .help("client_secret_basic without that encoding, for servers that do not decode"),
        PossibleValue::new("post").help("client_secret_post: id and secret in the body"),
        PossibleValue::new("auto").help(
            "basic, then on invalid_client basic-unencoded, then post; the first that works \
             is kept",
        ),
        PossibleValue::new("none").help("client_id only (a public client, or mutual TLS)"),
        PossibleValue::new("jwt").help(
            "client_secret_jwt: HS256 assertion keyed with the secret (feature \
             client-secret-jwt)",
        ),
        PossibleValue::new("private-key-jwt")
            .help("private_key_jwt: ES256 assertion signed with --key (feature p256)"),
    ])
    .map(|s| AuthMethod::parse(&s).unwrap_or(AuthMethod::Basic))
}

/// What the command line asks for.
pub enum Command {
    /// `--help`, `-h`, `--version`: clap's text, for stdout, exit 0.
    Print(clap::Error),
    /// Fetch a token.
    Fetch(Box<Args>),
}

/// Parses the arguments after the program name; `Err` is a usage error's
/// message. Error messages never echo an argument that could be the secret
/// (values and positional arguments).
pub fn parse(raw: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let raw: Vec<OsString> = raw.into_iter().collect();
    // clap would refuse it too, without saying which.
    if let Some(i) = raw.iter().position(|a| a.to_str().is_none()) {
        return Err(format!("argument {} is not valid UTF-8", i + 1));
    }
    let argv = std::iter::once(OsString::from("fetch_token")).chain(raw);
    let parsed = Args::command()
        .try_get_matches_from(argv)
        .and_then(|m| Args::from_arg_matches(&m));
    match parsed {
        Ok(args) => Ok(Command::Fetch(Box::new(args))),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            Ok(Command::Print(e))
        }
        Err(e) => Err(message(&e)),
    }
}

/// clap's error as the tool's one-line message.
fn message(e: &clap::Error) -> String {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    // "--client-secret <SECRET>" or "--client-secrt=VALUE": the flag only.
    let flag = context(ContextKind::InvalidArg).map(|a| {
        a.split([' ', '='])
            .next()
            .unwrap_or_default()
            .escape_debug()
            .to_string()
    });
    let value = context(ContextKind::InvalidValue).unwrap_or_default();
    match (e.kind(), flag) {
        (ErrorKind::UnknownArgument, Some(f)) if f.starts_with('-') => {
            match context(ContextKind::SuggestedArg) {
                Some(s) => format!("unknown option {f} (did you mean {}?)", s.escape_debug()),
                None => format!("unknown option {f}"),
            }
        }
        (ErrorKind::UnknownArgument, _) => "unexpected positional argument".to_owned(),
        (ErrorKind::InvalidValue, Some(f)) if f == "--auth" && !value.is_empty() => format!(
            "--auth must be basic, basic-unencoded, post, auto, none, jwt or private-key-jwt, \
             not {}",
            value.escape_debug()
        ),
        (ErrorKind::InvalidValue, Some(f)) => format!("{f} needs a value"),
        (ErrorKind::TooManyValues, Some(f)) => format!("{f} takes no value"),
        (ErrorKind::ArgumentConflict, Some(f)) => format!("{f} given more than once"),
        (kind, _) => kind.as_str().unwrap_or("invalid arguments").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from))
    }

    fn fetch(args: &[&str]) -> Box<Args> {
        match parse_strs(args) {
            Ok(Command::Fetch(a)) => a,
            Ok(Command::Print(e)) => panic!("printed: {e}"),
            Err(e) => panic!("{e}"),
        }
    }

    /// clap's own consistency checks of the definition.
    #[test]
    fn definition() {
        Args::command().debug_assert();
    }

    /// `--revoke` takes an optional URL, never the next flag.
    #[test]
    fn revoke_arity() {
        assert!(fetch(&[]).revoke.is_none());
        assert_eq!(fetch(&["--revoke"]).revoke, Some(None));
        let a = fetch(&["--revoke", "--cache", "f"]);
        assert_eq!((a.revoke, a.cache.as_deref()), (Some(None), Some("f")));
        assert_eq!(
            fetch(&["--revoke", "https://as.example/revoke"]).revoke,
            Some(Some("https://as.example/revoke".to_owned()))
        );
    }

    /// A value may start with `-` (a secret can), as with the hand parser.
    #[test]
    fn values_may_start_with_a_dash() {
        let a = fetch(&["--client-secret", "-s3cret", "--scope", "--a"]);
        assert_eq!(a.client_secret.as_deref(), Some("-s3cret"));
        assert_eq!(a.scope.as_deref(), Some("--a"));
    }

    /// `--help`, `-h` and `--version` are printed, not errors.
    #[test]
    fn help_and_version_print() {
        for flag in ["--help", "-h", "--version", "-V"] {
            assert!(
                matches!(parse_strs(&[flag]), Ok(Command::Print(_))),
                "{flag}"
            );
        }
    }
}
