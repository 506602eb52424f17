//! The second round of gevent/eventlet programs ported to guv through its
//! public API only (see `user_ports.rs` for the first), run against real
//! parts on 127.0.0.1: real sockets, real child processes (`python3` with
//! `websockets`, `curl`, `sh`), real OS threads.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use guv::net::TcpStream;
use guv::queue::{LightQueue, Queue};

/// Kills a greenlet when dropped, so a helper greenlet never outlives the
/// code that spawned it, however that code ends.
struct KillOnDrop<T: 'static>(guv::GreenThread<T>);

impl<T: 'static> Drop for KillOnDrop<T> {
    fn drop(&mut self) {
        self.0.kill();
    }
}

// ---------------------------------------------------------------------------
// 1. eventlet's port forwarder: each client connection is relayed to a
//    backend, both ways, until each side has closed its half.

/// Copies `from` into `to` until `from` ends, then half-closes `to`, so
/// the other end sees the end of the data while it may still answer.
fn relay(from: &TcpStream, to: &TcpStream) -> io::Result<u64> {
    let n = io::copy(&mut &*from, &mut &*to)?;
    // The other side may have gone already: nothing left to tell it.
    let _ = to.shutdown(Shutdown::Write);
    Ok(n)
}

/// The forwarder's handler: connect onward (giving up after
/// `connect_timeout`), relay client → backend on a greenlet of its own and
/// backend → client on the handler's. A failed connect returns the error,
/// which drops (closes) the client's connection.
fn forward(client: TcpStream, backend: SocketAddr, connect_timeout: Duration) -> io::Result<()> {
    let upstream = TcpStream::connect_timeout(&backend, connect_timeout)?;
    let (c, u) = (client.try_clone()?, upstream.try_clone()?);
    // `GreenThread::wait` consumes the handle, so the guard that kills the
    // relay if this handler is killed cannot also wait for it: its result
    // comes back on a queue instead.
    let done = LightQueue::new(None);
    let d = done.clone();
    let _up = KillOnDrop(guv::spawn(move || d.put(relay(&c, &u))));
    match relay(&upstream, &client) {
        // The backend is done sending; the client may still be.
        Ok(_) => done.get().map(drop),
        // The client went away: stop the other direction too (the guard).
        Err(e) => Err(e),
    }
}

/// A listener whose accept queue is full, so a further connect waits for
/// ever in SYN-SENT (the kernel drops the SYNs): a backend that hangs.
fn black_hole() -> (std::net::TcpListener, Vec<std::net::TcpStream>, SocketAddr) {
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: `l` is a listening socket this function owns; listen(2) again
    // only changes its backlog.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::listen(l.as_raw_fd(), 0) };
    assert_eq!(rc, 0);
    let addr = l.local_addr().unwrap();
    let mut fillers = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => fillers.push(s),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return (l, fillers, addr),
            Err(e) => panic!("filling the accept queue: {e}"),
        }
        assert!(fillers.len() < 64, "the accept queue never filled");
    }
}

/// A forwarder in front of `backend`, serving until stopped.
fn start_forwarder(backend: SocketAddr, connect_timeout: Duration) -> guv::ServerHandle {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    guv::StreamServer::new(listener, move |client, _peer| forward(client, backend, connect_timeout)).start().unwrap()
}

#[guv::test(timeout = "60s")]
fn forwarder_relays_both_ways_and_respects_half_closes() {
    // The backend: answers "banner", shuts its sending half, and then
    // still reads what the client sends until the client's end, reporting
    // it on a queue; then a second kind of session, an upper-casing echo
    // that answers only after the client's end.
    let seen: LightQueue<String> = LightQueue::new(None);
    let s = seen.clone();
    let backend = guv::StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), move |mut conn, _| {
        let mut first = [0u8; 1];
        conn.read_exact(&mut first)?;
        if &first == b"B" {
            conn.write_all(b"banner")?;
            conn.shutdown(Shutdown::Write)?;
            let mut rest = String::new();
            conn.read_to_string(&mut rest)?;
            s.put(rest);
        } else {
            let mut all = Vec::new();
            conn.read_to_end(&mut all)?;
            conn.write_all(&all.to_ascii_uppercase())?;
        }
        Ok(())
    })
    .start()
    .unwrap();
    let fwd = start_forwarder(backend.local_addr().unwrap(), Duration::from_secs(5));
    let addr = fwd.local_addr().unwrap();

    // The client half-closes first: the backend answers after its end.
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"Uhello through the forwarder").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "HELLO THROUGH THE FORWARDER");

    // The backend half-closes first: the client reads its end and can
    // still send, which reaches the backend.
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"B").unwrap();
    let mut banner = String::new();
    c.read_to_string(&mut banner).unwrap();
    assert_eq!(banner, "banner");
    c.write_all(b"late words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(seen.get(), "late words");
    // Both halves closed: the forwarder closes the client's connection.
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);

    // Several clients at once, each sending more than the socket buffers
    // hold while reading the echo, so both directions must flow together.
    const LEN: usize = 512 * 1024;
    let clients: Vec<_> = (0..4u8)
        .map(|i| {
            guv::spawn(move || {
                let c = TcpStream::connect(addr).unwrap();
                let w = c.try_clone().unwrap();
                let writer = guv::spawn(move || {
                    let mut data = vec![b'a' + i; LEN];
                    data[0] = b'U';
                    (&w).write_all(&data).unwrap();
                    w.shutdown(Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                (&c).read_to_end(&mut back).unwrap();
                writer.wait().unwrap();
                back
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        let back = c.wait().unwrap();
        assert_eq!(back.len(), LEN - 1);
        assert!(back.iter().all(|&b| b == (b'a' + i as u8).to_ascii_uppercase()));
    }
    fwd.stop();
    backend.stop();
}

#[guv::test(timeout = "60s")]
fn forwarder_closes_the_client_promptly_when_the_backend_is_down() {
    // Refused: nothing listens on the backend's port.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    let fwd = start_forwarder(gone_addr, Duration::from_secs(5));
    let mut c = TcpStream::connect(fwd.local_addr().unwrap()).unwrap();
    c.write_all(b"anyone there?").unwrap();
    let mut rest = Vec::new();
    // Closed (or reset, as the client's bytes were never read).
    match c.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
    }
    fwd.stop();

    // Hanging: the backend's accept queue is full, so the connect times
    // out, after 300 ms rather than the kernel's minutes of SYN retries.
    let (_hole, _fillers, hole_addr) = black_hole();
    let fwd = start_forwarder(hole_addr, Duration::from_millis(300));
    let started = Instant::now();
    let mut c = TcpStream::connect(fwd.local_addr().unwrap()).unwrap();
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
    assert!(started.elapsed() < Duration::from_secs(20), "closed after {:?}", started.elapsed());
    // The server goes on: a second client gets the same.
    let mut c = TcpStream::connect(fwd.local_addr().unwrap()).unwrap();
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
    fwd.stop();
}

#[guv::test(timeout = "60s")]
fn forwarder_stop_closes_live_sessions_on_both_sides() {
    // A backend that holds each session open until its client goes.
    let ended: LightQueue<&'static str> = LightQueue::new(None);
    let e = ended.clone();
    let backend = guv::StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), move |mut conn, _| {
        conn.write_all(b"hi")?;
        let n = io::copy(&mut conn, &mut io::sink())?;
        e.put(if n == 0 { "backend saw the end" } else { "backend got bytes" });
        Ok(())
    })
    .start()
    .unwrap();
    let fwd = start_forwarder(backend.local_addr().unwrap(), Duration::from_secs(5));
    let mut c = TcpStream::connect(fwd.local_addr().unwrap()).unwrap();
    let mut hi = [0u8; 2];
    c.read_exact(&mut hi).unwrap();
    // Stopping the forwarder kills the handler and its relay greenlet: both
    // of the session's sockets close.
    fwd.stop();
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
    assert_eq!(ended.get(), "backend saw the end");
    backend.stop();
}

// ---------------------------------------------------------------------------
// 3. A bounded producer/consumer queue: producers put under a Timeout
//    (back-pressure, retried), consumers stop at a sentinel; consumers are
//    killed mid-`get` and a producer mid-`put`, and every item a `put`
//    accepted is consumed exactly once.

#[guv::test(timeout = "60s")]
fn bounded_queue_with_backpressure_sentinels_and_kills_loses_nothing() {
    type Item = (u32, u32);
    const CONSUMERS: usize = 4;
    const PRODUCERS: u32 = 3;
    const PER_PRODUCER: u32 = 40;
    let q: Queue<Option<Item>> = Queue::new(Some(4));
    let consumed: Rc<RefCell<Vec<Item>>> = Rc::default();
    // Closed, consumers hold the item they took: the queue fills up.
    let gate = guv::Event::new();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (q, consumed, gate) = (q.clone(), consumed.clone(), gate.clone());
            guv::spawn(move || {
                while let Some(item) = q.get() {
                    consumed.borrow_mut().push(item);
                    gate.wait();
                }
            })
        })
        .collect();
    while q.getting() < CONSUMERS {
        guv::gyield();
    }
    // An item handed to the first waiting consumer, which is killed before
    // it runs to take it, and a second waiting consumer killed too: the
    // item goes to a consumer still alive.
    q.put(Some((99, 0)));
    consumers[0].kill();
    consumers[1].kill();

    // Producers: each put gets 20 ms before the producer counts a stall
    // and tries again. The item is `Copy`, so the closure the Timeout
    // interrupts holds a copy and the producer still has it.
    let accepted: Rc<RefCell<Vec<Item>>> = Rc::default();
    let stalls: LightQueue<u32> = LightQueue::new(None);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (q, accepted, stalls) = (q.clone(), accepted.clone(), stalls.clone());
            guv::spawn(move || {
                for i in 0..PER_PRODUCER {
                    while guv::with_timeout(Duration::from_millis(20), || q.put(Some((p, i)))).is_err() {
                        stalls.put(p);
                    }
                    accepted.borrow_mut().push((p, i));
                }
            })
        })
        .collect();
    // Every producer stalls: the queue is full, the consumers are held.
    let mut stalled = std::collections::BTreeSet::new();
    while stalled.len() < PRODUCERS as usize {
        stalled.insert(stalls.get());
    }
    assert!(q.full());
    // No put can complete while the gate is closed, so producer 2 is killed
    // with its current item not accepted: it must never be consumed.
    producers[2].kill();
    let killed_accepted: Vec<Item> = accepted.borrow().iter().copied().filter(|it| it.0 == 2).collect();
    gate.set();
    let mut producers = producers.into_iter();
    for p in producers.by_ref().take(2) {
        p.wait().unwrap();
    }
    assert!(producers.next().unwrap().wait().unwrap_err().is_killed());
    // One sentinel per consumer still alive.
    for _ in 2..CONSUMERS {
        q.put(None);
    }
    let mut consumers = consumers.into_iter();
    for c in consumers.by_ref().take(2) {
        assert!(c.wait().unwrap_err().is_killed());
    }
    for c in consumers {
        c.wait().unwrap();
    }
    assert!(q.empty());

    let mut want = accepted.borrow().clone();
    want.push((99, 0));
    want.sort();
    let mut got = consumed.borrow().clone();
    got.sort();
    assert_eq!(got, want, "every accepted item consumed exactly once");
    let from_killed: Vec<Item> = got.iter().copied().filter(|it| it.0 == 2).collect();
    assert_eq!(from_killed, killed_accepted, "the killed producer's pending item was never put");
    assert_eq!(got.iter().filter(|it| it.0 == 0).count(), PER_PRODUCER as usize);
}

/// A value that reports its own drop.
struct Tracked(u32, LightQueue<u32>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.put(self.0);
    }
}

#[guv::test(timeout = "60s")]
fn a_timeout_around_put_drops_the_item_put_timeout_gives_it_back() {
    let q: Queue<Tracked> = Queue::new(Some(1));
    let drops = LightQueue::new(None);
    q.put(Tracked(1, drops.clone()));
    // gevent's `with Timeout(...): q.put(item)` leaves the item with the
    // caller; in Rust the interrupted `put` owned it, and it is dropped.
    let item = Tracked(2, drops.clone());
    assert!(guv::with_timeout(Duration::from_millis(10), || q.put(item)).is_err());
    assert_eq!(drops.try_get(), Ok(2));
    // `put_timeout` hands it back instead.
    let q: Queue<Tracked> = Queue::new(Some(0));
    let back = q.put_timeout(Tracked(3, drops.clone()), Duration::from_millis(10)).unwrap_err().0;
    assert_eq!(back.0, 3);
    assert!(drops.try_get().is_err());
    drop(back);
    assert_eq!(drops.try_get(), Ok(3));
}

// ---------------------------------------------------------------------------
// 6. eventlet's tpool: blocking calls (std::fs, std::thread::sleep, a std
//    channel) on the thread pool while greenlets keep serving a socket.

/// A line-echo server on this hub, and a client that proves it answers.
fn start_echo() -> guv::ServerHandle {
    guv::StreamServer::new(guv::listen("127.0.0.1:0").unwrap(), |conn, _| {
        let mut lines = BufReader::new(&conn);
        let mut line = String::new();
        while lines.read_line(&mut line)? > 0 {
            (&conn).write_all(line.as_bytes())?;
            line.clear();
        }
        Ok(())
    })
    .start()
    .unwrap()
}

fn echo_roundtrip(addr: SocketAddr, text: &str) -> String {
    let c = TcpStream::connect(addr).unwrap();
    (&c).write_all(format!("{text}\n").as_bytes()).unwrap();
    let mut back = String::new();
    BufReader::new(&c).read_line(&mut back).unwrap();
    back
}

#[guv::test(timeout = "60s")]
fn tpool_runs_blocking_calls_while_the_hub_serves() {
    let echo = start_echo();
    let addr = echo.local_addr().unwrap();
    let dir = guv_tests::fs::TempDir::new("user_ports2", "tpool");
    let path = dir.path().join("data.txt");
    guv::original!(std::fs::write)(&path, "file contents").unwrap();

    // A pool job that blocks its OS thread until the hub has served a
    // client: it could not finish if `execute` blocked the hub.
    let (tx, rx) = guv::original!(std::sync::mpsc::channel::<String>)();
    let blocked = guv::spawn(move || {
        guv::tpool::execute(move || {
            let got = rx.recv_timeout(Duration::from_secs(30)).expect("the hub never served the client");
            format!("pool saw: {got}")
        })
    });
    guv::gyield(); // the job is queued and its thread blocks
    let served = echo_roundtrip(addr, "while the pool blocks");
    tx.send(served.clone()).unwrap();
    assert_eq!(blocked.wait().unwrap(), "pool saw: while the pool blocks\n");

    // Many callers at once, more than the pool's threads: each blocks its
    // worker (sleep, then a std::fs read) and gets its own result; the echo
    // server answers meanwhile.
    let callers: Vec<_> = (0..60u32)
        .map(|i| {
            let path = path.clone();
            guv::spawn(move || {
                guv::tpool::execute(move || {
                    guv::original!(std::thread::sleep)(Duration::from_millis(5));
                    let text = guv::original!(std::fs::read_to_string)(&path).unwrap();
                    format!("{i}: {text}")
                })
            })
        })
        .collect();
    assert_eq!(echo_roundtrip(addr, "meanwhile"), "meanwhile\n");
    for (i, c) in callers.into_iter().enumerate() {
        assert_eq!(c.wait().unwrap(), format!("{i}: file contents"));
    }
    assert!(guv::tpool::threads() <= guv::tpool::size());

    // A panic in the job comes back to its caller, with its message, and
    // the pool goes on.
    guv::debug::hub_exceptions(false);
    let panicked = guv::spawn(move || {
        guv::tpool::execute(|| -> u32 { guv::original!(std::fs::read)("/nonexistent/guv").map(|_| 0).unwrap() })
    });
    let err = panicked.wait().unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("No such file"), "{err}");
    let caught = std::panic::catch_unwind(|| guv::tpool::execute(|| panic!("boom {}", std::hint::black_box(7))));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("boom 7"));
    assert_eq!(guv::tpool::execute(|| 6 * 7), 42);
    echo.stop();
}

#[guv::test(timeout = "60s")]
fn tpool_caller_under_a_timeout_unwinds_while_the_job_finishes() {
    let (release_tx, release_rx) = guv::original!(std::sync::mpsc::channel::<()>)();
    let (done_tx, done_rx) = guv::green::sync::mpsc::channel::<&'static str>();
    let r = guv::with_timeout(Duration::from_millis(50), move || {
        guv::tpool::execute(move || {
            release_rx.recv().unwrap();
            done_tx.send("the job ran to its end").unwrap();
        })
    });
    assert!(r.unwrap_err().is_timed_out());
    // The job is still running on its thread; released, it finishes.
    release_tx.send(()).unwrap();
    assert_eq!(done_rx.recv().unwrap(), "the job ran to its end");
}

// ---------------------------------------------------------------------------
// 7. An async library (async-channel, runtime-free) used from greenlets
//    through guv::block_on, with wake-ups from other OS threads.

#[guv::test(timeout = "60s")]
fn block_on_drives_an_async_channel_fed_by_os_threads() {
    let echo = start_echo();
    let addr = echo.local_addr().unwrap();

    // OS threads → greenlets: a bounded channel fed by two OS threads and
    // drained by two greenlets, each parked in the library's `recv`.
    let (tx, rx) = async_channel::bounded::<u32>(4);
    let feeders: Vec<_> = (0..2u32)
        .map(|t| {
            let tx = tx.clone();
            guv::original!(std::thread::spawn)(move || {
                for i in 0..100 {
                    tx.send_blocking(t * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let drainers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            guv::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = guv::block_on(rx.recv()) {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    drop(rx);
    // The hub serves a client while the greenlets wait on the channel.
    assert_eq!(echo_roundtrip(addr, "serving"), "serving\n");
    let mut got: Vec<u32> = drainers.into_iter().flat_map(|d| d.wait().unwrap()).collect();
    for f in feeders {
        f.join().unwrap();
    }
    got.sort();
    let want: Vec<u32> = (0..100).chain(1000..1100).collect();
    assert_eq!(got, want);

    // Greenlets → an OS thread: a greenlet's send waits for room, made
    // when the thread receives (its waker runs on that thread).
    let (tx, rx) = async_channel::bounded::<u32>(1);
    let consumer = guv::original!(std::thread::spawn)(move || {
        let mut all = Vec::new();
        while let Ok(v) = rx.recv_blocking() {
            all.push(v);
        }
        all
    });
    let senders: Vec<_> = (0..4u32)
        .map(|g| {
            let tx = tx.clone();
            guv::spawn(move || {
                for i in 0..25 {
                    guv::block_on(tx.send(g * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for s in senders {
        s.wait().unwrap();
    }
    let mut all = consumer.join().unwrap();
    all.sort();
    assert_eq!(all, (0..4).flat_map(|g| (0..25).map(move |i| g * 100 + i)).collect::<Vec<_>>());

    // One-shot answers from OS threads, in reverse order of asking; a
    // greenlet killed while it waits drops its future (the sender sees it).
    let waiters: Vec<_> = (0..5u32)
        .map(|_| {
            let (tx, rx) = async_channel::bounded::<u32>(1);
            (tx, guv::spawn(move || guv::block_on(rx.recv()).unwrap() * 2))
        })
        .collect();
    guv::gyield();
    let (senders, waiters): (Vec<_>, Vec<_>) = waiters.into_iter().unzip();
    let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
    let killed_tx = senders[0].take().unwrap();
    let mut waiters = waiters.into_iter();
    let killed = waiters.next().unwrap();
    killed.kill();
    assert!(killed.wait().unwrap_err().is_killed());
    assert!(killed_tx.is_closed(), "the killed greenlet's future was dropped");
    let thread = guv::original!(std::thread::spawn)(move || {
        for (i, tx) in senders.into_iter().enumerate().rev() {
            if let Some(tx) = tx {
                tx.send_blocking(i as u32).unwrap();
            }
        }
    });
    for (i, w) in waiters.enumerate() {
        assert_eq!(w.wait().unwrap(), (i as u32 + 1) * 2);
    }
    thread.join().unwrap();
    echo.stop();
}

// ---------------------------------------------------------------------------
// 2. A WebSocket broadcast chat on guv::websocket + guv::wsgi, with real
//    Python `websockets` clients, one of which dies without a close frame.

/// A Python `websockets` client: each line on its stdin is sent as a
/// message (`close` closes the connection properly); it prints `open`,
/// then `recv <text>` per message, then `closed`.
const WS_CLIENT: &str = r#"
import sys, threading
from websockets.sync.client import connect
ws = connect(sys.argv[1])
print("open", flush=True)
def reader():
    try:
        for msg in ws:
            print("recv " + msg, flush=True)
    except Exception as e:
        print("error " + type(e).__name__, flush=True)
    print("closed", flush=True)
t = threading.Thread(target=reader)
t.start()
for line in sys.stdin:
    line = line.strip()
    if line == "close":
        break
    ws.send(line)
ws.close()
t.join()
"#;

/// A child process driven line by line: what it prints arrives on a queue,
/// read by a greenlet of its own.
struct Driven {
    child: guv::green::process::Child,
    stdin: Option<guv::green::process::ChildStdin>,
    lines: LightQueue<String>,
    _reader: KillOnDrop<()>,
}

impl Driven {
    fn spawn(cmd: &mut guv::green::process::Command) -> Driven {
        use guv::green::process::Stdio;
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take().unwrap());
        let lines = LightQueue::new(None);
        let l = lines.clone();
        let reader = KillOnDrop(guv::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                l.put(line.unwrap());
            }
            l.put("<eof>".to_string());
        }));
        Driven { child, stdin, lines, _reader: reader }
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    /// The next line it printed (a generous bound, so a broken server
    /// fails the test with a message rather than hanging it).
    fn next_line(&self) -> String {
        self.lines.get_timeout(Duration::from_secs(30)).expect("the client printed nothing for 30 s")
    }
}

#[derive(Default)]
struct ChatRoom {
    members: RefCell<BTreeMap<u64, Rc<guv::websocket::WebSocket>>>,
    next_id: std::cell::Cell<u64>,
}

#[guv::test(timeout = "120s")]
fn websocket_chat_broadcasts_and_survives_a_client_that_vanishes() {
    use guv::websocket::{Message, WebSocket, WebSocketWSGI};
    guv_tests::http::require_tool("python3", &["-c", "import websockets.sync.client"]);
    let room = Rc::new(ChatRoom::default());
    let events: LightQueue<String> = LightQueue::new(None);
    let live = Rc::new(std::cell::Cell::new(0usize));
    let (r, ev, lv) = (room.clone(), events.clone(), live.clone());
    let chat = WebSocketWSGI::new(move |ws: WebSocket| {
        let ws = Rc::new(ws);
        let id = r.next_id.get() + 1;
        r.next_id.set(id);
        r.members.borrow_mut().insert(id, ws.clone());
        lv.set(lv.get() + 1);
        ev.put(format!("joined {id}"));
        while let Some(msg) = ws.wait() {
            if let Message::Text(text) = msg {
                let others: Vec<_> =
                    r.members.borrow().iter().filter(|(other, _)| **other != id).map(|(_, ws)| ws.clone()).collect();
                for other in others {
                    // A member that went away is removed by its own greenlet.
                    let _ = other.send(Message::text(text.as_str()));
                }
            }
        }
        r.members.borrow_mut().remove(&id);
        lv.set(lv.get() - 1);
        ev.put(format!("left {id}"));
    });
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/chat", listener.local_addr().unwrap());
    let server = guv::wsgi::Server::new(move |req| chat.call(req));
    let stop = server.shutdown_handle();
    let served = guv::spawn(move || server.serve(listener));

    // The client that will vanish joins first, so broadcasts try it first.
    let mut clients: Vec<Driven> = ["doomed", "alice", "bob"]
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let c = Driven::spawn(guv::green::process::Command::new("python3").args(["-c", WS_CLIENT, &url]));
            assert_eq!(c.next_line(), "open");
            assert_eq!(events.get(), format!("joined {}", i + 1));
            c
        })
        .collect();
    let (doomed, alice, bob) = (0, 1, 2);

    clients[alice].say("alice: hello all");
    assert_eq!(clients[bob].next_line(), "recv alice: hello all");
    assert_eq!(clients[doomed].next_line(), "recv alice: hello all");

    // Killed: its socket closes with no close frame.
    clients[doomed].child.kill().unwrap();
    let status = clients[doomed].child.wait().unwrap();
    assert!(!status.success());
    // Straight away, before the server may have noticed: bob still reaches
    // alice, and the sends to the dead client do not disturb the room.
    clients[bob].say("bob: anyone left?");
    assert_eq!(clients[alice].next_line(), "recv bob: anyone left?");
    assert_eq!(events.get(), "left 1", "the vanished client's greenlet ended");
    clients[bob].say("bob: just us");
    assert_eq!(clients[alice].next_line(), "recv bob: just us");
    clients[alice].say("alice: indeed");
    assert_eq!(clients[bob].next_line(), "recv alice: indeed");

    // A proper close from each: their greenlets end, the clients see the
    // closing handshake complete.
    for who in [alice, bob] {
        clients[who].say("close");
        assert_eq!(clients[who].next_line(), "closed");
        assert!(clients[who].child.wait().unwrap().success());
    }
    let mut left = vec![events.get(), events.get()];
    left.sort();
    assert_eq!(left, ["left 2", "left 3"]);
    assert_eq!(live.get(), 0);
    assert!(room.members.borrow().is_empty());
    stop.shutdown();
    served.wait().unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// 4. Subprocess fan-out: children run at once, each one's output read line
//    by line by a greenlet of its own; one hangs and is killed under a
//    Timeout; exit statuses come back right; the hub serves meanwhile.

#[guv::test(timeout = "120s")]
fn subprocess_fan_out_with_a_hanging_child_killed_under_a_timeout() {
    use guv::green::process::{Command, Stdio};
    use std::os::unix::process::ExitStatusExt;
    let echo = start_echo();
    let addr = echo.local_addr().unwrap();
    // Every child waits for a line on its stdin before it ends, so they are
    // all alive at once (and their output interleaves) until released.
    let release: Queue<()> = Queue::new(None);
    let lines: LightQueue<(usize, String)> = LightQueue::new(None);
    let scripts: Vec<String> = (0..4)
        .map(|i| format!("echo child{i} line 1; echo child{i} line 2; read go; echo child{i} done; exit {i}"))
        .collect();
    let workers: Vec<_> = scripts
        .into_iter()
        .enumerate()
        .map(|(i, script)| {
            let (lines, release) = (lines.clone(), release.clone());
            guv::spawn(move || {
                let mut child = Command::new("sh")
                    .args(["-c", &script])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                let mut out = BufReader::new(child.stdout.take().unwrap());
                let mut line = String::new();
                for _ in 0..2 {
                    line.clear();
                    out.read_line(&mut line).unwrap();
                    lines.put((i, line.trim_end().to_string()));
                }
                release.get();
                stdin.write_all(b"go\n").unwrap();
                drop(stdin);
                for line in out.lines() {
                    lines.put((i, line.unwrap()));
                }
                child.wait().unwrap()
            })
        })
        .collect();
    // The hanging child: `exec` so that the killed process is the one
    // holding the pipe (a killed `sh` would leave its `sleep` writing to it).
    let hanging = guv::spawn(move || {
        let mut child =
            Command::new("sh").args(["-c", "echo started; exec sleep 3600"]).stdout(Stdio::piped()).spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        let r = guv::with_timeout(Duration::from_millis(500), || {
            let mut line = String::new();
            while out.read_line(&mut line).unwrap() > 0 {
                seen.push(line.trim_end().to_string());
                line.clear();
            }
        });
        assert!(r.unwrap_err().is_timed_out());
        child.kill().unwrap();
        let status = child.wait().unwrap();
        // Killed: the pipe is at its end now.
        assert_eq!(out.read_line(&mut String::new()).unwrap(), 0);
        (seen, status)
    });

    // All four are alive and have printed their first lines.
    let mut first = BTreeMap::new();
    for _ in 0..8 {
        let (i, line) = lines.get();
        first.entry(i).or_insert_with(Vec::new).push(line);
    }
    for (i, got) in &first {
        assert_eq!(got, &[format!("child{i} line 1"), format!("child{i} line 2")]);
    }
    // The hub serves a client while they all wait.
    assert_eq!(echo_roundtrip(addr, "children running"), "children running\n");
    for _ in 0..4 {
        release.put(());
    }
    let statuses: Vec<_> = workers.into_iter().map(|w| w.wait().unwrap()).collect();
    for (i, status) in statuses.iter().enumerate() {
        assert_eq!(status.code(), Some(i as i32), "child {i}: {status}");
        assert_eq!(status.success(), i == 0);
    }
    let mut done: Vec<_> = std::iter::from_fn(|| lines.try_get().ok()).collect();
    done.sort();
    assert_eq!(done, (0..4).map(|i| (i, format!("child{i} done"))).collect::<Vec<_>>());
    let (seen, status) = hanging.wait().unwrap();
    assert_eq!(seen, ["started"]);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    assert_eq!(status.code(), None);
    echo.stop();
}

// ---------------------------------------------------------------------------
// 5. A streamed guv::wsgi response (server-sent events, produced over time
//    by a greenlet of the app's) to a client that disconnects midway.

/// A response body fed by a producer greenlet over a rendezvous channel:
/// each read is one event. Dropped by the server when the client is gone,
/// which the producer's next `send` sees.
struct EventStream(guv::green::sync::mpsc::Receiver<String>);

impl Read for EventStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.recv() {
            Ok(event) => {
                assert!(event.len() <= buf.len());
                buf[..event.len()].copy_from_slice(event.as_bytes());
                Ok(event.len())
            }
            Err(_) => Ok(0), // the producer is done: the body ends
        }
    }
}

/// Reads one chunk of a chunked body: its data.
fn read_chunk(r: &mut impl BufRead) -> String {
    let mut size = String::new();
    r.read_line(&mut size).unwrap();
    let size = usize::from_str_radix(size.trim_end(), 16).unwrap();
    let mut data = vec![0u8; size + 2];
    r.read_exact(&mut data).unwrap();
    data.truncate(size);
    String::from_utf8(data).unwrap()
}

#[guv::test(timeout = "120s")]
fn event_stream_producer_ends_when_its_client_disconnects() {
    use guv::wsgi::Body;
    use guv::wsgi::http::{Response, header};
    guv_tests::http::require_tool("curl", &["--version"]);
    // The live stream's producer sends an event per tick from the test and
    // reports each send; the finite one sends 5 events on its own.
    let ticks: LightQueue<()> = LightQueue::new(None);
    let reports: LightQueue<String> = LightQueue::new(None);
    let (t, rep) = (ticks.clone(), reports.clone());
    let app = move |req: guv::wsgi::http::Request<Body>| {
        let (tx, rx) = guv::green::sync::mpsc::sync_channel::<String>(0);
        match req.uri().path() {
            "/events" => {
                let (t, rep) = (t.clone(), rep.clone());
                guv::spawn_n(move || {
                    for n in 1.. {
                        t.get();
                        if tx.send(format!("data: {n}\n\n")).is_err() {
                            rep.put(format!("ended at {n}"));
                            return;
                        }
                        rep.put(format!("sent {n}"));
                    }
                });
            }
            "/finite" => guv::spawn_n(move || {
                for n in 1..=5 {
                    guv::sleep(Duration::from_millis(2));
                    tx.send(format!("data: {n}\n\n")).unwrap();
                }
            }),
            _ => return Response::new(Body::from("hello\n")),
        }
        let mut res = Response::new(Body::from_reader(EventStream(rx)));
        res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/event-stream"));
        res
    };
    let server = guv::wsgi::Server::new(app);
    let stop = server.shutdown_handle();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = guv::spawn(move || server.serve(listener));

    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = BufReader::new(c);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_ascii_lowercase());
    }
    assert_eq!(head[0], "http/1.1 200 ok");
    assert!(head.contains(&"transfer-encoding: chunked".to_string()), "{head:?}");
    assert!(head.contains(&"content-type: text/event-stream".to_string()), "{head:?}");
    for n in 1..=3 {
        ticks.put(());
        assert_eq!(reports.get(), format!("sent {n}"));
        assert_eq!(read_chunk(&mut r), format!("data: {n}\n\n"));
    }
    // Others are served while the stream is open.
    let out =
        guv::green::process::Command::new("curl").args(["-sS", &format!("http://{addr}/hello")]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");

    // The client goes away midway. The server notices when a write fails
    // (the first one after the close may still be taken by the kernel), so
    // the producer's send fails within a few events.
    drop(r);
    let mut n = 3;
    let ended = loop {
        ticks.put(());
        let report = reports.get();
        n += 1;
        if report.starts_with("ended") {
            break report;
        }
        assert_eq!(report, format!("sent {n}"));
        assert!(n < 50, "the producer never noticed the client left");
    };
    assert_eq!(ended, format!("ended at {n}"));

    // The server goes on: a whole stream to curl, and a plain answer.
    let out =
        guv::green::process::Command::new("curl").args(["-sSN", &format!("http://{addr}/finite")]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let want: String = (1..=5).map(|n| format!("data: {n}\n\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nhello\n"), "{answer}");
    stop.shutdown();
    served.wait().unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// 8. A plain std program — threads, std::net, std::sync, std::process —
//    run on greenlets by `#[guv::patched]` and `#[guv::main]`, unchanged.

/// A thread-per-connection key-value server as any std user writes it.
/// Commands, one per line: `SET k v`, `GET k`, `RUN shell words` (the
/// first line the command prints), `WAIT` (blocks on a `Condvar` until
/// another client sends `WAKE`), `STOP` (shuts the server down).
#[guv::patched]
mod kv {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex, RwLock, mpsc};
    use std::thread;

    #[derive(Default)]
    pub struct Shared {
        store: RwLock<HashMap<String, String>>,
        woken: Mutex<bool>,
        wake: Condvar,
        stopping: AtomicBool,
        pub served: AtomicUsize,
        /// The OS threads the handlers ran on.
        pub os_threads: Mutex<Vec<String>>,
    }

    fn handle(conn: TcpStream, shared: Arc<Shared>, log: mpsc::Sender<String>) -> std::io::Result<()> {
        let me = thread::current().name().unwrap_or("?").to_string();
        shared.os_threads.lock().unwrap().push(format!("{:?}", guv::original!(std::thread::current)().id()));
        let mut out = conn.try_clone()?;
        for line in BufReader::new(conn).lines() {
            let line = line?;
            let mut words = line.splitn(3, ' ');
            let reply = match (words.next(), words.next(), words.next()) {
                (Some("SET"), Some(k), Some(v)) => {
                    shared.store.write().unwrap().insert(k.to_string(), v.to_string());
                    "OK".to_string()
                }
                (Some("GET"), Some(k), None) => {
                    shared.store.read().unwrap().get(k).cloned().unwrap_or_else(|| "(nil)".to_string())
                }
                (Some("RUN"), Some(_), _) => {
                    let out = std::process::Command::new("sh").arg("-c").arg(&line[4..]).output()?;
                    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").to_string()
                }
                (Some("WAIT"), None, None) => {
                    let woken = shared.woken.lock().unwrap();
                    let _woken = shared.wake.wait_while(woken, |w| !*w).unwrap();
                    "WOKEN".to_string()
                }
                (Some("WAKE"), None, None) => {
                    *shared.woken.lock().unwrap() = true;
                    shared.wake.notify_all();
                    "OK".to_string()
                }
                (Some("STOP"), None, None) => {
                    shared.stopping.store(true, Ordering::SeqCst);
                    "BYE".to_string()
                }
                _ => "ERR".to_string(),
            };
            log.send(format!("{me}: {line} -> {reply}")).unwrap();
            writeln!(out, "{reply}")?;
        }
        Ok(())
    }

    /// Serves until a client sends `STOP` (then one more connection, from
    /// the server itself, wakes the blocked `accept`); returns the log.
    pub fn serve(listener: TcpListener, shared: Arc<Shared>) -> Vec<String> {
        let (log_tx, log_rx) = mpsc::channel();
        let logger = thread::spawn(move || log_rx.iter().collect::<Vec<String>>());
        let addr = listener.local_addr().unwrap();
        let mut workers = Vec::new();
        for (n, conn) in listener.incoming().enumerate() {
            if shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            let (shared, log) = (shared.clone(), log_tx.clone());
            let conn = conn.unwrap();
            let stopper = shared.clone();
            workers.push(
                thread::Builder::new()
                    .name(format!("conn-{n}"))
                    .spawn(move || {
                        handle(conn, shared, log).unwrap();
                        stopper.served.fetch_add(1, Ordering::SeqCst);
                        if stopper.stopping.load(Ordering::SeqCst) {
                            // Wake the accept loop so that it sees the flag.
                            let _ = TcpStream::connect(addr);
                        }
                    })
                    .unwrap(),
            );
        }
        for w in workers {
            w.join().unwrap();
        }
        drop(log_tx);
        logger.join().unwrap()
    }
}

/// The program: a server thread and client threads, all plain std code.
#[guv::main]
fn kv_program() -> Result<Vec<String>, Box<dyn std::error::Error>> {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::thread;

    fn ask(conn: &mut TcpStream, lines: &mut BufReader<TcpStream>, cmd: &str) -> String {
        writeln!(conn, "{cmd}").unwrap();
        let mut reply = String::new();
        lines.read_line(&mut reply).unwrap();
        reply.trim_end().to_string()
    }
    fn client(addr: std::net::SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
        let c = TcpStream::connect(addr).unwrap();
        let r = BufReader::new(c.try_clone().unwrap());
        (c, r)
    }

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(kv::Shared::default());
    let s = shared.clone();
    let server = thread::spawn(move || kv::serve(listener, s));

    // A client that waits on the Condvar: the others go on meanwhile.
    let waiter = thread::spawn(move || {
        let (mut c, mut r) = client(addr);
        ask(&mut c, &mut r, "WAIT")
    });
    let (mut c, mut r) = client(addr);
    assert_eq!(ask(&mut c, &mut r, "SET greeting hello"), "OK");
    let readers: Vec<_> = (0..3)
        .map(|_| {
            thread::spawn(move || {
                let (mut c, mut r) = client(addr);
                (ask(&mut c, &mut r, "GET greeting"), ask(&mut c, &mut r, "RUN echo from a child; echo second"))
            })
        })
        .collect();
    for h in readers {
        assert_eq!(h.join().unwrap(), ("hello".to_string(), "from a child".to_string()));
    }
    assert_eq!(ask(&mut c, &mut r, "WAKE"), "OK");
    assert_eq!(waiter.join().unwrap(), "WOKEN");
    assert_eq!(ask(&mut c, &mut r, "STOP"), "BYE");
    drop((c, r));
    let log = server.join().unwrap();
    assert_eq!(shared.served.load(std::sync::atomic::Ordering::SeqCst), 5);
    let mut os_threads = shared.os_threads.lock().unwrap().clone();
    os_threads.dedup();
    assert_eq!(os_threads, [format!("{:?}", guv::original!(std::thread::current)().id())], "one OS thread");
    Ok(log)
}

#[test]
fn a_plain_std_threaded_server_runs_on_greenlets_under_guv_main() {
    // On a thread of its own, as `fn main` would have the process's.
    let log = std::thread::spawn(|| kv_program().unwrap()).join().unwrap();
    // Every connection's thread was a named green thread on that hub.
    assert!(log.iter().any(|l| l.ends_with(": WAIT -> WOKEN")), "{log:?}");
    assert!(log.iter().all(|l| l.starts_with("conn-")), "{log:?}");
    assert_eq!(log.iter().filter(|l| l.ends_with("GET greeting -> hello")).count(), 3);
}

/// A library (unpatched code) that hands out std's own channel, fed by an
/// OS thread of its own once it hears from its caller.
fn library_subscribe() -> (std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<&'static str>) {
    let (go_tx, go_rx) = std::sync::mpsc::channel();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        go_rx.recv().unwrap();
        tx.send("library event").unwrap();
    });
    (go_tx, rx)
}

#[guv::test(timeout = "60s")]
fn a_std_receiver_from_unpatched_code_is_waited_for_on_the_thread_pool() {
    // Patching is lexical: `rx` is std's Receiver, whose `recv` would block
    // the whole hub (the green thread below could never run to release
    // the library). Waited for on the pool, it parks only this greenlet.
    let (go, rx) = library_subscribe();
    let releaser = std::thread::spawn(move || go.send(()).unwrap());
    let event = guv::tpool::execute(move || rx.recv().unwrap());
    assert_eq!(event, "library event");
    releaser.join().unwrap();
}
