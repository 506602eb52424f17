//! The green `File`: the handle, opening, and its inherent methods (sync,
//! length, metadata, permissions, times, `flock` locks, `into_std`).

use std::fs::{FileTimes, Metadata, Permissions, TryLockError};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use super::options::OpenOptions;
use super::owned;
#[cfg(doc)] // only named in doc links
use super::turns::Gate;
use super::turns::{InFlight, Position, Turn};
use crate::green::sys::FdView;
use crate::tpool::execute;

/// An open file whose operations run on the thread pool (the twin of
/// `std::fs::File`).
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
/// use guv::green::fs::File;
/// let p = std::env::temp_dir().join(format!("guv-file-doc-{}", std::process::id()));
/// let mut f = File::create(&p).unwrap();
/// f.write_all(b"green file").unwrap();
/// f.seek(SeekFrom::Start(6)).unwrap();
/// let mut f = File::open(&p).unwrap();
/// let mut s = String::new();
/// f.read_to_string(&mut s).unwrap();
/// assert_eq!(s, "green file");
/// guv::green::fs::remove_file(&p).unwrap();
/// ```
pub struct File {
    pub(super) inner: Arc<std::fs::File>,
    /// Shared with the file's `try_clone`s (one open file description).
    pub(super) position: Arc<Position>,
    /// This handle's position-using jobs not yet finished (not shared
    /// with `try_clone`s).
    pub(super) in_flight: Arc<InFlight>,
    /// `inner`'s fd as an `&OwnedFd`, for `Deref` (`IsTerminal`).
    pub(super) fd: FdView,
}

impl File {
    /// Opens a file for reading.
    ///
    /// ```
    /// assert!(guv::green::fs::File::open("/proc/self/status").is_ok());
    /// assert!(guv::green::fs::File::open("/nonexistent").is_err());
    /// ```
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = owned(path);
        execute(move || std::fs::File::open(path)).map(File::from_std)
    }

    /// Creates (or truncates) a file for writing.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let f = guv::green::fs::File::create(&p).unwrap();
    /// assert_eq!(f.metadata().unwrap().len(), 0);
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = owned(path);
        execute(move || std::fs::File::create(path)).map(File::from_std)
    }

    /// Creates a new file for reading and writing; fails if it exists.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let _f = guv::green::fs::File::create_new(&p).unwrap();
    /// assert!(guv::green::fs::File::create_new(&p).is_err());
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = owned(path);
        execute(move || std::fs::File::create_new(path)).map(File::from_std)
    }

    /// Options to open a file with ([`OpenOptions`]).
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let f = guv::green::fs::File::options().write(true).create(true).open(&p).unwrap();
    /// # drop(f);
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps a std file.
    ///
    /// ```
    /// let f = guv::green::fs::File::from_std(std::fs::File::open("/proc/self/status").unwrap());
    /// assert!(f.metadata().unwrap().is_file());
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File::wrap(Arc::new(file), Arc::default())
    }

    /// A handle to `inner` that shares `position` with other handles.
    fn wrap(inner: Arc<std::fs::File>, position: Arc<Position>) -> File {
        File { fd: FdView::new(&inner), inner, position, in_flight: Arc::default() }
    }

    /// Flushes data and metadata to the device.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let f = guv::green::fs::File::create(&p).unwrap();
    /// f.sync_all().unwrap();
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn sync_all(&self) -> io::Result<()> {
        self.run(|f| f.sync_all())
    }

    /// Flushes data to the device.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let f = guv::green::fs::File::create(&p).unwrap();
    /// f.sync_data().unwrap();
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn sync_data(&self) -> io::Result<()> {
        self.run(|f| f.sync_data())
    }

    /// Truncates or extends the file.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let f = guv::green::fs::File::create(&p).unwrap();
    /// f.set_len(100).unwrap();
    /// assert_eq!(f.metadata().unwrap().len(), 100);
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.run(move |f| f.set_len(size))
    }

    /// The file's metadata.
    ///
    /// ```
    /// let f = guv::green::fs::File::open("/proc/self/status").unwrap();
    /// assert!(f.metadata().unwrap().is_file());
    /// ```
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.run(|f| f.metadata())
    }

    /// A second handle to the same open file.
    ///
    /// ```
    /// let f = guv::green::fs::File::open("/proc/self/status").unwrap();
    /// let g = f.try_clone().unwrap();
    /// assert!(g.metadata().unwrap().is_file());
    /// ```
    pub fn try_clone(&self) -> io::Result<File> {
        let position = self.position.clone();
        self.run(|f| f.try_clone()).map(|f| File::wrap(Arc::new(f), position))
    }

    /// Changes the file's permissions.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let f = guv::green::fs::File::create(&p).unwrap();
    /// let mut perm = f.metadata().unwrap().permissions();
    /// perm.set_readonly(true);
    /// f.set_permissions(perm).unwrap();
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.run(move |f| f.set_permissions(perm))
    }

    /// Changes the file's access and modification times (std's
    /// `set_times`).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use guv::green::fs::{File, FileTimes};
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let f = File::create(&p).unwrap();
    /// let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    /// f.set_times(FileTimes::new().set_accessed(t).set_modified(t)).unwrap();
    /// assert_eq!(f.metadata().unwrap().modified().unwrap(), t);
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn set_times(&self, times: FileTimes) -> io::Result<()> {
        self.run(move |f| f.set_times(times))
    }

    /// Changes the file's modification time (std's `set_modified`).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let f = guv::green::fs::File::create(&p).unwrap();
    /// let t = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000);
    /// f.set_modified(t).unwrap();
    /// assert_eq!(f.metadata().unwrap().modified().unwrap(), t);
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        self.run(move |f| f.set_modified(time))
    }

    /// Takes an exclusive advisory lock (`flock`), parking the greenlet
    /// until no other handle holds a lock (std's `lock`). If the caller is
    /// killed or times out while waiting, the pool thread keeps waiting,
    /// and gives the lock back as soon as it gets it. Meanwhile the other
    /// lock calls of this file and its `try_clone`s (one open file
    /// description, one lock) wait behind it, and a `try_lock` that gets
    /// the lock keeps it (the lock is then not given back), so that giving
    /// back never takes away their lock.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let a = guv::green::fs::File::create(&p).unwrap();
    /// let b = guv::green::fs::File::open(&p).unwrap();
    /// a.lock().unwrap();
    /// assert!(b.try_lock().is_err());
    /// a.unlock().unwrap();
    /// b.lock().unwrap();
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn lock(&self) -> io::Result<()> {
        self.lock_on_pool(false)
    }

    /// Takes a shared advisory lock, parking the greenlet while another
    /// handle holds an exclusive one (std's `lock_shared`); a killed
    /// waiter's lock is given back as for [`File::lock`].
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let a = guv::green::fs::File::create(&p).unwrap();
    /// let b = guv::green::fs::File::open(&p).unwrap();
    /// a.lock_shared().unwrap();
    /// b.lock_shared().unwrap();
    /// // Nobody gets an exclusive lock while shared ones are held.
    /// assert!(guv::green::fs::File::open(&p).unwrap().try_lock().is_err());
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn lock_shared(&self) -> io::Result<()> {
        self.lock_on_pool(true)
    }

    /// Takes an exclusive lock if no other handle holds one, without
    /// waiting (std's `try_lock`).
    ///
    /// ```
    /// use guv::green::fs::TryLockError;
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let a = guv::green::fs::File::create(&p).unwrap();
    /// let b = guv::green::fs::File::open(&p).unwrap();
    /// a.try_lock().unwrap();
    /// assert!(matches!(b.try_lock(), Err(TryLockError::WouldBlock)));
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn try_lock(&self) -> Result<(), TryLockError> {
        self.try_lock_on_pool(false)
    }

    /// Takes a shared lock if no other handle holds an exclusive one,
    /// without waiting (std's `try_lock_shared`).
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let a = guv::green::fs::File::create(&p).unwrap();
    /// let b = guv::green::fs::File::open(&p).unwrap();
    /// a.try_lock_shared().unwrap();
    /// b.try_lock_shared().unwrap();
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn try_lock_shared(&self) -> Result<(), TryLockError> {
        self.try_lock_on_pool(true)
    }

    /// `try_lock` or `try_lock_shared` on the pool, asking the kernel
    /// also while a blocking `lock`/`lock_shared` of the same open file
    /// holds its turn: a lock got then is kept if that call's caller was
    /// killed, rather than given back with that call's ([`Gate::try_lock`]).
    fn try_lock_on_pool(&self, shared: bool) -> Result<(), TryLockError> {
        let position = self.position.clone();
        self.run(move |f| Ok(position.locking.try_lock(|| if shared { f.try_lock_shared() } else { f.try_lock() })))
            .map_err(TryLockError::Error)?
    }

    /// Gives back this handle's lock (std's `unlock`).
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("guv-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    /// let a = guv::green::fs::File::create(&p).unwrap();
    /// a.lock().unwrap();
    /// a.unlock().unwrap();
    /// guv::green::fs::File::open(&p).unwrap().try_lock().unwrap();
    /// # guv::green::fs::remove_file(&p).unwrap();
    /// ```
    pub fn unlock(&self) -> io::Result<()> {
        self.run(|f| f.unlock())
    }

    /// `lock` or `lock_shared` on the pool, giving the lock back if the
    /// caller unwinds (killed, timed out) before it hears of it.
    fn lock_on_pool(&self, shared: bool) -> io::Result<()> {
        self.run_undoable(
            Turn::Locking,
            move |f| {
                let r = if shared { f.lock_shared() } else { f.lock() };
                let locked = r.is_ok().then_some(());
                (r, locked)
            },
            // `flock(LOCK_UN)` does not block.
            |f, ()| drop(f.unlock()),
        )
    }

    /// The std file, for calls this type does not offer. If a call on the
    /// pool made for a greenlet that was killed (or timed out) is still
    /// running, the pool holds the file too; then this parks until that
    /// call is done with the file position (a killed read has put it
    /// back), and returns a duplicate fd of the same open file (same
    /// offset, flags and locks), so that the std file's reads start where
    /// the killed read did.
    ///
    /// # Panics
    ///
    /// Only in that case, if the fd cannot be duplicated (the process is
    /// out of file descriptors).
    ///
    /// ```
    /// let f = guv::green::fs::File::open("/proc/self/status").unwrap();
    /// let std_file: std::fs::File = f.into_std();
    /// assert!(std_file.metadata().unwrap().is_file());
    /// ```
    pub fn into_std(self) -> std::fs::File {
        let File { inner, position, in_flight, fd } = self;
        drop(fd); // its share of `inner`
        match Arc::try_unwrap(inner) {
            Ok(file) => file,
            Err(shared) => {
                // Every other holder of the `Arc` is a job of a caller that
                // left (this handle is consumed): wait for those that use
                // the position, with their rewinds; not for the others (a
                // lock may never come).
                execute(move || {
                    if position.positioned(&shared) {
                        in_flight.wait_idle();
                    }
                    shared.try_clone()
                })
                .unwrap_or_else(|e| panic!("guv::green::fs::File: cannot duplicate the fd: {e}"))
            }
        }
    }
}
