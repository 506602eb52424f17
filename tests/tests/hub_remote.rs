//! hub::Handle (cross-thread spawning) and deadlock detection.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn handle_spawn_runs_on_the_target_hub_and_wakes_its_poller() {
    let (a, b) = UnixStream::pair().unwrap();
    let (handle_tx, handle_rx) = mpsc::channel();
    let hub_thread = std::thread::spawn(move || {
        handle_tx.send(guv::hub::Handle::current()).unwrap();
        // Block in the poller for up to a minute: the greenlet sent from the
        // other thread can only run in time if the handle wakes the poller.
        let start = Instant::now();
        guv::trampoline(&a, guv::Interest::READABLE, Some(Duration::from_secs(60))).unwrap();
        start.elapsed()
    });
    let handle = handle_rx.recv().unwrap();
    assert_ne!(handle.id(), guv::hub::Handle::current().id());
    let target = handle.id();
    let (ran_on_tx, ran_on_rx) = mpsc::channel();
    handle
        .spawn(move || {
            ran_on_tx.send(guv::hub::Handle::current().id()).unwrap();
            (&b).write_all(b"!").unwrap();
        })
        .unwrap();
    assert_eq!(ran_on_rx.recv_timeout(Duration::from_secs(30)).unwrap(), target);
    assert!(hub_thread.join().unwrap() < Duration::from_secs(30));
}

#[test]
fn handles_from_many_threads_deliver_everything() {
    let handle = guv::hub::Handle::current();
    let (tx, rx) = mpsc::channel();
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let handle = handle.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    let tx = tx.clone();
                    handle.spawn(move || tx.send(t * 1000 + i).unwrap()).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    drop(tx);
    let mut got = Vec::new();
    while got.len() < 1000 {
        match rx.try_recv() {
            Ok(v) => got.push(v),
            Err(_) => guv::sleep(Duration::from_millis(1)),
        }
    }
    got.sort();
    let mut want: Vec<_> = (0..4).flat_map(|t| (0..250).map(move |i| t * 1000 + i)).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn spawning_onto_a_hub_whose_thread_ended_is_an_error() {
    let handle = std::thread::spawn(guv::hub::Handle::current).join().unwrap();
    let err = handle.spawn(|| ()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
}

#[test]
fn deadlock_is_reported_instead_of_hanging() {
    let result = std::thread::spawn(|| {
        let forever = guv::spawn(|| guv::sleep(Duration::MAX));
        forever.wait()
    })
    .join();
    let payload = result.unwrap_err();
    let msg = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
    assert!(msg.unwrap().contains("would block forever"), "{msg:?}");
}

#[test]
fn main_blocked_on_a_greenlet_waiting_forever_is_a_deadlock_too() {
    let result = std::thread::spawn(|| {
        let a = guv::spawn(|| guv::sleep(Duration::MAX));
        let b = guv::spawn(move || a.wait());
        b.wait()
    })
    .join();
    assert!(result.is_err());
}
