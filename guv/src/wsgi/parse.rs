//! The request-head parser: bytes in, an `http::Request<()>` and the body's
//! framing out. No I/O: the caller feeds whatever it has read so far and
//! gets [`Parse::Partial`] until a whole head is there.

use std::mem::MaybeUninit;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};

use super::Error;
use super::raw::RawHead;

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

/// The most header fields a [`FieldCache`] remembers.
const CACHED_FIELDS: usize = 32;

/// The header fields of the last request on a connection, by position.
///
/// A client on a keep-alive connection tends to send the same fields
/// (`Host`, `User-Agent`, `Accept`, ...) in the same order on every
/// request. A field that repeats the one at its position last time reuses
/// its parsed name and value: a reference-count increment instead of
/// validating, allocating and copying the value. The cache only holds
/// fields of requests that were accepted (a refused head clears it), so
/// a reused field has passed the framing checks on its own value before.
/// A field value longer than this is not cached (an idle connection
/// would keep it), so the cache holds at most `CACHED_FIELDS` of these.
const MAX_CACHED_VALUE: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct FieldCache {
    fields: Vec<(HeaderName, HeaderValue)>,
}

impl FieldCache {
    /// The parsed field `i` of a request, `raw_name: raw_value`, and
    /// whether it was reused from an accepted request.
    #[inline(always)]
    fn field(&mut self, i: usize, raw_name: &[u8], raw_value: &[u8]) -> Result<(HeaderName, HeaderValue, bool), Error> {
        if let Some((name, value)) = self.fields.get(i)
            && same_bytes(value.as_bytes(), raw_value)
            // Names are parsed to lower case: any spelling that matches
            // ignoring case parses to this same name.
            && lowers_to(raw_name, name.as_str().as_bytes())
        {
            return Ok((name.clone(), value.clone(), true));
        }
        let (name, value) = parse_field(raw_name, raw_value)?;
        if raw_value.len() > MAX_CACHED_VALUE {
            // Kept out: the cache would hold it while the connection idles.
        } else if i < self.fields.len() {
            self.fields[i] = (name.clone(), value.clone());
        } else if i == self.fields.len() && i < CACHED_FIELDS {
            self.fields.push((name.clone(), value.clone()));
        }
        Ok((name, value, false))
    }
}

fn parse_field(name: &[u8], value: &[u8]) -> Result<(HeaderName, HeaderValue), Error> {
    let name = HeaderName::from_bytes(name).map_err(|_| Error::syntax("invalid header name"))?;
    let value = HeaderValue::from_bytes(value).map_err(|_| Error::syntax("invalid header value"))?;
    Ok((name, value))
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

/// What the header fields say about framing and the connection: a
/// `Content-Length`, and the flags below in one word (one register through
/// the field loop, where ten `bool`s spilled to the stack).
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    flags: u16,
}

/// A `Transfer-Encoding` field was present.
const TRANSFER_ENCODING: u16 = 1;
/// The last transfer-coding seen so far is `chunked`.
const CHUNKED: u16 = 1 << 1;
/// A coding followed `chunked` (or `chunked` came twice).
const CHUNKED_NOT_LAST: u16 = 1 << 2;
/// A coding other than `chunked` was named.
const OTHER_CODING: u16 = 1 << 3;
const HOST: u16 = 1 << 4;
const CLOSE: u16 = 1 << 5;
const KEEP_ALIVE: u16 = 1 << 6;
const EXPECT_CONTINUE: u16 = 1 << 7;
/// `Connection` names `upgrade`.
const UPGRADE_TOKEN: u16 = 1 << 8;
/// An `Upgrade` field was present.
const UPGRADE_FIELD: u16 = 1 << 9;

impl Framing {
    #[inline(always)]
    fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    #[inline(always)]
    fn set(&mut self, flag: u16, on: bool) {
        self.flags = if on { self.flags | flag } else { self.flags & !flag };
    }

    /// Notes one field (`name` as sent, in any case); `checked`: the same
    /// field was accepted in an earlier request (its value need not be
    /// checked again).
    #[inline(always)]
    fn observe(&mut self, name: &[u8], value: &[u8], checked: bool) -> Result<(), Error> {
        // The length picks the one name to compare with, so most fields
        // compare nothing.
        match name.len() {
            14 if is_name(name, b"content-length") => {
                let n = parse_content_length(value)?;
                if self.content_length.is_some_and(|m| m != n) {
                    return Err(Error::syntax("conflicting Content-Length fields"));
                }
                self.content_length = Some(n);
            }
            17 if is_name(name, b"transfer-encoding") => {
                // The whole list is read before deciding, over every field
                // line: `gzip` then `chunked` on two lines is one list.
                self.set(TRANSFER_ENCODING, true);
                for coding in tokens(value) {
                    if self.has(CHUNKED) {
                        self.set(CHUNKED_NOT_LAST, true);
                    }
                    let chunked = coding.eq_ignore_ascii_case(b"chunked");
                    self.set(CHUNKED, chunked);
                    if !chunked {
                        self.set(OTHER_CODING, true);
                    }
                }
            }
            4 if is_name(name, b"host") => {
                if self.has(HOST) {
                    return Err(Error::syntax("more than one Host field"));
                }
                if !checked && !is_host(value) {
                    return Err(Error::syntax("an invalid Host field"));
                }
                self.set(HOST, true);
            }
            10 if is_name(name, b"connection") => {
                for token in tokens(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.set(CLOSE, true);
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.set(KEEP_ALIVE, true);
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        self.set(UPGRADE_TOKEN, true);
                    }
                }
            }
            6 if is_name(name, b"expect") => {
                self.set(EXPECT_CONTINUE, value.eq_ignore_ascii_case(b"100-continue"));
            }
            7 if is_name(name, b"upgrade") => self.set(UPGRADE_FIELD, true),
            _ => {}
        }
        Ok(())
    }

    /// What the fields, all observed, say about the request.
    fn conclude(&self, version: Version) -> Result<HeadInfo, Error> {
        let body = self.body_length(version)?;
        if version == Version::HTTP_11 && !self.has(HOST) {
            return Err(Error::syntax("an HTTP/1.1 request must have a Host header"));
        }
        let keep_alive = match version {
            Version::HTTP_11 => !self.has(CLOSE),
            _ => self.has(KEEP_ALIVE) && !self.has(CLOSE),
        };
        let expect_continue = version == Version::HTTP_11 && self.has(EXPECT_CONTINUE);
        let upgrade = self.has(UPGRADE_FIELD) && self.has(UPGRADE_TOKEN);
        Ok(HeadInfo { body, keep_alive, expect_continue, upgrade })
    }

    fn body_length(&self, version: Version) -> Result<BodyLength, Error> {
        if self.has(TRANSFER_ENCODING) {
            if version == Version::HTTP_10 {
                return Err(Error::syntax("Transfer-Encoding in an HTTP/1.0 request"));
            }
            if self.content_length.is_some() {
                return Err(Error::syntax("both Content-Length and Transfer-Encoding"));
            }
            if self.has(CHUNKED_NOT_LAST) || !self.has(CHUNKED) {
                // RFC 9112 §6.3: the body's length cannot be known.
                return Err(Error::syntax("Transfer-Encoding must end in a single chunked"));
            }
            if self.has(OTHER_CODING) {
                return Err(Error::unsupported_coding());
            }
            return Ok(BodyLength::Chunked);
        }
        Ok(BodyLength::Known(self.content_length.unwrap_or(0)))
    }
}

/// Whether a `Host` value has the characters of `uri-host [":" port]`
/// (RFC 3986: a reg-name, an IPv4 address or a bracketed IP literal); an
/// empty value is allowed (RFC 9112 §3.2, a target without an authority).
/// No user info, path, query, fragment or whitespace.
fn is_host(value: &[u8]) -> bool {
    value.iter().all(|&b| HOST_CHARS[usize::from(b)])
}

/// The bytes [`is_host`] accepts, as a table (one load per byte).
static HOST_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&')
            || matches!(c, b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'%' | b'[' | b']');
        b += 1;
    }
    table
};

/// Whether the field name `name` (a token: the parser allows nothing
/// else) is `lower` (lower-case letters and `-`, as long as `name`) in any
/// case. Setting bit 5 of a byte lowers an upper-case letter; the only
/// other byte it turns into a letter or `-` is not a token character (CR
/// into `-`), so comparing eight bytes at a time is exact.
#[inline(always)]
fn is_name(name: &[u8], lower: &[u8]) -> bool {
    debug_assert_eq!(name.len(), lower.len());
    debug_assert!(name.len() >= 4 && lower.iter().all(|&b| b.is_ascii_lowercase() || b == b'-'));
    let n = name.len();
    let fold = |bytes: &[u8], at: usize| u64::from_le_bytes(word(bytes, at)) | 0x2020_2020_2020_2020;
    let fold4 = |bytes: &[u8], at: usize| u32::from_le_bytes(word(bytes, at)) | 0x2020_2020;
    if n < 8 {
        // Two overlapping 4-byte words cover 4..=7 bytes.
        return fold4(name, 0) == fold4(lower, 0) && fold4(name, n - 4) == fold4(lower, n - 4);
    }
    let mut at = 0;
    while at + 8 < n {
        if fold(name, at) != fold(lower, at) {
            return false;
        }
        at += 8;
    }
    fold(name, n - 8) == fold(lower, n - 8)
}

/// Whether the field name `raw` as sent, lowered, is `lower` (a parsed
/// `HeaderName`: lower case). Eight bytes at a time: in each word the
/// bytes from `A` to `Z` are found with two additions (a byte's top bit
/// says whether it reached `A`, and whether it passed `Z`) and get bit 5
/// set, which lowers exactly those. Exact for ASCII; the parser lets no
/// other byte into a name, and a byte from 128 up would stay unequal to
/// every byte of `lower` anyway (the carries it may cause stay in its own
/// word). A byte-by-byte `eq_ignore_ascii_case` cost ~16 instructions a
/// byte.
#[inline(always)]
fn lowers_to(raw: &[u8], lower: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let n = raw.len();
    if n != lower.len() {
        return false;
    }
    let fold = |w: u64| {
        let from_a = w.wrapping_add(ONES * (0x80 - u64::from(b'A')));
        let past_z = w.wrapping_add(ONES * (0x80 - u64::from(b'Z') - 1));
        w | ((from_a & !past_z & (ONES * 0x80)) >> 2)
    };
    if n < 8 {
        // Both words of 4..=7 bytes, zero-extended: the fold is per byte.
        let four = |bytes: &[u8], at: usize| u64::from(u32::from_le_bytes(word(bytes, at)));
        return if n >= 4 {
            fold(four(raw, 0)) == four(lower, 0) && fold(four(raw, n - 4)) == four(lower, n - 4)
        } else {
            raw.iter().zip(lower).all(|(&r, &l)| r.to_ascii_lowercase() == l)
        };
    }
    let eight = |bytes: &[u8], at: usize| u64::from_le_bytes(word(bytes, at));
    let mut at = 0;
    while at + 8 < n {
        if fold(eight(raw, at)) != eight(lower, at) {
            return false;
        }
        at += 8;
    }
    fold(eight(raw, n - 8)) == eight(lower, n - 8)
}

/// `N` bytes of `bytes` from `at` (in bounds: the callers check).
#[inline(always)]
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N].try_into().unwrap_or([0; N])
}

/// `a == b`, without a call for the lengths of most `Host` values.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        // Two overlapping 8-byte words.
        return word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8);
    }
    a == b
}

/// The comma-separated tokens of a list-valued field, trimmed, empty ones
/// skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|t| t.trim_ascii()).filter(|t| !t.is_empty())
}

fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    if value.is_empty() || value.len() > 19 {
        return Err(Error::syntax("invalid Content-Length"));
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(Error::syntax("invalid Content-Length"));
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Parse<RequestHead>, Error> {
        parse_request(buf, &Limits::default())
    }

    #[test]
    fn name_and_byte_comparisons_agree_with_the_slow_ones() {
        // Every token byte in every position of every special name, in both
        // cases: `is_name` says what `eq_ignore_ascii_case` says.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        for lower in [&b"host"[..], b"expect", b"upgrade", b"connection", b"content-length", b"transfer-encoding"] {
            let upper = lower.to_ascii_uppercase();
            assert!(is_name(lower, lower) && is_name(&upper, lower));
            for at in 0..lower.len() {
                for b in (0..=255u8).filter(|&b| token(b)) {
                    let mut name = lower.to_vec();
                    name[at] = b;
                    assert_eq!(
                        is_name(&name, lower),
                        name.eq_ignore_ascii_case(lower),
                        "{:?}",
                        String::from_utf8_lossy(&name)
                    );
                }
            }
        }
        // `lowers_to` against a parsed (lower-case) name: every token byte,
        // in either case, at every position of names of every length
        // (the word-sized paths and their overlapping tails), including
        // `^` and `~`, which differ in bit 5 only.
        let tokens: Vec<u8> = (0..=255u8).filter(|&b| token(b)).collect();
        for len in 1..=20 {
            let lower: Vec<u8> = (0..len).map(|i| b"abcdefghijklmnopqrstuvwxyz-0^_~"[i % 31]).collect();
            assert!(lowers_to(&lower, &lower) && lowers_to(&lower.to_ascii_uppercase(), &lower));
            assert!(!lowers_to(&lower[1..], &lower) && !lowers_to(&lower, &lower[1..]));
            for at in 0..len {
                for &b in &tokens {
                    let mut raw = lower.clone();
                    raw[at] = b;
                    assert_eq!(lowers_to(&raw, &lower), raw.eq_ignore_ascii_case(&lower), "{raw:?} {lower:?}");
                }
                for b in 0x80..=0xffu8 {
                    let mut raw = lower.clone();
                    raw[at] = b;
                    assert!(!lowers_to(&raw, &lower));
                }
            }
        }
        let host = b"127.0.0.1:18191";
        for n in 0..=host.len() {
            let (a, mut b) = (&host[..n], host[..n].to_vec());
            assert!(same_bytes(a, &b));
            for at in 0..n {
                b[at] ^= 1;
                assert!(!same_bytes(a, &b), "{n} {at}");
                b[at] ^= 1;
            }
            assert!(!same_bytes(a, &host[..n.saturating_sub(1)]) || n == 0);
        }
        let long = [b'a'; 40];
        let mut other = long;
        other[20] = b'b';
        assert!(same_bytes(&long, &long.clone()) && !same_bytes(&long, &other));
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |b: &[u8]| match parse(b) {
            Ok(Parse::Complete(h, _)) => h.keep_alive(),
            other => panic!("{other:?}"),
        };
        assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn a_field_cache_reuses_repeated_fields_and_parses_changed_ones() {
        let mut cache = FieldCache::default();
        let (name, value, reused) = cache.field(0, b"User-Agent", b"wrk").unwrap();
        assert_eq!((name.as_str(), value.as_bytes(), reused), ("user-agent", &b"wrk"[..], false));
        // The same field again, any case: the very same value bytes.
        let (again, same, reused) = cache.field(0, b"USER-agent", b"wrk").unwrap();
        assert_eq!((again, reused), (name, true));
        assert_eq!(same.as_bytes().as_ptr(), value.as_bytes().as_ptr());
        // A changed value or name at that position is parsed (and checked).
        assert_eq!(cache.field(0, b"User-Agent", b"curl").unwrap().1, "curl");
        assert_eq!(cache.field(0, b"Accept", b"curl").unwrap().0, http::header::ACCEPT);
        assert!(cache.field(0, b"Accept", b"bad\x7fvalue").unwrap_err().is_syntax());
        assert!(cache.field(0, b"Bad Name", b"curl").unwrap_err().is_syntax());
        // Positions past the cache's size are parsed every time.
        for i in 0..CACHED_FIELDS + 2 {
            cache.field(i, b"X-N", b"1").unwrap();
        }
        assert_eq!(cache.fields.len(), CACHED_FIELDS);
    }

    #[test]
    fn a_refused_head_leaves_nothing_to_reuse() {
        // Reused fields skip the checks on their own value (a Host's
        // characters), so the cache must only hold accepted requests'.
        let mut cache = FieldCache::default();
        let mut map = HeaderMap::new();
        let limits = Limits::default();
        let bad = b"GET / HTTP/1.1\r\nX-A: 1\r\nHost: a/b\r\n\r\n";
        assert!(
            parse_request_into(bad, &limits, &mut map, Some(&mut cache), &mut Request::new(()))
                .unwrap_err()
                .is_syntax()
        );
        assert!(cache.fields.is_empty());
        assert!(
            parse_request_into(bad, &limits, &mut map, Some(&mut cache), &mut Request::new(()))
                .unwrap_err()
                .is_syntax()
        );
        let good = b"GET / HTTP/1.1\r\nX-A: 1\r\nHost: a\r\n\r\n";
        assert!(matches!(
            parse_request_into(good, &limits, &mut map, Some(&mut cache), &mut Request::new(())),
            Ok(Parse::Complete(..))
        ));
        assert_eq!(cache.fields.len(), 2);
        // A repeated Host is still one too many.
        let twice = b"GET / HTTP/1.1\r\nX-A: 1\r\nHost: a\r\nHost: a\r\n\r\n";
        assert!(
            parse_request_into(twice, &limits, &mut map, Some(&mut cache), &mut Request::new(()))
                .unwrap_err()
                .is_syntax()
        );
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
    fn host_characters() {
        for ok in [&b"127.0.0.1:8080"[..], b"[::1]:80", b"example.com", b"", b"a-b_c~d!$&'()*+,;=%41"] {
            assert!(is_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [&b"a b"[..], b"a/b", b"a@b", b"a?b", b"a#b", b"a\x80", b"a\tb", b"\"a\""] {
            assert!(!is_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn framing_errors() {
        assert!(
            parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .unwrap_err()
                .is_unsupported_coding()
        );
        assert!(parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n").unwrap_err().is_syntax());
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").unwrap_err().is_syntax());
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n").unwrap_err().is_syntax());
        let both = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert!(parse(both).unwrap_err().is_syntax());
        assert!(parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n").unwrap_err().is_syntax());
        let twice = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert!(parse(twice).unwrap_err().is_syntax());
        assert!(parse(b"GET / HTTP/1.1\r\n\r\n").unwrap_err().is_syntax());
        assert!(parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap_err().is_unsupported_version());
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
