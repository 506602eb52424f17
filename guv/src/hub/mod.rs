//! The hub: one scheduler and event loop per OS thread, created on first use.
//!
//! # How it works
//!
//! The thread's own stack is its *main greenlet*; the loop runs on a stack
//! of its own. A greenlet that blocks (parks), yields or kills switches
//! straight to the next ready greenlet when the current loop iteration still
//! has some, and to the loop otherwise; a greenlet that ends always switches
//! to the loop, which recycles its stack.
//!
//! One loop iteration:
//!
//! 1. runs the greenlets that were ready when the iteration began, in FIFO
//!    order (a snapshot: what becomes ready meanwhile waits for the next
//!    iteration);
//! 2. takes requests from other threads ([`Handle`]);
//! 3. fires expired timers (`sleep`, `spawn_after`, `Timeout`, I/O timeouts);
//! 4. polls for I/O: without blocking if greenlets are ready — and then only
//!    once [`EVENT_INTERVAL`] greenlets have run since the last poll, since a
//!    poll costs about a hundred switches — or else blocking until the next
//!    timer.
//!
//! When the main greenlet waits and nothing can ever wake it (no ready
//! greenlet, no timer, no I/O wait, no live [`Handle`]) the waiting call
//! panics with "this operation would block forever" instead of hanging.
//!
//! When the thread ends, greenlets that never started end with it, unrun;
//! greenlets still suspended (parked in a read, a sleep, an accept) are
//! abandoned with their stacks, as the process abandons detached threads
//! at exit: their destructors do not run, so what they hold (a socket, a
//! server's listener) stays open until the process exits. Wait for them,
//! or kill them, before the thread returns.
//!
//! Hub state is thread-local and uses `Cell`/`RefCell` only; the one
//! cross-thread part is the queue behind [`Handle`].

mod backend;
#[cfg(target_os = "linux")]
mod epoll;
mod probe;
mod remote;
mod timer;
pub(crate) mod track;

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::panic;
use std::rc::Rc;
use std::sync::{Arc, Once, Weak};
use std::time::{Duration, Instant};

pub use backend::PollingBackend;
pub(crate) use backend::poll_now;
pub use backend::{Backend, IoEvent, Notifier};
#[cfg(target_os = "linux")]
pub use epoll::EpollBackend;
pub(crate) use probe::{ANY_THREAD, Holder, Probe, thread_mark};
pub use remote::Handle;
pub(crate) use remote::{RemoteOp, Shared};
use timer::Timers;
pub(crate) use timer::{TimerAction, TimerKey};
use track::{TrackReport, Tracker};

use crate::greenlet::{
    AltStack, Body, Fiber, GreenletRef, Header, Interrupt, KillSignal, Kind, Node, Plain, Resume, Sched, StackPool,
    TimeoutSignal, exit_into, install_overflow_handler, normalize_size, same,
};

/// How many greenlets may run between two non-blocking I/O polls while the
/// ready queue never empties. A poll costs about 1.9 µs and five system
/// calls with the `polling` backend, around a hundred greenlet switches, so
/// polling after every greenlet would dominate; polling too rarely delays
/// I/O wake-ups under load. 61 is tokio's choice for the same knob.
pub const EVENT_INTERVAL: u32 = 61;

/// How many nodes of ended greenlets a hub keeps for reuse.
const SPARE_NODES: usize = 256;

/// The stack size of greenlets that do not ask for one: 256 KiB of address
/// space, of which only the pages a greenlet touches use memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

thread_local! {
    static HUB: HubSlot = const { HubSlot(OnceCell::new()) };
}

/// The thread-local home of the hub; shuts the hub down when the thread ends.
struct HubSlot(OnceCell<Rc<Hub>>);

impl HubSlot {
    /// The hub, started on first use.
    #[inline]
    fn hub(&self) -> &Hub {
        self.0.get_or_init(|| match Hub::new() {
            Ok(hub) => Rc::new(hub),
            Err(e) => panic!("guv: cannot start the hub on this thread: {e}"),
        })
    }
}

impl Drop for HubSlot {
    fn drop(&mut self) {
        if let Some(hub) = self.0.take() {
            // Green-locals of the main greenlet (and of the loop, from
            // destructors it ran) go first, like thread-locals.
            hub.main.header().locals.drop_all();
            hub.looper.header().locals.drop_all();
            hub.shutdown();
            if hub.live.get() > 0 {
                // Greenlets are still suspended with references into the
                // hub on their stacks: abandon them, and the hub with them,
                // rather than free memory they point into.
                std::mem::forget(hub);
            }
        }
    }
}

/// Runs `f` with this thread's hub, creating it on first use.
pub(crate) fn with_hub<R>(f: impl FnOnce(&Hub) -> R) -> R {
    HUB.try_with(|slot| f(slot.hub())).unwrap_or_else(|_| hub_gone())
}

#[cold]
#[inline(never)]
fn hub_gone() -> ! {
    panic!("guv: this thread's hub is gone (the thread is ending); no green operation can run here")
}

/// [`with_hub`], or `None` instead of a panic once the hub is being torn
/// down (the thread is ending).
pub(crate) fn try_with_live_hub<R>(f: impl FnOnce(&Hub) -> R) -> Option<R> {
    HUB.try_with(|slot| f(slot.hub())).ok()
}

/// Runs `f` with this thread's hub if it exists and is not being torn down.
pub(crate) fn try_with_hub<R>(f: impl FnOnce(&Hub) -> R) -> Option<R> {
    HUB.try_with(|slot| slot.0.get().map(|hub| f(hub))).ok().flatten()
}

/// `std::thread::panicking()` for the running greenlet: whether *it* is
/// unwinding, not some other greenlet of its thread parked mid-unwind (see
/// [`Hub::is_unwinding`]). On a thread without a hub, std's answer.
pub(crate) fn panicking() -> bool {
    if !std::thread::panicking() {
        return false;
    }
    try_with_hub(|hub| match hub.current.try_borrow() {
        Ok(cur) => hub.is_unwinding(cur.header()),
        Err(_) => true,
    })
    .unwrap_or(true)
}

/// `std::panic::resume_unwind` for a payload the running greenlet re-raises
/// (one it caught, or a pool thread's panic): marks the greenlet as
/// unwinding first (see [`Hub::is_unwinding`]). `resume_unwind` skips the
/// panic hook that marks panics, and a mark made when the payload was
/// first raised is gone if the greenlet was seen with no panic in flight
/// since (it parked after catching). Unmarked while another greenlet is
/// parked mid-unwind, it would look not to be unwinding, and a kill could
/// be delivered into its cleanup, aborting the process.
pub(crate) fn resume_unwind(payload: Box<dyn std::any::Any + Send>) -> ! {
    try_with_hub(|hub| {
        if let Ok(cur) = hub.current.try_borrow() {
            hub.mark_unwinding(cur.header());
        }
    });
    panic::resume_unwind(payload)
}

/// Whether the running greenlet holds an interrupt (a kill, a `Timeout`)
/// that it keeps pending because it is unwinding: a wait in its
/// destructors that may give up (`killall`'s, parked with
/// [`Hub::park_or_give_up`]) gives up then, as a second kill would cut it
/// short if it could be raised. A deadlock report kept so (the main
/// greenlet, unwinding, would wait for ever) is taken: the wait that gives
/// up is its answer, and it must not hit a later wait that can end.
pub(crate) fn interrupt_kept() -> bool {
    with_hub(|hub| {
        let cur = hub.current();
        let h = cur.header();
        let kept = h.interrupt.get().is_some() && hub.is_unwinding(h);
        if kept && h.interrupt.get() == Some(Interrupt::Deadlock) {
            h.interrupt.set(None);
        }
        kept
    })
}

/// [`Hub::kills_land`] on this thread's hub (true without one).
pub(crate) fn kills_land() -> bool {
    try_with_hub(Hub::kills_land).unwrap_or(true)
}

/// A parked greenlet's wake-up right for one wait (see [`Hub::arm`]).
/// `!Send`: it holds the greenlet.
#[derive(Clone)]
pub(crate) struct Waker {
    g: GreenletRef,
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
    shared: SharedRef,
    slot: SlotKey,
    token: u64,
}

/// How a [`RemoteWaker`] refers to its hub: strongly (the hub's deadlock
/// check counts it as a possible wake-up), or weakly for a waiter whose
/// [`Probe`] speaks for it instead (see `probe.rs`).
#[derive(Clone)]
enum SharedRef {
    Strong(Arc<Shared>),
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
struct RemoteParked {
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

/// The ready queue (FIFO) and the current loop iteration's snapshot of
/// it: the first `now` entries were ready when the iteration began and run
/// in it; everything made ready meanwhile queues behind them and waits for
/// the next iteration.
#[derive(Default)]
struct RunQueue {
    queue: VecDeque<GreenletRef>,
    /// Entries at the front that belong to the current iteration.
    now: usize,
}

impl RunQueue {
    #[inline]
    fn push(&mut self, g: GreenletRef) {
        self.queue.push_back(g);
    }

    /// Takes the next entry of the current iteration.
    #[inline]
    fn pop_now(&mut self) -> Option<GreenletRef> {
        if self.now == 0 {
            return None;
        }
        self.now -= 1;
        self.queue.pop_front()
    }

    /// Whether something waits for the next iteration.
    #[inline]
    fn has_next(&self) -> bool {
        self.queue.len() > self.now
    }

    /// Starts an iteration: what is ready now is its snapshot.
    #[inline]
    fn begin_iteration(&mut self) {
        debug_assert_eq!(self.now, 0, "an iteration began before the last one ended");
        self.now = self.queue.len();
    }

    /// Ends the current iteration early (shutdown); its entries stay first.
    fn abandon_iteration(&mut self) {
        self.now = 0;
    }
}

/// One thread's scheduler. See the module docs.
pub(crate) struct Hub {
    main: GreenletRef,
    looper: GreenletRef,
    /// The greenlet running now (the loop while the loop runs).
    current: RefCell<GreenletRef>,
    /// The ready greenlets, split by loop iteration (see [`RunQueue`]).
    ready: RefCell<RunQueue>,
    /// Greenlets run since the last I/O poll.
    ticks: Cell<u32>,
    /// A greenlet that just ended; its stack is recycled by the loop.
    zombie: Cell<Option<GreenletRef>>,
    pub(crate) timers: RefCell<Timers>,
    pub(crate) io: crate::io::Registry,
    shared: Arc<Shared>,
    remote_ops: RefCell<Vec<RemoteOp>>,
    remote_parked: RefCell<RemoteParked>,
    /// What the waits behind weak remote wakers wait for (see `probe.rs`).
    probes: RefCell<probe::Probes>,
    stacks: RefCell<StackPool>,
    /// Nodes of ended greenlets that nothing else referred to, for reuse
    /// by the next spawns (at most [`SPARE_NODES`]).
    spare: RefCell<Vec<GreenletRef>>,
    next_id: Cell<u64>,
    /// Spawned greenlets that have not ended.
    live: Cell<usize>,
    /// Greenlets marked as unwinding ([`Hub::is_unwinding`]).
    unwinding: Cell<usize>,
    /// The marking epoch: a greenlet is marked if its header holds this
    /// value. Bumped to drop every mark at once (see
    /// [`Hub::forget_unwinding`]).
    epoch: Cell<u64>,
    /// Greenlets that kept an interrupt pending because they looked
    /// unwinding; woken to take it once no panic is in flight.
    deferred: RefCell<Vec<GreenletRef>>,
    /// `deferred` is not empty: one flag for the loop's check of
    /// [`Hub::unwinding_to_forget`], which runs on every switch.
    any_deferred: Cell<bool>,
    /// The main greenlet is parked in a wait that gives up on an
    /// interrupt it cannot take ([`Hub::park_or_give_up`]).
    main_may_give_up: Cell<bool>,
    exiting: Cell<bool>,
    pub(crate) hub_exceptions: Cell<bool>,
    /// Live and panicked greenlets, when `#[guv::test]` asks.
    pub(crate) track: Tracker,
    _alt_stack: Option<AltStack>,
}

/// The greenlet id the hub loop reports.
const LOOP_ID: u64 = u64::MAX;

impl Hub {
    fn new() -> io::Result<Hub> {
        Self::with_backend(default_backend()?)
    }

    fn with_backend(backend: Box<dyn Backend>) -> io::Result<Hub> {
        install_overflow_handler();
        install_panic_hook();
        let alt_stack = AltStack::ensure()?;
        let shared = Arc::new(Shared::new(backend.notifier()));
        let name = std::thread::current().name().map(Box::from);
        let main: GreenletRef = Rc::new(Node {
            header: Header::new(Fiber::native(0, name), Kind::Main, Sched::Running),
            body: Rc::new(Plain),
        });
        let mut stacks = StackPool::new(normalize_size(DEFAULT_STACK_SIZE)?);
        let loop_stack = stacks.get(stacks.size())?;
        let fiber = Fiber::new(loop_stack, greenlet_entry, LOOP_ID, Some("guv-hub".into()));
        let looper: GreenletRef =
            Rc::new(Node { header: Header::new(fiber, Kind::Loop, Sched::Parked), body: Rc::new(Plain) });
        let hub = Hub {
            current: RefCell::new(main.clone()),
            main,
            looper,
            ready: RefCell::new(RunQueue::default()),
            ticks: Cell::new(0),
            zombie: Cell::new(None),
            timers: RefCell::new(Timers::default()),
            io: crate::io::Registry::new(backend),
            shared,
            remote_ops: RefCell::new(Vec::new()),
            remote_parked: RefCell::new(RemoteParked::default()),
            probes: RefCell::default(),
            stacks: RefCell::new(stacks),
            spare: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            live: Cell::new(0),
            unwinding: Cell::new(0),
            epoch: Cell::new(1),
            deferred: RefCell::new(Vec::new()),
            any_deferred: Cell::new(false),
            main_may_give_up: Cell::new(false),
            exiting: Cell::new(false),
            hub_exceptions: Cell::new(true),
            track: Tracker::default(),
            _alt_stack: alt_stack,
        };
        // Only once nothing can fail: the overflow handler reads through this
        // pointer, which must never outlive the main greenlet (it lives in an
        // `Rc` that moves with the hub, so its address is stable).
        hub.main.header().fiber.mark_current();
        Ok(hub)
    }

    /// The running greenlet.
    pub(crate) fn current(&self) -> GreenletRef {
        self.current.borrow().clone()
    }

    /// The thread's main greenlet.
    #[cfg(test)]
    pub(crate) fn main_ref(&self) -> GreenletRef {
        self.main.clone()
    }

    /// A weak reference to the cross-thread half, for objects that must
    /// reach this hub from other threads without keeping it "remotely
    /// reachable" (see the deadlock check).
    pub(crate) fn shared_weak(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    /// Whether `home` (from [`Hub::shared_weak`]) points to this hub; no
    /// reference count is touched.
    pub(crate) fn is_home(&self, home: &std::sync::Weak<Shared>) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.shared), home.as_ptr())
    }

    /// Spawned greenlets that have not ended.
    pub(crate) fn live(&self) -> usize {
        self.live.get()
    }

    /// Idle pooled stacks.
    pub(crate) fn idle_stacks(&self) -> usize {
        self.stacks.borrow().idle()
    }

    // ----- spawning -------------------------------------------------------

    /// A fiber for a new greenlet, on a pooled or new stack.
    pub(crate) fn new_fiber(&self, name: Option<Box<str>>, stack_size: Option<usize>) -> io::Result<Fiber> {
        let size = match stack_size {
            Some(n) => normalize_size(n)?,
            None => self.stacks.borrow().size(),
        };
        let stack = self.stacks.borrow_mut().get(size)?;
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        Ok(Fiber::new(stack, greenlet_entry, id, name))
    }

    /// Schedules a new greenlet now, or after `delay`.
    pub(crate) fn start(&self, g: GreenletRef, delay: Option<Duration>) {
        let h = g.header();
        self.live.set(self.live.get() + 1);
        h.counted.set(true);
        self.track.spawned(h);
        match delay {
            None => {
                h.sched.set(Sched::Ready);
                self.ready.borrow_mut().push(g);
            }
            Some(delay) => {
                h.sched.set(Sched::Delayed);
                // A delay too long to represent never elapses.
                if let Some(deadline) = Instant::now().checked_add(delay) {
                    let key = self.timers.borrow_mut().add(deadline, TimerAction::Start(g.clone()));
                    h.start_timer.set(Some(key));
                }
            }
        }
    }

    /// Sets the default stack size of greenlets spawned from now on.
    pub(crate) fn set_stack_size(&self, size: usize) -> io::Result<()> {
        let size = normalize_size(size)?;
        self.stacks.borrow_mut().set_size(size);
        Ok(())
    }

    pub(crate) fn stack_size(&self) -> usize {
        self.stacks.borrow().size()
    }

    // ----- switching ------------------------------------------------------

    /// Takes the next greenlet of the current iteration, if any is left.
    #[inline(always)]
    fn pop_ready(&self) -> Option<GreenletRef> {
        self.pop_now(&mut self.ready.borrow_mut())
    }

    /// Leaves `cur` (whose state the caller has set) for the next ready
    /// greenlet of this iteration, or for the loop.
    #[inline(always)]
    fn switch_away(&self, cur: &GreenletRef) {
        let next = match self.pop_ready() {
            Some(g) => g,
            None => match self.next_iteration_inline() {
                Some(g) => g,
                None => self.looper.clone(),
            },
        };
        self.switch_to(cur, next);
    }

    /// Starts the next loop iteration without switching to the loop, when
    /// steps 2-4 have nothing to do: no remote request, no timer due, no I/O
    /// poll owed. Saves two switches per iteration for greenlets that only
    /// yield to each other; the order of events is exactly the loop's.
    fn next_iteration_inline(&self) -> Option<GreenletRef> {
        if !self.ready.borrow().has_next() || !self.inline_iteration_ok() {
            return None;
        }
        self.ready.borrow_mut().begin_iteration();
        self.pop_ready()
    }

    /// Whether steps 2-4 of a loop iteration have nothing to do now, so that
    /// the next iteration may start without the loop: no remote request, no
    /// I/O poll owed, no timer due.
    #[inline(always)]
    fn inline_iteration_ok(&self) -> bool {
        if self.shared.has_pending() || self.io_poll_due() || self.unwinding_to_forget() {
            return false;
        }
        self.timers.borrow().is_empty() || !self.timer_due()
    }

    /// Whether the earliest timer has expired.
    fn timer_due(&self) -> bool {
        let next = self.timers.borrow_mut().next_deadline();
        next.is_some_and(|deadline| deadline <= Instant::now())
    }

    /// Whether a non-blocking poll is owed: greenlets wait for I/O and
    /// [`EVENT_INTERVAL`] greenlets have run since the last poll.
    fn io_poll_due(&self) -> bool {
        self.ticks.get() >= EVENT_INTERVAL && self.io.waiting() > 0
    }

    #[inline(always)]
    fn switch_to(&self, cur: &GreenletRef, next: GreenletRef) {
        if same(cur, &next) {
            cur.header().sched.set(Sched::Running);
            return;
        }
        next.header().sched.set(Sched::Running);
        drop(self.current.replace(next.clone()));
        cur.header().fiber.switch(&next.header().fiber);
    }

    /// Ends the running greenlet `me` and switches to the loop (or, for the
    /// loop itself at shutdown, to the main greenlet).
    fn exit_current(&self, me: GreenletRef) -> ! {
        let to = if me.header().kind == Kind::Loop { &self.main } else { &self.looper };
        self.uncount(me.header());
        self.unwound(me.header());
        me.header().sched.set(Sched::Done);
        to.header().sched.set(Sched::Running);
        drop(self.current.replace(to.clone()));
        exit_into(me, |g| &g.header().fiber, &self.zombie, &to.header().fiber)
    }

    /// Recycles the stack of a greenlet that just ended, and its node if
    /// nothing else refers to it.
    fn reap(&self) {
        let Some(mut zombie) = self.zombie.take() else { return };
        if let Some(stack) = zombie.header().fiber.retire() {
            self.stacks.borrow_mut().put(stack);
        }
        if let Some(node) = Rc::get_mut(&mut zombie) {
            // The body goes now, as it would with the node; the header
            // (finished fiber, no green-locals, no longer counted) waits.
            drop(std::mem::replace(&mut node.body, self.main.body.clone()));
            let mut spare = self.spare.borrow_mut();
            if spare.len() < SPARE_NODES {
                spare.push(zombie);
            }
        }
    }

    /// A greenlet node for `header` and `body`: a spare one when there is
    /// one, which saves an allocation per spawn.
    pub(crate) fn new_greenlet(&self, header: Header, body: Rc<dyn Body>) -> GreenletRef {
        let spare = self.spare.borrow_mut().pop();
        match spare {
            Some(mut g) => match Rc::get_mut(&mut g) {
                Some(node) => {
                    node.header = header;
                    node.body = body;
                    g
                }
                None => Rc::new(Node { header, body }),
            },
            None => Rc::new(Node { header, body }),
        }
    }

    #[inline]
    fn refuse_in_loop(&self, cur: &GreenletRef, what: &str) {
        if cur.header().kind == Kind::Loop {
            refused_in_loop(what);
        }
    }

    // ----- waiting and waking ---------------------------------------------

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

    /// Moves the running greenlet to the back of the ready queue and runs
    /// the others first.
    #[inline(always)]
    pub(crate) fn gyield(&self) {
        finish_yield(self.yield_prepare());
    }

    /// Everything [`Hub::gyield`] does before its jump: queues the running
    /// greenlet, picks the next one (as [`Hub::switch_away`] would, inline
    /// iteration included) and makes it current. Returns the running
    /// greenlet, and what to jump to unless it runs on at once.
    ///
    /// The queue takes the running greenlet's reference from `current`,
    /// which takes the next one's from the queue: one reference count is
    /// touched per yield (the caller's own, which keeps its header alive
    /// across the jump).
    #[inline(never)]
    pub(crate) fn yield_prepare(&self) -> (GreenletRef, Option<Resume>) {
        // Borrowed throughout: nothing below runs user code (a greenlet
        // skipped in the queue was cancelled before it started, so dropping
        // it drops no closure, and timers only drop stale heap entries).
        let mut current = self.current.borrow_mut();
        let cur = current.clone();
        self.refuse_in_loop(&cur, "gyield()");
        cur.header().sched.set(Sched::Ready);
        let mut ready = self.ready.borrow_mut();
        let next = match self.pop_now(&mut ready) {
            Some(g) => g,
            // The iteration is over; `cur` queues for the next one, which
            // starts here if steps 2-4 of the loop have nothing to do.
            None if self.inline_iteration_ok() => {
                // Its snapshot: the queue, then `cur` (pushed below).
                ready.begin_iteration();
                match self.pop_now(&mut ready) {
                    Some(g) => {
                        ready.now += 1;
                        g
                    }
                    None => {
                        // `cur` was alone (the snapshot is used up): it runs
                        // on, and counts as run.
                        self.ticks.set(self.ticks.get().wrapping_add(1));
                        cur.header().sched.set(Sched::Running);
                        return (cur, None);
                    }
                }
            }
            None => self.looper.clone(),
        };
        next.header().sched.set(Sched::Running);
        let to = next.header().fiber.prepare_resume();
        ready.push(std::mem::replace(&mut *current, next));
        (cur, Some(to))
    }

    /// Takes the next greenlet of the current iteration, if any is left
    /// ([`Hub::pop_ready`] with the queue already borrowed).
    #[inline(always)]
    fn pop_now(&self, ready: &mut RunQueue) -> Option<GreenletRef> {
        while let Some(g) = ready.pop_now() {
            // Cancelled while queued: skip.
            if g.header().sched.get() == Sched::Ready {
                self.ticks.set(self.ticks.get().wrapping_add(1));
                return Some(g);
            }
        }
        None
    }

    /// Makes `g` deliver `interrupt` at its next switch, waking it if parked.
    pub(crate) fn interrupt(&self, g: &GreenletRef, interrupt: Interrupt) {
        let h = g.header();
        match h.sched.get() {
            Sched::Done | Sched::Delayed => {}
            Sched::Parked => {
                h.post_interrupt(interrupt);
                h.sched.set(Sched::Ready);
                self.ready.borrow_mut().push(g.clone());
            }
            Sched::Ready | Sched::Running => h.post_interrupt(interrupt),
        }
    }

    /// Kills `target`: a greenlet that never started is cancelled at once;
    /// a started one unwinds at its next switch, and the caller yields so
    /// that it does so before the caller goes on. Killing the running
    /// greenlet unwinds it now.
    ///
    /// A caller that is itself unwinding (a destructor killing helper
    /// greenlets while a kill, `Timeout` or panic unwinds it) yields too,
    /// so that a kill cascades through drop guards before the killed
    /// greenlet is seen ended: the target, not marked as unwinding, gets
    /// its kill. Only when the panic in flight is one guv cannot attribute
    /// (no greenlet marked, see [`Hub::is_unwinding`]) does the caller not
    /// yield, since a target resumed then would have to assume the panic
    /// is its own and keep its kill pending; it runs once the caller has
    /// finished unwinding instead.
    pub(crate) fn kill(&self, target: &GreenletRef) {
        let h = target.header();
        match h.sched.get() {
            Sched::Done => {}
            Sched::Delayed | Sched::Ready if h.fiber.is_fresh() => self.cancel(target),
            Sched::Running => {
                if self.is_unwinding(h) {
                    h.post_interrupt(Interrupt::Kill);
                } else {
                    self.mark_unwinding(h);
                    panic::resume_unwind(Box::new(KillSignal));
                }
            }
            Sched::Parked | Sched::Ready | Sched::Delayed => {
                self.interrupt(target, Interrupt::Kill);
                if self.kills_land() {
                    self.gyield();
                }
            }
        }
    }

    /// Whether a greenlet resumed now would get a kill posted to it: yes,
    /// unless a panic is in flight that no greenlet is marked for (then
    /// [`Hub::is_unwinding`] takes it to be every greenlet's own).
    pub(crate) fn kills_land(&self) -> bool {
        !std::thread::panicking() || self.unwinding.get() > 0
    }

    /// Whether the greenlet `h` (running, or being resumed) is unwinding.
    ///
    /// Rust counts panics per OS thread, not per greenlet: while one
    /// greenlet unwinds and parks in a destructor, `thread::panicking()` is
    /// true for every greenlet of the thread. So guv marks the greenlet an
    /// unwinding belongs to — when it delivers a kill or `Timeout`, and in
    /// its panic hook for panics — and a mark is dropped as soon as that
    /// greenlet is seen with no panic in flight, or ends, or a loop
    /// iteration starts with none in flight ([`Hub::forget_unwinding`]).
    /// A panic in flight
    /// that no greenlet is marked for (guv's panic hook was replaced) is
    /// taken to be `h`'s own: the safe answer, as an interrupt delivered
    /// into a greenlet that is unwinding would abort the process.
    pub(crate) fn is_unwinding(&self, h: &Header) -> bool {
        if !std::thread::panicking() {
            self.unwound(h);
            return false;
        }
        self.is_marked(h) || self.unwinding.get() == 0
    }

    /// Whether `h` carries a mark of the current epoch.
    fn is_marked(&self, h: &Header) -> bool {
        h.unwinding.get() == self.epoch.get()
    }

    /// Marks `h` as unwinding.
    pub(crate) fn mark_unwinding(&self, h: &Header) {
        if !self.is_marked(h) {
            h.unwinding.set(self.epoch.get());
            self.unwinding.set(self.unwinding.get() + 1);
        }
    }

    /// Drops `h`'s unwinding mark.
    pub(crate) fn unwound(&self, h: &Header) {
        if self.is_marked(h) {
            self.unwinding.set(self.unwinding.get() - 1);
        }
        h.unwinding.set(0);
    }

    /// Whether [`Hub::forget_unwinding`] has something to do.
    #[inline(always)]
    fn unwinding_to_forget(&self) -> bool {
        (self.unwinding.get() > 0 || self.any_deferred.get()) && !std::thread::panicking()
    }

    /// Between loop iterations, with no panic in flight on the thread: no
    /// greenlet is unwinding. A mark left on a greenlet that caught its
    /// own unwinding (`catch_unwind`, a caught `Timeout`) while another
    /// greenlet was parked mid-unwind could not be dropped then (a panic
    /// was in flight all along); it is dropped now, or the greenlet would
    /// keep every later kill pending as if it were still unwinding. The
    /// greenlets that did keep an interrupt pending meanwhile are woken to
    /// take it: parked, they would otherwise only see it once woken for
    /// their own reasons (a killed greenlet sleeping forever never).
    fn forget_unwinding(&self) {
        if !self.unwinding_to_forget() {
            return;
        }
        self.epoch.set(self.epoch.get() + 1);
        self.unwinding.set(0);
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        self.any_deferred.set(false);
        for g in deferred {
            if let Some(interrupt) = g.header().interrupt.get() {
                self.interrupt(&g, interrupt);
            }
        }
    }

    /// Records that the running greenlet `g` keeps its pending interrupt
    /// (it looks unwinding), for [`Hub::forget_unwinding`].
    fn defer_interrupt(&self, g: GreenletRef) {
        let mut deferred = self.deferred.borrow_mut();
        if !deferred.iter().any(|d| same(d, &g)) {
            deferred.push(g);
            self.any_deferred.set(true);
        }
    }

    /// Ends a greenlet that never started.
    fn cancel(&self, g: &GreenletRef) {
        let h = g.header();
        h.sched.set(Sched::Done);
        if let Some(key) = h.start_timer.take() {
            let action = self.timers.borrow_mut().cancel(key);
            drop(action);
        }
        if let Some(stack) = h.fiber.retire() {
            self.stacks.borrow_mut().put(stack);
        }
        self.uncount(h);
        g.body.cancel();
    }

    /// Takes a greenlet out of the live count, once.
    pub(crate) fn uncount(&self, h: &Header) {
        if h.counted.replace(false) {
            self.live.set(self.live.get() - 1);
            self.track.ended(h);
        }
    }

    /// Registers the running greenlet's armed waker for wake-ups from other
    /// threads.
    pub(crate) fn remote_waker(&self, waker: &Waker) -> (RemoteWaker, RemoteSlot) {
        let slot = self.remote_parked.borrow_mut().insert(waker.g.clone());
        (
            RemoteWaker { shared: SharedRef::Strong(self.shared.clone()), slot, token: waker.token },
            RemoteSlot { key: slot },
        )
    }

    /// Wakes the greenlet registered under `slot` by `remote_waker` if its
    /// wait still has `token`.
    fn wake_remote_parked(&self, slot: SlotKey, token: u64) -> bool {
        let g = self.remote_parked.borrow().get(slot);
        g.is_some_and(|g| self.wake(&Waker { g, token }))
    }

    // ----- the loop -------------------------------------------------------

    fn run_loop(&self) {
        while !self.exiting.get() {
            // Finish the current iteration: the loop is also entered in the
            // middle of one (a greenlet that ends always switches here, and
            // greenlets start iterations inline).
            while let Some(next) = self.pop_ready() {
                self.looper.header().sched.set(Sched::Parked);
                self.switch_to(&self.looper, next);
                self.reap();
            }
            if self.exiting.get() {
                break;
            }
            if self.shared.has_pending() {
                self.drain_remote();
            }
            self.forget_unwinding();
            self.fire_timers();
            self.poll_io();
            self.ready.borrow_mut().begin_iteration();
        }
    }

    /// Processes requests from other threads now, if there are any (they
    /// only queue greenlets and wake-ups; nothing runs here).
    pub(crate) fn drain_remote_now(&self) {
        if self.shared.has_pending() {
            self.drain_remote();
        }
    }

    fn drain_remote(&self) {
        let mut ops = std::mem::take(&mut *self.remote_ops.borrow_mut());
        self.shared.take(&mut ops);
        for op in ops.drain(..) {
            match op {
                RemoteOp::Spawn(f) => {
                    if let Err((e, f)) = crate::greenthread::spawn_remote(self, f) {
                        // Its destructor may park, which the loop cannot:
                        // a pool thread drops it (the last resort, with no
                        // pool thread at all, is here, panics caught).
                        let place = match crate::tpool::drop_on_pool(f) {
                            Ok(()) => "on a thread-pool thread",
                            Err(job) => {
                                let _ = panic::catch_unwind(panic::AssertUnwindSafe(job));
                                "in the hub loop (no thread-pool thread could start)"
                            }
                        };
                        log::error!(
                            target: "guv::hub",
                            "a greenlet sent from another thread could not start: {e}; its closure is dropped {place}"
                        );
                    }
                }
                RemoteOp::Forget { fd, generation } => self.io.forget_entry(fd, generation),
                RemoteOp::Wake { slot, token } => {
                    self.wake_remote_parked(slot, token);
                }
            }
        }
        *self.remote_ops.borrow_mut() = ops;
    }

    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = Instant::now();
        loop {
            let action = self.timers.borrow_mut().pop_expired(now);
            let Some(action) = action else { break };
            match action {
                TimerAction::Wake(w) => {
                    if w.is_current() {
                        w.g.header().timed_out.set(true);
                        self.wake(&w);
                    }
                }
                TimerAction::Start(g) => {
                    let h = g.header();
                    h.start_timer.set(None);
                    if h.sched.get() == Sched::Delayed {
                        h.sched.set(Sched::Ready);
                        self.ready.borrow_mut().push(g);
                    }
                }
                TimerAction::Interrupt(g, interrupt) => self.interrupt(&g, interrupt),
            }
        }
    }

    fn poll_io(&self) {
        let timeout = if self.ready.borrow().has_next() {
            if !self.io_poll_due() {
                return;
            }
            Some(Duration::ZERO)
        } else {
            let next = self.timers.borrow_mut().next_deadline();
            match next {
                Some(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
                None if self.is_deadlocked() => {
                    self.interrupt(&self.main, Interrupt::Deadlock);
                    return;
                }
                None => None,
            }
        };
        self.ticks.set(0);
        self.io.poll(self, timeout);
    }

    /// Nothing can ever make a greenlet ready again, and main waits. Weak
    /// remote wakers do not count; their probes must all say that only
    /// this thread could end their waits.
    fn is_deadlocked(&self) -> bool {
        if self.main.header().sched.get() != Sched::Parked
            || self.io.waiting() != 0
            || Arc::strong_count(&self.shared) != 1
        {
            return false;
        }
        // The count read is relaxed; a handle dropped on another thread
        // right after a push (`Arc`'s drop releases) must make that push
        // visible to the `pending` read below.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        !self.shared.has_pending() && self.probes.borrow().all_local()
    }

    /// Called from the thread-local destructor, on the main greenlet: ends
    /// the loop so that its stack can be unmapped.
    fn shutdown(&self) {
        // What never ran goes inside the thread-local destructor, where the
        // hub is out of reach: a destructor among the captures that uses it
        // panics, and that must end only that destructor, not the process.
        let unrun = self.shared.close();
        let _ = panic::catch_unwind(panic::AssertUnwindSafe(move || drop(unrun)));
        self.exiting.set(true);
        self.ready.borrow_mut().abandon_iteration();
        if self.looper.header().fiber.is_fresh() {
            drop(self.looper.header().fiber.retire());
        } else if same(&self.current(), &self.main) {
            self.main.header().sched.set(Sched::Parked);
            self.switch_to(&self.main, self.looper.clone());
            self.reap();
        }
        // Greenlets that never started hold no frames: they end here (their
        // links do not run: the thread is going away), so that they do not
        // keep the hub alive as if they were suspended.
        let queued: Vec<GreenletRef> = {
            let mut ready = self.ready.borrow_mut();
            ready.now = 0;
            ready.queue.drain(..).collect()
        };
        let timed = self.timers.borrow_mut().drain();
        let fresh = queued.into_iter().chain(timed.into_iter().filter_map(|action| match action {
            TimerAction::Start(g) => Some(g),
            _ => None,
        }));
        for g in fresh {
            let h = g.header();
            if h.fiber.is_fresh() && h.sched.get() != Sched::Done {
                h.sched.set(Sched::Done);
                drop(h.fiber.retire());
                self.uncount(h);
            }
            // Its closure may go with it (see above).
            let _ = panic::catch_unwind(panic::AssertUnwindSafe(move || drop(g)));
        }
        Fiber::clear_current();
    }
}

/// Raises a pending interrupt in the running greenlet.
#[inline(always)]
fn deliver_interrupt(h: &Header) {
    if h.interrupt.get().is_some() {
        deliver_interrupt_slow(h);
    }
}

/// Puts a flag back as it was, also while unwinding.
struct RestoreFlag<'a>(&'a Cell<bool>, bool);

impl Drop for RestoreFlag<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// A greenlet that is already unwinding keeps its interrupt pending: a
/// second unwind would abort.
#[cold]
fn deliver_interrupt_slow(h: &Header) {
    let Some(interrupt) = h.interrupt.get() else {
        return;
    };
    if with_hub(|hub| hub.is_unwinding(h)) {
        if interrupt == Interrupt::Deadlock && !with_hub(|hub| hub.main_may_give_up.get()) {
            eprintln!("guv: fatal: the main greenlet would block forever while unwinding from a panic");
            std::process::abort();
        }
        with_hub(|hub| hub.defer_interrupt(hub.current()));
        return;
    }
    h.interrupt.set(None);
    if interrupt != Interrupt::Deadlock {
        // A deadlock report is a panic: the hook marks it.
        with_hub(|hub| hub.mark_unwinding(h));
    }
    match interrupt {
        Interrupt::Kill => panic::resume_unwind(Box::new(KillSignal)),
        Interrupt::Timeout(id) => panic::resume_unwind(Box::new(TimeoutSignal(id))),
        Interrupt::Deadlock => panic!(
            "guv: this operation would block forever: the main greenlet is waiting and no \
             ready greenlet, timer, I/O wait or remote handle can ever wake it"
        ),
    }
}

/// The rest of a yield after [`Hub::yield_prepare`]: the jump, then the
/// interrupt check once the greenlet runs again.
///
/// Inlined into `guv::gyield`'s caller (the bookkeeping before it is one
/// out-of-line call), so that the greenlet resumes in its own frame and no
/// return follows the jump: each such return would mispredict, since the
/// return-address predictor still holds the other greenlet's caller.
#[inline(always)]
pub(crate) fn finish_yield((cur, to): (GreenletRef, Option<Resume>)) {
    if let Some(to) = to {
        cur.header().fiber.switch_into(to);
    }
    deliver_interrupt(cur.header());
}

#[cold]
#[inline(never)]
fn refused_in_loop(what: &str) -> ! {
    panic!("guv: {what} was called from the hub loop itself (from a destructor the hub ran?)");
}

/// Where every greenlet (and the loop) starts, on its own stack.
fn greenlet_entry() -> ! {
    with_hub(|hub| {
        let me = hub.current();
        me.body.run(&me.header);
        // The body dropped its green-locals before publishing its result;
        // this drops those its links made, on its own stack, before its
        // last switch.
        me.header.locals.drop_all();
        hub.exit_current(me)
    });
    unreachable!("guv internal error: a greenlet returned past its exit")
}

/// The loop greenlet's body.
pub(crate) fn run_loop() {
    with_hub(|hub| hub.run_loop());
}

/// Sets the default stack size for greenlets this thread's hub spawns from
/// now on (those that do not ask with [`crate::Builder::stack_size`]).
///
/// Sizes are rounded up to whole pages and to at least 16 KiB (as
/// `std::thread::Builder::stack_size` rounds up); sizes above 1 GiB are an
/// `InvalidInput` error. The default is [`DEFAULT_STACK_SIZE`].
///
/// ```
/// guv::hub::set_stack_size(64 * 1024).unwrap();
/// assert_eq!(guv::hub::stack_size(), 64 * 1024);
/// assert!(guv::hub::set_stack_size(usize::MAX).is_err());
/// ```
pub fn set_stack_size(size: usize) -> io::Result<()> {
    with_hub(|hub| hub.set_stack_size(size))
}

/// The default stack size of this thread's hub.
///
/// ```
/// std::thread::spawn(|| assert_eq!(guv::hub::stack_size(), guv::hub::DEFAULT_STACK_SIZE)).join().unwrap();
/// ```
pub fn stack_size() -> usize {
    with_hub(|hub| hub.stack_size())
}

/// The backend a hub gets unless [`set_backend`] chose one: [`EpollBackend`],
/// or [`PollingBackend`] when the environment variable `GUV_BACKEND` is
/// `polling` (read when each thread's hub starts).
fn default_backend() -> io::Result<Box<dyn Backend>> {
    match std::env::var_os("GUV_BACKEND") {
        Some(name) if name == "polling" => Ok(Box::new(PollingBackend::new()?)),
        Some(name) if name != "epoll" => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("guv: GUV_BACKEND={} names no backend (epoll or polling)", name.to_string_lossy()),
        )),
        _ => Ok(Box::new(EpollBackend::new()?)),
    }
}

/// Installs another I/O backend for this thread's hub. Must be called before
/// anything else uses the hub on this thread; fails with `AlreadyExists`
/// otherwise.
///
/// ```
/// std::thread::spawn(|| {
///     let epoll = guv::hub::EpollBackend::new().unwrap();
///     guv::hub::set_backend(Box::new(epoll)).unwrap();
///     guv::sleep(std::time::Duration::from_millis(1)); // the hub runs on it
///     let again = guv::hub::EpollBackend::new().unwrap();
///     let err = guv::hub::set_backend(Box::new(again)).unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
/// })
/// .join()
/// .unwrap();
/// ```
pub fn set_backend(backend: Box<dyn Backend>) -> io::Result<()> {
    HUB.with(|slot| {
        if slot.0.get().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "guv: this thread's hub already runs; set_backend must come first",
            ));
        }
        let hub = Hub::with_backend(backend)?;
        slot.0
            .set(Rc::new(hub))
            .map_err(|_| io::Error::new(io::ErrorKind::AlreadyExists, "guv: this thread's hub already runs"))
    })
}

/// Starts recording this thread's greenlets for [`tracked`]: those spawned
/// from now on that are alive, and those that panic with nobody waiting
/// for the panic. What `#[guv::test]` checks after the test body; hidden,
/// reached through `guv::__private`.
pub(crate) fn track_greenlets() {
    with_hub(|hub| hub.track.enable());
}

/// What [`track_greenlets`] recorded so far.
pub(crate) fn tracked() -> TrackReport {
    with_hub(|hub| hub.track.report())
}

/// Counts of this thread's hub, for tests and diagnostics; see [`stats`].
///
/// ```
/// let s: guv::hub::Stats = guv::hub::stats();
/// assert_eq!(s.io_waiters, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Spawned greenlets that have not ended (started or not).
    pub live_greenlets: usize,
    /// Idle stacks kept for reuse (at most 256).
    pub pooled_stacks: usize,
    /// Greenlets waiting for I/O.
    pub io_waiters: usize,
}

/// Counts of this thread's hub.
///
/// ```
/// let before = guv::hub::stats().live_greenlets;
/// let gt = guv::spawn(|| ());
/// assert_eq!(guv::hub::stats().live_greenlets, before + 1);
/// gt.wait().unwrap();
/// assert_eq!(guv::hub::stats().live_greenlets, before);
/// ```
pub fn stats() -> Stats {
    with_hub(|hub| Stats { live_greenlets: hub.live(), pooled_stacks: hub.idle_stacks(), io_waiters: hub.io.waiting() })
}

/// Installs the panic hook that names greenlets (once per process).
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // Some(None): a greenlet panicked and reports are off.
            let context = try_with_hub(|hub| {
                let cur = hub.current.try_borrow().ok()?;
                let h = cur.header();
                // The unwinding that follows is this greenlet's.
                hub.mark_unwinding(h);
                matches!(h.kind, Kind::Spawned | Kind::SpawnedN).then(|| hub.hub_exceptions.get().then(|| h.describe()))
            })
            .flatten();
            match context {
                None => previous(info),
                Some(None) => {}
                Some(Some(who)) => {
                    let payload = info.payload();
                    let msg = payload
                        .downcast_ref::<&str>()
                        .copied()
                        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                        .unwrap_or("Box<dyn Any>");
                    let location = info.location().map(|l| l.to_string()).unwrap_or_default();
                    let bt = std::backtrace::Backtrace::capture();
                    if bt.status() == std::backtrace::BacktraceStatus::Captured {
                        eprintln!("\ngreenlet {who} panicked at {location}:\n{msg}\n{bt}");
                    } else {
                        eprintln!("\ngreenlet {who} panicked at {location}:\n{msg}");
                    }
                }
            }
        }));
    });
}
