//! [`Server`]: the builder and its single-hub `serve`. The settings are in
//! `config.rs`, the stream hook in `wrap.rs`, the multi-worker run
//! ([`Bound`], `run_workers`) in `run.rs`, the cross-thread stop
//! ([`ShutdownHandle`]) in `shutdown.rs`, and one hub's share of a server
//! (the accept loop, the connection table, the sweeper, the shutdown
//! sequence) in `worker.rs`.

mod config;
mod run;
mod shutdown;
mod worker;
mod wrap;

use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};

use super::body::Body;
use super::handler::{Config, Flags};
use super::raw::{Raw, RawRequest, RawResponse, Service};
use super::transport::{Plain, ServeFn, StreamWrap, UnixPeer};
use crate::net::TcpListener;
use crate::net::unix::{UnixListener, UnixStream};
use shutdown::Control;
use worker::run_worker;

pub use run::Bound;
pub use shutdown::ShutdownHandle;

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
    /// the [`Limits`](crate::wsgi::proto::Limits) defaults, a 1 GiB body
    /// limit, 64 KiB drained, a 60 s header timeout, 60 s body and send
    /// timeouts, access log on, 30 s to finish at shutdown.
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

/// The peer address of a Unix-domain connection, as `accept` gives it.
type UnixAddr = std::os::unix::net::SocketAddr;

/// The request loop of `app` (the app, or an `Arc` of it shared by the
/// workers) for each connection of a Unix-domain listener.
fn unix_app<A, R>(app: R) -> Rc<ServeFn<UnixStream, UnixAddr>>
where
    A: Service,
    R: std::ops::Deref<Target = A> + 'static,
{
    Rc::new(move |s: UnixStream, _: UnixAddr, c: &Config, f: &Flags| app.serve_connection(s, UnixPeer, c, f))
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
