//! guv tells which greenlet an unwinding belongs to (Rust counts panics
//! per thread): a greenlet parked in a destructor while it unwinds must
//! neither make the others look as if they panicked nor get a second
//! unwind delivered into its cleanup (which would abort the process), also
//! when guv's panic hook was replaced and the panic is not attributed.

use std::process::Command;
use std::rc::Rc;

/// Set in the child process: the probe runs only there, since it
/// replaces the process's panic hook.
const CHILD: &str = "GUV_UNWINDING_CHILD";

/// Parks in its destructor until the event is set.
struct ParkOnDrop(Rc<guv::Event>);

impl Drop for ParkOnDrop {
    fn drop(&mut self) {
        self.0.wait();
    }
}

#[test]
fn child_kill_of_a_greenlet_parked_mid_panic_with_a_foreign_hook() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    guv::gyield(); // the hub (and guv's panic hook) first
    std::panic::set_hook(Box::new(|_| {})); // then a hook that does not chain
    let release = Rc::new(guv::Event::new());
    let victim = {
        let release = release.clone();
        guv::spawn(move || {
            let _d = ParkOnDrop(release);
            panic!("boom");
        })
    };
    guv::gyield(); // it panics and parks in the destructor
    assert!(!victim.is_finished());
    // A kill now must wait for the unwinding to finish: delivered into the
    // destructor it would abort the process.
    victim.kill();
    release.set();
    let err = victim.wait().unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    // The thread goes on: another greenlet runs and can be killed.
    let sleeper = guv::spawn(|| guv::sleep(std::time::Duration::from_secs(3600)));
    guv::gyield();
    sleeper.kill();
    assert!(sleeper.wait().is_err());
}

#[test]
fn a_greenlet_unwinding_under_a_foreign_panic_hook_is_not_interrupted_in_its_cleanup() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_kill_of_a_greenlet_parked_mid_panic_with_a_foreign_hook", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

/// Runs the child test `name` in a process of its own (an abort there
/// fails only the parent's assertion) and asserts it passed.
fn run_child(name: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

/// Says it has begun dropping, then parks until released.
struct SayAndPark {
    dropping: Rc<guv::Event>,
    release: Rc<guv::Event>,
}

impl Drop for SayAndPark {
    fn drop(&mut self) {
        self.dropping.set();
        self.release.wait();
    }
}

/// A greenlet killed and parked in its destructor (so marked as
/// unwinding) until the returned event is set.
fn killed_and_parked_mid_unwind() -> (guv::GreenThread<()>, Rc<guv::Event>) {
    let hold = Rc::new(guv::Event::new());
    let h = hold.clone();
    let b = guv::spawn(move || {
        let _d = ParkOnDrop(h);
        guv::sleep(std::time::Duration::from_secs(3600));
    });
    guv::gyield();
    b.kill();
    assert!(!b.is_finished(), "it parks in its destructor");
    (b, hold)
}

/// A greenlet parked in a destructor while it unwinds from `with`, another
/// one parked mid-unwind from a kill at the same time, and a kill sent to
/// the first: it must wait for the unwinding to end.
fn kill_while_parked_mid_unwind(with: impl FnOnce() + 'static) {
    guv::debug::hub_exceptions(false);
    // B: killed, parks in its destructor: marked as unwinding.
    let (b, hold_b) = killed_and_parked_mid_unwind();
    // A: unwinds from a panic that was caught and re-raised by guv, and
    // parks in a destructor.
    let (hold_a, dropping) = (Rc::new(guv::Event::new()), Rc::new(guv::Event::new()));
    let a = {
        let d = SayAndPark { dropping: dropping.clone(), release: hold_a.clone() };
        guv::spawn(move || {
            let _d = d;
            with();
        })
    };
    dropping.wait(); // a unwinds and parks in its destructor
    // Delivered into a's cleanup, this kill would abort the process.
    a.kill();
    hold_a.set();
    let err = a.wait().unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    hold_b.set();
    assert!(b.wait().unwrap_err().is_killed());
}

#[test]
fn child_a_pool_panic_re_raised_in_a_greenlet_is_its_own_unwinding() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    kill_while_parked_mid_unwind(|| guv::tpool::execute(|| panic!("in the pool")));
}

#[test]
fn a_greenlet_unwinding_from_a_re_raised_pool_panic_is_not_interrupted_in_its_cleanup() {
    run_child("child_a_pool_panic_re_raised_in_a_greenlet_is_its_own_unwinding");
}

#[test]
fn child_a_panic_re_raised_by_a_scope_after_it_waited_is_its_own_unwinding() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    guv::debug::hub_exceptions(false);
    // A: its scope's closure panics while a scoped thread still runs; the
    // scope waits for it (A parks, with no other greenlet unwinding),
    // then re-raises the panic, and A parks in a destructor.
    let in_scope = Rc::new(guv::Event::new());
    let (release_a, dropping) = (Rc::new(guv::Event::new()), Rc::new(guv::Event::new()));
    let scoped_gate = std::sync::Arc::new(guv::green::sync::Barrier::new(2));
    let a = {
        let d = SayAndPark { dropping: dropping.clone(), release: release_a.clone() };
        let (in_scope, gate) = (in_scope.clone(), scoped_gate.clone());
        guv::spawn(move || {
            let _d = d;
            guv::green::thread::scope(|s| {
                s.spawn(|| {
                    gate.wait();
                });
                in_scope.set();
                panic!("in the scope");
            });
        })
    };
    in_scope.wait();
    guv::gyield(); // a's closure has panicked; its scope waits
    assert!(!dropping.is_set());
    // B: killed, parks in its destructor: marked as unwinding.
    let (b, hold_b) = killed_and_parked_mid_unwind();
    // The scoped thread ends: a re-raises its panic and parks in `_d`.
    scoped_gate.wait();
    dropping.wait();
    // Delivered into a's cleanup, this kill would abort the process.
    a.kill();
    release_a.set();
    let err = a.wait().unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    hold_b.set();
    assert!(b.wait().unwrap_err().is_killed());
}

#[test]
fn a_greenlet_unwinding_from_a_panic_its_scope_re_raised_is_not_interrupted_in_its_cleanup() {
    run_child("child_a_panic_re_raised_by_a_scope_after_it_waited_is_its_own_unwinding");
}
