//! Green sockets: the `std::net` types, parking the greenlet instead of the
//! thread.
//!
//! Every socket here is non-blocking underneath and registered once with the
//! hub; an operation tries the system call first and parks the greenlet only
//! when it would block.

mod sys;
mod tcp;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

pub(crate) use sys::{ListenOptions, bind_listener};
pub use tcp::{Incoming, TcpListener, TcpStream};

/// The backlog [`listen`] uses, as Python guv's `listen()` does.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Binds a green TCP listener to the first address of `addr` that works,
/// with `SO_REUSEADDR` and a backlog of [`LISTEN_BACKLOG`] (Python guv's
/// `listen`). Fails with the last address's error, or `InvalidInput` when
/// `addr` resolves to nothing.
///
/// ```
/// let listener = guv::listen("127.0.0.1:0").unwrap();
/// assert!(listener.local_addr().unwrap().port() > 0);
/// ```
pub fn listen<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
    listen_with(addr, ListenOptions { reuse_port: false, backlog: LISTEN_BACKLOG })
}

/// [`listen`] with explicit options (for the server's per-worker listeners).
pub(crate) fn listen_with<A: ToSocketAddrs>(addr: A, opts: ListenOptions) -> io::Result<TcpListener> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match bind_listener(a, opts) {
            Ok(l) => return TcpListener::from_std(l),
            Err(e) => last = Some((a, e)),
        }
    }
    Err(match last {
        Some((a, e)) => io::Error::new(e.kind(), format!("guv::listen: cannot listen on {a}: {e}")),
        None => io::Error::new(io::ErrorKind::InvalidInput, "guv::listen: the address resolved to nothing"),
    })
}

/// Where [`listen_with`] puts sockets for one address: for code that needs
/// the std listener itself (to hand to another thread before registering).
#[allow(dead_code)]
pub(crate) fn listen_std(addr: SocketAddr, opts: ListenOptions) -> io::Result<std::net::TcpListener> {
    bind_listener(addr, opts)
}
