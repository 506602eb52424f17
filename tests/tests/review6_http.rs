//! Review 6 of `guv::wsgi`: which timeout bounds a server that is writing
//! (the header timeout must not, a send timeout does), a streamed echo
//! whose request body fails before any byte of it was produced (408/413,
//! not a cut 200), what the access log says about taken-over connections,
//! and the connection state machine's corners.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server, Upgrade};
use guv_tests::http::{CLIENT_TIMEOUT, Client, Events, TestServer};

/// An in-memory answer as large as the server still copies next to its
/// head, so that pipelined answers pile up in one buffer.
const ANSWER: usize = 32 * 1024;

fn big_answers(_req: Request<Body>) -> Response<Body> {
    Response::new(Body::from(vec![b'x'; ANSWER]))
}

fn pipelined(n: usize, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").repeat(n).into_bytes()
}

/// Reads answers of [`ANSWER`] bytes until `n` arrived or the connection
/// ended; returns how many arrived whole.
fn count_answers(c: &mut Client, n: usize) -> usize {
    for i in 0..n {
        match c.read_response() {
            Ok(r) if r.status == 200 && r.body.len() == ANSWER => {}
            _ => return i,
        }
    }
    n
}

/// Waits until the server closes `c` (it must send nothing first).
fn wait_closed(c: &mut std::net::TcpStream) {
    let mut b = [0u8; 1];
    match c.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to close the connection, got {other:?}"),
    }
}

// ----- 1. the header timeout does not apply while the server writes -------

#[test]
fn a_slow_reader_of_pipelined_answers_is_not_cut_off_by_the_header_timeout() {
    // 32 MiB of answers: far more than the socket buffers hold, so the
    // server waits for this client to read while it still owes answers.
    const N: usize = 1024;
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let app = move |req: Request<Body>| {
        if req.uri().path() == "/first" {
            let _ = tx.lock().unwrap().send(());
        }
        big_answers(req)
    };
    let s = TestServer::start(
        Server::new(app).header_timeout(Some(Duration::from_millis(100))).workers(1).access_log(false),
    );
    let mut slow = Client::connect(s.addr);
    let mut batch = pipelined(1, "/first");
    batch.extend_from_slice(&pipelined(N - 1, "/"));
    slow.send(&batch);
    rx.recv_timeout(CLIENT_TIMEOUT).expect("the app never saw the first request");
    // A witness that sends nothing: the header timeout closes it. It
    // began waiting after the slow connection's server was already
    // writing (one hub: it is accepted only once that writer parks), so
    // by the time it is closed, a header timeout counted over the writing
    // would have closed the slow connection too.
    let mut witness = s.connect();
    wait_closed(&mut witness);
    // Now the slow client reads everything.
    assert_eq!(count_answers(&mut slow, N), N, "the slow reader was cut off");
}

#[test]
fn a_client_that_never_reads_its_pipelined_answers_is_closed_by_the_send_timeout() {
    const N: usize = 1024;
    let s = TestServer::start(
        Server::new(big_answers)
            .max_connections(1)
            .header_timeout(Some(Duration::from_secs(60)))
            .send_timeout(Some(Duration::from_millis(200)))
            .workers(1)
            .access_log(false),
    );
    let mut stuck = Client::connect(s.addr);
    stuck.send(&pipelined(N, "/"));
    // One connection at a time: the next client is served only once the
    // stuck one is given up.
    let mut next = Client::connect(s.addr);
    next.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = next.read_response().expect("the stuck connection kept its slot");
    assert_eq!(r.status, 200);
    let got = count_answers(&mut stuck, N);
    assert!(got < N, "all {N} answers arrived: the connection was not closed");
}

#[test]
fn a_client_that_never_reads_a_streamed_answer_is_closed_by_the_send_timeout() {
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Endless(Arc<AtomicUsize>);
    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(b'z');
            Ok(buf.len())
        }
    }
    impl Drop for Endless {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let d = dropped.clone();
    let app = move |req: Request<Body>| {
        if req.uri().path() == "/endless" {
            return Response::new(Body::from_reader(Endless(d.clone())));
        }
        Response::new(Body::from("next"))
    };
    let s = TestServer::start(
        Server::new(app).max_connections(1).send_timeout(Some(Duration::from_millis(200))).workers(1).access_log(false),
    );
    let mut stuck = Client::connect(s.addr);
    stuck.send(b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut next = Client::connect(s.addr);
    next.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = next.read_response().expect("the stuck connection kept its slot");
    assert_eq!((r.status, r.text().as_str()), (200, "next"));
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the endless body was not dropped");
    // What the buffers held arrives, then the end: no last chunk.
    let cut = stuck.read_response().expect_err("an endless body ended");
    assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof, "{cut}");
}

#[test]
fn the_send_timeout_bounds_each_wait_not_the_whole_answer() {
    // 16 MiB read in small steps with pauses: far longer in all than the
    // send timeout, but the client never stops reading for that long.
    const LEN: usize = 16 << 20;
    let app = |_req: Request<Body>| Response::new(Body::from(vec![b'y'; LEN]));
    let timeout = Duration::from_secs(1);
    let s = TestServer::start(Server::new(app).send_timeout(Some(timeout)).workers(1).access_log(false));
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    let start = Instant::now();
    let mut got = 0usize;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = c.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        got += n;
        if start.elapsed() < timeout * 3 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(got > LEN, "{got} bytes: the answer was cut");
    assert!(start.elapsed() > timeout, "the client read too fast to show anything");
}

// ----- 2. a streamed echo whose request body fails is answered 408/413 ------

fn echo(req: Request<Body>) -> Response<Body> {
    if req.uri().path() == "/echo" {
        return Response::new(req.into_body());
    }
    Response::new(Body::from("plain"))
}

#[test]
fn an_echo_whose_request_body_times_out_before_any_byte_is_a_408() {
    let s = TestServer::start(Server::new(echo).body_timeout(Some(Duration::from_millis(100))).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
}

#[test]
fn an_echo_after_100_continue_whose_body_times_out_is_a_100_then_a_408() {
    let s = TestServer::start(Server::new(echo).body_timeout(Some(Duration::from_millis(100))).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 100);
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn an_echo_whose_chunked_body_outgrows_the_limit_after_100_continue_is_a_413() {
    let s = TestServer::start(Server::new(echo).max_body_size(4).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
    // The 100 goes out before the server waits for the body; only then is
    // the body sent.
    assert_eq!(c.peek(25).unwrap(), b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 100);
    c.send(b"6\r\nabcdef\r\n0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn answers_pipelined_before_a_held_echo_still_go_out_before_it_waits() {
    let s = TestServer::start(Server::new(echo).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n");
    // The first answer arrives while the server waits for the body.
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "plain"));
    c.send(b"0123456789");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    assert_eq!(r.header("content-length"), Some("10"));
}

#[test]
fn an_echo_cut_after_its_first_bytes_is_still_cut_short() {
    // Bytes were produced (and sent): the 200 stands and the client sees
    // it end early.
    let s = TestServer::start(Server::new(echo).body_timeout(Some(Duration::from_millis(100))).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(c.peek(12).unwrap(), b"HTTP/1.1 200");
    let cut = c.read_response().expect_err("a body cut short read whole");
    assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
}

// ----- 3. the access log of a taken-over connection -------------------------

fn taking_over(req: Request<Body>) -> Response<Body> {
    let up = req.extensions().get::<Upgrade>().cloned().expect("an upgrade request");
    let mut conn = up.take().unwrap();
    match req.uri().path() {
        "/refuse-raw" => {
            // Written in two pieces, the status line cut in the middle.
            conn.write_all(b"HTTP/1.1 4").unwrap();
            conn.write_all(b"03 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        }
        "/switch" => {
            conn.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n").unwrap();
        }
        _ => {} // writes nothing
    }
    Response::new(Body::empty())
}

fn log_line_of(lines: &[String], path: &str) -> String {
    let ours: Vec<&String> = lines.iter().filter(|l| l.contains(path)).collect();
    assert_eq!(ours.len(), 1, "{lines:?}");
    ours[0].clone()
}

#[test]
fn the_access_log_shows_what_a_taken_over_connection_was_answered() {
    let log = guv_tests::http::access_log();
    let s = TestServer::start(Server::new(taking_over));
    for path in ["/refuse-raw", "/switch", "/silent"] {
        let mut c = Client::connect(s.addr);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n").as_bytes());
        let mut all = Vec::new();
        c.stream.read_to_end(&mut all).unwrap();
    }
    s.shutdown().unwrap(); // every line is written
    let lines = log.lock().unwrap().clone();
    let line = log_line_of(&lines, "/refuse-raw");
    assert!(line.ends_with("\"GET /refuse-raw HTTP/1.1\" 403 -"), "{line}");
    let line = log_line_of(&lines, "/switch");
    assert!(line.ends_with("\"GET /switch HTTP/1.1\" 101 -"), "{line}");
    let line = log_line_of(&lines, "/silent");
    assert!(line.ends_with("\"GET /silent HTTP/1.1\" - -"), "{line}");
}

// ----- 4. the connection state machine -----------------------------------

/// The answers owed at a shutdown in the tests below: each this long,
/// [`OWED_N`] + 1 of them (about 57 KiB with their heads), under the
/// server's backpressure bound (64 KiB of answers owed, past which it
/// writes them out before it reads the next request), so that the app
/// takes every request up while the client reads nothing; and far more
/// than the small socket buffers of [`owed_answers_client`] hold, so that
/// the server then waits for the client to read them.
const OWED: usize = 1024;
const OWED_N: usize = 48;

/// Answers [`OWED`] bytes from memory, never reading a body; tells `seen`
/// when it answers `/last`.
fn owed_answers(seen: mpsc::Sender<()>) -> impl Fn(Request<Body>) -> Response<Body> + Send + Sync + 'static {
    let seen = Mutex::new(seen);
    move |req: Request<Body>| {
        if req.uri().path() == "/last" {
            let _ = seen.lock().unwrap().send(());
        }
        Response::new(Body::from(vec![b'x'; OWED]))
    }
}

/// A server for `app` whose connections have a small send buffer, and a
/// client of it with a small receive buffer: a few KiB of answers fill
/// the socket.
fn owed_answers_client<A>(server: Server<A>) -> (TestServer, Client)
where
    A: guv::wsgi::Service,
    Server<A>: Send + 'static,
{
    let listener = guv_tests::net::listener_with_sndbuf(4096);
    let sndbuf = guv_tests::net::int_option(&listener, libc::SO_SNDBUF);
    let s = TestServer::serve(server, listener);
    let stream = guv_tests::net::connect_with_rcvbuf(s.addr, 4096);
    let rcvbuf = guv_tests::net::int_option(&stream, libc::SO_RCVBUF);
    // The premise: the socket holds far less than the answers owed.
    assert!(((sndbuf + rcvbuf) as usize) < OWED_N * OWED / 2, "socket buffers of {sndbuf} + {rcvbuf} bytes");
    (s, Client::new(stream))
}

/// Sends [`OWED_N`] pipelined GETs then `last` in one write, and waits
/// until the app has answered `/last`: every request is taken up, and the
/// server is waiting for the client, which reads nothing yet, to take
/// answers the socket cannot hold. Then shuts the server down and checks
/// that every answer still arrives, in order, then the end.
fn answers_owed_at_shutdown_arrive(last: &[u8]) {
    answers_owed_at_shutdown_arrive_then(last, None);
}

/// [`answers_owed_at_shutdown_arrive`], then one more answer (to a
/// request after `/last`) with status `then`.
fn answers_owed_at_shutdown_arrive_then(last: &[u8], then: Option<u16>) {
    let (tx, rx) = mpsc::channel();
    let (s, mut c) = owed_answers_client(Server::new(owed_answers(tx)).access_log(false));
    let mut batch = pipelined(OWED_N, "/");
    batch.extend_from_slice(last);
    c.send(&batch);
    rx.recv_timeout(CLIENT_TIMEOUT).expect("the app never saw the last request");
    // The server is now writing the owed answers to a client that reads
    // nothing (one hub: the stop runs once that writer parks).
    s.stop.shutdown();
    for i in 0..=OWED_N {
        let r = c.read_response().unwrap_or_else(|e| panic!("answer {i} of {}: {e}", OWED_N + 1));
        assert_eq!((r.status, r.body.len()), (200, OWED), "answer {i}");
    }
    if let Some(status) = then {
        let r = c.read_response().expect("the last answer was cut");
        assert_eq!(r.status, status, "{}", r.text());
    }
    assert!(c.is_closed());
}

#[test]
fn answers_owed_before_a_close_still_go_out_at_shutdown() {
    answers_owed_at_shutdown_arrive(b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
}

#[test]
fn answers_owed_before_a_drain_still_go_out_at_shutdown() {
    // The app leaves the body unread and the client has sent only part of
    // it: the server drains after flushing the answers.
    answers_owed_at_shutdown_arrive(b"POST /last HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
}

#[test]
fn answers_owed_before_a_refused_request_still_go_out_at_shutdown() {
    // `/last` is answered, then a head the server refuses (400): its
    // answer goes out after all the owed ones, before the close.
    let mut last = b"GET /last HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    last.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    answers_owed_at_shutdown_arrive_then(&last, Some(400));
}

#[test]
fn pipelined_chunked_body_half_read_after_100_continue_then_a_get() {
    let app = |mut req: Request<Body>| -> Response<Body> {
        if req.uri().path() == "/half" {
            let mut first = [0u8; 5];
            req.body_mut().read_exact(&mut first).unwrap();
            return Response::new(Body::from(format!("got {}", String::from_utf8_lossy(&first))));
        }
        Response::new(Body::from("plain"))
    };
    let s = TestServer::start(Server::new(app).access_log(false));
    let mut c = Client::connect(s.addr);
    // The client does not wait for the 100 (RFC 9110 allows it): body and
    // the next request follow at once.
    c.send(
        b"POST /half HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
          5;x=1\r\nhello\r\n5\r\nworld\r\n0\r\nTrailer: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(c.read_response().unwrap().status, 100);
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection"), r.text().as_str()), (200, None, "got hello"));
    // The rest of the body was drained, not taken for a request.
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "plain"));
    c.send(b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "plain");
}

#[test]
fn a_held_echo_waiting_for_its_body_at_shutdown_is_answered_then_closed() {
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let app = move |req: Request<Body>| -> Response<Body> {
        if req.uri().path() == "/echo" {
            let _ = tx.lock().unwrap().send(());
            return Response::new(req.into_body());
        }
        Response::new(Body::from("idle"))
    };
    let s = TestServer::start(Server::new(app).workers(1).access_log(false));
    // A witness, answered and now idle: the shutdown closes it at once.
    let mut witness = Client::connect(s.addr);
    witness.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(witness.read_response().unwrap().text(), "idle");
    let mut c = Client::connect(s.addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    rx.recv_timeout(CLIENT_TIMEOUT).expect("the app never ran");
    // The server waits for the body (the answer's head held); a shutdown
    // lets that request finish.
    s.stop.shutdown();
    assert!(witness.is_closed(), "the shutdown did not close an idle connection");
    c.send(b"hello");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    // The head was written after the shutdown began: it says so.
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed(), "the connection stayed open after a shutdown");
}

#[test]
fn a_drain_over_its_limit_closes_after_the_answer_and_answers_nothing_after_it() {
    // 16 bytes drained at most; a chunked body (length unknown up front)
    // turns out longer while it is drained.
    let app = |_req: Request<Body>| Response::new(Body::from("unread"));
    let s = TestServer::start(Server::new(app).max_drain(16).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "unread"));
    c.send(b"20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(c.is_closed(), "a request after an over-long drained body was answered");
}

#[test]
fn a_streamed_answer_that_waits_between_its_chunks_sends_each_before_it_waits() {
    // An event stream: the body's reader waits for each event. What it
    // produced must reach the client before it waits again, not sit in the
    // server's buffer until 64 KiB or the end.
    use guv::green::sync::mpsc as green_mpsc;
    let (tx, rx) = green_mpsc::channel::<&'static [u8]>();
    let rx = Mutex::new(Some(rx));
    let app = move |_req: Request<Body>| -> Response<Body> {
        let events = rx.lock().unwrap().take().expect("one request");
        Response::new(Body::from_reader(Events(events)))
    };
    let s = TestServer::start(Server::new(app).workers(1).access_log(false));
    let mut c = s.connect();
    c.write_all(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    fn read_until(c: &mut std::net::TcpStream, got: &mut Vec<u8>, end: &[u8]) {
        let mut b = [0u8; 1024];
        while !got.ends_with(end) {
            let n = c.read(&mut b).expect("the event did not arrive");
            assert!(n > 0, "closed early");
            got.extend_from_slice(&b[..n]);
        }
    }
    let mut got = Vec::new();
    tx.send(b"data: one\n\n").unwrap();
    read_until(&mut c, &mut got, b"data: one\n\n\r\n");
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&got));
    tx.send(b"data: two\n\n").unwrap();
    read_until(&mut c, &mut got, b"data: two\n\n\r\n");
    drop(tx);
    read_until(&mut c, &mut got, b"0\r\n\r\n");
}
