fn main() {
    let _ = guv::original!(std::net::TcpStream::connect)("127.0.0.1:1");
}
