//! The token-task pattern of the `asynch` docs, with a slow server: one
//! task owns the `Client` and renews; another reads a snapshot of the
//! `Authorization` value (`BearerHeader`) without waiting for a handshake
//! and without any lock held across I/O. While a renewal is in flight the
//! reader keeps getting the still-valid token; afterwards the new one; only
//! the token task ever fetches.
#![cfg(feature = "async")]

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;

use common::token_response;
use embassy_futures::join::join;
use embassy_futures::yield_now;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embedded_oauth2::asynch::Connect;
use embedded_oauth2::{BearerHeader, Client, Freshness, Instant, TokenEndpoint};

/// Room for `Bearer <token>`.
const HEADER: usize = 96;

/// The snapshot readers copy: replaced (and the old copy wiped) by the
/// token task; locked only to copy, never across an await.
type Shared = Mutex<NoopRawMutex, RefCell<Option<BearerHeader<HEADER>>>>;

/// A token endpoint that takes 50 polls (5 s of the fake clock) to answer.
struct SlowServer {
    now: Rc<Cell<u64>>,
    in_flight: Rc<Cell<bool>>,
    connections: Rc<Cell<usize>>,
    tokens: Vec<&'static str>,
}

struct SlowConn {
    now: Rc<Cell<u64>>,
    in_flight: Rc<Cell<bool>>,
    response: Vec<u8>,
    pos: usize,
    waited: bool,
}

impl embedded_io_async::ErrorType for SlowConn {
    type Error = Infallible;
}

impl embedded_io_async::Read for SlowConn {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if !self.waited {
            self.waited = true;
            self.in_flight.set(true);
            for _ in 0..50 {
                self.now.set(self.now.get() + 100);
                yield_now().await;
            }
            self.in_flight.set(false);
        }
        let rest = &self.response[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl embedded_io_async::Write for SlowConn {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

impl Connect for SlowServer {
    type Error = Infallible;
    type Connection<'c> = SlowConn;
    async fn connect(&mut self, _: &TokenEndpoint<'_>) -> Result<SlowConn, Infallible> {
        let i = self.connections.get();
        self.connections.set(i + 1);
        Ok(SlowConn {
            now: Rc::clone(&self.now),
            in_flight: Rc::clone(&self.in_flight),
            response: token_response(self.tokens[i], Some(120)),
            pos: 0,
            waited: false,
        })
    }
}

#[test]
fn a_reader_gets_the_valid_token_while_the_owner_renews() {
    let now = Rc::new(Cell::new(0u64));
    let in_flight = Rc::new(Cell::new(false));
    let connections = Rc::new(Cell::new(0));
    let shared: Shared = Mutex::new(RefCell::new(None));
    let clock = {
        let now = Rc::clone(&now);
        move || Instant::from_millis(now.get())
    };
    let mut server = SlowServer {
        now: Rc::clone(&now),
        in_flight: Rc::clone(&in_flight),
        connections: Rc::clone(&connections),
        tokens: vec!["first", "second"],
    };
    let done = Cell::new(false);

    // The token task: owns the client, renews when due, publishes.
    let owner = async {
        let mut client: Client<_> = Client::new(common::config(), clock.clone());
        let mut work = [0u8; 1024];
        for _ in 0..2 {
            let token = client.asynch().token(&mut server, &mut work).await.unwrap();
            let header = token.bearer::<HEADER>().unwrap();
            // The old copy is dropped (wiped) inside the lock; no await here.
            shared.lock(|s| s.replace(Some(header)));
            // Sleep until the renewal is due (120 s token: due at 60 s).
            while client.freshness() == Freshness::Fresh {
                now.set(now.get() + 1_000);
                yield_now().await;
            }
        }
        done.set(true);
    };

    // A reader: copies the snapshot, checks it is valid, uses it.
    let mut seen_during_renewal = Vec::new();
    let mut seen = Vec::new();
    let reader = async {
        while !done.get() {
            let copy = shared.lock(|s| s.borrow().clone());
            if let Some(h) = copy {
                let t = Instant::from_millis(now.get());
                assert!(h.is_valid(t), "a reader got an expired token");
                if in_flight.get() {
                    seen_during_renewal.push(h.as_str().to_owned());
                }
                seen.push(h.as_str().to_owned());
                // `h` (the copy) is wiped here, when it is dropped.
            }
            yield_now().await;
        }
    };
    embassy_futures::block_on(join(owner, reader));

    assert_eq!(connections.get(), 2, "only the token task fetches");
    assert!(
        seen_during_renewal.iter().any(|h| h == "Bearer first"),
        "the reader was served the still-valid token while the renewal was in flight"
    );
    assert!(
        seen_during_renewal.iter().all(|h| h == "Bearer first"),
        "{seen_during_renewal:?}"
    );
    assert_eq!(seen.last().map(String::as_str), Some("Bearer second"));
}
