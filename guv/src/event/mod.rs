//! Events: wait for a value that some other greenlet will send once.
//!
//! - [`Event`] (this module's): eventlet's `event.Event`, a one-shot
//!   value (or error) that any number of greenlets wait for;
//! - [`crate::Event`] (the crate root's): the threading-style flag with
//!   `set`/`clear`/`wait`, gevent's `Event`;
//! - [`crate::AsyncResult`]: gevent's `AsyncResult`, a value or error set
//!   once, with callbacks, usable as a [`crate::GreenThread::link`] target.
//!
//! All three are hub-local: cheap handles (`Clone` shares the event) that
//! stay on their thread (`!Send`), built without atomics or locks. Waiters
//! are woken in the order they started waiting; a waiter that is killed or
//! times out leaves the wait list.

pub(crate) mod flag;
pub(crate) mod result;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::waiters::{self, WaitList};

/// A type with no values: the default error type of [`Event`], for events
/// that cannot fail. `Result<T, Never>` is always `Ok`.
///
/// ```
/// let ev: guv::event::Event<u8> = guv::event::Event::new(); // E = guv::Never
/// ev.send(1).unwrap();
/// let Ok(v) = ev.wait();
/// assert_eq!(v, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Never {}

impl fmt::Display for Never {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

/// [`Event::send`] (or `send_exception`, [`crate::AsyncResult::set`]...) on
/// an event that already holds a value. Carries back what was not sent.
///
/// ```
/// let ev = guv::event::Event::<u8>::new();
/// ev.send(1).unwrap();
/// let err = ev.send(2).unwrap_err();
/// assert_eq!(err.0, 2);
/// assert!(err.to_string().contains("re-send"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AlreadySent<V>(pub V);

impl<V> fmt::Debug for AlreadySent<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlreadySent(..)")
    }
}

impl<V> fmt::Display for AlreadySent<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Trying to re-send() an already-triggered event (reset() it first)")
    }
}

impl<V> std::error::Error for AlreadySent<V> {}

/// [`Event::reset`] on an event that holds no value.
///
/// ```
/// let ev = guv::event::Event::<u8>::new();
/// let err = ev.reset().unwrap_err();
/// assert!(err.to_string().contains("never sent"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotSent;

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Trying to reset() an event that was never sent")
    }
}

impl std::error::Error for NotSent {}

/// The core shared by [`Event`] and [`crate::AsyncResult`]: a value set
/// once and the greenlets waiting for it. Every waiter present at `set`
/// gets the value (a shared `Rc`), even if the event is reset before the
/// waiter runs.
pub(crate) struct Latch<V> {
    value: RefCell<Option<Rc<V>>>,
    waiters: RefCell<WaitList<(), Rc<V>>>,
}

impl<V> Latch<V> {
    pub(crate) const fn new() -> Self {
        Latch { value: RefCell::new(None), waiters: RefCell::new(WaitList::new()) }
    }

    /// Stores `v` and serves every waiter; gives `v` back if a value is
    /// already there.
    pub(crate) fn set(&self, v: V) -> Result<(), V> {
        if self.value.borrow().is_some() {
            return Err(v);
        }
        let v = Rc::new(v);
        *self.value.borrow_mut() = Some(v.clone());
        self.waiters.borrow_mut().serve_all(|()| v.clone());
        Ok(())
    }

    pub(crate) fn get(&self) -> Option<Rc<V>> {
        self.value.borrow().clone()
    }

    pub(crate) fn is_set(&self) -> bool {
        self.value.borrow().is_some()
    }

    /// Drops the value; false if there was none.
    pub(crate) fn reset(&self) -> bool {
        let old = self.value.borrow_mut().take();
        old.is_some()
    }

    /// The value, once set; `None` if `deadline` passed first.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<Rc<V>> {
        if let Some(v) = self.get() {
            return Some(v);
        }
        waiters::wait(&self.waiters, (), deadline, drop).ok()
    }
}

/// The latch of a value-or-error event.
impl<T, E> Latch<Result<T, E>> {
    /// Stores `Ok(value)` and serves every waiter; [`AlreadySent`] with
    /// `value` if a value or error is already there.
    pub(crate) fn set_ok(&self, value: T) -> Result<(), AlreadySent<T>> {
        self.set(Ok(value)).map_err(|r| match r {
            Ok(v) => AlreadySent(v),
            Err(_) => unreachable!(),
        })
    }

    /// Like [`set_ok`](Latch::set_ok), storing `Err(error)`.
    pub(crate) fn set_err(&self, error: E) -> Result<(), AlreadySent<E>> {
        self.set(Err(error)).map_err(|r| match r {
            Err(e) => AlreadySent(e),
            Ok(_) => unreachable!(),
        })
    }
}

/// A deadline `d` from now; `None` (never) if it cannot be represented.
pub(crate) fn deadline_after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// A value (or an error) that one greenlet sends and any number of others
/// wait for: eventlet's `event.Event`.
///
/// [`wait`](Event::wait) blocks until [`send`](Event::send) or
/// [`send_exception`](Event::send_exception), then returns the value to
/// every waiter — each gets a clone, which is why `wait` needs `T: Clone`
/// (wrap large or unclonable values in `Rc`). Waiting on an event that
/// already holds a value returns at once. An event is sent once; sending
/// again is an [`AlreadySent`] error until [`reset`](Event::reset).
///
/// `E` is the error type for `send_exception`; it defaults to [`Never`]
/// for events that cannot fail.
///
/// `Event` is a handle: clones share one event. It stays on its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(guv::event::Event::<u8>::new());
/// ```
///
/// ```
/// use guv::event::Event;
/// let ev = Event::<&str>::new();
/// let waiter = {
///     let ev = ev.clone();
///     guv::spawn(move || format!("waited for {}", ev.wait().unwrap()))
/// };
/// ev.send("a").unwrap();
/// assert_eq!(waiter.wait().unwrap(), "waited for a");
/// ```
pub struct Event<T, E = Never> {
    latch: Rc<Latch<Result<T, E>>>,
}

impl<T, E> Clone for Event<T, E> {
    fn clone(&self) -> Self {
        Event { latch: self.latch.clone() }
    }
}

impl<T, E> Default for Event<T, E> {
    fn default() -> Self {
        Event::new()
    }
}

impl<T, E> fmt::Debug for Event<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.latch.get().as_deref() {
            None => "waiting",
            Some(Ok(_)) => "result",
            Some(Err(_)) => "exception",
        };
        f.debug_struct("Event").field("state", &state).finish()
    }
}

impl<T, E> Event<T, E> {
    /// A new event holding no value.
    ///
    /// ```
    /// let ev = guv::event::Event::<u8, String>::new();
    /// assert!(!ev.ready());
    /// ```
    pub fn new() -> Self {
        Event { latch: Rc::new(Latch::new()) }
    }

    /// Stores `value` and wakes every waiter, in the order they started
    /// waiting (they run once the sender blocks or yields). Fails with
    /// [`AlreadySent`], giving the value back, if the event already holds
    /// a value.
    ///
    /// ```
    /// let ev = guv::event::Event::<u8>::new();
    /// assert!(ev.send(1).is_ok());
    /// assert_eq!(ev.send(2).unwrap_err().0, 2);
    /// ```
    pub fn send(&self, value: T) -> Result<(), AlreadySent<T>> {
        self.latch.set_ok(value)
    }

    /// Like [`send`](Event::send), but the waiters get `Err(error)`.
    ///
    /// ```
    /// let ev = guv::event::Event::<u8, String>::new();
    /// ev.send_exception("failed".to_string()).unwrap();
    /// assert_eq!(ev.wait(), Err("failed".to_string()));
    /// ```
    pub fn send_exception(&self, error: E) -> Result<(), AlreadySent<E>> {
        self.latch.set_err(error)
    }

    /// Whether the event holds a value or an error (a `wait` would return
    /// at once).
    ///
    /// ```
    /// let ev = guv::event::Event::<u8>::new();
    /// assert!(!ev.ready());
    /// ev.send(1).unwrap();
    /// assert!(ev.ready());
    /// ```
    pub fn ready(&self) -> bool {
        self.latch.is_set()
    }

    /// Whether the event holds a value (sent with `send`).
    ///
    /// ```
    /// let ev = guv::event::Event::<u8, ()>::new();
    /// ev.send(1).unwrap();
    /// assert!(ev.has_result() && !ev.has_exception());
    /// ```
    pub fn has_result(&self) -> bool {
        matches!(self.latch.get().as_deref(), Some(Ok(_)))
    }

    /// Whether the event holds an error (sent with `send_exception`).
    ///
    /// ```
    /// let ev = guv::event::Event::<u8, ()>::new();
    /// ev.send_exception(()).unwrap();
    /// assert!(ev.has_exception() && !ev.has_result());
    /// ```
    pub fn has_exception(&self) -> bool {
        matches!(self.latch.get().as_deref(), Some(Err(_)))
    }

    /// Makes a sent event fresh again, so that it can be sent anew; waiters
    /// woken by the earlier `send` still get that value. Fails with
    /// [`NotSent`] on an event that holds no value.
    ///
    /// ```
    /// let ev = guv::event::Event::<u8>::new();
    /// ev.send(1).unwrap();
    /// ev.reset().unwrap();
    /// assert!(!ev.ready());
    /// ev.send(2).unwrap();
    /// assert_eq!(ev.poll(), Some(Ok(2)));
    /// assert!(ev.reset().is_ok() && ev.reset().is_err());
    /// ```
    pub fn reset(&self) -> Result<(), NotSent> {
        if self.latch.reset() { Ok(()) } else { Err(NotSent) }
    }
}

impl<T: Clone, E: Clone> Event<T, E> {
    /// Waits until the event holds a value and returns a clone of it (or of
    /// the error). Returns at once if it already does.
    ///
    /// ```
    /// let ev = guv::event::Event::<u8>::new();
    /// let e = ev.clone();
    /// guv::spawn_n(move || e.send(7).unwrap());
    /// assert_eq!(ev.wait(), Ok(7));
    /// assert_eq!(ev.wait(), Ok(7)); // still there
    /// ```
    pub fn wait(&self) -> Result<T, E> {
        let v = self.latch.wait(None).expect("guv internal error: a wait without deadline timed out");
        (*v).clone()
    }

    /// Like [`wait`](Event::wait), for at most `timeout`: `None` if no
    /// value came in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = guv::event::Event::<u8>::new();
    /// assert_eq!(ev.wait_timeout(Duration::from_millis(5)), None);
    /// ev.send(3).unwrap();
    /// assert_eq!(ev.wait_timeout(Duration::from_millis(5)), Some(Ok(3)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<T, E>> {
        self.latch.wait(deadline_after(timeout)).map(|v| (*v).clone())
    }

    /// The value or error if the event holds one, without blocking.
    ///
    /// ```
    /// let ev = guv::event::Event::<u8>::new();
    /// assert_eq!(ev.poll(), None);
    /// ev.send(5).unwrap();
    /// assert_eq!(ev.poll(), Some(Ok(5)));
    /// ```
    pub fn poll(&self) -> Option<Result<T, E>> {
        self.latch.get().map(|v| (*v).clone())
    }
}
