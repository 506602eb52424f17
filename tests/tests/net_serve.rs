//! The plain TCP server (`guv::serve`, `guv::StreamServer`,
//! `guv::ServerHandle`, `guv::StopServe`) through the public API, on real
//! sockets on 127.0.0.1 with guv clients and a Python one.

use std::cell::{Cell, OnceCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use guv::net::TcpStream;
use guv::queue::LightQueue;
use guv::{ServerHandle, StopServe, StreamServer};
use guv_tests::{Log, XorShift};

/// Echoes until the client shuts its side down.
fn echo(mut conn: TcpStream, _peer: SocketAddr) -> io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}

/// Logs `what` when dropped: a handler's destructors ran.
struct Dropped(Log, String);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.push(std::mem::take(&mut self.1));
    }
}

use guv_tests::net::refused;

/// Reads one byte: what a client that gets no answer sees (0 at EOF).
fn read_byte(c: &mut TcpStream) -> io::Result<usize> {
    c.read(&mut [0u8; 1])
}

#[guv::test(timeout = "60s")]
fn echo_serves_many_concurrent_clients_with_every_byte_checked() {
    const CLIENTS: u64 = 200;
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), echo).start().unwrap();
    let addr = server.local_addr().unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            guv::spawn(move || {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (i + 1));
                let len = 1000 + (rng.next_u64() % 100_000) as usize;
                let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                let mut c = guv::connect(addr).unwrap();
                let writer = {
                    let (mut w, data) = (c.try_clone().unwrap(), data.clone());
                    guv::spawn(move || {
                        for chunk in data.chunks(7919) {
                            w.write_all(chunk).unwrap();
                        }
                        w.shutdown(Shutdown::Write).unwrap();
                    })
                };
                let mut back = Vec::new();
                c.read_to_end(&mut back).unwrap();
                writer.wait().unwrap();
                assert_eq!(back.len(), data.len(), "client {i}: echoed length");
                assert!(back == data, "client {i}: echoed bytes differ");
                len
            })
        })
        .collect();
    let total: usize = clients.into_iter().map(|c| c.wait().unwrap()).sum();
    assert!(total >= 1000 * CLIENTS as usize);
    server.stop();
    server.wait().unwrap();
}

#[guv::test(timeout = "30s")]
fn guv_serve_echoes_a_python_client() {
    guv_tests::http::require_tool("python3", &["-c", "pass"]);
    const PY_CLIENT: &str = r#"
import socket, sys
data = bytes((i * 31 + 7) % 256 for i in range(300000))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(data)
s.shutdown(socket.SHUT_WR)
back = bytearray()
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    back += chunk
print(len(back), back == data)
"#;
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = guv::spawn(move || {
        let out = guv::green::process::Command::new("python3").args(["-c", PY_CLIENT, &port.to_string()]).output();
        out.unwrap()
    });
    let served = Rc::new(Cell::new(0));
    let s = served.clone();
    // The Python client's connection is echoed; the server stops after it.
    guv::serve(listener, move |conn, peer| {
        assert_eq!(peer.ip().to_string(), "127.0.0.1");
        echo(conn, peer)?;
        s.set(s.get() + 1);
        Err(StopServe.into())
    })
    .unwrap();
    let out = client.wait().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "300000 True\n");
    assert_eq!(served.get(), 1);
}

#[guv::test(timeout = "30s")]
fn the_concurrency_cap_holds_and_the_next_connection_waits_for_a_slot() {
    const CAP: usize = 3;
    let running = Rc::new(Cell::new(0usize));
    let peak = Rc::new(Cell::new(0usize));
    let started: LightQueue<u8> = LightQueue::new(None);
    let log = Log::new();
    let handler = {
        let (running, peak, started, log) = (running.clone(), peak.clone(), started.clone(), log.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            let mut who = [0u8; 1];
            conn.read_exact(&mut who)?;
            running.set(running.get() + 1);
            peak.set(peak.get().max(running.get()));
            log.push(format!("start {}", who[0]));
            started.put(who[0]);
            // Held until the client says so.
            let mut release = [0u8; 1];
            conn.read_exact(&mut release)?;
            log.push(format!("end {}", who[0]));
            running.set(running.get() - 1);
            conn.write_all(b"bye")
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).concurrency(CAP).start().unwrap();
    let addr = server.local_addr().unwrap();
    let mut clients: Vec<TcpStream> = (0..=CAP as u8)
        .map(|i| {
            let mut c = guv::connect(addr).unwrap();
            c.write_all(&[i]).unwrap();
            c
        })
        .collect();
    let mut first: Vec<u8> = (0..CAP).map(|_| started.get()).collect();
    first.sort();
    assert_eq!(first, [0, 1, 2], "the first {CAP} connections are served");
    // The fourth is connected and has sent its byte, but gets no handler
    // while three run (a generous bound: without the cap it starts at once).
    assert!(started.get_timeout(Duration::from_millis(300)).is_err(), "a fourth handler started");
    assert_eq!(running.get(), CAP);
    // Freeing one slot lets it in.
    clients[1].write_all(b"x").unwrap();
    let mut bye = [0u8; 3];
    clients[1].read_exact(&mut bye).unwrap();
    assert_eq!(started.get(), CAP as u8);
    let events = log.take();
    let end1 = events.iter().position(|e| e == "end 1").unwrap();
    let start3 = events.iter().position(|e| e == "start 3").unwrap();
    assert!(end1 < start3, "{events:?}");
    for i in [0, 2, 3] {
        clients[i].write_all(b"x").unwrap();
        clients[i].read_exact(&mut bye).unwrap();
        assert_eq!(&bye, b"bye");
    }
    assert_eq!(peak.get(), CAP, "at most {CAP} handlers at once");
    server.stop();
}

#[guv::test(timeout = "30s")]
fn a_panicking_handler_is_logged_and_the_server_goes_on() {
    guv::debug::hub_exceptions(false);
    guv_tests::server_log();
    let handler = |mut conn: TcpStream, peer: SocketAddr| -> io::Result<()> {
        let mut first = [0u8; 1];
        conn.read_exact(&mut first)?;
        match first[0] {
            b'!' => panic!("boom from {}", peer.port()),
            b'e' => Err(io::Error::new(io::ErrorKind::InvalidData, "a bad request")),
            _ => conn.write_all(&first),
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).start().unwrap();
    let addr = server.local_addr().unwrap();
    for round in 0..3 {
        let mut bad = guv::connect(addr).unwrap();
        let port = bad.local_addr().unwrap().port();
        bad.write_all(b"!").unwrap();
        assert_eq!(read_byte(&mut bad).unwrap(), 0, "round {round}: the panicked handler's socket closed");
        let panicked = format!("guv::server ERROR 127.0.0.1:{port}: the handler panicked: boom from {port}");
        assert!(guv_tests::server_log().contains(&panicked), "{:?}", guv_tests::server_log());

        let mut failing = guv::connect(addr).unwrap();
        let port = failing.local_addr().unwrap().port();
        failing.write_all(b"e").unwrap();
        assert_eq!(read_byte(&mut failing).unwrap(), 0);
        let failed = format!("guv::server WARN 127.0.0.1:{port}: the handler failed: a bad request");
        assert!(guv_tests::server_log().contains(&failed), "{:?}", guv_tests::server_log());

        let mut good = guv::connect(addr).unwrap();
        good.write_all(b"k").unwrap();
        let mut back = [0u8; 1];
        good.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"k", "round {round}: still serving");
    }
    assert!(!server.is_stopped());
    server.stop();
}

/// A server whose handlers each hold a [`Dropped`] guard and park reading a
/// client that never writes; returns it with the clients, once all started.
fn parked_handlers(n: usize, log: &Log) -> (ServerHandle, Vec<TcpStream>) {
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |mut conn: TcpStream, peer: SocketAddr| -> io::Result<()> {
            let _guard = Dropped(log.clone(), format!("dropped {}", peer.port()));
            started.put(());
            read_byte(&mut conn)?;
            log.push(format!("returned {}", peer.port()));
            Ok(())
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).start().unwrap();
    let addr = server.local_addr().unwrap();
    let clients: Vec<TcpStream> = (0..n).map(|_| guv::connect(addr).unwrap()).collect();
    for _ in 0..n {
        started.get();
    }
    (server, clients)
}

#[guv::test(timeout = "30s")]
fn stop_kills_handlers_parked_in_reads_and_returns_once_they_unwound() {
    let log = Log::new();
    let (server, mut clients) = parked_handlers(5, &log);
    let addr = server.local_addr().unwrap();
    assert!(log.take().is_empty());
    server.stop();
    // Every guard ran before stop returned; no handler got past its read.
    let mut events = log.take();
    events.sort();
    let mut expected: Vec<String> =
        clients.iter().map(|c| format!("dropped {}", c.local_addr().unwrap().port())).collect();
    expected.sort();
    assert_eq!(events, expected);
    assert!(server.is_stopped());
    assert!(refused(addr), "the listener is closed");
    for c in &mut clients {
        assert_eq!(read_byte(c).unwrap(), 0, "the handler's socket closed");
    }
    server.wait().unwrap();
    server.stop(); // again: nothing left to do
    assert_eq!(log.take().len(), 5);
}

#[guv::test(timeout = "30s")]
fn stop_timeout_lets_a_handler_finish_in_time_and_kills_one_that_does_not() {
    let log = Log::new();
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            let mut name = [0u8; 4];
            conn.read_exact(&mut name)?;
            let name = String::from_utf8_lossy(&name).into_owned();
            let _guard = Dropped(log.clone(), format!("{name} dropped"));
            started.put(());
            read_byte(&mut conn)?; // "slow" never gets its byte
            log.push(format!("{name} finished"));
            conn.write_all(b"done")
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).start().unwrap();
    let addr = server.local_addr().unwrap();
    let mut quick = guv::connect(addr).unwrap();
    quick.write_all(b"quik").unwrap();
    let mut slow = guv::connect(addr).unwrap();
    slow.write_all(b"slow").unwrap();
    started.get();
    started.get();

    let stopper = {
        let (server, log) = (server.clone(), log.clone());
        guv::spawn(move || {
            let in_time = server.stop_timeout(Duration::from_secs(1));
            log.push(format!("stop_timeout returned {in_time}"));
        })
    };
    guv::gyield(); // the stopper runs: the stop has begun
    assert!(server.is_stopped());
    assert!(log.take().is_empty(), "nothing is killed before the deadline");
    // Within the grace period the quick handler finishes its work.
    quick.write_all(b"x").unwrap();
    let mut answer = String::new();
    quick.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "done");
    assert!(refused(addr), "the listener closed when the stop began");
    assert!(!log.take().contains(&"slow dropped".to_string()), "still within the grace period");
    stopper.wait().unwrap();
    assert_eq!(
        log.take(),
        ["quik finished", "quik dropped", "slow dropped", "stop_timeout returned false"],
        "the slow one is killed at the deadline, before stop_timeout returns"
    );
    assert_eq!(read_byte(&mut slow).unwrap(), 0);
    server.wait().unwrap();
}

#[guv::test(timeout = "30s")]
fn stop_timeout_returns_true_when_every_handler_finishes() {
    let log = Log::new();
    let (server, clients) = parked_handlers(2, &log);
    let stopper = {
        let server = server.clone();
        guv::spawn(move || server.stop_timeout(Duration::from_secs(30)))
    };
    guv::gyield();
    for mut c in clients {
        c.write_all(b"x").unwrap();
    }
    assert!(stopper.wait().unwrap(), "both finished within the grace period");
    let events = log.take();
    assert_eq!(events.iter().filter(|e| e.starts_with("returned")).count(), 2, "{events:?}");
}

#[guv::test(timeout = "30s")]
fn the_listener_is_closed_after_stop_even_with_no_connection() {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = StreamServer::new(listener, echo).start().unwrap();
    server.stop();
    assert!(refused(addr));
    server.wait().unwrap();

    // Stopped before it starts: serve_forever returns at once, listener closed.
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = StreamServer::new(listener, echo);
    server.handle().stop();
    server.serve_forever().unwrap();
    assert!(refused(addr));
}

#[guv::test(timeout = "30s")]
fn a_handler_returning_stop_serve_ends_guv_serve_after_the_others_finish() {
    let log = Log::new();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            let mut word = [0u8; 4];
            conn.read_exact(&mut word)?;
            if &word == b"stop" {
                log.push("stop");
                return Err(StopServe.into());
            }
            started.put(());
            read_byte(&mut conn)?;
            log.push("other finished");
            conn.write_all(b"done")
        }
    };
    let clients = {
        let log = log.clone();
        guv::spawn(move || {
            let mut other = guv::connect(addr).unwrap();
            other.write_all(b"wait").unwrap();
            started.get();
            let mut stopper = guv::connect(addr).unwrap();
            stopper.write_all(b"stop").unwrap();
            assert_eq!(read_byte(&mut stopper).unwrap(), 0);
            // The server stopped accepting; the other handler still runs.
            assert!(refused(addr));
            log.push("refused");
            other.write_all(b"x").unwrap();
            let mut answer = String::new();
            other.read_to_string(&mut answer).unwrap();
            answer
        })
    };
    guv::serve(listener, handler).unwrap();
    log.push("serve returned");
    assert_eq!(clients.wait().unwrap(), "done");
    assert_eq!(log.take(), ["stop", "refused", "other finished", "serve returned"]);
}

#[guv::test(timeout = "30s")]
fn a_handler_stops_its_server_through_a_captured_handle() {
    let log = Log::new();
    let started: LightQueue<()> = LightQueue::new(None);
    let me: Rc<OnceCell<ServerHandle>> = Rc::new(OnceCell::new());
    let handler = {
        let (log, started, me) = (log.clone(), started.clone(), me.clone());
        move |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
            let mut word = [0u8; 4];
            conn.read_exact(&mut word)?;
            let _guard = Dropped(log.clone(), format!("{} dropped", String::from_utf8_lossy(&word)));
            if &word == b"stop" {
                let server = me.get().expect("the handle is set after start").clone();
                let waited = server.wait().unwrap_err();
                assert_eq!(waited.kind(), io::ErrorKind::Deadlock, "{waited}");
                server.stop(); // kills the others, not this handler
                log.push("stop returned");
                return conn.write_all(b"stopped");
            }
            started.put(());
            read_byte(&mut conn)?;
            log.push("idle finished");
            Ok(())
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).start().unwrap();
    me.set(server.clone()).unwrap();
    let addr = server.local_addr().unwrap();
    let mut idle = guv::connect(addr).unwrap();
    idle.write_all(b"idle").unwrap();
    started.get();
    let mut stopper = guv::connect(addr).unwrap();
    stopper.write_all(b"stop").unwrap();
    let mut answer = String::new();
    stopper.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "stopped");
    server.wait().unwrap();
    assert_eq!(log.take(), ["idle dropped", "stop returned", "stop dropped"]);
    assert_eq!(read_byte(&mut idle).unwrap(), 0);
    assert!(refused(addr));
}

/// Parks in its destructor (a green sleep) before it logs: what a handler
/// that closes something politely on its way out does.
struct SlowDrop(Log, String);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        guv::sleep(Duration::from_millis(5));
        self.0.push(std::mem::take(&mut self.1));
    }
}

#[guv::test(timeout = "30s")]
fn stop_waits_for_killed_handlers_whose_destructors_block() {
    let log = Log::new();
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |mut conn: TcpStream, peer: SocketAddr| -> io::Result<()> {
            let _guard = SlowDrop(log.clone(), format!("closed {}", peer.port()));
            started.put(());
            read_byte(&mut conn)?;
            Ok(())
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).start().unwrap();
    let addr = server.local_addr().unwrap();
    let _clients: Vec<TcpStream> = (0..3).map(|_| guv::connect(addr).unwrap()).collect();
    for _ in 0..3 {
        started.get();
    }
    server.stop();
    log.push("stop returned");
    let events = log.take();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3], "stop returned", "{events:?}");
}

/// The first connection's handler swallows the stop's kill: says it
/// started, catches the kill around its first read, logs that, then echoes one byte and reads
/// until its client closes. Ordinary handlers park in a read.
fn stubborn_and_ordinary(log: &Log, kill_timeout: Option<Duration>) -> (ServerHandle, TcpStream, Vec<TcpStream>) {
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started, count) = (log.clone(), started.clone(), Cell::new(0));
        move |mut conn: TcpStream, _peer: SocketAddr| -> io::Result<()> {
            count.set(count.get() + 1);
            let stubborn = count.get() == 1;
            let _guard = Dropped(log.clone(), format!("ended {}", if stubborn { "stubborn" } else { "ordinary" }));
            started.put(());
            if !stubborn {
                read_byte(&mut conn)?;
                return Ok(());
            }
            let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_byte(&mut conn)));
            assert!(first.is_err(), "the stop's kill");
            log.push("stubborn swallowed its kill");
            let mut byte = [0u8; 1];
            conn.read_exact(&mut byte)?;
            conn.write_all(&byte)?;
            while read_byte(&mut conn)? > 0 {}
            Ok(())
        }
    };
    let mut builder = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler);
    if let Some(t) = kill_timeout {
        builder = builder.kill_timeout(t);
    }
    let server = builder.start().unwrap();
    let addr = server.local_addr().unwrap();
    let stubborn = guv::connect(addr).unwrap();
    started.get(); // the first handler: the stubborn one
    let ordinary: Vec<TcpStream> = (0..2).map(|_| guv::connect(addr).unwrap()).collect();
    for _ in 0..2 {
        started.get();
    }
    (server, stubborn, ordinary)
}

/// gevent's `stop()` gives up on handlers that survive their kill after
/// 1 s; so does guv's by default: `stop` returns (it used to wait for such
/// a handler for ever), the ordinary handlers killed and their sockets
/// closed first, the stubborn one still running and serving.
#[guv::test(timeout = "30s")]
fn stop_gives_up_on_a_handler_that_swallows_its_kill_and_still_kills_the_others() {
    let log = Log::new();
    let (server, mut stubborn, mut ordinary) = stubborn_and_ordinary(&log, None);
    let addr = server.local_addr().unwrap();
    let stopped = guv::with_timeout(Duration::from_secs(20), || server.stop());
    assert!(stopped.is_ok(), "stop must return although a handler survived its kill");
    log.push("stop returned");
    let events = log.take();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3], "stop returned", "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "ended ordinary").count(), 2, "{events:?}");
    assert!(events.contains(&"stubborn swallowed its kill".to_string()), "{events:?}");
    for c in &mut ordinary {
        assert_eq!(read_byte(c).unwrap(), 0, "a killed handler's socket closed before stop returned");
    }
    assert!(refused(addr), "the listener is closed");
    // `wait` does not wait for the handler given up on either.
    server.wait().unwrap();
    // The stubborn handler still runs and serves its client.
    stubborn.write_all(b"x").unwrap();
    let mut echoed = [0u8; 1];
    stubborn.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"x");
    stubborn.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_byte(&mut stubborn).unwrap(), 0, "it ends once its client closes");
    // Its end is counted: another stop or wait returns at once.
    server.stop();
    server.wait().unwrap();
    assert_eq!(log.take().last().map(String::as_str), Some("ended stubborn"));
}

/// With a short `kill_timeout` and a grace period, `stop_timeout` reports
/// `false` (a handler had to be killed, and one was given up on), and
/// `serve_forever`'s `wait` returns once that stop did.
#[guv::test(timeout = "30s")]
fn stop_timeout_gives_up_after_the_kill_timeout_and_reports_false() {
    let log = Log::new();
    let (server, stubborn, ordinary) = stubborn_and_ordinary(&log, Some(Duration::from_millis(50)));
    let waiter = {
        let server = server.clone();
        guv::spawn(move || server.wait())
    };
    let in_time = guv::with_timeout(Duration::from_secs(20), || server.stop_timeout(Duration::from_millis(10)));
    assert_eq!(in_time.ok(), Some(false));
    waiter.wait().unwrap().unwrap();
    log.push("stop returned");
    let events = log.take();
    assert_eq!(events.last().map(String::as_str), Some("stop returned"), "{events:?}");
    assert!(!events.contains(&"ended stubborn".to_string()), "{events:?}");
    drop(ordinary);
    // Its read fails at the client's end of stream; then it ends, which
    // closes its socket.
    let mut stubborn = stubborn;
    stubborn.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_byte(&mut stubborn).unwrap(), 0);
    server.wait().unwrap();
    assert_eq!(log.take().last().map(String::as_str), Some("ended stubborn"));
}

#[guv::test(timeout = "30s")]
fn stop_drops_a_connection_waiting_for_a_slot() {
    let log = Log::new();
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |mut conn: TcpStream, peer: SocketAddr| -> io::Result<()> {
            log.push(format!("started {}", peer.port()));
            started.put(());
            read_byte(&mut conn)?;
            Ok(())
        }
    };
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).concurrency(1).start().unwrap();
    let addr = server.local_addr().unwrap();
    let mut first = guv::connect(addr).unwrap();
    started.get();
    let mut second = guv::connect(addr).unwrap();
    // Taken by the acceptor, which waits for the one slot (or still in the
    // backlog): either way the stop must not wait for it, nor run it.
    assert!(started.get_timeout(Duration::from_millis(100)).is_err());
    server.stop();
    server.wait().unwrap();
    assert_eq!(log.take(), [format!("started {}", first.local_addr().unwrap().port())]);
    assert_eq!(read_byte(&mut first).unwrap(), 0);
    match read_byte(&mut second) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(refused(addr));
}

/// The child's side of the test below: an echo server whose process may
/// open only two more files, so that it runs out of descriptors in
/// `accept` (EMFILE) on the third client. It prints its port and its log.
fn emfile_child() {
    guv_tests::server_log();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handler = |mut conn: TcpStream, peer: SocketAddr| -> io::Result<()> {
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf)?;
        if &buf == b"quit" {
            return Err(StopServe.into());
        }
        conn.write_all(&buf)?;
        echo(conn, peer)
    };
    let server = StreamServer::new(listener, handler).start().unwrap();
    guv_tests::net::limit_open_files(2);
    println!("port {port}");
    server.wait().unwrap();
    println!("served");
}

#[test]
fn accept_out_of_descriptors_backs_off_and_serves_once_some_are_freed() {
    const NAME: &str = "accept_out_of_descriptors_backs_off_and_serves_once_some_are_freed";
    if guv_tests::child_role().as_deref() == Some("emfile") {
        emfile_child();
        return;
    }
    let mut child = guv_tests::ChildLines::spawn(NAME, "emfile");
    let mut next = |prefix: &str| child.next(prefix);
    let port: u16 = next("port ")["port ".len()..].parse().unwrap();
    let connect = |first: &[u8]| {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(first).unwrap();
        c
    };
    let echoed = |c: &mut std::net::TcpStream, what: &[u8]| {
        let mut back = [0u8; 4];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, what);
    };
    let (mut a, mut b) = (connect(b"aaaa"), connect(b"bbbb"));
    echoed(&mut a, b"aaaa");
    echoed(&mut b, b"bbbb");
    // No descriptor is left for a third: accept fails, the server logs it
    // and tries again after a pause, leaving the client in the backlog.
    let mut c = connect(b"cccc");
    let failed = next("log guv::server ERROR accept failed");
    assert!(failed.contains("Too many open files"), "{failed}");
    // One handler ends: its descriptor is free, the third is served.
    drop(a);
    echoed(&mut c, b"cccc");
    drop(b);
    let mut quit = connect(b"quit");
    assert_eq!(quit.read(&mut [0u8; 1]).unwrap(), 0, "the stopping handler closes");
    drop(c);
    next("served");
    assert!(child.success());
}

#[guv::test(timeout = "30s")]
fn a_handler_whose_own_timeout_expires_frees_its_slot_and_is_logged() {
    guv_tests::server_log();
    let handler = |mut conn: TcpStream, _: SocketAddr| -> io::Result<()> {
        let mut first = [0u8; 1];
        conn.read_exact(&mut first)?;
        if &first == b"t" {
            let _limit = guv::Timeout::start(Duration::from_millis(20));
            read_byte(&mut conn)?; // nothing more comes: the Timeout unwinds this
            unreachable!("the client sends nothing more");
        }
        conn.write_all(b"served")
    };
    // One slot: the second client is served only if the first gives it back.
    let server = StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), handler).concurrency(1).start().unwrap();
    let addr = server.local_addr().unwrap();
    let mut slow = guv::connect(addr).unwrap();
    let port = slow.local_addr().unwrap().port();
    slow.write_all(b"t").unwrap();
    let mut next = guv::connect(addr).unwrap();
    next.write_all(b"n").unwrap();
    let mut answer = String::new();
    next.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "served");
    assert_eq!(read_byte(&mut slow).unwrap(), 0, "the timed-out handler's socket closed");
    let expected =
        format!("guv::server WARN 127.0.0.1:{port}: the handler timed out (a guv::Timeout it started expired)");
    assert!(guv_tests::server_log().contains(&expected), "{:?}", guv_tests::server_log());
    server.stop();
}

/// Shuts `listener`'s socket down for reading through a duplicate of its
/// fd: a listening socket shut down so refuses connections, and `accept`
/// on it fails with EINVAL for good.
fn shut_down_later(listener: &guv::net::TcpListener) -> impl FnOnce() + use<> {
    use std::os::fd::AsFd;
    let dup = std::net::TcpStream::from(listener.as_fd().try_clone_to_owned().unwrap());
    move || dup.shutdown(Shutdown::Read).unwrap()
}

#[guv::test(timeout = "30s")]
fn a_listener_that_cannot_accept_stops_the_server_and_wait_reports_it() {
    guv_tests::server_log(); // the logger is in place before the server runs
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shut_down = shut_down_later(&listener);
    let (started, finish) = (guv::Event::new(), guv::Event::new());
    let (s, f) = (started.clone(), finish.clone());
    let server = StreamServer::new(listener, move |mut conn, _| {
        s.set();
        f.wait();
        conn.write_all(b"finished")
    })
    .start()
    .unwrap();
    let mut client = guv::connect(addr).unwrap();
    started.wait();

    shut_down();
    let waiter = {
        let server = server.clone();
        guv::spawn(move || server.wait())
    };
    // The accept greenlet sees the failure once the hub polls the
    // listener's readiness: wait for that (the condition, not a time).
    while !server.is_stopped() {
        guv::sleep(Duration::from_millis(1));
    }
    // The server stops accepting, as on a StopServe, and lets the running
    // handler finish: wait has not returned yet.
    assert!(!waiter.is_finished());
    finish.set();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "finished");
    let err = waiter.wait().unwrap().expect_err("the listener's failure is reported");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("cannot accept"), "{err}");
    assert!(refused(addr));
    // Logged once, not retried every few milliseconds.
    let fatal = guv_tests::server_log()
        .iter()
        .filter(|l| l.starts_with("guv::server ERROR") && l.contains("cannot accept"))
        .count();
    assert_eq!(fatal, 1, "{:?}", guv_tests::server_log());
}

#[guv::test(timeout = "30s")]
fn the_http_server_stops_when_its_listener_cannot_accept() {
    use guv::wsgi::http::{Request, Response};
    use guv::wsgi::{Body, Server};
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let shut_down = shut_down_later(&listener);
    let server = guv::spawn(move || Server::new(|_req: Request<Body>| Response::new(Body::empty())).serve(listener));
    guv::gyield(); // the server parks in accept
    assert!(!server.is_finished());
    shut_down();
    let err = server.wait().unwrap().expect_err("serve reports the listener's failure");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
}
