//! Review 19: `Server::wrap_stream_with_close`, the close hook of a
//! wrapped stream, under a hook that fails, panics or parks, a client
//! that stops reading, pipelined requests then EOF, and shutdown.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use guv::wsgi::{Body, Server, http};
use guv_tests::http::{TestServer, connect};

fn app(req: http::Request<Body>) -> http::Response<Body> {
    http::Response::new(Body::from(format!("path {}", req.uri().path())))
}

/// Runs `f` on a thread and fails if it does not finish within `limit`.
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(e) => panic!("{what}: not done within {limit:?} ({e})"),
    }
}

fn ask_and_close(addr: std::net::SocketAddr, path: &str) -> String {
    let mut c = connect(addr);
    write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_close_hook_that_panics_closes_that_connection_only() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = Server::new(app).wrap_stream_with_close(Ok, move |_: &mut guv::net::TcpStream| {
        seen.fetch_add(1, Ordering::SeqCst);
        panic!("the close hook broke");
    });
    let s = TestServer::start(server);
    let addr = s.addr;
    within(Duration::from_secs(30), "two clients and a shutdown", move || {
        let first = ask_and_close(addr, "/one");
        assert!(first.ends_with("\r\n\r\npath /one"), "{first}");
        let second = ask_and_close(addr, "/two");
        assert!(second.ends_with("\r\n\r\npath /two"), "{second}");
        s.shutdown().unwrap();
    });
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_close_hook_that_fails_still_closes_the_connection() {
    let server = Server::new(app)
        .wrap_stream_with_close(Ok, |_: &mut guv::net::TcpStream| Err(io::Error::other("the close hook failed")));
    let s = TestServer::start(server);
    let addr = s.addr;
    within(Duration::from_secs(30), "a client and a shutdown", move || {
        let first = ask_and_close(addr, "/one");
        assert!(first.ends_with("\r\n\r\npath /one"), "{first}");
        s.shutdown().unwrap();
    });
}

#[test]
fn a_close_hook_that_parks_forever_does_not_hold_the_shutdown_past_its_deadline() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let server = Server::new(app).shutdown_timeout(Duration::from_millis(300)).wrap_stream_with_close(
        Ok,
        move |_: &mut guv::net::TcpStream| {
            let _ = entered_tx.lock().unwrap().send(());
            guv::sleep(Duration::from_secs(3600));
            Ok(())
        },
    );
    let s = TestServer::start(server);
    let mut c = connect(s.addr);
    c.write_all(b"GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    entered_rx.recv_timeout(Duration::from_secs(20)).expect("the close hook ran");
    let start = Instant::now();
    within(Duration::from_secs(20), "the shutdown", move || s.shutdown().unwrap());
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    // The client sees its answer, then the close.
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with("\r\n\r\npath /p"), "{answer}");
}

#[test]
fn pipelined_requests_then_eof_get_every_answer_then_one_goodbye() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = Server::new(app).wrap_stream_with_close(Ok, move |tcp: &mut guv::net::TcpStream| {
        seen.fetch_add(1, Ordering::SeqCst);
        tcp.write_all(b"|bye")
    });
    let s = TestServer::start(server);
    let mut c = s.connect();
    c.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 3, "{answer}");
    assert!(answer.ends_with("path /c|bye"), "{answer}");
    assert_eq!(answer.matches("|bye").count(), 1, "{answer}");
    s.shutdown().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_client_that_stops_reading_before_the_goodbye_does_not_hold_the_shutdown_past_its_deadline() {
    // A big answer with `Connection: close` that the client never reads:
    // the flush before the goodbye waits for it (busy), and the shutdown
    // kills it at its deadline, with no goodbye after the cut.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let big = |_req: http::Request<Body>| http::Response::new(Body::from(vec![b'x'; 16 << 20]));
    let server = Server::new(big)
        .shutdown_timeout(Duration::from_millis(300))
        .send_timeout(Some(Duration::from_secs(600)))
        .wrap_stream_with_close(Ok, move |_: &mut guv::net::TcpStream| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    let s = TestServer::start(server);
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    // The answer has begun: the server is busy writing it.
    let mut first = [0u8; 12];
    c.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let start = Instant::now();
    within(Duration::from_secs(20), "the shutdown", move || s.shutdown().unwrap());
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(rest.len() + 12 < 16 << 20, "the cut answer came whole");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a goodbye after a cut answer");
}

#[test]
fn the_goodbye_of_an_idle_connection_at_shutdown_does_not_hold_it_past_its_deadline() {
    // An idle keep-alive connection says goodbye when a shutdown begins:
    // a close hook that parks for ever is cut at the shutdown's deadline.
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let server = Server::new(app).shutdown_timeout(Duration::from_millis(300)).wrap_stream_with_close(
        Ok,
        move |_: &mut guv::net::TcpStream| {
            let _ = entered_tx.lock().unwrap().send(());
            guv::sleep(Duration::from_secs(3600));
            Ok(())
        },
    );
    let s = TestServer::start(server);
    let mut c = connect(s.addr);
    c.write_all(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut client = guv_tests::http::Client::new(c.try_clone().unwrap());
    assert_eq!(client.read_response().unwrap().text(), "path /p");
    let start = Instant::now();
    within(Duration::from_secs(20), "the shutdown", move || s.shutdown().unwrap());
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    entered_rx.try_recv().expect("the idle connection's close hook ran");
    assert!(client.is_closed());
}

/// A stream whose goodbye is more than a client that reads nothing can
/// take: it sits in `pending`, and `flush` writes what the socket takes.
struct LongGoodbye {
    tcp: guv::net::TcpStream,
    pending: Vec<u8>,
}

impl Read for LongGoodbye {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for LongGoodbye {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            let n = self.tcp.write(&self.pending)?;
            self.pending.drain(..n);
        }
        Ok(())
    }
}

#[test]
fn the_goodbye_of_an_idle_connection_at_shutdown_is_bounded_by_the_send_timeout() {
    // The client takes none of the goodbye: the server gives up after the
    // send timeout, long before the shutdown's deadline.
    let server = Server::new(app)
        .shutdown_timeout(Duration::from_secs(600))
        .send_timeout(Some(Duration::from_millis(300)))
        .wrap_stream_with_close(
            |tcp| Ok(LongGoodbye { tcp, pending: Vec::new() }),
            |s: &mut LongGoodbye| {
                s.pending = vec![b'x'; 64 << 20];
                Ok(())
            },
        );
    let s = TestServer::start(server);
    let mut c = connect(s.addr);
    c.write_all(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut client = guv_tests::http::Client::new(c.try_clone().unwrap());
    assert_eq!(client.read_response().unwrap().text(), "path /p");
    let start = Instant::now();
    within(Duration::from_secs(60), "the shutdown", move || s.shutdown().unwrap());
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
    // The goodbye had begun: its first bytes came after the answer.
    let mut first = [0u8; 1];
    c.read_exact(&mut first).expect("the goodbye's first byte");
    assert_eq!(&first, b"x");
}
