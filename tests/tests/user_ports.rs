//! The classic programs gevent and eventlet users write, ported to guv
//! through its public API only, run against real parts on 127.0.0.1: real
//! sockets, real child processes (`python3`, `curl`, `cat`, `sort`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use guv::green::process::{Command, Stdio};
use guv::net::{TcpListener, TcpStream};
use guv::queue::LightQueue;

// ---------------------------------------------------------------------------
// 1. A TCP chat server: every line a client sends goes to all the others.

/// The room: one outgoing queue per connected client.
#[derive(Default)]
struct Room {
    clients: RefCell<BTreeMap<u64, LightQueue<String>>>,
    next_id: Cell<u64>,
}

impl Room {
    fn broadcast(&self, from: u64, line: String) {
        for (id, q) in self.clients.borrow().iter() {
            if *id != from {
                q.put(line.clone());
            }
        }
    }
}

/// One greenlet per client reads its lines; a second one writes what the
/// client's queue receives, so a client that does not read stalls only its
/// own writer.
fn chat_client(room: Rc<Room>, conn: TcpStream) {
    let id = room.next_id.get() + 1;
    room.next_id.set(id);
    let outgoing = LightQueue::new(None);
    let out = conn.try_clone().unwrap();
    let q = outgoing.clone();
    // Killed with the handler, however the handler ends.
    let writer = KillOnDrop(guv::spawn(move || {
        loop {
            let line: String = q.get();
            if (&out).write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    }));
    outgoing.put(format!("welcome {id}\n"));
    room.broadcast(id, format!("{id} joined\n"));
    room.clients.borrow_mut().insert(id, outgoing);
    for line in BufReader::new(&conn).lines() {
        match line {
            Ok(line) => room.broadcast(id, format!("{id}: {line}\n")),
            Err(_) => break,
        }
    }
    room.clients.borrow_mut().remove(&id);
    drop(writer);
    room.broadcast(id, format!("{id} left\n"));
}

/// Kills a greenlet when dropped: a server killed (or unwinding for any
/// reason) takes its helpers with it, as gevent's `StreamServer.stop()`
/// kills its handlers.
struct KillOnDrop<T: 'static>(guv::GreenThread<T>);

impl<T: 'static> Drop for KillOnDrop<T> {
    fn drop(&mut self) {
        self.0.kill();
    }
}

fn chat_server(listener: TcpListener) {
    let room = Rc::new(Room::default());
    let mut handlers = Vec::new();
    loop {
        let (conn, _) = listener.accept().unwrap();
        let room = room.clone();
        handlers.retain(|h: &KillOnDrop<()>| !h.0.is_finished());
        handlers.push(KillOnDrop(guv::spawn(move || chat_client(room, conn))));
    }
}

/// A line-oriented green client.
struct LineClient(BufReader<TcpStream>);

impl LineClient {
    fn connect(addr: SocketAddr) -> LineClient {
        LineClient(BufReader::new(guv::connect(addr).unwrap()))
    }

    fn send(&mut self, line: &str) {
        self.0.get_mut().write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        let n = self.0.read_line(&mut s).unwrap();
        assert!(n > 0, "the server closed the connection");
        s.trim_end_matches('\n').to_owned()
    }
}

const PY_LINE_CLIENT: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for line in s.makefile("r"):
    sys.stdout.write(line)
    sys.stdout.flush()
"#;

#[guv::test(timeout = "60s")]
fn chat_server_relays_lines_to_the_others_and_survives_abrupt_leavers() {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = guv::spawn(move || chat_server(listener));

    let mut alice = LineClient::connect(addr);
    assert_eq!(alice.line(), "welcome 1");
    let mut bob = LineClient::connect(addr);
    assert_eq!(bob.line(), "welcome 2");
    assert_eq!(alice.line(), "2 joined");

    // A real client in another process: Python's socket module.
    let mut py = Command::new("python3")
        .args(["-c", PY_LINE_CLIENT, &addr.port().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut py_out = BufReader::new(py.stdout.take().unwrap());
    let mut py_line = move || {
        let mut s = String::new();
        py_out.read_line(&mut s).unwrap();
        s
    };
    assert_eq!(py_line(), "welcome 3\n");
    assert_eq!((alice.line(), bob.line()), ("3 joined".into(), "3 joined".into()));

    alice.send("hello all");
    assert_eq!(bob.line(), "1: hello all");
    assert_eq!(py_line(), "1: hello all\n");

    // The Python client dies without a goodbye.
    py.kill().unwrap();
    assert!(!py.wait().unwrap().success());
    assert_eq!((alice.line(), bob.line()), ("3 left".into(), "3 left".into()));

    bob.send("still here");
    // Alice's next line is Bob's: her own line was not echoed back to her.
    assert_eq!(alice.line(), "2: still here");

    // A client that never reads: its writer stalls on a full socket, and
    // nobody else notices.
    let dave = LineClient::connect(addr);
    let mut dave = dave;
    assert_eq!(dave.line(), "welcome 4");
    assert_eq!((alice.line(), bob.line()), ("4 joined".into(), "4 joined".into()));
    let filler = "x".repeat(1000);
    let lines = 5000; // 5 MB: far more than dave's socket buffers hold
    let sender = {
        let mut alice_w = alice.0.get_ref().try_clone().unwrap();
        let filler = filler.clone();
        guv::spawn(move || {
            for i in 0..lines {
                alice_w.write_all(format!("{i} {filler}\n").as_bytes()).unwrap();
            }
        })
    };
    for i in 0..lines {
        assert_eq!(bob.line(), format!("1: {i} {filler}"));
    }
    sender.wait().unwrap();
    // Dave goes away with megabytes unread: his socket is reset.
    drop(dave);
    assert_eq!(alice.line(), "4 left");
    assert_eq!(bob.line(), "4 left");

    // The room still works for the two that are left.
    alice.send("bye bob");
    assert_eq!(bob.line(), "1: bye bob");
    drop(bob);
    assert_eq!(alice.line(), "2 left");

    server.kill();
    assert!(server.wait().unwrap_err().is_killed());
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A greenlet sleeping forever that, when killed, kills `helper` (if any)
/// from a drop guard and then sets `dropped`.
fn owner_of(helper: Option<guv::GreenThread<()>>, dropped: Rc<Cell<bool>>) -> guv::GreenThread<()> {
    guv::spawn(move || {
        let _flag = DropFlag(dropped);
        let _helper = helper.map(KillOnDrop);
        guv::sleep(Duration::MAX);
    })
}

#[guv::test(timeout = "30s")]
fn a_kill_cascades_through_drop_guards_before_the_killed_one_is_seen_ended() {
    // server -> handler -> writer, each killing the next one as it unwinds,
    // as gevent's `StreamServer.stop()` kills handlers that kill helpers.
    let flags: Vec<Rc<Cell<bool>>> = (0..3).map(|_| Rc::new(Cell::new(false))).collect();
    let writer = owner_of(None, flags[2].clone());
    let handler = owner_of(Some(writer), flags[1].clone());
    let server = owner_of(Some(handler), flags[0].clone());
    guv::gyield(); // all three are asleep
    server.kill();
    assert!(server.wait().unwrap_err().is_killed());
    let dropped: Vec<bool> = flags.iter().map(|f| f.get()).collect();
    assert_eq!(dropped, [true, true, true], "the server's helpers outlived its end");
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}

/// Blocks for a moment when dropped: a destructor that does green I/O.
struct SlowDrop;

impl Drop for SlowDrop {
    fn drop(&mut self) {
        guv::sleep(Duration::from_millis(2));
    }
}

#[guv::test(timeout = "30s")]
fn killall_returns_once_every_greenlet_has_unwound_even_through_blocking_destructors() {
    let flags: Vec<Rc<Cell<bool>>> = (0..3).map(|_| Rc::new(Cell::new(false))).collect();
    let gts: Vec<_> = flags
        .iter()
        .map(|f| {
            let f = f.clone();
            guv::spawn(move || {
                let _flag = DropFlag(f); // dropped last
                let _slow = SlowDrop;
                guv::sleep(Duration::MAX);
            })
        })
        .collect();
    guv::gyield();
    guv::killall(&gts);
    assert!(gts.iter().all(|gt| gt.is_finished()));
    assert!(flags.iter().all(|f| f.get()));
}

// ---------------------------------------------------------------------------
// 2. A bounded crawler: a GreenPool fetches pages from local HTTP servers,
//    each fetch under a Timeout; one server never answers.

use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};

/// Fetches `http://{addr}{path}` with a hand-written HTTP/1.1 client on a
/// green socket; returns the status code and the body.
fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = guv::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    std::io::Read::read_to_string(&mut s, &mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// Decrements the in-flight count however the fetch ends (a `Timeout`
/// unwinds the fetch, so the bookkeeping goes in a destructor).
struct InFlight(Rc<Cell<usize>>);

impl InFlight {
    fn enter(count: &Rc<Cell<usize>>, peak: &Cell<usize>) -> InFlight {
        count.set(count.get() + 1);
        peak.set(peak.get().max(count.get()));
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

#[guv::test(timeout = "60s")]
fn crawler_pool_bounds_concurrency_and_times_out_the_silent_server() {
    const POOL: usize = 4;
    // Three sites that answer after a short green sleep, one that never does.
    let mut sites = Vec::new();
    let mut stops = Vec::new();
    let mut servers = Vec::new();
    let never = guv::Event::new();
    for site in 0..4 {
        let never = never.clone();
        let app = move |req: Request<Body>| {
            if site == 3 {
                never.wait(); // the silent server
            }
            guv::sleep(Duration::from_millis(5));
            Response::new(Body::from(format!("site {site} page {}", req.uri().path())))
        };
        let server = Server::new(app).shutdown_timeout(Duration::from_millis(50));
        let listener = guv::listen("127.0.0.1:0").unwrap();
        sites.push(listener.local_addr().unwrap());
        stops.push(server.shutdown_handle());
        servers.push(guv::spawn(move || server.serve(listener)));
    }

    // Twelve pages on the good sites, with the silent site's two among them.
    let mut urls: Vec<(usize, String)> = (0..12).map(|i| (i % 3, format!("/p{i}"))).collect();
    urls.insert(2, (3, "/lost".into()));
    urls.insert(9, (3, "/gone".into()));

    let in_flight = Rc::new(Cell::new(0));
    let peak = Rc::new(Cell::new(0));
    let pool = guv::GreenPool::new(POOL);
    let fetch = {
        let (in_flight, peak, sites) = (in_flight.clone(), peak.clone(), sites.clone());
        move |(site, path): (usize, String)| {
            let _counted = InFlight::enter(&in_flight, &peak);
            guv::with_timeout(Duration::from_millis(300), || http_get(sites[site], &path))
        }
    };
    let results: Vec<_> = pool.imap(fetch, urls.clone()).map(|r| r.expect("no fetch panicked")).collect();

    for ((site, path), result) in urls.iter().zip(&results) {
        match result {
            Ok((status, body)) => {
                assert_ne!(*site, 3, "the silent site answered {path}");
                assert_eq!((*status, body.as_str()), (200, format!("site {site} page {path}").as_str()));
            }
            Err(e) => {
                assert_eq!(*site, 3, "{path} on site {site} failed: {e}");
                assert!(e.is_timed_out());
            }
        }
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 12);
    assert_eq!(peak.get(), POOL, "the pool ran more (or fewer) fetches at once than its size");
    assert_eq!(in_flight.get(), 0);

    for stop in stops {
        stop.shutdown();
    }
    for server in servers {
        server.wait().unwrap().unwrap();
    }
}

// ---------------------------------------------------------------------------
// 3. Plain std code, patched: a thread-per-connection TCP proxy and a
//    `Mutex<Receiver>` worker pool, green threads on one OS thread.

/// A TCP proxy as one would write it for OS threads.
#[guv::patched]
mod proxy {
    use std::io;
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;

    pub struct Proxy {
        pub addr: SocketAddr,
        stop: Arc<AtomicBool>,
        acceptor: Option<thread::JoinHandle<usize>>,
    }

    impl Proxy {
        pub fn start(upstream: SocketAddr) -> io::Result<Proxy> {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let stop = Arc::new(AtomicBool::new(false));
            let stopping = stop.clone();
            let acceptor = thread::spawn(move || {
                let mut relays = Vec::new();
                for client in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    relays.push(thread::spawn(move || relay(client, upstream)));
                }
                let served = relays.len();
                for r in relays {
                    r.join().unwrap().unwrap();
                }
                served
            });
            Ok(Proxy { addr, stop, acceptor: Some(acceptor) })
        }

        /// Stops accepting, waits for the open relays; returns how many
        /// connections were served.
        pub fn stop(mut self) -> usize {
            self.stop.store(true, Ordering::SeqCst);
            drop(TcpStream::connect(self.addr)); // wake the acceptor
            self.acceptor.take().unwrap().join().unwrap()
        }
    }

    fn relay(client: TcpStream, upstream: SocketAddr) -> io::Result<()> {
        let server = TcpStream::connect(upstream)?;
        let (mut from_client, mut to_server) = (client.try_clone()?, server.try_clone()?);
        let up = thread::spawn(move || {
            let n = io::copy(&mut from_client, &mut to_server);
            let _ = to_server.shutdown(Shutdown::Write);
            n
        });
        let (mut from_server, mut to_client) = (server, client);
        let down = io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
        up.join().unwrap()?;
        down?;
        Ok(())
    }

    /// An upstream that sends back everything it reads, upper-cased, and
    /// ends each connection once the client has finished sending.
    pub fn shouting_echo() -> io::Result<(SocketAddr, thread::JoinHandle<()>)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = thread::spawn(move || {
            // Serves two connections, then ends.
            let conns: Vec<_> = (0..2)
                .map(|_| {
                    let (mut conn, _) = listener.accept().unwrap();
                    thread::spawn(move || {
                        let mut buf = [0; 8192];
                        loop {
                            let n = io::Read::read(&mut conn, &mut buf).unwrap();
                            if n == 0 {
                                break;
                            }
                            buf[..n].make_ascii_uppercase();
                            io::Write::write_all(&mut conn, &buf[..n]).unwrap();
                        }
                    })
                })
                .collect();
            for c in conns {
                c.join().unwrap();
            }
        });
        Ok((addr, server))
    }
}

const PY_PROXY_CLIENT: &str = r#"
import socket, sys, threading
n = int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
data = bytes(b"abcdefghijklmnopqrstuvwxyz"[i % 26] for i in range(n))
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
t.join()
print(len(got), got == data.upper())
"#;

#[guv::test(timeout = "60s")]
fn a_patched_std_proxy_relays_both_ways_for_python_and_curl() {
    // Both directions at once, a megabyte each way, by a Python client
    // whose reader and writer are two threads of its own.
    let (echo_addr, echo) = proxy::shouting_echo().unwrap();
    let p = proxy::Proxy::start(echo_addr).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", PY_PROXY_CLIENT, &p.addr.port().to_string(), "1000000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "1000000 True\n");
    // A green client as well: the proxy's threads share this OS thread.
    let mut c = std::net::TcpStream::connect(p.addr).unwrap();
    std::io::Write::write_all(&mut c, b"quiet please").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    std::io::Read::read_to_string(&mut c, &mut back).unwrap();
    assert_eq!(back, "QUIET PLEASE");
    assert_eq!(p.stop(), 2);
    echo.join().unwrap();

    // curl through the proxy to a guv::wsgi server, two requests on one
    // kept-alive connection.
    let app = |req: Request<Body>| Response::new(Body::from(format!("you asked for {}\n", req.uri().path())));
    let server = Server::new(app);
    let stop = server.shutdown_handle();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let web = listener.local_addr().unwrap();
    let web_server = std::thread::spawn(move || server.serve(listener)); // a green thread too
    let p = proxy::Proxy::start(web).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", "20"])
        .arg(format!("http://{}/one", p.addr))
        .arg(format!("http://{}/two", p.addr))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "you asked for /one\nyou asked for /two\n");
    assert_eq!(p.stop(), 1, "curl kept its connection for both requests");
    stop.shutdown();
    web_server.join().unwrap().unwrap();
}

/// The Rust book's thread pool (workers share a `Mutex<Receiver>` and hold
/// the lock while they wait in `recv`), plus a `Mutex` + `Condvar` latch.
#[guv::patched]
mod workers {
    use std::sync::{Arc, Condvar, Mutex, mpsc};
    use std::thread;

    type Job = Box<dyn FnOnce() + Send + 'static>;

    pub struct ThreadPool {
        workers: Vec<thread::JoinHandle<usize>>,
        sender: Option<mpsc::Sender<Job>>,
    }

    impl ThreadPool {
        pub fn new(size: usize) -> ThreadPool {
            let (sender, receiver) = mpsc::channel::<Job>();
            let receiver = Arc::new(Mutex::new(receiver));
            let workers = (0..size)
                .map(|_| {
                    let receiver = Arc::clone(&receiver);
                    thread::spawn(move || {
                        let mut jobs = 0;
                        loop {
                            // The guard lives to the end of the statement:
                            // the lock is held while waiting for a job.
                            let message = receiver.lock().unwrap().recv();
                            match message {
                                Ok(job) => {
                                    job();
                                    jobs += 1;
                                }
                                Err(_) => break jobs,
                            }
                        }
                    })
                })
                .collect();
            ThreadPool { workers, sender: Some(sender) }
        }

        pub fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
            self.sender.as_ref().unwrap().send(Box::new(f)).unwrap();
        }

        /// Closes the queue and returns how many jobs each worker ran.
        pub fn join(mut self) -> Vec<usize> {
            drop(self.sender.take());
            self.workers.drain(..).map(|w| w.join().unwrap()).collect()
        }
    }

    /// Counts down to zero; `wait` blocks until it gets there.
    pub struct Latch {
        left: Mutex<usize>,
        zero: Condvar,
    }

    impl Latch {
        pub fn new(n: usize) -> Latch {
            Latch { left: Mutex::new(n), zero: Condvar::new() }
        }

        pub fn count_down(&self) {
            let mut left = self.left.lock().unwrap();
            *left -= 1;
            if *left == 0 {
                self.zero.notify_all();
            }
        }

        pub fn wait(&self) {
            let mut left = self.left.lock().unwrap();
            while *left > 0 {
                left = self.zero.wait(left).unwrap();
            }
        }
    }
}

#[guv::test(timeout = "60s")]
fn a_patched_mutex_receiver_worker_pool_runs_on_one_os_thread_without_deadlock() {
    use std::sync::{Arc, Mutex};
    let os_thread = guv::original!(std::thread::current)().id();
    let pool = workers::ThreadPool::new(4);
    // Phase 1: four jobs that can only finish together — each waits at a
    // latch the others count down — so four workers must run at once.
    let all_in = Arc::new(workers::Latch::new(4));
    let done = Arc::new(workers::Latch::new(4 + 20));
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..4 {
        let (all_in, done, seen) = (all_in.clone(), done.clone(), seen.clone());
        pool.execute(move || {
            all_in.count_down();
            all_in.wait();
            seen.lock().unwrap().push((i, guv::original!(std::thread::current)().id()));
            done.count_down();
        });
    }
    // Phase 2: more jobs than workers, each sleeping (green) a little.
    for i in 4..24 {
        let (done, seen) = (done.clone(), seen.clone());
        pool.execute(move || {
            std::thread::sleep(std::time::Duration::from_millis(1));
            seen.lock().unwrap().push((i, guv::original!(std::thread::current)().id()));
            done.count_down();
        });
    }
    done.wait();
    let per_worker = pool.join();
    assert_eq!(per_worker.iter().sum::<usize>(), 24);
    assert!(per_worker.iter().all(|&n| n >= 1), "every worker took a job: {per_worker:?}");
    let mut seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, t)| *t == os_thread), "a job ran on another OS thread");
    seen.sort_by_key(|(i, _)| *i);
    assert_eq!(seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(), (0..24).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// 4. A subprocess pipeline: feed a child's stdin from one greenlet while
//    another reads its stdout (the classic deadlock when done serially).

/// `rounds` echo round trips over a real TCP connection, from a greenlet
/// of its own; the returned event is set when they are all done.
fn echo_round_trips(rounds: usize) -> (guv::GreenThread<()>, guv::Event) {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let done = guv::Event::new();
    let d = done.clone();
    let gt = guv::spawn(move || {
        let echo = guv::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0; 64];
            loop {
                let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
                if n == 0 {
                    break;
                }
                conn.write_all(&buf[..n]).unwrap();
            }
        });
        let mut c = guv::connect(addr).unwrap();
        for i in 0..rounds {
            let msg = format!("{i:08}");
            c.write_all(msg.as_bytes()).unwrap();
            let mut back = [0; 8];
            std::io::Read::read_exact(&mut c, &mut back).unwrap();
            assert_eq!(&back, msg.as_bytes());
        }
        drop(c);
        echo.wait().unwrap();
        d.set();
    });
    (gt, done)
}

#[guv::test(timeout = "60s")]
fn cat_pipeline_writer_and_reader_greenlets_do_not_deadlock_and_the_hub_keeps_running() {
    let input: Vec<u8> = (0..4_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let data = Rc::new(input);
    let d = data.clone();
    let writer = guv::spawn(move || {
        stdin.write_all(&d).unwrap(); // 4 MB: blocks until the reader drains
        drop(stdin); // EOF for cat
    });
    // While the writer is stuck on the full pipe, another greenlet does
    // real network round trips; only then does the reader start.
    let (side, side_done) = echo_round_trips(50);
    side_done.wait();
    assert!(!writer.is_finished(), "4 MB cannot fit in the pipes: the writer must still be parked");
    let reader = guv::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let out = reader.wait().unwrap();
    writer.wait().unwrap();
    side.wait().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out.len(), data.len());
    assert!(out == *data, "cat changed the bytes");
}

#[guv::test(timeout = "60s")]
fn sort_pipeline_with_concurrent_feeder_and_reader() {
    let lines = 200_000u32;
    let mut child =
        Command::new("sort").arg("-n").env("LC_ALL", "C").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let feeder = guv::spawn(move || {
        let mut buf = Vec::new();
        for i in (0..lines).rev() {
            writeln!(buf, "{}", i * 7 % lines).unwrap();
        }
        stdin.write_all(&buf).unwrap();
    });
    let reader = guv::spawn(move || {
        BufReader::new(stdout).lines().map(|l| l.unwrap().parse::<u32>().unwrap()).collect::<Vec<_>>()
    });
    let (side, side_done) = echo_round_trips(20);
    side_done.wait();
    let sorted = reader.wait().unwrap();
    feeder.wait().unwrap();
    side.wait().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(sorted, (0..lines).collect::<Vec<_>>(), "7 is prime to 200000: a permutation");
}

// ---------------------------------------------------------------------------
// 5. Producers and consumers: ordered results from GreenPile and imap, and
//    consumers killed mid-wait that lose nothing.

#[guv::test(timeout = "60s")]
fn green_pile_and_imap_give_results_in_order_from_a_queue_fed_producer() {
    // A producer greenlet feeds a bounded queue; imap's input is the
    // queue's consumer side, read lazily as the pool has room.
    let jobs = guv::queue::Queue::new(Some(3));
    let tx = jobs.clone();
    let producer = guv::spawn(move || {
        for i in 0..30u64 {
            tx.put(Some(i));
        }
        tx.put(None); // end of input
    });
    let input = std::iter::from_fn(move || jobs.get());
    let in_flight = Rc::new(Cell::new(0));
    let peak = Rc::new(Cell::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let pool = guv::GreenPool::new(5);
    let results: Vec<u64> = pool
        .imap(
            move |i: u64| {
                let _counted = InFlight::enter(&f, &p);
                guv::sleep(Duration::from_micros(300 * (i % 4))); // finish out of order
                i * i
            },
            input,
        )
        .map(Result::unwrap)
        .collect();
    producer.wait().unwrap();
    assert_eq!(results, (0..30).map(|i| i * i).collect::<Vec<_>>());
    assert_eq!(peak.get(), 5);

    // GreenPile: one failure keeps its place.
    guv::debug::hub_exceptions(false);
    let mut pile = guv::GreenPile::new(3);
    for i in 0..6u32 {
        pile.spawn(move || {
            guv::sleep(Duration::from_micros(200 * u64::from(6 - i)));
            assert!(i != 4, "job 4 fails");
            i
        });
    }
    let got: Vec<Result<u32, String>> =
        pile.map(|r| r.map_err(|e| e.panic_message().unwrap_or("?").to_owned())).collect();
    assert_eq!(got, [Ok(0), Ok(1), Ok(2), Ok(3), Err("job 4 fails".into()), Ok(5)]);
}

#[guv::test(timeout = "60s")]
fn a_consumer_killed_right_after_being_handed_an_item_loses_nothing() {
    for maxsize in [None, Some(2), Some(0)] {
        let q = guv::queue::Queue::new(maxsize);
        let got = guv_tests::Log::new();
        let consumers: Vec<_> = (0..3)
            .map(|c| {
                let (q, got) = (q.clone(), got.clone());
                guv::spawn(move || {
                    loop {
                        let item: u32 = q.get();
                        got.push(format!("c{c} {item}"));
                    }
                })
            })
            .collect();
        guv::gyield(); // all three wait in get
        assert_eq!(q.getting(), 3);
        // The item goes to c0, the first waiter; c0 is killed before it
        // runs again, so the item must reach c1 instead.
        q.put(7);
        consumers[0].kill();
        guv::gyield();
        assert_eq!(got.take(), ["c1 7"], "maxsize {maxsize:?}");
        consumers[2].kill();
        q.put(8);
        guv::gyield();
        assert_eq!(got.take(), ["c1 7", "c1 8"], "maxsize {maxsize:?}");
        guv::killall(&consumers);
        assert_eq!((q.qsize(), q.getting()), (0, 0));
    }
}

#[guv::test(timeout = "60s")]
fn consumers_killed_at_random_points_never_lose_or_duplicate_an_item() {
    let mut rng = guv_tests::XorShift(0x9e37_79b9_7f4a_7c15);
    for maxsize in [None, Some(1), Some(0)] {
        let q = guv::queue::Queue::new(maxsize);
        let got: Rc<RefCell<Vec<u32>>> = Rc::default();
        let consumer = |q: &guv::queue::Queue<u32>, got: &Rc<RefCell<Vec<u32>>>| {
            let (q, got) = (q.clone(), got.clone());
            guv::spawn(move || {
                loop {
                    let item = q.get();
                    got.borrow_mut().push(item); // no switch between get and this
                    if item % 5 == 0 {
                        guv::gyield();
                    }
                }
            })
        };
        let mut consumers: Vec<_> = (0..4).map(|_| consumer(&q, &got)).collect();
        let total = 2000u32;
        let tx = q.clone();
        let producer = guv::spawn(move || {
            for i in 0..total {
                tx.put(i);
            }
        });
        let mut kills = 0;
        while !producer.is_finished() {
            for _ in 0..rng.below(4) {
                guv::gyield();
            }
            let victim = rng.below(consumers.len());
            consumers[victim].kill();
            kills += 1;
            consumers[victim] = consumer(&q, &got);
        }
        producer.wait().unwrap();
        // Let the survivors drain what is left, then stop them.
        while q.qsize() > 0 || q.putting() > 0 {
            guv::gyield();
        }
        guv::killall(&consumers);
        let mut all = got.borrow().clone();
        all.sort_unstable();
        assert_eq!(all, (0..total).collect::<Vec<_>>(), "maxsize {maxsize:?} after {kills} kills");
    }
}

#[guv::test(timeout = "60s")]
fn a_waiter_killed_after_being_granted_a_permit_or_a_pool_slot_gives_it_back() {
    let sem = guv::Semaphore::new(1);
    sem.acquire();
    let s = sem.clone();
    let waiter = guv::spawn(move || {
        s.acquire();
        unreachable!("killed before it ran again");
    });
    guv::gyield();
    assert_eq!(sem.balance(), -1);
    sem.release(); // granted to the waiter...
    waiter.kill(); // ...which dies before it runs
    assert!(waiter.wait().unwrap_err().is_killed());
    assert_eq!(sem.count(), 1, "the permit went back");

    let pool = guv::GreenPool::new(1);
    let gate = guv::Event::new();
    let g = gate.clone();
    let member = pool.spawn(move || g.wait());
    let p = pool.clone();
    let spawner = guv::spawn(move || {
        p.spawn_n(|| unreachable!("the spawner was killed before it started this"));
    });
    guv::gyield();
    assert_eq!(pool.waiting(), 1);
    gate.set();
    guv::gyield(); // the member ends: its slot is granted to the spawner...
    assert!(member.is_finished() && !spawner.is_finished());
    spawner.kill(); // ...which dies before it uses it
    assert!(spawner.wait().unwrap_err().is_killed());
    assert_eq!((pool.free(), pool.running(), pool.waiting()), (1, 0, 0));
    assert_eq!(pool.spawn(|| 5).wait().unwrap(), 5);
}

// ---------------------------------------------------------------------------
// 6. Timeouts as gevent users write them.

/// A connected pair of green sockets.
fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let a = guv::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    (a, b)
}

#[guv::test(timeout = "60s")]
fn a_timeout_around_a_block_of_blocking_calls_interrupts_the_one_that_hangs() {
    let log = guv_tests::Log::new();
    let (mut a, b) = socket_pair();
    let peer = guv::spawn(move || {
        // Answers one request, then goes silent (keeps the socket open).
        let mut r = BufReader::new(b);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        r.get_mut().write_all(b"pong\n").unwrap();
        guv::sleep(Duration::MAX);
    });
    // `with Timeout(0.2): ...` on the test's own (main) greenlet.
    let l = log.clone();
    let result = guv::with_timeout(Duration::from_millis(200), || {
        guv::sleep(Duration::from_millis(1));
        l.push("slept");
        a.write_all(b"ping\n").unwrap();
        let mut r = BufReader::new(&a);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        l.push(format!("got {}", line.trim()));
        line.clear();
        r.read_line(&mut line).unwrap(); // the peer never sends this
        l.push("unreachable");
    });
    assert!(result.unwrap_err().is_timed_out());
    assert_eq!(log.take(), ["slept", "got pong"]);
    // The socket is still usable after the interrupted read.
    a.write_all(b"still here\n").unwrap();
    peer.kill();

    // The guard form in a greenlet that does not catch it: the greenlet
    // ends with TimedOut.
    let gt = guv::spawn(|| {
        let _t = guv::Timeout::start(Duration::from_millis(5));
        let q = LightQueue::<u8>::new(None);
        q.get()
    });
    assert!(gt.wait().unwrap_err().is_timed_out());
}

#[guv::test(timeout = "60s")]
fn nested_timeouts_each_catch_only_their_own() {
    let log = guv_tests::Log::new();
    // The inner one is shorter: it fires, the outer block goes on.
    let l = log.clone();
    let outer = guv::with_timeout(Duration::from_secs(30), || {
        let inner = guv::with_timeout(Duration::from_millis(5), || guv::sleep(Duration::MAX));
        l.push(format!("inner timed out: {}", inner.unwrap_err().is_timed_out()));
        guv::sleep(Duration::from_millis(1));
        "outer finished"
    });
    assert_eq!(outer.unwrap(), "outer finished");
    // The outer one is shorter: it passes through the inner scope, which
    // must not take it for its own.
    let l = log.clone();
    let outer = guv::with_timeout(Duration::from_millis(5), || {
        let inner = guv::with_timeout(Duration::from_secs(30), || guv::sleep(Duration::MAX));
        l.push(format!("inner returned {inner:?}"));
    });
    assert!(outer.unwrap_err().is_timed_out());
    assert_eq!(log.take(), ["inner timed out: true"]);
}

#[guv::test(timeout = "60s")]
fn a_timeout_firing_as_an_item_arrives_in_a_queue_get_loses_nothing() {
    for other_getter in [false, true] {
        let q = LightQueue::<u32>::new(None);
        let rx = q.clone();
        let getter = guv::spawn(move || guv::with_timeout(Duration::from_millis(50), || rx.get()));
        guv::gyield(); // the getter waits, its timeout armed
        let second = other_getter.then(|| {
            let rx = q.clone();
            guv::spawn(move || rx.get())
        });
        // Blocks the whole hub (not green: `original!`) past both deadlines
        // below, so that they fire in one timer pass: this greenlet's
        // sleep first, then the getter's timeout.
        guv::spawn_n(|| guv::original!(std::thread::sleep)(Duration::from_millis(100)));
        guv::sleep(Duration::from_millis(5));
        // The getter's timeout has fired too; it has not run since.
        assert_eq!(q.getting(), 1 + usize::from(other_getter), "the timed-out getter is still queued");
        q.put(42);
        let got = getter.wait().unwrap();
        match second {
            // The getter timed out: the item went on to the next getter...
            Some(second) => {
                assert!(got.unwrap_err().is_timed_out());
                assert_eq!(second.wait().unwrap(), 42);
            }
            // ...or back to the queue.
            None => {
                assert!(got.unwrap_err().is_timed_out());
                assert_eq!(q.try_get(), Ok(42));
            }
        }
        assert_eq!(q.qsize(), 0);
    }
}

#[guv::test(timeout = "60s")]
fn a_cancelled_timeout_never_fires_later() {
    // Cancelled before its deadline (a yield, not a sleep, in between: a
    // sleep as long as a short deadline can outlast it on a loaded
    // machine, and the timeout then fires before the cancel).
    let t = guv::Timeout::start(Duration::from_millis(200));
    guv::gyield();
    assert!(t.is_pending());
    t.cancel();
    guv::sleep(Duration::from_millis(300)); // well past the deadline
    // Past its deadline while the greenlet never blocked: a block that
    // does not block is not interrupted, and the timeout, gone with the
    // block, does not hit a later, unrelated wait.
    let r = guv::with_timeout(Duration::from_millis(2), || {
        guv::original!(std::thread::sleep)(Duration::from_millis(10)); // holds the hub: no switch
        "done without blocking"
    });
    assert_eq!(r.unwrap(), "done without blocking");
    let q = LightQueue::new(None);
    let tx = q.clone();
    guv::spawn_after(Duration::from_millis(10), move || tx.put("later"));
    assert_eq!(q.get(), "later");
    // with_timeout's own timer is gone once it returns.
    assert_eq!(guv::with_timeout(Duration::from_millis(5), || 1).unwrap(), 1);
    guv::sleep(Duration::from_millis(20));
}

#[guv::test]
#[should_panic(expected = "guv::Timeout")]
fn an_uncaught_timeout_on_the_test_body_fails_the_test_with_a_message() {
    let _t = guv::Timeout::start(Duration::from_millis(1));
    guv::sleep(Duration::MAX);
}

/// gevent's `StreamServer(addr, handle, spawn=Pool(n))` and `Pool.kill()`:
/// handlers live in a pool, which stopping the server kills.
#[guv::test(timeout = "60s")]
fn a_pool_of_connection_handlers_is_killed_as_one() {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handlers = guv::GreenPool::new(100);
    let pool = handlers.clone();
    let acceptor = guv::spawn(move || {
        loop {
            let (conn, _) = listener.accept().unwrap();
            pool.spawn_n(move || {
                // Echo lines until the client leaves.
                let mut r = BufReader::new(&conn);
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    (&conn).write_all(line.as_bytes()).unwrap();
                    line.clear();
                }
            });
        }
    });
    let mut clients: Vec<LineClient> = (0..5).map(|_| LineClient::connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&format!("hi {i}"));
        assert_eq!(c.line(), format!("hi {i}"));
    }
    assert_eq!(handlers.running(), 5);
    // Stop: no more accepts, every handler killed...
    acceptor.kill();
    // ...also one spawned but not yet started: it never runs.
    let never = handlers.spawn(|| unreachable!("spawned before the kill, started after it"));
    handlers.killall();
    assert_eq!((handlers.running(), handlers.free()), (0, 100));
    assert!(never.wait().unwrap_err().is_killed());
    // The clients see their connections closed.
    for c in &mut clients {
        let mut rest = String::new();
        assert_eq!(c.0.read_line(&mut rest).unwrap(), 0);
    }
    // The pool is still usable.
    assert_eq!(handlers.spawn(|| 7).wait().unwrap(), 7);
}

#[guv::test(timeout = "60s")]
fn pool_killall_spares_waiting_spawners_waits_for_slow_destructors_and_kills_a_calling_member_last() {
    use std::time::Duration;
    let pool = guv::GreenPool::new(2);
    pool.killall(); // empty: returns at once
    let log = guv_tests::Log::new();
    let l = log.clone();
    let slow = pool.spawn(move || {
        struct Logged(guv_tests::Log);
        impl Drop for Logged {
            fn drop(&mut self) {
                guv::sleep(Duration::from_millis(2)); // a destructor that blocks
                self.0.push("slow member unwound");
            }
        }
        let _l = Logged(l);
        guv::sleep(Duration::MAX);
    });
    let p = pool.clone();
    let l = log.clone();
    let killer = pool.spawn(move || {
        guv::sleep(Duration::from_millis(1));
        l.push("member calls killall");
        p.killall();
        unreachable!("the calling member is killed last");
    });
    // A spawner waiting for a slot is not a member: it runs afterwards.
    let p = pool.clone();
    let l = log.clone();
    let spawner = guv::spawn(move || p.spawn(move || l.push("waiting spawner ran")).wait());
    guv::gyield();
    assert_eq!(pool.waiting(), 1);
    assert!(killer.wait().unwrap_err().is_killed());
    assert!(slow.wait().unwrap_err().is_killed());
    spawner.wait().unwrap().unwrap();
    assert_eq!(log.take(), ["member calls killall", "slow member unwound", "waiting spawner ran"]);
    assert_eq!(pool.free(), 2);

    // A pile's pool: every result not yet in becomes Killed, in order.
    let mut pile = guv::GreenPile::new(3);
    pile.spawn(|| 1);
    guv::gyield();
    pile.spawn(|| {
        guv::sleep(Duration::MAX);
        2
    });
    pile.spawn(|| 3);
    pile.pool().killall();
    let got: Vec<bool> = pile.map(|r| r.is_ok()).collect();
    assert_eq!(got, [true, false, false]);
}

// ---------------------------------------------------------------------------
// 7. Long polling (gevent's classic web chat): a request parks until
//    another request posts a message; real clients are Python's
//    http.client (keep-alive) and curl.

const PY_LONG_POLL: &str = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for _ in range(2):
    c.request("GET", "/wait")
    r = c.getresponse()
    print(r.status, r.read().decode(), flush=True)
"#;

#[guv::test(timeout = "60s")]
fn long_poll_requests_park_until_a_post_wakes_them_all() {
    use std::io::Read;
    let waiting: Rc<RefCell<Vec<guv::AsyncResult<String, ()>>>> = Rc::default();
    let arrivals = LightQueue::new(None);
    let (w, a) = (waiting.clone(), arrivals.clone());
    let app = move |req: Request<Body>| match req.uri().path() {
        "/wait" => {
            let slot = guv::AsyncResult::new();
            w.borrow_mut().push(slot.clone());
            a.put(());
            Response::new(Body::from(slot.get().unwrap()))
        }
        "/send" => {
            let mut text = String::new();
            req.into_body().read_to_string(&mut text).unwrap();
            let woken = w.borrow_mut().drain(..).filter(|slot| slot.set(text.clone()).is_ok()).count();
            Response::new(Body::from(format!("woke {woken}\n")))
        }
        _ => Response::builder().status(404).body(Body::empty()).unwrap(),
    };
    let server = Server::new(app);
    let stop = server.shutdown_handle();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = guv::spawn(move || server.serve(listener));

    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let mut child = Command::new("python3")
                .args(["-c", PY_LONG_POLL, &addr.port().to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let out = BufReader::new(child.stdout.take().unwrap());
            (child, out)
        })
        .collect();
    let mut pollers = pollers;
    for message in ["hello", "again"] {
        arrivals.get();
        arrivals.get(); // both pollers are parked in the app
        let out = Command::new("curl")
            .args(["-sS", "--noproxy", "*", "--max-time", "20", "--data-binary", message])
            .arg(format!("http://{addr}/send"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "woke 2\n");
        for (_, out) in &mut pollers {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            assert_eq!(line, format!("200 {message}\n"));
        }
    }
    for (mut child, _) in pollers {
        assert!(child.wait().unwrap().success());
    }
    stop.shutdown();
    served.wait().unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// 8. Patched std, scoped: `thread::scope` fan-out over borrowed data, a
//    `Barrier`, and `mpsc::Receiver::recv_timeout`, as one writes them for
//    OS threads.

#[guv::patched]
mod fanout {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::{Barrier, mpsc};
    use std::thread;
    use std::time::Duration;

    /// A server answering each connection with the length of what it sent.
    pub fn length_server(conns: usize) -> (SocketAddr, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let h = thread::spawn(move || {
            thread::scope(|s| {
                for _ in 0..conns {
                    let (mut c, _) = listener.accept().unwrap();
                    s.spawn(move || {
                        let mut data = Vec::new();
                        c.read_to_end(&mut data).unwrap();
                        write!(c, "{}", data.len()).unwrap();
                    });
                }
            });
        });
        (addr, h)
    }

    /// Sends every word to the server at once, one scoped thread per word
    /// (borrowing `words`), all starting their requests together at a
    /// barrier; returns the answers in order and what a progress channel
    /// reported.
    pub fn lengths(addr: SocketAddr, words: &[String]) -> (Vec<usize>, Vec<usize>) {
        let barrier = Barrier::new(words.len());
        let (progress, reports) = mpsc::channel();
        let answers = thread::scope(|s| {
            let handles: Vec<_> = words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let (barrier, progress) = (&barrier, progress.clone());
                    s.spawn(move || {
                        barrier.wait();
                        let mut c = TcpStream::connect(addr).unwrap();
                        c.write_all(w.as_bytes()).unwrap();
                        c.shutdown(std::net::Shutdown::Write).unwrap();
                        let mut answer = String::new();
                        c.read_to_string(&mut answer).unwrap();
                        progress.send(i).unwrap();
                        answer.parse::<usize>().unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        drop(progress);
        let mut seen = Vec::new();
        // Every sender is gone: the channel reports Disconnected, not a timeout.
        loop {
            match reports.recv_timeout(Duration::from_secs(10)) {
                Ok(i) => seen.push(i),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
        }
        seen.sort();
        (answers, seen)
    }
}

#[guv::test(timeout = "60s")]
fn scoped_green_threads_fan_out_over_borrowed_data() {
    let words: Vec<String> = (1..=12).map(|n| "w".repeat(n * 1000)).collect();
    let (addr, server) = fanout::length_server(words.len());
    let (answers, seen) = fanout::lengths(addr, &words);
    assert_eq!(answers, (1..=12).map(|n| n * 1000).collect::<Vec<_>>());
    assert_eq!(seen, (0..12).collect::<Vec<_>>());
    server.join().unwrap();
}

/// gevent's `g.join(timeout)` then `g.kill()`: waiting with a timeout keeps
/// the handle.
#[guv::test(timeout = "60s")]
fn wait_timeout_gives_the_handle_back_for_a_kill() {
    let slow = guv::spawn(|| {
        guv::sleep(Duration::MAX);
        1
    });
    let slow = slow.wait_timeout(Duration::from_millis(5)).expect_err("still sleeping");
    slow.kill();
    assert!(slow.wait_timeout(Duration::from_secs(30)).unwrap().unwrap_err().is_killed());

    let quick = guv::spawn(|| 7);
    assert_eq!(quick.wait_timeout(Duration::from_secs(30)).unwrap().unwrap(), 7);

    // A waiter that times out leaves nothing behind: the greenlet ending
    // later wakes no one, and a second wait gets the result.
    let gate = guv::Event::new();
    let g = gate.clone();
    let later = guv::spawn(move || {
        g.wait();
        "later"
    });
    let later = later.wait_timeout(Duration::from_millis(2)).expect_err("the gate is closed");
    gate.set();
    guv::sleep(Duration::from_millis(2));
    assert!(later.is_finished());
    assert_eq!(later.wait().unwrap(), "later");
}

/// A consumer of ordered results that gives up waiting (a `Timeout`) and
/// comes back later must not have lost the result it was waiting for.
#[guv::test(timeout = "60s")]
fn pile_and_imap_consumers_timed_out_mid_wait_lose_no_result() {
    let gate = guv::Event::new();
    let mut pile = guv::GreenPile::new(3);
    for i in 0..3u32 {
        let g = gate.clone();
        pile.spawn(move || {
            g.wait();
            i
        });
    }
    let first = guv::with_timeout(Duration::from_millis(5), || pile.next());
    assert!(first.unwrap_err().is_timed_out());
    gate.set();
    let rest: Vec<u32> = pile.map(Result::unwrap).collect();
    assert_eq!(rest, [0, 1, 2], "the result waited for when the timeout fired is still there");

    let gate = guv::Event::new();
    let g = gate.clone();
    let pool = guv::GreenPool::new(2);
    let mut results = pool.imap(
        move |i: u32| {
            g.wait();
            i * 10
        },
        0..4,
    );
    let first = guv::with_timeout(Duration::from_millis(5), || results.next());
    assert!(first.unwrap_err().is_timed_out());
    gate.set();
    let rest: Vec<u32> = results.map(Result::unwrap).collect();
    assert_eq!(rest, [0, 10, 20, 30]);

    // imap on a pool shared with other work: the consumer times out while
    // imap waits for a slot to start the next call; that call's input
    // item must not be lost.
    let pool = guv::GreenPool::new(1);
    let gate = guv::Event::new();
    let g = gate.clone();
    let other = pool.spawn(move || g.wait());
    let mut results = pool.imap(|i: u32| i, 0..3);
    let first = guv::with_timeout(Duration::from_millis(5), || results.next());
    assert!(first.unwrap_err().is_timed_out());
    gate.set();
    other.wait().unwrap();
    let all: Vec<u32> = results.map(Result::unwrap).collect();
    assert_eq!(all, [0, 1, 2], "the input item being started when the timeout fired is still there");
}

// ---------------------------------------------------------------------------
// 9. Request context in green-locals (gevent's `local`): concurrent
//    requests on separate connections see only their own values; the
//    requests of one kept-alive connection share its greenlet's.

guv::local! {
    static REQUESTS_ON_THIS_GREENLET: Cell<u32> = const { Cell::new(0) };
    static WHO: RefCell<String> = RefCell::new(String::new());
}

const PY_PARALLEL_GETS: &str = r#"
import http.client, sys, threading
port, n = int(sys.argv[1]), int(sys.argv[2])
out = [None] * n
def get(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/?who=client%d" % i)
    out[i] = c.getresponse().read().decode()
ts = [threading.Thread(target=get, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for who in ("first", "second"):
    c.request("GET", "/?who=" + who + "&alone=1")
    out.append(c.getresponse().read().decode())
print("\n".join(out))
"#;

#[guv::test(timeout = "60s")]
fn green_locals_hold_per_connection_request_context() {
    const N: usize = 6;
    let arrived = Rc::new(Cell::new(0));
    let all_in = guv::Event::new();
    let (a, all) = (arrived.clone(), all_in.clone());
    let app = move |req: Request<Body>| {
        let query = req.uri().query().unwrap_or_default().to_owned();
        let who = query.split('&').find_map(|kv| kv.strip_prefix("who=")).unwrap_or("?").to_owned();
        WHO.with_borrow_mut(|w| *w = who);
        REQUESTS_ON_THIS_GREENLET.set(REQUESTS_ON_THIS_GREENLET.get() + 1);
        if !query.contains("alone=1") {
            // Every parallel request is in the app at once before any answers.
            a.set(a.get() + 1);
            if a.get() == N {
                all.set();
            }
            all.wait();
        }
        let body = format!("{} #{}", WHO.with_borrow(String::clone), REQUESTS_ON_THIS_GREENLET.get());
        Response::new(Body::from(body))
    };
    let server = Server::new(app);
    let stop = server.shutdown_handle();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = guv::spawn(move || server.serve(listener));
    let out = Command::new("python3")
        .args(["-c", PY_PARALLEL_GETS, &addr.port().to_string(), &N.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    let mut expected: Vec<String> = (0..N).map(|i| format!("client{i} #1")).collect();
    expected.extend(["first #1".into(), "second #2".into()]);
    assert_eq!(lines, expected);
    assert_eq!(arrived.get(), N);
    stop.shutdown();
    served.wait().unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// 10. A select() relay (eventlet's `select.select` loop): one greenlet moves
//     bytes both ways between two non-blocking sockets, with a buffer per
//     direction, waiting for readability or writability as the buffers say.

fn select_relay(a: TcpStream, b: TcpStream) -> (u64, u64) {
    use guv::Interest;
    use std::io::{ErrorKind, Read};
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let socks = [&a, &b];
    // bufs[i]: bytes read from socks[i], to be written to the other one.
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut eof = [false, false];
    let mut moved = [0u64, 0u64];
    let mut chunk = vec![0; 16384];
    loop {
        let mut want = Vec::new();
        for i in 0..2 {
            let mut interest = None;
            if !eof[i] && bufs[i].len() < 65536 {
                interest = Some(Interest::READABLE);
            }
            if !bufs[1 - i].is_empty() {
                interest = Some(interest.map_or(Interest::WRITABLE, |r| r | Interest::WRITABLE));
            }
            if let Some(interest) = interest {
                want.push((i, interest));
            }
        }
        if want.is_empty() {
            return (moved[0], moved[1]); // both sides ended, everything written
        }
        let fds: Vec<_> = want.iter().map(|&(i, interest)| (socks[i], interest)).collect();
        for r in guv::select(&fds, None).unwrap() {
            let i = want[r.index].0;
            let mut sock = socks[i]; // `Read` and `Write` are on `&TcpStream`
            if r.readable {
                match sock.read(&mut chunk) {
                    Ok(0) => eof[i] = true,
                    Ok(n) => bufs[i].extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("relay read: {e}"),
                }
            }
            if r.writable {
                match sock.write(&bufs[1 - i]) {
                    Ok(n) => {
                        bufs[1 - i].drain(..n);
                        moved[1 - i] += n as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("relay write: {e}"),
                }
            }
        }
        for i in 0..2 {
            // What i sent is all passed on: pass its end on too.
            if eof[i] && bufs[i].is_empty() {
                let _ = socks[1 - i].shutdown(std::net::Shutdown::Write);
            }
        }
    }
}

#[guv::test(timeout = "60s")]
fn a_select_relay_moves_a_megabyte_each_way_without_deadlock() {
    // The upstream echoes upper-cased, as it reads: if the relay ever
    // blocked writing to it without reading its answers, both would stall.
    let up_listener = guv::listen("127.0.0.1:0").unwrap();
    let up_addr = up_listener.local_addr().unwrap();
    let upstream = guv::spawn(move || {
        let (mut conn, _) = up_listener.accept().unwrap();
        let mut buf = [0; 8192];
        loop {
            let n = std::io::Read::read(&mut conn, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            buf[..n].make_ascii_uppercase();
            conn.write_all(&buf[..n]).unwrap();
        }
    });
    let front = guv::listen("127.0.0.1:0").unwrap();
    let front_addr = front.local_addr().unwrap();
    let relay = guv::spawn(move || {
        let (client, _) = front.accept().unwrap();
        let up = guv::connect(up_addr).unwrap();
        select_relay(client, up)
    });
    let out = Command::new("python3")
        .args(["-c", PY_PROXY_CLIENT, &front_addr.port().to_string(), "1000000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "1000000 True\n");
    assert_eq!(relay.wait().unwrap(), (1_000_000, 1_000_000));
    upstream.wait().unwrap();
}

/// A group whose leader kills the whole group (itself included) as it
/// unwinds: `killall` from a destructor does not wait for its caller.
#[guv::test(timeout = "60s")]
fn killall_from_a_destructor_on_a_list_that_holds_the_caller_returns() {
    type Group = Rc<RefCell<Vec<guv::GreenThread<()>>>>;
    struct KillGroup(Group);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            guv::killall(&self.0.borrow());
        }
    }
    let group: Group = Rc::default();
    let g = group.clone();
    let leader = guv::spawn(move || {
        let _guard = KillGroup(g);
        guv::sleep(Duration::MAX);
    });
    let helper = guv::spawn(|| guv::sleep(Duration::MAX));
    guv::gyield();
    group.borrow_mut().extend([leader, helper]);
    group.borrow()[0].kill();
    guv::wait_all(&group.borrow());
    assert!(group.borrow().iter().all(guv::GreenThread::is_finished));
}

// ---------------------------------------------------------------------------
// 11. eventlet's recursive web crawler: each fetch spawns fetches of the
//     links it finds into the same GreenPool (inline when the pool is
//     full), `waitall` ends the crawl; and gevent's JoinableQueue version,
//     workers and `join()`.

/// A site of `pages` pages on a guv::wsgi server: page i links to pages
/// 2i+1 and 2i+2 and back to 0. Returns its address, its stop handle, the
/// server greenlet and a log of the paths served.
fn linked_site(
    pages: usize,
) -> (SocketAddr, guv::wsgi::ShutdownHandle, guv::GreenThread<std::io::Result<()>>, guv_tests::Log) {
    let served = guv_tests::Log::new();
    let log = served.clone();
    let app = move |req: Request<Body>| {
        let path = req.uri().path().to_owned();
        log.push(path.clone());
        let i: usize = path.trim_start_matches("/page").parse().unwrap();
        guv::sleep(Duration::from_micros(200));
        let links: Vec<String> = [2 * i + 1, 2 * i + 2, 0]
            .into_iter()
            .filter(|&j| j < pages)
            .map(|j| format!("<a href=\"/page{j}\">"))
            .collect();
        Response::new(Body::from(links.join("\n")))
    };
    let server = Server::new(app);
    let stop = server.shutdown_handle();
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, stop, guv::spawn(move || server.serve(listener)), served)
}

fn links_of(body: &str) -> Vec<String> {
    body.split("href=\"").skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect()
}

#[guv::test(timeout = "60s")]
fn recursive_crawler_spawning_into_its_own_pool_visits_every_page_once() {
    const PAGES: usize = 40;
    let (addr, stop, server, served) = linked_site(PAGES);
    let seen: Rc<RefCell<std::collections::BTreeSet<String>>> = Rc::default();
    let pool = guv::GreenPool::new(3);

    fn crawl(
        addr: SocketAddr,
        path: String,
        seen: Rc<RefCell<std::collections::BTreeSet<String>>>,
        pool: guv::GreenPool,
    ) {
        let (status, body) = http_get(addr, &path);
        assert_eq!(status, 200);
        for link in links_of(&body) {
            if seen.borrow_mut().insert(link.clone()) {
                let (seen, p) = (seen.clone(), pool.clone());
                pool.spawn_n(move || crawl(addr, link, seen, p));
            }
        }
    }

    seen.borrow_mut().insert("/page0".into());
    let (s, p) = (seen.clone(), pool.clone());
    pool.spawn_n(move || crawl(addr, "/page0".into(), s, p));
    pool.waitall().unwrap();
    let mut got = served.take();
    got.sort();
    let mut want: Vec<String> = (0..PAGES).map(|i| format!("/page{i}")).collect();
    want.sort();
    assert_eq!(got, want, "every page fetched exactly once");
    assert_eq!(seen.borrow().len(), PAGES);
    stop.shutdown();
    server.wait().unwrap().unwrap();
}

#[guv::test(timeout = "60s")]
fn joinable_queue_crawler_workers_and_join() {
    const PAGES: usize = 40;
    let (addr, stop, server, served) = linked_site(PAGES);
    let q = guv::queue::Queue::new(None);
    let seen: Rc<RefCell<std::collections::BTreeSet<String>>> = Rc::default();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (q, seen) = (q.clone(), seen.clone());
            guv::spawn(move || {
                loop {
                    let path: String = q.get();
                    let (_, body) = http_get(addr, &path);
                    for link in links_of(&body) {
                        if seen.borrow_mut().insert(link.clone()) {
                            q.put(link);
                        }
                    }
                    q.task_done().unwrap();
                }
            })
        })
        .collect();
    seen.borrow_mut().insert("/page0".into());
    q.put("/page0".to_owned());
    q.join();
    guv::killall(&workers);
    assert_eq!(served.take().len(), PAGES);
    assert_eq!(seen.borrow().len(), PAGES);
    assert_eq!((q.qsize(), q.unfinished_tasks()), (0, 0));
    stop.shutdown();
    server.wait().unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// 12. A UDP request with timeout and retries (a DNS-style client): the
//     server ignores the first two tries.

#[guv::test(timeout = "60s")]
fn udp_client_retries_under_timeouts_until_answered() {
    let server = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap();
    let tries = Rc::new(Cell::new(0));
    let t = tries.clone();
    let responder = guv::spawn(move || {
        let mut buf = [0; 512];
        loop {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            t.set(t.get() + 1);
            if t.get() >= 3 {
                let mut answer = b"re: ".to_vec();
                answer.extend_from_slice(&buf[..n]);
                server.send_to(&answer, from).unwrap();
                return;
            }
        }
    });
    let client = guv::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut answer = None;
    for attempt in 0..10 {
        client.send_to(format!("query {attempt}").as_bytes(), server_addr).unwrap();
        let mut buf = [0; 512];
        match guv::with_timeout(Duration::from_millis(20), || client.recv_from(&mut buf)) {
            Ok(Ok((n, from))) => {
                assert_eq!(from, server_addr);
                answer = Some(String::from_utf8(buf[..n].to_vec()).unwrap());
                break;
            }
            Ok(Err(e)) => panic!("recv_from: {e}"),
            Err(e) => assert!(e.is_timed_out()),
        }
    }
    assert_eq!(answer.as_deref(), Some("re: query 2"));
    assert_eq!(tries.get(), 3);
    responder.wait().unwrap();

    // The std way, a read timeout on the socket, gives WouldBlock as on Linux.
    client.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let err = client.recv_from(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}

/// Runs `wait` on a greenlet and, once it waits, `give` in the same timer
/// pass in which the waiter's deadline (50 ms) expires: the hub is held
/// (a plain `std` sleep, outside any patched item) past both it and this
/// greenlet's 5 ms sleep, which comes first.
fn at_the_deadline<R: 'static>(wait: impl FnOnce() -> R + 'static, give: impl FnOnce()) -> R {
    let waiter = guv::spawn(wait);
    guv::gyield();
    guv::spawn_n(|| std::thread::sleep(Duration::from_millis(100)));
    guv::sleep(Duration::from_millis(5));
    give();
    waiter.wait().unwrap()
}

#[guv::test(timeout = "60s")]
fn a_permit_or_pool_slot_released_as_the_waiters_deadline_fires_is_not_lost() {
    const DEADLINE: Duration = Duration::from_millis(50);
    // acquire_timeout, and a Timeout around acquire: either the waiter got
    // the permit or the semaphore still has it.
    let sem = guv::Semaphore::new(0);
    let s = sem.clone();
    let got = at_the_deadline(move || s.acquire_timeout(DEADLINE), || sem.release());
    assert_eq!(sem.count(), usize::from(!got));
    let sem = guv::Semaphore::new(0);
    let s = sem.clone();
    let got = at_the_deadline(move || guv::with_timeout(DEADLINE, || s.acquire()).is_ok(), || sem.release());
    assert_eq!(sem.count(), usize::from(!got));
    // A channel get: the item is the getter's, or still with the putter.
    let q = guv::queue::Queue::<u8>::new(Some(0));
    let r = q.clone();
    let put = Rc::new(Cell::new(false));
    let p = put.clone();
    let got = at_the_deadline(move || r.get_timeout(DEADLINE).ok(), || p.set(q.try_put(9).is_ok()));
    assert_eq!(got.is_some(), put.get());
    // A pool spawner: the slot freed for it is used or given back.
    let pool = guv::GreenPool::new(1);
    let gate = guv::Event::new();
    let g = gate.clone();
    let member = pool.spawn(move || g.wait());
    let p = pool.clone();
    at_the_deadline(move || guv::with_timeout(DEADLINE, || p.spawn(|| ()).wait()).ok(), || gate.set());
    member.wait().unwrap();
    pool.waitall().unwrap();
    assert_eq!((pool.free(), pool.running(), pool.waiting()), (1, 0, 0));
}
