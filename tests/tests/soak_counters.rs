//! The soak in small (benches/soak/soak.py runs it for minutes): rounds
//! of every kind of bad client a server meets leave its hub where it was
//! — live greenlets, I/O waiters, registered fds, pending timers, the
//! WebSocket room — and the process's fds too. The server reports its
//! hub's `guv::hub::stats()` on `/stats`; the test asks it until the
//! counts are back at their baseline, and fails with the counts that
//! stayed up if they are not within the hang guard.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{CLIENT_TIMEOUT, TestServer, connect};
use guv_tests::net::reset_on_close;

/// Rounds of every client kind.
const ROUNDS: usize = 12;

fn app(sockets: &WebSocketWSGI<fn(WebSocket)>, mut req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/stats" => {
            let s = guv::hub::stats();
            let room = guv_tests::chat::members();
            let line = format!("{} {} {} {} {room}", s.live_greenlets, s.io_waiters, s.registered_fds, s.timers);
            Response::new(Body::from(line))
        }
        "/partial" => {
            let mut head = [0u8; 4096];
            let n = req.body_mut().read(&mut head).unwrap_or(0);
            Response::new(Body::from(format!("read {n}")))
        }
        "/panic" => {
            guv::debug::hub_exceptions(false); // the server's hub: the panic is expected
            panic!("soak_counters: the /panic route")
        }
        "/big" => Response::new(Body::from(vec![b'b'; 1 << 20])),
        "/stream" => Response::new(Body::from_reader(std::io::repeat(b's').take(256 * 1024))),
        "/ws" => sockets.call(req),
        _ => Response::new(Body::from("hi")),
    }
}

/// The hub's counts, then the process's open fds.
fn counts(addr: SocketAddr) -> (String, usize) {
    let mut c = connect(addr);
    c.write_all(b"GET /stats HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    drop(c);
    let body = answer.split("\r\n\r\n").nth(1).expect("a /stats answer").to_owned();
    (body, std::fs::read_dir("/proc/self/fd").unwrap().count())
}

/// Hangs up: a reset on odd rounds, a FIN on even ones.
fn hang_up(s: TcpStream, round: usize) {
    if round % 2 == 1 {
        reset_on_close(&s);
    }
    drop(s);
}

fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    all
}

/// One of each bad client, in turn.
fn round(addr: SocketAddr, round: usize) {
    // Keep-alive then gone, and Connection: close.
    let mut c = connect(addr);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 256];
    assert!(c.read(&mut buf).unwrap() > 0);
    hang_up(c, round);

    // Cut mid-head, mid-body, mid-response (a sized, a streamed answer,
    // and 100 pipelined ones).
    let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Cut: yes";
    let mut c = connect(addr);
    c.write_all(&head[..1 + round % head.len()]).unwrap();
    hang_up(c, round);
    let mut c = connect(addr);
    c.write_all(b"POST /partial HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n").unwrap();
    c.write_all(&[b'x'; 3000]).unwrap();
    hang_up(c, round);
    for path in ["/big", "/stream"] {
        let mut c = connect(addr);
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        assert!(c.read(&mut buf).unwrap() > 0);
        hang_up(c, round);
    }
    let mut c = connect(addr);
    c.write_all(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100)).unwrap();
    assert!(c.read(&mut buf).unwrap() > 0);
    hang_up(c, round);

    // Malformed heads: each gets its status and a close.
    let long_target = [b"GET /".as_slice(), &[b'a'; 9000], b" HTTP/1.1\r\nHost: x\r\n\r\n"].concat();
    let big_head = [b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".as_slice(), &[b'a'; 70_000], b"\r\n\r\n"].concat();
    let malformed: [(&[u8], &str); 5] = [
        (b"GARBAGE\r\n\r\n", "400"),
        (&long_target, "414"),
        (&big_head, "431"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501"),
        (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", "505"),
    ];
    for (request, status) in malformed {
        let mut c = connect(addr);
        let _ = c.write_all(request); // the server may answer and close first
        let answer = read_to_end(&mut c);
        assert!(answer.starts_with(format!("HTTP/1.1 {status} ").as_bytes()), "{status}: {answer:?}");
    }

    // Slowloris: part of a head, then nothing; the header timeout closes it.
    let mut c = connect(addr);
    c.write_all(b"GET / HTTP/1.1\r\nX-Slow: 1\r\n").unwrap();
    assert!(read_to_end(&mut c).is_empty(), "cut without an answer");

    // A chunked body the app reads 4 KiB of.
    let mut c = connect(addr);
    c.write_all(b"POST /partial HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let chunk = [b"4000\r\n".as_slice(), &[b'c'; 0x4000], b"\r\n"].concat();
    for _ in 0..8 {
        if c.write_all(&chunk).is_err() {
            break; // the server stopped reading and closed
        }
    }
    let _ = c.write_all(b"0\r\n\r\n");
    assert!(c.read(&mut buf).unwrap() > 0);
    hang_up(c, round);

    // An app panic: 500.
    let mut c = connect(addr);
    c.write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(read_to_end(&mut c).starts_with(b"HTTP/1.1 500 "));

    // A WebSocket that talks, then vanishes without a close frame.
    let tcp = connect(addr);
    let (mut ws, _) = tungstenite::client::client(format!("ws://{addr}/ws"), tcp.try_clone().unwrap()).unwrap();
    ws.send(tungstenite::Message::text("hello")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hello"));
    drop(ws);
    hang_up(tcp, round);
}

#[test]
fn rounds_of_bad_clients_leave_the_servers_hub_and_fds_where_they_were() {
    let sockets: WebSocketWSGI<fn(WebSocket)> = WebSocketWSGI::new(guv_tests::chat::chat);
    let server = Server::new(move |req| app(&sockets, req))
        .access_log(false)
        .header_timeout(Some(Duration::from_millis(100)))
        .body_timeout(Some(Duration::from_secs(2)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = TestServer::serve(server, listener);
    let baseline = counts(server.addr);
    for r in 0..ROUNDS {
        round(server.addr, r);
    }
    // The server ends each connection in its own time; ask until it has.
    let guard = Instant::now() + CLIENT_TIMEOUT;
    let mut now = counts(server.addr);
    while now != baseline && Instant::now() < guard {
        now = counts(server.addr);
    }
    assert_eq!(
        now, baseline,
        "(\"live_greenlets io_waiters registered_fds timers room\", process fds) after {ROUNDS} rounds vs before"
    );
    server.shutdown().unwrap();
}
