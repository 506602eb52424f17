//! The hub's deadlock check ("this operation would block forever") and the
//! green locks: a wait that only greenlets of its own thread could end is
//! reported when they are all stuck; a wait that another thread can end
//! never is.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use guv::green::sync::{Mutex, OnceLock, RwLock};

const LONG: Duration = Duration::from_secs(30);

/// Runs `f` on the main greenlet and returns its panic message.
fn blocks_forever<R>(f: impl FnOnce() -> R) -> String {
    let payload = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected the deadlock check to fire"),
        Err(p) => p,
    };
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn main_locking_a_mutex_it_holds_is_an_error_not_a_hang() {
    let m = Mutex::new(1);
    let guard = m.lock().unwrap();
    let msg = blocks_forever(|| m.lock());
    assert!(msg.contains("would block forever"), "{msg:?}");
    // The failed wait left the queue: the mutex works as before.
    drop(guard);
    assert_eq!(*m.lock().unwrap(), 1);
    assert!(!m.is_poisoned());
}

#[test]
fn main_waiting_for_a_mutex_held_by_a_greenlet_that_waits_for_main() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let go = guv::Event::new();
    let (m2, g) = (m.clone(), go.clone());
    let holder = guv::spawn(move || {
        let mut v = m2.lock().unwrap();
        g.wait(); // main would set it after taking the lock: never
        v.push("holder");
    });
    guv::gyield();
    let msg = blocks_forever(|| m.lock().unwrap().push("main"));
    assert!(msg.contains("would block forever"), "{msg:?}");
    // Break the cycle: everything goes on normally.
    go.set();
    holder.wait().unwrap();
    m.lock().unwrap().push("main");
    assert_eq!(*m.lock().unwrap(), ["holder", "main"]);
}

#[test]
fn two_greenlets_locking_in_opposite_orders_are_reported_to_main() {
    let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
    let (a1, b1) = (a.clone(), b.clone());
    let g1 = guv::spawn(move || {
        let _a = a1.lock().unwrap();
        guv::gyield();
        let _b = b1.lock().unwrap();
    });
    let (a2, b2) = (a.clone(), b.clone());
    let g2 = guv::spawn(move || {
        let _b = b2.lock().unwrap();
        guv::gyield();
        let _a = a2.lock().unwrap_or_else(|e| e.into_inner()); // g1 is killed holding it
    });
    let msg = blocks_forever(|| guv::wait_all(std::slice::from_ref(&g1)));
    assert!(msg.contains("would block forever"), "{msg:?}");
    g1.kill();
    g2.wait().unwrap();
    assert!(a.is_poisoned() && !b.is_poisoned());
}

#[test]
fn a_write_lock_and_a_reentrant_oncelock_on_one_thread_are_reported() {
    let lock = RwLock::new(0);
    let w = lock.write().unwrap();
    let msg = blocks_forever(|| *lock.read().unwrap());
    assert!(msg.contains("would block forever"), "{msg:?}");
    drop(w);
    assert_eq!(*lock.read().unwrap(), 0);

    let cell = OnceLock::new();
    let msg = blocks_forever(|| *cell.get_or_init(|| *cell.get_or_init(|| 1)));
    assert!(msg.contains("would block forever"), "{msg:?}");
    assert_eq!(*cell.get_or_init(|| 2), 2, "the failed initializer left the cell empty");
}

#[test]
fn a_lock_held_on_another_thread_is_waited_for() {
    let m = Arc::new(Mutex::new(0));
    let (held_tx, held_rx) = std_mpsc::channel();
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let m2 = m.clone();
    let holder = std::thread::spawn(move || {
        let mut g = m2.lock().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        *g = 5;
    });
    held_rx.recv().unwrap();
    // Runs once main parks in `lock`: from then on this hub has nothing
    // to do until the other thread releases.
    guv::spawn_n(move || release_tx.send(()).unwrap());
    let v = guv::with_timeout(LONG, || *m.lock().unwrap());
    assert_eq!(v.unwrap(), 5, "main waited for the other thread");
    holder.join().unwrap();
}

#[test]
fn a_lock_handed_from_a_local_holder_to_another_thread_is_waited_for() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let go = guv::Event::new();
    // A local greenlet holds the lock...
    let (m1, g) = (m.clone(), go.clone());
    let local = guv::spawn(move || {
        let mut v = m1.lock().unwrap();
        g.wait();
        v.push("local");
    });
    guv::gyield();
    // ...a plain thread queues for it...
    let (parked_tx, parked_rx) = std_mpsc::channel();
    let m2 = m.clone();
    let thread = std::thread::spawn(move || {
        guv::spawn_n(move || parked_tx.send(()).unwrap()); // runs once `lock` parks
        let mut v = m2.lock().unwrap();
        // Holding the lock for a while gives main's hub time to go idle
        // (and run its deadlock check) while only this thread can release.
        std::thread::sleep(Duration::from_millis(50));
        v.push("thread");
    });
    parked_rx.recv().unwrap();
    // ...and main queues behind it; the local holder lets go, handing the
    // lock to the thread. Main must then wait for the thread, not fail.
    guv::spawn_n(move || go.set());
    let r = guv::with_timeout(LONG, || m.lock().unwrap().push("main"));
    assert!(r.is_ok());
    local.wait().unwrap();
    thread.join().unwrap();
    assert_eq!(*m.lock().unwrap(), ["local", "thread", "main"]);
}

#[test]
fn a_local_holder_that_sleeps_is_waited_for() {
    let m = Arc::new(Mutex::new(0));
    let m1 = m.clone();
    let holder = guv::spawn(move || {
        let mut g = m1.lock().unwrap();
        guv::sleep(Duration::from_millis(2)); // a timer can wake it
        *g = 1;
    });
    guv::gyield();
    assert_eq!(*m.lock().unwrap(), 1);
    holder.wait().unwrap();
}
