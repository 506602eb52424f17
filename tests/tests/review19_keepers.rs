//! Review 19: remote wakers ("keepers" of the hub's deadlock check) left
//! behind by waits that unwind, and green sockets polled off their home
//! thread.

use std::io::{BufRead, BufReader, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures_lite::AsyncReadExt;

const CHILD: &str = "GUV_REVIEW19_CHILD";

/// The message of a caught panic.
fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// Runs `test` again in a child process whose stdin is a pipe that stays
/// open (and empty), and returns the text after the child's `RESULT `
/// marker. A child that prints nothing for 20 s is killed and fails the
/// test.
fn run_child_on_an_idle_stdin(test: &str) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(CHILD, test)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            // The harness's "test <name> ... " has no newline: the child's
            // line follows it.
            if let Some(i) = line.find("RESULT ") {
                let _ = tx.send(line[i + "RESULT ".len()..].to_owned());
            }
        }
    });
    let result = rx.recv_timeout(Duration::from_secs(20));
    if result.is_err() {
        let _ = child.kill();
    }
    // Ends the child's stdin thread (it reads end-of-file).
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let result = result.expect("the child's hub slept for ever: a killed stdin read left a remote handle");
    assert!(status.success(), "the child failed: {status:?}, {result:?}");
    result
}

/// A greenlet killed while it waits for input on the green stdin is gone:
/// its remote waker must not stay in the stdin thread's list of waiters,
/// where it kept the hub's deadlock check quiet until input arrived. Before
/// the fix the main greenlet's wait on an event nothing can set slept for
/// as long as stdin stayed open and silent, instead of reporting "would
/// block forever".
#[test]
fn a_stdin_read_killed_while_waiting_leaves_no_remote_handle_behind() {
    const TEST: &str = "a_stdin_read_killed_while_waiting_leaves_no_remote_handle_behind";
    if std::env::var_os(CHILD).is_some_and(|v| v == TEST) {
        let started = guv::Event::new();
        let started_tx = started.clone();
        let g = guv::spawn(move || {
            started_tx.set();
            guv::green::io::stdin().read(&mut [0; 8])
        });
        // `g` set the event and went on into the read, where it parks.
        started.wait();
        g.kill();
        assert!(matches!(g.wait(), Err(guv::Error::Killed)));
        let never = guv::Event::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| never.wait()));
        let message = outcome.map_or_else(panic_message, |()| "the wait returned".to_owned());
        println!("RESULT {}", message.replace('\n', " "));
        return;
    }
    let message = run_child_on_an_idle_stdin(TEST);
    assert!(message.contains("would block forever"), "{message:?}");
}

/// A green socket polled as `AsyncRead` off the thread that created it,
/// then abandoned (the read future dropped while pending) and dropped,
/// closes its connection: the peer reads end-of-file. Before the fix the
/// helper greenlet that waited for readiness held a duplicate of the fd,
/// so the connection stayed open (and the helper parked) until the peer
/// sent something.
#[test]
fn an_abandoned_async_read_off_the_home_thread_does_not_keep_the_connection_open() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Made on a thread of its own (its home hub), used on this one.
    let stream = std::thread::spawn(move || guv::net::TcpStream::connect(addr).unwrap()).join().unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let mut stream = stream;
    let mut buf = [0; 8];
    let polled = guv::block_on(futures_lite::future::poll_once(AsyncReadExt::read(&mut stream, &mut buf)));
    assert!(polled.is_none(), "nothing was sent, the read is pending");
    drop(stream);
    // The peer's read runs on a pool thread; this hub keeps running its
    // greenlets meanwhile (the helper, if it still waits, among them).
    let got = guv::tpool::execute(move || {
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        peer.read(&mut [0; 8]).map_err(|e| e.kind())
    });
    assert_eq!(got, Ok(0), "the peer must see end-of-file once the socket is dropped");
}

/// Polls a green socket made on another thread as `AsyncRead` on a hub
/// thread of its own, lets the read's helper greenlet park there, abandons
/// the read and drops the socket (on a third thread if `elsewhere`, else
/// on the polling thread). The peer must read end-of-file, and the helper
/// must be gone: the polling hub's wait on an event nothing can set then
/// reports "would block forever" (a helper still parked on the fd, an I/O
/// waiter, kept the deadlock check quiet). Returns that report.
fn abandon_a_parked_async_read_off_home(elsewhere: bool) -> String {
    let (report, reported) = mpsc::channel();
    let hub_thread = std::thread::spawn(move || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = std::thread::spawn(move || guv::net::TcpStream::connect(addr).unwrap()).join().unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let mut stream = stream;
        let mut buf = [0; 8];
        let polled = guv::block_on(futures_lite::future::poll_once(AsyncReadExt::read(&mut stream, &mut buf)));
        assert!(polled.is_none(), "nothing was sent, the read is pending");
        // Lets the helper run: it parks, waiting for the fd to be readable.
        guv::gyield();
        assert_eq!(guv::hub::stats().io_waiters, 1, "the helper waits for readiness");
        if elsewhere {
            std::thread::spawn(move || drop(stream)).join().unwrap();
        } else {
            drop(stream);
        }
        let got = guv::tpool::execute(move || {
            peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            peer.read(&mut [0; 8]).map_err(|e| e.kind())
        });
        assert_eq!(got, Ok(0), "the peer must see end-of-file once the socket is dropped");
        let never = guv::Event::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| never.wait()));
        report.send(outcome.map_or_else(panic_message, |()| "the wait returned".to_owned())).unwrap();
    });
    let message = reported
        .recv_timeout(Duration::from_secs(20))
        .expect("the polling hub slept for ever: the dropped socket's helper still waits there");
    hub_thread.join().unwrap();
    message
}

/// Dropped on the thread that polled it: that hub's entry for the fd goes
/// with the socket, and the helper parked on it ends.
#[test]
fn an_abandoned_async_read_dropped_where_it_was_polled_leaves_no_helper_behind() {
    let message = abandon_a_parked_async_read_off_home(false);
    assert!(message.contains("would block forever"), "{message:?}");
}

/// Dropped on a third thread (neither its home nor the one that polled
/// it): the socket tells the polling hub, which ends the helper. Before
/// the fix the helper stayed parked on the closed fd until its number was
/// reused there.
#[test]
fn an_abandoned_async_read_dropped_on_a_third_thread_leaves_no_helper_behind() {
    let message = abandon_a_parked_async_read_off_home(true);
    assert!(message.contains("would block forever"), "{message:?}");
}
