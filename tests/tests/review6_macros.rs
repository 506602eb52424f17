//! Regression tests from the second adversarial review of `guv-macros`
//! (the first is review5_macros.rs): std paths the patching walk missed and
//! code that compiled unpatched (or with `#[test]`) but not patched.

use std::any::type_name_of_val;

/// Green twins are guv's types; std's own stay `std::`/`core::`.
fn guv_types(name: &str) -> usize {
    name.matches("guv::").count()
}

/// A path after `..` or `..=` (a range's end, `&buf[..n]`) starts a path
/// like any other operand. It was taken for a field after `.`, so
/// `&v[..std::fs::metadata(p)?.len() as usize]` stayed std's blocking call.
#[guv::patched]
fn after_range_operators() -> [String; 3] {
    [
        type_name_of_val(&(std::sync::Mutex::new(1u8)..std::sync::Mutex::new(2u8))).into(),
        type_name_of_val(&(..std::sync::Condvar::new())).into(),
        type_name_of_val(&(..=std::sync::Condvar::new())).into(),
    ]
}

#[test]
fn a_path_after_a_range_operator_is_rewritten() {
    // `Range<Mutex<u8>>`: both ends have one type (it did not compile).
    for name in after_range_operators() {
        assert_eq!(guv_types(&name), 1, "{name}");
    }
}

/// A green fn that never returns (`-> !`, a server's accept loop) spawns a
/// `GreenThread<Infallible>`: the `GreenThread<!>` it expanded to does not
/// compile on stable ("the `!` type is experimental").
#[guv::green]
fn count_forever(log: std::sync::mpsc::Sender<u32>) -> ! {
    let mut n = 0;
    loop {
        n += 1;
        log.send(n).unwrap();
        std::thread::yield_now();
    }
}

#[guv::test]
fn a_green_fn_that_never_returns_spawns() {
    let (tx, rx) = std::sync::mpsc::channel();
    let counter: guv::GreenThread<std::convert::Infallible> = count_forever(tx);
    assert_eq!(rx.recv().unwrap(), 1);
    assert_eq!(rx.recv().unwrap(), 2);
    counter.kill();
    assert!(counter.wait().unwrap_err().is_killed());
}

/// `#[test]` takes a `-> !` fn (`!` is a `Termination`); `#[guv::test]`
/// refused it, as `!` implements none of its return types.
#[guv::test]
#[should_panic(expected = "diverged on a green thread")]
fn a_test_that_never_returns() -> ! {
    std::thread::spawn(|| ()).join().unwrap();
    panic!("diverged on a green thread");
}

// `#!` then a space and `[` opens an inner attribute, not a shebang line:
// the line was dropped, and `one` with it.
guv::import_patched!(mod spaced = "tests/imported/spaced_inner_attribute.rs");
// A file saved with a byte order mark.
guv::import_patched!(mod bom = "tests/imported/bom.rs");

#[test]
fn imported_files_start_as_rustc_reads_them() {
    let spawn = spaced::one();
    assert_eq!(guv_types(spawn), 1, "{spawn}");
    assert_eq!(bom::two(), 2);
}

/// `thread_local!` becomes `guv::local!`, which wrapped the initializer in
/// a helper `fn init`: an initializer calling the user's own `init()` called
/// that helper instead (items are not hygienic in `macro_rules!`), which
/// did not compile here and recursed forever when the types agreed.
#[guv::patched]
mod named_init {
    use std::cell::Cell;

    fn init() -> u32 {
        41
    }

    thread_local! {
        static N: Cell<u32> = Cell::new(init() + 1);
    }

    guv::local! {
        static M: Cell<u32> = Cell::new(init() + 2);
    }

    pub fn values() -> (u32, u32) {
        (N.get(), M.get())
    }
}

#[guv::test]
fn an_initializer_may_call_a_fn_named_init() {
    assert_eq!(named_init::values(), (42, 43));
}

/// `Result<Infallible, E>` is a `Termination` (what a server's `main`
/// returns: it only ever ends with an error), so `#[test]` takes it;
/// `#[guv::test]` refused it at compile time.
#[guv::test]
#[should_panic(expected = "Error: \"no server\"")]
fn an_infallible_result_fails_on_its_error() -> Result<std::convert::Infallible, String> {
    let served = std::thread::spawn(|| Err::<std::convert::Infallible, _>("no server".to_owned()));
    served.join().unwrap()
}

/// Positions the reviews checked and found rewritten (kept as a guard):
/// nested use trees with `self` renames, qualified paths, where clauses,
/// impl headers, associated consts and types, closures, statics of green
/// types built by their `const fn`s, and `macro_rules!` bodies in the item.
#[guv::patched]
mod positions {
    use std::{
        any::type_name,
        net::{self as n, TcpStream as T},
    };

    pub static LOCK: std::sync::Mutex<u8> = std::sync::Mutex::new(0);
    pub static ONCE: std::sync::OnceLock<u8> = std::sync::OnceLock::new();

    pub trait Named {
        type Stream;
        const SPAWN: fn(fn() -> u8) -> std::thread::JoinHandle<u8>;
    }

    pub struct S;

    impl Named for S {
        type Stream = std::net::TcpStream;
        const SPAWN: fn(fn() -> u8) -> std::thread::JoinHandle<u8> = std::thread::spawn;
    }

    impl From<S> for Option<std::sync::Condvar> {
        fn from(_: S) -> Self {
            None
        }
    }

    fn bounded<A>() -> &'static str
    where
        A: Into<std::sync::mpsc::Sender<u8>>,
    {
        type_name::<A>()
    }

    macro_rules! listener {
        () => {
            type_name::<std::net::TcpListener>()
        };
    }

    pub fn names() -> Vec<&'static str> {
        let closure = |s: std::sync::mpsc::Receiver<u8>| std::any::type_name_of_val(&s);
        let (tx, rx) = std::sync::mpsc::channel::<u8>();
        let joined = (<S as Named>::SPAWN)(|| 1).join().unwrap();
        assert_eq!(joined, 1);
        vec![
            type_name::<n::TcpStream>(),
            type_name::<T>(),
            std::any::type_name_of_val(&<std::net::TcpStream as std::io::Read>::read),
            type_name::<<S as Named>::Stream>(),
            type_name::<Option<std::sync::Condvar>>(),
            std::any::type_name_of_val(&LOCK),
            std::any::type_name_of_val(&ONCE),
            bounded::<std::sync::mpsc::Sender<u8>>(),
            closure(rx),
            std::any::type_name_of_val(&tx),
            listener!(),
        ]
    }
}

#[guv::test]
fn less_common_positions_are_rewritten() {
    let names = positions::names();
    assert_eq!(names.len(), 11);
    for name in names {
        assert!(guv_types(name) >= 1 && !name.contains("std::net") && !name.contains("std::sync"), "{name}");
    }
    *positions::LOCK.lock().unwrap() += 1;
    assert_eq!(*positions::ONCE.get_or_init(|| 2), 2);
}
