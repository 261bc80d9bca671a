//! The connector's I/O, written once and instantiated twice like the
//! client's driver (`src/driver.rs`): blocking over `embedded_io` and async
//! over `embedded_io_async`. Every decision (verification, error mapping,
//! end of stream) lives in the parent module; this only moves bytes.

macro_rules! tls_io {
    (
        io: $io:ident,
        tls: $($tls:ident)::+,
        connect: $($connect:ident)::+,
        open: $open:ident,
        await: [$($await:tt)*],
        maybe_async: [$($async:ident)?],
        vis: $vis:vis,
    ) => {
        use embedded_io::ErrorType;
        use $io::{Read, Write};
        use $($tls)::+::TlsConnection;
        use embedded_tls::blocking::{TlsClock, TlsConfig, TlsContext};

        use crate::credentials::TokenEndpoint;
        use crate::tls::{
            CryptoRngCore, Eof, Framing, Provider, Socket, Suite, TlsConnectError,
            TlsConnector, TlsError, Verifier, Wire, finish, is_dns_name, RSA_SIGNATURES,
        };

        /// Opens TCP connections: your network stack's part (embassy-net
        /// `TcpSocket`, a modem's transparent mode, `std::net::TcpStream`).
        /// The socket may borrow from the opener (its buffers).
        #[allow(async_fn_in_trait)]
        pub trait Open: ErrorType {
            /// An open TCP connection.
            type Socket<'s>: Read + Write + ErrorType<Error = Self::Error>
            where
                Self: 's;
            /// Resolves `host` and connects to `port`.
            $($async)? fn open(&mut self, host: &str, port: u16) -> Result<Self::Socket<'_>, Self::Error>;
        }

        /// embedded-tls's connection over the caller's socket.
        type Connection<'c, S> = TlsConnection<'c, Socket<'c, S>, Suite>;

        /// Where a stream is.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum State {
            Open,
            /// close_notify or a clean end of the TCP stream was read.
            Closed,
            /// An error: no more I/O.
            Failed,
        }

        /// An open, verified TLS 1.3 connection (see the module docs for how
        /// it ends).
        ///
        /// **Flush after writing a request.** What you write is gathered
        /// into one TLS record in the write buffer and goes out only when
        /// the record is full or you call `flush()`. A request written
        /// without a flush is never sent: the read that follows waits for
        /// an answer that cannot come (until the socket's timeout; on
        /// embassy-net, which has none by default, forever). The crate's
        /// own exchanges flush ([`request`](crate::blocking::request) for
        /// the services you call).
        pub struct TlsStream<'c, S: Read + Write> {
            conn: Option<Connection<'c, S>>,
            wire: &'c Wire<S::Error>,
            state: State,
        }

        impl<'a, O, R, B, D> TlsConnector<'a, O, R, B, D>
        where
            O: Open,
            R: CryptoRngCore,
            B: AsMut<[u8]>,
            D: TlsClock,
        {
            /// Opens a TCP connection to `host:port` through the opener and
            /// runs the TLS 1.3 handshake, verifying the server (chain to
            /// a root, the name — `host` unless overridden —, the
            /// CertificateVerify, the pin). Use it for the services you call
            /// with the token too.
            $vis $($async)? fn $open(
                &mut self,
                host: &str,
                port: u16,
            ) -> Result<TlsStream<'_, O::Socket<'_>>, TlsConnectError<O::Error>> {
                let name = self.name_for(host)?;
                let Self {
                    opener,
                    rng,
                    roots,
                    pin,
                    max_fragment_length,
                    read_buf,
                    write_buf,
                    wire,
                    #[cfg(feature = "mtls")]
                    client,
                    ..
                } = self;
                wire.reset();
                let tcp = opener
                    .open(host, port)
                    $($await)*
                    .map_err(TlsConnectError::Transport)?;
                let socket = Socket {
                    inner: tcp,
                    wire: &*wire,
                    framing: Framing::default(),
                };
                let mut conn = TlsConnection::new(socket, read_buf.as_mut(), write_buf.as_mut());
                let mut config = TlsConfig::new();
                if RSA_SIGNATURES {
                    config = config.enable_rsa_signatures();
                }
                if is_dns_name(name) {
                    config = config.with_server_name(name);
                }
                if let Some(length) = *max_fragment_length {
                    config = config.with_max_fragment_length(length);
                }
                let mut provider = Provider {
                    rng,
                    verifier: Verifier::<D>::new(*roots, name, *pin),
                    #[cfg(feature = "mtls")]
                    client: *client,
                    #[cfg(not(feature = "mtls"))]
                    client: core::marker::PhantomData,
                };
                let handshake = conn.open(TlsContext::new(&config, &mut provider)) $($await)*;
                finish(handshake, &provider.verifier, wire)?;
                Ok(TlsStream {
                    conn: Some(conn),
                    wire: &*wire,
                    state: State::Open,
                })
            }
        }

        impl<'c, S: Read + Write> TlsStream<'c, S> {
            /// Sends close_notify and closes the connection (nothing is
            /// sent when it already ended or failed).
            pub $($async)? fn close(mut self) -> Result<(), TlsConnectError<S::Error>> {
                match self.conn.take() {
                    Some(conn) if self.state == State::Open => conn
                        .close()
                        $($await)*
                        .map(drop)
                        .map_err(|(_, e)| self.wire.translate(e)),
                    _ => Ok(()),
                }
            }

            fn conn(&mut self) -> Result<&mut Connection<'c, S>, TlsConnectError<S::Error>> {
                match (self.state, self.conn.as_mut()) {
                    (State::Open, Some(conn)) => Ok(conn),
                    _ => Err(TlsConnectError::Closed),
                }
            }

            fn fail(&mut self, e: TlsError) -> TlsConnectError<S::Error> {
                self.state = State::Failed;
                self.wire.translate(e)
            }
        }

        impl<S: Read + Write> ErrorType for TlsStream<'_, S> {
            type Error = TlsConnectError<S::Error>;
        }

        impl<S: Read + Write> Read for TlsStream<'_, S> {
            $($async)? fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
                if self.state == State::Closed || buf.is_empty() {
                    return Ok(0);
                }
                match self.conn()?.read(buf) $($await)* {
                    Ok(n) => Ok(n),
                    Err(TlsError::ConnectionClosed) => {
                        self.state = State::Closed;
                        Ok(0)
                    }
                    Err(TlsError::IoError) if self.wire.eof() == Some(Eof::AtRecordBoundary) => {
                        self.state = State::Closed;
                        Ok(0)
                    }
                    Err(e) => Err(self.fail(e)),
                }
            }
        }

        impl<S: Read + Write> Write for TlsStream<'_, S> {
            $($async)? fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
                match self.conn()?.write(buf) $($await)* {
                    Ok(n) => Ok(n),
                    Err(e) => Err(self.fail(e)),
                }
            }

            $($async)? fn flush(&mut self) -> Result<(), Self::Error> {
                match self.conn()?.flush() $($await)* {
                    Ok(()) => Ok(()),
                    Err(e) => Err(self.fail(e)),
                }
            }
        }

        impl<'a, O, R, B, D> $($connect)::+ for TlsConnector<'a, O, R, B, D>
        where
            O: Open,
            R: CryptoRngCore,
            B: AsMut<[u8]>,
            D: TlsClock,
        {
            type Error = TlsConnectError<O::Error>;
            type Connection<'c>
                = TlsStream<'c, O::Socket<'c>>
            where
                Self: 'c;

            $($async)? fn connect(
                &mut self,
                endpoint: &TokenEndpoint<'_>,
            ) -> Result<Self::Connection<'_>, Self::Error> {
                self.$open(endpoint.host(), endpoint.port()) $($await)*
            }

            $($async)? fn close<'c>(connection: Self::Connection<'c>) -> Result<(), Self::Error>
            where
                Self: 'c,
            {
                connection.close() $($await)*
            }

            fn release(&mut self) {
                self.wipe_buffers();
            }
        }
    };
}

pub(crate) use tls_io;
