//! `DatagramServer` (gevent's `DatagramServer`): one handler greenlet per
//! datagram received on a green UDP or Unix datagram socket, with a cap on
//! how many run at once, and `DatagramHandle` to stop it.
//!
//! The server receives on one greenlet and hands each datagram to a
//! handler greenlet of its own, tracked in the same [`Shared`] state as a
//! [`StreamServer`]'s connections, so stopping, killing and waiting work
//! the same way. The cap is a [`Semaphore`] taken *before* each receive:
//! while `concurrency` handlers run the receive greenlet does not read, and
//! datagrams wait in the socket's kernel buffer.

use std::fmt;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use super::handle::ServerHandle;
use super::shared::Shared;
#[cfg(doc)] // only named in doc links
use super::{StopServe, StreamServer};
use crate::net::unix::UnixDatagram;
use crate::net::{ToSocketAddrs, UdpSocket};
use crate::{Builder, Semaphore};

/// The default [`max_datagram_size`](DatagramServer::max_datagram_size):
/// the largest UDP payload an IPv4 or IPv6 header can describe (without
/// IPv6 jumbograms), and so never a limit for UDP.
pub const DEFAULT_MAX_DATAGRAM_SIZE: usize = 65_535;

/// How long the receive greenlet backs off after a receive failed for lack
/// of resources (memory), so that it does not spin.
pub(super) const RECV_BACKOFF: Duration = Duration::from_millis(10);

mod receive;
mod socket;

use receive::{Receiver, SocketClosed, StopOnUnwind};
pub use socket::{Datagram, DatagramSocket};

/// A datagram server to configure and start (gevent's
/// `DatagramServer(socket, handle)`): each datagram received on `socket`
/// runs `handler(datagram)` on a greenlet of its own, at most
/// [`concurrency`](DatagramServer::concurrency) at once; the handler
/// answers with [`Datagram::reply`].
///
/// It serves a green [`UdpSocket`] or a green
/// [`UnixDatagram`] alike (see
/// [`DatagramSocket`]); [`bind_udp`](DatagramServer::bind_udp) and
/// [`bind_unix`](DatagramServer::bind_unix) bind one for it.
/// [`start`](DatagramServer::start) returns a [`DatagramHandle`] at once;
/// [`serve_forever`](DatagramServer::serve_forever) runs it until it is
/// stopped. As for a [`StreamServer`]: an `Err` from the handler is logged
/// at `warn` (target `guv::server`, with the sender), a panic at `error`,
/// and the server goes on; returning [`StopServe`] stops it.
///
/// A server runs on its thread's hub: stop it (or wait for it) before that
/// thread returns, or it is left suspended with its socket open.
///
/// ```
/// let server = guv::DatagramServer::bind_udp("127.0.0.1:0", |d| {
///     d.reply(d.data())?; // echo
///     Ok(())
/// })
/// .unwrap()
/// .concurrency(100)
/// .start()
/// .unwrap();
///
/// let client = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.send_to(b"hello", server.local_addr().unwrap()).unwrap();
/// let mut buf = [0u8; 16];
/// let (n, from) = client.recv_from(&mut buf).unwrap();
/// assert_eq!((&buf[..n], from), (&b"hello"[..], server.local_addr().unwrap()));
/// server.stop();
/// ```
pub struct DatagramServer<S: DatagramSocket, F> {
    socket: S,
    handler: F,
    concurrency: usize,
    max_datagram_size: usize,
    local_addr: Result<S::Addr, (io::ErrorKind, String)>,
    shared: Rc<Shared>,
}

impl<F> DatagramServer<UdpSocket, F>
where
    F: Fn(Datagram<'_, UdpSocket>) -> io::Result<()> + 'static,
{
    /// Binds a UDP socket to `addr` (each address it resolves to in turn,
    /// host names without blocking the hub) and makes a server of it. An
    /// address that cannot be bound is an error naming it, of the same
    /// kind (`AddrInUse`, `AddrNotAvailable`, `PermissionDenied`, ...).
    ///
    /// ```
    /// let first = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let taken = first.local_addr().unwrap();
    /// let e = guv::DatagramServer::bind_udp(taken, |_| Ok(())).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    /// assert!(e.to_string().contains(&taken.to_string()), "{e}");
    /// ```
    pub fn bind_udp<A: ToSocketAddrs>(addr: A, handler: F) -> io::Result<Self> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match UdpSocket::bind(a) {
                Ok(socket) => return Ok(DatagramServer::new(socket, handler)),
                Err(e) => last = Some((a, e)),
            }
        }
        Err(match last {
            Some((a, e)) => io::Error::new(e.kind(), format!("guv::server: cannot bind a UDP socket to {a}: {e}")),
            None => io::Error::new(io::ErrorKind::InvalidInput, "guv::server: the address resolved to nothing"),
        })
    }
}

impl<F> DatagramServer<UnixDatagram, F>
where
    F: Fn(Datagram<'_, UnixDatagram>) -> io::Result<()> + 'static,
{
    /// Binds a Unix datagram socket to `path` and makes a server of it. A
    /// path that exists already (a stale socket file too: remove it first)
    /// is an `AddrInUse` error naming it; a missing directory `NotFound`.
    /// The socket file stays when the server stops (as with any Unix
    /// socket): remove it before binding the path again.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("guv-dgram-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("server.sock");
    /// let _ = std::fs::remove_file(&path);
    /// let server = guv::DatagramServer::bind_unix(&path, |d| {
    ///     d.reply(d.data())?;
    ///     Ok(())
    /// })
    /// .unwrap()
    /// .start()
    /// .unwrap();
    ///
    /// // A client binds its own socket, or it could not be answered.
    /// let client = guv::net::unix::UnixDatagram::bind(dir.join("client.sock")).unwrap();
    /// client.send_to(b"ping", &path).unwrap();
    /// let mut buf = [0u8; 8];
    /// let n = client.recv(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"ping");
    ///
    /// let e = guv::DatagramServer::bind_unix(&path, |_| Ok(())).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    /// server.stop();
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn bind_unix<P: AsRef<Path>>(path: P, handler: F) -> io::Result<Self> {
        let path = path.as_ref();
        match UnixDatagram::bind(path) {
            Ok(socket) => Ok(DatagramServer::new(socket, handler)),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("guv::server: cannot bind a Unix datagram socket to {}: {e}", path.display()),
            )),
        }
    }
}

impl<S, F> DatagramServer<S, F>
where
    S: DatagramSocket,
    F: Fn(Datagram<'_, S>) -> io::Result<()> + 'static,
{
    /// A server for `socket`, bound already, running `handler` per
    /// datagram, with a concurrency of [`DEFAULT_CONCURRENCY`](super::DEFAULT_CONCURRENCY)
    /// and a [`max_datagram_size`](DatagramServer::max_datagram_size) of
    /// [`DEFAULT_MAX_DATAGRAM_SIZE`]. Nothing is received before
    /// [`start`](DatagramServer::start) or
    /// [`serve_forever`](DatagramServer::serve_forever): datagrams wait in
    /// the kernel buffer. The server owns the socket; it parks in its
    /// receives whatever blocking mode it was given.
    ///
    /// ```
    /// let socket = guv::net::unix::UnixDatagram::unbound().unwrap();
    /// let server = guv::DatagramServer::new(socket, |_d| Ok(()));
    /// assert!(server.handle().local_addr().unwrap().is_unnamed());
    /// ```
    pub fn new(socket: S, handler: F) -> DatagramServer<S, F> {
        let local_addr = socket.local_addr().map_err(|e| (e.kind(), e.to_string()));
        // The shared state's address is `ServerHandle`'s, which only a
        // `DatagramHandle` wraps: it keeps its own, of the socket's type.
        let unused = Err((io::ErrorKind::Unsupported, "a datagram server's address is on its DatagramHandle".into()));
        DatagramServer {
            socket,
            handler,
            concurrency: super::DEFAULT_CONCURRENCY,
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
            local_addr,
            shared: Rc::new(Shared::new(unused)),
        }
    }

    /// The most handlers running at once (at least 1). The receive
    /// greenlet takes a slot *before* it reads: while that many handlers
    /// run it reads nothing, and new datagrams wait in the socket's kernel
    /// buffer (none is held or queued in the process). What happens when
    /// that buffer is full is the kernel's rule: UDP drops the datagrams
    /// that do not fit (raise `SO_RCVBUF` for bursts), a Unix datagram
    /// socket makes its senders wait.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let (running, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    /// let (r, p) = (running.clone(), peak.clone());
    /// let server = guv::DatagramServer::bind_udp("127.0.0.1:0", move |d| {
    ///     r.set(r.get() + 1);
    ///     p.set(p.get().max(r.get()));
    ///     guv::gyield(); // a turn for the others: none starts while this one runs
    ///     r.set(r.get() - 1);
    ///     d.reply(b"ok")?;
    ///     Ok(())
    /// })
    /// .unwrap()
    /// .concurrency(1)
    /// .start()
    /// .unwrap();
    /// let client = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// client.connect(server.local_addr().unwrap()).unwrap();
    /// for _ in 0..5 {
    ///     client.send(b"job").unwrap();
    /// }
    /// for _ in 0..5 {
    ///     client.recv(&mut [0u8; 2]).unwrap();
    /// }
    /// assert_eq!(peak.get(), 1);
    /// server.stop();
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The longest datagram a handler gets whole (at least 1; default
    /// [`DEFAULT_MAX_DATAGRAM_SIZE`], 65 535 bytes). A longer one is
    /// truncated: its handler gets the first `n` bytes with
    /// [`Datagram::is_truncated`] set, and the server logs a warning
    /// (target `guv::server`, with the sender); the rest is lost, as the
    /// kernel drops it. The server allocates one receive buffer of `n + 1`
    /// bytes when it starts (the extra byte tells a datagram of exactly `n`
    /// bytes from a longer one); each handler gets a copy of its datagram
    /// only. A Unix datagram can be longer than 65 535 bytes (up to the
    /// sender's `SO_SNDBUF`): raise this to take such datagrams whole.
    ///
    /// See [`Datagram::is_truncated`] for an example.
    pub fn max_datagram_size(mut self, n: usize) -> Self {
        self.max_datagram_size = n.max(1);
        self
    }

    /// How long a stop waits for the handlers it killed to end before it
    /// gives up on them and returns with them still running (1 s unless
    /// set): as [`StreamServer::kill_timeout`] says.
    pub fn kill_timeout(self, timeout: Duration) -> Self {
        self.shared.kill_timeout.set(timeout);
        self
    }

    /// A handle to the server before it starts: to hand to whoever will
    /// stop it (a handler's own stop is [`StopServe`]). A stop requested
    /// before the server starts makes it stop as soon as it starts.
    ///
    /// ```
    /// let server = guv::DatagramServer::bind_udp("127.0.0.1:0", |_| Ok(())).unwrap();
    /// let handle = server.handle();
    /// guv::spawn_n(move || handle.stop()); // runs once serve_forever waits
    /// server.serve_forever().unwrap();
    /// ```
    pub fn handle(&self) -> DatagramHandle<S::Addr> {
        DatagramHandle { server: ServerHandle(self.shared.clone()), local_addr: self.local_addr.clone() }
    }

    /// Starts receiving on a greenlet of its own and returns at once
    /// (gevent's `start()`); the server runs as this thread's hub runs.
    /// Fails if the receive greenlet cannot be spawned (its stack cannot
    /// be mapped), if the receive buffer cannot be allocated (an absurd
    /// [`max_datagram_size`](DatagramServer::max_datagram_size): kind
    /// `OutOfMemory`), or if the socket cannot be put in blocking mode.
    pub fn start(self) -> io::Result<DatagramHandle<S::Addr>> {
        let handle = self.handle();
        let DatagramServer { socket, handler, concurrency, max_datagram_size, local_addr: _, shared } = self;
        if shared.stopping.get() {
            return Ok(handle); // the socket closes here
        }
        socket.park_in_receives()?;
        let len = max_datagram_size.saturating_add(1);
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|e| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("guv::server: cannot allocate a receive buffer of {len} bytes (max_datagram_size): {e}"),
            )
        })?;
        buf.resize(len, 0);
        let receiver = Receiver {
            socket: Rc::new(socket),
            handler: Rc::new(handler),
            permits: Semaphore::new(concurrency),
            max: max_datagram_size,
            shared: shared.clone(),
        };
        shared.listening.set(true);
        let closed = SocketClosed(shared.clone());
        let greenlet = Builder::new().name("guv-server-receive").spawn(move || {
            // Dropped in reverse: the receiver (and its socket, unless a
            // handler still runs) goes, then `closed` says so.
            let _closed = closed;
            let receiver = receiver;
            let mut buf = buf;
            let failed = receiver.run(&mut buf);
            receiver.shared.accept_failed(failed);
        })?;
        *shared.acceptor.borrow_mut() = Some(greenlet);
        Ok(handle)
    }

    /// [`start`](DatagramServer::start)s the server and waits until it has
    /// stopped (gevent's `serve_forever()`): until a handler returns
    /// [`StopServe`] or someone stops it through its
    /// [`handle`](DatagramServer::handle), and the handlers have ended.
    /// If the waiting greenlet is killed or a [`Timeout`](crate::Timeout)
    /// of its own expires, the server is stopped as it unwinds (as
    /// [`DatagramHandle::stop`]).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // One datagram, then the handler stops the server.
    /// let server = guv::DatagramServer::bind_udp("127.0.0.1:0", |d| {
    ///     d.reply(b"bye")?;
    ///     Err(guv::StopServe.into())
    /// })
    /// .unwrap();
    /// let addr = server.handle().local_addr().unwrap();
    /// let client = guv::spawn(move || {
    ///     let c = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     c.send_to(b"hi", addr).unwrap();
    ///     c.recv(&mut [0u8; 8]).unwrap()
    /// });
    /// server.serve_forever().unwrap();
    /// assert_eq!(client.wait().unwrap(), 3);
    ///
    /// // Serving for a while: the timeout stops the server.
    /// let server = guv::DatagramServer::bind_udp("127.0.0.1:0", |_| Ok(())).unwrap();
    /// let r = guv::with_timeout(Duration::from_millis(10), move || server.serve_forever());
    /// assert!(r.unwrap_err().is_timed_out());
    /// ```
    pub fn serve_forever(self) -> io::Result<()> {
        let handle = self.start()?;
        let on_unwind = StopOnUnwind(&handle.server);
        let done = handle.wait();
        std::mem::forget(on_unwind);
        done
    }
}

impl<S: DatagramSocket, F> fmt::Debug for DatagramServer<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServer")
            .field("local_addr", &self.local_addr)
            .field("concurrency", &self.concurrency)
            .field("max_datagram_size", &self.max_datagram_size)
            .finish_non_exhaustive()
    }
}

/// Controls a started [`DatagramServer`]: its address, stopping it (with
/// or without a grace period) and waiting for it to end. The same rules as
/// a [`StreamServer`]'s [`ServerHandle`], with the socket in place of the
/// listener: clones share the server, dropping them does not stop it, and
/// it stays on the server's thread (`!Send`).
///
/// ```
/// let server = guv::DatagramServer::bind_udp("127.0.0.1:0", |_| Ok(())).unwrap().start().unwrap();
/// let addr = server.local_addr().unwrap();
/// server.clone().stop();
/// assert!(server.is_stopped());
/// server.wait().unwrap();
/// // The socket is closed: its port can be bound again.
/// guv::net::UdpSocket::bind(addr).unwrap();
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(guv::DatagramServer::bind_udp("127.0.0.1:0", |_| Ok(())).unwrap().handle());
/// ```
pub struct DatagramHandle<A> {
    server: ServerHandle,
    local_addr: Result<A, (io::ErrorKind, String)>,
}

impl<A: Clone> Clone for DatagramHandle<A> {
    fn clone(&self) -> Self {
        DatagramHandle { server: self.server.clone(), local_addr: self.local_addr.clone() }
    }
}

impl<A: Clone> DatagramHandle<A> {
    /// The address the server's socket is (or was) bound to.
    pub fn local_addr(&self) -> io::Result<A> {
        self.local_addr.clone().map_err(|(kind, msg)| io::Error::new(kind, msg))
    }

    /// Whether a stop was requested: by [`stop`](DatagramHandle::stop),
    /// [`stop_timeout`](DatagramHandle::stop_timeout), or a handler's
    /// [`StopServe`]. Handlers may still be finishing.
    pub fn is_stopped(&self) -> bool {
        self.server.is_stopped()
    }

    /// Stops the server now, as [`ServerHandle::stop`]: stops receiving,
    /// kills the running handlers and returns once they have unwound (up to
    /// the server's [`kill_timeout`](DatagramServer::kill_timeout) for one
    /// that catches its kill), the socket closed. Datagrams still in the
    /// kernel buffer are dropped with it. Called from a handler, kills the
    /// others and returns to the caller.
    ///
    /// ```
    /// let started = guv::Event::new();
    /// let s = started.clone();
    /// let server = guv::DatagramServer::bind_udp("127.0.0.1:0", move |_| {
    ///     s.set();
    ///     guv::Event::new().wait(); // parked for ever: only a kill ends it
    ///     Ok(())
    /// })
    /// .unwrap()
    /// .start()
    /// .unwrap();
    /// let client = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// client.send_to(b"x", server.local_addr().unwrap()).unwrap();
    /// started.wait();
    /// server.stop(); // returns once the handler has unwound
    /// server.wait().unwrap();
    /// ```
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Stops the server gracefully, as [`ServerHandle::stop_timeout`]:
    /// stops receiving at once, lets the running handlers finish (they can
    /// still reply: the socket stays open for them) until `grace` has
    /// passed, then kills the rest. Returns whether none had to be killed.
    pub fn stop_timeout(&self, grace: Duration) -> bool {
        self.server.stop_timeout(grace)
    }

    /// Waits until the server has stopped and every handler has ended (the
    /// socket is then closed), as [`ServerHandle::wait`]. Fails with
    /// `ErrorKind::Deadlock` when called from one of the server's own
    /// handlers; with the socket's error when the server stopped because
    /// its socket could not receive any more (`EBADF`, `ENOTSOCK`,
    /// `EINVAL`, `ENOTCONN`, `EFAULT`), after letting the running handlers
    /// finish.
    pub fn wait(&self) -> io::Result<()> {
        if self.server.0.current_handler().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Deadlock,
                "guv::server: DatagramHandle::wait called from one of the server's own handlers, \
                 which would wait for itself; use stop() or StopServe instead",
            ));
        }
        self.server.wait()
    }
}

impl<A: fmt::Debug> fmt::Debug for DatagramHandle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramHandle")
            .field("local_addr", &self.local_addr)
            .field("stopped", &self.server.0.stopping.get())
            .field("handlers", &self.server.0.live.get())
            .finish()
    }
}
