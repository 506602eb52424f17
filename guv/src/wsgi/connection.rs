//! The I/O half of a connection: the green socket, the protocol state
//! ([`Conn`]) and the output buffer, shared by the connection's greenlet and
//! the request body it hands to the app.
//!
//! No `RefCell` borrow is held across a park: reads try the socket without
//! blocking under the borrow and wait for readiness after releasing it.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::conn::{BodyRead, Conn};
use crate::Interest;
use crate::net::TcpStream;

/// The line sent before reading a body the client held back with
/// `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) conn: RefCell<Conn>,
    pub(crate) out: RefCell<Vec<u8>>,
    /// A body error the app ran into (chunk syntax, size limit): the server
    /// answers with this status instead of the app's response.
    pub(crate) body_failed: Cell<Option<StatusCode>>,
    /// Taken over by an upgrade (WebSocket): the server writes nothing more.
    pub(crate) upgraded: Cell<bool>,
}

fn busy() -> io::Error {
    io::Error::other("guv::wsgi: the connection is in use by another greenlet")
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, conn: Conn) -> Connection {
        Connection {
            stream,
            conn: RefCell::new(conn),
            out: RefCell::new(Vec::with_capacity(4096)),
            body_failed: Cell::new(None),
            upgraded: Cell::new(false),
        }
    }

    /// Writes out everything buffered.
    pub(crate) fn flush(&self) -> io::Result<()> {
        let mut out = self.out.try_borrow_mut().map_err(|_| busy())?;
        if out.is_empty() {
            return Ok(());
        }
        let result = (&self.stream).write_all(&out);
        out.clear();
        result
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
        loop {
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
            self.stream.wait_ready(Interest::READABLE, None)?;
        }
    }

    /// Reads the body of request `seq` (see [`super::Body`]).
    pub(crate) fn read_body(&self, seq: u64, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let send_continue = {
                let mut conn = self.conn.try_borrow_mut().map_err(|_| busy())?;
                if conn.seq() != seq || self.upgraded.get() {
                    return Err(io::Error::other("guv::wsgi: the request body was read after its response was sent"));
                }
                if conn.take_continue() {
                    true
                } else {
                    match conn.read_body(buf) {
                        Ok(BodyRead::Data(n)) => return Ok(n),
                        Ok(BodyRead::End) => return Ok(0),
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
                self.fill()?;
            }
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
            match self.stream.try_read(&mut scratch) {
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
