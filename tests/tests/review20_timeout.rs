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
