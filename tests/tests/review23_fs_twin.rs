//! Review 23: guv::green::fs against std::fs, as twins. Each body runs once
//! with `std::fs` on an OS thread and once with `guv::green::fs`, each in a
//! fresh temp dir, and both must observe the same: values, error kinds and
//! errnos, file positions. (green_fs_twin.rs and review6_fs_process.rs hold
//! the earlier twins; these cover what they do not.)

/// A result as compared (`guv_tests::io_result`).
use guv_tests::io_result as err;

/// `p` relative to `dir` (the twins run in different directories).
fn rel(dir: &std::path::Path, p: &std::path::Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap();
    p.strip_prefix(&dir).map_or_else(|_| format!("{p:?}"), |r| format!("{r:?}"))
}

guv_tests::twins! {
    std: {
        use std::fs;
        use std::io::{BufRead, BufReader, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
        use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt, symlink};
        use super::{err, rel};
    }
    green: {
        use guv::green::fs;
        use guv::green::os::unix::fs::symlink;
        use std::io::{BufRead, BufReader, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
        use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
        use super::{err, rel};
    }
    dir: "review23",
    fn positions_after_mixed_calls(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        let mut f = fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p).unwrap();
        f.write_all(b"0123456789").unwrap();
        out.push(err(&f.stream_position()));
        out.push(err(&f.seek(SeekFrom::Current(-4))));
        let mut b = [0u8; 3];
        out.push(err(&f.read(&mut b)));
        out.push(format!("{b:?}"));
        out.push(err(&f.seek(SeekFrom::End(5))));
        out.push(err(&f.read(&mut b)));
        out.push(err(&f.write(b"X")));
        out.push(err(&f.metadata().map(|m| m.len())));
        out.push(err(&f.seek(SeekFrom::Current(-100))));
        out.push(err(&f.stream_position()));
        out.push(err(&f.seek_relative(-2)));
        out.push(err(&f.stream_position()));
        out.push(err(&f.rewind()));
        // A clone shares the cursor both ways; set_len leaves it alone.
        let mut g = f.try_clone().unwrap();
        let mut s = [0u8; 4];
        out.push(err(&g.read(&mut s)));
        out.push(err(&f.stream_position()));
        out.push(err(&f.set_len(2)));
        out.push(err(&g.stream_position()));
        out.push(err(&g.read(&mut s)));
        out.push(err(&f.write(b"ab")));
        out.push(err(&fs::read(&p)));
        // read_exact short: the cursor moves past what was there.
        f.rewind().unwrap();
        let mut big = [0u8; 64];
        out.push(err(&f.read_exact(&mut big)));
        out.push(err(&g.stream_position()));
        // Positioned calls leave the cursor alone, on the clone too.
        out.push(err(&g.write_at(b"Q", 1)));
        out.push(err(&f.read_at(&mut s, 0)));
        out.push(err(&f.stream_position()));
        // An empty read and write.
        out.push(err(&f.read(&mut [])));
        out.push(err(&f.write(&[])));
        out.push(err(&f.flush()));
        out
    }

    fn append_mode(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        fs::write(&p, b"start").unwrap();
        let mut a = fs::OpenOptions::new().read(true).append(true).open(&p).unwrap();
        out.push(err(&a.stream_position()));
        out.push(err(&a.write(b"+1")));
        out.push(err(&a.stream_position()));
        out.push(err(&a.seek(SeekFrom::Start(0))));
        out.push(err(&a.write(b"+2")));
        out.push(err(&a.stream_position()));
        // pwrite on an O_APPEND file appends on Linux.
        out.push(err(&a.write_at(b"+3", 0)));
        out.push(err(&a.stream_position()));
        a.rewind().unwrap();
        let mut s = String::new();
        out.push(err(&a.read_to_string(&mut s)));
        out.push(s);
        // append alone implies write; append + truncate is refused.
        out.push(err(&fs::OpenOptions::new().append(true).open(&p).map(|_| ())));
        out.push(err(&fs::OpenOptions::new().append(true).truncate(true).open(&p).map(|_| ())));
        out
    }

    fn open_options_errors(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        let missing = dir.join("missing");
        let o = |f: &dyn Fn(&mut fs::OpenOptions) -> &mut fs::OpenOptions, path: &std::path::Path| {
            let mut opts = fs::OpenOptions::new();
            err(&f(&mut opts).open(path).map(|_| ()))
        };
        out.push(o(&|o| o, &missing));
        out.push(o(&|o| o.read(true), &missing));
        out.push(o(&|o| o.write(true).create_new(true), &p));
        out.push(o(&|o| o.write(true).create_new(true), &p));
        out.push(o(&|o| o.read(true).create(true), &p));
        out.push(o(&|o| o.read(true).truncate(true), &p));
        out.push(o(&|o| o.read(true).create_new(true), &missing));
        out.push(o(&|o| o.write(true), dir));
        out.push(o(&|o| o.read(true), dir));
        out.push(o(&|o| o.write(true).create(true), &dir.join("nodir/f")));
        out.push(o(&|o| o.write(true).create(true), &p.join("under-a-file")));
        out.push(o(&|o| o.read(true), &dir.join("")));
        out.push(err(&fs::File::create_new(&p).map(|_| ())));
        out.push(err(&fs::File::create(dir).map(|_| ())));
        out.push(err(&fs::File::open(&missing).map(|_| ())));
        // Reading a write-only file, writing a read-only one.
        let mut w = fs::File::create(&p).unwrap();
        out.push(err(&w.read(&mut [0u8; 4])));
        let mut v = b"x".to_vec();
        out.push(err(&w.read_to_end(&mut v)));
        out.push(format!("{v:?}"));
        let mut r = fs::File::open(&p).unwrap();
        out.push(err(&r.write(b"x")));
        out.push(err(&r.write_all(b"x")));
        out.push(err(&r.set_len(0)));
        out
    }

    fn whole_file_calls_on_odd_paths(dir) -> Vec<String> {
        let mut out = Vec::new();
        let sub = dir.join("sub");
        fs::create_dir(&sub).unwrap();
        out.push(err(&fs::read(&sub)));
        out.push(err(&fs::read_to_string(&sub)));
        out.push(err(&fs::write(&sub, b"x")));
        out.push(err(&fs::read(dir.join("missing"))));
        fs::write(dir.join("bad"), b"ok\xff").unwrap();
        out.push(err(&fs::read_to_string(dir.join("bad"))));
        out.push(err(&fs::read_dir(dir.join("bad")).map(|_| ())));
        out.push(err(&fs::read_dir(dir.join("missing")).map(|_| ())));
        out.push(err(&fs::remove_file(&sub)));
        out.push(err(&fs::remove_dir(dir.join("bad"))));
        fs::write(sub.join("inner"), b"").unwrap();
        out.push(err(&fs::remove_dir(&sub)));
        out.push(err(&fs::create_dir(&sub)));
        out.push(err(&fs::create_dir_all(dir.join("bad/x"))));
        out.push(err(&fs::exists(dir.join("bad/x"))));
        out.push(err(&fs::exists(dir.join("missing"))));
        out.push(err(&fs::metadata(dir.join("bad/x")).map(|_| ())));
        out.push(err(&fs::read_link(dir.join("bad"))));
        out.push(err(&fs::canonicalize(dir.join("missing"))));
        out.push(err(&fs::remove_dir_all(dir.join("bad"))));
        out.push(err(&fs::remove_dir_all(dir.join("missing"))));
        out
    }

    fn links_metadata_and_canonicalize(dir) -> Vec<String> {
        let mut out = Vec::new();
        let target = dir.join("target");
        fs::write(&target, b"12345").unwrap();
        fs::create_dir(dir.join("d")).unwrap();
        symlink("target", dir.join("link")).unwrap();
        symlink("nowhere", dir.join("dangling")).unwrap();
        symlink("d", dir.join("dlink")).unwrap();
        symlink("loop", dir.join("loop")).unwrap();
        for name in ["link", "dangling", "dlink", "loop"] {
            let p = dir.join(name);
            out.push(err(&fs::metadata(&p).map(|m| (m.len(), m.is_file(), m.is_dir(), m.is_symlink()))));
            out.push(err(&fs::symlink_metadata(&p).map(|m| (m.is_symlink(), m.file_type().is_symlink()))));
            out.push(err(&fs::read_link(&p)));
            out.push(err(&fs::exists(&p)));
            out.push(err(&fs::canonicalize(&p).map(|c| rel(dir, &c))));
        }
        out.push(err(&fs::canonicalize(dir.join("d/../dlink/./")).map(|c| rel(dir, &c))));
        out.push(err(&fs::File::open(dir.join("loop")).map(|_| ())));
        out.push(err(&fs::read_dir(dir.join("dlink")).map(|it| it.count())));
        // Writing through a dangling link creates its target.
        out.push(err(&fs::write(dir.join("dangling"), b"now")));
        out.push(err(&fs::read_to_string(dir.join("nowhere"))));
        // Hard links share the inode and count.
        out.push(err(&fs::hard_link(&target, dir.join("hard"))));
        out.push(err(&fs::hard_link(&target, dir.join("hard"))));
        out.push(err(&fs::metadata(&target).map(|m| std::os::unix::fs::MetadataExt::nlink(&m))));
        out.push(err(&fs::hard_link(dir.join("d"), dir.join("dhard"))));
        out
    }

    fn rename_copy_and_remove_trees(dir) -> Vec<String> {
        let mut out = Vec::new();
        let f = dir.join("f");
        fs::write(&f, b"file").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o751)).unwrap();
        fs::create_dir_all(dir.join("full/inner")).unwrap();
        fs::create_dir(dir.join("empty")).unwrap();
        // copy keeps the permission bits, and refuses directories.
        out.push(err(&fs::copy(&f, dir.join("g"))));
        out.push(format!("{:o}", fs::metadata(dir.join("g")).unwrap().permissions().mode() & 0o7777));
        out.push(err(&fs::copy(&f, dir.join("full"))));
        out.push(err(&fs::copy(dir.join("full"), dir.join("h"))));
        out.push(err(&fs::copy(dir.join("missing"), dir.join("h"))));
        out.push(err(&fs::copy(&f, &f)));
        out.push(err(&fs::read(&f)));
        // rename: file over dir, dir over file, dir over (non)empty dir.
        out.push(err(&fs::rename(&f, dir.join("full"))));
        out.push(err(&fs::rename(dir.join("empty"), &f)));
        out.push(err(&fs::rename(dir.join("empty"), dir.join("full"))));
        out.push(err(&fs::rename(dir.join("full"), dir.join("empty"))));
        out.push(err(&fs::rename(dir.join("empty"), dir.join("empty/inner/x"))));
        out.push(err(&fs::rename(dir.join("missing"), dir.join("x"))));
        out.push(err(&fs::rename(dir.join("g"), &f)));
        out.push(err(&fs::read_to_string(&f)));
        // remove_dir_all over a tree with a symlink out of it: the link
        // goes, its target stays.
        let outside = dir.join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"k").unwrap();
        symlink(&outside, dir.join("empty/inner/to-outside")).unwrap();
        symlink("missing", dir.join("empty/dangling")).unwrap();
        out.push(err(&fs::remove_dir_all(dir.join("empty"))));
        out.push(err(&fs::exists(dir.join("empty"))));
        out.push(err(&fs::read(outside.join("keep"))));
        // remove_dir_all of a symlink to a directory: removes the link.
        symlink(&outside, dir.join("olink")).unwrap();
        out.push(err(&fs::remove_dir_all(dir.join("olink"))));
        out.push(err(&fs::exists(dir.join("olink"))));
        out.push(err(&fs::exists(outside.join("keep"))));
        out
    }

    fn read_dir_contents_and_types(dir) -> Vec<String> {
        let mut out = Vec::new();
        fs::write(dir.join("file"), b"abc").unwrap();
        fs::create_dir(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/x"), b"").unwrap();
        symlink("sub", dir.join("link")).unwrap();
        let mut seen: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let t = e.file_type().unwrap();
                let m = e.metadata().unwrap();
                format!(
                    "{:?} {} {} {} | {} {} {} {:?}",
                    e.file_name(),
                    t.is_file(),
                    t.is_dir(),
                    t.is_symlink(),
                    m.is_file(),
                    m.is_dir(),
                    m.is_symlink(),
                    e.path().strip_prefix(dir).unwrap()
                )
            })
            .collect();
        seen.sort();
        out.extend(seen);
        out.push(err(&fs::read_dir(dir.join("link")).map(|it| it.map(|e| e.unwrap().file_name()).collect::<Vec<_>>())));
        // A relative path is kept as given.
        let r = fs::read_dir(".").unwrap().next().map(|e| e.unwrap().path().starts_with("."));
        out.push(format!("{r:?}"));
        out.push(format!("{:?}", fs::read_dir(dir.join("sub")).unwrap().size_hint().0 <= 1));
        out
    }

    fn bufreader_over_a_file(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        fs::write(&p, b"one\ntwo\nthree").unwrap();
        let f = fs::File::open(&p).unwrap();
        let mut r = BufReader::with_capacity(4, &f);
        let mut line = String::new();
        out.push(err(&r.read_line(&mut line)));
        out.push(line);
        // BufReader's seek accounts for what it buffered.
        out.push(err(&r.stream_position()));
        out.push(err(&(&f).stream_position()));
        out.push(err(&r.seek(SeekFrom::Current(1))));
        let rest: Vec<_> = r.lines().map(|l| l.unwrap()).collect();
        out.push(format!("{rest:?}"));
        // Read::take / bytes / chain on the file.
        let f = fs::File::open(&p).unwrap();
        let mut s = String::new();
        out.push(err(&(&f).take(5).read_to_string(&mut s)));
        out.push(s);
        out.push(format!("{:?}", (&f).bytes().take(3).map(|b| b.unwrap()).collect::<Vec<_>>()));
        let mut v = Vec::new();
        out.push(err(&(&f).chain(&b"!"[..]).read_to_end(&mut v)));
        out.push(format!("{v:?}"));
        out
    }

    fn large_read_and_write(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("big");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut f = fs::File::create(&p).unwrap();
        out.push(err(&f.write(&data).map(|n| n == data.len())));
        out.push(err(&f.stream_position()));
        let mut f = fs::File::open(&p).unwrap();
        let mut buf = vec![0u8; 4_000_000];
        out.push(err(&f.read(&mut buf)));
        out.push(format!("{}", buf[..data.len()] == data[..]));
        out.push(err(&f.read(&mut buf)));
        let mut v = Vec::new();
        out.push(err(&f.seek(SeekFrom::Start(1_000_000))));
        out.push(err(&f.read_to_end(&mut v)));
        out.push(format!("{}", v[..] == data[1_000_000..]));
        out
    }

    fn permissions_and_readonly(dir) -> Vec<String> {
        let mut out = Vec::new();
        let p = dir.join("f");
        fs::write(&p, b"x").unwrap();
        let mut perm = fs::metadata(&p).unwrap().permissions();
        perm.set_readonly(true);
        out.push(err(&fs::set_permissions(&p, perm.clone())));
        out.push(format!("{}", fs::metadata(&p).unwrap().permissions().readonly()));
        out.push(err(&fs::set_permissions(dir.join("missing"), perm)));
        // A file with no execute bit cannot be run (as root too).
        out.push(err(&std::process::Command::new(&p).status().map(|_| ())));
        // set_permissions through a symlink changes the target.
        symlink("f", dir.join("l")).unwrap();
        out.push(err(&fs::set_permissions(dir.join("l"), fs::Permissions::from_mode(0o700))));
        out.push(format!("{:o}", fs::metadata(&p).unwrap().permissions().mode() & 0o777));
        out
    }

    fn locks_across_clones_and_closes(dir) -> Vec<String> {
        fn tl(r: Result<(), std::fs::TryLockError>) -> String {
            match r {
                Ok(()) => "ok".into(),
                Err(std::fs::TryLockError::WouldBlock) => "WouldBlock".into(),
                Err(std::fs::TryLockError::Error(e)) => format!("{:?} {:?}", e.kind(), e.raw_os_error()),
            }
        }
        let mut out = Vec::new();
        let p = dir.join("f");
        fs::write(&p, b"").unwrap();
        let a = fs::File::open(&p).unwrap();
        let b = fs::File::open(&p).unwrap();
        out.push(err(&a.unlock()));
        out.push(err(&a.lock()));
        let c = a.try_clone().unwrap();
        // One open file description, one lock.
        out.push(tl(c.try_lock()));
        out.push(tl(b.try_lock_shared()));
        out.push(err(&c.lock()));
        out.push(err(&a.lock()));
        // Closing one of two fds of the description keeps the lock.
        drop(a);
        out.push(tl(b.try_lock()));
        out.push(err(&c.unlock()));
        out.push(tl(b.try_lock()));
        out.push(tl(c.try_lock_shared()));
        out.push(err(&b.unlock()));
        out.push(tl(c.try_lock_shared()));
        out.push(tl(b.try_lock_shared()));
        out.push(err(&c.unlock()));
        out.push(err(&b.unlock()));
        // A directory can be locked too.
        let d = fs::File::open(dir).unwrap();
        out.push(err(&d.lock()));
        out.push(tl(fs::File::open(dir).unwrap().try_lock()));
        out
    }
}
