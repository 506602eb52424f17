//! Green UDP, Unix sockets and `guv::select` through the public API.

use std::io::{self, Read, Write};
use std::time::Duration;

use guv::Interest;
use guv::green::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use guv::net::UdpSocket;
use guv_tests::Log;

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("guv-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn udp_round_trip_peek_and_timeouts() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_addr = b.local_addr().unwrap();
    let log = Log::new();
    let l2 = log.clone();
    let receiver = guv::spawn(move || {
        l2.push("waiting");
        let mut buf = [0; 16];
        let (n, _) = b.peek_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"dgram");
        let (n, from) = b.recv_from(&mut buf).unwrap();
        l2.push(format!("got {}", String::from_utf8_lossy(&buf[..n])));
        b.send_to(b"reply", from).unwrap();
    });
    guv::gyield();
    log.push("sending");
    a.send_to(b"dgram", b_addr).unwrap();
    a.connect(b_addr).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b_addr);
    let mut buf = [0; 16];
    let n = a.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"reply");
    receiver.wait().unwrap();
    assert_eq!(log.take(), ["waiting", "sending", "got dgram"]);

    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(a.recv(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    a.set_broadcast(true).unwrap();
    assert!(a.broadcast().unwrap());
    let c = a.try_clone().unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(20)));
    assert_eq!(
        a.send_to(b"x", "no port given").unwrap_err().kind(),
        io::ErrorKind::InvalidInput,
        "an invalid address string"
    );
}

#[test]
fn unix_stream_listener_and_datagram() {
    let path = temp_path("s.sock");
    let l = UnixListener::bind(&path).unwrap();
    let p2 = path.clone();
    let client = guv::spawn(move || {
        let mut s = UnixStream::connect(&p2).unwrap();
        s.write_all(b"over unix").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = String::new();
        s.read_to_string(&mut back).unwrap();
        back
    });
    let (mut conn, _) = l.accept().unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    conn.write_all(got.to_uppercase().as_bytes()).unwrap();
    drop(conn);
    assert_eq!(client.wait().unwrap(), "OVER UNIX");

    let (a, b) = UnixDatagram::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(b.recv(&mut [0; 4]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    a.send(b"dg").unwrap();
    let mut buf = [0; 4];
    assert_eq!(b.recv(&mut buf).unwrap(), 2);

    let e = UnixStream::connect(temp_path("missing.sock")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let long = "x".repeat(200);
    assert_eq!(UnixStream::connect(&long).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn select_reports_every_ready_fd_and_times_out_empty() {
    let (a, mut a_peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let (b, mut b_peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let (c, _c_peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let fds = [(&a, Interest::READABLE), (&b, Interest::READABLE), (&c, Interest::READABLE)];
    assert!(guv::select(&fds, Some(Duration::from_millis(10))).unwrap().is_empty());
    assert!(guv::select(&fds, Some(Duration::ZERO)).unwrap().is_empty());
    let log = Log::new();
    let l2 = log.clone();
    guv::spawn_n(move || {
        l2.push("writer");
        a_peer.write_all(b"1").unwrap();
        b_peer.write_all(b"2").unwrap();
    });
    let ready = guv::select(&fds, Some(Duration::from_secs(10))).unwrap();
    log.push("selected");
    assert_eq!(log.take(), ["writer", "selected"]);
    let idx: Vec<usize> = ready.iter().map(|r| r.index).collect();
    assert_eq!(idx, [0, 1]);
    assert!(ready.iter().all(|r| r.readable && !r.writable));
    // Writable: all three are.
    let w = [(&a, Interest::WRITABLE), (&b, Interest::READABLE | Interest::WRITABLE)];
    let ready = guv::select(&w, None).unwrap();
    assert_eq!(ready.len(), 2);
    assert!(ready[1].readable && ready[1].writable);
    // Helpers are gone afterwards.
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

#[test]
fn select_wakes_on_a_later_edge() {
    let (a, mut a_peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        a_peer.write_all(b"late").unwrap();
    });
    let ready = guv::select(&[(&a, Interest::READABLE)], Some(Duration::from_secs(10))).unwrap();
    assert_eq!(ready.len(), 1);
    t.join().unwrap();
}

#[test]
fn select_on_an_fd_that_is_not_open_is_an_error() {
    // A number above the open-file limit can never be an open fd (a
    // just-closed one could be reused by a test running in parallel).
    let fd = 1_000_000;
    // SAFETY: select must report EBADF for this number, never use it.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let e = guv::select(&[(borrowed, Interest::READABLE)], Some(Duration::from_millis(10))).unwrap_err();
    assert!(e.to_string().contains("cannot poll fd"), "{e}");
}
