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
mod event_loop;
mod interrupt;
mod lifecycle;
mod probe;
mod remote;
mod switch;
mod timer;
pub(crate) mod track;
mod wait;

use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::panic;
use std::rc::Rc;
use std::sync::Arc;

pub use backend::PollingBackend;
pub(crate) use backend::poll_now;
pub use backend::{Backend, IoEvent, Notifier};
#[cfg(target_os = "linux")]
pub use epoll::EpollBackend;
pub(crate) use probe::{ANY_THREAD, Holder, Probe, thread_mark};
pub use remote::Handle;
pub(crate) use remote::{Keeper, RemoteOp, Shared};
use timer::Timers;
pub(crate) use timer::{TimerAction, TimerKey};
use track::{TrackReport, Tracker};

pub(crate) use event_loop::run_loop;
use interrupt::install_panic_hook;
pub(crate) use interrupt::{interrupt_kept, kills_land, panicking, resume_unwind};
use lifecycle::greenlet_entry;
use switch::RunQueue;
pub(crate) use switch::finish_yield;
use wait::{RemoteParked, SharedRef};
pub(crate) use wait::{RemoteSlot, RemoteWaker, SlotKey, Waker, take_back};

use crate::greenlet::{
    AltStack, Fiber, GreenletRef, Header, Kind, Node, Plain, Sched, StackPool, install_overflow_handler, normalize_size,
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
    #[inline]
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
    /// File descriptors with an entry in the hub's readiness registry:
    /// those of the green sockets (and pipes, ...) open on this hub, and
    /// foreign fds a [`trampoline`](crate::trampoline) waits on. An entry
    /// goes when its socket is dropped, so once a server's connections
    /// have closed this is back to its listeners and notifiers.
    pub registered_fds: usize,
    /// Pending timers: sleeps, I/O and wait timeouts, `spawn_after`s and
    /// [`Timeout`](crate::Timeout)s not yet fired or cancelled.
    pub timers: usize,
}

/// Counts of this thread's hub: what a long-running server can report to
/// see that nothing accumulates (greenlets, registered fds, timers).
///
/// ```
/// let before = guv::hub::stats().live_greenlets;
/// let gt = guv::spawn(|| ());
/// assert_eq!(guv::hub::stats().live_greenlets, before + 1);
/// gt.wait().unwrap();
/// assert_eq!(guv::hub::stats().live_greenlets, before);
///
/// let (fds, timers) = (guv::hub::stats().registered_fds, guv::hub::stats().timers);
/// let listener = guv::listen("127.0.0.1:0").unwrap();
/// assert_eq!(guv::hub::stats().registered_fds, fds + 1);
/// let sleeper = guv::spawn(|| guv::sleep(std::time::Duration::from_secs(3600)));
/// guv::gyield(); // the sleeper starts and arms its timer
/// assert_eq!(guv::hub::stats().timers, timers + 1);
/// sleeper.kill();
/// drop(listener);
/// assert_eq!((guv::hub::stats().registered_fds, guv::hub::stats().timers), (fds, timers));
/// ```
pub fn stats() -> Stats {
    with_hub(|hub| Stats {
        live_greenlets: hub.live(),
        pooled_stacks: hub.idle_stacks(),
        io_waiters: hub.io.waiting(),
        registered_fds: hub.io.registered(),
        timers: hub.timers.borrow().len(),
    })
}
