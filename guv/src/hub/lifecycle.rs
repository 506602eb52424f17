//! Greenlets' lives on the hub: fibers on pooled stacks, starting, cancelling
//! and ending greenlets, and recycling their stacks and nodes.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::TimerAction;
use super::{Hub, SPARE_NODES, with_hub};
use crate::greenlet::{Body, Fiber, GreenletRef, Header, Kind, Node, Sched, exit_into, normalize_size};

impl Hub {
    /// A fiber for a new greenlet, on a pooled or new stack.
    pub(crate) fn new_fiber(&self, name: Option<Box<str>>, stack_size: Option<usize>) -> io::Result<Fiber> {
        let size = match stack_size {
            Some(n) => normalize_size(n)?,
            None => self.stacks.borrow().size(),
        };
        let stack = self.stacks.borrow_mut().get(size)?;
        Ok(Fiber::new(stack, greenlet_entry, self.fresh_id(), name))
    }

    /// The next greenlet id, used by no greenlet of this hub yet.
    pub(crate) fn fresh_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// Schedules a new greenlet now, or after `delay`.
    pub(crate) fn start(&self, g: GreenletRef, delay: Option<Duration>) {
        let h = g.header();
        self.live.set(self.live.get() + 1);
        h.counted.set(true);
        self.track.spawned(h);
        match delay {
            None => {
                h.sched.set(Sched::Ready);
                self.ready.borrow_mut().push(g);
            }
            Some(delay) => {
                h.sched.set(Sched::Delayed);
                // A delay too long to represent never elapses.
                if let Some(deadline) = Instant::now().checked_add(delay) {
                    let key = self.timers.borrow_mut().add(deadline, TimerAction::Start(g.clone()));
                    h.start_timer.set(Some(key));
                }
            }
        }
    }

    /// Sets the default stack size of greenlets spawned from now on.
    pub(crate) fn set_stack_size(&self, size: usize) -> io::Result<()> {
        let size = normalize_size(size)?;
        self.stacks.borrow_mut().set_size(size);
        Ok(())
    }

    pub(crate) fn stack_size(&self) -> usize {
        self.stacks.borrow().size()
    }

    /// Ends the running greenlet `me` and switches to the loop (or, for the
    /// loop itself at shutdown, to the main greenlet).
    fn exit_current(&self, me: GreenletRef) -> ! {
        let to = if me.header().kind == Kind::Loop { &self.main } else { &self.looper };
        self.uncount(me.header());
        self.unwound(me.header());
        me.header().sched.set(Sched::Done);
        to.header().sched.set(Sched::Running);
        drop(self.current.replace(to.clone()));
        exit_into(me, |g| &g.header().fiber, &self.zombie, &to.header().fiber)
    }

    /// Recycles the stack of a greenlet that just ended, and its node if
    /// nothing else refers to it.
    pub(super) fn reap(&self) {
        let Some(mut zombie) = self.zombie.take() else { return };
        if let Some(stack) = zombie.header().fiber.retire() {
            self.stacks.borrow_mut().put(stack);
        }
        if let Some(node) = Rc::get_mut(&mut zombie) {
            // The body goes now, as it would with the node; the header
            // (finished fiber, no green-locals, no longer counted) waits.
            drop(std::mem::replace(&mut node.body, self.main.body.clone()));
            let mut spare = self.spare.borrow_mut();
            if spare.len() < SPARE_NODES {
                spare.push(zombie);
            }
        }
    }

    /// A greenlet node for `header` and `body`: a spare one when there is
    /// one, which saves an allocation per spawn.
    pub(crate) fn new_greenlet(&self, header: Header, body: Rc<dyn Body>) -> GreenletRef {
        let spare = self.spare.borrow_mut().pop();
        match spare {
            Some(mut g) => match Rc::get_mut(&mut g) {
                Some(node) => {
                    node.header = header;
                    node.body = body;
                    g
                }
                None => Rc::new(Node { header, body }),
            },
            None => Rc::new(Node { header, body }),
        }
    }

    /// Ends a greenlet that never started.
    pub(super) fn cancel(&self, g: &GreenletRef) {
        let h = g.header();
        h.sched.set(Sched::Done);
        if let Some(key) = h.start_timer.take() {
            let action = self.timers.borrow_mut().cancel(key);
            drop(action);
        }
        if let Some(stack) = h.fiber.retire() {
            self.stacks.borrow_mut().put(stack);
        }
        self.uncount(h);
        g.body.cancel();
    }

    /// Takes a greenlet out of the live count, once.
    pub(crate) fn uncount(&self, h: &Header) {
        if h.counted.replace(false) {
            self.live.set(self.live.get() - 1);
            self.track.ended(h);
        }
    }
}

/// Where every greenlet (and the loop) starts, on its own stack.
pub(super) fn greenlet_entry() -> ! {
    with_hub(|hub| {
        let me = hub.current();
        me.body.run(&me.header);
        // The body dropped its green-locals before publishing its result;
        // this drops those its links made, on its own stack, before its
        // last switch.
        me.header.locals.drop_all();
        hub.exit_current(me)
    });
    unreachable!("guv internal error: a greenlet returned past its exit")
}
