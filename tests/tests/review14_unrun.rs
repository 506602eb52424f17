//! Review 14: green threads whose body is dropped without having run.

use std::sync::atomic::{AtomicUsize, Ordering};

use guv::green::thread;

/// Counts its drops.
struct Note<'a>(&'a AtomicUsize);

impl Drop for Note<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A scoped thread that could not be spawned (its stack cannot be mapped)
/// is an error of `spawn_scoped`, not a panicked thread: the scope ends
/// normally, as std's does, with the closure dropped — from the owner's OS
/// thread and from another one.
#[test]
fn a_scoped_spawn_that_fails_to_map_its_stack_does_not_make_the_scope_panic() {
    for from_other_os_thread in [false, true] {
        let dropped = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(|| {
            thread::scope(|s| {
                let try_spawn = || {
                    let note = Note(&dropped);
                    let r = thread::Builder::new().stack_size(usize::MAX).spawn_scoped(s, move || drop(note));
                    r.unwrap_err().kind()
                };
                if from_other_os_thread {
                    std::thread::scope(|os| os.spawn(try_spawn).join().unwrap());
                } else {
                    try_spawn();
                }
                s.spawn(|| 1).join().unwrap()
            })
        });
        let ok =
            r.unwrap_or_else(|_| panic!("the scope panicked although no scoped thread did ({from_other_os_thread})"));
        assert_eq!(ok, 1);
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "the closure that was never spawned was dropped");
    }
}

/// A green thread dropped unrun (its hub's OS thread ended first) has its
/// closure dropped before a join returns, as a thread that ran has.
#[test]
fn a_join_of_a_thread_dropped_unrun_returns_after_its_closure_is_dropped() {
    use std::sync::{Arc, Mutex};
    /// Takes its time to be dropped, then records it.
    struct SlowDrop(Arc<Mutex<Vec<&'static str>>>);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            // Widens the window in which a join that returned too early
            // would be seen; the assertion is on order only.
            std::thread::sleep(std::time::Duration::from_millis(200));
            self.0.lock().unwrap().push("closure dropped");
        }
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let l = log.clone();
    let spawner = std::thread::spawn(move || {
        let slow = SlowDrop(l);
        tx.send(thread::spawn(move || drop(slow))).unwrap();
        // Ends (and its hub with it) before the green thread ever runs.
    });
    let h = rx.recv().unwrap();
    let joined = h.join();
    log.lock().unwrap().push("joined");
    spawner.join().unwrap();
    assert!(joined.is_err_and(|p| guv::is_interrupt(&*p)));
    assert_eq!(*log.lock().unwrap(), ["closure dropped", "joined"]);
}

/// A scoped thread spawned from another OS thread that ends (with its hub)
/// before it runs joins as killed; unjoined, the scope panics as for a
/// panicked thread (its work was not done), as documented.
#[test]
fn a_scoped_thread_whose_hub_ended_before_it_ran_is_not_silently_lost() {
    let joined = thread::scope(|s| {
        std::thread::scope(|os| os.spawn(|| s.spawn(|| 5)).join().unwrap()).join().map_err(|p| guv::is_interrupt(&*p))
    });
    assert_eq!(joined, Err(true));
    let r = std::panic::catch_unwind(|| {
        thread::scope(|s| {
            std::thread::scope(|os| os.spawn(|| drop(s.spawn(|| 5))).join().unwrap());
        })
    });
    let payload = r.expect_err("the scope noticed the lost thread");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"a scoped thread panicked"));
}
