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

/// Caps this process's address space at what it maps now plus `extra`
/// bytes (through `prlimit`, as [`libc_rlimit`]).
fn cap_address_space(extra: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    assert_eq!(libc_rlimit(kib * 1024 + extra), 0, "prlimit failed");
}

/// A greenlet killed before it started has its links run by its killer;
/// when the killer is itself killed inside one, the remaining links go to
/// a fresh greenlet. If none can be spawned (no stack can be mapped), they
/// now run on the killer before it dies: `wait` and `join` on the victim
/// end with its `Killed` instead of waiting for ever, and the later links
/// run. The child process makes spawning fail: an empty stack pool (a new
/// default stack size) and an address space capped below one more stack.
#[test]
fn waiters_of_an_unstarted_greenlet_end_even_when_its_links_cannot_go_to_a_fresh_greenlet() {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    if child_role().as_deref() == Some("no-hand-off") {
        let victim = Rc::new(guv::spawn_after(Duration::MAX, || ())); // never starts
        let blocked = guv::Event::new();
        let b = blocked.clone();
        victim.link(move |_| {
            b.set();
            guv::sleep(Duration::MAX); // the killer is killed here
        });
        let later = Rc::new(Cell::new(false));
        let l = later.clone();
        victim.link(move |r| l.set(r.as_ref().is_err_and(guv::Error::is_killed)));
        let v = victim.clone();
        let joiner = guv::spawn(move || v.join()); // joins before the kill
        let v = victim.clone();
        let killer = guv::spawn(move || v.kill());
        blocked.wait(); // the killer runs the first link, which blocks
        guv::hub::set_stack_size(1 << 30).unwrap(); // empties the stack pool
        cap_address_space(256 << 20); // no room for a 1 GiB stack
        assert!(guv::Builder::new().spawn_n(|| ()).is_err(), "spawning must fail now");
        killer.kill();
        let bound = Duration::from_secs(10);
        let joined = joiner.wait_timeout(bound).map(|r| r.is_ok());
        println!("JOINED {joined:?}");
        println!("LATER-LINK-RAN {}", later.get());
        match Rc::try_unwrap(victim) {
            Ok(victim) => match victim.wait_timeout(bound) {
                Ok(r) => println!("WAIT killed={}", r.is_err_and(|e| e.is_killed())),
                Err(_) => println!("WAIT hung"),
            },
            Err(_) => println!("WAIT handle still shared (the joiner hangs)"),
        }
        std::process::exit(0);
    }
    let out = run_child(
        "waiters_of_an_unstarted_greenlet_end_even_when_its_links_cannot_go_to_a_fresh_greenlet",
        "no-hand-off",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for line in ["JOINED Ok(true)", "LATER-LINK-RAN true", "WAIT killed=true"] {
        assert!(stdout.lines().any(|l| l.ends_with(line)), "no {line:?} in stdout:\n{stdout}\nstderr:\n{stderr}");
    }
}

/// A setter of an `Event` or `AsyncResult` killed inside one of its
/// callbacks hands the callbacks it did not get to over to a fresh
/// greenlet. If none can be spawned (no stack can be mapped), they used to
/// be dropped with an error in the log; they now run on the setter before
/// it dies, as a killer runs the links of an unstarted greenlet (above).
/// The child process makes spawning fail as that test does.
#[test]
fn callbacks_a_killed_setter_did_not_reach_run_even_when_no_greenlet_can_take_them() {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    if child_role().as_deref() == Some("no-callback-hand-off") {
        let blocked = guv::Event::new();
        let event = guv::Event::new();
        let result = guv::AsyncResult::<u8, ()>::new();
        let (event_later, result_later) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(None)));
        let b = blocked.clone();
        event.rawlink(move |_| {
            b.set();
            guv::sleep(Duration::MAX); // the setter is killed here
        });
        let l = event_later.clone();
        event.rawlink(move |_| l.set(l.get() + 1));
        let b = blocked.clone();
        result.rawlink(move |_| {
            b.set();
            guv::sleep(Duration::MAX);
        });
        let l = result_later.clone();
        result.rawlink(move |r| l.set(r.get_nowait()));
        let e = event.clone();
        let event_setter = guv::spawn(move || e.set());
        blocked.wait();
        blocked.clear();
        let r = result.clone();
        let result_setter = guv::spawn(move || r.set(7).unwrap());
        blocked.wait();
        guv::hub::set_stack_size(1 << 30).unwrap(); // empties the stack pool
        cap_address_space(256 << 20); // no room for a 1 GiB stack
        assert!(guv::Builder::new().spawn_n(|| ()).is_err(), "spawning must fail now");
        event_setter.kill();
        result_setter.kill();
        println!("EVENT-LATER-RAN {}", event_later.get());
        println!("RESULT-LATER-RAN {:?}", result_later.get());
        let bound = Duration::from_secs(10);
        for (what, setter) in [("EVENT", event_setter), ("RESULT", result_setter)] {
            match setter.wait_timeout(bound) {
                Ok(r) => println!("{what}-SETTER killed={}", r.is_err_and(|e| e.is_killed())),
                Err(_) => println!("{what}-SETTER hung"),
            }
        }
        std::process::exit(0);
    }
    let out = run_child(
        "callbacks_a_killed_setter_did_not_reach_run_even_when_no_greenlet_can_take_them",
        "no-callback-hand-off",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for line in
        ["EVENT-LATER-RAN 1", "RESULT-LATER-RAN Some(Ok(7))", "EVENT-SETTER killed=true", "RESULT-SETTER killed=true"]
    {
        assert!(stdout.lines().any(|l| l.ends_with(line)), "no {line:?} in stdout:\n{stdout}\nstderr:\n{stderr}");
    }
}
