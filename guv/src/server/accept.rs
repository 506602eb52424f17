//! The accept loop shared by `StreamServer` and the HTTP server, and how it
//! sorts `accept` failures (skip, back off, stop).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(doc)] // only named in doc links
use super::StreamServer;
use crate::net::{TcpListener, TcpStream};

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
/// taken, an error pending on it, a signal) are skipped; a lack of
/// resources (file descriptors, memory) is logged under `target` and
/// retried after [`ACCEPT_BACKOFF`]. Returns the error only when the
/// listener itself cannot accept any more (it was shut down or is not a
/// listening socket), which the caller's server stops on. Shared by
/// [`StreamServer`] and the HTTP server.
pub(crate) fn accept_loop(
    listener: &TcpListener,
    target: &str,
    mut start: impl FnMut(TcpStream, SocketAddr),
) -> io::Error {
    // The server owns the listener: it parks in accept whatever mode the
    // listener was given (one taken over from a non-blocking std listener
    // keeps that mode, see `from_std`).
    let _ = listener.set_nonblocking(false);
    loop {
        match listener.accept() {
            Ok((stream, peer)) => start(stream, peer),
            Err(e) => match accept_failure(&e) {
                AcceptFailure::Skip => {}
                AcceptFailure::BackOff => {
                    log::error!(target: target, "accept failed: {e}; retrying in {ACCEPT_BACKOFF:?}");
                    crate::sleep(ACCEPT_BACKOFF);
                }
                AcceptFailure::Fatal => {
                    log::error!(target: target, "accept failed: {e}; the listener cannot accept, the server stops");
                    return io::Error::new(e.kind(), format!("{target}: the listener cannot accept: {e}"));
                }
            },
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
