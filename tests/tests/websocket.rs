//! guv::websocket against tungstenite's client and Python's `websockets`.

use std::cell::RefCell;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::rc::Rc;
use std::sync::mpsc;

use guv::websocket::{Message, WebSocket, WebSocketWSGI};
use guv::wsgi::Server;
use guv_tests::http::{Client, TestServer, require_tool};

fn echo_server() -> TestServer {
    TestServer::start(Server::new(|req| {
        WebSocketWSGI::new(|ws: WebSocket| {
            while let Some(msg) = ws.wait() {
                let reply = match msg {
                    Message::Text(t) => {
                        Message::text(format!("{}|{}|{}", ws.path(), ws.protocol().unwrap_or("-"), t.as_str()))
                    }
                    other => other,
                };
                if ws.send(reply).is_err() {
                    break;
                }
            }
        })
        .protocols(["chat", "superchat"])
        .call(req)
    }))
}

#[test]
fn tungstenite_client_echo_ping_and_close() {
    let s = echo_server();
    let stream = TcpStream::connect(s.addr).unwrap();
    stream.set_read_timeout(Some(guv_tests::http::CLIENT_TIMEOUT)).unwrap();
    let (mut ws, response) = tungstenite::client::client(format!("ws://{}/room", s.addr), stream).unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text("hello")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("/room|-|hello"));
    ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(vec![1u8, 2, 3]));
    ws.send(Message::Ping(b"are you there".to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"are you there".to_vec().into()));
    ws.close(None).unwrap();
    // The server answers the close; then the stream ends.
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            other => panic!("{other:?}"),
        }
    }
}

const PYTHON: &str = r#"
import sys
from websockets.sync.client import connect
with connect(sys.argv[1], subprotocols=["superchat", "chat"], open_timeout=20) as ws:
    assert ws.subprotocol == "chat", ws.subprotocol
    ws.send("from python")
    print(ws.recv(timeout=20))
    ws.ping().wait(timeout=20)
print("closed")
"#;

#[test]
fn python_websockets_client() {
    require_tool("python3", &["-c", "import websockets.sync.client"]);
    let s = echo_server();
    let out = Command::new("python3").args(["-c", PYTHON, &format!("ws://{}/py", s.addr)]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/py|chat|from python\nclosed\n");
}

#[test]
fn handshake_refusals() {
    let s = TestServer::start(Server::new(|req| {
        WebSocketWSGI::new(|_ws| {}).allowed_origins(["http://good.example"]).call(req)
    }));
    let ask = |extra: &str| {
        let mut c = Client::connect(s.addr);
        c.send(
            format!(
                "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
            )
            .as_bytes(),
        );
        c.read_response().unwrap()
    };
    let r = ask("Sec-WebSocket-Version: 8\r\nOrigin: http://good.example\r\n");
    assert_eq!((r.status, r.header("sec-websocket-version")), (426, Some("13")));
    assert_eq!(ask("Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n").status, 403);
    let r = ask("Sec-WebSocket-Version: 13\r\nOrigin: http://good.example\r\n");
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    let r = guv_tests::http::roundtrip(s.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 400);
}

#[test]
fn a_greenlet_sends_to_another_connection_while_it_waits() {
    // A two-client chat: what one says is sent to the other from the
    // sender's greenlet while the receiver's greenlet is parked in wait().
    let s = TestServer::start(Server::new(|req| {
        thread_local! {
            static ROOM: RefCell<Vec<Rc<WebSocket>>> = const { RefCell::new(Vec::new()) };
        }
        WebSocketWSGI::new(|ws: WebSocket| {
            let ws = Rc::new(ws);
            ROOM.with(|r| r.borrow_mut().push(ws.clone()));
            while let Some(msg) = ws.wait() {
                let others: Vec<Rc<WebSocket>> = ROOM.with(|r| r.borrow().clone());
                for other in others.iter().filter(|o| !Rc::ptr_eq(o, &ws)) {
                    let _ = other.send(msg.clone());
                }
            }
            ROOM.with(|r| r.borrow_mut().retain(|o| !Rc::ptr_eq(o, &ws)));
        })
        .call(req)
    }));
    let connect = || {
        let stream = TcpStream::connect(s.addr).unwrap();
        stream.set_read_timeout(Some(guv_tests::http::CLIENT_TIMEOUT)).unwrap();
        tungstenite::client::client(format!("ws://{}/chat", s.addr), stream).unwrap().0
    };
    let mut alice = connect();
    let (ready_tx, ready_rx) = mpsc::channel();
    let addr = s.addr;
    let bob = std::thread::spawn(move || {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(guv_tests::http::CLIENT_TIMEOUT)).unwrap();
        let mut bob = tungstenite::client::client(format!("ws://{addr}/chat"), stream).unwrap().0;
        // Bob says hello once joined; Alice answers after hearing it.
        bob.send(Message::text("bob joined")).unwrap();
        ready_tx.send(()).unwrap();
        bob.read().unwrap()
    });
    ready_rx.recv().unwrap();
    assert_eq!(alice.read().unwrap(), Message::text("bob joined"));
    alice.send(Message::text("hi bob")).unwrap();
    assert_eq!(bob.join().unwrap(), Message::text("hi bob"));
}

/// Reads a server frame's opcode and payload from a raw stream.
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let (b0, payload) = guv_tests::http::read_ws_frame(s).unwrap();
    (b0 & 0x0f, payload)
}

/// A masked client text frame.
fn text_frame(text: &str) -> Vec<u8> {
    guv_tests::http::ws_frame(0x81, text.as_bytes())
}

#[test]
fn a_message_that_arrives_while_wait_flushes_is_not_missed() {
    // More than the socket buffers hold while the client reads nothing.
    const BIG: usize = 16 << 20;
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let s = TestServer::start(Server::new(move |req| {
        let parked = parked_tx.clone();
        WebSocketWSGI::new(move |ws: WebSocket| {
            let ws = Rc::new(ws);
            let sender = {
                let ws = ws.clone();
                guv::spawn(move || ws.send(Message::binary(vec![7u8; BIG])))
            };
            // The sender fills the send buffer and parks.
            guv::gyield();
            // This runs once wait() below has found nothing to read and
            // parked in its flush of the sender's bytes.
            let parked = parked.clone();
            guv::spawn(move || parked.send(()).unwrap());
            while let Some(msg) = ws.wait() {
                if let Message::Text(t) = msg {
                    let _ = ws.send(Message::text(format!("echo: {}", t.as_str())));
                }
            }
            let _ = sender.wait();
        })
        .call(req)
    }));
    let mut c = guv_tests::http::websocket_handshake(s.addr);
    // Both server greenlets wait to write: say something now. Its
    // readiness edge comes while nobody waits to read.
    parked_rx.recv_timeout(guv_tests::http::CLIENT_TIMEOUT).expect("the server never parked");
    c.write_all(&text_frame("hello")).unwrap();
    // Take the big message; the server's wait() must then see the text.
    let (opcode, payload) = read_frame(&mut c);
    assert_eq!((opcode, payload.len()), (0x2, BIG));
    assert!(payload.iter().all(|&b| b == 7));
    assert_eq!(read_frame(&mut c), (0x1, b"echo: hello".to_vec()));
}
