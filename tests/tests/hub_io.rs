//! trampoline, notify_close and the green TCP listener the foundation ships.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use guv::Interest;
use guv_tests::Log;

#[test]
fn trampoline_returns_at_once_when_ready() {
    let (a, mut b) = UnixStream::pair().unwrap();
    b.write_all(b"x").unwrap();
    guv::trampoline(&a, Interest::READABLE, Some(Duration::from_secs(5))).unwrap();
    guv::trampoline(&a, Interest::WRITABLE, None).unwrap();
}

#[test]
fn trampoline_parks_only_the_caller() {
    let (a, b) = UnixStream::pair().unwrap();
    let log = Log::new();
    let l = log.clone();
    let reader = guv::spawn(move || {
        l.push("reader waits");
        guv::trampoline(&a, Interest::READABLE, Some(Duration::from_secs(5))).unwrap();
        l.push("reader woke");
        let mut buf = [0; 5];
        (&a).read_exact(&mut buf).unwrap();
        buf
    });
    let l = log.clone();
    let writer = guv::spawn(move || {
        l.push("writer writes");
        (&b).write_all(b"hello").unwrap();
        b
    });
    let _b = writer.wait().unwrap();
    assert_eq!(&reader.wait().unwrap(), b"hello");
    assert_eq!(log.take(), ["reader waits", "writer writes", "reader woke"]);
}

#[test]
fn several_greenlets_may_wait_on_one_fd() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let a = std::rc::Rc::new(a);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let a = a.clone();
            guv::spawn(move || guv::trampoline(&*a, Interest::READABLE, Some(Duration::from_secs(5))))
        })
        .collect();
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 3);
    b.write_all(b"!").unwrap();
    for w in waiters {
        w.wait().unwrap().unwrap();
    }
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

#[test]
fn trampoline_times_out() {
    let (a, _b) = UnixStream::pair().unwrap();
    let start = Instant::now();
    let err = guv::trampoline(&a, Interest::READABLE, Some(Duration::from_millis(20))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

#[test]
fn trampoline_on_a_regular_file_is_a_clear_error() {
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let err = guv::trampoline(&file, Interest::READABLE, None).unwrap_err();
    assert!(err.to_string().contains("does not support readiness polling"), "{err}");
}

#[test]
fn notify_close_wakes_waiters_with_an_error() {
    let (a, _b) = UnixStream::pair().unwrap();
    let a = std::rc::Rc::new(a);
    let a2 = a.clone();
    let waiter = guv::spawn(move || guv::trampoline(&*a2, Interest::READABLE, Some(Duration::from_secs(5))));
    guv::gyield();
    guv::notify_close(&*a);
    let err = waiter.wait().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConnected);
}

#[test]
fn killing_a_greenlet_waiting_on_io_removes_its_wait() {
    let (a, _b) = UnixStream::pair().unwrap();
    let waiter = guv::spawn(move || guv::trampoline(&a, Interest::READABLE, None));
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 1);
    waiter.kill();
    assert_eq!(guv::hub::stats().io_waiters, 0);
    assert!(waiter.wait().unwrap_err().is_killed());
}

#[test]
fn green_listener_serves_many_clients_concurrently() {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clients = std::thread::spawn(move || {
        let threads: Vec<_> = (0..20)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    let msg = format!("client {i}");
                    s.write_all(msg.as_bytes()).unwrap();
                    s.shutdown(std::net::Shutdown::Write).unwrap();
                    let mut back = String::new();
                    s.read_to_string(&mut back).unwrap();
                    assert_eq!(back, msg.to_uppercase());
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    let mut handlers = Vec::new();
    for _ in 0..20 {
        let (mut conn, _) = listener.accept().unwrap();
        handlers.push(guv::spawn(move || {
            let mut msg = String::new();
            conn.read_to_string(&mut msg).unwrap();
            conn.write_all(msg.to_uppercase().as_bytes()).unwrap();
        }));
    }
    for h in handlers {
        h.wait().unwrap();
    }
    clients.join().unwrap();
}

#[test]
fn listen_reports_the_address_it_could_not_use() {
    let taken = guv::listen("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = guv::listen(addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
