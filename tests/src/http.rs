//! Helpers for the HTTP tests: a server on its own thread, a raw client
//! over `std::net`, and a logger that records access-log lines.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use guv::wsgi::{Server, Service, ShutdownHandle, StreamWrap};

/// How long a test client waits for any one read before failing.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A server running on its own thread (or threads, with workers); shut
/// down and joined on drop.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Stops it.
    pub stop: ShutdownHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    /// Starts `server` on 127.0.0.1, port chosen by the OS.
    pub fn start<A, W>(server: Server<A, W>) -> TestServer
    where
        A: Service + Send + Sync,
        W: StreamWrap,
    {
        let bound = server.bind("127.0.0.1:0").expect("bind a test server");
        let addr = bound.local_addr();
        let stop = bound.shutdown_handle();
        let thread = std::thread::spawn(move || bound.run());
        TestServer { addr, stop, thread: Some(thread) }
    }

    /// Serves `server` on `listener` (one worker, on a thread of its own):
    /// for a listener whose socket options (a small `SO_SNDBUF`, see
    /// [`crate::net::listener_with_sndbuf`]) its connections inherit.
    pub fn serve<A, W>(server: Server<A, W>, listener: std::net::TcpListener) -> TestServer
    where
        A: Service,
        W: StreamWrap,
        Server<A, W>: Send + 'static,
    {
        let addr = listener.local_addr().expect("the listener's address");
        let stop = server.shutdown_handle();
        let thread = std::thread::spawn(move || server.serve(guv::net::TcpListener::from_std(listener)?));
        TestServer { addr, stop, thread: Some(thread) }
    }

    /// A connected client socket with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Shuts the server down and returns what `run` returned.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop.shutdown();
        self.thread.take().expect("joined twice").join().expect("server thread panicked")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.shutdown();
            let _ = t.join();
        }
    }
}

/// A client socket to `addr` with [`CLIENT_TIMEOUT`] on reads and writes.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the test server");
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    s
}

/// A raw client socket to `addr` (as [`connect`]) that has done a
/// WebSocket handshake: the server answered `101`; frames come next.
pub fn websocket_handshake(addr: SocketAddr) -> TcpStream {
    let mut c = connect(addr);
    c.write_all(
        b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
    c
}

/// A masked client WebSocket frame whose first byte is `b0` (FIN, RSV
/// bits and opcode, given whole so tests can set what the RFC forbids).
pub fn ws_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [9u8, 8, 7, 6];
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one server WebSocket frame from a raw stream: its first byte
/// (FIN, RSV bits, opcode) and its payload. Server frames are never masked.
pub fn read_ws_frame(s: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head)?;
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l)?;
            u64::from(u16::from_be_bytes(l))
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l)?;
            u64::from_be_bytes(l)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; usize::try_from(len).unwrap()];
    s.read_exact(&mut payload)?;
    Ok((head[0], payload))
}

/// Sends `bytes` (a request the server must refuse, possibly followed by
/// requests that must then go unanswered) on a new connection; expects one
/// answer with `status` and `Connection: close`, then the connection
/// closed. Returns that answer.
pub fn refused(s: &TestServer, bytes: &[u8], status: u16) -> RawResponse {
    let mut c = Client::connect(s.addr);
    c.send(bytes);
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    let r = c.read_response().unwrap_or_else(|e| panic!("{shown:?}: {e}"));
    assert_eq!(r.status, status, "{shown:?}: {}", r.text());
    assert_eq!(r.header("connection"), Some("close"), "{shown:?}");
    assert!(c.is_closed(), "{shown:?}: a request after the refused one was answered");
    r
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header fields in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A reader of responses from one connection, keeping leftover bytes.
pub struct Client {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Wraps a connected socket.
    pub fn new(stream: TcpStream) -> Client {
        Client { stream, buf: Vec::new() }
    }

    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Client {
        Client::new(connect(addr))
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to the test server");
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The next `n` bytes from the server, left unread (the next
    /// `read_response` starts with them): for asserting exact status lines.
    /// Fails if the connection ends first.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the bytes peeked at"));
            }
        }
        Ok(&self.buf[..n])
    }

    /// Reads one response; `head_request` says it answers a HEAD (no body).
    pub fn read_response_to(&mut self, head_request: bool) -> io::Result<RawResponse> {
        let (status, headers, used) = loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut slots);
            match r.parse(&self.buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))? {
                httparse::Status::Complete(used) => {
                    let headers = r
                        .headers
                        .iter()
                        .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect::<Vec<_>>();
                    break (r.code.unwrap_or(0), headers, used);
                }
                httparse::Status::Partial => {
                    if self.fill()? == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a response head"));
                    }
                }
            }
        };
        self.buf.drain(..used);
        let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let no_body = head_request || status / 100 == 1 || status == 204 || status == 304;
        let body = if no_body {
            Vec::new()
        } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            self.read_chunked()?
        } else if let Some(len) = find("content-length") {
            let len: usize = len.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad length"))?;
            while self.buf.len() < len {
                if self.fill()? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a body"));
                }
            }
            self.buf.drain(..len).collect()
        } else {
            while self.fill()? > 0 {}
            std::mem::take(&mut self.buf)
        };
        Ok(RawResponse { status, headers, body })
    }

    /// Reads one response to a non-HEAD request.
    pub fn read_response(&mut self) -> io::Result<RawResponse> {
        self.read_response_to(false)
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
                self.buf.drain(..pos + 2);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a chunk line"));
            }
        }
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            while self.buf.len() < size + 2 {
                if self.fill()? == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a chunk"));
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    /// Whether the server closed the connection (reads EOF, or a reset,
    /// within [`CLIENT_TIMEOUT`]) with no further bytes.
    pub fn is_closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        match self.fill() {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        }
    }
}

/// Sends `request` on a new connection and reads one response.
pub fn roundtrip(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut c = Client::connect(addr);
    c.send(request);
    c.read_response().expect("read a response")
}

/// Access-log lines recorded by the test logger (installed on first use).
pub fn access_log() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<&'static Mutex<Vec<String>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines: &'static Mutex<Vec<String>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let logger: &'static Recorder = Box::leak(Box::new(Recorder(lines)));
        log::set_logger(logger).expect("a logger was already installed");
        log::set_max_level(log::LevelFilter::Info);
        lines
    })
}

struct Recorder(&'static Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.target() == "guv::wsgi::access" || meta.level() <= log::Level::Error
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.target(), record.args());
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    }

    fn flush(&self) {}
}

/// Whether a command-line tool is installed; panics with how to get it if
/// not (the CI installs it with `.ci/install-deps`).
pub fn require_tool(name: &str, args: &[&str]) {
    let ok = std::process::Command::new(name).args(args).output().is_ok_and(|o| o.status.success());
    assert!(ok, "`{name}` is needed by this test: run `bash .ci/install-deps`");
}

/// One piece of an [`Events`] stream: its bytes, or (a `Result`) a failure.
pub trait EventItem: Send + 'static {
    /// The bytes the body reads for this piece, or the error it fails with.
    fn into_bytes(self) -> io::Result<&'static [u8]>;
}

impl EventItem for &'static [u8] {
    fn into_bytes(self) -> io::Result<&'static [u8]> {
        Ok(self)
    }
}

impl EventItem for Result<&'static [u8], &'static str> {
    fn into_bytes(self) -> io::Result<&'static [u8]> {
        self.map_err(io::Error::other)
    }
}

/// A response body that waits for each of its events, sent from any
/// thread on a green channel (an event stream): each read returns one
/// event whole (reads get a buffer large enough for the tests' events), an
/// `Err` item fails the read, and the body ends when the sender is gone.
pub struct Events<T>(pub guv::green::sync::mpsc::Receiver<T>);

impl<T: EventItem> Read for Events<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.recv() {
            Ok(item) => {
                let event = item.into_bytes()?;
                buf[..event.len()].copy_from_slice(event);
                Ok(event.len())
            }
            Err(_) => Ok(0),
        }
    }
}
