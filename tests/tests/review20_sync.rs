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

#[test]
fn links_that_link_and_unlink_on_their_own_greenlet_are_honoured_before_join_returns() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let log: Rc<RefCell<Vec<&str>>> = Rc::default();
    let gt = Rc::new(guv::spawn(|| 1));
    let later: Rc<RefCell<Option<guv::LinkId>>> = Rc::default();
    let (l, g, lt) = (log.clone(), gt.clone(), later.clone());
    gt.link(move |_| {
        l.borrow_mut().push("first");
        // Removes the link added after this one, adds a new one: the new
        // one runs after the others, before a joiner resumes.
        assert!(g.unlink(lt.borrow().unwrap()));
        let l2 = l.clone();
        g.link(move |r| l2.borrow_mut().push(if r.is_ok() { "added by first" } else { "?" }));
    });
    let l = log.clone();
    *later.borrow_mut() = Some(gt.link(move |_| l.borrow_mut().push("removed")));
    let l = log.clone();
    gt.link(move |_| l.borrow_mut().push("third"));
    gt.join();
    assert_eq!(*log.borrow(), ["first", "third", "added by first"]);
}

/// An item that, when dropped, looks at the queue it was meant for.
struct Nosy(guv::queue::Queue<Nosy>, guv_tests::Log);

impl Drop for Nosy {
    fn drop(&mut self) {
        self.1.push(format!("putting {}", self.0.putting()));
        let _ = self.0.try_get();
    }
}

#[test]
fn an_item_dropped_by_its_killed_putter_may_use_the_queue_in_its_destructor() {
    let log = guv_tests::Log::new();
    let q = guv::queue::Queue::new(Some(0));
    let (tx, l) = (q.clone(), log.clone());
    let blocked = guv::spawn(move || tx.put(Nosy(tx.clone(), l)));
    guv::gyield();
    assert_eq!(q.putting(), 1);
    blocked.kill(); // its item is dropped on the way out, outside the queue's borrows
    assert!(blocked.wait().unwrap_err().is_killed());
    assert_eq!(log.take(), ["putting 0"]);
}
