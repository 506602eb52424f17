//! guv::local! and guv::local::Local through the public API.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use guv_tests::Log;

/// Logs `"drop <name> seen by <WHO>"` when dropped, where WHO is the
/// dropping greenlet's own `WHO` value: it shows on whose stack the drop ran.
struct Noisy {
    name: &'static str,
    log: Log,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        let who = WHO.with_borrow(|w| w.clone());
        self.log.push(format!("drop {} seen by {who}", self.name));
    }
}

guv::local! {
    static WHO: RefCell<String> = RefCell::new("nobody".to_string());
    static NOISY: RefCell<Option<Noisy>> = RefCell::new(None);
    static COUNT: Cell<u32> = Cell::new(0);
}

#[test]
fn each_greenlet_has_its_own_value() {
    COUNT.set(100);
    let gts: Vec<_> = (0..3)
        .map(|i| {
            guv::spawn(move || {
                for _ in 0..=i {
                    COUNT.set(COUNT.get() + 1);
                    guv::gyield();
                }
                COUNT.get()
            })
        })
        .collect();
    let got: Vec<u32> = guv::joinall(gts).into_iter().map(Result::unwrap).collect();
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(COUNT.get(), 100, "main's value is its own");
    assert_eq!(COUNT.replace(0), 100);
}

#[test]
fn values_are_dropped_on_the_greenlets_own_stack_before_its_waiter_resumes() {
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        WHO.with_borrow_mut(|w| *w = "worker".into()); // created first, dropped last
        NOISY.with_borrow_mut(|n| *n = Some(Noisy { name: "a", log: l.clone() }));
        l.push("body done");
    });
    gt.wait().unwrap();
    assert_eq!(log.take(), ["body done", "drop a seen by worker"]);
}

#[test]
fn killed_greenlets_drop_their_values_too() {
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        WHO.with_borrow_mut(|w| *w = "victim".into());
        NOISY.with_borrow_mut(|n| *n = Some(Noisy { name: "k", log: l.clone() }));
        guv::sleep(Duration::from_secs(60));
    });
    guv::gyield();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(log.take(), ["drop k seen by victim"]);
}

#[test]
fn a_panicking_destructor_does_not_stop_the_others_or_the_hub() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("bomb");
        }
    }
    guv::local! {
        static BOMB: RefCell<Option<Bomb>> = RefCell::new(None);
    }
    guv::debug::hub_exceptions(false);
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        NOISY.with_borrow_mut(|n| *n = Some(Noisy { name: "survivor", log: l.clone() }));
        BOMB.with_borrow_mut(|b| *b = Some(Bomb)); // dropped first (newest)
        7
    });
    assert_eq!(gt.wait().unwrap(), 7);
    assert_eq!(log.take(), ["drop survivor seen by nobody"]);
    // The hub still runs.
    assert_eq!(guv::spawn(|| 1).wait().unwrap(), 1);
}

#[test]
fn main_greenlet_values_are_dropped_at_thread_exit() {
    let (tx, rx) = std::sync::mpsc::channel();
    struct Tell(std::sync::mpsc::Sender<&'static str>);
    impl Drop for Tell {
        fn drop(&mut self) {
            let _ = self.0.send("dropped");
        }
    }
    guv::local! {
        static TELL: RefCell<Option<Tell>> = RefCell::new(None);
    }
    std::thread::spawn(move || {
        TELL.with_borrow_mut(|t| *t = Some(Tell(tx)));
        guv::gyield(); // make sure the hub exists
    })
    .join()
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("dropped"));
}

#[test]
fn local_new_in_a_plain_static() {
    static NAME: guv::local::Local<String> = guv::local::Local::new(|| "init".to_string());
    NAME.with(|n| assert_eq!(n, "init"));
    let other = guv::spawn(|| NAME.with(|n| n.len())).wait().unwrap();
    assert_eq!(other, 4);
}
