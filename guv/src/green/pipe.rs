//! The green anonymous pipe, [`pipe`] with [`PipeReader`] and
//! [`PipeWriter`]: std's `std::io::pipe()` whose reads and writes park the
//! greenlet instead of the OS thread (re-exported as `guv::green::io::pipe`).
//!
//! # How it works
//!
//! The pipe is std's (`pipe2` with `O_CLOEXEC`); guv sets `O_NONBLOCK` on
//! both ends and registers each with the hub, as it does the pipes of a
//! child process: a read of an empty pipe or a write to a full one parks
//! on the fd until the kernel reports it ready. The writer closing makes
//! the read end readable (a parked reader wakes and reads `Ok(0)`), the
//! reader closing makes the write end report an error (a parked writer
//! wakes and gets `BrokenPipe`: Rust programs ignore `SIGPIPE`).
//!
//! `O_NONBLOCK` belongs to the open file description, which `try_clone`
//! shares. Handing an end to std (`OwnedFd`, a raw fd, std's pipe types)
//! puts it back in blocking mode unless a green clone still uses the same
//! description (that clone's system calls would then block the hub's
//! thread). Handing an end to a child (`Stdio`) always gives the child a
//! blocking end: with a green clone alive, the child gets a new open file
//! description of the same pipe (reopened through `/proc/self/fd`), so that
//! neither side's mode changes under the other.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::process::Stdio;

use crate::net::{Sock, set_nonblocking};

/// Creates an anonymous pipe whose ends park the greenlet: the green twin
/// of `std::io::pipe()`.
///
/// Bytes written to the [`PipeWriter`] are read, in order, from the
/// [`PipeReader`]. A read waits (parking the greenlet) until some bytes
/// are there or every writer is gone (`Ok(0)`); a write waits while the
/// pipe's buffer is full, and fails with `BrokenPipe` once every reader is
/// gone. Both ends are `Send + Sync` and work from any thread; either can
/// be a child process's stdin, stdout or stderr through [`Stdio`].
///
/// ```
/// use std::io::{Read, Write};
/// let (mut reader, mut writer) = guv::green::io::pipe().unwrap();
/// let feeder = guv::spawn(move || {
///     writer.write_all(b"through the pipe").unwrap();
///     // `writer` is dropped here: the reader sees the end.
/// });
/// let mut got = String::new();
/// reader.read_to_string(&mut got).unwrap(); // parks until the feeder writes
/// assert_eq!(got, "through the pipe");
/// feeder.wait().unwrap();
/// ```
///
/// # Errors
///
/// When the process or the system is out of fds, or an end cannot be
/// registered with the hub.
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    let (r, w) = io::pipe()?;
    Ok((PipeReader(End::fresh(r.into())?), PipeWriter(End::fresh(w.into())?)))
}

/// The read end of a green [`pipe`]: reads park the greenlet until bytes
/// arrive or every writer is gone (`Ok(0)`). The twin of
/// `std::io::PipeReader`.
///
/// It reads through `&PipeReader` too, so several greenlets can share one
/// (each read takes whatever is there; who gets which bytes is first come,
/// first served), and [`PipeReader::try_clone`] gives another owner.
pub struct PipeReader(End);

/// The write end of a green [`pipe`]: writes park the greenlet while the
/// pipe is full and fail with `BrokenPipe` once every reader is gone. The
/// twin of `std::io::PipeWriter`.
///
/// As std's, a write of at most `PIPE_BUF` (4096) bytes is atomic: it is
/// never interleaved with another writer's.
pub struct PipeWriter(End);

/// One non-blocking pipe end registered with the hub.
struct End {
    sock: Sock<File>,
}

/// Which end, for reopening it with the right access mode.
#[derive(Clone, Copy)]
enum Side {
    Read,
    Write,
}

impl End {
    /// Takes over `fd`, a pipe end: it becomes non-blocking (std's mode,
    /// blocking or not, is kept as the green end's) and is registered.
    fn new(fd: OwnedFd) -> io::Result<End> {
        let file = File::from(fd);
        Ok(End { sock: Sock::adopt(file, |f| set_nonblocking(f.as_fd(), true))? })
    }

    /// Takes over `fd`, an end of a pipe just made (blocking).
    fn fresh(fd: OwnedFd) -> io::Result<End> {
        set_nonblocking(fd.as_fd(), true)?;
        Ok(End { sock: Sock::new(File::from(fd))? })
    }

    fn try_clone(&self) -> io::Result<End> {
        let dup = self.sock.get().try_clone()?;
        Ok(End { sock: self.sock.clone_with(dup)? })
    }

    /// The fd, deregistered, back in blocking mode unless a green clone
    /// shares its open file description (or it came in non-blocking).
    fn into_fd(self) -> OwnedFd {
        let (file, nonblocking) = self.sock.into_std_mode();
        let fd = OwnedFd::from(file);
        if !nonblocking {
            let _ = set_nonblocking(fd.as_fd(), false);
        }
        fd
    }

    /// The fd for a child process: blocking whatever the green clones do.
    /// With a clone alive, the child gets a new open file description of
    /// the same pipe, so that the clone stays non-blocking; where that
    /// cannot be made (no `/proc`), the shared, non-blocking one.
    fn into_child_fd(self, side: Side) -> OwnedFd {
        let came_nonblocking = self.sock.is_nonblocking();
        let (file, nonblocking) = self.sock.into_std_mode();
        if !nonblocking {
            let _ = set_nonblocking(file.as_fd(), false);
            return file.into();
        }
        if came_nonblocking {
            // std hands such an fd over as it is.
            return file.into();
        }
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let mut options = OpenOptions::new();
        match side {
            Side::Read => options.read(true),
            Side::Write => options.write(true),
        };
        // Opening an anonymous pipe never waits for the other side (only
        // a named FIFO's open does), and the new description is blocking.
        match options.open(path) {
            Ok(fresh) => fresh.into(),
            Err(_) => file.into(),
        }
    }
}

macro_rules! pipe_end {
    ($name:ident, $std:ty, $side:expr) => {
        impl $name {
            /// Another owner of the same end (a duplicated fd, registered
            /// on its own), as std's `try_clone`. The pipe counts as open
            /// on this side until every clone is dropped.
            ///
            /// # Errors
            ///
            /// When out of fds, or the clone cannot be registered.
            pub fn try_clone(&self) -> io::Result<$name> {
                self.0.try_clone().map($name)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("fd", &self.0.sock.get().as_raw_fd()).finish()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.sock.get().as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.0.sock.get().as_raw_fd()
            }
        }

        impl IntoRawFd for $name {
            /// Gives up the fd, deregistered and blocking (unless a green
            /// clone shares its mode, see [`pipe`]); the caller closes it.
            fn into_raw_fd(self) -> RawFd {
                self.0.into_fd().into_raw_fd()
            }
        }

        impl From<$name> for OwnedFd {
            /// The fd, deregistered and blocking (unless a green clone
            /// shares its mode, see [`pipe`]).
            fn from(end: $name) -> OwnedFd {
                end.0.into_fd()
            }
        }

        impl From<OwnedFd> for $name {
            /// Takes over a pipe end (std's `From<OwnedFd>`): it becomes
            /// non-blocking underneath and is registered with this thread's
            /// hub; if it was non-blocking already, its calls report
            /// `WouldBlock` instead of parking, as std's would.
            ///
            /// # Panics
            ///
            /// If the fd cannot be registered with the hub (as the green
            /// sockets' `From<OwnedFd>`).
            fn from(fd: OwnedFd) -> $name {
                End::new(fd).map($name).unwrap_or_else(|e| {
                    panic!(concat!("guv::green::io::", stringify!($name), ": cannot register the fd: {}"), e)
                })
            }
        }

        impl From<$name> for $std {
            /// std's end of the same pipe, blocking (unless a green clone
            /// shares its mode, see [`pipe`]).
            fn from(end: $name) -> $std {
                <$std>::from(end.0.into_fd())
            }
        }

        impl From<$std> for $name {
            /// Takes over std's end (see `From<OwnedFd>`).
            ///
            /// # Panics
            ///
            /// If the fd cannot be registered with the hub.
            fn from(end: $std) -> $name {
                $name::from(OwnedFd::from(end))
            }
        }

        impl From<$name> for Stdio {
            /// Makes the end a child's stdin, stdout or stderr (the
            /// green `Command` takes std's `Stdio`). The child gets it in
            /// blocking mode, as a program expects; the green clones of
            /// the end keep working (see [`pipe`]).
            fn from(end: $name) -> Stdio {
                Stdio::from(end.0.into_child_fd($side))
            }
        }
    };
}

pipe_end!(PipeReader, io::PipeReader, Side::Read);
pipe_end!(PipeWriter, io::PipeWriter, Side::Write);

fn read(end: &End, buf: &mut [u8]) -> io::Result<usize> {
    end.sock.read(|mut f| f.read(buf))
}

fn read_vectored(end: &End, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    end.sock.read(|mut f| f.read_vectored(bufs))
}

/// As std's blocking pipe: one write returns once all of `buf` is in the
/// pipe (parking while the reader reads), not after the part that fit; if
/// the reader goes half-way, what went in counts, and the next write fails
/// with `BrokenPipe` (see `Sock::write_stream`).
fn write(end: &End, buf: &[u8]) -> io::Result<usize> {
    end.sock.write_stream(buf, |mut f, rest| f.write(rest))
}

fn write_vectored(end: &End, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    end.sock.write_stream_vectored(bufs, |mut f, rest| f.write_vectored(rest))
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read(&self.0, buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        read_vectored(&self.0, bufs)
    }
}

impl Read for &PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read(&self.0, buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        read_vectored(&self.0, bufs)
    }
}

/// As std's blocking pipe: one `write` or `write_vectored` returns once
/// all of the buffer is in the pipe. A greenlet killed in the middle of a
/// long write has put part of the buffer in, which its caller never learns.
impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write(&self.0, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        write_vectored(&self.0, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// As std's blocking pipe: one `write` or `write_vectored` returns once
/// all of the buffer is in the pipe. A greenlet killed in the middle of a
/// long write has put part of the buffer in, which its caller never learns.
impl Write for &PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write(&self.0, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        write_vectored(&self.0, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
