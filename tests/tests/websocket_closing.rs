//! The closing handshake started by the server against a client that
//! does not answer it but keeps sending data: the close timeout bounds the
//! whole handshake, not only the waits for the client, so a handler's
//! `wait()` loop ends in time however fast the client talks.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::Server;
use guv_tests::http::{CLIENT_TIMEOUT, TestServer, read_ws_frame, websocket_handshake, ws_frame};

#[test]
fn a_client_that_keeps_sending_after_the_servers_close_does_not_hold_wait_past_the_close_timeout() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let app = WebSocketWSGI::new(move |ws: WebSocket| {
        ws.close().unwrap();
        let mut delivered = 0u64;
        while ws.wait().is_some() {
            delivered += 1;
        }
        // None from then on, too.
        assert!(ws.wait().is_none());
        tx.lock().unwrap().send(delivered).unwrap();
    })
    .close_timeout(Duration::from_millis(300));
    // A shutdown deadline far beyond the test's bounds: only the close
    // timeout can end the handler's loop.
    let s = TestServer::start(Server::new(move |req| app.call(req)).shutdown_timeout(Duration::from_secs(600)));
    let mut c = websocket_handshake(s.addr);
    let (b0, payload) = read_ws_frame(&mut c).unwrap();
    assert_eq!((b0, payload.len()), (0x88, 0), "the server's empty closing frame");
    // Never a Close: batches of small text frames, as fast as the socket
    // takes them, so that the server always has more to read.
    let batch: Vec<u8> = (0..20_000).flat_map(|i| ws_frame(0x81, format!("chat {i}").as_bytes())).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let chatty = {
        let (stop, mut c) = (stop.clone(), c.try_clone().unwrap());
        std::thread::spawn(move || while !stop.load(Ordering::SeqCst) && c.write_all(&batch).is_ok() {})
    };
    let ended = rx.recv_timeout(CLIENT_TIMEOUT);
    stop.store(true, Ordering::SeqCst);
    let _ = c.shutdown(std::net::Shutdown::Both);
    chatty.join().unwrap();
    let delivered = ended.expect("wait() went on past the close timeout while the client kept sending");
    // What came before the deadline was delivered, as websockets does.
    assert!(delivered > 0, "no message delivered before the deadline");
    s.shutdown().unwrap();
}
