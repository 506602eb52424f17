//! Green TCP through the public API: readiness, timeouts, errors, and the
//! bad-input cases of issue 4.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use guv::net::{TcpListener, TcpStream};
use guv_tests::Log;

/// More bytes than a loopback connection's buffers hold (Linux caps the
/// send buffer at `tcp_wmem`'s 4 MiB and the receive buffer, which grows
/// only while the application reads, at `tcp_rmem`'s maximum): a writer
/// whose peer reads nothing parks before it is done.
const BEYOND_BUFFERS: usize = 64 << 20;

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

#[test]
fn echo_between_greenlets_with_every_byte_checked() {
    let l = guv::listen("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = guv::spawn(move || {
        let (mut conn, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut total = 0;
        loop {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                return total;
            }
            conn.write_all(&buf[..n]).unwrap();
            total += n;
        }
    });
    let mut c = guv::connect(addr).unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let writer = {
        let mut w = c.try_clone().unwrap();
        let data = data.clone();
        guv::spawn(move || {
            w.write_all(&data).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    writer.wait().unwrap();
    assert_eq!(server.wait().unwrap(), data.len());
    assert!(back == data, "echoed bytes differ");
}

#[test]
fn readers_and_writers_wait_separately_on_one_socket() {
    let (c, s) = pair();
    let c = Rc::new(c);
    let log = Log::new();
    let (c2, log2) = (c.clone(), log.clone());
    let reader = guv::spawn(move || {
        let mut b = [0; 1];
        (&*c2).read_exact(&mut b).unwrap();
        log2.push(format!("read {}", b[0]));
    });
    // Fill the send buffer so that a writer must wait too.
    c.set_nonblocking(true).unwrap();
    let chunk = vec![0u8; 65536];
    let mut queued = 0usize;
    while let Ok(n) = (&*c).write(&chunk) {
        queued += n;
    }
    c.set_nonblocking(false).unwrap();
    // More than the socket buffers can ever hold: the writer parks even
    // if the kernel freed some room since the loop above gave up.
    let tail = vec![7u8; BEYOND_BUFFERS];
    let (c3, log3) = (c.clone(), log.clone());
    let writer = guv::spawn(move || {
        (&*c3).write_all(&tail).unwrap();
        log3.push("wrote");
    });
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 2);
    // Drain the peer: the writer finishes; then answer the reader.
    let mut sink = vec![0u8; 65536];
    let mut drained = 0;
    while drained < queued + BEYOND_BUFFERS {
        drained += (&s).read(&mut sink).unwrap();
    }
    writer.wait().unwrap();
    (&s).write_all(&[9]).unwrap();
    reader.wait().unwrap();
    assert_eq!(log.take(), ["wrote", "read 9"]);
}

#[test]
fn read_timeout_gives_wouldblock_as_std_on_linux() {
    let (c, _s) = pair();
    assert!(c.set_read_timeout(Some(Duration::ZERO)).is_err());
    // 20 ms is a whole number of scheduler ticks at every usual HZ (100,
    // 250, 300, 1000), so the kernel keeps it as it is.
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(20)));
    let start = Instant::now();
    let e = (&c).read(&mut [0; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    assert!(start.elapsed() >= Duration::from_millis(20));
    // A clone shares the timeout, as std's (one open file description).
    let d = c.try_clone().unwrap();
    assert_eq!(d.read_timeout().unwrap(), Some(Duration::from_millis(20)));
    d.set_read_timeout(None).unwrap();
    assert_eq!(c.read_timeout().unwrap(), None);
}

#[test]
fn write_timeout_gives_wouldblock() {
    let (c, _s) = pair();
    c.set_write_timeout(Some(Duration::from_millis(20))).unwrap();
    let chunk = vec![1u8; 1 << 20];
    let e = loop {
        if let Err(e) = (&c).write(&chunk) {
            break e;
        }
    };
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn nonblocking_mode_reports_wouldblock_instead_of_parking() {
    let (c, _s) = pair();
    c.set_nonblocking(true).unwrap();
    assert_eq!((&c).read(&mut [0; 4]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert_eq!(c.peek(&mut [0; 4]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn peek_shutdown_nodelay_ttl() {
    let (mut c, mut s) = pair();
    c.write_all(b"peek").unwrap();
    let mut b = [0; 4];
    assert_eq!(s.peek(&mut b).unwrap(), 4);
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"peek");
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_ttl(33).unwrap();
    assert_eq!(c.ttl().unwrap(), 33);
    // Half-close: the peer sees end-of-file but can still write back.
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(s.read(&mut b).unwrap(), 0);
    s.write_all(b"back").unwrap();
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"back");
}

#[test]
fn connect_refused_is_a_clear_error() {
    // The local port of a live connection: nothing listens there, and
    // nothing can while the connection holds it (a port bound and then
    // closed could be taken by a test running in parallel).
    let (held, _peer) = pair();
    let port = held.local_addr().unwrap().port();
    let e = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn connect_timeout_to_a_listener_with_a_full_backlog() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen(2) on a socket this test owns; shrinks the backlog.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 0) }, 0);
    let addr = l.local_addr().unwrap();
    let mut held = Vec::new();
    let e = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(e) => break e,
        }
        assert!(held.len() < 64, "the backlog never filled");
    };
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    let zero = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
    assert_eq!(zero.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn other_greenlets_run_while_connecting() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen(2) on a socket this test owns.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 0) }, 0);
    let addr = l.local_addr().unwrap();
    // Green connects fill the backlog; the first that times out is the
    // one checked. (A connect that merely took long on a loaded machine
    // also parked, so it proves the same; and one that succeeds may not
    // park at all on loopback, so those prove nothing and are kept.)
    let mut held = Vec::new();
    let (e, log) = loop {
        let log = Log::new();
        let l2 = log.clone();
        guv::spawn_n(move || l2.push("ticker ran"));
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => held.push(s),
            Err(e) => {
                log.push("connect gave up");
                break (e, log);
            }
        }
        assert!(held.len() < 64, "the backlog never filled");
    };
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert_eq!(log.take(), ["ticker ran", "connect gave up"]);
}

#[test]
fn writing_to_a_reset_peer_is_an_error_not_a_signal() {
    let (c, s) = pair();
    // SO_LINGER 0 makes close() send a reset.
    guv_tests::net::reset_on_close(&s);
    drop(s);
    // The reset reaches `c` when the kernel gets to it (a write after the
    // reset fails; one before may still succeed): try for a generous while.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut failure = None;
    while Instant::now() < deadline {
        if let Err(e) = (&c).write(b"data") {
            failure = Some(e);
            break;
        }
        guv::sleep(Duration::from_millis(1));
    }
    let e = failure.expect("writes to a reset peer kept succeeding");
    assert!(matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe), "{e:?}");
    let r = (&c).read(&mut [0; 4]);
    assert!(matches!(r, Ok(0) | Err(_)));
}

#[test]
fn closing_wakes_waiters_with_an_error() {
    let (c, _s) = pair();
    let c = Rc::new(c);
    let c2 = c.clone();
    let reader = guv::spawn(move || (&*c2).read(&mut [0; 4]));
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 1);
    // Another greenlet closes the socket under the reader.
    guv::notify_close(&*c);
    let e = reader.wait().unwrap().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotConnected);
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

#[test]
fn closing_wakes_every_reader_and_writer() {
    let (c, _s) = pair();
    let c = Rc::new(c);
    // Fill the send buffer so that a writer parks too.
    c.set_nonblocking(true).unwrap();
    while (&*c).write(&[0u8; 65536]).is_ok() {}
    c.set_nonblocking(false).unwrap();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let c = c.clone();
            guv::spawn(move || (&*c).read(&mut [0; 4]).map(drop))
        })
        .collect();
    let c2 = c.clone();
    let writer = guv::spawn(move || (&*c2).write_all(&vec![1u8; BEYOND_BUFFERS]));
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 3);
    guv::notify_close(&*c);
    for r in readers {
        assert_eq!(r.wait().unwrap().unwrap_err().kind(), io::ErrorKind::NotConnected);
    }
    assert_eq!(writer.wait().unwrap().unwrap_err().kind(), io::ErrorKind::NotConnected);
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

#[test]
fn killing_a_reader_leaves_no_waiter_and_loses_no_data() {
    let (c, mut s) = pair();
    let c = Rc::new(c);
    let c2 = c.clone();
    let reader = guv::spawn(move || (&*c2).read(&mut [0; 4]));
    guv::gyield();
    reader.kill();
    assert!(reader.wait().unwrap_err().is_killed());
    assert_eq!(guv::hub::stats().io_waiters, 0);
    s.write_all(b"kept").unwrap();
    let mut b = [0; 4];
    (&*c).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"kept");
}

#[test]
fn invalid_addresses_are_invalid_input() {
    for bad in ["not an address", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1"] {
        let e = TcpStream::connect(bad).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}: {e}");
        let e = TcpListener::bind(bad).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}: {e}");
    }
    let none: &[SocketAddr] = &[];
    assert_eq!(TcpStream::connect(none).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn conversions_with_std_and_owned_fd() {
    let (c, s) = pair();
    c.set_read_timeout(Some(Duration::from_secs(7))).unwrap();
    let std_c: std::net::TcpStream = c.into();
    // Back in blocking mode, and the timeout travelled with the socket.
    assert_eq!(std_c.read_timeout().unwrap(), Some(Duration::from_secs(7)));
    let fd: OwnedFd = s.into();
    let s = TcpStream::from(fd);
    let mut green = TcpStream::from_std(std_c).unwrap();
    green.write_all(b"roundtrip").unwrap();
    let mut b = [0; 9];
    (&s).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"roundtrip");
    let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let l = TcpListener::from(std_l);
    assert!(l.local_addr().is_ok());
}

#[test]
fn a_socket_moved_to_another_thread_still_works() {
    let (c, s) = pair();
    let t = std::thread::spawn(move || {
        // This thread has its own hub; the socket waits through it.
        let mut b = [0; 5];
        (&s).read_exact(&mut b).unwrap();
        (&s).write_all(&b).unwrap();
        b
    });
    (&c).write_all(b"hello").unwrap();
    let mut b = [0; 5];
    (&c).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"hello");
    assert_eq!(&t.join().unwrap(), b"hello");
}

#[test]
fn listener_clone_ttl_incoming_and_nonblocking_accept() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_ttl(40).unwrap();
    assert_eq!(l.ttl().unwrap(), 40);
    let l2 = l.try_clone().unwrap();
    l2.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    l2.set_nonblocking(false).unwrap();
    let addr = l.local_addr().unwrap();
    guv::spawn_n(move || drop(TcpStream::connect(addr).unwrap()));
    let conn = l2.incoming().next().unwrap().unwrap();
    assert_eq!(conn.local_addr().unwrap(), addr);
    assert!(l.take_error().unwrap().is_none());
}

#[test]
fn trampoline_on_a_non_socket_is_a_clear_error() {
    let f = std::fs::File::open("/proc/self/status").unwrap();
    let e = guv::trampoline(&f, guv::Interest::READABLE, Some(Duration::from_millis(10))).unwrap_err();
    assert!(e.to_string().contains("cannot wait on fd"), "{e}");
}
