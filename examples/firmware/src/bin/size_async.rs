//! Size configuration (d): (a) through the async driver instead of the
//! blocking one: `embassy_futures::block_on(client.asynch().token(..))` over
//! the in-memory `embedded_io_async` transport.
#![no_std]
#![no_main]

use core::cell::Cell;
use core::hint::black_box;

use cortex_m_rt::entry;
use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};
use oauth2_firmware::mem_async::AsyncConnector;
use oauth2_firmware::{mem, rt};
use panic_halt as _;

static RESPONSE: &[u8] = include_bytes!("../../responses/opaque.http");

#[entry]
fn main() -> ! {
    let mut request = [0u8; 1024];
    let wire = mem::Wire::new(&mut request);
    wire.serve(black_box(RESPONSE));
    let (Ok(endpoint), Ok(id), Ok(secret)) = (
        TokenEndpoint::parse(black_box("https://auth.example.com/token")),
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
    let now = Cell::new(0u64);
    let mut client: Client<_, 32, 1024, 64> = Client::new(Config::new(endpoint, id, auth), || {
        Instant::from_millis(now.get())
    });
    let mut work = [0u8; 2048];
    let mut connect = AsyncConnector(&wire);
    let mut header = [0u8; 1100];
    let ok = match embassy_futures::block_on(client.asynch().token(&mut connect, &mut work)) {
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
