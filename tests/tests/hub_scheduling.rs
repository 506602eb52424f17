//! The order in which the hub runs greenlets: spawn order, gyield
//! round-robin, spawn_after deadlines, sleeps, and the loop's snapshot rule.

use std::time::{Duration, Instant};

use guv_tests::Log;

#[test]
fn spawned_greenlets_start_in_spawn_order() {
    let log = Log::new();
    let handles: Vec<_> = (0..5)
        .map(|i| {
            let log = log.clone();
            guv::spawn(move || log.push(format!("g{i}")))
        })
        .collect();
    log.push("main before yield");
    guv::gyield();
    for h in handles {
        h.wait().unwrap();
    }
    assert_eq!(log.take(), ["main before yield", "g0", "g1", "g2", "g3", "g4"]);
}

#[test]
fn gyield_round_robins_between_main_and_a_greenlet() {
    let log = Log::new();
    let l = log.clone();
    let t = guv::spawn(move || {
        for i in 1..=3 {
            l.push(format!("t:{i}"));
            guv::gyield();
        }
    });
    // Let the spawned greenlet start first.
    guv::gyield();
    for i in 1..=3 {
        log.push(format!("m:{i}"));
        guv::gyield();
    }
    t.wait().unwrap();
    assert_eq!(log.take(), ["t:1", "m:1", "t:2", "m:2", "t:3", "m:3"]);
}

#[test]
fn gyield_alone_returns_at_once() {
    for _ in 0..1000 {
        guv::gyield();
    }
}

#[test]
fn what_becomes_ready_during_an_iteration_waits_for_the_next() {
    // a and b are ready together. a spawns c while running: c must not run
    // before b (it was queued after the snapshot a and b belong to).
    let log = Log::new();
    let (la, lb) = (log.clone(), log.clone());
    let a = guv::spawn(move || {
        la.push("a");
        let lc = la.clone();
        guv::spawn_n(move || lc.push("c"));
        guv::gyield();
        la.push("a again");
    });
    let b = guv::spawn(move || lb.push("b"));
    a.wait().unwrap();
    b.wait().unwrap();
    assert_eq!(log.take(), ["a", "b", "c", "a again"]);
}

/// Runs `attempt` until it reports a conclusive run (`Some`), up to 50
/// times. A deadline is taken when the call that sets it is made, so the
/// tests below, whose delays are 10 ms apart, prove nothing about ordering
/// in a run where this thread was preempted for 10 ms between two of those
/// calls; such a run is detected (the calls spanned 10 ms or more) and
/// repeated instead of failing by luck.
fn conclusive<T>(mut attempt: impl FnMut() -> Option<T>) -> T {
    for _ in 0..50 {
        if let Some(outcome) = attempt() {
            return outcome;
        }
    }
    panic!("this thread was preempted for 10 ms or more in each of 50 attempts");
}

/// The gaps between the delays the ordering tests use.
const GAP: Duration = Duration::from_millis(10);

#[test]
fn spawn_after_greenlets_start_in_deadline_order() {
    let order = conclusive(|| {
        let log = Log::new();
        let mut handles = Vec::new();
        let start = Instant::now();
        // Spawned out of order; ties keep spawn order.
        for (name, ms) in [("30ms", 30), ("10ms", 10), ("20ms", 20), ("10ms-second", 10)] {
            let log = log.clone();
            handles.push(guv::spawn_after(Duration::from_millis(ms), move || log.push(name)));
        }
        let spawning = start.elapsed();
        for h in handles {
            h.wait().unwrap();
        }
        (spawning < GAP).then(|| log.take())
    });
    assert_eq!(order, ["10ms", "10ms-second", "20ms", "30ms"]);
}

#[test]
fn spawn_after_does_not_start_early() {
    let start = Instant::now();
    let gt = guv::spawn_after(Duration::from_millis(30), move || start.elapsed());
    assert!(gt.wait().unwrap() >= Duration::from_millis(30));
}

#[test]
fn sleeping_greenlets_wake_in_deadline_order_and_not_early() {
    let order = conclusive(|| {
        let log = Log::new();
        let began = std::rc::Rc::new(std::cell::Cell::new(None));
        let handles: Vec<_> = [40u64, 10, 30, 20]
            .into_iter()
            .map(|ms| {
                let (log, began) = (log.clone(), began.clone());
                guv::spawn(move || {
                    let start = Instant::now();
                    began.set(began.get().or(Some(start)));
                    guv::sleep(Duration::from_millis(ms));
                    assert!(start.elapsed() >= Duration::from_millis(ms), "woke early");
                    log.push(format!("{ms}"));
                })
            })
            .collect();
        // Runs in the same iteration, once all four have gone to sleep.
        let settled = guv::spawn(Instant::now);
        let settled = settled.wait().unwrap();
        for h in handles {
            h.wait().unwrap();
        }
        (settled - began.get().unwrap() < GAP).then(|| log.take())
    });
    assert_eq!(order, ["10", "20", "30", "40"]);
}

#[test]
fn sleeps_overlap_instead_of_adding_up() {
    // All 50 greenlets start in one loop iteration and go to sleep before
    // the loop looks at a timer again: had a sleep blocked the thread, each
    // would wake before the next one went to sleep.
    let log = Log::new();
    let start = Instant::now();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let log = log.clone();
            guv::spawn(move || {
                log.push(format!("asleep {i}"));
                guv::sleep(Duration::from_millis(100));
                log.push(format!("woke {i}"));
            })
        })
        .collect();
    for h in handles {
        h.wait().unwrap();
    }
    let events = log.take();
    assert_eq!(events.len(), 100);
    assert!(events[..50].iter().all(|e| e.starts_with("asleep")), "{events:?}");
    // And less than the sum of the sleeps (5 s) passed.
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[test]
fn sleep_zero_is_a_yield() {
    let log = Log::new();
    let l = log.clone();
    guv::spawn_n(move || l.push("other"));
    guv::sleep(Duration::ZERO);
    log.push("main");
    assert_eq!(log.take(), ["other", "main"]);
}

#[test]
fn sub_millisecond_sleeps_are_honoured() {
    // With timers rounded to milliseconds every 200 µs sleep would take at
    // least 1 ms. On a busy machine a sleep may take longer anyway (the
    // thread waits for a CPU after its timer fired), so take 50 samples and
    // more until one shows the resolution, for up to 10 s; none may be short.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut fastest = Duration::MAX;
    let mut samples = 0;
    while samples < 50 || (fastest >= Duration::from_micros(900) && Instant::now() < deadline) {
        let start = Instant::now();
        guv::sleep(Duration::from_micros(200));
        let took = start.elapsed();
        assert!(took >= Duration::from_micros(200), "woke early: {took:?}");
        fastest = fastest.min(took);
        samples += 1;
    }
    assert!(fastest < Duration::from_micros(900), "timer resolution is too coarse: {fastest:?} in {samples} sleeps");
}

#[test]
fn each_thread_has_its_own_hub() {
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let handles: Vec<_> = (0..10).map(|j| guv::spawn(move || i * 100 + j)).collect();
                let ids: Vec<u64> = handles.iter().map(|h| h.id()).collect();
                let sum: i32 = handles.into_iter().map(|h| h.wait().unwrap()).sum();
                (sum, ids)
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let (sum, ids) = t.join().unwrap();
        assert_eq!(sum, (0..10).map(|j| i as i32 * 100 + j).sum::<i32>());
        // Ids are per hub: every thread numbers its greenlets from 1.
        assert_eq!(ids, (1..=10).collect::<Vec<u64>>());
    }
}

#[test]
fn many_greenlets_run_to_completion() {
    let n = 20_000;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            guv::spawn(move || {
                guv::gyield();
                i
            })
        })
        .collect();
    let sum: u64 = handles.into_iter().map(|h| h.wait().unwrap()).sum();
    assert_eq!(sum, (0..n).sum::<u64>());
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}

/// The hub reuses the nodes of ended greenlets that nothing refers to any
/// more; a greenlet with a live handle keeps its own, and what an ended
/// greenlet left behind is dropped when it ends, not when its node is reused.
#[test]
fn ended_greenlets_keep_their_handles_and_drop_their_results_on_time() {
    struct Flag(std::rc::Rc<std::cell::Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let kept = guv::spawn(|| 7);
    let id = kept.id();
    let dropped = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = Flag(dropped.clone());
    let unheld = guv::spawn(move || flag);
    drop(unheld);
    guv::gyield(); // both run and end
    assert!(dropped.get(), "the unheld greenlet's result outlived its end");
    let log = Log::new();
    for i in 0..300 {
        let log = log.clone();
        guv::spawn_n(move || log.push(format!("n{i}")));
    }
    let others: Vec<_> = (0..300).map(|i| guv::spawn(move || i)).collect();
    guv::gyield();
    assert_eq!(log.take().len(), 300);
    let ids: std::collections::HashSet<u64> = others.iter().map(|gt| gt.id()).collect();
    assert_eq!(ids.len(), 300);
    assert!(!ids.contains(&id));
    assert!(kept.is_finished());
    assert_eq!(kept.id(), id);
    assert_eq!(kept.wait().unwrap(), 7);
    for (i, gt) in others.into_iter().enumerate() {
        assert_eq!(gt.wait().unwrap(), i);
    }
}
