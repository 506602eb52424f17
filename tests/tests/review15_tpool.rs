//! Review 15: `tpool::execute` when its caller is killed after the job
//! has finished but before the caller took the result.
//!
//! A result whose destructor panics is dropped inside a `catch_unwind` on
//! the worker when the caller is killed while the job still runs (the
//! pool's worker says so). When the job finishes first and the caller is
//! killed before it resumes (its wake-up is queued; the kill lands first),
//! the result is still in the rendezvous slot, whose last owner is then the
//! unwinding caller: the drop panicked during that unwind and the process
//! aborted ("panic in a destructor during cleanup"). The test runs in a
//! child process, whose exit status the parent checks.

use std::process::Command;
use std::sync::mpsc;

const CHILD: &str = "GUV_REVIEW15_TPOOL_CHILD";

/// A value whose destructor panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("a result's destructor panics");
    }
}

fn child_passes(name: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{:?}\n{text}", out.status);
}

#[test]
fn child_a_caller_killed_after_its_job_finished_survives_a_panicking_result_drop() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    guv::debug::hub_exceptions(false);
    // One worker: a second job ends only after the first one's result is
    // stored and its caller's wake-up queued.
    guv::tpool::set_size(1).unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let caller = guv::spawn(move || {
        let bomb = guv::tpool::execute(move || {
            go_rx.recv().unwrap();
            Bomb
        });
        std::mem::forget(bomb);
    });
    guv::gyield(); // the caller parks in execute
    go_tx.send(()).unwrap();
    // A job queued behind the first (from a plain thread, which has a hub
    // of its own): when it has run, the first job's result is in its slot.
    std::thread::spawn(|| guv::tpool::execute(|| ())).join().unwrap();
    // The caller's wake-up is queued on this hub, which has not run since:
    // the kill lands first.
    caller.kill();
    assert!(caller.wait().unwrap_err().is_killed());
    // The hub carries on.
    assert_eq!(guv::spawn(|| 7).wait().unwrap(), 7);
}

#[test]
fn a_caller_killed_after_its_job_finished_survives_a_panicking_result_drop() {
    child_passes("child_a_caller_killed_after_its_job_finished_survives_a_panicking_result_drop");
}
