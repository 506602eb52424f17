//! Green `std::io`: std's traits and types, plus a [`stdin`] and an
//! anonymous [`pipe`] that park the greenlet instead of the thread.
//!
//! The process's fd 0 is shared with everything else in the process (and
//! often with the parent shell), so guv never sets `O_NONBLOCK` on it.
//! Instead one helper thread, started on first use, makes the blocking
//! `read` calls — only while some greenlet is waiting for input, so input
//! nobody asked for stays in the kernel — and hands the bytes over through
//! a shared buffer, waking the waiting greenlets through their hubs. Bytes
//! read for a greenlet that was killed meanwhile stay in the buffer for
//! the next reader, and such a greenlet no longer counts as waiting: its
//! hub's deadlock check ("would block forever") does not wait for input on
//! its behalf. `stdout` and `stderr` are std's.
//!
//! As with std, all reads go through one lock ([`Stdin::lock`]): while a
//! reader holds it, the others wait — a greenlet parks, its thread runs
//! other greenlets — so lines are never split between readers. The lock is
//! one of guv's green mutexes, so it also orders readers on different
//! threads.
//!
//! ```no_run
//! use guv::green::io::{self, BufRead};
//! // Other greenlets keep running while this one waits for a line.
//! let mut line = String::new();
//! io::stdin().read_line(&mut line).unwrap();
//! for line in io::stdin().lines() {
//!     println!("{}", line.unwrap());
//! }
//! ```

pub use std::io::*;

pub use super::pipe::{PipeReader, PipeWriter, pipe};

use std::collections::VecDeque;
use std::fmt;
use std::io as stdio;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::green::sync::{Mutex as GreenMutex, MutexGuard as GreenMutexGuard};
use crate::hub::{RemoteWaker, take_back, with_hub};

/// The size of std's stdin buffer: the least one read from fd 0 asks for,
/// and the most [`StdinLock::fill_buf`] hands out. A read into a larger
/// buffer asks fd 0 for that many bytes, as std's `BufReader` reads past
/// its buffer then, so that fd 0 gives up the bytes it would under std (it
/// shows in its offset when it is a file, in what a child or the shell
/// reads next). std's `Stdin` reads straight into a buffer this large.
const CHUNK: usize = 8 * 1024;

#[derive(Default)]
struct State {
    buf: VecDeque<u8>,
    /// The last read returned 0; the next green read reports it once.
    eof: bool,
    error: Option<stdio::Error>,
    /// How many bytes the helper's next read asks for (the most any
    /// waiting greenlet asked for); 0: nobody waits, do not read.
    requested: usize,
    started: bool,
    /// Parked readers, by waiter id: each takes its own entry out when its
    /// park ends (woken, killed or timed out), so that a reader that is
    /// gone leaves no remote waker (a keeper of its hub) behind.
    waiters: Vec<(u64, RemoteWaker)>,
    next_waiter: u64,
}

struct Shared {
    state: Mutex<State>,
    wanted: Condvar,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared { state: Mutex::new(State::default()), wanted: Condvar::new() })
}

fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The helper thread: reads fd 0 (through std's `Stdin`) whenever asked.
fn reader(s: &'static Shared) {
    let mut chunk = Vec::new();
    loop {
        let len = {
            let mut st = lock(s);
            while st.requested == 0 {
                st = s.wanted.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            std::mem::take(&mut st.requested)
        };
        chunk.resize(len, 0);
        let r = stdio::stdin().read(&mut chunk);
        let waiters = {
            let mut st = lock(s);
            match r {
                Ok(0) => st.eof = true,
                Ok(n) => st.buf.extend(&chunk[..n]),
                Err(e) if e.kind() == stdio::ErrorKind::Interrupted => st.requested = st.requested.max(len),
                Err(e) => st.error = Some(e),
            }
            std::mem::take(&mut st.waiters)
        };
        for (_, w) in waiters {
            w.wake();
        }
    }
}

/// Waits until the shared buffer holds input, an error or the end of file,
/// then lets `take` move bytes out of it and returns how many it moved
/// (`Ok(0)` at the end of file). `take` runs only once the wait is over,
/// so a greenlet killed while parked here takes nothing. If the buffer is
/// empty, the helper is asked to read `want` bytes (at least [`CHUNK`]).
fn green_take(want: usize, take: impl FnOnce(&mut VecDeque<u8>) -> usize) -> stdio::Result<usize> {
    let s = shared();
    loop {
        let mut st = lock(s);
        if !st.buf.is_empty() {
            return Ok(take(&mut st.buf));
        }
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        if std::mem::take(&mut st.eof) {
            return Ok(0);
        }
        if !st.started {
            std::thread::Builder::new()
                .name("guv-stdin".into())
                .spawn(move || reader(s))
                .map_err(|e| stdio::Error::new(e.kind(), format!("guv: cannot start the stdin thread: {e}")))?;
            st.started = true;
        }
        with_hub(|hub| {
            let waker = hub.arm();
            let (remote, _registration) = hub.remote_waker(&waker);
            st.next_waiter += 1;
            let id = st.next_waiter;
            st.waiters.push((id, remote));
            st.requested = st.requested.max(want.max(CHUNK));
            drop(st);
            let _waiting = take_back(&s.state, |st: &mut State| {
                let i = st.waiters.iter().position(|(w, _)| *w == id)?;
                Some(st.waiters.swap_remove(i).1)
            });
            s.wanted.notify_one();
            hub.park();
        });
    }
}

/// Reads into `out` straight from the shared buffer, parking until there
/// is input.
fn green_read(out: &mut [u8]) -> stdio::Result<usize> {
    green_take(out.len(), |src| {
        let n = out.len().min(src.len());
        for (dst, byte) in out.iter_mut().zip(src.drain(..n)) {
            *dst = byte;
        }
        n
    })
}

/// What a [`StdinLock`] guards: bytes taken from the shared buffer but not
/// yet handed out (`buf[pos..]`), kept for the next holder when a lock is
/// dropped — std's `BufReader` inside std's stdin mutex.
struct Buffered {
    buf: Vec<u8>,
    pos: usize,
}

/// The stdin lock. A green mutex: waiting for it parks the greenlet (FIFO),
/// and it works across threads. Holders may park while holding it (waiting
/// for the helper thread), which never takes it, so they cannot deadlock
/// with it.
static BUFFERED: GreenMutex<Buffered> = GreenMutex::new(Buffered { buf: Vec::new(), pos: 0 });

/// A handle to the process's standard input whose reads park the greenlet
/// (the twin of `std::io::Stdin`). It is `Send + Sync`, like std's: every
/// handle, on every thread, reads through the one [`StdinLock`], so two
/// readers never split a line between them.
///
/// ```
/// use std::os::fd::AsRawFd;
/// fn assert_send_sync<T: Send + Sync>(_: &T) {}
/// let stdin: guv::green::io::Stdin = guv::green::io::stdin();
/// assert_send_sync(&stdin);
/// assert_eq!(stdin.as_raw_fd(), 0);
/// ```
pub struct Stdin {
    /// fd 0, lent out (`AsFd`, and `Deref` for `IsTerminal`); never read
    /// through.
    fd: BorrowedFd<'static>,
}

/// fd 0 for as long as the process runs: borrowed from a std `Stdin`
/// handle that is never dropped (and never read).
fn fd0() -> BorrowedFd<'static> {
    static STD: OnceLock<stdio::Stdin> = OnceLock::new();
    STD.get_or_init(stdio::stdin).as_fd()
}

/// The handle to standard input (std's `stdin()`); see the module docs.
///
/// ```no_run
/// use std::io::Read;
/// let mut buf = [0; 64];
/// let n = guv::green::io::stdin().read(&mut buf).unwrap();
/// ```
pub fn stdin() -> Stdin {
    Stdin { fd: fd0() }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin").finish_non_exhaustive()
    }
}

impl Stdin {
    /// Locks standard input and returns a buffered reader over it (std's
    /// `lock`). As with std, the lock is exclusive: while it is held, every
    /// other reader — [`lock`](Stdin::lock), [`read_line`](Stdin::read_line),
    /// [`lines`](Stdin::lines), `Read` on any [`Stdin`], on any thread —
    /// waits until it is dropped, the greenlets among them parked (their
    /// threads keep running other greenlets) and served in the order they
    /// came. Bytes the lock buffered but did not hand out stay buffered for
    /// the next reader.
    ///
    /// Locking it again while holding it waits forever, as with std (on a
    /// thread's main greenlet guv panics with "this operation would block
    /// forever" instead).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// let lock = guv::green::io::stdin().lock();
    /// let locked = Rc::new(Cell::new(false));
    /// let other = guv::spawn({
    ///     let locked = locked.clone();
    ///     move || {
    ///         let _lock = guv::green::io::stdin().lock(); // parks until `lock` is dropped
    ///         locked.set(true);
    ///     }
    /// });
    /// guv::gyield(); // `other` runs and parks on the lock; this greenlet goes on
    /// assert!(!locked.get());
    /// drop(lock);
    /// other.wait().unwrap();
    /// assert!(locked.get());
    /// ```
    ///
    /// Two greenlets each reading two lines: neither sees the other's.
    ///
    /// ```no_run
    /// use std::io::BufRead;
    /// let readers: Vec<_> = (0..2)
    ///     .map(|_| {
    ///         guv::spawn(|| {
    ///             let mut lock = guv::green::io::stdin().lock();
    ///             let (mut first, mut second) = (String::new(), String::new());
    ///             lock.read_line(&mut first).unwrap();
    ///             lock.read_line(&mut second).unwrap();
    ///             (first, second)
    ///         })
    ///     })
    ///     .collect();
    /// for r in readers {
    ///     println!("{:?}", r.wait().unwrap());
    /// }
    /// ```
    pub fn lock(&self) -> StdinLock<'static> {
        // A holder that panicked or was killed left `Buffered` consistent
        // (it is only changed once input is in hand), so poisoning is
        // ignored, as std's stdin does.
        StdinLock { inner: BUFFERED.lock().unwrap_or_else(PoisonError::into_inner), fd: fd0() }
    }

    /// Locks standard input and reads a line into `buf` (std's
    /// `read_line`): the line comes whole even when other greenlets or
    /// threads read standard input at the same time.
    ///
    /// ```no_run
    /// let mut line = String::new();
    /// guv::green::io::stdin().read_line(&mut line).unwrap();
    /// ```
    pub fn read_line(&self, buf: &mut String) -> stdio::Result<usize> {
        self.lock().read_line(buf)
    }

    /// An iterator over the lines of standard input (std's `lines`); it
    /// holds the lock until it is dropped.
    ///
    /// ```no_run
    /// for line in guv::green::io::stdin().lines() {
    ///     println!("{}", line.unwrap());
    /// }
    /// ```
    #[must_use = "`self` will be dropped if the result is not used"]
    pub fn lines(self) -> Lines<StdinLock<'static>> {
        self.lock().lines()
    }
}

/// `stdin().is_terminal()` with `std::io::IsTerminal` imported, as with
/// std. That trait is sealed (no type outside std can implement it), and
/// an inherent `is_terminal` would leave the import that std code needs
/// unused (a warning in code patched by `#[guv::patched]`), so the call
/// reaches std's impl for fd 0 through this `Deref`. Nothing reached this
/// way reads.
///
/// ```
/// use std::io::IsTerminal;
/// let stdin = guv::green::io::stdin();
/// assert_eq!(stdin.is_terminal(), std::io::stdin().is_terminal());
/// assert_eq!(stdin.lock().is_terminal(), std::io::stdin().is_terminal());
/// ```
impl Deref for Stdin {
    type Target = BorrowedFd<'static>;

    fn deref(&self) -> &BorrowedFd<'static> {
        &self.fd
    }
}

/// Every method holds the lock for the whole call, as std's does, so a
/// `read_to_end` or `read_exact` is not split with other readers.
impl Read for &Stdin {
    fn read(&mut self, buf: &mut [u8]) -> stdio::Result<usize> {
        self.lock().read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> stdio::Result<usize> {
        self.lock().read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> stdio::Result<usize> {
        self.lock().read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> stdio::Result<usize> {
        self.lock().read_to_string(buf)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> stdio::Result<()> {
        self.lock().read_exact(buf)
    }
}

/// As `Read for &Stdin`.
impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> stdio::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> stdio::Result<usize> {
        (&*self).read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> stdio::Result<usize> {
        (&*self).read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> stdio::Result<usize> {
        (&*self).read_to_string(buf)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> stdio::Result<()> {
        (&*self).read_exact(buf)
    }
}

impl AsFd for Stdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Stdin {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Standard input, locked: a buffered reader that excludes every other
/// reader of standard input until it is dropped (the twin of
/// `std::io::StdinLock`; see [`Stdin::lock`]). Like std's, it cannot be
/// sent to another thread.
///
/// ```no_run
/// use std::io::BufRead;
/// let mut lock: guv::green::io::StdinLock<'static> = guv::green::io::stdin().lock();
/// let mut header = String::new();
/// lock.read_line(&mut header).unwrap();
/// let body: Vec<String> = lock.lines().map(|l| l.unwrap()).collect();
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(guv::green::io::stdin().lock());
/// ```
pub struct StdinLock<'a> {
    inner: GreenMutexGuard<'a, Buffered>,
    fd: BorrowedFd<'static>,
}

impl fmt::Debug for StdinLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdinLock").finish_non_exhaustive()
    }
}

/// `is_terminal` through `std::io::IsTerminal`, as for [`Stdin`]'s `Deref`.
///
/// ```
/// use std::io::IsTerminal;
/// let tty = guv::green::io::stdin().lock().is_terminal();
/// assert_eq!(tty, std::io::stdin().is_terminal());
/// ```
impl Deref for StdinLock<'_> {
    type Target = BorrowedFd<'static>;

    fn deref(&self) -> &BorrowedFd<'static> {
        &self.fd
    }
}

impl Read for StdinLock<'_> {
    fn read(&mut self, out: &mut [u8]) -> stdio::Result<usize> {
        let b = &mut *self.inner;
        if b.pos < b.buf.len() {
            let n = out.len().min(b.buf.len() - b.pos);
            out[..n].copy_from_slice(&b.buf[b.pos..b.pos + n]);
            b.pos += n;
            return Ok(n);
        }
        if out.is_empty() {
            // As std's `BufReader`: a read with no room still fills the
            // buffer (waiting for input), then hands out nothing.
            self.fill_buf()?;
            return Ok(0);
        }
        // Nothing buffered: read past the buffer, as std's `BufReader` does
        // for large reads.
        green_read(out)
    }

    /// As std's: fills all the buffers in order, not the first one only
    /// (the trait's default).
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> stdio::Result<usize> {
        let b = &mut *self.inner;
        if b.pos < b.buf.len() {
            let n = (&b.buf[b.pos..]).read_vectored(bufs)?;
            b.pos += n;
            return Ok(n);
        }
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        if want == 0 {
            // As `read` with no room: std fills its buffer first.
            self.fill_buf()?;
            return Ok(0);
        }
        green_take(want, |src| {
            let n = want.min(src.len());
            for (dst, byte) in bufs.iter_mut().flat_map(|b| b.iter_mut()).zip(src.drain(..n)) {
                *dst = byte;
            }
            n
        })
    }
}

impl BufRead for StdinLock<'_> {
    fn fill_buf(&mut self) -> stdio::Result<&[u8]> {
        let b = &mut *self.inner;
        if b.pos >= b.buf.len() {
            b.buf.clear();
            b.pos = 0;
            let buf = &mut b.buf;
            green_take(CHUNK, |src| {
                let n = CHUNK.min(src.len());
                buf.extend(src.drain(..n));
                n
            })?;
        }
        Ok(&b.buf[b.pos..])
    }

    fn consume(&mut self, amt: usize) {
        let b = &mut *self.inner;
        b.pos = (b.pos + amt).min(b.buf.len());
    }
}

impl AsFd for StdinLock<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for StdinLock<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
