//! Review 19: remote wakers ("keepers" of the hub's deadlock check) left
//! behind by waits that unwind, and green sockets polled off their home
//! thread.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use futures_lite::AsyncReadExt;

/// A greenlet killed while it waits for input on the green stdin is gone:
/// its remote waker must not stay in the stdin thread's list of waiters,
/// where it kept the hub's deadlock check quiet until input arrived. Before
/// the fix the main greenlet's wait on an event nothing can set slept for
/// as long as stdin stayed open and silent, instead of reporting "would
/// block forever".
#[test]
fn a_stdin_read_killed_while_waiting_leaves_no_remote_handle_behind() {
    const TEST: &str = "a_stdin_read_killed_while_waiting_leaves_no_remote_handle_behind";
    if guv_tests::child_role().is_some_and(|r| r == TEST) {
        let started = guv::Event::new();
        let started_tx = started.clone();
        let g = guv::spawn(move || {
            started_tx.set();
            guv::green::io::stdin().read(&mut [0; 8])
        });
        // `g` set the event and went on into the read, where it parks.
        started.wait();
        let message = guv_tests::kill_then_deadlock_report(g);
        println!("RESULT {}", message.replace('\n', " "));
        return;
    }
    // The child's stdin stays open and silent; it reports within 30 s or
    // the test fails ("no line RESULT" and what it printed).
    let mut child = guv_tests::ChildLines::spawn_with_idle_stdin(TEST, TEST);
    let message = child.next("RESULT ");
    assert!(child.success(), "the child failed after reporting {message:?}");
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
    let message = abandon_an_async_read_off_home(Helper::NotRunYet, DropOn::PollingThread);
    assert!(message.contains("would block forever"), "{message:?}");
}

/// Whether the read's helper greenlet gets to park before the drop.
#[derive(Clone, Copy, PartialEq)]
enum Helper {
    NotRunYet,
    Parked,
}

/// Where the socket is dropped.
#[derive(Clone, Copy, PartialEq)]
enum DropOn {
    PollingThread,
    ThirdThread,
}

/// Polls a green socket made on another thread as `AsyncRead` on a hub
/// thread of its own, abandons the read (with its helper greenlet parked
/// there or not yet run, per `helper`) and drops the socket (`drop_on`).
/// The peer must read end-of-file, and the helper must be gone: the
/// polling hub's wait on an event nothing can set then reports "would
/// block forever" (a helper still parked on the fd, an I/O waiter, kept
/// the deadlock check quiet). Returns that report.
fn abandon_an_async_read_off_home(helper: Helper, drop_on: DropOn) -> String {
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
        if helper == Helper::Parked {
            // Lets the helper run: it parks, waiting for the fd to be readable.
            guv::gyield();
            assert_eq!(guv::hub::stats().io_waiters, 1, "the helper waits for readiness");
        }
        if drop_on == DropOn::ThirdThread {
            std::thread::spawn(move || drop(stream)).join().unwrap();
        } else {
            drop(stream);
        }
        let got = guv::tpool::execute(move || {
            peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            peer.read(&mut [0; 8]).map_err(|e| e.kind())
        });
        assert_eq!(got, Ok(0), "the peer must see end-of-file once the socket is dropped");
        report.send(guv_tests::deadlock_report()).unwrap();
    });
    match reported.recv_timeout(Duration::from_secs(20)) {
        Ok(message) => {
            hub_thread.join().unwrap();
            message
        }
        // The hub thread failed an assertion: its panic says which.
        Err(mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(hub_thread.join().unwrap_err()),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the polling hub slept for ever: the dropped socket's helper still waits there")
        }
    }
}

/// Dropped on the thread that polled it: that hub's entry for the fd goes
/// with the socket, and the helper parked on it ends.
#[test]
fn an_abandoned_async_read_dropped_where_it_was_polled_leaves_no_helper_behind() {
    let message = abandon_an_async_read_off_home(Helper::Parked, DropOn::PollingThread);
    assert!(message.contains("would block forever"), "{message:?}");
}

/// Dropped on a third thread (neither its home nor the one that polled
/// it): the socket tells the polling hub, which ends the helper. Before
/// the fix the helper stayed parked on the closed fd until its number was
/// reused there.
#[test]
fn an_abandoned_async_read_dropped_on_a_third_thread_leaves_no_helper_behind() {
    let message = abandon_an_async_read_off_home(Helper::Parked, DropOn::ThirdThread);
    assert!(message.contains("would block forever"), "{message:?}");
}
