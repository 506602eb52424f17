//! Green `std::thread`: "threads" that are greenlets on the calling
//! thread's hub. Everything not shadowed here is `std::thread`'s own.
//!
//! [`spawn`] and [`Builder`] have std's signatures and bounds (`Send +
//! 'static`) and return a [`JoinHandle`] whose `join()` gives
//! `thread::Result<T>`; [`sleep`], [`yield_now`], [`park`],
//! [`park_timeout`] and [`scope`] park the greenlet instead of the thread.
//!
//! ```
//! use guv::green::thread;
//! use std::sync::mpsc;
//!
//! let (tx, rx) = mpsc::channel();
//! let h = thread::spawn(move || {
//!     tx.send(thread::current().name().map(String::from)).unwrap();
//!     6 * 7
//! });
//! assert_eq!(h.join().unwrap(), 42);
//! assert_eq!(rx.recv().unwrap(), None);
//! ```
//!
//! # Identity
//!
//! A green "thread" is a greenlet, so [`current`] returns a [`Thread`] for
//! the running *greenlet*: one made by [`spawn`]/[`Builder`] carries the
//! name it was given; any other greenlet (the thread's main greenlet, one
//! from [`crate::spawn`]) gets one on first call, named like the greenlet
//! (the main greenlet: like the OS thread). Each has its own [`ThreadId`]
//! (guv's, unrelated to `std::thread::ThreadId`) and its own park token,
//! so [`Thread::unpark`] — callable from any OS thread — wakes exactly that
//! greenlet. `std::thread::current()` still names the OS thread.
//!
//! # Differences from OS threads
//!
//! A spawned green thread runs when the spawner blocks or yields (a
//! greenlet never pre-empts another), and it shares its OS thread with the
//! spawner. Its default stack is the hub's (256 KiB of address space), not
//! std's 2 MiB; [`Builder::stack_size`] sets another. Green threads do not
//! run in parallel: CPU-bound work in one holds up all the others until it
//! blocks or ends, so run it with [`crate::tpool::execute`] (or on an OS
//! thread, `guv::original!(std::thread::spawn)` in patched code).

pub use std::thread::*;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use super::scope::{Scope, ScopedJoinHandle, scope};
use crate::greenlet::{Greenlet, Sched};
use crate::hub::{RemoteWaker, take_back, with_hub};

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A green thread's identifier: unique among all green threads of the
/// process, never reused.
///
/// ```
/// use guv::green::thread;
/// let a = thread::current().id();
/// let b = thread::spawn(|| thread::current().id()).join().unwrap();
/// assert_ne!(a, b);
/// assert_eq!(a, thread::current().id());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    fn new() -> ThreadId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        ThreadId(NonZeroU64::new(n).expect("ThreadId counter overflowed"))
    }
}

/// The park token and the parked greenlet's remote waker.
#[derive(Default)]
struct ParkState {
    token: bool,
    waiter: Option<RemoteWaker>,
}

struct Inner {
    id: ThreadId,
    name: Option<String>,
    park: Mutex<ParkState>,
}

/// A handle to a green thread (a greenlet): its name, id and park token.
/// `Send + Sync + Clone`, like std's.
///
/// ```
/// use guv::green::thread;
/// let h = thread::Builder::new().name("worker".into()).spawn(|| ()).unwrap();
/// assert_eq!(h.thread().name(), Some("worker"));
/// h.join().unwrap();
/// ```
#[derive(Clone)]
pub struct Thread {
    inner: Arc<Inner>,
}

impl Thread {
    fn new(name: Option<String>) -> Thread {
        Thread { inner: Arc::new(Inner { id: ThreadId::new(), name, park: Mutex::new(ParkState::default()) }) }
    }

    /// The thread's id.
    ///
    /// ```
    /// let t = guv::green::thread::current();
    /// assert_eq!(t.id(), guv::green::thread::current().id());
    /// ```
    pub fn id(&self) -> ThreadId {
        self.inner.id
    }

    /// The thread's name, if it has one.
    ///
    /// ```
    /// let h = guv::green::thread::Builder::new().name("n".into()).spawn(|| ()).unwrap();
    /// assert_eq!(h.thread().name(), Some("n"));
    /// h.join().unwrap();
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Makes the park token available, waking the thread if it is parked
    /// in [`park`] / [`park_timeout`]. Callable from any OS thread.
    ///
    /// ```
    /// use guv::green::thread;
    /// let h = thread::spawn(|| {
    ///     thread::park();
    ///     "unparked"
    /// });
    /// h.thread().unpark();
    /// assert_eq!(h.join().unwrap(), "unparked");
    /// ```
    pub fn unpark(&self) {
        let waiter = {
            let mut st = lock(&self.inner.park);
            st.token = true;
            st.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }

    /// Parks the running greenlet (which must be this thread) until the
    /// token is available or the deadline passes.
    fn park_until(&self, deadline: Option<Instant>) {
        let mut st = lock(&self.inner.park);
        if std::mem::take(&mut st.token) {
            return;
        }
        with_hub(|hub| {
            let waker = hub.arm();
            let (remote, _registration) = hub.remote_waker(&waker);
            st.waiter = Some(remote);
            drop(st);
            // Taken back however the park ends (see `take_back`): a handle
            // of the thread kept elsewhere would otherwise hold it.
            let _parked = take_back(&self.inner.park, |st| st.waiter.take());
            hub.park_until(&waker, deadline);
        });
        lock(&self.inner.park).token = false;
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread").field("id", &self.id()).field("name", &self.name()).finish_non_exhaustive()
    }
}

/// The `Thread` of each greenlet of this OS thread that asked for one, by
/// greenlet id, with a weak reference to tell when the greenlet is gone.
#[derive(Default)]
struct Threads {
    map: HashMap<u64, (Weak<Greenlet>, Thread)>,
    prune_at: usize,
}

thread_local! {
    static THREADS: RefCell<Threads> = RefCell::default();
}

impl Threads {
    fn insert(&mut self, id: u64, g: Weak<Greenlet>, t: Thread) {
        if self.map.len() >= self.prune_at {
            self.map.retain(|_, (g, _)| g.upgrade().is_some_and(|g| g.header().sched.get() != Sched::Done));
            self.prune_at = (self.map.len() * 2).max(64);
        }
        self.map.insert(id, (g, t));
    }
}

/// Registers `t` as the running greenlet's `Thread` until the guard drops.
pub(super) fn set_current(t: Thread) -> impl Drop {
    struct Unset(u64);
    impl Drop for Unset {
        fn drop(&mut self) {
            let _ = THREADS.try_with(|m| m.borrow_mut().map.remove(&self.0));
        }
    }
    let (id, g) = with_hub(|hub| {
        let g = hub.current();
        (g.header().id(), std::rc::Rc::downgrade(&g))
    });
    THREADS.with(|m| m.borrow_mut().insert(id, g, t));
    Unset(id)
}

/// The [`Thread`] of the running greenlet (see the module docs on
/// identity).
///
/// ```
/// use guv::green::thread;
/// let me = thread::current();
/// assert_eq!(me.id(), thread::current().id());
/// let named = thread::Builder::new().name("n".into()).spawn(|| thread::current().name().map(String::from));
/// assert_eq!(named.unwrap().join().unwrap().as_deref(), Some("n"));
/// ```
pub fn current() -> Thread {
    with_hub(|hub| {
        let g = hub.current();
        let id = g.header().id();
        THREADS.with(|m| {
            let mut m = m.borrow_mut();
            if let Some((_, t)) = m.map.get(&id) {
                return t.clone();
            }
            let name = if id == 0 {
                std::thread::current().name().map(String::from)
            } else {
                g.header().name().map(String::from)
            };
            let t = Thread::new(name);
            m.insert(id, std::rc::Rc::downgrade(&g), t.clone());
            t
        })
    })
}

/// Blocks the running greenlet until its token is made available by
/// [`Thread::unpark`] (consuming it), as std's `park`. May return
/// spuriously, as std's may.
///
/// ```
/// use guv::green::thread;
/// thread::current().unpark();
/// thread::park(); // the token was already there: returns at once
/// ```
pub fn park() {
    current().park_until(None);
}

/// [`park`] for at most `dur`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// guv::green::thread::park_timeout(Duration::from_millis(10));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
pub fn park_timeout(dur: Duration) {
    current().park_until(Instant::now().checked_add(dur));
}

/// [`crate::sleep`]: parks the greenlet for at least `dur`.
///
/// ```
/// guv::green::thread::sleep(std::time::Duration::from_millis(1));
/// ```
pub fn sleep(dur: Duration) {
    crate::sleep(dur);
}

/// std's deprecated `park_timeout_ms`: [`park_timeout`] for `ms`
/// milliseconds. Shadowed, like every blocking item of `std::thread`, so
/// that patched code calling it parks the greenlet, not the thread.
///
/// ```
/// #![allow(deprecated)]
/// guv::green::thread::park_timeout_ms(1);
/// ```
#[deprecated(note = "replaced by `guv::green::thread::park_timeout` (as std's is)")]
pub fn park_timeout_ms(ms: u32) {
    park_timeout(Duration::from_millis(u64::from(ms)));
}

/// std's deprecated `sleep_ms`: [`sleep`] for `ms` milliseconds.
/// Shadowed, like every blocking item of `std::thread`, so that patched
/// code calling it parks the greenlet, not the thread.
///
/// ```
/// #![allow(deprecated)]
/// guv::green::thread::sleep_ms(1);
/// ```
#[deprecated(note = "replaced by `guv::green::thread::sleep` (as std's is)")]
pub fn sleep_ms(ms: u32) {
    sleep(Duration::from_millis(u64::from(ms)));
}

/// [`crate::gyield`]: lets the other ready greenlets run first.
///
/// ```
/// guv::green::thread::yield_now();
/// ```
pub fn yield_now() {
    crate::gyield();
}

/// The result slot of a green thread, shared with its handle.
pub(super) struct Packet<T> {
    state: Mutex<PacketState<T>>,
    /// For scoped threads: told when an unjoined thread panicked.
    pub(super) on_unjoined_panic: Option<Arc<dyn Fn() + Send + Sync>>,
}

struct PacketState<T> {
    result: Option<Result<T>>,
    finished: bool,
    joiner: Option<RemoteWaker>,
}

impl<T> Packet<T> {
    pub(super) fn new(on_unjoined_panic: Option<Arc<dyn Fn() + Send + Sync>>) -> Packet<T> {
        Packet { state: Mutex::new(PacketState { result: None, finished: false, joiner: None }), on_unjoined_panic }
    }

    /// Stores the thread's result and wakes its joiner.
    pub(super) fn finish(&self, result: Result<T>) {
        let joiner = {
            let mut st = lock(&self.state);
            st.result = Some(result);
            st.finished = true;
            st.joiner.take()
        };
        if let Some(w) = joiner {
            w.wake();
        }
    }

    /// Forgets the result of a body that was never spawned (dropped unrun
    /// when its stack could not be mapped, which finished the packet as
    /// killed): that is `spawn`'s error, not a thread that panicked.
    pub(super) fn forget_unspawned(&self) {
        let result = lock(&self.state).result.take();
        drop(result);
    }

    pub(super) fn is_finished(&self) -> bool {
        lock(&self.state).finished
    }

    /// Parks until the result is there, then takes it.
    pub(super) fn join(&self) -> Result<T> {
        loop {
            let mut st = lock(&self.state);
            if st.finished {
                return st.result.take().expect("guv: a green thread's result was taken twice");
            }
            with_hub(|hub| {
                let waker = hub.arm();
                let (remote, _registration) = hub.remote_waker(&waker);
                st.joiner = Some(remote);
                drop(st);
                // A thread that runs on must not keep a remote handle of
                // the hub for a joiner that was killed.
                let _joining = take_back(&self.state, |st| st.joiner.take());
                hub.park();
            });
        }
    }
}

impl<T> Drop for Packet<T> {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if matches!(st.result, Some(Err(_)))
            && let Some(f) = &self.on_unjoined_panic
        {
            f();
        }
    }
}

/// A green thread body's share of its packet. If the body is dropped
/// without having run — killed before it started, or dropped when its
/// hub's thread ended first — it finishes the packet as killed (the
/// payload `guv::is_interrupt` recognises), so that a join returns `Err`
/// instead of waiting for ever.
pub(super) struct Share<T>(pub(super) Arc<Packet<T>>);

impl<T> Drop for Share<T> {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.finish(Err(Box::new(crate::greenlet::KillSignal)));
        }
    }
}

/// Runs `f` as the body of a green thread described by `thread`.
pub(super) fn run_body<T>(thread: Thread, packet: &Packet<T>, f: impl FnOnce() -> T) {
    let _current = set_current(thread);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    // Before the joiner can learn the result, as std's thread-locals.
    crate::local::drop_current();
    packet.finish(result);
}

/// An owned permission to join a green thread, as std's: `join()` parks
/// until it ends and gives `Err(payload)` if it panicked. Dropping it
/// detaches the thread.
///
/// ```
/// let h = guv::green::thread::spawn(|| -> u8 { panic!("oops") });
/// let payload = h.join().unwrap_err();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"oops"));
/// ```
pub struct JoinHandle<T> {
    packet: Arc<Packet<T>>,
    thread: Thread,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to end: its value, or its panic's payload. A
    /// green thread that never ran — its hub's OS thread ended before it
    /// started — joins as `Err` with the payload of a kill
    /// ([`guv::is_interrupt`](crate::is_interrupt) says so), once its
    /// closure has been dropped.
    ///
    /// ```
    /// let h = guv::green::thread::spawn(|| 1 + 1);
    /// assert_eq!(h.join().unwrap(), 2);
    /// ```
    pub fn join(self) -> Result<T> {
        self.packet.join()
    }

    /// The thread's handle.
    ///
    /// ```
    /// let h = guv::green::thread::spawn(|| guv::green::thread::current().id());
    /// let id = h.thread().id();
    /// assert_eq!(h.join().unwrap(), id);
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Whether the thread has ended.
    ///
    /// ```
    /// let h = guv::green::thread::spawn(|| ());
    /// assert!(!h.is_finished());
    /// guv::green::thread::yield_now();
    /// assert!(h.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.packet.is_finished()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("thread", &self.thread).finish_non_exhaustive()
    }
}

/// Configures a green thread before spawning it, as std's `Builder`.
///
/// ```
/// use guv::green::thread::Builder;
/// let h = Builder::new().name("b".into()).stack_size(64 * 1024).spawn(|| 1).unwrap();
/// assert_eq!(h.join().unwrap(), 1);
/// ```
#[derive(Default)]
#[must_use = "must eventually spawn the thread"]
pub struct Builder(crate::Builder);

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Builder {
    /// A builder with the hub's defaults.
    ///
    /// ```
    /// let h = guv::green::thread::Builder::new().spawn(|| 3).unwrap();
    /// assert_eq!(h.join().unwrap(), 3);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread (and its greenlet, in panic messages).
    ///
    /// ```
    /// let h = guv::green::thread::Builder::new().name("w".into()).spawn(|| ()).unwrap();
    /// assert_eq!(h.thread().name(), Some("w"));
    /// # h.join().unwrap();
    /// ```
    pub fn name(self, name: String) -> Builder {
        Builder(self.0.name(name))
    }

    /// Sets the greenlet's stack size in bytes.
    ///
    /// ```
    /// let h = guv::green::thread::Builder::new().stack_size(32 * 1024).spawn(|| 1).unwrap();
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    pub fn stack_size(self, size: usize) -> Builder {
        Builder(self.0.stack_size(size))
    }

    pub(super) fn into_parts(self) -> (crate::Builder, Thread) {
        let thread = Thread::new(self.0.configured_name().map(String::from));
        (self.0, thread)
    }

    /// Spawns `f` as a green thread; fails if its stack cannot be mapped.
    ///
    /// ```
    /// let h = guv::green::thread::Builder::new().spawn(|| "ok").unwrap();
    /// assert_eq!(h.join().unwrap(), "ok");
    /// ```
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (builder, thread) = self.into_parts();
        let packet = Arc::new(Packet::new(None));
        // One tuple, whose fields drop in order if the body never runs: the
        // closure before the share that lets a join return.
        let parts = (f, thread.clone(), Share(packet.clone()));
        builder.spawn_n(move || {
            let (f, t, share) = parts;
            run_body(t, &share.0, f);
        })?;
        Ok(JoinHandle { packet, thread })
    }

    /// Spawns a scoped green thread (see [`scope`]).
    ///
    /// ```
    /// let v = vec![1, 2];
    /// guv::green::thread::scope(|s| {
    ///     let h = guv::green::thread::Builder::new().spawn_scoped(s, || v.len()).unwrap();
    ///     assert_eq!(h.join().unwrap(), 2);
    /// });
    /// ```
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        scope.spawn_with(self, f)
    }
}

/// Spawns `f` as a green thread on this OS thread's hub and returns its
/// [`JoinHandle`] (std's `spawn`, with std's bounds).
///
/// # Panics
///
/// If the greenlet's stack cannot be mapped (as std panics when a thread
/// cannot be created).
///
/// ```
/// let hs: Vec<_> = (0..4).map(|i| guv::green::thread::spawn(move || i * 10)).collect();
/// let sum: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 60);
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).unwrap_or_else(|e| panic!("failed to spawn green thread: {e}"))
}
