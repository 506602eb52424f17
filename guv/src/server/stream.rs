//! `StreamServer`: configuring a server, starting its accept greenlet, and
//! `serve_forever`.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::Listener;
use super::accept::accept_loop;
use super::handle::ServerHandle;
use super::shared::Shared;
use super::{DEFAULT_CONCURRENCY, TARGET};
#[cfg(doc)] // only named in doc links
use super::{StopServe, serve};
#[cfg(doc)] // only named in doc links
use crate::net::TcpListener;
use crate::{Builder, GreenPool};

/// A TCP server to configure and start (gevent's `StreamServer(listener,
/// handle)`): each connection runs `handler(stream, peer)` on a greenlet of
/// its own, at most [`concurrency`](StreamServer::concurrency) at once.
///
/// The listener is a green [`TcpListener`] (the default `L`) or a green
/// Unix-domain [`UnixListener`](crate::net::unix::UnixListener) (see
/// [`Listener`]); the handler gets that listener's stream and peer
/// address. TLS goes in the handler, which already runs on the
/// connection's own greenlet: wrap the `TcpStream` (rustls's
/// `StreamOwned`, say) and finish the handshake there, under a
/// [`with_timeout`](crate::with_timeout) if a client may stall it.
///
/// ```
/// use std::io::{Read, Write};
/// use guv::net::unix::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("guv-stream-server-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path).unwrap();
/// let server = guv::StreamServer::new(listener, |conn: UnixStream, _peer| {
///     std::io::copy(&mut &conn, &mut &conn)?;
///     Ok(())
/// })
/// .start()
/// .unwrap();
/// let mut c = UnixStream::connect(&path).unwrap();
/// c.write_all(b"over unix").unwrap();
/// c.shutdown(std::net::Shutdown::Write).unwrap();
/// let mut echoed = String::new();
/// c.read_to_string(&mut echoed).unwrap();
/// assert_eq!(echoed, "over unix");
/// server.stop();
/// std::fs::remove_file(&path).unwrap();
/// ```
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
pub struct StreamServer<F, L = crate::net::TcpListener> {
    listener: L,
    handler: F,
    concurrency: usize,
    shared: Rc<Shared>,
}

impl<F, L> StreamServer<F, L>
where
    L: Listener,
    F: Fn(L::Stream, L::Addr) -> io::Result<()> + 'static,
{
    /// A server for `listener` (from [`crate::listen`] or
    /// [`TcpListener::bind`]) running `handler` per connection, with a
    /// concurrency of [`DEFAULT_CONCURRENCY`]. Nothing is accepted before
    /// [`start`](StreamServer::start) or
    /// [`serve_forever`](StreamServer::serve_forever): clients wait in the
    /// listen backlog. The server parks in `accept` whatever the
    /// listener's mode: it puts the listener in blocking mode when it
    /// starts, and if a clone of it is made non-blocking later (the mode is
    /// shared, as std's `O_NONBLOCK` is), it waits for the next client
    /// rather than retrying at once.
    ///
    /// ```
    /// let listener = guv::listen("127.0.0.1:0").unwrap();
    /// let server = guv::StreamServer::new(listener, |_conn, peer| {
    ///     println!("{peer} connected");
    ///     Ok(())
    /// });
    /// assert!(server.handle().local_addr().unwrap().port() > 0);
    /// ```
    pub fn new(listener: L, handler: F) -> StreamServer<F, L> {
        let local_addr = listener.inet_addr().map_err(|e| (e.kind(), e.to_string()));
        StreamServer { listener, handler, concurrency: DEFAULT_CONCURRENCY, shared: Rc::new(Shared::new(local_addr)) }
    }

    /// The most handlers running at once (at least 1). While that many
    /// run, the server accepts nothing: new clients wait in the listen
    /// backlog, where another server on a clone of the listener (another
    /// thread's, say) may take them, until a slot is free.
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
            let failed = accept_loop(
                &listener,
                TARGET,
                || pool.reserve(),
                |slot, stream, peer| server.start_handler(&pool, slot, &handler, stream, peer),
            );
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

impl<F, L> fmt::Debug for StreamServer<F, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("local_addr", &self.shared.local_addr)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
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
