//! The `json_echo` example as the README runs it, with curl: a JSON
//! document POSTed comes back inside `{"echo": .., "bytes": ..}`; what is
//! not JSON gets 400 with the parser's message, another method 405 (with
//! the `Allow` field RFC 9110 asks for), a body over the 1 MiB limit 413.

mod common;

use common::{Server, address_in};
use std::net::SocketAddr;
use std::process::Command;

/// Starts `json_echo` on a free loopback port; its address.
fn start() -> (Server, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_json_echo"));
    cmd.env("GUV_JSON_ADDR", "127.0.0.1:0");
    let (server, line, _) = common::start(cmd);
    (server, address_in(&line))
}

/// Runs curl with `args` against `addr`; the response's status, header
/// fields (names in lower case) and body.
fn curl(addr: SocketAddr, args: &[&str]) -> (u16, Vec<(String, String)>, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "20"])
        .args(args)
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run curl (bash .ci/install-deps installs it)");
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    // The last response (after any `100 Continue`).
    let last = text.rfind("HTTP/1.1 ").expect("a response");
    let (head, body) = text[last..].split_once("\r\n\r\n").expect("a head");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let fields =
        lines.map(|l| l.split_once(':').unwrap()).map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned())).collect();
    (status, fields, body.to_owned())
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn json_echo_echoes_json_and_refuses_the_rest() {
    let (_server, addr) = start();

    // The README's command.
    let (status, fields, body) = curl(addr, &["-d", r#"{"hello": [1, 2]}"#]);
    assert_eq!(status, 200);
    assert_eq!(field(&fields, "content-type"), Some("application/json"));
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value, serde_json::json!({"echo": {"hello": [1, 2]}, "bytes": 17}));

    let (status, _, body) = curl(addr, &["-d", "{not json"]);
    assert_eq!(status, 400);
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(value["error"].as_str().unwrap().contains("line 1 column 2"), "{body}");

    // RFC 9110 15.5.6: a 405 says which methods the resource takes.
    let (status, fields, _) = curl(addr, &[]);
    assert_eq!(status, 405);
    assert_eq!(field(&fields, "allow"), Some("POST"));

    // Over the 1 MiB body limit: refused without the app reading it all.
    let big = format!("[{}0]", "0,".repeat(600_000));
    let path = std::env::temp_dir().join(format!("guv-json-echo-{}.json", std::process::id()));
    std::fs::write(&path, big).unwrap();
    let (status, _, _) = curl(addr, &["--data-binary", &format!("@{}", path.display())]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(status, 413);
}
