//! [`Mutex`]'s API, as `std::sync::Mutex`'s (the type lives in `cell.rs`).

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, TryLockResult};

use super::cell::{Mutex, MutexGuard};

impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the calling greenlet (not the thread) while
    /// another holds it; the other greenlets of the thread keep running.
    /// Uncontended, this is one atomic compare-and-swap. Waiters are woken
    /// in the order they came, though a greenlet arriving while the lock is
    /// free may take it first (as with `std`).
    ///
    /// Fails with [`std::sync::PoisonError`] (which still holds the guard)
    /// if a holder panicked or was killed while holding the lock.
    ///
    /// # Panics
    ///
    /// Like `std`'s, it may panic if the calling thread already holds the
    /// lock: on the main greenlet, when no other greenlet could release it,
    /// with "this operation would block forever" (see the
    /// [module docs](super#deadlocks)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use guv::green::sync::Mutex;
    /// let counter = Arc::new(Mutex::new(0));
    /// let workers: Vec<_> = (0..4)
    ///     .map(|_| {
    ///         let c = counter.clone();
    ///         guv::spawn(move || {
    ///             for _ in 0..10 {
    ///                 let mut n = c.lock().unwrap();
    ///                 guv::gyield(); // others run; they park on the lock
    ///                 *n += 1;
    ///             }
    ///         })
    ///     })
    ///     .collect();
    /// guv::wait_all(&workers);
    /// assert_eq!(*counter.lock().unwrap(), 40);
    /// ```
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.cell.result(self.acquire())
    }

    /// Locks the mutex if it is free now;
    /// [`TryLockError::WouldBlock`](std::sync::TryLockError::WouldBlock)
    /// otherwise, [`TryLockError::Poisoned`](std::sync::TryLockError::Poisoned)
    /// if poisoned.
    ///
    /// ```
    /// use guv::green::sync::{Mutex, TryLockError};
    /// let m = Mutex::new(1);
    /// let held = m.try_lock().unwrap();
    /// assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(held);
    /// ```
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        self.cell.try_result(self.try_acquire())
    }

    /// Whether the mutex is poisoned.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use guv::green::sync::Mutex;
    /// let m = Arc::new(Mutex::new(0));
    /// let m2 = m.clone();
    /// guv::debug::hub_exceptions(false);
    /// let _ = guv::spawn(move || {
    ///     let _g = m2.lock().unwrap();
    ///     panic!("while holding the lock");
    /// })
    /// .wait();
    /// assert!(m.is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.cell.is_poisoned()
    }

    /// Clears the poisoned state.
    ///
    /// ```
    /// use guv::green::sync::Mutex;
    /// let m = Mutex::new(0);
    /// m.clear_poison();
    /// assert!(!m.is_poisoned());
    /// ```
    pub fn clear_poison(&self) {
        self.cell.clear_poison();
    }

    /// A mutable reference to the data; no locking is needed, `&mut self`
    /// proves exclusivity.
    ///
    /// ```
    /// let mut m = guv::green::sync::Mutex::new(1);
    /// *m.get_mut().unwrap() = 2;
    /// assert_eq!(*m.lock().unwrap(), 2);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.cell.get_mut()
    }
}

impl<T> Mutex<T> {
    /// Consumes the mutex, returning the data.
    ///
    /// ```
    /// let m = guv::green::sync::Mutex::new(5);
    /// assert_eq!(m.into_inner().unwrap(), 5);
    /// ```
    pub fn into_inner(self) -> LockResult<T> {
        self.cell.into_inner()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(t: T) -> Mutex<T> {
        Mutex::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cell.debug("Mutex", self.try_acquire(), &"<locked>", f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
