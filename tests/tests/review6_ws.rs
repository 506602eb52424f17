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

/// A masked client frame with the first byte given whole (FIN, RSV, opcode).
fn frame_b0(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one server frame: (opcode, payload).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    let len = match head[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            usize::from(u16::from_be_bytes(l))
        }
        127 => panic!("no such big frames here"),
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
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

#[test]
fn after_the_peer_closes_wait_stays_none_and_send_is_an_error() {
    let (tx, rx) = mpsc::channel();
    let s = TestServer::start(Server::new(move |req| {
        let tx = tx.clone();
        WebSocketWSGI::new(move |ws: WebSocket| {
            let first = ws.wait();
            let again = (ws.wait(), ws.wait());
            let sent = ws.send(Message::text("late")).map_err(|e| e.kind());
            let closed = ws.close().map_err(|e| e.kind());
            tx.send((first, again, sent, closed)).unwrap();
        })
        .call(req)
    }));
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
