//! guv::tpool through the public API.

use std::sync::mpsc;
use std::time::Duration;

use guv_tests::Log;

#[test]
fn execute_returns_the_value_while_other_greenlets_run() {
    let (tx, rx) = mpsc::channel::<&str>();
    let log = Log::new();
    let l2 = log.clone();
    // The pool job can only finish once this greenlet has run: proof that
    // the hub kept going while the caller waited.
    guv::spawn_n(move || {
        l2.push("greenlet ran");
        tx.send("go").unwrap();
    });
    let v = guv::tpool::execute(move || rx.recv_timeout(Duration::from_secs(10)).map(|s| s.len()));
    log.push("execute returned");
    assert_eq!(v, Ok(2));
    assert_eq!(log.take(), ["greenlet ran", "execute returned"]);
}

#[test]
fn a_panic_in_the_pool_is_raised_in_the_caller() {
    guv::debug::hub_exceptions(false);
    let gt = guv::spawn(|| guv::tpool::execute(|| -> u8 { panic!("pool panic") }));
    let e = gt.wait().unwrap_err();
    assert_eq!(e.panic_message(), Some("pool panic"));
    // The pool still works.
    assert_eq!(guv::tpool::execute(|| 5), 5);
}

#[test]
fn many_greenlets_share_the_pool() {
    let gts: Vec<_> = (0..50u64).map(|i| guv::spawn(move || guv::tpool::execute(move || i * i))).collect();
    let sum: u64 = gts.into_iter().map(|g| g.wait().unwrap()).sum();
    assert_eq!(sum, (0..50u64).map(|i| i * i).sum());
    assert!(guv::tpool::threads() <= guv::tpool::size());
}

#[test]
fn killing_a_waiting_caller_does_not_hang_or_lose_the_pool() {
    let (tx, rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<u32>();
    let gt = guv::spawn(move || {
        guv::tpool::execute(move || {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
            done_tx.send(1).unwrap();
            1
        })
    });
    guv::gyield();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    tx.send(()).unwrap();
    // The job still ran to completion on its thread.
    assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
    assert_eq!(guv::tpool::execute(|| 3), 3);
}

#[test]
fn with_timeout_bounds_a_pool_wait() {
    let r = guv::with_timeout(Duration::from_millis(20), || {
        guv::tpool::execute(|| std::thread::sleep(Duration::from_millis(300)))
    });
    assert!(r.unwrap_err().is_timed_out());
}

/// Pool size from the environment and the API, in a child process (the
/// pool is process-wide).
#[test]
fn pool_size_from_env_and_api() {
    if std::env::var_os("GUV_TPOOL_CHILD").is_some() {
        let expect: usize = std::env::var("GUV_EXPECT_SIZE").unwrap().parse().unwrap();
        assert_eq!(guv::tpool::size(), expect);
        if expect != 3 {
            return;
        }
        // Six blocking jobs on three threads: only three threads start.
        // The jobs block until all six are submitted (a job that ended
        // before the next submit would leave an idle worker to reuse).
        let gate = std::sync::Arc::new(std::sync::RwLock::new(()));
        let closed = gate.write().unwrap();
        let gts: Vec<_> = (0..6)
            .map(|_| {
                let gate = gate.clone();
                guv::spawn(move || guv::tpool::execute(move || drop(gate.read().unwrap())))
            })
            .collect();
        guv::gyield(); // each greenlet submits its job and parks
        assert_eq!(guv::tpool::threads(), 3);
        drop(closed);
        for g in gts {
            g.wait().unwrap();
        }
        assert_eq!(guv::tpool::threads(), 3);
        guv::tpool::set_size(5).unwrap();
        assert_eq!(guv::tpool::size(), 5);
        assert_eq!(guv::tpool::set_size(0).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        return;
    }
    // An unusable value falls back to the default.
    for (value, expect) in [("3", "3"), ("0", "20"), ("many", "20")] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "pool_size_from_env_and_api", "--test-threads=1"])
            .env("GUV_TPOOL_CHILD", "1")
            .env("GUV_THREADPOOL_SIZE", value)
            .env("GUV_EXPECT_SIZE", expect)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{value}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
}

#[test]
fn default_size() {
    assert_eq!(guv::tpool::DEFAULT_SIZE, 20);
    if std::env::var_os("GUV_THREADPOOL_SIZE").is_none() {
        assert_eq!(guv::tpool::size(), 20);
    }
}
