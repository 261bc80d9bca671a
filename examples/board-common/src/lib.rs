//! What the embassy boards (`../pico-w`, `../esp32c3`) share, so that each
//! board's `main.rs` is only its hardware bring-up:
//!
//! * [`config`]: the configuration (build-time environment, one place for
//!   both boards) and its parsing into the client's `Config`;
//! * [`net`]: the wait for an address that does not hang when the link
//!   drops, and the crate's `NetOpener` re-exported; both tasks reach
//!   embassy-net through the crate's `tls::nal::NalOpener` over
//!   embassy-net's `TcpClient` and `DnsSocket` (one opener type: the TLS
//!   code is in flash once);
//! * [`publish`]: how the token task hands the token to other tasks (no
//!   lock across I/O, every copy wiped);
//! * [`token_task`]: the task that owns the `Client` and renews the token;
//! * [`service`]: the task that calls a service with the token.
//!
//! `examples/qemu-device` shares the idea of the service call (`GET` with
//! `Authorization: Bearer`, read with `ResponseReader`) but is blocking,
//! not embassy; it is left as it is.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[macro_use]
mod fmt;

mod check;
pub mod config;
pub mod net;
pub mod publish;
pub mod service;
pub mod token_task;

#[cfg(test)]
mod testing;

use embedded_oauth2::tls::READ_BUFFER;

/// Access token capacity: JWTs up to 2 KiB.
pub const TOKEN_CAP: usize = 2048;
/// Granted scope capacity.
pub const SCOPE_CAP: usize = 256;
/// The `Authorization` value: `Bearer ` + the token.
pub const HEADER_CAP: usize = 7 + TOKEN_CAP;
/// The token exchange's work buffer: response head + body + the unescaped
/// token and scope (a 2 KiB JWT in a Keycloak-style response fits).
pub const WORK_CAP: usize = 6 * 1024;
/// TLS read buffer: one whole record of any size, so any server works.
/// `embedded_oauth2::tls::read_buffer_len(Some(MaxFragmentLength::Bits12))`
/// (4,357 bytes) saves 12 KiB per connection with servers that honour
/// `max_fragment_length` (see the `tls` module docs).
pub const TLS_READ: usize = READ_BUFFER;
/// TLS write buffer: a request in one or two records.
pub const TLS_WRITE: usize = 1024;
/// TCP receive buffer (the window).
pub const TCP_RX: usize = 4096;
/// TCP transmit buffer.
pub const TCP_TX: usize = 2048;
/// The service's response (head and body) at most.
pub const RESPONSE_CAP: usize = 2048;
/// Sockets the stack needs: DHCP, DNS and the two TCP connections.
pub const SOCKETS: usize = 4;
/// A token record (`embedded_oauth2::persist`) for [`TOKEN_CAP`] and
/// [`SCOPE_CAP`]: what a [`token_task::TokenStore`] keeps.
pub const RECORD_CAP: usize = embedded_oauth2::persist::record_len(TOKEN_CAP, SCOPE_CAP);

pub use publish::{HeaderValue, TokenCell};

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory table in README.md (`TokenResources` holds bytes only,
    /// so its size is the same on the host as on the boards).
    #[test]
    fn the_readme_memory_table_is_right() {
        assert_eq!(RECORD_CAP, 2_352);
        assert_eq!(TLS_READ, 16_645);
        // + 1: the `TcpClientState` pool's in-use flag.
        assert_eq!(
            core::mem::size_of::<token_task::TokenResources>(),
            TCP_RX + TCP_TX + TLS_READ + TLS_WRITE + WORK_CAP + RECORD_CAP + 1
        );
        assert_eq!(core::mem::size_of::<token_task::TokenResources>(), 32_310);
        assert_eq!(core::mem::size_of::<service::ServiceResources>(), 27_928);
    }
}
