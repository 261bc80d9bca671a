//! `device.cfg`: the device's configuration, written by
//! `scripts/qemu-fetch-token` from its command line.
//!
//! Text lines `key=value`; the value runs to the end of the line (a `\r`
//! before the `\n` is dropped). Empty lines and lines starting with `#` are
//! ignored. Every key may appear once, except `resource` (up to
//! [`MAX_RESOURCES`] times). The values stay in the file's buffer; nothing is
//! copied.

use crate::console::Exit;

/// Most `resource` lines.
pub const MAX_RESOURCES: usize = 4;

/// The configuration, borrowing the file's text.
#[derive(Default)]
pub struct DeviceConfig<'a> {
    pub token_url: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub auth: Option<&'a str>,
    /// The P-256 private scalar, 64 hex digits (`private-key-jwt`).
    pub key_hex: Option<&'a str>,
    pub key_id: Option<&'a str>,
    pub assertion_aud: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub resources: [&'a str; MAX_RESOURCES],
    pub resource_count: usize,
    /// The CA certificate (DER) as hex, for TLS (not used until TLS lands).
    pub ca_file: Option<&'a str>,
    pub server_name: Option<&'a str>,
    pub allow_http: bool,
    /// A URL to GET with the token afterwards.
    pub call: Option<&'a str>,
    /// 32 bytes of entropy, hex, seeding the ChaCha20 RNG.
    pub seed_hex: Option<&'a str>,
    /// The DPoP key's P-256 private scalar, 64 hex digits (`--dpop-key`).
    pub dpop_key_hex: Option<&'a str>,
    /// The client certificate (DER) file beside `device.cfg` (mutual TLS).
    pub client_cert_file: Option<&'a str>,
    /// Its key's P-256 private scalar, 64 hex digits (`--client-key`).
    pub client_key_hex: Option<&'a str>,
    /// TLS maximum fragment length (for later): 512, 1024, 2048 or 4096.
    pub max_fragment_length: Option<u16>,
    /// Keep the token in RAM that survives a reset (`--cache-in-ram`):
    /// restore it at boot, export it before the firmware ends or resets.
    pub cache_in_ram: bool,
    /// After a token from the server, reset the system once
    /// (`--reset-after-fetch`).
    pub reset_after_fetch: bool,
    /// Debug: flip this byte of the exported record before the reset
    /// (`--corrupt-ram-record N`).
    pub corrupt_record: Option<u16>,
}

impl<'a> DeviceConfig<'a> {
    /// Parses the file's text.
    pub fn parse(text: &'a str) -> Result<Self, Exit> {
        let mut c = Self::default();
        for (i, line) in text.split('\n').enumerate() {
            let number = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(crate::fail!("device.cfg line {number}: expected key=value"));
            };
            let slot = match key {
                "token_url" => &mut c.token_url,
                "client_id" => &mut c.client_id,
                "client_secret" => &mut c.client_secret,
                "auth" => &mut c.auth,
                "key_hex" => &mut c.key_hex,
                "key_id" => &mut c.key_id,
                "assertion_aud" => &mut c.assertion_aud,
                "scope" => &mut c.scope,
                "audience" => &mut c.audience,
                "ca_file" => &mut c.ca_file,
                "server_name" => &mut c.server_name,
                "call" => &mut c.call,
                "seed_hex" => &mut c.seed_hex,
                "dpop_key_hex" => &mut c.dpop_key_hex,
                "client_cert_file" => &mut c.client_cert_file,
                "client_key_hex" => &mut c.client_key_hex,
                "resource" => {
                    let Some(slot) = c.resources.get_mut(c.resource_count) else {
                        return Err(crate::fail!(
                            "device.cfg line {number}: more than {MAX_RESOURCES} resources"
                        ));
                    };
                    *slot = value;
                    c.resource_count += 1;
                    continue;
                }
                "allow_http" | "cache_in_ram" | "reset_after_fetch" => {
                    let on = match value {
                        "1" => true,
                        "0" => false,
                        _ => {
                            return Err(crate::fail!(
                                "device.cfg line {number}: {key} must be 0 or 1"
                            ));
                        }
                    };
                    match key {
                        "allow_http" => c.allow_http = on,
                        "cache_in_ram" => c.cache_in_ram = on,
                        _ => c.reset_after_fetch = on,
                    }
                    continue;
                }
                "corrupt_record" => {
                    let Ok(n) = value.parse() else {
                        return Err(crate::fail!(
                            "device.cfg line {number}: corrupt_record must be a byte offset"
                        ));
                    };
                    c.corrupt_record = Some(n);
                    continue;
                }
                "max_fragment_length" => {
                    let n = match value {
                        "512" => 512,
                        "1024" => 1024,
                        "2048" => 2048,
                        "4096" => 4096,
                        _ => {
                            return Err(crate::fail!(
                                "device.cfg line {number}: max_fragment_length must be 512, \
                                 1024, 2048 or 4096"
                            ));
                        }
                    };
                    if c.max_fragment_length.replace(n).is_some() {
                        return Err(crate::fail!(
                            "device.cfg line {number}: max_fragment_length given more than once"
                        ));
                    }
                    continue;
                }
                _ => {
                    // The key is not secret; still, show it escaped and short.
                    let shown = key.get(..32).unwrap_or(key);
                    return Err(crate::fail!(
                        "device.cfg line {number}: unknown key {:?}",
                        shown
                    ));
                }
            };
            if slot.replace(value).is_some() {
                return Err(crate::fail!(
                    "device.cfg line {number}: {key} given more than once"
                ));
            }
        }
        Ok(c)
    }

    /// The `resource` values.
    pub fn resources(&self) -> &[&'a str] {
        self.resources
            .get(..self.resource_count)
            .unwrap_or_default()
    }
}

/// Decodes hex digits into exactly `out.len()` bytes.
pub fn hex_decode(hex: &str, out: &mut [u8]) -> Option<()> {
    let digits = hex.as_bytes();
    if digits.len() != out.len().checked_mul(2)? {
        return None;
    }
    for (pair, byte) in digits.chunks_exact(2).zip(out.iter_mut()) {
        let [hi, lo] = pair else { return None };
        *byte = (nibble(*hi)? << 4) | nibble(*lo)?;
    }
    Some(())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
