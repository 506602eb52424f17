//! Green `std::process`: [`Command`] and [`Child`] whose waits and pipes
//! park the greenlet. Everything not shadowed here (`Stdio`, `ExitStatus`,
//! `Output`, `exit`, `id`, ...) is `std::process`'s own.
//!
//! Waiting for a child parks on a *pidfd* (Linux 5.3+: an fd that becomes
//! readable when the process exits) registered with the hub — no polling
//! loop, no `SIGCHLD` handler. Where pidfds are not available (older
//! kernels, some sandboxes), or with the environment variable
//! `GUV_NO_PIDFD` set, the wait parks until a `SIGCHLD` handler guv
//! installs then (chaining to any handler installed before it) reports the
//! child's exit; no thread blocks for the waiter, so killed or timed-out
//! waits cost nothing. A program that installs its own `SIGCHLD` handler
//! after that must call the previous one, and one that ignores `SIGCHLD`
//! (children reaped automatically) gets an `Unsupported` error. The
//! child's stdin/stdout/stderr pipes are non-blocking on guv's side and
//! registered with the hub like sockets.
//!
//! ```
//! use guv::green::process::{Command, Stdio};
//! use std::io::{Read, Write};
//!
//! let mut child = Command::new("tr").arg("a-z").arg("A-Z")
//!     .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
//! child.stdin.take().unwrap().write_all(b"green pipes").unwrap(); // dropped: EOF
//! let mut out = String::new();
//! child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
//! assert_eq!(out, "GREEN PIPES");
//! assert!(child.wait().unwrap().success());
//! ```

pub use std::process::*;

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::sys::ChildWatch;
use crate::Interest;
use crate::net::{Sock, pidfd_open, set_nonblocking};

/// A process builder whose `spawn`, `output` and `status` return green
/// types (the twin of `std::process::Command`, with the same methods).
///
/// ```
/// let out = guv::green::process::Command::new("echo").arg("hi").output().unwrap();
/// assert_eq!(out.stdout, b"hi\n");
/// assert!(out.status.success());
/// ```
pub struct Command {
    inner: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Command {
    /// A command to run `program`.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let c = Command::new("ls");
    /// assert_eq!(c.get_program(), "ls");
    /// ```
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command { inner: std::process::Command::new(program), stdin_set: false, stdout_set: false, stderr_set: false }
    }

    /// Adds an argument.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let out = Command::new("echo").arg("-n").arg("x").output().unwrap();
    /// assert_eq!(out.stdout, b"x");
    /// ```
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let out = Command::new("echo").args(["a", "b"]).output().unwrap();
    /// assert_eq!(out.stdout, b"a b\n");
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let out = Command::new("sh").arg("-c").arg("echo $GUV_X").env("GUV_X", "1").output().unwrap();
    /// assert_eq!(out.stdout, b"1\n");
    /// ```
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Sets environment variables.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let out = Command::new("sh").arg("-c").arg("echo $A$B").envs([("A", "1"), ("B", "2")]).output().unwrap();
    /// assert_eq!(out.stdout, b"12\n");
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let out = Command::new("sh").arg("-c").arg("echo ${HOME:-none}").env_remove("HOME").output().unwrap();
    /// assert_eq!(out.stdout, b"none\n");
    /// ```
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears the environment.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let out = Command::new("/usr/bin/env").env_clear().output().unwrap();
    /// assert!(out.stdout.is_empty());
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the working directory.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let out = Command::new("pwd").current_dir("/").output().unwrap();
    /// assert_eq!(out.stdout, b"/\n");
    /// ```
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Configures the child's stdin.
    ///
    /// ```
    /// use guv::green::process::{Command, Stdio};
    /// let out = Command::new("cat").stdin(Stdio::null()).output().unwrap();
    /// assert!(out.stdout.is_empty());
    /// ```
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Configures the child's stdout.
    ///
    /// ```
    /// use guv::green::process::{Command, Stdio};
    /// let out = Command::new("echo").stdout(Stdio::null()).output().unwrap();
    /// assert!(out.stdout.is_empty());
    /// ```
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Configures the child's stderr.
    ///
    /// ```
    /// use guv::green::process::{Command, Stdio};
    /// let out = Command::new("sh").arg("-c").arg("echo e >&2").stderr(Stdio::piped()).output().unwrap();
    /// assert_eq!(out.stderr, b"e\n");
    /// ```
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.inner.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// The program.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// assert_eq!(Command::new("true").get_program(), "true");
    /// ```
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// The arguments.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let mut c = Command::new("echo");
    /// c.arg("x");
    /// assert_eq!(c.get_args().collect::<Vec<_>>(), ["x"]);
    /// ```
    pub fn get_args(&self) -> CommandArgs<'_> {
        self.inner.get_args()
    }

    /// The environment changes.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let mut c = Command::new("env");
    /// c.env("K", "V");
    /// assert_eq!(c.get_envs().count(), 1);
    /// ```
    pub fn get_envs(&self) -> CommandEnvs<'_> {
        self.inner.get_envs()
    }

    /// The working directory, if set.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let mut c = Command::new("pwd");
    /// c.current_dir("/tmp");
    /// assert_eq!(c.get_current_dir(), Some(std::path::Path::new("/tmp")));
    /// ```
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.inner.get_current_dir()
    }

    /// The std command, for options only std has (`CommandExt`). Set
    /// stdin, stdout and stderr with this type's own methods: [`Command::output`]
    /// does not see streams set through the std command, and pipes or
    /// nulls the ones it believes unset.
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// let mut c = guv::green::process::Command::new("true");
    /// c.as_std_mut().arg0("renamed");
    /// assert!(c.status().unwrap().success());
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }

    /// Starts the process. A program that cannot be started gives std's
    /// own error, unchanged: its kind (`NotFound`, `PermissionDenied`,
    /// ...) and its `raw_os_error()` (the `errno` of the failed `exec`),
    /// so code that matches on either works as with std. (No context is
    /// added: an `io::Error` with a message has no `raw_os_error`.)
    ///
    /// ```
    /// let e = guv::green::process::Command::new("/nonexistent/guv-program").spawn().unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    /// assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::from_std(self.inner.spawn()?)
    }

    /// Runs the process with stdout and stderr captured (and stdin empty,
    /// unless configured) and waits for it, as std's `output`.
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let out = Command::new("sh").arg("-c").arg("echo o; echo e >&2; exit 2").output().unwrap();
    /// assert_eq!((out.stdout.as_slice(), out.stderr.as_slice(), out.status.code()), (&b"o\n"[..], &b"e\n"[..], Some(2)));
    /// ```
    pub fn output(&mut self) -> io::Result<Output> {
        let defaults = (!self.stdin_set, !self.stdout_set, !self.stderr_set);
        if defaults.0 {
            self.inner.stdin(Stdio::null());
        }
        if defaults.1 {
            self.inner.stdout(Stdio::piped());
        }
        if defaults.2 {
            self.inner.stderr(Stdio::piped());
        }
        let child = self.spawn();
        // Back to what `spawn` does by default.
        if defaults.0 {
            self.inner.stdin(Stdio::inherit());
        }
        if defaults.1 {
            self.inner.stdout(Stdio::inherit());
        }
        if defaults.2 {
            self.inner.stderr(Stdio::inherit());
        }
        child?.wait_with_output()
    }

    /// Runs the process (inheriting stdin/stdout/stderr unless
    /// configured) and waits for it, as std's `status`.
    ///
    /// ```
    /// let st = guv::green::process::Command::new("false").status().unwrap();
    /// assert_eq!(st.code(), Some(1));
    /// ```
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = KillOnUnwind(Some(self.spawn()?));
        child.get().wait()
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std command. std cannot tell which of stdin, stdout and
    /// stderr were configured, so all three count as configured: unlike
    /// std's `output()`, [`Command::output`] on the result inherits a
    /// stream that was never set instead of capturing it. Set the streams
    /// to capture on the green command:
    ///
    /// ```
    /// use guv::green::process::{Command, Stdio};
    /// let mut std_cmd = std::process::Command::new("echo");
    /// std_cmd.arg("hi");
    /// let out = Command::from(std_cmd).stdout(Stdio::piped()).output().unwrap();
    /// assert_eq!(out.stdout, b"hi\n");
    /// ```
    fn from(inner: std::process::Command) -> Command {
        Command { inner, stdin_set: true, stdout_set: true, stderr_set: true }
    }
}

/// Whether `GUV_NO_PIDFD` is set: wait for children through the `SIGCHLD`
/// watcher even where pidfds work (read once).
fn pidfds_disabled() -> bool {
    static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DISABLED.get_or_init(|| std::env::var_os("GUV_NO_PIDFD").is_some())
}

/// A running or exited child process (the twin of `std::process::Child`):
/// the pipes are green, and `wait` parks the greenlet.
///
/// ```
/// let mut child = guv::green::process::Command::new("true").spawn().unwrap();
/// assert!(child.stdin.is_none());
/// assert!(child.wait().unwrap().success());
/// ```
pub struct Child {
    /// The child's stdin, if piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
    inner: std::process::Child,
    /// The registered pidfd, opened on the first wait.
    exit: Option<Sock<OwnedFd>>,
}

impl Child {
    /// Takes over a std child; its pipes become green.
    ///
    /// If a pipe cannot be taken over (registering it with the hub's
    /// poller failed), the child is lost to the caller: nobody could wait
    /// for it or talk to it. So it is killed (`SIGKILL`) and reaped before
    /// the error is returned, rather than left running and then a zombie
    /// (the calling greenlet parks meanwhile; [`Command::spawn`] and the
    /// rest, which call this, do the same).
    ///
    /// ```
    /// let std_child = std::process::Command::new("true").spawn().unwrap();
    /// let mut child = guv::green::process::Child::from_std(std_child).unwrap();
    /// assert!(child.wait().unwrap().success());
    /// ```
    pub fn from_std(mut inner: std::process::Child) -> io::Result<Child> {
        let (stdin, stdout, stderr) = (inner.stdin.take(), inner.stdout.take(), inner.stderr.take());
        // On an error, the pipes taken over so far and those not yet are
        // dropped (closed) with this closure.
        let pipes = move || -> io::Result<_> {
            Ok((
                stdin.map(|p| Pipe::new(p.into())).transpose()?.map(ChildStdin),
                stdout.map(|p| Pipe::new(p.into())).transpose()?.map(ChildStdout),
                stderr.map(|p| Pipe::new(p.into())).transpose()?.map(ChildStderr),
            ))
        };
        match pipes() {
            Ok((stdin, stdout, stderr)) => Ok(Child { stdin, stdout, stderr, inner, exit: None }),
            Err(e) => {
                kill_and_reap(inner);
                Err(e)
            }
        }
    }

    /// The OS process id.
    ///
    /// ```
    /// let mut c = guv::green::process::Command::new("true").spawn().unwrap();
    /// assert!(c.id() > 0);
    /// c.wait().unwrap();
    /// ```
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Kills the child (`SIGKILL`); `Ok` if it has already exited.
    ///
    /// ```
    /// let mut c = guv::green::process::Command::new("sleep").arg("60").spawn().unwrap();
    /// c.kill().unwrap();
    /// assert!(!c.wait().unwrap().success());
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// The exit status if the child has exited, without waiting.
    ///
    /// ```
    /// let mut c = guv::green::process::Command::new("sleep").arg("60").spawn().unwrap();
    /// assert!(c.try_wait().unwrap().is_none());
    /// c.kill().unwrap();
    /// c.wait().unwrap();
    /// assert!(c.try_wait().unwrap().is_some());
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Closes stdin (as std) and parks until the child exits.
    ///
    /// ```
    /// let mut c = guv::green::process::Command::new("true").spawn().unwrap();
    /// assert!(c.wait().unwrap().success());
    /// ```
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.inner.try_wait()? {
                return Ok(status);
            }
            if self.exit.is_none() {
                let opened = if pidfds_disabled() {
                    Err(io::Error::from_raw_os_error(libc::ENOSYS))
                } else {
                    pidfd_open(self.inner.id())
                };
                match opened {
                    Ok(fd) => self.exit = Some(Sock::new(fd)?),
                    // No pidfds here (an old kernel, a sandbox that forbids
                    // the call, or GUV_NO_PIDFD): wait for SIGCHLD instead.
                    Err(e) if e.raw_os_error() != Some(libc::ESRCH) => return self.wait_for_sigchld(),
                    Err(e) => {
                        return Err(io::Error::new(e.kind(), format!("guv: cannot watch process {}: {e}", self.id())));
                    }
                }
            }
            if let Some(exit) = &self.exit {
                exit.wait(Interest::READABLE, None)?;
            }
        }
    }

    /// `wait` without pidfds: park until the SIGCHLD watcher (see
    /// `green/sys.rs`) sees the child exit. No thread blocks for the
    /// waiter, so a killed or timed-out wait leaves nothing behind.
    fn wait_for_sigchld(&mut self) -> io::Result<ExitStatus> {
        let pid = self.inner.id();
        let inner = &mut self.inner;
        crate::hub::with_hub(|hub| {
            loop {
                let waker = hub.arm();
                let (remote, _slot) = hub.remote_waker(&waker);
                let _watch = ChildWatch::new(pid, remote)
                    .map_err(|e| io::Error::new(e.kind(), format!("guv: cannot watch process {pid}: {e}")))?;
                // After registering: an exit before it shows here, one
                // after it wakes us.
                if let Some(status) = inner.try_wait()? {
                    return Ok(status);
                }
                hub.park();
            }
        })
    }

    /// Waits for the child, collecting all of stdout and stderr (read at
    /// the same time, by two greenlets). If the caller is killed (or times
    /// out) meanwhile, the greenlet reading stderr ends too, and the
    /// child, which nobody can wait for any more, is killed (`SIGKILL`) and
    /// reaped by a greenlet of its own (as Python's `subprocess.run` does
    /// when interrupted); so are those of [`Command::output`] and
    /// [`Command::status`].
    ///
    /// ```
    /// use guv::green::process::{Command, Stdio};
    /// let c = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn().unwrap();
    /// assert_eq!(c.wait_with_output().unwrap().stdout, b"hi\n");
    /// ```
    pub fn wait_with_output(self) -> io::Result<Output> {
        let mut guard = KillOnUnwind(Some(self));
        let child = guard.get();
        drop(child.stdin.take());
        let mut err_reader = ReaderGuard(child.stderr.take().map(|mut e| {
            crate::spawn(move || {
                let mut v = Vec::new();
                e.read_to_end(&mut v).map(|_| v)
            })
        }));
        let mut stdout = Vec::new();
        if let Some(mut out) = child.stdout.take() {
            out.read_to_end(&mut stdout)?;
        }
        let stderr = match err_reader.0.take() {
            Some(gt) => gt.wait().map_err(|e| io::Error::other(format!("reading stderr: {e}")))??,
            None => Vec::new(),
        };
        let status = child.wait()?;
        Ok(Output { status, stdout, stderr })
    }
}

/// Kills (`SIGKILL`) and reaps a child that [`Child::from_std`] could not
/// take over. The wait is green; if the child cannot be watched that way
/// (no pidfd or SIGCHLD watch can be set up: the hub's poller is what just
/// failed), std's blocking wait reaps it, which a killed process does not
/// make long. A kill of the caller meanwhile leaves the reaping to a
/// greenlet of its own ([`KillOnUnwind`]).
fn kill_and_reap(inner: std::process::Child) {
    let mut guard = KillOnUnwind(Some(Child { stdin: None, stdout: None, stderr: None, inner, exit: None }));
    let child = guard.get();
    // Ok once it has exited; any other error means it cannot be signalled,
    // and the wait below still reaps it once it ends.
    let _ = child.kill();
    if child.wait().is_err() {
        let _ = child.inner.wait();
    }
}

/// The child of [`Command::status`] or [`Child::wait_with_output`] (and
/// so [`Command::output`]), which the caller cannot reach any more. If the
/// caller unwinds (killed, timed out) before the child is waited for, the
/// child is killed and reaped by a greenlet of its own, rather than left
/// running and then a zombie. An error return leaves it as std does
/// (dropped, not waited for).
struct KillOnUnwind(Option<Child>);

impl KillOnUnwind {
    fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("KillOnUnwind holds its child until dropped")
    }
}

impl Drop for KillOnUnwind {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else { return };
        if !std::thread::panicking() {
            return;
        }
        // Ok once it has exited; any other error means it cannot be
        // signalled, and the reaper still waits for it.
        let _ = child.kill();
        // No waiting here, on an unwinding stack. If no greenlet can be
        // started (the hub is going away), the child stays unreaped, as a
        // dropped std child does.
        let _ = crate::Builder::new().name("guv-reaper").spawn_n(move || drop(child.wait()));
    }
}

/// The stderr reader of [`Child::wait_with_output`], killed if the caller
/// leaves early (an error reading stdout, a kill, a `Timeout`): it would
/// otherwise wait on the pipe until the child closed it.
struct ReaderGuard(Option<crate::GreenThread<io::Result<Vec<u8>>>>);

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        if let Some(gt) = &self.0 {
            gt.kill();
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.inner.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}

/// A non-blocking pipe end registered with the hub.
struct Pipe {
    sock: Sock<std::fs::File>,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        set_nonblocking(fd.as_fd(), true)?;
        Ok(Pipe { sock: Sock::new(std::fs::File::from(fd))? })
    }

    /// The fd, deregistered and back in blocking mode.
    fn into_fd(self) -> OwnedFd {
        let fd = OwnedFd::from(self.sock.into_inner());
        let _ = set_nonblocking(fd.as_fd(), false);
        fd
    }
}

macro_rules! pipe_type {
    ($(#[$doc:meta])* $name:ident, $std:ty) => {
        $(#[$doc])*
        pub struct $name(Pipe);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // As std's: no fields.
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.sock.get().as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.0.sock.get().as_raw_fd()
            }
        }

        impl From<$name> for OwnedFd {
            fn from(p: $name) -> OwnedFd {
                p.0.into_fd()
            }
        }

        impl From<$name> for $std {
            fn from(p: $name) -> $std {
                <$std>::from(p.0.into_fd())
            }
        }

        impl From<$name> for Stdio {
            /// Hands the pipe to another child (in blocking mode).
            fn from(p: $name) -> Stdio {
                Stdio::from(p.0.into_fd())
            }
        }

        impl IntoRawFd for $name {
            /// Gives up the pipe's fd (in blocking mode); the caller must
            /// close it (std's `IntoRawFd`).
            fn into_raw_fd(self) -> RawFd {
                self.0.into_fd().into_raw_fd()
            }
        }

        impl From<OwnedFd> for $name {
            /// Takes over a pipe end (std's `From<OwnedFd>`): it becomes
            /// non-blocking and is registered with this thread's hub.
            ///
            /// # Panics
            ///
            /// If the fd cannot be registered with the hub (as the green
            /// sockets' `From<OwnedFd>`).
            fn from(fd: OwnedFd) -> $name {
                $name(Pipe::new(fd).unwrap_or_else(|e| {
                    panic!(concat!("guv::green::process::", stringify!($name), ": cannot register the fd: {}"), e)
                }))
            }
        }
    };
}

pipe_type!(
    /// The child's stdin: writes park the greenlet while the pipe is full.
    ChildStdin,
    std::process::ChildStdin
);
pipe_type!(
    /// The child's stdout: reads park the greenlet until output arrives.
    /// As std's, it converts to and from `OwnedFd` and raw fds, and into
    /// `Stdio` for another child.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::fd::OwnedFd;
    /// use guv::green::process::{ChildStdout, Command, Stdio};
    /// let mut c = Command::new("echo").arg("out").stdout(Stdio::piped()).spawn().unwrap();
    /// let fd = OwnedFd::from(c.stdout.take().unwrap());
    /// let mut again = ChildStdout::from(fd);
    /// let mut s = String::new();
    /// again.read_to_string(&mut s).unwrap();
    /// assert_eq!(s, "out\n");
    /// c.wait().unwrap();
    /// ```
    ChildStdout,
    std::process::ChildStdout
);
pipe_type!(
    /// The child's stderr: reads park the greenlet until output arrives.
    ChildStderr,
    std::process::ChildStderr
);

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.sock.write(|mut f| f.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.sock.write(|mut f| f.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.sock.read(|mut f| f.read(buf))
    }
}

impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.sock.read(|mut f| f.read(buf))
    }
}
