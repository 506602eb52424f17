//! Interrupts and unwinding: kills and `Timeout`s delivered at a greenlet's
//! next switch, and which greenlet a panic in flight belongs to (the panic
//! hook marks it).

use std::panic;
use std::sync::Once;

use super::{Hub, try_with_hub, with_hub};
use crate::greenlet::{GreenletRef, Header, Interrupt, KillSignal, Kind, Sched, TimeoutSignal, same};

/// `std::thread::panicking()` for the running greenlet: whether *it* is
/// unwinding, not some other greenlet of its thread parked mid-unwind (see
/// [`Hub::is_unwinding`]). On a thread without a hub, std's answer.
pub(crate) fn panicking() -> bool {
    if !std::thread::panicking() {
        return false;
    }
    try_with_hub(|hub| match hub.current.try_borrow() {
        Ok(cur) => hub.is_unwinding(cur.header()),
        Err(_) => true,
    })
    .unwrap_or(true)
}

/// `std::panic::resume_unwind` for a payload the running greenlet re-raises
/// (one it caught, or a pool thread's panic): marks the greenlet as
/// unwinding first (see [`Hub::is_unwinding`]). `resume_unwind` skips the
/// panic hook that marks panics, and a mark made when the payload was
/// first raised is gone if the greenlet was seen with no panic in flight
/// since (it parked after catching). Unmarked while another greenlet is
/// parked mid-unwind, it would look not to be unwinding, and a kill could
/// be delivered into its cleanup, aborting the process.
pub(crate) fn resume_unwind(payload: Box<dyn std::any::Any + Send>) -> ! {
    try_with_hub(|hub| {
        if let Ok(cur) = hub.current.try_borrow() {
            hub.mark_unwinding(cur.header());
        }
    });
    panic::resume_unwind(payload)
}

/// Whether the running greenlet holds an interrupt (a kill, a `Timeout`)
/// that it keeps pending because it is unwinding: a wait in its
/// destructors that may give up (`killall`'s, parked with
/// [`Hub::park_or_give_up`]) gives up then, as a second kill would cut it
/// short if it could be raised. A deadlock report kept so (the main
/// greenlet, unwinding, would wait for ever) is taken: the wait that gives
/// up is its answer, and it must not hit a later wait that can end.
pub(crate) fn interrupt_kept() -> bool {
    with_hub(|hub| {
        let cur = hub.current();
        let h = cur.header();
        let kept = h.interrupt.get().is_some() && hub.is_unwinding(h);
        if kept && h.interrupt.get() == Some(Interrupt::Deadlock) {
            h.interrupt.set(None);
        }
        kept
    })
}

/// [`Hub::kills_land`] on this thread's hub (true without one).
pub(crate) fn kills_land() -> bool {
    try_with_hub(Hub::kills_land).unwrap_or(true)
}

impl Hub {
    /// Makes `g` deliver `interrupt` at its next switch, waking it if parked.
    pub(crate) fn interrupt(&self, g: &GreenletRef, interrupt: Interrupt) {
        let h = g.header();
        match h.sched.get() {
            Sched::Done | Sched::Delayed => {}
            Sched::Parked => {
                h.post_interrupt(interrupt);
                h.sched.set(Sched::Ready);
                self.ready.borrow_mut().push(g.clone());
            }
            Sched::Ready | Sched::Running => h.post_interrupt(interrupt),
        }
    }

    /// Kills `target`: a greenlet that never started is cancelled at once;
    /// a started one unwinds at its next switch, and the caller yields so
    /// that it does so before the caller goes on. Killing the running
    /// greenlet unwinds it now.
    ///
    /// A caller that is itself unwinding (a destructor killing helper
    /// greenlets while a kill, `Timeout` or panic unwinds it) yields too,
    /// so that a kill cascades through drop guards before the killed
    /// greenlet is seen ended: the target, not marked as unwinding, gets
    /// its kill. Only when the panic in flight is one guv cannot attribute
    /// (no greenlet marked, see [`Hub::is_unwinding`]) does the caller not
    /// yield, since a target resumed then would have to assume the panic
    /// is its own and keep its kill pending; it runs once the caller has
    /// finished unwinding instead.
    pub(crate) fn kill(&self, target: &GreenletRef) {
        let h = target.header();
        match h.sched.get() {
            Sched::Done => {}
            Sched::Delayed | Sched::Ready if h.fiber.is_fresh() => self.cancel(target),
            Sched::Running => {
                if self.is_unwinding(h) {
                    h.post_interrupt(Interrupt::Kill);
                } else {
                    self.mark_unwinding(h);
                    panic::resume_unwind(Box::new(KillSignal));
                }
            }
            Sched::Parked | Sched::Ready | Sched::Delayed => {
                self.interrupt(target, Interrupt::Kill);
                if self.kills_land() {
                    self.gyield();
                }
            }
        }
    }

    /// Whether a greenlet resumed now would get a kill posted to it: yes,
    /// unless a panic is in flight that no greenlet is marked for (then
    /// [`Hub::is_unwinding`] takes it to be every greenlet's own).
    pub(crate) fn kills_land(&self) -> bool {
        !std::thread::panicking() || self.unwinding.get() > 0
    }

    /// Whether the greenlet `h` (running, or being resumed) is unwinding.
    ///
    /// Rust counts panics per OS thread, not per greenlet: while one
    /// greenlet unwinds and parks in a destructor, `thread::panicking()` is
    /// true for every greenlet of the thread. So guv marks the greenlet an
    /// unwinding belongs to — when it delivers a kill or `Timeout`, and in
    /// its panic hook for panics — and a mark is dropped as soon as that
    /// greenlet is seen with no panic in flight, or ends, or a loop
    /// iteration starts with none in flight ([`Hub::forget_unwinding`]).
    /// A panic in flight
    /// that no greenlet is marked for (guv's panic hook was replaced) is
    /// taken to be `h`'s own: the safe answer, as an interrupt delivered
    /// into a greenlet that is unwinding would abort the process.
    pub(crate) fn is_unwinding(&self, h: &Header) -> bool {
        if !std::thread::panicking() {
            self.unwound(h);
            return false;
        }
        self.is_marked(h) || self.unwinding.get() == 0
    }

    /// Whether `h` carries a mark of the current epoch.
    fn is_marked(&self, h: &Header) -> bool {
        h.unwinding.get() == self.epoch.get()
    }

    /// Marks `h` as unwinding.
    pub(crate) fn mark_unwinding(&self, h: &Header) {
        if !self.is_marked(h) {
            h.unwinding.set(self.epoch.get());
            self.unwinding.set(self.unwinding.get() + 1);
        }
    }

    /// Drops `h`'s unwinding mark.
    pub(crate) fn unwound(&self, h: &Header) {
        if self.is_marked(h) {
            self.unwinding.set(self.unwinding.get() - 1);
        }
        h.unwinding.set(0);
    }

    /// Whether [`Hub::forget_unwinding`] has something to do.
    #[inline(always)]
    pub(super) fn unwinding_to_forget(&self) -> bool {
        (self.unwinding.get() > 0 || self.any_deferred.get()) && !std::thread::panicking()
    }

    /// Between loop iterations, with no panic in flight on the thread: no
    /// greenlet is unwinding. A mark left on a greenlet that caught its
    /// own unwinding (`catch_unwind`, a caught `Timeout`) while another
    /// greenlet was parked mid-unwind could not be dropped then (a panic
    /// was in flight all along); it is dropped now, or the greenlet would
    /// keep every later kill pending as if it were still unwinding. The
    /// greenlets that did keep an interrupt pending meanwhile are woken to
    /// take it: parked, they would otherwise only see it once woken for
    /// their own reasons (a killed greenlet sleeping forever never).
    pub(super) fn forget_unwinding(&self) {
        if !self.unwinding_to_forget() {
            return;
        }
        self.epoch.set(self.epoch.get() + 1);
        self.unwinding.set(0);
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        self.any_deferred.set(false);
        for g in deferred {
            if let Some(interrupt) = g.header().interrupt.get() {
                self.interrupt(&g, interrupt);
            }
        }
    }

    /// Records that the running greenlet `g` keeps its pending interrupt
    /// (it looks unwinding), for [`Hub::forget_unwinding`].
    fn defer_interrupt(&self, g: GreenletRef) {
        let mut deferred = self.deferred.borrow_mut();
        if !deferred.iter().any(|d| same(d, &g)) {
            deferred.push(g);
            self.any_deferred.set(true);
        }
    }
}

/// Raises a pending interrupt in the running greenlet.
#[inline(always)]
pub(super) fn deliver_interrupt(h: &Header) {
    if h.interrupt.get().is_some() {
        deliver_interrupt_slow(h);
    }
}

/// A greenlet that is already unwinding keeps its interrupt pending: a
/// second unwind would abort.
#[cold]
fn deliver_interrupt_slow(h: &Header) {
    let Some(interrupt) = h.interrupt.get() else {
        return;
    };
    if with_hub(|hub| hub.is_unwinding(h)) {
        if let Some(id) = h.take_nested_timeout() {
            // Caught by its `with_timeout`, inside the destructor that runs
            // during this unwinding; the greenlet stays marked as unwinding.
            panic::resume_unwind(Box::new(TimeoutSignal(id)));
        }
        if interrupt == Interrupt::Deadlock && !with_hub(|hub| hub.main_may_give_up.get()) {
            eprintln!("guv: fatal: the main greenlet would block forever while unwinding from a panic");
            std::process::abort();
        }
        with_hub(|hub| hub.defer_interrupt(hub.current()));
        return;
    }
    h.interrupt.set(None);
    if interrupt != Interrupt::Deadlock {
        // A deadlock report is a panic: the hook marks it.
        with_hub(|hub| hub.mark_unwinding(h));
    }
    match interrupt {
        Interrupt::Kill => panic::resume_unwind(Box::new(KillSignal)),
        Interrupt::Timeout(id) => panic::resume_unwind(Box::new(TimeoutSignal(id))),
        Interrupt::Deadlock => panic!(
            "guv: this operation would block forever: the main greenlet is waiting and no \
             ready greenlet, timer, I/O wait or remote handle can ever wake it"
        ),
    }
}

/// Installs the panic hook that names greenlets (once per process).
pub(super) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // Some(None): a greenlet panicked and reports are off.
            let context = try_with_hub(|hub| {
                let cur = hub.current.try_borrow().ok()?;
                let h = cur.header();
                // The unwinding that follows is this greenlet's.
                hub.mark_unwinding(h);
                matches!(h.kind, Kind::Spawned | Kind::SpawnedN).then(|| hub.hub_exceptions.get().then(|| h.describe()))
            })
            .flatten();
            match context {
                None => previous(info),
                Some(None) => {}
                Some(Some(who)) => {
                    let payload = info.payload();
                    let msg = payload
                        .downcast_ref::<&str>()
                        .copied()
                        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                        .unwrap_or("Box<dyn Any>");
                    let location = info.location().map(|l| l.to_string()).unwrap_or_default();
                    let bt = std::backtrace::Backtrace::capture();
                    if bt.status() == std::backtrace::BacktraceStatus::Captured {
                        eprintln!("\ngreenlet {who} panicked at {location}:\n{msg}\n{bt}");
                    } else {
                        eprintln!("\ngreenlet {who} panicked at {location}:\n{msg}");
                    }
                }
            }
        }));
    });
}
