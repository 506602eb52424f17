//! A plain TCP server: [`serve`] (eventlet's `serve`), [`StreamServer`]
//! and [`ServerHandle`] (gevent's `StreamServer`), and [`StopServe`].
//!
//! The server accepts on one greenlet and runs each connection's handler
//! on a greenlet of its own, at most [`concurrency`](StreamServer::concurrency)
//! at once (a [`GreenPool`]): further connections wait in the listen
//! backlog. A handler that panics or fails is logged (target
//! `guv::server`) and the server goes on. Everything runs on the hub of the
//! thread that starts the server; the handles are hub-local (`!Send`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::greenlet::{KillSignal, TimeoutSignal};
use crate::hub::{Waker, with_hub};
use crate::net::{TcpListener, TcpStream};
use crate::{Builder, Error, GreenPool, GreenThread};

/// The default cap on handlers running at once: eventlet's `serve` default.
pub const DEFAULT_CONCURRENCY: usize = 1000;

/// How long a stop waits for the handlers it killed to end before it gives
/// up on them: gevent's `pool.kill(timeout=1)` in `StreamServer.stop`.
const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long to back off after `accept` fails for lack of resources (file
/// descriptors, memory), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The `log` target of the server's messages.
const TARGET: &str = "guv::server";

/// What [`accept_loop`] does after `accept` failed.
#[derive(Debug, PartialEq, Eq)]
enum AcceptFailure {
    /// The failure concerns one connection, or none: try again at once.
    Skip,
    /// Resources ran out (file descriptors, memory): log, back off, retry.
    BackOff,
    /// The listener itself is unusable (closed, shut down, not listening):
    /// retrying would fail the same way for ever.
    Fatal,
}

/// Sorts an error of `accept` (see accept(2)).
fn accept_failure(e: &io::Error) -> AcceptFailure {
    match e.kind() {
        // WouldBlock: the listener's own SO_RCVTIMEO passed.
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock => return AcceptFailure::Skip,
        _ => {}
    }
    match e.raw_os_error() {
        // Linux hands errors already pending on the new connection to
        // `accept`, which is to be retried as for EAGAIN (accept(2)); EPERM
        // is a firewall refusing that connection.
        Some(
            libc::ENETDOWN
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::EPERM,
        ) => AcceptFailure::Skip,
        // Not a listening socket (any more): shut down, or not a socket.
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT) => AcceptFailure::Fatal,
        _ => AcceptFailure::BackOff,
    }
}

/// Accepts on `listener`, handing each connection to `start`. Failures
/// that concern one connection (it was aborted or reset before it was
/// taken, an error pending on it, a signal) are skipped; a lack of
/// resources (file descriptors, memory) is logged under `target` and
/// retried after [`ACCEPT_BACKOFF`]. Returns the error only when the
/// listener itself cannot accept any more (it was shut down or is not a
/// listening socket), which the caller's server stops on. Shared by
/// [`StreamServer`] and the HTTP server.
pub(crate) fn accept_loop(
    listener: &TcpListener,
    target: &str,
    mut start: impl FnMut(TcpStream, SocketAddr),
) -> io::Error {
    // The server owns the listener: it parks in accept whatever mode the
    // listener was given (one taken over from a non-blocking std listener
    // keeps that mode, see `from_std`).
    let _ = listener.set_nonblocking(false);
    loop {
        match listener.accept() {
            Ok((stream, peer)) => start(stream, peer),
            Err(e) => match accept_failure(&e) {
                AcceptFailure::Skip => {}
                AcceptFailure::BackOff => {
                    log::error!(target: target, "accept failed: {e}; retrying in {ACCEPT_BACKOFF:?}");
                    crate::sleep(ACCEPT_BACKOFF);
                }
                AcceptFailure::Fatal => {
                    log::error!(target: target, "accept failed: {e}; the listener cannot accept, the server stops");
                    return io::Error::new(e.kind(), format!("{target}: the listener cannot accept: {e}"));
                }
            },
        }
    }
}

/// Serves `listener` on this thread's hub, running `handler` on a greenlet
/// of its own for each connection, at most [`DEFAULT_CONCURRENCY`] at once
/// (eventlet's `serve(sock, handle, concurrency=1000)`). A handler that
/// panics or returns an error is logged and the server goes on. Returns
/// once a handler returns [`StopServe`] and the handlers still running have
/// ended; for a cap of your own, a stop from elsewhere or a deadline, use
/// [`StreamServer`]. Killing the greenlet that runs it (or a
/// [`Timeout`](crate::Timeout) around it) stops the server, handlers and
/// all, as [`StreamServer::serve_forever`] says.
///
/// ```
/// use std::io::{Read, Write};
///
/// let listener = guv::listen("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let client = guv::spawn(move || {
///     let mut c = guv::connect(addr).unwrap();
///     c.write_all(b"ping").unwrap();
///     let mut answer = [0u8; 4];
///     c.read_exact(&mut answer).unwrap();
///     answer
/// });
/// guv::serve(listener, |mut conn, _peer| {
///     let mut buf = [0u8; 4];
///     conn.read_exact(&mut buf)?;
///     conn.write_all(&buf)?;
///     Err(guv::StopServe.into()) // one connection is enough here
/// })
/// .unwrap();
/// assert_eq!(&client.wait().unwrap(), b"ping");
/// ```
pub fn serve<F>(listener: TcpListener, handler: F) -> io::Result<()>
where
    F: Fn(TcpStream, SocketAddr) -> io::Result<()> + 'static,
{
    StreamServer::new(listener, handler).serve_forever()
}

/// What a handler returns (as `Err(StopServe.into())`) to stop its server,
/// as eventlet's handlers raise `StopServe`: the server stops accepting and
/// closes its listener at once, leaves the other handlers to finish (no
/// deadline: [`ServerHandle::stop_timeout`] sets one), and
/// [`serve`]/[`StreamServer::serve_forever`]/[`ServerHandle::wait`]
/// return once they have. It is an ordinary [`io::Error`] (kind `Other`)
/// that the server recognises, so a handler can stop its server without a
/// handle and with `?` everywhere else.
///
/// ```
/// let e: std::io::Error = guv::StopServe.into();
/// assert!(e.get_ref().is_some_and(|inner| inner.is::<guv::StopServe>()));
/// assert_eq!(e.to_string(), "stop serving");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopServe;

impl fmt::Display for StopServe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stop serving")
    }
}

impl std::error::Error for StopServe {}

impl From<StopServe> for io::Error {
    fn from(stop: StopServe) -> io::Error {
        io::Error::other(stop)
    }
}

/// A TCP server to configure and start (gevent's `StreamServer(listener,
/// handle)`): each connection runs `handler(stream, peer)` on a greenlet of
/// its own, at most [`concurrency`](StreamServer::concurrency) at once.
///
/// [`start`](StreamServer::start) runs it on greenlets of its own and
/// returns a [`ServerHandle`] at once; [`serve_forever`](StreamServer::serve_forever)
/// runs it until it is stopped. A handler returns `io::Result<()>`: an
/// `Err` is logged at `warn` (target `guv::server`, with the peer), and so
/// is a [`Timeout`](crate::Timeout) the handler started and did not catch;
/// a panic at `error`. None of them stops the server; returning
/// [`StopServe`] does.
///
/// A server runs on its thread's hub: one still running when that thread
/// ends is left suspended with the hub's other greenlets (see
/// [`hub`](crate::hub)), its listener open until the process exits. Stop
/// it (or wait for it) before the thread returns.
///
/// ```
/// use std::io::{Read, Write};
///
/// let listener = guv::listen("127.0.0.1:0").unwrap();
/// let server = guv::StreamServer::new(listener, |conn, _peer| {
///     std::io::copy(&mut &conn, &mut &conn)?; // echo until the client shuts down
///     Ok(())
/// })
/// .concurrency(100)
/// .start()
/// .unwrap();
///
/// let mut c = guv::connect(server.local_addr().unwrap()).unwrap();
/// c.write_all(b"hello").unwrap();
/// c.shutdown(std::net::Shutdown::Write).unwrap();
/// let mut echoed = String::new();
/// c.read_to_string(&mut echoed).unwrap();
/// assert_eq!(echoed, "hello");
/// server.stop();
/// ```
pub struct StreamServer<F> {
    listener: TcpListener,
    handler: F,
    concurrency: usize,
    shared: Rc<Shared>,
}

impl<F> StreamServer<F>
where
    F: Fn(TcpStream, SocketAddr) -> io::Result<()> + 'static,
{
    /// A server for `listener` (from [`crate::listen`] or
    /// [`TcpListener::bind`]) running `handler` per connection, with a
    /// concurrency of [`DEFAULT_CONCURRENCY`]. Nothing is accepted before
    /// [`start`](StreamServer::start) or
    /// [`serve_forever`](StreamServer::serve_forever): clients wait in the
    /// listen backlog.
    ///
    /// ```
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let server = guv::StreamServer::new(listener, |_conn, peer| {
    ///     println!("{peer} connected");
    ///     Ok(())
    /// });
    /// assert!(server.handle().local_addr().unwrap().port() > 0);
    /// ```
    pub fn new(listener: TcpListener, handler: F) -> StreamServer<F> {
        let local_addr = listener.local_addr().map_err(|e| (e.kind(), e.to_string()));
        StreamServer { listener, handler, concurrency: DEFAULT_CONCURRENCY, shared: Rc::new(Shared::new(local_addr)) }
    }

    /// The most handlers running at once (at least 1). While that many
    /// run, the server takes one more connection and waits with it for a
    /// free slot; the others wait in the listen backlog.
    ///
    /// ```
    /// use std::io::Write;
    ///
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// // One client at a time: a second one is served once the first is done.
    /// let server = guv::StreamServer::new(listener, |mut conn, _| conn.write_all(b"your turn"))
    ///     .concurrency(1)
    ///     .start()
    ///     .unwrap();
    /// let addr = server.local_addr().unwrap();
    /// for _ in 0..2 {
    ///     let mut c = guv::connect(addr).unwrap();
    ///     let mut got = String::new();
    ///     std::io::Read::read_to_string(&mut c, &mut got).unwrap();
    ///     assert_eq!(got, "your turn");
    /// }
    /// server.stop();
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long a stop ([`ServerHandle::stop`], or
    /// [`stop_timeout`](ServerHandle::stop_timeout) once its grace has
    /// passed) waits for the handlers it killed to end: 1 s unless set
    /// (gevent's `stop` waits as long, with `pool.kill(timeout=1)`). A
    /// killed handler normally ends at once, its destructors run; one that
    /// catches its kill (a `catch_unwind` around code that blocks) and goes
    /// on, or whose destructors take longer, is given up on: the stop logs
    /// a warning (target `guv::server`) and returns while it still runs.
    /// Such a handler is not killed again, keeps its connection open and
    /// its slot taken until it ends on its own, and no longer counts for
    /// [`ServerHandle::wait`]. `Duration::MAX` waits for ever.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    ///
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let started = guv::Event::new();
    /// let s = started.clone();
    /// let server = guv::StreamServer::new(listener, move |mut conn, _| {
    ///     s.set();
    ///     // Swallows the stop's kill, then blocks again until the client closes.
    ///     let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.read(&mut [0u8; 1])));
    ///     conn.read(&mut [0u8; 1])?;
    ///     Ok(())
    /// })
    /// .kill_timeout(Duration::from_millis(20))
    /// .start()
    /// .unwrap();
    /// let c = guv::connect(server.local_addr().unwrap()).unwrap();
    /// started.wait();
    /// server.stop(); // returns about 20 ms after the kill, the handler still running
    /// server.wait().unwrap(); // the handler given up on is not waited for
    /// drop(c); // now it ends
    /// ```
    pub fn kill_timeout(self, timeout: Duration) -> Self {
        self.shared.kill_timeout.set(timeout);
        self
    }

    /// A handle to the server before it starts: to hand to whoever will
    /// stop it (a handler's own stop is [`StopServe`]). A stop requested
    /// before the server starts makes it stop as soon as it starts.
    ///
    /// ```
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let server = guv::StreamServer::new(listener, |_, _| Ok(()));
    /// let handle = server.handle();
    /// guv::spawn_n(move || handle.stop()); // runs once serve_forever waits
    /// server.serve_forever().unwrap();
    /// ```
    pub fn handle(&self) -> ServerHandle {
        ServerHandle(self.shared.clone())
    }

    /// Starts accepting on a greenlet of its own and returns at once
    /// (gevent's `start()`); the server runs as this thread's hub runs
    /// (while this greenlet waits, sleeps or does I/O). Fails only if the
    /// accept greenlet cannot be spawned (its stack cannot be mapped).
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let server = guv::StreamServer::new(listener, |conn, peer| {
    ///     use std::io::Write;
    ///     writeln!(&conn, "hello {}", peer.ip())
    /// })
    /// .start()
    /// .unwrap();
    /// let mut c = guv::connect(server.local_addr().unwrap()).unwrap();
    /// let mut line = String::new();
    /// c.read_to_string(&mut line).unwrap();
    /// assert_eq!(line, "hello 127.0.0.1\n");
    /// server.stop();
    /// ```
    pub fn start(self) -> io::Result<ServerHandle> {
        let StreamServer { listener, handler, concurrency, shared } = self;
        let handle = ServerHandle(shared.clone());
        if shared.stopping.get() {
            return Ok(handle); // the listener closes here
        }
        let pool = GreenPool::new(concurrency);
        let handler = Rc::new(handler);
        let server = shared.clone();
        shared.listening.set(true);
        let closed = ListenerClosed(shared.clone());
        let acceptor = Builder::new().name("guv-server-accept").spawn(move || {
            // Dropped in reverse: the listener closes, then `closed` says so
            // (both at once if the greenlet is killed before it starts).
            let _closed = closed;
            let listener = listener;
            let failed =
                accept_loop(&listener, TARGET, |stream, peer| server.start_handler(&pool, &handler, stream, peer));
            server.accept_failed(failed);
        })?;
        *shared.acceptor.borrow_mut() = Some(acceptor);
        Ok(handle)
    }

    /// [`start`](StreamServer::start)s the server and waits until it has
    /// stopped (gevent's `serve_forever()`): until a handler returns
    /// [`StopServe`] or someone calls [`ServerHandle::stop`] (or
    /// [`stop_timeout`](ServerHandle::stop_timeout)) on its
    /// [`handle`](StreamServer::handle), and the handlers have ended.
    ///
    /// If the waiting greenlet is killed or a [`Timeout`](crate::Timeout)
    /// of its own expires, the server is stopped as it unwinds (as
    /// [`ServerHandle::stop`]: the listener closes, the handlers are killed
    /// and waited for, up to the [`kill_timeout`](StreamServer::kill_timeout)),
    /// as gevent's `serve_forever` stops its server in a
    /// `finally`; so is [`serve`], whose caller has no handle.
    ///
    /// ```
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// guv::spawn_n(move || drop(guv::connect(addr).unwrap()));
    /// guv::StreamServer::new(listener, |_conn, _peer| Err(guv::StopServe.into()))
    ///     .serve_forever()
    ///     .unwrap();
    ///
    /// // Serving for a while: the timeout stops the server.
    /// use std::time::Duration;
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let server = guv::StreamServer::new(listener, |_conn, _peer| Ok(()));
    /// let r = guv::with_timeout(Duration::from_millis(10), move || server.serve_forever());
    /// assert!(r.unwrap_err().is_timed_out());
    /// assert!(guv::connect(addr).is_err(), "the listener is closed");
    /// ```
    pub fn serve_forever(self) -> io::Result<()> {
        let handle = self.start()?;
        let on_unwind = StopOnUnwind(&handle);
        let done = handle.wait();
        std::mem::forget(on_unwind);
        done
    }
}

impl<F> fmt::Debug for StreamServer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("local_addr", &self.shared.local_addr)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// Controls a [`StreamServer`] (gevent's server object once started):
/// read its address, [`stop`](ServerHandle::stop) it, with or without a
/// grace period, and [`wait`](ServerHandle::wait) for it to end. Clones
/// share the server; dropping them does not stop it (a started server runs
/// until it is stopped, as a spawned greenlet does). It stays on the server's thread (`!Send`); from
/// another thread, spawn the stop onto the server's hub with a
/// [`hub::Handle`](crate::hub::Handle).
///
/// ```
/// let listener = guv::listen("127.0.0.1:0").unwrap();
/// let server = guv::StreamServer::new(listener, |_, _| Ok(())).start().unwrap();
/// let same = server.clone();
/// same.stop();
/// assert!(server.is_stopped());
/// server.wait().unwrap();
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let listener = guv::listen("127.0.0.1:0").unwrap();
/// assert_send(guv::StreamServer::new(listener, |_, _| Ok(())).handle());
/// ```
#[derive(Clone)]
pub struct ServerHandle(Rc<Shared>);

impl ServerHandle {
    /// The address the server listens (or listened) on.
    ///
    /// ```
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let server = guv::StreamServer::new(listener, |_, _| Ok(())).start().unwrap();
    /// assert_eq!(server.local_addr().unwrap(), addr);
    /// server.stop();
    /// assert_eq!(server.local_addr().unwrap(), addr, "still known once closed");
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr.clone().map_err(|(kind, msg)| io::Error::new(kind, msg))
    }

    /// Whether a stop was requested: by [`stop`](ServerHandle::stop),
    /// [`stop_timeout`](ServerHandle::stop_timeout), or a handler's
    /// [`StopServe`]. Handlers may still be finishing.
    ///
    /// ```
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let server = guv::StreamServer::new(listener, |_, _| Ok(())).start().unwrap();
    /// assert!(!server.is_stopped());
    /// server.stop();
    /// assert!(server.is_stopped());
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.0.stopping.get()
    }

    /// Stops the server now (gevent's `stop(timeout=0)`; gevent's bare
    /// `stop()` first gives handlers its 1 s `stop_timeout`, for which see
    /// [`stop_timeout`](ServerHandle::stop_timeout)): stops accepting and closes
    /// the listener (new connections are refused), kills the running
    /// handlers, and returns once they have unwound (their destructors
    /// ran). Called from one of the server's own handlers, it kills the
    /// others and returns to the caller, which ends when it likes.
    /// Stopping a stopped server waits for its handlers again and does
    /// nothing else. Stops at once (from several handlers, or a handler and
    /// another greenlet) share the killing: each handler is killed once, by
    /// whichever stop gets to it first, also when that stop's own caller
    /// is killed half-way by another, and each returns once the handlers
    /// other than its caller have ended.
    ///
    /// A handler is killed once: one that catches the kill (a
    /// `catch_unwind` around code that blocks) and goes on, or whose
    /// destructors block for long, holds `stop` (and
    /// [`stop_timeout`](ServerHandle::stop_timeout), past its grace) for
    /// the server's [`kill_timeout`](StreamServer::kill_timeout) (1 s by
    /// default) at most: then the stop gives up on it, logs a warning and
    /// returns while it still runs, its connection open until it ends on its
    /// own. The listener is closed in every case.
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let started = guv::Event::new();
    /// let s = started.clone();
    /// let server = guv::StreamServer::new(listener, move |mut conn, _| {
    ///     s.set();
    ///     let mut buf = [0u8; 1];
    ///     conn.read(&mut buf)?; // the client never writes: parked here
    ///     Ok(())
    /// })
    /// .start()
    /// .unwrap();
    /// let addr = server.local_addr().unwrap();
    /// let mut c = guv::connect(addr).unwrap();
    /// started.wait();
    /// server.stop();
    /// assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0, "the killed handler's socket closed");
    /// assert!(guv::connect(addr).is_err(), "the listener is closed");
    /// ```
    pub fn stop(&self) {
        self.0.stop(None);
    }

    /// Stops the server gracefully (gevent's `stop(timeout)`): stops
    /// accepting and closes the listener at once, lets the running handlers
    /// finish until `grace` has passed, then kills the rest and returns
    /// once every handler has ended (or, for a killed handler that does
    /// not end, after the server's [`kill_timeout`](StreamServer::kill_timeout),
    /// as [`stop`](ServerHandle::stop) does). Returns whether they all
    /// finished in time: `false` if any handler of the server was killed,
    /// by this stop or by another (a plain [`stop`](ServerHandle::stop), or
    /// a handler's) made before or during the grace period, whether it then
    /// ended or was given up on. From a handler, the caller is neither
    /// waited for nor killed.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    ///
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let started = guv::Event::new();
    /// let s = started.clone();
    /// let server = guv::StreamServer::new(listener, move |mut conn, _| {
    ///     s.set();
    ///     let mut buf = [0u8; 3];
    ///     conn.read_exact(&mut buf)?;
    ///     conn.write_all(b"done")
    /// })
    /// .start()
    /// .unwrap();
    /// let mut c = guv::connect(server.local_addr().unwrap()).unwrap();
    /// started.wait();
    /// let stopper = {
    ///     let server = server.clone();
    ///     guv::spawn(move || server.stop_timeout(Duration::from_secs(60)))
    /// };
    /// guv::gyield(); // the stopper runs: the stop is under way
    /// assert!(server.is_stopped());
    /// c.write_all(b"abc").unwrap(); // the handler still finishes its work
    /// let mut answer = String::new();
    /// c.read_to_string(&mut answer).unwrap();
    /// assert_eq!(answer, "done");
    /// assert!(stopper.wait().unwrap(), "finished in time");
    /// ```
    pub fn stop_timeout(&self, grace: Duration) -> bool {
        self.0.stop(Some(Instant::now().checked_add(grace)))
    }

    /// Waits until the server has stopped (its listener is closed: the port
    /// can be bound again) and every handler has ended, except those a stop
    /// killed and then gave up on (see
    /// [`kill_timeout`](StreamServer::kill_timeout)).
    /// Fails with `ErrorKind::Deadlock` when called from one of the
    /// server's own handlers, which would wait for itself; with the
    /// listener's error when the server stopped because its listener could
    /// not accept any more (it was shut down, or is not a listening socket:
    /// `accept` fails with EINVAL, EBADF, ENOTSOCK or EFAULT), after letting the
    /// running handlers finish, as a [`StopServe`] does. (Errors of `accept`
    /// that concern one connection are skipped, and a lack of file
    /// descriptors or memory is logged and retried after a short back-off.)
    ///
    /// ```
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let server = guv::StreamServer::new(listener, |_, _| Ok(())).start().unwrap();
    /// let stopper = server.clone();
    /// guv::spawn_n(move || stopper.stop());
    /// server.wait().unwrap(); // returns once the other greenlet stopped it
    /// ```
    pub fn wait(&self) -> io::Result<()> {
        let shared = &self.0;
        if shared.current_handler().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Deadlock,
                "guv::server: ServerHandle::wait called from one of the server's own handlers, \
                 which would wait for itself; use stop() or StopServe instead",
            ));
        }
        while !(shared.stopping.get() && shared.outstanding(None) == 0 && !shared.listening.get()) {
            shared.park(None);
        }
        match &*shared.failure.borrow() {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.0.local_addr)
            .field("stopped", &self.0.stopping.get())
            .field("handlers", &self.0.live.get())
            .finish()
    }
}

/// The state a server and its handles share (hub-local).
struct Shared {
    local_addr: Result<SocketAddr, (io::ErrorKind, String)>,
    /// A stop was requested; the accept greenlet is (being) killed.
    stopping: Cell<bool>,
    /// The accept greenlet still holds the listener open: from `start` until
    /// that greenlet's closure is dropped (`ListenerClosed`), which a stop's
    /// kill brings about only once the killed greenlet runs. `wait` and
    /// `stop` return only once it is false, so that the port is free then.
    listening: Cell<bool>,
    /// A stop has killed a handler: no `stop_timeout` can say "in time".
    killed_any: Cell<bool>,
    /// How long a stop waits for the handlers it killed before it gives up
    /// on them ([`StreamServer::kill_timeout`]).
    kill_timeout: Cell<Duration>,
    /// Handlers still running that a stop killed and then gave up on
    /// (marked in their `Entry`); they no longer count for `stop`/`wait`.
    abandoned: Cell<usize>,
    /// The listener failed for good (see [`accept_loop`]): what `wait`
    /// reports.
    failure: RefCell<Option<(io::ErrorKind, String)>>,
    /// The accept greenlet while the server accepts; it owns the listener,
    /// which closes when it is killed.
    acceptor: RefCell<Option<GreenThread<()>>>,
    /// Handler greenlets by connection number, each with whether a stop
    /// has killed it. An entry is taken out only when its handler ends
    /// (by `HandlerGuard`): a handler that a stop has picked and not killed
    /// yet (each kill yields) still knows itself in its own `stop`/`wait`,
    /// and one left unkilled because the stop killing it was itself killed
    /// (two handlers stopping at once) is picked by the other stop.
    handlers: RefCell<HashMap<u64, Entry>>,
    next_conn: Cell<u64>,
    /// Handlers not ended yet: running, waiting to start, or one accepted
    /// connection waiting for a pool slot. Counted down by `HandlerGuard`.
    live: Cell<usize>,
    /// Greenlets in `stop`/`wait`, woken whenever a handler ends or a stop
    /// begins; each re-checks its condition.
    waiters: RefCell<Vec<Waker>>,
}

impl Shared {
    fn new(local_addr: Result<SocketAddr, (io::ErrorKind, String)>) -> Shared {
        Shared {
            local_addr,
            stopping: Cell::new(false),
            killed_any: Cell::new(false),
            kill_timeout: Cell::new(DEFAULT_KILL_TIMEOUT),
            abandoned: Cell::new(0),
            failure: RefCell::new(None),
            listening: Cell::new(false),
            acceptor: RefCell::new(None),
            handlers: RefCell::new(HashMap::new()),
            next_conn: Cell::new(0),
            live: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
        }
    }

    /// Runs on the accept greenlet: spawns the connection's handler into
    /// the pool, waiting there while the pool is full.
    fn start_handler<F>(self: &Rc<Self>, pool: &GreenPool, handler: &Rc<F>, stream: TcpStream, peer: SocketAddr)
    where
        F: Fn(TcpStream, SocketAddr) -> io::Result<()> + 'static,
    {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        self.live.set(self.live.get() + 1);
        // Owned by the handler's closure: it counts the handler out when the
        // closure is dropped, run or not (a kill before it starts, or a
        // spawn that failed).
        let guard = HandlerGuard { shared: self.clone(), id };
        let handler = handler.clone();
        let spawned = pool.spawn_with(Builder::new(), move || {
            run_handler(&*handler, stream, peer, &guard.shared);
            drop(guard);
        });
        match spawned {
            // Not started yet: spawning does not switch.
            Ok(greenlet) => drop(
                self.handlers
                    .borrow_mut()
                    .insert(id, Entry { greenlet: Rc::new(greenlet), killed: false, abandoned: false }),
            ),
            Err(e) => log::error!(target: TARGET, "{peer}: cannot start a greenlet for the connection: {e}"),
        }
    }

    /// The connection number of the handler running on this greenlet, if
    /// it is one of ours.
    fn current_handler(&self) -> Option<u64> {
        let me = with_hub(|hub| hub.current().header().id());
        self.handlers.borrow().iter().find(|(_, e)| e.greenlet.id() == me).map(|(id, _)| *id)
    }

    /// Stops accepting: kills the accept greenlet, whose listener closes as
    /// it unwinds (`kill` yields so that this happens before it returns);
    /// called on the accept greenlet itself (its listener failed), leaves it
    /// to return, which closes the listener as well.
    fn stop_accepting(&self) {
        self.stopping.set(true);
        let acceptor = self.acceptor.borrow_mut().take();
        let me = with_hub(|hub| hub.current().header().id());
        if let Some(acceptor) = acceptor.filter(|a| a.id() != me) {
            acceptor.kill();
        }
        self.wake_all();
    }

    /// Runs on the accept greenlet once its listener failed for good: the
    /// server stops accepting as after a [`StopServe`] (the handlers
    /// finish), and `wait` reports the failure.
    fn accept_failed(&self, e: io::Error) {
        *self.failure.borrow_mut() = Some((e.kind(), e.to_string()));
        self.stop_accepting();
    }

    /// Handlers not ended that `stop`/`wait` still wait for: all but the
    /// ones given up on, and but the caller `me` (a handler of ours).
    fn outstanding(&self, me: Option<u64>) -> usize {
        let me_counted = me.is_some_and(|id| self.handlers.borrow().get(&id).is_none_or(|e| !e.abandoned));
        self.live.get() - self.abandoned.get() - usize::from(me_counted)
    }

    /// Gives up on the killed handlers other than `me` that have not ended:
    /// they no longer count for `stop`/`wait`.
    fn abandon(&self, me: Option<u64>) {
        let mut given_up = 0;
        for (id, entry) in self.handlers.borrow_mut().iter_mut() {
            if entry.killed && !entry.abandoned && Some(*id) != me {
                entry.abandoned = true;
                given_up += 1;
            }
        }
        self.abandoned.set(self.abandoned.get() + given_up);
        if given_up > 0 {
            log::warn!(
                target: TARGET,
                "stop gave up on {given_up} killed handler(s) still running {:?} after the kill \
                 (caught the kill and went on, or slow destructors); their connections stay open until they end",
                self.kill_timeout.get()
            );
        }
        self.wake_all();
    }

    /// `stop` (`grace: None`) and `stop_timeout` (`Some(deadline)`);
    /// returns whether no handler had to be killed.
    fn stop(&self, grace: Option<Option<Instant>>) -> bool {
        let me = self.current_handler();
        self.stop_accepting();
        if let Some(deadline) = grace {
            while self.outstanding(me) > 0 {
                if !self.park(deadline) {
                    break;
                }
            }
        }
        // Not in time if a handler was killed, by this stop or another one
        // (a plain `stop()`, or a handler's) that came during the grace.
        let in_time = self.outstanding(me) == 0 && !self.killed_any.get();
        let doomed: Vec<u64> = {
            let handlers = self.handlers.borrow();
            handlers.iter().filter(|(id, e)| !e.killed && Some(**id) != me).map(|(id, _)| *id).collect()
        };
        for id in doomed {
            // Each kill yields: another stop may have killed this one since
            // (or this handler ended); a greenlet is killed once.
            let target = match self.handlers.borrow_mut().get_mut(&id) {
                Some(entry) if !entry.killed => {
                    entry.killed = true;
                    self.killed_any.set(true);
                    entry.greenlet.clone()
                }
                _ => continue,
            };
            target.kill();
        }
        // Killed handlers whose destructors block finish later, and the
        // accept greenlet may not have run its kill yet: wait for them, the
        // handlers for `kill_timeout` at most (one that caught its kill may
        // never end), the accept greenlet (guv's own code) until it has.
        let mut give_up_at = Instant::now().checked_add(self.kill_timeout.get());
        while self.outstanding(me) > 0 || self.listening.get() {
            let deadline = if self.outstanding(me) > 0 { give_up_at } else { None };
            if !self.park(deadline) {
                self.abandon(me);
                give_up_at = None;
            }
        }
        in_time
    }

    /// Parks until a handler ends or a stop begins (or `deadline`: false).
    fn park(&self, deadline: Option<Instant>) -> bool {
        with_hub(|hub| {
            let waker = hub.arm();
            self.waiters.borrow_mut().push(waker.clone());
            hub.park_until(&waker, deadline)
        })
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }
}

/// Stops a server when dropped: armed while `serve_forever` waits, so
/// that a kill or `Timeout` of the waiting greenlet stops the server it
/// alone could see.
struct StopOnUnwind<'a>(&'a ServerHandle);

impl Drop for StopOnUnwind<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Owned by the accept greenlet's closure: marks the listener closed (and
/// wakes `stop`/`wait`) when that closure is dropped.
struct ListenerClosed(Rc<Shared>);

impl Drop for ListenerClosed {
    fn drop(&mut self) {
        self.0.listening.set(false);
        self.0.wake_all();
    }
}

/// A running handler in [`Shared::handlers`].
struct Entry {
    greenlet: Rc<GreenThread<()>>,
    /// A stop has killed it (it may still be unwinding).
    killed: bool,
    /// A stop gave up waiting for it after its kill (counted in
    /// `Shared::abandoned` until it ends).
    abandoned: bool,
}

/// Counts a handler out of its server when its closure is dropped.
struct HandlerGuard {
    shared: Rc<Shared>,
    id: u64,
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        let shared = &self.shared;
        let entry = shared.handlers.borrow_mut().remove(&self.id);
        if entry.as_ref().is_some_and(|e| e.abandoned) {
            shared.abandoned.set(shared.abandoned.get() - 1);
        }
        drop(entry);
        shared.live.set(shared.live.get() - 1);
        shared.wake_all();
    }
}

/// Runs one handler: logs what it failed with (an error, a panic, a
/// `Timeout` it started and did not catch), stops the server on
/// [`StopServe`], lets a kill unwind on.
fn run_handler<F>(handler: &F, stream: TcpStream, peer: SocketAddr, shared: &Shared)
where
    F: Fn(TcpStream, SocketAddr) -> io::Result<()>,
{
    match panic::catch_unwind(AssertUnwindSafe(|| handler(stream, peer))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.get_ref().is_some_and(|inner| inner.is::<StopServe>()) => {
            log::debug!(target: TARGET, "{peer}: the handler stopped the server");
            shared.stop_accepting();
        }
        Ok(Err(e)) => log::warn!(target: TARGET, "{peer}: the handler failed: {e}"),
        // A kill (a stop) goes on unwinding to the greenlet's entry.
        Err(payload) if payload.is::<KillSignal>() => crate::hub::resume_unwind(payload),
        // The handler's own `Timeout` (nothing else can time this greenlet
        // out), not caught: its guard is gone, so it ends here.
        Err(payload) if payload.is::<TimeoutSignal>() => {
            log::warn!(target: TARGET, "{peer}: the handler timed out (a guv::Timeout it started expired)");
        }
        Err(payload) => {
            let e = Error::from_unwind(payload);
            let msg = e.panic_message().unwrap_or("(a payload that is not a string)");
            log::error!(target: TARGET, "{peer}: the handler panicked: {msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AcceptFailure, accept_failure};
    use std::io;

    #[test]
    fn accept_errors_are_sorted_as_accept_2_says() {
        let os = io::Error::from_raw_os_error;
        // Errors pending on one new connection: retried at once.
        for code in [libc::EPROTO, libc::ENETDOWN, libc::EHOSTUNREACH, libc::ENETUNREACH, libc::EPERM] {
            assert_eq!(accept_failure(&os(code)), AcceptFailure::Skip, "errno {code}");
        }
        for code in [libc::ECONNABORTED, libc::EINTR, libc::EAGAIN] {
            assert_eq!(accept_failure(&os(code)), AcceptFailure::Skip, "errno {code}");
        }
        // Out of resources: backed off and retried.
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(accept_failure(&os(code)), AcceptFailure::BackOff, "errno {code}");
        }
        // The listener itself is unusable.
        for code in [libc::EINVAL, libc::EBADF, libc::ENOTSOCK] {
            assert_eq!(accept_failure(&os(code)), AcceptFailure::Fatal, "errno {code}");
        }
    }
}
