//! Handing a connection over to another protocol (WebSocket): [`Upgrade`]
//! and [`Upgraded`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::rc::Rc;

use super::connection::Connection;
use super::transport::{AnyConn, Transport, on_conn};

thread_local! {
    /// Connections whose current request may be upgraded, by offer id
    /// (each gives its connection while it is still there).
    static OFFERS: RefCell<Vec<(u64, Offered)>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

/// Puts an [`Upgrade`] into a request's extensions for as long as the
/// returned guard lives (the app call).
/// A connection on offer: gives it while it is still there.
type Offered = Box<dyn Fn() -> Option<AnyConn>>;

pub(crate) fn offer<T: Transport>(extensions: &mut http::Extensions, conn: &Rc<Connection<T>>) -> OfferGuard {
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let conn = Rc::downgrade(conn);
    let offered: Offered = Box::new(move || conn.upgrade().map(T::any));
    OFFERS.with(|o| o.borrow_mut().push((id, offered)));
    extensions.insert(Upgrade { id, thread: std::thread::current().id() });
    OfferGuard(id)
}

pub(crate) struct OfferGuard(u64);

impl Drop for OfferGuard {
    fn drop(&mut self) {
        let _ = OFFERS.try_with(|o| o.borrow_mut().retain(|(id, _)| *id != self.0));
    }
}

/// The right to take over the connection of a request that asked to switch
/// protocols (`Connection: upgrade`). The server puts one in the request's
/// extensions; [`Upgrade::take`] during the app call turns it into the raw
/// connection, after which the server writes nothing more on it and closes
/// it once the app has returned and every [`Upgraded`] handle is dropped.
///
/// [`crate::websocket::WebSocketWSGI`] is built on this.
///
/// ```no_run
/// use std::io::Write;
/// use guv::wsgi::{Body, Upgrade};
///
/// let app = |req: http::Request<Body>| {
///     if let Some(up) = req.extensions().get::<Upgrade>() {
///         let mut conn = up.take().unwrap();
///         conn.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n").unwrap();
///         std::io::copy(&mut conn.clone(), &mut conn).unwrap();
///     }
///     http::Response::new(Body::empty())
/// };
/// guv::wsgi::serve(guv::listen("127.0.0.1:8002").unwrap(), app).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Upgrade {
    id: u64,
    thread: std::thread::ThreadId,
}

impl Upgrade {
    /// Takes the connection over. Fails (`NotConnected`) outside the app
    /// call that received the request, on another thread, or if it was
    /// already taken; fails (`InvalidInput`, and the offer stays) while the
    /// request has a body the app has not read to its end, since those
    /// bytes belong to HTTP, not to the new protocol: read the body first,
    /// or refuse the upgrade.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use guv::wsgi::{Body, Server, Upgrade};
    ///
    /// let app = |mut req: http::Request<Body>| {
    ///     let up = req.extensions().get::<Upgrade>().cloned().unwrap();
    ///     let early = up.take().unwrap_err(); // the body is still unread
    ///     assert_eq!(early.kind(), std::io::ErrorKind::InvalidInput);
    ///     let mut body = String::new();
    ///     req.body_mut().read_to_string(&mut body).unwrap();
    ///     let mut conn = up.take().unwrap();
    ///     conn.write_all(format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n{body}").as_bytes()).unwrap();
    ///     http::Response::new(Body::empty())
    /// };
    /// let server = Server::new(app).bind("127.0.0.1:0").unwrap();
    /// let addr = server.local_addr();
    /// let stop = server.shutdown_handle();
    /// let thread = std::thread::spawn(move || server.run());
    ///
    /// let mut client = std::net::TcpStream::connect(addr).unwrap();
    /// client.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\nContent-Length: 2\r\n\r\nhi").unwrap();
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply).unwrap();
    /// assert!(reply.starts_with("HTTP/1.1 101 ") && reply.ends_with("\r\n\r\nhi"));
    /// stop.shutdown();
    /// thread.join().unwrap().unwrap();
    /// ```
    pub fn take(&self) -> io::Result<Upgraded> {
        let gone =
            || io::Error::new(io::ErrorKind::NotConnected, "guv::wsgi::Upgrade: the connection is no longer on offer");
        if std::thread::current().id() != self.thread {
            return Err(gone());
        }
        let conn = OFFERS
            .with(|o| o.borrow().iter().find(|(id, _)| *id == self.id).and_then(|(_, conn)| conn()))
            .ok_or_else(gone)?;
        if on_conn!(&conn, c => c.conn.borrow().body_unread()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "guv::wsgi::Upgrade: the request body is not read to its end; read it before taking the \
                 connection over",
            ));
        }
        OFFERS.with(|o| o.borrow_mut().retain(|(id, _)| *id != self.id));
        let released = crate::Event::new();
        on_conn!(&conn, c => {
            c.upgraded.set(true);
            *c.released.borrow_mut() = Some(released.clone());
        });
        let lease = Rc::new(Lease(released));
        on_conn!(&conn, c => c.flush())?;
        Ok(Upgraded { conn, _lease: lease })
    }
}

/// A connection taken over with [`Upgrade::take`]: the bytes after the
/// request head (and body), then the socket. Clones share the connection
/// (one can read while another writes).
///
/// # Lifetime
///
/// The connection still counts as one of the server's connections (its
/// slot of [`Server::max_connections`](super::Server::max_connections))
/// until the last clone is dropped: the connection's greenlet, back from
/// the app, waits for that before it closes the socket and frees the slot.
/// So handles may be passed to other greenlets and outlive the app call,
/// but not the server's control: at shutdown the connection counts as a
/// request in flight, and once the shutdown timeout has passed its
/// greenlet is killed and the socket shut down in both directions, so that
/// reads through the remaining handles see end of input and writes fail.
///
/// ```no_run
/// use std::io::{Read, Write};
/// use guv::wsgi::{Body, Upgrade};
///
/// let app = |req: http::Request<Body>| {
///     if let Some(up) = req.extensions().get::<Upgrade>() {
///         let mut conn = up.take().unwrap();
///         conn.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n").unwrap();
///         // The echo goes on after the app returns; the server closes the
///         // connection when this greenlet drops the last handle.
///         guv::spawn(move || std::io::copy(&mut conn.clone(), &mut conn));
///     }
///     http::Response::new(Body::empty())
/// };
/// guv::wsgi::serve(guv::listen("127.0.0.1:8002").unwrap(), app).unwrap();
/// ```
#[derive(Clone)]
pub struct Upgraded {
    conn: AnyConn,
    _lease: Rc<Lease>,
}

/// Shared by an [`Upgraded`] and its clones; dropping the last one tells
/// the connection's greenlet that the connection is no longer used.
struct Lease(crate::Event);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.set();
    }
}

impl Upgraded {
    /// Buffered bytes first, then one non-blocking read (`WouldBlock` when
    /// the socket is empty).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        on_conn!(&self.conn, c => try_read(c, buf))
    }

    /// One non-blocking write.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        on_conn!(&self.conn, c => try_write(c, buf))
    }

    /// Pushes out what a wrapped stream (TLS) holds of what was written,
    /// without parking (`WouldBlock` if it cannot all go yet); nothing to
    /// do on a plain socket.
    pub(crate) fn try_flush(&self) -> io::Result<()> {
        on_conn!(&self.conn, c => c.stream.try_flush())
    }

    /// Whether the server is killing the connection at its shutdown
    /// deadline.
    pub(crate) fn server_going_away(&self) -> bool {
        on_conn!(&self.conn, c => c.going_away.killed.get())
    }

    /// Has `notice` called (on the server's worker greenlet: it must not
    /// park) when a graceful shutdown of the server begins; at once if it
    /// has begun. One notice per connection: a later one replaces it.
    pub(crate) fn on_server_shutdown(&self, notice: Box<dyn FnOnce()>) {
        on_conn!(&self.conn, c => c.going_away.on_shutdown(notice))
    }

    /// The protocol spoken over the connection ended cleanly: nothing of
    /// it is left half-written and no more of it will be (a WebSocket's
    /// closing frame went out whole), so a wrapped stream may end its own
    /// session too (see `Connection::protocol_ended`).
    pub(crate) fn protocol_ended(&self) {
        on_conn!(&self.conn, c => c.protocol_ended())
    }

    /// Parks until the socket is ready for `interest`.
    pub(crate) fn wait_ready(&self, interest: crate::Interest) -> io::Result<()> {
        on_conn!(&self.conn, c => c.stream.wait_ready(interest, None))
    }
}

fn try_read<T: Transport>(conn: &Connection<T>, buf: &mut [u8]) -> io::Result<usize> {
    let buffered = conn.conn.borrow_mut().take_buffered(buf);
    if buffered > 0 {
        return Ok(buffered);
    }
    conn.stream.try_read(buf)
}

fn try_write<T: Transport>(conn: &Connection<T>, buf: &[u8]) -> io::Result<usize> {
    let n = conn.stream.try_write(buf)?;
    conn.note_upgrade_write(&buf[..n]);
    Ok(n)
}

/// Runs the non-blocking `op` until it does not say `WouldBlock`, parking
/// for `interest` in between.
fn parking<T: Transport, R>(
    conn: &Connection<T>,
    interest: crate::Interest,
    mut op: impl FnMut(&Connection<T>) -> io::Result<R>,
) -> io::Result<R> {
    loop {
        match op(conn) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.stream.wait_ready(interest, None)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

impl Read for Upgraded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        on_conn!(&self.conn, c => parking(c, crate::Interest::READABLE, |c| try_read(c, buf)))
    }
}

impl Write for Upgraded {
    /// Writes and, on a wrapped stream (TLS), pushes the bytes out: what
    /// `write` returns is on its way to the client, as on a plain socket.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        on_conn!(&self.conn, c => {
            let n = parking(c, crate::Interest::WRITABLE, |c| try_write(c, buf))?;
            parking(c, crate::Interest::WRITABLE, |c| c.stream.try_flush())?;
            Ok(n)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        on_conn!(&self.conn, c => parking(c, crate::Interest::WRITABLE, |c| c.stream.try_flush()))
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.conn {
            AnyConn::Tcp(_) => "tcp",
            AnyConn::Unix(_) => "unix",
            AnyConn::Wrapped(_) => "wrapped",
        };
        f.debug_struct("Upgraded").field("transport", &kind).finish_non_exhaustive()
    }
}
