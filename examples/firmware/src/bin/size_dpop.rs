//! Size configuration (e): (c) plus DPoP (RFC 9449) proofs on the token
//! requests, signed by the same software ES256 signer, and a DPoP token
//! presented as `DPoP <token>`. (e) − (c) is what DPoP itself costs.
#![no_std]
#![no_main]

use core::cell::Cell;
use core::hint::black_box;

use cortex_m_rt::entry;
use embedded_oauth2::assertion::{Assertion, CounterJti, P256Signer};
use embedded_oauth2::dpop::{Dpop, DpopKey};
use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};
use oauth2_firmware::{mem, rt};
use panic_halt as _;

static RESPONSE: &[u8] = include_bytes!("../../responses/dpop.http");
static KEY: [u8; 32] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
    27, 28, 29, 30, 31, 32,
];
/// `KEY`'s public key (SEC1, uncompressed), provisioned with the device as
/// a secure element's would be (`P256Signer::public_key_sec1` gives the
/// same; a unit test checks it).
static PUBLIC: [u8; 65] = [
    4, 81, 92, 61, 110, 185, 227, 150, 185, 4, 211, 254, 202, 127, 84, 253, 205, 12, 193, 233, 151,
    191, 55, 93, 202, 81, 90, 208, 166, 195, 180, 3, 95, 69, 54, 190, 58, 80, 243, 24, 251, 249,
    165, 71, 89, 2, 162, 33, 80, 43, 239, 13, 87, 224, 140, 83, 178, 204, 10, 86, 241, 125, 159,
    147, 84,
];

#[entry]
fn main() -> ! {
    let mut request = [0u8; 1536];
    let wire = mem::Wire::new(&mut request);
    wire.serve(black_box(RESPONSE));
    let (Ok(endpoint), Ok(id), Ok(secret), Ok(signer)) = (
        TokenEndpoint::parse(black_box("https://auth.example.com/token")),
        ClientId::new(black_box("pkjwt-client")),
        ClientSecret::<32>::new(black_box("unused-secret")),
        P256Signer::from_bytes(black_box(&KEY)),
    ) else {
        rt::exit(false)
    };
    let auth = match black_box(2u8) {
        0 => ClientAuth::Basic(secret),
        1 => ClientAuth::Post(secret),
        _ => ClientAuth::PrivateKeyJwt,
    };
    let Ok(key) = DpopKey::new(&signer, black_box(&PUBLIC)) else {
        rt::exit(false)
    };
    let wall = || black_box(Some(1_767_225_600u64));
    let jti = CounterJti::new(*b"fw-boot1");
    let config = Config::new(endpoint, id, auth)
        .with_assertion(Assertion::new(&wall, &jti).with_signer(&signer))
        .with_dpop(Dpop::new(key, &wall, &jti));
    let now = Cell::new(0u64);
    let mut client: Client<_, 32, 1024, 64> =
        Client::new(config, || Instant::from_millis(now.get()));
    let mut work = [0u8; 2560];
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
