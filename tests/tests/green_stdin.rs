//! guv::green::io::stdin's lock: exclusive like std's, across greenlets and
//! threads, parking (never blocking the hub) while it waits.
//!
//! Each test re-runs this binary as a child whose stdin is a pipe. The
//! child drives the parent through its stdout: `SEND <text>` (with `\n`
//! escaped) makes the parent write `<text>` to the child's stdin, `CLOSE`
//! closes it, and `RESULT <text>` is what the test asserts.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use guv::Event;
use guv::green::io::stdin;

const CHILD: &str = "GUV_STDIN_LOCK_CHILD";

/// Whether this process is the child running `test`.
fn is_child(test: &str) -> bool {
    std::env::var_os(CHILD).is_some_and(|v| v == test)
}

/// Runs `test` in a child process, serving its `SEND`/`CLOSE` requests, and
/// returns its `RESULT` lines. A child that is stuck for a minute (a hub
/// blocked by a reader, a lost wake-up) is killed and fails the test.
fn run_child(test: &str) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(CHILD, test)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut seen, mut results) = (Vec::new(), Vec::new());
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                let line = line.unwrap();
                // The harness's "test <name> ... " has no newline: the
                // child's first line follows it.
                let start = ["SEND ", "CLOSE", "RESULT "].iter().filter_map(|m| line.find(m)).min();
                let cmd = start.map_or("", |i| &line[i..]);
                if let Some(text) = cmd.strip_prefix("SEND ") {
                    let pipe = input.as_mut().expect("SEND after CLOSE");
                    pipe.write_all(text.replace("\\n", "\n").as_bytes()).unwrap();
                } else if cmd == "CLOSE" {
                    input = None;
                } else if let Some(r) = cmd.strip_prefix("RESULT ") {
                    results.push(r.to_owned());
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("the child is stuck; its output so far: {seen:#?}");
            }
        }
    }
    assert!(child.wait().unwrap().success(), "the child failed: {seen:#?}");
    results
}

fn line_of(mut read: impl FnMut(&mut String) -> std::io::Result<usize>) -> String {
    let mut line = String::new();
    read(&mut line).unwrap();
    line.trim_end().to_owned()
}

/// A holds the lock and reads its first line unbuffered, leaving the rest
/// of the input in guv's shared buffer; B asks for a line meanwhile. B
/// parks until A has read its second line and dropped the lock (the main
/// greenlet keeps running meanwhile), and each gets whole lines of its own.
#[test]
fn lock_holders_read_whole_lines_in_turn() {
    const NAME: &str = "lock_holders_read_whole_lines_in_turn";
    if !is_child(NAME) {
        assert_eq!(run_child(NAME), [r#"a=["a1", "a2"] b="b1" b_waited=true"#]);
        return;
    }
    let (a_locked, a_first, go_a) = (Event::new(), Event::new(), Event::new());
    let a = guv::spawn({
        let (a_locked, a_first, go_a) = (a_locked.clone(), a_first.clone(), go_a.clone());
        move || {
            let mut lock = stdin().lock();
            a_locked.set();
            // `read` past the lock's (empty) buffer takes just these bytes.
            let mut first = [0; 3];
            lock.read_exact(&mut first).unwrap();
            a_first.set();
            go_a.wait();
            let first = String::from_utf8(first.to_vec()).unwrap();
            vec![first.trim_end().to_owned(), line_of(|l| lock.read_line(l))]
        }
    });
    a_locked.wait();
    // One write: the helper thread reads all of it into the shared buffer.
    println!("SEND a1\\na2\\nb1\\n");
    println!("CLOSE");
    a_first.wait();
    // "a2\nb1\n" is there for the taking, but A holds the lock.
    let b_waiting = Event::new();
    let b = guv::spawn({
        let b_waiting = b_waiting.clone();
        move || {
            b_waiting.set();
            line_of(|l| stdin().read_line(l))
        }
    });
    b_waiting.wait();
    // B has run to its read_line and parked there (or finished).
    let b_waited = !b.is_finished();
    go_a.set();
    let a = a.wait().unwrap();
    let b = b.wait().unwrap();
    println!("RESULT a={a:?} b={b:?} b_waited={b_waited}");
}

/// While a greenlet holds the lock waiting for input, the main greenlet
/// and a plain OS thread both ask for a line: the main greenlet parks (a
/// ticker greenlet runs and sends the input — it could not if the hub
/// were blocked), the thread waits, and each gets one whole line.
#[test]
fn lock_waiters_park_and_threads_wait_too() {
    const NAME: &str = "lock_waiters_park_and_threads_wait_too";
    if !is_child(NAME) {
        assert_eq!(run_child(NAME), [r#"a="a1" xs=["x1", "x2"] ticks=3"#]);
        return;
    }
    let a_locked = Event::new();
    let a = guv::spawn({
        let a_locked = a_locked.clone();
        move || {
            let mut lock = stdin().lock();
            a_locked.set();
            line_of(|l| lock.read_line(l))
        }
    });
    a_locked.wait();
    // Green stdin is Send + Sync like std's: a plain thread shares the lock.
    let thread = std::thread::spawn(|| line_of(|l| stdin().read_line(l)));
    let main_waiting = Event::new();
    let ticker = guv::spawn({
        let main_waiting = main_waiting.clone();
        move || {
            main_waiting.wait();
            let mut ticks = 0;
            for _ in 0..3 {
                guv::gyield();
                ticks += 1;
            }
            println!("SEND a1\\nx1\\nx2\\n");
            println!("CLOSE");
            ticks
        }
    });
    main_waiting.set();
    let mine = line_of(|l| stdin().read_line(l));
    let ticks = ticker.wait().unwrap();
    let theirs = thread.join().unwrap();
    let mut xs = [mine, theirs];
    xs.sort();
    println!("RESULT a={:?} xs={xs:?} ticks={ticks}", a.wait().unwrap());
}

/// Three greenlets queue for the lock in order B, C, D; C is killed while
/// waiting. B and D then get the next lines in order, and nothing is lost:
/// the rest of the input is still there for the main greenlet.
#[test]
fn killed_lock_waiter_loses_nothing() {
    const NAME: &str = "killed_lock_waiter_loses_nothing";
    if !is_child(NAME) {
        assert_eq!(run_child(NAME), [r#"a="a1" b="b1" d="c1" rest="d1\ne1\n" waited=true killed=true"#]);
        return;
    }
    println!("SEND a1\\nb1\\nc1\\nd1\\ne1\\n");
    println!("CLOSE");
    let (a_locked, go_a) = (Event::new(), Event::new());
    let a = guv::spawn({
        let (a_locked, go_a) = (a_locked.clone(), go_a.clone());
        move || {
            let mut lock = stdin().lock();
            let line = line_of(|l| lock.read_line(l));
            a_locked.set();
            go_a.wait();
            line
        }
    });
    a_locked.wait();
    let waiter = || {
        let queued = Event::new();
        let q = queued.clone();
        let g = guv::spawn(move || {
            q.set();
            line_of(|l| stdin().read_line(l))
        });
        queued.wait();
        g
    };
    let (b, c, d) = (waiter(), waiter(), waiter());
    let waited = !b.is_finished() && !c.is_finished() && !d.is_finished();
    c.kill();
    let killed = c.wait().unwrap_err().is_killed();
    go_a.set();
    let (a, b, d) = (a.wait().unwrap(), b.wait().unwrap(), d.wait().unwrap());
    let mut rest = String::new();
    stdin().read_to_string(&mut rest).unwrap();
    println!("RESULT a={a:?} b={b:?} d={d:?} rest={rest:?} waited={waited} killed={killed}");
}

/// A lock holder killed while it waits for input releases the lock, and
/// the input that arrives afterwards goes to the next reader.
#[test]
fn killed_lock_holder_releases_the_lock() {
    const NAME: &str = "killed_lock_holder_releases_the_lock";
    if !is_child(NAME) {
        assert_eq!(run_child(NAME), [r#"killed=true next="h1" rest="h2\n""#]);
        return;
    }
    let locked = Event::new();
    let holder = guv::spawn({
        let locked = locked.clone();
        move || {
            let mut lock = stdin().lock();
            locked.set();
            line_of(|l| lock.read_line(l))
        }
    });
    locked.wait();
    holder.kill();
    let killed = holder.wait().unwrap_err().is_killed();
    println!("SEND h1\\nh2\\n");
    println!("CLOSE");
    let next = line_of(|l| stdin().lock().read_line(l));
    let mut rest = String::new();
    (&stdin()).read_to_string(&mut rest).unwrap();
    println!("RESULT killed={killed} next={next:?} rest={rest:?}");
}
