//! Code that compiles without warnings unpatched compiles without warnings
//! patched: this file denies every warning, so a rewrite that leaves an
//! import unused (or adds any other warning) fails to compile.
//!
//! Each case is std code that is warning-free as written. Before the fixes
//! `use std::io::IsTerminal;` (green `Stdin` had an inherent `is_terminal`,
//! so the trait was never needed) and `use std::thread_local;` (the
//! rewritten `thread_local!` no longer went through the import) were
//! reported as unused, also for an import written outside the patched
//! item.

#![deny(warnings)]

// Outside every patched item: used by the calls in `#[guv::main]` and
// `#[guv::test]` bodies below, on what are green `Stdin`s there.
use std::io::IsTerminal;

#[guv::patched]
mod grouped {
    use std::{
        cell::Cell,
        io::{self, IsTerminal, Read},
        thread, thread_local,
    };

    thread_local! {
        static N: Cell<u8> = const { Cell::new(0) };
    }

    pub fn run() -> (bool, u8) {
        let mut s = String::new();
        io::empty().read_to_string(&mut s).unwrap();
        let bumped = thread::spawn(|| {
            N.set(N.get() + 1);
            N.get()
        });
        let tty = io::stdin().is_terminal() || io::stdin().lock().is_terminal();
        (tty, bumped.join().unwrap())
    }
}

#[guv::patched]
mod separate {
    use std::cell::Cell;
    use std::io::IsTerminal;
    use std::thread_local;

    thread_local! {
        static N: Cell<u8> = const { Cell::new(0) };
    }

    pub fn run() -> (bool, u8) {
        N.set(N.get() + 1);
        (std::io::stdin().is_terminal(), N.get())
    }

    /// A visible re-export keeps its name, and is the green macro.
    pub mod reexport {
        pub use std::thread_local;
    }
}

#[guv::patched(thread)]
fn in_a_fn_body() -> u8 {
    use std::thread_local;
    thread_local! {
        static N: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
    }
    N.set(N.get() + 2);
    N.get()
}

#[guv::green]
fn green_fn(mut v: Vec<u8>) -> (bool, Vec<u8>) {
    use std::thread_local;
    thread_local! {
        static N: u8 = const { 3 };
    }
    v.push(N.with(|n| *n));
    (std::io::stdin().is_terminal(), v)
}

guv::import_patched!(mod imported = "tests/imported/warning_free.rs");

#[guv::main]
fn main_fn() -> bool {
    use std::thread_local;
    thread_local! {
        static N: u8 = const { 4 };
    }
    N.with(|n| *n == 4) && (std::io::stdin().is_terminal() || !std::io::stdin().is_terminal())
}

#[guv::test]
fn every_case_runs() {
    use std::thread_local;
    thread_local! {
        static N: u8 = const { 5 };
    }
    let tty = std::io::stdin().is_terminal();
    assert_eq!(grouped::run(), (tty, 1));
    assert_eq!(separate::run(), (tty, 1));
    assert_eq!(in_a_fn_body(), 2);
    assert_eq!(green_fn(vec![1]).wait().unwrap(), (tty, vec![1, 3]));
    assert_eq!(imported::run(), (tty, 1));
    assert_eq!(N.with(|n| *n), 5);
}

#[test]
fn main_runs_on_a_thread_of_its_own() {
    assert!(std::thread::spawn(main_fn).join().unwrap());
}

#[test]
fn the_reexport_is_the_green_local() {
    separate::reexport::thread_local! {
        static M: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
    }
    let _: &guv::local::Local<std::cell::Cell<u8>> = &M;
}
