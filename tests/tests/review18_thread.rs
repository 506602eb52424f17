//! Review 18: green `thread::park` when the parked greenlet is killed.

use std::sync::mpsc;
use std::time::Duration;

/// A greenlet killed in the green `thread::park` is gone, although its
/// `Thread` handle lives on in another OS thread (which could still call
/// `unpark`): the handle must not keep the hub believing the greenlet
/// could be woken from there. Before the fix the killed park left its
/// remote waker in the handle's state, so the main greenlet's wait on an
/// event nothing can set slept for as long as the handle lived, instead
/// of reporting "would block forever".
#[test]
fn a_greenlet_killed_in_park_leaves_no_remote_handle_behind() {
    let (report, reported) = mpsc::channel();
    let (keep_tx, keep_rx) = mpsc::channel::<guv::green::thread::Thread>();
    let hub_thread = std::thread::spawn(move || {
        let g = guv::spawn(move || {
            keep_tx.send(guv::green::thread::current()).unwrap();
            guv::green::thread::park();
        });
        // `g` runs up to its park before this yield returns.
        guv::gyield();
        report.send(guv_tests::kill_then_deadlock_report(g)).unwrap();
    });
    let kept = keep_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let message = reported.recv_timeout(Duration::from_secs(30));
    drop(kept);
    let message = message.expect("the hub slept for ever: the killed park left a remote handle");
    hub_thread.join().unwrap();
    assert!(message.contains("would block forever"), "{message:?}");
}

/// The same for a greenlet killed in a green `JoinHandle::join` on a
/// thread that never ends (it waits on an event nothing sets): before the
/// fix the killed join left its remote waker in the thread's result slot,
/// which the unfinished thread keeps, and the hub slept for ever.
#[test]
fn a_greenlet_killed_in_join_leaves_no_remote_handle_behind() {
    let (report, reported) = mpsc::channel();
    let hub_thread = std::thread::spawn(move || {
        let stuck = guv::green::thread::spawn(|| guv::Event::new().wait());
        let joiner = guv::spawn(move || stuck.join());
        // Both run up to their waits before this yield returns.
        guv::gyield();
        report.send(guv_tests::kill_then_deadlock_report(joiner)).unwrap();
    });
    let message = reported
        .recv_timeout(Duration::from_secs(30))
        .expect("the hub slept for ever: the killed join left a remote handle");
    hub_thread.join().unwrap();
    assert!(message.contains("would block forever"), "{message:?}");
}
