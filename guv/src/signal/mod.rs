//! Green signal handling: wait for Unix signals from a greenlet, or run a
//! handler in a new greenlet when one arrives — gevent's
//! `gevent.signal_handler`, without `unsafe` and without interrupting
//! whatever code happens to run when the signal lands.
//!
//! ```
//! use guv::signal::{Signal, Signals};
//!
//! let signals = Signals::new([Signal::USR1, Signal::HUP]).unwrap();
//! // Someone sends SIGHUP (here, ourselves, with the `kill` command).
//! let pid = std::process::id().to_string();
//! guv::green::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap();
//! // Only this greenlet parks; the others keep running.
//! assert_eq!(signals.recv(), Signal::HUP);
//! ```
//!
//! # Two ways to listen
//!
//! - [`Signals`]: a registration for a set of signals; [`Signals::recv`]
//!   parks the calling greenlet (not the thread) until one arrives,
//!   [`Signals::try_recv`] does not wait, [`Signals::recv_timeout`] and a
//!   [`Timeout`](crate::Timeout) bound the wait. `Send + Sync`: any
//!   greenlet of any hub may receive from it.
//! - [`handler`]: gevent's `signal_handler(signum, handler)`: at each
//!   delivery, the closure runs in a new greenlet on the hub that
//!   registered it. The returned [`SignalHandler`] removes it on
//!   [`cancel`](SignalHandler::cancel) or drop.
//!
//! Each registration — every `Signals` and every handler, on any hub or
//! OS thread — sees every delivery of its signals. Signals coalesce, as
//! with any self-pipe or `signalfd`: several deliveries of one signal
//! before a registration takes it count as one (a `Signals` holds a
//! *set* of pending signals; a handler may run once for several). A
//! registration may also see a delivery that raced with its creation.
//!
//! Like a [`hub::Handle`](crate::hub::Handle), a registration counts as a
//! possible wake-up for the hub's deadlock check: a main greenlet parked in
//! [`Signals::recv`] (or on an event a handler sets) waits for the signal
//! instead of failing with "this operation would block forever".
//!
//! # The process's signal disposition
//!
//! guv installs its handler for a signal when the first registration for
//! it is made, and when the last one goes away it puts back whatever was
//! there before: after the last [`Signals`] for `SIGINT` is dropped,
//! Ctrl-C kills the program again. If another handler replaces guv's
//! while it is installed, guv leaves that one in place at the end (it
//! should call guv's, as guv calls the one before it).
//!
//! A previous `SIG_DFL` or `SIG_IGN` is replaced, not applied, until
//! restored: a registration asks for the signal, so it gets it even if
//! the process was started with it ignored (as tokio's and Go's signal
//! handling do, and Python's `signal.signal`). What a *child process*
//! inherits is another matter: `exec` resets a caught signal to its
//! default but keeps an ignored one ignored, so a child spawned while guv
//! catches a formerly ignored signal (`SIGHUP` under `nohup`) would no
//! longer ignore it. guv puts back the dispositions it found in every
//! child made with `fork` (guv's threads do not exist there, so its
//! registrations could not see a delivery in it anyway), and guv's own
//! [`green::process::Command`](crate::green::process::Command) does it for
//! every child it spawns; for a std `Command`, whose usual `posix_spawn`
//! runs no hook, [`inherit_dispositions`] does it for one command.
//!
//! While installed, guv's handler calls the handler function that was
//! there before it (one installed with `sigaction` or `signal`) after
//! recording the delivery, as the kernel would have: with the siginfo if it
//! asked for `SA_SIGINFO`, once only if `SA_RESETHAND` (and then `SIG_DFL`
//! is what comes back), with its `sa_mask` blocked, its own signal blocked
//! unless `SA_NODEFER`, and interrupted system calls restarted only if it
//! had `SA_RESTART` (guv asks for restarts when there was no handler
//! function). A previous `SA_NOCLDSTOP` on `SIGCHLD` is kept. The one
//! difference: guv's handler has `SA_ONSTACK`, so on a thread with an
//! alternate signal stack (a hub's) the previous handler runs on it too.
//!
//! The handler itself only does async-signal-safe work: it sets an atomic
//! flag and writes a byte to a pipe. A thread of guv's, `guv-signal`,
//! reads the pipe and hands the delivery to the registrations.
//!
//! # Signals that are refused
//!
//! [`Signal::new`] (and so [`Signals::new`] and [`handler`]) refuses, with
//! an `InvalidInput` [`io::Error`] that names the signal and the reason:
//! `SIGKILL` and `SIGSTOP` (they cannot be caught); the synchronous fault
//! signals `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, `SIGTRAP` and `SIGSYS`
//! (they report a fault in the code that was running, which cannot wait for
//! a greenlet; guv's stack-overflow handler owns `SIGSEGV` and `SIGBUS`);
//! the real-time signals the C library keeps for itself (32 and 33 with
//! glibc); and numbers outside `1..=SIGRTMAX`.
//!
//! `SIGCHLD` is allowed and shared with guv's child watcher (used by
//! [`green::process`](crate::green::process) where pidfds are not
//! available): each calls the other's handler, so both see every
//! delivery. It is refused while `SIGCHLD` is ignored (`SIG_IGN` or
//! `SA_NOCLDWAIT`), since catching it would stop the automatic reaping of
//! children.
//!
//! # Compared with gevent
//!
//! | gevent | guv |
//! |---|---|
//! | `gevent.signal_handler(signal.SIGTERM, f)` | `guv::signal::handler(Signal::TERM, f)?` |
//! | `watcher.cancel()` | [`SignalHandler::cancel`] (or drop it) |
//! | `signal.sigwait` in a thread, or an `Event` a handler sets | [`Signals::recv`], which parks only the greenlet |
//!
//! gevent's handlers run in the hub's thread and (like guv's) never
//! interrupt the running greenlet. A guv handler stays on the hub that
//! registered it; a `Signals` can be shared across hubs.
//!
//! # A graceful stop
//!
//! What gunicorn's worker does on `SIGTERM`: stop accepting, give the
//! running connections time to finish, then exit. With a
//! [`StreamServer`](crate::StreamServer) and its
//! [`ServerHandle`](crate::ServerHandle):
//!
//! ```
//! use guv::signal::{Signal, Signals};
//! use std::io::{Read, Write};
//! use std::time::Duration;
//!
//! let listener = guv::listen("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = guv::StreamServer::new(listener, |mut conn, _peer| conn.write_all(b"hello\n")).start().unwrap();
//! let stop = Signals::new([Signal::TERM, Signal::INT]).unwrap();
//!
//! // A client, then the service manager's SIGTERM (here, sent by ourselves).
//! let client = guv::spawn(move || {
//!     let mut reply = String::new();
//!     guv::connect(addr).unwrap().read_to_string(&mut reply).unwrap();
//!     let pid = std::process::id().to_string();
//!     guv::green::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
//!     reply
//! });
//!
//! let sig = stop.recv(); // parks until SIGTERM or Ctrl-C
//! assert_eq!(sig, Signal::TERM);
//! assert!(server.stop_timeout(Duration::from_secs(10)), "every connection finished in time");
//! assert_eq!(client.wait().unwrap(), "hello\n");
//! drop(stop); // SIGTERM and SIGINT kill the process again
//! ```

mod number;
mod registry;
mod sys;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hub::{Handle, with_hub};
pub use number::{IntoSignal, Signal};
pub(crate) use registry::read_wakeup;
use registry::{Mailbox, Mask, Target};
pub(crate) use sys::serialized as serialized_with_sigaction;
pub(crate) use sys::{Kept, action_over, keep};

/// A registration for a set of signals, which greenlets receive from
/// without blocking their thread. Dropping it ends the registration (and,
/// if it was the last one for a signal, restores that signal's previous
/// disposition). See the [module docs](self).
///
/// `Send + Sync`: greenlets of several hubs may share one (behind an
/// `Arc`); each delivery is then received by one of them.
///
/// ```
/// use guv::signal::{Signal, Signals};
/// use std::time::Duration;
///
/// let signals = Signals::new([Signal::WINCH]).unwrap();
/// assert_eq!(signals.try_recv(), None);
/// assert_eq!(signals.recv_timeout(Duration::from_millis(5)), None);
/// let waiter = guv::spawn(move || signals.recv());
/// guv::gyield(); // it parks
/// let pid = std::process::id().to_string();
/// guv::green::process::Command::new("kill").args(["-WINCH", &pid]).status().unwrap();
/// assert_eq!(waiter.wait().unwrap(), Signal::WINCH);
/// ```
pub struct Signals {
    id: u64,
    mask: Mask,
    mailbox: Arc<Mailbox>,
}

impl Signals {
    /// Registers for `signals` (at least one), installing guv's handler for
    /// each that has no registration yet. Fails with `InvalidInput` for an
    /// empty list or a refused signal (see [`Signal::new`]), and with the
    /// system's error, naming the signal, if a handler cannot be installed;
    /// nothing stays registered then.
    ///
    /// ```
    /// use guv::signal::{Signal, Signals};
    /// let both = Signals::new([libc::SIGUSR2, libc::SIGURG]).unwrap();
    /// assert_eq!(both.signals(), [Signal::USR2, Signal::URG]);
    /// let err = Signals::new([libc::SIGSTOP]).err().unwrap();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn new<I>(signals: I) -> io::Result<Signals>
    where
        I: IntoIterator,
        I::Item: IntoSignal,
    {
        let mut mask: Mask = 0;
        for s in signals {
            mask |= registry::bit(s.into_signal()?.0);
        }
        if mask == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "guv::signal: Signals::new needs a signal"));
        }
        let mailbox = Arc::new(Mailbox::default());
        let id = registry::register(mask, Target::Mailbox(mailbox.clone()))?;
        Ok(Signals { id, mask, mailbox })
    }

    /// The signals registered for, lowest number first.
    ///
    /// ```
    /// use guv::signal::{Signal, Signals};
    /// let s = Signals::new([Signal::TERM, Signal::HUP]).unwrap();
    /// assert_eq!(s.signals(), [Signal::HUP, Signal::TERM]);
    /// ```
    pub fn signals(&self) -> Vec<Signal> {
        registry::signals_of(self.mask).map(Signal).collect()
    }

    /// Parks the calling greenlet until one of the signals has arrived
    /// (returns at once if one is pending) and returns it; when several
    /// are pending, the lowest-numbered first. Only this greenlet waits:
    /// the others, and the hub, keep running.
    ///
    /// A greenlet killed (or timed out by a [`Timeout`](crate::Timeout))
    /// here takes nothing: a signal that arrived stays pending for the
    /// next receive.
    ///
    /// ```
    /// use guv::signal::{Signal, Signals};
    /// use std::time::Duration;
    ///
    /// let signals = Signals::new([Signal::new(libc::SIGRTMIN() + 2).unwrap()]).unwrap();
    /// // No signal comes: the Timeout ends the wait.
    /// let r = guv::with_timeout(Duration::from_millis(5), || signals.recv());
    /// assert!(r.unwrap_err().is_timed_out());
    /// ```
    pub fn recv(&self) -> Signal {
        self.recv_until(None).expect("a receive without a deadline ends with a signal")
    }

    /// The lowest-numbered pending signal, without waiting.
    ///
    /// ```
    /// use guv::signal::{Signal, Signals};
    /// let s = Signals::new([Signal::CONT]).unwrap();
    /// assert_eq!(s.try_recv(), None);
    /// ```
    pub fn try_recv(&self) -> Option<Signal> {
        self.mailbox.take().map(Signal)
    }

    /// Like [`recv`](Signals::recv) for at most `timeout`; `None` if no
    /// signal came in time.
    ///
    /// ```
    /// use guv::signal::{Signal, Signals};
    /// use std::time::Duration;
    /// let s = Signals::new([Signal::new(libc::SIGRTMIN() + 3).unwrap()]).unwrap();
    /// assert_eq!(s.recv_timeout(Duration::from_millis(2)), None);
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Signal> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.recv_until(Some(deadline)),
            None => Some(self.recv()),
        }
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Option<Signal> {
        with_hub(|hub| {
            loop {
                let mut armed = None;
                let taken = self.mailbox.take_or_wait(|| {
                    let waker = hub.arm();
                    let (remote, slot) = hub.remote_waker(&waker);
                    armed = Some((waker, slot));
                    remote
                });
                let id = match taken {
                    Ok(sig) => return Some(Signal(sig)),
                    Err(id) => id,
                };
                let (waker, slot) = armed.expect("a waiter was registered");
                // Unregisters the waiter however the park ends (a wake-up,
                // a kill, a Timeout), then drops the remote slot.
                let _waiting = Waiting { mailbox: &self.mailbox, id, _slot: slot };
                if !hub.park_until(&waker, deadline) {
                    return self.try_recv();
                }
            }
        })
    }
}

/// A parked receiver's registration with a mailbox; see `recv_until`.
struct Waiting<'a> {
    mailbox: &'a Mailbox,
    id: u64,
    _slot: crate::hub::RemoteSlot,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.mailbox.forget_waiter(self.id);
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        registry::unregister(self.id);
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals").field("signals", &self.signals()).finish()
    }
}

thread_local! {
    /// This thread's handlers, by registration id.
    static HANDLERS: Handlers = Handlers::default();
}

/// The handlers registered on this thread's hub. The hub ends with its
/// thread, and so does this table: its destructor removes the
/// registrations still in it (guards that were leaked, or that sat in
/// greenlets the hub abandoned), so that the process's disposition is
/// restored then rather than at the next delivery, which nothing could
/// run any more (the first Ctrl-C after the thread ended would otherwise
/// be swallowed).
#[derive(Default)]
struct Handlers(RefCell<HashMap<u64, Rc<dyn Fn()>>>);

impl Drop for Handlers {
    fn drop(&mut self) {
        let handlers = std::mem::take(self.0.get_mut());
        for &id in handlers.keys() {
            registry::unregister(id);
        }
        // The closures' destructors are user code, run while the thread's
        // locals are being torn down (the hub's perhaps already gone): a
        // panic there ends only them, not the process.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(handlers)));
    }
}

/// Runs handler `id` (on its hub, in the greenlet spawned for this
/// delivery) unless it was cancelled meanwhile.
fn run_handler(id: u64) {
    let f = HANDLERS.try_with(|h| h.0.borrow().get(&id).cloned()).ok().flatten();
    if let Some(f) = f {
        f();
    }
}

/// Runs `f` in a new greenlet on this thread's hub each time `signal`
/// arrives, until the returned guard is cancelled or dropped: gevent's
/// `gevent.signal_handler(signum, handler)`.
///
/// `f` runs as if [`spawn_n`](crate::spawn_n)ed: it may block, several runs
/// may overlap if it does, and a panic in it is reported and ends only
/// that run. Deliveries coalesce (see the [module docs](self)): several
/// arrivals before the hub gets to them may run `f` once. Fails as
/// [`Signals::new`] does. The handler lives at most as long as the hub
/// (the thread) that registered it: if that thread ends while the handler
/// is still registered (its guard leaked with [`mem::forget`], or left in
/// a greenlet that never ended), the registration goes with it, and the
/// signal's previous disposition comes back if it was the last one.
///
/// [`mem::forget`]: std::mem::forget
///
/// ```
/// use guv::signal::{self, Signal};
/// use std::rc::Rc;
///
/// let stop = Rc::new(guv::Event::new());
/// let s = stop.clone();
/// let _handler = signal::handler(Signal::USR2, move || s.set()).unwrap();
/// let pid = std::process::id().to_string();
/// guv::green::process::Command::new("kill").args(["-USR2", &pid]).status().unwrap();
/// // The main greenlet parks until the handler's greenlet sets the event.
/// stop.wait();
/// ```
pub fn handler<S, F>(signal: S, f: F) -> io::Result<SignalHandler>
where
    S: IntoSignal,
    F: Fn() + 'static,
{
    let signal = signal.into_signal()?;
    let id = registry::register(registry::bit(signal.0), Target::Spawn(Handle::current()))?;
    // Before any switch: no delivery can run on this hub before this.
    HANDLERS.with(|h| h.0.borrow_mut().insert(id, Rc::new(f)));
    Ok(SignalHandler { id, signal, _hub_local: PhantomData })
}

/// Makes the child process that `cmd` spawns start with the signal
/// dispositions this process had before guv caught its signals, and
/// returns `cmd`.
///
/// `exec` resets a caught signal to its default action but leaves an
/// ignored one ignored. So while guv catches a signal that was ignored
/// before — `SIGHUP` under `nohup`, `SIGINT` in a background job of a
/// shell — a child would start with it at its default action (a hang-up
/// would kill it) instead of ignored, as it would have without guv. With
/// this hook, the child puts back what guv found (ignored stays ignored;
/// `SIGPIPE` is left to std, which resets it for every child) just before
/// its `exec`.
///
/// Children spawned with `fork` get this without asking (guv puts the
/// dispositions back in every forked child); std spawns with `fork` when
/// it must (a command with a `pre_exec` hook, for one), but usually with
/// `posix_spawn`, which runs no hook. Adding this hook
/// makes std use `fork`, which is slower for a process with a large
/// address space. A [`green::process::Command`](crate::green::process::Command)
/// needs none of this: it adds the hook by itself, when a signal that
/// was ignored is caught at the time it spawns.
///
/// ```
/// use guv::signal::{self, Signal, Signals};
///
/// let _hup = Signals::new([Signal::HUP]).unwrap(); // e.g. "reload"
/// let mut cmd = std::process::Command::new("true");
/// signal::inherit_dispositions(&mut cmd);
/// assert!(cmd.status().unwrap().success());
/// ```
pub fn inherit_dispositions(cmd: &mut std::process::Command) -> &mut std::process::Command {
    sys::restore_before_exec(cmd);
    cmd
}

/// Whether a child spawned now by `posix_spawn` would lose a disposition
/// this process had before guv caught its signals (an ignored signal that
/// guv catches now; see [`inherit_dispositions`]): the green `Command`
/// asks before it spawns.
pub(crate) fn children_would_lose_an_ignored_signal() -> bool {
    sys::catches_an_ignored_signal()
}

/// A handler registered by [`handler`]; [`cancel`](SignalHandler::cancel)
/// or drop it to remove it (which, for the last registration of its
/// signal, restores the signal's previous disposition). Hub-local
/// (`!Send`): the handler lives on the hub that registered it.
///
/// ```compile_fail
/// let h = guv::signal::handler(guv::signal::Signal::HUP, || ()).unwrap();
/// std::thread::spawn(move || drop(h)); // error: `SignalHandler` is not `Send`
/// ```
pub struct SignalHandler {
    id: u64,
    signal: Signal,
    _hub_local: PhantomData<Rc<()>>,
}

impl SignalHandler {
    /// The signal handled.
    ///
    /// ```
    /// use guv::signal::{self, Signal};
    /// let h = signal::handler(Signal::URG, || ()).unwrap();
    /// assert_eq!(h.signal(), Signal::URG);
    /// ```
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// Removes the handler (the same as dropping it): once this returns it
    /// never starts again, even for a delivery already on its way; runs
    /// already started go on.
    ///
    /// ```
    /// use guv::signal::{self, Signal};
    /// let h = signal::handler(Signal::HUP, || println!("reload")).unwrap();
    /// h.cancel();
    /// ```
    pub fn cancel(self) {}
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        registry::unregister(self.id);
        let f = HANDLERS.try_with(|h| h.0.borrow_mut().remove(&self.id)).ok().flatten();
        // Its destructor (user code) runs outside the borrow.
        drop(f);
    }
}

impl fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHandler").field("signal", &self.signal).finish()
    }
}
