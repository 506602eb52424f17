//! The deadlock check when the last remote handle goes away late: a hub
//! whose main greenlet waits on something only its own thread could end,
//! while another thread still holds a `Handle`, must not report "would block
//! forever" yet (that thread could still send work) — and once that thread
//! drops its handle *after* the hub went to sleep, the hub must notice and
//! report, instead of sleeping for ever.

use std::sync::mpsc;
use std::time::Duration;

/// Whether thread `tid` of this process is asleep in an epoll wait (its
/// current system call, from `/proc`: `epoll_wait`, `epoll_pwait` or
/// `epoll_pwait2` on x86-64 and aarch64).
fn asleep_in_epoll(tid: libc::pid_t) -> bool {
    let Ok(syscall) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
        return false;
    };
    let nr = syscall.split_whitespace().next().and_then(|n| n.parse::<i64>().ok());
    #[cfg(target_arch = "x86_64")]
    let epoll = [232, 281, 441];
    #[cfg(not(target_arch = "x86_64"))]
    let epoll = [22, 441];
    nr.is_some_and(|n| epoll.contains(&n))
}

/// On a new thread with a hub, hands the hub's `Handle` to `dropper`
/// (given the thread's id), which runs on a thread of its own, while the
/// main greenlet waits on an event nothing sets; returns what that wait
/// ended with (the panic message), or panics if none came within 30 s.
fn wait_while_a_thread_drops_the_handle(
    dropper: impl FnOnce(guv::hub::Handle, libc::pid_t) + Send + 'static,
) -> String {
    let (report, reported) = mpsc::channel();
    let hub_thread = std::thread::spawn(move || {
        let handle = guv::hub::Handle::current();
        // "/proc/thread-self" links to "<pid>/task/<tid>".
        let link = std::fs::read_link("/proc/thread-self").unwrap();
        let tid: libc::pid_t = link.file_name().unwrap().to_str().unwrap().parse().unwrap();
        let dropper = std::thread::spawn(move || dropper(handle, tid));
        let message = guv_tests::deadlock_report();
        dropper.join().unwrap();
        report.send(message).unwrap();
    });
    let message = reported.recv_timeout(Duration::from_secs(30)).expect("the hub slept for ever: no deadlock report");
    hub_thread.join().unwrap();
    message
}

#[test]
fn a_handle_dropped_on_another_thread_after_the_hub_slept_lets_the_deadlock_report_come() {
    // The other thread keeps the handle until the hub is asleep with
    // nothing else to wake it, then drops it.
    let message = wait_while_a_thread_drops_the_handle(|handle, tid| {
        while !asleep_in_epoll(tid) {
            std::thread::yield_now();
        }
        drop(handle);
    });
    assert!(message.contains("would block forever"), "{message:?}");
}

/// The drop racing the hub on its way to sleep: in each round another
/// thread drops the handle after a different number of yields, so that it
/// lands before, during and after the hub's last check. Every round must
/// end in the report (a lost wake-up sleeps for ever and times out here).
#[test]
fn a_handle_dropped_while_the_hub_goes_to_sleep_never_loses_the_report() {
    for round in 0..200u32 {
        let message = wait_while_a_thread_drops_the_handle(move |handle, _| {
            for _ in 0..round % 50 {
                std::thread::yield_now();
            }
            drop(handle);
        });
        assert!(message.contains("would block forever"), "round {round}: {message:?}");
    }
}
