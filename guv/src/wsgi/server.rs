//! [`Server`]: the accept loop, the connection cap, graceful shutdown and
//! worker hubs.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response};

use super::Error;
use super::body::Body;
use super::handler::{Config, Flags, NOT_WAITING};
use super::parse::{Limits, MAX_HEADERS_CAP};
use super::raw::{Raw, RawRequest, RawResponse, Service};
use super::transport::{Closing, Plain, ReadWrite, ServeFn, StreamWrap, UnixPeer, Wrapping};
use crate::hub::{Handle, Waker, with_hub};
use crate::net::unix::{UnixListener, UnixStream};
use crate::net::{LISTEN_BACKLOG, ListenOptions, TcpListener, TcpStream, listen_std};
use crate::server::Listener;
use crate::{Builder, GreenPool, GreenThread};
use std::io::{Read, Write};

/// The default cap on connections served at once by one worker.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;

/// An HTTP/1.1 server: configure it, then [`serve`](Server::serve) a
/// listener on this thread's hub or [`run`](Server::run) it on worker hubs.
///
/// Each connection runs on its own greenlet; at most
/// [`max_connections`](Server::max_connections) at once per worker (more
/// wait in the listen backlog).
///
/// ```no_run
/// use guv::wsgi::{Body, Server};
///
/// let app = |_req: http::Request<Body>| http::Response::new(Body::from("Hello, World!"));
/// Server::new(app)
///     .max_connections(10_000)
///     .header_timeout(Some(std::time::Duration::from_secs(10)))
///     .workers(0) // one per core
///     .run("127.0.0.1:8001")
///     .unwrap();
/// ```
pub struct Server<A, W = Plain> {
    app: A,
    cfg: Config,
    max_connections: usize,
    workers: usize,
    shutdown_timeout: Duration,
    control: Arc<Control>,
    /// The per-connection hook of [`Server::wrap_stream`], if any.
    wrap: W,
}

impl<A> Server<A>
where
    A: Fn(Request<Body>) -> Response<Body> + 'static,
{
    /// A server for `app` with the defaults: 1000 connections, one worker,
    /// the [`Limits`] defaults, a 1 GiB body limit, 64 KiB drained, a 60 s
    /// header timeout, 60 s body and send timeouts, access log on, 30 s to
    /// finish at shutdown.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let server = Server::new(hello);
    /// let stop = server.shutdown_handle();
    /// stop.shutdown(); // stops at once once it starts
    /// server.run("127.0.0.1:0").unwrap();
    /// ```
    pub fn new(app: A) -> Server<A> {
        Server::with_app(app)
    }
}

impl<F> Server<Raw<F>>
where
    F: Fn(&mut RawRequest<'_>, &mut RawResponse<'_>) + 'static,
{
    /// A server for the raw app `app` ([`RawRequest`], [`RawResponse`]),
    /// with the same defaults as [`Server::new`]. The app reads the request
    /// head in place and writes its answer into buffers the connection
    /// reuses, instead of taking and giving `http` types; the server does
    /// everything else as for an `http`-typed app. Its answers are in
    /// memory (no streamed bodies), and it cannot take a connection over
    /// (no [`Upgrade`](super::Upgrade), so no WebSocket): an app that needs
    /// either is written with [`Server::new`].
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use guv::wsgi::http::header::{CONTENT_TYPE, HeaderValue};
    /// use guv::wsgi::{RawRequest, RawResponse, Server};
    ///
    /// fn hello(_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>) {
    ///     res.header(&CONTENT_TYPE, &HeaderValue::from_static("text/plain")).set_body(b"Hello, World!");
    /// }
    /// let bound = Server::raw(hello).access_log(false).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let mut client = std::net::TcpStream::connect(addr).unwrap();
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer).unwrap();
    /// assert!(answer.contains("\r\ncontent-type: text/plain\r\n"));
    /// assert!(answer.contains("\r\nContent-Length: 13\r\n") && answer.ends_with("\r\n\r\nHello, World!"));
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn raw(app: F) -> Server<Raw<F>> {
        Server::with_app(Raw(app))
    }
}

impl<A: Service> Server<A> {
    fn with_app(app: A) -> Server<A> {
        Server {
            app,
            cfg: Config::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            workers: 1,
            shutdown_timeout: Duration::from_secs(30),
            control: Arc::new(Control::default()),
            wrap: Plain,
        }
    }
}

impl<A: Service, W: StreamWrap> Server<A, W> {
    /// The most connections one worker serves at once (at least 1).
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// // One connection at a time per worker; the next waits in the backlog.
    /// let bound = Server::new(hello).max_connections(1).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// assert!(ask(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").ends_with("hi"));
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The head limits (414 / 431); `max_headers` is capped at
    /// [`MAX_HEADERS_CAP`].
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let limits = guv::wsgi::proto::Limits { max_request_line: 32, ..Default::default() };
    /// let bound = Server::new(hello).limits(limits).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let reply = ask(addr, b"GET /a-path-far-longer-than-thirty-two-bytes HTTP/1.1\r\nHost: a\r\n\r\n");
    /// assert!(reply.starts_with("HTTP/1.1 414"), "{reply}");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.cfg.limits = Limits { max_headers: limits.max_headers.clamp(1, MAX_HEADERS_CAP), ..limits };
        self
    }

    /// The largest request body accepted, in bytes: a larger
    /// `Content-Length` is answered 413 before the app runs; a chunked body
    /// that grows past it fails the app's read and is answered 413.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let bound = Server::new(hello).max_body_size(4).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let reply = ask(addr, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    /// assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.cfg.max_body = bytes;
        self
    }

    /// How much of a request body the app left unread is read and thrown
    /// away to keep the connection; past this the connection closes. This
    /// holds too for a body sent after a `100 Continue` the server gave
    /// before a streamed answer; a body held back for a `100` that never
    /// went out is not waited for (the connection closes instead).
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// // `hello` never reads the body: up to 1 KiB of it is read and dropped so
    /// // that the next request on the connection can be served.
    /// let bound = Server::new(hello).max_drain(1024).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let reply = ask(addr, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    /// assert_eq!(reply.matches("HTTP/1.1 200").count(), 2, "{reply}");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn max_drain(mut self, bytes: u64) -> Self {
        self.cfg.max_drain = bytes;
        self
    }

    /// How long a client has to send a request head, counted from when the
    /// server starts waiting for it (this includes idle time between
    /// keep-alive requests); then the connection closes. With a
    /// [`wrap_stream`](Server::wrap_stream) hook, the first wait starts
    /// when the hook does: the handshake and the first head share one
    /// window. `None`: no limit.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// use std::time::{Duration, Instant};
    /// let bound = Server::new(hello).header_timeout(Some(Duration::from_millis(100))).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let start = Instant::now();
    /// let mut idle = std::net::TcpStream::connect(addr).unwrap(); // sends nothing
    /// let mut buf = [0u8; 1];
    /// assert_eq!(idle.read(&mut buf).unwrap(), 0, "closed by the server");
    /// assert!(start.elapsed() >= Duration::from_millis(100));
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn header_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.cfg.header_timeout = timeout;
        self
    }

    /// How long a read of the request body waits for the next bytes from
    /// the client (the gap between two reads, as nginx's
    /// `client_body_timeout`; 60 s by default). When it passes, the app's
    /// read fails with `TimedOut` and the answer is `408 Request Timeout`
    /// with `Connection: close` (if none of the app's own answer went out).
    /// This is what stops a client that trickles a body, or stops sending
    /// one, from holding a connection and its greenlet. `None`: no limit.
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use guv::wsgi::{Body, Server};
    ///
    /// let app = |mut req: http::Request<Body>| {
    ///     let mut body = Vec::new();
    ///     let err = req.body_mut().read_to_end(&mut body).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    ///     http::Response::new(Body::from("never sent: the 408 replaces it"))
    /// };
    /// let bound = Server::new(app).body_timeout(Some(Duration::from_millis(100))).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let mut c = std::net::TcpStream::connect(addr).unwrap();
    /// // Promises 10 bytes, sends 3, then nothing.
    /// c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc").unwrap();
    /// let mut answer = String::new();
    /// c.read_to_string(&mut answer).unwrap();
    /// assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn body_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.cfg.body_timeout = timeout;
        self
    }

    /// How long a write to the client may wait for the client to take
    /// more of the answer (the gap between two writes that make progress,
    /// as nginx's `send_timeout`; 60 s by default). When it passes, the
    /// connection is closed (what was not sent is dropped). This is what
    /// bounds a client that sends requests but never reads the answers:
    /// while the server is writing, it is not waiting for a request head,
    /// so [`header_timeout`](Server::header_timeout) does not apply, and a
    /// slow reader that keeps reading is never cut off. `None`: no limit.
    /// Such a client cannot make the server pile its answers up meanwhile:
    /// once 64 KiB of answers are owed to it, the server writes them out
    /// (waiting, within this timeout) before it reads the next request.
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use guv::wsgi::{Body, Server};
    ///
    /// // An endless answer, to a client that reads none of it.
    /// let app = |_req: http::Request<Body>| http::Response::new(Body::from_reader(std::io::repeat(b'z')));
    /// let bound = Server::new(app)
    ///     .send_timeout(Some(Duration::from_millis(100)))
    ///     .max_connections(1)
    ///     .bind("127.0.0.1:0")
    ///     .unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let mut stuck = std::net::TcpStream::connect(addr).unwrap();
    /// stuck.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    /// // The server gives up on it after 100 ms of no progress: the one
    /// // connection slot is free again for the next client.
    /// let mut next = std::net::TcpStream::connect(addr).unwrap();
    /// next.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    /// let mut head = [0u8; 12];
    /// next.read_exact(&mut head).unwrap();
    /// assert_eq!(&head, b"HTTP/1.1 200");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.cfg.send_timeout = timeout;
        self
    }

    /// Whether to log each request in the common log format through the
    /// `log` crate (target `guv::wsgi::access`, level `Info`). On by
    /// default; costs nothing while no logger enables that target. A
    /// request whose connection the app took over ([`super::Upgrade`], a
    /// WebSocket) is logged when the app call returns, with the status of
    /// the status line the app wrote first (101 for a WebSocket; "-" if
    /// what it wrote began with no status line) and no byte count.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// // Benchmarks switch it off; a logger then never sees target guv::wsgi::access.
    /// let server = Server::new(hello).access_log(false);
    /// let stop = server.shutdown_handle();
    /// stop.shutdown();
    /// server.serve(guv::listen("127.0.0.1:0").unwrap()).unwrap();
    /// ```
    pub fn access_log(mut self, on: bool) -> Self {
        self.cfg.access_log = on;
        self
    }

    /// Has every accepted TCP connection turned into the stream the server
    /// speaks HTTP over by `wrap`: TLS, above all — gevent's
    /// `WSGIServer(..., ssl_context=...)`, eventlet's
    /// `wsgi.server(wrap_ssl(sock))`. guv has no TLS of its own (std has
    /// none to make green); a TLS library that works over any `Read +
    /// Write` wraps the green [`TcpStream`] as it would a std one. With
    /// rustls:
    ///
    /// ```text
    /// let config: Arc<rustls::ServerConfig> = ...;
    /// Server::new(app).wrap_stream(move |mut tcp| {
    ///     let mut tls = rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
    ///     while tls.is_handshaking() {
    ///         tls.complete_io(&mut tcp)?; // parks this connection's greenlet only
    ///     }
    ///     Ok(rustls::StreamOwned::new(tls, tcp))
    /// })
    /// ```
    ///
    /// `wrap` runs on the connection's own greenlet, never on the accept
    /// loop, so a slow or stuck handshake holds up no other client. It is
    /// bounded by the [`header_timeout`](Server::header_timeout) (a client
    /// that never finishes its handshake is disconnected then, as one that
    /// never sends a head), together with the first request head: the
    /// window opens when the hook starts and does not open again when it
    /// returns, so a handshake that took most of it leaves the rest for the
    /// head. At a shutdown, the hook is closed at once like an idle
    /// connection. A `wrap` that fails (plain HTTP sent to the TLS
    /// port, a bad certificate) or panics is logged (target `guv::wsgi`)
    /// and closes that connection only. Finish the handshake inside `wrap`:
    /// the server then needs only the stream's reads and writes.
    ///
    /// The server then drives the stream without parking: it keeps its own
    /// handle on the socket (a `try_clone`) and puts the socket in
    /// non-blocking mode, so that a read or write the stream cannot do yet
    /// says `WouldBlock`; the server waits for the socket itself, with its
    /// own timeouts, and calls [`Write::flush`] to push out what the stream
    /// buffers (a TLS layer's records) whenever it would wait for the
    /// client. Everything the server does over a plain socket it does over
    /// the wrapped one: keep-alive, pipelining, chunked bodies,
    /// `100-continue`, the limits, the access log, graceful shutdown,
    /// [`Upgrade`](super::Upgrade) and WebSockets. The stream's own ending
    /// (a TLS `close_notify`) is not sent: the server closes the socket
    /// under it once an answer's framing is complete, which HTTP/1.1
    /// clients accept, though a strict TLS client reports an unclean end.
    /// [`wrap_stream_with_close`](Server::wrap_stream_with_close) adds a
    /// hook that says goodbye first.
    ///
    /// Applies to TCP listeners ([`serve`](Server::serve),
    /// [`run`](Server::run)); a server with a hook has no
    /// [`serve_unix`](Server::serve_unix):
    ///
    /// ```compile_fail
    /// use guv::wsgi::{Body, Server};
    /// let listener = guv::net::unix::UnixListener::bind("/tmp/guv-never-bound.sock").unwrap();
    /// Server::new(|_req: http::Request<Body>| http::Response::new(Body::empty()))
    ///     .wrap_stream(Ok)
    ///     .serve_unix(listener);
    /// ```
    ///
    /// A hook that does no TLS, to show the shape: it takes a one-line
    /// preamble the client sends before its requests.
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use guv::wsgi::{Body, Server};
    ///
    /// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")))
    ///     .wrap_stream(|mut tcp: guv::net::TcpStream| {
    ///         let mut line = Vec::new();
    ///         let mut byte = [0u8; 1];
    ///         while !line.ends_with(b"\n") {
    ///             tcp.read_exact(&mut byte)?;
    ///             line.push(byte[0]);
    ///         }
    ///         if line != b"HELLO\r\n" {
    ///             return Err(io::Error::new(io::ErrorKind::InvalidData, "no preamble"));
    ///         }
    ///         Ok(tcp)
    ///     });
    /// let bound = server.bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let thread = std::thread::spawn(move || bound.run());
    /// let mut client = std::net::TcpStream::connect(addr).unwrap();
    /// client.write_all(b"HELLO\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer).unwrap();
    /// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nhi"));
    /// stop.shutdown();
    /// thread.join().unwrap().unwrap();
    /// ```
    pub fn wrap_stream<H, S>(self, wrap: H) -> Server<A, Wrapping>
    where
        H: Fn(TcpStream) -> io::Result<S> + Send + Sync + 'static,
        S: Read + Write + 'static,
    {
        self.wrap_stream_with_close(wrap, |_: &mut S| Ok(()))
    }

    /// [`wrap_stream`](Server::wrap_stream), plus a `close` hook that lets
    /// the stream end its own protocol when the server closes a connection
    /// gracefully: with rustls, a `close_notify`, so that the client sees a
    /// clean end of the session rather than a truncation.
    ///
    /// ```text
    /// Server::new(app).wrap_stream_with_close(
    ///     move |mut tcp| { /* the handshake, as for wrap_stream */ Ok(rustls::StreamOwned::new(tls, tcp)) },
    ///     |tls: &mut rustls::StreamOwned<rustls::ServerConnection, guv::net::TcpStream>| {
    ///         tls.conn.send_close_notify(); // queued; the server flushes it
    ///         Ok(())
    ///     },
    /// )
    /// ```
    ///
    /// `close` runs on the connection's greenlet once every answer owed
    /// has gone out in full and the server is about to close: after an
    /// answer with `Connection: close` (or an HTTP/1.0 one, or one whose
    /// body ends with the close), after an error answer such as a 400,
    /// when the client ended its side between requests, or after the
    /// answers still owed when a shutdown began. The socket is
    /// non-blocking then, so `close` should queue its goodbye rather than
    /// wait: the server then flushes the stream ([`Write::flush`]), waiting
    /// for the client within the [`send_timeout`](Server::send_timeout),
    /// and only then shuts the socket down. It is not called when the
    /// connection ends otherwise: a write that failed or timed out, an
    /// answer cut short (its client must see the cut, and a `close_notify`
    /// would make a body delimited by the close look whole), a connection
    /// killed by the header timeout or at the shutdown deadline, an idle
    /// keep-alive connection closed when a shutdown begins, or one the app
    /// took over ([`Upgrade`](super::Upgrade)). An error it returns is
    /// logged at `debug` and the connection closes as it would have.
    ///
    /// A hook without TLS, to show when `close` runs: a line after the
    /// last answer.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use guv::wsgi::{Body, Server};
    ///
    /// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")))
    ///     .wrap_stream_with_close(Ok, |tcp: &mut guv::net::TcpStream| tcp.write_all(b"\nbye"));
    /// let bound = server.bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let thread = std::thread::spawn(move || bound.run());
    /// let mut client = std::net::TcpStream::connect(addr).unwrap();
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer).unwrap();
    /// assert!(answer.ends_with("\r\n\r\nhi\nbye"), "{answer}");
    /// stop.shutdown();
    /// thread.join().unwrap().unwrap();
    /// ```
    pub fn wrap_stream_with_close<H, S, C>(self, wrap: H, close: C) -> Server<A, Wrapping>
    where
        H: Fn(TcpStream) -> io::Result<S> + Send + Sync + 'static,
        S: Read + Write + 'static,
        C: Fn(&mut S) -> io::Result<()> + Send + Sync + 'static,
    {
        let Server { app, cfg, max_connections, workers, shutdown_timeout, control, wrap: _ } = self;
        let close = Arc::new(close);
        let wrap = Wrapping(Arc::new(move |tcp| {
            let stream = wrap(tcp)?;
            Ok(Box::new(Closing { stream, close: close.clone() }) as Box<dyn ReadWrite>)
        }));
        Server { app, cfg, max_connections, workers, shutdown_timeout, control, wrap }
    }

    /// How long in-flight requests get to finish after a shutdown request
    /// before their greenlets are killed. An open
    /// [`WebSocket`](crate::websocket::WebSocket) is sent a closing frame
    /// with 1001 (going away) when the shutdown begins, so that its handler
    /// sees the connection end once the client answers and can return
    /// before then (see [`WebSocket::wait`](crate::websocket::WebSocket::wait));
    /// one still open at the deadline is killed (its client got the 1001).
    ///
    /// A shutdown closes idle connections at once. Every request the app
    /// has taken up before it is answered (its answer says
    /// `Connection: close` if it was still being made), and so are the
    /// answers still owed to a client that was slow to read them; requests
    /// pipelined behind them and not taken up yet are not, and the
    /// connection closes after the last answer owed. A request still in
    /// the app at the deadline (an echo still reading its body included)
    /// is killed and gets no answer: its connection closes, cutting the
    /// answer short if it had begun.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let server = Server::new(hello).shutdown_timeout(std::time::Duration::from_secs(5));
    /// let stop = server.shutdown_handle();
    /// stop.shutdown();
    /// server.serve(guv::listen("127.0.0.1:0").unwrap()).unwrap();
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The number of worker hubs for [`run`](Server::run) and
    /// [`bind`](Server::bind): each on its own OS thread with its own
    /// `SO_REUSEPORT` listener. 0 means one per core. A port some other
    /// socket already listens on is still refused (`AddrInUse`), also when
    /// that one is another multi-worker server's. For a Unix-domain
    /// socket, [`run_unix`](Server::run_unix) runs as many workers on one
    /// shared listener.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let bound = Server::new(hello).workers(2).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// for _ in 0..4 {
    ///     assert!(ask(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").ends_with("hi"));
    /// }
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// A handle that stops this server from any thread.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let server = Server::new(hello);
    /// let stop = server.shutdown_handle();
    /// let other_thread = std::thread::spawn(move || stop.shutdown());
    /// other_thread.join().unwrap();
    /// server.serve(guv::listen("127.0.0.1:0").unwrap()).unwrap(); // returns: it was asked to stop
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.control.clone())
    }

    /// Serves `listener` on this thread's hub until a
    /// [`ShutdownHandle::shutdown`]; then stops accepting, closes idle
    /// connections, lets requests in flight finish within the shutdown
    /// timeout, kills the rest and returns. The app need not be `Send`.
    /// [`workers`](Server::workers) does not apply here. The server parks
    /// in `accept` even if the listener was in non-blocking mode (it puts
    /// it back in blocking mode), and waits for the next client if a clone
    /// of the listener is made non-blocking while it serves.
    ///
    /// Errors of `accept` that concern one connection are skipped, and a
    /// lack of file descriptors or memory is logged and retried after a
    /// short back-off. If the listener cannot accept any more (it was shut
    /// down, or is not a listening socket: EINVAL, EBADF, ENOTSOCK), the
    /// server stops as on a shutdown and returns that error.
    ///
    /// ```
    /// use guv::wsgi::{Body, Server};
    /// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")));
    /// let stop = server.shutdown_handle();
    /// stop.shutdown(); // stopped before it starts: serve returns at once
    /// server.serve(guv::listen("127.0.0.1:0").unwrap()).unwrap();
    /// ```
    pub fn serve(self, listener: TcpListener) -> io::Result<()> {
        let app = self.wrap.tcp_app(Box::new(self.app));
        run_worker(app, listener, self.cfg, self.max_connections, self.shutdown_timeout, &self.control)
    }
}

impl<A: Service> Server<A, Plain> {
    /// [`serve`](Server::serve)s a Unix-domain `listener` (gunicorn's
    /// `--bind unix:PATH`, behind a proxy such as nginx) on this thread's
    /// hub until a [`ShutdownHandle::shutdown`]: everything the server does
    /// over TCP it does here too. The access log shows the client as
    /// `unix:` (as nginx's `$remote_addr` does: a client's Unix socket is
    /// usually unnamed, and says nothing about who it is). A
    /// [`wrap_stream`](Server::wrap_stream) hook takes a TCP socket: a
    /// server with one has no `serve_unix`. For several worker hubs, see
    /// [`run_unix`](Server::run_unix).
    /// The socket file is left where it is: remove it once the server has
    /// returned, if you like.
    ///
    /// ```
    /// use guv::green::os::unix::net::UnixListener;
    /// use guv::wsgi::{Body, Server};
    ///
    /// let path = std::env::temp_dir().join(format!("guv-serve-unix-doc-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path).unwrap();
    /// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")));
    /// let stop = server.shutdown_handle();
    /// let client = {
    ///     let path = path.clone();
    ///     guv::spawn(move || {
    ///         use std::io::{Read, Write};
    ///         let mut c = guv::net::unix::UnixStream::connect(&path).unwrap();
    ///         c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    ///         let mut answer = String::new();
    ///         c.read_to_string(&mut answer).unwrap();
    ///         stop.shutdown();
    ///         answer
    ///     })
    /// };
    /// server.serve_unix(listener).unwrap();
    /// assert!(client.wait().unwrap().ends_with("\r\n\r\nhi"));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn serve_unix(self, listener: UnixListener) -> io::Result<()> {
        let app = unix_app(Box::new(self.app));
        run_worker(app, listener, self.cfg, self.max_connections, self.shutdown_timeout, &self.control)
    }
}

impl<A: Service + Send + Sync> Server<A, Plain> {
    /// Serves a Unix-domain `listener` on the configured number of
    /// [`workers`](Server::workers) until a [`ShutdownHandle::shutdown`]:
    /// [`Bound::run`] for a Unix socket. Unix sockets have no
    /// `SO_REUSEPORT` to spread clients over listeners, so the workers
    /// share the one listening socket: each accepts on its own duplicate
    /// of it, registered with its own hub, and the kernel hands each new
    /// connection to one of the workers waiting in `accept` (the others
    /// find nothing and wait again). Worker 0 runs on this thread, the
    /// others on `guv-wsgi-1`, ...; shutdown, the access log and an
    /// `accept` failure work as for TCP (see [`Bound::run`]). With one
    /// worker this is [`serve_unix`](Server::serve_unix) for a `Send +
    /// Sync` app. The socket file is left where it is.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use guv::green::os::unix::net::UnixListener;
    /// use guv::wsgi::{Body, Server};
    ///
    /// let path = std::env::temp_dir().join(format!("guv-run-unix-doc-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path).unwrap();
    /// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi"))).workers(2);
    /// let stop = server.shutdown_handle();
    /// let thread = std::thread::spawn(move || server.run_unix(listener));
    /// for _ in 0..4 {
    ///     let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    ///     c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    ///     let mut answer = String::new();
    ///     c.read_to_string(&mut answer).unwrap();
    ///     assert!(answer.ends_with("\r\n\r\nhi"));
    /// }
    /// stop.shutdown();
    /// thread.join().unwrap().unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn run_unix(self, listener: UnixListener) -> io::Result<()> {
        let workers = worker_count(self.workers);
        // Out of this thread's hub: every worker registers its own
        // duplicate with its own, this thread's included.
        let first = listener.into_std()?;
        let mut listeners = Vec::with_capacity(workers);
        for _ in 1..workers {
            listeners.push(first.try_clone().map_err(|e| {
                io::Error::new(e.kind(), format!("guv::wsgi: cannot duplicate the Unix listener for a worker: {e}"))
            })?);
        }
        listeners.insert(0, first);
        run_workers(self, listeners, |listener, app, _| Ok((UnixListener::from_guv_socket(listener)?, unix_app(app))))
    }
}

/// The number of workers `n` asks for: 0 is one per core.
fn worker_count(n: usize) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// The request loop of `app` (the app, or an `Arc` of it shared by the
/// workers) for each connection of a Unix-domain listener.
fn unix_app<A, R>(app: R) -> Rc<ServeFn<UnixStream, UnixAddr>>
where
    A: Service,
    R: std::ops::Deref<Target = A> + 'static,
{
    Rc::new(move |s: UnixStream, _: UnixAddr, c: &Config, f: &Flags| app.serve_connection(s, UnixPeer, c, f))
}

impl<A, W> Server<A, W>
where
    A: Service + Send + Sync,
    W: StreamWrap,
{
    /// Binds the workers' listeners to `addr` (port 0 picks one port for
    /// all of them) without serving yet, so the address can be read first.
    ///
    /// ```
    /// use guv::wsgi::{Body, Server};
    /// let bound = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")))
    ///     .workers(2)
    ///     .bind("127.0.0.1:0")
    ///     .unwrap();
    /// assert!(bound.local_addr().port() > 0);
    /// ```
    pub fn bind<T: ToSocketAddrs>(self, addr: T) -> io::Result<Bound<A, W>> {
        let workers = worker_count(self.workers);
        let opts = ListenOptions { reuse_port: workers > 1, backlog: LISTEN_BACKLOG };
        // The first socket claims the port without SO_REUSEPORT, so that a
        // port another server already listens on is an error rather than
        // shared with it (the kernel lets every SO_REUSEPORT socket of the
        // same user join); the workers' listeners then replace it.
        let claim = ListenOptions { reuse_port: false, ..opts };
        let mut last = None;
        let mut first = None;
        for a in addr.to_socket_addrs()? {
            match listen_std(a, claim) {
                Ok(l) => {
                    first = Some(l);
                    break;
                }
                Err(e) => last = Some((a, e)),
            }
        }
        let first = match (first, last) {
            (Some(l), _) => l,
            (None, Some((a, e))) => {
                return Err(io::Error::new(e.kind(), format!("guv::wsgi: cannot listen on {a}: {e}")));
            }
            (None, None) => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "guv::wsgi: the address resolved to nothing"));
            }
        };
        let local = first.local_addr()?;
        let first = if opts.reuse_port {
            drop(first);
            listen_std(local, opts)
                .map_err(|e| io::Error::new(e.kind(), format!("guv::wsgi: cannot listen on {local}: {e}")))?
        } else {
            first
        };
        let mut listeners = vec![first];
        for _ in 1..workers {
            let l = listen_std(local, opts).map_err(|e| {
                io::Error::new(e.kind(), format!("guv::wsgi: cannot add a worker listener on {local}: {e}"))
            })?;
            listeners.push(l);
        }
        Ok(Bound { server: self, listeners, local })
    }

    /// [`bind`](Server::bind) then [`Bound::run`]: serves `addr` on the
    /// configured number of worker hubs until shut down.
    ///
    /// ```
    /// use guv::wsgi::{Body, Server};
    /// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi"))).workers(2);
    /// let stop = server.shutdown_handle();
    /// let runner = std::thread::spawn(move || server.run("127.0.0.1:0"));
    /// stop.shutdown();
    /// runner.join().unwrap().unwrap();
    /// ```
    pub fn run<T: ToSocketAddrs>(self, addr: T) -> io::Result<()> {
        self.bind(addr)?.run()
    }
}

impl<A, W> fmt::Debug for Server<A, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("limits", &self.cfg.limits)
            .field("max_connections", &self.max_connections)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// A [`Server`] with its listeners bound, from [`Server::bind`].
///
/// ```
/// use guv::wsgi::{Body, Server};
/// use std::io::{Read, Write};
///
/// let bound = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")))
///     .bind("127.0.0.1:0")
///     .unwrap();
/// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
/// let server = std::thread::spawn(move || bound.run());
///
/// let mut client = std::net::TcpStream::connect(addr).unwrap();
/// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
/// let mut response = String::new();
/// client.read_to_string(&mut response).unwrap();
/// assert!(response.starts_with("HTTP/1.1 200 OK\r\n") && response.ends_with("\r\n\r\nhi"));
/// stop.shutdown();
/// server.join().unwrap().unwrap();
/// ```
pub struct Bound<A, W = Plain> {
    server: Server<A, W>,
    listeners: Vec<std::net::TcpListener>,
    local: SocketAddr,
}

impl<A, W> Bound<A, W>
where
    A: Service + Send + Sync,
    W: StreamWrap,
{
    /// The address the listeners are bound to.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let bound = Server::new(hello).bind("127.0.0.1:0").unwrap();
    /// assert_eq!(bound.local_addr().ip(), std::net::Ipv4Addr::LOCALHOST);
    /// assert_ne!(bound.local_addr().port(), 0);
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A handle that stops the server from any thread.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let bound = Server::new(hello).bind("127.0.0.1:0").unwrap();
    /// let stop = bound.shutdown_handle();
    /// let server = std::thread::spawn(move || bound.run());
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.server.shutdown_handle()
    }

    /// Serves until shut down: worker 0 on this thread's hub, the others on
    /// new threads (`guv-wsgi-1`, ...), each accepting on its own listener.
    /// Returns once every worker has stopped; the first worker error, if
    /// any. A worker whose listener cannot accept any more (see
    /// [`Server::serve`]) shuts the whole server down.
    ///
    /// ```
    /// use guv::wsgi::{Body, Server};
    /// let bound = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")))
    ///     .workers(2)
    ///     .bind("127.0.0.1:0")
    ///     .unwrap();
    /// let stop = bound.shutdown_handle();
    /// let server = std::thread::spawn(move || bound.run());
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn run(self) -> io::Result<()> {
        run_workers(self.server, self.listeners, |listener, app, wrap| {
            Ok((TcpListener::from_guv_socket(listener)?, wrap.tcp_app(app)))
        })
    }
}

/// Runs one worker per listener, worker 0 on this thread and the others on
/// `guv-wsgi-N` threads; returns once all have stopped, with the first
/// error. A worker that fails (its listener cannot accept) or cannot be
/// started shuts the others down.
///
/// `make` builds a worker's listener from `S` (on the worker's own thread,
/// so that it registers with that thread's hub) and its request loop.
fn run_workers<A, W, S, L, M>(server: Server<A, W>, listeners: Vec<S>, make: M) -> io::Result<()>
where
    A: Service + Send + Sync,
    W: StreamWrap,
    S: Send + 'static,
    L: Listener,
    M: Fn(S, Arc<A>, W) -> io::Result<(L, Rc<ServeFn<L::Stream, L::Addr>>)> + Copy + Send + 'static,
{
    let Server { app, cfg, max_connections, shutdown_timeout, control, wrap, .. } = server;
    let app = Arc::new(app);
    let mut listeners = listeners.into_iter();
    let own = listeners.next().expect("guv internal error: no listener bound");
    let mut threads = Vec::new();
    for (i, listener) in listeners.enumerate() {
        let (app, cfg, ctl, wrap) = (app.clone(), cfg.clone(), control.clone(), wrap.clone());
        let spawned = std::thread::Builder::new().name(format!("guv-wsgi-{}", i + 1)).spawn(move || {
            let (listener, app) = make(listener, app, wrap)?;
            run_worker(app, listener, cfg, max_connections, shutdown_timeout, &ctl)
        });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                control.shutdown();
                join_all(threads)?;
                return Err(e);
            }
        }
    }
    let result = make(own, app, wrap)
        .and_then(|(listener, app)| run_worker(app, listener, cfg, max_connections, shutdown_timeout, &control));
    if result.is_err() {
        control.shutdown();
    }
    let others = join_all(threads);
    result.and(others)
}

fn join_all(threads: Vec<std::thread::JoinHandle<io::Result<()>>>) -> io::Result<()> {
    let mut first = Ok(());
    for t in threads {
        let r = t.join().unwrap_or_else(|_| Err(io::Error::other("guv::wsgi: a worker thread panicked")));
        if first.is_ok() {
            first = r;
        }
    }
    first
}

impl<A, W> fmt::Debug for Bound<A, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bound").field("local_addr", &self.local).field("workers", &self.listeners.len()).finish()
    }
}

/// Stops a [`Server`] from any thread or greenlet: its workers stop
/// accepting, close idle connections, give requests in flight the shutdown
/// timeout to finish, and return from `serve` / `run`. Calling it before
/// the server starts makes it stop as soon as it starts.
///
/// ```
/// use guv::wsgi::{Body, Server};
/// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::empty()));
/// let stop = server.shutdown_handle();
/// assert!(!stop.is_shutdown());
/// stop.shutdown();
/// assert!(stop.is_shutdown());
/// ```
#[derive(Clone)]
pub struct ShutdownHandle(Arc<Control>);

impl ShutdownHandle {
    /// Asks every worker to stop; returns at once.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let server = Server::new(hello);
    /// let stop = server.shutdown_handle();
    /// stop.shutdown();
    /// stop.shutdown(); // idempotent
    /// server.serve(guv::listen("127.0.0.1:0").unwrap()).unwrap();
    /// ```
    pub fn shutdown(&self) {
        self.0.shutdown();
    }

    /// Whether [`shutdown`](ShutdownHandle::shutdown) was called.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let stop = Server::new(hello).shutdown_handle();
    /// assert!(!stop.is_shutdown());
    /// stop.shutdown();
    /// assert!(stop.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle").field("shutdown", &self.is_shutdown()).finish()
    }
}

/// The cross-thread part of a server: the stop flag and its running
/// workers' hubs.
#[derive(Default)]
struct Control {
    stopped: AtomicBool,
    /// Protocol: a worker registers under the lock and reads `stopped`
    /// there; `shutdown` sets `stopped` before taking the lock. Either the
    /// worker sees the flag or `shutdown` sees the worker.
    workers: Mutex<Vec<(u64, Handle)>>,
}

impl Control {
    fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for (id, handle) in workers.iter() {
            let id = *id;
            // A hub already gone has no worker left to stop.
            let _ = handle.spawn(move || stop_local(id));
        }
    }

    /// Registers a running worker; returns whether the server is already
    /// stopping.
    fn register(&self, id: u64) -> bool {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.push((id, Handle::current()));
        self.stopped.load(Ordering::SeqCst)
    }

    fn deregister(&self, id: u64) {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|(w, _)| *w != id);
    }
}

static NEXT_WORKER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    /// The workers running on this thread's hub, for `stop_local`.
    static WORKERS: RefCell<Vec<(u64, Weak<Worker>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs on a worker's hub: begins its shutdown.
fn stop_local(id: u64) {
    let worker = WORKERS.with(|w| w.borrow().iter().find(|(i, _)| *i == id).and_then(|(_, w)| w.upgrade()));
    if let Some(worker) = worker {
        worker.stop();
    }
}

/// The peer address of a Unix-domain connection, as `accept` gives it.
type UnixAddr = std::os::unix::net::SocketAddr;

/// One hub's share of a server.
struct Worker {
    cfg: Config,
    stopping: Rc<Cell<bool>>,
    /// Ticks of the header-timeout sweeper.
    clock: Rc<Cell<u64>>,
    conns: RefCell<HashMap<u64, ConnEntry>>,
    next_conn: Cell<u64>,
    /// Caps the connections served at once (`max_connections`): the accept
    /// loop blocks in `spawn` while it is full, and further clients wait in
    /// the listen backlog.
    pool: GreenPool,
    /// `run_worker`, waiting for the stop request or for connections to end.
    main: RefCell<Option<Waker>>,
    /// The listener failed for good (see `crate::server::accept_loop`):
    /// the worker stops, and returns this.
    failure: RefCell<Option<io::Error>>,
}

struct ConnEntry {
    greenlet: GreenThread<()>,
    flags: Rc<Flags>,
}

impl Worker {
    fn stop(&self) {
        self.stopping.set(true);
        wake(&self.main);
    }

    fn start_connection<S: 'static, P: fmt::Debug + 'static>(
        self: &Rc<Self>,
        app: &Rc<ServeFn<S, P>>,
        stream: S,
        peer: P,
    ) {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        let flags = Rc::new(Flags {
            clock: self.clock.clone(),
            head_since: Cell::new(NOT_WAITING),
            busy: Cell::new(false),
            stopping: self.stopping.clone(),
            going_away: Rc::default(),
        });
        let (worker, conn_flags, app) = (self.clone(), flags.clone(), app.clone());
        let spawned = self.pool.spawn_with(Builder::new(), move || {
            let _guard = ConnGuard { worker: &worker, id };
            app(stream, peer, &worker.cfg, &conn_flags);
        });
        match spawned {
            Ok(greenlet) => {
                self.conns.borrow_mut().insert(id, ConnEntry { greenlet, flags });
            }
            Err(e) => {
                log::error!(target: "guv::wsgi", "cannot start a greenlet for a connection: {e}")
            }
        }
    }

    /// Kills the connections `pick` selects (taken out of the table first:
    /// a killed greenlet's guard looks for its entry).
    fn kill_where(&self, pick: impl Fn(&Flags) -> bool) {
        let picked: Vec<ConnEntry> = {
            let mut conns = self.conns.borrow_mut();
            let ids: Vec<u64> = conns.iter().filter(|(_, c)| pick(&c.flags)).map(|(id, _)| *id).collect();
            ids.iter().filter_map(|id| conns.remove(id)).collect()
        };
        for entry in &picked {
            entry.greenlet.kill();
        }
    }
}

fn wake(slot: &RefCell<Option<Waker>>) {
    let waker = slot.borrow_mut().take();
    if let Some(w) = waker {
        w.wake();
    }
}

/// Removes a connection from its worker's table when its greenlet ends.
struct ConnGuard<'a> {
    worker: &'a Worker,
    id: u64,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        let entry = self.worker.conns.borrow_mut().remove(&self.id);
        drop(entry);
        wake(&self.worker.main);
    }
}

/// Unregisters a worker from its thread and its server.
struct WorkerGuard<'a> {
    id: u64,
    control: &'a Control,
}

impl Drop for WorkerGuard<'_> {
    fn drop(&mut self) {
        let _ = WORKERS.try_with(|w| w.borrow_mut().retain(|(i, _)| *i != self.id));
        self.control.deregister(self.id);
    }
}

/// Accepts until killed (the accept loop, its retries and back-off are the
/// plain TCP server's, `crate::server::accept_loop`), or until the listener
/// fails for good: then the worker stops as if asked to, and its
/// `run_worker` returns that error.
fn accept_loop<L: Listener>(worker: &Rc<Worker>, listener: &L, app: &Rc<ServeFn<L::Stream, L::Addr>>) {
    let failed = crate::server::accept_loop(listener, "guv::wsgi", |stream, peer| {
        worker.start_connection(app, stream, peer);
    });
    *worker.failure.borrow_mut() = Some(failed);
    worker.stop();
}

/// Closes connections that have waited longer than `timeout` for a request
/// head. Runs on a coarse clock, so that a request costs two stores rather
/// than a timer: a connection is closed between `timeout` and `timeout`
/// plus one tick (a quarter of the timeout, between 10 ms and 1 s) after
/// it began waiting.
fn sweep(worker: &Worker, timeout: Duration) {
    let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let limit = timeout.as_nanos().div_ceil(tick.as_nanos()) as u64 + 1;
    loop {
        crate::sleep(tick);
        let now = worker.clock.get() + 1;
        worker.clock.set(now);
        worker.kill_where(|flags| {
            let since = flags.head_since.get();
            let late = since != NOT_WAITING && now - since >= limit;
            if late {
                log::debug!(target: "guv::wsgi", "{}", Error::timeout());
            }
            late
        });
    }
}

/// Serves `listener` on this thread's hub until the server stops.
fn run_worker<L: Listener>(
    app: Rc<ServeFn<L::Stream, L::Addr>>,
    listener: L,
    cfg: Config,
    max_connections: usize,
    shutdown_timeout: Duration,
    control: &Control,
) -> io::Result<()> {
    let id = NEXT_WORKER.fetch_add(1, Ordering::Relaxed);
    let worker = Rc::new(Worker {
        cfg,
        stopping: Rc::new(Cell::new(false)),
        clock: Rc::new(Cell::new(0)),
        conns: RefCell::new(HashMap::new()),
        next_conn: Cell::new(0),
        pool: GreenPool::new(max_connections),
        main: RefCell::new(None),
        failure: RefCell::new(None),
    });
    WORKERS.with(|w| w.borrow_mut().push((id, Rc::downgrade(&worker))));
    let _guard = WorkerGuard { id, control };
    if control.register(id) {
        worker.stopping.set(true);
    }
    let acceptor = {
        let worker = worker.clone();
        Builder::new().name("guv-wsgi-accept").spawn(move || accept_loop(&worker, &listener, &app))?
    };
    let sweeper = match worker.cfg.header_timeout {
        Some(timeout) => {
            let worker = worker.clone();
            Some(Builder::new().name("guv-wsgi-sweeper").spawn(move || sweep(&worker, timeout))?)
        }
        None => None,
    };
    while !worker.stopping.get() {
        with_hub(|hub| {
            *worker.main.borrow_mut() = Some(hub.arm());
            hub.park();
        });
    }
    if worker.failure.borrow().is_some() {
        // This worker's listener failed for good: the server stops, all its
        // workers with it, and `run` reports the error.
        control.shutdown();
    }
    // Stop accepting (the listener closes with the accept greenlet), tell
    // taken-over connections (a WebSocket says 1001), close idle
    // connections, give busy ones until the deadline.
    acceptor.kill();
    drop(acceptor);
    if let Some(sweeper) = sweeper {
        sweeper.kill();
    }
    let told: Vec<Rc<Flags>> = worker.conns.borrow().values().map(|entry| entry.flags.clone()).collect();
    for flags in told {
        flags.going_away.shutdown_began();
    }
    worker.kill_where(|flags| !flags.busy.get());
    let deadline = Instant::now().checked_add(shutdown_timeout);
    while !worker.conns.borrow().is_empty() {
        let in_time = with_hub(|hub| {
            let waker = hub.arm();
            *worker.main.borrow_mut() = Some(waker.clone());
            hub.park_until(&waker, deadline)
        });
        if !in_time {
            break;
        }
    }
    // What is left is killed: a WebSocket that the kill drops closes with
    // 1001 (going away) rather than 1011 (see `Flags::going_away`).
    for entry in worker.conns.borrow().values() {
        entry.flags.going_away.killed.set(true);
    }
    worker.kill_where(|_| true);
    match worker.failure.borrow_mut().take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
