//! Handing the current token from the token task to the tasks that use it,
//! with no lock held across I/O and every copy wiped.
//!
//! ```text
//!  token task ── owns Client ── publish(&Token) ─┐
//!                                                 ▼
//!               TokenCell: blocking Mutex<CriticalSectionRawMutex, RefCell<Slot>>
//!                 Slot = the `Bearer …` header value + expiry + generation
//!                                                 │ copy_into (memcpy, no await)
//!  service task ◀── its own HeaderValue ◀─────────┘  … I/O … then clear()
//!       │ 401: reject(generation) ──Signal──▶ token task: invalidate, fetch
//! ```
//!
//! * **No lock across I/O**: the mutex is a blocking one (a critical
//!   section), so it *cannot* be held across an `.await`; readers copy the
//!   value out (≈2 KiB memcpy with interrupts off for a few microseconds)
//!   and do their I/O on the copy.
//! * **Wiping**: [`HeaderValue`] zeroizes its bytes whenever it is replaced,
//!   cleared or dropped; the slot's copy is zeroized before a new token is
//!   written, when the token task withdraws it (expired, refused), and
//!   readers clear theirs after each request.
//! * **One refresher**: only the token task owns the `Client`; readers never
//!   fetch. A refused token is reported with its generation, so two reports
//!   for the same token (or a late one for a token already replaced) cause
//!   at most one renewal.
//! * Notification: a `Watch` carries only the generation number (never the
//!   token), so readers can wait for the first token or a new one.

use core::cell::RefCell;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_sync::watch::{Receiver, Watch};
use embedded_oauth2::{Clock, EmbassyClock, Instant, Token};
use zeroize::Zeroize;

/// The most tasks that can wait on a [`TokenCell`] at once.
pub const MAX_READERS: usize = 4;

/// An `Authorization` header value, `Bearer <token>`, in a fixed buffer.
///
/// It is secret: no `Debug`, `Display` or `defmt::Format`, no `Clone`; the
/// bytes are zeroized on [`HeaderValue::clear`], before being overwritten,
/// and on drop.
pub struct HeaderValue<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> HeaderValue<N> {
    /// An empty value.
    pub const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// `true` when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value, `Bearer …` (empty when cleared). Named like the crate's
    /// `expose_secret` so every use stands out.
    pub fn expose_secret(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// Zeroizes the whole buffer (bytes past `len` are zero already, but a
    /// failed write may have left some).
    pub fn clear(&mut self) {
        self.bytes.zeroize();
        self.len = 0;
    }

    /// Replaces the value with `token`'s `Bearer …`; on failure (capacity)
    /// it is left empty.
    pub fn set_from<const T: usize, const S: usize>(
        &mut self,
        token: &Token<T, S>,
    ) -> Result<(), embedded_oauth2::Error> {
        self.clear();
        match token.authorization_value(&mut self.bytes) {
            Ok(v) => {
                self.len = v.len();
                Ok(())
            }
            Err(e) => {
                self.clear();
                Err(e)
            }
        }
    }

    /// Replaces the value with a copy of `other`.
    fn copy_from(&mut self, other: &Self) {
        self.bytes[..self.len].zeroize();
        self.bytes[..other.len].copy_from_slice(&other.bytes[..other.len]);
        self.len = other.len;
    }
}

impl<const N: usize> Default for HeaderValue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Drop for HeaderValue<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

struct Slot<const N: usize> {
    header: HeaderValue<N>,
    expires_at: Instant,
    /// Bumped for each new token (0: none yet).
    generation: u32,
    /// The current generation was reported refused.
    refused: bool,
    /// Refusals since a token was last accepted by a service.
    refusals: u32,
}

/// The published token: written by the token task, copied by readers.
pub struct TokenCell<const N: usize> {
    slot: Mutex<CriticalSectionRawMutex, RefCell<Slot<N>>>,
    changed: Watch<CriticalSectionRawMutex, u32, MAX_READERS>,
    refused: Signal<CriticalSectionRawMutex, u32>,
}

impl<const N: usize> TokenCell<N> {
    /// An empty cell (for a `static`).
    pub const fn new() -> Self {
        Self {
            slot: Mutex::new(RefCell::new(Slot {
                header: HeaderValue::new(),
                expires_at: Instant::ZERO,
                generation: 0,
                refused: false,
                refusals: 0,
            })),
            changed: Watch::new(),
            refused: Signal::new(),
        }
    }

    /// Publishes `token` as a new generation (the previous value is
    /// zeroized first). Returns the generation.
    pub fn publish<const T: usize, const S: usize>(
        &self,
        token: &Token<T, S>,
    ) -> Result<u32, embedded_oauth2::Error> {
        let generation = self.slot.lock(|slot| {
            let mut slot = slot.borrow_mut();
            slot.header.set_from(token)?;
            slot.expires_at = token.expires_at();
            slot.generation = slot.generation.wrapping_add(1).max(1);
            slot.refused = false;
            Ok::<u32, embedded_oauth2::Error>(slot.generation)
        })?;
        self.changed.sender().send(generation);
        Ok(generation)
    }

    /// Withdraws the token (expired, or refused): readers wait for the next.
    pub fn withdraw(&self) {
        self.slot.lock(|slot| slot.borrow_mut().header.clear());
    }

    /// The generation in force (0: none yet).
    pub fn generation(&self) -> u32 {
        self.slot.lock(|slot| slot.borrow().generation)
    }

    /// Copies the current value into `out` when there is one that has not
    /// expired at `now`; returns its generation. `out` is cleared otherwise.
    pub fn copy_into(&self, out: &mut HeaderValue<N>, now: Instant) -> Option<u32> {
        self.slot.lock(|slot| {
            let slot = slot.borrow();
            if slot.header.is_empty() || now >= slot.expires_at {
                out.clear();
                None
            } else {
                out.copy_from(&slot.header);
                Some(slot.generation)
            }
        })
    }

    /// A reader that can wait for tokens (`None` past [`MAX_READERS`]).
    pub fn reader(&self) -> Option<TokenReader<'_, N>> {
        Some(TokenReader {
            cell: self,
            changes: self.changed.receiver()?,
        })
    }

    /// A service refused the token of `generation` (HTTP 401). Only the
    /// first report for the generation in force counts; the token task
    /// hears of it through [`TokenCell::refused`].
    pub fn refuse(&self, generation: u32) {
        let counted = self.slot.lock(|slot| {
            let mut slot = slot.borrow_mut();
            if generation != 0 && slot.generation == generation && !slot.refused {
                slot.refused = true;
                slot.refusals = slot.refusals.saturating_add(1);
                true
            } else {
                false
            }
        });
        if counted {
            self.refused.signal(generation);
        }
    }

    /// A service accepted the token of `generation`: refusals are forgotten.
    pub fn accept(&self, generation: u32) {
        self.slot.lock(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.generation == generation {
                slot.refusals = 0;
            }
        });
    }

    /// Refusals since a token was last accepted.
    pub fn refusals(&self) -> u32 {
        self.slot.lock(|slot| slot.borrow().refusals)
    }

    /// Waits for a refusal report; returns the refused generation.
    pub async fn refused(&self) -> u32 {
        self.refused.wait().await
    }
}

impl<const N: usize> Default for TokenCell<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A task's handle on a [`TokenCell`].
pub struct TokenReader<'c, const N: usize> {
    cell: &'c TokenCell<N>,
    changes: Receiver<'c, CriticalSectionRawMutex, u32, MAX_READERS>,
}

impl<const N: usize> TokenReader<'_, N> {
    /// Copies the current token into `out`, waiting for one if there is
    /// none (or it expired); returns its generation. The lock is held only
    /// for the copy.
    pub async fn copy_into(&mut self, out: &mut HeaderValue<N>) -> u32 {
        loop {
            if let Some(generation) = self.cell.copy_into(out, EmbassyClock.now()) {
                return generation;
            }
            self.changes.changed().await;
        }
    }
}
