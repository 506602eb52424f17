//! Green `std::io`: std's traits and types, plus a [`stdin`] that parks the
//! greenlet instead of the thread.
//!
//! The process's fd 0 is shared with everything else in the process (and
//! often with the parent shell), so guv never sets `O_NONBLOCK` on it.
//! Instead one helper thread, started on first use, makes the blocking
//! `read` calls — only while some greenlet is waiting for input, so input
//! nobody asked for stays in the kernel — and hands the bytes over through
//! a shared buffer, waking the waiting greenlets through their hubs. Bytes
//! read for a greenlet that was killed meanwhile stay in the buffer for
//! the next reader. `stdout` and `stderr` are std's.
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

use std::collections::VecDeque;
use std::io as stdio;
use std::marker::PhantomData;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use crate::hub::{RemoteWaker, with_hub};

/// The size of one read from fd 0: larger than std's stdin buffer, so that
/// std's `Stdin` reads straight into it.
const CHUNK: usize = 16 * 1024;

#[derive(Default)]
struct State {
    buf: VecDeque<u8>,
    /// The last read returned 0; the next green read reports it once.
    eof: bool,
    error: Option<stdio::Error>,
    /// Some greenlet waits: the helper should read.
    requested: bool,
    started: bool,
    waiters: Vec<RemoteWaker>,
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
    let mut chunk = vec![0u8; CHUNK];
    loop {
        {
            let mut st = lock(s);
            while !st.requested {
                st = s.wanted.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.requested = false;
        }
        let r = stdio::stdin().read(&mut chunk);
        let waiters = {
            let mut st = lock(s);
            match r {
                Ok(0) => st.eof = true,
                Ok(n) => st.buf.extend(&chunk[..n]),
                Err(e) if e.kind() == stdio::ErrorKind::Interrupted => st.requested = true,
                Err(e) => st.error = Some(e),
            }
            std::mem::take(&mut st.waiters)
        };
        for w in waiters {
            w.wake();
        }
    }
}

/// Reads into `buf` from the shared buffer, parking until there is input.
fn green_read(buf: &mut [u8]) -> stdio::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let s = shared();
    loop {
        let mut st = lock(s);
        if !st.buf.is_empty() {
            let n = buf.len().min(st.buf.len());
            for (dst, src) in buf.iter_mut().zip(st.buf.drain(..n)) {
                *dst = src;
            }
            return Ok(n);
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
            st.waiters.push(remote);
            st.requested = true;
            drop(st);
            s.wanted.notify_one();
            hub.park();
        });
    }
}

/// Puts bytes a [`StdinLock`] buffered but did not hand out back in front.
fn unread(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let mut st = lock(shared());
    for &b in bytes.iter().rev() {
        st.buf.push_front(b);
    }
}

/// A handle to the process's standard input whose reads park the greenlet
/// (the twin of `std::io::Stdin`).
///
/// ```
/// let stdin: guv::green::io::Stdin = guv::green::io::stdin();
/// # drop(stdin);
/// ```
#[derive(Debug)]
pub struct Stdin {
    _private: (),
}

/// The handle to standard input (std's `stdin()`); see the module docs.
///
/// ```no_run
/// use std::io::Read;
/// let mut buf = [0; 64];
/// let n = guv::green::io::stdin().read(&mut buf).unwrap();
/// ```
pub fn stdin() -> Stdin {
    Stdin { _private: () }
}

impl Stdin {
    /// A buffered reader over standard input (std's `lock`). Bytes it
    /// buffered but did not hand out go back to the shared buffer when it
    /// is dropped. Unlike std's, it does not exclude other readers.
    ///
    /// ```no_run
    /// use std::io::BufRead;
    /// let first = guv::green::io::stdin().lock().lines().next();
    /// ```
    pub fn lock(&self) -> StdinLock<'static> {
        StdinLock { buf: Vec::new(), pos: 0, _handle: PhantomData }
    }

    /// Reads a line into `buf` (std's `read_line`).
    ///
    /// ```no_run
    /// let mut line = String::new();
    /// guv::green::io::stdin().read_line(&mut line).unwrap();
    /// ```
    pub fn read_line(&self, buf: &mut String) -> stdio::Result<usize> {
        self.lock().read_line(buf)
    }

    /// An iterator over the lines of standard input (std's `lines`).
    ///
    /// ```no_run
    /// for line in guv::green::io::stdin().lines() {
    ///     println!("{}", line.unwrap());
    /// }
    /// ```
    pub fn lines(self) -> Lines<StdinLock<'static>> {
        self.lock().lines()
    }
}

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> stdio::Result<usize> {
        green_read(buf)
    }
}

impl Read for &Stdin {
    fn read(&mut self, buf: &mut [u8]) -> stdio::Result<usize> {
        green_read(buf)
    }
}

/// A buffered handle to standard input (the twin of `std::io::StdinLock`).
///
/// ```
/// let lock: guv::green::io::StdinLock<'static> = guv::green::io::stdin().lock();
/// # drop(lock);
/// ```
#[derive(Debug)]
pub struct StdinLock<'a> {
    buf: Vec<u8>,
    pos: usize,
    _handle: PhantomData<&'a Stdin>,
}

impl Read for StdinLock<'_> {
    fn read(&mut self, out: &mut [u8]) -> stdio::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        green_read(out)
    }
}

impl BufRead for StdinLock<'_> {
    fn fill_buf(&mut self) -> stdio::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            self.buf.resize(CHUNK, 0);
            let n = green_read(&mut self.buf).inspect_err(|_| self.buf.clear())?;
            self.buf.truncate(n);
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

impl Drop for StdinLock<'_> {
    fn drop(&mut self) {
        unread(&self.buf[self.pos.min(self.buf.len())..]);
    }
}
