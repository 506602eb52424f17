//! Callbacks (AsyncResult and Event rawlinks, GreenThread links) when the
//! greenlet running them is killed or timed out inside one.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use guv::queue::LightQueue;
use guv_tests::Log;

const LONG: Duration = Duration::from_secs(30);

/// Blocks until killed: an Event nobody sets.
fn block_forever() {
    guv::Event::new().wait();
}

#[test]
fn async_result_callbacks_after_a_killed_setter_still_run_once() {
    let r = guv::AsyncResult::<u8, ()>::new();
    let log = Log::new();
    let done = LightQueue::new(None);
    let l = log.clone();
    r.rawlink(move |_| {
        l.push("first starts");
        block_forever();
    });
    let counts: Vec<Rc<Cell<u32>>> = (0..2).map(|_| Rc::new(Cell::new(0))).collect();
    for (i, c) in counts.iter().enumerate() {
        let (l, c, done) = (log.clone(), c.clone(), done.clone());
        r.rawlink(move |r| {
            c.set(c.get() + 1);
            l.push(format!("link {i} sees {:?}", r.get_nowait()));
            done.put(i);
        });
    }
    let r2 = r.clone();
    let setter = guv::spawn(move || r2.set(1).unwrap());
    guv::gyield(); // the setter stores the value and blocks in the first callback
    assert_eq!(log.take(), ["first starts"]);
    assert!(r.ready());
    setter.kill();
    assert!(setter.wait().unwrap_err().is_killed());
    // The remaining callbacks run on another greenlet, in order.
    assert_eq!(done.get_timeout(LONG).ok(), Some(0));
    assert_eq!(done.get_timeout(LONG).ok(), Some(1));
    assert_eq!(log.take(), ["first starts", "link 0 sees Some(Ok(1))", "link 1 sees Some(Ok(1))"]);
    // Exactly once: nothing runs them again.
    guv::gyield();
    assert_eq!(counts.iter().map(|c| c.get()).collect::<Vec<_>>(), [1, 1]);
}

#[test]
fn async_result_callbacks_after_a_timed_out_setter_still_run_in_order() {
    let r = guv::AsyncResult::<u8, &str>::new();
    let done = LightQueue::new(None);
    r.rawlink(|_| block_forever());
    let d = done.clone();
    r.rawlink(move |_| d.put("queued before set"));
    let r2 = r.clone();
    let setter = guv::spawn(move || guv::with_timeout(Duration::from_millis(1), || r2.set_exception("bad").unwrap()));
    guv::gyield();
    // Linked while the earlier callbacks still wait for their turn: runs after them.
    let d = done.clone();
    r.rawlink(move |_| d.put("linked after set"));
    assert!(setter.wait().unwrap().unwrap_err().is_timed_out());
    assert_eq!(done.get_timeout(LONG).ok(), Some("queued before set"));
    assert_eq!(done.get_timeout(LONG).ok(), Some("linked after set"));
    assert_eq!(r.get(), Err("bad"));
}

#[test]
fn async_result_callback_unlinked_before_the_hand_off_does_not_run() {
    let r = guv::AsyncResult::<u8, ()>::new();
    let done = LightQueue::new(None);
    r.rawlink(|_| block_forever());
    let unlinked = r.rawlink(|_| panic!("unlinked"));
    let d = done.clone();
    r.rawlink(move |_| d.put("last"));
    let r2 = r.clone();
    let setter = guv::spawn(move || r2.set(1).unwrap());
    guv::gyield();
    assert!(r.unlink(unlinked));
    setter.kill();
    assert_eq!(done.get_timeout(LONG).ok(), Some("last"));
}

#[test]
fn event_callbacks_after_a_killed_setter_run_for_that_set() {
    let ev = guv::Event::new();
    let log = Log::new();
    let done = LightQueue::new(None);
    let blocks = Rc::new(Cell::new(true));
    let (l, b) = (log.clone(), blocks.clone());
    ev.rawlink(move |_| {
        l.push("first");
        if b.get() {
            block_forever();
        }
    });
    let (l, d) = (log.clone(), done.clone());
    ev.rawlink(move |e| {
        l.push(format!("second set={}", e.is_set()));
        d.put(());
    });
    let e = ev.clone();
    let setter = guv::spawn(move || e.set());
    guv::gyield();
    assert_eq!(log.take(), ["first"]);
    setter.kill();
    assert!(setter.wait().unwrap_err().is_killed());
    assert_eq!(done.get_timeout(LONG).ok(), Some(()));
    assert_eq!(log.take(), ["first", "second set=true"]);
    // The links stay registered: the next set calls both again, once each.
    blocks.set(false);
    ev.clear();
    ev.set();
    assert_eq!(log.take(), ["first", "second set=true", "first", "second set=true"]);
    assert_eq!(done.qsize(), 1);
}

#[test]
fn event_hand_off_skips_links_once_the_flag_is_cleared() {
    let ev = guv::Event::new();
    let ran = Rc::new(Cell::new(false));
    ev.rawlink(|_| block_forever());
    let r = ran.clone();
    ev.rawlink(move |_| r.set(true));
    let e = ev.clone();
    let setter = guv::spawn(move || e.set());
    guv::gyield();
    setter.kill(); // spawns the hand-off, which has not run yet...
    ev.clear(); // ...and finds the flag lowered: links run while it stays raised
    let (e, probe) = (ev.clone(), LightQueue::new(None));
    let p = probe.clone();
    // A greenlet spawned now runs after the hand-off.
    guv::spawn_n(move || p.put(e.is_set()));
    assert_eq!(probe.get_timeout(LONG).ok(), Some(false));
    assert!(!ran.get());
}

#[test]
fn greenthread_killed_inside_a_link_keeps_its_result_and_runs_the_other_links() {
    let log = Log::new();
    let gt = guv::spawn(|| 7);
    let l = log.clone();
    gt.link(move |r| {
        l.push(format!("first sees {:?}", r.as_ref().ok()));
        block_forever();
    });
    let l = log.clone();
    gt.link(move |r| l.push(format!("second sees {:?}", r.as_ref().ok())));
    guv::gyield(); // gt returns 7 and blocks in its first link
    assert_eq!(log.take(), ["first sees Some(7)"]);
    assert!(gt.is_finished(), "the result is stored before the links run");
    gt.kill(); // cuts the first link short; the second still runs
    assert_eq!(log.take(), ["first sees Some(7)", "second sees Some(7)"]);
    assert_eq!(gt.wait().unwrap(), 7, "the outcome was decided before the kill");
}
