//! guv::event::Event, guv::Event (flag) and guv::AsyncResult through the
//! public API.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use guv::event::Event;
use guv_tests::Log;

#[test]
fn waiter_spawned_before_send_gets_the_value_after_one_sleep0() {
    // The eventlet docs' example.
    let log = Log::new();
    let ev = Event::<&str>::new();
    let (e, l) = (ev.clone(), log.clone());
    guv::spawn_n(move || {
        l.push("about to wait");
        let v = e.wait().unwrap();
        l.push(format!("waited for {v}"));
    });
    guv::sleep(Duration::ZERO);
    assert_eq!(log.take(), ["about to wait"]);
    ev.send("a").unwrap();
    assert_eq!(log.take(), ["about to wait"], "send does not switch");
    guv::sleep(Duration::ZERO);
    assert_eq!(log.take(), ["about to wait", "waited for a"]);
}

#[test]
fn every_waiter_gets_the_value_in_fifo_order() {
    let log = Log::new();
    let ev = Event::<u32>::new();
    let handles: Vec<_> = (0..5)
        .map(|i| {
            let (e, l) = (ev.clone(), log.clone());
            guv::spawn(move || {
                let v = e.wait().unwrap();
                l.push(format!("{i}:{v}"));
            })
        })
        .collect();
    guv::gyield();
    ev.send(9).unwrap();
    for h in handles {
        h.wait().unwrap();
    }
    assert_eq!(log.take(), ["0:9", "1:9", "2:9", "3:9", "4:9"]);
    // Already sent: returns at once, as often as asked.
    assert_eq!(ev.wait(), Ok(9));
    assert_eq!(ev.poll(), Some(Ok(9)));
}

#[test]
fn sending_twice_and_resetting_a_fresh_event_are_errors() {
    let ev = Event::<u8>::new();
    assert_eq!(ev.reset().unwrap_err(), guv::event::NotSent);
    ev.send(1).unwrap();
    let err = ev.send(2).unwrap_err();
    assert_eq!(err.0, 2, "the value comes back");
    assert_eq!(err.to_string(), "Trying to re-send() an already-triggered event (reset() it first)");
    assert_eq!(ev.poll(), Some(Ok(1)), "the first value stays");
    ev.reset().unwrap();
    assert!(!ev.ready());
    ev.send(3).unwrap();
    assert_eq!(ev.wait(), Ok(3));
}

#[test]
fn send_exception_reaches_waiters_as_err() {
    let ev = Event::<u8, String>::new();
    let e = ev.clone();
    let waiter = guv::spawn(move || e.wait());
    guv::gyield();
    ev.send_exception("broken".into()).unwrap();
    assert_eq!(waiter.wait().unwrap(), Err("broken".to_string()));
    assert!(ev.has_exception() && !ev.has_result() && ev.ready());
    assert_eq!(ev.send(1).unwrap_err().0, 1);
}

#[test]
fn waiters_woken_by_send_keep_the_value_across_a_reset() {
    let ev = Event::<u8>::new();
    let e = ev.clone();
    let waiter = guv::spawn(move || e.wait());
    guv::gyield();
    ev.send(1).unwrap();
    ev.reset().unwrap(); // before the waiter ran
    ev.send(2).unwrap();
    assert_eq!(waiter.wait().unwrap(), Ok(1));
}

#[test]
fn killed_and_timed_out_waiters_leave_and_the_others_still_get_it() {
    let log = Log::new();
    let ev = Event::<u8>::new();
    let spawn_waiter = |name: &'static str| {
        let (e, l) = (ev.clone(), log.clone());
        guv::spawn(move || {
            let v = e.wait().unwrap();
            l.push(format!("{name}:{v}"));
        })
    };
    let a = spawn_waiter("a");
    let b = spawn_waiter("b");
    let e = ev.clone();
    let c = guv::spawn(move || guv::with_timeout(Duration::from_millis(1), || e.wait()));
    let d = spawn_waiter("d");
    guv::gyield();
    b.kill();
    assert!(c.wait().unwrap().unwrap_err().is_timed_out());
    ev.send(5).unwrap();
    a.wait().unwrap();
    d.wait().unwrap();
    assert!(b.wait().unwrap_err().is_killed());
    assert_eq!(log.take(), ["a:5", "d:5"]);
}

#[test]
fn wait_timeout_returns_none_then_the_value() {
    let ev = Event::<u8>::new();
    assert_eq!(ev.wait_timeout(Duration::from_millis(2)), None);
    let e = ev.clone();
    guv::spawn_after(Duration::from_millis(2), move || e.send(4).unwrap());
    assert_eq!(ev.wait_timeout(Duration::from_secs(30)), Some(Ok(4)));
}

#[test]
fn never_is_the_default_error() {
    let ev: Event<u8> = Event::new();
    ev.send(1).unwrap();
    let r: Result<u8, guv::Never> = ev.wait();
    let Ok(v) = r;
    assert_eq!(v, 1);
}

// ----- the flag ------------------------------------------------------------

#[test]
fn flag_set_wakes_all_waiters_in_order_and_clear_blocks_new_ones() {
    let log = Log::new();
    let ev = guv::Event::new();
    let spawn_waiter = |i: u32| {
        let (e, l) = (ev.clone(), log.clone());
        guv::spawn(move || {
            e.wait();
            l.push(format!("w{i}"));
        })
    };
    let first: Vec<_> = (0..3).map(spawn_waiter).collect();
    guv::gyield();
    ev.set();
    assert!(ev.is_set());
    for h in first {
        h.wait().unwrap();
    }
    assert_eq!(log.take(), ["w0", "w1", "w2"]);
    ev.clear();
    assert!(!ev.is_set());
    let late = spawn_waiter(3);
    guv::gyield();
    guv::gyield();
    assert_eq!(log.take().len(), 3, "a cleared flag blocks");
    ev.set();
    late.wait().unwrap();
    assert_eq!(log.take(), ["w0", "w1", "w2", "w3"]);
}

#[test]
fn flag_waiter_returns_if_set_then_cleared_before_it_runs() {
    let ev = guv::Event::new();
    let e = ev.clone();
    let waiter = guv::spawn(move || e.wait_timeout(Duration::from_secs(30)));
    guv::gyield();
    ev.set();
    ev.clear();
    assert!(waiter.wait().unwrap());
}

#[test]
fn flag_wait_timeout_and_timeout_interrupts() {
    let ev = guv::Event::new();
    assert!(!ev.wait_timeout(Duration::from_millis(2)));
    let e = ev.clone();
    let r = guv::with_timeout(Duration::from_millis(2), move || e.wait());
    assert!(r.unwrap_err().is_timed_out());
    ev.set();
    assert!(ev.wait_timeout(Duration::from_millis(2)));
}

#[test]
fn flag_rawlinks_run_in_order_on_each_set_and_survive_a_panicking_one() {
    guv::debug::hub_exceptions(false);
    let log = Log::new();
    let ev = guv::Event::new();
    let l = log.clone();
    ev.rawlink(move |e| l.push(format!("first set={}", e.is_set())));
    let boom = ev.rawlink(|_| panic!("link panics"));
    let l = log.clone();
    let third = ev.rawlink(move |_| l.push("third"));
    // Set from a greenlet, whose panic reports hub_exceptions(false) mutes.
    let e = ev.clone();
    guv::spawn(move || e.set()).wait().unwrap();
    assert_eq!(log.take(), ["first set=true", "third"]);
    assert!(ev.unlink(boom));
    assert!(ev.unlink(third));
    ev.clear();
    ev.set();
    assert_eq!(log.take(), ["first set=true", "third", "first set=true"]);
    // A link added while set runs at once.
    let l = log.clone();
    ev.rawlink(move |_| l.push("late"));
    assert_eq!(log.take().last().unwrap(), "late");
}

// ----- AsyncResult ---------------------------------------------------------

#[test]
fn async_result_get_variants() {
    let r = guv::AsyncResult::<u32, String>::new();
    assert_eq!(r.get_nowait(), None);
    assert_eq!(r.get_timeout(Duration::from_millis(1)), None);
    assert!(!r.ready() && !r.successful());
    let r2 = r.clone();
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let r = r.clone();
            guv::spawn(move || r.get())
        })
        .collect();
    guv::gyield();
    r2.set(8).unwrap();
    for g in getters {
        assert_eq!(g.wait().unwrap(), Ok(8));
    }
    assert!(r.ready() && r.successful());
    assert_eq!(r.exception(), None);
    assert_eq!(r.set(9).unwrap_err().0, 9);
    assert_eq!(r.set_exception("x".into()).unwrap_err().0, "x");
    assert!(r.wait_timeout(Duration::ZERO));
}

#[test]
fn async_result_exception_and_links_run_once() {
    let r = guv::AsyncResult::<u32, &str>::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    r.rawlink(move |r| {
        assert_eq!(r.exception(), Some("bad"));
        c.set(c.get() + 1);
    });
    let dropped = r.rawlink(|_| unreachable!());
    assert!(r.unlink(dropped));
    r.set_exception("bad").unwrap();
    assert_eq!(calls.get(), 1);
    assert_eq!(r.get(), Err("bad"));
    assert!(!r.successful());
    // Linking after the fact runs at once.
    let c = calls.clone();
    r.rawlink(move |_| c.set(c.get() + 10));
    assert_eq!(calls.get(), 11);
}

#[test]
fn async_result_as_link_target_of_greenthreads() {
    guv::debug::hub_exceptions(false);
    let ok = guv::AsyncResult::<u32, guv::Error>::new();
    guv::spawn(|| 5).link(ok.link_target());
    assert_eq!(ok.get().unwrap(), 5);

    let panicked = guv::AsyncResult::<u32, guv::Error>::new();
    let gt = guv::spawn(|| -> u32 { panic!("boom") });
    gt.link(panicked.link_target());
    let err = panicked.get().unwrap_err();
    assert_eq!(err.panic_message(), Some("boom"));
    assert_eq!(gt.wait().unwrap_err().panic_message(), Some("boom"));
}

#[test]
fn async_result_getter_killed_while_waiting_leaves_the_list() {
    let r = guv::AsyncResult::<u32, ()>::new();
    let (r1, r2) = (r.clone(), r.clone());
    let a = guv::spawn(move || r1.get());
    let b = guv::spawn(move || r2.get());
    guv::gyield();
    a.kill();
    r.set(1).unwrap();
    assert!(a.wait().unwrap_err().is_killed());
    assert_eq!(b.wait().unwrap(), Ok(1));
}
