//! The README's main job, `hello_server`, as a user runs it: it answers
//! `Hello, World!` with keep-alive, and `SIGTERM` or Ctrl-C (`SIGINT`)
//! stops it gracefully, exiting with 0.

mod common;

use common::{Server, address_in};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

/// Starts `hello_server` with `workers` worker hubs on a free loopback port; the child and the
/// address from the line it prints once listening (its stdout stays open
/// for the rest).
fn start(workers: &str) -> (Server, SocketAddr, BufReader<std::process::ChildStdout>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hello_server"));
    cmd.env("GUV_HELLO_ADDR", "127.0.0.1:0").env("GUV_HELLO_WORKERS", workers).stderr(Stdio::piped());
    let (server, line, out) = common::start(cmd);
    // `0` is one worker per core, and the line says how many that is.
    let expected = match workers {
        "0" => std::thread::available_parallelism().unwrap().get(),
        n => n.parse().unwrap(),
    };
    assert!(line.ends_with(&format!("({expected} worker(s))\n")), "{line:?}");
    (server, address_in(&line), out)
}

/// Reads one response with a `Content-Length` body; its head and body.
fn read_response(r: &mut BufReader<&TcpStream>) -> (String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "connection closed mid-head: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
        .expect("a Content-Length")
        .unwrap();
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &server.0.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Sends `name` to a server with a kept-alive connection open: the
/// server says it is stopping, closes the idle connection, stops
/// listening, exits 0 and says it stopped. (What a shutdown does with
/// requests in flight is the server's own, tested in guv's HTTP tests.)
fn stops_gracefully_on(name: &str, workers: &str) {
    let (mut server, addr, mut out) = start(workers);
    let conn = TcpStream::connect(addr).unwrap();
    let mut reader = BufReader::new(&conn);
    for path in ["/", "/again"] {
        (&conn).write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let (head, body) = read_response(&mut reader);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, "Hello, World!");
    }

    signal(&server, name);
    let mut err = BufReader::new(server.0.stderr.take().unwrap());
    let mut said = String::new();
    err.read_line(&mut said).unwrap();
    assert!(said.contains(&format!("SIG{name}")) && said.contains("stopping"), "{said:?}");
    // The idle kept-alive connection is closed, not left hanging.
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));

    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut printed = String::new();
    out.read_to_string(&mut printed).unwrap();
    assert_eq!(printed, "hello_server stopped\n");
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn sigterm_stops_the_main_job_gracefully() {
    stops_gracefully_on("TERM", "1");
}

#[test]
fn ctrl_c_stops_the_main_job_gracefully() {
    stops_gracefully_on("INT", "1");
}

#[test]
fn sigterm_stops_every_worker_of_the_main_job() {
    stops_gracefully_on("TERM", "2");
}

#[test]
fn sigterm_stops_the_main_job_with_a_worker_per_core() {
    stops_gracefully_on("TERM", "0");
}
