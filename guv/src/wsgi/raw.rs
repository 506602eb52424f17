//! The raw service API: an app that reads the request head in place and
//! writes its answer into buffers the connection reuses, for the hottest
//! paths (the `may_minihttp` style). [`Server::raw`](super::Server::raw)
//! serves one; everything the server does for an `http`-typed app — the
//! limits, framing rules, keep-alive, pipelining, `100 Continue`, the
//! timeouts, the access log, shutdown — it does for a raw one too.

use std::io;
use std::ops::Range;

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};

use super::body::Body;
use super::encode::{self, FieldKind};

/// A raw app: `Fn(&mut RawRequest, &mut RawResponse)`, made by
/// [`Server::raw`](super::Server::raw) (or [`serve_raw`](super::serve_raw)).
///
/// ```
/// use guv::wsgi::{RawRequest, RawResponse, Server};
///
/// let server = Server::raw(|_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
///     res.set_body(b"hi");
/// });
/// # let stop = server.shutdown_handle();
/// # stop.shutdown();
/// # server.run("127.0.0.1:0").unwrap();
/// ```
pub struct Raw<F>(pub(super) F);

/// What [`Server`](super::Server) serves: an `http`-typed app
/// (`Fn(Request<Body>) -> Response<Body>`, from
/// [`Server::new`](super::Server::new)) or a [`Raw`] one (from
/// [`Server::raw`](super::Server::raw)). Sealed: there are no other kinds.
pub trait Service: sealed::Sealed {}

// Sealed: nothing outside guv can name or call the trait, so the
// crate-private types in its signatures are not exposed.
#[allow(private_interfaces, private_bounds)]
pub(crate) mod sealed {
    use super::*;
    use crate::wsgi::handler::{self, Config, Flags};
    use crate::wsgi::transport::Transport;

    /// How a kind of app serves a connection. Each app type gets its own
    /// copy of the request loop, with the app's call inlined into it.
    pub trait Sealed: 'static {
        /// Serves one connection until it closes.
        fn serve_connection<T: Transport>(&self, stream: T, peer: T::Peer, cfg: &Config, flags: &Flags);
    }

    impl<F> Sealed for F
    where
        F: Fn(Request<Body>) -> Response<Body> + 'static,
    {
        fn serve_connection<T: Transport>(&self, stream: T, peer: T::Peer, cfg: &Config, flags: &Flags) {
            handler::serve_http(stream, peer, self, cfg, flags);
        }
    }

    impl<F> Sealed for Raw<F>
    where
        F: Fn(&mut RawRequest<'_>, &mut RawResponse<'_>) + 'static,
    {
        fn serve_connection<T: Transport>(&self, stream: T, peer: T::Peer, cfg: &Config, flags: &Flags) {
            handler::serve_raw(stream, peer, &self.0, cfg, flags);
        }
    }
}

impl<F> Service for F where F: Fn(Request<Body>) -> Response<Body> + 'static {}

impl<F> Service for Raw<F> where F: Fn(&mut RawRequest<'_>, &mut RawResponse<'_>) + 'static {}

/// A request head, copied out of the connection's input buffer (so that
/// reading the body, which refills that buffer, cannot move it), with the
/// positions of its parts. One per connection, reused.
#[derive(Debug)]
pub(crate) struct RawHead {
    pub(super) bytes: Vec<u8>,
    pub(super) method: Range<usize>,
    pub(super) target: Range<usize>,
    pub(super) version: Version,
    /// Each field's name and value.
    pub(super) fields: Vec<(Range<usize>, Range<usize>)>,
    /// The `Host` field's value.
    pub(super) host: Option<Range<usize>>,
}

/// The copy of a head is kept for the next request only up to this size
/// ([`RawHead::release_if_large`]).
const MAX_KEPT_HEAD: usize = 16 * 1024;

impl RawHead {
    /// Drops the copy of a large head once its request is answered, so
    /// that an idle connection does not keep it (nor the `Host` it caches).
    pub(crate) fn release_if_large(&mut self) {
        if self.bytes.capacity() > MAX_KEPT_HEAD {
            *self = RawHead::default();
        }
    }
}

impl Default for RawHead {
    fn default() -> RawHead {
        RawHead {
            bytes: Vec::new(),
            method: 0..0,
            target: 0..0,
            version: Version::HTTP_11,
            fields: Vec::new(),
            host: None,
        }
    }
}

impl RawHead {
    /// A part the parser took as text (method, target, field name): ASCII,
    /// so the conversion cannot fail.
    fn text(&self, span: &Range<usize>) -> &str {
        std::str::from_utf8(&self.bytes[span.clone()]).unwrap_or_default()
    }

    pub(super) fn method(&self) -> &str {
        self.text(&self.method)
    }

    /// The method's bytes (no conversion).
    pub(super) fn method_bytes(&self) -> &[u8] {
        &self.bytes[self.method.clone()]
    }

    pub(super) fn target(&self) -> &str {
        self.text(&self.target)
    }
}

/// A request as a raw app sees it: the head as the client sent it, read in
/// place, and the body as a [`Body`] to read lazily.
///
/// The head has passed the same checks as an `http`-typed app's request
/// (size limits, framing, `Host`, the target's form), except that an
/// origin-form target (`/path?query`) is not parsed into a URI: it is
/// handed over as sent, its characters as the HTTP/1 parser allows them.
/// So a raw app also gets the few targets an `http`-typed app's server
/// refuses with a 400 because `Uri` does: those with `<`, `>` or `` ` ``
/// in the path, or `"`, `<` or `>` in the query.
///
/// ```
/// use std::io::Read;
/// use guv::wsgi::{RawRequest, RawResponse, Server};
///
/// let app = |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
///     assert_eq!(req.method(), "POST");
///     assert_eq!((req.path(), req.query()), ("/echo", Some("x=1")));
///     assert_eq!(req.header("content-type"), Some(&b"text/plain"[..]));
///     let mut text = Vec::new();
///     req.body().read_to_end(&mut text).unwrap();
///     res.set_body(&text);
/// };
/// let bound = Server::raw(app).bind("127.0.0.1:0").unwrap();
/// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
/// let server = std::thread::spawn(move || bound.run());
///
/// use std::io::Write;
/// let mut client = std::net::TcpStream::connect(addr).unwrap();
/// client
///     .write_all(b"POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
///     .unwrap();
/// let mut answer = String::new();
/// client.read_to_string(&mut answer).unwrap();
/// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nhello"));
/// stop.shutdown();
/// server.join().unwrap().unwrap();
/// ```
pub struct RawRequest<'a> {
    pub(super) head: &'a RawHead,
    pub(super) body: &'a mut Body,
}

impl<'a> RawRequest<'a> {
    /// The method, as sent (methods are case-sensitive: `GET`, `POST`, ...).
    pub fn method(&self) -> &'a str {
        self.head.method()
    }

    /// The request target as sent: for most requests the path and query
    /// (`/search?q=guv`); `*` for `OPTIONS *`, `host:port` for `CONNECT`,
    /// a whole URI for a request to a proxy.
    pub fn target(&self) -> &'a str {
        self.head.target()
    }

    /// The target's path, still percent-encoded: what
    /// [`Uri::path`](http::Uri::path) says of it in an `http`-typed app's
    /// request. For most requests the target up to its query (or up to a
    /// `#` fragment, which the path leaves out); for a whole URI, the path
    /// after its authority (`/` if it has none); `*` for `OPTIONS *`, and
    /// empty for `CONNECT`'s `host:port`.
    ///
    /// ```
    /// # use guv::wsgi::{RawRequest, RawResponse};
    /// fn app(req: &mut RawRequest<'_>, res: &mut RawResponse<'_>) {
    ///     // `GET /a/b?c=d`, or `GET http://example.com/a/b?c=d` (to a proxy)
    ///     if req.path() == "/a/b" {
    ///         res.set_body(req.query().unwrap_or("").as_bytes());
    ///     }
    /// }
    /// # guv::wsgi::Server::raw(app);
    /// ```
    pub fn path(&self) -> &'a str {
        let target = self.target();
        let path = target.find(['?', '#']).map_or(target, |end| &target[..end]);
        if path.starts_with('/') { path } else { path_of_other_form(path) }
    }

    /// The target's query (after `?`, up to a `#` fragment), if any, still
    /// percent-encoded: what [`Uri::query`](http::Uri::query) says of it.
    pub fn query(&self) -> Option<&'a str> {
        let target = self.target();
        let query = &target[target.find(['?', '#']).filter(|&at| target.as_bytes()[at] == b'?')? + 1..];
        Some(query.find('#').map_or(query, |end| &query[..end]))
    }

    /// `HTTP/1.1` or `HTTP/1.0`.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The value of the first field named `name` (in any case), without
    /// the whitespace around it.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, value)| value)
    }

    /// Every field, in the order sent, names as the client spelled them.
    ///
    /// ```
    /// # use guv::wsgi::{RawRequest, RawResponse};
    /// fn app(req: &mut RawRequest<'_>, res: &mut RawResponse<'_>) {
    ///     for (name, value) in req.headers() {
    ///         res.body_mut().extend_from_slice(format!("{name}={}\n", value.len()).as_bytes());
    ///     }
    /// }
    /// # guv::wsgi::Server::raw(app);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let head = self.head;
        head.fields.iter().map(move |(name, value)| (head.text(name), &head.bytes[value.clone()]))
    }

    /// The body, read lazily from the connection (empty when the request
    /// has none). What the app leaves unread is drained before the next
    /// request, as for an `http`-typed app.
    pub fn body(&mut self) -> &mut Body {
        self.body
    }
}

/// [`RawRequest::path`] of a target (up to its query) that does not start
/// with `/`: the parser let through only the absolute-form (a scheme, then
/// `://`), `*` and `CONNECT`'s `host:port`.
#[cold]
fn path_of_other_form(target: &str) -> &str {
    match target.split_once("://") {
        // An authority holds no `/`: the path starts at the first one.
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None if target == "*" => target,
        None => "",
    }
}

/// A raw app's answer: a status (200 unless set), header fields and the
/// body's bytes, written into buffers the connection reuses.
///
/// The server adds `Content-Length` (the body's length), `Date` and
/// `Server` (unless set), and `Connection: close` when the connection
/// closes (`Connection: keep-alive` to an HTTP/1.0 client whose connection
/// stays open); a `Content-Length`, `Transfer-Encoding` or `Connection`
/// field the app sets is left out, since the server frames the body and
/// writes that field (a `close` in the app's `Connection` closes the
/// connection). The body is left out of an answer to `HEAD` (which keeps
/// its `Content-Length`) and of 204 and 304 answers (which have none). A
/// 2xx answer to `CONNECT` has no `Content-Length`: its body is sent as the
/// tunnel's data, then the connection closes. A status that is not final
/// (1xx) or not HTTP (600 and up) is an app bug, answered 500.
///
/// ```
/// use guv::wsgi::http::{StatusCode, header};
/// use guv::wsgi::{RawRequest, RawResponse};
///
/// fn app(req: &mut RawRequest<'_>, res: &mut RawResponse<'_>) {
///     if req.path() != "/" {
///         res.set_status(StatusCode::NOT_FOUND);
///         return;
///     }
///     res.header(&header::CONTENT_TYPE, &header::HeaderValue::from_static("text/plain"));
///     res.set_body(b"Hello, World!");
///     assert_eq!(res.status(), StatusCode::OK);
/// }
/// # guv::wsgi::Server::raw(app);
/// ```
pub struct RawResponse<'a> {
    pub(super) status: StatusCode,
    pub(super) fields: &'a mut Vec<u8>,
    pub(super) body: &'a mut Vec<u8>,
    /// A `Connection: close` field was set.
    pub(super) close: bool,
    pub(super) has_date: bool,
    pub(super) has_server: bool,
}

impl<'a> RawResponse<'a> {
    /// An empty 200 answer over the connection's buffers (both emptied).
    pub(super) fn new(fields: &'a mut Vec<u8>, body: &'a mut Vec<u8>) -> RawResponse<'a> {
        fields.clear();
        body.clear();
        RawResponse { status: StatusCode::OK, fields, body, close: false, has_date: false, has_server: false }
    }

    /// Replaces whatever the app wrote with a plain-text answer of
    /// `status`: a failure the app's answer cannot stand for.
    pub(super) fn replace_with_error(&mut self, status: StatusCode) {
        self.fields.clear();
        self.body.clear();
        self.close = false;
        self.has_date = false;
        self.has_server = false;
        self.status = status;
        self.fields.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\n");
        self.body.extend_from_slice(status.canonical_reason().unwrap_or("Error").as_bytes());
    }

    /// The status (200 until set).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets the status.
    pub fn set_status(&mut self, status: StatusCode) -> &mut Self {
        self.status = status;
        self
    }

    /// Adds a header field. `http`'s types guarantee a field that cannot
    /// break the head (no line breaks); the constants
    /// (`header::CONTENT_TYPE`) and `HeaderValue::from_static` cost nothing
    /// at run time. `Connection: close` closes the connection after the
    /// answer.
    #[inline]
    pub fn header(&mut self, name: &HeaderName, value: &HeaderValue) -> &mut Self {
        let (name, value) = (name.as_str().as_bytes(), value.as_bytes());
        match encode::field_kind(name) {
            FieldKind::Framing => return self,
            // The server writes the `Connection` field itself.
            FieldKind::Connection => {
                self.close |= encode::has_token(value, b"close");
                return self;
            }
            FieldKind::Date => self.has_date = true,
            FieldKind::Server => self.has_server = true,
            FieldKind::Other => {}
        }
        encode::write_field(self.fields, name, value);
        self
    }

    /// Replaces the body with `bytes`.
    #[inline]
    pub fn set_body(&mut self, bytes: &[u8]) -> &mut Self {
        self.body.clear();
        self.body.extend_from_slice(bytes);
        self
    }

    /// The body's buffer, to append to (empty until written).
    ///
    /// ```
    /// # use guv::wsgi::{RawRequest, RawResponse};
    /// use std::io::Write;
    /// fn app(req: &mut RawRequest<'_>, res: &mut RawResponse<'_>) {
    ///     let method = req.method();
    ///     write!(res.body_mut(), "you sent a {method}").unwrap();
    /// }
    /// # guv::wsgi::Server::raw(app);
    /// ```
    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        self.body
    }
}

impl io::Write for RawResponse<'_> {
    /// Appends to the body.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.body.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
