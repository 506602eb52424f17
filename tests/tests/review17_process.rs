//! Review 17: the green `Child::wait_with_output` when its caller is
//! killed after the child's stdout has ended but while its stderr, read by
//! a helper greenlet, is still open (held by a grandchild the child left
//! behind). The caller's unwinding must end that helper too, as it does
//! while stdout is still being read: left alone, the helper waits on the
//! pipe for as long as the grandchild lives, holding a greenlet and an fd.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use guv::green::process::Child;

/// Kills the child's process group (the grandchild included) when dropped.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0)]).status();
    }
}

#[test]
fn a_caller_killed_while_waiting_for_stderr_ends_the_stderr_reader() {
    // The shell closes its stdout, leaves a grandchild holding stderr, and
    // waits for it.
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "exec >&-; sleep 60 & wait"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = Child::from_std(cmd.spawn().unwrap()).unwrap();
    let _group = Group(child.id() as i32);
    let caller = guv::spawn(move || child.wait_with_output().map(|o| o.status));
    // Wait until the caller is past stdout: only the stderr reader waits
    // on a pipe, in two loop turns running (a reader not started yet, with
    // the caller still on stdout, lasts one turn at most).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    while seen < 2 {
        assert!(Instant::now() < deadline, "the child never closed its stdout");
        guv::gyield();
        seen = if guv::hub::stats().io_waiters == 1 && !caller.is_finished() { seen + 1 } else { 0 };
    }
    caller.kill();
    assert!(caller.wait().is_err_and(|e| e.is_killed()));
    // The child is killed and reaped by a reaper greenlet; the stderr
    // reader must end with the caller, though the grandchild still holds
    // the pipe's write end.
    let deadline = Instant::now() + Duration::from_secs(10);
    while guv::hub::stats().live_greenlets > 0 || guv::hub::stats().io_waiters > 0 {
        assert!(
            Instant::now() < deadline,
            "a greenlet is left behind: {} live, {} waiting on I/O",
            guv::hub::stats().live_greenlets,
            guv::hub::stats().io_waiters
        );
        guv::sleep(Duration::from_millis(1));
    }
}
