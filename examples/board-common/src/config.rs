//! The device's configuration, for both boards: the ONE place is the build
//! environment (see README.md). Every value is read at build time with
//! `option_env!`; what is not set gets a placeholder default, so CI builds
//! an image that boots and says it is unconfigured. A value that is set
//! but unusable (an empty secret or SSID, an SSID over 32 bytes, a
//! passphrase that is not 8 to 63 characters or 64 hex digits: see
//! `check.rs`) fails the build, naming the variable (`build.rs`); the same
//! checks run again at boot. Changing a variable rebuilds (cargo tracks
//! the variables rustc read).
//!
//! | variable | what |
//! | --- | --- |
//! | `WIFI_SSID`, `WIFI_PASSWORD` | the Wi-Fi network (WPA2/WPA3 personal) |
//! | `OAUTH_TOKEN_URL` | the authorization server's token endpoint, `https://` |
//! | `OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET` | the client's credentials (`client_secret_basic`) |
//! | `OAUTH_SCOPE` | scope to ask for (empty: none) |
//! | `SERVICE_URL` | the resource server called with the token, `https://` |
//! | `SERVICE_INTERVAL_SECS` | seconds between two service calls (default 60) |
//! | `OAUTH_CA_CERT` | the CA certificate (DER or PEM) both servers chain to (read by `build.rs`) |
//!
//! The secret and the password end up in the image's flash, as they would
//! with any compiled-in configuration: protect the image (flash encryption
//! on the ESP32-C3; on the RP2040 anyone holding the board can read its
//! flash). The strings in flash cannot be wiped; every RAM copy the client
//! makes of the secret (`ClientSecret`) is zeroized when dropped.

use core::fmt;

use embedded_oauth2::error::ConfigError;

use crate::check;
pub use crate::check::{Invalid, SECRET_CAP, SSID_MAX};
use embedded_oauth2::http::ResourceUrl;
use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};

/// `option_env!` with a default, in a `const`.
macro_rules! setting {
    ($name:literal, $default:literal) => {
        match option_env!($name) {
            Some(v) => v,
            None => $default,
        }
    };
}

/// Whether a variable was given at build time.
macro_rules! given {
    ($name:literal) => {
        option_env!($name).is_some()
    };
}

/// The configuration as built in. No `Debug`: it holds the secret.
pub struct Settings {
    /// Wi-Fi network name.
    pub wifi_ssid: &'static str,
    /// Wi-Fi passphrase (empty: an open network).
    pub wifi_password: &'static str,
    /// Token endpoint, `https://host[:port]/path`.
    pub token_url: &'static str,
    /// OAuth client id.
    pub client_id: &'static str,
    /// OAuth client secret (`client_secret_basic`).
    pub client_secret: &'static str,
    /// Scope to request; empty: none.
    pub scope: &'static str,
    /// The service called with the token.
    pub service_url: &'static str,
    /// Seconds between service calls.
    pub service_interval_secs: u64,
    /// Whether any required value is still the placeholder.
    pub placeholder: bool,
}

/// What the image was built with.
pub const SETTINGS: Settings = Settings {
    wifi_ssid: setting!("WIFI_SSID", "my-network"),
    wifi_password: setting!("WIFI_PASSWORD", "my-wifi-passphrase"),
    token_url: setting!("OAUTH_TOKEN_URL", "https://auth.example.com/oauth2/token"),
    client_id: setting!("OAUTH_CLIENT_ID", "device-0001"),
    client_secret: setting!("OAUTH_CLIENT_SECRET", "change-me"),
    scope: setting!("OAUTH_SCOPE", ""),
    service_url: setting!("SERVICE_URL", "https://api.example.com/v1/ping"),
    service_interval_secs: parse_secs(setting!("SERVICE_INTERVAL_SECS", "60")),
    placeholder: !(given!("WIFI_SSID")
        && given!("WIFI_PASSWORD")
        && given!("OAUTH_TOKEN_URL")
        && given!("OAUTH_CLIENT_ID")
        && given!("OAUTH_CLIENT_SECRET")
        && given!("SERVICE_URL")),
};

/// The CA certificate (DER) both servers' chains end in: `OAUTH_CA_CERT`,
/// or `trust/ca.der` / `trust/ca.pem` in this crate (see `build.rs`).
pub static CA_DER: &[u8] = include_bytes!(env!("BOARD_CA_DER"));

/// Whether [`CA_DER`] is the build's empty placeholder.
pub const CA_PLACEHOLDER: bool = matches!(env!("BOARD_CA_PLACEHOLDER").as_bytes(), b"1");

/// A decimal number of seconds, at build time; a bad value fails the build.
const fn parse_secs(s: &str) -> u64 {
    let b = s.as_bytes();
    assert!(
        !b.is_empty(),
        "SERVICE_INTERVAL_SECS must be a number of seconds"
    );
    let mut n: u64 = 0;
    let mut i = 0;
    while i < b.len() {
        assert!(
            b[i].is_ascii_digit(),
            "SERVICE_INTERVAL_SECS must be a number of seconds"
        );
        n = n * 10 + (b[i] - b'0') as u64;
        i += 1;
    }
    assert!(n > 0, "SERVICE_INTERVAL_SECS must be at least 1");
    n
}

/// A setting that does not parse: which one and why (never its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SettingError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub error: Problem,
}

/// Why a setting was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Problem {
    /// The crate's type refused it.
    Config(ConfigError),
    /// One of the board checks (`build.rs` runs them too).
    Invalid(Invalid),
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Problem::Config(e) => write!(f, "{}: {}", self.name, e),
            Problem::Invalid(e) => write!(f, "{}: {}", self.name, e),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Invalid {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Self::Empty => defmt::write!(f, "empty (unset it for a placeholder image)"),
            Self::TooLong { max } => defmt::write!(f, "longer than {} bytes", max),
            Self::Passphrase => defmt::write!(
                f,
                "not a WPA2 passphrase (8 to 63 printable ASCII characters, or 64 hex digits; empty for an open network)"
            ),
        }
    }
}

/// `value` of `name` through `check`.
fn checked(
    name: &'static str,
    value: &str,
    check: check::Check,
) -> Result<(), SettingError> {
    check(value).map_err(|e| SettingError {
        name,
        error: Problem::Invalid(e),
    })
}

impl Settings {
    /// The client's configuration: the token endpoint (https only), the
    /// id, the secret sent as `client_secret_basic`, and the scope.
    pub fn oauth(&self) -> Result<Config<'static, SECRET_CAP>, SettingError> {
        let at = |name| {
            move |error| SettingError {
                name,
                error: Problem::Config(error),
            }
        };
        let endpoint = TokenEndpoint::parse(self.token_url).map_err(at("OAUTH_TOKEN_URL"))?;
        let id = ClientId::new(self.client_id).map_err(at("OAUTH_CLIENT_ID"))?;
        // (`ClientSecret` takes an empty one: `Basic base64(id:)`.)
        checked(
            "OAUTH_CLIENT_SECRET",
            self.client_secret,
            check::client_secret,
        )?;
        let secret = ClientSecret::<SECRET_CAP>::new(self.client_secret)
            .map_err(at("OAUTH_CLIENT_SECRET"))?;
        let config = Config::new(endpoint, id, ClientAuth::Basic(secret));
        if self.scope.is_empty() {
            Ok(config)
        } else {
            config.with_scope(self.scope).map_err(at("OAUTH_SCOPE"))
        }
    }

    /// The Wi-Fi network name (1 to 32 bytes) and passphrase (8 to 63
    /// printable ASCII characters, 64 hex digits, or empty for an open
    /// network), checked before a driver copies them into fixed buffers
    /// (cyw43 panics on longer ones).
    pub fn wifi(&self) -> Result<(&'static str, &'static str), SettingError> {
        checked("WIFI_SSID", self.wifi_ssid, check::wifi_ssid)?;
        checked("WIFI_PASSWORD", self.wifi_password, check::wifi_password)?;
        Ok((self.wifi_ssid, self.wifi_password))
    }

    /// The service's URL (https only; parsed as the token URL is).
    pub fn service(&self) -> Result<ResourceUrl<'static>, SettingError> {
        ResourceUrl::parse(self.service_url).map_err(|error| SettingError {
            name: "SERVICE_URL",
            error: Problem::Config(error),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A complete, valid configuration.
    fn settings() -> Settings {
        Settings {
            wifi_ssid: "my-network",
            wifi_password: "correct horse",
            token_url: "https://auth.example.com/oauth2/token",
            client_id: "device-0001",
            client_secret: "s3cret",
            scope: "",
            service_url: "https://api.example.com/v1/ping",
            service_interval_secs: 60,
            placeholder: false,
        }
    }

    fn refused(result: Result<impl Sized, SettingError>) -> &'static str {
        match result {
            Ok(_) => "accepted",
            Err(e) => e.name,
        }
    }

    /// What this build was given, or its placeholders, passes the checks
    /// build.rs ran (every variable it checks).
    #[test]
    fn the_built_in_settings_pass_every_check() {
        assert!(SETTINGS.wifi().is_ok());
        assert!(SETTINGS.oauth().is_ok());
        assert!(SETTINGS.service().is_ok());
        let values = [
            SETTINGS.wifi_ssid,
            SETTINGS.wifi_password,
            SETTINGS.token_url,
            SETTINGS.client_id,
            SETTINGS.client_secret,
            SETTINGS.service_url,
        ];
        for ((name, check), value) in check::CHECKS.iter().zip(values) {
            assert!(check(value).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_complete_configuration_is_accepted() {
        let s = settings();
        assert!(s.oauth().is_ok());
        assert!(s.service().is_ok());
        assert_eq!(s.wifi().ok(), Some(("my-network", "correct horse")));
        // An open network: no passphrase.
        assert!(
            Settings {
                wifi_password: "",
                ..settings()
            }
            .wifi()
            .is_ok()
        );
    }

    /// `OAUTH_CLIENT_SECRET=""` (an unset CI secret) must not boot and send
    /// `Basic base64(id:)`.
    #[test]
    fn an_empty_secret_is_refused() {
        let s = Settings {
            client_secret: "",
            ..settings()
        };
        assert_eq!(refused(s.oauth()), "OAUTH_CLIENT_SECRET");
    }

    #[test]
    fn an_empty_client_id_is_refused() {
        let s = Settings {
            client_id: "",
            ..settings()
        };
        assert_eq!(refused(s.oauth()), "OAUTH_CLIENT_ID");
    }

    #[test]
    fn an_empty_ssid_is_refused() {
        let s = Settings {
            wifi_ssid: "",
            ..settings()
        };
        assert_eq!(refused(s.wifi()), "WIFI_SSID");
    }

    /// cyw43 copies the SSID into `[u8; 32]` and the passphrase into
    /// `[u8; 64]`: longer values panicked at boot on the Pico W.
    #[test]
    fn an_ssid_over_32_bytes_is_refused() {
        let ok = "s".repeat(32);
        let long = "s".repeat(33);
        assert!(
            Settings {
                wifi_ssid: ok.leak(),
                ..settings()
            }
            .wifi()
            .is_ok()
        );
        let s = Settings {
            wifi_ssid: long.leak(),
            ..settings()
        };
        assert_eq!(refused(s.wifi()), "WIFI_SSID");
    }

    /// WPA2 personal: 8..=63 printable ASCII characters, or the PSK as 64
    /// hex digits.
    #[test]
    fn a_passphrase_must_be_8_to_63_characters_or_64_hex_digits() {
        let ok = |p: &str| {
            Settings {
                wifi_password: String::from(p).leak(),
                ..settings()
            }
            .wifi()
            .is_ok()
        };
        assert!(ok("12345678"));
        assert!(ok(&"p".repeat(63)));
        assert!(ok(&"0123456789abcdefABCDEF".repeat(3)[..64]));
        assert!(!ok("1234567"), "7 characters");
        assert!(!ok(&"p".repeat(64)), "64 characters, not hex");
        assert!(
            !ok(&"a".repeat(65)),
            "65 bytes: past cyw43's 64-byte buffer"
        );
        assert!(!ok("pass\u{e9}word"), "not ASCII");
        assert!(!ok("pass\tword"), "a control character");
    }

    extern crate std;
    use std::string::String;
}
