//! A concurrent echo client: N greenlets on one thread, each with its own
//! connection, sending messages and checking every echoed byte.
//!
//! Run against `echo_server`:
//! `cargo run --release -p guv-examples --bin echo_client [ADDR] [CONNECTIONS] [MESSAGES]`
//! (defaults: 127.0.0.1:8004, 100 connections, 1000 messages each).
//! With `--self-test` it starts its own server first (a `guv::StreamServer`).

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

fn client(addr: &str, id: usize, messages: usize) -> io::Result<()> {
    let mut s =
        guv::connect(addr).map_err(|e| io::Error::new(e.kind(), format!("client {id}: connect to {addr}: {e}")))?;
    s.set_nodelay(true)?;
    let mut back = [0u8; 64];
    for m in 0..messages {
        let msg = format!("client {id:04} message {m:06}\n");
        s.write_all(msg.as_bytes())?;
        s.read_exact(&mut back[..msg.len()])?;
        if &back[..msg.len()] != msg.as_bytes() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("client {id}: bad echo")));
        }
    }
    Ok(())
}

/// Argument `i` as a count, `default` if it is not given.
fn count(args: &[String], i: usize, name: &str, default: usize) -> Result<usize, String> {
    match args.get(i) {
        None => Ok(default),
        Some(a) => a.parse().map_err(|_| format!("{name} must be a whole number, not {a:?}")),
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let self_test = args.iter().any(|a| a == "--self-test");
    args.retain(|a| a != "--self-test");
    let addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:8004".into());
    let counts = count(&args, 1, "CONNECTIONS", 100).and_then(|c| Ok((c, count(&args, 2, "MESSAGES", 1000)?)));
    let (conns, messages) = match counts {
        Ok(counts) => counts,
        Err(e) => {
            eprintln!("echo_client: {e}\nusage: echo_client [--self-test] [ADDR] [CONNECTIONS] [MESSAGES]");
            return ExitCode::from(2);
        }
    };
    match run(addr, conns, messages, self_test) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `conns` clients of `messages` round trips each against `addr` (or,
/// with `self_test`, against a server of its own).
fn run(mut addr: String, conns: usize, messages: usize, self_test: bool) -> io::Result<()> {
    let server = if self_test {
        let listener = guv::listen("127.0.0.1:0")?;
        addr = listener.local_addr()?.to_string();
        let echo = |conn: guv::net::TcpStream, _peer| {
            std::io::copy(&mut &conn, &mut &conn)?;
            Ok(())
        };
        Some(guv::StreamServer::new(listener, echo).concurrency(conns).start()?)
    } else {
        None
    };
    let start = Instant::now();
    let gts: Vec<_> = (0..conns)
        .map(|id| {
            let addr = addr.clone();
            guv::spawn(move || client(&addr, id, messages))
        })
        .collect();
    let mut failed = 0;
    for gt in gts {
        match gt.wait() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("{e}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("client greenlet failed: {e}");
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(server) = server {
        server.stop();
    }
    let total = (conns - failed) * messages;
    println!("{conns} connections, {total} round trips in {secs:.2} s: {:.0} round trips/s", total as f64 / secs);
    if failed > 0 {
        return Err(io::Error::other(format!("{failed} clients failed")));
    }
    Ok(())
}
