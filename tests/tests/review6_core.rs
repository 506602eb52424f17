//! Review 6: the hub core through the public API — kills in every state,
//! timeouts that are caught, moved or raced, spawn_after cancelled around
//! its start, links that kill or spawn, kills sent from other threads.
//! Order is asserted with logs; time is only a hang guard, or a deadline
//! that is spun past (never slept towards) before the step that needs it.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use guv::{GreenThread, Timeout};
use guv_tests::Log;

const HOUR: Duration = Duration::from_secs(3600);

/// Waits (without yielding) until `deadline` has passed, so that the next
/// switch to the hub loop finds the timers due.
fn spin_past(deadline: Instant) {
    while Instant::now() <= deadline {
        std::hint::spin_loop();
    }
}

#[test]
fn a_timeout_caught_and_ignored_does_not_fire_again() {
    guv::debug::hub_exceptions(false);
    let gt = guv::spawn(|| {
        let t = Timeout::start(Duration::from_millis(5));
        let caught = panic::catch_unwind(AssertUnwindSafe(|| guv::sleep(HOUR)));
        assert!(caught.is_err(), "the timeout interrupted the sleep");
        assert!(!t.is_pending(), "it fired");
        // Still holding the guard: later waits are not interrupted again.
        guv::sleep(Duration::from_millis(10));
        drop(t);
        "survived"
    });
    assert_eq!(gt.wait().unwrap(), "survived");
}

#[test]
fn a_timeout_kept_alive_by_another_greenlet_still_interrupts_its_owner() {
    let slot: Rc<RefCell<Option<Timeout>>> = Rc::default();
    let s2 = slot.clone();
    let owner = guv::spawn(move || {
        *s2.borrow_mut() = Some(Timeout::start(Duration::from_millis(5)));
        guv::sleep(HOUR);
    });
    guv::gyield(); // the owner armed it and sleeps
    assert!(slot.borrow().as_ref().unwrap().is_pending());
    assert!(owner.wait().unwrap_err().is_timed_out());
    // Dropped here, on main, after it fired: harmless.
    drop(slot.borrow_mut().take());
    guv::sleep(Duration::from_millis(1));
}

#[test]
fn a_timeout_dropped_by_another_greenlet_before_it_fires_disarms_it() {
    let slot: Rc<RefCell<Option<Timeout>>> = Rc::default();
    let s2 = slot.clone();
    let owner = guv::spawn(move || {
        *s2.borrow_mut() = Some(Timeout::start(Duration::from_millis(5)));
        guv::sleep(Duration::from_millis(30));
        "slept"
    });
    guv::gyield();
    drop(slot.borrow_mut().take());
    assert_eq!(owner.wait().unwrap(), "slept");
}

#[test]
fn a_timeout_that_expired_while_its_owner_was_ready_is_dropped_by_another_greenlet() {
    // The owner yields (ready, not parked) once its deadline has passed: the
    // loop posts the interrupt; another greenlet, queued ahead of it, drops
    // the guard before the owner runs again. The owner must not unwind.
    let slot: Rc<RefCell<Option<Timeout>>> = Rc::default();
    let log = Log::new();
    let (s3, l3) = (slot.clone(), log.clone());
    let dropper = guv::spawn(move || {
        guv::gyield(); // the owner runs, arms, spins and yields behind us
        l3.push("dropping");
        drop(s3.borrow_mut().take().expect("the owner armed it"));
    });
    let (s2, l2) = (slot.clone(), log.clone());
    let owner = guv::spawn(move || {
        let t = Timeout::start(Duration::from_millis(5));
        let deadline = Instant::now() + Duration::from_millis(6);
        *s2.borrow_mut() = Some(t);
        spin_past(deadline);
        guv::gyield(); // the loop fires the timer; the dropper runs first
        l2.push("owner resumed");
        guv::sleep(Duration::from_millis(1));
        "not interrupted"
    });
    assert_eq!(owner.wait().unwrap(), "not interrupted");
    dropper.wait().unwrap();
    assert_eq!(log.take(), ["dropping", "owner resumed"]);
}

#[test]
fn spawn_after_cancelled_after_its_timer_fired_but_before_it_ran_never_runs() {
    let log = Log::new();
    let l2 = log.clone();
    let start = Instant::now();
    let gt = guv::spawn_after(Duration::from_millis(2), move || l2.push("ran"));
    spin_past(start + Duration::from_millis(3));
    // The loop fires the start timer: the greenlet is queued behind main.
    guv::gyield();
    assert!(log.take().is_empty(), "main was queued first");
    assert!(gt.cancel(), "it had not started");
    guv::sleep(Duration::from_millis(1));
    assert!(log.take().is_empty());
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}

#[test]
fn spawn_after_killed_before_and_after_it_started() {
    let before = guv::spawn_after(HOUR, || "never");
    before.kill();
    assert!(before.wait().unwrap_err().is_killed());
    let started = Rc::new(guv::Event::new());
    let s2 = started.clone();
    let after = guv::spawn_after(Duration::from_millis(1), move || {
        s2.set();
        guv::sleep(HOUR);
    });
    started.wait();
    assert!(!after.cancel(), "it has started");
    after.kill();
    assert!(after.wait().unwrap_err().is_killed());
}

#[test]
fn a_link_that_kills_its_own_greenlet_cuts_only_itself_short() {
    let log = Log::new();
    let gt = Rc::new(guv::spawn(|| 5));
    let (g2, l2) = (gt.clone(), log.clone());
    gt.link(move |r| {
        l2.push(format!("first {:?}", r.as_ref().ok()));
        g2.kill(); // the ending greenlet kills itself inside its link
        l2.push("not reached");
    });
    let l3 = log.clone();
    gt.link(move |r| l3.push(format!("second {:?}", r.as_ref().ok())));
    guv::gyield();
    let gt = Rc::try_unwrap(gt).unwrap_or_else(|_| panic!("the links are gone"));
    assert_eq!(gt.wait().unwrap(), 5);
    assert_eq!(log.take(), ["first Some(5)", "second Some(5)"]);
}

#[test]
fn a_link_that_spawns_and_waits_runs_before_wait_returns() {
    let log = Log::new();
    let gt = guv::spawn(|| 1);
    let l2 = log.clone();
    gt.link(move |_| {
        let l3 = l2.clone();
        let helper = guv::spawn(move || l3.push("helper"));
        helper.wait().unwrap();
        l2.push("link done");
    });
    assert_eq!(gt.wait().unwrap(), 1);
    log.push("waited");
    assert_eq!(log.take(), ["helper", "link done", "waited"]);
}

#[test]
fn killing_a_greenlet_whose_link_blocks_ends_that_link_and_keeps_the_result() {
    let log = Log::new();
    let gt = Rc::new(guv::spawn(|| "done"));
    let l2 = log.clone();
    gt.link(move |_| {
        guv::sleep(HOUR);
        l2.push("not reached");
    });
    let l3 = log.clone();
    gt.link(move |r| l3.push(format!("after {:?}", r.as_ref().ok())));
    guv::gyield(); // it ends and blocks in its first link
    assert!(gt.is_finished());
    gt.kill();
    let gt = Rc::try_unwrap(gt).unwrap_or_else(|_| panic!("a clone is left"));
    assert_eq!(gt.wait().unwrap(), "done");
    assert_eq!(log.take(), ["after Some(\"done\")"]);
}

#[test]
fn a_kill_sent_from_another_thread_through_a_handle_ends_a_parked_greenlet() {
    thread_local! {
        static VICTIM: RefCell<Option<GreenThread<()>>> = const { RefCell::new(None) };
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let victim = guv::spawn(|| guv::sleep(HOUR));
        let id = victim.id();
        VICTIM.with(|v| *v.borrow_mut() = Some(victim));
        guv::gyield(); // it sleeps
        tx.send(guv::hub::Handle::current()).unwrap();
        // Main waits for the kill to arrive: a green event set by the
        // remote closure (the Handle keeps the hub from reporting deadlock).
        let done = Rc::new(guv::Event::new());
        DONE.with(|d| *d.borrow_mut() = Some(done.clone()));
        done.wait();
        let victim = VICTIM.with(|v| v.borrow_mut().take()).unwrap();
        (id, victim.wait().unwrap_err().is_killed())
    });
    thread_local! {
        static DONE: RefCell<Option<Rc<guv::Event>>> = const { RefCell::new(None) };
    }
    let handle = rx.recv().unwrap();
    handle
        .spawn(|| {
            VICTIM.with(|v| v.borrow().as_ref().unwrap().kill());
            DONE.with(|d| d.borrow().as_ref().unwrap().set());
        })
        .unwrap();
    drop(handle);
    let (_id, killed) = t.join().unwrap();
    assert!(killed);
}

#[test]
fn a_greenlet_killed_twice_before_it_runs_again_unwinds_once() {
    let log = Log::new();
    let l2 = log.clone();
    let gt = guv::spawn(move || {
        struct Note(Log);
        impl Drop for Note {
            fn drop(&mut self) {
                self.0.push("unwound");
            }
        }
        let _n = Note(l2);
        guv::sleep(HOUR);
    });
    guv::gyield();
    let gt = Rc::new(gt);
    let killers: Vec<_> = (0..2)
        .map(|_| {
            let gt = gt.clone();
            guv::spawn(move || gt.kill())
        })
        .collect();
    for k in killers {
        k.wait().unwrap();
    }
    let gt = Rc::try_unwrap(gt).unwrap_or_else(|_| panic!("a clone is left"));
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(log.take(), ["unwound"]);
}

#[test]
fn a_panic_payload_that_panics_when_dropped_reaches_wait_intact() {
    guv::debug::hub_exceptions(false);
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("bomb dropped");
            }
        }
    }
    let gt = guv::spawn(|| -> () { panic::panic_any(Bomb) });
    let err = gt.wait().unwrap_err();
    let guv::Error::Panicked(payload) = err else { panic!("not a panic: {err:?}") };
    assert!(payload.is::<Bomb>());
    // Dropping it is the caller's business, as with std's JoinHandle: it
    // panics here, on this greenlet, and the hub carries on.
    let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    assert!(dropped.is_err());
    assert_eq!(guv::spawn(|| 7).wait().unwrap(), 7);
}

#[test]
fn a_remote_wake_racing_with_a_kill_reaches_nobody_else() {
    use std::sync::mpsc;
    // The job blocks its pool thread until told to finish; its caller is
    // killed meanwhile, and a second caller waits on a fresh remote slot
    // (possibly the same index) when the first job's wake-up arrives.
    let (release, held) = mpsc::channel::<()>();
    let (entered_tx, entered) = mpsc::channel::<()>();
    let first = guv::spawn(move || {
        guv::tpool::execute(move || {
            entered_tx.send(()).unwrap();
            held.recv().unwrap();
            1
        })
    });
    guv::gyield(); // it queued the job and parks
    entered.recv().unwrap();
    first.kill();
    assert!(first.wait().unwrap_err().is_killed());
    let (release2, held2) = mpsc::channel::<u32>();
    let second = guv::spawn(move || guv::tpool::execute(move || held2.recv().unwrap()));
    guv::gyield(); // the second caller parks on its own remote slot
    release.send(()).unwrap(); // the first job ends: its wake-up is stale
    // Give the stale wake-up every chance to be processed before the real
    // one: the second caller must still be waiting, not woken early.
    let probe = guv::spawn(|| ());
    probe.wait().unwrap();
    assert!(!second.is_finished());
    release2.send(2).unwrap();
    assert_eq!(second.wait().unwrap(), 2);
}
