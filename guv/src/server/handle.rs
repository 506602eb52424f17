//! `ServerHandle`: a started server's address, stopping it (with or without a
//! grace period) and waiting for it to end.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::shared::Shared;
#[cfg(doc)] // only named in doc links
use super::{StopServe, StreamServer};

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
pub struct ServerHandle(pub(super) Rc<Shared>);

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
