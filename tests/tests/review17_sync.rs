//! Review 17: stable std APIs the green `std::sync` twins lacked, so code
//! that compiled with std failed to compile once `#[guv::patched]` swapped
//! the types: `RwLockWriteGuard::downgrade`, `LazyLock::{force_mut, get,
//! get_mut}` and the deprecated `Condvar::wait_timeout_ms`. `downgrade`
//! must keep std's meaning: the lock is never free in between (a queued
//! writer does not get it), and the readers waiting for it come in at
//! once, on this hub or another thread's.
#![allow(deprecated)]

use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use guv::green::sync::{Condvar, LazyLock, Mutex, RwLock, RwLockWriteGuard};
use guv_tests::Log;

#[test]
fn a_downgraded_write_lets_the_waiting_readers_in_and_no_writer() {
    let lock = Arc::new(RwLock::new(0));
    let log = Log::new();
    let mut w = lock.write().unwrap();
    // A reader of this hub and one of another thread wait for the lock.
    let reader = {
        let (lock, log) = (lock.clone(), log.clone());
        guv::spawn(move || log.push(format!("reader saw {}", *lock.read().unwrap())))
    };
    let (seen_tx, seen_rx) = std_mpsc::channel();
    let (done_tx, done_rx) = guv::green::sync::mpsc::channel::<()>();
    let thread = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            let r = lock.read().unwrap();
            seen_tx.send(*r).unwrap();
            // Holds its read until told: the main greenlet still holds its
            // own meanwhile.
            done_rx.recv().unwrap();
        })
    };
    guv::gyield();
    *w = 7;
    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(*r, 7);
    // The other thread's reader got in while our read is held.
    assert_eq!(seen_rx.recv_timeout(Duration::from_secs(30)), Ok(7));
    reader.wait().unwrap();
    assert_eq!(log.take(), ["reader saw 7"]);
    assert!(lock.try_write().is_err(), "read-held: no writer gets it");
    drop(r);
    done_tx.send(()).unwrap();
    thread.join().unwrap();
    assert!(lock.try_write().is_ok(), "free once every read is released");
}

#[test]
fn a_writer_queued_before_the_downgrade_gets_the_lock_after_the_reads() {
    let lock = Rc::new(RwLock::new(String::new()));
    let log = Log::new();
    let mut w = lock.write().unwrap();
    let writer = {
        let (lock, log) = (lock.clone(), log.clone());
        guv::spawn(move || {
            lock.write().unwrap().push_str("+writer");
            log.push("writer");
        })
    };
    guv::gyield();
    w.push_str("main");
    let r = RwLockWriteGuard::downgrade(w);
    guv::gyield();
    assert_eq!(log.take(), Vec::<String>::new(), "the writer waits for the read");
    assert_eq!(*r, "main");
    drop(r);
    writer.wait().unwrap();
    assert_eq!(log.take(), ["writer"]);
    assert_eq!(*lock.read().unwrap(), "main+writer");
}

#[test]
fn wait_timeout_ms_says_whether_it_was_notified() {
    let pair = Rc::new((Mutex::new(false), Condvar::new()));
    let (m, cv) = &*pair;
    let (g, notified) = cv.wait_timeout_ms(m.lock().unwrap(), 1).unwrap();
    assert!(!notified);
    drop(g);
    let p = pair.clone();
    guv::spawn_n(move || {
        *p.0.lock().unwrap() = true;
        p.1.notify_one();
    });
    let (g, notified) = cv.wait_timeout_ms(m.lock().unwrap(), 30_000).unwrap();
    assert!(notified && *g);
}

#[test]
fn lazy_lock_get_get_mut_and_force_mut_work_as_std() {
    let mut lazy = LazyLock::new(|| vec![1]);
    assert_eq!(LazyLock::get(&lazy), None);
    assert_eq!(LazyLock::get_mut(&mut lazy), None);
    LazyLock::force_mut(&mut lazy).push(2);
    assert_eq!(LazyLock::get(&lazy), Some(&vec![1, 2]));
    LazyLock::get_mut(&mut lazy).unwrap().push(3);
    assert_eq!(*lazy, [1, 2, 3]);
}

// The same calls on std's types, made green by the attribute: this
// compiled with std and not patched.
#[guv::patched]
fn patched_calls() -> (i32, bool, Vec<u8>) {
    let lock = std::sync::RwLock::new(1);
    let w = lock.write().unwrap();
    let read = *std::sync::RwLockWriteGuard::downgrade(w);
    let (m, cv) = (std::sync::Mutex::new(()), std::sync::Condvar::new());
    let (_g, notified) = cv.wait_timeout_ms(m.lock().unwrap(), 1).unwrap();
    let mut lazy = std::sync::LazyLock::new(|| vec![4]);
    std::sync::LazyLock::force_mut(&mut lazy).push(5);
    (read, notified, std::sync::LazyLock::get(&lazy).cloned().unwrap())
}

#[test]
fn patched_code_using_them_compiles_and_runs() {
    assert_eq!(patched_calls(), (1, false, vec![4, 5]));
}
