//! A server's accept loop parks when its listener says `WouldBlock`.
//!
//! Green sockets share their non-blocking flag with their `try_clone`s (as
//! std's share `O_NONBLOCK`), so user code that makes a clone of a
//! server's listener non-blocking makes the server's `accept` say
//! `WouldBlock` too. The accept loop used to retry at once, spinning
//! without a switch: no handler, timer or other greenlet of its thread ran
//! again. It now waits for the listener to become readable. The same loop
//! serves `StreamServer` and the HTTP server; both are checked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use guv::wsgi::{Body, Server, http};
use guv_tests::http::CLIENT_TIMEOUT;

/// Spawns a greenlet that needs the hub to go on running (a timer must
/// fire) and reports through `progressed` when it has.
fn spawn_sleeper(progressed: mpsc::Sender<()>) {
    guv::spawn_n(move || {
        guv::sleep(Duration::from_millis(1));
        let _ = progressed.send(());
    });
}

/// One line to the plain server at `addr`, and its answer.
fn ask_line(addr: SocketAddr, line: &str) -> String {
    let mut c = guv_tests::http::connect(addr);
    c.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    BufReader::new(c).read_line(&mut answer).expect("an answer");
    answer
}

#[test]
fn stream_server_goes_on_when_a_clone_of_its_listener_is_made_non_blocking() {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (progressed_tx, progressed) = mpsc::channel();
    // The server's thread is left running if the loop spins (the test
    // fails rather than hangs).
    let server = std::thread::spawn(move || {
        let listener = guv::listen("127.0.0.1:0").unwrap();
        let clone = listener.try_clone().unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        guv::serve(listener, move |conn, _peer| {
            let mut line = String::new();
            BufReader::new(&conn).read_line(&mut line)?;
            match line.trim() {
                "non-blocking" => {
                    // Shared with the server's listener: its next accept
                    // says WouldBlock while no client is waiting.
                    clone.set_nonblocking(true)?;
                }
                "later" => spawn_sleeper(progressed_tx.clone()),
                "stop" => {
                    (&conn).write_all(b"stopping\n")?;
                    return Err(guv::StopServe.into());
                }
                _ => {}
            }
            (&conn).write_all(format!("got {}\n", line.trim()).as_bytes())
        })
    });
    let addr = addr_rx.recv().unwrap();
    assert_eq!(ask_line(addr, "non-blocking"), "got non-blocking\n");
    // The accept loop finds the listener non-blocking once it wakes for
    // the next client: that client is still served...
    assert_eq!(ask_line(addr, "later"), "got later\n");
    // ... and while no client connects, the server's thread runs its
    // other greenlets (a timer fires).
    progressed.recv_timeout(CLIENT_TIMEOUT).expect("a greenlet of the server's thread ran");
    assert_eq!(ask_line(addr, "stop"), "stopping\n");
    server.join().unwrap().unwrap();
}

#[test]
fn the_http_server_goes_on_when_a_clone_of_its_listener_is_made_non_blocking() {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel();
    let (progressed_tx, progressed) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let listener = guv::listen("127.0.0.1:0").unwrap();
        let clone = listener.try_clone().unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        let progressed_tx = std::sync::Mutex::new(progressed_tx);
        let app = move |req: http::Request<Body>| {
            match req.uri().path() {
                "/non-blocking" => clone.set_nonblocking(true).unwrap(),
                "/later" => spawn_sleeper(progressed_tx.lock().unwrap().clone()),
                _ => {}
            }
            http::Response::new(Body::from(format!("path {}", req.uri().path())))
        };
        let server = Server::new(app).access_log(false);
        stop_tx.send(server.shutdown_handle()).unwrap();
        server.serve(listener)
    });
    let addr = addr_rx.recv().unwrap();
    let stop = stop_rx.recv().unwrap();
    let ask = |path: &str| {
        let mut c = guv_tests::http::connect(addr);
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).expect("an answer");
        answer
    };
    assert!(ask("/non-blocking").ends_with("path /non-blocking"));
    assert!(ask("/later").ends_with("path /later"));
    progressed.recv_timeout(CLIENT_TIMEOUT).expect("a greenlet of the server's thread ran");
    stop.shutdown();
    server.join().unwrap().unwrap();
}
