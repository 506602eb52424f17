//! Defects earlier sessions noticed and left alone (session 9), each
//! pinned down through the public API: `sleep` made ambiguous by the globs
//! of `std::time` and `std::thread` in patched code; `is_terminal` on a
//! green `File`; `thread_local!` through an alias of `std`; and (not a
//! defect, pinned as glibc behaves) a hosts line with a scoped address;
//! a failed streamed answer whose socket stayed open for the send timeout;
//! a held echo at the shutdown deadline (not a defect: pinned as every
//! request killed there). Events are ordered
//! with logs and channels; timeouts are only hang guards.

use guv_tests::Log;

// ----- 1. `use std::*; use time::*; use thread::*;` and `sleep` ---------

/// Globs of the green `time` and `thread` through a globbed `std`: both
/// green modules had their own `sleep`, two items under one name, so the
/// call below was ambiguous: a future-incompatibility warning today, an
/// error in a later Rust (denied here).
#[guv::patched]
mod globbed_std {
    #![allow(unused_imports)]
    #![deny(ambiguous_glob_imports)]
    use std::*;
    use thread::*;
    use time::*;

    /// Sleeps for `ms` through the globbed `sleep`.
    pub fn nap(ms: u64) {
        sleep(Duration::from_millis(ms));
    }
}

/// The same globs through the std facade, outside any patched item.
mod facade_globs {
    #![allow(unused_imports)]
    #![deny(ambiguous_glob_imports)]
    use guv::green_std as std;
    use std::thread::*;
    use std::time::*;

    /// Sleeps for `ms` through the globbed `sleep`.
    pub fn nap(ms: u64) {
        sleep(Duration::from_millis(ms));
    }
}

/// Runs `nap` in one greenlet beside another that only logs: a green
/// sleep lets the other run in the middle.
fn naps_interleave(nap: fn(u64)) -> Vec<String> {
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let a = guv::spawn(move || {
        l1.push("a: before");
        nap(20);
        l1.push("a: after");
    });
    let b = guv::spawn(move || l2.push("b"));
    a.wait().unwrap();
    b.wait().unwrap();
    log.take()
}

#[test]
fn globbed_time_and_thread_sleep_is_one_green_sleep() {
    assert_eq!(naps_interleave(globbed_std::nap), ["a: before", "b", "a: after"]);
    assert_eq!(naps_interleave(facade_globs::nap), ["a: before", "b", "a: after"]);
}

// ----- 2. `is_terminal` on a green `File` ----------------------------------

/// Std code asking whether a file is a terminal, patched: `File` is the
/// green one, and the import must be used (denied warnings).
#[guv::patched]
mod file_tty {
    #![deny(warnings)]
    use std::fs::{File, OpenOptions};
    use std::io::IsTerminal;

    /// Whether the file at `path` is a terminal, and the file's type name.
    pub fn is_tty(path: &std::path::Path) -> std::io::Result<(bool, &'static str)> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok((file.is_terminal(), std::any::type_name::<File>()))
    }
}

#[test]
fn green_file_is_terminal_answers_as_std() {
    let dir = std::env::temp_dir().join(format!("guv-review9-tty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plain");
    std::fs::write(&path, "not a terminal").unwrap();
    let (tty, ty) = file_tty::is_tty(&path).unwrap();
    assert_eq!(ty, std::any::type_name::<guv::green::fs::File>());
    assert!(!tty);
    {
        use std::io::IsTerminal;
        assert!(!guv::green::fs::File::open(&path).unwrap().is_terminal());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // A pseudo-terminal's master side is a terminal, where one can be had.
    let ptmx = std::path::Path::new("/dev/ptmx");
    if let Ok(std_file) = std::fs::OpenOptions::new().read(true).write(true).open(ptmx) {
        use std::io::IsTerminal;
        assert!(std_file.is_terminal());
        assert!(file_tty::is_tty(ptmx).unwrap().0);
    }
}

// ----- 3. `s::thread_local!` after `use std as s;` -------------------------

/// `thread_local!` reached through aliases of std in a patched item: it
/// was std's per-OS-thread macro there, shared by every green thread of
/// the OS thread, while `std::thread_local!` is green.
#[guv::patched]
mod aliased_std {
    use std as s;
    use std::{self as t};

    s::thread_local! {
        static A: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    t::thread_local! {
        static B: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    /// Two green threads each store their own number in `A` and `B`, one
    /// after the other, then read both back.
    pub fn values_seen() -> Vec<(u32, u32)> {
        let (stored_tx, stored_rx) = s::sync::mpsc::channel();
        let (read_tx, read_rx) = s::sync::mpsc::channel::<()>();
        let first = s::thread::spawn(move || {
            A.set(1);
            B.set(1);
            stored_tx.send(()).unwrap();
            // The second thread has stored its own numbers by now.
            read_rx.recv().unwrap();
            (A.get(), B.get())
        });
        let second = t::thread::spawn(move || {
            stored_rx.recv().unwrap();
            A.set(2);
            B.set(2);
            read_tx.send(()).unwrap();
            (A.get(), B.get())
        });
        vec![first.join().unwrap(), second.join().unwrap()]
    }
}

#[test]
fn thread_local_through_an_alias_of_std_is_green() {
    // Shared per OS thread, the first thread would read the second's 2s.
    assert_eq!(aliased_std::values_seen(), [(1, 1), (2, 2)]);
    let set = guv::spawn(|| alias_only_for_locals::C.set(7));
    set.wait().unwrap();
    assert_eq!(alias_only_for_locals::C.get(), 0, "a greenlet's value is its own");
}

/// An alias of std used only for `thread_local!`: the rewrite still goes
/// through the alias, so its import is used (warnings denied).
#[guv::patched]
mod alias_only_for_locals {
    #![deny(warnings)]
    use std as s;
    s::thread_local! {
        pub static C: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
}

// ----- 4. a hosts line whose address has an IPv6 zone ----------------------

/// glibc's files backend reads a hosts line's address with `inet_pton`,
/// which refuses a zone (`fe80::1%lo`), and skips the line (checked with
/// glibc 2.36, a hosts file of its own in a private mount namespace and
/// `hosts: files`). The green resolver does the same: the other lines for
/// the name answer, and a name listed only on such a line is asked of the
/// name servers (here a scripted one on 127.0.0.1).
#[test]
fn a_hosts_line_with_a_scoped_address_is_skipped_as_glibc_skips_it() {
    use guv::net::dns::{Config, Resolver};
    use std::sync::atomic::Ordering;
    let server = guv_tests::dns::DnsServer::start();
    let dir = std::env::temp_dir().join(format!("guv-review9-hosts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "fe80::1%lo both.test only-scoped.test\n::1 both.test\n").unwrap();
    let r = Resolver::new(Config {
        nameservers: vec![server.addr()],
        timeout: std::time::Duration::from_secs(5),
        attempts: 1,
        hosts_file: Some(hosts),
        ..Config::default()
    });
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(r.lookup_ip("both.test").unwrap(), [ip("::1")]);
    assert_eq!(server.udp_queries.load(Ordering::SeqCst), 0);
    // The scripted server answers 127.0.0.1 for any name.
    assert_eq!(r.lookup_ip("only-scoped.test").unwrap(), [ip("127.0.0.1")]);
    assert!(server.udp_queries.load(Ordering::SeqCst) > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ----- 5. a streamed answer that fails while a flush waits for the client --

/// A streamed body that produces 8 KiB at a time, letting the greenlet
/// that flushes it run in between, until that greenlet waits for a client
/// that does not read (one more greenlet of the server's hub waits for
/// I/O); it then says so, waits to be told to go on, and fails.
struct FillThenFail {
    baseline: Option<usize>,
    flusher_parked: std::sync::mpsc::Sender<()>,
    fail: guv::green::sync::mpsc::Receiver<()>,
}

impl std::io::Read for FillThenFail {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // The flush scheduled for the last bytes (or the head) runs now.
        guv::gyield();
        let waiting = guv::hub::stats().io_waiters;
        let baseline = *self.baseline.get_or_insert(waiting);
        if waiting > baseline {
            self.flusher_parked.send(()).unwrap();
            let _ = self.fail.recv();
            return Err(std::io::Error::other("the stream broke"));
        }
        let n = buf.len().min(8 * 1024);
        buf[..n].fill(b'f');
        Ok(n)
    }
}

#[test]
fn a_failed_stream_closes_at_once_though_a_flush_waits_for_the_client() {
    use guv::wsgi::Server;
    use guv::wsgi::http::{Request, Response};
    use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    type Ends = (std::sync::mpsc::Sender<()>, guv::green::sync::mpsc::Receiver<()>);

    let (parked_tx, parked_rx) = std::sync::mpsc::channel();
    let (fail_tx, fail_rx) = guv::green::sync::mpsc::channel();
    let ends: Arc<Mutex<Option<Ends>>> = Arc::new(Mutex::new(Some((parked_tx, fail_rx))));
    let app = move |_req: Request<guv::wsgi::Body>| {
        let (flusher_parked, fail) = ends.lock().unwrap().take().expect("one request");
        Response::new(guv::wsgi::Body::from_reader(FillThenFail { baseline: None, flusher_parked, fail }))
    };
    // A send timeout far longer than the test may take.
    let server = Server::new(app).send_timeout(Some(std::time::Duration::from_secs(60))).workers(1).access_log(false);
    let s = TestServer::serve(server, guv_tests::net::listener_with_sndbuf(4096));
    let mut client = guv_tests::net::connect_with_rcvbuf(s.addr, 4096);
    client.write_all(b"GET /fill HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    parked_rx.recv_timeout(CLIENT_TIMEOUT).expect("the flush never waited for the client");
    // A pipelined request the server will not read: closing with it unread
    // resets the connection, which the client sees without reading.
    client.write_all(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let deadline = std::time::Instant::now() + CLIENT_TIMEOUT;
    while guv_tests::net::unacknowledged(&client) > 0 {
        assert!(std::time::Instant::now() < deadline, "the server's kernel never took the request");
        std::thread::yield_now();
    }
    fail_tx.send(()).unwrap();
    assert!(
        guv_tests::net::wait_hung_up(&client, std::time::Duration::from_secs(10)),
        "the connection stayed open after its answer failed"
    );
}

// ----- 6. a held echo at the graceful shutdown's deadline ------------------

/// An echo whose head is held while the request body is read, killed at
/// the shutdown deadline, ends as every request killed there does (see
/// `a_raw_app_killed_at_the_shutdown_deadline_unwinds_without_an_answer`
/// and `shutdown_kills_requests_that_outlive_the_deadline`): the
/// connection closes with no answer, and the server returns at the
/// deadline, not after the body timeout. With a `100-continue` the client
/// has its `100` and then the close. (Once the body has yielded bytes the
/// head is no longer held: the answer has begun and the kill cuts it
/// short, as any answer cut after its first bytes.)
#[test]
fn a_held_echo_killed_at_the_shutdown_deadline_closes_without_an_answer() {
    use guv::wsgi::http::{Request, Response};
    use guv::wsgi::{Body, Server};
    use guv_tests::http::{CLIENT_TIMEOUT, Client, TestServer};
    use std::sync::Mutex;

    for expect in [false, true] {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let app = move |req: Request<Body>| {
            tx.lock().unwrap().send("echoing").unwrap();
            Response::new(req.into_body())
        };
        let server = Server::new(app)
            .shutdown_timeout(std::time::Duration::from_millis(50))
            .body_timeout(Some(std::time::Duration::from_secs(600)))
            .workers(1)
            .access_log(false);
        let s = TestServer::start(server);
        let mut c = Client::connect(s.addr);
        // No byte of the body comes: the echo's head stays held.
        if expect {
            c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n");
            // Sent by the echo's first read, which then waits.
            assert_eq!(c.read_response().unwrap().status, 100);
        } else {
            c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
        }
        assert_eq!(rx.recv_timeout(CLIENT_TIMEOUT), Ok("echoing"));
        let started = std::time::Instant::now();
        s.shutdown().unwrap();
        assert!(started.elapsed() < CLIENT_TIMEOUT, "the shutdown waited for the body");
        assert!(c.is_closed(), "bytes after the kill (expect: {expect})");
    }
}

/// A stream that produces after a flush waiting for the client has timed
/// out: the failed flush was a helper's, whose error nobody looked at, so
/// the stream went on — each later chunk's flush waiting, failing and
/// dropping its bytes unseen, so that the 64 KiB at which the streaming
/// greenlet flushes itself were never reached: here it read the body to
/// the test's cap of 10 000 chunks. It now ends at its next chunk.
struct OnAfterTimeout {
    baseline: Option<usize>,
    /// Whether the flushing greenlet was seen waiting for the client.
    parked: bool,
    /// Reads once that wait ended (the send timeout).
    reads_after: usize,
    dropped: std::sync::mpsc::Sender<usize>,
}

impl std::io::Read for OnAfterTimeout {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        guv::gyield();
        let waiting = guv::hub::stats().io_waiters;
        let baseline = *self.baseline.get_or_insert(waiting);
        if !self.parked {
            if waiting == baseline {
                let n = buf.len().min(8 * 1024);
                buf[..n].fill(b'f');
                return Ok(n);
            }
            self.parked = true;
            // Until the send timeout ends the flush's wait (polled: no
            // event says so; the greenlet sleeps, the hub runs).
            while guv::hub::stats().io_waiters > baseline {
                guv::sleep(std::time::Duration::from_millis(5));
            }
        }
        self.reads_after += 1;
        if self.reads_after > 10_000 {
            return Ok(0);
        }
        let n = buf.len().min(100);
        buf[..n].fill(b'g');
        Ok(n)
    }
}

impl Drop for OnAfterTimeout {
    fn drop(&mut self) {
        let _ = self.dropped.send(self.reads_after);
    }
}

#[test]
fn a_stream_ends_at_its_next_chunk_after_a_background_flush_failed() {
    use guv::wsgi::Server;
    use guv::wsgi::http::{Request, Response};
    use guv_tests::http::{CLIENT_TIMEOUT, TestServer};
    use std::io::Write;
    use std::sync::Mutex;

    let (dropped_tx, dropped) = std::sync::mpsc::channel();
    let dropped_tx = Mutex::new(dropped_tx);
    let app = move |_req: Request<guv::wsgi::Body>| {
        let dropped = dropped_tx.lock().unwrap().clone();
        let body = OnAfterTimeout { baseline: None, parked: false, reads_after: 0, dropped };
        Response::new(guv::wsgi::Body::from_reader(body))
    };
    let send_timeout = std::time::Duration::from_millis(200);
    let server = Server::new(app).send_timeout(Some(send_timeout)).workers(1).access_log(false);
    let s = TestServer::serve(server, guv_tests::net::listener_with_sndbuf(4096));
    let mut client = guv_tests::net::connect_with_rcvbuf(s.addr, 4096);
    client.write_all(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let reads_after = dropped.recv_timeout(CLIENT_TIMEOUT).expect("the stream was never dropped");
    // The read that found the timeout over, and at most the one whose
    // chunk's flush found the connection given up.
    assert!(reads_after <= 2, "the stream was read {reads_after} times after its flush failed");
}
