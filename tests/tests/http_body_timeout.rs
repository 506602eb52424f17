//! `Server::body_timeout`: a client that stops sending a request body gets
//! `408` and the connection closes; the app's read fails with `TimedOut`.
//! The limit is on each wait, not on the whole body.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, TestServer};

/// A server whose app reads the whole body and reports how that went
/// (`Ok(len)` or the error's kind) on `tx`, answering with the length.
fn server(timeout: impl Into<Option<Duration>>) -> (TestServer, mpsc::Receiver<Result<usize, std::io::ErrorKind>>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let app = move |mut req: Request<Body>| -> Response<Body> {
        let mut body = Vec::new();
        let read = req.body_mut().read_to_end(&mut body).map(|_| body.len()).map_err(|e| e.kind());
        tx.lock().unwrap().send(read).unwrap();
        Response::new(Body::from(format!("{} bytes", body.len())))
    };
    (TestServer::start(Server::new(app).body_timeout(timeout.into()).access_log(false)), rx)
}

fn outcome(rx: &mpsc::Receiver<Result<usize, std::io::ErrorKind>>) -> Result<usize, std::io::ErrorKind> {
    rx.recv_timeout(Duration::from_secs(20)).expect("the app never finished reading")
}

/// Sends `request` (a body that stops short), optionally reading a `100
/// Continue` first; checks the app's read timed out and the answer is 408
/// with `Connection: close`, then the close.
fn stalls(request: &[u8], expects_continue: bool) {
    let (s, rx) = server(Duration::from_millis(100));
    let mut c = Client::connect(s.addr);
    c.send(request);
    if expects_continue {
        assert_eq!(c.read_response().unwrap().status, 100);
    }
    assert_eq!(outcome(&rx), Err(std::io::ErrorKind::TimedOut));
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (408, Some("close")));
    assert!(c.is_closed());
}

#[test]
fn a_body_that_stops_coming_gets_408_and_the_connection_closes() {
    stalls(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", false);
}

#[test]
fn a_chunked_body_stalled_inside_a_chunk_gets_408() {
    stalls(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", false);
}

#[test]
fn a_client_silent_after_100_continue_gets_408() {
    stalls(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", true);
}

#[test]
fn the_limit_is_on_each_wait_not_on_the_whole_body() {
    // 12 pieces 100 ms apart: the body takes longer than the 1 s limit,
    // but no single wait comes near it.
    let (s, rx) = server(Duration::from_secs(1));
    let mut c = s.connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n").unwrap();
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(100));
        c.write_all(b"x").unwrap();
    }
    assert_eq!(outcome(&rx), Ok(12));
    let mut c = Client::new(c);
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "12 bytes"));
}

#[test]
fn without_a_limit_a_stalled_body_waits_for_the_client() {
    let (s, rx) = server(None);
    let mut c = s.connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab").unwrap();
    // Far longer than the other tests' limit: still waiting.
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
    c.write_all(b"cd").unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), Ok(4));
}
