//! The blocking connector: [`TlsConnector::open`](crate::tls::TlsConnector::open) and
//! [`crate::blocking::Connect`] over a blocking TCP [`Open`](crate::tls::blocking::Open)er. A
//! [`TlsStream`](crate::tls::blocking::TlsStream) sends close_notify when dropped while still open.

crate::tls::io::tls_io! {
    io: embedded_io,
    tls: embedded_tls::blocking,
    connect: crate::blocking::Connect,
    open: open,
    await: [],
    maybe_async: [],
    vis: pub,
}

impl<S: Read + Write> Drop for TlsStream<'_, S> {
    fn drop(&mut self) {
        // Best effort: close_notify when the stream is still open.
        if let Some(conn) = self.conn.take()
            && self.state == State::Open
        {
            let _ = conn.close();
        }
    }
}
