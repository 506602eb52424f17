//! [`select`]: wait until any of several fds is ready.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::hub::{poll_now, with_hub};
use crate::io::{Lease, lease, wait_registered};
use crate::{GreenThread, Interest};

/// One ready fd in [`select`]'s answer.
///
/// ```
/// use guv::{Interest, Readiness};
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let r = guv::select(&[(&a, Interest::WRITABLE)], None).unwrap();
/// assert_eq!(r, [Readiness { index: 0, readable: false, writable: true }]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Its position in the slice passed to `select`.
    pub index: usize,
    /// A read would not block (and readability was asked for).
    pub readable: bool,
    /// A write would not block (and writability was asked for).
    pub writable: bool,
}

/// Which of `fds` are ready for what was asked of each, now.
fn check<F: AsFd>(fds: &[(F, Interest)]) -> io::Result<Vec<Readiness>> {
    let mut ready = Vec::new();
    for (index, (fd, interest)) in fds.iter().enumerate() {
        let raw = fd.as_fd().as_raw_fd();
        let (r, w) = poll_now(raw)
            .map_err(|e| io::Error::new(e.kind(), format!("guv::select: cannot poll fd {raw} (entry {index}): {e}")))?;
        let (readable, writable) = (r && interest.is_readable(), w && interest.is_writable());
        if readable || writable {
            ready.push(Readiness { index, readable, writable });
        }
    }
    Ok(ready)
}

/// Kills the helper greenlets when `select` returns or unwinds.
struct Helpers(Vec<GreenThread<()>>);

impl Drop for Helpers {
    fn drop(&mut self) {
        for h in &self.0 {
            if !h.is_finished() {
                h.kill();
            }
        }
    }
}

/// Waits until at least one of `fds` is ready for its [`Interest`], or
/// `timeout` passes, parking only the calling greenlet (Python guv's
/// `select`). Returns every fd that is ready at that point — not just the
/// first — in the order given; an empty list means the timeout passed.
/// `None` waits without limit; `Some(Duration::ZERO)` only checks.
///
/// Errors: an fd that is not open (`EBADF`) or cannot be polled, with the
/// fd and its position named; `NotConnected` if another greenlet closes one
/// of the fds through guv, or tells the hub it will with
/// [`notify_close`](crate::notify_close), while the select waits (as a
/// [`trampoline`](crate::trampoline) on it would end).
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
/// use guv::Interest;
///
/// let (a, mut a_peer) = UnixStream::pair().unwrap();
/// let (b, mut b_peer) = UnixStream::pair().unwrap();
/// // Nothing to read yet: times out with nothing ready.
/// let none = guv::select(&[(&a, Interest::READABLE), (&b, Interest::READABLE)], Some(Duration::from_millis(10)));
/// assert!(none.unwrap().is_empty());
///
/// guv::spawn_n(move || {
///     a_peer.write_all(b"x").unwrap();
///     b_peer.write_all(b"y").unwrap();
/// });
/// let ready = guv::select(&[(&a, Interest::READABLE), (&b, Interest::READABLE)], None).unwrap();
/// assert_eq!(ready.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1]);
/// ```
pub fn select<F: AsFd>(fds: &[(F, Interest)], timeout: Option<Duration>) -> io::Result<Vec<Readiness>> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    // Borrows of the fds' registry entries, taken at the first wait and kept
    // until the select returns: the helpers wait on the entries by name, so
    // no fd is duplicated (a set of half the open-file limit would fail
    // with EMFILE) and a close through guv or `notify_close` reaches them.
    let mut leases: Vec<Lease<'_>> = Vec::new();
    loop {
        let ready = check(fds)?;
        if !ready.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(ready);
        }
        if leases.is_empty() {
            leases = fds.iter().map(|(fd, _)| lease(fd.as_fd())).collect::<io::Result<_>>()?;
        }
        // One helper greenlet per fd waits for its edge and wakes us.
        let failed: Rc<RefCell<Option<(usize, io::Error)>>> = Rc::default();
        let woke = with_hub(|hub| {
            let waker = hub.arm();
            let mut helpers = Helpers(Vec::with_capacity(fds.len()));
            for (index, ((fd, interest), lease)) in fds.iter().zip(&leases).enumerate() {
                let (raw, generation, interest) = (fd.as_fd().as_raw_fd(), lease.generation(), *interest);
                let (waker, failed) = (waker.clone(), failed.clone());
                helpers.0.push(crate::spawn(move || {
                    if let Err(e) = wait_registered(raw, generation, interest) {
                        failed.borrow_mut().get_or_insert((index, e));
                    }
                    waker.wake();
                }));
            }
            let woke = hub.park_until(&waker, deadline);
            drop(helpers);
            woke
        });
        if let Some((index, e)) = failed.borrow_mut().take() {
            let raw = fds[index].0.as_fd().as_raw_fd();
            if e.kind() == io::ErrorKind::NotConnected {
                return Err(io::Error::new(
                    e.kind(),
                    format!("guv::select: fd {raw} (entry {index}) was closed while the select waited on it"),
                ));
            }
            return Err(io::Error::new(e.kind(), format!("guv::select: waiting on fd {raw} (entry {index}): {e}")));
        }
        if !woke {
            return check(fds);
        }
    }
}
