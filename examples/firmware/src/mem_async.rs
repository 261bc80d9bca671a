//! The in-memory transport for the async driver (`embedded_io_async`).

use embedded_io_async::{ErrorType, Read, Write};
use embedded_oauth2::TokenEndpoint;

use crate::mem::{MemError, MemStream, Wire};

/// An async connection over a [`Wire`].
pub struct AsyncMemStream<'a>(MemStream<'a>);

impl ErrorType for AsyncMemStream<'_> {
    type Error = MemError;
}

impl Read for AsyncMemStream<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, MemError> {
        // Yield once per read, as a network stack waiting for data would.
        embassy_futures::yield_now().await;
        self.0.read_now(buf)
    }
}

impl Write for AsyncMemStream<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, MemError> {
        self.0.write_now(buf)
    }

    async fn flush(&mut self) -> Result<(), MemError> {
        Ok(())
    }
}

/// An async connector over a [`Wire`].
pub struct AsyncConnector<'a>(pub &'a Wire<'a>);

impl<'a> embedded_oauth2::asynch::Connect for AsyncConnector<'a> {
    type Error = MemError;
    type Connection<'c>
        = AsyncMemStream<'a>
    where
        Self: 'c;

    async fn connect(
        &mut self,
        endpoint: &TokenEndpoint<'_>,
    ) -> Result<AsyncMemStream<'a>, MemError> {
        let host = if endpoint.host() == "auth.example.com" {
            "auth.example.com"
        } else {
            "?"
        };
        self.0.connect(host).map(AsyncMemStream)
    }
}
