//! The checks of settings that the crate's own types do not make (an empty
//! secret is a valid `ClientSecret`; Wi-Fi is not the crate's business).
//! Plain `core` code, shared: `build.rs` includes this file and refuses
//! the build when a variable that is set fails its check, naming it;
//! `config` runs the same checks at boot (for both boards) and the host
//! tests run them.

use core::fmt;

/// Client secret capacity (bytes).
pub const SECRET_CAP: usize = 128;
/// The longest SSID (IEEE 802.11: 32 bytes; cyw43 and esp-radio copy it
/// into 32 bytes).
pub const SSID_MAX: usize = 32;

/// What is wrong with a value (never the value itself: it may be secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Set, but empty (what an unset CI secret expands to).
    Empty,
    /// Longer than this many bytes.
    TooLong {
        /// The most bytes allowed.
        max: usize,
    },
    /// Not a WPA2 passphrase: 8 to 63 printable ASCII characters, or the
    /// pre-shared key as 64 hex digits (or empty, for an open network).
    Passphrase,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty (unset it for a placeholder image)"),
            Self::TooLong { max } => write!(f, "longer than {max} bytes"),
            Self::Passphrase => f.write_str(
                "not a WPA2 passphrase (8 to 63 printable ASCII characters, or 64 hex \
                 digits; empty for an open network)",
            ),
        }
    }
}

/// Set and not empty.
pub fn not_empty(value: &str) -> Result<(), Invalid> {
    if value.is_empty() {
        Err(Invalid::Empty)
    } else {
        Ok(())
    }
}

/// A network name: 1 to [`SSID_MAX`] bytes.
pub fn wifi_ssid(value: &str) -> Result<(), Invalid> {
    not_empty(value)?;
    if value.len() > SSID_MAX {
        return Err(Invalid::TooLong { max: SSID_MAX });
    }
    Ok(())
}

/// Empty (an open network), 8 to 63 printable ASCII characters, or 64 hex
/// digits.
pub fn wifi_password(value: &str) -> Result<(), Invalid> {
    let b = value.as_bytes();
    let ok = match b.len() {
        0 => true,
        8..=63 => b.iter().all(|c| (0x20..=0x7e).contains(c)),
        64 => b.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    };
    if ok { Ok(()) } else { Err(Invalid::Passphrase) }
}

/// A client secret: 1 to [`SECRET_CAP`] bytes.
pub fn client_secret(value: &str) -> Result<(), Invalid> {
    not_empty(value)?;
    if value.len() > SECRET_CAP {
        return Err(Invalid::TooLong { max: SECRET_CAP });
    }
    Ok(())
}

/// A check: `Ok` or what is wrong.
pub type Check = fn(&str) -> Result<(), Invalid>;

/// Each variable and its check (what `build.rs` runs on those that are
/// set). The URLs are parsed at boot by the crate; here they must only not
/// be empty. (The library uses the checks one by one.)
#[cfg_attr(not(test), allow(dead_code))]
pub const CHECKS: [(&str, Check); 6] = [
    ("WIFI_SSID", wifi_ssid),
    ("WIFI_PASSWORD", wifi_password),
    ("OAUTH_TOKEN_URL", not_empty),
    ("OAUTH_CLIENT_ID", not_empty),
    ("OAUTH_CLIENT_SECRET", client_secret),
    ("SERVICE_URL", not_empty),
];
