//! A raw-epoll [`guv::hub::Backend`], to measure what the default
//! `polling` backend costs: `polling` re-arms a timerfd on every wait
//! (`timerfd_settime` + `epoll_ctl`), where this backend makes one
//! `epoll_wait` (or `epoll_pwait2`, for sub-millisecond timeouts).
//! Installed with the public `guv::hub::set_backend`, it is what the
//! `guv+epoll` runtime of the echo benchmark runs on.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use guv::hub::{Backend, IoEvent, Notifier};

/// The key of the eventfd that wakes a sleeping `wait`.
const NOTIFY_KEY: u64 = u64::MAX;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

/// Epoll, edge-triggered, one system call per wait.
pub struct EpollBackend {
    epfd: OwnedFd,
    notifier: Arc<EventFd>,
    buf: Vec<libc::epoll_event>,
    /// `epoll_pwait2` is missing (kernel before 5.11): use `epoll_wait`.
    no_pwait2: bool,
}

struct EventFd(OwnedFd);

impl Notifier for EventFd {
    fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
        let rc = unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            // A full counter still wakes the waiter.
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl EpollBackend {
    /// A new epoll instance with its wake-up eventfd.
    pub fn new() -> io::Result<EpollBackend> {
        // SAFETY: plain epoll_create1/eventfd; results checked and owned.
        let epfd = unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        // SAFETY: as above.
        let efd = unsafe { OwnedFd::from_raw_fd(check(libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?) };
        let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: NOTIFY_KEY };
        // SAFETY: registers an fd we own with a valid event struct.
        check(unsafe { libc::epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, efd.as_raw_fd(), &mut ev) })?;
        Ok(EpollBackend {
            epfd,
            notifier: Arc::new(EventFd(efd)),
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
            no_pwait2: false,
        })
    }

    fn epoll_wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let max = self.buf.len() as libc::c_int;
        if !self.no_pwait2 {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
            let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: epoll_pwait2(epfd, events, maxevents, timeout, NULL
            // sigmask, 0): the buffer holds `max` events; `tsp` is null or
            // points to a live timespec.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.epfd.as_raw_fd(),
                    self.buf.as_mut_ptr(),
                    max,
                    tsp,
                    0usize,
                    0usize,
                )
            };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOSYS) {
                return Err(e);
            }
            self.no_pwait2 = true;
        }
        // Round up so that a timer is never polled for too early.
        let ms = timeout.map_or(-1, |t| t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int);
        // SAFETY: the buffer holds `max` events.
        let rc = unsafe { libc::epoll_wait(self.epfd.as_raw_fd(), self.buf.as_mut_ptr(), max, ms) };
        check(rc).map(|n| n as usize)
    }
}

impl Backend for EpollBackend {
    fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        let flags = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        let mut ev = libc::epoll_event { events: flags as u32, u64: key as u64 };
        // SAFETY: registers an open fd with a valid event struct.
        check(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) }).map(drop)
    }

    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: removes an fd from our epoll set.
        check(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), &mut ev) }).map(drop)
    }

    fn wait(&mut self, events: &mut Vec<IoEvent>, timeout: Option<Duration>) -> io::Result<()> {
        let n = match self.epoll_wait(timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        for ev in &self.buf[..n] {
            let (flags, key) = (ev.events as libc::c_int, ev.u64);
            if key == NOTIFY_KEY {
                let mut v: u64 = 0;
                // SAFETY: reads 8 bytes into a live u64 (drains the eventfd).
                unsafe { libc::read(self.notifier.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
                continue;
            }
            let broken = flags & (libc::EPOLLHUP | libc::EPOLLERR) != 0;
            events.push(IoEvent {
                key: key as usize,
                readable: broken || flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) != 0,
                writable: broken || flags & libc::EPOLLOUT != 0,
            });
        }
        Ok(())
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        self.notifier.clone()
    }
}
