//! Writing a connection's answers: [`Connection::flush`] (writers take
//! turns; a buffer being written is out of its cell and put back if the
//! writer is killed), the helpers that flush once the writer parks
//! ([`Connection::flush_soon`], [`Connection::send_head_if_parked`]), and
//! direct writes of large bodies, each wait bounded by the send timeout.

use std::io;
use std::rc::Rc;
use std::time::Instant;

use super::{Connection, INITIAL_OUT, ParkedHead, TakenBack, busy};
use crate::Interest;
use crate::wsgi::transport::Transport;

/// Once flushed, an output buffer that grew past this (a large head, many
/// pipelined answers) is replaced by a new small one, so that one burst
/// does not pin its memory while the connection waits, or for its life.
const MAX_KEPT_OUT: usize = 256 * 1024;

/// A buffer being flushed; dropping it (at the end, or when the writer
/// unwinds from a kill while parked) puts the unwritten rest back, so no
/// response bytes are lost.
struct Pending<'a, T: Transport> {
    conn: &'a Connection<T>,
    buf: Vec<u8>,
    written: usize,
}

impl<T: Transport> Drop for Pending<'_, T> {
    fn drop(&mut self) {
        self.conn.put_back(std::mem::take(&mut self.buf), self.written);
    }
}

impl<T: Transport> Connection<T> {
    /// Writes out everything buffered, including what other greenlets
    /// buffer while it writes.
    ///
    /// The greenlet that writes may park (a slow client); meanwhile another
    /// greenlet of the connection — one the app spawned to read the request
    /// body, say — may buffer output or flush too. So no borrow of `out` is
    /// held while writing: the bytes are moved out, written, and the
    /// buffer (with its capacity) put back. Writers take turns: a second
    /// flush waits for the first, then writes what was added meanwhile.
    /// When no flush is under way, one write that takes everything (the
    /// usual case: a response or a batch of pipelined ones) is tried first,
    /// without taking a turn: it cannot park, so nobody can come between.
    pub(crate) fn flush(&self) -> io::Result<()> {
        if !self.turn.locked() {
            // Nobody is in the middle of a flush, and a write that does not
            // park lets nobody in: the common case needs no turn.
            let mut out = self.out.try_borrow_mut().map_err(|_| busy())?;
            if out.is_empty() {
                return Ok(());
            }
            self.flushes.set(self.flushes.get() + 1);
            match self.stream.try_write(&out) {
                Ok(n) if n == out.len() => {
                    out.clear();
                    if out.capacity() > MAX_KEPT_OUT {
                        *out = Vec::with_capacity(INITIAL_OUT);
                    }
                    if !T::BUFFERED {
                        return Ok(());
                    }
                    // A wrapped stream (TLS) may hold some of it yet: it is
                    // pushed out in turn, below.
                }
                Ok(0) => {
                    out.clear();
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "guv::wsgi: the client stopped reading"));
                }
                Ok(n) => drop(out.drain(..n)),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) => {
                    // The connection is broken: what is left is dropped.
                    out.clear();
                    return Err(e);
                }
            }
        }
        let _turn = self.turn.guard();
        self.flush_in_turn()
    }
    /// Flushes what is buffered once the calling greenlet parks or yields
    /// (a greenlet scheduled now runs then), unless it flushed by then: so
    /// that a streamed body that waits for its next bytes does not keep
    /// what it produced from the client meanwhile, while one that never
    /// waits still has its output batched. One such greenlet at a time.
    pub(crate) fn flush_soon(self: &Rc<Self>) {
        if self.flush_soon.replace(true) {
            return;
        }
        let conn = self.clone();
        let spawned = crate::Builder::new().spawn_n(move || {
            conn.flush_soon.set(false);
            // Held only here: the connection ended (closed after an error,
            // killed), and what it left unsent stays so.
            let ended = Rc::strong_count(&conn) == 1;
            if !ended && !conn.upgraded.get() && !conn.out.borrow().is_empty() {
                conn.flush_for_writer();
            }
        });
        if spawned.is_err() {
            self.flush_soon.set(false);
        }
    }

    /// Sends `head` (a streamed answer's, encoded) once the calling
    /// greenlet parks or yields, unless [`Connection::take_back_head`]
    /// comes first: so that a body that waits before its first bytes (an
    /// event stream) does not keep its head from the client, while one
    /// that produces them at once still has its head written with them.
    pub(crate) fn send_head_if_parked(self: &Rc<Self>, head: Vec<u8>) {
        *self.parked_head.borrow_mut() = ParkedHead::Waiting(head);
        // One sender at a time: one scheduled for an earlier head that was
        // taken back (a body that did not wait) has not run, so it runs at
        // the same switch a new one would, and sends this head.
        if self.head_sender.replace(true) {
            return;
        }
        let conn = self.clone();
        let spawned = crate::Builder::new().spawn_n(move || {
            conn.head_sender.set(false);
            // Held only here: the connection ended; the head goes nowhere.
            if Rc::strong_count(&conn) == 1 || conn.upgraded.get() {
                return;
            }
            {
                let mut out = conn.out.borrow_mut();
                let mut state = conn.parked_head.borrow_mut();
                // Taken back already (the body did not wait): nothing to
                // send.
                let ParkedHead::Waiting(head) = &*state else { return };
                let at = out.len();
                out.extend_from_slice(head);
                *state = ParkedHead::Sent { at, flushes: conn.flushes.get() };
            }
            conn.flush_for_writer();
        });
        if spawned.is_err() {
            // No greenlet to send it: the head waits for the body, as it
            // would without this.
            self.head_sender.set(false);
            *self.parked_head.borrow_mut() = ParkedHead::Idle;
        }
    }

    /// A flush made by a helper on behalf of the greenlet writing the
    /// answer: a failure is kept for that greenlet, which otherwise would
    /// go on streaming into a connection that has failed.
    fn flush_for_writer(&self) {
        if let Err(e) = self.flush() {
            self.helper_error.borrow_mut().get_or_insert(e);
        }
    }

    /// How a flush made in the background ([`Connection::flush_soon`],
    /// [`Connection::send_head_if_parked`]) failed, if one did since the
    /// last call: the answer cannot go on.
    pub(crate) fn take_write_error(&self) -> Option<io::Error> {
        self.helper_error.borrow_mut().take()
    }

    /// Ends [`Connection::send_head_if_parked`]: where the head went in the
    /// output buffer (and the flush count then) if it was sent, else the
    /// head itself for the caller to write.
    pub(crate) fn take_back_head(&self) -> TakenBack {
        match std::mem::replace(&mut *self.parked_head.borrow_mut(), ParkedHead::Idle) {
            ParkedHead::Sent { at, flushes } => TakenBack::Sent((at, flushes)),
            ParkedHead::Waiting(head) => TakenBack::Unsent(head),
            ParkedHead::Idle => TakenBack::Dropped,
        }
    }

    /// Flushes, then writes `bytes` straight to the socket (a large body)
    /// without letting another greenlet's output in between.
    pub(crate) fn write_through(&self, bytes: &[u8]) -> io::Result<()> {
        let _turn = self.turn.guard();
        self.flush_in_turn()?;
        let mut written = 0;
        while written < bytes.len() {
            match self.write_some(&bytes[written..])? {
                0 => return Err(io::Error::new(io::ErrorKind::WriteZero, "guv::wsgi: the client stopped reading")),
                n => written += n,
            }
        }
        if T::BUFFERED {
            self.push_stream()?;
        }
        Ok(())
    }

    /// Pushes out what a wrapped stream buffers itself (see
    /// [`Transport::try_flush`]), parking while the client takes none of
    /// it, for at most the send timeout per wait (as [`Connection::write_some`]).
    #[inline(never)]
    pub(super) fn push_stream(&self) -> io::Result<()> {
        let mut deadline = None;
        loop {
            match self.stream.try_flush() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
            self.wait_writable(&mut deadline)?;
        }
    }

    /// Parks until the client takes more of the answer; the deadline (the
    /// send timeout) is taken at the first wait of a write.
    fn wait_writable(&self, deadline: &mut Option<Instant>) -> io::Result<()> {
        if deadline.is_none() {
            *deadline = self.send_timeout.and_then(|t| Instant::now().checked_add(t));
        }
        match self.stream.wait_ready(Interest::WRITABLE, *deadline) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                let waited = self.send_timeout.unwrap_or_default();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("guv::wsgi: the client took none of the answer for {waited:?}"),
                ))
            }
            other => other,
        }
    }

    /// One write that makes progress, parking for the client to take more
    /// for at most the send timeout (`TimedOut` then). The deadline is
    /// taken only when the socket is full: each wait gets the whole
    /// timeout, as nginx's `send_timeout` bounds the gap between two writes,
    /// not the whole answer.
    #[inline(never)]
    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        let mut deadline = None;
        loop {
            match self.stream.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
            self.wait_writable(&mut deadline)?;
        }
    }

    /// [`flush`](Connection::flush) for the holder of `turn`. Out of line:
    /// the common flush never gets here.
    #[inline(never)]
    fn flush_in_turn(&self) -> io::Result<()> {
        loop {
            let buf = std::mem::take(&mut *self.out.borrow_mut());
            if buf.is_empty() {
                self.put_back(buf, 0);
                if T::BUFFERED {
                    // What the stream holds goes out too; more may have
                    // been buffered while that parked.
                    self.push_stream()?;
                    if !self.out.borrow().is_empty() {
                        continue;
                    }
                }
                return Ok(());
            }
            self.flushes.set(self.flushes.get() + 1);
            let mut pending = Pending { conn: self, buf, written: 0 };
            while pending.written < pending.buf.len() {
                match self.write_some(&pending.buf[pending.written..]) {
                    Ok(0) => {
                        pending.written = pending.buf.len();
                        return Err(io::Error::new(io::ErrorKind::WriteZero, "guv::wsgi: the client stopped reading"));
                    }
                    Ok(n) => pending.written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // The connection is broken: what is left is dropped.
                        pending.written = pending.buf.len();
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Returns a flushed buffer to `out`: its unwritten bytes (from
    /// `written` on) go before anything buffered meanwhile; an empty
    /// remainder only gives its capacity back.
    fn put_back(&self, mut buf: Vec<u8>, written: usize) {
        let mut out = self.out.borrow_mut();
        if written >= buf.len() {
            if out.is_empty() {
                buf.clear();
                *out = if buf.capacity() > MAX_KEPT_OUT { Vec::with_capacity(INITIAL_OUT) } else { buf };
            }
            return;
        }
        buf.drain(..written);
        buf.extend_from_slice(&out);
        *out = buf;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::Shutdown;
    use std::rc::Rc;

    use super::*;
    use crate::net::{TcpListener, TcpStream};
    use crate::wsgi::conn::Conn;
    use crate::wsgi::parse::Limits;

    /// A connection over loopback and the client's end of it.
    fn pair() -> (Rc<Connection<TcpStream>>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (
            Rc::new(Connection::new(server, Conn::new(Limits::default(), 1 << 20, 1 << 16), None, None, Rc::default())),
            client,
        )
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn a_flusher_killed_while_parked_puts_the_unwritten_bytes_back() {
        // More than the socket buffers hold while the client reads nothing.
        const LEN: usize = 16 << 20;
        let (conn, mut client) = pair();
        let data = pattern(LEN);
        conn.out.borrow_mut().extend_from_slice(&data[..LEN / 2]);
        let flusher = {
            let conn = conn.clone();
            crate::spawn(move || conn.flush())
        };
        crate::gyield(); // the flusher runs until the full socket parks it
        assert!(!flusher.is_finished());
        // Meanwhile more is buffered (no borrow is held by the flusher).
        conn.out.borrow_mut().extend_from_slice(&data[LEN / 2..]);
        flusher.kill();
        assert!(flusher.wait().unwrap_err().is_killed());
        // The rest of the first half went back before the second half:
        // flushing now sends the whole stream once, in order.
        let reader = crate::spawn(move || {
            let mut got = Vec::new();
            client.read_to_end(&mut got).map(|_| got)
        });
        conn.flush().unwrap();
        conn.stream.shutdown(Shutdown::Write).unwrap();
        let got = reader.wait().unwrap().unwrap();
        assert!(got == data, "{} bytes arrived of {LEN}, or out of order", got.len());
    }

    #[test]
    fn a_second_flush_waits_for_the_first_and_sends_what_was_added() {
        const LEN: usize = 16 << 20;
        let (conn, mut client) = pair();
        let data = pattern(LEN + 3);
        conn.out.borrow_mut().extend_from_slice(&data[..LEN]);
        let first = {
            let conn = conn.clone();
            crate::spawn(move || conn.flush())
        };
        crate::gyield(); // parked in its write, the buffer moved out
        assert!(conn.out.borrow().is_empty());
        let second = {
            let conn = conn.clone();
            crate::spawn(move || {
                conn.out.borrow_mut().extend_from_slice(&data[LEN..]);
                conn.flush()
            })
        };
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        while got.len() < LEN + 3 {
            let n = client.read(&mut chunk).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&chunk[..n]);
        }
        first.wait().unwrap().unwrap();
        second.wait().unwrap().unwrap();
        assert!(got == pattern(LEN + 3), "the two flushes interleaved");
    }
}
