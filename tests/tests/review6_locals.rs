//! Review 6: an ended greenlet's green-locals are dropped before its result
//! is published, its links run and its waiters resume, as std's
//! `JoinHandle::join` returns only after the thread's thread-local
//! destructors ran. Destructors here park first (`gyield`), so that a waiter
//! woken too early would run before them.

use std::cell::RefCell;
use std::sync::mpsc;

use guv_tests::Log;

/// Yields (so a waiter woken already would run now), then logs its name.
struct Flush {
    name: &'static str,
    log: Log,
}

impl Drop for Flush {
    fn drop(&mut self) {
        guv::gyield();
        self.log.push(format!("drop {}", self.name));
    }
}

/// The same for green threads: sends its name on a channel.
struct SendOnDrop(mpsc::Sender<&'static str>);

impl Drop for SendOnDrop {
    fn drop(&mut self) {
        guv::gyield();
        let _ = self.0.send("flushed");
    }
}

guv::local! {
    static FLUSH: RefCell<Option<Flush>> = RefCell::new(None);
    static OTHER: RefCell<Option<Flush>> = RefCell::new(None);
    static SENDER: RefCell<Option<SendOnDrop>> = RefCell::new(None);
}

fn set(local: &'static guv::local::Local<RefCell<Option<Flush>>>, name: &'static str, log: &Log) {
    local.with_borrow_mut(|v| *v = Some(Flush { name, log: log.clone() }));
}

#[test]
fn wait_returns_after_the_destructors_ran_and_links_see_them_done() {
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        set(&FLUSH, "a", &l);
        l.push("body done");
        7
    });
    let l = log.clone();
    gt.link(move |r| l.push(format!("link {:?}", r.as_ref().ok())));
    assert_eq!(gt.wait().unwrap(), 7);
    log.push("waited");
    assert_eq!(log.take(), ["body done", "drop a", "link Some(7)", "waited"]);
}

#[test]
fn is_finished_only_after_the_destructors_ran() {
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || set(&FLUSH, "a", &l));
    // The destructor yields back here while the greenlet is not finished.
    while !gt.is_finished() {
        log.push("not finished");
        guv::gyield();
    }
    log.push("finished");
    let events = log.take();
    assert_eq!(events.last().map(String::as_str), Some("finished"));
    assert_eq!(events.iter().filter(|e| *e == "drop a").count(), 1);
    let drop_at = events.iter().position(|e| e == "drop a").unwrap();
    assert_eq!(drop_at, events.len() - 2, "{events:?}");
    gt.wait().unwrap();
}

#[test]
fn a_panicked_greenlet_drops_its_values_before_the_waiter_sees_the_panic() {
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        set(&FLUSH, "p", &l);
        panic!("boom");
    });
    let err = gt.wait().unwrap_err();
    log.push("waited");
    assert_eq!(err.panic_message(), Some("boom"));
    assert_eq!(log.take(), ["drop p", "waited"]);
}

#[test]
fn a_killed_greenlet_drops_its_values_before_the_waiter_resumes() {
    let log = Log::new();
    let l = log.clone();
    let ev = guv::Event::new();
    let e = ev.clone();
    let gt = guv::spawn(move || {
        set(&FLUSH, "k", &l);
        e.wait();
    });
    guv::gyield();
    gt.kill();
    log.push("killed");
    assert!(gt.wait().unwrap_err().is_killed());
    log.push("waited");
    let events = log.take();
    assert_eq!(events.last().map(String::as_str), Some("waited"));
    assert!(events.contains(&"drop k".to_string()), "{events:?}");
}

#[test]
fn a_panicking_destructor_is_reported_and_the_waiter_sees_the_body_result() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            guv::gyield();
            panic!("destructor");
        }
    }
    guv::local! { static BOMB: RefCell<Option<Bomb>> = RefCell::new(None); }
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        set(&FLUSH, "first", &l); // created first, dropped after the bomb
        BOMB.with_borrow_mut(|b| *b = Some(Bomb));
        5
    });
    assert_eq!(gt.wait().unwrap(), 5);
    log.push("waited");
    assert_eq!(log.take(), ["drop first", "waited"]);
    // The hub goes on.
    assert_eq!(guv::spawn(|| 1).wait().unwrap(), 1);
}

#[test]
fn a_destructor_may_use_other_locals_and_spawn_and_wait() {
    struct Touchy(Log);
    impl Drop for Touchy {
        fn drop(&mut self) {
            // Another local, not dropped yet (one already dropped would be
            // an AccessError, as with thread_local!: see review7_left.rs).
            let seen = OTHER.try_with(|o| o.borrow().as_ref().map(|f| f.name)).unwrap();
            self.0.push(format!("touchy saw {seen:?}"));
            set(&OTHER, "remade", &self.0);
            let l = self.0.clone();
            let child = guv::spawn(move || l.push("child ran"));
            child.wait().unwrap();
            self.0.push("touchy done");
        }
    }
    guv::local! { static TOUCHY: RefCell<Option<Touchy>> = RefCell::new(None); }
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        set(&OTHER, "other", &l); // created first: dropped after TOUCHY
        TOUCHY.with_borrow_mut(|t| *t = Some(Touchy(l.clone())));
    });
    gt.wait().unwrap();
    log.push("waited");
    assert_eq!(
        log.take(),
        ["touchy saw Some(\"other\")", "drop other", "child ran", "touchy done", "drop remade", "waited"]
    );
}

#[test]
fn green_thread_join_returns_after_the_destructors_ran() {
    let (tx, rx) = mpsc::channel();
    let h = guv::green::thread::spawn(move || {
        SENDER.with_borrow_mut(|s| *s = Some(SendOnDrop(tx)));
        "body"
    });
    assert_eq!(h.join().unwrap(), "body");
    assert_eq!(rx.try_recv(), Ok("flushed"));
}

#[test]
fn panicked_green_thread_join_returns_after_the_destructors_ran() {
    let (tx, rx) = mpsc::channel();
    let h = guv::green::thread::spawn(move || {
        SENDER.with_borrow_mut(|s| *s = Some(SendOnDrop(tx)));
        panic!("thread boom");
    });
    assert!(h.join().is_err());
    assert_eq!(rx.try_recv(), Ok("flushed"));
}

#[test]
fn scoped_green_thread_join_returns_after_the_destructors_ran() {
    let (tx, rx) = mpsc::channel();
    guv::green::thread::scope(|s| {
        let h = s.spawn(move || SENDER.with_borrow_mut(|v| *v = Some(SendOnDrop(tx))));
        h.join().unwrap();
        assert_eq!(rx.try_recv(), Ok("flushed"));
    });
}

#[test]
fn a_kill_reaching_a_parked_destructor_ends_that_destructor_only() {
    struct Slow(Log);
    impl Drop for Slow {
        fn drop(&mut self) {
            struct Ended(Log);
            impl Drop for Ended {
                fn drop(&mut self) {
                    self.0.push("slow destructor ended");
                }
            }
            let _ended = Ended(self.0.clone());
            self.0.push("slow destructor parks");
            guv::sleep(std::time::Duration::from_secs(60));
            self.0.push("slept the whole minute");
        }
    }
    guv::local! { static SLOW: RefCell<Option<Slow>> = RefCell::new(None); }
    let log = Log::new();
    let l = log.clone();
    let gt = guv::spawn(move || {
        set(&FLUSH, "after slow", &l); // created first: dropped after SLOW
        SLOW.with_borrow_mut(|s| *s = Some(Slow(l.clone())));
        3
    });
    while !log.take().iter().any(|e| e == "slow destructor parks") {
        guv::gyield();
    }
    assert!(!gt.is_finished());
    gt.kill();
    // The body had returned: its result stands, the other values still drop.
    assert_eq!(gt.wait().unwrap(), 3);
    log.push("waited");
    assert_eq!(log.take(), ["slow destructor parks", "slow destructor ended", "drop after slow", "waited"]);
}
