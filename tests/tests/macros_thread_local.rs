//! `thread_local!` in code patched for `thread` becomes `guv::local!`: as
//! each patched `thread::spawn` is a green thread, each gets its own value,
//! as each std thread does — not one value shared by every green thread of
//! the OS thread. std's `LocalKey` methods keep working.

use std::cell::{Cell, RefCell};

#[guv::patched]
fn counts_per_thread() -> Vec<u32> {
    thread_local! {
        static N: Cell<u32> = const { Cell::new(0) };
    }
    let started = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let started = started.clone();
            std::thread::spawn(move || {
                N.with(|n| n.set(n.get() + 1));
                // All three have counted before any reads its count.
                started.wait();
                N.get()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn each_patched_thread_has_its_own_thread_local() {
    // With one value per OS thread the three green threads would see 3.
    assert_eq!(counts_per_thread(), [1, 1, 1]);
}

#[guv::patched]
fn local_key_methods() -> (Vec<u8>, Vec<u8>, u8, u8, u8) {
    std::thread_local! {
        static V: RefCell<Vec<u8>> = RefCell::new(vec![1]);
        static C: Cell<u8> = Cell::new(5);
    }
    V.with_borrow_mut(|v| v.push(2));
    let before = V.replace(vec![9]);
    let taken = V.take();
    V.set(vec![7]);
    let c_old = C.replace(6);
    let c_taken = C.take();
    let tried = C.try_with(|c| c.get()).unwrap();
    let _ = taken;
    (before, V.with_borrow(|v| v.clone()), c_old, c_taken, tried)
}

#[test]
fn std_local_key_methods_work_on_the_green_local() {
    assert_eq!(local_key_methods(), (vec![1, 2], vec![7], 5, 6, 0));
}

#[guv::patched(net)]
fn without_the_thread_group() -> u32 {
    thread_local! {
        static N: Cell<u32> = const { Cell::new(0) };
    }
    // std's thread-local: every greenlet of this thread shares it.
    let bump = || N.with(|n| n.set(n.get() + 1));
    guv::spawn(bump).wait().unwrap();
    guv::spawn(bump).wait().unwrap();
    N.get()
}

#[test]
fn without_the_thread_group_thread_local_stays_std() {
    assert_eq!(without_the_thread_group(), 2);
}

/// An alias of std counts only where its `use` is in scope: here `s` is
/// std in `aliased` but a module of the user's in `user`, whose own
/// `thread_local!` the patch must leave alone (it used to become
/// `s::__guv_thread_local!`, which does not compile there). The alias made
/// by `extern crate std as t;` is followed like `use std as t;`.
#[guv::patched]
mod scoped_aliases {
    #![deny(warnings)]

    pub mod aliased {
        use std as s;
        s::thread_local! {
            pub static A: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
    }

    pub mod user {
        mod s {
            /// The user's own `thread_local!`: a plain static counter.
            macro_rules! counting_local {
                ($(#[$m:meta])* $v:vis static $name:ident: $t:ty = $init:expr;) => {
                    $v static $name: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(7);
                };
            }
            pub(crate) use counting_local as thread_local;
        }
        s::thread_local! {
            pub static U: u32 = 0;
        }
    }

    pub mod external {
        extern crate std as t;
        t::thread_local! {
            pub static E: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
    }

    /// Each green thread's value of `A` and `E` after it set its own, both
    /// having set theirs before either reads.
    pub fn values_seen() -> Vec<(u32, u32)> {
        let both = std::sync::Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = (1..=2)
            .map(|i| {
                let both = both.clone();
                std::thread::spawn(move || {
                    aliased::A.set(i);
                    external::E.set(i);
                    both.wait();
                    (aliased::A.get(), external::E.get())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    }
}

#[test]
fn an_alias_of_std_is_followed_only_in_its_scope() {
    use std::sync::atomic::Ordering;
    // The user's module kept its own macro.
    assert_eq!(scoped_aliases::user::U.load(Ordering::SeqCst), 7);
    // Through the aliases, one value per green thread (shared per OS
    // thread, both would read the second's number).
    assert_eq!(scoped_aliases::values_seen(), [(1, 1), (2, 2)]);
}
