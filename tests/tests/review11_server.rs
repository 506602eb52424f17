//! Review of the plain TCP server (`guv::serve`, `StreamServer`,
//! `ServerHandle`, `StopServe`): concurrent stops, stops racing with
//! accept, descriptors on every handler path, odd panics, rebinding.

use std::cell::{OnceCell, RefCell};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use guv::net::TcpStream;
use guv::queue::LightQueue;
use guv::{Event, ServerHandle, StopServe, StreamServer};
use guv_tests::Log;

fn read_byte(c: &mut TcpStream) -> io::Result<usize> {
    c.read(&mut [0u8; 1])
}

/// What a client of a killed or dropped handler reads: EOF or a reset.
fn closed(c: &mut TcpStream) -> bool {
    match read_byte(c) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
    }
}

use guv_tests::net::refused;

/// A server whose handlers say they started, then wait for a byte.
fn parked(log: &Log) -> (ServerHandle, LightQueue<()>) {
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |mut conn: TcpStream, peer: SocketAddr| -> io::Result<()> {
            started.put(());
            read_byte(&mut conn)?;
            log.push(format!("returned {}", peer.port()));
            Ok(())
        }
    };
    (StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).start().unwrap(), started)
}

/// `stop_timeout` says whether no handler had to be killed; a `stop()`
/// from another greenlet during its grace period kills one, so the answer
/// must be `false`.
#[guv::test(timeout = "30s")]
fn stop_timeout_reports_false_when_a_concurrent_stop_killed_a_handler() {
    let log = Log::new();
    let (server, started) = parked(&log);
    let mut c = guv::connect(server.local_addr().unwrap()).unwrap();
    started.get();
    let graceful = {
        let server = server.clone();
        guv::spawn(move || server.stop_timeout(Duration::from_secs(60)))
    };
    guv::gyield(); // the graceful stop is under way, parked in its grace
    assert!(server.is_stopped());
    server.stop(); // kills the parked handler now
    assert!(closed(&mut c));
    assert!(log.take().is_empty(), "the handler was killed, it did not return");
    assert!(!graceful.wait().unwrap(), "a handler had to be killed: not in time");
}

/// The same from inside: a handler's `stop()` kills another handler while
/// a graceful stop waits.
#[guv::test(timeout = "30s")]
fn stop_timeout_reports_false_when_a_handler_stop_killed_another() {
    let started: LightQueue<()> = LightQueue::new(None);
    let me: Rc<OnceCell<ServerHandle>> = Rc::new(OnceCell::new());
    let handler = {
        let (started, me) = (started.clone(), me.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            let mut word = [0u8; 4];
            conn.read_exact(&mut word)?;
            if &word == b"stop" {
                me.get().unwrap().stop();
                return conn.write_all(b"stopped");
            }
            started.put(());
            read_byte(&mut conn)?;
            Ok(())
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).start().unwrap();
    me.set(server.clone()).unwrap();
    let addr = server.local_addr().unwrap();
    let mut idle = guv::connect(addr).unwrap();
    idle.write_all(b"idle").unwrap();
    let mut stopper = guv::connect(addr).unwrap();
    started.get();
    let graceful = {
        let server = server.clone();
        guv::spawn(move || server.stop_timeout(Duration::from_secs(60)))
    };
    guv::gyield();
    stopper.write_all(b"stop").unwrap(); // the acceptor is gone, the handler runs
    let mut answer = String::new();
    stopper.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "stopped");
    assert!(closed(&mut idle));
    assert!(!graceful.wait().unwrap(), "the idle handler was killed");
}

/// Two greenlets stop at once, a third and a fourth wait: all return, and
/// the handler was killed once.
#[guv::test(timeout = "30s")]
fn concurrent_stops_and_waits_all_return() {
    let log = Log::new();
    let (server, started) = parked(&log);
    let addr = server.local_addr().unwrap();
    let mut c = guv::connect(addr).unwrap();
    started.get();
    let done = Log::new();
    let greenlets: Vec<_> = (0..4)
        .map(|i| {
            let (server, done) = (server.clone(), done.clone());
            guv::spawn(move || {
                match i {
                    0 => server.stop(),
                    1 => drop(server.stop_timeout(Duration::ZERO)),
                    _ => server.wait().unwrap(),
                }
                done.push(format!("{i}"));
            })
        })
        .collect();
    for g in greenlets {
        g.wait().unwrap();
    }
    let mut done = done.take();
    done.sort();
    assert_eq!(done, ["0", "1", "2", "3"]);
    assert!(closed(&mut c));
    assert!(refused(addr));
    assert!(log.take().is_empty());
}

/// Two handlers return `StopServe` in the same hub turn: `serve` returns
/// once, after both, and each is logged at `debug`.
#[guv::test(timeout = "30s")]
fn stop_serve_from_two_handlers_at_once_ends_serve() {
    guv_tests::server_log();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let go = Event::new();
    let started: LightQueue<u16> = LightQueue::new(None);
    let clients = {
        let (go, started) = (go.clone(), started.clone());
        guv::spawn(move || {
            let a = guv::connect(addr).unwrap();
            let b = guv::connect(addr).unwrap();
            let ports = [a.local_addr().unwrap().port(), b.local_addr().unwrap().port()];
            for _ in 0..2 {
                started.get();
            }
            go.set(); // both handlers wake in the same turn
            let mut both = [a, b];
            for c in &mut both {
                assert!(closed(c));
            }
            ports
        })
    };
    let handler = {
        let (go, started) = (go.clone(), started.clone());
        move |_conn: TcpStream, peer: SocketAddr| -> io::Result<()> {
            started.put(peer.port());
            go.wait();
            Err(StopServe.into())
        }
    };
    guv::serve(listener, handler).unwrap();
    let ports = clients.wait().unwrap();
    assert!(refused(addr));
    let log = guv_tests::server_log();
    for port in ports {
        let line = format!("guv::server DEBUG 127.0.0.1:{port}: the handler stopped the server");
        assert!(log.contains(&line), "{line} in {log:?}");
    }
}

/// A handler that panics with a payload that is not a string is logged at
/// `error` and gives its slot back.
#[guv::test(timeout = "30s")]
fn a_non_string_panic_is_logged_and_frees_the_slot() {
    guv_tests::server_log();
    let handler = |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
        let mut first = [0u8; 1];
        conn.read_exact(&mut first)?;
        if &first == b"p" {
            std::panic::panic_any(42u32);
        }
        conn.write_all(b"served")
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).concurrency(1).start().unwrap();
    let addr = server.local_addr().unwrap();
    let mut bad = guv::connect(addr).unwrap();
    let port = bad.local_addr().unwrap().port();
    bad.write_all(b"p").unwrap();
    assert!(closed(&mut bad));
    let mut good = guv::connect(addr).unwrap();
    good.write_all(b"g").unwrap();
    let mut answer = String::new();
    good.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "served");
    let line = format!("guv::server ERROR 127.0.0.1:{port}: the handler panicked: (a payload that is not a string)");
    assert!(guv_tests::server_log().contains(&line), "{line} in {:?}", guv_tests::server_log());
    server.stop();
}

/// Every handler stops the server as it starts, so that several stops
/// from handlers overlap: one handler's stop takes the others out of the
/// server's table before it kills them one by one (each kill yields), and
/// a handler that runs meanwhile and stops too must still be known as a
/// handler (or it waits for itself, and `wait` never returns). Every
/// connection ends closed, and connections the acceptor took in the same
/// turn are closed unserved or served, never left open.
#[guv::test(timeout = "30s")]
fn handlers_stopping_their_server_at_once_do_not_deadlock() {
    let served = Log::new();
    let me: Rc<OnceCell<ServerHandle>> = Rc::new(OnceCell::new());
    let handler = {
        let (served, me) = (served.clone(), me.clone());
        move |_conn: TcpStream, peer: SocketAddr| -> io::Result<()> {
            served.push(format!("{}", peer.port()));
            me.get().unwrap().stop();
            Ok(())
        }
    };
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // All in the backlog before the server starts: the acceptor takes them
    // one after another in its first turn.
    let mut clients: Vec<TcpStream> = (0..8).map(|_| guv::connect(addr).unwrap()).collect();
    let server = StreamServer::new(listener, handler).start().unwrap();
    me.set(server.clone()).unwrap();
    server.wait().unwrap();
    assert!(!served.take().is_empty());
    for c in &mut clients {
        assert!(closed(c));
    }
    assert!(refused(addr));
}

/// The number of descriptors this process has open.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The child's side of the test below: every way a handler can end, then
/// a stop that kills parked and unstarted handlers; the descriptor count
/// comes back to where it was.
fn fd_child() {
    guv_tests::server_log();
    // Warm up: the hub's own descriptors (poller, wake-up) exist from here.
    let warm = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), |_, _| Ok(())).start().unwrap();
    drop(guv::connect(warm.local_addr().unwrap()).unwrap());
    warm.stop();
    let before = open_fds();
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let started = started.clone();
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            let mut what = [0u8; 1];
            conn.read_exact(&mut what)?;
            match &what {
                b"o" => conn.write_all(b"ok"),
                b"e" => Err(io::Error::other("an error")),
                b"s" => panic!("a string panic"),
                b"n" => std::panic::panic_any(7u8),
                b"t" => {
                    let _limit = guv::Timeout::start(Duration::from_millis(1));
                    guv::sleep(Duration::from_secs(60));
                    Ok(())
                }
                _ => {
                    started.put(());
                    read_byte(&mut conn)?; // parked: killed by the stop
                    Ok(())
                }
            }
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).start().unwrap();
    let addr = server.local_addr().unwrap();
    for what in [b"o", b"e", b"s", b"n", b"t"] {
        let mut c = guv::connect(addr).unwrap();
        c.write_all(what).unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
    }
    let mut parked: Vec<TcpStream> = (0..3).map(|_| guv::connect(addr).unwrap()).collect();
    for c in &mut parked {
        c.write_all(b"k").unwrap();
        started.get();
    }
    let unstarted: Vec<std::net::TcpStream> = (0..3).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    let stopper = {
        let server = server.clone();
        guv::spawn(move || {
            while format!("{server:?}").contains("handlers: 3 ") {
                guv::gyield();
            }
            server.stop();
        })
    };
    stopper.wait().unwrap();
    drop(parked);
    drop(unstarted);
    let after = open_fds();
    println!("fds before {before} after {after}");
    assert_eq!(before, after, "descriptors leaked");
}

#[test]
fn every_handler_path_closes_its_descriptors() {
    const NAME: &str = "every_handler_path_closes_its_descriptors";
    if guv_tests::child_role().as_deref() == Some("fds") {
        fd_child();
        return;
    }
    let out = guv_tests::run_child(NAME, "fds");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("fds before"), "{stdout}");
}

/// After a stop that killed handlers (the server closes first, so its side
/// of each connection sits in TIME_WAIT), the port can be bound again.
#[guv::test(timeout = "30s")]
fn the_port_can_be_bound_again_after_stop() {
    let log = Log::new();
    let (server, started) = parked(&log);
    let addr = server.local_addr().unwrap();
    let mut clients: Vec<TcpStream> = (0..3).map(|_| guv::connect(addr).unwrap()).collect();
    for _ in 0..3 {
        started.get();
    }
    server.stop();
    for c in &mut clients {
        assert!(closed(c));
    }
    let again = guv::listen(addr).unwrap();
    let second = StreamServer::new(again, |mut conn, _| conn.write_all(b"second")).start().unwrap();
    let mut c = guv::connect(addr).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "second");
    second.stop();
}

/// A stop (graceful or not) before the server starts: `start` closes the
/// listener, `serve_forever` returns at once, and the graceful stop
/// reports that nothing had to be killed.
#[guv::test(timeout = "30s")]
fn stop_before_start_closes_the_listener() {
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), |_, _| Ok(()));
    let handle = server.handle();
    let addr = handle.local_addr().unwrap();
    assert!(handle.stop_timeout(Duration::from_secs(60)));
    assert!(handle.is_stopped());
    server.serve_forever().unwrap();
    assert!(refused(addr));
    handle.wait().unwrap();
    handle.stop();
}

/// The handlers of a server stopped with a grace period never exceed the
/// cap, and connections that came during the grace are refused.
#[guv::test(timeout = "30s")]
fn the_cap_holds_and_nothing_new_is_taken_during_the_grace() {
    let running = Rc::new(RefCell::new((0usize, 0usize)));
    let release = Event::new();
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (running, release, started) = (running.clone(), release.clone(), started.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            {
                let mut r = running.borrow_mut();
                r.0 += 1;
                r.1 = r.1.max(r.0);
            }
            started.put(());
            release.wait();
            running.borrow_mut().0 -= 1;
            conn.write_all(b"done")
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).concurrency(2).start().unwrap();
    let addr = server.local_addr().unwrap();
    let mut clients: Vec<TcpStream> = (0..4).map(|_| guv::connect(addr).unwrap()).collect();
    started.get();
    started.get();
    let graceful = {
        let server = server.clone();
        guv::spawn(move || server.stop_timeout(Duration::from_secs(60)))
    };
    guv::gyield(); // the graceful stop is under way
    assert!(server.is_stopped());
    release.set();
    assert!(graceful.wait().unwrap());
    assert!(refused(addr));
    let mut answers = Vec::new();
    for c in &mut clients {
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        answers.push(answer);
    }
    assert_eq!(answers.iter().filter(|a| *a == "done").count(), 2, "{answers:?}");
    assert_eq!(running.borrow().1, 2, "the cap");
}

/// A handler that catches its kill (a `catch_unwind` around code that
/// blocks) and goes on is not killed again. With `kill_timeout(MAX)` the
/// stop waits until it ends on its own (the bounded default is tested in
/// `net_serve`).
#[guv::test(timeout = "30s")]
fn with_an_unbounded_kill_timeout_a_handler_that_swallows_its_kill_holds_the_stop_until_it_ends() {
    let swallowed: LightQueue<()> = LightQueue::new(None);
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (swallowed, started) = (swallowed.clone(), started.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            started.put(());
            let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_byte(&mut conn)));
            assert!(first.is_err(), "the stop's kill");
            swallowed.put(());
            assert_eq!(read_byte(&mut conn)?, 0, "the client closes");
            Ok(())
        }
    };
    let server =
        StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).kill_timeout(Duration::MAX).start().unwrap();
    let c = guv::connect(server.local_addr().unwrap()).unwrap();
    started.get();
    let stopper = {
        let server = server.clone();
        guv::spawn(move || server.stop())
    };
    swallowed.get();
    // Long past the default kill_timeout of 1 s: still waiting.
    guv::sleep(Duration::from_millis(1500));
    assert!(!stopper.is_finished(), "the stop waits for the handler");
    drop(c);
    stopper.wait().unwrap();
    server.wait().unwrap();
}

/// `guv::serve` gives its caller no handle: killing the greenlet that runs
/// it is the only way to stop it from outside (as killing eventlet's
/// `serve` greenlet ends its accept loop, and gevent's `serve_forever`
/// stops its server in a `finally`). The kill must stop the server: the
/// listener closes and the running handlers are killed.
#[guv::test(timeout = "30s")]
fn killing_the_greenlet_in_serve_stops_the_server() {
    let log = Log::new();
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            started.put(());
            read_byte(&mut conn)?;
            log.push("handler returned");
            Ok(())
        }
    };
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = guv::spawn(move || guv::serve(listener, handler));
    let mut c = guv::connect(addr).unwrap();
    started.get();
    serving.kill();
    assert!(serving.wait().unwrap_err().is_killed());
    assert!(closed(&mut c), "the handler was killed");
    assert!(refused(addr), "the listener is closed");
    assert!(log.take().is_empty());
}

/// The same with a `Timeout` around `serve_forever`: serving for a while.
#[guv::test(timeout = "30s")]
fn a_timeout_around_serve_forever_stops_the_server() {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = StreamServer::new(listener, |mut conn, _| conn.write_all(b"hi"));
    let handle = server.handle();
    let r = guv::with_timeout(Duration::from_millis(50), move || server.serve_forever());
    assert!(r.unwrap_err().is_timed_out());
    assert!(handle.is_stopped());
    assert!(refused(addr));
    handle.wait().unwrap();
}

/// The child's side of the test below: an HTTP server whose process may
/// open only two more files, so that its accept fails with EMFILE on the
/// third client. It prints its port and its log.
fn wsgi_emfile_child() {
    use guv::wsgi::http::Response;
    use guv::wsgi::{Body, Server};
    guv_tests::server_log();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    guv::gyield(); // the hub and its descriptors exist from here
    guv_tests::net::limit_open_files(2);
    println!("port {port}");
    Server::new(|_req| Response::new(Body::from("hi"))).serve(listener).unwrap();
}

/// The HTTP server's accept loop is now the plain server's: it must still
/// log under `guv::wsgi` (not `guv::server`), back off, and serve the
/// client once a descriptor is free.
#[test]
fn the_http_server_logs_accept_failures_under_its_own_target_and_recovers() {
    const NAME: &str = "the_http_server_logs_accept_failures_under_its_own_target_and_recovers";
    if guv_tests::child_role().as_deref() == Some("wsgi-emfile") {
        wsgi_emfile_child();
        return;
    }
    let mut child = guv_tests::ChildLines::spawn(NAME, "wsgi-emfile");
    let mut next = |prefix: &str| child.next(prefix);
    let port: u16 = next("port ")["port ".len()..].parse().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let get = |c: &mut guv_tests::http::Client| c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let (mut a, mut b) = (guv_tests::http::Client::connect(addr), guv_tests::http::Client::connect(addr));
    for c in [&mut a, &mut b] {
        get(c);
        assert_eq!(c.read_response().unwrap().text(), "hi");
    }
    let mut c = guv_tests::http::Client::connect(addr);
    get(&mut c);
    let failed = next("log guv::wsgi ERROR accept failed");
    assert!(failed.contains("Too many open files") && failed.contains("retrying"), "{failed}");
    drop(a); // its descriptor is freed: the third is taken on a retry
    assert_eq!(c.read_response().unwrap().text(), "hi");
    drop(b);
}

/// `serve_forever` stops its server as it unwinds: also from the hub's
/// deadlock report (a handler waits for an event nobody can set once the
/// server stopped accepting), where the stop kills that handler and the
/// report goes on to the caller instead of aborting the process.
#[test]
fn a_deadlock_report_in_serve_forever_kills_the_stuck_handler_and_propagates() {
    let never = Event::new();
    let log = Log::new();
    let handler = {
        let (never, log) = (never.clone(), log.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            let mut word = [0u8; 4];
            conn.read_exact(&mut word)?;
            if &word == b"stop" {
                return Err(StopServe.into());
            }
            let _dropped = Dropped(log.clone());
            never.wait();
            Ok(())
        }
    };
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Clients on another thread: nothing of theirs can wake this hub.
    let clients = std::thread::spawn(move || {
        let mut stuck = std::net::TcpStream::connect(addr).unwrap();
        stuck.write_all(b"wait").unwrap();
        let mut stopper = std::net::TcpStream::connect(addr).unwrap();
        stopper.write_all(b"stop").unwrap();
        let mut rest = Vec::new();
        let _ = stuck.read_to_end(&mut rest);
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        StreamServer::new(listener, handler).concurrency(1).serve_forever()
    }));
    let msg = r.expect_err("the deadlock report");
    let msg = msg.downcast_ref::<&str>().copied().or(msg.downcast_ref::<String>().map(String::as_str)).unwrap_or("?");
    assert!(msg.contains("would block forever"), "{msg}");
    assert_eq!(log.take(), ["stuck handler dropped"]);
    clients.join().unwrap();
}

/// Logs when dropped: a handler's destructors ran.
struct Dropped(Log);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.push("stuck handler dropped");
    }
}

/// `wait` returning means the server has stopped: its listener is closed
/// and the port can be bound again, also when `wait` is called while
/// another greenlet's stop is still closing it.
#[guv::test(timeout = "30s")]
fn once_wait_returns_the_listener_is_closed() {
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), |_, _| Ok(())).start().unwrap();
    let addr = server.local_addr().unwrap();
    let stopper = {
        let server = server.clone();
        guv::spawn(move || server.stop())
    };
    guv::gyield(); // the stopper runs: the stop is under way
    assert!(server.is_stopped());
    server.wait().unwrap();
    assert!(refused(addr), "wait returned with the listener still open");
    drop(guv::listen(addr).unwrap());
    stopper.wait().unwrap();
}
