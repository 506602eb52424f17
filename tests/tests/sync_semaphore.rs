//! guv::Semaphore, BoundedSemaphore, CappedSemaphore through the public API.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use guv::{BoundedSemaphore, CappedSemaphore, Semaphore, SemaphoreError};
use guv_tests::Log;

fn spawn_acquirer(sem: &Semaphore, log: &Log, name: &'static str) -> guv::GreenThread<()> {
    let (sem, log) = (sem.clone(), log.clone());
    guv::spawn(move || {
        sem.acquire();
        log.push(name);
    })
}

#[test]
fn acquiring_an_available_permit_never_yields() {
    let log = Log::new();
    let sem = Semaphore::new(3);
    let l = log.clone();
    guv::spawn_n(move || l.push("other ran"));
    sem.acquire();
    assert!(sem.try_acquire());
    assert!(sem.acquire_timeout(Duration::from_secs(1)));
    assert!(log.take().is_empty(), "no switch happened");
    guv::gyield();
    assert_eq!(log.take(), ["other ran"]);
}

#[test]
fn waiters_get_permits_fifo_and_release_hands_over() {
    let log = Log::new();
    let sem = Semaphore::new(0);
    let gts: Vec<_> = ["a", "b", "c"].into_iter().map(|n| spawn_acquirer(&sem, &log, n)).collect();
    guv::gyield();
    assert_eq!(sem.balance(), -3);
    sem.release();
    // The permit went to "a": a newcomer cannot take it.
    assert!(!sem.try_acquire());
    sem.release();
    sem.release();
    for g in gts {
        g.wait().unwrap();
    }
    assert_eq!(log.take(), ["a", "b", "c"]);
    assert_eq!(sem.count(), 0);
}

#[test]
fn killed_waiter_while_queued_leaves_and_the_next_gets_the_permit() {
    let log = Log::new();
    let sem = Semaphore::new(0);
    let a = spawn_acquirer(&sem, &log, "a");
    let b = spawn_acquirer(&sem, &log, "b");
    guv::gyield();
    a.kill();
    assert_eq!(sem.balance(), -1);
    sem.release();
    b.wait().unwrap();
    assert!(a.wait().unwrap_err().is_killed());
    assert_eq!(log.take(), ["b"]);
}

#[test]
fn waiter_killed_after_the_permit_was_handed_to_it_passes_it_on() {
    let log = Log::new();
    let sem = Semaphore::new(0);
    let a = spawn_acquirer(&sem, &log, "a");
    let b = spawn_acquirer(&sem, &log, "b");
    guv::gyield();
    sem.release(); // handed to `a`, which has not run yet
    a.kill();
    b.wait().unwrap();
    assert_eq!(log.take(), ["b"]);
    // With nobody else waiting, the permit returns to the count.
    let c = spawn_acquirer(&sem, &log, "c");
    guv::gyield();
    sem.release();
    c.kill();
    assert_eq!(sem.count(), 1);
}

#[test]
fn timeout_firing_in_acquire_loses_no_permit() {
    let log = Log::new();
    let sem = Semaphore::new(0);
    let s = sem.clone();
    let timed = guv::spawn(move || guv::with_timeout(Duration::from_millis(1), || s.acquire()));
    assert!(timed.wait().unwrap().unwrap_err().is_timed_out());
    assert_eq!(sem.balance(), 0);
    let b = spawn_acquirer(&sem, &log, "b");
    guv::gyield();
    sem.release();
    b.wait().unwrap();
    assert_eq!(log.take(), ["b"]);
}

#[test]
fn acquire_timeout_and_guards() {
    let sem = Semaphore::new(1);
    {
        let _g = sem.guard();
        assert!(!sem.acquire_timeout(Duration::from_millis(2)));
        assert!(sem.try_guard().is_none());
    }
    assert!(sem.acquire_timeout(Duration::from_millis(2)));
    sem.release();
    // A guard is released when its greenlet is killed or panics.
    guv::debug::hub_exceptions(false);
    let s = sem.clone();
    let holder = guv::spawn(move || {
        let _g = s.guard();
        guv::sleep(Duration::from_secs(60));
    });
    guv::gyield();
    assert!(sem.locked());
    holder.kill();
    assert!(!sem.locked());
    let s = sem.clone();
    let panicker = guv::spawn(move || s.access(|| panic!("inside")));
    assert!(panicker.wait().unwrap_err().is_panic());
    assert_eq!(sem.count(), 1);
}

#[test]
fn bounded_semaphore_refuses_to_release_past_its_value() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(), Err(SemaphoreError::ReleasedTooMuch { bound: 2 }));
    sem.acquire();
    sem.release().unwrap();
    assert_eq!(sem.count(), 2);
    assert!(sem.release().is_err());
    assert_eq!(sem.count(), 2, "a failed release changes nothing");
    // With waiters, releases go to them.
    let sem = BoundedSemaphore::new(1);
    sem.acquire();
    let s = sem.clone();
    let waiter = guv::spawn(move || s.acquire());
    guv::gyield();
    sem.release().unwrap();
    waiter.wait().unwrap();
    assert_eq!(sem.count(), 0);
}

#[test]
fn capped_semaphore_release_blocks_at_the_limit() {
    assert_eq!(CappedSemaphore::new(3, 2).unwrap_err(), SemaphoreError::CountAboveLimit { count: 3, limit: 2 });
    let log = Log::new();
    let sem = CappedSemaphore::new(2, 2).unwrap();
    let releasers: Vec<_> = ["r1", "r2"]
        .into_iter()
        .map(|n| {
            let (s, l) = (sem.clone(), log.clone());
            guv::spawn(move || {
                s.release();
                l.push(n);
            })
        })
        .collect();
    guv::gyield();
    assert_eq!(sem.releasing(), 2);
    assert!(!sem.try_release());
    sem.acquire(); // room for r1
    assert_eq!(sem.count(), 2);
    sem.acquire(); // room for r2
    for r in releasers {
        r.wait().unwrap();
    }
    assert_eq!(log.take(), ["r1", "r2"]);
    assert_eq!(sem.count(), 2);
}

#[test]
fn capped_semaphore_killed_releaser_adds_nothing() {
    let sem = CappedSemaphore::new(1, 1).unwrap();
    let s = sem.clone();
    let r = guv::spawn(move || s.release());
    guv::gyield();
    r.kill();
    assert_eq!(sem.releasing(), 0);
    sem.acquire();
    assert_eq!(sem.count(), 0, "the killed release did not happen");
    // A release with an acquirer waiting hands the permit over.
    let s = sem.clone();
    let a = guv::spawn(move || s.acquire());
    guv::gyield();
    assert!(sem.try_release());
    a.wait().unwrap();
    assert_eq!(sem.count(), 0);
}

#[test]
fn overflowing_counts_are_refused_clearly() {
    // Counts are usize: a negative count cannot be written. The largest one
    // is accepted, reported saturated by balance(), and cannot overflow.
    let sem = Semaphore::new(usize::MAX);
    assert_eq!(sem.balance(), isize::MAX);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release()));
    let payload = r.unwrap_err();
    let msg = payload.downcast_ref::<&str>().copied().or(payload.downcast_ref::<String>().map(String::as_str));
    assert!(msg.unwrap().contains("overflow"), "{msg:?}");
    assert_eq!(sem.count(), usize::MAX, "unchanged");
    let capped = CappedSemaphore::new(usize::MAX, usize::MAX).unwrap();
    assert!(!capped.try_release(), "at the limit a release would block");
}

#[test]
fn capped_semaphore_release_admitted_before_its_releaser_was_killed_counts() {
    let sem = CappedSemaphore::new(1, 1).unwrap();
    let s = sem.clone();
    let r = guv::spawn(move || s.release());
    guv::gyield();
    assert_eq!(sem.releasing(), 1);
    sem.acquire(); // makes room: the blocked release completes here (0 -> 1)
    assert_eq!(sem.releasing(), 0);
    assert_eq!(sem.count(), 1);
    r.kill(); // before the releaser ran again: the release happened all the same
    assert!(r.wait().unwrap_err().is_killed());
    assert_eq!(sem.count(), 1);
    assert!(!sem.try_release(), "at the limit again");
}

/// A greenlet that takes a permit of `sem`, counts itself in `holders`
/// while it holds it, and gives it back once `done` is set.
fn spawn_holder(sem: &BoundedSemaphore, holders: &Rc<Cell<usize>>, done: &guv::Event) -> guv::GreenThread<()> {
    let (s, h, done) = (sem.clone(), holders.clone(), done.clone());
    guv::spawn(move || {
        s.acquire();
        h.set(h.get() + 1);
        done.wait();
        h.set(h.get() - 1);
        s.release().unwrap();
    })
}

/// A bound-1 semaphore whose only permit was handed to a waiter that has
/// not run yet: one more release is one too many and fails at once. It
/// used to raise the count, letting a second holder in beside the waiter.
#[test]
fn bounded_semaphore_counts_a_permit_in_transit_toward_its_bound() {
    let (sem, holders, done) = (BoundedSemaphore::new(1), Rc::new(Cell::new(0)), guv::Event::new());
    sem.acquire();
    let waiter = spawn_holder(&sem, &holders, &done);
    guv::gyield(); // it waits
    sem.release().unwrap(); // handed to the waiter, which has not run
    assert!(!waiter.is_finished());
    assert_eq!(sem.release(), Err(SemaphoreError::ReleasedTooMuch { bound: 1 }));
    assert_eq!(sem.count(), 0, "a failed release changes nothing");
    let other = spawn_holder(&sem, &holders, &done);
    guv::gyield(); // the waiter takes its permit; `other` waits
    assert_eq!((holders.get(), sem.count()), (1, 0));
    done.set();
    waiter.wait().unwrap();
    other.wait().unwrap();
    assert_eq!((holders.get(), sem.count()), (0, 1));

    // A guard's release saturates at the bound: after an unbalanced
    // `release` handed the guard's permit to a waiter, the guard's own is
    // one too many and is dropped.
    let (sem, holders, done) = (BoundedSemaphore::new(1), Rc::new(Cell::new(0)), guv::Event::new());
    let guard = sem.guard();
    let waiter = spawn_holder(&sem, &holders, &done);
    guv::gyield();
    sem.release().unwrap(); // unbalanced: the guard still holds
    drop(guard);
    assert_eq!(sem.count(), 0);
    guv::gyield(); // the waiter holds the only permit
    assert_eq!(holders.get(), 1);
    assert!(!sem.try_acquire(), "no second holder");
    done.set();
    waiter.wait().unwrap();

    // Killed before it took the permit: the permit goes back to the count,
    // and a release over the bound fails before and after.
    let sem = BoundedSemaphore::new(1);
    sem.acquire();
    let s = sem.clone();
    let killed = guv::spawn(move || s.acquire());
    guv::gyield();
    sem.release().unwrap();
    assert!(sem.release().is_err());
    killed.kill();
    assert!(killed.wait().unwrap_err().is_killed());
    assert_eq!(sem.count(), 1);
    assert!(sem.release().is_err());
}

/// Plain and capped semaphores keep their behaviour with a permit in
/// transit: a plain one counts the extra release; a capped one below its
/// limit takes it (only a bounded semaphore refuses releases past its
/// initial value).
#[test]
fn plain_and_capped_semaphores_take_a_release_while_a_permit_is_in_transit() {
    let sem = Semaphore::new(1);
    sem.acquire();
    let s = sem.clone();
    let waiter = guv::spawn(move || s.acquire());
    guv::gyield();
    sem.release(); // handed over
    sem.release(); // counted
    assert_eq!(sem.count(), 1);
    waiter.wait().unwrap();
    assert_eq!(sem.count(), 1);

    let sem = CappedSemaphore::new(1, 1).unwrap();
    sem.acquire();
    let s = sem.clone();
    let waiter = guv::spawn(move || s.acquire());
    guv::gyield();
    assert!(sem.try_release()); // handed over
    assert!(sem.try_release()); // counted: below the limit
    assert_eq!(sem.count(), 1);
    waiter.wait().unwrap();
    assert_eq!(sem.count(), 1);
}
