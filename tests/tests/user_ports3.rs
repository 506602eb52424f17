//! The third round of gevent/eventlet example programs ported to guv
//! through its public API only (see `user_ports.rs` and `user_ports2.rs`
//! for the first two), run against real parts on 127.0.0.1: real sockets
//! (UDP, Unix-domain, TCP, TLS), real clients (`python3` with `requests`
//! and `ssl`, `curl`), a DNS responder speaking the wire protocol, files
//! on disk and real OS threads.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guv::Interest;
use guv::green::process::Command;
use guv::net::dns::{Config, Resolver};
use guv::net::unix::{UnixDatagram, UnixListener, UnixStream};
use guv::net::{TcpListener, TcpStream, UdpSocket};
use guv::queue::LightQueue;
use guv::wsgi::Body;
use guv::wsgi::http::{Request, Response, StatusCode, header};
use guv_tests::fs::TempDir;
use guv_tests::http::require_tool;
use rustls::ServerConnection;
use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Packet, QTYPE, RCODE, ResourceRecord, TYPE};

/// Kills a greenlet when dropped, so a server greenlet never outlives the
/// test that started it, however that test ends.
struct KillOnDrop<T: 'static>(guv::GreenThread<T>);

impl<T: 'static> Drop for KillOnDrop<T> {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// Runs `python3 -c script args...` and returns its standard output,
/// failing the test with its standard error if it did not succeed. The
/// child runs while the hub serves (green process).
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3");
    assert!(
        out.status.success(),
        "python3 failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// ---------------------------------------------------------------------------
// 1. gevent's udp_server / udp_client: a DatagramServer that answers each
//    datagram from a handler greenlet of its own, and clients that resend
//    under a Timeout when an answer does not come (the server drops the
//    first datagram of every peer on purpose).

/// What the server saw: datagrams received, dropped and answered.
#[derive(Default)]
struct UdpStats {
    received: Cell<usize>,
    dropped: Cell<usize>,
    answered: Cell<usize>,
}

/// gevent's `DatagramServer(addr, handle).serve_forever()`: receive on one
/// greenlet, handle each datagram on a pooled greenlet, which answers
/// `Received N bytes: <data>`. The first datagram of each peer is dropped.
fn datagram_server(sock: UdpSocket, stats: Rc<UdpStats>) {
    let sock = Rc::new(sock);
    let pool = guv::GreenPool::new(16);
    let mut seen = HashSet::new();
    let mut buf = [0u8; 2048];
    loop {
        let (n, peer) = sock.recv_from(&mut buf).expect("recv_from");
        stats.received.set(stats.received.get() + 1);
        if seen.insert(peer) {
            stats.dropped.set(stats.dropped.get() + 1);
            continue;
        }
        let data = buf[..n].to_vec();
        let (sock, stats) = (sock.clone(), stats.clone());
        pool.spawn_n(move || {
            let mut answer = format!("Received {} bytes: ", data.len()).into_bytes();
            answer.extend_from_slice(&data);
            sock.send_to(&answer, peer).expect("send_to");
            stats.answered.set(stats.answered.get() + 1);
        });
    }
}

/// gevent's udp_client with a retry: send, wait for the answer under a
/// `Timeout`, resend when it does not come. Returns the answer and how
/// many sends it took.
fn udp_request(server: SocketAddr, message: &[u8], per_try: Duration, tries: usize) -> io::Result<(String, usize)> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(server)?;
    let mut buf = [0u8; 2048];
    for attempt in 1..=tries {
        sock.send(message)?;
        match guv::with_timeout(per_try, || sock.recv(&mut buf)) {
            Ok(n) => return Ok((String::from_utf8_lossy(&buf[..n?]).into_owned(), attempt)),
            Err(e) if e.is_timed_out() => continue,
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, format!("no answer from {server} after {tries} tries")))
}

const PY_UDP_CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
for attempt in range(1, 20):
    s.sendto(b"from python", ("127.0.0.1", int(sys.argv[1])))
    try:
        data, _ = s.recvfrom(2048)
    except socket.timeout:
        continue
    print(data.decode(), attempt)
    break
"#;

#[guv::test(timeout = "60s")]
fn udp_server_drops_a_datagram_and_clients_resend_under_a_timeout() {
    require_tool("python3", &["--version"]);
    // Each try's wait: the first always runs out (the server drops it), so
    // this is what the test takes; the Python client waits as long.
    const PER_TRY: Duration = Duration::from_secs(1);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let stats = Rc::new(UdpStats::default());
    let st = stats.clone();
    let _server = KillOnDrop(guv::spawn(move || datagram_server(sock, st)));

    // Eight green clients and one Python client at once.
    let clients: Vec<_> =
        (0..8).map(|i| guv::spawn(move || udp_request(addr, format!("hello {i}").as_bytes(), PER_TRY, 20))).collect();
    let py = python(PY_UDP_CLIENT, &[&addr.port().to_string()]);
    assert_eq!(py.trim_end(), "Received 11 bytes: from python 2");
    for (i, c) in clients.into_iter().enumerate() {
        let (answer, sends) = c.wait().unwrap().unwrap();
        let msg = format!("hello {i}");
        assert_eq!(answer, format!("Received {} bytes: {msg}", msg.len()));
        // The first send was dropped, the second answered (the answer to
        // the second comes at once; PER_TRY leaves a loaded machine's
        // scheduler plenty of room, since a third send would change every
        // count below).
        assert_eq!(sends, 2, "client {i}");
    }
    assert_eq!(stats.dropped.get(), 9);
    assert_eq!(stats.answered.get(), 9);
    assert_eq!(stats.received.get(), 18);

    // No answer at all: the retries give up with a clear error, and the
    // Timeout of each try never leaks out of `with_timeout`.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = udp_request(silent.local_addr().unwrap(), b"anyone?", Duration::from_millis(20), 3).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(err.to_string().contains("after 3 tries"), "{err}");
    let mut buf = [0u8; 64];
    for _ in 0..3 {
        assert_eq!(silent.recv(&mut buf).unwrap(), 7);
    }
    // Nobody on the port at all: the connected socket's receive fails at
    // once with the ICMP error, as gevent's client sees it, rather than
    // waiting out the Timeout.
    drop(silent);
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.connect(addr_of_closed_udp_port()).unwrap();
    c.send(b"hello?").unwrap();
    let r = guv::with_timeout(Duration::from_secs(10), || c.recv(&mut buf)).unwrap();
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
}

/// A UDP port on 127.0.0.1 that nothing listens on (just released).
fn addr_of_closed_udp_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

// ---------------------------------------------------------------------------
// 2. gevent's unixsocket_server / unixsocket_client: a Unix-domain stream
//    server in a temp dir serving several clients at once (a line-by-line
//    upper-casing echo); and the datagram flavour, UnixDatagram.

/// One client's session: each line comes back upper-cased.
fn unix_handler(conn: UnixStream) -> io::Result<usize> {
    let mut out = conn.try_clone()?;
    let mut lines = 0;
    for line in BufReader::new(conn).lines() {
        out.write_all(format!("{}\n", line?.to_uppercase()).as_bytes())?;
        lines += 1;
    }
    Ok(lines)
}

/// The accept loop a user writes for a Unix listener (guv's `StreamServer`
/// takes a TCP listener only): a greenlet per connection, their line
/// counts reported on `done`.
fn unix_server(listener: UnixListener, done: LightQueue<usize>) {
    loop {
        let (conn, peer) = listener.accept().expect("accept");
        // Clients that did not bind have no name.
        assert!(peer.as_pathname().is_none());
        let done = done.clone();
        guv::spawn_n(move || done.put(unix_handler(conn).expect("handler")));
    }
}

const PY_UNIX_CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = s.makefile("rwb")
for word in ["alpha", "beta", "gamma"]:
    f.write(word.encode() + b"\n"); f.flush()
    print(f.readline().decode().strip())
"#;

#[guv::test(timeout = "60s")]
fn unix_stream_server_serves_concurrent_clients_in_a_temp_dir() {
    require_tool("python3", &["--version"]);
    const CLIENTS: usize = 10;
    let dir = TempDir::new("userport3", "unix");
    let path = dir.path().join("server.sock");
    let listener = UnixListener::bind(&path).unwrap();
    assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    // Binding again to a path in use fails as with std.
    assert_eq!(UnixListener::bind(&path).unwrap_err().kind(), io::ErrorKind::AddrInUse);
    let done = LightQueue::new(None);
    let _server = KillOnDrop(guv::spawn({
        let done = done.clone();
        move || unix_server(listener, done)
    }));

    // Every client sends its first line and waits for every other client
    // to have had its answer before sending the second: a server that
    // served one connection at a time would never answer client 2.
    let answered = Rc::new(Cell::new(0));
    let all_answered = guv::Event::new();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (path, answered, all) = (path.clone(), answered.clone(), all_answered.clone());
            guv::spawn(move || {
                let conn = UnixStream::connect(&path).unwrap();
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut got = Vec::new();
                for round in 0..3 {
                    w.write_all(format!("client {i} line {round}\n").as_bytes()).unwrap();
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    got.push(line);
                    if round == 0 {
                        answered.set(answered.get() + 1);
                        if answered.get() == CLIENTS {
                            all.set();
                        }
                        all.wait();
                    }
                }
                got
            })
        })
        .collect();
    let py = python(PY_UNIX_CLIENT, &[path.to_str().unwrap()]);
    assert_eq!(py, "ALPHA\nBETA\nGAMMA\n");
    for (i, c) in clients.into_iter().enumerate() {
        let want: Vec<String> = (0..3).map(|r| format!("CLIENT {i} LINE {r}\n")).collect();
        assert_eq!(c.wait().unwrap(), want);
    }
    // Every session ended when its client closed: ten of three lines and
    // Python's.
    let mut counts: Vec<usize> = (0..=CLIENTS).map(|_| done.get()).collect();
    counts.sort();
    assert_eq!(counts, [3; CLIENTS + 1]);
}

#[guv::test(timeout = "60s")]
fn unix_datagram_server_answers_named_clients_and_a_pair_parks() {
    let dir = TempDir::new("userport3", "unixdgram");
    let server_path = dir.path().join("server.sock");
    let server = UnixDatagram::bind(&server_path).unwrap();
    let _server = KillOnDrop(guv::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let answer = String::from_utf8_lossy(&buf[..n]).to_uppercase();
            // An unbound sender has no address to answer to.
            if from.as_pathname().is_some() {
                server.send_to_addr(answer.as_bytes(), &from).unwrap();
            }
        }
    }));
    // An unbound client can send, but gets nothing back.
    let anon = UnixDatagram::unbound().unwrap();
    anon.send_to(b"nobody", &server_path).unwrap();
    let clients: Vec<_> = (0..6)
        .map(|i| {
            let (dir, server_path) = (dir.path().to_path_buf(), server_path.clone());
            guv::spawn(move || {
                let me = UnixDatagram::bind(dir.join(format!("client{i}.sock"))).unwrap();
                me.connect(&server_path).unwrap();
                me.send(format!("datagram {i}").as_bytes()).unwrap();
                let mut buf = [0u8; 512];
                let n = me.recv(&mut buf).unwrap();
                String::from_utf8(buf[..n].to_vec()).unwrap()
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        assert_eq!(c.wait().unwrap(), format!("DATAGRAM {i}"));
    }
    // A pair: the receiver parks until the other greenlet sends; datagram
    // boundaries are kept.
    let (a, b) = UnixDatagram::pair().unwrap();
    let receiver = guv::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            let n = b.recv(&mut buf).unwrap();
            got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        got
    });
    guv::gyield();
    assert!(!receiver.is_finished());
    for m in ["one", "two", "three"] {
        a.send(m.as_bytes()).unwrap();
    }
    assert_eq!(receiver.wait().unwrap(), ["one", "two", "three"]);

    // Unlike UDP, a Unix datagram sender is held back when the receiver's
    // queue is full: the sending greenlet parks, and goes on as the
    // receiver reads.
    let (a, b) = UnixDatagram::pair().unwrap();
    let sent = Rc::new(Cell::new(0));
    let s = sent.clone();
    let sender = guv::spawn(move || {
        for i in 0..2000u32 {
            a.send(&[i as u8; 1024]).unwrap();
            s.set(s.get() + 1);
        }
    });
    guv::gyield(); // the sender runs until the queue is full, and parks
    assert!(!sender.is_finished());
    assert!((1..2000).contains(&sent.get()), "{} sent", sent.get());
    let mut buf = [0u8; 2048];
    for i in 0..2000u32 {
        assert_eq!(b.recv(&mut buf).unwrap(), 1024);
        assert_eq!(buf[0], i as u8);
    }
    sender.wait().unwrap();
    let mut buf = [0u8; 8];
    assert!(guv::with_timeout(Duration::from_millis(20), || anon.recv(&mut buf)).unwrap_err().is_timed_out());
}

// ---------------------------------------------------------------------------
// 3. gevent's webproxy: a guv::wsgi app that fetches the requested path
//    from an upstream server with a small green HTTP client and streams
//    the body back as it arrives; an upstream that is down gives 502.

/// `len` bytes where byte `i` is `i % 251`, produced as they are read;
/// with a gate, reading stops at `gate.0` until the event is set. Says
/// on `dropped` (if any) how far it got when the server drops it.
struct Pattern {
    pos: u64,
    len: u64,
    gate: Option<(u64, guv::Event)>,
    dropped: Option<LightQueue<u64>>,
}

impl Pattern {
    fn new(len: u64) -> Pattern {
        Pattern { pos: 0, len, gate: None, dropped: None }
    }
}

impl Drop for Pattern {
    fn drop(&mut self) {
        if let Some(q) = &self.dropped {
            q.put(self.pos);
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut end = self.len.min(self.pos + buf.len() as u64);
        if let Some((at, gate)) = &self.gate {
            if self.pos == *at {
                gate.wait();
            } else if self.pos < *at {
                end = end.min(*at);
            }
        }
        let n = (end - self.pos) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = ((self.pos + i as u64) % 251) as u8;
        }
        self.pos = end;
        Ok(n)
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

const BIG: u64 = 4 << 20;
const GATED: u64 = 1 << 20;
const GATE_AT: u64 = 64 << 10;
const ENDLESS: u64 = 1 << 30;

/// Starts a guv::wsgi server for `app` on a greenlet; stopped (and
/// waited for) when the guard drops.
struct RunningServer {
    addr: SocketAddr,
    stop: guv::wsgi::ShutdownHandle,
    served: Option<guv::GreenThread<io::Result<()>>>,
}

impl RunningServer {
    fn start<A>(app: A) -> RunningServer
    where
        A: Fn(Request<Body>) -> Response<Body> + 'static,
    {
        let server = guv::wsgi::Server::new(app).access_log(false).shutdown_timeout(Duration::from_secs(5));
        let stop = server.shutdown_handle();
        let listener = guv::listen("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        RunningServer { addr, stop, served: Some(guv::spawn(move || server.serve(listener))) }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.shutdown();
        let result = self.served.take().unwrap().wait();
        if !std::thread::panicking() {
            result.unwrap().unwrap();
        }
    }
}

/// The green HTTP client of the proxy: an HTTP/1.0 GET, the head parsed,
/// the body handed on as a reader over the rest of the connection (with
/// its length, when the upstream sent one).
fn fetch(upstream: SocketAddr, path: &str) -> io::Result<Response<Body>> {
    let conn = TcpStream::connect_timeout(&upstream, Duration::from_secs(2))?;
    (&conn).write_all(format!("GET {path} HTTP/1.0\r\nHost: {upstream}\r\n\r\n").as_bytes())?;
    let mut r = BufReader::with_capacity(64 << 10, conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("upstream sent {what}"));
    let status = line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| bad("no status line"))?;
    let mut res = Response::builder().status(status);
    let mut len = None;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("a truncated head"));
        }
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            len = Some(value.parse::<u64>().map_err(|_| bad("a bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("content-type") {
            res = res.header(header::CONTENT_TYPE, value);
        }
    }
    let body = match len {
        Some(n) => Body::sized(n, r),
        None => Body::from_reader(r),
    };
    res.body(body).map_err(io::Error::other)
}

/// The proxy app: every request is fetched from `upstream`.
fn proxy(upstream: SocketAddr) -> impl Fn(Request<Body>) -> Response<Body> {
    move |req| match fetch(upstream, req.uri().path()) {
        Ok(res) => res,
        Err(e) => {
            let mut res = Response::new(Body::from(format!("bad gateway: {upstream}: {e}\n")));
            *res.status_mut() = StatusCode::BAD_GATEWAY;
            res
        }
    }
}

const PY_PROXY_CLIENTS: &str = r#"
import concurrent.futures, requests, sys
base, n = sys.argv[1], int(sys.argv[2])
want = (bytes(range(251)) * (n // 251 + 1))[:n]
def get(i):
    r = requests.get(base + "/big", timeout=60)
    return r.status_code, len(r.content), r.content == want, r.headers.get("content-type")
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    for res in ex.map(get, range(4)):
        print(*res)
r = requests.get(base + "/nothing-here", timeout=60)
print(r.status_code, r.text.strip())
"#;

/// Asks the proxy for a gated path and reads the head and the bytes
/// before the gate; returns the connection for the rest.
fn gated_download(proxy: SocketAddr, path: &str, len: u64) -> BufReader<TcpStream> {
    let mut c = TcpStream::connect(proxy).unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut r = BufReader::new(c);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        r.read_line(&mut head).unwrap();
    }
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains(&format!("content-length: {len}\r\n")), "{head}");
    let mut first = vec![0u8; GATE_AT as usize];
    r.read_exact(&mut first).unwrap();
    assert_eq!(first, pattern(GATE_AT as usize));
    r
}

#[guv::test(timeout = "120s")]
fn webproxy_streams_upstream_bodies_to_concurrent_clients_and_answers_502_when_it_is_down() {
    require_tool("python3", &["-c", "import requests"]);
    require_tool("curl", &["--version"]);
    let (gate, gate2) = (guv::Event::new(), guv::Event::new());
    let dropped = LightQueue::new(None);
    let (g, g2, d) = (gate.clone(), gate2.clone(), dropped.clone());
    let upstream = RunningServer::start(move |req: Request<Body>| {
        let gated = |gate: &guv::Event, len| Pattern {
            gate: Some((GATE_AT, gate.clone())),
            dropped: Some(d.clone()),
            ..Pattern::new(len)
        };
        let (len, body) = match req.uri().path() {
            "/big" => (BIG, Pattern::new(BIG)),
            "/gated" => (GATED, gated(&g, GATED)),
            // Longer than every socket buffer between here and the client.
            "/gated2" => (ENDLESS, gated(&g2, ENDLESS)),
            _ => {
                let mut res = Response::new(Body::from("no such page\n"));
                *res.status_mut() = StatusCode::NOT_FOUND;
                return res;
            }
        };
        let mut res = Response::new(Body::sized(len, body));
        res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/x-pattern"));
        res
    });
    let front = RunningServer::start(proxy(upstream.addr));

    // Four concurrent `requests` clients get the whole 4 MiB body each,
    // byte for byte; the upstream's 404 comes through as it is.
    let out = python(PY_PROXY_CLIENTS, &[&format!("http://{}", front.addr), &BIG.to_string()]);
    let want = format!("200 {BIG} True application/x-pattern\n").repeat(4) + "404 no such page\n";
    assert_eq!(out, want);

    // Streaming: the client has the first 64 KiB while the upstream is
    // still holding back the rest (a proxy that read the whole body
    // first would send nothing yet).
    let mut r = gated_download(front.addr, "/gated", GATED);
    assert!(!gate.is_set());
    gate.set();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, pattern(GATED as usize)[GATE_AT as usize..]);
    assert_eq!(dropped.get(), GATED);

    // A client that leaves midway: once the upstream goes on, the proxy's
    // write fails, it drops the upstream connection, and the upstream's
    // write fails in turn, before the end of the body.
    drop(gated_download(front.addr, "/gated2", ENDLESS));
    gate2.set();
    let got_to = dropped.get();
    assert!((GATE_AT..ENDLESS).contains(&got_to), "the upstream body was read to {got_to}");

    // The upstream goes down: 502, with the reason, to curl.
    let upstream_addr = upstream.addr;
    drop(upstream);
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", &format!("http://{}/big", front.addr)])
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    assert_eq!(code, "502");
    assert!(body.starts_with(&format!("bad gateway: {upstream_addr}: ")), "{body}");
    assert!(body.contains("refused"), "{body}");
}

// ---------------------------------------------------------------------------
// 4. gevent's wsgiserver_ssl, as written before guv::wsgi could serve TLS
//    itself (session 11 added `Server::wrap_stream`, tested in
//    wsgi_tls.rs): a TLS terminator in front of the server, a green TCP
//    server that does the TLS handshake (rustls) and relays the plaintext
//    to the wsgi server on 127.0.0.1. It stays as a port of a relay. rustls's `StreamOwned` cannot be read and written from two
//    greenlets at once, so the relay is one greenlet driving a
//    `ServerConnection` with `guv::select` over both sockets.

fn tls_config() -> Arc<rustls::ServerConfig> {
    guv_tests::tls::self_signed("guv.test").server
}

/// Relays one TLS client to the plaintext `backend` until both are done.
fn tls_front(cfg: Arc<rustls::ServerConfig>, client: TcpStream, backend: SocketAddr) -> io::Result<()> {
    let plain = TcpStream::connect(backend)?;
    client.set_nonblocking(true)?;
    plain.set_nonblocking(true)?;
    let mut tls = ServerConnection::new(cfg).map_err(io::Error::other)?;
    let mut to_backend: Vec<u8> = Vec::new();
    let (mut client_done, mut backend_done, mut backend_told) = (false, false, false);
    let mut buf = vec![0u8; 16 << 10];
    loop {
        // What the client sent, decrypted, goes to the backend.
        loop {
            match tls.reader().read(&mut buf) {
                Ok(0) => {
                    client_done = true;
                    break;
                }
                Ok(n) => to_backend.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    client_done = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if client_done && to_backend.is_empty() && !backend_told {
            let _ = plain.shutdown(std::net::Shutdown::Write);
            backend_told = true;
        }
        if backend_done && !tls.wants_write() {
            return Ok(());
        }
        let mut want_client = None;
        if !client_done {
            want_client = Some(Interest::READABLE);
        }
        if tls.wants_write() {
            want_client = Some(want_client.map_or(Interest::WRITABLE, |i| i | Interest::WRITABLE));
        }
        let mut want_plain = None;
        // Take more from the backend only once the last of it is encrypted
        // and sent, so that the TLS buffers stay small.
        if !backend_done && !tls.is_handshaking() && !tls.wants_write() {
            want_plain = Some(Interest::READABLE);
        }
        if !to_backend.is_empty() {
            want_plain = Some(want_plain.map_or(Interest::WRITABLE, |i| i | Interest::WRITABLE));
        }
        let mut fds = Vec::new();
        if let Some(i) = want_client {
            fds.push((client.as_fd(), i));
        }
        if let Some(i) = want_plain {
            fds.push((plain.as_fd(), i));
        }
        if fds.is_empty() {
            return Ok(());
        }
        let ready = guv::select(&fds, Some(Duration::from_secs(30)))?;
        if ready.is_empty() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "TLS relay idle for 30 s"));
        }
        for r in ready {
            let is_client = want_client.is_some() && r.index == 0;
            if is_client && r.readable {
                match tls.read_tls(&mut &client) {
                    Ok(0) => client_done = true,
                    Ok(_) => {
                        if let Err(e) = tls.process_new_packets() {
                            // Tell the client why (an alert), then give up.
                            let _ = tls.write_tls(&mut &client);
                            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            if is_client && r.writable {
                match tls.write_tls(&mut &client) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            if !is_client && r.readable {
                match (&plain).read(&mut buf) {
                    Ok(0) => {
                        backend_done = true;
                        tls.send_close_notify();
                    }
                    Ok(n) => tls.writer().write_all(&buf[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            if !is_client && r.writable {
                match (&plain).write(&to_backend) {
                    Ok(n) => drop(to_backend.drain(..n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

const PY_TLS_CLIENT: &str = r#"
import http.client, ssl, sys
ctx = ssl._create_unverified_context()
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx)
for path in ["/hello", "/echo", "/big"]:
    if path == "/echo":
        c.request("POST", path, body=b"x" * 100000)
    else:
        c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    print(r.status, r.version, len(body), body[:20])
print(c.sock.version())
"#;

#[guv::test(timeout = "120s")]
fn wsgi_over_tls_through_a_green_tls_terminator_for_curl_and_python_ssl() {
    require_tool("python3", &["--version"]);
    require_tool("curl", &["--version"]);
    let app = RunningServer::start(|mut req: Request<Body>| match req.uri().path() {
        "/hello" => Response::new(Body::from("Hello, TLS!\n")),
        "/echo" => {
            let mut body = Vec::new();
            req.body_mut().read_to_end(&mut body).unwrap();
            Response::new(Body::from(body))
        }
        _ => Response::new(Body::sized(BIG, Pattern::new(BIG))),
    });
    let cfg = tls_config();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tls_addr = listener.local_addr().unwrap();
    let sessions = Rc::new(RefCell::new(Vec::new()));
    let backend = app.addr;
    let s = sessions.clone();
    let front = KillOnDrop(guv::spawn(move || {
        loop {
            let (conn, _) = listener.accept().unwrap();
            let cfg = cfg.clone();
            s.borrow_mut().push(guv::spawn(move || tls_front(cfg, conn, backend)));
        }
    }));

    let out = Command::new("curl")
        .args([
            "-sSk",
            "--resolve",
            &format!("guv.test:{}:127.0.0.1", tls_addr.port()),
            "-w",
            "%{http_code}",
            &format!("https://guv.test:{}/hello", tls_addr.port()),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, TLS!\n200");

    let py = python(PY_TLS_CLIENT, &[&tls_addr.port().to_string()]);
    let lines: Vec<&str> = py.lines().collect();
    assert_eq!(lines[0], "200 11 12 b'Hello, TLS!\\n'");
    assert_eq!(lines[1], "200 11 100000 b'xxxxxxxxxxxxxxxxxxxx'");
    assert!(lines[2].starts_with(&format!("200 11 {BIG} b'\\x00\\x01\\x02")), "{py}");
    assert!(lines[3].starts_with("TLSv1."), "{py}");
    // A client that speaks plain HTTP to the TLS port is refused, and the
    // terminator's other sessions were each one keep-alive connection.
    let mut plain = TcpStream::connect(tls_addr).unwrap();
    plain.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&answer));
    drop(front);
    let sessions: Vec<_> = sessions.borrow_mut().drain(..).collect();
    let results: Vec<_> = sessions.into_iter().map(|s| s.wait().unwrap().map_err(|e| e.kind())).collect();
    assert_eq!(results, [Ok(()), Ok(()), Err(io::ErrorKind::InvalidData)]);
}

// ---------------------------------------------------------------------------
// 5. gevent's dns_mass_resolve: a pool resolves many names at once through
//    guv's green resolver, each lookup under a Timeout, against a DNS
//    responder on 127.0.0.1 (a greenlet speaking the wire protocol): most
//    names answer, some are NXDOMAIN, some are held back past the Timeout.

/// The responder: `hostN.test` is 10.0.N/256.N%256, `nxN.test` does not
/// exist, `slowN.test` is answered (`10.9.9.9`) only once `release` is
/// set, by a greenlet in `held`. AAAA questions get an empty answer.
fn dns_responder(sock: UdpSocket, release: guv::Event, held: Rc<guv::GreenPool>, asked: Rc<Cell<usize>>) {
    let sock = Rc::new(sock);
    let mut buf = [0u8; 512];
    loop {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        let Ok(query) = Packet::parse(&buf[..n]) else { continue };
        let Some(question) = query.questions.first() else { continue };
        asked.set(asked.get() + 1);
        let name = question.qname.to_string().trim_end_matches('.').to_string();
        let mut reply = Packet::new_reply(query.id());
        reply.questions.push(question.clone());
        let is_a = question.qtype == QTYPE::TYPE(TYPE::A);
        let a = |ip: [u8; 4]| {
            ResourceRecord::new(question.qname.clone(), CLASS::IN, 60, RData::A(A { address: u32::from_be_bytes(ip) }))
        };
        let slow = name.starts_with("slow");
        if let Some(n) = name.strip_prefix("host").and_then(|r| r.strip_suffix(".test")) {
            let n: u16 = n.parse().unwrap();
            if is_a {
                reply.answers.push(a([10, 0, (n >> 8) as u8, n as u8]));
            }
        } else if slow && is_a {
            reply.answers.push(a([10, 9, 9, 9]));
        } else if !slow {
            *reply.rcode_mut() = RCODE::NameError;
        }
        let bytes = reply.build_bytes_vec().unwrap();
        if slow {
            let (sock, release) = (sock.clone(), release.clone());
            held.spawn_n(move || {
                release.wait();
                // The asker may have given up and closed its socket.
                let _ = sock.send_to(&bytes, from);
            });
        } else {
            sock.send_to(&bytes, from).unwrap();
        }
    }
}

/// Plain std name resolution, patched: the green `ToSocketAddrs` asks the
/// thread's resolver without blocking the hub.
#[guv::patched]
fn resolve(name: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
    use std::net::ToSocketAddrs;
    Ok((name, 80).to_socket_addrs()?.map(|a| a.ip()).collect())
}

#[guv::test(timeout = "60s")]
fn mass_resolve_in_a_pool_with_per_name_timeouts() {
    const HOSTS: usize = 60;
    const MISSING: usize = 10;
    const SLOW: usize = 10;
    const PER_NAME: Duration = Duration::from_millis(300);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = sock.local_addr().unwrap();
    let release = guv::Event::new();
    let held = Rc::new(guv::GreenPool::new(SLOW * 2));
    let asked = Rc::new(Cell::new(0));
    let responder = {
        let (release, held, asked) = (release.clone(), held.clone(), asked.clone());
        KillOnDrop(guv::spawn(move || dns_responder(sock, release, held, asked)))
    };
    // The resolver's own timeout is long: here the Timeout around each
    // lookup is what gives up on the slow names.
    guv::net::dns::set_thread_resolver(Some(Resolver::new(Config {
        nameservers: vec![server],
        timeout: Duration::from_secs(30),
        attempts: 1,
        ..Config::default()
    })));

    let mut names = Vec::new();
    for i in 0..HOSTS {
        names.push(format!("host{i}.test"));
        if i % 6 == 0 {
            names.push(format!("nx{}.test", i / 6));
            names.push(format!("slow{}.test", i / 6));
        }
    }
    assert_eq!(names.len(), HOSTS + MISSING + SLOW);
    let results: Rc<RefCell<BTreeMap<String, String>>> = Rc::default();
    let pool = guv::GreenPool::new(20);
    let started = Instant::now();
    for name in names.clone() {
        let results = results.clone();
        pool.spawn_n(move || {
            let outcome = match guv::with_timeout(PER_NAME, || resolve(&name)) {
                Ok(Ok(ips)) => format!("{ips:?}"),
                Ok(Err(e)) => format!("{:?}", e.kind()),
                Err(e) if e.is_timed_out() => "timed out".to_string(),
                Err(e) => format!("{e}"),
            };
            results.borrow_mut().insert(name, outcome);
        });
    }
    pool.waitall().unwrap();
    let took = started.elapsed();

    let results = results.borrow();
    assert_eq!(results.len(), names.len());
    for (name, outcome) in results.iter() {
        let want = if let Some(n) = name.strip_prefix("host").and_then(|r| r.strip_suffix(".test")) {
            let n: usize = n.parse().unwrap();
            format!("[10.0.{}.{}]", n >> 8, n & 255)
        } else if name.starts_with("nx") {
            "NotFound".to_string()
        } else {
            "timed out".to_string()
        };
        assert_eq!(outcome, &want, "{name}");
    }
    // Twenty at a time, so the slow ones time out together: the run takes
    // about one Timeout, far less than the slow ones' total.
    assert!(took < PER_NAME * SLOW as u32 / 2, "took {took:?}");
    // Every name was asked (A and AAAA each); the lookups cut short by
    // the Timeout left the resolver usable.
    assert!(asked.get() >= names.len() * 2 - SLOW, "{} queries", asked.get());
    assert_eq!(resolve("host7.test").unwrap(), ["10.0.0.7".parse::<std::net::IpAddr>().unwrap()]);
    release.set();
    held.waitall().unwrap();
    drop(responder);
    guv::net::dns::set_thread_resolver(None);
}

// ---------------------------------------------------------------------------
// 6. Serving a big file: a green server copies a 16 MiB file to each
//    client with `io::copy` (from `guv::green::fs::File`, and from
//    patched `std::fs::File`) while a ticker greenlet keeps running; the
//    clients (Python) check every byte against the file. Each read of a
//    green file is a switch point, also when the thread pool finished it
//    before the reader could park (`tpool::execute` yields then).

/// A reader that notes, at each read, whether the ticker moved since the
/// previous one: the proof that other greenlets ran during the copy.
struct Watched<R> {
    inner: R,
    ticks: Rc<Cell<u64>>,
    last: u64,
    reads: u64,
    moved: u64,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let now = self.ticks.get();
        self.reads += 1;
        if now != self.last {
            self.moved += 1;
        }
        self.last = now;
        Ok(n)
    }
}

fn watched<R>(inner: R, ticks: Rc<Cell<u64>>) -> Watched<R> {
    let last = ticks.get();
    Watched { inner, ticks, last, reads: 0, moved: 0 }
}

/// The green File version, written with guv's names.
fn send_file_green(path: &std::path::Path, conn: &TcpStream, ticks: Rc<Cell<u64>>) -> io::Result<(u64, u64, u64)> {
    let mut src = watched(guv::green::fs::File::open(path)?, ticks);
    let n = io::copy(&mut src, &mut &*conn)?;
    Ok((n, src.reads, src.moved))
}

/// The same with plain std, patched.
#[guv::patched]
fn send_file_std(
    path: &std::path::Path,
    mut conn: std::net::TcpStream,
    ticks: Rc<Cell<u64>>,
) -> std::io::Result<(u64, u64, u64)> {
    let mut src = watched(std::fs::File::open(path)?, ticks);
    let n = std::io::copy(&mut src, &mut conn)?;
    Ok((n, src.reads, src.moved))
}

const PY_FILE_CLIENTS: &str = r#"
import socket, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
want = open(path, "rb").read()
out = [None, None]
def fetch(i):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"%d\n" % i)
    got = bytearray()
    while True:
        b = s.recv(1 << 20)
        if not b: break
        got += b
    out[i] = (len(got), got == want)
ts = [threading.Thread(target=fetch, args=(i,)) for i in range(2)]
for t in ts: t.start()
for t in ts: t.join()
for o in out: print(*o)
"#;

#[guv::test(timeout = "120s")]
fn a_big_file_is_copied_to_sockets_while_other_greenlets_run() {
    require_tool("python3", &["--version"]);
    const SIZE: usize = 16 << 20;
    let dir = TempDir::new("userport3", "bigfile");
    let path = dir.path().join("big.bin");
    let content: Vec<u8> = (0..SIZE).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    guv::green::fs::write(&path, &content).unwrap();

    let ticks = Rc::new(Cell::new(0u64));
    let t = ticks.clone();
    let _ticker = KillOnDrop(guv::spawn(move || {
        loop {
            t.set(t.get() + 1);
            guv::gyield();
        }
    }));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reports = LightQueue::new(None);
    let (r, p, tk) = (reports.clone(), path.clone(), ticks.clone());
    let _server = KillOnDrop(guv::spawn(move || {
        loop {
            let (conn, _) = listener.accept().unwrap();
            let (r, p, tk) = (r.clone(), p.clone(), tk.clone());
            guv::spawn_n(move || {
                // The client says which way it wants its copy made.
                let mut way = [0u8; 2];
                (&conn).read_exact(&mut way).unwrap();
                let started = Instant::now();
                let sent = if way[0] == b'0' {
                    send_file_green(&p, &conn, tk)
                } else {
                    send_file_std(&p, conn.try_clone().unwrap(), tk)
                };
                r.put((way[0], sent.unwrap(), started.elapsed()));
            });
        }
    }));
    let out = python(PY_FILE_CLIENTS, &[&port.to_string(), path.to_str().unwrap()]);
    assert_eq!(out, format!("{SIZE} True\n").repeat(2));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (way, (n, reads, moved), took) = reports.get();
        eprintln!("copy {}: {n} bytes in {reads} reads over {took:?}, ticker moved at {moved}", way as char);
        assert_eq!(n, SIZE as u64);
        // Every read of a green file waits for the thread pool, and the
        // ticker runs then, even when the pool's worker was quick enough
        // to finish before the reader parked (before guv's fix, a copy
        // could go on for 20 ms with the ticker moving at 3% of its reads).
        assert!(moved + 2 >= reads, "ticker moved at {moved} of {reads} reads");
        seen.push(way);
    }
    seen.sort();
    assert_eq!(seen, b"01");
}

// ---------------------------------------------------------------------------
// 7. The select() server of old: one greenlet, a non-blocking listener and
//    non-blocking client sockets, one `guv::select` per round, an echo
//    with a bounded buffer per client. (gevent's `signal_handler` has
//    its counterpart in `guv::signal`, tested in `signals.rs`.)

/// Serves `clients` connections, echoing each, and returns once they have
/// all come and gone; gives back how many bytes it echoed.
fn select_echo_server(listener: TcpListener, clients: usize) -> io::Result<u64> {
    listener.set_nonblocking(true)?;
    // Each connection: its socket, what is read but not yet echoed, and
    // whether it has sent its last byte.
    let mut conns: Vec<(TcpStream, Vec<u8>, bool)> = Vec::new();
    let (mut accepted, mut echoed) = (0, 0u64);
    let mut buf = vec![0u8; 16 << 10];
    loop {
        conns.retain(|(_, pending, eof)| !(*eof && pending.is_empty()));
        if accepted == clients && conns.is_empty() {
            return Ok(echoed);
        }
        // Fds of different types go into one select as `BorrowedFd`s.
        let mut fds = Vec::new();
        if accepted < clients {
            fds.push((listener.as_fd(), Interest::READABLE));
        }
        for (s, pending, eof) in &conns {
            let mut interest = None;
            if !*eof && pending.len() < 64 << 10 {
                interest = Some(Interest::READABLE);
            }
            if !pending.is_empty() {
                interest = Some(interest.map_or(Interest::WRITABLE, |i| i | Interest::WRITABLE));
            }
            fds.push((s.as_fd(), interest.expect("a live connection always wants something")));
        }
        let offset = usize::from(accepted < clients);
        let ready = guv::select(&fds, None)?;
        drop(fds);
        for r in ready {
            if offset == 1 && r.index == 0 {
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(true)?;
                            conns.push((s, Vec::new(), false));
                            accepted += 1;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let (s, pending, eof) = &mut conns[r.index - offset];
            if r.readable {
                match (&*s).read(&mut buf) {
                    Ok(0) => *eof = true,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            if r.writable {
                match (&*s).write(pending) {
                    Ok(n) => {
                        pending.drain(..n);
                        echoed += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

const PY_ECHO_CLIENT: &str = r#"
import socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
data = bytes(range(256)) * 4096
t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
t.start()
got = bytearray()
while True:
    b = s.recv(1 << 16)
    if not b: break
    got += b
t.join()
print(len(got), got == data)
"#;

#[guv::test(timeout = "60s")]
fn a_select_loop_server_echoes_many_clients_from_one_greenlet() {
    require_tool("python3", &["--version"]);
    const GREEN_CLIENTS: usize = 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = guv::spawn(move || select_echo_server(listener, GREEN_CLIENTS + 1));
    let clients: Vec<_> = (0..GREEN_CLIENTS)
        .map(|i| {
            guv::spawn(move || {
                let s = TcpStream::connect(addr).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                for n in 0..50 {
                    (&s).write_all(format!("client {i} line {n}\n").as_bytes()).unwrap();
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    assert_eq!(line, format!("client {i} line {n}\n"));
                }
                s.shutdown(std::net::Shutdown::Write).unwrap();
                assert_eq!(r.read_line(&mut line).unwrap(), 0);
            })
        })
        .collect();
    // A megabyte from Python, sent and read back at once (more than the
    // server's per-client buffer, so the server must hold off reading).
    assert_eq!(python(PY_ECHO_CLIENT, &[&addr.port().to_string()]), "1048576 True\n");
    for c in clients {
        c.wait().unwrap();
    }
    let green_bytes: u64 =
        (0..GREEN_CLIENTS).map(|i| (0..50).map(|n| format!("client {i} line {n}\n").len() as u64).sum::<u64>()).sum();
    assert_eq!(server.wait().unwrap().unwrap(), green_bytes + (1 << 20));
}

// ---------------------------------------------------------------------------
// 8. Real OS threads feeding greenlets (gevent's `ThreadPool` results and
//    async watchers): producers on std threads send through a green mpsc
//    channel that a greenlet receives from; a bounded one pushes back on
//    the OS thread; a `hub::Handle` runs a closure on the hub that wakes
//    a hub-local `Event` through a thread-local of the hub's thread.

/// Starts an OS thread. Written outside the patched test bodies, where
/// `std::thread::spawn` would be a green thread.
fn os_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
    std::thread::spawn(f)
}

thread_local! {
    /// The hub thread's inbox, set by closures a `hub::Handle` runs there.
    /// A `thread_local!` outside any patched item: std's, one per OS
    /// thread (inside a patched item it would be one per green thread).
    static INBOX: RefCell<Option<(LightQueue<u64>, guv::Event)>> = const { RefCell::new(None) };
}

#[guv::test(timeout = "60s")]
fn os_threads_feed_greenlets_through_green_channels_and_a_hub_handle() {
    const PRODUCERS: u64 = 4;
    const ITEMS: u64 = 500;
    // Unbounded: OS threads send, one greenlet receives and hands the
    // items to worker greenlets through a hub-local queue.
    let (tx, rx) = guv::green::sync::mpsc::channel::<(u64, u64)>();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            os_thread(move || {
                for i in 0..ITEMS {
                    tx.send((p, i)).unwrap();
                }
                guv::hub::Handle::current().id()
            })
        })
        .collect();
    drop(tx);
    let work: LightQueue<Option<(u64, u64)>> = LightQueue::new(None);
    let w = work.clone();
    let forwarder = guv::spawn(move || {
        for item in rx.iter() {
            w.put(Some(item));
        }
    });
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let work = work.clone();
            guv::spawn(move || {
                let mut got = Vec::new();
                while let Some(item) = work.get() {
                    got.push(item);
                    guv::gyield();
                }
                got
            })
        })
        .collect();
    let hub = guv::hub::Handle::current().id();
    for p in producers {
        // Each producer ran on a thread of its own, with a hub of its own.
        assert_ne!(guv::tpool::execute(move || p.join()).unwrap(), hub);
    }
    forwarder.wait().unwrap();
    for _ in 0..3 {
        work.put(None);
    }
    let mut per_producer: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut all = 0;
    for w in workers {
        for (p, i) in w.wait().unwrap() {
            per_producer.entry(p).or_default().push(i);
            all += 1;
        }
    }
    assert_eq!(all, PRODUCERS * ITEMS);
    for (_, mut items) in per_producer {
        items.sort();
        assert_eq!(items, (0..ITEMS).collect::<Vec<_>>());
    }

    // Bounded: the OS thread is held back when the channel is full, never
    // more than the bound ahead of the greenlet that receives.
    const BOUND: usize = 4;
    let (tx, rx) = guv::green::sync::mpsc::sync_channel::<usize>(BOUND);
    let sent = Arc::new(AtomicUsize::new(0));
    let s = sent.clone();
    let producer = os_thread(move || {
        for i in 0..1000 {
            tx.send(i).unwrap();
            s.fetch_add(1, Ordering::SeqCst);
        }
    });
    for want in 0..1000 {
        let got = rx.recv().unwrap();
        assert_eq!(got, want);
        let ahead = sent.load(Ordering::SeqCst);
        assert!(ahead <= want + 1 + BOUND, "sent {ahead} with {} received", want + 1);
        guv::gyield();
    }
    guv::tpool::execute(move || producer.join()).unwrap();

    // A hub Handle: an OS thread runs closures on this hub, which reach
    // the hub-local queue and event through the hub thread's INBOX.
    let inbox = LightQueue::new(None);
    let done = guv::Event::new();
    INBOX.with(|slot| *slot.borrow_mut() = Some((inbox.clone(), done.clone())));
    let handle = guv::hub::Handle::current();
    let poster = os_thread(move || {
        for v in 0..10u64 {
            handle
                .spawn(move || INBOX.with(|slot| slot.borrow().as_ref().expect("the hub's inbox").0.put(v * v)))
                .unwrap();
        }
        handle.spawn(|| INBOX.with(|slot| slot.borrow().as_ref().expect("the hub's inbox").1.set())).unwrap();
    });
    done.wait();
    let got: Vec<u64> = (0..10).map(|_| inbox.get()).collect();
    assert_eq!(got, (0..10u64).map(|v| v * v).collect::<Vec<_>>());
    guv::tpool::execute(move || poster.join()).unwrap();
    INBOX.with(|slot| slot.borrow_mut().take());
}
