//! The unsafe half of [`guv::signal`](super): the process-wide signal
//! handler, the `sigaction` calls that install and restore it, and the
//! hooks that give child processes the dispositions guv found. Nothing
//! here knows about greenlets; the registry (`registry.rs`) decides when a
//! signal is installed or restored and reads what the handler recorded.
//!
//! # The handler
//!
//! One function, [`on_signal`], serves every signal guv catches. It only
//! does what is async-signal-safe: it saves `errno`, raises the signal's
//! flag in [`PENDING`] (an atomic store), writes one byte to the
//! non-blocking self-pipe (a full pipe already holds a wake-up), calls the
//! handler that was installed before it if that was a function (read
//! through an atomic pointer to an immutable, never-freed [`Kept`]), and
//! puts `errno` back. It takes no lock and allocates nothing.
//!
//! # Installing and restoring
//!
//! [`install`] reads the signal's current action, keeps it (a [`Kept`]),
//! and installs [`on_signal`] with the flags and mask [`action_over`]
//! derives from the kept action, so that the kept handler runs as it would
//! have on its own; [`restore`] puts the kept action back, but only if
//! [`on_signal`] is still the installed handler. If another handler
//! replaced it meanwhile, that one is left in place (it is expected to
//! call the one before it, which is guv's, as guv calls the one before its
//! own) and the signal is marked displaced: later installs then leave the
//! disposition alone too, unless it went back to guv's handler or to
//! `SIG_DFL`/`SIG_IGN`. The caller serialises all of these (the registry's
//! lock).
//!
//! # Children
//!
//! `exec` resets a caught signal to `SIG_DFL` but keeps an ignored one
//! ignored, so while guv catches a signal that was `SIG_IGN` a child would
//! lose that. A `pthread_atfork` child hook ([`after_fork`], registered
//! with the first install) puts back, in the child of every `fork`, each
//! kept action whose signal still has guv's handler; [`restore_before_exec`]
//! does the same from a `Command`'s `pre_exec` hook, for the spawns that do
//! not go through `fork` (`posix_spawn` runs no hook).

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use std::sync::{Mutex, Once, PoisonError};

/// The highest signal number guv handles (Linux's `SIGRTMAX`); a signal's
/// bit in a mask is `1 << (sig - 1)`.
pub(super) const MAX: usize = 64;

/// The write end of the self-pipe (-1 until [`open_pipe`]); never closed.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// Raised by the handler for each signal that arrived, lowered by
/// [`take_pending`]. Index: the signal number.
static PENDING: [AtomicBool; MAX + 1] = [const { AtomicBool::new(false) }; MAX + 1];

/// The action guv's handler replaced, per signal; null while guv's handler
/// was never installed for it or has been restored. The handler chains to
/// it; a restore and a forked child put it back.
///
/// # Invariant
///
/// A non-null pointer always comes from [`keep`]: a leaked `Kept` that is
/// never freed, whose `action` the kernel reported for that signal.
static KEPT: [AtomicPtr<Kept>; MAX + 1] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX + 1];

/// A signal's action from before a handler of guv's replaced it (guv's
/// signal handler or the `SIGCHLD` watcher's).
pub(crate) struct Kept {
    /// As the kernel reported it; never changed.
    action: libc::sigaction,
    /// Its handler was installed with `SA_RESETHAND` and has run once: the
    /// kernel would have made the signal `SIG_DFL` then, so it is not
    /// called again and `SIG_DFL` is what goes back.
    spent: AtomicBool,
}

impl Kept {
    /// Calls the kept handler, if it is a function that may still run, as
    /// the kernel would have: with the siginfo and context under
    /// `SA_SIGINFO`, once only under `SA_RESETHAND`. (Its `sa_mask` and
    /// `SA_NODEFER` are honoured by the action chaining to it: see
    /// [`action_over`].) Async-signal-safe; the pointers are passed on,
    /// never read.
    pub(crate) fn call(&self, sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        let handler = self.action.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            return;
        }
        if self.action.sa_flags & libc::SA_RESETHAND != 0 && self.spent.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.action.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the kernel reported `handler` as the signal's handler
            // with SA_SIGINFO (the invariant of `Kept::action`), so it has
            // the three-argument signature; it gets what we were given.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            f(sig, info, ctx);
        } else {
            // SAFETY: as above, without SA_SIGINFO: the one-argument form.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            f(sig);
        }
    }

    /// The action to put back: the kept one, with `SIG_DFL` for a one-shot
    /// handler that has run.
    fn to_restore(&self) -> libc::sigaction {
        let mut action = self.action;
        if self.spent.load(Ordering::Acquire) {
            action.sa_sigaction = libc::SIG_DFL;
        }
        action
    }
}

fn same_action(a: &libc::sigaction, b: &libc::sigaction) -> bool {
    // SAFETY: sigismember only reads the two live sets.
    let same_mask = (1..=MAX as libc::c_int)
        .all(|s| unsafe { libc::sigismember(&a.sa_mask, s) == libc::sigismember(&b.sa_mask, s) });
    a.sa_sigaction == b.sa_sigaction && a.sa_flags == b.sa_flags && same_mask
}

/// The leaked `Kept` for `sig`'s action `prev`: one per signal and
/// distinct action, so repeated installs do not leak more. A one-shot
/// handler that has run is not reused (its signal was `SIG_DFL` since).
pub(crate) fn keep(sig: libc::c_int, prev: &libc::sigaction) -> &'static Kept {
    static ALL: Mutex<Vec<(libc::c_int, &'static Kept)>> = Mutex::new(Vec::new());
    let mut all = ALL.lock().unwrap_or_else(PoisonError::into_inner);
    let found = all.iter().find(|(s, k)| *s == sig && same_action(&k.action, prev) && !k.spent.load(Ordering::Acquire));
    match found {
        Some((_, k)) => k,
        None => {
            let k: &'static Kept = Box::leak(Box::new(Kept { action: *prev, spent: AtomicBool::new(false) }));
            all.push((sig, k));
            k
        }
    }
}

/// The action that installs `handler` (guv's or the `SIGCHLD` watcher's,
/// both `SA_SIGINFO` functions that chain to `prev`) in place of `prev`,
/// so that `prev`'s handler still runs as it did on its own:
///
/// - `sa_mask` is `prev`'s, so the signals it blocked stay blocked while
///   it runs (and while guv's short handler runs before it);
/// - `SA_NODEFER` and `SA_RESTART` are `prev`'s if it was a function (a
///   handler that relied on interrupted calls failing with `EINTR` still
///   sees that); otherwise guv asks for restarts, to disturb other code as
///   little as possible;
/// - `SA_NOCLDSTOP` is `prev`'s, whatever it was, so a child that stops or
///   continues raises `SIGCHLD` only if it did before;
/// - `SA_ONSTACK` is always set: on a hub thread the handler must run on
///   the hub's signal stack, not on the small stack of whatever greenlet
///   it lands on (a `prev` handler runs there too, which is the one thing
///   not as before);
/// - `SA_RESETHAND` is emulated ([`Kept::call`]), not set, since it would
///   remove `handler` too.
pub(crate) fn action_over(handler: libc::sighandler_t, prev: &libc::sigaction) -> libc::sigaction {
    // SAFETY: all-zero is a valid sigaction; we fill in the fields we use.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | (prev.sa_flags & libc::SA_NOCLDSTOP);
    if prev.sa_sigaction != libc::SIG_DFL && prev.sa_sigaction != libc::SIG_IGN {
        action.sa_flags |= prev.sa_flags & (libc::SA_RESTART | libc::SA_NODEFER);
        action.sa_mask = prev.sa_mask;
    } else {
        action.sa_flags |= libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a live sigset_t.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
    }
    action
}

/// Where a signal's disposition stands (see the module docs).
#[derive(Clone, Copy)]
enum State {
    /// guv's handler is not installed, or was restored.
    Off,
    /// guv's handler is installed; `prev` is the action to put back.
    On { prev: &'static Kept },
    /// guv's handler was installed, then replaced by another handler that
    /// guv left in place; `prev` is what guv's handler chains to.
    Displaced { prev: &'static Kept },
}

static STATES: Mutex<[State; MAX + 1]> = Mutex::new([State::Off; MAX + 1]);

/// Runs `f` serialised with [`install`] and [`restore`]: for the `SIGCHLD`
/// child watcher (`green/sys.rs`), whose install also reads the current
/// action, keeps it to chain to and puts its own handler in place. Without
/// this, an install of either between the other's read and its write
/// replaced that one's handler without chaining to it (a `Signals` for
/// `SIGCHLD` then never saw a delivery, or child waits never woke).
pub(crate) fn serialized<R>(f: impl FnOnce() -> R) -> R {
    let _states = STATES.lock().unwrap_or_else(PoisonError::into_inner);
    f()
}

/// The async-signal-safe handler of every signal guv catches.
extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: __errno_location returns this thread's errno slot; it is
    // saved here and restored below, so the interrupted code sees no change.
    let errno = unsafe { *libc::__errno_location() };
    let index = usize::try_from(sig).ok().filter(|&i| (1..=MAX).contains(&i));
    if let Some(i) = index {
        // Release: the registry's `take_pending` (Acquire) that sees the
        // flag also sees everything before it; the byte below is written
        // after the flag, so the reader that reads it finds the flag up.
        PENDING[i].store(true, Ordering::Release);
    }
    let fd = PIPE_WRITE.load(Ordering::Acquire);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; `byte` is a live buffer of
        // the length passed. A full pipe (EAGAIN) already holds a wake-up.
        unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    }
    if let Some(i) = index {
        // SAFETY: non-null pointers in KEPT point to leaked `Kept`s (its
        // invariant).
        if let Some(prev) = unsafe { KEPT[i].load(Ordering::Acquire).as_ref() } {
            prev.call(sig, info, ctx);
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// The action installed for `sig` now.
fn current(sig: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: all-zero is a valid sigaction for the kernel to fill in.
    let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `cur`.
    check(unsafe { libc::sigaction(sig, std::ptr::null(), &mut cur) })?;
    Ok(cur)
}

fn is_ours(action: &libc::sigaction) -> bool {
    action.sa_sigaction == on_signal as *const () as libc::sighandler_t
}

/// Creates the self-pipe and returns its read end (blocking; the write
/// end, kept for the handler, is non-blocking). Both ends are close-on-exec,
/// so no child process inherits them. Called once.
pub(super) fn open_pipe() -> io::Result<OwnedFd> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh fds that nothing else owns.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    crate::net::set_nonblocking(std::os::fd::AsFd::as_fd(&write_end), true)?;
    // The write end lives as long as the process: the handler may use it
    // at any time, on any thread.
    PIPE_WRITE.store(write_end.into_raw_fd(), Ordering::Release);
    Ok(read_end)
}

/// Lowers `sig`'s flag; whether it was up (the signal arrived since the
/// last call).
pub(super) fn take_pending(sig: usize) -> bool {
    PENDING[sig].swap(false, Ordering::Acquire)
}

/// Puts back, for every signal whose handler is guv's now, the action guv
/// found (except `skip`). Async-signal-safe: atomics and `sigaction`
/// only, for a forked child before it calls `exec` or anything else.
fn put_back_kept(skip: libc::c_int) {
    for (i, kept) in KEPT.iter().enumerate().skip(1) {
        let sig = i as libc::c_int; // at most MAX: fits
        // SAFETY: non-null pointers in KEPT point to leaked `Kept`s.
        let Some(kept) = (unsafe { kept.load(Ordering::Acquire).as_ref() }) else { continue };
        if sig == skip || !current(sig).is_ok_and(|cur| is_ours(&cur)) {
            continue;
        }
        let action = kept.to_restore();
        // SAFETY: `action` is a complete action the kernel reported for
        // `sig` (or that one made SIG_DFL).
        unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
    }
}

/// Whether a child spawned now without a `pre_exec` hook would lose a
/// disposition guv found: some signal that was `SIG_IGN` before guv's
/// handler replaced it still has guv's handler (`exec` would make it
/// `SIG_DFL`). `SIGPIPE` does not count: std resets it in every child.
/// Reads the kept actions (atomics) and, for each one that was ignored,
/// the signal's current action.
pub(super) fn catches_an_ignored_signal() -> bool {
    KEPT.iter().enumerate().skip(1).any(|(i, kept)| {
        let sig = i as libc::c_int; // at most MAX: fits
        // SAFETY: non-null pointers in KEPT point to leaked `Kept`s.
        let Some(kept) = (unsafe { kept.load(Ordering::Acquire).as_ref() }) else { return false };
        sig != libc::SIGPIPE
            && kept.to_restore().sa_sigaction == libc::SIG_IGN
            && current(sig).is_ok_and(|cur| is_ours(&cur))
    })
}

/// The `pthread_atfork` child hook: the child of a `fork` has none of
/// guv's threads, so its deliveries could never be dispatched; it gets the
/// dispositions guv found instead, and so does whatever it `exec`s.
extern "C" fn after_fork() {
    put_back_kept(0);
}

/// Registers [`after_fork`], once.
fn hook_fork() -> io::Result<()> {
    static HOOKED: Once = Once::new();
    let mut rc = 0;
    // SAFETY: the child hook only makes async-signal-safe calls, as code
    // running in a forked child of a threaded process must.
    HOOKED.call_once(|| rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork)) });
    if rc != 0 { Err(io::Error::from_raw_os_error(rc)) } else { Ok(()) }
}

/// Makes `cmd`'s child put back the dispositions guv found before it
/// `exec`s (see [`super::inherit_dispositions`]). `SIGPIPE` is left to
/// std, which sets it to `SIG_DFL` in every child before this hook runs.
pub(super) fn restore_before_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the forked child; it only reads atomics and
    // calls sigaction, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            put_back_kept(libc::SIGPIPE);
            Ok(())
        })
    };
}

/// Installs guv's handler for `sig` (see the module docs). A delivery
/// recorded before this call is forgotten: nobody was registered for it.
pub(super) fn install(sig: libc::c_int) -> io::Result<()> {
    let i = usize::try_from(sig).expect("the registry passes valid signal numbers");
    hook_fork()?;
    let mut states = STATES.lock().unwrap_or_else(PoisonError::into_inner);
    // Nobody is registered for `sig` (the registry installs on its first
    // registration): a delivery recorded so far belongs to nobody.
    PENDING[i].store(false, Ordering::Relaxed);
    let cur = current(sig)?;
    match states[i] {
        State::On { .. } => return Ok(()),
        State::Displaced { prev } => {
            if is_ours(&cur) {
                states[i] = State::On { prev };
                return Ok(());
            }
            if cur.sa_sigaction != libc::SIG_DFL && cur.sa_sigaction != libc::SIG_IGN {
                // Another handler, which is expected to chain to ours.
                return Ok(());
            }
        }
        State::Off => {}
    }
    if sig == libc::SIGCHLD && (cur.sa_sigaction == libc::SIG_IGN || cur.sa_flags & libc::SA_NOCLDWAIT != 0) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SIGCHLD is ignored in this process (children are reaped automatically); catching it would \
             change that",
        ));
    }
    let prev = keep(sig, &cur);
    KEPT[i].store(std::ptr::from_ref(prev).cast_mut(), Ordering::Release);
    let action = action_over(on_signal as *const () as libc::sighandler_t, &cur);
    // SAFETY: `action` is a complete sigaction whose handler only does
    // async-signal-safe work (see `on_signal`).
    if let Err(e) = check(unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) }) {
        KEPT[i].store(std::ptr::null_mut(), Ordering::Release);
        return Err(e);
    }
    states[i] = State::On { prev };
    Ok(())
}

/// Puts back the action `install` found, if guv's handler is still the
/// installed one (see the module docs).
pub(super) fn restore(sig: libc::c_int) -> io::Result<()> {
    let i = usize::try_from(sig).expect("the registry passes valid signal numbers");
    let mut states = STATES.lock().unwrap_or_else(PoisonError::into_inner);
    let State::On { prev } = states[i] else { return Ok(()) };
    if !is_ours(&current(sig)?) {
        states[i] = State::Displaced { prev };
        return Ok(());
    }
    let action = prev.to_restore();
    // SAFETY: `action` is the complete action the kernel reported for
    // `sig` before guv's handler replaced it (or that one made SIG_DFL).
    check(unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) })?;
    // A handler still running on another thread may have loaded the old
    // pointer; it stays valid (never freed).
    KEPT[i].store(std::ptr::null_mut(), Ordering::Release);
    states[i] = State::Off;
    Ok(())
}
