//! `futures_io::AsyncRead` / `AsyncWrite` for green sockets and pipes.
//!
//! A poll tries the non-blocking system call; on `WouldBlock` it makes sure
//! a small greenlet waits for the fd's readiness and then wakes the task,
//! and returns `Pending`.
//!
//! One helper waits per socket registration and direction, however often
//! the task polls meanwhile (later polls add their waker to its list). It
//! waits on the socket's registration with this hub, not on the fd itself,
//! so that dropping the socket ends it at once: an abandoned poll neither
//! keeps the connection open nor leaves a greenlet behind. A socket polled
//! off its home thread has no registration of its own here: its helper
//! borrows this hub's entry for the fd (`io::visit`, as a `trampoline`
//! would) and waits on that, and dropping the socket on this thread
//! releases the entry before the fd closes, with the same effect. (Before
//! review 19 that helper waited on a duplicate of the fd, which kept the
//! connection open until the peer sent something.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::Interest;

/// A helper's key: fd, registration generation, and whether it waits to read.
type Key = (RawFd, u64, bool);

thread_local! {
    /// The tasks each running helper will wake.
    static HELPERS: RefCell<HashMap<Key, Rc<RefCell<Vec<Waker>>>>> = RefCell::default();
}

/// Removes a helper's entry however it ends (a kill included), and wakes
/// its tasks.
struct Helper(Key);

impl Drop for Helper {
    fn drop(&mut self) {
        let wakers = HELPERS.try_with(|h| h.borrow_mut().remove(&self.0)).ok().flatten();
        if let Some(wakers) = wakers {
            let wakers = std::mem::take(&mut *wakers.borrow_mut());
            for w in wakers {
                w.wake();
            }
        }
    }
}

/// Arranges for `cx`'s task to be woken when `sock`'s fd is ready for
/// `interest`.
fn wake_when_ready<S: NonBlocking + AsFd>(sock: S, interest: Interest, cx: &Context<'_>) -> io::Result<()> {
    let fd = sock.as_fd();
    // Off the home thread: borrow this hub's entry for the fd (the home
    // hub's path, the hot one, takes no borrow).
    let (generation, visit) = match crate::io::owned_generation(fd) {
        Some(generation) => (generation, None),
        None => {
            let visit = sock.visit()?;
            (visit.generation(), Some(visit))
        }
    };
    let key = (fd.as_raw_fd(), generation, interest.is_readable());
    let running = HELPERS.with(|h| h.borrow().get(&key).cloned());
    if let Some(wakers) = running {
        let mut wakers = wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        return Ok(());
    }
    HELPERS.with(|h| h.borrow_mut().insert(key, Rc::new(RefCell::new(vec![cx.waker().clone()]))));
    let helper = Helper(key);
    crate::spawn_n(move || {
        let helper = helper;
        let _visit = visit;
        // Readiness, an error or the socket's drop: the task retries and sees.
        let _ = crate::io::wait_registered(helper.0.0, helper.0.1, interest);
        drop(helper);
    });
    Ok(())
}

fn poll_io<S: NonBlocking + AsFd, T>(
    sock: S,
    interest: Interest,
    cx: &Context<'_>,
    r: io::Result<T>,
) -> Poll<io::Result<T>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => match wake_when_ready(sock, interest, cx) {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        },
        other => Poll::Ready(other),
    }
}

macro_rules! async_rw {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                let r = loop {
                    match (&mut &*self).read_nonblocking(buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        r => break r,
                    }
                };
                poll_io(&*self, Interest::READABLE, cx, r)
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let r = loop {
                    match (&mut &*self).write_nonblocking(buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        r => break r,
                    }
                };
                poll_io(&*self, Interest::WRITABLE, cx, r)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

/// One attempt at the system call, never parking; and, off the home
/// thread, the socket's entry on this hub to wait on.
trait NonBlocking {
    fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_nonblocking(&mut self, buf: &[u8]) -> io::Result<usize>;
    fn visit(&self) -> io::Result<crate::io::Visit>;
}

impl NonBlocking for &crate::net::TcpStream {
    fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut self.std_ref()).read(buf)
    }

    fn write_nonblocking(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut self.std_ref()).write(buf)
    }

    fn visit(&self) -> io::Result<crate::io::Visit> {
        (**self).visit()
    }
}

impl NonBlocking for &crate::net::unix::UnixStream {
    fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut self.std_ref()).read(buf)
    }

    fn write_nonblocking(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut self.std_ref()).write(buf)
    }

    fn visit(&self) -> io::Result<crate::io::Visit> {
        (**self).visit()
    }
}

async_rw!(crate::net::TcpStream);
async_rw!(crate::net::unix::UnixStream);
