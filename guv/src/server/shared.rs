//! The state a server and its handles share, and its handler greenlets:
//! starting them in the pool, counting them out, killing and abandoning them
//! on a stop.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{DEFAULT_KILL_TIMEOUT, StopServe, TARGET};
#[cfg(doc)] // only named in doc links
use super::{StreamServer, accept_loop};
use crate::greenlet::{KillSignal, TimeoutSignal};
use crate::hub::{Waker, with_hub};
use crate::pool::Reservation;
use crate::{Builder, Error, GreenPool, GreenThread};

/// The state a server and its handles share (hub-local).
pub(super) struct Shared {
    pub(super) local_addr: Result<SocketAddr, (io::ErrorKind, String)>,
    /// A stop was requested; the accept greenlet is (being) killed.
    pub(super) stopping: Cell<bool>,
    /// The accept greenlet still holds the listener open: from `start` until
    /// that greenlet's closure is dropped (`ListenerClosed`), which a stop's
    /// kill brings about only once the killed greenlet runs. `wait` and
    /// `stop` return only once it is false, so that the port is free then.
    pub(super) listening: Cell<bool>,
    /// A stop has killed a handler: no `stop_timeout` can say "in time".
    killed_any: Cell<bool>,
    /// How long a stop waits for the handlers it killed before it gives up
    /// on them ([`StreamServer::kill_timeout`]).
    pub(super) kill_timeout: Cell<Duration>,
    /// Handlers still running that a stop killed and then gave up on
    /// (marked in their `Entry`); they no longer count for `stop`/`wait`.
    abandoned: Cell<usize>,
    /// The listener failed for good (see [`accept_loop`]): what `wait`
    /// reports.
    pub(super) failure: RefCell<Option<(io::ErrorKind, String)>>,
    /// The accept greenlet while the server accepts; it owns the listener,
    /// which closes when it is killed.
    pub(super) acceptor: RefCell<Option<GreenThread<()>>>,
    /// Handler greenlets by connection number, each with whether a stop
    /// has killed it. An entry is taken out only when its handler ends
    /// (by `HandlerGuard`): a handler that a stop has picked and not killed
    /// yet (each kill yields) still knows itself in its own `stop`/`wait`,
    /// and one left unkilled because the stop killing it was itself killed
    /// (two handlers stopping at once) is picked by the other stop.
    handlers: RefCell<HashMap<u64, Entry>>,
    next_conn: Cell<u64>,
    /// Handlers not ended yet: running, waiting to start, or one accepted
    /// connection waiting for a pool slot. Counted down by `HandlerGuard`.
    pub(super) live: Cell<usize>,
    /// Greenlets in `stop`/`wait`, woken whenever a handler ends or a stop
    /// begins; each re-checks its condition.
    waiters: RefCell<Vec<Waker>>,
}

impl Shared {
    pub(super) fn new(local_addr: Result<SocketAddr, (io::ErrorKind, String)>) -> Shared {
        Shared {
            local_addr,
            stopping: Cell::new(false),
            killed_any: Cell::new(false),
            kill_timeout: Cell::new(DEFAULT_KILL_TIMEOUT),
            abandoned: Cell::new(0),
            failure: RefCell::new(None),
            listening: Cell::new(false),
            acceptor: RefCell::new(None),
            handlers: RefCell::new(HashMap::new()),
            next_conn: Cell::new(0),
            live: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
        }
    }

    /// Runs on the accept greenlet: spawns the connection's handler into
    /// the pool, waiting there while the pool is full.
    pub(super) fn start_handler<F, S, P>(
        self: &Rc<Self>,
        pool: &GreenPool,
        slot: Reservation,
        handler: &Rc<F>,
        stream: S,
        peer: P,
    ) where
        F: Fn(S, P) -> io::Result<()> + 'static,
        S: 'static,
        P: Clone + fmt::Debug + 'static,
    {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        self.live.set(self.live.get() + 1);
        // Owned by the handler's closure: it counts the handler out when the
        // closure is dropped, run or not (a kill before it starts, or a
        // spawn that failed).
        let guard = HandlerGuard { shared: self.clone(), id };
        let handler = handler.clone();
        let who = peer.clone(); // a copy, for an IP address
        let spawned = pool.spawn_reserved(slot, Builder::new(), move || {
            run_handler(&*handler, stream, peer, &guard.shared);
            drop(guard);
        });
        match spawned {
            // Not started yet: spawning does not switch.
            Ok(greenlet) => drop(
                self.handlers
                    .borrow_mut()
                    .insert(id, Entry { greenlet: Rc::new(greenlet), killed: false, abandoned: false }),
            ),
            Err(e) => log::error!(target: TARGET, "{who:?}: cannot start a greenlet for the connection: {e}"),
        }
    }

    /// The connection number of the handler running on this greenlet, if
    /// it is one of ours.
    pub(super) fn current_handler(&self) -> Option<u64> {
        let me = with_hub(|hub| hub.current().header().id());
        self.handlers.borrow().iter().find(|(_, e)| e.greenlet.id() == me).map(|(id, _)| *id)
    }

    /// Stops accepting: kills the accept greenlet, whose listener closes as
    /// it unwinds (`kill` yields so that this happens before it returns);
    /// called on the accept greenlet itself (its listener failed), leaves it
    /// to return, which closes the listener as well.
    fn stop_accepting(&self) {
        self.stopping.set(true);
        let acceptor = self.acceptor.borrow_mut().take();
        let me = with_hub(|hub| hub.current().header().id());
        if let Some(acceptor) = acceptor.filter(|a| a.id() != me) {
            acceptor.kill();
        }
        self.wake_all();
    }

    /// Runs on the accept greenlet once its listener failed for good: the
    /// server stops accepting as after a [`StopServe`] (the handlers
    /// finish), and `wait` reports the failure.
    pub(super) fn accept_failed(&self, e: io::Error) {
        *self.failure.borrow_mut() = Some((e.kind(), e.to_string()));
        self.stop_accepting();
    }

    /// Handlers not ended that `stop`/`wait` still wait for: all but the
    /// ones given up on, and but the caller `me` (a handler of ours).
    pub(super) fn outstanding(&self, me: Option<u64>) -> usize {
        let me_counted = me.is_some_and(|id| self.handlers.borrow().get(&id).is_none_or(|e| !e.abandoned));
        self.live.get() - self.abandoned.get() - usize::from(me_counted)
    }

    /// Gives up on the killed handlers other than `me` that have not ended:
    /// they no longer count for `stop`/`wait`.
    fn abandon(&self, me: Option<u64>) {
        let mut given_up = 0;
        for (id, entry) in self.handlers.borrow_mut().iter_mut() {
            if entry.killed && !entry.abandoned && Some(*id) != me {
                entry.abandoned = true;
                given_up += 1;
            }
        }
        self.abandoned.set(self.abandoned.get() + given_up);
        if given_up > 0 {
            log::warn!(
                target: TARGET,
                "stop gave up on {given_up} killed handler(s) still running {:?} after the kill \
                 (caught the kill and went on, or slow destructors); their connections stay open until they end",
                self.kill_timeout.get()
            );
        }
        self.wake_all();
    }

    /// `stop` (`grace: None`) and `stop_timeout` (`Some(deadline)`);
    /// returns whether no handler had to be killed.
    pub(super) fn stop(&self, grace: Option<Option<Instant>>) -> bool {
        let me = self.current_handler();
        self.stop_accepting();
        if let Some(deadline) = grace {
            while self.outstanding(me) > 0 {
                if !self.park(deadline) {
                    break;
                }
            }
        }
        // Not in time if a handler was killed, by this stop or another one
        // (a plain `stop()`, or a handler's) that came during the grace.
        let in_time = self.outstanding(me) == 0 && !self.killed_any.get();
        let doomed: Vec<u64> = {
            let handlers = self.handlers.borrow();
            handlers.iter().filter(|(id, e)| !e.killed && Some(**id) != me).map(|(id, _)| *id).collect()
        };
        for id in doomed {
            // Each kill yields: another stop may have killed this one since
            // (or this handler ended); a greenlet is killed once.
            let target = match self.handlers.borrow_mut().get_mut(&id) {
                Some(entry) if !entry.killed => {
                    entry.killed = true;
                    self.killed_any.set(true);
                    entry.greenlet.clone()
                }
                _ => continue,
            };
            target.kill();
        }
        // Killed handlers whose destructors block finish later, and the
        // accept greenlet may not have run its kill yet: wait for them, the
        // handlers for `kill_timeout` at most (one that caught its kill may
        // never end), the accept greenlet (guv's own code) until it has.
        let mut give_up_at = Instant::now().checked_add(self.kill_timeout.get());
        while self.outstanding(me) > 0 || self.listening.get() {
            let deadline = if self.outstanding(me) > 0 { give_up_at } else { None };
            if !self.park(deadline) {
                self.abandon(me);
                give_up_at = None;
            }
        }
        in_time
    }

    /// Parks until a handler ends or a stop begins (or `deadline`: false).
    pub(super) fn park(&self, deadline: Option<Instant>) -> bool {
        with_hub(|hub| {
            let waker = hub.arm();
            self.waiters.borrow_mut().push(waker.clone());
            hub.park_until(&waker, deadline)
        })
    }

    pub(super) fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }

    /// Runs on a datagram server's receive greenlet: spawns `job` on a
    /// handler greenlet of its own, tracked as [`Shared::start_handler`]'s
    /// are (counted out when its closure is dropped, killed by a stop,
    /// waited for). If the greenlet cannot be spawned, `job` is dropped
    /// unrun and the error returned.
    pub(super) fn start_job(self: &Rc<Self>, job: impl FnOnce(&Shared) + 'static) -> io::Result<()> {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        self.live.set(self.live.get() + 1);
        let guard = HandlerGuard { shared: self.clone(), id };
        // `job`'s captures are dropped when it returns, before the guard
        // counts the handler out.
        let spawned = Builder::new().spawn(move || {
            job(&guard.shared);
            drop(guard);
        });
        // Not started yet: spawning does not switch.
        let greenlet = spawned?;
        self.handlers.borrow_mut().insert(id, Entry { greenlet: Rc::new(greenlet), killed: false, abandoned: false });
        Ok(())
    }
}

/// A running handler in [`Shared::handlers`].
struct Entry {
    greenlet: Rc<GreenThread<()>>,
    /// A stop has killed it (it may still be unwinding).
    killed: bool,
    /// A stop gave up waiting for it after its kill (counted in
    /// `Shared::abandoned` until it ends).
    abandoned: bool,
}

/// Counts a handler out of its server when its closure is dropped.
struct HandlerGuard {
    shared: Rc<Shared>,
    id: u64,
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        let shared = &self.shared;
        let entry = shared.handlers.borrow_mut().remove(&self.id);
        if entry.as_ref().is_some_and(|e| e.abandoned) {
            shared.abandoned.set(shared.abandoned.get() - 1);
        }
        drop(entry);
        shared.live.set(shared.live.get() - 1);
        shared.wake_all();
    }
}

/// Runs one handler: logs what it failed with (an error, a panic, a
/// `Timeout` it started and did not catch), stops the server on
/// [`StopServe`], lets a kill unwind on.
fn run_handler<F, S, P>(handler: &F, stream: S, peer: P, shared: &Shared)
where
    F: Fn(S, P) -> io::Result<()>,
    P: Clone + fmt::Debug,
{
    // For the log (a copy, for an IP address): the handler takes `peer`.
    let who = peer.clone();
    run_logged(&who, shared, || handler(stream, peer));
}

/// Runs one handler call for any server (a connection's, a datagram's): logs
/// what it failed with (an error, a panic, a `Timeout` it started and did
/// not catch) with `peer`'s `Debug` form, stops the server on
/// [`StopServe`], lets a kill unwind on.
pub(super) fn run_logged(peer: &dyn fmt::Debug, shared: &Shared, call: impl FnOnce() -> io::Result<()>) {
    match panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.get_ref().is_some_and(|inner| inner.is::<StopServe>()) => {
            log::debug!(target: TARGET, "{peer:?}: the handler stopped the server");
            shared.stop_accepting();
        }
        Ok(Err(e)) => log::warn!(target: TARGET, "{peer:?}: the handler failed: {e}"),
        Err(payload) if payload.is::<KillSignal>() => crate::hub::resume_unwind(payload),
        Err(payload) if payload.is::<TimeoutSignal>() => {
            log::warn!(target: TARGET, "{peer:?}: the handler timed out (a guv::Timeout it started expired)");
        }
        Err(payload) => {
            let e = Error::from_unwind(payload);
            let msg = e.panic_message().unwrap_or("(a payload that is not a string)");
            log::error!(target: TARGET, "{peer:?}: the handler panicked: {msg}");
        }
    }
}
