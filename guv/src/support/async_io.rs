//! `futures_io::AsyncRead` / `AsyncWrite` for green sockets and pipes.
//!
//! A poll tries the non-blocking system call; on `WouldBlock` it starts a
//! small greenlet that waits for the fd's readiness (on a duplicate of the
//! fd, which it owns) and then wakes the task, and returns `Pending`.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::Interest;

/// The outcome of one non-blocking attempt, as a poll.
fn poll_io<T>(fd: impl AsFd, interest: Interest, cx: &Context<'_>, r: io::Result<T>) -> Poll<io::Result<T>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            let dup = match fd.as_fd().try_clone_to_owned() {
                Ok(dup) => dup,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let waker = cx.waker().clone();
            crate::spawn_n(move || {
                // Readiness, an error or a close: the task retries and sees.
                let _ = crate::trampoline(&dup, interest, None);
                waker.wake();
            });
            Poll::Pending
        }
        other => Poll::Ready(other),
    }
}

/// `AsyncRead`/`AsyncWrite` for a green type whose std object (`.sock.get()`)
/// reads and writes through `&`.
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

/// One attempt at the system call, never parking.
trait NonBlocking {
    fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_nonblocking(&mut self, buf: &[u8]) -> io::Result<usize>;
}

impl NonBlocking for &crate::net::TcpStream {
    fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut self.std_ref()).read(buf)
    }

    fn write_nonblocking(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut self.std_ref()).write(buf)
    }
}

impl NonBlocking for &crate::net::unix::UnixStream {
    fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut self.std_ref()).read(buf)
    }

    fn write_nonblocking(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&mut self.std_ref()).write(buf)
    }
}

async_rw!(crate::net::TcpStream);
async_rw!(crate::net::unix::UnixStream);
