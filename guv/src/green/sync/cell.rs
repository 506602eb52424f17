//! The data cells of the green `Mutex` and `RwLock` and their guards: the
//! only `unsafe` of the green `std::sync` mirror.
//!
//! # Invariant
//!
//! A `MutexGuard` or `RwLockWriteGuard` exists only while its lock's
//! [`RawLock`] is held exclusively on its behalf, and an `RwLockReadGuard`
//! only while it holds one shared count. Guards are made only here, right
//! after a successful acquire of the `RawLock` (whose correctness this
//! relies on), and release it in `Drop`. So a `&mut T` from a write guard
//! is unique, and `&T` from read guards coexist only with each other.
//!
//! Both locks are a [`LockCell`] (lock word, poison flag, data), which also
//! holds what they share: the exclusive acquire and release with its poison
//! bookkeeping, and the poison-aware accessors. Methods and documentation of
//! the public types live in `mutex.rs` and `rwlock.rs`.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::{LockResult, TryLockError, TryLockResult};

use super::poisoning as poison;
use super::raw::RawLock;

/// What a [`Mutex`] and an [`RwLock`] are made of: the lock word, the
/// poison flag and the data.
pub(super) struct LockCell<T: ?Sized> {
    raw: RawLock,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

impl<T> LockCell<T> {
    const fn new(t: T) -> LockCell<T> {
        LockCell { raw: RawLock::new(), poison: poison::Flag::new(), data: UnsafeCell::new(t) }
    }

    /// The data, in a `PoisonError` if poisoned.
    pub(super) fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.get();
        poison::result(poisoned, self.data.into_inner())
    }
}

impl<T: ?Sized> LockCell<T> {
    /// Takes the lock exclusively, parking while it is held. The returned
    /// poison guard goes into the guard made for this hold.
    fn write(&self) -> poison::Guard {
        self.raw.write();
        self.poison.guard()
    }

    /// [`write`](Self::write) if the lock is free now.
    fn try_write(&self) -> Option<poison::Guard> {
        self.raw.try_write().then(|| self.poison.guard())
    }

    /// Ends an exclusive hold taken by [`write`](Self::write): poisons the
    /// lock if the holder started unwinding meanwhile, then releases it.
    fn write_unlock(&self, guard: &poison::Guard) {
        self.poison.done(guard);
        self.raw.write_unlock();
    }

    pub(super) fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    pub(super) fn clear_poison(&self) {
        self.poison.clear();
    }

    /// The data (`&mut self` proves exclusivity), in a `PoisonError` if
    /// poisoned.
    pub(super) fn get_mut(&mut self) -> LockResult<&mut T> {
        poison::result(self.poison.get(), self.data.get_mut())
    }

    /// A lock call's result: `guard`, in a `PoisonError` if poisoned.
    pub(super) fn result<G>(&self, guard: G) -> LockResult<G> {
        poison::result(self.poison.get(), guard)
    }

    /// A `try_` lock call's result: `WouldBlock` without a guard, else
    /// [`result`](Self::result).
    pub(super) fn try_result<G>(&self, guard: Option<G>) -> TryLockResult<G> {
        match guard {
            None => Err(TryLockError::WouldBlock),
            Some(guard) => self.result(guard).map_err(TryLockError::Poisoned),
        }
    }

    /// Formats a lock named `name` as `std` does, with the data read
    /// through `guard` (`locked` without one: std's `Mutex` shows a quoted
    /// `"<locked>"`, its `RwLock` a bare `<locked>`).
    pub(super) fn debug<G: Deref<Target = T>>(
        &self,
        name: &str,
        guard: Option<G>,
        locked: &dyn fmt::Debug,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result
    where
        T: fmt::Debug,
    {
        let mut d = f.debug_struct(name);
        match guard {
            // Released at the end of this arm, before `poisoned` is read.
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", locked),
        };
        d.field("poisoned", &self.poison.get()).finish_non_exhaustive()
    }
}

/// A mutual exclusion lock that parks the waiting greenlet, not the thread:
/// the green twin of [`std::sync::Mutex`]. See [`Mutex::lock`].
///
/// ```
/// use std::sync::Arc;
/// use guv::green::sync::Mutex;
/// let counter = Arc::new(Mutex::new(0));
/// let workers: Vec<_> = (0..4)
///     .map(|_| {
///         let c = counter.clone();
///         guv::spawn(move || {
///             let mut n = c.lock().unwrap();
///             guv::gyield(); // others wait for the lock meanwhile
///             *n += 1;
///         })
///     })
///     .collect();
/// for w in workers {
///     w.wait().unwrap();
/// }
/// assert_eq!(*counter.lock().unwrap(), 4);
/// ```
pub struct Mutex<T: ?Sized> {
    pub(super) cell: LockCell<T>,
}

// SAFETY: as `std::sync::Mutex`: the lock hands `&mut T` to one thread at a
// time, so sharing the mutex across threads needs only `T: Send`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Holds a [`Mutex`] locked; unlocks it when dropped. `!Send`, like `std`'s:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// let m = guv::green::sync::Mutex::new(0);
/// assert_send(m.lock().unwrap());
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    lock: &'a Mutex<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, which is shareable iff `T: Sync`
// (the `*const ()` marker is there for `!Send` only).
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `t`.
    ///
    /// ```
    /// use guv::green::sync::Mutex;
    /// static LOCK: Mutex<u32> = Mutex::new(0);
    /// *LOCK.lock().unwrap() += 1;
    /// assert_eq!(*LOCK.lock().unwrap(), 1);
    /// ```
    pub const fn new(t: T) -> Mutex<T> {
        Mutex { cell: LockCell::new(t) }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, parking while another holds the lock.
    pub(super) fn acquire(&self) -> MutexGuard<'_, T> {
        self.make_guard(self.cell.write())
    }

    pub(super) fn try_acquire(&self) -> Option<MutexGuard<'_, T>> {
        self.cell.try_write().map(|poison| self.make_guard(poison))
    }

    /// Only after the cell was acquired exclusively (see the invariant).
    fn make_guard(&self, poison: poison::Guard) -> MutexGuard<'_, T> {
        MutexGuard { lock: self, poison, _not_send: PhantomData }
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard holds (for `Condvar`).
    pub(super) fn mutex(this: &Self) -> &'a Mutex<T> {
        this.lock
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock exclusively (invariant).
        unsafe { &*self.lock.cell.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively (invariant), and
        // `&mut self` makes this the only access through it.
        unsafe { &mut *self.lock.cell.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.cell.write_unlock(&self.poison);
    }
}

/// A reader-writer lock that parks the waiting greenlet, not the thread:
/// the green twin of [`std::sync::RwLock`]. See [`RwLock::read`].
///
/// ```
/// use guv::green::sync::RwLock;
/// let lock = RwLock::new(vec![1]);
/// {
///     let (a, b) = (lock.read().unwrap(), lock.read().unwrap()); // readers share
///     assert_eq!(a.len() + b.len(), 2);
/// }
/// lock.write().unwrap().push(2);
/// assert_eq!(*lock.read().unwrap(), [1, 2]);
/// ```
pub struct RwLock<T: ?Sized> {
    pub(super) cell: LockCell<T>,
}

// SAFETY: as `std::sync::RwLock`: writers get `&mut T` (needs `T: Send` to
// cross threads), readers on several threads share `&T` (needs `T: Sync`).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Holds an [`RwLock`] shared; releases it when dropped.
///
/// ```
/// let lock = guv::green::sync::RwLock::new(5);
/// let guard = lock.read().unwrap();
/// assert_eq!(*guard, 5);
/// assert!(lock.try_write().is_err(), "held shared");
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

/// Holds an [`RwLock`] exclusively; releases it when dropped.
///
/// ```
/// let lock = guv::green::sync::RwLock::new(5);
/// let mut guard = lock.write().unwrap();
/// *guard += 1;
/// assert!(lock.try_read().is_err(), "held exclusively");
/// drop(guard);
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared reference to the guard gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `t`.
    ///
    /// ```
    /// use guv::green::sync::RwLock;
    /// static CONFIG: RwLock<Option<String>> = RwLock::new(None);
    /// *CONFIG.write().unwrap() = Some("on".into());
    /// assert_eq!(CONFIG.read().unwrap().as_deref(), Some("on"));
    /// ```
    pub const fn new(t: T) -> RwLock<T> {
        RwLock { cell: LockCell::new(t) }
    }
}

impl<T: ?Sized> RwLock<T> {
    pub(super) fn acquire_read(&self) -> RwLockReadGuard<'_, T> {
        self.cell.raw.read();
        RwLockReadGuard { lock: self, _not_send: PhantomData }
    }

    pub(super) fn try_acquire_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        // `then`, not `then_some`: a guard made eagerly would unlock in Drop.
        self.cell.raw.try_read().then(|| RwLockReadGuard { lock: self, _not_send: PhantomData })
    }

    pub(super) fn acquire_write(&self) -> RwLockWriteGuard<'_, T> {
        self.write_guard(self.cell.write())
    }

    pub(super) fn try_acquire_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.cell.try_write().map(|poison| self.write_guard(poison))
    }

    /// Only after the cell was acquired exclusively (see the invariant).
    fn write_guard(&self, poison: poison::Guard) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard { lock: self, poison, _not_send: PhantomData }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a shared count (invariant): no writer.
        unsafe { &*self.lock.cell.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.cell.raw.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock exclusively (invariant).
        unsafe { &*self.lock.cell.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: exclusive (invariant), and `&mut self` is unique.
        unsafe { &mut *self.lock.cell.data.get() }
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns a write guard into a read guard without releasing the lock
    /// in between, as std's: no writer can take it meanwhile, and readers
    /// waiting for it are let in at once.
    ///
    /// ```
    /// use guv::green::sync::{RwLock, RwLockWriteGuard};
    /// let lock = RwLock::new(1);
    /// let mut w = lock.write().unwrap();
    /// *w = 2;
    /// let r = RwLockWriteGuard::downgrade(w);
    /// assert_eq!(*r, 2);
    /// assert!(lock.try_read().is_ok(), "shared now");
    /// assert!(lock.try_write().is_err(), "still held");
    /// ```
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let lock = s.lock;
        // No `write_unlock`: the hold goes on as a shared one. As std's
        // `downgrade`, this does not poison (the guard is not dropped).
        std::mem::forget(s);
        lock.cell.raw.downgrade();
        // The one shared count just made is this guard's (invariant).
        RwLockReadGuard { lock, _not_send: PhantomData }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.cell.write_unlock(&self.poison);
    }
}
