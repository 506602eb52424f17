//! The green `Child`: waiting for its exit on a pidfd (or the `SIGCHLD`
//! watcher), killing it, and collecting its output.

use std::fmt;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::process::{ExitStatus, Output};

#[cfg(doc)] // only named in doc links
use super::Command;
use super::pipes::{ChildStderr, ChildStdin, ChildStdout, Pipe};
use crate::Interest;
use crate::green::sys::ChildWatch;
use crate::net::{Sock, pidfd_open};

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
        // Waited for by reference: a caller killed (or timed out) here
        // still has the reader in its guard, which ends it. Taken out
        // first, the reader outlived the caller for as long as anything
        // (a grandchild) held the pipe open.
        if let Some(gt) = &err_reader.0 {
            gt.wait_ended(None);
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
pub(super) struct KillOnUnwind(pub(super) Option<Child>);

impl KillOnUnwind {
    pub(super) fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("KillOnUnwind holds its child until dropped")
    }
}

impl Drop for KillOnUnwind {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else { return };
        // This greenlet's unwinding, not another parked mid-unwind on this thread.
        if !crate::hub::panicking() {
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
