//! Two `StreamServer`s on clones of one listener: a full one (at its
//! `concurrency`) accepts nothing, so the next client goes to the other.

use std::io::{Read, Write};
use std::time::Duration;

use guv::StreamServer;
use guv::net::TcpStream;

/// Reads until the peer closes; `None` if that takes over five seconds.
fn answer(c: &mut TcpStream) -> Option<String> {
    let mut got = String::new();
    guv::with_timeout(Duration::from_secs(5), || c.read_to_string(&mut got)).ok()?.ok()?;
    Some(got)
}

#[test]
fn a_full_stream_server_leaves_the_next_client_to_one_with_room() {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clone = listener.try_clone().unwrap();
    // `held` says a handler holds its client; `release` lets it go.
    let held = guv::queue::Queue::<()>::new(None);
    let release = guv::queue::Queue::<()>::new(None);
    let handler = {
        let (held, release) = (held.clone(), release.clone());
        move |mut s: TcpStream, _peer| {
            let mut word = [0u8; 4];
            s.read_exact(&mut word)?;
            if &word == b"hold" {
                held.put(());
                release.get();
            }
            s.write_all(b"done")
        }
    };
    let one = StreamServer::new(listener, handler.clone()).concurrency(1).start().unwrap();
    let two = StreamServer::new(clone, handler).concurrency(1).start().unwrap();
    for round in 0..8 {
        let mut a = guv::connect(addr).unwrap();
        a.write_all(b"hold").unwrap();
        held.get();
        // One server is full now; the other must take this client.
        let mut b = guv::connect(addr).unwrap();
        b.write_all(b"quik").unwrap();
        let got = answer(&mut b);
        release.put(());
        assert_eq!(got.as_deref(), Some("done"), "round {round}: the server with room did not answer");
        assert_eq!(answer(&mut a).as_deref(), Some("done"), "round {round}");
    }
    one.stop();
    two.stop();
}
