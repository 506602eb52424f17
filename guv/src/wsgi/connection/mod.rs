//! The I/O half of a connection: the green socket, the protocol state
//! ([`Conn`]) and the output buffer, shared by the connection's greenlet and
//! the request body it hands to the app. Reading and closing are here;
//! writing (flushes that take turns, the helpers that flush in the
//! background, direct writes) is in `write.rs`.
//!
//! No `RefCell` borrow is held across a park: reads try the socket without
//! blocking under the borrow and wait for readiness after releasing it, and
//! a flush takes the output buffer out of its cell before it writes (see
//! [`Connection::flush`]).

mod write;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::conn::{BodyRead, Conn};
use super::transport::Transport;
use crate::{Interest, Semaphore};

/// The line sent before reading a body the client held back with
/// `Expect: 100-continue`.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The output buffer's starting capacity.
const INITIAL_OUT: usize = 4096;

/// What became of a head armed with [`Connection::send_head_if_parked`].
pub(crate) enum TakenBack {
    /// Sent: its place in the output buffer, and the flush count then.
    Sent((usize, u64)),
    /// Not sent: the head, for the caller to write.
    Unsent(Vec<u8>),
    /// Not sent and gone (no greenlet could be started to send it): the
    /// caller encodes it again.
    Dropped,
}

/// Where [`Connection::send_head_if_parked`] stands.
enum ParkedHead {
    Idle,
    /// Armed: the head goes out if the writer parks first.
    Waiting(Vec<u8>),
    /// Sent: its place in the output buffer, and the flush count then.
    Sent {
        at: usize,
        flushes: u64,
    },
}

pub(crate) struct Connection<T> {
    pub(crate) stream: T,
    pub(crate) conn: RefCell<Conn>,
    /// Bytes waiting to be written. Appended to under short borrows; a
    /// flush moves them out before it writes.
    pub(crate) out: RefCell<Vec<u8>>,
    /// One permit: the right to write to the socket. Held for a whole flush
    /// (and a direct write after it), so that the bytes of two greenlets
    /// never interleave on the wire; others wait their turn in order.
    turn: Semaphore,
    /// A body error the app ran into (chunk syntax, size limit): the server
    /// answers with this status instead of the app's response.
    pub(crate) body_failed: Cell<Option<StatusCode>>,
    /// Taken over by an upgrade (WebSocket): the server writes nothing more.
    pub(crate) upgraded: Cell<bool>,
    /// Counts the flushes that took bytes from `out` to write: while it is
    /// unchanged, whatever was appended since is all still in `out`, after
    /// what was there (a response that failed before any of it went out
    /// can be taken back).
    pub(crate) flushes: Cell<u64>,
    /// The first bytes an app wrote on the connection after taking it over
    /// (at most [`Connection::WRITTEN_PREFIX`]), for the access log's
    /// status: what was answered, not what an upgrade usually answers.
    pub(crate) upgrade_written: RefCell<Vec<u8>>,
    /// Raised when the last [`super::Upgraded`] handle of a taken-over
    /// connection is dropped; the connection's greenlet waits for it.
    pub(crate) released: RefCell<Option<crate::Event>>,
    /// A greenlet that flushes once the writer lets others run is
    /// scheduled ([`Connection::flush_soon`]).
    flush_soon: Cell<bool>,
    /// A streamed answer's head, encoded, that goes out if its body waits
    /// before its first bytes ([`Connection::send_head_if_parked`]).
    parked_head: RefCell<ParkedHead>,
    /// The greenlet that sends `parked_head` is scheduled and has not run.
    head_sender: Cell<bool>,
    /// How a flush made by one of those two helpers failed, for the
    /// streaming greenlet to end its answer with ([`Connection::take_write_error`]).
    helper_error: RefCell<Option<io::Error>>,
    /// How long a read of the request body waits for the client
    /// ([`super::Server::body_timeout`]).
    body_timeout: Option<Duration>,
    /// How long a write waits for the client to take more
    /// ([`super::Server::send_timeout`]).
    send_timeout: Option<Duration>,
    /// What the server tells the connection about its shutdown (shared
    /// with [`super::handler::Flags::going_away`]).
    pub(crate) going_away: Rc<GoingAway>,
    /// The server asked the connection, while it waited for a request
    /// head, to close by itself ([`Connection::close_when_idle`]): its
    /// next wait for input ends with [`Leave`] instead.
    leaving: Cell<bool>,
    /// The protocol that took the connection over (a WebSocket) ended
    /// cleanly and has not said goodbye yet: the connection's greenlet
    /// does, before it shuts the socket down
    /// ([`Connection::protocol_ended`]).
    pub(crate) clean_end: Cell<bool>,
}

/// The error a wait for input ends with once the server asked the
/// connection to close while it waited for a request head
/// ([`Connection::close_when_idle`]).
#[derive(Debug)]
pub(crate) struct Leave;

impl std::fmt::Display for Leave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("guv::wsgi: the server closes this idle connection")
    }
}

impl std::error::Error for Leave {}

impl Leave {
    /// Whether `e` is [`Leave`].
    pub(crate) fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<Leave>())
    }
}

/// What a server's shutdown tells a connection, shared by the server's
/// table of connections and the connection itself (and so the
/// [`super::Upgraded`] handles of one taken over): the WebSocket on it
/// says 1001 (going away) when the shutdown begins, and again if the kill
/// at the deadline drops it before its closing handshake.
#[derive(Default)]
pub(crate) struct GoingAway {
    /// The shutdown deadline passed: the connection's greenlet is about
    /// to be killed.
    pub(crate) killed: Cell<bool>,
    /// A graceful shutdown has begun.
    began: Cell<bool>,
    /// Called once when a graceful shutdown begins (registered by what
    /// took the connection over). It runs on the worker's own greenlet,
    /// so it must not park.
    notice: RefCell<Option<Box<dyn FnOnce()>>>,
}

impl GoingAway {
    /// Has `notice` called when a graceful shutdown begins: at once if it
    /// has begun already.
    pub(crate) fn on_shutdown(&self, notice: Box<dyn FnOnce()>) {
        if self.began.get() {
            notice();
        } else {
            *self.notice.borrow_mut() = Some(notice);
        }
    }

    /// A graceful shutdown has begun: calls the notice registered, if any
    /// (a panic in it is reported by the hook and ends here: it must not
    /// stop the shutdown of the other connections).
    pub(crate) fn shutdown_began(&self) {
        self.began.set(true);
        let notice = self.notice.borrow_mut().take();
        if let Some(notice) = notice {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(notice));
        }
    }
}

/// A request body read after the server has moved past its request.
#[cold]
fn read_too_late() -> io::Error {
    io::Error::other("guv::wsgi: the request body was read after its response was sent")
}

fn busy() -> io::Error {
    io::Error::other("guv::wsgi: the connection is in use by another greenlet")
}

impl<T: Transport> Connection<T> {
    pub(crate) fn new(
        stream: T,
        conn: Conn,
        body_timeout: Option<Duration>,
        send_timeout: Option<Duration>,
        going_away: Rc<GoingAway>,
    ) -> Connection<T> {
        Connection {
            stream,
            conn: RefCell::new(conn),
            out: RefCell::new(Vec::with_capacity(INITIAL_OUT)),
            turn: Semaphore::new(1),
            body_failed: Cell::new(None),
            upgraded: Cell::new(false),
            flushes: Cell::new(0),
            upgrade_written: RefCell::new(Vec::new()),
            flush_soon: Cell::new(false),
            parked_head: RefCell::new(ParkedHead::Idle),
            head_sender: Cell::new(false),
            helper_error: RefCell::new(None),
            released: RefCell::new(None),
            body_timeout,
            send_timeout,
            going_away,
            leaving: Cell::new(false),
            clean_end: Cell::new(false),
        }
    }
    /// How many of the first bytes written through an upgrade are kept:
    /// a status line's `HTTP/1.1 101`.
    pub(crate) const WRITTEN_PREFIX: usize = 12;

    /// Notes bytes an app wrote after taking the connection over (only the
    /// first few are kept; later writes cost one comparison).
    pub(crate) fn note_upgrade_write(&self, bytes: &[u8]) {
        let mut kept = self.upgrade_written.borrow_mut();
        let room = Self::WRITTEN_PREFIX.saturating_sub(kept.len());
        if room > 0 {
            kept.extend_from_slice(&bytes[..room.min(bytes.len())]);
        }
    }

    /// The status of the answer an app wrote after taking the connection
    /// over, if what it wrote began with an HTTP/1.x status line.
    pub(crate) fn upgrade_status(&self) -> Option<http::StatusCode> {
        let kept = self.upgrade_written.borrow();
        match kept.as_slice() {
            [b'H', b'T', b'T', b'P', b'/', b'1', b'.', _, b' ', code @ ..] if code.len() == 3 => {
                http::StatusCode::from_bytes(code).ok()
            }
            _ => None,
        }
    }
    /// Reads once from the socket into the input buffer, parking until data
    /// comes; returns the bytes read, 0 at end of input.
    ///
    /// After a read that drained the socket, the next call parks for the
    /// next readiness edge at once when nothing can have arrived since (the
    /// hub has not polled, and no hang-up was reported), saving a read that
    /// would only say `WouldBlock`: on a keep-alive connection that is one
    /// system call per request.
    pub(crate) fn fill(&self) -> io::Result<usize> {
        self.fill_within(None)
    }

    /// [`Connection::fill`], failing with `TimedOut` if nothing comes for
    /// `timeout`.
    fn fill_within(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let mut deadline = None;
        loop {
            // Only a wrapped stream is ever asked to leave (a constant:
            // nothing for a plain socket).
            if T::BUFFERED && self.leaving.get() {
                return Err(io::Error::other(Leave));
            }
            if !self.stream.read_would_block() {
                let mut conn = self.conn.try_borrow_mut().map_err(|_| busy())?;
                let space = conn.space();
                let want = space.len();
                if want == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "guv::wsgi: input buffer full"));
                }
                match self.stream.try_read(space) {
                    Ok(n) => {
                        conn.filled(n);
                        if n < want {
                            self.stream.mark_drained();
                        }
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if deadline.is_none() {
                deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            }
            self.stream.wait_ready(Interest::READABLE, deadline)?;
        }
    }

    /// Reads the body of request `seq` (see [`super::Body`]).
    pub(crate) fn read_body(&self, seq: u64, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let send_continue = {
                let mut conn = self.conn.try_borrow_mut().map_err(|_| busy())?;
                if conn.seq() != seq || self.upgraded.get() {
                    return Err(read_too_late());
                }
                if conn.take_continue() {
                    true
                } else {
                    match conn.read_body(buf) {
                        Ok(BodyRead::Data(n)) => return Ok(n),
                        Ok(BodyRead::End) => return Ok(0),
                        // The server has answered and moved on (draining
                        // the rest, or waiting for the next head).
                        Ok(BodyRead::Over) => return Err(read_too_late()),
                        Ok(BodyRead::NeedInput) => false,
                        Err(e) => {
                            self.body_failed.set(Some(e.status()));
                            return Err(e.into());
                        }
                    }
                }
            };
            if send_continue {
                self.out.try_borrow_mut().map_err(|_| busy())?.extend_from_slice(CONTINUE);
            }
            // Answers to earlier pipelined requests and the 100 go out
            // before this greenlet waits for the client.
            self.flush()?;
            if !send_continue {
                match self.fill_within(self.body_timeout) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                        // The client stopped sending its body (a slow-body
                        // attack, or a client that went away): 408 — unless
                        // this greenlet waited past its request (one the app
                        // spawned), which must not answer the next one.
                        if self.conn.try_borrow().is_ok_and(|c| c.seq() == seq) {
                            self.body_failed.set(Some(StatusCode::REQUEST_TIMEOUT));
                        }
                        let waited = self.body_timeout.unwrap_or_default();
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("guv::wsgi: no request body bytes came for {waited:?}"),
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Makes the coming close a reset: for a response whose end the
    /// client could not otherwise tell from a cut (a body delimited by the
    /// close). A reset drops what the socket still holds, so this first
    /// waits until the client has acknowledged all that was written, or
    /// has taken none of it for [`Connection::SENT_PATIENCE`] (a client that
    /// stopped reading). Killed meanwhile, the close still resets.
    pub(crate) fn reset_on_close(&self) {
        if let Err(e) = crate::net::sys::reset_on_close(self.stream.socket_fd()) {
            log::debug!(target: "guv::wsgi", "cannot set SO_LINGER to reset the connection: {e}");
            return;
        }
        // No readiness event tells that the peer has everything: poll.
        let mut last = usize::MAX;
        let mut stalled = Duration::ZERO;
        let mut pause = Duration::from_millis(1);
        while let Ok(left) = crate::net::sys::unacknowledged(self.stream.socket_fd()) {
            if left == 0 {
                return;
            }
            if left < last {
                (last, stalled) = (left, Duration::ZERO);
            } else if stalled >= Self::SENT_PATIENCE {
                return;
            }
            crate::sleep(pause);
            stalled += pause;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// How long [`Connection::reset_on_close`] waits for a client that
    /// takes none of the response's last bytes.
    const SENT_PATIENCE: Duration = Duration::from_secs(5);

    /// Called when the connection's greenlet is done with it (it returned,
    /// or unwinds from a kill): if other greenlets still hold it — the one
    /// that sends a parked head ([`Connection::send_head_if_parked`]) or
    /// flushes soon ([`Connection::flush_soon`]), or one of the app's with
    /// the request body — the socket's registration with the hub is
    /// released, so any of them parked on the socket (a flush waiting for
    /// a client that stopped reading) wakes with `NotConnected` and every
    /// later wait fails at once. They then let go of the connection and the
    /// socket closes now, not when the send timeout ends their wait. A
    /// connection taken over (upgraded) is left to its own ending.
    pub(crate) fn done(self: &Rc<Self>) {
        if Rc::strong_count(self) > 1 && !self.upgraded.get() {
            crate::io::notify_close(self.stream.socket_fd());
        }
    }

    /// Asks the connection's greenlet to close by itself, gracefully, if
    /// it is waiting for a request head with nothing of one read: the
    /// server's shutdown begins, or the header timeout ran out. Returns
    /// whether it will (already asked counts); if not, the caller kills it.
    ///
    /// Runs on another greenlet (the worker's), while the connection's
    /// greenlet is parked or ready: idle (`Idle`, nothing buffered, no end
    /// of input, not taken over) and not busy, which the caller checks,
    /// the connection is parked in the read of `read_head` (or about to
    /// return from it), since every other park in that state is busy. Its
    /// readers are woken, and its wait for input ends with [`Leave`]; the
    /// greenlet then says goodbye if nothing of a head has come meanwhile
    /// (see `handler::close_idle`).
    pub(crate) fn close_when_idle(&self) -> bool {
        if self.leaving.get() {
            return true;
        }
        let idle = !self.upgraded.get()
            && self.conn.try_borrow().is_ok_and(|c| c.is_idle() && !c.has_buffered() && !c.is_eof());
        if idle {
            self.leaving.set(true);
            self.stream.wake_readers();
        }
        idle
    }

    /// For a connection leaving while it waited for a request head
    /// ([`Connection::close_when_idle`]): whether nothing of one has come
    /// — none is buffered, and one read of the stream finds nothing (or
    /// the end of input). Bytes read are kept (they are not answered).
    pub(crate) fn nothing_came(&self) -> bool {
        let Ok(mut conn) = self.conn.try_borrow_mut() else { return false };
        if conn.has_buffered() {
            return false;
        }
        let space = conn.space();
        if space.is_empty() {
            return false;
        }
        match self.stream.try_read(space) {
            Ok(n) => {
                conn.filled(n);
                n == 0
            }
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }

    /// Lets a wrapped stream end its own protocol before the connection
    /// closes gracefully: its close hook queues the goodbye (a TLS
    /// `close_notify`), which is then pushed out, waiting for the client
    /// within the send timeout. Called only once every answer is out in
    /// full (never after a failed write or a cut answer: a goodbye would
    /// make a cut close-delimited body look whole). Nothing for a plain
    /// socket.
    pub(crate) fn goodbye(&self) {
        if !T::BUFFERED {
            return;
        }
        let said = self.stream.goodbye().and_then(|()| self.push_stream());
        if let Err(e) = said {
            log::debug!(target: "guv::wsgi", "the wrapped stream's goodbye failed: {e}");
        }
    }

    /// What took the connection over says its protocol ended cleanly
    /// (a WebSocket whose closing frame went out whole): a wrapped stream
    /// may now say goodbye too. Normally the connection's greenlet does,
    /// once the last [`super::Upgraded`] handle is gone and before it shuts
    /// the socket down (`wait_released`), pushing it out within the send
    /// timeout. During an unwinding (the shutdown's deadline killed the
    /// handler, which is not coming back to `wait_released`) it is said
    /// here and now, without parking ([`Connection::goodbye_now`]).
    /// Nothing for a plain socket.
    pub(crate) fn protocol_ended(&self) {
        if !T::BUFFERED {
            return;
        }
        if crate::hub::panicking() {
            self.goodbye_now();
        } else {
            self.clean_end.set(true);
        }
    }

    /// [`Connection::goodbye`] for a greenlet that must not park (it
    /// unwinds from a kill): the close hook runs under a zero timeout (one
    /// that parks is cut at its first park) with its panics caught (one
    /// escaping a destructor during an unwinding would abort), then the
    /// stream is flushed as far as the socket takes it now.
    pub(crate) fn goodbye_now(&self) {
        if !T::BUFFERED {
            return;
        }
        let said = crate::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::with_timeout(Duration::ZERO, || self.stream.goodbye().and_then(|()| self.stream.try_flush()))
        }));
        match said {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => log::debug!(target: "guv::wsgi", "the wrapped stream's goodbye failed: {e}"),
            Ok(Err(_)) => log::debug!(target: "guv::wsgi", "the wrapped stream's close hook parked; no goodbye"),
            Err(_) => log::debug!(target: "guv::wsgi", "the wrapped stream's close hook panicked; no goodbye"),
        }
    }

    /// Closes the write side and reads (discarding) what the client still
    /// sends, for a bounded time, so that closing with unread input does not
    /// reset the connection before the client has read the response.
    pub(crate) fn linger(&self) {
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let deadline = Instant::now().checked_add(Duration::from_secs(2));
        let mut scratch = [0u8; 4096];
        for _ in 0..64 {
            // From the socket itself: whatever layer a wrapped stream adds,
            // these bytes are thrown away.
            match self.stream.try_read_socket(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.stream.wait_ready(Interest::READABLE, deadline).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}
