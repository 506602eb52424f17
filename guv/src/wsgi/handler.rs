//! One connection's greenlet: read a head, call the app, write the
//! response, drain what the app left unread, repeat.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode, Version};

use super::Error;
use super::body::Body;
use super::conn::{Conn, Next};
use super::connection::{self, Connection, TakenBack};
use super::encode::{self, Framing};
use super::parse::{BodyLength, HeadInfo, Limits};
use super::raw::sealed::Sealed;
use super::raw::{RawHead, RawRequest, RawResponse};
use super::transport::{Transport, WrapFn, Wrapped};
use super::upgrade;
use crate::greenlet::{KillSignal, TimeoutSignal};
use crate::net::TcpStream;
use std::net::SocketAddr;

/// A response body of at most this many bytes is copied into the output
/// buffer (one write with the head); larger ones are written directly.
const INLINE_BODY: usize = 32 * 1024;

/// The output buffer is written out when it grows past this while a body
/// streams.
const FLUSH_AT: usize = 64 * 1024;

/// Backpressure on pipelined requests: answers buffered for the client
/// (pipelined ones it has not read yet) are written out once they pass
/// this many bytes, before the next request is read, parking while the
/// client does not read (for at most the send timeout per wait). So a
/// client that pipelines requests and never reads makes the server hold
/// at most this much plus one answer, not every answer to what it sent.
/// Checked once per answer (one length compare); below it, answers keep
/// going out together when the server would next wait for the client.
const MAX_OWED: usize = 64 * 1024;

/// The log target of access-log lines.
pub(crate) const ACCESS_TARGET: &str = "guv::wsgi::access";

/// Per-server settings every connection reads.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) limits: Limits,
    pub(crate) max_body: u64,
    pub(crate) max_drain: u64,
    pub(crate) header_timeout: Option<Duration>,
    pub(crate) body_timeout: Option<Duration>,
    pub(crate) send_timeout: Option<Duration>,
    pub(crate) access_log: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            max_body: 1 << 30,
            max_drain: 64 * 1024,
            header_timeout: Some(Duration::from_secs(60)),
            body_timeout: Some(Duration::from_secs(60)),
            send_timeout: Some(Duration::from_secs(60)),
            access_log: true,
        }
    }
}

/// [`Flags::head_since`] when the connection is not waiting for a head.
pub(crate) const NOT_WAITING: u64 = u64::MAX;

/// What a connection's greenlet shares with its server.
pub(crate) struct Flags {
    /// The worker's coarse clock (ticks of its header-timeout sweeper).
    pub(crate) clock: Rc<Cell<u64>>,
    /// The tick at which the connection began waiting for a request head
    /// (or draining a body), or [`NOT_WAITING`]; the sweeper closes
    /// connections that wait longer than the header timeout.
    pub(crate) head_since: Cell<u64>,
    /// A request is being answered (graceful shutdown lets it finish).
    pub(crate) busy: Cell<bool>,
    /// The server is shutting down: close after the current response.
    pub(crate) stopping: Rc<Cell<bool>>,
    /// What the server's shutdown tells the connection (shared with its
    /// [`Connection`]): that it began, and that the deadline passed and the
    /// server is about to kill this connection's greenlet.
    pub(crate) going_away: Rc<connection::GoingAway>,
}

/// The connection's state, shared by its greenlet and the request bodies.
/// Tells the connection, when dropped, that its greenlet is done with it
/// ([`Connection::done`]): at the end of `serve_*`, or while the greenlet
/// unwinds from a kill.
struct Done<'a, T: Transport>(&'a Rc<Connection<T>>);

impl<T: Transport> Drop for Done<'_, T> {
    fn drop(&mut self) {
        self.0.done();
    }
}

fn open_connection<T: Transport>(stream: T, cfg: &Config, flags: &Flags) -> Rc<Connection<T>> {
    stream.set_nodelay();
    Rc::new(Connection::new(
        stream,
        Conn::new(cfg.limits, cfg.max_body, cfg.max_drain),
        cfg.body_timeout,
        cfg.send_timeout,
        flags.going_away.clone(),
    ))
}

/// Serves one connection with an `http`-typed app until it closes.
pub(crate) fn serve_http<T, F>(stream: T, peer: T::Peer, app: &F, cfg: &Config, flags: &Flags)
where
    T: Transport,
    F: Fn(Request<Body>) -> Response<Body>,
{
    let conn = open_connection(stream, cfg, flags);
    let _done = Done(&conn);
    let mut scratch = Vec::new();
    serve_requests(&conn, peer, flags, || {
        // The head is parsed straight into the request the app gets, which
        // stays in this slot until the app's call takes it: passing it on
        // by value would copy it (a few hundred bytes) at every step.
        let mut request = Some(Request::new(Body::empty()));
        let head = read_head(&conn, peer, cfg, flags, |c| match &mut request {
            Some(request) => c.parse_head(request),
            None => unreachable!("the request is taken only by the app's call"),
        })?;
        flags.busy.set(true);
        Some(respond(&conn, &mut request, head, peer, app, cfg, flags, &mut scratch))
    });
}

/// Serves one connection with a raw app until it closes.
pub(crate) fn serve_raw<T, F>(stream: T, peer: T::Peer, app: &F, cfg: &Config, flags: &Flags)
where
    T: Transport,
    F: Fn(&mut RawRequest<'_>, &mut RawResponse<'_>),
{
    let conn = open_connection(stream, cfg, flags);
    let _done = Done(&conn);
    let mut raw = RawBuffers::default();
    serve_requests(&conn, peer, flags, || {
        let head = read_head(&conn, peer, cfg, flags, |c| c.parse_raw_head(&mut raw.head))?;
        flags.busy.set(true);
        Some(respond_raw(&conn, &mut raw, head, peer, app, cfg, flags))
    });
}

/// Serves one TCP connection over the stream `wrap` builds on it (see
/// [`super::Server::wrap_stream`]). The hook runs here, on the
/// connection's own greenlet, and counts as waiting for a request head:
/// the header timeout's sweeper kills it if it takes longer (a client that
/// never finishes its TLS handshake), and a shutdown closes it as an idle
/// connection. The wait goes on after the hook, so the handshake and the
/// first head share one window: a client cannot take the whole timeout
/// for each. A hook that fails (a bad handshake) or panics is logged and
/// closes this connection only.
pub(crate) fn serve_wrapped<A: Sealed>(
    app: &A,
    wrap: &WrapFn,
    stream: TcpStream,
    peer: SocketAddr,
    cfg: &Config,
    flags: &Flags,
) {
    // The window of the first head opens here, at the handshake's start,
    // and stays open after it: `read_head` keeps a wait already under way.
    flags.head_since.set(flags.clock.get());
    let wrapped = panic::catch_unwind(AssertUnwindSafe(|| Wrapped::new(stream, wrap)));
    match wrapped {
        Ok(Ok(stream)) => app.serve_connection(stream, peer, cfg, flags),
        Ok(Err(e)) => log::info!(target: "guv::wsgi", "{peer}: the connection's stream could not be set up: {e}"),
        Err(payload) => {
            let msg = app_panic_message(payload);
            log::error!(target: "guv::wsgi", "{peer}: the stream wrapper panicked: {msg}");
        }
    }
}

/// The request loop: `one` reads a request and answers it (`None` when the
/// connection is done before a request), then the connection goes on as
/// the protocol state says.
fn serve_requests<T: Transport>(
    conn: &Rc<Connection<T>>,
    peer: T::Peer,
    flags: &Flags,
    mut one: impl FnMut() -> Option<io::Result<Responded>>,
) {
    loop {
        let Some(result) = one() else { return };
        flags.busy.set(false);
        let next = match result {
            Ok(Responded::Upgraded) => return,
            // A shutdown that began while the response was written (a
            // streamed body) found this connection busy and left it alone:
            // it must not go on to wait for another request.
            Ok(Responded::Done { close }) => conn.conn.borrow_mut().finish_request(close || flags.stopping.get()),
            Err(e) => {
                log::debug!(target: "guv::wsgi", "{peer}: writing the response failed: {e}");
                return;
            }
        };
        match next {
            Next::ReadHead => {}
            Next::Drain => {
                let drained = drain(conn, flags);
                flags.head_since.set(NOT_WAITING);
                if let Err(e) = drained {
                    log::debug!(target: "guv::wsgi", "{peer}: {e}");
                    if conn.flush().is_ok() {
                        conn.goodbye();
                    }
                    conn.linger();
                    return;
                }
            }
            Next::Close => {
                // Busy until the answers (and a wrapped stream's goodbye)
                // are out (see `read_head`).
                flags.busy.set(true);
                if conn.flush().is_ok() {
                    conn.goodbye();
                }
                flags.busy.set(false);
                if conn.conn.borrow().has_buffered() || !conn.conn.borrow().is_eof() {
                    conn.linger();
                }
                return;
            }
        }
        if conn.out.borrow().len() > MAX_OWED && !flush_owed(conn, peer, flags) {
            return;
        }
    }
}

/// Writes out the answers owed past [`MAX_OWED`] before the next request
/// is read; `false` when the connection is done: writing failed, or a
/// shutdown began meanwhile (the answers of the requests taken up before
/// it are out; the requests behind them are not taken up, as when the
/// shutdown finds a request in the app). Busy meanwhile, like every flush
/// of answers owed, so that a shutdown lets it finish. Out of line: the
/// request loop stays small.
#[cold]
#[inline(never)]
fn flush_owed<T: Transport>(conn: &Connection<T>, peer: T::Peer, flags: &Flags) -> bool {
    flags.busy.set(true);
    let flushed = conn.flush();
    flags.busy.set(false);
    match flushed {
        Err(e) => {
            log::debug!(target: "guv::wsgi", "{peer}: {e}");
            false
        }
        Ok(()) if flags.stopping.get() => {
            conn.goodbye();
            conn.linger();
            false
        }
        Ok(()) => true,
    }
}

/// Reads until `parse` finds a whole head in the buffer; `None` when the
/// connection ends first (closed by the client, refused head answered,
/// shutdown, error).
fn read_head<T: Transport>(
    conn: &Connection<T>,
    peer: T::Peer,
    cfg: &Config,
    flags: &Flags,
    mut parse: impl FnMut(&mut Conn) -> Result<Option<HeadInfo>, Error>,
) -> Option<HeadInfo> {
    let head = loop {
        let parsed = parse(&mut conn.conn.borrow_mut());
        match parsed {
            Ok(Some(head)) => break head,
            Ok(None) => {}
            Err(e) => {
                refuse_head(conn, peer, cfg, flags, e);
                return None;
            }
        }
        if conn.conn.borrow().is_eof() {
            // The client closed between requests (or the header
            // timeout closed the connection).
            if conn.flush().is_ok() {
                conn.goodbye();
            }
            return None;
        }
        // Answers to pipelined requests go out before this greenlet
        // waits. Until they are out the connection is busy: a shutdown
        // lets them finish (and then the connection closes) rather than
        // cutting them off.
        flags.busy.set(true);
        let flushed = conn.flush();
        flags.busy.set(false);
        if flushed.is_ok() && flags.stopping.get() {
            conn.goodbye();
            conn.linger();
            return None;
        }
        // The header timeout counts from here: while answers were
        // still going out, the server was waiting for the client to
        // read (the send timeout's business), not for a head.
        if flags.head_since.get() == NOT_WAITING {
            flags.head_since.set(flags.clock.get());
        }
        if let Err(e) = flushed.and_then(|()| conn.fill()) {
            log::debug!(target: "guv::wsgi", "{peer}: {e}");
            return None;
        }
    };
    flags.head_since.set(NOT_WAITING);
    Some(head)
}

/// Answers a head the server refuses with the error's status, and lingers
/// before the close. Out of line: the request loop stays small.
#[cold]
#[inline(never)]
fn refuse_head<T: Transport>(conn: &Connection<T>, peer: T::Peer, cfg: &Config, flags: &Flags, e: Error) {
    log::debug!(target: "guv::wsgi", "{peer}: {e}");
    encode::write_error(&mut conn.out.borrow_mut(), e.status());
    if cfg.access_log && log::log_enabled!(target: ACCESS_TARGET, log::Level::Info) {
        access_log::<T>(peer, "GET", "-", Version::HTTP_11, Some(e.status()), 0);
    }
    // Busy while answers (pipelined ones before this) go out.
    flags.busy.set(true);
    if conn.flush().is_ok() {
        conn.goodbye();
    }
    flags.busy.set(false);
    conn.linger();
}

/// Discards the rest of a request body the app did not read. The header
/// timeout bounds the waits for the client's bytes, not the flush before
/// them (the send timeout's).
fn drain<T: Transport>(conn: &Connection<T>, flags: &Flags) -> io::Result<()> {
    loop {
        if conn.conn.borrow_mut().drain()? {
            return Ok(());
        }
        // The answer (and any pipelined before it) may still be going out:
        // a shutdown lets that finish, as in the head loop, and then the
        // connection closes instead of waiting for the rest of the body.
        flags.busy.set(true);
        let flushed = conn.flush();
        flags.busy.set(false);
        flushed?;
        if flags.stopping.get() {
            return Err(io::Error::other("guv::wsgi: the server is shutting down"));
        }
        if flags.head_since.get() == NOT_WAITING {
            flags.head_since.set(flags.clock.get());
        }
        conn.fill()?;
    }
}

enum Responded {
    Done { close: bool },
    Upgraded,
}

/// What the response writer needs to know about the request.
struct RequestInfo {
    is_head: bool,
    is_connect: bool,
    version: Version,
}

#[allow(clippy::too_many_arguments)]
fn respond<T: Transport>(
    conn: &Rc<Connection<T>>,
    slot: &mut Option<Request<Body>>,
    head: HeadInfo,
    peer: T::Peer,
    app: &impl Fn(Request<Body>) -> Response<Body>,
    cfg: &Config,
    flags: &Flags,
    scratch: &mut Vec<u8>,
) -> io::Result<Responded> {
    let Some(request) = slot else { unreachable!("respond is called with a parsed request") };
    let method = request.method();
    let info = RequestInfo {
        is_head: method == Method::HEAD,
        is_connect: method == Method::CONNECT,
        version: request.version(),
    };
    let logged = (cfg.access_log && log::log_enabled!(target: ACCESS_TARGET, log::Level::Info))
        .then(|| (request.method().clone(), request.uri().clone()));
    // The request came with an empty body.
    let length = match head.body {
        BodyLength::Known(0) => None,
        BodyLength::Known(n) => Some(Some(n)),
        BodyLength::Chunked => Some(None),
    };
    if let Some(length) = length {
        let seq = conn.conn.borrow().seq();
        *request.body_mut() = Body::incoming(conn.clone(), seq, length);
    }
    let _registration = head.upgrade.then(|| upgrade::offer(request.extensions_mut(), conn));
    // A body error is this request's own: one left by a greenlet that read
    // the previous body past its answer (a late body timeout) is dropped.
    conn.body_failed.set(None);

    // The request is moved once, out of its slot into the call. The
    // response is worked on where the call left it, in `outcome`: each
    // move of it would be a copy too.
    let mut answer = None;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| answer = Some(app(slot.take().expect("a parsed request")))));
    let mut close = false;
    if let Err(payload) = outcome {
        let msg = app_panic_message(payload);
        log::error!(target: "guv::wsgi", "{peer}: the app panicked: {msg}; answering 500");
        close = true;
    }
    let response = answer.get_or_insert_with(|| error_response(StatusCode::INTERNAL_SERVER_ERROR));
    if conn.upgraded.get() {
        drop(_registration);
        // The app wrote its own answer (a `101 Switching Protocols`, most
        // often) and ran the new protocol during the call; the line is
        // written when it returns (as a response's is after its body), with
        // the status the app's first bytes carry ("-" if they were no
        // status line), bytes unknown.
        if let Some((method, uri)) = logged {
            access_log::<T>(peer, method.as_str(), &uri.to_string(), info.version, conn.upgrade_status(), 0);
        }
        wait_released(conn);
        return Ok(Responded::Upgraded);
    }
    if !(200..600).contains(&response.status().as_u16()) {
        // A 1xx is interim (the client would wait on for the final answer)
        // and codes past 599 are not HTTP (RFC 9110 §15): an app bug.
        log::error!(target: "guv::wsgi", "{peer}: the app answered {}, not a final status; answering 500", response.status());
        *response = error_response(StatusCode::INTERNAL_SERVER_ERROR);
    }
    if let Some(status) = conn.body_failed.take() {
        close = true;
        *response = error_response(status);
    }
    close |= flags.stopping.get();
    let (sent, close) = write_response(conn, response, &info, close, &flags.stopping, scratch)?;
    // The status sent: a stream that failed before it went out was replaced.
    let status = response.status();
    if let Some((method, uri)) = logged {
        access_log::<T>(peer, method.as_str(), &uri.to_string(), info.version, Some(status), sent);
    }
    Ok(Responded::Done { close })
}

/// What a connection serving a raw app reuses from request to request: the
/// copied head and the answer's field and body buffers.
#[derive(Default)]
struct RawBuffers {
    head: RawHead,
    /// The request's body (empty between requests).
    request_body: Body,
    fields: Vec<u8>,
    body: Vec<u8>,
}

/// A raw answer's body and field buffers are kept for the next request
/// only up to this size, so that one large answer does not pin memory
/// while the connection waits, or for its life.
const MAX_KEPT_BODY: usize = 64 * 1024;

/// [`respond`] for a raw app: calls it with the head read in place and the
/// connection's buffers, then writes its answer.
#[allow(clippy::too_many_arguments)]
fn respond_raw<T: Transport>(
    conn: &Rc<Connection<T>>,
    raw: &mut RawBuffers,
    head: HeadInfo,
    peer: T::Peer,
    app: &impl Fn(&mut RawRequest<'_>, &mut RawResponse<'_>),
    cfg: &Config,
    flags: &Flags,
) -> io::Result<Responded> {
    let method = raw.head.method_bytes();
    let info = RequestInfo { is_head: method == b"HEAD", is_connect: method == b"CONNECT", version: raw.head.version };
    // The empty body of a request without one is kept from request to
    // request (an in-memory body with nothing left reads the same).
    match head.body {
        BodyLength::Known(0) if raw.request_body.is_spent_static() => {}
        BodyLength::Known(0) => raw.request_body = Body::empty(),
        BodyLength::Known(n) => raw.request_body = Body::incoming(conn.clone(), conn.conn.borrow().seq(), Some(n)),
        BodyLength::Chunked => raw.request_body = Body::incoming(conn.clone(), conn.conn.borrow().seq(), None),
    }
    // As in `respond`: a late body error of an earlier request is not this one's.
    conn.body_failed.set(None);
    let mut response = RawResponse::new(&mut raw.fields, &mut raw.body);
    let body = &mut raw.request_body;
    let outcome =
        panic::catch_unwind(AssertUnwindSafe(|| app(&mut RawRequest { head: &raw.head, body }, &mut response)));
    if !raw.request_body.is_spent_static() {
        // A request body: its hold on the connection ends with the call
        // (and bytes the app put in its place do not stay with it).
        raw.request_body = Body::empty();
    }
    let mut close = false;
    if let Err(payload) = outcome {
        let msg = app_panic_message(payload);
        log::error!(target: "guv::wsgi", "{peer}: the app panicked: {msg}; answering 500");
        close = true;
        response.replace_with_error(StatusCode::INTERNAL_SERVER_ERROR);
    }
    if !(200..600).contains(&response.status.as_u16()) {
        log::error!(target: "guv::wsgi", "{peer}: the app answered {}, not a final status; answering 500", response.status);
        response.replace_with_error(StatusCode::INTERNAL_SERVER_ERROR);
    }
    if let Some(status) = conn.body_failed.take() {
        close = true;
        response.replace_with_error(status);
    }
    close |= flags.stopping.get() || response.close;
    let framing = framing_for(response.status, &info, Some(response.body.len() as u64));
    close |= framing == Framing::UntilClose;
    let bytes: &[u8] = if matches!(framing, Framing::NoBody(_)) { &[] } else { response.body };
    {
        let mut out = conn.out.borrow_mut();
        let mut state = conn.conn.borrow_mut();
        // The answer is in memory: a pending `100` is refused, never sent.
        state.final_head(false);
        close |= !state.can_keep_alive();
        drop(state);
        encode::write_status_line(&mut out, response.status);
        out.extend_from_slice(response.fields);
        let http10 = info.version == Version::HTTP_10;
        close = encode::write_head_end(&mut out, response.has_server, response.has_date, framing, close, http10);
        if bytes.len() <= INLINE_BODY {
            out.extend_from_slice(bytes);
        }
    }
    if bytes.len() > INLINE_BODY {
        conn.write_through(bytes)?;
    }
    if cfg.access_log && log::log_enabled!(target: ACCESS_TARGET, log::Level::Info) {
        // Without a `#fragment`, as the `http`-typed path's `Uri` logs it.
        let target = raw.head.target();
        let target = target.split_once('#').map_or(target, |(before, _)| before);
        access_log::<T>(peer, raw.head.method(), target, info.version, Some(response.status), bytes.len() as u64);
    }
    // Written: a large answer's buffers go now, not when (if ever) the
    // next request comes.
    if raw.body.capacity() > MAX_KEPT_BODY || raw.fields.capacity() > MAX_KEPT_BODY {
        raw.body = Vec::new();
        raw.fields = Vec::new();
    }
    raw.head.release_if_large();
    Ok(Responded::Done { close })
}

/// Keeps a taken-over connection (and its pool slot) until the last
/// [`super::Upgraded`] handle is dropped. However it ends — released, or
/// killed by the server's shutdown — the socket is shut down both ways, so
/// handles still held elsewhere see end of input and failing writes.
fn wait_released<T: Transport>(conn: &Connection<T>) {
    struct ShutDown<'a, T: Transport>(&'a Connection<T>);
    impl<T: Transport> Drop for ShutDown<'_, T> {
        fn drop(&mut self) {
            let _ = self.0.stream.shutdown(std::net::Shutdown::Both);
        }
    }
    let _shut = ShutDown(conn);
    let released = conn.released.borrow_mut().take();
    if let Some(released) = released {
        released.wait();
    }
}

fn error_response(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::from_static(status.canonical_reason().unwrap_or("Error").as_bytes()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// The `Content-Length` an app set on a streamed body, if valid.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// How the answer with `status` to the request `info` delimits a body of
/// `known` length (`None`: unknown until it ends).
fn framing_for(status: StatusCode, info: &RequestInfo, known: Option<u64>) -> Framing {
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::NoBody(None)
    } else if info.is_head {
        Framing::NoBody(known)
    } else if info.is_connect && status.is_success() {
        // The client takes the connection for a tunnel from here on (RFC
        // 9112 §6.3): no length or chunks (RFC 9110 §9.3.6); the body is
        // the tunnel's data, and the server, which tunnels nothing, closes.
        Framing::UntilClose
    } else {
        match known {
            Some(n) => Framing::Length(n),
            None if info.version == Version::HTTP_11 => Framing::Chunked,
            None => Framing::UntilClose,
        }
    }
}

/// Writes the head and body; returns the body bytes sent and whether the
/// connection closes after this response.
#[inline(always)]
fn write_response<T: Transport>(
    conn: &Rc<Connection<T>>,
    response: &mut Response<Body>,
    info: &RequestInfo,
    mut close: bool,
    stopping: &Cell<bool>,
    scratch: &mut Vec<u8>,
) -> io::Result<(u64, bool)> {
    let status = response.status();
    let known = response.body().len().or_else(|| declared_length(response.headers()));
    let framing = framing_for(status, info, known);
    close |= framing == Framing::UntilClose;
    let http10 = info.version == Version::HTTP_10;
    let streamed = !matches!(framing, Framing::NoBody(_)) && response.body().as_bytes().is_none();
    {
        let mut out = conn.out.borrow_mut();
        let mut state = conn.conn.borrow_mut();
        if state.final_head(streamed) {
            out.extend_from_slice(connection::CONTINUE);
        }
        // Only now is it known whether a `100` went out, and so whether the
        // client will send an unread body for the server to drain.
        close |= !state.can_keep_alive();
        drop(state);
        if streamed {
            drop(out);
            let head = HeldHead { conn, status, framing, close, http10, stopping, at: None, encoded: None };
            return write_streamed(response, head, scratch);
        }
        close = encode::write_head(&mut out, status, response.headers(), framing, close, http10);
        // The map's allocation holds the next request's fields.
        conn.conn.borrow_mut().recycle_headers(response.headers_mut());
        let bytes = response.body().as_bytes();
        if let (Framing::Length(n), Some(bytes)) = (framing, bytes) {
            if bytes.len() as u64 != n {
                // Only reachable through a declared length on in-memory bytes.
                close = true;
            }
            if bytes.len() <= INLINE_BODY {
                out.extend_from_slice(bytes);
                return Ok((bytes.len() as u64, close));
            }
        }
    }
    // In memory (a large body, or a tunnel's data), or no body at all.
    match (framing, response.body().as_bytes()) {
        (Framing::NoBody(_), _) | (_, None) => Ok((0, close)),
        (_, Some(bytes)) => {
            conn.write_through(bytes)?;
            Ok((bytes.len() as u64, close))
        }
    }
}

/// The head of a streamed response, held back until the body produces its
/// first bytes (or ends without any): the body may be the request's own,
/// whose reads flush what is buffered (answers pipelined before it, a `100
/// Continue`) before they wait for the client; a body that fails before
/// any byte (a 408, a 413) can then still be answered with its status.
/// Written when released, so a shutdown that began meanwhile makes it say
/// `Connection: close`.
struct HeldHead<'a, T: Transport> {
    conn: &'a Rc<Connection<T>>,
    status: StatusCode,
    framing: Framing,
    close: bool,
    http10: bool,
    stopping: &'a Cell<bool>,
    /// Once written: where the head starts in the output buffer, and the
    /// flush count then (while that is unchanged, none of it has gone out).
    at: Option<(usize, u64)>,
    /// The head encoded for [`HeldHead::read_first`] and taken back unsent
    /// (the body did not wait, so nothing it says has changed), with its
    /// `close`: written as it is, not encoded again.
    encoded: Option<(Vec<u8>, bool)>,
}

impl<T: Transport> HeldHead<'_, T> {
    /// Writes the head into the output buffer, once.
    fn release(&mut self, headers: &HeaderMap) {
        if self.at.is_none() {
            let mut out = self.conn.out.borrow_mut();
            self.at = Some((out.len(), self.conn.flushes.get()));
            self.close = match self.encoded.take() {
                Some((head, close)) => {
                    out.extend_from_slice(&head);
                    close
                }
                None => self.encode(headers, &mut out),
            };
        }
    }

    /// Appends the head to `out`; returns whether the connection closes
    /// after the answer.
    fn encode(&self, headers: &HeaderMap, out: &mut Vec<u8>) -> bool {
        let close = self.close || self.stopping.get();
        encode::write_head(out, self.status, headers, self.framing, close, self.http10)
    }

    /// Reads from the app's streamed `body` while the head is still held:
    /// if the body waits (parks) before its first bytes, the head goes out
    /// then, rather than with them. A request body echoed back (which waits
    /// for the client) keeps it held, so that its failure can still be
    /// answered with its status.
    fn read_first(&mut self, headers: &HeaderMap, body: &mut Body, buf: &mut [u8]) -> io::Result<usize> {
        if self.at.is_some() || body.is_incoming() {
            return body.read(buf);
        }
        let (head, close) = self.encoded.take().unwrap_or_else(|| {
            let mut head = Vec::new();
            let close = self.encode(headers, &mut head);
            (head, close)
        });
        self.conn.send_head_if_parked(head);
        let read = panic::catch_unwind(AssertUnwindSafe(|| body.read(buf)));
        match self.conn.take_back_head() {
            TakenBack::Sent(at) => {
                self.at = Some(at);
                self.close = close;
            }
            TakenBack::Unsent(head) => self.encoded = Some((head, close)),
            TakenBack::Dropped => {}
        }
        read.unwrap_or_else(|payload| crate::hub::resume_unwind(payload))
    }
}

/// [`write_response`] for a body that streams (not in memory). Out of
/// line: in-memory answers, the common case, never come here.
#[cold]
#[inline(never)]
fn write_streamed<T: Transport>(
    response: &mut Response<Body>,
    mut head: HeldHead<'_, T>,
    scratch: &mut Vec<u8>,
) -> io::Result<(u64, bool)> {
    let conn = head.conn;
    let framing = head.framing;
    // Out of the response, so that its fields can be read while it streams.
    let mut body = std::mem::take(response.body_mut());
    let headers = response.headers();
    let streamed = match framing {
        Framing::NoBody(_) => {
            head.release(headers);
            Ok(0)
        }
        Framing::Length(n) => stream_body(&mut body, Some(n), false, scratch, &mut head, headers)?.and_then(|sent| {
            if sent < n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("guv::wsgi: the response body ended after {sent} of its {n} bytes"),
                ));
            }
            Ok(sent)
        }),
        Framing::Chunked => stream_body(&mut body, None, true, scratch, &mut head, headers)?.inspect(|_| {
            conn.out.borrow_mut().extend_from_slice(encode::LAST_CHUNK);
        }),
        Framing::UntilClose => stream_body(&mut body, None, false, scratch, &mut head, headers)?,
    };
    drop(body);
    let (close, at) = (head.close, head.at);
    // The map's allocation holds the next request's fields.
    conn.conn.borrow_mut().recycle_headers(response.headers_mut());
    match streamed {
        Ok(sent) => Ok((sent, close)),
        Err(e) => {
            // The body failed: the request body it echoes (whose error
            // says the status), or the app's own stream.
            let status = conn.body_failed.take().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let Some((at, flushes)) = at else {
                // The head was still held: nothing of the answer is out.
                log::debug!(target: "guv::wsgi", "the response body failed before its first byte ({e}): answering {status}");
                encode::write_error(&mut conn.out.borrow_mut(), status);
                *response.status_mut() = status;
                return Ok((0, true));
            };
            if conn.flushes.get() != flushes {
                // Part of the answer is out: the connection closes without
                // its end (no last chunk, or fewer bytes than its length),
                // so the client sees it cut short. A body delimited by the
                // close has no such end: what was produced goes out, then a
                // reset, never the FIN that would make it look whole.
                if framing == Framing::UntilClose {
                    let _ = conn.flush();
                    conn.reset_on_close();
                }
                return Err(e);
            }
            // None of it is out: it is taken back and the status sent.
            log::debug!(target: "guv::wsgi", "the response body failed before it was sent ({e}): answering {status}");
            let mut out = conn.out.borrow_mut();
            out.truncate(at);
            encode::write_error(&mut out, status);
            *response.status_mut() = status;
            Ok((0, true))
        }
    }
}

/// Copies a streamed body to the connection, chunked or raw, up to `limit`;
/// returns the bytes sent. The outer error is the connection's (writing
/// failed), the inner one the body's (reading it failed). The held `head`
/// goes out before the first bytes, or at the end of a body that had none;
/// not if the body fails first.
fn stream_body<T: Transport>(
    body: &mut Body,
    limit: Option<u64>,
    chunked: bool,
    scratch: &mut Vec<u8>,
    head: &mut HeldHead<'_, T>,
    headers: &HeaderMap,
) -> io::Result<io::Result<u64>> {
    let conn = head.conn;
    if scratch.is_empty() {
        scratch.resize(16 * 1024, 0);
    }
    let mut sent = 0u64;
    loop {
        // A flush in the background (of earlier chunks, or of the head)
        // failed: the connection is done, this answer too.
        if let Some(e) = conn.take_write_error() {
            return Err(e);
        }
        let want = match limit {
            Some(n) if sent >= n => {
                head.release(headers);
                return Ok(Ok(sent));
            }
            Some(n) => scratch.len().min(usize::try_from(n - sent).unwrap_or(usize::MAX)),
            None => scratch.len(),
        };
        // The body may be the request's own (an echo), which reads through
        // the connection: no borrow of it is held here.
        // The body is the app's code too: a panic in it fails the body
        // (a 500 if none of the answer is out yet), as one in the app does.
        let read = panic::catch_unwind(AssertUnwindSafe(|| head.read_first(headers, body, &mut scratch[..want])));
        let n = match read {
            Ok(Ok(0)) => {
                head.release(headers);
                return Ok(Ok(sent));
            }
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Ok(Err(e)),
            Err(payload) => {
                let msg = app_panic_message(payload);
                log::error!(target: "guv::wsgi", "the response body panicked: {msg}");
                return Ok(Err(io::Error::other(format!("guv::wsgi: the response body panicked: {msg}"))));
            }
        };
        sent += n as u64;
        head.release(headers);
        let full = {
            let mut out = conn.out.borrow_mut();
            if chunked {
                encode::write_chunk(&mut out, &scratch[..n]);
            } else {
                out.extend_from_slice(&scratch[..n]);
            }
            out.len() >= FLUSH_AT
        };
        if full {
            conn.flush()?;
        } else {
            // A body that waits for its next bytes (an event stream, a slow
            // producer) must not keep what it produced in the buffer
            // meanwhile: it goes out as soon as this greenlet lets others
            // run. A body that never waits (a file, memory) keeps the
            // batching up to 64 KiB.
            conn.flush_soon();
        }
    }
}

/// The message of a panic caught in the app's code; a kill or `Timeout` of
/// the connection's greenlet is not the app's and goes on unwinding.
fn app_panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if payload.is::<KillSignal>() || payload.is::<TimeoutSignal>() {
        crate::hub::resume_unwind(payload);
    }
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned())
}

/// Logs one request in the common log format; an unknown status is "-".
fn access_log<T: Transport>(
    peer: T::Peer,
    method: &str,
    target: &str,
    version: Version,
    status: Option<StatusCode>,
    bytes: u64,
) {
    let mut line = String::with_capacity(96);
    let date = encode::with_clock(|c| c.log_date);
    let date = std::str::from_utf8(&date).unwrap_or("-");
    T::log_host(&peer, &mut line);
    let _ = write!(line, " - - [{date}] \"{method} {target} {version:?}\" ");
    match status {
        Some(status) => {
            let _ = write!(line, "{} ", status.as_u16());
        }
        None => line.push_str("- "),
    }
    if bytes == 0 {
        line.push('-');
    } else {
        let _ = write!(line, "{bytes}");
    }
    log::info!(target: ACCESS_TARGET, "{line}");
}
