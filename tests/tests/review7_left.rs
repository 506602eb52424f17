//! Defects earlier reviews noticed and left alone, each pinned down through
//! the public API. Events are ordered with channels and protocol replies;
//! timeouts are only hang guards.

use std::sync::mpsc;
use std::time::Duration;

use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::Server;
use guv_tests::http::{CLIENT_TIMEOUT, Client, TestServer, websocket_handshake};

// ---- WebSocket ------------------------------------------------------------

/// A WebSocket server (shutdown timeout `grace`) whose handler reports
/// each connection on the returned channel, then waits for messages until
/// the connection ends.
fn waiting_ws_server(grace: Duration) -> (TestServer, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let ws = WebSocketWSGI::new(move |ws: WebSocket| {
        tx.lock().unwrap().send(()).unwrap();
        while ws.wait().is_some() {}
    });
    (TestServer::start(Server::new(move |req| ws.call(req)).shutdown_timeout(grace)), rx)
}

/// The status of a handshake request whose `Upgrade` lines are `upgrade`.
fn handshake_status(s: &TestServer, upgrade: &str) -> u16 {
    let mut c = Client::connect(s.addr);
    c.send(
        format!(
            "GET / HTTP/1.1\r\nHost: t\r\n{upgrade}Connection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    );
    c.read_response().unwrap().status
}

/// RFC 9110 7.8: `Upgrade` is a comma-separated list of protocols whose
/// names compare case-insensitively, and RFC 6455 4.2.1 asks only that it
/// include `websocket`. The handshake used to accept the exact value
/// `websocket` alone.
#[test]
fn the_upgrade_field_is_a_case_insensitive_list() {
    let (s, started) = waiting_ws_server(Duration::from_secs(30));
    for offered in [
        "Upgrade: websocket\r\n",
        "Upgrade: WebSocket\r\n",
        "Upgrade: foo, websocket\r\n",
        "Upgrade: h2c/2 ,  WEBSOCKET , foo\r\n",
        "Upgrade: foo\r\nUpgrade: websocket\r\n",
    ] {
        assert_eq!(handshake_status(&s, offered), 101, "{offered:?}");
        started.recv_timeout(CLIENT_TIMEOUT).expect("the handler ran");
    }
    for refused in
        ["Upgrade: foo\r\n", "Upgrade: websockets\r\n", "Upgrade: web socket\r\n", "Upgrade: foo;websocket\r\n"]
    {
        assert_eq!(handshake_status(&s, refused), 400, "{refused:?}");
    }
}

/// A WebSocket still open when the server's shutdown timeout runs out is
/// killed with its connection; RFC 6455 7.4.1's code for "a server going
/// down" is 1001, not 1011 (internal error), which it used to send.
#[test]
fn a_websocket_killed_at_the_shutdown_deadline_closes_with_1001() {
    let (s, started) = waiting_ws_server(Duration::from_millis(100));
    let mut c = websocket_handshake(s.addr);
    started.recv_timeout(CLIENT_TIMEOUT).expect("the handler is waiting");
    s.shutdown().unwrap();
    let (b0, payload) = guv_tests::http::read_ws_frame(&mut c).expect("a closing frame");
    assert_eq!(b0 & 0x0f, 0x8, "a closing frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
}
