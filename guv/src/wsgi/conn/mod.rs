//! One connection's protocol state, without I/O: bytes go in through
//! [`Conn::space`] / [`Conn::filled`], requests and body bytes come out,
//! and every change of state is a named transition.
//!
//! ```text
//!            parse_head (no body)
//!   Idle ───────────────────────────► Responding
//!    │  parse_head (body)                  ▲
//!    └──────────────► Body ──read_body─────┘ (body read to its end)
//!                      │ finish_request (body left over) ─► Drain ─► Idle
//!   Responding ── finish_request ─► Idle, or Closed when either side asked
//! ```

use http::{HeaderMap, Request};

use super::Error;
use super::chunked::ChunkedDecoder;
use super::parse::{
    BodyLength, FieldCache, HeadInfo, Limits, Parse, check_partial, parse_raw_into, parse_request_into,
};
use super::raw::RawHead;

/// The input buffer's starting size; it grows up to the head limit.
const INITIAL_BUFFER: usize = 8 * 1024;

/// An input buffer grown past this (by a large head) is replaced by a new
/// [`INITIAL_BUFFER`] once it is empty. Above the size that batches of
/// pipelined requests reach, so they do not pay for it every time.
const MAX_KEPT_BUFFER: usize = 32 * 1024;

/// A header map handed back for reuse is kept only if it holds at most
/// this many fields without growing, and at most this many values, so that
/// one large message does not pin memory for the connection's life.
const MAX_RECYCLED_HEADERS: usize = 48;

/// Where a connection is between requests.
#[derive(Debug)]
pub(crate) enum State {
    /// Waiting for a request head (the buffer may hold part of one).
    Idle,
    /// The app has a request whose body is not read to its end yet.
    Body(BodyState),
    /// The request body is consumed; the response is being written.
    Responding,
    /// The response is written; the rest of the body is being discarded
    /// before the next request, at most `budget` more bytes.
    Drain { body: BodyState, budget: u64 },
    /// No further request will be read.
    Closed,
}

/// What is left of a request body.
#[derive(Debug)]
pub(crate) enum BodyState {
    /// This many bytes.
    Length(u64),
    /// A chunked body, up to its last chunk.
    Chunked(ChunkedDecoder),
}

/// The `Expect: 100-continue` handshake of the current request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continue {
    /// Not asked for, or already answered.
    No,
    /// Asked for; sent the first time the app reads the body, or just
    /// before a final head whose body streams (see [`Conn::final_head`]).
    Pending,
    /// Asked for and not answered: the app answered without reading the
    /// body, so the client may or may not send it, and the server cannot
    /// tell the body from the next request. The connection closes. No
    /// `100` is sent any more, even if the body is read.
    Refused,
}

/// The outcome of [`Conn::read_body`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyRead {
    /// This many body bytes were copied out.
    Data(usize),
    /// The buffer holds no more of the body: read from the socket.
    NeedInput,
    /// The body is complete.
    End,
    /// The request is over (its answer was written, or the connection
    /// failed or closed) and its body was not read to its end: what is
    /// left of it is being discarded, or never comes.
    Over,
}

/// What the driver does after a response (see [`Conn::finish_request`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next request.
    ReadHead,
    /// Discard the rest of the body first ([`Conn::drain`]).
    Drain,
    /// Close the connection.
    Close,
}

/// A connection's protocol state and input buffer.
#[derive(Debug)]
pub(crate) struct Conn {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    state: State,
    limits: Limits,
    max_body: u64,
    max_drain: u64,
    /// The current request keeps the connection open.
    keep_alive: bool,
    expect: Continue,
    /// Body bytes handed out for the current request.
    body_read: u64,
    /// The peer closed its side.
    eof: bool,
    /// Counts requests; a request body only reads while it matches.
    seq: u64,
    /// In `Idle`: how many buffered bytes (from `start`) are known to hold
    /// no blank line, so a head arriving in pieces is scanned once, not
    /// re-parsed from its start on every read.
    scanned: usize,
    /// The header map the next request head is parsed into (see
    /// [`Conn::recycle_headers`]); it gets the empty map of the parsed
    /// request in exchange.
    spare_headers: HeaderMap,
    /// The last request's header fields, for the next one to reuse.
    fields: FieldCache,
}

impl Conn {
    pub(crate) fn new(limits: Limits, max_body: u64, max_drain: u64) -> Conn {
        Conn {
            buf: Vec::new(),
            start: 0,
            end: 0,
            state: State::Idle,
            limits,
            max_body,
            max_drain,
            keep_alive: false,
            expect: Continue::No,
            body_read: 0,
            eof: false,
            seq: 0,
            scanned: 0,
            spare_headers: HeaderMap::new(),
            fields: FieldCache::default(),
        }
    }

    /// Takes the map in `headers` (a response's, once written) to hold
    /// the next request's fields, if it has more room than the one kept,
    /// leaving that one in exchange: the allocation is reused instead of a
    /// new map being built per request.
    ///
    /// What is kept is bounded by [`MAX_RECYCLED_HEADERS`] twice over:
    /// `capacity()` counts the field table only, not the values of repeated
    /// fields (a response with five names and ten thousand `Set-Cookie`s
    /// has a small one), so `len()`, which counts every value, must be
    /// under it too. The kept map is cleared at once, so the response's
    /// values do not live on with an idle connection. (Room left behind by
    /// values the app removed before answering is not visible through
    /// `HeaderMap`, so it is not bounded.)
    #[inline(always)]
    pub(crate) fn recycle_headers(&mut self, headers: &mut HeaderMap) {
        let room = headers.capacity();
        if room <= MAX_RECYCLED_HEADERS && headers.len() <= MAX_RECYCLED_HEADERS && room > self.spare_headers.capacity()
        {
            std::mem::swap(&mut self.spare_headers, headers);
            self.spare_headers.clear();
        }
    }

    /// The current request's number.
    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether unparsed bytes are buffered (a pipelined request, say).
    #[inline]
    pub(crate) fn has_buffered(&self) -> bool {
        self.start < self.end
    }

    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Whether the current request's body has bytes the app has not read.
    pub(crate) fn body_unread(&self) -> bool {
        matches!(self.state, State::Body(_))
    }

    // ----- input ----------------------------------------------------------

    /// Free space to read into (compacting or growing the buffer), or an
    /// empty slice if the buffer is at its limit.
    #[inline]
    pub(crate) fn space(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let cap = (self.limits.max_head + 1).max(INITIAL_BUFFER);
                let len = (self.buf.len() * 2).clamp(INITIAL_BUFFER, cap);
                self.buf.resize(len, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records `n` bytes read into [`Conn::space`]; 0 means end of input.
    #[inline]
    pub(crate) fn filled(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
    }

    /// Whether the peer has closed its side.
    #[inline]
    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    /// Moves buffered bytes out (for a connection taken over by an
    /// upgrade); returns how many.
    pub(crate) fn take_buffered(&mut self, out: &mut [u8]) -> usize {
        let n = (self.end - self.start).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        n
    }

    // ----- transitions ----------------------------------------------------

    /// `Idle → Body | Responding`: parses the next request head from the
    /// buffer. `Ok(None)`: more input is needed. An error leaves the
    /// connection `Closed`; the caller answers it with the error's status.
    /// The request goes into `request`, which must be fresh from
    /// `Request::new` (see [`parse_request_into`]).
    pub(crate) fn parse_head<B>(&mut self, request: &mut Request<B>) -> Result<Option<HeadInfo>, Error> {
        self.parse_with(|input, limits, spare, fields| parse_request_into(input, limits, spare, Some(fields), request))
    }

    /// [`Conn::parse_head`] for a raw app: the head is copied into `head`.
    pub(crate) fn parse_raw_head(&mut self, head: &mut RawHead) -> Result<Option<HeadInfo>, Error> {
        self.parse_with(|input, limits, _, _| parse_raw_into(input, limits, head))
    }

    /// The transition of [`Conn::parse_head`], with `parse` for the parser.
    #[inline(always)]
    fn parse_with(
        &mut self,
        parse: impl FnOnce(&[u8], &Limits, &mut HeaderMap, &mut FieldCache) -> Result<Parse<HeadInfo>, Error>,
    ) -> Result<Option<HeadInfo>, Error> {
        debug_assert!(matches!(self.state, State::Idle), "parse_head in {:?}", self.state);
        let input = &self.buf[self.start..self.end];
        // A head ends with a blank line; until one has arrived only the
        // size limits can fail, and only the new bytes need a look (from
        // two back: a line end may have been cut after its LF or CR). A
        // buffer that ends in one (a whole request, or several pipelined)
        // needs no scan: the parser finds the first head's end itself.
        let complete = input.ends_with(b"\n\r\n") || input.ends_with(b"\n\n");
        let parsed = if complete || has_blank_line(input, self.scanned.saturating_sub(2)) {
            #[cfg(test)]
            tests::PARSES.with(|n| n.set(n.get() + 1));
            parse(input, &self.limits, &mut self.spare_headers, &mut self.fields)
        } else {
            check_partial(input, &self.limits).map(|()| Parse::Partial)
        };
        match parsed {
            Ok(Parse::Complete(head, used)) => {
                let body = match head.body {
                    BodyLength::Known(n) if n > self.max_body => {
                        self.state = State::Closed;
                        return Err(Error::body_too_large());
                    }
                    BodyLength::Known(0) => None,
                    BodyLength::Known(n) => Some(BodyState::Length(n)),
                    BodyLength::Chunked => Some(BodyState::Chunked(ChunkedDecoder::new())),
                };
                self.start += used;
                if self.start == self.end && self.buf.len() > MAX_KEPT_BUFFER {
                    // Grown for a large head, and empty now: the connection
                    // does not keep that memory while it waits.
                    self.buf = vec![0; INITIAL_BUFFER];
                    (self.start, self.end) = (0, 0);
                }
                self.scanned = 0;
                self.seq += 1;
                self.keep_alive = head.keep_alive;
                self.body_read = 0;
                self.expect = if head.expect_continue && body.is_some() { Continue::Pending } else { Continue::No };
                self.state = match body {
                    Some(body) => State::Body(body),
                    None => State::Responding,
                };
                Ok(Some(head))
            }
            Ok(Parse::Partial) => {
                self.scanned = self.end - self.start;
                if self.eof && self.has_buffered() {
                    self.state = State::Closed;
                    return Err(Error::syntax("the connection closed in the middle of a request head"));
                }
                Ok(None)
            }
            Err(e) => {
                self.state = State::Closed;
                Err(e)
            }
        }
    }

    /// The final response head is about to be written: a `100 Continue`
    /// still pending may only go before it, never after. Returns whether
    /// to write it now (it is marked sent): when the response body streams
    /// (`streamed`), since that stream may be the request's own body, read
    /// while the response is written; a body left unread after that is
    /// on its way and is drained like any other. Otherwise it is refused:
    /// a body read later (by a greenlet the app spawned) gets no `100`, and
    /// the connection closes after the response.
    pub(crate) fn final_head(&mut self, streamed: bool) -> bool {
        if self.expect != Continue::Pending {
            return false;
        }
        self.expect = if streamed { Continue::No } else { Continue::Refused };
        streamed
    }

    /// Whether a `100 Continue` must be sent before the body is read; the
    /// first call that says yes marks it sent.
    #[inline]
    pub(crate) fn take_continue(&mut self) -> bool {
        let pending = self.expect == Continue::Pending;
        if pending {
            self.expect = Continue::No;
        }
        pending
    }

    /// `Body → Responding` once the body ends: copies buffered body bytes
    /// into `out`. A chunked body over the size limit is an error (413)
    /// and leaves the connection `Closed`.
    pub(crate) fn read_body(&mut self, out: &mut [u8]) -> Result<BodyRead, Error> {
        let State::Body(body) = &mut self.state else {
            // Only a body read to its end has moved on to `Responding`;
            // past that, a reader that has not seen the end must not take
            // the cut for one.
            return Ok(if matches!(self.state, State::Responding) { BodyRead::End } else { BodyRead::Over });
        };
        if out.is_empty() {
            return Ok(BodyRead::Data(0));
        }
        let input = &self.buf[self.start..self.end];
        let (used, n, done) = match body {
            BodyState::Length(left) => {
                let n = input.len().min(out.len()).min(usize::try_from(*left).unwrap_or(usize::MAX));
                out[..n].copy_from_slice(&input[..n]);
                *left -= n as u64;
                (n, n, *left == 0)
            }
            BodyState::Chunked(dec) => match dec.decode(input, out) {
                Ok((used, n)) => (used, n, dec.is_done()),
                Err(e) => {
                    self.state = State::Closed;
                    return Err(e);
                }
            },
        };
        self.start += used;
        self.body_read += n as u64;
        if self.body_read > self.max_body {
            self.state = State::Closed;
            return Err(Error::body_too_large());
        }
        if done {
            self.state = State::Responding;
        }
        if n > 0 {
            return Ok(BodyRead::Data(n));
        }
        if done {
            return Ok(BodyRead::End);
        }
        if self.eof {
            self.state = State::Closed;
            return Err(Error::syntax("the connection closed in the middle of a request body"));
        }
        Ok(BodyRead::NeedInput)
    }

    /// Whether the connection will stay open after the current response,
    /// as far as the request is concerned: the client asked for keep-alive,
    /// and any unread body can be drained. Asked once the final head is
    /// settled ([`Conn::final_head`]): a body held back for a `100` that
    /// never went out cannot be drained (it may never come), while one
    /// whose `100` was sent is drained like any other.
    pub(crate) fn can_keep_alive(&self) -> bool {
        if !self.keep_alive || self.expect != Continue::No {
            return false;
        }
        match &self.state {
            State::Responding => true,
            State::Body(BodyState::Length(left)) => *left <= self.max_drain,
            State::Body(BodyState::Chunked(_)) => true,
            _ => false,
        }
    }

    /// `Responding → Idle`, `Body → Drain` or `→ Closed` after a response
    /// was written; `close` says the response itself ends the connection.
    pub(crate) fn finish_request(&mut self, close: bool) -> Next {
        if self.expect == Continue::Pending {
            self.expect = Continue::Refused;
        }
        let keep = !close && self.keep_alive && self.expect != Continue::Refused && !self.eof;
        if keep && matches!(self.state, State::Responding) {
            // The commonest case, without moving the state out.
            self.state = State::Idle;
            return Next::ReadHead;
        }
        let state = std::mem::replace(&mut self.state, State::Closed);
        match state {
            State::Responding if keep => {
                self.state = State::Idle;
                Next::ReadHead
            }
            State::Body(body) if keep => {
                self.state = State::Drain { body, budget: self.max_drain };
                Next::Drain
            }
            _ => Next::Close,
        }
    }

    /// In `Drain`: discards buffered body bytes. `Ok(true)`: the body is
    /// gone and the connection is `Idle`; `Ok(false)`: more input is needed.
    /// Over the drain budget the connection is `Closed` (an error).
    pub(crate) fn drain(&mut self) -> Result<bool, Error> {
        let State::Drain { body, budget } = &mut self.state else {
            return Ok(self.is_idle());
        };
        let mut scratch = [0u8; 512];
        loop {
            let input = &self.buf[self.start..self.end];
            let (used, n, done) = match body {
                BodyState::Length(left) => {
                    let n = input.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= n as u64;
                    (n, n, *left == 0)
                }
                BodyState::Chunked(dec) => match dec.decode(input, &mut scratch) {
                    Ok((used, n)) => (used, n, dec.is_done()),
                    Err(e) => {
                        self.state = State::Closed;
                        return Err(e);
                    }
                },
            };
            self.start += used;
            if n as u64 > *budget {
                self.state = State::Closed;
                return Err(Error::body_too_large());
            }
            *budget -= n as u64;
            if done {
                self.state = State::Idle;
                return Ok(true);
            }
            if used == 0 {
                if self.eof {
                    self.state = State::Closed;
                    return Err(Error::syntax("the connection closed in the middle of a request body"));
                }
                return Ok(false);
            }
        }
    }
}

/// Whether `buf` has a blank line (LF, optional CR, LF: the parser also
/// takes bare LF line ends) whose first LF is at or after `from`.
fn has_blank_line(buf: &[u8], from: usize) -> bool {
    let mut i = from;
    while let Some(p) = buf.get(i..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
        let lf = i + p;
        match buf.get(lf + 1) {
            Some(b'\n') => return true,
            Some(b'\r') if buf.get(lf + 2) == Some(&b'\n') => return true,
            _ => i = lf + 1,
        }
    }
    false
}

#[cfg(test)]
mod tests;
