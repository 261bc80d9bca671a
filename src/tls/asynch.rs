//! The async connector: `tls.asynch().open(host, port)` and
//! [`crate::asynch::Connect`] over an async TCP [`Open`](crate::tls::asynch::Open)er. Dropping a
//! [`TlsStream`](crate::tls::asynch::TlsStream) cannot send close_notify (a destructor cannot await): call
//! [`TlsStream::close`](crate::tls::asynch::TlsStream::close); the client's async driver does.

crate::tls::io::tls_io! {
    io: embedded_io_async,
    tls: embedded_tls,
    connect: crate::asynch::Connect,
    open: open_async,
    await: [.await],
    maybe_async: [async],
    vis: pub(crate),
}

impl<'a, O: ErrorType, R, B, D> TlsConnector<'a, O, R, B, D> {
    /// The async side of this connector (feature `async`).
    pub fn asynch(&mut self) -> crate::asynch::Asynch<'_, Self> {
        crate::asynch::Asynch(self, crate::client::NoSigner)
    }
}

impl<'c, 'a, O, R, B, D> crate::asynch::Asynch<'c, TlsConnector<'a, O, R, B, D>>
where
    O: Open,
    R: CryptoRngCore,
    B: AsMut<[u8]>,
    D: TlsClock,
{
    /// [`TlsConnector::open`](crate::tls::TlsConnector::open), over an async
    /// opener.
    pub async fn open(
        self,
        host: &str,
        port: u16,
    ) -> Result<TlsStream<'c, O::Socket<'c>>, TlsConnectError<O::Error>> {
        self.0.open_async(host, port).await
    }
}
