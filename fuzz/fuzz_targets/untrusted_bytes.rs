#![no_main]
//! Bytes a device reads that nobody checked: a token record from flash or
//! retained RAM (`persist`), an authorization server's metadata and a
//! resource's metadata (`discovery`, RFC 8414 / RFC 9728), a
//! `WWW-Authenticate` value. The first byte picks the parser. None may
//! panic; what they accept must hold what they promise.

use embedded_oauth2::discovery::{
    Issuer, parse_metadata, parse_resource_metadata, resource_metadata_url,
};
use embedded_oauth2::persist::TokenRecord;
use embedded_oauth2::{Client, ClientAuth, ClientId, Config, Instant, TokenEndpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 4 {
        0 => {
            // A record: parsed alone, then restored into a client (which
            // must refuse or hold a token that fits its capacities).
            let _ = TokenRecord::parse(rest);
            let config = Config::<0>::new(
                TokenEndpoint::parse("https://as.example/token").unwrap(),
                ClientId::new("sensor").unwrap(),
                ClientAuth::ClientIdOnly,
            );
            let mut client: Client<_, 0, 256, 32, _, _> =
                Client::new(config, || Instant::from_millis(5_000))
                    .with_wall_clock(|| Some(1_800_000_000u64));
            if client.restore_token(rest).is_ok() {
                let t = client.cached().expect("a restored token is cached");
                assert!(!t.expose_secret().is_empty());
                assert!(t.expose_secret().bytes().all(|b| (0x21..0x7F).contains(&b)));
            }
        }
        1 => {
            let issuer = Issuer::parse("https://as.example").unwrap();
            let mut out = [0u8; 512];
            if let Ok(m) = parse_metadata(200, rest, &issuer, &mut out) {
                assert_eq!(m.issuer, "https://as.example");
                assert!(m.token_endpoint.is_https());
            }
        }
        2 => {
            let mut out = [0u8; 512];
            if let Ok(m) =
                parse_resource_metadata(200, rest, "https://rs.example/", false, &mut out)
            {
                let _ = m;
            }
        }
        _ => {
            if let Some(url) = resource_metadata_url(rest) {
                assert!(url.len() <= rest.len());
            }
        }
    }
});
