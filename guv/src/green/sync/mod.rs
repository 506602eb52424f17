//! Green `std::sync`: the same types, signatures and behaviour as
//! `std::sync`, except that waiting parks the calling greenlet — the other
//! greenlets of its thread keep running — instead of blocking the thread.
//! Everything not shadowed here (`Arc`, `atomic`, `PoisonError`,
//! `LockResult`, `TryLockError`, ...) is `std::sync`'s own, so this module
//! can replace `std::sync` wholesale.
//!
//! The types are `Send + Sync` exactly where `std`'s are, and work across
//! threads: a greenlet waiting for a lock held on another thread, or for an
//! item a plain thread will send, parks on its own hub and is woken through
//! that hub's remote queue. Plain threads without greenlets can use them
//! too (their main greenlet parks on their hub).
//!
//! Uncontended, [`Mutex::lock`] and unlock are one atomic operation each;
//! waiters are queued (FIFO) only under contention.
//!
//! # Deadlocks
//!
//! Where `std` says a call "might panic or deadlock" (locking a mutex the
//! thread holds, re-entering a `OnceLock` initializer), the thread's main
//! greenlet gets guv's "this operation would block forever" panic when
//! nothing else could ever end the wait: the locks and `Once` tell the hub
//! which thread holds them, so a cycle among one thread's greenlets (main
//! included) is reported instead of hanging. A wait that another thread
//! could end (the holder lives there, the lock is read-held, or it is a
//! `Condvar`, `Barrier` or `mpsc` wait) is never reported, and still hangs
//! if nothing ends it.
//!
//! ```
//! use guv::green::sync::Mutex;
//! let m = Mutex::new(0);
//! let guard = m.lock().unwrap();
//! let again = std::panic::catch_unwind(|| m.lock().map(|_| ()));
//! assert!(again.is_err()); // "this operation would block forever"
//! drop(guard);
//! assert!(m.lock().is_ok());
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use guv::green::sync::{Condvar, Mutex};
//!
//! let state = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
//! let s = state.clone();
//! // A plain OS thread and a greenlet share a green Mutex and Condvar.
//! std::thread::spawn(move || {
//!     s.0.lock().unwrap().push("from a thread");
//!     s.1.notify_one();
//! });
//! let (lock, cvar) = &*state;
//! let items = cvar.wait_while(lock.lock().unwrap(), |v| v.is_empty()).unwrap();
//! assert_eq!(*items, ["from a thread"]);
//! ```
//!
//! # Kills and timeouts poison
//!
//! A greenlet killed, or interrupted by a [`Timeout`](crate::Timeout),
//! unwinds as a panicking thread does, so the locks whose guards it holds
//! are poisoned, as `std`'s are by a panic (unlike a Python lock released
//! by a `with` block that an exception leaves). Code that may be
//! interrupted while it holds a lock recovers the data from the
//! [`PoisonError`] (or keeps timeouts outside its critical sections):
//!
//! ```
//! use std::time::Duration;
//! use guv::green::sync::Mutex;
//!
//! let m = Mutex::new(0);
//! let r = guv::with_timeout(Duration::from_millis(1), || {
//!     let mut n = m.lock().unwrap();
//!     *n += 1;
//!     guv::sleep(Duration::from_secs(60)); // interrupted with the guard held
//! });
//! assert!(r.unwrap_err().is_timed_out());
//! assert!(m.is_poisoned());
//! let n = m.lock().unwrap_or_else(|e| e.into_inner());
//! assert_eq!(*n, 1);
//! ```

pub use std::sync::*;

mod barrier;
mod cell;
mod condvar;
pub mod mpsc;
mod mutex;
mod once;
mod park;
mod poisoning;
mod raw;
mod rwlock;
#[cfg(test)]
mod tests;

pub use barrier::{Barrier, BarrierWaitResult};
pub use cell::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use once::{LazyLock, Once, OnceLock, OnceState};
