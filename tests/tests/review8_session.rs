//! Review of session 8's changes: the streamed head sent while its body
//! waits, the input buffer replaced after a large head, scoped IPv6
//! literals, and the macro rewrites.

// A crate named `thread_local` (as the popular one is), for the macro
// tests below.
extern crate httparse as thread_local;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use guv::green::sync::mpsc as green_mpsc;
use guv::net::ToSocketAddrs;
use guv::net::dns::{self, Config, Resolver};
use guv::wsgi::http::{Request, Response};
use guv::wsgi::{Body, Server};
use guv_tests::dns::DnsServer;
use guv_tests::http::{Client, TestServer};

/// A body that waits for each of its events (end when the sender goes).
struct Events(green_mpsc::Receiver<&'static [u8]>);

impl Read for Events {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.recv() {
            Ok(event) => {
                buf[..event.len()].copy_from_slice(event);
                Ok(event.len())
            }
            Err(_) => Ok(0),
        }
    }
}

/// A server: `/ready` streams a body that never waits, `/events` the
/// events sent on the returned channel (chunked).
fn stream_server() -> (TestServer, green_mpsc::Sender<&'static [u8]>) {
    let (tx, rx) = green_mpsc::channel();
    let rx = Mutex::new(Some(rx));
    let app = move |req: Request<Body>| -> Response<Body> {
        match req.uri().path() {
            "/ready" => Response::new(Body::from_reader(&b"ready"[..])),
            _ => Response::new(Body::from_reader(Events(rx.lock().unwrap().take().expect("one event stream")))),
        }
    };
    (TestServer::start(Server::new(app).workers(1).access_log(false)), tx)
}

#[test]
fn an_event_stream_behind_a_ready_stream_gets_one_head() {
    // The ready stream's first read returned without parking: its head
    // sender stayed scheduled. The event stream pipelined behind it armed
    // its own; both ran when the event stream waited.
    let (s, tx) = stream_server();
    let mut c = Client::connect(s.addr);
    c.send(b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\nGET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ready"));
    // The event stream's head is out before its first event...
    let head = c.peek(17).unwrap().to_vec();
    assert_eq!(head, b"HTTP/1.1 200 OK\r\n");
    tx.send(b"data: one\n\n").unwrap();
    drop(tx);
    // ...and only once: the event follows it, then the end.
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "data: one\n\n"));
    c.send(b"GET /ready HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ready"));
}

// ----- scoped IPv6 literals ---------------------------------------------
//
// std hands `(host, port)` to glibc's getaddrinfo. Only strings whose part
// before the `%` is an IPv6 literal go to std here: glibc reads those
// itself, with or without success, and never asks a server (a `%` after
// anything else would be looked up by name). The green side uses a
// resolver pointed at the scripted server, whose query count must stay 0.

/// Points this thread's green resolver at `server`; cleared on drop.
struct ScriptedDns(DnsServer);

impl ScriptedDns {
    fn start() -> ScriptedDns {
        let server = DnsServer::start();
        dns::set_thread_resolver(Some(Resolver::new(Config {
            nameservers: vec![server.addr()],
            timeout: Duration::from_secs(5),
            attempts: 1,
            ..Config::default()
        })));
        ScriptedDns(server)
    }

    fn queries(&self) -> usize {
        self.0.udp_queries.load(Ordering::SeqCst) + self.0.tcp_queries.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedDns {
    fn drop(&mut self) {
        dns::set_thread_resolver(None);
    }
}

fn green(host: &str) -> io::Result<Vec<SocketAddr>> {
    (host, 80).to_socket_addrs().map(Iterator::collect)
}

fn std_side(host: &str) -> io::Result<Vec<SocketAddr>> {
    std::net::ToSocketAddrs::to_socket_addrs(&(host, 80)).map(Iterator::collect)
}

#[test]
fn an_interface_name_scopes_only_a_link_local_address_as_in_std() {
    let dns = ScriptedDns::start();
    // glibc takes an interface name for a link-local address only (unicast
    // fe80::/10, multicast of link or node scope); for any other address
    // the zone must be a number, and `lo` is refused.
    for host in ["::1%lo", "2001:db8::1%lo", "::ffff:127.0.0.1%lo"] {
        let std = std_side(host);
        assert!(std.is_err(), "{host}: std gave {std:?}");
        let e = green(host).expect_err(host);
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{host}: {e}");
        assert!(e.to_string().contains("\"lo\""), "{host}: {e}");
    }
    // Where glibc takes it, both give the same address.
    for host in ["fe80::1%lo", "ff02::1%lo", "ff01::1%lo", "fe80::1%1", "fe80::1%01", "::1%1", "2001:db8::1%1"] {
        let std = std_side(host).unwrap_or_else(|e| panic!("{host}: std failed: {e}"));
        assert_eq!(green(host).unwrap_or_else(|e| panic!("{host}: {e}")), std, "{host}");
    }
    // The unbracketed `str` form splits at the last colon, as std's does.
    let std: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs("fe80::1%lo:80").unwrap().collect();
    assert_eq!("fe80::1%lo:80".to_socket_addrs().unwrap().collect::<Vec<_>>(), std);
    assert_eq!(dns.queries(), 0);
}

#[test]
fn a_scope_glibc_would_not_read_is_refused_without_a_query() {
    // No std calls here: glibc refuses the first four itself, but would
    // look the others up by name. glibc reads a zone number only when it
    // starts with a digit (Rust's `u32` parser also takes a `+`).
    let dns = ScriptedDns::start();
    for host in ["fe80::1%+1", "fe80::1%", "fe80::1%4294967296", "fe80::1% 1", "127.0.0.1%lo", "a%lo", "[fe80::1%lo]"] {
        assert!(green(host).is_err(), "{host}: {:?}", green(host));
    }
    assert!("[fe80::1%lo]:80".to_socket_addrs().is_err());
    assert_eq!(dns.queries(), 0, "a scoped literal was sent to the DNS server");
}

// ----- macros: `use std::thread_local;` binds no module -----------------
//
// std's `thread_local` is a macro only, so importing it leaves the name
// free in the type namespace: for a module of the user's, or a crate
// named `thread_local`. The rewritten import named `guv::local`, which is
// a module too: neither item below compiled patched.

#[guv::patched]
mod own_thread_local_module {
    use std::cell::Cell;
    use std::thread_local;

    pub mod thread_local {
        pub fn seven() -> u8 {
            7
        }
    }

    thread_local! {
        pub static X: Cell<u8> = Cell::new(1);
    }

    pub fn sum() -> u8 {
        thread_local::seven() + X.with(Cell::get)
    }
}

#[guv::patched]
mod crate_named_thread_local {
    use std::cell::Cell;
    use std::thread_local as tl;
    #[allow(unused_imports)]
    pub use std::thread_local;

    tl! {
        pub static Y: Cell<u8> = Cell::new(2);
    }

    pub fn header_slots() -> usize {
        // The crate, not anything the import brought.
        let slots = [thread_local::EMPTY_HEADER; 3];
        slots.len() + usize::from(Y.with(Cell::get))
    }
}

#[test]
fn a_thread_local_import_leaves_the_name_free_for_a_module_or_crate() {
    assert_eq!(own_thread_local_module::sum(), 8);
    assert_eq!(crate_named_thread_local::header_slots(), 5);
    // Green: one value per green thread (a new greenlet starts afresh).
    own_thread_local_module::X.with(|x| x.set(5));
    assert_eq!(guv::spawn(|| own_thread_local_module::X.with(std::cell::Cell::get)).wait().unwrap(), 1);
    assert_eq!(own_thread_local_module::X.with(std::cell::Cell::get), 5);
}
