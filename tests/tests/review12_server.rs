//! Review 12: StreamServer's `kill_timeout` with several stops at once and
//! with a stop made by a handler.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use guv::{Event, StreamServer};

/// A handler that swallows its kill and then blocks until its client closes
/// (byte `b`), or that stops the server itself and reports (byte `s`).
fn server(started: Event, log: Rc<RefCell<Vec<String>>>) -> (guv::ServerHandle, std::net::SocketAddr) {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let pre = StreamServer::new(listener, move |mut conn: guv::net::TcpStream, _| {
        let mut b = [0u8; 1];
        conn.read_exact(&mut b)?;
        if b[0] == b's' {
            let h = HANDLE.with(|h| h.borrow().clone().unwrap());
            h.stop();
            log.borrow_mut().push("handler's stop returned".into());
            conn.write_all(b"stopped")?;
            return Ok(());
        }
        started.set();
        let _ = catch_unwind(AssertUnwindSafe(|| conn.read(&mut [0u8; 1])));
        log.borrow_mut().push("stubborn went on".into());
        let _ = conn.read(&mut [0u8; 1]);
        Ok(())
    })
    .kill_timeout(Duration::from_millis(50));
    let handle = pre.handle();
    HANDLE.with(|h| *h.borrow_mut() = Some(handle));
    let server = pre.start().unwrap();
    let addr = server.local_addr().unwrap();
    (server, addr)
}

thread_local! {
    static HANDLE: RefCell<Option<guv::ServerHandle>> = const { RefCell::new(None) };
}

#[test]
fn concurrent_stop_and_stop_timeout_both_give_up_on_a_stubborn_handler() {
    guv::debug::hub_exceptions(false);
    let started = Event::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (server, addr) = server(started.clone(), log.clone());
    let mut c = guv::connect(addr).unwrap();
    c.write_all(b"b").unwrap();
    started.wait();
    let (s1, s2) = (server.clone(), server.clone());
    let a = guv::spawn(move || s1.stop());
    let b = guv::spawn(move || s2.stop_timeout(Duration::from_secs(3600)));
    a.wait().unwrap();
    assert!(!b.wait().unwrap(), "a killed handler is never in time");
    server.wait().unwrap();
    assert_eq!(*log.borrow(), ["stubborn went on"]);
    drop(c);
}

#[test]
fn a_handlers_own_stop_gives_up_on_a_stubborn_one() {
    guv::debug::hub_exceptions(false);
    let started = Event::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (server, addr) = server(started.clone(), log.clone());
    let mut stubborn = guv::connect(addr).unwrap();
    stubborn.write_all(b"b").unwrap();
    started.wait();
    let mut stopper = guv::connect(addr).unwrap();
    stopper.write_all(b"s").unwrap();
    let mut answer = String::new();
    stopper.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "stopped");
    server.wait().unwrap();
    assert_eq!(*log.borrow(), ["stubborn went on", "handler's stop returned"]);
    drop(stubborn);
}
