//! How a WebSocket over TLS (WSS: `guv::websocket` behind
//! `Server::wrap_stream_with_close`, rustls on both ends) ends its TLS
//! session: once the server's closing frame has gone out whole, the stream
//! says goodbye (`close_notify`), whether the handler returned, a graceful
//! shutdown closed the WebSocket, or the shutdown's deadline killed a
//! handler parked in `wait()` whose client never answered.

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::{Server, Wrapping};
use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use tungstenite::protocol::frame::coding::CloseCode;

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A WSS server whose handler reports that it started, then waits for
/// messages until `wait` says the connection ended; its stream sends
/// `close_notify` on a graceful close. `once` makes the handler return
/// after its first message instead.
fn wss(
    made: &guv_tests::tls::SelfSigned,
    shutdown_timeout: Duration,
    once: bool,
) -> (Server<impl guv::wsgi::Service, Wrapping>, mpsc::Receiver<()>) {
    wss_with_close(made, shutdown_timeout, once, |tls: &mut guv_tests::tls::ServerTls| {
        tls.conn.send_close_notify();
        Ok(())
    })
}

/// [`wss`] with the close hook `close`.
fn wss_with_close(
    made: &guv_tests::tls::SelfSigned,
    shutdown_timeout: Duration,
    once: bool,
    close: impl Fn(&mut guv_tests::tls::ServerTls) -> io::Result<()> + Send + Sync + 'static,
) -> (Server<impl guv::wsgi::Service, Wrapping>, mpsc::Receiver<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let started_tx = Arc::new(Mutex::new(started_tx));
    let app = move |req| {
        let started_tx = started_tx.clone();
        WebSocketWSGI::new(move |ws: WebSocket| {
            let _ = started_tx.lock().unwrap().send(());
            while ws.wait().is_some() {
                if once {
                    return;
                }
            }
        })
        .call(req)
    };
    let server = Server::new(app)
        .shutdown_timeout(shutdown_timeout)
        .wrap_stream_with_close(guv_tests::tls::handshake(made.server.clone()), close);
    (server, started_rx)
}

/// A tungstenite client over rustls, its handshake done.
fn client(made: &guv_tests::tls::SelfSigned, s: &TestServer) -> tungstenite::WebSocket<Tls> {
    let sock = guv_tests::http::connect(s.addr);
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = StreamOwned::new(ClientConnection::new(made.client.clone(), name).unwrap(), sock);
    let (ws, answer) = tungstenite::client(format!("wss://127.0.0.1:{}/", s.addr.port()), tls).unwrap();
    assert_eq!(answer.status(), 101);
    ws
}

/// The closing code of the next message, which must be a Close.
fn close_code(ws: &mut tungstenite::WebSocket<Tls>) -> CloseCode {
    match ws.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => frame.code,
        other => panic!("expected a closing frame, got {other:?}"),
    }
}

/// Reads the TLS stream under tungstenite (which would answer a close) to
/// its end: the bytes, and how it ended (`Ok` for `close_notify`).
fn read_raw(ws: &mut tungstenite::WebSocket<Tls>) -> (Vec<u8>, io::Result<()>) {
    let tls = ws.get_mut();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let end = loop {
        match tls.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    (got, end)
}

/// One unmasked closing frame with code 1001 (going away), no reason.
const GOING_AWAY: [u8; 4] = [0x88, 0x02, 0x03, 0xe9];

/// Reads on after the closing handshake: tungstenite says
/// `ConnectionClosed` when the stream ends cleanly (the TLS layer got
/// `close_notify`); a socket closed under the session is `UnexpectedEof`.
fn assert_clean_end(ws: &mut tungstenite::WebSocket<Tls>) {
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("the TLS session did not end cleanly: {other:?}"),
    }
}

#[test]
fn a_websocket_closed_by_a_graceful_shutdown_ends_its_tls_session_with_close_notify() {
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let (server, started) = wss(&made, Duration::from_secs(20), false);
    let s = TestServer::start(server);
    let mut ws = client(&made, &s);
    started.recv_timeout(CLIENT_TIMEOUT).expect("the handler started");
    let stopped = std::thread::spawn(move || s.shutdown());
    // The server says it goes away; tungstenite answers the close, the
    // handler's `wait` ends, and it returns.
    assert_eq!(close_code(&mut ws), CloseCode::Away);
    assert_clean_end(&mut ws);
    stopped.join().unwrap().unwrap();
}

#[test]
fn a_websocket_handler_that_returns_ends_its_tls_session_with_close_notify() {
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let (server, started) = wss(&made, Duration::from_secs(20), true);
    let s = TestServer::start(server);
    let mut ws = client(&made, &s);
    started.recv_timeout(CLIENT_TIMEOUT).expect("the handler started");
    ws.send(tungstenite::Message::text("one")).unwrap();
    assert_eq!(close_code(&mut ws), CloseCode::Normal);
    assert_clean_end(&mut ws);
    s.shutdown().unwrap();
}

#[test]
fn a_websocket_killed_at_the_shutdown_deadline_gets_1001_then_close_notify() {
    // The client never answers the server's close: the handler stays
    // parked in `wait` (the close timeout, 10 s, is longer than the
    // shutdown's), and the deadline kills it. The client still gets the
    // closing frame and a clean end of the session.
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let (server, started) = wss(&made, Duration::from_millis(300), false);
    let s = TestServer::start(server);
    let mut ws = client(&made, &s);
    started.recv_timeout(CLIENT_TIMEOUT).expect("the handler started");
    let stopped = std::thread::spawn(move || s.shutdown());
    let (got, end) = read_raw(&mut ws);
    stopped.join().unwrap().unwrap();
    assert_eq!(got, GOING_AWAY);
    end.unwrap_or_else(|e| panic!("the TLS session did not end cleanly: {e}"));
}

#[test]
fn a_close_hook_that_parks_does_not_hold_a_websocket_killed_at_the_deadline() {
    // The goodbye of a killed handler is said while its greenlet unwinds,
    // which must not park: a hook that parks is cut short, and the
    // connection closes with the deadline (without close_notify).
    let made = guv_tests::tls::self_signed("127.0.0.1");
    let (parked_tx, parked_rx) = mpsc::channel();
    let parked_tx = Mutex::new(parked_tx);
    let (server, started) = wss_with_close(&made, Duration::from_millis(300), false, move |_| {
        let _ = parked_tx.lock().unwrap().send(());
        guv::sleep(Duration::from_secs(3600));
        Ok(())
    });
    let s = TestServer::start(server);
    let mut ws = client(&made, &s);
    started.recv_timeout(CLIENT_TIMEOUT).expect("the handler started");
    let stopped = std::thread::spawn(move || s.shutdown());
    let (got, end) = read_raw(&mut ws);
    parked_rx.recv_timeout(CLIENT_TIMEOUT).expect("the close hook ran");
    stopped.join().unwrap().unwrap();
    assert_eq!(got, GOING_AWAY);
    assert_eq!(end.expect_err("no close_notify").kind(), io::ErrorKind::UnexpectedEof);
}
