//! [`AsyncResult`] (exported at the crate root).

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::{AlreadySent, Latch, deadline_after};
use crate::LinkId;
use crate::links::{self, Links};

type Link<T, E> = Box<dyn FnOnce(&AsyncResult<T, E>)>;

struct Inner<T, E> {
    latch: Latch<Result<T, E>>,
    links: Links<Link<T, E>>,
}

/// A value or an error that arrives once: gevent's `AsyncResult`.
///
/// One side calls [`set`](AsyncResult::set) or
/// [`set_exception`](AsyncResult::set_exception) (once: a second call is an
/// [`AlreadySent`] error); any number of greenlets [`get`](AsyncResult::get)
/// it, each receiving a clone, blocking until it is there. Callbacks added
/// with [`rawlink`](AsyncResult::rawlink) run once, when it is set.
///
/// [`link_target`](AsyncResult::link_target) makes one the receiver of a
/// greenlet's outcome:
///
/// ```
/// let result = guv::AsyncResult::<u32, guv::Error>::new();
/// let gt = guv::spawn(|| 6 * 7);
/// gt.link(result.link_target());
/// assert_eq!(result.get().unwrap(), 42);
/// ```
///
/// `AsyncResult` is a handle: clones share one result. It stays on its
/// thread (`!Send`).
pub struct AsyncResult<T, E> {
    inner: Rc<Inner<T, E>>,
}

impl<T, E> Clone for AsyncResult<T, E> {
    fn clone(&self) -> Self {
        AsyncResult { inner: self.inner.clone() }
    }
}

impl<T, E> Default for AsyncResult<T, E> {
    fn default() -> Self {
        AsyncResult::new()
    }
}

impl<T, E> fmt::Debug for AsyncResult<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner.latch.get().as_deref() {
            None => "pending",
            Some(Ok(_)) => "value",
            Some(Err(_)) => "exception",
        };
        f.debug_struct("AsyncResult").field("state", &state).finish()
    }
}

impl<T, E> AsyncResult<T, E> {
    /// A new, empty result.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, String>::new();
    /// assert!(!r.ready());
    /// ```
    pub fn new() -> Self {
        AsyncResult { inner: Rc::new(Inner { latch: Latch::new(), links: Links::new() }) }
    }

    /// Whether a value or an error is stored.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// r.set(0).unwrap();
    /// assert!(r.ready());
    /// ```
    pub fn ready(&self) -> bool {
        self.inner.latch.is_set()
    }

    /// Whether a value (not an error) is stored.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// assert!(!r.successful());
    /// r.set(0).unwrap();
    /// assert!(r.successful());
    /// ```
    pub fn successful(&self) -> bool {
        matches!(self.inner.latch.get().as_deref(), Some(Ok(_)))
    }

    /// Blocks until a value or an error is stored.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// let r2 = r.clone();
    /// guv::spawn_n(move || r2.set(9).unwrap());
    /// r.wait();
    /// assert!(r.ready());
    /// ```
    pub fn wait(&self) {
        let v = self.inner.latch.wait(None);
        debug_assert!(v.is_some());
    }

    /// Like [`wait`](AsyncResult::wait) for at most `timeout`; returns
    /// whether the result is ready.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// assert!(!r.wait_timeout(Duration::from_millis(2)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner.latch.wait(deadline_after(timeout)).is_some()
    }

    /// Registers `callback` to run once, on the greenlet that sets the
    /// result (or at once if it is already set). Callbacks run in the order
    /// they were added. A callback that panics is reported by the panic
    /// hook and does not keep the others from running. If the setter is
    /// killed (or its `Timeout` fires) inside a callback, that callback is
    /// cut short and the ones after it run on a fresh greenlet: each
    /// callback added before the result was set runs exactly once (if no
    /// greenlet can be started, that is logged as an error, target
    /// `guv::links`, and they run on the setter before it dies).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// let seen = Rc::new(Cell::new(0));
    /// let s = seen.clone();
    /// r.rawlink(move |r| s.set(r.get_nowait().unwrap().unwrap()));
    /// r.set(4).unwrap();
    /// assert_eq!(seen.get(), 4);
    /// ```
    pub fn rawlink(&self, callback: impl FnOnce(&AsyncResult<T, E>) + 'static) -> LinkId {
        let id = self.inner.links.new_id();
        // Callbacks queued before it still to run (on the setter, or on the
        // greenlet that took over from a killed setter) go first.
        if self.ready() && self.inner.links.is_empty() {
            self.call_link(Box::new(callback), false);
        } else {
            self.inner.links.push(id, Box::new(callback));
        }
        id
    }

    /// Removes a callback that has not run; returns whether it was there.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// let id = r.rawlink(|_| panic!("never called"));
    /// assert!(r.unlink(id));
    /// r.set(1).unwrap();
    /// ```
    pub fn unlink(&self, id: LinkId) -> bool {
        self.inner.links.remove(id)
    }

    fn call_link(&self, f: Link<T, E>, end_interrupts: bool) {
        links::call(|| f(self), end_interrupts);
    }

    /// Runs the queued callbacks, oldest first (also those queued
    /// meanwhile).
    fn call_queued(&self, end_interrupts: bool) {
        while let Some(f) = self.inner.links.pop_front() {
            self.call_link(f, end_interrupts);
        }
    }
}

// Setting needs `'static` types: callbacks interrupted by a kill of the
// setter are finished on a fresh greenlet.
impl<T: 'static, E: 'static> AsyncResult<T, E> {
    /// Stores `value`, wakes every waiter (in the order they started
    /// waiting) and runs the callbacks. Fails with [`AlreadySent`], giving
    /// the value back, if a value or error is already stored.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// r.set(1).unwrap();
    /// assert_eq!(r.set(2).unwrap_err().0, 2);
    /// assert_eq!(r.get(), Ok(1));
    /// ```
    pub fn set(&self, value: T) -> Result<(), AlreadySent<T>> {
        self.inner.latch.set_ok(value)?;
        self.run_links();
        Ok(())
    }

    /// Like [`set`](AsyncResult::set), storing an error.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, &str>::new();
    /// r.set_exception("bad").unwrap();
    /// assert_eq!(r.get(), Err("bad"));
    /// ```
    pub fn set_exception(&self, error: E) -> Result<(), AlreadySent<E>> {
        self.inner.latch.set_err(error)?;
        self.run_links();
        Ok(())
    }

    /// Runs the queued callbacks, oldest first. If the running greenlet is
    /// killed or times out inside one, the callbacks still queued run on a
    /// fresh greenlet, or on this one if none can be spawned
    /// ([`links::run_rest`]), before the interrupt goes on: the result is
    /// already set, so nothing else ever would run them. None is skipped,
    /// none runs twice.
    fn run_links(&self) {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.call_queued(false)));
        let Err(payload) = ran else { return };
        if self.inner.links.is_empty() {
            crate::hub::resume_unwind(payload);
        }
        let this = self.clone();
        links::run_rest("AsyncResult callbacks", move || this.run_links(), || self.call_queued(true), payload);
    }
}

impl<T: Clone, E: Clone> AsyncResult<T, E> {
    /// Waits for the result and returns a clone of it.
    ///
    /// ```
    /// let r = guv::AsyncResult::<String, ()>::new();
    /// let r2 = r.clone();
    /// guv::spawn_n(move || r2.set("done".into()).unwrap());
    /// assert_eq!(r.get().unwrap(), "done");
    /// ```
    pub fn get(&self) -> Result<T, E> {
        let v = self.inner.latch.wait(None).expect("guv internal error: a wait without deadline timed out");
        (*v).clone()
    }

    /// Like [`get`](AsyncResult::get) for at most `timeout`: `None` if the
    /// result did not arrive in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// assert_eq!(r.get_timeout(Duration::from_millis(2)), None);
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Option<Result<T, E>> {
        self.inner.latch.wait(deadline_after(timeout)).map(|v| (*v).clone())
    }

    /// The result if it is there, without blocking.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, ()>::new();
    /// assert_eq!(r.get_nowait(), None);
    /// r.set(1).unwrap();
    /// assert_eq!(r.get_nowait(), Some(Ok(1)));
    /// ```
    pub fn get_nowait(&self) -> Option<Result<T, E>> {
        self.inner.latch.get().map(|v| (*v).clone())
    }

    /// The stored error, if an error is stored.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, &str>::new();
    /// r.set_exception("no").unwrap();
    /// assert_eq!(r.exception(), Some("no"));
    /// ```
    pub fn exception(&self) -> Option<E> {
        match self.inner.latch.get().as_deref() {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
}

impl<T: Clone + 'static, E: From<crate::Error> + 'static> AsyncResult<T, E> {
    /// A callback for [`crate::GreenThread::link`] that stores the
    /// greenlet's outcome here: its value with `set`, or its
    /// [`crate::Error`] (converted to `E`) with `set_exception`. If a result
    /// is already stored the outcome is dropped.
    ///
    /// ```
    /// let r = guv::AsyncResult::<u8, guv::Error>::new();
    /// let gt = guv::spawn(|| -> u8 { guv::sleep(std::time::Duration::from_secs(60)); 0 });
    /// gt.link(r.link_target());
    /// guv::gyield();
    /// gt.kill();
    /// assert!(r.get().unwrap_err().is_killed());
    /// ```
    pub fn link_target(&self) -> impl FnOnce(&Result<T, crate::Error>) + 'static {
        let this = self.clone();
        move |outcome| {
            let _ = match outcome {
                Ok(v) => this.set(v.clone()).map_err(drop),
                Err(e) => this.set_exception(E::from(e.clone())).map_err(drop),
            };
        }
    }
}
