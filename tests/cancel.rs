//! Cancellation at every await point of an async fetch: what
//! `embassy_time::with_timeout` does when it fires. Every operation of the
//! connection (connect, each write, the flush, each read, the close) yields
//! once before it completes; the renewal of a still-valid token is polled
//! `k` times and dropped, for every `k` until it completes. After each
//! cancellation the client is consistent: the old token is kept, the work
//! buffer is wiped, the attempt counts as a failure (the client backs off)
//! — unless the new token had already been stored, which a cancelled close
//! does not undo.
#![cfg(feature = "async")]

mod common;

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use common::token_response;
use embedded_oauth2::asynch::Connect;
use embedded_oauth2::{Client, Freshness, Instant, TokenEndpoint};

const BUF: usize = 2048;
const OLD: &str = "old-token-still-valid";
const NEW: &str = "new-token-after-renewal";

/// Pending once, then ready: one await point.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

/// A connection that yields before every operation and answers `response`
/// in reads of at most 97 bytes.
struct Yielding {
    response: Vec<u8>,
    pos: usize,
}

impl embedded_io_async::ErrorType for Yielding {
    type Error = Infallible;
}

impl embedded_io_async::Read for Yielding {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        yield_once().await;
        let rest = &self.response[self.pos..];
        let n = rest.len().min(buf.len()).min(97);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl embedded_io_async::Write for Yielding {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        yield_once().await;
        Ok(buf.len().min(200))
    }
    async fn flush(&mut self) -> Result<(), Infallible> {
        yield_once().await;
        Ok(())
    }
}

/// Hands out `Yielding` connections answering `response`; counts them,
/// and its releases (`Connect::release`: the TLS connector's wipe of its
/// record buffers).
struct Server {
    response: Vec<u8>,
    connections: Rc<Cell<usize>>,
    releases: Rc<Cell<usize>>,
}

impl Connect for Server {
    type Error = Infallible;
    type Connection<'c> = Yielding;

    async fn connect(&mut self, _: &TokenEndpoint<'_>) -> Result<Yielding, Infallible> {
        yield_once().await;
        self.connections.set(self.connections.get() + 1);
        Ok(Yielding {
            response: self.response.clone(),
            pos: 0,
        })
    }

    async fn close<'c>(conn: Yielding) -> Result<(), Infallible>
    where
        Self: 'c,
    {
        yield_once().await;
        drop(conn);
        Ok(())
    }

    fn release(&mut self) {
        self.releases.set(self.releases.get() + 1);
    }
}

#[test]
fn a_renewal_cancelled_at_any_await_point_leaves_the_client_consistent() {
    let now = Rc::new(Cell::new(0u64));
    let clock = {
        let now = Rc::clone(&now);
        move || Instant::from_millis(now.get())
    };
    let connections = Rc::new(Cell::new(0));
    let mut points = 0;
    let mut stored_before_close = 0;
    for k in 1.. {
        // A client holding a valid token that is due for renewal.
        now.set(0);
        let mut client: Client<_> = Client::new(common::config(), clock.clone());
        let mut old = Server {
            response: token_response(OLD, Some(3600)),
            connections: Rc::clone(&connections),
            releases: Rc::new(Cell::new(0)),
        };
        embassy_futures::block_on(client.asynch().token(&mut old, &mut [0u8; BUF])).unwrap();
        now.set(3_550_000);
        assert_eq!(client.freshness(), Freshness::RefreshDue);

        let releases = Rc::new(Cell::new(0));
        let mut server = Server {
            response: token_response(NEW, Some(3600)),
            connections: Rc::clone(&connections),
            releases: Rc::clone(&releases),
        };
        let mut buf = vec![0xA5u8; BUF];
        let mut done = false;
        {
            let mut fut = pin!(client.asynch().token(&mut server, &mut buf));
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..k {
                if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                    assert_eq!(r.unwrap().expose_secret(), NEW);
                    done = true;
                    break;
                }
            }
            // Not ready after k polls: the timeout drops the future here.
        }
        assert!(buf.iter().all(|&b| b == 0), "k={k}: work buffer not wiped");
        // The connector is released however the exchange ended, cancelled
        // included (once the request was built).
        assert_eq!(releases.get(), 1, "k={k}: the connector was not released");
        if done {
            break;
        }
        points += 1;
        let kept = client.cached().map(|t| t.expose_secret().to_owned());
        if kept.as_deref() == Some(NEW) {
            // Cancelled while closing: the token had been stored.
            stored_before_close += 1;
            assert_eq!(client.failures(), 0, "k={k}");
            continue;
        }
        assert_eq!(kept.as_deref(), Some(OLD), "k={k}: the old token is kept");
        assert_eq!(
            client.failures(),
            1,
            "k={k}: the attempt counts as a failure"
        );
        assert!(client.next_attempt().is_some(), "k={k}: backing off");
        assert!(client.blocked().is_none(), "k={k}");
        // Usable: after the backoff the next renewal goes through.
        now.set(3_550_000 + 10_000);
        let t = embassy_futures::block_on(client.asynch().token(&mut server, &mut buf)).unwrap();
        assert_eq!(t.expose_secret(), NEW, "k={k}");
        assert_eq!(client.failures(), 0, "k={k}");
    }
    // connect, the request's writes (200 bytes each), the flush, the
    // response's reads (97 bytes each) and the close: each was a
    // cancellation point (7 with this request and response).
    assert!(points >= 6, "only {points} await points");
    assert_eq!(stored_before_close, 1, "the close is the last await point");
}
