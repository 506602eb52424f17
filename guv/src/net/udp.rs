//! Green UDP: [`UdpSocket`].

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::ToSocketAddrs;
use super::socket::{Sock, socket_common, socket_timeouts};
use super::tcp::each_addr;

/// A UDP socket whose receives (and sends, when the buffer is full) park
/// the greenlet: the twin of `std::net::UdpSocket`, with all its methods.
///
/// ```
/// let server = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let addr = server.local_addr().unwrap();
/// let echo = guv::spawn(move || {
///     let mut buf = [0; 16];
///     let (n, from) = server.recv_from(&mut buf).unwrap();
///     server.send_to(&buf[..n], from).unwrap();
/// });
/// let client = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.connect(addr).unwrap();
/// client.send(b"hello").unwrap();
/// let mut buf = [0; 16];
/// let n = client.recv(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"hello");
/// echo.wait().unwrap();
/// ```
pub struct UdpSocket {
    sock: Sock<std::net::UdpSocket>,
}

socket_common!(
    UdpSocket,
    std::net::UdpSocket,
    "socket",
    "guv::net::UdpSocket",
    "std::net::UdpSocket::bind(\"127.0.0.1:0\").unwrap()"
);

impl UdpSocket {
    /// Binds to `addr` (each address it resolves to in turn, as std).
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(s.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, |a| UdpSocket::from_guv_socket(std::net::UdpSocket::bind(a)?))
    }

    /// Receives one datagram, parking until one arrives; returns its length
    /// and sender. A datagram longer than `buf` is truncated.
    ///
    /// ```
    /// let a = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.send_to(b"x", b.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv_from(&mut buf).unwrap(), (1, a.local_addr().unwrap()));
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.read(|s| s.recv_from(buf))
    }

    /// Like [`UdpSocket::recv_from`] without removing the datagram.
    ///
    /// ```
    /// let a = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.send_to(b"x", b.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek_from(&mut buf).unwrap().0, 1);
    /// assert_eq!(b.recv_from(&mut buf).unwrap().0, 1);
    /// ```
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.read(|s| s.peek_from(buf))
    }

    /// Sends `buf` to the first address `addr` resolves to (as std; no
    /// address is `InvalidInput`).
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(s.send_to(b"abc", s.local_addr().unwrap()).unwrap(), 3);
    /// assert!(s.send_to(b"abc", "no port").is_err());
    /// ```
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let Some(to) = addr.to_socket_addrs()?.next() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"));
        };
        self.sock.write(|s| s.send_to(buf, to))
    }

    /// The connected peer's address (`NotConnected` if none).
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(s.peer_addr().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// The local address.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// A second handle with its own registration; settings are shared.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let t = s.try_clone().unwrap();
    /// assert_eq!(s.local_addr().unwrap(), t.local_addr().unwrap());
    /// ```
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let inner = self.sock.get().try_clone()?;
        Ok(UdpSocket { sock: self.sock.clone_with(inner)? })
    }

    socket_timeouts!("guv::net::UdpSocket", "std::net::UdpSocket::bind(\"127.0.0.1:0\").unwrap()");

    /// Sets `SO_BROADCAST`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_broadcast(true).unwrap();
    /// assert!(s.broadcast().unwrap());
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_broadcast(on)
    }

    /// Reads `SO_BROADCAST`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(!s.broadcast().unwrap());
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock.get().broadcast()
    }

    /// Sets `IP_MULTICAST_LOOP`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_multicast_loop_v4(false).unwrap();
    /// assert!(!s.multicast_loop_v4().unwrap());
    /// ```
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_multicast_loop_v4(on)
    }

    /// Reads `IP_MULTICAST_LOOP`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let _ = s.multicast_loop_v4().unwrap();
    /// ```
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.sock.get().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_multicast_ttl_v4(4).unwrap();
    /// assert_eq!(s.multicast_ttl_v4().unwrap(), 4);
    /// ```
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_multicast_ttl_v4(ttl)
    }

    /// Reads `IP_MULTICAST_TTL`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let _ = s.multicast_ttl_v4().unwrap();
    /// ```
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.sock.get().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("[::1]:0");
    /// if let Ok(s) = s {
    ///     s.set_multicast_loop_v6(false).unwrap();
    /// }
    /// ```
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_multicast_loop_v6(on)
    }

    /// Reads `IPV6_MULTICAST_LOOP`.
    ///
    /// ```
    /// if let Ok(s) = guv::net::UdpSocket::bind("[::1]:0") {
    ///     let _ = s.multicast_loop_v6().unwrap();
    /// }
    /// ```
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.sock.get().multicast_loop_v6()
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_ttl(9).unwrap();
    /// assert_eq!(s.ttl().unwrap(), 9);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    ///
    /// ```
    /// let s = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.ttl().unwrap() > 0);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Joins an IPv4 multicast group (`IP_ADD_MEMBERSHIP`).
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// let s = guv::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    /// // Needs a multicast-capable interface; the result is the kernel's answer.
    /// let _ = s.join_multicast_v4(&Ipv4Addr::new(239, 1, 2, 3), &Ipv4Addr::UNSPECIFIED);
    /// ```
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock.get().join_multicast_v4(multiaddr, interface)
    }

    /// Joins an IPv6 multicast group (`IPV6_ADD_MEMBERSHIP`).
    ///
    /// ```
    /// use std::net::Ipv6Addr;
    /// if let Ok(s) = guv::net::UdpSocket::bind("[::]:0") {
    ///     let _ = s.join_multicast_v6(&"ff02::1234".parse::<Ipv6Addr>().unwrap(), 0);
    /// }
    /// ```
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock.get().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// let s = guv::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    /// // Leaving a group never joined is an error.
    /// assert!(s.leave_multicast_v4(&Ipv4Addr::new(239, 1, 2, 3), &Ipv4Addr::UNSPECIFIED).is_err());
    /// ```
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock.get().leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// ```
    /// if let Ok(s) = guv::net::UdpSocket::bind("[::]:0") {
    ///     assert!(s.leave_multicast_v6(&"ff02::1234".parse().unwrap(), 0).is_err());
    /// }
    /// ```
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock.get().leave_multicast_v6(multiaddr, interface)
    }

    /// Connects to the first address of `addr` that works (as std): sets
    /// the default destination and filters incoming datagrams.
    ///
    /// ```
    /// let a = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    /// ```
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&addr, |a| self.sock.get().connect(a))
    }

    /// Sends to the connected peer.
    ///
    /// ```
    /// let a = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// assert_eq!(a.send(b"hi").unwrap(), 2);
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(|s| s.send(buf))
    }

    /// Receives from the connected peer, parking until a datagram arrives.
    ///
    /// ```
    /// let a = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// b.connect(a.local_addr().unwrap()).unwrap();
    /// a.send_to(b"hi", b.local_addr().unwrap()).unwrap();
    /// assert_eq!(b.recv(&mut [0; 8]).unwrap(), 2);
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(|s| s.recv(buf))
    }

    /// Like [`UdpSocket::recv`] without removing the datagram.
    ///
    /// ```
    /// let a = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// b.connect(a.local_addr().unwrap()).unwrap();
    /// a.send_to(b"hi", b.local_addr().unwrap()).unwrap();
    /// assert_eq!(b.peek(&mut [0; 8]).unwrap(), 2);
    /// assert_eq!(b.recv(&mut [0; 8]).unwrap(), 2);
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(|s| s.peek(buf))
    }
}
