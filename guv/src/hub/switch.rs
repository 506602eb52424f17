//! Switching: the ready queue split by loop iteration, who runs next,
//! yielding, and starting the next iteration inline.

use std::collections::VecDeque;
use std::panic;
use std::time::Instant;

use super::interrupt::deliver_interrupt;
use super::{EVENT_INTERVAL, Hub};
use crate::greenlet::{GreenletRef, Kind, Resume, Sched, same};

/// The ready queue (FIFO) and the current loop iteration's snapshot of
/// it: the first `now` entries were ready when the iteration began and run
/// in it; everything made ready meanwhile queues behind them and waits for
/// the next iteration.
#[derive(Default)]
pub(super) struct RunQueue {
    pub(super) queue: VecDeque<GreenletRef>,
    /// Entries at the front that belong to the current iteration.
    pub(super) now: usize,
}

impl RunQueue {
    #[inline]
    pub(super) fn push(&mut self, g: GreenletRef) {
        self.queue.push_back(g);
    }

    /// Takes the next entry of the current iteration.
    #[inline]
    fn pop_now(&mut self) -> Option<GreenletRef> {
        if self.now == 0 {
            return None;
        }
        self.now -= 1;
        self.queue.pop_front()
    }

    /// Whether something waits for the next iteration.
    #[inline]
    pub(super) fn has_next(&self) -> bool {
        self.queue.len() > self.now
    }

    /// Starts an iteration: what is ready now is its snapshot.
    #[inline]
    pub(super) fn begin_iteration(&mut self) {
        debug_assert_eq!(self.now, 0, "an iteration began before the last one ended");
        self.now = self.queue.len();
    }

    /// Ends the current iteration early (shutdown); its entries stay first.
    pub(super) fn abandon_iteration(&mut self) {
        self.now = 0;
    }
}

impl Hub {
    /// Takes the next greenlet of the current iteration, if any is left.
    #[inline(always)]
    pub(super) fn pop_ready(&self) -> Option<GreenletRef> {
        self.pop_now(&mut self.ready.borrow_mut())
    }

    /// Leaves `cur` (whose state the caller has set) for the next ready
    /// greenlet of this iteration, or for the loop.
    #[inline(always)]
    pub(super) fn switch_away(&self, cur: &GreenletRef) {
        let next = match self.pop_ready() {
            Some(g) => g,
            None => match self.next_iteration_inline() {
                Some(g) => g,
                None => self.looper.clone(),
            },
        };
        self.switch_to(cur, next);
    }

    /// Starts the next loop iteration without switching to the loop, when
    /// steps 2-4 have nothing to do: no remote request, no timer due, no I/O
    /// poll owed. Saves two switches per iteration for greenlets that only
    /// yield to each other; the order of events is exactly the loop's.
    fn next_iteration_inline(&self) -> Option<GreenletRef> {
        if !self.ready.borrow().has_next() || !self.inline_iteration_ok() {
            return None;
        }
        self.ready.borrow_mut().begin_iteration();
        self.pop_ready()
    }

    /// Whether steps 2-4 of a loop iteration have nothing to do now, so that
    /// the next iteration may start without the loop: no remote request, no
    /// I/O poll owed, no timer due.
    #[inline(always)]
    fn inline_iteration_ok(&self) -> bool {
        if self.shared.has_pending() || self.io_poll_due() || self.unwinding_to_forget() {
            return false;
        }
        self.timers.borrow().is_empty() || !self.timer_due()
    }

    /// Whether the earliest timer has expired.
    fn timer_due(&self) -> bool {
        let next = self.timers.borrow_mut().next_deadline();
        next.is_some_and(|deadline| deadline <= Instant::now())
    }

    /// Whether a non-blocking poll is owed: greenlets wait for I/O and
    /// [`EVENT_INTERVAL`] greenlets have run since the last poll.
    pub(super) fn io_poll_due(&self) -> bool {
        self.ticks.get() >= EVENT_INTERVAL && self.io.waiting() > 0
    }

    #[inline(always)]
    pub(super) fn switch_to(&self, cur: &GreenletRef, next: GreenletRef) {
        if same(cur, &next) {
            cur.header().sched.set(Sched::Running);
            return;
        }
        next.header().sched.set(Sched::Running);
        drop(self.current.replace(next.clone()));
        cur.header().fiber.switch(&next.header().fiber);
    }

    #[inline]
    pub(super) fn refuse_in_loop(&self, cur: &GreenletRef, what: &str) {
        if cur.header().kind == Kind::Loop {
            refused_in_loop(what);
        }
    }

    /// Moves the running greenlet to the back of the ready queue and runs
    /// the others first.
    #[inline(always)]
    pub(crate) fn gyield(&self) {
        finish_yield(self.yield_prepare());
    }

    /// Everything [`Hub::gyield`] does before its jump: queues the running
    /// greenlet, picks the next one (as [`Hub::switch_away`] would, inline
    /// iteration included) and makes it current. Returns the running
    /// greenlet, and what to jump to unless it runs on at once.
    ///
    /// The queue takes the running greenlet's reference from `current`,
    /// which takes the next one's from the queue: one reference count is
    /// touched per yield (the caller's own, which keeps its header alive
    /// across the jump).
    #[inline(never)]
    pub(crate) fn yield_prepare(&self) -> (GreenletRef, Option<Resume>) {
        // Borrowed throughout: nothing below runs user code (a greenlet
        // skipped in the queue was cancelled before it started, so dropping
        // it drops no closure, and timers only drop stale heap entries).
        let mut current = self.current.borrow_mut();
        let cur = current.clone();
        self.refuse_in_loop(&cur, "gyield()");
        cur.header().sched.set(Sched::Ready);
        let mut ready = self.ready.borrow_mut();
        let next = match self.pop_now(&mut ready) {
            Some(g) => g,
            // The iteration is over; `cur` queues for the next one, which
            // starts here if steps 2-4 of the loop have nothing to do.
            None if self.inline_iteration_ok() => {
                // Its snapshot: the queue, then `cur` (pushed below).
                ready.begin_iteration();
                match self.pop_now(&mut ready) {
                    Some(g) => {
                        ready.now += 1;
                        g
                    }
                    None => {
                        // `cur` was alone (the snapshot is used up): it runs
                        // on, and counts as run.
                        self.ticks.set(self.ticks.get().wrapping_add(1));
                        cur.header().sched.set(Sched::Running);
                        return (cur, None);
                    }
                }
            }
            None => self.looper.clone(),
        };
        next.header().sched.set(Sched::Running);
        let to = next.header().fiber.prepare_resume();
        ready.push(std::mem::replace(&mut *current, next));
        (cur, Some(to))
    }

    /// Takes the next greenlet of the current iteration, if any is left
    /// ([`Hub::pop_ready`] with the queue already borrowed).
    #[inline(always)]
    fn pop_now(&self, ready: &mut RunQueue) -> Option<GreenletRef> {
        while let Some(g) = ready.pop_now() {
            // Cancelled while queued: skip.
            if g.header().sched.get() == Sched::Ready {
                self.ticks.set(self.ticks.get().wrapping_add(1));
                return Some(g);
            }
        }
        None
    }
}

/// The rest of a yield after [`Hub::yield_prepare`]: the jump, then the
/// interrupt check once the greenlet runs again.
///
/// Inlined into `guv::gyield`'s caller (the bookkeeping before it is one
/// out-of-line call), so that the greenlet resumes in its own frame and no
/// return follows the jump: each such return would mispredict, since the
/// return-address predictor still holds the other greenlet's caller.
#[inline(always)]
pub(crate) fn finish_yield((cur, to): (GreenletRef, Option<Resume>)) {
    if let Some(to) = to {
        cur.header().fiber.switch_into(to);
    }
    deliver_interrupt(cur.header());
}

#[cold]
#[inline(never)]
fn refused_in_loop(what: &str) -> ! {
    panic!("guv: {what} was called from the hub loop itself (from a destructor the hub ran?)");
}
