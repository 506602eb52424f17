//! Review 18: `guv::block_on` and the async traits of green sockets.

use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// A greenlet killed while `block_on` parks it is gone: a waker of its
/// future that lives on (held by another thread, as an async library's
/// reactor would) must not keep the hub believing the dead greenlet could
/// still be woken from elsewhere. Before the fix the killed `block_on`
/// left its remote waker — a live remote handle — in the waker's state,
/// so the main greenlet's wait on an event nothing can set slept for ever
/// instead of reporting "would block forever".
#[test]
fn a_greenlet_killed_inside_block_on_leaves_no_remote_handle_behind() {
    let (report, reported) = mpsc::channel();
    let (keep_tx, keep_rx) = mpsc::channel::<Waker>();
    let hub_thread = std::thread::spawn(move || {
        let parked = guv::Event::new();
        let parked_tx = parked.clone();
        let g = guv::spawn(move || {
            guv::block_on(std::future::poll_fn(|cx| {
                // The waker outlives the greenlet on another thread.
                keep_tx.send(cx.waker().clone()).unwrap();
                parked_tx.set();
                Poll::<()>::Pending
            }))
        });
        parked.wait();
        report.send(guv_tests::kill_then_deadlock_report(g)).unwrap();
    });
    let kept = keep_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let message = reported.recv_timeout(Duration::from_secs(30));
    drop(kept);
    let message = message.expect("the hub slept for ever: the killed block_on left a remote handle");
    hub_thread.join().unwrap();
    assert!(message.contains("would block forever"), "{message:?}");
}
