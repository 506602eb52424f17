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

/// A backend whose notifier fails while `fail` is set (guv's epoll backend
/// does the rest).
struct FlakyNotify {
    inner: guv::hub::EpollBackend,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

struct FlakyNotifier {
    inner: std::sync::Arc<dyn guv::hub::Notifier>,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl guv::hub::Notifier for FlakyNotifier {
    fn notify(&self) -> std::io::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("test notifier refuses"));
        }
        self.inner.notify()
    }
}

impl guv::hub::Backend for FlakyNotify {
    fn add(&self, fd: std::os::fd::BorrowedFd<'_>, key: usize) -> std::io::Result<()> {
        self.inner.add(fd, key)
    }
    fn delete(&self, fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
        self.inner.delete(fd)
    }
    fn wait(&mut self, events: &mut Vec<guv::hub::IoEvent>, timeout: Option<Duration>) -> std::io::Result<()> {
        self.inner.wait(events, timeout)
    }
    fn notifier(&self) -> std::sync::Arc<dyn guv::hub::Notifier> {
        std::sync::Arc::new(FlakyNotifier { inner: self.inner.notifier(), fail: self.fail.clone() })
    }
}

/// Runs `body` on a new OS thread whose hub's notifier fails while `fail`
/// is set.
fn on_flaky_hub<R: Send + 'static>(
    fail: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    body: impl FnOnce() -> R + Send + 'static,
) -> std::thread::JoinHandle<R> {
    let fail = fail.clone();
    std::thread::spawn(move || {
        let backend = FlakyNotify { inner: guv::hub::EpollBackend::new().unwrap(), fail };
        guv::hub::set_backend(Box::new(backend)).unwrap();
        body()
    })
}

#[test]
fn a_spawn_whose_wake_up_fails_is_an_error_and_never_runs() {
    use std::sync::atomic::Ordering;
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (handle_tx, handle_rx) = mpsc::channel();
    let hub_thread = on_flaky_hub(&fail, move || {
        let (done_tx, done_rx) = guv::green::sync::mpsc::channel::<()>();
        handle_tx.send((guv::hub::Handle::current(), done_tx)).unwrap();
        // Sleeps in the backend's wait (no timeout) until a notify comes.
        done_rx.recv().unwrap();
    });
    let (handle, done_tx) = handle_rx.recv().unwrap();
    let (ran_tx, ran_rx) = mpsc::channel();

    fail.store(true, Ordering::SeqCst);
    let first = ran_tx.clone();
    let err = handle.spawn(move || first.send("first").unwrap()).unwrap_err();
    assert!(err.to_string().contains("test notifier refuses"), "{err}");
    // The refused closure was dropped by the failed call: its sender is gone.
    let strays = std::sync::Arc::new(());
    let stray = strays.clone();
    let err = handle.spawn(move || drop(stray)).unwrap_err();
    assert!(err.to_string().contains("could not wake the hub"), "{err}");
    assert_eq!(std::sync::Arc::strong_count(&strays), 1);

    fail.store(false, Ordering::SeqCst);
    handle
        .spawn(move || {
            ran_tx.send("second").unwrap();
            done_tx.send(()).unwrap();
        })
        .unwrap();
    // The queue is drained in order: had a refused closure stayed queued, it
    // would run before this one (and, its push having eaten the notify, the
    // old code left the hub asleep with this one queued).
    assert_eq!(ran_rx.recv_timeout(Duration::from_secs(30)), Ok("second"));
    hub_thread.join().unwrap();
    assert_eq!(ran_rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
}

/// A cross-thread wake-up whose notify fails is not dropped (its greenlet
/// would stay parked for ever): it stays queued, and the next request
/// notifies the hub again although the queue is already marked pending.
#[test]
fn a_wake_up_whose_notify_fails_lands_with_the_next_request() {
    use std::sync::atomic::Ordering;
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (handle_tx, handle_rx) = mpsc::channel();
    let hub_thread = on_flaky_hub(&fail, move || {
        let (value_tx, value_rx) = guv::green::sync::mpsc::channel::<u32>();
        // Runs once the main greenlet is parked in `recv` below.
        guv::spawn_n(move || handle_tx.send((guv::hub::Handle::current(), value_tx)).unwrap());
        value_rx.recv().unwrap()
    });
    let (handle, value_tx) = handle_rx.recv().unwrap();
    fail.store(true, Ordering::SeqCst);
    // The receiver is parked on the hub: the send queues a wake-up, whose
    // notify fails.
    value_tx.send(42).unwrap();
    fail.store(false, Ordering::SeqCst);
    handle.spawn(|| ()).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(hub_thread.join().unwrap()).unwrap());
    assert_eq!(done_rx.recv_timeout(Duration::from_secs(30)), Ok(42));
}
