//! HMAC-SHA-256 (RFC 2104) on sha2 0.10's block function, with every
//! key-equivalent byte in one [`Scratch`] that is wiped before returning.
//!
//! hmac 0.12 (and the digest 0.10 cores under it) cannot be zeroized: its
//! inner and outer states — each as good as the key for forging
//! `client_secret_jwt` assertions — would stay on the stack after signing.
//! Here they live in `Scratch`, owned by the caller of [`hmac_sha256`], and
//! are zeroized whatever happens. (What the compiler may spill to the stack
//! inside `compress256` itself is outside any safe Rust code's reach.)

use sha2::compress256;
use zeroize::Zeroize;

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
const BLOCK: usize = 64;

/// Everything HMAC holds that could reveal the key: the padded key, the
/// block being hashed, the chaining state and the inner hash.
///
/// No `Drop`: [`hmac_sha256`], which has no early return and cannot panic,
/// zeroizes it before it returns (tested), so it never holds key material
/// outside that call.
pub(crate) struct Scratch {
    key: [u8; BLOCK],
    block: [u8; BLOCK],
    state: [u32; 8],
    inner: [u8; 32],
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            key: [0; BLOCK],
            block: [0; BLOCK],
            state: [0; 8],
            inner: [0; 32],
        }
    }
}

impl Zeroize for Scratch {
    fn zeroize(&mut self) {
        self.key.zeroize();
        self.block.zeroize();
        self.state.zeroize();
        self.inner.zeroize();
    }
}

#[cfg(test)]
impl Scratch {
    /// Whether every byte is zero.
    pub(crate) fn is_wiped(&self) -> bool {
        self.key
            .iter()
            .chain(&self.block)
            .chain(&self.inner)
            .all(|&b| b == 0)
            && self.state.iter().all(|&w| w == 0)
    }
}

fn compress(state: &mut [u32; 8], block: &[u8; BLOCK]) {
    // (`into` rather than naming generic-array 0.14's deprecated type.)
    compress256(state, core::slice::from_ref(block.into()));
}

/// SHA-256 of `prefix` bytes already absorbed into `s.state` (whole blocks)
/// followed by `data`, into `out`.
fn finish(s: &mut Scratch, prefix: u64, data: &[u8], out: &mut [u8; 32]) {
    let mut blocks = data.chunks_exact(BLOCK);
    for chunk in &mut blocks {
        if let Ok(block) = <&[u8; BLOCK]>::try_from(chunk) {
            compress(&mut s.state, block);
        }
    }
    let rest = blocks.remainder();
    // Padding: 0x80, zeros, the message length in bits (the prefix plus
    // `data`) as a 64-bit big-endian number.
    let bits = (prefix + data.len() as u64).wrapping_mul(8);
    s.block.zeroize();
    for (dst, src) in s.block.iter_mut().zip(rest) {
        *dst = *src;
    }
    if let Some(b) = s.block.get_mut(rest.len()) {
        *b = 0x80;
    }
    if rest.len() >= BLOCK - 8 {
        compress(&mut s.state, &s.block.clone());
        s.block.zeroize();
    }
    for (dst, src) in s.block.iter_mut().skip(BLOCK - 8).zip(bits.to_be_bytes()) {
        *dst = src;
    }
    let block = s.block;
    compress(&mut s.state, &block);
    for (dst, src) in out
        .iter_mut()
        .zip(s.state.iter().flat_map(|w| w.to_be_bytes()))
    {
        *dst = src;
    }
}

/// SHA-256 of `data` into `out`; `s` is wiped before returning (`data` may
/// be a secret: DPoP's `ath` is the hash of the access token).
#[cfg(feature = "dpop")]
pub(crate) fn sha256(data: &[u8], s: &mut Scratch, out: &mut [u8; 32]) {
    s.zeroize();
    s.state = IV;
    finish(s, 0, data, out);
    s.zeroize();
}

/// HMAC-SHA-256 of `msg` under `key` into `out`; `s` is wiped before
/// returning.
#[cfg(feature = "client-secret-jwt")]
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8], s: &mut Scratch, out: &mut [u8; 32]) {
    s.zeroize();
    if key.len() > BLOCK {
        // A longer key is hashed first (RFC 2104 §2).
        s.state = IV;
        let mut digest = [0u8; 32];
        let (first, rest) = key.split_at(BLOCK);
        if let Ok(block) = <&[u8; BLOCK]>::try_from(first) {
            compress(&mut s.state, block);
        }
        finish(s, BLOCK as u64, rest, &mut digest);
        s.key = [0; BLOCK];
        for (dst, src) in s.key.iter_mut().zip(digest) {
            *dst = src;
        }
        digest.zeroize();
    } else {
        for (dst, src) in s.key.iter_mut().zip(key) {
            *dst = *src;
        }
    }
    // Inner: H((K ^ ipad) || msg).
    for (dst, k) in s.block.iter_mut().zip(s.key) {
        *dst = k ^ 0x36;
    }
    s.state = IV;
    let block = s.block;
    compress(&mut s.state, &block);
    let mut inner = [0u8; 32];
    finish(s, BLOCK as u64, msg, &mut inner);
    s.inner = inner;
    inner.zeroize();
    // Outer: H((K ^ opad) || inner).
    for (dst, k) in s.block.iter_mut().zip(s.key) {
        *dst = k ^ 0x5c;
    }
    s.state = IV;
    let block = s.block;
    compress(&mut s.state, &block);
    let inner = s.inner;
    finish(s, BLOCK as u64, &inner, out);
    s.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "client-secret-jwt")]
    use hmac::{Hmac, Mac};
    #[cfg(feature = "client-secret-jwt")]
    use std::vec;

    #[cfg(feature = "client-secret-jwt")]
    fn reference(key: &[u8], data: &[u8]) -> std::vec::Vec<u8> {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }

    /// SHA-256 against sha2's, at the lengths around the padding's block
    /// boundary, and the scratch wiped afterwards.
    #[cfg(feature = "dpop")]
    #[test]
    fn sha256_matches_sha2_and_wipes() {
        use sha2::Digest;
        for len in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 200] {
            let data: std::vec::Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut scratch = Scratch::default();
            let mut out = [0u8; 32];
            sha256(&data, &mut scratch, &mut out);
            assert_eq!(out[..], sha2::Sha256::digest(&data)[..], "{len}");
            assert!(scratch.is_wiped(), "{len}");
        }
    }

    /// The HMAC state (padded key, chaining state, inner hash) is wiped
    /// once the tag is computed, and the tag is still right; checked for a
    /// short key, a block-sized one and one that is hashed first.
    #[cfg(feature = "client-secret-jwt")]
    #[test]
    fn hmac_state_is_wiped_after_signing() {
        for key_len in [4usize, 64, 131] {
            let key = vec![0xa5u8; key_len];
            for msg_len in [0usize, 55, 56, 64, 200] {
                let msg = vec![0x3cu8; msg_len];
                let mut scratch = Scratch::default();
                let mut tag = [0u8; 32];
                hmac_sha256(&key, &msg, &mut scratch, &mut tag);
                assert_eq!(
                    tag.to_vec(),
                    reference(&key, &msg),
                    "key {key_len}, msg {msg_len}"
                );
                assert!(scratch.is_wiped(), "key {key_len}, msg {msg_len}");
            }
        }
    }
}
