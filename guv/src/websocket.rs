//! WebSocket on top of [`crate::wsgi`]: Python guv's `WebSocketWSGI`.
//!
//! [`WebSocketWSGI::new`] turns a handler `Fn(WebSocket)` into an app. The
//! handler runs on the connection's greenlet once the upgrade handshake is
//! done; [`WebSocket::wait`] parks until a message arrives, and
//! [`WebSocket::send`] may be called from any greenlet of the same hub —
//! a chat server sends to every other client from the one that received.
//! Framing, masking, fragmentation, ping/pong and the closing handshake are
//! the `tungstenite` crate's; guv only moves bytes and parks.
//!
//! ```no_run
//! use guv::websocket::{Message, WebSocket, WebSocketWSGI};
//!
//! let echo = WebSocketWSGI::new(|ws: WebSocket| {
//!     while let Some(msg) = ws.wait() {
//!         if ws.send(msg).is_err() {
//!             break;
//!         }
//!     }
//! });
//! guv::wsgi::serve(guv::listen("127.0.0.1:8002").unwrap(), move |req| echo.call(req)).unwrap();
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::Interest;
use crate::wsgi::{Body, Upgrade, Upgraded};

/// A WebSocket message (from `tungstenite`).
pub use tungstenite::Message;

/// Turns a handler of WebSocket connections into a [`crate::wsgi`] app:
/// it answers the upgrade handshake (400 to a request that is not one —
/// an HTTP/1.1 `GET` whose `Upgrade` lists `websocket` and whose
/// `Connection` lists `upgrade` (both lists compared case-insensitively), and
/// exactly one key, the base64 of 16 bytes — or that carries a body, 426
/// to a WebSocket version other than 13, 403 to a refused `Origin`),
/// negotiates a subprotocol, then runs the handler with the connection.
///
/// ```
/// use guv::websocket::WebSocketWSGI;
/// use guv::wsgi::{Body, http::Request};
///
/// let app = WebSocketWSGI::new(|_ws| {}).protocols(["chat"]).allowed_origins(["http://localhost:8003"]);
/// // A plain GET is not an upgrade.
/// let response = app.call(Request::new(Body::empty()));
/// assert_eq!(response.status(), 400);
/// ```
pub struct WebSocketWSGI<H> {
    handler: H,
    protocols: Vec<String>,
    origins: Option<Vec<String>>,
    close_timeout: Duration,
    limits: WebSocketConfig,
}

/// How long a closing handshake may take by default: see
/// [`WebSocketWSGI::close_timeout`].
///
/// ```
/// use guv::websocket::{DEFAULT_CLOSE_TIMEOUT, WebSocketWSGI};
/// assert_eq!(DEFAULT_CLOSE_TIMEOUT, std::time::Duration::from_secs(10));
/// let app = WebSocketWSGI::new(|_ws| {}).close_timeout(DEFAULT_CLOSE_TIMEOUT / 2);
/// assert!(format!("{app:?}").contains("close_timeout: 5s"));
/// ```
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

impl<H> WebSocketWSGI<H>
where
    H: Fn(WebSocket),
{
    /// An app that hands each WebSocket connection to `handler`.
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
    /// // An echo server, and a client talking to it.
    /// let (addr, stop, server) = start(WebSocketWSGI::new(|ws: WebSocket| {
    ///     while let Some(msg) = ws.wait() {
    ///         ws.send(msg).unwrap();
    ///     }
    /// }));
    /// let mut c = client(addr, request(addr, "/echo"));
    /// c.send(Message::text("ping")).unwrap();
    /// assert_eq!(c.read().unwrap(), Message::text("ping"));
    /// c.close(None).unwrap();
    /// while c.read().is_ok() {} // the closing handshake
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn new(handler: H) -> WebSocketWSGI<H> {
        WebSocketWSGI {
            handler,
            protocols: Vec::new(),
            origins: None,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            limits: WebSocketConfig::default(),
        }
    }

    /// The subprotocols this server speaks, in order of preference: the
    /// first one the client also offers is chosen (see
    /// [`WebSocket::protocol`]); with none in common, none is chosen.
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
    /// let app = WebSocketWSGI::new(|ws: WebSocket| ws.send(ws.protocol().unwrap_or("none").to_string()).unwrap())
    ///     .protocols(["v2.chat", "v1.chat"]);
    /// let (addr, stop, server) = start(app);
    /// let mut req = request(addr, "/");
    /// req.headers_mut().insert("Sec-WebSocket-Protocol", "v1.chat, v2.chat".parse().unwrap());
    /// let mut c = client(addr, req);
    /// assert_eq!(c.read().unwrap(), Message::text("v2.chat"), "the server's preference wins");
    /// drop(c);
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Accepts only requests whose `Origin` is one of these, compared
    /// ASCII-case-insensitively (others get 403). By default any origin, or
    /// none, is accepted.
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
    /// use guv::wsgi::{Body, http::Request};
    /// let app = WebSocketWSGI::new(|_ws: WebSocket| {}).allowed_origins(["https://example.org"]);
    /// let req = Request::get("/")
    ///     .header("Upgrade", "websocket")
    ///     .header("Connection", "Upgrade")
    ///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("Sec-WebSocket-Version", "13")
    ///     .header("Origin", "https://elsewhere.example")
    ///     .body(Body::empty())
    ///     .unwrap();
    /// assert_eq!(app.call(req).status(), 403);
    /// ```
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// How long a closing handshake may take once it has started
    /// ([`DEFAULT_CLOSE_TIMEOUT`], 10 s, by default, as in Python's
    /// `websockets`). After the server's [`WebSocket::close`], a
    /// [`WebSocket::wait`] returns `None` at the latest this long after the
    /// close, whether or not the client answered with its own closing frame;
    /// after a client's close, the server's answer gets as long to go out.
    /// The connection ends when the handler returns. `Duration::MAX` waits
    /// for as long as it takes (then only the server's shutdown deadline
    /// ends it), `Duration::ZERO` does not wait for an answer at all.
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
    /// use std::time::Duration;
    /// let (done, finished) = std::sync::mpsc::channel();
    /// let app = WebSocketWSGI::new(move |ws: WebSocket| {
    ///     ws.close().unwrap();
    ///     // The client below never answers: the wait gives up after 50 ms.
    ///     assert!(ws.wait().is_none());
    ///     done.send(()).unwrap();
    /// })
    /// .close_timeout(Duration::from_millis(50));
    /// let (addr, stop, server) = start(app);
    /// let c = client(addr, request(addr, "/")); // connects, then reads nothing
    /// finished.recv_timeout(Duration::from_secs(30)).expect("the handler is done");
    /// drop(c);
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// The largest message a client may send, in bytes (`None`: no limit);
    /// by default 64 MiB. A longer one fails the connection: the client
    /// gets a closing frame with 1009 (message too big) and
    /// [`WebSocket::wait`] returns `None`. Python's `websockets` calls this
    /// `max_size` (1 MiB there).
    ///
    /// ```
    /// use guv::websocket::WebSocketWSGI;
    /// let app = WebSocketWSGI::new(|_ws| {}).max_message_size(Some(1 << 20)).max_frame_size(Some(64 << 10));
    /// assert!(format!("{app:?}").contains("max_message_size: Some(1048576)"));
    /// ```
    pub fn max_message_size(mut self, limit: Option<usize>) -> Self {
        self.limits = self.limits.max_message_size(limit);
        self
    }

    /// The largest single frame a client may send, in bytes (`None`: no
    /// limit); by default 16 MiB. A frame whose header announces more fails
    /// the connection with 1009 before its payload is read. The message
    /// limit bounds frames too (a frame over it is refused from its header
    /// alike); with both limits `None`, a client's frame header makes the
    /// server reserve whatever length it announces, and an allocation
    /// failure aborts the process, so keep one of them set for untrusted
    /// clients.
    ///
    /// ```
    /// use guv::websocket::WebSocketWSGI;
    /// let app = WebSocketWSGI::new(|_ws| {}).max_frame_size(None);
    /// assert!(format!("{app:?}").contains("max_frame_size: None"));
    /// ```
    pub fn max_frame_size(mut self, limit: Option<usize>) -> Self {
        self.limits = self.limits.max_frame_size(limit);
        self
    }

    /// Handles one request: the app function.
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
    /// // A server can route: WebSocket on /ws, plain HTTP elsewhere.
    /// use guv::wsgi::{Body, http::{Request, Response}};
    /// let ws = WebSocketWSGI::new(|ws: WebSocket| ws.send("hello").unwrap());
    /// let app = move |req: Request<Body>| {
    ///     if req.uri().path() == "/ws" { ws.call(req) } else { Response::new(Body::from("a page")) }
    /// };
    /// let plain = app(Request::new(Body::empty()));
    /// assert_eq!(plain.into_body().into_vec().unwrap(), b"a page");
    /// ```
    pub fn call(&self, req: Request<Body>) -> Response<Body> {
        let headers = req.headers();
        let upgrade =
            lists_token(headers, header::UPGRADE, "websocket") && lists_token(headers, header::CONNECTION, "upgrade");
        let key = headers.get(header::SEC_WEBSOCKET_KEY);
        let http11 = req.version() >= Version::HTTP_11;
        let (Some(key), true, true, true) = (key, upgrade, req.method() == Method::GET, http11) else {
            return refuse(StatusCode::BAD_REQUEST, "a WebSocket upgrade request was expected");
        };
        // RFC 6455 4.1: one key, the base64 of 16 bytes; the server must
        // refuse a handshake that breaks it (4.2.1).
        if headers.get_all(header::SEC_WEBSOCKET_KEY).iter().count() != 1 || !is_valid_key(key.as_bytes()) {
            return refuse(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key must be one base64-encoded 16-byte value");
        }
        if req.body().len() != Some(0) {
            // Its bytes would otherwise be read as WebSocket frames.
            return refuse(StatusCode::BAD_REQUEST, "a WebSocket handshake request has no body");
        }
        if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
            let mut r = refuse(StatusCode::UPGRADE_REQUIRED, "only WebSocket version 13 is supported");
            r.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            return r;
        }
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(allowed) = &self.origins
            && !origin.as_ref().is_some_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
        {
            return refuse(StatusCode::FORBIDDEN, "this Origin may not open a WebSocket here");
        }
        let protocol = choose_protocol(headers, &self.protocols);
        let Some(up) = req.extensions().get::<Upgrade>() else {
            return refuse(StatusCode::BAD_REQUEST, "the request did not ask to upgrade the connection");
        };
        let mut conn = match up.take() {
            Ok(conn) => conn,
            Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        let mut reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
            derive_accept_key(key.as_bytes())
        );
        if let Some(p) = &protocol {
            reply.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
        }
        reply.push_str("\r\n");
        if conn.write_all(reply.as_bytes()).is_ok() {
            // tungstenite reserves a frame's announced length before reading
            // it, and a failed allocation aborts the process: a frame never
            // gets past the message limit either, so that bounds it too.
            let frame_limit = match (self.limits.max_frame_size, self.limits.max_message_size) {
                (Some(frame), Some(message)) => Some(frame.min(message)),
                (frame, message) => frame.or(message),
            };
            let limits = self.limits.max_frame_size(frame_limit);
            let ws = tungstenite::WebSocket::from_raw_socket(Raw(conn.clone()), Role::Server, Some(limits));
            let path = req.uri().path().to_owned();
            let ws = WebSocket {
                ws: Rc::new(RefCell::new(ws)),
                ended: Cell::new(false),
                close_timeout: self.close_timeout,
                close_deadline: Rc::new(Cell::new(None)),
                path,
                protocol,
                origin,
            };
            conn.on_server_shutdown(ws.going_away_notice());
            drop(conn);
            (self.handler)(ws);
        }
        // The server ignores this: the connection was taken over.
        Response::new(Body::empty())
    }
}

impl<H> fmt::Debug for WebSocketWSGI<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketWSGI")
            .field("protocols", &self.protocols)
            .field("origins", &self.origins)
            .field("close_timeout", &self.close_timeout)
            .field("max_message_size", &self.limits.max_message_size)
            .field("max_frame_size", &self.limits.max_frame_size)
            .finish()
    }
}

/// Whether any `name` field of `headers` lists `token`: the fields are
/// comma-separated lists (RFC 9110 5.6.1), so `Upgrade: foo, WebSocket`
/// offers `websocket`, compared ASCII-case-insensitively as protocol names
/// (RFC 9110 7.8) and connection options (7.6.1) are.
fn lists_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

fn refuse(status: StatusCode, why: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("{why}\n")));
    *r.status_mut() = status;
    r
}

/// Whether `key` is the base64 encoding of 16 bytes: 22 characters of the
/// base64 alphabet, the last carrying only 2 bits of data, then `==`.
fn is_valid_key(key: &[u8]) -> bool {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22].iter().all(|&c| value(c).is_some())
        && value(key[21]).is_some_and(|v| v & 0x0f == 0)
}

fn choose_protocol(headers: &HeaderMap, ours: &[String]) -> Option<String> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(str::trim))
        .collect();
    ours.iter().find(|p| offered.contains(&p.as_str())).cloned()
}

/// The taken-over connection as tungstenite sees it: non-blocking, so
/// that no borrow of the socket is held while a greenlet parks.
struct Raw(Upgraded);

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Raw {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
    ws: Rc<RefCell<tungstenite::WebSocket<Raw>>>,
    /// `wait` returned `None`: it always will.
    ended: Cell<bool>,
    /// [`WebSocketWSGI::close_timeout`].
    close_timeout: Duration,
    /// Set when the closing handshake starts: every park after it ends by
    /// then (`None`: not closing, or no bound).
    close_deadline: Rc<Cell<Option<Instant>>>,
    path: String,
    protocol: Option<String>,
    origin: Option<String>,
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
    /// A ping or pong over 125 bytes, or a close reason over 123, is
    /// refused (`InvalidInput`) and nothing is sent (RFC 6455 5.5).
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
    /// not (messages the client sent before its answer still arrive first).
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
    fn going_away_notice(&self) -> Box<dyn FnOnce()> {
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
/// written: a drop never parks.
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
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").field("path", &self.path).field("protocol", &self.protocol).finish()
    }
}
