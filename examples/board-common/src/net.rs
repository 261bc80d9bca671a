//! TCP over embassy-net for the crate's TLS connector: [`NetOpener`]
//! implements `embedded_oauth2::tls::asynch::Open` (DNS, then
//! `TcpSocket::connect`) and hands out the connected socket.
//!
//! The opener owns one `TcpSocket` for its whole life, built on the TCP
//! buffers it is given (`&'static mut`, from a `static`), and reuses it for
//! each connection. That lets it end a connection properly
//! ([`NetOpener::shutdown`]: FIN, wait for the ACK) after the TLS layer
//! sent close_notify — a socket dropped by embassy-net simply vanishes from
//! the stack, and the server is left retransmitting.

use core::fmt;

use embassy_futures::select::{Either, select};
use embassy_net::Stack;
use embassy_net::dns::{self, DnsQueryType};
use embassy_net::tcp::{self, ConnectError, State, TcpSocket};
use embassy_time::{Duration, with_timeout};
use embedded_io::{ErrorKind, ErrorType};
use embedded_oauth2::tls::asynch::Open;

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

/// How [`wait_configured`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Configured {
    /// The stack has an IPv4 configuration (DHCP answered).
    Up,
    /// The link came up and went down again before that: join again.
    LinkLost,
    /// Neither within the time given: join again.
    TimedOut,
}

/// After joining a network: waits for the stack's configuration (DHCP),
/// but not for ever — the link may drop before DHCP answers (then nothing
/// would ever wake `Stack::wait_config_up`), or DHCP may never answer.
/// The link counts as lost only once it was seen up, so a stack that has
/// not yet noticed the join does not look like a lost link.
pub async fn wait_configured(stack: Stack<'_>, limit: Duration) -> Configured {
    let link_lost = async {
        stack.wait_link_up().await;
        stack.wait_link_down().await;
    };
    match with_timeout(limit, select(stack.wait_config_up(), link_lost)).await {
        Ok(Either::First(())) => Configured::Up,
        Ok(Either::Second(())) => Configured::LinkLost,
        Err(_) => Configured::TimedOut,
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

#[cfg(test)]
mod tests {
    use embassy_futures::block_on;
    use embassy_net::{Config, ConfigV4, Ipv4Cidr, StackResources, StaticConfigV4};

    use super::*;
    use crate::testing::NullDriver;

    /// Runs `wait_configured` on a stack over a [`NullDriver`] whose link
    /// is up, then (after `drop_after`, if any) down.
    fn run(config: Config, drop_after: Option<Duration>, limit: Duration) -> Configured {
        let driver = NullDriver::new(true);
        let link = driver.link();
        let mut resources = StackResources::<2>::new();
        let (stack, mut runner) = embassy_net::new(driver, config, &mut resources, 1);
        let test = async {
            let dropper = async {
                match drop_after {
                    Some(after) => {
                        embassy_time::Timer::after(after).await;
                        link.set(false);
                        core::future::pending::<()>().await
                    }
                    None => core::future::pending::<()>().await,
                }
            };
            match select(wait_configured(stack, limit), dropper).await {
                Either::First(c) => c,
                Either::Second(()) => unreachable!(),
            }
        };
        match block_on(select(runner.run(), test)) {
            Either::First(_) => unreachable!("the runner never returns"),
            Either::Second(c) => c,
        }
    }

    #[test]
    fn a_configured_stack_is_up() {
        let config = Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new([192, 0, 2, 10].into(), 24),
            gateway: None,
            dns_servers: Default::default(),
        });
        assert_eq!(run(config, None, Duration::from_secs(5)), Configured::Up);
    }

    /// The Pico W waited on `wait_config_up` alone: a link lost before
    /// DHCP answered was never noticed, and it never joined again.
    #[test]
    fn a_link_lost_before_dhcp_is_noticed() {
        // No address, and no DHCP answer ever.
        let mut config = Config::default();
        config.ipv4 = ConfigV4::None;
        let got = run(
            config,
            Some(Duration::from_millis(50)),
            Duration::from_secs(5),
        );
        assert_eq!(got, Configured::LinkLost);
    }

    #[test]
    fn no_dhcp_answer_times_out() {
        // No address, and no DHCP answer ever.
        let mut config = Config::default();
        config.ipv4 = ConfigV4::None;
        let got = run(config, None, Duration::from_millis(200));
        assert_eq!(got, Configured::TimedOut);
    }
}
