//! The server side of the opening handshake: `WebSocketWSGI`, its settings,
//! and the checks that decide whether a request may upgrade.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::{Role, WebSocketConfig};

use super::connection::{Raw, WebSocket};
use crate::wsgi::{Body, Upgrade};

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
