//! [`Signal`], the checked signal number, and [`IntoSignal`], what the
//! registering calls accept.

use std::fmt;
use std::io;

use super::sys;

/// A Unix signal number that guv can handle (see the [module
/// docs](super#signals-that-are-refused) for the ones it refuses).
///
/// ```
/// use guv::signal::Signal;
/// assert_eq!(Signal::new(libc::SIGUSR1).unwrap(), Signal::USR1);
/// assert_eq!(Signal::USR1.as_raw(), libc::SIGUSR1);
/// assert_eq!(Signal::USR1.to_string(), "SIGUSR1");
/// assert!(Signal::new(libc::SIGKILL).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(pub(super) libc::c_int);

impl Signal {
    /// `SIGHUP`: the terminal hung up; by convention, "reload".
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// `SIGINT`: Ctrl-C.
    pub const INT: Signal = Signal(libc::SIGINT);
    /// `SIGQUIT`: Ctrl-\.
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// `SIGTERM`: please stop (what `kill` and service managers send).
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// `SIGUSR1`: user-defined.
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// `SIGUSR2`: user-defined.
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// `SIGALRM`: a timer set with `alarm` expired.
    pub const ALRM: Signal = Signal(libc::SIGALRM);
    /// `SIGPIPE`: a write to a pipe with no reader (Rust programs ignore it
    /// by default).
    pub const PIPE: Signal = Signal(libc::SIGPIPE);
    /// `SIGCHLD`: a child stopped or exited (shared with guv's child
    /// watcher; see the module docs).
    pub const CHLD: Signal = Signal(libc::SIGCHLD);
    /// `SIGCONT`: continued after a stop.
    pub const CONT: Signal = Signal(libc::SIGCONT);
    /// `SIGTSTP`: Ctrl-Z.
    pub const TSTP: Signal = Signal(libc::SIGTSTP);
    /// `SIGWINCH`: the terminal's size changed.
    pub const WINCH: Signal = Signal(libc::SIGWINCH);
    /// `SIGURG`: urgent data on a socket.
    pub const URG: Signal = Signal(libc::SIGURG);

    /// The signal numbered `raw` (a `libc::SIG*` constant, or
    /// `libc::SIGRTMIN() + n`), or an `InvalidInput` error for a number
    /// guv refuses (out of range, uncatchable, a fault signal, reserved by
    /// the C library), which says why.
    ///
    /// ```
    /// use guv::signal::Signal;
    /// let rt = Signal::new(libc::SIGRTMIN() + 1).unwrap();
    /// assert_eq!(rt.to_string(), "SIGRTMIN+1");
    /// let err = Signal::new(libc::SIGSEGV).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("SIGSEGV"), "{err}");
    /// assert!(Signal::new(0).is_err() && Signal::new(1000).is_err());
    /// ```
    pub fn new(raw: libc::c_int) -> io::Result<Signal> {
        let refuse = |why: &str| {
            let name = if (1..=sys::MAX as libc::c_int).contains(&raw) {
                format!("{} ({raw})", Signal(raw))
            } else {
                format!("signal number {raw}")
            };
            Err(io::Error::new(io::ErrorKind::InvalidInput, format!("guv::signal: {name} {why}")))
        };
        let max = libc::SIGRTMAX().min(sys::MAX as libc::c_int);
        match raw {
            _ if raw < 1 || raw > max => refuse(&format!("is out of range (1..={max})")),
            libc::SIGKILL | libc::SIGSTOP => refuse("cannot be caught"),
            libc::SIGSEGV | libc::SIGBUS => refuse(
                "is a synchronous fault signal, which cannot wait for a greenlet (guv's stack-overflow \
                 handler owns it)",
            ),
            libc::SIGILL | libc::SIGFPE | libc::SIGTRAP | libc::SIGSYS => {
                refuse("is a synchronous fault signal, which cannot wait for a greenlet")
            }
            _ if raw > 31 && raw < libc::SIGRTMIN() => refuse("is reserved by the C library"),
            _ => Ok(Signal(raw)),
        }
    }

    /// The signal's number.
    ///
    /// ```
    /// assert_eq!(guv::signal::Signal::TERM.as_raw(), libc::SIGTERM);
    /// ```
    pub fn as_raw(self) -> libc::c_int {
        self.0
    }
}

impl From<Signal> for libc::c_int {
    /// The signal's number.
    ///
    /// ```
    /// let n: libc::c_int = guv::signal::Signal::HUP.into();
    /// assert_eq!(n, libc::SIGHUP);
    /// ```
    fn from(s: Signal) -> libc::c_int {
        s.0
    }
}

impl fmt::Display for Signal {
    /// The signal's name: `SIGTERM`, `SIGRTMIN+2`, or `signal N` for one
    /// without a name.
    ///
    /// ```
    /// assert_eq!(guv::signal::Signal::TERM.to_string(), "SIGTERM");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGILL => "SIGILL",
            libc::SIGTRAP => "SIGTRAP",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGFPE => "SIGFPE",
            libc::SIGKILL => "SIGKILL",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGALRM => "SIGALRM",
            libc::SIGTERM => "SIGTERM",
            libc::SIGSTKFLT => "SIGSTKFLT",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGCONT => "SIGCONT",
            libc::SIGSTOP => "SIGSTOP",
            libc::SIGTSTP => "SIGTSTP",
            libc::SIGTTIN => "SIGTTIN",
            libc::SIGTTOU => "SIGTTOU",
            libc::SIGURG => "SIGURG",
            libc::SIGXCPU => "SIGXCPU",
            libc::SIGXFSZ => "SIGXFSZ",
            libc::SIGVTALRM => "SIGVTALRM",
            libc::SIGPROF => "SIGPROF",
            libc::SIGWINCH => "SIGWINCH",
            libc::SIGIO => "SIGIO",
            libc::SIGPWR => "SIGPWR",
            libc::SIGSYS => "SIGSYS",
            n if n >= libc::SIGRTMIN() && n <= libc::SIGRTMAX() => {
                return write!(f, "SIGRTMIN+{}", n - libc::SIGRTMIN());
            }
            n => return write!(f, "signal {n}"),
        };
        f.write_str(name)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal({self})")
    }
}

/// What [`Signals::new`](super::Signals::new) and [`handler`](super::handler) accept: a [`Signal`], or a raw
/// signal number (checked by [`Signal::new`]). Sealed.
///
/// ```
/// use guv::signal::{IntoSignal, Signal};
/// assert_eq!(libc::SIGHUP.into_signal().unwrap(), Signal::HUP);
/// assert!(libc::SIGKILL.into_signal().is_err());
/// ```
pub trait IntoSignal: sealed::Sealed {
    /// The signal, or the error of [`Signal::new`].
    fn into_signal(self) -> io::Result<Signal>;
}

impl IntoSignal for Signal {
    fn into_signal(self) -> io::Result<Signal> {
        Ok(self)
    }
}

impl IntoSignal for libc::c_int {
    fn into_signal(self) -> io::Result<Signal> {
        Signal::new(self)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Signal {}
    impl Sealed for libc::c_int {}
}
