//! guv::green::io::stdin and guv::green::fs.

use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// In a child process (this test binary, re-run): read stdin greenly while
/// a ticker greenlet runs, and report both.
#[test]
fn stdin_parks_the_greenlet_not_the_thread() {
    if std::env::var_os("GUV_STDIN_CHILD").is_some() {
        let ticker = guv::spawn(|| {
            let mut ticks = 0u32;
            // Tick until the parent sees our first line and sends input.
            while ticks < 10_000 {
                guv::sleep(Duration::from_millis(1));
                ticks += 1;
                if ticks == 5 {
                    println!("ticking");
                }
            }
            ticks
        });
        let stdin = guv::green::io::stdin();
        let mut first = String::new();
        stdin.read_line(&mut first).unwrap();
        // fd 0 is still blocking: guv never set O_NONBLOCK on it.
        // SAFETY: fcntl(F_GETFL) on fd 0.
        let flags = unsafe { libc::fcntl(0, libc::F_GETFL) };
        let rest: Vec<String> = stdin.lines().map(|l| l.unwrap()).collect();
        let mut tail = Vec::new();
        guv::green::io::stdin().read_to_end(&mut tail).unwrap();
        ticker.kill();
        println!(
            "first={} rest={:?} nonblock={} tail={}",
            first.trim(),
            rest,
            flags & libc::O_NONBLOCK != 0,
            tail.len()
        );
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stdin_parks_the_greenlet_not_the_thread", "--test-threads=1", "--nocapture"])
        .env("GUV_STDIN_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    // Wait until the child's ticker runs while its main greenlet reads.
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        if line.contains("ticking") {
            break;
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\nthree\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    assert!(rest.contains(r#"first=one rest=["two", "three"] nonblock=false tail=0"#), "{rest}");
}

#[test]
fn file_io_runs_on_the_pool_while_greenlets_run() {
    let dir = std::env::temp_dir().join(format!("guv-green-fs-{}", std::process::id()));
    guv::green::fs::create_dir_all(&dir).unwrap();
    // A FIFO: writing it blocks until a reader opens it, and the reader is
    // a greenlet that can only run if the writer's wait parks the greenlet
    // rather than the thread.
    let fifo = dir.join("fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let f2 = fifo.clone();
    let reader = guv::spawn(move || guv::green::fs::read(&f2).unwrap());
    guv::with_timeout(Duration::from_secs(20), || guv::green::fs::write(&fifo, &data).unwrap())
        .expect("the write never met its reader: the hub was blocked");
    assert!(reader.wait().unwrap() == data);

    let path = dir.join("big.bin");
    guv::green::fs::write(&path, &data).unwrap();
    let mut f = guv::green::fs::File::open(&path).unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).unwrap();
    assert!(back == data);
    let mut opts = guv::green::fs::OpenOptions::new();
    let mut g = opts.append(true).open(&path).unwrap();
    g.write_all(b"tail").unwrap();
    assert_eq!(g.metadata().unwrap().len(), 200_004);
    let mut names: Vec<_> = guv::green::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["big.bin", "fifo"]);
    let e = guv::green::fs::File::open(dir.join("missing")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    guv::green::fs::remove_dir_all(&dir).unwrap();
}
