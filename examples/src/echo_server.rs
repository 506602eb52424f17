//! A green echo server with `guv::StreamServer`: one greenlet per
//! connection, every byte sent back.
//!
//! Run: `cargo run --release -p guv-examples --bin echo_server [ADDR]`
//! (default 127.0.0.1:8004), then point `echo_client` (or `nc`) at it.

use std::io::{self, Read, Write};

fn echo(mut conn: guv::net::TcpStream) -> io::Result<u64> {
    conn.set_nodelay(true)?;
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        conn.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8004".into());
    let listener = guv::listen(addr.as_str())?;
    println!("echo_server listening on {}", listener.local_addr()?);
    // One greenlet per connection, at most 10 000 at once (more wait in the
    // listen backlog); a failed connection is reported and the server goes on.
    guv::StreamServer::new(listener, |conn, peer| {
        if let Err(e) = echo(conn) {
            eprintln!("{peer}: connection ended with an error: {e}");
        }
        Ok(())
    })
    .concurrency(10_000)
    .serve_forever()
}
