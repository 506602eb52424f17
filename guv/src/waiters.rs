//! FIFO wait lists for the hub-local primitives (events, queues,
//! semaphores, pools).
//!
//! A [`WaitList`] holds the greenlets blocked on one condition, oldest
//! first. The waking side *serves* a waiter: it unlinks the entry, stores
//! what the waiter gets (an item, a permit, a value) in it, and wakes it.
//! The entry stays in the list's slab until the waiter collects it, so a
//! waiter that is killed or times out after being served finds what it was
//! given in its guard and passes it on ([`wait`]'s `abandon`): nothing is
//! lost, and the order stays first come, first served.
//!
//! Entries live in a slab (a `Vec` with a free list) linked as a doubly
//! linked list; keys carry a generation so that a stale key never reaches a
//! reused slot. Removing a waiter from the middle (timeout, kill) is O(1).

use std::cell::RefCell;
use std::time::Instant;

use crate::hub::{Waker, with_hub};

const NIL: usize = usize::MAX;

/// Names one entry of a [`WaitList`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct WaitKey {
    index: usize,
    generation: u64,
}

enum State<W, D> {
    Vacant,
    /// Linked into the list: the waker and what the waiter brought.
    Waiting(Waker, W),
    /// Served and unlinked; waits for its owner to collect it.
    Done(D),
}

struct Entry<W, D> {
    generation: u64,
    prev: usize,
    next: usize,
    state: State<W, D>,
}

/// What [`WaitList::take`] found in an entry.
pub(crate) enum Taken<W, D> {
    /// Not served: what the waiter brought, back.
    Waiting(W),
    /// Served with this.
    Done(D),
}

/// A FIFO list of waiting greenlets. `W` is what a waiter brings (an item
/// to put, or `()`), `D` what serving it gives (an item, a permit, `()`).
pub(crate) struct WaitList<W, D> {
    entries: Vec<Entry<W, D>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    /// Linked (not yet served) entries.
    len: usize,
}

impl<W, D> Default for WaitList<W, D> {
    fn default() -> Self {
        WaitList::new()
    }
}

impl<W, D> WaitList<W, D> {
    pub(crate) const fn new() -> Self {
        WaitList { entries: Vec::new(), free: Vec::new(), head: NIL, tail: NIL, len: 0 }
    }

    /// Waiters not yet served.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a waiter.
    pub(crate) fn push_back(&mut self, waker: Waker, value: W) -> WaitKey {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry { generation: 0, prev: NIL, next: NIL, state: State::Vacant });
                self.entries.len() - 1
            }
        };
        let tail = self.tail;
        let e = &mut self.entries[index];
        e.prev = tail;
        e.next = NIL;
        e.state = State::Waiting(waker, value);
        let generation = e.generation;
        if tail == NIL {
            self.head = index;
        } else {
            self.entries[tail].next = index;
        }
        self.tail = index;
        self.len += 1;
        WaitKey { index, generation }
    }

    fn unlink(&mut self, index: usize) {
        let (prev, next) = (self.entries[index].prev, self.entries[index].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.entries[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.entries[next].prev = prev;
        }
        self.len -= 1;
    }

    /// Serves the oldest waiter: `give` turns what it brought into what it
    /// gets, and the waiter is woken. Returns false if nobody waits (then
    /// `give` is not called).
    pub(crate) fn serve_front(&mut self, give: impl FnOnce(W) -> D) -> bool {
        let index = self.head;
        if index == NIL {
            return false;
        }
        self.unlink(index);
        let e = &mut self.entries[index];
        let State::Waiting(waker, w) = std::mem::replace(&mut e.state, State::Vacant) else {
            unreachable!("guv internal error: a linked wait entry is not waiting")
        };
        e.state = State::Done(give(w));
        waker.wake();
        true
    }

    /// Serves every waiter, oldest first.
    pub(crate) fn serve_all(&mut self, mut give: impl FnMut(W) -> D) {
        while self.serve_front(&mut give) {}
    }

    /// Whether the entry has been served.
    pub(crate) fn is_done(&self, key: WaitKey) -> bool {
        matches!(self.entries.get(key.index), Some(e) if e.generation == key.generation && matches!(e.state, State::Done(_)))
    }

    /// Removes the entry (unlinking it if it still waits) and returns its
    /// content; `None` if the key is stale.
    pub(crate) fn take(&mut self, key: WaitKey) -> Option<Taken<W, D>> {
        let e = self.entries.get(key.index)?;
        if e.generation != key.generation || matches!(e.state, State::Vacant) {
            return None;
        }
        if matches!(e.state, State::Waiting(..)) {
            self.unlink(key.index);
        }
        let e = &mut self.entries[key.index];
        e.generation = e.generation.wrapping_add(1);
        let state = std::mem::replace(&mut e.state, State::Vacant);
        self.free.push(key.index);
        Some(match state {
            State::Waiting(_, w) => Taken::Waiting(w),
            State::Done(d) => Taken::Done(d),
            State::Vacant => unreachable!("guv internal error: vacant wait entry"),
        })
    }
}

/// Blocks the running greenlet in `list` (bringing `value`) until it is
/// served (`Ok` with what it got), or `deadline` passes (`Err` with what
/// it brought). Unwinds if the greenlet is killed or its
/// `Timeout` fires; then the entry leaves the list, and if it had already
/// been served, `abandon` gets what it was given so that it can pass it on.
///
/// `list` must not be borrowed by the caller while it waits.
pub(crate) fn wait<W, D>(
    list: &RefCell<WaitList<W, D>>,
    value: W,
    deadline: Option<Instant>,
    abandon: impl FnOnce(D),
) -> Result<D, W> {
    with_hub(|hub| {
        let waker = hub.arm();
        let key = list.borrow_mut().push_back(waker.clone(), value);
        let mut guard = Abandon { list, key, abandon: Some(abandon) };
        loop {
            let woke = hub.park_until(&waker, deadline);
            // Served wins over a deadline that passed at the same time.
            let served = list.borrow().is_done(key);
            if served || !woke {
                guard.abandon = None;
                let taken = list.borrow_mut().take(key);
                return match taken {
                    Some(Taken::Done(d)) => Ok(d),
                    Some(Taken::Waiting(w)) => Err(w),
                    None => unreachable!("guv internal error: a wait entry vanished"),
                };
            }
            // A spurious wake-up: the entry still waits.
        }
    })
}

/// Removes an abandoned wait entry (on unwind), passing on what it was given.
struct Abandon<'a, W, D, F: FnOnce(D)> {
    list: &'a RefCell<WaitList<W, D>>,
    key: WaitKey,
    abandon: Option<F>,
}

impl<W, D, F: FnOnce(D)> Drop for Abandon<'_, W, D, F> {
    fn drop(&mut self) {
        let Some(abandon) = self.abandon.take() else {
            return;
        };
        let taken = self.list.borrow_mut().take(self.key);
        // Dropped or passed on outside the borrow: either may run user code.
        match taken {
            Some(Taken::Done(d)) => abandon(d),
            Some(Taken::Waiting(w)) => drop(w),
            None => {}
        }
    }
}

/// After catching an unwind from user code that must not end the caller
/// (a callback, a pool task run inline): re-raises it if it is the caller
/// being killed or timed out, and drops it if it is an ordinary panic (the
/// panic hook has already reported it).
pub(crate) fn resume_if_interrupt(payload: Box<dyn std::any::Any + Send>) {
    if is_interrupt(&payload) {
        crate::hub::resume_unwind(payload);
    }
}

/// Whether an unwind payload is guv's kill or timeout signal.
pub(crate) fn is_interrupt(payload: &Box<dyn std::any::Any + Send>) -> bool {
    crate::error::is_interrupt(&**payload)
}
