//! guv::green::sync's Mutex, RwLock, Condvar, Barrier, Once, OnceLock and
//! LazyLock: greenlet<->greenlet and thread<->greenlet in both directions.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use guv::green::sync::{Barrier, Condvar, LazyLock, Mutex, Once, OnceLock, RwLock, TryLockError};
use guv_tests::Log;

const LONG: Duration = Duration::from_secs(30);

#[test]
fn greenlets_contend_on_a_mutex_and_wait_fifo() {
    let log = Log::new();
    let m = Arc::new(Mutex::new(0));
    let guard = m.lock().unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (m, l) = (m.clone(), log.clone());
            guv::spawn(move || {
                let mut g = m.lock().unwrap();
                *g += 1;
                l.push(format!("w{i}"));
            })
        })
        .collect();
    guv::gyield();
    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(log.take().is_empty(), "all three wait");
    drop(guard);
    guv::wait_all(&waiters);
    assert_eq!(log.take(), ["w0", "w1", "w2"]);
    assert_eq!(*m.lock().unwrap(), 3);
}

#[test]
fn mutex_held_across_switches_keeps_its_invariant() {
    let m = Arc::new(Mutex::new((0u32, 0u32)));
    let gts: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            guv::spawn(move || {
                for _ in 0..50 {
                    let mut g = m.lock().unwrap();
                    g.0 += 1;
                    guv::gyield(); // another greenlet may try the lock here
                    g.1 += 1;
                    assert_eq!(g.0, g.1);
                }
            })
        })
        .collect();
    for r in guv::joinall(gts) {
        r.unwrap();
    }
    assert_eq!(*m.lock().unwrap(), (400, 400));
}

#[test]
fn a_greenlet_waiting_for_a_thread_held_mutex_lets_others_run() {
    let m = Arc::new(Mutex::new(Vec::<&str>::new()));
    let (locked_tx, locked_rx) = std_mpsc::channel();
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let m2 = m.clone();
    let holder = std::thread::spawn(move || {
        let mut g = m2.lock().unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        g.push("thread");
    });
    locked_rx.recv().unwrap();
    let m3 = m.clone();
    let waiter = guv::spawn(move || m3.lock().unwrap().push("greenlet"));
    let other = guv::spawn(move || {
        // Runs although `waiter` is blocked on the mutex.
        release_tx.send(()).unwrap();
        "other ran"
    });
    assert_eq!(other.wait().unwrap(), "other ran");
    waiter.wait().unwrap();
    holder.join().unwrap();
    assert_eq!(*m.lock().unwrap(), ["thread", "greenlet"]);
}

#[test]
fn a_plain_thread_waits_for_a_greenlet_held_mutex() {
    let m = Arc::new(Mutex::new(0));
    let mut guard = m.lock().unwrap();
    let m2 = m.clone();
    let (parked_tx, parked_rx) = std_mpsc::channel();
    let t = std::thread::spawn(move || {
        // This greenlet can only run once the thread's main greenlet parks,
        // and `lock` below is the only place where it can.
        guv::spawn_n(move || parked_tx.send(()).unwrap());
        guv::with_timeout(LONG, || {
            let mut g = m2.lock().unwrap();
            *g += 1;
            *g
        })
    });
    parked_rx.recv().unwrap(); // the thread is parked in `lock`
    *guard = 10; // so it must see this
    drop(guard); // wakes it through its hub's remote queue
    assert_eq!(t.join().unwrap().expect("woken by the release on another thread"), 11);
    assert_eq!(*m.lock().unwrap(), 11);
}

#[test]
fn threads_and_greenlets_hammer_one_mutex() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                // Each thread runs greenlets of its own too.
                let gts: Vec<_> = (0..4)
                    .map(|_| {
                        let m = m.clone();
                        guv::spawn(move || {
                            for i in 0..500 {
                                *m.lock().unwrap() += 1;
                                if i % 50 == 0 {
                                    guv::gyield();
                                }
                            }
                        })
                    })
                    .collect();
                guv::wait_all(&gts);
            })
        })
        .collect();
    for _ in 0..1000 {
        *m.lock().unwrap() += 1;
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock().unwrap(), 3 * 4 * 500 + 1000);
}

#[test]
fn killed_or_timed_out_mutex_waiters_leave_the_queue() {
    let m = Arc::new(Mutex::new(0));
    let guard = m.lock().unwrap();
    let (m1, m2, m3) = (m.clone(), m.clone(), m.clone());
    let killed = guv::spawn(move || *m1.lock().unwrap() += 100);
    let timed = guv::spawn(move || guv::with_timeout(Duration::from_millis(2), || *m2.lock().unwrap() += 10));
    let patient = guv::spawn(move || *m3.lock().unwrap() += 1);
    guv::gyield();
    killed.kill();
    assert!(timed.wait().unwrap().unwrap_err().is_timed_out());
    drop(guard);
    patient.wait().unwrap();
    assert!(killed.wait().unwrap_err().is_killed());
    assert_eq!(*m.lock().unwrap(), 1);
    assert!(!m.is_poisoned(), "waiting is not holding");
}

#[test]
fn panicking_or_killed_holders_poison() {
    guv::debug::hub_exceptions(false);
    let m = Arc::new(Mutex::new(1));
    let m2 = m.clone();
    let r = guv::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("holder panics");
    })
    .wait();
    assert!(r.unwrap_err().is_panic());
    assert!(m.is_poisoned());
    let err = m.lock().unwrap_err();
    assert_eq!(**err.get_ref(), 1, "the guard is still inside");
    drop(err);
    assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
    m.clear_poison();
    assert!(m.lock().is_ok());

    let m3 = m.clone();
    let holder = guv::spawn(move || {
        let _g = m3.lock().unwrap();
        guv::sleep(LONG);
    });
    guv::gyield();
    holder.kill();
    assert!(m.is_poisoned(), "a kill unwinds like a panic");
    let m = Arc::try_unwrap(m).unwrap();
    assert_eq!(m.into_inner().unwrap_err().into_inner(), 1);
}

#[test]
fn rwlock_readers_share_and_a_queued_writer_holds_off_new_readers() {
    let log = Log::new();
    let lock = Arc::new(RwLock::new(0));
    let r1 = lock.read().unwrap();
    let r2 = lock.read().unwrap();
    assert!(lock.try_write().is_err());
    let (l, w) = (log.clone(), lock.clone());
    let writer = guv::spawn(move || {
        *w.write().unwrap() += 1;
        l.push("writer");
    });
    guv::gyield();
    assert!(lock.try_read().is_err(), "a writer is queued");
    let (l, r) = (log.clone(), lock.clone());
    let reader = guv::spawn(move || {
        let v = *r.read().unwrap();
        l.push(format!("reader saw {v}"));
    });
    guv::gyield();
    drop(r1);
    drop(r2);
    guv::wait_all(&[writer, reader]);
    assert_eq!(log.take(), ["writer", "reader saw 1"]);
}

#[test]
fn rwlock_across_threads() {
    // A writer on this thread holds readers on three threads off, and its
    // release wakes them on their own hubs.
    let lock = Arc::new(RwLock::new(Vec::new()));
    let mut w = lock.write().unwrap();
    let (parked_tx, parked_rx) = std_mpsc::channel();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (lock, parked) = (lock.clone(), parked_tx.clone());
            std::thread::spawn(move || {
                // Runs once `read` below has parked the thread's main greenlet.
                guv::spawn_n(move || parked.send(()).unwrap());
                guv::with_timeout(LONG, || lock.read().unwrap().clone())
            })
        })
        .collect();
    for _ in 0..3 {
        parked_rx.recv().unwrap();
    }
    w.push(1); // written while all three readers wait
    drop(w);
    for r in readers {
        assert_eq!(r.join().unwrap().expect("woken by the writer on another thread"), [1]);
    }

    // And a reader on a plain thread holds a writer greenlet off; its
    // release wakes this thread's hub.
    let (held_tx, held_rx) = std_mpsc::channel();
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let l = lock.clone();
    let holder = std::thread::spawn(move || {
        let g = l.read().unwrap();
        held_tx.send(g.clone()).unwrap();
        release_rx.recv().unwrap();
        drop(g);
    });
    assert_eq!(held_rx.recv().unwrap(), [1]);
    // Runs once main parks in `write` below: only then may the thread let go.
    guv::spawn_n(move || release_tx.send(()).unwrap());
    let wrote = guv::with_timeout(LONG, || lock.write().unwrap().push(2));
    assert!(wrote.is_ok(), "woken by the reader's release on another thread");
    holder.join().unwrap();
    assert_eq!(*lock.read().unwrap(), [1, 2]);
}

#[test]
fn condvar_notifies_in_order_greenlets_and_threads() {
    let log = Log::new();
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let (done_tx, done_rx) = std_mpsc::channel();
    let waiters: Vec<_> = (1..=3)
        .map(|i| {
            let (p, l, done) = (pair.clone(), log.clone(), done_tx.clone());
            guv::spawn(move || {
                let (m, cv) = &*p;
                let g = cv.wait_while(m.lock().unwrap(), |turn| *turn < i).unwrap();
                assert!(*g >= i);
                l.push(format!("w{i}"));
                done.send(i).unwrap();
            })
        })
        .collect();
    guv::gyield();
    // A plain thread drives the greenlets, one turn at a time: it moves on
    // once the turn's waiter is through (turns given faster than the
    // greenlets run could let w3 see turn 3 before w2 ran, woken later).
    let p = pair.clone();
    let driver = std::thread::spawn(move || {
        for turn in 1..=3 {
            *p.0.lock().unwrap() = turn;
            p.1.notify_all();
            assert_eq!(done_rx.recv().unwrap(), turn);
        }
    });
    guv::wait_all(&waiters);
    driver.join().unwrap();
    assert_eq!(log.take(), ["w1", "w2", "w3"]);

    // And a greenlet wakes a plain thread.
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p = pair.clone();
    let (parked_tx, parked_rx) = std_mpsc::channel();
    let thread = std::thread::spawn(move || {
        // Runs once the condvar wait below has parked the thread.
        guv::spawn_n(move || parked_tx.send(()).unwrap());
        let (g, r) = p.1.wait_timeout_while(p.0.lock().unwrap(), LONG, |ready| !*ready).unwrap();
        (*g, r.timed_out())
    });
    parked_rx.recv().unwrap(); // the thread waits on the condvar now
    *pair.0.lock().unwrap() = true;
    pair.1.notify_one();
    assert_eq!(thread.join().unwrap(), (true, false), "notified across threads, not timed out");
}

#[test]
fn condvar_timeouts_and_a_killed_waiter_passes_its_notification_on() {
    let (m, cv) = (Mutex::new(()), Condvar::new());
    let (_g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(2)).unwrap();
    assert!(r.timed_out());
    drop(_g);

    let pair = Arc::new((Mutex::new(0), Condvar::new()));
    let spawn_waiter = || {
        let p = pair.clone();
        guv::spawn(move || {
            let g = p.1.wait(p.0.lock().unwrap()).unwrap();
            *g
        })
    };
    let a = spawn_waiter();
    let b = spawn_waiter();
    guv::gyield();
    pair.1.notify_one(); // goes to `a`...
    a.kill(); // ...which dies before using it: `b` gets it
    assert!(a.wait().unwrap_err().is_killed());
    let r = guv::with_timeout(LONG, || b.wait().unwrap());
    assert_eq!(r.unwrap(), 0);
}

#[test]
fn barrier_releases_greenlets_and_threads_together() {
    let barrier = Arc::new(Barrier::new(4));
    let log = Log::new();
    let gts: Vec<_> = (0..2)
        .map(|i| {
            let (b, l) = (barrier.clone(), log.clone());
            guv::spawn(move || {
                l.push(format!("g{i} before"));
                let leader = b.wait().is_leader();
                l.push(format!("g{i} after"));
                leader
            })
        })
        .collect();
    guv::gyield();
    guv::gyield();
    assert_eq!(log.take(), ["g0 before", "g1 before"], "nobody passes early");
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || b.wait().is_leader())
        })
        .collect();
    let mut leaders: usize = threads.into_iter().map(|t| usize::from(t.join().unwrap())).sum();
    leaders += guv::joinall(gts).into_iter().map(|r| usize::from(r.unwrap())).sum::<usize>();
    assert_eq!(leaders, 1);
    assert_eq!(log.take().len(), 4);
}

#[test]
fn once_family_with_a_blocking_initializer() {
    static INIT: Once = Once::new();
    static CELL: OnceLock<String> = OnceLock::new();
    static LAZY: LazyLock<u32> = LazyLock::new(|| {
        guv::gyield(); // blocks: the others arrive meanwhile
        7
    });
    let log = Log::new();
    let gate = guv::Event::new();
    let gts: Vec<_> = (0..3)
        .map(|i| {
            let (l, gate) = (log.clone(), gate.clone());
            guv::spawn(move || {
                INIT.call_once(|| {
                    l.push(format!("init by {i}"));
                    gate.wait(); // the others park in call_once meanwhile
                });
                let v = CELL.get_or_init(|| {
                    guv::gyield();
                    format!("cell by {i}")
                });
                l.push(format!("{i}: {v} {}", *LAZY));
            })
        })
        .collect();
    guv::gyield();
    assert_eq!(log.take(), ["init by 0"], "one initializer runs, the others wait");
    assert!(!INIT.is_completed());
    gate.set();
    guv::wait_all(&gts);
    assert_eq!(log.take(), ["init by 0", "0: cell by 0 7", "1: cell by 0 7", "2: cell by 0 7"]);
    assert!(INIT.is_completed());
    INIT.wait();
    assert_eq!(CELL.set("again".into()), Err("again".into()));
}

#[test]
fn once_poisoning_and_oncelock_retry() {
    guv::debug::hub_exceptions(false);
    let once = Arc::new(Once::new());
    let o = once.clone();
    assert!(guv::spawn(move || o.call_once(|| panic!("init fails"))).wait().unwrap_err().is_panic());
    let o = once.clone();
    let again = guv::spawn(move || o.call_once(|| ())).wait().unwrap_err();
    assert!(again.panic_message().unwrap().contains("poisoned"));
    let mut saw_poison = false;
    once.call_once_force(|state| saw_poison = state.is_poisoned());
    assert!(saw_poison && once.is_completed());

    let cell = Arc::new(OnceLock::new());
    let c = cell.clone();
    assert!(guv::spawn(move || *c.get_or_init(|| panic!("no value"))).wait().unwrap_err().is_panic());
    assert!(cell.get().is_none(), "a failed initializer leaves the cell empty");
    assert_eq!(*cell.get_or_init(|| 5), 5);

    let lazy = Arc::new(LazyLock::new(|| -> u8 { panic!("lazy fails") }));
    let l = lazy.clone();
    assert!(guv::spawn(move || **l).wait().unwrap_err().is_panic());
    let l = lazy.clone();
    let again = guv::spawn(move || **l).wait().unwrap_err();
    assert!(again.panic_message().unwrap().contains("poisoned"));
}

#[test]
fn oncelock_set_from_a_thread_wakes_a_waiting_greenlet() {
    let cell = Arc::new(OnceLock::new());
    let c = cell.clone();
    let waiter = guv::spawn(move || *c.wait());
    guv::gyield();
    let c = cell.clone();
    std::thread::spawn(move || c.set(11).unwrap()).join().unwrap();
    assert_eq!(waiter.wait().unwrap(), 11);
}

#[test]
fn a_waiter_whose_thread_exited_does_not_swallow_the_wake_up() {
    let m = Arc::new(Mutex::new(0));
    let guard = m.lock().unwrap();
    let m2 = m.clone();
    std::thread::spawn(move || {
        // This greenlet queues first, then its thread exits with it parked:
        // its entry stays in the queue with a waker whose hub is gone.
        guv::spawn_n(move || *m2.lock().unwrap() += 100);
        guv::gyield();
    })
    .join()
    .unwrap();
    let m3 = m.clone();
    let behind = guv::spawn(move || *m3.lock().unwrap() += 1);
    guv::gyield();
    drop(guard);
    let r = guv::with_timeout(LONG, || behind.wait().unwrap());
    assert!(r.is_ok(), "the live waiter behind the dead one was woken");
    assert_eq!(*m.lock().unwrap(), 1);
}

// ----- a greenlet killed while waiting leaves nothing behind ---------------

/// Blocks until killed: a hub-local Event nobody sets.
fn block_forever() {
    guv::Event::new().wait();
}

#[test]
fn a_killed_barrier_waiter_withdraws_its_arrival() {
    let b = Arc::new(Barrier::new(2));
    let b1 = b.clone();
    let a = guv::spawn(move || b1.wait().is_leader());
    guv::gyield(); // `a` arrives and waits
    a.kill();
    assert!(a.wait().unwrap_err().is_killed());
    // One live party is not enough: the next arrival waits...
    let b2 = b.clone();
    let lone = guv::with_timeout(Duration::from_millis(20), move || b2.wait().is_leader());
    assert!(lone.unwrap_err().is_timed_out(), "the barrier counted the killed waiter");
    // ...and the timed-out one withdrew too: two new parties make a round,
    // with exactly one leader.
    let b3 = b.clone();
    let c = guv::spawn(move || b3.wait().is_leader());
    let me = guv::with_timeout(LONG, || b.wait().is_leader()).unwrap();
    assert!(me ^ c.wait().unwrap());
}

#[test]
fn a_barrier_waiter_killed_after_its_round_completed_changes_nothing() {
    let b = Arc::new(Barrier::new(2));
    let b1 = b.clone();
    let a = guv::spawn(move || {
        b1.wait();
        block_forever();
    });
    guv::gyield();
    assert!(b.wait().is_leader(), "main completes the round");
    a.kill();
    // The next round still needs two.
    let b2 = b.clone();
    let c = guv::spawn(move || b2.wait().is_leader());
    let me = guv::with_timeout(LONG, || b.wait().is_leader()).unwrap();
    assert!(me ^ c.wait().unwrap());
}

#[test]
fn a_notified_condvar_waiter_killed_while_relocking_passes_the_notification_on() {
    let pair = Arc::new((Mutex::new(0), Condvar::new()));
    let spawn_waiter = || {
        let p = pair.clone();
        guv::spawn(move || *p.1.wait(p.0.lock().unwrap()).unwrap())
    };
    let a = spawn_waiter();
    let b = spawn_waiter();
    guv::gyield(); // both wait on the condvar
    let mut g = pair.0.lock().unwrap();
    *g = 1;
    pair.1.notify_one(); // for `a`, which then waits for the mutex main holds
    guv::gyield();
    a.kill(); // dies before it could use the notification
    assert!(a.wait().unwrap_err().is_killed());
    drop(g);
    let r = guv::with_timeout(LONG, || b.wait().unwrap());
    assert_eq!(r.unwrap(), 1, "`b` got the notification `a` could not use");
}

#[test]
fn rwlock_a_killed_queued_writer_lets_the_readers_behind_it_in() {
    let lock = Arc::new(RwLock::new(0));
    let held = lock.read().unwrap();
    let l = lock.clone();
    let writer = guv::spawn(move || *l.write().unwrap() += 1);
    guv::gyield();
    assert!(lock.try_read().is_err(), "readers queue behind the writer");
    let l = lock.clone();
    let reader = guv::spawn(move || *l.read().unwrap());
    guv::gyield();
    writer.kill();
    // The reader only waited for the writer: it gets in while `held` is held.
    assert_eq!(guv::with_timeout(LONG, || reader.wait().unwrap()).unwrap(), 0);
    assert!(lock.try_read().is_ok(), "nobody is queued any more");
    drop(held);
    assert!(lock.try_write().is_ok());
}

#[test]
fn rwlock_a_killed_last_writer_does_not_shut_new_readers_out() {
    let lock = Arc::new(RwLock::new(0));
    let held = lock.read().unwrap();
    let l = lock.clone();
    let writer = guv::spawn(move || *l.write().unwrap() += 1);
    guv::gyield();
    writer.kill(); // the queue is empty again
    // A new reader gets in at once (before the fix it spun forever here).
    let l = lock.clone();
    let reader = guv::spawn(move || *l.read().unwrap());
    assert_eq!(guv::with_timeout(LONG, || reader.wait().unwrap()).unwrap(), 0);
    assert!(lock.try_read().is_ok());
    drop(held);
    *lock.write().unwrap() += 1;
    assert_eq!(*lock.read().unwrap(), 1);
}

#[test]
fn once_initializer_killed_poisons_like_a_panic() {
    let once = Arc::new(Once::new());
    let o = once.clone();
    let init = guv::spawn(move || o.call_once(block_forever));
    guv::gyield();
    let o = once.clone();
    let waiter = guv::spawn(move || o.call_once(|| unreachable!("poisoned: call_once does not run")));
    guv::gyield();
    init.kill();
    assert!(init.wait().unwrap_err().is_killed());
    guv::debug::hub_exceptions(false);
    let err = waiter.wait().unwrap_err();
    assert!(err.panic_message().unwrap().contains("poisoned"), "{err:?}");
    assert!(!once.is_completed());
    let mut saw_poison = false;
    once.call_once_force(|state| saw_poison = state.is_poisoned());
    assert!(saw_poison && once.is_completed());
}

#[test]
fn oncelock_initializer_killed_lets_a_waiting_caller_initialize() {
    let cell = Arc::new(OnceLock::new());
    let c = cell.clone();
    let first = guv::spawn(move || {
        *c.get_or_init(|| {
            block_forever();
            1
        })
    });
    guv::gyield();
    let c = cell.clone();
    let second = guv::spawn(move || *c.get_or_init(|| 2));
    let c = cell.clone();
    let reader = guv::spawn(move || *c.wait());
    guv::gyield();
    assert!(cell.get().is_none(), "the others wait for the first initializer");
    first.kill();
    assert!(first.wait().unwrap_err().is_killed());
    assert_eq!(guv::with_timeout(LONG, || second.wait().unwrap()).unwrap(), 2);
    assert_eq!(reader.wait().unwrap(), 2);

    let lazy = Arc::new(LazyLock::new(|| -> u8 {
        block_forever();
        0
    }));
    let l = lazy.clone();
    let init = guv::spawn(move || **l);
    guv::gyield();
    init.kill();
    guv::debug::hub_exceptions(false);
    let l = lazy.clone();
    let again = guv::spawn(move || **l).wait().unwrap_err();
    assert!(again.panic_message().unwrap().contains("poisoned"), "a killed LazyLock initializer poisons, as a panic");
}
