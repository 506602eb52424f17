//! The request-head parser: bytes in, an `http::Request<()>` and the body's
//! framing out. No I/O: the caller feeds whatever it has read so far and
//! gets [`Parse::Partial`] until a whole head is there. The request line
//! and the size limits are here; what the fields say about framing and the
//! connection is in `framing.rs`, the per-connection cache of parsed
//! fields in `cache.rs`, and the word-at-a-time byte comparisons both use
//! in `compare.rs`.

mod cache;
mod compare;
#[cfg(test)]
mod differential;
mod framing;

use std::mem::MaybeUninit;

use http::header::HeaderMap;
use http::{Method, Request, Uri, Version};

use super::Error;
use super::raw::RawHead;
use cache::parse_field;
use compare::same_bytes;
use framing::{Framing, HOST};

pub(crate) use cache::FieldCache;

/// The most header fields any configuration may allow; the parser keeps
/// this many slots on the stack.
pub const MAX_HEADERS_CAP: usize = 256;

/// Size limits on a request head.
///
/// ```
/// let limits = guv::wsgi::proto::Limits::default();
/// assert_eq!(limits.max_request_line, 8 * 1024);
/// assert_eq!(limits.max_head, 64 * 1024);
/// assert_eq!(limits.max_headers, 100);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest request line (method, target, version), in bytes; longer
    /// gives 414.
    pub max_request_line: usize,
    /// The largest head (request line and all fields), in bytes; larger
    /// gives 431.
    pub max_head: usize,
    /// The most header fields (at most [`MAX_HEADERS_CAP`]); more gives 431.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_request_line: 8 * 1024, max_head: 64 * 1024, max_headers: 100 }
    }
}

/// The result of feeding bytes to a parser.
///
/// ```
/// use guv::wsgi::proto::{Limits, Parse, parse_request};
///
/// // Two pipelined requests: the first parse uses only the first head.
/// let buf = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
/// match parse_request(buf, &Limits::default()).unwrap() {
///     Parse::Complete(head, used) => {
///         assert_eq!(head.request().uri(), "/a");
///         assert!(buf[used..].starts_with(b"GET /b"));
///     }
///     Parse::Partial => panic!("a whole head was there"),
/// }
/// ```
#[derive(Debug)]
pub enum Parse<T> {
    /// A whole `T`, and how many bytes of the input it used.
    Complete(T, usize),
    /// More bytes are needed.
    Partial,
}

/// How the request body is delimited.
///
/// ```
/// use guv::wsgi::proto::{BodyLength, Limits, Parse, parse_request};
///
/// let framing = |head: &[u8]| match parse_request(head, &Limits::default()) {
///     Ok(Parse::Complete(head, _)) => head.body_length(),
///     other => panic!("{other:?}"),
/// };
/// assert_eq!(framing(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), BodyLength::Known(0));
/// assert_eq!(framing(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n"), BodyLength::Known(12));
/// assert_eq!(framing(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), BodyLength::Chunked);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    /// Exactly this many bytes follow (`Content-Length`; 0 when the request
    /// has neither `Content-Length` nor `Transfer-Encoding`).
    Known(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head: the request (with an empty body) and what the
/// connection needs to know about it.
///
/// ```
/// use guv::wsgi::proto::{Limits, Parse, parse_request};
///
/// let head = |buf: &[u8]| match parse_request(buf, &Limits::default()) {
///     Ok(Parse::Complete(head, _)) => head,
///     other => panic!("{other:?}"),
/// };
/// let h = head(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
/// assert!(h.keep_alive() && h.expects_continue());
/// assert_eq!(h.request().method(), "PUT");
/// let request = h.into_request();
/// assert_eq!(request.headers()["host"], "x");
///
/// // HTTP/1.0 closes unless the client asks to keep the connection.
/// assert!(!head(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
/// assert!(head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
/// ```
#[derive(Debug)]
pub struct RequestHead {
    request: Request<()>,
    info: HeadInfo,
}

/// What a parsed head tells the connection besides the request itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadInfo {
    pub(crate) body: BodyLength,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) upgrade: bool,
}

impl RequestHead {
    /// The request, without its body.
    pub fn request(&self) -> &Request<()> {
        &self.request
    }

    /// Takes the request out.
    pub fn into_request(self) -> Request<()> {
        self.request
    }

    /// How the body is delimited.
    pub fn body_length(&self) -> BodyLength {
        self.info.body
    }

    /// Whether the client wants the connection kept open after this
    /// request: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        self.info.keep_alive
    }

    /// Whether an HTTP/1.1 client sent `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.info.expect_continue
    }
}

/// Parses one request head from the start of `buf`.
///
/// Returns [`Parse::Partial`] while the head is incomplete and within the
/// limits, and an [`Error`] for anything the server must refuse: bad syntax
/// (400), a request line over the limit (414), a head too large or with too
/// many fields (431), a transfer-coding other than `chunked` before the
/// final `chunked` (501), HTTP/2 or an unknown version (505). Framing rules enforced here (RFC 9112 §3.2,
/// §6.1, §6.3), each answered 400 unless said otherwise:
///
/// - an HTTP/1.1 request needs exactly one `Host` field, and no request may
///   carry two; its value must be a `host[:port]`;
/// - the request target has a form its method takes (§3.2): `host:port`
///   with `CONNECT` and only there, `*` with `OPTIONS` only;
/// - `Content-Length` must be one decimal number; repeated fields must
///   agree;
/// - `Transfer-Encoding` cannot come with `Content-Length` or in HTTP/1.0,
///   and must end in a single `chunked` (otherwise the body's length is
///   unknown); codings before that final `chunked` are not implemented
///   (501).
///
/// ```
/// use guv::wsgi::proto::{BodyLength, Limits, Parse, parse_request};
///
/// let limits = Limits::default();
/// assert!(matches!(parse_request(b"GET / HTTP/1.1\r\nHo", &limits), Ok(Parse::Partial)));
///
/// let buf = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
/// let Ok(Parse::Complete(head, used)) = parse_request(buf, &limits) else { panic!() };
/// assert_eq!(used, buf.len() - 5);
/// assert_eq!(head.request().uri().path(), "/echo");
/// assert_eq!(head.body_length(), BodyLength::Known(5));
/// assert!(head.keep_alive());
/// ```
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parse<RequestHead>, Error> {
    let mut request = Request::new(());
    Ok(match parse_request_into(buf, limits, &mut HeaderMap::new(), None, &mut request)? {
        Parse::Complete(info, used) => Parse::Complete(RequestHead { request, info }, used),
        Parse::Partial => Parse::Partial,
    })
}

/// [`parse_request`] filling the map in `headers` (cleared first; a map
/// recycled from an earlier message keeps its allocation), which the
/// request takes, leaving its own empty map in exchange. With a `cache`,
/// fields that repeat the last request's are reused from it.
///
/// The head goes into `request`, which must be as `Request::new` made it
/// (only what differs from that is set): the server parses straight into
/// the request its app gets, so the request is never moved on the way
/// (each move of a request copies a couple of hundred bytes). `request`
/// is left as it was unless the result is [`Parse::Complete`].
pub(crate) fn parse_request_into<B>(
    buf: &[u8],
    limits: &Limits,
    headers: &mut HeaderMap,
    mut cache: Option<&mut FieldCache>,
    request: &mut Request<B>,
) -> Result<Parse<HeadInfo>, Error> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let line = match parse_line(buf, limits, &mut slots)? {
        Parse::Complete(line, _) => line,
        Parse::Partial => return Ok(Parse::Partial),
    };
    // `Request::new` starts with `GET`, the commonest method.
    let method = match line.method {
        "GET" => None,
        other => Some(Method::from_bytes(other.as_bytes()).map_err(|_| Error::syntax("invalid method"))?),
    };
    // `Request::new` starts with the target `/`, the commonest one.
    let uri = if line.target == "/" { None } else { Some(parse_uri(line.target.as_bytes())?) };
    check_target_form(method.as_ref(), uri.as_ref())?;

    // A recycled map comes emptied; `clear` would reset its whole table again.
    if !headers.is_empty() {
        headers.clear();
    }
    headers.reserve(line.fields.len());
    let checked = (|| {
        let mut framing = Framing::default();
        for (i, h) in line.fields.iter().enumerate() {
            let (name, value, reused) = match cache.as_deref_mut() {
                Some(cache) => cache.field(i, h.name.as_bytes(), h.value)?,
                None => parse_field(h.name.as_bytes(), h.value).map(|(n, v)| (n, v, false))?,
            };
            framing.observe(h.name.as_bytes(), h.value, reused)?;
            headers.append(name, value);
        }
        framing.conclude(line.version)
    })();
    let info = match checked {
        Ok(info) => info,
        Err(e) => {
            if let Some(cache) = cache {
                cache.fields.clear();
            }
            return Err(e);
        }
    };
    if let Some(method) = method {
        *request.method_mut() = method;
    }
    if let Some(uri) = uri {
        *request.uri_mut() = uri;
    }
    *request.version_mut() = line.version;
    std::mem::swap(request.headers_mut(), headers);
    Ok(Parse::Complete(info, line.used))
}

/// A request head as the parser split it, within the limits but not yet
/// checked for framing.
struct Line<'b, 'h> {
    method: &'b str,
    target: &'b str,
    version: Version,
    fields: &'h [httparse::Header<'b>],
    used: usize,
}

/// Splits the head at the start of `buf` into its request line and fields
/// (at most as many as `slots`, capped by the limit), and applies the size
/// limits and the version check.
#[inline(always)]
fn parse_line<'b, 'h>(
    buf: &'b [u8],
    limits: &Limits,
    slots: &'h mut [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS_CAP],
) -> Result<Parse<Line<'b, 'h>>, Error> {
    let slots = &mut slots[..limits.max_headers.clamp(1, MAX_HEADERS_CAP)];
    let mut req = httparse::Request::new(&mut []);
    let used = match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits)?;
            return Ok(Parse::Partial);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::headers_too_large("the request has more header fields than the limit"));
        }
        Err(httparse::Error::Version) => return Err(Error::unsupported_version()),
        Err(_) => {
            check_partial(buf, limits)?;
            return Err(Error::syntax("the request head does not parse"));
        }
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(Error::syntax("the request line is incomplete"));
    };
    if method.len() + target.len() + 10 > limits.max_request_line {
        return Err(Error::uri_too_long());
    }
    if used > limits.max_head {
        return Err(Error::headers_too_large("the request head is larger than the limit"));
    }
    let version = if minor == 1 { Version::HTTP_11 } else { Version::HTTP_10 };
    Ok(Parse::Complete(Line { method, target, version, fields: req.headers, used }, used))
}

/// [`parse_request_into`] for the raw service API: the head is checked
/// as strictly (framing, `Host`, the target's form) but not turned into
/// `http` types; its bytes are copied into `head`, and the positions of
/// its parts recorded there.
pub(crate) fn parse_raw_into(buf: &[u8], limits: &Limits, head: &mut RawHead) -> Result<Parse<HeadInfo>, Error> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let line = match parse_line(buf, limits, &mut slots)? {
        Parse::Complete(line, _) => line,
        Parse::Partial => return Ok(Parse::Partial),
    };
    // Origin-form targets of methods other than CONNECT, nearly every
    // request, take no parsing: the parser has checked their characters.
    if !line.target.starts_with('/') || line.method == "CONNECT" {
        let method = Method::from_bytes(line.method.as_bytes()).map_err(|_| Error::syntax("invalid method"))?;
        let uri = if line.target == "/" { None } else { Some(parse_uri(line.target.as_bytes())?) };
        check_target_form(Some(&method), uri.as_ref())?;
    }
    // A `Host` value the connection's last head had was accepted then:
    // the same bytes need no check again (most clients send the same one
    // every time).
    let last_host = head.host.clone().map(|span| &head.bytes[span]);
    let mut framing = Framing::default();
    let mut host = None;
    for (i, h) in line.fields.iter().enumerate() {
        framing.observe(h.name.as_bytes(), h.value, last_host.is_some_and(|last| same_bytes(last, h.value)))?;
        if framing.has(HOST) && host.is_none() {
            host = Some(i);
        }
    }
    let info = framing.conclude(line.version)?;
    head.fill(buf, &line, host);
    Ok(Parse::Complete(info, line.used))
}

impl RawHead {
    /// Copies the head `line` was parsed from (the start of `buf`) and
    /// records where its parts are.
    fn fill(&mut self, buf: &[u8], line: &Line<'_, '_>, host: Option<usize>) {
        let base = buf.as_ptr() as usize;
        let span = |part: &[u8]| {
            let start = part.as_ptr() as usize - base;
            start..start + part.len()
        };
        self.bytes.clear();
        self.bytes.extend_from_slice(&buf[..line.used]);
        self.method = span(line.method.as_bytes());
        self.target = span(line.target.as_bytes());
        self.version = line.version;
        self.fields.clear();
        self.fields.extend(line.fields.iter().map(|h| (span(h.name.as_bytes()), span(h.value))));
        self.host = host.map(|i| self.fields[i].1.clone());
    }
}

/// Limits that apply before a head is complete.
pub(crate) fn check_partial(buf: &[u8], limits: &Limits) -> Result<(), Error> {
    if buf.len() > limits.max_request_line && !buf[..=limits.max_request_line].contains(&b'\n') {
        return Err(Error::uri_too_long());
    }
    if buf.len() > limits.max_head {
        return Err(Error::headers_too_large("the request head is larger than the limit"));
    }
    Ok(())
}

fn parse_uri(path: &[u8]) -> Result<Uri, Error> {
    Uri::try_from(path).map_err(|_| Error::syntax("invalid request target"))
}

/// Whether the request target has a form its method takes (RFC 9112
/// §3.2): the authority-form (`host:port`) with CONNECT and only there,
/// the asterisk-form with OPTIONS only. `None` stands for `GET` and for
/// the target `/`, which need no look.
#[inline]
fn check_target_form(method: Option<&Method>, uri: Option<&Uri>) -> Result<(), Error> {
    let connect = method == Some(&Method::CONNECT);
    let Some(uri) = uri else {
        return if connect { Err(Error::syntax("CONNECT needs a host:port target")) } else { Ok(()) };
    };
    if uri.scheme().is_some() || uri.path().starts_with('/') {
        // Absolute-form or origin-form.
        return if connect { Err(Error::syntax("CONNECT needs a host:port target")) } else { Ok(()) };
    }
    if uri.authority().is_some() {
        return if connect { Ok(()) } else { Err(Error::syntax("a host:port target is for CONNECT only")) };
    }
    if uri.path() != "*" || uri.query().is_some() {
        return Err(Error::syntax("invalid request target"));
    }
    if method == Some(&Method::OPTIONS) { Ok(()) } else { Err(Error::syntax("a `*` target is for OPTIONS only")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse_request` with the default limits (the framing tests use it too).
    pub(super) fn parse(buf: &[u8]) -> Result<Parse<RequestHead>, Error> {
        parse_request(buf, &Limits::default())
    }

    #[test]
    fn methods_and_targets_defaulted_or_parsed() {
        let request = |b: &[u8]| match parse(b) {
            Ok(Parse::Complete(h, _)) => h.into_request(),
            other => panic!("{other:?}"),
        };
        let r = request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.method(), r.uri().path(), r.uri().query()), (&Method::GET, "/", None));
        let r = request(b"get /x?y HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.method().as_str(), r.uri().path(), r.uri().query()), ("get", "/x", Some("y")));
        assert_eq!(request(b"POST / HTTP/1.0\r\n\r\n").method(), Method::POST);
    }
    #[test]
    fn size_limits() {
        let limits = Limits { max_request_line: 32, max_head: 64, max_headers: 2 };
        let long = [b'a'; 40];
        assert!(parse_request(&[b"GET /".as_slice(), &long].concat(), &limits).unwrap_err().is_uri_too_long());
        let many = b"GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: d\r\n\r\n";
        assert!(parse_request(many, &limits).unwrap_err().is_headers_too_large());
        let big = [b"GET / HTTP/1.1\r\nHost: ".as_slice(), &[b'x'; 60]].concat();
        assert!(parse_request(&big, &limits).unwrap_err().is_headers_too_large());
    }
}
