//! The service task: calls `SERVICE_URL` with the published token every
//! `SERVICE_INTERVAL_SECS`, over its own verified TLS connection (its own
//! connector, TCP socket and buffers: it never waits for the token task's
//! connection), through the crate's `asynch::request` (it writes, flushes
//! and reads; an error status counts whatever its page).
//!
//! It never fetches a token itself: it copies the current one out of the
//! [`TokenCell`] (waiting for one if there is none), uses the copy, and
//! wipes it. A 401 is reported to the token task, which renews.

use core::fmt;

use embassy_net::Stack;
use embassy_time::{Duration, Timer, with_timeout};
use embedded_oauth2::asynch::Connect;
use embedded_oauth2::http::{ResourceRequest, ResourceUrl};
use embedded_oauth2::tls::{CryptoRngCore, SetupError, TlsConnectError, TlsConnector};
use embedded_oauth2::Attempt;
use zeroize::Zeroize;

use crate::config::{CA_DER, SETTINGS};
use embassy_net::dns::DnsSocket;
use embassy_net::tcp::client::{TcpClient, TcpClientState};
use embedded_oauth2::tls::nal::{AddrType, NalError, NalOpener};
use crate::publish::{HeaderValue, TokenCell};
use crate::token_task::{TlsBuffers, park};
use crate::{HEADER_CAP, RESPONSE_CAP, TCP_RX, TCP_TX};

/// One whole call (connect, handshake, request, response) at most.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// A TCP connection idle this long is reset.
const TCP_IDLE: Duration = Duration::from_secs(30);

/// The service task's static memory (≈25 KiB with `READ_BUFFER` records).
pub struct ServiceResources {
    /// The TCP socket's buffers, for embassy-net's `TcpClient`.
    tcp: TcpClientState<1, TCP_TX, TCP_RX>,
    tls: TlsBuffers,
    /// The response (head and body).
    response: [u8; RESPONSE_CAP],
    /// This task's copy of the `Authorization` value.
    header: HeaderValue<HEADER_CAP>,
}

impl ServiceResources {
    /// Zeroed (for a `ConstStaticCell`: no stack copy).
    pub const fn new() -> Self {
        Self {
            tcp: TcpClientState::new(),
            tls: TlsBuffers::new(),
            response: [0; RESPONSE_CAP],
            header: HeaderValue::new(),
        }
    }
}

impl Default for ServiceResources {
    fn default() -> Self {
        Self::new()
    }
}

/// The connections' opener.
type Opener<'s> = NalOpener<'s, TcpClient<'static, 1, TCP_TX, TCP_RX>, DnsSocket<'static>>;
/// Its errors.
type NetError = NalError<embassy_net::tcp::Error, embassy_net::dns::Error>;

/// Why a call failed.
#[derive(Debug)]
pub enum CallFailure {
    /// The connector could not be built (the CA).
    Setup(SetupError),
    /// The request: TCP or TLS (the transport's error kept inside), or an
    /// answer that is not HTTP/1.1 or a 2xx larger than the buffer.
    Request(embedded_oauth2::Error<TlsConnectError<NetError>>),
    /// Over [`CALL_TIMEOUT`].
    Timeout,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup(e) => write!(f, "TLS connector: {e}"),
            Self::Request(e) => e.fmt(f),
            Self::Timeout => f.write_str("timed out"),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for CallFailure {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Self::Setup(e) => defmt::write!(f, "TLS connector: {}", e),
            Self::Request(e) => defmt::write!(f, "{}", e),
            Self::Timeout => defmt::write!(f, "timed out"),
        }
    }
}

/// Runs the service task for ever. `tls_rng` keys its TLS handshakes.
pub async fn run<R: CryptoRngCore>(
    stack: Stack<'static>,
    resources: &'static mut ServiceResources,
    cell: &'static TokenCell<HEADER_CAP>,
    mut tls_rng: R,
) -> ! {
    let service = match SETTINGS.service() {
        Ok(s) => s,
        Err(e) => {
            error!("configuration: {}", e);
            park().await
        }
    };
    let Some(mut reader) = cell.reader() else {
        error!("too many token readers");
        park().await
    };
    let interval = Duration::from_secs(SETTINGS.service_interval_secs);
    let ServiceResources {
        tcp,
        tls,
        response,
        header,
    } = resources;
    // The same opener type as the token task's (one copy of the TLS code
    // in flash): the crate's `NalOpener` over embassy-net's `TcpClient`.
    let mut tcp_client = TcpClient::new(stack, tcp);
    tcp_client.set_timeout(Some(TCP_IDLE));
    let dns = DnsSocket::new(stack);

    loop {
        // Our own copy of the token; the cell is not locked while we use it.
        let generation = reader.copy_into(header).await;
        let outcome = match with_timeout(
            CALL_TIMEOUT,
            call(
                NalOpener::new(&tcp_client, &dns).with_addr_type(AddrType::IPv4),
                &mut tls_rng,
                &service,
                header,
                tls,
                response,
            ),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(CallFailure::Timeout),
        };
        // Wipe every copy of the token and of the exchange.
        header.clear();
        tls.wipe();

        match outcome {
            Ok((status, _)) if Attempt::<()>::rejects_token(status) => {
                warn!("service answered {}: token {} refused", status, generation);
                cell.refuse(generation);
            }
            Ok((status, body_len)) => {
                cell.accept(generation);
                info!("service answered {} ({} bytes)", status, body_len);
            }
            Err(CallFailure::Setup(e)) => {
                error!("TLS connector: {} (check OAUTH_CA_CERT)", e);
                response.zeroize();
                park().await;
            }
            Err(e) => warn!("service call failed: {}", e),
        }
        response.zeroize();
        Timer::after(interval).await;
    }
}

/// One `GET` with `Authorization: <header>`; the status and body length.
async fn call<R: CryptoRngCore>(
    opener: Opener<'_>,
    rng: &mut R,
    service: &ResourceUrl<'_>,
    header: &HeaderValue<HEADER_CAP>,
    tls: &mut TlsBuffers,
    response: &mut [u8],
) -> Result<(u16, usize), CallFailure> {
    let (read, write) = tls.split();
    let mut connector =
        TlsConnector::new(opener, rng, CA_DER, read, write).map_err(CallFailure::Setup)?;
    get(&mut connector, service, header.expose_secret(), response).await
}

/// The request over any connector (the tests give a scripted one).
async fn get<K: Connect<Error = TlsConnectError<NetError>>>(
    connector: &mut K,
    service: &ResourceUrl<'_>,
    authorization: &str,
    response: &mut [u8],
) -> Result<(u16, usize), CallFailure> {
    let answer = embedded_oauth2::asynch::request(
        connector,
        &ResourceRequest::get(service),
        authorization,
        response,
    )
    .await
    .map_err(CallFailure::Request)?;
    if answer.is_truncated() {
        info!("service answered {}; its body was not read whole", answer.status);
    }
    Ok((answer.status, answer.body_range().len()))
}

#[cfg(test)]
mod tests {
    use embassy_futures::block_on;

    use super::*;
    use crate::testing::{Scripted, http_chunked, http_response, http_until_close};

    /// Calls a service that answers `wire` (in 512-byte reads) as the
    /// service task does.
    fn read(wire: &[u8]) -> Result<(u16, usize), CallFailure> {
        let mut connector = Scripted::new(wire, 512);
        let url = ResourceUrl::parse("https://receipts.test/r/1").unwrap();
        let mut buf = [0u8; RESPONSE_CAP];
        block_on(get(&mut connector, &url, "Bearer t", &mut buf))
    }

    #[test]
    fn a_small_answer_gives_its_status_and_length() {
        assert!(matches!(read(&http_response(401, 300)), Ok((401, 300))));
        assert!(matches!(read(&http_response(200, 2)), Ok((200, 2))));
    }

    /// A 401 error page larger than the response buffer (Tomcat, IIS, a
    /// WAF) is still a 401: the token must be reported refused.
    #[test]
    fn a_401_larger_than_the_buffer_is_still_a_401() {
        for wire in [
            http_response(401, 3000),
            http_chunked(401, 3000),
            http_until_close(401, 3000),
        ] {
            match read(&wire) {
                Ok((401, kept)) => assert!(kept <= RESPONSE_CAP),
                other => panic!("expected the 401, got {other:?}"),
            }
        }
    }

    /// A 2xx must fit (its body is what the caller wants): one larger
    /// than the buffer is an error, and the token is neither accepted nor
    /// refused.
    #[test]
    fn a_200_larger_than_the_buffer_is_an_error() {
        assert!(matches!(
            read(&http_response(200, 100_000)),
            Err(CallFailure::Request(_))
        ));
    }

    /// A 401 whose connection ends inside the body is still a 401.
    #[test]
    fn a_401_cut_short_is_still_a_401() {
        let mut wire = http_response(401, 1000);
        wire.truncate(wire.len() - 500);
        assert!(matches!(read(&wire), Ok((401, _))));
    }

    /// A head that does not fit at all has no status to report.
    #[test]
    fn a_head_larger_than_the_buffer_is_an_error() {
        let mut wire = b"HTTP/1.1 401 Unauthorized\r\nX-Padding: ".to_vec();
        wire.extend(core::iter::repeat_n(b'p', 3000));
        wire.extend(b"\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(read(&wire), Err(CallFailure::Request(_))));
    }
}
