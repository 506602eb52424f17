//! What the examples' tests share: an example server run as a child
//! process, killed and reaped however the test ends, and found by the
//! address in the first line it prints once listening.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};

/// Kills and reaps the server when the test ends, however it ends.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` with its stdout piped and reads its first line: the
/// server, that line, and its stdout for the rest.
pub fn start(mut cmd: Command) -> (Server, String, BufReader<ChildStdout>) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let server = Server(child);
    let mut line = String::new();
    out.read_line(&mut line).expect("read its first line");
    (server, line, out)
}

/// The address a server's line names: its first word that parses as one,
/// once an `http://` before it and a `/` after it are taken off.
pub fn address_in(line: &str) -> SocketAddr {
    line.split_whitespace()
        .find_map(|word| word.trim_start_matches("http://").trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}
