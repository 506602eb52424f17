//! Readiness waiting: the registry every green fd uses, and [`trampoline`].
//!
//! Each registered fd has one entry, indexed by the fd number, holding the
//! greenlets waiting to read and to write. An fd is registered with the
//! backend once, edge-triggered for both directions; green I/O tries the
//! system call first and parks only on `WouldBlock`, and an edge wakes every
//! waiter of its direction, which then retries.
//!
//! Entries are owned: by a green socket (`Registered`, which deletes the
//! entry and wakes its waiters with an error when dropped, before the fd is
//! closed), or by the [`trampoline`] calls waiting on a foreign fd (deleted
//! when the last one leaves). Every entry carries a generation, so a waiter
//! notices when its fd was closed and reused while it slept.
//!
//! This file holds [`Interest`] and the per-hub table (`Registry`: entries,
//! waiters, the backend poll); `registered.rs` the registration a green
//! socket owns, with its drained-read hint; `borrowed.rs` the waits on
//! fds guv does not own ([`trampoline`], [`notify_close`]) or only borrows.

mod borrowed;
mod registered;

use std::cell::{Cell, RefCell};
use std::io;
use std::ops::BitOr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use crate::hub::{Backend, Hub, IoEvent, Waker};

pub(crate) use borrowed::{Lease, Visit, lease, owned_generation, visit, wait_registered};
pub use borrowed::{notify_close, trampoline};
pub(crate) use registered::Registered;

/// Which readiness to wait for: [`Interest::READABLE`], [`Interest::WRITABLE`]
/// or both (`READABLE | WRITABLE`).
///
/// ```
/// use guv::Interest;
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert!(!Interest::READABLE.is_writable());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Wait until a read would not block.
    pub const READABLE: Interest = Interest(1);
    /// Wait until a write would not block.
    pub const WRITABLE: Interest = Interest(2);

    /// Whether this includes readability.
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether this includes writability.
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

struct Waiter {
    id: u64,
    interest: Interest,
    waker: Waker,
}

struct Entry {
    generation: u64,
    /// The backend reported that the peer may have stopped sending: the fd
    /// can stay readable (EOF) without another event. Sticky.
    read_closed: bool,
    /// A green type owns the registration (as opposed to trampolines only).
    owned: bool,
    /// Trampolines currently using the entry.
    borrowers: usize,
    waiters: Vec<Waiter>,
}

/// The per-hub table of registered fds.
pub(crate) struct Registry {
    backend: RefCell<Box<dyn Backend>>,
    entries: RefCell<Vec<Option<Entry>>>,
    events: RefCell<Vec<IoEvent>>,
    waiting: Cell<usize>,
    /// Backend waits so far (a drained read compares it, see
    /// `Registered::mark_drained`).
    polls: Cell<u64>,
    next_id: Cell<u64>,
}

impl Registry {
    pub(crate) fn new(backend: Box<dyn Backend>) -> Registry {
        Registry {
            backend: RefCell::new(backend),
            entries: RefCell::new(Vec::new()),
            events: RefCell::new(Vec::with_capacity(1024)),
            waiting: Cell::new(0),
            polls: Cell::new(0),
            next_id: Cell::new(1),
        }
    }

    /// Greenlets parked on I/O now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.get()
    }

    /// Fds with an entry now.
    pub(crate) fn registered(&self) -> usize {
        self.entries.borrow().iter().filter(|e| e.is_some()).count()
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Makes sure `fd` has an entry registered with the backend; returns its
    /// generation. `owned` marks it as a green type's; otherwise the caller
    /// is a trampoline and counts as a borrower.
    fn acquire(&self, fd: BorrowedFd<'_>, owned: bool) -> io::Result<u64> {
        let raw = fd.as_raw_fd();
        let idx = usize::try_from(raw).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        let existing = self.entries.borrow().get(idx).and_then(Option::as_ref).map(|e| e.owned);
        if existing == Some(true) && !owned {
            // A green type owns this live fd: borrow its registration.
            return Ok(self.borrow_entry(idx));
        }
        // Registering tells stale entries from live ones: the kernel drops a
        // closed fd from the epoll set, so a successful add means any entry
        // we hold for this number belongs to an fd closed behind guv's back.
        let added = match self.backend.borrow().add(fd, idx) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => false,
            Err(e) => return Err(e),
        };
        match existing {
            Some(false) if !added && !owned => return Ok(self.borrow_entry(idx)),
            Some(false) if !added => {
                // A green type takes over an fd trampolines are waiting on.
                let mut entries = self.entries.borrow_mut();
                let entry = entries[idx].as_mut().expect("entry checked above");
                entry.owned = true;
                return Ok(entry.generation);
            }
            Some(_) => {
                self.forget(raw);
            }
            None => {}
        }
        let generation = self.next_id();
        let mut entries = self.entries.borrow_mut();
        if entries.len() <= idx {
            entries.resize_with(idx + 1, || None);
        }
        entries[idx] =
            Some(Entry { generation, read_closed: false, owned, borrowers: usize::from(!owned), waiters: Vec::new() });
        Ok(generation)
    }

    fn borrow_entry(&self, idx: usize) -> u64 {
        let mut entries = self.entries.borrow_mut();
        let entry = entries[idx].as_mut().expect("guv internal error: borrowing a missing entry");
        entry.borrowers += 1;
        entry.generation
    }

    /// Drops `fd`'s entry and wakes its waiters (who will see it gone).
    /// Returns whether there was one. Does not touch the backend.
    fn forget(&self, fd: RawFd) -> bool {
        let entry = {
            let mut entries = self.entries.borrow_mut();
            usize::try_from(fd).ok().and_then(|i| entries.get_mut(i)).and_then(Option::take)
        };
        let Some(entry) = entry else { return false };
        self.waiting.set(self.waiting.get() - entry.waiters.len());
        for w in entry.waiters {
            w.waker.wake();
        }
        true
    }

    /// Whether a read on `fd` (entry `generation`) drained at backend poll
    /// number `drained_at` would only say `WouldBlock`: no poll since (any
    /// data that came after the read is an edge still to be reported), and
    /// no hint that the peer stopped sending (an EOF raises no new edge).
    #[inline]
    fn read_would_block(&self, fd: RawFd, generation: u64, drained_at: u64) -> bool {
        if drained_at != self.polls.get() {
            return false;
        }
        let entries = self.entries.borrow();
        let entry = usize::try_from(fd).ok().and_then(|i| entries.get(i)).and_then(Option::as_ref);
        entry.is_some_and(|e| e.generation == generation && !e.read_closed)
    }

    /// Wakes the greenlets waiting for `fd` (entry `generation`) to be
    /// readable, as a readiness event would: for input that went somewhere
    /// other than the socket without one (see `Registered::wake_readers`).
    fn wake_readers(&self, hub: &Hub, fd: RawFd, generation: u64) {
        let mut entries = self.entries.borrow_mut();
        let entry = usize::try_from(fd).ok().and_then(|i| entries.get_mut(i)).and_then(Option::as_mut);
        let Some(entry) = entry.filter(|e| e.generation == generation && !e.waiters.is_empty()) else { return };
        let woken = wake_waiters(hub, &mut entry.waiters, true, false);
        drop(entries);
        self.waiting.set(self.waiting.get() - woken);
    }

    /// Forgets `fd`'s entry if it still has `generation` (its owner let go
    /// of it on another thread), waking its waiters.
    pub(crate) fn forget_entry(&self, fd: RawFd, generation: u64) {
        if self.generation(fd) == Some(generation) {
            self.forget(fd);
        }
    }

    /// Removes `fd` from the backend and the table, waking its waiters.
    fn release(&self, fd: BorrowedFd<'_>, generation: u64) {
        if self.generation(fd.as_raw_fd()) == Some(generation) {
            let _ = self.backend.borrow().delete(fd);
            self.forget(fd.as_raw_fd());
        }
    }

    fn generation(&self, fd: RawFd) -> Option<u64> {
        let entries = self.entries.borrow();
        entries.get(usize::try_from(fd).ok()?)?.as_ref().map(|e| e.generation)
    }

    /// Parks the running greenlet until `fd` (entry `generation`) reports
    /// `interest`, the deadline passes, or the entry goes away.
    fn wait(
        &self,
        hub: &Hub,
        fd: RawFd,
        generation: u64,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let waker = hub.arm();
        let id = self.next_id();
        {
            let mut entries = self.entries.borrow_mut();
            let entry = usize::try_from(fd).ok().and_then(|i| entries.get_mut(i)).and_then(Option::as_mut);
            match entry {
                Some(entry) if entry.generation == generation => {
                    entry.waiters.push(Waiter { id, interest, waker: waker.clone() })
                }
                _ => return Err(closed_error(fd)),
            }
        }
        self.waiting.set(self.waiting.get() + 1);
        let guard = WaiterGuard { registry: self, fd, id };
        let woke = hub.park_until(&waker, deadline);
        drop(guard);
        if self.generation(fd) != Some(generation) {
            return Err(closed_error(fd));
        }
        if !woke {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "guv: timed out waiting for I/O readiness"));
        }
        Ok(())
    }

    /// Removes a waiter that left without being woken by an event.
    fn remove_waiter(&self, fd: RawFd, id: u64) {
        let removed = {
            let mut entries = self.entries.borrow_mut();
            let entry = usize::try_from(fd).ok().and_then(|i| entries.get_mut(i)).and_then(Option::as_mut);
            entry.and_then(|e| e.waiters.iter().position(|w| w.id == id).map(|pos| e.waiters.swap_remove(pos)))
        };
        if removed.is_some() {
            self.waiting.set(self.waiting.get() - 1);
        }
    }

    /// Polls the backend and wakes the waiters of every ready fd.
    pub(crate) fn poll(&self, hub: &Hub, timeout: Option<Duration>) {
        self.polls.set(self.polls.get().wrapping_add(1));
        let mut events = std::mem::take(&mut *self.events.borrow_mut());
        if let Err(e) = self.backend.borrow_mut().wait(&mut events, timeout) {
            eprintln!("guv: fatal: the I/O poller failed: {e}");
            std::process::abort();
        }
        let mut entries = self.entries.borrow_mut();
        let mut woken = 0;
        for ev in events.drain(..) {
            if let Some(Some(entry)) = entries.get_mut(ev.key) {
                entry.read_closed |= ev.read_closed;
                // Waking only queues the greenlet (it touches the run queue,
                // never this table), so it happens in place. Dropping the
                // waiter drops a reference to a parked greenlet, which also
                // holds one on its own stack: no destructor runs here.
                woken += wake_waiters(hub, &mut entry.waiters, ev.readable, ev.writable);
            }
        }
        drop(entries);
        self.waiting.set(self.waiting.get() - woken);
        *self.events.borrow_mut() = events;
    }
}

/// Wakes and removes the waiters whose interest a readiness of `readable`
/// and `writable` meets; returns how many.
#[inline]
fn wake_waiters(hub: &Hub, waiters: &mut Vec<Waiter>, readable: bool, writable: bool) -> usize {
    let mut woken = 0;
    waiters.retain(|w| {
        let hit = (readable && w.interest.is_readable()) || (writable && w.interest.is_writable());
        if hit {
            hub.wake(&w.waker);
            woken += 1;
        }
        !hit
    });
    woken
}

struct WaiterGuard<'a> {
    registry: &'a Registry,
    fd: RawFd,
    id: u64,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.registry.remove_waiter(self.fd, self.id);
    }
}

fn closed_error(fd: RawFd) -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, format!("guv: fd {fd} was closed while a greenlet waited on it"))
}
