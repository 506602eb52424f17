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

#[test]
fn unlinking_with_another_objects_link_id_removes_nothing() {
    // A LinkId names one callback of one greenlet (event, result). Given
    // to another's `unlink`, it must find nothing there — not remove
    // whatever callback happens to sit under the same number, such as the
    // link through which another greenlet `join`s.
    let a = guv::spawn(|| ());
    let b = guv::Event::new();
    let gate = guv::Event::new();
    let g = gate.clone();
    let target = guv::spawn(move || g.wait());
    let t = std::rc::Rc::new(target);
    let t2 = t.clone();
    let joiner = guv::spawn(move || t2.join()); // links itself to `target`
    guv::gyield();
    let foreign = a.link(|_| ());
    let foreign_flag = b.rawlink(|_| ());
    let r = guv::AsyncResult::<(), ()>::new();
    let foreign_result = r.rawlink(|_| ());
    assert!(!t.unlink(foreign), "a GreenThread LinkId unlinked another greenlet's link");
    assert!(!t.unlink(foreign_flag), "an Event LinkId unlinked a greenlet's link");
    assert!(!t.unlink(foreign_result), "an AsyncResult LinkId unlinked a greenlet's link");
    gate.set();
    joiner.wait().unwrap();
    a.wait().unwrap();
}
