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

use std::io;
use std::path::{Path, PathBuf};

use crate::tpool::execute;

mod dir;
mod file;
mod file_traits;
mod options;
mod turns;

pub use dir::{DirBuilder, DirEntry, ReadDir, read_dir};
pub use file::File;
pub use options::OpenOptions;

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
