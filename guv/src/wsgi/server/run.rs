//! The multi-worker run: [`Server::bind`] / [`Server::run`] with a
//! `SO_REUSEPORT` listener per worker, [`Server::run_unix`] with one
//! shared Unix listener, and [`Bound`]; `run_workers` starts worker 0 on
//! this thread and the others on `guv-wsgi-N` threads, and joins them.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;

use super::shutdown::Control;
use super::worker::run_worker;
use super::{Server, ShutdownHandle, unix_app};
use crate::net::unix::UnixListener;
use crate::net::{LISTEN_BACKLOG, ListenOptions, TcpListener, listen_std};
use crate::server::Listener;
use crate::wsgi::raw::Service;
use crate::wsgi::transport::{Plain, ServeFn, StreamWrap};

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

    /// How many worker hubs [`run`](Bound::run) will start: one per
    /// listener bound, so `workers(0)` shows here as the number of cores.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// assert_eq!(Server::new(hello).workers(3).bind("127.0.0.1:0").unwrap().workers(), 3);
    /// let cores = std::thread::available_parallelism().unwrap().get();
    /// assert_eq!(Server::new(hello).workers(0).bind("127.0.0.1:0").unwrap().workers(), cores);
    /// ```
    pub fn workers(&self) -> usize {
        self.listeners.len()
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
    /// [`Server::serve`]), or that cannot start (its thread's hub fails),
    /// shuts the whole server down.
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
            // A worker that cannot start (its hub or listener fails, or it
            // panics) stops the others, as worker 0 does below: they would
            // otherwise serve on, a worker short, until someone else
            // stopped the server and only then learn of the failure.
            let failed = StopOnFailure(&ctl);
            let result = make(listener, app, wrap)
                .and_then(|(listener, app)| run_worker(app, listener, cfg, max_connections, shutdown_timeout, &ctl));
            if result.is_ok() {
                std::mem::forget(failed);
            }
            result
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
    let failed = StopOnFailure(&control);
    let result = make(own, app, wrap)
        .and_then(|(listener, app)| run_worker(app, listener, cfg, max_connections, shutdown_timeout, &control));
    if result.is_ok() {
        std::mem::forget(failed);
    } else {
        drop(failed); // before the join: the others must stop
    }
    let others = join_all(threads);
    result.and(others)
}

/// Shuts the server down when dropped: armed while a worker thread runs,
/// so that one that fails or panics stops the others.
struct StopOnFailure<'a>(&'a Control);

impl Drop for StopOnFailure<'_> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
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
