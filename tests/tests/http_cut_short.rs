//! A streamed response body that fails after part of it went out: every
//! framing leaves the client able to tell the answer is incomplete. A body
//! delimited by the close (HTTP/1.0, no length) ends with a reset, never
//! with the orderly end that would make it look whole.

use std::io::{self, Read, Write};

use guv::wsgi::http::{Request, Response, header};
use guv::wsgi::{Body, Server};
use guv_tests::http::TestServer;

/// 20 × 8 KiB of `x` (more than the server buffers before writing), then
/// an error; or, for `/whole`, the same bytes and a clean end.
struct Source {
    left: usize,
    fail: bool,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return if self.fail { Err(io::Error::other("the body's source failed")) } else { Ok(0) };
        }
        self.left -= 1;
        let n = buf.len().min(8192);
        buf[..n].fill(b'x');
        Ok(n)
    }
}

fn app(req: Request<Body>) -> Response<Body> {
    let fail = req.uri().path() == "/fail";
    let mut r = Response::new(Body::from_reader(Source { left: 20, fail }));
    if req.uri().query() == Some("length") {
        r.headers_mut().insert(header::CONTENT_LENGTH, header::HeaderValue::from(20 * 8192 + 1));
    }
    r
}

/// Sends `request` and reads to the end: the bytes, and how the stream
/// ended (`Ok(())` for an orderly end).
fn fetch(s: &TestServer, request: &str) -> (Vec<u8>, io::Result<()>) {
    let mut c = s.connect();
    c.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (got, Err(e)),
        }
    }
}

fn server() -> TestServer {
    TestServer::start(Server::new(app).access_log(false))
}

#[test]
fn a_close_delimited_body_cut_short_ends_with_a_reset() {
    let s = server();
    let (got, end) = fetch(&s, "GET /fail HTTP/1.0\r\n\r\n");
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&got[..got.len().min(64)]));
    let e = end.expect_err("the cut body ended like a whole one");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
}

#[test]
fn a_whole_close_delimited_body_ends_in_order() {
    let s = server();
    let (got, end) = fetch(&s, "GET /whole HTTP/1.0\r\n\r\n");
    end.expect("an orderly end");
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    assert_eq!(got.len() - at, 20 * 8192);
}

#[test]
fn a_body_cut_short_of_its_length_ends_in_order_but_short() {
    // The length tells the client: no reset needed.
    let s = server();
    let (got, end) = fetch(&s, "GET /fail?length HTTP/1.0\r\n\r\n");
    end.expect("an orderly end");
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&got[..at]).to_ascii_lowercase();
    assert!(head.contains("content-length: 163841\r\n"), "{head}");
    assert!(got.len() - at < 163841, "{} body bytes", got.len() - at);
}
