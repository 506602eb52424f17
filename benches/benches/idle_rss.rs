//! Memory per idle connection: 10,000 connections held open to a server
//! that reads on each (a greenlet / task / coroutine per connection), its
//! resident memory measured before and after. Servers: guv, tokio
//! (current_thread), may (one worker), each in its own process.
//!
//! `cargo bench -p guv-benches --bench idle_rss` (env: GUV_BENCH_IDLE,
//! default 10000). Under `cargo test` it runs with 1000 connections.

use std::time::Duration;

use guv_benches::{raise_fd_limit, rss_kib};

#[path = "support/echo_servers.rs"]
mod echo_servers;
use echo_servers::{Server, serve_if_asked};

fn main() {
    serve_if_asked();
    raise_fd_limit();
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize =
        if bench { std::env::var("GUV_BENCH_IDLE").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000) } else { 1000 };
    println!("{n} idle connections:");
    let mut results = Vec::new();
    for rt in ["guv", "tokio", "may"] {
        let mut server = Server::start(rt).expect("server start");
        std::thread::sleep(Duration::from_millis(300));
        let before = rss_kib(server.pid());
        let conns: Vec<std::net::TcpStream> =
            (0..n).map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect")).collect();
        server.wait_accepted(n);
        // Let every handler start and park in its read.
        std::thread::sleep(Duration::from_millis(500));
        let after = rss_kib(server.pid());
        let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
        println!("{rt:>5}: RSS {before} KiB -> {after} KiB: {:.1} KiB per connection", per / 1024.0);
        results.push((rt, per));
        drop(conns);
    }
    let guv = results[0].1;
    for (rt, per) in &results {
        println!("{rt:>5}: {:.1} KiB/connection ({:.2}x guv)", per / 1024.0, per / guv);
    }
}
