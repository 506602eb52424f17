//! Spawning greenlets and handling them: [`spawn`], [`spawn_n`],
//! [`spawn_after`], [`Builder`], [`GreenThread`], [`kill`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::Error;
use crate::greenlet::{Body, GreenletRef, Header, Kind, Node, Sched, same};
use crate::hub::{Hub, Waker, with_hub};
use crate::links::Links;

type LinkFn<T> = Box<dyn FnOnce(&Result<T, Error>)>;

/// A greenlet's result and the parties interested in it.
struct Outcome<T> {
    result: RefCell<Option<Result<T, Error>>>,
    /// The result is stored (links may still be running).
    finished: Cell<bool>,
    /// Links have run; the result may be taken.
    settled: Cell<bool>,
    links: Links<LinkFn<T>>,
    /// The greenlet blocked in `wait`.
    joiner: RefCell<Option<Waker>>,
    /// No `GreenThread` handle exists: nobody will take the result.
    detached: Cell<bool>,
}

impl<T> Outcome<T> {
    fn new(detached: bool) -> Outcome<T> {
        Outcome {
            result: RefCell::new(None),
            finished: Cell::new(false),
            settled: Cell::new(false),
            links: Links::new(),
            joiner: RefCell::new(None),
            detached: Cell::new(detached),
        }
    }

    /// Stores the result, runs the links in order, wakes the joiner.
    fn finish(&self, result: Result<T, Error>) {
        self.store(result);
        let stopped = self.run_links(false);
        debug_assert!(stopped.is_none());
    }

    fn store(&self, result: Result<T, Error>) {
        *self.result.borrow_mut() = Some(result);
        self.finished.set(true);
    }

    /// Runs the links in order, then settles the outcome and wakes the
    /// joiner. `foreign`: the links run on another greenlet than the one
    /// that ended (its killer, when it never started); a kill or `Timeout`
    /// of that greenlet inside a link is its own and must not be swallowed,
    /// so the links stop there, unsettled, and its payload is returned.
    fn run_links(&self, foreign: bool) -> Option<Box<dyn std::any::Any + Send>> {
        loop {
            let Some(f) = self.links.pop_front() else { break };
            // A panicking link is reported by the panic hook and does not
            // keep the others from running. A kill or `Timeout` that reaches
            // the ending greenlet while a link blocks ends that link only
            // and is not re-raised: the outcome is already decided, and the
            // links after it are how others learn it (link targets, `iwait`).
            let ran = panic::catch_unwind(AssertUnwindSafe(|| {
                let result = self.result.borrow();
                f(result.as_ref().expect("guv internal error: result missing during links"));
            }));
            if let Err(payload) = ran
                && foreign
                && crate::waiters::is_interrupt(&payload)
            {
                return Some(payload);
            }
        }
        self.settled.set(true);
        if self.detached.get() {
            // Drop an unwanted result here, on the greenlet's own stack,
            // rather than wherever the last reference happens to go.
            // Its destructor is user code: a panic there is reported by the
            // hook and must not unwind out of the greenlet's entry (abort).
            let result = self.result.borrow_mut().take();
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(result)));
        }
        let joiner = self.joiner.borrow_mut().take();
        if let Some(w) = joiner {
            w.wake();
        }
        None
    }
}

/// A spawned greenlet's body: its function until it runs, then its outcome.
struct Task<F, T> {
    func: Cell<Option<F>>,
    outcome: Outcome<T>,
    /// Itself, for handing unfinished links to another greenlet (`cancel`).
    this: Weak<Task<F, T>>,
}

impl<F, T> Body for Task<F, T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    fn run(&self, header: &Header) {
        let f = self.func.take().expect("guv internal error: a greenlet body ran twice");
        let result = panic::catch_unwind(AssertUnwindSafe(f)).map_err(Error::from_unwind);
        if let Err(e @ Error::Panicked(_)) = &result {
            let msg = e.panic_message().unwrap_or("Box<dyn Any>");
            with_hub(|hub| hub.track.panicked(header, msg));
        }
        // Green-locals first, as std runs a thread's thread-local
        // destructors before its `join` returns: whoever learns the result
        // (links, `wait`, `is_finished`) sees their effects.
        header.locals.drop_all();
        self.outcome.finish(result);
    }

    fn cancel(&self) {
        // The closure's captures are dropped on the killer, as user code: a
        // panic there is reported by the hook and must not leave the outcome
        // unset (a `wait` would hang).
        let func = self.func.take();
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(func)));
        let interrupted = dropped.err().filter(crate::waiters::is_interrupt);
        // The links run on the killer. If the killer is itself killed or
        // timed out inside one (or in that destructor), it dies promptly;
        // the links it did not get to (and the wake-up of a `wait`er) go on
        // on a fresh greenlet.
        self.outcome.store(Err(Error::Killed));
        let interrupted = match interrupted {
            Some(payload) => Some(payload),
            None => self.outcome.run_links(true),
        };
        let Some(payload) = interrupted else { return };
        match self.this.upgrade() {
            Some(me) => {
                // Boxed: a closure type here would make the fresh greenlet's
                // own `Task` instantiate this again, without end.
                let rest: Box<dyn FnOnce()> = Box::new(move || {
                    let _ = me.outcome.run_links(false);
                });
                crate::links::hand_off("GreenThread links", rest);
            }
            None => {
                let _ = self.outcome.run_links(false);
            }
        }
        crate::hub::resume_unwind(payload);
    }
}

/// What a [`GreenThread`] needs from its task, whatever the closure type.
trait Joinable<T>: Body {
    fn outcome(&self) -> &Outcome<T>;
}

impl<F, T> Joinable<T> for Task<F, T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    fn outcome(&self) -> &Outcome<T> {
        &self.outcome
    }
}

/// Names a callback registered with [`GreenThread::link`], to remove it
/// with [`GreenThread::unlink`].
///
/// ```
/// let gt = guv::spawn(|| ());
/// let id = gt.link(|_| unreachable!("unlinked before the greenlet ran"));
/// assert!(gt.unlink(id));
/// gt.wait().unwrap();
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
    g: GreenletRef,
    /// The greenlet's body (also behind `g`), for its outcome.
    task: Rc<dyn Joinable<T>>,
}

impl<T: 'static> GreenThread<T> {
    fn greenlet(&self) -> GreenletRef {
        self.g.clone()
    }

    /// A handle to work that already ran to `result` on the calling
    /// greenlet (a full `GreenPool` running a member's spawn inline). It
    /// reports the calling greenlet's id; `wait` returns `result` at once,
    /// links run at once, `kill` does nothing.
    pub(crate) fn finished(result: Result<T, Error>) -> GreenThread<T> {
        let id = with_hub(|hub| hub.current().header().id());
        let outcome = Outcome::new(false);
        *outcome.result.borrow_mut() = Some(result);
        outcome.finished.set(true);
        outcome.settled.set(true);
        let task: Rc<Task<fn() -> T, T>> = Rc::new(Task { func: Cell::new(None), outcome, this: Weak::new() });
        let header = Header::new(crate::greenlet::Fiber::native(id, None), Kind::Spawned, Sched::Done);
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
    /// stored result, and the remaining links run.
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

/// Configures a greenlet before spawning it: name and stack size.
///
/// Unlike [`spawn`], its methods report a stack that cannot be mapped as an
/// `io::Error` (see [`Builder::spawn`]).
///
/// ```
/// let gt = guv::Builder::new().name("worker").stack_size(64 * 1024).spawn(|| 1).unwrap();
/// assert_eq!(gt.name(), Some("worker"));
/// assert_eq!(gt.wait().unwrap(), 1);
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a Builder does nothing until one of its spawn methods is called"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the hub's defaults (no name, the hub's stack size).
    ///
    /// ```
    /// let gt = guv::Builder::new().spawn(|| "defaults").unwrap();
    /// assert_eq!(gt.wait().unwrap(), "defaults");
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet; the name appears in panic and stack-overflow
    /// messages (`greenlet 'name' (#3) panicked at ...`).
    ///
    /// ```
    /// let gt = guv::Builder::new().name("worker-7").spawn(|| ()).unwrap();
    /// assert_eq!(gt.name(), Some("worker-7"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the greenlet's stack size in bytes: rounded up to whole pages
    /// and to at least 16 KiB; above 1 GiB, spawning fails with
    /// `InvalidInput`. Without it the hub's default is used
    /// ([`crate::hub::set_stack_size`], 256 KiB unless changed).
    ///
    /// ```
    /// // A deep recursion gets a bigger stack than the default.
    /// fn depth(n: u32) -> u32 { if n == 0 { 0 } else { 1 + depth(n - 1) } }
    /// let gt = guv::Builder::new().stack_size(8 << 20).spawn(|| depth(10_000)).unwrap();
    /// assert_eq!(gt.wait().unwrap(), 10_000);
    /// assert!(guv::Builder::new().stack_size(usize::MAX).spawn(|| ()).is_err());
    /// ```
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// The name given with [`Builder::name`], if any.
    pub(crate) fn configured_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Spawns `f` as a new greenlet, started after those already ready.
    ///
    /// Fails if the stack cannot be mapped — typically because the kernel's
    /// `vm.max_map_count` limit is reached (each greenlet uses two
    /// mappings); the error names the limit and how to raise it.
    ///
    /// ```
    /// let gt = guv::Builder::new().spawn(|| 2 + 2)?;
    /// assert_eq!(gt.wait().unwrap(), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, T>(self, f: F) -> io::Result<GreenThread<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let (g, task) = with_hub(|hub| self.make(hub, Kind::Spawned, None, f))?;
        Ok(GreenThread { g, task })
    }

    /// Like [`Builder::spawn`], for a greenlet whose result nobody wants.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let done = Rc::new(Cell::new(false));
    /// let d = done.clone();
    /// guv::Builder::new().name("fire-and-forget").spawn_n(move || d.set(true))?;
    /// guv::gyield();
    /// assert!(done.get());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_n<F>(self, f: F) -> io::Result<()>
    where
        F: FnOnce() + 'static,
    {
        with_hub(|hub| self.make(hub, Kind::SpawnedN, None, f)).map(drop)
    }

    /// Like [`Builder::spawn`], started once `delay` has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let start = Instant::now();
    /// let gt = guv::Builder::new().name("later").spawn_after(Duration::from_millis(5), move || start.elapsed())?;
    /// assert!(gt.wait().unwrap() >= Duration::from_millis(5));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_after<F, T>(self, delay: Duration, f: F) -> io::Result<GreenThread<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let (g, task) = with_hub(|hub| self.make(hub, Kind::Spawned, Some(delay), f))?;
        Ok(GreenThread { g, task })
    }

    /// The greenlet, started, and its body.
    fn make<F, T>(
        self,
        hub: &Hub,
        kind: Kind,
        delay: Option<Duration>,
        f: F,
    ) -> io::Result<(GreenletRef, Rc<Task<F, T>>)>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let fiber = hub.new_fiber(self.name.map(String::into_boxed_str), self.stack_size)?;
        Ok(start_on(hub, fiber, kind, delay, f))
    }
}

/// Starts `f` as a greenlet on `fiber`; returns the greenlet and its body.
fn start_on<F, T>(
    hub: &Hub,
    fiber: crate::greenlet::Fiber,
    kind: Kind,
    delay: Option<Duration>,
    f: F,
) -> (GreenletRef, Rc<Task<F, T>>)
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let task = Rc::new_cyclic(|this| Task {
        func: Cell::new(Some(f)),
        outcome: Outcome::new(kind == Kind::SpawnedN),
        this: this.clone(),
    });
    let g = hub.new_greenlet(Header::new(fiber, kind, Sched::Delayed), task.clone());
    hub.start(g.clone(), delay);
    (g, task)
}

/// A closure sent by another thread through a `Handle`.
pub(crate) type RemoteFn = Box<dyn FnOnce() + Send>;

/// Runs a closure sent by another thread through a `Handle`. Without a
/// stack for it, hands it back with the error: dropping it is the caller's
/// business (the hub loop must not run its destructor, which may park).
pub(crate) fn spawn_remote(hub: &Hub, f: RemoteFn) -> Result<(), (io::Error, RemoteFn)> {
    match hub.new_fiber(None, None) {
        Ok(fiber) => {
            start_on(hub, fiber, Kind::SpawnedN, None, f);
            Ok(())
        }
        Err(e) => Err((e, f)),
    }
}

fn or_panic<T>(r: io::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Spawns `f` as a greenlet on this thread's hub and returns its handle.
/// It starts once the current greenlet blocks or yields, after the
/// greenlets already ready (spawn order is start order).
///
/// `f` needs `'static` but not `Send`: greenlets never leave their thread,
/// so `Rc` and `RefCell` are fine in it.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let handles: Vec<_> = (0..3)
///     .map(|i| {
///         let log = log.clone();
///         guv::spawn(move || log.borrow_mut().push(i))
///     })
///     .collect();
/// for h in handles {
///     h.wait().unwrap();
/// }
/// assert_eq!(*log.borrow(), [0, 1, 2]);
/// ```
///
/// # Panics
///
/// If the greenlet's stack cannot be mapped (see [`Builder::spawn`], which
/// returns the error instead).
pub fn spawn<F, T>(f: F) -> GreenThread<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    or_panic(Builder::new().spawn(f))
}

/// Spawns `f` as a greenlet whose result nobody waits for: cheaper than
/// [`spawn`]. A panic in it is printed with the greenlet's name (unless
/// [`crate::debug::hub_exceptions`] turned that off) and ends only that
/// greenlet.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let hits = Rc::new(Cell::new(0));
/// for _ in 0..10 {
///     let hits = hits.clone();
///     guv::spawn_n(move || hits.set(hits.get() + 1));
/// }
/// guv::gyield();
/// assert_eq!(hits.get(), 10);
/// ```
///
/// # Panics
///
/// If the greenlet's stack cannot be mapped.
pub fn spawn_n<F>(f: F)
where
    F: FnOnce() + 'static,
{
    or_panic(Builder::new().spawn_n(f))
}

/// Spawns `f` to start once `delay` has passed. Greenlets spawned this way
/// start in deadline order; [`GreenThread::cancel`] stops one that has not
/// started. A delay too large to represent (such as `Duration::MAX`) never
/// elapses.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let gt = guv::spawn_after(Duration::from_millis(20), move || start.elapsed());
/// assert!(gt.wait().unwrap() >= Duration::from_millis(20));
/// ```
///
/// # Panics
///
/// If the greenlet's stack cannot be mapped.
pub fn spawn_after<F, T>(delay: Duration, f: F) -> GreenThread<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    or_panic(Builder::new().spawn_after(delay, f))
}

/// Kills the greenlet behind `gt`; the same as [`GreenThread::kill`]
/// (Python guv's `kill(g)`).
///
/// ```
/// let gt = guv::spawn(|| guv::sleep(std::time::Duration::from_secs(3600)));
/// guv::gyield();
/// guv::kill(&gt);
/// assert!(gt.wait().unwrap_err().is_killed());
/// ```
pub fn kill<T: 'static>(gt: &GreenThread<T>) {
    gt.kill();
}

/// Switches to the other ready greenlets and comes back after them (Python
/// guv's `gyield`, `sleep(0)`). From a greenlet alone, returns at once.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let o = order.clone();
/// guv::spawn_n(move || o.borrow_mut().push("spawned"));
/// order.borrow_mut().push("before");
/// guv::gyield();
/// order.borrow_mut().push("after");
/// assert_eq!(*order.borrow(), ["before", "spawned", "after"]);
/// ```
#[inline(always)]
pub fn gyield() {
    crate::hub::finish_yield(with_hub(Hub::yield_prepare));
}

/// Suspends the calling greenlet for at least `duration`, letting the others
/// run. `sleep(Duration::ZERO)` is [`gyield`]; a duration too large to
/// represent sleeps until the greenlet is killed. From plain `fn main`, no
/// setup is needed: the thread's hub is created on first use.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// guv::sleep(Duration::from_millis(5));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[inline(always)]
pub fn sleep(duration: Duration) {
    if duration.is_zero() {
        // Inlined with `gyield`, so that the jump happens in the caller's
        // frame (see `Hub::yield_prepare`).
        return gyield();
    }
    sleep_nonzero(duration);
}

/// [`sleep`] for a duration above zero.
fn sleep_nonzero(duration: Duration) {
    with_hub(|hub| {
        let deadline = std::time::Instant::now().checked_add(duration);
        let waker = hub.arm();
        loop {
            if !hub.park_until(&waker, deadline) {
                return;
            }
            // A spurious wake-up: go back to sleep unless the time is up.
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return;
            }
        }
    });
}
