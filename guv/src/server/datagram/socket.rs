//! What a [`DatagramServer`] serves on: the sealed
//! [`DatagramSocket`] trait over guv's green UDP and Unix datagram sockets,
//! and the [`Datagram`] its handler gets.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net::SocketAddr as UnixSocketAddr;

#[cfg(doc)] // only named in doc links
use super::DatagramServer;
use crate::net::UdpSocket;
use crate::net::unix::UnixDatagram;

mod sealed {
    /// Keeps [`DatagramSocket`](super::DatagramSocket) to guv's green
    /// sockets, whose receives park the greenlet rather than the hub.
    pub trait Sealed {
        /// Makes the socket park in its receives (a socket handed over in
        /// non-blocking mode would make the receive loop spin).
        fn park_in_receives(&self) -> std::io::Result<()>;

        /// Parks until a datagram may be read: for the receive loop when
        /// a receive said `WouldBlock` (a handler may make the shared
        /// socket non-blocking), so that it does not spin.
        fn wait_readable(&self) -> std::io::Result<()>;
    }
}

/// A green datagram socket a [`DatagramServer`] can serve: guv's
/// [`UdpSocket`] (addresses are
/// [`std::net::SocketAddr`]) and [`UnixDatagram`]
/// (also `guv::green::os::unix::net::UnixDatagram`; addresses are
/// [`std::os::unix::net::SocketAddr`]). Sealed: only guv's sockets park
/// the greenlet instead of the hub.
///
/// Generic code can use its methods, which are the sockets' own:
///
/// ```
/// use guv::server::DatagramSocket;
///
/// fn echo_one<S: DatagramSocket>(socket: &S) -> std::io::Result<S::Addr> {
///     let mut buf = [0u8; 64];
///     let (n, from) = socket.recv_from(&mut buf)?;
///     socket.send_to_addr(&buf[..n], &from)?;
///     Ok(from)
/// }
///
/// let server = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let client = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.send_to(b"hi", server.local_addr().unwrap()).unwrap();
/// assert_eq!(echo_one(&server).unwrap(), client.local_addr().unwrap());
/// assert_eq!(client.recv(&mut [0u8; 8]).unwrap(), 2);
/// ```
pub trait DatagramSocket: sealed::Sealed + 'static {
    /// A sender's (and the socket's own) address.
    type Addr: Clone + fmt::Debug + 'static;

    /// Receives one datagram and its sender, parking until one arrives; a
    /// datagram longer than `buf` is cut to its length (the rest is lost).
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Self::Addr)>;

    /// Sends one datagram to `to`.
    fn send_to_addr(&self, buf: &[u8], to: &Self::Addr) -> io::Result<usize>;

    /// The address the socket is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}

impl sealed::Sealed for UdpSocket {
    fn park_in_receives(&self) -> io::Result<()> {
        self.set_nonblocking(false)
    }

    fn wait_readable(&self) -> io::Result<()> {
        crate::trampoline(self, crate::Interest::READABLE, None)
    }
}

impl DatagramSocket for UdpSocket {
    type Addr = SocketAddr;

    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        UdpSocket::recv_from(self, buf)
    }

    fn send_to_addr(&self, buf: &[u8], to: &SocketAddr) -> io::Result<usize> {
        self.send_to(buf, *to)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        UdpSocket::local_addr(self)
    }
}

impl sealed::Sealed for UnixDatagram {
    fn park_in_receives(&self) -> io::Result<()> {
        self.set_nonblocking(false)
    }

    fn wait_readable(&self) -> io::Result<()> {
        crate::trampoline(self, crate::Interest::READABLE, None)
    }
}

impl DatagramSocket for UnixDatagram {
    type Addr = UnixSocketAddr;

    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, UnixSocketAddr)> {
        UnixDatagram::recv_from(self, buf)
    }

    fn send_to_addr(&self, buf: &[u8], to: &UnixSocketAddr) -> io::Result<usize> {
        UnixDatagram::send_to_addr(self, buf, to)
    }

    fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        UnixDatagram::local_addr(self)
    }
}

/// One received datagram, as a [`DatagramServer`]'s handler gets it: the
/// bytes, the sender, whether it was cut, and the server's socket to
/// answer on (gevent's `handle(data, address)` with `self.sendto`). It
/// borrows the socket for the handler's call only, so the socket closes
/// once the server has stopped and its handlers have ended.
///
/// ```
/// let socket = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let server = guv::DatagramServer::new(socket, |d| {
///     let mut answer = d.data().to_ascii_uppercase();
///     answer.extend_from_slice(format!(" from port {}", d.peer().port()).as_bytes());
///     d.reply(&answer)?;
///     Ok(())
/// })
/// .start()
/// .unwrap();
/// let client = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.connect(server.local_addr().unwrap()).unwrap();
/// client.send(b"hey").unwrap();
/// let mut buf = [0u8; 64];
/// let n = client.recv(&mut buf).unwrap();
/// let port = client.local_addr().unwrap().port();
/// assert_eq!(String::from_utf8_lossy(&buf[..n]), format!("HEY from port {port}"));
/// server.stop();
/// ```
pub struct Datagram<'a, S: DatagramSocket> {
    pub(super) data: Vec<u8>,
    pub(super) peer: S::Addr,
    pub(super) truncated: bool,
    pub(super) socket: &'a S,
}

impl<'a, S: DatagramSocket> Datagram<'a, S> {
    /// The datagram's bytes: all of them, or the first
    /// [`max_datagram_size`](DatagramServer::max_datagram_size) if it was
    /// longer ([`is_truncated`](Datagram::is_truncated)).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Who sent it. A Unix client that did not bind its socket has an
    /// unnamed address, which cannot be answered.
    pub fn peer(&self) -> &S::Addr {
        &self.peer
    }

    /// Whether the datagram was longer than the server's
    /// [`max_datagram_size`](DatagramServer::max_datagram_size) and
    /// [`data`](Datagram::data) holds only its first bytes (the kernel
    /// dropped the rest). The server also logs a warning for it.
    ///
    /// ```
    /// let socket = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let server = guv::DatagramServer::new(socket, |d| {
    ///     d.reply(if d.is_truncated() { b"too long" } else { d.data() })?;
    ///     Ok(())
    /// })
    /// .max_datagram_size(4)
    /// .start()
    /// .unwrap();
    /// let client = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// client.connect(server.local_addr().unwrap()).unwrap();
    /// let mut buf = [0u8; 16];
    /// client.send(b"four").unwrap();
    /// let n = client.recv(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"four");
    /// client.send(b"fives").unwrap();
    /// let n = client.recv(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"too long");
    /// server.stop();
    /// ```
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Sends `buf` to the sender, on the server's socket (gevent's
    /// `self.sendto(data, address)`); returns the bytes sent.
    pub fn reply(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send_to_addr(buf, &self.peer)
    }

    /// The server's socket, to send elsewhere than to the sender
    /// ([`DatagramSocket::send_to_addr`]) or read its settings.
    pub fn socket(&self) -> &'a S {
        self.socket
    }

    /// The bytes and the sender, to keep after the handler returns.
    pub fn into_parts(self) -> (Vec<u8>, S::Addr) {
        (self.data, self.peer)
    }
}

impl<S: DatagramSocket> fmt::Debug for Datagram<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Datagram")
            .field("len", &self.data.len())
            .field("peer", &self.peer)
            .field("truncated", &self.truncated)
            .finish_non_exhaustive()
    }
}
