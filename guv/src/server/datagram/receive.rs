//! The receive greenlet of a [`DatagramServer`](super::DatagramServer):
//! a permit of the cap, then a datagram, then a handler greenlet for it.

use std::io;
use std::rc::Rc;

use super::super::TARGET;
use super::super::handle::ServerHandle;
use super::super::shared::{Shared, run_logged};
use super::RECV_BACKOFF;
use super::socket::{Datagram, DatagramSocket};
use crate::Semaphore;

/// What the receive greenlet owns: the socket (shared with the running
/// handlers, which borrow it for their replies), the handler and the cap.
pub(super) struct Receiver<S, F> {
    pub(super) socket: Rc<S>,
    pub(super) handler: Rc<F>,
    /// One permit per handler that may run; the receive greenlet holds one
    /// while it waits for a datagram, and hands it to that datagram's
    /// handler.
    pub(super) permits: Semaphore,
    pub(super) max: usize,
    pub(super) shared: Rc<Shared>,
}

impl<S, F> Receiver<S, F>
where
    S: DatagramSocket,
    F: Fn(Datagram<'_, S>) -> io::Result<()> + 'static,
{
    /// Receives into `buf` (`max + 1` bytes) and starts a handler per
    /// datagram until the socket fails for good; returns that error.
    pub(super) fn run(&self, buf: &mut [u8]) -> io::Error {
        loop {
            // The slot first: with every slot taken, nothing is read.
            self.permits.acquire();
            let permit = Permit(self.permits.clone());
            let (n, peer) = match self.socket.recv_from(buf) {
                Ok(got) => got,
                Err(e) => match recv_failure(&e) {
                    // Non-blocking (a handler may make the shared socket
                    // so) or its read timeout passed: park for the next
                    // datagram instead of spinning without a switch.
                    RecvFailure::Skip if e.kind() == io::ErrorKind::WouldBlock => {
                        if let Err(e) = self.socket.wait_readable() {
                            log::error!(target: TARGET, "cannot wait for datagrams: {e}; the server stops");
                            return io::Error::new(e.kind(), format!("guv::server: cannot wait for datagrams: {e}"));
                        }
                        continue;
                    }
                    RecvFailure::Skip => continue,
                    RecvFailure::BackOff => {
                        drop(permit);
                        log::error!(target: TARGET, "receive failed: {e}; retrying in {RECV_BACKOFF:?}");
                        crate::sleep(RECV_BACKOFF);
                        continue;
                    }
                    RecvFailure::Fatal => {
                        log::error!(target: TARGET, "receive failed: {e}; the socket cannot receive, the server stops");
                        return io::Error::new(e.kind(), format!("guv::server: the socket cannot receive: {e}"));
                    }
                },
            };
            let truncated = n > self.max;
            if truncated {
                log::warn!(
                    target: TARGET,
                    "{peer:?}: a datagram longer than {} bytes was truncated (max_datagram_size)",
                    self.max
                );
            }
            let data = buf[..n.min(self.max)].to_vec();
            let (socket, handler) = (self.socket.clone(), self.handler.clone());
            let label = peer.clone();
            let started = self.shared.start_job(move |shared| {
                let _permit = permit;
                let datagram = Datagram { data, peer, truncated, socket: &*socket };
                run_logged(&label, shared, || handler(datagram));
            });
            if let Err(e) = started {
                log::error!(target: TARGET, "cannot start a greenlet for a datagram (dropped): {e}");
            }
        }
    }
}

/// A taken slot of the cap, given back when dropped (by the handler that
/// holds it when it ends, or the receive greenlet if it is killed first).
struct Permit(Semaphore);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// What the receive loop does after `recvfrom` failed.
#[derive(Debug, PartialEq, Eq)]
enum RecvFailure {
    /// About one datagram or none: receive again at once.
    Skip,
    /// Out of memory: log, back off, retry.
    BackOff,
    /// The socket itself cannot receive: retrying would fail for ever.
    Fatal,
}

/// Sorts an error of `recvfrom` (see recvfrom(2), udp(7), ip(7)).
fn recv_failure(e: &io::Error) -> RecvFailure {
    match e.kind() {
        // WouldBlock: the socket's own read timeout passed. Refused,
        // reset, unreachable: an ICMP error for an earlier send (a
        // connected socket, or `IP_RECVERR`), about one peer.
        io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::NetworkDown => return RecvFailure::Skip,
        _ => {}
    }
    match e.raw_os_error() {
        Some(libc::EPROTO | libc::EHOSTDOWN | libc::ENONET | libc::EMSGSIZE | libc::ETIMEDOUT | libc::EPERM) => {
            RecvFailure::Skip
        }
        Some(libc::EBADF | libc::ENOTSOCK | libc::EINVAL | libc::ENOTCONN | libc::EFAULT) => RecvFailure::Fatal,
        _ => RecvFailure::BackOff,
    }
}

/// Stops a server when dropped: armed while `serve_forever` waits, so that
/// a kill or `Timeout` of the waiting greenlet stops the server.
pub(super) struct StopOnUnwind<'a>(pub(super) &'a ServerHandle);

impl Drop for StopOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Owned by the receive greenlet's closure: marks the socket released (and
/// wakes `stop`/`wait`) when that closure is dropped.
pub(super) struct SocketClosed(pub(super) Rc<Shared>);

impl Drop for SocketClosed {
    fn drop(&mut self) {
        self.0.listening.set(false);
        self.0.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use super::{RecvFailure, recv_failure};
    use std::io;

    #[test]
    fn recv_errors_are_sorted() {
        let os = io::Error::from_raw_os_error;
        for code in [libc::EINTR, libc::EAGAIN, libc::ECONNREFUSED, libc::EHOSTUNREACH, libc::EPROTO] {
            assert_eq!(recv_failure(&os(code)), RecvFailure::Skip, "errno {code}");
        }
        for code in [libc::ENOMEM, libc::ENOBUFS] {
            assert_eq!(recv_failure(&os(code)), RecvFailure::BackOff, "errno {code}");
        }
        for code in [libc::EBADF, libc::ENOTSOCK, libc::EINVAL, libc::ENOTCONN] {
            assert_eq!(recv_failure(&os(code)), RecvFailure::Fatal, "errno {code}");
        }
    }
}
