//! After a read drains a green stream socket, guv may wait for the next
//! readiness edge without a read that would only say `WouldBlock`. An EOF
//! that arrived together with the data raises no further edge, so that
//! shortcut must never leave a reader waiting: these tests run on both
//! backends (the `polling` default, which cannot report a peer's FIN
//! separately, and `EpollBackend`, which reports `EPOLLRDHUP`).

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::time::Duration;

use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};

/// Installs this thread's backend: guv's own epoll one, or `polling`
/// (which cannot report that the peer stopped sending).
fn set_backend(epoll: bool) {
    if epoll {
        guv::hub::set_backend(Box::new(guv::hub::EpollBackend::new().unwrap())).unwrap();
    } else {
        guv::hub::set_backend(Box::new(guv::hub::PollingBackend::new().unwrap())).unwrap();
    }
}

fn on_hub_thread<R: Send + 'static>(epoll: bool, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(move || {
        set_backend(epoll);
        f()
    })
    .join()
    .unwrap()
}

/// The peer sends data and its FIN before the server reads; the hub polls
/// (consuming the one edge for both) before the server reads the data.
fn eof_after_a_draining_read(epoll: bool) {
    on_hub_thread(epoll, || {
        let listener = guv::listen("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sent_tx, sent_rx) = mpsc::channel();
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"hello").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            sent_tx.send(()).unwrap();
            let mut reply = Vec::new();
            s.read_to_end(&mut reply).unwrap();
            reply
        });
        let (mut conn, _) = listener.accept().unwrap();
        // On loopback the data and the FIN are queued once the client's
        // shutdown returned.
        sent_rx.recv().unwrap();
        // Make the hub poll now: the edge for both is consumed here, before
        // anything reads.
        guv::sleep(Duration::from_millis(1));
        let mut buf = [0u8; 64];
        assert_eq!(conn.read(&mut buf).unwrap(), 5, "a short read drains the socket");
        let eof = guv::with_timeout(Duration::from_secs(5), || conn.read(&mut buf));
        assert_eq!(eof.expect("the read after a drained EOF hung").unwrap(), 0);
        conn.write_all(b"bye").unwrap();
        drop(conn);
        assert_eq!(client.join().unwrap(), b"bye");
    });
}

#[test]
fn eof_after_a_draining_read_is_seen_with_the_polling_backend() {
    eof_after_a_draining_read(false);
}

#[test]
fn eof_after_a_draining_read_is_seen_with_the_epoll_backend() {
    eof_after_a_draining_read(true);
}

#[test]
fn a_stream_of_short_reads_delivers_every_byte() {
    // Many small messages, each read drains the socket: the shortcut must
    // never skip a read that had data.
    for epoll in [false, true] {
        on_hub_thread(epoll, || {
            let listener = guv::listen("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let connecting = guv::spawn(move || guv::connect(addr).unwrap());
            let (a, _) = listener.accept().unwrap();
            let b = connecting.wait().unwrap();
            let writer = guv::spawn(move || {
                let mut b = b;
                for i in 0..2000u32 {
                    b.write_all(&i.to_le_bytes()).unwrap();
                    if i % 7 == 0 {
                        guv::gyield();
                    }
                }
                b.shutdown(Shutdown::Write).unwrap();
                b
            });
            let mut a = a;
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match a.read(&mut buf).unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            let _b = writer.wait().unwrap();
            let want: Vec<u8> = (0..2000u32).flat_map(|i| i.to_le_bytes()).collect();
            assert_eq!(got, want);
        });
    }
}

fn hello(_req: Request<Body>) -> Response<Body> {
    Response::new(Body::from_static(b"hi"))
}

#[test]
fn the_http_server_closes_at_once_when_the_request_comes_with_the_fin() {
    for epoll in [false, true] {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<guv::wsgi::ShutdownHandle>();
        let server = std::thread::spawn(move || {
            set_backend(epoll);
            let bound = Server::new(hello).access_log(false).bind("127.0.0.1:0").unwrap();
            addr_tx.send(bound.local_addr()).unwrap();
            stop_tx.send(bound.shutdown_handle()).unwrap();
            bound.run()
        });
        let addr = addr_rx.recv().unwrap();
        let stop = stop_rx.recv().unwrap();
        for _ in 0..20 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            // Far shorter than the server's 60 s header timeout.
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).expect("the server left the connection open after the client's FIN");
            assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
            assert!(reply.ends_with("hi"), "{reply}");
        }
        stop.shutdown();
        server.join().unwrap().unwrap();
    }
}
