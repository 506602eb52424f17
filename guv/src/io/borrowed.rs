//! Waiting on fds without owning their registration: [`trampoline`] and
//! [`notify_close`] for fds guv does not own (each wait borrows the fd's
//! entry; the last borrower removes an entry no green type owns), and
//! [`wait_registered`] for a green socket's fd, named by the generation of
//! the registration the socket owns.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use super::{Interest, Registry, closed_error};
use crate::hub::{poll_now, with_hub};

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
        let generation = hub.io.acquire(fd, false).map_err(|e| unpollable("guv::trampoline", raw, e))?;
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

/// Borrows this hub's entry for `fd`, the fd of a green socket whose home
/// is another thread (see `support/async_io.rs`), making one if there is
/// none: a name that [`wait_registered`] can wait on here without holding
/// the fd open. The borrow ends when the [`Visit`] is dropped; the entry
/// itself stays until the socket is dropped on this thread (its
/// `Registered::deregister` releases it, waking the waiters with
/// `NotConnected` before the fd closes) or the fd number is reused.
pub(crate) fn visit(fd: BorrowedFd<'_>) -> io::Result<Visit> {
    with_hub(|hub| {
        // As in `trampoline`: a stale entry of a reused fd number goes first.
        hub.drain_remote_now();
        let raw = fd.as_raw_fd();
        let generation = hub.io.acquire(fd, false).map_err(|e| unpollable("guv::trampoline", raw, e))?;
        Ok(Visit { fd: raw, generation })
    })
}

/// A borrow of a visiting socket's entry (see [`visit`]).
pub(crate) struct Visit {
    fd: RawFd,
    generation: u64,
}

impl Visit {
    /// The generation of the borrowed entry, for [`wait_registered`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

impl Drop for Visit {
    fn drop(&mut self) {
        // The fd may be closed by now (the socket was dropped on another
        // thread), so the entry is not released here: with no borrowers
        // left it waits for the socket's drop, or for the fd number's
        // reuse, which replaces it.
        crate::hub::try_with_hub(|hub| {
            let mut entries = hub.io.entries.borrow_mut();
            let entry = usize::try_from(self.fd).ok().and_then(|i| entries.get_mut(i)).and_then(Option::as_mut);
            if let Some(e) = entry.filter(|e| e.generation == self.generation) {
                e.borrowers -= 1;
            }
        });
    }
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
        give_back(self.registry, self.fd, self.generation);
    }
}

/// Ends one borrow of `fd`'s entry `generation`; the last borrower of an
/// entry no green type owns removes it. Nothing if the entry is gone (the
/// fd was closed through guv, or [`notify_close`]d).
fn give_back(registry: &Registry, fd: BorrowedFd<'_>, generation: u64) {
    let last = {
        let mut entries = registry.entries.borrow_mut();
        match usize::try_from(fd.as_raw_fd()).ok().and_then(|i| entries.get_mut(i)).and_then(Option::as_mut) {
            Some(e) if e.generation == generation => {
                e.borrowers -= 1;
                e.borrowers == 0 && !e.owned
            }
            _ => false,
        }
    };
    if last {
        registry.release(fd, generation);
    }
}

/// Borrows `fd`'s entry on this thread's hub, as [`trampoline`] does, for
/// as long as the [`Lease`] lives: greenlets can then wait on it by name
/// with [`wait_registered`] (neither owning the fd nor holding a duplicate
/// of it open), and learn with `NotConnected` that it was closed through
/// guv or [`notify_close`]d.
pub(crate) fn lease(fd: BorrowedFd<'_>) -> io::Result<Lease<'_>> {
    with_hub(|hub| {
        // As in `trampoline`: a stale entry of a reused fd number goes first.
        hub.drain_remote_now();
        let generation = hub.io.acquire(fd, false).map_err(|e| unpollable("guv::select", fd.as_raw_fd(), e))?;
        Ok(Lease { fd, generation })
    })
}

/// A borrow of an fd's entry (see [`lease`]).
pub(crate) struct Lease<'fd> {
    fd: BorrowedFd<'fd>,
    generation: u64,
}

impl Lease<'_> {
    /// The borrowed entry's generation, for [`wait_registered`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        crate::hub::try_with_hub(|hub| give_back(&hub.io, self.fd, self.generation));
    }
}

fn unpollable(who: &str, fd: RawFd, e: io::Error) -> io::Error {
    let why = match e.raw_os_error() {
        Some(libc::EPERM) => "it does not support readiness polling (a regular file or directory?)",
        Some(libc::EBADF) => "it is not an open file descriptor",
        _ => "the poller refused it",
    };
    io::Error::new(e.kind(), format!("{who}: cannot wait on fd {fd}: {why}: {e}"))
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
