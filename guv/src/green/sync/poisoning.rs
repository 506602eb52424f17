//! Poisoning, as `std::sync` does it: a lock is poisoned when a guard is
//! dropped while its thread — here: its greenlet, killed or panicking —
//! unwinds, having not been unwinding when the guard was made. Whether a
//! greenlet unwinds is `hub::panicking()`, not std's per-thread answer,
//! which is true for every greenlet while one of them is parked mid-unwind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError};

pub(super) struct Flag(AtomicBool);

/// Whether the guard's owner was already unwinding when it locked.
pub(super) struct Guard {
    panicking: bool,
}

impl Flag {
    pub(super) const fn new() -> Flag {
        Flag(AtomicBool::new(false))
    }

    // Relaxed: the flag orders nothing; the lock word does.
    pub(super) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(super) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    pub(super) fn guard(&self) -> Guard {
        Guard { panicking: crate::hub::panicking() }
    }

    /// Called when the guard is dropped.
    pub(super) fn done(&self, guard: &Guard) {
        if !guard.panicking && crate::hub::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// `Ok(value)`, or `Err(PoisonError)` around it if `poisoned`.
pub(super) fn result<T>(poisoned: bool, value: T) -> LockResult<T> {
    if poisoned { Err(PoisonError::new(value)) } else { Ok(value) }
}
