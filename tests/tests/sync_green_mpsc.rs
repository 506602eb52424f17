//! guv::green::sync::mpsc: greenlet<->greenlet and thread<->greenlet.

use std::time::Duration;

use guv::green::sync::mpsc::{self, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use guv_tests::Log;

#[test]
fn greenlet_to_greenlet_fifo_and_disconnect() {
    let (tx, rx) = mpsc::channel();
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let tx = tx.clone();
            guv::spawn(move || {
                for i in 0..3 {
                    tx.send((p, i)).unwrap();
                    guv::gyield();
                }
            })
        })
        .collect();
    drop(tx);
    let got: Vec<(i32, i32)> = rx.iter().collect();
    assert_eq!(got.len(), 9);
    for p in 0..3 {
        let mine: Vec<i32> = got.iter().filter(|(q, _)| *q == p).map(|(_, i)| *i).collect();
        assert_eq!(mine, [0, 1, 2], "each sender's items stay in order");
    }
    guv::wait_all(&producers);
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn a_greenlet_receiving_from_a_plain_thread_lets_others_run() {
    let log = Log::new();
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        tx.send("from thread").unwrap();
    });
    let l = log.clone();
    let receiver = guv::spawn(move || {
        let v = rx.recv().unwrap();
        l.push(v);
    });
    let l = log.clone();
    guv::spawn_n(move || {
        l.push("other ran");
        go_tx.send(()).unwrap(); // only now may the thread send
    });
    receiver.wait().unwrap();
    thread.join().unwrap();
    assert_eq!(log.take(), ["other ran", "from thread"]);
}

#[test]
fn a_plain_thread_receives_from_a_greenlet() {
    let (tx, rx) = mpsc::sync_channel(0);
    let (back_tx, back_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        // Parks this thread's main greenlet; woken from the other hub.
        let v: u32 = rx.recv().unwrap();
        back_tx.send(v * 2).unwrap();
    });
    let sender = guv::spawn(move || tx.send(21).unwrap()); // rendezvous
    assert_eq!(back_rx.recv_timeout(Duration::from_secs(30)), Ok(42));
    sender.wait().unwrap();
    thread.join().unwrap();
}

#[test]
fn two_hubs_ping_pong() {
    let (to_b, from_a) = mpsc::sync_channel::<u32>(0);
    let (to_a, from_b) = mpsc::sync_channel::<u32>(0);
    let b = std::thread::spawn(move || {
        let gt = guv::spawn(move || {
            for v in from_a.iter() {
                to_a.send(v + 1).unwrap();
            }
        });
        gt.wait().unwrap();
    });
    let mut v = 0;
    for _ in 0..200 {
        to_b.send(v).unwrap();
        v = from_b.recv().unwrap();
    }
    assert_eq!(v, 200);
    drop(to_b);
    b.join().unwrap();
}

#[test]
fn rendezvous_send_waits_for_the_receiver() {
    let log = Log::new();
    let (tx, rx) = mpsc::sync_channel(0);
    assert_eq!(tx.try_send("y"), Err(TrySendError::Full("y")));
    let l = log.clone();
    let sender = guv::spawn(move || {
        tx.send("x").unwrap();
        l.push("sent");
    });
    guv::gyield();
    guv::gyield();
    assert!(log.take().is_empty(), "no receiver yet");
    assert_eq!(rx.recv(), Ok("x"));
    sender.wait().unwrap();
    assert_eq!(log.take(), ["sent"]);
}

#[test]
fn rendezvous_try_send_succeeds_with_a_waiting_receiver() {
    let (tx, rx) = mpsc::sync_channel(0);
    let receiver = guv::spawn(move || rx.recv());
    guv::gyield();
    tx.try_send(5).unwrap();
    assert_eq!(receiver.wait().unwrap(), Ok(5));
}

#[test]
fn bounded_channel_blocks_senders_and_releases_them_in_order() {
    let (tx, rx) = mpsc::sync_channel(1);
    tx.send(0).unwrap();
    let senders: Vec<_> = (1..4)
        .map(|i| {
            let tx = tx.clone();
            guv::spawn(move || tx.send(i).unwrap())
        })
        .collect();
    guv::gyield();
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    drop(tx);
    let got: Vec<i32> = rx.iter().collect();
    assert_eq!(got, [0, 1, 2, 3]);
    guv::wait_all(&senders);
}

#[test]
fn dropping_the_receiver_fails_senders_and_returns_items() {
    let (tx, rx) = mpsc::channel();
    drop(rx);
    assert_eq!(tx.send(1), Err(SendError(1)));

    let (tx, rx) = mpsc::sync_channel(0);
    let blocked = guv::spawn(move || tx.send(String::from("mine")));
    guv::gyield();
    drop(rx);
    assert_eq!(blocked.wait().unwrap(), Err(SendError(String::from("mine"))));

    let (tx, rx) = mpsc::sync_channel(1);
    tx.send(1).unwrap();
    let tx2 = tx.clone();
    let blocked = guv::spawn(move || tx2.send(2));
    guv::gyield();
    drop(rx);
    assert_eq!(blocked.wait().unwrap(), Err(SendError(2)));
    assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
}

#[test]
fn recv_timeout_try_iter_and_killed_receivers() {
    let (tx, rx) = mpsc::channel::<u8>();
    assert_eq!(rx.recv_timeout(Duration::from_millis(2)), Err(RecvTimeoutError::Timeout));
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

    // Receivers sharing one Receiver on this thread: one is killed while
    // queued, the other still gets the item.
    let rx = std::rc::Rc::new(rx);
    let (a, b) = (rx.clone(), rx.clone());
    let ga = guv::spawn(move || a.recv());
    let gb = guv::spawn(move || b.recv());
    guv::gyield();
    ga.kill();
    tx.send(3).unwrap();
    assert_eq!(gb.wait().unwrap(), Ok(3));
    // A receiver killed after being woken passes the wake-up on.
    let (c, d) = (rx.clone(), rx.clone());
    let gc = guv::spawn(move || c.recv());
    let gd = guv::spawn(move || d.recv());
    guv::gyield();
    tx.send(4).unwrap(); // wakes `gc`...
    gc.kill(); // ...which dies first
    assert_eq!(guv::with_timeout(Duration::from_secs(30), || gd.wait().unwrap()).unwrap(), Ok(4));
    assert!(ga.wait().unwrap_err().is_killed());
}

#[test]
fn many_threads_send_to_one_greenlet() {
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    tx.send(t * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let sum = guv::spawn(move || rx.into_iter().count()).wait().unwrap();
    assert_eq!(sum, 1000);
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_killed_or_timed_out_rendezvous_sender_takes_its_item_back() {
    let (tx, rx) = mpsc::sync_channel(0);
    let t = tx.clone();
    let killed = guv::spawn(move || t.send("killed"));
    guv::gyield(); // the item waits in the channel for a receiver
    killed.kill();
    assert!(killed.wait().unwrap_err().is_killed());
    // A send retried after a Timeout is delivered once.
    let (t, timed_out) = (tx.clone(), guv::Event::new());
    let to = timed_out.clone();
    let retried = guv::spawn(move || {
        let first = guv::with_timeout(Duration::from_millis(2), || t.send("retried"));
        assert!(first.unwrap_err().is_timed_out());
        to.set();
        t.send("retried").unwrap();
    });
    timed_out.wait(); // no receiver during the first attempt
    assert_eq!(rx.recv(), Ok("retried"), "the killed send did not happen");
    retried.wait().unwrap();
    drop(tx);
    assert_eq!(rx.recv(), Err(RecvError), "nothing else was left behind");
}

#[test]
fn a_rendezvous_sender_killed_after_its_item_was_received_changes_nothing() {
    let (tx, rx) = mpsc::sync_channel(0);
    let sender = guv::spawn(move || {
        tx.send(1).unwrap();
        tx
    });
    guv::gyield();
    assert_eq!(rx.recv(), Ok(1)); // taken; the sender has not run since
    sender.kill();
    assert!(sender.wait().unwrap_err().is_killed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "received once, not put back");
}
