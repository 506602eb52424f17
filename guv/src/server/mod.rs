//! A plain stream server: [`serve`] (eventlet's `serve`), [`StreamServer`]
//! and [`ServerHandle`] (gevent's `StreamServer`), and [`StopServe`], on a
//! TCP or Unix-domain [`Listener`].
//!
//! The server accepts on one greenlet and runs each connection's handler
//! on a greenlet of its own, at most [`concurrency`](StreamServer::concurrency)
//! at once (a [`GreenPool`]): further connections wait in the listen
//! backlog. A handler that panics or fails is logged (target
//! `guv::server`) and the server goes on. Everything runs on the hub of the
//! thread that starts the server; the handles are hub-local (`!Send`).
//!
//! [`DatagramServer`] (gevent's `DatagramServer`) does the same for UDP and
//! Unix datagram sockets: one handler greenlet per [`Datagram`], capped,
//! stopped through a [`DatagramHandle`].

mod accept;
mod datagram;
mod handle;
mod shared;
mod stream;

use std::fmt;
use std::io;
use std::time::Duration;

#[cfg(doc)] // only named in doc links
use crate::GreenPool;

pub use accept::Listener;
pub(crate) use accept::accept_loop;
pub use datagram::{DEFAULT_MAX_DATAGRAM_SIZE, Datagram, DatagramHandle, DatagramServer, DatagramSocket};
pub use handle::ServerHandle;
pub use stream::StreamServer;

/// The default cap on handlers running at once: eventlet's `serve` default.
pub const DEFAULT_CONCURRENCY: usize = 1000;

/// How long a stop waits for the handlers it killed to end before it gives
/// up on them: gevent's `pool.kill(timeout=1)` in `StreamServer.stop`.
const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(1);

/// The `log` target of the server's messages.
const TARGET: &str = "guv::server";

/// Serves `listener` (a green TCP or Unix-domain listener, see
/// [`Listener`]) on this thread's hub, running `handler` on a greenlet
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
pub fn serve<L, F>(listener: L, handler: F) -> io::Result<()>
where
    L: Listener,
    F: Fn(L::Stream, L::Addr) -> io::Result<()> + 'static,
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
