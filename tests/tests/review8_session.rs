//! Review of session 8's changes: the streamed head sent while its body
//! waits, the input buffer replaced after a large head, scoped IPv6
//! literals, and the macro rewrites.

use std::io::{self, Read};
use std::sync::Mutex;

use guv::green::sync::mpsc as green_mpsc;
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, TestServer};

/// A body that waits for each of its events (end when the sender goes).
struct Events(green_mpsc::Receiver<&'static [u8]>);

impl Read for Events {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.recv() {
            Ok(event) => {
                buf[..event.len()].copy_from_slice(event);
                Ok(event.len())
            }
            Err(_) => Ok(0),
        }
    }
}

/// A server: `/ready` streams a body that never waits, `/events` the
/// events sent on the returned channel (chunked).
fn stream_server() -> (TestServer, green_mpsc::Sender<&'static [u8]>) {
    let (tx, rx) = green_mpsc::channel();
    let rx = Mutex::new(Some(rx));
    let app = move |req: Request<Body>| -> Response<Body> {
        match req.uri().path() {
            "/ready" => Response::new(Body::from_reader(&b"ready"[..])),
            _ => Response::new(Body::from_reader(Events(rx.lock().unwrap().take().expect("one event stream")))),
        }
    };
    (TestServer::start(Server::new(app).workers(1).access_log(false)), tx)
}

#[test]
fn an_event_stream_behind_a_ready_stream_gets_one_head() {
    // The ready stream's first read returned without parking: its head
    // sender stayed scheduled. The event stream pipelined behind it armed
    // its own; both ran when the event stream waited.
    let (s, tx) = stream_server();
    let mut c = Client::connect(s.addr);
    c.send(b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\nGET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ready"));
    // The event stream's head is out before its first event...
    let head = c.peek(17).unwrap().to_vec();
    assert_eq!(head, b"HTTP/1.1 200 OK\r\n");
    tx.send(b"data: one\n\n").unwrap();
    drop(tx);
    // ...and only once: the event follows it, then the end.
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "data: one\n\n"));
    c.send(b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ready"));
}
