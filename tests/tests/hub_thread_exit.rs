//! What a hub does with its greenlets when its thread ends.

use std::sync::mpsc;
use std::time::Duration;

/// Tells the test thread when it is dropped, after trying a hub API.
struct Guard {
    tx: mpsc::Sender<&'static str>,
    event: guv::event::Event<u32>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.tx.send("dropping").unwrap();
        // The hub is being torn down: this fails (panics), but only here.
        let _ = self.event.send(1);
    }
}

/// Greenlets that never started are dropped with their thread's hub; a
/// destructor among their captures that uses the hub (here: an `Event`
/// that wakes a waiter) must not abort the process.
#[test]
fn captures_of_unstarted_greenlets_may_use_the_hub_as_the_thread_ends() {
    for delayed in [false, true] {
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            let event = guv::event::Event::<u32>::new();
            let waiting = event.clone();
            guv::spawn_n(move || {
                let _ = waiting.wait();
            });
            guv::gyield();
            let guard = Guard { tx: tx2, event };
            if delayed {
                drop(guv::spawn_after(Duration::from_secs(3600), move || drop(guard)));
            } else {
                guv::spawn_n(move || drop(guard));
            }
        })
        .join()
        .unwrap();
        // The guard was dropped, and the process is still here.
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("dropping"));
        drop(tx);
    }
}

/// The same for closures sent from another thread that never ran.
#[test]
fn unrun_remote_spawns_may_use_the_hub_as_the_thread_ends() {
    struct Yields(mpsc::Sender<&'static str>);
    impl Drop for Yields {
        fn drop(&mut self) {
            self.0.send("dropping").unwrap();
            guv::gyield();
        }
    }
    let (htx, hrx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let hub_thread = std::thread::spawn(move || {
        htx.send(guv::hub::Handle::current()).unwrap();
        // Blocks the whole thread (no green wait): the remote spawn queues.
        go_rx.recv().unwrap();
    });
    let handle = hrx.recv().unwrap();
    let (tx, rx) = mpsc::channel();
    let y = Yields(tx);
    handle.spawn(move || drop(y)).unwrap();
    go_tx.send(()).unwrap();
    hub_thread.join().unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("dropping"));
}
