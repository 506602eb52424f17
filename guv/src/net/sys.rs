//! The raw system calls guv's green I/O needs and std does not offer:
//! listeners with a chosen backlog and `SO_REUSEPORT`, non-blocking
//! `connect`, `accept4` straight into non-blocking mode, `pidfd_open` for
//! child processes, and the `FromRawFd` impls of the
//! green types. Only system calls live here; policy is in the callers.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// How to set up a listening socket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListenOptions {
    /// `SO_REUSEPORT`: several sockets (one per worker hub) share the port
    /// and the kernel spreads connections between them.
    pub(crate) reuse_port: bool,
    /// The `listen(2)` backlog.
    pub(crate) backlog: i32,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

fn set_flag(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `fd` is an open socket; the option value is a live c_int of
    // the size passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A fresh non-blocking, close-on-exec socket.
fn socket(family: libc::c_int, kind: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked.
    let raw = check(unsafe { libc::socket(family, kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `addr` as a C socket address and its length.
fn to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage; we fill in one variant.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The Rust form of a C socket address the kernel filled in.
fn from_raw(storage: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is aligned for it.
            let sin = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id)))
        }
        other => Err(io::Error::new(io::ErrorKind::InvalidData, format!("unexpected address family {other}"))),
    }
}

/// A non-blocking, close-on-exec TCP listener bound to `addr` with
/// `SO_REUSEADDR` (and `SO_REUSEPORT` if asked).
pub(crate) fn bind_listener(addr: SocketAddr, opts: ListenOptions) -> io::Result<std::net::TcpListener> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let fd = socket(family, libc::SOCK_STREAM)?;
    set_flag(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    if opts.reuse_port {
        set_flag(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT)?;
    }
    let (storage, len) = to_raw(&addr);
    // SAFETY: `storage` holds an initialised address of `len` bytes.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&storage as *const libc::sockaddr_storage).cast(), len) })?;
    // SAFETY: listen(2) on a bound socket we own.
    check(unsafe { libc::listen(fd.as_raw_fd(), opts.backlog) })?;
    Ok(std::net::TcpListener::from(fd))
}

/// Starts a non-blocking TCP connect to `addr`. Returns the socket and
/// whether the connection is still in progress (`EINPROGRESS`: wait for
/// writability, then read `SO_ERROR`).
pub(crate) fn tcp_connect_start(addr: &SocketAddr) -> io::Result<(OwnedFd, bool)> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let fd = socket(family, libc::SOCK_STREAM)?;
    let (storage, len) = to_raw(addr);
    // SAFETY: `storage` holds an initialised address of `len` bytes.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), (&storage as *const libc::sockaddr_storage).cast(), len) };
    connect_result(fd, rc)
}

fn connect_result(fd: OwnedFd, rc: libc::c_int) -> io::Result<(OwnedFd, bool)> {
    if rc == 0 {
        return Ok((fd, false));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINPROGRESS) => Ok((fd, true)),
        _ => Err(err),
    }
}

/// Accepts a connection on the listening socket `fd` straight into
/// non-blocking, close-on-exec mode (one system call instead of std's
/// `accept` plus `set_nonblocking`).
pub(crate) fn accept_nonblocking(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SocketAddr)> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` and `len` describe a writable buffer of `len` bytes.
    let raw = check(unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    let conn = unsafe { OwnedFd::from_raw_fd(raw) };
    Ok((conn, from_raw(&storage)?))
}

/// Starts a non-blocking connect of a Unix stream socket to the socket
/// address `name` (a path, or an abstract name starting with a NUL byte).
/// Returns the socket and whether the kernel answered `EAGAIN` (the
/// listener's backlog is full: retry later).
pub(crate) fn unix_connect_start(name: &[u8]) -> io::Result<(OwnedFd, bool)> {
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let abstract_name = name.first() == Some(&0);
    // A path needs room for its terminating NUL; an abstract name does not.
    // An empty name goes to the kernel as std sends it, without one, and
    // the kernel refuses it (`EINVAL`).
    let terminator = usize::from(!abstract_name && !name.is_empty());
    if name.len() + terminator > sun.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a Unix socket path must be shorter than {} bytes", sun.sun_path.len()),
        ));
    }
    if !abstract_name && name.contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a Unix socket path must not contain NUL bytes"));
    }
    for (dst, src) in sun.sun_path.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    let len = base + name.len() + terminator;
    let fd = socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
    // SAFETY: `sun` is an initialised sockaddr_un and `len` is within it.
    let rc =
        unsafe { libc::connect(fd.as_raw_fd(), (&sun as *const libc::sockaddr_un).cast(), len as libc::socklen_t) };
    if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
        return Ok((fd, true));
    }
    connect_result(fd, rc).map(|(fd, _)| (fd, false))
}

/// Whether the receiving side of the socket `fd` is shut down (poll
/// reports `POLLRDHUP`, without waiting).
pub(crate) fn read_shut_down(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLRDHUP, revents: 0 };
    // SAFETY: `p` is one live, writable pollfd for the length of the call,
    // and the count passed is 1.
    let ready = check(unsafe { libc::poll(&mut p, 1, 0) })?;
    Ok(ready > 0 && p.revents & libc::POLLRDHUP != 0)
}

/// What `poll` reports for `fd` now, without waiting: its `revents` for
/// `events` (`POLLERR` and `POLLHUP` always count). Unlike a system call
/// on the fd, it leaves a pending socket error (`SO_ERROR`) in place.
pub(crate) fn poll_now(fd: BorrowedFd<'_>, events: libc::c_short) -> io::Result<libc::c_short> {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
    // SAFETY: `p` is one live, writable pollfd for the length of the call,
    // and the count passed is 1.
    check(unsafe { libc::poll(&mut p, 1, 0) })?;
    Ok(p.revents)
}

/// Sets or clears `O_NONBLOCK` on `fd` (for pipes, which std cannot).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: fcntl(F_GETFL) on an open fd.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let new = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
    if new != flags {
        // SAFETY: fcntl(F_SETFL) on an open fd with flags it returned.
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// Whether `O_NONBLOCK` is set on `fd` (a std socket's blocking mode).
pub(crate) fn is_nonblocking(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: fcntl(F_GETFL) on an open fd.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// A socket's `SO_RCVTIMEO` or `SO_SNDTIMEO` (`name`), as std's
/// `read_timeout` reads it: zero means none.
pub(crate) fn socket_timeout(fd: BorrowedFd<'_>, name: libc::c_int) -> io::Result<Option<std::time::Duration>> {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut len = size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `fd` is an open fd; getsockopt(2) writes at most `len` bytes
    // into the live `timeval` and updates `len`.
    check(unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, name, (&mut tv as *mut libc::timeval).cast(), &mut len)
    })?;
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u32::try_from(tv.tv_usec).unwrap_or(0);
    let d = std::time::Duration::from_secs(secs) + std::time::Duration::from_micros(u64::from(micros));
    Ok((!d.is_zero()).then_some(d))
}

/// Sets `SO_LINGER` to "on, 0 seconds": closing the socket then resets
/// the connection (RST) instead of ending it in order (FIN).
pub(crate) fn reset_on_close(fd: BorrowedFd<'_>) -> io::Result<()> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: `fd` is an open socket; the option value is a live
    // `libc::linger` of the size passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The bytes written to a TCP socket that the peer has not acknowledged
/// yet, unsent ones included (`SIOCOUTQ`).
pub(crate) fn unacknowledged(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: `fd` is an open socket; `SIOCOUTQ` (`TIOCOUTQ` on Linux)
    // writes one `c_int` through the live pointer passed.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n as *mut libc::c_int) })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Opens a pidfd for the child `pid`: readable once the child exits.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// `FromRawFd` for green types: `unsafe fn` may only be written in a
/// fenced file. Each type's `from_owned` registers the fd with the hub.
macro_rules! from_raw_fd {
    ($($ty:ty),* $(,)?) => {$(
        impl FromRawFd for $ty {
            /// Takes ownership of `fd`, makes it non-blocking and registers
            /// it with this thread's hub.
            ///
            /// # Safety
            ///
            /// `fd` must be an open socket of the right kind that nothing
            /// else owns (the contract of `FromRawFd`).
            ///
            /// # Panics
            ///
            /// If the fd cannot be registered with the hub (see `From<OwnedFd>`).
            unsafe fn from_raw_fd(fd: RawFd) -> Self {
                // SAFETY: the caller hands over ownership of an open fd.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                <$ty>::from(owned)
            }
        }
    )*};
}

from_raw_fd!(
    super::TcpStream,
    super::TcpListener,
    super::UdpSocket,
    super::unix::UnixStream,
    super::unix::UnixListener,
    super::unix::UnixDatagram,
);

/// The index of the network interface named `name` (`if_nametoindex`).
pub(crate) fn interface_index(name: &str) -> io::Result<u32> {
    let not_found = || io::Error::new(io::ErrorKind::NotFound, format!("no network interface named {name:?}"));
    let c_name = std::ffi::CString::new(name).map_err(|_| not_found())?;
    // SAFETY: `c_name` is a NUL-terminated string that lives across the call.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(not_found()),
        index => Ok(index),
    }
}
