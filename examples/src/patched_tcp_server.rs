//! A thread-per-connection TCP server written against `std` alone — the
//! classic blocking design — that serves every connection as a greenlet on
//! one OS thread because of a single added line: `#[guv::patched]` on the
//! module. Delete that line and it is the std program again, with one OS
//! thread per connection.
//!
//! It answers each line with the line upper-cased and the number of
//! clients connected: `nc 127.0.0.1 8005`.

#[guv::patched]
pub mod server {
    use std::io::{self, BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    /// Binds `addr` and serves it forever.
    pub fn run(addr: &str) -> io::Result<()> {
        let listener = TcpListener::bind(addr)?;
        println!("listening on {}", listener.local_addr()?);
        serve(listener)
    }

    /// Accepts connections and hands each to a thread of its own.
    pub fn serve(listener: TcpListener) -> io::Result<()> {
        let connected = Arc::new(AtomicUsize::new(0));
        for stream in listener.incoming() {
            let stream = stream?;
            let connected = connected.clone();
            thread::spawn(move || {
                connected.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = handle(stream, &connected) {
                    eprintln!("connection failed: {e}");
                }
                connected.fetch_sub(1, Ordering::SeqCst);
            });
        }
        Ok(())
    }

    fn handle(stream: TcpStream, connected: &AtomicUsize) -> io::Result<()> {
        let mut out = stream.try_clone()?;
        for line in BufReader::new(stream).lines() {
            let line = line?;
            let n = connected.load(Ordering::SeqCst);
            writeln!(out, "{} ({n} connected)", line.to_uppercase())?;
        }
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    server::run("127.0.0.1:8005")
}
