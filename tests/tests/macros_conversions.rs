//! The three conversions of the examples crate, tested as they are: plain
//! blocking std programs plus one `#[guv::patched]` line, included here by
//! path. Each runs as greenlets on the test's one OS thread: a monitor
//! greenlet sees the program's threads among this hub's live greenlets,
//! which only happens if `std::thread::spawn` made greenlets and every
//! blocking call parked instead of holding the thread.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[allow(dead_code)]
#[path = "../../examples/src/patched_tcp_server.rs"]
mod tcp_server;

#[allow(dead_code)]
#[path = "../../examples/src/patched_producer_consumer.rs"]
mod producer_consumer;

#[allow(dead_code)]
#[path = "../../examples/src/patched_mpsc_workers.rs"]
mod mpsc_workers;

/// Runs `f` while a monitor greenlet records the most greenlets alive at
/// once on this hub (the monitor itself included): when `f` first parks
/// (the monitor is first in line then), every millisecond after that, and
/// once more as `f` returns (a quick `f` may finish between two ticks).
fn most_alive_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let most = Rc::new(Cell::new(0));
    let seen = most.clone();
    let monitor = guv::spawn(move || {
        loop {
            seen.set(seen.get().max(guv::hub::stats().live_greenlets));
            guv::sleep(Duration::from_millis(1));
        }
    });
    let out = f();
    most.set(most.get().max(guv::hub::stats().live_greenlets));
    monitor.kill();
    (out, most.get())
}

/// Waits until only `n` greenlets are left (the test's timeout bounds it).
fn until_alive(n: usize) {
    while guv::hub::stats().live_greenlets > n {
        guv::sleep(Duration::from_millis(1));
    }
}

#[guv::test(timeout = "30s")]
fn thread_per_connection_server() {
    use std::io::{BufRead, BufReader, Write};

    let listener = guv::green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = guv::spawn(move || tcp_server::server::serve(listener));
    let ((), most) = most_alive_during(|| {
        // Three clients connected at once, all on this greenlet.
        let mut clients: Vec<_> = (0..3)
            .map(|_| {
                let s = guv::green::net::TcpStream::connect(addr).unwrap();
                let r = BufReader::new(s.try_clone().unwrap());
                (s, r)
            })
            .collect();
        let mut ask = |i: usize, text: &str| {
            let (s, r) = &mut clients[i];
            writeln!(s, "{text}").unwrap();
            let mut reply = String::new();
            r.read_line(&mut reply).unwrap();
            reply.trim().to_owned()
        };
        for i in 0..3 {
            assert!(ask(i, &format!("hello {i}")).starts_with(&format!("HELLO {i} (")));
        }
        // Every connection has its own live handler now.
        for i in 0..3 {
            assert_eq!(ask(i, "again"), "AGAIN (3 connected)");
        }
    });
    // The monitor, the accept loop and three connection threads.
    assert!(most >= 5, "{most} greenlets at most");
    server.kill();
    until_alive(0);
}

#[guv::test(timeout = "30s")]
fn mutex_and_condvar_producers_and_consumer() {
    let (consumed, most) = most_alive_during(|| producer_consumer::bounded::run(3, 50, 2));
    assert_eq!(consumed.len(), 150);
    for p in 0..3 {
        let mine: Vec<usize> = consumed.iter().filter(|(q, _)| *q == p).map(|&(_, i)| i).collect();
        assert_eq!(mine, (0..50).collect::<Vec<_>>(), "producer {p}");
    }
    // Producers took turns: the buffer holds 2, so nobody ran far ahead.
    assert_ne!(consumed[..50].iter().filter(|(p, _)| *p == 0).count(), 50);
    // The monitor, three producers and the consumer.
    assert!(most >= 5, "{most} greenlets at most");
}

#[guv::test(timeout = "30s")]
fn mpsc_workers_sleep_side_by_side() {
    // The jobs' sleeps start within microseconds of each other, and 100 ms
    // apart is far more than a loaded machine can delay one of them.
    let (done, most) = most_alive_during(|| mpsc_workers::workers::run(4, &[400, 100, 300, 200]));
    let order: Vec<u64> = done.iter().map(|d| d.job_ms).collect();
    assert_eq!(order, [100, 200, 300, 400], "the jobs overlap: shortest first");
    assert!(done.iter().all(|d| d.result == d.job_ms * d.job_ms));
    // The monitor and four workers.
    assert!(most >= 5, "{most} greenlets at most");
}
