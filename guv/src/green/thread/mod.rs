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
//!
//! The identity and the park token are in `handle.rs` ([`Thread`],
//! [`current`], [`park`]); spawning and joining in `spawning.rs` ([`spawn`],
//! [`Builder`], [`JoinHandle`]); sleeping, yielding and the deprecated
//! `*_ms` twins here.

mod handle;
mod spawning;

pub use std::thread::*;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use handle::{Thread, ThreadId, current, park, park_timeout};
pub use spawning::{Builder, JoinHandle, spawn};
pub(super) use spawning::{Packet, Share, run_body};

pub use super::scope::{Scope, ScopedJoinHandle, scope};

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held.
    m.lock().unwrap_or_else(|e| e.into_inner())
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

/// Whether the calling green thread is unwinding from a panic (or a kill).
///
/// std's `thread::panicking` answers for the OS thread, so it is also true
/// on every other greenlet of that thread while one of them is parked
/// mid-unwind (say, in a destructor that waits); this one answers for the
/// running greenlet only, as std's does for a thread.
///
/// ```
/// use guv::green::{sync::mpsc, thread};
///
/// struct WaitsOnDrop(mpsc::Receiver<()>);
/// impl Drop for WaitsOnDrop {
///     fn drop(&mut self) {
///         assert!(thread::panicking());
///         let _ = self.0.recv(); // parks mid-unwind
///     }
/// }
/// guv::debug::hub_exceptions(false);
/// let (tx, rx) = mpsc::channel();
/// let h = thread::spawn(move || {
///     let _w = WaitsOnDrop(rx);
///     panic!("unwinding");
/// });
/// thread::yield_now(); // the green thread runs and parks in its destructor
/// assert!(!thread::panicking());
/// tx.send(()).unwrap();
/// assert!(h.join().is_err());
/// ```
pub fn panicking() -> bool {
    crate::hub::panicking()
}

/// [`crate::gyield`]: lets the other ready greenlets run first.
///
/// ```
/// guv::green::thread::yield_now();
/// ```
pub fn yield_now() {
    crate::gyield();
}
