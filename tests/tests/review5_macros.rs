//! Regression tests from an adversarial review of `guv-macros`: std paths
//! the patching walk missed, code that compiled unpatched but not patched,
//! and `#[guv::test]` return types that `#[test]` accepts.

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
