#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_oauth2_fuzz::server_chain(data));
