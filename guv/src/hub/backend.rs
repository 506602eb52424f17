//! The I/O backend behind the hub: the trait (Python guv's `AbstractHub`)
//! and the default implementation on the `polling` crate.
//!
//! The hub owns the policy (what a key means, whom to wake, when to poll);
//! a backend only talks to the OS. Registrations are edge-triggered for
//! both directions and use the fd number as the key: keys are never
//! pointers.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use polling::{Event, Events, PollMode, Poller};

/// One readiness report from [`Backend::wait`] (see [`Backend`] for an
/// implementation that passes them on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoEvent {
    /// The key given to [`Backend::add`].
    pub key: usize,
    /// Readable, or hung up / in error (a read will not block).
    pub readable: bool,
    /// Writable, or hung up / in error (a write will not block).
    pub writable: bool,
    /// The peer may have stopped sending (FIN, hang-up or error), so that
    /// the fd stays readable (EOF) without further events. A backend that
    /// cannot tell must set it with every readable event: guv then never
    /// skips a read on that fd (see `Registered::read_would_block`).
    pub read_closed: bool,
}

/// Wakes a hub sleeping in [`Backend::wait`] from any thread; what
/// [`crate::hub::Handle`] uses after queueing a request (see [`Backend`]
/// for an example that passes one on).
pub trait Notifier: Send + Sync {
    /// Makes the current or the next `wait` return promptly.
    ///
    /// Called with the hub's request queue locked, so that a failure can
    /// take the request back ([`Handle::spawn`](crate::hub::Handle::spawn)
    /// then returns the error and its closure never runs; guv's own
    /// cross-thread wake-ups stay queued, and later requests notify
    /// again): it must not call back into the hub's `Handle` (which would
    /// wait for that lock), and should be quick (a write to an eventfd or
    /// a pipe).
    fn notify(&self) -> io::Result<()>;
}

/// An I/O readiness backend: what a hub needs from the OS.
///
/// Implement it to run guv on another poller (raw epoll, io_uring's poll
/// mode, kqueue) and install it with [`crate::hub::set_backend`]. The
/// backends guv ships: `polling`'s (the default) and
/// [`crate::hub::EpollBackend`].
///
/// ```
/// use std::cell::Cell;
/// use std::os::fd::BorrowedFd;
/// use std::rc::Rc;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use guv::hub::{Backend, EpollBackend, IoEvent, Notifier};
///
/// /// Counts the hub's waits, delegating the work to guv's epoll backend.
/// struct Counting {
///     inner: EpollBackend,
///     waits: Rc<Cell<u64>>,
/// }
///
/// impl Backend for Counting {
///     fn add(&self, fd: BorrowedFd<'_>, key: usize) -> std::io::Result<()> {
///         self.inner.add(fd, key)
///     }
///     fn delete(&self, fd: BorrowedFd<'_>) -> std::io::Result<()> {
///         self.inner.delete(fd)
///     }
///     fn wait(&mut self, events: &mut Vec<IoEvent>, timeout: Option<Duration>) -> std::io::Result<()> {
///         self.waits.set(self.waits.get() + 1);
///         self.inner.wait(events, timeout)
///     }
///     fn notifier(&self) -> Arc<dyn Notifier> {
///         self.inner.notifier()
///     }
/// }
///
/// std::thread::spawn(|| {
///     let waits = Rc::new(Cell::new(0));
///     let backend = Counting { inner: EpollBackend::new().unwrap(), waits: waits.clone() };
///     guv::hub::set_backend(Box::new(backend)).unwrap();
///     guv::sleep(Duration::from_millis(2)); // nothing else to do: the hub waits in the backend
///     assert!(waits.get() >= 1);
/// })
/// .join()
/// .unwrap();
/// ```
pub trait Backend {
    /// Registers `fd` for edge-triggered readable and writable events,
    /// reported with `key`. The fd is non-blocking and stays open until
    /// [`Backend::delete`].
    fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()>;
    /// Removes a registration made by [`Backend::add`].
    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()>;
    /// Waits until an event arrives, the timeout passes (`None`: no
    /// timeout; zero: do not block) or a notifier fires; appends events.
    fn wait(&mut self, events: &mut Vec<IoEvent>, timeout: Option<Duration>) -> io::Result<()>;
    /// A handle other threads use to interrupt [`Backend::wait`].
    fn notifier(&self) -> Arc<dyn Notifier>;
}

/// The portable backend: `polling::Poller`. A hub runs on it when the
/// environment variable `GUV_BACKEND` is `polling`, or when it is installed
/// with [`set_backend`](crate::hub::set_backend); the default is
/// [`EpollBackend`](crate::hub::EpollBackend).
///
/// `polling` does not report `EPOLLRDHUP`, so on this backend a read that
/// drained a socket is followed by one more `recv` (which returns
/// `EAGAIN`) before the greenlet parks: any readable event might carry the
/// peer's end of stream.
///
/// ```
/// std::thread::spawn(|| {
///     let backend = guv::hub::PollingBackend::new().unwrap();
///     guv::hub::set_backend(Box::new(backend)).unwrap();
///     guv::sleep(std::time::Duration::from_millis(1)); // the hub runs on it
/// })
/// .join()
/// .unwrap();
/// ```
pub struct PollingBackend {
    poller: Arc<Poller>,
    events: Events,
}

impl PollingBackend {
    /// A new poller (an epoll instance on Linux).
    ///
    /// ```
    /// assert!(guv::hub::PollingBackend::new().is_ok());
    /// ```
    pub fn new() -> io::Result<PollingBackend> {
        Ok(PollingBackend { poller: Arc::new(Poller::new()?), events: Events::new() })
    }
}

impl std::fmt::Debug for PollingBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingBackend").finish_non_exhaustive()
    }
}

struct PollerNotifier(Arc<Poller>);

impl Notifier for PollerNotifier {
    fn notify(&self) -> io::Result<()> {
        self.0.notify()
    }
}

impl Backend for PollingBackend {
    fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        // SAFETY: `polling` requires the source to be deleted before it is
        // closed. The hub's registry deletes every registration when its
        // owner (a green fd or a trampoline) lets go of it, before the fd is
        // closed; a user fd closed behind guv's back is dropped from the
        // epoll set by the kernel, and its key (the fd number) then only
        // produces spurious wake-ups, which every waiter tolerates.
        unsafe { self.poller.add_with_mode(fd.as_raw_fd(), Event::all(key), PollMode::Edge) }
    }

    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.poller.delete(fd)
    }

    fn wait(&mut self, events: &mut Vec<IoEvent>, timeout: Option<Duration>) -> io::Result<()> {
        self.events.clear();
        self.poller.wait(&mut self.events, timeout)?;
        events.extend(self.events.iter().map(|ev| {
            let broken = ev.is_err().unwrap_or(false) || ev.is_interrupt();
            let readable = ev.readable || broken;
            // polling does not report EPOLLRDHUP: any readable event may
            // carry the peer's FIN.
            IoEvent { key: ev.key, readable, writable: ev.writable || broken, read_closed: readable }
        }));
        Ok(())
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        Arc::new(PollerNotifier(self.poller.clone()))
    }
}

/// Checks without blocking whether `fd` is ready now: `(readable,
/// writable)`, where hang-up and error count as both.
pub(crate) fn poll_now(fd: RawFd) -> io::Result<(bool, bool)> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN | libc::POLLOUT, revents: 0 };
    loop {
        // SAFETY: one valid, initialised pollfd; zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    if pfd.revents & libc::POLLNVAL != 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let broken = pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0;
    Ok((pfd.revents & libc::POLLIN != 0 || broken, pfd.revents & libc::POLLOUT != 0 || broken))
}
