//! The hub loop: finish the iteration, take remote requests, fire timers,
//! poll for I/O (or report a deadlock), and the shutdown at thread exit.

use std::panic;
use std::time::{Duration, Instant};

use super::{Hub, with_hub};
use super::{RemoteOp, TimerAction};
use crate::greenlet::{Fiber, GreenletRef, Interrupt, Sched, same};

impl Hub {
    fn run_loop(&self) {
        while !self.exiting.get() {
            // Finish the current iteration: the loop is also entered in the
            // middle of one (a greenlet that ends always switches here, and
            // greenlets start iterations inline).
            while let Some(next) = self.pop_ready() {
                self.looper.header().sched.set(Sched::Parked);
                self.switch_to(&self.looper, next);
                self.reap();
            }
            if self.exiting.get() {
                break;
            }
            if self.shared.has_pending() {
                self.drain_remote();
            }
            self.forget_unwinding();
            self.fire_timers();
            self.poll_io();
            self.ready.borrow_mut().begin_iteration();
        }
    }

    /// Processes requests from other threads now, if there are any (they
    /// only queue greenlets and wake-ups; nothing runs here).
    pub(crate) fn drain_remote_now(&self) {
        if self.shared.has_pending() {
            self.drain_remote();
        }
    }

    fn drain_remote(&self) {
        let mut ops = std::mem::take(&mut *self.remote_ops.borrow_mut());
        self.shared.take(&mut ops);
        for op in ops.drain(..) {
            match op {
                RemoteOp::Spawn(f) => {
                    if let Err((e, f)) = crate::greenthread::spawn_remote(self, f) {
                        // Its destructor may park, which the loop cannot:
                        // a pool thread drops it (the last resort, with no
                        // pool thread at all, is here, panics caught).
                        let place = match crate::tpool::drop_on_pool(f) {
                            Ok(()) => "on a thread-pool thread",
                            Err(job) => {
                                let _ = panic::catch_unwind(panic::AssertUnwindSafe(job));
                                "in the hub loop (no thread-pool thread could start)"
                            }
                        };
                        log::error!(
                            target: "guv::hub",
                            "a greenlet sent from another thread could not start: {e}; its closure is dropped {place}"
                        );
                    }
                }
                RemoteOp::Forget { fd, generation } => self.io.forget_entry(fd, generation),
                RemoteOp::Wake { slot, token } => {
                    self.wake_remote_parked(slot, token);
                }
            }
        }
        *self.remote_ops.borrow_mut() = ops;
    }

    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = Instant::now();
        loop {
            let action = self.timers.borrow_mut().pop_expired(now);
            let Some(action) = action else { break };
            match action {
                TimerAction::Wake(w) => {
                    if w.is_current() {
                        w.g.header().timed_out.set(true);
                        self.wake(&w);
                    }
                }
                TimerAction::Start(g) => {
                    let h = g.header();
                    h.start_timer.set(None);
                    if h.sched.get() == Sched::Delayed {
                        h.sched.set(Sched::Ready);
                        self.ready.borrow_mut().push(g);
                    }
                }
                TimerAction::Interrupt(g, interrupt) => self.interrupt(&g, interrupt),
            }
        }
    }

    fn poll_io(&self) {
        let mut watch = false;
        let timeout = if self.ready.borrow().has_next() {
            if !self.io_poll_due() {
                return;
            }
            Some(Duration::ZERO)
        } else {
            let next = self.timers.borrow_mut().next_deadline();
            match next {
                Some(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
                None => {
                    // If only keepers (handles other threads may use) stop
                    // the deadlock check, the last one's drop must wake
                    // this sleep: ask for that before the check (see
                    // `Shared::watch`).
                    watch = self.may_deadlock();
                    if watch {
                        self.shared.watch(true);
                        if self.is_deadlocked() {
                            self.shared.watch(false);
                            self.interrupt(&self.main, Interrupt::Deadlock);
                            return;
                        }
                    }
                    None
                }
            }
        };
        self.ticks.set(0);
        self.io.poll(self, timeout);
        if watch {
            self.shared.watch(false);
        }
    }

    /// Main waits and no local I/O waiter could end a wait: the state in
    /// which [`Hub::is_deadlocked`] may find a deadlock.
    fn may_deadlock(&self) -> bool {
        self.main.header().sched.get() == Sched::Parked && self.io.waiting() == 0
    }

    /// Nothing can ever make a greenlet ready again, and main waits. Weak
    /// remote wakers do not count; their probes must all say that only
    /// this thread could end their waits.
    fn is_deadlocked(&self) -> bool {
        // `has_keepers` acquires: a keeper dropped on another thread right
        // after a push makes that push visible to the `pending` read below.
        self.may_deadlock()
            && !self.shared.has_keepers()
            && !self.shared.has_pending()
            && self.probes.borrow().all_local()
    }

    /// Called from the thread-local destructor, on the main greenlet: ends
    /// the loop so that its stack can be unmapped.
    pub(super) fn shutdown(&self) {
        // What never ran goes inside the thread-local destructor, where the
        // hub is out of reach: a destructor among the captures that uses it
        // panics, and that must end only that destructor, not the process.
        let unrun = self.shared.close();
        let _ = panic::catch_unwind(panic::AssertUnwindSafe(move || drop(unrun)));
        self.exiting.set(true);
        self.ready.borrow_mut().abandon_iteration();
        if self.looper.header().fiber.is_fresh() {
            drop(self.looper.header().fiber.retire());
        } else if same(&self.current(), &self.main) {
            self.main.header().sched.set(Sched::Parked);
            self.switch_to(&self.main, self.looper.clone());
            self.reap();
        }
        // Greenlets that never started hold no frames: they end here (their
        // links do not run: the thread is going away), so that they do not
        // keep the hub alive as if they were suspended.
        let queued: Vec<GreenletRef> = {
            let mut ready = self.ready.borrow_mut();
            ready.now = 0;
            ready.queue.drain(..).collect()
        };
        let timed = self.timers.borrow_mut().drain();
        let fresh = queued.into_iter().chain(timed.into_iter().filter_map(|action| match action {
            TimerAction::Start(g) => Some(g),
            _ => None,
        }));
        for g in fresh {
            let h = g.header();
            if h.fiber.is_fresh() && h.sched.get() != Sched::Done {
                h.sched.set(Sched::Done);
                drop(h.fiber.retire());
                self.uncount(h);
            }
            // Its closure may go with it (see above).
            let _ = panic::catch_unwind(panic::AssertUnwindSafe(move || drop(g)));
        }
        Fiber::clear_current();
    }
}

/// The loop greenlet's body.
pub(crate) fn run_loop() {
    with_hub(|hub| hub.run_loop());
}
