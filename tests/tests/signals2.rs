//! `guv::signal` and the rest of the process: what children inherit while
//! guv catches a signal, how faithfully guv's handler chains to the one it
//! replaced (its flags, its mask), and what happens to a handler whose hub
//! is gone.
//!
//! Every test changes a process-wide disposition, so each runs in a child
//! process of its own (the test binary re-run with `CHILD` set, the
//! `child_*` test only), and the parent checks that child's exit status;
//! the parents themselves run in parallel without touching signals.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guv::signal::{self, Signal, Signals};

/// Set in the child process: the `child_*` tests run only there.
const CHILD: &str = "GUV_SIGNALS2_CHILD";

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the child test `name` in a process of its own; its exit status and
/// output.
fn run_child(name: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status, text)
}

fn child_passes(name: &str, env: &[(&str, &str)]) {
    let (status, text) = run_child(name, env);
    assert!(status.success() && text.contains("1 passed"), "{status:?}\n{text}");
}

/// Sends `sig` to the calling thread: its handler has run (or its default
/// action was taken) when this returns.
fn raise(sig: libc::c_int) {
    // SAFETY: raise(3) with a valid signal number.
    assert_eq!(unsafe { libc::raise(sig) }, 0, "raise: {}", std::io::Error::last_os_error());
}

/// The action installed for `sig` now.
fn current(sig: libc::c_int) -> libc::sigaction {
    // SAFETY: a null new action only reads the current one into a zeroed
    // sigaction.
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut cur), 0);
        cur
    }
}

/// Installs `handler` for `sig` with `flags` and a mask of `mask`.
fn install(sig: libc::c_int, handler: libc::sighandler_t, flags: libc::c_int, mask: &[libc::c_int]) {
    // SAFETY: a complete sigaction built from a zeroed one; the handlers of
    // this file only touch atomics and make async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = flags;
        libc::sigemptyset(&mut action.sa_mask);
        for &m in mask {
            libc::sigaddset(&mut action.sa_mask, m);
        }
        assert_eq!(libc::sigaction(sig, &action, std::ptr::null_mut()), 0);
    }
}

/// The dispositions a child process starts with: its `SigIgn` and
/// `SigCgt` masks from `/proc/self/status` (bit `sig - 1` for `sig`).
fn child_masks(cmd: &mut Command) -> (u64, u64) {
    let out = cmd.arg("/proc/self/status").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mask = |key: &str| {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} in {text}"));
        u64::from_str_radix(line[key.len()..].trim(), 16).unwrap()
    };
    (mask("SigIgn:"), mask("SigCgt:"))
}

fn bit(sig: libc::c_int) -> u64 {
    1 << (sig - 1)
}

// ----- 1. children inherit the dispositions guv found -------------------

#[test]
fn child_children_inherit_a_signal_ignored_before_guv_caught_it() {
    if !in_child() {
        return;
    }
    // As under nohup: SIGHUP ignored when the program starts. SIGQUIT has
    // its default action (set here: a background job inherits it
    // ignored), SIGUSR2 a handler of the program's own.
    guv_tests::default_disposition(libc::SIGQUIT);
    // SAFETY: sets SIGHUP's disposition to SIG_IGN.
    assert_ne!(unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) }, libc::SIG_ERR);
    install(libc::SIGUSR2, counting_handler as *const () as libc::sighandler_t, 0, &[]);
    let signals = Signals::new([Signal::HUP, Signal::QUIT, Signal::USR2]).unwrap();
    // guv still delivers it: the program asked for it.
    raise(libc::SIGHUP);
    assert_eq!(signals.recv(), Signal::HUP);

    let expect = |what: &str, (ign, cgt): (u64, u64)| {
        assert_ne!(ign & bit(libc::SIGHUP), 0, "{what}: SIGHUP stays ignored in the child");
        assert_eq!(ign & bit(libc::SIGQUIT), 0, "{what}: SIGQUIT keeps its default");
        assert_eq!(ign & bit(libc::SIGUSR2), 0, "{what}: a handler becomes the default");
        assert_eq!(cgt & (bit(libc::SIGHUP) | bit(libc::SIGQUIT) | bit(libc::SIGUSR2)), 0, "{what}");
    };
    // std spawns with fork when there is a pre_exec hook: the fork handler
    // puts back what guv found.
    let mut forked = Command::new("cat");
    // SAFETY: the hook does nothing.
    unsafe { forked.pre_exec(|| Ok(())) };
    expect("fork", child_masks(&mut forked));
    // Without one, std uses posix_spawn, which has no hook: the child
    // inherits them when asked to.
    let mut spawned = Command::new("cat");
    signal::inherit_dispositions(&mut spawned);
    expect("posix_spawn", child_masks(&mut spawned));
    let mut green = guv::green::process::Command::new("cat");
    signal::inherit_dispositions(green.as_std_mut());
    let out = green.arg("/proc/self/status").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let ign = text.lines().find_map(|l| l.strip_prefix("SigIgn:")).unwrap();
    assert_ne!(u64::from_str_radix(ign.trim(), 16).unwrap() & bit(libc::SIGHUP), 0, "green: {text}");

    // And this process still catches it.
    raise(libc::SIGHUP);
    assert_eq!(signals.recv(), Signal::HUP);
    drop(signals);
    assert_eq!(current(libc::SIGHUP).sa_sigaction, libc::SIG_IGN, "ignored again");
}

#[test]
fn children_inherit_a_signal_ignored_before_guv_caught_it() {
    child_passes("child_children_inherit_a_signal_ignored_before_guv_caught_it", &[]);
}

/// The `SigIgn` and `SigCgt` masks of a child that a green `Command`
/// spawns (see [`child_masks`]).
fn green_child_masks(cmd: &mut guv::green::process::Command) -> (u64, u64) {
    let out = cmd.arg("/proc/self/status").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mask = |key: &str| {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} in {text}"));
        u64::from_str_radix(line[key.len()..].trim(), 16).unwrap()
    };
    (mask("SigIgn:"), mask("SigCgt:"))
}

#[test]
fn child_a_green_command_keeps_a_signal_ignored_before_guv_caught_it() {
    if !in_child() {
        return;
    }
    // SIGHUP ignored as under nohup, SIGUSR1 at its default (set here, not
    // inherited from whoever runs the tests); guv catches both.
    guv_tests::default_disposition(libc::SIGUSR1);
    // SAFETY: sets SIGHUP's disposition to SIG_IGN.
    assert_ne!(unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) }, libc::SIG_ERR);
    let signals = Signals::new([Signal::HUP, Signal::USR1]).unwrap();
    let expect = |what: &str, (ign, cgt): (u64, u64)| {
        assert_ne!(ign & bit(libc::SIGHUP), 0, "{what}: SIGHUP stays ignored in the child");
        assert_eq!(ign & bit(libc::SIGUSR1), 0, "{what}: SIGUSR1 keeps its default");
        assert_eq!(cgt & (bit(libc::SIGHUP) | bit(libc::SIGUSR1)), 0, "{what}");
    };
    // A std command, which guv cannot reach, spawns with posix_spawn: its
    // child loses "ignored" (what the green command used to do too).
    let (ign, _) = child_masks(&mut Command::new("cat"));
    assert_eq!(ign & bit(libc::SIGHUP), 0, "std's posix_spawn child");
    // The green one keeps it, without being asked: spawned, and run again.
    let mut green = guv::green::process::Command::new("cat");
    expect("green", green_child_masks(&mut green));
    expect("green, again", green_child_masks(&mut green));
    let from_std = Command::new("cat");
    expect(
        "green from std",
        green_child_masks(guv::green::process::Command::from(from_std).stdout(guv::green::process::Stdio::piped())),
    );
    // This process still catches it.
    raise(libc::SIGHUP);
    assert_eq!(signals.recv(), Signal::HUP);
    drop(signals);
    assert_eq!(current(libc::SIGHUP).sa_sigaction, libc::SIG_IGN, "ignored again");
    expect("green, after the registration", green_child_masks(&mut guv::green::process::Command::new("cat")));
}

#[test]
fn a_green_command_keeps_a_signal_ignored_before_guv_caught_it() {
    child_passes("child_a_green_command_keeps_a_signal_ignored_before_guv_caught_it", &[]);
}

// ----- 2. chaining to the previous handler ------------------------------

static CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn counting_handler(_sig: libc::c_int) {
    CALLS.fetch_add(1, Ordering::SeqCst);
}

/// The `si_code` of each SIGCHLD the previous handler saw (up to 8).
static CODES: [AtomicI32; 8] = [const { AtomicI32::new(0) }; 8];
static CODE_COUNT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn sigchld_recorder(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO.
    let code = unsafe { (*info).si_code };
    let n = CODE_COUNT.fetch_add(1, Ordering::SeqCst);
    if n < CODES.len() {
        CODES[n].store(code, Ordering::SeqCst);
    }
}

/// Waits (bounded) until `f` holds.
fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn child_sa_nocldstop_of_the_previous_sigchld_action_is_kept() {
    if !in_child() {
        return;
    }
    let recorder = sigchld_recorder as *const () as libc::sighandler_t;
    install(libc::SIGCHLD, recorder, libc::SA_SIGINFO | libc::SA_NOCLDSTOP | libc::SA_RESTART, &[]);
    let chld = Signals::new([Signal::CHLD]).unwrap();
    assert_ne!(current(libc::SIGCHLD).sa_flags & libc::SA_NOCLDSTOP, 0, "SA_NOCLDSTOP kept");
    // With GUV_NO_PIDFD, this wait installs the child watcher on top.
    assert!(guv::green::process::Command::new("true").status().unwrap().success());
    assert_ne!(current(libc::SIGCHLD).sa_flags & libc::SA_NOCLDSTOP, 0, "SA_NOCLDSTOP still kept");
    wait_until("the previous handler's call for `true`", || CODE_COUNT.load(Ordering::SeqCst) > 0);
    assert_eq!(chld.recv(), Signal::CHLD);
    CODE_COUNT.store(0, Ordering::SeqCst);
    // A child that stops, continues and is killed: with SA_NOCLDSTOP only
    // its end raises SIGCHLD.
    let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    // SAFETY: signals and waits for our own child.
    unsafe {
        assert_eq!(libc::kill(pid, libc::SIGSTOP), 0);
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, libc::WUNTRACED), pid);
        assert!(libc::WIFSTOPPED(status));
        assert_eq!(libc::kill(pid, libc::SIGCONT), 0);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(chld.recv(), Signal::CHLD);
    wait_until("the previous handler's call", || CODE_COUNT.load(Ordering::SeqCst) > 0);
    let n = CODE_COUNT.load(Ordering::SeqCst).min(CODES.len());
    let codes: Vec<i32> = CODES[..n].iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert!(codes.iter().all(|&c| c == libc::CLD_KILLED), "only the exit, no stop or continue: {codes:?}");
}

#[test]
fn sa_nocldstop_of_the_previous_sigchld_action_is_kept() {
    child_passes("child_sa_nocldstop_of_the_previous_sigchld_action_is_kept", &[]);
    // Where pidfds are not used, guv's child watcher installs its own
    // SIGCHLD handler over guv's, and keeps the flag too.
    child_passes("child_sa_nocldstop_of_the_previous_sigchld_action_is_kept", &[("GUV_NO_PIDFD", "1")]);
}

/// What the previous handler saw: its own signal blocked, SIGUSR2 (its
/// `sa_mask`) blocked, the siginfo's signal number and sender.
static SAW_SELF_BLOCKED: AtomicBool = AtomicBool::new(true);
static SAW_MASK_BLOCKED: AtomicBool = AtomicBool::new(false);
static SAW_SIGNO: AtomicI32 = AtomicI32::new(0);
static SAW_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn mask_recorder(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: reads this thread's mask into a zeroed set; the kernel passes
    // a valid siginfo with SA_SIGINFO.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
        SAW_SELF_BLOCKED.store(libc::sigismember(&set, sig) == 1, Ordering::SeqCst);
        SAW_MASK_BLOCKED.store(libc::sigismember(&set, libc::SIGUSR2) == 1, Ordering::SeqCst);
        SAW_SIGNO.store((*info).si_signo, Ordering::SeqCst);
        SAW_PID.store((*info).si_pid(), Ordering::SeqCst);
    }
    CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn child_the_previous_handler_runs_with_its_mask_flags_and_siginfo() {
    if !in_child() {
        return;
    }
    let recorder = mask_recorder as *const () as libc::sighandler_t;
    // SA_NODEFER: the handler does not block its own signal; sa_mask
    // blocks SIGUSR2 while it runs; no SA_RESTART.
    install(libc::SIGUSR1, recorder, libc::SA_SIGINFO | libc::SA_NODEFER, &[libc::SIGUSR2]);
    let signals = Signals::new([Signal::USR1]).unwrap();
    let cur = current(libc::SIGUSR1);
    assert_eq!(cur.sa_flags & libc::SA_RESTART, 0, "the previous handler did not ask for restarts");
    raise(libc::SIGUSR1);
    assert_eq!(signals.recv(), Signal::USR1);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    assert!(SAW_MASK_BLOCKED.load(Ordering::SeqCst), "its sa_mask is blocked while it runs");
    assert!(!SAW_SELF_BLOCKED.load(Ordering::SeqCst), "SA_NODEFER: its own signal is not blocked");
    assert_eq!(SAW_SIGNO.load(Ordering::SeqCst), libc::SIGUSR1, "SA_SIGINFO: it gets the siginfo");
    // SAFETY: getpid has no preconditions.
    assert_eq!(SAW_PID.load(Ordering::SeqCst), unsafe { libc::getpid() });

    // No SA_RESTART: a blocking read in another thread ends with EINTR
    // when the signal lands there, as it did before guv caught it.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two fds.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        let mut byte = 0u8;
        // SAFETY: reads one byte into a live buffer.
        let n = unsafe { libc::read(fds[0], (&raw mut byte).cast(), 1) };
        (n, std::io::Error::last_os_error().raw_os_error())
    });
    let thread = rx.recv().unwrap();
    // The signal may land before the read starts: send until it ends,
    // then (if it never did) give it a byte, which the test rejects.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !reader.is_finished() && Instant::now() < deadline {
        // SAFETY: the reader thread is alive (not finished).
        unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
        std::thread::sleep(Duration::from_millis(20));
    }
    if !reader.is_finished() {
        // SAFETY: writes one byte from a live buffer.
        unsafe { libc::write(fds[1], (&raw const fds).cast(), 1) };
    }
    let (n, errno) = reader.join().unwrap();
    assert_eq!((n, errno), (-1, Some(libc::EINTR)), "the read was interrupted, not restarted");
}

#[test]
fn the_previous_handler_runs_with_its_mask_flags_and_siginfo() {
    child_passes("child_the_previous_handler_runs_with_its_mask_flags_and_siginfo", &[]);
}

#[test]
fn child_a_one_shot_previous_handler_runs_once() {
    if !in_child() {
        return;
    }
    install(libc::SIGUSR2, counting_handler as *const () as libc::sighandler_t, libc::SA_RESETHAND, &[]);
    let signals = Signals::new([Signal::USR2]).unwrap();
    raise(libc::SIGUSR2);
    assert_eq!(signals.recv(), Signal::USR2);
    raise(libc::SIGUSR2);
    assert_eq!(signals.recv(), Signal::USR2);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1, "SA_RESETHAND: called for the first delivery only");
    drop(signals);
    // Its first call reset it: what comes back is the default.
    assert_eq!(current(libc::SIGUSR2).sa_sigaction, libc::SIG_DFL);
}

#[test]
fn a_one_shot_previous_handler_runs_once() {
    child_passes("child_a_one_shot_previous_handler_runs_once", &[]);
}

// ----- 3. a handler whose hub is gone -----------------------------------

#[test]
fn child_a_leaked_handler_goes_with_its_thread() {
    if !in_child() {
        return;
    }
    guv_tests::default_disposition(libc::SIGINT);
    std::thread::spawn(|| {
        let ran = Rc::new(guv::Event::new());
        let r = ran.clone();
        let h = signal::handler(Signal::INT, move || r.set()).unwrap();
        raise(libc::SIGINT);
        ran.wait();
        std::mem::forget(h);
    })
    .join()
    .unwrap();
    // The hub is gone with its thread, and the registration with it: the
    // first Ctrl-C kills again.
    eprintln!("thread ended; sending SIGINT");
    raise(libc::SIGINT);
    eprintln!("survived SIGINT");
}

#[test]
fn a_leaked_handler_goes_with_its_thread() {
    let (status, text) = run_child("child_a_leaked_handler_goes_with_its_thread", &[]);
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}\n{text}");
    assert!(text.contains("thread ended; sending SIGINT"), "{text}");
}

// ----- 4. the self-pipe -------------------------------------------------

/// The pipes this process holds open, as `/proc` names them
/// (`pipe:[inode]`).
fn open_pipes() -> Vec<String> {
    let mut pipes: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with("pipe:"))
        .collect();
    pipes.sort();
    pipes.dedup();
    pipes
}

#[test]
fn child_children_do_not_inherit_the_self_pipes() {
    if !in_child() {
        return;
    }
    let before = open_pipes();
    let _signals = Signals::new([Signal::USR1]).unwrap();
    let guvs: Vec<String> = open_pipes().into_iter().filter(|p| !before.contains(p)).collect();
    assert!(!guvs.is_empty(), "the first registration opens the self-pipe");
    let mut forked = Command::new("sh");
    // SAFETY: the hook does nothing.
    unsafe { forked.pre_exec(|| Ok(())) };
    for cmd in [&mut Command::new("sh"), &mut forked] {
        let out = cmd.args(["-c", "ls -l /proc/$$/fd"]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("pipe:"), "the child's stdout at least: {text}");
        for pipe in &guvs {
            assert!(!text.contains(pipe.as_str()), "{pipe} leaked into the child:\n{text}");
        }
    }
}

#[test]
fn children_do_not_inherit_the_self_pipes() {
    child_passes("child_children_do_not_inherit_the_self_pipes", &[]);
}
