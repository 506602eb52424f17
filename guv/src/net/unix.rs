//! Green Unix domain sockets: the twins of
//! `std::os::unix::net::{UnixStream, UnixListener, UnixDatagram}`, also
//! reachable as `guv::green::os::unix::net`.
//!
//! ```
//! use std::io::{Read, Write};
//! use guv::net::unix::UnixStream;
//!
//! let (mut a, mut b) = UnixStream::pair().unwrap();
//! let echo = guv::spawn(move || {
//!     let mut buf = [0; 5];
//!     b.read_exact(&mut buf).unwrap();
//!     b.write_all(&buf).unwrap();
//! });
//! a.write_all(b"hello").unwrap();
//! let mut buf = [0; 5];
//! a.read_exact(&mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! echo.wait().unwrap();
//! ```

use std::io;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{self as stdnet, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::socket::{Sock, socket_common, socket_read_write, socket_timeouts, socket_try_io};
use super::sys;

/// The kernel's name for a socket address: a path, or NUL plus an abstract
/// name.
fn raw_name(addr: &SocketAddr) -> io::Result<Vec<u8>> {
    if let Some(path) = addr.as_pathname() {
        return Ok(path.as_os_str().as_bytes().to_vec());
    }
    if let Some(name) = addr.as_abstract_name() {
        let mut v = vec![0];
        v.extend_from_slice(name);
        return Ok(v);
    }
    Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot connect to an unnamed Unix socket address"))
}

/// A Unix stream socket whose reads, writes and connect park the greenlet.
/// As std's blocking socket, one `write` returns once all of the buffer is
/// in the socket, parking while the peer reads (see the `Write` impl).
///
/// ```
/// use std::io::{Read, Write};
/// let dir = std::env::temp_dir().join(format!("guv-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("stream.sock");
/// let _ = std::fs::remove_file(&path);
/// let listener = guv::net::unix::UnixListener::bind(&path).unwrap();
/// let mut client = guv::net::unix::UnixStream::connect(&path).unwrap();
/// let (mut conn, _) = listener.accept().unwrap();
/// client.write_all(b"hi").unwrap();
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"hi");
/// std::fs::remove_file(&path).unwrap();
/// # let _ = std::fs::remove_dir_all(&dir);
/// ```
pub struct UnixStream {
    sock: Sock<stdnet::UnixStream>,
}

socket_common!(
    UnixStream,
    stdnet::UnixStream,
    "stream",
    "guv::net::unix::UnixStream",
    "std::os::unix::net::UnixStream::pair().unwrap().0"
);
socket_read_write!(UnixStream, tcp = false);
socket_try_io!(UnixStream);

impl UnixStream {
    /// Connects to the socket at `path`. If the listener's backlog is full
    /// the kernel cannot report when room appears, so guv retries with a
    /// backoff from 1 to 50 ms (green sleeps) — where a blocking std
    /// connect would block the thread.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let _l = guv::net::unix::UnixListener::bind(&path).unwrap();
    /// let s = guv::net::unix::UnixStream::connect(&path).unwrap();
    /// assert_eq!(s.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// assert!(guv::net::unix::UnixStream::connect(dir.join("missing")).is_err());
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref().as_os_str().as_bytes();
        // As std: a path never names an abstract socket (a leading NUL
        // would), that takes a `SocketAddr` and `connect_addr`.
        if path.contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "paths must not contain interior null bytes"));
        }
        UnixStream::connect_name(path)
    }

    /// Connects to a socket address (a path or an abstract name).
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// let name = format!("guv-connect-addr-{}", std::process::id());
    /// let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    /// let _l = guv::net::unix::UnixListener::bind_addr(&addr).unwrap();
    /// assert!(guv::net::unix::UnixStream::connect_addr(&addr).is_ok());
    /// ```
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        UnixStream::connect_name(&raw_name(addr)?)
    }

    fn connect_name(name: &[u8]) -> io::Result<UnixStream> {
        let mut backoff = Duration::from_millis(1);
        loop {
            let (fd, again) = sys::unix_connect_start(name)?;
            if !again {
                return Ok(UnixStream { sock: Sock::new(stdnet::UnixStream::from(fd))? });
            }
            drop(fd);
            crate::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
    }

    /// A connected pair of sockets.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut a, mut b) = guv::net::unix::UnixStream::pair().unwrap();
    /// a.write_all(b"x").unwrap();
    /// let mut buf = [0; 1];
    /// b.read_exact(&mut buf).unwrap();
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = stdnet::UnixStream::pair()?;
        Ok((UnixStream::from_guv_socket(a)?, UnixStream::from_guv_socket(b)?))
    }

    /// A second handle with its own registration; settings are shared.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixStream::pair().unwrap();
    /// let c = a.try_clone().unwrap();
    /// c.shutdown(std::net::Shutdown::Write).unwrap();
    /// let mut buf = [0; 1];
    /// assert_eq!(std::io::Read::read(&mut &b, &mut buf).unwrap(), 0);
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let inner = self.sock.get().try_clone()?;
        Ok(UnixStream { sock: self.sock.clone_with(inner)? })
    }

    /// The local address.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// # drop(b);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// The peer's address.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// # drop(b);
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixStream::pair().unwrap();
    /// a.shutdown(std::net::Shutdown::Both).unwrap();
    /// assert_eq!(std::io::Read::read(&mut &b, &mut [0; 1]).unwrap(), 0);
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.get().shutdown(how)
    }

    socket_timeouts!("guv::net::unix::UnixStream", "std::os::unix::net::UnixStream::pair().unwrap().0");
}

/// A Unix listening socket whose `accept` parks the greenlet.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("guv-doc-l-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("listener.sock");
/// let _ = std::fs::remove_file(&path);
/// let listener = guv::net::unix::UnixListener::bind(&path).unwrap();
/// let p = path.clone();
/// guv::spawn_n(move || drop(guv::net::unix::UnixStream::connect(p).unwrap()));
/// assert!(listener.incoming().next().unwrap().is_ok());
/// std::fs::remove_file(&path).unwrap();
/// # let _ = std::fs::remove_dir_all(&dir);
/// ```
pub struct UnixListener {
    sock: Sock<stdnet::UnixListener>,
}

socket_common!(
    UnixListener,
    stdnet::UnixListener,
    "listener",
    "guv::net::unix::UnixListener",
    "std::os::unix::net::UnixListener::bind_addr(&<std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(format!(\"guv-doc-{}-{:?}\", std::process::id(), std::thread::current().id())).unwrap()).unwrap()"
);

impl UnixListener {
    /// Binds to `path` (which must not exist).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let l = guv::net::unix::UnixListener::bind(&path).unwrap();
    /// assert!(guv::net::unix::UnixListener::bind(&path).is_err()); // exists
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_guv_socket(stdnet::UnixListener::bind(path)?)
    }

    /// Binds to a socket address (a path or an abstract name).
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// let addr = std::os::unix::net::SocketAddr::from_abstract_name(format!("guv-bind-addr-{}", std::process::id())).unwrap();
    /// let l = guv::net::unix::UnixListener::bind_addr(&addr).unwrap();
    /// assert!(l.local_addr().unwrap().as_abstract_name().is_some());
    /// ```
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::from_guv_socket(stdnet::UnixListener::bind_addr(addr)?)
    }

    /// Accepts a connection, parking until one arrives (or returning
    /// `WouldBlock` in non-blocking mode, or once the `SO_RCVTIMEO` of a
    /// std listener taken over by `from_std` has passed, as std's would).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let l = guv::net::unix::UnixListener::bind(&path).unwrap();
    /// let p = path.clone();
    /// let c = guv::spawn(move || guv::net::unix::UnixStream::connect(p).unwrap());
    /// let (_conn, _) = l.accept().unwrap();
    /// c.wait().unwrap();
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        // The read timeout is the `SO_RCVTIMEO` of a std listener taken over
        // by `from_std`, which bounds std's blocking accept too.
        let (s, addr) = self.sock.read(|l| l.accept())?;
        Ok((UnixStream::from_guv_socket(s)?, addr))
    }

    /// An endless iterator over accepted connections.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let l = guv::net::unix::UnixListener::bind(&path).unwrap();
    /// let p = path.clone();
    /// guv::spawn_n(move || drop(guv::net::unix::UnixStream::connect(p).unwrap()));
    /// assert!(l.incoming().next().unwrap().is_ok());
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The local address.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let l = guv::net::unix::UnixListener::bind(&path).unwrap();
    /// assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// A second handle with its own registration.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let l = guv::net::unix::UnixListener::bind(&path).unwrap();
    /// let l2 = l.try_clone().unwrap();
    /// assert_eq!(l2.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let inner = self.sock.get().try_clone()?;
        Ok(UnixListener { sock: self.sock.clone_with(inner)? })
    }
}

/// The iterator of [`UnixListener::incoming`]; never ends.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("s.sock");
/// let _ = std::fs::remove_file(&path);
/// let l = guv::net::unix::UnixListener::bind(&path).unwrap();
/// let p = path.clone();
/// guv::spawn_n(move || drop(guv::net::unix::UnixStream::connect(p).unwrap()));
/// let mut it: guv::net::unix::UnixIncoming<'_> = l.incoming();
/// assert!(it.next().unwrap().is_ok());
/// # let _ = std::fs::remove_dir_all(&dir);
/// ```
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// `for conn in &listener`: the same as [`UnixListener::incoming`], as
/// std's `IntoIterator for &UnixListener`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("s.sock");
/// let _ = std::fs::remove_file(&path);
/// let l = guv::net::unix::UnixListener::bind(&path).unwrap();
/// let p = path.clone();
/// guv::spawn_n(move || drop(guv::net::unix::UnixStream::connect(p).unwrap()));
/// for conn in &l {
///     assert!(conn.is_ok());
///     break;
/// }
/// # let _ = std::fs::remove_dir_all(&dir);
/// ```
impl<'a> IntoIterator for &'a UnixListener {
    type Item = io::Result<UnixStream>;
    type IntoIter = UnixIncoming<'a>;
    fn into_iter(self) -> UnixIncoming<'a> {
        self.incoming()
    }
}

/// A Unix datagram socket whose receives park the greenlet.
///
/// ```
/// let (a, b) = guv::net::unix::UnixDatagram::pair().unwrap();
/// let r = guv::spawn(move || {
///     let mut buf = [0; 8];
///     let n = b.recv(&mut buf).unwrap();
///     buf[..n].to_vec()
/// });
/// a.send(b"dgram").unwrap();
/// assert_eq!(r.wait().unwrap(), b"dgram");
/// ```
pub struct UnixDatagram {
    sock: Sock<stdnet::UnixDatagram>,
}

socket_common!(
    UnixDatagram,
    stdnet::UnixDatagram,
    "socket",
    "guv::net::unix::UnixDatagram",
    "std::os::unix::net::UnixDatagram::unbound().unwrap()"
);

impl UnixDatagram {
    /// Binds to `path`.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let d = guv::net::unix::UnixDatagram::bind(&path).unwrap();
    /// assert_eq!(d.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_guv_socket(stdnet::UnixDatagram::bind(path)?)
    }

    /// Binds to a socket address.
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// let addr = std::os::unix::net::SocketAddr::from_abstract_name(format!("guv-dgram-addr-{}", std::process::id())).unwrap();
    /// assert!(guv::net::unix::UnixDatagram::bind_addr(&addr).is_ok());
    /// ```
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::from_guv_socket(stdnet::UnixDatagram::bind_addr(addr)?)
    }

    /// A socket bound to no address.
    ///
    /// ```
    /// let d = guv::net::unix::UnixDatagram::unbound().unwrap();
    /// assert!(d.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_guv_socket(stdnet::UnixDatagram::unbound()?)
    }

    /// A connected pair of sockets.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixDatagram::pair().unwrap();
    /// a.send(b"1").unwrap();
    /// assert_eq!(b.recv(&mut [0; 4]).unwrap(), 1);
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = stdnet::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_guv_socket(a)?, UnixDatagram::from_guv_socket(b)?))
    }

    /// Sets the default destination (and filters incoming datagrams).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let server = guv::net::unix::UnixDatagram::bind(&path).unwrap();
    /// let client = guv::net::unix::UnixDatagram::unbound().unwrap();
    /// client.connect(&path).unwrap();
    /// client.send(b"hey").unwrap();
    /// assert_eq!(server.recv(&mut [0; 8]).unwrap(), 3);
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.sock.get().connect(path)
    }

    /// Like [`UnixDatagram::connect`], for a socket address.
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// let addr = std::os::unix::net::SocketAddr::from_abstract_name(format!("guv-dgram-c-{}", std::process::id())).unwrap();
    /// let server = guv::net::unix::UnixDatagram::bind_addr(&addr).unwrap();
    /// let client = guv::net::unix::UnixDatagram::unbound().unwrap();
    /// client.connect_addr(&addr).unwrap();
    /// client.send(b"x").unwrap();
    /// assert_eq!(server.recv(&mut [0; 4]).unwrap(), 1);
    /// ```
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.sock.get().connect_addr(addr)
    }

    /// A second handle with its own registration; settings are shared.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixDatagram::pair().unwrap();
    /// let c = a.try_clone().unwrap();
    /// c.send(b"x").unwrap();
    /// assert_eq!(b.recv(&mut [0; 4]).unwrap(), 1);
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        let inner = self.sock.get().try_clone()?;
        Ok(UnixDatagram { sock: self.sock.clone_with(inner)? })
    }

    /// The local address.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixDatagram::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// # drop(b);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// The connected peer's address.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixDatagram::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// # drop(b);
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// Receives one datagram and its sender, parking until one arrives.
    /// Once the receiving side is shut down it gives 0 bytes from an
    /// unnamed sender at once, as std's blocking receive.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let server = guv::net::unix::UnixDatagram::bind(&path).unwrap();
    /// let client = guv::net::unix::UnixDatagram::unbound().unwrap();
    /// client.send_to(b"hi", &path).unwrap();
    /// let (n, from) = server.recv_from(&mut [0; 8]).unwrap();
    /// assert_eq!(n, 2);
    /// assert!(from.is_unnamed());
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.read(|s| match s.recv_from(buf) {
            // The kernel names no sender then: std reads that as unnamed.
            Err(e) if self.read_shut_down(&e) => Ok((0, SocketAddr::from_pathname("")?)),
            r => r,
        })
    }

    /// Receives one datagram, parking until one arrives; 0 bytes at once
    /// once the receiving side is shut down, as std.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixDatagram::pair().unwrap();
    /// b.send(b"abc").unwrap();
    /// assert_eq!(a.recv(&mut [0; 8]).unwrap(), 3);
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(|s| match s.recv(buf) {
            Err(e) if self.read_shut_down(&e) => Ok(0),
            r => r,
        })
    }

    /// Whether the receive that failed with `e` should read 0 bytes
    /// instead: with the receiving side shut down (`shutdown(Read)`, here
    /// or on a clone, before the receive or while it waits) std's blocking
    /// receive returns 0 at once, but the non-blocking one underneath says
    /// `EAGAIN`, and no readiness edge would end the wait. Costs one
    /// `poll` per wait. In non-blocking mode std says `EAGAIN` too.
    fn read_shut_down(&self, e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::WouldBlock
            && !self.sock.is_nonblocking()
            && sys::read_shut_down(self.sock.get().as_fd()).unwrap_or(false)
    }

    /// Sends a datagram to `path`. While the receiver's queue is full it
    /// waits, as std's blocking `send_to` does, but by retrying after a
    /// pause (1 ms, doubling up to 50 ms) rather than on a readiness
    /// event, which Linux does not raise for an unconnected sender: it may
    /// go through up to 50 ms after the receiver made room. A connected
    /// socket's [`UnixDatagram::send`] is woken as soon as there is room.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-unix-doc-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("s.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let server = guv::net::unix::UnixDatagram::bind(&path).unwrap();
    /// let client = guv::net::unix::UnixDatagram::unbound().unwrap();
    /// assert_eq!(client.send_to(b"hi", &path).unwrap(), 2);
    /// # drop(server);
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.sock.write_polled(|s| s.send_to(buf, path))
    }

    /// Sends a datagram to a socket address (waiting on a full queue as
    /// [`UnixDatagram::send_to`] does).
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// let addr = std::os::unix::net::SocketAddr::from_abstract_name(format!("guv-dgram-s-{}", std::process::id())).unwrap();
    /// let server = guv::net::unix::UnixDatagram::bind_addr(&addr).unwrap();
    /// let client = guv::net::unix::UnixDatagram::unbound().unwrap();
    /// assert_eq!(client.send_to_addr(b"x", &addr).unwrap(), 1);
    /// # drop(server);
    /// ```
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.sock.write_polled(|s| s.send_to_addr(buf, addr))
    }

    /// Sends a datagram to the connected peer.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixDatagram::pair().unwrap();
    /// assert_eq!(a.send(b"abc").unwrap(), 3);
    /// # drop(b);
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(|s| s.send(buf))
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// ```
    /// let (a, b) = guv::net::unix::UnixDatagram::pair().unwrap();
    /// a.shutdown(std::net::Shutdown::Write).unwrap();
    /// assert!(a.send(b"x").is_err());
    /// # drop(b);
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.get().shutdown(how)
    }

    socket_timeouts!("guv::net::unix::UnixDatagram", "std::os::unix::net::UnixDatagram::unbound().unwrap()");
}
