//! Review 19: `Server::run_unix` with several workers sharing one Unix
//! listener: `max_connections` per worker, shutdown with requests in
//! flight on the workers, the socket file.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use guv::green::os::unix::net::UnixListener;
use guv::wsgi::{Body, Server, http};
use guv_tests::fs::TempDir;

fn unix_client(path: &Path, timeout: Duration) -> StdUnixStream {
    let c = StdUnixStream::connect(path).unwrap();
    c.set_read_timeout(Some(timeout)).unwrap();
    c.set_write_timeout(Some(timeout)).unwrap();
    c
}

fn read_all(c: &mut StdUnixStream) -> std::io::Result<String> {
    let mut answer = String::new();
    c.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Holds `/hold` requests until `release` is set (polled: the app runs on
/// a worker hub, the test on its own thread), telling `held` when one is
/// in the app.
struct Holder {
    held: Mutex<mpsc::Sender<()>>,
    release: AtomicBool,
}

impl Holder {
    fn serve(&self, req: &http::Request<Body>) -> http::Response<Body> {
        if req.uri().path() == "/hold" {
            let _ = self.held.lock().unwrap().send(());
            while !self.release.load(Ordering::SeqCst) {
                guv::sleep(Duration::from_millis(2));
            }
        }
        http::Response::new(Body::from(format!("path {}", req.uri().path())))
    }
}

#[test]
fn a_full_worker_leaves_the_next_client_to_a_free_one() {
    // Two workers of one connection each share the listener. While one
    // holds a request, the next client must be served by the other: a
    // full worker must not take it off the listener and hold it until
    // its own connection ends.
    let dir = TempDir::new("review19", "full-worker");
    let path = dir.path().join("s.sock");
    let (held_tx, held_rx) = mpsc::channel();
    let holder: &'static Holder =
        Box::leak(Box::new(Holder { held: Mutex::new(held_tx), release: AtomicBool::new(false) }));
    let server = Server::new(move |req: http::Request<Body>| holder.serve(&req)).workers(2).max_connections(1);
    let stop = server.shutdown_handle();
    let listener = UnixListener::bind(&path).unwrap();
    let thread = std::thread::spawn(move || server.run_unix(listener));
    for round in 0..8 {
        holder.release.store(false, Ordering::SeqCst);
        let mut a = unix_client(&path, Duration::from_secs(20));
        a.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        held_rx.recv_timeout(Duration::from_secs(20)).expect("the held request reached the app");
        let mut b = unix_client(&path, Duration::from_secs(5));
        b.write_all(b"GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let got = read_all(&mut b);
        holder.release.store(true, Ordering::SeqCst);
        let answer = got.unwrap_or_else(|e| panic!("round {round}: the free worker did not answer: {e}"));
        assert!(answer.ends_with("\r\n\r\npath /quick"), "{answer}");
        let held = read_all(&mut a).unwrap();
        assert!(held.ends_with("\r\n\r\npath /hold"), "{held}");
    }
    stop.shutdown();
    thread.join().unwrap().unwrap();
    assert!(path.exists(), "the socket file is left where it is");
}

#[test]
fn a_shutdown_lets_requests_in_flight_on_every_worker_finish() {
    let dir = TempDir::new("review19", "inflight");
    let path = dir.path().join("s.sock");
    let (held_tx, held_rx) = mpsc::channel();
    let holder: &'static Holder =
        Box::leak(Box::new(Holder { held: Mutex::new(held_tx), release: AtomicBool::new(false) }));
    let threads_seen: &'static Mutex<std::collections::HashSet<String>> = Box::leak(Box::default());
    let served: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let server = Server::new(move |req: http::Request<Body>| {
        threads_seen.lock().unwrap().insert(format!("{:?}", std::thread::current().id()));
        let r = holder.serve(&req);
        served.fetch_add(1, Ordering::SeqCst);
        r
    })
    .workers(3)
    .shutdown_timeout(Duration::from_secs(20));
    let stop = server.shutdown_handle();
    let listener = UnixListener::bind(&path).unwrap();
    let thread = std::thread::spawn(move || server.run_unix(listener));
    let mut clients = Vec::new();
    for _ in 0..12 {
        let mut c = unix_client(&path, Duration::from_secs(20));
        c.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        held_rx.recv_timeout(Duration::from_secs(20)).expect("the request reached the app");
        clients.push(c);
    }
    stop.shutdown();
    // The shutdown has reached the workers once new clients are refused
    // (the listener closes with the accept loops).
    let (done_tx, done_rx) = mpsc::channel();
    let joiner = std::thread::spawn(move || {
        let r = thread.join().unwrap();
        let _ = done_tx.send(());
        r
    });
    assert!(done_rx.recv_timeout(Duration::from_millis(300)).is_err(), "run_unix returned with requests in flight");
    holder.release.store(true, Ordering::SeqCst);
    for mut c in clients {
        let answer = read_all(&mut c).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\npath /hold"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    }
    done_rx.recv_timeout(Duration::from_secs(20)).expect("run_unix returned");
    joiner.join().unwrap().unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 12);
    assert!(threads_seen.lock().unwrap().len() >= 2, "the requests were spread over the workers");
}

/// The child's side of the test below: its own hub runs on epoll, but every
/// new thread's hub fails to start (`GUV_BACKEND` names no backend), so
/// the second worker cannot start. It prints what `run_unix` returned.
fn worker_fails_child() {
    guv::hub::set_backend(Box::new(guv::hub::EpollBackend::new().unwrap())).unwrap();
    let dir = TempDir::new("review19", "worker-fails");
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi"))).workers(2);
    println!("starting");
    let result = server.run_unix(listener);
    println!("returned {}", result.is_err());
}

#[test]
fn a_worker_that_cannot_start_stops_the_server() {
    const NAME: &str = "a_worker_that_cannot_start_stops_the_server";
    if guv_tests::child_role().as_deref() == Some("worker-fails") {
        worker_fails_child();
        return;
    }
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env("GUV_TEST_CHILD", "worker-fails")
        .env("GUV_BACKEND", "no-such-backend")
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let outcome = loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains("returned ") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line =
        outcome.unwrap_or_else(|| panic!("run_unix kept serving with a worker short; the child printed {seen:?}"));
    assert!(line.ends_with("returned true"), "{line}");
    assert!(seen.iter().any(|l| l.contains("starting")), "{seen:?}");
}
