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

use std::cell::{Cell, RefCell};
use std::io;
use std::ops::BitOr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use crate::hub::{Backend, Hub, IoEvent, RemoteOp, Shared, Waker, poll_now, with_hub};
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// An fd registered with the current hub, owning the I/O object `T`: the
/// base of every green socket. The registration is removed (and its waiters
/// woken with `NotConnected`) before `T` is closed. It registers with the
/// hub of the thread that created it; see `net::socket::Sock` for use from
/// other threads.
pub(crate) struct Registered<T: AsFd> {
    inner: Option<T>,
    fd: RawFd,
    generation: u64,
    /// The hub it registered with, to reach from another thread. Weak, so
    /// that sockets do not count as remote handles (which would silence the
    /// hub's deadlock check).
    home: Weak<Shared>,
    /// The home hub's poll count when a read last drained the fd, or
    /// `NOT_DRAINED` (see [`Registered::read_would_block`]).
    drained_at: AtomicU64,
}

const NOT_DRAINED: u64 = u64::MAX;

impl<T: AsFd> Registered<T> {
    /// Registers `inner`, which must already be in non-blocking mode.
    pub(crate) fn new(inner: T) -> io::Result<Registered<T>> {
        let fd = inner.as_fd();
        let (generation, home) = with_hub(|hub| Ok::<_, io::Error>((hub.io.acquire(fd, true)?, hub.shared_weak())))?;
        let fd = fd.as_raw_fd();
        Ok(Registered { inner: Some(inner), fd, generation, home, drained_at: AtomicU64::new(NOT_DRAINED) })
    }

    /// The I/O object.
    #[inline]
    pub(crate) fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("guv internal error: registration used after into_inner")
    }

    /// Deregisters (waking waiters with `NotConnected`) and returns the I/O
    /// object, open.
    pub(crate) fn into_inner(mut self) -> T {
        self.deregister();
        self.inner.take().expect("guv internal error: registration used after into_inner")
    }

    fn deregister(&self) {
        let Some(inner) = &self.inner else { return };
        let at_home = crate::hub::try_with_hub(|hub| {
            let home = hub.is_home(&self.home);
            if home {
                hub.io.release(inner.as_fd(), self.generation);
            }
            home
        });
        if at_home != Some(true) {
            // Dropped on another thread: the home hub forgets the entry (and
            // wakes its waiters) when it next runs. The kernel drops a closed
            // fd from the epoll set itself; the generation keeps a reused fd
            // number's new entry safe.
            if let Some(home) = self.home.upgrade() {
                let _ = home.push(RemoteOp::Forget { fd: self.fd, generation: self.generation });
            }
        }
    }

    /// Records that a read just drained the fd (it returned less than asked
    /// for, or `WouldBlock`).
    #[inline]
    pub(crate) fn mark_drained(&self) {
        // Only the home hub's poll count means anything: another thread's
        // hub counts its own polls, and its count could equal the home one
        // after the home hub consumed an edge for data that came later.
        let polls = crate::hub::try_with_hub(|hub| hub.is_home(&self.home).then(|| hub.io.polls.get()))
            .flatten()
            .unwrap_or(NOT_DRAINED);
        // Relaxed: a hint read back on the same thread (other threads never
        // skip reads, see `read_would_block`).
        self.drained_at.store(polls, Ordering::Relaxed);
    }

    /// Wakes the greenlets of this hub parked for the fd to be readable,
    /// although it may not be: a layer over the socket (TLS) can read the
    /// socket's input inside a write, leaving the data in its own buffer and
    /// the socket drained, so that the poller reports no edge for it. The
    /// woken readers try again and park again if there is nothing. Does
    /// nothing off the home thread.
    pub(crate) fn wake_readers(&self) {
        crate::hub::try_with_hub(|hub| {
            if hub.is_home(&self.home) {
                hub.io.wake_readers(hub, self.fd, self.generation);
            }
        });
    }

    /// Whether a read now could only return `WouldBlock`, so that the caller
    /// may wait for readiness without trying: the last read drained the fd,
    /// the hub has not polled since, and the backend has not reported that
    /// the peer stopped sending. Saves one system call per read on a busy
    /// connection. Always false off the home thread.
    #[inline]
    pub(crate) fn read_would_block(&self) -> bool {
        let at = self.drained_at.load(Ordering::Relaxed);
        at != NOT_DRAINED
            && crate::hub::try_with_hub(|hub| {
                hub.is_home(&self.home) && hub.io.read_would_block(self.fd, self.generation, at)
            })
            .unwrap_or(false)
    }

    /// Parks until the fd reports `interest`, the deadline passes
    /// (`TimedOut`) or the registration goes away (`NotConnected`).
    #[inline]
    pub(crate) fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        with_hub(|hub| hub.io.wait(hub, self.fd, self.generation, interest, deadline))
    }

    /// Runs the non-blocking operation `op` until it does not return
    /// `WouldBlock`, parking for `interest` in between.
    #[allow(dead_code)] // green sockets use net::socket::Sock's loop
    pub(crate) fn io<R>(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(interest, deadline)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl<T: AsFd> Drop for Registered<T> {
    fn drop(&mut self) {
        self.deregister();
    }
}

/// Waits until `fd` is ready for `interest` (readable, writable or either),
/// parking the calling greenlet meanwhile — the primitive under every green
/// I/O type, and a way to integrate fds guv does not own.
///
/// Returns at once if the fd is ready now; otherwise waits for the next
/// readiness edge. A `timeout` that passes gives `io::ErrorKind::TimedOut`;
/// an fd that cannot be polled (a regular file, a closed fd) gives an error
/// that says so; if the fd is closed by another greenlet through guv (or
/// [`notify_close`]) while this one waits, `NotConnected`.
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair().unwrap();
/// let writer = guv::spawn(move || b.write_all(b"ping").unwrap());
/// guv::trampoline(&a, guv::Interest::READABLE, Some(std::time::Duration::from_secs(5))).unwrap();
/// writer.wait().unwrap();
/// ```
pub fn trampoline(fd: impl AsFd, interest: Interest, timeout: Option<Duration>) -> io::Result<()> {
    let fd = fd.as_fd();
    let raw = fd.as_raw_fd();
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    with_hub(|hub| {
        // A green socket dropped on another thread queues its `Forget`
        // before its fd is closed, so a reused fd number's stale entry is
        // gone once pending remote requests are processed.
        hub.drain_remote_now();
        let generation = hub.io.acquire(fd, false).map_err(|e| unpollable(raw, e))?;
        // Gives the borrow back however this ends, unwinding included (a
        // killed or timed-out caller must not leave the entry behind).
        let _borrow = Borrow { registry: &hub.io, fd, generation };
        let (r, w) = poll_now(raw)?;
        if (r && interest.is_readable()) || (w && interest.is_writable()) {
            return Ok(());
        }
        loop {
            hub.io.wait(hub, raw, generation, interest, deadline)?;
            let (r, w) = poll_now(raw)?;
            if (r && interest.is_readable()) || (w && interest.is_writable()) {
                return Ok(());
            }
        }
    })
}

/// The generation of the registration a green type owns for `fd` on this
/// thread's hub, if there is one: a name for the registration that a
/// greenlet can wait on without borrowing the owner (see
/// [`wait_registered`]).
pub(crate) fn owned_generation(fd: BorrowedFd<'_>) -> Option<u64> {
    crate::hub::try_with_hub(|hub| {
        let entries = hub.io.entries.borrow();
        let entry = usize::try_from(fd.as_raw_fd()).ok().and_then(|i| entries.get(i))?.as_ref()?;
        entry.owned.then_some(entry.generation)
    })
    .flatten()
}

/// Waits, like [`trampoline`], until the fd of the registration
/// `generation` (from [`owned_generation`]) is ready for `interest`. Ends
/// with `NotConnected` as soon as that registration is gone — its owner
/// deregisters before closing the fd, so the fd is never used once closed
/// and the wait does not keep it open (as a duplicate would).
pub(crate) fn wait_registered(fd: RawFd, generation: u64, interest: Interest) -> io::Result<()> {
    with_hub(|hub| {
        // An owner dropped on another thread queued its `Forget` before
        // closing the fd.
        hub.drain_remote_now();
        loop {
            if hub.io.generation(fd) != Some(generation) {
                return Err(closed_error(fd));
            }
            // Readiness that came before this greenlet ran raised no edge
            // it could see.
            let (r, w) = poll_now(fd)?;
            if (r && interest.is_readable()) || (w && interest.is_writable()) {
                return Ok(());
            }
            hub.io.wait(hub, fd, generation, interest, None)?;
        }
    })
}

/// A trampoline's use of a registry entry; the last borrower of an entry no
/// green type owns removes it.
struct Borrow<'a, 'fd> {
    registry: &'a Registry,
    fd: BorrowedFd<'fd>,
    generation: u64,
}

impl Drop for Borrow<'_, '_> {
    fn drop(&mut self) {
        let raw = self.fd.as_raw_fd();
        let last = {
            let mut entries = self.registry.entries.borrow_mut();
            match usize::try_from(raw).ok().and_then(|i| entries.get_mut(i)).and_then(Option::as_mut) {
                Some(e) if e.generation == self.generation => {
                    e.borrowers -= 1;
                    e.borrowers == 0 && !e.owned
                }
                _ => false,
            }
        };
        if last {
            self.registry.release(self.fd, self.generation);
        }
    }
}

fn unpollable(fd: RawFd, e: io::Error) -> io::Error {
    let why = match e.raw_os_error() {
        Some(libc::EPERM) => "it does not support readiness polling (a regular file or directory?)",
        Some(libc::EBADF) => "it is not an open file descriptor",
        _ => "the poller refused it",
    };
    io::Error::new(e.kind(), format!("guv::trampoline: cannot wait on fd {fd}: {why}: {e}"))
}

/// Tells the hub that `fd` is about to be closed: every greenlet waiting on
/// it in [`trampoline`] wakes with `NotConnected`, and nothing will wait on
/// the fd number once it is reused. Green sockets do this themselves; call
/// it before closing an fd you passed to `trampoline` from other greenlets.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use std::rc::Rc;
/// let (a, _b) = UnixStream::pair().unwrap();
/// let a = Rc::new(a);
/// let a2 = a.clone();
/// let waiter = guv::spawn(move || guv::trampoline(&*a2, guv::Interest::READABLE, None));
/// guv::gyield(); // it waits for `a` to become readable
/// guv::notify_close(&*a); // about to close `a`
/// let err = waiter.wait().unwrap().unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
/// ```
pub fn notify_close(fd: impl AsFd) {
    let fd = fd.as_fd();
    crate::hub::try_with_hub(|hub| {
        if let Some(generation) = hub.io.generation(fd.as_raw_fd()) {
            hub.io.release(fd, generation);
        }
    });
}
