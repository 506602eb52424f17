//! Review 19: WebSockets over a wrapped stream with a close hook
//! (`Server::wrap_stream_with_close`, rustls on both ends) at shutdown:
//! the WebSocket's own closing frame reaches the client through the TLS
//! layer, and the close hook runs once, after it (it was not run at all on
//! a connection the app took over until left 14 gave a WebSocket whose
//! closing frame went out whole its `close_notify`: see `wss_session.rs`).

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

type App = Box<dyn Fn(Request<Body>) -> Response<Body> + Send + Sync>;

#[test]
fn a_websocket_over_tls_gets_its_going_away_frame_at_the_shutdown_deadline_then_one_goodbye() {
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let ws = WebSocketWSGI::new(move |ws: WebSocket| {
        let _ = tx.lock().unwrap().send("open");
        while ws.wait().is_some() {}
    });
    let app: App = Box::new(move |req| ws.call(req));
    let goodbyes = Arc::new(AtomicUsize::new(0));
    let counted = goodbyes.clone();
    let server = Server::new(app).shutdown_timeout(Duration::from_millis(100)).wrap_stream_with_close(
        guv_tests::tls::handshake(made.server.clone()),
        move |tls: &mut guv_tests::tls::ServerTls| {
            counted.fetch_add(1, Ordering::SeqCst);
            tls.conn.send_close_notify();
            Ok(())
        },
    );
    let s = TestServer::start(server);
    let sock = TcpStream::connect(s.addr).unwrap();
    sock.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let tls = StreamOwned::new(
        ClientConnection::new(made.client.clone(), ServerName::try_from("127.0.0.1").unwrap()).unwrap(),
        sock,
    );
    let (mut c, _) = tungstenite::client::client(format!("wss://{}/", s.addr), tls).unwrap();
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("open"));
    c.send(Message::Text("hi".into())).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let stopper = std::thread::spawn(move || {
        let r = s.shutdown();
        let _ = done_tx.send(());
        r
    });
    match c.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away, "{frame:?}"),
        other => panic!("no going-away frame: {other:?}"),
    }
    done_rx.recv_timeout(Duration::from_secs(20)).expect("the shutdown ended by its deadline");
    stopper.join().unwrap().unwrap();
    assert_eq!(goodbyes.load(Ordering::SeqCst), 1, "the close hook after the WebSocket's closing frame");
}
