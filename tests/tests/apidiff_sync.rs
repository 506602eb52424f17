//! API completeness of the green `std::sync` (issue 4): patched code that
//! uses every stable item of `std::sync`'s blocking types, the way plain
//! std code does, compiles against the green twins and behaves as std's.
//! Each test also checks that the patch did swap the type in.

use std::any::type_name;
use std::panic::{RefUnwindSafe, UnwindSafe};

/// True when `T` is one of guv's types (the patch swapped it in).
fn green<T: ?Sized>(_: &T) -> bool {
    type_name::<T>().starts_with("guv::")
}

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

#[guv::test]
fn mutex_every_stable_item() {
    use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
    send_sync::<Mutex<u8>>();
    sync::<MutexGuard<'static, u8>>();
    unwind_safe::<Mutex<u8>>();
    static GLOBAL: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    GLOBAL.lock().unwrap().push(1);
    let m = Mutex::new(1);
    assert!(green(&m));
    {
        let mut g: MutexGuard<'_, i32> = m.lock().unwrap();
        *g += 1;
        assert_eq!(format!("{g:?} {g}"), "2 2");
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    }
    assert_eq!(*m.try_lock().unwrap(), 2);
    assert_eq!(format!("{m:?}"), "Mutex { data: 2, poisoned: false, .. }");
    let shared = Arc::new(Mutex::from(5));
    let s = shared.clone();
    let _ = std::thread::spawn(move || {
        let _g = s.lock().unwrap();
        panic!("poison it");
    })
    .join();
    assert!(shared.is_poisoned());
    assert_eq!(*shared.lock().unwrap_err().into_inner(), 5);
    shared.clear_poison();
    assert!(!shared.is_poisoned());
    let mut d: Mutex<String> = Mutex::default();
    d.get_mut().unwrap().push('x');
    assert_eq!(d.into_inner().unwrap(), "x");
    let unsized_: &Mutex<[u8]> = &Mutex::new([1u8, 2]);
    assert_eq!(unsized_.lock().unwrap().len(), 2);
}

#[guv::test]
fn rwlock_every_stable_item() {
    use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
    send_sync::<RwLock<u8>>();
    sync::<RwLockReadGuard<'static, u8>>();
    sync::<RwLockWriteGuard<'static, u8>>();
    unwind_safe::<RwLock<u8>>();
    static GLOBAL: RwLock<u8> = RwLock::new(0);
    *GLOBAL.write().unwrap() += 1;
    let l = RwLock::new(vec![1]);
    assert!(green(&l));
    {
        let r1 = l.read().unwrap();
        let r2 = l.try_read().unwrap();
        assert_eq!(format!("{r1:?} {:?}", *r2), "[1] [1]");
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
    }
    let mut w = l.write().unwrap();
    w.push(2);
    assert_eq!(format!("{w:?}"), "[1, 2]");
    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(*l.try_read().unwrap(), [1, 2]);
    drop(r);
    assert!(l.try_write().is_ok());
    let shown = RwLock::new(7);
    let r = format!("{}", shown.read().unwrap());
    let w = format!("{}", shown.write().unwrap());
    assert_eq!((r.as_str(), w.as_str()), ("7", "7"));
    assert_eq!(format!("{shown:?}"), "RwLock { data: 7, poisoned: false, .. }");
    assert!(!shown.is_poisoned());
    shown.clear_poison();
    let mut d: RwLock<u8> = RwLock::default();
    *d.get_mut().unwrap() = 3;
    assert_eq!(RwLock::from(4).into_inner().unwrap() + d.into_inner().unwrap(), 7);
}

#[guv::test]
fn condvar_every_stable_item() {
    use std::sync::{Arc, Condvar, Mutex, WaitTimeoutResult};
    use std::time::Duration;
    send_sync::<Condvar>();
    unwind_safe::<Condvar>();
    static CV: Condvar = Condvar::new();
    CV.notify_all();
    let pair = Arc::new((Mutex::new(0), Condvar::default()));
    assert!(green(&pair.1));
    assert_eq!(format!("{:?}", pair.1), "Condvar { .. }");
    let p = pair.clone();
    let h = std::thread::spawn(move || {
        for _ in 0..4 {
            *p.0.lock().unwrap() += 1;
            p.1.notify_one();
            std::thread::yield_now();
        }
    });
    let (m, cv) = &*pair;
    let mut g = m.lock().unwrap();
    while *g == 0 {
        g = cv.wait(g).unwrap();
    }
    let g = cv.wait_while(g, |n| *n < 2).unwrap();
    let (g, r): (_, WaitTimeoutResult) = cv.wait_timeout_while(g, Duration::from_secs(30), |n| *n < 4).unwrap();
    assert!(!r.timed_out());
    assert_eq!(*g, 4);
    let (g, r) = cv.wait_timeout(g, Duration::from_millis(1)).unwrap();
    assert!(r.timed_out());
    #[allow(deprecated)]
    let (g, timed_out) = cv.wait_timeout_ms(g, 1).unwrap();
    assert!(!timed_out);
    drop(g);
    h.join().unwrap();
}

#[guv::test]
fn barrier_once_oncelock_lazylock_every_stable_item() {
    use std::sync::{Arc, Barrier, BarrierWaitResult, LazyLock, Once, OnceLock, OnceState};
    send_sync::<Barrier>();
    unwind_safe::<Barrier>();
    send_sync::<Once>();
    unwind_safe::<Once>();
    send_sync::<OnceLock<u8>>();
    unwind_safe::<OnceLock<u8>>();
    send_sync::<LazyLock<u8>>();
    unwind_safe::<LazyLock<u8>>();

    static B: Barrier = Barrier::new(1);
    assert!(B.wait().is_leader());
    let b = Arc::new(Barrier::new(2));
    assert!(green(&*b));
    assert_eq!(format!("{b:?}"), "Barrier { .. }");
    let b2 = b.clone();
    let h = std::thread::spawn(move || b2.wait().is_leader());
    let mine: BarrierWaitResult = b.wait();
    assert!(mine.is_leader() ^ h.join().unwrap());
    assert!(format!("{mine:?}").starts_with("BarrierWaitResult"));

    static O: Once = Once::new();
    let mut runs = 0;
    O.call_once(|| runs += 1);
    O.call_once(|| runs += 1);
    assert_eq!(runs, 1);
    assert!(O.is_completed());
    O.wait();
    O.wait_force();
    let o = Once::new();
    assert!(green(&o));
    let _ = std::panic::catch_unwind(|| o.call_once(|| panic!("poison")));
    let mut saw: Option<bool> = None;
    o.call_once_force(|s: &OnceState| saw = Some(s.is_poisoned()));
    assert_eq!(saw, Some(true));
    assert_eq!(format!("{o:?}"), "Once { .. }");

    static CELL: OnceLock<String> = OnceLock::new();
    assert_eq!(CELL.get_or_init(|| "a".into()), "a");
    assert_eq!(CELL.wait(), "a");
    let mut c: OnceLock<u8> = OnceLock::default();
    assert!(green(&c));
    assert_eq!(c.get(), None);
    assert_eq!(c.set(1), Ok(()));
    assert_eq!(c.set(2), Err(2));
    *c.get_mut().unwrap() += 1;
    assert_eq!(format!("{c:?}"), "OnceLock(2)");
    assert_eq!(c.clone(), OnceLock::from(2));
    assert_eq!(c.take(), Some(2));
    assert_eq!(OnceLock::from(3).into_inner(), Some(3));

    static LAZY: LazyLock<Vec<u8>> = LazyLock::new(|| vec![1, 2]);
    assert_eq!(LAZY.len(), 2);
    let mut l = LazyLock::new(|| 10);
    assert!(green(&l));
    assert_eq!(LazyLock::get(&l), None);
    assert_eq!(LazyLock::get_mut(&mut l), None);
    *l += 1; // DerefMut
    *LazyLock::force_mut(&mut l) += 1;
    assert_eq!(*LazyLock::force(&l), 12);
    assert_eq!(LazyLock::get(&l), Some(&12));
    assert_eq!(format!("{l:?}"), "LazyLock(12)");
    let d: LazyLock<u8> = LazyLock::default();
    assert_eq!(*d, 0);
}

#[guv::test]
fn mpsc_every_stable_item() {
    use std::sync::mpsc::{
        self, IntoIter, Iter, Receiver, RecvError, RecvTimeoutError, SendError, Sender, SyncSender, TryIter,
        TryRecvError, TrySendError,
    };
    use std::time::Duration;
    send_sync::<Sender<u8>>();
    send_sync::<SyncSender<u8>>();
    send::<Receiver<u8>>();
    let (tx, rx): (Sender<u8>, Receiver<u8>) = mpsc::channel();
    assert!(green(&tx) && green(&rx));
    assert_eq!(format!("{tx:?} {rx:?}"), "Sender { .. } Receiver { .. }");
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    tx.send(3).unwrap();
    let tried: TryIter<'_, u8> = rx.try_iter();
    assert_eq!(tried.collect::<Vec<_>>(), [3]);
    drop((tx, tx2));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Disconnected));

    let (stx, srx) = mpsc::sync_channel::<u8>(1);
    assert_eq!(format!("{stx:?}"), "SyncSender { .. }");
    stx.try_send(1).unwrap();
    assert_eq!(stx.try_send(2), Err(TrySendError::Full(2)));
    let stx2 = stx.clone();
    let h = std::thread::spawn(move || stx2.send(2));
    let it: Iter<'_, u8> = srx.iter();
    assert_eq!(it.take(2).collect::<Vec<_>>(), [1, 2]);
    h.join().unwrap().unwrap();
    stx.send(3).unwrap();
    drop(stx);
    let mut n = 0;
    for v in &srx {
        n += v;
    }
    assert_eq!(n, 3);
    let (tx, rx) = mpsc::channel::<u8>();
    tx.send(4).unwrap();
    drop(tx);
    let all: IntoIter<u8> = rx.into_iter();
    assert_eq!(all.collect::<Vec<_>>(), [4]);
    let (tx, rx) = mpsc::channel::<u8>();
    drop(rx);
    assert_eq!(tx.send(5), Err(SendError(5)));
}
