//! Probes: remote wake-ups that do not, by themselves, keep the deadlock
//! check quiet.
//!
//! A [`RemoteWaker`] normally holds the hub strongly (a `Keeper`), and
//! while any keeper exists the hub assumes another thread may still wake
//! it, so a deadlock among its own greenlets hangs
//! instead of failing. The green locks know better: a lock waiter can only
//! be woken by whoever holds the lock. Such a waiter registers a *probed*
//! remote waker, which holds the hub weakly, and tells its hub through a
//! [`Holder`] cell which thread can end its wait. The deadlock check then
//! asks every probe: if each one names this hub's own thread (whose
//! greenlets are all stuck, or the check would not run), nothing can ever
//! end those waits either.
//!
//! # The holder cell
//!
//! A `Holder` is shared by the waiters of one primitive and kept by it: it
//! holds the [`thread_mark`] of the thread whose greenlet holds the
//! primitive (the writer of a lock, the running initializer of a `Once`),
//! or [`ANY_THREAD`] when that is unknown or could be any thread (readers
//! hold it, it is being handed over). The primitive must never let it name
//! a thread that is not the holder's; `ANY_THREAD` is always safe.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Hub, RemoteSlot, RemoteWaker, SharedRef, Waker, with_hub};

/// A holder cell's value when any thread might end the wait.
pub(crate) const ANY_THREAD: usize = 0;

/// Which thread can end a wait (see the module docs).
pub(crate) type Holder = Arc<AtomicUsize>;

thread_local! {
    /// Only its address is used: distinct for every live thread.
    static MARK: u8 = const { 0 };
}

/// A number naming the calling thread, never [`ANY_THREAD`]: the address
/// of a thread-local (one instruction, no hub needed). A dead thread's mark
/// may be reused by a new thread; a lock still held by a greenlet of the
/// dead thread is never released, so treating it as held by the new one
/// cannot hide a wake-up.
pub(crate) fn thread_mark() -> usize {
    MARK.with(|m| std::ptr::from_ref(m) as usize)
}

/// The probes of one hub's waiting greenlets.
#[derive(Default)]
pub(super) struct Probes {
    /// `None`: registered, no holder named yet (any thread).
    slots: Vec<Option<Option<Holder>>>,
    free: Vec<usize>,
}

impl Probes {
    /// Whether every probe names this thread: then no other thread can end
    /// any of the waits behind them.
    pub(super) fn all_local(&self) -> bool {
        let me = thread_mark();
        self.slots.iter().flatten().all(|p| p.as_ref().is_some_and(|h| h.load(Ordering::Acquire) == me))
    }

    fn insert(&mut self) -> usize {
        match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(None);
                key
            }
            None => {
                self.slots.push(Some(None));
                self.slots.len() - 1
            }
        }
    }
}

/// A registered probe; dropping it (on the hub's thread, when the wait
/// ends) unregisters it.
pub(crate) struct Probe {
    key: usize,
}

impl Probe {
    /// Names the cell that says who can end this wait from now on.
    pub(crate) fn watch(&self, holder: &Holder) {
        with_hub(|hub| {
            if let Some(Some(slot)) = hub.probes.borrow_mut().slots.get_mut(self.key) {
                *slot = Some(holder.clone());
            }
        });
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = super::try_with_hub(|hub| {
            let mut probes = hub.probes.borrow_mut();
            if let Some(slot) = probes.slots.get_mut(self.key).and_then(Option::take) {
                drop(slot);
                probes.free.push(self.key);
            }
        });
    }
}

impl Hub {
    /// Like [`Hub::remote_waker`], for a wait whose waker is found only by
    /// a primitive that names its holder through the returned [`Probe`]:
    /// the remote waker holds the hub weakly, so it does not count as a
    /// possible wake-up in the deadlock check; the probe does instead.
    pub(crate) fn probed_remote_waker(&self, waker: &Waker) -> (RemoteWaker, RemoteSlot, Probe) {
        let (mut remote, slot) = self.remote_waker(waker);
        remote.shared = SharedRef::Weak(Arc::downgrade(&self.shared));
        let probe = Probe { key: self.probes.borrow_mut().insert() };
        (remote, slot, probe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_differ_between_threads_and_are_never_any_thread() {
        let here = thread_mark();
        assert_ne!(here, ANY_THREAD);
        assert_eq!(here, thread_mark());
        let there = std::thread::spawn(thread_mark).join().unwrap();
        assert_ne!(here, there);
    }

    #[test]
    fn probes_vote_for_a_deadlock_only_when_all_name_this_thread() {
        let mut probes = Probes::default();
        assert!(probes.all_local(), "no probe: nothing to object");
        let a = probes.insert();
        assert!(!probes.all_local(), "a probe with no holder named could be woken by anyone");
        let holder: Holder = Arc::new(AtomicUsize::new(thread_mark()));
        probes.slots[a] = Some(Some(holder.clone()));
        assert!(probes.all_local());
        holder.store(ANY_THREAD, Ordering::Relaxed);
        assert!(!probes.all_local());
    }
}
