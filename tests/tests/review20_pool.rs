//! Review 20: pools, piles and maps where a consumer is killed or timed
//! out, or a job panics or is killed.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use guv::{GreenPile, GreenPool};

#[test]
fn a_pile_consumer_timed_out_or_killed_mid_wait_leaves_every_result_in_place() {
    let gate = guv::Event::new();
    let pile = Rc::new(RefCell::new(GreenPile::new(4)));
    for i in 0..4u32 {
        let g = gate.clone();
        pile.borrow_mut().spawn(move || {
            g.wait();
            if i == 1 {
                panic!("job 1 fails");
            }
            i
        });
    }
    let p = pile.clone();
    let cut = guv::with_timeout(Duration::from_millis(2), move || p.borrow_mut().next());
    assert!(cut.unwrap_err().is_timed_out());
    let p = pile.clone();
    let consumer = guv::spawn(move || p.borrow_mut().next());
    guv::gyield();
    consumer.kill();
    assert!(consumer.wait().unwrap_err().is_killed());
    guv::debug::hub_exceptions(false);
    gate.set();
    let got: Vec<Result<u32, Option<String>>> =
        pile.borrow_mut().by_ref().map(|r| r.map_err(|e| e.panic_message().map(str::to_owned))).collect();
    guv::debug::hub_exceptions(true);
    assert_eq!(got, [Ok(0), Err(Some("job 1 fails".into())), Ok(2), Ok(3)]);
    assert_eq!(pile.borrow().pool().free(), 4);
}

#[test]
fn an_imap_consumer_killed_while_waiting_for_a_slot_of_a_shared_pool_loses_no_input() {
    // The pool is full with someone else's job: the consumer waits in
    // `spawn` with an input item in hand. Killed there, it must not drop
    // the item: the next `next` starts it.
    let pool = GreenPool::new(1);
    let gate = guv::Event::new();
    let g = gate.clone();
    pool.spawn_n(move || g.wait());
    let map = Rc::new(RefCell::new(pool.imap(|i: u32| i * 10, 0..3)));
    let m = map.clone();
    let consumer = guv::spawn(move || m.borrow_mut().next());
    guv::gyield();
    assert_eq!(pool.waiting(), 1);
    consumer.kill();
    assert!(consumer.wait().unwrap_err().is_killed());
    assert_eq!(pool.waiting(), 0);
    gate.set();
    let got: Vec<u32> = map.borrow_mut().by_ref().map(Result::unwrap).collect();
    assert_eq!(got, [0, 10, 20]);
}
