//! An HTTP/1.1 server: Python guv's `wsgi.serve(listen(addr), app)`.
//!
//! An *app* is a function from an [`http::Request`] to an
//! [`http::Response`], with [`Body`] as the body type on both sides. Each
//! connection runs on its own greenlet, so the app is plain blocking code:
//! it may read the request body, sleep, call other services over green
//! sockets — other connections go on meanwhile. Green-locals
//! ([`local!`](crate::local!)) the app sets belong to the connection's
//! greenlet, not to the request: the later requests of a kept-alive
//! connection see them, so per-request context is set (or reset) at the
//! start of each request.
//!
//! ```no_run
//! use guv::wsgi::Body;
//! use http::{Request, Response};
//!
//! fn hello(_req: Request<Body>) -> Response<Body> {
//!     Response::new(Body::from("Hello, World!"))
//! }
//!
//! guv::wsgi::serve(guv::listen("127.0.0.1:8001").unwrap(), hello).unwrap();
//! ```
//!
//! For the hottest paths there is also a *raw* app ([`Server::raw`],
//! [`serve_raw`]): `Fn(&mut RawRequest, &mut RawResponse)`, which reads
//! the request head in place and writes its answer into buffers the
//! connection reuses, the way `may_minihttp` apps do. The server does all
//! of the below for it too; it gives up streamed bodies and taking the
//! connection over.
//!
//! ```no_run
//! use guv::wsgi::{RawRequest, RawResponse};
//!
//! fn hello(_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>) {
//!     res.set_body(b"Hello, World!");
//! }
//!
//! guv::wsgi::serve_raw(guv::listen("127.0.0.1:8001").unwrap(), hello).unwrap();
//! ```
//!
//! ## What the server does for the app
//!
//! - HTTP/1.1 keep-alive, and HTTP/1.0 (closed after each response unless
//!   the client sent `Connection: keep-alive`). Pipelined requests are
//!   answered in order, and their answers leave in one write.
//! - Request bodies (`Content-Length` or chunked) are read lazily through
//!   [`Body`]'s `Read`; what the app leaves unread is drained, up to
//!   [`Server::max_drain`], before the next request.
//! - `Expect: 100-continue` is answered on the first read of the body, or
//!   just before a final head whose body streams (that stream may be the
//!   request's own body). Once a `100` has gone out the client sends the
//!   body, so a body the app left unread is drained like any other and the
//!   connection kept. If the app answers from memory without reading, no
//!   `100` is sent (never after the final head): the body may never come,
//!   so the answer says `Connection: close`.
//! - Response framing: `Content-Length` for bodies of known length, chunked
//!   otherwise (close-delimited for HTTP/1.0); no body for `HEAD`, 1xx, 204
//!   and 304; `Date` (cached per second) and `Server` added unless set.
//!   A 2xx answer to `CONNECT` makes the client take the connection for a
//!   tunnel, which the server does not provide: it has neither length nor
//!   chunks, its body is sent as the tunnel's data, and the connection
//!   closes after it.
//! - Limits, answered with `Connection: close`: request line too long
//!   (414), head too large or too many fields (431), bad syntax (400), body
//!   over [`Server::max_body_size`] (413), a transfer-coding other than
//!   chunked before the final `chunked` (501), HTTP/2 or an unknown version
//!   (505). A client that does not send a head within
//!   [`Server::header_timeout`] is disconnected; one that stops sending a
//!   request body for [`Server::body_timeout`] gets 408 (the app's read
//!   fails with `TimedOut`); one that takes none of its answer for
//!   [`Server::send_timeout`] is disconnected (the header timeout does not
//!   run while the server is writing, so a slow reader is not cut off).
//! - Framing is strict, so that a proxy in front cannot read a different
//!   request boundary than the server (request smuggling): one `Host`;
//!   `Content-Length` and `Transfer-Encoding` never together; a
//!   `Transfer-Encoding` that does not end in one `chunked`, differing
//!   `Content-Length`s, a bare LF or stray whitespace in chunked framing
//!   are all 400, and so is a request target whose form does not go
//!   with its method (`GET *`, `GET host:443`, `CONNECT /`; see
//!   [`proto::parse_request`] and
//!   [`proto::ChunkedDecoder`]).
//! - A panic in the app is logged and answered 500; the server goes on. So
//!   is one in a streamed response body's `read`, as long as none of the
//!   answer has gone out (after that the connection closes, cut short).
//!   So is an app's answer whose status is not final (1xx, which would
//!   leave the client waiting for the real answer) or not HTTP (600 and
//!   up), though the connection stays open.
//! - A streamed response body that fails (the app's reader errs or ends
//!   short of its length, or the request body it echoes is over the limit,
//!   malformed or too slow) before any of the response has been written is
//!   taken back and answered with the error's status (500, or 413/400/408)
//!   and `Connection: close`. The head of a streamed body is held until
//!   the body yields its first bytes, so an echo whose request body fails
//!   before any byte of it came gets that status, not a 200 cut short. An
//!   app's own streamed body (not the request's) that waits before its
//!   first bytes — an event stream, a long poll — does not keep the head
//!   from the client: it goes out as the body waits, and a failure after
//!   that cuts the answer short. Once part of it is out, the connection closes
//!   without the body's end (no last chunk, fewer bytes than its length),
//!   so the client sees it cut; a body delimited by the close (HTTP/1.0,
//!   no length) has no end to withhold, so that connection is reset
//!   (`SO_LINGER` 0) rather than closed in order, once the client has
//!   what was sent before the failure.
//! - An access log in the common log format through the `log` crate
//!   (target `guv::wsgi::access`).
//! - Graceful shutdown through a [`ShutdownHandle`], and several worker
//!   hubs on as many threads with [`Server::workers`].
//! - HTTPS (and WSS) through [`Server::wrap_stream`], a per-connection
//!   hook that turns the accepted socket into the stream the server speaks
//!   over (a rustls session, say), run on the connection's own greenlet
//!   under the header timeout; HTTP over a Unix-domain socket through
//!   [`Server::serve_unix`] (one hub) and [`Server::run_unix`] (worker
//!   hubs sharing the listener). All of the above holds over both.
//!
//! ## How it works
//!
//! The protocol is sans-I/O ([`proto`]): a parser over byte slices that
//! answers complete or partial, a chunked decoder, and a per-connection
//! state machine (idle → body → responding → drain → idle) that never
//! touches a socket. The connection's greenlet moves bytes between it and a
//! green [`TcpStream`](crate::net::TcpStream) (or Unix stream, or wrapped
//! stream: the loop is generic, one copy per kind): it tries each read without
//! blocking and parks only when the socket is empty, writes the response
//! head straight into a reused output buffer, and flushes that buffer only
//! when it is about to wait for the client, so that pipelined answers share
//! a write. Once the answers buffered for a client pass 64 KiB (a client
//! that pipelines requests faster than it reads the answers), they are
//! written out before the next request is read, the server waiting for the
//! client to take them: a connection holds at most that much plus one
//! answer, however many requests the client has sent.

mod body;
mod chunked;
mod coarse_clock;
mod conn;
mod connection;
mod encode;
mod error;
mod handler;
mod parse;
mod raw;
mod server;
mod transport;
mod upgrade;

use http::{Request, Response};

pub use body::Body;
pub use error::Error;
pub use raw::{Raw, RawRequest, RawResponse, Service};
pub use server::{Bound, DEFAULT_MAX_CONNECTIONS, Server, ShutdownHandle};
pub use transport::{Plain, StreamWrap, Wrapping};
pub use upgrade::{Upgrade, Upgraded};

/// The `http` crate, whose `Request`, `Response`, `StatusCode` and headers
/// the server speaks.
pub use http;

/// The sans-I/O protocol layer: request-head parsing and chunked decoding
/// on byte slices. The server is built on it; it is public for tests, fuzzing
/// and other transports.
pub mod proto {
    pub use super::chunked::{ChunkedDecoder, MAX_CHUNK_OVERHEAD};
    pub use super::parse::{BodyLength, Limits, MAX_HEADERS_CAP, Parse, RequestHead, parse_request};
}

/// Serves `app` on `listener` with the default [`Server`] settings, on this
/// thread's hub, until shut down (never, with this function: use
/// [`Server::shutdown_handle`] for that).
///
/// ```no_run
/// use guv::wsgi::Body;
///
/// let app = |req: http::Request<Body>| {
///     let name = req.uri().query().unwrap_or("world").to_owned();
///     http::Response::new(Body::from(format!("Hello, {name}!")))
/// };
/// guv::wsgi::serve(guv::listen("127.0.0.1:8001")?, app)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve<A>(listener: crate::net::TcpListener, app: A) -> std::io::Result<()>
where
    A: Fn(Request<Body>) -> Response<Body> + 'static,
{
    Server::new(app).serve(listener)
}

/// A `200 OK` response with `body` and no header fields, for an app that is
/// done reading `request`: the same as `Response::new(body)`, except that
/// the response's header map is the request's, emptied, so that it keeps
/// the request's allocation instead of making a new one on the first
/// insert (and the request's is not freed). The rest of the request (its
/// body, extensions, target) is dropped here, as when the app drops it.
///
/// An opt-in for the hottest `http`-typed apps: the server already reuses
/// the map of each response it has written for the next request's fields,
/// so an app that answers with `response_for` allocates no header map per
/// request at all (two `malloc`s and two `free`s fewer per request, about
/// a tenth of the server's own work on a pipelined "Hello, World!"). The
/// map is cleared here, so none of the request's fields can end up in the
/// response, and once more when the server takes it back after writing
/// the response, so none of the response's fields can end up in the next
/// request.
///
/// ```
/// use guv::wsgi::http::{Request, Response, header};
/// use guv::wsgi::{Body, response_for};
///
/// fn hello(req: Request<Body>) -> Response<Body> {
///     // Read what the answer needs first: the request is taken.
///     let greeting = if req.uri().path() == "/" { "Hello, World!" } else { "Hello, path!" };
///     let mut response = response_for(req, Body::from_static(greeting.as_bytes()));
///     response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
///     response
/// }
///
/// let mut req = Request::new(Body::empty());
/// req.headers_mut().insert(header::HOST, header::HeaderValue::from_static("example.com"));
/// let response = hello(req);
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers().len(), 1);
/// assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
/// # guv::wsgi::Server::new(hello);
/// ```
#[inline]
pub fn response_for(mut request: Request<Body>, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    // Swapped, not assigned: the empty map `Response::new` made has no
    // allocation, and goes with the request.
    std::mem::swap(headers, request.headers_mut());
    headers.clear();
    response
}

/// Serves the raw app `app` (see [`Server::raw`]) on `listener` with the
/// default [`Server`] settings, on this thread's hub, until shut down.
///
/// ```no_run
/// use guv::wsgi::{RawRequest, RawResponse};
///
/// let app = |_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
///     res.set_body(b"Hello, World!");
/// };
/// guv::wsgi::serve_raw(guv::listen("127.0.0.1:8001")?, app)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve_raw<F>(listener: crate::net::TcpListener, app: F) -> std::io::Result<()>
where
    F: Fn(&mut RawRequest<'_>, &mut RawResponse<'_>) + 'static,
{
    Server::raw(app).serve(listener)
}
