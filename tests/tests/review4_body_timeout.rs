//! Review of `Server::body_timeout`: a body read that times out belongs to
//! its own request. A greenlet the app spawned to read the body may still
//! be waiting when the app has already answered; its timeout must not turn
//! the connection's next request into a 408.

use std::io::Read;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, TestServer};

#[test]
fn a_late_body_timeout_does_not_answer_the_next_request() {
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, std::io::ErrorKind>>();
    let tx = Mutex::new(tx);
    let app = move |mut req: Request<Body>| -> Response<Body> {
        if req.uri().path() == "/upload" {
            // A helper greenlet reads the body; the app answers once the
            // helper has read what came and waits for more.
            let mut body = std::mem::replace(req.body_mut(), Body::empty());
            let tx = tx.lock().unwrap().clone();
            let waiting = guv::Event::new();
            let w = waiting.clone();
            guv::spawn(move || {
                let mut got = vec![0u8; 3];
                body.read_exact(&mut got).unwrap();
                w.set();
                let mut rest = [0u8; 16];
                let r = body.read(&mut rest).map(|n| rest[..n].to_vec()).map_err(|e| e.kind());
                tx.send(r).unwrap();
            });
            waiting.wait();
            return Response::new(Body::from("accepted"));
        }
        Response::new(Body::from("second"))
    };
    let s = TestServer::start(Server::new(app).body_timeout(Some(Duration::from_millis(200))).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "accepted"));
    // The helper's read times out after the answer went out.
    let late = rx.recv_timeout(Duration::from_secs(20)).expect("the helper's read never ended");
    assert_eq!(late, Err(std::io::ErrorKind::TimedOut));
    // The rest of the body (drained by the server), then a new request.
    c.send(b"defghij");
    c.send(b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "second"), "the stale 408 answered the next request");
}
