//! Unit tests of the patching walk: which paths change, for which groups, through aliases, macros and markers.

use super::*;
use crate::groups::{CratePath, Group, GroupSet};

/// The rewritten tokens, without whitespace (spacing is not the point).
fn rw_with(src: &str, groups: GroupSet) -> String {
    let cfg = PatchConfig { groups, krate: CratePath::default() };
    squash(&patch_with_errors(src.parse().unwrap(), &cfg).to_string())
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect()
}

fn rw(src: &str) -> String {
    rw_with(src, GroupSet::all())
}

#[test]
fn expression_and_type_paths() {
    assert_eq!(
        rw("let s: std::net::TcpStream = std::net::TcpStream::connect(a)?;"),
        squash("let s : :: guv :: green :: net :: TcpStream = :: guv :: green :: net :: TcpStream :: connect (a) ? ;")
    );
    assert_eq!(
        rw("fn f() -> ::std::sync::Mutex<u8> { ::std::sync::mpsc::channel::<u8>() }"),
        squash(
            "fn f () -> :: guv :: green :: sync :: Mutex < u8 > { :: guv :: green :: sync :: mpsc :: channel :: < u8 > () }"
        )
    );
    assert_eq!(
        rw("Vec<::std::thread::JoinHandle<()>>"),
        squash("Vec < :: guv :: green :: thread :: JoinHandle < () > >")
    );
    assert_eq!(
        rw("impl<T> ::std::net::ToSocketAddrs for W<T> {}"),
        squash("impl < T > :: guv :: green :: net :: ToSocketAddrs for W < T > { }")
    );
    assert_eq!(
        rw("fn f<'a>(m: &'a ::std::sync::Mutex<u8>, n: &'_ ::std::fs::File) {}"),
        squash(
            "fn f < 'a > (m : & 'a :: guv :: green :: sync :: Mutex < u8 > , n : & '_ :: guv :: green :: fs :: File) { }"
        )
    );
    assert_eq!(
        rw("r#std::r#thread::spawn(f); std::sync::r#Mutex::new(1)"),
        squash(":: guv :: green :: r#thread :: spawn (f) ; :: guv :: green :: sync :: r#Mutex :: new (1)")
    );
    assert_eq!(rw("x => ::std::process::exit(1)"), squash("x => :: std :: process :: exit (1)"));
    assert_eq!(rw("x => ::std::fs::read(p)"), squash("x => :: guv :: green :: fs :: read (p)"));
    assert_eq!(
        rw("&v[..std::fs::read(p)?.len()]; 0..=std::fs::read(p)?.len()"),
        squash(
            "& v [.. :: guv :: green :: fs :: read (p) ? . len ()] ; 0 ..= :: guv :: green :: fs :: read (p) ? . len ()"
        )
    );
}

#[test]
fn macro_arguments_are_walked() {
    assert_eq!(
        rw("println!(\"{:?}\", std::thread::current().id())"),
        squash("println ! (\"{:?}\" , :: guv :: green :: thread :: current () . id ())")
    );
    assert_eq!(
        rw("assert!(matches!(x, std::sync::TryLockError::WouldBlock))"),
        squash("assert ! (matches ! (x , std :: sync :: TryLockError :: WouldBlock))")
    );
}

#[test]
fn stringify_keeps_its_tokens() {
    for src in [
        "stringify!(std::net::TcpStream)",
        "std::stringify!(std::thread::spawn)",
        "::core::stringify!(thread_local!{})",
    ] {
        let expected = squash(&src.parse::<TokenStream>().unwrap().to_string());
        assert_eq!(rw(src), expected, "{src}");
    }
    assert_eq!(rw("my::stringify!(std::fs::File)"), squash("my::stringify!(::guv::green::fs::File)"));
}

#[test]
fn not_every_std_looking_path_is_std() {
    for src in [
        "my::std::net::TcpStream",
        "self::std::net::TcpStream",
        "core::time::Duration",
        "alloc::sync::Arc",
        "x.std::<u8>()",
        "x.0.std::<u8>()",
        "1.0.std::<u8>()",
        "$std::net::TcpStream",
        "'std: loop {}",
        "std::time::Duration::from_secs(1)",
        "std::collections::HashMap::new()",
        "r#my::std::net::TcpStream",
        "\"std::net::TcpStream\"",
    ] {
        let expected = squash(&src.parse::<TokenStream>().unwrap().to_string());
        assert_eq!(rw(src), expected, "{src}");
    }
}

#[test]
fn groups_limit_what_changes() {
    let net = GroupSet::EMPTY.with(Group::Net);
    assert_eq!(
        rw_with("std::net::TcpStream::connect(a); std::thread::spawn(f)", net),
        squash(":: guv :: green :: net :: TcpStream :: connect (a) ; std :: thread :: spawn (f)")
    );
    let time = GroupSet::EMPTY.with(Group::Time);
    assert_eq!(
        rw_with("std::thread::sleep(d); std::thread::spawn(f)", time),
        squash(":: guv :: green :: thread :: sleep (d) ; std :: thread :: spawn (f)")
    );
}

#[test]
fn use_declarations_anywhere() {
    assert_eq!(
        rw("fn f() { use std::{net::TcpListener, io::Write}; }"),
        squash("fn f () { use { :: guv :: green :: net :: TcpListener , std :: io :: Write } ; }")
    );
    assert_eq!(rw("pub use std::net::*;"), squash("pub use :: guv :: green :: net :: * ;"));
    assert_eq!(rw("use std::net::{Ipv4Addr, Shutdown};"), squash("use std :: net :: { Ipv4Addr , Shutdown } ;"));
    assert_eq!(
        rw("fn f() -> impl Sized + use<> { std::net::TcpStream::connect(a) }"),
        squash("fn f () -> impl Sized + use < > { :: guv :: green :: net :: TcpStream :: connect (a) }")
    );
}

#[test]
fn thread_local_becomes_a_green_local_with_the_thread_group() {
    assert_eq!(
        rw("thread_local! { static N: std::sync::Mutex<u8> = std::sync::Mutex::new(0); }"),
        squash(
            ":: guv :: local ! { static N : :: guv :: green :: sync :: Mutex < u8 > = :: guv :: green :: sync :: Mutex :: new (0) ; }"
        )
    );
    assert_eq!(rw("std::thread_local!{}"), squash(":: guv :: local ! { }"));
    assert_eq!(rw("::std::thread_local!{}"), squash(":: guv :: local ! { }"));
    // Another crate's macro of that name, and the group off: left alone.
    assert_eq!(rw("other::thread_local!{}"), squash("other :: thread_local ! { }"));
    assert_eq!(rw_with("thread_local!{}", GroupSet::EMPTY.with(Group::Net)), squash("thread_local ! { }"));
}

#[test]
fn thread_local_through_an_alias_of_std_is_green() {
    assert_eq!(
        rw("mod m { use std as s; s::thread_local!{} }"),
        squash("mod m { use :: guv :: green_std as s ; s :: __guv_thread_local ! { } }")
    );
    assert_eq!(
        rw("fn f() { t::thread_local!{} } use ::std::{self as t, net};"),
        squash("fn f () { t :: __guv_thread_local ! { } } use { :: guv :: green_std as t , :: guv :: green :: net } ;")
    );
    // Not an alias of std, a leading `::s` (a crate): left alone.
    assert_eq!(rw("use other as s; s::thread_local!{}"), squash("use other as s ; s :: thread_local ! { }"));
    assert_eq!(
        rw("use std as s; ::s::thread_local!{}"),
        squash("use :: guv :: green_std as s ; :: s :: thread_local ! { }")
    );
    // With fewer groups the alias stays std's, and so does its macro,
    // as every path through it (there is no mirror to name).
    assert_eq!(
        rw_with("use std as s; s::thread_local!{}", GroupSet::EMPTY.with(Group::Thread)),
        squash("use std as s ; s :: thread_local ! { }")
    );
}

#[test]
fn an_alias_of_std_counts_only_where_its_use_is_in_scope() {
    // Outside the module that declares it, `s` is some other name.
    assert_eq!(
        rw("mod m { use std as s; } s::thread_local!{}"),
        squash("mod m { use :: guv :: green_std as s ; } s :: thread_local ! { }")
    );
    assert_eq!(
        rw("fn f() { use std as s; { s::thread_local!{} } } fn g() { s::thread_local!{} }"),
        squash(
            "fn f () { use :: guv :: green_std as s ; { s :: __guv_thread_local ! { } } } \
             fn g () { s :: thread_local ! { } }"
        )
    );
    // Blocks and items nested in the declaring scope see it (functions,
    // impls, closures); nested modules do not (their paths start from
    // their own names).
    assert_eq!(
        rw("use std as s; impl X { fn f() { let c = || { s::thread_local!{} }; } } \
            mod inner { s::thread_local!{} fn g() { s::thread_local!{} } }"),
        squash(
            "use :: guv :: green_std as s ; impl X { fn f () { let c = || { s :: __guv_thread_local ! { } } ; } } \
             mod inner { s :: thread_local ! { } fn g () { s :: thread_local ! { } } }"
        )
    );
    // A nested module that declares the alias again has it.
    assert_eq!(
        rw("use std as s; mod inner { use std as s; s::thread_local!{} }"),
        squash(
            "use :: guv :: green_std as s ; mod inner { use :: guv :: green_std as s ; s :: __guv_thread_local ! { } }"
        )
    );
    // Shadowed in a nested block by another `use`, a module or a type.
    for (inner, expected) in [
        ("use other as s;", "use other as s ;"),
        ("use crate::s;", "use crate :: s ;"),
        ("use a::{b::{self as s}};", "use a :: { b :: { self as s } } ;"),
        ("mod s {}", "mod s { }"),
        ("struct s;", "struct s ;"),
        ("extern crate other as s;", "extern crate other as s ;"),
    ] {
        assert_eq!(
            rw(&format!("use std as s; fn f() {{ {inner} s::thread_local!{{}} }}")),
            squash(&format!("use :: guv :: green_std as s ; fn f () {{ {expected} s :: thread_local ! {{ }} }}")),
            "{inner}"
        );
    }
    // A glob or `_` binds no name, so shadows nothing.
    assert_eq!(
        rw("use std as s; fn f() { use other::*; use x as _; s::thread_local!{} }"),
        squash(
            "use :: guv :: green_std as s ; fn f () { use other :: * ; use x as _ ; s :: __guv_thread_local ! { } }"
        )
    );
}

#[test]
fn an_alias_of_std_reaches_nested_modules_through_super() {
    // `use super::*;` and `use super::s;` in a nested module bring the
    // parent's alias in; a name declared there wins over the glob's.
    assert_eq!(
        rw("use std as s; mod a { use super::*; s::thread_local!{} mod b { use super::s as t; t::thread_local!{} } }"),
        squash(
            "use :: guv :: green_std as s ; mod a { use super :: * ; s :: __guv_thread_local ! { } \
             mod b { use super :: s as t ; t :: __guv_thread_local ! { } } }"
        )
    );
    assert_eq!(
        rw("mod m { use std as s; mod a { use super::*; mod s {} s::thread_local!{} } }"),
        squash("mod m { use :: guv :: green_std as s ; mod a { use super :: * ; mod s { } s :: thread_local ! { } } }")
    );
    // A block's `super` is its module's parent: not followed.
    assert_eq!(
        rw("use std as s; mod a { fn f() { use super::s; s::thread_local!{} } }"),
        squash("use :: guv :: green_std as s ; mod a { fn f () { use super :: s ; s :: thread_local ! { } } }")
    );
    // Aliases of a block are not the module's.
    assert_eq!(
        rw("fn f() { use std as s; mod a { use super::*; s::thread_local!{} } }"),
        squash("fn f () { use :: guv :: green_std as s ; mod a { use super :: * ; s :: thread_local ! { } } }")
    );
}

#[test]
fn extern_crate_std_as_an_alias_is_green_std() {
    assert_eq!(
        rw("extern crate std as s; s::thread_local!{} fn f() { s::thread_local!{} }"),
        squash(
            "use :: guv :: green_std as s ; s :: __guv_thread_local ! { } fn f () { s :: __guv_thread_local ! { } }"
        )
    );
    assert_eq!(
        rw("#[allow(unused)] pub(crate) extern crate r#std as s;"),
        squash("#[allow(unused)] pub(crate) use :: guv :: green_std as s ;")
    );
    assert_eq!(
        rw("mod m { extern crate std as s; } s::thread_local!{}"),
        squash("mod m { use :: guv :: green_std as s ; } s :: thread_local ! { }")
    );
    // Not aliases of std: left as written, and their macro too.
    for src in [
        "extern crate std; s::thread_local!{}",
        "extern crate std as _; s::thread_local!{}",
        "extern crate other as s; s::thread_local!{}",
        "#[macro_use] extern crate std as s; s::thread_local!{}",
    ] {
        let expected = squash(&src.parse::<TokenStream>().unwrap().to_string());
        assert_eq!(rw(src), expected, "{src}");
    }
    // With fewer groups the alias stays std's, as for `use std as s;`.
    assert_eq!(
        rw_with("extern crate std as s; s::thread_local!{}", GroupSet::EMPTY.with(Group::Thread)),
        squash("extern crate std as s ; s :: thread_local ! { }")
    );
}

#[test]
fn original_and_is_patched_are_replaced() {
    assert_eq!(
        rw("guv::original!(std::net::TcpStream::connect)(a)"),
        squash(":: guv :: __private :: std :: net :: TcpStream :: connect (a)")
    );
    assert_eq!(
        rw("let m: original!(::std::sync::Mutex<u8>);"),
        squash("let m : :: guv :: __private :: std :: sync :: Mutex < u8 > ;")
    );
    assert_eq!(rw("if guv::is_patched!(net) {}"), squash("if true { }"));
    assert_eq!(
        rw_with("if ::guv::is_patched!(fs) {}", GroupSet::EMPTY.with(Group::Net)),
        squash("if :: guv :: __private :: is_patched ! (fs) { }")
    );
    // What an outer walk left, whatever crate path it had: decided here.
    assert_eq!(rw("if my::guv::__private::is_patched!(fs) {}"), squash("if true { }"));
    assert_eq!(
        rw("other::original!(std::net::TcpStream)"),
        squash("other :: original ! (:: guv :: green :: net :: TcpStream)")
    );
    assert_eq!(rw("original!(5) + is_patched!(6, 7)"), squash("original ! (5) + is_patched ! (6 , 7)"));
    let cfg = PatchConfig { groups: GroupSet::all(), krate: CratePath::default() };
    let out = patch_with_errors("guv::original!(TcpStream)".parse().unwrap(), &cfg).to_string();
    assert!(out.contains("compile_error") && out.contains("path into std"), "{out}");
    for src in ["macro_rules! m { ($g:ident) => { guv::is_patched!($g) } }", "guv::original!($p)"] {
        let out = patch_with_errors(src.parse().unwrap(), &cfg).to_string();
        assert!(out.contains("compile_error") && out.contains("not a macro variable"), "{out}");
    }
    let out = patch_with_errors("guv::is_patched!(socket)".parse().unwrap(), &cfg).to_string();
    assert!(out.contains("unknown group `socket`") && out.ends_with("false"), "{out}");
}

#[test]
fn nested_attributes_name_more_paths_to_guv() {
    let net = GroupSet::EMPTY.with(Group::Net);
    // The inner attribute says guv is `crate::re::guv` inside it: the
    // outer walk answers for its own group and leaves the rest.
    let src = "mod m { #[guv::patched(sync, crate = \"crate::re::guv\")] fn f() { \
               (crate::re::guv::is_patched!(net), crate::re::guv::is_patched!(sync)) } }";
    let out = rw_with(src, net);
    assert!(out.contains("{(true,::guv::__private::is_patched!(sync))}"), "{out}");
    // An attribute that is not guv's names no path to guv.
    let src = "#[tokio::test(crate = \"my\")] fn f() { my::is_patched!(net) }";
    assert!(rw_with(src, net).contains("my::is_patched!(net)"));
    let src = "#[my::test(crate = \"my\")] fn f() { my::is_patched!(net) }";
    assert!(rw_with(src, net).contains("{true}"));
}

#[test]
fn use_declarations_keep_their_attributes_and_visibility() {
    assert_eq!(
        rw("#[cfg(unix)] pub(crate) use std::{thread_local, net::TcpStream};"),
        squash(
            "#[cfg(unix)] pub(crate) use :: guv :: green :: net :: TcpStream ; \
             #[allow(unused_imports)] #[cfg(unix)] pub(crate) use :: guv :: __private :: thread_local as thread_local ;"
        )
    );
    assert_eq!(
        rw("#[doc = \"x\"] use std::thread_local;"),
        squash("#[allow(unused_imports)] #[doc = \"x\"] use :: guv :: __private :: thread_local as thread_local ;")
    );
    assert_eq!(rw("#[cfg(unix)] pub use std::io::Read;"), squash("#[cfg(unix)] pub use std::io::Read;"));
    assert_eq!(
        rw("#![allow(x)] use std::thread_local as tl;"),
        squash("#![allow(x)] use :: guv :: __private :: thread_local as tl ;")
    );
}

#[test]
fn patching_twice_changes_nothing_more() {
    let src = "use std::{net::TcpStream, io::{self, Read}, thread_local}; use std as s; \
               fn f(s: std::net::TcpStream) { std::thread::spawn(|| ()); thread_local!{} }";
    let once = rw(src);
    assert_eq!(rw(&once), once);
}
