//! One WebSocket connection (`WebSocket`): waiting for messages, sending, the
//! closing handshake and its deadline, and the parking on the taken-over
//! socket.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use super::Message;
#[cfg(doc)] // only named in doc links
use super::WebSocketWSGI;
use crate::Interest;
use crate::wsgi::Upgraded;

/// The taken-over connection as tungstenite sees it: non-blocking, so
/// that no borrow of the socket is held while a greenlet parks.
pub(super) struct Raw(pub(super) Upgraded);

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Raw {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    /// What a wrapped stream (TLS) holds goes out too: tungstenite calls
    /// this once it has written its frames.
    fn flush(&mut self) -> io::Result<()> {
        self.0.try_flush()
    }
}

/// One WebSocket connection, handed to the [`WebSocketWSGI`] handler.
/// `!Send`: it belongs to its hub, but any greenlet there may use it.
///
/// ```
/// use guv::websocket::{Message, WebSocket, WebSocketWSGI};
/// use guv::wsgi::Body;
///
/// // A handler answers each text message with its length.
/// fn lengths(ws: WebSocket) {
///     while let Some(msg) = ws.wait() {
///         if let Message::Text(text) = msg {
///             if ws.send(Message::text(text.len().to_string())).is_err() {
///                 break;
///             }
///         }
///     }
/// }
/// let app = WebSocketWSGI::new(lengths);
/// // A plain HTTP request never reaches the handler: it gets a 400.
/// let plain = http::Request::get("/").header("host", "x").body(Body::empty()).unwrap();
/// assert_eq!(app.call(plain).status(), 400);
/// ```
pub struct WebSocket {
    /// Shared (weakly) with the server's shutdown notice
    /// ([`WebSocket::going_away_notice`]).
    pub(super) ws: Rc<RefCell<tungstenite::WebSocket<Raw>>>,
    /// `wait` returned `None`: it always will.
    pub(super) ended: Cell<bool>,
    /// [`WebSocketWSGI::close_timeout`].
    pub(super) close_timeout: Duration,
    /// Set when the closing handshake starts: every park after it ends by
    /// then (`None`: not closing, or no bound).
    pub(super) close_deadline: Rc<Cell<Option<Instant>>>,
    pub(super) path: String,
    pub(super) protocol: Option<String>,
    pub(super) origin: Option<String>,
}

/// Sets the deadline of a closing handshake that starts now, unless one
/// started already.
fn arm_close_deadline(deadline: &Cell<Option<Instant>>, timeout: Duration) {
    if deadline.get().is_none() {
        deadline.set(Instant::now().checked_add(timeout));
    }
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

fn to_io(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::NotConnected, "guv::websocket: the connection is closed")
        }
        // Not the handler's protocol error: the connection is ending.
        tungstenite::Error::Protocol(tungstenite::error::ProtocolError::SendAfterClosing) => io::Error::new(
            io::ErrorKind::NotConnected,
            "guv::websocket: the connection is closing: a closing frame went either way",
        ),
        other => io::Error::new(io::ErrorKind::InvalidData, format!("guv::websocket: {other}")),
    }
}

impl WebSocket {
    /// Waits for the next text or binary message; `None` once the
    /// connection is closed (by either side, or broken), and from then on.
    /// Pings are answered and pongs consumed on the way. A frame that breaks
    /// the protocol, text that is not UTF-8, or a frame or message over
    /// the limits ([`WebSocketWSGI::max_frame_size`],
    /// [`WebSocketWSGI::max_message_size`]) fails the connection: the
    /// client gets a closing frame with 1002, 1007 or 1009, and `wait`
    /// returns `None`.
    ///
    /// When a graceful shutdown of the server begins
    /// ([`ShutdownHandle::shutdown`](crate::wsgi::ShutdownHandle::shutdown)),
    /// the server starts the closing handshake itself with 1001 (going
    /// away), as Python's `websockets` does: `wait` returns `None` once the
    /// client answers (or, for a wait that starts after the shutdown, once
    /// the [close timeout](WebSocketWSGI::close_timeout) passes), so a
    /// handler that loops on `wait` returns in time, and the shutdown ends
    /// without waiting for its deadline. `send` fails from then on.
    ///
    /// ```
    /// # use guv::websocket::{Message, WebSocket, WebSocketWSGI};
    /// # type Started = (std::net::SocketAddr, guv::wsgi::ShutdownHandle, std::thread::JoinHandle<std::io::Result<()>>);
    /// # fn start<H: Fn(WebSocket) + Send + Sync + 'static>(app: WebSocketWSGI<H>) -> Started {
    /// #     let bound = guv::wsgi::Server::new(move |req| app.call(req)).bind("127.0.0.1:0").unwrap();
    /// #     let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// #     (addr, stop, std::thread::spawn(move || bound.run()))
    /// # }
    /// # fn client(addr: std::net::SocketAddr, req: http::Request<()>) -> tungstenite::WebSocket<std::net::TcpStream> {
    /// #     let stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     tungstenite::client(req, stream).unwrap().0
    /// # }
    /// # fn request(addr: std::net::SocketAddr, path: &str) -> http::Request<()> {
    /// #     use tungstenite::client::IntoClientRequest;
    /// #     format!("ws://{addr}{path}").into_client_request().unwrap()
    /// # }
    /// let (addr, stop, server) = start(WebSocketWSGI::new(|ws: WebSocket| {
    ///     let mut n = 0;
    ///     while let Some(_msg) = ws.wait() {
    ///         n += 1;
    ///     }
    ///     // None: the client closed. The connection ends with the handler.
    ///     assert_eq!(n, 2);
    /// }));
    /// let mut c = client(addr, request(addr, "/"));
    /// c.send(Message::text("one")).unwrap();
    /// c.send(Message::binary(vec![2])).unwrap();
    /// c.close(None).unwrap();
    /// while c.read().is_ok() {}
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn wait(&self) -> Option<Message> {
        if self.ended.get() {
            return None;
        }
        let msg = self.next_message();
        if msg.is_none() {
            // After a failure the input stops at no frame boundary: what
            // follows must never be read as messages.
            self.ended.set(true);
        }
        msg
    }

    fn next_message(&self) -> Option<Message> {
        loop {
            // The close timeout bounds the whole closing handshake, not
            // only the parks in it: a client that keeps sending data and
            // never answers the server's Close would otherwise keep a
            // `wait` loop going without ever parking. Checked before a
            // read, so a message taken off the wire is never dropped.
            if self.close_deadline.get().is_some_and(|d| Instant::now() >= d) {
                log::debug!(target: "guv::websocket", "{} closed: the closing handshake took longer than {:?}", self.path, self.close_timeout);
                return None;
            }
            let result = self.ws.borrow_mut().read();
            match result {
                Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                    // Send a queued pong if the socket takes it now, but do
                    // not park holding the message: a kill or `Timeout`
                    // there would lose it. What stays queued goes out with
                    // the next `wait` or `send`.
                    let _ = self.ws.borrow_mut().flush();
                    return Some(msg);
                }
                Ok(Message::Close(_)) => {
                    // Sends the closing reply tungstenite queued, for no
                    // longer than the close timeout.
                    self.start_closing();
                    let _ = self.flush();
                    return None;
                }
                Ok(_) => {
                    // A ping: its pong is queued; send it.
                    if self.flush().is_err() {
                        return None;
                    }
                }
                Err(e) if is_would_block(&e) => {
                    // Readiness is edge-triggered: if the flush parked, an
                    // edge for incoming data may have come and gone with no
                    // reader waiting for it, so read again before waiting.
                    match self.flush_parked() {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => {
                            log::debug!(target: "guv::websocket", "{} closed: {e}", self.path);
                            return None;
                        }
                    }
                    if let Err(e) = self.raw_wait(Interest::READABLE) {
                        log::debug!(target: "guv::websocket", "{} closed: {e}", self.path);
                        return None;
                    }
                }
                Err(e) => {
                    log::debug!(target: "guv::websocket", "{} closed: {e}", self.path);
                    self.fail(&e);
                    return None;
                }
            }
        }
    }

    /// Fails the connection after a bad frame (RFC 6455 7.1.7): a closing
    /// frame whose code says why — 1002 for a protocol error, 1007 for text
    /// that is not UTF-8, 1009 for a frame or message over the size limit.
    /// Written only as far as the socket takes it without waiting: a peer
    /// that broke the protocol cannot make the server park.
    fn fail(&self, e: &tungstenite::Error) {
        use tungstenite::error::ProtocolError;
        let code = match e {
            tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return,
            tungstenite::Error::Protocol(_) => CloseCode::Protocol,
            tungstenite::Error::Utf8(_) => CloseCode::Invalid,
            tungstenite::Error::Capacity(_) => CloseCode::Size,
            _ => return,
        };
        let _ = self.ws.borrow_mut().close(Some(CloseFrame { code, reason: "".into() }));
    }

    /// Sends a message (`&str`, `String` and `Vec<u8>` convert), parking
    /// while the socket's send buffer is full.
    ///
    /// The message is queued whole before any waiting: if a
    /// [`Timeout`](crate::Timeout) or a kill ends the wait, the rest of it
    /// goes out, whole and in order, with the next call that writes or
    /// waits ([`send`](WebSocket::send), [`close`](WebSocket::close),
    /// [`wait`](WebSocket::wait)), ahead of what that call sends. So do not
    /// send it again after such an interruption: the client would get it
    /// twice. Dropping the `WebSocket` (the handler returning) does not
    /// wait for it: the connection ends and the client sees the message cut
    /// off, without a closing frame; call `close` first to have it
    /// delivered. Sending a `Message::Close` starts the closing handshake
    /// as [`close`](WebSocket::close) does, with the same close timeout.
    /// A ping or pong over 125 bytes, a close reason over 123 (RFC 6455
    /// 5.5), or a closing code that may not be sent (7.4: 1005, 1006 and
    /// 1015, which only report locally, and the unassigned ones — below
    /// 1000, 1004, 1014, 1016 to 2999, from 5000), is refused
    /// (`InvalidInput`), nothing is sent, and the connection goes on.
    /// Applications may use 3000 to 4999. A raw `Message::Frame` (which
    /// tungstenite would write as given, unchecked) is refused the same
    /// way: send whole messages, and let the connection frame them. Once
    /// the connection is closed or closing (a closing frame went either
    /// way), `send` fails with `NotConnected`.
    ///
    /// ```
    /// # use guv::websocket::{Message, WebSocket, WebSocketWSGI};
    /// # type Started = (std::net::SocketAddr, guv::wsgi::ShutdownHandle, std::thread::JoinHandle<std::io::Result<()>>);
    /// # fn start<H: Fn(WebSocket) + Send + Sync + 'static>(app: WebSocketWSGI<H>) -> Started {
    /// #     let bound = guv::wsgi::Server::new(move |req| app.call(req)).bind("127.0.0.1:0").unwrap();
    /// #     let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// #     (addr, stop, std::thread::spawn(move || bound.run()))
    /// # }
    /// # fn client(addr: std::net::SocketAddr, req: http::Request<()>) -> tungstenite::WebSocket<std::net::TcpStream> {
    /// #     let stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     tungstenite::client(req, stream).unwrap().0
    /// # }
    /// # fn request(addr: std::net::SocketAddr, path: &str) -> http::Request<()> {
    /// #     use tungstenite::client::IntoClientRequest;
    /// #     format!("ws://{addr}{path}").into_client_request().unwrap()
    /// # }
    /// let (addr, stop, server) = start(WebSocketWSGI::new(|ws: WebSocket| {
    ///     ws.send("text").unwrap();
    ///     ws.send(vec![1u8, 2, 3]).unwrap();
    ///     while ws.wait().is_some() {}
    /// }));
    /// let mut c = client(addr, request(addr, "/"));
    /// assert_eq!(c.read().unwrap(), Message::text("text"));
    /// assert_eq!(c.read().unwrap(), Message::binary(vec![1, 2, 3]));
    /// c.close(None).unwrap();
    /// while c.read().is_ok() {}
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn send(&self, msg: impl Into<Message>) -> io::Result<()> {
        let msg = msg.into();
        // A raw frame would go out as given, past every check below and
        // past the closing state (see ARCHITECTURE, "Raw frames").
        if let Message::Frame(_) = msg {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "guv::websocket: send a whole message (text, binary, ping, pong or close), not a raw Message::Frame",
            ));
        }
        // RFC 6455 5.5: control frames carry at most 125 bytes; tungstenite
        // would send bigger ones, which clients fail the connection on.
        let control_len = match &msg {
            Message::Ping(p) | Message::Pong(p) => p.len(),
            Message::Close(Some(f)) => 2 + f.reason.len(),
            _ => 0,
        };
        if control_len > 125 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("guv::websocket: a control frame carries at most 125 bytes, not {control_len}"),
            ));
        }
        // RFC 6455 7.4: 1005, 1006 and 1015 only report locally what
        // happened, others are unassigned; a client fails the connection on
        // one (1002), and tungstenite would send it as given.
        if let Message::Close(Some(f)) = &msg
            && !f.code.is_allowed()
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("guv::websocket: closing code {} may not be sent (RFC 6455 7.4)", u16::from(f.code)),
            ));
        }
        if let Message::Close(_) = msg {
            // The same closing handshake as `close()`, under the same bound.
            self.start_closing();
        }
        let result = self.ws.borrow_mut().send(msg);
        match result {
            Ok(()) => Ok(()),
            Err(e) if is_would_block(&e) => self.flush(),
            Err(e) => Err(to_io(e)),
        }
    }

    /// Starts the closing handshake; [`wait`](WebSocket::wait) then returns
    /// `None` once the client answers, or once the
    /// [close timeout](WebSocketWSGI::close_timeout) has passed if it does
    /// not. Messages the client sent before its answer still arrive first,
    /// until that timeout: a client that keeps sending and never answers
    /// does not keep a `wait` loop going past it.
    /// A close that cannot be written before that timeout (the client reads
    /// nothing and the send buffer is full) fails with `TimedOut`.
    ///
    /// ```
    /// # use guv::websocket::{Message, WebSocket, WebSocketWSGI};
    /// # type Started = (std::net::SocketAddr, guv::wsgi::ShutdownHandle, std::thread::JoinHandle<std::io::Result<()>>);
    /// # fn start<H: Fn(WebSocket) + Send + Sync + 'static>(app: WebSocketWSGI<H>) -> Started {
    /// #     let bound = guv::wsgi::Server::new(move |req| app.call(req)).bind("127.0.0.1:0").unwrap();
    /// #     let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// #     (addr, stop, std::thread::spawn(move || bound.run()))
    /// # }
    /// # fn client(addr: std::net::SocketAddr, req: http::Request<()>) -> tungstenite::WebSocket<std::net::TcpStream> {
    /// #     let stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     tungstenite::client(req, stream).unwrap().0
    /// # }
    /// # fn request(addr: std::net::SocketAddr, path: &str) -> http::Request<()> {
    /// #     use tungstenite::client::IntoClientRequest;
    /// #     format!("ws://{addr}{path}").into_client_request().unwrap()
    /// # }
    /// let (addr, stop, server) = start(WebSocketWSGI::new(|ws: WebSocket| {
    ///     ws.close().unwrap();
    ///     assert!(ws.wait().is_none(), "the client answered the close");
    /// }));
    /// let mut c = client(addr, request(addr, "/"));
    /// assert!(matches!(c.read().unwrap(), Message::Close(_)));
    /// while c.read().is_ok() {}
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn close(&self) -> io::Result<()> {
        self.start_closing();
        let result = self.ws.borrow_mut().close(None);
        match result {
            Ok(()) => self.flush(),
            Err(e) if is_would_block(&e) => self.flush(),
            Err(tungstenite::Error::AlreadyClosed | tungstenite::Error::ConnectionClosed) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }

    /// Writes out whatever tungstenite has queued, parking while the send
    /// buffer is full.
    fn flush(&self) -> io::Result<()> {
        self.flush_parked().map(drop)
    }

    /// [`flush`](WebSocket::flush); `Ok(true)` if it parked on the way.
    fn flush_parked(&self) -> io::Result<bool> {
        let mut parked = false;
        loop {
            let result = self.ws.borrow_mut().flush();
            match result {
                Ok(()) => return Ok(parked),
                Err(e) if is_would_block(&e) => {
                    self.raw_wait(Interest::WRITABLE)?;
                    parked = true;
                }
                Err(tungstenite::Error::ConnectionClosed) => return Ok(parked),
                Err(e) => return Err(to_io(e)),
            }
        }
    }

    /// Arms the close timeout, unless the closing handshake started already.
    fn start_closing(&self) {
        arm_close_deadline(&self.close_deadline, self.close_timeout);
    }

    /// What the server calls when a graceful shutdown begins: the closing
    /// handshake starts with 1001 (going away), as Python's `websockets`
    /// does, so that a handler parked in [`wait`](WebSocket::wait) sees it
    /// end (`None`) once the client answers, and can return before the
    /// shutdown deadline. Runs on the server's worker greenlet, which must
    /// not park: the frame is written as far as the socket takes it now
    /// (a close frame is a few bytes), the rest goes with the handler's
    /// next `wait` or `send`. Nothing if a close already went either way,
    /// or the handler is gone.
    pub(super) fn going_away_notice(&self) -> Box<dyn FnOnce()> {
        let (ws, deadline, timeout) = (Rc::downgrade(&self.ws), self.close_deadline.clone(), self.close_timeout);
        Box::new(move || {
            let Some(ws) = ws.upgrade() else { return };
            let Ok(mut ws) = ws.try_borrow_mut() else { return };
            if !ws.can_write() {
                return;
            }
            arm_close_deadline(&deadline, timeout);
            let _ = ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "".into() }));
            let _ = ws.flush();
        })
    }

    /// Parks until the socket is ready for `interest`; once the closing
    /// handshake has started, no later than its deadline (then `TimedOut`).
    fn raw_wait(&self, interest: Interest) -> io::Result<()> {
        // Clone the handle out so no borrow is held while parked.
        let up = self.ws.borrow().get_ref().0.clone();
        let Some(deadline) = self.close_deadline.get() else {
            return up.wait_ready(interest);
        };
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("guv::websocket: the closing handshake took longer than {:?}", self.close_timeout),
            )
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        crate::with_timeout(left, || up.wait_ready(interest)).unwrap_or_else(|_| Err(timed_out()))
    }

    /// The request path the connection was opened on.
    ///
    /// ```
    /// # use guv::websocket::{Message, WebSocket, WebSocketWSGI};
    /// # type Started = (std::net::SocketAddr, guv::wsgi::ShutdownHandle, std::thread::JoinHandle<std::io::Result<()>>);
    /// # fn start<H: Fn(WebSocket) + Send + Sync + 'static>(app: WebSocketWSGI<H>) -> Started {
    /// #     let bound = guv::wsgi::Server::new(move |req| app.call(req)).bind("127.0.0.1:0").unwrap();
    /// #     let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// #     (addr, stop, std::thread::spawn(move || bound.run()))
    /// # }
    /// # fn client(addr: std::net::SocketAddr, req: http::Request<()>) -> tungstenite::WebSocket<std::net::TcpStream> {
    /// #     let stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     tungstenite::client(req, stream).unwrap().0
    /// # }
    /// # fn request(addr: std::net::SocketAddr, path: &str) -> http::Request<()> {
    /// #     use tungstenite::client::IntoClientRequest;
    /// #     format!("ws://{addr}{path}").into_client_request().unwrap()
    /// # }
    /// let (addr, stop, server) = start(WebSocketWSGI::new(|ws: WebSocket| ws.send(ws.path().to_string()).unwrap()));
    /// let mut c = client(addr, request(addr, "/rooms/42"));
    /// assert_eq!(c.read().unwrap(), Message::text("/rooms/42"));
    /// drop(c);
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The negotiated subprotocol, if any.
    ///
    /// ```
    /// # use guv::websocket::{Message, WebSocket, WebSocketWSGI};
    /// # type Started = (std::net::SocketAddr, guv::wsgi::ShutdownHandle, std::thread::JoinHandle<std::io::Result<()>>);
    /// # fn start<H: Fn(WebSocket) + Send + Sync + 'static>(app: WebSocketWSGI<H>) -> Started {
    /// #     let bound = guv::wsgi::Server::new(move |req| app.call(req)).bind("127.0.0.1:0").unwrap();
    /// #     let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// #     (addr, stop, std::thread::spawn(move || bound.run()))
    /// # }
    /// # fn client(addr: std::net::SocketAddr, req: http::Request<()>) -> tungstenite::WebSocket<std::net::TcpStream> {
    /// #     let stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     tungstenite::client(req, stream).unwrap().0
    /// # }
    /// # fn request(addr: std::net::SocketAddr, path: &str) -> http::Request<()> {
    /// #     use tungstenite::client::IntoClientRequest;
    /// #     format!("ws://{addr}{path}").into_client_request().unwrap()
    /// # }
    /// let app = WebSocketWSGI::new(|ws: WebSocket| ws.send(format!("{:?}", ws.protocol())).unwrap()).protocols(["chat"]);
    /// let (addr, stop, server) = start(app);
    /// let mut c = client(addr, request(addr, "/")); // offers no subprotocol
    /// assert_eq!(c.read().unwrap(), Message::text("None"));
    /// drop(c);
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The request's `Origin`, if it sent one.
    ///
    /// ```
    /// # use guv::websocket::{Message, WebSocket, WebSocketWSGI};
    /// # type Started = (std::net::SocketAddr, guv::wsgi::ShutdownHandle, std::thread::JoinHandle<std::io::Result<()>>);
    /// # fn start<H: Fn(WebSocket) + Send + Sync + 'static>(app: WebSocketWSGI<H>) -> Started {
    /// #     let bound = guv::wsgi::Server::new(move |req| app.call(req)).bind("127.0.0.1:0").unwrap();
    /// #     let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// #     (addr, stop, std::thread::spawn(move || bound.run()))
    /// # }
    /// # fn client(addr: std::net::SocketAddr, req: http::Request<()>) -> tungstenite::WebSocket<std::net::TcpStream> {
    /// #     let stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     tungstenite::client(req, stream).unwrap().0
    /// # }
    /// # fn request(addr: std::net::SocketAddr, path: &str) -> http::Request<()> {
    /// #     use tungstenite::client::IntoClientRequest;
    /// #     format!("ws://{addr}{path}").into_client_request().unwrap()
    /// # }
    /// let (addr, stop, server) = start(WebSocketWSGI::new(|ws: WebSocket| ws.send(ws.origin().unwrap_or("-").to_string()).unwrap()));
    /// let mut req = request(addr, "/");
    /// req.headers_mut().insert("Origin", "https://example.org".parse().unwrap());
    /// let mut c = client(addr, req);
    /// assert_eq!(c.read().unwrap(), Message::text("https://example.org"));
    /// drop(c);
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }
}

/// The last handle going away ends the conversation properly: a handler
/// that returns without [`close`](WebSocket::close) (the usual way to end
/// a connection) sends a closing frame with 1000 (normal closure), one
/// that unwinds from a panic (or another kill) 1011 (internal error), and
/// one killed because the server's [shutdown
/// timeout](crate::wsgi::Server::shutdown_timeout) ran out 1001 (going
/// away), unless a closing frame already went either way (as it does when
/// a graceful shutdown begins: the server sends 1001 then, see
/// [`WebSocket::wait`]). Only what the socket takes without waiting is
/// written: a drop never parks. Over TLS (a server with
/// [`wrap_stream_with_close`](crate::wsgi::Server::wrap_stream_with_close)),
/// once a closing frame went either way and nothing is left half-written,
/// the session then ends with the stream's goodbye (`close_notify`)
/// rather than a socket closed under it.
impl Drop for WebSocket {
    fn drop(&mut self) {
        let Ok(mut ws) = self.ws.try_borrow_mut() else { return };
        if ws.can_write() {
            let code = if ws.get_ref().0.server_going_away() {
                CloseCode::Away
            } else if crate::hub::panicking() {
                CloseCode::Error
            } else {
                CloseCode::Normal
            };
            let _ = ws.close(Some(CloseFrame { code, reason: "".into() }));
        }
        // A closing frame went either way and nothing is left half-written
        // in tungstenite: the server has said all it will, so a TLS
        // session may end with its `close_notify` rather than be cut.
        if !ws.can_write() && matches!(ws.flush(), Ok(()) | Err(tungstenite::Error::ConnectionClosed)) {
            ws.get_ref().0.protocol_ended();
        }
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").field("path", &self.path).field("protocol", &self.protocol).finish()
    }
}
