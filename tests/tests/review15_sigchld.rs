//! Review 15: guv's `SIGCHLD` registration and the child watcher (used
//! where pidfds are not available; `GUV_NO_PIDFD` forces it) installing
//! their handlers at the same time, from two threads.
//!
//! Each reads `SIGCHLD`'s current action, keeps it to chain to, and
//! installs its own; the watcher also creates its pipe and starts its
//! thread in between. Unserialised, the second write could replace the
//! first handler without chaining to it: a `Signals` for `SIGCHLD` made
//! while the watcher was installing then never saw a delivery (or, the
//! other way round, child waits never woke). Each attempt is a child
//! process (the watcher installs once per process) that starts the two
//! installs together, the registration a little later each time, so that
//! some attempt lands in the watcher's window; every attempt must end
//! with both handlers working. (Before the two were serialised, 3 of 60
//! attempts failed on the 2-core machine this was written on; a correct
//! implementation passes at every offset.)

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use guv::signal::{Signal, Signals};

const CHILD: &str = "GUV_REVIEW15_SIGCHLD_CHILD";
const OFFSET: &str = "GUV_REVIEW15_SIGCHLD_OFFSET_US";

#[test]
fn child_a_sigchld_registration_and_the_child_watcher_install_at_once() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let offset: u64 = std::env::var(OFFSET).unwrap().parse().unwrap();
    // guv's signal thread is already running: the registration below is
    // only the install.
    let _warm = Signals::new([Signal::new(libc::SIGRTMIN() + 1).unwrap()]).unwrap();
    // A child that runs until its stdin closes, so that the wait below
    // finds it alive and installs the watcher.
    let mut cat = guv::green::process::Command::new("cat").stdin(std::process::Stdio::piped()).spawn().unwrap();
    let start = Arc::new(Barrier::new(2));
    let s = start.clone();
    let waiter = std::thread::spawn(move || {
        s.wait();
        cat.wait().unwrap()
    });
    start.wait();
    // Scans the race window: each attempt starts the registration later.
    let until = Instant::now() + Duration::from_micros(offset);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
    let chld = Signals::new([Signal::CHLD]).unwrap();
    assert!(waiter.join().unwrap().success());
    // Both handlers are reached: a child wait wakes, and the registration
    // sees the SIGCHLD of that child's exit.
    let _ = chld.try_recv();
    let mut t = guv::green::process::Command::new("cat").stdin(std::process::Stdio::piped()).spawn().unwrap();
    let waited = guv::with_timeout(Duration::from_secs(10), || t.wait());
    assert!(waited.expect("the child watcher still wakes its waiters").unwrap().success());
    assert_eq!(chld.recv_timeout(Duration::from_secs(5)), Some(Signal::CHLD), "guv's handler still runs");
}

#[test]
fn a_sigchld_registration_and_the_child_watcher_install_at_once() {
    let mut failures = Vec::new();
    for offset in (0..120).step_by(2) {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_a_sigchld_registration_and_the_child_watcher_install_at_once"])
            .args(["--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .env("GUV_NO_PIDFD", "1")
            .env(OFFSET, offset.to_string())
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !(out.status.success() && text.contains("1 passed")) {
            failures.push(format!("offset {offset} us: {:?}\n{text}", out.status));
        }
    }
    assert!(failures.is_empty(), "{} attempts failed:\n{}", failures.len(), failures.join("\n"));
}
