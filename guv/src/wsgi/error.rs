//! The protocol error: opaque, with `is_*` predicates and the status code
//! the server answers it with.

use std::fmt;

use http::StatusCode;

/// Why a request could not be read: a malformed or oversized request head,
/// a body the server will not take, or a client too slow to send its head.
///
/// The error is opaque; ask it with the `is_*` predicates, or take the
/// [`status`](Error::status) the server answers it with (always with
/// `Connection: close`).
///
/// ```
/// use guv::wsgi::proto::{Limits, parse_request};
///
/// let err = parse_request(b"GET / HTTP/2.0\r\n\r\n", &Limits::default()).unwrap_err();
/// assert!(err.is_unsupported_version());
/// assert_eq!(err.status(), http::StatusCode::HTTP_VERSION_NOT_SUPPORTED);
/// ```
pub struct Error {
    kind: Kind,
    detail: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// 400: the request does not parse or breaks a framing rule.
    Syntax,
    /// 414: the request line is longer than the limit.
    UriTooLong,
    /// 431: the head is larger than the limit or has too many fields.
    HeadersTooLarge,
    /// 413: the body is larger than the limit.
    BodyTooLarge,
    /// 501: a transfer-coding other than `chunked` before the final
    /// `chunked`.
    UnsupportedCoding,
    /// 505: HTTP/2 preface or a version other than 1.0 and 1.1.
    UnsupportedVersion,
    /// 408 (in the log; the connection is closed without an answer): the
    /// head did not arrive in time.
    Timeout,
}

impl Error {
    pub(crate) fn syntax(detail: &'static str) -> Error {
        Error { kind: Kind::Syntax, detail }
    }
    pub(crate) fn uri_too_long() -> Error {
        Error { kind: Kind::UriTooLong, detail: "the request line is longer than the limit" }
    }
    pub(crate) fn headers_too_large(detail: &'static str) -> Error {
        Error { kind: Kind::HeadersTooLarge, detail }
    }
    pub(crate) fn body_too_large() -> Error {
        Error { kind: Kind::BodyTooLarge, detail: "the request body is larger than the limit" }
    }
    pub(crate) fn unsupported_coding() -> Error {
        Error { kind: Kind::UnsupportedCoding, detail: "only the chunked transfer-coding is supported" }
    }
    pub(crate) fn unsupported_version() -> Error {
        Error { kind: Kind::UnsupportedVersion, detail: "only HTTP/1.0 and HTTP/1.1 are served" }
    }
    pub(crate) fn timeout() -> Error {
        Error { kind: Kind::Timeout, detail: "the request head did not arrive in time" }
    }

    /// The request is malformed (400 Bad Request).
    ///
    /// ```
    /// use guv::wsgi::proto::{Limits, parse_request};
    /// let err = parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &Limits::default()).unwrap_err();
    /// assert!(err.is_syntax());
    /// assert_eq!(err.status(), 400);
    /// ```
    pub fn is_syntax(&self) -> bool {
        self.kind == Kind::Syntax
    }

    /// The request line is too long (414 URI Too Long).
    ///
    /// ```
    /// use guv::wsgi::proto::{Limits, parse_request};
    /// let limits = Limits { max_request_line: 16, ..Limits::default() };
    /// let err = parse_request(b"GET /a/rather/long/path HTTP/1.1\r\n\r\n", &limits).unwrap_err();
    /// assert!(err.is_uri_too_long());
    /// ```
    pub fn is_uri_too_long(&self) -> bool {
        self.kind == Kind::UriTooLong
    }

    /// The head is too large or has too many fields (431 Request Header
    /// Fields Too Large).
    ///
    /// ```
    /// use guv::wsgi::proto::{Limits, parse_request};
    /// let limits = Limits { max_headers: 1, ..Limits::default() };
    /// let err = parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n", &limits).unwrap_err();
    /// assert!(err.is_headers_too_large());
    /// ```
    pub fn is_headers_too_large(&self) -> bool {
        self.kind == Kind::HeadersTooLarge
    }

    /// The body is larger than the configured maximum (413 Content Too
    /// Large).
    ///
    /// ```
    /// use guv::wsgi::{Body, Server};
    /// use std::io::{Read, Write};
    /// let bound = Server::new(|_req: http::Request<Body>| http::Response::new(Body::empty()))
    ///     .max_body_size(1)
    ///     .bind("127.0.0.1:0")
    ///     .unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab").unwrap();
    /// let mut reply = String::new();
    /// s.read_to_string(&mut reply).unwrap();
    /// assert!(reply.starts_with("HTTP/1.1 413")); // what is_body_too_large() maps to
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn is_body_too_large(&self) -> bool {
        self.kind == Kind::BodyTooLarge
    }

    /// The body uses a transfer-coding other than `chunked` before its
    /// final `chunked` (501 Not Implemented).
    ///
    /// ```
    /// use guv::wsgi::proto::{Limits, parse_request};
    /// let head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    /// let err = parse_request(head, &Limits::default()).unwrap_err();
    /// assert!(err.is_unsupported_coding());
    /// assert_eq!(err.status(), 501);
    /// ```
    pub fn is_unsupported_coding(&self) -> bool {
        self.kind == Kind::UnsupportedCoding
    }

    /// HTTP/2 or a version other than HTTP/1.0 and 1.1 (505 HTTP Version
    /// Not Supported).
    ///
    /// ```
    /// use guv::wsgi::proto::{Limits, parse_request};
    /// // The HTTP/2 connection preface.
    /// let err = parse_request(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &Limits::default()).unwrap_err();
    /// assert!(err.is_unsupported_version());
    /// ```
    pub fn is_unsupported_version(&self) -> bool {
        self.kind == Kind::UnsupportedVersion
    }

    /// The head did not arrive within the header timeout (the server then
    /// closes the connection without an answer).
    ///
    /// ```
    /// // Only the server's sweeper raises it; parsing never does.
    /// use guv::wsgi::proto::{Limits, Parse, parse_request};
    /// assert!(matches!(parse_request(b"GET / HT", &Limits::default()), Ok(Parse::Partial)));
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
    }

    /// The status the server answers this error with.
    ///
    /// ```
    /// use guv::wsgi::proto::{Limits, parse_request};
    /// let err = parse_request(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &Limits::default()).unwrap_err();
    /// assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::Syntax => StatusCode::BAD_REQUEST,
            Kind::UriTooLong => StatusCode::URI_TOO_LONG,
            Kind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Kind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedCoding => StatusCode::NOT_IMPLEMENTED,
            Kind::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Kind::Timeout => StatusCode::REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guv::wsgi: {} ({})", self.detail, self.status())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error").field("kind", &self.kind).field("detail", &self.detail).finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}
