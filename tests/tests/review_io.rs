//! Review probes for the green I/O modules: process, tpool, select, UDP,
//! Unix sockets, fs and DNS, each compared with its std twin's documented
//! behaviour, including greenlets killed while they wait.

use std::io::{self, Read, Write};
use std::time::Duration;

use guv::Interest;
use guv::green::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use guv::green::process::{Command, Stdio};
use guv::net::UdpSocket;
use guv_tests::Log;

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("guv-review-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

// ---------------------------------------------------------------- process

/// Lets `gt` start waiting, kills it, and checks that no greenlet and no
/// I/O wait of it (or of helpers it started) is left on the hub.
fn kill_once_waiting_and_check_nothing_is_left<T: 'static>(gt: guv::GreenThread<T>) {
    guv::gyield();
    gt.kill();
    assert!(gt.wait().is_err_and(|e| e.is_killed()));
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 0);
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}

#[test]
fn process_wait_twice_try_wait_and_kill_after_exit_match_std() {
    let mut child = Command::new("sh").arg("-c").arg("exit 3").spawn().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert_eq!(child.wait().unwrap().code(), Some(3), "a second wait gives the same status");
    assert_eq!(child.try_wait().unwrap().unwrap().code(), Some(3));
    child.kill().unwrap(); // std: Ok once the child has exited
}

/// A killed `wait_with_output` must not leave its stderr reader parked on
/// the pipe until the child exits.
#[test]
fn process_killed_in_wait_with_output_leaves_no_reader_behind() {
    let child = Command::new("sleep").arg("60").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let gt = guv::spawn(move || child.wait_with_output().map(|o| o.status));
    guv::gyield();
    gt.kill();
    assert!(gt.wait().is_err_and(|e| e.is_killed()));
    // The killed caller's child is killed and reaped by a greenlet of its
    // own (see review6_fs_process); once that is over, nothing may still
    // wait on the child's pipes.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while guv::hub::stats().live_greenlets > 0 {
        assert!(std::time::Instant::now() < deadline, "the child's reaper never ended");
        guv::gyield();
    }
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

#[test]
fn process_dropping_stdin_sends_eof_and_large_output_both_ways() {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("cat; head -c 200000 /dev/zero >&2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let writer = guv::spawn(move || {
        let mut stdin = stdin;
        stdin.write_all(&vec![b'x'; 300_000]).unwrap();
        // dropped here: EOF for cat
    });
    let out = child.wait_with_output().unwrap();
    writer.wait().unwrap();
    assert_eq!(out.stdout.len(), 300_000);
    assert_eq!(out.stderr.len(), 200_000);
    assert!(out.status.success());
}

#[test]
fn process_a_child_waited_on_one_thread_then_another() {
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    // The first wait registers the pidfd with this thread's hub.
    assert!(guv::with_timeout(Duration::from_millis(5), || child.wait()).unwrap_err().is_timed_out());
    let t = std::thread::spawn(move || {
        let killer = guv::spawn(|| ());
        killer.wait().unwrap();
        child.kill().unwrap();
        child.wait().unwrap()
    });
    assert_eq!(t.join().unwrap().code(), None);
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

// ---------------------------------------------------------------- UDP

#[test]
fn udp_connected_socket_filters_and_times_out_with_would_block() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    stranger.send_to(b"noise", a.local_addr().unwrap()).unwrap();
    b.send_to(b"", a.local_addr().unwrap()).unwrap();
    b.send_to(b"peer", a.local_addr().unwrap()).unwrap();
    let mut buf = [0; 16];
    assert_eq!(a.recv(&mut buf).unwrap(), 0, "an empty datagram, not the stranger's");
    assert_eq!(a.peek(&mut buf).unwrap(), 4);
    assert_eq!(a.recv(&mut buf).unwrap(), 4);
    a.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(a.recv(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    a.set_nonblocking(true).unwrap();
    a.set_read_timeout(None).unwrap();
    assert_eq!(a.recv(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn udp_a_killed_receiver_leaves_the_socket_usable() {
    let a = std::rc::Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let addr = a.local_addr().unwrap();
    let a2 = a.clone();
    let gt = guv::spawn(move || a2.recv_from(&mut [0; 8]).map(|r| r.0));
    guv::gyield();
    assert_eq!(guv::hub::stats().io_waiters, 1);
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(guv::hub::stats().io_waiters, 0);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a3 = a.clone();
    let receiver = guv::spawn(move || a3.recv_from(&mut [0; 8]).map(|r| r.0));
    guv::gyield();
    sender.send_to(b"abc", addr).unwrap();
    assert_eq!(receiver.wait().unwrap().unwrap(), 3);
}

// ---------------------------------------------------------------- Unix

/// An unconnected sender to a full datagram queue: std's blocking send
/// waits until the receiver makes room; the green one must not hang.
#[test]
fn unix_datagram_send_to_a_full_queue_waits_for_room() {
    let path = temp_path("full.sock");
    let receiver = UnixDatagram::bind(&path).unwrap();
    // Fill the receiver's queue. A sender can also be refused because its
    // own send buffer is full (with a long `net.unix.max_dgram_qlen`, that
    // comes first), which would not stop a fresh socket: the queue is full
    // once a fresh sender's very first datagram is refused.
    let mut fillers = Vec::new();
    let mut queued = 0;
    loop {
        let filler = std::os::unix::net::UnixDatagram::unbound().unwrap();
        filler.set_nonblocking(true).unwrap();
        if filler.send_to(b"fill", &path).is_err() {
            break;
        }
        queued += 1;
        while filler.send_to(b"fill", &path).is_ok() {
            queued += 1;
        }
        fillers.push(filler);
        assert!(fillers.len() < 1000, "the receiver's queue never filled");
    }
    assert!(queued > 0);
    let sender = UnixDatagram::unbound().unwrap();
    let log = Log::new();
    let l2 = log.clone();
    let p2 = path.clone();
    let send = guv::spawn(move || {
        l2.push("sending");
        let r = sender.send_to(b"mine", &p2);
        l2.push("sent");
        r
    });
    guv::gyield();
    log.push("draining");
    let mut buf = [0; 8];
    for _ in 0..queued {
        receiver.recv(&mut buf).unwrap();
    }
    let r = guv::with_timeout(Duration::from_secs(10), || send.wait().unwrap());
    assert_eq!(r.expect("the send hung after the queue drained").unwrap(), 4);
    assert_eq!(log.take(), ["sending", "draining", "sent"]);
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"mine");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unix_errors_match_std() {
    let missing = temp_path("missing.sock");
    let std_err = std::os::unix::net::UnixStream::connect(&missing).unwrap_err();
    assert_eq!(UnixStream::connect(&missing).unwrap_err().kind(), std_err.kind());
    let long = "x".repeat(200);
    let std_err = std::os::unix::net::UnixStream::connect(&long).unwrap_err();
    assert_eq!(UnixStream::connect(&long).unwrap_err().kind(), std_err.kind());
    // A regular file is not a socket.
    let file = temp_path("not-a-socket");
    std::fs::write(&file, b"").unwrap();
    let std_err = std::os::unix::net::UnixStream::connect(&file).unwrap_err();
    assert_eq!(UnixStream::connect(&file).unwrap_err().kind(), std_err.kind());
    let _ = std::fs::remove_file(&file);
}

#[test]
fn unix_a_killed_accept_leaves_the_listener_usable() {
    let path = temp_path("accept.sock");
    let listener = std::rc::Rc::new(UnixListener::bind(&path).unwrap());
    let l2 = listener.clone();
    let gt = guv::spawn(move || l2.accept().map(drop));
    guv::gyield();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(guv::hub::stats().io_waiters, 0);
    let p = path.clone();
    let client = guv::spawn(move || {
        let mut s = UnixStream::connect(p).unwrap();
        s.write_all(b"hi").unwrap();
    });
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = [0; 2];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    client.wait().unwrap();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unix_stream_read_after_a_drained_read_and_a_local_shutdown_sees_eof() {
    let (a, b) = UnixStream::pair().unwrap();
    (&b).write_all(b"abc").unwrap();
    let mut buf = [0; 8];
    assert_eq!((&a).read(&mut buf).unwrap(), 3, "a short read: the socket is drained");
    a.shutdown(std::net::Shutdown::Read).unwrap();
    let r = guv::with_timeout(Duration::from_secs(10), || (&a).read(&mut buf).unwrap());
    assert_eq!(r.expect("the read after shutdown(Read) hung"), 0);
    a.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let (c, _d) = UnixStream::pair().unwrap();
    c.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    assert_eq!((&c).read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let (e, f) = UnixDatagram::pair().unwrap();
    f.send(b"dropped").unwrap();
    assert_eq!(e.recv(&mut []).unwrap(), 0, "a zero-length buffer takes the datagram, as std");
    f.send(b"next").unwrap();
    assert_eq!(e.recv(&mut buf).unwrap(), 4);
}

// ---------------------------------------------------------------- select

#[test]
fn select_with_no_fds_and_a_timeout_just_times_out() {
    let none: [(std::os::fd::BorrowedFd<'_>, Interest); 0] = [];
    let r = guv::select(&none, Some(Duration::from_millis(10))).unwrap();
    assert!(r.is_empty());
}

#[test]
fn select_killed_while_waiting_leaves_nothing_behind() {
    let (a, mut a_peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let (b, _b_peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let a = std::rc::Rc::new(a);
    let a2 = a.clone();
    let gt = guv::spawn(move || guv::select(&[(&*a2, Interest::READABLE), (&b, Interest::READABLE)], None));
    // The helpers end once the killed greenlet has finished unwinding.
    kill_once_waiting_and_check_nothing_is_left(gt);
    a_peer.write_all(b"x").unwrap();
    let r = guv::select(&[(&*a, Interest::READABLE)], Some(Duration::from_secs(5))).unwrap();
    assert_eq!(r.len(), 1);
}

#[test]
fn select_lists_the_same_fd_twice() {
    let (a, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let r = guv::select(&[(&a, Interest::READABLE), (&a, Interest::WRITABLE)], None).unwrap();
    assert_eq!(r, [guv::Readiness { index: 1, readable: false, writable: true }]);
}

/// As getaddrinfo (and std's `ToSocketAddrs`), an IP address looks up to
/// itself: no server is asked, no `InvalidInput`.
#[test]
fn dns_an_ip_address_looks_up_to_itself() {
    use guv::net::dns::{Config, Resolver};
    let server = guv_tests::dns::DnsServer::start();
    let r = Resolver::new(Config { nameservers: vec![server.addr()], ..Config::default() });
    let v4: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(r.lookup_ip("192.0.2.1").unwrap(), [v4]);
    assert_eq!(r.lookup_ip("2001:db8::1").unwrap(), [v6]);
    assert!(server.asked().is_empty());
    guv::net::dns::set_thread_resolver(Some(r));
    assert_eq!(guv::net::dns::lookup_host("192.0.2.1").unwrap(), [v4]);
    // Not an address: a name, asked for as getaddrinfo does (review 7);
    // the scripted server answers 127.0.0.1 for it.
    let asked = guv::net::dns::lookup_host("192.0.2.300");
    guv::net::dns::set_thread_resolver(None);
    assert_eq!(asked.unwrap(), [std::net::IpAddr::from([127, 0, 0, 1])]);
    assert_eq!(server.asked(), ["192.0.2.300"]);
}

// ---------------------------------------------------------------- tpool

/// Runs the test named `name` alone in a child process with `env` set,
/// for probes that change process-wide state (the pool's size) or count
/// the process's fds; asserts that it passed.
fn run_in_child(name: &str, env: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env(env, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("the drop of an abandoned tpool result panics");
    }
}

/// A caller killed while its job runs leaves the result to be dropped on
/// the worker; a destructor that panics there must not end the worker
/// thread while the pool still counts it (with one thread, every later
/// job would wait forever).
#[test]
fn tpool_a_panicking_drop_of_an_abandoned_result_keeps_the_worker() {
    if std::env::var_os("GUV_REVIEW_TPOOL_CHILD").is_none() {
        return run_in_child(
            "tpool_a_panicking_drop_of_an_abandoned_result_keeps_the_worker",
            "GUV_REVIEW_TPOOL_CHILD",
        );
    }
    guv::tpool::set_size(1).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let gt = guv::spawn(move || {
        drop(guv::tpool::execute(move || {
            let _done = done_tx; // dropped when the job returns
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
            PanicOnDrop
        }))
    });
    guv::gyield();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    tx.send(()).unwrap();
    assert!(done_rx.recv_timeout(Duration::from_secs(10)).is_err(), "the job ended");
    let r = guv::with_timeout(Duration::from_secs(10), || guv::tpool::execute(|| 7));
    assert_eq!(r.expect("the pool lost its only worker"), 7);
    assert_eq!(guv::tpool::threads(), 1);
}

/// A job that needs the pool itself (green fs inside `execute`, say) must
/// not wait for a worker that can only come free once it returns.
#[test]
fn tpool_a_job_that_calls_execute_does_not_deadlock_the_pool() {
    if std::env::var_os("GUV_REVIEW_NESTED_CHILD").is_none() {
        return run_in_child("tpool_a_job_that_calls_execute_does_not_deadlock_the_pool", "GUV_REVIEW_NESTED_CHILD");
    }
    guv::tpool::set_size(1).unwrap();
    let file = temp_path("nested.txt");
    std::fs::write(&file, b"nested").unwrap();
    let r = guv::with_timeout(Duration::from_secs(10), move || {
        guv::tpool::execute(move || guv::green::fs::read_to_string(&file).unwrap())
    });
    assert_eq!(r.expect("the nested call deadlocked the pool"), "nested");
}

// ---------------------------------------------------------------- fs

#[test]
fn fs_file_reads_writes_and_seeks_like_std() {
    use std::io::{Seek, SeekFrom};
    let p = temp_path("file.txt");
    let mut f = guv::green::fs::File::create(&p).unwrap();
    assert_eq!(f.write(b"").unwrap(), 0);
    f.write_all(b"0123456789").unwrap();
    let mut r = guv::green::fs::OpenOptions::new().read(true).open(&p).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(r.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"0123");
    assert_eq!(r.read(&mut []).unwrap(), 0);
    let mut rest = b"pre-".to_vec();
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 6);
    assert_eq!(rest, b"pre-456789");
    assert_eq!(r.seek(SeekFrom::End(-2)).unwrap(), 8);
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "89");
    assert_eq!(r.read(&mut buf).unwrap(), 0, "EOF");
    let e = guv::green::fs::File::open(temp_path("nope")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let _ = std::fs::remove_file(&p);
}

// ---------------------------------------------------------------- DNS

/// `Config::timeout` is a public field: `Duration::MAX` must mean "no
/// limit", not an `Instant` overflow panic.
#[test]
fn dns_a_huge_timeout_does_not_panic() {
    use guv::net::dns::{Config, Resolver};
    let server = guv_tests::dns::DnsServer::start();
    let config = Config { nameservers: vec![server.addr()], timeout: Duration::MAX, ..Config::default() };
    let r = Resolver::new(config);
    let e = r.lookup_ip("missing.test").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(r.lookup_ip("any.test").unwrap(), ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
    // Truncated over UDP: the TCP retry gets the same unlimited deadline.
    assert_eq!(r.lookup_ip("big.test").unwrap().len(), 2);
}

// ---------------------------------------------------------------- fd leaks

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Every module's common paths, including waits cut short by a Timeout,
/// give back every fd they opened (in a child process, alone, so that no
/// other test's fds are counted).
#[test]
fn no_fd_is_leaked_by_processes_select_sockets_dns_or_files() {
    if std::env::var_os("GUV_REVIEW_FD_CHILD").is_none() {
        return run_in_child("no_fd_is_leaked_by_processes_select_sockets_dns_or_files", "GUV_REVIEW_FD_CHILD");
    }
    let dns = guv_tests::dns::DnsServer::start();
    // The names that are answered get a generous timeout (a loaded machine
    // may be slow to answer); only the one that never is gets a short one.
    let dns_config = |timeout| guv::net::dns::Config {
        nameservers: vec![dns.addr()],
        timeout,
        attempts: 1,
        ..guv::net::dns::Config::default()
    };
    let resolver = guv::net::dns::Resolver::new(dns_config(Duration::from_secs(10)));
    let quick = guv::net::dns::Resolver::new(dns_config(Duration::from_millis(200)));
    let path = temp_path("fds.sock");
    let file = temp_path("fds.txt");
    let round = || {
        // Processes: output, spawn + wait, a wait cut short then finished.
        let out = Command::new("sh").arg("-c").arg("echo o; echo e >&2").output().unwrap();
        assert_eq!(out.stdout, b"o\n");
        let mut child = Command::new("sleep").arg("60").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        assert!(guv::with_timeout(Duration::from_millis(5), || child.wait()).unwrap_err().is_timed_out());
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap().code(), None);
        drop(child);
        // select: timed out, then ready.
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(guv::select(&[(&a, Interest::READABLE)], Some(Duration::from_millis(2))).unwrap().is_empty());
        assert_eq!(guv::select(&[(&a, Interest::WRITABLE), (&b, Interest::READABLE)], None).unwrap().len(), 1);
        drop((a, b));
        // UDP with a read timeout; Unix stream and listener.
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
        assert!(u.recv(&mut [0; 4]).is_err());
        drop(u);
        let listener = UnixListener::bind(&path).unwrap();
        let client = UnixStream::connect(&path).unwrap();
        let conn = listener.accept().unwrap();
        drop((listener, client, conn));
        std::fs::remove_file(&path).unwrap();
        // DNS: an answer, NXDOMAIN, a TCP retry, a timeout.
        assert!(resolver.lookup_ip("any.test").is_ok());
        assert!(resolver.lookup_ip("missing.test").is_err());
        assert!(resolver.lookup_ip("big.test").is_ok());
        assert!(quick.lookup_ip("silent.test").is_err());
        // Files.
        guv::green::fs::write(&file, b"data").unwrap();
        let mut f = guv::green::fs::File::open(&file).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        drop(f);
        assert_eq!(guv::green::fs::read_dir(file.parent().unwrap()).unwrap().count(), 1);
    };
    round(); // hub, pool threads and lazily opened fds exist from here on
    guv::gyield();
    // The DNS server runs in this process too: its end of the TCP retry's
    // connection may still be open just after the answer came.
    dns.wait_tcp_closed();
    let before = open_fds();
    for _ in 0..3 {
        round();
    }
    guv::gyield();
    dns.wait_tcp_closed();
    assert_eq!(open_fds(), before);
    assert_eq!(guv::hub::stats().live_greenlets, 0);
    assert_eq!(guv::hub::stats().io_waiters, 0);
}

// ---------------------------------------------------------------- foundation

/// Kills two sleepers when dropped.
struct KillOnDrop(Vec<guv::GreenThread<()>>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for gt in &self.0 {
            gt.kill();
        }
    }
}

/// Logs "ended" when a helper greenlet's stack unwinds or returns.
struct Ended(Log);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.push("ended");
    }
}

fn sleeper(log: &Log) -> guv::GreenThread<()> {
    let ended = Ended(log.clone());
    guv::spawn(move || {
        let _ended = ended;
        guv::sleep(Duration::from_secs(3600));
    })
}

/// A destructor that kills helper greenlets while its own greenlet unwinds
/// (from a kill or a Timeout) must really end them, not leave them parked.
#[test]
fn foundation_a_kill_from_an_unwinding_destructor_ends_the_target() {
    let log = Log::new();
    let l2 = log.clone();
    let owner = guv::spawn(move || {
        let _guard = KillOnDrop(vec![sleeper(&l2), sleeper(&l2)]);
        guv::sleep(Duration::from_secs(3600));
    });
    guv::gyield();
    owner.kill();
    assert!(owner.wait().unwrap_err().is_killed());
    guv::gyield();
    assert_eq!(log.take(), ["ended", "ended"], "after the kill");
    assert_eq!(guv::hub::stats().live_greenlets, 0);
    // The same from a Timeout unwinding the main greenlet.
    let helpers = vec![sleeper(&log), sleeper(&log)];
    guv::gyield();
    let r = guv::with_timeout(Duration::from_millis(5), move || {
        let _guard = KillOnDrop(helpers);
        guv::sleep(Duration::from_secs(3600));
    });
    let e = r.unwrap_err();
    assert!(e.is_timed_out(), "{e:?}");
    guv::gyield();
    assert_eq!(log.take().len(), 4, "the log keeps the first two");
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}
