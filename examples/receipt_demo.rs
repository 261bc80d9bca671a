//! The whole story on one screen: a device obtains an access token from a
//! real authorization server over verified TLS 1.3, calls a "PDF receipt"
//! service with it, watches the token's lifetime run down, and renews it.
//!
//! Run it through `scripts/demo.sh`, which starts the authorization server
//! (oidc-provider) and the receipt service on loopback and passes their
//! ready file: `cargo run --example receipt_demo -- READY_FILE`.
//!
//! The token client and the request to the service below are the same code
//! a firmware image links; only the TCP opener (the crate's
//! `tls::host::StdTcp`) and the clocks (`tls::host::monotonic_now`, the
//! system time for certificate dates) are the host's.

#[path = "../cli/src/tls.rs"]
mod tls;

use std::process::ExitCode;
use std::time::{Duration, Instant as StdInstant};

use embedded_oauth2::http::{ResourceRequest, ResourceResponse, ResourceUrl};
use embedded_oauth2::tls::host::monotonic_now;
use embedded_oauth2::{
    Attempt, Client, ClientAuth, ClientId, ClientSecret, Config, Freshness, TokenEndpoint,
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn say(step: &str, text: &str) {
    println!("{step:>8} | {text}");
}

fn preview(token: &str) -> String {
    // Enough to recognise it, not enough to use it.
    let head: String = token.chars().take(12).collect();
    format!("{head}… ({} bytes)", token.len())
}

fn run() -> Result<(), String> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: receipt_demo READY_FILE")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let ready: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let field = |k: &str| {
        ready[k]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("ready file lacks {k}"))
    };
    let https_port = ready["https_port"]
        .as_u64()
        .ok_or("ready file lacks https_port")?;
    let receipts = field("receipts_https")?;
    let ca = std::fs::read(field("ca_pem")?).map_err(|e| e.to_string())?;
    let client_id = ready["clients"]["basic"]["client_id"]
        .as_str()
        .ok_or("no basic client")?
        .to_owned();
    let secret = ready["clients"]["basic"]["client_secret"]
        .as_str()
        .ok_or("no basic client")?
        .to_owned();
    let receipt_url = format!("{receipts}{}2026-0042", field("receipts_path_prefix")?);
    let receipt_url = ResourceUrl::parse(&receipt_url).map_err(|e| e.to_string())?;

    let token_url = format!("https://localhost:{https_port}/token");
    let clock = monotonic_now;
    let mut tls = tls::connector(&ca, None)?;
    let mut work = [0u8; 4096];

    println!("embedded-oauth2 demo: OAuth 2.0 client credentials, device to service\n");
    say(
        "device",
        &format!(
            "token endpoint {token_url}, TLS 1.3, server certificate checked against the test CA"
        ),
    );

    // ---- 1. request a token -------------------------------------------
    let endpoint = TokenEndpoint::parse(&token_url).map_err(|e| e.to_string())?;
    let config = Config::new(
        endpoint,
        ClientId::new(&client_id).map_err(|e| e.to_string())?,
        ClientAuth::Basic(ClientSecret::<64>::new(&secret).map_err(|e| e.to_string())?),
    )
    .with_scope("receipts:read")
    .map_err(|e| e.to_string())?
    .with_resources(&["https://receipts.example/"])
    .map_err(|e| e.to_string())?;
    let mut client: Client<_, 64, 2048, 128> = Client::new(config, clock);

    say(
        "step 1",
        &format!(
            "device → authorization server: POST /token, grant_type=client_credentials, client \"{client_id}\" authenticated with HTTP Basic"
        ),
    );
    let t0 = StdInstant::now();
    let token = client
        .token(&mut tls, &mut work)
        .map_err(|e| e.to_string())?;
    say(
        "step 2",
        &format!(
            "authorization server verified the client and issued a {} token {} for https://receipts.example/, scope \"{}\", expires in {} s  [{} ms]",
            if token.expose_secret().matches('.').count() == 2 {
                "JWT"
            } else {
                "opaque"
            },
            preview(token.expose_secret()),
            token.scope().unwrap_or("-"),
            token.expires_in().unwrap_or(0),
            t0.elapsed().as_millis(),
        ),
    );

    // ---- 2. call the service --------------------------------------------
    // The service's connection comes from the same connector (and its
    // record buffers) while the client is not using it.
    let mut body = vec![0u8; 4096];
    let receipt = client
        .call(&mut tls, &mut work, |tls, token| {
            say(
                "step 3",
                &format!(
                    "device → receipt service: GET {} with Authorization: Bearer {}",
                    receipt_url.path(),
                    preview(token.expose_secret())
                ),
            );
            let answer = embedded_oauth2::blocking::request(
                tls,
                &ResourceRequest::get(&receipt_url),
                token,
                &mut body,
            )?;
            if Attempt::<()>::rejects_token(answer.status) {
                say(
                    "",
                    &format!(
                        "receipt service answered {}: token refused; renewing once",
                        answer.status
                    ),
                );
            }
            Ok::<_, embedded_oauth2::Error<tls::TlsConnectError>>(ResourceResponse::attempt(answer))
        })
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(receipt.body(&body));
    say(
        "step 4",
        &format!(
            "receipt service validated the token (signature, audience, scope, introspection) and answered {}: {}",
            receipt.status,
            text.trim()
        ),
    );
    if receipt.status != 200 {
        return Err(format!(
            "expected 200 from the receipt service, got {}",
            receipt.status
        ));
    }

    // ---- 3. the token's lifetime and its renewal ------------------------
    println!();
    say(
        "expiry",
        "a second device client asks for https://short.example/ (tokens live 4 s) to show renewal",
    );
    let short_config = Config::new(
        TokenEndpoint::parse(&token_url).map_err(|e| e.to_string())?,
        ClientId::new(&client_id).map_err(|e| e.to_string())?,
        ClientAuth::Basic(ClientSecret::<64>::new(&secret).map_err(|e| e.to_string())?),
    )
    .with_resources(&["https://short.example/"])
    .map_err(|e| e.to_string())?;
    // The default policy: a 4 s token is renewed at half its lifetime.
    let mut short: Client<_, 64, 2048, 128> = Client::new(short_config, clock);
    let first = short
        .token(&mut tls, &mut work)
        .map_err(|e| e.to_string())?
        .expose_secret()
        .to_owned();
    say(
        "",
        &format!(
            "token {} obtained, lifetime 4 s; renewal is due at half its lifetime",
            preview(&first)
        ),
    );
    let started = StdInstant::now();
    let mut renewed = false;
    while started.elapsed() < Duration::from_secs(6) {
        let now = clock();
        let (fresh, left) = match short.cached() {
            Some(t) => (short.freshness(), t.remaining(now)),
            None => (Freshness::Expired, Duration::ZERO),
        };
        let state = match fresh {
            Freshness::Fresh => "fresh",
            Freshness::RefreshDue => "refresh due",
            _ => "expired",
        };
        say(
            "",
            &format!(
                "t+{:.1} s: token valid for {:.1} s more ({state})",
                started.elapsed().as_secs_f32(),
                left.as_secs_f32()
            ),
        );
        if fresh != Freshness::Fresh {
            let new = short
                .token(&mut tls, &mut work)
                .map_err(|e| e.to_string())?
                .expose_secret()
                .to_owned();
            if new != first {
                say(
                    "",
                    &format!(
                        "renewed before expiry: new token {} (the old one is gone from memory)",
                        preview(&new)
                    ),
                );
                renewed = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if !renewed {
        return Err("the token was not renewed".into());
    }
    println!("\ndone: token obtained over verified TLS, used at the service, and renewed on time.");
    Ok(())
}
