//! guv::green::fs::File and OpenOptions against std's: each twin body
//! runs once with `std::fs` on an OS thread and once with
//! `guv::green::fs`, each in its own fresh temp dir, and both must report
//! the same observations. Green-only tests below prove the calls park
//! only the greenlet and that a killed lock waiter gives its lock back.

/// Compiles each body against `std::fs` and `guv::green::fs` and adds a
/// test comparing the two runs.
macro_rules! twin {
    ($(fn $name:ident($dir:ident) -> Vec<String> $body:block)*) => {
        #[allow(unused_imports, clippy::all)]
        mod on_std {
            use std::{fs, process};
            use std::os::unix::fs as unix_fs;
            use std::io::{IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
            use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
            use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
            use super::{kind, lock_kind};
            $(pub fn $name($dir: &std::path::Path) -> Vec<String> $body)*
        }
        #[allow(unused_imports, clippy::all)]
        mod on_green {
            use guv::green::{fs, process};
            use guv::green::os::unix::fs as unix_fs;
            use std::io::{IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
            use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
            use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
            use super::{kind, lock_kind};
            $(pub fn $name($dir: &std::path::Path) -> Vec<String> $body)*
        }
        $(
            #[test]
            fn $name() {
                let std_side = std::thread::spawn(|| {
                    let d = TempDir::new("fs-twin", concat!(stringify!($name), "-std"));
                    on_std::$name(d.path())
                }).join().expect("std run panicked");
                let green_side = std::thread::spawn(|| {
                    let d = TempDir::new("fs-twin", concat!(stringify!($name), "-green"));
                    on_green::$name(d.path())
                }).join().expect("green run panicked");
                assert!(!std_side.is_empty());
                assert_eq!(std_side, green_side, "std (left) and green (right) differ");
            }
        )*
    };
}

use guv_tests::fs::TempDir;
use guv_tests::io_kind as kind;

fn lock_kind(r: &Result<(), std::fs::TryLockError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(std::fs::TryLockError::WouldBlock) => "WouldBlock".into(),
        Err(std::fs::TryLockError::Error(e)) => format!("{:?}", e.kind()),
    }
}

twin! {
    fn unix_links_and_owners(dir) -> Vec<String> {
        let mut out = Vec::new();
        let target = dir.join("target");
        fs::write(&target, b"abc").unwrap();
        let link = dir.join("link");
        out.push(kind(&unix_fs::symlink(&target, &link)));
        out.push(kind(&unix_fs::symlink(&target, &link))); // it exists
        out.push(format!("{:?}", fs::read(&link).unwrap()));
        out.push(format!("{}", fs::symlink_metadata(&link).unwrap().file_type().is_symlink()));
        // To the ids the file already has: allowed without privileges.
        let meta = fs::metadata(&target).unwrap();
        let (uid, gid) = (Some(unix_fs::MetadataExt::uid(&meta)), Some(unix_fs::MetadataExt::gid(&meta)));
        out.push(kind(&unix_fs::chown(&link, uid, gid)));
        out.push(kind(&unix_fs::lchown(&link, None, None)));
        let f = fs::File::open(&target).unwrap();
        out.push(kind(&unix_fs::fchown(&f, uid, None)));
        out.push(kind(&unix_fs::chown(dir.join("missing"), None, None)));
        out.push(kind(&unix_fs::lchown(dir.join("missing"), None, None)));
        out
    }

    fn positioned_reads_and_writes(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        let mut f = fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p).unwrap();
        f.write_all_at(b"0123456789", 0).unwrap();
        out.push(format!("{:?}", f.write_at(b"ab", 3)));
        // Positioned calls leave the cursor alone.
        out.push(format!("{:?}", f.stream_position().unwrap()));
        let mut buf = [0u8; 4];
        out.push(format!("{:?}", f.read_at(&mut buf, 2)));
        out.push(String::from_utf8_lossy(&buf).into_owned());
        out.push(format!("{:?}", f.read_at(&mut buf, 8)));
        out.push(format!("{:?}", f.read_at(&mut buf, 100)));
        let mut exact = [0u8; 5];
        out.push(kind(&f.read_exact_at(&mut exact, 1)));
        out.push(String::from_utf8_lossy(&exact).into_owned());
        out.push(kind(&f.read_exact_at(&mut exact, 7))); // only 3 bytes left
        // Writing past the end leaves a hole of zeros.
        f.write_all_at(b"Z", 12).unwrap();
        out.push(format!("{:?}", fs::read(&p).unwrap()));
        let ro = fs::File::open(&p).unwrap();
        out.push(kind(&ro.write_at(b"x", 0)));
        out.push(kind(&ro.write_all_at(b"x", 0)));
        out
    }

    fn vectored_reads_and_writes(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        let mut f = fs::File::create(&p).unwrap();
        let n = f.write_vectored(&[IoSlice::new(b"abc"), IoSlice::new(b""), IoSlice::new(b"defgh")]).unwrap();
        out.push(n.to_string());
        let mut f = fs::File::open(&p).unwrap();
        let (mut a, mut b, mut c) = ([0u8; 3], [0u8; 0], [0u8; 10]);
        let n = f.read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b), IoSliceMut::new(&mut c)]).unwrap();
        out.push(format!("{n} {:?} {:?}", a, c));
        let n = f.read_vectored(&mut [IoSliceMut::new(&mut a)]).unwrap();
        out.push(format!("at end: {n}"));
        let ro = fs::File::open(&p).unwrap();
        out.push(kind(&(&ro).write_vectored(&[IoSlice::new(b"x")])));
        out
    }

    fn read_exact_and_read_to_end(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        fs::write(&p, b"0123456789").unwrap();
        let mut f = fs::File::open(&p).unwrap();
        let mut buf = [0u8; 4];
        out.push(kind(&f.read_exact(&mut buf)));
        out.push(String::from_utf8_lossy(&buf).into_owned());
        let mut rest = b"pre:".to_vec();
        out.push(format!("{:?}", f.read_to_end(&mut rest)));
        out.push(String::from_utf8_lossy(&rest).into_owned());
        out.push(kind(&f.read_exact(&mut buf)));
        // Invalid UTF-8 up to a clean end: InvalidData, buffer untouched.
        fs::write(&p, b"ok \xff").unwrap();
        let mut s = String::from("pre:");
        out.push(kind(&fs::File::open(&p).unwrap().read_to_string(&mut s)));
        out.push(s);
        // A directory: the error comes at once, nothing appended.
        let mut v = b"keep".to_vec();
        out.push(kind(&fs::File::open(dir).unwrap().read_to_end(&mut v)));
        out.push(String::from_utf8_lossy(&v).into_owned());
        out
    }

    fn errors_mid_read_keep_what_was_read(dir) -> Vec<String> {
        // A FIFO opened non-blocking: reading to the end gets the bytes
        // written so far, then fails with WouldBlock while the writer
        // stays open. std keeps those bytes; so must the twin.
        let mut out = Vec::new();
        let fifo = dir.join("fifo");
        let st = process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(st.success());
        let mut reader = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
        let mut writer = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        writer.write_all(b"hello").unwrap();
        let mut v = b"pre:".to_vec();
        out.push(kind(&reader.read_to_end(&mut v)));
        out.push(String::from_utf8_lossy(&v).into_owned());
        writer.write_all("h\u{e9}llo".as_bytes()).unwrap();
        let mut s = String::from("pre:");
        out.push(kind(&reader.read_to_string(&mut s)));
        out.push(s.clone());
        // Cut inside a character: the read's own error, `s` unchanged.
        writer.write_all(b"a\xc3").unwrap();
        out.push(kind(&reader.read_to_string(&mut s)));
        out.push(s);
        drop(writer);
        // A child process another test forks at this moment may hold the
        // write end until it execs: wait for the hang-up before reading.
        let mut pfd = libc::pollfd { fd: reader.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; the fd is open for the whole call.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 10_000) }, 1);
        let mut v = Vec::new();
        out.push(format!("{:?}", reader.read_to_end(&mut v)));
        out
    }

    fn file_methods(dir) -> Vec<String> {
        use std::time::{Duration, SystemTime};
        let mut out = Vec::new();
        let p = dir.join("f");
        let mut f = fs::File::create(&p).unwrap();
        f.write_all(b"some data").unwrap();
        out.push(kind(&f.sync_all()));
        out.push(kind(&f.sync_data()));
        out.push(kind(&f.set_len(4)));
        out.push(format!("{}", f.metadata().unwrap().len()));
        out.push(kind(&f.set_len(6)));
        out.push(format!("{:?}", fs::read(&p).unwrap()));
        // try_clone shares the cursor.
        let mut g = f.try_clone().unwrap();
        f.seek(SeekFrom::Start(1)).unwrap();
        out.push(format!("{:?}", g.stream_position().unwrap()));
        g.write_all(b"X").unwrap();
        out.push(format!("{:?}", f.stream_position().unwrap()));
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567);
        let t2 = SystemTime::UNIX_EPOCH + Duration::from_secs(7_654_321);
        out.push(kind(&f.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))));
        let m = f.metadata().unwrap();
        out.push(format!("{:?} {:?}", m.accessed().unwrap() == t, m.modified().unwrap() == t));
        out.push(kind(&f.set_modified(t2)));
        out.push(format!("{}", f.metadata().unwrap().modified().unwrap() == t2));
        let mut perm = f.metadata().unwrap().permissions();
        perm.set_mode(0o400);
        out.push(kind(&f.set_permissions(perm)));
        out.push(format!("{:o}", fs::metadata(&p).unwrap().permissions().mode() & 0o777));
        // A read-only handle cannot be truncated.
        let ro = fs::File::open(&p).unwrap();
        out.push(kind(&ro.set_len(0)));
        out
    }

    fn fd_conversions(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        fs::write(&p, b"through fds").unwrap();
        let f = fs::File::open(&p).unwrap();
        out.push(format!("{}", f.as_fd().as_raw_fd() == f.as_raw_fd()));
        let fd: OwnedFd = f.into();
        let mut f = fs::File::from(fd);
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        out.push(s);
        let raw = f.into_raw_fd();
        // SAFETY: `raw` came from `into_raw_fd` and nothing else owns it.
        let mut f = unsafe { fs::File::from_raw_fd(raw) };
        out.push(format!("{:?}", f.seek(SeekFrom::Current(0))));
        f.seek(SeekFrom::Start(8)).unwrap();
        // A file handed to a child as stdin: it reads from the cursor.
        let o = process::Command::new("cat").stdin(f).output().unwrap();
        out.push(String::from_utf8_lossy(&o.stdout).into_owned());
        // And as stdout.
        let q = dir.join("out");
        let w = fs::File::create(&q).unwrap();
        let st = process::Command::new("echo").arg("into a file").stdout(w).status().unwrap();
        out.push(format!("{} {:?}", st.success(), fs::read_to_string(&q)));
        out
    }

    fn open_options_ext(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        let f = fs::OpenOptions::new().write(true).create_new(true).mode(0o640).open(&p).unwrap();
        let mode = f.metadata().unwrap().permissions().mode() & 0o777;
        // The umask may only clear bits.
        out.push(format!("{}", mode & !0o640 == 0 && mode & 0o600 == 0o600));
        drop(f);
        // mode only applies to files it creates.
        fs::OpenOptions::new().write(true).mode(0o777).open(&p).unwrap();
        out.push(format!("{:o}", fs::metadata(&p).unwrap().permissions().mode() & 0o777 & !0o022 & 0o700));
        let link = dir.join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let r = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&link);
        out.push(kind(&r));
        out.push(format!("{:?}", r.err().and_then(|e| e.raw_os_error())));
        let mut a = fs::OpenOptions::new().append(true).custom_flags(libc::O_SYNC).open(&p).unwrap();
        a.write_all(b"appended").unwrap();
        out.push(format!("{:?}", fs::read(&p).unwrap()));
        out
    }

    fn dir_builder(dir) -> Vec<String> {
        let mut out = Vec::new();
        let nested = dir.join("a/b/c");
        out.push(kind(&fs::DirBuilder::new().create(&nested)));
        out.push(kind(&fs::DirBuilder::new().recursive(true).mode(0o700).create(&nested)));
        out.push(format!("{:o}", fs::metadata(&nested).unwrap().permissions().mode() & 0o777));
        out.push(kind(&fs::DirBuilder::new().create(&nested)));
        out.push(kind(&fs::DirBuilder::new().recursive(true).create(&nested)));
        fs::write(dir.join("file"), b"").unwrap();
        out.push(kind(&fs::DirBuilder::new().recursive(true).create(dir.join("file"))));
        out
    }

    fn advisory_locks(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        let a = fs::File::create(&p).unwrap();
        let b = fs::File::open(&p).unwrap();
        out.push(kind(&a.lock()));
        out.push(lock_kind(&b.try_lock()));
        out.push(lock_kind(&b.try_lock_shared()));
        out.push(kind(&a.unlock()));
        out.push(kind(&a.lock_shared()));
        out.push(kind(&b.lock_shared()));
        out.push(lock_kind(&fs::File::open(&p).unwrap().try_lock()));
        out.push(kind(&a.unlock()));
        out.push(kind(&b.unlock()));
        out.push(lock_kind(&b.try_lock()));
        out.push(lock_kind(&a.try_lock_shared()));
        // Closing the handle gives its lock back. (A blocking lock: a
        // child another test forks at that moment holds every fd of the
        // process, `b`'s open file too, until it execs.)
        drop(b);
        out.push(kind(&a.lock()));
        out
    }
}

/// `lock()` parks only the greenlet: another greenlet on the same thread
/// gets to give the lock back.
#[test]
fn a_lock_wait_parks_only_the_greenlet() {
    use guv::green::fs::File;
    let dir = TempDir::new("fs-twin", "lock-parks");
    let p = dir.path().join("f");
    let holder = File::create(&p).unwrap();
    holder.lock().unwrap();
    let log = guv_tests::Log::new();
    let (l2, p2) = (log.clone(), p.clone());
    let waiter = guv::spawn(move || {
        let f = File::open(&p2).unwrap();
        l2.push("waiting");
        f.lock().unwrap();
        l2.push("locked");
        f
    });
    while log.take().is_empty() {
        guv::gyield();
    }
    log.push("unlocking");
    holder.unlock().unwrap();
    let f = guv::with_timeout(std::time::Duration::from_secs(30), || waiter.wait().unwrap()).unwrap();
    assert_eq!(log.take(), ["waiting", "unlocking", "locked"]);
    assert!(holder.try_lock().is_err());
    drop(f);
}

/// A greenlet killed while its `lock()` waits on the pool never ends up
/// holding the lock: the pool gives it back once it gets it.
#[test]
fn a_killed_lock_waiter_gives_the_lock_back() {
    use guv::green::fs::File;
    use std::time::Duration;
    let dir = TempDir::new("fs-twin", "lock-killed");
    let p = dir.path().join("f");
    let holder = File::create(&p).unwrap();
    holder.lock().unwrap();
    let log = guv_tests::Log::new();
    let l2 = log.clone();
    // The killed waiter's file outlives it, as the lock would.
    let kept = std::rc::Rc::new(File::open(&p).unwrap());
    let k2 = kept.clone();
    let waiter = guv::spawn(move || {
        l2.push("waiting");
        k2.lock().unwrap();
        "unreachable"
    });
    while log.take().is_empty() {
        guv::gyield();
    }
    waiter.kill();
    assert!(waiter.wait().unwrap_err().is_killed());
    // Let the pool's job take the lock (and give it back).
    holder.unlock().unwrap();
    // A third handle gets the lock, in bounded time: the killed waiter's
    // handle does not keep it.
    let third = File::open(&p).unwrap();
    guv::with_timeout(Duration::from_secs(30), || third.lock().unwrap()).expect("the killed waiter kept the lock");
    // While the third holds it, the kept handle has no lock of its own.
    assert!(matches!(kept.try_lock(), Err(guv::green::fs::TryLockError::WouldBlock)));
    third.unlock().unwrap();
    // The kept handle can lock again once the killed waiter's job has
    // taken the lock and given it back (a `try_lock` that got the lock
    // meanwhile would keep it: the job would then not give it back).
    guv::with_timeout(Duration::from_secs(30), || kept.lock().unwrap()).expect("the killed waiter's job never ended");
    assert!(matches!(third.try_lock(), Err(guv::green::fs::TryLockError::WouldBlock)), "the kept handle's lock");
}

/// Each File call is a pool round trip that parks only the caller: a
/// greenlet blocked in `read_to_end` on a FIFO lets the writer run.
#[test]
fn positioned_and_vectored_calls_park_only_the_greenlet() {
    use guv::green::fs::{File, OpenOptions};
    use std::io::{IoSlice, Read, Write};
    use std::os::unix::fs::FileExt;
    let dir = TempDir::new("fs-twin", "parks");
    let fifo = dir.path().join("fifo");
    assert!(guv::green::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let f2 = fifo.clone();
    let reader = guv::spawn(move || {
        let mut v = Vec::new();
        File::open(&f2).unwrap().read_to_end(&mut v).unwrap();
        v
    });
    let mut w = OpenOptions::new().write(true).open(&fifo).unwrap();
    assert_eq!(w.write_vectored(&[IoSlice::new(b"from "), IoSlice::new(b"a greenlet")]).unwrap(), 15);
    drop(w);
    assert_eq!(reader.wait().unwrap(), b"from a greenlet");
    // Positioned writes go through the pool too.
    let p = dir.path().join("plain");
    let f = File::create(&p).unwrap();
    f.write_all_at(b"xyz", 2).unwrap();
    assert_eq!(guv::green::fs::read(&p).unwrap(), b"\0\0xyz");
}
