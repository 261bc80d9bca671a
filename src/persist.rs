//! Tokens that survive sleep and reset: the cached token as a small,
//! versioned, checksummed record the caller stores (flash, RTC RAM, a file)
//! and gives back after a deep sleep or a reset.
//!
//! A device's monotonic clock restarts at boot, so the record anchors the
//! token's expiry to **wall-clock time** (UNIX seconds, from the client's
//! [`WallClock`](crate::WallClock)). [`Client::export_token`] writes the
//! record into a buffer of the caller's; [`Client::restore_token`] checks it
//! and maps the expiry back onto the (new) monotonic clock:
//! `expires_at = now_monotonic + (expires_wall − now_wall)`. From then on
//! the client hands the token out without any I/O until it is due for
//! renewal, exactly as if it had fetched it itself.
//!
//! ```
//! use embedded_oauth2::persist::record_len;
//! use embedded_oauth2::{Client, ClientAuth, ClientId, Config, Instant, TokenEndpoint};
//! use embedded_oauth2::http::parse_token_response;
//!
//! let config = || Config::<0>::new(
//!     TokenEndpoint::parse("https://as.example/token").unwrap(),
//!     ClientId::new("sensor-7").unwrap(),
//!     ClientAuth::ClientIdOnly,
//! );
//! // Before sleeping: a client holding a token exports it.
//! let mut client: Client<_, 0, 64, 16, _, _> =
//!     Client::new(config(), || Instant::from_secs(500)).with_wall_clock(|| Some(1_767_225_600));
//! let mut work = [0u8; 128];
//! let resp = parse_token_response(200, br#"{"access_token":"tok","token_type":"Bearer","expires_in":3600}"#, &mut work)?;
//! client.complete(&resp, Instant::from_secs(400))?; // fetched 100 s ago
//! let mut record = [0u8; record_len(64, 16)];
//! let n = client.export_token(&mut record)?;
//! assert_eq!(n, record_len(3, 0));
//!
//! // After a reset: a fresh client (its monotonic clock at 2 s), ten
//! // minutes later by the wall clock.
//! let mut client: Client<_, 0, 64, 16, _, _> =
//!     Client::new(config(), || Instant::from_secs(2)).with_wall_clock(|| Some(1_767_226_200));
//! client.restore_token(&record[..n])?;
//! let token = client.cached().expect("restored");
//! assert_eq!(token.expose_secret(), "tok");
//! assert_eq!(token.expires_at(), Instant::from_secs(2 + 3600 - 100 - 600));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # The record, version 1
//!
//! All integers are little-endian. A record is `48 + t + s` bytes
//! ([`record_len`]); bytes after it in the slice given to
//! [`Client::restore_token`] are ignored, so a fixed-size flash slot can be
//! passed whole.
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | magic, ASCII `EO2T` (`45 4F 32 54`), [`MAGIC`] |
//! | 4 | 1 | version, `1` ([`VERSION`]) |
//! | 5 | 1 | flags: bit 0 the token type (`0` Bearer, `1` DPoP); bits 1–7 are `0` |
//! | 6 | 1 | `auth_style`: the client authentication style [`ClientAuth::Auto`](crate::ClientAuth::Auto) found to work ([`AuthStyle::as_u8`](crate::AuthStyle::as_u8): 1, 2, 3); `0` = not recorded (another method, or not found yet) |
//! | 7 | 1 | reserved, `0` |
//! | 8 | 8 | configuration fingerprint (below) |
//! | 16 | 8 | `exported_at`: wall-clock time of the export, UNIX seconds |
//! | 24 | 8 | `expires_at`: wall-clock expiry, UNIX seconds, rounded down |
//! | 32 | 4 | `lifetime`: the token's whole lifetime as the client assumed it, seconds |
//! | 36 | 4 | `refresh_early`: the client's renewal jitter for this token, milliseconds |
//! | 40 | 2 | `t`: access token length, `1..=65535` |
//! | 42 | 2 | `s`: scope length, `0` when the server granted none |
//! | 44 | `t` | the access token (visible ASCII, `0x21..=0x7E`) |
//! | 44 + `t` | `s` | the granted scope (RFC 6749 §3.3 syntax) |
//! | 44 + `t` + `s` | 4 | CRC-32 (ISO-HDLC: the zlib/Ethernet CRC, reflected polynomial `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`) of bytes `0 .. 44 + t + s` |
//!
//! `lifetime` and `refresh_early` are what the [`RefreshPolicy`]
//! needs to place the renewal point again (its margin and jitter window
//! depend on the lifetime). The **client secret is never in the record**,
//! nor anything derived from it.
//!
//! The CRC catches flash wear, torn writes and truncation; it is no
//! protection against someone who can write the storage (see "Security"
//! below).
//!
//! ## Configuration fingerprint
//!
//! FNV-1a 64 (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`)
//! over, in order:
//!
//! 1. the ASCII bytes `EO2T-fp-1`;
//! 2. the token endpoint URL as configured;
//! 3. the client id;
//! 4. the scope, the audience: each `0` when not set, else `1` and the value;
//! 5. the resource indicators: their count, then each value;
//! 6. the extra parameters: their count, then each name and value;
//! 7. DPoP: `0` when not configured, else `1` and the 32-byte RFC 7638
//!    SHA-256 thumbprint of the DPoP public key.
//!
//! A value (string) is its length as a `u32` followed by its bytes; a
//! count is a `u32`; the tags are one byte. A record whose fingerprint
//! differs is refused ([`PersistError::OtherConfig`]): a token for another
//! server, client, scope, audience, resource or key is never presented.
//! The inputs are the non-secret configuration (an extra parameter must not
//! carry a secret); the fingerprint is not a security measure, it keeps a
//! device from using a token its new configuration did not ask for.
//!
//! # Restoring: clocks
//!
//! * The wall clock must be known at export and at restore
//!   ([`PersistError::NoWallClock`]): nothing is ever assumed about
//!   elapsed time.
//! * A wall clock **behind** the export time by more than
//!   [`MAX_CLOCK_BEHIND`] (an RTC that lost power and restarted at its
//!   epoch or build date) means the elapsed time is unknown: the record is
//!   refused ([`PersistError::ClockBehind`]) and the client fetches. So is
//!   a clock behind the export at all while it reads less than
//!   [`MAX_CLOCK_BEHIND`] since its epoch (an RTC counting from 0 that
//!   restarted). Behind by less (NTP corrections, RTC drift) counts as "no
//!   time passed since the export": the token never gains lifetime. (A
//!   clock counting from 0 that restarted and then ran past the export time
//!   cannot be told from one that kept counting: keep such a clock running
//!   through sleep, as RTCs do, or drop the record at a power-on reset.)
//! * A wall clock that jumped forward makes the token look older, never
//!   younger: at worst it is renewed early.
//! * The expiry is exact to the second (rounded towards earlier; for
//!   lifetimes over 49.7 days, up to 2.4 % earlier), and never
//!   later than the record's own lifetime allows nor than the restoring
//!   client's [`RefreshPolicy::max_lifetime`](crate::RefreshPolicy::max_lifetime)
//!   from now.
//! * The renewal point is the one the exporting client had when the
//!   monotonic clock has run at least as long as the token is old (a
//!   restore after a deep sleep that kept the tick counter). Right after a
//!   boot the clock is younger than the token: the client then sees a
//!   token with a shorter lifetime ending at the same instant, and places
//!   the renewal point as close to the original one as the policy's margin
//!   and jitter window (which scale with the lifetime) allow.
//!
//! # Security
//!
//! A bearer token at rest is a credential until it expires: whoever reads
//! the record can present the token. Keep it where the platform protects
//! it (internal flash with readout protection, RTC backup RAM, an encrypted
//! file system), never log it, and wipe the buffer it passed through. The
//! client secret is never stored. A DPoP-bound token is useless without the
//! DPoP private key, which is not in the record.

use core::fmt;

#[cfg(doc)]
use crate::Client;
use crate::credentials::Config;
use crate::error::{Buffer, CapacityError};
use crate::response::{TokenResponse, TokenType};
use crate::time::{Instant, RefreshPolicy, duration_millis};
use crate::token::Token;

/// The first four bytes of every record: ASCII `EO2T`.
pub const MAGIC: [u8; 4] = *b"EO2T";

/// The format version written by this crate (and the only one read).
pub const VERSION: u8 = 1;

/// The bytes before the token: magic to scope length.
pub const HEADER_LEN: usize = 44;

/// The checksum after the scope.
pub const CHECKSUM_LEN: usize = 4;

/// How far the wall clock may be behind a record's export time (seconds)
/// and still restore it, as if no time had passed: 5 minutes. Further
/// behind, [`PersistError::ClockBehind`].
pub const MAX_CLOCK_BEHIND: u64 = 300;

/// The size of a record holding a token of `token_len` bytes and a scope
/// of `scope_len` bytes: `48 + token_len + scope_len`.
///
/// `record_len(T, S)` is enough for any token of a `Client<_, _, T, S>`.
///
/// ```
/// use embedded_oauth2::persist::record_len;
/// assert_eq!(record_len(1024, 64), 1136);
/// let slot = [0u8; record_len(1024, 64)];
/// # let _ = slot;
/// ```
pub const fn record_len(token_len: usize, scope_len: usize) -> usize {
    HEADER_LEN
        .saturating_add(token_len)
        .saturating_add(scope_len)
        .saturating_add(CHECKSUM_LEN)
}

/// Why a token could not be exported or restored. No token bytes, no
/// secret: safe to log.
///
/// ```
/// use embedded_oauth2::persist::PersistError;
/// assert_eq!(PersistError::Expired.to_string(), "the stored token has expired");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PersistError {
    /// Export: the client holds no valid token.
    NoToken,
    /// The wall-clock time is not known (no wall clock given to the client,
    /// or it answered `None`).
    NoWallClock,
    /// A buffer or capacity too small: the export buffer
    /// ([`Buffer::Record`], `needed` is exactly the record's size), or, at
    /// restore, the client's token or scope capacity
    /// ([`Buffer::AccessToken`], [`Buffer::Scope`]).
    Capacity(CapacityError),
    /// Not a token record (wrong magic).
    BadMagic,
    /// A record of a format version this crate does not read.
    UnsupportedVersion(u8),
    /// The slice ends before the record does.
    Truncated,
    /// The checksum does not match: the record is damaged.
    Checksum,
    /// The checksum matches but a field is invalid (reserved bits set, an
    /// empty or non-ASCII token, an invalid scope); at export, a token or
    /// scope longer than the format's 65,535 bytes.
    Malformed,
    /// The record was made for another configuration (endpoint, client id,
    /// scope, audience, resources, extra parameters or DPoP key).
    OtherConfig,
    /// The token has expired by the wall clock.
    Expired,
    /// The wall clock is more than [`MAX_CLOCK_BEHIND`] behind the time the
    /// record was made: how much time passed is unknown.
    ClockBehind,
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoToken => f.write_str("no valid token to export"),
            Self::NoWallClock => f.write_str("the wall-clock time is not known"),
            Self::Capacity(c) => fmt::Display::fmt(c, f),
            Self::BadMagic => f.write_str("not a token record"),
            Self::UnsupportedVersion(v) => write!(f, "token record version {v} is not supported"),
            Self::Truncated => f.write_str("the token record is truncated"),
            Self::Checksum => f.write_str("the token record's checksum does not match"),
            Self::Malformed => f.write_str("the token record has an invalid field"),
            Self::OtherConfig => f.write_str("the token record is for another configuration"),
            Self::Expired => f.write_str("the stored token has expired"),
            Self::ClockBehind => f.write_str("the wall clock is behind the token record's time"),
        }
    }
}

impl core::error::Error for PersistError {}

impl From<CapacityError> for PersistError {
    fn from(c: CapacityError) -> Self {
        Self::Capacity(c)
    }
}

/// A record read and checked by [`TokenRecord::parse`]: magic, version,
/// length, checksum and field syntax (not the configuration or the clock:
/// [`Client::restore_token`] does that).
///
/// `Debug` shows everything but the token.
///
/// ```
/// use embedded_oauth2::persist::{PersistError, TokenRecord};
/// assert_eq!(TokenRecord::parse(b"EO2T").unwrap_err(), PersistError::Truncated);
/// assert_eq!(TokenRecord::parse(b"JSON").unwrap_err(), PersistError::BadMagic);
/// ```
#[derive(Clone, Copy)]
pub struct TokenRecord<'r> {
    token: &'r str,
    scope: Option<&'r str>,
    token_type: TokenType,
    auth_style: u8,
    fingerprint: u64,
    exported_at: u64,
    expires_at: u64,
    lifetime: u32,
    refresh_early_ms: u32,
    len: usize,
}

/// The byte of `b` at `at` (zero past its end: the callers checked the
/// length).
fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// `N` bytes of `b` from `at` (zeros past its end: the callers checked
/// the length).
fn le<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = b.get(at..at.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

impl<'r> TokenRecord<'r> {
    /// Reads the record at the start of `bytes` (bytes after it are
    /// ignored) and checks its magic, version, length, checksum and
    /// fields.
    ///
    /// ```
    /// # use embedded_oauth2::persist::{PersistError, TokenRecord};
    /// let mut r = [0u8; 48];
    /// r[..5].copy_from_slice(b"EO2T\x02");
    /// assert_eq!(TokenRecord::parse(&r).unwrap_err(), PersistError::UnsupportedVersion(2));
    /// ```
    pub fn parse(bytes: &'r [u8]) -> Result<Self, PersistError> {
        let head = bytes.get(..4).unwrap_or(bytes);
        if MAGIC.get(..head.len()) != Some(head) {
            return Err(PersistError::BadMagic);
        }
        let version = *bytes.get(4).ok_or(PersistError::Truncated)?;
        if version != VERSION {
            return Err(PersistError::UnsupportedVersion(version));
        }
        // (A record shorter than its header reads as lengths past its end:
        // `Truncated` below.)
        let t = usize::from(u16::from_le_bytes(le(bytes, 40)));
        let s = usize::from(u16::from_le_bytes(le(bytes, 42)));
        let body = HEADER_LEN + t + s;
        let record = bytes
            .get(..body + CHECKSUM_LEN)
            .ok_or(PersistError::Truncated)?;
        let stored = u32::from_le_bytes(le(record, body));
        if crc32(record.get(..body).unwrap_or_default()) != stored {
            return Err(PersistError::Checksum);
        }
        let flags = byte(record, 5);
        let token = record.get(HEADER_LEN..HEADER_LEN + t).unwrap_or_default();
        let scope = record.get(HEADER_LEN + t..body).unwrap_or_default();
        if flags & !1 != 0
            || byte(record, 7) != 0
            || token.is_empty()
            || !crate::json::visible_ascii(token)
        {
            return Err(PersistError::Malformed);
        }
        let token = core::str::from_utf8(token).map_err(|_| PersistError::Malformed)?;
        let scope = match core::str::from_utf8(scope) {
            Ok("") => None,
            Ok(s) if crate::credentials::valid_scope(s) => Some(s),
            _ => return Err(PersistError::Malformed),
        };
        Ok(Self {
            token,
            scope,
            token_type: if flags & 1 == 1 {
                TokenType::Dpop
            } else {
                TokenType::Bearer
            },
            auth_style: byte(record, 6),
            fingerprint: u64::from_le_bytes(le(record, 8)),
            exported_at: u64::from_le_bytes(le(record, 16)),
            expires_at: u64::from_le_bytes(le(record, 24)),
            lifetime: u32::from_le_bytes(le(record, 32)),
            refresh_early_ms: u32::from_le_bytes(le(record, 36)),
            len: body + CHECKSUM_LEN,
        })
    }

    /// The record's size in bytes (where the bytes after it start).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a record holds at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `auth_style` byte: the style [`ClientAuth::Auto`](crate::ClientAuth::Auto)
    /// found to work ([`AuthStyle::from_u8`](crate::AuthStyle::from_u8)
    /// reads it), `0` when not recorded. [`Client::restore_token`](crate::Client::restore_token)
    /// gives it back to an `Auto` client.
    pub fn auth_style(&self) -> u8 {
        self.auth_style
    }

    /// The configuration fingerprint it was made for.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// When it was made: UNIX seconds.
    pub fn exported_at(&self) -> u64 {
        self.exported_at
    }

    /// When the token expires: UNIX seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The token's whole lifetime in seconds.
    pub fn lifetime_secs(&self) -> u32 {
        self.lifetime
    }

    /// The renewal jitter (renew this much before the policy's margin), in
    /// milliseconds.
    pub fn refresh_early_ms(&self) -> u32 {
        self.refresh_early_ms
    }

    /// The token type.
    pub fn token_type(&self) -> TokenType {
        self.token_type
    }

    /// The granted scope, if any.
    pub fn scope(&self) -> Option<&'r str> {
        self.scope
    }

    /// The access token. Named so every use stands out in review.
    pub fn expose_secret(&self) -> &'r str {
        self.token
    }
}

impl fmt::Debug for TokenRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("access_token", &"<redacted>")
            .field("len", &self.token.len())
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .field("auth_style", &self.auth_style)
            .field("exported_at", &self.exported_at)
            .field("expires_at", &self.expires_at)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// Whole seconds in `ms`, rounded down when `ms` fits a `u32` (49.7 days),
/// else an underestimate (`ms / 1024`): the expiries derived from it are
/// never later than the true ones. (A 64-bit division would link
/// `__aeabi_uldivmod`, about 0.9 KiB on a Cortex-M, for this alone.)
fn secs_floor(ms: u64) -> u64 {
    match u32::try_from(ms) {
        Ok(ms) => u64::from(ms / 1000),
        Err(_) => ms >> 10,
    }
}

/// CRC-32/ISO-HDLC, bit by bit (no table: a few dozen bytes of code).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// FNV-1a 64.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn count(&mut self, n: usize) {
        self.bytes(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.count(s.len());
        self.bytes(s.as_bytes());
    }

    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.bytes(&[0]),
            Some(s) => {
                self.bytes(&[1]);
                self.str(s);
            }
        }
    }
}

/// FNV-1a 64 of `data` (the fingerprint's hash).
#[cfg(test)]
fn fnv1a64(data: &[u8]) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.bytes(data);
    h.0
}

/// The configuration fingerprint (see the module docs).
pub(crate) fn fingerprint<const N: usize>(config: &Config<'_, N>) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.bytes(b"EO2T-fp-1");
    h.str(config.endpoint.url());
    h.str(config.client_id.as_str());
    h.opt(config.scope);
    h.opt(config.audience);
    h.count(config.resources.len());
    for r in config.resources {
        h.str(r);
    }
    h.count(config.extra.len());
    for (k, v) in config.extra {
        h.str(k);
        h.str(v);
    }
    #[cfg(feature = "dpop")]
    let dpop = config.dpop.as_ref().map(|d| d.key.thumbprint());
    #[cfg(not(feature = "dpop"))]
    let dpop: Option<[u8; 32]> = None;
    match dpop {
        Some(thumbprint) => {
            h.bytes(&[1]);
            h.bytes(&thumbprint);
        }
        None => h.bytes(&[0]),
    }
    // The mTLS certificate a token is bound to, when named (absent: the
    // fingerprint of earlier versions, so their records still restore).
    if let Some(cert) = config.tls_certificate {
        h.bytes(b"x5t");
        h.count(cert.len());
        h.bytes(cert);
    }
    h.0
}

/// What the client hands [`export`].
pub(crate) struct Exporting<'c, const T: usize, const S: usize> {
    pub(crate) token: &'c Token<T, S>,
    pub(crate) now: Instant,
    pub(crate) unix: Option<u64>,
    pub(crate) fingerprint: u64,
    pub(crate) auth_style: u8,
}

/// Writes the record of `e.token` into `buf`; its length.
pub(crate) fn export<const T: usize, const S: usize>(
    e: &Exporting<'_, T, S>,
    policy: &RefreshPolicy,
    buf: &mut [u8],
) -> Result<usize, PersistError> {
    let token = e.token;
    if token.freshness(e.now, policy) == crate::Freshness::Expired {
        return Err(PersistError::NoToken);
    }
    let unix = e.unix.ok_or(PersistError::NoWallClock)?;
    let access = token.expose_secret().as_bytes();
    let scope = token.scope().unwrap_or_default().as_bytes();
    let (Ok(t), Ok(s)) = (u16::try_from(access.len()), u16::try_from(scope.len())) else {
        return Err(PersistError::Malformed);
    };
    let needed = record_len(access.len(), scope.len());
    let Some(out) = buf.get_mut(..needed) else {
        return Err(CapacityError::new(Buffer::Record, needed, buf.len(), true).into());
    };
    let remaining_s = secs_floor(token.expires_at().ms_since(e.now));
    let lifetime = token.lifetime().as_secs();
    let flags = u8::from(token.token_type() == TokenType::Dpop);
    let parts: [&[u8]; 11] = [
        &MAGIC,
        &[VERSION, flags, e.auth_style, 0],
        &e.fingerprint.to_le_bytes(),
        &unix.to_le_bytes(),
        &unix.saturating_add(remaining_s).to_le_bytes(),
        &u32::try_from(lifetime).unwrap_or(u32::MAX).to_le_bytes(),
        &u32::try_from(token.refresh_early_ms())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
        &t.to_le_bytes(),
        &s.to_le_bytes(),
        access,
        scope,
    ];
    let mut at = 0;
    for part in parts {
        if let Some(dst) = out.get_mut(at..at + part.len()) {
            dst.copy_from_slice(part);
        }
        at += part.len();
    }
    let crc = crc32(out.get(..at).unwrap_or_default());
    if let Some(dst) = out.get_mut(at..) {
        dst.copy_from_slice(&crc.to_le_bytes());
    }
    Ok(needed)
}

/// What the client hands [`restore`].
pub(crate) struct Restoring {
    pub(crate) now: Instant,
    /// Whether the configuration asks for DPoP-bound tokens.
    pub(crate) dpop: bool,
    pub(crate) unix: Option<u64>,
    pub(crate) fingerprint: u64,
}

/// Checks `record` against the configuration and the clocks and stores its
/// token in `token` (unchanged on any error).
pub(crate) fn restore<const T: usize, const S: usize>(
    r: &Restoring,
    policy: &RefreshPolicy,
    record: &[u8],
    token: &mut Token<T, S>,
) -> Result<Option<crate::AuthStyle>, PersistError> {
    let rec = TokenRecord::parse(record)?;
    // (A DPoP token only for a DPoP configuration and the other way round,
    // as `parse_token_response` checks.)
    if rec.fingerprint != r.fingerprint || (rec.token_type == TokenType::Dpop) != r.dpop {
        return Err(PersistError::OtherConfig);
    }
    let unix = r.unix.ok_or(PersistError::NoWallClock)?;
    // Behind by more than the tolerance; or behind at all while the clock
    // reads less than the tolerance since its epoch (an RTC that counts
    // from 0 and restarted): how much time passed is unknown.
    if unix.saturating_add(MAX_CLOCK_BEHIND) < rec.exported_at
        || (unix < rec.exported_at && unix < MAX_CLOCK_BEHIND)
    {
        return Err(PersistError::ClockBehind);
    }
    // Never count the time between a clock slightly behind and the export
    // as lifetime gained.
    let unix = unix.max(rec.exported_at);
    let lifetime = u64::from(rec.lifetime);
    let remaining = rec.expires_at.saturating_sub(unix).min(lifetime);
    if remaining == 0 {
        return Err(PersistError::Expired);
    }
    // Obtained `lifetime - remaining` seconds ago; when the monotonic clock
    // is younger than that, a shorter lifetime ending at the same instant.
    let now = r.now.as_millis();
    let age_ms = (lifetime - remaining).saturating_mul(1000);
    let (obtained, life) = match now.checked_sub(age_ms) {
        Some(o) => (o, lifetime),
        None => {
            let secs = secs_floor(now);
            (now - secs * 1000, secs + remaining)
        }
    };
    // Expired already under this client's policy (its `max_lifetime` may
    // be shorter than the exporter's): refused, the client unchanged.
    if duration_millis(policy.lifetime(Some(life))) <= now.saturating_sub(obtained) {
        return Err(PersistError::Expired);
    }
    let resp = TokenResponse {
        access_token: rec.token,
        token_type: rec.token_type,
        expires_in: Some(life),
        scope: rec.scope,
    };
    token
        .set(&resp, Instant::from_millis(obtained), policy)
        .map_err(|e| match e {
            crate::Error::Capacity(c) => PersistError::Capacity(c),
            _ => PersistError::Malformed,
        })?;
    // Renew as far before the expiry as the exporting client would have.
    let life_ms = lifetime.saturating_mul(1000);
    let before = policy
        .effective_margin_ms(life_ms)
        .saturating_add(u64::from(rec.refresh_early_ms).min(policy.jitter_window_ms(life_ms)));
    let margin_now = policy.effective_margin_ms(duration_millis(token.lifetime()));
    token.set_refresh_early_ms(before.saturating_sub(margin_now));
    Ok(crate::AuthStyle::from_u8(rec.auth_style))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with a correct checksum whatever its fields hold.
    fn record(flags: u8, reserved: u8, token: &[u8], scope: &[u8]) -> std::vec::Vec<u8> {
        let mut r = std::vec![0u8; HEADER_LEN];
        r[..4].copy_from_slice(&MAGIC);
        r[4] = VERSION;
        r[5] = flags;
        r[7] = reserved;
        r[40..42].copy_from_slice(&(token.len() as u16).to_le_bytes());
        r[42..44].copy_from_slice(&(scope.len() as u16).to_le_bytes());
        r.extend_from_slice(token);
        r.extend_from_slice(scope);
        let crc = crc32(&r);
        r.extend_from_slice(&crc.to_le_bytes());
        r
    }

    /// Fields the checksum cannot vouch for are checked one by one: each
    /// bad field alone is `Malformed`.
    #[test]
    fn each_bad_field_is_malformed_even_with_a_good_checksum() {
        let good = record(1, 0, b"tok", b"a b");
        let ok = TokenRecord::parse(&good).unwrap();
        assert_eq!(
            (ok.token, ok.scope, ok.token_type),
            ("tok", Some("a b"), TokenType::Dpop)
        );
        assert_eq!(
            TokenRecord::parse(&record(0, 0, b"tok", b""))
                .unwrap()
                .scope,
            None
        );
        for (what, r) in [
            ("flags", record(2, 0, b"tok", b"")),
            ("reserved byte", record(0, 1, b"tok", b"")),
            ("empty token", record(0, 0, b"", b"")),
            ("token with a space", record(0, 0, b"t k", b"")),
            ("scope not RFC 6749 §3.3", record(0, 0, b"tok", b" a")),
            ("scope not UTF-8", record(0, 0, b"tok", b"\xff")),
        ] {
            assert_eq!(
                TokenRecord::parse(&r).unwrap_err(),
                PersistError::Malformed,
                "{what}"
            );
        }
        // Shorter than its header: truncated, at every length.
        let r = record(0, 0, b"tok", b"");
        for n in 5..HEADER_LEN {
            assert_eq!(
                TokenRecord::parse(&r[..n]).unwrap_err(),
                PersistError::Truncated,
                "{n}"
            );
        }
    }

    /// The token is never in a record's `Debug`.
    #[test]
    fn debug_is_redacted() {
        let r = record(0, 0, b"secret-token", b"");
        let d = std::format!("{:?}", TokenRecord::parse(&r).unwrap());
        assert!(d.starts_with("TokenRecord {"), "{d}");
        assert!(d.contains("<redacted>") && d.contains("len: 12"), "{d}");
        assert!(!d.contains("secret-token"), "{d}");
    }

    /// Strings are length-prefixed in the fingerprint: moving a byte from
    /// one resource to the next is another configuration.
    #[test]
    fn fingerprint_strings_are_length_prefixed() {
        use crate::{ClientAuth, ClientId, TokenEndpoint};
        let c = |r: &'static [&'static str]| {
            Config::<0>::new(
                TokenEndpoint::parse("https://as.example/token").unwrap(),
                ClientId::new("sensor").unwrap(),
                ClientAuth::ClientIdOnly,
            )
            .with_resources(r)
            .unwrap()
        };
        assert_ne!(
            fingerprint(&c(&["https://a.example/x", "https://b.example/"])),
            fingerprint(&c(&["https://a.example/", "xhttps://b.example/"]))
        );
    }

    /// Each field is read from its offset of the documented layout.
    #[test]
    fn fields_come_from_their_offsets() {
        let mut r = record(0, 0, b"tok", b"s");
        r[6] = 3;
        r[8..16].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        r[16..24].copy_from_slice(&1_800_000_000u64.to_le_bytes());
        r[24..32].copy_from_slice(&1_800_003_600u64.to_le_bytes());
        r[32..36].copy_from_slice(&3_600u32.to_le_bytes());
        r[36..40].copy_from_slice(&45_000u32.to_le_bytes());
        let body = r.len() - CHECKSUM_LEN;
        let crc = crc32(&r[..body]);
        r[body..].copy_from_slice(&crc.to_le_bytes());
        r.extend_from_slice(b"trailing bytes are not the record's");
        let rec = TokenRecord::parse(&r).unwrap();
        assert_eq!(rec.auth_style(), 3);
        assert_eq!(rec.fingerprint(), 0x1122_3344_5566_7788);
        assert_eq!(rec.exported_at(), 1_800_000_000);
        assert_eq!(rec.expires_at(), 1_800_003_600);
        assert_eq!(rec.lifetime_secs(), 3_600);
        assert_eq!(rec.refresh_early_ms(), 45_000);
        assert_eq!(rec.token_type(), TokenType::Bearer);
        assert_eq!((rec.expose_secret(), rec.scope()), ("tok", Some("s")));
        assert_eq!(rec.len(), HEADER_LEN + 4 + CHECKSUM_LEN);
        assert!(!rec.is_empty());
    }

    /// Every refusal says what it is, differently.
    #[test]
    fn errors_each_say_what_is_wrong() {
        use std::string::ToString;
        let all = [
            PersistError::NoToken,
            PersistError::NoWallClock,
            PersistError::BadMagic,
            PersistError::UnsupportedVersion(9),
            PersistError::Truncated,
            PersistError::Checksum,
            PersistError::Malformed,
            PersistError::OtherConfig,
            PersistError::Expired,
            PersistError::ClockBehind,
        ];
        let texts: std::vec::Vec<_> = all.iter().map(ToString::to_string).collect();
        for (i, t) in texts.iter().enumerate() {
            assert!(!t.is_empty());
            assert!(texts[..i].iter().all(|u| u != t), "{t}");
        }
        assert!(texts[3].contains('9'));
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn fnv1a64_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn seconds_round_down_and_never_overestimate() {
        assert_eq!(secs_floor(0), 0);
        assert_eq!(secs_floor(1_999), 1);
        assert_eq!(secs_floor(u64::from(u32::MAX)), 4_294_967);
        let big = u64::from(u32::MAX) + 1;
        assert!(secs_floor(big) <= big / 1000);
        assert!(secs_floor(u64::MAX) <= u64::MAX / 1000);
    }

    #[test]
    fn record_len_is_header_token_scope_crc() {
        assert_eq!(record_len(0, 0), 48);
        assert_eq!(record_len(usize::MAX, 1), usize::MAX);
    }
}
