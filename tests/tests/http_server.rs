//! guv::wsgi conformance: every rule of the server, through raw sockets,
//! each asserting the exact status and headers.

use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use guv::wsgi::http::{Request, Response, StatusCode, header};
use guv::wsgi::proto::Limits;
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, TestServer, roundtrip};

fn text(status: StatusCode, body: impl Into<Body>) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r
}

fn app(mut req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/" => text(StatusCode::OK, "Hello, World!"),
        "/echo" => {
            let mut body = Vec::new();
            match req.body_mut().read_to_end(&mut body) {
                Ok(_) => text(StatusCode::OK, body),
                Err(e) => text(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        "/stream-echo" => Response::new(req.into_body()),
        "/stream" => Response::new(Body::from_reader(Cursor::new(b"streamed body".repeat(1000)))),
        "/sized" => Response::new(Body::sized(5, Cursor::new(b"12345".to_vec()))),
        "/ignore" => text(StatusCode::OK, "ignored"),
        "/204" => text(StatusCode::NO_CONTENT, ""),
        "/304" => text(StatusCode::NOT_MODIFIED, ""),
        "/panic" => panic!("the app failed on purpose"),
        "/close" => {
            let mut r = text(StatusCode::OK, "bye");
            r.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
            r
        }
        other => text(StatusCode::NOT_FOUND, format!("no {other}")),
    }
}

fn server() -> TestServer {
    TestServer::start(Server::new(app).max_body_size(1024).max_drain(4096))
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let s = server();
    let mut c = Client::connect(s.addr);
    for _ in 0..3 {
        c.send(&get("/"));
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "Hello, World!");
        assert_eq!(r.header("content-length"), Some("13"));
        assert_eq!(r.header("connection"), None);
        assert!(r.header("server").unwrap().starts_with("guv/"));
        let date = r.header("date").unwrap();
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    }
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.is_closed());

    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("keep-alive")));
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 200);
}

#[test]
fn http11_connection_close_is_honoured_both_ways() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());

    let mut c = Client::connect(s.addr);
    c.send(&get("/close"));
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.is_closed());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = server();
    let mut c = Client::connect(s.addr);
    let mut burst = Vec::new();
    for path in ["/a", "/b", "/", "/c"] {
        burst.extend(get(path));
    }
    burst.extend(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlast");
    c.send(&burst);
    let bodies: Vec<String> = (0..5).map(|_| c.read_response().unwrap().text()).collect();
    assert_eq!(bodies, ["no /a", "no /b", "Hello, World!", "no /c", "last"]);
}

#[test]
fn chunked_request_bodies_are_decoded() {
    let s = server();
    let r = roundtrip(
        s.addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "hello, world"));
    assert_eq!(r.header("content-length"), Some("12"));
}

#[test]
fn streamed_responses_are_chunked_or_close_delimited() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(&get("/stream"));
    let r = c.read_response().unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body, b"streamed body".repeat(1000));
    // The connection is still usable after the last chunk.
    c.send(&get("/sized"));
    let r = c.read_response().unwrap();
    assert_eq!((r.header("content-length"), r.text().as_str()), (Some("5"), "12345"));

    let mut c = Client::connect(s.addr);
    c.send(b"GET /stream HTTP/1.0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.body.len(), 13_000);
}

#[test]
fn a_request_body_can_stream_back_as_the_response() {
    let s = server();
    let r = roundtrip(s.addr, b"POST /stream-echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabcdef");
    assert_eq!((r.status, r.header("content-length"), r.text().as_str()), (200, Some("6"), "abcdef"));
    let r = roundtrip(
        s.addr,
        b"POST /stream-echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n",
    );
    assert_eq!((r.header("transfer-encoding"), r.text().as_str()), (Some("chunked"), "xyz"));
}

#[test]
fn expect_100_continue_is_answered_when_the_app_reads() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_response().unwrap();
    assert_eq!(interim.status, 100);
    c.send(b"hello");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
}

#[test]
fn expect_100_continue_without_a_read_gets_the_final_answer_and_a_close() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
}

#[test]
fn expect_100_continue_with_a_streamed_echo_answers_100_before_the_final_head() {
    // The response body is the request's own: the app reads it only while
    // the response is written. The 100 must still come before the final
    // head, never inside its body.
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"POST /stream-echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_response().unwrap();
    assert_eq!(interim.status, 100, "{interim:?}");
    c.send(b"hello");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
}

#[test]
fn expect_100_continue_is_never_answered_after_the_final_head() {
    // The app answers from memory and reads the body afterwards, in a
    // greenlet of its own: the client was given its final answer without
    // a 100, so no 100 may follow it.
    let s = TestServer::start(Server::new(|req: Request<Body>| {
        let mut body = req.into_body();
        guv::spawn(move || {
            let mut sink = Vec::new();
            let _ = body.read_to_end(&mut sink);
        });
        // Large enough that writing it parks the connection's greenlet.
        text(StatusCode::OK, vec![b'a'; 32 << 20])
    }));
    let mut c = Client::connect(s.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.body.len(), r.header("connection")), (200, 32 << 20, Some("close")));
    c.send(b"hello");
    assert!(c.is_closed(), "bytes after the final response: {:?}", c.read_response().map(|r| r.status));
}

#[test]
fn head_and_204_and_304_have_no_body() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response_to(true).unwrap();
    assert_eq!((r.status, r.header("content-length")), (200, Some("13")));
    for (path, status) in [("/204", 204), ("/304", 304)] {
        c.send(&get(path));
        let r = c.read_response().unwrap();
        assert_eq!(r.status, status);
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.header("transfer-encoding"), None);
    }
    // Had any of those carried a body, this would read it instead.
    c.send(&get("/"));
    assert_eq!(c.read_response().unwrap().text(), "Hello, World!");
}

#[test]
fn an_unread_body_is_drained_before_the_next_request() {
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789");
    c.send(b"POST /ignore HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
    c.send(&get("/"));
    assert_eq!(c.read_response().unwrap().text(), "ignored");
    assert_eq!(c.read_response().unwrap().text(), "ignored");
    assert_eq!(c.read_response().unwrap().text(), "Hello, World!");
}

#[test]
fn an_unread_body_over_the_drain_limit_closes() {
    let s = TestServer::start(Server::new(app).max_drain(8));
    let mut c = Client::connect(s.addr);
    c.send(b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
}

/// Sends `request`, expects `status` with `Connection: close`, and the
/// connection closed after it.
fn refused(s: &TestServer, request: &[u8], status: u16) {
    guv_tests::http::refused(s, request, status);
}

#[test]
fn limits_are_answered_with_the_right_status_and_close() {
    let s = TestServer::start(Server::new(app).max_body_size(16).limits(Limits {
        max_request_line: 256,
        max_head: 1024,
        max_headers: 8,
    }));
    refused(&s, format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(300)).as_bytes(), 414);
    refused(&s, format!("GET /{}", "a".repeat(300)).as_bytes(), 414);
    refused(&s, format!("GET / HTTP/1.1\r\nHost: t\r\nBig: {}\r\n\r\n", "x".repeat(2000)).as_bytes(), 431);
    let many: String = (0..10).map(|i| format!("H{i}: v\r\n")).collect();
    refused(&s, format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n").as_bytes(), 431);
    refused(&s, b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: v\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\n\r\n", 400);
    refused(&s, b"GARBAGE\r\n\r\n", 400);
    refused(&s, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n", 413);
    let big_chunked = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n{}\r\n0\r\n\r\n",
        "z".repeat(20)
    );
    refused(&s, big_chunked.as_bytes(), 413);
    refused(&s, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400);
    refused(&s, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    refused(&s, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    refused(&s, b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505);
    // The server is still fine.
    assert_eq!(roundtrip(s.addr, &get("/")).status, 200);
}

#[test]
fn a_client_too_slow_to_send_its_head_is_disconnected() {
    // Generous: the connection served meanwhile gets the same timeout, and
    // its client may be kept off the CPU between its connect and its write.
    let s = TestServer::start(Server::new(app).header_timeout(Some(Duration::from_secs(2))));
    let mut slow = Client::connect(s.addr);
    slow.send(b"GET / HTTP/1.1\r\nHo");
    let mut idle = Client::connect(s.addr);
    // Others are served meanwhile.
    assert_eq!(roundtrip(s.addr, &get("/")).status, 200);
    // Both are closed by the sweeper (the client's read timeout is 20 s).
    assert!(slow.is_closed());
    assert!(idle.is_closed());
}

#[test]
fn a_panicking_app_gets_500_and_the_server_goes_on() {
    let s = server();
    let r = roundtrip(s.addr, &get("/panic"));
    assert_eq!((r.status, r.header("connection")), (500, Some("close")));
    assert_eq!(roundtrip(s.addr, &get("/")).status, 200);
}

#[test]
fn the_access_log_uses_the_common_log_format() {
    let log = guv_tests::http::access_log();
    let s = server();
    let mut c = Client::connect(s.addr);
    c.send(b"GET /?q=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    c.read_response().unwrap();
    c.send(&get("/nowhere"));
    c.read_response().unwrap();
    drop(s); // joins the server: every line is written
    let lines = log.lock().unwrap().clone();
    let ours: Vec<&String> = lines.iter().filter(|l| l.contains("\"GET /?q=1 ") || l.contains("/nowhere")).collect();
    assert_eq!(ours.len(), 2, "{lines:?}");
    let line = ours[0];
    assert!(line.starts_with("guv::wsgi::access 127.0.0.1 - - ["), "{line}");
    assert!(line.contains(" +0000] \"GET /?q=1 HTTP/1.1\" 200 13"), "{line}");
    assert!(ours[1].ends_with("\"GET /nowhere HTTP/1.1\" 404 11"), "{}", ours[1]);
}

static RELEASE: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Holds `/hold` requests until [`RELEASE`], counting how many run at once.
fn holding_app(req: Request<Body>) -> Response<Body> {
    if req.uri().path() == "/hold" {
        let now = ACTIVE.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        while !RELEASE.load(Ordering::SeqCst) {
            guv::sleep(Duration::from_millis(2));
        }
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
        return text(StatusCode::OK, "held");
    }
    text(StatusCode::OK, "quick")
}

#[test]
fn connections_beyond_the_cap_wait_and_shutdown_is_graceful() {
    let s = TestServer::start(Server::new(holding_app).max_connections(1).shutdown_timeout(Duration::from_secs(20)));
    let mut first = Client::connect(s.addr);
    first.send(&get("/hold"));
    while ACTIVE.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut second = Client::connect(s.addr);
    second.send(&get("/quick"));
    // The cap (a GreenPool of one) keeps the second connection waiting for
    // a slot: nothing comes back.
    second.stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let early = second.read_response();
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    second.stream.set_read_timeout(Some(guv_tests::http::CLIENT_TIMEOUT)).unwrap();

    // Shutdown while /hold is in flight: it still finishes, with a close.
    s.stop.shutdown();
    // The worker has begun stopping once the second connection, still
    // waiting for a slot, is dropped with the accept greenlet and its
    // listener: it ends unanswered. (Polling the port until connecting
    // fails could spin forever if another listener took the freed port.)
    let gone = second.read_response();
    assert!(gone.is_err(), "served beyond the cap: {gone:?}");
    RELEASE.store(true, Ordering::SeqCst);
    let r = first.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str(), r.header("connection")), (200, "held", Some("close")));
    s.shutdown().unwrap();
    assert_eq!(PEAK.load(Ordering::SeqCst), 1);
    // The second connection was never served.
    assert!(second.read_response().is_err());
}

#[test]
fn shutdown_kills_requests_that_outlive_the_deadline() {
    // The app reports when it starts, and when its stack unwinds (a kill
    // runs destructors) or, which must not happen, when it finishes.
    struct Unwound(std::sync::mpsc::Sender<&'static str>);
    impl Drop for Unwound {
        fn drop(&mut self) {
            let _ = self.0.send("dropped");
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let forever = move |_req: Request<Body>| {
        let guard = Unwound(tx.clone());
        tx.send("started").unwrap();
        guv::sleep(Duration::from_secs(3600));
        tx.send("finished").unwrap();
        drop(guard);
        text(StatusCode::OK, "never")
    };
    let s = TestServer::start(Server::new(forever).shutdown_timeout(Duration::from_millis(50)));
    let mut c = Client::connect(s.addr);
    c.send(&get("/"));
    let mut idle = Client::connect(s.addr);
    idle.send(b"GET");
    // The request is in the app before the shutdown begins.
    assert_eq!(rx.recv_timeout(guv_tests::http::CLIENT_TIMEOUT), Ok("started"));
    s.shutdown().unwrap();
    // The server has returned: the app was killed, not left running.
    assert_eq!(rx.try_recv(), Ok("dropped"));
    assert!(c.is_closed());
    assert!(idle.is_closed());
}
