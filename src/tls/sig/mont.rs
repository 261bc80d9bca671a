//! Montgomery arithmetic on crypto-bigint 0.5's fixed-width integers,
//! done here on their words, shared by RSA (`rsa`) and P-384 (`p384`):
//! CIOS multiplication (one accumulator, no double-width product, to keep
//! the stack small), R² mod n without a division, and big-endian
//! conversions. Not constant-time: it only ever handles public data.

use crypto_bigint::{Uint, WideWord, Word};

/// `bytes` (big-endian, at most `N` of them) right-aligned in `N` octets.
pub(super) fn right_aligned<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    if bytes.len() > N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().rev().zip(bytes.iter().rev()) {
        *o = *b;
    }
    Some(out)
}

/// R² mod n, R = 2^(bits of `Uint<LIMBS>`), for an odd `n` of `n_bits`
/// bits.
///
/// R = m·2^j with m odd. Doubling 2^(n_bits - 1) (below n) gives 2^t mod n
/// for any t ≥ n_bits - 1; 2^(log2 R + m) mod n is the Montgomery form of
/// 2^m, and j Montgomery squarings of it the Montgomery form of 2^(m·2^j)
/// = R, that is R² mod n.
#[cfg(any(feature = "tls-rsa", test))]
#[inline(never)]
pub(super) fn r_squared<const LIMBS: usize>(
    n: &Uint<LIMBS>,
    n_inv: Word,
    n_bits: usize,
) -> Option<Uint<LIMBS>> {
    let r_bits = Uint::<LIMBS>::BITS;
    let j = r_bits.trailing_zeros();
    let m = r_bits >> j;
    let top = n_bits.checked_sub(1)?;
    let doublings = (r_bits + m).checked_sub(top)?;
    let mut r2 = Uint::<LIMBS>::ONE.shl_vartime(top);
    for _ in 0..doublings {
        double_mod(r2.as_words_mut(), n.as_words());
    }
    for _ in 0..j {
        r2 = mont_mul(&r2, &r2, n, n_inv);
    }
    Some(r2)
}

/// Montgomery multiplication a·b·R⁻¹ mod n, for a, b < n and an odd n:
/// CIOS (coarsely integrated operand scanning; Koç, Acar, Kaliski, "Analyzing
/// and comparing Montgomery multiplication algorithms", 1996), on one
/// accumulator of `LIMBS` words plus two. crypto-bigint's `mul_wide` and
/// `montgomery_reduction` take a double-width product and copies of it:
/// nearly four times the stack.
#[inline(never)]
pub(super) fn mont_mul<const LIMBS: usize>(
    a: &Uint<LIMBS>,
    b: &Uint<LIMBS>,
    n: &Uint<LIMBS>,
    n_inv: Word,
) -> Uint<LIMBS> {
    let a = a.as_words();
    let n_words = n.as_words();
    // t = t_lo + t_hi·W^LIMBS + t_top·W^(LIMBS+1), below 2n after each step.
    let mut t_lo: [Word; LIMBS] = [0; LIMBS];
    let mut t_hi: Word = 0;
    for &b_i in b.as_words() {
        // t += a·b_i
        let mut carry = 0;
        for (t_j, &a_j) in t_lo.iter_mut().zip(a) {
            (carry, *t_j) = mul_add(a_j, b_i, *t_j, carry);
        }
        let (sum, top) = t_hi.overflowing_add(carry);
        t_hi = sum;
        // t = (t + m·n) / W, with m making the low word zero.
        let mut words = t_lo.iter_mut().zip(n_words);
        let Some((t_0, &n_0)) = words.next() else {
            break;
        };
        let m = t_0.wrapping_mul(n_inv);
        let (mut carry, _zero) = mul_add(m, n_0, *t_0, 0);
        let mut previous = t_0;
        for (t_j, &n_j) in words {
            (carry, *previous) = mul_add(m, n_j, *t_j, carry);
            previous = t_j;
        }
        let (sum, overflow) = t_hi.overflowing_add(carry);
        *previous = sum;
        t_hi = Word::from(top) + Word::from(overflow);
    }
    // t < 2n: one subtraction at most.
    let t = Uint::from_words(t_lo);
    if t_hi != 0 || t >= *n {
        t.wrapping_sub(n)
    } else {
        t
    }
}

/// x ← 2x mod n, in place, for x < n.
#[cfg(any(feature = "tls-rsa", test))]
fn double_mod<const LIMBS: usize>(x: &mut [Word; LIMBS], n: &[Word; LIMBS]) {
    let mut carry = 0;
    for w in x.iter_mut() {
        let out = *w >> (Word::BITS - 1);
        *w = (*w << 1) + carry; // the low bit is free
        carry = out;
    }
    // 2x < 2n: subtract n once if 2x ≥ n (its top bit is `carry`).
    let below_n = x.iter().rev().cmp(n.iter().rev()).is_lt();
    if carry != 0 || !below_n {
        let mut borrow = false;
        for (w, &n_w) in x.iter_mut().zip(n) {
            let (d, b1) = w.overflowing_sub(n_w);
            let (d, b2) = d.overflowing_sub(Word::from(borrow));
            *w = d;
            borrow = b1 || b2;
        }
    }
}

/// `(hi, lo)` of `a·b + c + d`, which always fits two words.
fn mul_add(a: Word, b: Word, c: Word, d: Word) -> (Word, Word) {
    let wide = WideWord::from(a) * WideWord::from(b) + WideWord::from(c) + WideWord::from(d);
    ((wide >> Word::BITS) as Word, wide as Word)
}

/// `-n⁻¹ mod 2^Word::BITS` for an odd `n` (Newton's iteration: each step
/// doubles the correct low bits, from 3).
pub(super) const fn neg_inverse(n: Word) -> Word {
    let mut x = n; // n·n ≡ 1 (mod 8)
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul((2 as Word).wrapping_sub(n.wrapping_mul(x)));
        i += 1;
    }
    x.wrapping_neg()
}

const WORD_LEN: usize = core::mem::size_of::<Word>();

/// A big-endian number into a `Uint`, `None` if it has too many octets.
pub(super) fn uint_from_be<const LIMBS: usize>(bytes: &[u8]) -> Option<Uint<LIMBS>> {
    if bytes.len() > LIMBS.checked_mul(WORD_LEN)? {
        return None;
    }
    let mut words: [Word; LIMBS] = [0; LIMBS];
    // Least significant word first.
    for (word, chunk) in words.iter_mut().zip(bytes.rchunks(WORD_LEN)) {
        *word = Word::from_be_bytes(right_aligned(chunk)?);
    }
    Some(Uint::from_words(words))
}

/// The low `out.len()` octets of `value`, big-endian, into `out`.
#[cfg(feature = "tls-rsa")]
pub(super) fn uint_to_be<const LIMBS: usize>(value: &Uint<LIMBS>, out: &mut [u8]) {
    let words = value.as_words();
    // Least significant octet first.
    for (i, o) in out.iter_mut().rev().enumerate() {
        let word = words.get(i / WORD_LEN).copied().unwrap_or(0);
        *o = (word >> (8 * (i % WORD_LEN))) as u8;
    }
}
