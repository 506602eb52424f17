//! Review 12: guv::wsgi's cached `Content-Length` line.

use std::io::{Read, Write};
use std::time::Duration;

use guv::wsgi::http::{Request, Response, header};
use guv::wsgi::{Body, Server};
use guv_tests::http::TestServer;

/// Reads from `c` until `end` has been seen, or the server closes.
fn read_until(c: &mut std::net::TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(end.len()).any(|w| w == end) {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed after {:?}: {e}", String::from_utf8_lossy(&got)),
        }
    }
    got
}

#[test]
fn a_head_answer_declaring_the_largest_length_ends_its_head() {
    // The largest length an app can declare is `u64::MAX`, which the
    // per-thread cache of the last `Content-Length` line took for "not set
    // yet": the first such answer of a thread went out with no length and
    // no blank line, and the client took the next answer for its fields.
    let app = |req: Request<Body>| {
        if req.uri().path() == "/max" {
            let mut r = Response::new(Body::from_reader(std::io::empty()));
            r.headers_mut().insert(header::CONTENT_LENGTH, u64::MAX.to_string().parse().unwrap());
            r
        } else {
            Response::new(Body::from("done"))
        }
    };
    let s = TestServer::start(Server::new(app).access_log(false));
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"HEAD /max HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let got = String::from_utf8(read_until(&mut c, b"done")).unwrap();
    let heads: Vec<&str> = got.split("\r\n\r\n").collect();
    assert_eq!(heads.len(), 3, "two heads, then the body: {got:?}");
    assert!(heads[0].to_ascii_lowercase().contains(&format!("\r\ncontent-length: {}", u64::MAX)), "{got:?}");
    assert!(heads[1].starts_with("HTTP/1.1 200"), "{got:?}");
    assert_eq!(heads[2], "done");
}
