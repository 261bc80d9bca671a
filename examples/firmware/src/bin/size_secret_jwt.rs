//! Size configuration (b): (a) plus client_secret_jwt (HS256).
#![no_std]
#![no_main]

use core::cell::Cell;
use core::hint::black_box;

use cortex_m_rt::entry;
use embedded_oauth2::assertion::{Assertion, CounterJti};
use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};
use oauth2_firmware::{mem, rt};
use panic_halt as _;

static RESPONSE: &[u8] = include_bytes!("../../responses/secret_jwt.http");

#[entry]
fn main() -> ! {
    let mut request = [0u8; 1024];
    let wire = mem::Wire::new(&mut request);
    wire.serve(black_box(RESPONSE));
    let (Ok(endpoint), Ok(id), Ok(secret)) = (
        TokenEndpoint::parse(black_box("https://auth.example.com/token")),
        ClientId::new(black_box("jwt-client")),
        ClientSecret::<64>::new(black_box("jwt-client-hs256-secret-0123456789abcdefghij")),
    ) else {
        rt::exit(false)
    };
    let auth = match black_box(2u8) {
        0 => ClientAuth::Basic(secret),
        1 => ClientAuth::Post(secret),
        _ => ClientAuth::SecretJwt(secret),
    };
    let wall = || black_box(Some(1_767_225_600u64));
    let jti = CounterJti::new(*b"fw-boot1");
    let config = Config::new(endpoint, id, auth).with_assertion(Assertion::new(&wall, &jti));
    let now = Cell::new(0u64);
    let mut client: Client<_, 64, 1024, 64> =
        Client::new(config, || Instant::from_millis(now.get()));
    let mut work = [0u8; 2048];
    let mut connect = mem::connector(&wire);
    let mut header = [0u8; 1100];
    let ok = match client.token(&mut connect, &mut work) {
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
