//! Semaphores: [`Semaphore`], [`BoundedSemaphore`] and [`CappedSemaphore`]
//! (re-exported at the crate root), with the RAII [`SemaphoreGuard`].
//!
//! A semaphore holds a count of permits. Acquiring a permit that is
//! available never blocks or yields; otherwise the greenlet waits, and
//! waiters get permits in the order they came: a release hands its permit
//! straight to the oldest waiter. A waiter killed or timed out after a
//! permit was handed to it passes the permit on, so none is lost.
//!
//! Semaphores are hub-local: cheap handles (`Clone` shares the semaphore)
//! that stay on their thread (`!Send`), built without atomics or locks.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::event::deadline_after;
use crate::waiters::{self, WaitList};

/// A misuse of a semaphore.
///
/// ```
/// let sem = guv::BoundedSemaphore::new(1);
/// let err = sem.release().unwrap_err();
/// assert_eq!(err, guv::SemaphoreError::ReleasedTooMuch { bound: 1 });
/// assert!(err.to_string().contains("released too many times"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SemaphoreError {
    /// [`BoundedSemaphore::release`] would raise the count past its
    /// initial value.
    ReleasedTooMuch {
        /// The initial value.
        bound: usize,
    },
    /// [`CappedSemaphore::new`] with a count above the limit.
    CountAboveLimit {
        /// The count asked for.
        count: usize,
        /// The limit asked for.
        limit: usize,
    },
}

impl fmt::Display for SemaphoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SemaphoreError::ReleasedTooMuch { bound } => {
                write!(f, "semaphore released too many times: its count may not exceed its initial value {bound}")
            }
            SemaphoreError::CountAboveLimit { count, limit } => {
                write!(f, "a CappedSemaphore's count ({count}) may not exceed its limit ({limit})")
            }
        }
    }
}

impl std::error::Error for SemaphoreError {}

/// Which semaphore a [`Permits`] serves: what its `limit` bounds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `Semaphore`: no bound but `usize::MAX`.
    Plain,
    /// `BoundedSemaphore`: the count plus the permits in transit stay at
    /// most the limit, so that holders never outnumber the initial value.
    Bounded,
    /// `CappedSemaphore`: the count stays at most the limit, but for a
    /// permit handed to an acquirer that unwound before taking it, which
    /// goes back to the count even past the limit. Its release completed;
    /// dropping the permit would lose it.
    Capped,
}

/// The state every semaphore type shares.
struct Permits {
    count: Cell<usize>,
    /// The count never exceeds this (`usize::MAX` for a plain semaphore);
    /// see [`Kind`] for how each type bounds it.
    limit: usize,
    kind: Kind,
    /// Permits handed to acquirers (served in `acquirers`) that have not
    /// yet collected them or passed them on. A bounded semaphore counts
    /// them toward its bound: its count stays low until the waiter runs,
    /// and a release in that window would otherwise pass for a legal one.
    in_transit: Cell<usize>,
    acquirers: RefCell<WaitList<(), ()>>,
    /// Capped semaphores only: `release` calls blocked at the limit.
    releasers: RefCell<WaitList<(), ()>>,
}

impl Permits {
    fn new(count: usize, limit: usize, kind: Kind) -> Rc<Permits> {
        Rc::new(Permits {
            count: Cell::new(count),
            limit,
            kind,
            in_transit: Cell::new(0),
            acquirers: RefCell::new(WaitList::new()),
            releasers: RefCell::new(WaitList::new()),
        })
    }

    /// Takes a permit, waiting (if `wait`) until `timeout` runs out.
    #[inline]
    fn acquire(&self, wait: bool, timeout: Option<Duration>) -> bool {
        let count = self.count.get();
        if count > 0 {
            // Waiters are only ever queued while the count is zero.
            self.count.set(count - 1);
            self.admit_releaser();
            return true;
        }
        // A release blocked at the limit hands its permit straight over.
        // With permits at zero that is only possible with limit 0, where
        // every release waits for an acquirer.
        if self.releasers.borrow_mut().serve_front(|()| ()) {
            return true;
        }
        if !wait {
            return false;
        }
        // No timeout, or one too long to represent: wait without deadline.
        let deadline = timeout.and_then(deadline_after);
        let got = waiters::wait(&self.acquirers, (), deadline, |()| self.hand_back()).is_ok();
        if got {
            self.in_transit.set(self.in_transit.get() - 1);
        }
        got
    }

    /// Hands a permit to the oldest acquirer, if one waits; it is in
    /// transit until that acquirer collects it (or unwinds: `hand_back`).
    #[inline]
    fn serve_acquirer(&self) -> bool {
        let served = self.acquirers.borrow_mut().serve_front(|()| ());
        if served {
            self.in_transit.set(self.in_transit.get() + 1);
        }
        served
    }

    /// Whether the count may take one more permit: below the limit, and
    /// for a bounded semaphore with the permits in transit counted too.
    #[inline]
    fn has_room(&self) -> bool {
        let count = self.count.get();
        match self.kind {
            Kind::Bounded => count.saturating_add(self.in_transit.get()) < self.limit,
            Kind::Plain | Kind::Capped => count < self.limit,
        }
    }

    /// A permit was taken: if that brought the count below the limit, a
    /// blocked releaser may now add its own.
    #[inline]
    fn admit_releaser(&self) {
        if self.count.get() < self.limit && self.releasers.borrow_mut().serve_front(|()| ()) {
            self.count.set(self.count.get() + 1);
        }
    }

    /// A permit handed to an acquirer that unwound (killed, timed out)
    /// before taking it: to the next waiter, else back to the count — for
    /// a capped semaphore even past its limit (see [`Kind::Capped`]).
    fn hand_back(&self) {
        self.in_transit.set(self.in_transit.get() - 1);
        if !self.serve_acquirer() && (self.has_room() || self.kind == Kind::Capped) {
            self.count.set(self.count.get().saturating_add(1));
        }
    }

    /// Returns a permit without blocking or failing: to the oldest waiter,
    /// else to the count if it has room (a permit beyond the limit can only
    /// come from unbalanced releases and is dropped).
    #[inline]
    fn give_back(&self) {
        if !self.serve_acquirer() && self.has_room() {
            self.count.set(self.count.get() + 1);
        }
    }

    fn balance(&self) -> isize {
        let count = isize::try_from(self.count.get()).unwrap_or(isize::MAX);
        let waiting = isize::try_from(self.acquirers.borrow().len()).unwrap_or(isize::MAX);
        count - waiting
    }
}

/// Holds one permit; releases it when dropped. Made by the `guard` methods.
///
/// ```
/// let sem = guv::Semaphore::new(1);
/// {
///     let _permit = sem.guard();
///     assert!(sem.locked());
/// }
/// assert!(!sem.locked());
/// ```
#[must_use = "the permit is released as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    permits: &'a Permits,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.permits.give_back();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreGuard")
    }
}

/// The methods every semaphore type has.
macro_rules! semaphore_common {
    ($name:ident, $make:literal) => {
        impl Clone for $name {
            fn clone(&self) -> Self {
                $name { permits: self.permits.clone() }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("count", &self.permits.count.get()).field("balance", &self.balance()).finish()
            }
        }

        impl $name {
            #[doc = concat!("Takes a permit, blocking until one is available. Never blocks or yields when one is.\n\n```\nlet sem = ", $make, ";\nsem.acquire();\nassert!(sem.locked());\n```")]
            #[inline]
            pub fn acquire(&self) {
                let got = self.permits.acquire(true, None);
                debug_assert!(got);
            }

            #[doc = concat!("Takes a permit if one is available now; returns whether it did.\n\n```\nlet sem = ", $make, ";\nassert!(sem.try_acquire());\nassert!(!sem.try_acquire());\n```")]
            #[inline]
            pub fn try_acquire(&self) -> bool {
                self.permits.acquire(false, None)
            }

            #[doc = concat!("Like [`acquire`](Self::acquire), blocking for at most `timeout`; returns whether it got a permit.\n\n```\nuse std::time::Duration;\nlet sem = ", $make, ";\nassert!(sem.acquire_timeout(Duration::from_millis(2)));\nassert!(!sem.acquire_timeout(Duration::from_millis(2)));\n```")]
            pub fn acquire_timeout(&self, timeout: Duration) -> bool {
                self.permits.acquire(true, Some(timeout))
            }

            #[doc = concat!("Acquires a permit and returns a guard that releases it when dropped.\n\n```\nlet sem = ", $make, ";\nlet permit = sem.guard();\nassert!(!sem.try_acquire());\ndrop(permit);\nassert!(sem.try_acquire());\n```")]
            pub fn guard(&self) -> SemaphoreGuard<'_> {
                self.acquire();
                SemaphoreGuard { permits: &self.permits }
            }

            #[doc = concat!("Like [`guard`](Self::guard) without blocking: `None` if no permit is available.\n\n```\nlet sem = ", $make, ";\nlet held = sem.try_guard().unwrap();\nassert!(sem.try_guard().is_none());\ndrop(held);\n```")]
            pub fn try_guard(&self) -> Option<SemaphoreGuard<'_>> {
                self.try_acquire().then(|| SemaphoreGuard { permits: &self.permits })
            }

            #[doc = concat!("Runs `f` holding a permit (released afterwards, also if `f` panics or the greenlet is killed).\n\n```\nlet sem = ", $make, ";\nlet n = sem.access(|| 40 + 2);\nassert_eq!(n, 42);\nassert!(!sem.locked());\n```")]
            pub fn access<R>(&self, f: impl FnOnce() -> R) -> R {
                let _permit = self.guard();
                f()
            }

            #[doc = concat!("The number of permits available (positive), or minus the number of greenlets waiting for one.\n\n```\nlet sem = ", $make, ";\nassert_eq!(sem.balance(), 1);\nsem.acquire();\nlet s = sem.clone();\nguv::spawn_n(move || s.acquire());\nguv::gyield();\nassert_eq!(sem.balance(), -1);\n```")]
            pub fn balance(&self) -> isize {
                self.permits.balance()
            }

            #[doc = concat!("Whether an `acquire` would block now.\n\n```\nlet sem = ", $make, ";\nassert!(!sem.locked());\nsem.acquire();\nassert!(sem.locked());\n```")]
            pub fn locked(&self) -> bool {
                self.permits.count.get() == 0
            }

            #[doc = concat!("The number of permits available now.\n\n```\nlet sem = ", $make, ";\nassert_eq!(sem.count(), 1);\n```")]
            pub fn count(&self) -> usize {
                self.permits.count.get()
            }
        }
    };
}

/// A counting semaphore: `acquire` takes a permit, `release` adds one.
///
/// ```
/// let sem = guv::Semaphore::new(2);
/// let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
/// let workers: Vec<_> = (0..4)
///     .map(|i| {
///         let (sem, log) = (sem.clone(), log.clone());
///         guv::spawn(move || {
///             let _permit = sem.guard(); // at most two run at once
///             log.borrow_mut().push(i);
///             guv::sleep(std::time::Duration::from_millis(1));
///         })
///     })
///     .collect();
/// for w in workers {
///     w.wait().unwrap();
/// }
/// assert_eq!(*log.borrow(), [0, 1, 2, 3]);
/// ```
///
/// It stays on its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(guv::Semaphore::new(1));
/// ```
pub struct Semaphore {
    permits: Rc<Permits>,
}

semaphore_common!(Semaphore, "guv::Semaphore::new(1)");

impl Semaphore {
    /// A semaphore holding `count` permits (which may be 0).
    ///
    /// ```
    /// let sem = guv::Semaphore::new(0);
    /// assert!(sem.locked());
    /// ```
    pub fn new(count: usize) -> Semaphore {
        Semaphore { permits: Permits::new(count, usize::MAX, Kind::Plain) }
    }

    /// Adds a permit: hands it to the oldest waiter (who runs once the
    /// caller blocks or yields), or adds it to the count. A semaphore may
    /// be released more times than it was acquired.
    ///
    /// ```
    /// let sem = guv::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.count(), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If the count would exceed `usize::MAX`.
    #[inline]
    pub fn release(&self) {
        if self.permits.count.get() == usize::MAX {
            panic!("guv::Semaphore::release: the count would overflow usize");
        }
        self.permits.give_back();
    }
}

/// A semaphore whose `release` fails rather than raise the count past its
/// initial value (which usually means a release without an acquire).
///
/// ```
/// let sem = guv::BoundedSemaphore::new(1);
/// sem.acquire();
/// sem.release().unwrap();
/// assert!(sem.release().is_err()); // one release too many
/// assert_eq!(sem.count(), 1);
/// ```
pub struct BoundedSemaphore {
    permits: Rc<Permits>,
}

semaphore_common!(BoundedSemaphore, "guv::BoundedSemaphore::new(1)");

impl BoundedSemaphore {
    /// A semaphore holding `count` permits, which is also its bound.
    ///
    /// ```
    /// assert_eq!(guv::BoundedSemaphore::new(3).count(), 3);
    /// ```
    pub fn new(count: usize) -> BoundedSemaphore {
        BoundedSemaphore { permits: Permits::new(count, count, Kind::Bounded) }
    }

    /// Adds a permit (to the oldest waiter, or to the count); fails with
    /// [`SemaphoreError::ReleasedTooMuch`], changing nothing, if the count
    /// is already at its initial value. Permits a release handed to
    /// waiters that have not run yet count as part of the count here, so
    /// one release too many fails also while the waiter it would join has
    /// not taken its permit.
    ///
    /// ```
    /// let sem = guv::BoundedSemaphore::new(1);
    /// sem.acquire();
    /// let s = sem.clone();
    /// let waiter = guv::spawn(move || s.acquire());
    /// guv::gyield(); // it waits
    /// sem.release().unwrap(); // handed to the waiter; count still 0
    /// assert!(sem.release().is_err()); // the waiter's permit is the only one
    /// waiter.wait().unwrap();
    /// ```
    ///
    /// A guard's release (the drop of a [`SemaphoreGuard`]) cannot fail: a
    /// permit it returns over the bound (after an unbalanced `release`) is
    /// dropped.
    pub fn release(&self) -> Result<(), SemaphoreError> {
        let p = &self.permits;
        if !p.has_room() {
            return Err(SemaphoreError::ReleasedTooMuch { bound: p.limit });
        }
        p.give_back();
        Ok(())
    }

    /// The initial value, which the count may not exceed.
    ///
    /// ```
    /// assert_eq!(guv::BoundedSemaphore::new(2).bound(), 2);
    /// ```
    pub fn bound(&self) -> usize {
        self.permits.limit
    }
}

/// A semaphore whose count is capped: `release` blocks while the count is
/// at the limit, until an `acquire` makes room (eventlet's
/// `CappedSemaphore`).
///
/// A release hands its permit straight to a waiting acquirer. If that
/// acquirer is killed (or times out) before it returns, the permit goes to
/// the next acquirer, or back to the count — even past the limit, as a
/// queue takes back such an item past its `maxsize`: the release
/// completed, and dropping its permit would lose it. The count is then
/// above the limit until acquires take it below, and releases block
/// meanwhile.
///
/// ```
/// let sem = guv::CappedSemaphore::new(0, 0).unwrap(); // a rendezvous
/// let s = sem.clone();
/// let acquirer = guv::spawn(move || s.acquire());
/// guv::gyield();
/// assert!(sem.try_release()); // handed to the waiting acquirer
/// acquirer.kill(); // before it took the permit
/// assert_eq!(sem.count(), 1); // back, past the limit
/// assert!(sem.try_acquire());
/// ```
///
/// ```
/// let sem = guv::CappedSemaphore::new(0, 1).unwrap();
/// sem.release(); // 0 -> 1
/// let s = sem.clone();
/// let blocked = guv::spawn(move || s.release()); // at the limit: waits
/// guv::gyield();
/// assert!(!blocked.is_finished());
/// sem.acquire(); // makes room; the blocked release completes
/// blocked.wait().unwrap();
/// assert_eq!(sem.count(), 1);
/// ```
pub struct CappedSemaphore {
    permits: Rc<Permits>,
}

semaphore_common!(CappedSemaphore, "guv::CappedSemaphore::new(1, 1).unwrap()");

impl CappedSemaphore {
    /// A semaphore holding `count` permits whose count never exceeds
    /// `limit` (but for permits handed back by killed acquirers, see
    /// [`CappedSemaphore`]). Fails with [`SemaphoreError::CountAboveLimit`] if
    /// `count > limit`. With `limit` 0 the count stays 0 and every release
    /// and acquire pair up directly, whichever comes first (a rendezvous).
    ///
    /// ```
    /// assert!(guv::CappedSemaphore::new(1, 2).is_ok());
    /// assert!(guv::CappedSemaphore::new(3, 2).is_err());
    /// ```
    pub fn new(count: usize, limit: usize) -> Result<CappedSemaphore, SemaphoreError> {
        if count > limit {
            return Err(SemaphoreError::CountAboveLimit { count, limit });
        }
        Ok(CappedSemaphore { permits: Permits::new(count, limit, Kind::Capped) })
    }

    /// Adds a permit: to the oldest waiter, else to the count — blocking
    /// while the count is at the limit. A blocked release completes when an
    /// acquire makes room for it: its permit is added right then, even if
    /// the releasing greenlet is killed before it runs again (as a queued
    /// put whose item a get has taken). Killed or timed out before that, it
    /// adds nothing and leaves no trace.
    ///
    /// ```
    /// let sem = guv::CappedSemaphore::new(0, 5).unwrap();
    /// sem.release();
    /// assert_eq!(sem.count(), 1);
    /// ```
    pub fn release(&self) {
        if !self.try_release() {
            let added = waiters::wait(&self.permits.releasers, (), None, |()| {});
            debug_assert!(added.is_ok());
        }
    }

    /// Adds a permit if that does not block; returns whether it did.
    ///
    /// ```
    /// let sem = guv::CappedSemaphore::new(1, 1).unwrap();
    /// assert!(!sem.try_release());
    /// ```
    pub fn try_release(&self) -> bool {
        let p = &self.permits;
        if p.serve_acquirer() {
            return true;
        }
        let count = p.count.get();
        if count < p.limit {
            p.count.set(count + 1);
            return true;
        }
        false
    }

    /// The limit the count may not exceed.
    ///
    /// ```
    /// assert_eq!(guv::CappedSemaphore::new(0, 4).unwrap().limit(), 4);
    /// ```
    pub fn limit(&self) -> usize {
        self.permits.limit
    }

    /// The number of greenlets blocked in `release`.
    ///
    /// ```
    /// let sem = guv::CappedSemaphore::new(1, 1).unwrap();
    /// let s = sem.clone();
    /// guv::spawn_n(move || s.release());
    /// guv::gyield();
    /// assert_eq!(sem.releasing(), 1);
    /// ```
    pub fn releasing(&self) -> usize {
        self.permits.releasers.borrow().len()
    }
}
