//! Review 20: probes of the hub-local semaphores, queues and events where a
//! kill or a timeout meets a hand-off, and of callbacks and destructors
//! that call back into the primitive that runs them.

use guv::CappedSemaphore;

#[test]
fn capped_rendezvous_acquirer_killed_after_the_hand_off_passes_the_release_on() {
    // limit 0: every release pairs with an acquire. A release handed to a
    // waiting acquirer completes at once; if that acquirer is killed before
    // it runs again, the release must still reach the next acquirer, as a
    // channel's item handed to a getter killed before it ran does.
    let sem = CappedSemaphore::new(0, 0).unwrap();
    let s = sem.clone();
    let acquirer = guv::spawn(move || s.acquire());
    guv::gyield();
    assert!(sem.try_release(), "a release with an acquirer waiting completes");
    acquirer.kill();
    assert!(acquirer.wait().unwrap_err().is_killed());
    assert!(sem.try_acquire(), "the release handed to the killed acquirer was lost");
}

#[test]
fn capped_acquirer_killed_after_the_hand_off_at_the_limit_loses_no_permit() {
    let sem = CappedSemaphore::new(0, 1).unwrap();
    let s = sem.clone();
    let acquirer = guv::spawn(move || s.acquire());
    guv::gyield();
    sem.release(); // handed to the acquirer
    sem.release(); // 0 -> 1, the limit
    acquirer.kill();
    assert!(acquirer.wait().unwrap_err().is_killed());
    // Two releases, no acquire that returned: two permits to take.
    assert!(sem.try_acquire());
    assert!(sem.try_acquire(), "the permit handed to the killed acquirer was lost");
    assert!(!sem.try_acquire());
}
