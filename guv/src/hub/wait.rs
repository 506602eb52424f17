//! Waiting and waking: parking a greenlet, its wake-up rights for one wait
//! (`Waker`, and `RemoteWaker` from other threads) and the timers and slots
//! behind them.

use std::cell::Cell;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::interrupt::deliver_interrupt;
use super::{Hub, try_with_hub, with_hub};
use super::{Keeper, RemoteOp, Shared, TimerAction, TimerKey};
#[cfg(doc)] // only named in doc links
use super::{Probe, interrupt_kept};
use crate::greenlet::{GreenletRef, Sched, same};

/// A parked greenlet's wake-up right for one wait (see [`Hub::arm`]).
/// `!Send`: it holds the greenlet.
#[derive(Clone)]
pub(crate) struct Waker {
    pub(super) g: GreenletRef,
    token: u64,
}

impl Waker {
    /// Makes the greenlet ready if it is still in the wait this waker was
    /// armed for; returns whether it did (false: stale, or already woken).
    pub(crate) fn wake(&self) -> bool {
        with_hub(|hub| hub.wake(self))
    }

    /// Whether the greenlet is still in the wait this waker belongs to.
    pub(crate) fn is_current(&self) -> bool {
        self.g.header().token.get() == self.token && self.g.header().sched.get() != Sched::Done
    }
}

/// Cancels a timer when dropped (also while unwinding).
pub(crate) struct TimerGuard(pub(crate) TimerKey);

impl Drop for TimerGuard {
    fn drop(&mut self) {
        let action = try_with_hub(|hub| hub.timers.borrow_mut().cancel(self.0));
        drop(action);
    }
}

/// A `Send` right to wake one parked greenlet from any thread.
#[derive(Clone)]
pub(crate) struct RemoteWaker {
    pub(super) shared: SharedRef,
    slot: SlotKey,
    token: u64,
}

/// How a [`RemoteWaker`] refers to its hub: strongly (the hub's deadlock
/// check counts it as a possible wake-up), or weakly for a waiter whose
/// [`Probe`] speaks for it instead (see `probe.rs`).
#[derive(Clone)]
pub(super) enum SharedRef {
    Strong(Keeper),
    Weak(Weak<Shared>),
}

impl RemoteWaker {
    /// Wakes the greenlet if it still waits: directly when called on its
    /// hub's own thread, else through that hub's remote queue (which wakes
    /// the hub if it sleeps in the poller). False if that hub is gone.
    pub(crate) fn wake(&self) -> bool {
        let ptr = match &self.shared {
            SharedRef::Strong(s) => Arc::as_ptr(s),
            SharedRef::Weak(w) => w.as_ptr(),
        };
        let local = try_with_hub(|hub| {
            std::ptr::eq(Arc::as_ptr(&hub.shared), ptr).then(|| hub.wake_remote_parked(self.slot, self.token))
        });
        let op = || RemoteOp::Wake { slot: self.slot, token: self.token };
        match (local.flatten(), &self.shared) {
            (Some(woke), _) => woke,
            (None, SharedRef::Strong(s)) => s.push(op()).is_ok(),
            (None, SharedRef::Weak(w)) => w.upgrade().is_some_and(|s| s.push(op()).is_ok()),
        }
    }
}

/// Takes a remote waker back out of state that other threads reach (a
/// waiter list, a job's slot) however a park ends — a wake-up, or a kill or
/// `Timeout` unwinding through it. A strong [`RemoteWaker`] is a keeper of
/// its hub (the deadlock check stays quiet while one lives): one left in
/// such state by a waiter that is gone would keep the check quiet for as
/// long as that state lived, and a true deadlock would hang unreported.
/// Made by [`take_back`]; arm it right after storing the waker.
pub(crate) struct TakeBack<'a, S, F: FnMut(&mut S) -> Option<RemoteWaker>> {
    state: &'a Mutex<S>,
    take: F,
}

/// Arms a [`TakeBack`]: when it is dropped, `take` runs under `state`'s
/// lock and returns the waker it removed (if still there), which is
/// dropped after the lock is released (the last keeper's drop may wake
/// the hub).
pub(crate) fn take_back<S, F: FnMut(&mut S) -> Option<RemoteWaker>>(state: &Mutex<S>, take: F) -> TakeBack<'_, S, F> {
    TakeBack { state, take }
}

impl<S, F: FnMut(&mut S) -> Option<RemoteWaker>> Drop for TakeBack<'_, S, F> {
    fn drop(&mut self) {
        let remote = (self.take)(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        drop(remote);
    }
}

/// The hub-side registration behind a [`RemoteWaker`]; dropping it (on the
/// hub's thread) makes the remote waker inert.
pub(crate) struct RemoteSlot {
    key: SlotKey,
}

impl Drop for RemoteSlot {
    fn drop(&mut self) {
        let g = try_with_hub(|hub| hub.remote_parked.borrow_mut().remove(self.key));
        drop(g);
    }
}

/// Names one occupancy of a [`RemoteParked`] slot: the index and the
/// generation it had, so that a wake-up for an earlier occupant (still in
/// flight from another thread) cannot reach a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotKey {
    index: usize,
    generation: u64,
}

/// A slab of greenlets that may be woken from other threads.
#[derive(Default)]
pub(super) struct RemoteParked {
    slots: Vec<(u64, Option<GreenletRef>)>,
    free: Vec<usize>,
    next_generation: u64,
}

impl RemoteParked {
    fn insert(&mut self, g: GreenletRef) -> SlotKey {
        self.next_generation += 1;
        let generation = self.next_generation;
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = (generation, Some(g));
                index
            }
            None => {
                self.slots.push((generation, Some(g)));
                self.slots.len() - 1
            }
        };
        SlotKey { index, generation }
    }

    fn get(&self, key: SlotKey) -> Option<GreenletRef> {
        match self.slots.get(key.index)? {
            (generation, Some(g)) if *generation == key.generation => Some(g.clone()),
            _ => None,
        }
    }

    fn remove(&mut self, key: SlotKey) -> Option<GreenletRef> {
        let slot = self.slots.get_mut(key.index)?;
        if slot.0 != key.generation {
            return None;
        }
        let g = slot.1.take();
        if g.is_some() {
            self.free.push(key.index);
        }
        g
    }
}

impl Hub {
    /// Starts a wait for the running greenlet and returns its waker. Wakers
    /// of earlier waits stop working.
    pub(crate) fn arm(&self) -> Waker {
        let g = self.current();
        let h = g.header();
        let token = h.token.get() + 1;
        h.token.set(token);
        h.notified.set(false);
        h.timed_out.set(false);
        Waker { g, token }
    }

    /// Suspends the running greenlet until its armed waker fires (returns at
    /// once if it already fired). Unwinds if the greenlet is killed or its
    /// `Timeout` expires; wakes may be spurious, so callers re-check.
    pub(crate) fn park(&self) {
        let cur = self.current();
        self.refuse_in_loop(&cur, "a blocking operation");
        let h = cur.header();
        deliver_interrupt(h);
        if h.notified.replace(false) {
            return;
        }
        h.sched.set(Sched::Parked);
        self.switch_away(&cur);
        deliver_interrupt(h);
    }

    /// [`Hub::park`] with a deadline (`None`: none). Returns false if the
    /// deadline passed before a wake-up.
    pub(crate) fn park_until(&self, waker: &Waker, deadline: Option<Instant>) -> bool {
        let Some(deadline) = deadline else {
            self.park();
            return true;
        };
        let key = self.timers.borrow_mut().add(deadline, TimerAction::Wake(waker.clone()));
        let guard = TimerGuard(key);
        self.park();
        drop(guard);
        !waker.g.header().timed_out.get()
    }

    /// [`Hub::park`] for a wait that gives up on an interrupt the caller
    /// keeps pending ([`interrupt_kept`]): for the main greenlet, a
    /// deadlock report while it unwinds is kept then, instead of aborting
    /// the process.
    pub(crate) fn park_or_give_up(&self) {
        let on_main = same(&self.current(), &self.main);
        let before = self.main_may_give_up.replace(on_main);
        let _restore = RestoreFlag(&self.main_may_give_up, before);
        self.park();
    }

    /// Wakes the greenlet behind `w` if it still waits for it.
    pub(crate) fn wake(&self, w: &Waker) -> bool {
        let h = w.g.header();
        if h.token.get() != w.token {
            return false;
        }
        match h.sched.get() {
            Sched::Parked => {
                h.sched.set(Sched::Ready);
                self.ready.borrow_mut().push(w.g.clone());
                true
            }
            Sched::Running => {
                h.notified.set(true);
                true
            }
            _ => false,
        }
    }

    /// Registers the running greenlet's armed waker for wake-ups from other
    /// threads.
    pub(crate) fn remote_waker(&self, waker: &Waker) -> (RemoteWaker, RemoteSlot) {
        let slot = self.remote_parked.borrow_mut().insert(waker.g.clone());
        (
            RemoteWaker { shared: SharedRef::Strong(Keeper::new(&self.shared)), slot, token: waker.token },
            RemoteSlot { key: slot },
        )
    }

    /// Wakes the greenlet registered under `slot` by `remote_waker` if its
    /// wait still has `token`.
    pub(super) fn wake_remote_parked(&self, slot: SlotKey, token: u64) -> bool {
        let g = self.remote_parked.borrow().get(slot);
        g.is_some_and(|g| self.wake(&Waker { g, token }))
    }
}

/// Puts a flag back as it was, also while unwinding.
struct RestoreFlag<'a>(&'a Cell<bool>, bool);

impl Drop for RestoreFlag<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}
