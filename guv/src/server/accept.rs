//! The accept loop shared by `StreamServer` and the HTTP server, and how it
//! sorts `accept` failures (skip, back off, stop).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(doc)] // only named in doc links
use super::StreamServer;
use crate::net::TcpListener;
use crate::net::unix::UnixListener;

/// A listening socket a server accepts on: a green [`TcpListener`] or
/// [`UnixListener`] (`guv::green::os::unix::net::UnixListener` is the same
/// type). Sealed: there are no others.
///
/// [`StreamServer`] and [`serve`](super::serve) take either; the handler
/// gets the listener's stream and peer address types: `(TcpStream,
/// std::net::SocketAddr)` or `(UnixStream, std::os::unix::net::SocketAddr)`.
///
/// ```
/// fn port_or_path<L: guv::server::Listener>(_: &L) -> &'static str {
///     std::any::type_name::<L::Stream>()
/// }
/// let tcp = guv::listen("127.0.0.1:0").unwrap();
/// assert!(port_or_path(&tcp).ends_with("TcpStream"));
/// ```
pub trait Listener: sealed::Accept {}

impl Listener for TcpListener {}

impl Listener for UnixListener {}

#[allow(unreachable_pub)] // sealed: public in a private module
pub(crate) mod sealed {
    use super::*;

    /// What the servers need of a listener.
    pub trait Accept: std::os::fd::AsFd + 'static {
        /// The connections it accepts.
        type Stream: 'static;
        /// The peer addresses `accept` reports.
        type Addr: Clone + fmt::Debug + 'static;

        /// Accepts one connection, parking until one comes.
        fn accept_conn(&self) -> io::Result<(Self::Stream, Self::Addr)>;

        /// Sets the listener's blocking mode.
        fn set_nonblocking_mode(&self, nonblocking: bool) -> io::Result<()>;

        /// Parks until a connection may be accepted: for the accept loop
        /// when `accept` said `WouldBlock` (a clone made non-blocking
        /// shares the mode), so that it does not spin.
        fn wait_acceptable(&self) -> io::Result<()> {
            crate::trampoline(self, crate::Interest::READABLE, None)
        }

        /// The listening address as a `ServerHandle` reports it: an error
        /// that says why for a Unix-domain listener, which has no IP address.
        fn inet_addr(&self) -> io::Result<SocketAddr>;
    }

    impl Accept for TcpListener {
        type Stream = crate::net::TcpStream;
        type Addr = SocketAddr;

        fn accept_conn(&self) -> io::Result<(Self::Stream, SocketAddr)> {
            self.accept()
        }

        fn set_nonblocking_mode(&self, nonblocking: bool) -> io::Result<()> {
            self.set_nonblocking(nonblocking)
        }

        fn inet_addr(&self) -> io::Result<SocketAddr> {
            self.local_addr()
        }
    }

    impl Accept for UnixListener {
        type Stream = crate::net::unix::UnixStream;
        type Addr = std::os::unix::net::SocketAddr;

        fn accept_conn(&self) -> io::Result<(Self::Stream, Self::Addr)> {
            self.accept()
        }

        fn set_nonblocking_mode(&self, nonblocking: bool) -> io::Result<()> {
            self.set_nonblocking(nonblocking)
        }

        fn inet_addr(&self) -> io::Result<SocketAddr> {
            let path = self.local_addr().map(|a| format!("{a:?}")).unwrap_or_default();
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("guv::server: the server listens on a Unix-domain socket ({path}), which has no IP address"),
            ))
        }
    }
}

/// How long to back off after `accept` fails for lack of resources (file
/// descriptors, memory), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// What [`accept_loop`] does after `accept` failed.
#[derive(Debug, PartialEq, Eq)]
enum AcceptFailure {
    /// The failure concerns one connection, or none: try again at once.
    Skip,
    /// Resources ran out (file descriptors, memory): log, back off, retry.
    BackOff,
    /// The listener itself is unusable (closed, shut down, not listening):
    /// retrying would fail the same way for ever.
    Fatal,
}

/// Sorts an error of `accept` (see accept(2)).
fn accept_failure(e: &io::Error) -> AcceptFailure {
    match e.kind() {
        // WouldBlock: the listener's own SO_RCVTIMEO passed.
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock => return AcceptFailure::Skip,
        _ => {}
    }
    match e.raw_os_error() {
        // Linux hands errors already pending on the new connection to
        // `accept`, which is to be retried as for EAGAIN (accept(2)); EPERM
        // is a firewall refusing that connection.
        Some(
            libc::ENETDOWN
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::EPERM,
        ) => AcceptFailure::Skip,
        // Not a listening socket (any more): shut down, or not a socket.
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT) => AcceptFailure::Fatal,
        _ => AcceptFailure::BackOff,
    }
}

/// Accepts on `listener`, handing each connection to `start`. Failures
/// that concern one connection (it was aborted or reset before it was
/// taken, an error pending on it, a signal) are skipped; `WouldBlock` (the
/// listener was made non-blocking through a clone) waits until it is
/// readable; a lack of
/// resources (file descriptors, memory) is logged under `target` and
/// retried after [`ACCEPT_BACKOFF`]. Returns the error only when the
/// listener itself cannot accept any more (it was shut down or is not a
/// listening socket), which the caller's server stops on. Shared by
/// [`StreamServer`] and the HTTP server.
///
/// `room` runs before each `accept` and may park until the server can take
/// one more connection (the HTTP server's `max_connections`); what it
/// returns (a pool slot) goes to `start` with the connection, or to the
/// next `accept` if this one failed. So a full server leaves new clients
/// on the listener, where a worker sharing it (`Server::run_unix`) takes
/// them, rather than holding one it cannot serve yet.
pub(crate) fn accept_loop<L: Listener, R>(
    listener: &L,
    target: &str,
    mut room: impl FnMut() -> R,
    mut start: impl FnMut(R, L::Stream, L::Addr),
) -> io::Error {
    // The server owns the listener: it parks in accept whatever mode the
    // listener was given (one taken over from a non-blocking std listener
    // keeps that mode, see `from_std`).
    let _ = listener.set_nonblocking_mode(false);
    let mut kept = None;
    loop {
        let reserved = kept.take().unwrap_or_else(&mut room);
        match listener.accept_conn() {
            Ok((stream, peer)) => start(reserved, stream, peer),
            Err(e) => {
                kept = Some(reserved);
                match accept_failure(&e) {
                    // Non-blocking after all (user code made a clone of the
                    // listener so: clones share the mode), or its own
                    // `SO_RCVTIMEO` passed: park for the next connection
                    // instead of retrying without a switch, which would starve
                    // every other greenlet of the thread.
                    AcceptFailure::Skip if e.kind() == io::ErrorKind::WouldBlock => {
                        if let Err(e) = listener.wait_acceptable() {
                            log::error!(target: target, "cannot wait for connections: {e}; the server stops");
                            return io::Error::new(e.kind(), format!("{target}: cannot wait for connections: {e}"));
                        }
                    }
                    AcceptFailure::Skip => {}
                    AcceptFailure::BackOff => {
                        log::error!(target: target, "accept failed: {e}; retrying in {ACCEPT_BACKOFF:?}");
                        crate::sleep(ACCEPT_BACKOFF);
                    }
                    AcceptFailure::Fatal => {
                        log::error!(target: target, "accept failed: {e}; the listener cannot accept, the server stops");
                        return io::Error::new(e.kind(), format!("{target}: the listener cannot accept: {e}"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AcceptFailure, accept_failure};
    use std::io;

    #[test]
    fn accept_errors_are_sorted_as_accept_2_says() {
        let os = io::Error::from_raw_os_error;
        // Errors pending on one new connection: retried at once.
        for code in [libc::EPROTO, libc::ENETDOWN, libc::EHOSTUNREACH, libc::ENETUNREACH, libc::EPERM] {
            assert_eq!(accept_failure(&os(code)), AcceptFailure::Skip, "errno {code}");
        }
        for code in [libc::ECONNABORTED, libc::EINTR, libc::EAGAIN] {
            assert_eq!(accept_failure(&os(code)), AcceptFailure::Skip, "errno {code}");
        }
        // Out of resources: backed off and retried.
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(accept_failure(&os(code)), AcceptFailure::BackOff, "errno {code}");
        }
        // The listener itself is unusable.
        for code in [libc::EINVAL, libc::EBADF, libc::ENOTSOCK] {
            assert_eq!(accept_failure(&os(code)), AcceptFailure::Fatal, "errno {code}");
        }
    }
}
