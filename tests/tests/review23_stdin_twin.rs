//! Review 23: guv::green::io::stdin against std::io::stdin, as twins. Each
//! body runs in a child process (this test binary, re-run) whose standard
//! input is a pipe holding the case's input, once reading with std's
//! `stdin` on its main thread and once with guv's in a greenlet; both
//! children must report the same values and error kinds.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

const ROLE: &str = "GUV_R23_STDIN_SIDE";

/// Runs `test` in a child on `side` ("std" or "green") with `input` on
/// its stdin, and returns the lines it reported. `via` is "pipe" (the
/// input written all at once, then the pipe closed) or "file" (a regular
/// file holding the input).
fn run_side(test: &str, side: &str, via: &str, input: &'static [u8]) -> Vec<String> {
    let dir = guv_tests::fs::TempDir::new("review23-stdin", test);
    let stdin_cfg = match via {
        "pipe" => Stdio::piped(),
        "file" => {
            std::fs::write(dir.path().join("input"), input).unwrap();
            Stdio::from(std::fs::File::open(dir.path().join("input")).unwrap())
        }
        _ => panic!("input via {via}?"),
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(ROLE, side)
        .stdin(stdin_cfg)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        // The child may stop reading early (and exit): a broken pipe then
        // is no error of the test's.
        let _ = stdin.map(|mut pipe| pipe.write_all(input));
    });
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success(), "the {side} child failed: {out}");
    // The harness prints "test <name> ... " with no newline before the
    // child's first line.
    out.lines().filter_map(|l| l.find("R23 ").map(|i| l[i + 4..].to_owned())).collect()
}

macro_rules! stdin_twin {
    ($(fn $name:ident($out:ident, $via:ident = $input:expr) $body:block)*) => {
        #[allow(unused_imports, unused_mut, clippy::all)]
        mod on_std {
            use std::io::{stdin, BufRead, IoSliceMut, Read};
            use super::err;
            $(pub fn $name($out: &mut Vec<String>) $body)*
        }
        #[allow(unused_imports, unused_mut, clippy::all)]
        mod on_green {
            use guv::green::io::{stdin, BufRead, IoSliceMut, Read};
            use super::err;
            $(pub fn $name($out: &mut Vec<String>) $body)*
        }
        $(
            #[test]
            fn $name() {
                match std::env::var(ROLE).as_deref() {
                    Ok("std") => report({ let mut out = Vec::new(); on_std::$name(&mut out); out }),
                    Ok("green") => report(guv::spawn(|| { let mut out = Vec::new(); on_green::$name(&mut out); out }).wait().unwrap()),
                    _ => {
                        let std_side = run_side(stringify!($name), "std", stringify!($via), $input);
                        let green_side = run_side(stringify!($name), "green", stringify!($via), $input);
                        assert!(!std_side.is_empty());
                        assert_eq!(std_side, green_side, "std (left) and green (right) differ");
                    }
                }
            }
        )*
    };
}

/// Prints a child's observations for the parent, one per line.
fn report(out: Vec<String>) {
    for line in out {
        println!("R23 {line}");
    }
}

/// A result as compared (`guv_tests::io_result`).
use guv_tests::io_result as err;

stdin_twin! {
    fn lines_reads_and_the_end(out, pipe = b"first\nsecond\r\nbad \xff line\nabcdefghijkl\nlast line\nno newline") {
        let mut s = String::new();
        out.push(err(&stdin().read_line(&mut s)));
        out.push(format!("{s:?}"));
        let mut lock = stdin().lock();
        let mut v = Vec::new();
        out.push(err(&lock.read_until(b'\r', &mut v)));
        out.push(format!("{v:?}"));
        let mut s = String::new();
        out.push(err(&lock.read_line(&mut s)));
        out.push(format!("{s:?}"));
        drop(lock);
        // Invalid UTF-8: InvalidData, the line consumed, `s` unchanged.
        let mut s = String::from("keep");
        out.push(err(&stdin().read_line(&mut s)));
        out.push(format!("{s:?}"));
        let mut b = [0u8; 3];
        out.push(err(&stdin().read(&mut b)));
        out.push(format!("{b:?}"));
        let (mut x, mut y) = ([0u8; 2], [0u8; 3]);
        let n = stdin().read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)]);
        out.push(format!("{} {x:?} {y:?}", err(&n)));
        let mut z = [0u8; 2];
        out.push(err(&stdin().read_exact(&mut z)));
        out.push(format!("{z:?}"));
        out.push(format!("{:?}", stdin().lines().next().map(|l| l.map_err(|e| e.kind()))));
        let mut rest = String::new();
        out.push(err(&stdin().read_to_string(&mut rest)));
        out.push(format!("{rest:?}"));
        // At the end, and again.
        let mut s = String::new();
        out.push(err(&stdin().read_line(&mut s)));
        out.push(err(&stdin().read_exact(&mut z)));
        out.push(err(&stdin().read(&mut z)));
        out.push(err(&stdin().read_to_end(&mut Vec::new())));
        out.push(format!("{:?}", stdin().lines().count()));
    }

    fn empty_input(out, pipe = b"") {
        let mut v = vec![1u8];
        out.push(err(&stdin().read_to_end(&mut v)));
        out.push(format!("{v:?}"));
        let mut s = String::from("x");
        out.push(err(&stdin().read_line(&mut s)));
        out.push(s);
        out.push(err(&stdin().lock().fill_buf().map(|b| b.len())));
        out.push(format!("{}", stdin().lines().count()));
        out.push(err(&stdin().read(&mut [])));
    }

    fn many_lines(out, pipe = include_str!("review23_stdin_twin.rs").as_bytes()) {
        let mut lock = stdin().lock();
        let mut first = String::new();
        out.push(err(&lock.read_line(&mut first)));
        out.push(first);
        let mut skipped = Vec::new();
        out.push(err(&lock.read_until(b'{', &mut skipped)));
        drop(lock);
        let lines: Vec<String> = stdin().lines().map(|l| l.unwrap()).collect();
        out.push(format!("{} {:?}", lines.len(), lines.last()));
    }

    fn split_and_bytes(out, pipe = b"a,b,,c\n12345") {
        let parts: Vec<_> = stdin().lock().split(b',').take(3).map(|p| p.unwrap()).collect();
        out.push(format!("{parts:?}"));
        let bytes: Vec<_> = stdin().bytes().take(4).map(|b| b.unwrap()).collect();
        out.push(format!("{bytes:?}"));
        let mut s = String::new();
        out.push(err(&stdin().take(2).read_to_string(&mut s)));
        out.push(s);
        let mut lock = stdin().lock();
        out.push(err(&lock.fill_buf().map(|b| b.to_vec())));
        lock.consume(1);
        let mut s = String::new();
        out.push(err(&lock.read_to_string(&mut s)));
        out.push(s);
    }

    fn a_directory_as_stdin(out, pipe = b"unread") {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open("/").unwrap();
        // SAFETY: both fds are open; fd 0 now names the directory.
        assert_eq!(unsafe { libc::dup2(dir.as_raw_fd(), 0) }, 0);
        let mut s = String::new();
        out.push(err(&stdin().read_line(&mut s)));
        out.push(err(&stdin().read_line(&mut s)));
        out.push(err(&stdin().read(&mut [0u8; 4])));
        let mut v = Vec::new();
        out.push(err(&stdin().read_to_end(&mut v)));
        out.push(format!("{:?}", stdin().lines().next().map(|l| l.map_err(|e| e.kind()))));
    }

    fn a_closed_stdin(out, pipe = b"unread") {
        // SAFETY: fd 0 is open and nothing else uses it.
        assert_eq!(unsafe { libc::close(0) }, 0);
        let mut s = String::new();
        out.push(err(&stdin().read_line(&mut s)));
        out.push(err(&stdin().read(&mut [0u8; 4])));
        out.push(err(&stdin().read_to_end(&mut Vec::new())));
        out.push(format!("{}", stdin().lines().count()));
    }

    fn large_reads_from_a_file_consume_as_std(out, file = &[b'z'; 100_000]) {
        use std::os::fd::AsRawFd;
        // How far a read moves fd 0's offset shows in what a child given
        // the same stdin (or the shell after the program) reads next.
        let at = || {
            // SAFETY: lseek on fd 0, which is open.
            unsafe { libc::lseek(0, 0, libc::SEEK_CUR) }
        };
        let mut big = vec![0u8; 40_000];
        out.push(err(&stdin().read(&mut big)));
        out.push(format!("offset {}", at()));
        let mut small = [0u8; 10];
        out.push(err(&stdin().read(&mut small)));
        out.push(format!("offset {}", at()));
        out.push(err(&stdin().lock().fill_buf().map(|b| b.len())));
        out.push(format!("offset {}", at()));
        let mut s = String::new();
        out.push(err(&stdin().read_line(&mut s)));
        out.push(format!("offset {}", at()));
        let _ = stdin().as_raw_fd();
    }

    // Left 14: a read into an empty buffer, from a file (where fd 0's
    // offset shows what was read from it) and from an empty pipe.
    fn a_read_into_an_empty_buffer(out, file = b"abcdef\nrest of it") {
        let at = || {
            let info = std::fs::read_to_string("/proc/self/fdinfo/0").unwrap();
            info.lines().find(|l| l.starts_with("pos:")).unwrap().to_owned()
        };
        out.push(err(&stdin().read(&mut [])));
        out.push(at());
        let mut b = [0u8; 3];
        out.push(err(&stdin().read(&mut b)));
        out.push(format!("{b:?}"));
        out.push(err(&stdin().read(&mut [])));
        out.push(err(&stdin().read_vectored(&mut [IoSliceMut::new(&mut [])])));
        out.push(at());
        let mut rest = String::new();
        out.push(err(&stdin().read_to_string(&mut rest)));
        out.push(rest);
        out.push(err(&stdin().read(&mut [])));
        out.push(at());
    }

    fn a_vectored_read_into_no_room(out, file = b"abcdef\nrest of it") {
        let at = || {
            let info = std::fs::read_to_string("/proc/self/fdinfo/0").unwrap();
            info.lines().find(|l| l.starts_with("pos:")).unwrap().to_owned()
        };
        out.push(err(&stdin().read_vectored(&mut [IoSliceMut::new(&mut []), IoSliceMut::new(&mut [])])));
        out.push(at());
        let mut s = String::new();
        out.push(err(&stdin().read_line(&mut s)));
        out.push(format!("{s:?}"));
    }

    fn a_read_into_an_empty_buffer_at_the_end(out, pipe = b"") {
        out.push(err(&stdin().read(&mut [])));
        out.push(err(&stdin().read(&mut [0u8; 2])));
        out.push(err(&stdin().read(&mut [])));
    }
}
