// Paths inside macro invocations: format!, println!, assert!, vec!.
#[guv::patched]
fn main() {
    let names = vec![std::thread::current().name().map(String::from)];
    let s = format!("{:?} {:?}", names, std::net::Ipv4Addr::LOCALHOST);
    assert!(s.contains("127.0.0.1"));
    assert!(std::net::TcpListener::bind("127.0.0.1:0").is_ok());
    println!("{}", std::sync::Mutex::new(1).lock().map(|g| *g).unwrap_or(0));
}
