//! std's traits on the green `File`: `Read`/`Write`/`Seek` (for `File` and
//! `&File`), `Debug`, the fd conversions, `Deref` to the fd, and `FileExt`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;

use super::file::File;

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
