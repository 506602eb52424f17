//! Review probes for the hub-local primitives and greenlet management:
//! events, queues, semaphores, pools, timeouts, green-locals and
//! `GreenThread` links, each driven through the public API at the edges
//! where a kill, a timeout or a panic meets a hand-off.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use guv::queue::{LightQueue, PriorityQueue, Queue};
use guv::{CappedSemaphore, Semaphore};
use guv_tests::Log;

const LONG: Duration = Duration::from_secs(30);

/// Blocks until killed: an Event nobody sets.
fn block_forever() {
    guv::Event::new().wait();
}

// ----- GreenThread links run by a killer ---------------------------------

#[test]
fn killer_killed_inside_a_cancelled_greenlets_link_still_dies() {
    // Killing a greenlet that never started runs its links on the killer.
    // A kill of the killer that arrives inside one of those links must end
    // the killer, not just that link.
    let log = Log::new();
    let victim = Rc::new(guv::spawn_after(LONG, || 1)); // not started when killed
    let l = log.clone();
    victim.link(move |_| {
        l.push("link starts");
        block_forever();
    });
    let seen = LightQueue::new(None);
    let s = seen.clone();
    victim.link(move |r| s.put(r.as_ref().unwrap_err().is_killed()));
    let (l, v) = (log.clone(), victim.clone());
    let killer = guv::spawn(move || {
        v.kill(); // never started: cancelled here, its links run here
        l.push("killer goes on after kill");
        block_forever();
    });
    guv::gyield(); // the killer cancels the victim and blocks in its first link
    assert_eq!(log.take(), ["link starts"]);
    killer.kill();
    assert!(killer.wait().unwrap_err().is_killed(), "the killer must die of its kill");
    assert_eq!(log.take(), ["link starts"], "the killer ran on after being killed");
    // The other link still runs (on another greenlet), before a waiter
    // learns the outcome: others learn it through links.
    let victim = Rc::try_unwrap(victim).unwrap();
    assert!(victim.wait().unwrap_err().is_killed());
    assert_eq!(seen.try_get(), Ok(true));
}

#[test]
fn killer_timed_out_inside_a_cancelled_greenlets_link_ends_its_with_timeout() {
    let victim = guv::spawn_after(LONG, || 1);
    victim.link(|_| block_forever());
    let r = guv::with_timeout(Duration::from_millis(20), move || {
        victim.kill();
        "went on"
    });
    assert!(r.unwrap_err().is_timed_out(), "the Timeout that fired inside the link was swallowed");
}

// ----- Semaphores ----------------------------------------------------------

#[test]
fn capped_semaphore_with_limit_zero_hands_a_blocked_release_to_an_acquirer() {
    // limit 0: every release waits for an acquirer. An acquire that comes
    // after the release must take that release's permit, as a release that
    // comes after an acquire hands its permit to the acquirer.
    let sem = CappedSemaphore::new(0, 0).unwrap();
    let s = sem.clone();
    let releaser = guv::spawn(move || s.release());
    guv::gyield();
    assert_eq!(sem.releasing(), 1);
    assert!(sem.acquire_timeout(LONG), "acquire blocked while a release waited to hand its permit over");
    releaser.wait().unwrap();
    assert_eq!(sem.count(), 0);
    // And the other way round.
    let s = sem.clone();
    let acquirer = guv::spawn(move || s.acquire());
    guv::gyield();
    assert!(sem.try_release());
    acquirer.wait().unwrap();
    // try_acquire takes from a blocked release too, as try_get from a
    // blocked put on a channel.
    let s = sem.clone();
    let releaser = guv::spawn(move || s.release());
    guv::gyield();
    assert!(sem.try_acquire());
    releaser.wait().unwrap();
    assert!(!sem.try_acquire());
}

#[test]
fn acquire_timeout_zero_and_max() {
    let sem = Semaphore::new(0);
    assert!(!sem.acquire_timeout(Duration::ZERO));
    let s = sem.clone();
    guv::spawn_n(move || s.release());
    assert!(sem.acquire_timeout(Duration::MAX), "Duration::MAX waits without a deadline");
    assert_eq!(sem.balance(), 0);
    sem.release();
    assert!(sem.acquire_timeout(Duration::ZERO), "an available permit is taken even with a zero timeout");
}

// ----- Queues ---------------------------------------------------------------

#[test]
fn priority_getter_killed_after_hand_off_puts_its_item_back_first() {
    let q = PriorityQueue::new(None);
    let rx = q.clone();
    let getter = guv::spawn(move || rx.get());
    guv::gyield();
    q.put(5); // handed straight to the waiting getter
    q.put(7);
    getter.kill();
    assert!(getter.wait().unwrap_err().is_killed());
    assert_eq!(q.qsize(), 2);
    assert_eq!([q.get(), q.get()], [5, 7]);
    assert_eq!(q.unfinished_tasks(), 2, "the item was counted once");
}

#[test]
fn channel_putter_killed_after_the_getter_took_its_item_counts_as_put() {
    let q = Queue::new(Some(0));
    let tx = q.clone();
    let putter = guv::spawn(move || tx.put("x"));
    guv::gyield();
    assert_eq!(q.try_get(), Ok("x"));
    putter.kill(); // it was served but has not run yet
    // The put happened (the item was taken); the putter ends either way.
    let _ = putter.wait();
    assert_eq!(q.unfinished_tasks(), 1);
    q.task_done().unwrap();
    assert!(q.task_done().is_err());
    assert!(q.join_timeout(LONG));
}

#[test]
fn killed_and_timed_out_waiters_in_every_queue_op_leave_it_usable() {
    let q = Queue::new(Some(1));
    q.put(0);
    let tx = q.clone();
    let putter = guv::spawn(move || tx.put(1));
    let tx = q.clone();
    let timed = guv::spawn(move || guv::with_timeout(Duration::from_millis(5), || tx.put(2)));
    guv::gyield();
    assert_eq!(q.putting(), 2);
    putter.kill();
    assert!(timed.wait().unwrap().unwrap_err().is_timed_out());
    assert_eq!(q.putting(), 0);
    assert_eq!(q.get(), 0);
    assert!(q.empty());
    // Only the item that was put counts.
    assert_eq!(q.unfinished_tasks(), 1);
    q.put(3);
    assert_eq!(q.get(), 3);
}

// ----- Events ----------------------------------------------------------------

#[test]
fn async_result_set_twice_is_an_error_carrying_the_value() {
    let r = guv::AsyncResult::<String, String>::new();
    r.set("a".into()).unwrap();
    assert_eq!(r.set("b".into()).unwrap_err().0, "b");
    assert_eq!(r.set_exception("e".into()).unwrap_err().0, "e");
    assert_eq!(r.get(), Ok("a".to_string()));
    let e = guv::AsyncResult::<u8, &str>::new();
    e.set_exception("boom").unwrap();
    assert_eq!(e.get(), Err("boom"));
    assert_eq!(e.exception(), Some("boom"));
    assert!(!e.successful());
}

// ----- Pools -------------------------------------------------------------------

#[test]
fn pool_counts_recover_after_panicking_and_killed_members() {
    let pool = guv::GreenPool::new(2);
    let panicking = pool.spawn(|| -> u8 { panic!("job panics") });
    let blocked = pool.spawn(|| -> u8 {
        block_forever();
        0
    });
    guv::gyield();
    assert_eq!(pool.running(), 1, "the panicked member left");
    blocked.kill();
    assert_eq!(pool.running(), 0);
    assert_eq!(pool.free(), 2);
    assert!(panicking.wait().unwrap_err().is_panic());
    assert!(blocked.wait().unwrap_err().is_killed());
    pool.waitall().unwrap();
}

#[test]
fn pool_resize_down_while_full_goes_negative_then_recovers() {
    let pool = guv::GreenPool::new(3);
    let gate = guv::Event::new();
    for _ in 0..3 {
        let g = gate.clone();
        pool.spawn_n(move || g.wait());
    }
    guv::gyield();
    pool.resize(1);
    assert_eq!(pool.free(), -2);
    let log = Log::new();
    let (p, l) = (pool.clone(), log.clone());
    let spawner = guv::spawn(move || {
        p.spawn_n(|| {});
        l.push("admitted");
    });
    guv::gyield();
    assert_eq!(pool.waiting(), 1);
    gate.set();
    spawner.wait().unwrap();
    assert_eq!(log.take(), ["admitted"]);
    pool.waitall().unwrap();
    assert_eq!(pool.free(), 1);
}

#[test]
fn waitall_waits_for_jobs_spawned_by_jobs() {
    let pool = guv::GreenPool::new(4);
    let count = Rc::new(Cell::new(0));
    let (p, c) = (pool.clone(), count.clone());
    pool.spawn_n(move || {
        guv::sleep(Duration::from_millis(1));
        for _ in 0..3 {
            let (p2, c) = (p.clone(), c.clone());
            p.spawn_n(move || {
                guv::sleep(Duration::from_millis(1));
                let c2 = c.clone();
                p2.spawn_n(move || c2.set(c2.get() + 1));
                c.set(c.get() + 1);
            });
        }
    });
    pool.waitall().unwrap();
    assert_eq!(count.get(), 6);
    assert_eq!(pool.running(), 0);
}

#[test]
fn imap_yields_in_input_order_when_jobs_finish_in_reverse() {
    let pool = guv::GreenPool::new(4);
    let finished = Log::new();
    let f = finished.clone();
    let out: Vec<_> = pool
        .imap(
            move |i: u64| {
                guv::sleep(Duration::from_millis(2 * (4 - i % 4)));
                f.push(i.to_string());
                i
            },
            0..8,
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..8).collect::<Vec<_>>());
    assert_eq!(finished.take().len(), 8);
}

#[test]
fn imap_input_iterator_panic_reaches_the_consumer_and_leaves_the_pool_sane() {
    let pool = guv::GreenPool::new(2);
    let input = (0..10).map(|i| if i == 3 { panic!("input breaks") } else { i });
    let mut it = pool.imap(|i: i32| i * 2, input);
    let first = it.next();
    assert_eq!(first.map(Result::unwrap), Some(0));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| while it.next().is_some() {}));
    assert!(r.is_err());
    drop(it);
    pool.waitall().unwrap();
    assert_eq!(pool.free(), 2);
}

#[test]
fn green_pile_with_a_panicking_job_yields_err_at_its_place() {
    let mut pile = guv::GreenPile::new(2);
    pile.spawn(|| 1);
    pile.spawn(|| -> i32 { panic!("pile job panics") });
    pile.spawn(|| 3);
    let got: Vec<_> = pile.by_ref().map(|r| r.map_err(|e| e.is_panic())).collect();
    assert_eq!(got, [Ok(1), Err(true), Ok(3)]);
}

// ----- Timeouts ----------------------------------------------------------------

#[test]
fn nested_timeouts_with_the_same_deadline_end_the_outer_scope() {
    let log = Log::new();
    let l = log.clone();
    let outer = guv::with_timeout(Duration::from_millis(10), move || {
        let inner = guv::with_timeout(Duration::from_millis(10), block_forever);
        l.push(format!("inner returned {inner:?}"));
    });
    assert!(outer.unwrap_err().is_timed_out());
    assert!(log.take().is_empty(), "the inner scope caught the outer deadline");
}

#[test]
fn a_timeout_dropped_unwaited_never_fires_later() {
    {
        let _t = guv::Timeout::start(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(3)); // expires without a switch
    }
    guv::sleep(Duration::from_millis(5)); // must not be interrupted
}

#[test]
fn spawn_after_duration_max_can_be_cancelled() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let gt = guv::spawn_after(Duration::MAX, move || r.set(true));
    assert!(gt.cancel());
    assert!(gt.wait().unwrap_err().is_killed());
    assert!(!ran.get());
}

#[test]
fn pool_spawn_with_a_failing_builder_gives_its_slot_back() {
    let pool = guv::GreenPool::new(1);
    let err = pool.spawn_with(guv::Builder::new().stack_size(usize::MAX), || 1).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(pool.free(), 1);
    assert_eq!(pool.spawn(|| 2).wait().unwrap(), 2);
}

#[test]
fn iwait_and_wait_all_timeout_over_cancelled_and_finished_threads() {
    let never = guv::spawn_after(LONG, || 0);
    let quick = guv::spawn(|| 1);
    let slow = guv::spawn(|| {
        guv::sleep(Duration::from_millis(5));
        2
    });
    never.kill();
    let threads = [never, quick, slow];
    let order: Vec<u64> = guv::iwait(&threads).map(|gt| gt.id()).collect();
    assert_eq!(order, [threads[0].id(), threads[1].id(), threads[2].id()]);
    assert!(guv::wait_all_timeout(&threads, Duration::ZERO), "all are finished: no wait needed");
    let [never, quick, slow] = threads;
    assert!(never.wait().unwrap_err().is_killed());
    assert_eq!((quick.wait().unwrap(), slow.wait().unwrap()), (1, 2));
}

#[test]
fn greenlets_killed_in_every_wait_leave_each_primitive_usable() {
    let ev = guv::event::Event::<u8>::new();
    let flag = guv::Event::new();
    let res = guv::AsyncResult::<u8, ()>::new();
    let q = Queue::<u8>::new(None);
    q.put(1);
    let pool = guv::GreenPool::new(1);
    let gate = guv::Event::new();
    let g = gate.clone();
    pool.spawn_n(move || g.wait());
    let target = guv::spawn_after(LONG, || 5);
    let target = Rc::new(Cell::new(Some(target)));
    let waiters = {
        let (ev, flag, res, q, pool, t) =
            (ev.clone(), flag.clone(), res.clone(), q.clone(), pool.clone(), target.clone());
        vec![
            guv::spawn(move || {
                let _ = ev.wait();
            }),
            guv::spawn(move || flag.wait()),
            guv::spawn(move || {
                let _ = res.get();
            }),
            guv::spawn(move || q.join()),
            guv::spawn(move || pool.waitall().unwrap()),
            guv::spawn(move || drop(t.take().unwrap().wait())),
        ]
    };
    guv::gyield();
    assert!(waiters.iter().all(|w| !w.is_finished()));
    guv::killall(&waiters);
    for w in waiters {
        assert!(w.wait().unwrap_err().is_killed());
    }
    // Each primitive still works for the others.
    let (e, f, r) = (ev.clone(), flag.clone(), res.clone());
    let later = guv::spawn(move || (e.wait().unwrap(), f.wait(), r.get().unwrap()));
    guv::gyield();
    ev.send(3).unwrap();
    flag.set();
    res.set(4).unwrap();
    assert_eq!(later.wait().unwrap(), (3, (), 4));
    q.get();
    q.task_done().unwrap();
    q.join();
    gate.set();
    pool.waitall().unwrap();
}

thread_local! {
    static ORD_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// An item whose comparison with `Touchy(99)` panics while `ORD_PANICS` is
/// set: user code that a `PriorityQueue` runs while it stores an item.
#[derive(Debug, PartialEq, Eq)]
struct Touchy(u32);

impl PartialOrd for Touchy {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Touchy {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        if ORD_PANICS.get() && (self.0 == 99 || o.0 == 99) {
            panic!("Touchy::cmp panics");
        }
        self.0.cmp(&o.0)
    }
}

#[test]
fn priority_getter_killed_while_ord_panics_neither_aborts_nor_loses_the_item() {
    // The item handed to a killed getter goes back into the heap while the
    // getter unwinds: a panic of the item's `Ord` there was a panic during
    // unwinding, which aborts the process.
    let q = PriorityQueue::new(None);
    let rx = q.clone();
    let getter = guv::spawn(move || rx.get());
    guv::gyield();
    q.put(Touchy(99)); // handed to the getter
    q.put(Touchy(7)); // stored
    ORD_PANICS.set(true);
    getter.kill(); // 99 goes back into the heap, next to 7
    ORD_PANICS.set(false);
    assert!(getter.wait().unwrap_err().is_killed());
    assert_eq!(q.qsize(), 2);
    assert_eq!([q.get(), q.get()], [Touchy(7), Touchy(99)]);
}

#[test]
fn priority_putter_whose_item_panics_in_ord_is_not_left_hanging() {
    // A get makes room and moves a blocked putter's item into the heap; if
    // the item's `Ord` panics there, the putter was parked forever (its
    // entry served with nothing, never woken) and the getter lost the item
    // it had popped.
    let q = PriorityQueue::new(Some(2));
    q.put(Touchy(1));
    q.put(Touchy(3));
    let tx = q.clone();
    let putter = guv::spawn(move || tx.put(Touchy(99)));
    guv::gyield();
    assert_eq!(q.putting(), 1);
    ORD_PANICS.set(true);
    let first = q.get(); // pops 1, then moves 99 in next to 3: Ord panics
    ORD_PANICS.set(false);
    assert_eq!(first, Touchy(1));
    assert!(guv::wait_all_timeout(std::slice::from_ref(&putter), LONG), "the putter hangs");
    putter.wait().unwrap();
    assert_eq!(q.qsize(), 2, "the moved item stays in the heap");
    assert_eq!([q.get(), q.get()], [Touchy(3), Touchy(99)]);
}

/// `q.get()` until empty, sorted: which items the queue holds, whatever
/// order a panicking `Ord` left them in.
fn drain_sorted(q: &PriorityQueue<Touchy>) -> Vec<u32> {
    let mut got: Vec<u32> = std::iter::from_fn(|| q.try_get().ok()).map(|t| t.0).collect();
    got.sort();
    got
}

#[test]
fn priority_put_whose_ord_panics_keeps_the_item_queued_and_counted() {
    // The item stays in the heap (BinaryHeap keeps it); it was not counted
    // as unfinished, so `join` returned while it was still queued.
    let q = PriorityQueue::new(None);
    q.put(Touchy(1));
    ORD_PANICS.set(true);
    let put = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.put(Touchy(99))));
    ORD_PANICS.set(false);
    assert!(put.is_err(), "the panic reaches the caller of put");
    assert_eq!((q.qsize(), q.unfinished_tasks()), (2, 2));
    assert_eq!(drain_sorted(&q), [1, 99]);
    q.task_done().unwrap();
    assert!(!q.join_timeout(Duration::ZERO), "join returned with a task unfinished");
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::ZERO));
    // Still a working priority queue.
    for i in [3, 1, 2] {
        q.put(Touchy(i));
    }
    assert_eq!([q.get(), q.get(), q.get()], [Touchy(1), Touchy(2), Touchy(3)]);
}

#[test]
fn priority_get_whose_ord_panics_loses_no_item() {
    // Popping 1 moves 99 to the top and sifts it down past 5: the
    // comparison panics, and BinaryHeap::pop dropped the 1 it was about to
    // return.
    let q = PriorityQueue::new(None);
    for i in [1, 5, 99] {
        q.put(Touchy(i));
    }
    ORD_PANICS.set(true);
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.get()));
    ORD_PANICS.set(false);
    assert!(got.is_err(), "the panic reaches the caller of get");
    assert_eq!((q.qsize(), q.unfinished_tasks()), (3, 3), "the get took nothing");
    assert_eq!(drain_sorted(&q), [1, 5, 99]);
    // A getter blocked on the queue afterwards is served as usual.
    let rx = q.clone();
    let getter = guv::spawn(move || rx.get());
    guv::gyield();
    q.put(Touchy(4));
    assert_eq!(getter.wait().unwrap(), Touchy(4));
}

/// A result whose destructor panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop dropped");
    }
}

#[test]
fn a_detached_result_whose_drop_panics_does_not_take_the_hub_down() {
    // Nobody holds the handle, so the result is dropped on the greenlet's
    // own stack when it ends: its panic is user code like any other.
    guv::spawn_n(|| drop(guv::spawn(|| PanicOnDrop)));
    let gt = guv::spawn(|| PanicOnDrop);
    drop(gt);
    let after = guv::spawn(|| "still running");
    assert_eq!(after.wait().unwrap(), "still running");
    guv::sleep(Duration::from_millis(1));
}

#[test]
fn a_greenlet_killed_before_start_whose_closure_drop_panics_still_ends() {
    // Killing a greenlet that never ran drops its closure on the killer. A
    // panicking capture must not escape into the killer's `kill` nor leave
    // the outcome unset.
    let captured = PanicOnDrop;
    let gt = guv::spawn_after(LONG, move || {
        let _keep = &captured;
    });
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
}
