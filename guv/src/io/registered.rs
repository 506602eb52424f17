//! The registration a green socket owns ([`Registered`]): its entry in the
//! hub's registry, deregistered before the fd closes (also from another
//! thread), and the drained-read hint that lets a read on a busy
//! connection wait for readiness without trying the system call first.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
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
