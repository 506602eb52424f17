//! Spawning greenlets and handling them: [`spawn`], [`spawn_n`],
//! [`spawn_after`], [`Builder`], [`GreenThread`], [`kill`].

mod builder;
mod handle;
mod task;

use std::io;
use std::time::Duration;

use crate::hub::{Hub, with_hub};

pub use builder::Builder;
pub(crate) use builder::spawn_remote;
pub use handle::{GreenThread, LinkId};

fn or_panic<T>(r: io::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Spawns `f` as a greenlet on this thread's hub and returns its handle.
/// It starts once the current greenlet blocks or yields, after the
/// greenlets already ready (spawn order is start order).
///
/// `f` needs `'static` but not `Send`: greenlets never leave their thread,
/// so `Rc` and `RefCell` are fine in it.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let handles: Vec<_> = (0..3)
///     .map(|i| {
///         let log = log.clone();
///         guv::spawn(move || log.borrow_mut().push(i))
///     })
///     .collect();
/// for h in handles {
///     h.wait().unwrap();
/// }
/// assert_eq!(*log.borrow(), [0, 1, 2]);
/// ```
///
/// # Panics
///
/// If the greenlet's stack cannot be mapped (see [`Builder::spawn`], which
/// returns the error instead).
pub fn spawn<F, T>(f: F) -> GreenThread<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    or_panic(Builder::new().spawn(f))
}

/// Spawns `f` as a greenlet whose result nobody waits for: cheaper than
/// [`spawn`]. A panic in it is printed with the greenlet's name (unless
/// [`crate::debug::hub_exceptions`] turned that off) and ends only that
/// greenlet.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let hits = Rc::new(Cell::new(0));
/// for _ in 0..10 {
///     let hits = hits.clone();
///     guv::spawn_n(move || hits.set(hits.get() + 1));
/// }
/// guv::gyield();
/// assert_eq!(hits.get(), 10);
/// ```
///
/// # Panics
///
/// If the greenlet's stack cannot be mapped.
pub fn spawn_n<F>(f: F)
where
    F: FnOnce() + 'static,
{
    or_panic(Builder::new().spawn_n(f))
}

/// Spawns `f` to start once `delay` has passed. Greenlets spawned this way
/// start in deadline order; [`GreenThread::cancel`] stops one that has not
/// started. A delay too large to represent (such as `Duration::MAX`) never
/// elapses.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let gt = guv::spawn_after(Duration::from_millis(20), move || start.elapsed());
/// assert!(gt.wait().unwrap() >= Duration::from_millis(20));
/// ```
///
/// # Panics
///
/// If the greenlet's stack cannot be mapped.
pub fn spawn_after<F, T>(delay: Duration, f: F) -> GreenThread<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    or_panic(Builder::new().spawn_after(delay, f))
}

/// Kills the greenlet behind `gt`; the same as [`GreenThread::kill`]
/// (Python guv's `kill(g)`).
///
/// ```
/// let gt = guv::spawn(|| guv::sleep(std::time::Duration::from_secs(3600)));
/// guv::gyield();
/// guv::kill(&gt);
/// assert!(gt.wait().unwrap_err().is_killed());
/// ```
pub fn kill<T: 'static>(gt: &GreenThread<T>) {
    gt.kill();
}

/// Switches to the other ready greenlets and comes back after them (Python
/// guv's `gyield`, `sleep(0)`). From a greenlet alone, returns at once.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let o = order.clone();
/// guv::spawn_n(move || o.borrow_mut().push("spawned"));
/// order.borrow_mut().push("before");
/// guv::gyield();
/// order.borrow_mut().push("after");
/// assert_eq!(*order.borrow(), ["before", "spawned", "after"]);
/// ```
#[inline(always)]
pub fn gyield() {
    crate::hub::finish_yield(with_hub(Hub::yield_prepare));
}

/// Suspends the calling greenlet for at least `duration`, letting the others
/// run. `sleep(Duration::ZERO)` is [`gyield`]; a duration too large to
/// represent sleeps until the greenlet is killed. From plain `fn main`, no
/// setup is needed: the thread's hub is created on first use.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// guv::sleep(Duration::from_millis(5));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[inline(always)]
pub fn sleep(duration: Duration) {
    if duration.is_zero() {
        // Inlined with `gyield`, so that the jump happens in the caller's
        // frame (see `Hub::yield_prepare`).
        return gyield();
    }
    sleep_nonzero(duration);
}

/// [`sleep`] for a duration above zero.
fn sleep_nonzero(duration: Duration) {
    with_hub(|hub| {
        let deadline = std::time::Instant::now().checked_add(duration);
        let waker = hub.arm();
        loop {
            if !hub.park_until(&waker, deadline) {
                return;
            }
            // A spurious wake-up: go back to sleep unless the time is up.
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return;
            }
        }
    });
}
