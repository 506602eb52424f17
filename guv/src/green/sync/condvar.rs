//! [`Condvar`]: the green twin of `std::sync::Condvar`.

use std::fmt;
use std::sync::{LockResult, Mutex as StdMutex, PoisonError};
use std::time::{Duration, Instant};

use super::cell::{Mutex, MutexGuard};
use super::park::{Kind, Parker, WaitQueue, lock, wake_all};

/// Whether a timed [`Condvar`] wait ended because its time ran out: the
/// green twin of `std::sync::WaitTimeoutResult`.
///
/// ```
/// use guv::green::sync::{Condvar, Mutex};
/// let (m, cv) = (Mutex::new(()), Condvar::new());
/// let (_g, r) = cv.wait_timeout(m.lock().unwrap(), std::time::Duration::from_millis(1)).unwrap();
/// assert!(r.timed_out());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the wait's time ran out (rather than it being notified).
    ///
    /// ```
    /// use guv::green::sync::{Condvar, Mutex};
    /// let (lock, cv) = (Mutex::new(()), Condvar::new());
    /// let guard = lock.lock().unwrap();
    /// let (_guard, r) = cv.wait_timeout(guard, std::time::Duration::from_millis(1)).unwrap();
    /// assert!(r.timed_out());
    /// ```
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable that parks the waiting greenlet, not the thread:
/// the green twin of [`std::sync::Condvar`], used with
/// [`guv::green::sync::Mutex`](super::Mutex). Waiters are notified in the
/// order they started waiting, and there are no spurious wake-ups, though
/// code should loop on its condition as with `std` (or use
/// [`wait_while`](Condvar::wait_while)).
///
/// ```
/// use std::sync::Arc;
/// use guv::green::sync::{Condvar, Mutex};
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = pair.clone();
/// guv::spawn_n(move || {
///     *p.0.lock().unwrap() = true;
///     p.1.notify_one();
/// });
/// let (lock, cvar) = &*pair;
/// let ready = cvar.wait_while(lock.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*ready);
/// ```
pub struct Condvar {
    waiters: StdMutex<WaitQueue>,
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

/// Takes a waiter's entry out when its wait ends; a notification it
/// received but cannot use (it unwinds) goes to the next waiter.
struct Registration<'a> {
    cv: &'a Condvar,
    id: u64,
    done: bool,
}

impl Registration<'_> {
    /// Whether a notify popped the entry.
    fn notified(&self) -> bool {
        !lock(&self.cv.waiters).contains(self.id)
    }

    /// Leaves the queue after a timeout; true if a notification came first.
    fn leave(&mut self) -> bool {
        self.done = true;
        !lock(&self.cv.waiters).remove(self.id)
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.done && !lock(&self.cv.waiters).remove(self.id) {
            self.cv.notify_one();
        }
    }
}

/// Armed while a notified waiter locks the mutex again: if it unwinds
/// there (killed, timed out), its notification goes to the next waiter.
struct PassOn<'a>(&'a Condvar);

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

impl Condvar {
    /// A new condition variable.
    ///
    /// ```
    /// static CV: guv::green::sync::Condvar = guv::green::sync::Condvar::new();
    /// CV.notify_all();
    /// ```
    pub const fn new() -> Condvar {
        Condvar { waiters: StdMutex::new(WaitQueue::new()) }
    }

    /// Unlocks `guard`'s mutex, parks until notified or `deadline`, then
    /// locks it again. Returns whether the time ran out.
    fn wait_inner<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (LockResult<MutexGuard<'a, T>>, bool) {
        let mutex: &'a Mutex<T> = MutexGuard::mutex(&guard);
        let parker = Parker::new();
        let id = lock(&self.waiters).push(parker.remote(), Kind::Shared, false);
        let mut reg = Registration { cv: self, id, done: false };
        drop(guard);
        let timed_out = loop {
            let in_time = parker.park(deadline);
            if reg.notified() {
                reg.done = true;
                break false;
            }
            if !in_time {
                break !reg.leave();
            }
        };
        drop(parker);
        // A notified waiter that unwinds while it waits to lock the mutex
        // again has not used its notification: pass it on.
        let pass_on = (!timed_out).then_some(PassOn(self));
        let relocked = mutex.lock();
        std::mem::forget(pass_on);
        (relocked, timed_out)
    }

    /// Unlocks the mutex behind `guard`, parks the calling greenlet until
    /// notified, and locks the mutex again before returning. Errs (still
    /// with the guard) if the mutex is poisoned.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use guv::green::sync::{Condvar, Mutex};
    /// let pair = Arc::new((Mutex::new(0), Condvar::new()));
    /// let p = pair.clone();
    /// guv::spawn_n(move || {
    ///     *p.0.lock().unwrap() = 1;
    ///     p.1.notify_all();
    /// });
    /// let mut n = pair.0.lock().unwrap();
    /// while *n == 0 {
    ///     n = pair.1.wait(n).unwrap();
    /// }
    /// assert_eq!(*n, 1);
    /// ```
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_inner(guard, None).0
    }

    /// Waits (as [`wait`](Condvar::wait)) while `condition` holds for the
    /// data, checking it first and after every notification.
    ///
    /// ```
    /// use guv::green::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(3), Condvar::new());
    /// let g = cv.wait_while(m.lock().unwrap(), |n| *n == 0).unwrap(); // no wait
    /// assert_eq!(*g, 3);
    /// ```
    pub fn wait_while<'a, T, F>(&self, mut guard: MutexGuard<'a, T>, mut condition: F) -> LockResult<MutexGuard<'a, T>>
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Condvar::wait) for at most `dur`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use guv::green::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let (_g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(2)).unwrap();
    /// assert!(r.timed_out());
    /// ```
    #[allow(clippy::type_complexity)] // std's signature
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (result, timed_out) = self.wait_inner(guard, Instant::now().checked_add(dur));
        let r = WaitTimeoutResult(timed_out);
        match result {
            Ok(g) => Ok((g, r)),
            Err(p) => Err(PoisonError::new((p.into_inner(), r))),
        }
    }

    /// std's deprecated `wait_timeout_ms`: [`wait_timeout`](Condvar::wait_timeout)
    /// for `ms` milliseconds, returning whether it was notified in time
    /// (`false`: the time ran out).
    ///
    /// ```
    /// #![allow(deprecated)]
    /// use guv::green::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let (_g, notified) = cv.wait_timeout_ms(m.lock().unwrap(), 1).unwrap();
    /// assert!(!notified);
    /// ```
    #[deprecated(note = "replaced by `guv::green::sync::Condvar::wait_timeout` (as std's is)")]
    pub fn wait_timeout_ms<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        ms: u32,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        match self.wait_timeout(guard, Duration::from_millis(u64::from(ms))) {
            Ok((g, r)) => Ok((g, !r.timed_out())),
            Err(p) => {
                let (g, r) = p.into_inner();
                Err(PoisonError::new((g, !r.timed_out())))
            }
        }
    }

    /// Like [`wait_while`](Condvar::wait_while) for at most `dur` in all.
    ///
    /// ```
    /// use std::time::Duration;
    /// use guv::green::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(false), Condvar::new());
    /// let (g, r) = cv.wait_timeout_while(m.lock().unwrap(), Duration::from_millis(2), |ok| !*ok).unwrap();
    /// assert!(r.timed_out() && !*g);
    /// ```
    #[allow(clippy::type_complexity)] // std's signature
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(dur);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = match self.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(p) => {
                    let (g, r) = p.into_inner();
                    return Err(PoisonError::new((g, r)));
                }
            };
        }
    }

    /// Wakes the greenlet (or thread) waiting longest, if any.
    ///
    /// ```
    /// guv::green::sync::Condvar::new().notify_one(); // nobody waits: no effect
    /// ```
    pub fn notify_one(&self) {
        lock(&self.waiters).wake_one();
    }

    /// Wakes every waiter.
    ///
    /// ```
    /// guv::green::sync::Condvar::new().notify_all();
    /// ```
    pub fn notify_all(&self) {
        let all = lock(&self.waiters).take_all();
        wake_all(all);
    }
}
