//! The lock word behind the green `Mutex` and `RwLock`: atomics on the
//! fast path, a FIFO of parked greenlets only under contention.
//!
//! # The state word
//!
//! - [`WRITER`]: held exclusively.
//! - [`PARKED`]: the wait queue may be non-empty; whoever releases the lock
//!   must wake the queue's front. Set and cleared only under the queue's
//!   mutex.
//! - the bits from [`READER`] up: the number of shared holders.
//!
//! # Protocol
//!
//! Acquire: a compare-and-swap. Exclusive access is taken whenever the lock
//! is free (barging, as `std`'s mutex does: better throughput than strict
//! hand-off); shared access is refused while greenlets are queued, so that
//! readers cannot starve a waiting writer (as `std`'s `try_read`).
//!
//! Contended: lock the queue mutex, set `PARKED` with a read-modify-write
//! and look at the state it returns. If the lock was free meanwhile (and,
//! for a newcomer, nobody is queued), retry instead of parking — the
//! releaser may have missed `PARKED`. Otherwise queue and park. Since the
//! releaser's unlock and our `fetch_or` are read-modify-writes of the same
//! word, one of us sees the other: either we see the lock free, or the
//! releaser sees `PARKED` and wakes the front (taking the queue mutex after
//! we released it, so our entry is there).
//!
//! Release: clear our bit; if `PARKED` was set (and, for the last reader,
//! no reader is left), pop the front waiter — with the readers that follow
//! it, if it is a reader — and wake them (still under the queue mutex; a
//! waiter whose hub is gone is skipped for the next), then clear `PARKED`
//! if the queue is now empty. A woken waiter retries, ignoring `PARKED`, and queues again at
//! the front if it lost a race to a barging writer. A woken waiter that is
//! killed or times out before acquiring passes the wake-up on.
//!
//! # Who holds it, for the deadlock check
//!
//! An exclusive holder stores its thread's mark in `owner` right after
//! acquiring and clears it right before releasing. Waiters share a holder
//! cell kept in the queue (made from `owner` by the first one to queue):
//! a releaser that wakes the front sets it to "any thread" (the next holder
//! is not known yet), and a writer that acquires while waiters are queued
//! (`PARKED`) writes its mark there. So the cell names a thread only while
//! a greenlet of that thread holds the lock exclusively, and a hub whose
//! greenlets all wait for locks held by its own stuck greenlets can report
//! "would block forever" (see `hub/probe.rs`). Readers are not tracked:
//! while the lock is read-held the cell says "any thread".
//!
//! Downgrade (a write guard becoming a read guard): one `fetch_add` turns
//! `WRITER` into one reader, so the lock is never free in between; if
//! `PARKED` was set, the readers at the queue's front are woken.
//!
//! `PARKED` is never left set on an empty queue (a reader would be refused
//! with nobody to wake it): whoever empties the queue clears it under the
//! queue's mutex. A queued writer that unwinds (killed, timed out) lets the
//! readers queued right behind it in unless a writer holds the lock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::park::{Kind, Parker, WaitQueue, lock};
use crate::hub::{ANY_THREAD, thread_mark};

/// Held exclusively.
const WRITER: usize = 1;
/// The wait queue may be non-empty: a releaser must wake its front.
const PARKED: usize = 2;
/// One shared holder; the reader count is `state / READER`.
const READER: usize = 4;
/// The reader bits.
const READERS: usize = !(WRITER | PARKED);

pub(super) struct RawLock {
    state: AtomicUsize,
    /// The `thread_mark` of the exclusive holder's thread, `ANY_THREAD`
    /// when none or not known yet. Stored right after acquiring and
    /// cleared right before releasing (so a waiter that saw the lock held
    /// reads the holder's mark or `ANY_THREAD`, never an earlier holder's);
    /// read by waiters to tell their hub's deadlock check who can release.
    owner: AtomicUsize,
    queue: Mutex<WaitQueue>,
}

impl RawLock {
    pub(super) const fn new() -> RawLock {
        RawLock { state: AtomicUsize::new(0), owner: AtomicUsize::new(ANY_THREAD), queue: Mutex::new(WaitQueue::new()) }
    }

    // ----- exclusive ------------------------------------------------------

    /// Takes the lock exclusively if it is free now.
    #[inline]
    pub(super) fn try_write(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | READERS) != 0 {
                return false;
            }
            // Acquire: the holder's writes before its release are visible.
            match self.state.compare_exchange_weak(s, s | WRITER, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => {
                    self.owner.store(thread_mark(), Ordering::Relaxed);
                    if s & PARKED != 0 {
                        self.publish_owner();
                    }
                    return true;
                }
                Err(now) => s = now,
            }
        }
    }

    /// Takes the lock exclusively, parking while it is held.
    #[inline]
    pub(super) fn write(&self) {
        if self.state.compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            self.owner.store(thread_mark(), Ordering::Relaxed);
        } else {
            self.wait(Kind::Exclusive);
        }
    }

    /// Tells the queued waiters who holds the lock now (a writer that took
    /// it while they wait).
    #[cold]
    fn publish_owner(&self) {
        lock(&self.queue).set_holder(thread_mark());
    }

    #[inline]
    pub(super) fn write_unlock(&self) {
        // Sequenced before the release below: whoever acquires next, or
        // sees the lock held by them, cannot read our mark any more.
        self.owner.store(ANY_THREAD, Ordering::Relaxed);
        // Release: our writes happen-before the next holder's acquire.
        // `fetch_sub` of the bit we hold: one `lock xadd` on x86, where a
        // `fetch_and` whose result is used is a compare-and-swap loop.
        let old = self.state.fetch_sub(WRITER, Ordering::Release);
        if old & PARKED != 0 {
            self.wake_front();
        }
    }

    /// Turns the exclusive hold into one shared hold, atomically (no
    /// writer can take the lock in between), and lets in the readers
    /// queued at the front, as a release would have.
    pub(super) fn downgrade(&self) {
        self.owner.store(ANY_THREAD, Ordering::Relaxed);
        // WRITER set: `- WRITER + READER` cannot borrow or carry into the
        // PARKED bit. Release: our writes happen-before the readers'.
        let old = self.state.fetch_add(READER - WRITER, Ordering::Release);
        if old & PARKED != 0 {
            let mut queue = lock(&self.queue);
            if queue.front_kind() == Some(Kind::Shared) {
                wake_front_readers(&mut queue);
            }
            if queue.is_empty() {
                self.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
        }
    }

    // ----- shared ---------------------------------------------------------

    /// Takes the lock shared if no writer holds it and nobody is queued.
    #[inline]
    pub(super) fn try_read(&self) -> bool {
        self.try_read_inner(WRITER | PARKED)
    }

    /// `refuse`: the bits that make the attempt fail.
    fn try_read_inner(&self, refuse: usize) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & refuse != 0 || s & READERS == READERS {
                return false;
            }
            match self.state.compare_exchange_weak(s, s + READER, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    #[inline]
    pub(super) fn read(&self) {
        if !self.try_read() {
            self.wait(Kind::Shared);
        }
    }

    #[inline]
    pub(super) fn read_unlock(&self) {
        let old = self.state.fetch_sub(READER, Ordering::Release);
        if old & PARKED != 0 && old & READERS == READER {
            self.wake_front();
        }
    }

    // ----- contention -----------------------------------------------------

    fn try_kind(&self, kind: Kind, woken: bool) -> bool {
        match kind {
            Kind::Exclusive => self.try_write(),
            // A woken reader was let in by a releaser: queued waiters
            // behind it do not stop it.
            Kind::Shared if woken => self.try_read_inner(WRITER),
            Kind::Shared => self.try_read(),
        }
    }

    #[cold]
    fn wait(&self, kind: Kind) {
        let parker = Parker::probed();
        let mut woken = false;
        loop {
            if self.try_kind(kind, woken) {
                return;
            }
            let (id, holder) = {
                let mut queue = lock(&self.queue);
                let old = self.state.fetch_or(PARKED, Ordering::Acquire);
                let free = match kind {
                    Kind::Exclusive => old & (WRITER | READERS) == 0,
                    Kind::Shared => old & WRITER == 0 && (woken || queue.is_empty()),
                };
                if free {
                    if queue.is_empty() {
                        // Nobody to wake: a PARKED left set on an empty
                        // queue would refuse readers (try_read) forever.
                        self.state.fetch_and(!PARKED, Ordering::Relaxed);
                    }
                    // Else leave it set: at worst a spurious wake-up later.
                    continue;
                }
                // Only the holder can end this wait: name it (a writer's
                // thread; readers or a hand-off in progress: any thread).
                let holder = queue.holder(|| self.owner.load(Ordering::Relaxed));
                (queue.push(parker.remote(), kind, woken), holder)
            };
            parker.watch(&holder);
            let pending = Pending { lock: self, id, kind };
            parker.park(None);
            woken = pending.woken();
        }
    }

    /// Wakes the front waiter (and the readers right behind a reader),
    /// skipping waiters whose hub is gone.
    #[cold]
    fn wake_front(&self) {
        let mut queue = lock(&self.queue);
        // Handed over: the next holder is not known yet.
        queue.set_holder(ANY_THREAD);
        while let Some(first) = queue.pop_front() {
            let shared = first.kind == Kind::Shared;
            let mut landed = first.waker.wake();
            if shared {
                landed |= wake_front_readers(&mut queue);
            }
            if landed {
                break;
            }
        }
        if queue.is_empty() {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
    }
}

/// Pops and wakes the readers at the front of `queue`; returns whether a
/// wake-up landed.
fn wake_front_readers(queue: &mut WaitQueue) -> bool {
    queue.set_holder(ANY_THREAD);
    let mut landed = false;
    while queue.front_kind() == Some(Kind::Shared) {
        landed |= queue.pop_front().is_some_and(|e| e.waker.wake());
    }
    landed
}

/// A queued waiter's entry: removed if the wait ends without a wake-up
/// (spurious wake, or unwinding); a wake-up received but not used is
/// passed on when unwinding.
struct Pending<'a> {
    lock: &'a RawLock,
    id: u64,
    kind: Kind,
}

impl Pending<'_> {
    /// After a wake-up: whether a releaser popped us (else the wake-up was
    /// spurious and we leave the queue to re-register).
    fn woken(self) -> bool {
        let removed = {
            let mut queue = lock(&self.lock.queue);
            let removed = queue.remove(self.id);
            if removed && queue.is_empty() {
                // Nobody left to wake; a stale PARKED only costs a
                // spurious pass through `wake_front`.
                self.lock.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
            removed
        };
        std::mem::forget(self);
        !removed
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        // Unwinding out of `park` (killed, timed out): leave no trace.
        let popped = {
            let mut queue = lock(&self.lock.queue);
            let removed = queue.remove(self.id);
            if removed
                && self.kind == Kind::Exclusive
                && queue.front_kind() == Some(Kind::Shared)
                && self.lock.state.load(Ordering::Relaxed) & WRITER == 0
            {
                // Readers queued behind this writer only waited for it
                // (no writer holds the lock): let them in now, as they
                // would have been had it never queued. One that loses a
                // race to a barging writer queues again at the front.
                wake_front_readers(&mut queue);
            }
            if removed && queue.is_empty() {
                // A PARKED left on an empty queue would refuse readers.
                self.lock.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
            !removed
        };
        if popped {
            // Woken, but will not take the lock: pass the wake-up on.
            self.lock.wake_front();
        }
    }
}
