//! A TLS connection's life around its requests (`Server::wrap_stream`,
//! rustls on both ends): the handshake and the first request head share
//! one header-timeout window, and a graceful close lets the TLS layer say
//! goodbye (`close_notify`) before the socket closes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guv::wsgi::{Body, Server, Wrapping, http};
use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, StreamOwned};

fn app(req: http::Request<Body>) -> http::Response<Body> {
    http::Response::new(Body::from(format!("path {}", req.uri().path())))
}

/// `server` speaking TLS with `config`, sending `close_notify` on a
/// graceful close.
fn https<A: guv::wsgi::Service>(server: Server<A>, config: Arc<ServerConfig>) -> Server<A, Wrapping> {
    server.wrap_stream_with_close(guv_tests::tls::handshake(config), |tls: &mut guv_tests::tls::ServerTls| {
        tls.conn.send_close_notify();
        Ok(())
    })
}

/// A rustls client over a std socket to `addr`, not yet shaken hands.
fn client(config: &Arc<ClientConfig>, sock: TcpStream) -> StreamOwned<ClientConnection, TcpStream> {
    sock.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    StreamOwned::new(ClientConnection::new(config.clone(), name).unwrap(), sock)
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).unwrap()
}

#[test]
fn the_handshake_and_the_first_head_share_one_header_timeout_window() {
    // The header timeout bounds the handshake and the first head together,
    // counted from the start of the handshake: a client that spends most
    // of the window on its handshake has only the rest for its head. It
    // used to get a fresh window after the handshake, nearly twice the
    // timeout in all.
    let timeout = Duration::from_millis(800);
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let s = TestServer::start(https(Server::new(app).header_timeout(Some(timeout)), made.server.clone()));
    let start = Instant::now();
    let mut c = client(&made.client, connect(s.addr));
    // A slow client: its hello comes late in the window (this pause is the
    // slowness under test, not an ordering of events).
    std::thread::sleep(Duration::from_millis(500));
    while c.conn.is_handshaking() {
        c.conn.complete_io(&mut c.sock).expect("the handshake, inside the window");
    }
    // Then part of a head, and nothing more.
    c.write_all(b"GET /never-finished HTTP/1.1\r\nHost: x\r\n").unwrap();
    c.flush().unwrap();
    let mut buf = [0u8; 256];
    let got = c.read(&mut buf);
    let closed = start.elapsed();
    assert!(
        matches!(got, Ok(0)) || got.as_ref().is_err_and(|e| e.kind() != io::ErrorKind::WouldBlock),
        "no close, but {got:?}"
    );
    // The sweeper closes between the timeout and a quarter more (800 to
    // 1000 ms from the handshake's start); with a fresh window after the
    // handshake it was 1300 to 1500 ms.
    assert!(closed < Duration::from_millis(1200), "closed {closed:?} after connecting, timeout {timeout:?}");
    assert!(closed >= timeout, "closed after {closed:?}, before the timeout");
    s.shutdown().unwrap();
}

/// Reads `c` to its end: what came, and how it ended (`Ok(())` for a clean
/// end, the TLS layer's `close_notify`; the error otherwise).
fn read_to_end(c: &mut impl Read) -> (String, io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match c.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), end)
}

#[test]
fn a_connection_close_answer_ends_with_close_notify() {
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let s = TestServer::start(https(Server::new(app), made.server.clone()));
    let mut c = client(&made.client, connect(s.addr));
    c.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (got, end) = read_to_end(&mut c);
    assert!(got.ends_with("path /two") && got.contains("path /one"), "{got}");
    // A clean end: without close_notify, rustls reports UnexpectedEof.
    end.unwrap();
    s.shutdown().unwrap();
}

#[test]
fn a_close_delimited_answer_ends_with_close_notify_and_a_cut_one_does_not() {
    // HTTP/1.0 without a length: the close delimits the body, and the
    // close_notify is what tells the client that it came whole. A body
    // that fails half-way must not get one: the client has to see the cut.
    let streamed = |req: http::Request<Body>| {
        // More than the server buffers before it writes (64 KiB): some of
        // the cut answer is out before its source fails.
        let part = io::Cursor::new(b"part of the body ".repeat(6000));
        let body: Box<dyn Read + Send> =
            if req.uri().path() == "/cut" { Box::new(part.chain(FailingReader)) } else { Box::new(part) };
        http::Response::new(Body::from_reader(body))
    };
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let s = TestServer::start(https(Server::new(streamed), made.server.clone()));
    let mut whole = client(&made.client, connect(s.addr));
    whole.write_all(b"GET /whole HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let (got, end) = read_to_end(&mut whole);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("part of the body "), "{got}");
    assert_eq!(got.split_once("\r\n\r\n").unwrap().1.len(), 17 * 6000);
    end.unwrap();
    let mut cut = client(&made.client, connect(s.addr));
    cut.write_all(b"GET /cut HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let (got, end) = read_to_end(&mut cut);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{}", &got[..got.len().min(200)]);
    assert!(end.is_err(), "a cut body ended cleanly after {} bytes", got.len());
    s.shutdown().unwrap();
}

/// A body source that fails.
struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("the source failed"))
    }
}

#[test]
fn without_a_close_hook_the_socket_closes_under_the_session() {
    // `wrap_stream` alone has nothing to say goodbye with: the answer
    // is whole (its framing says so), the TLS session ends uncleanly.
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let s = TestServer::start(Server::new(app).wrap_stream(guv_tests::tls::handshake(made.server.clone())));
    let mut c = client(&made.client, connect(s.addr));
    c.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let (got, end) = read_to_end(&mut c);
    assert!(got.ends_with("path /one"), "{got}");
    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    s.shutdown().unwrap();
}

/// Reads one answer whose body ends with `tail` (a keep-alive answer: the
/// connection stays open after it).
fn read_answer(c: &mut impl Read, tail: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(tail.as_bytes()) {
        let n = c.read(&mut buf).expect("the answer");
        assert_ne!(n, 0, "closed before the answer: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

/// A client whose handshake is done and that has sent nothing.
fn shaken_hands(config: &Arc<ClientConfig>, addr: SocketAddr) -> StreamOwned<ClientConnection, TcpStream> {
    let mut c = client(config, connect(addr));
    while c.conn.is_handshaking() {
        c.conn.complete_io(&mut c.sock).expect("the handshake");
    }
    c
}

#[test]
fn idle_connections_closed_when_a_shutdown_begins_end_with_close_notify() {
    // A keep-alive connection waiting for its next request, and one that
    // has shaken hands and sent nothing: both owe nothing, and nothing of
    // a head has come, so their close is clean. Their greenlets used to be
    // killed when the shutdown began, which closed the socket under the
    // session (the client's read failed with UnexpectedEof).
    let made = guv_tests::tls::self_signed("127.0.0.1");
    // The server tells when its side of a handshake is done: the client's
    // is done first, and a connection still in the hook is killed.
    let (shaken_tx, shaken_rx) = std::sync::mpsc::channel::<()>();
    let shaken_tx = std::sync::Mutex::new(shaken_tx);
    let config = made.server.clone();
    let server = Server::new(app).wrap_stream_with_close(
        move |tcp| {
            let tls = guv_tests::tls::accept(&config, tcp)?;
            let _ = shaken_tx.lock().unwrap().send(());
            Ok(tls)
        },
        |tls: &mut guv_tests::tls::ServerTls| {
            tls.conn.send_close_notify();
            Ok(())
        },
    );
    let s = TestServer::start(server);
    let mut kept = client(&made.client, connect(s.addr));
    kept.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let answer = read_answer(&mut kept, "path /one");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    shaken_rx.recv().unwrap();
    let mut fresh = shaken_hands(&made.client, s.addr);
    shaken_rx.recv_timeout(CLIENT_TIMEOUT).expect("the server's side of the second handshake");
    s.shutdown().unwrap();
    for (what, c) in [("keep-alive", &mut kept), ("no request yet", &mut fresh)] {
        let (rest, end) = read_to_end(c);
        assert_eq!(rest, "", "{what}");
        end.unwrap_or_else(|e| panic!("{what}: the session did not end cleanly: {e}"));
    }
}

#[test]
fn an_idle_connection_cut_by_the_header_timeout_ends_with_close_notify() {
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let server = Server::new(app).header_timeout(Some(Duration::from_millis(300)));
    let s = TestServer::start(https(server, made.server.clone()));
    let mut c = client(&made.client, connect(s.addr));
    c.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_answer(&mut c, "path /one");
    // Nothing more: the header timeout closes the connection.
    let (rest, end) = read_to_end(&mut c);
    assert_eq!(rest, "");
    end.expect("a clean end of the session");
    s.shutdown().unwrap();
}

#[test]
fn a_head_begun_when_the_header_timeout_cuts_gets_no_close_notify() {
    // Part of a second head, then nothing: the timeout cuts a request in
    // the middle, and the client must not see an orderly end.
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let server = Server::new(app).header_timeout(Some(Duration::from_millis(300)));
    let s = TestServer::start(https(server, made.server.clone()));
    let mut c = client(&made.client, connect(s.addr));
    c.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHo").unwrap();
    read_answer(&mut c, "path /one");
    let (rest, end) = read_to_end(&mut c);
    assert_eq!(rest, "");
    assert_eq!(end.expect_err("a cut, not a clean end").kind(), io::ErrorKind::UnexpectedEof);
    s.shutdown().unwrap();
}
