//! A `GreenPool` member that runs inline (spawned by a member into its own
//! full pool) and panics is reported as one that ran on its own greenlet:
//! its handle's `wait` gives the panic, and a panic nobody takes from a
//! handle (`spawn_n`, or a dropped handle) is in the hub's record of
//! unobserved panics that `#[guv::test]` fails on; its handle has the
//! `Builder`'s name and an id of its own.

use guv::__private::{track_greenlets, tracked};
use guv::{GreenPile, GreenPool};

/// Runs `f` on a thread of its own, so that its hub is fresh.
fn on_fresh_hub(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f).join().unwrap();
}

/// The messages of the panics recorded as unobserved, sorted.
fn unobserved() -> Vec<String> {
    let mut m: Vec<String> = tracked().panicked.into_iter().map(|(_, msg)| msg).collect();
    m.sort();
    m
}

#[test]
fn a_member_that_ran_inline_and_panicked_is_reported_as_one_on_its_own_greenlet() {
    on_fresh_hub(|| {
        track_greenlets();
        guv::debug::hub_exceptions(false);
        let pool = GreenPool::new(1);
        // On their own greenlets: one handle dropped, one spawn_n.
        drop(pool.spawn(|| -> () { panic!("own, dropped") }));
        pool.spawn_n(|| panic!("own, spawn_n"));
        let named = pool.spawn_with(guv::Builder::new().name("job"), || 1).unwrap();
        assert_eq!(named.name(), Some("job"));
        named.wait().unwrap();
        let waited = pool.spawn(|| -> u8 { panic!("own, waited") });
        assert_eq!(waited.wait().unwrap_err().panic_message(), Some("own, waited"));
        pool.waitall().unwrap();
        // The same three from a member, into the full pool: inline.
        let (p, caller) = (pool.clone(), std::rc::Rc::new(std::cell::Cell::new(0)));
        let c = caller.clone();
        let outer = pool.spawn(move || {
            let caller = c;
            drop(p.spawn(|| -> () { panic!("inline, dropped") }));
            p.spawn_n(|| panic!("inline, spawn_n"));
            let waited = p.spawn(|| -> u8 { panic!("inline, waited") });
            assert!(waited.is_finished(), "ran inline");
            // Its own name (and id), as a member on its own greenlet.
            let named = p.spawn_with(guv::Builder::new().name("job"), || 1).unwrap();
            assert!(named.is_finished(), "ran inline");
            assert_eq!(named.name(), Some("job"));
            assert_ne!(named.id(), caller.get(), "the caller's id");
            waited.wait().unwrap_err().panic_message().map(str::to_owned)
        });
        caller.set(outer.id()); // before it starts
        assert_eq!(outer.wait().unwrap().as_deref(), Some("inline, waited"));
        // A pile's results, taken: no unobserved panic either way.
        let mut pile = GreenPile::with_pool(&pool);
        pile.spawn(|| -> u8 { panic!("pile, own") });
        assert_eq!(pile.next().unwrap().unwrap_err().panic_message(), Some("pile, own"));
        let p = pool.clone();
        let outer = pool.spawn(move || {
            let mut pile = GreenPile::with_pool(&p);
            pile.spawn(|| -> u8 { panic!("pile, inline") });
            pile.next().unwrap().unwrap_err().panic_message().map(str::to_owned)
        });
        assert_eq!(outer.wait().unwrap().as_deref(), Some("pile, inline"));
        assert_eq!(unobserved(), ["inline, dropped", "inline, spawn_n", "own, dropped", "own, spawn_n"]);
    });
}
