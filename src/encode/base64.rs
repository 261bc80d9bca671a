//! Streaming base64 in front of any [`Out`]: input arrives in pieces, output
//! goes straight to the sink, so no temporary copy of a secret is made.

use core::marker::PhantomData;

use base64ct::Encoding;
use zeroize::Zeroize;

use super::Out;

pub(crate) struct B64<'o, O: Out, E: Encoding> {
    out: &'o mut O,
    carry: [u8; 3],
    carried: usize,
    _encoding: PhantomData<E>,
}

impl<'o, O: Out, E: Encoding> B64<'o, O, E> {
    pub(crate) fn new(out: &'o mut O) -> Self {
        Self {
            out,
            carry: [0; 3],
            carried: 0,
            _encoding: PhantomData,
        }
    }

    fn flush(&mut self) {
        let mut quad = [0u8; 4];
        let input = self.carry.get(..self.carried).unwrap_or_default();
        if let Ok(s) = E::encode(input, &mut quad) {
            self.out.put(s.as_bytes());
        }
        self.carried = 0;
        quad.zeroize();
    }

    pub(crate) fn finish(mut self) {
        if self.carried > 0 {
            self.flush();
        }
    }
}

impl<O: Out, E: Encoding> Out for B64<'_, O, E> {
    fn put(&mut self, mut bytes: &[u8]) {
        // Complete a carried group first.
        while self.carried > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return;
            };
            if let Some(slot) = self.carry.get_mut(self.carried) {
                *slot = b;
            }
            self.carried += 1;
            bytes = rest;
            if self.carried == 3 {
                self.flush();
            }
        }
        // Whole groups in bulk, through a small stack buffer (wiped after).
        let mut quads = [0u8; 32];
        let mut groups = bytes.chunks_exact(24);
        for chunk in &mut groups {
            if let Ok(s) = E::encode(chunk, &mut quads) {
                self.out.put(s.as_bytes());
            }
        }
        let rest = groups.remainder();
        let whole = rest.len() - rest.len() % 3;
        let (head, tail) = rest.split_at(whole);
        if let Ok(s) = E::encode(head, &mut quads) {
            self.out.put(s.as_bytes());
        }
        quads.zeroize();
        for (slot, &b) in self.carry.iter_mut().zip(tail) {
            *slot = b;
        }
        self.carried = tail.len();
    }
}

impl<O: Out, E: Encoding> Drop for B64<'_, O, E> {
    fn drop(&mut self) {
        self.carry.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Sink;
    use base64ct::{Base64, Base64UrlUnpadded};

    #[test]
    fn matches_one_shot_for_all_lengths_and_splits() {
        let data: std::vec::Vec<u8> = (0u8..=200).collect();
        for len in 0..data.len() {
            for piece in [1usize, 2, 3, 5, 7, 26, 49, 1000] {
                let mut out = [0u8; 400];
                let mut sink = Sink::new(&mut out);
                let mut enc = B64::<_, Base64>::new(&mut sink);
                for c in data[..len].chunks(piece) {
                    enc.put(c);
                }
                enc.finish();
                let n = sink.len();
                assert_eq!(&out[..n], Base64::encode_string(&data[..len]).as_bytes());
                let mut out = [0u8; 400];
                let mut sink = Sink::new(&mut out);
                let mut enc = B64::<_, Base64UrlUnpadded>::new(&mut sink);
                for c in data[..len].chunks(piece) {
                    enc.put(c);
                }
                enc.finish();
                let n = sink.len();
                assert_eq!(
                    &out[..n],
                    Base64UrlUnpadded::encode_string(&data[..len]).as_bytes()
                );
            }
        }
    }
}
