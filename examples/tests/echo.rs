//! The echo examples as the README runs them: `echo_server` on a loopback
//! port, `echo_client` against it (every byte checked by the client), and
//! `echo_client --self-test`.

mod common;

use common::{Server, address_in};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// Starts `echo_server` on a free loopback port; its address.
fn start_server() -> (Server, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_echo_server"));
    cmd.arg("127.0.0.1:0");
    let (server, line, _) = common::start(cmd);
    (server, address_in(&line))
}

#[test]
fn echo_server_echoes_and_echo_client_checks_it() {
    let (_server, addr) = start_server();

    // A plain std client: what it sends comes back, byte for byte.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let sent: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let writer = {
        let mut w = c.try_clone().unwrap();
        let sent = sent.clone();
        std::thread::spawn(move || {
            w.write_all(&sent).unwrap();
            w.shutdown(std::net::Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back.len(), sent.len());
    assert!(back == sent, "the echo differs from what was sent");

    // The README's client: 20 connections of 200 round trips each, every
    // echoed byte checked; it exits with an error if any client failed.
    let out = Command::new(env!("CARGO_BIN_EXE_echo_client"))
        .args([addr.to_string().as_str(), "20", "200"])
        .output()
        .expect("run echo_client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "echo_client failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("20 connections, 4000 round trips"), "{stdout}");
}

#[test]
fn echo_client_self_test_runs_its_own_server() {
    let out = Command::new(env!("CARGO_BIN_EXE_echo_client"))
        .args(["--self-test", "127.0.0.1:0", "10", "100"])
        .output()
        .expect("run echo_client --self-test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "echo_client --self-test failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("10 connections, 1000 round trips"), "{stdout}");
}

#[test]
fn echo_client_refuses_counts_that_are_not_numbers() {
    // It used to fall back to its defaults (100 connections of 1000
    // messages) and run as if nothing were wrong.
    for (args, named) in [(["127.0.0.1:1", "ten", "5"], "CONNECTIONS"), (["127.0.0.1:1", "2", "-5"], "MESSAGES")] {
        let out = Command::new(env!("CARGO_BIN_EXE_echo_client")).args(args).output().expect("run echo_client");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("{named} must be a whole number")) && stderr.contains("usage:"), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: it ran: {}", String::from_utf8_lossy(&out.stdout));
    }
}
