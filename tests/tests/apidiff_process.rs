//! API completeness of the green `std::process` (issue 4): patched code
//! that uses every stable item of `Command`, `Child` and the child pipes —
//! with `Read`/`Write` for the pipe and `&ChildStdin`, the `std::os::fd`
//! conversions, `From<pipe> for Stdio`, `Debug`, `Send`/`Sync`, and the
//! `std::os::unix::process` extension traits — compiles against the green
//! twins and behaves as std's, with real child processes.

use std::any::type_name;

/// True when `T` is one of guv's types (the patch swapped it in).
fn green<T: ?Sized>(_: &T) -> bool {
    type_name::<T>().starts_with("guv::")
}

fn send_sync<T: Send + Sync + std::fmt::Debug>() {}
fn fd_traits<T>()
where
    T: std::os::fd::AsFd + std::os::fd::AsRawFd + std::os::fd::IntoRawFd + From<std::os::fd::OwnedFd>,
    std::os::fd::OwnedFd: From<T>,
    std::process::Stdio: From<T>,
{
}

#[guv::test]
fn command_every_stable_item() {
    use std::ffi::OsStr;
    use std::path::Path;
    use std::process::{Command, ExitStatus, Output, Stdio};
    send_sync::<Command>();
    let mut c = Command::new("sh");
    assert!(green(&c));
    c.arg("-c")
        .args(["echo \"$A$B\"; pwd; echo err >&2; exit 3"])
        .env("A", "x")
        .envs([("B", "y"), ("C", "z")])
        .env_remove("C")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    assert_eq!(c.get_program(), OsStr::new("sh"));
    assert_eq!(c.get_args().len(), 2);
    assert_eq!(c.get_envs().count(), 3);
    assert!(c.get_envs().any(|(k, v)| k == "C" && v.is_none()));
    assert_eq!(c.get_current_dir(), Some(Path::new("/")));
    assert!(format!("{c:?}").contains("sh"));
    let out: Output = c.output().unwrap();
    assert_eq!((out.stdout.as_slice(), out.stderr.as_slice()), (&b"xy\n/\n"[..], &b"err\n"[..]));
    assert_eq!(out.status.code(), Some(3));
    assert!(format!("{out:?}").contains("Output"));
    let st: ExitStatus = Command::new("true").env_clear().status().unwrap();
    assert!(st.success());
    assert_eq!(st.to_string(), "exit status: 0");
    assert!(!Command::new("false").status().unwrap().success());
}

#[guv::test]
fn child_and_pipes_every_stable_item() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
    send_sync::<Child>();
    send_sync::<ChildStdin>();
    send_sync::<ChildStdout>();
    send_sync::<ChildStderr>();
    fd_traits::<ChildStdin>();
    fd_traits::<ChildStdout>();
    fd_traits::<ChildStderr>();

    let mut child: Child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    assert!(green(&child));
    assert!(child.id() > 0);
    assert!(format!("{child:?}").contains("Child"));
    let stdin: ChildStdin = child.stdin.take().unwrap();
    assert!(green(&stdin));
    assert!(format!("{stdin:?}").contains("ChildStdin"));
    (&stdin).write_all(b"line one\n").unwrap();
    (&stdin).flush().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "line one\n");
    assert!(child.try_wait().unwrap().is_none());
    drop(stdin);
    assert!(child.wait().unwrap().success());

    // A pipe handed to another child as its stdin (`From<ChildStdout> for Stdio`).
    let mut first = Command::new("echo").arg("piped along").stdout(Stdio::piped()).spawn().unwrap();
    let second = Command::new("tr")
        .arg("a-z")
        .arg("A-Z")
        .stdin(first.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let got = second.wait_with_output().unwrap();
    assert_eq!(got.stdout, b"PIPED ALONG\n");
    first.wait().unwrap();

    // stderr, fd conversions.
    let mut c = Command::new("sh").arg("-c").arg("echo e >&2").stderr(Stdio::piped()).spawn().unwrap();
    let err: ChildStderr = c.stderr.take().unwrap();
    assert!(err.as_fd().as_raw_fd() == err.as_raw_fd());
    let fd: OwnedFd = err.into();
    let mut err = ChildStderr::from(fd);
    let mut s = String::new();
    err.read_to_string(&mut s).unwrap();
    assert_eq!(s, "e\n");
    c.wait().unwrap();
    let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let raw = c.stdin.take().unwrap().into_raw_fd();
    // SAFETY: `raw` came from `into_raw_fd` and is owned here; closing it ends cat's input.
    drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) });
    assert!(c.wait().unwrap().success());

    // kill and the unix exit status.
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    sleeper.kill().unwrap();
    let st = sleeper.wait().unwrap();
    assert_eq!(st.signal(), Some(9));
    assert!(!st.core_dumped());
    assert_eq!(st.code(), None);
    assert_eq!(std::process::ExitStatus::from_raw(st.into_raw()), st);
}

#[guv::test]
fn command_ext_as_std_code_writes_it() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    let meta = std::fs::metadata("/proc/self").unwrap();
    let mut c = Command::new("sh");
    c.arg0("renamed").arg("-c").arg("echo $0").uid(meta.uid()).gid(meta.gid()).process_group(0);
    // SAFETY: the hook does nothing but return; it is async-signal-safe.
    unsafe {
        c.pre_exec(|| Ok(()));
    }
    let out = c.output().unwrap();
    assert!(green(&c));
    assert_eq!(out.stdout, b"renamed\n");
    #[allow(deprecated)]
    // SAFETY: the hook does nothing; it is async-signal-safe.
    let c2 = unsafe { Command::new("true").before_exec(|| Ok(())).status() };
    assert!(c2.unwrap().success());
    let failed = Command::new("/nonexistent/guv-apidiff").exec();
    assert_eq!(failed.kind(), std::io::ErrorKind::NotFound);
    // The hook can fail the spawn, as with std.
    // SAFETY: the hook only builds an error value from a constant.
    let e = unsafe { Command::new("true").pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::EPERM))).status() };
    assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::EPERM));
}
