//! Review 19: remote wakers ("keepers" of the hub's deadlock check) left
//! behind by waits that unwind, and green sockets polled off their home
//! thread.

use std::io::{BufRead, BufReader};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
            std::io::Read::read(&mut guv::green::io::stdin(), &mut [0; 8])
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
