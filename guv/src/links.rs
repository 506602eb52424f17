//! Callback lists for the hub-local primitives that run callbacks when they
//! are set or end ([`crate::Event`], [`crate::AsyncResult`],
//! [`crate::GreenThread`]): the callbacks in the order they were added, each
//! with a [`LinkId`] to remove it by; calling one so that its panic does not
//! stop the others; and handing the ones a killed setter did not get to over
//! to a fresh greenlet, or running them on the setter if none can be
//! spawned (events and results; a greenlet's own links run on it, see
//! [`crate::GreenThread::link`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::LinkId;

/// Callbacks `L`, oldest first, each under the id [`new_id`](Links::new_id)
/// gave it.
pub(crate) struct Links<L> {
    list: RefCell<VecDeque<(u64, L)>>,
}

/// The next link id, for every list in the process: an id given to the
/// `unlink` of another object than the one that made it finds nothing
/// there (with a count per list it removed that list's callback under the
/// same number — another greenlet's `join`, say, which then hung).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl<L> Links<L> {
    pub(crate) const fn new() -> Links<L> {
        Links { list: RefCell::new(VecDeque::new()) }
    }

    /// A new id, used by no list yet.
    pub(crate) fn new_id(&self) -> LinkId {
        LinkId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// Appends `link` under `id` (from [`new_id`](Links::new_id)).
    pub(crate) fn push(&self, id: LinkId, link: L) {
        self.list.borrow_mut().push_back((id.0, link));
    }

    /// Removes the callback under `id`; returns whether it was there.
    pub(crate) fn remove(&self, id: LinkId) -> bool {
        let mut list = self.list.borrow_mut();
        let before = list.len();
        list.retain(|(i, _)| *i != id.0);
        list.len() != before
    }

    /// Whether the callback under `id` is still there.
    pub(crate) fn contains(&self, id: LinkId) -> bool {
        self.list.borrow().iter().any(|(i, _)| *i == id.0)
    }

    /// Takes the oldest callback out.
    pub(crate) fn pop_front(&self) -> Option<L> {
        self.list.borrow_mut().pop_front().map(|(_, link)| link)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.borrow().is_empty()
    }

    /// The callbacks there now, with their ids, oldest first.
    pub(crate) fn snapshot(&self) -> VecDeque<(LinkId, L)>
    where
        L: Clone,
    {
        self.list.borrow().iter().map(|(id, link)| (LinkId(*id), link.clone())).collect()
    }
}

/// Calls a user callback. A panic in it has been reported by the panic
/// hook and ends here, so that the callbacks after it still run; a kill or
/// `Timeout` of the calling greenlet goes on unwinding, unless
/// `end_interrupts`: then it ends that callback only (for callbacks run
/// by a greenlet that is already on its way out, see [`run_rest`]).
pub(crate) fn call(callback: impl FnOnce(), end_interrupts: bool) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(callback))
        && !end_interrupts
    {
        crate::waiters::resume_if_interrupt(payload);
    }
}

/// Runs the callbacks a setter did not get to because it was killed (or
/// timed out) inside one, then lets its interrupt, caught by the caller,
/// go on (`payload`). They go to a fresh greenlet (`fresh` is that
/// greenlet's body); if none can be spawned (no stack can be mapped),
/// `inline` runs them here, on the setter, before it dies, as the killer
/// of an unstarted greenlet runs its links: left unrun, they would never
/// run. A kill or `Timeout` of the setter inside one of those ends that
/// callback only (`call` with `end_interrupts`). `what` names them in the
/// log.
pub(crate) fn run_rest(
    what: &str,
    fresh: impl FnOnce() + 'static,
    inline: impl FnOnce(),
    payload: Box<dyn std::any::Any + Send>,
) -> ! {
    if let Err(e) = try_hand_off(fresh) {
        log::error!(target: "guv::links", "no greenlet for the remaining {what}, which run on the setter: {e}");
        inline();
    }
    crate::hub::resume_unwind(payload)
}

/// Runs `rest` on a fresh greenlet; the spawn error is returned (and
/// `rest` dropped) if none can be spawned.
pub(crate) fn try_hand_off(rest: impl FnOnce() + 'static) -> std::io::Result<()> {
    crate::Builder::new().name("guv-links").spawn_n(rest)
}
