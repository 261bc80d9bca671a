//! Streaming base64 in front of any [`Out`]: input arrives in pieces, output
//! goes straight to the sink, so no temporary copy of a secret is made.
//! Dropping the encoder writes the last group (as a `BufWriter` flushes)
//! and wipes what it carried.

use core::marker::PhantomData;

use base64ct::Encoding;

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

    /// Writes the carried group (nothing when none is carried) and wipes it.
    fn flush(&mut self) {
        let mut quad = [0u8; 4];
        let input = self.carry.get(..self.carried).unwrap_or_default();
        if let Ok(s) = E::encode(input, &mut quad) {
            self.out.put(s.as_bytes());
        }
        self.carried = 0;
        crate::bytes::wipe(&mut self.carry);
        crate::bytes::wipe(&mut quad);
    }
}

impl<O: Out, E: Encoding> Out for B64<'_, O, E> {
    fn put(&mut self, bytes: &[u8]) {
        // Complete a carried group first (`carried` is 0..=2; none is
        // needed when none is carried).
        let need = 3usize.saturating_sub(self.carried) % 3;
        let Some((fill, bytes)) = bytes.split_at_checked(need.min(bytes.len())) else {
            return;
        };
        for &b in fill {
            if let Some(slot) = self.carry.get_mut(self.carried) {
                *slot = b;
            }
            self.carried += 1;
        }
        if self.carried == 3 {
            self.flush();
        }
        if bytes.is_empty() {
            // Whatever is carried waits for more input.
            return;
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
        crate::bytes::wipe(&mut quads);
        for (slot, &b) in self.carry.iter_mut().zip(tail) {
            *slot = b;
        }
        self.carried = tail.len();
    }
}

impl<O: Out, E: Encoding> Drop for B64<'_, O, E> {
    /// The end of the input: the last group is written.
    fn drop(&mut self) {
        self.flush();
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
                drop(enc);
                let n = sink.len();
                assert_eq!(&out[..n], Base64::encode_string(&data[..len]).as_bytes());
                let mut out = [0u8; 400];
                let mut sink = Sink::new(&mut out);
                let mut enc = B64::<_, Base64UrlUnpadded>::new(&mut sink);
                for c in data[..len].chunks(piece) {
                    enc.put(c);
                }
                drop(enc);
                let n = sink.len();
                assert_eq!(
                    &out[..n],
                    Base64UrlUnpadded::encode_string(&data[..len]).as_bytes()
                );
            }
        }
    }
}
