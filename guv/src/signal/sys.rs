//! The unsafe half of [`guv::signal`](super): the process-wide signal
//! handler and the `sigaction` calls that install and restore it. Nothing
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
//! through an atomic pointer to an immutable, never-freed [`Chain`]), and
//! puts `errno` back. It takes no lock and allocates nothing.
//!
//! # Installing and restoring
//!
//! [`install`] reads the signal's current action, keeps it, points the
//! signal's chain at it and installs [`on_signal`]; [`restore`] puts the
//! kept action back, but only if [`on_signal`] is still the installed
//! handler. If another handler replaced it meanwhile, that one is left in
//! place (it is expected to call the one before it, which is guv's, as guv
//! calls the one before its own) and the signal is marked displaced: later
//! installs then leave the disposition alone too, unless it went back to
//! guv's handler or to `SIG_DFL`/`SIG_IGN`. The caller serialises all of
//! these (the registry's lock).

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use std::sync::{Mutex, PoisonError};

/// The highest signal number guv handles (Linux's `SIGRTMAX`); a signal's
/// bit in a mask is `1 << (sig - 1)`.
pub(super) const MAX: usize = 64;

/// The write end of the self-pipe (-1 until [`open_pipe`]); never closed.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// Raised by the handler for each signal that arrived, lowered by
/// [`take_pending`]. Index: the signal number.
static PENDING: [AtomicBool; MAX + 1] = [const { AtomicBool::new(false) }; MAX + 1];

/// What the handler calls after its own work, per signal; null: nothing.
///
/// # Invariant
///
/// A non-null pointer always comes from [`chain_for`]: a leaked `Chain`
/// that is never written or freed.
static CHAIN: [AtomicPtr<Chain>; MAX + 1] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX + 1];

/// A previous handler function and its calling convention.
#[derive(PartialEq, Eq)]
struct Chain {
    handler: libc::sighandler_t,
    siginfo: bool,
}

/// Where a signal's disposition stands (see the module docs).
#[derive(Clone, Copy)]
enum State {
    /// guv's handler is not installed, or was restored.
    Off,
    /// guv's handler is installed; `prev` is the action to put back.
    On { prev: libc::sigaction },
    /// guv's handler was installed, then replaced by another handler that
    /// guv left in place; `prev` is what guv's handler chains to.
    Displaced { prev: libc::sigaction },
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
        let chain = CHAIN[i].load(Ordering::Acquire);
        // SAFETY: non-null pointers in CHAIN point to leaked, immutable
        // `Chain`s (its invariant).
        if let Some(chain) = unsafe { chain.as_ref() } {
            if chain.siginfo {
                // SAFETY: with SA_SIGINFO the previous handler has the
                // three-argument signature; it gets what we were given.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(chain.handler) };
                f(sig, info, ctx);
            } else {
                // SAFETY: without SA_SIGINFO the previous handler takes the
                // signal number only.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(chain.handler) };
                f(sig);
            }
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The leaked `Chain` for `prev` (one per distinct handler and
/// convention, so repeated installs do not leak more), or null when
/// `prev` is `SIG_DFL` or `SIG_IGN`.
fn chain_for(prev: &libc::sigaction) -> *mut Chain {
    static CHAINS: Mutex<Vec<&'static Chain>> = Mutex::new(Vec::new());
    if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
        return std::ptr::null_mut();
    }
    let wanted = Chain { handler: prev.sa_sigaction, siginfo: prev.sa_flags & libc::SA_SIGINFO != 0 };
    let mut chains = CHAINS.lock().unwrap_or_else(PoisonError::into_inner);
    let chain = match chains.iter().find(|c| ***c == wanted) {
        Some(c) => *c,
        None => {
            let c: &'static Chain = Box::leak(Box::new(wanted));
            chains.push(c);
            c
        }
    };
    std::ptr::from_ref(chain).cast_mut()
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
/// end, kept for the handler, is non-blocking). Called once.
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

/// Installs guv's handler for `sig` (see the module docs). A delivery
/// recorded before this call is forgotten: nobody was registered for it.
pub(super) fn install(sig: libc::c_int) -> io::Result<()> {
    let i = usize::try_from(sig).expect("the registry passes valid signal numbers");
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
    CHAIN[i].store(chain_for(&cur), Ordering::Release);
    // SAFETY: all-zero is a valid sigaction; we fill in the fields we use.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
    // SA_ONSTACK: on a hub thread the handler runs on the hub's signal
    // stack rather than on whatever greenlet stack the signal lands on.
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    // SAFETY: `action.sa_mask` is a live sigset_t.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is a complete sigaction whose handler only does
    // async-signal-safe work (see `on_signal`).
    if let Err(e) = check(unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) }) {
        CHAIN[i].store(std::ptr::null_mut(), Ordering::Release);
        return Err(e);
    }
    states[i] = State::On { prev: cur };
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
    // SAFETY: `prev` is the complete action the kernel reported for `sig`
    // before guv's handler replaced it.
    check(unsafe { libc::sigaction(sig, &prev, std::ptr::null_mut()) })?;
    // A handler still running on another thread may have loaded the old
    // chain; it stays valid (never freed).
    CHAIN[i].store(std::ptr::null_mut(), Ordering::Release);
    states[i] = State::Off;
    Ok(())
}
