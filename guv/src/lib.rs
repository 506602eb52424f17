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
//! - [`Error`]: how a greenlet ended other than by returning (killed, timed
//!   out, panicked); [`catch_unwind`], [`is_interrupt`] and
//!   [`resume_unwind`] catch panics without catching kills and timeouts.
//! - [`trampoline`]: wait for an fd to become ready — the primitive under
//!   [`net`]'s green sockets.
//! - [`net`]: green TCP, UDP and Unix sockets, [`listen`], [`connect`], DNS
//!   ([`net::dns`]); [`select()`] waits on several fds at once.
//! - [`green`](mod@green): the std mirror (`green::{net, thread, time, io, process,
//!   fs, os}`), and [`green_std`], all of std with those swapped in.
//! - [`tpool`]: run blocking code on OS threads; [`block_on`] and
//!   [`support`]: futures and async I/O on the hub.
//! - [`hub`]: the per-thread scheduler, its configuration and [`hub::Handle`]
//!   for reaching it from other threads.
//! - [`main`]: `#[guv::main]` configures the hub around `fn main`;
//!   [`macro@patched`], [`macro@green`], [`macro@test`], [`import_patched!`],
//!   [`original!`] and [`is_patched!`]: the compile-time patching of `std`.
//! - [`signal`]: Unix signals for greenlets: [`signal::Signals`] parks a
//!   greenlet until one arrives, [`signal::handler`] runs a closure in a new
//!   greenlet at each delivery (gevent's `signal_handler`).
//! - [`debug`]: turn the printing of greenlets' panics off
//!   ([`debug::hub_exceptions`]).
//! - [`server`]: a plain TCP server, one greenlet per connection:
//!   [`serve`] (eventlet's `serve`), [`StreamServer`] and [`ServerHandle`]
//!   (gevent's `StreamServer`: `start`, `serve_forever`, `stop`), [`StopServe`];
//!   [`DatagramServer`] and [`DatagramHandle`] (gevent's `DatagramServer`):
//!   one greenlet per UDP or Unix datagram.
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
//! 64 KiB `PROT_NONE` guard region below it, and switching is a register swap done by the
//! `context` crate — a few nanoseconds, no allocation. A greenlet that
//! blocks parks itself and switches to the next ready greenlet; the loop
//! fires timers and polls for I/O (epoll, one system call per wait) when the ready
//! queue is drained. See [`hub`] for the loop's exact order.
//!
//! Greenlets never move between threads, so [`spawn`] needs `'static` but
//! not `Send`, and `Rc`, `RefCell` and thread-locals are sound inside them.
//! Killing a greenlet, or a [`Timeout`] expiring, unwinds its stack with a
//! private payload, running its destructors; a panic ends only the greenlet
//! it happens in.
//!
//! The unsafe code is fenced into a few small files (stacks, the switch, the
//! stack-overflow handler, the poller backends, raw socket, file and process
//! calls, the handler of [`signal`] (`signal/sys.rs`), scoped green threads,
//! the green `Mutex`/`RwLock` data cells, the HTTP server's coarse clock);
//! the crate denies `unsafe` everywhere else.

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
mod links;
pub mod local;
mod macro_support;
pub mod net;
pub mod pool;
pub mod queue;
mod select;
pub mod semaphore;
pub mod server;
pub mod signal;
pub mod support;
mod timeout;
pub mod tpool;
mod waiters;
pub mod websocket;
pub mod wsgi;

pub use error::{Error, catch_unwind, is_interrupt, resume_unwind};
pub use event::Never;
pub use event::flag::Event;
pub use event::result::AsyncResult;
pub use greenthread::{Builder, GreenThread, LinkId, gyield, kill, sleep, spawn, spawn_after, spawn_n};
pub use io::{Interest, notify_close, trampoline};
pub use net::{connect, listen};
pub use pool::{GreenPile, GreenPool, iwait, joinall, killall, wait_all, wait_all_timeout};
pub use select::{Readiness, select};
pub use semaphore::{BoundedSemaphore, CappedSemaphore, Semaphore, SemaphoreError, SemaphoreGuard};
pub use server::{DatagramHandle, DatagramServer, ServerHandle, StopServe, StreamServer, serve};
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
///
/// The function is also patched like [`macro@patched`] with every group, so
/// blocking `std` calls in it (`std::thread::spawn`, `std::net::TcpStream`,
/// `std::sync::Mutex`, ...) use their green twins:
///
/// ```
/// #[guv::main]
/// fn main() {
///     assert!(guv::is_patched!(thread));
///     // A green thread: a greenlet on this thread's hub.
///     let h = std::thread::spawn(|| 6 * 7);
///     assert_eq!(h.join().unwrap(), 42);
/// }
/// ```
pub use guv_macros::main;

/// Rewrites the paths of an item that lead into the blocking parts of
/// `std` so that they lead to their green twins in [`green`](mod@green) — the
/// compile-time form of Python's `monkey_patch()`.
///
/// ```
/// #[guv::patched]
/// fn squares(n: u64) -> Vec<u64> {
///     // `std::sync::mpsc` and `std::thread` are guv's green ones here.
///     let (tx, rx) = std::sync::mpsc::channel();
///     let workers: Vec<_> = (0..n)
///         .map(|i| {
///             let tx = tx.clone();
///             std::thread::spawn(move || tx.send(i * i).unwrap())
///         })
///         .collect();
///     drop(tx);
///     for w in workers {
///         w.join().unwrap();
///     }
///     let mut all: Vec<u64> = rx.iter().collect();
///     all.sort();
///     all
/// }
///
/// assert_eq!(squares(4), [0, 1, 4, 9]);
/// ```
///
/// - Goes on any item: a fn, an `impl` block, a trait, an inline
///   `mod { ... }` (recursively), a struct or a type alias.
/// - `#[guv::patched(net, thread, time, sync, io, process, fs)]` patches only
///   the groups named; no list means all of them. An unknown group is a
///   compile error listing the valid ones. `crate = "path"` says where guv
///   is when it is renamed.
/// - Paths are rewritten in `use` trees (globs, renames, groups),
///   signatures, expressions, types, `::std::` paths and macro arguments
///   (`println!`, `format!`, ...); `core::`/`alloc::` paths and std items
///   that never block (`std::sync::Arc`, `std::net::Ipv4Addr`, ...) are
///   left alone.
/// - With every group, an alias of std declared in the item (`use std as
///   s;`, `extern crate std as s;`) becomes [`green_std`], and
///   `s::thread_local!` is green where that declaration is in scope (its
///   module or block and the blocks inside, not nested modules unless they
///   `use super::s;` or `use super::*;`, and unless shadowed there):
///   elsewhere `s` is whatever the code says it is.
/// - [`original!`] names std's own item inside a patched one;
///   [`is_patched!`] tells whether a group is patched where it is used.
///
/// The full table of rewritten paths, by group, and the limits (patching is
/// lexical: code the item *calls* is not rewritten) are in
/// `docs/PATCHING.md`. On a bad option, the item is emitted unchanged with
/// the error, so the rest of the crate still type-checks.
pub use guv_macros::patched;

/// Makes calling a function spawn its body as a greenlet: the call returns
/// a [`GreenThread`] at once, and the body (patched like
/// [`macro@patched`]) runs when the caller next blocks or yields.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
///
/// #[guv::green]
/// fn fetch(log: Rc<RefCell<Vec<String>>>, url: String) -> usize {
///     log.borrow_mut().push(format!("start {url}"));
///     // A green sleep (the body is patched): the other fetch runs meanwhile.
///     std::thread::sleep(std::time::Duration::from_millis(10));
///     log.borrow_mut().push(format!("end {url}"));
///     url.len()
/// }
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let a = fetch(log.clone(), "a.example".into());
/// let b = fetch(log.clone(), "bb.example".into());
/// assert!(log.borrow().is_empty()); // nothing ran yet
/// assert_eq!(a.wait().unwrap() + b.wait().unwrap(), 19);
/// assert_eq!(log.borrow()[..2], ["start a.example", "start bb.example"]);
/// ```
///
/// Methods work when the greenlet can own the receiver: `self`,
/// `self: Rc<Self>`, `self: Arc<Self>` (a `&self` borrow would not outlive
/// the call, and is a compile error saying so). Generic and `impl Trait`
/// arguments work and must be `'static`, which the macro adds as bounds.
///
/// ```
/// use std::rc::Rc;
///
/// struct Service {
///     greeting: String,
/// }
///
/// impl Service {
///     #[guv::green(name = "greeter")]
///     fn greet(self: Rc<Self>, who: impl std::fmt::Display) -> String {
///         format!("{} {who}", self.greeting)
///     }
/// }
///
/// let s = Rc::new(Service { greeting: "hello".into() });
/// let gt = s.clone().greet(42);
/// assert_eq!(gt.name(), Some("greeter"));
/// assert_eq!(gt.wait().unwrap(), "hello 42");
/// ```
///
/// A fn that never returns (`-> !`, a server's accept loop) spawns a
/// `GreenThread<std::convert::Infallible>`, as `GreenThread<!>` is not
/// stable Rust.
///
/// Options: `name = "..."` names the greenlets, `stack_size = N` sets
/// their stack size (16 KiB to 1 GiB), `crate = "path"` says where guv is.
/// `async fn`, `unsafe fn`, `const fn`, `extern` fns, borrowed arguments,
/// `impl Trait` results, and non-fn items are compile errors that say what
/// to change.
pub use guv_macros::green;

/// Like `#[test]`, for code that uses guv: the body (patched like
/// [`macro@patched`]) runs as the main greenlet of a fresh hub on a thread
/// of its own.
///
/// ```
/// #[guv::test(timeout = "5s")]
/// fn two_green_threads_meet() -> Result<(), Box<dyn std::error::Error>> {
///     let (tx, rx) = std::sync::mpsc::channel();
///     let t = std::thread::spawn(move || tx.send(7));
///     assert_eq!(rx.recv()?, 7);
///     t.join().unwrap()?;
///     Ok(())
/// }
/// ```
///
/// The body may return what `#[test]` takes from std: `()`, `!`,
/// `std::process::ExitCode`, or a `Result` of one of them (or of
/// `std::convert::Infallible`) whose error is `Debug`. The test fails, with a message naming the greenlets, when
/// - the body panics (`#[should_panic]` works as usual), returns `Err` or
///   an `ExitCode` other than `SUCCESS`;
/// - it runs longer than `timeout = "5s"` (also `"500ms"`, `"2m"`): the
///   test fails with a message instead of hanging;
/// - a greenlet it spawned panicked and no `wait()` took that panic;
/// - a greenlet it spawned is still alive when the body returns, unless
///   `allow_leaks` is given.
///
/// Other options: `stack_size = N` (the hub's default greenlet stack),
/// `crate = "path"`.
///
/// Write `#[guv::test]` instead of `#[test]`, not next to it: a `#[test]`
/// after it is a compile error, but one before it has already registered
/// the fn by the time `#[guv::test]` runs (which cannot see it), so the
/// test is listed and run twice.
pub use guv_macros::test;

/// Includes a source file as an inline module, patched like
/// [`macro@patched`] — the compile-time form of Python's `import_patched`.
///
/// ```
/// // guv/doc/ping_pong.rs is plain std code: two `std::thread`s talking
/// // over `std::sync::mpsc`. Imported, they are green threads on this hub.
/// guv::import_patched!(mod ping_pong = "doc/ping_pong.rs");
///
/// assert_eq!(
///     ping_pong::ping_pong(2),
///     ["ping 0", "ping 1", "pong 0", "pong 1"]
/// );
/// ```
///
/// `guv::import_patched!(pub mod name = "path.rs", net, thread)` sets the
/// module's visibility (and outer attributes) and patches only the groups
/// named. The path is relative to the crate's directory (where its
/// `Cargo.toml` is); the file is tracked, so editing it rebuilds the
/// crate. The file cannot declare out-of-line modules (`mod x;`): give
/// each its own `import_patched!`. Errors inside the file are reported at
/// the invocation. To patch a whole file in place instead, start it with
/// `use guv::green_std as std;`.
pub use guv_macros::import_patched;

/// Names std's own item inside a patched one (Python's `original()`).
///
/// ```
/// #[guv::patched(sync)]
/// fn both() -> (bool, bool) {
///     let green = std::sync::Mutex::new(1);
///     let plain = guv::original!(std::sync::Mutex::new)(2);
///     (
///         std::any::type_name_of_val(&green).starts_with("guv::"),
///         std::any::type_name_of_val(&plain).starts_with("std::"),
///     )
/// }
///
/// assert_eq!(both(), (true, true));
/// ```
///
/// The argument is a path into std (`std::...` or `::std::...`, possibly
/// with generic arguments); the invocation stands for that path, unpatched,
/// so it can be used as a type or called:
/// `guv::original!(std::thread::sleep)(d)`. Outside every patched item it is
/// a compile error: there the std path already is the original.
pub use guv_macros::original;

/// `true` inside an item patched for the group, `false` elsewhere (Python's
/// `is_monkey_patched()`).
///
/// ```
/// #[guv::patched(net, time)]
/// fn inside() -> [bool; 2] {
///     [guv::is_patched!(net), guv::is_patched!(fs)]
/// }
///
/// assert_eq!(inside(), [true, false]);
/// assert!(!guv::is_patched!(net));
/// ```
///
/// The group is one of `net`, `thread`, `time`, `sync`, `io`, `process`,
/// `fs`; any other name is a compile error listing them.
pub use guv_macros::is_patched;

/// Support for the macros. Not public API.
#[doc(hidden)]
pub mod __private {
    /// What `guv::original!(std::...)` expands through, out of reach of
    /// patching.
    pub use ::std;

    /// What a patching walk leaves for an inner one (`<crate>::__private::
    /// is_patched!(group)`) when the group is not its own: a path that
    /// every walk recognises whatever its `crate` option names.
    pub use guv_macros::is_patched;

    /// What `use std::thread_local;` imports in patched code: `local!`
    /// under a path that is a macro only. `crate::local` is a module too,
    /// and importing it as `thread_local` would clash with a module or
    /// crate of the user's by that name, which std's import does not.
    pub use crate::__thread_local as thread_local;

    pub use crate::hub::track::TrackReport;
    pub use crate::macro_support::{TestOptions, TestReturn, run_test};

    /// Starts recording this thread's greenlets (see [`tracked`]).
    pub fn track_greenlets() {
        crate::hub::track_greenlets();
    }

    /// Greenlets spawned since [`track_greenlets`] that are alive, and
    /// those whose panic no `wait()` returned.
    pub fn tracked() -> TrackReport {
        crate::hub::tracked()
    }

    /// Applies `#[guv::main]`'s options to this thread's hub.
    pub fn configure_main(stack_size: Option<usize>) {
        if let Some(size) = stack_size
            && let Err(e) = crate::hub::set_stack_size(size)
        {
            panic!("#[guv::main]: {e}");
        }
    }
}
