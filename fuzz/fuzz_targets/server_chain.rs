#![no_main]
//! The connector's certificate check on bytes a server controls:
//! `tls::verify_server_chain` over an arbitrary chain, against an arbitrary
//! root, with and without a clock, for a few names. It must never panic;
//! what it accepts must at least be a certificate with a public key, and
//! the answer must not depend on how the roots are given.
//!
//! Input: byte 0 flags (bit 0: a clock, bits 1-2: the name), then entries,
//! each a u16 big-endian length and that many bytes: the first is the root,
//! the others the chain (leaf first).

use embedded_oauth2::tls::{Roots, spki, verify_server_chain};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = ["localhost", "127.0.0.1", "api.example.com", "::1"];
/// Fixed times for the clock: the seed chains' era.
const NOW: u64 = 1_796_700_000;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut entries: Vec<&[u8]> = Vec::new();
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (entry, after) = tail.split_at(len);
        entries.push(entry);
        rest = after;
        if entries.len() > 12 {
            break;
        }
    }
    let Some((root, chain)) = entries.split_first() else {
        return;
    };
    let now = (flags & 1 == 1).then_some(NOW);
    let name = NAMES[usize::from((flags >> 1) & 3)];
    let one = verify_server_chain(chain, Roots::Certificate(root), name, now);
    let roots = [*root];
    let many = verify_server_chain(chain, Roots::Certificates(&roots), name, now);
    assert_eq!(one, many, "the same root, given two ways");
    if one.is_ok() {
        let leaf = chain.first().expect("an accepted chain has a leaf");
        assert!(spki(leaf).is_some(), "an accepted leaf has a public key");
    }
});
