//! [`Once`], [`OnceState`], [`OnceLock`] and [`LazyLock`]: the green twins
//! of `std`'s. An initializer that blocks (does I/O, sleeps) parks only its
//! greenlet; the greenlets that wait for it park too, instead of blocking
//! the thread the initializer needs to finish.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex as StdMutex, OnceLock as StdOnceLock};

use super::park::{Kind, Parker, WaitQueue, lock, wake_all};
use crate::hub::{ANY_THREAD, thread_mark};

/// Never run, or the last run was abandoned by `call_once_force`'s caller.
const INCOMPLETE: u8 = 0;
/// An initializer runs now.
const RUNNING: u8 = 1;
/// Done.
const COMPLETE: u8 = 2;
/// The initializer panicked (or its greenlet was killed).
const POISONED: u8 = 3;

/// Runs an initializer exactly once: the green twin of
/// [`std::sync::Once`]. Callers arriving while it runs park until it is
/// done.
///
/// ```
/// use guv::green::sync::Once;
/// static INIT: Once = Once::new();
/// let gts: Vec<_> = (0..3)
///     .map(|_| guv::spawn(|| INIT.call_once(|| guv::sleep(std::time::Duration::from_millis(1)))))
///     .collect();
/// guv::wait_all(&gts);
/// assert!(INIT.is_completed());
/// ```
pub struct Once {
    state: AtomicU8,
    /// The `thread_mark` of the running initializer's thread (`ANY_THREAD`
    /// when none runs or not known yet), for the waiters' deadlock probes.
    runner: AtomicUsize,
    waiters: StdMutex<WaitQueue>,
}

impl UnwindSafe for Once {}
impl RefUnwindSafe for Once {}

/// The state passed to [`Once::call_once_force`]'s closure: the green twin
/// of `std::sync::OnceState`.
///
/// ```
/// let once = guv::green::sync::Once::new();
/// once.call_once_force(|state| assert!(!state.is_poisoned()));
/// assert!(once.is_completed());
/// ```
pub struct OnceState {
    poisoned: bool,
    /// `Send` but not `Sync`, like `std`'s.
    _not_sync: PhantomData<Cell<()>>,
}

impl OnceState {
    /// Whether an earlier run panicked, leaving the `Once` poisoned.
    ///
    /// ```
    /// let once = guv::green::sync::Once::new();
    /// once.call_once_force(|state| assert!(!state.is_poisoned()));
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

impl fmt::Debug for OnceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceState").field("poisoned", &self.poisoned).finish()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

/// Sets the final state when the initializer ends (also by unwinding) and
/// wakes the waiters.
struct Completion<'a> {
    once: &'a Once,
    state: u8,
}

impl Drop for Completion<'_> {
    fn drop(&mut self) {
        self.once.runner.store(ANY_THREAD, Ordering::Relaxed);
        // Release: the initializer's writes happen-before any acquire load
        // that sees COMPLETE. The waiters' queue lock orders the wake-up.
        self.once.state.store(self.state, Ordering::Release);
        let all = {
            let mut queue = lock(&self.once.waiters);
            queue.set_holder(ANY_THREAD);
            queue.take_all()
        };
        wake_all(all);
    }
}

impl Once {
    /// A `Once` that has not run.
    ///
    /// ```
    /// static O: guv::green::sync::Once = guv::green::sync::Once::new();
    /// assert!(!O.is_completed());
    /// ```
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(INCOMPLETE),
            runner: AtomicUsize::new(ANY_THREAD),
            waiters: StdMutex::new(WaitQueue::new()),
        }
    }

    /// Runs `f` if no call has completed yet, else returns at once; a
    /// caller arriving while another runs parks until it is done.
    ///
    /// ```
    /// let once = guv::green::sync::Once::new();
    /// let mut runs = 0;
    /// once.call_once(|| runs += 1);
    /// once.call_once(|| runs += 1);
    /// assert_eq!(runs, 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If an earlier run panicked (the `Once` is poisoned), and with `f`'s
    /// panic if `f` panics.
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.state.load(Ordering::Acquire) == COMPLETE {
            return;
        }
        let mut f = Some(f);
        self.call(false, &mut |_| (f.take().expect("guv internal error: Once ran twice"))());
    }

    /// Like [`call_once`](Once::call_once), but also runs on a poisoned
    /// `Once`, telling `f` so through [`OnceState::is_poisoned`].
    ///
    /// ```
    /// let once = guv::green::sync::Once::new();
    /// once.call_once_force(|_| ());
    /// assert!(once.is_completed());
    /// ```
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.state.load(Ordering::Acquire) == COMPLETE {
            return;
        }
        let mut f = Some(f);
        self.call(true, &mut |state| (f.take().expect("guv internal error: Once ran twice"))(state));
    }

    /// Whether a call has completed.
    ///
    /// ```
    /// let once = guv::green::sync::Once::new();
    /// once.call_once(|| ());
    /// assert!(once.is_completed());
    /// ```
    pub fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMPLETE
    }

    /// Parks until a call has completed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let once = Arc::new(guv::green::sync::Once::new());
    /// let o = once.clone();
    /// guv::spawn_n(move || o.call_once(|| ()));
    /// once.wait();
    /// assert!(once.is_completed());
    /// ```
    ///
    /// # Panics
    ///
    /// If the `Once` is or becomes poisoned.
    pub fn wait(&self) {
        if !self.wait_for(true) {
            panic!("Once instance has previously been poisoned");
        }
    }

    /// Like [`wait`](Once::wait), ignoring poisoning: parks until a call
    /// has completed, even if an earlier one panicked.
    ///
    /// ```
    /// let once = guv::green::sync::Once::new();
    /// once.call_once(|| ());
    /// once.wait_force();
    /// ```
    pub fn wait_force(&self) {
        self.wait_for(false);
    }

    /// Parks until COMPLETE, or POISONED if `stop_on_poison`; returns
    /// whether it is COMPLETE.
    pub(super) fn wait_for(&self, stop_on_poison: bool) -> bool {
        loop {
            match self.state.load(Ordering::Acquire) {
                COMPLETE => return true,
                POISONED if stop_on_poison => return false,
                _ => self.park_while(|s| s != COMPLETE && !(stop_on_poison && s == POISONED)),
            }
        }
    }

    /// Parks once, unless `waiting(state)` is false by the time we are
    /// queued (read under the queue's lock, which `Completion` takes after
    /// storing the state: no wake-up is missed).
    fn park_while(&self, waiting: impl Fn(u8) -> bool) {
        let parker = Parker::probed();
        let (id, holder) = {
            let mut queue = lock(&self.waiters);
            if !waiting(self.state.load(Ordering::Acquire)) {
                return;
            }
            // Only the running initializer can end this wait (or, if none
            // runs, any caller).
            let holder = queue.holder(|| self.runner.load(Ordering::Relaxed));
            (queue.push(parker.remote(), Kind::Shared, false), holder)
        };
        parker.watch(&holder);
        let _leave = Leave { once: self, id };
        parker.park(None);
    }

    fn call(&self, ignore_poison: bool, f: &mut dyn FnMut(&OnceState)) {
        loop {
            let state = self.state.load(Ordering::Acquire);
            match state {
                COMPLETE => return,
                POISONED if !ignore_poison => panic!("Once instance has previously been poisoned"),
                INCOMPLETE | POISONED => {
                    if self.state.compare_exchange(state, RUNNING, Ordering::Acquire, Ordering::Acquire).is_err() {
                        continue;
                    }
                    self.runner.store(thread_mark(), Ordering::Relaxed);
                    // Poisoned unless the initializer returns normally.
                    let mut done = Completion { once: self, state: POISONED };
                    f(&OnceState { poisoned: state == POISONED, _not_sync: PhantomData });
                    done.state = COMPLETE;
                    return;
                }
                _ => self.park_while(|s| s == RUNNING),
            }
        }
    }
}

/// Removes a waiter's entry when its park ends (woken, or unwinding).
struct Leave<'a> {
    once: &'a Once,
    id: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        lock(&self.once.waiters).remove(self.id);
    }
}

/// A cell written once: the green twin of [`std::sync::OnceLock`]. An
/// initializer that blocks parks only its greenlet; others that want the
/// value park until it is there.
///
/// ```
/// use guv::green::sync::OnceLock;
/// static CELL: OnceLock<String> = OnceLock::new();
/// let v = CELL.get_or_init(|| {
///     guv::sleep(std::time::Duration::from_millis(1)); // may block
///     "ready".to_string()
/// });
/// assert_eq!(v, "ready");
/// assert_eq!(CELL.get().map(String::as_str), Some("ready"));
/// ```
pub struct OnceLock<T> {
    once: Once,
    value: StdOnceLock<T>,
}

impl<T> OnceLock<T> {
    /// An empty cell.
    ///
    /// ```
    /// let c = guv::green::sync::OnceLock::<u8>::new();
    /// assert!(c.get().is_none());
    /// ```
    pub const fn new() -> OnceLock<T> {
        OnceLock { once: Once::new(), value: StdOnceLock::new() }
    }

    /// The value, if set.
    ///
    /// ```
    /// let c = guv::green::sync::OnceLock::new();
    /// c.set(1).unwrap();
    /// assert_eq!(c.get(), Some(&1));
    /// ```
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// A mutable reference to the value, if set.
    ///
    /// ```
    /// let mut c = guv::green::sync::OnceLock::new();
    /// c.set(1).unwrap();
    /// *c.get_mut().unwrap() = 2;
    /// assert_eq!(c.get(), Some(&2));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut()
    }

    /// Parks until the value is set, then returns it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let c = Arc::new(guv::green::sync::OnceLock::new());
    /// let c2 = c.clone();
    /// guv::spawn_n(move || { c2.set(9).unwrap(); });
    /// assert_eq!(*c.wait(), 9);
    /// ```
    pub fn wait(&self) -> &T {
        loop {
            if let Some(v) = self.value.get() {
                return v;
            }
            self.once.wait_for(false);
        }
    }

    /// Sets the value if the cell is empty (parking while another greenlet
    /// initializes it); gives `value` back if it was already set.
    ///
    /// ```
    /// let c = guv::green::sync::OnceLock::new();
    /// assert_eq!(c.set(1), Ok(()));
    /// assert_eq!(c.set(2), Err(2));
    /// ```
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("guv internal error: OnceLock set twice"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// The value, initializing it with `f` if the cell is empty. Only one
    /// initializer runs at a time; others park until it is done. If `f`
    /// panics the panic propagates and the cell stays empty.
    ///
    /// ```
    /// let c = guv::green::sync::OnceLock::new();
    /// assert_eq!(*c.get_or_init(|| 1), 1);
    /// assert_eq!(*c.get_or_init(|| 2), 1);
    /// ```
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.value.get() {
            return v;
        }
        self.once.call_once_force(|_| {
            // Only initializers under `once` set `value`: it is empty here.
            let _ = self.value.set(f());
        });
        self.value.get().expect("guv internal error: OnceLock completed empty")
    }

    /// Consumes the cell, returning its value if set.
    ///
    /// ```
    /// let c = guv::green::sync::OnceLock::from(3);
    /// assert_eq!(c.into_inner(), Some(3));
    /// ```
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    ///
    /// ```
    /// let mut c = guv::green::sync::OnceLock::from(3);
    /// assert_eq!(c.take(), Some(3));
    /// assert!(c.get().is_none());
    /// ```
    pub fn take(&mut self) -> Option<T> {
        self.once = Once::new();
        self.value.take()
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> OnceLock<T> {
        match self.get() {
            Some(v) => OnceLock::from(v.clone()),
            None => OnceLock::new(),
        }
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

/// A value computed on first access: the green twin of
/// [`std::sync::LazyLock`]. The initializer may block; concurrent
/// accessors park until it is done. If it panics, the `LazyLock` is
/// poisoned and later accesses panic.
///
/// ```
/// use guv::green::sync::LazyLock;
/// static TABLE: LazyLock<Vec<u32>> = LazyLock::new(|| (0..4).map(|i| i * i).collect());
/// assert_eq!(TABLE[3], 9);
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceLock<T>,
    init: StdMutex<Option<F>>,
}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A `LazyLock` that will compute its value with `f`.
    ///
    /// ```
    /// let lazy = guv::green::sync::LazyLock::new(|| 6 * 7);
    /// assert_eq!(*lazy, 42);
    /// ```
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock { cell: OnceLock::new(), init: StdMutex::new(Some(f)) }
    }

    /// Computes the value if needed and returns it (the same as deref).
    ///
    /// ```
    /// use guv::green::sync::LazyLock;
    /// let lazy = LazyLock::new(|| "hi");
    /// assert_eq!(*LazyLock::force(&lazy), "hi");
    /// ```
    ///
    /// # Panics
    ///
    /// If the initializer panics, or panicked on an earlier access.
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.cell.get_or_init(|| {
            let f = lock(&this.init).take();
            match f {
                Some(f) => f(),
                None => panic!("LazyLock instance has previously been poisoned"),
            }
        })
    }
}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// Forces the value and returns it mutably (`&mut` proves nobody else
    /// uses the lock), as std's.
    ///
    /// ```
    /// use guv::green::sync::LazyLock;
    /// let mut lazy = LazyLock::new(|| 1);
    /// *LazyLock::force_mut(&mut lazy) += 1;
    /// assert_eq!(*lazy, 2);
    /// ```
    ///
    /// # Panics
    ///
    /// With the initializer's panic, or if an earlier one panicked.
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        LazyLock::force(this);
        this.cell.get_mut().expect("guv internal error: LazyLock forced empty")
    }
}

impl<T, F> LazyLock<T, F> {
    /// The value if it has been forced, without forcing it.
    ///
    /// ```
    /// use guv::green::sync::LazyLock;
    /// let lazy = LazyLock::new(|| 1);
    /// assert_eq!(LazyLock::get(&lazy), None);
    /// LazyLock::force(&lazy);
    /// assert_eq!(LazyLock::get(&lazy), Some(&1));
    /// ```
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        this.cell.get()
    }

    /// The value mutably if it has been forced, without forcing it.
    ///
    /// ```
    /// use guv::green::sync::LazyLock;
    /// let mut lazy = LazyLock::new(|| 1);
    /// assert_eq!(LazyLock::get_mut(&mut lazy), None);
    /// ```
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        this.cell.get_mut()
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

/// Forces the value, as `&mut` deref does on std's (`*lazy += 1`).
///
/// ```
/// let mut lazy = guv::green::sync::LazyLock::new(|| 1);
/// *lazy += 1;
/// assert_eq!(*lazy, 2);
/// ```
impl<T, F: FnOnce() -> T> DerefMut for LazyLock<T, F> {
    fn deref_mut(&mut self) -> &mut T {
        LazyLock::force_mut(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match self.cell.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
