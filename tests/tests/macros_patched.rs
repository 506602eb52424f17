//! `#[guv::patched]` rewrites exactly the paths docs/PATCHING.md lists, in
//! every place a path can be written.
//!
//! The items are patched with `crate = "crate::fake"`, so that rewritten
//! paths land in the `fake` module below instead of guv's green mirror.
//! `fake` defines only the items that should be rewritten, with no
//! `pub use std::...::*` behind them: a path rewritten by mistake does not
//! compile, and `type_name` tells which side every other path resolved to.

#![allow(dead_code, unused_imports)]

use std::any::{type_name, type_name_of_val};

/// Stand-ins for `guv::green`: one marker item per rewritten name used here.
mod fake {
    pub mod green {
        pub mod net {
            pub struct TcpStream;
            pub struct TcpListener;
            pub struct UdpSocket;
        }
        pub mod os {
            pub mod unix {
                pub mod net {
                    pub struct UnixStream;
                }
            }
        }
        pub mod thread {
            pub struct JoinHandle<T>(pub T);
            pub fn spawn<F: FnOnce() -> T, T>(f: F) -> JoinHandle<T> {
                JoinHandle(f())
            }
            pub fn sleep(_: std::time::Duration) {}
            pub fn current() {}
        }
        pub mod sync {
            pub struct Mutex<T>(pub T);
            pub struct Condvar;
            pub mod mpsc {
                pub fn channel<T>() {}
                pub struct Receiver<T>(pub T);
            }
        }
        pub mod io {
            pub fn stdin() {}
        }
        pub mod process {
            pub struct Command;
        }
        pub mod fs {
            pub fn read_to_string() {}
        }
    }
    pub mod __private {
        pub use ::std;
        pub use guv::__private::is_patched;
    }
    pub use guv::is_patched;
}

fn is_fake(name: &str) -> bool {
    name.contains("::fake::green::")
}

fn is_std(name: &str) -> bool {
    name.starts_with("std::") || name.starts_with("core::") || name.starts_with("alloc::")
}

#[guv::patched(crate = "crate::fake")]
mod uses {
    use super::*;
    use ::std::sync::Condvar;
    use std::net::TcpListener as Listener;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc::*;
    use std::{
        collections::HashMap,
        io::{self, Read},
        net::{Ipv4Addr, TcpStream, UdpSocket},
        sync::{Arc, atomic::AtomicBool},
        thread::{self as th},
        time::Duration,
    };

    pub fn names() -> Vec<(&'static str, String)> {
        vec![
            ("plain", type_name::<TcpStream>().into()),
            ("renamed", type_name::<Listener>().into()),
            ("leading colons", type_name::<Condvar>().into()),
            ("glob", type_name_of_val(&channel::<u8>).into()),
            ("glob type", type_name::<Receiver<u8>>().into()),
            ("group", type_name::<UdpSocket>().into()),
            ("group self", type_name_of_val(&io::stdin).into()),
            ("group self as", type_name_of_val(&th::spawn::<fn(), ()>).into()),
            ("unix", type_name::<UnixStream>().into()),
        ]
    }

    pub fn kept() -> Vec<(&'static str, String)> {
        vec![
            ("Ipv4Addr", type_name::<Ipv4Addr>().into()),
            ("Arc", type_name::<Arc<u8>>().into()),
            ("atomic", type_name::<AtomicBool>().into()),
            ("Read", type_name::<dyn Read>().into()),
            ("Duration", type_name::<Duration>().into()),
            ("HashMap", type_name::<HashMap<u8, u8>>().into()),
        ]
    }

    pub fn in_a_body() -> String {
        use std::process::Command;
        type_name::<Command>().into()
    }
}

#[test]
fn every_use_form_is_rewritten() {
    for (form, name) in uses::names() {
        assert!(is_fake(&name), "{form}: {name}");
    }
    for (item, name) in uses::kept() {
        assert!(is_std(&name) || name.starts_with("dyn std::"), "{item}: {name}");
    }
    assert!(is_fake(&uses::in_a_body()), "{}", uses::in_a_body());
}

#[guv::patched(crate = "crate::fake")]
mod paths {
    use super::*;

    /// A signature with patched types; the body uses `::std::` and generic
    /// arguments.
    pub fn signature(_s: Option<std::net::TcpStream>) -> std::thread::JoinHandle<::std::sync::Mutex<u8>> {
        std::thread::spawn(|| ::std::sync::Mutex(1))
    }

    pub fn in_macros() -> String {
        format!(
            "{} {} {}",
            type_name::<std::sync::Mutex<u8>>(),
            type_name_of_val(&std::fs::read_to_string),
            type_name_of_val(&std::thread::sleep),
        )
    }

    pub fn kept() -> Vec<String> {
        vec![
            type_name::<std::sync::Arc<u8>>().into(),
            type_name::<std::sync::atomic::AtomicUsize>().into(),
            type_name::<std::net::SocketAddr>().into(),
            type_name_of_val(&std::process::exit).into(),
            type_name::<std::fs::Permissions>().into(),
            type_name_of_val(&std::io::stdout).into(),
            type_name::<std::time::Instant>().into(),
            type_name::<core::time::Duration>().into(),
            type_name::<alloc_path::vec::Vec<u8>>().into(),
        ]
    }

    extern crate alloc as alloc_path;

    pub struct Service;

    impl Service {
        pub fn method(&self) -> String {
            type_name::<std::process::Command>().into()
        }
    }

    pub mod nested {
        pub mod deeper {
            pub fn name() -> &'static str {
                std::any::type_name_of_val(&std::io::stdin)
            }
        }
    }
}

#[test]
fn signatures_expressions_macros_impls_and_nested_modules() {
    let handle = paths::signature(None);
    let full = type_name_of_val(&handle);
    assert!(
        full.contains("fake::green::thread::JoinHandle<") && full.contains("fake::green::sync::Mutex<u8>"),
        "{full}"
    );
    let s = paths::in_macros();
    assert_eq!(s.matches("fake::green::").count(), 3, "{s}");
    for name in paths::kept() {
        assert!(is_std(&name), "{name}");
    }
    assert!(is_fake(&paths::Service.method()));
    assert!(is_fake(paths::nested::deeper::name()));
}

#[guv::patched(net, time, crate = "crate::fake")]
mod some_groups {
    use super::*;

    pub fn names() -> [String; 4] {
        [
            type_name::<std::net::TcpStream>().into(),
            type_name_of_val(&std::thread::sleep).into(),
            type_name_of_val(&std::thread::spawn::<fn(), ()>).into(),
            type_name::<std::sync::Mutex<u8>>().into(),
        ]
    }

    pub fn flags() -> [bool; 3] {
        [guv::is_patched!(net), guv::is_patched!(time), guv::is_patched!(sync)]
    }
}

#[test]
fn only_the_named_groups_are_rewritten() {
    let [net, sleep, spawn, mutex] = some_groups::names();
    assert!(is_fake(&net), "{net}");
    assert!(is_fake(&sleep), "`thread::sleep` belongs to `time`: {sleep}");
    assert!(is_std(&spawn), "{spawn}");
    assert!(is_std(&mutex), "{mutex}");
    assert_eq!(some_groups::flags(), [true, true, false]);
    let outside = guv::is_patched!(net);
    assert!(!outside);
}

#[guv::patched(crate = "crate::fake")]
fn originals() -> [String; 3] {
    [
        type_name::<guv::original!(std::net::TcpStream)>().into(),
        type_name::<guv::original!(::std::sync::Mutex<u8>)>().into(),
        type_name_of_val(&guv::original!(std::thread::sleep)).into(),
    ]
}

#[test]
fn original_names_std_inside_a_patched_item() {
    for name in originals() {
        assert!(is_std(&name), "{name}");
    }
}

#[guv::patched(net, crate = "crate::fake")]
mod outer {
    use super::*;

    #[guv::patched(sync, crate = "crate::fake")]
    pub fn inner() -> (bool, bool, String, String) {
        (
            guv::is_patched!(net),
            guv::is_patched!(sync),
            type_name::<std::net::TcpStream>().into(),
            type_name::<std::sync::Mutex<u8>>().into(),
        )
    }
}

#[test]
fn nested_patched_items_add_their_groups() {
    let (net, sync, stream, mutex) = outer::inner();
    assert!(net && sync);
    assert!(is_fake(&stream) && is_fake(&mutex), "{stream} {mutex}");
}

/// `std::os::unix::fs`'s free functions are rewritten to the green ones
/// (they run on the thread pool); its traits stay std's.
#[guv::patched]
fn unix_fs_names() -> [&'static str; 2] {
    [type_name_of_val(&std::os::unix::fs::symlink::<&str, &str>), type_name::<dyn std::os::unix::fs::FileExt>()]
}

#[test]
fn unix_fs_functions_are_patched_and_its_traits_kept() {
    let [symlink, ext] = unix_fs_names();
    assert!(symlink.starts_with("guv::green::os::unix::fs::symlink"), "{symlink}");
    assert!(ext.starts_with("dyn std::os::unix::fs::FileExt"), "{ext}");
}
