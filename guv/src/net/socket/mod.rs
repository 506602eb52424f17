//! The core every green socket is built on: a registered non-blocking fd,
//! its std-style timeouts and non-blocking flag, and the retry loop
//! ([`Sock`]). The std surface each socket type builds on it is written
//! once, as macros, in `macros.rs`.

mod macros;

use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Interest;
use crate::io::Registered;

pub(crate) use macros::{socket_common, socket_read_write, socket_timeouts, socket_try_io};

/// The most one `write(2)` or `writev(2)` takes on Linux (`MAX_RW_COUNT`,
/// `INT_MAX` rounded down to a 4 KiB page): a blocking write of more
/// returns that much.
const MAX_RW_COUNT: usize = i32::MAX as usize & !4095;

/// The most slices std's `write_vectored` passes to `writev(2)` (the rest
/// are not written by that call).
const IOV_MAX: usize = 1024;

/// An opaque number for the current OS thread (unique for the process's
/// life, unlike `pthread_self`). Green sockets remember the thread whose
/// hub they registered with.
pub(crate) fn thread_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static KEY: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    KEY.with(|k| *k)
}

/// A timeout slot: 0 means none (std refuses zero timeouts), otherwise
/// nanoseconds, saturated.
#[derive(Default)]
struct TimeoutCell(AtomicU64);

impl TimeoutCell {
    fn set(&self, d: Option<Duration>) {
        let nanos = d.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1));
        // Relaxed: the value is independent of any other memory.
        self.0.store(nanos, Ordering::Relaxed);
    }

    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }
}

/// A non-blocking I/O object registered with the hub of the thread that
/// created it.
///
/// Used from another thread (green sockets are `Send + Sync`, like std's),
/// it waits through [`crate::trampoline`] on that thread's hub instead, so
/// it works anywhere; the home thread's path is the fast one.
pub(crate) struct Sock<T: AsFd> {
    reg: Registered<T>,
    home: u64,
    settings: Arc<Settings>,
}

/// What std keeps in the kernel's open file description (timeouts,
/// `O_NONBLOCK`), and so shares between a socket and its `try_clone`s. The
/// fd itself is always non-blocking, so guv keeps these here, shared the
/// same way.
#[derive(Default)]
struct Settings {
    read_timeout: TimeoutCell,
    write_timeout: TimeoutCell,
    /// `set_nonblocking(true)` was called: report `WouldBlock` instead of
    /// parking.
    nonblocking: AtomicBool,
}

impl<T: AsFd> Sock<T> {
    /// Registers `inner`, which must already be non-blocking.
    pub(crate) fn new(inner: T) -> io::Result<Sock<T>> {
        Ok(Sock { reg: Registered::new(inner)?, home: thread_key(), settings: Arc::default() })
    }

    /// Registers `inner`, a connection a TCP listener just accepted: the
    /// kernel gives it the listener's `SO_RCVTIMEO`/`SO_SNDTIMEO`, so the
    /// green side starts with the listener's timeouts too (blocking mode:
    /// `accept` never passes `O_NONBLOCK` on).
    pub(crate) fn accepted<L: AsFd>(inner: T, listener: &Sock<L>) -> io::Result<Sock<T>> {
        let settings = Settings::default();
        settings.read_timeout.set(listener.read_timeout());
        settings.write_timeout.set(listener.write_timeout());
        Ok(Sock { reg: Registered::new(inner)?, home: thread_key(), settings: Arc::new(settings) })
    }

    /// Takes over a std socket with the settings std keeps on it: its
    /// blocking mode (`O_NONBLOCK`) and its `SO_RCVTIMEO`/`SO_SNDTIMEO`,
    /// read before the fd is made non-blocking underneath, so that the
    /// green socket behaves as the std one did (`from_std`, `From<OwnedFd>`).
    pub(crate) fn adopt(inner: T, set_nonblocking: impl FnOnce(&T) -> io::Result<()>) -> io::Result<Sock<T>> {
        let fd = inner.as_fd();
        let settings = Settings::default();
        settings.nonblocking.store(super::sys::is_nonblocking(fd)?, Ordering::Relaxed);
        // std's `from_raw_fd` takes any fd; one that is not a socket has no
        // timeouts to carry over (and fails later, where std's would).
        let timeout = |name| match super::sys::socket_timeout(fd, name) {
            Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => Ok(None),
            other => other,
        };
        settings.read_timeout.set(timeout(libc::SO_RCVTIMEO)?);
        settings.write_timeout.set(timeout(libc::SO_SNDTIMEO)?);
        set_nonblocking(&inner)?;
        Ok(Sock { reg: Registered::new(inner)?, home: thread_key(), settings: Arc::new(settings) })
    }

    /// Deregisters and returns the I/O object with the blocking mode std
    /// should see: blocking unless `set_nonblocking(true)` was called, or
    /// unless a `try_clone` of this socket is still green. The clones share
    /// the open file description and so `O_NONBLOCK`; a blocking fd would
    /// make their system calls block the hub's whole thread.
    pub(crate) fn into_std_mode(self) -> (T, bool) {
        let nonblocking = self.is_nonblocking() || Arc::strong_count(&self.settings) > 1;
        (self.into_inner(), nonblocking)
    }

    /// Registers `inner`, a duplicate of this socket's fd (`try_clone`):
    /// it gets its own registration and shares the settings.
    pub(crate) fn clone_with(&self, inner: T) -> io::Result<Sock<T>> {
        Ok(Sock { reg: Registered::new(inner)?, home: thread_key(), settings: self.settings.clone() })
    }

    /// The I/O object.
    #[inline]
    pub(crate) fn get(&self) -> &T {
        self.reg.get_ref()
    }

    /// Off the home thread: this hub's entry for the fd, for an async
    /// poll's helper to wait on (see `Registered::visit`).
    pub(crate) fn visit(&self) -> io::Result<crate::io::Visit> {
        self.reg.visit()
    }

    /// Deregisters and returns the I/O object (still non-blocking).
    pub(crate) fn into_inner(self) -> T {
        self.reg.into_inner()
    }

    /// Parks until the fd reports `interest` or the deadline passes.
    #[inline]
    pub(crate) fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        if self.home == thread_key() {
            self.reg.wait(interest, deadline)
        } else {
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            crate::trampoline(self.get(), interest, timeout)
        }
    }

    /// Runs `op` until it does not report `WouldBlock`, parking for
    /// `interest` in between, for at most `timeout` (then `WouldBlock`, as
    /// a std socket with `SO_RCVTIMEO`/`SO_SNDTIMEO` reports on Linux).
    #[inline]
    pub(crate) fn op<R>(
        &self,
        interest: Interest,
        timeout: Option<Duration>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.op_until(interest, timeout, None, op)
    }

    /// [`Sock::op`] whose deadline, if the call has one, may already be
    /// known (`Some(Some(_))`, or `Some(None)` for one too far away), so
    /// that one call is bounded by one timeout however often it waits.
    #[inline]
    fn op_until<R>(
        &self,
        interest: Interest,
        timeout: Option<Duration>,
        mut deadline: Option<Option<Instant>>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op(self.get()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.settings.nonblocking.load(Ordering::Relaxed) {
                        return Err(e);
                    }
                    if deadline.is_none() {
                        deadline = timeout.map(|t| Instant::now().checked_add(t));
                    }
                    match self.wait(interest, deadline.flatten()) {
                        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
                        }
                        Err(e) => return Err(e),
                        Ok(()) => {}
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// A stream read of at most `len` bytes: when the last read drained the
    /// socket and nothing can have arrived since (see
    /// `Registered::read_would_block`), waits for readiness first instead
    /// of a system call that would only say `WouldBlock`; after a short read,
    /// records that the socket is drained.
    pub(crate) fn read_stream(&self, len: usize, op: impl FnMut(&T) -> io::Result<usize>) -> io::Result<usize> {
        let timeout = self.settings.read_timeout.get();
        let mut deadline = None;
        if len > 0 && !self.settings.nonblocking.load(Ordering::Relaxed) && self.reg.read_would_block() {
            // The whole read has one deadline (std's SO_RCVTIMEO bounds the
            // call): a retry after this wait, if another reader took the
            // data, does not start the timeout over.
            let until = timeout.map(|t| Instant::now().checked_add(t));
            deadline = Some(until.flatten());
            match self.reg.wait(Interest::READABLE, until.flatten()) {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(io::Error::from_raw_os_error(libc::EAGAIN));
                }
                Err(e) => return Err(e),
                Ok(()) => {}
            }
        }
        let n = self.op_until(Interest::READABLE, timeout, deadline, op)?;
        if n > 0 && n < len {
            self.reg.mark_drained();
        }
        Ok(n)
    }

    /// The result of a TCP read or peek into an empty buffer. It waits for
    /// data like any other (the kernel wants one byte to be there), but
    /// when the read timeout ends the wait, Linux answers 0 bytes where
    /// std's blocking socket would have said `EAGAIN` for a non-empty
    /// buffer (a Unix stream socket does say `EAGAIN`). So a `WouldBlock`
    /// here, which outside non-blocking mode only a timeout gives, is
    /// `Ok(0)`.
    pub(crate) fn empty_tcp_read(&self, r: io::Result<usize>) -> io::Result<usize> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.is_nonblocking() => Ok(0),
            r => r,
        }
    }

    /// See `Registered::read_would_block`.
    #[inline]
    pub(crate) fn read_would_block(&self) -> bool {
        self.reg.read_would_block()
    }

    /// See `Registered::wake_readers`.
    pub(crate) fn wake_readers(&self) {
        self.reg.wake_readers();
    }

    /// See `Registered::mark_drained`.
    #[inline]
    pub(crate) fn mark_drained(&self) {
        self.reg.mark_drained();
    }

    /// [`Sock::op`] for reading, with the read timeout.
    #[inline]
    pub(crate) fn read<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.op(Interest::READABLE, self.settings.read_timeout.get(), op)
    }

    /// [`Sock::op`] for writing, with the write timeout.
    #[inline]
    pub(crate) fn write<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.op(Interest::WRITABLE, self.settings.write_timeout.get(), op)
    }

    /// One `write` of a stream (a socket or a pipe) as the kernel answers
    /// it on a blocking fd: it returns once all of `buf` is in (parking
    /// while the peer reads), not after the part the fd took at first.
    /// Short of that it returns what went in before the write timeout
    /// ended (`Ok`, more than 0 bytes), or before an error (which the next
    /// call meets); with nothing in, the timeout's `WouldBlock` or the
    /// error. The timeout bounds the whole call, as `SO_SNDTIMEO` does. In
    /// non-blocking mode, one attempt: what went in at once.
    ///
    /// A greenlet killed while it waits here has sent part of `buf`, which
    /// its caller never learns.
    pub(crate) fn write_stream(
        &self,
        buf: &[u8],
        mut op: impl FnMut(&T, &[u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        // The most one write(2) takes (Linux's MAX_RW_COUNT): a larger
        // buffer gets that much from a blocking write too.
        let buf = &buf[..buf.len().min(MAX_RW_COUNT)];
        self.write_until_done(buf.len(), |s, written| op(s, &buf[written..]))
    }

    /// [`Sock::write_stream`] for a vectored write: all of `bufs`, or of
    /// the first `IOV_MAX` of them, which is what std's `writev` passes
    /// (and so a blocking `write_vectored` waits for).
    pub(crate) fn write_stream_vectored(
        &self,
        bufs: &[IoSlice<'_>],
        mut op: impl FnMut(&T, &[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let bufs = &bufs[..bufs.len().min(IOV_MAX)];
        let len = bufs.iter().fold(0usize, |sum, b| sum.saturating_add(b.len())).min(MAX_RW_COUNT);
        // The rest of the slices once the first call took part of them (a
        // copy to advance, only on that path); `done` is where `rest`
        // starts in the whole.
        let mut rest: Vec<IoSlice<'_>> = Vec::new();
        let (mut start, mut done) = (0, 0);
        self.write_until_done(len, |s, written| {
            if written == 0 {
                return op(s, bufs);
            }
            if rest.is_empty() {
                rest = bufs.to_vec();
            }
            let total = rest.len();
            let mut view = &mut rest[start..];
            IoSlice::advance_slices(&mut view, written - done);
            start = total - view.len();
            done = written;
            op(s, &rest[start..])
        })
    }

    /// The loop of [`Sock::write_stream`]: `op(fd, written)` writes the
    /// rest after the first `written` bytes, until `len` are written.
    ///
    /// Once some bytes went, the fd is asked with `poll` before each
    /// further attempt: a pending error (`POLLERR`, a reset TCP connection,
    /// a pipe whose reader went) ends the call with the count, leaving the
    /// error for the next call as the kernel's blocking write does (an
    /// attempt would take it: the next call then said `BrokenPipe` where
    /// std's says `ConnectionReset`); and a full fd is waited for at once,
    /// without an attempt that could only say `WouldBlock`.
    fn write_until_done(&self, len: usize, mut op: impl FnMut(&T, usize) -> io::Result<usize>) -> io::Result<usize> {
        let nonblocking = self.is_nonblocking();
        let mut written = 0;
        let mut deadline = None;
        loop {
            if written > 0 {
                let ready = super::sys::poll_now(self.get().as_fd(), libc::POLLOUT).unwrap_or(libc::POLLOUT);
                if ready & libc::POLLERR != 0 {
                    return Ok(written);
                }
                if ready & (libc::POLLOUT | libc::POLLHUP) == 0 {
                    if self.wait_writable(&mut deadline).is_err() {
                        return Ok(written);
                    }
                    continue;
                }
            }
            match op(self.get(), written) {
                Ok(n) => {
                    written += n;
                    if n == 0 || written >= len || nonblocking {
                        return Ok(written);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !nonblocking => {
                    if let Err(e) = self.wait_writable(&mut deadline) {
                        return if written > 0 { Ok(written) } else { Err(e) };
                    }
                }
                Err(e) => return if written > 0 { Ok(written) } else { Err(e) },
            }
        }
    }

    /// Parks until the fd is writable, within the write timeout counted
    /// from the first wait of the call (`deadline`, set then): when it
    /// passes, `WouldBlock` (`EAGAIN`), as std's socket reports.
    fn wait_writable(&self, deadline: &mut Option<Option<Instant>>) -> io::Result<()> {
        let until = *deadline
            .get_or_insert_with(|| self.settings.write_timeout.get().and_then(|t| Instant::now().checked_add(t)));
        match self.wait(Interest::WRITABLE, until) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(io::Error::from_raw_os_error(libc::EAGAIN)),
            r => r,
        }
    }

    /// [`Sock::write`] for a call whose `WouldBlock` no readiness edge
    /// ends: a send to an unconnected Unix datagram socket whose queue is
    /// full. Linux reports the sender writable all along (only a connected
    /// sender is told about its peer's queue) and wakes it on every failed
    /// attempt, so a wait for `WRITABLE` returns at once and the retry
    /// loop would spin. This one pauses instead, 1 ms at first, doubling
    /// up to 50 ms, with the same write timeout and non-blocking mode.
    pub(crate) fn write_polled<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut deadline = None;
        let mut pause = Duration::from_millis(1);
        loop {
            match op(self.get()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.settings.nonblocking.load(Ordering::Relaxed) {
                        return Err(e);
                    }
                    let until = *deadline.get_or_insert_with(|| {
                        self.settings.write_timeout.get().and_then(|t| Instant::now().checked_add(t))
                    });
                    let wait = match until {
                        Some(d) => match d.checked_duration_since(Instant::now()) {
                            Some(left) if !left.is_zero() => pause.min(left),
                            _ => return Err(io::Error::from_raw_os_error(libc::EAGAIN)),
                        },
                        None => pause,
                    };
                    crate::sleep(wait);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    pub(crate) fn set_read_timeout(&self, d: Option<Duration>) {
        self.settings.read_timeout.set(d);
    }

    pub(crate) fn set_write_timeout(&self, d: Option<Duration>) {
        self.settings.write_timeout.set(d);
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.settings.read_timeout.get()
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        self.settings.write_timeout.get()
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.settings.nonblocking.store(nonblocking, Ordering::Relaxed);
    }

    pub(crate) fn is_nonblocking(&self) -> bool {
        self.settings.nonblocking.load(Ordering::Relaxed)
    }
}
