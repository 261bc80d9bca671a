//! The connector on a host with an operating system (feature `std`): TCP
//! through [`std::net::TcpStream`] with timeouts ([`StdTcp`], a blocking
//! and an async [`Open`](super::blocking::Open)er), the system clock for
//! certificate dates (`std::time::SystemTime` is a
//! [`TlsClock`](super::TlsClock)), and the clocks the client takes
//! ([`monotonic_now`], [`unix_time`]). For tests on the host before
//! flashing, and for host tools; firmware brings its own network stack.
//!
//! ```no_run
//! # #[cfg(feature = "std")] {
//! use std::time::{Duration, SystemTime};
//! use embedded_oauth2::tls::host::{StdTcp, monotonic_now, unix_time};
//! use embedded_oauth2::tls::{READ_BUFFER, TlsConnector};
//! use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
//!
//! let root = std::fs::read("root.der")?;
//! let mut tls = TlsConnector::new(
//!     StdTcp::new(Duration::from_secs(10)),
//!     rand_core::OsRng,
//!     &root[..],
//!     vec![0u8; READ_BUFFER],
//!     vec![0u8; 4096],
//! )?
//! .with_clock::<SystemTime>();
//! let config = Config::new(
//!     TokenEndpoint::parse("https://auth.example.com/oauth2/token")?,
//!     ClientId::new("sensor-7")?,
//!     ClientAuth::Basic(ClientSecret::<64>::new("s3cret")?),
//! );
//! let mut client = Client::<_>::new(config, monotonic_now).with_wall_clock(unix_time);
//! let mut work = [0u8; 2048];
//! let token = client.token(&mut tls, &mut work)?;
//! # let _ = token;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use embedded_io::ErrorType;

use crate::time::Instant;

/// Opens `std` TCP connections: the first address of the host that
/// answers, within the timeout, which also bounds every read and write.
/// Errors are the `std::io::Error`s, with the address in their text.
///
/// It is a blocking opener and an async one: the async one blocks the
/// thread on each operation (fine under `embassy_futures::block_on` or
/// one task per thread, as host tools and tests run; an async runtime
/// has TCP of its own).
///
/// ```
/// # #[cfg(feature = "std")] {
/// use embedded_oauth2::tls::host::StdTcp;
/// let tcp = StdTcp::new(std::time::Duration::from_secs(10));
/// assert_eq!(tcp.opened(), 0);
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StdTcp {
    timeout: Duration,
    opened: usize,
}

impl StdTcp {
    /// An opener whose connect, read and write each time out after
    /// `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout, opened: 0 }
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes the timeout for the connections opened from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// How many connections it opened.
    pub fn opened(&self) -> usize {
        self.opened
    }

    fn connect(&mut self, host: &str, port: u16) -> io::Result<StdSocket> {
        self.opened = self.opened.saturating_add(1);
        connect(host, port, self.timeout).map(StdSocket)
    }
}

/// One connection of a [`StdTcp`]: a `std::net::TcpStream` as embedded-io
/// (and embedded-io-async) `Read + Write`.
#[derive(Debug)]
pub struct StdSocket(TcpStream);

impl StdSocket {
    /// The stream.
    pub fn get_ref(&self) -> &TcpStream {
        &self.0
    }
}

impl ErrorType for StdSocket {
    type Error = io::Error;
}

impl embedded_io::Read for StdSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.0, buf)
    }
}

impl embedded_io::Write for StdSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut self.0, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::Write::flush(&mut self.0)
    }
}

impl ErrorType for StdTcp {
    type Error = io::Error;
}

impl super::blocking::Open for StdTcp {
    type Socket<'s> = StdSocket;

    fn open(&mut self, host: &str, port: u16) -> io::Result<StdSocket> {
        self.connect(host, port)
    }
}

#[cfg(feature = "async")]
mod asynch {
    use super::{StdSocket, StdTcp, io};

    impl embedded_io_async::Read for StdSocket {
        async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            embedded_io::Read::read(self, buf)
        }
    }

    impl embedded_io_async::Write for StdSocket {
        async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            embedded_io::Write::write(self, buf)
        }

        async fn flush(&mut self) -> io::Result<()> {
            embedded_io::Write::flush(self)
        }
    }

    impl crate::tls::asynch::Open for StdTcp {
        type Socket<'s> = StdSocket;

        async fn open(&mut self, host: &str, port: u16) -> io::Result<StdSocket> {
            self.connect(host, port)
        }
    }
}

/// The std stack as an embedded-nal-async one (with feature
/// `embedded-nal-async`): what [`NalOpener`](crate::tls::nal::NalOpener)
/// takes, so a host test runs the same opener as an embassy-net board.
#[cfg(feature = "embedded-nal-async")]
mod nal {
    use core::net::{IpAddr, SocketAddr};
    use std::net::TcpStream;

    use embedded_nal_async::{AddrType, Dns, TcpConnect};

    use super::{StdSocket, StdTcp, io};

    impl TcpConnect for StdTcp {
        type Error = io::Error;
        type Connection<'a> = StdSocket;

        async fn connect(&self, remote: SocketAddr) -> io::Result<StdSocket> {
            let stream = TcpStream::connect_timeout(&remote, self.timeout)?;
            super::configure(&stream, self.timeout)?;
            Ok(StdSocket(stream))
        }
    }

    impl Dns for StdTcp {
        type Error = io::Error;

        async fn get_host_by_name(&self, host: &str, addr_type: AddrType) -> io::Result<IpAddr> {
            std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))?
                .map(|a| a.ip())
                .find(|ip| match addr_type {
                    AddrType::IPv4 => ip.is_ipv4(),
                    AddrType::IPv6 => ip.is_ipv6(),
                    AddrType::Either => true,
                })
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address of that family"))
        }

        async fn get_host_by_address(&self, _: IpAddr, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "reverse lookups are not needed here",
            ))
        }
    }
}

fn configure(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)
}

/// TCP to `host:port` with timeouts; errors name the address.
fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let context = |e: io::Error| {
        let shown = if host.contains(':') {
            std::format!("[{host}]:{port}")
        } else {
            std::format!("{host}:{port}")
        };
        io::Error::new(e.kind(), std::format!("connecting to {shown}: {e}"))
    };
    let mut last = None;
    for addr in (host, port).to_socket_addrs().map_err(context)? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                configure(&stream, timeout).map_err(context)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(context(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "no address found")
    })))
}

/// The client's monotonic clock on a host: time since the first call
/// (`std::time::Instant`, which never goes back).
///
/// ```
/// # #[cfg(feature = "std")] {
/// use embedded_oauth2::tls::host::monotonic_now;
/// assert!(monotonic_now() <= monotonic_now());
/// # }
/// ```
pub fn monotonic_now() -> Instant {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    Instant::from_millis(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX))
}

/// The client's wall clock on a host: Unix seconds from the system clock
/// (`None` before 1970).
///
/// ```
/// # #[cfg(feature = "std")] {
/// assert!(embedded_oauth2::tls::host::unix_time().unwrap() > 1_700_000_000);
/// # }
/// ```
pub fn unix_time() -> Option<u64> {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}
