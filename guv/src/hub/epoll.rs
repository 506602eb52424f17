//! A raw epoll backend (Linux): one system call per wait.
//!
//! `polling`'s epoll backend spends five system calls on every wait (arm a
//! timerfd, wait, re-arm and drain its notifier); under a server load the
//! hub waits every few requests, so that shows in the CPU time per request.
//! This backend waits with `epoll_pwait2` (nanosecond timeouts; plain
//! `epoll_wait` with the timeout rounded up to milliseconds on kernels
//! before 5.11) and keeps its notifier, an eventfd, registered
//! edge-triggered, reading it only when it fired.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::backend::{Backend, IoEvent, Notifier};

/// The key of the notifier's registration; the registry's keys are fd
/// numbers, which never reach it.
const NOTIFY_KEY: u64 = u64::MAX;

/// Events taken per wait.
const BATCH: usize = 1024;

/// Whether `epoll_pwait2` exists here (cleared at the first `ENOSYS`).
static HAVE_PWAIT2: AtomicBool = AtomicBool::new(true);

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

/// The raw epoll backend. Install it on a thread before that thread's hub
/// starts:
///
/// ```
/// std::thread::spawn(|| {
///     guv::hub::set_backend(Box::new(guv::hub::EpollBackend::new().unwrap())).unwrap();
///     guv::sleep(std::time::Duration::from_millis(1));
/// })
/// .join()
/// .unwrap();
/// ```
pub struct EpollBackend {
    epoll: OwnedFd,
    notifier: Arc<EventFd>,
    /// # Invariant
    /// Capacity [`BATCH`]; `epoll_wait` writes at most that many entries and
    /// the length is set to what it wrote.
    events: Vec<libc::epoll_event>,
}

impl std::fmt::Debug for EpollBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollBackend").field("epoll", &self.epoll).finish_non_exhaustive()
    }
}

struct EventFd(OwnedFd);

impl Notifier for EventFd {
    fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
        let rc = unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            // A counter at its maximum is already a pending notification.
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl EpollBackend {
    /// Creates the epoll instance and its notifier.
    ///
    /// ```
    /// let backend = guv::hub::EpollBackend::new().unwrap();
    /// std::thread::spawn(move || {
    ///     guv::hub::set_backend(Box::new(backend)).unwrap();
    ///     guv::gyield();
    /// })
    /// .join()
    /// .unwrap();
    /// ```
    pub fn new() -> io::Result<EpollBackend> {
        // SAFETY: plain system calls; each fd is owned right after creation.
        let epoll = unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        // SAFETY: as above.
        let event = unsafe { OwnedFd::from_raw_fd(check(libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?) };
        ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            event.as_raw_fd(),
            libc::EPOLLIN as u32 | libc::EPOLLET as u32,
            NOTIFY_KEY,
        )?;
        Ok(EpollBackend { epoll, notifier: Arc::new(EventFd(event)), events: Vec::with_capacity(BATCH) })
    }

    fn drain_notifier(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live 8-byte buffer.
        let _ = unsafe { libc::read(self.notifier.0.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    }

    fn epoll_wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let epfd = self.epoll.as_raw_fd();
        let ptr = self.events.as_mut_ptr();
        if HAVE_PWAIT2.load(Ordering::Relaxed) {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: `ptr` has room for BATCH events (the field invariant);
            // `ts_ptr` is null or points to a live timespec; no signal mask.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    epfd,
                    ptr,
                    BATCH as libc::c_int,
                    ts_ptr,
                    std::ptr::null::<libc::sigset_t>(),
                    0,
                )
            };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOSYS) {
                return Err(e);
            }
            HAVE_PWAIT2.store(false, Ordering::Relaxed);
        }
        let ms = match timeout {
            None => -1,
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
        };
        // SAFETY: as above.
        let rc = unsafe { libc::epoll_wait(epfd, ptr, BATCH as libc::c_int, ms) };
        check(rc).map(|n| n as usize)
    }
}

fn ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: key };
    // SAFETY: `ev` is a live epoll_event; epfd and fd are open descriptors.
    check(unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) }).map(drop)
}

impl Backend for EpollBackend {
    fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), events, key as u64)
    }

    fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0)
    }

    fn wait(&mut self, events: &mut Vec<IoEvent>, timeout: Option<Duration>) -> io::Result<()> {
        let n = match self.epoll_wait(timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        // SAFETY: the kernel initialised the first `n` entries (n <= BATCH,
        // the capacity, by the field invariant).
        unsafe { self.events.set_len(n) };
        for ev in &self.events {
            let (flags, key) = (ev.events, ev.u64);
            if key == NOTIFY_KEY {
                self.drain_notifier();
                continue;
            }
            let broken = flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            events.push(IoEvent {
                key: key as usize,
                readable: broken || flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32 != 0,
                writable: broken || flags & libc::EPOLLOUT as u32 != 0,
                read_closed: broken || flags & libc::EPOLLRDHUP as u32 != 0,
            });
        }
        self.events.clear();
        Ok(())
    }

    fn notifier(&self) -> Arc<dyn Notifier> {
        self.notifier.clone()
    }
}
