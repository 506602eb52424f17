//! Review 6 of the green fs and process modules against std: every green
//! fs call runs on the thread pool (directory entries included), spawn
//! errors keep std's `raw_os_error`, the file position stays right across
//! `into_std`, and the regressions found by the review.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use guv_tests::Log;
use guv_tests::fs::TempDir;

/// The tests of this binary run one at a time: [`on_the_pool`] needs
/// every pool thread, and other tests hold one for long (a FIFO open
/// waits for its writer).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens the gate of [`on_the_pool`]'s holder jobs however it ends, so a
/// failed check never leaves the pool held.
struct OpenOnDrop(Arc<(Mutex<bool>, Condvar)>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
}

/// Runs `call` in a greenlet while every pool thread is held by a job
/// that waits for a gate, and checks that the greenlet parked in the call
/// (its work was queued behind those jobs) instead of finishing it on the
/// hub; then opens the gate and returns the call's result.
fn on_the_pool<T: 'static>(what: &str, call: impl FnOnce() -> T + 'static) -> T {
    let n = guv::tpool::size();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let opener = OpenOnDrop(gate.clone());
    let (started_tx, started_rx) = mpsc::channel();
    let queued = Log::new();
    let holders: Vec<_> = (0..n)
        .map(|_| {
            let (gate, started_tx, queued) = (gate.clone(), started_tx.clone(), queued.clone());
            guv::spawn(move || {
                queued.push("queued");
                guv::tpool::execute(move || {
                    started_tx.send(()).unwrap();
                    let (open, cv) = &*gate;
                    let mut open = open.lock().unwrap();
                    while !*open {
                        open = cv.wait(open).unwrap();
                    }
                })
            })
        })
        .collect();
    while queued.take().len() < n {
        guv::gyield();
    }
    // The pool threads need nothing from this hub to start the jobs.
    for _ in 0..n {
        started_rx.recv_timeout(Duration::from_secs(60)).expect("a holder job never started");
    }
    let log = Log::new();
    let l2 = log.clone();
    let caller = guv::spawn(move || {
        l2.push("calling");
        let r = call();
        l2.push("returned");
        r
    });
    while log.take().is_empty() {
        guv::gyield();
    }
    let seen = log.take();
    drop(opener);
    for h in holders {
        h.wait().unwrap();
    }
    let r = caller.wait().unwrap();
    assert_eq!(seen, ["calling"], "{what} did not wait for the pool: it ran on the hub thread");
    r
}

// ------------------------------------------------------- fs on the pool

#[test]
fn dir_entry_metadata_runs_on_the_pool() {
    let _serial = one_at_a_time();
    use guv::green::fs;
    let d = TempDir::new("review6", "entry-meta");
    fs::write(d.path().join("f"), b"12345").unwrap();
    let entry = fs::read_dir(d.path()).unwrap().next().unwrap().unwrap();
    let entry = Rc::new(entry);
    let e2 = entry.clone();
    let meta = on_the_pool("DirEntry::metadata", move || e2.metadata().unwrap());
    assert_eq!(meta.len(), 5);
    assert!(entry.file_type().unwrap().is_file());
}

/// Every call of `guv::green::fs` (and `green::os::unix::fs`) that touches
/// the file system waits for the pool.
#[test]
#[allow(deprecated)]
fn every_green_fs_call_runs_on_the_pool() {
    let _serial = one_at_a_time();
    use guv::green::fs::{self, DirBuilder, File, FileTimes, OpenOptions};
    use guv::green::os::unix::fs as unix_fs;
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::fs::FileExt;
    let d = TempDir::new("review6", "all-calls");
    let p = |name: &str| d.path().join(name);
    let (a, b, c, sub, link, link2) = (p("a"), p("b"), p("c"), p("sub/deeper"), p("link"), p("link2"));
    macro_rules! pool {
        ($what:literal, $call:expr) => {
            on_the_pool($what, $call)
        };
    }
    let (a2, b2, c2) = (a.clone(), b.clone(), c.clone());
    pool!("write", move || fs::write(a2, b"hello").unwrap());
    pool!("read", {
        let a = a.clone();
        move || assert_eq!(fs::read(a).unwrap(), b"hello")
    });
    pool!("read_to_string", {
        let a = a.clone();
        move || assert_eq!(fs::read_to_string(a).unwrap(), "hello")
    });
    pool!("copy", {
        let a = a.clone();
        move || assert_eq!(fs::copy(a, b2).unwrap(), 5)
    });
    pool!("rename", {
        let b = b.clone();
        move || fs::rename(b, c2).unwrap()
    });
    pool!("hard_link", {
        let (a, b) = (a.clone(), b.clone());
        move || fs::hard_link(a, b).unwrap()
    });
    pool!("metadata", {
        let a = a.clone();
        move || assert_eq!(fs::metadata(a).unwrap().len(), 5)
    });
    pool!("symlink_metadata", {
        let a = a.clone();
        move || assert!(fs::symlink_metadata(a).unwrap().is_file())
    });
    pool!("exists", {
        let a = a.clone();
        move || assert!(fs::exists(a).unwrap())
    });
    pool!("canonicalize", {
        let a = a.clone();
        move || assert!(fs::canonicalize(a).unwrap().is_absolute())
    });
    pool!("symlink", {
        let (a, link) = (a.clone(), link.clone());
        move || unix_fs::symlink(a, link).unwrap()
    });
    pool!("soft_link", {
        let (a, link2) = (a.clone(), link2.clone());
        move || fs::soft_link(a, link2).unwrap()
    });
    pool!("read_link", {
        let (a, link) = (a.clone(), link.clone());
        move || assert_eq!(fs::read_link(link).unwrap(), a)
    });
    pool!("lchown", {
        let link = link.clone();
        move || unix_fs::lchown(link, None, None).unwrap()
    });
    pool!("chown", {
        let a = a.clone();
        move || unix_fs::chown(a, None, None).unwrap()
    });
    pool!("set_permissions", {
        let a = a.clone();
        move || fs::set_permissions(&a, std::fs::metadata(&a).unwrap().permissions()).unwrap()
    });
    pool!("create_dir_all", {
        let sub = sub.clone();
        move || fs::create_dir_all(sub).unwrap()
    });
    pool!("create_dir", {
        let s = sub.join("x");
        move || fs::create_dir(s).unwrap()
    });
    pool!("DirBuilder::create", {
        let s = sub.join("y/z");
        move || DirBuilder::new().recursive(true).create(s).unwrap()
    });
    pool!("remove_dir", {
        let s = sub.join("x");
        move || fs::remove_dir(s).unwrap()
    });
    let listing = pool!("read_dir", {
        let d = d.path().to_path_buf();
        move || fs::read_dir(d).unwrap().map(|e| e.unwrap()).collect::<Vec<_>>()
    });
    assert_eq!(listing.len(), 6, "{listing:?}"); // a b c link link2 sub
    pool!("File::open", {
        let a = a.clone();
        move || drop(File::open(a).unwrap())
    });
    pool!("File::create", {
        let c = c.clone();
        move || drop(File::create(c).unwrap())
    });
    pool!("File::create_new", {
        let n = p("new");
        move || drop(File::create_new(n).unwrap())
    });
    pool!("OpenOptions::open", {
        let a = a.clone();
        move || drop(OpenOptions::new().read(true).open(a).unwrap())
    });
    let file = Rc::new(OpenOptions::new().read(true).write(true).open(&a).unwrap());
    macro_rules! on_file {
        ($what:literal, |$f:ident| $body:expr) => {{
            let $f = file.clone();
            on_the_pool($what, move || $body)
        }};
    }
    on_file!("File::write", |f| assert_eq!((&*f).write(b"H").unwrap(), 1));
    on_file!("File::seek", |f| assert_eq!((&*f).seek(SeekFrom::Start(0)).unwrap(), 0));
    on_file!("File::read", |f| assert_eq!((&*f).read(&mut [0u8; 2]).unwrap(), 2));
    on_file!("File::read_to_end", |f| assert_eq!((&*f).read_to_end(&mut Vec::new()).unwrap(), 3));
    on_file!("File::read_at", |f| assert_eq!(f.read_at(&mut [0u8; 5], 0).unwrap(), 5));
    on_file!("File::write_at", |f| assert_eq!(f.write_at(b"h", 0).unwrap(), 1));
    on_file!("File::metadata", |f| assert_eq!(f.metadata().unwrap().len(), 5));
    on_file!("File::set_len", |f| f.set_len(5).unwrap());
    on_file!("File::sync_all", |f| f.sync_all().unwrap());
    on_file!("File::sync_data", |f| f.sync_data().unwrap());
    on_file!("File::set_times", |f| f.set_times(FileTimes::new()).unwrap());
    on_file!("File::set_permissions", |f| f.set_permissions(f.metadata().unwrap().permissions()).unwrap());
    on_file!("File::try_clone", |f| drop(f.try_clone().unwrap()));
    on_file!("File::lock", |f| f.lock().unwrap());
    on_file!("File::unlock", |f| f.unlock().unwrap());
    on_file!("File::try_lock", |f| f.try_lock().unwrap());
    on_file!("File::unlock", |f| f.unlock().unwrap());
    on_file!("fchown", |f| unix_fs::fchown(&*f, None, None).unwrap());
    drop(file);
    pool!("remove_file", {
        let c = c.clone();
        move || fs::remove_file(c).unwrap()
    });
    pool!("remove_dir_all", {
        let s = p("sub");
        move || fs::remove_dir_all(s).unwrap()
    });
}

/// The green `DirEntry` reports what std's does, item for item.
#[test]
fn dir_entries_match_std() {
    let _serial = one_at_a_time();
    use std::os::unix::fs::DirEntryExt;
    let d = TempDir::new("review6", "entries");
    std::fs::write(d.path().join("file"), b"abc").unwrap();
    std::fs::create_dir(d.path().join("dir")).unwrap();
    std::os::unix::fs::symlink("file", d.path().join("link")).unwrap();
    std::os::unix::fs::symlink("nowhere", d.path().join("dangling")).unwrap();
    fn describe(
        path: PathBuf,
        name: std::ffi::OsString,
        ino: u64,
        ft: io::Result<std::fs::FileType>,
        meta: io::Result<std::fs::Metadata>,
        debug: String,
    ) -> String {
        let ft = ft.map(|t| (t.is_file(), t.is_dir(), t.is_symlink()));
        let meta = meta.map(|m| (m.len(), m.file_type().is_symlink(), std::os::unix::fs::MetadataExt::ino(&m)));
        format!("{path:?} {name:?} {ino} {ft:?} {meta:?} {debug}")
    }
    let mut on_std: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            describe(e.path(), e.file_name(), e.ino(), e.file_type(), e.metadata(), format!("{e:?}"))
        })
        .collect();
    let mut on_green: Vec<String> = guv::green::fs::read_dir(d.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            describe(e.path(), e.file_name(), e.ino(), e.file_type(), e.metadata(), format!("{e:?}"))
        })
        .collect();
    on_std.sort();
    on_green.sort();
    assert_eq!(on_std.len(), 4);
    assert_eq!(on_std, on_green);
    // An entry removed after the listing: both report std's error.
    let std_entry = std::fs::read_dir(d.path()).unwrap().map(Result::unwrap).find(|e| e.file_name() == "file").unwrap();
    let green_entry =
        guv::green::fs::read_dir(d.path()).unwrap().map(Result::unwrap).find(|e| e.file_name() == "file").unwrap();
    std::fs::remove_file(d.path().join("file")).unwrap();
    let (s, g) = (std_entry.metadata().unwrap_err(), green_entry.metadata().unwrap_err());
    assert_eq!((s.kind(), s.raw_os_error()), (g.kind(), g.raw_os_error()));
    assert_eq!(g.raw_os_error(), Some(libc::ENOENT));
}

// ------------------------------------------------------ spawn errors

/// What a spawn, output or status attempt gave: the error's kind and
/// errno, or the exit code.
fn outcome<T>(r: io::Result<T>, code: impl Fn(T) -> Option<i32>) -> String {
    match r {
        Ok(v) => format!("exited {:?}", code(v)),
        Err(e) => format!("{:?} errno {:?}", e.kind(), e.raw_os_error()),
    }
}

/// Each case: std's `spawn`/`output`/`status` outcomes, then the green
/// ones.
fn spawn_outcomes(dir: &Path) -> (Vec<String>, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let not_executable = dir.join("not-executable");
    std::fs::write(&not_executable, b"#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, b"\x7fELF\x02\x01\x01garbage that is no program").unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cases: Vec<(String, Option<PathBuf>)> = vec![
        ("/nonexistent/guv-program".into(), None),
        ("guv-no-such-program-in-path".into(), None),
        (not_executable.to_str().unwrap().into(), None),
        (dir.to_str().unwrap().into(), None),
        (garbage.to_str().unwrap().into(), None),
        ("true".into(), Some(dir.join("no-such-dir"))),
        ("nul\0byte".into(), None),
    ];
    // The same cases against each `Command`, each on a thread of its own.
    macro_rules! run_cases {
        ($command:path, $cases:expr) => {{
            let cases = $cases;
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for (program, cwd) in cases {
                    let cmd = || {
                        let mut c = <$command>::new(&program);
                        if let Some(cwd) = &cwd {
                            c.current_dir(cwd);
                        }
                        c
                    };
                    out.push(outcome(cmd().spawn(), |mut c| c.wait().unwrap().code()));
                    out.push(outcome(cmd().output(), |o| o.status.code()));
                    out.push(outcome(cmd().status(), |s| s.code()));
                }
                out
            })
            .join()
            .unwrap()
        }};
    }
    let std_side = run_cases!(std::process::Command, cases.clone());
    let green_side = run_cases!(guv::green::process::Command, cases);
    (std_side, green_side)
}

#[test]
fn spawn_errors_keep_std_kind_and_errno() {
    let _serial = one_at_a_time();
    let d = TempDir::new("review6", "spawn-errors");
    let (std_side, green_side) = spawn_outcomes(d.path());
    assert_eq!(std_side, green_side, "std (left) and green (right) differ");
    // The cases std itself answers with an errno.
    let enoent = format!("NotFound errno Some({})", libc::ENOENT);
    let eacces = format!("PermissionDenied errno Some({})", libc::EACCES);
    assert_eq!(green_side[..6], vec![enoent; 6]);
    assert_eq!(green_side[6..12], vec![eacces; 6]);
    // A file that is not a program: ENOEXEC (std spawns with
    // posix_spawn or execvp; neither falls back to the shell for an ELF
    // header).
    for r in &green_side[12..15] {
        assert!(r.ends_with(&format!("errno Some({})", libc::ENOEXEC)), "{green_side:?}");
    }
    assert!(green_side[15].contains(&format!("errno Some({})", libc::ENOENT)), "{green_side:?}");
}

// -------------------------------------------------- position turns

/// `into_std` while a killed read's job still runs on the pool: the std
/// file's reads start where the killed read did, not wherever the job
/// (or its rewind) leaves the shared position meanwhile.
#[test]
fn into_std_waits_for_a_killed_reads_rewind() {
    let _serial = one_at_a_time();
    assert!(guv::tpool::size() >= 2, "the race needs two pool threads");
    let d = TempDir::new("review6", "into-std");
    let path = d.path().join("data");
    let content: Vec<u8> = (0..(4u32 << 20)).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(&path, &content).unwrap();
    let mut killed_rounds = 0;
    for round in 0..200 {
        let file = guv::green::fs::File::open(&path).unwrap();
        let file = Rc::new(file);
        let log = Log::new();
        let (l2, f2) = (log.clone(), file.clone());
        let reader = guv::spawn(move || {
            l2.push("reading");
            let _ = (&*f2).read_to_end(&mut Vec::new());
        });
        while log.take().is_empty() {
            guv::gyield();
        }
        reader.kill();
        if reader.wait().is_ok() {
            // The read was over before the kill (a slow scheduler): the
            // round proves nothing.
            continue;
        }
        let file = Rc::try_unwrap(file).unwrap();
        let mut std_file = file.into_std();
        let mut got = Vec::new();
        std_file.read_to_end(&mut got).unwrap();
        assert!(
            got == content,
            "round {round}: the std file read {} bytes, not the file's {}",
            got.len(),
            content.len()
        );
        killed_rounds += 1;
        if killed_rounds == 5 {
            return;
        }
    }
    panic!("the reader was killed in only {killed_rounds} of 200 rounds");
}

// ------------------------------------------ killed waits and children

/// A pidfd for `pid` (Linux 5.3+).
fn pidfd(pid: u32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(fd >= 0, "pidfd_open: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a fresh fd that nothing else owns.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) }
}

/// Whether the process behind `pidfd` has been reaped (waited for).
fn reaped(pidfd: &std::os::fd::OwnedFd) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: all-zero is a valid `siginfo_t`.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid out-pointer; WNOWAIT leaves the child be.
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

/// A greenlet killed in `output`, `status` or `wait_with_output` leaves
/// no child behind: the child (which nobody else can reach) is killed and
/// reaped, not left running and then a zombie.
#[test]
fn a_killed_output_status_or_wait_with_output_kills_and_reaps_the_child() {
    let _serial = one_at_a_time();
    use guv::green::process::{Command, Stdio};
    let d = TempDir::new("review6", "killed-output");
    let fifo = d.path().join("pid");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "{}", io::Error::last_os_error());
    for how in ["output", "status", "wait_with_output"] {
        let script = format!("echo $$ > {}; exec sleep 60", fifo.display());
        let caller = guv::spawn(move || {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(script);
            match how {
                "output" => drop(cmd.output()),
                "status" => drop(cmd.status()),
                _ => drop(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap().wait_with_output()),
            }
            unreachable!("{how} returned while its child sleeps");
        });
        // The child tells its pid once it runs; the caller is parked in
        // its wait by then (it parks nowhere before).
        let mut pid = String::new();
        guv::with_timeout(Duration::from_secs(60), || {
            guv::green::fs::File::open(&fifo).unwrap().read_to_string(&mut pid).unwrap()
        })
        .unwrap_or_else(|_| panic!("{how}: the child never told its pid (caller finished: {})", caller.is_finished()));
        let pid: u32 = pid.trim().parse().unwrap();
        let child = pidfd(pid);
        caller.kill();
        assert!(caller.wait().unwrap_err().is_killed());
        let exited = guv::trampoline(&child, guv::Interest::READABLE, Some(Duration::from_secs(30)));
        if exited.is_err() {
            // SAFETY: plain kill(2) of the child this test started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("{how}: the child of a killed caller was left running ({exited:?})");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !reaped(&child) {
            assert!(std::time::Instant::now() < deadline, "{how}: the killed child was never reaped (a zombie)");
            guv::gyield();
        }
    }
}

// ------------------------------------------------- process twins

/// Compiles each body against `std::process` and `guv::green::process`
/// and adds a test comparing the two runs (std on an OS thread).
macro_rules! process_twin {
    ($(fn $name:ident() -> Vec<String> $body:block)*) => {
        #[allow(unused_imports, clippy::all)]
        mod process_on_std {
            use std::process::{ChildStdin as ChildStdinOf, ChildStdout as ChildStdoutOf, Command, Stdio};
            use std::io::{self, Read, Write};
            use super::outcome;
            $(pub fn $name() -> Vec<String> $body)*
        }
        #[allow(unused_imports, clippy::all)]
        mod process_on_green {
            use guv::green::process::{ChildStdin as ChildStdinOf, ChildStdout as ChildStdoutOf, Command, Stdio};
            use std::io::{self, Read, Write};
            use super::outcome;
            $(pub fn $name() -> Vec<String> $body)*
        }
        $(
            #[test]
            fn $name() {
                let _serial = one_at_a_time();
                let std_side = std::thread::spawn(process_on_std::$name).join().expect("std run panicked");
                let green_side = std::thread::spawn(process_on_green::$name).join().expect("green run panicked");
                assert!(!std_side.is_empty());
                assert_eq!(std_side, green_side, "std (left) and green (right) differ");
            }
        )*
    };
}

process_twin! {
    fn process_kill_wait_and_try_wait_around_exit() -> Vec<String> {
        let mut out = Vec::new();
        // Exited but not yet waited for (a zombie): kill is Ok.
        let mut c = Command::new("sh").arg("-c").arg("read x; exit 4").stdin(Stdio::piped()).spawn().unwrap();
        out.push(format!("{:?}", c.try_wait().unwrap()));
        drop(c.stdin.take());
        out.push(format!("{:?}", c.wait().unwrap().code()));
        out.push(format!("{:?}", c.kill().map_err(|e| e.kind())));
        out.push(format!("{:?}", c.try_wait().unwrap().map(|s| s.code())));
        // Killed: no code, and the signal.
        let mut c = Command::new("sleep").arg("60").spawn().unwrap();
        out.push(format!("{:?}", c.kill().map_err(|e| e.kind())));
        let st = c.wait().unwrap();
        out.push(format!("{:?} {:?}", st.code(), std::os::unix::process::ExitStatusExt::signal(&st)));
        out.push(format!("{:?}", c.kill().map_err(|e| e.kind())));
        out
    }

    fn process_pipes_at_the_edges() -> Vec<String> {
        let mut out = Vec::new();
        // Writing to a child that closed its stdin: BrokenPipe, no SIGPIPE.
        let mut c = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
        let mut stdin = c.stdin.take().unwrap();
        c.wait().unwrap();
        let big = vec![b'x'; 1 << 20];
        out.push(format!("{:?}", stdin.write_all(&big).map_err(|e| e.kind())));
        out.push(format!("{:?}", stdin.flush().map_err(|e| e.kind())));
        // Reading after the child exited: the rest, then EOF.
        let mut c = Command::new("printf").arg("abc").stdout(Stdio::piped()).spawn().unwrap();
        c.wait().unwrap();
        let mut stdout = c.stdout.take().unwrap();
        let mut buf = [0u8; 2];
        out.push(format!("{:?}", stdout.read(&mut buf).map(|n| buf[..n].to_vec())));
        let mut rest = Vec::new();
        out.push(format!("{:?} {rest:?}", stdout.read_to_end(&mut rest).map_err(|e| e.kind())));
        out.push(format!("{:?}", stdout.read(&mut buf).map_err(|e| e.kind())));
        // wait_with_output: stdin closed first, big outputs on both pipes.
        let mut c = Command::new("sh")
            .arg("-c")
            .arg("cat; head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2; exit 7")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.as_mut().unwrap().write_all(b"in ").unwrap();
        let o = c.wait_with_output().unwrap();
        out.push(format!("{:?} {} {} {:?}", o.status.code(), o.stdout.len(), o.stderr.len(), &o.stdout[..3]));
        // wait_with_output with nothing piped: empty outputs.
        let o = Command::new("true").stdout(Stdio::null()).spawn().unwrap().wait_with_output().unwrap();
        out.push(format!("{:?} {:?} {:?}", o.status.code(), o.stdout, o.stderr));
        // output() captures stdout and stderr, stdin is empty; a piped
        // stdin is closed, not inherited.
        let o = Command::new("sh").arg("-c").arg("cat; echo err >&2").output().unwrap();
        out.push(format!("{:?} {:?} {:?}", o.status.code(), o.stdout, o.stderr));
        let o = Command::new("cat").stdin(Stdio::piped()).output().unwrap();
        out.push(format!("{:?} {:?}", o.status.code(), o.stdout));
        // status() inherits; the command can be reused after output().
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("exit 3");
        out.push(format!("{:?}", cmd.output().unwrap().status.code()));
        out.push(format!("{:?}", cmd.status().unwrap().code()));
        out.push(format!("{:?}", cmd.spawn().unwrap().stdout.is_none()));
        out
    }

    fn process_pipe_fd_conversions() -> Vec<String> {
        use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
        let mut out = Vec::new();
        let mut first = Command::new("echo").arg("fd").stdout(Stdio::piped()).spawn().unwrap();
        // Through a raw fd and back (std: IntoRawFd, From<OwnedFd>).
        let raw = first.stdout.take().unwrap().into_raw_fd();
        // SAFETY: `raw` came from into_raw_fd and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut again = ChildStdoutOf::from(fd);
        let mut s = String::new();
        out.push(format!("{:?} {s:?}", again.read_to_string(&mut s).map_err(|e| e.kind())));
        out.push(format!("{s:?}"));
        first.wait().unwrap();
        let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let stdin_fd = OwnedFd::from(c.stdin.take().unwrap());
        let mut stdin = ChildStdinOf::from(stdin_fd);
        stdin.write_all(b"back").unwrap();
        drop(stdin);
        let mut s = String::new();
        c.stdout.take().unwrap().read_to_string(&mut s).unwrap();
        out.push(s);
        c.wait().unwrap();
        out
    }
}

// ------------------------------------------------- threads

/// The green types are `Send` and `Sync` where std's are.
#[test]
fn green_fs_and_process_types_are_send_and_sync_as_std() {
    let _serial = one_at_a_time();
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    use guv::green::{fs, process};
    send_sync::<std::fs::DirEntry>();
    send_sync::<fs::DirEntry>();
    send_sync::<std::fs::ReadDir>();
    send_sync::<fs::ReadDir>();
    send_sync::<fs::File>();
    send_sync::<fs::OpenOptions>();
    send_sync::<fs::DirBuilder>();
    send_sync::<std::process::Command>();
    send_sync::<process::Command>();
    send_sync::<std::process::Child>();
    send_sync::<process::Child>();
    send_sync::<process::ChildStdin>();
    send_sync::<process::ChildStdout>();
    send_sync::<process::ChildStderr>();
    send::<process::Output>();
}

/// A child spawned on one thread is waited for, and its pipes read, on
/// another (each with its own hub), also after a wait on the first thread
/// timed out.
#[test]
fn a_child_moves_between_threads() {
    let _serial = one_at_a_time();
    use guv::green::process::{Command, Stdio};
    let (tx, rx) = mpsc::channel::<String>();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read x; echo got $x; exit 5")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // (`wait` closes stdin: keep it out of the child.)
    let mut stdin = child.stdin.take().unwrap();
    // A wait here times out (the child waits for its stdin), leaving the
    // pidfd registered with this thread's hub.
    assert!(guv::with_timeout(Duration::from_millis(1), || child.wait()).is_err());
    let t = std::thread::spawn(move || {
        let r = guv::with_timeout(Duration::from_millis(20), || child.wait());
        tx.send(format!("{}", r.is_err())).unwrap();
        child
    });
    let timed_out = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(timed_out, "true", "the child cannot have exited before its stdin line");
    let child = t.join().unwrap();
    stdin.write_all(b"line\n").unwrap();
    let out = std::thread::spawn(move || child.wait_with_output().unwrap()).join().unwrap();
    assert_eq!((out.status.code(), out.stdout.as_slice()), (Some(5), &b"got line\n"[..]));
}

// ------------------------------------------------- advisory locks

/// A scratch directory holding an empty file to lock.
fn lock_file(name: &str) -> (TempDir, PathBuf) {
    let d = TempDir::new("review6", name);
    let path = d.path().join("lock");
    std::fs::write(&path, b"").unwrap();
    (d, path)
}

/// A std open of `path` holding its lock, and a green open of it whose
/// `lock()` must wait for that one.
fn held_lock(path: &Path) -> (std::fs::File, Rc<guv::green::fs::File>) {
    let holder = std::fs::File::open(path).unwrap();
    holder.lock().unwrap();
    (holder, Rc::new(guv::green::fs::File::open(path).unwrap()))
}

/// A greenlet that logs `tag`, then locks `file`.
fn spawn_lock(file: &Rc<guv::green::fs::File>, log: &Log, tag: &'static str) -> guv::GreenThread<io::Result<()>> {
    let (log, file) = (log.clone(), file.clone());
    guv::spawn(move || {
        log.push(tag);
        file.lock()
    })
}

/// `flock` locks belong to the open file description: a killed `lock()`
/// whose job is still waiting would, once it got the lock, give it back
/// — and with it the lock that a later `lock()` (or `try_lock`) through
/// the same file took meanwhile. The later lock must stay held.
#[test]
fn a_killed_lock_waiter_does_not_undo_a_later_lock_of_the_same_file() {
    let _serial = one_at_a_time();
    let (_d, path) = lock_file("killed-lock");
    for round in 0..20 {
        // Another open file description holds the lock.
        let (holder, file) = held_lock(&path);
        let log = Log::new();
        let a = spawn_lock(&file, &log, "locking");
        while log.take().is_empty() {
            guv::gyield();
        }
        // A's job waits (or is queued) for the lock; A leaves.
        a.kill();
        assert!(a.wait().unwrap_err().is_killed(), "round {round}");
        // B locks the same file: its job waits too, until the holder lets go.
        let f3 = file.clone();
        let b = guv::spawn(move || f3.lock());
        guv::gyield();
        // While a lock() of this file waits, a try_lock of it gets no lock
        // that the waiter could undo.
        assert!(matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)), "round {round}");
        holder.unlock().unwrap();
        b.wait().unwrap().unwrap();
        // B holds the lock: no other description can take it, now or
        // after A's job is over (it is, once B's lock returned).
        let probe = std::fs::File::open(&path).unwrap();
        assert!(
            matches!(probe.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            "round {round}: the killed waiter gave back the lock that B took"
        );
        file.unlock().unwrap();
        probe.try_lock().unwrap();
    }
}

// ------------------------------------------------- Debug output

/// The green types print as std's do (no internals of guv's).
#[test]
fn green_fs_and_process_types_debug_as_std() {
    let _serial = one_at_a_time();
    use std::os::unix::fs::DirBuilderExt;
    let d = TempDir::new("review6", "debug");
    let p = d.path().join("f");
    std::fs::write(&p, b"x").unwrap();
    let std_file = std::fs::File::open(&p).unwrap();
    let expected = format!("{std_file:?}");
    assert_eq!(format!("{:?}", guv::green::fs::File::from_std(std_file)), expected);
    let mut std_opts = std::fs::OpenOptions::new();
    std_opts.read(true).append(true);
    let mut green_opts = guv::green::fs::OpenOptions::new();
    green_opts.read(true).append(true);
    assert_eq!(format!("{green_opts:?}"), format!("{std_opts:?}"));
    let mut std_b = std::fs::DirBuilder::new();
    let mut green_b = guv::green::fs::DirBuilder::new();
    assert_eq!(format!("{green_b:?}"), format!("{std_b:?}"));
    std_b.recursive(true).mode(0o700);
    green_b.recursive(true).mode(0o700);
    assert_eq!(format!("{green_b:?}"), format!("{std_b:?}"));
    assert_eq!(
        format!("{:?}", guv::green::fs::read_dir(d.path()).unwrap()),
        format!("{:?}", std::fs::read_dir(d.path()).unwrap())
    );
    let mut std_child = std::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut green_child = guv::green::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(
        format!("{:?}", green_child.stdin.as_ref().unwrap()),
        format!("{:?}", std_child.stdin.as_ref().unwrap())
    );
    assert_eq!(
        format!("{:?}", green_child.stdout.as_ref().unwrap()),
        format!("{:?}", std_child.stdout.as_ref().unwrap())
    );
    assert_eq!(
        format!("{:?}", green_child.stderr.as_ref().unwrap()),
        format!("{:?}", std_child.stderr.as_ref().unwrap())
    );
    drop(std_child.stdin.take());
    drop(green_child.stdin.take());
    std_child.wait().unwrap();
    green_child.wait().unwrap();
}

/// A greenlet killed while it waits to read a child's stdout takes
/// nothing with it: the next read of the same handle gets every byte.
#[test]
fn a_killed_pipe_reader_loses_nothing() {
    let _serial = one_at_a_time();
    use guv::green::process::{Command, Stdio};
    use std::cell::RefCell;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read x; echo \"$x-out\"")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = Rc::new(RefCell::new(child.stdout.take().unwrap()));
    let log = Log::new();
    let (l2, s2) = (log.clone(), stdout.clone());
    let reader = guv::spawn(move || {
        l2.push("reading");
        let mut buf = [0u8; 64];
        // Parks: the child prints only after its stdin line.
        s2.borrow_mut().read(&mut buf).map(|n| buf[..n].to_vec())
    });
    while log.take().is_empty() {
        guv::gyield();
    }
    reader.kill();
    assert!(reader.wait().unwrap_err().is_killed());
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"line\n").unwrap();
    drop(stdin);
    let mut out = String::new();
    stdout.borrow_mut().read_to_string(&mut out).unwrap();
    assert_eq!(out, "line-out\n");
    assert!(child.wait().unwrap().success());
}

/// The other order: the killed waiter's `lock()` job got the lock just
/// before its caller was killed (the result came, unread), while a later
/// `lock()` of the same file already waited. Giving the killed caller's
/// lock back must not take the later caller's with it.
#[test]
fn a_lock_got_just_before_its_caller_was_killed_is_not_undone_under_a_later_lock() {
    let _serial = one_at_a_time();
    let (_d, path) = lock_file("killed-lock-done");
    for round in 0..30 {
        let (holder, file) = held_lock(&path);
        let log = Log::new();
        let a = spawn_lock(&file, &log, "a");
        let b = spawn_lock(&file, &log, "b");
        while log.take().len() < 2 {
            guv::gyield();
        }
        // Both wait; A's job is first in line. The holder lets go and A is
        // killed before it runs again: its job may already have the lock.
        holder.unlock().unwrap();
        a.kill();
        let a_result = a.wait();
        b.wait().unwrap().unwrap();
        let probe = std::fs::File::open(&path).unwrap();
        assert!(
            matches!(probe.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            "round {round}: B's lock was given back with the killed A's ({a_result:?})"
        );
        file.unlock().unwrap();
    }
}
