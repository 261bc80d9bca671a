//! Size configuration (a) + persistence: the blocking client fetches, then
//! exports its token record (`Client::export_token`) and a second client
//! restores it (`Client::restore_token`), as firmware does around a deep
//! sleep or a reset. Both clients have a wall clock, which the record
//! needs. Not in `scripts/firmware-report.sh`'s table (yet): built and
//! measured by hand, see docs/measurements.md ("Tokens that survive a
//! reset").
#![no_std]
#![no_main]

use core::cell::Cell;
use core::hint::black_box;

use cortex_m_rt::entry;
use embedded_oauth2::persist::record_len;
use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};
use oauth2_firmware::{mem, rt};
use panic_halt as _;

static RESPONSE: &[u8] = include_bytes!("../../responses/opaque.http");

fn config() -> Option<Config<'static, 32>> {
    let (Ok(endpoint), Ok(id), Ok(secret)) = (
        TokenEndpoint::parse(black_box("https://auth.example.com/token")),
        ClientId::new(black_box("basic-client")),
        ClientSecret::<32>::new(black_box("basic-secret")),
    ) else {
        return None;
    };
    let auth = if black_box(true) {
        ClientAuth::Basic(secret)
    } else {
        ClientAuth::Post(secret)
    };
    Some(Config::new(endpoint, id, auth))
}

#[entry]
fn main() -> ! {
    let mut request = [0u8; 1024];
    let wire = mem::Wire::new(&mut request);
    wire.serve(black_box(RESPONSE));
    let (Some(first), Some(second)) = (config(), config()) else {
        rt::exit(false)
    };
    let now = Cell::new(0u64);
    let wall = || black_box(Some(1_767_225_600u64));
    let mut client: Client<_, 32, 1024, 64, _, _> =
        Client::new(first, || Instant::from_millis(now.get())).with_wall_clock(wall);
    let mut work = [0u8; 2048];
    let mut connect = mem::connector(&wire);
    let mut record = [0u8; record_len(1024, 64)];
    let exported = match client.token(&mut connect, &mut work) {
        Ok(_) => client.export_token(&mut record).ok(),
        Err(_) => None,
    };
    // After the "reset": a new client, its clock restarted.
    let mut client: Client<_, 32, 1024, 64, _, _> =
        Client::new(second, || Instant::from_millis(black_box(5))).with_wall_clock(wall);
    let restored = exported
        .and_then(|n| record.get(..n))
        .is_some_and(|r| client.restore_token(r).is_ok());
    record.fill(0);
    let mut header = [0u8; 1100];
    let ok = restored
        && match client.token(&mut connect, &mut work) {
            Ok(t) => match t.authorization_value(&mut header) {
                Ok(v) => {
                    rt::print(v);
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
    rt::print("\n");
    rt::exit(ok)
}
