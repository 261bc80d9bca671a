//! The async connector: [`TlsConnector::open_async`](crate::tls::TlsConnector::open_async) and
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
}
