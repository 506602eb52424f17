//! Greenlets: what the hub schedules.
//!
//! A greenlet is a [`Node`]: its [`Header`] (its fiber plus scheduling
//! state) and a reference to its [`Body`] — a spawned task (see `greenthread/task.rs`),
//! or nothing for the thread's main greenlet and the hub loop. The hub
//! holds them as [`GreenletRef`]s.
//!
//! Three of the crate's fenced files with `unsafe` live here and are small:
//! `stack.rs` (mmap'd stacks with a guard page), `switch.rs` (the context
//! switch, on the `context` crate) and `overflow.rs` (the guard-page fault
//! handler).

mod overflow;
mod pool;
mod stack;
mod switch;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::hub::TimerKey;

pub(crate) use overflow::{AltStack, install_handler as install_overflow_handler};
pub(crate) use pool::StackPool;
pub(crate) use stack::normalize_size;
pub(crate) use switch::{Fiber, Resume, exit_into};

/// A scheduled thing, shared between the hub's queues and its handles.
pub(crate) type GreenletRef = Rc<Greenlet>;

/// A greenlet: its header, and its body behind a reference of its own.
///
/// The body is not stored inline (`Node<dyn Body>`): the header of such a
/// node sits at an offset that depends on the body's alignment, which every
/// access reads from the vtable first — one more dependent load on each
/// step of a switch (a `gyield` round trip took 38 ns that way, 34 ns with
/// the header at a fixed offset). The price is a second allocation per
/// spawn.
pub(crate) type Greenlet = Node<Rc<dyn Body>>;

/// The header the hub works with, at a fixed offset (no virtual call on
/// the switch path), then the kind-specific body.
pub(crate) struct Node<B: ?Sized> {
    pub(crate) header: Header,
    pub(crate) body: B,
}

impl<B: ?Sized> Node<B> {
    /// The scheduling state.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }
}

/// What differs between greenlets: how they run and end.
pub(crate) trait Body {
    /// Runs the greenlet's body on its own stack. Called once, by the entry
    /// point, and must not unwind: it catches every panic itself.
    fn run(&self, header: &Header);
    /// The greenlet will never start (killed first): finish it as killed.
    fn cancel(&self);
}

/// Where a greenlet is in its life, as the scheduler sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Sched {
    /// Spawned with a delay; a timer will make it ready.
    Delayed,
    /// In the hub's ready queue (exactly once).
    Ready,
    /// Executing now.
    Running,
    /// Waiting for a wake-up; in no ready queue.
    Parked,
    /// Its body ended (returned, panicked, killed) or it was cancelled.
    Done,
}

/// Something that makes a parked greenlet unwind (or fail) when it resumes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Interrupt {
    /// `kill`: unwind with [`KillSignal`].
    Kill,
    /// A `Timeout` with this id expired: unwind with [`TimeoutSignal`].
    Timeout(u64),
    /// The main greenlet waits for something that can never happen.
    Deadlock,
}

/// What kind of greenlet a header belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// The thread's own stack.
    Main,
    /// The hub loop.
    Loop,
    /// Made by `spawn` / `spawn_after` / `Builder::spawn`.
    Spawned,
    /// Made by `spawn_n`: nobody will wait for its result.
    SpawnedN,
}

/// The unwinding payload of a killed greenlet. Private: user code that
/// catches it cannot mistake it for its own panics.
pub(crate) struct KillSignal;

/// The unwinding payload of an expired `Timeout`, tagged with its id so that
/// `with_timeout` only catches its own.
pub(crate) struct TimeoutSignal(pub(crate) u64);

/// A greenlet's fiber and scheduling state. Hub-local: no atomics.
pub(crate) struct Header {
    pub(crate) fiber: Fiber,
    pub(crate) kind: Kind,
    pub(crate) sched: Cell<Sched>,
    /// Incremented by every `arm`; a waker only works while it matches.
    pub(crate) token: Cell<u64>,
    /// A waker fired while the greenlet was still running: its next park
    /// returns at once.
    pub(crate) notified: Cell<bool>,
    /// The current wait ended because its deadline passed.
    pub(crate) timed_out: Cell<bool>,
    /// Delivered when the greenlet next resumes from a switch.
    /// Unwinding (a kill, `Timeout` or panic delivered to it and not
    /// known to be over) if this is the hub's current marking epoch (0:
    /// never marked): see [`crate::hub::Hub::is_unwinding`].
    pub(crate) unwinding: Cell<u64>,
    pub(crate) interrupt: Cell<Option<Interrupt>>,
    /// The ids of the `with_timeout` scopes entered while the greenlet was
    /// already unwinding (from a destructor), innermost last. Their
    /// timeouts are delivered during that unwinding, since each is caught
    /// by its scope, inside the destructor: see
    /// [`Header::take_nested_timeout`].
    pub(crate) nested_timeouts: RefCell<Vec<u64>>,
    /// The oldest expired timeout of those scopes that `interrupt` could
    /// not hold (it holds a kill or another timeout, kept for after the
    /// unwinding).
    pub(crate) nested_fired: Cell<Option<u64>>,
    /// The `spawn_after` timer that will start it, while it waits.
    pub(crate) start_timer: Cell<Option<TimerKey>>,
    /// Counted in the hub's live greenlets (from `start` until it ends,
    /// is cancelled, or is dropped unstarted).
    pub(crate) counted: Cell<bool>,
    /// Green-local values (`guv::local!`); dropped when the greenlet ends
    /// (see `crate::local`).
    pub(crate) locals: crate::local::Slots,
}

impl Header {
    pub(crate) fn new(fiber: Fiber, kind: Kind, sched: Sched) -> Header {
        Header {
            fiber,
            kind,
            sched: Cell::new(sched),
            token: Cell::new(0),
            notified: Cell::new(false),
            timed_out: Cell::new(false),
            unwinding: Cell::new(0),
            interrupt: Cell::new(None),
            nested_timeouts: RefCell::new(Vec::new()),
            nested_fired: Cell::new(None),
            start_timer: Cell::new(None),
            counted: Cell::new(false),
            locals: crate::local::Slots::default(),
        }
    }

    /// The greenlet's numeric id (0 for a thread's main greenlet).
    pub(crate) fn id(&self) -> u64 {
        self.fiber.info.id
    }

    /// The name given at spawn, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.fiber.info.name.as_deref()
    }

    /// A short description for messages: `'name' (#3)` or `#3`.
    pub(crate) fn describe(&self) -> String {
        match self.name() {
            Some(name) => format!("'{name}' (#{})", self.id()),
            None => format!("#{}", self.id()),
        }
    }

    /// Records an interrupt; a kill overrides a pending timeout, never the
    /// other way round.
    ///
    /// Of two expired timeouts, the outer one wins (the older, smaller id:
    /// timeouts nest in creation order): its unwinding passes through the
    /// inner scope, so both scopes end, while the inner one's would be
    /// caught by the inner `with_timeout` and the outer deadline lost.
    ///
    /// A timeout of a `with_timeout` scope entered during an unwinding
    /// (see `nested_timeouts`) that this rule would drop is kept aside in
    /// `nested_fired`, for that unwinding to take.
    pub(crate) fn post_interrupt(&self, new: Interrupt) {
        let old = self.interrupt.get();
        if old == Some(new) {
            return;
        }
        let kept = match (old, new) {
            (Some(Interrupt::Kill), _) => old,
            (Some(Interrupt::Timeout(old_id)), Interrupt::Timeout(id)) if old_id < id => old,
            _ => Some(new),
        };
        self.interrupt.set(kept);
        let dropped = if kept == Some(new) { old } else { Some(new) };
        if let Some(Interrupt::Timeout(id)) = dropped
            && self.is_nested_timeout(id)
        {
            let oldest = self.nested_fired.get().map_or(id, |n| n.min(id));
            self.nested_fired.set(Some(oldest));
        }
    }

    fn is_nested_timeout(&self, id: u64) -> bool {
        self.nested_timeouts.borrow().contains(&id)
    }

    /// For a greenlet that is unwinding: the expired timeout of a
    /// `with_timeout` scope entered during this unwinding, if any, taken
    /// out. Delivering it is safe, unlike any other interrupt then: the
    /// scope catches it inside the destructor it runs in, so it never
    /// unwinds out of a destructor (which aborts).
    pub(crate) fn take_nested_timeout(&self) -> Option<u64> {
        if let Some(Interrupt::Timeout(id)) = self.interrupt.get()
            && self.is_nested_timeout(id)
        {
            self.interrupt.set(None);
            return Some(id);
        }
        let fired = self.nested_fired.take()?;
        self.is_nested_timeout(fired).then_some(fired)
    }

    /// Forgets the expired, undelivered timeout `id` (its guard is gone).
    pub(crate) fn forget_timeout(&self, id: u64) {
        if self.nested_fired.get() == Some(id) {
            self.nested_fired.set(None);
        }
        if self.interrupt.get() == Some(Interrupt::Timeout(id)) {
            // One kept aside behind it goes first now.
            self.interrupt.set(self.nested_fired.take().map(Interrupt::Timeout));
        }
    }
}

impl Drop for Header {
    fn drop(&mut self) {
        // A greenlet that can never start (spawned with a delay too long to
        // represent) is dropped with its last handle: it is no longer live.
        if self.counted.get() {
            crate::hub::try_with_hub(|hub| hub.uncount(self));
        }
    }
}

/// The body of the main greenlet and of the hub loop: nothing but a header.
pub(crate) struct Plain;

impl Body for Plain {
    fn run(&self, header: &Header) {
        match header.kind {
            Kind::Loop => crate::hub::run_loop(),
            kind => unreachable!("guv internal error: {kind:?} greenlet started"),
        }
    }

    fn cancel(&self) {}
}

/// Whether two references name the same greenlet.
pub(crate) fn same(a: &GreenletRef, b: &GreenletRef) -> bool {
    std::ptr::addr_eq(Rc::as_ptr(a), Rc::as_ptr(b))
}
