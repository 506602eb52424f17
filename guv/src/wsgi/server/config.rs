//! The settings of a [`Server`]: limits, timeouts, the access log, the
//! connection cap and the number of workers.

use std::time::Duration;

use super::Server;
use crate::wsgi::parse::{Limits, MAX_HEADERS_CAP};
use crate::wsgi::raw::Service;
use crate::wsgi::transport::StreamWrap;

impl<A: Service, W: StreamWrap> Server<A, W> {
    /// The most connections one worker serves at once (at least 1).
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// // One connection at a time per worker; the next waits in the backlog.
    /// let bound = Server::new(hello).max_connections(1).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// assert!(ask(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").ends_with("hi"));
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The head limits (414 / 431); `max_headers` is capped at
    /// [`MAX_HEADERS_CAP`].
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let limits = guv::wsgi::proto::Limits { max_request_line: 32, ..Default::default() };
    /// let bound = Server::new(hello).limits(limits).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let reply = ask(addr, b"GET /a-path-far-longer-than-thirty-two-bytes HTTP/1.1\r\nHost: a\r\n\r\n");
    /// assert!(reply.starts_with("HTTP/1.1 414"), "{reply}");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.cfg.limits = Limits { max_headers: limits.max_headers.clamp(1, MAX_HEADERS_CAP), ..limits };
        self
    }

    /// The largest request body accepted, in bytes: a larger
    /// `Content-Length` is answered 413 before the app runs; a chunked body
    /// that grows past it fails the app's read and is answered 413.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let bound = Server::new(hello).max_body_size(4).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let reply = ask(addr, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    /// assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.cfg.max_body = bytes;
        self
    }

    /// How much of a request body the app left unread is read and thrown
    /// away to keep the connection; past this the connection closes. This
    /// holds too for a body sent after a `100 Continue` the server gave
    /// before a streamed answer; a body held back for a `100` that never
    /// went out is not waited for (the connection closes instead).
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// // `hello` never reads the body: up to 1 KiB of it is read and dropped so
    /// // that the next request on the connection can be served.
    /// let bound = Server::new(hello).max_drain(1024).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let reply = ask(addr, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    /// assert_eq!(reply.matches("HTTP/1.1 200").count(), 2, "{reply}");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn max_drain(mut self, bytes: u64) -> Self {
        self.cfg.max_drain = bytes;
        self
    }

    /// How long a client has to send a request head, counted from when the
    /// server starts waiting for it (this includes idle time between
    /// keep-alive requests); then the connection closes. With a
    /// [`wrap_stream`](Server::wrap_stream) hook, the first wait starts
    /// when the hook does: the handshake and the first head share one
    /// window. `None`: no limit.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// use std::time::{Duration, Instant};
    /// let bound = Server::new(hello).header_timeout(Some(Duration::from_millis(100))).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let start = Instant::now();
    /// let mut idle = std::net::TcpStream::connect(addr).unwrap(); // sends nothing
    /// let mut buf = [0u8; 1];
    /// assert_eq!(idle.read(&mut buf).unwrap(), 0, "closed by the server");
    /// assert!(start.elapsed() >= Duration::from_millis(100));
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn header_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.cfg.header_timeout = timeout;
        self
    }

    /// How long a read of the request body waits for the next bytes from
    /// the client (the gap between two reads, as nginx's
    /// `client_body_timeout`; 60 s by default). When it passes, the app's
    /// read fails with `TimedOut` and the answer is `408 Request Timeout`
    /// with `Connection: close` (if none of the app's own answer went out).
    /// This is what stops a client that trickles a body, or stops sending
    /// one, from holding a connection and its greenlet. `None`: no limit.
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use guv::wsgi::{Body, Server};
    ///
    /// let app = |mut req: http::Request<Body>| {
    ///     let mut body = Vec::new();
    ///     let err = req.body_mut().read_to_end(&mut body).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    ///     http::Response::new(Body::from("never sent: the 408 replaces it"))
    /// };
    /// let bound = Server::new(app).body_timeout(Some(Duration::from_millis(100))).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let mut c = std::net::TcpStream::connect(addr).unwrap();
    /// // Promises 10 bytes, sends 3, then nothing.
    /// c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc").unwrap();
    /// let mut answer = String::new();
    /// c.read_to_string(&mut answer).unwrap();
    /// assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn body_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.cfg.body_timeout = timeout;
        self
    }

    /// How long a write to the client may wait for the client to take
    /// more of the answer (the gap between two writes that make progress,
    /// as nginx's `send_timeout`; 60 s by default). When it passes, the
    /// connection is closed (what was not sent is dropped). This is what
    /// bounds a client that sends requests but never reads the answers:
    /// while the server is writing, it is not waiting for a request head,
    /// so [`header_timeout`](Server::header_timeout) does not apply, and a
    /// slow reader that keeps reading is never cut off. `None`: no limit.
    /// Such a client cannot make the server pile its answers up meanwhile:
    /// once 64 KiB of answers are owed to it, the server writes them out
    /// (waiting, within this timeout) before it reads the next request.
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use guv::wsgi::{Body, Server};
    ///
    /// // An endless answer, to a client that reads none of it.
    /// let app = |_req: http::Request<Body>| http::Response::new(Body::from_reader(std::io::repeat(b'z')));
    /// let bound = Server::new(app)
    ///     .send_timeout(Some(Duration::from_millis(100)))
    ///     .max_connections(1)
    ///     .bind("127.0.0.1:0")
    ///     .unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// let mut stuck = std::net::TcpStream::connect(addr).unwrap();
    /// stuck.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    /// // The server gives up on it after 100 ms of no progress: the one
    /// // connection slot is free again for the next client.
    /// let mut next = std::net::TcpStream::connect(addr).unwrap();
    /// next.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    /// let mut head = [0u8; 12];
    /// next.read_exact(&mut head).unwrap();
    /// assert_eq!(&head, b"HTTP/1.1 200");
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.cfg.send_timeout = timeout;
        self
    }

    /// Whether to log each request in the common log format through the
    /// `log` crate (target `guv::wsgi::access`, level `Info`). On by
    /// default; costs nothing while no logger enables that target. A
    /// request whose connection the app took over ([`Upgrade`](crate::wsgi::Upgrade), a
    /// WebSocket) is logged when the app call returns, with the status of
    /// the status line the app wrote first (101 for a WebSocket; "-" if
    /// what it wrote began with no status line) and no byte count.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// // Benchmarks switch it off; a logger then never sees target guv::wsgi::access.
    /// let server = Server::new(hello).access_log(false);
    /// let stop = server.shutdown_handle();
    /// stop.shutdown();
    /// server.serve(guv::listen("127.0.0.1:0").unwrap()).unwrap();
    /// ```
    pub fn access_log(mut self, on: bool) -> Self {
        self.cfg.access_log = on;
        self
    }

    /// How long in-flight requests get to finish after a shutdown request
    /// before their greenlets are killed. An open
    /// [`WebSocket`](crate::websocket::WebSocket) is sent a closing frame
    /// with 1001 (going away) when the shutdown begins, so that its handler
    /// sees the connection end once the client answers and can return
    /// before then (see [`WebSocket::wait`](crate::websocket::WebSocket::wait));
    /// one still open at the deadline is killed (its client got the 1001).
    ///
    /// A shutdown closes idle connections at once. Every request the app
    /// has taken up before it is answered (its answer says
    /// `Connection: close` if it was still being made), and so are the
    /// answers still owed to a client that was slow to read them; requests
    /// pipelined behind them and not taken up yet are not, and the
    /// connection closes after the last answer owed. A request still in
    /// the app at the deadline (an echo still reading its body included)
    /// is killed and gets no answer: its connection closes, cutting the
    /// answer short if it had begun.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let server = Server::new(hello).shutdown_timeout(std::time::Duration::from_secs(5));
    /// let stop = server.shutdown_handle();
    /// stop.shutdown();
    /// server.serve(guv::listen("127.0.0.1:0").unwrap()).unwrap();
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The number of worker hubs for [`run`](Server::run) and
    /// [`bind`](Server::bind): each on its own OS thread with its own
    /// `SO_REUSEPORT` listener. 0 means one per core. A port some other
    /// socket already listens on is still refused (`AddrInUse`), also when
    /// that one is another multi-worker server's. For a Unix-domain
    /// socket, [`run_unix`](Server::run_unix) runs as many workers on one
    /// shared listener.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let bound = Server::new(hello).workers(2).bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let server = std::thread::spawn(move || bound.run());
    /// for _ in 0..4 {
    ///     assert!(ask(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").ends_with("hi"));
    /// }
    /// stop.shutdown();
    /// server.join().unwrap().unwrap();
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
}
