//! The registration a green socket owns ([`Registered`]): its entry in the
//! hub's registry, deregistered before the fd closes (also from another
//! thread), and the drained-read hint that lets a read on a busy
//! connection wait for readiness without trying the system call first.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Weak};
use std::time::Instant;

use super::Interest;
use crate::hub::{RemoteOp, Shared, with_hub};

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
    /// Other hubs that hold an entry for the fd made by an async poll
    /// there ([`Registered::visit`]), with its generation: told when the
    /// socket goes, wherever that is, so that a helper waiting there ends.
    /// Empty (and never locked) unless the socket was polled as
    /// `AsyncRead`/`AsyncWrite` off its home thread.
    visitors: Mutex<Vec<(Weak<Shared>, u64)>>,
}

const NOT_DRAINED: u64 = u64::MAX;

impl<T: AsFd> Registered<T> {
    /// Registers `inner`, which must already be in non-blocking mode.
    pub(crate) fn new(inner: T) -> io::Result<Registered<T>> {
        let fd = inner.as_fd();
        let (generation, home) = with_hub(|hub| Ok::<_, io::Error>((hub.io.acquire(fd, true)?, hub.shared_weak())))?;
        let fd = fd.as_raw_fd();
        Ok(Registered {
            inner: Some(inner),
            fd,
            generation,
            home,
            drained_at: AtomicU64::new(NOT_DRAINED),
            visitors: Mutex::default(),
        })
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

    /// Off the home thread: borrows this hub's entry for the fd (see
    /// [`super::visit`]) for an async poll's helper to wait on, and records
    /// this hub, so that dropping the socket on any thread ends that wait.
    pub(crate) fn visit(&self) -> io::Result<super::Visit> {
        let visit = super::visit(self.get_ref().as_fd())?;
        let generation = visit.generation();
        with_hub(|hub| {
            let mut visitors = self.visitors.lock().unwrap_or_else(|e| e.into_inner());
            match visitors.iter_mut().find(|(h, _)| hub.is_home(h)) {
                Some(seen) => seen.1 = generation,
                None => visitors.push((hub.shared_weak(), generation)),
            }
        });
        Ok(visit)
    }

    fn deregister(&mut self) {
        let Some(inner) = &self.inner else { return };
        let at_home = crate::hub::try_with_hub(|hub| {
            let home = hub.is_home(&self.home);
            if home {
                hub.io.release(inner.as_fd(), self.generation);
            } else if let Some(generation) = hub.io.generation(self.fd) {
                // Dropped while visiting: this hub's entry for the fd (a
                // trampoline's, or an async poll's `visit`) goes too, as
                // `notify_close` does, so that its waiters end with
                // `NotConnected` now rather than wait on a closed fd.
                hub.io.release(inner.as_fd(), generation);
            }
            home
        });
        if at_home != Some(true) {
            // Dropped on another thread: the home hub forgets the entry (and
            // wakes its waiters) when it next runs. The kernel drops a closed
            // fd from the epoll set itself once no other fd holds its file
            // (a clone, an `into_std` here: then the registration stays, and
            // its edges wake the home hub for nothing; see ARCHITECTURE, "A
            // `Forget` leaves the fd in the epoll set"); the generation keeps
            // a reused fd number's new entry safe.
            if let Some(home) = self.home.upgrade() {
                let _ = home.push(RemoteOp::Forget { fd: self.fd, generation: self.generation });
            }
        }
        // Hubs where an async poll borrowed an entry for the fd forget it
        // too (the current one released its own above), waking a helper
        // that waits there with `NotConnected`.
        let visitors = self.visitors.get_mut().unwrap_or_else(|e| e.into_inner());
        for (hub, generation) in visitors.drain(..) {
            let here = crate::hub::try_with_hub(|h| h.is_home(&hub)).unwrap_or(false);
            if let Some(hub) = hub.upgrade().filter(|_| !here) {
                let _ = hub.push(RemoteOp::Forget { fd: self.fd, generation });
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
