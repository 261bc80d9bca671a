//! `fetch_token` on a Cortex-M3 (QEMU lm3s6965evb), over a real network
//! path: the firmware reads its configuration from `device.cfg` (semihosting),
//! fetches an access token from the authorization server through TCP
//! connections carried over UART0 (the bridge protocol of `bridge.rs`, served
//! on the host by `scripts/uart-bridge.py`), prints the same `key=value`
//! lines as the host's `fetch_token` (`cli/`) and, with `call=URL`, calls a
//! resource server with the token.
//!
//! Output goes to the host script as `OUT`/`ERR`/`EXIT`/`REPORT` lines (see
//! `console.rs`); `scripts/qemu-fetch-token` turns them back into stdout,
//! stderr and an exit status.
//!
//! `https://` goes through the crate's TLS connector
//! (`embedded_oauth2::tls`, feature `tls`) over the bridge's [`Opener`]:
//! TLS 1.3, the server verified against the CA from `ca_file`, its name, its
//! CertificateVerify and (with the host's time over semihosting) its
//! validity dates. `http://` needs `allow_http=1` (loopback tests).
//!
//! With `cache_in_ram=1` the token is kept in RAM that survives a system
//! reset (`retained.rs`): at boot the firmware restores it
//! (`Client::restore_token`, `source=cache`, no request) or fetches one
//! (`source=server`), and before it ends or resets it exports the token
//! record there (`Client::export_token`). `reset_after_fetch=1` resets the
//! system (AIRCR SYSRESETREQ) once after a token from the server, so the
//! next boot shows the restore.
#![no_std]
#![no_main]
// The crate's `Error` is large by design (it carries the server's texts).
#![allow(clippy::result_large_err)]

mod bridge;
mod clock;
mod config;
mod console;
mod meter;
mod retained;
// Stack painting, shared with the in-memory firmware (its `measure` is
// not used here).
#[path = "../../firmware/src/stack.rs"]
#[allow(dead_code)]
mod stack;
mod uart;

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, Ordering};

use cortex_m_rt::{ExceptionFrame, entry, exception};
use embedded_io::{Error as _, ErrorKind};
use embedded_oauth2::assertion::{Assertion, Audience, CounterJti, P256Signer};
use embedded_oauth2::blocking::Connect;
use embedded_oauth2::dpop::{Dpop, DpopKey, DpopNonce};
use embedded_oauth2::error::ConfigError;
use embedded_oauth2::http::{ResponseHead, ResponseReader};
use embedded_oauth2::persist::PersistError;
use embedded_oauth2::tls::{MaxFragmentLength, Roots, TlsClock, TlsConnector, read_buffer_len};
use embedded_oauth2::{
    Attempt, CallError, Client, ClientAuth, ClientId, ClientSecret, Clock, Config, Error,
    Freshness, Instant, Limits, NoRandom, Token, TokenEndpoint, TokenType,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use zeroize::Zeroize;

use crate::bridge::{Bridge, Opener, SliceWriter};
use crate::config::{DeviceConfig, hex_decode};
use crate::console::Exit;
use crate::uart::Uart0;

/// Client secret capacity.
const SECRET_CAP: usize = 128;
/// Access token capacity (the test server's receipts JWTs are 469 bytes;
/// Keycloak-style JWTs up to ~2 KiB).
const TOKEN_CAP: usize = 2048;
/// Granted scope capacity.
const SCOPE_CAP: usize = 128;
/// `device.cfg` at most (the CA comes in a file of its own).
const CONFIG_CAP: usize = 1536;
/// Work buffer of the token exchange (head + body + token + scope). It
/// lives in RAM kept across a reset (`retained.rs`) and carries the token
/// record between boots, which needs `persist::record_len(TOKEN_CAP,
/// SCOPE_CAP)` bytes.
const WORK_CAP: usize = 3072;
const _: () = assert!(WORK_CAP >= embedded_oauth2::persist::record_len(TOKEN_CAP, SCOPE_CAP));
/// The resource server's response (head + body) of `call=`.
const CALL_CAP: usize = 1024;
/// How long to wait for the bridge or the server (as `fetch_token`'s 30 s).
const TIMEOUT_MS: u64 = 30_000;
/// Before a reset: how long the link must stay quiet.
const SETTLE_MS: u64 = 20;
/// Where the RAM starts (`memory.x`).
const RAM_START: usize = 0x2000_0000;
/// The root certificates (DER, one after another: `--ca-cert` may be a
/// bundle) and, for mutual TLS, the client's certificate (DER) after them,
/// at most. (Firmware that ships its roots keeps them in flash instead:
/// `Roots::Concatenated(include_bytes!("roots.der"))`.)
const CA_CAP: usize = 2048;
/// A DPoP proof for the resource call (header, claims, signature), made
/// in the tail of the call buffer (the response overwrites it later).
const PROOF_CAP: usize = 640;
/// TLS read buffer: one whole record of the size this image is built for
/// (`QEMU_DEVICE_RECORDS`, see build.rs): 16,645 bytes for any server, less
/// when the server honours max_fragment_length.
const TLS_READ: usize = read_buffer_len(records::RECORDS);
/// TLS write buffer: a token request fits one or two records.
const TLS_WRITE: usize = 1024;

mod records {
    use embedded_oauth2::tls::MaxFragmentLength;
    include!(concat!(env!("OUT_DIR"), "/records.rs"));
}

/// The wall clock of the client: UNIX seconds from the host.
type WallFn = fn() -> Option<u64>;

type Cl<'a, C> = Client<'a, C, SECRET_CAP, TOKEN_CAP, SCOPE_CAP, NoRandom, WallFn>;

/// The wall clock for certificate validity dates: the host's time over
/// semihosting (on hardware: an RTC set by NTP, GNSS or the network).
struct HostTime;

impl TlsClock for HostTime {
    fn now() -> Option<u64> {
        clock::unix_time()
    }
}

/// The verified TLS 1.3 connector over the bridge.
type Tls<'a> = TlsConnector<'a, Opener<'a, Uart0>, ChaCha20Rng, &'static mut [u8], HostTime>;

// ---- memory -----------------------------------------------------------------

/// The static buffers, handed out once by [`take_buffers`]: about 4 KiB
/// of the 64 KiB RAM, plus the TLS record buffers and the CA. (The work
/// buffer is in `retained.rs`.)
struct Buffers {
    config: UnsafeCell<[u8; CONFIG_CAP]>,
    call: UnsafeCell<[u8; CALL_CAP]>,
    ca: UnsafeCell<[u8; CA_CAP]>,
    tls_read: UnsafeCell<[u8; TLS_READ]>,
    tls_write: UnsafeCell<[u8; TLS_WRITE]>,
    taken: AtomicBool,
}

// SAFETY: the cells are only reached through `take_buffers`, which hands
// them out once (guarded by `taken`).
unsafe impl Sync for Buffers {}

static BUFFERS: Buffers = Buffers {
    config: UnsafeCell::new([0; CONFIG_CAP]),
    call: UnsafeCell::new([0; CALL_CAP]),
    ca: UnsafeCell::new([0; CA_CAP]),
    tls_read: UnsafeCell::new([0; TLS_READ]),
    tls_write: UnsafeCell::new([0; TLS_WRITE]),
    taken: AtomicBool::new(false),
};

/// Every static buffer, each `&'static mut` once.
struct StaticBuffers {
    config: &'static mut [u8; CONFIG_CAP],
    call: &'static mut [u8; CALL_CAP],
    ca: &'static mut [u8; CA_CAP],
    tls_read: &'static mut [u8; TLS_READ],
    tls_write: &'static mut [u8; TLS_WRITE],
}

/// The static buffers; `None` after the first call.
fn take_buffers() -> Option<StaticBuffers> {
    if BUFFERS.taken.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: `taken` lets this run once, so these are the only references
    // ever made to the cells.
    unsafe {
        Some(StaticBuffers {
            config: &mut *BUFFERS.config.get(),
            call: &mut *BUFFERS.call.get(),
            ca: &mut *BUFFERS.ca.get(),
            tls_read: &mut *BUFFERS.tls_read.get(),
            tls_write: &mut *BUFFERS.tls_write.get(),
        })
    }
}

// ---- outcome ----------------------------------------------------------------

// Failures are reported where they happen (`fail!`: `ERR error: …`, exit 1;
// `usage!`: the same plus `USAGE`, for what `fetch_token` treats as a usage
// error; `token_failure`: `error=…`, exit 2) and travel up as a one-byte
// `Exit`, so no message buffer sits in every `Result` on the stack.

/// Exit status for an OAuth error response.
const EXIT_OAUTH: u8 = 2;

/// A token error as `fetch_token` reports it: the server's OAuth error as
/// `error=CODE` (and `error_description=…`), with the server's own words the
/// client kept next to it; anything else as `error: …`.
#[cold]
#[inline(never)]
fn token_failure<C: Clock, E: fmt::Display>(client: &Cl<'_, C>, e: Error<E>) -> Exit {
    match e {
        Error::OAuth(o) => {
            let details = client.error_details();
            match details.and_then(|d| d.code) {
                Some(code) => console::err(format_args!("error={code}")),
                None => console::err(format_args!("error={}", o.code.as_str())),
            }
            if let Some(d) = details.and_then(|d| d.description) {
                console::err(format_args!("error_description={d}"));
            }
            Exit(EXIT_OAUTH)
        }
        other => fail!("{other}"),
    }
}

// ---- configuration ------------------------------------------------------------

#[path = "../../../cli/src/auth_method.rs"]
mod auth_method;
use auth_method::AuthMethod;

/// `key_hex`/`key_id`/`assertion_aud` only where they mean something, as
/// `fetch_token` checks `--key`, `--key-id` and `--assertion-aud`.
fn check_assertion_flags(cfg: &DeviceConfig<'_>, method: AuthMethod) -> Result<(), Exit> {
    if method != AuthMethod::PrivateKeyJwt && (cfg.key_hex.is_some() || cfg.key_id.is_some()) {
        return Err(usage!(
            "--key and --key-id apply to --auth private-key-jwt only"
        ));
    }
    if !method.signed() && cfg.assertion_aud.is_some() {
        return Err(usage!(
            "--assertion-aud applies to --auth jwt and private-key-jwt only"
        ));
    }
    if method == AuthMethod::PrivateKeyJwt && cfg.key_hex.is_none() {
        return Err(usage!(
            "--auth private-key-jwt needs --key FILE (a PKCS#8 PEM P-256 private key)"
        ));
    }
    for (flag, value) in [
        ("--key-id", cfg.key_id),
        ("--assertion-aud", cfg.assertion_aud),
    ] {
        if value.is_some_and(|v| v.is_empty() || v.chars().any(char::is_control)) {
            return Err(fail!(
                "{flag}: must be non-empty and free of control characters"
            ));
        }
    }
    Ok(())
}

fn client_auth(cfg: &DeviceConfig<'_>, method: AuthMethod) -> Result<ClientAuth<SECRET_CAP>, Exit> {
    let secret = || -> Result<ClientSecret<SECRET_CAP>, Exit> {
        // Present but empty counts (as `--client-secret ""` does for
        // fetch_token); the script leaves it out when it has none.
        let s = cfg.client_secret.ok_or_else(|| {
            usage!("--client-secret (or CLIENT_SECRET) is required unless --auth none")
        })?;
        ClientSecret::new(s).map_err(|e| fail!("client secret: {e}"))
    };
    Ok(match method {
        AuthMethod::Basic => ClientAuth::Basic(secret()?),
        AuthMethod::BasicUnencoded => ClientAuth::BasicUnencoded(secret()?),
        AuthMethod::Post => ClientAuth::Post(secret()?),
        AuthMethod::Auto => ClientAuth::Auto(secret()?),
        AuthMethod::None => ClientAuth::ClientIdOnly,
        AuthMethod::Jwt => ClientAuth::SecretJwt(secret()?),
        AuthMethod::PrivateKeyJwt => ClientAuth::PrivateKeyJwt,
    })
}

/// The ES256 signer from `key_hex`: the P-256 private scalar (`flag`
/// names it in messages: `--key`, `--dpop-key`, `--client-key`).
fn load_signer(flag: &str, key_hex: Option<&str>) -> Result<P256Signer, Exit> {
    let mut scalar = [0u8; 32];
    let decoded = key_hex.and_then(|h| hex_decode(h, &mut scalar));
    let signer = match decoded {
        Some(()) => P256Signer::from_bytes(&scalar).map_err(|e| fail!("{flag}: {e}")),
        None => Err(fail!(
            "{flag}: not a P-256 private key (64 hex digits expected)"
        )),
    };
    scalar.zeroize();
    signer
}

/// `seed_hex`: 32 bytes of entropy for the ChaCha20 RNG.
fn seed(cfg: &DeviceConfig<'_>) -> Result<[u8; 32], Exit> {
    let mut seed = [0u8; 32];
    match cfg.seed_hex.and_then(|h| hex_decode(h, &mut seed)) {
        Some(()) => Ok(seed),
        None => Err(fail!(
            "device.cfg: seed_hex must be 64 hex digits (32 bytes of entropy)"
        )),
    }
}

/// A URL endpoint, parsed as the token URL is (`http://` only with
/// `allow_http`).
fn parse_url<'u>(flag: &str, url: &'u str, allow_http: bool) -> Result<TokenEndpoint<'u>, Exit> {
    if allow_http {
        TokenEndpoint::parse_allow_http(url)
    } else {
        TokenEndpoint::parse(url)
    }
    .map_err(|e| {
        let hint = if e == ConfigError::InsecureScheme {
            " (pass --allow-http for a loopback test server)"
        } else {
            ""
        };
        fail!("{flag}: {e}{hint}")
    })
}

// ---- the run -------------------------------------------------------------------

/// Timings for the report: milliseconds, and instruction spans (whole
/// phase, connect/handshake) for `-icount` runs.
#[derive(Default)]
struct Timings {
    token_ms: Option<u64>,
    call_ms: Option<u64>,
    fetch: Option<[meter::Span; 2]>,
    call: Option<[meter::Span; 2]>,
    /// `Client::restore_token` from the retained RAM (`cache_in_ram`).
    restore: Option<meter::Span>,
}

/// Runs `f`, returning what it took: [whole, connect/handshake].
fn measured<T>(meters: &meter::Meters, f: impl FnOnce() -> T) -> (T, [meter::Span; 2]) {
    let h0 = meters.handshake.get();
    let start = meter::mark();
    let out = f();
    let whole = meter::Span::between(start, meter::mark());
    (out, [whole, meters.handshake.get().sub(h0)])
}

/// What the firmware does after a successful run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    Exit,
    /// Reset the system: the token record waits in the retained RAM.
    Reset,
}

/// The keeping of the token in retained RAM (`cache_in_ram`).
#[derive(Clone, Copy)]
struct Keep {
    /// Reset after a token from the server (`reset_after_fetch`, unless
    /// this boot follows such a reset).
    reset: bool,
    /// Debug: flip this byte of the record (`corrupt_record`).
    corrupt: Option<u16>,
}

fn run(
    bridge: &Bridge<Uart0>,
    bufs: StaticBuffers,
    work: &mut [u8],
    after_reset: bool,
    meters: &meter::Meters,
    timings: &mut Timings,
) -> Result<Then, Exit> {
    let StaticBuffers {
        config: cfg_buf,
        call: call_buf,
        ca: ca_buf,
        tls_read,
        tls_write,
    } = bufs;
    let text = load_config(cfg_buf)?;
    let cfg = DeviceConfig::parse(text)?;

    // Randomness: ChaCha20 seeded with entropy from the host, because QEMU's
    // board has no entropy source. On hardware a TRNG seeds it (the
    // LM3S6965 has none: a real product would use a chip that does, or a
    // secure element). The TLS key exchange draws from it.
    let mut rng = ChaCha20Rng::from_seed(seed(&cfg)?);

    let token_url = cfg
        .token_url
        .ok_or_else(|| usage!("--token-url is required"))?;
    let client_id = cfg
        .client_id
        .ok_or_else(|| usage!("--client-id is required"))?;
    let endpoint = parse_url("--token-url", token_url, cfg.allow_http)?;
    // The resource URL is checked before any token is fetched. One TLS
    // connector serves both (its record buffers are most of the RAM), so
    // the two URLs share their scheme.
    let call = match cfg.call {
        Some(url) => {
            let ep = parse_url("--call", url, cfg.allow_http)?;
            if ep.is_https() != endpoint.is_https() {
                return Err(usage!(
                    "--call must use the token URL's scheme on the device (one connector)"
                ));
            }
            Some(ep)
        }
        None => None,
    };
    let client_id = ClientId::new(client_id).map_err(|e| fail!("--client-id: {e}"))?;
    if (cfg.reset_after_fetch || cfg.corrupt_record.is_some()) && !cfg.cache_in_ram {
        return Err(usage!(
            "--reset-after-fetch and --corrupt-ram-record need --cache-in-ram"
        ));
    }
    // The boot after a requested reset does not reset again (nor corrupt
    // the record again).
    let keep = (cfg.cache_in_ram).then_some(Keep {
        reset: cfg.reset_after_fetch && !after_reset,
        corrupt: cfg.corrupt_record.filter(|_| !after_reset),
    });
    let method = match cfg.auth {
        None => AuthMethod::Basic,
        Some(s) => AuthMethod::parse(s).ok_or_else(|| {
            fail!(
                "--auth must be basic, basic-unencoded, post, auto, none, jwt or private-key-jwt, not {}",
                s.escape_debug()
            )
        })?,
    };
    check_assertion_flags(&cfg, method)?;
    let auth = client_auth(&cfg, method)?;

    // What the assertion borrows lives here, as long as the configuration.
    // `jti` = 8 random bytes for this boot, then a counter.
    let mut prefix = [0u8; 8];
    rng.fill_bytes(&mut prefix);
    let jti = CounterJti::new(prefix);
    let wall = clock::unix_time;
    let signer = match method {
        AuthMethod::PrivateKeyJwt => Some(load_signer("--key", cfg.key_hex)?),
        _ => None,
    };
    let assertion = method.signed().then(|| {
        let mut assertion = Assertion::new(&wall, &jti);
        if let Some(aud) = cfg.assertion_aud {
            assertion = assertion.with_audience(Audience::Other(aud));
        }
        if let Some(kid) = cfg.key_id {
            assertion = assertion.with_key_id(kid);
        }
        if let Some(signer) = &signer {
            assertion = assertion.with_signer(signer);
        }
        assertion
    });
    // DPoP (RFC 9449): proofs signed with `dpop_key_hex` (a secure element
    // on a product), numbered by the same jti source.
    let dpop_signer = match cfg.dpop_key_hex {
        Some(h) => Some(load_signer("--dpop-key", Some(h))?),
        None => None,
    };
    let dpop_public = dpop_signer.as_ref().map(P256Signer::public_key_sec1);
    let dpop = match (&dpop_signer, &dpop_public) {
        (Some(s), Some(p)) => Some(Dpop::new(
            DpopKey::new(s, p).map_err(|e| fail!("--dpop-key: {e}"))?,
            &wall,
            &jti,
        )),
        _ => None,
    };
    // Mutual TLS (RFC 8705): the client certificate and its key.
    let client_signer = match cfg.client_key_hex {
        Some(h) => Some(load_signer("--client-key", Some(h))?),
        None => None,
    };
    let config = build_config(&cfg, endpoint, client_id, auth, assertion, dpop)?;

    // One fetch per run, as fetch_token: no backoff jitter (`with_random`)
    // needed; a long-running firmware would add it. The wall clock anchors
    // the token record's expiry (and dates an HTTP-date `Retry-After`).
    let mut client = new_client(config);

    if endpoint.is_https() {
        let ca = cfg.ca_file.ok_or_else(|| {
            usage!(
                "--ca-cert FILE is required for an https:// token URL: the root \
                 certificate(s) (DER, or a PEM bundle) the server's chain leads to"
            )
        })?;
        let ca_len = load_ca("--ca-cert", ca, ca_buf)?.len();
        // The client certificate goes after the CA in the same buffer.
        let (ca, rest) = ca_buf.split_at_mut(ca_len);
        let mut inner = tls_connector(&cfg, bridge.opener(), rng, ca, tls_read, tls_write)?;
        if let (Some(file), Some(signer)) = (cfg.client_cert_file, &client_signer) {
            let cert = load_ca("--client-cert", file, rest)?;
            inner = inner
                .with_client_certificate(cert, signer)
                .map_err(|e| fail!("--client-cert: {e}"))?;
        }
        let mut tls = meter::Metered { inner, meters };
        return fetch_and_call(
            &mut client,
            &mut tls,
            work,
            call,
            call_buf,
            dpop.as_ref(),
            keep,
            timings,
        );
    }
    if cfg.ca_file.is_some() || cfg.server_name.is_some() || cfg.client_cert_file.is_some() {
        return Err(usage!(
            "--ca-cert, --server-name and --client-cert apply to an https:// token URL only"
        ));
    }
    let mut opener = bridge.opener();
    let connect = |ep: &TokenEndpoint<'_>| opener.open(ep.host(), ep.port());
    let mut connect = meter::Metered {
        inner: connect,
        meters,
    };
    fetch_and_call(
        &mut client,
        &mut connect,
        work,
        call,
        call_buf,
        dpop.as_ref(),
        keep,
        timings,
    )
}

/// The TLS connector: the CA, `--server-name`, and the record size this
/// image was built for (or `max_fragment_length` from the configuration,
/// when its records fit the read buffer).
#[inline(never)]
fn tls_connector<'a>(
    cfg: &DeviceConfig<'a>,
    opener: Opener<'a, Uart0>,
    rng: ChaCha20Rng,
    ca: &'a [u8],
    read: &'static mut [u8],
    write: &'static mut [u8],
) -> Result<Tls<'a>, Exit> {
    let mut tls = TlsConnector::new(opener, rng, Roots::Concatenated(ca), read, write)
        .map_err(|e| fail!("--ca-cert: {e}"))?
        .with_clock::<HostTime>();
    if let Some(name) = cfg.server_name {
        tls = tls
            .with_server_name(name)
            .map_err(|e| fail!("--server-name: {e}"))?;
    }
    let mfl = match cfg.max_fragment_length {
        Some(512) => Some(MaxFragmentLength::Bits9),
        Some(1024) => Some(MaxFragmentLength::Bits10),
        Some(2048) => Some(MaxFragmentLength::Bits11),
        Some(4096) => Some(MaxFragmentLength::Bits12),
        Some(_) | None => records::RECORDS,
    };
    match mfl {
        Some(length) => tls.with_max_fragment_length(length).map_err(|e| {
            fail!(
                "--max-fragment-length: {e} (this image has {TLS_READ} bytes: \
                 build it with QEMU_DEVICE_RECORDS)"
            )
        }),
        None => Ok(tls),
    }
}

/// The token (restored from the retained RAM with `keep`, else fetched),
/// then the resource call, through `connector` (plain TCP over the bridge,
/// or TLS over it); with `keep`, the token record goes back into `work`.
#[allow(clippy::too_many_arguments)]
fn fetch_and_call<C: Clock, K: Connect>(
    client: &mut Cl<'_, C>,
    connector: &mut meter::Metered<'_, K>,
    work: &mut [u8],
    call: Option<TokenEndpoint<'_>>,
    call_buf: &mut [u8],
    dpop: Option<&Dpop<'_>>,
    keep: Option<Keep>,
    timings: &mut Timings,
) -> Result<Then, Exit>
where
    K::Error: fmt::Display,
{
    let meters = connector.meters;
    let started = clock::now_ms();
    let cached = match keep {
        Some(_) => {
            let start = meter::mark();
            let restored = restore(client, work);
            timings.restore = Some(meter::Span::between(start, meter::mark()));
            restored
        }
        None => false,
    };
    // The previous boot's record (or a power-on's garbage) is done with.
    work.zeroize();
    if cached {
        timings.token_ms = Some(clock::now_ms().saturating_sub(started));
    } else {
        let (result, spans) = measured(meters, || fetch(client, connector, work));
        timings.token_ms = Some(clock::now_ms().saturating_sub(started));
        timings.fetch = Some(spans);
        result?;
        if keep.is_some() {
            // The record is written before the firmware ends or resets.
            console::out(format_args!("source=server"));
        }
    }
    let called = call_after(client, connector, work, call, call_buf, dpop, timings);
    let Some(keep) = keep else {
        return called.map(|()| Then::Exit);
    };
    // Before the reset (or the end): the token, renewed by `call` or not,
    // into the retained RAM, over the buffer's last use.
    work.zeroize();
    save(client, work, keep.corrupt);
    called?;
    Ok(if keep.reset && !cached {
        Then::Reset
    } else {
        Then::Exit
    })
}

/// `cache_in_ram`: restores the token record the previous boot left in
/// `work`. `true` when the client now holds a fresh token, printed with
/// `source=cache`; otherwise (a power-on's garbage, a damaged or expired
/// record, another configuration: noted on stderr) the device fetches.
#[inline(never)]
fn restore<C: Clock>(client: &mut Cl<'_, C>, work: &[u8]) -> bool {
    if let Err(e) = client.restore_token(work) {
        // After a power-on the RAM holds no record: nothing to note.
        if e != PersistError::BadMagic {
            console::err(format_args!(
                "note: RAM token record: {e}; fetching a new token"
            ));
        }
        return false;
    }
    if client.freshness() != Freshness::Fresh {
        return false;
    }
    match client.cached() {
        Some(token) => {
            print_token(token);
            console::out(format_args!("source=cache"));
            true
        }
        None => false,
    }
}

/// `cache_in_ram`: exports the token record into `work` (zeroed), where
/// the next boot finds it; `corrupt` flips one of its bytes (debug).
#[inline(never)]
fn save<C: Clock>(client: &Cl<'_, C>, work: &mut [u8], corrupt: Option<u16>) {
    match client.export_token(work) {
        Ok(n) => {
            console::status(format_args!("record-saved bytes={n}"));
            // Only a byte of the record (restore ignores what follows it).
            let record = work.get_mut(..n).unwrap_or_default();
            if let Some(byte) = corrupt.and_then(|i| record.get_mut(usize::from(i))) {
                *byte ^= 0xFF;
            }
        }
        Err(e) => console::err(format_args!("note: RAM token record not kept: {e}")),
    }
}

/// The resource call, if asked for.
fn call_after<C: Clock, K: Connect>(
    client: &mut Cl<'_, C>,
    connector: &mut meter::Metered<'_, K>,
    work: &mut [u8],
    call: Option<TokenEndpoint<'_>>,
    call_buf: &mut [u8],
    dpop: Option<&Dpop<'_>>,
    timings: &mut Timings,
) -> Result<(), Exit>
where
    K::Error: fmt::Display,
{
    let meters = connector.meters;
    if let Some(ep) = call {
        let started = clock::now_ms();
        let (result, spans) = measured(meters, || {
            call_resource(client, connector, work, &ep, call_buf, dpop)
        });
        timings.call_ms = Some(clock::now_ms().saturating_sub(started));
        timings.call = Some(spans);
        result?;
    }
    Ok(())
}

/// The monotonic clock the client judges expiry by.
type MonoClock = fn() -> Instant;

fn mono_now() -> Instant {
    Instant::from_millis(clock::now_ms())
}

/// The client (3 KiB, most of it the token's capacity), built in place in
/// the caller's frame: out of line, its temporaries stay out of `run`.
#[inline(never)]
fn new_client(config: Config<'_, SECRET_CAP>) -> Cl<'_, MonoClock> {
    Client::new(config, mono_now as MonoClock).with_wall_clock(clock::unix_time as WallFn)
}

/// Reads a certificate (DER) the script put beside `device.cfg`: the CA
/// (`--ca-cert`) or the client's (`--client-cert`).
#[inline(never)]
fn load_ca<'b>(flag: &str, name: &str, buf: &'b mut [u8]) -> Result<&'b [u8], Exit> {
    let cap = buf.len();
    let mut path = [0u8; 64];
    let Some(dst) = path.get_mut(..name.len()) else {
        return Err(fail!("{flag}: file name too long"));
    };
    dst.copy_from_slice(name.as_bytes());
    let path = path.get(..=name.len()).unwrap_or_default();
    let n = console::read_file(path, buf).map_err(|e| match e {
        console::FileError::TooBig { len } => {
            fail!("{flag}: {len} bytes; this firmware holds at most {cap}")
        }
        _ => fail!("{flag}: cannot read {name} in QEMU's current directory"),
    })?;
    buf.get(..n).ok_or_else(|| fail!("{flag}: short read"))
}

/// Reads `device.cfg` into `buf` and returns its text.
#[inline(never)]
fn load_config(buf: &mut [u8]) -> Result<&str, Exit> {
    let n = console::read_file(b"device.cfg\0", buf).map_err(|e| match e {
        console::FileError::Open => fail!("cannot open device.cfg in QEMU's current directory"),
        console::FileError::TooBig { len } => {
            fail!("device.cfg has {len} bytes; this firmware reads at most {CONFIG_CAP}")
        }
        console::FileError::Length | console::FileError::Short => {
            fail!("reading device.cfg failed")
        }
    })?;
    // The script may delete the file (it holds the secret) from now on.
    console::status(format_args!("config-read"));
    buf.get(..n)
        .and_then(|b| core::str::from_utf8(b).ok())
        .ok_or_else(|| fail!("device.cfg is not UTF-8"))
}

/// The crate's `Config`, as fetch_token builds it from its flags. Out of
/// line: the intermediate values do not stay in `run`'s frame.
#[inline(never)]
fn build_config<'a>(
    cfg: &'a DeviceConfig<'a>,
    endpoint: TokenEndpoint<'a>,
    client_id: ClientId<'a>,
    auth: ClientAuth<SECRET_CAP>,
    assertion: Option<Assertion<'a>>,
    dpop: Option<Dpop<'a>>,
) -> Result<Config<'a, SECRET_CAP>, Exit> {
    let mut config = Config::new(endpoint, client_id, auth);
    if let Some(assertion) = assertion {
        config = config.with_assertion(assertion);
    }
    if let Some(dpop) = dpop {
        config = config.with_dpop(dpop);
    }
    if let Some(scope) = cfg.scope {
        config = config
            .with_scope(scope)
            .map_err(|e| fail!("--scope: {e}"))?;
    }
    if let Some(audience) = cfg.audience {
        config = config
            .with_audience(audience)
            .map_err(|e| fail!("--audience: {e}"))?;
    }
    let resources = cfg.resources();
    if !resources.is_empty() {
        config = config
            .with_resources(resources)
            .map_err(|e| fail!("--resource: {e}"))?;
    }
    Ok(config)
}

/// Fetches the token (through `connector`) and prints it as `fetch_token`
/// does. (Out of line, as `call_resource`: their locals do not add up in
/// `run`'s frame.)
#[inline(never)]
fn fetch<C: Clock, K: Connect>(
    client: &mut Cl<'_, C>,
    connector: &mut K,
    work: &mut [u8],
) -> Result<(), Exit> {
    let result = client.token(connector, work).map(|_| ());
    if let Err(e) = result {
        return Err(token_failure(client, e));
    }
    match client.cached() {
        Some(token) => {
            print_token(token);
            Ok(())
        }
        None => Err(fail!("the token expired at once")),
    }
}

fn print_token(token: &Token<TOKEN_CAP, SCOPE_CAP>) {
    let token_type = match token.token_type() {
        TokenType::Bearer => "Bearer",
        TokenType::Dpop => "DPoP",
        _ => "unknown",
    };
    console::out(format_args!("access_token={}", token.expose_secret()));
    console::out(format_args!("token_type={token_type}"));
    if let Some(e) = token.expires_in() {
        console::out(format_args!("expires_in={e}"));
    }
    if let Some(s) = token.scope() {
        console::out(format_args!("scope={s}"));
    }
}

// ---- the resource call --------------------------------------------------------

/// A failed request to the resource server.
enum CallFailure<E> {
    Transport(E),
    Http(Error),
}

impl<E: fmt::Display> fmt::Display for CallFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::Http(e) => e.fmt(f),
        }
    }
}

/// `GET` the URL with `Authorization: Bearer` through `Client::call` (one
/// renewal and one retry after a 401), over a connection from the same
/// connector (the TLS one: its record buffers serve both); prints
/// `call_status=` and `call_body=`.
#[inline(never)]
fn call_resource<C: Clock, K: Connect>(
    client: &mut Cl<'_, C>,
    connector: &mut K,
    work: &mut [u8],
    ep: &TokenEndpoint<'_>,
    buf: &mut [u8],
    dpop: Option<&Dpop<'_>>,
) -> Result<(), Exit>
where
    K::Error: fmt::Display,
{
    // The service's latest DPoP nonce (RFC 9449 §9).
    let mut nonce: Option<DpopNonce> = None;
    let outcome = client.call(connector, work, |k: &mut K, token| {
        attempt_get(k, token, ep, buf, dpop, &mut nonce)
    });
    match outcome {
        Ok((status, body)) => {
            console::out(format_args!("call_status={status}"));
            let body = buf.get(body).unwrap_or_default();
            console::out(format_args!("call_body={}", Escaped(body)));
            Ok(())
        }
        Err(CallError::Token(e)) => Err(token_failure(client, e)),
        Err(e) => Err(fail!("{e}")),
    }
}

/// A response: the status and where its body lies in the buffer.
type Got = (u16, Range<usize>);

/// One GET with the token. Out of line, so that its connection (a whole
/// TLS session state) is not on the stack while `call` renews the token.
#[inline(never)]
fn attempt_get<K: Connect>(
    k: &mut K,
    token: &Token<TOKEN_CAP, SCOPE_CAP>,
    ep: &TokenEndpoint<'_>,
    buf: &mut [u8],
    dpop: Option<&Dpop<'_>>,
    nonce: &mut Option<DpopNonce>,
) -> Result<Attempt<Got>, CallFailure<K::Error>> {
    // A DPoP token goes with a proof for this request (before connecting:
    // the proof is signed while no connection waits), written in the tail
    // of the response buffer: no stack for it, and the response overwrites
    // it once it is sent.
    let tail = buf.len().saturating_sub(PROOF_CAP);
    let proof_len = match (dpop, buf.get_mut(tail..)) {
        (Some(d), Some(proof_buf)) => Some(
            d.proof(
                "GET",
                ep.url(),
                token.expose_secret(),
                nonce.as_ref(),
                proof_buf,
            )
            .map_err(CallFailure::Http)?
            .len(),
        ),
        _ => None,
    };
    let proof = proof_len.and_then(|n| {
        buf.get(tail..tail + n)
            .and_then(|p| core::str::from_utf8(p).ok())
    });
    let mut sock = k.connect(ep).map_err(CallFailure::Transport)?;
    let sent = send_get(&mut sock, ep, token, proof).map_err(CallFailure::Transport);
    let response = sent.and_then(|()| read_response(&mut sock, buf));
    // close_notify (TLS) / `C` to the bridge if the server has not closed
    // yet; the outcome is the response's.
    let _ = K::close(sock);
    let (status, body, head) = response?;
    if dpop.is_some() {
        let challenge = head.and_then(|h| h.www_authenticate);
        let challenge = challenge.as_deref().unwrap_or("");
        if embedded_oauth2::dpop::asks_for_nonce(status, challenge.as_bytes()) {
            *nonce = head.and_then(|h| h.dpop_nonce);
            return Ok(Attempt::UseDpopNonce);
        }
    }
    Ok(if Attempt::<()>::rejects_token(status) {
        Attempt::TokenRejected
    } else {
        Attempt::Done((status, body))
    })
}

fn send_get<S: embedded_io::Write, const T: usize, const S2: usize>(
    sock: &mut S,
    ep: &TokenEndpoint<'_>,
    token: &Token<T, S2>,
    proof: Option<&str>,
) -> Result<(), S::Error> {
    sock.write_all(b"GET ")?;
    sock.write_all(ep.path().as_bytes())?;
    sock.write_all(b" HTTP/1.1\r\nHost: ")?;
    let host = ep.host();
    if host.contains(':') {
        sock.write_all(b"[")?;
        sock.write_all(host.as_bytes())?;
        sock.write_all(b"]")?;
    } else {
        sock.write_all(host.as_bytes())?;
    }
    let default_port = if ep.is_https() { 443 } else { 80 };
    if ep.port() != default_port {
        let mut port = [0u8; 6];
        let mut w = SliceWriter::new(&mut port);
        let _ = fmt::Write::write_fmt(&mut w, format_args!(":{}", ep.port()));
        let len = w.len;
        sock.write_all(port.get(..len).unwrap_or_default())?;
    }
    sock.write_all(
        b"\r\nUser-Agent: embedded-oauth2-qemu-device\r\nAccept: application/json\r\n\
          Connection: close\r\n",
    )?;
    token.write_authorization_header(sock)?;
    if let Some(p) = proof {
        sock.write_all(b"DPoP: ")?;
        sock.write_all(p.as_bytes())?;
        sock.write_all(b"\r\n")?;
    }
    sock.write_all(b"\r\n")?;
    sock.flush()
}

/// A response read: the status, where its body lies in the buffer, and
/// its head (`WWW-Authenticate`, `DPoP-Nonce`).
type Read = (u16, Range<usize>, Option<ResponseHead>);

/// Reads one HTTP/1.1 response into `buf` with the crate's
/// [`ResponseReader`]; returns the status and where the body is.
fn read_response<S: embedded_io::Read>(
    sock: &mut S,
    buf: &mut [u8],
) -> Result<Read, CallFailure<S::Error>> {
    let mut reader = ResponseReader::new(Limits::new().with_max_body(buf.len()));
    loop {
        let spare = reader.spare(buf).map_err(CallFailure::Http)?;
        let n = loop {
            match sock.read(spare) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(CallFailure::Transport(e)),
            }
        };
        if reader.advance(buf, n).map_err(CallFailure::Http)? {
            break;
        }
    }
    let status = reader.head().map_or(0, |h| h.status);
    Ok((status, reader.body_range(), reader.head().copied()))
}

/// Body bytes as one line of text: `\` `\n` `\r` `\t` escaped with a
/// backslash, other control characters and bytes that are not UTF-8 as
/// `\xHH`.
struct Escaped<'b>(&'b [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if c.is_control() && c.is_ascii() => write!(f, "\\x{:02x}", c as u32)?,
                    c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c => fmt::Write::write_char(f, c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

// ---- entry, faults -----------------------------------------------------------------

#[entry]
fn main() -> ! {
    let painted = stack::paint();
    let boot = clock::now_ms();
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        fail!("core peripherals already taken");
        console::exit(1)
    };
    clock::start(peripherals.SYST);
    let (Some(bufs), Some(retained), Some(uart)) =
        (take_buffers(), retained::take(), Uart0::take())
    else {
        fail!("buffers or UART0 already taken");
        console::exit(1)
    };
    if retained.after_reset {
        console::status(format_args!("boot after a requested reset"));
    }
    let bridge = Bridge::new(uart, clock::now_ms, TIMEOUT_MS);
    let mut timings = Timings::default();
    let meters = meter::Meters::default();

    let result = run(
        &bridge,
        bufs,
        &mut retained.work[..],
        retained.after_reset,
        &meters,
        &mut timings,
    );
    // The configuration held the secret (and the key), the buffers the
    // token: wiped before the firmware ends or resets. (`run` consumed the
    // `&'static mut`s; this is the one place that reaches them again.) The
    // work buffer holds the token record before a reset, else is wiped.
    wipe_buffers();
    let (code, then) = match result {
        Ok(then) => (0, then),
        Err(Exit(code)) => (code, Then::Exit),
    };
    if then == Then::Exit {
        retained.work.zeroize();
    }

    let stats = bridge.stats();
    console::report("fw_connections", u64::from(stats.connections));
    console::report("fw_bytes_to_server", u64::from(stats.bytes_to_server));
    console::report("fw_bytes_from_server", u64::from(stats.bytes_from_server));
    if let Some(ms) = timings.token_ms {
        console::report("token_ms", ms);
    }
    if let Some(ms) = timings.call_ms {
        console::report("call_ms", ms);
    }
    console::report("run_ms", clock::now_ms().saturating_sub(boot));
    if let Some(span) = timings.restore {
        console::report_pair("insn", "restore", "total", span.insns());
        console::report_pair("polls", "restore", "total", span.polls());
    }
    for (phase, spans) in [("fetch", timings.fetch), ("call", timings.call)] {
        if let Some([whole, handshake]) = spans {
            for (part, span) in [
                ("total", whole),
                ("connect", handshake),
                ("after_connect", whole.sub(handshake)),
            ] {
                console::report_pair("insn", phase, part, span.insns());
                console::report_pair("polls", phase, part, span.polls());
            }
        }
    }
    console::report("tls_record_plaintext", records::RECORD_PLAINTEXT as u64);
    console::report("tls_read_buffer", TLS_READ as u64);
    console::report(
        "size_client",
        core::mem::size_of::<Cl<'_, MonoClock>>() as u64,
    );
    console::report("size_tls_connector", core::mem::size_of::<Tls<'_>>() as u64);
    console::report(
        "size_tls_stream",
        core::mem::size_of::<
            embedded_oauth2::tls::blocking::TlsStream<'_, crate::bridge::BridgeSocket<'_, Uart0>>,
        >() as u64,
    );
    let top = stack::top();
    let peak = top.saturating_sub(stack::lowest_written(painted));
    console::report("stack_peak_bytes", peak as u64);
    console::report(
        "stack_size_bytes",
        top.saturating_sub(stack::bottom()) as u64,
    );
    console::report(
        "static_ram_bytes",
        stack::bottom().saturating_sub(RAM_START) as u64,
    );
    if then == Then::Reset {
        // Whatever the bridge still sends of the closed connections is
        // read, so that the next boot starts on a frame boundary.
        bridge.settle(SETTLE_MS);
        console::status(format_args!("reset"));
        retained::reset(retained)
    }
    console::exit(code)
}

/// Zeroizes every static buffer.
fn wipe_buffers() {
    // SAFETY: called once `run` has returned, when no other reference to
    // the cells is alive.
    unsafe {
        (*BUFFERS.config.get()).zeroize();
        (*BUFFERS.call.get()).zeroize();
        (*BUFFERS.tls_read.get()).zeroize();
        (*BUFFERS.tls_write.get()).zeroize();
    }
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    fail!("firmware hard fault");
    console::exit(1)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // The location only: a panic message could quote data.
    match info.location() {
        Some(l) => fail!("firmware panic at {}:{}", l.file(), l.line()),
        None => fail!("firmware panic"),
    };
    console::exit(1)
}
