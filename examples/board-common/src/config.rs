//! The device's configuration, for both boards: the ONE place is the build
//! environment (see README.md). Every value is read at build time with
//! `option_env!`; what is not set gets a placeholder default, so CI builds
//! an image that boots and says it is unconfigured. Changing a variable
//! rebuilds (cargo tracks the variables rustc read).
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

/// Client secret capacity (bytes).
pub const SECRET_CAP: usize = 128;

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
    pub error: ConfigError,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.error)
    }
}

impl Settings {
    /// The client's configuration: the token endpoint (https only), the
    /// id, the secret sent as `client_secret_basic`, and the scope.
    pub fn oauth(&self) -> Result<Config<'static, SECRET_CAP>, SettingError> {
        let at = |name| move |error| SettingError { name, error };
        let endpoint = TokenEndpoint::parse(self.token_url).map_err(at("OAUTH_TOKEN_URL"))?;
        let id = ClientId::new(self.client_id).map_err(at("OAUTH_CLIENT_ID"))?;
        let secret = ClientSecret::<SECRET_CAP>::new(self.client_secret)
            .map_err(at("OAUTH_CLIENT_SECRET"))?;
        let config = Config::new(endpoint, id, ClientAuth::Basic(secret));
        if self.scope.is_empty() {
            Ok(config)
        } else {
            config.with_scope(self.scope).map_err(at("OAUTH_SCOPE"))
        }
    }

    /// The service's URL (https only; parsed as the token URL is).
    pub fn service(&self) -> Result<TokenEndpoint<'static>, SettingError> {
        TokenEndpoint::parse(self.service_url).map_err(|error| SettingError {
            name: "SERVICE_URL",
            error,
        })
    }
}
