//! Review of the reset that ends a close-delimited response body cut
//! short: the bytes the body produced before it failed still reach the
//! client (they are what the server promises: "what was produced goes out,
//! then a reset").

use std::io::{self, Read, Write};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::TestServer;

/// `left` pieces of 16 KiB of `x`, then an error, reported on `failed`.
struct Source {
    left: usize,
    failed: mpsc::Sender<()>,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let _ = self.failed.send(());
            return Err(io::Error::other("the body's source failed"));
        }
        self.left -= 1;
        let n = buf.len().min(16384);
        buf[..n].fill(b'x');
        Ok(n)
    }
}

const PIECES: usize = 512; // 8 MiB: more than the socket buffers hold

#[test]
fn the_bytes_produced_before_the_failure_reach_the_client() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let app = move |_req: Request<Body>| -> Response<Body> {
        Response::new(Body::from_reader(Source { left: PIECES, failed: tx.lock().unwrap().clone() }))
    };
    let s = TestServer::start(Server::new(app).access_log(false));
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let end = loop {
        match c.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    rx.recv_timeout(Duration::from_secs(20)).expect("the body never failed");
    let e = end.expect_err("the cut body ended like a whole one");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    assert_eq!(got.len() - at, PIECES * 16384, "bytes produced before the failure were lost");
}
