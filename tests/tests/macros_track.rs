//! The hub's greenlet tracking that `#[guv::test]` relies on (reached
//! through `guv::__private`): greenlets still alive, and panics nobody
//! waited for.

use std::time::Duration;

use guv::__private::{track_greenlets, tracked};

/// Runs `f` on a thread of its own, so that its hub is fresh.
fn on_fresh_hub(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f).join().unwrap();
}

#[test]
fn tracking_reports_live_greenlets_and_unobserved_panics() {
    on_fresh_hub(|| {
        let untracked = guv::spawn(|| guv::sleep(Duration::from_secs(3600)));
        track_greenlets();
        guv::debug::hub_exceptions(false);
        let sleeper = guv::Builder::new().name("sleeper").spawn(|| guv::sleep(Duration::from_secs(3600))).unwrap();
        let waited = guv::Builder::new().name("waited").spawn(|| -> u32 { panic!("seen") }).unwrap();
        guv::Builder::new().name("lost").spawn_n(|| panic!("unseen")).unwrap();
        let unnamed = guv::spawn(|| 1);
        let unnamed_id = unnamed.id();
        let dropped = guv::spawn(|| -> () { panic!("dropped") });
        let dropped_id = dropped.id();
        drop(dropped);

        let r = tracked();
        assert_eq!(r.alive.len(), 5, "{r:?}");
        assert!(r.panicked.is_empty());

        guv::gyield();
        assert_eq!(waited.wait().unwrap_err().panic_message(), Some("seen"));
        assert_eq!(unnamed.wait().unwrap(), 1);
        let r = tracked();
        assert_eq!(r.alive, [format!("'sleeper' (#{})", sleeper.id())]);
        let lost = r.panicked.iter().find(|(_, m)| m == "unseen").unwrap();
        assert!(lost.0.starts_with("'lost' (#"), "{lost:?}");
        assert!(r.panicked.contains(&(format!("#{dropped_id}"), "dropped".to_owned())));
        assert_eq!(r.panicked.len(), 2, "the waited-for panic is not listed: {r:?}");
        assert!(!r.alive.iter().any(|a| a.contains(&format!("#{unnamed_id}"))));

        sleeper.kill();
        assert!(tracked().alive.is_empty());
        untracked.kill();
    });
}

#[test]
fn a_greenlet_cancelled_before_it_starts_is_no_longer_alive() {
    on_fresh_hub(|| {
        track_greenlets();
        let later = guv::spawn_after(Duration::from_secs(60), || ());
        assert_eq!(tracked().alive.len(), 1);
        assert!(later.cancel());
        assert!(tracked().alive.is_empty());
    });
}
