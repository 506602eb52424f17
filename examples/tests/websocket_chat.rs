//! The `websocket_chat` example as a browser uses it: `/` is the HTML
//! page, whose script connects to `/chat`; every text a client sends
//! reaches every client (the sender too), joins and leaves are announced,
//! and a client's close gets the closing handshake.

mod common;

use common::{Server, address_in};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use tungstenite::Message;

/// Starts `websocket_chat` on a free loopback port; its address.
fn start() -> (Server, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_websocket_chat"));
    cmd.env("GUV_CHAT_ADDR", "127.0.0.1:0");
    let (server, line, _) = common::start(cmd);
    (server, address_in(&line))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// A chat client, connected as the page's script connects.
fn join(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    tungstenite::client::client(format!("ws://{addr}/chat"), connect(addr)).unwrap().0
}

fn text(c: &mut tungstenite::WebSocket<TcpStream>) -> String {
    match c.read().unwrap() {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("a text message was expected, not {other:?}"),
    }
}

/// One request on a new connection; the whole answer (the server closes
/// it after `Connection: close`).
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = connect(addr);
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_chat_page_and_its_room() {
    let (_server, addr) = start();

    let page = get(addr, "/");
    assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
    assert!(page.to_ascii_lowercase().contains("content-type: text/html; charset=utf-8\r\n"), "{page}");
    assert!(page.contains("new WebSocket(`ws://${location.host}/chat`)"), "{page}");
    // `/chat` without the upgrade handshake is no WebSocket.
    assert!(get(addr, "/chat").starts_with("HTTP/1.1 400 "));

    let mut alice = join(addr);
    assert_eq!(text(&mut alice), "(someone joined; 1 here)");
    let mut bob = join(addr);
    assert_eq!(text(&mut bob), "(someone joined; 2 here)");
    assert_eq!(text(&mut alice), "(someone joined; 2 here)");

    alice.send(Message::text("hello, bob")).unwrap();
    assert_eq!(text(&mut alice), "hello, bob");
    assert_eq!(text(&mut bob), "hello, bob");
    // Binary messages are not chat: nobody gets them.
    bob.send(Message::binary(vec![1, 2, 3])).unwrap();
    bob.send(Message::text("hi alice")).unwrap();
    assert_eq!(text(&mut bob), "hi alice");
    assert_eq!(text(&mut alice), "hi alice");

    // Bob leaves with a close: he gets the closing handshake, alice the news.
    bob.close(None).unwrap();
    loop {
        match bob.read() {
            Ok(Message::Close(_)) => {}
            Ok(other) => panic!("{other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("bob's close was not completed: {e}"),
        }
    }
    assert_eq!(text(&mut alice), "(someone left)");
    let mut carol = join(addr);
    assert_eq!(text(&mut carol), "(someone joined; 2 here)");
    assert_eq!(text(&mut alice), "(someone joined; 2 here)");
}
