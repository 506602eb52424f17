//! One connection's greenlet: read a head, call the app, write the
//! response, drain what the app left unread, repeat. The request loop and
//! what the server shares with it (`Config`, `Flags`) are here; answering
//! an `http`-typed app (in memory or streamed) is in `respond.rs`, a raw
//! app in `respond_raw.rs`.

mod respond;
mod respond_raw;

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use http::{Request, Response, StatusCode, Version};

use super::Error;
use super::body::Body;
use super::conn::{Conn, Next};
use super::connection::{self, Connection, Leave};
use super::encode::{self, Framing};
use super::parse::{HeadInfo, Limits};
use super::raw::sealed::Sealed;
use super::raw::{RawRequest, RawResponse};
use super::transport::{Transport, WrapFn, Wrapped};
use crate::greenlet::{KillSignal, TimeoutSignal};
use crate::net::TcpStream;
use std::net::SocketAddr;

use respond::respond;
use respond_raw::{RawBuffers, respond_raw};

/// A response body of at most this many bytes is copied into the output
/// buffer (one write with the head); larger ones are written directly.
const INLINE_BODY: usize = 32 * 1024;

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
    /// Asks the connection to close by itself when it waits for a request
    /// head with nothing of one read, and says whether it will
    /// ([`Connection::close_when_idle`]): set once the connection is open,
    /// over a wrapped stream only (a plain socket has no goodbye to say, so
    /// killing its greenlet closes it just as well).
    pub(crate) close_idle: RefCell<Option<Box<dyn Fn() -> bool>>>,
}

impl Flags {
    /// Asks an idle connection to close by itself, so that a wrapped
    /// stream can say goodbye (a TLS `close_notify`) when it owes nothing
    /// and nothing of a next request has come; whether it will. If not
    /// (busy, a plain socket, a head begun, still in the `wrap_stream`
    /// hook), the worker kills it.
    pub(crate) fn close_gracefully(&self) -> bool {
        !self.busy.get() && self.close_idle.borrow().as_ref().is_some_and(|ask| ask())
    }
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
    let conn = Rc::new(Connection::new(
        stream,
        Conn::new(cfg.limits, cfg.max_body, cfg.max_drain),
        cfg.body_timeout,
        cfg.send_timeout,
        flags.going_away.clone(),
    ));
    if T::BUFFERED {
        let weak = Rc::downgrade(&conn);
        *flags.close_idle.borrow_mut() = Some(Box::new(move || weak.upgrade().is_some_and(|c| c.close_when_idle())));
    }
    conn
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
        match flushed.and_then(|()| conn.fill()) {
            Ok(_) => {}
            Err(e) if T::BUFFERED && Leave::is(&e) => {
                close_idle(conn, peer, flags);
                return None;
            }
            Err(e) => {
                log::debug!(target: "guv::wsgi", "{peer}: {e}");
                return None;
            }
        }
    };
    flags.head_since.set(NOT_WAITING);
    Some(head)
}

/// Closes a connection that the server asked to leave while it waited
/// for a request head (a shutdown began, or the header timeout ran out;
/// see [`Connection::close_when_idle`]). It owes nothing: if nothing of a
/// next head has come either, the close is as clean as one the client
/// asked for, and the wrapped stream says goodbye (within the send
/// timeout). A head begun is not taken up (a shutdown answers only what
/// the app took up before it; the header timeout cuts a slow head) and
/// gets no goodbye: the exchange was cut in the middle of a request, and
/// the client must not see an orderly end of a session that dropped it.
/// No lingering read: the client sent nothing left unread, and a client
/// that keeps idle connections without reading them would hold the close
/// (and a shutdown) up to the linger's bound.
#[cold]
#[inline(never)]
fn close_idle<T: Transport>(conn: &Connection<T>, peer: T::Peer, flags: &Flags) {
    flags.head_since.set(NOT_WAITING);
    if conn.nothing_came() {
        conn.goodbye();
    } else {
        log::debug!(target: "guv::wsgi", "{peer}: closed with a request head begun");
    }
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
