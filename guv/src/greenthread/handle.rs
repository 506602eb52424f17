//! `GreenThread`, the handle to a spawned greenlet: waiting for its result,
//! joining, killing, cancelling, and linking callbacks (`LinkId`).

use std::cell::Cell;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::Duration;

#[cfg(doc)] // only named in doc links
use super::Builder;
use super::task::{Joinable, Outcome, Task};
use crate::Error;
use crate::greenlet::{Body, GreenletRef, Header, Kind, Node, Sched, same};
use crate::hub::with_hub;

/// Names a callback registered with [`GreenThread::link`] (or
/// [`Event::rawlink`](crate::Event::rawlink),
/// [`AsyncResult::rawlink`](crate::AsyncResult::rawlink)), to remove it
/// with the same object's `unlink`. Ids are unique in the process: given
/// to another object's `unlink`, one removes nothing there.
///
/// ```
/// let gt = guv::spawn(|| ());
/// let id = gt.link(|_| unreachable!("unlinked before the greenlet ran"));
/// assert!(gt.unlink(id));
/// gt.wait().unwrap();
///
/// let other = guv::spawn(|| ());
/// let mine = other.link(|_| ());
/// let theirs = guv::spawn(|| ()).link(|_| ());
/// assert!(!other.unlink(theirs)); // not one of `other`'s
/// assert!(other.unlink(mine));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkId(pub(crate) u64);

/// A handle to a spawned greenlet: wait for its result, kill it, or be told
/// when it ends.
///
/// Dropping the handle detaches the greenlet (it keeps running, as with
/// `std::thread::JoinHandle`). The handle is `!Send`, because greenlets never
/// leave their thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(guv::spawn(|| 1));
/// ```
pub struct GreenThread<T> {
    pub(super) g: GreenletRef,
    /// The greenlet's body (also behind `g`), for its outcome.
    pub(super) task: Rc<dyn Joinable<T>>,
}

impl<T: 'static> GreenThread<T> {
    fn greenlet(&self) -> GreenletRef {
        self.g.clone()
    }

    /// A handle to work that already ran to `result` on the calling
    /// greenlet (a full `GreenPool` running a member's spawn inline), under
    /// `name` (the `Builder`'s, if any). It has an id of its own, as a
    /// spawned greenlet would; `wait` returns `result` at once, links run
    /// at once, `kill` does nothing. A panic is recorded as a spawned
    /// greenlet's is (`#[guv::test]`'s report of panics no `wait` took).
    pub(crate) fn finished(result: Result<T, Error>, name: Option<&str>) -> GreenThread<T> {
        let id = with_hub(|hub| hub.fresh_id());
        let panicked = match &result {
            Err(e @ Error::Panicked(_)) => Some(e.panic_message().unwrap_or("Box<dyn Any>").to_owned()),
            _ => None,
        };
        let outcome = Outcome::new(false);
        *outcome.result.borrow_mut() = Some(result);
        outcome.finished.set(true);
        outcome.settled.set(true);
        let task: Rc<Task<fn() -> T, T>> = Rc::new(Task { func: Cell::new(None), outcome, this: Weak::new() });
        let header = Header::new(crate::greenlet::Fiber::native(id, name.map(Box::from)), Kind::Spawned, Sched::Done);
        if let Some(msg) = panicked {
            with_hub(|hub| hub.track.panicked(&header, &msg));
        }
        let g = Rc::new(Node { header, body: task.clone() as Rc<dyn Body> });
        GreenThread { g, task }
    }

    /// Waits for the greenlet to end and returns what its function returned,
    /// or why it did not: [`Error::Panicked`], [`Error::Killed`] (also when
    /// it was killed before it started) or [`Error::TimedOut`].
    ///
    /// ```
    /// let gt = guv::spawn(|| 6 * 7);
    /// assert_eq!(gt.wait().unwrap(), 42);
    ///
    /// guv::debug::hub_exceptions(false); // keep the panic out of the output
    /// let gt = guv::spawn(|| -> u32 { panic!("boom") });
    /// assert_eq!(gt.wait().unwrap_err().panic_message(), Some("boom"));
    /// ```
    ///
    /// # Panics
    ///
    /// If called by the greenlet itself (it would wait forever).
    pub fn wait(self) -> Result<T, Error> {
        with_hub(|hub| {
            let out = self.task.outcome();
            loop {
                if out.settled.get() {
                    let result = out.result.borrow_mut().take();
                    let result = result.expect("guv internal error: a greenlet's result was taken twice");
                    if matches!(result, Err(Error::Panicked(_))) {
                        hub.track.observed(self.id());
                    }
                    return result;
                }
                if same(&hub.current(), &self.greenlet()) {
                    panic!("guv: a greenlet cannot wait for itself");
                }
                let waker = hub.arm();
                *out.joiner.borrow_mut() = Some(waker);
                let guard = ClearJoiner(out);
                hub.park();
                drop(guard);
            }
        })
    }

    /// Waits for the greenlet to end without taking its result, which
    /// stays for [`wait`](Self::wait) (gevent's `join()`). It borrows the
    /// handle, so the waiter keeps it to kill the greenlet if the wait is
    /// cut short — gevent's `try: g.join() finally: g.kill()`:
    ///
    /// ```
    /// use std::time::Duration;
    /// /// Kills the greenlet it holds when dropped (a no-op once it ended).
    /// struct KillOnDrop<'a>(&'a guv::GreenThread<()>);
    /// impl Drop for KillOnDrop<'_> {
    ///     fn drop(&mut self) {
    ///         self.0.kill();
    ///     }
    /// }
    /// let worker = guv::spawn(|| guv::sleep(Duration::from_secs(3600)));
    /// let cut = guv::with_timeout(Duration::from_millis(5), || {
    ///     let _guard = KillOnDrop(&worker);
    ///     worker.join(); // the timeout unwinds from here; the guard kills
    /// });
    /// assert!(cut.unwrap_err().is_timed_out());
    /// assert!(worker.wait().unwrap_err().is_killed());
    /// ```
    ///
    /// Several greenlets may join one greenlet at once.
    ///
    /// # Panics
    ///
    /// If called by the greenlet itself.
    pub fn join(&self) {
        self.assert_not_self();
        crate::wait_all(std::slice::from_ref(self));
    }

    /// Like [`join`](Self::join) for at most `timeout`; returns whether the
    /// greenlet ended (gevent's `join(timeout)`, with the answer it leaves
    /// in `ready()`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let gt = guv::spawn(|| guv::sleep(Duration::from_millis(20)));
    /// assert!(!gt.join_timeout(Duration::from_millis(1)));
    /// assert!(gt.join_timeout(Duration::from_secs(60)));
    /// assert!(gt.wait().is_ok());
    /// ```
    ///
    /// # Panics
    ///
    /// If called by the greenlet itself.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.assert_not_self();
        crate::wait_all_timeout(std::slice::from_ref(self), timeout)
    }

    fn assert_not_self(&self) {
        if with_hub(|hub| same(&hub.current(), &self.greenlet())) {
            panic!("guv: a greenlet cannot wait for itself");
        }
    }

    /// Panics as [`wait`](Self::wait) does if the caller is this handle's
    /// greenlet and its links have not all run: waiting for it would never
    /// end. For waits over a set of handles (`iwait` and its users), which
    /// would otherwise wait for their own link for ever.
    pub(crate) fn refuse_self_wait(&self) {
        if !self.task.outcome().settled.get() {
            self.assert_not_self();
        }
    }

    /// Like [`wait`](Self::wait) for at most `timeout` (gevent's
    /// `join(timeout)`): `Ok` with the result if the greenlet ended in
    /// time, or `Err` with the handle back, to wait again or
    /// [`kill`](Self::kill) it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let gt = guv::spawn(|| guv::sleep(Duration::from_secs(3600)));
    /// let gt = gt.wait_timeout(Duration::from_millis(5)).unwrap_err(); // still asleep
    /// gt.kill();
    /// assert!(gt.wait_timeout(Duration::from_secs(60)).unwrap().unwrap_err().is_killed());
    /// ```
    ///
    /// # Panics
    ///
    /// If called by the greenlet itself.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Result<T, Error>, GreenThread<T>> {
        if self.wait_ended(std::time::Instant::now().checked_add(timeout)) { Ok(self.wait()) } else { Err(self) }
    }

    /// Waits until the result can be taken (or `deadline` passes: false),
    /// leaving it in the handle: a caller killed or timed out meanwhile
    /// loses nothing (`GreenPile` and `imap` wait this way). For the
    /// handle's owner only: the handle has one joiner slot, so a second
    /// greenlet waiting by reference at the same time would take the
    /// first one's wake-up (waiters that may share a handle use links, as
    /// `wait_all` and `killall` do).
    pub(crate) fn wait_ended(&self, deadline: Option<std::time::Instant>) -> bool {
        with_hub(|hub| {
            let out = self.task.outcome();
            loop {
                if out.settled.get() {
                    return true;
                }
                if same(&hub.current(), &self.greenlet()) {
                    panic!("guv: a greenlet cannot wait for itself");
                }
                let waker = hub.arm();
                *out.joiner.borrow_mut() = Some(waker.clone());
                let guard = ClearJoiner(out);
                let woke = hub.park_until(&waker, deadline);
                drop(guard);
                if !woke {
                    return out.settled.get();
                }
            }
        })
    }

    /// Kills the greenlet: if it has not started it never will; otherwise it
    /// unwinds from the point where it is blocked (running its destructors)
    /// and ends with [`Error::Killed`]. The caller yields once so that
    /// this happens before it continues, also when the caller is itself
    /// unwinding (a destructor killing helpers during a kill, `Timeout` or
    /// panic), so a kill cascades through such drop guards. The yield is
    /// not a join: a target whose destructors block (or yield, killing
    /// helpers of their own) finishes later; [`wait`](Self::wait) or
    /// [`killall`](crate::killall) for that. Killing a finished greenlet
    /// does nothing.
    ///
    /// ```
    /// let gt = guv::spawn(|| guv::sleep(std::time::Duration::from_secs(3600)));
    /// guv::gyield(); // let it start sleeping
    /// gt.kill();
    /// assert!(gt.is_finished());
    /// assert!(gt.wait().unwrap_err().is_killed());
    /// ```
    ///
    /// A kill (like an expired [`Timeout`](crate::Timeout)) unwinds as a
    /// panic does, so `std::panic::catch_unwind` around code that blocks
    /// catches it too, and a greenlet that goes on after catching it is not
    /// killed again (Python's `except Exception` lets `GreenletExit`
    /// through; Rust has no such split). A loop that recovers from its
    /// jobs' panics should use [`guv::catch_unwind`](crate::catch_unwind),
    /// which lets kills and timeouts through, or re-raise the payloads
    /// [`guv::is_interrupt`](crate::is_interrupt) recognises:
    ///
    /// ```
    /// use std::panic::{AssertUnwindSafe, catch_unwind};
    /// let jobs = guv::queue::Queue::<fn()>::new(None);
    /// let q = jobs.clone();
    /// let worker = guv::spawn(move || loop {
    ///     let job = q.get();
    ///     if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
    ///         if guv::is_interrupt(&*payload) {
    ///             guv::resume_unwind(payload); // a kill or a timeout: let it through
    ///         }
    ///         // a job's panic: logged, and the worker goes on
    ///     }
    /// });
    /// guv::debug::hub_exceptions(false);
    /// jobs.put(|| panic!("a bad job"));
    /// guv::gyield(); // the worker survives it and waits for the next job
    /// worker.kill();
    /// assert!(worker.wait().unwrap_err().is_killed());
    /// ```
    pub fn kill(&self) {
        let g = self.greenlet();
        with_hub(|hub| hub.kill(&g));
    }

    /// Kills the greenlet only if it has not started yet; returns whether it
    /// did.
    ///
    /// ```
    /// let gt = guv::spawn_after(std::time::Duration::from_secs(60), || ());
    /// assert!(gt.cancel());
    /// assert!(gt.wait().unwrap_err().is_killed());
    /// ```
    pub fn cancel(&self) -> bool {
        let g = self.greenlet();
        let h = g.header();
        if h.sched.get() == Sched::Done || !h.fiber.is_fresh() {
            return false;
        }
        with_hub(|hub| hub.kill(&g));
        true
    }

    /// Calls `f` with the greenlet's result when it ends — at once if it has
    /// already ended. Links run in the order they were added, on the ending
    /// greenlet (or, for one killed before it started, on the killer).
    ///
    /// The result is stored before the links run ([`is_finished`] is true
    /// from then on). Killing the greenlet while one of its links blocks
    /// cuts that link short and nothing more: `wait` still returns the
    /// stored result, and the remaining links run. A killer killed (or
    /// timed out) inside a link of the greenlet it killed before it
    /// started dies there, and the remaining links run on a fresh
    /// greenlet — or, if none can be spawned (no stack can be mapped), on
    /// the killer before it dies, so that waiters never wait for ever.
    ///
    /// [`is_finished`]: GreenThread::is_finished
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let seen = Rc::new(Cell::new(0));
    /// let gt = guv::spawn(|| 5);
    /// let s = seen.clone();
    /// gt.link(move |r| s.set(*r.as_ref().unwrap()));
    /// guv::gyield();
    /// assert_eq!(seen.get(), 5);
    /// ```
    pub fn link<F>(&self, f: F) -> LinkId
    where
        F: FnOnce(&Result<T, Error>) + 'static,
    {
        let out = self.task.outcome();
        let id = out.links.new_id();
        if out.settled.get() {
            let result = out.result.borrow();
            f(result.as_ref().expect("guv internal error: result missing"));
        } else {
            out.links.push(id, Box::new(f));
        }
        id
    }

    /// Removes a link that has not run yet; returns whether it was there
    /// (false once it ran, or if it was removed before).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let ran = Rc::new(Cell::new(0));
    /// let gt = guv::spawn(|| ());
    /// let r = ran.clone();
    /// let kept = gt.link(move |_| r.set(r.get() + 1));
    /// let removed = gt.link(|_| panic!("removed links never run"));
    /// assert!(gt.unlink(removed));
    /// assert!(!gt.unlink(removed));
    /// guv::gyield(); // the greenlet runs and ends; the kept link runs
    /// assert_eq!(ran.get(), 1);
    /// assert!(!gt.unlink(kept), "it already ran");
    /// ```
    pub fn unlink(&self, id: LinkId) -> bool {
        self.task.outcome().links.remove(id)
    }

    /// Whether the greenlet has ended (its result is available).
    ///
    /// ```
    /// let gt = guv::spawn(|| 1);
    /// assert!(!gt.is_finished(), "spawned greenlets start when the spawner yields");
    /// guv::gyield();
    /// assert!(gt.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.outcome().finished.get()
    }

    /// The greenlet's id, unique within its hub (the main greenlet is 0).
    ///
    /// ```
    /// let a = guv::spawn(|| ());
    /// let b = guv::spawn(|| ());
    /// assert!(a.id() > 0 && a.id() != b.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.g.header().id()
    }

    /// The name given with [`Builder::name`].
    ///
    /// ```
    /// let named = guv::Builder::new().name("fetcher").spawn(|| ()).unwrap();
    /// assert_eq!(named.name(), Some("fetcher"));
    /// assert_eq!(guv::spawn(|| ()).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.g.header().name()
    }
}

impl<T> Drop for GreenThread<T> {
    fn drop(&mut self) {
        let out = self.task.outcome();
        out.detached.set(true);
        if out.settled.get() {
            let result = out.result.borrow_mut().take();
            drop(result);
        }
    }
}

impl<T> fmt::Debug for GreenThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenThread")
            .field("id", &self.g.header().id())
            .field("name", &self.g.header().name())
            .field("finished", &self.task.outcome().finished.get())
            .finish()
    }
}

/// Clears `wait`'s registration if the waiter unwinds (killed, timed out).
struct ClearJoiner<'a, T>(&'a Outcome<T>);

impl<T> Drop for ClearJoiner<'_, T> {
    fn drop(&mut self) {
        let joiner = self.0.joiner.borrow_mut().take();
        drop(joiner);
    }
}
