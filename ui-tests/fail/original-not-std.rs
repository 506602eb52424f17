use std::net::TcpStream;

#[guv::patched]
fn main() {
    let _ = guv::original!(TcpStream::connect)("127.0.0.1:1");
}
