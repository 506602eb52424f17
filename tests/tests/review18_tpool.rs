//! Review 18: `guv::tpool::execute` when its caller is killed.

use std::sync::mpsc;
use std::time::Duration;

/// A greenlet killed while `execute` waits for a job that does not end
/// (PATCHING.md's `tpool::execute(move || rx.recv())` on a channel nothing
/// feeds yet) is gone: the job's remote wake-up must not keep the hub
/// believing it could still be woken from the pool. Before the fix the
/// killed caller left its remote waker in the job's slot, so the main
/// greenlet's wait on an event nothing can set slept for as long as the
/// job ran, instead of reporting "would block forever".
#[test]
fn a_caller_killed_inside_execute_leaves_no_remote_handle_behind() {
    let (report, reported) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let hub_thread = std::thread::spawn(move || {
        let started = guv::Event::new();
        let started_tx = started.clone();
        let g = guv::spawn(move || {
            started_tx.set();
            guv::tpool::execute(move || {
                let _ = release_rx.recv();
            })
        });
        // `g` set the event and went on into `execute`, where it parks.
        started.wait();
        report.send(guv_tests::kill_then_deadlock_report(g)).unwrap();
    });
    let message = reported.recv_timeout(Duration::from_secs(30));
    // Ends the job (and the hub's wait, if it still sleeps).
    drop(release_tx);
    let message = message.expect("the hub slept for ever: the killed execute left a remote handle");
    hub_thread.join().unwrap();
    assert!(message.contains("would block forever"), "{message:?}");
}
