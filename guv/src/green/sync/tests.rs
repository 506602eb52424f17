//! Unit tests of the lock cells (`cell.rs`, `raw.rs`) that touch neither
//! a hub nor a system call, so that Miri can run them: its aliasing model
//! checks the guards' `&T`/`&mut T` out of the `UnsafeCell`, and its data
//! race detector checks the lock word's orderings when several OS threads
//! take turns. Contention only ever spins on the `try_` calls here: a
//! blocking acquire that finds the lock held parks on a hub, which needs a
//! context switch that Miri cannot run. See "Dynamic checkers" in
//! docs/ARCHITECTURE.md.

use std::sync::{Arc, TryLockError};

use super::{Mutex, RwLock, RwLockWriteGuard};

/// Takes `try_` turns until `f` succeeds.
fn spin<T>(mut f: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(v) = f() {
            return v;
        }
        std::thread::yield_now();
    }
}

const THREADS: usize = 3;
// Few rounds: Miri runs this about a thousand times slower than native.
const ROUNDS: usize = 20;

#[test]
fn mutex_guards_of_several_threads_hand_the_data_on_in_turn() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    let mut g = spin(|| m.try_lock().ok());
                    // A plain read-modify-write of the data: a race if the
                    // lock word did not order the holders.
                    g.push((t, i));
                    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)), "held");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let v = m.lock().unwrap();
    assert_eq!(v.len(), THREADS * ROUNDS);
    for t in 0..THREADS {
        let mine: Vec<_> = v.iter().filter(|(o, _)| *o == t).map(|(_, i)| *i).collect();
        assert_eq!(mine, (0..ROUNDS).collect::<Vec<_>>(), "thread {t}'s pushes in its order");
    }
}

#[test]
fn rwlock_readers_share_and_writers_exclude_across_threads() {
    let l = Arc::new(RwLock::new((0usize, 0usize)));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let l = l.clone();
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    if t == 0 {
                        let mut w = spin(|| l.try_write().ok());
                        // Two fields written apart: a reader that saw them
                        // differ would have read during a write.
                        w.0 += 1;
                        std::thread::yield_now();
                        w.1 += 1;
                        // Still no writer can come in, and readers can now.
                        let r = RwLockWriteGuard::downgrade(w);
                        assert_eq!(r.0, r.1);
                        assert!(l.try_write().is_err(), "downgraded, still held");
                    } else {
                        let r = spin(|| l.try_read().ok());
                        assert_eq!(r.0, r.1, "a reader saw a write half done");
                        let again = l.try_read();
                        if let Ok(again) = again {
                            assert_eq!((again.0, again.1), (r.0, r.1), "two shared holds see one value");
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*l.read().unwrap(), (ROUNDS, ROUNDS));
}

#[test]
fn guards_reach_unsized_data_and_poison_survives_into_inner() {
    let m: Arc<Mutex<[u8]>> = Arc::new(Mutex::new([0u8; 4]));
    m.lock().unwrap()[1] = 7;
    let r = {
        let m = m.clone();
        std::thread::spawn(move || {
            let mut g = m.lock().unwrap();
            g[2] = 9;
            panic!("poison it");
        })
        .join()
    };
    assert!(r.is_err());
    assert!(m.is_poisoned());
    assert_eq!(&*m.lock().unwrap_err().into_inner(), &[0, 7, 9, 0]);
    m.clear_poison();
    assert_eq!(&*m.try_lock().unwrap(), &[0, 7, 9, 0]);

    let mut l = RwLock::new(String::from("a"));
    l.get_mut().unwrap().push('b');
    l.write().unwrap().push('c');
    let (r1, r2) = (l.read().unwrap(), l.try_read().unwrap());
    assert_eq!((r1.as_str(), r2.as_str()), ("abc", "abc"));
    drop((r1, r2));
    assert_eq!(l.into_inner().unwrap(), "abc");
}
