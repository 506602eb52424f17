//! When the head of a streamed answer goes out. A body the app produces
//! (an event stream, a long poll) that waits before its first bytes must
//! not keep the head from the client meanwhile: the head goes out as soon
//! as the body waits. A body that is ready at once still goes out with its
//! head in one write, and a request body echoed back still holds the head
//! (so that its failure can still be answered with a status).

use std::io::{self, Read};
use std::sync::Mutex;

use guv::green::sync::mpsc as green_mpsc;
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{CLIENT_TIMEOUT, Client, Events, TestServer};

type EventTx = green_mpsc::Sender<Result<&'static [u8], &'static str>>;

/// A server whose `/events` answer streams the events sent on the
/// returned channel, sized `Some(n)` or chunked; `/` answers `plain`.
fn event_server(sized: Option<u64>) -> (TestServer, EventTx) {
    let (tx, rx) = green_mpsc::channel();
    let rx = Mutex::new(Some(rx));
    let app = move |req: Request<Body>| -> Response<Body> {
        if req.uri().path() != "/events" {
            return Response::new(Body::from("plain"));
        }
        let events = Events(rx.lock().unwrap().take().expect("one event stream"));
        let body = match sized {
            Some(n) => Body::sized(n, events),
            None => Body::from_reader(events),
        };
        Response::builder().header("content-type", "text/event-stream").body(body).unwrap()
    };
    (TestServer::start(Server::new(app).workers(1).access_log(false)), tx)
}

/// Reads until the bytes read end a head; returns them. Fails (after the
/// client's read timeout) if the head does not come.
fn read_head(c: &mut Client) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match c.stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => panic!("closed before the head ended: {:?}", String::from_utf8_lossy(&head)),
            Err(e) => panic!("no head within {CLIENT_TIMEOUT:?} ({e}): {:?}", String::from_utf8_lossy(&head)),
        }
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

/// Reads exactly `n` bytes.
fn read_exact(c: &mut Client, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    c.stream.read_exact(&mut got).expect("the bytes did not arrive");
    got
}

#[test]
fn an_event_stream_head_arrives_before_its_first_event() {
    let (s, tx) = event_server(None);
    let mut c = Client::connect(s.addr);
    c.send(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    // No event yet: the body waits, and the head must be out already.
    let head = read_head(&mut c);
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("\r\ntransfer-encoding: chunked\r\n"), "{head}");
    assert!(head.contains("\r\ncontent-type: text/event-stream\r\n"), "{head}");
    tx.send(Ok(b"data: one\n\n")).unwrap();
    assert_eq!(read_exact(&mut c, 16), b"b\r\ndata: one\n\n\r\n");
    drop(tx);
    assert_eq!(read_exact(&mut c, 5), b"0\r\n\r\n");
    // The answer ended whole: the connection serves the next request.
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "plain"));
}

#[test]
fn a_sized_stream_head_arrives_before_its_first_bytes() {
    let (s, tx) = event_server(Some(6));
    let mut c = Client::connect(s.addr);
    c.send(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    let head = read_head(&mut c);
    assert!(head.contains("\r\ncontent-length: 6\r\n"), "{head}");
    tx.send(Ok(b"abc")).unwrap();
    assert_eq!(read_exact(&mut c, 3), b"abc");
    tx.send(Ok(b"def")).unwrap();
    assert_eq!(read_exact(&mut c, 3), b"def");
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "plain");
}

#[test]
fn a_stream_that_fails_after_its_head_went_out_is_cut_not_answered_twice() {
    let (s, tx) = event_server(None);
    let mut c = Client::connect(s.addr);
    c.send(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    let head = read_head(&mut c);
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    tx.send(Err("the source broke")).unwrap();
    // The 200 is out: no 500 can follow it. The connection ends without the
    // last chunk, so the client sees the answer cut short.
    assert!(c.is_closed(), "more followed the head of a failed stream");
}

#[test]
fn a_stream_that_fails_before_it_waits_is_still_answered_with_a_500() {
    // The failure comes with the first read, before the body waited: the
    // head was never sent, so the status can still change.
    let app = |_req: Request<Body>| -> Response<Body> {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("broken at once"))
            }
        }
        Response::new(Body::from_reader(Broken))
    };
    let s = TestServer::start(Server::new(app).workers(1).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.header("connection")), (500, Some("close")));
}

#[test]
fn a_stream_ready_at_once_goes_out_with_its_head() {
    // A body that never waits is written with its head: one read by the
    // client sees both, as before.
    let app = |_req: Request<Body>| -> Response<Body> { Response::new(Body::from_reader(&b"ready now"[..])) };
    let s = TestServer::start(Server::new(app).workers(1).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ready now"));
}

#[test]
fn an_echoed_request_body_still_holds_the_head_until_its_first_bytes() {
    // The echo waits for the client's body: its head is not sent yet, so a
    // body that turns out too large is still answered 413 (had the head
    // gone out while the body waited, only a cut 200 would be left).
    let (ran, app_ran) = std::sync::mpsc::channel();
    let ran = Mutex::new(ran);
    let app = move |mut req: Request<Body>| -> Response<Body> {
        let body = std::mem::take(req.body_mut());
        ran.lock().unwrap().send(()).unwrap();
        Response::new(body)
    };
    let s = TestServer::start(Server::new(app).max_body_size(4).workers(1).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    // From the app's return the server goes straight to reading the body,
    // and parks for it; a head sent then would be a 200, and the answer
    // could only be cut.
    app_ran.recv_timeout(CLIENT_TIMEOUT).expect("the app never ran");
    c.send(b"9\r\ntoo large\r\n0\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
}
