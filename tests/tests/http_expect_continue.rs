//! `Expect: 100-continue` when the app answers without reading the body,
//! through raw sockets. Once the server has sent `100 Continue` the client
//! sends the body, so the server drains it (up to `max_drain`) and keeps
//! the connection, as for any unread body; when no `100` went out the body
//! may never come, and the connection closes after the answer.

use std::io::{Cursor, Read};

use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, RawResponse, TestServer};

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
const OK_LINE: &[u8] = b"HTTP/1.1 200 OK\r\n";

fn app(mut req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        // Streamed answers that never touch the request body.
        "/stream" => Response::new(Body::from_reader(Cursor::new(b"streamed ".repeat(100)))),
        "/sized" => Response::new(Body::sized(9, Cursor::new(b"sized one".to_vec()))),
        // A streamed answer that is the request body itself.
        "/stream-echo" => Response::new(req.into_body()),
        // An answer from memory: no 100 goes out before it.
        "/memory" => Response::new(Body::from("from memory")),
        _ => {
            let mut body = String::new();
            req.body_mut().read_to_string(&mut body).unwrap();
            Response::new(Body::from(format!("{} {} [{body}]", req.method(), req.uri().path())))
        }
    }
}

fn server(max_drain: u64) -> TestServer {
    TestServer::start(Server::new(app).max_drain(max_drain))
}

fn expect(path: &str, framing: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: t\r\n{framing}\r\nExpect: 100-continue\r\n\r\n").into_bytes()
}

/// Reads the interim `100 Continue`, checking its exact bytes and that the
/// final head (whose status line is `then`) follows it.
fn read_continue(c: &mut Client, then: &[u8]) {
    let expected = [CONTINUE, then].concat();
    assert_eq!(
        String::from_utf8_lossy(c.peek(expected.len()).unwrap()),
        String::from_utf8_lossy(&expected),
        "the 100 and the final status line"
    );
    let interim = c.read_response().unwrap();
    assert_eq!((interim.status, interim.headers.len(), interim.body.len()), (100, 0, 0), "{interim:?}");
}

/// The header names of `r`, sorted.
fn names(r: &RawResponse) -> Vec<&str> {
    let mut names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names
}

/// Asks for a body-less GET on `c` and checks it is answered (so the
/// connection was kept).
fn next_request_is_answered(c: &mut Client) {
    c.send(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.peek(OK_LINE.len()).unwrap(), OK_LINE);
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection"), r.text().as_str()), (200, None, "GET /after []"));
}

#[test]
fn a_body_sent_after_the_100_is_drained_and_the_connection_kept() {
    let s = server(4096);
    let mut c = Client::connect(s.addr);
    c.send(&expect("/stream", "Content-Length: 10"));
    // The whole answer comes before the client sends anything more.
    read_continue(&mut c, OK_LINE);
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(names(&r), ["date", "server", "transfer-encoding"], "{r:?}");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, b"streamed ".repeat(100));
    // Told to go on, the client sends the body; the server discards it.
    c.send(b"0123456789");
    next_request_is_answered(&mut c);
    // And once more on the same connection, without the Expect.
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(c.read_response().unwrap().text(), "POST /echo [abc]");
}

#[test]
fn a_chunked_body_sent_right_after_the_100_is_drained_before_the_next_request() {
    let s = server(4096);
    let mut c = Client::connect(s.addr);
    c.send(&expect("/sized", "Transfer-Encoding: chunked"));
    read_continue(&mut c, OK_LINE);
    // The body and the next request go out together, before the final
    // answer is read.
    c.send(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(names(&r), ["content-length", "date", "server"], "{r:?}");
    assert_eq!((r.status, r.header("content-length"), r.text().as_str()), (200, Some("9"), "sized one"));
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection"), r.text().as_str()), (200, None, "GET /after []"));
}

#[test]
fn a_streamed_echo_after_the_100_keeps_the_connection() {
    let s = server(4096);
    let mut c = Client::connect(s.addr);
    c.send(&expect("/stream-echo", "Content-Length: 5"));
    // The 100 alone: the echo's head waits for the body's first bytes (so
    // that a body that fails first can still be answered 408/413).
    read_continue(&mut c, b"");
    c.send(b"hello");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection"), r.text().as_str()), (200, None, "hello"));
    next_request_is_answered(&mut c);
}

#[test]
fn a_body_over_the_drain_limit_after_the_100_closes_after_the_answer() {
    let s = server(8);
    // The length is known to be over the limit: the answer says so.
    let mut c = Client::connect(s.addr);
    c.send(&expect("/stream", "Content-Length: 100"));
    read_continue(&mut c, OK_LINE);
    let r = c.read_response().unwrap();
    assert_eq!(names(&r), ["connection", "date", "server", "transfer-encoding"], "{r:?}");
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert_eq!(r.body, b"streamed ".repeat(100));
    c.send(&[b'x'; 100]);
    assert!(c.is_closed(), "bytes after the final answer");

    // A chunked body turns out too long only while it is drained: the
    // answer was complete, and the connection then ends with nothing more.
    let mut c = Client::connect(s.addr);
    c.send(&expect("/stream", "Transfer-Encoding: chunked"));
    read_continue(&mut c, OK_LINE);
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection"), r.body.len()), (200, None, 900));
    c.send(b"10\r\n0123456789abcdef\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(c.is_closed(), "the request after a body over the drain limit was answered");

    // The server goes on.
    next_request_is_answered(&mut Client::connect(s.addr));
}

#[test]
fn without_a_100_the_answer_closes_the_connection() {
    let s = server(4096);
    let mut c = Client::connect(s.addr);
    c.send(&expect("/memory", "Content-Length: 5"));
    // No interim answer: the final one comes first, and says close.
    assert_eq!(c.peek(OK_LINE.len()).unwrap(), OK_LINE);
    let r = c.read_response().unwrap();
    assert_eq!(names(&r), ["connection", "content-length", "date", "server"], "{r:?}");
    assert_eq!((r.status, r.header("connection"), r.text().as_str()), (200, Some("close"), "from memory"));
    // A client that sends its body anyway is not answered again.
    c.send(b"hello");
    assert!(c.is_closed(), "bytes after the final answer");
}
