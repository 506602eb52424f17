//! `OpenOptions`: the options a file is opened with, opened on the pool.

use std::fmt;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::file::File;
use super::owned;
use crate::tpool::execute;

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
