//! Green TCP: [`TcpListener`] and [`TcpStream`].

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::ToSocketAddrs;
use super::socket::{Sock, socket_common, socket_read_write, socket_timeouts, socket_try_io};
use super::sys;
use crate::Interest;

/// A TCP listening socket whose `accept` parks the greenlet: the twin of
/// `std::net::TcpListener`, with the same methods.
///
/// ```
/// use std::io::{Read, Write};
/// let listener = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let client = std::thread::spawn(move || {
///     let mut s = std::net::TcpStream::connect(addr).unwrap();
///     s.write_all(b"hi").unwrap();
/// });
/// let (mut conn, _) = listener.accept().unwrap();
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"hi");
/// client.join().unwrap();
/// ```
pub struct TcpListener {
    sock: Sock<std::net::TcpListener>,
}

socket_common!(
    TcpListener,
    std::net::TcpListener,
    "listener",
    "guv::net::TcpListener",
    "std::net::TcpListener::bind(\"127.0.0.1:0\").unwrap()"
);

/// Binds to each address in turn until one works, like std's `bind`.
pub(crate) fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(&a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
}

impl TcpListener {
    /// Binds to `addr`, as `std::net::TcpListener::bind` (trying each
    /// address it resolves to), and registers the socket with this thread's
    /// hub. Host names are resolved without blocking the hub.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(l.local_addr().unwrap().ip().to_string(), "127.0.0.1");
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |a| TcpListener::from_guv_socket(std::net::TcpListener::bind(a)?))
    }

    /// Accepts a connection, parking until one arrives (or returning
    /// `WouldBlock` in non-blocking mode). The new stream is registered
    /// with this thread's hub. As with std on Linux, a listener whose fd
    /// had `SO_RCVTIMEO` set when it was taken over by `from_std` gives up
    /// after that long with `WouldBlock`, and the streams it accepts start
    /// with its read and write timeouts.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// let c = guv::spawn(move || guv::net::TcpStream::connect(addr).unwrap());
    /// let (conn, peer) = l.accept().unwrap();
    /// assert_eq!(c.wait().unwrap().local_addr().unwrap(), peer);
    /// assert_eq!(conn.local_addr().unwrap(), addr);
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        // The read timeout is the `SO_RCVTIMEO` of a std listener taken over
        // by `from_std`, which bounds std's blocking accept too.
        let (fd, addr) = self.sock.read(|l| sys::accept_nonblocking(l.as_fd()))?;
        let stream = std::net::TcpStream::from(fd);
        Ok((TcpStream { sock: Sock::accepted(stream, &self.sock)? }, addr))
    }

    /// An endless iterator over accepted connections, as std's `incoming`.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// guv::spawn_n(move || drop(guv::net::TcpStream::connect(addr).unwrap()));
    /// let conn = l.incoming().next().unwrap().unwrap();
    /// assert_eq!(conn.local_addr().unwrap(), addr);
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(l.local_addr().unwrap().port(), 0);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// A second handle to the same socket with its own registration, as
    /// std's `try_clone`.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let l2 = l.try_clone().unwrap();
    /// assert_eq!(l.local_addr().unwrap(), l2.local_addr().unwrap());
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let inner = self.sock.get().try_clone()?;
        Ok(TcpListener { sock: self.sock.clone_with(inner)? })
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// l.set_ttl(42).unwrap();
    /// assert_eq!(l.ttl().unwrap(), 42);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(l.ttl().unwrap() > 0);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Sets `IPV6_V6ONLY`, as std's deprecated `set_only_v6` (it only has
    /// an effect before the socket is bound, which a listener already is).
    ///
    /// ```
    /// #![allow(deprecated)]
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(l.set_only_v6(true).is_err()); // an IPv4 socket, as with std
    /// ```
    #[deprecated(since = "1.16.0", note = "this option can only be set before the socket is bound")]
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        #[allow(deprecated)]
        self.sock.get().set_only_v6(only_v6)
    }

    /// Reads `IPV6_V6ONLY`, as std's deprecated `only_v6`.
    ///
    /// ```
    /// #![allow(deprecated)]
    /// let l = guv::net::TcpListener::bind("[::1]:0");
    /// if let Ok(l) = l { // IPv6 may be off on this host
    ///     assert!(l.only_v6().is_ok());
    /// }
    /// ```
    #[deprecated(since = "1.16.0", note = "this option can only be set before the socket is bound")]
    pub fn only_v6(&self) -> io::Result<bool> {
        #[allow(deprecated)]
        self.sock.get().only_v6()
    }
}

/// The iterator of [`TcpListener::incoming`]; never ends.
///
/// ```
/// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = l.local_addr().unwrap();
/// guv::spawn_n(move || drop(guv::net::TcpStream::connect(addr).unwrap()));
/// let mut incoming: guv::net::Incoming<'_> = l.incoming();
/// assert!(incoming.next().unwrap().is_ok());
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// Never ends, so never resumes after an end (std's `FusedIterator`).
impl std::iter::FusedIterator for Incoming<'_> {}

/// A TCP connection whose reads, writes and connect park the greenlet: the
/// twin of `std::net::TcpStream`, with the same methods, `Read`/`Write` for
/// both `TcpStream` and `&TcpStream`, and std's timeout behaviour. As
/// std's blocking socket, one `write` returns once all of the buffer is in
/// the socket, parking while the peer reads (see the `Write` impl for the
/// write timeout, non-blocking mode and a kill in the middle).
///
/// ```
/// use std::io::{Read, Write};
/// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = l.local_addr().unwrap();
/// let server = guv::spawn(move || {
///     let (mut conn, _) = l.accept().unwrap();
///     let mut buf = [0; 4];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf).unwrap();
/// });
/// let mut s = guv::net::TcpStream::connect(addr).unwrap();
/// s.write_all(b"ping").unwrap();
/// let mut buf = [0; 4];
/// s.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"ping");
/// server.wait().unwrap();
/// ```
pub struct TcpStream {
    sock: Sock<std::net::TcpStream>,
}

socket_common!(
    TcpStream,
    std::net::TcpStream,
    "stream",
    "guv::net::TcpStream",
    "{ let l = Box::leak(Box::new(std::net::TcpListener::bind(\"127.0.0.1:0\").unwrap())); std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap() }"
);
socket_read_write!(TcpStream, tcp = true);

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn (as
    /// std), parking while the connection is set up. Host names are
    /// resolved without blocking the hub. Fails with the last address's
    /// error (`ConnectionRefused`, ...), or `InvalidInput` when `addr`
    /// resolves to nothing.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// ```
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |a| TcpStream::connect_one(a, None))
    }

    /// Connects to one address, giving up with `TimedOut` after `timeout`
    /// (std's `connect_timeout`; a zero timeout is `InvalidInput`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// let s = guv::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    /// assert_eq!(s.peer_addr().unwrap(), addr);
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
        }
        TcpStream::connect_one(addr, Some(timeout))
    }

    fn connect_one(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let (fd, in_progress) = sys::tcp_connect_start(addr)?;
        let stream = TcpStream { sock: Sock::new(std::net::TcpStream::from(fd))? };
        if !in_progress {
            return Ok(stream);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            match stream.sock.wait(Interest::WRITABLE, deadline) {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "connection timed out"));
                }
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            if let Some(e) = stream.sock.get().take_error()? {
                return Err(e);
            }
            match stream.sock.get().peer_addr() {
                Ok(_) => return Ok(stream),
                // A wake-up before the handshake finished: wait again.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The remote address.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(c.peer_addr().unwrap(), l.local_addr().unwrap());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// The local address.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let (s, _) = l.accept().unwrap();
    /// assert_eq!(c.local_addr().unwrap(), s.peer_addr().unwrap());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Shuts down the read half, the write half or both, as std's
    /// `shutdown`: after `Shutdown::Write` the peer reads end-of-file.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let (mut s, _) = l.accept().unwrap();
    /// c.shutdown(Shutdown::Write).unwrap();
    /// assert_eq!(s.read(&mut [0; 8]).unwrap(), 0);
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.get().shutdown(how)
    }

    /// A second handle to the same connection, with its own registration
    /// (so each may be used by a different greenlet, or thread). Timeouts
    /// and the non-blocking flag are shared, as they are in std.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let (s, _) = l.accept().unwrap();
    /// let mut writer = c.try_clone().unwrap();
    /// writer.write_all(b"x").unwrap();
    /// let mut b = [0; 1];
    /// (&s).read_exact(&mut b).unwrap();
    /// assert_eq!(&b, b"x");
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let inner = self.sock.get().try_clone()?;
        Ok(TcpStream { sock: self.sock.clone_with(inner)? })
    }

    /// Reads without consuming, parking until data arrives (std's `peek`).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let (mut s, _) = l.accept().unwrap();
    /// c.write_all(b"abc").unwrap();
    /// let mut b = [0; 3];
    /// assert_eq!(s.peek(&mut b).unwrap(), 3);
    /// s.read_exact(&mut b).unwrap();
    /// assert_eq!(&b, b"abc");
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let empty = buf.is_empty();
        let r = self.sock.read(|s| s.peek(buf));
        if empty { self.sock.empty_tcp_read(r) } else { r }
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// c.set_nodelay(true).unwrap();
    /// assert!(c.nodelay().unwrap());
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.get().set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(!c.nodelay().unwrap());
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.get().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// c.set_ttl(12).unwrap();
    /// assert_eq!(c.ttl().unwrap(), 12);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    ///
    /// ```
    /// let l = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = guv::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(c.ttl().unwrap() > 0);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    socket_timeouts!(
        "guv::net::TcpStream",
        "{ let l = Box::leak(Box::new(std::net::TcpListener::bind(\"127.0.0.1:0\").unwrap())); std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap() }"
    );
}

socket_try_io!(TcpStream);
