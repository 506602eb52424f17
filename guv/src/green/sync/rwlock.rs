//! [`RwLock`]'s API, as `std::sync::RwLock`'s (the type lives in `cell.rs`).

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, TryLockResult};

use super::cell::{RwLock, RwLockReadGuard, RwLockWriteGuard};

impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

impl<T: ?Sized> RwLock<T> {
    /// Takes shared access, parking the calling greenlet (not the thread)
    /// while a writer holds the lock or greenlets are queued for it (so
    /// that readers cannot starve a waiting writer). Fails with
    /// [`std::sync::PoisonError`] if a writer panicked holding it.
    ///
    /// ```
    /// use guv::green::sync::RwLock;
    /// let lock = RwLock::new(5);
    /// let a = lock.read().unwrap();
    /// let b = lock.read().unwrap(); // readers share
    /// assert_eq!(*a + *b, 10);
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.cell.result(self.acquire_read())
    }

    /// Takes shared access if that does not block now.
    ///
    /// ```
    /// use guv::green::sync::{RwLock, TryLockError};
    /// let lock = RwLock::new(0);
    /// let w = lock.write().unwrap();
    /// assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
    /// drop(w);
    /// assert!(lock.try_read().is_ok());
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        self.cell.try_result(self.try_acquire_read())
    }

    /// Takes exclusive access, parking the calling greenlet while others
    /// hold the lock.
    ///
    /// ```
    /// use guv::green::sync::RwLock;
    /// let lock = RwLock::new(vec![1]);
    /// lock.write().unwrap().push(2);
    /// assert_eq!(*lock.read().unwrap(), [1, 2]);
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.cell.result(self.acquire_write())
    }

    /// Takes exclusive access if the lock is free now.
    ///
    /// ```
    /// use guv::green::sync::RwLock;
    /// let lock = RwLock::new(0);
    /// let r = lock.read().unwrap();
    /// assert!(lock.try_write().is_err());
    /// drop(r);
    /// assert!(lock.try_write().is_ok());
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        self.cell.try_result(self.try_acquire_write())
    }

    /// Whether a writer panicked (or was killed) while holding the lock.
    ///
    /// ```
    /// assert!(!guv::green::sync::RwLock::new(0).is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.cell.is_poisoned()
    }

    /// Clears the poisoned state.
    ///
    /// ```
    /// let lock = guv::green::sync::RwLock::new(0);
    /// lock.clear_poison();
    /// assert!(!lock.is_poisoned());
    /// ```
    pub fn clear_poison(&self) {
        self.cell.clear_poison();
    }

    /// A mutable reference to the data, without locking.
    ///
    /// ```
    /// let mut lock = guv::green::sync::RwLock::new(0);
    /// *lock.get_mut().unwrap() = 3;
    /// assert_eq!(*lock.read().unwrap(), 3);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.cell.get_mut()
    }
}

impl<T> RwLock<T> {
    /// Consumes the lock, returning the data.
    ///
    /// ```
    /// assert_eq!(guv::green::sync::RwLock::new(4).into_inner().unwrap(), 4);
    /// ```
    pub fn into_inner(self) -> LockResult<T> {
        self.cell.into_inner()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(t: T) -> RwLock<T> {
        RwLock::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cell.debug("RwLock", self.try_acquire_read(), &format_args!("<locked>"), f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
