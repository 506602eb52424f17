//! A concurrent echo client: N greenlets on one thread, each with its own
//! connection, sending messages and checking every echoed byte.
//!
//! Run against `echo_server`:
//! `cargo run --release -p guv-examples --bin echo_client [ADDR] [CONNECTIONS] [MESSAGES]`
//! (defaults: 127.0.0.1:8004, 100 connections, 1000 messages each).
//! With `--self-test` it starts its own server first (a `guv::StreamServer`).

use std::io::{self, Read, Write};
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

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let self_test = args.iter().any(|a| a == "--self-test");
    args.retain(|a| a != "--self-test");
    let mut addr = args.first().cloned().unwrap_or_else(|| "127.0.0.1:8004".into());
    let conns: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let messages: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
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
