//! The std surface every green socket type shares, written once as
//! macros over a type that wraps a [`Sock`](super::Sock) in a field named
//! `sock`: the conversions, fd traits and `Debug`; std's timeout
//! accessors; `Read`/`Write` through the retry loop; and the non-blocking
//! halves the crate's HTTP server uses.

/// The conversions, fd traits and `Debug` every green socket type has.
/// `$ty` wraps `Sock<$std>` in a field named `sock`.
macro_rules! socket_common {
    ($ty:ident, $std:ty, $what:literal, $path:literal, $make:literal) => {
        impl $ty {
            #[doc = concat!("Takes over a std ", $what, ": makes it non-blocking underneath and registers it with")]
            /// this thread's hub. The green socket keeps what std kept on
            /// the socket: a std socket in non-blocking mode gives a green
            /// one in non-blocking mode (operations return `WouldBlock`
            /// instead of parking), and the read and write timeouts carry
            /// over. Fails only if the fd cannot be inspected, made
            /// non-blocking or registered.
            ///
            #[doc = concat!("```\nlet std_side = ", $make, ";\nlet green = ", $path, "::from_std(std_side).unwrap();\nassert!(green.take_error().unwrap().is_none());\n```")]
            pub fn from_std(inner: $std) -> std::io::Result<$ty> {
                Ok($ty { sock: crate::net::socket::Sock::adopt(inner, |s| s.set_nonblocking(true))? })
            }

            /// Registers a socket guv just made (fresh from `bind`,
            /// `accept`, `pair` or guv's own `socket(SOCK_NONBLOCK)`): the
            /// green socket starts in blocking mode with no timeouts,
            /// without asking the fd (a non-blocking fd here is guv's
            /// doing, not the user's mode).
            #[allow(dead_code)]
            pub(crate) fn from_guv_socket(inner: $std) -> std::io::Result<$ty> {
                inner.set_nonblocking(true)?;
                Ok($ty { sock: crate::net::socket::Sock::new(inner)? })
            }

            #[doc = concat!("Gives back the std ", $what, ", deregistered, in blocking mode unless")]
            /// `set_nonblocking(true)` was called on this one — or unless a
            /// `try_clone` of it is still a green socket: the clones share
            /// the blocking mode (`O_NONBLOCK` belongs to the open file
            /// description), and a blocking fd would make the green clone
            /// block its whole thread. Then the std socket stays
            /// non-blocking (its operations may fail with `WouldBlock`);
            /// drop or convert the clones first to get a blocking one.
            ///
            #[doc = concat!("```\nlet green = ", $path, "::from_std(", $make, ").unwrap();\nlet std_side = green.into_std().unwrap();\nlet _ = std_side.take_error();\n```")]
            pub fn into_std(self) -> std::io::Result<$std> {
                let (inner, nonblocking) = self.sock.into_std_mode();
                inner.set_nonblocking(nonblocking)?;
                Ok(inner)
            }

            /// Moves this socket into or out of non-blocking mode, as std's
            /// `set_nonblocking`: in non-blocking mode an operation that
            /// would wait returns `WouldBlock` instead of parking the
            /// greenlet.
            ///
            #[doc = concat!("```\nlet green = ", $path, "::from_std(", $make, ").unwrap();\ngreen.set_nonblocking(true).unwrap();\ngreen.set_nonblocking(false).unwrap();\n```")]
            pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                self.sock.set_nonblocking(nonblocking);
                Ok(())
            }

            /// Takes the pending socket error (`SO_ERROR`), as std's `take_error`.
            ///
            #[doc = concat!("```\nlet green = ", $path, "::from_std(", $make, ").unwrap();\nassert!(green.take_error().unwrap().is_none());\n```")]
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.sock.get().take_error()
            }
        }

        impl $ty {
            /// The std object, for one non-blocking attempt (async support).
            #[allow(dead_code)]
            pub(crate) fn std_ref(&self) -> &$std {
                self.sock.get()
            }

            /// Off the home thread: this hub's entry for the fd, for an
            /// async poll's helper to wait on (see `Registered::visit`).
            #[allow(dead_code)]
            pub(crate) fn visit(&self) -> std::io::Result<crate::io::Visit> {
                self.sock.visit()
            }
        }

        impl From<$std> for $ty {
            /// [`Self::from_std`].
            ///
            /// # Panics
            ///
            /// If the socket cannot be registered with the hub (the poller
            /// refused it): use `from_std` to get the error instead.
            fn from(inner: $std) -> $ty {
                $ty::from_std(inner).unwrap_or_else(|e| panic!("guv: cannot register a socket with the hub: {e}"))
            }
        }

        impl From<std::os::fd::OwnedFd> for $ty {
            /// Takes over an fd (see `From<std type>`).
            ///
            /// # Panics
            ///
            /// If the socket cannot be registered with the hub.
            fn from(fd: std::os::fd::OwnedFd) -> $ty {
                $ty::from(<$std>::from(fd))
            }
        }

        impl From<$ty> for $std {
            /// `into_std`, ignoring a failure to restore blocking mode.
            fn from(green: $ty) -> $std {
                let (inner, nonblocking) = green.sock.into_std_mode();
                let _ = inner.set_nonblocking(nonblocking);
                inner
            }
        }

        impl From<$ty> for std::os::fd::OwnedFd {
            fn from(green: $ty) -> std::os::fd::OwnedFd {
                std::os::fd::OwnedFd::from(<$std>::from(green))
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.sock.get().as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.sock.get().as_raw_fd()
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                <$std>::from(self).into_raw_fd()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.sock.get(), f)
            }
        }
    };
}

/// std's timeout accessors, for types that read and write.
macro_rules! socket_timeouts {
    ($path:literal, $make:literal) => {
        /// Sets the read timeout, as std's `set_read_timeout`: a read that
        /// waits longer fails with `WouldBlock` (`EAGAIN`, what Linux
        /// reports); `None` waits forever; a zero duration is an
        /// `InvalidInput` error. As with std, the timeout is what the
        /// kernel keeps: rounded up to a scheduler tick, and none at all
        /// for a duration too long for it to count (`Duration::MAX`).
        ///
        #[doc = concat!("```\nlet s = ", $path, "::from_std(", $make, ").unwrap();\ns.set_read_timeout(Some(std::time::Duration::from_millis(5))).unwrap();\nassert!(s.set_read_timeout(Some(std::time::Duration::ZERO)).is_err());\n```")]
        pub fn set_read_timeout(&self, dur: Option<std::time::Duration>) -> std::io::Result<()> {
            // std validates and stores it on the socket too, so it survives
            // a conversion back to the std type. The kernel keeps it in
            // scheduler ticks (rounded up; one too long to count is none),
            // and that is what std's waits last and its getter reports:
            // the green socket takes the value back from the kernel.
            self.sock.get().set_read_timeout(dur)?;
            self.sock.set_read_timeout(self.sock.get().read_timeout()?);
            Ok(())
        }

        /// Sets the write timeout, as std's `set_write_timeout` (see
        /// `set_read_timeout`).
        ///
        #[doc = concat!("```\nlet s = ", $path, "::from_std(", $make, ").unwrap();\ns.set_write_timeout(Some(std::time::Duration::from_secs(1))).unwrap();\n```")]
        pub fn set_write_timeout(&self, dur: Option<std::time::Duration>) -> std::io::Result<()> {
            // As `set_read_timeout`: the value the kernel kept.
            self.sock.get().set_write_timeout(dur)?;
            self.sock.set_write_timeout(self.sock.get().write_timeout()?);
            Ok(())
        }

        /// The read timeout.
        ///
        #[doc = concat!("```\nlet s = ", $path, "::from_std(", $make, ").unwrap();\ns.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();\nassert_eq!(s.read_timeout().unwrap(), Some(std::time::Duration::from_secs(2)));\n```")]
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.sock.read_timeout())
        }

        /// The write timeout.
        ///
        #[doc = concat!("```\nlet s = ", $path, "::from_std(", $make, ").unwrap();\nassert_eq!(s.write_timeout().unwrap(), None);\n```")]
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.sock.write_timeout())
        }
    };
}

/// `Read`/`Write` for `$ty` and `&$ty` through the socket's retry loop.
/// `tcp` says whether a timed-out read into an empty buffer gives 0 bytes
/// (see `Sock::empty_tcp_read`).
macro_rules! socket_read_write {
    ($ty:ident, tcp = $tcp:literal) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let len = buf.len();
                let r = self.sock.read_stream(len, |mut s| std::io::Read::read(&mut s, buf));
                if $tcp && len == 0 { self.sock.empty_tcp_read(r) } else { r }
            }

            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.sock.read_stream(len, |mut s| std::io::Read::read_vectored(&mut s, bufs))
            }
        }

        /// As std's blocking socket: a `write` or `write_vectored` returns
        /// once all of the buffer is in the socket, parking while the peer
        /// reads, not after the part the socket took at first. Short of
        /// that it returns the part sent when the write timeout ended
        /// (`Ok(n)`, `n > 0`; with nothing sent, `WouldBlock`) or when the
        /// connection failed (the next write reports the error). In
        /// non-blocking mode, one attempt: what the socket took at once.
        ///
        /// A greenlet killed in the middle of a long write has sent part
        /// of the buffer, which its caller never learns (a std thread
        /// cannot be killed, so std has no such case).
        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.sock.write_stream(buf, |mut s, rest| std::io::Write::write(&mut s, rest))
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.sock.write_stream_vectored(bufs, |mut s, rest| std::io::Write::write_vectored(&mut s, rest))
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }

            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        /// As `&` this type's: all of the buffer, as std's blocking socket.
        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

/// Non-blocking halves of a stream socket, for code in the crate that must
/// not hold a borrow across a park (the HTTP server's buffers): try the
/// call, and on `WouldBlock` release what you hold and `wait_ready`.
macro_rules! socket_try_io {
    ($ty:ident) => {
        impl $ty {
            /// One non-blocking read: `WouldBlock` when nothing is there.
            #[allow(dead_code)]
            #[inline]
            pub(crate) fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                let mut s = self.sock.get();
                std::io::Read::read(&mut s, buf)
            }

            /// One non-blocking write: `WouldBlock` when the send buffer is full.
            #[allow(dead_code)]
            #[inline]
            pub(crate) fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                let mut s = self.sock.get();
                std::io::Write::write(&mut s, buf)
            }

            /// Whether a read now could only say `WouldBlock` (the last read
            /// drained the socket and nothing can have arrived since).
            #[allow(dead_code)]
            #[inline]
            pub(crate) fn read_would_block(&self) -> bool {
                self.sock.read_would_block()
            }

            /// Records that a read just drained the socket.
            #[allow(dead_code)]
            #[inline]
            pub(crate) fn mark_drained(&self) {
                self.sock.mark_drained();
            }

            /// Wakes this hub's greenlets parked for the socket to be
            /// readable (see `Registered::wake_readers`).
            #[allow(dead_code)]
            pub(crate) fn wake_readers(&self) {
                self.sock.wake_readers();
            }

            /// Parks until the socket reports `interest`, or `deadline` passes
            /// (`TimedOut`).
            #[allow(dead_code)]
            #[inline]
            pub(crate) fn wait_ready(
                &self,
                interest: crate::Interest,
                deadline: Option<std::time::Instant>,
            ) -> std::io::Result<()> {
                self.sock.wait(interest, deadline)
            }
        }
    };
}

pub(crate) use {socket_common, socket_read_write, socket_timeouts, socket_try_io};
