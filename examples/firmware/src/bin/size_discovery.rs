//! Size configuration (a) + discovery (RFC 8414, feature `discovery`): the
//! token endpoint found from the issuer's metadata, then the blocking
//! client fetches a token from it.
#![no_std]
#![no_main]

use core::cell::Cell;
use core::hint::black_box;

use cortex_m_rt::entry;
use embedded_oauth2::discovery::{Issuer, WellKnown};
use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, blocking};
use oauth2_firmware::{mem, rt};
use panic_halt as _;

static METADATA: &[u8] = include_bytes!("../../responses/metadata.http");
static RESPONSE: &[u8] = include_bytes!("../../responses/opaque.http");

#[entry]
fn main() -> ! {
    let mut request = [0u8; 1024];
    let wire = mem::Wire::new(&mut request);
    wire.serve(black_box(METADATA));
    let (Ok(issuer), Ok(id), Ok(secret)) = (
        Issuer::parse(black_box("https://auth.example.com")),
        ClientId::new(black_box("basic-client")),
        ClientSecret::<32>::new(black_box("basic-secret")),
    ) else {
        rt::exit(false)
    };
    let mut connect = mem::connector(&wire);
    let mut meta_buf = [0u8; 1024];
    let Ok(meta) = blocking::discover(
        &mut connect,
        &issuer,
        WellKnown::OAuthAuthorizationServer,
        &mut meta_buf,
    ) else {
        rt::exit(false)
    };
    let auth = if black_box(true) {
        ClientAuth::Basic(secret)
    } else {
        ClientAuth::Post(secret)
    };
    wire.serve(black_box(RESPONSE));
    let now = Cell::new(0u64);
    let mut client: Client<_, 32, 1024, 64> =
        Client::new(Config::new(meta.token_endpoint, id, auth), || {
            Instant::from_millis(now.get())
        });
    let mut work = [0u8; 2048];
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
