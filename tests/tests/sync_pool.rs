//! guv::GreenPool, GreenPile, imap/starmap and the wait helpers through the
//! public API.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use guv::pool::PoolError;
use guv::{GreenPile, GreenPool};
use guv_tests::Log;

#[test]
fn pool_limits_concurrency_and_admits_spawners_fifo() {
    let log = Log::new();
    let pool = GreenPool::new(2);
    let gate = guv::Event::new();
    for i in 0..2 {
        let (l, g) = (log.clone(), gate.clone());
        pool.spawn_n(move || {
            g.wait();
            l.push(format!("member {i}"));
        });
    }
    assert_eq!(pool.free(), 0);
    let spawners: Vec<_> = ["s1", "s2"]
        .into_iter()
        .map(|name| {
            let (p, l) = (pool.clone(), log.clone());
            guv::spawn(move || {
                let l2 = l.clone();
                p.spawn(move || l2.push(format!("{name} ran"))).wait().unwrap();
            })
        })
        .collect();
    guv::gyield();
    assert_eq!(pool.waiting(), 2);
    assert_eq!(pool.running(), 2);
    gate.set();
    for s in spawners {
        s.wait().unwrap();
    }
    pool.waitall().unwrap();
    assert_eq!(log.take(), ["member 0", "member 1", "s1 ran", "s2 ran"]);
    assert_eq!(pool.free(), 2);
}

#[test]
fn a_member_spawning_into_its_full_pool_runs_inline() {
    guv::debug::hub_exceptions(false);
    let pool = GreenPool::new(1);
    let p = pool.clone();
    let outer = pool.spawn(move || {
        let me = p.spawn(|| 1).id();
        let inline = p.spawn(|| 2);
        assert!(inline.is_finished(), "ran before spawn returned");
        let panicked = p.spawn(|| -> u8 { panic!("inline boom") });
        let err = panicked.wait().unwrap_err();
        assert_eq!(err.panic_message(), Some("inline boom"));
        (me, inline.wait().unwrap())
    });
    let (_, two) = outer.wait().unwrap();
    assert_eq!(two, 2);
    assert_eq!(pool.running(), 0);
}

#[test]
fn resize_free_and_waitall() {
    let pool = GreenPool::new(2);
    let gate = guv::Event::new();
    for _ in 0..2 {
        let g = gate.clone();
        pool.spawn_n(move || g.wait());
    }
    pool.resize(1);
    assert_eq!(pool.free(), -1);
    pool.resize(3);
    assert_eq!(pool.free(), 1);
    let p = pool.clone();
    let member_err = pool.spawn(move || p.waitall());
    gate.set();
    assert_eq!(member_err.wait().unwrap(), Err(PoolError::WaitallFromMember));
    assert!(PoolError::WaitallFromMember.to_string().contains("wait for itself"));
    pool.waitall().unwrap();
    assert_eq!(pool.running(), 0);
}

#[test]
fn killed_spawner_while_waiting_loses_no_slot() {
    let pool = GreenPool::new(1);
    let gate = guv::Event::new();
    let g = gate.clone();
    pool.spawn_n(move || g.wait());
    let log = Log::new();
    let spawner = |name: &'static str| {
        let (p, l) = (pool.clone(), log.clone());
        guv::spawn(move || {
            let l2 = l.clone();
            p.spawn(move || l2.push(name)).wait().unwrap();
        })
    };
    let a = spawner("a");
    let b = spawner("b");
    guv::gyield();
    a.kill();
    assert_eq!(pool.waiting(), 1);
    gate.set();
    b.wait().unwrap();
    assert_eq!(log.take(), ["b"]);
    // A spawner killed right after a slot was granted to it passes it on.
    let g = gate.clone();
    gate.clear();
    pool.spawn_n(move || g.wait());
    let c = spawner("c");
    let d = spawner("d");
    guv::gyield();
    gate.set();
    guv::gyield(); // the member ends and grants its slot to `c`
    c.kill();
    d.wait().unwrap();
    assert_eq!(log.take(), ["b", "d"]);
    pool.waitall().unwrap();
    assert_eq!(pool.free(), 1);
}

#[test]
fn a_member_killed_before_it_starts_frees_its_slot() {
    let pool = GreenPool::new(1);
    let gt = pool.spawn(|| 1);
    assert_eq!(pool.free(), 0);
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(pool.free(), 1);
}

#[test]
fn imap_is_lazy_ordered_and_bounded() {
    let pool = GreenPool::new(3);
    let pulled = Rc::new(Cell::new(0u64));
    let p = pulled.clone();
    let input = (0u64..).inspect(move |_| p.set(p.get() + 1)); // endless
    let finished = Log::new();
    let f = finished.clone();
    let mut it = pool.imap(
        move |x: u64| {
            // Later calls of a window yield fewer times: they finish first.
            for _ in 0..3 - x % 3 {
                guv::gyield();
            }
            f.push(x.to_string());
            x * 2
        },
        input,
    );
    assert_eq!(pulled.get(), 0, "nothing starts before next()");
    let first: Vec<u64> = it.by_ref().take(10).map(Result::unwrap).collect();
    assert_eq!(first, (0..10).map(|x| x * 2).collect::<Vec<_>>());
    let order: Vec<u64> = finished.take().iter().map(|x| x.parse().unwrap()).collect();
    assert!(order.windows(2).any(|w| w[0] > w[1]), "the calls finished out of order: {order:?}");
    assert!(pulled.get() <= 10 + 3, "at most the pool size ahead: pulled {}", pulled.get());
    assert!(pool.running() <= 3);
}

#[test]
fn imap_panic_surfaces_at_its_item_and_starmap_unpacks() {
    guv::debug::hub_exceptions(false);
    let pool = GreenPool::new(2);
    let results: Vec<_> = pool.imap(|x: i32| if x == 1 { panic!("one") } else { x }, 0..3).collect();
    assert_eq!(*results[0].as_ref().unwrap(), 0);
    assert_eq!(results[1].as_ref().unwrap_err().panic_message(), Some("one"));
    assert_eq!(*results[2].as_ref().unwrap(), 2);
    let joined: Vec<String> = pool
        .starmap(|a: &str, b: u8, c: char| format!("{a}{b}{c}"), [("x", 1, 'a'), ("y", 2, 'b')])
        .map(Result::unwrap)
        .collect();
    assert_eq!(joined, ["x1a", "y2b"]);
}

#[test]
fn green_pile_yields_in_spawn_order_with_errors_in_place() {
    guv::debug::hub_exceptions(false);
    let pool = GreenPool::new(4);
    let mut pile = GreenPile::with_pool(&pool);
    let gates: Vec<guv::Event> = (0..4).map(|_| guv::Event::new()).collect();
    let finished = Log::new();
    for i in 0..4u64 {
        let (gate, f) = (gates[i as usize].clone(), finished.clone());
        pile.spawn(move || {
            gate.wait();
            f.push(i.to_string());
            if i == 2 {
                panic!("two");
            }
            i
        });
    }
    assert_eq!(pile.pending(), 4);
    assert_eq!(pool.running(), 4, "the pile shares the pool");
    // Let the tasks finish last to first while the pile is being read.
    guv::spawn_n(move || {
        for gate in gates.iter().rev() {
            gate.set();
            guv::gyield();
        }
    });
    let got: Vec<_> = pile.collect();
    assert_eq!(finished.take(), ["3", "2", "1", "0"]);
    assert_eq!(*got[0].as_ref().unwrap(), 0);
    assert_eq!(*got[1].as_ref().unwrap(), 1);
    assert_eq!(got[2].as_ref().unwrap_err().panic_message(), Some("two"));
    assert_eq!(*got[3].as_ref().unwrap(), 3);
    let mut own = GreenPile::new(1);
    own.spawn(|| "only");
    assert_eq!(own.next().unwrap().unwrap(), "only");
    assert!(own.next().is_none());
}

#[test]
fn iwait_yields_in_finish_order() {
    let gate_a = guv::Event::new();
    let gate_b = guv::Event::new();
    let (a, b) = (gate_a.clone(), gate_b.clone());
    let gts = [guv::spawn(move || a.wait()), guv::spawn(move || b.wait()), guv::spawn(|| ())];
    let ids: Vec<u64> = gts.iter().map(|g| g.id()).collect();
    guv::gyield();
    let mut it = guv::iwait(&gts);
    assert_eq!(it.next().unwrap().id(), ids[2], "already finished first");
    assert!(it.next_timeout(Duration::from_millis(1)).is_none());
    gate_b.set();
    assert_eq!(it.next().unwrap().id(), ids[1]);
    gate_a.set();
    assert_eq!(it.next().unwrap().id(), ids[0]);
    assert!(it.next().is_none());
}

#[test]
fn wait_all_joinall_killall() {
    let gate = guv::Event::new();
    let gts: Vec<_> = (0..3)
        .map(|i| {
            let g = gate.clone();
            guv::spawn(move || {
                g.wait();
                i
            })
        })
        .collect();
    assert!(!guv::wait_all_timeout(&gts, Duration::from_millis(2)));
    // An iwait dropped early leaves no link behind to fire later.
    drop(guv::iwait(&gts));
    gate.set();
    guv::wait_all(&gts);
    assert!(gts.iter().all(|g| g.is_finished()));
    let results: Vec<i32> = guv::joinall(gts).into_iter().map(Result::unwrap).collect();
    assert_eq!(results, [0, 1, 2]);

    let sleepers: Vec<_> = (0..3).map(|_| guv::spawn(|| guv::sleep(Duration::from_secs(60)))).collect();
    guv::gyield();
    guv::killall(&sleepers);
    assert!(guv::wait_all_timeout(&sleepers, Duration::ZERO));
    assert!(guv::joinall(sleepers).iter().all(|r| r.as_ref().unwrap_err().is_killed()));
}

#[test]
fn a_pile_member_taking_its_own_result_panics_and_the_pile_goes_on() {
    guv::debug::hub_exceptions(false);
    let pile: Rc<std::cell::RefCell<GreenPile<u32>>> = Rc::new(std::cell::RefCell::new(GreenPile::new(2)));
    let p = pile.clone();
    // The first member's result is the pile's next one: taking it from
    // inside would wait for itself.
    pile.borrow_mut().spawn(move || {
        let mut pile = p.borrow_mut();
        pile.next().map_or(0, |r| r.unwrap_or(1))
    });
    pile.borrow_mut().spawn(|| 2);
    let pool = pile.borrow().pool().clone();
    guv::with_timeout(Duration::from_secs(20), || pool.waitall().unwrap()).expect("the self-wait hung");
    guv::debug::hub_exceptions(true);
    let first = pile.borrow_mut().next().unwrap();
    assert_eq!(first.unwrap_err().panic_message(), Some("guv: a greenlet cannot wait for itself"));
    assert_eq!(pile.borrow_mut().next().unwrap().unwrap(), 2);
    assert!(pile.borrow_mut().next().is_none());
}
