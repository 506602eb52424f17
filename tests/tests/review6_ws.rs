//! Second adversarial review of guv::websocket: the upgrade handshake
//! against RFC 6455 section 4.2, frame rules tungstenite enforces for the
//! server, and `wait`/`send` after the connection ended. Probes that the
//! first review (review_ws.rs) covers are not repeated. Events are ordered
//! by protocol replies and channels; timeouts are only hang guards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;

use guv::websocket::{Message, WebSocket, WebSocketWSGI};
use guv::wsgi::Server;
use guv_tests::http::ws_frame as frame_b0;
use guv_tests::http::{CLIENT_TIMEOUT, Client, TestServer, websocket_handshake as raw_ws};

/// A server whose WebSocket handler echoes until the connection ends.
fn echo() -> TestServer {
    TestServer::start(Server::new(|req| {
        WebSocketWSGI::new(|ws: WebSocket| {
            while let Some(m) = ws.wait() {
                if ws.send(m).is_err() {
                    break;
                }
            }
        })
        .call(req)
    }))
}

/// Sends a raw handshake request; returns its status and Upgrade header.
fn ask(s: &TestServer, request: &str) -> (u16, Option<String>) {
    let mut c = Client::connect(s.addr);
    c.send(request.as_bytes());
    let r = c.read_response().unwrap();
    (r.status, r.header("upgrade").map(str::to_owned))
}

/// Reads one server frame: (opcode, payload).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let (b0, payload) = guv_tests::http::read_ws_frame(s).unwrap();
    (b0 & 0x0f, payload)
}

/// The close code the server answers `bytes` with.
fn close_code_for(s: &TestServer, bytes: &[u8]) -> u16 {
    let mut c = raw_ws(s.addr);
    c.write_all(bytes).unwrap();
    let (op, payload) = read_frame(&mut c);
    assert_eq!(op, 0x8, "a closing frame");
    assert!(payload.len() >= 2);
    u16::from_be_bytes([payload[0], payload[1]])
}

const KEY_LINE: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

fn request(version: &str, key_lines: &str, extra: &str) -> String {
    format!(
        "GET / HTTP/{version}\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key_lines}\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// RFC 6455 4.1/4.2.1: the key is the base64 of 16 bytes, and a server
/// must refuse a handshake without a valid one (it used to accept any
/// value, even an empty one).
#[test]
fn a_key_that_is_not_base64_of_16_bytes_is_refused_with_400() {
    let s = echo();
    assert_eq!(ask(&s, &request("1.1", KEY_LINE, "")), (101, Some("websocket".into())));
    assert_eq!(ask(&s, &request("1.1", "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n", "")).0, 101);
    for bad in [
        "abc",
        "",
        // 17 bytes, 15 bytes, 16 bytes without padding, bits past the 16th byte.
        "AAAAAAAAAAAAAAAAAAAAAAA=",
        "AAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAB==",
        "AAAAAAAAAAAAAAAAAAAA*A==",
    ] {
        assert_eq!(ask(&s, &request("1.1", &format!("Sec-WebSocket-Key: {bad}\r\n"), "")), (400, None), "{bad:?}");
    }
}

/// Two keys are no handshake (which would the accept answer?); it used to
/// answer the first.
#[test]
fn two_keys_are_refused_with_400() {
    let s = echo();
    let two = format!("{KEY_LINE}Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n");
    assert_eq!(ask(&s, &request("1.1", &two, "")), (400, None));
}

/// RFC 6455 4.1: the handshake is an HTTP/1.1 (or later) GET; an HTTP/1.0
/// request used to be upgraded.
#[test]
fn an_http_1_0_upgrade_request_is_refused_with_400() {
    let s = echo();
    assert_eq!(ask(&s, &request("1.0", KEY_LINE, "")), (400, None));
}

/// Token lists in Connection, header value case, version 8 (426 naming
/// 13), POST and a body (400).
#[test]
fn token_lists_header_case_version_method_and_body_are_checked() {
    let s = echo();
    let r = "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(ask(&s, r).0, 101);
    let r = "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nConnection: upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(ask(&s, r).0, 101);
    let r = "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    let mut c = Client::connect(s.addr);
    c.send(r.as_bytes());
    let resp = c.read_response().unwrap();
    assert_eq!(resp.status, 426);
    assert_eq!(resp.header("sec-websocket-version"), Some("13"));
    let r = "POST / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(ask(&s, r).0, 400);
    let r = "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nhi";
    assert_eq!(ask(&s, r).0, 400);
    let r = "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n0\r\n\r\n";
    assert_eq!(ask(&s, r).0, 400);
}

/// RSV bits, reserved opcodes, big or fragmented control frames, stray
/// continuations, close codes not for the wire, bad UTF-8 across fragments.
#[test]
fn frames_breaking_rfc_6455_fail_the_connection_with_1002_or_1007() {
    let s = echo();
    // RSV1 without an extension.
    assert_eq!(close_code_for(&s, &frame_b0(0xC1, b"hi")), 1002);
    // Reserved opcode.
    assert_eq!(close_code_for(&s, &frame_b0(0x83, b"hi")), 1002);
    // Control frame over 125 bytes.
    assert_eq!(close_code_for(&s, &frame_b0(0x89, &[b'p'; 126])), 1002);
    // Fragmented ping.
    assert_eq!(close_code_for(&s, &frame_b0(0x09, b"p")), 1002);
    // Continuation without a start.
    assert_eq!(close_code_for(&s, &frame_b0(0x80, b"x")), 1002);
    // New data frame while one is fragmented.
    let mut b = frame_b0(0x01, b"a");
    b.extend(frame_b0(0x81, b"b"));
    assert_eq!(close_code_for(&s, &b), 1002);
    // Close codes that never go on the wire, or are out of range.
    for code in [999u16, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(close_code_for(&s, &frame_b0(0x88, &code.to_be_bytes())), 1002, "code {code}");
    }
    // A one-byte close payload.
    assert_eq!(close_code_for(&s, &frame_b0(0x88, &[3])), 1002);
    // A close reason not UTF-8.
    let mut p = 1000u16.to_be_bytes().to_vec();
    p.extend([0xff, 0xfe]);
    let code = close_code_for(&s, &frame_b0(0x88, &p));
    assert!(code == 1007 || code == 1002, "{code}");
    // Invalid UTF-8 split over fragments.
    let mut b = frame_b0(0x01, &[b'o', 0xC3]);
    b.extend(frame_b0(0x80, &[0x28]));
    assert_eq!(close_code_for(&s, &b), 1007);
    // Valid UTF-8 split over fragments is one message.
    let mut c = raw_ws(s.addr);
    let mut b = frame_b0(0x01, &[b'o', 0xC3]);
    b.extend(frame_b0(0x80, &[0xA9]));
    c.write_all(&b).unwrap();
    assert_eq!(read_frame(&mut c), (0x1, "oé".as_bytes().to_vec()));
    // Valid close codes are echoed.
    for code in [1000u16, 1001, 3000, 4999] {
        assert_eq!(close_code_for(&s, &frame_b0(0x88, &code.to_be_bytes())), code, "code {code}");
    }
}

/// After the closing handshake `wait` stays `None`, `send` is an error
/// and `close` a no-op.
#[test]
fn after_the_peer_closes_wait_stays_none_and_send_is_an_error() {
    let (s, rx) = reporting_server(move |ws: WebSocket, tx| {
        let first = ws.wait();
        let again = (ws.wait(), ws.wait());
        let sent = ws.send(Message::text("late")).map_err(|e| e.kind());
        let closed = ws.close().map_err(|e| e.kind());
        tx.send((first, again, sent, closed)).unwrap();
    });
    let mut c = raw_ws(s.addr);
    c.write_all(&frame_b0(0x88, &1000u16.to_be_bytes())).unwrap();
    assert_eq!(read_frame(&mut c), (0x8, 1000u16.to_be_bytes().to_vec()));
    let (first, again, sent, closed) = rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert_eq!(first, None);
    assert_eq!(again, (None, None));
    assert!(sent.is_err(), "{sent:?}");
    assert_eq!(closed, Ok(()), "close after the handshake ended is a no-op");
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).unwrap(), 0);
}

/// A WebSocket server whose every connection runs `handler`, which can
/// report to the test through the sender it is given.
fn reporting_server<T, H>(handler: H) -> (TestServer, mpsc::Receiver<T>)
where
    T: Send + 'static,
    H: Fn(WebSocket, &mpsc::Sender<T>) + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handler = std::sync::Arc::new(handler);
    let s = TestServer::start(Server::new(move |req| {
        let (tx, handler) = (tx.clone(), handler.clone());
        WebSocketWSGI::new(move |ws: WebSocket| handler(ws, &tx)).call(req)
    }));
    (s, rx)
}

/// A tungstenite client at `/` of `s` with no size limits.
fn big_client(s: &TestServer) -> tungstenite::WebSocket<TcpStream> {
    let stream = guv_tests::http::connect(s.addr);
    let cfg = tungstenite::protocol::WebSocketConfig::default().max_message_size(None).max_frame_size(None);
    tungstenite::client::client_with_config(format!("ws://{}/", s.addr), stream, Some(cfg)).unwrap().0
}

/// A greenlet killed while parked in `wait` takes nothing off the wire:
/// the next `wait` gets the message.
#[test]
fn a_greenlet_killed_in_wait_loses_no_message() {
    let (s, rx) = reporting_server(move |ws: WebSocket, tx| {
        let ws = std::rc::Rc::new(ws);
        let w2 = ws.clone();
        let g = guv::spawn(move || w2.wait());
        guv::gyield();
        g.kill();
        assert!(g.wait().unwrap_err().is_killed());
        tx.send("killed").unwrap();
        let m = ws.wait().unwrap();
        ws.send(m).unwrap();
    });
    let mut c = big_client(&s);
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("killed"));
    c.send(Message::text("kept")).unwrap();
    assert_eq!(c.read().unwrap(), Message::text("kept"));
}

/// A greenlet killed while its big `send` is parked on a full socket: the
/// message still goes out whole, before what is sent next.
#[test]
fn a_greenlet_killed_in_send_neither_loses_nor_cuts_the_message() {
    let (s, rx) = reporting_server(move |ws: WebSocket, tx| {
        let ws = std::rc::Rc::new(ws);
        let w2 = ws.clone();
        let g = guv::spawn(move || w2.send(Message::binary(vec![7u8; 32 << 20])));
        guv::gyield();
        g.kill();
        let killed = g.wait().is_err_and(|e| e.is_killed());
        tx.send(killed).unwrap();
        ws.send(Message::text("after")).unwrap();
        while ws.wait().is_some() {}
    });
    let mut c = big_client(&s);
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok(true), "the big send was parked when killed");
    match c.read().unwrap() {
        Message::Binary(b) => assert!(b.len() == 32 << 20 && b.iter().all(|&x| x == 7)),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.read().unwrap(), Message::text("after"));
}

/// Frames that arrive in the same packet as the handshake request (read
/// by the HTTP layer into its buffer) are the first WebSocket input.
#[test]
fn frames_sent_with_the_handshake_request_are_not_lost() {
    let s = echo();
    let mut c = guv_tests::http::connect(s.addr);
    let mut bytes = request("1.1", KEY_LINE, "").into_bytes();
    bytes.extend(frame_b0(0x81, b"early"));
    c.write_all(&bytes).unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    assert_eq!(read_frame(&mut c), (0x1, b"early".to_vec()));
}

/// `workers(2)`: a shutdown while a request is in the app on every worker
/// lets each finish and answer, then closes the connection.
#[test]
fn workers_2_shutdown_lets_requests_in_the_app_on_every_worker_finish() {
    use guv::wsgi::{Body, http::Response};
    let (tx, rx) = mpsc::channel();
    let stop = std::sync::Arc::new(std::sync::OnceLock::<guv::wsgi::ShutdownHandle>::new());
    let seen = stop.clone();
    let server = Server::new(move |_req| {
        tx.send(std::thread::current().id()).unwrap();
        // Polls for the shutdown (the event this request waits for).
        while !seen.get().unwrap().is_shutdown() {
            guv::sleep(std::time::Duration::from_millis(1));
        }
        Response::new(Body::from("done"))
    })
    .workers(2)
    .shutdown_timeout(std::time::Duration::from_secs(10));
    stop.set(server.shutdown_handle()).unwrap();
    let s = TestServer::start(server);
    let mut clients = Vec::new();
    let mut threads = std::collections::HashSet::new();
    while threads.len() < 2 {
        assert!(clients.len() < 64, "64 connections all reached one worker");
        let mut c = Client::connect(s.addr);
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        threads.insert(rx.recv_timeout(CLIENT_TIMEOUT).unwrap());
        clients.push(c);
    }
    let stopper = std::thread::spawn(move || s.shutdown());
    for mut c in clients {
        let r = c.read_response().unwrap();
        // `Connection: close` unless the app saw the shutdown flag before
        // its worker did (the flag is set first, then each worker told):
        // the answer then looks keep-alive, and the connection, idle, is
        // closed right after it.
        assert_eq!(r.status, 200);
        assert!(matches!(r.header("connection"), None | Some("close")));
        assert_eq!(r.body, b"done");
        assert!(c.is_closed());
    }
    stopper.join().unwrap().unwrap();
}

/// A close started by `send(Message::Close(..))` is the same closing
/// handshake as `close()`: `wait` ends after the close timeout even if the
/// client never answers. It used to park until the client went away.
#[test]
fn a_close_sent_as_a_message_is_bounded_by_the_close_timeout() {
    let (tx, rx) = mpsc::channel();
    let s = TestServer::start(Server::new(move |req| {
        let tx = tx.clone();
        WebSocketWSGI::new(move |ws: WebSocket| {
            ws.send(Message::Close(None)).unwrap();
            let got = ws.wait();
            tx.send(got).unwrap();
        })
        .close_timeout(std::time::Duration::from_millis(50))
        .call(req)
    }));
    let mut c = raw_ws(s.addr);
    // The close arrives; the client says nothing back and keeps the socket.
    assert_eq!(read_frame(&mut c).0, 0x8);
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok(None), "wait() did not end at the close timeout");
    drop(c);
}

/// Origins are compared ASCII-case-insensitively (RFC 6454 serializes
/// scheme and host in lower case; a configured `HTTP://Good.Example` used
/// to refuse the browser's `http://good.example`).
#[test]
fn allowed_origins_match_whatever_their_case() {
    let s = TestServer::start(Server::new(|req| {
        WebSocketWSGI::new(|_ws: WebSocket| {}).allowed_origins(["HTTP://Good.Example"]).call(req)
    }));
    assert_eq!(ask(&s, &request("1.1", KEY_LINE, "Origin: http://good.example\r\n")).0, 101);
    assert_eq!(ask(&s, &request("1.1", KEY_LINE, "Origin: http://good.example.evil\r\n")).0, 403);
}

/// RFC 6455 5.5: a control frame carries at most 125 bytes. A ping, pong
/// or close reason the handler makes too big is refused (`InvalidInput`)
/// and nothing is sent; the connection goes on. Such frames used to go out,
/// and a conforming client fails the connection on them.
#[test]
fn control_frames_over_125_bytes_are_refused_not_sent() {
    use tungstenite::protocol::CloseFrame;
    use tungstenite::protocol::frame::coding::CloseCode;
    let (s, rx) = reporting_server(move |ws: WebSocket, tx| {
        let kind = |r: std::io::Result<()>| r.map_err(|e| e.kind());
        let refused = [
            kind(ws.send(Message::Ping(vec![1u8; 126].into()))),
            kind(ws.send(Message::Pong(vec![1u8; 126].into()))),
            kind(ws.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "x".repeat(124).into() })))),
        ];
        // The limits themselves are fine.
        let fine = [
            kind(ws.send(Message::Ping(vec![2u8; 125].into()))),
            kind(ws.send(Message::text("still open"))),
            kind(ws.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "y".repeat(123).into() })))),
        ];
        tx.send((refused, fine)).unwrap();
        while ws.wait().is_some() {}
    });
    let mut c = raw_ws(s.addr);
    let (refused, fine) = rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert_eq!(refused, [Err(std::io::ErrorKind::InvalidInput); 3]);
    assert_eq!(fine, [Ok(()); 3]);
    assert_eq!(read_frame(&mut c), (0x9, vec![2u8; 125]));
    assert_eq!(read_frame(&mut c), (0x1, b"still open".to_vec()));
    let (op, payload) = read_frame(&mut c);
    assert_eq!((op, payload.len()), (0x8, 125));
}

/// A client that goes away without a closing handshake: `wait` ends with
/// `None`, every later `send` is a `NotConnected` error (no panic, no
/// hang), and `close` is a no-op.
#[test]
fn send_after_the_client_vanished_is_an_error() {
    let (s, rx) = reporting_server(move |ws: WebSocket, tx| {
        let got = ws.wait();
        let sent: Vec<_> = (0..3).map(|_| ws.send(Message::binary(vec![0u8; 100_000])).map_err(|e| e.kind())).collect();
        let closed = ws.close().map_err(|e| e.kind());
        tx.send((got, sent, closed)).unwrap();
    });
    let c = raw_ws(s.addr);
    drop(c);
    let (got, sent, closed) = rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert_eq!(got, None);
    assert_eq!(sent, [Err(std::io::ErrorKind::NotConnected); 3]);
    assert_eq!(closed, Ok(()));
}

/// With `max_frame_size(None)` the message limit (64 MiB by default)
/// still bounds a frame from its header: a client announcing a 1 TiB frame
/// gets 1009. tungstenite reserves the announced length before reading, so
/// this used to abort the whole server process on the failed allocation.
#[test]
fn a_huge_frame_header_without_a_frame_limit_is_refused_by_the_message_limit() {
    let s = TestServer::start(Server::new(|req| {
        WebSocketWSGI::new(|ws: WebSocket| while ws.wait().is_some() {}).max_frame_size(None).call(req)
    }));
    for len in [1u64 << 40, 1 << 63 | 5] {
        let mut f = vec![0x82u8, 0x80 | 127];
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend_from_slice(b"hello");
        assert_eq!(close_code_for(&s, &f), 1009, "{len}");
    }
    // The server is still there.
    assert_eq!(guv_tests::http::roundtrip(s.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 400);
}
