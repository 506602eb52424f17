//! The green `Command`: std's builder, whose `spawn`, `output` and `status`
//! return green types.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;
use std::process::{CommandArgs, CommandEnvs, ExitStatus, Output, Stdio};

use super::child::{Child, KillOnUnwind};

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
    /// The hook of [`crate::signal::inherit_dispositions`] is on `inner`
    /// (added by [`Command::spawn`] when it was needed; it stays).
    keeps_dispositions: bool,
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
        Command {
            inner: std::process::Command::new(program),
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            keeps_dispositions: false,
        }
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
    /// The child starts with the signal dispositions it would have had
    /// without guv: while a [`guv::signal`](crate::signal) registration
    /// catches a signal that this process had ignored (`SIGHUP` under
    /// `nohup`), the command gets the hook of
    /// [`signal::inherit_dispositions`](crate::signal::inherit_dispositions),
    /// so that the child keeps it ignored (`exec` alone would give it the
    /// default action). std then starts the child with `fork` rather than
    /// `posix_spawn`; when no such signal is caught, nothing is added.
    /// [`output`](Command::output) and [`status`](Command::status) spawn
    /// through this.
    ///
    /// ```
    /// let e = guv::green::process::Command::new("/nonexistent/guv-program").spawn().unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    /// assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::from_std(self.for_exec().spawn()?)
    }

    /// The std command, with the hook that keeps ignored signals ignored
    /// in the new program when guv catches one (see [`Command::spawn`]):
    /// what `spawn` and `CommandExt::exec` run.
    pub(in crate::green) fn for_exec(&mut self) -> &mut std::process::Command {
        if !self.keeps_dispositions && crate::signal::children_would_lose_an_ignored_signal() {
            crate::signal::inherit_dispositions(&mut self.inner);
            self.keeps_dispositions = true;
        }
        &mut self.inner
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

/// As std's. [`output`](Command::output) has to set the streams it
/// captures on the std command and can only set them back to `inherit()`
/// (std has no way to unset one), where std's own `output` leaves them
/// unset: the alternate form (`{:#?}`, which lists the streams) leaves out
/// the `Inherit` entries of streams this command never had set, so it
/// reads as std's after `output()` too.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() || (self.stdin_set && self.stdout_set && self.stderr_set) {
            return fmt::Debug::fmt(&self.inner, f);
        }
        let mut text = format!("{:#?}", self.inner);
        for (set, name) in [(self.stdin_set, "stdin"), (self.stdout_set, "stdout"), (self.stderr_set, "stderr")] {
            if !set {
                text = text.replacen(&format!("\n    {name}: Some(\n        Inherit,\n    ),"), "", 1);
            }
        }
        f.write_str(&text)
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
        Command { inner, stdin_set: true, stdout_set: true, stderr_set: true, keeps_dispositions: false }
    }
}
