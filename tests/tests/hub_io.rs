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

#[test]
fn a_green_socket_dropped_on_another_thread_leaves_no_stale_registration() {
    use std::os::fd::AsRawFd;
    // The fd number must come back to a new socket, which other tests
    // running in parallel in this process could take: run alone in a child.
    if std::env::var("GUV_TEST_CHILD").as_deref() != Ok("foreign-drop") {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_green_socket_dropped_on_another_thread_leaves_no_stale_registration",
                "--exact",
                "--test-threads=1",
            ])
            .env("GUV_TEST_CHILD", "foreign-drop")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "{stdout}");
        return;
    }
    // Registered with this thread's hub, dropped on another thread.
    let listener = guv::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let old_fd = listener.as_raw_fd();
    std::thread::spawn(move || drop(listener)).join().unwrap();
    // The fd number comes back as one end of a socket pair (lowest free fd).
    let (a, b) = UnixStream::pair().unwrap();
    let (reader, writer) = if a.as_raw_fd() == old_fd { (a, b) } else { (b, a) };
    assert_eq!(reader.as_raw_fd(), old_fd, "the fd number was not reused");
    // The writer runs once the main greenlet waits.
    let w = guv::spawn(move || (&writer).write_all(b"x").map(|()| writer));
    guv::trampoline(&reader, Interest::READABLE, Some(Duration::from_secs(5))).unwrap();
    w.wait().unwrap().unwrap();
}
