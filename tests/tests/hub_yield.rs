//! The yield path under stress: inline loop iterations that must still
//! leave for timers and I/O, kills and cancels around yielding greenlets,
//! and the reuse of ended greenlets' nodes.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use guv::Interest;
use guv_tests::Log;

/// Runs hub APIs from its destructor.
struct UsesHub(Log, &'static str);

impl Drop for UsesHub {
    fn drop(&mut self) {
        let log = self.0.clone();
        let what = self.1;
        guv::spawn_n(move || log.push(format!("spawned by {what}'s drop")));
        let _ = guv::green::thread::current();
        let _ = guv::hub::stats();
        guv::gyield();
        self.0.push(format!("{what} dropped"));
    }
}

#[test]
fn a_cancelled_greenlet_s_captures_may_use_the_hub_while_others_yield() {
    let log = Log::new();
    let spinning = Rc::new(Cell::new(true));
    let mut spinners = Vec::new();
    for i in 0..3 {
        let (log, spinning) = (log.clone(), spinning.clone());
        spinners.push(guv::spawn(move || {
            let mut n = 0;
            while spinning.get() {
                n += 1;
                guv::gyield();
            }
            log.push(format!("spinner {i} done"));
            n
        }));
    }
    guv::gyield();
    // Killed before it starts, while queued behind the spinners; its
    // handle goes first, so the queue holds the last reference.
    let guard = UsesHub(log.clone(), "a");
    let victim = guv::spawn(move || drop(guard));
    victim.kill();
    drop(victim);
    // The same through spawn_after + cancel.
    let guard = UsesHub(log.clone(), "b");
    let delayed = guv::spawn_after(Duration::from_secs(3600), move || drop(guard));
    assert!(delayed.cancel());
    drop(delayed);
    for _ in 0..10 {
        guv::gyield();
    }
    spinning.set(false);
    for s in spinners {
        assert!(s.wait().unwrap() > 0);
    }
    let events = log.take();
    for e in ["a dropped", "b dropped", "spawned by a's drop", "spawned by b's drop"] {
        assert!(events.iter().any(|x| x == e), "{e} missing in {events:?}");
    }
}

guv::local! {
    static SEEN: Cell<u32> = Cell::new(0);
    static HELD: RefCell<Option<Rc<()>>> = RefCell::new(None);
}

/// Nodes of ended greenlets are reused: a new greenlet must not see the
/// green-locals, name, id or thread identity of an earlier one.
#[test]
fn a_reused_node_carries_nothing_over() {
    let marker = Rc::new(());
    let mut ids = std::collections::HashSet::new();
    for round in 0..50u32 {
        let m = marker.clone();
        let named = guv::Builder::new()
            .name(format!("old{round}"))
            .spawn(move || {
                assert_eq!(SEEN.get(), 0, "green-local leaked into round {round}");
                SEEN.set(round + 1);
                HELD.with_borrow_mut(|h| *h = Some(m));
                let t = guv::green::thread::current();
                (t.id(), t.name().map(String::from))
            })
            .unwrap();
        let id = named.id();
        assert!(ids.insert(id));
        let (tid, name) = named.wait().unwrap();
        assert_eq!(name.as_deref(), Some(format!("old{round}").as_str()));
        // The green-local was dropped when the greenlet ended.
        assert_eq!(Rc::strong_count(&marker), 1);
        let fresh = guv::spawn(move || {
            let t = guv::green::thread::current();
            (SEEN.get(), HELD.with_borrow(Option::is_some), t.id(), t.name().map(String::from))
        });
        let fresh_id = fresh.id();
        assert!(ids.insert(fresh_id));
        assert_eq!(fresh.name(), None);
        let (seen, held, fresh_tid, fresh_name) = fresh.wait().unwrap();
        assert_eq!((seen, held, fresh_name), (0, false, None));
        assert_ne!(tid, fresh_tid);
        // And through spawn_n, whose nodes are reused the most.
        let log = Log::new();
        let l = log.clone();
        guv::spawn_n(move || {
            l.push(format!("{} {}", SEEN.get(), HELD.with_borrow(Option::is_some)));
            SEEN.set(99);
        });
        guv::gyield();
        let l = log.clone();
        guv::spawn_n(move || l.push(format!("{} {}", SEEN.get(), HELD.with_borrow(Option::is_some))));
        guv::gyield();
        assert_eq!(log.take(), ["0 false", "0 false"]);
    }
}

/// A `Timeout` still interrupts greenlets that only yield to each other
/// (the inline iterations must leave for the loop when a timer is due).
#[test]
fn a_timeout_interrupts_greenlets_that_only_yield() {
    let alone = guv::with_timeout(Duration::from_millis(20), || {
        loop {
            guv::gyield();
        }
    });
    assert!(alone.is_err());
    let other = guv::spawn(|| {
        guv::with_timeout(Duration::from_millis(20), || {
            loop {
                guv::sleep(Duration::ZERO);
            }
        })
        .is_err()
    });
    let mine = guv::with_timeout(Duration::from_millis(40), || {
        loop {
            guv::gyield();
        }
    });
    assert!(mine.is_err());
    assert!(other.wait().unwrap());
}

/// I/O readiness reaches a waiter while other greenlets only yield.
#[test]
fn io_is_polled_while_greenlets_only_yield() {
    let (a, b) = UnixStream::pair().unwrap();
    let reader = guv::spawn(move || {
        guv::trampoline(&a, Interest::READABLE, Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0; 2];
        (&a).read_exact(&mut buf).unwrap();
        buf
    });
    guv::gyield();
    let writer = std::thread::spawn(move || (&b).write_all(b"hi").map(|()| b));
    // Bounded by time, not by a count of yields (how many fit in a while
    // depends on the machine and its load).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !reader.is_finished() {
        guv::gyield();
        assert!(std::time::Instant::now() < deadline, "the reader never woke");
    }
    assert_eq!(&reader.wait().unwrap(), b"hi");
    writer.join().unwrap().unwrap();
}

/// The main greenlet alone yields in place; with a sleeper, `sleep(ZERO)`
/// loops still let the sleeper's timer fire.
#[test]
fn main_yielding_alone_lets_timers_fire() {
    let log = Log::new();
    let l = log.clone();
    let sleeper = guv::spawn(move || {
        guv::sleep(Duration::from_millis(5));
        l.push("slept");
    });
    while !sleeper.is_finished() {
        guv::sleep(Duration::ZERO);
    }
    sleeper.wait().unwrap();
    assert_eq!(log.take(), ["slept"]);
}

/// A greenlet killed while it yields unwinds; a destructor on its way out
/// may yield again, and the greenlet after it in the queue is unaffected.
#[test]
fn gyield_in_a_destructor_while_unwinding_from_a_kill() {
    struct YieldOnDrop(Log);
    impl Drop for YieldOnDrop {
        fn drop(&mut self) {
            self.0.push("drop start");
            guv::gyield();
            guv::gyield();
            self.0.push("drop end");
        }
    }
    let log = Log::new();
    let l = log.clone();
    let victim = guv::spawn(move || {
        let _g = YieldOnDrop(l.clone());
        loop {
            guv::gyield();
        }
    });
    let l = log.clone();
    let bystander = guv::spawn(move || {
        for i in 0..5 {
            l.push(format!("b{i}"));
            guv::gyield();
        }
    });
    guv::gyield();
    victim.kill();
    log.push("killed");
    assert!(victim.wait().unwrap_err().is_killed());
    bystander.wait().unwrap();
    let events = log.take();
    let pos = |e: &str| events.iter().position(|x| x == e).unwrap_or_else(|| panic!("{e} in {events:?}"));
    // `kill` yields once: the victim has begun unwinding when it returns.
    assert!(pos("drop start") < pos("killed"), "{events:?}");
    assert!(pos("drop start") < pos("drop end"));
    assert_eq!(events.iter().filter(|e| e.starts_with('b')).count(), 5);
}

/// Kills between greenlets that yield round-robin: the one killed is the
/// next in the queue of the killer.
#[test]
fn yielding_greenlets_kill_each_other() {
    let slot: Rc<RefCell<Vec<guv::GreenThread<()>>>> = Rc::default();
    let log = Log::new();
    let mut handles = Vec::new();
    for i in 0..4 {
        let (slot, log) = (slot.clone(), log.clone());
        handles.push(guv::spawn(move || {
            for round in 0..3 {
                guv::gyield();
                if round == 1 && i % 2 == 0 {
                    let next = slot.borrow_mut().pop();
                    if let Some(next) = next {
                        next.kill();
                        log.push(format!("{i} killed one"));
                    }
                }
            }
            log.push(format!("{i} done"));
        }));
    }
    // Let 1 and 3 be killable by 0 and 2 (pop takes the last).
    let three = handles.remove(3);
    let one = handles.remove(1);
    slot.borrow_mut().push(one);
    slot.borrow_mut().push(three);
    for h in handles {
        h.wait().unwrap();
    }
    assert!(slot.borrow().is_empty());
    let events = log.take();
    assert_eq!(events.iter().filter(|e| e.ends_with("killed one")).count(), 2, "{events:?}");
    assert!(!events.iter().any(|e| e == "1 done" || e == "3 done"), "{events:?}");
}

/// Spawning, killing and dropping handles from inside links while the
/// greenlets churn through reused nodes.
#[test]
fn links_spawn_and_kill_while_nodes_are_reused() {
    let log = Log::new();
    for round in 0..100 {
        let first = guv::spawn(move || round);
        let victim = guv::spawn(|| guv::sleep(Duration::from_secs(3600)));
        let victim = Rc::new(RefCell::new(Some(victim)));
        let (l, v) = (log.clone(), victim.clone());
        first.link(move |r| {
            let n = *r.as_ref().unwrap();
            let l2 = l.clone();
            guv::spawn_n(move || l2.push(format!("spawned {n}")));
            let v = v.borrow_mut().take().unwrap();
            v.kill();
            l.push(format!("killed {}", v.wait().unwrap_err().is_killed()));
        });
        drop(first);
        guv::gyield();
        guv::gyield();
        assert!(victim.borrow().is_none());
    }
    let events = log.take();
    assert_eq!(events.iter().filter(|e| *e == "killed true").count(), 100);
    assert_eq!(events.iter().filter(|e| e.starts_with("spawned")).count(), 100);
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}

/// A seeded mix of spawns, yields, kills, cancels, links and dropped
/// handles: every closure runs or is dropped exactly once, every captured
/// value is dropped exactly once, and the hub ends with nothing live.
#[test]
fn a_random_mix_of_spawns_kills_and_yields_keeps_the_books() {
    struct Counted(Rc<Cell<i64>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() - 1);
        }
    }
    let alive = Rc::new(Cell::new(0i64));
    let new_counted = |a: &Rc<Cell<i64>>| {
        a.set(a.get() + 1);
        Counted(a.clone())
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let ran = Rc::new(Cell::new(0u64));
    let mut handles: Vec<guv::GreenThread<u64>> = Vec::new();
    for step in 0..4000u64 {
        match next(10) {
            0..=2 => {
                let c = new_counted(&alive);
                let (ran, yields) = (ran.clone(), next(4));
                let gt = guv::spawn(move || {
                    let _c = c;
                    for _ in 0..yields {
                        guv::gyield();
                    }
                    ran.set(ran.get() + 1);
                    step
                });
                let c = new_counted(&alive);
                gt.link(move |_| drop(c));
                handles.push(gt);
            }
            3 => {
                let c = new_counted(&alive);
                let (ran, yields) = (ran.clone(), next(3));
                guv::spawn_n(move || {
                    let _c = c;
                    for _ in 0..yields {
                        guv::sleep(Duration::ZERO);
                    }
                    ran.set(ran.get() + 1);
                });
            }
            4 if !handles.is_empty() => {
                let i = next(handles.len() as u64) as usize;
                handles[i].kill();
            }
            5 if !handles.is_empty() => {
                let i = next(handles.len() as u64) as usize;
                let _ = handles[i].cancel();
            }
            6 if !handles.is_empty() => {
                let i = next(handles.len() as u64) as usize;
                drop(handles.swap_remove(i));
            }
            7 if !handles.is_empty() => {
                let i = next(handles.len() as u64) as usize;
                let gt = handles.swap_remove(i);
                match gt.wait() {
                    Ok(v) => assert!(v <= step),
                    Err(e) => assert!(e.is_killed(), "{e:?}"),
                }
            }
            8 => {
                let c = new_counted(&alive);
                let gt = guv::spawn_after(Duration::from_micros(next(300)), move || {
                    let _c = c;
                    step
                });
                handles.push(gt);
            }
            _ => guv::gyield(),
        }
    }
    for gt in handles {
        match gt.wait() {
            Ok(_) => {}
            Err(e) => assert!(e.is_killed(), "{e:?}"),
        }
    }
    while guv::hub::stats().live_greenlets > 0 {
        guv::sleep(Duration::from_millis(1));
    }
    assert_eq!(alive.get(), 0, "captured values leaked or dropped twice");
    assert!(ran.get() > 1000, "only {} ran", ran.get());
}
