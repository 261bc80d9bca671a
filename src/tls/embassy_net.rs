//! The async connector over embassy-net with connections that end
//! properly (feature `embassy-net`): [`NetOpener`] resolves the host with
//! the stack's DNS, connects one `TcpSocket` it owns, and after the
//! exchange ([`NetOpener::shutdown`]) sends FIN and waits for the ACK.
//!
//! [`tls::nal::NalOpener`](crate::tls::nal::NalOpener) over embassy-net's
//! `TcpClient` and `DnsSocket` needs no buffers of yours, but a connection
//! it drops leaves the stack at once, so its FIN may never be sent and the
//! server keeps retransmitting into a closed port: what the generic
//! embedded-nal-async traits cannot say. This opener owns its socket, so it
//! can. Use it for connections you make often (a service called every
//! minute); the token's exchange, once an hour, is fine either way.
//!
//! ```no_run
//! # #[cfg(feature = "embassy-net")] {
//! use embassy_time::Duration;
//! use embedded_oauth2::tls::embassy_net::{NetOpener, TcpBuffers};
//! # fn demo(stack: embassy_net::Stack<'static>) {
//! //! // `static BUFFERS: StaticCell<TcpBuffers<4096, 2048>>` on a device.
//! let buffers: &'static mut TcpBuffers<4096, 2048> = Box::leak(Box::new(TcpBuffers::new()));
//! let mut opener = NetOpener::new(stack, buffers, Duration::from_secs(30));
//! // TlsConnector::new(&mut opener, …); after each exchange:
//! // opener.shutdown().await;
//! # let _ = &mut opener;
//! # }
//! # }
//! ```

use core::fmt;

use embassy_net::Stack;
use embassy_net::dns::{self, DnsQueryType};
use embassy_net::tcp::{self, ConnectError, State, TcpSocket};
use embassy_time::{Duration, with_timeout};
use embedded_io::{ErrorKind, ErrorType};

use super::asynch::Open;

/// Why a connection could not be opened or used: embassy-net's DNS, connect
/// and socket errors kept apart, so the log says which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NetError {
    /// Resolving the host failed (no DNS server, no answer, bad name).
    Dns(dns::Error),
    /// The DNS answer had no IPv4 address.
    NoAddress,
    /// `TcpSocket::connect` failed (refused, timed out, no route).
    Connect(ConnectError),
    /// Reading or writing the connected socket failed (reset, timeout).
    Tcp(tcp::Error),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(dns::Error::InvalidName) => f.write_str("DNS: invalid host name"),
            Self::Dns(dns::Error::NameTooLong) => f.write_str("DNS: host name too long"),
            Self::Dns(dns::Error::Failed) => f.write_str("DNS: lookup failed"),
            Self::NoAddress => f.write_str("DNS: no IPv4 address for the host"),
            Self::Connect(ConnectError::InvalidState) => f.write_str("TCP connect: socket busy"),
            Self::Connect(ConnectError::ConnectionReset) => {
                f.write_str("TCP connect: refused (RST)")
            }
            Self::Connect(ConnectError::TimedOut) => f.write_str("TCP connect: timed out"),
            Self::Connect(ConnectError::NoRoute) => f.write_str("TCP connect: no route to host"),
            Self::Tcp(tcp::Error::ConnectionReset) => {
                f.write_str("TCP: connection reset or timed out")
            }
        }
    }
}

impl core::error::Error for NetError {}

impl embedded_io::Error for NetError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Dns(dns::Error::InvalidName | dns::Error::NameTooLong) => ErrorKind::InvalidInput,
            Self::Dns(dns::Error::Failed) | Self::NoAddress => ErrorKind::NotFound,
            Self::Connect(ConnectError::InvalidState) => ErrorKind::Other,
            Self::Connect(ConnectError::ConnectionReset) => ErrorKind::ConnectionRefused,
            Self::Connect(ConnectError::TimedOut) => ErrorKind::TimedOut,
            Self::Connect(ConnectError::NoRoute) => ErrorKind::AddrNotAvailable,
            Self::Tcp(tcp::Error::ConnectionReset) => ErrorKind::ConnectionReset,
        }
    }
}

/// TCP buffers of one connection: the receive buffer is the TCP window
/// (the TLS layer keeps whole records in its own buffer), the transmit
/// buffer holds a TLS record or two.
pub struct TcpBuffers<const RX: usize, const TX: usize> {
    rx: [u8; RX],
    tx: [u8; TX],
}

impl<const RX: usize, const TX: usize> TcpBuffers<RX, TX> {
    /// Zeroed buffers (for a `static`: no stack copy).
    pub const fn new() -> Self {
        Self {
            rx: [0; RX],
            tx: [0; TX],
        }
    }
}

impl<const RX: usize, const TX: usize> Default for TcpBuffers<RX, TX> {
    fn default() -> Self {
        Self::new()
    }
}

/// Opens TCP connections through an embassy-net [`Stack`]: resolves the
/// host (an IPv4 literal needs no DNS), connects, and lends out its socket.
pub struct NetOpener {
    stack: Stack<'static>,
    socket: TcpSocket<'static>,
    timeout: Duration,
}

impl NetOpener {
    /// An opener on `stack` whose socket lives in `buffers`. `timeout`: a
    /// connection with no traffic for this long is reset (smoltcp's socket
    /// timeout, which also bounds connecting).
    pub fn new<const RX: usize, const TX: usize>(
        stack: Stack<'static>,
        buffers: &'static mut TcpBuffers<RX, TX>,
        timeout: Duration,
    ) -> Self {
        let TcpBuffers { rx, tx } = buffers;
        Self {
            stack,
            socket: TcpSocket::new(stack, rx, tx),
            timeout,
        }
    }

    /// Ends the last connection cleanly: FIN after whatever is still
    /// queued (the TLS close_notify), then waits briefly for the peer's
    /// ACK. Call it when a connection is done with; [`Open::open`] also
    /// clears a connection left open (with a reset).
    pub async fn shutdown(&mut self) {
        if self.socket.state() != State::Closed {
            self.socket.close();
            let _ = with_timeout(Duration::from_secs(2), self.socket.flush()).await;
        }
    }

    /// Makes the socket ready to connect again: a connection still in any
    /// state (e.g. TIME-WAIT after [`NetOpener::shutdown`]) is aborted.
    async fn reset(&mut self) {
        if self.socket.state() != State::Closed {
            self.socket.abort();
            let _ = with_timeout(Duration::from_secs(1), self.socket.flush()).await;
        }
    }
}

/// The connected socket, lent out by [`NetOpener`] for one connection.
pub struct NetSocket<'s>(&'s mut TcpSocket<'static>);

impl ErrorType for NetSocket<'_> {
    type Error = NetError;
}

impl embedded_io_async::Read for NetSocket<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        self.0.read(buf).await.map_err(NetError::Tcp)
    }
}

impl embedded_io_async::Write for NetSocket<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        self.0.write(buf).await.map_err(NetError::Tcp)
    }

    async fn flush(&mut self) -> Result<(), NetError> {
        self.0.flush().await.map_err(NetError::Tcp)
    }
}

impl ErrorType for NetOpener {
    type Error = NetError;
}

impl Open for NetOpener {
    type Socket<'s>
        = NetSocket<'s>
    where
        Self: 's;

    async fn open(&mut self, host: &str, port: u16) -> Result<NetSocket<'_>, NetError> {
        self.reset().await;
        // An IPv4 literal is answered without a query.
        let addresses = self
            .stack
            .dns_query(host, DnsQueryType::A)
            .await
            .map_err(NetError::Dns)?;
        let address = *addresses.first().ok_or(NetError::NoAddress)?;
        self.socket.set_timeout(Some(self.timeout));
        self.socket
            .connect((address, port))
            .await
            .map_err(NetError::Connect)?;
        Ok(NetSocket(&mut self.socket))
    }
}

/// The connector borrows the opener for one exchange (so the caller can
/// [`shutdown`](NetOpener::shutdown) and wipe the TLS buffers afterwards).
impl Open for &mut NetOpener {
    type Socket<'s>
        = NetSocket<'s>
    where
        Self: 's;

    async fn open(&mut self, host: &str, port: u16) -> Result<NetSocket<'_>, NetError> {
        (**self).open(host, port).await
    }
}
