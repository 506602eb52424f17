//! Green `std::fs`: every call that touches the file system runs on
//! [`crate::tpool`], parking only the calling greenlet. (Regular files are
//! always "ready" for epoll, so readiness waiting cannot help; a thread
//! pool is what gevent and eventlet use too.) Everything not shadowed here
//! — `Metadata`, `Permissions`, `FileType`, ... — is
//! `std::fs`'s own.
//!
//! Each call costs a round trip to a pool thread (tens of microseconds)
//! and a copy of the data, so read and write in large pieces:
//! [`read()`], [`write()`], `read_to_end` and `write_all` are one round trip
//! each.
//!
//! [`File`] has std's inherent methods and trait impls, including
//! `std::os::unix::fs::FileExt` (`read_at`, `write_at`, ...) and the fd
//! conversions; [`OpenOptions`] implements `std::os::unix::fs::OpenOptionsExt`.
//! Import those traits from `std` as usual.
//!
//! A greenlet killed (or timed out) while its read waits on the pool
//! loses nothing: the pool's job puts the file position back, so the next
//! read gets those bytes (files that cannot seek, such as FIFOs, excepted).
//! On a regular file (or block device) the reads, writes and seeks of one
//! `File` and its [`try_clone`](File::try_clone)s take turns on the pool,
//! so a rewind made there never lands between another call's use of the
//! position: a read made right after catching the kill, while the killed
//! read's job still runs, starts where the killed read did. (A read that
//! finished just as its caller was killed is rewound by the caller, on
//! its own thread, without a turn: reads of one `File` from several
//! greenlets at once can still see that rewind.) The turns belong to a
//! `File` and its `try_clone`s only: another handle to the same open file
//! made by other means (a `dup` wrapped with `File::from(OwnedFd)`,
//! `from_std` of a std clone) has turns of its own, so read again after
//! a kill through the same `File` or a `try_clone` of it.
//! [`File::into_std`] waits for a killed read's rewind before it hands
//! the file over. Two std impls cannot be
//! given to a type outside std: `Read`/`Write`/`Seek` for `Arc<File>` (use
//! `&File` through the `Arc`) and the sealed `IsTerminal`, which
//! `file.is_terminal()` reaches through `File`'s `Deref` to its fd (an
//! `&OwnedFd`), as with std's `File`.
//!
//! ```
//! use guv::green::fs;
//! let dir = std::env::temp_dir().join(format!("guv-fs-doc-{}", std::process::id()));
//! fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("hello.txt");
//! fs::write(&path, "hello").unwrap();
//! assert_eq!(fs::read_to_string(&path).unwrap(), "hello");
//! fs::remove_dir_all(&dir).unwrap();
//! ```

pub use std::fs::*;

use std::ffi::OsString;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::{DirBuilderExt, DirEntryExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::SystemTime;

use super::sys::FdView;
use crate::tpool::execute;

fn owned<P: AsRef<Path>>(p: P) -> PathBuf {
    p.as_ref().to_path_buf()
}

/// Defines a free function with one path argument that runs std's twin
/// on the pool.
macro_rules! path_fn {
    ($(#[$doc:meta])* $name:ident -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name<P: AsRef<Path>>(path: P) -> io::Result<$ret> {
            let path = owned(path);
            execute(move || std::fs::$name(path))
        }
    };
}

/// Defines a free function with two path arguments.
macro_rules! two_path_fn {
    ($(#[$doc:meta])* $name:ident -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<$ret> {
            let (from, to) = (owned(from), owned(to));
            execute(move || std::fs::$name(from, to))
        }
    };
}

path_fn!(
    /// Reads a whole file (std's `read`).
    ///
    /// ```
    /// assert!(guv::green::fs::read("/nonexistent/guv").is_err());
    /// ```
    read -> Vec<u8>
);
path_fn!(
    /// Reads a whole file as UTF-8 (std's `read_to_string`).
    ///
    /// ```
    /// assert!(guv::green::fs::read_to_string("/proc/self/status").unwrap().contains("Pid"));
    /// ```
    read_to_string -> String
);
path_fn!(
    /// Creates a directory (std's `create_dir`).
    ///
    /// ```
    /// let e = guv::green::fs::create_dir("/proc/guv-cannot").unwrap_err();
    /// # let _ = e;
    /// ```
    create_dir -> ()
);
path_fn!(
    /// Creates a directory and its missing parents (std's `create_dir_all`).
    ///
    /// ```
    /// guv::green::fs::create_dir_all(std::env::temp_dir()).unwrap();
    /// ```
    create_dir_all -> ()
);
path_fn!(
    /// Removes a file (std's `remove_file`).
    ///
    /// ```
    /// assert!(guv::green::fs::remove_file("/nonexistent/guv").is_err());
    /// ```
    remove_file -> ()
);
path_fn!(
    /// Removes an empty directory (std's `remove_dir`).
    ///
    /// ```
    /// assert!(guv::green::fs::remove_dir("/nonexistent/guv").is_err());
    /// ```
    remove_dir -> ()
);
path_fn!(
    /// Removes a directory and everything in it (std's `remove_dir_all`).
    ///
    /// ```
    /// assert!(guv::green::fs::remove_dir_all("/nonexistent/guv").is_err());
    /// ```
    remove_dir_all -> ()
);
path_fn!(
    /// A path's metadata, following symlinks (std's `metadata`).
    ///
    /// ```
    /// assert!(guv::green::fs::metadata("/").unwrap().is_dir());
    /// ```
    metadata -> Metadata
);
path_fn!(
    /// A path's metadata, not following symlinks (std's `symlink_metadata`).
    ///
    /// ```
    /// assert!(guv::green::fs::symlink_metadata("/").unwrap().is_dir());
    /// ```
    symlink_metadata -> Metadata
);
path_fn!(
    /// The absolute, resolved form of a path (std's `canonicalize`).
    ///
    /// ```
    /// assert_eq!(guv::green::fs::canonicalize("/").unwrap(), std::path::PathBuf::from("/"));
    /// ```
    canonicalize -> PathBuf
);
path_fn!(
    /// Where a symlink points (std's `read_link`).
    ///
    /// ```
    /// assert!(guv::green::fs::read_link("/proc/self/exe").is_ok());
    /// ```
    read_link -> PathBuf
);
path_fn!(
    /// Whether a path exists; errors other than "not found" are reported
    /// (std's `exists`).
    ///
    /// ```
    /// assert!(guv::green::fs::exists("/").unwrap());
    /// ```
    exists -> bool
);
two_path_fn!(
    /// Copies a file's contents and permissions; returns the bytes copied
    /// (std's `copy`).
    ///
    /// ```
    /// assert!(guv::green::fs::copy("/nonexistent/a", "/nonexistent/b").is_err());
    /// ```
    copy -> u64
);
two_path_fn!(
    /// Renames a file or directory (std's `rename`).
    ///
    /// ```
    /// assert!(guv::green::fs::rename("/nonexistent/a", "/nonexistent/b").is_err());
    /// ```
    rename -> ()
);
two_path_fn!(
    /// Creates a hard link (std's `hard_link`).
    ///
    /// ```
    /// assert!(guv::green::fs::hard_link("/nonexistent/a", "/nonexistent/b").is_err());
    /// ```
    hard_link -> ()
);

/// Creates a symbolic link (std's deprecated `soft_link`, shadowed so that
/// it too runs on the pool); use
/// [`symlink`](crate::green::os::unix::fs::symlink).
///
/// ```
/// #[allow(deprecated)]
/// let e = guv::green::fs::soft_link("x", "/nonexistent/guv/link").unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
/// ```
#[deprecated(note = "replaced with `guv::green::os::unix::fs::symlink` (as std's `soft_link` is)")]
pub fn soft_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    crate::green::os::unix::fs::symlink(original, link)
}

/// Writes a whole file, creating or truncating it (std's `write`).
///
/// ```
/// let p = std::env::temp_dir().join(format!("guv-write-doc-{}", std::process::id()));
/// guv::green::fs::write(&p, b"data").unwrap();
/// assert_eq!(guv::green::fs::read(&p).unwrap(), b"data");
/// guv::green::fs::remove_file(&p).unwrap();
/// ```
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let (path, contents) = (owned(path), contents.as_ref().to_vec());
    execute(move || std::fs::write(path, contents))
}

/// Changes a path's permissions (std's `set_permissions`).
///
/// ```
/// let p = std::env::temp_dir().join(format!("guv-perm-doc-{}", std::process::id()));
/// guv::green::fs::write(&p, b"").unwrap();
/// let mut perms = guv::green::fs::metadata(&p).unwrap().permissions();
/// perms.set_readonly(true);
/// guv::green::fs::set_permissions(&p, perms).unwrap();
/// guv::green::fs::remove_file(&p).unwrap();
/// ```
pub fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    let path = owned(path);
    execute(move || std::fs::set_permissions(path, perm))
}

/// The entries of a directory (std's `read_dir`). The listing is read on
/// the pool in one go, with each entry's file type (free where the file
/// system reports it in the listing, else an `lstat` there too); iterating
/// does not block, and [`DirEntry::metadata`] runs on the pool.
///
/// ```
/// let names: Vec<_> = guv::green::fs::read_dir("/").unwrap().map(|e| e.unwrap().file_name()).collect();
/// assert!(!names.is_empty());
/// ```
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let root = owned(path);
    let path = root.clone();
    let entries = execute(move || {
        std::fs::read_dir(path).map(|it| {
            it.map(|e| e.map(|inner| DirEntry { file_type: inner.file_type().ok(), inner: Arc::new(inner) }))
                .collect::<Vec<_>>()
        })
    })?;
    Ok(ReadDir { entries: entries.into_iter(), root })
}

/// The iterator [`read_dir`] returns (the twin of `std::fs::ReadDir`).
///
/// ```
/// let mut it: guv::green::fs::ReadDir = guv::green::fs::read_dir("/").unwrap();
/// assert!(it.next().is_some());
/// ```
pub struct ReadDir {
    entries: std::vec::IntoIter<io::Result<DirEntry>>,
    /// The path given to [`read_dir`], for `Debug` (as std's).
    root: PathBuf,
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadDir").field(&self.root).finish()
    }
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;
    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        self.entries.next()
    }
}

/// An entry of a directory listing (the twin of `std::fs::DirEntry`):
/// the calls that touch the file system run on the thread pool.
///
/// ```
/// use guv::green::fs;
/// let dir = std::env::temp_dir().join(format!("guv-direntry-doc-{}", std::process::id()));
/// fs::create_dir_all(&dir).unwrap();
/// fs::write(dir.join("f"), b"abc").unwrap();
/// let entry = fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
/// assert_eq!(entry.file_name(), "f");
/// assert_eq!(entry.path(), dir.join("f"));
/// assert!(entry.file_type().unwrap().is_file());
/// assert_eq!(entry.metadata().unwrap().len(), 3);
/// fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct DirEntry {
    /// Shared with the pool job of [`DirEntry::metadata`].
    inner: Arc<std::fs::DirEntry>,
    /// The entry's type, found while listing (on the pool); `None` if
    /// that failed, and then [`DirEntry::file_type`] asks again on the pool
    /// for the error.
    file_type: Option<FileType>,
}

impl DirEntry {
    /// The entry's full path: the path given to [`read_dir`] joined with
    /// the entry's name (std's `path`).
    ///
    /// ```
    /// let e = guv::green::fs::read_dir("/").unwrap().next().unwrap().unwrap();
    /// assert_eq!(e.path().parent(), Some(std::path::Path::new("/")));
    /// ```
    pub fn path(&self) -> PathBuf {
        self.inner.path()
    }

    /// The entry's metadata, not following a symlink (std's `metadata`),
    /// read on the pool.
    ///
    /// ```
    /// let e = guv::green::fs::read_dir("/proc/self").unwrap().find(|e| e.as_ref().unwrap().file_name() == "exe").unwrap().unwrap();
    /// assert!(e.metadata().unwrap().file_type().is_symlink());
    /// ```
    pub fn metadata(&self) -> io::Result<Metadata> {
        let inner = self.inner.clone();
        execute(move || inner.metadata())
    }

    /// The entry's file type, not following a symlink (std's `file_type`):
    /// found while listing, so this does not block.
    ///
    /// ```
    /// let e = guv::green::fs::read_dir("/proc/self").unwrap().find(|e| e.as_ref().unwrap().file_name() == "fd").unwrap().unwrap();
    /// assert!(e.file_type().unwrap().is_dir());
    /// ```
    pub fn file_type(&self) -> io::Result<FileType> {
        match self.file_type {
            Some(t) => Ok(t),
            None => {
                let inner = self.inner.clone();
                execute(move || inner.file_type())
            }
        }
    }

    /// The entry's name, without its directory (std's `file_name`).
    ///
    /// ```
    /// let names: Vec<_> = guv::green::fs::read_dir("/proc/self").unwrap().map(|e| e.unwrap().file_name()).collect();
    /// assert!(names.iter().any(|n| n == "status"));
    /// ```
    pub fn file_name(&self) -> OsString {
        self.inner.file_name()
    }
}

/// std's Unix directory-entry extension: the inode number from the
/// listing; bring the trait into scope as with std.
///
/// ```
/// use std::os::unix::fs::{DirEntryExt, MetadataExt};
/// use guv::green::fs;
/// let dir = std::env::temp_dir().join(format!("guv-direntry-ino-doc-{}", std::process::id()));
/// fs::create_dir_all(&dir).unwrap();
/// fs::write(dir.join("f"), b"").unwrap();
/// let e = fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
/// assert_eq!(e.ino(), e.metadata().unwrap().ino());
/// fs::remove_dir_all(&dir).unwrap();
/// ```
impl DirEntryExt for DirEntry {
    fn ino(&self) -> u64 {
        self.inner.ino()
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Creates directories with options, on the thread pool (the twin of
/// `std::fs::DirBuilder`; `std::os::unix::fs::DirBuilderExt::mode` works
/// on it).
///
/// ```
/// use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
/// use guv::green::fs::{self, DirBuilder};
/// let root = std::env::temp_dir().join(format!("guv-dirbuilder-doc-{}", std::process::id()));
/// DirBuilder::new().recursive(true).mode(0o700).create(root.join("a/b")).unwrap();
/// assert_eq!(fs::metadata(root.join("a/b")).unwrap().permissions().mode() & 0o777, 0o700);
/// assert!(DirBuilder::new().create(root.join("a")).is_err()); // exists, not recursive
/// fs::remove_dir_all(&root).unwrap();
/// ```
#[derive(Default)]
pub struct DirBuilder {
    recursive: bool,
    mode: Option<u32>,
}

impl DirBuilder {
    /// std's builder with these options (built on the pool by `create`,
    /// and for `Debug`).
    fn to_std(&self) -> std::fs::DirBuilder {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(self.recursive);
        if let Some(mode) = self.mode {
            b.mode(mode);
        }
        b
    }
}

impl fmt::Debug for DirBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_std(), f)
    }
}

impl DirBuilder {
    /// A builder with std's defaults: not recursive, mode `0o777` (less
    /// the umask).
    ///
    /// ```
    /// let b = guv::green::fs::DirBuilder::new();
    /// assert!(b.create("/nonexistent/guv/dir").is_err());
    /// ```
    pub fn new() -> DirBuilder {
        DirBuilder::default()
    }

    /// Whether to create missing parents too (and accept an existing
    /// directory).
    ///
    /// ```
    /// let dir = std::env::temp_dir();
    /// guv::green::fs::DirBuilder::new().recursive(true).create(&dir).unwrap();
    /// ```
    pub fn recursive(&mut self, recursive: bool) -> &mut DirBuilder {
        self.recursive = recursive;
        self
    }

    /// Creates `path` with these options, on the pool.
    ///
    /// ```
    /// let e = guv::green::fs::DirBuilder::new().create("/nonexistent/guv/dir").unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn create<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        let (builder, path) = (self.to_std(), owned(path));
        execute(move || builder.create(path))
    }
}

/// std's Unix directory option: the permission bits of created
/// directories.
///
/// ```
/// use std::os::unix::fs::DirBuilderExt;
/// let mut b = guv::green::fs::DirBuilder::new();
/// b.mode(0o750);
/// ```
impl DirBuilderExt for DirBuilder {
    fn mode(&mut self, mode: u32) -> &mut DirBuilder {
        self.mode = Some(mode);
        self
    }
}

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
    inner: Arc<std::fs::File>,
    /// Shared with the file's `try_clone`s (one open file description).
    position: Arc<Position>,
    /// This handle's position-using jobs not yet finished (not shared
    /// with `try_clone`s).
    in_flight: Arc<InFlight>,
    /// `inner`'s fd as an `&OwnedFd`, for `Deref` (`IsTerminal`).
    fd: FdView,
}

/// The turns that the pool jobs using one open file's position (reads,
/// writes, seeks) take, so that a killed read's rewind ([`File::run_read`])
/// runs right after its read, with no other call's use of the position in
/// between.
#[derive(Debug, Default)]
struct Position {
    turn: Mutex<()>,
    /// Whether the file has a position worth a turn, known on first use.
    positioned: OnceLock<bool>,
    /// The turn of the blocking `lock`/`lock_shared` calls, which
    /// `try_lock`/`try_lock_shared` do not wait for: `flock` locks belong
    /// to the open file description, so a killed caller's lock, given
    /// back, must not take with it a lock that another call of the same
    /// description took. A lock job takes the turn on the pool; if it got
    /// the lock, its caller gives the turn back on taking the result (or
    /// after giving the lock back, if it unwinds first). A `try_lock` that
    /// gets the lock while the turn is taken marks it kept, and then the
    /// turn's holder does not give it back ([`Gate::try_lock`]).
    locking: Gate,
}

/// A turn that one thread takes and another may give back (unlike a
/// `MutexGuard`, which must be dropped where it was made).
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    /// Signalled when the turn is given back.
    free: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    /// A blocking lock call of the description holds the turn.
    taken: bool,
    /// While the turn was taken, a `try_lock` of the description got the
    /// lock: giving the turn back must not give back that lock too.
    kept: bool,
}

impl Gate {
    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the turn and takes it (on the pool only).
    fn take(&self) {
        let mut st = self.state();
        while st.taken {
            st = self.free.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        *st = GateState { taken: true, kept: false };
    }

    /// Runs `try_lock` (a non-blocking `flock`) under the gate's lock. The
    /// kernel's answer is right whether or not a lock call holds the turn
    /// (one that waits does so because another description holds a
    /// conflicting lock; one that got the lock shares it with this
    /// description); a lock got while the turn is taken is marked kept, so
    /// that the turn's holder, if its caller leaves, does not give it back.
    fn try_lock(&self, try_lock: impl FnOnce() -> Result<(), TryLockError>) -> Result<(), TryLockError> {
        let mut st = self.state();
        let r = try_lock();
        if r.is_ok() && st.taken {
            st.kept = true;
        }
        r
    }

    /// Gives the turn back, first running `undo` (which must not block:
    /// it runs under the gate's lock) unless a `try_lock` kept the lock.
    fn give_back(&self, undo: impl FnOnce()) {
        let mut st = self.state();
        if !st.kept {
            undo();
        }
        *st = GateState::default();
        drop(st);
        self.free.notify_one();
    }
}

impl Position {
    /// Whether the file has a position that means something: a regular
    /// file or a block device, whose calls never wait on another party.
    /// Other files (FIFOs, sockets, terminals, eventfds) have none worth a
    /// turn: a read there may wait for a write that a turn would hold
    /// back. Makes an `fstat` the first time: call it on the pool.
    fn positioned(&self, f: &std::fs::File) -> bool {
        *self
            .positioned
            .get_or_init(|| f.metadata().is_ok_and(|m| m.file_type().is_file() || m.file_type().is_block_device()))
    }

    /// A turn at the position, if the file has one that means something
    /// (see [`Position::positioned`]).
    fn hold(&self, f: &std::fs::File) -> Option<MutexGuard<'_, ()>> {
        self.positioned(f).then(|| self.turn.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How many of one handle's position-using jobs (reads with their rewind,
/// writes, seeks) are queued or running on the pool, so that
/// [`File::into_std`] can wait for those of a killed caller.
#[derive(Debug, Default)]
struct InFlight {
    jobs: Mutex<usize>,
    /// Signalled when `jobs` drops to zero.
    idle: Condvar,
}

impl InFlight {
    /// Counts a job until the ticket is dropped (at the end of the job,
    /// or with the job if it never runs).
    fn ticket(self: &Arc<InFlight>) -> Ticket {
        *self.jobs.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Ticket(self.clone())
    }

    /// Blocks until no job is counted (on the pool only).
    fn wait_idle(&self) {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        while *jobs > 0 {
            jobs = self.idle.wait(jobs).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// One counted job of an [`InFlight`].
struct Ticket(Arc<InFlight>);

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut jobs = self.0.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        *jobs -= 1;
        if *jobs == 0 {
            self.0.idle.notify_all();
        }
    }
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

    /// Runs `op` on the file on the pool.
    fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let f = self.inner.clone();
        execute(move || op(&f))
    }

    /// [`File::run`] for a call that uses or moves the file position: it
    /// takes its turn at the position (see [`Position`]).
    fn run_positioned<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let (f, position, ticket) = (self.inner.clone(), self.position.clone(), self.in_flight.ticket());
        execute(move || {
            let _ticket = ticket;
            let _turn = position.hold(&f);
            op(&f)
        })
    }

    /// Runs `op` on the pool; if the caller unwinds (killed, timed out)
    /// before it hears of the result, `undo` is applied to what `op`
    /// reported it did (`Some`): on the pool when the job ends after the
    /// caller left, or in the caller's unwinding when the result came but
    /// was never taken (so `undo` must not block).
    /// The job takes its `turn` for `op` and the undo together, and skips
    /// `op` if the caller left before the turn came. With
    /// [`Turn::Locking`], a job that did something keeps the turn until
    /// its caller has the result, or has undone it while unwinding.
    fn run_undoable<T: Send + 'static, U: Copy + Send + 'static>(
        &self,
        turn: Turn,
        op: impl FnOnce(&std::fs::File) -> (io::Result<T>, Option<U>) + Send + 'static,
        undo: fn(&std::fs::File, U),
    ) -> io::Result<T> {
        let state = Arc::new(Mutex::new(PoolCall::Running));
        let gate = (turn == Turn::Locking).then(|| self.position.clone());
        let mut guard = UndoGuard { state: state.clone(), file: self.inner.clone(), undo, gate, armed: true };
        let position = self.position.clone();
        let ticket = (turn == Turn::Position).then(|| self.in_flight.ticket());
        let job_state = state.clone();
        let r = self.run(move |f| {
            let state = job_state;
            // Dropped last: the job is over for `into_std` once its undo is.
            let _ticket = ticket;
            let _turn = match turn {
                Turn::Position => position.hold(f),
                Turn::Locking => {
                    position.locking.take();
                    None
                }
            };
            // A caller that left before its turn came wants nothing done:
            // a lock taken now and given back could be another call's
            // (same description), a read would only be rewound.
            if matches!(*state.lock().unwrap_or_else(PoisonError::into_inner), PoolCall::Abandoned) {
                if turn == Turn::Locking {
                    position.locking.give_back(|| ());
                }
                return Err(io::Error::other("guv: the caller left before the call ran"));
            }
            let (r, did) = op(f);
            let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
            let undo_now = match (*st, did) {
                (PoolCall::Abandoned, did) => did,
                _ => {
                    *st = PoolCall::Done(did);
                    None
                }
            };
            // A lock turn goes to the caller with something to undo;
            // otherwise it ends here (with the undo, unless a `try_lock`
            // kept the lock meanwhile).
            if turn == Turn::Locking && !matches!(*st, PoolCall::Done(Some(_))) {
                position.locking.give_back(|| {
                    if let Some(did) = undo_now {
                        undo(f, did);
                    }
                });
            } else if let Some(did) = undo_now {
                undo(f, did);
            }
            r
        });
        guard.armed = false;
        if turn == Turn::Locking
            && matches!(*state.lock().unwrap_or_else(PoisonError::into_inner), PoolCall::Done(Some(_)))
        {
            self.position.locking.give_back(|| ());
        }
        r
    }

    /// Runs a read `op` on the pool that moves the file position; if the
    /// caller unwinds before it hears of the result, the position is put
    /// back where it was, so the bytes the read took are read again by the
    /// next read rather than lost. (A file that cannot seek — a FIFO —
    /// cannot be put back: those bytes are gone, as with any reader
    /// abandoned mid-read.)
    fn run_read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        self.run_undoable(
            Turn::Position,
            move |mut f| {
                let before = f.stream_position().ok();
                (op(f), before)
            },
            // `lseek` does not block.
            |mut f, pos| drop(f.seek(SeekFrom::Start(pos))),
        )
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

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        let data = self.run_read(move |mut f| {
            let mut v = vec![0u8; len];
            let n = f.read(&mut v)?;
            v.truncate(n);
            Ok(v)
        })?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        // One round trip; on an error the buffer is left as it was (std
        // leaves its contents unspecified).
        let len = buf.len();
        let data = self.run_read(move |mut f| {
            let mut v = vec![0u8; len];
            f.read_exact(&mut v)?;
            Ok(v)
        })?;
        buf.copy_from_slice(&data);
        Ok(())
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let lens: Vec<usize> = bufs.iter().map(|b| b.len()).collect();
        let (data, n) = self.run_read(move |mut f| {
            let mut owned: Vec<Vec<u8>> = lens.iter().map(|&n| vec![0u8; n]).collect();
            let mut slices: Vec<IoSliceMut<'_>> = owned.iter_mut().map(|v| IoSliceMut::new(v)).collect();
            let n = f.read_vectored(&mut slices)?;
            Ok((owned, n))
        })?;
        // Scatter the first `n` bytes over the caller's buffers, in order.
        let mut left = n;
        for (dst, src) in bufs.iter_mut().zip(&data) {
            let k = left.min(src.len());
            dst[..k].copy_from_slice(&src[..k]);
            left -= k;
        }
        Ok(n)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        // As std: the bytes read before an error stay appended to `buf`.
        let (data, r) = self.read_rest()?;
        buf.extend_from_slice(&data);
        r
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        // As std: bytes read before an error are appended if they are
        // UTF-8; if they are not, `buf` is left as it was and the error is
        // the read's own, else `InvalidData`.
        let (data, r) = self.read_rest()?;
        match String::from_utf8(data) {
            Ok(s) => {
                buf.push_str(&s);
                r
            }
            Err(_) => {
                r.and_then(|_| Err(io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8")))
            }
        }
    }
}

impl File {
    /// Reads to the end on the pool: the bytes read, and how the read
    /// ended (the count, or the error that stopped it). The outer error
    /// only says the pool could not run the call.
    fn read_rest(&self) -> io::Result<(Vec<u8>, io::Result<usize>)> {
        self.run_read(|mut f| {
            let mut v = Vec::new();
            let r = f.read_to_end(&mut v);
            Ok((v, r))
        })
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let data = buf.to_vec();
        self.run_positioned(move |mut f| f.write(&data))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let data = buf.to_vec();
        self.run_positioned(move |mut f| f.write_all(&data))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let data: Vec<Vec<u8>> = bufs.iter().map(|b| b.to_vec()).collect();
        self.run_positioned(move |mut f| {
            let slices: Vec<IoSlice<'_>> = data.iter().map(|v| IoSlice::new(v)).collect();
            f.write_vectored(&slices)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.run_positioned(move |mut f| f.seek(pos))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        (&*self).read_exact(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

impl fmt::Debug for File {
    /// std's `Debug` of the file (fd, path, access mode).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

impl From<std::fs::File> for File {
    fn from(f: std::fs::File) -> File {
        File::from_std(f)
    }
}

/// The file's fd, so that `file.is_terminal()` works with
/// `std::io::IsTerminal` imported, as on std's `File`: that trait is
/// sealed, so guv cannot implement it, and an inherent `is_terminal` would
/// leave the import std code needs unused (a warning, an error under
/// `#![deny(warnings)]`). The method call finds std's impl for `OwnedFd`
/// through this `Deref`. Nothing reached through it blocks or closes the
/// fd: an `&OwnedFd` only lends, numbers, duplicates (`try_clone`, which
/// the green `File`'s own `try_clone` shadows) or asks `isatty`.
///
/// # Surface std's `File` does not have
///
/// This `Deref` is the only way to it: `AsFd` alone does not make
/// `file.is_terminal()` resolve (std implements `IsTerminal` for a fixed
/// list of its own types, not for every `AsFd`), and of the fd types on
/// that list `OwnedFd` is the only one a file can lend soundly
/// (`BorrowedFd<'static>` is `Copy`, so a copy could outlive the file).
/// The price is a little API std's `File` lacks: `&file` coerces to
/// `&OwnedFd` where one is expected, and `(*file).try_clone()` (explicitly
/// dereferenced) returns a duplicated `OwnedFd` instead of a `File`. Both
/// only duplicate or lend the fd, as `file.as_fd().try_clone_to_owned()`
/// does on std's `File`; code meant to compile against std's `File` too
/// should not rely on them. The method call `file.try_clone()` finds
/// `File`'s own method first and returns a green `File`.
///
/// ```
/// use std::io::IsTerminal;
/// let f = guv::green::fs::File::open("/proc/self/status").unwrap();
/// assert!(!f.is_terminal());
/// let twin: guv::green::fs::File = f.try_clone().unwrap(); // not an OwnedFd
/// assert!(!twin.is_terminal());
/// ```
impl Deref for File {
    type Target = OwnedFd;

    fn deref(&self) -> &OwnedFd {
        self.fd.get()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl From<OwnedFd> for File {
    /// Takes ownership of an open file's fd (std's `From<OwnedFd>`).
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let fd = OwnedFd::from(std::fs::File::open("/proc/self/status").unwrap());
    /// let f = guv::green::fs::File::from(fd);
    /// assert!(f.metadata().unwrap().is_file());
    /// ```
    fn from(fd: OwnedFd) -> File {
        File::from_std(std::fs::File::from(fd))
    }
}

impl From<File> for OwnedFd {
    /// Gives up the file's fd (std's `From<File> for OwnedFd`); see
    /// [`File::into_std`] for the one case where this is a duplicate.
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let f = guv::green::fs::File::open("/proc/self/status").unwrap();
    /// let fd = OwnedFd::from(f);
    /// assert!(std::fs::File::from(fd).metadata().unwrap().is_file());
    /// ```
    fn from(f: File) -> OwnedFd {
        OwnedFd::from(f.into_std())
    }
}

impl IntoRawFd for File {
    /// Gives up the file's fd; the caller must close it (std's
    /// `IntoRawFd`).
    ///
    /// ```
    /// use std::os::fd::{FromRawFd, IntoRawFd};
    /// let raw = guv::green::fs::File::open("/proc/self/status").unwrap().into_raw_fd();
    /// // SAFETY: `raw` came from `into_raw_fd` and nothing else owns it.
    /// let f = unsafe { std::fs::File::from_raw_fd(raw) };
    /// assert!(f.metadata().unwrap().is_file());
    /// ```
    fn into_raw_fd(self) -> RawFd {
        OwnedFd::from(self).into_raw_fd()
    }
}

impl From<File> for std::process::Stdio {
    /// Hands the file to a child process as its stdin, stdout or stderr
    /// (std's `From<File> for Stdio`).
    ///
    /// ```
    /// use guv::green::process::Command;
    /// let f = guv::green::fs::File::open("/proc/self/status").unwrap();
    /// let out = Command::new("head").arg("-c").arg("5").stdin(f).output().unwrap();
    /// assert_eq!(out.stdout, b"Name:");
    /// ```
    fn from(f: File) -> std::process::Stdio {
        std::process::Stdio::from(f.into_std())
    }
}

/// std's positioned reads and writes (`pread`/`pwrite`), each one round
/// trip to the pool; bring the trait into scope as with std.
///
/// ```
/// use std::os::unix::fs::FileExt;
/// use guv::green::fs::{self, File};
/// let p = std::env::temp_dir().join(format!("guv-fileext-doc-{}", std::process::id()));
/// let f = File::options().read(true).write(true).create(true).truncate(true).open(&p).unwrap();
/// f.write_all_at(b"hello world", 0).unwrap();
/// f.write_at(b"W", 6).unwrap();
/// let mut buf = [0u8; 5];
/// f.read_exact_at(&mut buf, 6).unwrap();
/// assert_eq!(&buf, b"World");
/// assert_eq!(f.read_at(&mut buf, 9).unwrap(), 2);
/// fs::remove_file(&p).unwrap();
/// ```
impl FileExt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let len = buf.len();
        let data = self.run(move |f| {
            let mut v = vec![0u8; len];
            let n = f.read_at(&mut v, offset)?;
            v.truncate(n);
            Ok(v)
        })?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let data = buf.to_vec();
        self.run(move |f| f.write_at(&data, offset))
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        // One round trip; on an error `buf` is left as it was (std leaves
        // its contents unspecified).
        let len = buf.len();
        let data = self.run(move |f| {
            let mut v = vec![0u8; len];
            f.read_exact_at(&mut v, offset)?;
            Ok(v)
        })?;
        buf.copy_from_slice(&data);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let data = buf.to_vec();
        self.run(move |f| f.write_all_at(&data, offset))
    }
}

/// The turn a [`File::run_undoable`] job takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// At the file position ([`Position::hold`]).
    Position,
    /// Among the blocking lock calls ([`Position::locking`]), handed to
    /// the caller with the lock.
    Locking,
}

/// A pool call whose effect is undone if its caller leaves first (see
/// [`File::run_undoable`]), as the caller and the job both see it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PoolCall<U> {
    /// The job has not finished.
    Running,
    /// The caller left (killed or timed out) before the job finished.
    Abandoned,
    /// The job finished, and did this (if anything) to be undone.
    Done(Option<U>),
}

/// Undoes a finished job's effect for a caller that unwinds before it
/// sees the result, or marks the call abandoned for the job to undo.
struct UndoGuard<U: Copy> {
    state: Arc<Mutex<PoolCall<U>>>,
    file: Arc<std::fs::File>,
    undo: fn(&std::fs::File, U),
    /// For a lock call: whose lock turn to give back after the undo.
    gate: Option<Arc<Position>>,
    armed: bool,
}

impl<U: Copy> Drop for UndoGuard<U> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *st {
            PoolCall::Done(Some(did)) => match &self.gate {
                Some(position) => position.locking.give_back(|| (self.undo)(&self.file, did)),
                None => (self.undo)(&self.file, did),
            },
            PoolCall::Running => *st = PoolCall::Abandoned,
            PoolCall::Done(None) | PoolCall::Abandoned => {}
        }
    }
}

/// Options to open a file with, opened on the thread pool (the twin of
/// `std::fs::OpenOptions`).
///
/// ```
/// use guv::green::fs::OpenOptions;
/// let p = std::env::temp_dir().join(format!("guv-opts-doc-{}", std::process::id()));
/// let f = OpenOptions::new().write(true).create(true).truncate(true).open(&p).unwrap();
/// drop(f);
/// assert!(OpenOptions::new().write(true).create_new(true).open(&p).is_err());
/// guv::green::fs::remove_file(&p).unwrap();
/// ```
#[derive(Clone)]
pub struct OpenOptions(std::fs::OpenOptions);

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

macro_rules! flag {
    ($($(#[$doc:meta])* $name:ident),*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, on: bool) -> &mut OpenOptions {
            self.0.$name(on);
            self
        }
    )*};
}

impl OpenOptions {
    /// All options off.
    ///
    /// ```
    /// let o = guv::green::fs::OpenOptions::new();
    /// assert!(o.open("/proc/self/status").is_err()); // no access mode chosen
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    flag!(
        /// Read access.
        read,
        /// Write access.
        write,
        /// Append mode.
        append,
        /// Truncate on open.
        truncate,
        /// Create if missing.
        create,
        /// Create, failing if it exists.
        create_new
    );

    /// Opens `path` with these options, on the pool.
    ///
    /// ```
    /// let f = guv::green::fs::OpenOptions::new().read(true).open("/proc/self/status").unwrap();
    /// assert!(f.metadata().is_ok());
    /// ```
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let (opts, path) = (self.0.clone(), owned(path));
        execute(move || opts.open(path)).map(File::from_std)
    }
}

/// std's Unix open options: the permission bits of a created file and
/// extra `open(2)` flags; bring the trait into scope as with std.
///
/// ```
/// use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
/// let p = std::env::temp_dir().join(format!("guv-mode-doc-{}", std::process::id()));
/// let f = guv::green::fs::OpenOptions::new()
///     .write(true)
///     .create_new(true)
///     .mode(0o600)
///     .custom_flags(libc::O_NOFOLLOW)
///     .open(&p)
///     .unwrap();
/// assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
/// guv::green::fs::remove_file(&p).unwrap();
/// ```
impl OpenOptionsExt for OpenOptions {
    fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.0.mode(mode);
        self
    }

    fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.0.custom_flags(flags);
        self
    }
}
