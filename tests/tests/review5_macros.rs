//! Regression tests from an adversarial review of `guv-macros`: std paths
//! the patching walk missed, code that compiled unpatched but not patched,
//! and `#[guv::test]` return types that `#[test]` accepts.

use std::any::{type_name, type_name_of_val};

fn is_green(name: &str) -> bool {
    name.contains("guv::green::")
}

/// A lifetime before a leading `::` (`&'a ::std::...`) starts a path, as
/// after `&` or `&'static`. Before the fix such a field stayed std's
/// `Mutex` while the value put in it turned green, so code that compiled
/// unpatched did not compile patched.
#[guv::patched]
mod borrowed {
    pub struct Held<'a> {
        pub lock: &'a ::std::sync::Mutex<Vec<u8>>,
    }

    pub fn receiver_name(rx: &'_ ::std::sync::mpsc::Receiver<u8>) -> &'static str {
        std::any::type_name_of_val(rx)
    }

    pub fn caller() -> (u8, &'static str, &'static str) {
        let m = ::std::sync::Mutex::new(vec![7]);
        let held = Held { lock: &m };
        let (_tx, rx) = ::std::sync::mpsc::channel();
        (held.lock.lock().unwrap()[0], std::any::type_name_of_val(held.lock), receiver_name(&rx))
    }
}

#[test]
fn a_path_after_a_lifetime_is_rewritten() {
    let (first, lock, receiver) = borrowed::caller();
    assert_eq!(first, 7);
    assert!(is_green(lock), "{lock}");
    assert!(is_green(receiver), "{receiver}");
}

/// Raw identifiers name the same paths: `r#std::thread::spawn` is
/// `std::thread::spawn`.
#[guv::patched]
fn raw_identifiers() -> [String; 3] {
    [
        type_name_of_val(&r#std::thread::spawn::<fn(), ()>).into(),
        type_name_of_val(&std::r#thread::spawn::<fn(), ()>).into(),
        type_name::<std::sync::r#Mutex<u8>>().into(),
    ]
}

#[test]
fn raw_identifiers_are_rewritten() {
    for name in raw_identifiers() {
        assert!(is_green(&name), "{name}");
    }
}

#[guv::patched]
fn raw_identifiers_in_use() -> String {
    use r#std::r#sync::Condvar;
    type_name::<Condvar>().into()
}

#[test]
fn raw_identifiers_in_use_are_rewritten() {
    let name = raw_identifiers_in_use();
    assert!(is_green(&name), "{name}");
}

/// The user's own macros named `original!` / `is_patched!` are theirs: the
/// walk takes an unqualified invocation only when its arguments are what
/// guv's macro takes.
mod own_macros {
    macro_rules! original {
        ($e:expr) => {
            $e + 1
        };
    }

    macro_rules! is_patched {
        ($a:literal, $b:literal) => {
            $a * $b
        };
    }

    #[guv::patched]
    pub fn use_them() -> (u32, u32, bool) {
        (original!(5), is_patched!(6, 7), guv::is_patched!(net))
    }
}

#[test]
fn user_macros_named_like_guvs_are_left_alone() {
    assert_eq!(own_macros::use_them(), (6, 42, true));
}

/// `#[test]` accepts any `Termination`; `ExitCode` is the std one besides
/// `()` and `Result`.
#[guv::test]
fn exit_code_success_passes() -> std::process::ExitCode {
    assert_eq!(std::thread::spawn(|| 5).join().unwrap(), 5);
    std::process::ExitCode::SUCCESS
}

#[guv::test]
#[should_panic(expected = "non-zero status code")]
fn exit_code_failure_fails() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}

#[guv::test]
fn result_of_exit_code_passes() -> Result<std::process::ExitCode, String> {
    Ok(std::process::ExitCode::SUCCESS)
}

/// Inner attributes at the top of the body (`#![allow(...)]`) still apply
/// to the whole fn: syn keeps them with the outer ones, and they were
/// emitted before the fn, which does not compile.
#[guv::test]
fn inner_attributes_stay_in_a_tests_body() {
    #![allow(unused_variables)]
    let unused = 1;
    assert_eq!(inner_attributes_in_a_green_fn(20).wait().unwrap(), 21);
}

#[guv::green]
fn inner_attributes_in_a_green_fn(n: u32) -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    n + 1
}

/// `use std::thread::*; use std::time::*;` is fine with std, whose `time`
/// has no `sleep`. `std::time` used to be rewritten to `guv::green::time`,
/// which adds a `sleep` of its own, so the two globs made `sleep`
/// ambiguous (a future-incompatibility lint today, an error to come).
#[guv::patched]
#[deny(ambiguous_glob_imports)]
mod globs {
    use std::thread::*;
    use std::time::*;

    pub fn nap() -> &'static str {
        sleep(Duration::from_millis(1));
        std::any::type_name_of_val(&sleep)
    }
}

#[guv::test]
fn thread_and_time_globs_do_not_clash() {
    let name = globs::nap();
    assert!(name.contains("guv::green::thread::sleep"), "{name}");
}

/// A timeout beyond `u64::MAX` nanoseconds (about 584 years) is a long
/// timeout: it used to be cut to its low 64 bits of nanoseconds, here about
/// a millisecond, and the test timed out at once.
#[guv::test(timeout = "18446744073.710551616s")]
fn a_huge_timeout_is_not_cut_short() {
    std::thread::sleep(std::time::Duration::from_millis(200));
}
