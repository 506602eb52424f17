//! [`Body`]: what a request carries in and a response carries out.

use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use super::connection::Connection;
use super::transport::{AnyConn, Transport, on_conn};

/// The body of a request or a response.
///
/// A request's body is read lazily from the connection through
/// [`Read`]; whatever the app leaves unread is drained (up to
/// [`Server::max_drain`](super::Server::max_drain)) before the next request
/// on the connection. A request body read after its response was sent (by
/// a greenlet the app handed it to) fails with an error, unless it had
/// been read to its end: what was not read by then is the server's to
/// discard, and must not pass for the end of the body. A response's body is built from bytes (sent with
/// `Content-Length`) or from a reader: with a known length
/// ([`Body::sized`]) it is sent with `Content-Length`, otherwise chunked
/// (or, to an HTTP/1.0 client, until the connection closes).
///
/// ```
/// use std::io::Read;
/// use guv::wsgi::Body;
///
/// assert_eq!(Body::from("Hello").len(), Some(5));
/// assert_eq!(Body::empty().len(), Some(0));
/// assert_eq!(Body::from_reader(std::io::empty()).len(), None);
///
/// let mut text = String::new();
/// Body::from(String::from("abc")).read_to_string(&mut text).unwrap();
/// assert_eq!(text, "abc");
/// ```
pub struct Body {
    inner: Inner,
}

enum Inner {
    Bytes { bytes: Bytes, pos: usize },
    Reader { reader: Box<dyn Read>, len: Option<u64> },
    Incoming(Incoming),
}

enum Bytes {
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Static(b) => b,
            Bytes::Owned(v) => v,
        }
    }
}

impl Body {
    /// No bytes.
    ///
    /// ```
    /// assert_eq!(guv::wsgi::Body::empty().len(), Some(0));
    /// ```
    pub fn empty() -> Body {
        Body::from_static(b"")
    }

    /// Bytes that live for the whole program: no copy, no allocation.
    ///
    /// ```
    /// let body = guv::wsgi::Body::from_static(b"Hello, World!");
    /// assert_eq!(body.len(), Some(13));
    /// ```
    pub fn from_static(bytes: &'static [u8]) -> Body {
        Body { inner: Inner::Bytes { bytes: Bytes::Static(bytes), pos: 0 } }
    }

    /// A body streamed from `reader`, of unknown length: sent chunked.
    ///
    /// The server reads from `reader` as it sends, and drops it when the
    /// stream ends, fails, or the server shuts down (its destructor can
    /// tell a producer to stop). A client that has gone away is noticed
    /// only when a write to it fails: the kernel usually accepts the first
    /// chunk after it left, so a stream finds out a chunk or two later. An
    /// event stream that may stay idle for long should send a heartbeat
    /// now and then (a `:` comment line in server-sent events), or a
    /// departed client keeps its connection and its producer until the
    /// next event.
    ///
    /// ```
    /// let body = guv::wsgi::Body::from_reader(std::io::Cursor::new(vec![1, 2, 3]));
    /// assert_eq!(body.len(), None);
    /// ```
    pub fn from_reader(reader: impl Read + 'static) -> Body {
        Body { inner: Inner::Reader { reader: Box::new(reader), len: None } }
    }

    /// A body streamed from `reader` that will yield exactly `len` bytes:
    /// sent with `Content-Length`. A reader that ends early makes the
    /// server close the connection; bytes past `len` are not sent.
    ///
    /// ```
    /// let body = guv::wsgi::Body::sized(3, std::io::Cursor::new(vec![1, 2, 3]));
    /// assert_eq!(body.len(), Some(3));
    /// ```
    pub fn sized(len: u64, reader: impl Read + 'static) -> Body {
        Body { inner: Inner::Reader { reader: Box::new(reader), len: Some(len) } }
    }

    /// The number of bytes left, when known.
    ///
    /// ```
    /// use std::io::Read;
    /// let mut body = guv::wsgi::Body::from("hello");
    /// assert_eq!(body.len(), Some(5));
    /// body.read_exact(&mut [0u8; 2]).unwrap();
    /// assert_eq!(body.len(), Some(3));
    /// assert_eq!(guv::wsgi::Body::from_reader(std::io::empty()).len(), None);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub fn len(&self) -> Option<u64> {
        match &self.inner {
            Inner::Bytes { bytes, pos } => Some((bytes.as_slice().len() - pos) as u64),
            Inner::Reader { len, .. } => *len,
            Inner::Incoming(i) => i.len,
        }
    }

    /// Reads the whole body into a vector.
    ///
    /// ```
    /// let body = guv::wsgi::Body::from(vec![1u8, 2, 3]);
    /// assert_eq!(body.into_vec().unwrap(), [1, 2, 3]);
    /// ```
    pub fn into_vec(self) -> io::Result<Vec<u8>> {
        match self.inner {
            Inner::Bytes { bytes: Bytes::Owned(mut v), pos } => {
                v.drain(..pos);
                Ok(v)
            }
            inner => {
                let mut v = Vec::new();
                Body { inner }.read_to_end(&mut v)?;
                Ok(v)
            }
        }
    }

    pub(crate) fn incoming<T: Transport>(conn: Rc<Connection<T>>, seq: u64, len: Option<u64>) -> Body {
        Body { inner: Inner::Incoming(Incoming { conn: T::any(conn), seq, len }) }
    }

    /// Whether this is a request's body, read from its connection.
    pub(crate) fn is_incoming(&self) -> bool {
        matches!(self.inner, Inner::Incoming(_))
    }

    /// Whether the body is static bytes with nothing left to read: such a
    /// body reads the same as [`Body::empty`], and can stand in for it
    /// without holding any memory.
    pub(crate) fn is_spent_static(&self) -> bool {
        matches!(&self.inner, Inner::Bytes { bytes: Bytes::Static(b), pos } if *pos >= b.len())
    }

    /// The bytes, when the body is in memory.
    #[inline]
    pub(crate) fn as_bytes(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Bytes { bytes, pos } => Some(&bytes.as_slice()[*pos..]),
            _ => None,
        }
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from_static(s.as_bytes())
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::from_static(s)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body { inner: Inner::Bytes { bytes: Bytes::Owned(v), pos: 0 } }
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Bytes { bytes, pos } => {
                let rest = &bytes.as_slice()[*pos..];
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                *pos += n;
                Ok(n)
            }
            Inner::Reader { reader, .. } => reader.read(buf),
            Inner::Incoming(incoming) => incoming.read(buf),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Inner::Bytes { .. } => "bytes",
            Inner::Reader { .. } => "reader",
            Inner::Incoming(_) => "incoming",
        };
        f.debug_struct("Body").field("kind", &kind).field("len", &self.len()).finish()
    }
}

/// A request body still on the connection.
struct Incoming {
    conn: AnyConn,
    /// The request this body belongs to; reading fails once the server has
    /// moved on to the next one.
    seq: u64,
    /// Bytes left: known for a `Content-Length` body, and 0 for a chunked
    /// one once read to its end.
    len: Option<u64>,
}

impl Incoming {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.len == Some(0) {
            // Read to its end: it stays ended, even once the server has
            // moved on (where an unfinished body fails).
            return Ok(0);
        }
        let n = on_conn!(&self.conn, c => c.read_body(self.seq, buf))?;
        match &mut self.len {
            Some(len) => *len -= n as u64,
            // The end of a chunked body: nothing is left.
            None if n == 0 && !buf.is_empty() => self.len = Some(0),
            None => {}
        }
        Ok(n)
    }
}
