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
