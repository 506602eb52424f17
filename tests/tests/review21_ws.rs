//! Review 21: adversarial probes of `guv::websocket` through the public API
//! and real clients (tungstenite, Python `websockets`): several greenlets
//! waiting on one connection, closing codes a handler may not send, an
//! upgrade on a kept-alive connection, and shutdown while a greenlet other
//! than the handler is parked in `send`.

use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;

use guv::websocket::{Message, WebSocket, WebSocketWSGI};
use guv::wsgi::Server;
use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

type Ws = tungstenite::WebSocket<TcpStream>;

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

/// A tungstenite client at `path` of `s`, with read and write timeouts.
fn client(s: &TestServer, path: &str) -> Ws {
    let stream = guv_tests::http::connect(s.addr);
    tungstenite::client::client(format!("ws://{}{path}", s.addr), stream).unwrap().0
}

fn next<T>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(CLIENT_TIMEOUT).expect("the handler reports")
}

/// Two greenlets parked in `wait` on one connection: two messages that
/// arrive together (one packet, one readiness edge) both arrive, once, and
/// when the client closes, both waits end — the one that did not see the
/// closing frame too, rather than staying parked on a connection whose
/// closing handshake is over (the client, waiting for the server to close
/// the TCP connection, would wait with it).
#[test]
fn two_greenlets_waiting_on_one_websocket_share_its_messages_and_both_see_its_end() {
    let (s, rx) = reporting_server(|ws: WebSocket, tx| {
        let ws = Rc::new(ws);
        let tx2 = tx.clone();
        let other = ws.clone();
        let second = guv::spawn(move || {
            while let Some(m) = other.wait() {
                tx2.send(format!("second: {}", m.to_text().unwrap())).unwrap();
            }
            tx2.send("second: end".to_string()).unwrap();
        });
        guv::gyield(); // the second greenlet is parked in `wait` first
        tx.send("ready".to_string()).unwrap();
        while let Some(m) = ws.wait() {
            tx.send(format!("first: {}", m.to_text().unwrap())).unwrap();
        }
        tx.send("first: end".to_string()).unwrap();
        second.wait().unwrap();
    });
    let mut c = client(&s, "/");
    assert_eq!(next(&rx), "ready");
    // Both frames in one write.
    let mut both = guv_tests::http::ws_frame(0x81, b"one");
    both.extend(guv_tests::http::ws_frame(0x81, b"two"));
    c.get_mut().write_all(&both).unwrap();
    // Whichever greenlet runs first may take both: each arrives once.
    let mut got: Vec<String> = [next(&rx), next(&rx)].map(|m| m.split_once(": ").unwrap().1.to_owned()).into();
    got.sort();
    assert_eq!(got, ["one", "two"]);
    c.close(None).unwrap();
    // The server answers the close and then closes the TCP connection.
    loop {
        match c.read() {
            Ok(Message::Close(_)) => {}
            Ok(other) => panic!("{other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
    let mut ends = vec![next(&rx), next(&rx)];
    ends.sort();
    assert_eq!(ends, ["first: end", "second: end"]);
}

/// A closing code RFC 6455 7.4 forbids on the wire (1005, 1006 and 1015
/// stand for "no code" / "no close" / "TLS failure" and are only reported
/// locally; below 1000 and 1016..=2999 are unassigned) is refused by `send`
/// with `InvalidInput`, as an oversized control frame is: nothing is sent
/// and the connection goes on. A conforming client fails the connection on
/// one (Python's `websockets` with 1002), so the handler's close would turn
/// into a protocol error.
#[test]
fn a_closing_code_that_may_not_be_sent_is_refused_and_the_connection_goes_on() {
    let (s, rx) = reporting_server(|ws: WebSocket, tx| {
        for code in [999u16, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let r = ws.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() })));
            tx.send(r.map_err(|e| (code, e.kind(), e.to_string()))).unwrap();
        }
        ws.send("still open").unwrap();
        // Codes a handler may send: the registered ones and 3000..=4999.
        ws.send(Message::Close(Some(CloseFrame { code: CloseCode::from(4000), reason: "app".into() }))).unwrap();
        tx.send(Ok(())).unwrap();
        assert!(ws.wait().is_none());
    });
    let mut c = client(&s, "/");
    for code in [999u16, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let (refused, kind, text) = next(&rx).unwrap_err();
        assert_eq!((refused, kind), (code, std::io::ErrorKind::InvalidInput), "{text}");
        assert!(text.contains(&code.to_string()), "{text}");
    }
    assert!(next(&rx).is_ok());
    assert_eq!(c.read().unwrap(), Message::text("still open"));
    match c.read().unwrap() {
        Message::Close(Some(f)) => assert_eq!((u16::from(f.code), f.reason.as_str()), (4000, "app")),
        other => panic!("{other:?}"),
    }
}

/// `send(Message::Frame(..))` is refused with `InvalidInput`, whatever the
/// frame: a raw frame would skip every check `send` makes (here an
/// oversized ping, a forbidden closing code, and a text fragment that
/// leaves a message open). Nothing goes out and the connection goes on; a
/// conforming client (tungstenite here) fails the connection on the first
/// of them.
#[test]
fn a_raw_frame_is_refused_and_the_connection_goes_on() {
    use tungstenite::protocol::frame::Frame;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let (s, rx) = reporting_server(|ws: WebSocket, tx| {
        let frames = [
            Frame::ping(vec![0u8; 200]),
            Frame::close(Some(CloseFrame { code: CloseCode::from(1005), reason: "".into() })),
            Frame::message("half a message", OpCode::Data(Data::Text), false),
        ];
        for frame in frames {
            let r = ws.send(Message::Frame(frame));
            tx.send(r.map_err(|e| (e.kind(), e.to_string()))).unwrap();
        }
        ws.send("still open").unwrap();
        ws.close().unwrap();
        assert!(ws.wait().is_none());
    });
    let mut c = client(&s, "/");
    for _ in 0..3 {
        let (kind, text) = next(&rx).unwrap_err();
        assert_eq!(kind, std::io::ErrorKind::InvalidInput, "{text}");
        assert!(text.contains("Message::Frame"), "{text}");
    }
    assert_eq!(c.read().unwrap(), Message::text("still open"));
    assert!(matches!(c.read().unwrap(), Message::Close(_)));
}

/// A WebSocket handshake on a connection that first carried a plain
/// keep-alive request (what an HTTP/1.1 client that reuses connections
/// does): the upgrade works there too.
#[test]
fn an_upgrade_on_a_kept_alive_connection_after_a_plain_request() {
    let ws = WebSocketWSGI::new(|ws: WebSocket| {
        while let Some(m) = ws.wait() {
            ws.send(m).unwrap();
        }
    });
    let s = TestServer::start(Server::new(move |req: guv::wsgi::http::Request<guv::wsgi::Body>| {
        if req.uri().path() == "/ws" {
            ws.call(req)
        } else {
            guv::wsgi::http::Response::new(guv::wsgi::Body::from("page"))
        }
    }));
    let mut c = guv_tests::http::Client::connect(s.addr);
    c.send(b"GET /page HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text()), (200, "page".to_string()));
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    // The server sends nothing before the client's first frame, so the
    // reader holds no bytes of the new protocol yet.
    let mut raw = c.stream;
    raw.write_all(&guv_tests::http::ws_frame(0x81, b"echo me")).unwrap();
    assert_eq!(guv_tests::http::read_ws_frame(&mut raw).unwrap(), (0x81, b"echo me".to_vec()));
}

/// Once the closing handshake has begun, whoever began it, `send` fails
/// with `NotConnected`, as it does once the client has vanished — not with
/// `InvalidData` and tungstenite's "protocol error: Sending after closing",
/// which blamed the handler for a connection that is simply ending.
#[test]
fn send_once_the_closing_handshake_began_is_not_connected() {
    let (s, rx) = reporting_server(|ws: WebSocket, tx| {
        if ws.path() == "/server-closes" {
            ws.close().unwrap();
        } else {
            assert!(ws.wait().is_none(), "the client's close");
        }
        let e = ws.send("late").unwrap_err();
        tx.send((ws.path().to_owned(), e.kind(), e.to_string())).unwrap();
        // (the server closing waits for the client's answer)
        let _ = ws.wait();
    });
    let mut c = client(&s, "/client-closes");
    c.close(None).unwrap();
    let mut c2 = client(&s, "/server-closes");
    for _ in 0..2 {
        let (path, kind, text) = next(&rx);
        assert_eq!(kind, std::io::ErrorKind::NotConnected, "{path}: {text}");
        assert!(text.contains("clos"), "{path}: {text}");
    }
    while c.read().is_ok() {}
    while c2.read().is_ok() {}
}
