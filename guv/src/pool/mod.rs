//! Bounded groups of greenlets: [`GreenPool`], [`GreenPile`], the lazy
//! ordered maps [`GreenPool::imap`] and [`GreenPool::starmap`], and the
//! helpers [`wait_all`], [`joinall`], [`killall`], [`iwait`] (re-exported
//! at the crate root).
//!
//! Pools are hub-local: cheap handles (`Clone` shares the pool) that stay
//! on their thread (`!Send`).

mod helpers;
mod map;
mod pile;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::greenlet::GreenletRef;
use crate::hub::with_hub;
use crate::waiters::{self, WaitList};
use crate::{Error, GreenThread};

pub use helpers::{IWait, iwait, joinall, killall, wait_all, wait_all_timeout};
pub use map::{Imap, StarFn};
pub use pile::GreenPile;

/// A misuse of a pool.
///
/// ```
/// let pool = guv::GreenPool::new(2);
/// let p = pool.clone();
/// let err = pool.spawn(move || p.waitall()).wait().unwrap().unwrap_err();
/// assert_eq!(err, guv::pool::PoolError::WaitallFromMember);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// [`GreenPool::waitall`] called by one of the pool's own greenlets,
    /// which would wait for itself forever.
    WaitallFromMember,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::WaitallFromMember => f.write_str(
                "GreenPool::waitall() called from one of the pool's own greenlets: it would wait for itself forever",
            ),
        }
    }
}

impl std::error::Error for PoolError {}

struct Inner {
    size: Cell<usize>,
    /// Slots taken: running members plus slots granted to spawners that
    /// have not started their greenlet yet.
    running: Cell<usize>,
    /// Members that have started, by greenlet id: their slot's number and
    /// their greenlet, for `killall`.
    members: RefCell<HashMap<u64, (u64, GreenletRef)>>,
    /// The numbers of the slots handed to spawned members and not yet
    /// released.
    live: RefCell<BTreeSet<u64>>,
    /// The number the next slot gets.
    next_slot: Cell<u64>,
    /// Slots numbered below this were taken before the last `killall`: a
    /// member holding one that starts now is killed at once.
    doomed_below: Cell<u64>,
    /// `killall` callers, woken whenever a member's slot is released.
    released: RefCell<WaitList<(), ()>>,
    /// Spawners waiting for a slot; serving one grants it a slot.
    spawners: RefCell<WaitList<(), ()>>,
    /// `waitall` callers, served when `running` drops to zero.
    idle: RefCell<WaitList<(), ()>>,
}

impl Inner {
    fn is_full(&self) -> bool {
        self.running.get() >= self.size.get()
    }

    /// Takes a slot, waiting for one while the pool is full.
    fn take_slot(&self) {
        if !self.is_full() && self.spawners.borrow().is_empty() {
            self.running.set(self.running.get() + 1);
            return;
        }
        let granted = waiters::wait(&self.spawners, (), None, |()| self.release_slot());
        debug_assert!(granted.is_ok());
    }

    /// Frees a slot: grants it to the oldest waiting spawner if the pool
    /// has room, wakes `waitall` callers when the pool becomes idle.
    fn release_slot(&self) {
        self.running.set(self.running.get() - 1);
        self.grant_free_slots();
        if self.running.get() == 0 {
            self.idle.borrow_mut().serve_all(|()| ());
        }
    }

    fn grant_free_slots(&self) {
        while !self.is_full() {
            if !self.spawners.borrow_mut().serve_front(|()| ()) {
                break;
            }
            self.running.set(self.running.get() + 1);
        }
    }

    /// Parks until a member's slot is released, or any other wake-up (an
    /// interrupt kept pending while the caller unwinds): the caller
    /// re-checks.
    fn wait_released(&self) {
        with_hub(|hub| {
            let waker = hub.arm();
            let key = self.released.borrow_mut().push_back(waker, ());
            let _leave = Leave(&self.released, key);
            hub.park_or_give_up();
        });
    }

    fn is_member(&self) -> bool {
        let id = current_id();
        self.members.borrow().contains_key(&id)
    }
}

fn current_id() -> u64 {
    with_hub(|hub| hub.current().header().id())
}

/// One taken slot, owned by the member's closure: released when the
/// member ends, or when its closure is dropped unrun (killed before start).
struct Slot {
    pool: Rc<Inner>,
    number: u64,
    member: Cell<Option<u64>>,
}

impl Slot {
    /// Called first thing by the member: records it, or kills it if a
    /// `killall` came between its spawn and its start.
    fn enter(&self) {
        with_hub(|hub| {
            let me = hub.current();
            if self.number < self.pool.doomed_below.get() {
                hub.kill(&me);
            }
            let id = me.header().id();
            self.member.set(Some(id));
            self.pool.members.borrow_mut().insert(id, (self.number, me));
        });
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(id) = self.member.take() {
            self.pool.members.borrow_mut().remove(&id);
        }
        self.pool.live.borrow_mut().remove(&self.number);
        self.pool.release_slot();
        self.pool.released.borrow_mut().serve_all(|()| ());
    }
}

/// A slot taken ahead of its member ([`GreenPool::reserve`]); given back
/// when dropped unused.
pub(crate) struct Reservation(Slot);

/// Takes a `killall` caller's entry out of the `released` list when its
/// wait ends, served or not (also when it unwinds).
struct Leave<'a>(&'a RefCell<WaitList<(), ()>>, waiters::WaitKey);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().take(self.1);
    }
}

/// Runs `f` on the calling greenlet the way a spawned greenlet would run
/// it: a panic becomes `Err`, a kill or timeout of the caller goes on.
fn run_inline<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        if waiters::is_interrupt(&payload) {
            crate::hub::resume_unwind(payload);
        }
        Error::from_unwind(payload)
    })
}

/// At most `size` greenlets running at once (eventlet's `GreenPool`).
///
/// [`spawn`](GreenPool::spawn) blocks while the pool is full, and spawners
/// get slots in the order they came. A pool member that spawns into its
/// own full pool does not wait for itself: the function runs inline.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let pool = guv::GreenPool::new(2);
/// let peak = Rc::new(Cell::new(0));
/// for _ in 0..6 {
///     let (pool2, peak) = (pool.clone(), peak.clone());
///     pool.spawn_n(move || {
///         peak.set(peak.get().max(pool2.running()));
///         guv::sleep(std::time::Duration::from_millis(1));
///     });
/// }
/// pool.waitall().unwrap();
/// assert_eq!(peak.get(), 2);
/// ```
///
/// It stays on its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(guv::GreenPool::new(1));
/// ```
#[derive(Clone)]
pub struct GreenPool {
    inner: Rc<Inner>,
}

impl fmt::Debug for GreenPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenPool")
            .field("size", &self.size())
            .field("running", &self.running())
            .field("waiting", &self.waiting())
            .finish()
    }
}

impl Default for GreenPool {
    /// A pool of 1000, eventlet's default.
    fn default() -> Self {
        GreenPool::new(1000)
    }
}

impl GreenPool {
    /// A pool running at most `size` greenlets at once. A pool of size 0
    /// runs nothing until [`resize`](GreenPool::resize)d.
    ///
    /// ```
    /// let pool = guv::GreenPool::new(10);
    /// assert_eq!(pool.free(), 10);
    /// ```
    pub fn new(size: usize) -> GreenPool {
        GreenPool {
            inner: Rc::new(Inner {
                size: Cell::new(size),
                running: Cell::new(0),
                members: RefCell::new(HashMap::new()),
                live: RefCell::new(BTreeSet::new()),
                next_slot: Cell::new(0),
                doomed_below: Cell::new(0),
                spawners: RefCell::new(WaitList::new()),
                idle: RefCell::new(WaitList::new()),
                released: RefCell::new(WaitList::new()),
            }),
        }
    }

    /// Spawns `f` in the pool, blocking while the pool is full, and returns
    /// its handle. From a member of this pool while the pool is full, runs
    /// `f` at once on the calling greenlet instead (waiting would deadlock)
    /// and returns a handle to its finished result (with an id of its own;
    /// a panic in `f` is reported as a member's own would be).
    ///
    /// ```
    /// let pool = guv::GreenPool::new(1);
    /// let p = pool.clone();
    /// let outer = pool.spawn(move || {
    ///     // The pool is full (this greenlet holds its only slot): runs inline.
    ///     p.spawn(|| 2).wait().unwrap() * 21
    /// });
    /// assert_eq!(outer.wait().unwrap(), 42);
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> GreenThread<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        if self.inner.is_full() && self.inner.is_member() {
            return GreenThread::finished(run_inline(f), None);
        }
        let slot = self.slot();
        crate::spawn(move || {
            slot.enter();
            let result = f();
            drop(slot);
            result
        })
    }

    /// Like [`spawn`](GreenPool::spawn), with the name and stack size of a
    /// [`Builder`](crate::Builder); a stack that cannot be mapped is an error
    /// (and the slot is given back) instead of a panic.
    ///
    /// ```
    /// let pool = guv::GreenPool::new(2);
    /// let gt = pool.spawn_with(guv::Builder::new().name("job"), || 7).unwrap();
    /// assert_eq!(gt.name(), Some("job"));
    /// assert_eq!(gt.wait().unwrap(), 7);
    /// assert!(pool.spawn_with(guv::Builder::new().stack_size(usize::MAX), || ()).is_err());
    /// assert_eq!(pool.free(), 2);
    /// ```
    pub fn spawn_with<F, T>(&self, builder: crate::Builder, f: F) -> std::io::Result<GreenThread<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        if self.inner.is_full() && self.inner.is_member() {
            return Ok(GreenThread::finished(run_inline(f), builder.configured_name()));
        }
        self.spawn_reserved(self.reserve(), builder, f)
    }

    /// Like [`spawn`](GreenPool::spawn), for a function whose result nobody
    /// waits for (a panic in it is reported, as with [`crate::spawn_n`]).
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let pool = guv::GreenPool::new(4);
    /// let n = Rc::new(Cell::new(0));
    /// for _ in 0..10 {
    ///     let n = n.clone();
    ///     pool.spawn_n(move || n.set(n.get() + 1));
    /// }
    /// pool.waitall().unwrap();
    /// assert_eq!(n.get(), 10);
    /// ```
    pub fn spawn_n<F>(&self, f: F)
    where
        F: FnOnce() + 'static,
    {
        if self.inner.is_full() && self.inner.is_member() {
            // A panic was reported by the hook, and is recorded as
            // unobserved by the handle dropped here, as for a greenlet.
            drop(GreenThread::finished(run_inline(f), None));
            return;
        }
        let slot = self.slot();
        crate::spawn_n(move || {
            slot.enter();
            f();
            drop(slot);
        });
    }

    /// Takes a slot now, waiting while the pool is full, for a member
    /// spawned later with [`spawn_reserved`](GreenPool::spawn_reserved):
    /// for a caller that must not take up work (accept a connection) it has
    /// no room for yet. Dropping the reservation gives the slot back.
    pub(crate) fn reserve(&self) -> Reservation {
        Reservation(self.slot())
    }

    /// [`spawn_with`](GreenPool::spawn_with) into a slot taken by
    /// [`reserve`](GreenPool::reserve): never waits.
    pub(crate) fn spawn_reserved<F, T>(
        &self,
        reserved: Reservation,
        builder: crate::Builder,
        f: F,
    ) -> std::io::Result<GreenThread<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let slot = reserved.0;
        debug_assert!(Rc::ptr_eq(&slot.pool, &self.inner), "a reservation of another pool");
        builder.spawn(move || {
            slot.enter();
            let result = f();
            drop(slot);
            result
        })
    }

    fn slot(&self) -> Slot {
        self.inner.take_slot();
        let number = self.inner.next_slot.get();
        self.inner.next_slot.set(number + 1);
        self.inner.live.borrow_mut().insert(number);
        Slot { pool: self.inner.clone(), number, member: Cell::new(None) }
    }

    /// Slots left: `size - running`, negative after shrinking the pool
    /// below the number running.
    ///
    /// ```
    /// let pool = guv::GreenPool::new(2);
    /// pool.spawn_n(|| guv::sleep(std::time::Duration::from_millis(5)));
    /// pool.spawn_n(|| guv::sleep(std::time::Duration::from_millis(5)));
    /// pool.resize(1);
    /// assert_eq!(pool.free(), -1);
    /// pool.waitall().unwrap();
    /// ```
    pub fn free(&self) -> isize {
        let size = isize::try_from(self.size()).unwrap_or(isize::MAX);
        let running = isize::try_from(self.running()).unwrap_or(isize::MAX);
        size - running
    }

    /// The number of greenlets in the pool (started or about to start).
    ///
    /// ```
    /// let pool = guv::GreenPool::new(2);
    /// let gt = pool.spawn(|| ());
    /// assert_eq!(pool.running(), 1);
    /// gt.wait().unwrap();
    /// assert_eq!(pool.running(), 0);
    /// ```
    pub fn running(&self) -> usize {
        self.inner.running.get()
    }

    /// The number of greenlets blocked in `spawn` waiting for a slot.
    ///
    /// ```
    /// let pool = guv::GreenPool::new(1);
    /// pool.spawn_n(|| guv::sleep(std::time::Duration::from_millis(5)));
    /// let p = pool.clone();
    /// guv::spawn_n(move || p.spawn_n(|| ()));
    /// guv::gyield();
    /// assert_eq!(pool.waiting(), 1);
    /// pool.waitall().unwrap();
    /// ```
    pub fn waiting(&self) -> usize {
        self.inner.spawners.borrow().len()
    }

    /// The maximum number of greenlets running at once.
    ///
    /// ```
    /// assert_eq!(guv::GreenPool::new(3).size(), 3);
    /// ```
    pub fn size(&self) -> usize {
        self.inner.size.get()
    }

    /// Changes the size. Growing lets waiting spawners in at once;
    /// shrinking kills nothing, it only delays new spawns until enough
    /// members have ended.
    ///
    /// ```
    /// let pool = guv::GreenPool::new(0);
    /// let p = pool.clone();
    /// let spawner = guv::spawn(move || p.spawn(|| 7).wait().unwrap());
    /// guv::gyield();
    /// assert_eq!(pool.waiting(), 1);
    /// pool.resize(1);
    /// assert_eq!(spawner.wait().unwrap(), 7);
    /// ```
    pub fn resize(&self, size: usize) {
        self.inner.size.set(size);
        self.inner.grant_free_slots();
    }

    /// Blocks until no greenlet runs in the pool. Fails with
    /// [`PoolError::WaitallFromMember`] when called by a member of the pool.
    ///
    /// ```
    /// let pool = guv::GreenPool::new(3);
    /// for _ in 0..3 {
    ///     pool.spawn_n(|| guv::sleep(std::time::Duration::from_millis(1)));
    /// }
    /// pool.waitall().unwrap();
    /// assert_eq!(pool.running(), 0);
    /// ```
    pub fn waitall(&self) -> Result<(), PoolError> {
        if self.inner.is_member() {
            return Err(PoolError::WaitallFromMember);
        }
        while self.running() > 0 {
            let idle = waiters::wait(&self.inner.idle, (), None, drop);
            debug_assert!(idle.is_ok());
        }
        Ok(())
    }

    /// Kills every greenlet of the pool (gevent's `Pool.kill()`) and
    /// returns once they have ended and freed their slots: those running,
    /// and those spawned but not started yet, which never run (their
    /// handles' `wait` gives [`Error::Killed`]). Greenlets still blocked in
    /// [`spawn`](GreenPool::spawn) waiting for a slot are not members yet:
    /// they get their slots afterwards, as usual. Called by a member, it
    /// kills the others first, then the caller. Called from a destructor
    /// while the caller unwinds, a kill (or `Timeout`) that reaches the
    /// caller meanwhile ends the wait, as for [`crate::killall`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = guv::GreenPool::new(10);
    /// let sleepers: Vec<_> = (0..3).map(|_| pool.spawn(|| guv::sleep(Duration::from_secs(3600)))).collect();
    /// guv::gyield(); // they sleep
    /// let unstarted = pool.spawn(|| unreachable!("killed before it started"));
    /// pool.killall();
    /// assert_eq!(pool.running(), 0);
    /// assert!(unstarted.wait().unwrap_err().is_killed());
    /// assert!(sleepers.into_iter().all(|gt| gt.wait().unwrap_err().is_killed()));
    /// ```
    pub fn killall(&self) {
        let inner = &self.inner;
        let cutoff = inner.next_slot.get();
        inner.doomed_below.set(cutoff);
        let me = with_hub(|hub| hub.current());
        let my_slot = inner.members.borrow().get(&me.header().id()).map(|(number, _)| *number);
        let targets: Vec<GreenletRef> = inner
            .members
            .borrow()
            .values()
            .filter(|(number, _)| Some(*number) != my_slot)
            .map(|(_, g)| g.clone())
            .collect();
        for g in &targets {
            with_hub(|hub| hub.kill(g));
        }
        // Unstarted members kill themselves as they start; wait for every
        // slot taken before the call (but the caller's). A caller unwinding
        // from a panic guv cannot attribute only posts the kills (see
        // `crate::killall`).
        // A caller that unwinds and is killed meanwhile stops waiting (see
        // `crate::killall`): members that each kill the pool from a drop
        // guard would otherwise wait for each other for ever.
        let pending = || inner.live.borrow().range(..cutoff).any(|n| Some(*n) != my_slot);
        while crate::hub::kills_land() && pending() && !crate::hub::interrupt_kept() {
            inner.wait_released();
        }
        if my_slot.is_some() {
            with_hub(|hub| hub.kill(&me));
        }
    }
}
