//! Defects earlier reviews noticed and left alone, each pinned down through
//! the public API. Events are ordered with channels and protocol replies;
//! timeouts are only hang guards.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::Server;
use guv_tests::Log;
use guv_tests::http::{CLIENT_TIMEOUT, Client, TestServer, websocket_handshake};

// ---- WebSocket ------------------------------------------------------------

/// A WebSocket server (shutdown timeout `grace`) whose handler reports
/// each connection on the returned channel, then waits for messages until
/// the connection ends.
fn waiting_ws_server(grace: Duration) -> (TestServer, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let ws = WebSocketWSGI::new(move |ws: WebSocket| {
        tx.lock().unwrap().send(()).unwrap();
        while ws.wait().is_some() {}
    });
    (TestServer::start(Server::new(move |req| ws.call(req)).shutdown_timeout(grace)), rx)
}

/// The status of a handshake request whose `Upgrade` lines are `upgrade`.
fn handshake_status(s: &TestServer, upgrade: &str) -> u16 {
    let mut c = Client::connect(s.addr);
    c.send(
        format!(
            "GET / HTTP/1.1\r\nHost: t\r\n{upgrade}Connection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    );
    c.read_response().unwrap().status
}

/// RFC 9110 7.8: `Upgrade` is a comma-separated list of protocols whose
/// names compare case-insensitively, and RFC 6455 4.2.1 asks only that it
/// include `websocket`. The handshake used to accept the exact value
/// `websocket` alone.
#[test]
fn the_upgrade_field_is_a_case_insensitive_list() {
    let (s, started) = waiting_ws_server(Duration::from_secs(30));
    for offered in [
        "Upgrade: websocket\r\n",
        "Upgrade: WebSocket\r\n",
        "Upgrade: foo, websocket\r\n",
        "Upgrade: h2c/2 ,  WEBSOCKET , foo\r\n",
        "Upgrade: foo\r\nUpgrade: websocket\r\n",
    ] {
        assert_eq!(handshake_status(&s, offered), 101, "{offered:?}");
        started.recv_timeout(CLIENT_TIMEOUT).expect("the handler ran");
    }
    for refused in
        ["Upgrade: foo\r\n", "Upgrade: websockets\r\n", "Upgrade: web socket\r\n", "Upgrade: foo;websocket\r\n"]
    {
        assert_eq!(handshake_status(&s, refused), 400, "{refused:?}");
    }
}

/// A WebSocket still open when the server's shutdown timeout runs out is
/// killed with its connection; RFC 6455 7.4.1's code for "a server going
/// down" is 1001, not 1011 (internal error), which it used to send.
#[test]
fn a_websocket_killed_at_the_shutdown_deadline_closes_with_1001() {
    let (s, started) = waiting_ws_server(Duration::from_millis(100));
    let mut c = websocket_handshake(s.addr);
    started.recv_timeout(CLIENT_TIMEOUT).expect("the handler is waiting");
    s.shutdown().unwrap();
    let (b0, payload) = guv_tests::http::read_ws_frame(&mut c).expect("a closing frame");
    assert_eq!(b0 & 0x0f, 0x8, "a closing frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
}

// ---- green-locals -----------------------------------------------------------

/// Counts how often [`GONE`] was made, in any greenlet.
static GONE_MADE: AtomicUsize = AtomicUsize::new(0);

/// On drop, logs what it finds of [`GONE`] (dropped before it), of its own
/// local (being dropped) and of [`UNUSED`] (never used by the greenlet).
struct LateDestructor(Log);

impl Drop for LateDestructor {
    fn drop(&mut self) {
        let log = &self.0;
        log.push(format!("gone: {:?}", GONE.try_with(|v| v.clone())));
        let with = std::panic::catch_unwind(|| GONE.with(|v| v.clone()));
        log.push(format!("with panicked: {}", with.is_err()));
        log.push(format!("own: {:?}", LATE.try_with(|_| ())));
        log.push(format!(
            "unused: {:?}",
            UNUSED.try_with(|u| u.borrow_mut().replace(LogOnDrop(log.clone())).is_none())
        ));
    }
}

/// Logs "unused dropped" when dropped.
struct LogOnDrop(Log);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.0.push("unused dropped");
    }
}

guv::local! {
    static LATE: RefCell<Option<LateDestructor>> = RefCell::new(None);
    static GONE: Vec<u8> = {
        GONE_MADE.fetch_add(1, Ordering::SeqCst);
        vec![1]
    };
    static UNUSED: RefCell<Option<LogOnDrop>> = RefCell::new(None);
}

/// As std's `LocalKey`: a destructor run at the greenlet's end that reaches
/// a green-local already dropped gets `AccessError` from `try_with` (and a
/// panic from `with`) instead of a value made anew, as does one reaching
/// its own local; a local the greenlet never used is made and dropped in
/// turn, before the waiter resumes. It used to make the dropped one again.
#[test]
fn a_destructor_cannot_bring_back_a_green_local_already_dropped() {
    let log = Log::new();
    let l = log.clone();
    let made_before = GONE_MADE.load(Ordering::SeqCst);
    let gt = guv::spawn(move || {
        LATE.with_borrow_mut(|late| *late = Some(LateDestructor(l))); // made first, dropped last
        GONE.with(|v| v.len())
    });
    assert_eq!(gt.wait().unwrap(), 1);
    log.push("waited");
    assert_eq!(
        log.take(),
        [
            "gone: Err(AccessError)",
            "with panicked: true",
            "own: Err(AccessError)",
            "unused: Ok(true)",
            "unused dropped",
            "waited"
        ]
    );
    assert_eq!(GONE_MADE.load(Ordering::SeqCst) - made_before, 1, "made once, never again");
}

/// The links run after the teardown, as on a fresh greenlet: a local the
/// body's teardown dropped starts anew there (and is dropped after them).
#[test]
fn links_after_the_teardown_find_green_locals_anew() {
    let log = Log::new();
    let gt = guv::spawn(|| UNUSED.with_borrow(|u| u.is_none()));
    let l = log.clone();
    gt.link(move |_| {
        UNUSED.with_borrow_mut(|u| *u = Some(LogOnDrop(l.clone())));
        l.push("link set it");
    });
    assert!(gt.wait().unwrap());
    log.push("waited");
    assert_eq!(log.take(), ["link set it", "unused dropped", "waited"]);
}

/// Once the thread's hub is gone (the main greenlet's values are dropped
/// at thread exit), `try_with` fails with `AccessError` as std's does for
/// destroyed thread-locals; it used to panic ("the hub is gone").
#[test]
fn try_with_fails_once_the_threads_hub_is_gone() {
    struct AtExit(mpsc::Sender<String>);
    impl Drop for AtExit {
        fn drop(&mut self) {
            let _ = self.0.send(format!("{:?}", UNUSED.try_with(|_| ())));
        }
    }
    guv::local! { static AT_EXIT: RefCell<Option<AtExit>> = RefCell::new(None); }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || AT_EXIT.with_borrow_mut(|a| *a = Some(AtExit(tx)))).join().unwrap();
    assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT).as_deref(), Ok("Err(AccessError)"));
}

// ---- remote spawn without a stack -----------------------------------------

use guv_tests::{child_role, run_child};

/// Caps this process's address space (through the `prlimit` tool, so that
/// the tests need no unsafe code).
fn cap_address_space(bytes: u64) {
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("prlimit").args(["--pid", &pid, &format!("--as={bytes}:{bytes}")]).status();
    assert!(status.is_ok_and(|s| s.success()), "prlimit failed");
}

/// Parks (a green sleep) when dropped, then reports where it ran.
struct ParksOnDrop(guv::green::sync::mpsc::Sender<String>);

impl Drop for ParksOnDrop {
    fn drop(&mut self) {
        guv::sleep(Duration::from_millis(1));
        let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
        let _ = self.0.send(format!("dropped after parking, on {thread}"));
    }
}

/// A closure sent with `Handle::spawn` for which the hub cannot map a
/// stack is dropped where its destructor may park (a thread-pool thread),
/// not in the hub's loop, where a park is refused with a panic that used to
/// abort the whole process. The failure is still reported (through `log`,
/// which the child prints on stderr).
#[test]
fn a_remote_spawn_without_a_stack_drops_its_closure_where_it_may_park() {
    if child_role().as_deref() == Some("no-stack") {
        let logged = guv_tests::http::access_log();
        // Every new stack of this hub is 1 GiB, which the capped address
        // space cannot hold; plain threads' stacks still fit.
        guv::hub::set_stack_size(1 << 30).unwrap();
        cap_address_space(1 << 30);
        let (tx, rx) = guv::green::sync::mpsc::channel();
        let handle = guv::hub::Handle::current();
        std::thread::spawn(move || {
            let guard = ParksOnDrop(tx);
            handle.spawn(move || drop(guard)).unwrap();
        });
        // Parks this (main) greenlet, so the loop takes the remote spawn.
        let report = rx.recv_timeout(CLIENT_TIMEOUT).expect("the closure was dropped");
        println!("REPORT {report}");
        for line in logged.lock().unwrap().iter() {
            eprintln!("LOG {line}");
        }
        // The hub goes on.
        assert_eq!(guv::Builder::new().stack_size(64 << 10).spawn(|| 7).unwrap().wait().unwrap(), 7);
        std::process::exit(0);
    }
    let out = run_child("a_remote_spawn_without_a_stack_drops_its_closure_where_it_may_park", "no-stack");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains("REPORT dropped after parking, on guv-tpool"), "stdout:\n{stdout}");
    assert!(stderr.contains("a greenlet sent from another thread could not start"), "stderr:\n{stderr}");
}

// ---- DNS: dotted strings that are no IPv4 address ---------------------------

/// glibc's getaddrinfo reads a host with `inet_aton` first; a dotted string
/// that it refuses (five parts, a part over 255, a bad octal digit) is then
/// looked up as a host NAME, in the hosts file and through DNS. The green
/// resolver used to refuse it as an invalid name, without asking.
#[test]
fn dotted_strings_that_are_no_ipv4_address_are_looked_up_as_names() {
    use guv::net::dns::{self, Config, Resolver};
    use guv_tests::dns::{DnsServer, Record};

    let server = DnsServer::with_zone(&[("256.1.1.1", Record::Addr("10.8.8.8".parse().unwrap()))]);
    let dir = std::env::temp_dir().join(format!("guv-review7-dns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hosts"), "10.7.7.7 1.2.3.4.5\n").unwrap();
    let r = Resolver::new(Config {
        nameservers: vec![server.addr()],
        timeout: Duration::from_secs(10),
        attempts: 1,
        hosts_file: Some(dir.join("hosts")),
        ..Config::default()
    });
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    // The hosts file answers for one, DNS for another; no server is asked
    // for the first.
    assert_eq!(r.lookup_ip("1.2.3.4.5").unwrap(), [ip("10.7.7.7")]);
    assert!(server.asked().is_empty(), "{:?}", server.asked());
    assert_eq!(r.lookup_ip("256.1.1.1").unwrap(), [ip("10.8.8.8")]);
    // A name nobody knows is NXDOMAIN: NotFound, after asking.
    let e = r.lookup_ip("08.1").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    assert_eq!(server.asked(), ["256.1.1.1", "08.1"]);
    // An empty label is still no name at all.
    assert_eq!(r.lookup_ip("1..2").unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    // The green ToSocketAddrs takes the same path.
    dns::set_thread_resolver(Some(r));
    let addrs: Vec<_> = guv::net::ToSocketAddrs::to_socket_addrs("1.2.3.4.5:80").unwrap().collect();
    dns::set_thread_resolver(None);
    assert_eq!(addrs, ["10.7.7.7:80".parse().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- green fs: try_lock beside a lock call that has the lock ---------------

/// A blocking `lock()` whose pool job has the lock, but whose greenlet has
/// not run since, used to keep `try_lock` of the same open file answering
/// `WouldBlock` (its turn was still taken), though the kernel gives a
/// description that holds the lock the lock again, as std's `try_lock`
/// does. And the killed lock caller must not then give back the lock the
/// `try_lock` holds.
#[test]
fn try_lock_succeeds_beside_a_lock_call_that_has_the_lock_and_keeps_it() {
    let p = std::env::temp_dir().join(format!("guv-review7-lock-{}", std::process::id()));
    let a = guv::green::fs::File::create(&p).unwrap();
    let b = a.try_clone().unwrap(); // the same open file description
    // Another description holds the lock, so the locker surely parks.
    let holder = std::fs::File::open(&p).unwrap();
    holder.lock().unwrap();
    let locker = guv::spawn(move || a.lock());
    guv::gyield(); // the locker's job waits on the pool
    let (tx, rx) = mpsc::channel();
    let path = p.clone();
    let other_thread = std::thread::spawn(move || {
        holder.unlock().unwrap();
        // A third description cannot get the lock once the locker's job
        // has it (and gives it up at once if it came first).
        let other = std::fs::File::open(&path).unwrap();
        loop {
            match other.try_lock() {
                Err(std::fs::TryLockError::WouldBlock) => break,
                Ok(()) => other.unlock().unwrap(),
                Err(e) => panic!("{e}"),
            }
        }
        tx.send(format!("{:?}", b.try_lock())).unwrap();
        b
    });
    // This thread blocks (its hub with it), so the locker cannot run before
    // the other thread's try_lock has answered.
    let answer = rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
    let b = other_thread.join().unwrap();
    assert_eq!(answer, "Ok(())");
    // Killed before it saw its result: its lock is the try_lock's too, and
    // stays.
    locker.kill();
    assert!(locker.wait().unwrap_err().is_killed());
    let other = std::fs::File::open(&p).unwrap();
    assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)), "the lock was given back");
    b.unlock().unwrap();
    other.try_lock().unwrap();
    let _ = std::fs::remove_file(&p);
}
