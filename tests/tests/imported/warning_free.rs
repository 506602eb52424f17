//! Plain std code that compiles without warnings, imported by
//! macros_warnings.rs (which denies warnings): patched, it must still.

use std::cell::Cell;
use std::io::IsTerminal;
use std::thread_local;
use std::{
    io::{self, Read},
    thread,
};

thread_local! {
    static N: Cell<u8> = const { Cell::new(0) };
}

/// Whether stdin is a terminal, and the thread-local count a new thread
/// sees after bumping it once.
pub fn run() -> (bool, u8) {
    let mut s = String::new();
    io::empty().read_to_string(&mut s).unwrap();
    let bumped = thread::spawn(|| {
        N.set(N.get() + 1);
        N.get()
    });
    (io::stdin().is_terminal(), bumped.join().unwrap())
}
