//! Review 16: a `DatagramServer` whose handler puts the shared socket in
//! non-blocking mode (to reply without parking, say) must go on receiving:
//! its receive greenlet parks until the next datagram, instead of spinning
//! on `WouldBlock` without ever letting the handlers (or anything else on
//! its thread) run.

use std::net::UdpSocket;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_handler_that_makes_the_socket_non_blocking_does_not_stall_the_server() {
    let (addr_tx, addr_rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let server = guv::DatagramServer::bind_udp("127.0.0.1:0", |d| {
            if d.data() == b"stop" {
                return Err(guv::StopServe.into());
            }
            d.socket().set_nonblocking(true)?;
            d.reply(d.data())?;
            Ok(())
        })
        .unwrap();
        addr_tx.send(server.handle().local_addr().unwrap()).unwrap();
        server.serve_forever()
    });
    let addr = addr_rx.recv().unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 16];
    for msg in [&b"first"[..], b"second", b"third"] {
        client.send_to(msg, addr).unwrap();
        let (n, from) = client
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no reply to {:?}: {e}", String::from_utf8_lossy(msg)));
        assert_eq!((&buf[..n], from), (msg, addr));
    }
    client.send_to(b"stop", addr).unwrap();
    server.join().unwrap().unwrap();
}
