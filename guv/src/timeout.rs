//! Bounding how long a greenlet may block: [`Timeout`] and [`with_timeout`].

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Error;
use crate::greenlet::{GreenletRef, Interrupt, TimeoutSignal};
use crate::hub::{TimerAction, TimerKey, try_with_hub, with_hub};

/// A deadline for the greenlet that started it (Python guv's `Timeout`).
///
/// If the deadline passes while the greenlet is blocked (sleeping, waiting
/// for I/O, a lock, another greenlet...), the greenlet unwinds from that
/// point, running destructors, as if killed; [`with_timeout`] turns that
/// into `Err(Error::TimedOut)`, and a greenlet that does not catch it ends
/// with [`Error::TimedOut`]. Dropping the guard (or [`Timeout::cancel`])
/// disarms it. A greenlet that never blocks is never interrupted.
///
/// A guard made in a destructor that runs while its greenlet unwinds (from
/// a kill, a timeout or a panic) does not interrupt it before that
/// unwinding is over: unwinding out of a destructor then would abort the
/// process. Bound such a wait with [`with_timeout`], whose timeout is
/// caught inside the destructor and so is delivered.
///
/// The unwinding carries no panic message: on a thread's main greenlet
/// (`fn main`, a plain `#[test]`) an uncaught timeout ends the thread as a
/// panic that says nothing (`#[guv::test]` names it). Catch it there with
/// [`with_timeout`].
///
/// ```
/// use std::time::Duration;
/// let gt = guv::spawn(|| {
///     let _t = guv::Timeout::start(Duration::from_millis(10));
///     guv::sleep(Duration::from_secs(60)); // interrupted after 10 ms
///     "unreachable"
/// });
/// assert!(gt.wait().unwrap_err().is_timed_out());
/// ```
#[must_use = "a Timeout is disarmed as soon as it is dropped"]
pub struct Timeout {
    id: u64,
    key: Option<TimerKey>,
    owner: GreenletRef,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Timeout {
    /// Arms a timeout of `duration` for the running greenlet. A duration too
    /// large to represent (`Duration::MAX`) never expires.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = guv::Timeout::start(Duration::from_secs(60));
    /// guv::sleep(Duration::from_millis(1)); // well within the deadline
    /// drop(t); // disarmed
    /// ```
    pub fn start(duration: Duration) -> Timeout {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        with_hub(|hub| {
            let owner = hub.current();
            let key = Instant::now().checked_add(duration).map(|deadline| {
                hub.timers.borrow_mut().add(deadline, TimerAction::Interrupt(owner.clone(), Interrupt::Timeout(id)))
            });
            Timeout { id, key, owner }
        })
    }

    /// Whether the timeout is still armed: it has neither expired nor been
    /// cancelled.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert!(guv::Timeout::start(Duration::from_secs(60)).is_pending());
    /// assert!(!guv::Timeout::start(Duration::MAX).is_pending(), "never expires: no timer");
    /// ```
    pub fn is_pending(&self) -> bool {
        self.key.is_some_and(|key| with_hub(|hub| hub.timers.borrow().contains(key)))
    }

    /// Disarms the timeout (the same as dropping it).
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = guv::Timeout::start(Duration::from_millis(1));
    /// t.cancel();
    /// guv::sleep(Duration::from_millis(5)); // not interrupted
    /// ```
    pub fn cancel(self) {}
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let action = try_with_hub(|hub| hub.timers.borrow_mut().cancel(key));
            drop(action);
        }
        // Expired but not yet delivered (the greenlet did not block again):
        // it must not hit some later, unrelated wait.
        self.owner.header().forget_timeout(self.id);
    }
}

impl std::fmt::Debug for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout").field("id", &self.id).field("armed", &self.key.is_some()).finish()
    }
}

/// Runs `f` under a [`Timeout`] of `duration`: `Ok` with its value if it
/// finished in time, `Err(Error::TimedOut)` if it was interrupted while
/// blocked. The timer is cancelled either way; panics in `f` and outer
/// timeouts pass through.
///
/// ```
/// use std::time::Duration;
/// let r = guv::with_timeout(Duration::from_millis(10), || guv::sleep(Duration::from_secs(60)));
/// assert!(r.unwrap_err().is_timed_out());
/// assert_eq!(guv::with_timeout(Duration::from_secs(60), || 7).unwrap(), 7);
/// ```
///
/// It also bounds a wait in a destructor that runs while the greenlet
/// unwinds (a kill, an outer timeout, a panic), where a kill or a bare
/// [`Timeout`] guard's expiry is held back until the unwinding is over
/// (unwinding out of a destructor then would abort the process): its own
/// timeout is caught right here, inside the destructor.
///
/// ```
/// use std::time::Duration;
/// struct Goodbye;
/// impl Drop for Goodbye {
///     fn drop(&mut self) {
///         // A cleanup that may block: bounded even while being killed.
///         let r = guv::with_timeout(Duration::from_millis(10), || guv::sleep(Duration::from_secs(3600)));
///         assert!(r.unwrap_err().is_timed_out());
///     }
/// }
/// let gt = guv::spawn(|| {
///     let _bye = Goodbye;
///     guv::sleep(Duration::from_secs(3600));
/// });
/// guv::gyield();
/// gt.kill();
/// assert!(gt.wait().unwrap_err().is_killed());
/// ```
pub fn with_timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T, Error> {
    // Entered from a destructor while this greenlet unwinds: its timeout
    // may interrupt it all the same (see `Header::take_nested_timeout`).
    let nested = crate::hub::panicking();
    let timeout = Timeout::start(duration);
    let id = timeout.id;
    let scope = nested.then(|| NestedScope::enter(&timeout.owner, id));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(timeout);
    drop(scope);
    match result {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast_ref::<TimeoutSignal>() {
            Some(TimeoutSignal(fired)) if *fired == id => {
                // Delivered to a greenlet that was not unwinding (see
                // `Hub::is_unwinding`): caught, it no longer is. Said now,
                // since another greenlet parked mid-unwind would keep
                // `std::thread::panicking()` true for a while. A nested
                // scope's greenlet still unwinds from before.
                if !nested {
                    with_hub(|hub| hub.unwound(hub.current().header()));
                }
                Err(Error::TimedOut)
            }
            _ => crate::hub::resume_unwind(payload),
        },
    }
}

/// A `with_timeout` scope entered during an unwinding, listed in its
/// greenlet's header while it lasts.
struct NestedScope {
    owner: GreenletRef,
    id: u64,
}

impl NestedScope {
    fn enter(owner: &GreenletRef, id: u64) -> NestedScope {
        owner.header().nested_timeouts.borrow_mut().push(id);
        NestedScope { owner: owner.clone(), id }
    }
}

impl Drop for NestedScope {
    fn drop(&mut self) {
        let mut scopes = self.owner.header().nested_timeouts.borrow_mut();
        if let Some(at) = scopes.iter().rposition(|&id| id == self.id) {
            scopes.remove(at);
        }
    }
}
