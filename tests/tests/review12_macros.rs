//! Review 12: an alias of std reached from a nested module through
//! `use super::*;` or `use super::s;` is still std (green_std once
//! patched), so its `thread_local!` must be green there too.

#[guv::patched]
mod through_super {
    #![deny(warnings)]

    use std as s;

    pub mod by_glob {
        use super::*;
        s::thread_local! {
            pub static G: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
    }

    pub mod by_name {
        use super::s;
        s::thread_local! {
            pub static N: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
    }

    pub mod renamed {
        use super::s as t;
        t::thread_local! {
            pub static R: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        }
    }

    /// Each green thread's values after it set its own, both having set
    /// theirs before either reads.
    pub fn values_seen() -> Vec<(u32, u32, u32)> {
        let both = s::sync::Arc::new(s::sync::Barrier::new(2));
        let threads: Vec<_> = (1..=2)
            .map(|i| {
                let both = both.clone();
                std::thread::spawn(move || {
                    by_glob::G.set(i);
                    by_name::N.set(i);
                    renamed::R.set(i);
                    both.wait();
                    (by_glob::G.get(), by_name::N.get(), renamed::R.get())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    }
}

#[test]
fn an_alias_of_std_imported_from_super_is_followed() {
    // One value per green thread: with std's thread_local (one per OS
    // thread) both would read the second's number.
    assert_eq!(through_super::values_seen(), [(1, 1, 1), (2, 2, 2)]);
}
