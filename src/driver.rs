//! The one driver, written once and instantiated twice: blocking (over
//! `embedded_io`) and async (over `embedded_io_async`). Only `.await` and the
//! trait paths differ; every decision is made by the sans-IO core
//! ([`Exchange`](crate::http::Exchange), [`Client`](crate::Client)).

macro_rules! driver {
    (
        io: $io:ident,
        fn_kind: $fn_kind:ident,
        names: { token: $token:ident, fetch: $fetch:ident, call: $call:ident, fetch_into: $fetch_into:ident, revoke: $revoke:ident },
        await: [$($await:tt)*],
        maybe_async: [$($async:ident)?],
        vis: $vis:vis,
        presign: $presign:path,
    ) => {
        use $io::{Error as _, ErrorKind, ErrorType, Read, Write};

        use crate::client::{
            Attempt, CallError, CallPlan, Client, Deadline, Next, Renewal, WipeOnDrop,
        };
        use crate::credentials::TokenEndpoint;
        use crate::error::Error;
        use crate::exchange::Exchange;
        use crate::response::TokenResponse;
        use crate::retry::Random;
        use crate::time::{Clock, WallClock};
        use crate::token::Token;

        /// Runs one exchange over an open stream: writes the request, reads
        /// the response, parses it. `Interrupted` is retried; other transport
        /// errors are returned intact.
        ///
        /// Note for `std` hosts: embedded-io 0.7 maps
        /// `std::io::ErrorKind::WouldBlock` (what socket read/write timeouts
        /// produce on Unix) to `ErrorKind::Other`; the original
        /// `std::io::Error` is still inside [`Error::Transport`].
        pub $($async)? fn run<'w, S: Read + Write>(
            stream: &mut S,
            ex: Exchange<'w>,
        ) -> Result<TokenResponse<'w>, Error<S::Error>> {
            run_with::<S, fn() -> crate::time::Instant>(stream, ex, None, None) $($await)*
        }

        /// [`run`], keeping the free text of an error response
        /// (description, URI, `WWW-Authenticate`) in `details`.
        pub $($async)? fn run_with_details<'w, S: Read + Write>(
            stream: &mut S,
            ex: Exchange<'w>,
            details: &mut crate::error::ErrorDetails,
        ) -> Result<TokenResponse<'w>, Error<S::Error>> {
            run_with::<S, fn() -> crate::time::Instant>(stream, ex, Some(details), None) $($await)*
        }

        $($async)? fn run_with<'w, S: Read + Write, C: Clock>(
            stream: &mut S,
            ex: Exchange<'w>,
            details: Option<&mut crate::error::ErrorDetails>,
            deadline: Option<&Deadline<'_, C>>,
        ) -> Result<TokenResponse<'w>, Error<S::Error>> {
            exchange(stream, ex, details, deadline, |ex, details| match details {
                Some(d) => ex.finish_with_details(d),
                None => ex.finish(),
            }) $($await)*
        }

        /// The connector of one exchange, released when this is dropped
        /// (`Connect::release`: the TLS connector wipes its record buffers,
        /// which held the decrypted response, or a request with the
        /// credentials) however the exchange ends: returned, failed, or
        /// (async) cancelled at any await point. Its connection borrows it,
        /// so the connection is gone first.
        pub(crate) struct Released<'k, K: Connect>(pub(crate) &'k mut K);

        impl<K: Connect> Drop for Released<'_, K> {
            fn drop(&mut self) {
                self.0.release();
            }
        }

        /// One exchange on a connection of its own: connects through
        /// `connector` to `endpoint`, runs `ex` on it (write, flush, read;
        /// no deadline: the transport's timeouts bound it), closes the
        /// connection and releases the connector however this ends. For
        /// discovery and resource requests.
        pub(crate) $($async)? fn exchange_once<K: Connect, P: crate::exchange::Pump>(
            connector: &mut K,
            endpoint: &TokenEndpoint<'_>,
            ex: P,
        ) -> Result<(), Error<K::Error>> {
            let connector = Released(connector);
            let mut conn = connector.0.connect(endpoint) $($await)* .map_err(Error::Transport)?;
            let r = exchange(
                &mut conn,
                ex,
                None,
                None::<&Deadline<'_, fn() -> crate::time::Instant>>,
                |_, _| Ok(()),
            ) $($await)*;
            let _ = K::close(conn) $($await)*;
            r
        }

        /// Writes the request of `ex`, reads its whole response and ends
        /// it with `finish`.
        pub(crate) $($async)? fn exchange<'d, S: Read + Write, C: Clock, P: crate::exchange::Pump, T>(
            stream: &mut S,
            mut ex: P,
            details: Option<&'d mut crate::error::ErrorDetails>,
            deadline: Option<&Deadline<'_, C>>,
            finish: impl FnOnce(P, Option<&'d mut crate::error::ErrorDetails>) -> Result<T, Error>,
        ) -> Result<T, Error<S::Error>> {
            let late = || deadline.is_some_and(Deadline::passed);
            while !ex.to_send().is_empty() {
                match stream.write(ex.to_send()) $($await)* {
                    Ok(0) => return Err(Error::WriteZero),
                    Ok(n) => ex.sent(n),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::Transport(e)),
                }
                if late() {
                    return Err(Error::Timeout);
                }
            }
            stream.flush() $($await)* .map_err(Error::Transport)?;
            loop {
                let dst = ex.recv_buf().map_err(Error::widen)?;
                let n = match stream.read(dst) $($await)* {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::Transport(e)),
                };
                if ex.received(n).map_err(Error::widen)? {
                    break;
                }
                if late() {
                    return Err(Error::Timeout);
                }
            }
            finish(ex, details).map_err(Error::widen)
        }

        impl<C: Clock, const N: usize, const T: usize, const S: usize, R: Random, W: WallClock>
            Client<'_, C, N, T, S, R, W>
        {
            /// [`Client::token`], with an assertion signer.
            $vis $($async)? fn $token<K: Connect, G: $presign>(
                &mut self,
                connector: &mut K,
                buf: &mut [u8],
                signer: &G,
            ) -> Result<&Token<T, S>, Error<K::Error>> {
                if self.use_cached().map_err(Error::widen)? {
                    return Ok(self.current());
                }
                self.$fetch(connector, buf, signer) $($await)*
            }

            /// [`Client::fetch`], with an assertion signer.
            $vis $($async)? fn $fetch<K: Connect, G: $presign>(
                &mut self,
                connector: &mut K,
                buf: &mut [u8],
                signer: &G,
            ) -> Result<&Token<T, S>, Error<K::Error>> {
                // Wiped however this ends: returned, failed, or (async)
                // dropped at any await point by a timeout.
                let mut buf = WipeOnDrop(buf);
                let mut tries = self.start_fetch();
                let mut result = self.$fetch_into(connector, &mut buf.0, signer) $($await)*;
                // Again at once while the core says so (a DPoP nonce the
                // server asked for, the next `ClientAuth::Auto` style); it
                // bounds the attempts of one fetch.
                while self.again(&result, &mut tries) {
                    result = self.$fetch_into(connector, &mut buf.0, signer) $($await)*;
                }
                self.settle(result)
            }

            /// [`Client::call`], with an assertion signer.
            $vis $($async)? fn $call<K: Connect, G: $presign, Rv, X>(
                &mut self,
                connector: &mut K,
                buf: &mut [u8],
                signer: &G,
                mut attempt: impl $fn_kind(&mut K, &Token<T, S>) -> Result<Attempt<Rv>, X>,
            ) -> Result<Rv, CallError<K::Error, X>> {
                let mut plan = CallPlan::default();
                loop {
                    let renewed = match self.call_renewal(&plan) {
                        Renewal::IfDue => self.$token(connector, buf, signer) $($await)* .map(drop),
                        Renewal::Now => self.$fetch(connector, buf, signer) $($await)* .map(drop),
                    };
                    self.call_proceeds(&plan, renewed).map_err(CallError::Token)?;
                    let outcome = attempt(connector, self.current()) $($await)*
                        .map_err(CallError::Resource)?;
                    match self.call_after(&mut plan, outcome) {
                        Next::Return(r) => return Ok(r),
                        Next::GiveUp => return Err(CallError::Rejected),
                        Next::RenewAndRetry => {}
                    }
                }
            }

            $($async)? fn $fetch_into<K: Connect, G: $presign>(
                &mut self,
                connector: &mut K,
                buf: &mut [u8],
                signer: &G,
            ) -> Result<(), Error<K::Error>> {
                // An async signer signs the assertion before the request is
                // written: the executor runs other tasks meanwhile.
                #[cfg(feature = "private-key-jwt")]
                if signer.wanted() && self.signs_assertions() {
                    let n = self.prepare_signature(buf).map_err(Error::widen)?;
                    let input = buf.get(..n).unwrap_or_default();
                    let signature = signer.sign(input) $($await)* .map_err(|()| Error::Sign)?;
                    self.attach_signature(signature);
                }
                // So does an async DPoP signer the proof.
                #[cfg(feature = "dpop")]
                if signer.wanted_dpop() && self.config().dpop_requested() {
                    let n = self.prepare_dpop_signature(buf).map_err(Error::widen)?;
                    let input = buf.get(..n).unwrap_or_default();
                    let signature = signer.sign_dpop(input) $($await)* .map_err(|()| Error::Sign)?;
                    self.attach_dpop_signature(signature);
                }
                #[cfg(not(feature = "private-key-jwt"))]
                let _ = signer;
                let (ex, started) = self.begin(buf).map_err(Error::widen)?;
                let connector = Released(connector);
                let mut conn = connector
                    .0
                    .connect(self.config().endpoint()) $($await)*
                    .map_err(Error::Transport)?;
                let (details, deadline) = self.exchange_parts(started);
                let resp = run_with(&mut conn, ex, Some(details), Some(&deadline)) $($await)*;
                // The token is stored before the connection is closed, so a
                // close that hangs (and is cancelled) loses nothing.
                let stored = match resp {
                    Ok(r) => self.complete(&r, started).map(drop).map_err(Error::widen),
                    Err(e) => Err(e),
                };
                // close_notify for TLS; the outcome is the exchange's.
                // (`connector` is released as it goes out of scope.)
                let _ = K::close(conn) $($await)*;
                stored
            }

            /// [`Client::revoke`](crate::Client::revoke).
            #[cfg(feature = "revocation")]
            $vis $($async)? fn $revoke<K: Connect>(
                &mut self,
                connector: &mut K,
                buf: &mut [u8],
            ) -> Result<(), Error<K::Error>> {
                let mut buf = WipeOnDrop(buf);
                let started = self.now();
                let Some(ex) = self.begin_revocation(&mut buf.0).map_err(Error::widen)? else {
                    return Ok(());
                };
                let Some(endpoint) = self.config().revocation_endpoint() else {
                    return Err(Error::Config(crate::error::ConfigError::NoRevocationEndpoint));
                };
                let connector = Released(connector);
                let mut conn = connector.0.connect(&endpoint) $($await)* .map_err(Error::Transport)?;
                let (details, deadline) = self.exchange_parts(started);
                let result = exchange(&mut conn, ex, Some(details), Some(&deadline), |ex, d| {
                    match d {
                        Some(d) => ex.finish_revocation(d),
                        None => Ok(()),
                    }
                }) $($await)*;
                let _ = K::close(conn) $($await)*;
                drop(connector);
                if result.is_ok() {
                    self.revoked();
                }
                result
            }
        }
    };
}

pub(crate) use driver;
