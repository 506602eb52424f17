//! Answering a raw app: the call with the head read in place and the
//! connection's reused buffers, then its answer written out.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use http::{StatusCode, Version};

use super::{
    ACCESS_TARGET, Config, Flags, INLINE_BODY, RequestInfo, Responded, access_log, app_panic_message, framing_for,
};
use crate::wsgi::body::Body;
use crate::wsgi::connection::Connection;
use crate::wsgi::encode::{self, Framing};
use crate::wsgi::parse::{BodyLength, HeadInfo};
use crate::wsgi::raw::{RawHead, RawRequest, RawResponse};
use crate::wsgi::transport::Transport;

/// What a connection serving a raw app reuses from request to request: the
/// copied head and the answer's field and body buffers.
#[derive(Default)]
pub(super) struct RawBuffers {
    pub(super) head: RawHead,
    /// The request's body (empty between requests).
    request_body: Body,
    fields: Vec<u8>,
    body: Vec<u8>,
}

/// A raw answer's body and field buffers are kept for the next request
/// only up to this size, so that one large answer does not pin memory
/// while the connection waits, or for its life.
const MAX_KEPT_BODY: usize = 64 * 1024;

/// [`respond`](super::respond::respond) for a raw app: calls it with the
/// head read in place and the connection's buffers, then writes its answer.
#[allow(clippy::too_many_arguments)]
pub(super) fn respond_raw<T: Transport>(
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
