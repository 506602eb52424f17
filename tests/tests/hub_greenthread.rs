//! GreenThread: wait, kill, cancel, link/unlink, panics and their reports.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use guv_tests::Log;

/// Sets a flag when dropped: proves that an unwinding stack ran destructors.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn wait_returns_the_value() {
    let gt = guv::spawn(|| String::from("done"));
    assert_eq!(gt.wait().unwrap(), "done");
}

#[test]
fn a_panic_ends_only_its_greenlet() {
    guv::debug::hub_exceptions(false);
    let bad = guv::spawn(|| -> u32 { panic!("boom {}", 7) });
    let good = guv::spawn(|| 1);
    let err = bad.wait().unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("boom 7"));
    assert_eq!(err.to_string(), "greenlet panicked: boom 7");
    assert_eq!(good.wait().unwrap(), 1);
    // The hub keeps working afterwards.
    guv::sleep(Duration::from_millis(1));
    guv::debug::hub_exceptions(true);
}

#[test]
fn a_panic_payload_can_be_resumed() {
    guv::debug::hub_exceptions(false);
    let err = guv::spawn(|| std::panic::panic_any(42u8)).wait().unwrap_err();
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<u8>(), Some(&42));
    guv::debug::hub_exceptions(true);
}

#[test]
fn spawn_n_panics_do_not_stop_the_hub() {
    guv::debug::hub_exceptions(false);
    let log = Log::new();
    guv::spawn_n(|| panic!("spawn_n panic"));
    let l = log.clone();
    guv::spawn_n(move || l.push("after"));
    guv::gyield();
    guv::gyield();
    assert_eq!(log.take(), ["after"]);
    guv::debug::hub_exceptions(true);
}

#[test]
fn kill_unwinds_a_blocked_greenlet_running_its_destructors() {
    let dropped = Rc::new(Cell::new(false));
    let reached_end = Rc::new(Cell::new(false));
    let (d, r) = (dropped.clone(), reached_end.clone());
    let gt = guv::spawn(move || {
        let _flag = DropFlag(d);
        guv::sleep(Duration::from_secs(3600));
        r.set(true);
    });
    guv::gyield(); // it starts and blocks in sleep
    assert!(!gt.is_finished());
    gt.kill();
    // kill yields until the target has unwound.
    assert!(gt.is_finished());
    assert!(dropped.get());
    assert!(!reached_end.get());
    assert!(gt.wait().unwrap_err().is_killed());
}

#[test]
fn kill_before_start_means_it_never_runs() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let gt = guv::spawn(move || r.set(true));
    guv::kill(&gt);
    guv::gyield();
    assert!(!ran.get());
    let err = gt.wait().unwrap_err();
    assert!(err.is_killed());
    assert_eq!(err.to_string(), "greenlet was killed");
}

#[test]
fn kill_of_a_finished_greenlet_does_nothing() {
    let gt = guv::spawn(|| 5);
    guv::gyield();
    assert!(gt.is_finished());
    gt.kill();
    assert_eq!(gt.wait().unwrap(), 5);
}

#[test]
fn killing_itself_unwinds_at_once() {
    let after = Rc::new(Cell::new(false));
    let a = after.clone();
    let me: Rc<RefCell<Option<guv::GreenThread<()>>>> = Rc::new(RefCell::new(None));
    let m = me.clone();
    let gt = guv::spawn(move || {
        let handle = m.borrow_mut().take().unwrap();
        handle.kill();
        a.set(true);
    });
    // Give the greenlet its own handle before it starts.
    let probe = guv::spawn(|| ());
    *me.borrow_mut() = Some(gt);
    probe.wait().unwrap();
    assert!(!after.get());
}

#[test]
fn a_killed_greenlet_that_was_ready_unwinds_before_running_on() {
    // The target is woken (ready) but has not run yet when it is killed.
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        guv::gyield();
        l.push("resumed");
    });
    guv::gyield(); // it runs to its gyield and is ready again
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert!(log.take().is_empty());
}

#[test]
fn cancel_only_stops_greenlets_that_have_not_started() {
    let later = guv::spawn_after(Duration::from_secs(3600), || ());
    assert!(later.cancel());
    assert!(!later.cancel());
    assert!(later.wait().unwrap_err().is_killed());

    let started = guv::spawn(|| guv::sleep(Duration::from_millis(20)));
    guv::gyield();
    assert!(!started.cancel());
    started.wait().unwrap();
}

#[test]
fn wait_on_a_greenlet_killed_before_start_returns_killed() {
    let gt = guv::spawn_after(Duration::from_millis(10), || 1);
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
}

#[test]
fn links_run_in_order_when_the_greenlet_ends() {
    let log = Log::new();
    let gt = guv::spawn(|| 3);
    for name in ["first", "second", "third"] {
        let log = log.clone();
        gt.link(move |r| log.push(format!("{name}:{}", r.as_ref().unwrap())));
    }
    let removed = {
        let log = log.clone();
        gt.link(move |_| log.push("unlinked"))
    };
    assert!(gt.unlink(removed));
    assert!(!gt.unlink(removed));
    gt.wait().unwrap();
    assert_eq!(log.take(), ["first:3", "second:3", "third:3"]);
}

#[test]
fn link_after_the_end_runs_at_once() {
    let gt = guv::spawn(|| "x");
    guv::gyield();
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    gt.link(move |r| *s.borrow_mut() = Some(*r.as_ref().unwrap()));
    assert_eq!(*seen.borrow(), Some("x"));
}

#[test]
fn links_see_errors_too() {
    let gt = guv::spawn(|| guv::sleep(Duration::from_secs(3600)));
    let killed = Rc::new(Cell::new(false));
    let k = killed.clone();
    gt.link(move |r| k.set(r.as_ref().unwrap_err().is_killed()));
    guv::gyield();
    gt.kill();
    assert!(killed.get());
}

#[test]
fn a_link_may_spawn_and_kill() {
    let log = Log::new();
    let victim = guv::spawn(|| guv::sleep(Duration::from_secs(3600)));
    guv::gyield();
    let victim = Rc::new(victim);
    let gt = guv::spawn(|| ());
    let (l, v) = (log.clone(), victim.clone());
    gt.link(move |_| {
        let l2 = l.clone();
        guv::spawn_n(move || l2.push("spawned from link"));
        v.kill();
        l.push("link done");
    });
    gt.wait().unwrap();
    guv::gyield();
    assert!(victim.is_finished());
    // `kill` yields, so the greenlet spawned just before it runs first.
    assert_eq!(log.take(), ["spawned from link", "link done"]);
}

#[test]
fn a_panicking_link_does_not_stop_the_others() {
    guv::debug::hub_exceptions(false);
    let log = Log::new();
    let gt = guv::spawn(|| ());
    gt.link(|_| panic!("bad link"));
    let l = log.clone();
    gt.link(move |_| l.push("second link"));
    gt.wait().unwrap();
    assert_eq!(log.take(), ["second link"]);
    guv::debug::hub_exceptions(true);
}

#[test]
fn a_killed_link_target_before_start_runs_links_on_the_killer() {
    let log = Log::new();
    let gt = guv::spawn(|| ());
    let l = log.clone();
    gt.link(move |r| l.push(format!("killed={}", r.as_ref().unwrap_err().is_killed())));
    gt.kill();
    assert_eq!(log.take(), ["killed=true"]);
}

#[test]
fn dropping_the_handle_detaches() {
    // The detached greenlet parks (in a sleep) and still runs to its end;
    // the main greenlet waits for that end itself, not for a time.
    let done = guv::Event::new();
    let d = done.clone();
    drop(guv::spawn(move || {
        guv::sleep(Duration::from_millis(5));
        d.set();
    }));
    assert!(done.wait_timeout(Duration::from_secs(30)), "the detached greenlet did not finish");
}

#[test]
fn a_detached_result_is_dropped_when_the_greenlet_ends() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    drop(guv::spawn(move || DropFlag(d)));
    guv::gyield();
    assert!(dropped.get());
}

#[test]
fn builder_names_and_sizes() {
    let gt = guv::Builder::new().name("worker-1").stack_size(64 * 1024).spawn(|| 1).unwrap();
    assert_eq!(gt.name(), Some("worker-1"));
    assert!(format!("{gt:?}").contains("worker-1"));
    assert_eq!(gt.wait().unwrap(), 1);
    guv::Builder::new().spawn_n(|| ()).unwrap();
    let later = guv::Builder::new().spawn_after(Duration::from_millis(1), || 2).unwrap();
    assert_eq!(later.wait().unwrap(), 2);
}

#[test]
fn zero_and_absurd_stack_sizes_have_defined_outcomes() {
    // Zero rounds up to the 16 KiB minimum, as std does for threads.
    let gt = guv::Builder::new().stack_size(0).spawn(|| {
        let buf = [1u8; 4096];
        buf.iter().map(|&b| b as u32).sum::<u32>()
    });
    assert_eq!(gt.unwrap().wait().unwrap(), 4096);
    // Absurd sizes are refused with a clear error.
    let err = guv::Builder::new().stack_size(usize::MAX).spawn(|| ()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("maximum"), "{err}");
    assert!(guv::hub::set_stack_size(usize::MAX).is_err());
}

#[test]
fn greenlets_may_hold_rc_and_refcell() {
    // Not Send, and fine: greenlets never leave their thread.
    let shared = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let s = shared.clone();
            guv::spawn(move || {
                guv::gyield();
                s.borrow_mut().push(i);
            })
        })
        .collect();
    for h in handles {
        h.wait().unwrap();
    }
    assert_eq!(*shared.borrow(), [0, 1, 2]);
}

#[test]
fn waiting_for_itself_is_refused() {
    guv::debug::hub_exceptions(false);
    let slot: Rc<RefCell<Option<guv::GreenThread<()>>>> = Rc::new(RefCell::new(None));
    let s = slot.clone();
    let gt = guv::spawn(move || {
        let me = s.borrow_mut().take().unwrap();
        me.wait().unwrap();
    });
    let outcome = Rc::new(RefCell::new(None));
    let o = outcome.clone();
    gt.link(move |r| *o.borrow_mut() = r.as_ref().err().and_then(|e| e.panic_message().map(String::from)));
    *slot.borrow_mut() = Some(gt);
    guv::gyield();
    let msg = outcome.borrow().clone().expect("the greenlet should have panicked");
    assert!(msg.contains("cannot wait for itself"), "{msg}");
    guv::debug::hub_exceptions(true);
}

#[test]
fn a_greenlet_that_can_never_start_is_not_counted_once_its_handle_is_gone() {
    let before = guv::hub::stats().live_greenlets;
    let never = guv::spawn_after(Duration::MAX, || ());
    assert_eq!(guv::hub::stats().live_greenlets, before + 1);
    drop(never);
    assert_eq!(guv::hub::stats().live_greenlets, before);
    // Killing one keeps the count right too (counted once, uncounted once).
    let never = guv::spawn_after(Duration::MAX, || ());
    never.kill();
    drop(never);
    assert_eq!(guv::hub::stats().live_greenlets, before);
}

#[guv::test]
fn join_borrows_the_handle_so_several_can_join_and_the_result_stays_for_wait() {
    let gate = guv::Event::new();
    let g = {
        let gate = gate.clone();
        Rc::new(guv::spawn(move || {
            gate.wait();
            "done"
        }))
    };
    // Three joiners at once, one of them killed while it joins.
    let woke = Rc::new(RefCell::new(Vec::new()));
    let joiners: Vec<_> = (0..3)
        .map(|i| {
            let (g, woke) = (g.clone(), woke.clone());
            guv::spawn(move || {
                g.join();
                woke.borrow_mut().push(i);
            })
        })
        .collect();
    guv::gyield(); // all three are joining
    assert!(!g.join_timeout(Duration::from_millis(1)), "still running");
    joiners[1].kill();
    gate.set();
    for (i, j) in joiners.into_iter().enumerate() {
        assert_eq!(j.wait().is_ok(), i != 1);
    }
    assert_eq!(*woke.borrow(), [0, 2]);
    assert!(g.join_timeout(Duration::ZERO));
    let g = Rc::try_unwrap(g).unwrap_or_else(|_| panic!("the joiners dropped their handles"));
    assert_eq!(g.wait().unwrap(), "done", "joining took nothing from the result");
}

#[guv::test]
fn a_greenlet_joining_itself_panics_instead_of_hanging() {
    guv::debug::hub_exceptions(false);
    let slot: Rc<RefCell<Option<guv::GreenThread<()>>>> = Default::default();
    let (s, said) = (slot.clone(), Rc::new(RefCell::new(None)));
    let (answer, done) = (said.clone(), guv::Event::new());
    let d = done.clone();
    let g = guv::spawn(move || {
        let me = s.borrow_mut().take().expect("its own handle");
        let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| me.join()));
        *answer.borrow_mut() = Some(joined.map_err(|p| p.downcast_ref::<&str>().map(|m| m.to_string())));
        d.set();
    });
    *slot.borrow_mut() = Some(g); // it gets its own handle before it runs
    done.wait();
    assert_eq!(*said.borrow(), Some(Err(Some("guv: a greenlet cannot wait for itself".to_string()))));
}

/// Runs `wait` on a greenlet that holds its own handle (and another one's,
/// which has not ended) and returns its panic message. A wait that hangs
/// fails the test after a generous bound instead of hanging it.
fn self_wait_message(wait: fn(Vec<guv::GreenThread<()>>)) -> String {
    guv::debug::hub_exceptions(false);
    let slot: Rc<RefCell<Option<guv::GreenThread<()>>>> = Default::default();
    let release = guv::Event::new();
    let other = {
        let release = release.clone();
        guv::spawn(move || release.wait())
    };
    let s = slot.clone();
    let g = guv::spawn(move || {
        let me = s.borrow_mut().take().expect("its own handle");
        wait(vec![other, me]);
    });
    let said = guv::event::Event::<String>::new();
    let tell = said.clone();
    g.link(move |r| {
        let msg = r.as_ref().err().and_then(|e| e.panic_message()).unwrap_or("no panic");
        tell.send(msg.to_string()).expect("sent once");
    });
    *slot.borrow_mut() = Some(g); // it gets its own handle before it runs
    let msg = said.wait_timeout(Duration::from_secs(20));
    release.set();
    guv::debug::hub_exceptions(true);
    msg.expect("the self-wait hung").expect("a message")
}

#[test]
fn waiting_for_a_set_that_holds_the_caller_panics_as_wait_does() {
    let expected = "guv: a greenlet cannot wait for itself";
    assert_eq!(self_wait_message(|gts| guv::wait_all(&gts)), expected);
    assert_eq!(self_wait_message(|gts| guv::iwait(&gts).for_each(drop)), expected);
    assert_eq!(
        self_wait_message(|gts| {
            let _ = guv::wait_all_timeout(&gts, Duration::from_secs(3600));
        }),
        expected
    );
    assert_eq!(self_wait_message(|gts| drop(guv::joinall(gts))), expected);
    // The hub lives on: other greenlets still run and end.
    assert_eq!(guv::spawn(|| 7).wait().unwrap(), 7);
}
