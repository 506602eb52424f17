//! The second round of gevent/eventlet programs ported to guv through its
//! public API only (see `user_ports.rs` for the first), run against real
//! parts on 127.0.0.1: real sockets, real child processes (`python3` with
//! `websockets`, `curl`, `sh`), real OS threads.

use std::cell::RefCell;
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
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
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
// 7. An async library (tokio's runtime-free channels) used from greenlets
//    through guv::block_on, with wake-ups from other OS threads.

#[guv::test(timeout = "60s")]
fn block_on_drives_an_async_channel_fed_by_os_threads() {
    use tokio::sync::{mpsc, oneshot};
    let echo = start_echo();
    let addr = echo.local_addr().unwrap();

    // OS threads → a greenlet: a bounded channel fed by two OS threads.
    // (tokio's receiver keeps one waker: one greenlet waits on it.)
    let (tx, mut rx) = mpsc::channel::<u32>(4);
    let feeders: Vec<_> = (0..2u32)
        .map(|t| {
            let tx = tx.clone();
            guv::original!(std::thread::spawn)(move || {
                for i in 0..100 {
                    tx.blocking_send(t * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let drainer = guv::spawn(move || {
        let mut got = Vec::new();
        while let Some(v) = guv::block_on(rx.recv()) {
            got.push(v);
        }
        got
    });
    // The hub serves a client while the greenlets wait on the channel.
    assert_eq!(echo_roundtrip(addr, "serving"), "serving\n");
    let mut got = drainer.wait().unwrap();
    for f in feeders {
        f.join().unwrap();
    }
    got.sort();
    let want: Vec<u32> = (0..100).chain(1000..1100).collect();
    assert_eq!(got, want);

    // Greenlets → an OS thread: a greenlet's send waits for room, made
    // when the thread receives (its waker runs on that thread).
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let consumer = guv::original!(std::thread::spawn)(move || {
        let mut all = Vec::new();
        while let Some(v) = rx.blocking_recv() {
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
            let (tx, rx) = oneshot::channel::<u32>();
            (tx, guv::spawn(move || guv::block_on(rx).unwrap() * 2))
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
                tx.send(i as u32).unwrap();
            }
        }
    });
    for (i, w) in waiters.enumerate() {
        assert_eq!(w.wait().unwrap(), (i as u32 + 1) * 2);
    }
    thread.join().unwrap();
    echo.stop();
}
