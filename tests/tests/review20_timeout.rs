//! Review 20: `Timeout` and `with_timeout` at their edges.

use std::time::{Duration, Instant};

use guv_tests::Log;

/// Runs `f` on a fresh thread and fails if it takes longer than `limit`.
fn within(limit: Duration, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(guv_tests::panic_message);
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => panic!("{msg}"),
        Err(_) => panic!("hung"),
    }
}

#[test]
fn with_timeout_in_a_destructor_run_by_a_kill_still_times_out() {
    within(Duration::from_secs(10), || {
        let log = Log::new();
        struct Cleanup(Log);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let start = Instant::now();
                let r = guv::with_timeout(Duration::from_millis(20), || guv::sleep(Duration::from_secs(3600)));
                self.0.push(format!(
                    "cleanup: {:?} after {:?}",
                    r.map_err(|e| e.is_timed_out()),
                    start.elapsed() < Duration::from_secs(5)
                ));
            }
        }
        let l = log.clone();
        let gt = guv::spawn(move || {
            let _c = Cleanup(l);
            guv::sleep(Duration::from_secs(3600));
        });
        guv::gyield();
        gt.kill();
        assert!(gt.wait().unwrap_err().is_killed());
        assert_eq!(log.take(), ["cleanup: Err(true) after true"]);
    });
}

/// A destructor whose cleanup is bounded by `with_timeout`; logs how it
/// ended.
struct Bounded(Log, &'static str);

impl Drop for Bounded {
    fn drop(&mut self) {
        let r = guv::with_timeout(Duration::from_millis(20), || guv::sleep(Duration::from_secs(3600)));
        self.0.push(format!("{}: {}", self.1, if r.is_err_and(|e| e.is_timed_out()) { "timed out" } else { "?" }));
    }
}

#[test]
fn with_timeout_in_a_destructor_run_by_an_outer_timeout_or_a_panic_still_times_out() {
    within(Duration::from_secs(10), || {
        let log = Log::new();
        // Unwinding from an outer timeout.
        let l = log.clone();
        let outer = guv::spawn(move || {
            guv::with_timeout(Duration::from_millis(1), || {
                let _b = Bounded(l, "outer timeout");
                guv::sleep(Duration::from_secs(3600));
            })
        });
        assert!(outer.wait().unwrap().unwrap_err().is_timed_out());
        // Unwinding from a panic, with a kill arriving meanwhile: the kill
        // waits for the unwinding, the cleanup's own timeout does not.
        guv::debug::hub_exceptions(false);
        let l = log.clone();
        let panicking = guv::spawn(move || {
            let _b = Bounded(l, "panic, then a kill");
            panic!("boom");
        });
        guv::gyield(); // it panics and parks in the cleanup
        panicking.kill();
        assert_eq!(panicking.wait().unwrap_err().panic_message(), Some("boom"));
        // The main greenlet unwinding (a failed assertion, say).
        let l = log.clone();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _b = Bounded(l, "main greenlet");
            panic!("main fails");
        }));
        assert!(caught.is_err());
        guv::debug::hub_exceptions(true);
        assert_eq!(
            log.take(),
            ["outer timeout: timed out", "panic, then a kill: timed out", "main greenlet: timed out"]
        );
        // Nothing left pending: later waits of this greenlet run in peace.
        guv::sleep(Duration::from_millis(30));
    });
}

#[test]
fn nested_with_timeouts_in_a_destructor_end_the_outer_one_when_both_expired() {
    within(Duration::from_secs(10), || {
        let log = Log::new();
        struct Twice(Log);
        impl Drop for Twice {
            fn drop(&mut self) {
                let r = guv::with_timeout(Duration::from_millis(5), || {
                    let inner = guv::with_timeout(Duration::from_millis(10), || {
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_millis(15) {
                            std::hint::spin_loop();
                        }
                        guv::sleep(Duration::from_secs(3600));
                    });
                    drop(inner);
                    guv::sleep(Duration::from_secs(3600));
                });
                self.0.push(format!("outer: {:?}", r.map_err(|e| e.is_timed_out())));
            }
        }
        let l = log.clone();
        let gt = guv::spawn(move || {
            let _t = Twice(l);
            guv::sleep(Duration::from_secs(3600));
        });
        guv::gyield();
        gt.kill();
        assert!(gt.wait().unwrap_err().is_killed());
        assert_eq!(log.take(), ["outer: Err(true)"]);
    });
}

/// Busy-waits (no switch) until `d` has passed: timers that expire meanwhile
/// fire only at the loop's next pass, after what was made ready before.
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn a_timeout_firing_after_the_getter_was_handed_an_item_passes_the_item_on() {
    // The getter is served (the item is in its wait entry) and its Timeout
    // expires before it runs again: it ends timed out, and the item goes to
    // the next getter, or back to the head of the queue.
    let q = guv::queue::Queue::new(None);
    let rx = q.clone();
    let timed = guv::spawn(move || guv::with_timeout(Duration::from_millis(2), || rx.get()));
    guv::gyield();
    spin(Duration::from_millis(5));
    q.put("first"); // handed to the waiting getter
    q.put("second");
    assert!(timed.wait().unwrap().unwrap_err().is_timed_out());
    assert_eq!((q.get(), q.get()), ("first", "second"), "the handed item was lost or reordered");
    assert_eq!(q.unfinished_tasks(), 2);

    // With another getter waiting, that one gets it.
    let rx = q.clone();
    let timed = guv::spawn(move || guv::with_timeout(Duration::from_millis(2), || rx.get()));
    let rx = q.clone();
    let next = guv::spawn(move || rx.get());
    guv::gyield();
    spin(Duration::from_millis(5));
    q.put("third");
    assert!(timed.wait().unwrap().unwrap_err().is_timed_out());
    assert_eq!(next.wait().unwrap(), "third");
}

#[test]
fn a_timeout_firing_after_a_permit_or_a_slot_was_handed_over_passes_it_on() {
    let sem = guv::Semaphore::new(0);
    let s = sem.clone();
    let timed = guv::spawn(move || guv::with_timeout(Duration::from_millis(2), || s.acquire()));
    guv::gyield();
    spin(Duration::from_millis(5));
    sem.release(); // handed to the waiter
    assert!(timed.wait().unwrap().unwrap_err().is_timed_out());
    assert_eq!(sem.count(), 1, "the permit handed to the timed-out waiter was lost");

    let pool = guv::GreenPool::new(1);
    let busy = guv::Event::new();
    let b = busy.clone();
    pool.spawn_n(move || b.wait());
    let p = pool.clone();
    let timed = guv::spawn(move || guv::with_timeout(Duration::from_millis(2), || p.spawn(|| "ran")));
    guv::gyield();
    spin(Duration::from_millis(5));
    busy.set();
    guv::gyield(); // the member ends and hands its slot to the spawner
    assert!(timed.wait().unwrap().unwrap_err().is_timed_out());
    assert_eq!((pool.running(), pool.waiting(), pool.free()), (0, 0, 1), "the slot was lost");
}

#[test]
fn a_kill_and_a_timeout_that_land_together_end_the_greenlet_killed() {
    // Both land before the target runs again: the kill wins, so the
    // target's `with_timeout` does not catch it and go on.
    let log = Log::new();
    let l = log.clone();
    let target = guv::spawn(move || {
        let r = guv::with_timeout(Duration::from_millis(30), || guv::sleep(Duration::from_secs(3600)));
        l.push(format!("went on after {r:?}"));
    });
    guv::gyield();
    // The spinner keeps the loop from firing timers until both the main
    // greenlet's sleep (1 ms) and the target's timeout (30 ms) expired;
    // the loop then wakes the main greenlet first.
    guv::spawn_n(|| spin(Duration::from_millis(40)));
    guv::sleep(Duration::from_millis(1));
    target.kill();
    assert!(target.wait().unwrap_err().is_killed());
    assert!(log.take().is_empty(), "the kill was turned into a timeout: {:?}", log.take());
}
