//! Review of the session-10 merges (kills cascading through destructors,
//! `killall` joining, `GreenPool::killall`, pile/imap consumers, tpool
//! stranded callers, the wsgi `Done` guard, `File`'s fd view, macros),
//! each defect pinned down through the public API. Events are ordered with
//! logs, events and yields; timeouts are only hang guards.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Kills its greenlets with `guv::killall` when dropped: a server that owns
/// its handlers.
struct KillAllOnDrop(Vec<guv::GreenThread<()>>);

impl Drop for KillAllOnDrop {
    fn drop(&mut self) {
        guv::killall(&self.0);
    }
}

/// Waits for its event when dropped: a destructor that blocks.
struct WaitOnDrop(guv::Event);

impl Drop for WaitOnDrop {
    fn drop(&mut self) {
        self.0.wait();
    }
}

// ----- 1. a greenlet that once unwound, and caught it ----------------------

/// Once `asleep` is set (the victim went back to sleep after unwinding
/// once), kills an owner whose destructor `killall`s the victim: the
/// cascading kill must land, or the owner's `killall` waits forever.
fn killed_by_an_unwinding_owner(victim: guv::GreenThread<()>, asleep: &guv::Event) {
    let owner = guv::spawn(move || {
        let _handlers = KillAllOnDrop(vec![victim]);
        guv::sleep(Duration::MAX);
    });
    asleep.wait();
    guv::gyield(); // the victim is back asleep
    owner.kill();
    let ended = owner.wait_timeout(Duration::from_secs(20));
    assert!(ended.is_ok(), "the owner's killall never returned: the victim's kill did not land");
    assert!(ended.unwrap().unwrap_err().is_killed());
}

/// A greenlet that caught a `Timeout` (it unwound once, then went on) is
/// killed like any other by a killer that is itself unwinding: the
/// cascading kill must land, or the killer's `killall` waits forever.
#[guv::test(timeout = "60s")]
fn a_greenlet_that_caught_a_timeout_is_killed_by_an_unwinding_killall() {
    let asleep = guv::Event::new();
    let a = asleep.clone();
    let victim = guv::spawn(move || {
        let r = guv::with_timeout(Duration::from_millis(1), || guv::sleep(Duration::MAX));
        assert!(r.unwrap_err().is_timed_out());
        a.set();
        guv::sleep(Duration::MAX);
    });
    killed_by_an_unwinding_owner(victim, &asleep);
}

/// The same with a panic the greenlet caught itself.
#[guv::test(timeout = "60s")]
fn a_greenlet_that_caught_a_panic_is_killed_by_an_unwinding_killall() {
    guv::debug::hub_exceptions(false);
    let asleep = guv::Event::new();
    let a = asleep.clone();
    let victim = guv::spawn(move || {
        assert!(std::panic::catch_unwind(|| panic!("caught")).is_err());
        a.set();
        guv::sleep(Duration::MAX);
    });
    killed_by_an_unwinding_owner(victim, &asleep);
}

/// A greenlet catches a panic while another one is parked mid-unwind
/// (a panic is in flight on the thread all along, so guv cannot tell the
/// catch), then is killed: its kill is kept while that unwinding lasts,
/// and must land once it is over, not wait for the victim to wake.
#[guv::test(timeout = "60s")]
fn a_kill_kept_while_another_greenlet_unwinds_lands_once_that_is_over() {
    guv::debug::hub_exceptions(false);
    let hold = guv::Event::new();
    let h = hold.clone();
    let unwinder = guv::spawn(move || {
        let _blocks = WaitOnDrop(h);
        guv::sleep(Duration::MAX);
    });
    let go = guv::Event::new();
    let caught = guv::Event::new();
    let (g, c) = (go.clone(), caught.clone());
    let victim = guv::spawn(move || {
        g.wait();
        assert!(std::panic::catch_unwind(|| panic!("caught")).is_err());
        c.set();
        guv::sleep(Duration::MAX);
    });
    guv::gyield(); // both wait
    unwinder.kill(); // parked in its destructor
    assert!(!unwinder.is_finished());
    go.set();
    caught.wait();
    guv::gyield(); // the victim is back asleep
    victim.kill();
    hold.set();
    assert!(unwinder.wait().unwrap_err().is_killed());
    let ended = victim.wait_timeout(Duration::from_secs(20));
    assert!(ended.is_ok(), "the kill never landed");
    assert!(ended.unwrap().unwrap_err().is_killed());
}

// ----- 2. two killall callers over one list ---------------------------------

/// Two greenlets kill the same (shared) list: both wait for it, and both
/// return once its greenlet has unwound through a blocking destructor.
#[guv::test(timeout = "60s")]
fn two_killall_callers_over_one_list_both_return() {
    let release = guv::Event::new();
    let r = release.clone();
    let target = guv::spawn(move || {
        let _blocks = WaitOnDrop(r);
        guv::sleep(Duration::MAX);
    });
    guv::gyield(); // asleep
    let list = Rc::new(vec![target]);
    let l = list.clone();
    let other = guv::spawn(move || guv::killall(&l));
    // Lets both killers reach their wait before the destructor goes on.
    let releaser = guv::spawn(move || {
        for _ in 0..20 {
            guv::gyield();
        }
        release.set();
    });
    let returned = Rc::new(Cell::new(false));
    let ret = returned.clone();
    let main_killer = guv::spawn(move || {
        guv::killall(&list);
        ret.set(true);
    });
    for killer in [other, main_killer] {
        let ended = killer.wait_timeout(Duration::from_secs(20));
        assert!(ended.is_ok(), "one of two killall callers was never woken");
    }
    assert!(returned.get());
    releaser.wait().unwrap();
}

// ----- 3. killall over a list that holds its caller ------------------------

type Group = Rc<std::cell::RefCell<Vec<guv::GreenThread<()>>>>;

/// Kills its whole group (its own greenlet included) when dropped.
struct KillGroupOnDrop(Group);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        guv::killall(&self.0.borrow());
    }
}

/// A member that kills its own group (not unwinding, itself listed
/// first) kills the others too, as documented, and ends killed.
#[guv::test(timeout = "60s")]
fn killall_by_a_member_of_the_list_kills_the_others_too() {
    let group: Group = Rc::default();
    let go = guv::Event::new();
    let (g, gr) = (go.clone(), group.clone());
    let leader = guv::spawn(move || {
        g.wait();
        guv::killall(&gr.borrow());
    });
    let helper = guv::spawn(|| guv::sleep(Duration::MAX));
    guv::gyield();
    group.borrow_mut().extend([leader, helper]);
    go.set();
    let finished = guv::wait_all_timeout(&group.borrow()[..1], Duration::from_secs(20));
    assert!(finished, "the leader never ended");
    assert!(group.borrow()[1].is_finished(), "the helper listed after the leader was never killed");
    let mut group = group.borrow_mut();
    let helper = group.pop().unwrap();
    let leader = group.pop().unwrap();
    assert!(leader.wait().unwrap_err().is_killed());
    assert!(helper.wait().unwrap_err().is_killed());
}

/// Every member of a group kills the group as it unwinds ("one dies, all
/// die"): the killers kill each other from their destructors, and none
/// may wait for another that waits for it.
#[guv::test(timeout = "60s")]
fn group_members_killing_each_other_from_destructors_all_end() {
    let group: Group = Rc::default();
    for _ in 0..3 {
        let g = group.clone();
        let gt = guv::spawn(move || {
            let _all = KillGroupOnDrop(g);
            guv::sleep(Duration::MAX);
        });
        group.borrow_mut().push(gt);
    }
    guv::gyield(); // all asleep
    group.borrow()[0].kill();
    let all = guv::wait_all_timeout(&group.borrow(), Duration::from_secs(20));
    assert!(all, "the group's members deadlocked waiting for each other");
    assert!(group.borrow().iter().all(guv::GreenThread::is_finished));
}

/// The same with a pool: members whose drop guards kill the pool.
#[guv::test(timeout = "60s")]
fn pool_members_killing_the_pool_from_destructors_all_end() {
    struct KillPoolOnDrop(guv::GreenPool);
    impl Drop for KillPoolOnDrop {
        fn drop(&mut self) {
            self.0.killall();
        }
    }
    let pool = guv::GreenPool::new(3);
    let members: Vec<_> = (0..3)
        .map(|_| {
            let p = pool.clone();
            pool.spawn(move || {
                let _all = KillPoolOnDrop(p);
                guv::sleep(Duration::MAX);
            })
        })
        .collect();
    guv::gyield(); // all asleep
    members[0].kill();
    let idle = guv::with_timeout(Duration::from_secs(20), || pool.waitall());
    assert!(idle.is_ok(), "the pool's members deadlocked waiting for each other");
    assert!(members.iter().all(guv::GreenThread::is_finished));
    assert_eq!(pool.running(), 0);
}

// ----- 4. the main greenlet unwinds into a killall that can never end -------

/// The main greenlet unwinds (a failed assertion) through a guard that
/// kills a helper whose destructor waits for something nobody will ever
/// give: the deadlock check finds main parked for good while it unwinds.
/// That cannot be raised; it must end the wait, not abort the process (a
/// failed test would take every other test of its binary down).
#[test]
fn main_unwinding_into_a_killall_that_can_never_end_does_not_abort() {
    const NAME: &str = "main_unwinding_into_a_killall_that_can_never_end_does_not_abort";
    if guv_tests::child_role().as_deref() == Some("main-unwinds") {
        guv::debug::hub_exceptions(false);
        let never = guv::Event::new();
        let n = never.clone();
        let stuck = guv::spawn(move || {
            let _blocks = WaitOnDrop(n);
            guv::sleep(Duration::MAX);
        });
        guv::gyield(); // asleep
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _helpers = KillAllOnDrop(vec![stuck]);
            panic!("an assertion failed");
        }));
        assert!(failed.is_err());
        // The kill was delivered: the helper sits in its destructor.
        println!("main went on");
        // Later waits that can end are not hit by the old deadlock report.
        guv::sleep(Duration::from_millis(1));
        println!("main slept");
        drop(never);
        return;
    }
    let out = guv_tests::run_child(NAME, "main-unwinds");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("main went on") && stdout.contains("main slept"), "stdout:\n{stdout}\nstderr:\n{stderr}");
}

/// A destructor that bounds its `killall` with a `Timeout` while its
/// greenlet unwinds: the timeout cannot be raised there, so it ends the
/// wait (a helper stuck in its own destructor is left behind, killed).
#[guv::test(timeout = "60s")]
fn a_timeout_bounds_killall_in_a_destructor_while_unwinding() {
    struct BoundedKillAll(Vec<guv::GreenThread<()>>, guv_tests::Log);
    impl Drop for BoundedKillAll {
        fn drop(&mut self) {
            let _bound = guv::Timeout::start(Duration::from_millis(50));
            guv::killall(&self.0);
            self.1.push("killall returned");
        }
    }
    /// Sets its event when dropped.
    struct SetOnDrop(guv::Event);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.set();
        }
    }
    let (never, gone) = (guv::Event::new(), guv::Event::new());
    let (n, g) = (never.clone(), gone.clone());
    let stuck = guv::spawn(move || {
        let _gone = SetOnDrop(g); // dropped last
        let _blocks = WaitOnDrop(n);
        guv::sleep(Duration::MAX);
    });
    let log = guv_tests::Log::new();
    let l = log.clone();
    let owner = guv::spawn(move || {
        let _helpers = BoundedKillAll(vec![stuck], l);
        guv::sleep(Duration::MAX);
    });
    guv::gyield(); // both asleep
    owner.kill();
    let ended = owner.wait_timeout(Duration::from_secs(20));
    assert!(ended.is_ok(), "the Timeout did not bound killall's wait");
    assert!(ended.unwrap().unwrap_err().is_killed());
    assert_eq!(log.take(), ["killall returned"]);
    never.set(); // let the helper finish
    gone.wait();
    guv::gyield(); // it ends
}
