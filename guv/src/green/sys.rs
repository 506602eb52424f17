//! The raw system calls of green `fs` and `process` that std does not
//! offer: `FromRawFd` for the green `File`, the fd view its `Deref` lends
//! out (for std's sealed `IsTerminal`), and the `SIGCHLD` watcher that
//! child waits use where pidfds are not available. Only system calls and
//! the signal handler live here; the waiting protocol is in `process/child.rs`.
//!
//! # The SIGCHLD watcher
//!
//! Installed on the first wait that needs it, never before: a `SIGCHLD`
//! handler (`SA_SIGINFO | SA_ONSTACK`, with the previous action's mask and
//! flags as `guv::signal` carries them over) that writes one byte to a
//! non-blocking self-pipe and then calls the handler that was installed
//! before it, if that was a function. One thread, `guv-sigchld`, blocks
//! reading the pipe; after each read it asks the kernel, for every child
//! a greenlet waits for, whether it has exited (`waitid` with `WNOHANG |
//! WNOWAIT`, which neither blocks nor reaps) and wakes that child's
//! waiters. Signals coalesce, so every wake-up checks every watched child.
//!
//! # CommandExt
//!
//! The green twin of `std::os::unix::process::CommandExt` (std's is sealed,
//! so the green `Command` cannot implement it) lives here because two of
//! its methods, `pre_exec` and `before_exec`, are `unsafe fn`s that hand
//! the caller's promise on to std's.

#![allow(unsafe_code)] // one of the fenced unsafe files; see lib.rs

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::hub::RemoteWaker;
use crate::signal::{Kept, action_over, keep};

impl FromRawFd for super::fs::File {
    /// Takes ownership of an open file's fd (std's `FromRawFd`).
    ///
    /// # Safety
    ///
    /// `fd` must be an open fd that nothing else owns (the contract of
    /// `FromRawFd`).
    ///
    /// ```
    /// use std::os::fd::{FromRawFd, IntoRawFd};
    /// let raw = std::fs::File::open("/proc/self/status").unwrap().into_raw_fd();
    /// // SAFETY: `raw` came from `into_raw_fd` and nothing else owns it.
    /// let f = unsafe { guv::green::fs::File::from_raw_fd(raw) };
    /// assert!(f.metadata().unwrap().is_file());
    /// ```
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        // SAFETY: the caller hands over ownership of an open fd.
        super::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// A std file's fd seen as an `&OwnedFd`, which the green `File` lends
/// out through `Deref` so that std's sealed `IsTerminal` (implemented for
/// `OwnedFd`) is reached with `use std::io::IsTerminal;`, as on std's
/// `File`. Through a shared `OwnedFd` safe code can only read the fd
/// number, borrow it, duplicate it or ask `isatty`: nothing that closes it
/// or blocks.
///
/// # Invariant
///
/// `fd` is the fd of `owner`'s file, which this value keeps open (the
/// `Arc`) for as long as `fd` can be reached, and `fd` is never dropped
/// (`ManuallyDrop`): the file alone closes it.
pub(super) struct FdView {
    owner: Arc<std::fs::File>,
    fd: ManuallyDrop<OwnedFd>,
}

impl FdView {
    /// A view of `owner`'s fd, which it keeps open.
    pub(super) fn new(owner: &Arc<std::fs::File>) -> FdView {
        // SAFETY: the fd is open (the file owns it) and stays so while
        // `owner`, moved in beside it, lives (the invariant). The second
        // `OwnedFd` never closes it (`ManuallyDrop`, never taken out) and
        // is only lent out by shared reference.
        let fd = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(owner.as_raw_fd()) });
        FdView { owner: owner.clone(), fd }
    }

    /// The fd, as long as this view is borrowed.
    pub(super) fn get(&self) -> &OwnedFd {
        debug_assert_eq!(self.fd.as_raw_fd(), self.owner.as_raw_fd());
        &self.fd
    }
}

/// The write end of the self-pipe, for the signal handler (-1 until the
/// watcher is installed). An atomic, because the handler may read it on
/// any thread at any time.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The `SIGCHLD` action installed before ours, called after ours. Set
/// before our handler is installed and never changed after.
static PREVIOUS: OnceLock<&'static Kept> = OnceLock::new();

/// The children greenlets wait for: pid -> (registration id, waker).
type Watched = HashMap<u32, Vec<(u64, RemoteWaker)>>;

struct Watcher {
    watched: Mutex<Watched>,
    next_id: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The lock is never held across user code; a poisoned one still holds
    // consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The watcher, installed on first use; the error if it cannot be.
fn watcher() -> io::Result<&'static Watcher> {
    static WATCHER: OnceLock<Result<Watcher, (io::ErrorKind, String)>> = OnceLock::new();
    match WATCHER.get_or_init(|| install().map_err(|e| (e.kind(), e.to_string()))) {
        Ok(w) => Ok(w),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

/// `SIGCHLD`'s handler: wake the watcher thread, then chain.
extern "C" fn on_sigchld(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: __errno_location returns this thread's errno slot; the
    // handler saves and restores it so the interrupted code sees no change.
    let errno = unsafe { *libc::__errno_location() };
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; `byte` is a live buffer of
        // the length passed. A full pipe (EAGAIN) already holds a wake-up.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    if let Some(prev) = PREVIOUS.get() {
        // Honours its SA_SIGINFO and SA_RESETHAND; its mask and other
        // flags were carried into ours (`action_over`).
        prev.call(sig, info, ctx);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

/// Creates the self-pipe, starts the watcher thread and installs the
/// handler (in that order, so a signal never finds half a watcher), all
/// serialised with `guv::signal`'s installs and restores of `SIGCHLD`, so
/// that neither replaces the other's handler between reading and writing
/// the action.
fn install() -> io::Result<Watcher> {
    crate::signal::serialized_with_sigaction(install_serialized)
}

fn install_serialized() -> io::Result<Watcher> {
    // SAFETY: all-zero is a valid sigaction for the kernel to fill in.
    let mut prev: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `prev`.
    check(unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut prev) })?;
    if prev.sa_sigaction == libc::SIG_IGN || prev.sa_flags & libc::SA_NOCLDWAIT != 0 {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "guv: cannot wait for a child: SIGCHLD is ignored in this process (children are reaped \
             automatically) and pidfds are not available",
        ));
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh fds that nothing else owns.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    super::super::net::set_nonblocking(std::os::fd::AsFd::as_fd(&write_end), true)?;
    std::thread::Builder::new()
        .name("guv-sigchld".into())
        .spawn(move || watch_loop(std::fs::File::from(read_end)))
        .map_err(|e| io::Error::new(e.kind(), format!("guv: cannot start the SIGCHLD watcher thread: {e}")))?;
    let _ = PREVIOUS.set(keep(libc::SIGCHLD, &prev));
    // The write end lives as long as the process: the handler may use it
    // at any time.
    PIPE_WRITE.store(std::os::fd::IntoRawFd::into_raw_fd(write_end), Ordering::Relaxed);
    // SA_SIGINFO | SA_ONSTACK (on a hub thread the handler runs on the
    // hub's signal stack rather than on whatever greenlet stack the signal
    // lands on), with the previous action's mask and SA_NOCLDSTOP, and its
    // SA_RESTART and SA_NODEFER if it was a function.
    let action = action_over(on_sigchld as *const () as libc::sighandler_t, &prev);
    // SAFETY: `action` is a complete sigaction whose handler only makes
    // async-signal-safe calls.
    check(unsafe { libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut()) })?;
    Ok(Watcher { watched: Mutex::new(HashMap::new()), next_id: Mutex::new(0) })
}

/// The watcher thread: after each `SIGCHLD`, wake the waiters of every
/// watched child that has exited.
fn watch_loop(mut pipe: std::fs::File) {
    while crate::signal::read_wakeup(&mut pipe).is_ok() {
        // `watcher()` is initialised once the handler is installed, which
        // is after this thread starts: wait for it through the OnceLock.
        let Ok(w) = watcher() else { return };
        let ready: Vec<RemoteWaker> = {
            let mut watched = lock(&w.watched);
            let done: Vec<u32> = watched.keys().copied().filter(|&pid| has_exited(pid)).collect();
            done.into_iter().filter_map(|pid| watched.remove(&pid)).flatten().map(|(_, w)| w).collect()
        };
        // Wake after the lock is released.
        for w in ready {
            w.wake();
        }
    }
}

/// Whether the child `pid` has exited (or cannot be waited for at all,
/// which its waiter will learn from `try_wait`), without blocking or
/// reaping it.
fn has_exited(pid: u32) -> bool {
    let id = libc::id_t::from(pid);
    loop {
        // SAFETY: all-zero is a valid siginfo_t for the kernel to fill in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a writable siginfo_t.
        let rc = unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
        if rc < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return true;
        }
        // SAFETY: waitid filled `info`; si_pid is 0 when no child changed
        // state (WNOHANG).
        return unsafe { info.si_pid() } != 0;
    }
}

/// A waiter's registration with the watcher; dropping it (after a wake,
/// or when a killed or timed-out waiter unwinds) removes it.
pub(crate) struct ChildWatch {
    pid: u32,
    id: u64,
    watcher: &'static Watcher,
}

impl ChildWatch {
    /// Registers `waker` to be woken once the child `pid` has exited.
    /// Check the child after this returns, then park: an exit before the
    /// registration is seen by that check, one after it wakes `waker`.
    pub(crate) fn new(pid: u32, waker: RemoteWaker) -> io::Result<ChildWatch> {
        let watcher = watcher()?;
        let id = {
            let mut next = lock(&watcher.next_id);
            *next += 1;
            *next
        };
        lock(&watcher.watched).entry(pid).or_default().push((id, waker));
        Ok(ChildWatch { pid, id, watcher })
    }
}

impl Drop for ChildWatch {
    fn drop(&mut self) {
        let taken = {
            let mut watched = lock(&self.watcher.watched);
            let list = watched.get_mut(&self.pid);
            let taken = list.and_then(|list| {
                let at = list.iter().position(|(id, _)| *id == self.id)?;
                let (_, waker) = list.swap_remove(at);
                Some((waker, list.is_empty()))
            });
            if let Some((_, true)) = taken {
                watched.remove(&self.pid);
            }
            taken
        };
        // Dropped after the lock is released: the last keeper of a hub
        // wakes it when it goes (see `hub::take_back`).
        drop(taken);
    }
}

mod sealed {
    /// Only the green and the std `Command` implement [`super::CommandExt`].
    pub trait Sealed {}
    impl Sealed for crate::green::process::Command {}
    impl Sealed for std::process::Command {}
}

/// Unix options of a process builder: the twin of std's sealed
/// `std::os::unix::process::CommandExt`, with its stable methods and
/// signatures, implemented by the green
/// [`Command`](crate::green::process::Command) (each method returns the
/// command it was called on, which is `process::Command` in patched code)
/// and by std's own `Command`. `#[guv::patched]` rewrites
/// `use std::os::unix::process::CommandExt;` to it (the `process` group).
///
/// ```
/// use guv::green::os::unix::process::CommandExt;
/// use guv::green::process::Command;
/// let out = Command::new("sh").arg("-c").arg("echo $0").arg0("renamed").process_group(0).output().unwrap();
/// assert_eq!(out.stdout, b"renamed\n");
/// ```
pub trait CommandExt: sealed::Sealed {
    /// Runs the child as user `id` (`setuid`; needs privileges to change).
    ///
    /// ```
    /// use guv::green::os::unix::process::CommandExt;
    /// use std::os::unix::fs::MetadataExt;
    /// let me = std::fs::metadata("/proc/self").unwrap().uid(); // no change
    /// let st = guv::green::process::Command::new("true").uid(me).status().unwrap();
    /// assert!(st.success());
    /// ```
    fn uid(&mut self, id: u32) -> &mut Self;

    /// Runs the child with group `id` (`setgid`).
    ///
    /// ```
    /// use guv::green::os::unix::process::CommandExt;
    /// use std::os::unix::fs::MetadataExt;
    /// let gid = std::fs::metadata("/proc/self").unwrap().gid();
    /// assert!(guv::green::process::Command::new("true").gid(gid).status().unwrap().success());
    /// ```
    fn gid(&mut self, id: u32) -> &mut Self;

    /// Runs `f` in the child between `fork` and `exec`, as std's.
    ///
    /// # Safety
    ///
    /// std's contract: `f` runs in a copy of the process where only
    /// async-signal-safe work is allowed (no allocation, no locks another
    /// thread could hold, no green-threading calls), and it must not
    /// break the fds std manages.
    ///
    /// ```
    /// use guv::green::os::unix::process::CommandExt;
    /// let mut c = guv::green::process::Command::new("true");
    /// // SAFETY: the hook does nothing.
    /// unsafe { c.pre_exec(|| Ok(())) };
    /// assert!(c.status().unwrap().success());
    /// ```
    unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Self
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static;

    /// The old name of [`CommandExt::pre_exec`].
    ///
    /// # Safety
    ///
    /// As [`CommandExt::pre_exec`].
    #[deprecated(since = "1.37.0", note = "should be unsafe, use `pre_exec` instead")]
    unsafe fn before_exec<F>(&mut self, f: F) -> &mut Self
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller's promise is `pre_exec`'s.
        unsafe { self.pre_exec(f) }
    }

    /// Replaces this process with the command (`exec`); returns only on
    /// failure. Nothing parks: the call either replaces every greenlet
    /// with the new program or fails at once.
    ///
    /// ```
    /// use guv::green::os::unix::process::CommandExt;
    /// let e = guv::green::process::Command::new("/nonexistent/guv-program").exec();
    /// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    /// ```
    fn exec(&mut self) -> io::Error;

    /// Sets the child's `argv[0]`.
    ///
    /// ```
    /// use guv::green::os::unix::process::CommandExt;
    /// let out = guv::green::process::Command::new("sh").arg0("zero").arg("-c").arg("echo $0").output().unwrap();
    /// assert_eq!(out.stdout, b"zero\n");
    /// ```
    fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Self;

    /// Puts the child in process group `pgroup` (0: a new group led by
    /// the child).
    ///
    /// ```
    /// use guv::green::os::unix::process::CommandExt;
    /// let mut c = guv::green::process::Command::new("sleep");
    /// let mut child = c.arg("10").process_group(0).spawn().unwrap();
    /// let pgid = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
    /// // Field 5 of /proc/PID/stat is the process group: the child's own pid.
    /// assert_eq!(pgid.rsplit(')').next().unwrap().split_whitespace().nth(2), Some(&*child.id().to_string()));
    /// child.kill().unwrap();
    /// child.wait().unwrap();
    /// ```
    fn process_group(&mut self, pgroup: i32) -> &mut Self;
}

impl CommandExt for crate::green::process::Command {
    fn uid(&mut self, id: u32) -> &mut Self {
        std::os::unix::process::CommandExt::uid(self.as_std_mut(), id);
        self
    }

    fn gid(&mut self, id: u32) -> &mut Self {
        std::os::unix::process::CommandExt::gid(self.as_std_mut(), id);
        self
    }

    unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Self
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller makes std's `pre_exec` promise for `f`.
        unsafe { std::os::unix::process::CommandExt::pre_exec(self.as_std_mut(), f) };
        self
    }

    fn exec(&mut self) -> io::Error {
        std::os::unix::process::CommandExt::exec(self.for_exec())
    }

    fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Self {
        std::os::unix::process::CommandExt::arg0(self.as_std_mut(), arg);
        self
    }

    fn process_group(&mut self, pgroup: i32) -> &mut Self {
        std::os::unix::process::CommandExt::process_group(self.as_std_mut(), pgroup);
        self
    }
}

/// std's own methods, so that code using the green trait can still
/// configure a std `Command` (one made with `guv::original!`).
impl CommandExt for std::process::Command {
    fn uid(&mut self, id: u32) -> &mut Self {
        std::os::unix::process::CommandExt::uid(self, id)
    }

    fn gid(&mut self, id: u32) -> &mut Self {
        std::os::unix::process::CommandExt::gid(self, id)
    }

    unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Self
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller makes std's `pre_exec` promise for `f`.
        unsafe { std::os::unix::process::CommandExt::pre_exec(self, f) }
    }

    fn exec(&mut self) -> io::Error {
        std::os::unix::process::CommandExt::exec(self)
    }

    fn arg0<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Self {
        std::os::unix::process::CommandExt::arg0(self, arg)
    }

    fn process_group(&mut self, pgroup: i32) -> &mut Self {
        std::os::unix::process::CommandExt::process_group(self, pgroup)
    }
}

/// `FromRawFd` for the green pipe ends (`unsafe fn` may only be written
/// in a fenced file).
macro_rules! pipe_from_raw_fd {
    ($($ty:ty),*) => {$(
        impl FromRawFd for $ty {
            /// Takes ownership of a pipe end's fd (std's `FromRawFd`): it
            /// becomes non-blocking underneath and is registered with this
            /// thread's hub.
            ///
            /// # Safety
            ///
            /// `fd` must be an open fd that nothing else owns (the contract
            /// of `FromRawFd`).
            ///
            /// # Panics
            ///
            /// If the fd cannot be registered with the hub (see `From<OwnedFd>`).
            unsafe fn from_raw_fd(fd: RawFd) -> Self {
                // SAFETY: the caller hands over ownership of an open fd.
                <$ty>::from(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        }
    )*};
}

pipe_from_raw_fd!(super::io::PipeReader, super::io::PipeWriter);
