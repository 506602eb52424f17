//! Directories on the pool: `read_dir` with its `ReadDir` and `DirEntry`, and
//! `DirBuilder`.

use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::io;
use std::os::unix::fs::{DirBuilderExt, DirEntryExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::owned;
use crate::tpool::execute;

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
