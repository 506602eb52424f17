//! Scoped green threads: [`scope`], [`Scope`], [`ScopedJoinHandle`].
//!
//! A scoped thread borrows from its spawner's stack, but a greenlet needs a
//! `'static` body, so this file erases the body's lifetime — the one unsafe
//! step. What makes it sound is in this file too: [`scope`] does not return,
//! and does not unwind, before every thread it spawned has ended (a kill or
//! `Timeout` aimed at the waiting greenlet is held back until then).
//!
//! A kill or `Timeout` of the scope's owner cascades: the scoped threads
//! of its own hub are killed, so that the wait ends (as a greenlet's drop
//! guards take its helpers down); an ordinary panic of the closure does not
//! cut them short, as with std.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::thread::{Builder, Packet, Share, Thread, lock, run_body};
use crate::GreenThread;
use crate::greenlet::{KillSignal, TimeoutSignal};
use crate::hub::{RemoteWaker, with_hub};

/// What the scope and its threads share.
struct ScopeData {
    /// Threads still running, and the scope owner's waker while it waits.
    running: Mutex<(usize, Option<RemoteWaker>)>,
    a_thread_panicked: AtomicBool,
    /// The owner was interrupted: a thread spawned on its hub from now on
    /// is killed at once (a killed thread's destructor may spawn).
    killing: AtomicBool,
    /// The owner's OS thread: the threads spawned on it are greenlets of
    /// the owner's hub, kept in [`MEMBERS`] to be killed with it.
    owner: std::thread::ThreadId,
}

thread_local! {
    /// The greenlets of this thread's scopes, by scope ([`ScopeData::key`]):
    /// what a kill or `Timeout` of a scope's owner kills. Handles are not
    /// `Send`, so they stay here rather than in the shared `ScopeData`.
    static MEMBERS: RefCell<Vec<(usize, GreenThread<()>)>> = const { RefCell::new(Vec::new()) };
    /// When [`MEMBERS`] next drops the handles of ended greenlets.
    static PRUNE_AT: Cell<usize> = const { Cell::new(64) };
}

/// Adds a scoped greenlet to [`MEMBERS`], dropping the handles of ended
/// ones now and then (a scope may spawn many short threads); dropped after
/// the table is released, as a handle's stored result may run user code.
fn add_member(key: usize, g: GreenThread<()>) {
    let ended: Vec<_> = MEMBERS.with(|m| {
        let mut m = m.borrow_mut();
        m.push((key, g));
        let at = PRUNE_AT.get();
        if m.len() < at {
            return Vec::new();
        }
        let (ended, live): (Vec<_>, Vec<_>) = std::mem::take(&mut *m).into_iter().partition(|(_, g)| g.is_finished());
        *m = live;
        PRUNE_AT.set((2 * m.len()).max(64));
        ended
    });
    drop(ended);
}

/// Takes `key`'s greenlets out of [`MEMBERS`] (also at thread exit, when
/// the table is gone: then there is nothing to take).
fn take_members(key: usize) -> Vec<GreenThread<()>> {
    MEMBERS
        .try_with(|m| {
            let mut m = m.borrow_mut();
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut *m).into_iter().partition(|(k, _)| *k == key);
            *m = rest;
            mine.into_iter().map(|(_, g)| g).collect()
        })
        .unwrap_or_default()
}

/// Takes one of `key`'s greenlets out of [`MEMBERS`].
fn take_member(key: usize) -> Option<GreenThread<()>> {
    MEMBERS
        .try_with(|m| {
            let mut m = m.borrow_mut();
            let i = m.iter().rposition(|(k, _)| *k == key)?;
            Some(m.swap_remove(i).1)
        })
        .ok()
        .flatten()
}

/// Forgets a scope's greenlets when the scope ends, however it ends.
struct Members(usize);

impl Drop for Members {
    fn drop(&mut self) {
        drop(take_members(self.0));
    }
}

impl ScopeData {
    /// The scope's key in [`MEMBERS`]: its shared data's address, stable
    /// while the scope lives.
    fn key(&self) -> usize {
        self as *const ScopeData as usize
    }

    /// Kills the scope's greenlets on this hub (the owner was killed or
    /// timed out), one at a time out of the table: a kill switches, and a
    /// killed greenlet may spawn another (killed in turn). An interrupt
    /// that reaches the owner meanwhile is caught into `held` (see
    /// [`hold`]): unwinding out of here would leave the scope early.
    fn kill_members(&self, held: &mut Option<Payload>) {
        self.killing.store(true, Ordering::Relaxed);
        while let Some(g) = take_member(self.key()) {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| g.kill())) {
                hold(held, payload);
            }
        }
    }

    fn thread_ended(&self) {
        let waker = {
            let mut st = lock(&self.running);
            st.0 -= 1;
            if st.0 == 0 { st.1.take() } else { None }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Parks until no thread runs. An interrupt (kill, `Timeout`) that
    /// arrives meanwhile is caught and returned, to be re-raised once the
    /// threads are done: unwinding now would free what they borrow. It
    /// kills the scope's greenlets, so that they are done soon; `held` is
    /// the closure's own interrupt, if it had one (the threads are killed
    /// then too).
    fn wait_all(&self, mut held: Option<Payload>) -> Option<Payload> {
        if held.is_some() {
            self.kill_members(&mut held);
        }
        loop {
            let st = lock(&self.running);
            if st.0 == 0 {
                return held;
            }
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                with_hub(|hub| {
                    let mut st = st;
                    let waker = hub.arm();
                    let (remote, _registration) = hub.remote_waker(&waker);
                    st.1 = Some(remote);
                    drop(st);
                    hub.park();
                })
            }));
            if let Err(payload) = r {
                hold(&mut held, payload);
                self.kill_members(&mut held);
            }
        }
    }
}

type Payload = Box<dyn std::any::Any + Send>;

/// Keeps the stronger of two interrupts that reached the owner, as a
/// greenlet's pending interrupt does: a kill beats a `Timeout`, and an
/// outer (older) `Timeout` an inner one. The weaker would be caught on
/// the way out (an inner `with_timeout`), losing the stronger one.
fn hold(held: &mut Option<Payload>, new: Payload) {
    let rank = |p: &Payload| match p.downcast_ref::<TimeoutSignal>() {
        Some(TimeoutSignal(id)) => (1, *id),
        None if p.is::<KillSignal>() => (0, 0),
        None => (2, 0),
    };
    match held {
        Some(old) if rank(old) <= rank(&new) => {}
        _ => *held = Some(new),
    }
}

/// Marks one scoped thread as ended when dropped.
struct Ended(Arc<ScopeData>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.thread_ended();
    }
}

/// A scope to spawn green threads that borrow from the caller (std's
/// `Scope`); see [`scope`].
///
/// ```
/// let mut n = 0;
/// guv::green::thread::scope(|s: &guv::green::thread::Scope<'_, '_>| {
///     s.spawn(|| n += 1);
/// });
/// assert_eq!(n, 1);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Creates a scope for spawning green threads that may borrow non-`'static`
/// data; every thread spawned in it is joined before `scope` returns (std's
/// `thread::scope`). If one of them panicked and was not joined, `scope`
/// panics once they have all ended; so it does if one was spawned from
/// another OS thread whose hub ended before it ran (its work was not done).
///
/// If the calling greenlet is killed, or a [`Timeout`](crate::Timeout) of
/// its expires, in the closure or while `scope` waits, the scope's threads
/// are killed too, and the kill or timeout goes on once they have ended (it
/// cannot before: they may borrow from the caller; if both a kill and a
/// timeout reach it, the kill goes on). A panic of the closure lets them
/// finish, as with std.
///
/// ```
/// use std::time::Duration;
/// let mut slept = 0;
/// let r = guv::with_timeout(Duration::from_millis(10), || {
///     guv::green::thread::scope(|s| {
///         s.spawn(|| {
///             guv::sleep(Duration::from_secs(3600)); // cut short by the timeout
///             slept += 1;
///         });
///     })
/// });
/// assert!(r.unwrap_err().is_timed_out());
/// assert_eq!(slept, 0);
/// ```
///
///
/// ```
/// use guv::green::thread;
/// let mut counts = vec![0; 3];
/// let words = ["a", "bb", "ccc"];
/// thread::scope(|s| {
///     for (c, w) in counts.iter_mut().zip(&words) {
///         s.spawn(move || *c = w.len());
///     }
/// });
/// assert_eq!(counts, [1, 2, 3]);
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: Mutex::new((0, None)),
            a_thread_panicked: AtomicBool::new(false),
            killing: AtomicBool::new(false),
            owner: std::thread::current().id(),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let _members = Members(scope.data.key());
    let mut result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // The owner was killed or timed out in the closure: its threads go
    // too (a plain panic lets them finish, as std's scope does).
    let interrupted = match result {
        Err(payload) if crate::is_interrupt(&*payload) => {
            result = Err(Box::new(())); // not reached: the interrupt goes on
            Some(payload)
        }
        _ => None,
    };
    // The invariant that makes `Scope::spawn_with` sound: nothing leaves
    // this function, by return or unwind, while a scoped thread runs.
    let interrupt = scope.data.wait_all(interrupted);
    if let Some(payload) = interrupt {
        crate::hub::resume_unwind(payload);
    }
    match result {
        Err(payload) => crate::hub::resume_unwind(payload),
        Ok(_) if scope.data.a_thread_panicked.load(Ordering::Relaxed) => panic!("a scoped thread panicked"),
        Ok(v) => v,
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a green thread that may borrow from outside the scope; it is
    /// joined when the scope ends, if not before.
    ///
    /// # Panics
    ///
    /// If the greenlet's stack cannot be mapped.
    ///
    /// ```
    /// let data = [1, 2, 3];
    /// let sum = guv::green::thread::scope(|s| s.spawn(|| data.iter().sum::<i32>()).join().unwrap());
    /// assert_eq!(sum, 6);
    /// ```
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(Builder::new(), f).unwrap_or_else(|e| panic!("failed to spawn green thread: {e}"))
    }

    pub(super) fn spawn_with<F, T>(&'scope self, builder: Builder, f: F) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let (builder, thread) = builder.into_parts();
        let data = self.data.clone();
        let on_panic: Arc<dyn Fn() + Send + Sync> = {
            let data = data.clone();
            Arc::new(move || data.a_thread_panicked.store(true, Ordering::Relaxed))
        };
        let packet = Arc::new(Packet::new(Some(on_panic)));
        lock(&data.running).0 += 1;
        // Counts the thread as ended when the body finishes — or is dropped
        // unrun, if the greenlet never starts. The closure captures one
        // tuple, whose fields drop in order if it never runs: `f` (which
        // may borrow, and whose destructors may park), then the packet's
        // share (finished as killed, for a join), and `Ended` last.
        let parts = (f, thread.clone(), Share(packet.clone()), Ended(data));
        let body: Box<dyn FnOnce() + 'scope> = Box::new(move || {
            let (f, t, share, _ended) = parts;
            run_body(t, &share.0, f);
            // Drop our share of the packet before saying we are done, so
            // an unjoined panic is recorded before the scope checks.
            drop(share);
        });
        // SAFETY: the body borrows data that lives for 'scope. `scope`
        // (the only way to obtain a `&'scope Scope`) waits, without
        // returning or unwinding, until every body counted in `running`
        // has dropped its `Ended` — its last act, or its captures' drop if
        // it never runs — so nothing it borrows is freed while it can
        // still run. The two types differ only in the lifetime bound.
        let body: Box<dyn FnOnce() + 'static> = unsafe { std::mem::transmute(body) };
        let spawned = if std::thread::current().id() == self.data.owner {
            builder.spawn(body).map(|g| {
                if self.data.killing.load(Ordering::Relaxed) {
                    g.kill(); // not started: dropped unrun
                } else {
                    add_member(self.data.key(), g);
                }
            })
        } else {
            builder.spawn_n(body)
        };
        if let Err(e) = spawned {
            // The body was dropped unrun (counted as ended); its packet,
            // finished as killed, must not count as a panicked thread.
            packet.forget_unspawned();
            return Err(e);
        }
        Ok(ScopedJoinHandle { packet, thread, scope: PhantomData })
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("running", &lock(&self.data.running).0).finish_non_exhaustive()
    }
}

/// A handle to a scoped green thread (std's `ScopedJoinHandle`).
///
/// ```
/// let v = vec![1, 2, 3];
/// let sum = guv::green::thread::scope(|s| s.spawn(|| v.iter().sum::<i32>()).join().unwrap());
/// assert_eq!(sum, 6);
/// ```
pub struct ScopedJoinHandle<'scope, T> {
    packet: Arc<Packet<T>>,
    thread: Thread,
    scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to end: its value, or its panic's payload. A
    /// thread killed (the scope's owner was interrupted) joins as `Err`
    /// with the payload of a kill ([`guv::is_interrupt`](crate::is_interrupt)
    /// says so), as does one that never ran: killed before it started, or
    /// spawned from another OS thread whose hub ended first.
    ///
    /// ```
    /// let r = guv::green::thread::scope(|s| s.spawn(|| 5).join());
    /// assert_eq!(r.unwrap(), 5);
    /// ```
    pub fn join(self) -> std::thread::Result<T> {
        self.packet.join()
    }

    /// The thread's handle.
    ///
    /// ```
    /// guv::green::thread::scope(|s| {
    ///     let h = s.spawn(|| ());
    ///     let _id = h.thread().id();
    /// });
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Whether the thread has ended.
    ///
    /// ```
    /// guv::green::thread::scope(|s| {
    ///     let h = s.spawn(|| ());
    ///     guv::green::thread::yield_now();
    ///     assert!(h.is_finished());
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.packet.is_finished()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As std's: no fields shown.
        f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
    }
}
