//! guv::wsgi connection internals seen from outside: several greenlets
//! sharing one connection, and heads that arrive slowly.

use std::io::{Cursor, Read};
use std::sync::mpsc;
use std::time::Duration;

use guv::event::Event;
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, TestServer};

/// Larger than the kernel's socket buffers on both sides, so that writing
/// it to a client that does not read parks the writer.
const BIG: usize = 24 << 20;

/// A reader that yields what an [`Event`] carries, waiting for it on the
/// first read.
struct Outcome {
    event: Event<String>,
    text: Option<Cursor<Vec<u8>>>,
}

impl Read for Outcome {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.text.is_none() {
            let text = self.event.wait().unwrap_or_else(|never| match never {});
            self.text = Some(Cursor::new(text.into_bytes()));
        }
        self.text.as_mut().map_or(Ok(0), |t| t.read(buf))
    }
}

#[test]
fn a_greenlet_reads_the_body_while_the_connection_flushes_to_a_slow_client() {
    // The app hands the request body to a greenlet of its own and answers
    // at once with a body too big for the socket buffers, ending with what
    // that greenlet read. The connection's greenlet parks in a flush while
    // the client is not reading; the body reader runs then, and must wait
    // its turn to use the connection (not fail, not panic), and read the
    // body once the client sends it.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let app = move |req: Request<Body>| {
        let event = Event::new();
        let (started, done) = (started_tx.clone(), event.clone());
        let mut body = req.into_body();
        guv::spawn(move || {
            started.send(()).unwrap();
            let mut text = String::new();
            let outcome = match body.read_to_string(&mut text) {
                Ok(_) => format!("read {text:?}"),
                Err(e) => format!("failed: {e}"),
            };
            done.send(outcome).unwrap();
        });
        let big = Cursor::new(vec![b'x'; BIG]);
        Response::new(Body::from_reader(big.chain(Outcome { event, text: None })))
    };
    let s = TestServer::start(Server::new(app).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"POST /race HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n");
    // The body reader starts only once the connection's greenlet parks:
    // in the flush, since the client reads nothing yet.
    started_rx.recv_timeout(Duration::from_secs(20)).expect("the body reader never ran");
    c.send(b"hello");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), BIG + "read \"hello\"".len());
    assert!(r.body[..BIG].iter().all(|&b| b == b'x'), "the response bytes were interleaved");
    assert_eq!(String::from_utf8_lossy(&r.body[BIG..]), "read \"hello\"");
    // The connection is still in step.
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    let r = c.read_response().unwrap();
    assert_eq!(r.body.len(), BIG + "read \"abc\"".len());
}

#[test]
fn a_60k_head_sent_one_byte_per_write_is_answered() {
    // Each byte may arrive on its own read; the server must not re-parse
    // the whole head every time (quadratic: ~2 GB of parsing here).
    let app = |req: Request<Body>| {
        let total: usize = req.headers().iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
        Response::new(Body::from(format!("{} fields, {total} bytes", req.headers().len())))
    };
    let s = TestServer::start(Server::new(app).access_log(false));
    let value = "v".repeat(6200);
    let mut head = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    for i in 0..10 {
        head.push_str(&format!("X-Field-{i}: {value}\r\n"));
    }
    head.push_str("\r\n");
    assert!(head.len() > 60 * 1024 && head.len() < 64 * 1024);
    let mut c = Client::connect(s.addr);
    c.stream.set_nodelay(true).unwrap();
    for byte in head.as_bytes() {
        c.send(std::slice::from_ref(byte));
    }
    let r = c.read_response().unwrap();
    let expected = format!("11 fields, {} bytes", "hostt".len() + 10 * ("x-field-0".len() + value.len()));
    assert_eq!((r.status, r.text()), (200, expected));
    // The connection goes on with the next request.
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "1 fields, 5 bytes");
}
