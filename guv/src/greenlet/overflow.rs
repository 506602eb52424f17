//! Stack-overflow reporting: a `SIGSEGV`/`SIGBUS` handler that recognises a
//! fault in the running greenlet's guard page, names the greenlet and its
//! stack size, and aborts — as std does for threads. Faults it does not
//! recognise go to the handler that was installed before (std's, for the
//! main thread's own guard page) or to the default action.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::fmt::Write as _;
use std::io;
use std::sync::{Once, OnceLock};

use super::switch::with_current_fiber;

/// The handlers guv replaced, for chaining: `[SIGSEGV, SIGBUS]`.
static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();

/// Size of the alternate signal stack guv installs on threads that have none.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Installs the handler (once per process).
pub(crate) fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut prev = [empty_action(), empty_action()];
        let mut action = empty_action();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `sa_mask` is a valid sigset owned by `action`.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // SAFETY: reading the current disposition into an owned struct.
            unsafe { libc::sigaction(sig, std::ptr::null(), &mut prev[i]) };
        }
        // Publish the previous handlers before ours can run.
        let _ = PREVIOUS.set(prev);
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: `action` is fully initialised and `handler` has the
            // SA_SIGINFO signature.
            unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
        }
    });
}

fn empty_action() -> libc::sigaction {
    // SAFETY: `sigaction` is a plain C struct for which all-zero is valid
    // (SIG_DFL, no flags, empty mask).
    unsafe { std::mem::zeroed() }
}

/// An alternate signal stack guv installed for this thread; removed on drop.
///
/// # Invariant
///
/// `base` is a live mapping of `ALT_STACK_SIZE` bytes that is this thread's
/// registered alternate signal stack.
pub(crate) struct AltStack {
    base: *mut libc::c_void,
}

impl AltStack {
    /// Makes sure the current thread has an alternate signal stack (the
    /// overflow handler cannot run on the stack that overflowed). Threads
    /// started by std already have one; `None` means nothing was needed.
    pub(crate) fn ensure() -> io::Result<Option<AltStack>> {
        // SAFETY: all-zero is a valid `stack_t` to receive the current one.
        let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: querying only (first argument null).
        if unsafe { libc::sigaltstack(std::ptr::null(), &mut old) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if old.ss_flags & libc::SS_DISABLE == 0 {
            return Ok(None);
        }
        // SAFETY: a fresh anonymous mapping; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ALT_STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let new = libc::stack_t { ss_sp: base, ss_flags: 0, ss_size: ALT_STACK_SIZE };
        // SAFETY: `new` describes the live mapping just created.
        if unsafe { libc::sigaltstack(&new, std::ptr::null_mut()) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping the mapping created above, unused.
            unsafe { libc::munmap(base, ALT_STACK_SIZE) };
            return Err(err);
        }
        Ok(Some(AltStack { base }))
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let off = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        // SAFETY: unregistering first, so the mapping is no longer in use by
        // the kernel when it is unmapped (invariant: it is ours).
        unsafe {
            libc::sigaltstack(&off, std::ptr::null_mut());
            libc::munmap(self.base, ALT_STACK_SIZE);
        }
    }
}

/// A fixed buffer for formatting without allocating in the handler.
struct MsgBuf {
    buf: [u8; 512],
    len: usize,
}

impl std::fmt::Write for MsgBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers, and
    // SIGSEGV/SIGBUS carry a fault address.
    let addr = unsafe { (*info).si_addr() } as usize;
    with_current_fiber(|fiber| {
        let Some(fiber) = fiber else { return };
        if addr < fiber.guard.0 || addr >= fiber.guard.1 {
            return;
        }
        let mut msg = MsgBuf { buf: [0; 512], len: 0 };
        let _ = match &fiber.name {
            Some(name) => write!(msg, "\ngreenlet '{name}' (#{})", fiber.id),
            None => write!(msg, "\ngreenlet #{}", fiber.id),
        };
        let _ = write!(
            msg,
            " has overflowed its stack of {} bytes\nfatal runtime error: stack overflow \
             (raise it with guv::Builder::stack_size or guv::hub::set_stack_size), aborting\n",
            fiber.stack_size
        );
        // SAFETY: writing an initialised buffer to stderr; async-signal-safe.
        unsafe { libc::write(2, msg.buf.as_ptr().cast(), msg.len) };
        std::process::abort();
    });
    chain(sig, info, uctx);
}

/// Hands a fault that is not a greenlet overflow to the previous handler.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    let idx = if sig == libc::SIGSEGV { 0 } else { 1 };
    let prev = PREVIOUS.get().map(|p| p[idx]);
    match prev {
        Some(prev) if prev.sa_sigaction != libc::SIG_DFL && prev.sa_sigaction != libc::SIG_IGN => {
            if prev.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was registered with SA_SIGINFO,
                // so it has this signature; we pass the kernel's arguments on.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(prev.sa_sigaction) };
                f(sig, info, uctx);
            } else {
                // SAFETY: a handler registered without SA_SIGINFO takes the
                // signal number only.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // Restore the default action and return: the faulting
            // instruction runs again and the process dies of the signal.
            let dfl = empty_action();
            // SAFETY: installing SIG_DFL.
            unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
        }
    }
}
