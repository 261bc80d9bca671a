//! A software ES256 signer for boards without a secure element (feature
//! `p256`).

use core::fmt;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

use crate::auth::jwt::{Es256Signer, SignError};
use crate::error::ConfigError;

/// ES256 with the private key in RAM (RustCrypto `p256`, deterministic
/// RFC 6979 nonces, so no random source is needed at signing time).
///
/// The key is zeroized on drop; `Debug` does not show it. Prefer a secure
/// element where the board has one: then the key never enters firmware
/// memory.
///
/// ```
/// use embedded_oauth2::assertion::{Es256Signer, P256Signer};
/// let signer = P256Signer::from_bytes(&[7u8; 32])?;
/// let sig = signer.sign(b"header.claims").unwrap();
/// assert_eq!(sig.len(), 64);
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
pub struct P256Signer {
    key: SigningKey,
}

impl P256Signer {
    /// From the 32-byte big-endian private scalar.
    pub fn from_bytes(scalar: &[u8; 32]) -> Result<Self, ConfigError> {
        let key = SigningKey::from_bytes(scalar.into()).map_err(|_| ConfigError::InvalidKey)?;
        Ok(Self { key })
    }

    /// The public key as an uncompressed SEC1 point (`04 || x || y`), to
    /// register with the authorization server.
    pub fn public_key_sec1(&self) -> [u8; 65] {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut out = [0u8; 65];
        if let Some(src) = point.as_bytes().get(..65) {
            out.copy_from_slice(src);
        }
        out
    }
}

impl Es256Signer for P256Signer {
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let sig: Signature = self.key.try_sign(message).map_err(|_| SignError)?;
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

impl fmt::Debug for P256Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P256Signer(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    /// The public key of the scalar 1, 2, …, 32 (computed independently:
    /// double-and-add on P-256 in Python), as the size image (e) hard-codes it.
    #[test]
    fn public_key_of_a_known_scalar() {
        let scalar: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
        let public = P256Signer::from_bytes(&scalar).unwrap().public_key_sec1();
        let want: [u8; 65] = [
            4, 81, 92, 61, 110, 185, 227, 150, 185, 4, 211, 254, 202, 127, 84, 253, 205, 12, 193,
            233, 151, 191, 55, 93, 202, 81, 90, 208, 166, 195, 180, 3, 95, 69, 54, 190, 58, 80,
            243, 24, 251, 249, 165, 71, 89, 2, 162, 33, 80, 43, 239, 13, 87, 224, 140, 83, 178,
            204, 10, 86, 241, 125, 159, 147, 84,
        ];
        assert_eq!(public, want);
    }

    #[test]
    fn debug_names_the_signer_and_hides_the_key() {
        let s = P256Signer::from_bytes(&[0x5a; 32]).unwrap();
        let d = format!("{s:?}");
        assert_eq!(d, "P256Signer(<redacted>)");
        assert!(!d.contains("5a") && !d.contains("90"));
    }
}
