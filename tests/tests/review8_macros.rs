//! Regression tests from the third review of `guv-macros` (after
//! review5_macros.rs and review6_macros.rs): `is_patched!` in patched items
//! nested under another `crate` option, and std reached under another name
//! (`use std as s;`, `use std::*;`, `use std::thread_local as tl;`), which
//! stayed std's; `stringify!`, whose string the walk changed. Warnings are
//! in macros_warnings.rs.

use std::any::type_name_of_val;

/// guv under a second path, for the `crate = "..."` options below.
pub mod re {
    pub use guv;
}

/// An outer item patched with another `crate` option than the inner one.
/// The outer walk decides the groups it patches and leaves the others to
/// the inner walk, which did not recognise what was left when it was
/// written with the outer item's crate path: every inner answer for a
/// group only the inner item patches was `false`.
#[guv::patched(net, crate = "crate::re::guv")]
mod outer_renamed {
    pub fn outer() -> [bool; 2] {
        [guv::is_patched!(net), crate::re::guv::is_patched!(sync)]
    }

    #[guv::patched(sync)]
    pub fn inner() -> [bool; 4] {
        [
            guv::is_patched!(net),
            guv::is_patched!(sync),
            crate::re::guv::is_patched!(net),
            crate::re::guv::is_patched!(sync),
        ]
    }
}

/// The other way round: the outer item names guv `::guv`, the inner
/// `crate::re::guv`, and the inner code uses the inner path. The outer
/// walk did not know that path, so it left `is_patched!(net)` alone and
/// the inner one (not patched for `net`) said `false`.
#[guv::patched(net)]
mod outer_plain {
    #[guv::patched(sync, crate = "crate::re::guv")]
    pub fn inner() -> [bool; 4] {
        [
            guv::is_patched!(net),
            guv::is_patched!(sync),
            crate::re::guv::is_patched!(net),
            crate::re::guv::is_patched!(sync),
        ]
    }

    /// Outside the inner item the outer walk still answers only for its
    /// own groups, and the standalone macro for the rest.
    pub fn beside() -> [bool; 2] {
        [crate::re::guv::is_patched!(net), crate::re::guv::is_patched!(fs)]
    }
}

/// `#[guv::test]` (every group) inside an item patched under another path.
#[guv::patched(net, crate = "crate::re::guv")]
mod test_inside {
    #[guv::test]
    fn every_group_inside_a_test() {
        let inside = [
            crate::re::guv::is_patched!(net),
            crate::re::guv::is_patched!(fs),
            guv::is_patched!(sync),
            guv::is_patched!(process),
        ];
        assert_eq!(inside, [true; 4]);
    }
}

#[test]
fn nested_items_agree_whatever_their_crate_options() {
    assert_eq!(outer_renamed::outer(), [true, false]);
    assert_eq!(outer_renamed::inner(), [true; 4]);
    assert_eq!(outer_plain::inner(), [true; 4]);
    assert_eq!(outer_plain::beside(), [true, false]);
    assert_eq!([guv::is_patched!(net)], [false], "outside every patched item");
}

/// `std` renamed or globbed: every path through the new name led to std's
/// own modules, so `s::thread::spawn` started an OS thread.
#[guv::patched]
mod std_renamed {
    use super::type_name_of_val;
    use std as s;

    pub fn names() -> [String; 3] {
        let spawned = s::thread::spawn(|| s::thread::current().id());
        let id = spawned.join().unwrap();
        [
            type_name_of_val(&s::sync::Mutex::new(0u8)).into(),
            type_name_of_val(&id).into(),
            // The rest of std is std's own.
            type_name_of_val(&s::collections::HashMap::<u8, u8>::new()).into(),
        ]
    }

    pub mod grouped {
        use std::{self as st, cell::Cell};

        pub fn name() -> &'static str {
            let _ = Cell::new(0u8);
            std::any::type_name::<st::net::TcpStream>()
        }
    }
}

#[guv::patched]
mod std_globbed {
    use std::*;

    pub fn names() -> [&'static str; 2] {
        [std::any::type_name::<sync::Condvar>(), std::any::type_name::<process::Command>()]
    }
}

/// With only some groups there is no mirror to point the name at: it
/// stays std's (as documented in PATCHING.md).
#[guv::patched(net)]
mod std_renamed_one_group {
    use std as s;

    pub fn name() -> &'static str {
        std::any::type_name::<s::net::TcpStream>()
    }
}

#[guv::test]
fn std_under_another_name_is_green_with_every_group() {
    let [mutex, id, map] = std_renamed::names();
    assert!(mutex.starts_with("guv::green::sync::"), "{mutex}");
    assert_eq!(id, std::any::type_name::<guv::green::thread::ThreadId>());
    assert!(map.starts_with("std::collections::"), "{map}");
    assert_eq!(std_renamed::grouped::name(), std::any::type_name::<guv::net::TcpStream>());
    let [condvar, command] = std_globbed::names();
    assert_eq!(condvar, std::any::type_name::<guv::green::sync::Condvar>());
    assert_eq!(command, std::any::type_name::<guv::green::process::Command>());
    // A literal: `std::` written here is patched too (`#[guv::test]`).
    assert_eq!(std_renamed_one_group::name(), "std::net::tcp::TcpStream");
}

/// `thread_local!` imported under another name: `tl!` was not the name
/// the walk rewrites, so it declared std's one value per OS thread, and
/// three green threads bumping it saw 1, 2, 3.
#[guv::patched]
fn renamed_thread_local() -> Vec<u32> {
    use std::cell::Cell;
    use std::thread_local as tl;
    tl! {
        static N: Cell<u32> = const { Cell::new(0) };
    }
    let started = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let started = started.clone();
            std::thread::spawn(move || {
                N.set(N.get() + 1);
                started.wait();
                N.get()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[guv::test]
fn a_renamed_thread_local_is_green_too() {
    assert_eq!(renamed_thread_local(), [1, 1, 1]);
}

/// `stringify!` resolves nothing: its string is the tokens as written. The
/// walk rewrote them like any macro's arguments, so the string changed.
#[guv::patched]
fn stringified() -> [&'static str; 2] {
    [stringify!(std::net::TcpStream), std::stringify!(std::thread::spawn(f))]
}

#[test]
fn stringify_sees_the_code_as_written() {
    assert_eq!(stringified(), ["std::net::TcpStream", "std::thread::spawn(f)"]);
}
