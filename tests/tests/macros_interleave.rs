//! Proof that patching is complete. `blocking` below is ordinary std code
//! — sockets, pipes, locks, channels, sleeps, child processes, FIFOs,
//! stdin — with `#[guv::patched]` on it. In every scenario two threads
//! (greenlets, once patched) must take turns: each blocking call waits for
//! something only the other thread can do. Had any call been left as
//! std's, it would block the one OS thread they share and the other could
//! never act: the test would deadlock (and fail at its timeout) or log its
//! events serialized instead of interleaved. Each scenario also checks that
//! everything ran on that one OS thread.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[guv::patched]
mod blocking {
    use std::fs::{File, OpenOptions};
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::os::unix::net::UnixStream;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock};
    use std::thread;
    use std::time::Duration;

    /// The OS thread running the caller, unpatched.
    pub type OsThread = guv::original!(std::thread::ThreadId);

    /// What happened, in order, and on which OS thread.
    #[derive(Clone, Default)]
    pub struct Log(Arc<Mutex<Vec<(String, OsThread)>>>);

    impl Log {
        pub fn note(&self, event: impl Into<String>) {
            let os = guv::original!(std::thread::current)().id();
            self.0.lock().unwrap().push((event.into(), os));
        }

        pub fn events(&self) -> Vec<String> {
            self.0.lock().unwrap().iter().map(|(e, _)| e.clone()).collect()
        }

        pub fn os_threads(&self) -> Vec<OsThread> {
            self.0.lock().unwrap().iter().map(|(_, t)| *t).collect()
        }
    }

    /// Two threads exchange numbers over TCP: each read waits for the
    /// other's write.
    pub fn tcp(log: &Log, rounds: u32) -> io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server_log = log.clone();
        let server = thread::spawn(move || -> io::Result<()> {
            let (stream, _) = listener.accept()?;
            let mut out = stream.try_clone()?;
            for line in BufReader::new(stream).lines() {
                let n: u32 = line?.parse().unwrap();
                server_log.note(format!("server got {n}"));
                writeln!(out, "{}", n + 100)?;
            }
            Ok(())
        });
        let mut stream = TcpStream::connect(addr)?;
        let mut reader = BufReader::new(stream.try_clone()?);
        for n in 0..rounds {
            log.note(format!("client sent {n}"));
            writeln!(stream, "{n}")?;
            let mut reply = String::new();
            reader.read_line(&mut reply)?;
            log.note(format!("client got {}", reply.trim()));
        }
        drop((stream, reader));
        server.join().unwrap()
    }

    /// The same over UDP and a Unix socket pair.
    pub fn udp_and_unix(log: &Log) -> io::Result<()> {
        let a = UdpSocket::bind("127.0.0.1:0")?;
        let b = UdpSocket::bind("127.0.0.1:0")?;
        a.connect(b.local_addr()?)?;
        b.connect(a.local_addr()?)?;
        let (ua, mut ub) = UnixStream::pair()?;
        let peer_log = log.clone();
        let peer = thread::spawn(move || -> io::Result<()> {
            let mut buf = [0; 16];
            let n = b.recv(&mut buf)?;
            peer_log.note(format!("udp got {}", String::from_utf8_lossy(&buf[..n])));
            ub.write_all(b"unix")?;
            Ok(())
        });
        let mut ua = ua;
        log.note("udp send");
        a.send(b"udp")?;
        let mut buf = [0; 4];
        ua.read_exact(&mut buf)?;
        log.note(format!("unix got {}", String::from_utf8_lossy(&buf)));
        peer.join().unwrap()
    }

    /// Strict turns under a `Mutex` and a `Condvar`.
    pub fn condvar_turns(log: &Log, rounds: u32) {
        let turn = Arc::new((Mutex::new(0u32), Condvar::new()));
        let spawn_player = |me: u32| {
            let (turn, log) = (turn.clone(), log.clone());
            thread::spawn(move || {
                let (lock, cv) = &*turn;
                for round in 0..rounds {
                    let mut t = lock.lock().unwrap();
                    while *t % 2 != me {
                        t = cv.wait(t).unwrap();
                    }
                    log.note(format!("{} {round}", ["a", "b"][me as usize]));
                    *t += 1;
                    cv.notify_all();
                }
            })
        };
        let (a, b) = (spawn_player(0), spawn_player(1));
        a.join().unwrap();
        b.join().unwrap();
    }

    /// A relay over two channels, a rendezvous channel, a barrier, a
    /// read-write lock and park/unpark.
    pub fn channels_barrier_rwlock_park(log: &Log) {
        let (to_b, from_a) = mpsc::channel::<u32>();
        let (to_a, from_b) = mpsc::sync_channel::<u32>(0);
        let barrier = Arc::new(Barrier::new(2));
        let lock = Arc::new(RwLock::new(0));
        let main = thread::current();
        let (b_log, b_barrier, b_lock) = (log.clone(), barrier.clone(), lock.clone());
        let b = thread::spawn(move || {
            for n in from_a.iter().take(2) {
                b_log.note(format!("b got {n}"));
                to_a.send(n + 1).unwrap();
            }
            b_log.note("b at barrier");
            b_barrier.wait();
            b_log.note("b past barrier");
            let guard = b_lock.write().unwrap();
            b_log.note("b writes");
            main.unpark();
            thread::sleep(Duration::from_millis(20));
            drop(guard);
        });
        for n in [10, 20] {
            log.note(format!("a sends {n}"));
            to_b.send(n).unwrap();
            let back = from_b.recv().unwrap();
            log.note(format!("a got {back}"));
        }
        barrier.wait();
        log.note("a past barrier");
        thread::park();
        let value = *lock.read().unwrap();
        log.note(format!("a reads {value}"));
        b.join().unwrap();
    }

    /// Two sleepers: interleaved, not one after the other.
    pub fn sleepers(log: &Log, rounds: u32) {
        let spawn_sleeper = |name: &'static str| {
            let log = log.clone();
            thread::spawn(move || {
                for round in 0..rounds {
                    thread::sleep(Duration::from_millis(30));
                    log.note(format!("{name} {round}"));
                }
            })
        };
        let (a, b) = (spawn_sleeper("a"), spawn_sleeper("b"));
        a.join().unwrap();
        b.join().unwrap();
    }

    /// One thread reads what `cat` echoes while the other feeds it; then
    /// one waits for a child while the other keeps going.
    pub fn child_processes(log: &Log, rounds: u32) -> io::Result<()> {
        let mut cat = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let mut stdin = cat.stdin.take().unwrap();
        let stdout = cat.stdout.take().unwrap();
        let (ack_tx, ack_rx) = mpsc::channel::<()>();
        let reader_log = log.clone();
        let reader = thread::spawn(move || -> io::Result<()> {
            let mut lines = BufReader::new(stdout).lines();
            for _ in 0..rounds {
                let line = lines.next().unwrap()?;
                reader_log.note(format!("read {line}"));
                ack_tx.send(()).unwrap();
            }
            Ok(())
        });
        for n in 0..rounds {
            log.note(format!("write {n}"));
            writeln!(stdin, "{n}")?;
            ack_rx.recv().unwrap();
        }
        drop(stdin);
        reader.join().unwrap()?;
        cat.wait()?;

        // The child waits for a file that the ticker creates on its third
        // tick, which it can only reach while `status` parks: the order is
        // the protocol's, whatever the machine's speed.
        let flag = std::env::temp_dir().join(format!("guv-interleave-ticks-{}", std::process::id()));
        let _ = std::fs::remove_file(&flag);
        let ticks = Arc::new(Mutex::new(0u32));
        let (tick_count, done) = (ticks.clone(), Arc::new(Mutex::new(false)));
        let (done2, flag2) = (done.clone(), flag.clone());
        let ticker = thread::spawn(move || {
            while !*done2.lock().unwrap() {
                let mut n = tick_count.lock().unwrap();
                *n += 1;
                if *n == 3 {
                    File::create(&flag2).unwrap();
                }
                drop(n);
                thread::sleep(Duration::from_millis(10));
            }
        });
        let script = r#"while [ ! -e "$1" ]; do sleep 0.01; done"#;
        let status = Command::new("sh").arg("-c").arg(script).arg("sh").arg(&flag).status()?;
        let ticked = *ticks.lock().unwrap();
        log.note(format!("child exited: {} after {} ticks", status.success(), ticked.min(3)));
        *done.lock().unwrap() = true;
        ticker.join().unwrap();
        std::fs::remove_file(&flag)
    }

    /// A FIFO: opening it for reading blocks until a writer opens it, so
    /// the reader and the writer must both be parked, not blocking.
    pub fn fifo(log: &Log, dir: &std::path::Path) -> io::Result<()> {
        let fifo = dir.join("fifo");
        let made = Command::new("mkfifo").arg(&fifo).status()?;
        assert!(made.success(), "mkfifo failed");
        let reader_path = fifo.clone();
        let reader_log = log.clone();
        let reader = thread::spawn(move || -> io::Result<String> {
            reader_log.note("reader opens");
            let mut f = File::open(&reader_path)?;
            let mut s = String::new();
            f.read_to_string(&mut s)?;
            reader_log.note("reader done");
            Ok(s)
        });
        thread::sleep(Duration::from_millis(20));
        log.note("writer opens");
        let mut w = OpenOptions::new().write(true).open(&fifo)?;
        w.write_all(b"through the fifo")?;
        drop(w);
        let got = reader.join().unwrap()?;
        log.note(got);
        std::fs::remove_file(&fifo)
    }

    /// The child side of `stdin_parks`: one thread waits for a line on
    /// stdin while the other announces that it could still run.
    pub fn stdin_child() -> io::Result<()> {
        let reader = thread::spawn(|| -> io::Result<String> {
            let mut line = String::new();
            io::stdin().read_line(&mut line)?;
            Ok(line)
        });
        let announcer = thread::spawn(|| {
            let mut out = io::stdout();
            writeln!(out, "child: still running while stdin waits").unwrap();
            out.flush().unwrap();
        });
        announcer.join().unwrap();
        let line = reader.join().unwrap()?;
        println!("child: read {}", line.trim());
        Ok(())
    }
}

use blocking::Log;

/// Every event was logged on the test's own OS thread.
fn one_os_thread(log: &Log) {
    let seen = log.os_threads();
    assert!(!seen.is_empty());
    let me = std::thread::current().id();
    assert!(seen.iter().all(|t| *t == me), "{seen:?}");
}

#[guv::test(timeout = "30s")]
fn tcp_peers_take_turns() {
    let log = Log::default();
    blocking::tcp(&log, 3).unwrap();
    assert_eq!(
        log.events(),
        [
            "client sent 0",
            "server got 0",
            "client got 100",
            "client sent 1",
            "server got 1",
            "client got 101",
            "client sent 2",
            "server got 2",
            "client got 102",
        ]
    );
    one_os_thread(&log);
}

#[guv::test(timeout = "30s")]
fn udp_and_unix_sockets_park() {
    let log = Log::default();
    blocking::udp_and_unix(&log).unwrap();
    assert_eq!(log.events(), ["udp send", "udp got udp", "unix got unix"]);
    one_os_thread(&log);
}

#[guv::test(timeout = "30s")]
fn mutex_and_condvar_alternate() {
    let log = Log::default();
    blocking::condvar_turns(&log, 3);
    assert_eq!(log.events(), ["a 0", "b 0", "a 1", "b 1", "a 2", "b 2"]);
    one_os_thread(&log);
}

#[guv::test(timeout = "30s")]
fn channels_barrier_rwlock_and_park_hand_over() {
    let log = Log::default();
    blocking::channels_barrier_rwlock_park(&log);
    let events = log.events();
    assert_eq!(events[..6], ["a sends 10", "b got 10", "a got 11", "a sends 20", "b got 20", "a got 21"]);
    let pos = |e: &str| events.iter().position(|x| x == e).unwrap();
    // Nobody passes the barrier before both reached it; `a` parks until
    // `b` unparks it, and reads only once `b` dropped its write lock.
    assert!(pos("b at barrier") < pos("a past barrier"), "{events:?}");
    assert!(pos("b writes") < pos("a reads 0"), "{events:?}");
    assert_eq!(events.last().unwrap(), "a reads 0");
    one_os_thread(&log);
}

#[guv::test(timeout = "30s")]
fn sleeps_overlap() {
    let log = Log::default();
    blocking::sleepers(&log, 3);
    let events = log.events();
    let pos = |e: &str| events.iter().position(|x| x == e).unwrap();
    // Serialized sleeps would log all of a's rounds before b's first.
    assert!(pos("b 0") < pos("a 2"), "{events:?}");
    assert!(pos("a 0") < pos("b 2"), "{events:?}");
    one_os_thread(&log);
}

#[guv::test(timeout = "30s")]
fn child_process_pipes_and_waits_park() {
    let log = Log::default();
    blocking::child_processes(&log, 3).unwrap();
    assert_eq!(
        log.events(),
        ["write 0", "read 0", "write 1", "read 1", "write 2", "read 2", "child exited: true after 3 ticks",]
    );
    one_os_thread(&log);
}

#[guv::test(timeout = "30s")]
fn fifo_opens_park() {
    let dir = std::env::temp_dir().join(format!("guv-interleave-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = Log::default();
    let result = blocking::fifo(&log, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap();
    assert_eq!(log.events(), ["reader opens", "writer opens", "reader done", "through the fifo"]);
    one_os_thread(&log);
}

/// Runs only as the child of `stdin_parks`.
#[test]
fn stdin_child_helper() {
    if std::env::var_os("GUV_STDIN_CHILD").is_some() {
        blocking::stdin_child().unwrap();
    }
}

#[test]
fn stdin_parks() {
    // A copy of this test binary runs `stdin_child`, whose reader thread
    // waits on stdin; its other thread can only print while the reader is
    // parked, and this side writes the line only after seeing that print.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stdin_child_helper", "--nocapture", "--test-threads=1"])
        .env("GUV_STDIN_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let wait_for = |wanted: &str| loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains(wanted) => return,
            Ok(_) => {}
            Err(e) => panic!("no `{wanted}` from the child: {e}"),
        }
    };
    wait_for("child: still running while stdin waits");
    writeln!(stdin, "hello").unwrap();
    wait_for("child: read hello");
    assert!(child.wait().unwrap().success());
}
