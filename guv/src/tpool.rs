//! Run blocking code on a pool of OS threads while the greenlet that asked
//! waits green-ly (eventlet's `tpool`).
//!
//! Some calls cannot be made non-blocking: file I/O (files are always
//! "ready" for epoll), the system's `getaddrinfo`, CPU-heavy work, foreign
//! libraries. [`execute`] runs such a closure on one of a pool of OS threads
//! and parks only the calling greenlet until it returns; the rest of the
//! hub keeps running.
//!
//! ```
//! use std::sync::mpsc;
//! use std::time::Duration;
//!
//! let (tx, rx) = mpsc::channel();
//! // This greenlet runs while the caller below waits for the pool...
//! guv::spawn_n(move || tx.send(21).unwrap());
//! // ...and the pool thread blocks until it has.
//! let v = guv::tpool::execute(move || rx.recv_timeout(Duration::from_secs(10)).unwrap() * 2);
//! assert_eq!(v, 42);
//! ```
//!
//! # How it works
//!
//! One process-wide pool: a job queue under a mutex, and worker threads
//! started on demand up to the pool's size ([`DEFAULT_SIZE`], the
//! `GUV_THREADPOOL_SIZE` environment variable, or [`set_size`]); idle
//! workers wait on a condition variable. The caller registers a remote
//! waker with its hub, queues the job and parks; the worker stores the
//! result (or the panic payload) and wakes the caller through the hub's
//! cross-thread queue.

use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;

use crate::hub::{RemoteWaker, take_back, with_hub};

/// The pool size when `GUV_THREADPOOL_SIZE` is not set (eventlet's default).
///
/// ```
/// assert_eq!(guv::tpool::DEFAULT_SIZE, 20);
/// ```
pub const DEFAULT_SIZE: usize = 20;

type Job = Box<dyn FnOnce() + Send>;

/// The caller of [`execute`] waiting for a queued job, told when no worker
/// thread will ever run it (see [`Pool::try_submit`]).
trait Waiter: Send + Sync {
    /// The job was taken off the queue unrun: no worker thread could be
    /// started for it (`error` says why).
    fn abandoned(&self, error: io::Error);
}

/// A queued job: its number from [`State::next_job`] (so that a submitter
/// can take back its own job), the job, and the caller waiting for it, if
/// any (a value handed to [`drop_on_pool`] has none).
type Queued = (u64, Job, Option<Arc<dyn Waiter>>);

struct State {
    /// Queued jobs, in order.
    jobs: VecDeque<Queued>,
    next_job: u64,
    /// Worker threads alive.
    threads: usize,
    /// Workers waiting for a job.
    idle: usize,
    /// The most workers to start.
    size: usize,
}

struct Pool {
    state: Mutex<State>,
    work: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Jobs run outside the lock and catch their panics, so a poisoned lock
    // can only come from a bug in this file; the state stays consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The pool size the environment asks for: `GUV_THREADPOOL_SIZE` if it is
/// a positive integer, else [`DEFAULT_SIZE`].
fn size_from_env() -> usize {
    std::env::var("GUV_THREADPOOL_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_SIZE)
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State { jobs: VecDeque::new(), next_job: 0, threads: 0, idle: 0, size: size_from_env() }),
        work: Condvar::new(),
    })
}

impl Pool {
    fn submit(&'static self, job: Job, waiter: Arc<dyn Waiter>) -> io::Result<()> {
        self.try_submit(job, Some(waiter)).map_err(|(e, _job)| e)
    }

    /// [`Pool::submit`], handing the job back if no worker can run it:
    /// this very job, found by its number, even if other submitters queued
    /// theirs while the worker thread was being started (the pool counted
    /// this one's worker, so they started none). Of those, the ones a
    /// caller waits for are taken off the queue too and their callers told
    /// ([`Waiter::abandoned`]): with no worker alive, they would wait until
    /// some later submit started one, maybe for ever. Jobs nobody waits
    /// for (drops) stay queued for the next worker.
    fn try_submit(&'static self, job: Job, waiter: Option<Arc<dyn Waiter>>) -> Result<(), (io::Error, Job)> {
        let mut st = lock(&self.state);
        let id = st.next_job;
        st.next_job = id.wrapping_add(1);
        st.jobs.push_back((id, job, waiter));
        if st.idle >= st.jobs.len() {
            drop(st);
            self.work.notify_one();
            return Ok(());
        }
        if st.threads < st.size {
            st.threads += 1;
            drop(st);
            let spawned = thread::Builder::new().name("guv-tpool".into()).spawn(move || self.worker());
            if let Err(e) = spawned {
                let mut st = lock(&self.state);
                st.threads -= 1;
                if st.threads == 0
                    && let Some(at) = st.jobs.iter().rposition(|(queued, ..)| *queued == id)
                    && let Some((_, job, _)) = st.jobs.remove(at)
                {
                    // Nobody will ever run it: take it back, and give up
                    // the others that have a caller waiting.
                    let (kept, abandoned): (VecDeque<Queued>, VecDeque<Queued>) =
                        std::mem::take(&mut st.jobs).into_iter().partition(|(_, _, waiter)| waiter.is_none());
                    st.jobs = kept;
                    drop(st);
                    // Out of the lock: a job's closure may use the pool
                    // when dropped.
                    let message = format!("guv::tpool: cannot start a worker thread: {e}");
                    for (_, unrun, waiter) in abandoned {
                        // A capture's destructor may panic: the other
                        // callers are told all the same.
                        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(unrun)));
                        if let Some(waiter) = waiter {
                            waiter.abandoned(io::Error::new(e.kind(), message.clone()));
                        }
                    }
                    return Err((io::Error::new(e.kind(), message), job));
                }
            }
        }
        Ok(())
    }

    fn worker(&self) {
        ON_POOL_THREAD.with(|on| on.set(true));
        let mut st = lock(&self.state);
        loop {
            if st.threads > st.size {
                // The pool was shrunk: this worker leaves.
                st.threads -= 1;
                return;
            }
            match st.jobs.pop_front() {
                Some((_, job, waiter)) => {
                    drop(st);
                    // Not the slot's last owner (the job holds it), so this
                    // drops no result: a result whose caller was killed
                    // must be dropped inside the job's `catch_unwind` below.
                    drop(waiter);
                    // A job catches its closure's panic itself; what can
                    // still unwind is the drop of a result whose caller was
                    // killed while waiting, which must not end a thread the
                    // pool still counts (the hook has reported the panic).
                    let _ = panic::catch_unwind(AssertUnwindSafe(job));
                    st = lock(&self.state);
                }
                None => {
                    st.idle += 1;
                    st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                    st.idle -= 1;
                }
            }
        }
    }
}

/// Drops `value` on a pool thread, where its destructor may block or park
/// without holding up a hub; the caller does not wait. Without any worker
/// thread (none can be started) it is handed back, as a job that drops it.
pub(crate) fn drop_on_pool(value: impl Send + 'static) -> Result<(), Job> {
    pool().try_submit(Box::new(move || drop(value)), None).map_err(|(_, job)| job)
}

thread_local! {
    /// Whether this thread is one of the pool's workers.
    static ON_POOL_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The rendezvous between a waiting greenlet and the worker running its job.
struct Slot<T> {
    result: Mutex<Option<Outcome<T>>>,
    waker: Mutex<Option<RemoteWaker>>,
}

/// What became of an [`execute`] job.
enum Outcome<T> {
    /// It ran: its value, or its panic.
    Ran(thread::Result<T>),
    /// It was taken off the queue unrun: no worker thread could start.
    Abandoned(io::Error),
}

impl<T> Slot<T> {
    /// Stores the outcome and wakes the caller.
    fn finish(&self, outcome: Outcome<T>) {
        *lock(&self.result) = Some(outcome);
        let w = lock(&self.waker).take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<T> Drop for Slot<T> {
    /// Drops a result nobody took: the caller was killed (or timed out)
    /// after the job had finished. The slot's last owner may then be that
    /// caller, unwinding, where a panic in the result's destructor would
    /// abort the process; here it is reported by the hook and ignored, as
    /// on a worker.
    fn drop(&mut self) {
        let unclaimed = self.result.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(outcome) = unclaimed {
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(outcome)));
        }
    }
}

impl<T: Send> Waiter for Slot<T> {
    fn abandoned(&self, error: io::Error) {
        self.finish(Outcome::Abandoned(error));
    }
}

/// Runs `f` on the thread pool and parks the calling greenlet until it
/// returns; other greenlets run meanwhile. A panic in `f` is re-raised in
/// the caller (with its original payload).
///
/// Every call is a switch point, however fast `f` is: if `f` is done
/// before the caller parks, the caller still yields once, so a loop of
/// quick calls (file reads served from the page cache) cannot hold up the
/// other greenlets.
///
/// If the caller is killed (or its [`crate::Timeout`] expires) while it
/// waits, it unwinds at once; `f` still runs to completion on its thread
/// and its result is dropped there (a panic in that drop is reported and
/// ignored; the worker lives on). The job no longer counts as a way to
/// wake the hub: a hub with nothing else to do reports "would block
/// forever" while such a job still runs.
///
/// ```
/// let r = std::panic::catch_unwind(|| guv::tpool::execute(|| -> u32 { panic!("in the pool") }));
/// let payload = r.unwrap_err();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"in the pool"));
/// ```
///
/// Called on a pool thread (a job that uses green `fs`, or calls
/// `execute` itself), `f` runs there at once: waiting for another worker
/// could deadlock a busy pool.
///
/// ```
/// let v = guv::tpool::execute(|| guv::tpool::execute(|| 6) * 7);
/// assert_eq!(v, 42);
/// ```
///
/// # Panics
///
/// With `f`'s panic; if no worker thread can be started at all; or if
/// called from the hub loop itself (from a destructor the hub runs).
///
/// "No worker thread at all" is also what a caller whose job was queued
/// while another submitter was starting the only worker learns, if that
/// start fails: with no worker alive its job would wait for one that only
/// a later `execute` starts, so it is taken off the queue unrun and the
/// caller panics with the same `cannot start a worker thread` message,
/// rather than waiting, maybe for ever. Values the runtime hands the
/// pool to drop (nobody waits for them) stay queued for the next worker.
pub fn execute<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if ON_POOL_THREAD.with(|on| on.get()) {
        return f();
    }
    let slot = Arc::new(Slot { result: Mutex::new(None), waker: Mutex::new(None) });
    let parked = with_hub(|hub| {
        let waker = hub.arm();
        let (remote, _registration) = hub.remote_waker(&waker);
        *lock(&slot.waker) = Some(remote);
        let theirs = slot.clone();
        let job: Job = Box::new(move || theirs.finish(Outcome::Ran(panic::catch_unwind(AssertUnwindSafe(f)))));
        if let Err(e) = pool().submit(job, slot.clone()) {
            panic!("{e}");
        }
        // A kill or Timeout that unwinds the caller takes its remote
        // waker back: it is a live remote handle of the hub, and a job
        // that runs on (or never ends) would otherwise hold the hub's
        // deadlock check off for a greenlet that is gone.
        let _waiting = take_back(&slot.waker, Option::take);
        let mut parked = false;
        // The outcome stays in the slot until the caller returns: a kill
        // or Timeout that unwinds the caller before then leaves it to the
        // slot's destructor (see `Slot`'s `Drop`).
        while lock(&slot.result).is_none() {
            hub.park();
            parked = true;
        }
        parked
    });
    if !parked {
        // A worker took the job and finished it before the caller could
        // park (a read from the page cache, picked up by a worker between
        // two jobs). The call is a switch point all the same: without this
        // turn, a loop of such calls (`io::copy` from a green `File`)
        // would hold up every other greenlet for as long as the workers
        // kept up.
        crate::gyield();
    }
    let outcome = lock(&slot.result).take();
    match outcome.expect("the job's outcome is in its slot") {
        Outcome::Ran(Ok(v)) => v,
        Outcome::Ran(Err(payload)) => crate::hub::resume_unwind(payload),
        Outcome::Abandoned(e) => panic!("{e}"),
    }
}

/// Sets the most worker threads the pool runs at once (at least 1). A
/// smaller size takes effect as busy workers finish; a larger one as jobs
/// arrive.
///
/// ```
/// guv::tpool::set_size(4).unwrap();
/// assert_eq!(guv::tpool::size(), 4);
/// assert!(guv::tpool::set_size(0).is_err());
/// ```
pub fn set_size(size: usize) -> io::Result<()> {
    if size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "guv::tpool::set_size: the pool needs at least 1 thread",
        ));
    }
    let p = pool();
    lock(&p.state).size = size;
    // Let surplus idle workers notice.
    p.work.notify_all();
    Ok(())
}

/// The pool's size: [`set_size`]'s value, else `GUV_THREADPOOL_SIZE` if it
/// holds a positive integer, else [`DEFAULT_SIZE`].
///
/// ```
/// assert!(guv::tpool::size() >= 1);
/// ```
pub fn size() -> usize {
    lock(&pool().state).size
}

/// Worker threads alive now (started on demand, at most [`size`]).
///
/// ```
/// guv::tpool::execute(|| ());
/// assert!(guv::tpool::threads() >= 1);
/// ```
pub fn threads() -> usize {
    lock(&pool().state).threads
}
