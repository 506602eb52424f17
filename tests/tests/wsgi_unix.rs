//! HTTP and plain stream serving over Unix-domain sockets (gunicorn's
//! `--bind unix:PATH` behind nginx): `guv::wsgi::Server::serve_unix` with
//! curl's `--unix-socket` and Python's `http.client` over `AF_UNIX`, the
//! access log's `unix:` client, and `guv::StreamServer` / `guv::serve` on
//! a green `UnixListener`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;

use guv::green::os::unix::net::UnixListener;
use guv::wsgi::{Body, Server, ShutdownHandle, http};
use guv_tests::fs::TempDir;
use guv_tests::http::{CLIENT_TIMEOUT, access_log};

/// Answers a `GET` with its path, a `POST` with the length and text of its
/// body.
fn app(req: http::Request<Body>) -> http::Response<Body> {
    if req.method() == http::Method::POST {
        let mut got = String::new();
        req.into_body().read_to_string(&mut got).unwrap();
        return http::Response::new(Body::from(format!("posted {}: {got}", got.len())));
    }
    http::Response::new(Body::from(format!("path {}", req.uri().path())))
}

/// A server on a Unix socket in `dir`, on a thread of its own.
struct UnixServer {
    path: PathBuf,
    stop: ShutdownHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl UnixServer {
    fn start(dir: &Path) -> UnixServer {
        let path = dir.join("http.sock");
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = Server::new(app);
        let stop = server.shutdown_handle();
        let thread = std::thread::spawn(move || server.serve_unix(UnixListener::from_std(std_listener)?));
        UnixServer { path, stop, thread: Some(thread) }
    }

    fn shutdown(mut self) -> std::io::Result<()> {
        self.stop.shutdown();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.shutdown();
            let _ = t.join();
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the client");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn curl_over_a_unix_socket_keeps_the_connection() {
    let dir = TempDir::new("wsgi-unix", "curl");
    let s = UnixServer::start(dir.path());
    let sock = s.path.to_str().unwrap().to_owned();
    let w = "|%{http_code} %{num_connects}\n";
    let out = run(Command::new("curl").args([
        "-sS",
        "--unix-socket",
        &sock,
        "-w",
        w,
        "http://localhost/a",
        "http://localhost/b",
        "--next",
        "-sS",
        "--unix-socket",
        &sock,
        "-w",
        w,
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "over unix",
        "http://localhost/post",
    ]));
    assert_eq!(out, "path /a|200 1\npath /b|200 0\nposted 9: over unix|200 0\n");
    s.shutdown().unwrap();
}

const PYTHON: &str = r#"
import http.client, socket, sys
class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=20)
        self.unix_path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(self.unix_path)
c = UnixConnection(sys.argv[1])
out = []
c.request("GET", "/one")
r = c.getresponse(); out.append("%d %s" % (r.status, r.read().decode()))
c.request("POST", "/two", body=iter([b"ab", b"cde"]), encode_chunked=True)
r = c.getresponse(); out.append("%d %s" % (r.status, r.read().decode()))
first = c.sock
c.request("GET", "/three")
r = c.getresponse(); out.append("%d %s %s" % (r.status, r.read().decode(), c.sock is first))
print("\n".join(out))
"#;

#[test]
fn python_http_client_over_af_unix() {
    let dir = TempDir::new("wsgi-unix", "python");
    let s = UnixServer::start(dir.path());
    let out = run(Command::new("python3").args(["-c", PYTHON, s.path.to_str().unwrap()]));
    assert_eq!(out, "200 path /one\n200 posted 5: abcde\n200 path /three True\n");
    s.shutdown().unwrap();
}

#[test]
fn pipelined_requests_and_the_access_log_over_a_unix_socket() {
    let lines = access_log();
    let dir = TempDir::new("wsgi-unix", "pipeline");
    let s = UnixServer::start(dir.path());
    let mut c = StdUnixStream::connect(&s.path).unwrap();
    c.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let marker = format!("/unix-log-{}", std::process::id());
    let mut burst = String::new();
    for i in 0..5 {
        burst.push_str(&format!("GET {marker}/{i} HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
    burst.push_str(&format!("GET {marker}/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    c.write_all(burst.as_bytes()).unwrap();
    let mut answers = String::new();
    c.read_to_string(&mut answers).unwrap();
    let bodies: Vec<&str> = answers.split("\r\n\r\n").skip(1).map(|b| b.split("HTTP/1.1").next().unwrap()).collect();
    let want: Vec<String> =
        (0..5).map(|i| format!("path {marker}/{i}")).chain([format!("path {marker}/last")]).collect();
    assert_eq!(bodies, want);
    s.shutdown().unwrap();
    // The access log names the client `unix:` (the line is written before
    // the answer goes out, so it is there once the answers came).
    let logged: Vec<String> = lines.lock().unwrap().iter().filter(|l| l.contains(&marker)).cloned().collect();
    assert_eq!(logged.len(), 6, "{logged:?}");
    for l in &logged {
        assert!(l.starts_with("guv::wsgi::access unix: - - ["), "{l}");
        assert!(l.contains("\" 200 "), "{l}");
    }
}

#[test]
fn stream_server_echoes_over_a_unix_socket() {
    let dir = TempDir::new("wsgi-unix", "echo");
    let path = dir.path().join("echo.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = guv::StreamServer::new(listener, |conn, peer: std::os::unix::net::SocketAddr| {
        assert!(peer.is_unnamed(), "{peer:?}");
        std::io::copy(&mut &conn, &mut &conn)?;
        Ok(())
    })
    .start()
    .unwrap();
    // The handle has no IP address to give for a Unix socket, and says so.
    let e = server.local_addr().unwrap_err();
    assert!(e.to_string().contains("Unix-domain"), "{e}");
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            guv::spawn(move || {
                let mut c = guv::net::unix::UnixStream::connect(&path).unwrap();
                let message = format!("hello {i} ").repeat(1000);
                c.write_all(message.as_bytes()).unwrap();
                c.shutdown(std::net::Shutdown::Write).unwrap();
                let mut back = String::new();
                c.read_to_string(&mut back).unwrap();
                back == message
            })
        })
        .collect();
    for c in clients {
        assert!(c.wait().unwrap());
    }
    server.stop();
    server.wait().unwrap();
    assert!(guv_tests::net::refused_unix(&path), "the listener is closed");
}

#[test]
fn serve_stops_on_a_unix_socket_when_a_handler_says_so() {
    let dir = TempDir::new("wsgi-unix", "serve");
    let path = dir.path().join("serve.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let p = path.clone();
    let client = guv::spawn(move || {
        let mut c = guv::net::unix::UnixStream::connect(&p).unwrap();
        c.write_all(b"ping").unwrap();
        let mut answer = [0u8; 4];
        c.read_exact(&mut answer).unwrap();
        answer
    });
    guv::serve(listener, |mut conn, _peer| {
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf)?;
        conn.write_all(&buf)?;
        Err(guv::StopServe.into())
    })
    .unwrap();
    assert_eq!(&client.wait().unwrap(), b"ping");
}

/// Asks for `path` on a new connection to the Unix socket at `sock`;
/// returns the body of the answer.
fn ask_unix(sock: &Path, path: &str) -> String {
    let mut c = StdUnixStream::connect(sock).unwrap();
    c.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    answer.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[test]
fn several_workers_share_one_unix_listener() {
    let lines = access_log();
    let dir = TempDir::new("wsgi-unix", "workers");
    let path = dir.path().join("workers.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // The first two requests to reach the app wait for each other (and for
    // the test); with one connection per worker, two requests in the app
    // at once are on two workers.
    let gate = std::sync::Arc::new(guv::green::sync::Barrier::new(3));
    let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = {
        let (gate, arrived) = (gate.clone(), arrived.clone());
        move |req: http::Request<Body>| {
            if arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                gate.wait();
            }
            let worker = std::thread::current().name().unwrap_or("?").to_owned();
            http::Response::new(Body::from(format!("{} {worker}", req.uri().path())))
        }
    };
    let server = Server::new(app).workers(2).max_connections(1);
    let stop = server.shutdown_handle();
    let thread = std::thread::Builder::new().name("worker-0".into()).spawn(move || server.run_unix(listener)).unwrap();
    let marker = format!("/unix-workers-{}", std::process::id());
    // Three clients at once: one worker can hold two of them (one in the
    // app, one accepted and waiting for its slot), so the other worker
    // takes at least one.
    let clients: Vec<_> = (0..3)
        .map(|i| {
            let (path, target) = (path.clone(), format!("{marker}/{i}"));
            std::thread::spawn(move || ask_unix(&path, &target))
        })
        .collect();
    gate.wait();
    let mut workers: Vec<String> = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let body = c.join().unwrap();
        let (target, worker) = body.split_once(' ').unwrap();
        assert_eq!(target, format!("{marker}/{i}"));
        workers.push(worker.to_owned());
    }
    workers.sort();
    workers.dedup();
    assert_eq!(workers, ["guv-wsgi-1", "worker-0"], "both workers served");
    // More clients, at once, from curl: all answered.
    let sock = path.to_str().unwrap().to_owned();
    let curls: Vec<_> = (0..6)
        .map(|i| {
            let url = format!("http://localhost{marker}/curl{i}");
            Command::new("curl")
                .args(["-sS", "--max-time", "20", "--unix-socket", &sock, &url])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run curl")
        })
        .collect();
    for (i, c) in curls.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let body = String::from_utf8(out.stdout).unwrap();
        assert!(body.starts_with(&format!("{marker}/curl{i} ")), "{body:?} {}", String::from_utf8_lossy(&out.stderr));
    }
    // A shutdown ends both workers; `run_unix` returns.
    stop.shutdown();
    thread.join().unwrap().unwrap();
    assert!(guv_tests::net::refused_unix(&path), "the listener is closed");
    // Each worker wrote its requests' access-log lines.
    let logged: Vec<String> = lines.lock().unwrap().iter().filter(|l| l.contains(&marker)).cloned().collect();
    assert_eq!(logged.len(), 9, "{logged:?}");
    assert!(logged.iter().all(|l| l.starts_with("guv::wsgi::access unix: - - [") && l.contains("\" 200 ")));
}
