//! guv::green::sync's types are Send/Sync exactly where std's are.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use guv::green::sync as green;
use std::sync as std_sync;

/// Autoref probe: the inherent method exists only when the bound holds, and
/// wins over the trait's fallback.
struct Probe<T: ?Sized>(PhantomData<T>);
trait Fallback {
    fn is_send(&self) -> bool {
        false
    }
    fn is_sync(&self) -> bool {
        false
    }
}
impl<T: ?Sized> Fallback for Probe<T> {}
struct SendProbe<T: ?Sized>(PhantomData<T>);
impl<T: ?Sized> Fallback for SendProbe<T> {}
impl<T: ?Sized + Send> SendProbe<T> {
    fn is_send(&self) -> bool {
        true
    }
}
struct SyncProbe<T: ?Sized>(PhantomData<T>);
impl<T: ?Sized> Fallback for SyncProbe<T> {}
impl<T: ?Sized + Sync> SyncProbe<T> {
    fn is_sync(&self) -> bool {
        true
    }
}

macro_rules! traits {
    ($t:ty) => {
        (SendProbe::<$t>(PhantomData).is_send(), SyncProbe::<$t>(PhantomData).is_sync())
    };
}

/// Compares a green type with std's for several type arguments `T`.
macro_rules! same_as_std {
    ($green:ty, $std:ty) => {{
        #[allow(dead_code)]
        type G<T> = $green;
        #[allow(dead_code)]
        type S<T> = $std;
        assert_eq!(traits!(G<u8>), traits!(S<u8>), "{} / u8", stringify!($green));
        assert_eq!(traits!(G<Rc<u8>>), traits!(S<Rc<u8>>), "{} / Rc", stringify!($green));
        assert_eq!(traits!(G<Cell<u8>>), traits!(S<Cell<u8>>), "{} / Cell", stringify!($green));
        assert_eq!(traits!(G<RefCell<u8>>), traits!(S<RefCell<u8>>), "{} / RefCell", stringify!($green));
        assert_eq!(
            traits!(G<std::sync::MutexGuard<'static, u8>>),
            traits!(S<std::sync::MutexGuard<'static, u8>>),
            "{} / MutexGuard (Sync, !Send)",
            stringify!($green)
        );
    }};
}

#[test]
fn send_and_sync_match_std() {
    same_as_std!(green::Mutex<T>, std_sync::Mutex<T>);
    same_as_std!(green::MutexGuard<'static, T>, std_sync::MutexGuard<'static, T>);
    same_as_std!(green::RwLock<T>, std_sync::RwLock<T>);
    same_as_std!(green::RwLockReadGuard<'static, T>, std_sync::RwLockReadGuard<'static, T>);
    same_as_std!(green::RwLockWriteGuard<'static, T>, std_sync::RwLockWriteGuard<'static, T>);
    same_as_std!(green::OnceLock<T>, std_sync::OnceLock<T>);
    same_as_std!(green::LazyLock<T>, std_sync::LazyLock<T>);
    same_as_std!(green::mpsc::Sender<T>, std_sync::mpsc::Sender<T>);
    same_as_std!(green::mpsc::SyncSender<T>, std_sync::mpsc::SyncSender<T>);
    same_as_std!(green::mpsc::Receiver<T>, std_sync::mpsc::Receiver<T>);
    same_as_std!(green::mpsc::IntoIter<T>, std_sync::mpsc::IntoIter<T>);
    same_as_std!(green::mpsc::Iter<'static, T>, std_sync::mpsc::Iter<'static, T>);
    same_as_std!(green::mpsc::TryIter<'static, T>, std_sync::mpsc::TryIter<'static, T>);
    assert_eq!(traits!(green::Condvar), traits!(std_sync::Condvar));
    assert_eq!(traits!(green::Barrier), traits!(std_sync::Barrier));
    assert_eq!(traits!(green::Once), traits!(std_sync::Once));
    assert_eq!(traits!(green::OnceState), traits!(std_sync::OnceState));
    assert_eq!(traits!(green::WaitTimeoutResult), traits!(std_sync::WaitTimeoutResult));
    assert_eq!(traits!(green::BarrierWaitResult), traits!(std_sync::BarrierWaitResult));
    // LazyLock's second parameter too.
    assert_eq!(
        traits!(green::LazyLock<u8, Box<dyn FnOnce() -> u8>>),
        traits!(std_sync::LazyLock<u8, Box<dyn FnOnce() -> u8>>)
    );
    assert_eq!(
        traits!(green::LazyLock<u8, Box<dyn FnOnce() -> u8 + Send>>),
        traits!(std_sync::LazyLock<u8, Box<dyn FnOnce() -> u8 + Send>>)
    );
    // The probe itself can fail.
    assert_eq!(traits!(Rc<u8>), (false, false));
    assert_eq!(traits!(u8), (true, true));
    let _ = Probe::<u8>(PhantomData);
}

#[test]
fn the_module_stands_in_for_std_sync() {
    // Everything not shadowed is std's own.
    let a: green::Arc<green::atomic::AtomicUsize> = green::Arc::new(green::atomic::AtomicUsize::new(1));
    let _: &std::sync::Arc<std::sync::atomic::AtomicUsize> = &a;
    let m = green::Mutex::new(0);
    let r: green::LockResult<green::MutexGuard<'_, i32>> = m.lock();
    drop(r);
    let e: green::TryLockError<()> = green::TryLockError::WouldBlock;
    let _: std::sync::TryLockError<()> = e;
    let _: fn() -> (green::mpsc::Sender<u8>, green::mpsc::Receiver<u8>) = green::mpsc::channel::<u8>;
    let _: std::sync::mpsc::RecvError = green::mpsc::RecvError;
}
