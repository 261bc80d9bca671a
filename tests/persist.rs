//! Tokens that survive sleep and reset (`embedded_oauth2::persist`):
//! `Client::export_token` / `Client::restore_token` with a fake monotonic
//! clock, a fake wall clock and a fake server that counts connections (and
//! panics when the client connects without a script: a restored token must
//! be served without any I/O).
//!
//! Sizes stay small (a ~100-byte record) so that every byte flip and
//! every truncation also runs under Miri.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::{FakeServer, Script, json};
use embedded_oauth2::error::{Buffer, CapacityError};
use embedded_oauth2::persist::{
    MAGIC, MAX_CLOCK_BEHIND, PersistError, TokenRecord, VERSION, record_len,
};
use embedded_oauth2::{
    Client, ClientAuth, ClientId, ClientSecret, Config, Freshness, Instant, NoRandom,
    TokenEndpoint, TokenType,
};

/// Token and scope capacities of the device.
const T: usize = 256;
const S: usize = 64;

/// 2026-01-01T00:00:00Z.
const WALL0: u64 = 1_767_225_600;

const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.persisted-token.sig";
const SCOPE: &str = "telemetry:write ota:read";
/// A client secret that cannot appear in a record by chance.
const SECRET: &str = "S3cr3t-n0t-in-the-r3c0rd";

type Mono = Box<dyn Fn() -> Instant>;
type Wall = Box<dyn Fn() -> Option<u64>>;
type Device<const T: usize, const S: usize> = DeviceOf<'static, T, S>;
type DeviceOf<'a, const T: usize, const S: usize> = Client<'a, Mono, 64, T, S, NoRandom, Wall>;

/// The device's clocks: monotonic milliseconds (restarting at boot) and
/// the wall clock (`None` until synced).
#[derive(Clone)]
struct Clocks {
    mono: Rc<Cell<u64>>,
    wall: Rc<Cell<Option<u64>>>,
}

impl Clocks {
    fn new(mono_ms: u64, wall: Option<u64>) -> Self {
        Self {
            mono: Rc::new(Cell::new(mono_ms)),
            wall: Rc::new(Cell::new(wall)),
        }
    }

    /// Both clocks advance by `secs`.
    fn advance(&self, secs: u64) {
        self.mono.set(self.mono.get() + secs * 1000);
        self.wall.set(self.wall.get().map(|w| w + secs));
    }
}

fn config() -> Config<'static, 64> {
    config_with(|c| c)
}

fn config_with(f: impl FnOnce(Config<'static, 64>) -> Config<'static, 64>) -> Config<'static, 64> {
    let c = Config::new(
        TokenEndpoint::parse_allow_http(common::ENDPOINT).unwrap(),
        ClientId::new("sensor-7").unwrap(),
        ClientAuth::Basic(ClientSecret::new(SECRET).unwrap()),
    )
    .with_scope(SCOPE)
    .unwrap();
    f(c)
}

fn device<'a, const T: usize, const S: usize>(
    config: Config<'a, 64>,
    clocks: &Clocks,
) -> DeviceOf<'a, T, S> {
    let mono = Rc::clone(&clocks.mono);
    let wall = Rc::clone(&clocks.wall);
    Client::new(
        config,
        Box::new(move || Instant::from_millis(mono.get())) as Mono,
    )
    .with_wall_clock(Box::new(move || wall.get()) as Wall)
}

fn token_body(token: &str, expires_in: u64) -> Vec<u8> {
    json(
        "HTTP/1.1 200 OK",
        &format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{expires_in},"scope":"{SCOPE}"}}"#
        ),
    )
}

/// A server that must not be contacted: no script (it panics when
/// connected) and a connection count.
fn silent_server(clocks: &Clocks) -> RefCell<FakeServer> {
    RefCell::new(FakeServer::new(Rc::clone(&clocks.mono)))
}

/// A device that fetched `TOKEN` (1 h) at monotonic 1 s, wall `WALL0`,
/// then ran for `age` seconds; and the record it exports then.
fn exported_after(age: u64) -> (Vec<u8>, Clocks) {
    let clocks = Clocks::new(1_000, Some(WALL0));
    let mut client: Device<T, S> = device(config(), &clocks);
    let server = silent_server(&clocks);
    server
        .borrow_mut()
        .push(Script::Respond(token_body(TOKEN, 3600)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut work = [0u8; 1024];
    client.token(&mut connect, &mut work).expect("fetch");
    clocks.advance(age);
    let mut buf = vec![0u8; record_len(T, S)];
    let n = client.export_token(&mut buf).expect("export");
    buf.truncate(n);
    (buf, clocks)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Export, reset (the monotonic clock restarts), restore: the same token,
/// type and scope, expiring at the same wall-clock second.
#[test]
fn round_trip_across_a_reset() {
    let (record, _) = exported_after(100);
    assert_eq!(record.len(), record_len(TOKEN.len(), SCOPE.len()));
    let r = TokenRecord::parse(&record).unwrap();
    assert_eq!(&record[..4], &MAGIC);
    assert_eq!(record[4], VERSION);
    assert_eq!(r.len(), record.len());
    assert_eq!(r.auth_style(), 0);
    assert_eq!(r.exported_at(), WALL0 + 100);
    assert_eq!(r.expires_at(), WALL0 + 3600);
    assert_eq!(r.lifetime_secs(), 3600);
    assert_eq!(r.refresh_early_ms(), 0);
    assert_eq!(r.token_type(), TokenType::Bearer);
    assert_eq!(r.scope(), Some(SCOPE));
    assert_eq!(r.expose_secret(), TOKEN);
    assert!(!format!("{r:?}").contains(TOKEN));

    // Ten minutes later, 2.5 s after boot.
    let clocks = Clocks::new(2_500, Some(WALL0 + 700));
    let mut client: Device<T, S> = device(config(), &clocks);
    assert_eq!(r.fingerprint(), client.config_fingerprint());
    client.restore_token(&record).unwrap();
    let t = client.cached().expect("restored");
    assert_eq!(t.expose_secret(), TOKEN);
    assert_eq!(t.token_type(), TokenType::Bearer);
    assert_eq!(t.scope(), Some(SCOPE));
    assert_eq!(t.expires_at(), Instant::from_millis(2_500 + 2900 * 1000));
    assert_eq!(client.freshness(), Freshness::Fresh);
}

/// Bytes after the record (a whole flash slot) are ignored.
#[test]
fn trailing_bytes_are_ignored() {
    let (mut record, clocks) = exported_after(0);
    record.extend_from_slice(&[0xFF; 37]);
    let mut client: Device<T, S> = device(config(), &clocks);
    client.restore_token(&record).unwrap();
    assert!(client.cached().is_some());
}

/// When the monotonic clock kept running (a sleep, not a reset), the
/// renewal falls due exactly where the exporting client had it: 60 s (the
/// default margin) before expiry.
#[test]
fn renewal_point_is_kept_when_the_clock_kept_running() {
    let (record, clocks) = exported_after(1000);
    let mut client: Device<T, S> = device(config(), &clocks);
    client.restore_token(&record).unwrap();
    assert_eq!(client.freshness(), Freshness::Fresh);
    clocks.advance(3600 - 1000 - 61);
    assert_eq!(client.freshness(), Freshness::Fresh);
    clocks.advance(1);
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    clocks.advance(60);
    assert_eq!(client.freshness(), Freshness::Expired);
}

/// Right after a boot the monotonic clock is younger than the token: the
/// expiry is still exact, and the renewal falls due at the same point when
/// the policy's margin fits the time left (600 s left, 60 s margin); with
/// less left than the margin the token is due within a quarter of it.
#[test]
fn renewal_point_after_a_boot() {
    let (record, _) = exported_after(3000);
    let clocks = Clocks::new(2_000, Some(WALL0 + 3000));
    let mut client: Device<T, S> = device(config(), &clocks);
    client.restore_token(&record).unwrap();
    assert_eq!(
        client.cached().unwrap().expires_at(),
        Instant::from_secs(2 + 600)
    );
    clocks.advance(539);
    assert_eq!(client.freshness(), Freshness::Fresh);
    clocks.advance(1);
    assert_eq!(client.freshness(), Freshness::RefreshDue);

    // 30 s left: due at export; after the boot due within 30 s / 4.
    let clocks = Clocks::new(0, Some(WALL0 + 3570));
    let mut client: Device<T, S> = device(config(), &clocks);
    client.restore_token(&record).unwrap();
    clocks.advance(8);
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    clocks.advance(22);
    assert_eq!(client.freshness(), Freshness::Expired);
}

/// The client secret (and its Basic encoding) is never in the record,
/// whatever the authentication method.
#[test]
fn record_never_holds_the_secret() {
    use base64ct::{Base64, Encoding};
    let basic = Base64::encode_string(format!("sensor-7:{SECRET}").as_bytes());
    let (record, _) = exported_after(5);
    assert!(
        contains(&record, TOKEN.as_bytes()),
        "sanity: the token is in it"
    );
    assert!(!contains(&record, SECRET.as_bytes()));
    assert!(!contains(&record, basic.as_bytes()));
    assert!(!contains(&record, &SECRET.as_bytes()[..8]));
}

/// Every single-byte change (each byte inverted, and each byte with its
/// low bit flipped) is refused, and the client keeps no token.
#[test]
fn every_byte_flip_is_refused() {
    let (record, clocks) = exported_after(10);
    let mut client: Device<T, S> = device(config(), &clocks);
    for i in 0..record.len() {
        for mask in [0xFF, 0x01] {
            let mut bad = record.clone();
            bad[i] ^= mask;
            let err = client.restore_token(&bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    PersistError::BadMagic
                        | PersistError::UnsupportedVersion(_)
                        | PersistError::Truncated
                        | PersistError::Checksum
                ),
                "byte {i} ^ {mask:#04x}: {err:?}"
            );
            assert!(client.cached().is_none(), "byte {i}");
        }
    }
    client.restore_token(&record).unwrap();
}

/// Every truncation is refused as truncated.
#[test]
fn every_truncation_is_refused() {
    let (record, clocks) = exported_after(10);
    let mut client: Device<T, S> = device(config(), &clocks);
    for n in 0..record.len() {
        assert_eq!(
            client.restore_token(&record[..n]),
            Err(PersistError::Truncated),
            "{n} bytes"
        );
    }
    assert!(client.cached().is_none());
}

/// A record from another configuration is refused: each input of the
/// fingerprint changed alone. The authentication method and secret are
/// not part of it.
#[test]
fn other_configuration_is_refused() {
    let (record, clocks) = exported_after(10);
    let others: Vec<(&str, Config<'static, 64>)> = vec![
        (
            "endpoint",
            Config::new(
                TokenEndpoint::parse_allow_http("http://127.0.0.1:8080/token2").unwrap(),
                ClientId::new("sensor-7").unwrap(),
                ClientAuth::Basic(ClientSecret::new(SECRET).unwrap()),
            )
            .with_scope(SCOPE)
            .unwrap(),
        ),
        (
            "client id",
            Config::new(
                TokenEndpoint::parse_allow_http(common::ENDPOINT).unwrap(),
                ClientId::new("sensor-8").unwrap(),
                ClientAuth::Basic(ClientSecret::new(SECRET).unwrap()),
            )
            .with_scope(SCOPE)
            .unwrap(),
        ),
        (
            "no scope",
            Config::new(
                TokenEndpoint::parse_allow_http(common::ENDPOINT).unwrap(),
                ClientId::new("sensor-7").unwrap(),
                ClientAuth::Basic(ClientSecret::new(SECRET).unwrap()),
            ),
        ),
        (
            "scope",
            config_with(|c| c.with_scope("telemetry:write").unwrap()),
        ),
        (
            "audience",
            config_with(|c| c.with_audience("https://api.example").unwrap()),
        ),
        (
            "resource",
            config_with(|c| c.with_resources(&["https://receipts.example/"]).unwrap()),
        ),
        (
            "two resources",
            config_with(|c| {
                c.with_resources(&["https://receipts.example/", "https://ota.example/"])
                    .unwrap()
            }),
        ),
        (
            "extra parameter",
            config_with(|c| c.with_extra_params(&[("tenant", "acme")]).unwrap()),
        ),
    ];
    let mut prints = vec![];
    for (what, other) in others {
        let mut client: Device<T, S> = device(other, &clocks);
        assert_eq!(
            client.restore_token(&record),
            Err(PersistError::OtherConfig),
            "{what}"
        );
        assert!(client.cached().is_none(), "{what}");
        prints.push(client.config_fingerprint());
    }
    prints.sort_unstable();
    prints.dedup();
    assert_eq!(prints.len(), 8, "fingerprints differ pairwise");

    // Same request, other authentication: still this client's token.
    let post = Config::new(
        TokenEndpoint::parse_allow_http(common::ENDPOINT).unwrap(),
        ClientId::new("sensor-7").unwrap(),
        ClientAuth::Post(ClientSecret::new("rotated-secret").unwrap()),
    )
    .with_scope(SCOPE)
    .unwrap();
    let mut client: Device<T, S> = device(post, &clocks);
    client.restore_token(&record).unwrap();
}

/// A DPoP configuration: the record carries the type, and a record made
/// with another DPoP key, or without DPoP, is refused.
#[cfg(all(feature = "dpop", feature = "p256"))]
#[test]
fn dpop_key_is_part_of_the_fingerprint() {
    use embedded_oauth2::assertion::{CounterJti, P256Signer};
    use embedded_oauth2::dpop::{Dpop, DpopKey};
    let keys = [0x21u8, 0x22].map(|k| {
        let signer = P256Signer::from_bytes(&[k; 32]).unwrap();
        let public = signer.public_key_sec1();
        (signer, public)
    });
    let wall = || Some(WALL0);
    let jti = CounterJti::new(*b"persist1");
    let dpop_config = |k: u8| {
        let (signer, public) = &keys[usize::from(k - 0x21)];
        config().with_dpop(Dpop::new(
            DpopKey::new(signer, public).unwrap(),
            &wall,
            &jti,
        ))
    };
    let clocks = Clocks::new(1_000, Some(WALL0));
    let mut client: DeviceOf<'_, T, S> = device(dpop_config(0x21), &clocks);
    let server = silent_server(&clocks);
    server.borrow_mut().push(Script::Respond(json(
        "HTTP/1.1 200 OK",
        r#"{"access_token":"bound","token_type":"DPoP","expires_in":600}"#,
    )));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut work = [0u8; 2048];
    client.token(&mut connect, &mut work).expect("fetch");
    let mut record = [0u8; record_len(T, S)];
    let n = client.export_token(&mut record).unwrap();
    let record = &record[..n];
    assert_eq!(record[5] & 1, 1, "flags: DPoP");
    assert_eq!(
        TokenRecord::parse(record).unwrap().token_type(),
        TokenType::Dpop
    );

    let mut same: DeviceOf<'_, T, S> = device(dpop_config(0x21), &clocks);
    same.restore_token(record).unwrap();
    assert_eq!(same.cached().unwrap().token_type(), TokenType::Dpop);
    let mut other_key: DeviceOf<'_, T, S> = device(dpop_config(0x22), &clocks);
    assert_eq!(
        other_key.restore_token(record),
        Err(PersistError::OtherConfig)
    );
    let mut no_dpop: Device<T, S> = device(config(), &clocks);
    assert_eq!(
        no_dpop.restore_token(record),
        Err(PersistError::OtherConfig)
    );
}

/// Expired by the wall clock: refused, to the second.
#[test]
fn expired_record_is_refused() {
    let (record, _) = exported_after(10);
    for (wall, ok) in [
        (WALL0 + 3599, true),
        (WALL0 + 3600, false),
        (WALL0 + 86_400 * 30, false),
    ] {
        let clocks = Clocks::new(0, Some(wall));
        let mut client: Device<T, S> = device(config(), &clocks);
        let got = client.restore_token(&record);
        if ok {
            assert_eq!(got, Ok(()));
            assert_eq!(client.cached().unwrap().expires_at(), Instant::from_secs(1));
        } else {
            assert_eq!(got, Err(PersistError::Expired), "{wall}");
            assert!(client.cached().is_none());
        }
    }
}

/// The wall clock: unknown at export or restore refuses; behind the export
/// time a little counts as no time passed, a lot refuses.
#[test]
fn wall_clock_rules() {
    // Unknown at export.
    let (_, clocks) = exported_after(0);
    let mut client: Device<T, S> = device(config(), &clocks);
    let server = silent_server(&clocks);
    server
        .borrow_mut()
        .push(Script::Respond(token_body(TOKEN, 3600)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    client.token(&mut connect, &mut [0u8; 1024]).unwrap();
    clocks.wall.set(None);
    assert_eq!(
        client.export_token(&mut [0u8; 512]),
        Err(PersistError::NoWallClock)
    );
    // No wall clock at all.
    let mut plain: Client<_, 64, T, S> = Client::new(config(), || Instant::ZERO);
    let mut work = [0u8; 256];
    let resp = embedded_oauth2::http::parse_token_response(
        200,
        br#"{"access_token":"t","token_type":"Bearer"}"#,
        &mut work,
    )
    .unwrap();
    plain.complete(&resp, Instant::ZERO).unwrap();
    assert_eq!(
        plain.export_token(&mut [0u8; 512]),
        Err(PersistError::NoWallClock)
    );

    let (record, _) = exported_after(100); // exported at WALL0 + 100
    let mut unsynced: Client<_, 64, T, S> = Client::new(config(), || Instant::ZERO);
    assert_eq!(
        unsynced.restore_token(&record),
        Err(PersistError::NoWallClock)
    );
    let clocks = Clocks::new(0, None);
    let mut client: Device<T, S> = device(config(), &clocks);
    assert_eq!(
        client.restore_token(&record),
        Err(PersistError::NoWallClock)
    );

    // Behind by more than the tolerance: the RTC restarted at its epoch.
    for wall in [0, WALL0 + 100 - MAX_CLOCK_BEHIND - 1] {
        clocks.wall.set(Some(wall));
        assert_eq!(
            client.restore_token(&record),
            Err(PersistError::ClockBehind),
            "{wall}"
        );
    }
    // Behind by at most the tolerance: as if at the export time.
    clocks.wall.set(Some(WALL0 + 100 - MAX_CLOCK_BEHIND));
    client.restore_token(&record).unwrap();
    assert_eq!(
        client.cached().unwrap().expires_at(),
        Instant::from_secs(3600 - 100)
    );
}

/// After a restore the client serves the token with no I/O at all (the
/// server has no script and would panic), also when its renewal is near;
/// once it expires by the clock the next call fetches.
#[test]
fn restored_token_is_served_without_io_then_refetched() {
    let (record, _) = exported_after(600);
    let clocks = Clocks::new(3_000, Some(WALL0 + 1200)); // 2400 s left
    let mut client: Device<T, S> = device(config(), &clocks);
    client.restore_token(&record).unwrap();
    let server = silent_server(&clocks);
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut work = vec![0xA5u8; 1024];
    for step in [0, 1000, 1000, 300] {
        clocks.advance(step);
        let t = client.token(&mut connect, &mut work).expect("cached");
        assert_eq!(t.expose_secret(), TOKEN);
    }
    assert_eq!(server.borrow().connections, 0);

    clocks.advance(100); // 2400 s after the restore: expired
    assert_eq!(client.freshness(), Freshness::Expired);
    server
        .borrow_mut()
        .push(Script::Respond(token_body("fresh-one", 3600)));
    let t = client.token(&mut connect, &mut work).expect("refetch");
    assert_eq!(t.expose_secret(), "fresh-one");
    assert_eq!(server.borrow().connections, 1);
}

/// Capacities: an export buffer one byte short names the exact size and
/// is left untouched; a client whose token or scope capacity is too small
/// refuses the record with the crate's capacity error.
#[test]
fn capacity_errors_are_exact() {
    let (record, clocks) = exported_after(10);
    let n = record.len();
    let mut client: Device<T, S> = device(config(), &clocks);
    client.restore_token(&record).unwrap();
    let mut short = vec![0xA5u8; n - 1];
    assert_eq!(
        client.export_token(&mut short),
        Err(PersistError::Capacity(CapacityError::new(
            Buffer::Record,
            n,
            n - 1,
            true
        )))
    );
    assert!(short.iter().all(|&b| b == 0xA5), "buffer untouched");
    let mut exact = vec![0u8; n];
    assert_eq!(client.export_token(&mut exact), Ok(n));
    assert_eq!(TokenRecord::parse(&exact).unwrap().expose_secret(), TOKEN);

    let mut small_token: Device<16, S> = device(config(), &clocks);
    assert_eq!(
        small_token.restore_token(&record),
        Err(PersistError::Capacity(CapacityError::new(
            Buffer::AccessToken,
            TOKEN.len(),
            16,
            true
        )))
    );
    let mut small_scope: Device<T, 8> = device(config(), &clocks);
    assert_eq!(
        small_scope.restore_token(&record),
        Err(PersistError::Capacity(CapacityError::new(
            Buffer::Scope,
            SCOPE.len(),
            8,
            true
        )))
    );
    assert!(small_token.cached().is_none() && small_scope.cached().is_none());
}

/// Nothing to export: no token yet, or it expired.
#[test]
fn export_needs_a_valid_token() {
    let clocks = Clocks::new(0, Some(WALL0));
    let client: Device<T, S> = device(config(), &clocks);
    assert_eq!(
        client.export_token(&mut [0u8; 512]),
        Err(PersistError::NoToken)
    );
    let clocks = Clocks::new(1_000, Some(WALL0));
    let mut client: Device<T, S> = device(config(), &clocks);
    let server = silent_server(&clocks);
    server
        .borrow_mut()
        .push(Script::Respond(token_body(TOKEN, 60)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    client.token(&mut connect, &mut [0u8; 1024]).unwrap();
    clocks.advance(60);
    assert_eq!(
        client.export_token(&mut [0u8; 512]),
        Err(PersistError::NoToken)
    );
}

/// A failed restore leaves a token the client held in place.
#[test]
fn failed_restore_keeps_the_current_token() {
    let (record, clocks) = exported_after(10);
    let mut client: Device<T, S> = device(config(), &clocks);
    client.restore_token(&record).unwrap();
    let mut bad = record.clone();
    bad[50] ^= 0x20;
    assert_eq!(client.restore_token(&bad), Err(PersistError::Checksum));
    assert_eq!(client.cached().unwrap().expose_secret(), TOKEN);
}

/// The record in a `sequential-storage` 8 map (key 1) over an in-memory
/// NOR flash: stored before a reset, fetched and restored after it.
#[test]
fn record_in_sequential_storage_over_nor_flash() {
    use sequential_storage::cache::Cache;
    use sequential_storage::map::{MapConfig, MapStorage};

    let (record, _) = exported_after(30);
    let flash = nor::Flash::default();
    let mut data = [0u8; 256];
    let flash = embassy_futures::block_on(async {
        let mut map = MapStorage::<u8, _, _>::new(
            flash,
            const { MapConfig::<nor::Flash>::new(0..nor::SIZE as u32) },
            Cache::new_uncached(),
        );
        map.store_item(&mut data, &1u8, &record.as_slice())
            .await
            .unwrap();
        map.destroy().0
    });
    data.fill(0);
    assert!(
        contains(&flash.bytes, TOKEN.as_bytes()),
        "the flash holds the token: it must be protected"
    );

    // After the reset: a new map over the same flash.
    let clocks = Clocks::new(700, Some(WALL0 + 40));
    let mut client: Device<T, S> = device(config(), &clocks);
    embassy_futures::block_on(async {
        let mut map = MapStorage::<u8, _, _>::new(
            flash,
            const { MapConfig::<nor::Flash>::new(0..nor::SIZE as u32) },
            Cache::new_uncached(),
        );
        let stored: &[u8] = map.fetch_item(&mut data, &1u8).await.unwrap().unwrap();
        client.restore_token(stored).unwrap();
    });
    data.fill(0); // wipe the copy the map read
    let t = client.cached().expect("restored from flash");
    assert_eq!(t.expose_secret(), TOKEN);
    assert_eq!(
        t.expires_at(),
        Instant::from_millis(700 + (3600 - 40) * 1000)
    );
}

/// A NOR flash in RAM: 4 pages of 256 bytes, erase to `0xFF`, writes can
/// only clear bits, 4-byte words.
mod nor {
    use embedded_storage_async::nor_flash::{
        ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
    };

    pub const PAGE: usize = 256;
    pub const SIZE: usize = 4 * PAGE;

    pub struct Flash {
        pub bytes: Vec<u8>,
    }

    impl Default for Flash {
        fn default() -> Self {
            Self {
                bytes: vec![0xFF; SIZE],
            }
        }
    }

    #[derive(Debug)]
    pub struct OutOfBounds;

    impl NorFlashError for OutOfBounds {
        fn kind(&self) -> NorFlashErrorKind {
            NorFlashErrorKind::OutOfBounds
        }
    }

    impl ErrorType for Flash {
        type Error = OutOfBounds;
    }

    fn range(offset: u32, len: usize) -> Result<std::ops::Range<usize>, OutOfBounds> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(OutOfBounds)?;
        if end > SIZE {
            return Err(OutOfBounds);
        }
        Ok(start..end)
    }

    impl ReadNorFlash for Flash {
        const READ_SIZE: usize = 1;
        async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), OutOfBounds> {
            bytes.copy_from_slice(&self.bytes[range(offset, bytes.len())?]);
            Ok(())
        }
        fn capacity(&self) -> usize {
            SIZE
        }
    }

    impl NorFlash for Flash {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = PAGE;
        async fn erase(&mut self, from: u32, to: u32) -> Result<(), OutOfBounds> {
            assert!((from as usize).is_multiple_of(PAGE) && (to as usize).is_multiple_of(PAGE));
            let r = range(from, (to - from) as usize)?;
            self.bytes[r].fill(0xFF);
            Ok(())
        }
        async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), OutOfBounds> {
            assert!((offset as usize).is_multiple_of(4) && bytes.len().is_multiple_of(4));
            let r = range(offset, bytes.len())?;
            for (dst, src) in self.bytes[r].iter_mut().zip(bytes) {
                *dst &= *src;
            }
            Ok(())
        }
    }

    impl MultiwriteNorFlash for Flash {}
}

/// A monotonic clock older than the token (a warm restart, a long uptime
/// before the reset): the token keeps its whole lifetime, obtained as long
/// ago as the record says, and ends when it ended before.
#[test]
fn restored_token_keeps_its_age_on_an_older_clock() {
    let (record, _) = exported_after(3000);
    let clocks = Clocks::new(10_000_000, Some(WALL0 + 3000));
    let mut client: Device<T, S> = device(config(), &clocks);
    client.restore_token(&record).unwrap();
    let t = client.cached().unwrap();
    assert_eq!(t.lifetime(), std::time::Duration::from_secs(3600));
    assert_eq!(t.obtained_at(), Instant::from_secs(10_000 - 3000));
    assert_eq!(t.expires_at(), Instant::from_secs(10_000 + 600));
}

/// The renewal jitter a client drew travels in the record.
#[test]
fn renewal_jitter_is_recorded() {
    let clocks = Clocks::new(1_000, Some(WALL0));
    let mono = Rc::clone(&clocks.mono);
    let wall = Rc::clone(&clocks.wall);
    let mut client = Client::<_, 64, T, S>::new(
        config(),
        Box::new(move || Instant::from_millis(mono.get())) as Mono,
    )
    .with_random(|| u32::MAX / 2)
    .with_wall_clock(Box::new(move || wall.get()) as Wall);
    let server = silent_server(&clocks);
    server
        .borrow_mut()
        .push(Script::Respond(token_body(TOKEN, 3600)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut work = [0u8; 1024];
    client.token(&mut connect, &mut work).expect("fetch");
    let mut buf = vec![0u8; record_len(T, S)];
    let n = client.export_token(&mut buf).expect("export");
    let rec = embedded_oauth2::persist::TokenRecord::parse(&buf[..n]).unwrap();
    assert!(rec.refresh_early_ms() > 0, "{rec:?}");
}

/// A wall clock that counts from its epoch (an RTC started at 0, as the
/// ESP32-C3 example's does) and was reset after the export reads a time
/// behind it: a record made less than [`MAX_CLOCK_BEHIND`] after the epoch
/// must not restore as "no time passed", however long the device slept.
/// (Before: within five minutes of the epoch, the tolerance for a clock
/// slightly behind let it through with its whole lifetime.)
#[test]
fn a_clock_restarted_at_its_epoch_is_refused_near_the_epoch_too() {
    let clocks = Clocks::new(1_000, Some(100));
    let mut client: Device<T, S> = device(config(), &clocks);
    let server = silent_server(&clocks);
    server
        .borrow_mut()
        .push(Script::Respond(token_body(TOKEN, 3600)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    client.token(&mut connect, &mut [0u8; 1024]).expect("fetch");
    let mut record = vec![0u8; record_len(T, S)];
    let n = client.export_token(&mut record).expect("export");
    // The RTC lost power and restarted at 0; it reads 5 s at the restore.
    let after = Clocks::new(10, Some(5));
    let mut restored: Device<T, S> = device(config(), &after);
    assert_eq!(
        restored.restore_token(&record[..n]),
        Err(PersistError::ClockBehind)
    );
    assert!(restored.cached().is_none());
    // The boundaries: the export's own second is "no time passed"; a clock
    // reading MAX_CLOCK_BEHIND since its epoch is no longer near it.
    for (exported, restored_at, ok) in [
        (100, 100, true),
        (400, MAX_CLOCK_BEHIND, true),
        (400, MAX_CLOCK_BEHIND - 1, false),
    ] {
        let clocks = Clocks::new(1_000, Some(exported));
        let mut client: Device<T, S> = device(config(), &clocks);
        let server = silent_server(&clocks);
        server
            .borrow_mut()
            .push(Script::Respond(token_body(TOKEN, 3600)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        client.token(&mut connect, &mut [0u8; 1024]).expect("fetch");
        let n = client.export_token(&mut record).expect("export");
        let after = Clocks::new(10, Some(restored_at));
        let mut restored: Device<T, S> = device(config(), &after);
        let r = restored.restore_token(&record[..n]);
        assert_eq!(
            r.is_ok(),
            ok,
            "exported at {exported}, restored at {restored_at}: {r:?}"
        );
    }
    // A clock slightly behind a real date is still tolerated.
    let (record, _) = exported_after(10);
    let behind = Clocks::new(10, Some(WALL0 + 10 - 60));
    let mut restored: Device<T, S> = device(config(), &behind);
    restored
        .restore_token(&record)
        .expect("60 s behind a real date");
}

/// A record whose lifetime exceeds the restoring client's `max_lifetime`,
/// restored on a monotonic clock that ran through the sleep, is already
/// expired for that client: refused as `Expired`, and a token the client
/// held is kept. (Before: `Ok`, and the client held an expired token.)
#[test]
fn a_token_expired_under_the_restoring_policy_is_refused() {
    use embedded_oauth2::RefreshPolicy;
    use std::time::Duration;
    // Exported 20 min into a 1 h token; restored after 20 more minutes by
    // a client whose policy caps lifetimes at 30 min.
    let (record, clocks) = exported_after(20 * 60);
    clocks.advance(20 * 60);
    let policy = RefreshPolicy::new().with_max_lifetime(Duration::from_secs(30 * 60));
    let mut restored: Device<T, S> = device(config(), &clocks).with_policy(policy);
    assert_eq!(restored.restore_token(&record), Err(PersistError::Expired));
    assert!(restored.cached().is_none());
    // Within the cap it restores, with the capped lifetime.
    let (record, clocks) = exported_after(10 * 60);
    let mut restored: Device<T, S> = device(config(), &clocks).with_policy(policy);
    restored.restore_token(&record).expect("within the cap");
    assert_eq!(restored.freshness(), Freshness::Fresh);
}

/// The mTLS client certificate a token is bound to (RFC 8705) is part of
/// the fingerprint when the configuration names it: a token bound to
/// another certificate is not restored. (Before: it was, and every call
/// with it was refused until the next renewal.)
#[test]
fn a_token_bound_to_another_client_certificate_is_not_restored() {
    let cert_a: &'static [u8] = b"\x30\x03certificate A";
    let cert_b: &'static [u8] = b"\x30\x03certificate B";
    let clocks = Clocks::new(1_000, Some(WALL0));
    let mut client: Device<T, S> = device(
        config_with(|c| c.with_tls_client_certificate(cert_a)),
        &clocks,
    );
    let server = silent_server(&clocks);
    server
        .borrow_mut()
        .push(Script::Respond(token_body(TOKEN, 3600)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    client.token(&mut connect, &mut [0u8; 1024]).expect("fetch");
    let mut record = vec![0u8; record_len(T, S)];
    let n = client.export_token(&mut record).expect("export");
    let mut other: Device<T, S> = device(
        config_with(|c| c.with_tls_client_certificate(cert_b)),
        &clocks,
    );
    assert_eq!(
        other.restore_token(&record[..n]),
        Err(PersistError::OtherConfig)
    );
    let mut same: Device<T, S> = device(
        config_with(|c| c.with_tls_client_certificate(cert_a)),
        &clocks,
    );
    same.restore_token(&record[..n])
        .expect("the same certificate");
    // A certificate named or not: two configurations.
    let plain: Device<T, S> = device(config(), &clocks);
    assert_ne!(plain.config_fingerprint(), same.config_fingerprint());
}
