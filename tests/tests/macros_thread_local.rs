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
