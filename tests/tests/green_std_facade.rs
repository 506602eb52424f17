//! `use guv::green_std as std;`: a file written against std paths runs on
//! greenlets, with the rest of std unchanged.

use guv::green_std as std;
use std::io::{Read, Write};

#[test]
fn std_paths_resolve_to_the_green_twins() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // green thread: a greenlet on this hub.
    let server = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut s = std::string::String::new();
        c.read_to_string(&mut s).unwrap();
        s
    });
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(b"facade").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), "facade");
    std::time::sleep(std::time::Duration::from_millis(1));
    let out = std::process::Command::new("echo").arg("x").output().unwrap();
    assert_eq!(out.stdout, b"x\n");
    // The greenlet ran on this OS thread.
    assert_eq!(guv::hub::stats().live_greenlets, 0);
    let v: std::collections::HashMap<u8, u8> = std::iter::once((1, 2)).collect();
    assert_eq!(v[&1], 2);
}
