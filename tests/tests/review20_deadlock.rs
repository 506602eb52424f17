//! Review 20: the deadlock report of every hub-local blocking call. The hub
//! promises (module docs of `guv::hub`) that when the main greenlet waits
//! and nothing can ever wake it, the waiting call panics with "this
//! operation would block forever" instead of hanging. Each call runs on a
//! fresh thread (its own hub); a hang is caught from the test thread. The
//! primitive must be usable again after the report unwound out of it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use guv::queue::Queue;
use guv_tests::panic_message;

/// Runs `case` on a fresh thread (its own hub); fails if it panics or
/// hangs.
fn on_fresh_hub(what: &str, case: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(case)).map_err(panic_message);
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => panic!("{what}: {msg}"),
        Err(_) => panic!("{what}: hung instead of reporting a deadlock"),
    }
}

/// Runs `op`, which must end in the deadlock report.
fn expect_report<R>(op: impl FnOnce() -> R) {
    let r = catch_unwind(AssertUnwindSafe(op));
    let msg = panic_message(r.err().expect("the call returned instead of reporting a deadlock"));
    assert!(msg.contains("would block forever"), "another panic: {msg}");
}

#[test]
fn every_hub_local_wait_of_the_main_greenlet_reports_a_deadlock_and_stays_usable() {
    on_fresh_hub("Queue::join", || {
        let q = Queue::new(None);
        q.put(1);
        expect_report(|| q.join());
        assert_eq!(q.get(), 1);
        q.task_done().unwrap();
        q.join();
    });
    on_fresh_hub("Queue::get", || {
        let q = Queue::new(Some(0));
        expect_report(|| q.get());
        assert_eq!(q.getting(), 0);
        let tx = q.clone();
        guv::spawn_n(move || tx.put(5));
        assert_eq!(q.get(), 5);
    });
    on_fresh_hub("Queue::put to a channel", || {
        let q = Queue::new(Some(0));
        expect_report(|| q.put(1));
        assert_eq!((q.putting(), q.qsize()), (0, 0), "the interrupted put left its item");
        let rx = q.clone();
        let g = guv::spawn(move || rx.get());
        q.put(2);
        assert_eq!(g.wait().unwrap(), 2);
    });
    on_fresh_hub("Semaphore::acquire", || {
        let sem = guv::Semaphore::new(0);
        expect_report(|| sem.acquire());
        assert_eq!(sem.balance(), 0);
        sem.release();
        sem.acquire();
    });
    on_fresh_hub("CappedSemaphore::release", || {
        let sem = guv::CappedSemaphore::new(1, 1).unwrap();
        expect_report(|| sem.release());
        assert_eq!(sem.releasing(), 0);
        sem.acquire();
        sem.release();
        assert_eq!(sem.count(), 1);
    });
    on_fresh_hub("GreenPool::waitall", || {
        let pool = guv::GreenPool::new(2);
        let ev = guv::Event::new();
        let e = ev.clone();
        pool.spawn_n(move || e.wait());
        expect_report(|| pool.waitall());
        ev.set();
        pool.waitall().unwrap();
        assert_eq!(pool.free(), 2);
    });
    on_fresh_hub("GreenPool::spawn into a full pool", || {
        let pool = guv::GreenPool::new(1);
        let ev = guv::Event::new();
        let e = ev.clone();
        pool.spawn_n(move || e.wait());
        guv::gyield();
        expect_report(|| pool.spawn(|| ()));
        assert_eq!(pool.waiting(), 0);
        ev.set();
        assert_eq!(pool.spawn(|| 3).wait().unwrap(), 3);
        pool.waitall().unwrap();
        assert_eq!(pool.free(), 1);
    });
    on_fresh_hub("GreenPile::next", || {
        let mut pile = guv::GreenPile::new(2);
        let ev = guv::Event::new();
        let e = ev.clone();
        pile.spawn(move || {
            e.wait();
            7
        });
        expect_report(|| pile.next());
        ev.set();
        assert_eq!(pile.next().unwrap().unwrap(), 7, "the result was lost to the report");
    });
    on_fresh_hub("GreenPool::imap", || {
        let pool = guv::GreenPool::new(2);
        let ev = guv::Event::new();
        let e = ev.clone();
        let mut results = pool.imap(
            move |i: u32| {
                e.wait();
                i * 2
            },
            0..3,
        );
        expect_report(|| results.next());
        ev.set();
        let got: Vec<u32> = results.map(Result::unwrap).collect();
        assert_eq!(got, [0, 2, 4], "an item was lost to the report");
    });
    on_fresh_hub("iwait", || {
        let ev = guv::Event::new();
        let e = ev.clone();
        let threads = vec![guv::spawn(move || e.wait())];
        expect_report(|| guv::iwait(&threads).next().is_some());
        ev.set();
        guv::wait_all(&threads);
    });
    on_fresh_hub("GreenThread::join", || {
        let ev = guv::Event::new();
        let e = ev.clone();
        let gt = guv::spawn(move || e.wait());
        expect_report(|| gt.join());
        ev.set();
        gt.wait().unwrap();
    });
    on_fresh_hub("GreenThread::wait", || {
        let gt = guv::spawn(|| guv::Event::new().wait());
        expect_report(move || gt.wait());
    });
    on_fresh_hub("sleep(Duration::MAX)", || expect_report(|| guv::sleep(Duration::MAX)));
    on_fresh_hub("spawn_after(Duration::MAX).wait()", || {
        expect_report(|| guv::spawn_after(Duration::MAX, || ()).wait());
    });
    on_fresh_hub("with_timeout(Duration::MAX, get)", || {
        let q = Queue::<u8>::new(None);
        expect_report(|| guv::with_timeout(Duration::MAX, || q.get()));
    });
    on_fresh_hub("event::Event::wait", || {
        let ev = guv::event::Event::<u8>::new();
        expect_report(|| ev.wait());
        ev.send(1).unwrap();
        assert_eq!(ev.wait(), Ok(1));
    });
    on_fresh_hub("AsyncResult::get", || {
        let ar = guv::AsyncResult::<u8, ()>::new();
        expect_report(|| ar.get());
        ar.set(2).unwrap();
        assert_eq!(ar.get(), Ok(2));
    });
    on_fresh_hub("select with no fds and no timeout", || {
        let none: [(std::os::fd::BorrowedFd<'_>, guv::Interest); 0] = [];
        expect_report(|| guv::select(&none, None));
    });
    on_fresh_hub("killall of a greenlet whose destructor waits for good", || {
        struct Stuck;
        impl Drop for Stuck {
            fn drop(&mut self) {
                guv::Event::new().wait();
            }
        }
        let gt = guv::spawn(|| {
            let _stuck = Stuck;
            guv::Event::new().wait();
        });
        guv::gyield();
        expect_report(|| guv::killall(std::slice::from_ref(&gt)));
    });
}
