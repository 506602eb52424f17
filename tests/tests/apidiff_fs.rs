//! API completeness of the green `std::fs` and `std::io::stdin` (issue 4):
//! patched code that uses every stable item — `File`, `OpenOptions`,
//! `DirBuilder`, `ReadDir`, `DirEntry`, the free functions, `Read`/`Write`/
//! `Seek` for `File` and `&File`, the `std::os::unix::fs` and
//! `std::os::fd` traits, `Stdin`/`StdinLock` — compiles against the green
//! twins and behaves as std's. Files live in a private temporary directory.

use std::any::type_name;
use std::path::PathBuf;

/// True when `T` is one of guv's types (the patch swapped it in).
fn green<T: ?Sized>(_: &T) -> bool {
    type_name::<T>().starts_with("guv::")
}

fn send_sync<T: Send + Sync + std::fmt::Debug>() {}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("guv-apidiff-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[guv::test]
fn file_every_stable_item() {
    use std::fs::{File, FileTimes, OpenOptions, TryLockError};
    use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
    use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
    use std::time::{Duration, SystemTime};
    send_sync::<File>();
    send_sync::<OpenOptions>();
    let dir = scratch("file");
    let p = dir.join("f");

    let mut f = File::create(&p).unwrap();
    assert!(green(&f));
    assert!(format!("{f:?}").contains("File"));
    f.write_all(b"hello world").unwrap();
    (&f).write_all(b"!").unwrap();
    f.flush().unwrap();
    f.sync_all().unwrap();
    f.sync_data().unwrap();
    assert_eq!(f.metadata().unwrap().len(), 12);
    f.set_len(11).unwrap();
    assert!(File::create_new(&p).is_err());
    drop(f);

    let mut f = File::open(&p).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello world");
    assert_eq!(f.stream_position().unwrap(), 11);
    f.rewind().unwrap();
    (&f).seek(SeekFrom::Start(6)).unwrap();
    f.seek_relative(1).unwrap();
    let mut buf = [0; 4];
    (&f).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"orld");
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 4);
    assert_eq!(&buf, b"hell");
    f.read_exact_at(&mut buf, 2).unwrap();
    assert_eq!(&buf, b"llo ");
    assert!(!f.is_terminal());
    let clone = f.try_clone().unwrap();
    assert_eq!(clone.metadata().unwrap().len(), 11);

    let mut opts = File::options();
    opts.read(true).write(true).append(false).truncate(false).create(false);
    let rw = opts.open(&p).unwrap();
    rw.write_all_at(b"J", 0).unwrap();
    assert_eq!(rw.write_at(b"!", 11).unwrap(), 1);
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "Jello world!");
    let mut perms = rw.metadata().unwrap().permissions();
    perms.set_mode(0o600);
    rw.set_permissions(perms).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    rw.set_modified(then).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), then);
    rw.set_times(FileTimes::new().set_accessed(then).set_modified(then + Duration::from_secs(1))).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().accessed().unwrap(), then);

    // Locks: the green `lock` parks, `try_lock` reports `WouldBlock`.
    let other = File::open(&p).unwrap();
    rw.lock().unwrap();
    assert!(matches!(other.try_lock_shared(), Err(TryLockError::WouldBlock)));
    rw.unlock().unwrap();
    other.lock_shared().unwrap();
    assert!(matches!(rw.try_lock(), Err(TryLockError::WouldBlock)));
    other.unlock().unwrap();
    rw.try_lock().unwrap();
    rw.unlock().unwrap();

    // `Read for Arc<File>` cannot exist for a green `File` (orphan rule, a
    // documented limit); reading through a reference does what it does.
    let shared = std::sync::Arc::new(File::open(&p).unwrap());
    let mut head = [0; 5];
    (&*shared).read_exact(&mut head).unwrap();
    assert_eq!(&head, b"Jello");

    let made = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join("g"))
        .unwrap();
    assert_eq!(made.metadata().unwrap().permissions().mode() & 0o777, 0o640 & !umask());
    let mut app = OpenOptions::new().append(true).open(dir.join("g")).unwrap();
    app.write_all(b"a").unwrap();
    let d = OpenOptions::default();
    assert!(format!("{:?}", d.clone()).contains("OpenOptions"));

    // fd conversions and Stdio.
    let fd: OwnedFd = made.into();
    let made = File::from(fd);
    assert!(made.as_fd().as_raw_fd() == made.as_raw_fd());
    // SAFETY: the fd comes from `into_raw_fd` and is owned here.
    let made = unsafe { File::from_raw_fd(made.into_raw_fd()) };
    let out = std::process::Command::new("echo").arg("to file").stdout(made).status().unwrap();
    assert!(out.success());
    // `made` writes from its own offset 0, over the "a" appended through `app`.
    assert_eq!(std::fs::read_to_string(dir.join("g")).unwrap(), "to file\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:")).unwrap();
    u32::from_str_radix(line.trim(), 8).unwrap()
}

#[guv::test]
fn dirs_and_free_functions_every_stable_item() {
    use std::fs::{self, DirBuilder, DirEntry, ReadDir};
    use std::os::unix::fs::{DirBuilderExt, DirEntryExt, MetadataExt};
    send_sync::<DirBuilder>();
    send_sync::<DirEntry>();
    send_sync::<ReadDir>();
    let dir = scratch("dirs");
    let mut b = DirBuilder::new();
    assert!(green(&b));
    b.recursive(true).mode(0o700);
    assert!(format!("{b:?}").contains("DirBuilder"));
    b.create(dir.join("a/b/c")).unwrap();
    fs::create_dir(dir.join("d")).unwrap();
    fs::create_dir_all(dir.join("e/f")).unwrap();
    fs::write(dir.join("a/x"), "xx").unwrap();
    fs::write(dir.join("a/y"), b"y").unwrap();
    assert_eq!(fs::read(dir.join("a/y")).unwrap(), b"y");
    assert_eq!(fs::copy(dir.join("a/x"), dir.join("a/z")).unwrap(), 2);
    fs::rename(dir.join("a/z"), dir.join("d/z")).unwrap();
    fs::hard_link(dir.join("d/z"), dir.join("d/hard")).unwrap();
    assert_eq!(fs::metadata(dir.join("d/hard")).unwrap().nlink(), 2);
    #[allow(deprecated)]
    fs::soft_link("z", dir.join("d/soft")).unwrap();
    assert_eq!(fs::read_link(dir.join("d/soft")).unwrap(), PathBuf::from("z"));
    assert!(fs::symlink_metadata(dir.join("d/soft")).unwrap().file_type().is_symlink());
    assert_eq!(fs::canonicalize(dir.join("d/soft")).unwrap(), fs::canonicalize(dir.join("d/z")).unwrap());
    assert!(fs::exists(dir.join("d/z")).unwrap());
    let mut perms = fs::metadata(dir.join("d/z")).unwrap().permissions();
    perms.set_readonly(true);
    fs::set_permissions(dir.join("d/z"), perms).unwrap();
    assert!(fs::metadata(dir.join("d/z")).unwrap().permissions().readonly());

    let rd: ReadDir = fs::read_dir(dir.join("a")).unwrap();
    assert!(green(&rd));
    assert!(format!("{rd:?}").contains("ReadDir"));
    let mut names: Vec<(String, bool, bool)> = rd
        .map(|e| {
            let e: DirEntry = e.unwrap();
            assert!(format!("{e:?}").contains("DirEntry"));
            assert_eq!(e.path(), dir.join("a").join(e.file_name()));
            assert_eq!(e.ino(), e.metadata().unwrap().ino());
            (e.file_name().into_string().unwrap(), e.file_type().unwrap().is_dir(), e.metadata().unwrap().is_file())
        })
        .collect();
    names.sort();
    assert_eq!(names, [("b".into(), true, false), ("x".into(), false, true), ("y".into(), false, true)]);

    std::os::unix::fs::symlink("x", dir.join("a/sym")).unwrap();
    assert_eq!(fs::read_to_string(dir.join("a/sym")).unwrap(), "xx");
    let f = fs::File::open(dir.join("a/x")).unwrap();
    std::os::unix::fs::fchown(&f, None, None).unwrap();
    std::os::unix::fs::chown(dir.join("a/x"), None, None).unwrap();
    std::os::unix::fs::lchown(dir.join("a/sym"), None, None).unwrap();
    fs::remove_file(dir.join("a/sym")).unwrap();
    fs::remove_file(dir.join("a/y")).unwrap();
    fs::remove_dir(dir.join("e/f")).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    assert!(!fs::exists(&dir).unwrap());
}

#[guv::test]
fn stdin_every_stable_item() {
    use std::io::{self, BufRead, IsTerminal, Read, Stdin, StdinLock};
    use std::os::fd::{AsFd, AsRawFd};
    send_sync::<Stdin>();
    fn read_traits<T: Read + std::fmt::Debug + AsFd + AsRawFd>() {}
    read_traits::<Stdin>();
    read_traits::<StdinLock<'static>>();
    fn buf_read<T: BufRead>() {}
    buf_read::<StdinLock<'static>>();
    fn by_ref_read<T>()
    where
        for<'a> &'a T: Read,
    {
    }
    by_ref_read::<Stdin>();
    // The test harness gives no stdin input to rely on: only the types and
    // the fd are observable here (tests/tests/green_stdin.rs reads real input).
    let s = io::stdin();
    assert!(green(&s));
    assert_eq!(s.as_raw_fd(), 0);
    assert_eq!(io::IsTerminal::is_terminal(&*s), guv::original!(std::io::stdin)().is_terminal());
    assert_eq!(s.is_terminal(), s.lock().is_terminal());
    assert!(format!("{s:?}").contains("Stdin"));
    let lock: StdinLock<'static> = s.lock();
    assert!(green(&lock));
    assert_eq!(lock.as_fd().as_raw_fd(), 0);
    assert!(format!("{lock:?}").contains("StdinLock"));
    drop(lock);
    // Used the way std code uses them (never run: they would wait for input).
    let _unused = |s: Stdin| -> io::Result<usize> {
        let mut line = String::new();
        s.read_line(&mut line)?;
        let mut buf = [0; 1];
        let got = (&s).read(&mut buf)?;
        s.lock().read_line(&mut line)?;
        Ok(got + s.lines().count())
    };
}
