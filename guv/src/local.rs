//! Green-local storage: [`local!`](crate::local!) and [`Local`], one value
//! per greenlet, as `thread_local!` gives one per thread.
//!
//! Each greenlet's header holds its values, keyed by the
//! address of the `static` [`Local`] (which is why [`Local::with`] takes
//! `&'static self`). A value is created by the `Local`'s initializer on a
//! greenlet's first access and dropped when the greenlet ends: on its own
//! stack, once its function returned, panicked or was killed, and before
//! its result is published. As with std's `JoinHandle::join` and
//! thread-locals, [`GreenThread::wait`](crate::GreenThread::wait),
//! [`GreenThread::is_finished`](crate::GreenThread::is_finished), its links
//! and `guv::green::thread`'s `join` see what the destructors did, even
//! destructors that park. A destructor may park, spawn and use other
//! locals; as with `thread_local!`, one whose value is already dropped (or
//! being dropped) is not made anew: [`Local::try_with`] fails with
//! `AccessError` and [`Local::with`] panics, while one the greenlet never
//! used is made, then dropped in turn. A destructor that panics is
//! reported by the panic hook and skipped, and the waiter gets the
//! function's own result. The greenlet's links run after that, as on a
//! fresh greenlet (every local starts anew there), and values they make
//! are dropped after the links. The thread's main greenlet keeps its
//! values until the thread's hub shuts down at thread exit — like
//! `thread_local!` values, whose destructors may not run at all on the
//! process's main thread; the hub is no longer usable from them, and
//! every local fails there as a destroyed one does.
//!
//! In code patched for the `thread` group (`#[guv::patched]`,
//! `#[guv::main]`, ...), `thread_local!` is rewritten to [`local!`](crate::local!),
//! since each patched `thread::spawn` is a greenlet; [`Local`] has the
//! methods of std's `LocalKey` for that.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::hub::{try_with_live_hub, with_hub};

/// One greenlet's green-local values (a field of its header).
#[derive(Default)]
pub(crate) struct Slots {
    values: RefCell<Vec<(usize, Rc<dyn Any>)>>,
    /// The keys whose values the running [`Slots::drop_all`] has dropped
    /// or is dropping: they may not be made anew before it returns.
    destroyed: RefCell<Vec<usize>>,
}

impl Slots {
    fn get(&self, key: usize) -> Option<Rc<dyn Any>> {
        self.values.borrow().iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn is_destroyed(&self, key: usize) -> bool {
        self.destroyed.borrow().contains(&key)
    }

    /// Drops every value, newest first, one at a time so that a
    /// destructor still sees the values not yet dropped. Each drop runs
    /// under `catch_unwind`: a destructor that panics is reported by the
    /// panic hook and does not keep the others from being dropped. A key
    /// counts as destroyed from the moment its value is taken out until
    /// this returns, so a destructor cannot make it anew (std's
    /// `AccessError`); values that destructors make for keys not used
    /// before are dropped too. That ends: each key is dropped at most once.
    pub(crate) fn drop_all(&self) {
        loop {
            let value = self.values.borrow_mut().pop();
            let Some((key, value)) = value else { break };
            self.destroyed.borrow_mut().push(key);
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(value)));
        }
        // What runs on the greenlet later (its links) starts anew.
        self.destroyed.borrow_mut().clear();
    }
}

/// A `std::thread::AccessError`, which std does not let other crates make:
/// a helper thread asks std for one, once, from inside a thread-local's
/// own destructor (where std documents that `try_with` fails).
fn access_error() -> std::thread::AccessError {
    static ERROR: std::sync::OnceLock<std::thread::AccessError> = std::sync::OnceLock::new();
    *ERROR.get_or_init(|| {
        struct Probe(std::sync::mpsc::Sender<std::thread::AccessError>);
        impl Drop for Probe {
            fn drop(&mut self) {
                if let Err(e) = PROBE.try_with(|_| ()) {
                    let _ = self.0.send(e);
                }
            }
        }
        thread_local! {
            static PROBE: RefCell<Option<Probe>> = const { RefCell::new(None) };
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let probe = std::thread::Builder::new()
            .name("guv-access-error".into())
            .spawn(move || PROBE.with(|p| *p.borrow_mut() = Some(Probe(tx))));
        let _ = probe.map(std::thread::JoinHandle::join);
        rx.recv().expect("guv: cannot make a std::thread::AccessError (its helper thread did not start or got none)")
    })
}

#[cold]
#[inline(never)]
fn destroyed() -> ! {
    panic!("guv: cannot access a green-local value during or after its destruction: AccessError")
}

/// Drops the running greenlet's values: called when its function has
/// ended, before its result is published (see [`Slots::drop_all`]).
pub(crate) fn drop_current() {
    let g = with_hub(|hub| hub.current());
    g.header().locals.drop_all();
}

/// A green-local value: one `T` per greenlet, made by an initializer on
/// first use in that greenlet and dropped when the greenlet ends, before
/// its result reaches [`GreenThread::wait`](crate::GreenThread::wait) or
/// its links (see the [module docs](mod@crate::local)). Declare
/// one with [`local!`](crate::local!) (or `static NAME: Local<T> =
/// Local::new(init);`).
///
/// ```
/// use std::cell::Cell;
/// guv::local! {
///     static COUNTER: Cell<u32> = Cell::new(0);
/// }
/// COUNTER.set(5);
/// let other = guv::spawn(|| {
///     COUNTER.set(COUNTER.get() + 1); // its own counter, starting at 0
///     COUNTER.get()
/// });
/// assert_eq!(other.wait().unwrap(), 1);
/// assert_eq!(COUNTER.get(), 5);
/// ```
pub struct Local<T: 'static> {
    init: fn() -> T,
}

impl<T: 'static> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Local { .. }")
    }
}

impl<T: 'static> Local<T> {
    /// A green-local whose value in each greenlet starts as `init()`.
    /// Only useful in a `static` (see [`local!`](crate::local!)).
    ///
    /// ```
    /// static NAME: guv::local::Local<String> = guv::local::Local::new(|| "unnamed".to_string());
    /// NAME.with(|n| assert_eq!(n, "unnamed"));
    /// ```
    pub const fn new(init: fn() -> T) -> Local<T> {
        Local { init }
    }

    /// Calls `f` with the running greenlet's value, creating it first if
    /// this greenlet has none yet.
    ///
    /// ```
    /// guv::local! {
    ///     static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::new());
    /// }
    /// BUF.with(|b| b.borrow_mut().push(1));
    /// assert_eq!(BUF.with(|b| b.borrow().len()), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// Where [`Local::try_with`] fails: from a destructor run at the
    /// greenlet's end, if this local's value is already dropped or being
    /// dropped (as `LocalKey::with` does), and once the thread's hub is
    /// gone.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.value() {
            Some(value) => f(Self::downcast(&value)),
            None => destroyed(),
        }
    }

    /// The running greenlet's value, made if it has none yet; `None` if it
    /// was destroyed (see [`Slots::drop_all`]) or the hub is gone.
    fn value(&'static self) -> Option<Rc<dyn Any>> {
        let key = self as *const Local<T> as usize;
        let g = try_with_live_hub(|hub| hub.current())?;
        let slots = &g.header().locals;
        if let Some(v) = slots.get(key) {
            return Some(v);
        }
        if slots.is_destroyed(key) {
            return None;
        }
        // Not under a borrow: the initializer may use other locals.
        let fresh: Rc<dyn Any> = Rc::new((self.init)());
        match slots.get(key) {
            // The initializer reached this local itself: keep that.
            Some(v) => Some(v),
            None => {
                slots.values.borrow_mut().push((key, fresh.clone()));
                Some(fresh)
            }
        }
    }

    fn downcast(value: &Rc<dyn Any>) -> &T {
        value.downcast_ref::<T>().expect("guv internal error: a green-local of the wrong type")
    }
}

impl<T: 'static> Local<T> {
    /// [`Local::with`], as `LocalKey::try_with`, so that code written for
    /// `thread_local!` works unchanged (`#[guv::patched]` turns
    /// `thread_local!` into [`local!`](crate::local!)). A greenlet's value
    /// is made on its first use and lives until the greenlet ends; this
    /// fails with std's `AccessError` as `LocalKey::try_with` does, when
    /// a destructor run at the greenlet's end reaches a local whose value
    /// is already dropped or being dropped (it is not made anew), and once
    /// the thread's hub is gone (destructors of the main greenlet's values
    /// at thread exit).
    ///
    /// ```
    /// use std::cell::{Cell, RefCell};
    /// guv::local! { static N: Cell<u8> = Cell::new(4); }
    /// assert_eq!(N.try_with(|n| n.get()), Ok(4));
    ///
    /// // A destructor that runs after N's value is gone finds it destroyed.
    /// struct Late(std::sync::mpsc::Sender<bool>);
    /// impl Drop for Late {
    ///     fn drop(&mut self) {
    ///         self.0.send(N.try_with(|n| n.get()).is_err()).unwrap();
    ///     }
    /// }
    /// guv::local! { static LATE: RefCell<Option<Late>> = RefCell::new(None); }
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// guv::spawn(move || {
    ///     LATE.with_borrow_mut(|l| *l = Some(Late(tx))); // made first, dropped last
    ///     N.set(5);
    /// })
    /// .wait()
    /// .unwrap();
    /// assert_eq!(rx.recv(), Ok(true));
    /// ```
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, std::thread::AccessError> {
        match self.value() {
            Some(value) => Ok(f(Self::downcast(&value))),
            None => Err(access_error()),
        }
    }
}

impl<T: Default + 'static> Local<Cell<T>> {
    /// Takes the running greenlet's value of a `Cell` local, leaving
    /// `T::default()`.
    ///
    /// ```
    /// guv::local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(6); }
    /// assert_eq!(N.take(), 6);
    /// assert_eq!(N.get(), 0);
    /// ```
    pub fn take(&'static self) -> T {
        self.with(Cell::take)
    }
}

impl<T: Copy + 'static> Local<Cell<T>> {
    /// The running greenlet's value of a `Cell` local.
    ///
    /// ```
    /// guv::local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(3); }
    /// assert_eq!(N.get(), 3);
    /// ```
    pub fn get(&'static self) -> T {
        self.with(Cell::get)
    }
}

impl<T: 'static> Local<Cell<T>> {
    /// Sets the running greenlet's value of a `Cell` local.
    ///
    /// ```
    /// guv::local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(0); }
    /// N.set(9);
    /// assert_eq!(N.get(), 9);
    /// ```
    pub fn set(&'static self, value: T) {
        self.with(|c| c.set(value));
    }

    /// Replaces the running greenlet's value of a `Cell` local, returning
    /// the old one.
    ///
    /// ```
    /// guv::local! { static N: std::cell::Cell<u8> = std::cell::Cell::new(1); }
    /// assert_eq!(N.replace(2), 1);
    /// assert_eq!(N.get(), 2);
    /// ```
    pub fn replace(&'static self, value: T) -> T {
        self.with(|c| c.replace(value))
    }
}

impl<T: 'static> Local<RefCell<T>> {
    /// Calls `f` with a shared borrow of the running greenlet's value of a
    /// `RefCell` local.
    ///
    /// ```
    /// guv::local! { static V: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![1]); }
    /// assert_eq!(V.with_borrow(|v| v.len()), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If the value is mutably borrowed.
    pub fn with_borrow<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        self.with(|c| f(&c.borrow()))
    }

    /// Calls `f` with a mutable borrow of the running greenlet's value of a
    /// `RefCell` local.
    ///
    /// ```
    /// guv::local! { static V: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::new()); }
    /// V.with_borrow_mut(|v| v.push(7));
    /// assert_eq!(V.with_borrow(|v| v[0]), 7);
    /// ```
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn with_borrow_mut<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> R {
        self.with(|c| f(&mut c.borrow_mut()))
    }

    /// Sets the running greenlet's value of a `RefCell` local.
    ///
    /// ```
    /// guv::local! { static V: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::new()); }
    /// V.set(vec![1, 2]);
    /// assert_eq!(V.with_borrow(|v| v.len()), 2);
    /// ```
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn set(&'static self, value: T) {
        self.with(|c| *c.borrow_mut() = value);
    }

    /// Replaces the running greenlet's value of a `RefCell` local,
    /// returning the old one.
    ///
    /// ```
    /// guv::local! { static V: std::cell::RefCell<String> = std::cell::RefCell::new("a".into()); }
    /// assert_eq!(V.replace("b".into()), "a");
    /// ```
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|c| c.replace(value))
    }
}

impl<T: Default + 'static> Local<RefCell<T>> {
    /// Takes the running greenlet's value of a `RefCell` local, leaving
    /// `T::default()`.
    ///
    /// ```
    /// guv::local! { static V: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![3]); }
    /// assert_eq!(V.take(), [3]);
    /// assert!(V.with_borrow(|v| v.is_empty()));
    /// ```
    ///
    /// # Panics
    ///
    /// If the value is borrowed.
    pub fn take(&'static self) -> T {
        self.with(RefCell::take)
    }
}

/// Declares green-local statics: like `thread_local!`, but one value per
/// greenlet, dropped when the greenlet ends (before whoever waits for it
/// resumes, as `thread_local!` values before `join` returns). Each becomes a
/// [`crate::local::Local`].
///
/// ```
/// use std::cell::RefCell;
/// guv::local! {
///     /// Requests handled by this greenlet.
///     static HANDLED: RefCell<Vec<u32>> = RefCell::new(Vec::new());
///     pub static DEPTH: std::cell::Cell<u8> = std::cell::Cell::new(0);
/// }
/// let a = guv::spawn(|| {
///     HANDLED.with_borrow_mut(|h| h.push(1));
///     guv::gyield();
///     HANDLED.with_borrow(|h| h.clone())
/// });
/// let b = guv::spawn(|| {
///     HANDLED.with_borrow_mut(|h| h.push(2));
///     HANDLED.with_borrow(|h| h.clone())
/// });
/// assert_eq!(a.wait().unwrap(), [1]);
/// assert_eq!(b.wait().unwrap(), [2]);
/// ```
#[macro_export]
macro_rules! local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        // A closure, not a helper `fn`: items are not hygienic in
        // `macro_rules!`, so a helper would shadow the user's own fn of
        // that name inside `$init`.
        $vis static $name: $crate::local::Local<$t> = $crate::local::Local::new(|| -> $t { $init });
        $crate::local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}

/// [`local!`] under a name that is a macro only (`guv::local` is also a
/// module), for `use std::thread_local;` in code patched by
/// `#[guv::patched]`, which imports it as `guv::__private::thread_local`.
/// Not public API.
///
/// ```
/// use guv::__private::thread_local as tl;
/// tl! { static N: std::cell::Cell<u8> = std::cell::Cell::new(3); }
/// assert_eq!(N.with(|n| n.get()), 3);
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __thread_local {
    ($($body:tt)*) => {
        $crate::local!($($body)*);
    };
}
