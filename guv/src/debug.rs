//! Debugging switches (Python guv's `guv.debug`).

use crate::hub::with_hub;

/// Turns the printing of panics in spawned greenlets on or off for this
/// thread's hub (on by default).
///
/// When on, a panic in a greenlet is printed at once, naming the greenlet:
/// `greenlet 'worker' (#3) panicked at src/main.rs:5:9:` and the message
/// on the next line (`greenlet #3 ...` for an unnamed one). The panic
/// ends only that greenlet either way, and [`crate::GreenThread::wait`]
/// still returns it as [`crate::Error::Panicked`]. Panics on the thread's
/// main greenlet go to the process's panic hook as usual.
///
/// ```
/// guv::debug::hub_exceptions(false);
/// guv::spawn_n(|| panic!("not printed"));
/// guv::gyield();
/// guv::debug::hub_exceptions(true);
/// ```
pub fn hub_exceptions(enabled: bool) {
    with_hub(|hub| hub.hub_exceptions.set(enabled));
}
