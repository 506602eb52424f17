//! What a spawned greenlet runs and leaves behind: its body (`Task`), its
//! result and the links waiting for it (`Outcome`).

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Weak;

#[cfg(doc)] // only named in doc links
use super::GreenThread;
use crate::Error;
use crate::greenlet::{Body, Header};
use crate::hub::{Waker, with_hub};
use crate::links::Links;

type LinkFn<T> = Box<dyn FnOnce(&Result<T, Error>)>;

/// A greenlet's result and the parties interested in it.
pub(super) struct Outcome<T> {
    pub(super) result: RefCell<Option<Result<T, Error>>>,
    /// The result is stored (links may still be running).
    pub(super) finished: Cell<bool>,
    /// Links have run; the result may be taken.
    pub(super) settled: Cell<bool>,
    pub(super) links: Links<LinkFn<T>>,
    /// The greenlet blocked in `wait`.
    pub(super) joiner: RefCell<Option<Waker>>,
    /// No `GreenThread` handle exists: nobody will take the result.
    pub(super) detached: Cell<bool>,
}

impl<T> Outcome<T> {
    pub(super) fn new(detached: bool) -> Outcome<T> {
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
pub(super) struct Task<F, T> {
    pub(super) func: Cell<Option<F>>,
    pub(super) outcome: Outcome<T>,
    /// Itself, for handing unfinished links to another greenlet (`cancel`).
    pub(super) this: Weak<Task<F, T>>,
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
                if let Err(e) = crate::links::try_hand_off(rest) {
                    log::error!(target: "guv::links", "no greenlet for the remaining GreenThread links, which run on the killer: {e}");
                    // No greenlet could be spawned (no stack could be
                    // mapped). Left unrun, the links would never run and
                    // the outcome never settle: `wait`, `join` and `iwait`
                    // on this greenlet would wait for ever. So the killer
                    // runs them itself before it dies, as when it is not
                    // cut short (a kill or timeout of it inside one now
                    // ends that link only). Nothing is allocated here: the
                    // outcome is reached through `self`.
                    let _ = self.outcome.run_links(false);
                }
            }
            None => {
                let _ = self.outcome.run_links(false);
            }
        }
        crate::hub::resume_unwind(payload);
    }
}

/// What a [`GreenThread`] needs from its task, whatever the closure type.
pub(super) trait Joinable<T>: Body {
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
