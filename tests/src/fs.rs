//! A scratch directory for the file-system tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty directory under the system temp dir, removed on drop.
/// Its name holds the process id, `prefix`, `name` and a per-process
/// counter, so parallel tests and test binaries never share one.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<temp>/guv-<prefix>-<pid>-<name>-<n>`, emptied first.
    pub fn new(prefix: &str, name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("guv-{prefix}-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
