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
use guv_tests::http::{Client, Events, TestServer};

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

/// What a [`Scripted`] body's reads do, in order; `Wait` takes the next
/// event from the test.
#[derive(Clone, Copy, PartialEq)]
enum Step {
    /// Yields to the hub, then returns these bytes (it never waits).
    YieldThen(&'static [u8]),
    /// `Interrupted` without waiting.
    Interrupted,
    /// Waits for the test's next event.
    Wait,
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Data(&'static [u8]),
    Fail,
    Panic,
}

struct Scripted {
    steps: std::vec::IntoIter<Step>,
    events: green_mpsc::Receiver<Event>,
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let step = self.steps.next().unwrap_or(Step::Wait);
        let event = match step {
            Step::YieldThen(bytes) => {
                guv::gyield();
                Event::Data(bytes)
            }
            Step::Interrupted => return Err(io::ErrorKind::Interrupted.into()),
            Step::Wait => match self.events.recv() {
                Ok(event) => event,
                Err(_) => return Ok(0),
            },
        };
        match event {
            Event::Data(bytes) => {
                buf[..bytes.len()].copy_from_slice(bytes);
                Ok(bytes.len())
            }
            Event::Fail => Err(io::Error::other("the source broke")),
            Event::Panic => panic!("the source panicked"),
        }
    }
}

/// A server whose `/s` streams a [`Scripted`] body with `steps` (one
/// request only); `/plain` answers in memory.
fn scripted_server(steps: Vec<Step>, shutdown: Duration) -> (TestServer, green_mpsc::Sender<Event>) {
    let (tx, rx) = green_mpsc::channel();
    let body = Mutex::new(Some(Scripted { steps: steps.into_iter(), events: rx }));
    let app = move |req: Request<Body>| -> Response<Body> {
        match req.uri().path() {
            "/plain" => Response::new(Body::from("plain")),
            _ => Response::new(Body::from_reader(body.lock().unwrap().take().expect("one stream"))),
        }
    };
    (TestServer::start(Server::new(app).workers(1).access_log(false).shutdown_timeout(shutdown)), tx)
}

const PATIENT: Duration = Duration::from_secs(30);

#[test]
fn a_body_that_yields_or_is_interrupted_first_gets_one_head() {
    // A yield runs the head sender (the head goes out alone, then the
    // bytes); an `Interrupted` read re-arms it, without a second sender.
    // (the body's reads, what the answer carries)
    let scripts: [(&[Step], &str); 4] = [
        (&[Step::YieldThen(b"y")], "y"),
        (&[Step::Interrupted, Step::Wait], "w"),
        (&[Step::Interrupted, Step::Interrupted, Step::YieldThen(b"y")], "y"),
        (&[Step::YieldThen(b"y"), Step::Interrupted, Step::Wait], "yw"),
    ];
    for (steps, want) in scripts {
        let (s, tx) = scripted_server(steps.to_vec(), PATIENT);
        let mut c = Client::connect(s.addr);
        c.send(b"GET /s HTTP/1.1\r\nHost: a\r\n\r\n");
        if steps.contains(&Step::Wait) {
            // The body waits: its head is out before the event.
            assert_eq!(c.peek(17).unwrap(), b"HTTP/1.1 200 OK\r\n");
            tx.send(Event::Data(b"w")).unwrap();
        }
        drop(tx);
        let r = c.read_response().unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, want));
        c.send(b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.read_response().unwrap().text(), "plain");
    }
}

#[test]
fn an_http10_stream_head_goes_out_early_and_a_failure_resets() {
    // Delimited by the close: the head still goes out as the body waits,
    // and a failure after it is a reset, never a clean end.
    let (s, tx) = scripted_server(vec![Step::Wait, Step::Wait], PATIENT);
    let mut c = Client::connect(s.addr);
    c.send(b"GET /s HTTP/1.0\r\n\r\n");
    assert_eq!(c.peek(17).unwrap(), b"HTTP/1.1 200 OK\r\n");
    tx.send(Event::Data(b"abc")).unwrap();
    tx.send(Event::Fail).unwrap();
    let e = c.read_response().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
}

#[test]
fn a_head_request_never_reads_the_stream() {
    let (s, _tx) = scripted_server(vec![Step::Wait], PATIENT);
    let mut c = Client::connect(s.addr);
    c.send(b"HEAD /s HTTP/1.1\r\nHost: a\r\n\r\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response_to(true).unwrap().status, 200);
    assert_eq!(c.read_response().unwrap().text(), "plain");
}

#[test]
fn a_stream_that_panics_after_its_head_is_cut_and_nothing_follows() {
    let (s, tx) = scripted_server(vec![Step::Wait], PATIENT);
    let mut c = Client::connect(s.addr);
    c.send(b"GET /s HTTP/1.1\r\nHost: a\r\n\r\nGET /plain HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.peek(17).unwrap(), b"HTTP/1.1 200 OK\r\n");
    tx.send(Event::Panic).unwrap();
    // The head, then the close: no 500 after the 200, no last chunk, and
    // the pipelined request is not answered.
    let e = c.read_response().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
    assert!(c.is_closed());
}

#[test]
fn the_shutdown_deadline_cuts_a_waiting_stream_after_its_head() {
    let (s, _tx) = scripted_server(vec![Step::Wait], Duration::from_millis(100));
    let mut c = Client::connect(s.addr);
    c.send(b"GET /s HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.peek(17).unwrap(), b"HTTP/1.1 200 OK\r\n");
    s.shutdown().unwrap();
    let e = c.read_response().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
}

// ----- a large head, then the input buffer replaced ---------------------

/// A head of about 40 KiB (past the size an input buffer is kept at),
/// with `fields` last.
fn large_head(fields: &str) -> String {
    let pad = "p".repeat(4000);
    let mut head = String::from("POST /e HTTP/1.1\r\nHost: a\r\n");
    for i in 0..10 {
        head.push_str(&format!("X-Pad-{i}: {pad}\r\n"));
    }
    head + fields + "\r\n"
}

#[test]
fn bytes_after_a_large_head_keep_their_place_when_the_buffer_is_replaced() {
    // Echo servers of both kinds; each says when it starts reading the
    // body, so that the body is sent only once the head was parsed alone
    // (its buffer left empty, and replaced).
    let (reading_tx, reading) = std::sync::mpsc::channel::<()>();
    let reading_tx = Mutex::new(reading_tx);
    let http = move |mut req: Request<Body>| -> Response<Body> {
        reading_tx.lock().unwrap().send(()).unwrap();
        let mut got = Vec::new();
        req.body_mut().read_to_end(&mut got).unwrap();
        Response::new(Body::from(got))
    };
    let (raw_tx, raw_reading) = std::sync::mpsc::channel::<()>();
    let raw_tx = Mutex::new(raw_tx);
    let raw = move |req: &mut guv::wsgi::RawRequest<'_>, res: &mut guv::wsgi::RawResponse<'_>| {
        raw_tx.lock().unwrap().send(()).unwrap();
        let mut got = Vec::new();
        req.body().read_to_end(&mut got).unwrap();
        res.set_body(&got);
    };
    let servers = [
        (TestServer::start(Server::new(http).workers(1).access_log(false)), reading),
        (TestServer::start(Server::raw(raw).workers(1).access_log(false)), raw_reading),
    ];
    for (s, reading) in &servers {
        let mut c = Client::connect(s.addr);
        // The body and part of the next head in the same write: nothing
        // is replaced, and the rest of that head comes later.
        let mut bytes = large_head("Content-Length: 5\r\n").into_bytes();
        bytes.extend_from_slice(b"helloPOST /e HTTP/1.1\r\nHost: a\r\nContent-Le");
        c.send(&bytes);
        assert_eq!(c.read_response().unwrap().text(), "hello");
        reading.recv_timeout(PATIENT).unwrap();
        c.send(b"ngth: 3\r\n\r\nabc");
        assert_eq!(c.read_response().unwrap().text(), "abc");
        reading.recv_timeout(PATIENT).unwrap();
        // The body after the head was parsed alone: sized, then chunked.
        for (framing, body, want) in [
            ("Content-Length: 5\r\n", &b"world"[..], "world"),
            ("Transfer-Encoding: chunked\r\n", b"3\r\nxyz\r\n0\r\n\r\n", "xyz"),
        ] {
            c.send(large_head(framing).as_bytes());
            reading.recv_timeout(PATIENT).unwrap();
            c.send(body);
            assert_eq!(c.read_response().unwrap().text(), want);
        }
        // Held back by `Expect: 100-continue` until the app reads.
        c.send(large_head("Content-Length: 4\r\nExpect: 100-continue\r\n").as_bytes());
        reading.recv_timeout(PATIENT).unwrap();
        assert_eq!(c.read_response().unwrap().status, 100);
        c.send(b"body");
        assert_eq!(c.read_response().unwrap().text(), "body");
        // After the raw app's copy of the large head (and its cached
        // `Host`) was dropped, a `Host` is checked in full again.
        c.send(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
        assert_eq!(c.read_response().unwrap().status, 400);
    }
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
