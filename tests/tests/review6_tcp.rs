//! Review 6: green TCP against std::net's semantics (conversions, shutdown,
//! clones, non-blocking mode). Events are ordered with logs and queues;
//! timeouts only guard against hangs.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Duration;

use guv::net::{TcpListener, TcpStream};
use guv_tests::Log;

/// A hang guard: far longer than any step of these tests takes.
const GUARD: Duration = Duration::from_secs(20);

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn std_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

#[test]
fn from_std_keeps_the_timeouts_std_set_on_the_socket() {
    let (c, _s) = std_pair();
    c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(9))).unwrap();
    // What std reads back (the kernel rounds to its clock ticks).
    let (read, write) = (c.read_timeout().unwrap(), c.write_timeout().unwrap());
    assert!(read.is_some_and(|d| d >= Duration::from_millis(30)));
    let green = TcpStream::from_std(c).unwrap();
    assert_eq!(green.read_timeout().unwrap(), read);
    assert_eq!(green.write_timeout().unwrap(), write);
    // And the read honours it, as the std socket would have: the peer never
    // writes, so without the timeout this read would park for good.
    let e = (&green).read(&mut [0; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn from_owned_fd_keeps_the_timeouts_too() {
    let (c, _s) = std_pair();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let green = TcpStream::from(OwnedFd::from(c));
    assert_eq!(green.read_timeout().unwrap(), Some(Duration::from_secs(3)));
}

#[test]
fn from_std_of_a_non_blocking_socket_stays_non_blocking() {
    let (c, mut s) = std_pair();
    c.set_nonblocking(true).unwrap();
    let green = TcpStream::from_std(c).unwrap();
    let log = Log::new();
    let l2 = log.clone();
    // Would hand the reader data if it parked instead of failing at once.
    let writer = guv::spawn(move || {
        l2.push("writer ran");
        s.write_all(b"late").unwrap();
        s
    });
    let r = (&green).read(&mut [0; 4]);
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(log.take().is_empty(), "the read parked: {:?}", log.take());
    let _s = writer.wait().unwrap();
    // The round trip keeps the mode as well.
    let back = green.into_std().unwrap();
    back.set_read_timeout(Some(GUARD)).unwrap();
    let mut b = [0; 4];
    (&back).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"late");
    assert_eq!((&back).read(&mut b).unwrap_err().kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn a_green_round_trip_through_std_keeps_non_blocking_mode() {
    let (c, _s) = pair();
    c.set_nonblocking(true).unwrap();
    let again = TcpStream::from_std(c.into_std().unwrap()).unwrap();
    // Hang guards: with the mode lost, these would park.
    let r = guv::with_timeout(GUARD, || (&again).read(&mut [0; 4])).unwrap();
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    // A listener as well: accept fails at once instead of parking.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let l = TcpListener::from(OwnedFd::from(l));
    let r = guv::with_timeout(GUARD, || l.accept().map(drop)).unwrap();
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn listen_and_bind_give_blocking_listeners() {
    // guv's own constructors make their sockets non-blocking underneath;
    // that must not read as the user's non-blocking mode.
    for l in [guv::listen("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap()] {
        let addr = l.local_addr().unwrap();
        let client = guv::spawn(move || TcpStream::connect(addr).unwrap());
        let (conn, _) = l.accept().unwrap();
        assert_eq!(conn.peer_addr().unwrap(), client.wait().unwrap().local_addr().unwrap());
    }
}

#[test]
fn into_std_leaves_a_live_clone_parking_not_blocking_the_thread() {
    let (a, s) = pair();
    let b = a.try_clone().unwrap();
    let std_a = a.into_std().unwrap();
    let s = s.into_std().unwrap();
    // A hang guard for the bug (a clone whose fd turned blocking stalls the
    // whole thread in recv): another thread writes "guard" if the test has
    // not finished by then, which unblocks the recv and fails the test.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let mut guard_side = s.try_clone().unwrap();
    let guard = std::thread::spawn(move || {
        if finished.recv_timeout(GUARD).is_err() {
            let _ = guard_side.write_all(b"guard");
        }
    });
    let log = Log::new();
    let l2 = log.clone();
    let reader = guv::spawn(move || {
        let mut buf = [0; 5];
        let r = (&b).read_exact(&mut buf).map(|()| buf);
        l2.push("read");
        r
    });
    guv::gyield(); // the reader parks (or, with the bug, blocks the thread)
    log.push("writing");
    (&s).write_all(b"hello").unwrap();
    let got = reader.wait().unwrap().unwrap();
    done.send(()).unwrap();
    guard.join().unwrap();
    assert_eq!(&got, b"hello");
    assert_eq!(log.take(), ["writing", "read"]);
    // The std handle is left non-blocking while green clones share its
    // flags (documented on into_std).
    assert_eq!((&std_a).read(&mut [0; 1]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn into_std_without_clones_gives_a_blocking_socket() {
    let (a, s) = pair();
    let b = a.try_clone().unwrap();
    drop(b);
    let std_a = a.into_std().unwrap();
    std_a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    // Blocking: the read waits out the timeout (EAGAIN is what Linux
    // reports for both, so the time is the only difference).
    let start = std::time::Instant::now();
    assert_eq!((&std_a).read(&mut [0; 1]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(start.elapsed() >= Duration::from_millis(20));
    drop(s);
}

#[test]
fn shutdown_read_wakes_a_parked_reader_with_end_of_file() {
    let (c, _s) = pair();
    let c = Rc::new(c);
    c.set_read_timeout(Some(GUARD)).unwrap();
    let c2 = c.clone();
    let reader = guv::spawn(move || (&*c2).read(&mut [0; 4]));
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 1);
    c.shutdown(Shutdown::Read).unwrap();
    assert_eq!(reader.wait().unwrap().unwrap(), 0);
}

#[test]
fn shutdown_read_after_a_draining_read_gives_end_of_file() {
    let (c, mut s) = pair();
    c.set_read_timeout(Some(GUARD)).unwrap();
    s.write_all(b"ab").unwrap();
    let mut b = [0; 8];
    // Wait for both bytes, then a short read drains the socket.
    assert_eq!(c.peek(&mut b[..2]).unwrap(), 2);
    let mut got = 0;
    while got < 2 {
        got += (&c).read(&mut b[got..]).unwrap();
    }
    c.shutdown(Shutdown::Read).unwrap();
    assert_eq!((&c).read(&mut b).unwrap(), 0);
}

#[test]
fn shutdown_write_wakes_a_parked_writer_with_an_error() {
    let (c, _s) = pair();
    let c = Rc::new(c);
    c.set_write_timeout(Some(GUARD)).unwrap();
    let c2 = c.clone();
    let writer = guv::spawn(move || {
        let chunk = vec![0u8; 1 << 20];
        loop {
            if let Err(e) = (&*c2).write(&chunk) {
                return e;
            }
        }
    });
    // Let it fill the buffers and park.
    while guv::hub::stats().io_waiters == 0 {
        guv::gyield();
    }
    c.shutdown(Shutdown::Write).unwrap();
    let e = writer.wait().unwrap();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e}");
}

#[test]
fn take_error_reports_a_reset_once() {
    let (c, s) = pair();
    // SO_LINGER 0: closing resets the connection.
    let s = s.into_std().unwrap();
    guv_tests::net::reset_on_close(&s);
    drop(s);
    c.set_read_timeout(Some(GUARD)).unwrap();
    let e = (&c).read(&mut [0; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    assert!(c.take_error().unwrap().is_none(), "the read consumed it");
}

#[test]
fn a_clone_with_timeouts_and_set_nonblocking_shared_as_std() {
    let (c, mut s) = pair();
    let d = c.try_clone().unwrap();
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!((&d).read(&mut [0; 1]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    d.set_nonblocking(true).unwrap();
    c.set_read_timeout(Some(GUARD)).unwrap();
    let log = Log::new();
    let l2 = log.clone();
    let w = guv::spawn(move || {
        l2.push("writer ran");
        s.write_all(b"x").unwrap();
        s
    });
    assert_eq!((&c).read(&mut [0; 1]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(log.take().is_empty());
    let _s = w.wait().unwrap();
}

#[test]
fn two_greenlets_reading_one_stream_get_every_byte_once() {
    let (c, mut s) = pair();
    let c = Rc::new(c);
    c.set_read_timeout(Some(GUARD)).unwrap();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let c = c.clone();
            guv::spawn(move || {
                let mut got = Vec::new();
                let mut b = [0; 1];
                loop {
                    match (&*c).read(&mut b).unwrap() {
                        0 => return got,
                        _ => got.push(b[0]),
                    }
                }
            })
        })
        .collect();
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 2);
    for i in 0..200u8 {
        s.write_all(&[i]).unwrap();
        if i % 16 == 0 {
            guv::gyield();
        }
    }
    s.shutdown(Shutdown::Write).unwrap();
    let mut all: Vec<u8> = readers.into_iter().flat_map(|r| r.wait().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..200u8).collect::<Vec<_>>());
}

#[test]
fn incoming_yields_each_connection_in_turn() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let clients = guv::spawn(move || (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect::<Vec<_>>());
    let conns: Vec<TcpStream> = l.incoming().take(3).map(Result::unwrap).collect();
    let clients = clients.wait().unwrap();
    let mut peers: Vec<_> = conns.iter().map(|c| c.peer_addr().unwrap()).collect();
    let mut locals: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    peers.sort();
    locals.sort();
    assert_eq!(peers, locals);
}

/// Makes this thread's hub poll for I/O exactly once: the main greenlet
/// waits on a fresh socket pair that a greenlet then writes to, so the loop
/// finds nothing ready and blocks in the poller until that one event.
fn poll_once() {
    let (x, y) = guv::net::unix::UnixStream::pair().unwrap();
    let writer = guv::spawn(move || (&y).write_all(b"!").map(|()| y));
    (&x).read_exact(&mut [0; 1]).unwrap();
    drop(writer.wait().unwrap().unwrap());
}

#[test]
fn a_short_read_on_another_thread_does_not_make_the_home_thread_skip_data() {
    // Fresh threads, so that both hubs count their polls from zero.
    let (to_home, at_home) = std::sync::mpsc::channel::<TcpStream>();
    let (to_other, at_other) = std::sync::mpsc::channel::<TcpStream>();
    let other = std::thread::spawn(move || {
        let c = at_other.recv().unwrap();
        poll_once();
        // A short read here: it drains the socket, on this thread's hub.
        let mut b = [0; 8];
        assert_eq!((&c).read(&mut b).unwrap(), 2);
        to_home.send(c).unwrap();
    });
    let home = std::thread::spawn(move || {
        let (c, mut s) = std_pair();
        let c = TcpStream::from_std(c).unwrap(); // registered here
        c.set_read_timeout(Some(GUARD)).unwrap();
        s.write_all(b"ab").unwrap();
        to_other.send(c).unwrap();
        let c = at_home.recv().unwrap();
        // New data, whose readiness edge this hub's next poll reports (to
        // nobody): after it, this hub has polled as often as the other.
        s.write_all(b"cd").unwrap();
        poll_once();
        let mut b = [0; 8];
        let n = (&c).read(&mut b).expect("the data that came is there to read");
        b[..n].to_vec()
    });
    other.join().unwrap();
    assert_eq!(home.join().unwrap(), b"cd");
}

#[test]
fn from_owned_fd_of_a_non_socket_still_builds_as_std_does() {
    // std's From<OwnedFd> takes any fd; so does the green one (it has no
    // socket timeouts to carry over).
    let (r, _w) = std::io::pipe().unwrap();
    let s = guv::net::unix::UnixStream::from(OwnedFd::from(r));
    assert_eq!(s.read_timeout().unwrap(), None);
}

#[test]
fn a_read_timeout_bounds_the_whole_read_even_when_its_wake_up_is_stolen() {
    // std's SO_RCVTIMEO bounds one read call as a whole. A green read that
    // first waits for readiness (its last read drained the socket) and is
    // then beaten to the data by another reader must not start its timeout
    // over. Times here are generous: the reader must fail near 1 s, well
    // before the watchdog at 1.5 s (starting over would take it to 1.8 s).
    let (c, s) = pair();
    let c = Rc::new(c);
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    (&s).write_all(b"ab").unwrap();
    let mut b = [0; 8];
    assert_eq!(c.peek(&mut b[..2]).unwrap(), 2);
    assert_eq!((&*c).read(&mut b).unwrap(), 2, "a short read: drained");
    let log = Log::new();
    let (c1, l1) = (c.clone(), log.clone());
    let thief = guv::spawn(move || {
        let n = (&*c1).read(&mut [0; 1]).unwrap();
        l1.push(format!("thief read {n}"));
    });
    let (c2, l2) = (c.clone(), log.clone());
    let reader = guv::spawn(move || {
        let e = (&*c2).read(&mut [0; 1]).unwrap_err();
        l2.push(format!("reader {:?}", e.kind()));
    });
    let l3 = log.clone();
    let watchdog = guv::spawn(move || {
        guv::sleep(Duration::from_millis(1500));
        l3.push("watchdog");
    });
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 2);
    guv::sleep(Duration::from_millis(800));
    (&s).write_all(b"x").unwrap();
    thief.wait().unwrap();
    reader.wait().unwrap();
    watchdog.wait().unwrap();
    assert_eq!(log.take(), ["thief read 1", "reader WouldBlock", "watchdog"]);
}

/// Sets `SO_RCVTIMEO` on a socket the way socket2 or C code would (std's
/// listeners have no setter).
fn set_rcvtimeo(fd: &impl std::os::fd::AsRawFd, d: Duration) {
    let tv = libc::timeval { tv_sec: d.as_secs() as libc::time_t, tv_usec: d.subsec_micros() as libc::suseconds_t };
    guv_tests::net::set_option(fd, libc::SO_RCVTIMEO, &tv);
}

#[test]
fn a_listener_with_a_receive_timeout_accepts_as_std_does() {
    // std on Linux: a blocking accept gives up after SO_RCVTIMEO with
    // WouldBlock, and accepted TCP streams inherit the listener's timeouts.
    let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    set_rcvtimeo(&std_l, Duration::from_millis(30));
    let want = {
        let twin = std_l.try_clone().unwrap();
        let e = twin.accept().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let addr = twin.local_addr().unwrap();
        let _c = std::net::TcpStream::connect(addr).unwrap();
        twin.accept().unwrap().0.read_timeout().unwrap()
    };
    assert!(want.is_some());
    let l = TcpListener::from_std(std_l).unwrap();
    let r = guv::with_timeout(GUARD, || l.accept().map(drop)).expect("accept parked past the listener's timeout");
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let addr = l.local_addr().unwrap();
    let client = guv::spawn(move || TcpStream::connect(addr).unwrap());
    let (conn, _) = l.accept().unwrap();
    assert_eq!(conn.read_timeout().unwrap(), want);
    // ... and the read honours it, as the std stream would.
    let r = guv::with_timeout(GUARD, || (&conn).read(&mut [0; 1])).expect("the read parked past the timeout");
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    drop(client.wait().unwrap());
}

#[test]
fn a_unix_listener_with_a_receive_timeout_accepts_as_std_does() {
    let dir = std::env::temp_dir().join(format!("guv-review6-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rcvtimeo.sock");
    let _ = std::fs::remove_file(&path);
    let std_l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    set_rcvtimeo(&std_l, Duration::from_millis(30));
    let l = guv::net::unix::UnixListener::from_std(std_l).unwrap();
    let r = guv::with_timeout(GUARD, || l.accept().map(drop)).expect("accept parked past the listener's timeout");
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let p = path.clone();
    let client = guv::spawn(move || guv::net::unix::UnixStream::connect(p).unwrap());
    let (conn, _) = l.accept().unwrap();
    // Unix streams do not inherit the listener's timeouts (std's neither).
    assert_eq!(conn.read_timeout().unwrap(), None);
    drop(client.wait().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_http_server_parks_in_accept_on_a_listener_taken_over_in_non_blocking_mode() {
    // Code written for other runtimes makes a std listener non-blocking
    // before handing it over; from_std keeps that mode (as std would), and
    // the server, which owns the listener from then on, must still park in
    // accept rather than fail and back off. The same holds for a listener
    // whose SO_RCVTIMEO makes accept give up now and then.
    use guv::wsgi::http::Response;
    use guv::wsgi::{Body, Server};
    let errors = guv_tests::http::access_log();
    for timeout in [None, Some(Duration::from_millis(20))] {
        let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_l.set_nonblocking(true).unwrap();
        if let Some(t) = timeout {
            std_l.set_nonblocking(false).unwrap();
            set_rcvtimeo(&std_l, t);
        }
        let addr = std_l.local_addr().unwrap();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            let server = Server::new(|_req| Response::new(Body::from("hi")));
            stop_tx.send(server.shutdown_handle()).unwrap();
            server.serve(TcpListener::from_std(std_l).unwrap())
        });
        let stop = stop_rx.recv().unwrap();
        for _ in 0..3 {
            let r = guv_tests::http::roundtrip(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(r.text(), "hi");
        }
        if timeout.is_some() {
            // Let accept time out a few times while nothing comes.
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.shutdown();
        server.join().unwrap().unwrap();
        let lines = errors.lock().unwrap().clone();
        let failed: Vec<_> = lines.iter().filter(|l| l.contains("accept failed")).collect();
        assert!(failed.is_empty(), "with timeout {timeout:?}: {failed:?}");
    }
}
