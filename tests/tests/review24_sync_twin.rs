//! Review 24: the green `std::sync` and `std::thread` against std's. Each
//! body is compiled twice — with `std::{sync, thread}` on OS threads and
//! with `guv::green::{sync, thread}` on greenlets — and both runs must
//! report the same observations.

use std::any::Any;

/// A panic payload as these twins compare it: its type and text.
fn payload(e: &Box<dyn Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<&'static str>() {
        format!("&str {s:?}")
    } else if let Some(s) = e.downcast_ref::<String>() {
        format!("String {s:?}")
    } else if let Some(n) = e.downcast_ref::<i32>() {
        format!("i32 {n}")
    } else {
        "other".to_string()
    }
}

/// Counts its drops.
struct Noisy(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Noisy {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

guv_tests::twins! {
    std: {
        use std::{sync, thread};
        use std::sync::mpsc;
        use std::time::{Duration, Instant};
        use super::{payload, Noisy};
    }
    green: {
        use guv::green::{sync, thread};
        use guv::green::sync::mpsc;
        use std::time::{Duration, Instant};
        use super::{payload, Noisy};
    }
    fn mutex_poisoned_by_a_panicking_holder() -> Vec<String> {
        let mut out = Vec::new();
        let m = sync::Arc::new(sync::Mutex::new(1));
        let m2 = m.clone();
        let r = thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g = 2;
            panic!("holder {}", 7);
        })
        .join();
        out.push(payload(&r.unwrap_err()));
        out.push(format!("poisoned {}", m.is_poisoned()));
        out.push(format!("try_lock {:?}", m.try_lock().map(|g| *g).map_err(|e| matches!(e, sync::TryLockError::Poisoned(_)))));
        match m.lock() {
            Ok(_) => out.push("lock ok".into()),
            Err(e) => {
                let mut g = e.into_inner();
                *g += 10;
                out.push(format!("recovered {}", *g));
                // Held and poisoned: try_lock says WouldBlock.
                out.push(format!("held {}", matches!(m.try_lock(), Err(sync::TryLockError::WouldBlock))));
            }
        }
        out.push(format!("still poisoned {}", m.is_poisoned()));
        m.clear_poison();
        out.push(format!("cleared {} {:?}", m.is_poisoned(), m.lock().map(|g| *g).ok()));
        // Poisoned again, then get_mut and into_inner report it.
        let m2 = m.clone();
        let _ = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            std::panic::panic_any(5i32);
        })
        .join()
        .map_err(|e| out.push(payload(&e)));
        let mut m = sync::Arc::try_unwrap(m).ok().unwrap();
        out.push(format!("get_mut {:?}", m.get_mut().map_err(|e| **e.get_ref())));
        out.push(format!("into_inner {:?}", m.into_inner().map_err(|e| e.into_inner())));
        out
    }

    fn a_guard_taken_while_unwinding_does_not_poison() -> Vec<String> {
        struct LocksOnDrop(sync::Arc<sync::Mutex<i32>>);
        impl Drop for LocksOnDrop {
            fn drop(&mut self) {
                *self.0.lock().unwrap() += 1;
            }
        }
        let mut out = Vec::new();
        let m = sync::Arc::new(sync::Mutex::new(0));
        let m2 = m.clone();
        let r = thread::spawn(move || {
            let _d = LocksOnDrop(m2);
            panic!("unwinding");
        })
        .join();
        out.push(payload(&r.unwrap_err()));
        out.push(format!("poisoned {} {}", m.is_poisoned(), m.lock().map(|g| *g).unwrap_or(-1)));
        // A panic caught on the same thread while holding the guard poisons.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = m.lock().unwrap();
            panic!("caught");
        }));
        out.push(payload(&caught.unwrap_err()));
        out.push(format!("poisoned after catch {}", m.is_poisoned()));
        out
    }

    fn rwlock_poisoning_by_writers_only() -> Vec<String> {
        let mut out = Vec::new();
        let l = sync::Arc::new(sync::RwLock::new(1));
        let l2 = l.clone();
        let _ = thread::spawn(move || {
            let _r = l2.read().unwrap();
            panic!("reader");
        })
        .join();
        out.push(format!("after reader {}", l.is_poisoned()));
        let l2 = l.clone();
        let _ = thread::spawn(move || {
            let mut w = l2.write().unwrap();
            *w = 3;
            panic!("writer");
        })
        .join();
        out.push(format!("after writer {}", l.is_poisoned()));
        out.push(format!("read {:?}", l.read().map(|g| *g).map_err(|e| **e.get_ref())));
        out.push(format!("try_read {:?}", l.try_read().map(|g| *g).map_err(|e| matches!(e, sync::TryLockError::Poisoned(_)))));
        out.push(format!("try_write {:?}", l.try_write().map(|g| *g).map_err(|e| matches!(e, sync::TryLockError::Poisoned(_)))));
        {
            let r = l.read().unwrap_or_else(|e| e.into_inner());
            out.push(format!("try_write while read {}", matches!(l.try_write(), Err(sync::TryLockError::WouldBlock))));
            out.push(format!("try_read while read {:?}", l.try_read().map(|g| *g).map_err(|e| matches!(e, sync::TryLockError::Poisoned(_)))));
            drop(r);
        }
        {
            let w = l.write().unwrap_or_else(|e| e.into_inner());
            out.push(format!("try_read while written {}", matches!(l.try_read(), Err(sync::TryLockError::WouldBlock))));
            drop(w);
        }
        l.clear_poison();
        out.push(format!("cleared {}", l.is_poisoned()));
        out
    }

    fn once_poisoning_and_call_once_force() -> Vec<String> {
        let mut out = Vec::new();
        let once = sync::Arc::new(sync::Once::new());
        let o2 = once.clone();
        let r = thread::spawn(move || o2.call_once(|| panic!("init"))).join();
        out.push(payload(&r.unwrap_err()));
        out.push(format!("completed {}", once.is_completed()));
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| once.call_once(|| ())));
        out.push(format!("call_once again panics {}", again.is_err()));
        let mut seen = Vec::new();
        once.call_once_force(|st| seen.push(st.is_poisoned()));
        once.call_once_force(|st| seen.push(st.is_poisoned()));
        out.push(format!("force {:?} completed {}", seen, once.is_completed()));
        // A force that panics leaves it poisoned for the next force.
        let o = sync::Once::new();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| o.call_once_force(|_| panic!("first"))));
        let mut seen = Vec::new();
        o.call_once_force(|st| seen.push(st.is_poisoned()));
        out.push(format!("second force {:?}", seen));
        out
    }

    fn oncelock_and_lazylock_after_panics() -> Vec<String> {
        let mut out = Vec::new();
        let cell = sync::OnceLock::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *cell.get_or_init(|| -> i32 { panic!("no") })));
        out.push(payload(&r.unwrap_err()));
        out.push(format!("get {:?}", cell.get()));
        out.push(format!("init {}", cell.get_or_init(|| 4)));
        out.push(format!("set {:?}", cell.set(5)));
        let mut cell = cell;
        out.push(format!("take {:?} then {:?}", cell.take(), cell.get()));
        out.push(format!("set {:?} into {:?}", cell.set(6), cell.into_inner()));
        let lazy = sync::LazyLock::new(|| -> i32 { panic!("lazy") });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *lazy));
        out.push(payload(&r.unwrap_err()));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *lazy));
        out.push(format!("again {}", r.is_err()));
        out
    }

    fn condvar_wait_while_and_timeouts() -> Vec<String> {
        let mut out = Vec::new();
        let pair = sync::Arc::new((sync::Mutex::new(0), sync::Condvar::new()));
        let (m, cv) = &*pair;
        // Predicate already false: no wait.
        let (g, r) = cv.wait_timeout_while(m.lock().unwrap(), Duration::from_secs(60), |n| *n != 0).unwrap();
        out.push(format!("immediate {} {}", *g, r.timed_out()));
        drop(g);
        let start = Instant::now();
        let (g, r) = cv.wait_timeout_while(m.lock().unwrap(), Duration::from_millis(30), |n| *n == 0).unwrap();
        out.push(format!("timed out {} {} waited {}", *g, r.timed_out(), start.elapsed() >= Duration::from_millis(30)));
        drop(g);
        let (g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::ZERO).unwrap();
        out.push(format!("zero {} {}", *g, r.timed_out()));
        drop(g);
        let g = cv.wait_while(m.lock().unwrap(), |n| *n != 0).unwrap();
        out.push(format!("wait_while immediate {}", *g));
        drop(g);
        // notify_all wakes every waiter.
        let state = sync::Arc::new((sync::Mutex::new((0, false)), sync::Condvar::new(), sync::Condvar::new()));
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let st = state.clone();
                thread::spawn(move || {
                    let (m, cv, arrived) = &*st;
                    let mut g = m.lock().unwrap();
                    g.0 += 1;
                    arrived.notify_one();
                    let _g = cv.wait_while(g, |s| !s.1).unwrap();
                    i
                })
            })
            .collect();
        let (sm, scv, arrived) = &*state;
        let mut g = arrived.wait_while(sm.lock().unwrap(), |s| s.0 < 3).unwrap();
        g.1 = true;
        scv.notify_all();
        drop(g);
        let mut ids: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        ids.sort();
        out.push(format!("all woke {:?}", ids));
        // A wait with a huge timeout ends with the notification.
        let p = pair.clone();
        let h = thread::spawn(move || {
            let (m, cv) = &*p;
            let mut g = m.lock().unwrap();
            let mut timed_out = false;
            while *g != 100 {
                let (ng, r) = cv.wait_timeout(g, Duration::MAX).unwrap();
                g = ng;
                timed_out |= r.timed_out();
            }
            timed_out
        });
        *m.lock().unwrap() = 100;
        cv.notify_all();
        // The waiter may not be waiting yet: keep notifying until it ends.
        while !h.is_finished() {
            cv.notify_all();
            thread::yield_now();
        }
        out.push(format!("huge timeout timed_out {}", h.join().unwrap()));
        out
    }

    fn barrier_leaders_across_generations() -> Vec<String> {
        let mut out = Vec::new();
        let b = sync::Arc::new(sync::Barrier::new(3));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || (0..4).map(|_| b.wait().is_leader() as usize).collect::<Vec<_>>())
            })
            .collect();
        let mut per_gen = [0; 4];
        for h in hs {
            for (i, l) in h.join().unwrap().into_iter().enumerate() {
                per_gen[i] += l;
            }
        }
        out.push(format!("leaders {:?}", per_gen));
        out.push(format!("zero {}", sync::Barrier::new(0).wait().is_leader()));
        out.push(format!("one {} {}", sync::Barrier::new(1).wait().is_leader(), sync::Barrier::new(1).wait().is_leader()));
        out
    }

    fn mpsc_disconnections() -> Vec<String> {
        let mut out = Vec::new();
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        drop(tx);
        out.push(format!("try {:?}", rx.try_recv()));
        drop(tx2);
        out.push(format!("after drop {:?} {:?} {:?}", rx.recv(), rx.recv(), rx.try_recv()));
        out.push(format!("timeout {:?}", rx.recv_timeout(Duration::from_millis(1))));
        let (tx, rx) = mpsc::channel::<i32>();
        out.push(format!("empty {:?} {:?}", rx.try_recv(), rx.recv_timeout(Duration::from_millis(5))));
        drop(rx);
        out.push(format!("send after rx dropped {:?}", tx.send(9).map_err(|e| e.0)));
        // Items left in the channel are dropped with the receiver.
        let drops = sync::Arc::new(sync::atomic::AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        tx.send(Noisy(drops.clone())).unwrap();
        tx.send(Noisy(drops.clone())).unwrap();
        drop(rx);
        out.push(format!("dropped with rx {}", drops.load(sync::atomic::Ordering::SeqCst)));
        drop(tx);
        let (stx, srx) = mpsc::sync_channel(2);
        stx.send(Noisy(drops.clone())).unwrap();
        drop(srx);
        out.push(format!("dropped with sync rx {}", drops.load(sync::atomic::Ordering::SeqCst)));
        out.push(format!("try_send {:?}", stx.try_send(Noisy(drops.clone())).map_err(|e| matches!(e, mpsc::TrySendError::Disconnected(_)))));
        out
    }

    fn mpsc_rendezvous_and_bounded() -> Vec<String> {
        let mut out = Vec::new();
        let (tx, rx) = mpsc::sync_channel::<i32>(0);
        out.push(format!("try_send no receiver {:?}", tx.try_send(1)));
        let (done_tx, done_rx) = mpsc::channel();
        let h = thread::spawn(move || {
            tx.send(7).unwrap();
            done_tx.send(()).unwrap();
            tx.send(8).map_err(|e| e.0)
        });
        out.push(format!("not done {:?}", done_rx.recv_timeout(Duration::from_millis(30))));
        out.push(format!("recv {:?}", rx.recv()));
        out.push(format!("done {:?}", done_rx.recv()));
        drop(rx);
        out.push(format!("blocked sender gets {:?}", h.join().unwrap()));
        let (tx, rx) = mpsc::sync_channel(1);
        tx.send(1).unwrap();
        out.push(format!("full {:?}", tx.try_send(2)));
        let h = thread::spawn(move || tx.send(3).map_err(|e| e.0));
        out.push(format!("recv {:?}", rx.recv()));
        out.push(format!("sender {:?}", h.join().unwrap()));
        out.push(format!("recv {:?} {:?}", rx.recv(), rx.recv()));
        out
    }

    fn mpsc_iterators() -> Vec<String> {
        let mut out = Vec::new();
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        out.push(format!("try_iter {:?}", rx.try_iter().collect::<Vec<_>>()));
        out.push(format!("try_iter empty {:?}", rx.try_iter().collect::<Vec<_>>()));
        let h = thread::spawn(move || {
            for i in 10..13 {
                tx.send(i).unwrap();
            }
        });
        out.push(format!("iter {:?}", rx.iter().collect::<Vec<_>>()));
        h.join().unwrap();
        let (tx, rx) = mpsc::sync_channel(5);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        drop(tx);
        out.push(format!("into_iter {:?}", rx.into_iter().collect::<Vec<_>>()));
        let (tx, rx) = mpsc::channel();
        tx.send(1).unwrap();
        drop(tx);
        out.push(format!("for loop {:?}", (&rx).into_iter().collect::<Vec<_>>()));
        out
    }

    fn thread_names_ids_and_payloads() -> Vec<String> {
        let mut out = Vec::new();
        out.push(format!("main name {:?}", thread::current().name()));
        let h = thread::Builder::new()
            .name("worker-1".into())
            .spawn(|| (thread::current().name().map(String::from), thread::current().id()))
            .unwrap();
        let hid = h.thread().id();
        out.push(format!("handle name {:?}", h.thread().name()));
        let (name, id) = h.join().unwrap();
        out.push(format!("inner name {:?} same id {}", name, id == hid));
        out.push(format!("differs from main {}", id != thread::current().id()));
        let h = thread::spawn(|| thread::current().name().map(String::from));
        out.push(format!("unnamed {:?}", h.join().unwrap()));
        let r = thread::Builder::new().name("p".into()).spawn(|| -> () { panic!("named {}", thread::current().name().unwrap()) }).unwrap().join();
        out.push(payload(&r.unwrap_err()));
        let r = thread::spawn(|| -> () { panic!("static") }).join();
        out.push(payload(&r.unwrap_err()));
        let r = thread::spawn(|| std::panic::resume_unwind(Box::new(3i32))).join();
        out.push(payload(&r.unwrap_err()));
        let ids: std::collections::HashSet<_> = (0..20).map(|_| thread::spawn(|| thread::current().id())).map(|h| h.join().unwrap()).collect();
        out.push(format!("unique ids {}", ids.len()));
        out.push(format!("current twice {}", thread::current().id() == thread::current().id()));
        out
    }

    fn is_finished_and_stack_size() -> Vec<String> {
        let mut out = Vec::new();
        let (tx, rx) = mpsc::channel::<()>();
        let h = thread::spawn(move || rx.recv().is_ok());
        out.push(format!("before {}", h.is_finished()));
        tx.send(()).unwrap();
        while !h.is_finished() {
            thread::yield_now();
        }
        out.push(format!("after {}", h.join().unwrap()));
        fn deep(n: u32) -> u32 {
            let pad = std::hint::black_box([n as u8; 512]);
            if n == 0 { pad[0] as u32 } else { deep(n - 1) + pad[1] as u32 % 2 }
        }
        // About 4 MiB of frames, in an 16 MiB stack.
        let h = thread::Builder::new().stack_size(16 << 20).spawn(|| deep(6000)).unwrap();
        out.push(format!("deep {:?}", h.join().map_err(|e| payload(&e))));
        let h = thread::Builder::new().stack_size(0).spawn(|| 1).unwrap();
        out.push(format!("zero stack {:?}", h.join().map_err(|e| payload(&e))));
        out
    }

    fn park_tokens() -> Vec<String> {
        let mut out = Vec::new();
        thread::current().unpark();
        thread::current().unpark();
        let start = Instant::now();
        thread::park();
        out.push(format!("first park at once {}", start.elapsed() < Duration::from_secs(5)));
        let start = Instant::now();
        thread::park_timeout(Duration::from_millis(30));
        out.push(format!("second waits {}", start.elapsed() >= Duration::from_millis(30)));
        thread::current().unpark();
        let start = Instant::now();
        thread::park_timeout(Duration::MAX);
        out.push(format!("huge timeout with token {}", start.elapsed() < Duration::from_secs(5)));
        let start = Instant::now();
        thread::park_timeout(Duration::ZERO);
        out.push(format!("zero {}", start.elapsed() < Duration::from_secs(5)));
        // unpark of a thread from another, before it parks. The thread
        // waits for its go by spinning, not in a call that may park
        // inside (std's `mpsc::recv` parks the thread and would take the
        // token if the thread were already waiting in it).
        let go = sync::Arc::new(sync::atomic::AtomicBool::new(false));
        let seen = go.clone();
        let h = thread::spawn(move || {
            while !seen.load(sync::atomic::Ordering::SeqCst) {
                thread::yield_now();
            }
            thread::park();
            "unparked"
        });
        h.thread().unpark();
        go.store(true, sync::atomic::Ordering::SeqCst);
        out.push(h.join().unwrap().to_string());
        out
    }

    fn scope_panics_after_joining_all() -> Vec<String> {
        let mut out = Vec::new();
        let mut local = vec![1];
        let count = sync::atomic::AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| -> () { panic!("scoped") });
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(20));
                    count.fetch_add(1, sync::atomic::Ordering::SeqCst);
                });
                local.push(2);
            })
        }));
        out.push(format!("scope {:?} count {}", r.map_err(|e| payload(&e)), count.load(sync::atomic::Ordering::SeqCst)));
        // A panicked thread that was joined does not make the scope panic.
        let r = thread::scope(|s| {
            let h = s.spawn(|| -> () { panic!("joined") });
            h.join().map_err(|e| payload(&e))
        });
        out.push(format!("joined {:?}", r));
        // The scope closure's own panic wins over a scoped thread's.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| -> () { panic!("thread") });
                panic!("closure");
            })
        }));
        out.push(format!("both {:?}", r.map(|_: ()| ()).map_err(|e| payload(&e))));
        // Borrowing locals, nested scopes, names.
        let r = thread::scope(|s| {
            let h = s.spawn(|| {
                local.push(3);
                thread::scope(|s2| s2.spawn(|| local.len()).join().unwrap())
            });
            let named = thread::Builder::new().name("scoped".into()).spawn_scoped(s, || thread::current().name().map(String::from)).unwrap();
            (h.join().unwrap(), named.join().unwrap())
        });
        out.push(format!("nested {:?} {:?}", r, local));
        out
    }
    fn panicking_is_per_thread() -> Vec<String> {
        struct WaitsOnDrop(mpsc::Sender<bool>, mpsc::Receiver<()>);
        impl Drop for WaitsOnDrop {
            fn drop(&mut self) {
                self.0.send(thread::panicking()).unwrap();
                self.1.recv().unwrap();
            }
        }
        let mut out = Vec::new();
        let (in_drop_tx, in_drop_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel();
        let h = thread::spawn(move || {
            let _w = WaitsOnDrop(in_drop_tx, go_rx);
            panic!("unwinding");
        });
        out.push(format!("the unwinding thread {:?}", in_drop_rx.recv()));
        out.push(format!("this thread meanwhile {}", thread::panicking()));
        go_tx.send(()).unwrap();
        out.push(payload(&h.join().unwrap_err()));
        out.push(format!("after {}", thread::panicking()));
        out
    }

    fn a_lock_poisoned_while_waited_for() -> Vec<String> {
        let mut out = Vec::new();
        let m = sync::Arc::new(sync::Mutex::new(0));
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let m2 = m.clone();
        let holder = thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g = 1;
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            panic!("holder");
        });
        held_rx.recv().unwrap();
        let m3 = m.clone();
        let waiter = thread::spawn(move || match m3.lock() {
            Ok(g) => format!("ok {}", *g),
            Err(e) => format!("poisoned {}", *e.into_inner()),
        });
        go_tx.send(()).unwrap();
        out.push(payload(&holder.join().unwrap_err()));
        out.push(waiter.join().unwrap());
        // A condvar waiter wakes to a lock poisoned meanwhile.
        let pair = sync::Arc::new((sync::Mutex::new(false), sync::Condvar::new()));
        let p = pair.clone();
        let (waiting_tx, waiting_rx) = mpsc::channel();
        let waiter = thread::spawn(move || {
            let (m, cv) = &*p;
            let mut g = m.lock().unwrap();
            waiting_tx.send(()).unwrap();
            loop {
                match cv.wait(g) {
                    Ok(ng) if !*ng => g = ng,
                    Ok(_) => return "ok".to_string(),
                    Err(e) => return format!("poisoned {}", *e.into_inner()),
                }
            }
        });
        waiting_rx.recv().unwrap();
        let p = pair.clone();
        let poisoner = thread::spawn(move || {
            let (m, cv) = &*p;
            let mut g = m.lock().unwrap();
            *g = true;
            cv.notify_all();
            panic!("poisoner");
        });
        out.push(payload(&poisoner.join().unwrap_err()));
        out.push(waiter.join().unwrap());
        let (g, r) = pair.1.wait_timeout(pair.0.lock().unwrap_or_else(|e| e.into_inner()), Duration::ZERO).map_err(|e| e.into_inner()).unwrap_or_else(|e| e);
        out.push(format!("wait_timeout on a poisoned lock {} {}", *g, r.timed_out()));
        out
    }

    fn once_wait_and_messages() -> Vec<String> {
        let mut out = Vec::new();
        let once = sync::Once::new();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| once.call_once(|| panic!("init"))));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| once.call_once(|| ())));
        out.push(format!("call_once {:?}", r.map_err(|e| payload(&e))));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| once.wait()));
        out.push(format!("wait {:?}", r.map_err(|e| payload(&e))));
        once.call_once_force(|_| ());
        once.wait();
        once.wait_force();
        out.push(format!("completed {}", once.is_completed()));
        let lazy = sync::LazyLock::new(|| -> i32 { panic!("lazy") });
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *lazy));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *lazy));
        out.push(format!("lazy again {:?}", r.map_err(|e| payload(&e))));
        // OnceLock::wait ends when another thread sets it.
        let cell = sync::Arc::new(sync::OnceLock::new());
        let c = cell.clone();
        let h = thread::spawn(move || *c.wait());
        cell.set(9).unwrap();
        out.push(format!("waited {}", h.join().unwrap()));
        out
    }

    fn names_of_os_threads_and_detached_handles() -> Vec<String> {
        let mut out = Vec::new();
        let name = std::thread::Builder::new()
            .name("os-named".into())
            .spawn(|| thread::current().name().map(String::from))
            .unwrap()
            .join()
            .unwrap();
        out.push(format!("os thread {:?}", name));
        // A dropped handle detaches; the thread still runs.
        let (tx, rx) = mpsc::channel();
        let (back_tx, back_rx) = mpsc::channel();
        drop(thread::spawn(move || back_tx.send(rx.recv().unwrap() + 1).unwrap()));
        tx.send(1).unwrap();
        out.push(format!("detached {:?}", back_rx.recv()));
        // unpark wakes a park_timeout early.
        let (tx, rx) = mpsc::channel();
        let h = thread::spawn(move || {
            let start = Instant::now();
            tx.send(()).unwrap();
            thread::park_timeout(Duration::from_secs(60));
            start.elapsed() < Duration::from_secs(30)
        });
        rx.recv().unwrap();
        h.thread().unpark();
        out.push(format!("early {}", h.join().unwrap()));
        out.push(format!("scoped ids {}", thread::scope(|s| {
            let h = s.spawn(|| thread::current().id());
            let id = h.thread().id();
            h.join().unwrap() == id
        })));
        out
    }

    fn recv_timeout_sees_a_disconnect_while_waiting() -> Vec<String> {
        let mut out = Vec::new();
        let (tx, rx) = mpsc::channel::<i32>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let h = thread::spawn(move || {
            ready_rx.recv().unwrap();
            drop(tx);
        });
        ready_tx.send(()).unwrap();
        out.push(format!("{:?}", rx.recv_timeout(Duration::from_secs(60))));
        h.join().unwrap();
        let (tx, rx) = mpsc::sync_channel::<i32>(0);
        let h = thread::spawn(move || drop(tx));
        out.push(format!("{:?}", rx.recv_timeout(Duration::MAX)));
        h.join().unwrap();
        out
    }
    /// std refuses a thread name with a NUL byte: `Builder::spawn` and
    /// `spawn_scoped` panic (before running anything), as documented.
    fn a_name_with_a_nul_byte_panics_at_spawn() -> Vec<String> {
        let mut out = Vec::new();
        let ran = sync::atomic::AtomicBool::new(false);
        let r = std::panic::catch_unwind(|| thread::Builder::new().name("a\0b".into()).spawn(|| ()).map(|h| h.join().is_ok()));
        out.push(format!("spawn {:?}", r.map_err(|e| payload(&e))));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            thread::scope(|s| {
                thread::Builder::new()
                    .name("\0".into())
                    .spawn_scoped(s, || ran.store(true, sync::atomic::Ordering::SeqCst))
                    .map(|h| h.join().is_ok())
            })
        }));
        out.push(format!("spawn_scoped {:?} ran {}", r.map_err(|e| payload(&e)), ran.load(sync::atomic::Ordering::SeqCst)));
        out
    }
    fn debug_and_display_output() -> Vec<String> {
        let mut out = Vec::new();
        let m = sync::Arc::new(sync::Mutex::new(1));
        out.push(format!("{:?}", m));
        {
            let g = m.lock().unwrap();
            out.push(format!("{:?} {:?} {}", m, g, g));
        }
        let m2 = m.clone();
        let _ = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison");
        })
        .join();
        out.push(format!("{:?}", m));
        let l = sync::RwLock::new(2);
        out.push(format!("{:?}", l));
        {
            let r = l.read().unwrap();
            out.push(format!("{:?} {:?} {}", l, r, r));
        }
        {
            let w = l.write().unwrap();
            out.push(format!("{:?} {:?} {}", l, w, w));
        }
        out.push(format!("{:?} {:?}", sync::Condvar::new(), sync::Barrier::new(2)));
        out.push(format!("{:?}", sync::Barrier::new(1).wait()));
        let (m, cv) = (sync::Mutex::new(()), sync::Condvar::new());
        let (_g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::ZERO).unwrap();
        out.push(format!("{:?}", r));
        let once = sync::Once::new();
        out.push(format!("{:?}", once));
        once.call_once(|| ());
        out.push(format!("{:?}", once));
        once.call_once_force(|st| out.push(format!("{:?}", st)));
        let o = sync::Once::new();
        o.call_once_force(|st| out.push(format!("{:?}", st)));
        let cell = sync::OnceLock::new();
        out.push(format!("{:?}", cell));
        cell.set(3).unwrap();
        out.push(format!("{:?}", cell));
        let lazy = sync::LazyLock::new(|| 4);
        out.push(format!("{:?}", lazy));
        let _ = *lazy;
        out.push(format!("{:?}", lazy));
        let (tx, rx) = mpsc::channel::<i32>();
        let (stx, _srx) = mpsc::sync_channel::<i32>(0);
        out.push(format!("{:?} {:?} {:?}", tx, rx, stx));
        out.push(format!("{:?} {:?}", rx.iter(), rx.try_iter()));
        out.push(format!("{}", tx.send(1).map(|_| "sent".to_string()).unwrap_or_else(|e| e.to_string())));
        drop(rx);
        let e = tx.send(2).unwrap_err();
        out.push(format!("{} {:?}", e, e));
        let e = stx.try_send(3).unwrap_err();
        out.push(format!("{} {:?}", e, e));
        let h = thread::Builder::new().name("dbg".into()).spawn(|| ()).unwrap();
        let t = format!("{:?}", h.thread());
        out.push(t.replace(&format!("{:?}", h.thread().id()), "ID"));
        out.push(format!("{:?}", h).replace(&format!("{:?}", h.thread().id()), "ID"));
        h.join().unwrap();
        thread::scope(|s| {
            out.push(format!("{:?}", s).split('{').next().unwrap().to_string());
            let h = s.spawn(|| ());
            out.push(format!("{:?}", h).replace(&format!("{:?}", h.thread().id()), "ID"));
        });
        out.push(format!("{:?}", thread::current().id()).split('(').next().unwrap().to_string());
        out
    }
}
