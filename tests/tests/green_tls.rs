//! TLS over green sockets. Python guv patches `ssl`; Rust's std has no TLS
//! to patch, and TLS stacks that work over any `Read + Write` wrap a green
//! `TcpStream` as they would a std one (docs/ARCHITECTURE.md, "No green
//! `ssl`"). These tests hold guv to that with rustls (the `ring` provider)
//! and a certificate made for each run: handshakes and records of many
//! sessions interleave on one hub, plain std code patched by
//! `#[guv::patched]` speaks TLS on greenlets, and a TLS read parks its
//! greenlet, honours the socket's read timeout and unwinds when killed.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use guv::net::{TcpListener, TcpStream};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned};

/// The name the certificate is made for. Only TLS checks it: every
/// connection goes to a numeric 127.0.0.1 address, nothing is resolved.
const NAME: &str = "guv.test";

struct Configs {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

/// A self-signed certificate for [`NAME`], a server that presents it and a
/// client that trusts only it.
fn configs() -> Configs {
    let made = guv_tests::tls::self_signed(NAME);
    Configs { server: made.server, client: made.client }
}

fn tls_client(cfg: &Arc<ClientConfig>, stream: TcpStream) -> StreamOwned<ClientConnection, TcpStream> {
    let name = ServerName::try_from(NAME).expect("server name");
    StreamOwned::new(ClientConnection::new(cfg.clone(), name).expect("client session"), stream)
}

fn tls_server(cfg: &Arc<ServerConfig>, stream: TcpStream) -> StreamOwned<ServerConnection, TcpStream> {
    StreamOwned::new(ServerConnection::new(cfg.clone()).expect("server session"), stream)
}

/// Echoes what the TLS session brings until the client closes it; returns
/// how many bytes it echoed.
fn echo(mut tls: StreamOwned<ServerConnection, TcpStream>) -> io::Result<usize> {
    let mut buf = [0u8; 4096];
    let mut echoed = 0;
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Ok(echoed);
        }
        tls.write_all(&buf[..n])?;
        tls.flush()?;
        echoed += n;
    }
}

/// Sends `message` and reads back exactly as many bytes.
fn round_trip(tls: &mut StreamOwned<ClientConnection, TcpStream>, message: &[u8]) -> Vec<u8> {
    tls.write_all(message).expect("write");
    tls.flush().expect("flush");
    let mut back = vec![0u8; message.len()];
    tls.read_exact(&mut back).expect("read echo");
    back
}

#[test]
fn tls_sessions_interleave_on_one_hub() {
    const CLIENTS: usize = 16;
    let cfg = configs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_cfg = cfg.server.clone();
    let server = guv::spawn(move || {
        let mut handlers = Vec::new();
        // The silent client's connection and then every TLS client's.
        for _ in 0..=CLIENTS {
            let (stream, _) = listener.accept().unwrap();
            let cfg = server_cfg.clone();
            handlers.push(guv::spawn(move || echo(tls_server(&cfg, stream))));
        }
        handlers
    });

    // A client that connects and never starts its handshake: the server's
    // handshake with it parks that handler only.
    let silent = TcpStream::connect(addr).unwrap();

    // Every client holds its session open, mid-conversation, until all
    // have had their first echo: this completes only if the server's
    // sessions (handshakes, records) interleave on this one thread.
    let first_echoes = Rc::new(Cell::new(0usize));
    let all_in = guv::Event::new();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (cfg, first_echoes, all_in) = (cfg.client.clone(), first_echoes.clone(), all_in.clone());
            guv::spawn(move || {
                let mut tls = tls_client(&cfg, TcpStream::connect(addr).unwrap());
                let message: Vec<u8> = (0..1500).map(|k| (i * 31 + k) as u8).collect();
                assert_eq!(round_trip(&mut tls, &message), message, "client {i}'s first echo");
                first_echoes.set(first_echoes.get() + 1);
                if first_echoes.get() == CLIENTS {
                    all_in.set();
                }
                all_in.wait();
                // Then records larger than one TLS record (16 KiB).
                let big: Vec<u8> = (0..40_000).map(|k| (k * 7 + i) as u8).collect();
                for _ in 0..3 {
                    assert_eq!(round_trip(&mut tls, &big), big, "client {i}'s large echo");
                }
                tls.conn.send_close_notify();
                tls.flush().unwrap();
                i
            })
        })
        .collect();
    let done: Vec<usize> = clients.into_iter().map(|c| c.wait().unwrap()).collect();
    assert_eq!(done, (0..CLIENTS).collect::<Vec<_>>());
    assert_eq!(first_echoes.get(), CLIENTS);

    let mut handlers = server.wait().unwrap();
    // The others ended cleanly at their clients' close_notify, having
    // echoed everything; the silent client's handler is still in its
    // handshake, and ends, having echoed nothing, once that client goes.
    let silent_handler = handlers.remove(0);
    for h in handlers {
        assert_eq!(h.wait().unwrap().expect("a TLS echo handler failed"), 1500 + 3 * 40_000);
    }
    assert!(!silent_handler.is_finished());
    drop(silent);
    assert_eq!(silent_handler.wait().unwrap().unwrap_or(0), 0);
}

/// Plain std networking and threads, patched: the "threads" are greenlets
/// of the caller's hub, and rustls runs over the green sockets unchanged.
#[guv::patched]
mod patched_std {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Barrier};
    use std::thread;

    pub struct Outcome {
        pub replies: Vec<String>,
        pub hubs: Vec<usize>,
    }

    /// `pairs` TLS servers and clients as std threads; each session waits
    /// at a barrier for all the others after its handshake, which only
    /// green threads sharing one hub can pass if they interleave.
    pub fn run(pairs: usize, server: Arc<rustls::ServerConfig>, client: Arc<rustls::ClientConfig>) -> Outcome {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let barrier = Arc::new(Barrier::new(pairs * 2));
        let servers = {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut sessions = Vec::new();
                for _ in 0..pairs {
                    let (stream, _) = listener.accept().unwrap();
                    let (server, barrier) = (server.clone(), barrier.clone());
                    sessions.push(thread::spawn(move || {
                        let conn = rustls::ServerConnection::new(server).unwrap();
                        let mut tls = rustls::StreamOwned::new(conn, stream);
                        let mut name = [0u8; 8];
                        tls.read_exact(&mut name).unwrap();
                        barrier.wait();
                        let reply = format!("hello {}", String::from_utf8_lossy(&name));
                        tls.write_all(reply.as_bytes()).unwrap();
                        tls.conn.send_close_notify();
                        tls.flush().unwrap();
                        guv::hub::Handle::current().id()
                    }));
                }
                sessions.into_iter().map(|s| s.join().unwrap()).collect::<Vec<_>>()
            })
        };
        let clients: Vec<_> = (0..pairs)
            .map(|i| {
                let (client, barrier) = (client.clone(), barrier.clone());
                thread::spawn(move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    let name = rustls::pki_types::ServerName::try_from(super::NAME).unwrap();
                    let conn = rustls::ClientConnection::new(client, name).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    tls.write_all(format!("client{i:02}").as_bytes()).unwrap();
                    tls.flush().unwrap();
                    barrier.wait();
                    let mut reply = String::new();
                    tls.read_to_string(&mut reply).unwrap();
                    (reply, guv::hub::Handle::current().id())
                })
            })
            .collect();
        let mut replies = Vec::new();
        let mut hubs = servers.join().unwrap();
        for c in clients {
            let (reply, hub) = c.join().unwrap();
            replies.push(reply);
            hubs.push(hub);
        }
        Outcome { replies, hubs }
    }
}

#[test]
fn patched_std_code_speaks_tls_on_green_threads() {
    let cfg = configs();
    let outcome = patched_std::run(6, cfg.server, cfg.client);
    let expected: Vec<String> = (0..6).map(|i| format!("hello client{i:02}")).collect();
    assert_eq!(outcome.replies, expected);
    let here = guv::hub::Handle::current().id();
    assert_eq!(outcome.hubs.len(), 12);
    assert!(outcome.hubs.iter().all(|&h| h == here), "every std thread ran as a greenlet of this hub");
}

/// A server that completes the handshake, then says nothing until told.
fn quiet_server(cfg: &Configs) -> (std::net::SocketAddr, guv::GreenThread<()>, guv::Event) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (server_cfg, release) = (cfg.server.clone(), guv::Event::new());
    let released = release.clone();
    let server = guv::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut tls = tls_server(&server_cfg, stream);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        released.wait();
    });
    (addr, server, release)
}

#[test]
fn a_tls_read_parks_honours_the_read_timeout_and_unwinds_when_killed() {
    let cfg = configs();

    // The read timeout of the green socket surfaces through rustls as
    // std's would: WouldBlock, while other greenlets ran meanwhile.
    let (addr, server, release) = quiet_server(&cfg);
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut tls = tls_client(&cfg.client, stream);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    let ticks = Rc::new(Cell::new(0u32));
    let ticking = {
        let ticks = ticks.clone();
        guv::spawn(move || {
            loop {
                ticks.set(ticks.get() + 1);
                guv::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut buf = [0u8; 16];
    let err = tls.read(&mut buf).expect_err("nothing was sent");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
    assert!(ticks.get() > 1, "the TLS read parked its greenlet only");
    ticking.kill();
    release.set();
    server.wait().unwrap();

    // A greenlet parked in a TLS read unwinds when killed, running its
    // destructors, and the session's socket closes with it.
    let (addr, server, release) = quiet_server(&cfg);
    let unwound = guv::Event::new();
    let reading = guv::Event::new();
    let reader = {
        let (cfg, unwound, reading) = (cfg.client.clone(), unwound.clone(), reading.clone());
        guv::spawn(move || {
            struct SetOnDrop(guv::Event);
            impl Drop for SetOnDrop {
                fn drop(&mut self) {
                    self.0.set();
                }
            }
            let _guard = SetOnDrop(unwound);
            let mut tls = tls_client(&cfg, TcpStream::connect(addr).unwrap());
            while tls.conn.is_handshaking() {
                tls.conn.complete_io(&mut tls.sock).unwrap();
            }
            reading.set();
            let mut buf = [0u8; 16];
            let _ = tls.read(&mut buf);
            unreachable!("the quiet server sends nothing");
        })
    };
    reading.wait();
    guv::gyield(); // the reader parks in its read
    assert!(!reader.is_finished());
    reader.kill();
    assert!(reader.wait().unwrap_err().is_killed());
    assert!(unwound.is_set());
    release.set();
    server.wait().unwrap();
}
