//! Who waits for which signal, process-wide, and the thread that hands
//! each delivery to them.
//!
//! The handler (`sys.rs`) raises a per-signal flag and writes a byte to a
//! self-pipe. One thread, `guv-signal`, blocks reading that pipe; after
//! each read it lowers every raised flag and, under the registry's lock,
//! gives each registration the signals it asked for: a [`Mailbox`] gets
//! them added to its pending set (its parked receivers are woken), a
//! handler registration gets a greenlet spawned on its hub. A flag is
//! always raised before its byte is written, and lowered only after a byte
//! is read, so a delivery is never missed — only merged with others that
//! arrive before the thread gets to it (coalescing).
//!
//! The first registration for a signal installs guv's handler for it; the
//! last one to go restores what was there before (`sys::install`,
//! `sys::restore`), both under the lock, so that installs, restores and
//! dispatches never interleave.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use super::sys::{self, MAX};
use crate::hub::{Handle, RemoteWaker};

/// A mask of signals: bit `sig - 1` for signal `sig`.
pub(super) type Mask = u64;

/// The bit of signal `sig` (1..=MAX).
pub(super) fn bit(sig: libc::c_int) -> Mask {
    1 << (sig - 1)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No lock here is held across user code; a poisoned one still holds
    // consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The deliveries one `Signals` has not taken yet, and its parked
/// receivers.
#[derive(Default)]
pub(super) struct Mailbox {
    state: Mutex<MailState>,
}

#[derive(Default)]
struct MailState {
    /// Signals delivered and not yet received (a set: coalesced).
    pending: Mask,
    /// Parked receivers: (waiter id, waker). All are woken on a delivery;
    /// each takes at most one signal and the rest park again.
    waiters: Vec<(u64, RemoteWaker)>,
    next_waiter: u64,
}

impl Mailbox {
    /// Takes the lowest pending signal, if any.
    pub(super) fn take(&self) -> Option<libc::c_int> {
        take_lowest(&mut lock(&self.state).pending)
    }

    /// Takes the lowest pending signal, or registers `waker` (from
    /// `make_waker`, called only then) and returns its waiter id.
    pub(super) fn take_or_wait(&self, make_waker: impl FnOnce() -> RemoteWaker) -> Result<libc::c_int, u64> {
        let mut st = lock(&self.state);
        if let Some(sig) = take_lowest(&mut st.pending) {
            return Ok(sig);
        }
        st.next_waiter += 1;
        let id = st.next_waiter;
        st.waiters.push((id, make_waker()));
        Err(id)
    }

    /// Removes a receiver's registration (woken, killed or timed out).
    pub(super) fn forget_waiter(&self, id: u64) {
        lock(&self.state).waiters.retain(|(w, _)| *w != id);
    }

    /// Adds `signals` to the pending set; returns the receivers to wake.
    fn deliver(&self, signals: Mask) -> Vec<RemoteWaker> {
        let mut st = lock(&self.state);
        st.pending |= signals;
        st.waiters.iter().map(|(_, w)| w.clone()).collect()
    }
}

fn take_lowest(pending: &mut Mask) -> Option<libc::c_int> {
    if *pending == 0 {
        return None;
    }
    let index = pending.trailing_zeros();
    *pending &= !(1 << index);
    // At most 64: fits.
    Some(index as libc::c_int + 1)
}

/// What a registration does with a delivery.
pub(super) enum Target {
    /// Add it to a `Signals`' mailbox.
    Mailbox(Arc<Mailbox>),
    /// Spawn handler `id`'s greenlet on this hub.
    Spawn(Handle),
}

struct Entry {
    id: u64,
    mask: Mask,
    target: Target,
}

struct Registry {
    entries: Vec<Entry>,
    /// Registrations per signal; guv's handler is installed while > 0.
    counts: [u32; MAX + 1],
    next_id: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { entries: Vec::new(), counts: [0; MAX + 1], next_id: 0 });

/// Creates the self-pipe and starts the dispatch thread, once; the error
/// of the first attempt, every time, if that failed.
fn start_dispatcher() -> io::Result<()> {
    static STARTED: OnceLock<Result<(), (io::ErrorKind, String)>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        let start = || -> io::Result<()> {
            let pipe = std::fs::File::from(sys::open_pipe()?);
            std::thread::Builder::new().name("guv-signal".into()).spawn(move || dispatch_loop(pipe))?;
            Ok(())
        };
        start().map_err(|e| (e.kind(), format!("cannot start guv's signal thread: {e}")))
    });
    match started {
        Ok(()) => Ok(()),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

/// Registers `target` for the signals in `mask` (not empty), installing
/// guv's handler for those that had no registration. On an error nothing
/// stays registered or installed.
pub(super) fn register(mask: Mask, target: Target) -> io::Result<u64> {
    start_dispatcher()?;
    let mut reg = lock(&REGISTRY);
    let mut installed: Vec<libc::c_int> = Vec::new();
    for sig in signals_of(mask) {
        if reg.counts[sig as usize] == 0 {
            if let Err(e) = sys::install(sig) {
                for &done in &installed {
                    let _ = sys::restore(done);
                }
                let name = super::Signal(sig);
                return Err(io::Error::new(e.kind(), format!("guv: cannot handle {name}: {e}")));
            }
            installed.push(sig);
        }
    }
    for sig in signals_of(mask) {
        reg.counts[sig as usize] += 1;
    }
    reg.next_id += 1;
    let id = reg.next_id;
    reg.entries.push(Entry { id, mask, target });
    Ok(id)
}

/// Removes registration `id` (if still there), restoring the previous
/// disposition of each signal it was the last registration for.
pub(super) fn unregister(id: u64) {
    let removed = {
        let mut reg = lock(&REGISTRY);
        let Some(at) = reg.entries.iter().position(|e| e.id == id) else { return };
        let entry = reg.entries.swap_remove(at);
        for sig in signals_of(entry.mask) {
            reg.counts[sig as usize] -= 1;
            if reg.counts[sig as usize] == 0
                && let Err(e) = sys::restore(sig)
            {
                log::warn!(target: "guv::signal", "cannot restore the previous action of {}: {e}", super::Signal(sig));
            }
        }
        entry
    };
    // Its target (a hub handle, a mailbox) goes outside the lock.
    drop(removed);
}

/// The signal numbers in `mask`, lowest first.
pub(super) fn signals_of(mask: Mask) -> impl Iterator<Item = libc::c_int> {
    (1..=MAX as libc::c_int).filter(move |&sig| mask & bit(sig) != 0)
}

/// Blocks until a signal handler's self-pipe holds bytes, and takes them
/// (signals coalesce: one wake-up may stand for several). An error when it
/// cannot be read any more; an end of file (the write end closed, which
/// guv's handlers never do) is one too.
pub(crate) fn read_wakeup(pipe: &mut std::fs::File) -> io::Result<()> {
    let mut buf = [0u8; 64];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the self-pipe's write end was closed")),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The dispatch thread: after each byte read, hand every delivery to the
/// registrations that asked for it.
fn dispatch_loop(mut pipe: std::fs::File) {
    loop {
        if let Err(e) = read_wakeup(&mut pipe) {
            log::error!(target: "guv::signal", "the signal thread cannot read its pipe ({e}); signals are no longer delivered");
            return;
        }
        let mut wake: Vec<RemoteWaker> = Vec::new();
        let mut spawn: Vec<(u64, Handle)> = Vec::new();
        {
            // Flags are lowered under the lock, so that a registration
            // made meanwhile (which forgets older deliveries of a signal
            // it installs) cannot see one from before it.
            let reg = lock(&REGISTRY);
            let mut fired: Mask = 0;
            for sig in 1..=MAX {
                if sys::take_pending(sig) {
                    fired |= 1 << (sig - 1);
                }
            }
            if fired == 0 {
                continue;
            }
            for entry in reg.entries.iter().filter(|e| e.mask & fired != 0) {
                match &entry.target {
                    Target::Mailbox(mailbox) => wake.extend(mailbox.deliver(entry.mask & fired)),
                    Target::Spawn(hub) => spawn.push((entry.id, hub.clone())),
                }
            }
        }
        // Wake and spawn after the lock is released.
        for w in wake {
            w.wake();
        }
        for (id, hub) in spawn {
            match hub.spawn(move || super::run_handler(id)) {
                Ok(()) => {}
                // That hub's thread has ended (its handler table, which
                // unregisters what is left, may not have been torn down
                // yet): nothing can run it any more.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => unregister(id),
                // The hub could not be woken: this run is lost, not the
                // handler.
                Err(e) => log::warn!(target: "guv::signal", "a signal handler's run was dropped: {e}"),
            }
        }
    }
}
