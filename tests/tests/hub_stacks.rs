//! Greenlet stacks: overflow is reported, running out of mappings is a clear
//! error, and pooled stacks are reused. The fatal cases run in a child
//! process (this test binary re-executed with `GUV_TEST_CHILD` set).

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use guv_tests::{child_role, run_child};

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let pad = std::hint::black_box([depth; 64]);
    if depth == u64::MAX { pad[0] } else { recurse(depth + 1) + pad[1] }
}

#[test]
fn stack_overflow_names_the_greenlet_and_aborts() {
    if child_role().as_deref() == Some("overflow") {
        let gt = guv::Builder::new().name("deep").stack_size(64 * 1024).spawn(|| recurse(0)).unwrap();
        let _ = gt.wait();
        unreachable!("the overflow must abort the process");
    }
    let out = run_child("stack_overflow_names_the_greenlet_and_aborts", "overflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc_sigabrt()), "status {:?}, stderr:\n{stderr}", out.status);
    assert!(stderr.contains("greenlet 'deep' (#1) has overflowed its stack of 65536 bytes"), "stderr:\n{stderr}");
    assert!(stderr.contains("fatal runtime error: stack overflow"), "stderr:\n{stderr}");
}

#[test]
fn main_thread_overflow_is_still_reported_by_std() {
    if child_role().as_deref() == Some("native") {
        // The hub exists (its handler is installed) but the overflow happens
        // on a plain thread's own stack: std's report must still appear.
        guv::gyield();
        let t = std::thread::Builder::new().name("plain".into()).stack_size(128 * 1024).spawn(|| {
            guv::gyield();
            recurse(0)
        });
        let _ = t.unwrap().join();
        unreachable!();
    }
    let out = run_child("main_thread_overflow_is_still_reported_by_std", "native");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("thread 'plain'") && stderr.contains("overflowed its stack"), "stderr:\n{stderr}");
}

#[test]
fn running_out_of_stack_mappings_is_a_clear_error() {
    if child_role().as_deref() == Some("exhaust") {
        // Cap the address space so that stacks stop fitting quickly; the
        // kernel then fails mmap with ENOMEM, the same errno the mapping
        // limit (vm.max_map_count) produces.
        let limit = 1 << 30;
        let rl = libc_rlimit(limit);
        assert_eq!(rl, 0, "setrlimit failed");
        let mut held = Vec::new();
        loop {
            match guv::Builder::new().stack_size(8 << 20).spawn(|| guv::sleep(std::time::Duration::MAX)) {
                Ok(gt) => held.push(gt),
                Err(e) => {
                    println!("SPAWN-ERROR kind={:?} after={} msg={e}", e.kind(), held.len());
                    break;
                }
            }
        }
        // Plain spawn panics with the same message once even the default
        // stack size no longer fits.
        loop {
            match std::panic::catch_unwind(|| guv::spawn(|| guv::sleep(std::time::Duration::MAX))) {
                Ok(gt) => held.push(gt),
                Err(payload) => {
                    println!("SPAWN-PANIC {}", payload.downcast_ref::<String>().unwrap());
                    break;
                }
            }
        }
        std::process::exit(0);
    }
    let out = run_child("running_out_of_stack_mappings_is_a_clear_error", "exhaust");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    let err_line = stdout.lines().find(|l| l.contains("SPAWN-ERROR")).expect("no spawn error");
    assert!(err_line.contains("kind=OutOfMemory"), "{err_line}");
    assert!(err_line.contains("vm.max_map_count"), "{err_line}");
    assert!(err_line.contains("sysctl -w vm.max_map_count="), "{err_line}");
    let panic_line = stdout.lines().find(|l| l.contains("SPAWN-PANIC")).expect("no spawn panic");
    assert!(panic_line.contains("vm.max_map_count"), "{panic_line}");
}

#[test]
fn finished_greenlets_give_their_stacks_back_to_the_pool() {
    let handles: Vec<_> = (0..300).map(|_| guv::spawn(guv::gyield)).collect();
    for h in handles {
        h.wait().unwrap();
    }
    // Up to the pool's high-water mark (256) idle stacks are kept...
    let pooled = guv::hub::stats().pooled_stacks;
    assert!((200..=256).contains(&pooled), "pooled {pooled}");
    // ...and reused: spawning again does not grow the pool.
    let again: Vec<_> = (0..100).map(|_| guv::spawn(|| ())).collect();
    assert!(guv::hub::stats().pooled_stacks <= pooled - 100 + 1);
    for h in again {
        h.wait().unwrap();
    }
    assert_eq!(guv::hub::stats().pooled_stacks, pooled);
}

fn libc_sigabrt() -> i32 {
    6
}

/// Sets RLIMIT_AS through `prlimit` on ourselves, without unsafe code in the
/// tests: the shell tool does the system call.
fn libc_rlimit(bytes: u64) -> i32 {
    let pid = std::process::id().to_string();
    let status = Command::new("prlimit").args(["--pid", &pid, &format!("--as={bytes}:{bytes}")]).status();
    match status {
        Ok(s) if s.success() => 0,
        _ => -1,
    }
}
