//! Answering an `http`-typed app: the call, then its `Response` written
//! out, in memory or streamed with its head held back until the body's
//! first bytes.

use std::cell::Cell;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode, Version};

use super::{
    ACCESS_TARGET, Config, Flags, INLINE_BODY, RequestInfo, Responded, access_log, app_panic_message, framing_for,
};
use crate::wsgi::body::Body;
use crate::wsgi::connection::{self, Connection, TakenBack};
use crate::wsgi::encode::{self, Framing};
use crate::wsgi::parse::{BodyLength, HeadInfo};
use crate::wsgi::transport::Transport;
use crate::wsgi::upgrade;

/// The output buffer is written out when it grows past this while a body
/// streams.
const FLUSH_AT: usize = 64 * 1024;

#[allow(clippy::too_many_arguments)]
pub(super) fn respond<T: Transport>(
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

/// Keeps a taken-over connection (and its pool slot) until the last
/// [`Upgraded`](crate::wsgi::Upgraded) handle is dropped. However it ends —
/// released, or killed by the server's shutdown — the socket is shut down
/// both ways, so handles still held elsewhere see end of input and failing
/// writes. If the protocol that took it over ended cleanly (a WebSocket
/// whose closing frame went out whole), a wrapped stream says goodbye
/// first: pushed out within the send timeout once released, or as far as
/// the socket takes it at once when killed.
fn wait_released<T: Transport>(conn: &Connection<T>) {
    struct ShutDown<'a, T: Transport>(&'a Connection<T>);
    impl<T: Transport> Drop for ShutDown<'_, T> {
        fn drop(&mut self) {
            if self.0.clean_end.take() {
                self.0.goodbye_now();
            }
            let _ = self.0.stream.shutdown(std::net::Shutdown::Both);
        }
    }
    let _shut = ShutDown(conn);
    let released = conn.released.borrow_mut().take();
    if let Some(released) = released {
        released.wait();
    }
    if conn.clean_end.take() {
        conn.goodbye();
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
