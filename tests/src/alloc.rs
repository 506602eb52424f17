//! A counting global allocator, for tests that measure how much memory a
//! server's thread holds (or held at most). A test binary installs it
//! with `#[global_allocator] static A: Counting = Counting;`, has the
//! threads it measures take a slot ([`counted_thread`], or
//! [`counted_server`]), and reads [`live`] and [`peak`].

#![allow(unsafe_code)] // the GlobalAlloc impl below; nothing else

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicIsize, Ordering};

use guv::wsgi::{Server, Service};

/// Passes every call on to the system allocator, counting the bytes live
/// in allocations made on threads that took a slot, and their peak.
pub struct Counting;

/// How many slots (threads counted apart) there are.
pub const SLOTS: usize = 4;

static LIVE: [AtomicIsize; SLOTS] = [const { AtomicIsize::new(0) }; SLOTS];
static PEAK: [AtomicIsize; SLOTS] = [const { AtomicIsize::new(0) }; SLOTS];
static HOOK: OnceLock<fn(Layout)> = OnceLock::new();

thread_local! {
    /// This thread's slot, plus one (0: not counted).
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

/// Counts this thread's allocations in `slot` (below [`SLOTS`]) from now on.
pub fn counted_thread(slot: usize) {
    assert!(slot < SLOTS, "slot {slot} of {SLOTS}");
    SLOT.with(|s| s.set(slot + 1));
}

/// The bytes live in `slot` now.
pub fn live(slot: usize) -> isize {
    LIVE[slot].load(Ordering::SeqCst)
}

/// The most bytes live in `slot` at once since the last [`reset_peak`].
pub fn peak(slot: usize) -> isize {
    PEAK[slot].load(Ordering::SeqCst)
}

/// Starts `slot`'s peak afresh from what is live now; returns that.
pub fn reset_peak(slot: usize) -> isize {
    let now = live(slot);
    PEAK[slot].store(now, Ordering::SeqCst);
    now
}

/// Has `hook` called with every allocation's layout (on any thread), before
/// it is made: a test's way to stop at a point inside the code under test.
/// It must not allocate. Set once per test binary.
pub fn set_alloc_hook(hook: fn(Layout)) {
    assert!(HOOK.set(hook).is_ok(), "the allocation hook was set already");
}

fn count(delta: isize) {
    let slot = SLOT.try_with(Cell::get).unwrap_or(0);
    if slot > 0 {
        let live = LIVE[slot - 1].fetch_add(delta, Ordering::Relaxed) + delta;
        PEAK[slot - 1].fetch_max(live, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counting only reads a const-initialised thread-local, a `OnceLock` and
// atomics, and the hook must not allocate (its contract).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        if let Some(hook) = HOOK.get() {
            hook(layout);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Serves `server` on a thread of its own whose allocations count in
/// `slot`; returns its address and a function that stops it.
pub fn counted_server<A>(server: Server<A>, slot: usize) -> (SocketAddr, impl FnOnce())
where
    A: Service,
    Server<A>: Send + 'static,
{
    let stop = server.shutdown_handle();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("the listener's address");
    let thread = std::thread::spawn(move || {
        counted_thread(slot);
        server.serve(guv::net::TcpListener::from_std(listener)?)
    });
    (addr, move || {
        stop.shutdown();
        thread.join().expect("the server thread panicked").expect("the server failed");
    })
}
