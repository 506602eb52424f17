//! Green sockets: the `std::net` types (and the Unix ones in [`unix`]),
//! parking the greenlet instead of the thread. Also reachable as
//! `guv::green::net`.
//!
//! Every socket here is non-blocking underneath and registered once with
//! the hub of the thread that created it; an operation tries the system
//! call first and parks the greenlet only when it would block. Several
//! greenlets may wait on one socket (readers and writers separately).
//! Dropping a socket deregisters it and wakes anything still waiting on it
//! with `NotConnected`, before the fd is closed.
//!
//! The types have std's names, methods and behaviour — timeouts give
//! `WouldBlock` as on Linux, `set_nonblocking(true)` makes operations
//! return `WouldBlock` instead of parking, `try_clone` shares timeouts —
//! and are `Send + Sync` like std's. A socket used on another thread than
//! the one that created it still works: it waits through [`crate::trampoline`]
//! on that thread's hub.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//!
//! let listener = guv::listen("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! guv::spawn_n(move || {
//!     let (conn, _) = listener.accept().unwrap();
//!     let mut lines = BufReader::new(&conn);
//!     let mut line = String::new();
//!     lines.read_line(&mut line).unwrap();
//!     (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
//! });
//! let mut s = guv::connect(addr).unwrap();
//! s.write_all(b"hello\n").unwrap();
//! let mut reply = String::new();
//! BufReader::new(&s).read_line(&mut reply).unwrap();
//! assert_eq!(reply, "HELLO\n");
//! ```

mod addr;
pub mod dns;
mod socket;
pub(crate) mod sys;
mod tcp;
mod udp;
pub mod unix;

use std::io;
use std::net::SocketAddr;

pub use addr::ToSocketAddrs;
pub(crate) use socket::Sock;
pub(crate) use sys::{ListenOptions, bind_listener};
pub(crate) use sys::{pidfd_open, set_nonblocking};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

/// The backlog [`listen`] uses, as Python guv's `listen()` does.
///
/// ```
/// assert_eq!(guv::net::LISTEN_BACKLOG, 1024);
/// ```
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
    listen_addrs(addr.to_socket_addrs()?, ListenOptions { reuse_port: false, backlog: LISTEN_BACKLOG })
}

/// Connects a green TCP stream to the first address of `addr` that
/// accepts (Python guv's `connect`); the same as [`TcpStream::connect`].
///
/// ```
/// let listener = guv::listen("127.0.0.1:0").unwrap();
/// let s = guv::connect(listener.local_addr().unwrap()).unwrap();
/// assert_eq!(s.peer_addr().unwrap(), listener.local_addr().unwrap());
/// let e = guv::connect("127.0.0.1:notaport").unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
/// ```
pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
    TcpStream::connect(addr)
}

/// [`listen`] with explicit options (for the server's per-worker listeners).
#[allow(dead_code)]
pub(crate) fn listen_with<A: std::net::ToSocketAddrs>(addr: A, opts: ListenOptions) -> io::Result<TcpListener> {
    listen_addrs(addr.to_socket_addrs()?, opts)
}

fn listen_addrs(addrs: impl Iterator<Item = SocketAddr>, opts: ListenOptions) -> io::Result<TcpListener> {
    let mut last = None;
    for a in addrs {
        match bind_listener(a, opts) {
            Ok(l) => return TcpListener::from_guv_socket(l),
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
