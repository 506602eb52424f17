//! API completeness of the green `std::thread` and `std::time` (issue 4):
//! patched code that uses every stable item std code would, compiles
//! against the green twins and behaves as std's. Each test also checks
//! that the patch did swap the type in.

use std::any::type_name;

/// True when `T` is one of guv's types (the patch swapped it in).
fn green<T: ?Sized>(_: &T) -> bool {
    type_name::<T>().starts_with("guv::")
}

fn send_sync<T: Send + Sync>() {}
fn ordered_key<T: Copy + Eq + std::hash::Hash + std::fmt::Debug>() {}

#[guv::test]
fn spawn_builder_join_handle_thread_every_stable_item() {
    use std::sync::mpsc;
    use std::thread::{self, Builder, JoinHandle, Thread, ThreadId};
    use std::time::Duration;
    send_sync::<JoinHandle<std::cell::Cell<u8>>>(); // Send, not Sync: as std
    send_sync::<Thread>();
    send_sync::<Builder>();
    ordered_key::<ThreadId>();

    let h: JoinHandle<u32> = thread::spawn(|| 6 * 7);
    assert!(green(&h));
    assert!(format!("{h:?}").starts_with("JoinHandle"));
    let t: &Thread = h.thread();
    assert_ne!(t.id(), thread::current().id());
    assert_eq!(h.join().unwrap(), 42);

    let b = Builder::new().name("worker".to_string()).stack_size(128 * 1024);
    assert!(format!("{b:?}").starts_with("Builder"));
    let (tx, rx) = mpsc::channel();
    let h = b
        .spawn(move || {
            let me = thread::current();
            tx.send((me.name().map(String::from), me.id())).unwrap();
            thread::park();
            "unparked"
        })
        .unwrap();
    let (name, id) = rx.recv().unwrap();
    assert_eq!(name.as_deref(), Some("worker"));
    assert_eq!(id, h.thread().id());
    assert!(!h.is_finished());
    assert!(format!("{:?}", h.thread()).contains("worker"));
    h.thread().clone().unpark();
    assert_eq!(h.join().unwrap(), "unparked");

    let panicked = thread::spawn(|| panic!("boom")).join().unwrap_err();
    assert_eq!(panicked.downcast_ref::<&str>(), Some(&"boom"));

    thread::sleep(Duration::from_millis(1));
    #[allow(deprecated)]
    thread::sleep_ms(1);
    thread::yield_now();
    thread::park_timeout(Duration::from_millis(1));
    #[allow(deprecated)]
    thread::park_timeout_ms(1);
    assert!(!thread::panicking());
    assert!(thread::available_parallelism().unwrap().get() >= 1);
    thread_local!(static N: std::cell::Cell<u8> = const { std::cell::Cell::new(3) });
    assert_eq!(N.with(|n| n.get()), 3);
}

#[guv::test]
fn scope_every_stable_item() {
    use std::thread::{self, Builder, Scope, ScopedJoinHandle};
    let mut data = vec![1, 2, 3];
    let total = thread::scope(|s: &Scope<'_, '_>| {
        assert!(green(s));
        assert!(format!("{s:?}").starts_with("Scope"));
        let h: ScopedJoinHandle<'_, i32> = s.spawn(|| data.iter().sum());
        assert!(green(&h));
        assert!(format!("{h:?}").starts_with("ScopedJoinHandle"));
        let named = Builder::new()
            .name("scoped".into())
            .spawn_scoped(s, || thread::current().name().map(String::from))
            .unwrap();
        assert_eq!(named.thread().name(), Some("scoped"));
        assert_eq!(named.join().unwrap().as_deref(), Some("scoped"));
        let v = h.join().unwrap();
        assert!(s.spawn(|| ()).join().is_ok());
        v
    });
    assert_eq!(total, 6);
    thread::scope(|s| {
        s.spawn(|| data.push(4));
    });
    assert_eq!(data, [1, 2, 3, 4]);
    let finished = thread::scope(|s| {
        let h = s.spawn(|| ());
        while !h.is_finished() {
            thread::yield_now();
        }
        h.is_finished()
    });
    assert!(finished);
}

#[guv::test]
fn time_is_std_plus_a_green_sleep() {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(2));
    assert!(start.elapsed() >= Duration::from_millis(2));
    assert!(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() > 0);
    // The sleep parked the greenlet: another one ran meanwhile.
    let other = guv::spawn(|| 1);
    std::thread::sleep(Duration::from_millis(1));
    assert!(other.is_finished());
}
