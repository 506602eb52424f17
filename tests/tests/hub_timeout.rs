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
fn a_timeout_that_expired_without_a_switch_does_not_leak_into_later_waits() {
    // Busy for longer than the timeout without blocking: never interrupted,
    // and the expiry must not fire at the next, unrelated sleep.
    let r = guv::with_timeout(Duration::from_millis(5), || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        "finished"
    });
    assert_eq!(r.unwrap(), "finished");
    guv::sleep(Duration::from_millis(1));
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
