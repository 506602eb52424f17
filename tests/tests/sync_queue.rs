//! guv::queue through the public API.

use std::cmp::Ordering;
use std::time::Duration;

use guv::queue::{Empty, LifoQueue, LightQueue, PriorityQueue, Queue};
use guv_tests::Log;

#[test]
fn items_leave_in_each_queue_order() {
    let q = Queue::new(None);
    let l = LightQueue::new(None);
    let s = LifoQueue::new(None);
    for i in [3, 1, 2] {
        q.put(i);
        l.put(i);
        s.put(i);
    }
    assert_eq!([q.get(), q.get(), q.get()], [3, 1, 2]);
    assert_eq!([l.get(), l.get(), l.get()], [3, 1, 2]);
    assert_eq!([s.get(), s.get(), s.get()], [2, 1, 3]);
}

/// Ordered by `prio` only, so that ties can be told apart by `label`.
#[derive(Debug)]
struct Job {
    prio: u8,
    label: &'static str,
}
impl PartialEq for Job {
    fn eq(&self, o: &Self) -> bool {
        self.prio == o.prio
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Job {
    fn cmp(&self, o: &Self) -> Ordering {
        self.prio.cmp(&o.prio)
    }
}

#[test]
fn priority_queue_lowest_first_and_ties_fifo() {
    let q = PriorityQueue::new(None);
    for (prio, label) in [(2, "a"), (1, "b"), (2, "c"), (1, "d"), (0, "e")] {
        q.put(Job { prio, label });
    }
    let order: Vec<_> = (0..5).map(|_| q.get().label).collect();
    assert_eq!(order, ["e", "b", "d", "a", "c"]);
}

#[test]
fn channel_put_blocks_until_a_get_takes_the_item() {
    let log = Log::new();
    let q = Queue::new(Some(0));
    assert!(q.empty() && q.full());
    let (tx, l) = (q.clone(), log.clone());
    let putter = guv::spawn(move || {
        l.push("put start");
        tx.put("x");
        l.push("put done");
    });
    guv::gyield();
    guv::gyield();
    assert_eq!(log.take(), ["put start"], "the putter is still blocked");
    assert_eq!(q.putting(), 1);
    assert!(q.empty() && q.full(), "a channel holds nothing");
    assert_eq!(q.get(), "x");
    putter.wait().unwrap();
    assert_eq!(log.take(), ["put start", "put done"]);
    assert_eq!(q.try_put("y").unwrap_err().0, "y", "no getter waits");
}

#[test]
fn channel_put_to_a_waiting_getter_returns_at_once() {
    let q = Queue::new(Some(0));
    let rx = q.clone();
    let getter = guv::spawn(move || rx.get());
    guv::gyield();
    assert_eq!(q.getting(), 1);
    q.try_put(5).unwrap();
    assert_eq!(getter.wait().unwrap(), 5);
}

#[test]
fn bounded_queue_blocks_putters_and_serves_them_fifo() {
    let log = Log::new();
    let q = Queue::new(Some(1));
    q.put(0);
    let putters: Vec<_> = (1..4)
        .map(|i| {
            let (q, l) = (q.clone(), log.clone());
            guv::spawn(move || {
                q.put(i);
                l.push(format!("put {i}"));
            })
        })
        .collect();
    guv::gyield();
    assert_eq!(q.putting(), 3);
    assert_eq!(q.qsize(), 1);
    let got: Vec<i32> = (0..4).map(|_| q.get()).collect();
    assert_eq!(got, [0, 1, 2, 3]);
    for p in putters {
        p.wait().unwrap();
    }
    assert_eq!(log.take(), ["put 1", "put 2", "put 3"]);
}

#[test]
fn getters_are_served_fifo() {
    let q = LightQueue::new(None);
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            guv::spawn(move || q.get())
        })
        .collect();
    guv::gyield();
    assert_eq!(q.getting(), 3);
    for i in ["a", "b", "c"] {
        q.put(i);
    }
    let got: Vec<_> = getters.into_iter().map(|g| g.wait().unwrap()).collect();
    assert_eq!(got, ["a", "b", "c"]);
}

#[test]
fn timeouts_and_try_variants() {
    let q = Queue::new(Some(1));
    assert_eq!(q.try_get(), Err(Empty));
    assert_eq!(q.get_timeout(Duration::from_millis(2)), Err(Empty));
    q.try_put(1).unwrap();
    assert_eq!(q.put_timeout(2, Duration::from_millis(2)).unwrap_err().0, 2);
    assert_eq!(q.get_timeout(Duration::from_millis(2)), Ok(1));
    assert_eq!(q.getting() + q.putting(), 0, "timed-out waiters left");
}

#[test]
fn resize_moves_blocked_putters_in_and_never_drops_items() {
    let q = Queue::new(Some(1));
    q.put(1);
    let tx = q.clone();
    let putter = guv::spawn(move || tx.put(2));
    guv::gyield();
    assert_eq!(q.putting(), 1);
    q.resize(Some(2));
    assert_eq!(q.putting(), 0);
    assert_eq!(q.qsize(), 2);
    putter.wait().unwrap();
    q.resize(Some(0));
    assert_eq!(q.qsize(), 2, "shrinking keeps the items");
    assert!(q.full());
    assert_eq!((q.get(), q.get()), (1, 2));
}

#[test]
fn task_done_and_join() {
    let log = Log::new();
    let q = Queue::new(None);
    assert_eq!(q.task_done(), Err(guv::queue::TaskDoneError));
    for i in 0..3 {
        q.put(i);
    }
    assert!(!q.join_timeout(Duration::from_millis(1)));
    let (w, l) = (q.clone(), log.clone());
    let worker = guv::spawn(move || {
        for _ in 0..3 {
            let i = w.get();
            l.push(format!("done {i}"));
            w.task_done().unwrap();
        }
    });
    q.join();
    assert_eq!(log.take(), ["done 0", "done 1", "done 2"]);
    worker.wait().unwrap();
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.task_done().is_err(), "one too many");
    // Items handed over directly count too.
    let q = LifoQueue::new(Some(0));
    let rx = q.clone();
    let g = guv::spawn(move || rx.get());
    guv::gyield();
    q.put(1);
    assert_eq!(q.unfinished_tasks(), 1);
    g.wait().unwrap();
    q.task_done().unwrap();
    q.join();
}

#[test]
fn killed_getter_while_queued_leaves_and_the_next_gets_the_item() {
    let q = Queue::new(None);
    let (a, b) = (q.clone(), q.clone());
    let ga = guv::spawn(move || a.get());
    let gb = guv::spawn(move || b.get());
    guv::gyield();
    ga.kill();
    assert_eq!(q.getting(), 1);
    q.put(1);
    assert!(ga.wait().unwrap_err().is_killed());
    assert_eq!(gb.wait().unwrap(), 1);
}

#[test]
fn getter_killed_after_being_handed_an_item_passes_it_on() {
    let q = Queue::new(Some(0));
    let (a, b) = (q.clone(), q.clone());
    let ga = guv::spawn(move || a.get());
    let gb = guv::spawn(move || b.get());
    guv::gyield();
    q.put("x"); // handed to `ga`, which has not run yet
    ga.kill();
    assert!(ga.wait().unwrap_err().is_killed());
    assert_eq!(gb.wait().unwrap(), "x");
}

#[test]
fn getter_killed_after_being_handed_an_item_with_nobody_else_puts_it_back() {
    let q = Queue::new(None);
    q.put(0);
    q.get();
    let a = q.clone();
    let ga = guv::spawn(move || a.get());
    guv::gyield();
    q.put(1);
    q.put(2);
    ga.kill();
    assert!(ga.wait().unwrap_err().is_killed());
    assert_eq!([q.get(), q.get()], [1, 2], "the item is back at the head");
}

#[test]
fn timeout_firing_in_get_loses_nothing() {
    let q = Queue::new(Some(0));
    let a = q.clone();
    let ga = guv::spawn(move || guv::with_timeout(Duration::from_millis(1), || a.get()));
    assert!(ga.wait().unwrap().unwrap_err().is_timed_out());
    assert_eq!(q.getting(), 0);
    let b = q.clone();
    let gb = guv::spawn(move || b.get());
    guv::gyield();
    q.put(7);
    assert_eq!(gb.wait().unwrap(), 7);
}

#[test]
fn killed_putter_leaves_and_the_next_putter_is_taken() {
    let q = Queue::new(Some(0));
    let (a, b) = (q.clone(), q.clone());
    let pa = guv::spawn(move || a.put("a"));
    let pb = guv::spawn(move || b.put("b"));
    guv::gyield();
    assert_eq!(q.putting(), 2);
    pa.kill();
    assert_eq!(q.putting(), 1);
    assert_eq!(q.get(), "b");
    pb.wait().unwrap();
    assert!(pa.wait().unwrap_err().is_killed());
    assert!(q.try_get().is_err());
}

#[test]
fn main_blocking_on_an_empty_queue_with_no_one_to_fill_it_is_a_clear_error() {
    let r = std::thread::spawn(|| {
        let q = Queue::<u8>::new(None);
        q.get()
    })
    .join();
    let payload = r.unwrap_err();
    let msg = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
    assert!(msg.unwrap().contains("would block forever"), "{msg:?}");
}

#[test]
fn killed_joiners_putters_and_getters_leave_the_task_count_exact() {
    let q = Queue::new(Some(1));
    q.put(1);
    assert_eq!(q.unfinished_tasks(), 1);
    // A putter killed while blocked (full queue) never entered its item.
    let p = q.clone();
    let putter = guv::spawn(move || p.put(2));
    // A joiner killed while waiting leaves the joiners' list.
    let j = q.clone();
    let killed_joiner = guv::spawn(move || j.join());
    let j = q.clone();
    let joiner = guv::spawn(move || j.join());
    guv::gyield();
    putter.kill();
    killed_joiner.kill();
    assert_eq!(q.putting(), 0);
    assert_eq!(q.unfinished_tasks(), 1);
    // A getter killed after being handed an item gives it back uncounted.
    assert_eq!(q.get(), 1);
    let g = q.clone();
    let getter = guv::spawn(move || g.get());
    guv::gyield();
    q.put(3); // straight to the waiting getter: entered once
    getter.kill();
    assert_eq!(q.qsize(), 1, "the item went back to the queue");
    assert_eq!(q.unfinished_tasks(), 2);
    assert_eq!(q.get(), 3);
    q.task_done().unwrap();
    assert!(!joiner.is_finished());
    q.task_done().unwrap();
    guv::with_timeout(Duration::from_secs(30), || joiner.wait().unwrap()).unwrap();
    assert!(killed_joiner.wait().unwrap_err().is_killed());
    assert!(q.task_done().is_err());
}
