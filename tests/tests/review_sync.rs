//! Adversarial review of the green `std::sync` / `std::thread` mirror and
//! the cross-thread machinery (`block_on`, async sockets, remote wake-ups):
//! mixed greenlet / plain-thread / several-hub cases, and greenlets killed
//! while they wait.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use guv::green::sync::mpsc::{self, RecvTimeoutError, TryRecvError, TrySendError};
use guv::green::sync::{Barrier, Condvar, LazyLock, Mutex, Once, OnceLock, RwLock, TryLockError};
use guv::green::thread;
use guv_tests::Log;

const LONG: Duration = Duration::from_secs(30);

/// A log that threads can share.
#[derive(Clone, Default)]
struct SLog(Arc<std::sync::Mutex<Vec<String>>>);

impl SLog {
    fn push(&self, e: impl Into<String>) {
        self.0.lock().unwrap().push(e.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Runs `f` on a new OS thread (with its own hub) and returns its handle.
fn os_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
    std::thread::spawn(f)
}

// ----- Mutex across hubs and plain threads ---------------------------------

#[test]
fn mutex_held_on_hub_a_is_handed_to_an_os_thread_and_a_greenlet_on_hub_b() {
    let m = Arc::new(Mutex::new(Vec::<&str>::new()));
    let (held_tx, held_rx) = std_mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    // Hub A: a greenlet takes the lock and holds it until told.
    let a = {
        let m = m.clone();
        os_thread(move || {
            let holder = guv::spawn(move || {
                let mut g = m.lock().unwrap();
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                g.push("a");
            });
            holder.wait().unwrap();
        })
    };
    held_rx.recv().unwrap();
    // A plain OS thread waits.
    let t = {
        let m = m.clone();
        os_thread(move || m.lock().unwrap().push("thread"))
    };
    // Hub B: two greenlets wait, one of them is killed while it waits.
    let (b_ready_tx, b_ready_rx) = std_mpsc::channel();
    let b = {
        let m = m.clone();
        os_thread(move || {
            let m2 = m.clone();
            let killed = guv::spawn(move || {
                let _g = m2.lock().unwrap();
                unreachable!("killed while waiting");
            });
            let waiter = guv::spawn(move || m.lock().unwrap().push("hub b"));
            guv::gyield();
            killed.kill();
            assert!(killed.wait().is_err());
            // Only now may hub A let go: had the lock come free earlier,
            // `killed` would have taken it and panicked holding it.
            b_ready_tx.send(()).unwrap();
            waiter.wait().unwrap();
        })
    };
    b_ready_rx.recv().unwrap();
    // Give the plain thread a moment to queue too (whether it waits or
    // comes after the release is not asserted), then release.
    std::thread::sleep(Duration::from_millis(50));
    go_tx.send(()).unwrap();
    a.join().unwrap();
    t.join().unwrap();
    b.join().unwrap();
    let mut got = m.lock().unwrap().clone();
    assert!(!m.is_poisoned(), "a killed waiter never held the lock");
    assert_eq!(got.remove(0), "a");
    got.sort();
    assert_eq!(got, ["hub b", "thread"]);
}

#[test]
fn try_lock_on_a_held_mutex_is_would_block_from_any_thread() {
    let m = Arc::new(Mutex::new(()));
    let g = m.lock().unwrap();
    let m2 = m.clone();
    let r = os_thread(move || matches!(m2.try_lock(), Err(TryLockError::WouldBlock))).join().unwrap();
    assert!(r);
    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    drop(g);
    assert!(m.try_lock().is_ok());
}

// ----- RwLock --------------------------------------------------------------

#[test]
fn a_queued_writer_refuses_new_readers_and_gets_the_lock_next() {
    let log = SLog::default();
    let l = Arc::new(RwLock::new(0));
    let r1 = l.read().unwrap();
    let w = {
        let (l, log) = (l.clone(), log.clone());
        os_thread(move || {
            *l.write().unwrap() += 1;
            log.push("writer");
        })
    };
    // Wait until the writer is queued: a new reader is refused.
    let mut refused = false;
    for _ in 0..5000 {
        if matches!(l.try_read(), Err(TryLockError::WouldBlock)) {
            refused = true;
            break;
        }
        guv::sleep(Duration::from_millis(1));
    }
    assert!(refused, "a queued writer must block new readers");
    let reader = {
        let (l, log) = (l.clone(), log.clone());
        guv::spawn(move || {
            let v = *l.read().unwrap();
            log.push(format!("reader saw {v}"));
        })
    };
    guv::gyield();
    drop(r1);
    w.join().unwrap();
    reader.wait().unwrap();
    assert_eq!(log.take(), ["writer", "reader saw 1"]);
}

#[test]
fn killed_queued_writer_lets_readers_behind_it_in() {
    let l = Arc::new(RwLock::new(()));
    let r1 = l.read().unwrap();
    let w = {
        let l = l.clone();
        guv::spawn(move || drop(l.write().unwrap()))
    };
    guv::gyield();
    let got = Rc::new(RefCell::new(false));
    let reader = {
        let (l, got) = (l.clone(), got.clone());
        guv::spawn(move || {
            let _r = l.read().unwrap();
            *got.borrow_mut() = true;
        })
    };
    guv::gyield();
    assert!(!*got.borrow(), "the reader queues behind the writer");
    w.kill();
    reader.wait().unwrap();
    assert!(*got.borrow());
    drop(r1);
    assert!(l.try_write().is_ok());
}

// ----- Condvar -------------------------------------------------------------

#[test]
fn a_notified_condvar_waiter_that_is_killed_passes_the_notification_on() {
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let log = Log::new();
    let waiters: Vec<_> = (0..2)
        .map(|i| {
            let (pair, log) = (pair.clone(), log.clone());
            guv::spawn(move || {
                let (m, c) = &*pair;
                let mut g = m.lock().unwrap();
                while *g == 0 {
                    g = c.wait(g).unwrap();
                }
                *g -= 1;
                log.push(format!("w{i}"));
            })
        })
        .collect();
    guv::gyield();
    // One item, one notify: w0 is woken, then killed before it runs.
    *pair.0.lock().unwrap() += 1;
    pair.1.notify_one();
    waiters[0].kill();
    guv::with_timeout(Duration::from_secs(5), || {
        while !waiters[1].is_finished() {
            guv::sleep(Duration::from_millis(1));
        }
    })
    .expect("the notification must reach w1");
    assert_eq!(log.take(), ["w1"]);
}

#[test]
fn condvar_notify_from_another_hub_reaches_a_waiter_and_times_out_otherwise() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let (m, c) = &*pair;
    let (g, r) = c.wait_timeout(m.lock().unwrap(), Duration::from_millis(20)).unwrap();
    assert!(r.timed_out());
    assert!(!*g);
    let p = pair.clone();
    let t = os_thread(move || {
        let waiter = guv::spawn(move || {
            let (m, c) = &*p;
            *m.lock().unwrap() = true;
            c.notify_all();
        });
        waiter.wait().unwrap();
    });
    let (g, r) = c.wait_timeout_while(g, LONG, |ready| !*ready).unwrap();
    assert!(!r.timed_out());
    assert!(*g);
    t.join().unwrap();
}

// ----- Barrier -------------------------------------------------------------

#[test]
fn a_killed_barrier_waiter_does_not_count_as_arrived() {
    let b = Arc::new(Barrier::new(3));
    let victim = {
        let b = b.clone();
        guv::spawn(move || b.wait())
    };
    let first = {
        let b = b.clone();
        guv::spawn(move || b.wait().is_leader())
    };
    guv::gyield();
    victim.kill();
    assert!(victim.wait().is_err());
    // Two arrivals (first and a thread) are not enough; a third is.
    let b2 = b.clone();
    let t = os_thread(move || b2.wait().is_leader());
    // Were the victim counted, the thread's arrival would complete the
    // barrier: the thread would return and `first` (free to run during a
    // green sleep) would finish. Time can only hide that, not fake it.
    guv::sleep(Duration::from_millis(30));
    assert!(!first.is_finished() && !t.is_finished());
    let me = b.wait().is_leader();
    let leaders = [me, first.wait().unwrap(), t.join().unwrap()];
    assert_eq!(leaders.iter().filter(|l| **l).count(), 1);
}

// ----- Once / OnceLock / LazyLock ------------------------------------------

#[test]
fn lazylock_whose_init_panics_is_poisoned_like_std() {
    static LAZY: LazyLock<u32> = LazyLock::new(|| panic!("init failed"));
    let first = std::panic::catch_unwind(|| *LAZY);
    assert!(first.is_err());
    let second = std::panic::catch_unwind(|| *LAZY);
    let msg = second.unwrap_err();
    let msg = msg.downcast_ref::<&str>().copied().or(msg.downcast_ref::<String>().map(|s| s.as_str())).unwrap();
    assert!(msg.contains("poisoned"), "{msg}");
}

#[test]
fn once_reentered_from_its_own_initializer_does_not_hang() {
    static ONCE: Once = Once::new();
    let r = std::panic::catch_unwind(|| ONCE.call_once(|| ONCE.call_once(|| ())));
    assert!(r.is_err(), "std: may deadlock or panic; guv reports it");
    assert!(!ONCE.is_completed());
}

#[test]
fn oncelock_waiters_on_several_hubs_see_one_initialization() {
    let cell = Arc::new(OnceLock::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let ts: Vec<_> = (0..3)
        .map(|i| {
            let (cell, runs) = (cell.clone(), runs.clone());
            os_thread(move || {
                let gs: Vec<_> = (0..3)
                    .map(|j| {
                        let (cell, runs) = (cell.clone(), runs.clone());
                        guv::spawn(move || {
                            *cell.get_or_init(|| {
                                runs.fetch_add(1, Ordering::SeqCst);
                                guv::sleep(Duration::from_millis(20));
                                i * 10 + j
                            })
                        })
                    })
                    .collect();
                gs.into_iter().map(|g| g.wait().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<_> = ts.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(all.iter().all(|v| *v == all[0]));
}

#[test]
fn a_killed_once_initializer_poisons_and_the_next_call_once_force_runs() {
    let once = Arc::new(Once::new());
    let o = once.clone();
    let init = guv::spawn(move || o.call_once(|| guv::sleep(LONG)));
    guv::gyield();
    let o = once.clone();
    let waiter = guv::spawn(move || std::panic::catch_unwind(|| o.call_once(|| ())).is_err());
    guv::gyield();
    init.kill();
    assert!(waiter.wait().unwrap(), "call_once on a poisoned Once panics");
    let mut poisoned = false;
    once.call_once_force(|s| poisoned = s.is_poisoned());
    assert!(poisoned);
    assert!(once.is_completed());
}

// ----- mpsc ----------------------------------------------------------------

#[test]
fn mpsc_senders_on_three_threads_and_a_killed_receiver_lose_nothing() {
    let (tx, rx) = mpsc::channel::<u32>();
    let rx = Rc::new(rx);
    let got = Rc::new(RefCell::new(Vec::new()));
    // Two receiving greenlets share the receiver; the first is killed
    // while it waits (maybe just after being woken).
    let victim = {
        let rx = rx.clone();
        guv::spawn(move || rx.recv())
    };
    guv::gyield();
    let survivor = {
        let (rx, got) = (rx.clone(), got.clone());
        guv::spawn(move || {
            while let Ok(v) = rx.recv() {
                got.borrow_mut().push(v);
            }
        })
    };
    guv::gyield();
    let gate = Arc::new(Barrier::new(4));
    let mut threads = Vec::new();
    // A plain thread, a greenlet on another hub, and a greenlet there too.
    for t in 0..3u32 {
        let (tx, gate) = (tx.clone(), gate.clone());
        threads.push(os_thread(move || {
            let g = guv::spawn(move || {
                gate.wait();
                for i in 0..100 {
                    tx.send(t * 1000 + i).unwrap();
                }
            });
            g.wait().unwrap();
        }));
    }
    drop(tx);
    gate.wait();
    victim.kill();
    for t in threads {
        t.join().unwrap();
    }
    survivor.wait().unwrap();
    let mut got = got.take();
    if let Ok(Ok(v)) = victim.wait() {
        got.push(v);
    }
    got.sort();
    let want: Vec<u32> = (0..3).flat_map(|t| (0..100).map(move |i| t * 1000 + i)).collect();
    assert_eq!(got, want);
}

#[test]
fn send_after_the_receiver_dropped_gives_the_value_back() {
    let (tx, rx) = mpsc::channel::<String>();
    let (stx, srx) = mpsc::sync_channel::<String>(1);
    drop(rx);
    drop(srx);
    assert_eq!(tx.send("a".into()).unwrap_err().0, "a");
    assert_eq!(stx.send("b".into()).unwrap_err().0, "b");
    assert!(matches!(stx.try_send("c".into()), Err(TrySendError::Disconnected(s)) if s == "c"));
}

#[test]
fn recv_drains_before_reporting_disconnection() {
    let (tx, rx) = mpsc::sync_channel(3);
    os_thread(move || {
        for i in 0..3 {
            tx.send(i).unwrap();
        }
    })
    .join()
    .unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn rendezvous_send_waits_for_the_receiver_and_is_given_back_on_drop() {
    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))), "nobody waits to receive");
    let log = SLog::default();
    let sender = {
        let (tx, log) = (tx.clone(), log.clone());
        os_thread(move || {
            tx.send(7).unwrap();
            log.push("sent 7");
            let r = tx.send(8);
            log.push("second send returned");
            r.map_err(|e| e.0)
        })
    };
    assert_eq!(rx.recv_timeout(LONG), Ok(7));
    // The sender is now blocked on 8 until we drop the receiver.
    for _ in 0..5000 {
        if log.snapshot().contains(&"sent 7".to_string()) {
            break;
        }
        guv::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    drop(rx);
    // std: 8 is either received (it was not) or given back.
    assert_eq!(sender.join().unwrap(), Err(8));
}

#[test]
fn a_killed_rendezvous_sender_withdraws_its_item() {
    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let tx2 = tx.clone();
    let victim = guv::spawn(move || tx2.send(1));
    guv::gyield();
    victim.kill();
    assert!(victim.wait().is_err());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "the item went with its sender");
    let ok = guv::spawn(move || tx.send(2));
    assert_eq!(rx.recv(), Ok(2));
    ok.wait().unwrap().unwrap();
}

#[test]
fn recv_timeout_times_out_then_receives_from_another_hub() {
    let (tx, rx) = mpsc::channel();
    assert_eq!(rx.recv_timeout(Duration::from_millis(10)), Err(RecvTimeoutError::Timeout));
    let t = os_thread(move || {
        guv::sleep(Duration::from_millis(10));
        tx.send(5).unwrap();
    });
    assert_eq!(rx.recv_timeout(LONG), Ok(5));
    t.join().unwrap();
}

// ----- green threads -------------------------------------------------------

#[test]
fn unpark_before_park_makes_park_return_at_once() {
    let t = thread::current();
    t.unpark();
    thread::park(); // returns: the token was there
    // Unpark from another OS thread wakes a parked greenlet.
    let (tx, rx) = mpsc::channel::<thread::Thread>();
    let h = thread::spawn(move || {
        tx.send(thread::current()).unwrap();
        thread::park();
        "woke"
    });
    let target = rx.recv().unwrap();
    os_thread(move || target.unpark()).join().unwrap();
    assert_eq!(h.join().unwrap(), "woke");
}

#[test]
fn park_timeout_returns_after_the_timeout_and_keeps_no_stale_token() {
    thread::park_timeout(Duration::from_millis(5));
    let t = thread::current();
    let u = thread::spawn(move || t.unpark());
    u.join().unwrap();
    thread::park(); // the token from the unpark above
    // No token left: park_timeout waits the full time again.
    let start = std::time::Instant::now();
    thread::park_timeout(Duration::from_millis(20));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn a_killed_parked_green_thread_does_not_leave_a_token_for_the_next_park() {
    let t = thread::current();
    let gt = guv::spawn(thread::park);
    guv::gyield();
    gt.kill();
    assert!(gt.wait().is_err());
    t.unpark();
    thread::park();
}

#[test]
fn join_handle_gives_thread_result_and_is_finished() {
    let h = thread::Builder::new().name("worker".into()).stack_size(64 * 1024).spawn(|| {
        assert_eq!(thread::current().name(), Some("worker"));
        panic!("boom")
    });
    let h = h.unwrap();
    assert!(!h.is_finished());
    while !h.is_finished() {
        guv::gyield();
    }
    let err = h.join().unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
    // Joined from another OS thread.
    let h = thread::spawn(|| 3);
    let (tx, rx) = mpsc::channel();
    let joiner = os_thread(move || tx.send(h.join().unwrap()).unwrap());
    assert_eq!(rx.recv(), Ok(3)); // parks: the green thread runs meanwhile
    joiner.join().unwrap();
}

#[test]
fn scope_joins_all_threads_and_propagates_an_unjoined_panic() {
    let counter = AtomicUsize::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    guv::sleep(Duration::from_millis(5));
                    counter.fetch_add(1, Ordering::SeqCst);
                });
            }
            s.spawn(|| panic!("scoped"));
        })
    }));
    assert!(r.is_err());
    assert_eq!(counter.load(Ordering::SeqCst), 3);
    // A joined panic does not propagate.
    let v = thread::scope(|s| s.spawn(|| panic!("joined")).join().is_err());
    assert!(v);
}

// ----- block_on and async sockets ------------------------------------------

#[test]
fn block_on_woken_from_another_thread_after_the_greenlet_was_killed_is_harmless() {
    struct Shared {
        waker: Option<std::task::Waker>,
    }
    let shared = Arc::new(std::sync::Mutex::new(Shared { waker: None }));
    let s = shared.clone();
    let gt = guv::spawn(move || {
        guv::block_on(std::future::poll_fn(|cx| {
            s.lock().unwrap().waker = Some(cx.waker().clone());
            std::task::Poll::<()>::Pending
        }))
    });
    guv::gyield();
    gt.kill();
    assert!(gt.wait().is_err());
    let w = shared.lock().unwrap().waker.take().unwrap();
    os_thread(move || {
        w.wake_by_ref();
        w.wake();
    })
    .join()
    .unwrap();
    // The hub goes on.
    guv::sleep(Duration::from_millis(1));
    assert_eq!(guv::spawn(|| 1).wait().unwrap(), 1);
}

#[test]
fn an_abandoned_async_read_does_not_keep_the_socket_open() {
    use futures_lite::AsyncReadExt;
    let (mut a, b) = guv::net::unix::UnixStream::pair().unwrap();
    // Poll a read once and abandon it (as a select or timeout would).
    let mut buf = [0u8; 8];
    let pending = guv::block_on(futures_lite::future::poll_once(a.read(&mut buf)));
    assert!(pending.is_none());
    drop(a);
    // The peer sees the close.
    let mut b = b;
    let r = guv::with_timeout(Duration::from_secs(5), || std::io::Read::read(&mut b, &mut buf));
    assert_eq!(r.expect("the peer must see EOF, not hang").unwrap(), 0);
}

#[test]
fn repeated_polls_of_a_pending_async_read_do_not_pile_up_greenlets() {
    use futures_lite::AsyncReadExt;
    let (mut a, mut b) = guv::net::unix::UnixStream::pair().unwrap();
    let before = guv::hub::stats().live_greenlets;
    let mut buf = [0u8; 8];
    for _ in 0..100 {
        let pending = guv::block_on(futures_lite::future::poll_once(a.read(&mut buf)));
        assert!(pending.is_none());
    }
    let helpers = guv::hub::stats().live_greenlets - before;
    assert!(helpers <= 2, "{helpers} helper greenlets for one pending read");
    std::io::Write::write_all(&mut b, b"x").unwrap();
    let n = guv::block_on(a.read(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"x");
}

// ---- a greenlet parked mid-unwind is its own business ----------------------

/// Adds 10 to the counter under the lock when dropped (parking while
/// another greenlet holds it).
struct LockOnDrop(Arc<Mutex<u32>>);

impl Drop for LockOnDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += 10;
    }
}

/// A greenlet that sleeps holding a [`LockOnDrop`]: killed, it unwinds
/// and takes the lock in its destructor.
fn spawn_locking_on_drop(m: Arc<Mutex<u32>>) -> guv::GreenThread<()> {
    guv::spawn(move || {
        let _d = LockOnDrop(m);
        guv::sleep(LONG);
    })
}

/// A greenlet that a kill makes unwind through a destructor which parks
/// (it takes a lock another greenlet holds) must not make the other
/// greenlets of its thread look as if they were panicking: the holder's
/// guard, dropped normally, must not poison the lock.
#[test]
fn a_greenlet_parked_while_unwinding_does_not_poison_other_greenlets_locks() {
    let m = Arc::new(Mutex::new(0));
    let release = Rc::new(guv::Event::new());
    let holder = {
        let (m, release) = (m.clone(), release.clone());
        guv::spawn(move || {
            let mut g = m.lock().unwrap();
            release.wait();
            *g += 1;
        })
    };
    guv::gyield();
    let victim = spawn_locking_on_drop(m.clone());
    guv::gyield();
    // The victim unwinds and parks in its destructor, waiting for the lock.
    victim.kill();
    assert!(!victim.is_finished());
    release.set();
    holder.wait().unwrap();
    assert!(victim.wait().is_err());
    assert!(!m.is_poisoned(), "nobody panicked while holding the lock");
    assert_eq!(*m.lock().unwrap(), 11);
}

/// The other half: while a greenlet is parked mid-unwind, another greenlet
/// of the thread can still be killed (its kill is not held back as if it
/// were unwinding already).
#[test]
fn a_greenlet_parked_while_unwinding_does_not_make_others_unkillable() {
    let m = Arc::new(Mutex::new(0));
    let guard = m.lock().unwrap();
    let victim = spawn_locking_on_drop(m.clone());
    guv::gyield();
    victim.kill(); // parks in its destructor: main holds the lock
    let sleeper = guv::spawn(|| guv::sleep(LONG));
    guv::gyield();
    let r = guv::with_timeout(Duration::from_secs(5), || {
        sleeper.kill();
        sleeper.wait().is_err()
    });
    drop(guard);
    assert!(victim.wait().is_err());
    assert_eq!(r.ok(), Some(true), "the sleeper was killed promptly");
}
