//! What a connection speaks over: a green TCP or Unix-domain socket, or a
//! stream the app's [`Server::wrap_stream`](super::Server::wrap_stream)
//! hook built on the accepted TCP socket (TLS, most often).
//!
//! The connection code is generic over [`Transport`], so each kind gets its
//! own copy of the request loop: plain TCP pays for none of the others (no
//! `dyn`, no branch per read or write). Only the few places that must name
//! a connection without a type parameter (a request [`Body`](super::Body),
//! an [`Upgraded`](super::Upgraded) connection) hold an [`AnyConn`], one
//! `match` per call.
//!
//! A wrapped stream is driven without parking: once the hook has returned
//! it, the socket under it is put in non-blocking mode (the flag is shared
//! with the server's duplicate of the socket, as `O_NONBLOCK` is shared
//! between duplicates in std), so a read or write it cannot complete says
//! `WouldBlock`, and the server waits for the socket's readiness itself,
//! with its own deadlines, holding no borrow of the stream meanwhile. So
//! one greenlet may read while another writes (a WebSocket), as on a plain
//! socket.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::connection::Connection;
use super::handler::{self, Config, Flags};
use super::raw::sealed::Sealed;
use crate::Interest;
use crate::net::TcpStream;
use crate::net::unix::UnixStream;

/// A stream a wrapped connection speaks over, whatever the hook built.
pub(crate) trait ReadWrite: Read + Write {
    /// Has the stream end its own protocol (a TLS `close_notify`), which
    /// the server then flushes: the close hook of
    /// [`Server::wrap_stream_with_close`](super::Server::wrap_stream_with_close).
    fn goodbye(&mut self) -> io::Result<()>;
}

/// The stream a hook built and its close hook (a no-op for
/// [`Server::wrap_stream`](super::Server::wrap_stream)).
pub(crate) struct Closing<S, C> {
    pub(crate) stream: S,
    pub(crate) close: Arc<C>,
}

impl<S: Read, C> Read for Closing<S, C> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl<S: Write, C> Write for Closing<S, C> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl<S, C> ReadWrite for Closing<S, C>
where
    S: Read + Write,
    C: Fn(&mut S) -> io::Result<()>,
{
    fn goodbye(&mut self) -> io::Result<()> {
        (self.close)(&mut self.stream)
    }
}

/// What the server needs from what it speaks over.
pub(crate) trait Transport: Sized + 'static {
    /// The client's address, for the logs.
    type Peer: Copy + fmt::Display;

    /// Whether the stream buffers writes of its own that
    /// [`Transport::try_flush`] must push out (a TLS layer's records).
    const BUFFERED: bool;

    /// One read that does not park: `WouldBlock` when nothing can be read.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// One write that does not park: `WouldBlock` when nothing can be
    /// written.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;

    /// Pushes out what the stream itself buffers, without parking.
    fn try_flush(&self) -> io::Result<()>;

    /// Whether a read now could only say `WouldBlock` (see
    /// `Registered::read_would_block`); always false for a wrapped stream,
    /// which may hold data it has read from the socket.
    fn read_would_block(&self) -> bool;

    /// Records that a read just drained the socket.
    fn mark_drained(&self);

    /// Parks until the socket under the stream reports `interest`, or the
    /// deadline passes (`TimedOut`).
    fn wait_ready(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()>;

    /// One read from the socket itself, under any layer the stream adds:
    /// what the server discards while it lingers before a close.
    fn try_read_socket(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Shuts the socket down.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;

    /// Has the stream end its own protocol before the socket is shut down
    /// (see [`ReadWrite::goodbye`]), without parking: what it queues is
    /// pushed out by [`Transport::try_flush`]. Nothing for a plain socket
    /// (not [`Transport::BUFFERED`]).
    fn goodbye(&self) -> io::Result<()> {
        Ok(())
    }

    /// Wakes the greenlets parked for the socket to be readable, to look
    /// again: a connection asked to close while it waits for a head (see
    /// `Connection::close_when_idle`). Only wrapped streams are asked.
    fn wake_readers(&self) {}

    /// The socket, for socket options and [`crate::notify_close`].
    fn socket_fd(&self) -> BorrowedFd<'_>;

    /// Sets `TCP_NODELAY` where there is such a thing.
    fn set_nodelay(&self);

    /// Writes what the access log shows for the client (its "host").
    fn log_host(peer: &Self::Peer, out: &mut String);

    /// The connection under a name without a type parameter.
    fn any(conn: Rc<Connection<Self>>) -> AnyConn;
}

/// The I/O methods of a [`Transport`] that is a green socket itself: its
/// own non-blocking calls, no buffering layer to flush.
macro_rules! socket_io {
    ($socket:ident) => {
        #[inline]
        fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
            $socket::try_read(self, buf)
        }

        #[inline]
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            $socket::try_write(self, buf)
        }

        #[inline]
        fn try_flush(&self) -> io::Result<()> {
            Ok(())
        }

        #[inline]
        fn read_would_block(&self) -> bool {
            $socket::read_would_block(self)
        }

        #[inline]
        fn mark_drained(&self) {
            $socket::mark_drained(self);
        }

        #[inline]
        fn wait_ready(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
            $socket::wait_ready(self, interest, deadline)
        }

        fn try_read_socket(&self, buf: &mut [u8]) -> io::Result<usize> {
            $socket::try_read(self, buf)
        }

        fn shutdown(&self, how: Shutdown) -> io::Result<()> {
            $socket::shutdown(self, how)
        }

        fn socket_fd(&self) -> BorrowedFd<'_> {
            self.as_fd()
        }
    };
}

impl Transport for TcpStream {
    type Peer = SocketAddr;
    const BUFFERED: bool = false;

    socket_io!(TcpStream);

    fn set_nodelay(&self) {
        let _ = TcpStream::set_nodelay(self, true);
    }

    fn log_host(peer: &SocketAddr, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(out, "{}", peer.ip());
    }

    fn any(conn: Rc<Connection<Self>>) -> AnyConn {
        AnyConn::Tcp(conn)
    }
}

/// The client of a Unix-domain connection, as the logs show it: `unix:`,
/// as nginx's `$remote_addr` does (a client's socket is usually unnamed;
/// its address says nothing about who it is).
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnixPeer;

impl fmt::Display for UnixPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unix:")
    }
}

impl Transport for UnixStream {
    type Peer = UnixPeer;
    const BUFFERED: bool = false;

    socket_io!(UnixStream);

    fn set_nodelay(&self) {}

    fn log_host(_peer: &UnixPeer, out: &mut String) {
        out.push_str("unix:");
    }

    fn any(conn: Rc<Connection<Self>>) -> AnyConn {
        AnyConn::Unix(conn)
    }
}

/// The hook of [`Server::wrap_stream`](super::Server::wrap_stream), type-erased.
pub(crate) type WrapFn = dyn Fn(TcpStream) -> io::Result<Box<dyn ReadWrite>> + Send + Sync;

/// How a worker serves a connection of its listener: its app's request
/// loop (after the `wrap_stream` hook, if there is one).
pub(crate) type ServeFn<S, P> = dyn Fn(S, P, &Config, &Flags);

/// What a [`Server`](super::Server) does with each TCP connection it
/// accepts before it speaks HTTP: [`Plain`] (nothing, the default) or
/// [`Wrapping`] (the hook of [`wrap_stream`](super::Server::wrap_stream)).
/// Sealed: there are no others.
///
/// It is a type parameter rather than a setting so that a server without
/// a hook has no code for one: the request loop over a wrapped stream is a
/// copy of its own, and a second copy in the same program changes how the
/// compiler inlines the plain one (a few percent per request).
///
/// ```
/// use guv::wsgi::{Body, Plain, Server, Wrapping};
/// let app = |_req: http::Request<Body>| http::Response::new(Body::empty());
/// let plain: Server<_, Plain> = Server::new(app);
/// let _wrapped: Server<_, Wrapping> = plain.wrap_stream(Ok);
/// ```
pub trait StreamWrap: sealed::WrapTcp {}

/// A [`Server`](super::Server) that speaks HTTP straight over the TCP
/// socket: the default.
///
/// ```
/// let server: guv::wsgi::Server<_, guv::wsgi::Plain> =
///     guv::wsgi::Server::new(|_req: http::Request<guv::wsgi::Body>| http::Response::new(guv::wsgi::Body::empty()));
/// # drop(server);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

/// A [`Server`](super::Server) whose connections are wrapped by a hook
/// ([`Server::wrap_stream`](super::Server::wrap_stream)).
///
/// ```
/// use guv::wsgi::{Body, Server, Wrapping};
/// let server: Server<_, Wrapping> =
///     Server::new(|_req: http::Request<Body>| http::Response::new(Body::empty())).wrap_stream(Ok);
/// # drop(server);
/// ```
#[derive(Clone)]
pub struct Wrapping(pub(crate) Arc<WrapFn>);

impl fmt::Debug for Wrapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wrapping")
    }
}

impl StreamWrap for Plain {}

impl StreamWrap for Wrapping {}

// Sealed: nothing outside guv can name or call the trait, so the
// crate-private types in its signatures are not exposed.
#[allow(private_interfaces, private_bounds, unreachable_pub)]
pub(crate) mod sealed {
    use super::*;

    /// How a kind of server builds its request loop for a TCP listener.
    pub trait WrapTcp: Clone + Send + Sync + 'static {
        /// The request loop of `app` (the app, or an `Arc` of it shared by
        /// the workers) for each accepted connection.
        fn tcp_app<A, R>(self, app: R) -> Rc<ServeFn<TcpStream, SocketAddr>>
        where
            A: Sealed,
            R: Deref<Target = A> + 'static;
    }

    impl WrapTcp for Plain {
        fn tcp_app<A, R>(self, app: R) -> Rc<ServeFn<TcpStream, SocketAddr>>
        where
            A: Sealed,
            R: Deref<Target = A> + 'static,
        {
            Rc::new(move |s: TcpStream, p: SocketAddr, c: &Config, f: &Flags| app.serve_connection(s, p, c, f))
        }
    }

    impl WrapTcp for Wrapping {
        fn tcp_app<A, R>(self, app: R) -> Rc<ServeFn<TcpStream, SocketAddr>>
        where
            A: Sealed,
            R: Deref<Target = A> + 'static,
        {
            let wrap = self.0;
            Rc::new(move |s: TcpStream, p: SocketAddr, c: &Config, f: &Flags| {
                handler::serve_wrapped(&*app, &*wrap, s, p, c, f)
            })
        }
    }
}

/// A stream the app's hook built on an accepted TCP socket, and the server's
/// own handle on that socket: a duplicate (`try_clone`), so that it stays
/// valid whatever the stream does with its socket, and shares its
/// non-blocking flag.
pub(crate) struct Wrapped {
    stream: RefCell<Box<dyn ReadWrite>>,
    socket: TcpStream,
}

impl Wrapped {
    /// Runs `wrap` on `socket` (on the connection's greenlet, parking as it
    /// likes: the server's header timeout bounds it), then puts the socket
    /// in non-blocking mode for the server to drive the stream.
    pub(crate) fn new(socket: TcpStream, wrap: &WrapFn) -> io::Result<Wrapped> {
        let _ = socket.set_nodelay(true);
        let own = socket.try_clone()?;
        let stream = wrap(socket)?;
        own.set_nonblocking(true)?;
        Ok(Wrapped { stream: RefCell::new(stream), socket: own })
    }

    fn stream(&self) -> io::Result<std::cell::RefMut<'_, Box<dyn ReadWrite>>> {
        // Only a stream that parks inside its own calls (which the
        // non-blocking socket under it prevents) could be found borrowed.
        self.stream.try_borrow_mut().map_err(|_| {
            io::Error::new(io::ErrorKind::ResourceBusy, "guv::wsgi: the wrapped stream is in use by another greenlet")
        })
    }
}

impl Transport for Wrapped {
    type Peer = SocketAddr;
    const BUFFERED: bool = true;

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream()?.read(buf)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let written = self.stream()?.write(buf);
        // A TLS layer whose output the full socket blocks reads the
        // socket meanwhile (rustls does): a greenlet parked to read may now
        // have its bytes in the layer, and the drained socket raises no
        // edge to wake it.
        self.socket.wake_readers();
        written
    }

    fn try_flush(&self) -> io::Result<()> {
        let flushed = self.stream()?.flush();
        self.socket.wake_readers();
        flushed
    }

    fn goodbye(&self) -> io::Result<()> {
        self.stream()?.goodbye()
    }

    fn wake_readers(&self) {
        self.socket.wake_readers();
    }

    fn read_would_block(&self) -> bool {
        false
    }

    fn mark_drained(&self) {}

    fn wait_ready(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        self.socket.wait_ready(interest, deadline)
    }

    fn try_read_socket(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.try_read(buf)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }

    fn socket_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn set_nodelay(&self) {}

    fn log_host(peer: &SocketAddr, out: &mut String) {
        <TcpStream as Transport>::log_host(peer, out);
    }

    fn any(conn: Rc<Connection<Self>>) -> AnyConn {
        AnyConn::Wrapped(conn)
    }
}

/// A connection of any transport: what a request body and an upgraded
/// connection hold.
#[derive(Clone)]
pub(crate) enum AnyConn {
    Tcp(Rc<Connection<TcpStream>>),
    Unix(Rc<Connection<UnixStream>>),
    Wrapped(Rc<Connection<Wrapped>>),
}

/// Runs `$body` with `$c` bound to the connection inside an [`AnyConn`],
/// whatever its transport (one copy of `$body` per transport).
macro_rules! on_conn {
    ($any:expr, $c:ident => $body:expr) => {
        match $any {
            $crate::wsgi::transport::AnyConn::Tcp($c) => $body,
            $crate::wsgi::transport::AnyConn::Unix($c) => $body,
            $crate::wsgi::transport::AnyConn::Wrapped($c) => $body,
        }
    };
}

pub(crate) use on_conn;
