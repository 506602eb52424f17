//! Green `std::os`: everything is `std::os`'s own except the Unix socket
//! types in [`unix::net`], which are [`crate::net::unix`]'s, and the free
//! functions of [`unix::fs`], which run on the thread pool.
//!
//! ```
//! use guv::green::os::unix::net::UnixStream;
//! use guv::green::os::unix::io::AsRawFd; // std's, re-exported
//! let (a, _b) = UnixStream::pair().unwrap();
//! assert!(a.as_raw_fd() >= 0);
//! ```

pub use std::os::*;

/// Green `std::os::unix`.
pub mod unix {
    pub use std::os::unix::*;

    /// Green `std::os::unix::fs`: std's extension traits (implemented by the
    /// green [`File`](crate::green::fs::File), `OpenOptions` and
    /// `DirBuilder` too), and the free functions that touch the file system
    /// run on the thread pool ([`crate::tpool`]) while the greenlet parks.
    ///
    /// ```
    /// use guv::green::os::unix::fs::{PermissionsExt, symlink};
    /// let dir = std::env::temp_dir().join(format!("guv-os-fs-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let link = dir.join("link");
    /// let _ = std::fs::remove_file(&link);
    /// symlink("/proc/self/status", &link).unwrap();
    /// assert_eq!(std::fs::read_link(&link).unwrap(), std::path::Path::new("/proc/self/status"));
    /// assert!(std::fs::metadata(&link).unwrap().permissions().mode() & 0o444 != 0);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub mod fs {
        use std::io;
        use std::os::fd::AsFd;
        use std::path::Path;

        pub use std::os::unix::fs::*;

        use crate::tpool::execute;

        /// Creates a symbolic link `link` pointing at `original` (std's
        /// `symlink`).
        ///
        /// ```
        /// let e = guv::green::os::unix::fs::symlink("x", "/nonexistent/guv/link").unwrap_err();
        /// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        /// ```
        pub fn symlink<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
            let (original, link) = (original.as_ref().to_path_buf(), link.as_ref().to_path_buf());
            execute(move || std::os::unix::fs::symlink(original, link))
        }

        /// Changes the owner and group of a file, following symbolic links
        /// (std's `chown`); `None` leaves that id as it is.
        ///
        /// ```
        /// let e = guv::green::os::unix::fs::chown("/nonexistent/guv", None, None).unwrap_err();
        /// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        /// ```
        pub fn chown<P: AsRef<Path>>(dir: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
            let dir = dir.as_ref().to_path_buf();
            execute(move || std::os::unix::fs::chown(dir, uid, gid))
        }

        /// Changes the owner and group of a symbolic link itself (std's
        /// `lchown`).
        ///
        /// ```
        /// let e = guv::green::os::unix::fs::lchown("/nonexistent/guv", None, None).unwrap_err();
        /// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        /// ```
        pub fn lchown<P: AsRef<Path>>(dir: P, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
            let dir = dir.as_ref().to_path_buf();
            execute(move || std::os::unix::fs::lchown(dir, uid, gid))
        }

        /// Changes the owner and group of an open file (std's `fchown`).
        /// The pool works on a duplicate of `fd`, so the caller's stays
        /// usable whatever happens to the greenlet.
        ///
        /// ```
        /// let f = std::fs::File::open("/proc/self/status").unwrap();
        /// guv::green::os::unix::fs::fchown(&f, None, None).unwrap(); // no change
        /// ```
        pub fn fchown<F: AsFd>(fd: F, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
            let fd = fd.as_fd().try_clone_to_owned()?;
            execute(move || std::os::unix::fs::fchown(&fd, uid, gid))
        }

        /// Changes the process's root directory (std's `chroot`; needs
        /// privileges).
        ///
        /// ```
        /// let e = guv::green::os::unix::fs::chroot("/nonexistent/guv").unwrap_err();
        /// # let _ = e;
        /// ```
        pub fn chroot<P: AsRef<Path>>(dir: P) -> io::Result<()> {
            let dir = dir.as_ref().to_path_buf();
            execute(move || std::os::unix::fs::chroot(dir))
        }
    }

    /// Green `std::os::unix::process`: std's items, and a
    /// [`CommandExt`](process::CommandExt) that the green `Command`
    /// implements (std's is sealed).
    pub mod process {
        pub use std::os::unix::process::*;

        pub use crate::green::sys::CommandExt;
    }

    /// Green `std::os::unix::net`: the socket types park the greenlet.
    pub mod net {
        pub use std::os::unix::net::*;

        pub use crate::net::unix::{UnixDatagram, UnixIncoming as Incoming, UnixListener, UnixStream};
    }
}
