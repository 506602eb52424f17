// A patched fn: std paths in the signature, the body, `?` and a Result.
use std::io::{Read, Write};

#[guv::patched]
fn echo_once(listener: &std::net::TcpListener) -> std::io::Result<Vec<u8>> {
    let addr = listener.local_addr()?;
    let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.write_all(b"ping")?;
        s.shutdown(std::net::Shutdown::Write)?;
        let mut back = Vec::new();
        s.read_to_end(&mut back)?;
        Ok(back)
    });
    let (mut conn, _) = listener.accept()?;
    let mut buf = Vec::new();
    conn.read_to_end(&mut buf)?;
    conn.write_all(&buf)?;
    drop(conn);
    client.join().expect("client panicked")
}

#[guv::patched]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    assert_eq!(echo_once(&listener)?, b"ping");
    Ok(())
}
