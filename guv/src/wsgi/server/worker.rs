//! One hub's share of a server: the accept loop, the table of its
//! connections, the header-timeout sweeper, and `run_worker`, which
//! serves a listener until the server stops and then shuts down in order
//! (stop accepting, close idle connections, wait for busy ones, kill the
//! rest).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::shutdown::Control;
use crate::hub::{Waker, with_hub};
use crate::pool::Reservation;
use crate::server::Listener;
use crate::wsgi::Error;
use crate::wsgi::handler::{Config, Flags, NOT_WAITING};
use crate::wsgi::transport::ServeFn;
use crate::{Builder, GreenPool, GreenThread};

/// How long a worker waits, after the shutdown's last kills, for the
/// killed connections to finish unwinding.
const UNWIND_GRACE: Duration = Duration::from_millis(500);

static NEXT_WORKER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    /// The workers running on this thread's hub, for `stop_local`.
    static WORKERS: RefCell<Vec<(u64, Weak<Worker>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs on a worker's hub: begins its shutdown.
pub(super) fn stop_local(id: u64) {
    let worker = WORKERS.with(|w| w.borrow().iter().find(|(i, _)| *i == id).and_then(|(_, w)| w.upgrade()));
    if let Some(worker) = worker {
        worker.stop();
    }
}

/// One hub's share of a server.
struct Worker {
    cfg: Config,
    stopping: Rc<Cell<bool>>,
    /// Ticks of the header-timeout sweeper.
    clock: Rc<Cell<u64>>,
    conns: RefCell<HashMap<u64, ConnEntry>>,
    next_conn: Cell<u64>,
    /// Caps the connections served at once (`max_connections`): the accept
    /// loop takes a slot before it accepts, so while the pool is full it
    /// does not accept, and further clients wait in the listen backlog (a
    /// Unix listener shared by the workers hands them to a worker with
    /// room).
    pool: GreenPool,
    /// `run_worker`, waiting for the stop request or for connections to end.
    main: RefCell<Option<Waker>>,
    /// The listener failed for good (see `crate::server::accept_loop`):
    /// the worker stops, and returns this.
    failure: RefCell<Option<io::Error>>,
}

struct ConnEntry {
    greenlet: GreenThread<()>,
    flags: Rc<Flags>,
}

impl Worker {
    fn stop(&self) {
        self.stopping.set(true);
        wake(&self.main);
    }

    fn start_connection<S: 'static, P: fmt::Debug + 'static>(
        self: &Rc<Self>,
        slot: Reservation,
        app: &Rc<ServeFn<S, P>>,
        stream: S,
        peer: P,
    ) {
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        let flags = Rc::new(Flags {
            clock: self.clock.clone(),
            head_since: Cell::new(NOT_WAITING),
            busy: Cell::new(false),
            stopping: self.stopping.clone(),
            going_away: Rc::default(),
            close_idle: RefCell::new(None),
        });
        let (worker, conn_flags, app) = (self.clone(), flags.clone(), app.clone());
        let spawned = self.pool.spawn_reserved(slot, Builder::new(), move || {
            let _guard = ConnGuard { worker: &worker, id };
            app(stream, peer, &worker.cfg, &conn_flags);
        });
        match spawned {
            Ok(greenlet) => {
                self.conns.borrow_mut().insert(id, ConnEntry { greenlet, flags });
            }
            Err(e) => {
                log::error!(target: "guv::wsgi", "cannot start a greenlet for a connection: {e}")
            }
        }
    }

    /// Kills the connections `pick` selects (taken out of the table first:
    /// a killed greenlet's guard looks for its entry); returns their
    /// greenlets.
    fn kill_where(&self, pick: impl Fn(&Flags) -> bool) -> Vec<GreenThread<()>> {
        let ids: Vec<u64> = self.conns.borrow().iter().filter(|(_, c)| pick(&c.flags)).map(|(id, _)| *id).collect();
        self.kill(&ids)
    }

    /// Closes the connections `pick` selects: an idle one that can close
    /// by itself with a goodbye (a wrapped stream waiting for a head with
    /// nothing of one read: [`Flags::close_gracefully`]) is asked to, and
    /// stays in the table until its greenlet ends (a shutdown's deadline
    /// still kills it); the others are killed.
    fn close_where(&self, pick: impl Fn(&Flags) -> bool) {
        let picked: Vec<(u64, Rc<Flags>)> =
            self.conns.borrow().iter().filter(|(_, c)| pick(&c.flags)).map(|(id, c)| (*id, c.flags.clone())).collect();
        // Asked outside the table's borrow: the question wakes greenlets.
        let ids: Vec<u64> =
            picked.into_iter().filter(|(_, flags)| !flags.close_gracefully()).map(|(id, _)| id).collect();
        self.kill(&ids);
    }

    fn kill(&self, ids: &[u64]) -> Vec<GreenThread<()>> {
        let picked: Vec<ConnEntry> = {
            let mut conns = self.conns.borrow_mut();
            ids.iter().filter_map(|id| conns.remove(id)).collect()
        };
        for entry in &picked {
            entry.greenlet.kill();
        }
        picked.into_iter().map(|entry| entry.greenlet).collect()
    }
}

fn wake(slot: &RefCell<Option<Waker>>) {
    let waker = slot.borrow_mut().take();
    if let Some(w) = waker {
        w.wake();
    }
}

/// Removes a connection from its worker's table when its greenlet ends.
struct ConnGuard<'a> {
    worker: &'a Worker,
    id: u64,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        let entry = self.worker.conns.borrow_mut().remove(&self.id);
        drop(entry);
        wake(&self.worker.main);
    }
}

/// Unregisters a worker from its thread and its server.
struct WorkerGuard<'a> {
    id: u64,
    control: &'a Control,
}

impl Drop for WorkerGuard<'_> {
    fn drop(&mut self) {
        let _ = WORKERS.try_with(|w| w.borrow_mut().retain(|(i, _)| *i != self.id));
        self.control.deregister(self.id);
    }
}

/// Accepts until killed (the accept loop, its retries and back-off are the
/// plain TCP server's, `crate::server::accept_loop`), or until the listener
/// fails for good: then the worker stops as if asked to, and its
/// `run_worker` returns that error.
fn accept_loop<L: Listener>(worker: &Rc<Worker>, listener: &L, app: &Rc<ServeFn<L::Stream, L::Addr>>) {
    let failed = crate::server::accept_loop(
        listener,
        "guv::wsgi",
        || worker.pool.reserve(),
        |slot, stream, peer| worker.start_connection(slot, app, stream, peer),
    );
    *worker.failure.borrow_mut() = Some(failed);
    worker.stop();
}

/// Closes connections that have waited longer than `timeout` for a request
/// head (see [`Worker::close_where`]: one with nothing of a head read says
/// goodbye first, if its stream has one). Runs on a coarse clock, so that a request costs two stores rather
/// than a timer: a connection is closed between `timeout` and `timeout`
/// plus one tick (a quarter of the timeout, between 10 ms and 1 s) after
/// it began waiting.
fn sweep(worker: &Worker, timeout: Duration) {
    let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let limit = timeout.as_nanos().div_ceil(tick.as_nanos()) as u64 + 1;
    loop {
        crate::sleep(tick);
        let now = worker.clock.get() + 1;
        worker.clock.set(now);
        worker.close_where(|flags| {
            let since = flags.head_since.get();
            let late = since != NOT_WAITING && now - since >= limit;
            if late {
                log::debug!(target: "guv::wsgi", "{}", Error::timeout());
            }
            late
        });
    }
}

/// Serves `listener` on this thread's hub until the server stops.
pub(super) fn run_worker<L: Listener>(
    app: Rc<ServeFn<L::Stream, L::Addr>>,
    listener: L,
    cfg: Config,
    max_connections: usize,
    shutdown_timeout: Duration,
    control: &Control,
) -> io::Result<()> {
    let id = NEXT_WORKER.fetch_add(1, Ordering::Relaxed);
    let worker = Rc::new(Worker {
        cfg,
        stopping: Rc::new(Cell::new(false)),
        clock: Rc::new(Cell::new(0)),
        conns: RefCell::new(HashMap::new()),
        next_conn: Cell::new(0),
        pool: GreenPool::new(max_connections),
        main: RefCell::new(None),
        failure: RefCell::new(None),
    });
    WORKERS.with(|w| w.borrow_mut().push((id, Rc::downgrade(&worker))));
    let _guard = WorkerGuard { id, control };
    if control.register(id) {
        worker.stopping.set(true);
    }
    let acceptor = {
        let worker = worker.clone();
        Builder::new().name("guv-wsgi-accept").spawn(move || accept_loop(&worker, &listener, &app))?
    };
    let sweeper = match worker.cfg.header_timeout {
        Some(timeout) => {
            let worker = worker.clone();
            Some(Builder::new().name("guv-wsgi-sweeper").spawn(move || sweep(&worker, timeout))?)
        }
        None => None,
    };
    while !worker.stopping.get() {
        with_hub(|hub| {
            *worker.main.borrow_mut() = Some(hub.arm());
            hub.park();
        });
    }
    if worker.failure.borrow().is_some() {
        // This worker's listener failed for good: the server stops, all its
        // workers with it, and `run` reports the error.
        control.shutdown();
    }
    // Stop accepting (the listener closes with the accept greenlet), tell
    // taken-over connections (a WebSocket says 1001), close idle
    // connections (those of a wrapped stream that owe nothing say goodbye,
    // within the send timeout and the deadline), give busy ones until the
    // deadline.
    acceptor.kill();
    drop(acceptor);
    if let Some(sweeper) = sweeper {
        sweeper.kill();
    }
    let told: Vec<Rc<Flags>> = worker.conns.borrow().values().map(|entry| entry.flags.clone()).collect();
    for flags in told {
        flags.going_away.shutdown_began();
    }
    worker.close_where(|flags| !flags.busy.get());
    let deadline = Instant::now().checked_add(shutdown_timeout);
    while !worker.conns.borrow().is_empty() {
        let in_time = with_hub(|hub| {
            let waker = hub.arm();
            *worker.main.borrow_mut() = Some(waker.clone());
            hub.park_until(&waker, deadline)
        });
        if !in_time {
            break;
        }
    }
    // What is left is killed: a WebSocket that the kill drops closes with
    // 1001 (going away) rather than 1011 (see `Flags::going_away`).
    for entry in worker.conns.borrow().values() {
        entry.flags.going_away.killed.set(true);
    }
    let killed = worker.kill_where(|_| true);
    // Each has unwound as far as its first park. One that parks in a
    // destructor (a WebSocket's goodbye whose close hook parks, cut by a
    // zero timeout at the next turn of the loop) gets a short grace to
    // end, rather than be abandoned, socket and all, with the thread's hub.
    crate::wait_all_timeout(&killed, UNWIND_GRACE);
    match worker.failure.borrow_mut().take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
