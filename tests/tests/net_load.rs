//! Load: an echo server holding 10,000 concurrent connections on loopback,
//! every byte checked.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;

const CONNECTIONS: usize = 10_000;

/// Raises the soft limit on open files to `want` (each side of the test
/// holds 10,000 sockets).
fn raise_fd_limit(want: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur >= want {
            return;
        }
        assert!(lim.rlim_max >= want, "this test needs `ulimit -Hn` >= {want}, not {}", lim.rlim_max);
        lim.rlim_cur = want;
        let rc = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        assert_eq!(rc, 0, "this test needs RLIMIT_NOFILE >= {want} (run as root or raise `ulimit -n`)");
    }
}

fn message(i: usize) -> Vec<u8> {
    format!("connection {i:05} says {}\n", "x".repeat(i % 97)).into_bytes()
}

/// The client side, in a child process (this binary, re-run): each
/// process stays under the usual 20,000-file limit.
fn run_clients(addr: &str) {
    raise_fd_limit(CONNECTIONS as u64 + 100);
    // Connect all, wait for the server's go byte, then send a distinct
    // message and check the echo.
    let gts: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            let addr = addr.to_string();
            guv::Builder::new()
                .stack_size(32 * 1024)
                .spawn(move || {
                    let mut s = guv::connect(addr.as_str()).unwrap();
                    let mut go = [0u8; 1];
                    s.read_exact(&mut go).unwrap();
                    let msg = message(i);
                    s.write_all(&msg).unwrap();
                    let mut back = vec![0u8; msg.len()];
                    s.read_exact(&mut back).unwrap();
                    back == msg
                })
                .unwrap()
        })
        .collect();
    let ok = gts.into_iter().map(|g| g.wait().unwrap()).filter(|ok| *ok).count();
    println!("clients ok={ok}");
}

#[test]
fn echo_server_holds_ten_thousand_connections() {
    if let Ok(addr) = std::env::var("GUV_LOAD_CLIENT_ADDR") {
        return run_clients(&addr);
    }
    raise_fd_limit(CONNECTIONS as u64 + 100);
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let child = guv::green::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "echo_server_holds_ten_thousand_connections", "--test-threads=1", "--nocapture"])
        .env("GUV_LOAD_CLIENT_ADDR", addr.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = guv::spawn(move || child.wait_with_output().unwrap());

    // Accept every connection before any client may send: all 10,000 are
    // open at the same time.
    let conns: Rc<RefCell<Vec<guv::net::TcpStream>>> = Rc::default();
    for _ in 0..CONNECTIONS {
        let (c, _) = listener.accept().unwrap();
        conns.borrow_mut().push(c);
    }
    assert_eq!(conns.borrow().len(), CONNECTIONS);
    let servers: Vec<_> = conns
        .borrow_mut()
        .drain(..)
        .map(|mut c| {
            guv::Builder::new()
                .stack_size(32 * 1024)
                .spawn(move || {
                    c.write_all(b"!").unwrap();
                    let mut buf = [0u8; 256];
                    let mut echoed = 0;
                    loop {
                        let n = c.read(&mut buf).unwrap();
                        if n == 0 {
                            return echoed;
                        }
                        c.write_all(&buf[..n]).unwrap();
                        echoed += n;
                    }
                })
                .unwrap()
        })
        .collect();
    let out = client.wait().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client process failed: {stdout}");
    assert!(stdout.contains(&format!("clients ok={CONNECTIONS}")), "every echo must come back intact: {stdout}");
    let total: usize = servers.into_iter().map(|g| g.wait().unwrap()).sum();
    assert_eq!(total, (0..CONNECTIONS).map(|i| message(i).len()).sum::<usize>());
}
