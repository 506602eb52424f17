//! The threading-style event flag, [`Event`] (exported at the crate root).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::deadline_after;
use crate::LinkId;
use crate::links::{self, Links};
use crate::waiters::{self, WaitList};

type Link = Rc<RefCell<dyn FnMut(&Event)>>;

struct Inner {
    flag: Cell<bool>,
    waiters: RefCell<WaitList<(), ()>>,
    links: Links<Link>,
}

/// A flag that greenlets wait for: gevent's `Event`, Python's
/// `threading.Event`.
///
/// [`set`](Event::set) raises the flag and wakes every waiter (in the order
/// they started waiting); [`clear`](Event::clear) lowers it, so that later
/// [`wait`](Event::wait)s block until the next `set`. A waiter woken by a
/// `set` returns even if the flag was cleared again before it ran.
/// [`rawlink`](Event::rawlink) registers callbacks run at every `set`.
///
/// `Event` is a handle: clones share one flag. It stays on its thread
/// (`!Send`).
///
/// ```
/// let ev = guv::Event::new();
/// let e = ev.clone();
/// let waiter = guv::spawn(move || {
///     e.wait();
///     "go"
/// });
/// guv::gyield(); // the waiter blocks
/// ev.set();
/// assert_eq!(waiter.wait().unwrap(), "go");
/// ```
#[derive(Clone)]
pub struct Event {
    inner: Rc<Inner>,
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").field("set", &self.is_set()).finish()
    }
}

impl Event {
    /// A new, cleared flag.
    ///
    /// ```
    /// assert!(!guv::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event {
            inner: Rc::new(Inner {
                flag: Cell::new(false),
                waiters: RefCell::new(WaitList::new()),
                links: Links::new(),
            }),
        }
    }

    /// Whether the flag is raised.
    ///
    /// ```
    /// let ev = guv::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.flag.get()
    }

    /// Raises the flag: wakes every waiter, then calls the
    /// [`rawlink`](Event::rawlink) callbacks in the order they were added.
    /// Does nothing if the flag is already raised.
    ///
    /// ```
    /// let ev = guv::Event::new();
    /// ev.set();
    /// ev.set(); // no effect
    /// ev.wait(); // returns at once
    /// ```
    pub fn set(&self) {
        if self.inner.flag.replace(true) {
            return;
        }
        self.inner.waiters.borrow_mut().serve_all(|()| ());
        self.run_links();
    }

    /// Lowers the flag; later waits block until the next [`set`](Event::set).
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = guv::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.wait_timeout(Duration::from_millis(1)));
    /// ```
    pub fn clear(&self) {
        self.inner.flag.set(false);
    }

    /// Blocks until the flag is raised (returns at once if it is).
    ///
    /// ```
    /// let ev = guv::Event::new();
    /// let e = ev.clone();
    /// guv::spawn_n(move || e.set());
    /// ev.wait();
    /// assert!(ev.is_set());
    /// ```
    pub fn wait(&self) {
        if !self.is_set() {
            let served = waiters::wait(&self.inner.waiters, (), None, drop);
            debug_assert!(served.is_ok());
        }
    }

    /// Like [`wait`](Event::wait) for at most `timeout`; returns whether
    /// the flag was raised (false: the time ran out).
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = guv::Event::new();
    /// assert!(!ev.wait_timeout(Duration::from_millis(5)));
    /// ev.set();
    /// assert!(ev.wait_timeout(Duration::from_millis(5)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.is_set() || waiters::wait(&self.inner.waiters, (), deadline_after(timeout), drop).is_ok()
    }

    /// Registers `callback` to run (on the greenlet that calls `set`) every
    /// time the flag is raised — and at once if it is raised now. A
    /// callback that panics is reported by the panic hook and does not keep
    /// the others from running. If the setter is killed (or its `Timeout`
    /// fires) inside a callback, that one is cut short and the later ones
    /// run on a fresh greenlet, so each `set` still reaches every callback
    /// (if no greenlet can be started, that is logged as an error, target
    /// `guv::links`, and they run on the setter before it dies).
    /// Remove it with [`unlink`](Event::unlink).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let ev = guv::Event::new();
    /// let hits = Rc::new(Cell::new(0));
    /// let h = hits.clone();
    /// let id = ev.rawlink(move |_ev| h.set(h.get() + 1));
    /// ev.set();
    /// ev.clear();
    /// ev.set();
    /// assert_eq!(hits.get(), 2);
    /// assert!(ev.unlink(id));
    /// ```
    pub fn rawlink(&self, callback: impl FnMut(&Event) + 'static) -> LinkId {
        let id = self.inner.links.new_id();
        let link: Link = Rc::new(RefCell::new(callback));
        self.inner.links.push(id, link.clone());
        if self.is_set() {
            self.call_link(&link, false);
        }
        id
    }

    /// Removes a callback added with [`rawlink`](Event::rawlink); returns
    /// whether it was there.
    ///
    /// ```
    /// let ev = guv::Event::new();
    /// let id = ev.rawlink(|_| panic!("never called"));
    /// assert!(ev.unlink(id));
    /// assert!(!ev.unlink(id));
    /// ev.set();
    /// ```
    pub fn unlink(&self, id: LinkId) -> bool {
        self.inner.links.remove(id)
    }

    /// Calls the links present now, in order, while the flag stays raised.
    fn run_links(&self) {
        self.run_snapshot(self.inner.links.snapshot());
    }

    /// Calls `pending`'s links that are still linked, in order, while the
    /// flag stays raised. If the running greenlet is killed or times out
    /// inside one, the rest run on a fresh greenlet, or on this one if
    /// none can be spawned ([`links::run_rest`]), before the interrupt goes
    /// on: a `set` reaches every link present when it began.
    fn run_snapshot(&self, mut pending: VecDeque<(LinkId, Link)>) {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.call_pending(&mut pending, false)));
        let Err(payload) = ran else { return };
        if pending.is_empty() {
            crate::hub::resume_unwind(payload);
        }
        // Shared with the fresh greenlet's body, so that they are still
        // here to run if it cannot be spawned.
        let rest = Rc::new(RefCell::new(pending));
        let (event, fresh) = (self.clone(), rest.clone());
        links::run_rest(
            "Event callbacks of a set()",
            move || {
                let pending = fresh.take();
                event.run_snapshot(pending);
            },
            || self.call_pending(&mut rest.take(), true),
            payload,
        );
    }

    fn call_pending(&self, pending: &mut VecDeque<(LinkId, Link)>, end_interrupts: bool) {
        while let Some((id, link)) = pending.pop_front() {
            if !self.is_set() {
                break;
            }
            if self.inner.links.contains(id) {
                self.call_link(&link, end_interrupts);
            }
        }
        pending.clear();
    }

    fn call_link(&self, link: &Link, end_interrupts: bool) {
        // A callback that sets the flag again from inside itself is not
        // re-entered.
        let Ok(mut f) = link.try_borrow_mut() else {
            return;
        };
        links::call(|| (*f)(self), end_interrupts);
    }
}
