//! The context switch: the only code that touches the `context` crate.
//!
//! A [`Fiber`] is one execution context: either the thread's own (native)
//! stack or a guv-allocated [`Stack`]. [`Fiber::switch`] saves the running
//! fiber and resumes another; [`Fiber::exit`] leaves a finished fiber for
//! good. Nothing here allocates.
//!
//! # How a switch hands over
//!
//! `context` returns, in the resumed fiber, the context of the fiber that
//! switched to it. Every jump therefore carries a pointer to a [`Msg`] on the
//! sender's stack that says where the sender wants its context stored (or
//! nowhere, when it has finished) and, for a fresh fiber, which function to
//! run. The receiver reads the message first thing after the jump, while the
//! sender's frame is still intact.
//!
//! # The return-stack buffer
//!
//! `context`'s `jump_fcontext` is entered with `call` but leaves with an
//! indirect `jmp` to the resumed fiber's saved return address, never with
//! `ret`. Each switch therefore leaves one stale entry on the CPU's
//! return-address predictor, and every `ret` on the resumed fiber's way back
//! to user code mispredicts (measured here: a switch under five frames costs
//! 50 ns through `Context::resume`, 34 ns without the stale entry). On
//! x86-64 guv enters `jump_fcontext` itself, with the return address pushed
//! by hand and a `jmp`, so that the predictor stays balanced; elsewhere it
//! uses `Context::resume`.
//!
//! Replacing the switch layer (corosensei, hand-written assembly) means
//! rewriting this file only.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

use context::{Context, Transfer};

use super::stack::Stack;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Prepared on its stack, never resumed.
    Fresh,
    /// Executing now.
    Running,
    /// Switched away from; its frames are alive on its stack.
    Suspended,
    /// Left through [`Fiber::exit`] (or retired before it started).
    Finished,
}

/// A fiber taken out of its suspension by [`Fiber::prepare_resume`], to be
/// jumped to by [`Fiber::switch_into`]. The fiber is marked running, so
/// its stack stays mapped (see the [`Fiber`] invariant) and nothing else can
/// resume it; a `Resume` that is dropped unused leaves it unresumable.
#[must_use]
pub(crate) struct Resume {
    ctx: Context,
    entry: Option<fn() -> !>,
}

/// What a jump carries from sender to receiver; lives on the sender's stack.
struct Msg {
    /// The sender's context slot, or null when the sender has finished.
    save: *const Cell<Option<Context>>,
    /// The function a fresh receiver runs.
    entry: Option<fn() -> !>,
}

thread_local! {
    /// The fiber running on this thread, for the stack-overflow handler.
    static CURRENT: Cell<*const Fiber> = const { Cell::new(std::ptr::null()) };
}

/// One execution context. `!Send`: fibers never leave their thread.
///
/// # Invariant
///
/// `ctx` is `Some` exactly when `phase` is `Fresh` or `Suspended`, and then it
/// is a context saved on this fiber's stack: `stack` for a guv fiber, the
/// thread's own stack for a native one. A guv fiber's `stack` is only given
/// away (by [`Fiber::retire`]) in phase `Fresh` or `Finished`, when no frame
/// lives on it, and is leaked rather than unmapped if the fiber is dropped
/// while `Suspended` or `Running` (also a fiber marked running by
/// [`Fiber::prepare_resume`] and not yet jumped to).
pub(crate) struct Fiber {
    ctx: Cell<Option<Context>>,
    phase: Cell<Phase>,
    stack: Cell<Option<Stack>>,
    entry: Option<fn() -> !>,
    /// Immutable identity, read by the stack-overflow handler.
    pub(crate) info: FiberInfo,
}

/// What the overflow handler needs to name a fiber. Immutable after creation.
pub(crate) struct FiberInfo {
    pub(crate) id: u64,
    pub(crate) name: Option<Box<str>>,
    /// Usable stack bytes (0 for the native stack).
    pub(crate) stack_size: usize,
    /// The guard page `[lo, hi)`, or `(0, 0)` for the native stack.
    pub(crate) guard: (usize, usize),
}

impl Fiber {
    /// The fiber of the code running now on the thread's own stack.
    pub(crate) fn native(id: u64, name: Option<Box<str>>) -> Fiber {
        Fiber {
            ctx: Cell::new(None),
            phase: Cell::new(Phase::Running),
            stack: Cell::new(None),
            entry: None,
            info: FiberInfo { id, name, stack_size: 0, guard: (0, 0) },
        }
    }

    /// A fiber that runs `entry` on `stack` when first switched to. `entry`
    /// must end with [`Fiber::exit`]; it may not return or unwind.
    pub(crate) fn new(stack: Stack, entry: fn() -> !, id: u64, name: Option<Box<str>>) -> Fiber {
        stack.clear_sanitizer_shadow();
        // SAFETY: `top`/`bottom` bound the usable part of a live mapping that
        // the fiber owns from here on; `context::Stack` does not own it.
        let ctx_stack = unsafe { context::stack::Stack::new(stack.top().cast(), stack.bottom().cast()) };
        // SAFETY: the context is created on memory that stays mapped while the
        // context may be resumed (the fiber invariant); `trampoline` never
        // returns and never unwinds.
        let ctx = unsafe { Context::new(&ctx_stack, trampoline) };
        let info = FiberInfo { id, name, stack_size: stack.size(), guard: stack.guard() };
        Fiber {
            ctx: Cell::new(Some(ctx)),
            phase: Cell::new(Phase::Fresh),
            stack: Cell::new(Some(stack)),
            entry: Some(entry),
            info,
        }
    }

    /// Whether the fiber has never been switched to.
    pub(crate) fn is_fresh(&self) -> bool {
        self.phase.get() == Phase::Fresh
    }

    /// Marks this fiber as the one running (for the overflow handler). Called
    /// once for the native fiber when the hub is created.
    pub(crate) fn mark_current(&self) {
        CURRENT.with(|c| c.set(self));
    }

    /// Forgets the running fiber (the hub is going away with it).
    pub(crate) fn clear_current() {
        let _ = CURRENT.try_with(|c| c.set(std::ptr::null()));
    }

    /// Takes the saved context of a fiber about to be resumed.
    #[inline]
    fn take_for_resume(&self) -> (Context, Option<fn() -> !>) {
        // Only a fresh or suspended fiber has a context (the invariant), so
        // taking it is the phase check.
        let Some(ctx) = self.ctx.take() else { bad_phase("switch to", self.phase.get()) };
        let phase = self.phase.replace(Phase::Running);
        debug_assert!(matches!(phase, Phase::Fresh | Phase::Suspended), "a {phase:?} fiber had a context");
        let entry = if phase == Phase::Fresh { self.entry } else { None };
        CURRENT.with(|c| c.set(self));
        (ctx, entry)
    }

    /// Suspends `self` (which must be running) and resumes `to` (which must be
    /// fresh or suspended). Returns when some fiber switches back to `self`.
    #[inline]
    pub(crate) fn switch(&self, to: &Fiber) {
        if self.phase.get() != Phase::Running {
            bad_phase("switch from", self.phase.get());
        }
        let (ctx, entry) = to.take_for_resume();
        // SAFETY: `ctx` was just taken out of `to`, which is running from now on.
        unsafe { self.jump_from(ctx, entry) };
    }

    /// The first half of a switch to `self` (which must be fresh or
    /// suspended; it is marked running from here on): takes what
    /// [`Fiber::switch_into`] needs, so that the caller can finish its
    /// bookkeeping before it jumps without keeping `self` borrowed.
    #[inline]
    pub(crate) fn prepare_resume(&self) -> Resume {
        let (ctx, entry) = self.take_for_resume();
        Resume { ctx, entry }
    }

    /// Suspends `self` (which must be running) and resumes the fiber that
    /// `to` was prepared from. Returns when some fiber switches back to
    /// `self`.
    #[inline(always)]
    pub(crate) fn switch_into(&self, to: Resume) {
        if self.phase.get() != Phase::Running {
            bad_phase("switch from", self.phase.get());
        }
        // SAFETY: a `Resume` is only made by `prepare_resume`, which took its
        // context out of a fiber that it marked running; `to` is consumed.
        unsafe { self.jump_from(to.ctx, to.entry) };
    }

    /// Suspends `self` and jumps to `ctx`, passing `entry` for a fresh
    /// receiver.
    ///
    /// # Safety
    ///
    /// `ctx` must have been taken by `take_for_resume` from a fiber that has
    /// stayed running since (so its stack is still mapped: a running fiber's
    /// stack is never unmapped, see the [`Fiber`] invariant), and not been
    /// jumped to yet.
    #[inline(always)]
    unsafe fn jump_from(&self, ctx: Context, entry: Option<fn() -> !>) {
        self.phase.set(Phase::Suspended);
        let msg = Msg { save: &self.ctx, entry };
        // SAFETY: `ctx` is a context saved on a stack that is still mapped and
        // that nothing else will resume (the caller's guarantee). `msg` stays
        // alive on this frame until we are resumed, and the receiver reads it
        // at once.
        let t = unsafe { jump(ctx, &msg as *const Msg as usize) };
        // SAFETY: whoever resumed us passed a pointer to their live `Msg`.
        unsafe { receive(t) };
    }

    /// Leaves `self` for good and resumes `to`. After this, `self`'s stack
    /// holds no live frame and may be retired by the code that runs next.
    pub(crate) fn exit(&self, to: &Fiber) -> ! {
        assert_eq!(self.phase.get(), Phase::Running, "guv internal error: exit from a fiber that is not running");
        let (ctx, entry) = to.take_for_resume();
        self.phase.set(Phase::Finished);
        let msg = Msg { save: std::ptr::null(), entry };
        // SAFETY: as in `switch`; `msg` lives on this (dying) stack, which is
        // not retired before the receiver has read it, because retiring is
        // done by code that runs after the receiver resumes.
        unsafe { jump(ctx, &msg as *const Msg as usize) };
        // A finished fiber is never resumed: `take_for_resume` refuses it.
        std::process::abort()
    }

    /// Gives the stack back once no frame can live on it: the fiber never
    /// started (it is finished from now on) or it has exited. Returns `None`
    /// while the fiber is running or suspended, or for a native fiber.
    pub(crate) fn retire(&self) -> Option<Stack> {
        match self.phase.get() {
            Phase::Fresh => {
                self.ctx.set(None);
                self.phase.set(Phase::Finished);
                self.stack.take()
            }
            Phase::Finished => self.stack.take(),
            Phase::Running | Phase::Suspended => None,
        }
    }
}

impl Drop for Fiber {
    fn drop(&mut self) {
        if matches!(self.phase.get(), Phase::Suspended | Phase::Running) {
            // Frames are alive on this stack (a greenlet abandoned while
            // blocked): never unmap memory they may still point into.
            std::mem::forget(self.stack.take());
        }
    }
}

/// Leaves the running fiber for good, handing its owner to whoever runs next.
///
/// `me` owns the running fiber (reached through `fiber_of`); it is moved into
/// `zombie`, where the code that resumes after the jump finds it and retires
/// its stack. No reference count is left behind on the dying stack.
pub(crate) fn exit_into<T: ?Sized>(
    me: std::rc::Rc<T>,
    fiber_of: fn(&T) -> &Fiber,
    zombie: &Cell<Option<std::rc::Rc<T>>>,
    to: &Fiber,
) -> ! {
    // Reap a leftover first, so that the `set` below runs no destructor.
    drop(zombie.take());
    let fiber: *const Fiber = fiber_of(&me);
    zombie.set(Some(me));
    // SAFETY: `fiber` points into the `Rc` allocation now owned by `zombie`;
    // an `Rc`'s pointee never moves, and nothing runs between here and the
    // jump in `exit` that could take the zombie and drop it.
    let fiber = unsafe { &*fiber };
    fiber.exit(to)
}

#[cfg(target_arch = "x86_64")]
unsafe extern "C" {
    /// `context`'s switch routine (boost.context's `jump_fcontext`), linked
    /// into every program that depends on the crate.
    fn jump_fcontext(to: *const context::c_void, data: usize) -> Transfer;
}

// `Context` is `#[repr(C)]` around one pointer in the pinned context 3.0.0;
// the transmutes in `jump` rely on it.
#[cfg(target_arch = "x86_64")]
const _: () = assert!(size_of::<Context>() == size_of::<*const context::c_void>());

/// Resumes `to`, passing `data`, and returns what the fiber that later
/// resumes us passes: `Context::resume` without the stale return-predictor
/// entry (see the module docs).
///
/// # Safety
///
/// As `Context::resume`: `to` must be a context saved on a stack that is
/// still mapped and that nothing else will resume.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn jump(to: Context, data: usize) -> Transfer {
    // SAFETY: `Context` is a `repr(C)` wrapper of one pointer (asserted above).
    let to: *const context::c_void = unsafe { std::mem::transmute(to) };
    let (from, data_back): (*const context::c_void, usize);
    // SAFETY: this is exactly a `call jump_fcontext` — the return address
    // pushed onto the stack, where `jump_fcontext` saves it as the resume
    // point — except that it goes through `jmp`, so no return-predictor
    // entry is pushed. `jump_fcontext` saves and restores the callee-saved
    // registers itself; the caller-saved ones are declared clobbered. The
    // caller guarantees that `to` may be resumed.
    unsafe {
        std::arch::asm!(
            "lea 2f(%rip), %rax",
            "push %rax",
            "jmp {jump}",
            "2:",
            jump = sym jump_fcontext,
            in("rdi") to,
            in("rsi") data,
            lateout("rax") from,
            lateout("rdx") data_back,
            clobber_abi("C"),
            options(att_syntax),
        );
    }
    // SAFETY: `jump_fcontext` returned the suspended context of the fiber
    // that resumed us, a valid `Context` (repr(C) pointer, asserted above).
    let context = unsafe { std::mem::transmute::<*const context::c_void, Context>(from) };
    Transfer { context, data: data_back }
}

/// [`Context::resume`] on targets without the predictor fix.
///
/// # Safety
///
/// As `Context::resume`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
unsafe fn jump(to: Context, data: usize) -> Transfer {
    // SAFETY: forwarded from the caller.
    unsafe { to.resume(data) }
}

#[cold]
#[inline(never)]
fn bad_phase(what: &str, phase: Phase) -> ! {
    panic!("guv internal error: {what} a fiber that is {phase:?}")
}

/// Runs in the receiver right after a jump: stores the sender's context where
/// it asked, and returns the entry function it passed (for fresh fibers).
///
/// # Safety
///
/// `t.data` must point to a live [`Msg`] whose `save`, if not null, points to
/// the sender's context slot, which outlives the sender's suspension.
#[inline(always)]
unsafe fn receive(t: Transfer) -> Option<fn() -> !> {
    // SAFETY: guaranteed by the caller.
    let msg = unsafe { &*(t.data as *const Msg) };
    if !msg.save.is_null() {
        // SAFETY: the sender's slot belongs to a fiber borrowed by the
        // sender's suspended frame, so it is alive (caller's guarantee).
        unsafe { (*msg.save).set(Some(t.context)) };
    }
    msg.entry
}

/// The first code a fresh fiber runs.
extern "C" fn trampoline(t: Transfer) -> ! {
    // SAFETY: a fresh fiber is only resumed by `Fiber::switch`/`exit`, which
    // pass a live `Msg`.
    let entry = unsafe { receive(t) };
    // A panic must never reach this `extern "C"` frame; `entry` catches
    // everything itself, and this is the last line of defence.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| match entry {
        Some(entry) => entry(),
        None => panic!("guv internal error: fresh fiber without an entry"),
    }));
    eprintln!("guv: fatal: a greenlet's entry unwound past its boundary");
    std::process::abort()
}

/// Calls `f` with the identity of the running fiber if it runs on a guv
/// stack (the native stack has no guard page guv knows of). Used by the
/// stack-overflow handler, so it takes no lock and allocates nothing.
pub(crate) fn with_current_fiber<R>(f: impl FnOnce(Option<&FiberInfo>) -> R) -> R {
    let ptr = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    if ptr.is_null() {
        return f(None);
    }
    // SAFETY: CURRENT always points at the running fiber (set by
    // `take_for_resume` before every jump), and the hub keeps the running
    // fiber alive while it runs, which includes the duration of this call;
    // `info` is never mutated after creation.
    let info = unsafe { &(*ptr).info };
    f((info.guard != (0, 0)).then_some(info))
}
