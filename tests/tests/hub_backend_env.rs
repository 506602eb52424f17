//! `GUV_BACKEND` picks the I/O backend a thread's hub starts on: `epoll`
//! (guv's own, the default) or `polling`; any other name is a clear error
//! when the hub starts. Each case runs in a child process, since the
//! variable is read as each hub starts.

use std::io::{Read, Write};
use std::process::Command;

/// Set in the child processes: the test that uses the hub runs only there.
const CHILD: &str = "GUV_BACKEND_ENV_CHILD";

/// A loopback echo between two greenlets and a timer: the hub's I/O and
/// timers on whatever backend `GUV_BACKEND` chose.
#[test]
fn child_echoes_on_the_chosen_backend() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = guv::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = guv::connect(addr).unwrap();
    guv::sleep(std::time::Duration::from_millis(1));
    c.write_all(b"hello").unwrap();
    let mut back = [0u8; 5];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hello");
    server.wait().unwrap();
}

#[test]
fn guv_backend_picks_the_backend_and_refuses_unknown_names() {
    for (value, known) in [("epoll", true), ("polling", true), ("kqueue", false)] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_echoes_on_the_chosen_backend", "--test-threads=1"])
            .env(CHILD, "1")
            .env("GUV_BACKEND", value)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if known {
            assert!(out.status.success() && text.contains("1 passed"), "GUV_BACKEND={value}: {text}");
        } else {
            assert!(!out.status.success(), "GUV_BACKEND={value} was accepted: {text}");
            assert!(text.contains("GUV_BACKEND=kqueue names no backend (epoll or polling)"), "{text}");
        }
    }
}
