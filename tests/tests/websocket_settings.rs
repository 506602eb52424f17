//! `WebSocketWSGI::max_message_size` / `max_frame_size`, driven by
//! tungstenite's client: what fits is delivered whole, what does not fails
//! the connection with a 1009 closing frame; the access-log line of a
//! WebSocket session; and a send whose wait a Timeout cut short.

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;

use guv::websocket::{Message, WebSocket, WebSocketWSGI};
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

type Ws = tungstenite::WebSocket<TcpStream>;

/// A server whose handler reports the length of every message it gets
/// (`Some(len)`), then `None` when `wait` ends.
fn reporting_server(
    configure: impl FnOnce(
        WebSocketWSGI<Box<dyn Fn(WebSocket) + Send + Sync>>,
    ) -> WebSocketWSGI<Box<dyn Fn(WebSocket) + Send + Sync>>,
) -> (TestServer, mpsc::Receiver<Option<usize>>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let handler: Box<dyn Fn(WebSocket) + Send + Sync> = Box::new(move |ws: WebSocket| {
        let tx = tx.lock().unwrap().clone();
        loop {
            let got = ws.wait();
            let end = got.is_none();
            tx.send(got.map(|m| m.len())).unwrap();
            if end {
                break;
            }
        }
    });
    let ws = configure(WebSocketWSGI::new(handler));
    let app = move |req: Request<Body>| -> Response<Body> { ws.call(req) };
    (TestServer::start(Server::new(app)), rx)
}

fn client(addr: SocketAddr) -> Ws {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    tungstenite::client::client(format!("ws://{addr}/"), stream).unwrap().0
}

fn next(rx: &mpsc::Receiver<Option<usize>>) -> Option<usize> {
    rx.recv_timeout(CLIENT_TIMEOUT).expect("the handler reported nothing")
}

/// The server's closing frame (whatever came before it is skipped).
fn close_frame(c: &mut Ws) -> Option<CloseFrame> {
    loop {
        match c.read() {
            Ok(Message::Close(frame)) => return frame,
            Ok(_) => {}
            Err(e) => panic!("no closing frame: {e}"),
        }
    }
}

/// Sends one raw data frame (`first`: binary, else a continuation).
fn send_fragment(c: &mut Ws, payload: &[u8], first: bool, last: bool) {
    let opcode = OpCode::Data(if first { Data::Binary } else { Data::Continue });
    c.send(Message::Frame(Frame::message(payload.to_vec(), opcode, last))).unwrap();
}

#[test]
fn a_message_at_the_limit_arrives_and_one_byte_more_fails_with_1009() {
    let (s, rx) = reporting_server(|app| app.max_message_size(Some(1000)));
    let mut c = client(s.addr);
    c.send(Message::binary(vec![7u8; 1000])).unwrap();
    assert_eq!(next(&rx), Some(1000));
    c.send(Message::binary(vec![7u8; 1001])).unwrap();
    assert_eq!(next(&rx), None);
    assert_eq!(close_frame(&mut c).map(|f| f.code), Some(CloseCode::Size));
}

#[test]
fn the_message_limit_counts_every_fragment() {
    let (s, rx) = reporting_server(|app| app.max_message_size(Some(1000)));
    let mut c = client(s.addr);
    // 2 × 500: exactly the limit, delivered as one message.
    send_fragment(&mut c, &[1u8; 500], true, false);
    send_fragment(&mut c, &[2u8; 500], false, true);
    assert_eq!(next(&rx), Some(1000));
    // 2 × 600: each frame fits, the message does not.
    send_fragment(&mut c, &[1u8; 600], true, false);
    send_fragment(&mut c, &[2u8; 600], false, true);
    assert_eq!(next(&rx), None);
    assert_eq!(close_frame(&mut c).map(|f| f.code), Some(CloseCode::Size));
}

#[test]
fn the_frame_limit_applies_to_each_frame_not_to_the_message() {
    let (s, rx) = reporting_server(|app| app.max_frame_size(Some(100)).max_message_size(None));
    let mut c = client(s.addr);
    send_fragment(&mut c, &[1u8; 100], true, false);
    send_fragment(&mut c, &[2u8; 100], false, false);
    send_fragment(&mut c, &[3u8; 100], false, true);
    assert_eq!(next(&rx), Some(300));
    c.send(Message::binary(vec![7u8; 101])).unwrap();
    assert_eq!(next(&rx), None);
    assert_eq!(close_frame(&mut c).map(|f| f.code), Some(CloseCode::Size));
}

#[test]
fn without_settings_a_message_past_1_mib_is_delivered() {
    // The defaults (64 MiB per message, 16 MiB per frame) are far above
    // Python websockets' 1 MiB: 2 MiB goes through.
    let (s, rx) = reporting_server(|app| app);
    let mut c = client(s.addr);
    c.send(Message::binary(vec![5u8; 2 << 20])).unwrap();
    assert_eq!(next(&rx), Some(2 << 20));
    c.close(None).unwrap();
    assert_eq!(next(&rx), None);
}

#[test]
fn a_websocket_session_is_in_the_access_log_as_a_101() {
    let log = guv_tests::http::access_log();
    let (s, rx) = reporting_server(|app| app);
    let stream = TcpStream::connect(s.addr).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let mut c = tungstenite::client::client(format!("ws://{}/chat/room-101", s.addr), stream).unwrap().0;
    c.send(Message::text("hi")).unwrap();
    assert_eq!(next(&rx), Some(2));
    c.close(None).unwrap();
    assert_eq!(next(&rx), None);
    s.shutdown().unwrap(); // every line is written
    let lines = log.lock().unwrap().clone();
    let ours: Vec<&String> = lines.iter().filter(|l| l.contains("/chat/room-101")).collect();
    assert_eq!(ours.len(), 1, "{lines:?}");
    assert!(ours[0].starts_with("guv::wsgi::access 127.0.0.1 - - ["), "{}", ours[0]);
    assert!(ours[0].ends_with("\"GET /chat/room-101 HTTP/1.1\" 101 -"), "{}", ours[0]);
}

#[test]
fn a_send_cut_short_by_a_timeout_still_goes_out_once_and_in_order() {
    // More than the socket buffers hold while the client reads nothing.
    const BIG: usize = 16 << 20;
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let handler: Box<dyn Fn(WebSocket) + Send + Sync> = Box::new(move |ws: WebSocket| {
        let tx = tx.lock().unwrap().clone();
        let cut = guv::with_timeout(std::time::Duration::from_millis(50), || ws.send(vec![3u8; BIG]));
        tx.send(cut.is_err()).unwrap();
        ws.send("after").unwrap();
        while ws.wait().is_some() {}
    });
    let ws = WebSocketWSGI::new(handler);
    let app = move |req: Request<Body>| -> Response<Body> { ws.call(req) };
    let s = TestServer::start(Server::new(app));
    let mut c = client(s.addr);
    assert!(rx.recv_timeout(CLIENT_TIMEOUT).unwrap(), "the send finished within the timeout");
    let first = c.read().unwrap();
    assert_eq!((first.len(), first.is_binary()), (BIG, true));
    assert!(first.into_data().iter().all(|&b| b == 3));
    assert_eq!(c.read().unwrap(), Message::text("after"));
    c.close(None).unwrap();
}
