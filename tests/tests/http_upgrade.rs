//! guv::wsgi upgrades (`Upgrade` / `Upgraded`): request bodies stay with
//! HTTP, and a taken-over connection stays under the server's control
//! (connection cap, shutdown) for as long as any handle to it lives.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server, Upgrade};
use guv_tests::http::{Client, TestServer, roundtrip};

const SWITCH: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n";

fn app(mut req: Request<Body>) -> Response<Body> {
    let Some(up) = req.extensions().get::<Upgrade>().cloned() else {
        return Response::new(Body::from("plain"));
    };
    match req.uri().path() {
        // Takes over without reading the body.
        "/early" => match up.take() {
            Ok(_) => Response::new(Body::from("taken")),
            Err(e) => Response::new(Body::from(format!("{:?}", e.kind()))),
        },
        // Reads the body, then echoes what follows it on the connection.
        "/after-body" => {
            let mut body = String::new();
            req.body_mut().read_to_string(&mut body).unwrap();
            let mut conn = up.take().unwrap();
            conn.write_all(SWITCH).unwrap();
            conn.write_all(format!("body={body}\n").as_bytes()).unwrap();
            let _ = io::copy(&mut conn.clone(), &mut conn);
            Response::new(Body::empty())
        }
        // Echoes from another greenlet, after the app has returned.
        "/detached" => {
            let mut conn = up.take().unwrap();
            conn.write_all(SWITCH).unwrap();
            guv::spawn(move || io::copy(&mut conn.clone(), &mut conn));
            Response::new(Body::empty())
        }
        other => Response::new(Body::from(format!("no {other}"))),
    }
}

fn upgrade_request(path: &str, extra: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n{extra}\r\n").into_bytes()
}

/// Reads exactly `n` bytes.
fn read_n(c: &mut Client, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    c.stream.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn take_is_refused_while_the_request_body_is_unread() {
    let s = TestServer::start(Server::new(app).access_log(false));
    let mut c = Client::connect(s.addr);
    let mut burst = upgrade_request("/early", "Content-Length: 4\r\n");
    burst.extend_from_slice(b"abcd");
    burst.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    c.send(&burst);
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "InvalidInput"));
    // Not taken over: the body was drained and the next request served.
    assert_eq!(c.read_response().unwrap().text(), "plain");
}

#[test]
fn the_new_protocol_sees_the_bytes_after_the_body_and_not_the_body() {
    let s = TestServer::start(Server::new(app).access_log(false));
    let mut c = Client::connect(s.addr);
    // Body and the first bytes of the new protocol in one write: the server
    // has them buffered together when the app takes over.
    let mut burst = upgrade_request("/after-body", "Content-Length: 4\r\n");
    burst.extend_from_slice(b"abcdxyz");
    c.send(&burst);
    let expected = [SWITCH, b"body=abcd\nxyz"].concat();
    assert_eq!(String::from_utf8_lossy(&read_n(&mut c, expected.len())), String::from_utf8_lossy(&expected));
    c.stream.shutdown(Shutdown::Write).unwrap();
    assert!(c.is_closed());
}

#[test]
fn a_websocket_handshake_with_a_body_is_refused() {
    static RAN: AtomicBool = AtomicBool::new(false);
    let s = TestServer::start(Server::new(|req| {
        WebSocketWSGI::new(|_ws: WebSocket| RAN.store(true, Ordering::SeqCst)).call(req)
    }));
    let mut c = Client::connect(s.addr);
    c.send(
        b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 6\r\n\r\n\x81\x80abcd",
    );
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!RAN.load(Ordering::SeqCst), "the handler ran");
    // The same handshake without the body is accepted.
    let r = roundtrip(
        s.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(r.status, 101);
}

#[test]
fn a_detached_upgraded_connection_keeps_its_slot_until_the_last_handle_drops() {
    let s = TestServer::start(Server::new(app).access_log(false).max_connections(1));
    let mut first = Client::connect(s.addr);
    first.send(&upgrade_request("/detached", ""));
    assert_eq!(read_n(&mut first, SWITCH.len()), SWITCH);
    first.send(b"ping");
    assert_eq!(read_n(&mut first, 4), b"ping");
    // The app has returned, but the echo greenlet still holds the
    // connection: it keeps the only slot, so the next client waits.
    let mut second = Client::connect(s.addr);
    second.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    second.stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let early = second.read_response();
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    second.stream.set_read_timeout(Some(guv_tests::http::CLIENT_TIMEOUT)).unwrap();
    // The first client leaves: the echo ends, drops the last handle, and
    // the slot goes to the second.
    first.stream.shutdown(Shutdown::Write).unwrap();
    assert!(first.is_closed());
    let r = second.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "plain"));
}

#[test]
fn shutdown_ends_a_detached_upgraded_connection_after_the_deadline() {
    let s = TestServer::start(Server::new(app).access_log(false).shutdown_timeout(Duration::from_millis(100)));
    let mut c = Client::connect(s.addr);
    c.send(&upgrade_request("/detached", ""));
    assert_eq!(read_n(&mut c, SWITCH.len()), SWITCH);
    c.send(b"ping");
    assert_eq!(read_n(&mut c, 4), b"ping");
    // The server stops; the echo greenlet would go on forever, but the
    // connection is shut down once the shutdown timeout has passed.
    s.shutdown().unwrap();
    assert!(c.is_closed(), "the upgraded connection outlived the server");
}

#[test]
fn without_a_body_take_succeeds_and_the_server_writes_nothing_more() {
    let s = TestServer::start(Server::new(app).access_log(false));
    let mut c = Client::connect(s.addr);
    c.send(&upgrade_request("/early", "Content-Length: 0\r\n"));
    // The app's response ("taken") is not sent: the connection was taken
    // over, its handle dropped, and the server closed it.
    assert!(c.is_closed());
}
