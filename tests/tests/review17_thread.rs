//! Review 17: std's deprecated `thread::sleep_ms` and
//! `thread::park_timeout_ms`, which `#[guv::patched]` rewrites to
//! `guv::green::thread` (with the `time` and `thread` groups), blocked the
//! whole thread there: the green module did not shadow them, so its glob
//! of `std::thread` handed back std's. The other greenlets must run while
//! they wait, as with `sleep` and `park_timeout`.
#![allow(deprecated)]

use guv_tests::Log;

/// Runs `nap` on the main greenlet while another greenlet is ready: a
/// green nap lets it run first.
fn order_around(nap: impl FnOnce()) -> Vec<String> {
    let log = Log::new();
    let other = log.clone();
    let gt = guv::spawn(move || other.push("other greenlet"));
    nap();
    log.push("after the nap");
    gt.wait().unwrap();
    log.take()
}

#[test]
fn green_sleep_ms_parks_the_greenlet() {
    assert_eq!(order_around(|| guv::green::thread::sleep_ms(5)), ["other greenlet", "after the nap"]);
}

#[test]
fn green_park_timeout_ms_parks_the_greenlet() {
    assert_eq!(order_around(|| guv::green::thread::park_timeout_ms(5)), ["other greenlet", "after the nap"]);
}

#[guv::patched]
fn patched_naps() -> [Vec<String>; 2] {
    [order_around(|| std::thread::sleep_ms(5)), order_around(|| std::thread::park_timeout_ms(5))]
}

#[test]
fn patched_sleep_ms_and_park_timeout_ms_park_the_greenlet() {
    let expected = ["other greenlet", "after the nap"];
    assert_eq!(patched_naps(), [expected, expected]);
}
