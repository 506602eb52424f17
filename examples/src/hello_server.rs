//! The README's main job: a "Hello, World!" server on 127.0.0.1:8001, one
//! greenlet per connection, on one OS thread.
//!
//! Until the HTTP server (`guv::wsgi`) lands this speaks just enough
//! HTTP/1.1 by hand: it reads requests (header blocks ending in a blank
//! line; bodies are not expected) and answers each with `Hello, World!`,
//! keeping the connection open.
//!
//! Run: `cargo run --release -p guv-examples --bin hello_server`
//! then: `curl http://127.0.0.1:8001/`

use std::io::{self, Read, Write};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

fn serve(mut conn: guv::net::TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    loop {
        // Answer every complete request already buffered (pipelining).
        while let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            conn.write_all(RESPONSE)?;
            buf.copy_within(end + 4..filled, 0);
            filled -= end + 4;
        }
        if filled == buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let n = conn.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::var("GUV_HELLO_ADDR").unwrap_or_else(|_| "127.0.0.1:8001".into());
    let listener = guv::net::TcpListener::bind(&addr)?;
    println!(
        "hello_server listening on http://{}",
        listener.local_addr()?
    );
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => guv::spawn_n(move || {
                let _ = serve(conn);
            }),
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
    Ok(())
}
