//! guv::green::thread beyond the twin suite: identity, cross-thread
//! unpark, scoped threads under kill, Send handles.

use std::sync::mpsc;
use std::time::Duration;

use guv::green::thread;
use guv_tests::Log;

#[test]
fn handles_are_send_and_sync_like_std() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<thread::JoinHandle<u32>>();
    assert_send_sync::<thread::Thread>();
    assert_send_sync::<guv::net::TcpStream>();
    assert_send_sync::<guv::net::UdpSocket>();
}

#[test]
fn unpark_from_another_os_thread() {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        tx.send(thread::current()).unwrap();
        thread::park();
        "woken"
    });
    let log = Log::new();
    let l2 = log.clone();
    // Let the green thread start and park, then unpark it from an OS thread.
    let waiter = guv::spawn(move || {
        let t = loop {
            if let Ok(t) = rx.try_recv() {
                break t;
            }
            guv::gyield();
        };
        l2.push("got handle");
        std::thread::spawn(move || t.unpark()).join().unwrap();
    });
    assert_eq!(h.join().unwrap(), "woken");
    waiter.wait().unwrap();
    assert_eq!(log.take(), ["got handle"]);
}

#[test]
fn current_is_per_greenlet() {
    let main = thread::current();
    assert_eq!(main.name(), std::thread::current().name());
    let a = guv::Builder::new()
        .name("plain")
        .spawn(|| (thread::current().id(), thread::current().name().map(String::from)));
    let (id, name) = a.unwrap().wait().unwrap();
    assert_ne!(id, main.id());
    assert_eq!(name.as_deref(), Some("plain"));
    assert_eq!(thread::current().id(), main.id());
}

#[test]
fn park_timeout_returns_and_token_is_consumed() {
    thread::current().unpark();
    thread::park(); // consumes the token at once
    let start = std::time::Instant::now();
    thread::park_timeout(Duration::from_millis(10));
    assert!(start.elapsed() >= Duration::from_millis(10));
}

#[test]
fn join_gives_the_panic_payload_and_builder_errors() {
    guv::debug::hub_exceptions(false);
    let h = thread::spawn(|| -> () { std::panic::panic_any(7u32) });
    assert_eq!(h.join().unwrap_err().downcast_ref::<u32>(), Some(&7));
    let e = thread::Builder::new().stack_size(usize::MAX).spawn(|| ()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn scope_waits_for_its_threads_even_when_its_owner_is_killed() {
    use std::sync::{Arc, Mutex};
    /// Reads the borrowed data as it is dropped.
    struct ReadOnDrop<'a>(&'a [i32], Arc<Mutex<Vec<String>>>);
    impl Drop for ReadOnDrop<'_> {
        fn drop(&mut self) {
            guv::gyield(); // unwinding, it still lets others run
            self.1.lock().unwrap().push(format!("scoped thread's guard read {:?}", self.0));
        }
    }
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l2 = log.clone();
    let owner = guv::spawn(move || {
        let data = vec![1, 2, 3];
        thread::scope(|s| {
            s.spawn(|| {
                // Borrows `data` from the owner's stack while it is killed;
                // the owner's kill cascades to it.
                let _guard = ReadOnDrop(&data, l2.clone());
                guv::sleep(Duration::from_secs(60));
                l2.lock().unwrap().push("unreachable: the scoped thread finished".into());
            });
            guv::sleep(Duration::from_secs(60));
        });
        l2.lock().unwrap().push("unreachable".into());
    });
    guv::gyield();
    owner.kill();
    assert!(owner.wait().unwrap_err().is_killed());
    // The scope held the owner's kill until its thread, killed in turn, had
    // run its destructor, which still read the owner's data.
    assert_eq!(*log.lock().unwrap(), ["scoped thread's guard read [1, 2, 3]"]);
}

#[test]
fn scope_panics_if_an_unjoined_thread_panicked() {
    guv::debug::hub_exceptions(false);
    let r = std::panic::catch_unwind(|| {
        thread::scope(|s| {
            s.spawn(|| panic!("inner"));
        })
    });
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"a scoped thread panicked"));
    // Joined panics are the joiner's business.
    let ok = thread::scope(|s| s.spawn(|| panic!("joined")).join().is_err());
    assert!(ok);
}

#[test]
fn joining_a_green_thread_whose_hub_ended_before_it_ran_is_an_error_not_a_hang() {
    // The spawning thread ends (and its hub with it) before the green
    // thread ever runs; another OS thread joins it.
    let h = std::thread::spawn(|| thread::spawn(|| 5)).join().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(h.join().map_err(|p| guv::is_interrupt(&*p))).unwrap());
    let joined = rx.recv_timeout(Duration::from_secs(30)).expect("the join returned");
    assert_eq!(joined, Err(true), "it never ran: joined as killed");
}
