//! The child's green pipes (`ChildStdin`, `ChildStdout`, `ChildStderr`): non-
//! blocking fds registered with the hub.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::process::Stdio;

use crate::net::{Sock, set_nonblocking};

/// A non-blocking pipe end registered with the hub.
pub(super) struct Pipe {
    sock: Sock<std::fs::File>,
}

impl Pipe {
    pub(super) fn new(fd: OwnedFd) -> io::Result<Pipe> {
        set_nonblocking(fd.as_fd(), true)?;
        Ok(Pipe { sock: Sock::new(std::fs::File::from(fd))? })
    }

    /// The fd, deregistered and back in blocking mode.
    fn into_fd(self) -> OwnedFd {
        let fd = OwnedFd::from(self.sock.into_inner());
        let _ = set_nonblocking(fd.as_fd(), false);
        fd
    }
}

macro_rules! pipe_type {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        pub struct $name(pub(super) Pipe);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // As std's: no fields.
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
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

        impl From<$name> for OwnedFd {
            fn from(p: $name) -> OwnedFd {
                p.0.into_fd()
            }
        }

        impl From<$name> for $std {
            fn from(p: $name) -> $std {
                <$std>::from(p.0.into_fd())
            }
        }

        impl From<$name> for Stdio {
            /// Hands the pipe to another child (in blocking mode).
            fn from(p: $name) -> Stdio {
                Stdio::from(p.0.into_fd())
            }
        }

        impl IntoRawFd for $name {
            /// Gives up the pipe's fd (in blocking mode); the caller must
            /// close it (std's `IntoRawFd`).
            fn into_raw_fd(self) -> RawFd {
                self.0.into_fd().into_raw_fd()
            }
        }

        impl From<OwnedFd> for $name {
            /// Takes over a pipe end (std's `From<OwnedFd>`): it becomes
            /// non-blocking and is registered with this thread's hub.
            ///
            /// # Panics
            ///
            /// If the fd cannot be registered with the hub (as the green
            /// sockets' `From<OwnedFd>`).
            fn from(fd: OwnedFd) -> $name {
                $name(Pipe::new(fd).unwrap_or_else(|e| {
                    panic!(concat!("guv::green::process::", stringify!($name), ": cannot register the fd: {}"), e)
                }))
            }
        }
    };
}

pipe_type!(
    /// The child's stdin: writes park the greenlet while the pipe is full.
    ChildStdin,
    std::process::ChildStdin
);
pipe_type!(
    /// The child's stdout: reads park the greenlet until output arrives.
    /// As std's, it converts to and from `OwnedFd` and raw fds, and into
    /// `Stdio` for another child.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::fd::OwnedFd;
    /// use guv::green::process::{ChildStdout, Command, Stdio};
    /// let mut c = Command::new("echo").arg("out").stdout(Stdio::piped()).spawn().unwrap();
    /// let fd = OwnedFd::from(c.stdout.take().unwrap());
    /// let mut again = ChildStdout::from(fd);
    /// let mut s = String::new();
    /// again.read_to_string(&mut s).unwrap();
    /// assert_eq!(s, "out\n");
    /// c.wait().unwrap();
    /// ```
    ChildStdout,
    std::process::ChildStdout
);
pipe_type!(
    /// The child's stderr: reads park the greenlet until output arrives.
    ChildStderr,
    std::process::ChildStderr
);

/// As std's: `write_vectored` is one `writev` over all the buffers (the
/// trait's default would write only the first non-empty one).
impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// As std's, whose pipe is blocking: a write returns once all of `buf`
/// is in the pipe (parking while the child reads), not after the part the
/// pipe took at first; if the child closes its end half-way, what went in
/// before counts (`Ok` with that many bytes, as the kernel answers a
/// blocking write), and the next write fails with `BrokenPipe`.
impl Write for &ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.sock.write_stream(buf, |mut f, rest| f.write(rest))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.sock.write_stream_vectored(bufs, |mut f, rest| f.write_vectored(rest))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// As std's: `read_vectored` is one `readv` into all the buffers.
impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.sock.read(|mut f| f.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.0.sock.read(|mut f| f.read_vectored(bufs))
    }
}

/// As std's: `read_vectored` is one `readv` into all the buffers.
impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.sock.read(|mut f| f.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.0.sock.read(|mut f| f.read_vectored(bufs))
    }
}
