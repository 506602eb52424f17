//! Greenlet hot paths, each against a reference measured in the same run:
//!
//! 1. `gyield()` round trip between two greenlets, vs a bare `context`
//!    switch pair (the floor) and vs `may::coroutine::yield_now` between two
//!    coroutines;
//! 2. `spawn_n` of an empty closure until it has run and exited, vs may's
//!    `go!`;
//! 3. `sleep(Duration::ZERO)` in a loop (vs the gyield round trip).
//!
//! Run: `cargo bench -p guv-benches --bench greenlet`

use std::time::Duration;

use guv_benches::{count, per_op, report, runs};

mod bare {
    //! The floor: two contexts switching back and forth with nothing else.
    #![allow(unsafe_code)]
    use context::{Context, Transfer};

    extern "C" fn bounce(mut t: Transfer) -> ! {
        loop {
            // SAFETY: `t.context` is the live context that resumed us.
            t = unsafe { t.context.resume(t.data) };
        }
    }

    /// `n` round trips between this stack and a second one.
    pub fn round_trips(n: u64) {
        // 64 KiB of stack memory, 16-byte aligned, alive for the whole run.
        let mut mem = vec![0u128; 4096];
        let bottom = mem.as_mut_ptr() as *mut context::c_void;
        // SAFETY: `mem` spans 64 KiB from `bottom`, so `top` is its end.
        let top = unsafe { (mem.as_mut_ptr()).add(mem.len()) } as *mut context::c_void;
        // SAFETY: top and bottom bound memory that outlives every use below.
        let stack = unsafe { context::stack::Stack::new(top, bottom) };
        // SAFETY: the stack outlives the context; `bounce` never returns.
        let mut t = Transfer::new(unsafe { Context::new(&stack, bounce) }, 0);
        for i in 0..n {
            // SAFETY: `t.context` is the other side, suspended in `bounce`.
            t = unsafe { t.context.resume(i as usize) };
        }
        // The bouncing context is abandoned with the stack memory; it holds
        // nothing that needs dropping.
        drop(mem);
    }
}

fn guv_gyield(n: u64) {
    let other = guv::spawn(move || {
        for _ in 0..n {
            guv::gyield();
        }
    });
    for _ in 0..n {
        guv::gyield();
    }
    other.wait().unwrap();
}

fn may_yield(n: u64) {
    // Two coroutines yielding to each other on may's single worker.
    let a = may::go!(move || {
        for _ in 0..n {
            may::coroutine::yield_now();
        }
    });
    let b = may::go!(move || {
        for _ in 0..n {
            may::coroutine::yield_now();
        }
    });
    a.join().unwrap();
    b.join().unwrap();
}

/// Greenlets are spawned in batches of this many and run before the next
/// batch, in both runtimes: create, run, exit, recycle the stack.
const BATCH: u64 = 100;

fn guv_spawn_n(n: u64) {
    for _ in 0..n / BATCH {
        for _ in 0..BATCH {
            guv::spawn_n(|| ());
        }
        // They run (and exit) once the main greenlet yields.
        guv::gyield();
    }
}

fn may_go(n: u64) {
    let h = may::go!(move || {
        for _ in 0..n / BATCH {
            let mut last = None;
            for _ in 0..BATCH {
                last = Some(may::go!(|| ()));
            }
            // may runs its queue in order on one worker: the last one done
            // means the whole batch is done.
            if let Some(h) = last {
                h.join().unwrap();
            }
        }
    });
    h.join().unwrap();
}

fn guv_sleep_zero(n: u64) {
    let other = guv::spawn(move || {
        for _ in 0..n {
            guv::sleep(Duration::ZERO);
        }
    });
    for _ in 0..n {
        guv::sleep(Duration::ZERO);
    }
    other.wait().unwrap();
}

fn main() {
    may::config().set_workers(1);
    let runs = runs();
    let n = count(2_000_000, 1000);

    let bare = per_op(runs, n, bare::round_trips);
    let gyield = per_op(runs, n, guv_gyield);
    let may_y = per_op(runs, n, may_yield);
    report("gyield round trip (2 greenlets)", gyield, "bare-context", bare);
    report("gyield round trip (2 greenlets)", gyield, "may", may_y);

    let n_spawn = count(1_000_000, 1000);
    let spawn = per_op(runs, n_spawn, guv_spawn_n);
    let may_spawn = per_op(runs, n_spawn, may_go);
    report("spawn_n empty closure, run and exit", spawn, "may-go", may_spawn);

    let sleep0 = per_op(runs, n, guv_sleep_zero);
    report("sleep(0) round trip (2 greenlets)", sleep0, "gyield", gyield);
}
