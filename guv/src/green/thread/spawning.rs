//! Spawning and joining green threads: [`Builder`], [`spawn`], the
//! [`JoinHandle`], and the result slot a thread shares with its handle
//! (also used by scoped threads).

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread::Result;

use super::handle::{Thread, set_current};
use super::lock;
use super::{Scope, ScopedJoinHandle};
use crate::hub::{RemoteWaker, take_back, with_hub};

/// The result slot of a green thread, shared with its handle.
pub(in crate::green) struct Packet<T> {
    state: Mutex<PacketState<T>>,
    /// For scoped threads: told when an unjoined thread panicked.
    pub(in crate::green) on_unjoined_panic: Option<Arc<dyn Fn() + Send + Sync>>,
}

struct PacketState<T> {
    result: Option<Result<T>>,
    finished: bool,
    joiner: Option<RemoteWaker>,
}

impl<T> Packet<T> {
    pub(in crate::green) fn new(on_unjoined_panic: Option<Arc<dyn Fn() + Send + Sync>>) -> Packet<T> {
        Packet { state: Mutex::new(PacketState { result: None, finished: false, joiner: None }), on_unjoined_panic }
    }

    /// Stores the thread's result and wakes its joiner.
    fn finish(&self, result: Result<T>) {
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
    pub(in crate::green) fn forget_unspawned(&self) {
        let result = lock(&self.state).result.take();
        drop(result);
    }

    pub(in crate::green) fn is_finished(&self) -> bool {
        lock(&self.state).finished
    }

    /// Parks until the result is there, then takes it.
    pub(in crate::green) fn join(&self) -> Result<T> {
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
pub(in crate::green) struct Share<T>(pub(in crate::green) Arc<Packet<T>>);

impl<T> Drop for Share<T> {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.finish(Err(Box::new(crate::greenlet::KillSignal)));
        }
    }
}

/// Runs `f` as the body of a green thread described by `thread`.
pub(in crate::green) fn run_body<T>(thread: Thread, packet: &Packet<T>, f: impl FnOnce() -> T) {
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
        // As std's: no fields shown.
        f.debug_struct("JoinHandle").finish_non_exhaustive()
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

    /// Panics, as std's spawns do, if the name has a NUL byte.
    pub(in crate::green) fn into_parts(self) -> (crate::Builder, Thread) {
        if let Some(name) = self.0.configured_name()
            && name.contains('\0')
        {
            let e = std::ffi::CString::new(name).unwrap_err();
            panic!("thread name may not contain interior null bytes: {e:?}");
        }
        let thread = Thread::new(self.0.configured_name().map(String::from));
        (self.0, thread)
    }

    /// Spawns `f` as a green thread; fails if its stack cannot be mapped.
    ///
    /// # Panics
    ///
    /// If the name set has a NUL byte (as std's).
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

    /// Spawns a scoped green thread (see [`scope`](super::scope)).
    ///
    /// # Panics
    ///
    /// If the name set has a NUL byte (as std's).
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
