//! A green `thread::scope` whose owner is killed or timed out kills the
//! threads it is waiting for (the kill cascades, as through a greenlet's
//! drop guards), instead of holding the interrupt until they end on their
//! own; an ordinary panic of the scope's closure still waits for them, as
//! std's does.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use guv::green::thread;

const HOUR: Duration = Duration::from_secs(3600);
const PROMPTLY: Duration = Duration::from_secs(20);

/// Records its name when dropped.
struct Note<'a>(&'a Mutex<Vec<&'static str>>, &'static str);

impl Drop for Note<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1);
    }
}

#[guv::test]
fn killing_the_owner_of_a_scope_kills_its_threads_and_waits_for_their_cleanup() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let started = guv::Event::new();
    let (l, st) = (log.clone(), started.clone());
    let owner = guv::spawn(move || {
        let borrowed = Mutex::new(Vec::new());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| {
                    let _n = Note(&borrowed, "first");
                    guv::sleep(HOUR);
                });
                s.spawn(|| {
                    let _n = Note(&borrowed, "second");
                    guv::sleep(HOUR);
                });
                st.set();
                guv::sleep(HOUR); // the owner's own work, killed here
            })
        }));
        // Both scoped threads ran their destructors before the scope let
        // the kill through: what they borrow is still alive here.
        let mut seen = borrowed.into_inner().unwrap();
        seen.sort();
        l.borrow_mut().extend(seen);
        guv::resume_unwind(r.unwrap_err());
    });
    started.wait();
    owner.kill();
    let owner = owner.wait_timeout(PROMPTLY).unwrap_or_else(|_| panic!("the scope held the kill"));
    assert!(owner.unwrap_err().is_killed());
    assert_eq!(*log.borrow(), ["first", "second"]);
}

#[guv::test]
fn a_kill_that_reaches_the_owner_while_the_scope_waits_kills_the_threads_too() {
    let started = guv::Event::new();
    let st = started.clone();
    let owner = guv::spawn(move || {
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| guv::sleep(HOUR));
            }
            st.set();
            // The closure returns: the scope waits for its threads.
        })
    });
    started.wait();
    guv::gyield(); // the owner is parked in the scope's wait
    owner.kill();
    let owner = owner.wait_timeout(PROMPTLY).unwrap_or_else(|_| panic!("the scope held the kill"));
    assert!(owner.unwrap_err().is_killed());
}

#[guv::test]
fn a_timeout_around_a_scope_cuts_its_threads_short() {
    let work = Mutex::new(0);
    let r = guv::with_timeout(Duration::from_millis(20), || {
        thread::scope(|s| {
            s.spawn(|| {
                *work.lock().unwrap() += 1;
                guv::sleep(HOUR);
                *work.lock().unwrap() += 100;
            });
        })
    });
    assert!(r.unwrap_err().is_timed_out());
    assert_eq!(*work.lock().unwrap(), 1, "the scoped thread was cut short");
}

#[guv::test]
fn a_panic_in_the_scope_closure_still_lets_its_threads_finish() {
    guv::debug::hub_exceptions(false);
    let done = Mutex::new(Vec::new());
    let go = std::sync::Arc::new(guv::green::sync::Barrier::new(2));
    let setter = {
        let go = go.clone();
        guv::spawn(move || {
            go.wait();
        })
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        thread::scope(|s| {
            s.spawn(|| {
                go.wait(); // met by another greenlet after the closure panicked
                done.lock().unwrap().push("finished its work");
            });
            panic!("the closure fails");
        })
    }));
    setter.wait().unwrap();
    assert_eq!(*r.unwrap_err().downcast_ref::<&str>().unwrap(), "the closure fails");
    assert_eq!(*done.lock().unwrap(), ["finished its work"], "as with std, a panic does not cut the threads short");
}

#[guv::test]
fn a_scope_spawning_many_short_threads_keeps_working_and_a_later_kill_reaches_the_live_ones() {
    let n = Mutex::new(0u32);
    let started = guv::Event::new();
    let st = started.clone();
    let owner = guv::spawn(move || {
        thread::scope(|s| {
            for _ in 0..1000 {
                s.spawn(|| *n.lock().unwrap() += 1).join().unwrap();
            }
            assert_eq!(*n.lock().unwrap(), 1000);
            s.spawn(|| guv::sleep(HOUR));
            st.set();
        })
    });
    started.wait();
    owner.kill();
    let owner = owner.wait_timeout(PROMPTLY).unwrap_or_else(|_| panic!("the scope held the kill"));
    assert!(owner.unwrap_err().is_killed());
}

#[guv::test]
fn a_scoped_thread_killed_before_it_started_is_joined_as_killed_and_its_closure_dropped() {
    /// Parks as it is dropped, then records that it was.
    struct SlowDrop<'a>(&'a Mutex<Vec<&'static str>>);
    impl Drop for SlowDrop<'_> {
        fn drop(&mut self) {
            guv::sleep(Duration::from_millis(5));
            self.0.lock().unwrap().push("unrun closure dropped");
        }
    }
    let log = Mutex::new(Vec::new());
    let joined = Mutex::new(None);
    let started = guv::Event::new();
    let st = started.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        guv::with_timeout(Duration::from_millis(20), || {
            thread::scope(|s| {
                s.spawn(|| {
                    // Swallows the scope's kill, then spawns and joins a
                    // thread that the scope kills before it starts.
                    let _ = std::panic::catch_unwind(|| guv::sleep(HOUR));
                    let late = SlowDrop(&log);
                    let h = s.spawn(move || {
                        let _late = late;
                        "ran"
                    });
                    *joined.lock().unwrap() = Some(h.join().map_err(|p| guv::is_interrupt(&*p)));
                });
                st.set();
            })
        })
    }));
    assert!(started.is_set());
    assert!(r.unwrap().unwrap_err().is_timed_out());
    assert_eq!(*joined.lock().unwrap(), Some(Err(true)), "joined as killed, not hung");
    assert_eq!(*log.lock().unwrap(), ["unrun closure dropped"]);
}
