//! Review of the raw service API (`Server::raw`, `RawRequest`,
//! `RawResponse`) and of the request loop it shares with the `http`-typed
//! path: state that must not outlive its request, memory that must not
//! outlive its answer, kills and timeouts inside the app, shutdown, and the
//! answer's framing.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use guv::wsgi::http::header::{self, HeaderName, HeaderValue};
use guv::wsgi::http::{Request, Response, StatusCode};
use guv::wsgi::{Body, RawRequest, RawResponse, Server};
use guv_tests::alloc::{Counting, counted_server, live};
use guv_tests::http::{CLIENT_TIMEOUT, Client, TestServer};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Waits (bounded by the client timeout) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {CLIENT_TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_large_raw_answer_is_not_kept_while_the_connection_idles() {
    const BIG: usize = 16 << 20;
    let app = |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| match req.path() {
        "/big" => {
            res.body_mut().resize(BIG, b'z');
        }
        "/fields" => {
            let value = HeaderValue::from_bytes(&vec![b'v'; BIG / 32]).unwrap();
            for _ in 0..32 {
                res.header(&HeaderName::from_static("x-many"), &value);
            }
        }
        "/replaced" => {
            // The app puts bytes of its own in the request body's place
            // and reads them all.
            *req.body() = Body::from(vec![b'r'; BIG]);
            let mut sink = Vec::new();
            req.body().read_to_end(&mut sink).unwrap();
            res.set_body(b"replaced");
        }
        _ => {
            res.set_body(b"small");
        }
    };
    let (addr, stop) = counted_server(Server::raw(app).access_log(false), 0);
    let mut c = Client::connect(addr);
    c.send(b"GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "small");
    let before = live(0);
    for path in ["/big", "/fields", "/replaced"] {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        if path == "/fields" {
            // A 16 MiB head, with no body: read to its blank line.
            let mut head = Vec::new();
            let mut chunk = vec![0u8; 1 << 16];
            while !head.ends_with(b"\r\n\r\n") {
                let n = c.stream.read(&mut chunk).unwrap();
                assert!(n > 0, "closed inside the head");
                head.extend_from_slice(&chunk[..n]);
            }
            assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n") && head.len() > BIG);
        } else {
            assert_eq!(c.read_response().unwrap().status, 200);
        }
        // The answer is out and the connection waits for its next
        // request: the 16 MiB it was built from must not stay with it.
        eventually(path, || live(0) - before < (BIG / 2) as isize);
        // The connection still serves.
        c.send(b"GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.read_response().unwrap().text(), "small");
    }
    stop();
}

#[test]
fn a_large_request_head_is_not_kept_while_the_connection_idles() {
    // A head near the 64 KiB limit grows the connection's input buffer
    // (and, for a raw app, the copy of the head it reads) to that size; an
    // idle connection must not keep it. Both app kinds, one after the other.
    fn check<A>(server: Server<A>, slot: usize)
    where
        A: guv::wsgi::Service,
        Server<A>: Send + 'static,
    {
        let (addr, stop) = counted_server(server.access_log(false), slot);
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.read_response().unwrap().text(), "fine");
        let before = live(slot);
        let pad = "p".repeat(4000);
        let mut big = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..14 {
            big.push_str(&format!("X-Pad-{i}: {pad}\r\n"));
        }
        big.push_str("\r\n");
        assert!(big.len() > 48 * 1024 && big.len() < 64 * 1024);
        c.send(big.as_bytes());
        assert_eq!(c.read_response().unwrap().text(), "fine");
        // Answered; the connection waits for its next request holding no
        // more than a small request's buffers.
        eventually("the head's buffers", || live(slot) - before < 24 * 1024);
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.read_response().unwrap().text(), "fine");
        stop();
    }
    check(
        Server::raw(|_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
            res.set_body(b"fine");
        }),
        2,
    );
    check(Server::new(|_req: Request<Body>| Response::new(Body::from("fine"))), 3);
}

// ----- a request body read by another greenlet after the answer ----------

/// An app (either kind) that hands `/upload`'s body to a helper greenlet,
/// which reads it only once `go` is set (after the client has the answer)
/// and reports what it got.
struct LateReader {
    go: Arc<AtomicBool>,
    results: mpsc::Receiver<Result<Vec<u8>, String>>,
}

fn late_reader() -> (LateReader, impl Fn(Body) + Send + Sync + Clone + 'static) {
    let go = Arc::new(AtomicBool::new(false));
    let (tx, results) = mpsc::channel();
    let tx = Arc::new(Mutex::new(tx));
    let flag = go.clone();
    let hand_over = move |mut body: Body| {
        let (go, tx) = (flag.clone(), tx.lock().unwrap().clone());
        guv::spawn(move || {
            while !go.load(Ordering::SeqCst) {
                guv::sleep(Duration::from_millis(1));
            }
            let mut got = Vec::new();
            let r = body.read_to_end(&mut got).map(|_| got).map_err(|e| e.to_string());
            tx.send(r).unwrap();
        });
    };
    (LateReader { go, results }, hand_over)
}

fn check_late_reads(s: &TestServer, late: &LateReader) {
    let mut c = Client::connect(s.addr);
    // The whole body came with the head: the server drains it and waits
    // for the next request before the helper reads.
    c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(c.read_response().unwrap().text(), "accepted");
    late.go.store(true, Ordering::SeqCst);
    let got = late.results.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert!(got.is_err(), "a body read after its answer ended early instead of failing: {got:?}");
    c.send(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "next");

    // Half the body came: the server is draining the rest when the helper
    // reads.
    late.go.store(false, Ordering::SeqCst);
    c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhel");
    assert_eq!(c.read_response().unwrap().text(), "accepted");
    late.go.store(true, Ordering::SeqCst);
    let got = late.results.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert!(got.is_err(), "a body read while the server drains it ended early instead of failing: {got:?}");
    c.send(b"lo worldGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "next");
}

#[test]
fn a_raw_request_body_read_after_its_answer_fails_rather_than_looking_whole() {
    let (late, hand_over) = late_reader();
    let app = move |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        if req.path() == "/upload" {
            hand_over(std::mem::take(req.body()));
            res.set_body(b"accepted");
        } else {
            res.set_body(b"next");
        }
    };
    let s = TestServer::start(Server::raw(app).access_log(false));
    check_late_reads(&s, &late);
}

#[test]
fn an_http_request_body_read_after_its_answer_fails_rather_than_looking_whole() {
    let (late, hand_over) = late_reader();
    let app = move |mut req: Request<Body>| -> Response<Body> {
        if req.uri().path() == "/upload" {
            hand_over(std::mem::take(req.body_mut()));
            return Response::new(Body::from("accepted"));
        }
        Response::new(Body::from("next"))
    };
    let s = TestServer::start(Server::new(app).access_log(false));
    check_late_reads(&s, &late);
}

#[test]
fn a_body_read_to_its_end_still_reads_as_ended_after_the_answer() {
    // What the helper had read whole stays whole: only an unfinished body
    // fails once its answer is out.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let go = Arc::new(AtomicBool::new(false));
    let flag = go.clone();
    let app = move |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        let mut body = std::mem::take(req.body());
        let mut got = Vec::new();
        body.read_to_end(&mut got).unwrap();
        let (tx, go) = (tx.lock().unwrap().clone(), flag.clone());
        guv::spawn(move || {
            while !go.load(Ordering::SeqCst) {
                guv::sleep(Duration::from_millis(1));
            }
            let mut more = Vec::new();
            tx.send(body.read_to_end(&mut more).map(|n| (n, body.len())).map_err(|e| e.to_string())).unwrap();
        });
        res.set_body(&got);
    };
    let s = TestServer::start(Server::raw(app).access_log(false));
    let mut c = Client::connect(s.addr);
    for (request, text) in [
        (&b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"[..], "abc"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n", "de"),
    ] {
        go.store(false, Ordering::SeqCst);
        c.send(request);
        assert_eq!(c.read_response().unwrap().text(), text);
        go.store(true, Ordering::SeqCst);
        assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT).unwrap(), Ok((0, Some(0))), "{text}");
    }
}

// ----- kills, timeouts and shutdown inside a raw app ---------------------

/// Reports when it is dropped: a stack that unwinds drops it.
struct Unwound(mpsc::Sender<&'static str>);

impl Drop for Unwound {
    fn drop(&mut self) {
        let _ = self.0.send("unwound");
    }
}

#[test]
fn a_raw_app_killed_at_the_shutdown_deadline_unwinds_without_an_answer() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let app = move |_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        let tx = tx.lock().unwrap().clone();
        let _guard = Unwound(tx.clone());
        res.set_body(b"never");
        tx.send("started").unwrap();
        guv::sleep(Duration::from_secs(3600));
        tx.send("finished").unwrap();
    };
    let s = TestServer::start(Server::raw(app).shutdown_timeout(Duration::from_millis(50)).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("started"));
    s.shutdown().unwrap();
    assert_eq!(rx.try_recv(), Ok("unwound"));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), Vec::<&str>::new(), "the app went on after the kill");
    // No 500 (nor anything else) for a request the server killed.
    assert!(c.is_closed());
}

#[test]
fn a_raw_app_in_flight_at_shutdown_finishes_with_connection_close() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let release = Arc::new(AtomicBool::new(false));
    let released = release.clone();
    let app = move |_req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        tx.lock().unwrap().send(()).unwrap();
        while !released.load(Ordering::SeqCst) {
            guv::sleep(Duration::from_millis(1));
        }
        res.set_body(b"held");
    };
    let s = TestServer::start(Server::raw(app).shutdown_timeout(Duration::from_secs(20)).access_log(false));
    // A connection that waits for its next request: the shutdown closes
    // it, which tells the test that the server has begun stopping.
    let mut idle = Client::connect(s.addr);
    idle.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
    release.store(true, Ordering::SeqCst);
    idle.read_response().unwrap();
    release.store(false, Ordering::SeqCst);
    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
    s.stop.shutdown();
    assert!(idle.is_closed());
    release.store(true, Ordering::SeqCst);
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str(), r.header("connection")), (200, "held", Some("close")));
    // The pipelined second request is not served.
    assert!(c.is_closed());
    s.shutdown().unwrap();
}

#[test]
fn an_uncaught_timeout_in_a_raw_app_unwinds_rather_than_answering_500() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let app = move |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        if req.path() == "/caught" {
            let r = guv::with_timeout(Duration::from_millis(5), || guv::sleep(Duration::from_secs(3600)));
            res.set_body(if r.is_err() { b"timed out" } else { b"slept" });
            return;
        }
        let _guard = Unwound(tx.lock().unwrap().clone());
        let _t = guv::Timeout::start(Duration::from_millis(5));
        res.set_body(b"never");
        guv::sleep(Duration::from_secs(3600));
    };
    let s = TestServer::start(Server::raw(app).access_log(false));
    let r = guv_tests::http::roundtrip(s.addr, b"GET /caught HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "timed out"));
    let mut c = Client::connect(s.addr);
    c.send(b"GET /uncaught HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("unwound"));
    // The timeout ended the connection's greenlet: no answer, and the
    // server goes on.
    assert!(c.is_closed());
    let r = guv_tests::http::roundtrip(s.addr, b"GET /caught HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
}

// ----- the answer's framing ----------------------------------------------

#[test]
fn framing_fields_set_by_a_raw_app_in_any_spelling_are_the_servers() {
    let app = |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        for (name, value) in [
            (&b"Content-Length"[..], &b"999"[..]),
            (b"TRANSFER-ENCODING", b"chunked"),
            (b"CoNnEcTiOn", b"keep-alive, Close"),
            (b"DATE", b"mine"),
            (b"Server", b"mine too"),
        ] {
            res.header(&HeaderName::from_bytes(name).unwrap(), &HeaderValue::from_bytes(value).unwrap());
        }
        let len = req.header("x-len").and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()).unwrap_or(3);
        res.body_mut().resize(len, b'b');
    };
    let s = TestServer::start(Server::raw(app).access_log(false));
    for len in [3usize, 40_000] {
        let mut c = Client::connect(s.addr);
        c.send(format!("GET / HTTP/1.1\r\nHost: a\r\nX-Len: {len}\r\n\r\n").as_bytes());
        let r = c.read_response().unwrap();
        assert_eq!(r.body.len(), len);
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["date", "server", "content-length", "connection"], "{r:?}");
        assert_eq!(
            (r.header("content-length"), r.header("connection"), r.header("date"), r.header("server")),
            (Some(len.to_string().as_str()), Some("close"), Some("mine"), Some("mine too"))
        );
        assert!(c.is_closed());
    }
}

#[test]
fn large_raw_answers_keep_their_order_among_pipelined_ones() {
    let app = |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        let n: usize = req.target().rsplit(['/', ':']).next().unwrap().parse().unwrap();
        res.body_mut().extend((0..n).map(|i| (i % 251) as u8));
        if req.method() == "CONNECT" {
            res.set_status(StatusCode::OK);
        }
    };
    let s = TestServer::start(Server::raw(app).access_log(false));
    let mut c = Client::connect(s.addr);
    let sizes = [5usize, 100_000, 7, 32 * 1024, 32 * 1024 + 1, 0, 1 << 20, 3];
    let mut all = Vec::new();
    for n in sizes {
        write!(all, "GET /{n} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    }
    // HEAD of a large answer: its length, no body.
    all.extend_from_slice(b"HEAD /100000 HTTP/1.1\r\nHost: a\r\n\r\n");
    c.send(&all);
    for n in sizes {
        let r = c.read_response().unwrap();
        assert_eq!(r.body.len(), n);
        assert!(r.body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "{n}");
    }
    let r = c.read_response_to(true).unwrap();
    assert_eq!((r.header("content-length"), r.body.len()), (Some("100000"), 0));
    // A 2xx to CONNECT: the body is the tunnel's data, then the close.
    let mut c = Client::connect(s.addr);
    c.send(b"CONNECT a:40000 HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut got = Vec::new();
    c.stream.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && !text.contains("Content-Length"), "{text:.200}");
    assert!(got.ends_with(&[(39_999 % 251) as u8]));
}

#[test]
fn expect_100_continue_with_a_raw_app() {
    let app = |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        if req.path() == "/read" {
            let mut body = Vec::new();
            req.body().read_to_end(&mut body).unwrap();
            res.set_body(&body);
        } else {
            res.set_body(b"unread");
        }
    };
    let s = TestServer::start(Server::raw(app).access_log(false));
    // Read: the 100 goes out first, and the connection stays open.
    let mut c = Client::connect(s.addr);
    c.send(b"PUT /read HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert_eq!(c.peek(25).unwrap(), b"HTTP/1.1 100 Continue\r\n\r\n");
    c.read_response().unwrap();
    c.send(b"abc");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str(), r.header("connection")), (200, "abc", None));
    // Unread: no 100, and the answer closes.
    c.send(b"PUT /unread HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str(), r.header("connection")), (200, "unread", Some("close")));
    assert!(c.is_closed());
}

#[test]
fn a_raw_answer_to_an_http_1_0_client_and_a_status_outside_2xx_to_5xx() {
    let app = |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        let code: u16 = req.path()[1..].parse().unwrap();
        res.set_status(StatusCode::from_u16(code).unwrap());
        res.header(&header::CONNECTION, &HeaderValue::from_static("close"));
        res.set_body(b"x");
    };
    let s = TestServer::start(Server::raw(app).access_log(false));
    for code in [100u16, 101, 199, 600, 999] {
        let mut c = Client::connect(s.addr);
        c.send(format!("GET /{code} HTTP/1.1\r\nHost: a\r\n\r\nGET /200 HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let r = c.read_response().unwrap();
        // The app's answer is replaced whole, its `Connection: close` too.
        assert_eq!((r.status, r.text().as_str(), r.header("connection")), (500, "Internal Server Error", None));
        let r = c.read_response().unwrap();
        assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    }
    let mut c = Client::connect(s.addr);
    c.send(b"GET /200 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.is_closed());
}

#[test]
fn the_body_and_header_timeouts_apply_to_a_raw_app() {
    let app = |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        let mut body = Vec::new();
        match req.body().read_to_end(&mut body) {
            Ok(_) => res.set_body(&body),
            // Replaced by the server's 408.
            Err(e) => res.set_status(StatusCode::IM_A_TEAPOT).set_body(e.to_string().as_bytes()),
        };
    };
    let s = TestServer::start(
        Server::raw(app)
            .body_timeout(Some(Duration::from_millis(100)))
            .header_timeout(Some(Duration::from_millis(300)))
            .access_log(false),
    );
    // A body that stops coming: 408, and the connection closes.
    let mut c = Client::connect(s.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (408, Some("close")), "{}", r.text());
    assert!(c.is_closed());
    // A head that never comes: the connection is closed, unanswered.
    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HT");
    assert_eq!(c.read_response().unwrap().status, 200);
    assert!(c.is_closed());
}

#[test]
fn nothing_of_a_raw_request_or_answer_carries_over_to_the_next() {
    let app = |req: &mut RawRequest<'_>, res: &mut RawResponse<'_>| {
        let mut body = Vec::new();
        req.body().read_to_end(&mut body).unwrap();
        let names: Vec<&str> = req.headers().map(|(name, _)| name).collect();
        write!(res, "{} {:?} {:?} {}", req.target(), req.header("x-test"), names, body.len()).unwrap();
        if req.path() == "/first" {
            res.set_status(StatusCode::ACCEPTED);
            res.header(&HeaderName::from_static("x-first"), &HeaderValue::from_static("1"));
            res.header(&header::SERVER, &HeaderValue::from_static("first"));
        }
    };
    let s = TestServer::start(Server::raw(app).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(
        b"POST /first HTTP/1.1\r\nHost: longer.example:8080\r\nX-Test: one\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 4\r\n\r\nbody\
          GET /s HTTP/1.1\r\nHost: b\r\n\r\nGET /t HTTP/1.0\r\n\r\n",
    );
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(r.text(), "/first Some([111, 110, 101]) [\"Host\", \"X-Test\", \"X-A\", \"X-B\", \"Content-Length\"] 4");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "/s None [\"Host\"] 0"));
    assert_eq!((r.header("x-first"), r.header("server").map(|s| s.starts_with("guv/"))), (None, Some(true)));
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str(), r.header("connection")), (200, "/t None [] 0", Some("close")));
}
