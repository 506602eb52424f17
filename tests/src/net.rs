//! Loopback addresses with a known fate, for tests that must see a
//! connection refused whatever else runs on the machine.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A loopback TCP address that refuses connections for as long as the
/// returned socket is open.
///
/// The socket is bound to the port (without `SO_REUSEADDR`) and never
/// listens: no other socket can listen on that port meanwhile, and no
/// connecting socket is given it as its own port. A port freed by closing
/// a listener, by contrast, may be taken by another test (or process) before
/// the connection that expects a refusal is made.
pub fn refusing_addr() -> (OwnedFd, SocketAddr) {
    // SAFETY: socket(2) takes no pointers; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a new socket that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero bytes are a valid `sockaddr_in`.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sin` is a live `sockaddr_in` and `len` its size; bind(2)
    // only reads it.
    let bound = unsafe { libc::bind(socket.as_raw_fd(), (&raw const sin).cast(), len) };
    assert_eq!(bound, 0, "bind: {}", io::Error::last_os_error());
    // SAFETY: `sin` is a live, writable `sockaddr_in` and `len` its size;
    // getsockname(2) writes at most `len` bytes and updates `len`.
    let named = unsafe { libc::getsockname(socket.as_raw_fd(), (&raw mut sin).cast(), &mut len) };
    assert_eq!(named, 0, "getsockname: {}", io::Error::last_os_error());
    (socket, SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, u16::from_be(sin.sin_port))))
}
