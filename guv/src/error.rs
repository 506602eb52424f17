//! The error a greenlet ends with.

use std::any::Any;
use std::panic::{self, UnwindSafe};
use std::{fmt, io};

use crate::greenlet::{KillSignal, TimeoutSignal};

/// Why a greenlet did not return a value: what [`crate::GreenThread::wait`]
/// and [`crate::with_timeout`] report.
///
/// ```
/// use std::time::Duration;
/// guv::debug::hub_exceptions(false);
/// let panicked = guv::spawn(|| -> () { panic!("oops") }).wait().unwrap_err();
/// assert!(panicked.is_panic());
/// assert_eq!(panicked.to_string(), "greenlet panicked: oops");
///
/// let killed = guv::spawn(|| ());
/// killed.kill(); // before it started: it never runs
/// assert!(matches!(killed.wait(), Err(guv::Error::Killed)));
///
/// let late = guv::with_timeout(Duration::from_millis(1), || guv::sleep(Duration::from_secs(60)));
/// assert!(late.unwrap_err().is_timed_out());
/// ```
#[non_exhaustive]
pub enum Error {
    /// It was killed ([`crate::kill`]) — before it started, or while it ran.
    Killed,
    /// A [`crate::Timeout`] expired while it was blocked.
    TimedOut,
    /// Its body panicked; this is the panic's payload, as
    /// `std::thread::JoinHandle::join` gives it (re-raise it with
    /// `std::panic::resume_unwind(e.into_panic())`).
    Panicked(Box<dyn Any + Send + 'static>),
}

impl Error {
    /// Classifies what a greenlet's body unwound with.
    pub(crate) fn from_unwind(payload: Box<dyn Any + Send + 'static>) -> Error {
        if payload.is::<KillSignal>() {
            Error::Killed
        } else if payload.is::<TimeoutSignal>() {
            Error::TimedOut
        } else {
            Error::Panicked(payload)
        }
    }

    /// Whether the greenlet was killed.
    ///
    /// ```
    /// let gt = guv::spawn(|| ());
    /// gt.kill();
    /// assert!(gt.wait().unwrap_err().is_killed());
    /// ```
    pub fn is_killed(&self) -> bool {
        matches!(self, Error::Killed)
    }

    /// Whether a timeout expired.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = guv::with_timeout(Duration::from_millis(1), || guv::sleep(Duration::from_secs(60)));
    /// assert!(r.unwrap_err().is_timed_out());
    /// ```
    pub fn is_timed_out(&self) -> bool {
        matches!(self, Error::TimedOut)
    }

    /// Whether the greenlet panicked.
    ///
    /// ```
    /// guv::debug::hub_exceptions(false);
    /// assert!(guv::spawn(|| panic!()).wait().unwrap_err().is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, Error::Panicked(_))
    }

    /// The panic message, when the payload is a string (as `panic!` makes).
    ///
    /// ```
    /// guv::debug::hub_exceptions(false);
    /// let e = guv::spawn(|| panic!("at {}", 42)).wait().unwrap_err();
    /// assert_eq!(e.panic_message(), Some("at 42"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Error::Panicked(p) => {
                p.downcast_ref::<&'static str>().copied().or_else(|| p.downcast_ref::<String>().map(String::as_str))
            }
            _ => None,
        }
    }

    /// The panic payload (for `Killed`/`TimedOut`, a string describing it),
    /// for `std::panic::resume_unwind`.
    ///
    /// ```
    /// guv::debug::hub_exceptions(false);
    /// let e = guv::spawn(|| std::panic::panic_any(7u32)).wait().unwrap_err();
    /// let payload = e.into_panic();
    /// assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
    /// // std::panic::resume_unwind(payload) would re-raise it here.
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self {
            Error::Panicked(p) => p,
            other => Box::new(other.to_string()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Killed => f.write_str("greenlet was killed"),
            Error::TimedOut => f.write_str("greenlet timed out"),
            Error::Panicked(_) => match self.panic_message() {
                Some(msg) => write!(f, "greenlet panicked: {msg}"),
                None => f.write_str("greenlet panicked"),
            },
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Killed => f.write_str("Killed"),
            Error::TimedOut => f.write_str("TimedOut"),
            Error::Panicked(_) => f.debug_tuple("Panicked").field(&self.panic_message().unwrap_or("..")).finish(),
        }
    }
}

impl std::error::Error for Error {}

/// A greenlet's error as an `io::Error`, for a handler or a function that
/// returns `io::Result` and waits on a greenlet with `?`: `TimedOut`
/// becomes `ErrorKind::TimedOut`; `Killed` and a panic become
/// `ErrorKind::Other` with the error's text (not `Interrupted`, which
/// std's `read_exact`, `write_all` and `copy` retry). An `io::Error` must be
/// `Sync`, which a panic payload is not, so the payload itself stays
/// behind.
/// ```
/// use std::io;
/// fn fetch() -> io::Result<u32> {
///     let n = guv::spawn(|| 7).wait()?;
///     let late = guv::with_timeout(std::time::Duration::from_millis(1), || guv::sleep(std::time::Duration::from_secs(60)));
///     late?;
///     Ok(n)
/// }
/// assert_eq!(fetch().unwrap_err().kind(), io::ErrorKind::TimedOut);
/// guv::debug::hub_exceptions(false);
/// let e = io::Error::from(guv::spawn(|| -> () { panic!("no disk") }).wait().unwrap_err());
/// assert_eq!((e.kind(), e.to_string()), (io::ErrorKind::Other, "greenlet panicked: no disk".to_string()));
/// ```
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e {
            Error::TimedOut => io::ErrorKind::TimedOut,
            Error::Killed | Error::Panicked(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// Whether a payload caught from an unwind (`std::panic::catch_unwind`'s
/// `Err`) is guv's own: the running greenlet being killed, or a
/// [`Timeout`](crate::Timeout) of its expiring — what Python's
/// `GreenletExit` and gevent's `Timeout` are, exceptions that
/// `except Exception` lets through. Code that catches panics around
/// blocking calls should re-raise these ([`resume_unwind`]), or the kill
/// or timeout is lost; [`catch_unwind`] does that for you.
/// ```
/// use std::panic::{AssertUnwindSafe, catch_unwind};
/// let caught = guv::with_timeout(std::time::Duration::from_millis(1), || {
///     let payload = catch_unwind(AssertUnwindSafe(|| guv::sleep(std::time::Duration::from_secs(60)))).unwrap_err();
///     assert!(guv::is_interrupt(&*payload));
///     guv::resume_unwind(payload);
/// });
/// assert!(caught.unwrap_err().is_timed_out());
/// guv::debug::hub_exceptions(false);
/// let payload = catch_unwind(|| panic!("a bug")).unwrap_err();
/// assert!(!guv::is_interrupt(&*payload));
/// ```
pub fn is_interrupt(payload: &(dyn Any + Send)) -> bool {
    payload.is::<KillSignal>() || payload.is::<TimeoutSignal>()
}

/// `std::panic::resume_unwind` for greenlets: re-raises `payload` (one
/// caught with `catch_unwind`, or a thread's panic from
/// `JoinHandle::join`) in the running greenlet, first telling the hub that
/// this greenlet is unwinding. Rust counts panics per OS thread, and
/// std's `resume_unwind` skips the panic hook through which guv learns
/// whose panic is in flight; a greenlet that re-raises with it after it
/// has blocked, while another greenlet is parked mid-unwind, could have a
/// kill delivered into its cleanup, which aborts the process. Re-raising
/// at once, before anything blocks, is safe either way.
/// ```
/// use std::panic::{AssertUnwindSafe, catch_unwind};
/// let r = guv::with_timeout(std::time::Duration::from_millis(1), || {
///     let payload = catch_unwind(AssertUnwindSafe(|| guv::sleep(std::time::Duration::from_secs(60)))).unwrap_err();
///     guv::sleep(std::time::Duration::from_millis(1)); // some cleanup that blocks
///     guv::resume_unwind(payload);
/// });
/// assert!(r.unwrap_err().is_timed_out());
/// ```
pub fn resume_unwind(payload: Box<dyn Any + Send>) -> ! {
    crate::hub::resume_unwind(payload)
}

/// `std::panic::catch_unwind` that lets guv's kills and timeouts through:
/// it catches the panics of `f`, while a kill of the running greenlet or an
/// expiring [`Timeout`](crate::Timeout) goes on unwinding past it (Python's
/// `except Exception:` around code that may block). A worker loop that
/// survives its jobs' panics stays killable:
/// ```
/// use std::panic::AssertUnwindSafe;
/// guv::debug::hub_exceptions(false);
/// let jobs = guv::queue::Queue::<fn()>::new(None);
/// let q = jobs.clone();
/// let worker = guv::spawn(move || {
///     let mut survived = 0;
///     loop {
///         let job = q.get(); // a kill here ends the loop
///         if guv::catch_unwind(AssertUnwindSafe(job)).is_err() {
///             survived += 1;
///         }
///         if survived == 2 {
///             // and a kill inside a job ends it too
///             guv::catch_unwind(|| guv::sleep(std::time::Duration::from_secs(3600))).ok();
///         }
///     }
/// });
/// jobs.put(|| panic!("a bad job"));
/// jobs.put(|| panic!("another"));
/// guv::gyield(); // the worker survives both, then sleeps inside catch_unwind
/// assert!(!worker.is_finished());
/// worker.kill();
/// assert!(worker.wait().unwrap_err().is_killed());
/// ```
pub fn catch_unwind<R>(f: impl FnOnce() -> R + UnwindSafe) -> std::thread::Result<R> {
    match panic::catch_unwind(f) {
        Err(payload) if is_interrupt(&*payload) => crate::hub::resume_unwind(payload),
        other => other,
    }
}

/// A copy of the error, for handing one greenlet's outcome to several
/// parties (an `AsyncResult` linked to a greenlet, say). A panic payload
/// that is a `&'static str` or a `String` — what `panic!` makes — is copied
/// as such; any other payload type cannot be cloned and becomes the
/// `&'static str` `"Box<dyn Any>"`.
///
/// ```
/// guv::debug::hub_exceptions(false);
/// let e = guv::spawn(|| -> () { panic!("boom {}", 1) }).wait().unwrap_err();
/// assert_eq!(e.clone().panic_message(), Some("boom 1"));
/// ```
impl Clone for Error {
    fn clone(&self) -> Error {
        match self {
            Error::Killed => Error::Killed,
            Error::TimedOut => Error::TimedOut,
            Error::Panicked(p) => Error::Panicked(match p.downcast_ref::<String>() {
                Some(s) => Box::new(s.clone()),
                None => Box::new(p.downcast_ref::<&'static str>().copied().unwrap_or("Box<dyn Any>")),
            }),
        }
    }
}
