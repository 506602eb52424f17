//! guv::green::process: waits and pipes park only the calling greenlet.

use std::io::{self, Read, Write};
use std::time::Duration;

use guv::green::process::{Command, Stdio};
use guv_tests::Log;

/// Waits for a child that exits with `code` only after a greenlet writes
/// to it: if the wait blocked the thread, it would never finish. Asserts
/// that the writer ran before the wait returned; gives the child back.
fn wait_while_a_greenlet_feeds_the_child(code: i32) -> guv::green::process::Child {
    let script = format!("read line; exit {code}");
    let mut child = Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let log = Log::new();
    let l2 = log.clone();
    guv::spawn_n(move || {
        l2.push("writer ran");
        stdin.write_all(b"go\n").unwrap();
    });
    let status = child.wait().unwrap();
    log.push("child exited");
    assert_eq!(status.code(), Some(code));
    assert_eq!(log.take(), ["writer ran", "child exited"]);
    child
}

#[test]
fn waiting_for_a_child_lets_other_greenlets_run() {
    let mut child = wait_while_a_greenlet_feeds_the_child(7);
    assert_eq!(child.try_wait().unwrap().unwrap().code(), Some(7));
}

#[test]
fn large_stdout_and_stderr_do_not_deadlock() {
    let script = "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2";
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert_eq!(out.stdout.len(), 300_000);
    assert_eq!(out.stderr.len(), 200_000);
    assert!(out.status.success());
}

#[test]
fn killing_a_waiting_greenlet_and_then_the_child() {
    let child = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = child.id();
    let child = std::rc::Rc::new(std::cell::RefCell::new(Some(child)));
    let c2 = child.clone();
    let waiter = guv::spawn(move || {
        let mut c = c2.borrow_mut().take().unwrap();
        let r = c.wait();
        drop(r);
        "unreachable"
    });
    guv::gyield();
    waiter.kill();
    assert!(waiter.wait().unwrap_err().is_killed());
    assert_eq!(guv::hub::stats().io_waiters, 0);
    // The Child was dropped with the killed greenlet (std semantics: the
    // process keeps running); kill it by pid to clean up.
    let st = Command::new("kill").arg("-9").arg(pid.to_string()).status().unwrap();
    assert!(st.success());
}

#[test]
fn timeouts_bound_a_wait() {
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let r = guv::with_timeout(Duration::from_millis(20), || child.wait());
    assert!(r.unwrap_err().is_timed_out());
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().code(), None);
}

#[test]
fn pipes_chain_between_children() {
    let mut first = Command::new("echo").arg("chained").stdout(Stdio::piped()).spawn().unwrap();
    let out = first.stdout.take().unwrap();
    let second = Command::new("tr").arg("a-z").arg("A-Z").stdin(out).output().unwrap();
    assert_eq!(second.stdout, b"CHAINED\n");
    assert!(first.wait().unwrap().success());
}

#[test]
fn a_program_that_does_not_exist_is_a_clear_error() {
    let e = Command::new("/nonexistent/guv-no-such-program").output().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(e.to_string().contains("guv-no-such-program"), "{e}");
    // Not a program: an error naming it (the kind depends on privileges).
    let e = Command::new("/etc/hostname").spawn().unwrap_err();
    assert!(e.to_string().contains("/etc/hostname"), "{e}");
}

#[test]
fn reading_output_parks_while_the_child_works() {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read x; echo \"got $x\"")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let reader = guv::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 1);
    (&stdin).write_all(b"data\n").unwrap();
    drop(stdin);
    assert_eq!(reader.wait().unwrap(), "got data\n");
    assert!(child.wait().unwrap().success());
}

/// The thread-pool fallback for systems without pidfds, in a child
/// process with `GUV_NO_PIDFD` set.
#[test]
fn waiting_without_pidfds_uses_the_pool() {
    if std::env::var_os("GUV_NO_PIDFD").is_some() {
        wait_while_a_greenlet_feeds_the_child(4);
        assert!(guv::tpool::threads() >= 1);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "waiting_without_pidfds_uses_the_pool", "--test-threads=1"])
        .env("GUV_NO_PIDFD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}
