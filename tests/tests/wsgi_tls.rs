//! HTTPS and WSS: `guv::wsgi::Server::wrap_stream` with rustls (the `ring`
//! provider) and a certificate made for each run, spoken to by real
//! clients (curl, Python's `http.client`, rustls and tungstenite over std
//! sockets). The hook runs on each connection's greenlet under the header
//! timeout: a client that never finishes its handshake, or sends plain
//! HTTP to the TLS port, is cut off alone while others are served.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use guv::websocket::{WebSocket, WebSocketWSGI};
use guv::wsgi::{Body, Server, http};
use guv_tests::fs::TempDir;
use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned};

/// A self-signed certificate for 127.0.0.1 (an IP address SAN: clients
/// check it against the numeric address they connect to), its PEM for
/// curl and Python, a server config and a client config that trusts it.
struct Tls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    pem: String,
}

/// `der` as a PEM certificate (rcgen's own `pem` is behind a feature).
fn pem(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

fn tls() -> Tls {
    let made = guv_tests::tls::self_signed("127.0.0.1");
    Tls { pem: pem(&made.cert), server: made.server, client: made.client }
}

/// Counts the hook's runs: one per connection.
#[derive(Clone)]
struct Hooked {
    runs: Arc<AtomicUsize>,
}

/// `server` speaking TLS with `config`: the handshake is done in the hook.
fn https<A: guv::wsgi::Service>(
    server: Server<A>,
    config: Arc<ServerConfig>,
    started: Option<mpsc::Sender<()>>,
) -> (Server<A, guv::wsgi::Wrapping>, Hooked) {
    let hooked = Hooked { runs: Arc::new(AtomicUsize::new(0)) };
    let runs = hooked.runs.clone();
    let started = started.map(std::sync::Mutex::new);
    let server = server.wrap_stream(move |tcp: guv::net::TcpStream| {
        runs.fetch_add(1, Ordering::SeqCst);
        if let Some(started) = &started {
            let _ = started.lock().unwrap().send(());
        }
        guv_tests::tls::accept(&config, tcp)
    });
    (server, hooked)
}

/// An app that answers `GET /path` with the path, a `POST` with what its
/// body was (read whole), and `/big` with 200 000 bytes, chunked.
fn app(req: http::Request<Body>) -> http::Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/big" {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        return http::Response::new(Body::from_reader(io::Cursor::new(data)));
    }
    if req.method() == http::Method::POST {
        let mut body = req.into_body();
        let mut got = Vec::new();
        body.read_to_end(&mut got).unwrap();
        return http::Response::new(Body::from(format!(
            "posted {} bytes: {}",
            got.len(),
            String::from_utf8_lossy(&got[..got.len().min(16)])
        )));
    }
    http::Response::new(Body::from(format!("path {path}")))
}

/// A rustls client session over a std socket to `addr`.
fn client(cfg: &Tls, addr: SocketAddr) -> StreamOwned<ClientConnection, TcpStream> {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    StreamOwned::new(ClientConnection::new(cfg.client.clone(), name).unwrap(), sock)
}

/// Reads one response with a `Content-Length` off `s`; returns the status
/// line and the body.
fn read_response<R: Read>(s: &mut R) -> (String, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: ").or_else(|| l.strip_prefix("content-length: ")))
        .expect("a Content-Length")
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("response body");
    (head.lines().next().unwrap().to_owned(), String::from_utf8(body).unwrap())
}

fn write_pem(dir: &TempDir, tls: &Tls) -> String {
    let path = dir.path().join("cert.pem");
    std::fs::write(&path, &tls.pem).unwrap();
    path.to_str().unwrap().to_owned()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the client");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_speaks_https_with_keep_alive() {
    let cfg = tls();
    let (server, hooked) = https(Server::new(app), cfg.server.clone(), None);
    let s = TestServer::start(server);
    let dir = TempDir::new("wsgi-tls", "curl");
    let pem = write_pem(&dir, &cfg);
    let base = format!("https://127.0.0.1:{}", s.addr.port());
    // Three requests on one connection (curl reuses it): a GET, a large
    // chunked answer and a POST with 100-continue.
    let w = "|%{http_code} %{num_connects} %{size_download}\n";
    let out = run(Command::new("curl").args([
        "-sS",
        "--cacert",
        &pem,
        "-w",
        w,
        &format!("{base}/first"),
        &format!("{base}/big"),
        "--next",
        "-sS",
        "--cacert",
        &pem,
        "-w",
        w,
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        "hello over tls",
        &format!("{base}/post"),
    ]));
    let lines: Vec<&str> = out.split('\n').filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("path /first|200 1 11"), "{out}");
    // The large body, then its line: a reused connection (0 new connects).
    assert!(lines.iter().any(|l| l.ends_with("|200 0 200000")), "{out}");
    assert!(lines.last().unwrap().starts_with("posted 14 bytes: hello over tls|200 0"), "{out}");
    assert_eq!(hooked.runs.load(Ordering::SeqCst), 1, "one connection, kept alive");
    s.shutdown().unwrap();
}

const PYTHON: &str = r#"
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[2]), context=ctx, timeout=20)
out = []
c.request("GET", "/one")
r = c.getresponse(); out.append("%d %s" % (r.status, r.read().decode()))
c.request("POST", "/chunked", body=iter([b"abc", b"defgh"]), encode_chunked=True)
r = c.getresponse(); out.append("%d %s" % (r.status, r.read().decode()))
c.request("GET", "/big")
r = c.getresponse(); out.append("%d %d" % (r.status, len(r.read())))
c.close()
print("\n".join(out))
"#;

#[test]
fn python_http_client_speaks_https_on_one_connection() {
    let cfg = tls();
    let (server, hooked) = https(Server::new(app), cfg.server.clone(), None);
    let s = TestServer::start(server);
    let dir = TempDir::new("wsgi-tls", "python");
    let pem = write_pem(&dir, &cfg);
    let out = run(Command::new("python3").args(["-c", PYTHON, &pem, &s.addr.port().to_string()]));
    assert_eq!(out, "200 path /one\n200 posted 8 bytes: abcdefgh\n200 200000\n");
    assert_eq!(hooked.runs.load(Ordering::SeqCst), 1);
    s.shutdown().unwrap();
}

#[test]
fn pipelined_requests_over_tls_are_answered_in_order() {
    let cfg = tls();
    let (server, hooked) = https(Server::new(app), cfg.server.clone(), None);
    let s = TestServer::start(server);
    let mut c = client(&cfg, s.addr);
    let mut burst = Vec::new();
    for i in 0..20 {
        burst.extend_from_slice(format!("GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    burst.extend_from_slice(
        b"POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n",
    );
    c.write_all(&burst).unwrap();
    c.flush().unwrap();
    for i in 0..20 {
        let (status, body) = read_response(&mut c);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, format!("path /p{i}"));
    }
    assert_eq!(read_response(&mut c).1, "posted 3 bytes: xyz");
    assert_eq!(hooked.runs.load(Ordering::SeqCst), 1);
    s.shutdown().unwrap();
}

#[test]
fn what_the_tls_layer_holds_is_pushed_out_before_the_server_waits() {
    // A small send buffer: the TLS layer is left holding the end of each
    // large answer when the socket is full, and only the server's flush
    // (not a later write: there is none before the next request) sends it.
    let cfg = tls();
    let big = |req: http::Request<Body>| {
        let n: usize = req.uri().path().trim_start_matches('/').parse().unwrap();
        http::Response::new(Body::from((0..n).map(|i| (i % 239) as u8).collect::<Vec<u8>>()))
    };
    let (server, _) = https(Server::new(big), cfg.server.clone(), None);
    let s = TestServer::serve(server, guv_tests::net::listener_with_sndbuf(4096));
    // A small window too: the socket takes a few KiB at a time, however
    // fast the client reads.
    let sock = guv_tests::net::connect_with_rcvbuf(s.addr, 4096);
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut c = StreamOwned::new(ClientConnection::new(cfg.client.clone(), name).unwrap(), sock);
    // The last 40 000 bytes of the first go to the TLS layer in one write
    // (it takes up to 64 KiB at a time), more than the socket can take.
    for n in [15 * 65_536 + 40_000usize, 70_000, 100] {
        c.write_all(format!("GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        c.flush().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut byte).expect("response head");
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
        let mut body = vec![0u8; n];
        c.read_exact(&mut body).expect("the whole body");
        assert!(body.iter().enumerate().all(|(i, &b)| b == (i % 239) as u8));
    }
    s.shutdown().unwrap();
}

#[test]
fn a_websocket_speaks_over_tls() {
    let cfg = tls();
    let ws_app = |req: http::Request<Body>| {
        WebSocketWSGI::new(|ws: WebSocket| {
            while let Some(m) = ws.wait() {
                if ws.send(m).is_err() {
                    break;
                }
            }
        })
        .call(req)
    };
    let (server, _) = https(Server::new(ws_app), cfg.server.clone(), None);
    let s = TestServer::start(server);
    let stream = client(&cfg, s.addr);
    let (mut ws, answer) = tungstenite::client(format!("wss://127.0.0.1:{}/chat", s.addr.port()), stream).unwrap();
    assert_eq!(answer.status(), 101);
    for i in 0..5 {
        let text = format!("message {i}");
        ws.send(tungstenite::Message::text(text.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), tungstenite::Message::text(text));
    }
    // A message larger than a TLS record (16 KiB), both ways.
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    ws.send(tungstenite::Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::binary(big));
    ws.close(None).unwrap();
    // The server answers the close.
    match ws.read() {
        Ok(tungstenite::Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("the close was not answered: {other:?}"),
    }
    s.shutdown().unwrap();
}

/// Whether the server has closed `sock`: a read sees end of input or a
/// reset (not the client's own timeout).
fn closed_by_server(mut sock: &TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

#[test]
fn a_stuck_handshake_holds_up_nobody_and_is_cut_by_the_header_timeout() {
    let cfg = tls();
    let (started_tx, started) = mpsc::channel();
    let (server, hooked) =
        https(Server::new(app).header_timeout(Some(Duration::from_millis(300))), cfg.server.clone(), Some(started_tx));
    let s = TestServer::start(server);
    // A client that connects and never says a word: its hook parks in the
    // handshake.
    let silent = TcpStream::connect(s.addr).unwrap();
    silent.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    started.recv_timeout(CLIENT_TIMEOUT).expect("the silent client's hook started");
    // Another client is served meanwhile.
    let mut c = client(&cfg, s.addr);
    c.write_all(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c).1, "path /other");
    // The silent one is cut off by the header timeout.
    assert!(closed_by_server(&silent));
    // And the server goes on (the other client's idle keep-alive
    // connection has the same 300 ms to send its next head: a new one).
    let mut next = client(&cfg, s.addr);
    next.write_all(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut next).1, "path /next");
    assert_eq!(hooked.runs.load(Ordering::SeqCst), 3);
    s.shutdown().unwrap();
}

#[test]
fn a_slow_handshake_does_not_block_the_accept_loop() {
    // The header timeout is long: a hook that ran on the accept loop
    // would keep the second client waiting for it, past its read timeout.
    let cfg = tls();
    let (started_tx, started) = mpsc::channel();
    let (server, _) =
        https(Server::new(app).header_timeout(Some(Duration::from_secs(120))), cfg.server.clone(), Some(started_tx));
    let s = TestServer::start(server);
    let silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    for _ in 0..3 {
        started.recv_timeout(CLIENT_TIMEOUT).expect("a silent client's hook started");
    }
    let mut c = client(&cfg, s.addr);
    c.write_all(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c).1, "path /fast");
    drop(silent);
    s.shutdown().unwrap();
}

#[test]
fn plain_http_to_the_tls_port_closes_that_connection_only() {
    let cfg = tls();
    let (server, hooked) = https(Server::new(app), cfg.server.clone(), None);
    let s = TestServer::start(server);
    let mut c = client(&cfg, s.addr);
    c.write_all(b"GET /before HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c).1, "path /before");

    let mut plain = TcpStream::connect(s.addr).unwrap();
    plain.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // No HTTP answer (at most a TLS alert), then the close.
    let mut got = Vec::new();
    match plain.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the bad connection was not closed: {e}"),
    }
    assert!(!got.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&got));

    // The TLS client's connection goes on.
    c.write_all(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c).1, "path /after");
    assert_eq!(hooked.runs.load(Ordering::SeqCst), 2);
    s.shutdown().unwrap();
}

#[test]
fn a_shutdown_lets_an_in_flight_tls_request_finish() {
    let cfg = tls();
    let (in_app_tx, in_app) = mpsc::channel::<()>();
    let in_app_tx = std::sync::Mutex::new(in_app_tx);
    let gate = Arc::new(guv::green::sync::Barrier::new(2));
    let app_gate = gate.clone();
    let slow = move |_req: http::Request<Body>| {
        let _ = in_app_tx.lock().unwrap().send(());
        app_gate.wait(); // parks this greenlet until the test lets it go
        http::Response::new(Body::from("finished"))
    };
    let (server, _) = https(Server::new(slow), cfg.server.clone(), None);
    let s = TestServer::start(server);
    let addr = s.addr;
    let mut c = client(&cfg, addr);
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    c.flush().unwrap();
    in_app.recv_timeout(CLIENT_TIMEOUT).expect("the request reached the app");
    // An idle TLS connection, past its handshake: the shutdown closes it.
    let mut idle = client(&cfg, addr);
    while idle.conn.is_handshaking() {
        idle.conn.complete_io(&mut idle.sock).unwrap();
    }
    s.stop.shutdown();
    let mut rest = Vec::new();
    match idle.sock.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the idle connection was not closed at the shutdown: {e}"),
    }
    // The request in flight is answered, and its connection then closes.
    gate.wait();
    let (status, body) = read_response(&mut c);
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "finished"));
    s.shutdown().unwrap();
    assert!(guv_tests::net::refused(addr), "the listener is closed");
    let _ = c.sock.shutdown(Shutdown::Both);
}

#[test]
fn stream_server_handlers_speak_tls_with_a_bounded_handshake() {
    // StreamServer's handler runs on the connection's own greenlet: the
    // handshake goes there, bounded with `with_timeout`.
    let cfg = tls();
    let config = cfg.server.clone();
    let (addr_tx, addr_rx) = mpsc::channel();
    let (cut_tx, cut) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let listener = guv::listen("127.0.0.1:0").unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        guv::StreamServer::new(listener, move |mut tcp, _peer| {
            let mut tls = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
            let handshake = guv::with_timeout(Duration::from_millis(300), || {
                while tls.is_handshaking() {
                    tls.complete_io(&mut tcp)?;
                }
                Ok::<(), io::Error>(())
            });
            match handshake {
                Ok(done) => done?,
                Err(_) => {
                    let _ = cut_tx.send(());
                    return Ok(());
                }
            }
            let mut tls = StreamOwned::new(tls, tcp);
            let mut line = [0u8; 5];
            tls.read_exact(&mut line)?;
            if &line == b"stop\n" {
                return Err(guv::StopServe.into());
            }
            tls.write_all(&line)?;
            tls.flush()
        })
        .serve_forever()
    });
    let addr = addr_rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
    let silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let mut c = client(&cfg, addr);
    c.write_all(b"ping\n").unwrap();
    let mut back = [0u8; 5];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping\n");
    cut.recv_timeout(CLIENT_TIMEOUT).expect("the silent client's handshake timed out");
    assert!(closed_by_server(&silent));
    let mut stop = client(&cfg, addr);
    stop.write_all(b"stop\n").unwrap();
    stop.flush().unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn limits_and_the_access_log_hold_over_tls() {
    let lines = guv_tests::http::access_log();
    let cfg = tls();
    let (server, _) = https(Server::new(app).max_body_size(10), cfg.server.clone(), None);
    let s = TestServer::start(server);
    let marker = format!("/tls-log-{}", std::process::id());
    let mut c = client(&cfg, s.addr);
    c.write_all(format!("GET {marker} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    assert_eq!(read_response(&mut c).1, format!("path {marker}"));
    // Over the body limit: 413, and the connection closes.
    c.write_all(b"POST /big-post HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world").unwrap();
    let (status, _) = read_response(&mut c);
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    let mut rest = Vec::new();
    match c.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        // The server closes without a TLS close_notify (see wrap_stream).
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}"),
    }
    s.shutdown().unwrap();
    let logged: Vec<String> = lines.lock().unwrap().iter().filter(|l| l.contains(&marker)).cloned().collect();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].starts_with("guv::wsgi::access 127.0.0.1 - - ["), "{}", logged[0]);
    assert!(logged[0].contains(&format!("\"GET {marker} HTTP/1.1\" 200 ")), "{}", logged[0]);
    assert!(lines.lock().unwrap().iter().any(|l| l.contains(" 413 ")), "the 413 is logged too");
}
