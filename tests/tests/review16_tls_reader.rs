//! Review 16: a connection taken over (`Upgrade`) on a server with a TLS
//! `wrap_stream` hook, read by one greenlet while another writes.
//!
//! A TLS layer (rustls here) reads from the socket inside a *write* or a
//! flush that the full socket blocks: the client's next record goes into
//! the layer's buffer, not the greenlet parked for the socket's
//! readability. Once the socket is drained that way, the poller reports no
//! readable edge for it (epoll re-checks the socket before reporting), so
//! the reader must be woken by the write that took its bytes, or it waits
//! for bytes that have already come.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use guv::wsgi::{Body, Server, Upgrade, http};
use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, StreamOwned};

thread_local! {
    /// A duplicate of the connection's socket, kept by the hook, for the app
    /// to see (without reading) when the client's bytes are in the socket.
    static PROBE: RefCell<Option<guv::net::TcpStream>> = const { RefCell::new(None) };
}

/// More than the socket (4 KiB send buffer, 4 KiB window) and the TLS
/// layer's 64 KiB can hold: the server's write fills the socket.
const BIG: usize = 1 << 20;

fn pattern(i: usize) -> u8 {
    (i % 241) as u8
}

fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let made = guv_tests::tls::self_signed("127.0.0.1");
    (made.server, made.client)
}

#[test]
fn a_reader_parked_on_a_tls_connection_gets_the_record_a_concurrent_write_took_in() {
    let (server_cfg, client_cfg) = configs();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (sent_tx, sent_rx) = mpsc::channel::<usize>();
    let (ready_tx, sent_rx) = (Mutex::new(ready_tx), Mutex::new(sent_rx));
    let app = move |req: http::Request<Body>| {
        let up = req.extensions().get::<Upgrade>().cloned().expect("an upgrade on offer");
        let mut conn = up.take().expect("the connection");
        conn.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n").unwrap();
        // A reader greenlet parks for the client's message.
        let mut theirs = conn.clone();
        let reader = guv::spawn(move || {
            let mut buf = [0u8; 64];
            let n = theirs.read(&mut buf).expect("the client's message");
            buf[..n].to_vec()
        });
        guv::gyield();
        assert!(!reader.is_finished(), "nothing was sent yet");
        ready_tx.lock().unwrap().send(()).unwrap();
        // The client's record is in the socket (this blocks the worker's
        // thread: the hub does not poll meanwhile).
        let len = sent_rx.lock().unwrap().recv().unwrap();
        let probe = PROBE.with(|p| p.borrow_mut().take()).expect("the hook's duplicate");
        let mut peeked = vec![0u8; len];
        loop {
            match probe.peek(&mut peeked) {
                Ok(n) if n >= len => break,
                Ok(_) => std::thread::yield_now(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("peek: {e}"),
            }
        }
        drop(probe);
        // A large write: it fills the socket, and the TLS layer, blocked on
        // its output, reads the client's record meanwhile.
        let big: Vec<u8> = (0..BIG).map(pattern).collect();
        conn.write_all(&big).unwrap();
        let got = reader.wait().expect("the reader");
        conn.write_all(&got).unwrap();
        http::Response::new(Body::empty())
    };
    let config = server_cfg.clone();
    let server =
        Server::new(app).shutdown_timeout(Duration::from_secs(2)).wrap_stream(move |tcp: guv::net::TcpStream| {
            PROBE.with(|p| *p.borrow_mut() = Some(tcp.try_clone().expect("try_clone")));
            guv_tests::tls::accept(&config, tcp)
        });
    let s = TestServer::serve(server, guv_tests::net::listener_with_sndbuf(4096));

    let sock = guv_tests::net::connect_with_rcvbuf(s.addr, 4096);
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut c = StreamOwned::new(ClientConnection::new(client_cfg, name).unwrap(), sock);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n").unwrap();
    c.flush().unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut byte).expect("the 101 head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
    ready_rx.recv_timeout(CLIENT_TIMEOUT).expect("the reader parked");
    // One record, written to the socket in one go; its length goes to the
    // app, which waits until all of it is in the server's socket.
    c.conn.writer().write_all(b"hello").unwrap();
    let mut record = Vec::new();
    while c.conn.wants_write() {
        c.conn.write_tls(&mut record).unwrap();
    }
    c.sock.write_all(&record).unwrap();
    sent_tx.send(record.len()).unwrap();
    let mut body = vec![0u8; BIG];
    c.read_exact(&mut body).expect("the large write");
    assert!(body.iter().enumerate().all(|(i, &b)| b == pattern(i)), "the large write arrived damaged");
    let mut echo = [0u8; 5];
    c.read_exact(&mut echo)
        .expect("the reader never got the client's message: the write that took it in did not wake it");
    assert_eq!(&echo, b"hello");
    drop(c);
    s.shutdown().unwrap();
}
