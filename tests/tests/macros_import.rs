//! `guv::import_patched!`: a file of plain std code, included as a patched
//! module. As in macros_patched.rs, `crate = "crate::fake"` makes the
//! rewritten paths land in stand-ins whose names `type_name` shows.

mod fake {
    pub mod green {
        pub mod net {
            pub struct TcpStream;
        }
        pub mod sync {
            pub struct Mutex<T>(pub T);
        }
        pub mod thread {
            pub fn spawn<F: FnOnce() -> T, T>(f: F) -> T {
                f()
            }
        }
        pub mod io {
            pub fn stdin() {}
        }
    }
}

guv::import_patched!(mod all = "tests/imported/std_names.rs", crate = "crate::fake");
guv::import_patched!(
    #[allow(dead_code)]
    pub(crate) mod net_only = "tests/imported/std_names.rs",
    net,
    crate = "crate::fake"
);
guv::import_patched!(mod real = "../guv/doc/ping_pong.rs");

#[test]
fn every_group_by_default() {
    let [stream, mutex, spawn, addr, arc] = all::names();
    for rewritten in [stream, mutex, spawn, all::inner::stdin_name()] {
        assert!(rewritten.contains("::fake::green::"), "{rewritten}");
    }
    assert_eq!(addr, "core::net::ip_addr::Ipv4Addr");
    assert!(arc.starts_with("alloc::sync::Arc"), "{arc}");
}

#[test]
fn chosen_groups_and_visibility() {
    let [stream, mutex, spawn, ..] = net_only::names();
    assert!(stream.contains("::fake::green::net::"), "{stream}");
    assert!(mutex.starts_with("std::sync::"), "{mutex}");
    assert!(spawn.starts_with("std::thread::"), "{spawn}");
    assert!(net_only::inner::stdin_name().starts_with("std::io::"));
}

#[guv::test]
fn an_imported_module_runs() {
    assert_eq!(real::ping_pong(1), ["ping 0", "pong 0"]);
}
