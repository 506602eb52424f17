//! Cross-thread access to a hub: [`Handle`] and the queue behind it.
//!
//! Everything else in the hub is thread-local and lock-free; this is the one
//! `Send + Sync` part. Other threads push onto a mutex-protected queue and
//! notify the backend; the hub drains the queue once per loop iteration.

use std::io;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::backend::Notifier;

/// One request from another thread.
pub(crate) enum RemoteOp {
    /// Run this closure as a new greenlet.
    Spawn(Box<dyn FnOnce() + Send>),
    /// Wake the greenlet parked under `slot` if its wait still has `token`.
    Wake { slot: super::SlotKey, token: u64 },
    /// A green fd registered with this hub was dropped on another thread:
    /// forget its entry if it still has this generation.
    Forget { fd: std::os::fd::RawFd, generation: u64 },
}

/// The cross-thread half of a hub.
pub(crate) struct Shared {
    /// Requests in arrival order. The lock is held only to push (and
    /// notify) or to take.
    queue: Mutex<Queue>,
    /// Set when the queue may be non-empty. Protocol: producers push, swap
    /// this to `true` and, if it was `false`, notify the backend, all under
    /// the queue's lock; the hub swaps it to `false` before taking the
    /// queue, so a push it misses re-arms the flag and the backend.
    pending: AtomicBool,
    /// Cleared when the hub's thread shuts its hub down; pushes then fail.
    alive: AtomicBool,
    /// Live [`Keeper`]s: while there are any, the deadlock check stays quiet.
    keepers: AtomicUsize,
    /// Set by the hub while it sleeps in a state where only keepers stop
    /// its deadlock check; the drop of the last keeper then wakes it.
    watching: AtomicBool,
    notifier: Arc<dyn Notifier>,
}

/// What [`Shared::queue`] guards.
#[derive(Default)]
struct Queue {
    ops: Vec<RemoteOp>,
    /// A queued op's notify failed: the hub may sleep without knowing of
    /// it, so every push notifies until one succeeds or the hub takes the
    /// queue.
    unnotified: bool,
}

impl Shared {
    pub(crate) fn new(notifier: Arc<dyn Notifier>) -> Shared {
        Shared {
            queue: Mutex::new(Queue::default()),
            pending: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            keepers: AtomicUsize::new(0),
            watching: AtomicBool::new(false),
            notifier,
        }
    }

    /// Whether a [`Keeper`] exists (one that another thread may use to wake
    /// the hub). `SeqCst` pairs with [`Keeper`]'s drop (see [`Shared::watch`]).
    pub(crate) fn has_keepers(&self) -> bool {
        self.keepers.load(Ordering::SeqCst) != 0
    }

    /// Asks (`true`) that the drop of the last [`Keeper`] wake the hub, or
    /// stops asking. The hub sets it before its last
    /// [`has_keepers`](Shared::has_keepers) check ahead of a sleep, and a
    /// keeper's drop decrements the count before it reads this flag, all
    /// `SeqCst`: either the check sees the count at zero, or the drop sees
    /// the flag and wakes the hub, which checks again.
    pub(crate) fn watch(&self, on: bool) {
        self.watching.store(on, Ordering::SeqCst);
    }

    /// Queues `op` for the hub, waking it if it sleeps.
    ///
    /// If the backend's notifier fails, a [`RemoteOp::Spawn`] is taken back
    /// out of the queue (dropped here, after the lock is released) and the
    /// error returned: the closure never runs, as the error says. The
    /// notify happens under the queue's lock so that this is possible: the
    /// hub cannot have taken the op yet (its `take` needs the lock). Wake-ups
    /// and forgets stay queued instead (the error is returned too): both
    /// are harmless if they land late or twice (keyed by token or
    /// generation), while a lost wake-up would leave a greenlet parked for
    /// ever; they run when the hub next drains its queue, and the pushes
    /// after a failed notify notify again until one succeeds.
    pub(crate) fn push(&self, op: RemoteOp) -> io::Result<()> {
        let spawn = matches!(op, RemoteOp::Spawn(_));
        let unqueued = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            // Checked under the lock: `close` takes it too, so no op is
            // queued after the hub's last drain.
            if !self.alive.load(Ordering::Acquire) {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "guv: the hub's thread has shut its hub down"));
            }
            queue.ops.push(op);
            // AcqRel: the push above happens-before the hub's swap that sees it.
            let was_pending = self.pending.swap(true, Ordering::AcqRel);
            if was_pending && !queue.unnotified {
                return Ok(());
            }
            match self.notifier.notify() {
                Ok(()) => {
                    queue.unnotified = false;
                    return Ok(());
                }
                Err(e) if spawn => {
                    // With `pending` clear before this push, every op still
                    // queued was pushed before the hub last cleared it, and
                    // the `take` that follows (waiting for this lock)
                    // collects them: clear is right again.
                    if !was_pending {
                        self.pending.store(false, Ordering::Release);
                    }
                    (queue.ops.pop(), e)
                }
                Err(e) => {
                    queue.unnotified = true;
                    return Err(io::Error::new(
                        e.kind(),
                        format!("guv: could not wake the hub (the request stays queued): {e}"),
                    ));
                }
            }
        };
        // Dropped outside the lock: its destructor may push to this hub.
        let (op, e) = unqueued;
        drop(op);
        Err(io::Error::new(e.kind(), format!("guv: could not wake the hub (nothing was queued): {e}")))
    }

    /// Whether something may be queued (a cheap check for the hub loop).
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes everything queued so far.
    pub(crate) fn take(&self, into: &mut Vec<RemoteOp>) {
        self.pending.store(false, Ordering::Release);
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.unnotified = false;
        into.append(&mut queue.ops);
    }

    /// Refuses further ops and returns what was still queued.
    pub(crate) fn close(&self) -> Vec<RemoteOp> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        self.alive.store(false, Ordering::Release);
        queue.unnotified = false;
        std::mem::take(&mut queue.ops)
    }
}

/// A strong reference to a hub's [`Shared`] half that may be used to wake
/// the hub from another thread ([`Handle`], strong remote wakers): while one
/// exists the hub's deadlock check stays quiet, and the drop of the last
/// one wakes a hub that sleeps only because of it, so that the check runs
/// again.
pub(crate) struct Keeper(Arc<Shared>);

impl Keeper {
    pub(crate) fn new(shared: &Arc<Shared>) -> Keeper {
        // Relaxed, as `Arc`'s own increment: a new keeper is made from an
        // existing one or on the hub's thread, never raced against the
        // check that could see the count at zero.
        shared.keepers.fetch_add(1, Ordering::Relaxed);
        Keeper(shared.clone())
    }
}

impl Clone for Keeper {
    fn clone(&self) -> Keeper {
        Keeper::new(&self.0)
    }
}

impl Deref for Keeper {
    type Target = Arc<Shared>;

    fn deref(&self) -> &Arc<Shared> {
        &self.0
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // SeqCst: see `Shared::watch`. The decrement also releases what this
        // thread queued before, for the hub's acquiring check.
        if self.0.keepers.fetch_sub(1, Ordering::SeqCst) == 1 && self.0.watching.load(Ordering::SeqCst) {
            // A failed wake-up leaves the hub asleep, as a failed push does;
            // there is no one to report it to here.
            let _ = self.0.notifier.notify();
        }
    }
}

/// A `Send + Sync + Clone` handle to one thread's hub, for other threads.
///
/// [`Handle::spawn`] runs a closure as a greenlet on that hub and wakes it if
/// it is sleeping in the poller; it is how work and wake-ups reach a hub
/// from plain threads or from other hubs.
///
/// While a `Handle` exists the hub cannot know that nothing will ever come,
/// so its deadlock check ("this operation would block forever") stays quiet.
///
/// ```
/// let handle = guv::hub::Handle::current();
/// // guv's green channel: `Send`, and its `recv` parks only the greenlet.
/// let (tx, rx) = guv::green::sync::mpsc::channel();
/// std::thread::spawn(move || {
///     handle.spawn(move || tx.send(guv::hub::Handle::current().id()).unwrap()).unwrap();
/// });
/// // The main greenlet parks until the greenlet spawned from the other
/// // thread has run (here, on this thread's hub).
/// assert_eq!(rx.recv().unwrap(), guv::hub::Handle::current().id());
/// ```
///
/// The closure must be `Send`, so it cannot capture the hub's own
/// (`!Send`) queues or events; to hand values from a plain thread to
/// greenlets, a [`green::sync::mpsc`](crate::green::sync::mpsc) channel
/// is the simpler bridge: the thread sends, a greenlet's `recv` parks.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Keeper,
}

impl Handle {
    /// The handle of the current thread's hub (created if needed).
    ///
    /// ```
    /// let a = guv::hub::Handle::current();
    /// let b = guv::hub::Handle::current();
    /// assert_eq!(a.id(), b.id());
    /// ```
    pub fn current() -> Handle {
        super::with_hub(|hub| Handle { shared: Keeper::new(&hub.shared) })
    }

    /// Runs `f` as a greenlet on this handle's hub. Fails with
    /// `NotConnected` once that hub's thread has shut its hub down, and
    /// with the backend's error if its [`Notifier`] cannot wake the hub.
    /// An error always means `f` was dropped here, unrun: it never runs
    /// later.
    ///
    /// The hub maps the greenlet's stack when it takes `f` from its queue.
    /// If it cannot (see [`crate::Builder::spawn`]), it reports that
    /// through the [`log`](https://docs.rs/log) facade (an error, target
    /// `guv::hub`; shown only if the program installed a logger) and `f` is
    /// dropped unrun on a [`crate::tpool`] thread, where its destructor may
    /// block or park (never in the hub's loop).
    ///
    /// ```
    /// let handle = std::thread::spawn(guv::hub::Handle::current).join().unwrap();
    /// // That thread has ended, and its hub with it.
    /// let err = handle.spawn(|| ()).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
    /// ```
    pub fn spawn<F>(&self, f: F) -> io::Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared.push(RemoteOp::Spawn(Box::new(f)))
    }

    /// An opaque number identifying the hub (equal for handles of one hub).
    ///
    /// ```
    /// let here = guv::hub::Handle::current().id();
    /// let there = std::thread::spawn(|| guv::hub::Handle::current().id()).join().unwrap();
    /// assert_ne!(here, there);
    /// ```
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as *const () as usize
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("id", &self.id()).finish()
    }
}
