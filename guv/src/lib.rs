//! # guv: green threads for Rust
//!
//! guv runs code that looks blocking — read a socket, sleep, wait for a
//! result — as thousands of cheap *greenlets* on one OS thread, switching
//! between them only when one would block. It is the Rust counterpart of
//! Python's guv, eventlet and gevent.
//!
//! ```
//! use std::time::Duration;
//!
//! // No setup: the thread's hub starts on first use.
//! let a = guv::spawn(|| {
//!     guv::sleep(Duration::from_millis(20));
//!     "slow"
//! });
//! let b = guv::spawn(|| {
//!     guv::sleep(Duration::from_millis(10));
//!     "fast"
//! });
//! // Both sleep at the same time: this takes ~20 ms, not 30.
//! assert_eq!(b.wait().unwrap(), "fast");
//! assert_eq!(a.wait().unwrap(), "slow");
//! ```
//!
//! ## The parts
//!
//! - [`spawn`], [`spawn_n`], [`spawn_after`], [`Builder`]: start greenlets;
//!   [`GreenThread`]: wait for one, [`kill`] it, [`GreenThread::link`] a
//!   callback to its end.
//! - [`sleep`], [`gyield`]: give the other greenlets a turn.
//! - [`Timeout`], [`with_timeout`]: bound how long a greenlet may block.
//! - [`trampoline`]: wait for an fd to become ready — the primitive under
//!   [`net`]'s green sockets.
//! - [`net`]: green TCP, UDP and Unix sockets, [`listen`], [`connect`], DNS
//!   ([`net::dns`]); [`select`] waits on several fds at once.
//! - [`green`]: the std mirror (`green::{net, thread, time, io, process,
//!   fs, os}`), and [`green_std`], all of std with those swapped in.
//! - [`tpool`]: run blocking code on OS threads; [`block_on`] and
//!   [`support`]: futures and async I/O on the hub.
//! - [`hub`]: the per-thread scheduler, its configuration and [`hub::Handle`]
//!   for reaching it from other threads.
//! - [`main`]: `#[guv::main]` configures the hub around `fn main`.
//! - [`wsgi`]: the HTTP/1.1 server (`guv::wsgi::serve`, [`wsgi::Server`]
//!   with worker hubs); [`websocket`]: WebSocket apps on top of it.
//! - Coordination between greenlets (hub-local, `!Send`, FIFO, nothing lost
//!   when a waiter is killed): [`event`] (with [`Event`] and
//!   [`AsyncResult`]), [`queue`], [`Semaphore`] and friends, [`GreenPool`],
//!   [`GreenPile`], [`wait_all`]/[`joinall`]/[`killall`]/[`iwait`], and
//!   green-local storage with [`local!`].
//! - [`green::sync`]: `std::sync`'s API (`Mutex`, `Condvar`, `mpsc`, ...)
//!   whose waits park the greenlet; `Send + Sync`, across threads.
//!
//! ## How it works
//!
//! Each OS thread that uses guv gets a *hub*, created lazily: the thread's
//! own stack becomes its main greenlet and the event loop runs on a stack of
//! its own. Greenlets are stackful: each has an `mmap`'d stack (256 KiB of
//! address space by default, of which only touched pages use memory) with a
//! guard page below it, and switching is a register swap done by the
//! `context` crate — a few nanoseconds, no allocation. A greenlet that
//! blocks parks itself and switches to the next ready greenlet; the loop
//! fires timers and polls for I/O (epoll through `polling`) when the ready
//! queue is drained. See [`hub`] for the loop's exact order.
//!
//! Greenlets never move between threads, so [`spawn`] needs `'static` but
//! not `Send`, and `Rc`, `RefCell` and thread-locals are sound inside them.
//! Killing a greenlet, or a [`Timeout`] expiring, unwinds its stack with a
//! private payload, running its destructors; a panic ends only the greenlet
//! it happens in.
//!
//! The unsafe code is fenced into six small files (stacks, the switch, the
//! stack-overflow handler, the poller backends, raw socket and process
//! calls, scoped green threads, the green `Mutex`/`RwLock` data cells); the
//! crate denies `unsafe` everywhere else.

#![deny(unsafe_code)]
#![warn(
    missing_docs,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

pub mod debug;
mod error;
pub mod event;
pub mod green;
pub mod green_std;
mod greenlet;
mod greenthread;
pub mod hub;
mod io;
pub mod local;
pub mod net;
pub mod pool;
pub mod queue;
mod select;
pub mod semaphore;
pub mod support;
mod timeout;
pub mod tpool;
mod waiters;
pub mod websocket;
pub mod wsgi;

pub use error::Error;
pub use event::Never;
pub use event::flag::Event;
pub use event::result::AsyncResult;
pub use greenthread::{Builder, GreenThread, LinkId, gyield, kill, sleep, spawn, spawn_after, spawn_n};
pub use io::{Interest, notify_close, trampoline};
pub use net::{connect, listen};
pub use pool::{GreenPile, GreenPool, iwait, joinall, killall, wait_all, wait_all_timeout};
pub use select::{Readiness, select};
pub use semaphore::{BoundedSemaphore, CappedSemaphore, Semaphore, SemaphoreError, SemaphoreGuard};
pub use support::block_on;
pub use timeout::{Timeout, with_timeout};

/// Runs `fn main` (or any argument-less function) as the main greenlet of a
/// configured hub.
///
/// ```
/// #[guv::main(stack_size = 65536)]
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     assert_eq!(guv::hub::stack_size(), 65536);
///     let gt = guv::spawn(|| 40 + 2);
///     assert_eq!(gt.wait()?, 42);
///     Ok(())
/// }
/// ```
///
/// Options:
/// - `stack_size = N`: the default stack size of greenlets spawned by this
///   thread's hub (at least 16384, at most 1 GiB);
/// - `crate = "path"`: where the `guv` crate is, if renamed.
///
/// The attribute is a convenience: any thread can use guv from plain code.
pub use guv_macros::main;

/// Support for the macros. Not public API.
#[doc(hidden)]
pub mod __private {
    /// Applies `#[guv::main]`'s options to this thread's hub.
    pub fn configure_main(stack_size: Option<usize>) {
        if let Some(size) = stack_size
            && let Err(e) = crate::hub::set_stack_size(size)
        {
            panic!("#[guv::main]: {e}");
        }
    }
}
