//! `guv::signal`: real signals sent to this process with `kill(2)`.
//!
//! Signals are process-wide and the tests of this file run in parallel
//! threads of one process, so each in-process test uses a signal of its own
//! (a real-time one, `SIGRTMIN + n`), and sends it only while it is
//! registered for it. What changes `SIGINT`/`SIGTERM` or checks that a
//! default disposition is restored (a restored `SIGUSR1` kills the process)
//! runs in a child process: the test binary re-run with `CHILD` set, whose
//! exit status the parent checks.

use std::cell::{Cell, RefCell};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use guv::signal::{self, Signal, Signals};

/// Set in the child process: the `child_*` tests run only there.
const CHILD: &str = "GUV_SIGNALS_CHILD";

/// This test's own real-time signal.
fn rt(n: i32) -> Signal {
    Signal::new(libc::SIGRTMIN() + n).unwrap()
}

/// Sends `sig` to this process.
fn send(sig: impl Into<libc::c_int>) {
    let sig = sig.into();
    // SAFETY: kill(2) with our own pid and a valid signal number.
    let rc = unsafe { libc::kill(libc::getpid(), sig) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// Sends `sig` to the calling thread: unlike a signal sent to the
/// process, which the kernel may hand to another thread a little later, it
/// is delivered (its handler run, or its default action taken) before this
/// returns.
fn raise(sig: impl Into<libc::c_int>) {
    let sig = sig.into();
    // SAFETY: raise(3) with a valid signal number.
    let rc = unsafe { libc::raise(sig) };
    assert_eq!(rc, 0, "raise: {}", std::io::Error::last_os_error());
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the child test `name` in a process of its own and returns its exit
/// status and output.
fn run_child(name: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--test-threads=1", "--nocapture"]).env(CHILD, "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status, text)
}

/// Asserts that the child test `name` passed.
fn child_passes(name: &str, env: &[(&str, &str)]) {
    let (status, text) = run_child(name, env);
    assert!(status.success() && text.contains("1 passed"), "{status:?}\n{text}");
}

/// Asserts that the child test `name` was killed by `sig` right after it
/// printed `marker`, the last line before it sends `sig` to itself.
fn child_dies_of(name: &str, sig: libc::c_int, marker: &str) {
    let (status, text) = run_child(name, &[]);
    assert_eq!(status.signal(), Some(sig), "{status:?}\n{text}");
    assert!(text.contains(marker), "{text}");
}

#[test]
fn a_parked_greenlet_wakes_on_its_signal_while_the_others_run() {
    let sig = rt(0);
    let signals = Signals::new([sig]).unwrap();
    let waiter = guv::spawn(move || signals.recv());
    guv::gyield(); // it parks in recv
    assert!(!waiter.is_finished());
    // The thread is not blocked: other greenlets run to their end while
    // the waiter stays parked.
    let steps = Rc::new(Cell::new(0));
    let s = steps.clone();
    let worker = guv::spawn(move || {
        for _ in 0..10 {
            s.set(s.get() + 1);
            guv::gyield();
        }
    });
    worker.wait().unwrap();
    assert_eq!(steps.get(), 10);
    assert!(!waiter.is_finished(), "no signal yet");
    send(sig);
    assert_eq!(waiter.wait().unwrap(), sig);
}

#[test]
fn each_registration_sees_each_delivery_and_several_signals_queue_in_order() {
    let (a, b) = (rt(1), rt(2));
    let one = Signals::new([a, b]).unwrap();
    let two = Signals::new([a]).unwrap();
    assert_eq!(one.try_recv(), None);
    send(b);
    assert_eq!(one.recv(), b);
    assert_eq!(two.try_recv(), None, "not registered for b");
    send(a);
    assert_eq!(two.recv(), a);
    assert_eq!(one.recv(), a);
    // Both pending at once: the lower number first, then the other.
    send(b);
    send(a);
    let got = [one.recv(), one.recv()];
    assert!(got == [a, b] || got == [b, a], "{got:?}");
    assert_eq!(two.recv(), a);
}

#[test]
fn two_hubs_on_two_threads_both_see_one_delivery() {
    let sig = rt(3);
    let registered = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let registered = registered.clone();
            std::thread::spawn(move || {
                let signals = Signals::new([sig]).unwrap();
                registered.wait();
                // The thread's main greenlet parks; its hub sleeps in the
                // poller until the signal thread wakes it.
                let got = signals.recv();
                (got, signals.try_recv(), guv::hub::Handle::current().id())
            })
        })
        .collect();
    registered.wait();
    send(sig);
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (got, more, _) in &results {
        assert_eq!(*got, sig);
        assert_eq!(*more, None, "one delivery, received once per registration");
    }
    assert_ne!(results[0].2, results[1].2, "two hubs");
}

#[test]
fn greenlets_of_two_hubs_may_share_one_registration() {
    let sig = rt(4);
    let signals = Arc::new(Signals::new([sig]).unwrap());
    // A greenlet of another hub receives from the registration made here.
    let s = signals.clone();
    let other = std::thread::spawn(move || s.recv());
    send(sig);
    assert_eq!(other.join().unwrap(), sig);
    assert_eq!(signals.try_recv(), None, "received once");
    // And this hub's main greenlet, for a delivery sent from a plain thread.
    std::thread::spawn(move || send(sig));
    assert_eq!(signals.recv(), sig);
}

#[test]
fn the_handler_runs_in_new_greenlets_on_the_registering_hub() {
    let sig = rt(5);
    // Tells this thread when a delivery has been dispatched.
    let watch = Signals::new([sig]).unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let hub = std::thread::spawn(move || {
        let me = (std::thread::current().id(), guv::hub::Handle::current().id());
        let runs: Rc<RefCell<Vec<_>>> = Rc::default();
        let release = Rc::new(guv::Event::new());
        let second = Rc::new(guv::Event::new());
        let (r, rel, sec) = (runs.clone(), release.clone(), second.clone());
        let h = signal::handler(sig, move || {
            let n = r.borrow().len();
            r.borrow_mut().push((std::thread::current().id(), guv::hub::Handle::current().id()));
            if n == 0 {
                // The first run blocks: the second delivery must get a
                // greenlet of its own.
                rel.wait();
            } else {
                sec.set();
            }
        })
        .unwrap();
        assert_eq!(h.signal(), sig);
        ready_tx.send(()).unwrap();
        // The main greenlet parks; the registration keeps the hub from
        // reporting a deadlock while a signal may still come.
        second.wait();
        let both = runs.borrow().clone();
        release.set();
        guv::gyield(); // the first run ends
        h.cancel();
        (me, both)
    });
    ready_rx.recv().unwrap();
    send(sig);
    // Dispatched (so the first run is on its way) before the second send:
    // two dispatches, two runs.
    assert_eq!(watch.recv(), sig);
    send(sig);
    let (me, runs) = hub.join().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| *r == me), "every run on the registering hub's thread: {runs:?} vs {me:?}");
}

#[test]
fn a_handler_that_panics_ends_only_its_run() {
    let sig = rt(6);
    guv::debug::hub_exceptions(false);
    let watch = Signals::new([sig]).unwrap();
    let done = Rc::new(guv::Event::new());
    let count = Rc::new(Cell::new(0));
    let (d, c) = (done.clone(), count.clone());
    let _h = signal::handler(sig, move || {
        c.set(c.get() + 1);
        if c.get() == 1 {
            panic!("first run fails");
        }
        d.set();
    })
    .unwrap();
    send(sig);
    assert_eq!(watch.recv(), sig); // dispatched: the second send is another delivery
    send(sig);
    done.wait();
    assert_eq!(count.get(), 2);
}

#[test]
fn a_timeout_ends_recv_and_loses_nothing() {
    let sig = rt(7);
    let signals = Signals::new([sig]).unwrap();
    let r = guv::with_timeout(Duration::from_millis(10), || signals.recv());
    assert!(r.unwrap_err().is_timed_out());
    assert_eq!(signals.recv_timeout(Duration::from_millis(5)), None);
    {
        let _t = guv::Timeout::start(Duration::from_secs(60));
        send(sig);
        assert_eq!(signals.recv(), sig, "within the Timeout");
    }
    // A delivery while nobody waits stays until received.
    send(sig);
    assert_eq!(signals.recv_timeout(Duration::from_secs(30)), Some(sig));
}

#[test]
fn a_greenlet_killed_in_recv_loses_nothing_for_the_other_receivers() {
    let sig = rt(8);
    let a = Rc::new(Signals::new([sig]).unwrap());
    let b = Rc::new(Signals::new([sig]).unwrap());
    let spawn_recv = |s: &Rc<Signals>| {
        let s = s.clone();
        guv::spawn(move || s.recv())
    };
    // Two receivers of `a`, one of them killed while parked; one of `b`.
    let (a1, a2, b1) = (spawn_recv(&a), spawn_recv(&a), spawn_recv(&b));
    guv::gyield(); // all three park
    a1.kill();
    assert!(a1.wait().unwrap_err().is_killed());
    send(sig);
    assert_eq!(a2.wait().unwrap(), sig, "the living receiver of a gets it");
    assert_eq!(b1.wait().unwrap(), sig);
    assert_eq!((a.try_recv(), b.try_recv()), (None, None));

    // A receiver killed once the delivery may already have woken it:
    // either it took the signal, or the registration still holds it.
    let (a3, b2) = (spawn_recv(&a), spawn_recv(&b));
    guv::gyield();
    send(sig);
    assert_eq!(b2.wait().unwrap(), sig);
    a3.kill();
    match a3.wait() {
        Ok(got) => assert_eq!(got, sig),
        Err(e) => {
            assert!(e.is_killed(), "{e:?}");
            assert_eq!(a.recv(), sig, "the signal a killed receiver was woken for stays pending");
        }
    }
}

#[test]
fn refused_signals_are_invalid_input_errors_that_say_why() {
    let cases = [
        (libc::SIGKILL, "SIGKILL", "cannot be caught"),
        (libc::SIGSTOP, "SIGSTOP", "cannot be caught"),
        (libc::SIGSEGV, "SIGSEGV", "stack-overflow"),
        (libc::SIGBUS, "SIGBUS", "stack-overflow"),
        (libc::SIGILL, "SIGILL", "fault"),
        (libc::SIGFPE, "SIGFPE", "fault"),
        (0, "0", "out of range"),
        (-1, "-1", "out of range"),
        (libc::SIGRTMAX() + 1, "65", "out of range"),
        (32, "32", "reserved"),
    ];
    for (raw, name, why) in cases {
        for err in
            [Signal::new(raw).unwrap_err(), Signals::new([raw]).unwrap_err(), signal::handler(raw, || ()).unwrap_err()]
        {
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{raw}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(name) && msg.contains(why), "{raw}: {msg}");
        }
    }
    // A refused signal among good ones registers nothing.
    let err = Signals::new([libc::SIGRTMIN() + 9, libc::SIGKILL]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let none: [Signal; 0] = [];
    assert_eq!(Signals::new(none).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

// ----- in child processes ----------------------------------------------

#[test]
fn child_dropping_signals_restores_the_default() {
    if !in_child() {
        return;
    }
    let signals = Signals::new([Signal::USR1]).unwrap();
    raise(Signal::USR1);
    assert_eq!(signals.recv(), Signal::USR1, "caught while registered");
    drop(signals);
    eprintln!("dropped; sending SIGUSR1");
    raise(Signal::USR1);
    eprintln!("survived SIGUSR1");
}

#[test]
fn dropping_the_last_signals_restores_the_default_disposition() {
    child_dies_of("child_dropping_signals_restores_the_default", libc::SIGUSR1, "dropped; sending SIGUSR1");
}

#[test]
fn child_cancelling_a_handler_restores_the_default() {
    if !in_child() {
        return;
    }
    let ran = Rc::new(guv::Event::new());
    let r = ran.clone();
    let h = signal::handler(Signal::USR1, move || r.set()).unwrap();
    raise(Signal::USR1);
    ran.wait();
    h.cancel();
    eprintln!("cancelled; sending SIGUSR1");
    raise(Signal::USR1);
    eprintln!("survived SIGUSR1");
}

#[test]
fn cancelling_the_last_handler_restores_the_default_disposition() {
    child_dies_of("child_cancelling_a_handler_restores_the_default", libc::SIGUSR1, "cancelled; sending SIGUSR1");
}

#[test]
fn child_only_the_last_registration_restores() {
    if !in_child() {
        return;
    }
    let ran = Rc::new(guv::Event::new());
    let r = ran.clone();
    let h = signal::handler(Signal::USR2, move || r.set()).unwrap();
    let signals = Signals::new([Signal::USR2]).unwrap();
    drop(h);
    raise(Signal::USR2); // still caught: `signals` remains
    assert_eq!(signals.recv(), Signal::USR2);
    assert!(!ran.is_set(), "the dropped handler never runs");
    let again = Signals::new([Signal::USR2]).unwrap();
    drop(signals);
    raise(Signal::USR2);
    assert_eq!(again.recv(), Signal::USR2);
    drop(again);
    eprintln!("all gone; sending SIGUSR2");
    raise(Signal::USR2);
    eprintln!("survived SIGUSR2");
}

#[test]
fn the_default_comes_back_only_with_the_last_registration() {
    child_dies_of("child_only_the_last_registration_restores", libc::SIGUSR2, "all gone; sending SIGUSR2");
}

#[test]
fn child_sigint_and_sigterm_stop_gracefully_then_kill_again() {
    if !in_child() {
        return;
    }
    guv_tests::default_disposition(libc::SIGINT);
    // gunicorn's worker: a SIGTERM stops the serving loop cleanly.
    let stop = Rc::new(guv::Event::new());
    let s = stop.clone();
    let term = signal::handler(Signal::TERM, move || s.set()).unwrap();
    let served = Rc::new(Cell::new(0));
    let sv = served.clone();
    let st = stop.clone();
    let server = guv::spawn(move || {
        while !st.is_set() {
            sv.set(sv.get() + 1);
            guv::gyield();
        }
    });
    guv::gyield();
    raise(Signal::TERM);
    server.wait().unwrap();
    assert!(served.get() > 0);
    term.cancel();
    let ints = Signals::new([Signal::INT]).unwrap();
    raise(Signal::INT);
    assert_eq!(ints.recv(), Signal::INT);
    drop(ints);
    eprintln!("stopped gracefully; sending SIGINT");
    raise(Signal::INT);
    eprintln!("survived SIGINT");
}

#[test]
fn sigterm_and_sigint_are_caught_while_registered_and_kill_again_after() {
    child_dies_of(
        "child_sigint_and_sigterm_stop_gracefully_then_kill_again",
        libc::SIGINT,
        "stopped gracefully; sending SIGINT",
    );
}

/// Counts the calls of a handler installed with plain `sigaction`.
static PREVIOUS_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn previous_handler(_sig: libc::c_int) {
    PREVIOUS_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn child_a_previous_handler_is_chained_to_and_restored() {
    if !in_child() {
        return;
    }
    // SAFETY: installs a handler that only touches an atomic.
    let old = unsafe { libc::signal(libc::SIGHUP, previous_handler as *const () as libc::sighandler_t) };
    assert_ne!(old, libc::SIG_ERR);
    // SAFETY: as above; SIGWINCH ignored beforehand.
    let old = unsafe { libc::signal(libc::SIGWINCH, libc::SIG_IGN) };
    assert_ne!(old, libc::SIG_ERR);
    let signals = Signals::new([Signal::HUP, Signal::WINCH]).unwrap();
    raise(Signal::HUP);
    assert_eq!(signals.recv(), Signal::HUP);
    assert_eq!(PREVIOUS_CALLS.load(Ordering::SeqCst), 1, "guv's handler calls the one before it");
    raise(Signal::WINCH);
    assert_eq!(signals.recv(), Signal::WINCH);
    drop(signals);
    raise(Signal::HUP);
    assert_eq!(PREVIOUS_CALLS.load(Ordering::SeqCst), 2, "the previous handler is back");
    raise(Signal::WINCH); // ignored again
    let current = |sig: libc::c_int| {
        // SAFETY: reads the current action into a zeroed sigaction.
        unsafe {
            let mut cur: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut cur), 0);
            cur.sa_sigaction
        }
    };
    assert_eq!(current(libc::SIGHUP), previous_handler as *const () as libc::sighandler_t);
    // SIGWINCH's default action is to ignore it too, so the raise above
    // cannot tell SIG_IGN from SIG_DFL: the disposition itself can.
    assert_eq!(current(libc::SIGWINCH), libc::SIG_IGN, "SIG_IGN is put back, not SIG_DFL");
}

#[test]
fn a_previous_handler_is_chained_to_while_registered_and_restored_after() {
    child_passes("child_a_previous_handler_is_chained_to_and_restored", &[]);
}

#[test]
fn child_sigchld_is_shared_with_the_child_watcher() {
    if !in_child() {
        return;
    }
    use guv::green::process::Command;
    let chld = Signals::new([Signal::CHLD]).unwrap();
    // GUV_NO_PIDFD: this wait installs guv's child watcher, after (and so
    // chaining to) the handler of `chld`.
    assert!(Command::new("true").status().unwrap().success());
    assert_eq!(chld.recv(), Signal::CHLD);
    drop(chld);
    // The watcher's handler is the installed one now and stays; child
    // waits still work, and a new registration still sees SIGCHLD.
    assert!(Command::new("true").status().unwrap().success());
    let again = Signals::new([Signal::CHLD]).unwrap();
    assert!(Command::new("true").status().unwrap().success());
    assert_eq!(again.recv(), Signal::CHLD);
}

#[test]
fn sigchld_is_shared_with_the_child_watcher() {
    child_passes("child_sigchld_is_shared_with_the_child_watcher", &[("GUV_NO_PIDFD", "1")]);
}

#[test]
fn child_sigchld_is_refused_while_ignored() {
    if !in_child() {
        return;
    }
    // SAFETY: sets SIGCHLD's disposition to SIG_IGN.
    assert_ne!(unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) }, libc::SIG_ERR);
    let err = Signals::new([Signal::CHLD]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("SIGCHLD"), "{err}");
}

#[test]
fn sigchld_is_refused_while_ignored() {
    child_passes("child_sigchld_is_refused_while_ignored", &[]);
}
