//! Coordination primitives side by side with std::sync, may::sync and
//! crossbeam-channel, in one run: `cargo bench -p guv-benches --bench sync`.
//!
//! Every figure is the median of `RUNS` runs, in nanoseconds per operation.
//! may runs with one worker thread (its best case for ping-pong: no
//! cross-thread wake-ups), so both sides are single-threaded schedulers.

use std::hint::black_box;
use std::time::{Duration, Instant};

const RUNS: usize = 7;

/// Runs `f(n)` `RUNS` times; returns the median of elapsed / `ops_per_n * n`.
fn median_ns(n: u64, ops_per_n: u64, mut f: impl FnMut(u64) -> Duration) -> f64 {
    let mut samples: Vec<f64> = (0..RUNS).map(|_| f(n).as_nanos() as f64 / (n * ops_per_n) as f64).collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[RUNS / 2]
}

fn report(rows: &[(&str, f64)]) {
    for (name, ns) in rows {
        println!("  {name:<58} {ns:>9.1} ns");
    }
}

/// Times `n` calls of `op`.
fn time_n(n: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    start.elapsed()
}

// ----- uncontended Mutex ----------------------------------------------------

fn mutex_guv(n: u64) -> Duration {
    let m = guv::green::sync::Mutex::new(0u64);
    time_n(n, || *black_box(&m).lock().unwrap() += 1)
}

fn mutex_std(n: u64) -> Duration {
    let m = std::sync::Mutex::new(0u64);
    time_n(n, || *black_box(&m).lock().unwrap() += 1)
}

fn mutex_may(n: u64) -> Duration {
    let m = may::sync::Mutex::new(0u64);
    time_n(n, || *black_box(&m).lock().unwrap() += 1)
}

// ----- Semaphore acquire + release ------------------------------------------

fn semaphore_guv(n: u64) -> Duration {
    let s = guv::Semaphore::new(1);
    time_n(n, || {
        black_box(&s).acquire();
        black_box(&s).release();
    })
}

fn semaphore_may(n: u64) -> Duration {
    let s = may::sync::Semphore::new(1);
    time_n(n, || {
        black_box(&s).wait();
        black_box(&s).post();
    })
}

// ----- switching ------------------------------------------------------------

/// Times `n` round trips: `send(i)`, then wait for the answer with `recv`.
fn time_round_trips(n: u64, mut send: impl FnMut(u64), mut recv: impl FnMut() -> u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        send(i);
        black_box(recv());
    }
    start.elapsed()
}

/// Runs `echo` and `timed` on two greenlets of this hub; returns what
/// `timed` measured, once both have ended.
fn on_two_greenlets(echo: impl FnOnce() + 'static, timed: impl FnOnce() -> Duration + 'static) -> Duration {
    let echo = guv::spawn(echo);
    let timer = guv::spawn(timed);
    let t = timer.wait().unwrap();
    echo.wait().unwrap();
    t
}

/// Runs `echo` on another OS thread and `timed` on this one; returns what
/// `timed` measured, once both have ended (`timed` drops its sender when
/// it returns, which ends `echo`).
fn on_two_threads(echo: impl FnOnce() + Send + 'static, timed: impl FnOnce() -> Duration) -> Duration {
    let echo = std::thread::spawn(echo);
    let t = timed();
    echo.join().unwrap();
    t
}

/// One `gyield` round trip: this greenlet yields, the other runs (and
/// yields back), this one resumes.
fn gyield_round_trip(n: u64) -> Duration {
    let done = std::rc::Rc::new(std::cell::Cell::new(false));
    let d = done.clone();
    on_two_greenlets(
        move || {
            while !d.get() {
                guv::gyield();
            }
        },
        move || {
            let t = time_n(n, guv::gyield);
            done.set(true);
            t
        },
    )
}

/// Ping-pong between two greenlets over two queues made by `new`, with
/// the queue type's `put` and `get`; two messages per n.
fn queue_pingpong<Q: Clone + 'static>(
    n: u64,
    new: impl Fn() -> Q,
    put: impl Fn(&Q, u64) + Copy + 'static,
    get: impl Fn(&Q) -> u64 + Copy + 'static,
) -> Duration {
    let (ping, pong) = (new(), new());
    let (ping2, pong2) = (ping.clone(), pong.clone());
    on_two_greenlets(
        move || {
            for _ in 0..n {
                put(&pong2, get(&ping2));
            }
        },
        move || time_round_trips(n, |i| put(&ping, i), || get(&pong)),
    )
}

/// `Queue::new(Some(0))` ping-pong between two greenlets; two messages per n.
fn queue_pingpong_guv(n: u64) -> Duration {
    use guv::queue::Queue;
    queue_pingpong(n, || Queue::new(Some(0)), Queue::put, Queue::get)
}

/// The same with `LightQueue` (no task accounting).
fn lightqueue_pingpong_guv(n: u64) -> Duration {
    use guv::queue::LightQueue;
    queue_pingpong(n, || LightQueue::new(Some(0)), LightQueue::put, LightQueue::get)
}

/// Green `mpsc::sync_channel(0)` ping-pong between two greenlets of one hub.
fn green_mpsc_pingpong(n: u64) -> Duration {
    let (tx1, rx1) = guv::green::sync::mpsc::sync_channel::<u64>(0);
    let (tx2, rx2) = guv::green::sync::mpsc::sync_channel::<u64>(0);
    on_two_greenlets(
        move || rx1.iter().for_each(|v| tx2.send(v).unwrap()),
        move || time_round_trips(n, |i| tx1.send(i).unwrap(), || rx2.recv().unwrap()),
    )
}

/// may's channel ping-pong between two coroutines (one worker thread).
fn may_pingpong(n: u64) -> Duration {
    let (tx1, rx1) = may::sync::mpsc::channel::<u64>();
    let (tx2, rx2) = may::sync::mpsc::channel::<u64>();
    // SAFETY: may's contract for spawning holds: the closures own everything
    // they touch and use no thread-locals.
    let echo = unsafe {
        may::coroutine::spawn(move || {
            for _ in 0..n {
                tx2.send(rx1.recv().unwrap()).unwrap();
            }
        })
    };
    // SAFETY: as above.
    let timer =
        unsafe { may::coroutine::spawn(move || time_round_trips(n, |i| tx1.send(i).unwrap(), || rx2.recv().unwrap())) };
    let t = timer.join().unwrap();
    echo.join().unwrap();
    t
}

/// crossbeam `bounded(0)` ping-pong between two OS threads.
fn crossbeam_pingpong(n: u64) -> Duration {
    let (tx1, rx1) = crossbeam_channel::bounded::<u64>(0);
    let (tx2, rx2) = crossbeam_channel::bounded::<u64>(0);
    on_two_threads(
        move || rx1.iter().for_each(|v| tx2.send(v).unwrap()),
        move || time_round_trips(n, |i| tx1.send(i).unwrap(), || rx2.recv().unwrap()),
    )
}

/// std `sync_channel(0)` ping-pong between two OS threads.
fn std_pingpong(n: u64) -> Duration {
    let (tx1, rx1) = std::sync::mpsc::sync_channel::<u64>(0);
    let (tx2, rx2) = std::sync::mpsc::sync_channel::<u64>(0);
    on_two_threads(
        move || rx1.iter().for_each(|v| tx2.send(v).unwrap()),
        move || time_round_trips(n, |i| tx1.send(i).unwrap(), || rx2.recv().unwrap()),
    )
}

// ----- bounded queue: 1 producer, 10 consumers ------------------------------

const CONSUMERS: usize = 10;
const BOUND: usize = 64;

/// A consumer: adds up the items `recv` gives until it gives `None`.
fn consume(mut recv: impl FnMut() -> Option<u64>) -> u64 {
    let mut sum = 0u64;
    while let Some(v) = recv() {
        sum = sum.wrapping_add(v);
    }
    sum
}

/// The producer: `n` items, then a `None` for each consumer.
fn produce(n: u64, mut send: impl FnMut(Option<u64>)) {
    for i in 0..n {
        send(Some(i));
    }
    for _ in 0..CONSUMERS {
        send(None);
    }
}

fn fan_out_guv(n: u64) -> Duration {
    let q = guv::queue::Queue::<Option<u64>>::new(Some(BOUND));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let q = q.clone();
            guv::spawn(move || consume(|| q.get()))
        })
        .collect();
    let start = Instant::now();
    let producer = guv::spawn(move || produce(n, |v| q.put(v)));
    producer.wait().unwrap();
    for c in guv::joinall(consumers) {
        black_box(c.unwrap());
    }
    start.elapsed()
}

fn fan_out_crossbeam(n: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<Option<u64>>(BOUND);
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || consume(|| rx.recv().unwrap()))
        })
        .collect();
    let start = Instant::now();
    produce(n, |v| tx.send(v).unwrap());
    for c in consumers {
        black_box(c.join().unwrap());
    }
    start.elapsed()
}

fn fan_out_may(n: u64) -> Duration {
    // may has no bounded multi-consumer channel: its mpmc is unbounded.
    let (tx, rx) = may::sync::mpmc::channel::<Option<u64>>();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let rx = rx.clone();
            // SAFETY: as in `may_pingpong`.
            unsafe { may::coroutine::spawn(move || consume(|| rx.recv().unwrap())) }
        })
        .collect();
    let start = Instant::now();
    // SAFETY: as above.
    let producer = unsafe { may::coroutine::spawn(move || produce(n, |v| tx.send(v).unwrap())) };
    producer.join().unwrap();
    for c in consumers {
        black_box(c.join().unwrap());
    }
    start.elapsed()
}

fn main() {
    // Only `cargo bench` runs the measurements (`cargo test` builds and
    // runs bench targets with `--bench` absent).
    if !std::env::args().any(|a| a == "--bench") {
        println!("sync benches: pass --bench (cargo bench) to run");
        return;
    }
    may::config().set_workers(1);

    println!("uncontended Mutex lock + unlock");
    let guv_m = median_ns(5_000_000, 1, mutex_guv);
    let std_m = median_ns(5_000_000, 1, mutex_std);
    let may_m = median_ns(5_000_000, 1, mutex_may);
    report(&[("guv::green::sync::Mutex", guv_m), ("std::sync::Mutex", std_m), ("may::sync::Mutex", may_m)]);
    println!("  ratio guv/std {:.2}, guv/may {:.2}", guv_m / std_m, guv_m / may_m);

    println!("Semaphore acquire + release (uncontended)");
    let guv_s = median_ns(5_000_000, 1, semaphore_guv);
    let may_s = median_ns(5_000_000, 1, semaphore_may);
    report(&[("guv::Semaphore", guv_s), ("may::sync::Semphore", may_s)]);
    println!("  ratio guv/may {:.2}", guv_s / may_s);

    println!("ping-pong between two greenlets/coroutines/threads, per message");
    let n = 500_000;
    let gyield = median_ns(n, 1, gyield_round_trip);
    let q = median_ns(n, 2, queue_pingpong_guv);
    let lq = median_ns(n, 2, lightqueue_pingpong_guv);
    let gm = median_ns(n, 2, green_mpsc_pingpong);
    let may_p = median_ns(n, 2, may_pingpong);
    let cb = median_ns(50_000, 2, crossbeam_pingpong);
    let sp = median_ns(50_000, 2, std_pingpong);
    report(&[
        ("guv gyield round trip (2 greenlets)", gyield),
        ("guv Queue::new(Some(0)) per message", q),
        ("guv LightQueue::new(Some(0)) per message", lq),
        ("guv green::sync::mpsc::sync_channel(0) per message", gm),
        ("may mpsc::channel, 2 coroutines, 1 worker, per message", may_p),
        ("crossbeam bounded(0), 2 threads, per message", cb),
        ("std sync_channel(0), 2 threads, per message", sp),
    ]);
    println!(
        "  Queue(0) per message: {:.2}x the gyield round trip (target < 10), {:.2}x may's (target < 1)",
        q / gyield,
        q / may_p
    );

    println!("bounded queue (capacity {BOUND}), 1 producer + {CONSUMERS} consumers, per item");
    let n = 1_000_000;
    let fg = median_ns(n, 1, fan_out_guv);
    let fc = median_ns(n / 4, 1, fan_out_crossbeam);
    let fm = median_ns(n, 1, fan_out_may);
    report(&[
        ("guv Queue (greenlets)", fg),
        ("crossbeam bounded (threads)", fc),
        ("may mpmc, unbounded (coroutines, 1 worker)", fm),
    ]);
    println!("  ratio guv/crossbeam {:.2}, guv/may {:.2}", fg / fc, fg / fm);
}
