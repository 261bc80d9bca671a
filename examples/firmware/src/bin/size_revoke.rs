//! Size configuration (a) + revocation (RFC 7009, feature `revocation`):
//! the blocking client fetches a token, then revokes it with
//! `Client::revoke` at the configured revocation endpoint.
#![no_std]
#![no_main]

use core::cell::Cell;
use core::hint::black_box;

use cortex_m_rt::entry;
use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};
use oauth2_firmware::{mem, rt};
use panic_halt as _;

static RESPONSE: &[u8] = include_bytes!("../../responses/opaque.http");
static REVOKED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

#[entry]
fn main() -> ! {
    let mut request = [0u8; 1024];
    let wire = mem::Wire::new(&mut request);
    wire.serve(black_box(RESPONSE));
    let (Ok(endpoint), Ok(revocation), Ok(id), Ok(secret)) = (
        TokenEndpoint::parse(black_box("https://auth.example.com/token")),
        TokenEndpoint::parse(black_box("https://auth.example.com/revoke")),
        ClientId::new(black_box("basic-client")),
        ClientSecret::<32>::new(black_box("basic-secret")),
    ) else {
        rt::exit(false)
    };
    let auth = if black_box(true) {
        ClientAuth::Basic(secret)
    } else {
        ClientAuth::Post(secret)
    };
    let config = Config::new(endpoint, id, auth).with_revocation_endpoint(revocation);
    let now = Cell::new(0u64);
    let mut client: Client<_, 32, 1024, 64> =
        Client::new(config, || Instant::from_millis(now.get()));
    let mut work = [0u8; 2048];
    let mut connect = mem::connector(&wire);
    let fetched = client.token(&mut connect, &mut work).is_ok();
    wire.serve(black_box(REVOKED));
    let ok = fetched && client.revoke(&mut connect, &mut work).is_ok() && client.cached().is_none();
    rt::print(if ok { "revoked\n" } else { "failed\n" });
    rt::exit(ok)
}
