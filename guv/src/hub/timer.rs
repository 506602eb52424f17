//! The hub's timers: a binary heap of deadlines over a slab of actions.
//!
//! Cancelling removes the action from the slab and leaves a stale heap entry
//! behind, skipped when it reaches the top; when stale entries outnumber live
//! ones the heap is rebuilt, so a server that arms and cancels an I/O timeout
//! per request does not grow the heap without bound.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::greenlet::{GreenletRef, Interrupt};
use crate::hub::Waker;

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    /// End a timed wait: mark the wait as timed out and wake the greenlet.
    Wake(Waker),
    /// Start a greenlet spawned with `spawn_after`.
    Start(GreenletRef),
    /// Interrupt a greenlet (an expired `Timeout`).
    Interrupt(GreenletRef, Interrupt),
}

/// Names a pending timer, to cancel it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TimerKey {
    slot: usize,
    seq: u64,
}

struct Slot {
    seq: u64,
    action: Option<TimerAction>,
}

/// Rebuild the heap once it holds this many more entries than live timers
/// (and more than twice as many).
const COMPACT_SLACK: usize = 1024;

#[derive(Default)]
pub(crate) struct Timers {
    /// `(deadline, seq, slot)`: ties fire in insertion order.
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
    next_seq: u64,
}

impl Timers {
    /// Schedules `action` for `deadline`.
    pub(crate) fn add(&mut self, deadline: Instant, action: TimerAction) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Slot { seq, action: Some(action) };
                slot
            }
            None => {
                self.slots.push(Slot { seq, action: Some(action) });
                self.slots.len() - 1
            }
        };
        self.live += 1;
        self.heap.push(Reverse((deadline, seq, slot)));
        TimerKey { slot, seq }
    }

    /// Cancels a pending timer; returns its action if it had not fired.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<TimerAction> {
        let slot = self.slots.get_mut(key.slot)?;
        if slot.seq != key.seq {
            return None;
        }
        let action = slot.action.take()?;
        self.live -= 1;
        self.free.push(key.slot);
        if self.heap.len() > COMPACT_SLACK + 2 * self.live {
            self.compact();
        }
        Some(action)
    }

    /// Whether the timer behind `key` is still pending.
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.slots.get(key.slot).is_some_and(|s| s.seq == key.seq && s.action.is_some())
    }

    /// Removes every pending timer and returns their actions.
    pub(crate) fn drain(&mut self) -> Vec<TimerAction> {
        self.heap.clear();
        self.free.clear();
        self.live = 0;
        self.slots.drain(..).filter_map(|slot| slot.action).collect()
    }

    /// How many timers are pending.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Whether no timer is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale_top();
        self.heap.peek().map(|Reverse((deadline, _, _))| *deadline)
    }

    /// Removes and returns the earliest action due at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<TimerAction> {
        self.drop_stale_top();
        let Reverse((deadline, _, slot)) = *self.heap.peek()?;
        if deadline > now {
            return None;
        }
        self.heap.pop();
        self.live -= 1;
        self.free.push(slot);
        self.slots[slot].action.take()
    }

    fn is_live(&self, seq: u64, slot: usize) -> bool {
        let s = &self.slots[slot];
        s.seq == seq && s.action.is_some()
    }

    fn drop_stale_top(&mut self) {
        while let Some(&Reverse((_, seq, slot))) = self.heap.peek() {
            if self.is_live(seq, slot) {
                return;
            }
            self.heap.pop();
        }
    }

    fn compact(&mut self) {
        let heap = std::mem::take(&mut self.heap);
        self.heap = heap.into_iter().filter(|Reverse((_, seq, slot))| self.is_live(*seq, *slot)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn start_key(t: &mut Timers, at: Instant) -> TimerKey {
        // Any action will do for ordering tests; `Wake` needs a greenlet, so
        // use an interrupt on a dummy we never run.
        t.add(at, TimerAction::Interrupt(dummy(), Interrupt::Kill))
    }

    fn dummy() -> GreenletRef {
        crate::hub::with_hub(|hub| hub.main_ref())
    }

    #[test]
    fn fires_in_deadline_then_insertion_order_and_skips_cancelled() {
        let mut t = Timers::default();
        let now = Instant::now();
        let late = start_key(&mut t, now + Duration::from_millis(20));
        let early = start_key(&mut t, now + Duration::from_millis(10));
        let tie = start_key(&mut t, now + Duration::from_millis(10));
        assert!(t.cancel(early).is_some());
        assert!(t.cancel(early).is_none(), "a timer cancels once");
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        assert!(t.pop_expired(now).is_none(), "nothing is due yet");
        assert!(t.pop_expired(now + Duration::from_millis(15)).is_some());
        assert!(t.cancel(tie).is_none(), "fired timers cannot be cancelled");
        assert!(t.pop_expired(now + Duration::from_millis(15)).is_none());
        assert!(t.pop_expired(now + Duration::from_millis(25)).is_some());
        assert!(t.is_empty());
        assert!(t.cancel(late).is_none());
    }

    #[test]
    fn cancelled_entries_are_compacted() {
        let mut t = Timers::default();
        let at = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10 * COMPACT_SLACK {
            let k = start_key(&mut t, at);
            t.cancel(k);
        }
        assert!(t.heap.len() <= COMPACT_SLACK + 1, "heap holds {} stale entries", t.heap.len());
        assert!(t.is_empty());
    }
}
