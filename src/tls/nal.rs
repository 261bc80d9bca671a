//! The async connector over any [embedded-nal-async] 0.9 network stack
//! (feature `embedded-nal-async`): [`NalOpener`] resolves the host with a
//! [`Dns`] and connects with a [`TcpConnect`], so the connector needs no
//! opener of your own. embassy-net's `tcp::client::TcpClient` and
//! `dns::DnsSocket` are such a pair; so is any stack that implements the
//! traits (the std adapters, a modem driver).
//!
//! ```no_run
//! # #[cfg(feature = "std")] {
//! use embedded_oauth2::tls::nal::NalOpener;
//! use embedded_oauth2::tls::{READ_BUFFER, TlsConnector};
//!
//! // On a board with embassy-net:
//! //   let tcp = TcpClient::new(stack, &TCP_STATE);   // tcp::client
//! //   tcp.set_timeout(Some(Duration::from_secs(10))); // bounds the connect
//! //   let dns = DnsSocket::new(stack);
//! // Here the host's stack, which implements both traits (feature `std`):
//! let host = embedded_oauth2::tls::host::StdTcp::new(std::time::Duration::from_secs(10));
//! let (tcp, dns) = (&host, &host);
//! let root = std::fs::read("root.der")?;
//! let tls = TlsConnector::new(
//!     NalOpener::new(tcp, dns),
//!     rand_core::OsRng,
//!     &root[..],
//!     vec![0u8; READ_BUFFER],
//!     vec![0u8; 4096],
//! )?;
//! // `client.asynch().token(&mut tls, &mut work).await`, and the services
//! // with `asynch::request`.
//! # let _ = tls;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What a generic stack cannot do
//!
//! * **The end of a connection.** The traits have no close: a connection
//!   ends when it is dropped, as the stack decides. The connector sends
//!   TLS close_notify and flushes it first (the driver does, and
//!   [`TlsStream::close`](crate::tls::asynch::TlsStream::close)), so the
//!   server sees a clean TLS end; but on embassy-net, dropping a
//!   `TcpClient` connection queues a FIN and removes the socket at once, so
//!   the FIN may never leave and the server may see a reset instead. A
//!   server does not mind for one token request; if your network does
//!   (a NAT table, a modem's socket count), use an opener of your own on
//!   an owned `TcpSocket` that calls `close()` and waits for the ACK before
//!   it lets the socket go.
//! * **A connect timeout.** The traits have none: it is the stack's
//!   (embassy-net: `TcpClient::set_timeout`, which also bounds reads). The
//!   client's fetch deadline
//!   ([`Client::with_fetch_timeout`](crate::Client::with_fetch_timeout))
//!   bounds the exchange after the connection is open.
//!
//! [embedded-nal-async]: https://docs.rs/embedded-nal-async/0.9

use core::fmt;
use core::marker::PhantomData;
use core::net::{IpAddr, SocketAddr};

use embedded_io::{ErrorKind, ErrorType};
/// Which addresses a lookup asks for (IPv4, IPv6, either). From
/// embedded-nal-async.
pub use embedded_nal_async::AddrType;
/// A resolver: `get_host_by_name(host, AddrType)` (embassy-net's
/// `DnsSocket`). From embedded-nal-async.
pub use embedded_nal_async::Dns;
/// A TCP stack: `connect(SocketAddr)` gives a connection that is
/// embedded-io-async `Read + Write` (embassy-net's `TcpClient`). From
/// embedded-nal-async.
pub use embedded_nal_async::TcpConnect;

use super::asynch::Open;

/// Opens TCP connections through an [`embedded_nal_async`] stack: the host
/// resolved by `dns` (an IP literal is used as is, with no query), then
/// connected by `tcp`. Borrowing both, it is cheap to make per exchange or
/// to keep.
///
/// ```
/// # #[cfg(feature = "embedded-nal-async")] {
/// use embedded_oauth2::tls::nal::{AddrType, NalOpener};
/// # let (tcp_client, dns_socket) = ((), ());
/// // embassy-net: `TcpClient::new(stack, &STATE)`, `DnsSocket::new(stack)`.
/// let opener = NalOpener::new(&tcp_client, &dns_socket).with_addr_type(AddrType::IPv4);
/// # let _ = opener;
/// # }
/// ```
pub struct NalOpener<'s, T, D> {
    tcp: &'s T,
    dns: &'s D,
    addr_type: AddrType,
}

impl<'s, T, D> NalOpener<'s, T, D> {
    /// An opener over `tcp` and `dns`, asking for any address family.
    pub fn new(tcp: &'s T, dns: &'s D) -> Self {
        Self {
            tcp,
            dns,
            addr_type: AddrType::Either,
        }
    }

    /// Which addresses to ask the resolver for (e.g. `AddrType::IPv4` on a
    /// stack without IPv6).
    pub fn with_addr_type(mut self, addr_type: AddrType) -> Self {
        self.addr_type = addr_type;
        self
    }
}

impl<T, D> fmt::Debug for NalOpener<'_, T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NalOpener")
            .field("addr_type", &self.addr_type)
            .finish_non_exhaustive()
    }
}

/// Why a connection through a [`NalOpener`] failed: the resolver's error
/// and the stack's TCP error kept apart (and kept whole), so a log says
/// which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NalError<T, D> {
    /// Resolving the host failed (`Dns::get_host_by_name`).
    Dns(D),
    /// Connecting failed (`TcpConnect::connect`).
    Connect(T),
    /// Reading or writing the open connection failed.
    Tcp(T),
}

impl<T: fmt::Debug, D: fmt::Debug> fmt::Display for NalError<T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The stacks' errors have `Debug` only (the traits ask no more).
        match self {
            Self::Dns(e) => write!(f, "DNS lookup failed: {e:?}"),
            Self::Connect(e) => write!(f, "TCP connect failed: {e:?}"),
            Self::Tcp(e) => write!(f, "TCP connection failed: {e:?}"),
        }
    }
}

impl<T: fmt::Debug, D: fmt::Debug> core::error::Error for NalError<T, D> {}

impl<T: embedded_io::Error, D: fmt::Debug> embedded_io::Error for NalError<T, D> {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Dns(_) => ErrorKind::NotFound,
            Self::Connect(e) | Self::Tcp(e) => e.kind(),
        }
    }
}

/// One connection opened by a [`NalOpener`]: the stack's connection `C`,
/// its errors as [`NalError::Tcp`] (`D`, the resolver's error type, only
/// completes the opener's error type).
pub struct NalSocket<C, D> {
    connection: C,
    _dns: PhantomData<fn() -> D>,
}

impl<C: ErrorType, D: fmt::Debug> ErrorType for NalSocket<C, D> {
    type Error = NalError<C::Error, D>;
}

impl<C: embedded_io_async::Read, D: fmt::Debug> embedded_io_async::Read for NalSocket<C, D> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.connection.read(buf).await.map_err(NalError::Tcp)
    }
}

impl<C: embedded_io_async::Write, D: fmt::Debug> embedded_io_async::Write for NalSocket<C, D> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.connection.write(buf).await.map_err(NalError::Tcp)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.connection.flush().await.map_err(NalError::Tcp)
    }
}

impl<T: TcpConnect, D: Dns> ErrorType for NalOpener<'_, T, D> {
    type Error = NalError<T::Error, D::Error>;
}

impl<T: TcpConnect, D: Dns> Open for NalOpener<'_, T, D> {
    type Socket<'c>
        = NalSocket<T::Connection<'c>, D::Error>
    where
        Self: 'c;

    async fn open(&mut self, host: &str, port: u16) -> Result<Self::Socket<'_>, Self::Error> {
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            // `[::1]` as a URL writes it.
            Err(_) => match host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .map(str::parse::<IpAddr>)
            {
                Some(Ok(ip)) => ip,
                _ => self
                    .dns
                    .get_host_by_name(host, self.addr_type.clone())
                    .await
                    .map_err(NalError::Dns)?,
            },
        };
        let connection = self
            .tcp
            .connect(SocketAddr::new(ip, port))
            .await
            .map_err(NalError::Connect)?;
        Ok(NalSocket {
            connection,
            _dns: PhantomData,
        })
    }
}
