//! Timeout and with_timeout.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use guv_tests::Log;

#[test]
fn with_timeout_interrupts_a_blocked_call() {
    let start = Instant::now();
    let r = guv::with_timeout(Duration::from_millis(20), || guv::sleep(Duration::from_secs(3600)));
    let err = r.unwrap_err();
    assert!(err.is_timed_out());
    assert_eq!(err.to_string(), "greenlet timed out");
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn with_timeout_returns_the_value_in_time_and_disarms() {
    assert_eq!(guv::with_timeout(Duration::from_millis(50), || 9).unwrap(), 9);
    // The disarmed timer must not hit a later wait.
    guv::sleep(Duration::from_millis(80));
}

#[test]
fn a_timeout_expiring_while_unwinding_does_not_leak_into_later_waits() {
    // The greenlet panics; while it unwinds, a destructor blocks and the
    // Timeout expires. A greenlet already unwinding keeps the interrupt
    // pending (a second unwind would abort), and dropping the guard must
    // then discard it: the link that runs after the body must sleep in
    // peace.
    struct SlowDrop;
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            guv::sleep(Duration::from_millis(30));
        }
    }
    guv::debug::hub_exceptions(false);
    let gt = guv::spawn(|| {
        let _t = guv::Timeout::start(Duration::from_millis(5));
        let _slow = SlowDrop;
        panic!("unwind with a slow destructor");
    });
    let link_finished = Rc::new(Cell::new(false));
    let l = link_finished.clone();
    gt.link(move |_| {
        guv::sleep(Duration::from_millis(1));
        l.set(true);
    });
    assert!(gt.wait().unwrap_err().is_panic());
    assert!(link_finished.get(), "a stale Timeout interrupted a later wait");
    guv::debug::hub_exceptions(true);
}

#[test]
fn an_outer_timeout_expiring_with_an_inner_one_still_ends_the_outer_scope() {
    // Both deadlines pass while the greenlet is busy (no switch), so both
    // timers fire in the same loop pass: the outer one must win.
    let r = guv::with_timeout(Duration::from_millis(10), || {
        let inner = guv::with_timeout(Duration::from_millis(20), || {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(30) {
                std::hint::spin_loop();
            }
            guv::sleep(Duration::from_secs(3600));
        });
        // Not reached: the outer timeout unwinds through the inner scope.
        let _ = inner;
        guv::sleep(Duration::from_millis(200));
        "outer deadline lost"
    });
    assert!(r.unwrap_err().is_timed_out());
}

#[test]
fn nested_timeouts_each_catch_their_own() {
    // The inner one is shorter: the inner with_timeout reports it.
    let outer = guv::with_timeout(Duration::from_secs(10), || {
        guv::with_timeout(Duration::from_millis(10), || guv::sleep(Duration::from_secs(3600)))
            .unwrap_err()
            .is_timed_out()
    });
    assert!(outer.unwrap());
    // The outer one is shorter: it passes through the inner with_timeout.
    let outer = guv::with_timeout(Duration::from_millis(10), || {
        let _ = guv::with_timeout(Duration::from_secs(10), || guv::sleep(Duration::from_secs(3600)));
        "inner returned"
    });
    assert!(outer.unwrap_err().is_timed_out());
}

#[test]
fn an_uncaught_timeout_ends_the_greenlet_with_timed_out_running_destructors() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let gt = guv::spawn(move || {
        let _f = Flag(d);
        let _t = guv::Timeout::start(Duration::from_millis(10));
        guv::sleep(Duration::from_secs(3600));
    });
    assert!(gt.wait().unwrap_err().is_timed_out());
    assert!(dropped.get());
}

#[test]
fn dropping_or_cancelling_the_guard_disarms_it() {
    let t = guv::Timeout::start(Duration::from_millis(10));
    assert!(t.is_pending());
    drop(t);
    guv::sleep(Duration::from_millis(30));
    let t = guv::Timeout::start(Duration::from_millis(10));
    t.cancel();
    guv::sleep(Duration::from_millis(30));
}

#[test]
fn duration_max_never_expires() {
    assert_eq!(guv::with_timeout(Duration::MAX, || 1).unwrap(), 1);
    let t = guv::Timeout::start(Duration::MAX);
    assert!(!t.is_pending());
    guv::sleep(Duration::from_millis(1));
}

#[test]
fn a_timeout_in_one_greenlet_does_not_touch_another() {
    let log = Log::new();
    let l = log.clone();
    let other = guv::spawn(move || {
        guv::sleep(Duration::from_millis(40));
        l.push("other finished");
    });
    let r = guv::with_timeout(Duration::from_millis(10), || guv::sleep(Duration::from_secs(3600)));
    assert!(r.unwrap_err().is_timed_out());
    other.wait().unwrap();
    assert_eq!(log.take(), ["other finished"]);
}

#[test]
fn a_waiter_interrupted_by_a_timeout_can_wait_again() {
    let slow = guv::spawn(|| {
        guv::sleep(Duration::from_millis(30));
        7
    });
    let slow = Rc::new(slow);
    let s = slow.clone();
    // The first wait is interrupted; the greenlet waited for keeps running.
    let first = guv::with_timeout(Duration::from_millis(5), move || {
        while !s.is_finished() {
            guv::sleep(Duration::from_millis(1));
        }
    });
    assert!(first.unwrap_err().is_timed_out());
    assert!(!slow.is_finished());
    let slow = Rc::try_unwrap(slow).expect("the closure released its handle");
    assert_eq!(slow.wait().unwrap(), 7);
}
