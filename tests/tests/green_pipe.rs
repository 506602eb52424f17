//! guv::green::io::pipe against std::io::pipe: the twin bodies run once
//! with `std::io` and OS threads and once with `guv::green::io` and green
//! threads (`guv::green::thread::spawn`), and must observe the same
//! things. Green-only tests below prove a parked end parks only its
//! greenlet, that a killed reader loses nothing, that the ends work as a
//! child's stdin and stdout, and that `#[guv::patched]` swaps them in.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use guv_tests::Log;
use guv_tests::io_kind as kind;

/// Bytes more than a pipe's default buffer (64 KiB) holds many times over.
const LARGE: usize = 4 << 20;

/// The byte at `i` of the large transfer: not periodic in the buffer size.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Whether `fd` is in non-blocking mode, from `/proc/self/fdinfo` (its
/// `flags:` line is octal; `O_NONBLOCK` is 0o4000 on Linux).
fn nonblocking(fd: &impl std::os::fd::AsRawFd) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).expect("a flags line");
    let flags = u32::from_str_radix(flags.trim(), 8).unwrap();
    flags & 0o4000 != 0
}

guv_tests::twins! {
    std: {
        use std::{io, thread};
        use std::io::{IoSlice, IoSliceMut, Read, Write};
        use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
        use super::{LARGE, kind, nonblocking, pattern};
    }
    green: {
        use guv::green::{io, thread};
        use std::io::{IoSlice, IoSliceMut, Read, Write};
        use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
        use super::{LARGE, kind, nonblocking, pattern};
    }
    fn round_trip_and_eof_after_the_writer_drops() -> Vec<String> {
        let mut out = Vec::new();
        let (mut r, mut w) = io::pipe().unwrap();
        w.write_all(b"hello").unwrap();
        let mut buf = [0u8; 16];
        let n = r.read(&mut buf).unwrap();
        out.push(format!("{:?}", std::str::from_utf8(&buf[..n]).unwrap()));
        // A reader waiting on the empty pipe gets the bytes and sees the
        // end once the writer goes.
        let reader = thread::spawn(move || {
            let mut rest = Vec::new();
            let n = r.read_to_end(&mut rest).unwrap();
            (n, rest, r)
        });
        // Let the reader start: a green one then parks on the empty pipe.
        thread::yield_now();
        w.write_all(b" world").unwrap();
        drop(w);
        let (n, rest, mut r) = reader.join().unwrap();
        out.push(format!("{n} {:?}", String::from_utf8(rest).unwrap()));
        out.push(format!("{:?}", r.read(&mut buf).map_err(|e| e.kind())));
        out
    }

    fn broken_pipe_after_the_reader_drops() -> Vec<String> {
        let mut out = Vec::new();
        let (r, mut w) = io::pipe().unwrap();
        drop(r);
        // No SIGPIPE death: Rust programs ignore the signal.
        out.push(kind(&w.write(b"x")));
        out.push(kind(&w.write_all(b"more")));
        // A writer waiting on a full pipe gets the error once the reader
        // goes (the green one is parked when it does).
        let (mut r, w) = io::pipe().unwrap();
        let writer = thread::spawn(move || {
            let mut w = w;
            let big = vec![7u8; LARGE];
            kind(&w.write_all(&big))
        });
        let mut first = [0u8; 10];
        r.read_exact(&mut first).unwrap();
        out.push(format!("{first:?}"));
        drop(r);
        out.push(writer.join().unwrap());
        out
    }

    fn large_transfer_with_reader_and_writer_running_together() -> Vec<String> {
        let mut out = Vec::new();
        let (mut r, mut w) = io::pipe().unwrap();
        let writer = thread::spawn(move || {
            let data: Vec<u8> = (0..LARGE).map(pattern).collect();
            // Odd-sized writes, most larger than the pipe's buffer.
            for chunk in data.chunks(100_003) {
                w.write_all(chunk).unwrap();
            }
            LARGE
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        out.push(format!("{}", writer.join().unwrap()));
        out.push(format!("{}", got.len()));
        let wrong = got.iter().enumerate().filter(|(i, b)| **b != pattern(*i)).count();
        out.push(format!("wrong bytes: {wrong}"));
        out
    }

    /// One `write` (or `write_vectored`) of more than the pipe holds
    /// returns once all of it is in, as std's blocking pipe does, through
    /// `PipeWriter` and `&PipeWriter`.
    fn one_write_returns_once_all_of_it_is_in_the_pipe() -> Vec<String> {
        let mut out = Vec::new();
        let (mut r, mut w) = io::pipe().unwrap();
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            let wrong = got.iter().enumerate().filter(|(i, b)| **b != pattern(*i)).count();
            format!("read {} wrong bytes: {wrong}", got.len())
        });
        let data: Vec<u8> = (0..4 * LARGE).map(pattern).collect();
        out.push(format!("{:?}", w.write(&data[..LARGE]).map_err(|e| e.kind())));
        out.push(format!("{:?}", (&w).write(&data[LARGE..2 * LARGE]).map_err(|e| e.kind())));
        let third = [IoSlice::new(&data[2 * LARGE..2 * LARGE + 10]), IoSlice::new(&data[2 * LARGE + 10..3 * LARGE])];
        out.push(format!("{:?}", w.write_vectored(&third).map_err(|e| e.kind())));
        out.push(format!("{:?}", (&w).write_vectored(&[IoSlice::new(&data[3 * LARGE..])]).map_err(|e| e.kind())));
        drop(w);
        out.push(reader.join().unwrap());
        out
    }

    fn shared_references_vectored_io_and_clones() -> Vec<String> {
        let mut out = Vec::new();
        let (r, w) = io::pipe().unwrap();
        (&w).write_all(b"by ref ").unwrap();
        let n = (&w).write_vectored(&[IoSlice::new(b"vec"), IoSlice::new(b"tored")]).unwrap();
        out.push(format!("{n}"));
        (&w).flush().unwrap();
        let w2 = w.try_clone().unwrap();
        drop(w);
        (&w2).write_all(b" clone").unwrap();
        let (mut a, mut b) = ([0u8; 7], [0u8; 8]);
        let n = (&r).read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)]).unwrap();
        out.push(format!("{n} {:?} {:?}", String::from_utf8_lossy(&a), String::from_utf8_lossy(&b)));
        let r2 = r.try_clone().unwrap();
        let mut rest = String::new();
        // Both readers are open, one writer is: the end comes when it goes.
        let reader = thread::spawn(move || {
            let n = (&r2).read_to_string(&mut rest).unwrap();
            (n, rest)
        });
        drop(w2);
        let (n, rest) = reader.join().unwrap();
        out.push(format!("{n} {rest:?}"));
        out.push(format!("{:?}", (&r).read(&mut a).map_err(|e| e.kind())));
        out.push(format!("{}", format!("{r:?}").starts_with("PipeReader")));
        out
    }

    fn fd_conversions_are_blocking_for_std() -> Vec<String> {
        let mut out = Vec::new();
        let (r, w) = io::pipe().unwrap();
        out.push(format!("{}", r.as_raw_fd() == r.as_fd().as_raw_fd()));
        let r = OwnedFd::from(r);
        out.push(format!("reader blocking: {}", !nonblocking(&r)));
        let raw = w.into_raw_fd();
        // SAFETY: `raw` came from `into_raw_fd`; nothing else owns it.
        let w = unsafe { OwnedFd::from_raw_fd(raw) };
        out.push(format!("writer blocking: {}", !nonblocking(&w)));
        // Back again, through raw fds and `From<OwnedFd>`.
        // SAFETY: as above.
        let mut w = unsafe { io::PipeWriter::from_raw_fd(w.into_raw_fd()) };
        let mut r = io::PipeReader::from(r);
        w.write_all(b"again").unwrap();
        drop(w);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        out.push(s);
        out
    }
}

/// Runs `f` on a fresh OS thread and fails the test if it does not end in
/// time: a read that blocked the thread instead of parking would hang.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    let v = rx.recv_timeout(Duration::from_secs(60)).expect("the green run hung (or panicked)");
    t.join().unwrap();
    v
}

#[test]
fn other_greenlets_run_while_a_reader_is_parked() {
    let events = within_a_minute(|| {
        let log = Log::new();
        let (mut r, w) = guv::green::io::pipe().unwrap();
        let l = log.clone();
        let reader = guv::spawn(move || {
            l.push("reader waits");
            let mut buf = [0u8; 8];
            let n = r.read(&mut buf).unwrap();
            l.push(format!("reader got {:?}", String::from_utf8_lossy(&buf[..n])));
        });
        let l = log.clone();
        let other = guv::spawn(move || {
            // Runs only because the reader parked its greenlet, not the thread.
            l.push("other runs");
            (&w).write_all(b"ping").unwrap();
            l.push("other wrote");
            w
        });
        let _w = other.wait().unwrap();
        reader.wait().unwrap();
        assert_eq!(guv::hub::stats().io_waiters, 0);
        log.take()
    });
    assert_eq!(events, ["reader waits", "other runs", "other wrote", "reader got \"ping\""]);
}

#[test]
fn a_killed_reader_loses_nothing() {
    let (first, second) = within_a_minute(|| {
        let (r, mut w) = guv::green::io::pipe().unwrap();
        let r = std::rc::Rc::new(r);
        let parked = guv::Event::new();
        let (r2, p2) = (r.clone(), parked.clone());
        let victim = guv::spawn(move || {
            let mut buf = [0u8; 64];
            p2.set();
            // Parks: nothing was written yet.
            let n = (&*r2).read(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        parked.wait();
        victim.kill();
        let first = victim.wait().map_err(|e| e.is_killed());
        w.write_all(b"nothing lost").unwrap();
        drop(w);
        let mut got = String::new();
        let r3 = r.clone();
        let next = guv::spawn(move || (&*r3).read_to_string(&mut got).map(|_| got).unwrap());
        (first, next.wait().unwrap())
    });
    assert_eq!(first, Err(true));
    assert_eq!(second, "nothing lost");
}

/// What a child saw and did, fed through `stdin` and read through `stdout`.
struct CatRun {
    /// The child's stdin and stdout were in blocking mode (it reads its
    /// own `/proc/PID/fdinfo`).
    blocking: [bool; 2],
    echoed: String,
    success: bool,
}

/// Runs a shell that reports the mode of its stdin and stdout and then
/// becomes `cat`, feeding it through `stdin` and reading it back through
/// `stdout`. The second line is written only after the first came back,
/// so that `cat` waits on an empty stdin in between (a non-blocking one
/// would make it fail with `EAGAIN`).
fn cat_through(
    stdin: impl Into<guv::green::process::Stdio>,
    mut feed: guv::green::io::PipeWriter,
    stdout: impl Into<guv::green::process::Stdio>,
    from_child: guv::green::io::PipeReader,
) -> CatRun {
    use std::io::BufRead;
    let script = "grep -h '^flags:' /proc/$$/fdinfo/0 /proc/$$/fdinfo/1; exec cat";
    let mut child =
        guv::green::process::Command::new("sh").arg("-c").arg(script).stdin(stdin).stdout(stdout).spawn().unwrap();
    let mut from_child = std::io::BufReader::new(from_child);
    let mut blocking = [false; 2];
    for b in &mut blocking {
        let mut line = String::new();
        from_child.read_line(&mut line).unwrap();
        let flags = line.strip_prefix("flags:").unwrap_or_else(|| panic!("not a flags line: {line:?}"));
        *b = u32::from_str_radix(flags.trim(), 8).unwrap() & 0o4000 == 0;
    }
    if blocking != [true, true] {
        // `cat` fails on its first read; report the mode rather than hang.
        let _ = child.kill();
        let _ = child.wait();
        return CatRun { blocking, echoed: String::new(), success: false };
    }
    feed.write_all(b"one\n").unwrap();
    let mut echoed = String::new();
    from_child.read_line(&mut echoed).unwrap();
    feed.write_all(b"two\n").unwrap();
    drop(feed);
    from_child.read_line(&mut echoed).unwrap();
    let success = child.wait().unwrap().success();
    CatRun { blocking, echoed, success }
}

#[test]
fn pipe_ends_as_a_childs_stdin_and_stdout() {
    let run = within_a_minute(|| {
        let (child_in, feed) = guv::green::io::pipe().unwrap();
        let (from_child, child_out) = guv::green::io::pipe().unwrap();
        let run = cat_through(child_in, feed, child_out, from_child.try_clone().unwrap());
        // The temporary Command (holding the child's ends) went after the
        // spawn, so with `cat` gone the reader sees the end.
        let mut rest = Vec::new();
        assert_eq!((&from_child).read_to_end(&mut rest).unwrap(), 0);
        run
    });
    assert_eq!(run.blocking, [true, true], "the child's stdin and stdout must be blocking");
    assert_eq!(run.echoed, "one\ntwo\n");
    assert!(run.success, "cat failed");
}

#[test]
fn a_child_gets_a_blocking_end_while_a_green_clone_stays_non_blocking() {
    let (run, clones_nonblocking) = within_a_minute(|| {
        let (child_in, feed) = guv::green::io::pipe().unwrap();
        let (from_child, child_out) = guv::green::io::pipe().unwrap();
        let kept_in = child_in.try_clone().unwrap();
        let kept_out = child_out.try_clone().unwrap();
        let run = cat_through(child_in, feed, child_out, from_child.try_clone().unwrap());
        // The clones are still green (non-blocking), and the last writer
        // going ends the stream.
        let nb = nonblocking(&kept_in) && nonblocking(&kept_out);
        drop(kept_out);
        let mut rest = Vec::new();
        assert_eq!((&from_child).read_to_end(&mut rest).unwrap(), 0);
        (run, nb)
    });
    assert_eq!(run.blocking, [true, true], "the child's stdin and stdout must be blocking");
    assert_eq!(run.echoed, "one\ntwo\n");
    assert!(run.success, "cat failed");
    assert!(clones_nonblocking, "the green clones lost O_NONBLOCK");
}

#[test]
fn std_and_green_ends_convert_into_each_other() {
    let got = within_a_minute(|| {
        let (r, w) = std::io::pipe().unwrap();
        let mut r = guv::green::io::PipeReader::from(r);
        let mut w = std::io::PipeWriter::from(guv::green::io::PipeWriter::from(w));
        assert!(!nonblocking(&w));
        let feeder = guv::spawn(move || {
            let (mut r2, mut w2) = guv::green::io::pipe().unwrap();
            w2.write_all(b"via green").unwrap();
            drop(w2);
            let mut s = Vec::new();
            r2.read_to_end(&mut s).unwrap();
            // A blocking std write of a few bytes into an empty pipe.
            w.write_all(&s).unwrap();
        });
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        feeder.wait().unwrap();
        s
    });
    assert_eq!(got, "via green");
}

mod patched {
    use std::io::{Read, Write};

    #[guv::patched]
    fn take(r: std::io::PipeReader, w: std::io::PipeWriter) -> (&'static str, &'static str) {
        drop((r, w));
        (std::any::type_name::<std::io::PipeReader>(), std::any::type_name::<std::io::PipeWriter>())
    }

    /// Patched code that reads a pipe a patched thread (a greenlet)
    /// writes: the read parks, so the writer runs on the same OS thread.
    #[guv::patched]
    fn relay() -> String {
        let (mut r, w) = std::io::pipe().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let l = log.clone();
        let writer = std::thread::spawn(move || {
            l.lock().unwrap().push("writer runs");
            let mut w = w;
            w.write_all(b"relayed").unwrap();
        });
        log.lock().unwrap().push("reader waits");
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        writer.join().unwrap();
        let events = log.lock().unwrap().join(", ");
        format!("{s}: {events}")
    }

    /// Patched code handing pipe ends to a patched (green) `Command`.
    #[guv::patched]
    fn through_cat() -> (String, bool) {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<std::io::PipeReader>();
        send_sync::<std::io::PipeWriter>();
        let (r, mut w) = std::io::pipe().unwrap();
        let (mut from_cat, to_us) = std::io::pipe().unwrap();
        let mut child = std::process::Command::new("cat").stdin(r).stdout(to_us).spawn().unwrap();
        w.write_all(b"patched child").unwrap();
        drop(w);
        let mut s = String::new();
        from_cat.read_to_string(&mut s).unwrap();
        (s, child.wait().unwrap().success())
    }

    #[test]
    fn patched_code_uses_the_green_pipe() {
        let (r, w) = guv::green::io::pipe().unwrap();
        let (rn, wn) = take(r, w);
        assert!(rn.starts_with("guv::green::") && rn.ends_with("::PipeReader"), "{rn}");
        assert!(wn.starts_with("guv::green::") && wn.ends_with("::PipeWriter"), "{wn}");
        let got = super::within_a_minute(relay);
        assert_eq!(got, "relayed: reader waits, writer runs");
        assert_eq!(super::within_a_minute(through_cat), ("patched child".to_string(), true));
    }
}
