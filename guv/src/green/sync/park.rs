//! Parking for the green `std::sync` mirror: cross-thread FIFO wait
//! queues of remote wakers, and the waiting side of one wait.
//!
//! A waiter registers a [`RemoteWaker`] (which is `Send`) in the
//! primitive's [`WaitQueue`], kept under the primitive's own
//! `std::sync::Mutex`, and parks on its own hub with a [`Parker`]. Whoever
//! wakes it pops the entry under that mutex and calls `wake()` after
//! releasing it: on the waiter's hub thread that is a direct wake-up, from
//! another thread it goes through the hub's remote queue (and the poller's
//! notify, if the hub sleeps). Plain OS threads use the same path: their
//! lazily created hub parks their main greenlet.
//!
//! The locks and `Once` also keep a [`Holder`] cell in their queue, naming
//! the thread whose greenlet holds them, and their waiters park with a
//! probed [`Parker`]: a wait that only a greenlet of the waiter's own
//! thread could end then does not keep the hub's deadlock check quiet
//! (see `hub/probe.rs`).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::hub::{ANY_THREAD, Holder, Probe, RemoteSlot, RemoteWaker, Waker, with_hub};

/// What a waiter waits for, for queues shared by two kinds (`RwLock`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    /// Shared access (`RwLock::read`), or the only kind.
    Shared,
    /// Exclusive access.
    Exclusive,
}

pub(super) struct Entry {
    id: u64,
    pub(super) kind: Kind,
    pub(super) waker: RemoteWaker,
}

/// A FIFO of parked waiters. Lives inside a `std::sync::Mutex`.
pub(super) struct WaitQueue {
    next_id: u64,
    entries: VecDeque<Entry>,
    /// For primitives that track their holder: who holds it, shared with
    /// the waiters' probes. Exists only while waiters are queued; set to
    /// `ANY_THREAD` and dropped when the queue empties.
    holder: Option<Holder>,
}

impl WaitQueue {
    pub(super) const fn new() -> WaitQueue {
        WaitQueue { next_id: 0, entries: VecDeque::new(), holder: None }
    }

    /// The holder cell of the current waiters, made with `holder` (a
    /// thread mark or `ANY_THREAD`) if there is none.
    pub(super) fn holder(&mut self, holder: impl FnOnce() -> usize) -> Holder {
        self.holder.get_or_insert_with(|| Holder::new(holder().into())).clone()
    }

    /// Records who holds the primitive now (if anyone waits for it).
    pub(super) fn set_holder(&self, mark: usize) {
        if let Some(h) = &self.holder {
            h.store(mark, std::sync::atomic::Ordering::Release);
        }
    }

    /// After a removal: an empty queue keeps no holder cell.
    fn emptied(&mut self) {
        if self.entries.is_empty()
            && let Some(h) = self.holder.take()
        {
            h.store(ANY_THREAD, std::sync::atomic::Ordering::Release);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues a waiter, at the back or (`front`: it was woken and lost a
    /// race) at the front; returns its id.
    pub(super) fn push(&mut self, waker: RemoteWaker, kind: Kind, front: bool) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let entry = Entry { id, kind, waker };
        if front {
            self.entries.push_front(entry);
        } else {
            self.entries.push_back(entry);
        }
        id
    }

    /// Removes a waiter; false if it is not queued (it was popped).
    pub(super) fn remove(&mut self, id: u64) -> bool {
        match self.entries.iter().position(|e| e.id == id) {
            Some(i) => {
                self.entries.remove(i);
                self.emptied();
                true
            }
            None => false,
        }
    }

    pub(super) fn contains(&self, id: u64) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    pub(super) fn pop_front(&mut self) -> Option<Entry> {
        let e = self.entries.pop_front();
        self.emptied();
        e
    }

    /// Pops and wakes waiters, oldest first, until one wake-up lands; a
    /// waiter whose hub is gone (its thread exited) is skipped, so the
    /// wake-up is not lost. Returns whether one was woken. Called under
    /// the queue's mutex: waking takes no lock of ours.
    pub(super) fn wake_one(&mut self) -> bool {
        while let Some(e) = self.pop_front() {
            if e.waker.wake() {
                return true;
            }
        }
        false
    }

    pub(super) fn front_kind(&self) -> Option<Kind> {
        self.entries.front().map(|e| e.kind)
    }

    /// Takes every waiter (to wake them all).
    pub(super) fn take_all(&mut self) -> VecDeque<Entry> {
        let all = std::mem::take(&mut self.entries);
        self.emptied();
        all
    }
}

/// Locks an internal mutex, ignoring poison: the data it guards (wait
/// queues, channel buffers) is kept consistent by code that never panics
/// while holding it.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wakes the waiters taken out of a queue (after its mutex is released).
pub(super) fn wake_all(entries: impl IntoIterator<Item = Entry>) {
    for e in entries {
        e.waker.wake();
    }
}

/// The calling greenlet's side of one wait: armed once, parkable several
/// times (each wake-up is followed by a re-check of the condition).
pub(super) struct Parker {
    waker: Waker,
    remote: RemoteWaker,
    /// Dropped on this thread when the wait ends, making `remote` inert.
    _slot: RemoteSlot,
    /// For a probed wait: who can end it, for the deadlock check.
    probe: Option<Probe>,
}

impl Parker {
    /// Starts a wait for the running greenlet (the thread's main greenlet
    /// on a thread without greenlets). Any thread may end it as far as the
    /// hub's deadlock check knows.
    pub(super) fn new() -> Parker {
        with_hub(|hub| {
            let waker = hub.arm();
            let (remote, slot) = hub.remote_waker(&waker);
            Parker { waker, remote, _slot: slot, probe: None }
        })
    }

    /// Like [`Parker::new`], for a wait on a primitive that names its
    /// holder: after each [`watch`](Parker::watch) only the thread that
    /// holder cell names can end the wait, as far as the deadlock check
    /// knows (before the first, any thread).
    pub(super) fn probed() -> Parker {
        with_hub(|hub| {
            let waker = hub.arm();
            let (remote, slot, probe) = hub.probed_remote_waker(&waker);
            Parker { waker, remote, _slot: slot, probe: Some(probe) }
        })
    }

    /// Follows `holder` from now on (call it each time the waiter queues).
    pub(super) fn watch(&self, holder: &Holder) {
        if let Some(p) = &self.probe {
            p.watch(holder);
        }
    }

    /// A `Send` waker for this wait, to put in a queue.
    pub(super) fn remote(&self) -> RemoteWaker {
        self.remote.clone()
    }

    /// Parks until woken or `deadline`; false if the deadline passed.
    /// Unwinds if the greenlet is killed or its `Timeout` fires.
    pub(super) fn park(&self, deadline: Option<Instant>) -> bool {
        with_hub(|hub| hub.park_until(&self.waker, deadline))
    }
}
