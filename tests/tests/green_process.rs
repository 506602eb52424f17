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
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    // Not a program: std's error, errno included (EACCES: no execute bit,
    // even for root).
    let path = std::env::temp_dir().join(format!("guv-not-a-program-{}", std::process::id()));
    std::fs::write(&path, b"#!/bin/sh\n").unwrap();
    let e = Command::new(&path).spawn().unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!((e.kind(), e.raw_os_error()), (io::ErrorKind::PermissionDenied, Some(libc::EACCES)), "{e}");
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

/// Whether this process runs the tests without pidfds.
fn without_pidfds() -> bool {
    std::env::var_os("GUV_NO_PIDFD").is_some()
}

/// Runs the test `name` again in a child process with `GUV_NO_PIDFD` set
/// and asserts it passed.
fn rerun_without_pidfds(name: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env("GUV_NO_PIDFD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// The fallback for systems without pidfds parks on SIGCHLD: no pool
/// thread waits for the child.
#[test]
fn waiting_without_pidfds_uses_sigchld() {
    if !without_pidfds() {
        return rerun_without_pidfds("waiting_without_pidfds_uses_sigchld");
    }
    let before = guv::tpool::threads();
    wait_while_a_greenlet_feeds_the_child(4);
    assert_eq!(guv::tpool::threads(), before);
}

/// Timed-out waits without pidfds leave no pool thread blocked: after
/// more timed-out waits than the pool has threads, the pool still runs
/// jobs (it used to hang here, each wait leaving a thread in `waitid`).
#[test]
fn timed_out_waits_without_pidfds_leave_the_pool_free() {
    if !without_pidfds() {
        return rerun_without_pidfds("timed_out_waits_without_pidfds_leave_the_pool_free");
    }
    guv::tpool::set_size(2).unwrap();
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    for _ in 0..6 {
        let r = guv::with_timeout(Duration::from_millis(5), || child.wait());
        assert!(r.unwrap_err().is_timed_out());
    }
    let v = guv::with_timeout(Duration::from_secs(30), || guv::tpool::execute(|| 42));
    assert_eq!(v.expect("the pool is blocked by timed-out waits"), 42);
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().code(), None);
}

/// Killed waiters leave nothing behind, and each child's exit wakes its
/// own waiter, even when several exit close together (SIGCHLD signals
/// coalesce).
#[test]
fn many_waiters_without_pidfds() {
    if !without_pidfds() {
        return rerun_without_pidfds("many_waiters_without_pidfds");
    }
    // A waiter killed while parked.
    let sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let sleeper = std::rc::Rc::new(std::cell::RefCell::new(sleeper));
    let s2 = sleeper.clone();
    let doomed = guv::spawn(move || {
        let _ = s2.borrow_mut().wait();
        "unreachable"
    });
    guv::gyield();
    doomed.kill();
    assert!(doomed.wait().unwrap_err().is_killed());
    // Five children, each waited for by its own greenlet, released in
    // reverse order; each waiter reports its own child's code.
    let log = Log::new();
    let mut stdins = Vec::new();
    let mut waiters = Vec::new();
    for i in 0..5 {
        let mut c =
            Command::new("sh").arg("-c").arg(format!("read x; exit {}", 10 + i)).stdin(Stdio::piped()).spawn().unwrap();
        stdins.push(c.stdin.take().unwrap());
        let l = log.clone();
        waiters.push(guv::spawn(move || {
            let code = c.wait().unwrap().code();
            l.push(format!("child {i} exited with {code:?}"));
        }));
    }
    guv::gyield();
    for mut s in stdins.into_iter().rev() {
        s.write_all(b"go\n").unwrap();
    }
    for w in waiters {
        guv::with_timeout(Duration::from_secs(30), || w.wait().unwrap()).expect("a waiter was never woken");
    }
    let mut seen = log.take();
    seen.sort();
    let want: Vec<String> = (0..5).map(|i| format!("child {i} exited with Some({})", 10 + i)).collect();
    assert_eq!(seen, want);
    // The killed waiter's child can still be waited for.
    let mut c = sleeper.borrow_mut();
    assert!(c.try_wait().unwrap().is_none());
    c.kill().unwrap();
    assert_eq!(c.wait().unwrap().code(), None);
}
