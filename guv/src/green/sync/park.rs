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

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::hub::{RemoteSlot, RemoteWaker, Waker, with_hub};

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
}

impl WaitQueue {
    pub(super) const fn new() -> WaitQueue {
        WaitQueue { next_id: 0, entries: VecDeque::new() }
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
                true
            }
            None => false,
        }
    }

    pub(super) fn contains(&self, id: u64) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    pub(super) fn pop_front(&mut self) -> Option<Entry> {
        self.entries.pop_front()
    }

    /// Pops and wakes waiters, oldest first, until one wake-up lands; a
    /// waiter whose hub is gone (its thread exited) is skipped, so the
    /// wake-up is not lost. Returns whether one was woken. Called under
    /// the queue's mutex: waking takes no lock of ours.
    pub(super) fn wake_one(&mut self) -> bool {
        while let Some(e) = self.entries.pop_front() {
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
        std::mem::take(&mut self.entries)
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
}

impl Parker {
    /// Starts a wait for the running greenlet (the thread's main greenlet
    /// on a thread without greenlets).
    pub(super) fn new() -> Parker {
        with_hub(|hub| {
            let waker = hub.arm();
            let (remote, slot) = hub.remote_waker(&waker);
            Parker { waker, remote, _slot: slot }
        })
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
