//! Helpers shared by guv's integration tests (`tests/tests/*.rs`).

use std::cell::RefCell;
use std::rc::Rc;

/// An ordered log of events, shared between greenlets of one thread.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    /// A new empty log.
    pub fn new() -> Log {
        Log::default()
    }

    /// Appends an event.
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    /// Everything logged so far.
    pub fn take(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// The message of a caught panic (a `String` or `&str` payload).
pub fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// How a wait on an event nothing will set ends on this thread's hub: its
/// deadlock report's message ("... would block forever ..."), or "the wait
/// returned". For tests that nothing left behind (a remote handle, an I/O
/// waiter) still claims it could wake the hub; the caller watches for a
/// hang from another thread.
pub fn deadlock_report() -> String {
    let never = guv::Event::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| never.wait()));
    outcome.map_or_else(panic_message, |()| "the wait returned".to_owned())
}

/// Kills `g` (parked in the wait under test), checks that it ended killed,
/// then gives [`deadlock_report`].
pub fn kill_then_deadlock_report<T: 'static>(g: guv::GreenThread<T>) -> String {
    g.kill();
    assert!(matches!(g.wait(), Err(guv::Error::Killed)), "the greenlet did not end killed");
    deadlock_report()
}

/// Puts `sig`'s disposition back to the default in this process, for a
/// child test that expects to die of it. A process started from a
/// background job of a non-interactive shell (a CI runner's, say) inherits
/// SIGINT and SIGQUIT ignored, and guv rightly restores what it found once
/// the last registration goes. Call it before anything in the process installs a
/// handler for `sig`.
pub fn default_disposition(sig: libc::c_int) {
    // SAFETY: signal(2) with SIG_DFL; the caller's process has no handler
    // of its own for `sig` that this could cut off.
    let previous = unsafe { libc::signal(sig, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR, "signal({sig}): {}", std::io::Error::last_os_error());
}

/// An I/O result as the twin tests compare it: `ok`, or the error's kind.
pub fn io_kind<T>(r: &std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?}", e.kind()),
    }
}

/// An I/O result as the twin tests compare it in full: `Ok(value)`, or the
/// error's kind and errno.
pub fn io_result<T: std::fmt::Debug>(r: &std::io::Result<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, {:?})", e.kind(), e.raw_os_error()),
    }
}

/// Re-runs this test binary for the test `name` alone, in a child process
/// whose role ([`child_role`]) is `role`: for cases that must not take the
/// test binary down (aborts, resource limits).
pub fn run_child(name: &str, role: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("GUV_TEST_CHILD", role)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the test binary as a child")
}

/// A child run of this test binary, as [`run_child`] starts one, whose
/// standard output is read line by line as it comes: for a child that
/// reports as it goes (its port, its log) while the parent drives it.
/// Killed and reaped when dropped, however the test ends.
pub struct ChildLines {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ChildLines {
    /// Starts the test `name` alone in a child process with role `role`.
    pub fn spawn(name: &str, role: &str) -> ChildLines {
        ChildLines::start(name, role, std::process::Stdio::inherit())
    }

    /// [`ChildLines::spawn`] with the child's standard input a pipe that
    /// stays open and empty until the child is dropped: for a child that
    /// waits for input that does not come.
    pub fn spawn_with_idle_stdin(name: &str, role: &str) -> ChildLines {
        ChildLines::start(name, role, std::process::Stdio::piped())
    }

    fn start(name: &str, role: &str, stdin: std::process::Stdio) -> ChildLines {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary's path"))
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env("GUV_TEST_CHILD", role)
            .env("RUST_BACKTRACE", "0")
            .stdin(stdin)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run the test binary as a child");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        ChildLines { child, lines, seen: Vec::new() }
    }

    /// Waits (30 s at most) for a line that contains `prefix`; returns it
    /// from `prefix` on (the harness's "test ... " may come first on the
    /// line). Panics with every line seen so far if none comes.
    pub fn next(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(std::time::Duration::from_secs(30)) {
                Ok(line) => match line.find(prefix) {
                    Some(at) => return line[at..].to_string(),
                    None => self.seen.push(line),
                },
                Err(e) => panic!("no line `{prefix}...` from the child ({e}); it printed {:?}", self.seen),
            }
        }
    }

    /// Waits for the child to exit (std closes its standard input first, if
    /// a pipe); whether it succeeded.
    pub fn success(&mut self) -> bool {
        self.child.wait().expect("wait for the child").success()
    }
}

impl Drop for ChildLines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines logged so far under the servers' `log` targets (`guv::server`
/// and `guv::wsgi`, every level), as "target LEVEL message". The recorder
/// is installed as the process's logger on the first call, so a test that
/// reads the log calls this before its server runs. In a child process
/// ([`child_role`]) each line is also printed as "log ..." as it comes,
/// for the parent to read ([`ChildLines`]).
pub fn server_log() -> Vec<String> {
    use std::sync::{Mutex, OnceLock};
    struct Recorder(Mutex<Vec<String>>);
    impl log::Log for Recorder {
        fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
            meta.target() == "guv::server" || meta.target() == "guv::wsgi"
        }

        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let line = format!("{} {} {}", record.target(), record.level(), record.args());
                if child_role().is_some() {
                    println!("log {line}");
                }
                self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        }

        fn flush(&self) {}
    }
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    let recorder = RECORDER.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::new(Recorder(Mutex::new(Vec::new()))));
        log::set_logger(recorder).expect("a logger was already installed");
        log::set_max_level(log::LevelFilter::Trace);
        recorder
    });
    recorder.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The role of this process if [`run_child`] started it.
pub fn child_role() -> Option<String> {
    std::env::var("GUV_TEST_CHILD").ok()
}

/// A seeded xorshift generator: the same sequence on every run.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Changes `data` by 1 to `max_edits` edits drawn from `rng`: a byte
/// replaced by, or inserted from, `alphabet`, a byte removed, or the rest
/// cut off.
pub fn mutate(data: &mut Vec<u8>, rng: &mut XorShift, alphabet: &[u8], max_edits: usize) {
    for _ in 0..1 + rng.below(max_edits) {
        let pos = rng.below(data.len() + 1);
        match rng.below(4) {
            0 if pos < data.len() => data[pos] = alphabet[rng.below(alphabet.len())],
            1 => data.insert(pos, alphabet[rng.below(alphabet.len())]),
            2 if pos < data.len() => {
                data.remove(pos);
            }
            _ => data.truncate(pos),
        }
    }
}

pub mod alloc;
pub mod chat;
pub mod dns;
pub mod fs;
/// Helpers for the HTTP and WebSocket tests.
pub mod http;
pub mod net;
pub mod tls;

/// Twin tests: each body is compiled twice, in a module `on_std` with the
/// `std:` items (the std paths it uses) and in a module `on_green` with the
/// `green:` items (the same names from `guv::green`), and each test runs
/// both, each on a fresh OS thread (the green one runs its greenlets
/// there), and requires the same observations (see [`assert_twins`]).
///
/// ```text
/// guv_tests::twins! {
///     std: { use std::{io, net}; }
///     green: { use guv::green::{io, net}; }
///     fn connect_refused() -> Vec<String> { ... }
/// }
/// ```
///
/// With `dir: "prefix",` before the bodies, each takes a `&Path`: a fresh
/// temporary directory per side (see [`assert_twins_in_dirs`]).
#[macro_export]
macro_rules! twins {
    (
        std: { $($std_item:item)* }
        green: { $($green_item:item)* }
        dir: $prefix:literal,
        $($(#[$meta:meta])* fn $name:ident($dir:ident) -> Vec<String> $body:block)*
    ) => {
        #[allow(unused_imports, unused_mut, unused_variables, clippy::all)]
        mod on_std {
            $($std_item)*
            $(pub fn $name($dir: &std::path::Path) -> Vec<String> $body)*
        }
        #[allow(unused_imports, unused_mut, unused_variables, clippy::all)]
        mod on_green {
            $($green_item)*
            $(pub fn $name($dir: &std::path::Path) -> Vec<String> $body)*
        }
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                $crate::assert_twins_in_dirs($prefix, stringify!($name), on_std::$name, on_green::$name);
            }
        )*
    };
    (
        std: { $($std_item:item)* }
        green: { $($green_item:item)* }
        $($(#[$meta:meta])* fn $name:ident() -> Vec<String> $body:block)*
    ) => {
        #[allow(unused_imports, unused_mut, unused_variables, clippy::all)]
        mod on_std {
            $($std_item)*
            $(pub fn $name() -> Vec<String> $body)*
        }
        #[allow(unused_imports, unused_mut, unused_variables, clippy::all)]
        mod on_green {
            $($green_item)*
            $(pub fn $name() -> Vec<String> $body)*
        }
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                $crate::assert_twins(on_std::$name, on_green::$name);
            }
        )*
    };
}

/// Runs the std and the green side of a twin test, each on a fresh OS
/// thread, and requires them to observe something, and the same.
pub fn assert_twins(std_side: fn() -> Vec<String>, green_side: fn() -> Vec<String>) {
    let std_seen = std::thread::spawn(std_side).join().expect("std run panicked");
    let green_seen = std::thread::spawn(green_side).join().expect("green run panicked");
    assert!(!std_seen.is_empty(), "the std side observed nothing");
    assert_eq!(std_seen, green_seen, "std (left) and green (right) differ");
}

/// [`assert_twins`] for bodies that work in a directory: each side gets a
/// fresh one (`PREFIX` and the test's name), and the green side runs in a
/// spawned greenlet rather than on its thread's main one.
pub fn assert_twins_in_dirs(
    prefix: &'static str,
    name: &'static str,
    std_side: fn(&std::path::Path) -> Vec<String>,
    green_side: fn(&std::path::Path) -> Vec<String>,
) {
    let std_seen = std::thread::spawn(move || {
        let d = fs::TempDir::new(prefix, &format!("{name}-std"));
        std_side(d.path())
    })
    .join()
    .expect("std run panicked");
    let green_seen = std::thread::spawn(move || {
        let d = fs::TempDir::new(prefix, &format!("{name}-green"));
        let path = d.path().to_path_buf();
        guv::spawn(move || green_side(&path)).wait().expect("green run failed")
    })
    .join()
    .expect("green run panicked");
    assert!(!std_seen.is_empty(), "the std side observed nothing");
    assert_eq!(std_seen, green_seen, "std (left) and green (right) differ");
}
