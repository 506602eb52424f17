//! The algorithm every queue shares, generic over how items are stored.
//!
//! Invariant: while getters wait, no item is stored and no putter waits
//! (a put hands its item straight to the oldest getter; a get takes from
//! the store, then from the oldest putter). Items and waiters are both
//! served first come, first served.
//!
//! An item handed to a getter that is killed before it returns is passed
//! to the next getter, or put back at the head of the store — even past
//! `maxsize`, since dropping it would lose it.
//!
//! A store runs user code (`PriorityQueue` items' `Ord`) that may panic.
//! No such panic unwinds through a store operation: the store finishes the
//! operation without further user code and hands the panic back, and the
//! queue resumes it only once its own state (the unfinished count, the
//! item) agrees with what the store holds.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::waiters::{self, WaitList};

/// A panic caught in user code, to be resumed.
pub(crate) type Panic = Box<dyn Any + Send>;

/// How a queue stores its items. `Err` carries a panic of the items' own
/// code: a push that fails that way stored the item all the same; a pop
/// that fails took nothing.
pub(crate) trait Store<T> {
    fn push(&mut self, item: T) -> Result<(), Panic>;
    /// Puts back an item that was taken out and could not be delivered.
    fn push_front(&mut self, item: T) -> Result<(), Panic>;
    fn pop(&mut self) -> Result<Option<T>, Panic>;
    fn len(&self) -> usize;
}

/// First in, first out.
pub(crate) struct Fifo<T>(VecDeque<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) -> Result<(), Panic> {
        self.0.push_back(item);
        Ok(())
    }
    fn push_front(&mut self, item: T) -> Result<(), Panic> {
        self.0.push_front(item);
        Ok(())
    }
    fn pop(&mut self) -> Result<Option<T>, Panic> {
        Ok(self.0.pop_front())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out.
pub(crate) struct Lifo<T>(Vec<T>);

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) -> Result<(), Panic> {
        self.0.push(item);
        Ok(())
    }
    fn push_front(&mut self, item: T) -> Result<(), Panic> {
        self.0.push(item);
        Ok(())
    }
    fn pop(&mut self) -> Result<Option<T>, Panic> {
        Ok(self.0.pop())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Lowest item first; equal items in the order they were put.
///
/// `BinaryHeap` leaves itself in an unspecified (memory-safe) state when a
/// comparison panics, and `pop` drops the item it was about to return. So
/// no panic of `T::cmp` unwinds through it: [`Ranked::cmp`] catches it into
/// [`CMP_PANIC`], and until the heap operation ends every further
/// comparison says `Equal` (no user code), so the operation completes with
/// every item in the heap. Items may then leave out of order, as a
/// panicking `Ord` leaves any collection.
pub(crate) struct Heap<T> {
    heap: BinaryHeap<Ranked<T>>,
    next_back: i64,
    next_front: i64,
}

impl<T> Default for Heap<T> {
    fn default() -> Self {
        Heap { heap: BinaryHeap::new(), next_back: 0, next_front: -1 }
    }
}

struct Ranked<T> {
    item: T,
    seq: i64,
}

thread_local! {
    /// The panic of an item's `Ord` during the current heap operation. Set
    /// only between that panic and the end of the operation, during which
    /// no user code runs, so no other greenlet sees it.
    static CMP_PANIC: RefCell<Option<Panic>> = const { RefCell::new(None) };
}

fn cmp_panicked() -> bool {
    CMP_PANIC.with_borrow(Option::is_some)
}

fn take_cmp_panic() -> Result<(), Panic> {
    CMP_PANIC.with_borrow_mut(Option::take).map_or(Ok(()), Err)
}

impl<T: Ord> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Once a comparison panicked in this heap operation: `Equal`, with
        // no user code. It stops a sift where it is, as std's own unwinding
        // would have, so the rest of the heap keeps its order.
        if cmp_panicked() {
            return Ordering::Equal;
        }
        // BinaryHeap pops the greatest: reverse both keys.
        match panic::catch_unwind(AssertUnwindSafe(|| other.item.cmp(&self.item))) {
            Ok(by_item) => by_item.then(other.seq.cmp(&self.seq)),
            Err(payload) => {
                CMP_PANIC.with_borrow_mut(|p| *p = Some(payload));
                Ordering::Equal
            }
        }
    }
}

impl<T: Ord> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Ord> Eq for Ranked<T> {}

impl<T: Ord> Store<T> for Heap<T> {
    fn push(&mut self, item: T) -> Result<(), Panic> {
        let seq = self.next_back;
        self.next_back += 1;
        self.heap.push(Ranked { item, seq });
        take_cmp_panic()
    }
    fn push_front(&mut self, item: T) -> Result<(), Panic> {
        let seq = self.next_front;
        self.next_front -= 1;
        self.heap.push(Ranked { item, seq });
        take_cmp_panic()
    }
    fn pop(&mut self) -> Result<Option<T>, Panic> {
        let popped = self.heap.pop();
        if cmp_panicked() {
            // Put it back (no user code runs now), so the failed get takes
            // nothing.
            if let Some(r) = popped {
                self.heap.push(r);
            }
            return take_cmp_panic().map(|()| None);
        }
        Ok(popped.map(|r| r.item))
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
}

/// One queue's state. See the module docs.
pub(crate) struct Core<T, S> {
    items: RefCell<S>,
    maxsize: Cell<Option<usize>>,
    getters: RefCell<WaitList<(), T>>,
    putters: RefCell<WaitList<T, ()>>,
    /// Items put and not yet marked done with `task_done`.
    unfinished: Cell<usize>,
    joiners: RefCell<WaitList<(), ()>>,
}

impl<T, S: Store<T> + Default> Core<T, S> {
    pub(crate) fn new(maxsize: Option<usize>) -> Self {
        Core {
            items: RefCell::new(S::default()),
            maxsize: Cell::new(maxsize),
            getters: RefCell::new(WaitList::new()),
            putters: RefCell::new(WaitList::new()),
            unfinished: Cell::new(0),
            joiners: RefCell::new(WaitList::new()),
        }
    }
}

impl<T, S: Store<T>> Core<T, S> {
    fn has_room(&self) -> bool {
        self.maxsize.get().is_none_or(|max| self.items.borrow().len() < max)
    }

    fn item_entered(&self) {
        self.unfinished.set(self.unfinished.get() + 1);
    }

    /// Puts `item`, waiting for room until `deadline`; `wait: false` never
    /// blocks. Gives the item back if it could not be put.
    pub(crate) fn put(&self, item: T, wait: bool, deadline: Option<Instant>) -> Result<(), T> {
        {
            let mut getters = self.getters.borrow_mut();
            if !getters.is_empty() {
                getters.serve_front(move |()| item);
                drop(getters);
                self.item_entered();
                return Ok(());
            }
        }
        if self.has_room() {
            let stored = self.items.borrow_mut().push(item);
            // Stored either way: counted either way, then the panic goes on.
            self.item_entered();
            if let Err(payload) = stored {
                crate::hub::resume_unwind(payload);
            }
            return Ok(());
        }
        if !wait {
            return Err(item);
        }
        // Whoever takes the item counts it as entered.
        waiters::wait(&self.putters, item, deadline, |()| {})
    }

    /// Takes an item, waiting until `deadline`; `wait: false` never blocks.
    pub(crate) fn get(&self, wait: bool, deadline: Option<Instant>) -> Option<T> {
        let stored = self.items.borrow_mut().pop();
        // A panic took nothing out: the queue is as it was.
        let stored = stored.unwrap_or_else(|payload| crate::hub::resume_unwind(payload));
        if let Some(item) = stored {
            self.refill();
            return Some(item);
        }
        // A channel (maxsize 0): take straight from the oldest putter.
        let mut taken = None;
        if self.putters.borrow_mut().serve_front(|item| taken = Some(item)) {
            self.item_entered();
            return taken;
        }
        if !wait {
            return None;
        }
        waiters::wait(&self.getters, (), deadline, |item| self.redeliver(item)).ok()
    }

    /// Moves items of waiting putters into the store while there is room.
    fn refill(&self) {
        while self.has_room() {
            let mut taken = None;
            if !self.putters.borrow_mut().serve_front(|item| taken = Some(item)) {
                break;
            }
            self.item_entered();
            if let Some(item) = taken {
                self.store_in_hand_off(item, false);
            }
        }
    }

    /// An item handed to a getter that unwound before returning it.
    fn redeliver(&self, item: T) {
        let mut getters = self.getters.borrow_mut();
        if getters.is_empty() {
            drop(getters);
            self.store_in_hand_off(item, true);
        } else {
            getters.serve_front(move |()| item);
        }
    }

    /// Stores an item in the middle of a hand-off: for a putter already
    /// served (`refill`), or for a getter that is unwinding (`redeliver`).
    /// Storing runs the item's `Ord` (`PriorityQueue`), user code: a panic
    /// there is reported by the panic hook and stops here, since it must
    /// neither strand the other party nor unwind a greenlet that is already
    /// unwinding (which aborts). The store keeps the item either way.
    fn store_in_hand_off(&self, item: T, front: bool) {
        let mut items = self.items.borrow_mut();
        let stored = if front { items.push_front(item) } else { items.push(item) };
        drop(stored);
    }

    pub(crate) fn qsize(&self) -> usize {
        self.items.borrow().len()
    }

    pub(crate) fn maxsize(&self) -> Option<usize> {
        self.maxsize.get()
    }

    pub(crate) fn full(&self) -> bool {
        !self.has_room()
    }

    pub(crate) fn resize(&self, maxsize: Option<usize>) {
        self.maxsize.set(maxsize);
        self.refill();
    }

    pub(crate) fn getting(&self) -> usize {
        self.getters.borrow().len()
    }

    pub(crate) fn putting(&self) -> usize {
        self.putters.borrow().len()
    }

    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.get()
    }

    /// Marks one item done; false if none is unfinished.
    pub(crate) fn task_done(&self) -> bool {
        match self.unfinished.get() {
            0 => false,
            n => {
                self.unfinished.set(n - 1);
                if n == 1 {
                    self.joiners.borrow_mut().serve_all(|()| ());
                }
                true
            }
        }
    }

    /// Waits until every item put has been marked done; false if
    /// `deadline` passed first.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> bool {
        self.unfinished.get() == 0 || waiters::wait(&self.joiners, (), deadline, drop).is_ok()
    }
}
