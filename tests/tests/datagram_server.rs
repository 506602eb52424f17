//! The datagram server (`guv::DatagramServer`, `guv::DatagramHandle`,
//! `guv::server::Datagram`) through the public API, on real UDP sockets on
//! 127.0.0.1 and real Unix datagram sockets in a temp dir, with guv
//! clients and Python ones.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use guv::net::UdpSocket;
use guv::net::unix::UnixDatagram;
use guv::queue::LightQueue;
use guv::server::Datagram;
use guv::{DatagramServer, Event, StopServe};
use guv_tests::fs::TempDir;
use guv_tests::net::sockets_at;
use guv_tests::{Log, XorShift};

/// Logs `what` when dropped: a handler's destructors ran.
struct Dropped(Log, String);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.push(std::mem::take(&mut self.1));
    }
}

/// A UDP client socket on 127.0.0.1, connected to `server`.
/// The server's socket at `addr` (its inode), which must be open: a later
/// [`sockets_at`] disjoint from it shows that it was closed.
fn server_socket(addr: SocketAddr) -> std::collections::HashSet<String> {
    let held = sockets_at(addr);
    assert_eq!(held.len(), 1, "the server socket is open");
    held
}

fn udp_client(server: SocketAddr) -> UdpSocket {
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.connect(server).unwrap();
    c
}

/// A Unix datagram client bound to `dir/name` (so that it can be
/// answered), connected to `server`.
fn unix_client(dir: &Path, name: &str, server: &Path) -> UnixDatagram {
    let c = UnixDatagram::bind(dir.join(name)).unwrap();
    c.connect(server).unwrap();
    c
}

/// One received datagram, as bytes.
fn recv_udp(c: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65_536];
    let n = c.recv(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn recv_unix(c: &UnixDatagram) -> Vec<u8> {
    let mut buf = vec![0u8; 65_536];
    let n = c.recv(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// `len` seeded pseudo-random bytes.
fn payload(rng: &mut XorShift, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[guv::test(timeout = "60s")]
fn udp_echo_serves_many_concurrent_clients_with_every_byte_checked() {
    // Each client keeps one datagram in flight, so the server's receive
    // buffer (rmem_default, 208 KiB) never overflows and UDP loses none.
    const CLIENTS: u64 = 64;
    const ROUNDS: usize = 20;
    let handled = Rc::new(Cell::new(0usize));
    let h = handled.clone();
    let server = DatagramServer::bind_udp("127.0.0.1:0", move |d| {
        h.set(h.get() + 1);
        guv::gyield(); // interleave the handlers
        d.reply(d.data())?;
        Ok(())
    })
    .unwrap()
    .start()
    .unwrap();
    let addr = server.local_addr().unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            guv::spawn(move || {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (i + 1));
                let c = udp_client(addr);
                let mut bytes = 0;
                for round in 0..ROUNDS {
                    // Empty datagrams too, up to one that fills a loopback MTU.
                    let len = if round == 0 { 0 } else { rng.below(3000) };
                    let data = payload(&mut rng, len);
                    c.send(&data).unwrap();
                    let back = recv_udp(&c);
                    assert_eq!(back.len(), data.len(), "client {i} round {round}: echoed length");
                    assert!(back == data, "client {i} round {round}: echoed bytes differ");
                    bytes += len;
                }
                bytes
            })
        })
        .collect();
    let total: usize = clients.into_iter().map(|c| c.wait().unwrap()).sum();
    assert!(total > 1000 * CLIENTS as usize);
    assert_eq!(handled.get(), CLIENTS as usize * ROUNDS);
    server.stop();
    server.wait().unwrap();
}

#[guv::test(timeout = "60s")]
fn udp_datagrams_up_to_the_largest_payload_arrive_whole_by_default() {
    let server = DatagramServer::bind_udp("127.0.0.1:0", |d| {
        assert!(!d.is_truncated());
        d.reply(&d.data().len().to_be_bytes())?;
        d.reply(d.data())?;
        Ok(())
    })
    .unwrap()
    .start()
    .unwrap();
    let c = udp_client(server.local_addr().unwrap());
    let mut rng = XorShift(7);
    // 65 507: the largest UDP payload over IPv4.
    for len in [65_507, 65_000, 40_000, 1] {
        let data = payload(&mut rng, len);
        c.send(&data).unwrap();
        assert_eq!(recv_udp(&c), len.to_be_bytes());
        let back = recv_udp(&c);
        assert!(back == data, "{len} bytes echoed");
    }
    server.stop();
}

#[guv::test(timeout = "60s")]
fn unix_echo_serves_many_concurrent_clients_with_every_byte_checked() {
    const CLIENTS: usize = 32;
    const ROUNDS: usize = 20;
    let dir = TempDir::new("dgram", "unix-echo");
    let path = dir.path().join("server.sock");
    let peers = Log::new();
    let p = peers.clone();
    let server = DatagramServer::bind_unix(&path, move |d| {
        p.push(format!("{:?}", d.peer().as_pathname()));
        guv::gyield();
        d.reply(d.data())?;
        Ok(())
    })
    .unwrap()
    .start()
    .unwrap();
    assert_eq!(server.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (dir, path) = (dir.path().to_owned(), path.clone());
            guv::spawn(move || {
                let mut rng = XorShift(0xDEAD_BEEF ^ (i as u64 + 1));
                let c = unix_client(&dir, &format!("client-{i}.sock"), &path);
                for round in 0..ROUNDS {
                    // Longer than UDP's 64 KiB once, which a Unix datagram can be.
                    let len = if round == 3 { 100_000 } else { rng.below(5000) };
                    let data = payload(&mut rng, len);
                    c.send(&data).unwrap();
                    let mut buf = vec![0u8; 200_000];
                    let n = c.recv(&mut buf).unwrap();
                    let expect = len.min(guv::server::DEFAULT_MAX_DATAGRAM_SIZE);
                    assert_eq!(n, expect, "client {i} round {round}: echoed length");
                    assert!(buf[..n] == data[..expect], "client {i} round {round}: echoed bytes differ");
                }
            })
        })
        .collect();
    for c in clients {
        c.wait().unwrap();
    }
    let peers = peers.take();
    assert_eq!(peers.len(), CLIENTS * ROUNDS);
    assert!(peers.iter().all(|p| p.contains("client-")), "{:?}", &peers[..3]);
    server.stop();
    server.wait().unwrap();
}

/// A Python client: `udp PORT` or `unix SERVER_PATH CLIENT_PATH`; sends 200
/// datagrams of every length pattern and checks each echo.
const PY_CLIENT: &str = r#"
import socket, sys
if sys.argv[1] == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.connect(("127.0.0.1", int(sys.argv[2])))
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sys.argv[3])
    s.connect(sys.argv[2])
s.settimeout(20)
ok = 0
for i in range(200):
    data = bytes((i * 31 + j * 7) % 256 for j in range(i * 37))
    s.send(data)
    back = s.recv(65536)
    if back == b"echo:" + data:
        ok += 1
print(ok)
"#;

fn python_echo_server_handler<S: guv::server::DatagramSocket>(d: Datagram<'_, S>) -> io::Result<()> {
    let mut answer = b"echo:".to_vec();
    answer.extend_from_slice(d.data());
    d.reply(&answer)?;
    Ok(())
}

fn run_python(args: &[&str]) -> String {
    let mut all = vec!["-c", PY_CLIENT];
    all.extend_from_slice(args);
    let out = guv::green::process::Command::new("python3").args(&all).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[guv::test(timeout = "60s")]
fn a_python_udp_client_is_answered() {
    guv_tests::http::require_tool("python3", &["-c", "pass"]);
    let server = DatagramServer::bind_udp("127.0.0.1:0", python_echo_server_handler).unwrap().start().unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    assert_eq!(run_python(&["udp", &port]), "200\n");
    server.stop();
}

#[guv::test(timeout = "60s")]
fn a_python_unix_datagram_client_is_answered() {
    guv_tests::http::require_tool("python3", &["-c", "pass"]);
    let dir = TempDir::new("dgram", "python-unix");
    let path = dir.path().join("server.sock");
    let server = DatagramServer::bind_unix(&path, python_echo_server_handler).unwrap().start().unwrap();
    let client_path = dir.path().join("py.sock");
    assert_eq!(run_python(&["unix", path.to_str().unwrap(), client_path.to_str().unwrap()]), "200\n");
    server.stop();
}

#[guv::test(timeout = "30s")]
fn the_cap_holds_and_datagrams_beyond_it_wait_unread_in_the_kernel_buffer() {
    const CAP: usize = 3;
    const EXTRA: u8 = 3;
    let total = CAP as u8 + EXTRA;
    let running = Rc::new(Cell::new(0usize));
    let peak = Rc::new(Cell::new(0usize));
    let started: LightQueue<u8> = LightQueue::new(None);
    let release: Rc<HashMap<u8, Event>> = Rc::new((0..total).map(|i| (i, Event::new())).collect());
    let log = Log::new();
    let handler = {
        let (running, peak, started, release, log) =
            (running.clone(), peak.clone(), started.clone(), release.clone(), log.clone());
        move |d: Datagram<'_, UdpSocket>| -> io::Result<()> {
            let who = d.data()[0];
            running.set(running.get() + 1);
            peak.set(peak.get().max(running.get()));
            log.push(format!("start {who}"));
            started.put(who);
            release[&who].wait();
            log.push(format!("end {who}"));
            running.set(running.get() - 1);
            d.reply(&[who])?;
            Ok(())
        }
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A second descriptor of the server's socket: peeking at it shows what
    // is still in the kernel buffer without taking it.
    let probe = socket.try_clone().unwrap();
    let server = DatagramServer::new(socket, handler).concurrency(CAP).start().unwrap();
    let c = udp_client(server.local_addr().unwrap());
    for i in 0..CAP as u8 {
        c.send(&[i]).unwrap();
    }
    let mut first: Vec<u8> = (0..CAP).map(|_| started.get()).collect();
    first.sort();
    assert_eq!(first, [0, 1, 2]);
    for i in CAP as u8..total {
        c.send(&[i]).unwrap();
    }
    // No fourth handler while three run (a generous bound: without the cap
    // one starts at once) ...
    assert!(started.get_timeout(Duration::from_millis(300)).is_err(), "a fourth handler started");
    assert_eq!(running.get(), CAP);
    // ... and the server has not even read the next datagram: it is still
    // first in the kernel buffer (a server that read it and then waited for
    // a slot would have taken it out).
    let mut buf = [0u8; 4];
    let (n, from) = probe.peek_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&[CAP as u8][..], c.local_addr().unwrap()));
    // Freeing one slot lets exactly one more in, the next in line.
    release[&1].set();
    assert_eq!(recv_udp(&c), [1]);
    assert_eq!(started.get(), CAP as u8);
    assert!(started.get_timeout(Duration::from_millis(100)).is_err(), "a second one started with one slot free");
    let events = log.take();
    let end1 = events.iter().position(|e| e == "end 1").unwrap();
    let start3 = events.iter().position(|e| *e == format!("start {CAP}")).unwrap();
    assert!(end1 < start3, "{events:?}");
    // Every datagram is served in the end: none was lost while the cap was full.
    let mut answered = vec![1u8];
    for i in (0..total).filter(|&i| i != 1) {
        release[&i].set();
    }
    for _ in 1..total {
        answered.push(recv_udp(&c)[0]);
    }
    answered.sort();
    assert_eq!(answered, (0..total).collect::<Vec<_>>());
    assert_eq!(peak.get(), CAP, "at most {CAP} handlers at once");
    server.stop();
}

#[guv::test(timeout = "30s")]
fn stop_kills_running_handlers_and_closes_the_socket() {
    const N: usize = 4;
    let log = Log::new();
    let started: LightQueue<()> = LightQueue::new(None);
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |d: Datagram<'_, UdpSocket>| -> io::Result<()> {
            let _guard = Dropped(log.clone(), format!("dropped {}", d.data()[0]));
            started.put(());
            Event::new().wait(); // parked until killed
            log.push("returned");
            Ok(())
        }
    };
    let server = DatagramServer::bind_udp("127.0.0.1:0", handler).unwrap().start().unwrap();
    let addr = server.local_addr().unwrap();
    let held = server_socket(addr);
    let c = udp_client(addr);
    for i in 0..N as u8 {
        c.send(&[i]).unwrap();
    }
    for _ in 0..N {
        started.get();
    }
    server.stop();
    let mut events = log.take();
    events.sort();
    assert_eq!(events, ["dropped 0", "dropped 1", "dropped 2", "dropped 3"], "all unwound before stop returned");
    assert!(server.is_stopped());
    server.wait().unwrap();
    assert!(sockets_at(addr).is_disjoint(&held), "the socket is closed");
}

#[guv::test(timeout = "30s")]
fn stop_timeout_lets_handlers_finish_and_reply_on_the_still_open_socket() {
    let release = Event::new();
    let started = Event::new();
    let handler = {
        let (release, started) = (release.clone(), started.clone());
        move |d: Datagram<'_, UdpSocket>| -> io::Result<()> {
            started.set();
            release.wait();
            d.reply(b"done")?;
            Ok(())
        }
    };
    let server = DatagramServer::bind_udp("127.0.0.1:0", handler).unwrap().start().unwrap();
    let addr = server.local_addr().unwrap();
    let held = server_socket(addr);
    let c = udp_client(addr);
    c.send(b"work").unwrap();
    started.wait();
    let stopper = {
        let server = server.clone();
        guv::spawn(move || server.stop_timeout(Duration::from_secs(60)))
    };
    guv::gyield(); // the stopper runs: the stop is under way
    assert!(server.is_stopped());
    assert_eq!(sockets_at(addr), held, "the handler still holds the socket");
    release.set();
    assert_eq!(recv_udp(&c), b"done");
    assert!(stopper.wait().unwrap(), "finished in time");
    server.wait().unwrap();
    assert!(sockets_at(addr).is_disjoint(&held), "the socket is closed");
}

#[guv::test(timeout = "30s")]
fn a_handler_returning_stop_serve_ends_serve_forever_after_the_others_finish() {
    let log = Log::new();
    let slow_started = Event::new();
    let release = Event::new();
    let handler = {
        let (log, slow_started, release) = (log.clone(), slow_started.clone(), release.clone());
        move |d: Datagram<'_, UdpSocket>| -> io::Result<()> {
            match d.data() {
                b"stop" => {
                    d.reply(b"stopping")?;
                    log.push("stop");
                    Err(StopServe.into())
                }
                _ => {
                    slow_started.set();
                    release.wait();
                    d.reply(b"slow done")?;
                    log.push("slow finished");
                    Ok(())
                }
            }
        }
    };
    let server = DatagramServer::bind_udp("127.0.0.1:0", handler).unwrap();
    let handle = server.handle();
    let addr = handle.local_addr().unwrap();
    let held = server_socket(addr);
    let client = {
        let (log, handle) = (log.clone(), handle.clone());
        guv::spawn(move || {
            let c = udp_client(addr);
            c.send(b"slow").unwrap();
            slow_started.wait();
            c.send(b"stop").unwrap();
            assert_eq!(recv_udp(&c), b"stopping");
            assert!(handle.is_stopped());
            log.push("stopped");
            release.set();
            recv_udp(&c)
        })
    };
    server.serve_forever().unwrap();
    log.push("serve_forever returned");
    assert_eq!(client.wait().unwrap(), b"slow done");
    assert_eq!(log.take(), ["stop", "stopped", "slow finished", "serve_forever returned"]);
    assert!(sockets_at(addr).is_disjoint(&held), "the socket is closed");
}

#[guv::test(timeout = "30s")]
fn panicking_and_failing_handlers_are_logged_and_the_server_goes_on() {
    guv::debug::hub_exceptions(false);
    guv_tests::server_log();
    let handler = |d: Datagram<'_, UdpSocket>| -> io::Result<()> {
        match d.data() {
            b"!" => panic!("boom from {}", d.peer().port()),
            b"e" => Err(io::Error::new(io::ErrorKind::InvalidData, "a bad request")),
            _ => d.reply(d.data()).map(drop),
        }
    };
    let server = DatagramServer::bind_udp("127.0.0.1:0", handler).unwrap().start().unwrap();
    let c = udp_client(server.local_addr().unwrap());
    let port = c.local_addr().unwrap().port();
    for round in 0..3 {
        c.send(b"!").unwrap();
        c.send(b"e").unwrap();
        c.send(b"k").unwrap();
        // Handlers start in the order their datagrams came, and the two
        // before do not park: both have ended when the answer comes.
        assert_eq!(recv_udp(&c), b"k", "round {round}: still serving");
        let log = guv_tests::server_log();
        let panicked = format!("guv::server ERROR 127.0.0.1:{port}: the handler panicked: boom from {port}");
        let failed = format!("guv::server WARN 127.0.0.1:{port}: the handler failed: a bad request");
        assert_eq!(log.iter().filter(|l| **l == panicked).count(), round + 1, "{log:?}");
        assert_eq!(log.iter().filter(|l| **l == failed).count(), round + 1, "{log:?}");
    }
    assert!(!server.is_stopped());
    server.stop();
}

#[guv::test(timeout = "30s")]
fn a_longer_datagram_is_truncated_flagged_and_logged() {
    guv_tests::server_log();
    let server = DatagramServer::bind_udp("127.0.0.1:0", |d| {
        let mut answer = vec![u8::from(d.is_truncated())];
        answer.extend_from_slice(d.data());
        d.reply(&answer)?;
        Ok(())
    })
    .unwrap()
    .max_datagram_size(16)
    .start()
    .unwrap();
    let c = udp_client(server.local_addr().unwrap());
    let port = c.local_addr().unwrap().port();
    let exact: Vec<u8> = (0..16).collect();
    c.send(&exact).unwrap();
    assert_eq!(recv_udp(&c), [&[0u8][..], &exact].concat(), "16 bytes fit");
    let long: Vec<u8> = (100..117).collect();
    c.send(&long).unwrap();
    assert_eq!(recv_udp(&c), [&[1u8][..], &long[..16]].concat(), "17 bytes are cut to 16");
    let warning =
        format!("guv::server WARN 127.0.0.1:{port}: a datagram longer than 16 bytes was truncated (max_datagram_size)");
    let log = guv_tests::server_log();
    assert_eq!(log.iter().filter(|l| **l == warning).count(), 1, "{log:?}");
    server.stop();
}

#[guv::test(timeout = "30s")]
fn killing_the_greenlet_in_serve_forever_stops_the_server() {
    let log = Log::new();
    let started = Event::new();
    let handler = {
        let (log, started) = (log.clone(), started.clone());
        move |_d: Datagram<'_, UdpSocket>| -> io::Result<()> {
            let _guard = Dropped(log.clone(), "handler dropped".into());
            started.set();
            Event::new().wait();
            Ok(())
        }
    };
    let server = DatagramServer::bind_udp("127.0.0.1:0", handler).unwrap();
    let addr = server.handle().local_addr().unwrap();
    let held = server_socket(addr);
    let serving = guv::spawn(move || server.serve_forever());
    let c = udp_client(addr);
    c.send(b"x").unwrap();
    started.wait();
    serving.kill();
    assert!(serving.wait().unwrap_err().is_killed());
    assert_eq!(log.take(), ["handler dropped"]);
    assert!(sockets_at(addr).is_disjoint(&held), "the socket is closed");
}

#[guv::test(timeout = "30s")]
fn wait_from_a_handler_is_a_deadlock_error_and_stop_from_a_handler_spares_it() {
    let log = Log::new();
    let me: Rc<std::cell::OnceCell<guv::DatagramHandle<SocketAddr>>> = Rc::new(std::cell::OnceCell::new());
    let idle_started = Event::new();
    let handler = {
        let (log, me, idle_started) = (log.clone(), me.clone(), idle_started.clone());
        move |d: Datagram<'_, UdpSocket>| -> io::Result<()> {
            let word = String::from_utf8_lossy(d.data()).into_owned();
            let _guard = Dropped(log.clone(), format!("{word} dropped"));
            if word == "stop" {
                let server = me.get().unwrap().clone();
                let e = server.wait().unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::Deadlock, "{e}");
                assert!(e.to_string().contains("DatagramHandle::wait"), "{e}");
                server.stop(); // kills the idle handler, not this one
                log.push("stop returned");
                d.reply(b"stopped")?;
                return Ok(());
            }
            idle_started.set();
            Event::new().wait();
            Ok(())
        }
    };
    let server = DatagramServer::bind_udp("127.0.0.1:0", handler).unwrap().start().unwrap();
    me.set(server.clone()).unwrap();
    let c = udp_client(server.local_addr().unwrap());
    c.send(b"idle").unwrap();
    idle_started.wait();
    c.send(b"stop").unwrap();
    assert_eq!(recv_udp(&c), b"stopped");
    server.wait().unwrap();
    assert_eq!(log.take(), ["idle dropped", "stop returned", "stop dropped"]);
}

#[guv::test(timeout = "30s")]
fn a_reply_to_an_unbound_unix_client_fails_in_the_handler_and_is_logged() {
    guv_tests::server_log();
    let dir = TempDir::new("dgram", "unnamed");
    let path = dir.path().join("server.sock");
    let server = DatagramServer::bind_unix(&path, |d| {
        d.reply(d.data())?;
        Ok(())
    })
    .unwrap()
    .start()
    .unwrap();
    let anonymous = UnixDatagram::unbound().unwrap();
    anonymous.send_to(b"who am i", &path).unwrap();
    // A bound client sent after it is answered: the server went on.
    let named = unix_client(dir.path(), "named.sock", &path);
    named.send(b"hello").unwrap();
    assert_eq!(recv_unix(&named), b"hello");
    let log = guv_tests::server_log();
    assert!(log.iter().any(|l| l.starts_with("guv::server WARN (unnamed): the handler failed:")), "{log:?}");
    server.stop();
}

#[guv::test(timeout = "30s")]
fn binding_to_an_address_or_path_in_use_is_a_clear_error() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let e = DatagramServer::bind_udp(addr, |_| Ok(())).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
    assert!(e.to_string().starts_with(&format!("guv::server: cannot bind a UDP socket to {addr}: ")), "{e}");

    let e = DatagramServer::bind_udp("127.0.0.1:notaport", |_| Ok(())).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");

    let dir = TempDir::new("dgram", "in-use");
    let path = dir.path().join("server.sock");
    let _first = UnixDatagram::bind(&path).unwrap();
    let e = DatagramServer::bind_unix(&path, |_| Ok(())).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
    assert!(e.to_string().contains(path.to_str().unwrap()), "{e}");
    let e = DatagramServer::bind_unix(dir.path().join("missing/server.sock"), |_| Ok(())).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");

    // An absurd buffer size is refused when the server starts.
    let e = DatagramServer::bind_udp("127.0.0.1:0", |_| Ok(())).unwrap().max_datagram_size(usize::MAX).start();
    assert_eq!(e.unwrap_err().kind(), io::ErrorKind::OutOfMemory);
}
